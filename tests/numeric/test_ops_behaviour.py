"""Stability at |x| = 1e4, kink conventions, and op-specific forward/backward facts."""
from __future__ import annotations

import numpy as np
import pytest
from tests.numeric._graph_nodes import grads, leaf, node

from numeric import FORWARD, Op, backward

BIG = np.array([-1e4, -30.0, 0.0, 30.0, 1e4])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op, attrs", [
    (Op.SIGMOID, {}), (Op.SOFTPLUS, {}), (Op.LOGSUMEXP, {"axis": None, "keepdims": False}),
    (Op.SOFTMAX, {"axis": 0}), (Op.LOG_SOFTMAX, {"axis": 0}),
])
def test_stable_ops_are_finite_at_1e4(op, attrs, dtype):
    x = BIG.astype(dtype)
    out, (g,) = grads(op, [x], attrs, np.ones(FORWARD[op](x, **attrs).shape))
    assert out.dtype == dtype and g.dtype == dtype
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(g))


def test_stable_values():
    np.testing.assert_allclose(FORWARD[Op.SIGMOID](BIG), [0, 9.357622968840175e-14, 0.5, 1, 1])
    np.testing.assert_allclose(FORWARD[Op.SOFTPLUS](BIG), [0, 9.357622968840175e-14,
                                                            np.log(2), 30.0, 1e4])
    assert FORWARD[Op.LOGSUMEXP](BIG) == pytest.approx(1e4)
    np.testing.assert_allclose(FORWARD[Op.SOFTMAX](BIG, axis=0), [0, 0, 0, 0, 1])
    np.testing.assert_allclose(FORWARD[Op.LOG_SOFTMAX](BIG, axis=0), BIG - 1e4)
    _, (g,) = grads(Op.SOFTPLUS, [BIG], {}, np.ones(5))
    np.testing.assert_allclose(g, FORWARD[Op.SIGMOID](BIG))


def test_logsumexp_of_minus_infinity_rows():
    x = np.array([[-np.inf, -np.inf], [0.0, -np.inf]])
    np.testing.assert_array_equal(FORWARD[Op.LOGSUMEXP](x, axis=(1,), keepdims=True),
                                  [[-np.inf], [0.0]])
    np.testing.assert_array_equal(FORWARD[Op.SOFTMAX](x[1], axis=0), [1.0, 0.0])


@pytest.mark.parametrize("op, x, expected", [
    (Op.RELU, [-1.0, 0.0, 2.0], [0.0, 0.0, 1.0]),
    (Op.ABS, [-1.0, 0.0, 2.0], [-1.0, 0.0, 1.0]),
])
def test_unary_kinks(op, x, expected):
    _, (g,) = grads(op, [np.array(x)], {}, np.ones(3))
    np.testing.assert_array_equal(g, expected)


def test_clamp_bounds_are_inclusive_and_optional():
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    _, (g,) = grads(Op.CLAMP, [x], {"min": -0.5, "max": 0.5}, np.ones(5))
    np.testing.assert_array_equal(g, [0, 1, 1, 1, 0])
    out, (g,) = grads(Op.CLAMP, [x], {"min": None, "max": 0.5}, np.ones(5))
    np.testing.assert_array_equal(out, [-1, -0.5, 0, 0.5, 0.5])
    np.testing.assert_array_equal(g, [1, 1, 1, 1, 0])
    out, (g,) = grads(Op.CLAMP, [x], {"min": None, "max": None}, np.ones(5))
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(g, np.ones(5))


@pytest.mark.parametrize("op", [Op.MAXIMUM, Op.MINIMUM])
def test_maximum_minimum_split_ties_evenly(op):
    x, y = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0])
    _, (gx, gy) = grads(op, [x, y], {}, np.ones(3))
    if op is Op.MAXIMUM:
        np.testing.assert_array_equal(gx, [0, 0.5, 1])
        np.testing.assert_array_equal(gy, [1, 0.5, 0])
    else:
        np.testing.assert_array_equal(gx, [1, 0.5, 0])
        np.testing.assert_array_equal(gy, [0, 0.5, 1])


@pytest.mark.parametrize("op", [Op.MAX, Op.MIN])
def test_max_min_reductions_split_among_ties(op):
    x = np.array([[3.0, 1.0, 3.0, 3.0], [-1.0, 0.0, -1.0, 5.0]])
    _, (g,) = grads(op, [x], {"axis": (1,), "keepdims": False}, np.array([6.0, 2.0]))
    if op is Op.MAX:
        np.testing.assert_array_equal(g, [[2, 0, 2, 2], [0, 0, 0, 2]])
    else:
        np.testing.assert_array_equal(g, [[0, 6, 0, 0], [1, 0, 1, 0]])
    _, (g,) = grads(op, [x.astype(np.float32)], {"axis": None, "keepdims": True},
                    np.ones((1, 1)))
    assert g.dtype == np.float32 and g.sum() == 1.0


def test_pow_three_forms():
    x = np.array([-2.0, 0.0, 1.5])
    # tensor ** constant (integer exponent: negative bases are fine)
    out, (gx, gy) = grads(Op.POW, [x, np.array(3.0)], {}, np.ones(3), requires=[True, False])
    np.testing.assert_array_equal(out, x ** 3)
    np.testing.assert_allclose(gx, 3 * x ** 2)
    assert gy is None
    # x ** 0 has derivative 0 everywhere, including x == 0 (no 0 * inf)
    _, (gx, _) = grads(Op.POW, [x, np.array(0.0)], {}, np.ones(3), requires=[True, False])
    np.testing.assert_array_equal(gx, [0, 0, 0])
    # constant ** tensor
    y = np.array([-1.0, 0.5, 2.0])
    out, (gx, gy) = grads(Op.POW, [np.array(2.0), y], {}, np.ones(3), requires=[False, True])
    np.testing.assert_allclose(gy, 2.0 ** y * np.log(2.0))
    # 0 ** tensor: derivative 0 for y >= 0
    _, (_, gy) = grads(Op.POW, [np.array(0.0), np.array([0.0, 2.0])], {}, np.ones(2),
                       requires=[False, True])
    np.testing.assert_array_equal(gy, [0, 0])
    # tensor ** tensor
    a, b = np.array([0.5, 2.0]), np.array([3.0, -1.5])
    _, (ga, gb) = grads(Op.POW, [a, b], {}, np.ones(2))
    np.testing.assert_allclose(ga, b * a ** (b - 1))
    np.testing.assert_allclose(gb, a ** b * np.log(a))


@pytest.mark.parametrize("xs, ys", [((4,), (4,)), ((2, 4), (4, 3)), ((5, 2, 4), (4, 3)),
                                     ((4,), (2, 4, 3)), ((2, 1, 3, 4), (5, 4, 2)),
                                     ((3, 2, 4), (4,))])
def test_matmul_1d_2d_batched_against_torch(xs, ys):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=xs), rng.normal(size=ys)
    g = rng.normal(size=np.matmul(x, y).shape)
    out, (gx, gy) = grads(Op.MATMUL, [x, y], {}, g)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.tensor(y, requires_grad=True)
    tout = torch.matmul(tx, ty)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gy, ty.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_getitem_with_repeated_int_index_accumulates():
    x = np.arange(5.0)
    out, (g,) = grads(Op.GETITEM, [x], {"index": (np.array([1, 1, 4, 1]),)}, np.ones(4))
    np.testing.assert_array_equal(out, [1, 1, 4, 1])
    np.testing.assert_array_equal(g, [0, 3, 0, 0, 1])
    mask = np.array([True, False, True, False, False])
    _, (g,) = grads(Op.GETITEM, [x], {"index": (mask,)}, np.array([5.0, 7.0]))
    np.testing.assert_array_equal(g, [5, 0, 7, 0, 0])
    _, (g,) = grads(Op.GETITEM, [x.reshape(1, 5)], {"index": (0, slice(1, 3))}, np.ones(2))
    np.testing.assert_array_equal(g, [[0, 1, 1, 0, 0]])


def test_reductions_keepdims_shapes():
    x = np.ones((2, 3, 4))
    for op in (Op.SUM, Op.MEAN, Op.MAX, Op.MIN, Op.LOGSUMEXP):
        assert FORWARD[op](x, axis=(0, 2), keepdims=True).shape == (1, 3, 1)
        assert FORWARD[op](x, axis=(0, 2), keepdims=False).shape == (3,)
        assert FORWARD[op](x, axis=None, keepdims=False).shape == ()
    np.testing.assert_array_equal(FORWARD[Op.MEAN](np.arange(6.0).reshape(2, 3), axis=(1,)),
                                  [1.0, 4.0])


def test_concat_stack_where_forward():
    a, b = np.ones((2, 1)), np.zeros((2, 2))
    np.testing.assert_array_equal(FORWARD[Op.CONCAT](a, b, axis=1), [[1, 0, 0], [1, 0, 0]])
    assert FORWARD[Op.STACK](a, a, a, axis=2).shape == (2, 1, 3)
    out, (gc, gx, gy) = grads(Op.WHERE, [np.array([True, False]), np.array([1.0, 2.0]),
                                         np.array(5.0)], {}, np.array([3.0, 4.0]),
                              requires=[False, True, True])
    np.testing.assert_array_equal(out, [1.0, 5.0])
    assert gc is None
    np.testing.assert_array_equal(gx, [3.0, 0.0])
    assert gy.shape == () and gy == 4.0


def test_float32_stays_float32_through_constants():
    x = np.float32([0.25, 0.5])
    for op in (Op.SIGMOID, Op.SOFTPLUS, Op.RELU, Op.SQRT, Op.LOG1P):
        assert FORWARD[op](x).dtype == np.float32, op
    assert FORWARD[Op.MEAN](x).dtype == np.float32
    assert FORWARD[Op.CLAMP](x, min=0.3, max=None).dtype == np.float32
    assert FORWARD[Op.LOGSUMEXP](x, axis=None).dtype == np.float32
    assert isinstance(FORWARD[Op.SUM](x), np.ndarray)
    assert isinstance(FORWARD[Op.EXP](np.float32(1)), np.ndarray)


def test_broadcast_to_and_scatter_add_round_trip():
    x = leaf(np.array([[1.0], [2.0]]))
    y = node(Op.BROADCAST_TO, x, shape=(3, 2, 4))
    g = backward([y], [np.ones((3, 2, 4))])
    np.testing.assert_array_equal(g[id(x)], [[12.0], [12.0]])
