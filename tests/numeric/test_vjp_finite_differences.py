"""Every op's VJP against central finite differences, in the dot-product form.

For random directions u (output) and v (inputs), <u, J v> from a central
difference of t -> <u, f(x + t v)> must equal sum_i <VJP_i(u), v_i> from the
executor.  float64 tightly; float32 against the float64 results.
"""
from __future__ import annotations

import numpy as np
import pytest
from tests.numeric._graph_nodes import grads

from numeric import FORWARD, VJP, Op

rng = np.random.default_rng(20240601)


# input samplers: shape -> float64 array inside the op's domain, away from kinks
def real(shape):
    return rng.normal(size=shape)


def pos(shape):
    return rng.uniform(0.5, 2.0, size=shape)


def small(shape):
    return rng.uniform(-1.0, 1.0, size=shape)


def nonzero(shape):
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.2, 2.0, size=shape)


def off_bounds(shape):      # away from the clamp bounds -0.5 and 0.5
    return rng.choice([-1.0, 0.0, 1.0], size=shape) + rng.uniform(-0.3, 0.3, size=shape)


def boolean(shape):
    return rng.uniform(size=shape) < 0.5


def distinct(shape):        # a permutation of well-separated values: no ties
    n = int(np.prod(shape, dtype=int))
    return (rng.permutation(n) * 0.5 + rng.uniform(-0.1, 0.1, size=n)).reshape(shape)


BINARY_SHAPES = [((), ()), ((3,), (3,)), ((), (2, 3)), ((2, 3), ()), ((3, 1), (1, 4)),
                 ((2, 3), (3,)), ((4, 1, 3), (2, 1))]
UNARY_SHAPES = [(), (3,), (2, 3)]
REDUCE_CASES = [((2, 3, 4), {"axis": None, "keepdims": False}),
                ((2, 3, 4), {"axis": (0,), "keepdims": False}),
                ((2, 3, 4), {"axis": (1, 2), "keepdims": True}),
                ((2, 3, 4), {"axis": (0, 2), "keepdims": False}),
                ((2, 3, 4), {"axis": None, "keepdims": True}),
                ((5,), {"axis": (0,), "keepdims": False}),
                ((), {"axis": None, "keepdims": False})]

CASES: list[tuple[str, Op, list, dict]] = []   # (id, op, [(sampler, shape)], attrs)


def add(op, inputs, **attrs):
    shapes = "-".join("x".join(map(str, s)) or "scalar" for _, s in inputs)
    attr = ",".join(f"{k}={v}" for k, v in attrs.items() if k != "index")
    CASES.append((f"{op.name}[{shapes}{',' + attr if attr else ''}]", op, inputs, attrs))


for a, b in BINARY_SHAPES:
    for op in (Op.ADD, Op.SUB, Op.MUL, Op.MAXIMUM, Op.MINIMUM):
        add(op, [(real, a), (real, b)])
    add(Op.DIV, [(real, a), (nonzero, b)])
    add(Op.POW, [(pos, a), (real, b)])
    add(Op.ATAN2, [(nonzero, a), (real, b)])     # y away from 0: no singularity, no branch cut
for s in UNARY_SHAPES:
    for op, dom in [(Op.NEG, real), (Op.EXP, real), (Op.LOG, pos), (Op.LOG1P, pos),
                    (Op.EXPM1, real), (Op.SQRT, pos), (Op.SIN, real), (Op.COS, real),
                    (Op.TAN, small), (Op.TANH, real), (Op.SIGMOID, real), (Op.SOFTPLUS, real),
                    (Op.RELU, nonzero), (Op.ABS, nonzero), (Op.ERF, real)]:
        add(op, [(dom, s)])
    add(Op.CLAMP, [(off_bounds, s)], min=-0.5, max=0.5)
    add(Op.CLAMP, [(off_bounds, s)], min=-0.5, max=None)
    add(Op.CLAMP, [(off_bounds, s)], min=None, max=0.5)
    add(Op.CAST, [(real, s)], dtype=np.dtype(np.float64))
for c, x, y in [((3, 1), (1, 4), ()), ((3,), (3,), (3,)), ((), (2, 2), (2, 1))]:
    add(Op.WHERE, [(boolean, c), (real, x), (real, y)])
for a, b in [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
             ((5, 2, 3), (3, 4)), ((3,), (5, 3, 4)), ((5, 2, 3), (3,)), ((1, 2, 3), (4, 3, 2))]:
    add(Op.MATMUL, [(real, a), (real, b)])
for s, attrs in REDUCE_CASES:
    add(Op.SUM, [(real, s)], **attrs)
    add(Op.MEAN, [(real, s)], **attrs)
    add(Op.MAX, [(distinct, s)], **attrs)
    add(Op.MIN, [(distinct, s)], **attrs)
    add(Op.LOGSUMEXP, [(real, s)], **attrs)
for s, axis in [((4,), 0), ((2, 3), 0), ((2, 3), 1), ((2, 3, 2), 2)]:
    add(Op.SOFTMAX, [(real, s)], axis=axis)
    add(Op.LOG_SOFTMAX, [(real, s)], axis=axis)
add(Op.RESHAPE, [(real, (2, 3))], shape=(3, 2))
add(Op.RESHAPE, [(real, (6,))], shape=(1, 2, 3))
add(Op.RESHAPE, [(real, ())], shape=(1, 1))
add(Op.PERMUTE, [(real, (2, 3, 4))], axes=(2, 0, 1))
add(Op.PERMUTE, [(real, (2, 3))], axes=(1, 0))
add(Op.BROADCAST_TO, [(real, (3, 1))], shape=(2, 3, 4))
add(Op.BROADCAST_TO, [(real, ())], shape=(2, 2))
for index in [(slice(1, 3),), (np.array([0, 2, 0, 3, 0]),), (np.array([True, False, True, True]),),
              (slice(None), np.array([1, 1, 4])), (None, Ellipsis, 2), (1, 2),
              (np.array([[0, 1], [3, 3]]), slice(None, None, 2)),
              (rng.uniform(size=(4, 5)) < 0.5,)]:
    add(Op.GETITEM, [(real, (4, 5))], index=index)
add(Op.SCATTER_ADD, [(real, (3,))], shape=(5,), index=(np.array([0, 4, 0]),))
add(Op.SCATTER_ADD, [(real, (2,))], shape=(2, 3), index=(slice(None), 1))
add(Op.SCATTER_ADD, [(real, (2, 3))], shape=(4, 3), index=(np.array([True, False, False, True]),))
add(Op.CONCAT, [(real, (2, 3)), (real, (2, 1)), (real, (2, 2))], axis=1)
add(Op.CONCAT, [(real, (1, 3)), (real, (2, 3))], axis=0)
add(Op.CONCAT, [(real, (4,))], axis=0)
for axis in (0, 1, 2):
    add(Op.STACK, [(real, (2, 3)), (real, (2, 3)), (real, (2, 3))], axis=axis)
# --- issue 11: nnops
for x, w, attrs in [((2, 4, 5, 4), (4, 2, 2, 3), {"stride": (2, 1), "padding": ((1, 1), (0, 2)),
                                                  "dilation": (1, 2), "groups": 2}),
                    ((1, 2, 6), (3, 2, 3), {"stride": (2,), "padding": ((2, 1),),
                                            "dilation": (1,), "groups": 1})]:
    add(Op.CONVOLUTION, [(real, x), (real, w)], **attrs)
for attrs in [{"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0), "dilation": (1, 1),
               "ceil_mode": False},
              {"kernel": (3, 2), "stride": (2, 1), "padding": (1, 1), "dilation": (1, 2),
               "ceil_mode": True}]:
    add(Op.MAX_POOL2D, [(distinct, (2, 2, 5, 5))], **attrs)
for cip in (True, False):
    add(Op.AVG_POOL2D, [(real, (2, 2, 5, 5))], kernel=(3, 2), stride=(2, 1), padding=(1, 1),
        ceil_mode=True, count_include_pad=cip)
add(Op.ADAPTIVE_AVG_POOL2D, [(real, (2, 2, 7, 5))], output_size=(3, 4))
for mode, ac, scales in [("nearest", False, (None, None)), ("bilinear", False, (1.7, 2.0)),
                         ("bilinear", True, (None, None))]:
    add(Op.INTERPOLATE, [(real, (1, 2, 3, 4))], size=(5, 8), mode=mode, align_corners=ac,
        scales=scales)
for s, axis in [((3, 4), (1,)), ((2, 3, 4), (0, 2)), ((2, 3, 4), (1, 2))]:
    add(Op.STANDARDIZE, [(real, s)], axis=axis, eps=1e-5)

# --- issue 11: math


def unit(shape):            # inside (-1, 1): asin, acos, atanh, erfinv
    return rng.uniform(-0.8, 0.8, size=shape)


def above_one(shape):       # acosh
    return rng.uniform(1.2, 3.0, size=shape)


def off_multiples(shape):   # x / 1.5 far from an integer: fmod/remainder/floor_divide smooth
    return 1.5 * (rng.integers(-3, 4, size=shape) + rng.uniform(0.2, 0.8, size=shape))


for s in UNARY_SHAPES:
    for op, dom in [(Op.RSQRT, pos), (Op.RECIPROCAL, nonzero), (Op.SQUARE, real),
                    (Op.ASIN, unit), (Op.ACOS, unit), (Op.ATAN, real), (Op.SINH, real),
                    (Op.COSH, real), (Op.ASINH, real), (Op.ACOSH, above_one), (Op.ATANH, unit),
                    (Op.LOG2, pos), (Op.LOG10, pos), (Op.EXP2, real), (Op.ERFC, real),
                    (Op.ERFINV, unit), (Op.SIGN, nonzero)]:
        add(op, [(dom, s)])
for a, b in BINARY_SHAPES:
    for op in (Op.HYPOT, Op.LOGADDEXP, Op.CLAMP_MIN, Op.CLAMP_MAX):
        add(op, [(real, a), (real, b)])
    add(Op.XLOGY, [(real, a), (pos, b)])
    add(Op.COPYSIGN, [(nonzero, a), (nonzero, b)])
    for op in (Op.FMOD, Op.REMAINDER, Op.FLOOR_DIVIDE):
        add(op, [(off_multiples, a), (lambda shape: np.full(shape, 1.5), b)])
for a, b, w in [((3,), (3,), ()), ((3, 1), (1, 4), (4,)), ((), (2, 3), (2, 1))]:
    add(Op.LERP, [(real, a), (real, b), (real, w)])
# --- issue 11: shape
add(Op.FLIP, [(real, (2, 3, 2))], dims=(0, 2))
add(Op.ROLL, [(real, (2, 3))], shifts=(1, -2), dims=(0, 1))
add(Op.ROLL, [(real, (2, 3))], shifts=(4,), dims=None)
for pad, mode in [((1, 2), "constant"), ((-1, 1, 2, 0), "constant"), ((2, 1), "reflect"),
                  ((1, 0, 2, 2), "replicate")]:
    add(Op.PAD, [(real, (1, 3, 3))], pad=pad, mode=mode, value=0.5 * (mode == "constant"))
add(Op.REPEAT_INTERLEAVE, [(real, (2, 3))], repeats=(2, 0, 1), dim=1)
add(Op.REPEAT_INTERLEAVE, [(real, (2, 3))], repeats=(3,), dim=None)
add(Op.UNFOLD, [(real, (3, 5))], dimension=1, size=2, step=2)
add(Op.UNFOLD, [(real, (4, 2))], dimension=0, size=3, step=1)
add(Op.GATHER, [(real, (3, 4))], dim=1, index=np.array([[0, 3, 3], [1, 0, 2]]))
add(Op.GATHER, [(real, (3, 4))], dim=0, index=np.array([[2, 2, 0, 1]]))
add(Op.SCATTER, [(real, (3, 4)), (real, (3, 3))], dim=0, index=np.array([[0, 2], [1, 0]]))
add(Op.SCATTER, [(real, (2, 3)), (real, (2, 1))], dim=1, index=np.array([[2], [0]]))
add(Op.SCATTER_ADD_DIM, [(real, (3, 4)), (real, (2, 4))], dim=0,
    index=np.array([[0, 0, 2, 1], [0, 1, 2, 1]]))
add(Op.SCATTER_ADD_DIM, [(real, (2, 3)), (real, (2, 3))], dim=1, index=np.array([[2, 2], [0, 1]]))
add(Op.MASKED_FILL, [(real, (3, 4)), (boolean, (3, 4)), (real, ())])
add(Op.MASKED_FILL, [(real, (3, 1)), (boolean, (1, 4)), (real, ())])


# --- issue 11: rounding
def off_integers(shape):    # floor, ceil, round... jump at integers and half-integers
    return rng.integers(-3, 3, size=shape) + rng.uniform(0.1, 0.4, size=shape)


def with_specials(shape):
    return np.where(rng.uniform(size=shape) < 0.3, np.inf, rng.normal(size=shape))


def integers(shape):
    return rng.integers(-20, 20, size=shape)


for s in UNARY_SHAPES:
    for op in (Op.FLOOR, Op.CEIL, Op.TRUNC, Op.FRAC):
        add(op, [(off_integers, s)])
    add(Op.ROUND, [(off_integers, s)], decimals=0)
    add(Op.ROUND, [(off_integers, s)], decimals=1)
    for op in (Op.ISNAN, Op.ISINF, Op.ISFINITE, Op.LOGICAL_NOT):
        add(op, [(with_specials, s)])
    add(Op.BITWISE_NOT, [(integers, s)])
for a, b in BINARY_SHAPES[:3]:
    for op in (Op.LOGICAL_AND, Op.LOGICAL_OR, Op.LOGICAL_XOR):
        add(op, [(real, a), (boolean, b)])
    for op in (Op.BITWISE_AND, Op.BITWISE_OR, Op.BITWISE_XOR):
        add(op, [(integers, a), (integers, b)])

# --- issue 11: linalg


def invertible(shape):      # diagonally dominant: well-conditioned, either sign of det
    sign = rng.choice([-1.0, 1.0], size=shape[:-1])
    return rng.uniform(-1.0, 1.0, size=shape) + np.eye(shape[-1]) * (shape[-1] * sign)[..., None]


def spd(shape):             # symmetric, diagonally dominant, positive diagonal
    a = rng.uniform(-1.0, 1.0, size=shape)
    return (a + np.swapaxes(a, -1, -2)) / 2 + shape[-1] * np.eye(shape[-1])


for s in [(2, 2), (3, 3), (2, 3, 3)]:
    for op in (Op.DET, Op.LOGABSDET, Op.INV):
        add(op, [(invertible, s)])
    add(Op.CHOLESKY, [(spd, s)])
for a, b in [((3, 3), (3, 2)), ((2, 3, 3), (3, 1)), ((3, 3), (2, 3, 4)), ((1, 2, 2), (3, 2, 2))]:
    add(Op.SOLVE, [(invertible, a), (real, b)])
for ord_, axis, keepdims in [(2.0, None, False), (1.0, (1,), True), (np.inf, (0, 2), False),
                             (-np.inf, (2,), False), (3.0, (1,), False), (0.5, None, False),
                             (0.0, (0,), False)]:
    add(Op.VECTOR_NORM, [(distinct if np.isinf(ord_) else nonzero, (2, 3, 4))], ord=ord_,
        axis=axis, keepdims=keepdims)
for s in [(3, 3), (2, 4), (4, 2)]:
    add(Op.TRACE, [(real, s)])
for s, k in [((3, 3), 0), ((2, 3, 4), -1), ((4, 2), 1), ((3, 3), 5)]:
    add(Op.TRIL, [(real, s)], diagonal=k)
    add(Op.TRIU, [(real, s)], diagonal=k)
# --- issue 11: reductions


def with_zeros(shape):      # exact zeros: prod/cumprod take their zero-aware gradient
    return np.where(rng.uniform(size=shape) < 0.3, 0.0, rng.normal(size=shape))


for s, attrs in [((2, 3, 4), {"axis": None, "keepdims": False}),
                 ((2, 3, 4), {"axis": (1,), "keepdims": True}), ((), {"axis": None})]:
    add(Op.PROD, [(real, s)], **attrs)
    add(Op.PROD, [(with_zeros, s)], **attrs)
for s, attrs in REDUCE_CASES[:5]:
    add(Op.VAR, [(real, s)], correction=1, **attrs)
    add(Op.STD, [(real, s)], correction=0, **attrs)
    for p in (2.0, 1.0, 3.0, 0.5, np.inf, -np.inf):
        add(Op.NORM, [(nonzero if p != 2 else real, s)], p=p, **attrs)
for s, axis in [((5,), 0), ((2, 3, 4), 1), ((2, 3), 0), ((), 0)]:
    add(Op.CUMSUM, [(real, s)], axis=axis)
    add(Op.CUMPROD, [(real, s)], axis=axis)
    add(Op.CUMPROD, [(with_zeros, s)], axis=axis)
    add(Op.LOGCUMSUMEXP, [(real, s)], axis=axis)
    add(Op.CUMMAX, [(distinct, s)], axis=axis)
    add(Op.CUMMIN, [(distinct, s)], axis=axis)
    add(Op.SORT, [(distinct, s)], axis=axis, descending=axis == 0, stable=False)
    add(Op.MEDIAN, [(distinct, s)], axis=(axis,) if s else (), keepdims=axis == 1)
add(Op.MEDIAN, [(distinct, (3, 4))], axis=None, keepdims=False)
for s, axis, k in [((5,), 0, 2), ((2, 3, 4), 2, 3), ((3, 2), 0, 1)]:
    add(Op.TOPK, [(distinct, s)], k=k, axis=axis, largest=k != 1, sorted=True)
    add(Op.KTHVALUE, [(distinct, s)], axis=(axis,), k=k, keepdims=k == 3)


# --- issue 11: losses


def prob(shape):            # probabilities away from 0 and 1 (binary_cross_entropy)
    return rng.uniform(0.1, 0.9, size=shape)


def weights(shape):         # class/element weights: int8, so they get no gradient here
    return rng.integers(1, 4, size=shape).astype(np.int8)


def classes(shape):         # class indices of 4 classes (int64: no gradient); the first is 0,
    t = rng.integers(0, 4, size=shape)      # never ignored (a mean over no target is nan)
    t.flat[0] = 0
    return t


def off_switch(shape):      # |d| away from the smooth_l1 / huber switch at 0.5
    return rng.choice([-1.0, 0.0, 1.0], size=shape) + rng.uniform(-0.3, 0.3, size=shape)


for red in ("none", "mean", "sum"):
    for a, b in [((3,), (3,)), ((2, 3), (3,)), ((3, 1), (1, 4))]:
        add(Op.MSE_LOSS, [(real, a), (real, b)], reduction=red)
        add(Op.L1_LOSS, [(nonzero, a), (pos, b)], reduction=red)
        add(Op.SMOOTH_L1_LOSS, [(off_switch, a), (off_switch, b)], reduction=red, beta=0.5)
        add(Op.HUBER_LOSS, [(off_switch, a), (off_switch, b)], reduction=red, delta=0.5)
        add(Op.KL_DIV, [(real, a), (pos, b)], reduction=red, log_target=False)
        add(Op.KL_DIV, [(real, a), (real, b)], reduction=red, log_target=True)
    add(Op.BINARY_CROSS_ENTROPY, [(prob, (2, 3)), (prob, (2, 3)), (weights, (3,))],
        reduction=red)
    add(Op.BINARY_CROSS_ENTROPY_WITH_LOGITS,
        [(real, (2, 3)), (prob, (2, 3)), (weights, (3,)), (weights, (3,))], reduction=red)
    for x, t, ignore in [((3, 4), (3,), 1), ((4,), (), -100), ((2, 4, 3), (2, 3), 2)]:
        add(Op.NLL_LOSS, [(real, x), (classes, t), (weights, (4,))], ignore_index=ignore,
            reduction=red)
        add(Op.CROSS_ENTROPY, [(real, x), (classes, t), (weights, (4,))], ignore_index=ignore,
            reduction=red, label_smoothing=0.2)
        add(Op.CROSS_ENTROPY_PROBS, [(real, x), (pos, x), (weights, (4,))], reduction=red,
            label_smoothing=0.1)
for a, b, dim in [((3, 4), (3, 4), 1), ((4,), (3, 4), 1), ((2, 1, 3), (4, 3), 2)]:
    add(Op.COSINE_SIMILARITY, [(real, a), (real, b)], dim=dim, eps=1e-8)

# --- issue 11: activations
def off_three(shape):       # away from hardsigmoid's and hardswish's kinks at -3 and 3
    return rng.choice([-4.0, 0.0, 4.0], size=shape) + rng.uniform(-2.5, 2.5, size=shape)


for s in UNARY_SHAPES:
    for op, dom, attrs in [
            (Op.SOFTPLUS, real, {"beta": 2.0, "threshold": 1.0}),
            (Op.LEAKY_RELU, nonzero, {}), (Op.LEAKY_RELU, nonzero, {"negative_slope": 0.2}),
            (Op.ELU, nonzero, {}), (Op.ELU, nonzero, {"alpha": 0.5}), (Op.SELU, nonzero, {}),
            (Op.CELU, nonzero, {"alpha": 2.0}), (Op.SILU, real, {}), (Op.MISH, real, {}),
            (Op.GELU, real, {}), (Op.GELU, real, {"approximate": "tanh"}),
            (Op.LOGSIGMOID, real, {}), (Op.SOFTSIGN, real, {}),
            (Op.HARDTANH, off_bounds, {"min_val": -0.5, "max_val": 0.5}),
            (Op.HARDSIGMOID, off_three, {}), (Op.HARDSWISH, off_three, {})]:
        add(op, [(dom, s)], **attrs)
for s, axis in [((4,), 0), ((2, 3), 1)]:
    add(Op.SOFTMIN, [(real, s)], axis=axis)
for s, attrs in [((2, 3), {"p": 2.0, "axis": 1}), ((4,), {"p": 1.0, "axis": 0}),
                 ((2, 3), {"p": np.inf, "axis": 0}), ((3, 2), {"p": 3.0, "axis": 0}),
                 ((3,), {"p": 2.0, "axis": 0, "eps": 100.0})]:
    add(Op.NORMALIZE, [(nonzero if attrs["p"] == 1.0 else distinct, s)], **attrs)


def sample(inputs):
    return [sampler(shape) for sampler, shape in inputs]


def differentiable(values, op=None):
    """Inputs that get a gradient: floating ones with a VJP (``isnan``'s input has none)."""
    rules = VJP[op] if op is not None and len(VJP[op]) == len(values) else [True] * len(values)
    return [v.dtype.kind == "f" and r is not None for v, r in zip(values, rules)]


def _skip_without_gradient(diff):
    if not any(diff):
        pytest.skip("no input gets a gradient (values: tests/verify/test_opdb.py)")


def directional_fd(op, values, attrs, u, vs, eps=1e-6):
    def phi(t):
        shifted = [x + t * v if v is not None else x for x, v in zip(values, vs)]
        return np.sum(u * FORWARD[op](*shifted, **attrs))
    return (phi(eps) - phi(-eps)) / (2 * eps)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_vjp_matches_central_differences_float64(case):
    _, op, inputs, attrs = case
    values = sample(inputs)
    diff = differentiable(values, op)
    _skip_without_gradient(diff)
    out = FORWARD[op](*values, **attrs)
    for _ in range(3):
        u = rng.normal(size=out.shape)
        vs = [rng.normal(size=v.shape) if d else None for v, d in zip(values, diff)]
        _, gs = grads(op, values, attrs, u, requires=diff)
        for g, v, d in zip(gs, values, diff):
            if d:
                assert g is not None and g.shape == v.shape and g.dtype == v.dtype
            else:
                assert g is None
        analytic = sum(np.sum(g * v) for g, v in zip(gs, vs) if v is not None)
        numeric = directional_fd(op, values, attrs, u, vs)
        assert abs(analytic - numeric) <= 1e-6 * (1 + abs(numeric)), (analytic, numeric)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_float32_values_and_gradients(case):
    _, op, inputs, attrs = case
    values64 = [v.astype(np.float32).astype(np.float64) if v.dtype.kind == "f" else v
                for v in sample(inputs)]
    values32 = [v.astype(np.float32) if v.dtype.kind == "f" else v for v in values64]
    diff = differentiable(values64, op)
    _skip_without_gradient(diff)
    out64 = FORWARD[op](*values64, **attrs)
    u = rng.normal(size=out64.shape)
    out32, gs32 = grads(op, values32, attrs, u.astype(np.float32), requires=diff)
    _, gs64 = grads(op, values64, attrs, u.astype(np.float32).astype(np.float64), requires=diff)
    expected_dtype = attrs.get("dtype", np.float32)
    assert out32.dtype == expected_dtype
    np.testing.assert_allclose(out32, out64, rtol=2e-5, atol=2e-5)
    for g32, g64, d in zip(gs32, gs64, diff):
        if d:
            assert g32.dtype == np.float32
            scale = 1 + np.max(np.abs(g64), initial=0)
            np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-5 * scale)


def test_every_op_has_a_finite_difference_case():
    assert {c[1] for c in CASES} == set(Op)
    assert all(len(VJP[op]) in (1, 2, 3, 4) for op in Op)
