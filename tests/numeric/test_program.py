"""numeric.Program: the compiled forward/backward schedule, on a tiny fake node class.

Every gradient is checked against numeric's own executor on the same graph, with
inlining on and off, in float32 and float64.
"""
from __future__ import annotations

import numpy as np
import pytest

from numeric.compile import Program
from numeric.executor import backward as executor_backward
from numeric.kernels import FORWARD
from numeric.ops import Op


class N:
    """A handle carrying its own op and attrs (so ``node`` is itself); eager values."""

    node = property(lambda self: self)

    def __init__(self, op=None, inputs=(), value=None, requires_grad=False, **attrs):
        self.op, self.inputs, self.attrs = op, tuple(inputs), attrs
        self.requires_grad = requires_grad or any(i.requires_grad for i in self.inputs)
        self.value = value if op is None else FORWARD[op](*(i.value for i in inputs), **attrs)


def leaf(value, requires_grad=False, dtype=np.float64):
    return N(value=np.asarray(value, dtype=dtype), requires_grad=requires_grad)


def reference_grads(loss, wrt):
    grads = executor_backward([loss], [np.ones_like(loss.value)], targets=list(wrt))
    return [grads.get(id(w)) for w in wrt]


def seed_graph(dtype=np.float64):
    w, b = leaf([1.0], True, dtype), leaf([0.0], True, dtype)
    x, y = leaf([[1.0], [2.0], [3.0]], dtype=dtype), leaf([[3.0], [5.0], [7.0]], dtype=dtype)
    two = leaf(2.0, dtype=dtype)
    pred = N(Op.ADD, (N(Op.MUL, (w, x)), b))
    loss = N(Op.SUM, (N(Op.POW, (N(Op.SUB, (pred, y)), two)),), axis=None, keepdims=False)
    return loss, [w, b, x, y]


@pytest.mark.parametrize("inline", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_seed_graph_matches_executor(inline, dtype):
    loss, inputs = seed_graph(dtype)
    p = Program([loss], inputs, inline=inline)
    (value,), grads = p(*(n.value for n in inputs), cotangents=[np.ones((), dtype)])
    assert value == pytest.approx(29.0) and value.dtype == dtype
    ref = reference_grads(loss, inputs[:2])
    for g, r in zip(grads, ref):
        assert g.dtype == dtype and g.shape == (1,)
        np.testing.assert_array_equal(g, r)
    np.testing.assert_array_equal(grads[0], np.array([-40.0], dtype))


def test_new_values_are_used_at_run_time():
    loss, inputs = seed_graph()
    p = Program([loss], inputs)
    w, b, x, y = (np.array([2.0]), np.array([1.0]), np.array([[1.0], [2.0], [3.0]]),
                  np.array([[3.0], [5.0], [7.0]]))
    (value,), (gw, gb) = p(w, b, x, y, cotangents=[np.array(1.0)])
    assert value == 0.0 and gw[0] == 0.0 and gb[0] == 0.0
    (value,), _ = p(np.array([3.0]), b, x, y)
    assert value == pytest.approx(1 + 4 + 9)


def test_dead_code_no_gradient_work_for_data():
    loss, inputs = seed_graph()
    p = Program([loss], inputs)
    backward_src = p.source.split("def backward")[1]
    # the data x2 (x) and x3 (y) are read, but no cotangent is ever formed for them
    assert "dsub/dx3" not in backward_src and "dmul/dx2" not in backward_src
    assert "dmul/dx0" in backward_src
    assert p.wrt == tuple(inputs[:2])


def test_dead_forward_work_is_removed():
    x = leaf([1.0, 2.0], True)
    unused = N(Op.EXP, (x,))                       # an input listed later cuts this branch
    out = N(Op.SUM, (N(Op.MUL, (unused, x)),), axis=None, keepdims=False)
    p = Program([out], inputs=[x, unused], wrt=[x])
    assert p.stats["dead"] == 0 and "exp" not in p.source
    (v,), _ = p(np.array([1.0, 2.0]), np.array([10.0, 10.0]))
    assert v == 30.0


def test_cse_computes_repeated_subexpression_once():
    x = leaf([0.5, 1.5], True)
    a, b = N(Op.SIN, (x,)), N(Op.SIN, (x,))        # two nodes, same op, same input
    out = N(Op.SUM, (N(Op.MUL, (a, b)),), axis=None, keepdims=False)
    p = Program([out], [x])
    assert p.stats["cse"] == 1
    assert p.source.split("def backward")[0].count("np.sin(") == 1
    (v,), (g,) = p(np.array([0.5, 1.5]), cotangents=[np.array(1.0)])
    np.testing.assert_allclose(g, 2 * np.sin([0.5, 1.5]) * np.cos([0.5, 1.5]), rtol=1e-15)


def test_cse_respects_attrs():
    x = leaf(np.arange(6.0).reshape(2, 3), True)
    s0 = N(Op.SUM, (x,), axis=(0,), keepdims=False)
    s1 = N(Op.SUM, (x,), axis=(1,), keepdims=False)
    out = N(Op.ADD, (N(Op.SUM, (s0,), axis=None, keepdims=False),
                     N(Op.SUM, (s1,), axis=None, keepdims=False)))
    p = Program([out], [x])
    assert p.stats["cse"] == 0
    (v,), (g,) = p(x.value, cotangents=[np.array(1.0)])
    assert v == 30.0
    np.testing.assert_array_equal(g, np.full((2, 3), 2.0))


def test_constant_folding_runs_once_at_build_time():
    c = leaf([1.0, 4.0])
    folded = N(Op.SQRT, (N(Op.EXP, (c,)),))        # depends on no input
    x = leaf([1.0, 1.0], True)
    out = N(Op.SUM, (N(Op.MUL, (x, folded)),), axis=None, keepdims=False)
    p = Program([out], [x])
    assert p.stats["folded"] == 2
    fwd = p.source.split("def backward")[0]
    assert "exp" not in fwd and "sqrt" not in fwd
    (v,), (g,) = p(np.array([2.0, 3.0]), cotangents=[np.array(1.0)])
    np.testing.assert_allclose(g, np.sqrt(np.exp([1.0, 4.0])), rtol=1e-15)
    assert v == pytest.approx(2 * np.exp(0.5) + 3 * np.exp(2.0))


def test_fan_out_accumulates_and_broadcasting_unbroadcasts():
    x = leaf(np.linspace(-1, 1, 12).reshape(3, 4), True)
    b = leaf(np.array([0.5, -0.5, 1.0, 2.0]), True)
    h = N(Op.TANH, (N(Op.ADD, (x, b)),))
    out = N(Op.SUM, (N(Op.MUL, (N(Op.MUL, (h, h)), b)),), axis=None, keepdims=False)
    p = Program([out], [x, b])
    _, grads = p(x.value, b.value, cotangents=[np.array(1.0)])
    for g, r in zip(grads, reference_grads(out, [x, b])):
        np.testing.assert_allclose(g, r, rtol=1e-14)


def test_mlp_graph_matches_executor_and_reuses_buffers():
    rng = np.random.default_rng(0)
    X = leaf(rng.normal(size=(8, 5)))
    W1, b1 = leaf(rng.normal(size=(5, 7)), True), leaf(rng.normal(size=(7,)), True)
    W2 = leaf(rng.normal(size=(7, 3)), True)
    h = N(Op.RELU, (N(Op.ADD, (N(Op.MATMUL, (X, W1)), b1)),))
    z = N(Op.EXP, (N(Op.MUL, (N(Op.MATMUL, (h, W2)), leaf(0.1))),))
    logp = N(Op.LOG_SOFTMAX, (N(Op.ADD, (z, z)),), axis=1)
    picked = N(Op.GETITEM, (logp,), index=(np.arange(8), np.array([0, 1, 2, 0, 1, 2, 0, 1])))
    loss = N(Op.NEG, (N(Op.MEAN, (picked,), axis=None, keepdims=False),))
    p = Program([loss], [X, W1, b1, W2])
    _, grads = p(X.value, W1.value, b1.value, W2.value, cotangents=[np.array(1.0)])
    for g, r in zip(grads, reference_grads(loss, [W1, b1, W2])):
        np.testing.assert_allclose(g, r, rtol=1e-13, atol=1e-15)
    assert p.stats["reused"] >= 1 and "out=" in p.source


def test_multiple_outputs_and_missing_cotangent():
    x = leaf([1.0, 2.0], True)
    a = N(Op.SUM, (N(Op.MUL, (x, x)),), axis=None, keepdims=False)
    b = N(Op.SUM, (N(Op.EXP, (x,)),), axis=None, keepdims=False)
    p = Program([a, b], [x])
    (va, vb), saved = p.forward(np.array([1.0, 2.0]))
    (ga,) = p.backward(saved, np.array(1.0), None)
    (gb,) = p.backward(saved, None, np.array(1.0))
    np.testing.assert_array_equal(ga, [2.0, 4.0])
    np.testing.assert_allclose(gb, np.exp([1.0, 2.0]), rtol=1e-15)
    with pytest.raises(ValueError, match="expected 2 cotangent"):
        p.backward(saved, np.array(1.0))


def test_input_without_path_gets_none():
    x, y = leaf([1.0], True), leaf([2.0], True)
    p = Program([N(Op.EXP, (x,))], [x, y])
    _, grads = p(np.array([0.0]), np.array([5.0]), cotangents=[np.array([1.0])])
    assert grads[1] is None and grads[0][0] == 1.0


def test_scalar_graph_returns_arrays():
    x = leaf(0.3, True)
    acc = x
    for k in range(20):
        acc = N(Op.SIN, (N(Op.ADD, (N(Op.MUL, (acc, x)), leaf(float(k)))),))
    p = Program([acc], [x])
    (v,), (g,) = p(np.array(0.3), cotangents=[np.array(1.0)])
    assert isinstance(v, np.ndarray) and isinstance(g, np.ndarray) and v.shape == ()
    np.testing.assert_allclose(g, reference_grads(acc, [x])[0], rtol=1e-13)


def test_deep_chain_builds_without_recursion():
    x = leaf(np.array([0.1]), True)
    acc = x
    for _ in range(20_000):
        acc = N(Op.NEG, (acc,))
    p = Program([acc], [x])
    (v,), (g,) = p(np.array([0.5]), cotangents=[np.array([1.0])])
    assert v[0] == 0.5 and g[0] == 1.0


def test_printing_shows_both_functions():
    loss, inputs = seed_graph()
    p = Program([loss], inputs)
    text = str(p)
    assert text.startswith("def forward(x0, x1, x2, x3):")
    assert "def backward(saved, go0):" in text and "# mul (3, 1) float64" in text
    assert "4 inputs" in repr(p)
    compile(text, "<printed program>", "exec")       # the printed text is valid Python


def test_errors_name_the_problem():
    x = leaf([1.0], True)
    with pytest.raises(ValueError, match="listed twice"):
        Program([N(Op.EXP, (x,))], [x, x])
    with pytest.raises(ValueError, match="wrt node must also be one of the inputs"):
        Program([N(Op.EXP, (x,))], [x], wrt=[leaf([1.0])])
    bad = N(Op.EXP, (x,))
    bad.inputs = (N(value=None),)                   # a symbolic leaf, never bound
    with pytest.raises(ValueError, match="has no value"):
        Program([bad], [x])


def test_scalar_program_uses_python_floats_and_agrees():
    x, y = leaf(0.7, True), leaf(1.3, True)
    acc = x
    for k in range(30):
        acc = N(Op.ADD, (N(Op.MUL, (N(Op.SIN, (acc,)), y)), leaf(0.01 * k)))
    out = N(Op.DIV, (N(Op.TANH, (acc,)), N(Op.EXP, (x,))))
    p = Program([out], [x, y])
    assert p.stats.get("scalar") is True
    (v,), grads = p(np.array(0.2), np.array(0.9), cotangents=[np.array(1.0)])
    ref = Program([out], [x, y], inline=False)
    assert "scalar" not in ref.stats
    (rv,), rgrads = ref(np.array(0.2), np.array(0.9), cotangents=[np.array(1.0)])
    assert isinstance(v, np.ndarray) and v.dtype == np.float64
    np.testing.assert_allclose(v, rv, rtol=1e-14)
    for g, r in zip(grads, rgrads):
        assert isinstance(g, np.ndarray) and g.shape == ()
        np.testing.assert_allclose(g, r, rtol=1e-13)


def test_scalar_program_falls_back_to_numpy_where_python_raises():
    x = leaf(2.0, True)
    out = N(Op.LOG, (N(Op.DIV, (x, leaf(1.0))),))
    p = Program([out], [x])
    assert p.stats.get("scalar") is True
    with np.errstate(all="ignore"):
        (v,), (g,) = p(np.array(-1.0), cotangents=[np.array(1.0)])   # math.log(-1) raises
        (w,), (h,) = p(np.array(0.0), cotangents=[np.array(1.0)])    # math.log(0) raises
    assert np.isnan(v) and g == -1.0
    assert w == -np.inf and h == np.inf                             # numpy's answers
    (u,), (k,) = p(np.array(np.e), cotangents=[np.array(1.0)])
    assert u == pytest.approx(1.0) and k == pytest.approx(1 / np.e)


# -- lazy cotangent scale, unit backward, transposed weights (Note [Lazy cotangent scale]) ----

def mlp_like_graph(dtype=np.float64, seed=0):
    """x @ W.T + b, tanh, mean of squares / 4 + sum * 3: scale factors, fan-out, a transpose."""
    rng = np.random.default_rng(seed)
    x = leaf(rng.standard_normal((5, 4)), dtype=dtype)
    W, b = leaf(rng.standard_normal((3, 4)), True, dtype), leaf(rng.standard_normal(3), True, dtype)
    h = N(Op.TANH, (N(Op.ADD, (N(Op.MATMUL, (x, N(Op.PERMUTE, (W,), axes=(1, 0)))), b)),))
    sq = N(Op.MEAN, (N(Op.MUL, (h, h)),), axis=None, keepdims=False)
    quarter, three = leaf(4.0, dtype=dtype), leaf(3.0, dtype=dtype)
    loss = N(Op.ADD, (N(Op.DIV, (sq, quarter)),
                      N(Op.MUL, (N(Op.SUM, (h,), axis=None, keepdims=False), three))))
    return loss, [x, W, b]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("graph", [seed_graph, mlp_like_graph])
def test_backward_unit_equals_backward_with_ones(graph, dtype):
    loss, inputs = graph(dtype)
    wrt = [n for n in inputs if n.requires_grad]
    p = Program([loss], inputs)
    (value,), saved = p.forward(*(n.value for n in inputs))
    unit = p.backward_unit(saved)
    ones = p.backward(saved, np.ones_like(value))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for u, o, ref in zip(unit, ones, reference_grads(loss, wrt)):
        assert u.dtype == ref.dtype and u.shape == ref.shape
        np.testing.assert_allclose(u, ref, rtol=tol, atol=tol)
        np.testing.assert_allclose(o, ref, rtol=tol, atol=tol)


def test_unit_backward_makes_no_ones_array_and_folds_constants():
    loss, inputs = seed_graph()
    p = Program([loss], inputs)
    src = p._build_backward(None, 0)[1]
    assert "np.full" not in src and "go0" not in src
    assert src.count(" * ") <= 2          # 2 * r once, then r * x: as a hand-written step


def test_weight_gradient_through_a_transpose_is_contiguous():
    loss, inputs = mlp_like_graph()
    p = Program([loss], inputs)
    _, saved = p.forward(*(n.value for n in inputs))
    gW, gb = p.backward_unit(saved)
    assert gW.shape == (3, 4) and gW.flags.c_contiguous
    assert ".T @ x0" in p.source       # g.T @ x, not (x.T @ g).T


def test_returned_gradients_never_alias_inputs_or_saved_values():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0], True)
    loss = N(Op.SUM, (N(Op.MUL, (w, x)),), axis=None, keepdims=False)
    p = Program([loss], [x, w])
    xv = np.array([5.0, 6.0])
    _, saved = p.forward(xv, np.array([3.0, 4.0]))
    (g,) = p.backward_unit(saved)
    np.testing.assert_array_equal(g, xv)
    assert not np.shares_memory(g, xv)
    (g,) = p.backward(saved, np.array(2.0))
    np.testing.assert_array_equal(g, 2 * xv)


def test_backward_unit_index_checked():
    loss, inputs = seed_graph()
    p = Program([loss], inputs)
    with pytest.raises(IndexError, match="output 1 does not exist"):
        p.backward_unit(p.forward(*(n.value for n in inputs))[1], 1)
