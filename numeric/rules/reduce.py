"""Reductions over ``axis`` (tuple of non-negative ints, or None) with ``keepdims``.

>>> mean(np.float32([[1, 2], [3, 4]]), axis=(0,))
array([2., 3.], dtype=float32)
"""
from __future__ import annotations

from typing import Any

import numpy as np

from numeric.rules.core import FLOAT, PROMOTE, axes_of, count, declare, floats
from numeric.shapes import reduce_shape

_a = np.asarray


def _shape(shapes, attrs):
    return reduce_shape(shapes[0], attrs.get("axis"), attrs.get("keepdims", False))


def _reduction(name: str, kernel: Any, vjp: Any, *, dtype: Any, sg: Any, doc: str,
               kinked: bool = False) -> Any:
    return declare(name, kernel, (vjp,), group="reduce", arity=1, shape=_shape, dtype=dtype,
                   sg=sg, parse=True, kinked=kinked, doc=doc)


def shift(x: np.ndarray, axis: Any) -> np.ndarray:
    """The max along ``axis`` (kept), or 0 where that max is not finite.

    Subtracting it makes ``exp`` safe; replacing -inf (an all -inf slice) and
    +inf by 0 avoids ``inf - inf = nan`` in the shifted values.
    """
    m = np.maximum.reduce(x, axis=axis, keepdims=True, initial=-np.inf)
    return np.where(np.isfinite(m), m, 0)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """``log(sum(exp(x), axis))`` computed with a max shift (Note [Stable kernels]).

    Rows of -inf give -inf; an empty axis gives -inf.

    >>> logsumexp(np.array([[1e4, 1e4], [-np.inf, -np.inf]]), axis=(1,))
    array([10000.69314718,           -inf])
    """
    x = floats(x)
    m = shift(x, axis)
    with np.errstate(divide="ignore"):      # log(0) = -inf is the right answer
        s = np.log(np.add.reduce(np.exp(x - m), axis=axis, keepdims=True)) + m
    return s if keepdims else s.squeeze(axis=axis)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """Mean over ``axis`` keeping float32 as float32 (integers give float64)."""
    x = _a(x)
    n = count(x.shape, axis)
    if n:
        return _a(np.add.reduce(x, axis=axis, keepdims=keepdims) / n)
    with np.errstate(invalid="ignore"):     # the mean of nothing is nan, silently (PyTorch)
        return _a(np.add.reduce(x, axis=axis, keepdims=keepdims) / n)


#: below this many elements a fresh array is cheaper to make than a broadcast view
_TINY = 4096


def kept(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """``shape`` with the reduced ``axis`` set to 1 (the keepdims shape)."""
    red = axes_of(axis, len(shape))
    return tuple(1 if i in red else n for i, n in enumerate(shape))


def expand(g: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    """A reduction's cotangent reshaped so it broadcasts against the input."""
    return g if keepdims else np.reshape(g, kept(x.shape, axis))


def _sum_vjp(g, out, x, *, axis=None, keepdims=False):
    if g.__class__ is np.ndarray and x.size <= _TINY:   # Note [Tiny arrays]
        full = np.empty(x.shape, g.dtype)
        full[...] = g if keepdims or axis is None else np.reshape(g, kept(x.shape, axis))
        return full
    return np.broadcast_to(expand(g, x, axis, keepdims), x.shape)


def _mean_vjp(g, out, x, *, axis=None, keepdims=False):
    n = count(x.shape, axis) or 1     # n == 0: x is empty, so is its cotangent
    return np.broadcast_to(expand(g, x, axis, keepdims) / n, x.shape)


def _extremum_vjp(g, out, x, *, axis=None, keepdims=False):
    """MAX/MIN: the gradient goes to the extrema, split evenly among ties."""
    o = expand(out, x, axis, keepdims)
    w = np.where(x == o, np.ones_like(o), np.zeros_like(o))
    return w * (expand(g, x, axis, keepdims) / np.sum(w, axis=axes_of(axis, x.ndim),
                                                      keepdims=True))


def _logsumexp_vjp(g, out, x, *, axis=None, keepdims=False):
    return expand(g, x, axis, keepdims) * np.exp(x - expand(out, x, axis, keepdims))


SUM = _reduction(
    "sum", lambda x, axis=None, keepdims=False: _a(np.add.reduce(x, axis=axis, keepdims=keepdims)),
    _sum_vjp, dtype=PROMOTE, sg="sum", doc="Sum over ``dim`` (int, tuple, negative ok; None = all).")
MEAN = _reduction("mean", mean, _mean_vjp, dtype=FLOAT, sg="mean", doc="Mean over ``dim``.")
MAX = _reduction(
    "max", lambda x, axis=None, keepdims=False: _a(np.maximum.reduce(x, axis=axis, keepdims=keepdims)),
    _extremum_vjp, dtype=PROMOTE, sg=("max", "amax"), kinked=True,
    doc="Maximum: of all elements, or ``(values, indices)`` along an int ``dim``.")
MIN = _reduction(
    "min", lambda x, axis=None, keepdims=False: _a(np.minimum.reduce(x, axis=axis, keepdims=keepdims)),
    _extremum_vjp, dtype=PROMOTE, sg=("min", "amin"), kinked=True,
    doc="Minimum: of all elements, or ``(values, indices)`` along an int ``dim``.")
LOGSUMEXP = _reduction("logsumexp", logsumexp, _logsumexp_vjp, dtype=FLOAT, sg="logsumexp",
                       doc="``log(sum(exp(input), dim))``, computed stably.")
