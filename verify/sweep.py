"""Per-op checks generated from ``OP_DB`` (used by the tests and ``symgrad verify``).

>>> from numeric.ops import Op
>>> r = check_op(Op.EXP, 0, n_points=2)
>>> r.passed
True
"""
from __future__ import annotations

from typing import Any

import numpy as np

from numeric.ops import Op
from verify import graph as vgraph
from verify.check import Prepared, check
from verify.opdb import OP_DB
from verify.report import Report

__all__ = ["build_case", "check_op", "cases", "clear_caches", "CACHES"]

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
    """``verify.check`` on sample ``k`` of ``op`` (exact formulas cached per case)."""
    prep = prepared(op, k)
    r = check(prep.target, prep.leaves, n_points=n_points, seed=seed, dtype=dtype, fd=fd,
              prepared=prep, tol_factor=OP_DB[op].tol_factor)
    r.expression = f"{op.name.lower()} {OP_DB[op].samples[k].label}"
    return r
