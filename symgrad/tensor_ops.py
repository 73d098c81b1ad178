"""Tensor operators and methods under PyTorch's names.

Every differentiable op maps to one numeric ``Op`` whose rule (numeric/rules)
names its ``sg.`` functions and Tensor methods.  Simple elementwise ops get a
generated function (Note [Generated front end]); ops with rich PyTorch
signatures (``sum(dim, keepdim, dtype)``, ``clamp(min, max)``, ``reshape``...)
are written by hand here under the names their rule declares.  ``symgrad``
exports :data:`OP_FUNCTIONS`; comparisons, ``argmax`` and friends are
not ops and return tensors without gradient.

The numpy protocols (``__array_ufunc__``, ``__array_function__``,
``__numeric_apply__``) let numeric's VJPs, written with numpy functions, run on
Tensors and record a differentiable graph: that is how ``create_graph=True``
gives higher-order derivatives.

>>> import symgrad as sg
>>> x = sg.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
>>> y = sg.softmax(x, dim=1).sum(dim=0)
>>> y.shape, y.grad_fn.name()
((2,), 'SumBackward')
>>> np.exp(x).grad_fn.name()
'ExpBackward'
"""
from __future__ import annotations

import builtins
from typing import Any, Optional, Sequence

import numpy as np

from numeric.kernels import FORWARD
from numeric.ops import Op
from numeric.rules import RULES
from symgrad import front
from symgrad.errors import ShapeError
from symgrad.tensor import (
    _GRAD, Tensor, _apply, _binary, _dim, _node, _unary, axes, compare, const, mark_modified,
    promoted, values_indices, write_,
)

_K = {op: FORWARD[op] for op in Op}
_POW, _KPOW = Op.POW, FORWARD[Op.POW]


def _t(x: Any, like: Optional[Tensor] = None) -> Tensor:
    return x if isinstance(x, Tensor) else const(x, like)


# ----------------------------------------------------------------------------- generated
# Note [Generated front end]: an elementwise op declared with front="generated" in
# numeric.rules gets its sg. function here, bound to its Op and kernel in a closure
# (no per-call lookups: as fast as a hand-written function), with the rule's doc and
# example as docstring.  Its methods and the symgrad export come from the same rule.
def _generated(rule: Any) -> Any:
    op, kernel, name = rule.op, rule.kernel, rule.sg[0]
    if rule.arity == 1:
        def fn(input: Any) -> Tensor:
            return _unary(op, kernel, _t(input))
    else:
        def fn(input: Any, other: Any) -> Tensor:
            return _binary(op, kernel, input, other)
    call, result = rule.example
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"""{rule.doc}

    >>> import symgrad as sg
    >>> {call}
    {result}
    """
    return fn


#: sg name -> generated function, for every rule with a generated front end
GENERATED: dict[str, Any] = {}
for _rule in RULES:
    if _rule.front == "generated":
        _fn = _generated(_rule)
        GENERATED.update(dict.fromkeys(_rule.sg, _fn))
globals().update(GENERATED)
_G = GENERATED


def pow(input: Any, exponent: Any) -> Tensor:  # noqa: A001
    """``input ** exponent``.

    >>> import symgrad as sg
    >>> sg.pow(sg.tensor([3.0]), 2)
    tensor([9.])
    """
    return _binary(_POW, _KPOW, input, exponent)


def clamp(input: Tensor, min: Optional[float] = None,  # noqa: A002
          max: Optional[float] = None) -> Tensor:  # noqa: A002
    """Clip values to ``[min, max]`` (either may be None).

    >>> import symgrad as sg
    >>> sg.clamp(sg.tensor([-1.0, 0.5, 2.0]), min=0, max=1)
    tensor([0.0000, 0.5000, 1.0000])
    """
    if min is None and max is None:
        raise ShapeError("clamp: at least one of 'min' or 'max' must not be None; give a "
                         "bound (or skip the clamp)")
    return _apply(Op.CLAMP, (_t(input),), {"min": None if min is None else builtins.float(min),
                                            "max": None if max is None else builtins.float(max)})


clip = clamp


def where(condition: Any, input: Any = None, other: Any = None) -> Any:
    """Elementwise ``input if condition else other`` (no gradient to ``condition``).

    With ``condition`` alone: ``nonzero(condition, as_tuple=True)``, as PyTorch.

    >>> import symgrad as sg
    >>> x = sg.tensor([-1.0, 2.0])
    >>> sg.where(x > 0, x, 0), sg.where(x > 0)
    (tensor([0., 2.]), (tensor([1]),))
    """
    if input is None and other is None:
        return front.FUNCTIONS["nonzero"](condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where() takes a condition alone, or a condition, input and other")
    like = input if isinstance(input, Tensor) else other if isinstance(other, Tensor) else None
    c = condition if isinstance(condition, Tensor) else const(np.asarray(condition, bool))
    x = _t(input, like)
    y = _t(other, x)
    if x.value is not None and y.value is not None and x.value.dtype is not y.value.dtype:
        x, y = promoted((x, y))
    return _apply(Op.WHERE, (c, x, y), {})


# ----------------------------------------------------------------------------- reductions
def _reduce(op: Op, input: Any, dim: Any, keepdim: bool) -> Tensor:
    t = _t(input)
    return _apply(op, (t,), {"axis": axes(dim, t.ndim), "keepdims": builtins.bool(keepdim)})


def sum(input: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,  # noqa: A001
        keepdims: Optional[bool] = None, dtype: Any = None) -> Tensor:
    """Sum over ``dim`` (int, tuple, negative ok; None = all).

    >>> import symgrad as sg
    >>> sg.sum(sg.tensor([[1.0, 2.0], [3.0, 4.0]]), dim=-1)
    tensor([3., 7.])
    """
    out = _reduce(Op.SUM, input, dim if axis is None else axis,
                  keepdim if keepdims is None else keepdims)
    return out if dtype is None else out.to(dtype)


def mean(input: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
         keepdims: Optional[bool] = None) -> Tensor:
    """Mean over ``dim``.

    >>> import symgrad as sg
    >>> sg.mean(sg.tensor([1.0, 2.0]))
    tensor(1.5000)
    """
    return _reduce(Op.MEAN, input, dim if axis is None else axis,
                   keepdim if keepdims is None else keepdims)


def _nonempty(name: str, t: Tensor, dim: Any, error: type = RuntimeError) -> None:
    """A reduction without identity (max, argmin...) needs elements: PyTorch's errors.

    >>> import symgrad as sg
    >>> sg.tensor([]).max()
    Traceback (most recent call last):
    ...
    RuntimeError: max(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument.
    """
    shape = t.shape
    if dim is None:
        if t.value is not None and t.value.size == 0:
            raise error(f"{name}(): Expected reduction dim to be specified for input.numel() "
                        "== 0. Specify the reduction dim with the 'dim' argument.")
        return
    for d in dim if isinstance(dim, (tuple, list)) else (dim,):
        d = _dim(d, len(shape))
        if shape and shape[d] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")


def _extremum(op: Op, arg: Any, input: Any, dim: Any, keepdim: bool) -> Any:
    if isinstance(dim, Tensor):          # torch.max(a, b) means maximum
        return _G["maximum" if op is Op.MAX else "minimum"](input, dim)
    _nonempty("max" if op is Op.MAX else "min", _t(input), dim)
    values = _reduce(op, input, dim, keepdim)
    if dim is None or isinstance(dim, (tuple, list)):
        return values
    t = _t(input)
    if t.value is None:
        return values_indices(values, None)
    d = _dim(dim, t.ndim)
    idx = arg(t.value, axis=d, keepdims=builtins.bool(keepdim)) if t.ndim else np.array(0)
    return values_indices(values, _node(np.asarray(idx, np.int64), None, (), {}, False))


def max(input: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001
    """Maximum: of all elements, or ``(values, indices)`` along an int ``dim``.

    ``max(a, b)`` with a tensor ``b`` is :func:`maximum`, as in PyTorch.

    >>> import symgrad as sg
    >>> x = sg.tensor([[1.0, 5.0], [3.0, 2.0]])
    >>> sg.max(x), sg.max(x, dim=1).indices
    (tensor(5.), tensor([1, 0]))
    """
    return _extremum(Op.MAX, np.argmax, input, dim, keepdim)


def min(input: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001
    """Minimum: of all elements, or ``(values, indices)`` along an int ``dim``.

    >>> import symgrad as sg
    >>> sg.min(sg.tensor([[1.0, 5.0], [3.0, 2.0]]), dim=0).values
    tensor([1., 2.])
    """
    return _extremum(Op.MIN, np.argmin, input, dim, keepdim)


def amax(input: Any, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Maximum over ``dim`` (values only).

    >>> import symgrad as sg
    >>> sg.amax(sg.tensor([[1.0, 5.0]]), dim=-1)
    tensor([5.])
    """
    _nonempty("amax", _t(input), dim)
    return _reduce(Op.MAX, input, dim, keepdim)


def amin(input: Any, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Minimum over ``dim`` (values only).

    >>> import symgrad as sg
    >>> sg.amin(sg.tensor([[1.0, 5.0]]), dim=-1)
    tensor([1.])
    """
    _nonempty("amin", _t(input), dim)
    return _reduce(Op.MIN, input, dim, keepdim)


def logsumexp(input: Any, dim: Any, keepdim: bool = False) -> Tensor:
    """``log(sum(exp(input), dim))``, computed stably.

    >>> import symgrad as sg
    >>> sg.logsumexp(sg.tensor([0.0, 0.0]), dim=0)
    tensor(0.6931)
    """
    return _reduce(Op.LOGSUMEXP, input, dim, keepdim)


def _normalize(op: Op, t: Tensor, dim: int) -> Tensor:
    axis = _dim(dim, t.ndim)
    if t.ndim == 0:      # a 0-d tensor is a row of one (as PyTorch): every path sees (1,)
        return reshape(_apply(op, (reshape(t, 1),), {"axis": 0}), ())
    return _apply(op, (t,), {"axis": axis})


def softmax(input: Any, dim: int) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim``.

    >>> import symgrad as sg
    >>> sg.softmax(sg.tensor([0.0, 0.0]), dim=0)
    tensor([0.5000, 0.5000])
    """
    return _normalize(Op.SOFTMAX, _t(input), dim)


def log_softmax(input: Any, dim: int) -> Tensor:
    """``x - logsumexp(x)`` along ``dim``.

    >>> import symgrad as sg
    >>> sg.log_softmax(sg.tensor([0.0, 0.0]), dim=0)
    tensor([-0.6931, -0.6931])
    """
    return _normalize(Op.LOG_SOFTMAX, _t(input), dim)


def _nograd_value(input: Any, what: str) -> np.ndarray:
    return _t(input)._need_value(what)


def argmax(input: Any, dim: Optional[int] = None, keepdim: bool = False) -> Tensor:
    """Index of the maximum (flattened if ``dim`` is None); no gradient.

    >>> import symgrad as sg
    >>> sg.argmax(sg.tensor([1.0, 3.0, 2.0]))
    tensor(1)
    """
    v = _nograd_value(input, "argmax")
    _nonempty("argmax", _t(input), dim, IndexError)
    d = None if dim is None else _dim(dim, v.ndim)
    return _node(np.asarray(np.argmax(v, axis=d, keepdims=keepdim), np.int64), None, (), {},
                 False)


def argmin(input: Any, dim: Optional[int] = None, keepdim: bool = False) -> Tensor:
    """Index of the minimum; no gradient.

    >>> import symgrad as sg
    >>> sg.argmin(sg.tensor([1.0, 3.0, 0.0]))
    tensor(2)
    """
    v = _nograd_value(input, "argmin")
    _nonempty("argmin", _t(input), dim, IndexError)
    d = None if dim is None else _dim(dim, v.ndim)
    return _node(np.asarray(np.argmin(v, axis=d, keepdims=keepdim), np.int64), None, (), {},
                 False)


def _truth(fn: Any, input: Any, dim: Any, keepdim: bool, what: str) -> Tensor:
    v = _nograd_value(input, what)
    axis = axes(dim, v.ndim)
    return _node(np.asarray(fn(v, axis=axis, keepdims=keepdim)), None, (), {}, False)


def all(input: Any, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """True where every element (along ``dim``: an int or a tuple) is nonzero; no gradient.

    >>> import symgrad as sg
    >>> sg.all(sg.tensor([1.0, 2.0]) > 0), sg.all(sg.tensor([[1, 0], [1, 1]]), dim=(0, 1))
    (tensor(True), tensor(False))
    """
    return _truth(np.all, input, dim, keepdim, "all")


def any(input: Any, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """True where some element (along ``dim``: an int or a tuple) is nonzero; no gradient.

    >>> import symgrad as sg
    >>> sg.any(sg.tensor([[True, False]]), dim=(0,))
    tensor([ True, False])
    """
    return _truth(np.any, input, dim, keepdim, "any")


def allclose(input: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> builtins.bool:
    """True if the values are elementwise close (as ``torch.allclose``).

    >>> import symgrad as sg
    >>> sg.allclose(sg.tensor([1.0]), sg.tensor([1.0 + 1e-9]))
    True
    """
    return builtins.bool(np.allclose(np.asarray(_nograd_value(input, "allclose")),
                                     np.asarray(_nograd_value(other, "allclose")),
                                     rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(input: Any, other: Any) -> builtins.bool:
    """True if both tensors have the same shape and elements.

    >>> import symgrad as sg
    >>> sg.equal(sg.tensor([1.0, 2.0]), sg.tensor([1.0, 2.0]))
    True
    """
    a, b = _nograd_value(input, "equal"), _nograd_value(other, "equal")
    return a.shape == b.shape and builtins.bool(np.array_equal(a, b))


# ----------------------------------------------------------------------------- movement
def _shape_arg(shape: Sequence[Any]) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def reshape(input: Any, *shape: Any) -> Tensor:
    """Same elements, new shape; one dim may be -1 (inferred).

    >>> import symgrad as sg
    >>> sg.reshape(sg.arange(6.0), (2, -1)).shape
    (2, 3)
    """
    t = _t(input)
    new = [builtins.int(d) if isinstance(d, (builtins.int, np.integer)) else d
           for d in _shape_arg(shape)]
    if new.count(-1) > 1:
        raise ShapeError(f"reshape: only one dim can be -1, got {tuple(new)}")
    if -1 in new:
        known = [d for d in new if d != -1]
        if not builtins.all(isinstance(d, builtins.int) for d in list(t.shape) + known):
            raise ShapeError(f"reshape: cannot infer -1 in {tuple(new)} from symbolic shape "
                             f"{t.shape}; give every dim")
        rest = builtins.int(np.prod(known))
        n = t.numel()
        if rest == 0 or n % rest:
            raise ShapeError(f"cannot reshape a tensor of shape {t.shape} ({n} elements) to "
                             f"{tuple(new)}")
        new[new.index(-1)] = n // rest
    new_t = tuple(new)
    if t.value is not None and t.value.size != builtins.int(np.prod(new_t)):
        raise ShapeError(f"cannot reshape a tensor of shape {t.shape} ({t.value.size} "
                         f"elements) to {new_t} ({builtins.int(np.prod(new_t))} elements); "
                         "the element counts must match")
    return _apply(Op.RESHAPE, (t,), {"shape": new_t})


def view(input: Any, *shape: Any) -> Tensor:
    """:func:`reshape` under PyTorch's name ``view`` (symgrad has no storage views to share).

    >>> import symgrad as sg
    >>> sg.view(sg.arange(6.0), (3, -1)).shape
    (3, 2)
    """
    return reshape(input, *shape)


def flatten(input: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` into one.

    >>> import symgrad as sg
    >>> sg.flatten(sg.zeros(2, 3, 4), 1).shape
    (2, 12)
    """
    t = _t(input)
    if t.ndim == 0:
        return reshape(t, (1,))
    s, e = _dim(start_dim, t.ndim), _dim(end_dim, t.ndim)
    shape = t.shape
    return reshape(t, shape[:s] + (-1,) + shape[e + 1:])


def permute(input: Any, *dims: Any) -> Tensor:
    """Reorder dims: ``permute(x, (1, 0))`` is the transpose of a matrix.

    >>> import symgrad as sg
    >>> sg.permute(sg.zeros(2, 3, 4), (2, 0, 1)).shape
    (4, 2, 3)
    """
    t = _t(input)
    given = _shape_arg(dims)
    if len(given) != t.ndim:
        raise ShapeError(f"permute: the tensor has {t.ndim} dims (shape {t.shape}) but "
                         f"{len(given)} were given ({given}); give one entry per dim")
    order = tuple(_dim(d, t.ndim) for d in given)
    if sorted(order) != list(range(t.ndim)):
        raise ShapeError(f"permute: {given} repeats a dim; give each of the {t.ndim} dims "
                         "of the tensor once")
    return _apply(Op.PERMUTE, (t,), {"axes": order})


def transpose(input: Any, dim0: int, dim1: int) -> Tensor:
    """Swap two dims.

    >>> import symgrad as sg
    >>> sg.transpose(sg.zeros(2, 3), 0, 1).shape
    (3, 2)
    """
    t = _t(input)
    order = list(range(t.ndim))
    a, b = _dim(dim0, t.ndim), _dim(dim1, t.ndim)
    order[a], order[b] = order[b], order[a]
    return _apply(Op.PERMUTE, (t,), {"axes": tuple(order)})


def unsqueeze(input: Any, dim: int) -> Tensor:
    """Insert a dim of size 1 at ``dim``.

    >>> import symgrad as sg
    >>> sg.unsqueeze(sg.zeros(3), -1).shape
    (3, 1)
    """
    t = _t(input)
    d = _dim(dim, t.ndim + 1)
    shape = tuple(t.shape)
    return _apply(Op.RESHAPE, (t,), {"shape": shape[:d] + (1,) + shape[d:]})


def squeeze(input: Any, dim: Any = None) -> Tensor:
    """Remove dims of size 1 (all of them, or those in ``dim``).

    >>> import symgrad as sg
    >>> sg.squeeze(sg.zeros(1, 3, 1)).shape, sg.squeeze(sg.zeros(1, 3, 1), 0).shape
    ((3,), (3, 1))
    """
    t = _t(input)
    shape = tuple(t.shape)
    drop = set(range(len(shape))) if dim is None else set(axes(dim, t.ndim) or ())
    new = tuple(d for i, d in enumerate(shape) if not (i in drop and d == 1))
    if new == shape:
        return t
    return _apply(Op.RESHAPE, (t,), {"shape": new})


def broadcast_to(input: Any, *shape: Any) -> Tensor:
    """Broadcast to ``shape`` (numpy rules; -1 keeps a dim, as ``expand``).

    >>> import symgrad as sg
    >>> sg.broadcast_to(sg.tensor([1.0, 2.0]), (2, 2))
    tensor([[1., 2.],
            [1., 2.]])
    """
    t = _t(input)
    target = _shape_arg(shape)
    own = (None,) * (len(target) - t.ndim) + tuple(t.shape)
    target = tuple(o if d == -1 else d for d, o in zip(target, own))
    if target == tuple(t.shape):
        return t
    return _apply(Op.BROADCAST_TO, (t,), {"shape": target})


def expand(input: Any, *sizes: Any) -> Tensor:
    """Broadcast to ``sizes`` (PyTorch's ``Tensor.expand``; -1 keeps a dim).

    >>> import symgrad as sg
    >>> sg.expand(sg.tensor([[1.0], [2.0]]), -1, 3).shape
    (2, 3)
    """
    return broadcast_to(input, *sizes)


def cat(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Concatenate along an existing ``dim``.

    >>> import symgrad as sg
    >>> sg.cat([sg.zeros(2), sg.ones(1)])
    tensor([0., 0., 1.])
    """
    ts = tuple(_t(x) for x in tensors)
    if not ts:
        raise ValueError("cat expects a non-empty list of tensors")
    return _apply(Op.CONCAT, ts, {"axis": _dim(dim, ts[0].ndim)})


def stack(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Stack equal-shaped tensors along a new ``dim``.

    >>> import symgrad as sg
    >>> sg.stack([sg.zeros(2), sg.ones(2)], dim=1).shape
    (2, 2)
    """
    ts = tuple(_t(x) for x in tensors)
    if not ts:
        raise ValueError("stack expects a non-empty list of tensors")
    return _apply(Op.STACK, ts, {"axis": _dim(dim, ts[0].ndim + 1)})


def normalize_index(index: Any) -> tuple:
    """A user's index as numeric's normalised GETITEM index (a tuple).

    >>> normalize_index((0, [1, 2], None))
    (0, array([1, 2]), None)
    """
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for p in parts:
        if p is None or p is Ellipsis or isinstance(p, slice):
            out.append(p)
        elif isinstance(p, (builtins.bool, np.bool_)):
            out.append(np.asarray(p))
        elif isinstance(p, (builtins.int, np.integer)):
            out.append(builtins.int(p))
        else:
            arr = p._need_value("indexing") if isinstance(p, Tensor) else np.asarray(p)
            if arr.dtype.kind in "iu":
                arr = arr.astype(np.int64, copy=False)
            elif arr.dtype.kind != "b":
                raise IndexError(f"tensors used as indices must be integer or bool, got dtype "
                                 f"{arr.dtype}")
            out.append(arr)
    return tuple(out)


def check_index(index: tuple, shape: tuple) -> None:
    """Refuse a normalised index that does not fit ``shape`` (PyTorch's IndexError).

    Names the bad index, its dim and the valid range (numpy would say "axis"
    and no range); symbolic dims (strings) are not checked.

    >>> check_index((5,), (3,))
    Traceback (most recent call last):
    ...
    IndexError: index 5 is out of bounds for dimension 0 with size 3 (valid indices: [-3, 2])
    """
    used = 0
    for p in index:
        if p is not None and p is not Ellipsis:
            used += p.ndim if isinstance(p, np.ndarray) and p.dtype.kind == "b" else 1
    if used > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)} ({used} "
                         "indexed)")
    d = 0
    for p in index:
        if p is None:
            continue
        if p is Ellipsis:
            d += len(shape) - used
            continue
        if isinstance(p, np.ndarray) and p.dtype.kind == "b":
            for k in range(p.ndim):
                n = shape[d + k]
                if isinstance(n, builtins.int) and p.shape[k] != n:
                    raise IndexError(f"The shape of the mask {list(p.shape)} at index {k} does "
                                     f"not match the shape of the indexed tensor "
                                     f"{list(shape)} at index {d + k}")
            d += p.ndim
            continue
        n = shape[d]
        if not isinstance(p, slice) and isinstance(n, builtins.int) and \
                (isinstance(p, builtins.int) or p.size):
            lo, hi = (p, p) if isinstance(p, builtins.int) else \
                (builtins.int(p.min()), builtins.int(p.max()))
            if lo < -n or hi >= n:
                bad = lo if lo < -n else hi
                allowed = f"[{-n}, {n - 1}]" if n else "none (the dim is empty)"
                raise IndexError(f"index {bad} is out of bounds for dimension {d} with size "
                                 f"{n} (valid indices: {allowed})")
        d += 1


def torch_order(index: tuple) -> Optional[tuple]:
    """Note [Ints before arrays]: PyTorch's order for an index mixing ints and arrays.

    numpy counts an int next to an index array as one more advanced index, so in
    ``t[0, :, [1, 2]]`` the two are "separated by a slice" and the indexed dim
    goes first: (2, 5, ...).  PyTorch selects with the ints first and then
    indexes, giving (5, 2, ...).  For such an index this returns the two numpy
    indexes that reproduce PyTorch (ints as a basic selection, then the rest),
    else None.

    >>> torch_order((0, slice(None), np.array([1, 2])))
    ((0, slice(None, None, None), slice(None, None, None)), (slice(None, None, None), array([1, 2])))
    """
    arrays = [p for p in index if isinstance(p, np.ndarray) and p.ndim > 0]
    ints = [p for p in index if isinstance(p, builtins.int)]
    if not arrays or not ints:
        return None
    first: list = []
    second: list = []
    for p in index:
        if isinstance(p, builtins.int):
            first.append(p)
        elif p is None:
            first.append(None)
            second.append(slice(None))
        elif p is Ellipsis:
            first.append(p)
            second.append(p)
        else:                   # a slice, an int array (one dim) or a bool mask (ndim dims)
            n = p.ndim if isinstance(p, np.ndarray) and p.dtype.kind == "b" else 1
            first.extend([slice(None)] * n)
            second.append(p)
    return tuple(first), tuple(second)


def getitem(input: Tensor, index: Any) -> Tensor:
    """``input[index]``: ints, slices, None, Ellipsis, int lists/arrays, bool masks.

    Where numpy and PyTorch order dims differently, PyTorch's order (Note [Ints
    before arrays]):

    >>> import symgrad as sg
    >>> sg.zeros(2, 5, 6, 5, 3, 4)[0, :, [1, 2]].shape
    (5, 2, 5, 3, 4)
    """
    index = normalize_index(index)
    check_index(index, input.shape)
    split = torch_order(index)
    if split is not None:
        input = _apply(Op.GETITEM, (input,), {"index": split[0]})
        index = split[1]
    return _apply(Op.GETITEM, (input,), {"index": index})


# ----------------------------------------------------------------------------- in place
def _inplace(op: Op, ufunc: Any) -> Any:
    def method(self: Tensor, other: Any) -> Tensor:
        if _GRAD.enabled and self._requires_grad:
            if self.op is None:
                raise RuntimeError(
                    "a leaf Variable that requires grad is being used in an in-place "
                    "operation; wrap the update in `with sg.no_grad():`")
            return _binary(op, _K[op], self, other)      # recorded out of place
        v = self._need_value("an in-place update")
        o = other.value if isinstance(other, Tensor) else other
        if not v.flags.writeable:
            self.value = v = v.copy()
        ufunc(v, o, out=v, casting="same_kind")
        mark_modified(self)
        return self
    method.__name__ = f"__i{op.value}__"
    return method


def zero_(self: Tensor) -> Tensor:
    """Set every element to 0 in place; returns ``self``."""
    v = self._need_value("zero_()")
    _writable(self, "zero_()", v)
    self.value[...] = 0
    mark_modified(self)
    return self


# Note [In-place methods]: ``copy_``, ``fill_``, ``add_``... write into ``self.value``
# and bump the version counter (mark_modified), so a node that recorded ``self``
# before the change refuses to run backward with the new values (PyTorch's
# "modified by an inplace operation" error).  Everything is checked before the
# first write: a refused call leaves the tensor as it was.  With grad mode on, a
# tensor that requires grad is refused (a leaf as in PyTorch; a computed tensor
# because symgrad records ops out of place: write ``y = y.add(x)``).
#: the out-of-place form named by the error for a computed tensor (others: ``y.add(...)``)
_OUT_OF_PLACE = {"copy_": "y = src.expand_as(y).clone()", "fill_": "y = sg.full(y.shape, value)",
                 "zero_": "y = sg.zeros(y.shape)"}


def _writable(self: Tensor, what: str, result: np.ndarray) -> np.ndarray:
    """``self``'s array, ready to take ``result`` (shape and dtype checked)."""
    if _GRAD.enabled and self._requires_grad:
        if self.op is None:
            raise RuntimeError(
                f"a leaf Variable that requires grad is being used in an in-place operation "
                f"({what}); wrap it in `with sg.no_grad():`")
        name = what.split("(")[0]
        instead = _OUT_OF_PLACE.get(name, f"y = y.{name.rstrip('_')}(...)")
        raise RuntimeError(
            f"{what} on a computed tensor that requires grad: symgrad records ops out of "
            f"place; write `{instead}` instead")
    v = self._need_value(what)
    if result.shape != v.shape:
        raise RuntimeError(f"{what}: output with shape {list(v.shape)} doesn't match the "
                           f"broadcast shape {list(result.shape)}")
    if not np.can_cast(result.dtype, v.dtype, "same_kind"):
        raise RuntimeError(f"{what}: result type {result.dtype} can't be cast to the desired "
                           f"output type {v.dtype}")
    if not v.flags.writeable:
        self.value = v = v.copy()
    return v


def _operand(x: Any, what: str) -> Any:
    if isinstance(x, Tensor):
        return x._need_value(what)
    if isinstance(x, (builtins.int, builtins.float, builtins.bool, np.number, np.bool_)):
        return x
    raise TypeError(f"{what}: expected a Tensor or a number, got {type(x).__name__}")


def copy_(self: Tensor, src: Any, non_blocking: bool = False) -> Tensor:
    """Copy ``src`` (broadcast to ``self``'s shape, cast to its dtype) into ``self``.

    Bumps the version counter (Note [In-place methods]).

    >>> import symgrad as sg
    >>> w = sg.zeros(2); w.copy_(sg.tensor([1.0, 2.0])), w._version
    (tensor([1., 2.]), 1)
    """
    src = _operand(src, "copy_()")
    arr = np.asarray(src)
    v = self._need_value("copy_()")
    try:
        shape = np.broadcast_shapes(arr.shape, v.shape)
    except ValueError:
        shape = None
    if shape != v.shape:
        raise RuntimeError(f"copy_(): the source of shape {list(arr.shape)} does not broadcast "
                           f"to the destination shape {list(v.shape)}")
    _writable(self, "copy_()", np.empty(v.shape, v.dtype))
    write_(self, arr)
    return self


def fill_(self: Tensor, value: Any) -> Tensor:
    """Set every element to the number (or 0-d tensor) ``value`` in place.

    >>> import symgrad as sg
    >>> sg.zeros(2).fill_(3)
    tensor([3., 3.])
    """
    value = _operand(value, "fill_()")
    if np.ndim(value):
        raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                           f"{np.ndim(value)} dimensions")
    v = self._need_value("fill_()")
    _writable(self, "fill_()", np.empty(v.shape, v.dtype))
    self.value[...] = value
    mark_modified(self)
    return self


def _inplace_method(name: str, ufunc: Any, scaled: bool) -> Any:
    def method(self: Tensor, other: Any, *, alpha: Any = 1) -> Tensor:
        what = f"{name}()"
        o = _operand(other, what)
        if scaled and alpha != 1:
            o = np.multiply(_operand(alpha, what), o)
        v = self._need_value(what)
        try:
            result = ufunc(v, o)        # computed and checked before self is touched
        except ValueError:
            raise RuntimeError(f"{what}: a tensor of shape {list(np.shape(o))} does not "
                               f"broadcast to the shape {list(v.shape)}") from None
        _writable(self, what, result)
        np.copyto(self.value, result, casting="unsafe")
        mark_modified(self)
        return self
    method.__name__ = name
    method.__doc__ = (f"In-place ``self {'+-*/'[['add_', 'sub_', 'mul_', 'div_'].index(name)]}"
                      f"= other{' * alpha' if scaled else ''}``; bumps the version counter.")
    return method


add_ = _inplace_method("add_", np.add, True)
sub_ = _inplace_method("sub_", np.subtract, True)
mul_ = _inplace_method("mul_", np.multiply, False)
div_ = _inplace_method("div_", np.true_divide, False)


def clamp_(self: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """Clamp ``self`` to ``[min, max]`` in place; bumps the version counter.

    >>> import symgrad as sg
    >>> sg.tensor([-1.0, 0.5, 2.0]).clamp_(0, 1)
    tensor([0.0000, 0.5000, 1.0000])
    """
    if min is None and max is None:
        raise RuntimeError("clamp_(): at least one of 'min' or 'max' must not be None")
    lo = None if min is None else _operand(min, "clamp_()")
    hi = None if max is None else _operand(max, "clamp_()")
    v = self._need_value("clamp_()")
    _writable(self, "clamp_()", np.empty(v.shape, v.dtype))
    np.clip(self.value, lo, hi, out=self.value)
    mark_modified(self)
    return self


def _setitem(self: Tensor, index: Any, value: Any) -> None:
    raise TypeError("symgrad tensors do not support item assignment (it would rewrite "
                    "recorded history); build a new tensor with sg.where(mask, value, t) or "
                    "sg.cat")


# ----------------------------------------------------------------------------- methods
def _method_sum(self: Tensor, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    return sum(self, dim, keepdim, **kw)


def _method_transpose(self: Tensor, *dims: Any) -> Tensor:
    """``t.transpose(d0, d1)`` swaps two dims (PyTorch); no args or a tuple permutes (numpy)."""
    if len(dims) == 2 and not isinstance(dims[0], (tuple, list)):
        return transpose(self, dims[0], dims[1])
    if not dims or dims == (None,):
        return permute(self, tuple(range(self.ndim))[::-1])
    return permute(self, *dims)


def _T(self: Tensor) -> Tensor:
    if self.ndim < 2:
        return self
    return permute(self, tuple(range(self.ndim))[::-1])


def _mT(self: Tensor) -> Tensor:
    return transpose(self, -2, -1)


def _r(fn: Any) -> Any:
    def reflected(self: Tensor, other: Any) -> Tensor:
        return fn(const(other, self), self)
    return reflected


def _cmp(ufunc: Any) -> Any:
    def method(self: Tensor, other: Any) -> Tensor:
        return compare(ufunc, self, other)
    return method


def _op_functions() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rule in RULES:
        for name in rule.sg:
            fn = GENERATED.get(name) or globals().get(name) or front.FUNCTIONS.get(name)
            if fn is None:
                raise ImportError(f"numeric.rules declares sg.{name} for {rule.op!r} but "
                                  "neither symgrad/tensor_ops.py nor symgrad/front/ defines "
                                  "a function of that name")
            out[name] = fn
    # functions built from other ops (split, meshgrid, ...): exported, not rules
    out.update({name: fn for name, fn in front.FUNCTIONS.items() if name not in out})
    return out


#: every op's sg. functions by name (generated or hand-written above): symgrad exports
#: exactly these, and the methods named by the rules are taken from here
OP_FUNCTIONS = _op_functions()
#: methods whose form differs from the sg. function of the same name
_METHOD_FORMS = {
    "sum": _method_sum, "transpose": _method_transpose,
    "expand_as": lambda self, other: broadcast_to(self, other.shape),
    "view_as": lambda self, other: reshape(self, other.shape),
}
_add, _sub, _mul, _div, _mm = _G["add"], _G["sub"], _G["mul"], _G["div"], _G["matmul"]
#: operators and the gradient-free methods (not ops, so not in the rule table)
_OTHER_METHODS = {
    "__add__": _add, "__radd__": _r(_add), "__sub__": _sub, "__rsub__": _r(_sub),
    "__mul__": _mul, "__rmul__": _r(_mul), "__truediv__": _div, "__rtruediv__": _r(_div),
    "__pow__": pow, "__rpow__": _r(pow), "__matmul__": _mm, "__rmatmul__": _r(_mm),
    "__neg__": _G["neg"], "__pos__": lambda self: self, "__abs__": _G["abs"],
    "__lt__": _cmp(np.less), "__le__": _cmp(np.less_equal), "__gt__": _cmp(np.greater),
    "__ge__": _cmp(np.greater_equal), "__eq__": _cmp(np.equal), "__ne__": _cmp(np.not_equal),
    "__getitem__": getitem, "__setitem__": _setitem,
    "__iadd__": _inplace(Op.ADD, np.add), "__isub__": _inplace(Op.SUB, np.subtract),
    "__imul__": _inplace(Op.MUL, np.multiply), "__itruediv__": _inplace(Op.DIV, np.divide),
    "argmax": argmax, "argmin": argmin, "all": all, "any": any, "zero_": zero_,
    # --- issue 13: integrity (in-place methods, Note [In-place methods])
    "copy_": copy_, "fill_": fill_, "add_": add_, "sub_": sub_, "mul_": mul_, "div_": div_,
    "clamp_": clamp_,
}
for _rule in RULES:
    for _name in _rule.methods:
        setattr(Tensor, _name, _METHOD_FORMS.get(_name) or OP_FUNCTIONS[_name])
for _name, _fn in (_OTHER_METHODS | front.METHODS).items():
    setattr(Tensor, _name, _fn)
Tensor.T = property(_T, doc="Reverse the dims (a matrix transpose for 2-D tensors).")
Tensor.mT = property(_mT, doc="Transpose the last two dims.")
