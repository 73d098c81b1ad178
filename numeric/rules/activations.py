"""Activations of ``torch.nn.functional``: one declaration each (issue 11).

Every VJP keeps to Note [The VJP vocabulary] (numeric/vjps.py), plus
``apply`` of ``sigmoid``, ``erf`` and ``max`` (tests/numeric/test_vjp_vocabulary.py),
so that given symgrad Tensors it records a graph (``create_graph=True``).  At the
kinks each VJP picks PyTorch's value (docs/conventions.md): ``hardtanh`` and
``relu6`` pass the gradient strictly inside ``(min_val, max_val)``, ``elu``'s
slope at 0 is ``alpha`` but its second derivative there is 0, ``softplus`` is
``x`` itself above its threshold.

Note [Masked exponent]: ``elu``'s negative branch differentiates to
``alpha * exp(x)``; the VJP writes it ``exp(where(x < 0, x, 0))`` so the
unused branch never overflows for large positive ``x`` and, under
``create_graph``, the second derivative at ``x == 0`` is 0 as in PyTorch
(``elu_double_backward`` masks with ``x < 0``).

>>> LEAKY_RELU.kernel(np.float32([-2.0, 3.0]), negative_slope=0.5)
array([-1.,  3.], dtype=float32)
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from numeric.rules.core import FLOAT, apply, declare, elementwise_shape, floats, scipy_special
from numeric.rules.elementwise import ERF, SIGMOID, sigmoid
from numeric.rules.nn import softmax
from numeric.rules.reduce import MAX

_a = np.asarray

#: SELU's constants (Klambauer et al. 2017), as PyTorch writes them
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
#: gelu's tanh approximation: sqrt(2/pi) and the cubic coefficient
GELU_BETA = math.sqrt(2 / math.pi)
GELU_KAPPA = 0.044715
_SQRT1_2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _unary(name: str, kernel: Any, vjp: Any, *, doc: str, dtype: Any = FLOAT,
           kinked: bool = False, sg: Any = ()) -> Any:
    """An elementwise activation with a hand-written front end (``inplace=``, attrs)."""
    return declare(name, kernel, (vjp,), group="unary", arity=1, shape=elementwise_shape,
                   dtype=dtype, sg=sg, methods=(), doc=doc, kinked=kinked)


def _mask(x: Any) -> Any:
    """``x`` where it is negative, else 0 (Note [Masked exponent])."""
    return np.where(x < 0, x, 0)


# ----------------------------------------------------------------------------- piecewise
def leaky_relu(x: Any, negative_slope: float = 0.01) -> np.ndarray:
    """``x`` for ``x > 0``, else ``negative_slope * x``."""
    x = floats(x)
    return _a(np.where(x > 0, x, x * negative_slope))


def _leaky_relu_vjp(g, out, x, *, negative_slope=0.01):
    return np.where(x > 0, g, g * negative_slope)


def _elu_branch(x: np.ndarray, alpha: float, scale: float = 1.0) -> np.ndarray:
    return scale * alpha * np.expm1(np.minimum(x, 0))


def elu(x: Any, alpha: float = 1.0) -> np.ndarray:
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    x = floats(x)
    return _a(np.where(x > 0, x, _elu_branch(x, alpha)))


def _elu_vjp(g, out, x, *, alpha=1.0):
    return np.where(x > 0, g, g * (alpha * np.exp(_mask(x))))


def selu(x: Any) -> np.ndarray:
    """``scale * elu(x, alpha)`` with SELU's fixed constants."""
    x = floats(x)
    return _a(np.where(x > 0, x * SELU_SCALE, _elu_branch(x, SELU_ALPHA, SELU_SCALE)))


def _selu_vjp(g, out, x):
    return np.where(x > 0, g * SELU_SCALE, g * (SELU_SCALE * SELU_ALPHA * np.exp(_mask(x))))


def celu(x: Any, alpha: float = 1.0) -> np.ndarray:
    """``x`` for ``x >= 0``, else ``alpha * (exp(x / alpha) - 1)``."""
    x = floats(x)
    return _a(np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0) / alpha)))


def _celu_vjp(g, out, x, *, alpha=1.0):
    return np.where(x > 0, g, g * np.exp(_mask(x) / alpha))


def hardtanh(x: Any, min_val: float = -1.0, max_val: float = 1.0) -> np.ndarray:
    """Clip to ``[min_val, max_val]``; integer inputs stay integers (as in PyTorch)."""
    x = _a(x)
    out = np.minimum(np.maximum(x, min_val), max_val)
    return _a(out.astype(x.dtype) if x.dtype.kind in "iu" else out)


def _int_keeping(dtypes, attrs):
    """Integers stay integers (``hardtanh``, ``relu6``); bools become the default float."""
    out = np.result_type(*dtypes)
    return np.dtype(np.float64) if out.kind == "b" else out


def _inside(g, x, lo, hi):
    """``g`` strictly inside ``(lo, hi)``, else 0."""
    return np.where(x > lo, np.where(x < hi, g, 0), 0)


def _hardtanh_vjp(g, out, x, *, min_val=-1.0, max_val=1.0):
    # PyTorch's hardtanh_backward: the gradient passes strictly inside the bounds
    return _inside(g, x, min_val, max_val)


def hardsigmoid(x: Any) -> np.ndarray:
    """``relu6(x + 3) / 6``: 0 below -3, 1 above 3, linear between."""
    x = floats(x)
    return _a(np.minimum(np.maximum((x + 3) / 6, 0), 1))   # x + 3 is exact near -3


def _hardsigmoid_vjp(g, out, x):
    return _inside(g / 6, x, -3, 3)


def hardswish(x: Any) -> np.ndarray:
    """``x * relu6(x + 3) / 6``."""
    x = floats(x)
    return _a(x * np.minimum(np.maximum(x + 3, 0), 6) / 6)


def _hardswish_vjp(g, out, x):
    # PyTorch: 0 for x <= -3, x/3 + 1/2 strictly inside, 1 for x >= 3
    return np.where(x >= 3, g, _inside(g * (x / 3 + 0.5), x, -3, 3))


def softsign(x: Any) -> np.ndarray:
    """``x / (1 + |x|)``."""
    x = floats(x)
    return _a(x / (1 + np.abs(x)))


def _softsign_vjp(g, out, x):
    d = 1 + x * np.sign(x)
    return g / (d * d)


# ----------------------------------------------------------------------------- smooth
def silu(x: Any) -> np.ndarray:
    """``x * sigmoid(x)``, finite for every finite ``x``."""
    x = floats(x)
    return _a(x * sigmoid(x))


def _silu_vjp(g, out, x):
    s = apply(SIGMOID.op, x)
    return g * (s * (1 + x * (1 - s)))


def gelu(x: Any, approximate: str = "none") -> np.ndarray:
    """``x * Phi(x)`` (``"none"``) or its tanh approximation (``"tanh"``)."""
    x = floats(x)
    if approximate == "tanh":
        # (1 + tanh(u)) / 2 = sigmoid(2u): no cancellation for large negative x
        return _a(x * sigmoid(2 * _gelu_inner(x)))
    # erfc keeps Phi accurate far left, where 1 + erf(x / sqrt 2) cancels
    return _a(0.5 * x * scipy_special("erfc")(-x * _SQRT1_2))


def _gelu_inner(x: Any) -> Any:
    return GELU_BETA * (x + GELU_KAPPA * (x * x * x))


def _gelu_vjp(g, out, x, *, approximate="none"):
    if approximate == "tanh":
        # with s = sigmoid(2u): (1 + tanh u)/2 = s and (1 - tanh(u)**2)/2 = 2 s (1 - s)
        s = apply(SIGMOID.op, 2 * _gelu_inner(x))
        inner_d = GELU_BETA * (1 + (3 * GELU_KAPPA) * (x * x))
        return g * (s + (2 * x) * (s * (1 - s)) * inner_d)
    phi = 0.5 * (1 + apply(ERF.op, x * _SQRT1_2))
    return g * (phi + x * (_INV_SQRT_2PI * np.exp(-0.5 * (x * x))))


def mish(x: Any) -> np.ndarray:
    """``x * tanh(softplus(x))``."""
    x = floats(x)
    return _a(x * np.tanh(np.logaddexp(0, x)))


def _mish_vjp(g, out, x):
    # t = tanh(softplus(x)) = n / (n + r), 1 - t = r / (n + r), from e = exp(-|x|) <= 1:
    # x <= 0: n = e (e + 2), r = 2; x > 0: n = 1 + 2e, r = 2 e**2 (no overflow, and
    # 1 - t**2 = (1 - t)(1 + t) without cancellation)
    pos = x > 0
    e = np.exp(np.where(pos, -x, x))
    n = np.where(pos, 1 + 2 * e, e * (e + 2))
    r = np.where(pos, 2 * (e * e), 2)
    t, u = n / (n + r), r / (n + r)
    return g * (t + x * apply(SIGMOID.op, x) * (u * (1 + t)))


def logsigmoid(x: Any) -> np.ndarray:
    """``log(sigmoid(x)) = -softplus(-x)``, finite for every finite ``x``."""
    x = floats(x)
    return _a(-np.logaddexp(0, -x))


def _logsigmoid_vjp(g, out, x):
    return g * apply(SIGMOID.op, -x)


LEAKY_RELU = _unary("leaky_relu", leaky_relu, _leaky_relu_vjp, kinked=True,
                    doc="``x`` for ``x > 0``, else ``negative_slope * x``.")
ELU = _unary("elu", elu, _elu_vjp, kinked=True,
             doc="``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``.")
SELU = _unary("selu", selu, _selu_vjp, kinked=True, sg="selu",
              doc="``scale * (x if x > 0 else alpha * (exp(x) - 1))`` with SELU's constants.")
CELU = _unary("celu", celu, _celu_vjp, kinked=True, sg="celu",
              doc="``x`` for ``x > 0``, else ``alpha * (exp(x / alpha) - 1)``.")
SILU = _unary("silu", silu, _silu_vjp, doc="``x * sigmoid(x)`` (swish), stable.")
GELU = _unary("gelu", gelu, _gelu_vjp,
              doc="``x * Phi(x)`` (Gaussian CDF via erf), or its tanh approximation.")
MISH = _unary("mish", mish, _mish_vjp, doc="``x * tanh(softplus(x))``, stable.")
SOFTSIGN = _unary("softsign", softsign, _softsign_vjp, doc="``x / (1 + |x|)``.")
LOGSIGMOID = _unary("logsigmoid", logsigmoid, _logsigmoid_vjp,
                    doc="``log(sigmoid(x))``, stable.")
HARDTANH = _unary("hardtanh", hardtanh, _hardtanh_vjp, dtype=_int_keeping, kinked=True,
                  doc="Clip to ``[min_val, max_val]``; gradient 0 at the bounds.")
HARDSIGMOID = _unary("hardsigmoid", hardsigmoid, _hardsigmoid_vjp, kinked=True,
                     doc="``relu6(x + 3) / 6``; gradient 0 at -3 and 3.")
HARDSWISH = _unary("hardswish", hardswish, _hardswish_vjp, kinked=True,
                   doc="``x * relu6(x + 3) / 6``.")


# ----------------------------------------------------------------------------- along a dim
def softmin(x: Any, axis: int = -1) -> np.ndarray:
    """``softmax(-x)`` along ``axis``."""
    return softmax(-floats(x), axis)


def _softmin_vjp(g, out, x, *, axis=-1):
    return -out * (g - np.sum(g * out, axis=(axis,), keepdims=True))


def _same_shape(shapes, attrs):
    return tuple(shapes[0])


def _norm(x: Any, p: float, axis: int) -> Any:
    """The ``p``-norm along ``axis`` (kept), for arrays or Tensors."""
    ax = (axis,)
    if p == 2:
        return np.sum(x * x, axis=ax, keepdims=True) ** 0.5
    a = x * np.sign(x)
    if p == 1:
        return np.sum(a, axis=ax, keepdims=True)
    if p == math.inf:
        return apply(MAX.op, a, axis=ax, keepdims=True)
    return np.sum(a ** p, axis=ax, keepdims=True) ** (1 / p)


def normalize(x: Any, p: float = 2.0, axis: int = 1, eps: float = 1e-12) -> np.ndarray:
    """``x / max(||x||_p, eps)`` along ``axis``."""
    x = floats(x)
    return _a(x / np.maximum(_norm(x, p, axis), eps))


def _norm_grad(x: Any, n: Any, p: float, axis: int) -> Any:
    """d||x||_p / dx (PyTorch's convention: ``sign(0) = 0``, inf-norm ties split evenly)."""
    s = np.sign(x)
    if p == 1:
        return s
    if p == 2:
        return x / np.where(n == 0, 1, n)
    if p == math.inf:
        hit = np.where(x * s == n, 1, 0)
        return s * hit / np.sum(hit, axis=(axis,), keepdims=True)
    r = x * s / np.where(n == 0, 1, n)
    return s * r ** (p - 1)


def _normalize_vjp(g, out, x, *, p=2.0, axis=1, eps=1e-12):
    n = _norm(x, p, axis)
    big = n >= eps                                  # clamp_min(norm, eps) passes at equality
    d = np.where(big, n, eps)
    inner = np.sum(g * x, axis=(axis,), keepdims=True) / (d * d)
    return g / d - np.where(big, inner, 0) * _norm_grad(x, n, p, axis)


SOFTMIN = declare("softmin", softmin, (_softmin_vjp,), group="normalize", arity=1,
                  shape=_same_shape, dtype=FLOAT, sg=(), methods=(),
                  doc="``softmax(-x)`` along ``dim``.")
NORMALIZE = declare("normalize", normalize, (_normalize_vjp,), group="normalize", arity=1,
                    shape=_same_shape, dtype=FLOAT, sg=(), methods=(), kinked=True,
                    doc="``x / max(norm(x, p, dim), eps)``: unit ``p``-norm along ``dim``.")

__all__ = ["SELU_ALPHA", "SELU_SCALE", "GELU_BETA", "GELU_KAPPA", "leaky_relu", "elu", "selu",
           "celu", "hardtanh", "hardsigmoid", "hardswish", "softsign", "silu", "gelu", "mish",
           "logsigmoid", "softmin", "normalize"]
