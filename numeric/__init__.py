"""numeric: the numpy reverse-mode engine under symgrad (numpy only).

``Op`` is the op vocabulary, built from one declaration per op in
:mod:`numeric.rules` (``RULE[op]``: kernel, VJP, shape/dtype rule, PyTorch
names); ``FORWARD`` and ``VJP`` are the two tables derived from it;
``backward`` and ``evaluate`` walk any graph of node objects (see
docs/architecture.md "The node protocol").

>>> import numpy as np, numeric
>>> numeric.apply(numeric.Op.EXP, np.zeros(2))
array([1., 1.])
"""
from numeric.executor import FREED_GRAPH, backward, evaluate
from numeric.graph import toposort
from numeric.kernels import FORWARD, apply
from numeric.ops import (
    ARITY, BINARY, ELEMENTWISE, KINKED, MOVEMENT, NORMALIZE, REDUCE, RULE, UNARY, VARIADIC, Op,
)
from numeric.vjps import VJP, unbroadcast
from numeric.compile import Program

__all__ = [
    "Op", "RULE", "FORWARD", "VJP", "apply", "unbroadcast", "toposort", "backward", "evaluate",
    "FREED_GRAPH", "ARITY", "BINARY", "UNARY", "ELEMENTWISE", "REDUCE", "NORMALIZE",
    "MOVEMENT", "VARIADIC", "KINKED", "Program",
]
