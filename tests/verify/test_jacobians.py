"""verify.check_jacobian / verify.check_hessian: exact matrices against sg.func's numbers.

They pass on correct code, and catch planted bugs: a VJP scaled by 1.001 (first order),
and VJPs that are right on arrays but wrong on the create_graph path -- one whose value is
wrong there (verify.mutate's sin_create_graph_path), and one whose value is right but whose
graph is wrong (cos taken as a constant): only a Hessian sees the latter, verify.check
does not.
"""
import numpy as np
import pytest

import symgrad as sg
import verify
from numeric.ops import Op
from symgrad.tensor import Tensor
from verify.mutate import MUTANTS_BY_NAME, Mutant, _only_tensors, _vjp, perturbed


def f_sin(x, y):
    return (sg.sin(x) * y ** 2).sum() + (x @ y) ** 2


X = sg.tensor([0.3, -1.2, 0.7])
Y = sg.tensor([1.5, 0.2, -0.4])


def test_correct_code_passes_with_every_method():
    r = verify.check_hessian(f_sin, X, Y)
    assert r.passed, str(r)
    assert r.methods == ("hessian", "jacfwd(jacrev)", "hvp")
    assert r.exact.shape == (6, 6) and np.allclose(r.exact, r.exact.T)
    assert all(v < 1.0 for v in r.max_err_over_tol.values())
    np.testing.assert_allclose(r.fd, r.exact, rtol=1e-5, atol=1e-6)
    assert "PASSED" in str(r) and r.raise_if_failed() is r
    j = verify.check_jacobian(lambda A, x: A @ sg.tanh(x), np.arange(6.0).reshape(2, 3) / 5, X)
    assert j.passed, str(j)
    assert j.exact.shape == (2, 9) and j.methods == ("jacrev", "jacfwd")
    # the tanh block: A @ diag(1 - tanh(x)^2)
    A = np.arange(6.0).reshape(2, 3) / 5
    np.testing.assert_allclose(j.exact[:, 6:], A * (1 - np.tanh(X.numpy()) ** 2),
                               rtol=1e-15)


def test_named_constants_inside_fn_are_bound():
    c = sg.tensor([2.0, -1.0, 0.5], name="c")
    r = verify.check_hessian(lambda x: (sg.exp(c * x)).sum(), X)
    assert r.passed, str(r)
    np.testing.assert_allclose(np.diag(r.exact), c.numpy() ** 2 * np.exp(c.numpy() * X.numpy()),
                               rtol=1e-14)


def test_a_scaled_vjp_fails_both_checks():
    with perturbed(Op.SIN, "scale"):
        j = verify.check_jacobian(lambda x: sg.sin(x) * 2.0, X)
        h = verify.check_hessian(f_sin, X, Y)
    assert not j.passed and not h.passed
    assert "finite differences" in j.failures[0] and "numeric is wrong" in j.failures[0]
    with pytest.raises(verify.GradientMismatchError, match="check_jacobian: FAILED") as e:
        j.raise_if_failed()
    assert e.value.report is j


def test_value_bug_on_the_create_graph_path_is_caught():
    mutant = MUTANTS_BY_NAME["sin_create_graph_path"]
    with mutant:
        h = verify.check_hessian(f_sin, X, Y)
        j = verify.check_jacobian(lambda x: sg.sin(x) * x, X)
    assert not h.passed, str(h)
    assert not j.passed and "jacfwd" in j.failures[0]    # forward mode uses create_graph
    assert j.max_err_over_tol["jacrev"] < 1.0           # plain reverse mode does not


def _constant_cos(rule, g, out, x):
    # right value, but cos(x) enters the graph as a constant: d/dx of it is lost
    return g * Tensor._wrap(np.cos(x.value))


def test_right_value_wrong_graph_is_seen_only_by_the_hessian():
    mutant = Mutant("sin_constant_cos", "create_graph",
                    "sin VJP on Tensors: cos(x) as a constant (first order right)",
                    [_vjp(Op.SIN, 0, _only_tensors(_constant_cos))],
                    lambda: None, ("sin",))
    with mutant:
        first = verify.check(lambda x, y: f_sin(x, y), [(3,), (3,)], n_points=3)
        jac = verify.check_jacobian(lambda x: sg.sin(x) * x, X)
        h = verify.check_hessian(f_sin, X, Y)
    assert first.passed and jac.passed        # every first derivative is right
    assert not h.passed, str(h)
    failing = {line.split(":")[0] for line in h.failures}
    assert failing == {"hessian", "jacfwd(jacrev)", "hvp"}
    assert "d2f/dx0[" in h.failures[0] and "numeric is wrong" in h.failures[0]
    # the sin block's diagonal lost -sin(x) * y**2
    assert verify.check_hessian(f_sin, X, Y).passed     # restored


def test_errors():
    with pytest.raises(ValueError, match="pass the inputs after fn"):
        verify.check_hessian(f_sin)
    with pytest.raises(ValueError, match="must return a scalar.*check_jacobian"):
        verify.check_hessian(lambda x: x * 2, X)
    with pytest.raises(TypeError, match="must return a symgrad Tensor"):
        verify.check_jacobian(lambda x: 1.0, X)
    with pytest.raises(ValueError, match="methods must be a non-empty subset"):
        verify.check_jacobian(sg.sin, X, methods=("hessian",))
    with pytest.raises(ValueError, match="symbolic"):
        verify.check_jacobian(sg.sin, sg.symbol("s"))
    r = verify.check_jacobian(sg.exp, X, methods="jacfwd", fd=False)
    assert r.methods == ("jacfwd",) and r.fd is None and r.passed


def test_matrix_inputs_and_labels():
    W = np.array([[0.2, -0.5, 0.1], [1.1, 0.3, -0.2]])
    f = lambda W, x: (sg.tanh(W @ x) ** 2).sum()  # noqa: E731
    r = verify.check_hessian(f, W, np.array([0.6, -0.9, 0.3]))
    assert r.passed and r.exact.shape == (9, 9) and r.shapes == [(2, 3), (3,)]
    with perturbed(Op.TANH, "scale"):
        bad = verify.check_hessian(f, W, np.array([0.6, -0.9, 0.3]), methods="hessian")
    assert not bad.passed and bad.failures[0].startswith("hessian: d2f/dx0[")
    assert "x0[0, " in bad.failures[0] or "x0[1, " in bad.failures[0]
