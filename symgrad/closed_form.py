"""Closed-form derivatives: ``diff``, ``gradient``, ``jacobian``, ``hessian``.

Note [Symbolic reverse mode]
    The DAG is walked once forward (``numeric.graph.toposort``, iterative).  Each
    op node's elements get named intermediates ``v0, v1, ...``; its *local
    partials* come from ``sympy.diff`` of the op's local form (``TO_SYMPY``)
    with respect to fresh placeholder symbols for its operands, then the
    placeholders are replaced by the operands' intermediates.  The backward walk
    multiplies and adds these partials (the chain rule; adjoints also become
    named intermediates), so a graph of N nodes yields a gradient of O(N)
    operations.  ``cse=True`` returns the intermediates, like ``sympy.cse``;
    otherwise they are substituted back and the result simplified.
    numeric's VJPs are never used (docs/architecture.md, "the one rule").

Note [Kinks]
    SymPy's ``Heaviside(0)`` is 1/2.  Conventions matching numeric (and PyTorch):
    ``relu'(0) = 0`` (relu's form is ``Piecewise((x, x > 0), (0, True))``);
    ``abs'(0) = sign(0) = 0``; binary ``maximum``/``minimum`` at ties split 1/2
    each (SymPy's own ``Heaviside(0) = 1/2``); ``clamp`` passes the gradient on
    the closed interval (its ``Piecewise`` form); ``sqrt'(0)`` is infinite (zoo);
    ``max``/``min`` reductions over three or more elements split evenly among
    ties (SymPy's derivative of ``Max(a, b, c)`` gives 1/2 to each of three tied
    arguments, so the tie share ``1/#ties`` is stated explicitly; away from ties
    it equals SymPy's derivative).
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import numpy as np
import sympy

from numeric.graph import toposort
from symgrad.budget import (DEFAULT_TIMEOUT, Deadline, _Active, check_simplify, mark, tidy_all,
                            warn_timeout)
from numeric.ops import RULE, Op
from symgrad.lower_sympy import (SCALAR_FORMS, _add_terms, _gather_terms, _sum_chain_links,
                                 as_sympy, flat_steps, graph_order, leaf_array, lower, lower_node,
                                 real_world, variables)
from symgrad.matrix_check import check_matrix
from symgrad.code_out import matrix_cse
from symgrad.matrix_form import diff_matrix, to_matrix
from symgrad.matrix_hessian import matrix_hessian, matrix_jacobian
from symgrad.naming import known_name
from numeric.node import as_node, many

__all__ = ["to_sympy", "diff", "gradient", "jacobian", "hessian", "reverse_mode"]


def _is_atom(e) -> bool:
    return e.is_Atom or (e.is_Number if hasattr(e, "is_Number") else False)


def _tie_split(m, placeholders):
    """Partials of ``Max``/``Min`` over >= 3 args: 1/#ties to each tied arg."""
    hits = [sympy.Piecewise((1, sympy.Eq(p, m)), (0, True)) for p in placeholders]
    count = sympy.Add(*hits)
    return {p: sympy.Piecewise((1 / count, sympy.Eq(p, m)), (0, True)) for p in placeholders}


_PLACEHOLDERS = [sympy.Dummy(f"p{k}", real=True) for k in range(3)]
_LOCAL_CACHE: dict = {}


def _local_derivatives(op, attrs_key, slots):
    """{slot position: d(form)/d(placeholder)} for a scalar form; memoised by form.

    ``slots[k]`` is ``("p", j)`` (operand k is placeholder j) or an actual value.
    """
    key = (op, attrs_key, slots)
    hit = _LOCAL_CACHE.get(key)
    if hit is None:
        args = [_PLACEHOLDERS[s[1]] if isinstance(s, tuple) else s for s in slots]
        form = SCALAR_FORMS[op](*args, **dict(attrs_key))
        hit = {}
        for j in sorted({s[1] for s in slots if isinstance(s, tuple)}):
            d = flat_steps(sympy.diff(form, _PLACEHOLDERS[j]))
            if d != 0:
                hit[j] = d
        if len(_LOCAL_CACHE) > 10_000:
            _LOCAL_CACHE.clear()
        _LOCAL_CACHE[key] = hit
    return hit


def _elementwise_partials(node, actual, needs):
    inputs = node.inputs
    out_shape = np.broadcast_shapes(*[np.shape(a) for a in actual])
    first: dict[int, int] = {}
    vjps = RULE[node.op].vjp if isinstance(node.op, Op) else ()
    for pos, inp in enumerate(inputs):
        # inputs without a VJP (where's condition, isnan's input) get no partials
        if id(inp) in needs and not (pos < len(vjps) and vjps[pos] is None):
            first.setdefault(id(inp), pos)
    attrs_key = tuple(sorted((node.attrs or {}).items()))
    if not out_shape:  # scalar fast path (no index bookkeeping)
        slots, subs = [], {}
        for pos, inp in enumerate(inputs):
            v = actual[pos][()]
            j = first.get(id(inp))
            if j is None:
                slots.append(v)
            else:
                slots.append(("p", j))
                subs[_PLACEHOLDERS[j]] = v
        local = _local_derivatives(node.op, attrs_key, tuple(slots))
        return [[(inputs[j], 0, d.xreplace(subs)) for j, d in local.items()]]
    idx = [np.broadcast_to(np.arange(a.size).reshape(a.shape), out_shape).ravel() for a in actual]
    vals = [a.ravel() for a in actual]
    rows = []
    for e in range(int(np.prod(out_shape, dtype=np.int64))):
        slots, subs = [], {}
        for pos, inp in enumerate(inputs):
            v = vals[pos][idx[pos][e]]
            j = first.get(id(inp))
            if j is None:
                slots.append(v)
            else:
                slots.append(("p", j))
                subs[_PLACEHOLDERS[j]] = v
        row = []
        for j, d in _local_derivatives(node.op, attrs_key, tuple(slots)).items():
            row.append((inputs[j], int(idx[j][e]), d.xreplace(subs)))
        rows.append(row)
    return rows


class _Graph:
    """Forward values (as intermediates) and local partials of a DAG."""

    __slots__ = ("order", "needs", "values", "partials", "replacements", "names", "targets",
                 "memo", "leaf_syms", "bindings")

    def __init__(self, output, targets: Sequence[Any], bindings: "dict | None" = None):
        self.bindings = bindings       # the point for AT_POINT ops (Note [Forms at a point])
        self.targets = [id(t) for t in targets]
        wrt = set(self.targets)
        self.order = graph_order(output, wrt)
        present = {id(n) for n in self.order}
        for t in targets:
            if id(t) not in present:
                raise ValueError(
                    f"{known_name(t) or t!r} is not an input of this expression; "
                    "differentiate with respect to leaves the expression was built from")
        needs: set[int] = set(self.targets)
        for node in self.order:
            if node.op is not None and any(id(i) in needs for i in node.inputs):
                needs.add(id(node))
        self.needs = needs
        self.values: dict[int, np.ndarray] = {}
        self.partials: dict[int, list] = {}
        self.replacements: list[tuple[sympy.Symbol, sympy.Expr]] = []
        self.memo: dict = {}
        leaf_syms: set = set()
        for node in self.order:
            if node.op is None:
                arr = leaf_array(node, wrt)
                self.values[id(node)] = arr
                leaf_syms.update(e for e in arr.flat if isinstance(e, sympy.Symbol))
        # intermediates are plain symbols like the leaves; a leaf named v0 keeps its name
        self.leaf_syms = leaf_syms
        self.names = sympy.numbered_symbols("v", exclude=leaf_syms)
        folded = _sum_chain_links(self.order, self.order[-1])  # Note [Sum chains]
        chains: dict[int, list] = {}
        for node in self.order:
            if node.op is Op.ADD and (id(node) in folded
                                      or any(id(i) in folded for i in node.inputs)):
                mine = _gather_terms(node, {id(i): i for i in node.inputs}, chains)
                if id(node) in folded:
                    chains[id(node)] = mine
                else:
                    self._forward_sum(node, mine)
            elif node.op is not None:
                self._forward(node)

    def _forward_sum(self, node, terms: list):
        """A folded chain of adds: one n-ary sum; each term's partial is 1 (a sum's rule)."""
        shape = tuple(node.shape)
        named = _add_terms([self.values[id(t)] for t in terms], shape)
        for idx in np.ndindex(shape):
            e = named[idx]
            named[idx] = e if _is_atom(e) else self.fresh(e)
        self.values[id(node)] = named
        if id(node) not in self.needs:
            return
        size = int(np.prod(shape, dtype=np.int64))
        rows: list = [[] for _ in range(size)]
        for t in terms:
            if id(t) not in self.needs:
                continue
            t_shape = tuple(np.shape(self.values[id(t)]))
            where = np.broadcast_to(np.arange(int(np.prod(t_shape, dtype=np.int64)))
                                    .reshape(t_shape), shape).ravel()
            for e in range(size):
                rows[e].append((t, int(where[e]), sympy.S.One))
        self.partials[id(node)] = rows

    def fresh(self, expr):
        """A named intermediate for ``expr`` (identical expressions share one name)."""
        sym = self.memo.get(expr)
        if sym is None:
            sym = self.memo[expr] = next(self.names)
            self.replacements.append((sym, expr))
        return sym

    def _forward(self, node):
        inputs = node.inputs
        actual = [self.values[id(i)] for i in inputs]
        if node.op in SCALAR_FORMS and all(a.ndim == 0 for a in actual):  # fast path
            e = SCALAR_FORMS[node.op](*[a[()] for a in actual], **(node.attrs or {}))
            out = np.empty((), dtype=object)
            out[()] = e if _is_atom(e) else self.fresh(e)
            self.values[id(node)] = out
            if id(node) in self.needs:
                self._local_partials(node, actual)
            return
        out = lower_node(node, actual, self.bindings)
        named = np.empty(out.shape, dtype=object)
        for idx in np.ndindex(out.shape):
            e = sympy.sympify(out[idx])
            named[idx] = e if _is_atom(e) else self.fresh(e)
        self.values[id(node)] = named
        if id(node) in self.needs:
            self._local_partials(node, actual)

    def _local_partials(self, node, actual):
        """For each flat output element: [(input node, flat input index, partial)]."""
        if node.op in SCALAR_FORMS:
            self.partials[id(node)] = _elementwise_partials(node, actual, self.needs)
            return
        inputs = node.inputs
        # inputs without a VJP (where's condition, an index) get no gradient
        vjps = RULE[node.op].vjp if isinstance(node.op, Op) else ()
        skip = {pos for pos, v in enumerate(vjps) if v is None}
        holders: dict[int, np.ndarray] = {}
        back: dict = {}  # placeholder -> (input node, flat index, actual value)
        for pos, inp in enumerate(inputs):
            if pos in skip or id(inp) not in self.needs or id(inp) in holders:
                continue
            arr = np.empty(np.shape(actual[pos]), dtype=object)
            flat_actual = actual[pos].ravel()
            for k, idx in enumerate(np.ndindex(arr.shape)):
                arr[idx] = sympy.Dummy(real=True)
                back[arr[idx]] = (inp, k, flat_actual[k])
            holders[id(inp)] = arr
        local = lower_node(node, [holders.get(id(inp), actual[pos]) if pos not in skip
                                  else actual[pos] for pos, inp in enumerate(inputs)],
                           self.bindings)
        subs = {p: v[2] for p, v in back.items()}
        rows = []
        for e in local.ravel():
            e = sympy.sympify(e)
            mine = [p for p in e.free_symbols if p in back]
            if (node.op in (Op.MAX, Op.MIN) and isinstance(e, (sympy.Max, sympy.Min))
                    and len(e.args) >= 3):
                local_d = _tie_split(e, mine)
            else:
                local_d = {p: flat_steps(sympy.diff(e, p)) for p in mine}
            row = []
            for p, d in local_d.items():
                if d != 0:
                    inp, k, _ = back[p]
                    row.append((inp, k, d.xreplace(subs)))
            rows.append(row)
        self.partials[id(node)] = rows

    def backward(self, seed_flat: int, cse: bool) -> dict[int, np.ndarray]:
        """Adjoints of the targets for the output element ``seed_flat``."""
        out = self.order[-1]
        contrib: dict[int, dict[int, list]] = {id(out): {seed_flat: [sympy.S.One]}}
        for node in reversed(self.order):
            terms = contrib.get(id(node))
            if terms is None or node.op is None:
                continue
            rows = self.partials[id(node)]
            for k, ts in terms.items():
                g = sympy.Add(*ts)
                if g == 0:
                    continue
                if cse and not _is_atom(g):
                    g = self.fresh(g)
                for inp, j, d in rows[k]:
                    contrib.setdefault(id(inp), {}).setdefault(j, []).append(g * d)
        result = {}
        nodes = {id(n): n for n in self.order}
        for t in self.targets:
            arr = np.empty(tuple(nodes[t].shape), dtype=object)
            flat = arr.reshape(-1)
            terms = contrib.get(t, {})
            for j in range(flat.size):
                flat[j] = sympy.Add(*terms.get(j, []))
            result[t] = arr
        return result


# ---------------------------------------------------------------- post-processing

#: results nesting deeper than this are not substituted back: SymPy walks expressions
#: recursively (printing, ``subs``, even ``is_number``), so a few hundred levels already
#: exceed Python's recursion limit in the user's hands; ``cse=True`` keeps such chains as
#: intermediates, which stay shallow at any depth
MAX_DEPTH = 120


class TooDeepError(ValueError):
    """A closed form would nest too deeply for SymPy; the message names the fix (``cse=True``)."""


def _depth_of(replacements, exprs: list) -> int:
    """How deep the substituted ``exprs`` would nest (iterative; intermediates count their own)."""
    depth: dict = {}

    def walk(e) -> int:
        best, stack = 0, [(e, 1)]
        while stack:
            sub, level = stack.pop()
            if sub.is_Atom:
                best = max(best, level - 1 + depth.get(sub, 0))
            else:
                best = max(best, level)
                stack.extend((a, level + 1) for a in sub.args)
        return best

    for sym, e in replacements:
        depth[sym] = walk(e)
    return max((walk(e) for e in exprs), default=0)


def _too_deep(depth: int, what: str) -> TooDeepError:
    return TooDeepError(
        f"{what} would nest {'over ' if depth == MAX_DEPTH else ''}{depth} levels deep, more than SymPy's recursive algorithms handle "
        f"within Python's recursion limit (symgrad substitutes up to {MAX_DEPTH}); get it with "
        "its chain's intermediates instead: sg.diff(f, x, cse=True) or "
        "sg.gradient(f, [x], cse=True) return (replacements, result), evaluated in order")


def _bounded_depth(fn):
    """Turn a RecursionError from SymPy on a deep expression into :class:`TooDeepError`."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RecursionError:
            raise _too_deep(MAX_DEPTH, f"sg.{fn.__name__}'s expression") from None
    return call


def _substitute_all(replacements, exprs: list):
    table: dict = {}
    for sym, e in replacements:
        table[sym] = e.xreplace(table)
    return [e.xreplace(table) for e in exprs]


def _prune_and_inline(replacements, exprs: list, taken=frozenset()):
    """Drop unused intermediates; inline those that are atoms or used once.

    Survivors are renumbered ``v0, v1, ...`` skipping the symbols in ``taken`` (the
    graph's leaves) and any other symbol left in the results.
    """
    uses: dict = {}

    def count(e):  # occurrences of intermediates, with multiplicity; atoms end the walk
        stack = [e]
        while stack:
            sub = stack.pop()
            if sub.is_Atom:
                if sub in defined:
                    uses[sub] = uses.get(sub, 0) + 1
            else:
                stack.extend(sub.args)

    defined = {s for s, _ in replacements}
    live = set()
    for e in exprs:
        live |= e.free_symbols & defined
    for sym, e in reversed(replacements):  # liveness, backwards
        if sym in live:
            live |= e.free_symbols & defined
    kept = [(s, e) for s, e in replacements if s in live]
    for _, e in kept:
        count(e)
    for e in exprs:
        count(e)
    table: dict = {}  # inlined expressions
    size: dict = {}   # their sizes (tree nodes), so inlining stops before they grow large
    out = []
    for sym, e in kept:
        inlined = table.keys() & e.free_symbols if table else ()
        est = _tree_size(e) + sum(size[s] for s in inlined)
        if inlined:
            e = e.xreplace(table)
        if _is_atom(e) or (uses.get(sym, 0) <= 1 and est <= _INLINE_MAX):
            table[sym], size[sym] = e, est
        else:
            out.append((sym, e))
    exprs = [e.xreplace(table) if table else e for e in exprs]
    if len(out) > _RENUMBER_MAX:
        return out, exprs
    others = set().union(*(e.free_symbols for e in exprs), *(e.free_symbols for _, e in out))
    names = sympy.numbered_symbols("v", exclude=(others - defined) | set(taken))
    rename = {sym: next(names) for sym, _ in out}
    return ([(rename[s], e.xreplace(rename)) for s, e in out],
            [e.xreplace(rename) for e in exprs])


#: a single-use intermediate is inlined only while the expression it goes into stays
#: under this many tree nodes: a chain of adjoints (``g*cos(v)``, 10^4 deep) would otherwise
#: be rebuilt at every level, quadratic time and a product too deep for SymPy
_INLINE_MAX = 64


def _tree_size(e) -> int:
    """Nodes of ``e``'s expression tree (iterative)."""
    n, stack = 0, [e]
    while stack:
        sub = stack.pop()
        n += 1
        if not sub.is_Atom:
            stack.extend(sub.args)
    return n


#: up to this many intermediates, ``cse=True`` numbers them v0, v1, ... consecutively;
#: beyond, survivors keep their first names (gaps), since renaming rebuilds every
#: expression (a fifth of the reverse mode's time on the n = 200 benchmark)
_RENUMBER_MAX = 100


def _shape(t) -> tuple:
    return tuple(t.shape)


def _size(t) -> int:
    return int(np.prod(_shape(t), dtype=np.int64))


def _wants_matrix(f, form) -> bool:
    if form is not None:
        if form not in ("elementwise", "matrix"):
            raise ValueError(f"form must be 'elementwise' or 'matrix', got {form!r}")
        return form == "matrix"
    return any(n.op is None and any(isinstance(d, str) for d in n.shape)
               for n in toposort([f]))


def _nodes(xs) -> list:
    return [as_node(x) for x in xs]


def reverse_mode(f, xs: Sequence[Any], *, cse: bool = True, bindings: "dict | None" = None):
    """Symbolic reverse mode: (replacements, [jacobian arrays of shape f.shape + x.shape]).

    Without ``cse`` the intermediates are substituted back (unsimplified).
    ``bindings`` (``{id(leaf node): value}``) is the point at which ops whose
    structure depends on values are lowered (Note [Forms at a point]).

    >>> import symgrad as sg
    >>> x = sg.symbol("x")
    >>> reverse_mode(sg.exp(x) * sg.exp(x), [x], cse=False)[1][0][()]
    2*exp(2*x)
    """
    f, xs = as_node(f), _nodes(xs)
    g = _Graph(f, xs, bindings)
    per_seed = [g.backward(k, cse) for k in range(_size(f))]
    arrays = []
    for x in xs:
        stacked = np.empty((_size(f), _size(x)), dtype=object)
        for k, res in enumerate(per_seed):
            stacked[k, :] = res[id(x)].reshape(-1)
        arrays.append(stacked.reshape(_shape(f) + _shape(x)))
    flat = [e for a in arrays for e in a.ravel()]
    if cse:
        reps, flat = _prune_and_inline(g.replacements, flat, g.leaf_syms)
    else:
        depth = _depth_of(g.replacements, flat)
        if depth > MAX_DEPTH:
            raise _too_deep(depth, "this derivative")
        reps, flat = [], _substitute_all(g.replacements, flat)
    it = iter(flat)
    for a in arrays:
        for idx in np.ndindex(a.shape):
            a[idx] = next(it)
    return reps, arrays


@_bounded_depth
def to_sympy(t, form: str = "elementwise", *, wrt=None):
    """Lower a tensor's graph (or a node's) to SymPy.

    ``form="elementwise"``: a scalar (size-1) tensor gives an expression, a shaped
    tensor a SymPy Array over element symbols.  ``form="matrix"``: rank <= 2
    leaves become MatrixSymbols (see :mod:`symgrad.matrix_form`).  Symbols stay
    symbols and constants numbers; data tensors are symbols, or, when ``wrt``
    (a tensor or a list) is given, only those in ``wrt`` are and the others
    become their exact values.

    >>> import symgrad as sg
    >>> x = sg.symbol("x")
    >>> sg.to_sympy(sg.sigmoid(x) * 2)
    2/(1 + exp(-x))
    """
    wrt = variables(wrt)
    if form == "matrix":
        return to_matrix(t, wrt=wrt)
    if form != "elementwise":
        raise ValueError(f"form must be 'elementwise' or 'matrix', got {form!r}")
    arr, _ = lower(t, wrt)
    return as_sympy(arr)


def _budget(simplify, timeout) -> tuple[str, Deadline]:
    """The strategy and the call's deadline (its clock starts now)."""
    return check_simplify(simplify), Deadline(DEFAULT_TIMEOUT if timeout is None else timeout)


def _finish(arrs: list, strategy: str, d: Deadline, dims=()) -> list:
    """Simplify the elements of object arrays under ``d`` (in place); returns them."""
    flat = [sympy.sympify(e) for a in arrs for e in a.ravel()]
    flat = tidy_all(flat, strategy, d, dims=dims)
    it = iter(flat)
    for a in arrs:
        for idx in np.ndindex(a.shape):
            a[idx] = next(it)
    return arrs


def _done(results: list, d: Deadline, what: str) -> list:
    """Warn once if ``d`` ran out, and mark the results that can carry ``timed_out``."""
    if d.timed_out:
        warn_timeout(d, what, stacklevel=5)  # past _done, the call and _bounded_depth
    return [mark(r, d.timed_out) for r in results]


def _matrix_simplify(strategy: str):
    """``simplify=`` for the matrix-form functions (``if simplify:`` there)."""
    return False if strategy == "none" else strategy


def _matrix(f, xs, strategy: str, d: Deadline, check: bool) -> list:
    with _Active(d):  # matrix_form's simplification runs under this call's deadline
        return [_checked(f, x, diff_matrix(f, x, simplify=_matrix_simplify(strategy)), check)
                for x in xs]


def _checked(f, x, result, check: bool, order: int = 1):
    """``result`` after the matrix-form self-check (symgrad.matrix_check), unless skipped."""
    if check:
        check_matrix(f, x, result, order=order)
    return result


@_bounded_depth
def diff(f, x, *, form: str | None = None, simplify=True, timeout: float | None = None,
         cse: bool = False, check: bool = True):
    """The exact derivative of ``f`` with respect to the leaf ``x`` (SymPy).

    The result has shape ``f.shape + x.shape`` (a size-1 result is a scalar
    expression).  ``form="matrix"`` (automatic when a leaf has symbolic dims)
    gives an index-free matrix expression, checked numerically before it is
    returned (``check=False`` skips; Note [Matrix self-check] in symgrad/matrix_check.py).

    ``simplify``: ``True`` (``"auto"``), ``False``, ``"fast"`` or ``"full"``
    (:func:`symgrad.budget.tidy`).  ``timeout``: seconds for the whole call
    (``None``: :data:`symgrad.budget.DEFAULT_TIMEOUT`); the derivative itself
    is always computed, and simplification stops when time runs out, returning
    the best form so far with a :class:`symgrad.SimplifyTimeout` warning and,
    on array results, ``result.timed_out = True``.

    ``cse=True`` returns ``(replacements, derivative)`` as :func:`gradient` does
    (not simplified); it also works for chains too deep to substitute back
    (deeper than :data:`MAX_DEPTH` levels, e.g. ``sin`` applied 10^4 times).

    >>> import symgrad as sg
    >>> x = sg.tensor([5.0], requires_grad=True, name="x")
    >>> sg.diff(x ** 2, x)
    2*x
    """
    f, x = as_node(f), as_node(x)
    strategy, d = _budget(simplify, timeout)
    if cse:
        if _wants_matrix(f, form):
            reps, (out,) = matrix_cse(_done(_matrix(f, [x], strategy, d, check), d, "sg.diff"))
            return reps, out
        reps, (arr,) = reverse_mode(f, [x], cse=True)
        return reps, as_sympy(arr)
    if _wants_matrix(f, form):
        out = _matrix(f, [x], strategy, d, check)[0]
    else:
        _, (arr,) = reverse_mode(f, [x], cse=False)
        out = as_sympy(_finish([arr], strategy, d)[0])
    return _done([out], d, "sg.diff")[0]


@_bounded_depth
def gradient(f, xs, *, form: str | None = None, simplify=True, cse: bool = False,
             timeout: float | None = None, check: bool = True):
    """Gradients of a scalar ``f`` with respect to each leaf in ``xs`` (a list).

    ``form=`` and ``check=`` as for :func:`diff` (matrix forms are checked first).
    ``cse=True`` returns ``(replacements, gradients)`` like ``sympy.cse``: shared
    intermediates ``[(Symbol, expr), ...]`` and the gradient expressions over them,
    O(N) operations for a graph of N nodes (not simplified).  ``simplify`` and
    ``timeout`` as in :func:`diff`.

    >>> import symgrad as sg
    >>> x, y = sg.symbol("x"), sg.symbol("y")
    >>> sg.gradient(x * sg.sin(y), [x, y])
    [sin(y), x*cos(y)]
    >>> sg.gradient(sg.exp(x * y) * y, [x, y], cse=True)
    ([(v0, x*y), (v1, y*exp(v0))], [v1*y, v1*x + exp(v0)])
    """
    single = not many(xs)
    f, xs = as_node(f), _nodes([xs] if single else xs)
    strategy, d = _budget(simplify, timeout)
    if all(isinstance(d_, int) for d_ in _shape(f)) and _size(f) != 1:
        raise ValueError(f"gradient() needs a scalar f, got shape {_shape(f)}; "
                         "call .sum() first or use sg.jacobian")
    if _wants_matrix(f, form):
        out = _done(_matrix(f, xs, strategy, d, check), d, "sg.gradient")
        if cse:   # shared matrix subexpressions named v0, v1, ... (symgrad.code_out)
            reps, out = matrix_cse(out)
            return reps, (out[0] if single else out)
        return out[0] if single else out
    reps, arrays = reverse_mode(f, xs, cse=cse)
    if cse:
        res = [as_sympy(a) for a in arrays]
        return reps, (res[0] if single else res)
    out = _done([as_sympy(a) for a in _finish(arrays, strategy, d)], d, "sg.gradient")
    return out[0] if single else out


@_bounded_depth
def jacobian(f, x, *, form: str | None = None, simplify=True, timeout: float | None = None,
             check: bool = True):
    """The Jacobian matrix d(flattened f)/d(flattened x), of shape (f.numel, x.numel).

    ``form="matrix"`` (automatic when a leaf has symbolic dims) gives a matrix
    expression such as ``A`` or ``2*diag(x)``, checked before it is returned
    (:func:`symgrad.matrix_hessian.matrix_jacobian`).  ``simplify`` and
    ``timeout`` as in :func:`diff`; a Matrix carries ``timed_out``.

    >>> import symgrad as sg
    >>> x = sg.symbol("x", shape=(2,))
    >>> sg.jacobian(x * x[0], x)
    Matrix([
    [2*x_0,   0],
    [  x_1, x_0]])
    """
    f, x = as_node(f), as_node(x)
    strategy, d = _budget(simplify, timeout)
    if _wants_matrix(f, form):
        with _Active(d):
            out = matrix_jacobian(f, x, simplify=_matrix_simplify(strategy), check=check)
        return _done([out], d, "sg.jacobian")[0]
    _, (arr,) = reverse_mode(f, [x], cse=False)
    m = _finish([arr.reshape(_size(f), _size(x))], strategy, d)[0]
    return _done([sympy.Matrix(m.tolist())], d, "sg.jacobian")[0]


@_bounded_depth
def hessian(f, xs, *, form: str | None = None, simplify=True, timeout: float | None = None,
            check: bool = True):
    """The Hessian of a scalar ``f`` over the flattened leaves ``xs`` (a Matrix).

    ``form="matrix"`` (automatic when a leaf has symbolic dims) gives a matrix
    expression such as ``2*X.T*X``, checked before it is returned
    (:func:`symgrad.matrix_hessian.matrix_hessian`).  ``simplify`` and
    ``timeout`` as in :func:`diff`; a Matrix carries ``timed_out``.

    >>> import symgrad as sg
    >>> x, y = sg.symbol("x"), sg.symbol("y")
    >>> sg.hessian(x ** 2 * y, [x, y])
    Matrix([
    [2*y, 2*x],
    [2*x,   0]])
    """
    f = as_node(f)
    strategy, d = _budget(simplify, timeout)
    if _wants_matrix(f, form):
        with _Active(d):
            out = matrix_hessian(f, xs, simplify=_matrix_simplify(strategy), check=check)
        return _done([out], d, "sg.hessian")[0]
    xs = _nodes(xs if many(xs) else [xs])
    if _size(f) != 1:
        raise ValueError(f"hessian() needs a scalar f, got shape {_shape(f)}; call .sum() first")
    _, arrays = reverse_mode(f, xs, cse=False)
    grads = [e for a in arrays for e in a.ravel()]
    syms = [e for x in xs for e in leaf_array(x, {id(x)}).ravel()]
    # second derivatives over real stand-ins (Note [Plain leaves]): SymPy leaves
    # d sign(x)/dx unevaluated for a plain x
    to_real, to_plain = real_world(*grads, *syms)
    grads = [g.xreplace(to_real) for g in grads]
    syms = [v.xreplace(to_real) for v in syms]
    rows = np.empty((len(grads), len(syms)), dtype=object)
    for i, g in enumerate(grads):
        for j, v in enumerate(syms):
            rows[i, j] = _no_delta(sympy.diff(g, v)).xreplace(to_plain)
    rows = _finish([rows], strategy, d)[0]
    return _done([sympy.Matrix(rows.tolist())], d, "sg.hessian")[0]


def _no_delta(e):
    """Second derivatives at kinks: ``DiracDelta`` -> 0, as numeric (zero almost everywhere).

    relu'' and abs'' are 0 wherever they exist; numeric's second derivative through
    ``create_graph=True`` is 0 at the kink too, so the distributional spike is dropped.
    """
    e = flat_steps(e)
    return e.replace(sympy.DiracDelta, lambda *args: sympy.S.Zero) if e.has(sympy.DiracDelta) else e
