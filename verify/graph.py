"""Building the referee's own expressions (op sweeps, random DAGs) from symgrad's front end.

``symbol``, ``constant`` and ``apply`` return symgrad Tensors over the one IR
(:class:`numeric.node.Node`, reached as ``t.node``): verify has no node class of
its own.  ``apply`` finds an output's shape by running the kernel on probe
values, so user-defined ops without a symbolic shape rule work too.

>>> from numeric.ops import Op
>>> x = symbol("x", (2, 3))
>>> y = apply(Op.SUM, apply(Op.EXP, x), axis=(1,), keepdims=False)
>>> y.shape, y.node.op
((2,), Op.SUM)
"""
from __future__ import annotations

from typing import Any

import numpy as np

from numeric.kernels import FORWARD
from numeric.node import as_node
from numeric.ops import Op
from symgrad.creation import symbol as _sg_symbol
from symgrad.tensor import Tensor, const, handle, symbolic_node

__all__ = ["symbol", "constant", "apply"]


def symbol(name: str, shape: tuple = ()) -> Tensor:
    """A value-less float64 leaf named ``name`` (elements lower to ``name_i_j`` symbols).

    >>> symbol("w", (3,)).shape
    (3,)
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"symbol name must be a Python identifier, got {name!r}")
    return _sg_symbol(name, shape=tuple(int(d) for d in shape))


def constant(value: Any, name: str | None = None) -> Tensor:
    """A constant leaf (no gradient; float64 unless bool or integer), lowered as its exact
    values.

    >>> constant(np.array([0.5, 0.25])).node.role, constant(np.array([3])).dtype
    ('constant', dtype('int64'))
    """
    value = np.asarray(value)
    if value.dtype.kind not in "bfiu":
        value = value.astype(np.float64)
    return const(value)


def _handle(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else handle(as_node(x))


def _probe(t: Tensor) -> np.ndarray:
    if t.value is not None:
        return np.asarray(t.value)
    node = t.node
    if node.data is not None:
        return np.asarray(node.data)
    return np.full(node.shape, 0.5, dtype=node.dtype)


def apply(op: Any, *inputs: Any, **attrs: Any) -> Tensor:
    """A new symbolic op tensor; its shape and dtype come from running the kernel on probes.

    >>> apply(Op.MATMUL, symbol("a", (3, 4)), symbol("b", (4,))).shape
    (3,)
    """
    ins = tuple(_handle(i) for i in inputs)
    probes = [_probe(i) for i in ins]
    with np.errstate(all="ignore"):
        fwd = FORWARD[op] if isinstance(op, Op) else op.forward
        out = np.asarray(fwd(*probes, **attrs))
    rg = any(i.requires_grad for i in ins) and out.dtype.kind == "f"
    return symbolic_node(op, ins, dict(attrs), out.shape, out.dtype, rg)
