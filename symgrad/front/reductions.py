"""Reductions and scans with PyTorch's signatures: prod, var, std, norm, cumsum, sort, ...

Each function builds one node of its op (numeric/rules/reductions.py).  Ops that
PyTorch returns as ``(values, indices)`` (sort, topk, kthvalue, median along a dim,
cummax, cummin) give the named tuple ``values_indices``; the indices are int64
tensors computed from the values, which never require grad.  ``var_mean``,
``std_mean`` (two ops) and ``argsort`` (sort's indices) are built from the ops.

>>> import symgrad as sg
>>> x = sg.tensor([[3.0, 1.0, 2.0]], requires_grad=True)
>>> sg.sort(x, dim=1).indices
tensor([[1, 2, 0]])
>>> sg.var(x), x.cumsum(1)
(tensor(1., grad_fn=<VarBackward>), tensor([[3., 4., 6.]], grad_fn=<CumsumBackward>))
"""
from __future__ import annotations

import builtins
from typing import Any, Callable, Optional

import numpy as np

from numeric.ops import Op
from numeric.rules.reductions import (
    cum_extremum_indices, kth_indices, median_indices, sort_indices, topk_indices,
)
from symgrad.errors import DtypeError, ShapeError
from symgrad.tensor import Tensor, _apply, _dim, _node, axes, const, values_indices

__all__ = ["prod", "var", "std", "var_mean", "std_mean", "norm", "cumsum", "cumprod",
           "cummax", "cummin", "logcumsumexp", "sort", "argsort", "topk", "kthvalue",
           "median"]


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else const(x)


def _cast(t: Tensor, dtype: Any) -> Tensor:
    return t if dtype is None else t.to(dtype)


def _floating(t: Tensor, name: str) -> Tensor:
    if t.dtype.kind not in "f":
        raise DtypeError(f"{name}: expected a floating point tensor, got dtype {t.dtype}; "
                         f"convert it first, e.g. x.double()")
    return t


def _indices(values: Any, make: Callable[[np.ndarray], np.ndarray]) -> Optional[Tensor]:
    """An int64 tensor without grad from the input's values (None for a symbolic input)."""
    if values is None:
        return None
    return _node(np.asarray(make(np.asarray(values)), np.int64), None, (), {}, False)


def _size(t: Tensor, axis: int) -> Any:
    return t.shape[axis] if t.ndim else 1


# ----------------------------------------------------------------------------- reductions
def prod(input: Any, dim: Optional[int] = None, keepdim: bool = False, *,
         dtype: Any = None) -> Tensor:
    """Product of all elements, or along one ``dim``; exact gradient with zeros.

    As in PyTorch, a slice with one zero passes the product of the others to
    that element, and one with two zeros passes 0 to all.

    >>> import symgrad as sg
    >>> x = sg.tensor([[2.0, 0.0, 3.0]], requires_grad=True)
    >>> p = sg.prod(x, 1); p.sum().backward(); p, x.grad
    (tensor([0.], grad_fn=<ProdBackward>), tensor([[0., 6., 0.]]))
    """
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"prod: dim must be an int or None, got {dim!r}; take the product "
                        "over one dim at a time")
    t = _cast(_t(input), dtype)
    return _apply(Op.PROD, (t,), {"axis": axes(dim, t.ndim),
                                  "keepdims": builtins.bool(keepdim)})


def _correction(dim: Any, unbiased: Any, correction: Any, name: str) -> tuple:
    """PyTorch's overloads: ``(dim, unbiased)``, ``(dim, *, correction)``, ``(unbiased)``."""
    if isinstance(dim, (builtins.bool, np.bool_)):
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{name}: give either unbiased= or correction=, not both")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return dim, correction


def _moment(op: Op, name: str, input: Any, dim: Any, unbiased: Any, keepdim: bool,
            correction: Any) -> Tensor:
    dim, c = _correction(dim, unbiased, correction, name)
    t = _floating(_t(input), name)
    return _apply(op, (t,), {"axis": axes(dim, t.ndim), "correction": c,
                             "keepdims": builtins.bool(keepdim)})


def var(input: Any, dim: Any = None, unbiased: Optional[bool] = None, keepdim: bool = False,
        *, correction: Any = None) -> Tensor:
    """Variance over ``dim`` with ``correction`` (1: unbiased, Bessel's correction).

    The divisor is ``max(0, N - correction)``; ``unbiased=False`` is ``correction=0``.

    >>> import symgrad as sg
    >>> x = sg.tensor([1.0, 2.0, 3.0, 4.0])
    >>> sg.var(x), sg.var(x, correction=0), x.var(0, False)
    (tensor(1.6667), tensor(1.2500), tensor(1.2500))
    """
    return _moment(Op.VAR, "var", input, dim, unbiased, keepdim, correction)


def std(input: Any, dim: Any = None, unbiased: Optional[bool] = None, keepdim: bool = False,
        *, correction: Any = None) -> Tensor:
    """Standard deviation over ``dim`` with ``correction``; gradient 0 where it is 0.

    >>> import symgrad as sg
    >>> sg.std(sg.tensor([[1.0, 3.0], [2.0, 2.0]]), dim=1)
    tensor([1.4142, 0.0000])
    """
    return _moment(Op.STD, "std", input, dim, unbiased, keepdim, correction)


def var_mean(input: Any, dim: Any = None, unbiased: Optional[bool] = None,
             keepdim: bool = False, *, correction: Any = None) -> tuple:
    """``(var(input, ...), mean(input, ...))`` over the same ``dim``, as a tuple.

    >>> import symgrad as sg
    >>> sg.var_mean(sg.tensor([1.0, 2.0, 3.0]))
    (tensor(1.), tensor(2.))
    """
    v = var(input, dim, unbiased, keepdim, correction=correction)
    return v, _mean_like(input, dim, keepdim)


def std_mean(input: Any, dim: Any = None, unbiased: Optional[bool] = None,
             keepdim: bool = False, *, correction: Any = None) -> tuple:
    """``(std(input, ...), mean(input, ...))`` over the same ``dim``, as a tuple.

    >>> import symgrad as sg
    >>> sg.std_mean(sg.tensor([1.0, 3.0]), correction=0)
    (tensor(1.), tensor(2.))
    """
    s = std(input, dim, unbiased, keepdim, correction=correction)
    return s, _mean_like(input, dim, keepdim)


def _mean_like(input: Any, dim: Any, keepdim: bool) -> Tensor:
    if isinstance(dim, (builtins.bool, np.bool_)):
        dim = None
    t = _t(input)
    return _apply(Op.MEAN, (t,), {"axis": axes(dim, t.ndim), "keepdims": builtins.bool(keepdim)})


def _norm_p(p: Any) -> float:
    if isinstance(p, str):
        if p == "fro":
            return 2.0
        raise ValueError(f"norm: p={p!r} is not supported; use 'fro' or a number "
                         "(1, 2, inf, -inf, any other float)")
    return builtins.float(p)


def norm(input: Any, p: Any = "fro", dim: Any = None, keepdim: bool = False,
         dtype: Any = None) -> Tensor:
    """Vector ``p``-norm over ``dim`` (``'fro'`` is 2; ``inf``/``-inf``: max/min of ``|x|``).

    ``(sum |x|**p) ** (1/p)`` over ``dim`` (all elements if None), as
    ``torch.norm``; ``p=0`` counts the nonzero entries.  At the zero vector the
    gradient is 0 (PyTorch's subgradient).

    >>> import symgrad as sg
    >>> x = sg.tensor([[3.0, -4.0], [0.0, 0.0]], requires_grad=True)
    >>> n = sg.norm(x, dim=1); n.sum().backward(); n, x.grad
    (tensor([5., 0.], grad_fn=<NormBackward>), tensor([[ 0.6000, -0.8000],
            [ 0.0000,  0.0000]]))
    """
    t = _floating(_cast(_t(input), dtype), "norm")
    return _apply(Op.NORM, (t,), {"p": _norm_p(p), "axis": axes(dim, t.ndim),
                                  "keepdims": builtins.bool(keepdim)})


# ----------------------------------------------------------------------------- scans
def _scan(op: Op, t: Tensor, dim: int) -> Tensor:
    return _apply(op, (t,), {"axis": _dim(dim, t.ndim)})


def cumsum(input: Any, dim: int, *, dtype: Any = None) -> Tensor:
    """Cumulative sum along ``dim``.

    >>> import symgrad as sg
    >>> sg.cumsum(sg.tensor([[1.0, 2.0, 3.0]]), dim=1)
    tensor([[1., 3., 6.]])
    """
    return _scan(Op.CUMSUM, _cast(_t(input), dtype), dim)


def cumprod(input: Any, dim: int, *, dtype: Any = None) -> Tensor:
    """Cumulative product along ``dim``; exact gradient with zeros.

    >>> import symgrad as sg
    >>> x = sg.tensor([2.0, 0.0, 3.0], requires_grad=True)
    >>> sg.cumprod(x, 0).sum().backward(); x.grad
    tensor([1., 8., 0.])
    """
    return _scan(Op.CUMPROD, _cast(_t(input), dtype), dim)


def logcumsumexp(input: Any, dim: int) -> Tensor:
    """``log(cumsum(exp(input)))`` along ``dim``, computed stably.

    >>> import symgrad as sg
    >>> sg.logcumsumexp(sg.tensor([0.0, 0.0]), dim=0)
    tensor([0.0000, 0.6931])
    """
    return _scan(Op.LOGCUMSUMEXP, _floating(_t(input), "logcumsumexp"), dim)


def _cum_extremum(op: Op, input: Any, dim: int, largest: bool) -> Any:
    t = _t(input)
    values = _scan(op, t, dim)
    d = _dim(dim, t.ndim)
    return values_indices(values, _indices(
        t.value, lambda v: cum_extremum_indices(v.reshape(-1) if v.ndim == 0 else v, d,
                                                largest).reshape(v.shape)))


def cummax(input: Any, dim: int) -> Any:
    """Running maximum along ``dim``: ``(values, indices)``.

    Ties take the later index, as PyTorch.

    >>> import symgrad as sg
    >>> sg.cummax(sg.tensor([1.0, 3.0, 2.0, 3.0]), 0)
    values_indices(values=tensor([1., 3., 3., 3.]), indices=tensor([0, 1, 1, 3]))
    """
    return _cum_extremum(Op.CUMMAX, input, dim, True)


def cummin(input: Any, dim: int) -> Any:
    """Running minimum along ``dim``: ``(values, indices)``.

    >>> import symgrad as sg
    >>> sg.cummin(sg.tensor([2.0, 1.0, 3.0]), 0).values
    tensor([2., 1., 1.])
    """
    return _cum_extremum(Op.CUMMIN, input, dim, False)


# ----------------------------------------------------------------------------- selections
def _pick(op: Op, t: Tensor, attrs: dict, make: Callable[[np.ndarray], np.ndarray]) -> Any:
    """``(values, indices)``: the op's node, and ``make(values)`` as int64 indices."""
    def on_vector(v: np.ndarray) -> np.ndarray:
        return make(v) if v.ndim else np.zeros((), np.int64)
    return values_indices(_apply(op, (t,), attrs), _indices(t.value, on_vector))


def sort(input: Any, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Any:
    """Sort along ``dim``: ``(values, indices)``; ties keep their order.

    symgrad's sort is always stable, so ``stable`` changes nothing.

    >>> import symgrad as sg
    >>> sg.sort(sg.tensor([3.0, 1.0, 2.0]), descending=True)
    values_indices(values=tensor([3., 2., 1.]), indices=tensor([0, 2, 1]))
    """
    t = _t(input)
    d, desc = _dim(dim, t.ndim), builtins.bool(descending)
    return _pick(Op.SORT, t, {"axis": d, "descending": desc, "stable": builtins.bool(stable)},
                 lambda v: sort_indices(v, d, desc))


def argsort(input: Any, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The indices that sort ``input`` along ``dim`` (int64, no gradient).

    >>> import symgrad as sg
    >>> sg.argsort(sg.tensor([[3.0, 1.0, 2.0]]))
    tensor([[1, 2, 0]])
    """
    t = _t(input)
    d = _dim(dim, t.ndim)
    v = t._need_value("argsort")
    return _indices(v, lambda a: sort_indices(a, d, builtins.bool(descending))
                    if a.ndim else np.zeros((), np.int64))


def _check_k(name: str, k: int, t: Tensor, d: int, low: int) -> int:
    n = _size(t, d)
    k = builtins.int(k)
    if isinstance(n, builtins.int) and not low <= k <= n:
        raise ShapeError(f"{name}: k={k} is out of range for dim {d} of size {n} (expected "
                         f"{low} <= k <= {n}); pass a k in that range")
    return k


def topk(input: Any, k: int, dim: int = -1, largest: bool = True,
         sorted: bool = True) -> Any:  # noqa: A002 - PyTorch's name
    """The ``k`` largest (or smallest) entries along ``dim``: ``(values, indices)``.

    The result is always sorted (PyTorch leaves the order unspecified for
    ``sorted=False``); ties go to the lower index.

    >>> import symgrad as sg
    >>> sg.topk(sg.tensor([1.0, 5.0, 3.0]), 2)
    values_indices(values=tensor([5., 3.]), indices=tensor([1, 2]))
    """
    t = _t(input)
    d = _dim(dim, t.ndim)
    k = _check_k("topk", k, t, d, 0)
    big = builtins.bool(largest)
    return _pick(Op.TOPK, t, {"axis": d, "k": k, "largest": big,
                              "sorted": builtins.bool(sorted)},
                 lambda v: topk_indices(v, d, k, big))


def kthvalue(input: Any, k: int, dim: int = -1, keepdim: bool = False) -> Any:
    """The ``k``-th smallest entry along ``dim``: ``(values, indices)``.

    >>> import symgrad as sg
    >>> sg.kthvalue(sg.tensor([4.0, 1.0, 3.0]), 2)
    values_indices(values=tensor(3.), indices=tensor(2))
    """
    t = _t(input)
    d = _dim(dim, t.ndim)
    k = _check_k("kthvalue", k, t, d, 1)
    keep = builtins.bool(keepdim)
    return _pick(Op.KTHVALUE, t, {"axis": axes(d, t.ndim), "k": k, "keepdims": keep},
                 lambda v: _drop(kth_indices(v, d, k), d, keep))


def _drop(idx: np.ndarray, d: int, keep: bool) -> np.ndarray:
    return idx if keep else np.squeeze(idx, d)


def median(input: Any, dim: Optional[int] = None, keepdim: bool = False) -> Any:
    """Lower median: of all elements, or ``(values, indices)`` along ``dim``.

    For an even count it is the lower of the two middle values, as PyTorch.

    >>> import symgrad as sg
    >>> x = sg.tensor([[1.0, 4.0, 2.0, 3.0]])
    >>> sg.median(x), sg.median(x, 1).indices
    (tensor(2.), tensor([2]))
    """
    t = _t(input)
    if dim is None:
        if t.value is not None and t.value.size == 0:
            # PyTorch: nan for no elements; the mean of nothing is that nan, with a
            # gradient of the input's (empty) shape
            return _apply(Op.MEAN, (t,), {"axis": None, "keepdims": False})
        return _apply(Op.MEDIAN, (t,), {"axis": None, "keepdims": False})
    d = _dim(dim, t.ndim)
    if isinstance(_size(t, d), builtins.int) and _size(t, d) == 0:
        raise ShapeError(f"median: dim {d} is empty; the median needs at least one element")
    keep = builtins.bool(keepdim)
    return _pick(Op.MEDIAN, t, {"axis": axes(d, t.ndim), "keepdims": keep},
                 lambda v: _drop(median_indices(v, d), d, keep))


METHODS = {"argsort": argsort}
