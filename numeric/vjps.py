"""Hand-written vector-Jacobian products: ``VJP[op]``, one tuple per op.

``VJP[op][i](g, out, *inputs, **attrs)`` is the cotangent of input ``i`` given
the cotangent ``g`` of the op's output ``out``.  ``None`` in a tuple means that
input never gets a gradient (the condition of ``WHERE``).  The variadic ops
``CONCAT`` and ``STACK`` have a 1-tuple whose callable also receives
``argnum=i``.

Rules are written as if shapes matched (Note [Broadcast cotangents]): the
executor reduces each cotangent to its input's shape and dtype in one place,
:func:`unbroadcast`.

Note [The VJP vocabulary]
    So that symgrad's ``Tensor`` can run these very functions to build
    differentiable graphs (``create_graph=True``), VJPs use only:

    * operators ``+ - * / ** @``, unary ``-``, comparisons ``> >= < <= ==``;
    * ufuncs ``np.exp``, ``np.log``, ``np.cos``, ``np.sin``, ``np.expm1``,
      ``np.sign``;
    * array functions ``np.sum`` (with ``axis`` tuple and ``keepdims``),
      ``np.reshape``, ``np.transpose``, ``np.swapaxes``, ``np.broadcast_to``,
      ``np.where``, ``np.ones_like``, ``np.zeros_like``, ``np.expand_dims``;
    * indexing ``g[index]`` and ``numeric.apply(Op.SCATTER_ADD, g, shape=, index=)``;
      :func:`unbroadcast` also uses ``apply(Op.CAST, g, dtype=)``;
    * attributes ``.shape``, ``.ndim`` and ``.dtype`` of ``g``, ``out`` and inputs.

    Masks are multiplied in (``g * (x > 0)``: a float times a bool keeps the
    float's dtype) or selected with ``np.where(mask, a, 0)``.  No in-place
    mutation, no ``astype``, no Python-float promotion of float32 (NEP 50 keeps
    Python scalars weak).

Note [Kink conventions]  (PyTorch's; see docs/conventions.md)
    relu'(0) = 0; abs'(0) = sign(0) = 0; clamp passes the gradient where
    ``min <= x <= max`` (bounds inclusive); maximum/minimum give each input half
    the gradient at a tie; max/min reductions split the gradient evenly among
    tied extrema; ``d(x**y)/dx`` is 0 where ``y == 0``; ``d(x**y)/dy`` is 0 where
    ``x == 0`` and ``y >= 0``.

>>> import numpy as np
>>> VJP[Op.MUL][0](np.float32([1, 1]), None, np.float32([2, 3]), np.float32([4, 5]))
array([4., 5.], dtype=float32)
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from numeric.kernels import _axes, _count, apply
from numeric.ops import Op


#: (cotangent shape, input shape) -> the axes unbroadcast sums over (a small cache:
#: eager training meets the same few shape pairs in every step)
_SUMMED: dict[tuple, tuple[int, ...]] = {}


def _summed_axes(gshape: tuple, shape: tuple) -> tuple[int, ...]:
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1)
    if len(_SUMMED) > 1024:
        _SUMMED.clear()
    _SUMMED[gshape, shape] = axes
    return axes


def unbroadcast(g: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """Reduce a cotangent to an input's ``shape`` and ``dtype``.

    Note [Broadcast cotangents]: an input of ``shape`` was broadcast to the
    output's shape, so its cotangent is the sum over the leading axes numpy
    added and over the axes where the input had size 1.  A cotangent with fewer
    elements than ``shape`` (a VJP that relied on broadcasting) is expanded.

    >>> unbroadcast(np.ones((2, 3, 4)), (3, 1), np.float32)
    array([[8.],
           [8.],
           [8.]], dtype=float32)
    """
    gshape = g.shape
    if gshape != shape:
        lead = len(gshape) - len(shape)
        if lead >= 0:
            axes = _SUMMED.get((gshape, shape))
            if axes is None:
                axes = _summed_axes(gshape, shape)
            if g.__class__ is np.ndarray:
                # Note [Tiny arrays]: np.sum's Python wrapper costs more than the
                # sum itself on the small arrays of eager training; the ufunc
                # method and ndarray.reshape skip it
                g = np.add.reduce(g, axis=axes).reshape(shape) if axes else g
            elif axes:
                g = np.reshape(np.sum(g, axis=axes), shape)
        if g.shape != shape:
            try:
                g = np.broadcast_to(g, shape)
            except ValueError:
                raise ValueError(f"cannot reduce a cotangent of shape {gshape} to an input of "
                                 f"shape {shape}: a VJP returned a wrong shape") from None
    if g.dtype != dtype:
        g = apply(Op.CAST, g, dtype=dtype)
    return g


#: below this many elements a fresh array is cheaper to make than a broadcast view
_TINY = 4096


def _kept(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """``shape`` with the reduced ``axis`` set to 1 (the keepdims shape)."""
    red = _axes(axis, len(shape))
    return tuple(1 if i in red else n for i, n in enumerate(shape))


def _expand(g: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    """A reduction's cotangent reshaped so it broadcasts against the input."""
    return g if keepdims else np.reshape(g, _kept(x.shape, axis))


def _sum(g, out, x, *, axis=None, keepdims=False):
    if g.__class__ is np.ndarray and x.size <= _TINY:   # Note [Tiny arrays]
        full = np.empty(x.shape, g.dtype)
        full[...] = g if keepdims or axis is None else np.reshape(g, _kept(x.shape, axis))
        return full
    return np.broadcast_to(_expand(g, x, axis, keepdims), x.shape)


def _mean(g, out, x, *, axis=None, keepdims=False):
    return np.broadcast_to(_expand(g, x, axis, keepdims) / _count(x.shape, axis), x.shape)


def _extremum(g, out, x, *, axis=None, keepdims=False):
    """MAX/MIN: the gradient goes to the extrema, split evenly among ties."""
    o = _expand(out, x, axis, keepdims)
    w = np.where(x == o, np.ones_like(o), np.zeros_like(o))
    return w * (_expand(g, x, axis, keepdims) / np.sum(w, axis=_axes(axis, x.ndim), keepdims=True))


def _logsumexp(g, out, x, *, axis=None, keepdims=False):
    return _expand(g, x, axis, keepdims) * np.exp(x - _expand(out, x, axis, keepdims))


def _pow_base(g, out, x, y):
    if y.__class__ is np.ndarray and y.ndim == 0:       # a constant exponent
        e = float(y)
        if e == 2.0:                    # x ** 1 is x exactly: same bits, two ops fewer
            return g * (y * x)
        if e != 0.0:
            return g * (y * x ** (y - 1))
    # d(x**y)/dx = y * x**(y-1), and 0 where y == 0 as in PyTorch: raising to 1
    # instead of -1 there avoids 0 * inf = nan at x == 0
    return g * (y * x ** np.where(y == 0, 1, y - 1))


def _pow_exponent(g, out, x, y):
    # d(x**y)/dy = x**y * log(x); at x == 0 that is 0 for y >= 0 and -inf for y < 0
    zero = x == 0
    return g * np.where(zero, np.where(y >= 0, 0, -out), out * np.log(np.where(zero, 1, x)))


def _clamp(g, out, x, *, min=None, max=None):  # noqa: A002
    if min is not None:
        g = g * (x >= min)
    if max is not None:
        g = g * (x <= max)
    return g


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


def _permute(g, out, x, *, axes):
    inverse = [0] * len(axes)
    for i, a in enumerate(axes):
        inverse[a] = i
    return np.transpose(g, tuple(inverse))


def _concat(g, out, *xs, axis=0, argnum):
    axis %= g.ndim
    start = 0
    for x in xs[:argnum]:
        start += x.shape[axis]
    stop = start + xs[argnum].shape[axis]
    return g[(slice(None),) * axis + (slice(start, stop),)]


def _stack(g, out, *xs, axis=0, argnum):
    axis %= g.ndim
    return g[(slice(None),) * axis + (argnum,)]


def _softmax(g, out, x, *, axis=-1):
    return out * (g - np.sum(g * out, axis=(axis,), keepdims=True))


def _log_softmax(g, out, x, *, axis=-1):
    return g - np.exp(out) * np.sum(g, axis=(axis,), keepdims=True)


#: Op -> one VJP per input position (see the module docstring for the contract).
VJP: dict[Op, tuple[Optional[Callable[..., Any]], ...]] = {
    Op.ADD: (lambda g, out, x, y: g, lambda g, out, x, y: g),
    Op.SUB: (lambda g, out, x, y: g, lambda g, out, x, y: -g),
    Op.MUL: (lambda g, out, x, y: g * y, lambda g, out, x, y: g * x),
    Op.DIV: (lambda g, out, x, y: g / y, lambda g, out, x, y: -g * out / y),
    Op.POW: (_pow_base, _pow_exponent),
    Op.MAXIMUM: (lambda g, out, x, y: g * (x > y) + (g * 0.5) * (x == y),
                 lambda g, out, x, y: g * (y > x) + (g * 0.5) * (x == y)),
    Op.MINIMUM: (lambda g, out, x, y: g * (x < y) + (g * 0.5) * (x == y),
                 lambda g, out, x, y: g * (y < x) + (g * 0.5) * (x == y)),
    Op.NEG: (lambda g, out, x: -g,),
    Op.EXP: (lambda g, out, x: g * out,),
    Op.LOG: (lambda g, out, x: g / x,),
    Op.LOG1P: (lambda g, out, x: g / (1 + x),),
    Op.EXPM1: (lambda g, out, x: g * (out + 1),),
    Op.SQRT: (lambda g, out, x: g / (2 * out),),
    Op.SIN: (lambda g, out, x: g * np.cos(x),),
    Op.COS: (lambda g, out, x: -g * np.sin(x),),
    Op.TAN: (lambda g, out, x: g * (1 + out * out),),
    Op.TANH: (lambda g, out, x: g * (1 - out * out),),
    Op.SIGMOID: (lambda g, out, x: g * (out * (1 - out)),),
    Op.SOFTPLUS: (lambda g, out, x: g * -np.expm1(-out),),      # sigmoid(x) = 1 - exp(-softplus(x))
    Op.RELU: (lambda g, out, x: g * (x > 0),),
    Op.ABS: (lambda g, out, x: g * np.sign(x),),
    Op.CLAMP: (_clamp,),
    Op.CAST: (lambda g, out, x, *, dtype: g,),                    # unbroadcast casts back
    Op.WHERE: (None, lambda g, out, c, x, y: np.where(c, g, 0),
               lambda g, out, c, x, y: np.where(c, 0, g)),
    Op.MATMUL: (_matmul_x, _matmul_y),
    Op.SUM: (_sum,),
    Op.MEAN: (_mean,),
    Op.MAX: (_extremum,),
    Op.MIN: (_extremum,),
    Op.LOGSUMEXP: (_logsumexp,),
    Op.SOFTMAX: (_softmax,),
    Op.LOG_SOFTMAX: (_log_softmax,),
    Op.RESHAPE: (lambda g, out, x, *, shape: np.reshape(g, x.shape),),
    Op.PERMUTE: (_permute,),
    Op.BROADCAST_TO: (lambda g, out, x, *, shape: g,),            # unbroadcast sums it back
    Op.GETITEM: (lambda g, out, x, *, index: apply(Op.SCATTER_ADD, g, shape=x.shape, index=index),),
    Op.SCATTER_ADD: (lambda g, out, x, *, shape, index: g[index],),
    Op.CONCAT: (_concat,),
    Op.STACK: (_stack,),
}
