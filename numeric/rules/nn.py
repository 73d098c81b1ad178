"""Normalisations along one axis (``axis``: a non-negative int): softmax, log_softmax.

Fused for stability (Note [Stable kernels] in numeric/kernels.py).

>>> softmax(np.array([1e4, 1e4, -1e4]), axis=0)
array([0.5, 0.5, 0. ])
"""
from __future__ import annotations

from typing import Any

import numpy as np

from numeric.rules.core import FLOAT, declare, floats
from numeric.rules.reduce import logsumexp, shift


def softmax(x: Any, axis: int = -1) -> np.ndarray:
    """``exp(x) / sum(exp(x))`` along ``axis``, with a max shift."""
    x = floats(x)
    e = np.exp(x - shift(x, axis))
    return e / np.add.reduce(e, axis=axis, keepdims=True)


def log_softmax(x: Any, axis: int = -1) -> np.ndarray:
    """``x - logsumexp(x)`` along ``axis``.

    >>> log_softmax(np.array([0.0, 1e4]), axis=0)
    array([-10000.,      0.])
    """
    x = floats(x)
    return x - logsumexp(x, axis=(axis,), keepdims=True)


def _same_shape(shapes, attrs):
    return tuple(shapes[0])


SOFTMAX = declare("softmax", softmax,
                  (lambda g, out, x, *, axis=-1:
                   out * (g - np.sum(g * out, axis=(axis,), keepdims=True)),),
                  group="normalize", arity=1, shape=_same_shape, dtype=FLOAT, sg="softmax",
                  parse=True, doc="``exp(x) / sum(exp(x))`` along ``dim``.")
LOG_SOFTMAX = declare("log_softmax", log_softmax,
                      (lambda g, out, x, *, axis=-1:
                       g - np.exp(out) * np.sum(g, axis=(axis,), keepdims=True),),
                      group="normalize", arity=1, shape=_same_shape, dtype=FLOAT,
                      sg="log_softmax", parse=True, doc="``x - logsumexp(x)`` along ``dim``.")
