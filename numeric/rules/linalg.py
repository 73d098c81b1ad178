"""Linear algebra: ``matmul`` (numpy/PyTorch rules, 1-D operands, batch broadcasting).

>>> MATMUL.kernel(np.ones((2, 3)), np.ones(3))
array([3., 3.])
"""
from __future__ import annotations

import numpy as np

from numeric.rules.core import PROMOTE, declare
from numeric.shapes import matmul_shape


# Note [1-D matmul]: numpy promotes a 1-D left operand to a row (1, k) and a
# 1-D right operand to a column (k, 1), then drops those axes from the result.
# The common cases are written directly (no expand_dims: it is slow on tiny
# arrays); batched ones restore the dropped axis of g, use the 2-D rule, and
# leave a leading axis of size 1 for unbroadcast to sum away.
def _matmul_x(g, out, x, y):
    if y.ndim == 1:
        if x.ndim == 1:
            return g * y                                # g is 0-d
        return np.expand_dims(g, -1) * y                # outer product, (..., m, k)
    if x.ndim == 1:
        if y.ndim == 2:
            return y @ g                                # (k, n) @ (n,)
        return np.expand_dims(g, -2) @ np.swapaxes(y, -1, -2)      # (..., 1, k)
    return g @ np.swapaxes(y, -1, -2)


def _matmul_y(g, out, x, y):
    if x.ndim == 1:
        if y.ndim == 1:
            return g * x
        return np.expand_dims(x, -1) * np.expand_dims(g, -2)      # outer product, (..., k, n)
    if y.ndim == 1:
        if x.ndim == 2:
            return g @ x                                # (m,) @ (m, k)
        return np.expand_dims(g, -2) @ x                # (..., 1, k)
    return np.swapaxes(x, -1, -2) @ g


MATMUL = declare("matmul", lambda x, y: np.asarray(np.matmul(x, y)), (_matmul_x, _matmul_y),
                 group="linalg", arity=2, shape=lambda shapes, attrs: matmul_shape(*shapes),
                 dtype=PROMOTE, sg="matmul", parse=True, front="generated",
                 doc="Matrix product with numpy/PyTorch rules (1-D operands, batch "
                     "broadcasting).",
                 example=("sg.matmul(sg.ones(2, 3), sg.ones(3))", "tensor([3., 3.])"))
