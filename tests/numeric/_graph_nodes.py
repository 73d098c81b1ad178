"""A minimal handle class (numeric's handle protocol over IR nodes), for the tests."""
from __future__ import annotations

import numpy as np

from numeric import FORWARD, Op, backward
from numeric.node import Node as IR


class Node:
    """A handle: ``node`` (the IR), ``inputs`` (handles), ``value``, ``requires_grad``."""

    __slots__ = ("node", "inputs", "value", "requires_grad", "__weakref__")

    def __init__(self, op, inputs=(), attrs=None, value=None, requires_grad=True):
        inputs = tuple(inputs)
        value = None if value is None else np.asarray(value)
        if op is None:
            self.node = IR.leaf("data", value) if value is not None else \
                IR.leaf("symbol", name="s", shape=(), dtype=np.float64)
        else:
            shape = () if value is None else value.shape
            dtype = np.float64 if value is None else value.dtype
            self.node = IR.make(op, tuple(i.node for i in inputs), dict(attrs or {}), shape,
                                dtype)
        self.inputs, self.value, self.requires_grad = inputs, value, requires_grad

    @property
    def op(self):
        return self.node.op

    @property
    def attrs(self):
        return self.node.attrs


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
