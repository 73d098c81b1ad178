"""Forward kernels: ``FORWARD[op](*values, **attrs) -> ndarray``, derived from the rules.

Each kernel is declared with its op in :mod:`numeric.rules`; ``FORWARD`` is the
plain dict view the executor indexes.

Every kernel takes numpy arrays (or Python numbers) and returns an ``ndarray``
(0-d results are arrays too, never numpy scalars).  Dtypes follow numpy's
promotion rules (NEP 50): float32 inputs give float32 outputs; no kernel
introduces a float64 constant.  Op parameters are passed as keywords, exactly
as listed in :mod:`numeric.ops`.

Note [Stable kernels]
    ``sigmoid``, ``softplus``, ``logsumexp``, ``softmax`` and ``log_softmax``
    are fused primitives rather than compositions because the naive formulas
    overflow: ``1 / (1 + exp(-x))`` at ``x = -1e4``, ``log(1 + exp(x))`` at
    ``x = 1e4``, ``log(sum(exp(x)))`` for any large ``x``.  The fused kernels
    are finite wherever the mathematical value is.

>>> import numpy as np
>>> FORWARD[Op.ADD](np.float32([1, 2]), np.float32(3)).dtype
dtype('float32')
>>> FORWARD[Op.SIGMOID](np.array([-1e4, 0.0, 1e4]))
array([0. , 0.5, 1. ])
"""
from __future__ import annotations

from numeric.rules import FORWARD
from numeric.rules.core import apply, axes_of as _axes, count as _count, floats as _floats
from numeric.rules.elementwise import clamp, sigmoid
from numeric.rules.movement import scatter_add
from numeric.rules.nn import log_softmax, softmax
from numeric.rules.reduce import logsumexp, mean
from numeric.ops import Op

__all__ = ["FORWARD", "apply", "sigmoid", "clamp", "logsumexp", "mean", "softmax",
           "log_softmax", "scatter_add", "Op", "_axes", "_count", "_floats"]
