"""numeric: the numpy reverse-mode engine under symgrad (numpy only).

``Op`` is the op vocabulary, built from one declaration per op in
:mod:`numeric.rules` (``RULE[op]``: kernel, VJP, shape/dtype rule, PyTorch
names); ``FORWARD`` and ``VJP`` are the two tables derived from it.
``Node`` is the immutable IR every path reads; ``backward`` walks handles over
it (symgrad's Tensor) and ``evaluate`` runs a node graph (see
docs/architecture.md "The node and the handle").

>>> import numpy as np, numeric
>>> numeric.apply(numeric.Op.EXP, np.zeros(2))
array([1., 1.])
"""
from numeric.executor import FREED_GRAPH, backward, evaluate
from numeric.graph import toposort
from numeric.kernels import FORWARD, apply
from numeric.node import NO_ATTRS, Node
from numeric.ops import (
    ARITY, AT_POINT, BINARY, ELEMENTWISE, KINKED, MOVEMENT, NORMALIZE, REDUCE, RULE, UNARY, VARIADIC, Op,
)
from numeric.vjps import VJP, unbroadcast
from numeric.compile import Program

__all__ = [
    "Op", "Node", "NO_ATTRS", "RULE", "FORWARD", "VJP", "apply", "unbroadcast", "toposort", "backward", "evaluate",
    "FREED_GRAPH", "ARITY", "BINARY", "UNARY", "ELEMENTWISE", "REDUCE", "NORMALIZE",
    "MOVEMENT", "VARIADIC", "KINKED", "AT_POINT", "Program",
]
