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
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from numeric.ops import ARITY, Op

__all__ = ["Domain", "Sample", "OpInfo", "OP_DB", "COMPOSED", "REAL", "POSITIVE", "ABOVE_MINUS_ONE",
           "NONZERO", "TAN_DOMAIN", "BOOL", "BASE", "SMALL"]


@dataclass(frozen=True)
class Domain:
    """Where one input of an op is defined, and how to draw points there.

    ``low``/``high`` bound the sampling interval; ``gap`` excludes ``|x| < gap``
    (denominators); ``contains`` tests actual values (used for intermediate nodes
    of random expressions, whose values the sampler does not control).

    >>> POSITIVE.contains(np.array([0.5, -1.0])).tolist()
    [True, False]
    """

    name: str
    low: float
    high: float
    contains: Callable[[np.ndarray], np.ndarray]
    gap: float = 0.0
    boolean: bool = False

    def sample(self, rng: np.random.Generator, shape: tuple, dtype: Any = np.float64) -> np.ndarray:
        """Draw an array of ``shape`` inside the domain.

        >>> REAL.sample(np.random.default_rng(0), (2,)).shape
        (2,)
        """
        if self.boolean:
            return rng.random(shape) < 0.5
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
            if d.boolean:
                continue
            arr = np.asarray(v, dtype=np.float64)
            if not np.all(np.isfinite(arr)) or not np.all(d.contains(arr)):
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
# --- issue 11: activations
COMPOSED |= {"relu6": "hardtanh(input, min_val=0.0, max_val=6.0) (sg.nn.functional.relu6)"}

#: the op database, keyed by ``Op``; a test asserts it covers every member
OP_DB: dict[Op, OpInfo] = {info.op: info for info in _ENTRIES}

for _info in _ENTRIES:  # internal invariant: the table agrees with numeric's arity table
    assert _info.arity == ARITY[_info.op], _info.op
