"""numpy protocols on Tensor: ufuncs, array functions and ``numeric.apply``.

numeric's VJPs are written with numpy operators, ufuncs and array functions
only (see Note [The VJP vocabulary] in numeric/vjps.py).  Implementing
``__array_ufunc__``, ``__array_function__`` and ``__numeric_apply__`` makes the
same VJP code, given Tensors, build a differentiable graph: that is
``create_graph=True``.  Gradient-free numpy calls (comparisons, ``np.sign``,
``np.isfinite``, or any function when no input requires grad) are computed on
the values and return constant tensors.  A numpy function with no Tensor
mapping raises a ``TypeError`` if an input requires grad (the graph would be
silently cut otherwise).

>>> import symgrad as sg
>>> x = sg.tensor([1.0, 2.0], requires_grad=True)
>>> np.sum(np.exp(x) * 2).grad_fn.name()
'SumBackward'
>>> np.sign(x - 1.5)
tensor([-1.,  1.])
"""
from __future__ import annotations

from typing import Any

import numpy as np

from numeric.ops import Op
from symgrad import tensor_ops as T
from symgrad.tensor import VALUE_READS, Tensor, _apply, _node, compare, const

_UNARY = {
    np.negative: T.neg, np.exp: T.exp, np.log: T.log, np.log1p: T.log1p, np.expm1: T.expm1,
    np.sqrt: T.sqrt, np.sin: T.sin, np.cos: T.cos, np.tan: T.tan, np.tanh: T.tanh,
    np.absolute: T.abs, np.positive: lambda x: x,
    np.square: lambda x: T.mul(x, x), np.reciprocal: lambda x: T.div(1, x),
}
_BINARY = {
    np.add: T.add, np.subtract: T.sub, np.multiply: T.mul, np.true_divide: T.div,
    np.power: T.pow, np.float_power: T.pow, np.matmul: T.matmul, np.maximum: T.maximum,
    np.minimum: T.minimum,
}
_NO_GRAD = {
    np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal,
    np.logical_and, np.logical_or, np.logical_xor, np.logical_not, np.sign, np.isfinite,
    np.isnan, np.isinf, np.floor, np.ceil, np.rint, np.trunc, np.signbit,
}


def _values(x: Any) -> Any:
    if isinstance(x, Tensor):
        return x._need_value("a numpy function")
    if isinstance(x, (list, tuple)):
        return type(x)(_values(i) for i in x)
    return x


def _needs_grad(args: Any) -> bool:
    for a in args:
        if isinstance(a, Tensor) and a.requires_grad:
            return True
        if isinstance(a, (list, tuple)) and _needs_grad(a):
            return True
    return False


def _wrap(result: Any) -> Any:
    if isinstance(result, tuple):
        return tuple(_wrap(r) for r in result)
    if isinstance(result, (np.ndarray, np.generic)) and result.dtype.kind in "fiub":
        return _node(np.asarray(result), None, (), {}, False)
    return result


def array_ufunc(self: Tensor, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
    """Map numpy ufunc calls on Tensors to Tensor ops (see the module docstring)."""
    if method != "__call__" or kwargs.get("out") is not None or \
            any(k not in ("dtype", "casting") for k in kwargs):
        if _needs_grad(inputs):
            return NotImplemented
        return _wrap(getattr(ufunc, method)(*_values(inputs), **kwargs))
    if ufunc in _NO_GRAD:
        if len(inputs) == 1:
            if VALUE_READS.ufunc is not None:   # --- issue 13: compile
                return VALUE_READS.ufunc(ufunc, inputs[0])
            return _node(np.asarray(ufunc(_values(inputs[0]))), None, (), {}, False)
        return compare(ufunc, *inputs)
    fn = _UNARY.get(ufunc) if len(inputs) == 1 else _BINARY.get(ufunc)
    if fn is None:
        if _needs_grad(inputs):
            raise TypeError(f"np.{ufunc.__name__} has no differentiable symgrad equivalent; "
                            "use symgrad ops on tensors that require grad")
        return _wrap(ufunc(*_values(inputs), **kwargs))
    out = fn(*inputs)
    dtype = kwargs.get("dtype")
    return out if dtype is None else out.to(np.dtype(dtype))


def _sum(a: Any, axis: Any = None, dtype: Any = None, out: Any = None,
         keepdims: bool = False, **kw: Any) -> Tensor:
    return T.sum(a, axis, keepdims, dtype=dtype)


def _mean(a: Any, axis: Any = None, dtype: Any = None, out: Any = None,
          keepdims: bool = False, **kw: Any) -> Tensor:
    return T.mean(a, axis, keepdims)


def _reshape(a: Any, *args: Any, **kw: Any) -> Tensor:
    shape = args[0] if args else kw.get("shape", kw.get("newshape"))
    return T.reshape(a, tuple(shape) if isinstance(shape, (tuple, list)) else (shape,))


def _transpose(a: Any, axes: Any = None) -> Tensor:
    t = a if isinstance(a, Tensor) else const(a)
    return T.permute(t, tuple(range(t.ndim))[::-1] if axes is None else tuple(axes))


def _moveaxis(a: Tensor, source: Any, destination: Any) -> Tensor:
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    n = a.ndim
    src, dst = [s % n for s in src], [d % n for d in dst]
    order = [i for i in range(n) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return T.permute(a, tuple(order))


def _expand_dims(a: Any, axis: Any) -> Tensor:
    t = a if isinstance(a, Tensor) else const(a)
    axs = (axis,) if isinstance(axis, int) else tuple(axis)
    nd = t.ndim + len(axs)
    axs = sorted(x % nd for x in axs)
    shape = list(t.shape)
    for x in axs:
        shape.insert(x, 1)
    return _apply(Op.RESHAPE, (t,), {"shape": tuple(shape)})


def _where(condition: Any, x: Any = None, y: Any = None) -> Any:
    if x is None and y is None:
        return _wrap(np.where(_values(condition)))
    return T.where(condition, x, y)


def _like(fill: float) -> Any:
    def fn(a: Any, dtype: Any = None, order: Any = None, subok: Any = True,
           shape: Any = None, **kw: Any) -> Tensor:
        v = _values(a)
        return _node(np.full(np.shape(v) if shape is None else shape, fill,
                             dtype=np.asarray(v).dtype if dtype is None else dtype),
                     None, (), {}, False)
    return fn


def _full_like(a: Any, fill_value: Any, dtype: Any = None, **kw: Any) -> Tensor:
    v = _values(a)
    return _node(np.full(np.shape(v), fill_value, dtype=v.dtype if dtype is None else dtype),
                 None, (), {}, False)


_FUNCTIONS = {
    np.sum: _sum, np.mean: _mean,
    np.max: lambda a, axis=None, out=None, keepdims=False, **kw: T.amax(a, axis, keepdims),
    np.min: lambda a, axis=None, out=None, keepdims=False, **kw: T.amin(a, axis, keepdims),
    np.reshape: _reshape, np.transpose: _transpose,
    np.swapaxes: lambda a, axis1, axis2: T.transpose(a, axis1, axis2),
    np.moveaxis: _moveaxis,
    np.broadcast_to: lambda array, shape, subok=False: T.broadcast_to(array, tuple(shape)),
    np.where: _where, np.zeros_like: _like(0), np.ones_like: _like(1),
    np.empty_like: _like(0), np.full_like: _full_like,
    np.expand_dims: _expand_dims,
    np.squeeze: lambda a, axis=None: T.squeeze(a, axis),
    np.concatenate: lambda arrays, axis=0, **kw: T.cat(arrays, axis),
    np.stack: lambda arrays, axis=0, **kw: T.stack(arrays, axis),
    np.matmul: T.matmul, np.dot: T.matmul,
    np.maximum: T.maximum, np.minimum: T.minimum,
    np.shape: lambda a: a.shape, np.ndim: lambda a: a.ndim, np.size: lambda a, axis=None:
        a.numel() if axis is None else a.shape[axis],
    np.result_type: lambda *args: np.result_type(
        *[a.dtype if isinstance(a, Tensor) else a for a in args]),
    np.clip: lambda a, a_min=None, a_max=None, **kw: T.clamp(a, a_min, a_max),
}


def array_function(self: Tensor, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
    """Map numpy array functions on Tensors to Tensor ops (see the module docstring)."""
    fn = _FUNCTIONS.get(func)
    if fn is not None:
        return fn(*args, **kwargs)
    if _needs_grad(args) or _needs_grad(tuple(kwargs.values())):
        raise TypeError(f"np.{func.__name__} has no differentiable symgrad equivalent; use "
                        "symgrad ops (or .detach() the tensors if no gradient is needed)")
    return _wrap(func(*_values(args), **{k: _values(v) for k, v in kwargs.items()}))


def numeric_apply(self: Tensor, op: Op, xs: tuple, attrs: dict) -> Tensor:
    """``numeric.apply(op, *xs, **attrs)`` on Tensors: record the op in the graph."""
    like = next(x for x in xs if isinstance(x, Tensor))
    return _apply(op, tuple(const(x, like) for x in xs), dict(attrs))


Tensor.__array_ufunc__ = array_ufunc
Tensor.__array_function__ = array_function
Tensor.__numeric_apply__ = numeric_apply

__all__ = ["array_ufunc", "array_function", "numeric_apply"]
