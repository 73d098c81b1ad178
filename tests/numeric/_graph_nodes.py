"""A minimal node class implementing numeric's node protocol, for the tests."""
from __future__ import annotations

import numpy as np

from numeric import FORWARD, Op, backward


class Node:
    """op, inputs, attrs, value, requires_grad: exactly the protocol, nothing else."""

    __slots__ = ("op", "inputs", "attrs", "value", "requires_grad", "__weakref__")

    def __init__(self, op, inputs=(), attrs=None, value=None, requires_grad=True):
        self.op, self.inputs, self.attrs = op, tuple(inputs), dict(attrs or {})
        self.value, self.requires_grad = value, requires_grad


def leaf(value, requires_grad=True) -> Node:
    return Node(None, (), {}, np.asarray(value), requires_grad)


def node(op: Op, *inputs: Node, **attrs) -> Node:
    """Eagerly evaluated op node; requires grad if any input does."""
    value = FORWARD[op](*(i.value for i in inputs), **attrs)
    return Node(op, inputs, attrs, value, any(i.requires_grad for i in inputs))


def grads(op: Op, values, attrs, g, requires=None):
    """(out, [grad of each input or None]) of ``op`` at ``values`` with cotangent ``g``."""
    requires = requires or [True] * len(values)
    leaves = [leaf(v, r) for v, r in zip(values, requires)]
    out = node(op, *leaves, **attrs)
    got = backward([out], [np.asarray(g, dtype=out.value.dtype)])
    return out.value, [got.get(id(lf)) for lf in leaves]
