"""Linear algebra on matrices (issue 11): ``det``, ``logabsdet``, ``inv``, ``solve``,
``cholesky``, ``vector_norm``, ``trace``, ``tril``, ``triu``.

Matrices are the last two dims; leading dims are a batch (``solve`` broadcasts
its batch dims as ``torch.linalg.solve``).  The VJPs are PyTorch's:

* ``det``: ``g * det(A) * A^-T`` (Note [Singular det] for det(A) = 0);
* ``logabsdet`` (slogdet's second output): ``g * A^-T``;
* ``inv``: ``-A^-T G A^-T``;
* ``solve``: ``gB = solve(A^T, G)``, ``gA = -gB X^T``, no inverse formed;
* ``cholesky``: ``sym(L^-T Phi(L^T gL) L^-1)`` with ``Phi`` the lower triangle
  with its diagonal halved (Note [Symmetric cholesky]);
* ``vector_norm``: PyTorch's ``norm_backward`` (0 where the norm is 0, the
  ``inf`` norm splits among ties).

Each VJP is written with ``numeric.apply`` of these very ops, matmul, swapaxes
and masks, so it runs on symgrad Tensors too (second derivatives).

>>> DET.kernel(np.array([[2.0, 1.0], [1.0, 3.0]]))
array(5.)
>>> VECTOR_NORM.kernel(np.array([3.0, -4.0]), ord=1, axis=None, keepdims=False)
array(7.)
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from numeric.errors import LinAlgError, ShapeError
from numeric.rules.core import FLOAT, PROMOTE, apply, declare, floats
from numeric.rules.reductions import vector_norm
from numeric.shapes import broadcast_shapes, fmt, reduce_shape

_a = np.asarray


# ----------------------------------------------------------------------------- shapes
def square(name: str, shape: Sequence[Any]) -> tuple:
    """``shape`` checked to be a batch of square matrices ``(*, n, n)``."""
    shape = tuple(shape)
    if len(shape) < 2:
        raise ShapeError(f"linalg.{name}: the input must have at least 2 dimensions "
                         f"(a matrix or a batch of matrices), got shape {fmt(shape)}")
    m, n = shape[-2:]
    if isinstance(m, int) and isinstance(n, int) and m != n:
        raise ShapeError(f"linalg.{name}: A must be batches of square matrices, but they "
                         f"are {m} by {n} matrices (shape {fmt(shape)})")
    return shape


def _solve_shape(shapes, attrs):
    a, b = square("solve", shapes[0]), tuple(shapes[1])
    if len(b) < 2:
        raise ShapeError(f"linalg.solve: B must be a matrix or a batch of matrices here, "
                         f"got shape {fmt(b)} (sg.linalg.solve handles vectors)")
    n, k = b[-2:]
    if isinstance(n, int) and isinstance(a[-1], int) and n != a[-1]:
        raise ShapeError(f"linalg.solve: incompatible shapes of A {fmt(a)} and B {fmt(b)}: "
                         f"B needs {a[-1]} rows, got {n}")
    return broadcast_shapes(a[:-2], b[:-2]) + (a[-1], k)


def _norm_shape(shapes, attrs):
    return reduce_shape(shapes[0], attrs.get("axis"), attrs.get("keepdims", False))


# ----------------------------------------------------------------------------- helpers
def mT(x: Any) -> Any:
    """Transpose of the last two dims (numpy arrays and Tensors)."""
    return np.swapaxes(x, -1, -2)


def _mat(g: Any) -> Any:
    """A batch of scalars ``(*,)`` as ``(*, 1, 1)`` to scale matrices."""
    return np.expand_dims(np.expand_dims(g, -1), -1)


def _lapack(name: str, fn: Any, *xs: np.ndarray) -> np.ndarray:
    """Run a numpy.linalg routine; its singular-matrix error becomes LinAlgError."""
    try:
        return _a(fn(*xs))
    except np.linalg.LinAlgError as e:
        what = ("the input is not positive-definite" if name == "cholesky" else
                "the input matrix is singular")
        raise LinAlgError(f"linalg.{name}: the factorization could not be completed because "
                          f"{what} ({e})") from None


# ----------------------------------------------------------------------------- det
# Note [Singular det]: the gradient of det is the transposed adjugate, det(A) * A^-T
# where A is invertible (PyTorch's formula).  Where det(A) is exactly 0 (a zero
# matrix, a repeated row) that formula needs A^-1, which does not exist; like PyTorch
# the VJP then takes the adjugate from the SVD, A = U S V^T:
# adj(A) = det(U) det(V) V diag(prod_{j != i} s_j) U^T, continuous in A.  That branch
# runs on numpy values only: a second derivative (create_graph) at a singular A
# raises LinAlgError.
def _det(x):
    return _a(np.linalg.det(floats(x)))


def _adjugate(x: np.ndarray) -> np.ndarray:
    """adj(A) through the SVD, defined for singular A too (Note [Singular det])."""
    u, s, vt = np.linalg.svd(x)
    others = np.stack([np.prod(np.delete(s, i, axis=-1), axis=-1)
                       for i in range(s.shape[-1])], -1)
    sign = np.linalg.det(u) * np.linalg.det(vt)
    return _mat(sign) * ((mT(vt) * np.expand_dims(others, -2)) @ mT(u))


def _det_vjp(g, out, x):
    if isinstance(x, np.ndarray) and not np.all(out):
        return _mat(g) * mT(_adjugate(floats(x)))
    return _mat(g * out) * mT(apply(INV.op, x))


DET = declare("det", _det, (_det_vjp,), group="linalg", arity=1,
              shape=lambda shapes, attrs: square("det", shapes[0])[:-2], dtype=FLOAT,
              sg="det", methods="det",
              doc="Determinant of a square matrix (or a batch); gradient ``det(A) * A^-T``.")


def _logabsdet(x):
    with np.errstate(divide="ignore"):
        return _a(np.linalg.slogdet(floats(x))[1])


def _logabsdet_vjp(g, out, x):
    return _mat(g) * mT(apply(INV.op, x))


LOGABSDET = declare("logabsdet", _logabsdet, (_logabsdet_vjp,), group="linalg", arity=1,
                    shape=lambda shapes, attrs: square("slogdet", shapes[0])[:-2],
                    dtype=FLOAT, sg=(), methods=(),
                    doc="``log|det(A)|`` (``slogdet``'s ``logabsdet``), without forming the "
                        "determinant; gradient ``A^-T``.")


# ----------------------------------------------------------------------------- inv
def _inv(x):
    return _lapack("inv", np.linalg.inv, floats(x))


def _inv_vjp(g, out, x):
    t = mT(out)
    return -(t @ g @ t)


INV = declare("inv", _inv, (_inv_vjp,), group="linalg", arity=1,
              shape=lambda shapes, attrs: square("inv", shapes[0]), dtype=FLOAT,
              sg="inverse", methods="inverse",
              doc="Inverse of a square matrix (or a batch); singular raises "
                  "``LinAlgError``; gradient ``-A^-T G A^-T``.")


# ----------------------------------------------------------------------------- solve
def _solve(a, b):
    a, b = floats(a), floats(b)
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, batch + a.shape[-2:])
    b = np.broadcast_to(b, batch + b.shape[-2:])
    return _lapack("solve", np.linalg.solve, a, b)


def _solve_b(g, out, a, b):
    return apply(SOLVE.op, mT(a), g)


def _solve_a(g, out, a, b):
    return -(apply(SOLVE.op, mT(a), g) @ mT(out))


SOLVE = declare("solve", _solve, (_solve_a, _solve_b), group="linalg", arity=2,
                shape=_solve_shape, dtype=FLOAT, sg=(), methods=(),
                doc="The solution ``X`` of ``A X = B`` (batched, broadcast); gradient "
                    "``gB = solve(A^T, G)``, ``gA = -gB X^T``.")


# ----------------------------------------------------------------------------- cholesky
# Note [Symmetric cholesky]: LAPACK (and PyTorch's forward) read only the lower
# triangle of A, while PyTorch's gradient is symmetric: the derivative of the
# factor of a *symmetric* input.  One function has both properties on every
# input: the factor of sym(A) = (A + A^T) / 2.  The kernel computes exactly that,
# so it equals PyTorch's value on the symmetric inputs PyTorch defines, the
# gradient is PyTorch's everywhere, and finite differences agree with it.
def _cholesky(x):
    x = floats(x)
    return _lapack("cholesky", np.linalg.cholesky, (x + mT(x)) / 2)


def _phi(n: int, dtype: Any) -> np.ndarray:
    """The lower-triangle mask with 1/2 on the diagonal."""
    return np.tril(np.ones((n, n), dtype)) - np.eye(n, dtype=dtype) / 2


def _cholesky_vjp(g, out, x):
    linv = apply(INV.op, out)
    s = mT(linv) @ ((mT(out) @ g) * _phi(out.shape[-1], out.dtype)) @ linv
    return (s + mT(s)) / 2


CHOLESKY = declare("cholesky", _cholesky, (_cholesky_vjp,), group="linalg", arity=1,
                   shape=lambda shapes, attrs: square("cholesky", shapes[0]), dtype=FLOAT,
                   sg=(), methods=(),
                   doc="Lower Cholesky factor ``L`` of a symmetric positive-definite matrix "
                       "(``A = L L^T``); not positive-definite raises ``LinAlgError``.")


# ----------------------------------------------------------------------------- vector_norm
def _vector_norm(x, ord=2.0, axis=None, keepdims=False):  # noqa: A002 - PyTorch's name
    # the same norm as sg.norm's kernel (numeric/rules/reductions.py), on floats
    return vector_norm(floats(x), ord, axis, keepdims)


def _vector_norm_vjp(g, out, x, ord=2.0, axis=None, keepdims=False):  # noqa: A002
    kept = tuple(1 if i in (range(x.ndim) if axis is None else axis) else n
                 for i, n in enumerate(x.shape))
    g = g if keepdims else np.reshape(g, kept)
    out = out if keepdims else np.reshape(out, kept)
    if ord == 0:
        return np.zeros_like(x)
    if ord == 1:
        return g * np.sign(x)
    if ord in (np.inf, -np.inf):
        hit = x * np.sign(x) == out
        count = np.sum(np.where(hit, np.ones_like(x), np.zeros_like(x)),
                       axis=tuple(range(x.ndim)) if axis is None else tuple(axis),
                       keepdims=True)
        return np.sign(x) * np.where(hit, g / count, 0.0)
    zero = out == 0
    scale = np.where(zero, 0.0, g / np.where(zero, 1.0, out) ** (ord - 1))
    if ord == 2:
        return x * scale
    safe = np.where(x == 0, 1.0, x)
    return np.where(x == 0, 0.0, np.sign(x) * (safe * np.sign(safe)) ** (ord - 1)) * scale


VECTOR_NORM = declare("vector_norm", _vector_norm, (_vector_norm_vjp,), group="linalg",
                      arity=1, shape=_norm_shape, dtype=FLOAT, sg=(), methods=(), kinked=True,
                      doc="Vector ``ord``-norm over ``dim`` (2, 1, inf, -inf, 0 or any "
                          "float); gradient 0 where the norm is 0, as PyTorch.")


# ----------------------------------------------------------------------------- trace, tril, triu
def _matrix_shape(name: str, shape: Sequence[Any]) -> tuple:
    shape = tuple(shape)
    if len(shape) < 2:
        raise ShapeError(f"{name}: input tensor must have at least 2 dimensions, got shape "
                         f"{fmt(shape)}")
    return shape


def _trace_shape(shapes, attrs):
    if len(shapes[0]) != 2:
        raise ShapeError(f"trace: expected a matrix, but got tensor with dim {len(shapes[0])} "
                         f"(shape {fmt(shapes[0])})")
    return ()


TRACE = declare("trace", lambda x: _a(np.trace(x)),
                (lambda g, out, x: g * np.eye(*x.shape, dtype=x.dtype),),
                group="linalg", arity=1, shape=_trace_shape, dtype=PROMOTE, sg="trace",
                methods="trace", doc="Sum of the main diagonal of a matrix.")

def _triangle(name: str, kernel: Any, where: str, side: str) -> Any:
    """tril/triu: the kernel keeps one triangle, and so does its VJP (the op itself)."""
    rule = declare(name, lambda x, diagonal=0: _a(kernel(x, diagonal)),
                   (lambda g, out, x, diagonal=0: apply(rule.op, g, diagonal=diagonal),),
                   group="linalg", arity=1,
                   shape=lambda shapes, attrs: _matrix_shape(name, shapes[0]), dtype=PROMOTE,
                   sg=name, methods=name,
                   doc=f"The {where} triangle of the last two dims (on and {side} "
                       "the ``diagonal``-th diagonal); the rest is 0.")
    return rule


TRIL = _triangle("tril", np.tril, "lower", "below")
TRIU = _triangle("triu", np.triu, "upper", "above")
