"""Every gradient path at each point: ``check_paths`` and its per-op form ``paths_op``.

``verify.check`` compares *one* numeric backward with the exact gradient.  A bug
that lives in one route only -- the ``loss.backward()`` fast path, ``.grad``
accumulation, a compiled program's inline templates, ``create_graph=True``, an
optimizer's update -- passes it.  :func:`check_paths` runs the same expression
through every route at each point and names the route that disagrees:

==============================================  ==============================================
path                                            compared with
==============================================  ==============================================
``backward() fast path``                        exact gradient (verify's tolerance policy)
``backward(gradient=ones)``                     exact gradient
``backward(inputs=...) general path``           exact gradient
``autograd.grad``                               exact gradient
``accumulation``                                after two ``backward()`` calls ``.grad`` is
                                                exactly ``2 * g`` (``g`` the first call's)
``create_graph first order``                    the plain first-order values (tight)
``create_graph second order``                   the exact Hessian-vector product ``H v``
                                                (``sympy.diff`` of the exact gradient)
``compiled (trace point)`` /                    eager value and gradient at that point;
``compiled (re-called at a new point)``         the program is traced at the first point
``optimizer SGD(...)``, ``optimizer Adam(...)`` the update formula written here from the
                                                papers / PyTorch docs, 3 steps
                                                (loss weights 1, 1/4, -1/2)
==============================================  ==============================================

Note [Independent optimizer formulas]
    The reference updates below are written from the PyTorch documentation's
    pseudo-code (SGD with momentum, dampening, Nesterov and L2 weight decay;
    Adam, Kingma & Ba 2015, with bias correction, L2 weight decay and AMSGrad,
    Reddi et al. 2018) and never import ``numeric.optim``; they are evaluated
    in float64 in a different operation order (``sqrt(v / (1 - b2**t))``), so
    they agree with ``sg.optim`` to a few ulps and disagree grossly with any
    dropped or misplaced term.

>>> import symgrad as sg
>>> x = sg.symbol("x", shape=(3,))
>>> r = check_paths((sg.sin(x) * x).sum(), [x], 2)
>>> r.passed, r.points_used
(True, 2)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import mpmath
import numpy as np
import sympy

import symgrad as sg
from numeric.graph import toposort
from numeric.ops import ELEMENTWISE, KINKED, Op
from numeric.rules.core import apply as _apply_op
from verify import sweep as _sweep
from verify.check import KINK_MARGIN, Prepared, _admissible, _normalize_points, prepare
from verify.opdb import OP_DB
from verify.oracles import ExactEvaluator, OutOfDomain, replay
from verify.tolerance import MAX_RHO, tolerance, unit_roundoff

__all__ = ["check_paths", "paths_op", "PathsReport", "OPTIMIZERS", "sgd_reference",
           "adam_reference", "PATHS"]

#: the path names, in the order they are checked
PATHS = ("backward() fast path", "backward(gradient=ones)", "backward(inputs=...) general path",
         "autograd.grad", "accumulation", "create_graph first order",
         "create_graph second order", "compiled (trace point)",
         "compiled (re-called at a new point)")

#: the loss weight of each optimizer step: the gradient shrinks, then changes sign, so
#: momentum, Adam's moments and AMSGrad's running maximum all matter (exact scalings)
OPT_WEIGHTS = (1.0, 0.25, -0.5)


@dataclass
class PathsReport:
    """The result of :func:`check_paths` / :func:`paths_op`.

    ``tried``: path checks run (one per path per point); ``checked``: how many
    per path name; ``failures``: messages, each starting with the path's name;
    ``skipped``: paths that could not run, with the reason.
    """

    tried: int = 0
    points_used: int = 0
    checked: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    expression: str = ""

    @property
    def passed(self) -> bool:
        """True when every path agreed at every point (and some point was used)."""
        return not self.failures and self.points_used > 0

    @property
    def failed_paths(self) -> set:
        """The names of the paths that disagreed."""
        return {f.split(":", 1)[0] for f in self.failures}

    def _ran(self, path: str) -> None:
        self.tried += 1
        self.checked[path] = self.checked.get(path, 0) + 1

    def _fail(self, path: str, msg: str) -> None:
        if sum(f.startswith(path + ":") for f in self.failures) < 3:   # keep it readable
            self.failures.append(f"{path}: {msg}")
        elif not any(f == f"{path}: ..." for f in self.failures):
            self.failures.append(f"{path}: ...")

    def __str__(self) -> str:
        head = (f"verify.paths{' ' + self.expression if self.expression else ''}: "
                f"{'PASSED' if self.passed else 'FAILED'} ({self.tried} path checks at "
                f"{self.points_used} points)")
        lines = [head] + [f"  {k}: {v}" for k, v in self.checked.items()]
        lines += [f"  FAIL {f}" for f in self.failures]
        lines += [f"  skipped {s}" for s in self.skipped]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- optimizers
def sgd_reference(p: np.ndarray, g: np.ndarray, state: dict, *, lr: float,
                  momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0,
                  nesterov: bool = False) -> np.ndarray:
    """One SGD step from PyTorch's documented algorithm; returns the new parameter.

    >>> sgd_reference(np.array([1.0]), np.array([0.5]), {}, lr=0.1)
    array([0.95])
    """
    if weight_decay:
        g = g + weight_decay * p
    if momentum:
        if "b" not in state:
            state["b"] = g.copy()
        else:
            state["b"] = momentum * state["b"] + (1.0 - dampening) * g
        g = g + momentum * state["b"] if nesterov else state["b"]
    return p - lr * g


def adam_reference(p: np.ndarray, g: np.ndarray, state: dict, *, lr: float,
                   betas: tuple = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                   amsgrad: bool = False) -> np.ndarray:
    """One Adam step (Kingma & Ba, Algorithm 1; AMSGrad as in PyTorch); the new parameter.

    >>> adam_reference(np.array([1.0]), np.array([0.2]), {}, lr=0.1)
    array([0.9])
    """
    b1, b2 = betas
    t = state["t"] = state.get("t", 0) + 1
    if weight_decay:
        g = g + weight_decay * p
    m = state["m"] = b1 * state.get("m", 0.0) + (1.0 - b1) * g
    v = state["v"] = b2 * state.get("v", 0.0) + (1.0 - b2) * g * g
    if amsgrad:
        v = state["vmax"] = np.maximum(state.get("vmax", 0.0), v)
    m_hat = m / (1.0 - b1 ** t)
    v_hat = v / (1.0 - b2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


def _sgd(**kw: Any) -> tuple:
    return (lambda ps: sg.optim.SGD(ps, **kw)), (lambda p, g, s: sgd_reference(p, g, s, **kw))


def _adam(**kw: Any) -> tuple:
    return (lambda ps: sg.optim.Adam(ps, **kw)), (lambda p, g, s: adam_reference(p, g, s, **kw))


#: name -> (make the sg optimizer from params, reference step ``(p, g, state) -> p``)
OPTIMIZERS: dict[str, tuple[Callable, Callable]] = {
    "SGD(lr=0.001)": _sgd(lr=1e-3),
    "SGD(momentum=0.9)": _sgd(lr=1e-3, momentum=0.9),
    # dampening 0.3, not 0.5: at 0.5 a formula that swaps dampening and 1 - dampening agrees
    "SGD(momentum=0.9, dampening=0.3)": _sgd(lr=1e-3, momentum=0.9, dampening=0.3),
    "SGD(momentum=0.9, nesterov=True)": _sgd(lr=1e-3, momentum=0.9, nesterov=True),
    "SGD(weight_decay=0.1)": _sgd(lr=1e-3, weight_decay=0.1),
    "SGD(momentum=0.9, weight_decay=0.1, nesterov=True)":
        _sgd(lr=1e-3, momentum=0.9, weight_decay=0.1, nesterov=True),
    "Adam(lr=0.001)": _adam(lr=1e-3),
    "Adam(weight_decay=0.1)": _adam(lr=1e-3, weight_decay=0.1),
    "Adam(amsgrad=True, betas=(0.8, 0.9))": _adam(lr=1e-3, betas=(0.8, 0.9), amsgrad=True),
}


# ----------------------------------------------------------------------------- exact H v
_STEPS = (sympy.sign, sympy.Heaviside, sympy.floor, sympy.ceiling)


def _zero_delta(e: sympy.Basic) -> sympy.Basic:
    """Points stay away from kinks: a step function's derivative is 0 there."""
    if e.has(sympy.DiracDelta):
        e = e.replace(sympy.DiracDelta, lambda *a: sympy.S.Zero)
    if e.has(sympy.Derivative):     # SymPy leaves d sign(x)/dx unevaluated
        e = e.replace(lambda n: isinstance(n, sympy.Derivative) and n.expr.func in _STEPS,
                      lambda n: sympy.S.Zero)
    return e


class _Hessian:
    """Exact directional derivatives ``D_v g`` of the exact gradient (forward mode over
    the CSE'd replacements; every derivative from ``sympy.diff``)."""

    def __init__(self, prep: Prepared) -> None:
        #: a graph whose formulas depend on the point is differentiated at each point
        self.per_point = prep.at_point
        if self.per_point:
            return
        self.tangent: dict = {}
        self.dirs = []
        for syms in prep.leaf_symbols:
            d = np.empty(syms.shape, dtype=object)
            for idx in np.ndindex(syms.shape):
                s = syms[idx]
                d[idx] = self.tangent[s] = sympy.Symbol(f"_dv_{s.name}", real=True)
            self.dirs.append(d)
        self.replacements = []
        for k, (sym, expr) in enumerate(prep.replacements):
            self.replacements.append((sym, expr))
            dsym = sympy.Symbol(f"_dr_{k}", real=True)
            self.replacements.append((dsym, self._d(expr)))
            self.tangent[sym] = dsym
        self.hv = [np.array([self._d(e) for e in g.ravel()], dtype=object).reshape(g.shape)
                   for g in prep.grads]

    def _d(self, e: sympy.Basic) -> sympy.Basic:
        terms = [sympy.diff(e, a) * self.tangent[a] for a in e.free_symbols
                 if a in self.tangent]
        return _zero_delta(sympy.Add(*terms))

    def evaluate(self, prep: Prepared, values: list, direction: list,
                 evaluator: ExactEvaluator) -> tuple[list, list]:
        if self.per_point:
            here = prep.at(values)
            return _Hessian(here).evaluate(here, values, direction, evaluator)
        memo = {}
        with mpmath.workdps(evaluator.dps):
            for syms, v in zip(prep.leaf_symbols, values):
                for s, x in zip(syms.ravel(), np.asarray(v, np.float64).ravel()):
                    memo[s] = (mpmath.mpf(float(x)), mpmath.mpf(0))
            for d, v in zip(self.dirs, direction):
                for s, x in zip(d.ravel(), np.asarray(v, np.float64).ravel()):
                    memo[s] = (mpmath.mpf(float(x)), mpmath.mpf(0))
            for sym, expr in self.replacements:
                memo[sym] = evaluator._walk(expr, memo)
            vals, bounds = [], []
            for h in self.hv:
                pairs = [evaluator._walk(e, memo) for e in h.ravel()]
                vals.append(np.array([float(p[0]) for p in pairs]).reshape(h.shape))
                bounds.append(np.array([float(p[1]) for p in pairs]).reshape(h.shape))
        return vals, bounds


# ----------------------------------------------------------------------------- eager rebuild
def _rebuild(prep: Prepared, args: Sequence[Any]) -> Any:
    """The expression rebuilt with symgrad's front end over the Tensors ``args``."""
    bound = {id(leaf): a for leaf, a in zip(prep.leaves, args)}
    made: dict[int, Any] = {}
    for node in prep.order:
        if node.op is None:
            t = bound.get(id(node))
            if t is None:
                if node.data is None:
                    raise ValueError(f"leaf {node.name!r} has no value: list it in wrt")
                t = sg.tensor(node.data)
            made[id(node)] = t
        else:
            made[id(node)] = _apply_op(node.op, *[made[id(i)] for i in node.inputs],
                                       **node.attrs)
    return made[id(prep.target)]


def _leaves(values: Sequence[np.ndarray]) -> list:
    return [sg.tensor(np.array(v, dtype=np.float64), requires_grad=True) for v in values]


def _grads(ts: Sequence[Any]) -> list:
    return [np.zeros(t.shape) if t.grad is None else np.array(t.grad.value, dtype=np.float64)
            for t in ts]


def _as_arrays(gs: Sequence[Any], like: Sequence[Any]) -> list:
    return [np.zeros(t.shape) if g is None else np.array(getattr(g, "value", g),
                                                         dtype=np.float64)
            for g, t in zip(gs, like)]


# ----------------------------------------------------------------------------- comparisons
def _where(names: list, k: int, idx: tuple) -> str:
    return f"d/d{names[k]}{list(idx)}"


def _compare(report: PathsReport, path: str, got: list, want: list, tol: list, names: list,
             pt: int, what: str = "exact") -> None:
    report._ran(path)
    for k, (g, w, t) in enumerate(zip(got, want, tol)):
        g = np.broadcast_to(np.asarray(g, dtype=np.float64), np.shape(w))
        err = np.abs(g - w)
        idx = _first_bad(g, w, t)
        if idx is not None:
            report._fail(path, f"{_where(names, k, idx)} = {float(g[idx])!r} vs {what} "
                               f"{float(w[idx])!r} (|err| {float(err[idx]):.3g} > tol "
                               f"{float(np.broadcast_to(t, err.shape)[idx]):.3g}) at point {pt}")
            return


def _first_bad(got: np.ndarray, want: np.ndarray, tol: Any) -> "tuple | None":
    """The first index where ``|got - want| > tol`` (NaN on both sides agrees), or None."""
    bad = ~(np.abs(got - want) <= tol) & ~(np.isnan(got) & np.isnan(want))
    return tuple(int(i) for i in np.argwhere(bad)[0]) if np.any(bad) else None


def _exactly(report: PathsReport, path: str, got: list, want: list, names: list, pt: int,
             what: str) -> None:
    report._ran(path)
    for k, (g, w) in enumerate(zip(got, want)):
        bad = ~((g == w) | (np.isnan(g) & np.isnan(w)))
        if np.any(bad):
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            report._fail(path, f"{_where(names, k, idx)} = {float(g[idx])!r}, expected "
                               f"{what} {float(w[idx])!r} at point {pt}")
            return


def _guard(report: PathsReport, path: str, pt: int, fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - a path that raises is a failing path
        report._ran(path)
        report._fail(path, f"raised {type(exc).__name__}: {exc} at point {pt}")


# ----------------------------------------------------------------------------- the checks
def _eager_paths(report: PathsReport, prep: Prepared, values: list, ex: list, tol: list,
                 pt: int) -> list:
    names = prep.names
    plain: list = []

    def fast_path() -> None:
        xs = _leaves(values)
        _rebuild(prep, xs).backward()
        _compare(report, "backward() fast path", _grads(xs), ex, tol, names, pt)

    def ones_path() -> None:
        xs = _leaves(values)
        out = _rebuild(prep, xs)
        out.backward(gradient=np.ones(out.shape))
        _compare(report, "backward(gradient=ones)", _grads(xs), ex, tol, names, pt)

    def inputs_path() -> None:
        xs = _leaves(values)
        _rebuild(prep, xs).backward(inputs=xs)
        _compare(report, "backward(inputs=...) general path", _grads(xs), ex, tol, names, pt)

    def grad_path() -> None:
        xs = _leaves(values)
        gs = sg.autograd.grad(_rebuild(prep, xs), xs, allow_unused=True)
        plain[:] = _as_arrays(gs, xs)
        _compare(report, "autograd.grad", plain, ex, tol, names, pt)

    def accumulation() -> None:
        # every way of calling backward() accumulates into .grad: twice each
        for how, call in (("backward()", lambda out: out.backward(retain_graph=True)),
                          ("backward(gradient=ones)", lambda out: out.backward(
                              gradient=np.ones(out.shape), retain_graph=True)),
                          ("backward(create_graph=True)", lambda out: out.backward(
                              create_graph=True))):
            xs = _leaves(values)
            out = _rebuild(prep, xs)
            call(out)
            first = _grads(xs)
            call(out)
            _exactly(report, "accumulation", _grads(xs), [2.0 * g for g in first], names, pt,
                     f"2 x the first {how}")

    for fn, path in ((fast_path, PATHS[0]), (ones_path, PATHS[1]), (inputs_path, PATHS[2]),
                     (grad_path, PATHS[3]), (accumulation, PATHS[4])):
        _guard(report, path, pt, fn)
    return plain


def _create_graph_paths(report: PathsReport, prep: Prepared, hess: "_Hessian | None",
                        values: list, plain: list, tol: list, evaluator: ExactEvaluator,
                        rho: float, rng: np.random.Generator, pt: int,
                        tol_factor: float) -> None:
    names = prep.names
    xs = _leaves(values)
    try:
        gs = sg.autograd.grad(_rebuild(prep, xs), xs, create_graph=True, allow_unused=True)
    except sg.GradientError as exc:   # e.g. an autograd.Function: numpy backward
        report.skipped.append(f"create_graph: {exc}")
        return
    first = _as_arrays(gs, xs)
    # the same VJPs on Tensors: equal to the plain values up to a few roundings
    tight = [4.0 * unit_roundoff("float64") * (np.abs(p) + np.max(np.abs(p), initial=0.0)
                                               * 2.0 ** -10) + 1e-300 for p in plain]
    tight = [np.minimum(a, b) for a, b in zip(tight, tol)]
    _compare(report, "create_graph first order", first, plain, tight, names, pt,
             "plain backward")
    if hess is None:
        return
    direction = [rng.integers(1, 9, size=np.shape(v)) / 8.0 * rng.choice([-1.0, 1.0],
                                                                         np.shape(v))
                 for v in values]
    terms = [(g * sg.tensor(d)).sum() for g, d in zip(gs, direction)
             if g is not None and g.requires_grad]
    if terms:
        s = terms[0]
        for t in terms[1:]:
            s = s + t
        n2 = sum(1 for n in toposort([s.node]) if n.op is not None)
        hv = _as_arrays(sg.autograd.grad(s, xs, allow_unused=True), xs)
    else:
        n2, hv = 1, [np.zeros(np.shape(v)) for v in values]
    try:
        ex, bounds = hess.evaluate(prep, values, direction, evaluator)
    except OutOfDomain as exc:
        report.skipped.append(f"create_graph second order at point {pt}: {exc}")
        return
    tol2 = [tol_factor * tolerance(a, e, 2 * (n2 + prep.n_ops), rho) for a, e in zip(bounds, ex)]
    _compare(report, "create_graph second order", hv, ex, tol2, names, pt,
             "exact Hessian-vector product")


def _compiled_path(report: PathsReport, prep: Prepared, compiled: Any, values: list,
                   plain: list, tol: list, cond: float, pt: int) -> None:
    path = PATHS[7] if pt == 0 else PATHS[8]
    xs = _leaves(values)
    with sg.no_grad():
        eager_value = float(np.ravel(_rebuild(prep, [sg.tensor(v) for v in values]).value)[0])
    loss = compiled(*xs)
    if compiled.cache_info().traces == 1 and pt == 0:   # --- issue 13: compile
        # the tracing call returns the trace's eager values: run the program itself here
        loss = compiled(*xs)
    grads = _as_arrays(sg.autograd.grad(loss, xs, allow_unused=True), xs)
    got = float(np.ravel(loss.value)[0])
    report._ran(path)
    value_tol = 2 * tolerance(0.0, eager_value, 0, cond)
    if not abs(got - eager_value) <= value_tol and not (math.isnan(got) and
                                                          math.isnan(eager_value)):
        report._fail(path, f"value {got!r} vs eager {eager_value!r} at point {pt}")
        return
    report.checked[path] -= 1
    report.tried -= 1
    _compare(report, path, grads, plain, [2.0 * t for t in tol], prep.names, pt, "eager")


def _optimizer_paths(report: PathsReport, prep: Prepared, values: list, pt: int,
                     optimizers: dict) -> None:
    u = unit_roundoff("float64")
    for name, (make, reference) in optimizers.items():
        path = f"optimizer {name}"

        def run(make=make, reference=reference, path=path) -> None:
            xs = _leaves(values)
            opt = make(xs)
            ref = [np.array(v, dtype=np.float64) for v in values]
            states: list = [{} for _ in xs]
            slack = [np.zeros(np.shape(v)) for v in values]
            report._ran(path)
            for step, weight in enumerate(OPT_WEIGHTS, 1):
                opt.zero_grad()
                (_rebuild(prep, xs) * weight).backward()
                grads = _grads(xs)
                new = [reference(p, g, s) for p, g, s in zip(ref, grads, states)]
                opt.step()
                for k, (x, p_new, p_old) in enumerate(zip(xs, new, ref)):
                    slack[k] = slack[k] + 64 * u * (np.abs(p_new) + np.abs(p_new - p_old))
                    got = np.asarray(x.value, dtype=np.float64)
                    idx = _first_bad(got, p_new, slack[k])
                    if idx is not None:
                        report._fail(path, f"step {step}, {prep.names[k]}{list(idx)}: "
                                           f"parameter {float(got[idx])!r} vs formula "
                                           f"{float(p_new[idx])!r} (starting at point {pt})")
                        return
                ref = new
        _guard(report, path, pt, run)


# ----------------------------------------------------------------------------- drivers
def _draw_points(prep: Prepared, n: int, rng: np.random.Generator) -> list:
    points = []
    for _ in range(20 * n + 20):
        if len(points) >= n:
            break
        values = [d.sample(rng, tuple(leaf.shape)) for d, leaf in zip(prep.domains,
                                                                     prep.leaves)]
        bind = {id(leaf): v for leaf, v in zip(prep.leaves, values)}
        with np.errstate(all="ignore"):
            _, new, rho, _ = replay(prep.target, bind, prep.leaves)
            if _admissible(prep.order, new, KINK_MARGIN) and rho <= MAX_RHO:
                points.append(values)
    return points


def _run(prep: Prepared, points: list, *, seed: int, tol_factor: float = 1.0,
         second_order: bool = True, hess: "_Hessian | None" = None,
         optimizers: dict | None = None) -> PathsReport:
    report = PathsReport()
    rng = np.random.default_rng(seed + 1)
    evaluator = ExactEvaluator()
    if second_order and hess is None:
        hess = _Hessian(prep)
    compiled = sg.compile(lambda *xs: _rebuild(prep, xs))
    optimizers = OPTIMIZERS if optimizers is None else optimizers
    for pt, values in enumerate(points):
        bind = {id(leaf): v for leaf, v in zip(prep.leaves, values)}
        with np.errstate(all="ignore"):
            _, _, rho, n_ops = replay(prep.target, bind, prep.leaves)
        if rho > MAX_RHO:
            report.skipped.append(f"point {pt}: ill-conditioned (rho {rho:.3g})")
            continue
        try:
            exact, bounds = prep.exact(values, evaluator)
        except OutOfDomain as exc:
            report.skipped.append(f"point {pt}: out of domain ({exc})")
            continue
        report.points_used += 1
        ex = [np.array([float(e) for e in g.ravel()]).reshape(g.shape) for g in exact]
        tol = [tol_factor * tolerance(a, e, n_ops, rho) for a, e in zip(bounds, ex)]
        with np.errstate(all="ignore"):
            plain = _eager_paths(report, prep, values, ex, tol, pt)
            if not plain:
                report.skipped.append(f"point {pt}: create_graph, compiled and optimizer "
                                      "paths need autograd.grad's values")
                continue
            _guard(report, PATHS[5], pt, lambda: _create_graph_paths(
                report, prep, hess if second_order else None, values, plain, tol, evaluator,
                rho, rng, pt, tol_factor))
            _guard(report, PATHS[8] if pt else PATHS[7], pt, lambda: _compiled_path(
                report, prep, compiled, values, plain, tol, n_ops + rho, pt))
            _optimizer_paths(report, prep, values, pt, optimizers)
    if report.points_used == 0:
        report.failures.append("no point used: pass admissible points")
    return report


def check_paths(f: Any, wrt: Any, points: Any = 3, *, seed: int = 0) -> PathsReport:
    """Check every gradient path of ``f`` at each point (see the module docstring).

    ``f`` and ``wrt`` are as for :func:`verify.check` (a tensor over symbols and
    its symbols, or a function and input shapes).  ``points``: a list of points
    (each one value per input, or a dict by name), or how many to draw from the
    inputs' domains.  The compiled program is traced at the first point and
    re-called at the others.  Returns a :class:`PathsReport` naming every path
    that disagrees.

    >>> import symgrad as sg
    >>> x = sg.symbol("x", shape=(2,))
    >>> r = check_paths(sg.exp(x).sum(), x, [[np.array([0.1, 0.2])], [np.array([0.7, -1.0])]])
    >>> r.passed, r.checked["compiled (re-called at a new point)"]
    (True, 1)
    """
    prep = prepare(f, wrt, seed)
    if isinstance(points, int):
        values = _draw_points(prep, points, np.random.default_rng(seed))
    else:
        values = _normalize_points(points, prep)
    return _run(prep, values, seed=seed)


_HESS: dict = {}
_sweep.CACHES.append(_HESS)


def paths_op(op: Op, k: int, n_points: int = 2, seed: int = 0) -> PathsReport:
    """:func:`check_paths` on sample ``k`` of ``op`` from ``OP_DB`` (formulas cached).

    >>> r = paths_op(Op.TANH, 0, n_points=2)
    >>> r.passed, r.failures
    (True, [])
    """
    from verify.sweep import prepared

    info = OP_DB[op]
    prep = prepared(op, k)
    key = (op, k)
    if info.second_order and key not in _HESS:
        _HESS[key] = _Hessian(prep)
    values = _draw_points(prep, n_points, np.random.default_rng(seed))
    r = _run(prep, values, seed=seed, tol_factor=info.tol_factor,
             second_order=info.second_order, hess=_HESS.get(key))
    r.expression = f"{op.name.lower()} {info.samples[k].label}"
    if r.passed:
        _compiled_edges(r, op, k, prep, np.random.default_rng(seed + 2))
    shared = _shared_case(op, k)
    if r.passed and shared is not None:
        # the same tensor in both places (x * x): fan-out inside one node
        values = _draw_points(shared, 1, np.random.default_rng(seed + 1))
        s = _run(shared, values, seed=seed, tol_factor=info.tol_factor, second_order=False)
        r.failures += [f.replace(":", f" ({op.name.lower()}(x, x)):", 1) for f in s.failures]
        r.tried += s.tried
    return r


_SHARED: dict = {}
_sweep.CACHES.append(_SHARED)

EDGE_PATH = "compiled (traced at one sign, re-called elsewhere)"


def _eager_value_grad(prep: Prepared, values: list) -> tuple:
    xs = _leaves(values)
    out = _rebuild(prep, xs)
    return float(np.ravel(out.value)[0]), _as_arrays(
        sg.autograd.grad(out, xs, allow_unused=True), xs)


def _compiled_edges(report: PathsReport, op: Op, k: int, prep: Prepared,
                    rng: np.random.Generator) -> None:
    """Note [Templates validated at the trace]: a compiled program checks each inline
    template against numeric's rule table at the values it is traced with, so a template
    wrong only for negative inputs, or only on a kink, passes a program traced at
    positive values.  Trace at ``|x|`` (a 0-d version too, for the Python-float
    program), then re-call at mixed signs, negated values, values four times larger and
    the op's kinks; each
    result must equal eager's (both numeric: the exact comparison is the other paths')."""
    info = OP_DB[op]
    cases = [prep]
    if info.arity in (1, 2) and op in ELEMENTWISE and k == 0:
        from verify import graph as vgraph
        xs = [vgraph.symbol(f"x{i}", ()) for i in range(info.arity)]
        cases.append(Prepared(vgraph.apply(op, *xs, **dict(info.samples[k].attrs)), xs,
                              np.random.default_rng(0)))
    for case in cases:
        base = _draw_points(case, 1, rng)
        if not base:
            continue
        # small positive values: where a sign- or range-dependent template still agrees
        positive = [np.minimum(np.abs(v), 0.5) + 0.05 for v in base[0]]
        if not all(np.all(d.contains(v)) for d, v in zip(case.domains, positive)):
            positive = [np.abs(v) for v in base[0]]
        trials = [base[0], [-v for v in positive], [4.0 * v for v in base[0]]]
        if info.kink_grid is not None:
            grid = np.array(info.kink_grid(dict(info.samples[k].attrs)), np.float64)
            trials.append([rng.choice(grid, size=tuple(leaf.shape)) for leaf in case.leaves])
        compiled = sg.compile(lambda *xs, case=case: _rebuild(case, xs))
        try:
            with np.errstate(all="ignore"):
                compiled(*_leaves(positive))                 # the trace
                for values in trials:
                    if not all(np.all(d.contains(v)) for d, v in zip(case.domains, values)):
                        continue
                    want_v, want_g = _eager_value_grad(case, values)
                    xs = _leaves(values)
                    loss = compiled(*xs)
                    got_g = _as_arrays(sg.autograd.grad(loss, xs, allow_unused=True), xs)
                    got_v = float(np.ravel(loss.value)[0])
                    report._ran(EDGE_PATH)
                    scale = max(abs(want_v), 1.0)
                    if not (abs(got_v - want_v) <= 1e-12 * scale or
                            (math.isnan(got_v) and math.isnan(want_v))):
                        report._fail(EDGE_PATH, f"value {got_v!r} vs eager {want_v!r}")
                        return
                    tol = [1e-12 * np.maximum(np.abs(w), np.max(np.abs(w), initial=1.0))
                           for w in want_g]
                    _compare(report, EDGE_PATH, got_g, want_g, tol, case.names, 0, "eager")
                    if report.failures:
                        return
        except Exception as exc:  # noqa: BLE001 - a path that raises is a failing path
            report._ran(EDGE_PATH)
            report._fail(EDGE_PATH, f"raised {type(exc).__name__}: {exc}")
            return


def _shared_case(op: Op, k: int) -> "Prepared | None":
    """``op(x, x)`` over one symbol, for a binary op whose sample has equal input shapes."""
    info = OP_DB[op]
    sample = info.samples[k]
    if len(sample.shapes) != 2 or sample.shapes[0] != sample.shapes[1] or \
            set(info.grad_inputs(2)) != {0, 1} or op in KINKED:   # max(x, x): all ties
        return None
    if (op, k) not in _SHARED:
        from verify import graph as vgraph
        x = vgraph.symbol("x", sample.shapes[0])
        out = vgraph.apply(op, x, x, **dict(sample.attrs))
        _SHARED[(op, k)] = Prepared(out, [x], np.random.default_rng(0))
    return _SHARED[(op, k)]
