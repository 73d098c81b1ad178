"""The op database: one ``OpInfo`` per ``Op``, the data every per-op test is generated from.

Each entry says how to call the op (arity, sample input shapes with broadcasting,
sample ``attrs``), where it is defined (one ``Domain`` per input), where its
derivative has a kink (so points are drawn away from it), whether second
derivatives are tested, tolerance factors, and expected failures with a reason.
A test asserts ``set(OP_DB) == set(Op)``: a new op without an entry fails.

>>> from numeric.ops import Op
>>> OP_DB[Op.LOG].domains[0].name
'positive'
>>> OP_DB[Op.DIV].samples[2].shapes
((3, 1), (1, 4))
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

import numpy as np

from numeric.ops import ARITY, Op

__all__ = ["Domain", "Sample", "OpInfo", "OP_DB", "COMPOSED", "VALUE_FUNCTIONS", "REAL", "POSITIVE", "ABOVE_MINUS_ONE",
           "NONZERO", "TAN_DOMAIN", "BOOL", "BASE", "SMALL", "INT", "REAL_OR_ZERO", "SPECIAL"]


@dataclass(frozen=True)
class Domain:
    """Where one input of an op is defined, and how to draw points there.

    ``low``/``high`` bound the sampling interval; ``gap`` excludes ``|x| < gap``
    (denominators); ``contains`` tests actual values (used for intermediate nodes
    of random expressions, whose values the sampler does not control).
    ``boolean`` and ``integer`` domains draw bool and int64 arrays whatever the
    float dtype asked (``discrete``: no kinks, no finite differences);
    ``specials`` are values put in about a third of the elements drawn (0 for
    logical ops, inf and nan for ``isnan``).

    >>> POSITIVE.contains(np.array([0.5, -1.0])).tolist()
    [True, False]
    """

    name: str
    low: float
    high: float
    contains: Callable[[np.ndarray], np.ndarray]
    gap: float = 0.0
    boolean: bool = False
    integer: bool = False
    specials: tuple = ()

    @property
    def discrete(self) -> bool:
        """True for bool and integer domains (values, not points of a continuum)."""
        return self.boolean or self.integer

    def sample(self, rng: np.random.Generator, shape: tuple, dtype: Any = np.float64) -> np.ndarray:
        """Draw an array of ``shape`` inside the domain.

        >>> REAL.sample(np.random.default_rng(0), (2,)).shape
        (2,)
        >>> INT.sample(np.random.default_rng(0), (3,)).dtype
        dtype('int64')
        """
        if self.boolean:
            return rng.random(shape) < 0.5
        if self.integer:
            return rng.integers(int(self.low), int(self.high) + 1, size=shape, dtype=np.int64)
        if self.specials:
            plain = replace(self, specials=()).sample(rng, shape, dtype)
            extra = rng.choice(np.asarray(self.specials, dtype=dtype), size=shape)
            return np.asarray(np.where(rng.random(shape) < 1 / 3, extra, plain), dtype=dtype)
        if self.gap > 0:
            mag = rng.uniform(self.gap, self.high, size=shape)
            sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
            return np.asarray(mag * sign, dtype=dtype)
        return np.asarray(rng.uniform(self.low, self.high, size=shape), dtype=dtype)


def _tan_ok(x: np.ndarray) -> np.ndarray:
    return np.abs(np.cos(x)) > 0.15


REAL = Domain("real", -2.0, 2.0, lambda x: np.isfinite(x) & (np.abs(x) < 1e6))
SMALL = Domain("real, |x| <= 20", -2.0, 2.0, lambda x: np.abs(x) <= 20.0)
POSITIVE = Domain("positive", 0.2, 3.0, lambda x: x > 1e-3)
BASE = Domain("positive base", 0.3, 2.5, lambda x: x > 1e-2)
ABOVE_MINUS_ONE = Domain("x > -1", -0.8, 2.0, lambda x: x > -1 + 1e-3)
NONZERO = Domain("nonzero", -2.0, 2.0, lambda x: np.abs(x) > 1e-2, gap=0.3)
TAN_DOMAIN = Domain("away from pi/2 + k*pi", -1.3, 1.3, _tan_ok)
BOOL = Domain("boolean", 0.0, 1.0, lambda x: np.ones(np.shape(x), bool), boolean=True)
# --- issue 11: rounding
INT = Domain("integer", -9, 9, lambda x: np.asarray(x) == np.round(x), integer=True)
#: inputs of logical ops: reals and exact zeros (false)
REAL_OR_ZERO = Domain("real or 0", -2.0, 2.0, lambda x: np.isfinite(x), specials=(0.0,))
#: inputs of isnan/isinf/isfinite: reals, infinities and NaN
SPECIAL = Domain("real, inf or nan", -2.0, 2.0, lambda x: np.ones(np.shape(x), bool),
                 specials=(math.inf, -math.inf, math.nan))


@dataclass(frozen=True)
class Sample:
    """One way to call an op: input shapes (broadcasting allowed) and static ``attrs``.

    >>> Sample(((3, 1), (1, 4))).attrs
    {}
    """

    shapes: tuple
    attrs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """A short readable id for parametrized tests.

        >>> Sample(((3, 1), ()), {"axis": 0}).label
        '(3,1)x()-axis=0'
        """
        shapes = "x".join("(" + ",".join(map(str, s)) + ")" for s in self.shapes)
        extra = ",".join(f"{k}={_short(v)}" for k, v in self.attrs.items())
        return f"{shapes}-{extra}" if extra else shapes


def _short(v: Any) -> str:
    if isinstance(v, tuple):
        return "(" + ",".join(_short(e) for e in v) + ")"
    if isinstance(v, np.ndarray):
        return "arr" + str(v.tolist()).replace(" ", "")
    if isinstance(v, slice):
        return f"{v.start}:{v.stop}"
    if isinstance(v, np.dtype):
        return v.name
    return str(v).replace(" ", "")


#: distance from the inputs to the nearest kink; ``inf`` when the op has none
KinkDistance = Callable[..., float]


def _no_kink(*xs: np.ndarray, **attrs: Any) -> float:
    return math.inf


def _min_abs(a: Any) -> float:
    a = np.asarray(a, dtype=np.float64)
    return float(np.min(np.abs(a))) if a.size else math.inf


def _kink_at_zero(x, **attrs):
    return _min_abs(x)


def _kink_ties(x, y, **attrs):
    return _min_abs(np.subtract(x, y, dtype=np.float64))


def _kink_clamp(x, **attrs):
    d = math.inf
    for bound in (attrs.get("min"), attrs.get("max")):
        if bound is not None:
            d = min(d, _min_abs(np.asarray(x, np.float64) - bound))
    return d


def _kink_reduce_ties(x, axis=None, keepdims=False, **attrs):
    """Gap between the two largest (and two smallest) entries of each reduced slice."""
    x = np.asarray(x, np.float64)
    if x.ndim == 0:
        return math.inf
    axes = tuple(range(x.ndim)) if axis is None else tuple(axis)
    rest = [a for a in range(x.ndim) if a not in axes]
    flat = np.transpose(x, rest + list(axes)).reshape(
        int(np.prod([x.shape[a] for a in rest])), -1)
    if flat.shape[1] < 2:
        return math.inf
    s = np.sort(flat, axis=1)
    return float(min(np.min(s[:, -1] - s[:, -2]), np.min(s[:, 1] - s[:, 0])))


@dataclass(frozen=True)
class OpInfo:
    """Everything the tests need to know about one op.

    ``arity``: number of inputs (``None`` = variadic); ``domains``: one ``Domain``
    per input (variadic ops repeat the first); ``samples``: ways to call it;
    ``kink``: a function of the input values and attrs giving the distance to the
    nearest kink; ``kinks``: the kinks in words; ``differentiable``: which inputs
    get a gradient; ``second_order``: second derivatives are tested;
    ``tol_factor``: multiplies the rounding tolerance (documented why where not 1);
    ``xfails``: ``{test name: reason}`` for known, accepted failures.

    For the sampling passes (:mod:`verify.passes`): ``overflow_safe`` gives the
    signs (``"+-"``, ``"+"``, ``"-"`` or ``""``) at which the op's value and gradient
    stay finite for inputs of magnitude ~700-800 (``exp`` only for negative ones);
    ``zero_ok`` says exact 0 is an ordinary point (not a kink or singularity);
    ``kink_grid(attrs)`` is a small set of values holding the kinks (0 for relu,
    the bounds for clamp, a coarse grid for ties), drawn from elementwise to
    land on them; ``None`` for ops without kinks.  ``extremes_tol`` widens the
    tolerance at extreme points only (documented where not 1).

    Ops whose gradient says nothing about their exact form have their values
    checked instead (``checks_values``): ``differentiable=()`` (no input gets a
    gradient: ``isnan``, bitwise ops, index-valued results) and ``zero_grad``
    (the gradient is identically 0: rounding ops, whose VJP mutants by scaling,
    negating or dropping cannot change it either).

    >>> OP_DB[Op.RELU].kinks
    'x = 0 (derivative taken as 0 there, as in PyTorch)'
    """

    op: Op
    arity: int | None
    domains: tuple
    samples: tuple
    kinks: str = ""
    kink: KinkDistance = _no_kink
    differentiable: tuple | None = None
    second_order: bool = True
    tol_factor: float = 1.0
    xfails: Mapping[str, str] = field(default_factory=dict)
    overflow_safe: str = "+-"
    zero_ok: bool = True
    kink_grid: Callable[[Mapping[str, Any]], tuple] | None = None
    extremes_tol: float = 1.0
    zero_grad: bool = False

    @property
    def has_gradient(self) -> bool:
        """False when no input gets a gradient (``differentiable=()``).

        >>> OP_DB[Op.ISNAN].has_gradient, OP_DB[Op.FLOOR].has_gradient
        (False, True)
        """
        return self.differentiable != ()

    @property
    def checks_values(self) -> bool:
        """True when the sweep compares values with the exact form (see the class doc).

        >>> OP_DB[Op.FLOOR].checks_values, OP_DB[Op.EXP].checks_values
        (True, False)
        """
        return self.zero_grad or not self.has_gradient

    @property
    def sample_shapes(self) -> tuple:
        """The input shapes of every sample (broadcasting included).

        >>> OP_DB[Op.MUL].sample_shapes[2]
        ((3, 1), (1, 4))
        """
        return tuple(s.shapes for s in self.samples)

    def domain(self, i: int) -> Domain:
        """The domain of input ``i`` (variadic ops share one).

        >>> OP_DB[Op.CONCAT].domain(5).name
        'real'
        """
        return self.domains[min(i, len(self.domains) - 1)]

    def grad_inputs(self, n: int) -> tuple:
        """Positions of the ``n`` inputs that receive a gradient.

        >>> OP_DB[Op.WHERE].grad_inputs(3)
        (1, 2)
        """
        return tuple(range(n)) if self.differentiable is None else self.differentiable

    def admissible(self, values: tuple, attrs: Mapping[str, Any], margin: float) -> bool:
        """True when ``values`` lie in the domain and at least ``margin`` from a kink.

        >>> OP_DB[Op.LOG].admissible((np.array([0.5]),), {}, 1e-3)
        True
        >>> OP_DB[Op.ABS].admissible((np.array([1e-9]),), {}, 1e-3)
        False
        """
        for i, v in enumerate(values):
            d = self.domain(i)
            if d.discrete:
                continue
            arr = np.asarray(v, dtype=np.float64)
            finite = np.isfinite(arr) | bool(d.specials)   # specials may be inf or nan
            if not np.all(finite) or not np.all(d.contains(arr)):
                return False
        return self.kink(*values, **attrs) >= margin


def _grid_zero(attrs):
    return (-1.5, -0.5, 0.0, 0.0, 0.5, 1.0)


def _grid_ties(attrs):
    return (-1.0, 0.0, 0.5, 1.0)


def _grid_extreme_ties(attrs):
    return (-1.0, 0.25, 1.0)


def _grid_clamp(attrs):
    bounds = tuple(attrs[b] for b in ("min", "max") if attrs.get(b) is not None)
    return bounds * 2 + (-1.0, 0.1, 1.0)


_BIN = (Sample(((3, 4), (3, 4))), Sample(((), (3, 4))), Sample(((3, 1), (1, 4))),
        Sample(((4,), (2, 3, 4))))
_UN = (Sample(((3, 4),)), Sample(((),)), Sample(((2, 1, 3),)))
_RED = (Sample(((3, 4),), {"axis": None, "keepdims": False}),
        Sample(((3, 4),), {"axis": (1,), "keepdims": False}),
        Sample(((2, 3, 4),), {"axis": (0, 2), "keepdims": True}))
# max/min: symbolic tie handling grows quadratically with the reduced size; keep it small
_RED_EXT = (Sample(((2, 3),), {"axis": None, "keepdims": False}),
            Sample(((3, 4),), {"axis": (1,), "keepdims": False}),
            Sample(((2, 3, 2),), {"axis": (0, 2), "keepdims": True}))
_NORM = (Sample(((3, 4),), {"axis": 1}), Sample(((3, 4),), {"axis": 0}),
         Sample(((5,),), {"axis": 0}))


def _un(op, domain=REAL, **kw) -> OpInfo:
    return OpInfo(op, 1, (domain,), _UN, **kw)


def _bin(op, d0=REAL, d1=REAL, **kw) -> OpInfo:
    return OpInfo(op, 2, (d0, d1), _BIN, **kw)


_ENTRIES = [
    _bin(Op.ADD), _bin(Op.SUB), _bin(Op.MUL),
    _bin(Op.DIV, REAL, NONZERO),
    # 60 ** 60 is finite, 700 ** 700 is not.  numeric's d/dx is y * x ** (y - 1): the
    # rounding of y - 1 is amplified by |y ln x|, up to 60 * ln 60 ~ 246 at extremes
    _bin(Op.POW, BASE, REAL, overflow_safe="", extremes_tol=256.0),
    _bin(Op.MAXIMUM, kinks="ties x == y (gradient split as numeric documents)", kink=_kink_ties,
         zero_ok=False, kink_grid=_grid_ties),
    _bin(Op.MINIMUM, kinks="ties x == y (gradient split as numeric documents)", kink=_kink_ties,
         zero_ok=False, kink_grid=_grid_ties),
    # atan2(y, x): y != 0 keeps points off the singularity (0, 0) and off the branch cut
    # y = 0, x < 0, where the value jumps by 2*pi (finite differences would straddle it)
    _bin(Op.ATAN2, NONZERO, REAL),
    _un(Op.NEG), _un(Op.EXP, overflow_safe="-"), _un(Op.LOG, POSITIVE), _un(Op.LOG1P, ABOVE_MINUS_ONE),
    _un(Op.EXPM1, overflow_safe="-"), _un(Op.SQRT, POSITIVE), _un(Op.SIN), _un(Op.COS),
    _un(Op.TAN, TAN_DOMAIN), _un(Op.TANH), _un(Op.SIGMOID), _un(Op.ERF),
    _un(Op.RELU, kinks="x = 0 (derivative taken as 0 there, as in PyTorch)",
        kink=_kink_at_zero, zero_ok=False, kink_grid=_grid_zero),
    _un(Op.ABS, kinks="x = 0 (derivative taken as 0 there, as in PyTorch)",
        kink=_kink_at_zero, zero_ok=False, kink_grid=_grid_zero),
    OpInfo(Op.CLAMP, 1, (REAL,),
           # dyadic bounds: the lowering reads a bound as its exact decimal (0.3 is 3/10),
           # numeric as a float, so only a representable bound is the same kink in both
           (Sample(((3, 4),), {"min": -0.5, "max": 0.5}),
            Sample(((3, 4),), {"min": None, "max": 0.375}),
            Sample(((),), {"min": -0.25, "max": None})),
           kinks="x = min and x = max (gradient 1 inside, 0 outside)", kink=_kink_clamp,
           kink_grid=_grid_clamp),
    OpInfo(Op.CAST, 1, (REAL,),
           (Sample(((3, 4),), {"dtype": np.dtype(np.float64)}),
            Sample(((),), {"dtype": np.dtype(np.float64)}))),
    OpInfo(Op.WHERE, 3, (BOOL, REAL, REAL),
           (Sample(((3, 4), (3, 4), (3, 4))), Sample(((3, 1), (), (1, 4)))),
           differentiable=(1, 2)),
    OpInfo(Op.MATMUL, 2, (REAL, REAL),
           (Sample(((3, 4), (4, 2))), Sample(((4,), (4, 3))), Sample(((3, 4), (4,))),
            Sample(((2, 3, 4), (4, 2))), Sample(((4,), (4,))))),
    OpInfo(Op.SUM, 1, (REAL,), _RED), OpInfo(Op.MEAN, 1, (REAL,), _RED),
    OpInfo(Op.MAX, 1, (REAL,), _RED_EXT, kinks="ties between the largest entries",
           kink=_kink_reduce_ties, zero_ok=False, kink_grid=_grid_extreme_ties),
    OpInfo(Op.MIN, 1, (REAL,), _RED_EXT, kinks="ties between the smallest entries",
           kink=_kink_reduce_ties, zero_ok=False, kink_grid=_grid_extreme_ties),
    OpInfo(Op.LOGSUMEXP, 1, (REAL,), _RED),
    OpInfo(Op.SOFTMAX, 1, (REAL,), _NORM), OpInfo(Op.LOG_SOFTMAX, 1, (REAL,), _NORM),
    OpInfo(Op.RESHAPE, 1, (REAL,),
           (Sample(((3, 4),), {"shape": (2, 6)}), Sample(((3, 4),), {"shape": (12,)}),
            Sample(((),), {"shape": (1, 1)}))),
    OpInfo(Op.PERMUTE, 1, (REAL,),
           (Sample(((2, 3, 4),), {"axes": (2, 0, 1)}), Sample(((3, 4),), {"axes": (1, 0)}))),
    OpInfo(Op.BROADCAST_TO, 1, (REAL,),
           (Sample(((3, 1),), {"shape": (2, 3, 4)}), Sample(((),), {"shape": (3,)}),
            Sample(((4,),), {"shape": (3, 4)}))),
    OpInfo(Op.GETITEM, 1, (REAL,),
           (Sample(((3, 4),), {"index": (slice(0, 2, None), slice(None, None, None))}),
            Sample(((3, 4),), {"index": (1, slice(1, 3, None))}),
            Sample(((5,),), {"index": (np.array([0, 2, 0, 4]),)}),
            Sample(((3, 4),), {"index": (None, Ellipsis, 2)}),
            Sample(((3,),), {"index": (np.array([True, False, True]),)}))),
    OpInfo(Op.SCATTER_ADD, 1, (REAL,),
           (Sample(((2, 4),), {"shape": (3, 4), "index": (np.array([0, 2]),)}),
            Sample(((3,),), {"shape": (4,), "index": (np.array([1, 1, 3]),)}),
            Sample(((4,),), {"shape": (3, 4), "index": (1, slice(None, None, None))}))),
    OpInfo(Op.CONCAT, None, (REAL,),
           (Sample(((2, 3), (4, 3)), {"axis": 0}),
            Sample(((2, 3), (2, 1), (2, 2)), {"axis": 1}))),
    OpInfo(Op.STACK, None, (REAL,),
           (Sample(((3,), (3,)), {"axis": 0}),
            Sample(((2, 3), (2, 3), (2, 3)), {"axis": 2}))),
]

# --- issue 11: rounding
def _kink_integers(x, **attrs):
    """Distance to the nearest integer (floor, ceil, trunc and frac jump there)."""
    x = np.asarray(x, np.float64)
    return _min_abs(x - np.round(x))


def _kink_half_integers(x, decimals=0, **attrs):
    """Distance to the nearest tie of ``round(x, decimals)`` (where it jumps)."""
    scale = 10.0 ** decimals
    y = np.asarray(x, np.float64) * scale
    return _min_abs(y - np.floor(y) - 0.5) / scale


def _grid_integers(attrs):
    return (-2.0, -1.0, 0.0, 1.0, 0.5, -0.25)


def _grid_half_integers(attrs):
    # ties exactly representable in binary: (k + 1/2) / 10**decimals for decimals 0 and 1
    return (-1.5, -0.5, 0.5, 2.5) if attrs.get("decimals", 0) == 0 else (-0.25, 0.25, 0.75)


_NO_GRAD = {"second_order": "no input has a gradient"}


def _rounding(op, **kw) -> OpInfo:
    return _un(op, kinks="jumps at the integers (gradient 0 there too, as in PyTorch)",
               kink=_kink_integers, kink_grid=_grid_integers, zero_ok=False, zero_grad=True,
               **kw)


def _test(op, domain) -> OpInfo:
    return _un(op, domain, differentiable=(), second_order=False, xfails=_NO_GRAD)


def _pair(op, d0, d1) -> OpInfo:
    return _bin(op, d0, d1, differentiable=(), second_order=False, xfails=_NO_GRAD)


_ENTRIES += [
    _rounding(Op.FLOOR), _rounding(Op.CEIL), _rounding(Op.TRUNC),
    _un(Op.FRAC, kinks="jumps at the nonzero integers (gradient 1 everywhere, as in PyTorch)",
        kink=_kink_integers, kink_grid=_grid_integers, zero_ok=False),
    OpInfo(Op.ROUND, 1, (REAL,),
           (Sample(((3, 4),), {"decimals": 0}), Sample(((),), {"decimals": 1}),
            Sample(((2, 1, 3),), {"decimals": 0})),
           kinks="jumps at the ties (k + 1/2) / 10**decimals, rounded half to even "
                 "(gradient 0 everywhere, as in PyTorch)",
           kink=_kink_half_integers, kink_grid=_grid_half_integers, zero_grad=True),
    _test(Op.ISNAN, SPECIAL), _test(Op.ISINF, SPECIAL), _test(Op.ISFINITE, SPECIAL),
    _test(Op.LOGICAL_NOT, REAL_OR_ZERO),
    _pair(Op.LOGICAL_AND, REAL_OR_ZERO, REAL_OR_ZERO), _pair(Op.LOGICAL_OR, BOOL, REAL_OR_ZERO),
    _pair(Op.LOGICAL_XOR, BOOL, BOOL),
    _pair(Op.BITWISE_AND, INT, INT), _pair(Op.BITWISE_OR, INT, INT),
    _pair(Op.BITWISE_XOR, INT, INT), _test(Op.BITWISE_NOT, INT),
]

# --- issue 11: nnops
from numeric.rules.nnops import pool_out  # noqa: E402 - window sizes


def _conv(x, w, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    return Sample((x, w), {"stride": stride, "padding": padding, "dilation": dilation,
                           "groups": groups})


def _window_gaps(x, kernel, stride, padding, dilation=(1, 1), ceil_mode=False, **attrs):
    """max_pool2d: the smallest gap between the two largest entries of a window."""
    x = np.asarray(x, np.float64)
    h, w = x.shape[2:]
    oh, ow = (pool_out(n, k, s, p, d, ceil_mode) for n, k, s, p, d in
              zip((h, w), kernel, stride, padding, dilation))
    gap = math.inf
    for i, j in np.ndindex(oh, ow):
        rows = [r for r in range(i * stride[0] - padding[0],
                                 i * stride[0] - padding[0] + kernel[0] * dilation[0],
                                 dilation[0]) if 0 <= r < h]
        cols = [c for c in range(j * stride[1] - padding[1],
                                 j * stride[1] - padding[1] + kernel[1] * dilation[1],
                                 dilation[1]) if 0 <= c < w]
        win = np.sort(x[:, :, rows][:, :, :, cols].reshape(x.shape[0], x.shape[1], -1), axis=-1)
        if win.shape[-1] > 1:
            gap = min(gap, float(np.min(win[..., -1] - win[..., -2])))
    return gap


_POOL = {"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0)}
_POOL_PAD = {"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1)}
_ENTRIES += [
    OpInfo(Op.CONVOLUTION, 2, (REAL, REAL),
           (_conv((1, 1, 4, 4), (1, 1, 2, 2)),
            _conv((1, 2, 4, 3), (2, 1, 2, 2), stride=(2, 1), padding=((1, 1), (0, 1)),
                  groups=2),
            _conv((2, 2, 5), (1, 2, 2), stride=(2,), padding=((1, 1),), dilation=(2,)))),
    OpInfo(Op.MAX_POOL2D, 1, (REAL,),
           (Sample(((1, 2, 4, 4),), {**_POOL, "dilation": (1, 1), "ceil_mode": False}),
            Sample(((1, 1, 5, 5),), {**_POOL_PAD, "dilation": (1, 1), "ceil_mode": True}),
            Sample(((1, 1, 5, 5),), {**_POOL, "dilation": (2, 2), "ceil_mode": False})),
           kinks="ties in a window: the argmax window is fixed by the values at the point "
                 "(the gradient goes to the first maximum, as in PyTorch)",
           kink=_window_gaps, zero_ok=False, kink_grid=_grid_extreme_ties),
    OpInfo(Op.AVG_POOL2D, 1, (REAL,),
           (Sample(((1, 2, 4, 4),), {**_POOL, "ceil_mode": False, "count_include_pad": True}),
            Sample(((1, 1, 5, 5),), {**_POOL_PAD, "ceil_mode": True,
                                     "count_include_pad": False}),
            Sample(((1, 1, 5, 4),), {**_POOL_PAD, "ceil_mode": False,
                                     "count_include_pad": True}))),
    OpInfo(Op.ADAPTIVE_AVG_POOL2D, 1, (REAL,),
           (Sample(((1, 2, 5, 4),), {"output_size": (3, 2)}),
            Sample(((1, 1, 3, 3),), {"output_size": (2, 2)}))),
    OpInfo(Op.INTERPOLATE, 1, (REAL,),
           (Sample(((1, 1, 3, 3),), {"size": (5, 4), "mode": "bilinear",
                                     "align_corners": False, "scales": (None, None)}),
            Sample(((1, 2, 2, 3),), {"size": (4, 6), "mode": "nearest",
                                     "align_corners": False, "scales": (2.0, 2.0)}),
            Sample(((1, 1, 3, 2),), {"size": (4, 5), "mode": "bilinear",
                                     "align_corners": True, "scales": (None, None)}))),
    # the variance of a few REAL samples stays away from 0; every output depends on its
    # whole group, so exact Hessians grow fast with the group size: groups of 3-4
    OpInfo(Op.STANDARDIZE, 1, (REAL,),
           (Sample(((2, 3),), {"axis": (1,), "eps": 1e-5}),
            Sample(((3, 2, 1),), {"axis": (0, 2), "eps": 1e-5}),
            Sample(((2, 1, 3),), {"axis": (1, 2), "eps": 0.25})),
           zero_ok=False),
]

# --- issue 11: math
UNIT = Domain("|x| < 1", -0.9, 0.9, lambda x: np.abs(x) < 0.999)
ABOVE_ONE = Domain("x > 1", 1.2, 3.0, lambda x: x > 1.001)


def _kink_origin(x, y, **attrs):
    """hypot: distance to (0, 0), where its gradient is 0/0."""
    return _min_abs(np.hypot(*np.broadcast_arrays(np.asarray(x, np.float64),
                                                  np.asarray(y, np.float64))))


def _kink_multiples(nonzero_only):
    """Distance from x to the nearest jump at x = k*y (k != 0 for fmod)."""
    def kink(x, y, **attrs):
        x, y = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(y, np.float64))
        with np.errstate(all="ignore"):
            k = np.round(x / y)
        if nonzero_only:
            k = np.where(k == 0, np.where(x * y < 0, -1.0, 1.0), k)
        return _min_abs(x - k * y)
    return kink


def _kink_copysign(x, y, **attrs):
    return min(_min_abs(x), _min_abs(y))


def _grid_multiples(attrs):
    return (-2.0, -1.0, 0.5, 1.0, 2.0)


_TERN = (Sample(((3, 4), (3, 4), (3, 4))), Sample(((3, 1), (1, 4), ())),
         Sample(((4,), (2, 3, 4), (3, 1))))
_JUMPS = "x = k*y, integer k (the value jumps; gradients as PyTorch: see docs/conventions.md)"
_ENTRIES += [
    _un(Op.RSQRT, POSITIVE), _un(Op.RECIPROCAL, NONZERO), _un(Op.SQUARE),
    _un(Op.ASIN, UNIT), _un(Op.ACOS, UNIT), _un(Op.ATAN), _un(Op.SINH, overflow_safe=""),
    _un(Op.COSH, overflow_safe=""), _un(Op.ASINH), _un(Op.ACOSH, ABOVE_ONE),
    _un(Op.ATANH, UNIT), _un(Op.LOG2, POSITIVE), _un(Op.LOG10, POSITIVE), _un(Op.EXP2),
    # scipy's erfc (as PyTorch's) rounds x*x inside exp(-x*x): ~2x^2 ulps in the far tail,
    # up to ~260 ulps at x ~ 22 (extreme points only)
    _un(Op.ERFC, extremes_tol=512.0), _un(Op.ERFINV, UNIT),
    _un(Op.SIGN, kinks="x = 0 (the value jumps; gradient 0 everywhere, as PyTorch)",
        kink=_kink_at_zero, zero_ok=False, kink_grid=_grid_zero, zero_grad=True),
    _bin(Op.HYPOT, kinks="x = y = 0 (gradient 0/0 = nan there, as PyTorch)",
         kink=_kink_origin),
    # other > 0: xlogy's convention at x == 0, y <= 0 is tested against torch in tests/ops
    _bin(Op.XLOGY, REAL, POSITIVE, overflow_safe="+"),
    _bin(Op.FMOD, REAL, NONZERO, kinks=_JUMPS + " (k != 0)", kink=_kink_multiples(True),
         zero_ok=False, kink_grid=_grid_multiples),
    _bin(Op.REMAINDER, REAL, NONZERO, kinks=_JUMPS, kink=_kink_multiples(False),
         zero_ok=False, kink_grid=_grid_multiples),
    _bin(Op.FLOOR_DIVIDE, REAL, NONZERO, kinks=_JUMPS + "; gradient 0 everywhere",
         kink=_kink_multiples(False), zero_ok=False, kink_grid=_grid_multiples, zero_grad=True),
    _bin(Op.COPYSIGN, kinks="x = 0 (gradient 0 there) and y = 0 (the value jumps)",
         kink=_kink_copysign, zero_ok=False, kink_grid=_grid_zero,
         # d/d other is 0 (as PyTorch): scaling, negating or dropping it changes nothing
         xfails={"mutants[1]": "zero gradient to `other`: every perturbation of 0 is 0"}),
    _bin(Op.LOGADDEXP),
    OpInfo(Op.LERP, 3, (REAL, REAL, REAL), _TERN),
    _bin(Op.CLAMP_MIN, kinks="ties x == min (the gradient goes to input)", kink=_kink_ties,
         zero_ok=False, kink_grid=_grid_ties),
    _bin(Op.CLAMP_MAX, kinks="ties x == max (the gradient goes to input)", kink=_kink_ties,
         zero_ok=False, kink_grid=_grid_ties),
]

# --- issue 11: linalg
def _diag_dominant(rng: np.random.Generator, shape: tuple, signed: bool) -> np.ndarray:
    """Matrices (*, n, n): entries in (-1, 1) plus n (or -n, ``signed``) on the diagonal.

    Strictly diagonally dominant, so invertible with a condition number below ~4n.
    """
    n = shape[-1]
    a = rng.uniform(-1.0, 1.0, size=shape)
    scale = np.where(rng.random(shape[:-1]) < 0.5, -1.0, 1.0) if signed else np.ones(shape[:-1])
    return a + np.eye(n) * (n * scale)[..., None]


def _spd(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Symmetric positive-definite matrices: a symmetric (-1, 1) matrix plus n * I
    (diagonally dominant with a positive diagonal, so |A| is SPD too)."""
    a = rng.uniform(-1.0, 1.0, size=shape)
    return (a + np.swapaxes(a, -1, -2)) / 2 + np.eye(shape[-1]) * shape[-1]


def _well_conditioned(x: np.ndarray) -> Any:
    x = np.asarray(x, np.float64)
    if x.ndim < 2 or x.shape[-1] != x.shape[-2] or not np.all(np.isfinite(x)):
        return False
    return np.linalg.cond(x) < 1e6


def _positive_definite(x: np.ndarray) -> Any:
    x = np.asarray(x, np.float64)
    if not np.all(_well_conditioned(x)) or not np.allclose(x, np.swapaxes(x, -1, -2)):
        return False
    return np.linalg.eigvalsh(x)[..., 0] > 0


@dataclass(frozen=True)
class MatrixDomain(Domain):
    """Batches of square matrices ``(*, n, n)`` drawn whole (not element by element).

    ``build(rng, shape)`` draws matrices in the domain (well-conditioned, or SPD);
    :meth:`extreme` scales them to large (5-60) or tiny (1e-6..1e-3) magnitudes,
    which is where the extremes pass looks, keeping them in the domain.

    >>> m = INVERTIBLE.sample(np.random.default_rng(0), (2, 3, 3))
    >>> m.shape, bool(np.all(INVERTIBLE.contains(m)))
    ((2, 3, 3), True)
    """

    build: Callable[[np.random.Generator, tuple], np.ndarray] = None

    def sample(self, rng: np.random.Generator, shape: tuple, dtype: Any = np.float64) -> np.ndarray:
        """Draw matrices of ``shape`` inside the domain."""
        return np.asarray(self.build(rng, tuple(shape)), dtype=dtype)

    def extreme(self, rng: np.random.Generator, shape: tuple) -> np.ndarray:
        """Matrices of the domain scaled to a large or a tiny magnitude."""
        scale = rng.uniform(5.0, 60.0) if rng.random() < 0.6 else 10.0 ** rng.uniform(-6, -3)
        return self.sample(rng, shape) * scale


INVERTIBLE = MatrixDomain("invertible matrix (diagonally dominant)", -3.0, 3.0,
                          _well_conditioned, build=lambda rng, s: _diag_dominant(rng, s, True))
SPD = MatrixDomain("symmetric positive-definite matrix", -3.0, 3.0, _positive_definite,
                   build=_spd)


def _kink_norm(x, ord=2.0, axis=None, keepdims=False, **attrs):
    """Distance to vector_norm's kinks: a zero element (a zero vector for ord 2), a tie
    among the largest (inf) or smallest (-inf) absolute values."""
    x = np.abs(np.asarray(x, np.float64))
    if ord == 2:
        return _min_abs(np.sqrt(np.sum(x * x, axis=axis)))
    if ord == math.inf:
        return _kink_reduce_ties(x, axis)
    if ord == -math.inf:
        return _kink_reduce_ties(-x, axis)
    return _min_abs(x)


def _grid_norm(attrs):
    # slices of the inf samples hold two elements: two-way ties (split 1/2, as SymPy's
    # Heaviside(0)) and zeros
    return (0.0,) if attrs["ord"] == 2 else (-1.0, 0.0, 0.25, 1.0)


_SQUARE = (Sample(((2, 2),)), Sample(((3, 3),)), Sample(((2, 2, 2),)))
# inv and solve: the exact second derivatives of a 3x3 adjugate over its determinant
# cost ~8 s per sample in the paths pass; 3x3 is covered by tests/ops/test_linalg.py
# and the sizes pass (6x6 against finite differences)
_SQUARE_2 = (Sample(((2, 2),)), Sample(((2, 2, 2),)))
_ENTRIES += [
    OpInfo(Op.DET, 1, (INVERTIBLE,), _SQUARE),
    OpInfo(Op.LOGABSDET, 1, (INVERTIBLE,), _SQUARE),
    OpInfo(Op.INV, 1, (INVERTIBLE,), _SQUARE_2),
    OpInfo(Op.SOLVE, 2, (INVERTIBLE, REAL),
           (Sample(((2, 2), (2, 3))), Sample(((2, 2, 2), (2, 1))),
            Sample(((2, 2), (2, 2, 1))))),
    OpInfo(Op.CHOLESKY, 1, (SPD,), _SQUARE),
    OpInfo(Op.VECTOR_NORM, 1, (REAL,),
           (Sample(((3, 4),), {"ord": 2.0, "axis": None, "keepdims": False}),
            Sample(((3, 4),), {"ord": 1.0, "axis": (1,), "keepdims": False}),
            Sample(((3, 2),), {"ord": math.inf, "axis": (1,), "keepdims": True}),
            Sample(((2,),), {"ord": -math.inf, "axis": None, "keepdims": False}),
            Sample(((2, 3),), {"ord": 3.0, "axis": (0,), "keepdims": False}),
            Sample(((3,),), {"ord": 0.0, "axis": None, "keepdims": False})),
           kinks="a zero element (ord 1, 0, p; ord 2: the zero vector, gradient 0 there as "
                 "PyTorch); ties of the largest |x| (inf) or smallest (-inf): split evenly",
           kink=_kink_norm, zero_ok=False, kink_grid=_grid_norm),
    OpInfo(Op.TRACE, 1, (REAL,), (Sample(((3, 3),)), Sample(((2, 4),)))),
    OpInfo(Op.TRIL, 1, (REAL,), (Sample(((3, 3),), {"diagonal": 0}),
                                 Sample(((2, 3, 4),), {"diagonal": -1}),
                                 Sample(((3, 2),), {"diagonal": 1}))),
    OpInfo(Op.TRIU, 1, (REAL,), (Sample(((3, 3),), {"diagonal": 0}),
                                 Sample(((2, 3, 4),), {"diagonal": 1}),
                                 Sample(((3, 2),), {"diagonal": -1}))),
]


# --- issue 11: reductions
def _kink_std(x, axis=None, correction=1, keepdims=False, **attrs):
    """Distance to a constant slice (std 0, where the gradient is taken as 0)."""
    x = np.asarray(x, np.float64)
    return float(np.min(np.std(x, axis=axis), initial=math.inf)) if x.size > 1 else math.inf


def _kink_norm(x, p=2.0, axis=None, keepdims=False, **attrs):
    """p = 2: distance to the zero vector; else to a zero entry (and ties of |x| for inf)."""
    a = np.abs(np.asarray(x, np.float64))
    if p == 2:
        return float(np.min(np.sqrt(np.sum(a * a, axis=axis)), initial=math.inf))
    d = _min_abs(a)
    if p in (math.inf, -math.inf):
        d = min(d, _kink_reduce_ties(a, axis))
    return d


def _kink_slice_ties(x, axis=None, **attrs):
    """Smallest gap between two entries of one slice along ``axis`` (all if None)."""
    x = np.asarray(x, np.float64)
    if x.ndim == 0:
        return math.inf
    if isinstance(axis, tuple):
        axis = axis[0] if axis else None
    flat = np.moveaxis(x, axis, -1) if axis is not None else x.reshape(-1)
    if flat.shape[-1] < 2:
        return math.inf
    return float(np.min(np.diff(np.sort(flat, axis=-1), axis=-1)))


_RED1 = (Sample(((3, 4),), {"axis": None, "keepdims": False}),
         Sample(((3, 4),), {"axis": (1,), "keepdims": False}),
         Sample(((2, 3, 2),), {"axis": (0,), "keepdims": True}))
_MOMENT = (Sample(((3, 4),), {"axis": None, "correction": 1, "keepdims": False}),
           Sample(((3, 4),), {"axis": (1,), "correction": 0, "keepdims": False}),
           Sample(((2, 3, 2),), {"axis": (0, 2), "correction": 2, "keepdims": True}))
_SCAN = (Sample(((3, 4),), {"axis": 1}), Sample(((2, 3, 2),), {"axis": 0}),
         Sample(((),), {"axis": 0}))
_TIES = "ties: the permutation is fixed by the values at the point"
_ENTRIES += [
    OpInfo(Op.PROD, 1, (REAL,), _RED1),
    OpInfo(Op.VAR, 1, (REAL,), _MOMENT),
    OpInfo(Op.STD, 1, (REAL,), _MOMENT, kink=_kink_std, zero_ok=False,
           kinks="a constant slice, std = 0 (gradient taken as 0 there, as in PyTorch)"),
    OpInfo(Op.NORM, 1, (REAL,),
           (Sample(((3, 4),), {"p": 2.0, "axis": None, "keepdims": False}),
            Sample(((3, 4),), {"p": 1.0, "axis": (1,), "keepdims": True}),
            Sample(((3, 4),), {"p": math.inf, "axis": (0,), "keepdims": False}),
            Sample(((2, 3),), {"p": 3.0, "axis": (1,), "keepdims": False}),
            Sample(((2, 3),), {"p": -math.inf, "axis": None, "keepdims": False})),
           # no kink_grid: SymPy's Max/Min of |x| do not split 3-way ties evenly as
           # PyTorch does; tests/ops/test_reductions.py checks the kinks against torch
           kink=_kink_norm, zero_ok=False,
           kinks="p = 2: the zero vector (gradient 0, as PyTorch); other p: zero entries; "
                 "inf/-inf: ties of |x| (gradient split evenly)"),
    OpInfo(Op.CUMSUM, 1, (REAL,), _SCAN),
    OpInfo(Op.CUMPROD, 1, (REAL,), _SCAN),
    OpInfo(Op.LOGCUMSUMEXP, 1, (REAL,), _SCAN),
    OpInfo(Op.SORT, 1, (REAL,),
           (Sample(((3, 4),), {"axis": 1, "descending": False, "stable": False}),
            Sample(((3, 2),), {"axis": 0, "descending": True, "stable": True})),
           kinks=_TIES, kink=_kink_slice_ties, zero_ok=False),
    OpInfo(Op.TOPK, 1, (REAL,),
           (Sample(((3, 4),), {"axis": 1, "k": 2, "largest": True, "sorted": True}),
            Sample(((4, 2),), {"axis": 0, "k": 3, "largest": False, "sorted": True})),
           kinks=_TIES, kink=_kink_slice_ties, zero_ok=False),
    OpInfo(Op.KTHVALUE, 1, (REAL,),
           (Sample(((3, 4),), {"axis": (1,), "k": 2, "keepdims": False}),
            Sample(((3, 2),), {"axis": (0,), "k": 3, "keepdims": True})),
           kinks=_TIES, kink=_kink_slice_ties, zero_ok=False),
    OpInfo(Op.MEDIAN, 1, (REAL,),
           (Sample(((3, 4),), {"axis": None, "keepdims": False}),
            Sample(((3, 4),), {"axis": (1,), "keepdims": False})),
           kinks=_TIES, kink=_kink_slice_ties, zero_ok=False),
    OpInfo(Op.CUMMAX, 1, (REAL,), _SCAN[:2], kinks=_TIES, kink=_kink_slice_ties,
           zero_ok=False),
    OpInfo(Op.CUMMIN, 1, (REAL,), _SCAN[:2], kinks=_TIES, kink=_kink_slice_ties,
           zero_ok=False),
]

# --- issue 11: losses
#: class indices of 3 classes (the samples have C >= 3): an integer input without gradient
CLASS3 = Domain("class index in [0, 3)", 0, 2, lambda x: (x >= 0) & (x < 3) & (np.floor(x) == x),
                integer=True)
PROBABILITY = Domain("probability in (0, 1)", 0.05, 0.95, lambda x: (x > 0) & (x < 1))
UNIT = Domain("in [0, 1]", 0.0, 1.0, lambda x: (x >= 0) & (x <= 1))


def _kink_abs_at(width: str) -> KinkDistance:
    """Distance of ``|x - t|`` from ``attrs[width]`` (the switch of smooth_l1/huber)."""
    def kink(x, t, **attrs):
        d = np.abs(np.subtract(x, t, dtype=np.float64))
        return _min_abs(d - attrs.get(width, 1.0))
    return kink


def _kink_norms(x1, x2, dim=1, eps=1e-8, **attrs):
    """cosine_similarity: the norms must stay above ``eps`` (below it PyTorch's gradient
    is not the derivative of its clamped value)."""
    a, b = np.broadcast_arrays(np.asarray(x1, np.float64), np.asarray(x2, np.float64))
    return min(float(np.min(np.sqrt(np.sum(v * v, axis=dim)))) for v in (a, b)) - eps


def _grid_beta(attrs):
    w = attrs.get("beta", attrs.get("delta", 1.0))
    return (-w, 0.0, w, 0.0, 2 * w)


_LOSS2 = (Sample(((3, 4), (3, 4)), {"reduction": "mean"}),
          Sample(((), (3, 4)), {"reduction": "sum"}),
          Sample(((3, 1), (1, 4)), {"reduction": "none"}))


def _loss2(op, d0=REAL, d1=REAL, extra=None, **kw) -> OpInfo:
    samples = tuple(Sample(s.shapes, dict(s.attrs, **(extra or {}))) for s in _LOSS2)
    return OpInfo(op, 2, (d0, d1), samples, **kw)


_CLASS = (Sample(((3, 4), (3,), (4,)), {"ignore_index": -100, "reduction": "mean"}),
          Sample(((2, 3, 2), (2, 2), (3,)), {"ignore_index": 1, "reduction": "sum"}),
          Sample(((4,), (), (4,)), {"ignore_index": -100, "reduction": "none"}))

_ENTRIES += [
    _loss2(Op.MSE_LOSS),
    _loss2(Op.L1_LOSS, kinks="input == target (gradient sign(0) = 0 there, as in PyTorch)",
           kink=_kink_ties, zero_ok=False, kink_grid=_grid_ties),
    _loss2(Op.SMOOTH_L1_LOSS, extra={"beta": 0.5},
           kinks="|input - target| = beta (C^1: gradient +-1 from both sides; second "
                 "derivative 1/beta strictly inside, 0 at the switch, as PyTorch)",
           kink=_kink_abs_at("beta"), kink_grid=_grid_beta),
    _loss2(Op.HUBER_LOSS, extra={"delta": 0.75},
           kinks="|input - target| = delta (C^1: gradient +-delta from both sides; second "
                 "derivative 1 strictly inside, 0 at the switch, as PyTorch)",
           kink=_kink_abs_at("delta"), kink_grid=_grid_beta),
    OpInfo(Op.KL_DIV, 2, (REAL, POSITIVE),
           _LOSS2[:2] + (Sample(((3, 4), (3, 4)), {"reduction": "batchmean"}),
                         Sample(((3, 1), (1, 4)), {"reduction": "none", "log_target": True}))),
    OpInfo(Op.BINARY_CROSS_ENTROPY, 3, (PROBABILITY, UNIT, POSITIVE),
           (Sample(((3, 4), (3, 4), ()), {"reduction": "mean"}),
            Sample(((2, 3), (2, 3), (3,)), {"reduction": "none"})),
           differentiable=(0, 1), overflow_safe=""),
    OpInfo(Op.BINARY_CROSS_ENTROPY_WITH_LOGITS, 4, (REAL, UNIT, POSITIVE, POSITIVE),
           (Sample(((3, 4), (3, 4), (), ()), {"reduction": "mean"}),
            Sample(((2, 3), (2, 3), (3,), (3,)), {"reduction": "none"})),
           differentiable=(0, 1)),
    OpInfo(Op.NLL_LOSS, 3, (REAL, CLASS3, POSITIVE), _CLASS, differentiable=(0,)),
    OpInfo(Op.CROSS_ENTROPY, 3, (REAL, CLASS3, POSITIVE),
           _CLASS[:2] + (Sample(((4,), (), (4,)), {"ignore_index": -100, "reduction": "none",
                                                    "label_smoothing": 0.25}),
                         Sample(((3, 4), (3,), (4,)), {"ignore_index": 2, "reduction": "mean",
                                                       "label_smoothing": 0.125})),
           # at logits ~700, softmax carries the rounding of x - logsumexp(x) (|x| eps,
           # relative) into p, and the target's p - 1 cancels it to an absolute error the
           # rounding model of the backward pass does not see (PyTorch's kernel too)
           differentiable=(0,), extremes_tol=4.0),
    OpInfo(Op.CROSS_ENTROPY_PROBS, 3, (REAL, POSITIVE, POSITIVE),
           (Sample(((3, 4), (3, 4), (4,)), {"reduction": "mean"}),
            Sample(((2, 3, 2), (2, 3, 2), (3,)), {"reduction": "none", "label_smoothing": 0.25})),
           differentiable=(0, 1), extremes_tol=4.0),     # as cross_entropy
    # broadcasting only off ``dim``: an input broadcast along ``dim`` has gradient 0
    # (scale invariance), which finite differences cannot resolve relative to 0
    OpInfo(Op.COSINE_SIMILARITY, 2, (REAL, REAL),
           (Sample(((2, 3), (2, 3)), {"dim": 1, "eps": 1e-8}),
            Sample(((3,), (2, 3)), {"dim": 1, "eps": 1e-8}),
            Sample(((2, 1, 3), (2, 3)), {"dim": 2, "eps": 1e-8})),
           kinks="a norm below eps (clamped there, as PyTorch)", kink=_kink_norms,
           zero_ok=False),
]

# --- issue 11: activations
#: wider than REAL so samples reach hardsigmoid's and hardswish's kinks at -3 and 3
_WIDE = Domain("real", -4.5, 4.5, REAL.contains)


def _with(attrs_list, shapes=((3, 4), (), (2, 1, 3))):
    """Samples of a unary op: each attrs dict on the next shape (cycling)."""
    return tuple(Sample((shapes[k % len(shapes)],), a) for k, a in enumerate(attrs_list))


def _act(op, domain=REAL, samples=_UN, **kw) -> OpInfo:
    return OpInfo(op, 1, (domain,), samples, **kw)


def _kink_bounds(x, min_val=-1.0, max_val=1.0, **attrs):
    return _min_abs(np.concatenate([np.ravel(np.asarray(x, np.float64) - b)
                                    for b in (min_val, max_val)]))


def _grid_bounds(attrs):
    return (attrs.get("min_val", -1.0), attrs.get("max_val", 1.0)) * 2 + (-1.5, 0.25, 1.5)


def _kink_three(x, **attrs):
    x = np.asarray(x, np.float64)
    return min(_min_abs(x - 3), _min_abs(x + 3))


def _grid_three(attrs):
    return (-3.0, 3.0, -3.0, 3.0, -4.0, 0.5, 4.0)


def _kink_softplus(x, beta=1.0, threshold=math.inf, **attrs):
    return _min_abs(np.asarray(x, np.float64) * beta - threshold) / abs(beta)


def _grid_softplus(attrs):
    at = attrs.get("threshold", math.inf) / attrs.get("beta", 1.0)
    return (at, at, -1.0, 0.25, 1.0) if math.isfinite(at) else (-1.0, 0.25, 1.0)


def _kink_normalize(x, p=2.0, axis=1, eps=1e-12, **attrs):
    """Distance to ``norm == eps`` (the clamp), to 0 (p = 1) and to ties (p = inf)."""
    a = np.abs(np.asarray(x, np.float64))
    if p == math.inf:
        norm = np.max(a, axis=axis, keepdims=True)
        d = _kink_reduce_ties(a, axis=(axis,))
    else:
        norm = np.sum(a ** p, axis=axis, keepdims=True) ** (1 / p)
        d = _min_abs(a) if p == 1 else math.inf
    return min(d, _min_abs(norm - eps))


_ZERO = dict(kinks="x = 0 (slope as in PyTorch; docs/conventions.md)", kink=_kink_at_zero,
             zero_ok=False, kink_grid=_grid_zero)
_THREE = dict(kinks="x = -3 and x = 3 (PyTorch's gradient there; docs/conventions.md)",
              kink=_kink_three, zero_ok=True, kink_grid=_grid_three)
_ENTRIES += [
    _act(Op.SOFTPLUS, samples=_with([{"beta": 1.0, "threshold": 20.0},
                                     {"beta": 2.0, "threshold": 1.0},
                                     {"beta": 0.5, "threshold": 0.75}, {}]),
        kinks="beta * x = threshold (x itself above it, as in PyTorch)", kink=_kink_softplus,
        kink_grid=_grid_softplus),
    _act(Op.LEAKY_RELU, samples=_with([{}, {"negative_slope": 0.25}]), **_ZERO),
    _act(Op.ELU, samples=_with([{}, {"alpha": 0.5}]), **_ZERO),
    _act(Op.SELU, **_ZERO),
    _act(Op.CELU, samples=_with([{}, {"alpha": 2.0}, {"alpha": 0.5}]), **_ZERO),
    _act(Op.SILU), _act(Op.MISH), _act(Op.LOGSIGMOID), _act(Op.SOFTSIGN),
    # x * Phi(x) far left (x ~ -60) has relative condition ~x**2 ~ 3600: rounding x/sqrt(2)
    # moves erfc's value by that many ulps (the value itself ~1e-240 is right)
    _act(Op.GELU, samples=_with([{}, {"approximate": "tanh"}, {"approximate": "tanh"}]),
         extremes_tol=4096.0),
    _act(Op.HARDTANH, samples=_with([{}, {"min_val": -0.5, "max_val": 0.75},
                                    {"min_val": 0.0, "max_val": 6.0}]),
        kinks="x = min_val and x = max_val (gradient 0 there, as in PyTorch)",
        kink=_kink_bounds, kink_grid=_grid_bounds),
    _act(Op.HARDSIGMOID, _WIDE, **_THREE),
    _act(Op.HARDSWISH, _WIDE, **_THREE),
    OpInfo(Op.SOFTMIN, 1, (REAL,), _NORM),
    OpInfo(Op.NORMALIZE, 1, (REAL,),
           (Sample(((3, 4),), {"p": 2.0, "axis": 1, "eps": 1e-12}),
            Sample(((3, 4),), {"p": 1.0, "axis": 0, "eps": 1e-12}),
            Sample(((5,),), {"p": math.inf, "axis": 0, "eps": 1e-12}),
            Sample(((2, 3),), {"p": 3.0, "axis": 1, "eps": 1e-12}),
            Sample(((3,),), {"p": 2.0, "axis": 0, "eps": 4.0})),
           kinks="norm = eps (clamp_min passes the norm's gradient at equality); x = 0 for "
                 "p = 1 (sign(0) = 0); ties of |x| for p = inf (split evenly)",
           kink=_kink_normalize, zero_ok=False),
]

#: Functions of the vocabulary built from other ops rather than being ops themselves
#: (PyTorch's aliases and views: ``swapaxes`` is a permute, ``split`` a list of getitems):
#: ``sg`` name -> the ops it is made of.  Their pieces are checked through those ops'
#: entries; tests/ops checks each composition's values and gradients.
COMPOSED: dict[str, str] = {}
# --- issue 11: nnops
COMPOSED |= {
    "dropout": "mul by a constant mask (Bernoulli(1 - p) / (1 - p), from sg.manual_seed's "
               "generator)",
    "embedding": "getitem weight[input]; padding_idx rows: where with a constant (no gradient)",
    "scaled_dot_product_attention": "matmul, permute, mul by scale, where/add for the mask, "
                                    "softmax, dropout, matmul",
}

# --- issue 11: linalg
COMPOSED |= {
    "diagonal": "permute, getitem (an index of the diagonal)",
    "linalg.diagonal": "diagonal",
    "diag_embed": "scatter_add (the adjoint of diagonal's index), permute",
    "diag": "diag_embed (1-D input) or diagonal (2-D input)",
    "dot": "matmul of two 1-D tensors",
    "vdot": "dot (real tensors)",
    "outer": "reshape, mul (broadcast)",
    "ger": "outer",
    "kron": "reshape, mul (broadcast), reshape",
    "einsum": "diagonal (repeated subscripts), permute, reshape, mul, sum, broadcast_to",
    "logdet": "logabsdet, where (nan where the sign, read from the values, is negative)",
    "slogdet": "logabsdet (sign: read from the values, no gradient)",
    "linalg.matrix_norm": "vector_norm ('fro'); abs, sum, max/min (1, -1, inf, -inf)",
    "linalg.norm": "vector_norm or linalg.matrix_norm",
    "linalg.vecdot": "mul, sum",
}

# --- issue 11: reductions
COMPOSED |= {
    "var_mean": "(var, mean) over the same dims",
    "std_mean": "(std, mean) over the same dims",
    "argsort": "the indices of sort (int64, no gradient)",
}

#: Functions with int64 results and no gradient that are not ops of the graph (as
#: ``argmax``): their result's shape depends on the values (``nonzero``) or they take
#: no tensor (``triu_indices``), so no shape rule or exact form describes them.
#: ``sg`` name -> what it computes; tests/ops/test_shape.py checks values against
#: numpy and PyTorch.
VALUE_FUNCTIONS: dict[str, str] = {
    "nonzero": "the indices of the nonzero elements, (n, ndim) or a tuple (numpy.nonzero)",
    "where": "with one argument: nonzero(condition, as_tuple=True)",
    "one_hot": "int64 (..., num_classes) with a 1 at each class (index out of range: error)",
    "triu_indices": "the (2, n) indices of the upper triangle (numpy.triu_indices)",
    "tril_indices": "the (2, n) indices of the lower triangle (numpy.tril_indices)",
}

# --- issue 11: shape
_i = np.array
_ENTRIES += [
    OpInfo(Op.FLIP, 1, (REAL,),
           (Sample(((2, 3),), {"dims": (0,)}), Sample(((2, 3, 2),), {"dims": (0, 2)}))),
    OpInfo(Op.ROLL, 1, (REAL,),
           (Sample(((5,),), {"shifts": (2,), "dims": None}),
            Sample(((2, 3),), {"shifts": (1, -1), "dims": (0, 1)}),
            Sample(((2, 3),), {"shifts": (4,), "dims": None}))),
    OpInfo(Op.PAD, 1, (REAL,),
           (Sample(((2, 3),), {"pad": (1, 2), "mode": "constant", "value": 0.5}),
            Sample(((2, 3),), {"pad": (-1, 1, 1, 0), "mode": "constant", "value": 0.0}),
            Sample(((2, 3),), {"pad": (2, 1), "mode": "reflect", "value": 0.0}),
            Sample(((1, 2, 3),), {"pad": (1, 1, 0, 2), "mode": "replicate", "value": 0.0}))),
    OpInfo(Op.REPEAT_INTERLEAVE, 1, (REAL,),
           (Sample(((2, 3),), {"repeats": (2,), "dim": 0}),
            Sample(((2, 3),), {"repeats": (1, 0, 2), "dim": 1}),
            Sample(((2, 2),), {"repeats": (2,), "dim": None}))),
    OpInfo(Op.UNFOLD, 1, (REAL,),
           (Sample(((2, 5),), {"dimension": 1, "size": 2, "step": 2}),
            Sample(((4,),), {"dimension": 0, "size": 3, "step": 1}))),
    OpInfo(Op.GATHER, 1, (REAL,),
           (Sample(((3, 4),), {"dim": 1, "index": _i([[0, 3, 3], [1, 0, 2]])}),
            Sample(((3,),), {"dim": 0, "index": _i([2, 2, 0, 1])}))),
    # scatter writes each position once here (PyTorch leaves the winner of repeated
    # indices unspecified); scatter_add's repeated indices add up
    OpInfo(Op.SCATTER, 2, (REAL, REAL),
           (Sample(((3, 4), (2, 2)), {"dim": 0, "index": _i([[0, 2], [1, 0]])}),
            Sample(((2, 3), (2, 3)), {"dim": 1, "index": _i([[2], [0]])}))),
    OpInfo(Op.SCATTER_ADD_DIM, 2, (REAL, REAL),
           (Sample(((3, 4), (2, 4)), {"dim": 0, "index": _i([[0, 0, 2, 1], [0, 1, 2, 1]])}),
            Sample(((2, 3), (2, 2)), {"dim": 1, "index": _i([[2, 2], [0, 1]])}))),
    OpInfo(Op.MASKED_FILL, 3, (REAL, BOOL, REAL),
           (Sample(((3, 4), (3, 4), ())), Sample(((3, 1), (1, 4), ()))),
           differentiable=(0, 2)),
]
COMPOSED.update({
    "index_select": "getitem (an int array along dim)",
    "take": "reshape to 1-D, getitem",
    "masked_select": "broadcast_to, getitem by the bool mask (read from its values)",
    "split": "getitem (slices)", "chunk": "getitem (slices)", "narrow": "getitem (a slice)",
    "unbind": "getitem (an int per slice)",
    "unflatten": "reshape",
    "movedim": "permute", "moveaxis": "permute", "swapaxes": "permute", "swapdims": "permute",
    "tile": "reshape, broadcast_to, reshape", "repeat": "reshape, broadcast_to, reshape",
    "meshgrid": "reshape, broadcast_to",
})
# --- issue 11: activations
COMPOSED |= {"relu6": "hardtanh(input, min_val=0.0, max_val=6.0) (sg.nn.functional.relu6)"}

#: the op database, keyed by ``Op``; a test asserts it covers every member
OP_DB: dict[Op, OpInfo] = {info.op: info for info in _ENTRIES}

for _info in _ENTRIES:  # internal invariant: the table agrees with numeric's arity table
    assert _info.arity == ARITY[_info.op], _info.op
