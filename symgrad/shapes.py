"""Shape and dtype rules for symbolic tensors (dims may be ints or strings).

Eager tensors get their shape from the computed value; symbolic tensors (built
from :func:`symgrad.symbol`) have none, so each op's result shape is derived by
the op's rule.  The rules live with the ops in :mod:`numeric.rules` (one
declaration per op) and the helpers in :mod:`numeric.shapes`; this module keeps
the names symgrad code and users import.  Errors are ``sg.ShapeError``.

>>> broadcast_shapes(("N", 1), (3,))
('N', 3)
>>> infer_shape(Op.MATMUL, [("N", "d"), ("d",)], {})
('N',)
"""
from __future__ import annotations

from numeric.ops import Op
from numeric.rules import infer_shape, result_dtype
from numeric.shapes import (
    Dim, broadcast_shapes, broadcast_to_shape, concat_shape, fmt, getitem_shape, matmul_shape,
    reduce_shape, reshape_shape, stack_shape,
)

__all__ = [
    "fmt", "broadcast_shapes", "matmul_shape", "reduce_shape", "reshape_shape",
    "getitem_shape", "concat_shape", "stack_shape", "broadcast_to_shape", "infer_shape",
    "result_dtype", "Dim", "Op",
]
