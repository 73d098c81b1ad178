"""Acceptance tests for issue 5: the referee (three witnesses, property-based checks).

Written from the issue text, through the public API: ``import verify``,
``import symgrad as sg``, ``import numeric`` and the ``symgrad`` console script.
"""
from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings, strategies as st

import numeric
import symgrad as sg
import verify
from numeric.ops import Op
from verify.opdb import OP_DB
from verify.strategies import SUPPORTED_OPS, expressions, points

ROOT = Path(__file__).resolve().parents[2]


def _tanh_op(name, vjp):
    return sg.custom_op(name, np.tanh, vjp, sympy.tanh)


# ------------------------------------------------------------------ 1. verify.check

def test_check_signature_and_defaults():
    sig = inspect.signature(verify.check)
    params = sig.parameters
    assert list(params)[:2] == ["f", "wrt"]
    for name, default in (("points", None), ("n_points", 20), ("seed", 0)):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[name].default == default


def test_check_tensor_built_over_symbols_uses_twenty_points_by_default():
    x, y = sg.symbol("x", shape=(3,)), sg.symbol("y", shape=(3,))
    report = verify.check((sg.sin(x) * sg.exp(y)).sum(), [x, y])
    assert isinstance(report, verify.Report)
    assert report.passed and bool(report)
    assert report.points_used == 20
    assert [i.name for i in report.inputs] == ["x", "y"]


def test_check_python_function_of_tensors():
    r = verify.check(lambda a, b: sg.softmax(a @ b, dim=0), [(3, 4), (4,)], n_points=4)
    assert r.passed and r.points_used == 4
    assert [i.shape for i in r.inputs] == [(3, 4), (4,)]
    # one input: a single shape, or symbols
    assert verify.check(lambda t: sg.tanh(t), (3,), n_points=2).passed
    s = sg.symbol("s", shape=(2,))
    assert verify.check(lambda t: sg.tanh(t).sum(), [s], n_points=2).passed


def test_check_points_drawn_inside_the_domain():
    x = sg.symbol("x", shape=(4,))
    r = verify.check((sg.log(x) + sg.sqrt(x)).sum(), x, n_points=10)
    assert r.passed and r.points_used == 10
    # a domain that only intermediate values know about: redraw, count as out of domain
    r = verify.check(sg.log(x - 1.0).sum(), x, n_points=5)
    assert r.passed and r.points_used == 5 and r.skipped_domain > 0
    assert r.points_tried == r.points_used + r.skipped_domain + r.skipped_ill


def test_check_points_away_from_kinks_unless_given():
    x = sg.symbol("x", shape=(6,))
    r = verify.check(sg.relu(x).sum() + sg.abs(x).sum(), x, n_points=10)
    assert r.passed
    pt = r.worst.point["x"]
    assert np.all(np.abs(pt) >= 1e-2)
    # points given explicitly are used as they are, even on the kink (PyTorch: relu'(0) = 0)
    r = verify.check(sg.relu(x).sum(), x, points=[np.zeros(6)])
    assert r.points_used == 1 and r.passed


def test_check_given_points_are_converted_exactly():
    x = sg.symbol("x")
    r = verify.check(sg.sin(x) * x, x, points=[0.1, 0.7])
    assert r.points_used == 2 and r.points_tried == 2 and r.passed
    assert r.worst.point["x"] in (0.1, 0.7)  # the very float, not a rounded copy
    # a dict by name is one point too
    assert verify.check(sg.sin(x), x, points=[{"x": 0.3}]).points_used == 1


def test_check_is_deterministic_in_seed():
    x = sg.symbol("x", shape=(3,))
    f = (sg.exp(x) * sg.cos(x)).sum()
    a, b = verify.check(f, x, n_points=3, seed=7), verify.check(f, x, n_points=3, seed=7)
    c = verify.check(f, x, n_points=3, seed=8)
    assert str(a) == str(b)
    assert not np.array_equal(a.worst.point["x"], c.worst.point["x"]) or str(a) != str(c)


def test_report_fields_and_readable_str():
    x, w = sg.symbol("x", shape=(2, 3)), sg.symbol("w", shape=(3,))
    r = verify.check(sg.tanh(x @ w).sum(), [x, w], n_points=4)
    assert r.passed
    for inp in r.inputs:
        assert 0.0 <= inp.max_abs_err < 1e-13
        assert 0.0 <= inp.max_rel_err < 1e-12
        assert 0.0 <= inp.max_ulps < 1e4
        assert inp.max_fd_rel_err < 1e-6  # finite differences: the third opinion
    assert r["w"] is r.inputs[1]
    worst = r.worst
    assert worst.input in ("x", "w") and set(worst.point) == {"x", "w"}
    assert abs(worst.numeric - worst.exact) <= worst.tol
    text = str(r)
    assert text.startswith("verify.check: PASSED")
    for word in ("max abs err", "max rel err", "ulps", "worst", "x", "w"):
        assert word in text
    # str of a failing report names the input, numeric vs exact
    bad = _tanh_op("tanh_bad_str", lambda g, out, t: g * (1 - out))
    text = str(verify.check(lambda t: bad(t), (3,), n_points=2))
    assert text.startswith("verify.check: FAILED") and "numeric" in text and "exact" in text


def test_raise_if_failed():
    bad = _tanh_op("tanh_bad_raise", lambda g, out, t: g * (1 - out))
    r = verify.check(lambda t: bad(t), (3,), n_points=2)
    with pytest.raises(verify.GradientMismatchError) as info:
        r.raise_if_failed()
    assert info.value.report is r
    good = _tanh_op("tanh_good_raise", lambda g, out, t: g * (1 - out ** 2))
    r = verify.check(lambda t: good(t), (3,), n_points=2)
    assert r.raise_if_failed() is r


def test_exact_witness_resolves_float64_rounding():
    """A correct VJP at a cancellation-prone point passes; the tolerance is not 1e-3."""
    x = sg.symbol("x", shape=(3,))
    r = verify.check(sg.expm1(x).sum() + sg.log1p(x).sum(), x,
                     points=[np.array([1e-9, -3e-12, 2.5e-7])])
    assert r.passed
    # a relative error of 1e-8 is far beyond float64 rounding: flagged
    off = sg.custom_op("sin_off", np.sin, lambda g, out, t: g * np.cos(t) * (1 + 1e-8),
                       sympy.sin)
    r = verify.check(lambda t: off(t), (3,), n_points=3)
    assert not r.passed and r.inputs[0].mismatches > 0


def test_float32_engine_is_checked_with_float32_rounding():
    x = sg.symbol("x", shape=(3,))
    r = verify.check((sg.exp(x) * sg.sin(x)).sum(), x, n_points=5, dtype=np.float32)
    assert r.passed


# ------------------------------------------------------------------ 2. verify.gradcheck

def test_gradcheck_signature_and_defaults():
    params = inspect.signature(verify.gradcheck).parameters
    assert list(params)[:2] == ["fn", "inputs"]
    expected = {"eps": 1e-6, "atol": 1e-5, "rtol": 1e-3, "raise_exception": True}
    for name, default in expected.items():
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[name].default == default
    assert "exact" in params


def test_gradcheck_pytorch_meaning():
    a = sg.tensor([0.3, -0.7, 1.1], requires_grad=True)
    b = sg.tensor([[0.5], [2.0]], requires_grad=True)
    assert verify.gradcheck(lambda x, y: sg.sin(x) * y, (a, b)) is True
    assert verify.gradcheck(lambda x: (x.exp().sum(), x * 2.0), a) is True
    # inputs without requires_grad are not checked
    c = sg.tensor([1.0, 2.0, 3.0])
    assert verify.gradcheck(lambda x, y: x * y, (a, c)) is True
    bad = _tanh_op("tanh_bad_gc", lambda g, out, t: g * (1 - out))
    with pytest.raises(verify.GradientMismatchError,
                       match="Jacobian mismatch for output 0 with respect to input 0"):
        verify.gradcheck(lambda x: bad(x), (a,))
    with pytest.raises(RuntimeError):  # what torch.autograd.gradcheck raises
        verify.gradcheck(lambda x: bad(x), (a,), exact=False)
    assert verify.gradcheck(lambda x: bad(x), (a,), raise_exception=False) is False


def test_gradcheck_exact_is_the_default_where_a_sympy_form_exists():
    off = _tanh_op("tanh_off_gc", lambda g, out, t: g * (1 - out ** 2) * 1.0001)
    x = np.array([0.3, -0.7, 1.1])
    assert verify.gradcheck(lambda t: off(t), (x,), exact=False) is True
    assert verify.gradcheck(lambda t: off(t), (x,), raise_exception=False) is False
    assert verify.gradcheck(lambda t: off(t), (x,), exact=True, raise_exception=False) is False
    noform = sg.custom_op("tanh_noform", np.tanh, lambda g, out, t: g * (1 - out ** 2))
    assert verify.gradcheck(lambda t: noform(t), (x,)) is True  # FD only: no exact form


# ------------------------------------------------------------------ 3. custom ops

def test_custom_tanh_wrong_vjp_fails_right_vjp_passes():
    wrong = _tanh_op("tanh_wrong", lambda g, out, x: g * (1 - out))
    right = _tanh_op("tanh_right", lambda g, out, x: g * (1 - out ** 2))
    assert not verify.check(lambda t: wrong(t), (4,)).passed
    r = verify.check(lambda t: right(t), (4,))
    assert r.passed and r.points_used == 20
    # the VJP may name the output y and skip the input: vjp(g, y)
    wrong_y = _tanh_op("tanh_wrong_y", lambda g, y: g * (1 - y))
    right_y = _tanh_op("tanh_right_y", lambda g, y: g * (1 - y ** 2))
    assert not verify.check(lambda t: wrong_y(t), (4,)).passed
    assert verify.check(lambda t: right_y(t), (4,)).passed
    # tensors over symbols too
    x = sg.symbol("x", shape=(2,))
    assert not verify.check(wrong(x).sum(), x).passed
    assert verify.check(right(x).sum(), x).passed


def test_factor_1_0001_fails_check_but_passes_finite_difference_gradcheck():
    off = _tanh_op("tanh_off", lambda g, y: g * (1 - y ** 2) * 1.0001)
    r = verify.check(lambda t: off(t), (3,))
    assert not r.passed
    assert r.inputs[0].max_rel_err == pytest.approx(1e-4, rel=1e-3)
    x = sg.tensor([0.3, -0.7, 1.1], requires_grad=True)
    assert verify.gradcheck(lambda t: off(t), (x,), exact=False) is True


def test_custom_op_with_two_inputs_and_broadcasting():
    hyp = sg.custom_op("hyp", np.hypot,
                       (lambda g, out, x, y: g * x / out, lambda g, out, x, y: g * y / out),
                       lambda x, y: sympy.sqrt(x ** 2 + y ** 2))
    assert verify.check(lambda x, y: hyp(x, y), [(2, 3), (3,)], n_points=4).passed
    swapped = sg.custom_op("hyp_bad", np.hypot,
                           (lambda g, out, x, y: g * x / out, lambda g, out, x, y: g * x / out),
                           lambda x, y: sympy.sqrt(x ** 2 + y ** 2))
    r = verify.check(lambda x, y: swapped(x, y), [(2, 3), (3,)], n_points=4)
    assert not r.passed
    assert r.inputs[0].mismatches == 0 and r.inputs[1].mismatches > 0


# ------------------------------------------------------------------ 4. the op database

def test_op_database_has_one_entry_per_op():
    assert set(OP_DB) == set(Op)
    for op, info in OP_DB.items():
        assert info.op is op
        assert info.arity == numeric.ops.ARITY[op]
        assert info.samples and all(s.shapes for s in info.samples)
        assert len(info.domains) >= 1
        assert isinstance(info.kinks, str)
        assert isinstance(info.second_order, bool)


def test_op_database_samples_include_broadcasting_and_domains_and_kinks():
    shapes = [s.shapes for s in OP_DB[Op.MUL].samples]
    assert any(len(set(sh)) > 1 for sh in shapes)  # broadcasting
    assert OP_DB[Op.LOG].domains[0].name == "positive"
    assert OP_DB[Op.RELU].kinks and not OP_DB[Op.EXP].kinks
    assert not OP_DB[Op.LOG].admissible((np.array([-1.0]),), {}, 0.0)
    assert not OP_DB[Op.RELU].admissible((np.array([0.0]),), {}, 1e-3)


def _case(op, sample=0, dtype=np.float64):
    """Sample ``sample`` of ``op`` over symbols, like a user would build it."""
    info = OP_DB[op]
    s = info.samples[sample]
    grads = info.grad_inputs(len(s.shapes))
    rng = np.random.default_rng(0)
    ins = [sg.symbol(f"a{i}", shape=sh) if i in grads
           else sg.tensor(info.domain(i).sample(rng, sh)) for i, sh in enumerate(s.shapes)]
    out = numeric.kernels.apply(op, *ins, **dict(s.attrs))
    return out, [ins[i] for i in grads]


@pytest.mark.parametrize("op", [Op.DIV, Op.POW, Op.MATMUL, Op.LOGSUMEXP, Op.SOFTMAX,
                                Op.GETITEM, Op.CONCAT, Op.WHERE, Op.MAX, Op.CLAMP],
                         ids=lambda o: o.name)
def test_every_sample_float64_and_float32(op):
    for k in range(len(OP_DB[op].samples)):
        out, wrt = _case(op, k)
        r = verify.check(out, wrt, n_points=2)
        assert r.passed and r.exact_suspect == 0, str(r)
        assert verify.check(out, wrt, n_points=2, dtype=np.float32).passed


def test_generated_per_op_tests_exist_for_every_op():
    """The per-op suite is generated from OP_DB (float64, float32, second derivatives)."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           str(ROOT / "tests" / "verify" / "test_opdb.py")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ids = proc.stdout
    for op in Op:
        name = op.name.lower()
        assert f"test_numeric_matches_exact_and_fd_float64[{name}-" in ids, name
        assert f"test_float32_within_float32_rounding[{name}-" in ids, name
        assert f"test_second_derivatives[{op.name}]" in ids, name


def test_second_derivatives_through_create_graph():
    x = sg.tensor([0.3, 0.9, -0.4], requires_grad=True, name="x")
    y = (sg.sin(x) * sg.exp(x)).sum()
    (g,) = sg.autograd.grad(y, [x], create_graph=True)
    r = verify.check((g * sg.tensor([0.5, 1.0, 2.0])).sum(), [x], n_points=3)
    assert r.passed, str(r)


# ------------------------------------------------------------------ 5. strategies

def test_expressions_keyword_arguments_and_eager_validation():
    params = inspect.signature(expressions).parameters
    for name in ("max_nodes", "ops", "shapes"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
    with pytest.raises(ValueError, match="max_nodes"):
        expressions(max_nodes=0)
    with pytest.raises(ValueError, match="broadcast"):
        expressions(shapes=[(3,), (4,)])
    with pytest.raises((TypeError, ValueError), match="ops"):
        expressions(ops=["no_such_op"])
    assert verify.strategies.expressions is expressions  # import verify is enough


def _users(node):
    users = {}
    for n in numeric.graph.toposort([node]):
        for i in n.inputs:
            users[id(i)] = users.get(id(i), 0) + 1
    return users


@settings(max_examples=40, derandomize=True, database=None, deadline=None)
@given(expressions(max_nodes=5))
def test_drawn_dags_have_sharing_and_print_as_code(expr):
    assert max(_users(expr.node).values()) >= 2
    ns = {}
    exec(repr(expr), ns)  # the code rebuilds the expression
    assert tuple(ns["expr"].shape) == tuple(expr.node.shape)
    assert len(numeric.graph.toposort([ns["expr"]])) == len(numeric.graph.toposort([expr.node]))


def test_drawn_dags_mix_shapes_and_op_kinds():
    seen_ops, seen_shapes = set(), set()

    # the draws grow with the vocabulary, so each op keeps its chance to appear
    @settings(max_examples=max(300, 8 * len(SUPPORTED_OPS)), derandomize=True, database=None,
              deadline=None)
    @given(expressions(max_nodes=6))
    def collect(expr):
        for n in numeric.graph.toposort([expr.node]):
            seen_shapes.add(tuple(n.shape))
            if n.op is not None:
                seen_ops.add(n.op)

    collect()
    assert {Op.MATMUL, Op.RESHAPE, Op.GETITEM, Op.CONCAT, Op.STACK, Op.BROADCAST_TO} <= seen_ops
    assert len(seen_ops) >= 25
    assert {0, 1, 2} <= {len(s) for s in seen_shapes}


@settings(max_examples=20, derandomize=True, database=None, deadline=None)
@given(expressions(max_nodes=3, ops=[Op.MUL, "sin", Op.LOG], shapes=[(2, 1), (3,)]))
def test_ops_and_shapes_arguments_are_respected(expr):
    ops = {n.op for n in numeric.graph.toposort([expr.node]) if n.op is not None}
    guards = {Op.ADD, Op.SIGMOID}  # sharing and the domain guard before log
    assert ops <= {Op.MUL, Op.SIN, Op.LOG} | guards
    assert {tuple(s.shape) for s in expr.symbols} <= {(2, 1), (3,)}


@settings(max_examples=30, derandomize=True, database=None, deadline=None)
@given(st.data())
def test_property_numeric_equals_exact_on_random_dags(data):
    expr = data.draw(expressions(max_nodes=5))
    pt = data.draw(points(expr))
    r = verify.check(expr.node, expr.symbols, points=[pt])
    assert r.passed, f"{expr!r}\n{r}"


@settings(max_examples=20, derandomize=True, database=None, deadline=None)
@given(st.data())
def test_points_lie_inside_every_domain(data):
    expr = data.draw(expressions(max_nodes=4, ops=[Op.LOG, Op.SQRT, Op.DIV, Op.MUL]))
    pt = data.draw(points(expr))
    bind = dict(zip([s.name for s in expr.symbols], pt))
    for n in numeric.graph.toposort([expr.node]):
        pass
    values = sg.evaluate(expr.node, {s: v for s, v in zip(expr.symbols, pt)})
    assert np.all(np.isfinite(values)) and len(bind) == len(expr.symbols)


def test_failure_shrinks_to_minimal_pasteable_code():
    badtanh = sg.custom_op("badtanh", np.tanh, lambda g, y: g * (1 - y), sympy.tanh)

    @settings(max_examples=60, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def test_user_property(data):
        expr = data.draw(expressions(max_nodes=4, ops=[badtanh, Op.MUL, Op.SIN, Op.SUM]))
        r = verify.check(expr, points=[data.draw(points(expr))], fd=False)
        if not r.passed:  # (a plain raise: pytest rewrites messages of assert statements)
            raise AssertionError(f"{expr!r}\n{r}")

    with pytest.raises(AssertionError) as info:
        test_user_property()
    err = info.value
    printed = "\n".join(getattr(err, "__notes__", []))
    assert "Falsifying example" in printed or "Failing test case" in printed
    code = str(err).split("\nverify.check: FAILED")[0]
    assert code.rstrip().splitlines()[-1].startswith("expr = ")
    assert code in printed  # the falsifying example is the same code
    # minimal: one leaf, the broken op and the op that makes the sharing
    body = [l for l in code.splitlines() if " = " in l and not l.startswith(("import", "from"))]
    assert sum("badtanh(" in l for l in body) == 1 and len(body) <= 4, code
    # pasteable: it runs where badtanh is defined, and the pasted expression still fails
    ns = {"badtanh": badtanh}
    exec(code, ns)
    assert not verify.check(ns["expr"], n_points=3).passed
    # and the drawn point prints as code too
    point_line = next(l for l in printed.splitlines() if l.startswith("Draw 2: "))
    point = eval(point_line[len("Draw 2: "):], {"np": np})
    assert not verify.check(ns["expr"], points=[point]).passed


# ------------------------------------------------------------------ 6. profiles

def test_ci_and_thorough_profiles_are_registered():
    assert settings.get_profile("ci").derandomize is True
    assert settings.get_profile("thorough").max_examples > settings.get_profile("ci").max_examples
    assert verify.profiles.load_profile("ci") == "ci"


def test_thorough_profile_is_chosen_with_an_environment_variable():
    code = ("import verify.strategies\nfrom hypothesis import settings\n"
            "print(settings.default.max_examples, settings.default.derandomize)")
    env = dict(os.environ, SYMGRAD_PROFILE="thorough")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1000", "False"]
    env["SYMGRAD_PROFILE"] = "ci"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.split()[1] == "True"


# ------------------------------------------------------------------ 7. symgrad verify

def _symgrad():
    exe = Path(sys.executable).with_name("symgrad")
    return str(exe) if exe.exists() else shutil.which("symgrad")


def _run_cli(args, env=None, timeout=300):
    exe = _symgrad()
    assert exe, "the symgrad console script is not installed"
    return subprocess.run([exe, "verify", *args], capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), timeout=timeout, cwd=ROOT)


@pytest.mark.serial      # timed: `make test` runs it alone, after the parallel part
def test_cli_verify_examples_200_passes_in_under_two_minutes(tmp_path):
    path = tmp_path / "verify.json"
    start = time.perf_counter()
    proc = _run_cli(["--examples", "200", "--seed", "0", "--json", str(path)])
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert elapsed < 120, f"symgrad verify --examples 200 took {elapsed:.0f}s"
    out = proc.stdout
    header = next(l for l in out.splitlines() if l.startswith("op "))
    for col in ("max rel err (exact)", "max rel err (FD)", "points", "out of domain"):
        assert col in header
    rows = {l.split()[0]: l for l in out.splitlines() if l.split() and l.split()[0] in
            {o.name.lower() for o in Op}}
    assert set(rows) == {o.name.lower() for o in OP_DB}
    assert all(l.rstrip().endswith("ok") for l in rows.values())
    data = json.loads(path.read_text())
    assert data["passed"] is True and len(data["ops"]) == len(OP_DB)
    assert all(r["used"] >= 200 for r in data["ops"])
    assert data["dags"]["examples"] >= 50


def test_cli_verify_ops_seed_and_injected_bug_exit_nonzero():
    proc = _run_cli(["--ops", "exp,mul", "--examples", "6", "--seed", "3"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # first-order passes only: the paths pass (issue 15) rightly flags exp too, since
    # exp's second derivative runs mul's VJP under create_graph
    proc = _run_cli(["--ops", "exp,mul", "--examples", "6", "--passes",
                     "domain,extremes,kinks,sizes,f32,fwd"],
                    env={"SYMGRAD_VERIFY_INJECT": "mul:scale:1"})
    assert proc.returncode != 0
    line = next(l for l in proc.stdout.splitlines() if l.startswith("mul "))
    assert "FAIL" in line
    assert next(l for l in proc.stdout.splitlines() if l.startswith("exp ")).endswith("ok")


def test_cli_verify_rejects_an_unknown_op():
    proc = _run_cli(["--ops", "frobnicate", "--examples", "2"])
    assert proc.returncode != 0 and "frobnicate" in proc.stderr + proc.stdout


# ------------------------------------------------------------------ 8. the verifier tests itself

def _perturb(rule, kind):
    def bad(c):
        if kind == "scale":
            return c * 1.001
        if kind == "drop":
            return np.zeros_like(np.asarray(c))
        return -c

    def wrong(g, out, *xs, **attrs):
        c = rule(g, out, *xs, **attrs)
        # a variadic op's VJP (cat, stack) returns every input's cotangent at once
        # (docs/architecture.md, "The VJP contract")
        return tuple(bad(ci) for ci in c) if isinstance(c, tuple) else bad(c)
    return wrong


@pytest.mark.parametrize("kind", ["scale", "drop", "sign"])
def test_every_op_every_perturbation_is_flagged(kind, monkeypatch):
    missed = []
    # a zero gradient (rounding ops) is unchanged by these perturbations; tests/verify/
    # test_self.py flags a nonzero one for them
    for op in sorted((o for o in OP_DB if not OP_DB[o].zero_grad), key=lambda o: o.name):
        rules = numeric.VJP[op]
        positions = [0] if op in numeric.ops.VARIADIC else \
            [i for i, r in enumerate(rules) if r is not None
             and f"mutants[{i}]" not in OP_DB[op].xfails]   # a zero gradient stays 0
        for argnum in positions:
            new = tuple(_perturb(r, kind) if i == argnum else r for i, r in enumerate(rules))
            monkeypatch.setitem(numeric.VJP, op, new)
            out, wrt = _case(op, 0)
            if op is Op.WHERE:
                argnum -= 1  # the condition has no gradient
            r = verify.check(out, wrt, n_points=2)
            if r.passed:
                missed.append(f"{op.name}[{argnum}]")
            monkeypatch.setitem(numeric.VJP, op, rules)
    assert not missed, f"{kind}: not flagged: {missed}"
