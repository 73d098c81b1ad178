"""Acceptance tests for issue 2: the foundation and the numeric reverse-mode engine.

Written from the issue text alone, against the public API (``import numeric``),
with a user-written node class that exposes only what the issue names: an op
(an ``Op`` or its name), inputs, attributes and a value.
"""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest

import numeric
from numeric import Op
from verify.opdb import OP_DB

ROOT = Path(__file__).resolve().parents[2]

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None


# ----------------------------------------------------------------------------- helpers
class Node:
    """The smallest node a user would write: op, inputs, attrs, value (no requires_grad)."""

    def __init__(self, op, inputs=(), attrs=None, value=None):
        self.op = op
        self.inputs = tuple(inputs)
        self.attrs = dict(attrs or {})
        self.value = value


def leaf(value, dtype=np.float64):
    return Node(None, (), {}, np.asarray(value, dtype=dtype))


def apply(op, *inputs, **attrs):
    return Node(op, inputs, attrs, numeric.FORWARD[op](*(i.value for i in inputs), **attrs))


def grads_of(out, leaves, ct):
    got = numeric.backward([out], [ct])
    return [got.get(id(lf)) for lf in leaves]


def fd_grads(f, values, ct, eps=1e-6):
    """Central finite differences of <ct, f(*values)> w.r.t. every float input."""
    out = []
    for k, v in enumerate(values):
        if v.dtype.kind != "f":
            out.append(None)
            continue
        g = np.zeros_like(v, dtype=np.float64)
        for idx in np.ndindex(v.shape):
            hi = [x.copy() for x in values]
            lo = [x.copy() for x in values]
            hi[k][idx] += eps
            lo[k][idx] -= eps
            g[idx] = (np.sum(ct * f(*hi)) - np.sum(ct * f(*lo))) / (2 * eps)
        out.append(g)
    return out


rng = np.random.default_rng(20240601)


def U(shape, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, size=shape)


def away(shape, lo=0.3, hi=2.0):
    """Values with |x| in [lo, hi], random sign: away from kinks at 0."""
    return np.asarray(rng.uniform(lo, hi, size=shape) * rng.choice([-1.0, 1.0], size=shape))


# Each case: (id, op, [input arrays], attrs, [which inputs are differentiated])
BIN_SHAPES = [((3, 4), (3, 4)), ((), (3, 4)), ((3, 4), ()), ((3, 1), (1, 4)), ((2, 3, 4), (4,)),
              ((4,), (2, 3, 1))]


def _cases():
    cases = []
    for sa, sb in BIN_SHAPES:
        tag = f"{sa}x{sb}"
        cases += [
            (f"add{tag}", Op.ADD, [U(sa), U(sb)], {}),
            (f"sub{tag}", Op.SUB, [U(sa), U(sb)], {}),
            (f"mul{tag}", Op.MUL, [U(sa), U(sb)], {}),
            (f"div{tag}", Op.DIV, [U(sa), away(sb, 0.5, 2.0)], {}),
            (f"pow{tag}", Op.POW, [U(sa, 0.5, 2.0), U(sb, -1.5, 1.5)], {}),
            (f"maximum{tag}", Op.MAXIMUM, [U(sa), U(sb)], {}),
            (f"minimum{tag}", Op.MINIMUM, [U(sa), U(sb)], {}),
        ]
    unary = [
        (Op.NEG, U), (Op.EXP, U), (Op.LOG, lambda s: U(s, 0.3, 3.0)),
        (Op.LOG1P, lambda s: U(s, -0.7, 3.0)), (Op.EXPM1, U), (Op.SQRT, lambda s: U(s, 0.3, 3)),
        (Op.SIN, U), (Op.COS, U), (Op.TAN, lambda s: U(s, -1.2, 1.2)), (Op.TANH, U),
        (Op.SIGMOID, U), (Op.SOFTPLUS, U), (Op.RELU, away), (Op.ABS, away),
    ]
    for shape in [(), (5,), (3, 4)]:
        for op, gen in unary:
            cases.append((f"{op.value}{shape}", op, [gen(shape)], {}))
        x = U(shape, -3, 3)
        x = np.where(np.abs(np.abs(x) - 1) < 0.1, x + 0.3, x)   # away from the bounds
        cases.append((f"clamp{shape}", Op.CLAMP, [x], {"min": -1.0, "max": 1.0}))
        cases.append((f"clamp_min{shape}", Op.CLAMP, [x], {"min": -1.0, "max": None}))
        cases.append((f"clamp_max{shape}", Op.CLAMP, [x], {"min": None, "max": 1.0}))
    for sc, sx, sy in [((3, 4), (3, 4), (3, 4)), ((3, 1), (1, 4), ()), ((4,), (3, 4), (3, 1))]:
        cases.append((f"where{sc}{sx}{sy}", Op.WHERE,
                      [rng.random(sc) > 0.5, U(sx), U(sy)], {}))
    for sa, sb in [((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 5)), ((3, 4), (4, 5)),
                   ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)),
                   ((4,), (2, 4, 5)), ((2, 3, 4), (4,))]:
        cases.append((f"matmul{sa}{sb}", Op.MATMUL, [U(sa), U(sb)], {}))
    for op in (Op.SUM, Op.MEAN, Op.MAX, Op.MIN, Op.LOGSUMEXP):
        for axis in (None, (0,), (1,), (0, 2), (2,), 1, -1):
            for keepdims in (False, True):
                cases.append((f"{op.value}-{axis}-{keepdims}", op, [U((2, 3, 4))],
                              {"axis": axis, "keepdims": keepdims}))
    for op in (Op.SOFTMAX, Op.LOG_SOFTMAX):
        for axis in (0, 1, -1):
            cases.append((f"{op.value}-{axis}", op, [U((3, 4), -3, 3)], {"axis": axis}))
    cases += [
        ("reshape", Op.RESHAPE, [U((2, 6))], {"shape": (3, 4)}),
        ("reshape-scalar", Op.RESHAPE, [U((1, 1))], {"shape": ()}),
        ("permute", Op.PERMUTE, [U((2, 3, 4))], {"axes": (2, 0, 1)}),
        ("transpose", Op.PERMUTE, [U((3, 4))], {"axes": (1, 0)}),
        ("broadcast_to", Op.BROADCAST_TO, [U((3, 1))], {"shape": (2, 3, 4)}),
        ("broadcast_to-scalar", Op.BROADCAST_TO, [U(())], {"shape": (2, 3)}),
        ("getitem-slice", Op.GETITEM, [U((4, 5))], {"index": (slice(1, 3), slice(None, None, 2))}),
        ("getitem-int", Op.GETITEM, [U((4, 5))], {"index": (2,)}),
        ("getitem-intarray", Op.GETITEM, [U((4, 5))], {"index": (np.array([0, 2, 0, 3]),)}),
        ("getitem-2arrays", Op.GETITEM, [U((4, 5))],
         {"index": (np.array([0, 1, 1]), np.array([4, 0, 0]))}),
        ("getitem-bool", Op.GETITEM, [U((4, 5))],
         {"index": (np.array([True, False, True, True]),)}),
        ("getitem-boolmatrix", Op.GETITEM, [U((2, 3))],
         {"index": (np.array([[True, False, True], [False, True, True]]),)}),
        ("getitem-mixed", Op.GETITEM, [U((4, 5))], {"index": (slice(None), np.array([1, 1, 3]))}),
        ("concat0", Op.CONCAT, [U((2, 3)), U((1, 3)), U((4, 3))], {"axis": 0}),
        ("concat1", Op.CONCAT, [U((2, 3)), U((2, 1))], {"axis": 1}),
        ("concat-neg", Op.CONCAT, [U((2, 3)), U((2, 1))], {"axis": -1}),
        ("stack0", Op.STACK, [U((2, 3)), U((2, 3))], {"axis": 0}),
        ("stack2", Op.STACK, [U((2, 3)), U((2, 3)), U((2, 3))], {"axis": 2}),
        ("stack-neg", Op.STACK, [U((2, 3)), U((2, 3))], {"axis": -1}),
    ]
    return cases


CASES = _cases()


def _run_case(op, values, attrs, dtype):
    vals = [v.astype(dtype) if v.dtype.kind == "f" else v for v in values]
    leaves = [Node(None, (), {}, v) for v in vals]
    out = apply(op, *leaves, **attrs)
    ct = rng.standard_normal(out.value.shape).astype(out.value.dtype)
    return leaves, out, ct, grads_of(out, leaves, ct)


# ----------------------------------------------------------------------------- 1. skeleton
def test_skeleton_directories_and_files_exist():
    for name in ["symgrad", "numeric", "verify", "tests", "docs", "bench"]:
        assert (ROOT / name).is_dir(), name
    for name in ["pyproject.toml", "README.md", "Makefile", ".ci/run"]:
        assert (ROOT / name).is_file(), name
    assert os.access(ROOT / ".ci/run", os.X_OK)


@pytest.mark.skipif(tomllib is None, reason="tomllib needs Python >= 3.11")
def test_pyproject_declares_the_distribution():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = meta["project"]
    assert project["name"] == "symgrad"
    assert project["requires-python"].replace(" ", "") == ">=3.10"
    deps = " ".join(project["dependencies"]).lower()
    for dep in ["numpy", "sympy", "hypothesis"]:
        assert dep in deps
    assert any("pytest" in d for d in project["optional-dependencies"]["test"])
    include = meta["tool"]["setuptools"]["packages"]["find"]["include"]
    for pkg in ["symgrad", "numeric", "verify"]:
        assert any(p.split("*")[0] == pkg for p in include), pkg


def test_makefile_has_demo_and_test_and_ci_calls_make_test():
    make = (ROOT / "Makefile").read_text()
    assert "\ndemo:" in make and "\ntest:" in make
    assert ".venv" in make and "symgrad demo" in make and "pytest" in make
    assert "[test]" in make
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_packages_import():
    import symgrad  # noqa: F401
    import verify  # noqa: F401
    assert numeric.Op is Op


# ----------------------------------------------------------------------------- 3. op tables
ISSUE_OPS = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "log1p", "expm1", "sqrt",
             "sin", "cos", "tan", "tanh", "sigmoid", "softplus", "relu", "abs", "maximum",
             "minimum", "where", "clamp", "matmul", "sum", "mean", "max", "min", "reshape",
             "permute", "broadcast_to", "getitem", "stack", "logsumexp", "softmax",
             "log_softmax"]


def test_op_enum_has_every_op_of_the_issue():
    names = {op.name.lower() for op in Op} | {op.value for op in Op}
    for name in ISSUE_OPS:
        assert name in names, name
    assert Op.CONCAT in Op or Op.CONCATENATE in Op
    # the issue's spellings are accepted too
    assert Op["CONCATENATE"] is Op.CONCAT and Op("concatenate") is Op.CONCAT
    assert Op["TRANSPOSE"] is Op.PERMUTE and Op("transpose") is Op.PERMUTE
    assert Op("add") is Op.ADD


def test_forward_and_vjp_tables_cover_every_op():
    assert set(numeric.FORWARD) == set(Op)
    assert set(numeric.VJP) == set(Op)
    for op in Op:
        assert callable(numeric.FORWARD[op])
        rules = numeric.VJP[op]
        assert isinstance(rules, tuple) and rules
        # an op without any VJP is one the op database lists as having no gradient
        # (isnan, bitwise ops: bool or integer results, issue 11)
        assert any(callable(r) for r in rules) or not OP_DB[op].has_gradient, op
        assert all(r is None or callable(r) for r in rules)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_vjp_matches_central_finite_differences_float64(case):
    _, op, values, attrs = case
    leaves, out, ct, got = _run_case(op, values, attrs, np.float64)
    want = fd_grads(lambda *xs: numeric.FORWARD[op](*xs, **attrs), [lf.value for lf in leaves], ct)
    for k, (g, w) in enumerate(zip(got, want)):
        if w is None:
            assert g is None, f"input {k} is not differentiable"
            continue
        assert g is not None, f"no gradient for input {k}"
        assert g.shape == leaves[k].value.shape, (k, g.shape)
        assert g.dtype == np.float64
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6, err_msg=f"input {k}")


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_float32_in_float32_out_values_and_gradients(case):
    _, op, values, attrs = case
    leaves, out, ct, got = _run_case(op, values, attrs, np.float32)
    assert out.value.dtype == np.float32, out.value.dtype
    assert isinstance(out.value, np.ndarray)
    want = fd_grads(lambda *xs: numeric.FORWARD[op](*xs, **attrs),
                    [lf.value.astype(np.float64) if lf.value.dtype.kind == "f" else lf.value
                     for lf in leaves], ct.astype(np.float64))
    for k, (g, w) in enumerate(zip(got, want)):
        if w is None:
            continue
        assert g.dtype == np.float32, (k, g.dtype)
        assert g.shape == leaves[k].value.shape
        np.testing.assert_allclose(g, w, rtol=2e-3, atol=2e-3, err_msg=f"input {k}")


@pytest.mark.parametrize("kind", ["tensor**const", "const**tensor", "tensor**tensor"])
def test_pow_three_forms(kind):
    x, y = np.array([0.5, 1.5, 2.0]), np.array([2.0, -1.0, 0.5])
    c = np.array(3.0)
    if kind == "tensor**const":
        a, b = leaf(x), leaf(c)
        want = [3 * x ** 2, None]
    elif kind == "const**tensor":
        a, b = leaf(c), leaf(y)
        want = [None, 3.0 ** y * np.log(3.0)]
    else:
        a, b = leaf(x), leaf(y)
        want = [y * x ** (y - 1), x ** y * np.log(x)]
    out = apply(Op.POW, a, b)
    got = numeric.backward([out], [np.ones(out.value.shape)])
    for lf, w in zip((a, b), want):
        if w is not None:
            np.testing.assert_allclose(got[id(lf)].reshape(np.shape(w)), w, rtol=1e-12)
    assert got[id(b)].shape == b.value.shape


def test_binary_vjp_reduces_to_each_input_shape():
    a, b = leaf(np.ones((3, 1))), leaf(np.ones((1, 4)))
    out = apply(Op.MUL, a, b)
    got = numeric.backward([out], [np.ones((3, 4))])
    assert got[id(a)].shape == (3, 1) and got[id(b)].shape == (1, 4)
    np.testing.assert_array_equal(got[id(a)], np.full((3, 1), 4.0))
    np.testing.assert_array_equal(got[id(b)], np.full((1, 4), 3.0))
    s, m = leaf(2.0), leaf(np.arange(6.0).reshape(2, 3))
    out = apply(Op.ADD, s, m)
    got = numeric.backward([out], [np.ones((2, 3))])
    assert got[id(s)].shape == () and float(got[id(s)]) == 6.0


def test_unbroadcast_is_public():
    g = numeric.unbroadcast(np.ones((2, 3, 4)), (3, 1), np.float32)
    assert g.shape == (3, 1) and g.dtype == np.float32
    np.testing.assert_array_equal(g, np.full((3, 1), 8.0))


# ----------------------------------------------------------------------------- 4. executor
def test_fan_out_x_times_x_plus_x_gives_2x_plus_1():
    x = leaf([1.0, -2.0, 3.5])
    f = apply(Op.ADD, apply(Op.MUL, x, x), x)
    got = numeric.backward([f], [np.ones(3)])
    np.testing.assert_allclose(got[id(x)], 2 * x.value + 1)


def test_single_output_and_cotangent_without_lists():
    x = leaf([1.0, 2.0])
    f = apply(Op.MUL, x, x)
    got = numeric.backward(f, np.ones(2))
    np.testing.assert_allclose(got[id(x)], [2.0, 4.0])


def test_op_given_by_name():
    x = leaf([1.0, 2.0])
    y = Node("mul", (x, x), {}, x.value * x.value)
    z = Node("sum", (y,), {"axis": None, "keepdims": False}, np.sum(y.value))
    got = numeric.backward([z], [np.array(1.0)])
    np.testing.assert_allclose(got[id(x)], [2.0, 4.0])
    assert numeric.evaluate([z], {id(x): np.array([3.0, 4.0])})[0] == 25.0


def test_chain_of_100000_ops_without_recursion_error():
    x = leaf(np.array([0.5]))
    one = leaf(np.array([1.0]))
    node = x
    for _ in range(100_000):
        node = Node(Op.MUL, (node, one), {}, node.value)
    got = numeric.backward([node], [np.ones(1)])
    np.testing.assert_allclose(got[id(x)], [1.0])
    order = numeric.toposort([node])
    assert len(order) == 100_002


def test_nodes_are_freed_after_backward_weakref():
    x = leaf([1.0, 2.0])
    y = apply(Op.EXP, x)
    z = apply(Op.SUM, apply(Op.MUL, y, y), axis=None, keepdims=False)
    refs = [weakref.ref(y), weakref.ref(z)]
    got = numeric.backward([z], [np.array(1.0)])
    np.testing.assert_allclose(got[id(x)], 2 * np.exp(2 * x.value))
    del y, z, got
    gc.collect()
    assert all(r() is None for r in refs)


def test_only_paths_to_inputs_that_need_gradients(monkeypatch):
    class RG(Node):
        def __init__(self, *a, requires_grad=True, **k):
            super().__init__(*a, **k)
            self.requires_grad = requires_grad

    calls = []
    exp_rule = numeric.VJP[Op.EXP][0]

    def spy(g, out, x):
        calls.append("exp")
        return exp_rule(g, out, x)
    monkeypatch.setitem(numeric.VJP, Op.EXP, (spy,))
    x = RG(None, (), {}, np.array([1.0]))
    c = RG(None, (), {}, np.array([2.0]), requires_grad=False)
    ec = RG(Op.EXP, (c,), {}, np.exp(c.value), requires_grad=False)
    out = RG(Op.MUL, (x, ec), {}, x.value * ec.value)
    got = numeric.backward([out], [np.ones(1)])
    assert calls == []                    # no VJP along the constant branch
    assert id(c) not in got and id(ec) not in got
    np.testing.assert_allclose(got[id(x)], np.exp([2.0]))


def test_targets_select_gradients():
    x, y = leaf([2.0]), leaf([3.0])
    m = apply(Op.MUL, x, y)
    out = apply(Op.EXP, m)
    got = numeric.backward([out], [np.ones(1)], targets=[m, x])
    np.testing.assert_allclose(got[id(m)], np.exp([6.0]))
    np.testing.assert_allclose(got[id(x)], 3 * np.exp([6.0]))
    assert id(y) not in got


def test_several_outputs_accumulate():
    x = leaf([2.0])
    a, b = apply(Op.MUL, x, x), apply(Op.EXP, x)
    got = numeric.backward([a, b], [np.ones(1), np.full(1, 2.0)])
    np.testing.assert_allclose(got[id(x)], 4.0 + 2 * np.exp(2.0))


def test_numeric_never_imports_sympy_or_symgrad():
    code = ("import numeric, sys; assert 'sympy' not in sys.modules; "
            "assert 'symgrad' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ----------------------------------------------------------------------------- 5. stability
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("op,attrs", [
    (Op.SIGMOID, {}), (Op.SOFTPLUS, {}), (Op.LOGSUMEXP, {"axis": None, "keepdims": False}),
    (Op.LOGSUMEXP, {"axis": (0,), "keepdims": True}), (Op.SOFTMAX, {"axis": 0}),
    (Op.LOG_SOFTMAX, {"axis": 0}),
])
def test_stable_kernels_finite_up_to_1e4(op, attrs, dtype):
    x = leaf(np.array([-1e4, -50.0, -1.0, 0.0, 1.0, 50.0, 1e4]), dtype)
    out = apply(op, x, **attrs)
    assert np.all(np.isfinite(out.value)) and out.value.dtype == dtype
    got = numeric.backward([out], [np.ones(out.value.shape, dtype)])
    assert np.all(np.isfinite(got[id(x)])) and got[id(x)].dtype == dtype


def test_stable_kernel_values_at_extremes():
    x = np.array([-1e4, 0.0, 1e4])
    np.testing.assert_allclose(numeric.apply(Op.SIGMOID, x), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(numeric.apply(Op.SOFTPLUS, x), [0.0, np.log(2), 1e4])
    np.testing.assert_allclose(numeric.apply(Op.LOGSUMEXP, np.array([1e4, 1e4]), axis=None),
                               1e4 + np.log(2))
    np.testing.assert_allclose(numeric.apply(Op.SOFTMAX, x, axis=0), [0.0, 0.0, 1.0])
    np.testing.assert_allclose(numeric.apply(Op.LOG_SOFTMAX, x, axis=0), [-2e4, -1e4, 0.0])
    xs = leaf(x)
    sp = apply(Op.SOFTPLUS, xs)
    g = numeric.backward([sp], [np.ones(3)])[id(xs)]
    np.testing.assert_allclose(g, [0.0, 0.5, 1.0])      # softplus' = sigmoid


def _grad1(op, x, **attrs):
    xs = leaf(x)
    out = apply(op, xs, **attrs)
    return numeric.backward([out], [np.ones(out.value.shape)])[id(xs)]


def test_kink_conventions_are_pytorchs():
    np.testing.assert_array_equal(_grad1(Op.RELU, [0.0, -1.0, 2.0]), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(_grad1(Op.ABS, [0.0, -1.0, 2.0]), [0.0, -1.0, 1.0])
    x, y = leaf([1.0, 2.0]), leaf([1.0, 3.0])
    for op in (Op.MAXIMUM, Op.MINIMUM):
        out = apply(op, x, y)
        got = numeric.backward([out], [np.ones(2)])
        assert got[id(x)][0] == 0.5 and got[id(y)][0] == 0.5
    np.testing.assert_array_equal(_grad1(Op.MAX, [3.0, 1.0, 3.0], axis=None), [0.5, 0.0, 0.5])
    np.testing.assert_array_equal(_grad1(Op.MIN, [1.0, 1.0, 3.0], axis=None), [0.5, 0.5, 0.0])


def test_kink_conventions_are_documented():
    text = (ROOT / "docs" / "conventions.md").read_text().lower()
    for word in ["relu", "abs", "maximum", "minimum", "tie"]:
        assert word in text


# ----------------------------------------------------------------------------- done when
def test_bench_per_op_script_and_performance_doc():
    assert (ROOT / "bench" / "per_op.py").is_file()
    text = (ROOT / "docs" / "performance.md").read_text()
    assert "Per-op overhead of the executor" in text
    assert "numpy" in text.lower()


def test_bench_per_op_runs_quickly():
    from bench import per_op
    rows = per_op.run(quick=True) if "quick" in per_op.run.__code__.co_varnames else None
    if rows is not None:
        assert rows
