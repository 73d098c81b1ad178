"""verify on user code: eager tensors, verdicts at given points, points() of a Tensor, CLI."""
import argparse
import subprocess
import sys

import numpy as np
import pytest
import sympy
from hypothesis import find, given, settings, strategies as st

import symgrad as sg
import verify
from symgrad import cli as sg_cli
from verify import cli
from verify.report import AT_KINK, ILL_CONDITIONED, NEAR_KINK, OUT_OF_DOMAIN
from verify.strategies import points


def _exact_grad(x):
    # d/dx (x**3 sin x) = 3x^2 sin x + x^3 cos x
    return 3 * x ** 2 * np.sin(x) + x ** 3 * np.cos(x)


# --------------------------------------------------------------- 1. eager tensors
def test_eager_tensor_inputs_are_the_leaves_that_require_grad():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    r = verify.check(x ** 3 * sg.sin(x), n_points=1)
    assert r.passed, r
    assert [i.name for i in r.inputs] == ["x"] and r.inputs[0].shape == (2,)
    # the first point is the tensor's current value
    assert r.points_used == 1 and r.worst.point["x"].tolist() == [1.0, 2.0]


def test_eager_tensor_first_point_then_sampled_points():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    r = verify.check(x ** 3 * sg.sin(x), n_points=6)
    assert r.passed and r.points_used == 6
    # the check is scalarized along a random cotangent; numeric agrees with exact there
    assert r["x"].max_err_over_tol < 1.0 and r["x"].mismatches == 0


def test_eager_tensor_leaves_without_grad_are_data():
    x = sg.tensor([0.5, -1.5], requires_grad=True)
    w = sg.tensor([2.0, 3.0])                       # no grad: a constant of the check
    named = sg.tensor([4.0, -1.0], name="b")        # named, no grad: bound at its value
    f = (x * w + named * x).sum()
    r = verify.check(f, n_points=2)
    assert [i.name for i in r.inputs] == ["x"]
    assert r.passed, r
    # the gradient is w + b at every point: check one value through the worst point
    assert r.worst.exact in (6.0, 2.0)


def test_eager_tensor_after_backward():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    f = (x ** 3 * sg.sin(x)).sum()
    f.backward()
    assert np.allclose(x.grad.numpy(), _exact_grad(np.array([1.0, 2.0])))
    r = verify.check(f, n_points=1)      # the handle graph is freed, the node graph is not
    assert r.passed, r
    assert [i.name for i in r.inputs] == ["x"]
    assert r.worst.point["x"].tolist() == [1.0, 2.0]
    assert abs(r.worst.exact - _exact_grad(np.array([1.0, 2.0]))[r.worst.index]) < 1e-14


def test_eager_tensor_with_wrt():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    y = sg.tensor([0.5, 0.25], requires_grad=True)
    f = (x * y).sum()
    r = verify.check(f, wrt=[y], n_points=1)
    assert [i.name for i in r.inputs] == ["y"] and r.passed
    assert r.worst.point["y"].tolist() == [0.5, 0.25]
    assert r.worst.exact in (1.0, 2.0)           # d/dy = x


def test_eager_tensor_wrong_vjp_is_caught_at_its_current_value():
    bad = sg.custom_op("bad_cube", lambda v: v ** 3, lambda g, out, v: g * 3 * v,
                       lambda v: v ** 3)
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    r = verify.check(bad(x).sum(), points=None, n_points=1)
    assert not r.passed and r["x"].mismatches >= 1
    assert r.worst.point["x"].tolist() == [1.0, 2.0]


def test_eager_tensor_without_inputs_is_a_clear_error():
    x = sg.tensor([1.0, 2.0])
    with pytest.raises(ValueError, match="requires_grad=True"):
        verify.check(sg.sin(x))


# ----------------------------------------------------------- 2. verdicts at given points
def test_relu_at_its_kink_follows_the_convention():
    x = sg.tensor(0.0, requires_grad=True)
    r = verify.check(sg.relu(x), wrt=[x], points=[[np.array(0.0)]])
    assert r.passed and r.points_used == 1
    [v] = r.verdicts
    assert v.verdict == AT_KINK and v.judged and v.ok
    assert float(v.numeric["x"]) == 0.0 and float(v.exact["x"]) == 0.0
    assert float(v.fd["x"]) == 0.5                  # what finite differences see: not used
    assert r["x"].max_fd_rel_err == 0.0             # ... nor counted
    text = str(r)
    assert "at a kink" in text and "finite differences not meaningful here" in text
    assert "numeric=0.0 exact=0.0 finite-diff=0.5" in text


def test_ties_of_maximum_split_the_gradient():
    x = sg.symbol("x")
    r = verify.check(sg.maximum(x, 2.0 - x), [x], points=[[np.array(1.0)]])
    assert r.passed
    [v] = r.verdicts
    assert v.verdict == AT_KINK and float(v.numeric["x"]) == float(v.exact["x"]) == 0.0


def test_wrong_gradient_at_a_kink_fails():
    # relu whose VJP says 1 at 0 (PyTorch and symgrad say 0): the kink must not excuse it
    badrelu = sg.custom_op("badrelu", lambda v: np.maximum(v, 0),
                           lambda g, out, v: g * (v >= 0),
                           lambda v: sympy.Piecewise((v, v > 0), (0, True)))
    x = sg.symbol("x")
    r = verify.check(badrelu(x), [x], points=[[np.array(0.0)]])
    assert not r.passed and r["x"].mismatches == 1
    assert r.worst.numeric == 1.0 and r.worst.exact == 0.0
    # and a mutation of the built-in relu, with the kink known to OP_DB
    from verify.mutate import perturbed
    from numeric.ops import Op
    with perturbed(Op.RELU, "sign", 0):
        r = verify.check(sg.relu(x - 1.0), [x], points=[[np.array(1.0)], [np.array(2.0)]])
    assert not r.passed
    [v] = r.verdicts
    assert v.verdict == AT_KINK and v.judged and v.ok  # 0 at the kink, negated or not
    assert r["x"].mismatches == 1                       # the point x=2 is wrong: -1 vs 1


def test_near_a_kink_judges_numeric_and_leaves_out_finite_differences():
    x = sg.symbol("x")
    r = verify.check(sg.abs(x), [x], points=[[np.array(1e-4)]])
    assert r.passed
    [v] = r.verdicts
    assert v.verdict == NEAR_KINK and float(v.exact["x"]) == 1.0
    assert r["x"].max_fd_rel_err == 0.0


@pytest.mark.parametrize("build, value, exact", [
    (lambda x: (x + 1e16) - 1e16, 1.5, 1.0),
    (lambda x: sg.log(x) - sg.log(x + 1e-12), 1.5, 1 / 1.5 - 1 / (1.5 + 1e-12)),
])
def test_ill_conditioned_point_shows_three_values(build, value, exact):
    x = sg.symbol("x")
    r = verify.check(build(x), [x], points=[[np.array(value)]])
    assert r.passed and r.points_used == 0 and r.skipped_ill == 1
    assert not r.failures
    [v] = r.verdicts
    assert v.verdict == ILL_CONDITIONED and not v.judged and v.ok is None and v.rho > 1e8
    assert float(v.exact["x"]) == pytest.approx(exact, rel=1e-12)
    assert np.isfinite(float(v.numeric["x"])) and np.isfinite(float(v.fd["x"]))
    text = str(r)
    first = text.splitlines()[0]
    assert first.startswith("verify.check: NOT JUDGED (0 points used of 1 tried")
    assert "ill-conditioned" in text and "reported, not judged" in text
    assert f"exact={float(v.exact['x'])!r}" in text
    assert "max abs err" not in text                 # no table of zeros


def test_ill_conditioned_point_next_to_a_good_one():
    x = sg.symbol("x")
    r = verify.check((x + 1e16) - 1e16 + sg.sin(x), [x],
                     points=[[np.array(1.5)], [np.array(1e20)]])
    assert r.passed and r.points_used == 1 and r.skipped_ill == 1
    assert [(v.index, v.verdict) for v in r.verdicts] == [(0, ILL_CONDITIONED)]
    assert r.worst.point["x"] == 1e20


def test_given_point_out_of_domain_is_reported():
    x = sg.symbol("x")
    r = verify.check(sg.sqrt(x), [x], points=[[np.array(-1.0)], [np.array(4.0)]])
    assert r.passed and r.points_used == 1 and r.skipped_domain == 1
    assert r.worst.exact == 0.25
    [v] = r.verdicts
    assert v.verdict == OUT_OF_DOMAIN and v.index == 0 and np.isnan(float(v.exact["x"]))
    assert "out of domain" in str(r)


def test_drawn_points_stay_away_from_kinks():
    x = sg.symbol("x", shape=(3,))
    r = verify.check(sg.relu(x).sum(), [x], n_points=5)
    assert r.passed and r.points_used == 5 and not r.verdicts


# -------------------------------------------------------- 3. points() of a symbolic Tensor
def test_points_accepts_a_symbolic_tensor():
    x = sg.symbol("x", shape=(3,))
    p = find(points(sg.sin(x)), lambda p: True)
    assert len(p) == 1 and p[0].shape == (3,) and p[0].dtype == np.float64
    assert repr(p).startswith("[np.array(")


def test_points_of_a_tensor_respect_domains_and_order():
    x, y = sg.symbol("x", shape=(2,)), sg.symbol("y", shape=())
    expr = (sg.log(x) * sg.relu(y)).sum()

    @settings(max_examples=15, derandomize=True, database=None, deadline=None)
    @given(st.data())
    def prop(data):
        p = data.draw(points(expr))
        assert p[0].shape == (2,) and p[1].shape == ()
        assert np.all(p[0] > 0) and abs(float(p[1])) >= 0.01
        r = verify.check(expr, points=[p])
        assert r.passed and r.points_used == 1 and not r.verdicts

    prop()


@pytest.mark.parametrize("bad", [3.0, "x", np.array([1.0]), None])
def test_points_rejects_anything_else_with_a_type_error(bad):
    with pytest.raises(TypeError, match="symbolic Tensor"):
        points(bad)


def test_points_of_a_tensor_without_symbols_or_with_symbolic_dims():
    with pytest.raises(ValueError, match="no sg.symbol leaf"):
        points(sg.sin(sg.tensor([1.0, 2.0])))
    with pytest.raises(ValueError, match="symbolic shape"):
        points(sg.sin(sg.symbol("X", shape=("N",))))


# ------------------------------------------------------------------ 4. CLI bounds
def _parse(argv):
    p = argparse.ArgumentParser(prog="symgrad")
    cli.add_parser(p.add_subparsers())
    return p.parse_args(["verify", *argv])


@pytest.mark.parametrize("argv, message", [
    (["--examples", "1000000000"], "argument --examples: must be between 1 and 1,000,000, "
                                   "got 1000000000"),
    (["--examples", "0"], "argument --examples: must be between 1 and 1,000,000, got 0"),
    (["--examples", "-3"], "argument --examples: must be between 1 and 1,000,000, got -3"),
    (["--examples", "ten"], "argument --examples: expected an integer, got 'ten'"),
    (["--seed", "-1"], "argument --seed: must be between 0 and 4,294,967,295, got -1"),
    (["--seed", str(2 ** 32)], "argument --seed: must be between 0 and 4,294,967,295, got "
                               "4294967296"),
])
def test_cli_counts_and_seeds_are_bounded(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:     # argparse's usage error
        sg_cli.main(["verify", *argv])
    status = exc.value.code
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and message in err and err.startswith("symgrad verify: error:")


def test_cli_bounds_are_inclusive():
    args = _parse(["--examples", str(cli.MAX_EXAMPLES), "--seed", str(2 ** 32 - 1)])
    assert (args.examples, args.seed) == (10 ** 6, 2 ** 32 - 1)
    assert _parse(["--examples", "1", "--seed", "0"]).examples == 1


def test_cli_run_validates_a_namespace_too(capsys):
    args = _parse(["--ops", "exp", "--examples", "3", "--no-dags"])
    args.examples = 10 ** 7
    with pytest.raises(ValueError, match="--examples: must be between 1 and 1,000,000"):
        cli.run(args)
    args.examples, args.seed = 3, 2 ** 40
    with pytest.raises(ValueError, match="--seed: must be between 0"):
        cli.run(args)
    args.seed = 5
    assert cli.run(args) == 0 and "exp" in capsys.readouterr().out


def test_python_dash_m_verify_rejects_with_one_line():
    proc = subprocess.run([sys.executable, "-m", "verify", "--examples", "0"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "must be between 1 and 1,000,000" in proc.stderr
