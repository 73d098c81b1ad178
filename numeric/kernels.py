"""Forward kernels: ``FORWARD[op](*values, **attrs) -> ndarray``, one line per op.

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

from typing import Any, Callable

import numpy as np

from numeric.ops import Op

_a = np.asarray


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """Normalise ``axis`` (None, int or tuple, possibly negative) to a sorted tuple."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    return tuple(sorted(int(a) % ndim if ndim else int(a) for a in axis))


def _count(shape: tuple[int, ...], axis: Any) -> int:
    """How many elements a reduction over ``axis`` combines into one."""
    n = 1
    for a in _axes(axis, len(shape)):
        n *= shape[a]
    return n


def _floats(x: Any) -> np.ndarray:
    """``x`` as an array; integers and bools become float64 (exp/log need floats)."""
    x = _a(x)
    return x.astype(np.float64) if x.dtype.kind in "biu" else x


def _shift(x: np.ndarray, axis: Any) -> np.ndarray:
    """The max along ``axis`` (kept), or 0 where that max is not finite.

    Subtracting it makes ``exp`` safe; replacing -inf (an all -inf slice) and
    +inf by 0 avoids ``inf - inf = nan`` in the shifted values.
    """
    m = np.maximum.reduce(x, axis=axis, keepdims=True, initial=-np.inf)
    return np.where(np.isfinite(m), m, 0)


def sigmoid(x: Any) -> np.ndarray:
    """Logistic function, finite for every finite input.

    >>> sigmoid(np.float32([-30, 0, 30]))
    array([9.357623e-14, 5.000000e-01, 1.000000e+00], dtype=float32)
    """
    x = _a(x)
    e = np.exp(-np.abs(x))          # in (0, 1]: never overflows
    return _a(np.where(x >= 0, 1, e) / (1 + e))


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """``log(sum(exp(x), axis))`` computed with a max shift.

    Rows of -inf give -inf; an empty axis gives -inf.

    >>> logsumexp(np.array([[1e4, 1e4], [-np.inf, -np.inf]]), axis=(1,))
    array([10000.69314718,           -inf])
    """
    x = _floats(x)
    m = _shift(x, axis)
    with np.errstate(divide="ignore"):      # log(0) = -inf is the right answer
        s = np.log(np.add.reduce(np.exp(x - m), axis=axis, keepdims=True)) + m
    return s if keepdims else s.squeeze(axis=axis)


def softmax(x: Any, axis: int = -1) -> np.ndarray:
    """``exp(x) / sum(exp(x))`` along ``axis``, with a max shift.

    >>> softmax(np.array([1e4, 1e4, -1e4]), axis=0)
    array([0.5, 0.5, 0. ])
    """
    x = _floats(x)
    e = np.exp(x - _shift(x, axis))
    return e / np.add.reduce(e, axis=axis, keepdims=True)


def log_softmax(x: Any, axis: int = -1) -> np.ndarray:
    """``x - logsumexp(x)`` along ``axis``.

    >>> log_softmax(np.array([0.0, 1e4]), axis=0)
    array([-10000.,      0.])
    """
    x = _floats(x)
    return x - logsumexp(x, axis=(axis,), keepdims=True)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """Mean over ``axis`` keeping float32 as float32 (integers give float64).

    >>> mean(np.float32([[1, 2], [3, 4]]), axis=(0,))
    array([2., 3.], dtype=float32)
    """
    x = _a(x)
    return _a(np.add.reduce(x, axis=axis, keepdims=keepdims) / _count(x.shape, axis))


def clamp(x: Any, min: Any = None, max: Any = None) -> np.ndarray:  # noqa: A002
    """Clip to ``[min, max]``; either bound may be None.  NaN stays NaN.

    As in PyTorch, ``min > max`` sets every element to ``max``.

    >>> clamp(np.array([-2.0, 0.5, 3.0]), min=0.0)
    array([0. , 0.5, 3. ])
    """
    x = _a(x)
    if min is not None:
        x = np.maximum(x, min)
    if max is not None:
        x = np.minimum(x, max)
    return _a(x)


def _is_basic(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer))
               for p in parts)


def scatter_add(x: Any, shape: tuple[int, ...], index: Any) -> np.ndarray:
    """Zeros of ``shape`` with ``x`` added at ``index``; repeated indices add up.

    The adjoint of ``x[index]``.

    >>> scatter_add(np.array([1.0, 2.0, 3.0]), shape=(2,), index=(np.array([0, 1, 0]),))
    array([4., 2.])
    """
    x = _a(x)
    out = np.zeros(shape, dtype=x.dtype)
    if _is_basic(index):
        out[index] += x               # a basic index cannot repeat an element
    else:
        np.add.at(out, index, x)
    return out


#: Op -> forward kernel ``kernel(*values, **attrs) -> ndarray``.
FORWARD: dict[Op, Callable[..., np.ndarray]] = {
    Op.ADD: lambda x, y: _a(np.add(x, y)),
    Op.SUB: lambda x, y: _a(np.subtract(x, y)),
    Op.MUL: lambda x, y: _a(np.multiply(x, y)),
    Op.DIV: lambda x, y: _a(np.true_divide(x, y)),
    Op.POW: lambda x, y: _a(np.power(x, y)),
    Op.MAXIMUM: lambda x, y: _a(np.maximum(x, y)),
    Op.MINIMUM: lambda x, y: _a(np.minimum(x, y)),
    Op.NEG: lambda x: _a(np.negative(x)),
    Op.EXP: lambda x: _a(np.exp(x)),
    Op.LOG: lambda x: _a(np.log(x)),
    Op.LOG1P: lambda x: _a(np.log1p(x)),
    Op.EXPM1: lambda x: _a(np.expm1(x)),
    Op.SQRT: lambda x: _a(np.sqrt(x)),
    Op.SIN: lambda x: _a(np.sin(x)),
    Op.COS: lambda x: _a(np.cos(x)),
    Op.TAN: lambda x: _a(np.tan(x)),
    Op.TANH: lambda x: _a(np.tanh(x)),
    Op.SIGMOID: sigmoid,
    Op.SOFTPLUS: lambda x: _a(np.logaddexp(0, x)),
    Op.RELU: lambda x: _a(np.maximum(x, 0)),
    Op.ABS: lambda x: _a(np.abs(x)),
    Op.CLAMP: clamp,
    Op.CAST: lambda x, dtype: _a(x).astype(dtype, copy=False),
    Op.WHERE: lambda c, x, y: _a(np.where(c, x, y)),
    Op.MATMUL: lambda x, y: _a(np.matmul(x, y)),
    Op.SUM: lambda x, axis=None, keepdims=False: _a(np.add.reduce(x, axis=axis, keepdims=keepdims)),
    Op.MEAN: mean,
    Op.MAX: lambda x, axis=None, keepdims=False: _a(np.maximum.reduce(x, axis=axis, keepdims=keepdims)),
    Op.MIN: lambda x, axis=None, keepdims=False: _a(np.minimum.reduce(x, axis=axis, keepdims=keepdims)),
    Op.LOGSUMEXP: logsumexp,
    Op.SOFTMAX: softmax,
    Op.LOG_SOFTMAX: log_softmax,
    Op.RESHAPE: lambda x, shape: _a(x).reshape(shape),
    Op.PERMUTE: lambda x, axes: _a(x).transpose(axes),
    Op.BROADCAST_TO: lambda x, shape: np.broadcast_to(x, shape),
    Op.GETITEM: lambda x, index: _a(_a(x)[index]),
    Op.SCATTER_ADD: scatter_add,
    Op.CONCAT: lambda *xs, axis=0: np.concatenate(xs, axis=axis),
    Op.STACK: lambda *xs, axis=0: np.stack(xs, axis=axis),
}


def apply(op: Any, *xs: Any, **attrs: Any) -> Any:
    """Run ``op`` on ``xs``: numpy kernels for arrays, else the inputs' own protocol.

    If every input is a plain ndarray or number, this is ``FORWARD[op](*xs, **attrs)``.
    Otherwise the first input whose type defines ``__numeric_apply__(op, xs, attrs)``
    handles it (symgrad's ``Tensor`` does, which is how VJPs written with ``apply``
    record differentiable graphs); returning ``NotImplemented`` passes to the next.

    >>> apply(Op.MUL, np.float32([1, 2]), np.float32(3))
    array([3., 6.], dtype=float32)
    """
    for x in xs:
        hook = getattr(type(x), "__numeric_apply__", None)
        if hook is not None:
            break
    else:
        return FORWARD[op](*xs, **attrs)
    for x in xs:
        hook = getattr(type(x), "__numeric_apply__", None)
        if hook is not None:
            result = hook(x, op, xs, attrs)
            if result is not NotImplemented:
                return result
    names = ", ".join(type(x).__name__ for x in xs)
    raise TypeError(f"apply({op!r}): no input handled the op (input types: {names}); "
                    "pass numpy arrays or objects implementing __numeric_apply__")
