"""Matrix-form Jacobians and Hessians (issue 12, Deliver 3): printed forms and values."""
import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad.matrix_hessian import HigherOrderError, fuse_pointwise, jacobian_wrt


@pytest.fixture
def lin():
    return (sg.symbol("X", shape=("N", "d")), sg.symbol("w", shape=("d",)),
            sg.symbol("y", shape=("N",)))


def value(expr, dims, point):
    """Evaluate a matrix expression at concrete dims and values (independent of symgrad)."""
    table = {sympy.Symbol(k): v for k, v in dims.items()}
    expr = expr.xreplace(table)
    subs = {}
    for m in expr.atoms(sympy.MatrixSymbol):
        a = np.asarray(point[m.name], dtype=float)
        subs[m] = sympy.ImmutableMatrix(a.reshape(a.shape[0], -1))
    out = expr.xreplace(subs).doit()
    if isinstance(out, sympy.MatrixExpr):
        out = out.as_explicit()
    return np.array(sympy.Matrix(out).evalf(), dtype=float)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


RNG = np.random.default_rng(12)
Xv, wv, yv = RNG.normal(size=(4, 3)), RNG.normal(size=3), RNG.normal(size=4)
DIMS = {"N": 4, "d": 3}
POINT = {"X": Xv, "w": wv, "y": yv}


def test_least_squares_hessian(lin):
    X, w, y = lin
    h = sg.hessian(((X @ w - y) ** 2).sum(), w)
    assert str(h) == "2*X.T*X"
    np.testing.assert_allclose(value(h, DIMS, POINT), 2 * Xv.T @ Xv)
    assert str(sg.hessian(((X @ w - y) ** 2).mean(), w)) == "(2/N)*X.T*X"


def test_logistic_hessian(lin):
    X, w, y = lin
    h = sg.hessian((sg.softplus(X @ w) - y * (X @ w)).sum(), w)
    assert str(h) == "X.T*diag(sigmoid(X*w)*(1 - sigmoid(X*w)))*X"
    s = sigmoid(Xv @ wv)
    np.testing.assert_allclose(value(h, DIMS, POINT), Xv.T @ np.diag(s * (1 - s)) @ Xv)
    assert "sigmoid" in sg.latex(h) and "diag" in sg.latex(h)


def test_quadratic_form_hessian():
    A, x = sg.symbol("A", shape=("n", "n")), sg.symbol("x", shape=("n",))
    h = sg.hessian(x @ A @ x, x)
    assert str(h) == "A + A.T"
    Av = RNG.normal(size=(3, 3))
    np.testing.assert_allclose(value(h, {"n": 3}, {"A": Av}), Av + Av.T)


def test_tanh_and_entry_hessians(lin):
    X, w, _ = lin
    h = sg.hessian(sg.tanh(X @ w).sum(), w)
    assert str(h) == "-2*X.T*diag(tanh(X*w)*(1 - tanh(X*w)**2))*X"
    t = np.tanh(Xv @ wv)
    np.testing.assert_allclose(value(h, DIMS, POINT), -2 * Xv.T @ np.diag(t * (1 - t ** 2)) @ Xv)
    h = sg.hessian(sg.exp((X @ w).sum()), w)    # a scalar function of a 1 x 1 entry
    ones = np.ones((4, 1))
    np.testing.assert_allclose(value(h, DIMS, POINT),
                               np.exp((Xv @ wv).sum()) * Xv.T @ ones @ ones.T @ Xv)


def test_jacobians():
    A, x = sg.symbol("A", shape=("m", "n")), sg.symbol("x", shape=("n",))
    assert str(sg.jacobian(A @ x, x)) == "A"
    assert str(sg.jacobian(x * x, x)) == "2*diag(x)"
    assert str(sg.jacobian(sg.exp(x), x)) == "diag(exp(x))"
    assert str(sg.jacobian((x * x).sum(), x)) == "2*x.T"     # a scalar: the 1 x n row
    X, w = sg.symbol("X", shape=("N", "d")), sg.symbol("w", shape=("d",))
    j = sg.jacobian(sg.sigmoid(X @ w), w)
    assert str(j) == "diag(sigmoid(X*w)*(1 - sigmoid(X*w)))*X"
    s = sigmoid(Xv @ wv)
    np.testing.assert_allclose(value(j, DIMS, POINT), np.diag(s * (1 - s)) @ Xv)


def test_scalar_f_matrix_x_jacobian_is_the_gradient(lin):
    X, w, y = lin
    f = ((X @ w - y) ** 2).sum()
    assert sg.jacobian(f, X) == sg.diff(f, X)
    assert str(sg.jacobian(f, X)) == "2*(X*w - y)*w.T"


def test_block_hessian_and_scalar_leaf(lin):
    X, w, y = lin
    b = sg.symbol("b")
    f = ((X @ w + b - y) ** 2).sum()
    h = sg.hessian(f, [w, b])
    assert isinstance(h, sympy.BlockMatrix)
    full = value(h, DIMS, POINT)
    ones = np.ones((4, 1))
    want = np.block([[2 * Xv.T @ Xv, 2 * Xv.T @ ones], [2 * ones.T @ Xv, np.full((1, 1), 8.0)]])
    np.testing.assert_allclose(full, want)
    assert sg.hessian(f, b) == 2 * sympy.Symbol("N")


def test_concrete_shapes_with_form_matrix():
    Y = sg.tensor(np.arange(6.0).reshape(3, 2), name="Y")
    v = sg.symbol("v", shape=(2,))
    assert str(sg.hessian(((Y @ v) ** 2).sum(), v, form="matrix")) == "2*Y.T*Y"
    # the elementwise default at concrete shapes is unchanged: an explicit Matrix
    Z = sg.tensor(np.arange(6.0).reshape(3, 2))
    assert sg.hessian(((Z @ v) ** 2).sum(), v) == sympy.Matrix([[40, 52], [52, 70]])


@pytest.mark.parametrize("make, words", [
    (lambda X, w, y: sg.hessian(((X @ w - y) ** 2).sum(), X),
     "the Hessian with respect to the N x d matrix X is a 4th-order tensor N x d x N x d"),
    (lambda X, w, y: sg.jacobian(sg.exp(X), w),
     "is a 3rd-order tensor N x d x d"),
    (lambda X, w, y: sg.jacobian(X @ w, X), "3rd-order tensor N x N x d"),
    (lambda X, w, y: sg.jacobian(sg.exp(X), X), "4th-order tensor N x d x N x d"),
])
def test_higher_order_results_say_which_tensor(lin, make, words):
    with pytest.raises(HigherOrderError, match="form='elementwise'") as err:
        make(*lin)
    assert words in str(err.value)
    assert isinstance(err.value, ValueError)


def test_bad_form_and_non_scalar_hessian(lin):
    X, w, y = lin
    with pytest.raises(ValueError, match="form must be"):
        sg.hessian((w * w).sum(), w, form="tensor")
    with pytest.raises(ValueError, match="needs a scalar f"):
        sg.hessian(w * w, w)


def test_jacobian_wrt_and_fuse_directly():
    A, x = sympy.MatrixSymbol("A", 3, 3), sympy.MatrixSymbol("x", 3, 1)
    assert jacobian_wrt(A * x, x) == A
    assert str(jacobian_wrt(A.T * x + A * x, x)) == "A + A.T"
    assert str(jacobian_wrt(x.T * A * x, x)) in ("x.T*(A + A.T)", "x.T*A.T + x.T*A",
                                                 "x.T*A + x.T*A.T")
    assert fuse_pointwise(A) is A


def test_ridge_blocks_and_readable_products(lin):
    X, w, y = lin
    lam = sg.symbol("lam")
    f = ((X @ w - y) ** 2).sum() + lam * (w * w).sum()
    assert str(sg.hessian(f, w)) == "2*(lam*I + X.T*X)"
    h = sg.hessian(f, [w, lam])
    assert str(h.blocks[0, 1]) == "2*w" and str(h.blocks[1, 0]) == "2*w.T"
    a, B = sg.symbol("a", shape=("h",)), sg.symbol("B", shape=("h", "d"))
    h = sg.hessian(a @ sg.tanh(B @ w), w)
    assert str(h) == "-2*B.T*diag(a*tanh(B*w)*(1 - tanh(B*w)**2))*B"
    assert r"a \circ \tanh" in sg.latex(h)


def test_unknown_structure_goes_to_sympy():
    # a trace has no structural rule here: SymPy's matrix derivative, in Jacobian layout
    A, x = sympy.MatrixSymbol("A", 3, 3), sympy.MatrixSymbol("x", 3, 1)
    j = jacobian_wrt(sympy.Trace(A * x * x.T), x)
    assert j.shape == (1, 3)
    Av, xv = RNG.normal(size=(3, 3)), RNG.normal(size=(3, 1))
    got = np.array(j.xreplace({A: sympy.ImmutableMatrix(Av), x: sympy.ImmutableMatrix(xv)})
                   .doit().as_explicit().evalf(), dtype=float)
    np.testing.assert_allclose(got, xv.T @ (Av + Av.T))
