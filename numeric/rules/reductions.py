"""Reductions and scans of issue 11: prod, var, std, norm, the cumulative ops, sort & co.

Attributes are numeric's: ``axis`` (a sorted tuple of non-negative ints or None for
the reductions, kthvalue and median, as for ``sum``; one non-negative int for the
scans, sort and topk, as for ``softmax``), ``keepdims``, and each op's own
(``correction``, ``p``, ``k``, ``descending``...).

Selections (sort, topk, kthvalue, median, cummax, cummin) pick elements of the
input at indices the values choose: their kernel is ``take_along_axis`` at those
indices and their VJP scatters the cotangent back to them.  The index functions
(:func:`sort_indices`, ...) are public: the front end returns them as the
``indices`` of PyTorch's ``(values, indices)`` results.

>>> sort_indices(np.array([[3.0, 1.0, 2.0]]), axis=1, descending=False)
array([[1, 2, 0]])
>>> cum_extremum_indices(np.array([1.0, 1.0, 0.0, 2.0]), axis=0, largest=True)
array([0, 1, 1, 3])
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from numeric.rules.core import FLOAT, apply, count, declare
from numeric.rules.movement import SCATTER_ADD
from numeric.rules.reduce import expand
from numeric.shapes import reduce_shape

_a = np.asarray


# ----------------------------------------------------------------------------- dtype and shape
def INT64(dtypes: Any, attrs: dict) -> np.dtype:
    """PyTorch's rule for sum-like ops: bools and integers give int64, floats stay.

    >>> INT64([np.dtype("int32")], {}), INT64([np.dtype("float32")], {})
    (dtype('int64'), dtype('float32'))
    """
    out = np.result_type(*dtypes)
    return np.dtype(np.int64) if out.kind in "biu" else out


def _same(dtypes: Any, attrs: dict) -> np.dtype:
    return np.dtype(dtypes[0])


def _reduced(shapes, attrs):
    return reduce_shape(shapes[0], attrs.get("axis"), attrs.get("keepdims", False))


def _unchanged(shapes, attrs):
    return tuple(shapes[0])


def _topk_shape(shapes, attrs):
    shape = list(shapes[0])
    if shape:
        shape[attrs["axis"]] = attrs.get("k", 1)
    return tuple(shape)


# ----------------------------------------------------------------------------- helpers
def scalar_as_vector(kernel: Callable) -> Callable:
    """Run ``kernel(x, axis, ...)`` of a scan or selection on a 0-d ``x`` as on shape (1,).

    PyTorch accepts ``dim=0`` (or -1) on 0-d tensors for these ops.
    """
    @functools.wraps(kernel)
    def run(x: Any, axis: Any = None, **attrs: Any) -> np.ndarray:
        x = _a(x)
        if x.ndim == 0:
            return _a(kernel(x.reshape(1), 0 if axis is not None else None, **attrs)).reshape(())
        return _a(kernel(x, axis, **attrs))
    return run


def along(axis: int, ndim: int, index: Any) -> tuple:
    """``(slice(None),) * axis + (index,)``: ``index`` applied to dim ``axis`` only."""
    return (slice(None),) * axis + (index,) + (slice(None),) * (ndim - axis - 1)


def flip(x: Any, axis: int) -> Any:
    """``x`` reversed along ``axis`` (works on Tensors: a getitem)."""
    return x[along(axis, x.ndim, slice(None, None, -1))]


def full_index(idx: np.ndarray, axis: int) -> tuple:
    """The advanced index that picks ``idx`` (same rank as the input) along ``axis``.

    ``x[full_index(idx, axis)]`` is ``np.take_along_axis(x, idx, axis)``.
    """
    parts = []
    for d, n in enumerate(idx.shape):
        if d == axis:
            parts.append(idx)
        else:
            shape = [1] * idx.ndim
            shape[d] = n
            parts.append(np.arange(n).reshape(shape))
    return tuple(parts)


def values_at(x: Any) -> np.ndarray:
    """The values of an input (an array, or a Tensor under ``create_graph``), read by the
    VJP of an ``at_point`` op to fix its structure (indices), never for a gradient value."""
    return _a(x)


def _mean(x: Any, axis: Any) -> Any:
    return np.sum(x, axis=axis, keepdims=True) / count(x.shape, axis)


def _abs(x: Any) -> Any:
    """``|x|`` as ``x * sign(x)`` (the VJP vocabulary has no ``np.abs``)."""
    return x * np.sign(x)


# ----------------------------------------------------------------------------- prod
def _exclusive_cumprod(x: Any, axis: int) -> Any:
    """``prod(x[:j])`` along ``axis`` for every ``j`` (1 for ``j = 0``), without division."""
    n = x.shape[axis]
    first = (np.arange(n) == 0).reshape([n if d == axis else 1 for d in range(x.ndim)])
    previous = x[along(axis, x.ndim, np.maximum(np.arange(n) - 1, 0))]
    return apply(CUMPROD.op, np.where(first, 1, previous), axis=axis)


def _prod_vjp(g, out, x, *, axis=None, keepdims=False):
    """d prod / d x_k is the product of the others: left and right exclusive products.

    Exact with zeros in the slice (no ``out / x``), as PyTorch's gradient.
    """
    g = expand(g, x, axis, keepdims)
    flat = axis is None
    y = np.reshape(x, (-1,)) if flat else x
    a = 0 if flat else axis[0]
    others = _exclusive_cumprod(y, a) * flip(_exclusive_cumprod(flip(y, a), a), a)
    return g * (np.reshape(others, x.shape) if flat else others)


PROD = declare(
    "prod", lambda x, axis=None, keepdims=False: _a(np.prod(x, axis=axis, keepdims=keepdims)),
    (_prod_vjp,), group="reduce", arity=1, shape=_reduced, dtype=INT64, sg="prod", parse=True,
    doc="Product of all elements, or along one ``dim``; exact gradient with zeros.")


# ----------------------------------------------------------------------------- var, std
def _divisor(x: Any, axis: Any, correction: Any) -> Any:
    return max(0, count(x.shape, axis) - correction)


def variance(x: Any, axis: Any = None, correction: Any = 1, keepdims: bool = False) -> np.ndarray:
    """``sum((x - mean)**2) / max(0, N - correction)`` over ``axis`` (nan/inf for N <= c).

    >>> variance(np.array([1.0, 2.0, 3.0, 4.0]))
    array(1.66666667)
    """
    x = _a(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = x - _mean(x, axis)
        return _a(np.sum(d * d, axis=axis, keepdims=keepdims) / x.dtype.type(
            _divisor(x, axis, correction)))


def _var_vjp(g, out, x, *, axis=None, correction=1, keepdims=False):
    d = x - _mean(x, axis)
    return expand(g, x, axis, keepdims) * (d * (2 / _divisor(x, axis, correction)))


def _std_vjp(g, out, x, *, axis=None, correction=1, keepdims=False):
    """``g / (2 std) * dvar``, and 0 where ``std == 0`` (a constant slice), as PyTorch."""
    s = expand(out, x, axis, keepdims)
    zero = s == 0
    scale = np.where(zero, 0, expand(g, x, axis, keepdims) / np.where(zero, 1, s))
    d = x - _mean(x, axis)
    return scale * (d * (1 / _divisor(x, axis, correction)))


VAR = declare(
    "var", variance, (_var_vjp,), group="reduce", arity=1, shape=_reduced, dtype=FLOAT,
    sg="var", parse=True,
    doc="Variance over ``dim`` with ``correction`` (1: unbiased, Bessel's correction).")
STD = declare(
    "std", lambda x, axis=None, correction=1, keepdims=False: _a(np.sqrt(
        variance(x, axis, correction, keepdims))),
    (_std_vjp,), group="reduce", arity=1, shape=_reduced, dtype=FLOAT, sg="std", parse=True,
    kinked=True,
    doc="Standard deviation over ``dim`` with ``correction``; gradient 0 where it is 0.")


# ----------------------------------------------------------------------------- norm
def vector_norm(x: Any, p: float = 2.0, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """``sum(|x|**p) ** (1/p)`` over ``axis``; ``p = inf/-inf``: max/min of ``|x|``; 0 counts.

    >>> vector_norm(np.array([3.0, -4.0])), vector_norm(np.array([3.0, -4.0]), p=np.inf)
    (array(5.), array(4.))
    """
    a = np.abs(_a(x))
    if p == np.inf:
        return _a(np.max(a, axis=axis, keepdims=keepdims, initial=0))
    if p == -np.inf:
        return _a(np.min(a, axis=axis, keepdims=keepdims, initial=np.inf))
    if p == 0:
        return _a(np.sum(a != 0, axis=axis, keepdims=keepdims).astype(a.dtype))
    if p == 1:
        return _a(np.sum(a, axis=axis, keepdims=keepdims))
    if p == 2:
        return _a(np.sqrt(np.sum(a * a, axis=axis, keepdims=keepdims)))
    with np.errstate(divide="ignore"):
        return _a(np.sum(a ** p, axis=axis, keepdims=keepdims) ** (1 / p))


def _norm_vjp(g, out, x, *, p=2.0, axis=None, keepdims=False):
    """PyTorch's ``linalg_vector_norm_backward``, subgradient 0 at the zero vector."""
    g = expand(g, x, axis, keepdims)
    if p == 0:
        return np.zeros_like(x) * g
    sign = np.sign(x)
    if p == 1:
        return sign * g
    n = expand(out, x, axis, keepdims)
    a = _abs(x)
    if p in (np.inf, -np.inf):       # even split among the entries of extreme |x|
        hit = np.where(a == n, np.ones_like(n), np.zeros_like(n))
        return hit * sign * (g / np.sum(hit, axis=axis, keepdims=True))
    zero = n == 0
    scale = np.where(zero, 0, g / np.where(zero, 1, n) ** (p - 1))
    if p == 2:
        return x * scale
    if p < 1:                         # |x| ** (p - 1) is infinite at 0: PyTorch masks it
        at0 = a == 0
        return np.where(at0, 0, sign * np.where(at0, 1, a) ** (p - 1)) * scale
    return sign * a ** (p - 1) * scale


NORM = declare(
    "norm", vector_norm, (_norm_vjp,), group="reduce", arity=1, shape=_reduced, dtype=FLOAT,
    sg="norm", parse=True, kinked=True,
    doc="Vector ``p``-norm over ``dim`` (``'fro'`` is 2; ``inf``/``-inf``: max/min of ``|x|``).")


# ----------------------------------------------------------------------------- scans
def _later(x: Any, axis: int) -> np.ndarray:
    """The ``n x n`` mask ``j >= k`` (output ``j`` depends on input ``k``) of a scan."""
    n = x.shape[axis]
    return np.triu(np.ones((n, n), dtype=bool))


def _cumsum_vjp(g, out, x, *, axis):
    if x.ndim == 0:
        return g
    return flip(apply(CUMSUM.op, flip(g, axis), axis=axis), axis)


def _cumprod_vjp(g, out, x, *, axis):
    """``sum_{j>=k} g_j prod_{i<=j, i!=k} x_i`` over an ``n x n`` table (n: the size
    of ``dim``): exact with zeros, no division (PyTorch divides where x has no zero)."""
    if x.ndim == 0:
        return g
    xm, gm = np.swapaxes(x, axis, -1), np.swapaxes(g, axis, -1)
    n = xm.shape[-1]
    table = np.where(np.eye(n, dtype=bool), 1, xm[..., None, :])   # row k: x with x_k = 1
    prods = apply(CUMPROD.op, table, axis=table.ndim - 1)
    terms = np.where(_later(x, axis), prods * gm[..., None, :], 0)
    return np.swapaxes(np.sum(terms, axis=-1), -1, axis)


def _logcumsumexp_vjp(g, out, x, *, axis):
    """``sum_{j>=k} g_j exp(x_k - out_j)``, each term at most ``|g_j|`` (no overflow)."""
    if x.ndim == 0:
        return g
    xm, om, gm = (np.swapaxes(t, axis, -1) for t in (x, out, g))
    gap = np.where(_later(x, axis), xm[..., :, None] - om[..., None, :], -np.inf)
    return np.swapaxes(np.sum(np.exp(gap) * gm[..., None, :], axis=-1), -1, axis)


def logcumsumexp(x: Any, axis: int) -> np.ndarray:
    """``log(cumsum(exp(x)))`` along ``axis``, computed stably.

    >>> logcumsumexp(np.array([1000.0, 1000.0]), axis=0)
    array([1000.        , 1000.69314718])
    """
    x = _a(x)
    return _a(np.logaddexp.accumulate(x.astype(np.float64) if x.dtype.kind in "biu" else x,
                                      axis=axis))


def _scan(name: str, kernel: Callable, vjp: Callable, *, dtype: Any, doc: str) -> Any:
    # group "normalize": like softmax, one ``axis`` and the input's shape
    return declare(name, scalar_as_vector(kernel), (vjp,), group="normalize", arity=1,
                   shape=_unchanged, dtype=dtype, sg=name, parse=True, doc=doc)


CUMSUM = _scan("cumsum", lambda x, axis: np.cumsum(x, axis=axis, dtype=INT64([x.dtype], {})),
               _cumsum_vjp, dtype=INT64, doc="Cumulative sum along ``dim``.")
CUMPROD = _scan("cumprod", lambda x, axis: np.cumprod(x, axis=axis, dtype=INT64([x.dtype], {})),
                _cumprod_vjp, dtype=INT64,
                doc="Cumulative product along ``dim``; exact gradient with zeros.")
LOGCUMSUMEXP = _scan("logcumsumexp", logcumsumexp, _logcumsumexp_vjp, dtype=FLOAT,
                     doc="``log(cumsum(exp(input)))`` along ``dim``, computed stably.")


# ----------------------------------------------------------------------------- selections
def _order(x: np.ndarray, descending: bool) -> np.ndarray:
    """Keys whose ascending stable order is ``x``'s ascending or descending order."""
    if not descending:
        return x
    return -(x.astype(np.int64) if x.dtype.kind == "b" else x)


def sort_indices(x: Any, axis: int, descending: bool = False, **_: Any) -> np.ndarray:
    """The stable sorting permutation along ``axis`` (ties keep their order)."""
    return np.argsort(_order(_a(x), descending), axis=axis, kind="stable")


def topk_indices(x: Any, axis: int, k: int, largest: bool = True, **_: Any) -> np.ndarray:
    """Indices of the ``k`` largest (smallest) entries along ``axis``, in sorted order."""
    return sort_indices(x, axis, largest)[along(axis, _a(x).ndim, slice(0, k))]


def kth_indices(x: Any, axis: int, k: int, **_: Any) -> np.ndarray:
    """Index of the ``k``-th smallest entry along ``axis`` (kept as a dim of size 1)."""
    return sort_indices(x, axis)[along(axis, _a(x).ndim, slice(k - 1, k))]


def median_indices(x: Any, axis: int, **_: Any) -> np.ndarray:
    """Index of the lower median along ``axis`` (kept as a dim of size 1)."""
    n = _a(x).shape[axis]
    return kth_indices(x, axis, (n - 1) // 2 + 1)


def cum_extremum_indices(x: Any, axis: int, largest: bool = True, **_: Any) -> np.ndarray:
    """Where the running max (min) along ``axis`` was taken; ties take the later index."""
    x = np.moveaxis(_a(x), axis, -1)
    idx = np.zeros(x.shape, dtype=np.int64)
    best = x[..., 0]
    for j in range(1, x.shape[-1]):
        v = x[..., j]
        take = v >= best if largest else v <= best
        idx[..., j] = np.where(take, j, idx[..., j - 1])
        best = np.where(take, v, best)
    return np.moveaxis(idx, -1, axis)


def _one(axis: Any) -> Any:
    """An ``axis`` attr as one int (None stays None): a reduction's 1-tuple or an int."""
    if isinstance(axis, tuple):
        return axis[0] if axis else None
    return axis


def _select(indices: Callable) -> tuple[Callable, Callable]:
    """Kernel and VJP of an op that takes ``x`` at ``indices(x, axis, **attrs)``.

    ``indices`` keeps the rank of ``x``; with ``keepdims=False`` the picked dim
    (of size 1) is dropped; ``axis=None`` means over all elements, flattened.
    """
    def kernel(x, axis=None, keepdims=True, **attrs):
        x, axis = _a(x), _one(axis)
        if x.ndim == 0:
            return x.copy()
        y, a = (x.reshape(-1), 0) if axis is None else (x, axis)
        out = np.take_along_axis(y, indices(y, a, **attrs), axis=a)
        if axis is None:
            return out.reshape(())
        return out if keepdims else np.squeeze(out, axis=a)

    def vjp(g, out, x, *, axis=None, keepdims=True, **attrs):
        axis = _one(axis)
        if x.ndim == 0:
            return g
        if axis is None:
            idx = indices(values_at(x).reshape(-1), 0, **attrs)
            flat = apply(SCATTER_ADD.op, np.reshape(g, (1,)), shape=(count(x.shape, None),),
                         index=(idx,))
            return np.reshape(flat, x.shape)
        idx = indices(values_at(x), axis, **attrs)
        g = g if keepdims else np.reshape(g, idx.shape)
        return apply(SCATTER_ADD.op, g, shape=x.shape, index=full_index(idx, axis))
    return kernel, vjp


# ties: the structure is fixed at a point; "normalize" ops take one int ``axis`` (scans,
# sort, topk), "reduce" ops a reduction's ``axis`` tuple or None (kthvalue, median)
_TIES = dict(arity=1, dtype=_same, kinked=True, at_point=True)

_sort, _sort_vjp = _select(sort_indices)
SORT = declare(
    "sort", lambda x, axis, descending=False, stable=False: _sort(
        x, axis, descending=descending),
    (lambda g, out, x, *, axis, descending=False, stable=False: _sort_vjp(
        g, out, x, axis=axis, descending=descending),),
    shape=_unchanged, sg="sort", group="normalize", **_TIES,
    doc="Sort along ``dim``: ``(values, indices)``; ties keep their order.")
_topk, _topk_vjp = _select(topk_indices)
TOPK = declare(
    "topk", lambda x, axis, k=1, largest=True, sorted=True: _topk(x, axis, k=k, largest=largest),
    (lambda g, out, x, *, axis, k=1, largest=True, sorted=True: _topk_vjp(
        g, out, x, axis=axis, k=k, largest=largest),),
    shape=_topk_shape, sg="topk", group="normalize", **_TIES,
    doc="The ``k`` largest (or smallest) entries along ``dim``: ``(values, indices)``.")
_kth, _kth_vjp = _select(kth_indices)
KTHVALUE = declare(
    "kthvalue", lambda x, axis, k=1, keepdims=False: _kth(x, axis, keepdims, k=k),
    (lambda g, out, x, *, axis, k=1, keepdims=False: _kth_vjp(
        g, out, x, axis=axis, keepdims=keepdims, k=k),),
    shape=_reduced, sg="kthvalue", group="reduce", **_TIES,
    doc="The ``k``-th smallest entry along ``dim``: ``(values, indices)``.")
_median, _median_vjp = _select(median_indices)
MEDIAN = declare(
    "median", lambda x, axis=None, keepdims=False: _median(x, axis, keepdims),
    (lambda g, out, x, *, axis=None, keepdims=False: _median_vjp(
        g, out, x, axis=axis, keepdims=keepdims),),
    shape=_reduced, sg="median", group="reduce", **_TIES,
    doc="Lower median: of all elements, or ``(values, indices)`` along ``dim``.")
_cummax, _cummax_vjp = _select(functools.partial(cum_extremum_indices, largest=True))
_cummin, _cummin_vjp = _select(functools.partial(cum_extremum_indices, largest=False))
CUMMAX = declare(
    "cummax", lambda x, axis: _cummax(x, axis),
    (lambda g, out, x, *, axis: _cummax_vjp(g, out, x, axis=axis),),
    shape=_unchanged, sg="cummax", group="normalize", **_TIES,
    doc="Running maximum along ``dim``: ``(values, indices)``.")
CUMMIN = declare(
    "cummin", lambda x, axis: _cummin(x, axis),
    (lambda g, out, x, *, axis: _cummin_vjp(g, out, x, axis=axis),),
    shape=_unchanged, sg="cummin", group="normalize", **_TIES,
    doc="Running minimum along ``dim``: ``(values, indices)``.")
