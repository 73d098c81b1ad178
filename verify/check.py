"""``verify.check``: numeric vs exact vs finite differences at points in the domain.

Note [What check compares]
    A non-scalar ``f`` is checked along a random cotangent ``w`` (dyadic, so
    exact in every format): the scalar ``sum(w * f)`` is differentiated.  A
    wrong VJP changes that gradient with probability one; ``gradcheck`` checks
    full Jacobians.  The exact gradient comes from symgrad's symbolic reverse
    mode (``sympy.diff`` of each op's local form, never numeric's VJPs), its
    named intermediates evaluated once per point by :class:`ExactEvaluator`.
"""
from __future__ import annotations

import copy
import gc
import math
from typing import Any, Sequence

import mpmath
import numpy as np

from numeric.graph import toposort
from numeric.node import Node, as_node
from numeric.ops import AT_POINT, Op
from symgrad.naming import leaf_name
from symgrad.tensor import Tensor
from verify import graph as vgraph
from verify.opdb import OP_DB, POSITIVE, REAL, Domain
from verify.oracles import (ExactEvaluator, OutOfDomain, adjoint_scale, backward_rho,
                            fd_gradient, numeric_gradient, replay)
from verify.report import (AT_KINK, ILL_CONDITIONED, NEAR_KINK, OUT_OF_DOMAIN, InputReport,
                           PointVerdict, Report, WorstPoint)
from verify.tolerance import MAX_RHO, SAFETY, tolerance, ulps, unit_roundoff

__all__ = ["check", "KINK_MARGIN", "prepare", "Prepared"]

#: points are drawn at least this far from any kink of any node (absolute)
KINK_MARGIN = 1e-2
#: finite-difference steps never exceed this (a fraction of KINK_MARGIN)
FD_MAX_STEP = KINK_MARGIN / 8
#: a domain's sampler is preferred over another's by this rank (narrower first)
_RANK = {"boolean": 0}


def _is_node(x: Any) -> bool:
    return isinstance(x, (Tensor, Node))


def _make_symbol(name: str, shape: tuple):
    return vgraph.symbol(name, shape)


def _is_shape(x: Any) -> bool:
    return isinstance(x, tuple) and all(isinstance(d, (int, np.integer)) and not
                                        isinstance(d, bool) for d in x)


def _grad_handles(t: Tensor, leaf_nodes: list) -> dict:
    """{id(leaf node): its live Tensor handle} for the data leaves under ``t``.

    The handles are reached through the handles' ``inputs``; ``backward()``
    frees those (the node graph stays), so for a freed graph the leaves'
    handles still alive are found through the garbage collector's referrers
    (a handle holds its node).
    """
    wanted = {id(n) for n in leaf_nodes if n.role == "data"}
    found: dict = {}
    freed = False
    stack, seen = [t], set()
    while stack:
        h = stack.pop()
        if id(h) in seen:
            continue
        seen.add(id(h))
        if h.node.op is None:
            if id(h.node) in wanted:
                found.setdefault(id(h.node), h)
        elif not h.inputs:
            freed = True
        else:
            stack.extend(h.inputs)
    missing = [n for n in leaf_nodes if id(n) in wanted and id(n) not in found]
    if freed and missing:
        for ref in gc.get_referrers(*missing):
            if isinstance(ref, Tensor) and ref.node.op is None and id(ref.node) in wanted:
                found.setdefault(id(ref.node), ref)
    return found


def _current_value(w: Any, handles: dict) -> "np.ndarray | None":
    """The current value of an input (a Tensor handle or a data leaf node), else None."""
    if isinstance(w, Tensor) and w.value is not None and w.node.op is None:
        return np.asarray(w.value)
    node = as_node(w)
    h = handles.get(id(node))
    if h is not None and h.value is not None:
        return np.asarray(h.value)
    if node.op is None and node.role == "data" and node.data is not None:
        return np.asarray(node.data)
    return None


def _build(f: Any, wrt: Any) -> tuple[Node, list, "list | None"]:
    """(the output's IR node, the IR nodes of the inputs to differentiate, their current
    values when every input is an eager leaf -- the first point -- else None)."""
    if not _is_node(f) and hasattr(f, "node") and hasattr(f, "symbols"):
        # a drawn verify.strategies.Expression
        f, wrt = f.node, (f.symbols if wrt is None else wrt)
    if _is_node(f):
        out = as_node(f)
        handles: dict = {}
        if wrt is None:
            leaf_nodes = [n for n in toposort([out]) if n.op is None]
            if isinstance(f, Tensor):
                handles = _grad_handles(f, leaf_nodes)
            wrt = [n for n in leaf_nodes if n.role == "symbol" or (
                id(n) in handles and handles[id(n)].requires_grad)]
            if not wrt:
                raise ValueError(
                    "check(f): f has no input to differentiate: no leaf of it requires grad "
                    "and none is an sg.symbol; create the inputs with requires_grad=True "
                    "or pass them as wrt=[...]")
        specs = [wrt] if _is_node(wrt) else list(wrt)
        leaves = [as_node(w) for w in specs]
        start = [_current_value(w, handles) for w in specs]
        return out, leaves, (start if start and all(v is not None for v in start) else None)
    if not callable(f):
        raise TypeError(f"f must be a tensor built over symbols or a function of tensors, "
                        f"got {type(f).__name__}")
    if wrt is None:
        raise ValueError("check(fn, wrt): wrt must give the inputs of fn (shapes or symbols)")
    specs = [wrt] if _is_node(wrt) or _is_shape(wrt) or isinstance(wrt, np.ndarray) \
        else list(wrt)
    leaves = []
    for k, s in enumerate(specs):
        if _is_node(s):
            leaves.append(s)
        elif isinstance(s, np.ndarray):
            leaves.append(_make_symbol(f"x{k}", s.shape))
        else:
            try:
                shape = tuple(int(d) for d in s)
            except TypeError:
                raise TypeError(f"wrt[{k}] must be a shape tuple, an array or a symbol, "
                                f"got {s!r}") from None
            leaves.append(_make_symbol(f"x{k}", shape))
    out = f(*leaves)
    if not _is_node(out):
        raise TypeError(f"fn must return a symgrad Tensor, got {type(out).__name__}")
    return as_node(out), [as_node(leaf) for leaf in leaves], None


def _leaf_domains(order: list, leaves: list) -> list[Domain]:
    """The narrowest sampling domain any direct consumer asks of each leaf.

    A domain with ``specials`` (``isnan``'s inf and NaN, logical ops' zeros) serves
    the op's own value check; a leaf feeding it is drawn as the other consumers ask.
    """
    chosen: dict[int, Domain] = {id(leaf): REAL for leaf in leaves}
    for node in order:
        info = OP_DB.get(node.op) if isinstance(node.op, Op) else None
        if info is None:
            continue
        for pos, inp in enumerate(node.inputs):
            if id(inp) in chosen:
                d = info.domain(pos)
                if d is not REAL and not d.specials and (chosen[id(inp)] is REAL or
                                                         d is POSITIVE):
                    chosen[id(inp)] = d
    return [chosen[id(leaf)] for leaf in leaves]


#: where else to draw unconstrained leaves when the ops' own domains keep failing
#: (``log(x - 1)``: only intermediate values know the domain)
_FALLBACK_BOXES = tuple(Domain(f"fallback ({lo}, {hi})", lo, hi, np.isfinite) for lo, hi in
                        ((0.2, 3.0), (1.1, 3.5), (-3.5, -1.1), (-0.9, 0.9), (0.05, 0.95),
                         (2.5, 6.0)))


class _Boxes:
    """Chooses the sampling box per attempt: the ops' domains first; if 8 draws in a
    row are all out of domain, each fallback box in turn; then the boxes that worked."""

    __slots__ = ("tries", "wins", "current", "turn")
    PATIENCE = 8

    def __init__(self) -> None:
        n = len(_FALLBACK_BOXES) + 1
        self.tries, self.wins, self.current, self.turn = [0] * n, [0] * n, 0, 0

    def pick(self) -> "Domain | None":
        good = [b for b in range(len(self.tries)) if self.wins[b]]
        if self.wins[0] or self.tries[0] < self.PATIENCE:
            self.current = 0
        elif good:
            self.turn += 1
            self.current = good[self.turn % len(good)]
        else:
            fresh = [b for b in range(1, len(self.tries)) if self.tries[b] < self.PATIENCE]
            self.current = fresh[0] if fresh else 0
        return None if self.current == 0 else _FALLBACK_BOXES[self.current - 1]

    def record(self, ok: bool) -> None:
        self.tries[self.current] += 1
        self.wins[self.current] += bool(ok)


def _admissible(order: list, new: dict, margin: float) -> bool:
    for node in order:
        if node.op is None:
            continue
        rnode = new[id(node)]
        vals = tuple(i.value for i in rnode.inputs)
        if not np.all(np.isfinite(rnode.value)):
            return False
        info = OP_DB.get(node.op) if isinstance(node.op, Op) else None
        if info is not None and not info.admissible(vals, rnode.attrs, margin):
            return False
    return True


class Prepared:
    """A scalarized expression with its exact gradient formulas (reusable across points)."""

    __slots__ = ("target", "leaves", "order", "replacements", "grads", "cotangent", "names",
                 "leaf_symbols", "domains", "n_ops", "start", "fixed", "at_point")

    def __init__(self, out: Any, leaves: list, rng: np.random.Generator,
                 start: "list | None" = None) -> None:
        from symgrad.lower_sympy import is_variable, leaf_array

        out, leaves = as_node(out), [as_node(leaf) for leaf in leaves]
        if not leaves:
            raise ValueError("check: no input to differentiate; pass wrt= (the symbols or "
                             "the tensors that require grad)")
        #: the inputs' current values (eager leaves): checked first, as a given point
        self.start = start
        target = out
        if int(np.prod(out.shape, dtype=np.int64)) != 1:
            w = rng.integers(1, 9, size=out.shape) / 4.0 * rng.choice([-1.0, 1.0], out.shape)
            target = as_node(vgraph.apply(Op.SUM, vgraph.apply(Op.MUL, out, vgraph.constant(w)),
                                          axis=None, keepdims=False))
        self.target, self.leaves = target, leaves
        self.order = toposort([target])
        present = {id(n) for n in self.order}
        for leaf in leaves:
            if id(leaf) not in present or leaf.op is not None:
                raise ValueError(f"{leaf_name(leaf) if leaf.op is None else leaf!r} is not a leaf of the "
                                 "expression; pass the symbols the expression was built from")
        self.cotangent = np.ones(target.shape)
        #: the graph holds an op whose form is taken at a point (Note [Forms at a point]):
        #: its formulas are derived again at each point (:meth:`at`)
        self.at_point = any(n.op in AT_POINT for n in self.order)
        self.replacements, self.grads = ([], []) if self.at_point else self._derive(None)
        self.names = [leaf_name(leaf) for leaf in leaves]
        self.leaf_symbols = [leaf_array(leaf, {id(leaf)}) for leaf in leaves]
        self.domains = _leaf_domains(self.order, leaves)
        self.n_ops = sum(1 for n in self.order if n.op is not None)
        # named data leaves that are not inputs lower to symbols too: bind their values
        inputs = {id(leaf) for leaf in leaves}
        self.fixed = {}
        for n in self.order:
            if n.op is None and id(n) not in inputs and n.role == "data" and is_variable(n):
                for sym, v in zip(leaf_array(n).ravel(),
                                  np.asarray(n.data, dtype=np.float64).ravel()):
                    self.fixed[sym] = mpmath.mpf(float(v))

    def _derive(self, bindings: "dict | None") -> tuple[list, list]:
        from symgrad.closed_form import reverse_mode

        reps, jac = reverse_mode(self.target, self.leaves, cse=True, bindings=bindings)
        return reps, [np.asarray(j, dtype=object).reshape(tuple(leaf.shape)) for j, leaf
                      in zip(jac, self.leaves)]

    def at(self, values: list) -> "Prepared":
        """The formulas valid at ``values``: ``self``, or for a graph with ops whose
        structure depends on values (sort, max-pooling), a copy derived at that point.

        The copy's formulas hold in the neighbourhood of ``values`` where that
        structure (a permutation, an argmax) stays the same: all a derivative needs.
        """
        if not self.at_point:
            return self
        other = copy.copy(self)
        bindings = {id(leaf): np.asarray(v) for leaf, v in zip(self.leaves, values)}
        other.replacements, other.grads = self._derive(bindings)
        other.at_point = False
        return other

    def exact(self, values: list, evaluator: ExactEvaluator) -> tuple[list, list]:
        """Exact gradients and running bounds at ``values`` (lists of mpf arrays)."""
        if self.at_point:
            return self.at(values).exact(values, evaluator)
        subs = dict(self.fixed)
        for syms, v in zip(self.leaf_symbols, values):
            for s, x in zip(syms.ravel(), np.asarray(v, dtype=np.float64).ravel()):
                subs[s] = mpmath.mpf(float(x))
        with mpmath.workdps(evaluator.dps):
            memo = {s: (v, mpmath.mpf(0)) for s, v in subs.items()}
            for sym, expr in self.replacements:
                memo[sym] = evaluator._walk(expr, memo)
            out_v, out_a = [], []
            for g in self.grads:
                pairs = [evaluator._walk(e, memo) for e in g.ravel()]
                out_v.append(np.array([p[0] for p in pairs], dtype=object).reshape(g.shape))
                out_a.append(np.array([float(p[1]) for p in pairs]).reshape(g.shape))
        return out_v, out_a

    def phi(self, values: list) -> float:
        """``<cotangent, target>`` in float64 at ``values`` (for finite differences)."""
        bind = {id(leaf): v for leaf, v in zip(self.leaves, values)}
        out, _, _, _ = replay(self.target, bind)
        return float(np.sum(out.value))


def prepare(f: Any, wrt: Any = None, seed: int = 0) -> Prepared:
    """Build (once) everything :func:`check` needs that does not depend on the point."""
    out, leaves, start = _build(f, wrt)
    return Prepared(out, leaves, np.random.default_rng(seed), start)


def _normalize_points(points: Any, prep: Prepared) -> list[list[np.ndarray]]:
    if isinstance(points, dict):  # one point given by name
        points = [points]
    result = []
    for k, p in enumerate(points):
        if isinstance(p, dict):
            byname = {str(getattr(key, "name", key)): v for key, v in p.items()}
            missing = [n for n in prep.names if n not in byname]
            if missing:
                raise ValueError(f"points[{k}] has no value for {missing}; give one per input")
            p = [byname[n] for n in prep.names]
        elif len(prep.leaves) == 1 and not isinstance(p, (list, tuple)):
            p = [p]
        if len(p) != len(prep.leaves):
            raise ValueError(f"points[{k}] has {len(p)} values for {len(prep.leaves)} inputs")
        vals = []
        for leaf, v, name in zip(prep.leaves, p, prep.names):
            arr = np.asarray(v, dtype=np.float64)
            if arr.shape != tuple(leaf.shape):
                arr = np.broadcast_to(arr, tuple(leaf.shape)).copy() if arr.size == 1 else arr
            if arr.shape != tuple(leaf.shape):
                raise ValueError(f"points[{k}] value for {name!r} has shape {arr.shape}, "
                                 f"expected {tuple(leaf.shape)}")
            vals.append(arr)
        result.append(vals)
    return result


def _kink_distance(order: list, new: dict) -> float:
    """The smallest distance of any node's inputs to a kink its op lists (``inf``: none)."""
    d = math.inf
    for node in order:
        info = OP_DB.get(node.op) if isinstance(node.op, Op) else None
        if info is not None:
            rnode = new[id(node)]
            d = min(d, float(info.kink(*(i.value for i in rnode.inputs), **rnode.attrs)))
    return d


#: what a verdict means, for ``str(report)``
_NOTES = {
    ILL_CONDITIONED: "cancellation ratio {rho:.3g} > {max_rho:.0e}: float64 cannot resolve f "
                     "here",
    AT_KINK: "exact value by the convention; finite differences not meaningful here",
    NEAR_KINK: "finite differences straddle the kink: not meaningful here",
    OUT_OF_DOMAIN: "the exact gradient is undefined here",
}


def check(f: Any, wrt: Any = None, *, points: Sequence | None = None, n_points: int = 20,
          seed: int = 0, dtype: Any = np.float64, margin: float = KINK_MARGIN,
          fd: bool = True, prepared: Prepared | None = None, tol_factor: float = 1.0
          ) -> Report:
    """Compare numeric, exact and finite-difference gradients of ``f`` at several points.

    ``f`` is a tensor built over symbols (``wrt``: the symbols, default all
    value-less leaves), an eager tensor (``wrt``: default the leaves that
    require grad; their current values are the first point), a drawn
    ``verify.strategies.Expression``, or a function of tensors (``wrt``: a
    shape, or a list of input shapes, symbols or example arrays).  Points are
    drawn inside every op's domain and at least ``margin`` from any kink,
    unless given (``points``: a list of points, each one value per input or a
    dict by name; a single dict is one point).  A given point (or an eager
    tensor's current values) that is ill-conditioned, on or near a kink, or out
    of the domain gets a verdict in ``report.verdicts`` with the numeric, exact
    and finite-difference values: numeric must equal the exact value at a kink
    (the convention, PyTorch's), an ill-conditioned point is reported, not judged.
    ``dtype=np.float32`` checks the float32 engine against the exact gradient
    at the float32 inputs with float32's unit roundoff.  Returns a
    :class:`Report`; never raises for a mismatch (use ``.raise_if_failed()``).
    ``tol_factor`` widens the rounding tolerance (an op database override).

    >>> import verify
    >>> from verify.graph import symbol, apply
    >>> x = symbol("x", (3,))
    >>> r = verify.check(apply(Op.SUM, apply(Op.LOG, x), axis=None, keepdims=False), x,
    ...                  n_points=3)
    >>> r.passed, r.points_used
    (True, 3)
    """
    # Most of the length is the docstring and the report bookkeeping; the three
    # witnesses live in verify/oracles.py. One loop over points keeps the per-point
    # state (values, skips, worst point) in one place.
    if not tol_factor >= 1.0:
        raise ValueError(f"tol_factor must be >= 1 (it only widens tolerances), got {tol_factor!r}")
    if isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 1:
        raise ValueError(f"n_points must be a positive int, got {n_points!r}")
    rng = np.random.default_rng(seed)
    prep = prepared if prepared is not None else prepare(f, wrt, seed)
    dtype = np.dtype(dtype)
    evaluator = ExactEvaluator()
    report = Report(inputs=[InputReport(n, tuple(leaf.shape)) for n, leaf
                            in zip(prep.names, prep.leaves)], dtype=dtype.name)
    if points is not None:  # only the given points
        given, wanted = _normalize_points(points, prep), None
    else:  # an eager tensor's current values first, then drawn points
        given = [list(prep.start)] if prep.start is not None else []
        wanted = n_points
    budget = len(given) if wanted is None else 10 * n_points + 20 + len(given)
    worst_ratio = -1.0
    boxes = _Boxes()
    for attempt in range(budget):
        if wanted is not None and report.points_used >= wanted:
            break
        report.points_tried += 1
        explicit = attempt < len(given)
        if explicit:
            values = [np.asarray(v).astype(dtype) for v in given[attempt]]
        else:
            box = boxes.pick()
            values = [(d if d is not REAL or box is None else box).sample(
                rng, tuple(leaf.shape), dtype) for d, leaf in zip(prep.domains, prep.leaves)]
        bind = {id(leaf): v for leaf, v in zip(prep.leaves, values)}
        with np.errstate(all="ignore"):
            out, new, rho, n_ops = replay(prep.target, bind, prep.leaves)
            rho = max(rho, backward_rho(prep.order, new))
            ok = _admissible(prep.order, new, 0.0 if explicit else margin)
        if not explicit:
            boxes.record(ok)
            if not ok:
                report.skipped_domain += 1
                continue
            if rho > MAX_RHO:
                report.skipped_ill += 1
                continue
        point = {n: np.asarray(v) for n, v in zip(prep.names, values)}
        with np.errstate(all="ignore"):
            num = numeric_gradient(out, [new[id(leaf)] for leaf in prep.leaves],
                                   prep.cotangent.astype(dtype))
            floor = SAFETY * unit_roundoff(dtype) * n_ops * adjoint_scale(
                out, list(new.values()), prep.cotangent.astype(dtype))
        try:
            exact, bounds = prep.exact(values, evaluator)
        except OutOfDomain:
            report.skipped_domain += 1
            if explicit:
                report.verdicts.append(PointVerdict(
                    attempt, OUT_OF_DOMAIN, point, _NOTES[OUT_OF_DOMAIN],
                    {n: np.asarray(g, np.float64) for n, g in zip(prep.names, num)},
                    {n: np.full(g.shape, np.nan) for n, g in zip(prep.names, num)},
                    {n: np.full(g.shape, np.nan) for n, g in zip(prep.names, num)}))
            continue
        verdict = None
        if explicit:
            kink = _kink_distance(prep.order, new)
            verdict = (ILL_CONDITIONED if rho > MAX_RHO else AT_KINK if kink == 0.0
                       else NEAR_KINK if kink < max(margin, 4 * FD_MAX_STEP) else None)
        with np.errstate(all="ignore"):
            if fd:
                f64 = [np.asarray(v, np.float64) for v in values]
                fd_est, fd_err = fd_gradient(prep.phi, f64, FD_MAX_STEP)
        exact_f = [np.array([float(e) for e in ex.ravel()]).reshape(ex.shape) for ex in exact]
        fd_vals = [fd_est[k] if fd else np.full(ex.shape, np.nan)
                   for k, ex in enumerate(exact_f)]
        if verdict is not None:
            pv = PointVerdict(attempt, verdict, point,
                              _NOTES[verdict].format(rho=rho, max_rho=MAX_RHO),
                              {n: np.asarray(g, np.float64) for n, g in zip(prep.names, num)},
                              dict(zip(prep.names, exact_f)), dict(zip(prep.names, fd_vals)),
                              judged=verdict != ILL_CONDITIONED, rho=float(rho))
            report.verdicts.append(pv)
            if verdict == ILL_CONDITIONED:
                report.skipped_ill += 1
                continue
        use_fd = fd and verdict is None   # finite differences mean nothing across a kink
        report.points_used += 1
        mismatches_before = sum(i.mismatches for i in report.inputs)
        for k, (rep, ex, a, g) in enumerate(zip(report.inputs, exact, bounds, num)):
            ex_f = exact_f[k]
            err = np.array([float(abs(mpmath.mpf(float(n)) - e)) for n, e
                            in zip(g.ravel(), ex.ravel())]).reshape(ex.shape)
            if not np.all(np.isfinite(g)):
                err = np.where(np.isfinite(g), err, np.inf)
            tol = tol_factor * tolerance(a, ex_f, n_ops, rho, dtype) + floor
            scale = max(float(np.max(np.abs(ex_f), initial=0.0)), 1e-300)
            with np.errstate(over="ignore"):   # an error against an exact 0 is inf relative
                rel = err / np.maximum(np.abs(ex_f), scale * 2.0 ** -52)
                err_ulps = ulps(err, ex_f)
            rep.max_abs_err = max(rep.max_abs_err, float(np.max(err, initial=0.0)))
            rep.max_rel_err = max(rep.max_rel_err, float(np.max(rel, initial=0.0)))
            rep.max_ulps = max(rep.max_ulps, float(np.max(err_ulps, initial=0.0)))
            ratio = err / tol
            rep.max_err_over_tol = max(rep.max_err_over_tol, float(np.max(ratio, initial=0.0)))
            bad = ratio > 1.0
            fd_k = fd_vals[k]
            if use_fd:
                fd_diff = np.abs(fd_k - ex_f)
                gross = fd_diff > np.maximum(1e3 * fd_err[k], 1e-6 * (np.abs(ex_f) + scale))
                num_fd = np.abs(g - fd_k) <= np.maximum(1e3 * fd_err[k], 1e-6 * (np.abs(ex_f)
                                                                                  + scale))
                rep.max_fd_rel_err = max(rep.max_fd_rel_err, float(np.max(
                    fd_diff / np.maximum(np.abs(ex_f), scale * 1e-8), initial=0.0)))
                suspect = gross & num_fd
                if np.any(suspect):
                    report.exact_suspect += int(np.sum(suspect))
                    idx = tuple(int(i) for i in np.argwhere(suspect)[0])
                    report.failures.append(
                        f"exact and finite differences disagree for d/d{rep.name}{list(idx)} "
                        f"(exact {ex_f[idx]!r}, FD {fd_k[idx]!r}) while numeric agrees with "
                        "FD: the symbolic path (lowering or closed form) may be wrong")
            if np.any(bad):
                rep.mismatches += int(np.sum(bad))
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                where = f" ({verdict})" if verdict else ""
                report.failures.append(
                    f"d/d{rep.name}{list(idx)}: numeric {float(g[idx])!r} vs exact "
                    f"{float(ex_f[idx])!r} (|err| {float(err[idx]):.3g} > tol "
                    f"{float(tol[idx]):.3g}) at point {report.points_used - 1}{where}")
            if ratio.size and float(np.max(ratio)) > worst_ratio:
                flat = int(np.argmax(ratio))
                idx = tuple(int(i) for i in np.unravel_index(flat, ratio.shape))
                worst_ratio = float(ratio[idx])
                report.worst = WorstPoint(rep.name, idx, point, float(g[idx]), float(ex_f[idx]),
                                          float(fd_k[idx]) if use_fd else math.nan,
                                          float(tol[idx]))
        if verdict is not None:
            pv.ok = sum(i.mismatches for i in report.inputs) == mismatches_before
    if report.points_used == 0 and not any(v.verdict == ILL_CONDITIONED
                                           for v in report.verdicts):
        report.failures.append(
            f"no admissible point in {report.points_tried} tries ({report.skipped_domain} out "
            f"of domain, {report.skipped_ill} ill-conditioned): pass points= explicitly")
    return report
