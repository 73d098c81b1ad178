"""Math ops (issue 11): inverse trig and hyperbolic functions, logs and powers of
other bases, special functions, and the rounding-flavoured binaries (fmod,
remainder, floor_divide, copysign) with PyTorch's gradients at their jumps.

VJPs follow Note [The VJP vocabulary] (numeric/vjps.py); a function outside it
(``cosh`` in ``sinh``'s VJP) is called through :func:`numeric.rules.core.apply`,
so the VJP records a differentiable graph on Tensors too.  Kink conventions
(PyTorch's) are listed in docs/conventions.md.

>>> REMAINDER.kernel(np.array([-7.0, 7.0]), np.array(3.0))
array([2., 1.])
>>> FMOD.kernel(np.array([-7.0, 7.0]), np.array(3.0))
array([-1.,  1.])
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from numeric.errors import SymgradError
from numeric.rules.core import FLOAT, PROMOTE, apply, binary, declare, elementwise_shape, \
    floats, scipy_special, unary

_a = np.asarray
_LN2, _LN10 = math.log(2.0), math.log(10.0)
_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
_SQRT_PI_OVER_TWO = math.sqrt(math.pi) / 2


def _zero(g, out, *xs):
    """Rounding-like ops: PyTorch's zero gradient (an input still gets one)."""
    return np.zeros_like(g)


def _quiet(fn):
    """``fn`` with numpy's warnings off: inf/nan results are the answer (as PyTorch)."""
    def kernel(*xs):
        with np.errstate(all="ignore"):
            return _a(fn(*xs))
    return kernel


# ----------------------------------------------------------------------------- unary
RSQRT = unary("rsqrt", _quiet(lambda x: 1 / np.sqrt(floats(x))),
              lambda g, out, x: g * (-0.5 * out * out * out),
              doc="1 / sqrt(x).", example=("sg.rsqrt(sg.tensor([4.0]))", "tensor([0.5000])"))
RECIPROCAL = unary("reciprocal", _quiet(lambda x: 1 / floats(x)),
                   lambda g, out, x: -g * (out * out),
                   doc="1 / x.", example=("sg.reciprocal(sg.tensor([4.0]))",
                                          "tensor([0.2500])"))
SQUARE = unary("square", lambda x: _a(np.square(x)), lambda g, out, x: g * (2 * x),
               dtype=PROMOTE, doc="x * x (integers stay integers).",
               example=("sg.square(sg.tensor([-3.0]))", "tensor([9.])"))
ASIN = unary("asin", _quiet(lambda x: np.arcsin(floats(x))),
             lambda g, out, x: g / np.sqrt(1 - x * x), sg=("asin", "arcsin"),
             doc="Inverse sine, in ``[-pi/2, pi/2]``.",
             example=("sg.asin(sg.tensor([1.0]))", "tensor([1.5708])"))
ACOS = unary("acos", _quiet(lambda x: np.arccos(floats(x))),
             lambda g, out, x: -g / np.sqrt(1 - x * x), sg=("acos", "arccos"),
             doc="Inverse cosine, in ``[0, pi]``.",
             example=("sg.acos(sg.tensor([1.0]))", "tensor([0.])"))
ATAN = unary("atan", lambda x: _a(np.arctan(floats(x))),
             lambda g, out, x: g / (1 + x * x), sg=("atan", "arctan"),
             doc="Inverse tangent, in ``(-pi/2, pi/2)``.",
             example=("sg.atan(sg.tensor([1.0]))", "tensor([0.7854])"))
SINH = unary("sinh", _quiet(lambda x: np.sinh(floats(x))),
             lambda g, out, x: g * apply(COSH.op, x),
             doc="Hyperbolic sine.", example=("sg.sinh(sg.tensor([0.0]))", "tensor([0.])"))
COSH = unary("cosh", _quiet(lambda x: np.cosh(floats(x))),
             lambda g, out, x: g * apply(SINH.op, x),
             doc="Hyperbolic cosine.", example=("sg.cosh(sg.tensor([0.0]))", "tensor([1.])"))
ASINH = unary("asinh", lambda x: _a(np.arcsinh(floats(x))),
              lambda g, out, x: g / np.sqrt(x * x + 1), sg=("asinh", "arcsinh"),
              doc="Inverse hyperbolic sine.",
              example=("sg.asinh(sg.tensor([0.0]))", "tensor([0.])"))
ACOSH = unary("acosh", _quiet(lambda x: np.arccosh(floats(x))),
              lambda g, out, x: g / np.sqrt(x * x - 1), sg=("acosh", "arccosh"),
              doc="Inverse hyperbolic cosine (x >= 1).",
              example=("sg.acosh(sg.tensor([1.0]))", "tensor([0.])"))
ATANH = unary("atanh", _quiet(lambda x: np.arctanh(floats(x))),
              lambda g, out, x: g / (1 - x * x), sg=("atanh", "arctanh"),
              doc="Inverse hyperbolic tangent (-1 < x < 1).",
              example=("sg.atanh(sg.tensor([0.0]))", "tensor([0.])"))
LOG2 = unary("log2", _quiet(lambda x: np.log2(floats(x))), lambda g, out, x: g / (x * _LN2),
             doc="Base-2 logarithm.", example=("sg.log2(sg.tensor([8.0]))", "tensor([3.])"))
LOG10 = unary("log10", _quiet(lambda x: np.log10(floats(x))),
              lambda g, out, x: g / (x * _LN10),
              doc="Base-10 logarithm.",
              example=("sg.log10(sg.tensor([100.0]))", "tensor([2.])"))
EXP2 = unary("exp2", _quiet(lambda x: np.exp2(floats(x))), lambda g, out, x: g * (out * _LN2),
             doc="2 ** x.", example=("sg.exp2(sg.tensor([3.0]))", "tensor([8.])"))
ERFC = unary("erfc", lambda x: _a(scipy_special("erfc")(floats(x))),
             lambda g, out, x: g * (-_TWO_OVER_SQRT_PI * np.exp(-(x * x))),
             doc="Complementary error function (one minus the error function), accurate for "
                 "large x.",
             example=("sg.erfc(sg.tensor([0.0]))", "tensor([1.])"))
ERFINV = unary("erfinv", lambda x: _a(scipy_special("erfinv")(floats(x))),
               lambda g, out, x: g * (_SQRT_PI_OVER_TWO * np.exp(out * out)),
               doc="Inverse error function on ``[-1, 1]``.",
               example=("sg.erfinv(sg.tensor([0.0]))", "tensor([0.])"))


def sign(x: Any) -> np.ndarray:
    """-1, 0 or 1 by the sign of ``x`` (NaN stays NaN; bools stay bools, as PyTorch).

    >>> sign(np.array([-2.0, 0.0, 3.0])), sign(np.array([True, False]))
    (array([-1.,  0.,  1.]), array([ True, False]))
    """
    x = _a(x)
    return x.copy() if x.dtype.kind == "b" else _a(np.sign(x))


SIGN = unary("sign", sign, _zero, dtype=PROMOTE, kinked=True,
             doc="-1, 0 or 1 by the sign of x; gradient 0 everywhere (as PyTorch).",
             example=("sg.sign(sg.tensor([-2.0, 0.0, 3.0]))", "tensor([-1.,  0.,  1.])"))


# ----------------------------------------------------------------------------- binary
HYPOT = binary("hypot", lambda x, y: _a(np.hypot(floats(x), floats(y))),
               lambda g, out, x, y: g * x / out, lambda g, out, x, y: g * y / out,
               kinked=True, doc="sqrt(input**2 + other**2) without overflow.",
               example=("sg.hypot(sg.tensor([3.0]), sg.tensor([4.0]))", "tensor([5.])"))


def xlogy(x: Any, y: Any) -> np.ndarray:
    """``x * log(y)``, and 0 where ``x == 0`` unless ``y`` is NaN (PyTorch, scipy).

    >>> xlogy(np.array([0.0, 0.0, 2.0]), np.array([0.0, np.nan, np.e]))
    array([ 0., nan,  2.])
    """
    x, y = floats(x), floats(y)
    with np.errstate(all="ignore"):
        return _a(np.where((x == 0) & ~np.isnan(y), 0, x * np.log(y)))


def _xlogy_x(g, out, x, y):
    # PyTorch: xlogy(g, y), and 0 where x == 0 and y <= 0 (where log(y) is not finite)
    d = apply(XLOGY.op, g, y)
    return np.where(x == 0, np.where(y <= 0, 0, d), d)


XLOGY = binary("xlogy", xlogy, _xlogy_x, lambda g, out, x, y: g * x / y,
               doc="input * log(other), 0 where input == 0 (as PyTorch).",
               example=("sg.xlogy(sg.tensor([0.0, 2.0]), sg.tensor([0.0, 1.0]))",
                        "tensor([0., 0.])"))


class IntegerDivisionByZero(SymgradError, ZeroDivisionError, RuntimeError):
    """Integer ``%``, ``//`` or ``fmod`` by zero: a RuntimeError as PyTorch raises.

    >>> FLOOR_DIVIDE.kernel(np.array([1]), np.array([0]))
    Traceback (most recent call last):
    ...
    numeric.rules.math.IntegerDivisionByZero: floor_divide: integer division by zero ...
    """


def _int_division(name: str, fn):
    """An integer-capable division kernel: integer division by zero raises, as PyTorch."""
    def kernel(x: Any, y: Any) -> np.ndarray:
        x, y = _a(x), _a(y)
        if np.result_type(x, y).kind in "biu" and np.any(y == 0):
            raise IntegerDivisionByZero(
                f"{name}: integer division by zero (a zero in `other`); use float tensors "
                "to get inf/nan instead")
        with np.errstate(all="ignore"):
            return _a(fn(x, y))
    kernel.__name__ = name
    return kernel


FLOOR_DIVIDE = binary("floor_divide", _int_division("floor_divide", np.floor_divide),
                      _zero, _zero, dtype=PROMOTE, kinked=True,
                      doc="floor(input / other) (``//``); gradient 0 (as PyTorch's "
                          "floor division).",
                      example=("sg.floor_divide(sg.tensor([7.0, -7.0]), 2)",
                               "tensor([ 3., -4.])"))


def _floordiv(x, y):
    return apply(FLOOR_DIVIDE.op, x, y)


FMOD = binary("fmod", _int_division("fmod", np.fmod), lambda g, out, x, y: g,
              lambda g, out, x, y: -g * np.trunc(x / y), dtype=PROMOTE, kinked=True,
              doc="Remainder of input / other rounded toward zero (sign of input, C fmod).",
              example=("sg.fmod(sg.tensor([-7.0, 7.0]), 3)", "tensor([-1.,  1.])"))
REMAINDER = binary("remainder", _int_division("remainder", np.remainder),
                   lambda g, out, x, y: g, lambda g, out, x, y: -g * _floordiv(x, y),
                   dtype=PROMOTE, kinked=True,
                   doc="input - floor(input / other) * other (``%``: sign of other, "
                       "Python's).",
                   example=("sg.remainder(sg.tensor([-7.0, 7.0]), 3)", "tensor([2., 1.])"))


def _copysign_x(g, out, x, y):
    # PyTorch's g * out / x (0 where x == 0) is g * (+-1) elsewhere: sign() keeps it a
    # constant mask, so second derivatives are exactly 0
    return g * (np.sign(x) * np.sign(out))


COPYSIGN = binary("copysign", lambda x, y: _a(np.copysign(floats(x), floats(y))),
                  _copysign_x, _zero, kinked=True,
                  doc="abs(input) with the sign of other (signed zeros count).",
                  example=("sg.copysign(sg.tensor([1.0, 2.0]), sg.tensor([-1.0, 0.0]))",
                           "tensor([-1.,  2.])"))
LOGADDEXP = binary("logaddexp", lambda x, y: _a(np.logaddexp(floats(x), floats(y))),
                   lambda g, out, x, y: g * np.exp(x - out),
                   lambda g, out, x, y: g * np.exp(y - out),
                   doc="log(exp(input) + exp(other)), stable.",
                   example=("sg.logaddexp(sg.tensor([0.0]), sg.tensor([0.0]))",
                            "tensor([0.6931])"))
# clamp with a tensor bound: PyTorch's gradient goes to input where input == bound
CLAMP_MIN = binary("clamp_min", lambda x, m: _a(np.maximum(x, m)),
                   lambda g, out, x, m: g * (x >= m), lambda g, out, x, m: g * (x < m),
                   dtype=PROMOTE, kinked=True, front="hand",
                   doc="max(input, min); at input == min the gradient goes to input.",
                   example=None)
CLAMP_MAX = binary("clamp_max", lambda x, m: _a(np.minimum(x, m)),
                   lambda g, out, x, m: g * (x <= m), lambda g, out, x, m: g * (x > m),
                   dtype=PROMOTE, kinked=True, front="hand",
                   doc="min(input, max); at input == max the gradient goes to input.",
                   example=None)


# ----------------------------------------------------------------------------- ternary
def lerp(start: Any, end: Any, weight: Any) -> np.ndarray:
    """``start + weight * (end - start)``, computed as PyTorch does (exact at weight 1).

    >>> lerp(np.array([0.0, 1.0]), np.array([2.0, 3.0]), np.array(0.75))
    array([1.5, 2.5])
    """
    start, end, weight = floats(start), floats(end), floats(weight)
    diff = end - start
    return _a(np.where(np.abs(weight) < 0.5, start + weight * diff,
                       end - diff * (1 - weight)))


LERP = declare("lerp", lerp,
               (lambda g, out, s, e, w: g * (1 - w), lambda g, out, s, e, w: g * w,
                lambda g, out, s, e, w: g * (e - s)),
               group="ternary", arity=3, shape=elementwise_shape, dtype=FLOAT, sg="lerp",
               parse=True, doc="start + weight * (end - start) (weight a number or tensor).")
