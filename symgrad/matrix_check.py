"""Every matrix-form result checks itself before it is returned.

Note [Matrix self-check]
    A matrix-form derivative (``sg.diff``/``sg.gradient``/``sg.jacobian``/``sg.hessian``
    with symbolic dims) is written by structural rules, so a wrong rule would print a
    plausible, wrong formula.  :func:`check_matrix` evaluates the formula at small
    concrete dims (each symbolic dim 2 or 3, two draws with the dims swapped round so a
    transposition shows) and random points, and compares it with two independent
    witnesses at the same point:

    - the elementwise closed form of the same graph rebuilt with concrete shapes
      (symgrad's scalar reverse mode, every partial from ``sympy.diff``);
    - numeric's reverse mode on the graph rebuilt with concrete tensors
      (``create_graph=True`` for second derivatives).

    The graph is rebuilt by one forward walk over the node DAG (iterative), giving
    every symbol leaf a concrete shape and value and re-applying each op with its
    attrs (symbolic dims in attrs substituted too).  A disagreement raises
    :class:`~symgrad.errors.MatrixFormMismatch`.  A point where the function is not
    finite is drawn again with positive values, then skipped; if no draw can be
    evaluated the result is returned unchecked.  Results that passed are cached by
    graph structure and formula, so asking again costs a dictionary look-up.
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import sympy
from sympy import MatrixExpr, MatrixSymbol

from numeric.graph import toposort
from numeric.node import IDENTITY, as_node, many
from symgrad import budget, creation
from symgrad.autograd import grad
from symgrad.errors import MatrixFormMismatch
from symgrad.lower_sympy import flat_steps, lower, real_world
from symgrad.naming import leaf_name
from symgrad.tensor import _apply, handle

__all__ = ["check_matrix", "clear_cache", "MatrixCheckSkipped"]

#: relative tolerance of the comparison (float64 values of formulas of a few operations)
RTOL = 1e-6
#: seconds the check may take at least (more if the call has more left of its budget)
CHECK_SECONDS = 2.0
_PASSED: dict = {}
_CACHE_MAX = 2048


def clear_cache() -> None:
    """Forget which results passed (the next call checks again).

    >>> clear_cache()
    """
    _PASSED.clear()


def _signature(order_nodes: list, xs: list) -> tuple:
    """A hashable description of the graph's structure (ops, attrs, shapes, leaves)."""
    index = {id(n): k for k, n in enumerate(order_nodes)}
    sig = []
    for n in order_nodes:
        if n.op is None:
            data = None
            if n.data is not None:
                arr = np.asarray(n.data)
                data = (arr.shape, arr.dtype.str, arr.tobytes())
            sig.append((None, n.role, leaf_name(n), tuple(n.shape), repr(n.literal), data))
        else:
            attrs = tuple(sorted((k, repr(v)) for k, v in (n.attrs or {}).items()))
            sig.append((repr(n.op), tuple(index[id(i)] for i in n.inputs), attrs,
                        tuple(n.shape)))
    return tuple(sig), tuple(index[id(x)] for x in xs)


def _concrete(value, dims: dict):
    """``value`` with string dims replaced by numbers (attrs: tuples, lists, strings)."""
    if isinstance(value, str):
        if value in dims:
            return dims[value]
        names = re.findall(r"[A-Za-z_]\w*", value)
        if names and all(n in dims for n in names) and re.fullmatch(r"[\w\s*+()-]+", value):
            # a dim made of dims ("N*d" from reshape, "N*2" from kron)
            return int(sympy.sympify(value, locals={n: sympy.Integer(dims[n]) for n in names}))
        return value
    if isinstance(value, tuple):
        return tuple(_concrete(v, dims) for v in value)
    if isinstance(value, list):
        return [_concrete(v, dims) for v in value]
    return value


def _rebuild(order_nodes, xs, dims, values, symbolic: bool):
    """The graph again over concrete leaves: tensors (numeric) or concrete-shape symbols.

    Returns ``(output, [leaves standing for xs])``.
    """
    made: dict = {}
    wrt = {id(x) for x in xs}
    for n in order_nodes:
        if n.op is None:
            if n.role == "symbol":
                shape = tuple(_concrete(tuple(n.shape), dims))
                if symbolic:
                    t = creation.symbol(leaf_name(n), shape=shape, requires_grad=id(n) in wrt)
                else:
                    t = creation.tensor(values[leaf_name(n)], dtype=np.float64,
                                        requires_grad=id(n) in wrt, name=leaf_name(n))
            elif n.literal == IDENTITY:
                t = creation.eye(_concrete(n.shape[0], dims))
            elif id(n) in wrt and not symbolic:
                t = creation.tensor(np.asarray(n.data, dtype=np.float64), requires_grad=True,
                                    name=leaf_name(n))
            else:
                t = handle(n, n.data)
            made[id(n)] = t
            continue
        attrs = {k: _concrete(v, dims) for k, v in (n.attrs or {}).items()}
        made[id(n)] = _apply(n.op, tuple(made[id(i)] for i in n.inputs), attrs)
    return made[id(order_nodes[-1])], [made[id(x)] for x in xs]


def _draw_values(order_nodes, dims, rng, positive: bool) -> dict:
    values = {}
    for n in order_nodes:
        if n.op is None and n.role == "symbol":
            shape = tuple(_concrete(tuple(n.shape), dims))
            lo, hi = (0.3, 1.3) if positive else (-1.0, 1.0)
            values[leaf_name(n)] = rng.uniform(lo, hi, size=shape)
    return values


def _numeric(f, xs, order: int) -> np.ndarray:
    if order == 1:
        if f.numel() == 1:
            return np.concatenate([g.numpy().ravel() for g in grad(f, xs)])
        rows = []
        for k in range(f.numel()):
            seed = np.zeros(f.shape)
            seed.reshape(-1)[k] = 1.0
            (g,) = grad(f, xs, grad_outputs=creation.tensor(seed), retain_graph=True)
            rows.append(g.numpy().ravel())
        return np.array(rows)
    gs = grad(f, xs, create_graph=True)
    rows = []
    total = sum(x.numel() for x in xs)
    for gi in gs:
        if not gi.requires_grad:  # the gradient is constant here (relu, a linear f)
            rows.extend(np.zeros(total) for _ in range(gi.numel()))
            continue
        for k in range(gi.numel()):
            seed = np.zeros(gi.shape)
            seed.reshape(-1)[k] = 1.0
            hs = grad(gi, xs, grad_outputs=creation.tensor(seed), retain_graph=True,
                      allow_unused=True)
            rows.append(np.concatenate([np.zeros(x.numel()) if h is None else h.numpy().ravel()
                                        for h, x in zip(hs, xs)]))
    return np.array(rows)


def _elementwise(f, xs, order: int, point: dict) -> np.ndarray:
    """The derivative of the elementwise lowering by plain ``sympy.diff``, at ``point``.

    Independent of both the matrix rules and symgrad's symbolic reverse mode: the
    graph at concrete shapes is lowered to one SymPy expression per entry, and
    SymPy differentiates those.
    """
    f = as_node(f)
    leaves = [n for n in toposort([f]) if n.op is None and leaf_name(n) in point]
    bindings = {id(n): np.asarray(point[leaf_name(n)], dtype=float) for n in leaves}
    wrt = {id(as_node(x)) for x in xs}
    arr, arrays = lower(f, wrt, bindings)
    syms = [e for x in xs for e in arrays[id(as_node(x))].ravel()]
    subs = {}
    for n in leaves:
        for sym, v in zip(arrays[id(n)].ravel(), bindings[id(n)].ravel()):
            if isinstance(sym, sympy.Symbol):
                subs[sym] = sympy.Float(float(v), 30)
    outs = [sympy.sympify(e) for e in np.asarray(arr, dtype=object).ravel()]
    # over real stand-ins (Note [Plain leaves]): SymPy leaves d|x|/dx, d sign(x)/dx
    # unevaluated for a plain x, and a Derivative cannot take a number in its place
    to_real, _ = real_world(*outs, *syms)
    outs = [e.xreplace(to_real) for e in outs]
    syms = [s.xreplace(to_real) for s in syms]
    subs = {to_real.get(s, s): v for s, v in subs.items()}
    if order == 2:
        outs = [sympy.diff(outs[0], s) for s in syms]
    flat = [flat_steps(sympy.diff(e, s)) for e in outs for s in syms]
    return np.array([_number(e.xreplace(subs)) for e in flat], dtype=float)


def _number(e) -> float:
    # kinks (DiracDelta, Heaviside) are evaluated away from 0, where they are 0 or 1
    return complex(sympy.sympify(e).evalf(20)).real


def _matrix_value(result, dims: dict, point: dict) -> np.ndarray:
    table: dict = {sympy.Symbol(d): sympy.Integer(v) for d, v in dims.items()}
    atoms = result.atoms(MatrixSymbol) if hasattr(result, "atoms") else set()
    for m in atoms:
        v = np.asarray(point[m.name], dtype=float)
        v = v.reshape(v.shape[0], -1) if v.ndim == 2 else v.reshape(-1, 1)
        table[m] = sympy.ImmutableMatrix(v.shape[0], v.shape[1],
                                         [sympy.Float(float(a), 30) for a in v.ravel()])
    for s in result.free_symbols if hasattr(result, "free_symbols") else ():
        if isinstance(s, sympy.Symbol) and s.name in point and s not in table:
            table[s] = sympy.Float(float(np.asarray(point[s.name]).ravel()[0]), 30)
    r = result.xreplace(table)
    r = r.doit() if hasattr(r, "doit") else r
    if isinstance(r, MatrixExpr):
        r = r.as_explicit()
    if isinstance(r, sympy.MatrixBase):
        vals = [complex(sympy.sympify(e).evalf(20)).real for e in r]
        return np.array(vals, dtype=float)
    return np.array([complex(sympy.sympify(r).evalf(20)).real])


def _close(a: np.ndarray, b: np.ndarray) -> tuple[bool, float]:
    if a.size != b.size:
        return False, float("inf")
    err = float(np.max(np.abs(a - b))) if a.size else 0.0
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    return err <= RTOL * scale, err


def _kind(f, xs, order) -> str:
    if order == 2:
        return "Hessian"
    return "gradient" if tuple(f.shape) == () else "Jacobian"


class MatrixCheckSkipped(UserWarning):
    """A matrix-form result was returned unchecked (no finite point, or no reference)."""


def _witnesses(order_nodes, xs, order, dims, rng):
    """(point, [(witness name, flat values)]) at ``dims``, or None without a finite point."""
    with np.errstate(all="ignore"):  # a point outside the domain is drawn again
        for positive in (False, True):
            point = _draw_values(order_nodes, dims, rng, positive)
            fn, xn = _rebuild(order_nodes, xs, dims, point, symbolic=False)
            if np.all(np.isfinite(fn.detach().numpy())):
                break
        else:
            return None
        numeric = _numeric(fn, xn, order)
    if not np.all(np.isfinite(numeric)):
        return None
    for xnode, t in zip(xs, xn):
        point.setdefault(leaf_name(xnode), t.detach().numpy())
    for n in order_nodes:
        if n.op is None and n.role == "data" and n.name is not None:
            point.setdefault(leaf_name(n), np.asarray(n.data))
    fs, xsym = _rebuild(order_nodes, xs, dims, point, symbolic=True)
    return point, [("elementwise closed form", _elementwise(fs, xsym, order, point).ravel()),
                   ("numeric reverse mode", numeric.ravel())]


def check_matrix(f, x, result, *, order: int = 1, draws: int = 2, seed: int = 0) -> None:
    """Evaluate a matrix-form derivative at small concrete dims; raise if it is wrong.

    ``f`` is the differentiated tensor, ``x`` the leaf (or a list of leaves for a
    block Hessian), ``result`` the matrix-form formula, ``order`` 1 (gradient or
    Jacobian) or 2 (Hessian).  Raises :class:`~symgrad.errors.MatrixFormMismatch`
    when the formula disagrees with the elementwise closed form or with numeric's
    reverse mode (Note [Matrix self-check]); returns None when it agrees.

    >>> import sympy, symgrad as sg
    >>> X, w = sg.symbol("X", shape=("N", "d")), sg.symbol("w", shape=("d",))
    >>> f = ((X @ w) ** 2).sum()
    >>> Xs, ws = sympy.MatrixSymbol("X", *sympy.symbols("N d")), sympy.MatrixSymbol("w", sympy.Symbol("d"), 1)
    >>> check_matrix(f, w, 2 * Xs.T * Xs * ws)
    >>> check_matrix(f, w, 2 * Xs.T * Xs * ws * 3)
    Traceback (most recent call last):
    ...
    symgrad.errors.MatrixFormMismatch: the matrix-form gradient 6*X.T*X*w disagrees with ...
    """
    if order not in (1, 2):
        raise ValueError(f"order must be 1 (gradient, Jacobian) or 2 (Hessian), got {order!r}")
    f = as_node(f)
    xs = [as_node(v) for v in (x if many(x) else [x])]
    order_nodes = toposort([f])
    # Lambda dummies differ from call to call; the formula's text without them is the key
    key = (_signature(order_nodes, xs), order,
           re.sub(r"dummy_index=\d+", "", sympy.srepr(result)))
    if key in _PASSED:
        return
    names = sorted({name for n in order_nodes if n.op is None for d in n.shape
                    if isinstance(d, str) for name in re.findall(r"[A-Za-z_]\w*", d)})
    kind = _kind(f, xs, order)
    checked = 0
    # the check has the call's remaining time, and at least CHECK_SECONDS of its own:
    # a formula cut short by the simplification budget is still checked
    active = budget.current()
    limit = CHECK_SECONDS if active is None else max(active.remaining(), CHECK_SECONDS)
    clock = budget.deadline(limit)
    for draw in range(draws):
        dims = {d: 2 + (k + draw) % 2 for k, d in enumerate(names)}
        rng = np.random.default_rng(seed + 7919 * draw)
        try:
            with clock:
                found = _witnesses(order_nodes, xs, order, dims, rng)
                if found is None:
                    continue
                point, witnesses = found
                try:
                    got = _matrix_value(result, dims, point)
                except (ValueError, TypeError, IndexError, AttributeError) as err:
                    # a formula that cannot be evaluated (SymPy's ShapeError on a wrong shape)
                    got, problem = None, f"cannot be evaluated ({type(err).__name__}: {err})"
        except budget.BudgetExceeded:
            warnings.warn(MatrixCheckSkipped(
                f"the matrix-form {kind} {result} was not checked: the check ran out of its "
                f"{limit:.3g} s budget; pass check=False to skip it, or form='elementwise' "
                "with concrete shapes"), stacklevel=3)
            return
        except Exception as err:  # a reference that cannot be built is no verdict
            warnings.warn(MatrixCheckSkipped(
                f"the matrix-form {kind} {result} was not checked: evaluating at concrete "
                f"dims failed ({type(err).__name__}: {err})"), stacklevel=3)
            return
        for witness, want in witnesses:
            if got is not None:
                ok, err = _close(got, want)
                problem = f"disagrees with the {witness} (max |difference| {err:.3g})"
                if ok:
                    continue
            shown = ", ".join(f"{d}={v}" for d, v in dims.items())
            raise MatrixFormMismatch(
                f"the matrix-form {kind} {result} {problem} at {shown or 'the given shapes'}; "
                "this is a bug in symgrad's matrix rules: form='elementwise' gives a correct "
                "result, check=False returns the formula unchecked",
                kind=kind, formula=result, witness=witness, dims=dims, got=got,
                expected=want, max_abs_err=float("nan") if got is None else err)
        checked += 1
    if not checked:
        warnings.warn(MatrixCheckSkipped(
            f"the matrix-form {kind} {result} was not checked: no random point gave finite "
            "values"), stacklevel=3)
        return
    if len(_PASSED) >= _CACHE_MAX:
        _PASSED.clear()
    _PASSED[key] = True
