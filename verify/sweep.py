"""Per-op checks generated from ``OP_DB`` (used by the tests and ``symgrad verify``).

>>> from numeric.ops import Op
>>> r = check_op(Op.EXP, 0, n_points=2)
>>> r.passed
True
"""
from __future__ import annotations

from typing import Any

import mpmath
import numpy as np
import sympy

from numeric.kernels import FORWARD
from numeric.ops import Op
from verify import graph as vgraph
from verify.check import KINK_MARGIN, Prepared, check
from verify.opdb import OP_DB
from verify.oracles import ExactEvaluator
from verify.report import Report

__all__ = ["build_case", "check_op", "check_values", "cases", "clear_caches", "CACHES"]

_PREPARED: dict[tuple, Prepared] = {}
#: every cache of exact formulas built from the ops' SymPy forms (this module's and those
#: of the passes), so that one call can drop them all: see :func:`clear_caches`
CACHES: list[dict] = [_PREPARED]


def clear_caches() -> None:
    """Forget every cached exact formula (after changing an op's SymPy form).

    >>> clear_caches(); len(_PREPARED)
    0
    """
    for cache in CACHES:
        cache.clear()


def cases(ops: Any = None) -> list[tuple[Op, int]]:
    """``(op, sample number)`` for every sample of every op (or of ``ops``).

    >>> (Op.ADD, 2) in cases([Op.ADD])
    True
    """
    chosen = list(OP_DB) if ops is None else list(ops)
    return [(op, k) for op in chosen for k in range(len(OP_DB[op].samples))]


def build_case(op: Op, k: int, seed: int = 0) -> tuple[Any, list]:
    """The expression ``op(*inputs, **attrs)`` of sample ``k`` over fresh symbols.

    Inputs without a gradient (``where``'s condition) become constants drawn
    from their domain.  Returns (output node, inputs to differentiate).

    >>> out, wrt = build_case(Op.WHERE, 0)
    >>> [w.name for w in wrt]
    ['x1', 'x2']
    """
    info = OP_DB[op]
    sample = info.samples[k]
    grads = info.grad_inputs(len(sample.shapes))
    rng = np.random.default_rng(seed)
    ins = []
    for i, shape in enumerate(sample.shapes):
        if i in grads:
            ins.append(vgraph.symbol(f"x{i}", shape))
        else:
            ins.append(vgraph.constant(info.domain(i).sample(rng, shape), f"c{i}"))
    out = vgraph.apply(op, *ins, **dict(sample.attrs))
    return out, [ins[i] for i in grads]


def prepared(op: Op, k: int) -> Prepared:
    """The (cached) scalarized expression and exact gradient formulas of a case."""
    key = (op, k)
    if key not in _PREPARED:
        out, wrt = build_case(op, k)
        _PREPARED[key] = Prepared(out, wrt, np.random.default_rng(0))
    return _PREPARED[key]


def check_op(op: Op, k: int, *, n_points: int = 5, seed: int = 0, dtype: Any = np.float64,
             fd: bool = True) -> Report:
    """``verify.check`` on sample ``k`` of ``op`` (exact formulas cached per case).

    An op whose gradient says nothing about its form (``OpInfo.checks_values``) has
    its values compared with the exact form's too (:func:`check_values`); an op
    without any gradient, only them.
    """
    info = OP_DB[op]
    label = f"{op.name.lower()} {info.samples[k].label}"
    if not info.has_gradient:
        r = check_values(op, k, n_points=n_points, seed=seed, dtype=dtype)
    else:
        prep = prepared(op, k)
        r = check(prep.target, prep.leaves, n_points=n_points, seed=seed, dtype=dtype, fd=fd,
                  prepared=prep, tol_factor=info.tol_factor)
        if info.checks_values:
            r.failures += check_values(op, k, n_points=n_points, seed=seed, dtype=dtype).failures
    r.expression = label
    return r


def _exact_values(op: Op, values: list, attrs: dict) -> np.ndarray:
    """The op's exact form at constant inputs ``values``, as mpmath numbers."""
    from symgrad.lower_sympy import lower

    out = vgraph.apply(op, *[vgraph.constant(v) for v in values], **attrs)
    arr, _ = lower(out)
    evaluator = ExactEvaluator()
    flat = [evaluator.evaluate([sympy.sympify(e)], {})[0][0] for e in arr.ravel()]
    return np.array(flat, dtype=object).reshape(arr.shape)


def _value_mismatch(num: np.ndarray, exact: np.ndarray, dtype: np.dtype) -> "tuple | None":
    """The first element where numeric's value is not the exact one: equal for integer and
    bool results, within one unit roundoff of ``dtype`` for floating ones."""
    u = mpmath.mpf(float(np.finfo(dtype).eps)) if num.dtype.kind == "f" else 0
    for idx in np.ndindex(num.shape):
        got, want = num[idx], exact[idx]
        if not np.isfinite(got) or abs(mpmath.mpf(float(got)) - want) > u * abs(want):
            return idx, got, want
    return None


def check_values(op: Op, k: int, *, n_points: int = 3, seed: int = 0,
                 dtype: Any = np.float64) -> Report:
    """Numeric's forward values of sample ``k`` of ``op`` against its exact form's.

    Inputs are drawn from the op's domains (floating ones in ``dtype``) at least
    ``KINK_MARGIN`` from its kinks, and as many again from its ``kink_grid`` (where
    a value jumps, the exact form's convention is the one numeric must follow:
    ``round``'s ties to even); the exact form is evaluated at the same inputs.
    The report has no per-input gradient rows.

    >>> check_values(Op.BITWISE_XOR, 0).passed
    True
    """
    info = OP_DB[op]
    sample = info.samples[k]
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    report = Report(dtype=dtype.name)
    grid = None if info.kink_grid is None else np.asarray(info.kink_grid(dict(sample.attrs)),
                                                          dtype)
    wanted = n_points if grid is None else 2 * n_points
    for _ in range(10 * wanted + 20):
        if report.points_used >= wanted:
            break
        report.points_tried += 1
        on_kinks = report.points_used >= n_points
        values = [rng.choice(grid, size=shape) if on_kinks and not info.domain(i).discrete
                  else info.domain(i).sample(rng, shape, dtype)
                  for i, shape in enumerate(sample.shapes)]
        if not info.admissible(tuple(values), sample.attrs, 0.0 if on_kinks else KINK_MARGIN):
            report.skipped_domain += 1
            continue
        report.points_used += 1
        with np.errstate(all="ignore"):
            num = np.asarray(FORWARD[op](*values, **sample.attrs))
        bad = _value_mismatch(num, _exact_values(op, values, dict(sample.attrs)), dtype)
        if bad is not None:
            idx, got, want = bad
            report.failures.append(f"value{list(idx)}: numeric {got!r} vs exact {want} at "
                                   f"inputs {[v.tolist() for v in values]}")
    if report.points_used == 0:
        report.failures.append(f"no admissible point in {report.points_tried} tries")
    return report
