"""The op vocabulary: one ``Op`` enum, the bottom layer of symgrad.

Every other table in the project is keyed by ``Op``: numeric's ``FORWARD`` and
``VJP`` (numpy kernels and hand-written vector-Jacobian products), symgrad's
``TO_SYMPY`` (exact local forms) and verify's ``OP_DB`` (sample inputs and
domains).  A test asserts that each table covers exactly these members.

A graph node, for numeric, is any object with four attributes:

``op``      an ``Op`` member, or ``None`` for a leaf;
``inputs``  a tuple of nodes (empty for a leaf);
``attrs``   a dict of the op's static parameters (listed below), passed to the
            kernel and the VJP as keyword arguments;
``value``   the node's numpy array (its forward result).

Op parameters (``attrs``):

==============================  =============================================
op                              attrs
==============================  =============================================
SUM, MEAN, MAX, MIN,            ``axis``: tuple of non-negative ints, or None
LOGSUMEXP                       for all axes; ``keepdims``: bool
SOFTMAX, LOG_SOFTMAX            ``axis``: int (non-negative)
CLAMP                           ``min``, ``max``: float or None
RESHAPE, BROADCAST_TO           ``shape``: tuple of ints
PERMUTE                         ``axes``: tuple of ints (a permutation)
GETITEM                         ``index``: a normalised numpy index (tuple of
                                slices, ints, None, Ellipsis, int or bool
                                arrays)
SCATTER_ADD                     ``shape``: tuple, ``index``: as GETITEM.  The
                                adjoint of GETITEM: zeros of ``shape`` with
                                the input added at ``index`` (repeats add up)
CONCAT, STACK                   ``axis``: int (non-negative for CONCAT;
                                in ``range(ndim + 1)`` for STACK)
CAST                            ``dtype``: a numpy dtype
==============================  =============================================

>>> Op.MUL in BINARY, Op.EXP in UNARY, Op.SUM in REDUCE
(True, True, True)
>>> Op("concatenate") is Op.CONCATENATE is Op.CONCAT, Op("transpose") is Op.PERMUTE
(True, True)
"""
from __future__ import annotations

import enum


class Op(enum.Enum):
    """Every primitive operation of the expression graph."""

    # binary elementwise (numpy broadcasting)
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"
    POW = "pow"
    MAXIMUM = "maximum"
    MINIMUM = "minimum"
    # unary elementwise
    NEG = "neg"
    EXP = "exp"
    LOG = "log"
    LOG1P = "log1p"
    EXPM1 = "expm1"
    SQRT = "sqrt"
    SIN = "sin"
    COS = "cos"
    TAN = "tan"
    TANH = "tanh"
    SIGMOID = "sigmoid"
    SOFTPLUS = "softplus"
    RELU = "relu"
    ABS = "abs"
    CLAMP = "clamp"
    CAST = "cast"
    # ternary elementwise: where(cond, x, y); cond gets no gradient
    WHERE = "where"
    # linear algebra
    MATMUL = "matmul"
    # reductions
    SUM = "sum"
    MEAN = "mean"
    MAX = "max"
    MIN = "min"
    LOGSUMEXP = "logsumexp"
    # normalisations along one axis
    SOFTMAX = "softmax"
    LOG_SOFTMAX = "log_softmax"
    # movement
    RESHAPE = "reshape"
    PERMUTE = "permute"
    BROADCAST_TO = "broadcast_to"
    GETITEM = "getitem"
    SCATTER_ADD = "scatter_add"
    CONCAT = "concat"
    STACK = "stack"

    # aliases under the and numpy's spellings (same members, not new ops)
    CONCATENATE = "concat"
    TRANSPOSE = "permute"

    @classmethod
    def _missing_(cls, value: object) -> "Op | None":
        """``Op("concatenate")``, ``Op("MUL")``: look names and aliases up too."""
        if isinstance(value, str):
            return cls.__members__.get(value.upper())
        return None

    def __repr__(self) -> str:
        return f"Op.{self.name}"

    # Members are singletons compared by identity, so identity hashing is exact;
    # Enum's default hashes the name in Python code, which doubles the cost of
    # every ``FORWARD[op]`` / ``VJP[op]`` lookup on the executor's hot path.
    __hash__ = object.__hash__


BINARY = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.POW, Op.MAXIMUM, Op.MINIMUM})
UNARY = frozenset({
    Op.NEG, Op.EXP, Op.LOG, Op.LOG1P, Op.EXPM1, Op.SQRT, Op.SIN, Op.COS, Op.TAN,
    Op.TANH, Op.SIGMOID, Op.SOFTPLUS, Op.RELU, Op.ABS, Op.CLAMP, Op.CAST,
})
ELEMENTWISE = BINARY | UNARY | {Op.WHERE}
REDUCE = frozenset({Op.SUM, Op.MEAN, Op.MAX, Op.MIN, Op.LOGSUMEXP})
NORMALIZE = frozenset({Op.SOFTMAX, Op.LOG_SOFTMAX})
MOVEMENT = frozenset({
    Op.RESHAPE, Op.PERMUTE, Op.BROADCAST_TO, Op.GETITEM, Op.SCATTER_ADD,
    Op.CONCAT, Op.STACK,
})
VARIADIC = frozenset({Op.CONCAT, Op.STACK})
#: ops whose derivative has a kink somewhere in the domain (conventions in docs/)
KINKED = frozenset({Op.RELU, Op.ABS, Op.MAXIMUM, Op.MINIMUM, Op.CLAMP, Op.MAX, Op.MIN})

ARITY = {op: 2 for op in BINARY} | {op: 1 for op in UNARY | REDUCE | NORMALIZE | MOVEMENT}
ARITY |= {Op.WHERE: 3, Op.MATMUL: 2, Op.CONCAT: None, Op.STACK: None}
