"""verify.check and the tolerance policy: values, reports, errors."""
import mpmath
import numpy as np
import pytest
import sympy

import symgrad as sg
import verify
from verify.oracles import ExactEvaluator, OutOfDomain, fd_gradient
from verify.tolerance import SAFETY, tolerance, ulps


def test_check_on_symbols_reports_every_input():
    x, y = sg.symbol("x", shape=(3,)), sg.symbol("y", shape=(3,))
    r = verify.check((sg.sin(x) * sg.exp(y)).sum(), [x, y], n_points=4)
    assert r.passed and r.points_used == 4 and r.points_tried == 4
    assert [i.name for i in r.inputs] == ["x", "y"]
    assert all(0 <= i.max_err_over_tol < 1 and i.max_ulps < 1e3 for i in r.inputs)
    text = str(r)
    assert text.startswith("verify.check: PASSED") and "max abs err" in text and "worst:" in text


def test_points_are_drawn_inside_the_domain_and_counted():
    x = sg.symbol("x", shape=(2,))
    r = verify.check(sg.log(x + 1.0).sum(), [x], n_points=5)  # x in [-2, 2]: some x <= -1
    assert r.passed and r.points_used == 5
    assert r.skipped_domain > 0 and r.points_tried == 5 + r.skipped_domain


def test_given_points_by_name_and_position():
    x = sg.symbol("x")
    r1 = verify.check(x * x * x, [x], points=[{"x": 2.0}, {"x": -1.0}])
    r2 = verify.check(x * x * x, [x], points=[[2.0], [-1.0]])
    assert r1.points_used == r2.points_used == 2 and r1.passed and r2.passed
    assert r1.worst.exact in (12.0, 3.0)


def test_float32_check_uses_float32_rounding():
    x = sg.symbol("x", shape=(4,))
    r = verify.check(sg.tanh(x).sum(), [x], n_points=3, dtype=np.float32)
    assert r.passed and r.dtype == "float32"
    assert r.inputs[0].max_abs_err > 1e-12  # float32 error is visible, and tolerated


def test_bad_arguments():
    x = sg.symbol("x")
    with pytest.raises(ValueError, match="n_points"):
        verify.check(x * 2, [x], n_points=0)
    with pytest.raises(TypeError, match="tensor built over symbols or a function"):
        verify.check(3.0, None)
    with pytest.raises(ValueError, match="not a leaf"):
        verify.check(x * 2, [sg.symbol("z")])
    with pytest.raises(ValueError, match="shape"):
        verify.check(sg.symbol("v", shape=(2,)).sum(), None, points=[[np.ones(3)]])


def test_wrong_exact_path_is_flagged_by_finite_differences():
    """A custom op whose SymPy form is wrong while its VJP is right: FD sides with numeric."""
    liar = sg.custom_op("liar", np.sin, lambda g, out, x: g * np.cos(x),
                        lambda x: sympy.sin(x) * 1.01)
    r = verify.check(lambda x: liar(x).sum(), [(3,)], n_points=3)
    assert not r.passed and r.exact_suspect > 0
    assert "symbolic path" in "".join(r.failures)


def test_gradient_mismatch_error_fields():
    bad = sg.custom_op("badsq", np.square, lambda g, out, x: g * x, lambda x: x ** 2)
    r = verify.check(lambda x: bad(x).sum(), [(2,)], n_points=2)
    with pytest.raises(verify.GradientMismatchError) as info:
        r.raise_if_failed()
    e = info.value
    assert isinstance(e, ValueError) and e.input == "x0" and e.max_abs_err > 0.1
    assert e.numeric == pytest.approx(e.expected / 2)


def test_exact_evaluator_bound_and_domain():
    x = sympy.Symbol("x", real=True)
    [(v, a)] = ExactEvaluator().evaluate([sympy.exp(x) - 1], {x: mpmath.mpf(1e-8)})
    assert abs(float(v) - np.expm1(1e-8)) < 1e-24
    assert float(a) > 1.0  # exp(x) - 1 cancels: the bound is ~1, not ~1e-8
    with pytest.raises(OutOfDomain):
        ExactEvaluator().evaluate([sympy.log(x)], {x: mpmath.mpf(-1.0)})
    pw = sympy.Piecewise((x, x > 0), (-2 * x, True))
    [(v, _)] = ExactEvaluator().evaluate([pw], {x: mpmath.mpf(-3.0)})
    assert float(v) == 6.0


def test_exact_inputs_are_converted_exactly():
    x = sympy.Symbol("x", real=True)
    [(v, _)] = ExactEvaluator().evaluate([x * 10], {x: mpmath.mpf(0.1)})
    assert v != mpmath.mpf(1)  # 0.1 is 0.1000000000000000055..., times 10 is not 1
    assert abs(v - 1) < 1e-16


def test_tolerance_policy_values():
    u = 2.0 ** -53
    assert float(tolerance(a=0.0, g=2.0, n_ops=3, rho=1.0)) == pytest.approx(SAFETY * u * 8)
    assert float(tolerance(a=5.0, g=0.0, n_ops=3, rho=1.0)) == pytest.approx(SAFETY * u * 5)
    assert float(tolerance(0.0, 1.0, 1, 1.0, "float32")) == pytest.approx(SAFETY * 2.0 ** -24 * 2)
    assert float(ulps(2.0 ** -52, 1.0)) == 1.0


def test_fd_gradient_richardson_accuracy():
    est, err = fd_gradient(lambda xs: float(np.sum(np.exp(xs[0]) * xs[1])),
                           [np.array([0.3, -1.0]), np.array([2.0, 0.5])])
    assert np.allclose(est[0], np.exp([0.3, -1.0]) * [2.0, 0.5], rtol=1e-10, atol=0)
    assert np.allclose(est[1], np.exp([0.3, -1.0]), rtol=1e-10, atol=0)
    assert all(np.all((e > 0) & (e < 1e-6)) for e in err)  # conservative: |R - D(h/2)|


def test_gradcheck_pytorch_semantics():
    x = sg.tensor([0.5, 1.5], requires_grad=True)
    y = sg.tensor([2.0, -1.0])  # no grad: not checked
    assert verify.gradcheck(lambda a, b: (a * b, sg.exp(a).sum()), (x, y))
    sq = sg.custom_op("sq_wrong", np.square, lambda g, out, x: g * x * 2.1, lambda x: x ** 2)
    with pytest.raises(verify.GradientMismatchError, match="for output 1 with respect to input 0"):
        verify.gradcheck(lambda a: (a * 2, sq(a)), (x,))
    with pytest.raises(ValueError, match="eps"):
        verify.gradcheck(lambda a: a, (x,), eps=0)
    with pytest.raises(ValueError, match="requires grad"):
        verify.gradcheck(lambda a: a * 2, (sg.tensor([1.0]),))


def test_gradcheck_output_that_ignores_an_input_and_exact_without_form():
    import symgrad as sg
    a = sg.tensor([0.3, -0.7], requires_grad=True)
    b = sg.tensor([0.5, 2.0], requires_grad=True)
    assert verify.gradcheck(lambda x, y: (sg.sin(x) * y, x.exp()), (a, b)) is True
    noform = sg.custom_op("noform", np.tanh, lambda g, out, x: g * (1 - out ** 2))
    assert verify.gradcheck(lambda x: noform(x), (a,)) is True  # FD only by default
    with pytest.raises(ValueError, match="exact=False"):
        verify.gradcheck(lambda x: noform(x), (a,), exact=True)
    assert issubclass(verify.GradientMismatchError, RuntimeError)


def test_report_by_name_and_worst_point():
    import symgrad as sg
    x = sg.symbol("x", shape=(2,))
    r = verify.check(sg.exp(x).sum(), x, points={"x": [0.5, -0.25]})
    assert r.points_used == 1 and r["x"] is r.inputs[0] and r.worst_point is r.worst
    np.testing.assert_array_equal(r.worst.point["x"], [0.5, -0.25])


def test_leaf_domains_known_only_to_intermediates_fall_back_to_other_boxes():
    import symgrad as sg
    x = sg.symbol("x", shape=(4,))
    r = verify.check(sg.log(x - 1.0).sum(), x, n_points=5)
    assert r.passed and r.points_used == 5
    assert np.all(r.worst.point["x"] > 1.0)
    y = sg.symbol("y", shape=(3,))
    assert verify.check(sg.sqrt(1.0 - y * y).sum(), y, n_points=5).points_used == 5
