"""The op vocabulary: one ``Op`` enum, the bottom layer of symgrad.

``Op`` and the category sets are built from the op declarations in
:mod:`numeric.rules` (one per op: kernel, VJP, shape and dtype rule, PyTorch
names); this module is their stable home.  Every other table in the project is
keyed by ``Op``: numeric's ``FORWARD`` and ``VJP`` (derived from the rules),
symgrad's ``TO_SYMPY`` (exact local forms) and verify's ``OP_DB`` (sample inputs
and domains).  A test asserts that each table covers exactly these members.

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
MSE_LOSS, L1_LOSS, ...          (losses, numeric/rules/losses.py) ``reduction``:
                                ``"none"``, ``"mean"``, ``"sum"`` (KL_DIV also
                                ``"batchmean"``); ``beta``, ``delta``,
                                ``log_target``, ``ignore_index``,
                                ``label_smoothing`` as PyTorch's arguments
COSINE_SIMILARITY               ``dim``: int (non-negative), ``eps``: float
==============================  =============================================

>>> Op.MUL in BINARY, Op.EXP in UNARY, Op.SUM in REDUCE
(True, True, True)
>>> Op("concatenate") is Op.CONCATENATE is Op.CONCAT, Op("transpose") is Op.PERMUTE
(True, True)
"""
from __future__ import annotations

from numeric.rules import (
    ARITY, AT_POINT, BINARY, ELEMENTWISE, KINKED, MOVEMENT, NORMALIZE, REDUCE, RULE, UNARY, VARIADIC, Op,
)

__all__ = ["Op", "RULE", "ARITY", "BINARY", "UNARY", "ELEMENTWISE", "REDUCE", "NORMALIZE",
           "MOVEMENT", "VARIADIC", "KINKED", "AT_POINT"]
