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


def differentiable(values):
    return [v.dtype.kind == "f" for v in values]


def directional_fd(op, values, attrs, u, vs, eps=1e-6):
    def phi(t):
        shifted = [x + t * v if v is not None else x for x, v in zip(values, vs)]
        return np.sum(u * FORWARD[op](*shifted, **attrs))
    return (phi(eps) - phi(-eps)) / (2 * eps)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_vjp_matches_central_differences_float64(case):
    _, op, inputs, attrs = case
    values = sample(inputs)
    diff = differentiable(values)
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
    diff = differentiable(values64)
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
    assert all(len(VJP[op]) in (1, 2, 3) for op in Op)
