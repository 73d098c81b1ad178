"""Elementwise ops: one declaration each (kernel, VJP, dtype rule, names, doc).

Shapes broadcast (numpy rules); VJPs are written as if shapes matched and the
executor unbroadcasts (Note [Broadcast cotangents] in numeric/vjps.py).  Kink
conventions follow PyTorch (Note [Kink conventions] there).

>>> ERF.kernel(np.float32([0.0, 1.0]))
array([0.       , 0.8427008], dtype=float32)
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from numeric.rules.core import FLOAT, PROMOTE, apply, binary, declare, elementwise_shape, \
    scipy_special, unary

_a = np.asarray

# ----------------------------------------------------------------------------- binary
ADD = binary("add", lambda x, y: _a(np.add(x, y)),
             lambda g, out, x, y: g, lambda g, out, x, y: g, dtype=PROMOTE, parse=False,
             doc="``input + other`` with broadcasting.",
             example=("sg.add(sg.tensor([1.0, 2.0]), 1)", "tensor([2., 3.])"))
SUB = binary("sub", lambda x, y: _a(np.subtract(x, y)),
             lambda g, out, x, y: g, lambda g, out, x, y: -g, dtype=PROMOTE, parse=False,
             doc="``input - other``.",
             example=("sg.sub(sg.tensor([1.0]), 3)", "tensor([-2.])"))
MUL = binary("mul", lambda x, y: _a(np.multiply(x, y)),
             lambda g, out, x, y: g * y, lambda g, out, x, y: g * x, dtype=PROMOTE,
             parse=False, doc="``input * other``.",
             example=("sg.mul(sg.tensor([1.5]), 2)", "tensor([3.])"))
DIV = binary("div", lambda x, y: _a(np.true_divide(x, y)),
             lambda g, out, x, y: g / y, lambda g, out, x, y: -g * out / y, parse=False,
             doc="``input / other`` (true division).",
             example=("sg.div(sg.tensor([1.0]), 4)", "tensor([0.2500])"))


def _pow_base(g, out, x, y):
    if y.__class__ is np.ndarray and y.ndim == 0:       # a constant exponent
        e = float(y)
        if e == 2.0:                    # x ** 1 is x exactly: same bits, two ops fewer
            return g * (y * x)
        if e == 0.0:                    # x ** 0 is 1 everywhere, even at 0 and +-inf
            return g * np.zeros_like(x)
        return g * (y * x ** (y - 1))
    # d(x**y)/dx = y * x**(y-1), and exactly 0 where y == 0 as in PyTorch: raising to 1
    # there avoids 0 * inf = nan at x == 0; the mask drops 0 * inf at x == +-inf
    with np.errstate(invalid="ignore"):
        return g * np.where(y == 0, 0, y * x ** np.where(y == 0, 1, y - 1))


def _pow_exponent(g, out, x, y):
    # d(x**y)/dy = x**y * log(x); at x == 0 that is 0 for y >= 0 and -inf for y < 0
    zero = x == 0
    return g * np.where(zero, np.where(y >= 0, 0, -out), out * np.log(np.where(zero, 1, x)))


# hand-written front end: PyTorch names the second argument ``exponent``
POW = binary("pow", lambda x, y: _a(np.power(x, y)), _pow_base, _pow_exponent,
             dtype=PROMOTE, parse=False, front="hand", doc="``input ** exponent``.",
             example=None)
MAXIMUM = binary("maximum", lambda x, y: _a(np.maximum(x, y)),
                 lambda g, out, x, y: g * (x > y) + (g * 0.5) * (x == y),
                 lambda g, out, x, y: g * (y > x) + (g * 0.5) * (x == y),
                 dtype=PROMOTE, kinked=True,
                 doc="Elementwise maximum (a tie sends half the gradient to each input).",
                 example=("sg.maximum(sg.tensor([1.0, 5.0]), sg.tensor([3.0, 2.0]))",
                          "tensor([3., 5.])"))
MINIMUM = binary("minimum", lambda x, y: _a(np.minimum(x, y)),
                 lambda g, out, x, y: g * (x < y) + (g * 0.5) * (x == y),
                 lambda g, out, x, y: g * (y < x) + (g * 0.5) * (x == y),
                 dtype=PROMOTE, kinked=True, doc="Elementwise minimum.",
                 example=("sg.minimum(sg.tensor([1.0, 5.0]), 2)", "tensor([1., 2.])"))
ATAN2 = binary("atan2", lambda y, x: _a(np.arctan2(y, x)),
               lambda g, out, y, x: g * x / (x * x + y * y),
               lambda g, out, y, x: -g * y / (x * x + y * y),
               doc="Angle of the point ``(other, input)`` in radians, in ``[-pi, pi]``.",
               example=("sg.atan2(sg.tensor([1.0, 1.0]), sg.tensor([1.0, -1.0]))",
                        "tensor([0.7854, 2.3562])"))

# ----------------------------------------------------------------------------- unary
NEG = unary("neg", lambda x: _a(np.negative(x)), lambda g, out, x: -g, dtype=PROMOTE,
            parse=False, doc="Elementwise negation.",
            example=("sg.neg(sg.tensor([1.0]))", "tensor([-1.])"))
EXP = unary("exp", lambda x: _a(np.exp(x)), lambda g, out, x: g * out,
            doc="Elementwise e**x.", example=("sg.exp(sg.tensor([0.0]))", "tensor([1.])"))
LOG = unary("log", lambda x: _a(np.log(x)), lambda g, out, x: g / x,
            doc="Natural logarithm.", example=("sg.log(sg.tensor([1.0]))", "tensor([0.])"))
LOG1P = unary("log1p", lambda x: _a(np.log1p(x)), lambda g, out, x: g / (1 + x),
              doc="log(1 + x), accurate near 0.",
              example=("sg.log1p(sg.tensor([0.0]))", "tensor([0.])"))
EXPM1 = unary("expm1", lambda x: _a(np.expm1(x)), lambda g, out, x: g * (out + 1),
              doc="exp(x) - 1, accurate near 0.",
              example=("sg.expm1(sg.tensor([0.0]))", "tensor([0.])"))
SQRT = unary("sqrt", lambda x: _a(np.sqrt(x)), lambda g, out, x: g / (2 * out),
             doc="Square root.", example=("sg.sqrt(sg.tensor([4.0]))", "tensor([2.])"))
SIN = unary("sin", lambda x: _a(np.sin(x)), lambda g, out, x: g * np.cos(x),
            doc="Sine.", example=("sg.sin(sg.tensor([0.0]))", "tensor([0.])"))
COS = unary("cos", lambda x: _a(np.cos(x)), lambda g, out, x: -g * np.sin(x),
            doc="Cosine.", example=("sg.cos(sg.tensor([0.0]))", "tensor([1.])"))
TAN = unary("tan", lambda x: _a(np.tan(x)), lambda g, out, x: g * (1 + out * out),
            doc="Tangent.", example=("sg.tan(sg.tensor([0.0]))", "tensor([0.])"))
TANH = unary("tanh", lambda x: _a(np.tanh(x)), lambda g, out, x: g * (1 - out * out),
             doc="Hyperbolic tangent.", example=("sg.tanh(sg.tensor([0.0]))", "tensor([0.])"))


def sigmoid(x: Any) -> np.ndarray:
    """Logistic function, finite for every finite input (Note [Stable kernels]).

    >>> sigmoid(np.float32([-30, 0, 30]))
    array([9.357623e-14, 5.000000e-01, 1.000000e+00], dtype=float32)
    """
    x = _a(x)
    e = np.exp(-np.abs(x))          # in (0, 1]: never overflows
    return _a(np.where(x >= 0, 1, e) / (1 + e))


SIGMOID = unary("sigmoid", sigmoid, lambda g, out, x: g * (out * (1 - out)),
                doc="Logistic function 1/(1+exp(-x)), stable.",
                example=("sg.sigmoid(sg.tensor([0.0]))", "tensor([0.5000])"))


def softplus(x: Any, beta: float = 1.0, threshold: float = math.inf) -> np.ndarray:
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold``.

    The linear branch is PyTorch's (values and gradient 1 there); the rest is stable.
    The op's default ``threshold`` is inf (the textbook function, as the op was before
    it had attrs); ``sg.softplus`` passes PyTorch's default, 20.

    >>> softplus(np.array([0.0, 30.0]), threshold=20.0)
    array([ 0.69314718, 30.        ])
    """
    x = _a(x)
    bx = x * beta
    return _a(np.where(bx > threshold, x, np.logaddexp(0, bx) / beta))


def _softplus_vjp(g, out, x, *, beta=1.0, threshold=math.inf):
    # PyTorch: the slope is sigmoid(beta * x) up to and at the threshold, but its
    # derivative (softplus_double_backward) is masked with beta * x < threshold: at
    # equality the sigmoid's argument is the constant threshold
    bx = x * beta
    return np.where(bx > threshold, g,
                    g * apply(SIGMOID.op, np.where(bx < threshold, bx, threshold)))


# issue 11 (activations): PyTorch's beta and threshold; hand-written sg.softplus
SOFTPLUS = declare("softplus", softplus, (_softplus_vjp,), group="unary", arity=1,
                   shape=elementwise_shape, dtype=FLOAT, sg="softplus", parse=True, kinked=True,
                   doc="``log(1 + exp(beta * x)) / beta``, stable; ``x`` where "
                       "``beta * x > threshold``.")
RELU = unary("relu", lambda x: _a(np.maximum(x, 0)), lambda g, out, x: g * (x > 0),
             dtype=PROMOTE, kinked=True, doc="max(x, 0); derivative 0 at 0.",
             example=("sg.relu(sg.tensor([-1.0, 2.0]))", "tensor([0., 2.])"))
ABS = unary("abs", lambda x: _a(np.abs(x)), lambda g, out, x: g * np.sign(x),
            dtype=PROMOTE, kinked=True, doc="Absolute value; derivative 0 at 0.",
            example=("sg.abs(sg.tensor([-1.5]))", "tensor([1.5000])"))
_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
ERF = unary("erf", lambda x: _a(scipy_special("erf")(x)),          # Note [Lazy scipy]
            lambda g, out, x: g * (_TWO_OVER_SQRT_PI * np.exp(-(x * x))),
            doc="Error function, 2/sqrt(pi) times the integral of exp(-t**2) from 0 to x.",
            example=("sg.erf(sg.tensor([0.0, 1.0]))", "tensor([0.0000, 0.8427])"))


def clamp(x: Any, min: Any = None, max: Any = None) -> np.ndarray:  # noqa: A002
    """Clip to ``[min, max]``; either bound may be None.  NaN stays NaN.

    As in PyTorch, ``min > max`` sets every element to ``max``.

    >>> clamp(np.array([-2.0, 0.5, 3.0]), min=0.0)
    array([0. , 0.5, 3. ])
    """
    x = _a(x)
    if min is not None:
        x = np.maximum(x, min)
    if max is not None:
        x = np.minimum(x, max)
    return _a(x)


def _clamp_vjp(g, out, x, *, min=None, max=None):  # noqa: A002
    if min is not None:
        g = g * (x >= min)
    if max is not None:
        g = g * (x <= max)
    return g


CLAMP = declare("clamp", clamp, (_clamp_vjp,), group="unary", arity=1,
                shape=elementwise_shape, dtype=PROMOTE, sg=("clamp", "clip"), parse=True,
                kinked=True, doc="Clip values to ``[min, max]`` (either may be None).")
CAST = declare("cast", lambda x, dtype: _a(x).astype(dtype, copy=False),
               (lambda g, out, x, *, dtype: g,),                 # unbroadcast casts back
               group="unary", arity=1, shape=elementwise_shape,
               dtype=lambda dtypes, attrs: np.dtype(attrs["dtype"]),
               doc="Cast to ``dtype`` (``Tensor.to``, ``float()``, ...).")

# ----------------------------------------------------------------------------- ternary
WHERE = declare("where", lambda c, x, y: _a(np.where(c, x, y)),
                (None, lambda g, out, c, x, y: np.where(c, g, 0),
                 lambda g, out, c, x, y: np.where(c, 0, g)),
                group="ternary", arity=3, shape=elementwise_shape,
                dtype=lambda dtypes, attrs: np.result_type(*dtypes[1:]),
                sg="where", methods=(), parse=True,
                doc="Elementwise ``input if condition else other`` (no gradient to "
                    "``condition``).")
