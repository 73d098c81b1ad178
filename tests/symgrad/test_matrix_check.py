"""Every matrix-form result checks itself (issue 12, Deliver 5)."""
import time
import warnings

import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad import closed_form, matrix_form, matrix_hessian
from symgrad.errors import MatrixFormMismatch, SymgradError
from symgrad.matrix_check import _PASSED, MatrixCheckSkipped, check_matrix, clear_cache
from numeric.ops import Op

N, D = sympy.symbols("N d")
Xs, ws, ys = sympy.MatrixSymbol("X", N, D), sympy.MatrixSymbol("w", D, 1), sympy.MatrixSymbol("y", N, 1)


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def lin():
    return (sg.symbol("X", shape=("N", "d")), sg.symbol("w", shape=("d",)),
            sg.symbol("y", shape=("N",)))


def test_exported_and_its_base():
    assert sg.MatrixFormMismatch is MatrixFormMismatch
    assert issubclass(MatrixFormMismatch, AssertionError)
    assert issubclass(MatrixFormMismatch, SymgradError)


def test_right_formula_passes_and_is_cached(lin):
    X, w, y = lin
    f = ((X @ w - y) ** 2).sum()
    assert check_matrix(f, w, 2 * Xs.T * (Xs * ws - ys)) is None
    assert len(_PASSED) == 1
    t = time.perf_counter()
    check_matrix(f, w, 2 * Xs.T * (Xs * ws - ys))
    assert time.perf_counter() - t < 0.05           # a look-up, no evaluation
    assert len(_PASSED) == 1


@pytest.mark.parametrize("wrong", [
    2 * Xs.T * Xs * ws,                 # a term missing
    Xs.T * (Xs * ws - ys),              # a factor 2 missing
])
def test_wrong_gradient_raises(lin, wrong):
    X, w, y = lin
    with pytest.raises(MatrixFormMismatch, match="disagrees with the elementwise closed form") as e:
        check_matrix(((X @ w - y) ** 2).sum(), w, wrong)
    err = e.value
    assert err.kind == "gradient" and err.formula == wrong
    assert err.max_abs_err > 1e-3 and set(err.dims) == {"N", "d"}
    assert err.got.shape == err.expected.shape


def test_wrong_transpose_caught_by_swapped_dims():
    A, x = sg.symbol("A", shape=("m", "n")), sg.symbol("x", shape=("n",))
    As = sympy.MatrixSymbol("A", *sympy.symbols("m n"))
    check_matrix(A @ x, x, As, order=1)
    with pytest.raises(MatrixFormMismatch):
        check_matrix(A @ x, x, As.T, order=1)     # wrong shape at m != n


def test_wrong_hessian_raises(lin):
    X, w, y = lin
    f = (sg.softplus(X @ w) - y * (X @ w)).sum()
    with pytest.raises(MatrixFormMismatch, match="Hessian"):
        check_matrix(f, w, Xs.T * Xs, order=2)
    with pytest.raises(ValueError, match="order must be"):
        check_matrix(f, w, Xs.T * Xs, order=3)


def _wrong_matmul_rule(original):
    def rule(node, g, vals, shapes):
        out = original(node, g, vals, shapes)
        if node.op is Op.MATMUL:   # drop the transpose of A in d(A*b)/db = A.T*g ... as A*g
            return [(k, 3 * ga) for k, ga in out]
        return out
    return rule


def test_monkeypatched_matrix_rule_raises_and_check_false_returns_it(lin, monkeypatch):
    monkeypatch.setattr(matrix_form, "_backward_rule",
                        _wrong_matmul_rule(matrix_form._backward_rule))
    X, w, y = lin
    f = ((X @ w - y) ** 2).sum()
    with pytest.raises(MatrixFormMismatch, match="gradient 6"):
        sg.diff(f, w)
    with pytest.raises(MatrixFormMismatch):
        sg.gradient(f, [w])
    with pytest.raises(MatrixFormMismatch):
        sg.hessian(f, w)
    assert str(sg.diff(f, w, check=False)) == "6*X.T*(X*w - y)"        # wrong, unchecked
    assert str(sg.hessian(f, w, check=False)) == "6*X.T*X"


def test_monkeypatched_gradient_in_closed_form(lin, monkeypatch):
    wrong = Xs.T * (Xs * ws - ys)
    monkeypatch.setattr(closed_form, "diff_matrix", lambda f, x, simplify=True: wrong)
    X, w, y = lin
    with pytest.raises(MatrixFormMismatch):
        sg.diff(((X @ w - y) ** 2).sum(), w)
    assert sg.diff(((X @ w - y) ** 2).sum(), w, check=False) == wrong


def test_monkeypatched_hessian_rule(lin, monkeypatch):
    original = matrix_hessian._rule

    def rule(e, x, J):  # forget the elementwise function's derivative
        if isinstance(e, matrix_form.Elementwise) and J.get(e.expr) is not None:
            return J[e.expr]
        return original(e, x, J)

    monkeypatch.setattr(matrix_hessian, "_rule", rule)
    X, w, y = lin
    f = (sg.softplus(X @ w) - y * (X @ w)).sum()
    with pytest.raises(MatrixFormMismatch, match="Hessian"):
        sg.hessian(f, w)
    assert str(sg.hessian(f, w, check=False)) == "X.T*X"
    with pytest.raises(MatrixFormMismatch, match="Jacobian"):
        sg.jacobian(sg.sigmoid(X @ w), w)


def test_every_matrix_entry_point_checks(lin):
    X, w, y = lin
    f = ((X @ w - y) ** 2).sum()
    sg.diff(f, w)
    sg.gradient(f, [X, w])
    sg.hessian(f, w)
    sg.jacobian(X @ w, w)
    assert len(_PASSED) == 4        # diff(f, w) and gradient's w share one entry
    sg.diff(f, w, check=False)
    sg.hessian((w * w).sum(), w, check=False)
    assert len(_PASSED) == 4


def test_domain_retry_positive_points(lin):
    X, w, y = lin
    # log needs X*w > 0: a signed draw is not finite, the positive one is (no warning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert str(sg.hessian(sg.log(X @ w).sum(), w)) == "-X.T*diag(HadamardPower(X*w, -2))*X"
    assert len(_PASSED) == 1
    with pytest.raises(MatrixFormMismatch):
        check_matrix(sg.log(X @ w).sum(), w, -Xs.T * Xs, order=2)


def test_data_leaves_and_constants():
    Y = sg.tensor(np.arange(6.0).reshape(3, 2) - 2, name="Y")
    v = sg.symbol("v", shape=(2,))
    c = sg.tensor([1.0, -1.0, 0.5])          # an unnamed data leaf: its values
    h = sg.hessian((sg.exp(Y @ v) * c).sum(), v, form="matrix")
    assert "Y.T" in str(h)
    assert len(_PASSED) == 1


def test_no_finite_point_warns_and_returns(lin):
    X, w, y = lin
    with pytest.warns(MatrixCheckSkipped, match="no random point gave finite values"):
        g = sg.diff(sg.log(-(w * w).sum() - 1), w)
    assert "w" in str(g)
    assert len(_PASSED) == 0                      # not cached: asked again, checked again


def test_a_reference_that_cannot_be_built_warns(lin, monkeypatch):
    from symgrad import matrix_check

    def broken(*args):
        raise RuntimeError("no numeric kernel")

    monkeypatch.setattr(matrix_check, "_numeric", broken)
    X, w, y = lin
    with pytest.warns(MatrixCheckSkipped, match="RuntimeError: no numeric kernel"):
        assert str(sg.hessian(((X @ w - y) ** 2).sum(), w)) == "2*X.T*X"


def test_constant_gradient_hessian_is_checked(lin):
    X, w, y = lin
    assert sg.hessian(sg.relu(X @ w).sum(), w) == sympy.ZeroMatrix(D, D)
    assert len(_PASSED) == 1


def test_formula_that_cannot_be_evaluated_is_a_mismatch(lin):
    X, w, y = lin
    bad = sympy.MatMul(Xs, Xs, ws)      # N x d times N x d: accepted while N, d are symbols
    with pytest.raises(MatrixFormMismatch, match="cannot be evaluated") as e:
        check_matrix(((X @ w - y) ** 2).sum(), w, bad)
    assert e.value.got is None
