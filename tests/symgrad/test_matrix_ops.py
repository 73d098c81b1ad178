"""Issue 12, Deliver 2: linear-algebra ops in matrix form (lowering, printing, classes, errors).

The gradients themselves, each checked three ways, are in test_matrix_battery.py.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad.lower_sympy import LoweringError
from symgrad.matrix_form import Indicator, KronGrad, Norm, Ones, Softmax, Unvec, Vec

N, K, d = sympy.symbols("N K d")
X, A = sg.symbol("X", shape=("N", "N")), sg.symbol("A", shape=("N", "N"))
x, y = sg.symbol("x", shape=("N",)), sg.symbol("y", shape=("N",))
z, M = sg.symbol("z", shape=("K",)), sg.symbol("M", shape=("N", "d"))


def _m(t):
    return sg.to_sympy(t, form="matrix")


@pytest.mark.parametrize("build, text, latex", [
    (lambda: sg.det(X), "Determinant(X)", r"\left|{X}\right|"),
    (lambda: sg.logdet(X), "log(Determinant(X))", r"\log{\left(\left|{X}\right| \right)}"),
    (lambda: sg.inverse(X), "X**(-1)", "X^{-1}"),
    (lambda: sg.linalg.inv(X), "X**(-1)", "X^{-1}"),
    (lambda: sg.linalg.solve(A, x), "A**(-1)*x", "A^{-1} x"),
    (lambda: sg.trace(X), "Trace(X)", r"\operatorname{tr}\left(X \right)"),
    (lambda: sg.linalg.vector_norm(x), "norm2(x)", r"\left\|x\right\|_{2}"),
    (lambda: sg.linalg.vector_norm(x, 1), "norm1(x)", r"\left\|x\right\|_{1}"),
    (lambda: sg.norm(x), "norm2(x)", r"\left\|x\right\|_{2}"),
    (lambda: sg.linalg.matrix_norm(X), "norm2(X)", r"\left\|X\right\|_{F}"),
    (lambda: sg.softmax(z, 0), "softmax(z)", r"\operatorname{softmax}\left(z\right)"),
    (lambda: sg.log_softmax(z, 0), "log(softmax(z))",
     r"\log\left(\operatorname{softmax}\left(z\right)\right)"),
    (lambda: sg.relu(x), "HadamardProduct([x > 0], x)", r"\mathbb{1}\left[x > 0\right] \circ x"),
    (lambda: sg.outer(x, y), "x*y.T", "x y^{T}"),
    (lambda: M.reshape("N*d"), "vec(M.T)", r"\operatorname{vec}\left(M^{T}\right)"),
    (lambda: M.T.reshape("d*N"), "vec(M)", r"\operatorname{vec}\left(M\right)"),
    (lambda: sg.kron(X, A), "KroneckerProduct(X, A)", r"X \otimes A"),
])
def test_forward_lowering_prints(build, text, latex):
    e = _m(build())
    assert str(e) == text
    assert sympy.latex(e) == latex


def test_key_results_in_latex():
    g = sg.diff(sg.linalg.vector_norm(A @ x - y), x)
    assert sympy.latex(g) == (r"\frac{1}{\left\|A x - y\right\|_{2}} A^{T} \left(A x - y\right)")
    assert sympy.latex(sg.diff(sg.logdet(X), X)) == r"\left(X^{T}\right)^{-1}"
    assert sympy.latex(sg.diff(x @ A @ x, x)) == r"\left(A + A^{T}\right) x"
    w = sg.symbol("w", shape=("d",))
    assert sympy.latex(sg.diff(sg.relu(M @ w).sum(), w)) == \
        r"M^{T} \mathbb{1}\left[M w > 0\right]"
    t = sg.symbol("t", shape=("K",))
    assert sympy.latex(sg.diff(-(t * sg.log_softmax(z, 0)).sum(), z)) == \
        r"\operatorname{sum}\left(t\right) \operatorname{softmax}\left(z\right) - t"


def test_softmax_and_logsumexp_axes():
    S = sg.symbol("S", shape=("N", "K"))
    assert str(_m(sg.softmax(S, 1))) == "softmax(S, axis=1)"
    assert str(_m(sg.logsumexp(S, 1))) == "log(exp(S)*ones(K, 1))"
    assert str(_m(sg.logsumexp(S, 0))) == "log(exp(S.T)*ones(N, 1))"
    assert _m(sg.logsumexp(S, 0, keepdim=True)).shape == (1, K)
    assert str(_m(sg.logsumexp(z, 0))) == "log(sum(exp(z)))"


def test_classes_become_explicit_at_concrete_dims():
    zs = sympy.MatrixSymbol("z", K, 1)
    zv = sympy.ImmutableMatrix([0.0, np.log(3.0)])
    s = Softmax(zs, 0).subs(K, 2).xreplace({sympy.MatrixSymbol("z", 2, 1): zv}).doit()
    assert [float(v) for v in s] == pytest.approx([0.25, 0.75])
    rows = Softmax(sympy.ImmutableMatrix([[0.0, 0.0]]), 1).doit()
    assert [float(v) for v in rows] == pytest.approx([0.5, 0.5])
    ind = Indicator(sympy.ImmutableMatrix([1, -1]), 0).doit()
    assert list(ind) == [1, 0]
    assert list(Indicator(sympy.ImmutableMatrix([1, 1]), 1, strict=False).doit()) == [1, 1]
    m = sympy.ImmutableMatrix([[1, 2], [3, 4]])
    assert list(Vec(m).doit()) == [1, 3, 2, 4]
    assert Unvec(Vec(m).doit(), 2, 2).doit() == m
    assert Norm(sympy.ImmutableMatrix([3, 4]), 2).doit() == 5
    assert Norm(sympy.ImmutableMatrix([3, -4]), 1).doit() == 7
    G, B = sympy.ImmutableMatrix(4, 4, range(16)), sympy.ImmutableMatrix([[1, 0], [0, 1]])
    assert KronGrad(G, B, 0).doit() == sympy.ImmutableMatrix([[5, 9], [21, 25]])
    assert KronGrad(G, B, 1).doit() == sympy.ImmutableMatrix([[10, 12], [18, 20]])


def test_symbolic_kron_and_vec_shapes():
    B = sg.symbol("B", shape=("K", "K"))
    k = sg.kron(X, B)
    assert k.shape == ("N*K", "N*K")
    assert _m(k).shape == (K * N, K * N)
    assert _m(M.reshape("N*d")).shape == (N * d, 1)
    v = sg.symbol("v", shape=("N*d",))
    assert str(_m(v.reshape("N", "d"))) == "unvec(v, d, N).T"


def test_ones_and_identity_print():
    assert sympy.latex(Ones(N, 1)) == r"\mathbf{1}_{N \times 1}"
    assert str(sg.diff(sg.trace(X), X)) == "I"
    Xc = sg.symbol("X", shape=(2, 2))
    assert str(sg.diff(sg.trace(Xc + sg.eye(2)), Xc, form="matrix")) == "I"


def test_refusals_name_the_fix():
    with pytest.raises(LoweringError, match="order 3.0 is not supported.*form='elementwise'"):
        sg.diff(sg.linalg.vector_norm(x, 3), x)
    with pytest.raises(LoweringError, match="norm over axis"):
        sg.diff(sg.linalg.vector_norm(M, dim=1).sum(), M)
    with pytest.raises(LoweringError, match="reshape"):
        sg.diff(M.reshape("d", "N").sum(), M)
    T = sg.symbol("T", shape=("N", "N", "N"))
    with pytest.raises(LoweringError, match="rank <= 2"):
        sg.diff(T.sum(), T)
    with pytest.raises(TypeError, match="symbolic identity is square"):
        sg.eye("N", "d")
    with pytest.raises(TypeError, match="a name such as 'N'"):
        sg.eye("N+1")
    with pytest.raises(ValueError, match="need concrete sizes"):
        sg.diag(x)


def test_symbolic_eye_is_the_identity():
    """sg.eye("N") lowers to Identity(N); the self-check rebuilds it as np.eye at each draw."""
    A = sg.symbol("A", shape=("N", "N"))
    v = sg.symbol("v", shape=("N",))
    e = sg.eye("N")
    assert e.shape == ("N", "N") and e.node.role == "constant"
    assert str(_m(e)) == "I"
    assert str(sg.diff(v @ (A + sg.eye("N")) @ v, v)) == "(2*I + A + A.T)*v"
    assert str(sg.diff(sg.trace(A @ sg.eye("N")), A)) == "I"
    assert str(sg.diff(sg.logdet(A + 2 * sg.eye("N")), A)) == "(2*I + A.T)**(-1)"
    X, w, lam = sg.symbol("X", shape=("n", "d")), sg.symbol("w", shape=("d",)), sg.symbol("lam")
    ridge = ((X @ w) ** 2).sum() + lam * (w @ sg.eye("d") @ w)
    assert str(sg.hessian(ridge, w)) == "2*(lam*I + X.T*X)"


def test_matrix_form_cse_names_shared_subexpressions():
    """cse=True in matrix form: (replacements, results) like the elementwise form."""
    X, w, y = sg.symbol("X", shape=("N", "d")), sg.symbol("w", shape=("d",)), \
        sg.symbol("y", shape=("N",))
    f = (sg.exp(X @ w) + sg.sin(X @ w)).sum()
    reps, (g,) = sg.gradient(f, [w], cse=True)
    assert [(str(s), str(e)) for s, e in reps] == [("v0", "X*w")]
    assert str(g) == "X.T*(cos(v0) + exp(v0))"
    reps, g = sg.diff(((X @ w - y) ** 2).sum(), w, cse=True)
    assert reps == [] and str(g) == "2*X.T*(X*w - y)"
    # substituting the replacements back gives the plain result
    back = g.xreplace(dict(reps)) if reps else g
    assert back == sg.diff(((X @ w - y) ** 2).sum(), w)


def test_comparing_a_symbol_says_what_to_write_instead():
    x = sg.symbol("x", shape=("N",))
    with pytest.raises(sg.SymbolicValueError, match="sg.relu, sg.maximum"):
        sg.where(x > 0, x, 0.1 * x)
