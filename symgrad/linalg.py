"""``sg.linalg``: PyTorch's ``torch.linalg`` names (issue 11).

``inv``, ``det``, ``slogdet``, ``solve``, ``cholesky``, ``matrix_norm``,
``vector_norm``, ``norm``, ``vecdot``, ``diagonal``, ``matmul`` with
``torch.linalg``'s signatures; singular or non-positive-definite input raises
:class:`LinAlgError` (a RuntimeError, as ``torch.linalg.LinAlgError``).

>>> import symgrad as sg
>>> a = sg.tensor([[3.0, 1.0], [1.0, 2.0]])
>>> sg.linalg.solve(a, sg.tensor([9.0, 8.0]))
tensor([2., 3.])
>>> sg.linalg.vector_norm(sg.tensor([3.0, -4.0])), sg.linalg.matrix_norm(a, 1)
(tensor(5.), tensor(4.))
"""
from __future__ import annotations

import builtins
import math
from typing import Any

from numeric.errors import LinAlgError, ShapeError
from numeric.ops import Op
from symgrad.front.linalg import _matrix, _swap_last, _t, floating
from symgrad.front.linalg import det as _det
from symgrad.front.linalg import diagonal as _diagonal
from symgrad.front.linalg import inverse as _inverse
from symgrad.front.linalg import slogdet as _slogdet
from symgrad.tensor import Tensor, _apply, _dim, axes

__all__ = ["LinAlgError", "inv", "det", "slogdet", "solve", "cholesky", "matrix_norm",
           "vector_norm", "norm", "vecdot", "diagonal", "matmul"]


def inv(A: Any) -> Tensor:
    """Inverse of a square matrix or a batch; singular raises :class:`LinAlgError`.

    >>> import symgrad as sg
    >>> sg.linalg.inv(sg.tensor([[0.0, 2.0], [1.0, 0.0]]))
    tensor([[0.0000, 1.0000],
            [0.5000, 0.0000]])
    """
    return _inverse(A)


def det(A: Any) -> Tensor:
    """Determinant of a square matrix or a batch.

    >>> import symgrad as sg
    >>> sg.linalg.det(sg.eye(2) * 2)
    tensor(4.)
    """
    return _det(A)


def slogdet(A: Any) -> Any:
    """Named tuple ``(sign, logabsdet)`` of the determinant; ``sign`` has no gradient.

    >>> import symgrad as sg
    >>> sg.linalg.slogdet(sg.eye(2) * -3).logabsdet
    tensor(2.1972)
    """
    return _slogdet(A)


def cholesky(A: Any, *, upper: bool = False) -> Tensor:
    """Cholesky factor of a symmetric positive-definite matrix (lower, or ``upper=True``).

    Not positive-definite raises :class:`LinAlgError`.

    >>> import symgrad as sg
    >>> sg.linalg.cholesky(sg.tensor([[4.0, 2.0], [2.0, 5.0]]), upper=True)
    tensor([[2., 1.],
            [0., 2.]])
    """
    out = _apply(Op.CHOLESKY, (_matrix("linalg.cholesky", A),), {})
    return _apply(Op.PERMUTE, (out,), {"axes": _swap_last(out.ndim)}) if upper else out


def _vector_rhs(a: Tensor, b: Tensor) -> bool:
    """PyTorch's rule: ``B`` is a (batch of) vector(s) when 1-D or shaped ``A.shape[:-1]``."""
    return b.ndim == 1 or (b.ndim == a.ndim - 1 and tuple(b.shape) == tuple(a.shape[:-1]))


def solve(A: Any, B: Any, *, left: bool = True) -> Tensor:
    """The solution ``X`` of ``A X = B`` (``left=False``: ``X A = B``), batched, without
    forming ``A^-1``; ``B`` is a matrix, a batch of them, or vectors as in PyTorch.

    >>> import symgrad as sg
    >>> sg.linalg.solve(sg.eye(2) * 2, sg.tensor([[2.0], [4.0]]))
    tensor([[1.],
            [2.]])
    """
    a, b = _matrix("linalg.solve", A), floating("linalg.solve", B)
    vector = _vector_rhs(a, b)
    if not left:
        if vector:
            raise ShapeError("linalg.solve: Vector broadcasting of the left hand side is not "
                             "supported for left=False. In this case linalg.solve is "
                             "equivalent to B / A.squeeze(-1)")
        a = _apply(Op.PERMUTE, (a,), {"axes": _swap_last(a.ndim)})
        b = _apply(Op.PERMUTE, (b,), {"axes": _swap_last(b.ndim)})
    if vector:
        b = _apply(Op.RESHAPE, (b,), {"shape": tuple(b.shape) + (1,)})
    x = _apply(Op.SOLVE, (a, b), {})
    if vector:
        return _apply(Op.RESHAPE, (x,), {"shape": tuple(x.shape[:-1])})
    return x if left else _apply(Op.PERMUTE, (x,), {"axes": _swap_last(x.ndim)})


def _cast(t: Tensor, dtype: Any) -> Tensor:
    if dtype is None:
        return t
    return t.to(dtype)


def vector_norm(x: Any, ord: float = 2, dim: Any = None, keepdim: bool = False, *,  # noqa: A002
                dtype: Any = None) -> Tensor:
    """Vector ``ord``-norm over ``dim`` (all elements if None): ``ord`` 2, 1, inf, -inf, 0
    (the count of nonzeros) or any float; the gradient is 0 where the norm is 0.

    >>> import symgrad as sg
    >>> sg.linalg.vector_norm(sg.tensor([[3.0, -4.0], [0.0, 1.0]]), ord=math.inf, dim=1)
    tensor([4., 1.])
    """
    t = _cast(floating("linalg.vector_norm", x), dtype)
    if isinstance(ord, str) or isinstance(ord, builtins.bool):
        raise TypeError(f"linalg.vector_norm: ord must be a number, got {ord!r}")
    ax = axes(dim, t.ndim) if t.ndim else None
    return _apply(Op.VECTOR_NORM, (t,), {"ord": builtins.float(ord), "axis": ax,
                                         "keepdims": builtins.bool(keepdim)})


def _reduce(op: Op, t: Tensor, axis: int) -> Tensor:
    return _apply(op, (t,), {"axis": (axis,), "keepdims": True})


def matrix_norm(A: Any, ord: Any = "fro", dim: tuple = (-2, -1), keepdim: bool = False, *,  # noqa: A002
                dtype: Any = None) -> Tensor:
    """Matrix norm over the two dims ``dim``: ``'fro'``, or 1, -1, inf, -inf (the largest or
    smallest absolute column or row sum).  ``'nuc'`` and 2, -2 need singular values,
    which symgrad does not have: they raise NotImplementedError.

    >>> import symgrad as sg
    >>> a = sg.tensor([[1.0, -2.0], [3.0, 4.0]])
    >>> sg.linalg.matrix_norm(a), sg.linalg.matrix_norm(a, math.inf)
    (tensor(5.4772), tensor(7.))
    """
    t = _cast(floating("linalg.matrix_norm", A), dtype)
    if t.ndim < 2:
        raise ShapeError(f"linalg.matrix_norm: The input tensor A must have at least 2 "
                         f"dimensions, got shape {t.shape}")
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise ShapeError(f"linalg.matrix_norm: dim must be a 2-tuple of ints, got {dim!r}")
    d0, d1 = _dim(dim[0], t.ndim), _dim(dim[1], t.ndim)
    if d0 == d1:
        raise ShapeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, "
                         f"{dim[1]})")
    if ord == "fro":
        return vector_norm(t, 2, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        raise NotImplementedError(f"linalg.matrix_norm: ord={ord!r} needs singular values, "
                                  "which symgrad does not provide; use 'fro', 1, -1, inf or "
                                  "-inf")
    if ord not in (1, -1, math.inf, -math.inf):
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported; use 'fro', "
                           "'nuc', 1, -1, 2, -2, inf or -inf")
    sum_dim, pick_dim = (d0, d1) if ord in (1, -1) else (d1, d0)
    sums = _apply(Op.SUM, (_apply(Op.ABS, (t,), {}),), {"axis": (sum_dim,), "keepdims": True})
    out = _reduce(Op.MAX if ord > 0 else Op.MIN, sums, pick_dim)
    if keepdim:
        return out
    return _apply(Op.RESHAPE, (out,), {"shape": tuple(n for i, n in enumerate(out.shape)
                                                      if i not in (d0, d1))})


def norm(A: Any, ord: Any = None, dim: Any = None, keepdim: bool = False, *,  # noqa: A002
         dtype: Any = None) -> Tensor:
    """Vector or matrix norm as ``torch.linalg.norm``: a matrix norm when ``ord`` is a
    string or ``dim`` a 2-tuple (or ``dim`` is None, ``ord`` given and ``A`` 2-D),
    else a vector norm (``ord=None`` is the 2-norm of the flattened input).

    >>> import symgrad as sg
    >>> sg.linalg.norm(sg.tensor([[1.0, 2.0], [2.0, 4.0]]))
    tensor(5.)
    """
    t = _t(A)
    if isinstance(dim, int):
        dim = (dim,)
    if ord is None:
        if dim is not None and len(dim) == 2:
            return matrix_norm(t, "fro", tuple(dim), keepdim, dtype=dtype)
        return vector_norm(t, 2, dim, keepdim, dtype=dtype)
    if dim is None:
        if t.ndim not in (1, 2):
            raise ShapeError(f"linalg.norm: If dim is not specified but ord is, the input "
                             f"must be 1D or 2D. Got {t.ndim}D.")
        dim = tuple(range(t.ndim))
    if len(dim) == 2:
        return matrix_norm(t, ord, tuple(dim), keepdim, dtype=dtype)
    if isinstance(ord, str):
        raise RuntimeError(f"linalg.norm: ord={ord!r} is a matrix norm: give a 2-tuple dim")
    return vector_norm(t, ord, dim, keepdim, dtype=dtype)


def vecdot(x: Any, y: Any, *, dim: int = -1) -> Tensor:
    """Dot product of vectors along ``dim`` (broadcast): ``sum(x * y, dim)``.

    >>> import symgrad as sg
    >>> sg.linalg.vecdot(sg.tensor([[1.0, 2.0], [3.0, 4.0]]), sg.tensor([1.0, 1.0]))
    tensor([3., 7.])
    """
    prod = _apply(Op.MUL, (_t(x), _t(y)), {})
    return _apply(Op.SUM, (prod,), {"axis": (_dim(dim, prod.ndim),), "keepdims": False})


def diagonal(A: Any, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """The ``offset`` diagonal of each matrix over ``dim1``, ``dim2`` (as the last dim).

    >>> import symgrad as sg
    >>> sg.linalg.diagonal(sg.eye(3).reshape(1, 3, 3) * 2)
    tensor([[2., 2., 2.]])
    """
    return _diagonal(A, offset, dim1, dim2)


def matmul(input: Any, other: Any) -> Tensor:
    """Matrix product (``torch.linalg.matmul``, an alias of ``sg.matmul``).

    >>> import symgrad as sg
    >>> sg.linalg.matmul(sg.eye(2), sg.tensor([1.0, 2.0]))
    tensor([1., 2.])
    """
    return _apply(Op.MATMUL, (_t(input), _t(other)), {})

