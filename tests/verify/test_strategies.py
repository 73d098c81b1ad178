"""Property tests on random DAGs, and the strategies' own contract."""
import pytest
from hypothesis import given, strategies as st

import verify
from numeric.graph import toposort
from numeric.ops import Op
from verify.strategies import SUPPORTED_OPS, expressions, points


@given(st.data())
def test_numeric_equals_exact_on_random_dags(data):
    expr = data.draw(expressions(max_nodes=5))
    pt = data.draw(points(expr))
    r = verify.check(expr.node, expr.symbols, points=[pt], fd=False)
    assert r.passed, f"{expr!r}\n{r}"


@given(expressions(max_nodes=4))
def test_drawn_expressions_share_a_node(expr):
    users = {}
    for node in toposort([expr.node]):
        for i in node.inputs:
            users[id(i)] = users.get(id(i), 0) + 1
    assert max(users.values()) >= 2


@given(expressions(max_nodes=4))
def test_repr_is_python_that_rebuilds_the_expression(expr):
    ns = {}
    exec(repr(expr), ns)
    assert tuple(ns["expr"].shape) == tuple(expr.node.shape)
    assert len(toposort([ns["expr"]])) == len(toposort([expr.node]))


@given(expressions(max_nodes=3, ops=[Op.MUL, Op.SIN], shapes=[(3, 1), (4,)]))
def test_ops_and_shapes_are_respected(expr):
    ops = {n.op for n in toposort([expr.node]) if n.op is not None}
    assert ops <= {Op.MUL, Op.SIN, Op.ADD}
    # only the symbols the expression uses are listed, with the requested shapes
    assert {tuple(s.shape) for s in expr.symbols} <= {(3, 1), (4,)}
    assert expr.symbols and all(s.value is None for s in expr.symbols)


def test_bad_arguments_are_named_eagerly():
    with pytest.raises(ValueError, match="max_nodes"):
        expressions(max_nodes=0)
    with pytest.raises(TypeError, match="max_nodes"):
        expressions(max_nodes=2.5)
    with pytest.raises(ValueError, match="ops"):
        expressions(ops=[Op.SCATTER_ADD])
    with pytest.raises(TypeError, match="ops"):
        expressions(ops=Op.SIN)
    with pytest.raises(ValueError, match="broadcast"):
        expressions(shapes=[(3,), (4,)])
    with pytest.raises(TypeError, match="Expression"):
        points("x**2")


def test_a_planted_bug_is_found_on_random_dags():
    """With sin's VJP wrong, some drawn expression using sin fails and prints as code."""
    from hypothesis import settings, HealthCheck
    from verify.mutate import perturbed

    @settings(max_examples=30, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def prop(data):
        expr = data.draw(expressions(max_nodes=3, ops=[Op.SIN, Op.MUL]))
        r = verify.check(expr.node, expr.symbols, points=[data.draw(points(expr))], fd=False)
        assert r.passed, f"{expr!r}\n{r}"

    with perturbed(Op.SIN, "scale"):
        with pytest.raises(AssertionError, match="Op.SIN"):
            prop()


def test_default_ops_include_matmul_and_movement_ops():
    from hypothesis import settings
    seen = set()

    # the draws grow with the vocabulary, so each op keeps its chance to appear
    @settings(max_examples=max(400, 8 * len(SUPPORTED_OPS)), derandomize=True, database=None)
    @given(expressions(max_nodes=6))
    def collect(expr):
        seen.update(n.op for n in toposort([expr.node]) if n.op is not None)

    collect()
    assert {Op.MATMUL, Op.RESHAPE, Op.PERMUTE, Op.GETITEM, Op.CONCAT, Op.BROADCAST_TO} <= seen


@pytest.mark.parametrize("op", [Op.MATMUL, Op.GETITEM, Op.CONCAT, Op.PERMUTE])
def test_ops_by_name_and_planted_bug_in_structural_op_is_found(op):
    from hypothesis import settings, HealthCheck
    from verify.mutate import perturbed

    @settings(max_examples=30, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def prop(data):
        expr = data.draw(expressions(max_nodes=3, ops=[op.value, "sin"]))
        r = verify.check(expr, points=[data.draw(points(expr))], fd=False)
        assert r.passed, f"{expr!r}\n{r}"

    prop()  # correct VJPs: no false alarm
    with perturbed(op, "scale"):
        with pytest.raises(AssertionError, match=f"Op.{op.name}"):
            prop()
