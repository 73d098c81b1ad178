"""Minimal graph nodes for the referee's own expressions (op sweeps, random DAGs).

They follow numeric's node protocol (``op``, ``inputs``, ``attrs``, ``value``,
``requires_grad``) plus ``name`` and ``shape`` as symgrad's lowering expects, so
the op database and the strategies do not depend on the front end's Tensor.
``verify.check`` accepts these and symgrad Tensors alike.

>>> from numeric.ops import Op
>>> x = symbol("x", (2, 3))
>>> y = apply(Op.SUM, apply(Op.EXP, x), axis=(1,), keepdims=False)
>>> y.shape, y.op
((2,), Op.SUM)
"""
from __future__ import annotations

from typing import Any

import numpy as np

from numeric.kernels import FORWARD
from numeric.ops import Op

__all__ = ["Node", "symbol", "constant", "apply"]


class Node:
    """A graph node: a symbolic leaf (``value is None``), a constant, or an op."""

    __slots__ = ("op", "inputs", "attrs", "value", "requires_grad", "shape", "name")

    def __init__(self, op: Any, inputs: tuple, attrs: dict, value: Any, shape: tuple,
                 name: str | None = None, requires_grad: bool = False) -> None:
        self.op, self.inputs, self.attrs, self.value = op, inputs, attrs, value
        self.shape, self.name, self.requires_grad = tuple(shape), name, requires_grad

    def __numeric_apply__(self, op: Any, xs: tuple, attrs: dict) -> "Node":
        """``numeric.apply(op, *nodes)`` and custom ops called on Nodes build Nodes."""
        return apply(op, *(x if isinstance(x, Node) else constant(x) for x in xs), **attrs)

    def __repr__(self) -> str:
        what = self.name if self.op is None else getattr(self.op, "name", self.op)
        return f"<verify.Node {what} shape={self.shape}>"


def symbol(name: str, shape: tuple = ()) -> Node:
    """A value-less leaf named ``name`` (elements lower to ``name_i_j`` symbols).

    >>> symbol("w", (3,)).shape
    (3,)
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"symbol name must be a Python identifier, got {name!r}")
    return Node(None, (), {}, None, tuple(int(d) for d in shape), name, requires_grad=True)


def constant(value: Any, name: str | None = None) -> Node:
    """A constant leaf (no gradient; float64 unless boolean); lowered as an exact number.

    >>> constant(np.array([0.5, 0.25])).shape
    (2,)
    """
    value = np.asarray(value)
    if value.dtype.kind not in "bf":
        value = value.astype(np.float64)
    return Node(None, (), {}, value, value.shape, name or "c")


def _probe(node: Node) -> np.ndarray:
    if node.value is not None:
        return np.asarray(node.value)
    return np.full(node.shape, 0.5)


def apply(op: Any, *inputs: Node, **attrs: Any) -> Node:
    """A new op node; the output shape is found by running the kernel on probe values.

    >>> apply(Op.MATMUL, symbol("a", (3, 4)), symbol("b", (4,))).shape
    (3,)
    """
    probes = [_probe(i) for i in inputs]
    with np.errstate(all="ignore"):
        fwd = FORWARD[op] if isinstance(op, Op) else op.forward
        out = np.asarray(fwd(*probes, **attrs))
    return Node(op, tuple(inputs), dict(attrs), None, out.shape,
                requires_grad=any(i.requires_grad for i in inputs))
