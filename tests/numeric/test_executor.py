"""The executor: fan-out, depth, freeing, pruning, targets, user ops, evaluate."""
from __future__ import annotations

import gc
import subprocess
import sys
import weakref

import numpy as np
import pytest
from tests.numeric._graph_nodes import Node, leaf, node

import numeric
from numeric import FORWARD, FREED_GRAPH, VJP, Op, backward, evaluate, toposort


def test_tables_cover_every_op():
    assert set(FORWARD) == set(Op)
    assert set(VJP) == set(Op)
    for op, rules in VJP.items():
        expected = 1 if op in numeric.VARIADIC else numeric.ARITY[op]
        assert len(rules) == expected, op


def test_importing_numeric_does_not_import_sympy():
    code = "import numeric, sys; assert 'sympy' not in sys.modules and 'symgrad' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_fan_out_x_times_x_plus_x_gives_2x_plus_1():
    x = leaf(np.array([-1.5, 0.0, 2.0, 3.0]))
    f = node(Op.ADD, node(Op.MUL, x, x), x)
    g = backward([f], [np.ones(4)])
    np.testing.assert_array_equal(g[id(x)], 2 * x.value + 1)


def test_chain_of_100000_ops_has_no_recursion_error():
    x = leaf(np.array([0.5]))
    y = x
    for _ in range(100_000):
        y = Node(Op.NEG, (y,), {}, -y.value)
    g = backward([y], [np.ones(1)])
    np.testing.assert_array_equal(g[id(x)], [1.0])     # an even number of negations
    assert evaluate([y], {id(x): np.array([2.0])})[0][0] == 2.0
    assert len(toposort([y])) == 100_001


def test_toposort_puts_inputs_first_and_lists_each_node_once():
    a = leaf(1.0)
    b = node(Op.EXP, a)
    c = node(Op.MUL, b, a)
    d = node(Op.ADD, c, b)
    order = toposort([d, c])
    assert [id(n) for n in order] == [id(a), id(b), id(c), id(d)]


def test_graph_nodes_are_freed_after_backward():
    def release(n):
        n.inputs = ()

    x = leaf(np.array([1.0, 2.0]))
    h = node(Op.EXP, x)
    y = node(Op.SUM, node(Op.MUL, h, h), axis=None, keepdims=False)
    ref_h = weakref.ref(h)
    del h
    backward([y], [np.ones(())], release=release)
    gc.collect()
    assert ref_h() is None
    assert y.inputs == ()


def test_second_backward_through_freed_graph_raises_before_running():
    x = leaf(np.array([1.0]))
    h = node(Op.EXP, x)
    y = node(Op.MUL, h, x)
    h.inputs = ()                                  # as if an earlier backward freed it
    calls = []
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        backward([y], [np.ones(1)], release=calls.append)
    assert calls == []
    assert "retain_graph=True" in FREED_GRAPH


def test_only_paths_to_inputs_that_require_grad_are_walked():
    called = []

    class Spy:
        forward = staticmethod(np.exp)
        vjp = (lambda g, out, x: called.append(1) or g * out,)

    c = leaf(np.array([1.0]), requires_grad=False)
    x = leaf(np.array([2.0]))
    spied = Node(Spy(), (c,), {}, np.exp(c.value), requires_grad=False)
    y = node(Op.MUL, spied, x)
    g = backward([y], [np.ones(1)])
    assert called == []
    assert set(g) == {id(x)}
    np.testing.assert_allclose(g[id(x)], np.exp(1.0))


def test_targets_return_non_leaf_gradients_and_prune_other_branches():
    x = leaf(np.array([2.0]))
    w = leaf(np.array([3.0]))
    h = node(Op.MUL, x, x)
    y = node(Op.MUL, h, w)
    g = backward([y], [np.ones(1)], targets=[h])
    assert set(g) == {id(h)}
    np.testing.assert_array_equal(g[id(h)], [3.0])
    g = backward([y], [np.ones(1)], targets=[x, h])
    np.testing.assert_array_equal(g[id(x)], [12.0])


def test_user_defined_op_uses_its_forward_and_vjp():
    class Cube:
        forward = staticmethod(lambda x: x ** 3)
        vjp = (lambda g, out, x: g * 3 * x * x,)

    x = leaf(np.array([2.0]))
    y = Node(Cube(), (x,), {}, Cube.forward(x.value))
    assert backward([y], [np.ones(1)])[id(x)][0] == 12.0
    assert evaluate([y], {id(x): np.array([3.0])})[0][0] == 27.0


def test_value_callback_feeds_vjps():
    x = leaf(np.array([2.0]))
    y = node(Op.MUL, x, x)
    seen = []
    g = backward([y], [np.ones(1)], value=lambda n: seen.append(n) or n.value)
    assert g[id(x)][0] == 4.0 and x in seen


def test_multiple_outputs_accumulate():
    x = leaf(np.array([1.0, 2.0]))
    a = node(Op.EXP, x)
    b = node(Op.MUL, x, x)
    g = backward([a, b], [np.ones(2), np.full(2, 2.0)])
    np.testing.assert_allclose(g[id(x)], np.exp(x.value) + 4 * x.value)


def test_bad_cotangents_and_outputs_are_reported():
    x = leaf(np.array([1.0, 2.0]))
    y = node(Op.EXP, x)
    with pytest.raises(ValueError, match="shape"):
        backward([y], [np.ones(3)])
    with pytest.raises(ValueError, match="one cotangent per output"):
        backward([y], [])
    with pytest.raises(RuntimeError, match="does not require grad"):
        backward([leaf(1.0, requires_grad=False)], [np.ones(())])


def test_cotangent_is_cast_to_the_output_dtype():
    x = leaf(np.float32([1.0, 2.0]))
    y = node(Op.MUL, x, x)
    assert backward([y], [np.ones(2)])[id(x)].dtype == np.float32


def test_mixed_dtypes_give_each_input_its_own_dtype():
    x = leaf(np.float32([1.0, 2.0]))
    w = leaf(np.float64([3.0]))
    y = node(Op.MUL, x, w)
    assert y.value.dtype == np.float64
    g = backward([y], [np.ones(2)])
    assert g[id(x)].dtype == np.float32 and g[id(w)].dtype == np.float64
    np.testing.assert_array_equal(g[id(w)], [3.0])


def test_zero_dim_gradients_are_arrays():
    x = leaf(np.array(3.0))
    y = node(Op.MUL, x, x)
    g = backward([y], [np.array(1.0)])[id(x)]
    assert isinstance(g, np.ndarray) and g.shape == () and g == 6.0


def test_evaluate_uses_bindings_and_own_values():
    x = leaf(np.array([1.0]))
    c = leaf(np.array([10.0]), requires_grad=False)
    y = node(Op.ADD, node(Op.MUL, x, x), c)
    assert evaluate([y.node], {id(x.node): np.array([3.0])})[0][0] == 19.0
    assert evaluate([y.node])[0][0] == 11.0


def test_apply_delegates_to_numeric_apply():
    class Box:
        def __numeric_apply__(self, op, xs, attrs):
            return ("boxed", op, len(xs), attrs)

    assert numeric.apply(Op.ADD, np.ones(1), Box()) == ("boxed", Op.ADD, 2, {})
    assert numeric.apply(Op.SUM, Box(), axis=None) == ("boxed", Op.SUM, 1, {"axis": None})
    np.testing.assert_array_equal(numeric.apply(Op.ADD, 1.0, np.ones(2)), [2.0, 2.0])

    class Refuses:
        def __numeric_apply__(self, op, xs, attrs):
            return NotImplemented

    with pytest.raises(TypeError, match="no input handled"):
        numeric.apply(Op.NEG, Refuses())


def test_release_reaches_nodes_pruned_by_targets():
    released = []
    x = leaf(np.array([2.0]))
    w = leaf(np.array([3.0]))
    side = node(Op.EXP, w)
    y = node(Op.MUL, node(Op.MUL, x, x), side)
    g = backward([y], [np.ones(1)], targets=[x], release=released.append)
    np.testing.assert_allclose(g[id(x)], 4.0 * np.exp(3.0))
    assert any(n is side for n in released) and len(released) == 3


def test_scalar_cotangent_is_accepted():
    x = leaf(np.array(2.0))
    y = node(Op.MUL, x, x)
    assert backward([y], [1.0])[id(x)] == 4.0


class Minimal:
    """Only what the issue names: op (or its name), inputs, attrs, value."""

    def __init__(self, op, inputs=(), value=None, **attrs):
        self.op, self.inputs, self.value = op, tuple(inputs), value
        if attrs:
            self.attrs = attrs


def test_minimal_nodes_require_grad_and_may_name_their_ops():
    x = Minimal(None, value=np.array([1.0, 2.0]))
    y = Minimal("mul", (x, x), x.value * x.value)
    z = Minimal(Op.SUM, (y,), np.sum(y.value), axis=None, keepdims=False)
    release = []
    g = backward(z, np.array(1.0), release=release.append)
    np.testing.assert_array_equal(g[id(x)], [2.0, 4.0])
    assert {id(n) for n in release} == {id(y), id(z)}      # the user's own nodes
    assert evaluate([z], {id(x): np.array([3.0, 1.0])})[0] == 10.0


def test_op_names_inside_a_full_protocol_graph():
    x = leaf(np.array([2.0]))
    y = Node("exp", (x,), {}, np.exp(x.value), True)
    g = backward([y], [np.ones(1)])
    np.testing.assert_allclose(g[id(x)], np.exp([2.0]))
    assert Op("concatenate") is Op.CONCAT and Op["TRANSPOSE"] is Op.PERMUTE


def test_hooks_replace_a_complete_cotangent_before_use():
    x = leaf(np.array([1.0, 2.0]))
    y = node(Op.MUL, x, x)
    z = node(Op.SUM, y, axis=None, keepdims=False)
    seen = []
    hooks = {id(y): lambda g: seen.append(g.copy()) or g * 10, id(x): lambda g: g + 1}
    g = backward([z], [np.array(1.0)], hooks=hooks)
    np.testing.assert_array_equal(seen[0], [1.0, 1.0])
    np.testing.assert_array_equal(g[id(x)], [21.0, 41.0])


@pytest.mark.parametrize("op", [Op.CONCAT, Op.STACK])
def test_variadic_vjps_accept_negative_and_default_axes(op):
    a, b = leaf(np.ones((2, 3))), leaf(np.full((2, 3), 2.0))
    for attrs in ({"axis": -1}, {}):
        out = node(op, a, b, **attrs)
        ct = np.arange(out.value.size, dtype=float).reshape(out.value.shape)
        g = backward([out], [ct])
        parts = np.split(ct, 2, axis=attrs.get("axis", 0)) if op is Op.CONCAT else \
            [np.take(ct, k, axis=attrs.get("axis", 0) % 3) for k in range(2)]
        np.testing.assert_array_equal(g[id(a)], parts[0].reshape(2, 3))
        np.testing.assert_array_equal(g[id(b)], parts[1].reshape(2, 3))
