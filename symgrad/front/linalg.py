"""Linear algebra under PyTorch's top-level names (issue 11).

The primitives (``det``, ``inverse``, ``solve``, ``cholesky``, ``vector_norm``)
are declared in :mod:`numeric.rules.matrix`; the rest are built from ops, as
PyTorch builds them (``verify.opdb.COMPOSED`` lists each): ``diagonal`` is an
index, ``diag_embed`` its adjoint (scatter), ``outer``/``kron`` broadcast
products, ``dot`` a matmul, ``einsum`` products and sums of permuted operands,
``logdet``/``slogdet`` slogdet's ``logabsdet`` (an op) with the sign from the
values.  ``trace``, ``tril``, ``triu`` and ``logabsdet`` are ops too.
``torch.linalg``'s names are in :mod:`symgrad.linalg`.

>>> import symgrad as sg
>>> a = sg.tensor([[2.0, 1.0], [0.0, 3.0]])
>>> sg.det(a), sg.trace(a), sg.einsum("ij,j->i", a, sg.ones(2))
(tensor(6.), tensor(5.), tensor([3., 3.]))
"""
from __future__ import annotations

import builtins
from collections import namedtuple
from typing import Any, Sequence

import numpy as np

from numeric.errors import ShapeError
from numeric.ops import Op
from symgrad.errors import DtypeError
from symgrad.tensor import Tensor, _apply, _dim, _node, const

__all__ = ["det", "inverse", "logdet", "slogdet", "cholesky", "trace", "outer", "ger", "kron",
           "einsum", "dot", "vdot", "diag", "diagonal", "diag_embed", "tril", "triu"]

#: ``slogdet``'s result, as ``torch.return_types.slogdet``
SlogdetResult = namedtuple("slogdet", ["sign", "logabsdet"])


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else const(x)


def floating(name: str, x: Any) -> Tensor:
    """``x`` as a Tensor, checked to be floating point (PyTorch's linalg needs floats)."""
    t = _t(x)
    if t.dtype.kind != "f":
        raise DtypeError(f"{name}: Expected a floating point tensor as input. Got "
                         f"{t.dtype}; convert it with .double() or .float()")
    return t


def _matrix(name: str, x: Any) -> Tensor:
    t = floating(name, x)
    if t.ndim < 2:
        raise ShapeError(f"{name}: The input tensor A must have at least 2 dimensions "
                         f"(a matrix or a batch of matrices), got shape {t.shape}")
    return t


# ----------------------------------------------------------------------------- primitives
def det(input: Any) -> Tensor:
    """Determinant of a square matrix or a batch of them (``torch.det``).

    >>> import symgrad as sg
    >>> sg.det(sg.tensor([[1.0, 1.0], [1.0, 2.0]]))
    tensor(1.)
    """
    return _apply(Op.DET, (_matrix("linalg.det", input),), {})


def inverse(input: Any) -> Tensor:
    """Inverse of a square matrix or a batch (``torch.inverse``); singular raises LinAlgError.

    >>> import symgrad as sg
    >>> sg.inverse(sg.tensor([[2.0, 0.0], [0.0, 4.0]]))
    tensor([[0.5000, 0.0000],
            [0.0000, 0.2500]])
    """
    return _apply(Op.INV, (_matrix("linalg.inv", input),), {})


def cholesky(input: Any, upper: bool = False) -> Tensor:
    """Cholesky factor of a symmetric positive-definite matrix (``torch.cholesky``).

    Lower ``L`` with ``A = L L^T``, or upper ``U = L^T`` (``upper=True``).
    symgrad factors ``(A + A^T) / 2`` (Note [Symmetric cholesky] in
    numeric/rules/matrix.py): PyTorch's value on symmetric input, its gradient
    everywhere.

    >>> import symgrad as sg
    >>> sg.cholesky(sg.tensor([[4.0, 2.0], [2.0, 5.0]]))
    tensor([[2., 0.],
            [1., 2.]])
    """
    out = _apply(Op.CHOLESKY, (_matrix("linalg.cholesky", input),), {})
    return _apply(Op.PERMUTE, (out,), {"axes": _swap_last(out.ndim)}) if upper else out


def _swap_last(ndim: int) -> tuple:
    return tuple(range(ndim - 2)) + (ndim - 1, ndim - 2)


def logdet(input: Any) -> Tensor:
    """``log(det(A))``: nan where the determinant is negative, -inf where it is 0 (``torch.logdet``).

    As PyTorch, it is slogdet's ``logabsdet`` where the sign is not negative (the
    gradient is 0 where the value is nan).

    >>> import symgrad as sg
    >>> sg.logdet(sg.tensor([[2.0, 0.0], [0.0, 0.5]]))
    tensor(0.)
    """
    t = _matrix("linalg.logdet", input)
    if t.value is None:      # a symbolic matrix: the sign is not known, log(det) is exact
        return _apply(Op.LOG, (det(t),), {})
    sign = np.linalg.slogdet(t.value)[0]
    nan = const(np.full(sign.shape, np.nan, t.dtype))
    return _apply(Op.WHERE, (const(sign < 0), nan, _apply(Op.LOGABSDET, (t,), {})), {})


def slogdet(input: Any) -> SlogdetResult:
    """``(sign, logabsdet)`` of the determinant (``torch.slogdet``); ``sign`` has no gradient.

    ``logabsdet`` is computed from the LU factors, never from the determinant, so it
    stays finite where the determinant overflows.

    >>> import symgrad as sg
    >>> sg.slogdet(sg.tensor([[0.0, 2.0], [1.0, 0.0]]))
    slogdet(sign=tensor(-1.), logabsdet=tensor(0.6931))
    """
    t = _matrix("linalg.slogdet", input)
    if t.value is None:
        d = det(t)
        sign = _apply(Op.DIV, (d, _apply(Op.ABS, (d,), {})), {})
    else:
        sign = _node(np.asarray(np.linalg.slogdet(t.value)[0]), None, (), {}, False)
    return SlogdetResult(sign, _apply(Op.LOGABSDET, (t,), {}))


# ----------------------------------------------------------------------------- diagonals
def _diag_index(n1: int, n2: int, offset: int) -> tuple:
    """Row and column indices of the ``offset`` diagonal of an ``n1 x n2`` matrix."""
    if not (isinstance(n1, builtins.int) and isinstance(n2, builtins.int)):
        raise ShapeError(f"diag/diagonal/diag_embed need concrete sizes, got {n1!r} x "
                         f"{n2!r}: the diagonal is an index array. Give the symbol concrete "
                         "dims (form='matrix' still gives DiagonalOf(X) / DiagMatrix(x))")
    length = builtins.max(0, builtins.min(n1 + builtins.min(offset, 0),
                                          n2 - builtins.max(offset, 0)))
    i = np.arange(length, dtype=np.int64)
    return i - builtins.min(offset, 0), i + builtins.max(offset, 0)


def _two_dims(name: str, dim1: int, dim2: int, ndim: int) -> tuple:
    d1, d2 = _dim(dim1, ndim), _dim(dim2, ndim)
    if d1 == d2:
        raise ShapeError(f"{name}: diagonal dimensions cannot be identical {dim1}, {dim2}; "
                         "give two different dims")
    return d1, d2


def diagonal(input: Any, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The ``offset`` diagonal over ``dim1``, ``dim2``, appended as the last dim.

    >>> import symgrad as sg
    >>> sg.diagonal(sg.arange(9.0).reshape(3, 3), offset=1)
    tensor([1., 5.])
    """
    t = _t(input)
    d1, d2 = _two_dims("diagonal", dim1, dim2, t.ndim)
    order = tuple(d for d in range(t.ndim) if d not in (d1, d2)) + (d1, d2)
    moved = t if order == tuple(range(t.ndim)) else _apply(Op.PERMUTE, (t,), {"axes": order})
    rows, cols = _diag_index(t.shape[d1], t.shape[d2], builtins.int(offset))
    return _apply(Op.GETITEM, (moved,), {"index": (Ellipsis, rows, cols)})


_diagonal = diagonal


def diag_embed(input: Any, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices whose ``offset`` diagonal (over ``dim1``, ``dim2``) is the last dim of ``input``.

    >>> import symgrad as sg
    >>> sg.diag_embed(sg.tensor([1.0, 2.0]))
    tensor([[1., 0.],
            [0., 2.]])
    """
    t = _t(input)
    if t.ndim == 0:
        raise ShapeError("diag_embed: the input must have at least 1 dimension, got a 0-d "
                         "tensor")
    ndim = t.ndim + 1
    d1, d2 = _two_dims("diag_embed", dim1, dim2, ndim)
    offset = builtins.int(offset)
    n = t.shape[-1]
    m = n + builtins.abs(offset) if isinstance(n, builtins.int) else n
    rows, cols = _diag_index(m, m, offset)
    square = _apply(Op.SCATTER_ADD, (t,), {"shape": tuple(t.shape[:-1]) + (m, m),
                                           "index": (Ellipsis, rows, cols)})
    rest = iter(range(ndim - 2))
    order = tuple(ndim - 2 if p == d1 else ndim - 1 if p == d2 else next(rest)
                  for p in range(ndim))
    return square if order == tuple(range(ndim)) else \
        _apply(Op.PERMUTE, (square,), {"axes": order})


def diag(input: Any, diagonal: int = 0) -> Tensor:
    """A vector's diagonal matrix, or a matrix's diagonal vector (``torch.diag``).

    >>> import symgrad as sg
    >>> sg.diag(sg.tensor([1.0, 2.0]), 1)
    tensor([[0., 1., 0.],
            [0., 0., 2.],
            [0., 0., 0.]])
    """
    t = _t(input)
    if t.ndim == 1:
        return diag_embed(t, diagonal, 0, 1)
    if t.ndim == 2:
        return _diagonal(t, diagonal, 0, 1)
    raise ShapeError(f"diag(): Supports 1D or 2D tensors. Got {t.ndim}D (shape {t.shape}); "
                     "use sg.diagonal or sg.diag_embed for batches")


def trace(input: Any) -> Tensor:
    """Sum of the main diagonal of a matrix (``torch.trace``).

    >>> import symgrad as sg
    >>> sg.trace(sg.tensor([[1.0, 2.0], [3.0, 4.0]]))
    tensor(5.)
    """
    return _apply(Op.TRACE, (_t(input),), {})


def _at_least_2d(name: str, input: Any) -> Tensor:
    t = _t(input)
    if t.ndim < 2:
        raise ShapeError(f"{name}: input tensor must have at least 2 dimensions, got shape "
                         f"{t.shape}")
    return t


def tril(input: Any, diagonal: int = 0) -> Tensor:
    """The lower triangle (on and below the ``diagonal``-th diagonal); the rest is 0.

    >>> import symgrad as sg
    >>> sg.tril(sg.ones(2, 2))
    tensor([[1., 0.],
            [1., 1.]])
    """
    return _apply(Op.TRIL, (_at_least_2d("tril", input),), {"diagonal": builtins.int(diagonal)})


def triu(input: Any, diagonal: int = 0) -> Tensor:
    """The upper triangle (on and above the ``diagonal``-th diagonal); the rest is 0.

    >>> import symgrad as sg
    >>> sg.triu(sg.ones(2, 2), 1)
    tensor([[0., 1.],
            [0., 0.]])
    """
    return _apply(Op.TRIU, (_at_least_2d("triu", input),), {"diagonal": builtins.int(diagonal)})


# ----------------------------------------------------------------------------- products
def _vectors(name: str, a: Any, b: Any) -> tuple:
    x, y = _t(a), _t(b)
    if x.ndim != 1 or y.ndim != 1:
        raise ShapeError(f"{name}: 1D tensors expected, but got {x.ndim}D and {y.ndim}D tensors")
    return x, y


def dot(input: Any, tensor: Any) -> Tensor:
    """Inner product of two 1-D tensors of the same length (``torch.dot``).

    >>> import symgrad as sg
    >>> sg.dot(sg.tensor([1.0, 2.0]), sg.tensor([3.0, 4.0]))
    tensor(11.)
    """
    x, y = _vectors("dot", input, tensor)
    if x.dtype != y.dtype:
        raise DtypeError(f"dot : expected both vectors to have same dtype, but found "
                         f"{x.dtype} and {y.dtype}")
    if x.shape != y.shape:
        raise ShapeError(f"dot: inconsistent tensor size, expected tensor {list(x.shape)} and "
                         f"src {list(y.shape)} to have the same number of elements, but got "
                         f"{x.shape[0]} and {y.shape[0]} elements respectively")
    return _apply(Op.MATMUL, (x, y), {})


def vdot(input: Any, other: Any) -> Tensor:
    """Inner product ``sum(conj(input) * other)``: :func:`dot` for real tensors (``torch.vdot``).

    >>> import symgrad as sg
    >>> sg.vdot(sg.tensor([1.0, 2.0]), sg.tensor([3.0, 4.0]))
    tensor(11.)
    """
    return dot(input, other)


def outer(input: Any, vec2: Any) -> Tensor:
    """Outer product of two 1-D tensors (``torch.outer``): ``out[i, j] = input[i] * vec2[j]``.

    >>> import symgrad as sg
    >>> sg.outer(sg.tensor([1.0, 2.0]), sg.tensor([3.0, 4.0]))
    tensor([[3., 4.],
            [6., 8.]])
    """
    x, y = _vectors("outer", input, vec2)
    column = _apply(Op.RESHAPE, (x,), {"shape": (x.shape[0], 1)})
    return _apply(Op.MUL, (column, y), {})


ger = outer


def kron(input: Any, other: Any) -> Tensor:
    """Kronecker product (``torch.kron``): the shape is the product of the (padded) shapes.

    >>> import symgrad as sg
    >>> sg.kron(sg.eye(2), sg.tensor([[1.0, 2.0]]))
    tensor([[1., 2., 0., 0.],
            [0., 0., 1., 2.]])
    """
    a, b = _t(input), _t(other)
    nd = builtins.max(a.ndim, b.ndim)
    sa = (1,) * (nd - a.ndim) + tuple(a.shape)
    sb = (1,) * (nd - b.ndim) + tuple(b.shape)
    ra = _apply(Op.RESHAPE, (a,), {"shape": tuple(d for n in sa for d in (n, 1))})
    rb = _apply(Op.RESHAPE, (b,), {"shape": tuple(d for n in sb for d in (1, n))})
    prod = _apply(Op.MUL, (ra, rb), {})
    return _apply(Op.RESHAPE, (prod,), {"shape": tuple(_times(x, y) for x, y in zip(sa, sb))})


def _times(x: Any, y: Any) -> Any:
    """A product of dims; symbolic ones (``"N"``) multiply as strings (``"N*2"``)."""
    if isinstance(x, builtins.int) and isinstance(y, builtins.int):
        return x * y
    return y if x == 1 else x if y == 1 else f"{x}*{y}"


# ----------------------------------------------------------------------------- einsum
def _parse_einsum(equation: str, ndims: Sequence[int]) -> tuple:
    """Labels per operand (``...`` expanded to ``'0'``, ``'1'``, ... right-aligned) and output."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ndims):
        raise ValueError(f"einsum(): the equation {equation!r} has {len(terms)} operand "
                         f"subscripts but {len(ndims)} operands were given")
    n_ell = 0
    for term, nd in zip(terms, ndims):
        letters = term.replace("...", "")
        if not all(c.isalpha() for c in letters) or term.count("...") > 1:
            raise ValueError(f"einsum(): invalid subscript {term!r} in {equation!r}: use "
                             "letters a-z, A-Z and at most one '...' per operand")
        if ("..." in term and len(letters) > nd) or ("..." not in term and len(letters) != nd):
            raise ValueError(f"einsum(): the number of subscripts in {term!r} does not match "
                             f"the number of dimensions ({nd}) of its operand")
        if "..." in term:
            n_ell = builtins.max(n_ell, nd - len(letters))
    ell = [str(k) for k in range(n_ell)]
    labels = []
    for term, nd in zip(terms, ndims):
        head, _, tail = term.partition("...")
        k = nd - len(head) - len(tail) if "..." in term else 0
        labels.append(list(head) + ell[n_ell - k:] + list(tail))
    if arrow:
        if not all(c.isalpha() for c in rhs.replace("...", "")):
            raise ValueError(f"einsum(): invalid output subscripts {rhs!r} in {equation!r}")
        head, _, tail = rhs.partition("...")
        out = list(head) + (ell if "..." in rhs else []) + list(tail)
        seen = {c for ls in labels for c in ls}
        bad = [c for c in out if c not in seen]
        if bad or len(set(out)) != len(out):
            raise ValueError(f"einsum(): output subscripts {rhs!r} must each appear once, and "
                             f"in an input (equation {equation!r})")
    else:
        counts: dict = {}
        for ls in labels:
            for c in ls:
                counts[c] = counts.get(c, 0) + 1
        out = ell + sorted(c for c, n in counts.items() if n == 1 and c not in ell)
    return labels, out


def _take_repeats(t: Tensor, labels: list) -> tuple:
    """A label repeated in one operand (``ii``) takes that operand's diagonal."""
    labels = list(labels)
    while len(set(labels)) != len(labels):
        c = next(c for c in labels if labels.count(c) > 1)
        i = labels.index(c)
        j = labels.index(c, i + 1)
        if t.shape[i] != t.shape[j]:
            raise ShapeError(f"einsum(): subscript {c} is repeated for operand but the sizes "
                             f"don't match, {t.shape[i]} != {t.shape[j]}")
        t = diagonal(t, 0, i, j)
        labels = [x for k, x in enumerate(labels) if k not in (i, j)] + [c]
    return t, labels


def einsum(equation: str, *operands: Any) -> Tensor:
    """Sum of products over the subscripts of ``equation`` (``torch.einsum``).

    Explicit (``"ij,jk->ik"``) or implicit output (``"ij,jk"``: the letters seen
    once, sorted), ``...`` for broadcast dims, a repeated letter for a diagonal.

    >>> import symgrad as sg
    >>> a = sg.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> sg.einsum("ii", a), sg.einsum("ij->j", a), sg.einsum("i,j->ij", a[0], a[1]).shape
    (tensor(5.), tensor([4., 6.]), (2, 2))
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ts = [_t(x) for x in operands]
    if not ts:
        raise ValueError("einsum(): must provide at least one operand")
    labels, out = _parse_einsum(equation, [t.ndim for t in ts])
    pairs = [_take_repeats(t, ls) for t, ls in zip(ts, labels)]
    order = out + sorted({c for _, ls in pairs for c in ls} - set(out))
    sizes: dict = {}
    terms = []
    for t, ls in pairs:
        for c, n in zip(ls, t.shape):
            if sizes.get(c, 1) not in (1, n) and n != 1:
                raise ShapeError(f"einsum(): operands do not broadcast: subscript {c} has "
                                 f"size {sizes[c]} in one operand and {n} in another")
            sizes[c] = builtins.max(sizes.get(c, 1), n)
        mine = [c for c in order if c in ls]
        perm = tuple(ls.index(c) for c in mine)
        if perm != tuple(range(len(perm))):
            t = _apply(Op.PERMUTE, (t,), {"axes": perm})
        shape = tuple(t.shape[mine.index(c)] if c in ls else 1 for c in order)
        if shape != tuple(t.shape):
            t = _apply(Op.RESHAPE, (t,), {"shape": shape})
        terms.append(t)
    result = terms[0]
    for t in terms[1:]:
        result = _apply(Op.MUL, (result, t), {})
    summed = tuple(range(len(out), len(order)))
    if summed:
        result = _apply(Op.SUM, (result,), {"axis": summed, "keepdims": False})
    target = tuple(sizes[c] for c in out)
    if tuple(result.shape) != target:
        result = _apply(Op.BROADCAST_TO, (result,), {"shape": target})
    return result


#: Tensor methods of the composed functions (the primitives' come from their rules)
METHODS = {name: globals()[name] for name in
           ("logdet", "slogdet", "cholesky", "outer", "ger", "kron", "dot", "vdot", "diag",
            "diagonal", "diag_embed")}