"""Lowering the DAG to SymPy, elementwise: ``TO_SYMPY`` and ``to_sympy``.

A tensor of shape ``S`` lowers to a numpy *object* array of shape ``S`` whose
entries are SymPy scalars (numpy does broadcasting, reshapes, indexing and
matmul on object arrays for free); the public :func:`to_sympy` turns that into
a SymPy ``ImmutableDenseNDimArray`` (or a plain expression for a size-1 result).

``TO_SYMPY[op](*arrays, **attrs)`` is each op's exact local form.  Elementwise
ops are built from a *scalar* form in ``SCALAR_FORMS`` applied with numpy
broadcasting.  Note [Kinks]: ``relu`` is ``Piecewise((x, x > 0), (0, True))``, ``clamp`` a
``Piecewise`` whose middle branch is inclusive, so derivatives taken by
:mod:`symgrad.closed_form` match numeric's conventions (see there).

The graph is walked with ``numeric.graph.toposort`` (iterative, never recursion).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import sympy

from numeric.executor import evaluate
from numeric.graph import toposort
from numeric.ops import AT_POINT, Op
from symgrad.naming import leaf_name, name_from_caller
from numeric.node import as_node, many

__all__ = ["TO_SYMPY", "SCALAR_FORMS", "BitAnd", "lower", "leaf_array", "exact", "LoweringError",
           "graph_order", "real_world", "is_variable", "variables", "point_values", "flat_steps"]


class LoweringError(ValueError):
    """A graph that cannot be lowered to SymPy (e.g. symbolic dims in elementwise form)."""


def exact(v: Any) -> sympy.Expr:
    """A Python/numpy number as an exact SymPy number (shortest decimal repr).

    >>> exact(5.0), exact(0.01), exact(3), exact(True)
    (5, 1/100, 3, 1)
    """
    if isinstance(v, sympy.Basic):
        return v
    if isinstance(v, (bool, np.bool_)):
        return sympy.Integer(int(v))
    if isinstance(v, (int, np.integer)):
        return sympy.Integer(int(v))
    f = float(v)
    if f != f:
        return sympy.nan
    if f in (float("inf"), float("-inf")):
        return sympy.oo if f > 0 else -sympy.oo
    return sympy.Rational(repr(f))


# ---------------------------------------------------------------- scalar forms

def _sigmoid(x):
    return 1 / (1 + sympy.exp(-x))


def _softplus(x, beta=1.0, threshold=float("inf")):
    # PyTorch's softplus is x itself where beta * x > threshold: part of its meaning
    # (the value and the gradient 1 there); log(1 + exp(x)) stays the plain form at
    # beta = 1 so closed forms read as before below the threshold
    # and at beta * x == threshold its tangent line: slope sigmoid(threshold), second
    # derivative 0 (PyTorch's softplus_double_backward masks with beta * x < threshold)
    b, t = exact(beta), exact(threshold)
    if t == sympy.oo and b == 1:            # the op's defaults: the textbook softplus
        return sympy.log(1 + sympy.exp(x))
    # log1p: exact too, and its value stays resolved where exp(b*x) is below 1e-40
    smooth = _log1p(sympy.exp(b * x)) / b
    if t == sympy.oo:
        return smooth
    at = _log1p(sympy.exp(t)) / b + (x - t / b) / (1 + sympy.exp(-t))
    return sympy.Piecewise((x, b * x > t), (at, sympy.Eq(b * x, t)), (smooth, True))


def _relu(x):
    # not Max(0, x): SymPy differentiates that to Heaviside(x) = 1/2 at 0, the tie
    # convention of `maximum`; relu'(0) = 0 (numeric, PyTorch) at every order
    return sympy.Piecewise((x, x > 0), (0, True))


def _clamp(x, min=None, max=None):  # noqa: A002 - numeric's attr names
    pieces = []
    if min is not None:
        pieces.append((exact(min), x < exact(min)))
    if max is not None:
        pieces.append((exact(max), x > exact(max)))
    if not pieces:
        return x
    return sympy.Piecewise(*pieces, (x, True))


def _cast(x, dtype=None):
    kind = np.dtype(dtype).kind if dtype is not None else "f"
    if kind == "b":
        return sympy.Piecewise((1, sympy.Ne(x, 0)), (0, True))
    if kind in "iu":  # numpy's astype truncates toward zero
        return sympy.Piecewise((sympy.floor(x), x >= 0), (sympy.ceiling(x), True))
    return x


def _where(c, x, y):
    if c.is_number:
        return x if c != 0 else y
    return sympy.Piecewise((x, sympy.Ne(c, 0)), (y, True))


# --- issue 11: rounding
_HALF = sympy.Rational(1, 2)


def _trunc(x):
    return sympy.Piecewise((sympy.floor(x), x >= 0), (sympy.ceiling(x), True))


def _round(x, decimals=0):
    """Half to even at ``decimals`` digits: a tie k + 1/2 goes to 2*floor((k + 1)/2)."""
    scale = sympy.Integer(10) ** decimals
    y = x * scale
    even = sympy.Piecewise((2 * sympy.floor((y + _HALF) / 2), sympy.Eq(y - sympy.floor(y), _HALF)),
                           (sympy.floor(y + _HALF), True))
    return even / scale


def _isnan(x):
    return sympy.S.One if x is sympy.nan else sympy.S.Zero


def _isinf(x):
    return sympy.S.One if x in (sympy.oo, -sympy.oo) else sympy.S.Zero


def _truth(x):
    """1 where x is nonzero, else 0: logical ops are arithmetic on these 0/1 values."""
    return sympy.Piecewise((0, sympy.Eq(x, 0)), (1, True))


class BitAnd(sympy.Function):
    """``x & y`` of two integers (two's complement, Python's ``&``); unevaluated otherwise.

    OR, XOR and NOT are arithmetic on it: ``x | y = x + y - (x & y)``,
    ``x ^ y = x + y - 2 (x & y)``, ``~x = -x - 1``.

    >>> BitAnd(12, -1), BitAnd(sympy.Symbol("n"), 3)
    (12, BitAnd(n, 3))
    """

    @classmethod
    def eval(cls, x, y):
        if x.is_Integer and y.is_Integer:
            return sympy.Integer(int(x) & int(y))
        return None

    #: its numeric value for ``lambdify`` (integer-valued arguments)
    _imp_ = staticmethod(lambda x, y: np.bitwise_and(np.asarray(x).astype(np.int64),
                                                     np.asarray(y).astype(np.int64)))


def _rounding_forms() -> dict:
    t = _truth
    return {
        Op.FLOOR: sympy.floor, Op.CEIL: sympy.ceiling, Op.TRUNC: _trunc,
        Op.FRAC: lambda x: x - _trunc(x), Op.ROUND: _round,
        Op.ISNAN: _isnan, Op.ISINF: _isinf,
        Op.ISFINITE: lambda x: 1 - _isnan(x) - _isinf(x),
        Op.LOGICAL_NOT: lambda x: 1 - t(x),
        Op.LOGICAL_AND: lambda x, y: t(x) * t(y),
        Op.LOGICAL_OR: lambda x, y: t(x) + t(y) - t(x) * t(y),
        Op.LOGICAL_XOR: lambda x, y: t(x) + t(y) - 2 * t(x) * t(y),
        Op.BITWISE_AND: BitAnd,
        Op.BITWISE_OR: lambda x, y: x + y - BitAnd(x, y),
        Op.BITWISE_XOR: lambda x, y: x + y - 2 * BitAnd(x, y),
        Op.BITWISE_NOT: lambda x: -x - 1,
    }
# --- issue 11: activations (forms; Note [Kinks] in symgrad/closed_form.py)
from sympy.codegen.cfunctions import log1p as _log1p  # noqa: E402 - SymPy's exact log(1 + x)

_SELU_ALPHA = sympy.Rational("1.6732632423543772848170429916717")
_SELU_SCALE = sympy.Rational("1.0507009873554804934193349852946")


def _leaky_relu(x, negative_slope=0.01):
    return sympy.Piecewise((x, x > 0), (exact(negative_slope) * x, True))


def _elu_form(x, alpha, scale=1):
    # at 0 PyTorch's slope is scale*alpha but its second derivative 0: the Eq branch is
    # the tangent line there, so SymPy's derivatives give both
    return sympy.Piecewise((scale * x, x > 0), (scale * alpha * x, sympy.Eq(x, 0)),
                           (scale * alpha * (sympy.exp(x) - 1), True))


def _celu(x, alpha=1.0):
    a = exact(alpha)
    return sympy.Piecewise((x, x >= 0), (a * (sympy.exp(x / a) - 1), True))


def _gelu(x, approximate="none"):
    if approximate == "tanh":
        # x/2 * (1 + tanh(u)) written x / (1 + exp(-2u)): no 1 + tanh(u) cancellation
        inner = sympy.sqrt(2 / sympy.pi) * (x + sympy.Rational(44715, 1000000) * x ** 3)
        return x / (1 + sympy.exp(-2 * inner))
    # x * Phi(x) with Phi = (1 + erf(x/sqrt 2))/2 written erfc(-x/sqrt 2)/2: the same
    # function, whose value far left (x ~ -30) needs no hundreds of digits to resolve
    # (evaluate=False: SymPy would rewrite erfc(-z) as 2 - erfc(z), the cancelling form)
    return x / 2 * sympy.erfc(-x / sympy.sqrt(2), evaluate=False)


def _softsign(x):
    # 1/(1+|x|)**2 at every order's first step; second derivative 0 at 0 (PyTorch's
    # sign(0) = 0), so the point 0 is its own branch
    return sympy.Piecewise((x / (1 + x), x > 0), (x / (1 - x), x < 0), (x, True))


def _hardtanh(x, min_val=-1.0, max_val=1.0):
    # bounds exclusive in the gradient (PyTorch's hardtanh_backward): <= and >=
    lo, hi = exact(min_val), exact(max_val)
    return sympy.Piecewise((lo, x <= lo), (hi, x >= hi), (x, True))


def _hardsigmoid(x):
    return sympy.Piecewise((0, x <= -3), (1, x >= 3), (x / 6 + sympy.Rational(1, 2), True))


def _hardswish(x):
    # PyTorch's gradient: 0 at -3, 1 at 3 (outer branches closed), second derivative 0
    return sympy.Piecewise((0, x <= -3), (x, x >= 3), (x * (x + 3) / 6, True))


def _softmin(row):
    return _softmax([-r for r in row])


def _p_norm(row, p):
    if p == 2:
        return sympy.sqrt(sympy.Add(*[r * r for r in row]))
    if p == 1:
        return sympy.Add(*[sympy.Abs(r) for r in row])
    if p == float("inf"):
        return sympy.Max(*[sympy.Abs(r) for r in row])
    q = exact(p)
    return sympy.Add(*[sympy.Abs(r) ** q for r in row]) ** (1 / q)


def _normalize_form(x, p=2.0, axis=1, eps=1e-12):
    def rows(row):
        n = _p_norm(row, p)
        # clamp_min(norm, eps): the norm's gradient passes where norm >= eps
        d = sympy.Piecewise((exact(eps), n < exact(eps)), (n, True))
        return [r / d for r in row]
    return _normalize(rows)(x, axis=axis)


#: the exact local form of every elementwise op, on SymPy scalars
SCALAR_FORMS: dict[Op, Callable[..., sympy.Expr]] = {
    Op.ADD: lambda x, y: x + y,
    Op.SUB: lambda x, y: x - y,
    Op.MUL: lambda x, y: x * y,
    Op.DIV: lambda x, y: x / y,
    Op.POW: lambda x, y: x ** y,
    Op.MAXIMUM: lambda x, y: sympy.Max(x, y),
    Op.MINIMUM: lambda x, y: sympy.Min(x, y),
    Op.ATAN2: sympy.atan2,
    Op.NEG: lambda x: -x,
    Op.EXP: sympy.exp,
    Op.LOG: sympy.log,
    Op.LOG1P: lambda x: sympy.log(1 + x),
    Op.EXPM1: lambda x: sympy.exp(x) - 1,
    Op.SQRT: sympy.sqrt,
    Op.SIN: sympy.sin,
    Op.COS: sympy.cos,
    Op.TAN: sympy.tan,
    Op.TANH: sympy.tanh,
    Op.SIGMOID: _sigmoid,
    Op.SOFTPLUS: lambda x, beta=1.0, threshold=float("inf"): _softplus(x, beta, threshold),
    Op.RELU: _relu,
    Op.ABS: sympy.Abs,
    Op.ERF: sympy.erf,
    Op.CLAMP: _clamp,
    Op.CAST: _cast,
    Op.WHERE: _where,
    # --- issue 11: rounding
    **_rounding_forms(),
}

# --- issue 11: math


def _trunc(q):
    return sympy.Piecewise((sympy.floor(q), q >= 0), (sympy.ceiling(q), True))


def _xlogy(x, y):
    # 0 where x == 0 (also at y == 0, where x*log(y) is nan); x*log(y) elsewhere
    return sympy.Piecewise((0, sympy.Eq(x, 0) & (y <= 0)), (x * sympy.log(y), True))


def _copysign(x, y):
    # -0.0 has no exact form: a zero `other` counts as +0
    return sympy.Piecewise((sympy.Abs(x), y >= 0), (-sympy.Abs(x), True))


def _clamp_min(x, m):
    # x >= m takes x: PyTorch's gradient at the bound goes to input
    return sympy.Piecewise((m, x < m), (x, True))


def _clamp_max(x, m):
    return sympy.Piecewise((m, x > m), (x, True))


SCALAR_FORMS |= {
    Op.RSQRT: lambda x: 1 / sympy.sqrt(x),
    Op.RECIPROCAL: lambda x: 1 / x,
    Op.SQUARE: lambda x: x ** 2,
    Op.ASIN: sympy.asin,
    Op.ACOS: sympy.acos,
    Op.ATAN: sympy.atan,
    Op.SINH: sympy.sinh,
    Op.COSH: sympy.cosh,
    Op.ASINH: sympy.asinh,
    Op.ACOSH: sympy.acosh,
    Op.ATANH: sympy.atanh,
    Op.LOG2: lambda x: sympy.log(x, 2),
    Op.LOG10: lambda x: sympy.log(x, 10),
    Op.EXP2: lambda x: 2 ** x,
    Op.ERFC: sympy.erfc,
    Op.ERFINV: sympy.erfinv,
    Op.SIGN: sympy.sign,
    Op.HYPOT: lambda x, y: sympy.sqrt(x ** 2 + y ** 2),
    Op.XLOGY: _xlogy,
    Op.FMOD: lambda x, y: x - y * _trunc(x / y),
    Op.REMAINDER: lambda x, y: x - y * sympy.floor(x / y),
    Op.FLOOR_DIVIDE: lambda x, y: sympy.floor(x / y),
    Op.COPYSIGN: _copysign,
    Op.LOGADDEXP: lambda x, y: sympy.log(sympy.exp(x) + sympy.exp(y)),
    Op.LERP: lambda s, e, w: s + w * (e - s),
    Op.CLAMP_MIN: _clamp_min,
    Op.CLAMP_MAX: _clamp_max,
    # --- issue 11: activations
    Op.LEAKY_RELU: _leaky_relu,
    Op.ELU: lambda x, alpha=1.0: _elu_form(x, exact(alpha)),
    Op.SELU: lambda x: _elu_form(x, _SELU_ALPHA, _SELU_SCALE),
    Op.CELU: _celu,
    Op.SILU: lambda x: x * _sigmoid(x),
    Op.GELU: _gelu,
    Op.MISH: lambda x: x * sympy.tanh(_log1p(sympy.exp(x))),
    Op.SOFTSIGN: _softsign,
    Op.LOGSIGMOID: lambda x: -_log1p(sympy.exp(-x)),   # log1p: resolved where exp(-x) < 1e-40
    Op.HARDTANH: _hardtanh,
    Op.HARDSIGMOID: _hardsigmoid,
    Op.HARDSWISH: _hardswish,
}


def _elementwise(form):
    def lower_op(*xs, **attrs):
        bs = np.broadcast_arrays(*xs)
        out = np.empty(bs[0].shape, dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = form(*(b[idx] for b in bs), **attrs)
        return out
    return lower_op


# ---------------------------------------------------------------- reductions

def _groups(x: np.ndarray, axis):
    """Move the reduced axes last: returns (rows of shape outer+(k,), axes)."""
    axes = tuple(range(x.ndim)) if axis is None else tuple(a % max(x.ndim, 1) for a in
                                                           ((axis,) if isinstance(axis, int) else axis))
    rest = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, rest + list(axes))
    outer = moved.shape[:len(rest)]
    return moved.reshape(outer + (-1,)), axes


def _reduce(fn):
    def lower_op(x, axis=None, keepdims=False):
        rows, axes = _groups(x, axis)
        out = np.empty(rows.shape[:-1], dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = fn(list(rows[idx]))
        if keepdims:
            out = out.reshape(tuple(1 if a in axes else n for a, n in enumerate(x.shape)))
        return out
    return lower_op


def _normalize(fn):
    def lower_op(x, axis=-1):
        moved = np.moveaxis(x, axis, -1)
        out = np.empty(moved.shape, dtype=object)
        for idx in np.ndindex(moved.shape[:-1]):
            for j, v in enumerate(fn(list(moved[idx]))):
                out[idx + (j,)] = v
        return np.moveaxis(out, -1, axis)
    return lower_op


def _lse(row):
    return sympy.log(sympy.Add(*[sympy.exp(r) for r in row]))


def _softmax(row):
    es = [sympy.exp(r) for r in row]
    total = sympy.Add(*es)
    return [e / total for e in es]


def _log_softmax(row):
    lse = _lse(row)
    return [r - lse for r in row]


# ---------------------------------------------------------------- movement & linear algebra

def _zeros(shape):
    out = np.empty(shape, dtype=object)
    out.fill(sympy.S.Zero)
    return out


def _scatter_add(x, shape, index):
    out = _zeros(tuple(shape))
    np.add.at(out, index, x)
    return out


def _matmul(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise LoweringError("matmul needs inputs of rank >= 1, got a scalar; use * instead")
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    lead = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    a2 = np.broadcast_to(a2, lead + a2.shape[-2:])
    b2 = np.broadcast_to(b2, lead + b2.shape[-2:])
    n, k, m = a2.shape[-2], a2.shape[-1], b2.shape[-1]
    if b2.shape[-2] != k:
        raise LoweringError(f"matmul shapes {a.shape} and {b.shape} do not align")
    out = np.empty(lead + (n, m), dtype=object)
    for idx in np.ndindex(lead):
        for i in range(n):
            for j in range(m):
                out[idx + (i, j)] = sympy.Add(*[a2[idx + (i, t)] * b2[idx + (t, j)] for t in range(k)])
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return out


def _concat(*xs, axis=0):
    return np.concatenate(xs, axis=axis)


def _stack(*xs, axis=0):
    return np.stack(xs, axis=axis)


#: every op's exact local form over numpy object arrays of SymPy scalars
TO_SYMPY: dict[Op, Callable[..., np.ndarray]] = {op: _elementwise(f) for op, f in SCALAR_FORMS.items()}
TO_SYMPY |= {
    Op.MATMUL: _matmul,
    Op.SUM: _reduce(lambda row: sympy.Add(*row)),
    Op.MEAN: _reduce(lambda row: sympy.Add(*row) / len(row)),
    Op.MAX: _reduce(lambda row: sympy.Max(*row)),
    Op.MIN: _reduce(lambda row: sympy.Min(*row)),
    Op.LOGSUMEXP: _reduce(_lse),
    Op.SOFTMAX: _normalize(_softmax),
    Op.LOG_SOFTMAX: _normalize(_log_softmax),
    Op.RESHAPE: lambda x, shape: np.reshape(x, tuple(shape)),
    Op.PERMUTE: lambda x, axes: np.transpose(x, tuple(axes)),
    Op.BROADCAST_TO: lambda x, shape: np.array(np.broadcast_to(x, tuple(shape))),
    Op.GETITEM: lambda x, index: np.array(x[index], dtype=object),
    Op.SCATTER_ADD: _scatter_add,
    Op.CONCAT: _concat,
    Op.STACK: _stack,
    # --- issue 11: activations
    Op.SOFTMIN: _normalize(_softmin),
    Op.NORMALIZE: _normalize_form,
}

# --- issue 11: shape
# Each form is written from PyTorch's definition of the op, element by element
# (gather: out[i][j] = x[index[i][j]][j] for dim 0), not from numeric's kernels.

def _pad(x, pad, mode="constant", value=0.0):
    width = [(0, 0)] * x.ndim
    crop = [slice(None)] * x.ndim
    for k in range(len(pad) // 2):
        d, lo, hi = x.ndim - 1 - k, pad[2 * k], pad[2 * k + 1]
        crop[d] = slice(max(0, -lo), x.shape[d] - max(0, -hi))
        width[d] = (max(0, lo), max(0, hi))
    x = x[tuple(crop)]
    if mode == "constant":
        out = np.empty(tuple(n + a + b for n, (a, b) in zip(x.shape, width)), dtype=object)
        out.fill(exact(value))
        out[tuple(slice(a, a + n) for n, (a, _) in zip(x.shape, width))] = x
        return out
    return np.pad(x, width, mode={"reflect": "reflect", "replicate": "edge"}[mode])


def _repeat_interleave(x, repeats, dim):
    if dim is None:
        x, dim = x.reshape(-1), 0
    reps = list(repeats) * (x.shape[dim] if len(repeats) == 1 else 1)
    pieces = [np.take(x, [i] * r, axis=dim) for i, r in enumerate(reps)]
    return np.concatenate(pieces, axis=dim) if pieces else np.take(x, [], axis=dim)


def _unfold(x, dimension, size, step):
    n = (x.shape[dimension] - size) // step + 1
    windows = [np.moveaxis(np.take(x, range(w * step, w * step + size), axis=dimension),
                           dimension, -1) for w in range(n)]
    return np.stack(windows, axis=dimension)


def _along(pos, dim, i):
    return pos[:dim] + (int(i),) + pos[dim + 1:]


def _gather(x, dim, index):
    out = np.empty(index.shape, dtype=object)
    for pos in np.ndindex(index.shape):
        out[pos] = x[_along(pos, dim, index[pos])]
    return out


def _scatter_into(add):
    def form(x, src, dim, index):
        out = np.array(x, dtype=object)
        for pos in np.ndindex(index.shape):
            at = _along(pos, dim, index[pos])
            out[at] = out[at] + src[pos] if add else src[pos]
        return out
    return form


TO_SYMPY |= {
    Op.FLIP: lambda x, dims: np.array(np.flip(x, dims), dtype=object),
    Op.ROLL: lambda x, shifts, dims: np.roll(x, shifts[0] if dims is None else shifts, dims),
    Op.PAD: _pad,
    Op.REPEAT_INTERLEAVE: _repeat_interleave,
    Op.UNFOLD: _unfold,
    Op.GATHER: _gather,
    Op.SCATTER: _scatter_into(add=False),
    Op.SCATTER_ADD_DIM: _scatter_into(add=True),
    Op.MASKED_FILL: _elementwise(lambda x, m, v: _where(m, v, x)),
}


# --- issue 11: nnops
from numeric.rules import nnops as _nn  # noqa: E402 - sizes and interpolation weights only


def _conv_form(x, w, stride, padding, dilation, groups):
    """Each output is the sum over its window of input * weight; padding reads nothing."""
    sizes = x.shape[2:]
    out_sp = tuple((n + lo + hi - d * (k - 1) - 1) // s + 1 for n, k, s, (lo, hi), d in
                   zip(sizes, w.shape[2:], stride, padding, dilation))
    per_group, cg = w.shape[0] // groups, w.shape[1]
    out = _zeros((x.shape[0], w.shape[0]) + out_sp)
    for n, o in np.ndindex(x.shape[0], w.shape[0]):
        first = (o // per_group) * cg
        for pos in np.ndindex(*out_sp):
            terms = []
            for c in range(cg):
                for k in np.ndindex(*w.shape[2:]):
                    src = tuple(p * s + kk * d - lo for p, s, kk, d, (lo, _) in
                                zip(pos, stride, k, dilation, padding))
                    if all(0 <= i < size for i, size in zip(src, sizes)):
                        terms.append(x[(n, first + c) + src] * w[(o, c) + k])
            out[(n, o) + pos] = sympy.Add(*terms)
    return out


def _pool_windows(x, kernel, stride, padding, dilation, ceil_mode):
    """(output (OH, OW), {(i, j): the window's (row, col) cells inside the input})."""
    h, w = x.shape[2:]
    oh, ow = (_nn.pool_out(n, k, s, p, d, ceil_mode) for n, k, s, p, d in
              zip((h, w), kernel, stride, padding, dilation))
    windows = {}
    for i, j in np.ndindex(oh, ow):
        cells = [(i * stride[0] - padding[0] + a * dilation[0],
                  j * stride[1] - padding[1] + b * dilation[1])
                 for a, b in np.ndindex(*kernel)]
        windows[i, j] = [(r, c) for r, c in cells if 0 <= r < h and 0 <= c < w]
    return (oh, ow), windows


def _max_pool_form(x, kernel, stride, padding, dilation, ceil_mode, point):
    """At the point: each output is the input at its window's first maximum."""
    values = np.asarray(point[0], dtype=np.float64)
    shape, windows = _pool_windows(x, kernel, stride, padding, dilation, ceil_mode)
    out = _zeros(x.shape[:2] + shape)
    for (i, j), cells in windows.items():
        for n, c in np.ndindex(*x.shape[:2]):
            best = cells[0]
            for cell in cells[1:]:
                if values[(n, c) + cell] > values[(n, c) + best]:
                    best = cell
            out[n, c, i, j] = x[(n, c) + best]
    return out


def _avg_pool_form(x, kernel, stride, padding, ceil_mode, count_include_pad):
    """The window's sum over PyTorch's divisor (the window clipped to the padded input)."""
    h, w = x.shape[2:]
    shape, windows = _pool_windows(x, kernel, stride, padding, (1, 1), ceil_mode)
    out = _zeros(x.shape[:2] + shape)
    for (i, j), cells in windows.items():
        div = len(cells)
        if count_include_pad:
            r0, c0 = i * stride[0] - padding[0], j * stride[1] - padding[1]
            div = (min(r0 + kernel[0], h + padding[0]) - r0) * \
                (min(c0 + kernel[1], w + padding[1]) - c0)
        for n, c in np.ndindex(*x.shape[:2]):
            out[n, c, i, j] = sympy.Add(*[x[(n, c) + cell] for cell in cells]) / div
    return out


def _adaptive_bounds(i, size, out):
    return range(i * size // out, -(-(i + 1) * size // out))


def _adaptive_avg_pool_form(x, output_size):
    """Cell (i, j) averages rows floor(i*H/OH)..ceil((i+1)*H/OH) (and the same for columns)."""
    (h, w), (oh, ow) = x.shape[2:], output_size
    out = _zeros(x.shape[:2] + (oh, ow))
    for n, c, i, j in np.ndindex(*out.shape):
        rows, cols = _adaptive_bounds(i, h, oh), _adaptive_bounds(j, w, ow)
        out[n, c, i, j] = (sympy.Add(*[x[n, c, r, s] for r in rows for s in cols])
                           / (len(rows) * len(cols)))
    return out


def _interpolate_form(x, size, mode, align_corners, scales):
    """Each output is sum_ab A_h[i, a] A_w[j, b] x[a, b]: PyTorch's weights, read exactly."""
    ah, aw = (_nn.interpolation_matrix(n, o, mode, bool(align_corners), sc)
              for n, o, sc in zip(x.shape[2:], size, scales))
    out = _zeros(x.shape[:2] + tuple(size))
    for n, c, i, j in np.ndindex(*out.shape):
        out[n, c, i, j] = sympy.Add(*[exact(ah[i, a]) * exact(aw[j, b]) * x[n, c, a, b]
                                      for a in np.flatnonzero(ah[i])
                                      for b in np.flatnonzero(aw[j])])
    return out


def _standardize_form(x, axis, eps):
    """``(x - mean) / sqrt(var + eps)`` over ``axis``, with the biased variance."""
    rows, axes = _groups(x, axis)
    out = np.empty(rows.shape, dtype=object)
    for idx in np.ndindex(rows.shape[:-1]):
        row = list(rows[idx])
        mean = sympy.Add(*row) / len(row)
        var = sympy.Add(*[(r - mean) ** 2 for r in row]) / len(row)
        out[idx] = [(r - mean) / sympy.sqrt(var + exact(eps)) for r in row]
    rest = [a for a in range(x.ndim) if a not in axes]
    moved = out.reshape(tuple(x.shape[a] for a in rest + list(axes)))
    return np.transpose(moved, np.argsort(rest + list(axes)))


TO_SYMPY |= {
    Op.CONVOLUTION: _conv_form,
    Op.MAX_POOL2D: _max_pool_form,
    Op.AVG_POOL2D: _avg_pool_form,
    Op.ADAPTIVE_AVG_POOL2D: _adaptive_avg_pool_form,
    Op.INTERPOLATE: _interpolate_form,
    Op.STANDARDIZE: _standardize_form,
}

# --- issue 11: linalg
# Exact forms over sympy.Matrix per batch entry: det by Berkowitz (division free),
# inv and solve through the adjugate over the determinant, cholesky by its
# recurrence on sym(A) (Note [Symmetric cholesky] in numeric/rules/matrix.py).
def _per_matrix(fn, *xs):
    """Apply ``fn`` to the matrices of ``xs`` (batch dims broadcast) -> object array."""
    batch = np.broadcast_shapes(*(x.shape[:-2] for x in xs))
    xs = [np.broadcast_to(x, batch + x.shape[-2:]) for x in xs]
    results = {idx: fn(*(sympy.Matrix(x[idx]) for x in xs)) for idx in np.ndindex(batch)}
    first = next(iter(results.values()))
    tail = () if not isinstance(first, sympy.MatrixBase) else first.shape
    out = np.empty(batch + tail, dtype=object)
    for idx, r in results.items():
        out[idx] = np.array(r.tolist(), dtype=object).reshape(tail) if tail else r
    return out


def _det(m):
    return m.det(method="berkowitz")


def _inv(m):
    return m.adjugate(method="berkowitz") / _det(m)


def _cholesky(m):
    n = m.shape[0]
    s = (m + m.T) / 2
    low = sympy.zeros(n, n)
    for j in range(n):
        low[j, j] = sympy.sqrt(s[j, j] - sum(low[j, k] ** 2 for k in range(j)))
        for i in range(j + 1, n):
            low[i, j] = (s[i, j] - sum(low[i, k] * low[j, k] for k in range(j))) / low[j, j]
    return low


def _vector_norm_row(row, ord):
    if ord == float("inf"):
        return sympy.Max(*[sympy.Abs(r) for r in row])
    if ord == float("-inf"):
        return sympy.Min(*[sympy.Abs(r) for r in row])
    if ord == 0:
        return sympy.Add(*[sympy.Piecewise((1, sympy.Ne(r, 0)), (0, True)) for r in row])
    if ord == 1:
        return sympy.Add(*[sympy.Abs(r) for r in row])
    if ord == 2:
        return sympy.sqrt(sympy.Add(*[r ** 2 for r in row]))
    p = exact(ord)
    return sympy.Add(*[sympy.Abs(r) ** p for r in row]) ** (1 / p)


def _vector_norm(x, ord=2.0, axis=None, keepdims=False):  # noqa: A002 - numeric's attr
    return _reduce(lambda row: _vector_norm_row(row, ord))(x, axis, keepdims)


def _triangle(x, diagonal, lower):
    n, m = x.shape[-2:]
    mask = (np.tril if lower else np.triu)(np.ones((n, m), bool), diagonal)
    return np.where(mask, x, sympy.S.Zero)


TO_SYMPY |= {
    Op.DET: lambda x: _per_matrix(_det, x),
    Op.LOGABSDET: lambda x: _per_matrix(lambda m: sympy.log(sympy.Abs(_det(m))), x),
    Op.TRACE: lambda x: np.array(sympy.Add(*[x[i, i] for i in range(min(x.shape))]),
                                 dtype=object),
    Op.TRIL: lambda x, diagonal=0: _triangle(x, diagonal, True),
    Op.TRIU: lambda x, diagonal=0: _triangle(x, diagonal, False),
    Op.INV: lambda x: _per_matrix(_inv, x),
    Op.SOLVE: lambda a, b: _per_matrix(lambda m, r: m.adjugate(method="berkowitz") * r / _det(m),
                                       a, b),
    Op.CHOLESKY: lambda x: _per_matrix(_cholesky, x),
    Op.VECTOR_NORM: _vector_norm,
}

# --- issue 11: reductions
def _var_row(row, correction=1):
    mean = sympy.Add(*row) / len(row)
    return sympy.Add(*[(r - mean) ** 2 for r in row]) / max(0, len(row) - exact(correction))


def _norm_row(row, p=2.0):
    if p == float("inf"):
        return sympy.Max(*[sympy.Abs(r) for r in row])
    if p == float("-inf"):
        return sympy.Min(*[sympy.Abs(r) for r in row])
    if p == 0:
        return sympy.Add(*[sympy.Piecewise((1, sympy.Ne(r, 0)), (0, True)) for r in row])
    if p == 1:
        return sympy.Add(*[sympy.Abs(r) for r in row])
    if p == 2:
        return sympy.sqrt(sympy.Add(*[r ** 2 for r in row]))
    q = exact(p)
    return sympy.Add(*[sympy.Abs(r) ** q for r in row]) ** (1 / q)


def _with(form):
    """A reduction form whose row function takes the op's extra attributes."""
    def lower_op(x, axis=None, keepdims=False, **attrs):
        return _reduce(lambda row: form(row, **attrs))(x, axis, keepdims)
    return lower_op


def _scan(row_form):
    """A scan along ``axis``: output ``j`` is ``row_form(row[:j + 1])``; 0-d as shape (1,)."""
    def lower_op(x, axis):
        if x.ndim == 0:
            return lower_op(x.reshape(1), 0).reshape(())
        moved = np.moveaxis(x, axis, -1)
        out = np.empty(moved.shape, dtype=object)
        for idx in np.ndindex(moved.shape[:-1]):
            row = list(moved[idx])
            for j in range(len(row)):
                out[idx + (j,)] = row_form(row[:j + 1])
        return np.moveaxis(out, -1, axis)
    return lower_op


def _picked(positions, reduces=False):
    """An op taking ``x`` at indices the values choose (Note [Forms at a point]).

    ``positions(values, **attrs)`` maps one 1-D row of numeric values at the point
    to the row positions the op's outputs take, in output order; ``reduces``: one
    position, whose dim is dropped unless ``keepdims``.
    """
    def lower_op(x, axis=None, keepdims=False, *, point, **attrs):
        values = np.asarray(point[0], dtype=np.float64)
        if isinstance(axis, tuple):         # kthvalue, median: a reduction's axis
            axis = axis[0] if axis else None
        if x.ndim == 0:
            return x.copy()
        if axis is None:
            return np.asarray(x.reshape(-1)[positions(values.reshape(-1), **attrs)[0]],
                              dtype=object).reshape(())
        xm, vm = np.moveaxis(x, axis, -1), np.moveaxis(values, axis, -1)
        rows = [xm[i][positions(vm[i], **attrs)] for i in np.ndindex(xm.shape[:-1])]
        out = np.array(rows, dtype=object).reshape(xm.shape[:-1] + (-1,))
        out = np.moveaxis(out, -1, axis)
        return np.squeeze(out, axis) if reduces and not keepdims else out
    return lower_op


def _sorted_at(v, descending=False, stable=False):
    keys = [(-v[i] if descending else v[i], i) for i in range(len(v))]
    return [i for _, i in sorted(keys)]


def _topk_at(v, k=1, largest=True, sorted=True):  # noqa: A002 - numeric's attr name
    return _sorted_at(v, descending=largest)[:k]


def _kth_at(v, k=1):
    return _sorted_at(v)[k - 1:k]


def _median_at(v):
    return _sorted_at(v)[(len(v) - 1) // 2:][:1]


def _running_at(largest):
    def positions(v):
        out, best = [], 0
        for j in range(len(v)):
            if (v[j] >= v[best]) if largest else (v[j] <= v[best]):
                best = j
            out.append(best)
        return out
    return positions


TO_SYMPY |= {
    Op.PROD: _reduce(lambda row: sympy.Mul(*row)),
    Op.VAR: _with(_var_row),
    Op.STD: _with(lambda row, correction=1: sympy.sqrt(_var_row(row, correction))),
    Op.NORM: _with(_norm_row),
    Op.CUMSUM: _scan(lambda row: sympy.Add(*row)),
    Op.CUMPROD: _scan(lambda row: sympy.Mul(*row)),
    Op.LOGCUMSUMEXP: _scan(_lse),
    Op.SORT: _picked(_sorted_at),
    Op.TOPK: _picked(_topk_at),
    Op.KTHVALUE: _picked(_kth_at, reduces=True),
    Op.MEDIAN: _picked(_median_at, reduces=True),
    Op.CUMMAX: _picked(_running_at(True)),
    Op.CUMMIN: _picked(_running_at(False)),
}


# --- issue 11: losses
# Each loss's form is elementwise (or per class row), then reduced as its ``reduction``
# attr says; class-index targets must be numbers (they choose a class, exactly).
def _reduced(arr: np.ndarray, reduction: str, weight_total=None) -> np.ndarray:
    if reduction == "none":
        return arr
    total = sympy.Add(*arr.ravel().tolist())
    if reduction == "mean":
        total = total / (arr.size if weight_total is None else weight_total)
    elif reduction == "batchmean":
        total = total / (arr.shape[0] if arr.ndim else 1)
    return np.array(total, dtype=object)


def _pointwise_loss(form):
    def lower_op(*xs, reduction="mean", **attrs):
        return _reduced(_elementwise(form)(*xs, **attrs), reduction)
    return lower_op


def _smooth_l1(x, t, beta=1.0):
    d, b = x - t, exact(beta)
    return sympy.Piecewise((d ** 2 / (2 * b), sympy.Abs(d) < b), (sympy.Abs(d) - b / 2, True))


def _huber(x, t, delta=1.0):
    d, b = x - t, exact(delta)
    return sympy.Piecewise((d ** 2 / 2, sympy.Abs(d) < b), (b * (sympy.Abs(d) - b / 2), True))


def _bce(x, t, w):
    return -w * (t * sympy.Max(sympy.log(x), -100) + (1 - t) * sympy.Max(sympy.log(1 - x), -100))


def _bce_logits(x, t, w, pw):
    return w * ((1 - t) * x + (1 + (pw - 1) * t) * sympy.log(1 + sympy.exp(-x)))


def _kl(x, t, log_target=False):
    if log_target:
        return sympy.exp(t) * (t - x)
    return (0 if t == 0 else t * sympy.log(t)) - t * x


def _class_rows(x: np.ndarray) -> np.ndarray:
    """The input's class rows: shape (..., C), classes last (dim 1 of (N, C, ...))."""
    return np.moveaxis(x, 1, -1) if x.ndim > 1 else x


def _class_of(v, n_classes: int, ignore_index: int):
    """A class-index target as an int (None when ignored); it must be a number."""
    v = sympy.sympify(v)
    if not v.is_number:
        raise LoweringError("a class-index target must have a value to lower exactly (it picks "
                            f"a class); got {v}")
    k = int(v)
    if k == ignore_index:
        return None
    if not 0 <= k < n_classes:
        raise LoweringError(f"Target {k} is out of bounds: class indices must be in "
                            f"[0, {n_classes})")
    return k


def _class_loss(row_loss):
    """nll_loss / cross_entropy: ``row_loss(row, k, w) -> (loss, weight of the target)``."""
    def lower_op(x, t, w, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        rows = _class_rows(x)
        c = rows.shape[-1]
        w = list(np.broadcast_to(w, (c,)))
        out = np.empty(rows.shape[:-1], dtype=object)
        weights = []
        for idx in np.ndindex(out.shape):
            k = _class_of(np.asarray(t)[idx], c, ignore_index)
            out[idx], wt = (sympy.S.Zero, 0) if k is None else row_loss(
                list(rows[idx]), k, w, exact(label_smoothing))
            weights.append(wt)
        return _reduced(out, reduction, sympy.Add(*weights))
    return lower_op


def _nll_row(row, k, w, eps):
    return -w[k] * row[k], w[k]


def _ce_row(row, k, w, eps):
    logp = _log_softmax(row)
    smooth = sympy.Add(*[wc * lp for wc, lp in zip(w, logp)])
    return -((1 - eps) * w[k] * logp[k] + eps / len(row) * smooth), w[k]


def _ce_probs(x, t, w, reduction="mean", label_smoothing=0.0):
    rows, targets = _class_rows(x), _class_rows(t)
    c, eps = rows.shape[-1], exact(label_smoothing)
    w = list(np.broadcast_to(w, (c,)))
    out = np.empty(rows.shape[:-1], dtype=object)
    for idx in np.ndindex(out.shape):
        logp = _log_softmax(list(rows[idx]))
        out[idx] = -sympy.Add(*[wc * ((1 - eps) * tc + eps / c) * lp
                                for wc, tc, lp in zip(w, targets[idx], logp)])
    return _reduced(out, reduction)


def _cosine(x1, x2, dim=1, eps=1e-8):
    # exact where both norms are >= eps, the op's domain: below it PyTorch's gradient is
    # not the derivative of its clamped value anyway (OP_DB keeps points away from there)
    a, b = (np.moveaxis(v, dim, -1) for v in np.broadcast_arrays(x1, x2))
    out = np.empty(a.shape[:-1], dtype=object)
    for idx in np.ndindex(out.shape):
        n1 = sympy.sqrt(sympy.Add(*[v ** 2 for v in a[idx]]))
        n2 = sympy.sqrt(sympy.Add(*[v ** 2 for v in b[idx]]))
        out[idx] = sympy.Add(*[p * q for p, q in zip(a[idx], b[idx])]) / (n1 * n2)
    return out


TO_SYMPY |= {
    Op.MSE_LOSS: _pointwise_loss(lambda x, t: (x - t) ** 2),
    Op.L1_LOSS: _pointwise_loss(lambda x, t: sympy.Abs(x - t)),
    Op.SMOOTH_L1_LOSS: _pointwise_loss(_smooth_l1),
    Op.HUBER_LOSS: _pointwise_loss(_huber),
    Op.BINARY_CROSS_ENTROPY: _pointwise_loss(_bce),
    Op.BINARY_CROSS_ENTROPY_WITH_LOGITS: _pointwise_loss(_bce_logits),
    Op.KL_DIV: _pointwise_loss(_kl),
    Op.NLL_LOSS: _class_loss(_nll_row),
    Op.CROSS_ENTROPY: _class_loss(_ce_row),
    Op.CROSS_ENTROPY_PROBS: _ce_probs,
    Op.COSINE_SIMILARITY: _cosine,
}


# ---------------------------------------------------------------- leaves

def is_variable(node, wrt=None) -> bool:
    """Does leaf ``node`` lower to symbols?  Note [Leaf roles] in numeric/node.py.

    A symbol always does, a constant never; a data leaf does when it is one of
    the call's variables (``wrt``: a set of node ids) or was given a name
    (``name=``, an ``nn`` parameter's module path), and otherwise lowers to its
    exact values.  ``requires_grad`` plays no part.
    """
    role = node.role
    if role == "symbol":
        return True
    if role == "constant":
        return False
    return node.name is not None or (wrt is not None and id(node) in wrt)


def _element_name(name: str, idx: tuple[int, ...]) -> str:
    return "_".join([name] + [str(i) for i in idx])


def leaf_array(node, wrt=None) -> np.ndarray:
    """The object array of a leaf: element symbols (plain) or exact constants.

    A leaf named ``x`` of shape (3,) gives ``x_0, x_1, x_2``; a size-1 leaf gives ``x``.
    The symbols carry no assumptions (Note [Plain leaves]).  Whether a leaf is
    symbols or numbers: :func:`is_variable`.
    """
    node = as_node(node)
    shape = tuple(node.shape)
    if any(not isinstance(d, (int, np.integer)) for d in shape):
        raise LoweringError(
            f"leaf {leaf_name(node)!r} has symbolic shape {shape}; elementwise form needs "
            "concrete dims: use form='matrix' or give the symbol a shape of ints")
    if node.literal is not None:
        return np.full(shape, exact(node.literal), dtype=object)
    out = np.empty(shape, dtype=object)
    if is_variable(node, wrt):
        name = leaf_name(node)
        size1 = int(np.prod(shape, dtype=np.int64)) == 1
        for idx in np.ndindex(shape):
            out[idx] = sympy.Symbol(name if size1 else _element_name(name, idx))
    else:
        value = np.asarray(node.data)
        for idx in np.ndindex(shape):
            out[idx] = exact(value[idx].item())
    return out


def real_world(*exprs, dims=()):
    """Note [Plain leaves]: stand-ins with assumptions for the plain symbols of ``exprs``.

    Leaves lower to plain ``sympy.Symbol(name)`` (symbolic dims to plain
    ``Symbol("N")``), so results compare equal to what a user writes
    (``sympy.Symbol("x")``, ``sympy.symbols("N d")``) and ``.subs(Symbol("x"), 3)``
    works.  SymPy's calculus and ``simplify`` know more about real symbols
    (``d|x|/dx = sign(x)``, ``d sign(x)/dx = 2*DiracDelta(x)``, ``sqrt(x**2) = |x|``),
    so derivatives of results and simplification run on real Dummies (positive
    integer ones for the names in ``dims``) and map back.  Returns
    ``(to_real, to_plain)``: two ``xreplace`` tables.

    >>> x = sympy.Symbol("x")
    >>> to_real, to_plain = real_world(sympy.Abs(x))
    >>> sympy.diff(sympy.Abs(x).xreplace(to_real), to_real[x]).xreplace(to_plain)
    sign(x)
    """
    dims = set(dims)
    to_real: dict = {}
    for e in exprs:
        if not isinstance(e, sympy.Basic):
            continue
        for s in e.atoms(sympy.Symbol):  # also the dims inside MatrixSymbol("X", N, d)
            if type(s) is sympy.Symbol and s not in to_real and s.is_real is None:
                to_real[s] = (sympy.Dummy(s.name, integer=True, positive=True) if s.name in dims
                              else sympy.Dummy(s.name, real=True))
    return to_real, {d: s for s, d in to_real.items()}


# Note [Step derivatives]: floor and ceiling are constant between integers, but SymPy
# leaves their derivative unevaluated (``Derivative(floor(x), x)``, or a ``Subs`` of it
# inside a chain rule).  Away from the jumps, which verify keeps points away from, that
# derivative is 0, and 0 is PyTorch's gradient of every rounding op; the jumps'
# distributional spikes are dropped as ``DiracDelta`` is elsewhere.  Every place that
# calls ``sympy.diff`` on a lowered form passes the result through here: this is a rule
# of SymPy's calculus for two functions, not any op's derivative.
_STEP_FUNCS = (sympy.floor, sympy.ceiling)


def _is_step_derivative(e) -> bool:
    if isinstance(e, sympy.Subs):   # replace() works bottom-up: the inner one may be 0 now
        e = e.expr
        if e == 0:
            return True
    return isinstance(e, sympy.Derivative) and isinstance(e.expr, _STEP_FUNCS)


def flat_steps(e):
    """``e`` with the derivatives of floor and ceiling set to 0 (Note [Step derivatives]),
    and sign's (``2*DiracDelta(x)``: PyTorch's sign has gradient 0).

    >>> x = sympy.Symbol("x", real=True)
    >>> flat_steps(sympy.diff(x - sympy.floor(2 * x), x)), flat_steps(sympy.diff(sympy.sign(x), x))
    (1, 0)
    """
    if not isinstance(e, sympy.Basic):
        return e
    if e.has(sympy.DiracDelta):
        e = e.replace(sympy.DiracDelta, lambda *args: sympy.S.Zero)
    if not e.has(sympy.Derivative):
        return e
    return e.replace(_is_step_derivative, lambda d: sympy.S.Zero)


def lower_node(node, arrays: list[np.ndarray], bindings: "dict | None" = None) -> np.ndarray:
    """Apply a node's op to the object arrays of its inputs.

    An op whose structure depends on values (``AT_POINT``: sort, max-pooling, ...)
    is lowered at a point (Note [Forms at a point]): its form gets ``point=``, the
    numeric values of its inputs, computed from the leaves' data or ``bindings``
    (``{id(leaf node): value}``).
    """
    op = node.op
    attrs = node.attrs or {}
    if isinstance(op, Op):
        if op in AT_POINT:
            attrs = dict(attrs, point=point_values(node, bindings))
        return np.asarray(TO_SYMPY[op](*arrays, **attrs), dtype=object)
    form = getattr(op, "sympy", None)
    if form is None:
        raise LoweringError(f"op {op!r} has no SymPy form; give it a `.sympy` scalar function")
    out = _elementwise(form)(*arrays)
    return out.reshape(tuple(node.shape)) if out.size == int(np.prod(node.shape)) else out


# Note [Forms at a point]: sort, topk, median, max-pooling, nonzero and masked_select
# have a structure (a permutation, an argmax, a mask) that the values choose.  Their
# exact form is the one at a given point: the structure is read from the inputs'
# numeric values there and fixed, and the form is exact in the neighbourhood where
# that structure does not change (away from ties), which is what a derivative needs.
# The point is the leaves' own data (an eager graph) or ``bindings``; a symbol
# without a value cannot fix it, and says so.
def point_values(node, bindings: "dict | None" = None) -> tuple:
    """The numeric values of ``node``'s inputs at the point the leaves (or ``bindings``) give."""
    try:
        return tuple(np.asarray(v) for v in evaluate(list(node.inputs), bindings))
    except ValueError as exc:
        raise LoweringError(
            f"{node.op.value}'s exact form depends on the values of its input (its "
            f"structure is fixed at a point): give the leaves values, e.g. lower a tensor "
            f"rather than a symbol, or pass bindings ({exc})") from None


def graph_order(output, wrt=None) -> list:
    """The nodes under ``output`` (a Tensor or node) in topological order.

    Leaves that will lower to symbols and have no name yet are named after the
    caller's variables (Note [Leaf names] in :mod:`symgrad.naming`).  The graph
    of a tensor survives ``backward()``, so this works before and after it.
    """
    order = toposort([as_node(output)])
    name_from_caller([n for n in order if n.op is None and is_variable(n, wrt)], depth=2)
    return order


def lower(output, wrt=None, bindings=None) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Lower the graph under ``output``: (its object array, {id(node): object array}).

    ``bindings`` (``{id(leaf node): value}``) gives the point at which ops of
    ``AT_POINT`` are lowered (Note [Forms at a point]).
    """
    output = as_node(output)
    order = graph_order(output, wrt)
    folded = _sum_chain_links(order, output)
    arrays: dict[int, np.ndarray] = {}
    terms: dict[int, list] = {}
    for node in order:
        if node.op is None:
            arrays[id(node)] = leaf_array(node, wrt)
        elif node.op is Op.ADD and (id(node) in folded
                                    or any(id(i) in folded for i in node.inputs)):
            mine = _gather_terms(node, arrays, terms)
            if id(node) in folded:
                terms[id(node)] = mine
            else:
                arrays[id(node)] = _add_terms(mine, tuple(node.shape))
        else:
            arrays[id(node)] = lower_node(node, [arrays[id(i)] for i in node.inputs], bindings)
    return arrays[id(output)], arrays


# Note [Sum chains]: a parsed ``x+x+...+x`` is a 50 000-deep chain of binary adds.
# Lowered one add at a time, each step rebuilds a SymPy sum (and its assumptions), so
# ``lower`` folds a chain of adds whose links are used once (by the next add) into a
# single n-ary ``sympy.Add``.  The folded links get no array of their own.
def _sum_chain_links(order: list, output) -> set:
    """Ids of the add nodes used only once, by another add of their own shape."""
    uses: dict[int, int] = {}
    users: dict[int, object] = {}
    for node in order:
        for i in node.inputs:
            uses[id(i)] = uses.get(id(i), 0) + 1
            users[id(i)] = node
    return {id(n) for n in order
            if n.op is Op.ADD and n is not output and uses.get(id(n)) == 1
            and users[id(n)].op is Op.ADD and tuple(users[id(n)].shape) == tuple(n.shape)
            and not n.attrs}


def _gather_terms(node, arrays: dict, terms: dict) -> list:
    """The term arrays of an add: folded inputs' lists merged small into large."""
    out: list = []
    for i in node.inputs:
        got = terms.pop(id(i), None)
        if got is None:
            out.append(arrays[id(i)])
        elif len(got) > len(out):
            got.extend(out)
            out = got
        else:
            out.extend(got)
    return out


def _add_terms(arrs: list, shape: tuple) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    spread = [np.broadcast_to(np.asarray(a, dtype=object), shape) for a in arrs]
    for idx in np.ndindex(shape):
        out[idx] = sympy.Add(*[a[idx] for a in spread])
    return out


def as_sympy(arr: np.ndarray):
    """An object array as SymPy: a size-1 array -> scalar expr, else an immutable Array."""
    arr = np.asarray(arr, dtype=object)
    if arr.size == 1:
        return sympy.sympify(arr.reshape(()).item())
    return sympy.ImmutableDenseNDimArray(arr.ravel().tolist(), arr.shape)


def variables(wrt) -> "set[int] | None":
    """The ids of the nodes of ``wrt`` (a tensor, node, or list of them); None stays None."""
    if wrt is None:
        return None
    if isinstance(wrt, (set, frozenset)):
        return wrt
    items = wrt if many(wrt) else [wrt]
    return {id(as_node(x)) for x in items}
