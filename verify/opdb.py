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

__all__ = ["Domain", "Sample", "OpInfo", "OP_DB", "COMPOSED", "REAL", "POSITIVE", "ABOVE_MINUS_ONE",
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
    _un(Op.TAN, TAN_DOMAIN), _un(Op.TANH), _un(Op.SIGMOID), _un(Op.SOFTPLUS), _un(Op.ERF),
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
           differentiable=(0,)),
    OpInfo(Op.CROSS_ENTROPY_PROBS, 3, (REAL, POSITIVE, POSITIVE),
           (Sample(((3, 4), (3, 4), (4,)), {"reduction": "mean"}),
            Sample(((2, 3, 2), (2, 3, 2), (3,)), {"reduction": "none", "label_smoothing": 0.25})),
           differentiable=(0, 1)),
    # broadcasting only off ``dim``: an input broadcast along ``dim`` has gradient 0
    # (scale invariance), which finite differences cannot resolve relative to 0
    OpInfo(Op.COSINE_SIMILARITY, 2, (REAL, REAL),
           (Sample(((2, 3), (2, 3)), {"dim": 1, "eps": 1e-8}),
            Sample(((3,), (2, 3)), {"dim": 1, "eps": 1e-8}),
            Sample(((2, 1, 3), (2, 3)), {"dim": 2, "eps": 1e-8})),
           kinks="a norm below eps (clamped there, as PyTorch)", kink=_kink_norms,
           zero_ok=False),
]

#: Functions of the vocabulary built from other ops rather than being ops themselves
#: (PyTorch's aliases and views: ``swapaxes`` is a permute, ``split`` a list of getitems):
#: ``sg`` name -> the ops it is made of.  Their pieces are checked through those ops'
#: entries; tests/ops checks each composition's values and gradients.
COMPOSED: dict[str, str] = {}

#: the op database, keyed by ``Op``; a test asserts it covers every member
OP_DB: dict[Op, OpInfo] = {info.op: info for info in _ENTRIES}

for _info in _ENTRIES:  # internal invariant: the table agrees with numeric's arity table
    assert _info.arity == ARITY[_info.op], _info.op
