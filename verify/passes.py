"""Sampling passes: where ``symgrad verify`` looks for bugs, one named pass each.

Note [Sample where bugs live]
    The domain pass draws points in each op's domain box (mostly (-2, 2)),
    away from kinks, small shapes, float64.  A VJP wrong only for ``x < -10``,
    only at ``relu'(0)``, only above 4096 elements, or only in float32 passes
    it.  Each further pass samples one place such bugs live:

    ``extremes``  |x| in 5-60 (both signs where the domain allows), 690-800 for
                  ops OP_DB marks overflow-safe, tiny values 1e-8..1e-3, exact 0
                  where it is neither a kink nor a singularity; numeric vs exact
                  (mpmath), tolerance policy of :mod:`verify.tolerance`;
                  elements whose exact value is undefined or overflows float64
                  are skipped, not failures.
    ``kinks``     the exact kinks OP_DB lists (``OpInfo.kink_grid``): numeric vs
                  exact, whose lowering states PyTorch's conventions
                  (docs/conventions.md); no finite differences.
    ``sizes``     shapes above the fast-path thresholds (> 4096 elements),
                  batched x batched matmul, each input broadcast in turn;
                  elementwise ops against their SymPy derivative lambdified at
                  float64 on every element, other ops against central
                  differences on a random subset of elements.
    ``float32``   float32 inputs through ``Tensor.backward()``: every op output
                  and every ``.grad`` must be float32, and close to the exact
                  gradient at the float32 inputs within float32's tolerance.
    ``forward``   forward values numeric vs exact (the lowered SymPy form at
                  the point), in the domain and at extremes, so a wrong kernel
                  or lowering is caught even where gradients agree.
    ``paths``     every gradient path at each point (:mod:`verify.paths`):
                  ``backward()`` fast and general, accumulation,
                  ``autograd.grad``, ``create_graph`` first and second order,
                  the compiled program re-called at a new point, optimizer
                  steps against formulas written independently.

Every pass is a function ``fn(op, n, seed) -> PassResult`` in :data:`PASSES`
(``n``: the sweep's ``--examples``, which scales its point counts).  Adding a
pass is one line: ``PASSES["paths"] = paths_pass`` (or :func:`register`).

>>> from numeric.ops import Op
>>> r = PASSES["kinks"](Op.RELU, 4, 0)
>>> r.name, r.status
('kinks', 'ok')
>>> PASSES["kinks"](Op.EXP, 4, 0).status   # exp has no kink: the pass does not apply
'-'
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import mpmath
import numpy as np
import sympy

from numeric.executor import backward as _engine_backward
from numeric.graph import toposort
from numeric.node import as_node
from numeric.ops import AT_POINT, ELEMENTWISE, UNARY, Op
from verify import graph as vgraph
from verify import sweep as _sweep
from verify.oracles import ExactEvaluator, OutOfDomain, fd_gradient, replay
from verify.opdb import _conv as _conv_sample, OP_DB
from verify.paths import paths_op
from verify.tolerance import MAX_RHO, SAFETY, tolerance, unit_roundoff

__all__ = ["PassResult", "PASSES", "SHORT", "register", "run_passes", "parse_passes",
           "extreme_values", "domain_pass", "extremes_pass", "kinks_pass", "sizes_pass",
           "float32_pass", "forward_pass", "paths_pass"]

#: finite differences run at this many points per op sample in the domain pass
FD_POINTS = 5

PassFn = Callable[[Op, int, int], "PassResult"]


@dataclass
class PassResult:
    """What one pass did for one op: cases/points ``tried``, ``used`` (judged),
    ``skipped`` (undefined, overflowing or ill-conditioned), ``failures``
    (messages naming the case), ``seconds``, and free-form ``stats``.

    ``status`` is ``"ok"``, ``"FAIL"``, or ``"-"`` when the pass does not apply
    to the op (no kink, say) or judged nothing.

    >>> PassResult("kinks").status, PassResult("sizes", tried=2, used=2).status
    ('-', 'ok')
    """

    name: str
    tried: int = 0
    used: int = 0
    skipped: int = 0
    failures: list = field(default_factory=list)
    seconds: float = 0.0
    stats: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.failures:
            return "FAIL"
        return "ok" if self.used else "-"

    def fail(self, case: str, msg: str) -> None:
        self.failures.append(f"[{self.name}] {case}: {msg}")

    def as_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "tried": self.tried,
                "used": self.used, "skipped": self.skipped, "failures": list(self.failures),
                "seconds": round(self.seconds, 3), **self.stats}


# ------------------------------------------------------------------ shared witnesses

_LOWERED: dict[tuple, Any] = {}
_sweep.CACHES.append(_LOWERED)


def _case_label(op: Op, k: int) -> str:
    return f"{op.name.lower()} {OP_DB[op].samples[k].label}"


def _prepared(op: Op, k: int):
    from verify.sweep import prepared
    return prepared(op, k)


def _exact_elements(exprs: np.ndarray, replacements: list, leaf_symbols: list, values: list,
                    evaluator: ExactEvaluator) -> tuple[np.ndarray, np.ndarray]:
    """Exact values (float64; NaN where undefined or beyond float64) and running bounds."""
    vals = np.full(exprs.shape, np.nan)
    bounds = np.zeros(exprs.shape)
    with mpmath.workdps(evaluator.dps):
        memo: dict = {}
        for syms, v in zip(leaf_symbols, values):
            for s, x in zip(np.asarray(syms).ravel(), np.asarray(v, np.float64).ravel()):
                memo[s] = (mpmath.mpf(float(x)), mpmath.mpf(0))
        for sym, expr in replacements:
            try:
                memo[sym] = evaluator._walk(expr, memo)
            except (OutOfDomain, ZeroDivisionError, OverflowError):
                pass  # left unbound: expressions that need it are undefined here
        for idx in np.ndindex(exprs.shape):
            e = exprs[idx]
            try:
                v, a = evaluator._walk(e, memo) if isinstance(e, sympy.Basic) else \
                    (mpmath.mpf(float(e)), mpmath.mpf(0))
                fv, fa = float(v), float(a)
            except (OutOfDomain, ZeroDivisionError, OverflowError, TypeError, ValueError):
                continue
            if math.isfinite(fv) and abs(fv) <= np.finfo(np.float64).max:
                vals[idx], bounds[idx] = fv, (fa if math.isfinite(fa) else math.inf)
    return vals, bounds


def _judge(res: PassResult, case: str, what: str, num: np.ndarray, exact: np.ndarray,
           bound: np.ndarray, n_ops: int, rho: float, dtype: Any, tol_factor: float,
           floor: Any = 0.0) -> bool:
    """Compare ``num`` with ``exact`` elementwise (NaN exact: skipped); record a failure."""
    num = np.asarray(num, np.float64).reshape(exact.shape)
    defined = np.isfinite(exact)
    if not np.any(defined):
        return True
    tol = tol_factor * tolerance(bound, np.where(defined, exact, 0.0), n_ops, rho, dtype) \
        + SAFETY * unit_roundoff(dtype) * np.asarray(floor)
    with np.errstate(all="ignore"):
        err = np.where(np.isfinite(num), np.abs(num - exact), np.inf)
    bad = defined & ~(err <= tol)
    if np.any(bad):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        res.fail(case, f"{what}{list(idx)}: numeric {float(num[idx])!r} vs exact "
                       f"{float(exact[idx])!r} (|err| {float(err[idx]):.3g} > tol "
                       f"{float(tol[idx]):.3g})")
        return False
    return True


def _out_floor(out: np.ndarray, w: np.ndarray, leaf_shape: tuple, elementwise: bool
               ) -> np.ndarray:
    """Rounding of the op's forward value carried into a VJP that reuses it.

    A VJP that reads ``out`` (``sigmoid: g*out*(1-out)``) inherits its rounding
    ``u*|out|``: at ``x = 40`` it gives 0 where the exact value is 4e-18.
    The floor ``|w * out|``, summed onto the input's shape, allows that and
    nothing more (a wrong stability branch at ``x = -10`` is 1e11 times over it).
    Ops that mix elements (softmax at x = 700: ``exp(x - max)`` carries the
    rounding of ``x - max`` amplified by ``|x|``) get the largest ``|w * out|`` of
    the output as their floor: the gradient's own scale.
    """
    with np.errstate(all="ignore"):
        m = np.abs(np.asarray(w, np.float64) * np.asarray(out, np.float64))
    m = np.where(np.isfinite(m), m, 0.0)
    if elementwise and m.shape == tuple(leaf_shape):
        return m
    if m.size == 0:
        return np.zeros(leaf_shape)
    total = float(np.max(m))
    return np.full(leaf_shape, total)


def _compare_point(res: PassResult, op: Op, k: int, values: list, *, dtype: Any = np.float64,
                   num_grads: list | None = None, case: str | None = None,
                   tol_factor: float = 1.0) -> None:
    """Numeric (given, or numeric's executor) vs exact gradients of sample ``k`` at ``values``."""
    from verify.oracles import numeric_gradient

    prep = _prepared(op, k)
    case = case or _case_label(op, k)
    res.tried += 1
    bind = {id(leaf): np.asarray(v) for leaf, v in zip(prep.leaves, values)}
    with np.errstate(all="ignore"):
        out, new, rho, n_ops = replay(prep.target, bind, prep.leaves)
        if rho > MAX_RHO:
            res.skipped += 1
            return
        if num_grads is None:
            num_grads = numeric_gradient(out, [new[id(leaf)] for leaf in prep.leaves],
                                         prep.cotangent.astype(np.dtype(dtype)))
    op_node = _op_node(prep, op)
    w, opout = _cotangent_weights(prep, new, op_node)
    evaluator = ExactEvaluator()
    any_defined = False
    point = ", ".join(f"{n}={np.array2string(np.asarray(v), precision=17, threshold=20)}"
                      for n, v in zip(prep.names, values))
    here = prep.at(values)      # Note [Forms at a point]: sort, max-pooling, ...
    for name, leaf, exprs, g in zip(prep.names, prep.leaves, here.grads, num_grads):
        exact, bound = _exact_elements(exprs, here.replacements, prep.leaf_symbols, values,
                                       evaluator)
        any_defined |= bool(np.any(np.isfinite(exact)))
        floor = _out_floor(opout, w, tuple(leaf.shape), op in ELEMENTWISE) if opout is not None else 0.0
        if not _judge(res, case, f"d/d{name}", g, exact, bound, n_ops, rho, dtype,
                      OP_DB[op].tol_factor * tol_factor, floor):
            res.failures[-1] += f" at {point}"
            return
    if any_defined:
        res.used += 1
    else:
        res.skipped += 1


def _op_node(prep, op: Op):
    for node in prep.order:
        if node.op is op:
            return node
    return None


def _cotangent_weights(prep, new: dict, op_node) -> tuple[Any, Any]:
    """(the cotangent ``w`` the op's output is weighted with, the output's value)."""
    if op_node is None:
        return None, None
    out = new[id(op_node)].value
    if out.dtype.kind != "f":
        return None, None
    if op_node is prep.target:
        return np.ones(out.shape), out
    for node in prep.order:
        if node.op is Op.MUL and node.inputs[0] is op_node and node.inputs[1].data is not None:
            return np.broadcast_to(node.inputs[1].data, out.shape), out
    return np.ones(out.shape), out


def _rng(op: Op, seed: int, salt: int) -> np.random.Generator:
    return np.random.default_rng([seed, list(Op).index(op), salt])


def _split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


# ------------------------------------------------------------------ ops without a gradient

# Note [Passes without a gradient]: an op no input of which has a gradient (isnan,
# bitwise ops, index-valued results: ``OpInfo.has_gradient`` False) gives the gradient
# passes nothing to check; they report "-" (not applicable).  The forward and float32
# passes compare its values with its exact form instead (verify.sweep.check_values),
# as the domain pass does through check_op.
def _gradient_pass(fn: PassFn) -> PassFn:
    name = fn.__name__.removesuffix("_pass")

    def run(op: Op, n: int, seed: int) -> PassResult:
        return fn(op, n, seed) if OP_DB[op].has_gradient else PassResult(name)
    run.__name__, run.__doc__ = fn.__name__, fn.__doc__
    return run


def _or_values(dtype: Any) -> Callable[[PassFn], PassFn]:
    def wrap(fn: PassFn) -> PassFn:
        name = fn.__name__.removesuffix("_pass")

        def run(op: Op, n: int, seed: int) -> PassResult:
            return fn(op, n, seed) if OP_DB[op].has_gradient else \
                _values_pass(name, op, n, seed, dtype)
        run.__name__, run.__doc__ = fn.__name__, fn.__doc__
        return run
    return wrap


def _values_pass(name: str, op: Op, n: int, seed: int, dtype: Any) -> PassResult:
    from verify.sweep import check_values

    res = PassResult(name)
    samples = len(OP_DB[op].samples)
    for k, per in enumerate(_split(max(samples, n), samples)):
        r = check_values(op, k, n_points=max(per, 1), seed=seed, dtype=dtype)
        res.tried += r.points_tried
        res.used += r.points_used
        res.skipped += r.skipped_domain
        for f in r.failures:
            res.fail(_case_label(op, k), f)
    return res


# ------------------------------------------------------------------ domain

def domain_pass(op: Op, n: int, seed: int) -> PassResult:
    """The original sweep: ``n`` points in the op's domain boxes, finite differences
    on the first :data:`FD_POINTS` points of each sample."""
    from verify.sweep import check_op

    fd_points = FD_POINTS
    res = PassResult("domain", stats={"max_rel_err": 0.0, "max_rel_err_fd": 0.0,
                                      "max_err_over_tol": 0.0, "skipped_domain": 0,
                                      "skipped_ill": 0})
    samples = len(OP_DB[op].samples)
    for k in range(samples):
        per = max(1, n // samples + (1 if k < n % samples else 0))
        reports = [check_op(op, k, n_points=min(per, fd_points), seed=seed)]
        if per > fd_points:
            reports.append(check_op(op, k, n_points=per - fd_points, seed=seed + 1, fd=False))
        for r in reports:
            res.tried += r.points_tried
            res.used += r.points_used
            res.stats["skipped_domain"] += r.skipped_domain
            res.stats["skipped_ill"] += r.skipped_ill
            res.skipped += r.skipped_domain + r.skipped_ill
            for i in r.inputs:
                for key, val in (("max_rel_err", i.max_rel_err),
                                 ("max_rel_err_fd", i.max_fd_rel_err),
                                 ("max_err_over_tol", i.max_err_over_tol)):
                    res.stats[key] = max(res.stats[key], val)
            if not r.passed:
                res.fail(r.expression, str(r.failures[0]))
    return res


# ------------------------------------------------------------------ extremes

#: bounded domains whose extreme values are drawn inside them (redrawn until they are)
_CHECKED = ("away from pi/2 + k*pi", "probability in (0, 1)")


def extreme_values(rng: np.random.Generator, shape: tuple, domain: Any, info: Any) -> np.ndarray:
    """An array of ``shape`` mixing large (5-60), huge (690-800, overflow-safe ops
    only), tiny (1e-8..1e-3) and zero values, signs as the domain allows.

    >>> from verify.opdb import OP_DB, POSITIVE
    >>> v = extreme_values(np.random.default_rng(0), (200,), POSITIVE, OP_DB[Op.LOG])
    >>> bool(np.all(v > 0)), bool(np.any(v > 5)), bool(np.any(v < 1e-3))
    (True, True, True)
    """
    if domain.boolean:
        return domain.sample(rng, shape)
    if hasattr(domain, "extreme"):  # issue 11: matrices drawn whole (opdb.MatrixDomain)
        return domain.extreme(rng, shape)
    positive = domain.name in ("positive", "positive base")
    one_sided = positive or domain.name == "x > -1"
    zero_ok = domain.name in ("real", "x > -1", "away from pi/2 + k*pi", "positive base") \
        and info.zero_ok
    huge_signs = info.overflow_safe
    if one_sided:
        huge_signs = huge_signs.replace("-", "")
    kinds = ["large", "tiny"] + (["huge"] if huge_signs else []) + (["zero"] if zero_ok else [])
    weights = {"large": 0.45, "tiny": 0.25, "huge": 0.2, "zero": 0.1}
    p = np.array([weights[c] for c in kinds])
    out = np.empty(shape)
    for idx in np.ndindex(shape):
        for _ in range(50):
            kind = kinds[rng.choice(len(kinds), p=p / p.sum())]
            if kind == "large":
                v = rng.uniform(5.0, 60.0) * (1 if one_sided or rng.random() < 0.5 else -1)
            elif kind == "tiny":
                v = 10.0 ** rng.uniform(-8, -3) * (1 if positive or rng.random() < 0.5 else -1)
            elif kind == "huge":
                sign = rng.choice([1.0, -1.0]) if huge_signs == "+-" else \
                    (1.0 if huge_signs == "+" else -1.0)
                v = sign * rng.uniform(690.0, 800.0)
            else:
                v = 0.0
            if domain.name == "nonzero" and v == 0.0:
                continue
            if domain.name in _CHECKED and not domain.contains(np.array(v)):
                continue
            break
        out[idx] = v
    return out


def _extreme_point(op: Op, k: int, rng: np.random.Generator) -> list:
    prep = _prepared(op, k)
    info = OP_DB[op]
    attrs = dict(info.samples[k].attrs)
    for _ in range(20):
        values = [extreme_values(rng, tuple(leaf.shape), d, info)
                  for leaf, d in zip(prep.leaves, prep.domains)]
        if info.kink(*_op_inputs(op, k, values), **attrs) > 0:
            return values
    return values


def _op_inputs(op: Op, k: int, values: list) -> list:
    """The op's input values (constants such as ``where``'s condition included)."""
    prep = _prepared(op, k)
    node = _op_node(prep, op)
    byid = {id(leaf): v for leaf, v in zip(prep.leaves, values)}
    return [byid.get(id(i), i.data) for i in node.inputs]


@_gradient_pass
def extremes_pass(op: Op, n: int, seed: int) -> PassResult:
    """``n`` extreme points split over the op's samples (see the module doc)."""
    res = PassResult("extremes")
    samples = len(OP_DB[op].samples)
    rng = _rng(op, seed, 1)
    for k, per in enumerate(_split(max(samples, n), samples)):
        for _ in range(per):
            _compare_point(res, op, k, _extreme_point(op, k, rng),
                           tol_factor=OP_DB[op].extremes_tol)
            if res.failures:
                return res
    for extra in _EXTRA_EXTREMES.get(op, ()):
        extra(res, rng, n)
        if res.failures:
            return res
    return res


def _pow_constant_exponent(res: PassResult, rng: np.random.Generator, n: int) -> None:
    """``x ** 3`` and ``x ** 2`` with a constant exponent: any base, 0 included."""
    for p in (3.0, 2.0):
        x = vgraph.symbol("x", (6,))
        expr = vgraph.apply(Op.POW, x, vgraph.constant(np.array(p)))
        base = np.array([0.0, -0.0, 1e-5, -7.5, 42.0, -1e-8])
        _compare_expr(res, f"pow x**{p:g}", expr, [x], [base])


_EXTRA_EXTREMES: dict[Op, tuple] = {Op.POW: (_pow_constant_exponent,)}

_EXPR_CACHE: dict[str, Any] = {}
_sweep.CACHES.append(_EXPR_CACHE)


def _compare_expr(res: PassResult, case: str, expr: Any, leaves: list, values: list) -> None:
    """Numeric vs exact for an ad-hoc expression (prepared once per ``case``)."""
    from verify.check import Prepared
    from verify.oracles import numeric_gradient

    if case not in _EXPR_CACHE:
        _EXPR_CACHE[case] = Prepared(expr, leaves, np.random.default_rng(0))
    prep = _EXPR_CACHE[case]
    res.tried += 1
    bind = {id(leaf): np.asarray(v) for leaf, v in zip(prep.leaves, values)}
    with np.errstate(all="ignore"):
        out, new, rho, n_ops = replay(prep.target, bind, prep.leaves)
        num = numeric_gradient(out, [new[id(leaf)] for leaf in prep.leaves], prep.cotangent)
    evaluator = ExactEvaluator()
    here = prep.at(values)
    for name, exprs, g in zip(prep.names, here.grads, num):
        exact, bound = _exact_elements(exprs, here.replacements, prep.leaf_symbols, values,
                                       evaluator)
        if not _judge(res, case, f"d/d{name}", g, exact, bound, n_ops, rho, np.float64, 1.0):
            res.failures[-1] += f" at {name}={values[0].tolist()}"
            return
    res.used += 1


# ------------------------------------------------------------------ kinks

@_gradient_pass
def kinks_pass(op: Op, n: int, seed: int) -> PassResult:
    """Points on the kinks OP_DB lists, drawn from ``OpInfo.kink_grid``: every element
    from a small set holding the kink locations, so zeros, ties and bounds occur."""
    res = PassResult("kinks")
    info = OP_DB[op]
    if info.kink_grid is None:
        return res
    samples = len(info.samples)
    rng = _rng(op, seed, 2)
    for k, per in enumerate(_split(max(samples, n // 2), samples)):
        prep = _prepared(op, k)
        attrs = dict(info.samples[k].attrs)
        grid = np.array(info.kink_grid(attrs), np.float64)
        for _ in range(per):
            for _ in range(50):
                values = [rng.choice(grid, size=tuple(leaf.shape)) for leaf in prep.leaves]
                if info.kink(*_op_inputs(op, k, values), **attrs) == 0:
                    break
            else:
                continue  # no kink reachable in this sample (a scalar max, say)
            _compare_point(res, op, k, values)
            if res.failures:
                return res
    return res


# ------------------------------------------------------------------ sizes

_BIG = (65, 64)          # 4160 elements: above numeric's 4096-element fast-path switch


def _size_cases(op: Op) -> list[tuple[tuple, dict]]:
    """(input shapes, attrs) of the large and batched cases of ``op``."""
    info = OP_DB[op]
    b = _BIG
    if op in ELEMENTWISE and info.arity == 3:        # where, lerp
        return [((b, b, b), {}), (((64,), b, b), {}), ((b, (1, 64), b), {}),
                ((b, b, (65, 1)), {}), ((b, (), b), {})]
    if info.arity == 1 and op in ELEMENTWISE:
        attrs = dict(info.samples[0].attrs)
        return [((b,), attrs), (((4100,),), attrs)]
    if info.arity == 2 and op in ELEMENTWISE:
        return [((b, b), {}), (((64,), b), {}), ((b, (64,)), {}), (((), b), {}),
                ((b, ()), {}), (((65, 1), b), {}), ((b, (1, 64)), {}),
                (((65, 1), (1, 64)), {})]
    big = {
        Op.MATMUL: [(((3, 4, 5), (3, 5, 2)), {}), (((2, 1, 4, 5), (3, 5, 2)), {}),
                    (((4, 5), (3, 5, 2)), {}), (((3, 4, 5), (5,)), {}),
                    (((5,), (2, 3, 5, 4)), {}), (((70, 64), (64, 66)), {})],
        Op.RESHAPE: [((b,), {"shape": (4160,)}), ((b,), {"shape": (32, 130)})],
        Op.PERMUTE: [(((5, 26, 32),), {"axes": (2, 0, 1)})],
        Op.BROADCAST_TO: [(((1, 64),), {"shape": b}), (((65, 1),), {"shape": (2,) + b})],
        Op.GETITEM: [((b,), {"index": (slice(1, 64), slice(None))}),
                     (((4160,),), {"index": (np.arange(4160)[::-1],)}),
                     ((b,), {"index": (np.array([0, 3, 3, 64]),)})],
        Op.SCATTER_ADD: [((b,), {"shape": (70, 64), "index": (np.arange(65),)})],
        Op.CONCAT: [((b, (10, 64)), {"axis": 0}), ((b, (65, 3)), {"axis": 1})],
        Op.STACK: [((b, b), {"axis": 0}), ((b, b, b), {"axis": 2})],
    }
    # --- issue 11: shape (attrs tied to the shapes, so not the doubled samples)
    grid = np.arange(65 * 64).reshape(b)
    big |= {
        Op.FLIP: [((b,), {"dims": (0, 1)})],
        Op.ROLL: [((b,), {"shifts": (3, -5), "dims": (0, 1)}),
                  ((b,), {"shifts": (70,), "dims": None})],
        Op.PAD: [((b,), {"pad": (1, 2, 3, 4), "mode": "constant", "value": 0.5}),
                 (((1, 65, 64),), {"pad": (3, 2, 1, 4), "mode": "reflect", "value": 0.0}),
                 (((1, 65, 64),), {"pad": (3, 2), "mode": "replicate", "value": 0.0})],
        Op.REPEAT_INTERLEAVE: [((b,), {"repeats": (2,), "dim": 1}),
                               ((b,), {"repeats": tuple(k % 3 for k in range(65)), "dim": 0})],
        Op.UNFOLD: [((b,), {"dimension": 1, "size": 8, "step": 3})],
        Op.GATHER: [((b,), {"dim": 0, "index": grid * 7 % 65})],
        Op.SCATTER: [((b, b), {"dim": 1, "index": (grid * 5 + grid // 64) % 64})],
        Op.SCATTER_ADD_DIM: [((b, b), {"dim": 0, "index": grid * 3 % 65})],
        Op.MASKED_FILL: [((b, b, ()), {}), ((b, (64,), ()), {})],
    }
    # --- issue 11: nnops (channels and groups tied together: not the doubled samples)
    big[Op.CONVOLUTION] = [(s.shapes, dict(s.attrs)) for s in (
        _conv_sample((2, 3, 40, 40), (4, 3, 3, 3), padding=((1, 1), (1, 1))),
        _conv_sample((1, 4, 33, 33), (4, 2, 3, 3), stride=(2, 1), groups=2),
        _conv_sample((2, 4, 1100), (3, 4, 5), stride=(1,), padding=((0, 0),), dilation=(2,)))]
    if op in big:
        return big[op]
    if op in (Op.SUM, Op.MEAN, Op.MAX, Op.MIN, Op.LOGSUMEXP):
        return [((b,), {"axis": None, "keepdims": False}), ((b,), {"axis": (1,), "keepdims": False}),
                ((b,), {"axis": (0,), "keepdims": True})]
    if op in (Op.SOFTMAX, Op.LOG_SOFTMAX):
        return [((b,), {"axis": 1}), ((b,), {"axis": 0})]
    # dims of 1 stay 1: broadcasting samples ((3, 1), (1, 4)) still broadcast
    return [((tuple(2 * d if d != 1 else 1 for d in s) for s in sample.shapes),
             dict(sample.attrs)) for sample in info.samples]


_DERIVS: dict[tuple, Any] = {}
_sweep.CACHES.append(_DERIVS)


def _local_derivative(op: Op, argnum: int, nargs: int, attrs: dict) -> Callable:
    """The op's scalar derivative from SymPy's diff, lambdified for numpy (float64)."""
    from symgrad.lower_sympy import SCALAR_FORMS, flat_steps

    key = (op, argnum, nargs, tuple(sorted((k, repr(v)) for k, v in attrs.items())))
    if key not in _DERIVS:
        ts = sympy.symbols(f"_s0:{nargs}", real=True)
        form = SCALAR_FORMS[op](*ts, **attrs)
        d = flat_steps(sympy.diff(form, ts[argnum]))
        d = d.replace(sympy.DiracDelta, lambda *a: sympy.S.Zero)
        _DERIVS[key] = sympy.lambdify(ts, d, modules=[{"Heaviside": lambda x, h=0.5:
                                                       np.heaviside(x, h)}, "numpy", "scipy"])
    return _DERIVS[key]


def _sum_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a broadcast-shape array down to ``shape`` (written here, not numeric's)."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for ax, d in enumerate(shape):
        if d == 1 and g.shape[ax] != 1:
            g = g.sum(axis=ax, keepdims=True)
    return g.reshape(shape)


@_gradient_pass
def sizes_pass(op: Op, n: int, seed: int) -> PassResult:
    """Large (> 4096 elements), batched and broadcast cases; cost bounded per case."""
    res = PassResult("sizes")
    info = OP_DB[op]
    rng = _rng(op, seed, 3)
    reps = max(1, n // 40)
    for shapes, attrs in _size_cases(op):
        shapes = tuple(tuple(s) for s in shapes)
        label = f"{op.name.lower()} " + "x".join(
            "(" + ",".join(map(str, s)) + ")" for s in shapes)
        grads_at = info.grad_inputs(len(shapes))
        for _ in range(reps):
            res.tried += 1
            values = []
            for i, s in enumerate(shapes):
                d = info.domain(i)
                v = d.sample(rng, s)
                if op in (Op.MAX, Op.MIN):  # distinct values: no ties in the big case
                    v = rng.permutation(v.size).reshape(s) / v.size * 4.0 - 2.0 + \
                        rng.uniform(0, 1e-4, s)
                values.append(v)
            leaves = [vgraph.symbol(f"x{i}", s) if i in grads_at else
                      vgraph.constant(values[i]) for i, s in enumerate(shapes)]
            expr = vgraph.apply(op, *leaves, **attrs)
            wrt = [leaves[i] for i in grads_at]
            bind = {id(as_node(leaves[i])): values[i] for i in grads_at}
            with np.errstate(all="ignore"):
                out, new, _, _ = replay(expr, bind, wrt)
                w = rng.integers(1, 9, size=out.shape) / 4.0 * rng.choice([-1.0, 1.0], out.shape)
                grads = _engine_backward([out], [w], targets=[new[id(as_node(t))] for t in wrt])
            nums = [np.asarray(grads.get(id(new[id(as_node(t))]), np.zeros(t.shape)),
                               np.float64).reshape(t.shape) for t in wrt]
            ok = True
            if op in ELEMENTWISE:
                ok = _sizes_elementwise(res, label, op, attrs, values, grads_at, w, nums)
            else:
                ok = _sizes_fd(res, label, expr, wrt, values, grads_at, w, nums, rng)
            if ok:
                res.used += 1
            else:
                return res
    return res


def _sizes_elementwise(res, label, op, attrs, values, grads_at, w, nums) -> bool:
    full = np.broadcast_shapes(*(np.shape(v) for v in values))
    args = [np.broadcast_to(np.asarray(v, np.float64), full) for v in values]
    for pos, num in zip(grads_at, nums):
        with np.errstate(all="ignore"):
            local = np.broadcast_to(np.asarray(
                _local_derivative(op, pos, len(values), attrs)(*args), np.float64), full)
            ref = _sum_to(w * local, np.shape(values[pos]))
            contrib = _sum_to(np.abs(w * local), np.shape(values[pos]))
        tol = 64 * 2.0 ** -53 * (contrib + 1.0) * 8
        err = np.abs(num - ref)
        bad = ~(err <= tol)
        if np.any(bad):
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            res.fail(label, f"d/dx{pos}{list(idx)}: numeric {float(num[idx])!r} vs exact "
                            f"derivative {float(ref[idx])!r} (|err| {float(err[idx]):.3g})")
            return False
    return True


def _sizes_fd(res, label, expr, wrt, values, grads_at, w, nums, rng) -> bool:
    wnode = vgraph.constant(w)
    target = as_node(vgraph.apply(Op.SUM, vgraph.apply(Op.MUL, expr, wnode), axis=None,
                                  keepdims=False))

    for pos, leaf, num in zip(grads_at, wrt, nums):
        x = np.array(values[pos], np.float64)
        flat = x.reshape(-1)
        picks = sorted({0, flat.size - 1, *rng.choice(flat.size, size=min(6, flat.size),
                                                      replace=False).tolist()})
        base = {id(as_node(t)): values[i] for i, t in zip(grads_at, wrt)}

        def phi(xs: list, idx: int) -> float:
            arr = flat.copy()
            arr[idx] = xs[0][0]
            bind = dict(base)
            bind[id(as_node(leaf))] = arr.reshape(x.shape)
            with np.errstate(all="ignore"):
                o, _, _, _ = replay(target, bind)
            return float(np.sum(o.value))

        numf = num.reshape(-1)
        for idx in picks:
            est, err = fd_gradient(lambda xs, idx=idx: phi(xs, idx), [np.array([flat[idx]])],
                                   1e-3)
            e, fe = float(est[0][0]), float(err[0][0])
            scale = max(abs(e), 1.0)
            if not abs(numf[idx] - e) <= max(1e3 * fe, 1e-6 * scale):
                res.fail(label, f"d/dx{pos}[flat {idx}]: numeric {float(numf[idx])!r} vs finite "
                                f"differences {e!r} (error estimate {fe:.2g})")
                return False
    return True


# ------------------------------------------------------------------ float32

@_or_values(np.float32)
def float32_pass(op: Op, n: int, seed: int) -> PassResult:
    """Float32 inputs through ``Tensor.backward()``: dtypes, then values vs exact."""
    import symgrad as sg
    from numeric.kernels import apply

    res = PassResult("float32")
    info = OP_DB[op]
    samples = len(info.samples)
    rng = _rng(op, seed, 4)
    for k, per in enumerate(_split(max(samples, n // 8), samples)):
        prep = _prepared(op, k)
        case = _case_label(op, k) + " float32"
        for _ in range(per):
            for _ in range(50):
                values = [d.sample(rng, tuple(leaf.shape), np.float32)
                          for d, leaf in zip(prep.domains, prep.leaves)]
                if info.admissible(tuple(np.float64(v) if np.ndim(v) == 0 else v
                                         for v in _op_inputs(op, k, values)),
                                   dict(info.samples[k].attrs), 1e-2):
                    break
            byid = {id(leaf): sg.tensor(v, requires_grad=True)
                    for leaf, v in zip(prep.leaves, values)}
            eager: dict[int, Any] = {}
            problems = []
            for node in prep.order:
                if node.op is None:
                    if id(node) in byid:
                        eager[id(node)] = byid[id(node)]
                    else:
                        data = np.asarray(node.data)
                        eager[id(node)] = sg.tensor(data if data.dtype.kind == "b"
                                                    else data.astype(np.float32))
                    continue
                attrs = dict(node.attrs)
                if "dtype" in attrs and np.dtype(attrs["dtype"]).kind == "f":
                    attrs["dtype"] = np.dtype(np.float32)
                t = apply(node.op, *[eager[id(i)] for i in node.inputs], **attrs)
                if t.dtype != np.float32:
                    problems.append(f"{node.op.name.lower()} output is {t.dtype}")
                eager[id(node)] = t
            loss = eager[id(prep.target)]
            loss.backward()
            for name, t in zip(prep.names, byid.values()):
                if t.grad is None:
                    problems.append(f"{name}.grad is None")
                elif t.grad.dtype != np.float32:
                    problems.append(f"{name}.grad is {t.grad.dtype}")
            if problems:
                res.tried += 1
                res.fail(case, "float32 inputs gave " + "; ".join(problems) +
                         " (expected float32 throughout)")
                return res
            nums = [np.asarray(t.grad.numpy(), np.float64) for t in byid.values()]
            _compare_point(res, op, k, [np.asarray(v) for v in values], dtype=np.float32,
                           num_grads=nums, case=case)
            if res.failures:
                return res
    return res


# ------------------------------------------------------------------ forward

def _lowered(op: Op, k: int):
    """(op output node, object array of its exact elements, leaf nodes, leaf symbols)."""
    from symgrad.lower_sympy import TO_SYMPY, leaf_array, lower_node

    key = (op, k, TO_SYMPY.get(op))  # a re-declared lowering is lowered again
    if key not in _LOWERED:
        prep = _prepared(op, k)
        node = _op_node(prep, op)
        if op in AT_POINT:      # lowered at each point (_compare_forward)
            _LOWERED[key] = (node, None)
            return _LOWERED[key]
        want = {id(leaf) for leaf in prep.leaves}
        arrays: dict[int, Any] = {}
        for n in toposort([node]):
            arrays[id(n)] = leaf_array(n, want) if n.op is None else \
                lower_node(n, [arrays[id(i)] for i in n.inputs])
        _LOWERED[key] = (node, np.asarray(arrays[id(node)], dtype=object))
    return _LOWERED[key]


def _compare_forward(res: PassResult, case: str, node: Any, exprs: np.ndarray, leaves: list,
                     leaf_symbols: list, values: list, tol_factor: float = 1.0) -> None:
    res.tried += 1
    bind = {id(leaf): np.asarray(v) for leaf, v in zip(leaves, values)}
    if node.op in AT_POINT:     # Note [Forms at a point]: the form is the one at this point
        from symgrad.lower_sympy import lower_node

        exprs = np.asarray(lower_node(node, leaf_symbols, bind), dtype=object)
    with np.errstate(all="ignore"):
        out, _, rho, n_ops = replay(node, bind)
    if rho > MAX_RHO:
        res.skipped += 1
        return
    exact, bound = _exact_elements(exprs, [], leaf_symbols, values, ExactEvaluator())
    if not np.any(np.isfinite(exact)):
        res.skipped += 1
        return
    if node.op in UNARY:
        # Note [One-call forward]: a unary kernel is one accurate library call (numpy,
        # scipy.special) on an exact float input, so it owes a few ulps of its value,
        # whatever rounding its SymPy form (log(1 + x) for log1p) would suffer: judge it
        # without that bound.  A composite unary kernel added later must meet this too.
        bound = np.zeros_like(bound)
    point = ", ".join(np.array2string(np.asarray(v), precision=17, threshold=20) for v in values)
    value = np.asarray(out.value, np.float64)
    # ops that mix elements (softmax: exp(x - max) carries the rounding of x - max times
    # |x|) are judged at the scale of their largest output, as gradients are
    floor = 0.0 if node.op in ELEMENTWISE else \
        float(np.max(np.abs(np.where(np.isfinite(value), value, 0.0)), initial=0.0))
    factor = (OP_DB[node.op].tol_factor if node.op in OP_DB else 1.0) * tol_factor
    if _judge(res, case, "value", value, exact, bound, n_ops, rho, np.float64, factor, floor):
        res.used += 1
    else:
        res.failures[-1] += f" at {point}"


@_or_values(np.float64)
def forward_pass(op: Op, n: int, seed: int) -> PassResult:
    """Forward values vs the exact lowered form: domain points and extreme points."""
    res = PassResult("forward")
    info = OP_DB[op]
    samples = len(info.samples)
    rng = _rng(op, seed, 5)
    # at least two points per sample, so every sample sees a domain and an extreme point
    for k, per in enumerate(_split(max(2 * samples, n // 2), samples)):
        prep = _prepared(op, k)
        node, exprs = _lowered(op, k)
        case = _case_label(op, k)
        for j in range(per):
            factor = 1.0
            if j % 2 == 0:
                values = [d.sample(rng, tuple(leaf.shape)) for d, leaf
                          in zip(prep.domains, prep.leaves)]
            else:
                values, factor = _extreme_point(op, k, rng), info.extremes_tol
            _compare_forward(res, case, node, exprs, prep.leaves, prep.leaf_symbols, values,
                             factor)
            if res.failures:
                return res
    if op is Op.CAST:  # casts to integers: the lowering's rounding must match numpy's
        from symgrad.lower_sympy import leaf_array, lower_node

        x = vgraph.symbol("x", (8,))
        xs = np.array([-2.5, -1.7, -0.5, -0.0, 0.3, 1.5, 2.7, 5.0])
        for dt in (np.int64, np.bool_):
            expr = as_node(vgraph.apply(Op.CAST, x, dtype=np.dtype(dt)))
            syms = leaf_array(as_node(x), {id(as_node(x))})
            exprs = np.asarray(lower_node(expr, [syms]), dtype=object)
            _compare_forward(res, f"cast to {np.dtype(dt).name}", expr, exprs, [as_node(x)],
                             [syms], [xs])
            if res.failures:
                return res
    return res


@_gradient_pass
def paths_pass(op: Op, n: int, seed: int) -> PassResult:
    """Every gradient path (:mod:`verify.paths`) on each sample of ``op``, two points each."""
    res = PassResult("paths")
    for k in range(len(OP_DB[op].samples)):
        r = paths_op(op, k, n_points=2, seed=seed)
        res.tried += r.tried
        res.used += r.points_used
        res.skipped += len(r.skipped)
        for f in r.failures:
            res.fail(_case_label(op, k), f)
        if res.failures:
            break
    return res


# ------------------------------------------------------------------ registry

#: name -> pass function ``fn(op, n, seed) -> PassResult``, in table order
PASSES: dict[str, PassFn] = {
    "domain": domain_pass,
    "extremes": extremes_pass,
    "kinks": kinks_pass,
    "sizes": sizes_pass,
    "float32": float32_pass,
    "forward": forward_pass,
    "paths": paths_pass,
}

#: short names for the table's "passes" column
SHORT: dict[str, str] = {"float32": "f32", "forward": "fwd"}


def register(name: str, fn: PassFn, short: str | None = None) -> None:
    """Add (or replace) a pass; ``symgrad verify`` runs it for every op.

    >>> register("noop", lambda op, n, seed: PassResult("noop")); "noop" in PASSES
    True
    >>> del PASSES["noop"]
    """
    PASSES[name] = fn
    if short:
        SHORT[name] = short


def parse_passes(spec: str | None) -> list[str]:
    """``"domain,f32"`` -> ``["domain", "float32"]`` (names or short names; None: all).

    >>> parse_passes("fwd,kinks")
    ['kinks', 'forward']
    """
    if not spec:
        return list(PASSES)
    by_short = {SHORT.get(k, k): k for k in PASSES}
    chosen = set()
    for name in spec.split(","):
        name = name.strip().lower()
        if name in PASSES:
            chosen.add(name)
        elif name in by_short:
            chosen.add(by_short[name])
        else:
            raise ValueError(f"unknown pass {name!r}; passes: {', '.join(PASSES)}")
    return [k for k in PASSES if k in chosen]


def run_passes(op: Op, names: list[str], n: int, seed: int) -> list[PassResult]:
    """Run the passes ``names`` on ``op``; an exception inside a pass is its failure."""
    results = []
    for name in names:
        start = time.perf_counter()
        try:
            r = PASSES[name](op, n, seed)
        except Exception as exc:  # a crash in a kernel or VJP is a finding, not a stop
            r = PassResult(name, tried=1)
            r.fail(op.name.lower(), f"raised {type(exc).__name__}: {exc}")
        r.seconds = time.perf_counter() - start
        results.append(r)
    return results
