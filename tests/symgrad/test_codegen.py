"""sg.codegen / sg.lambdify: generated numpy, PyTorch, JAX and C code agrees with the numeric engine.

Every closed form here comes from SymPy (sg.diff, sg.gradient, sg.hessian); the
reference values come from numeric's backward() on concrete tensors, or, for the
matrix classes symgrad does not produce itself, from numpy written by hand.
"""
from __future__ import annotations

import ctypes
import importlib.util
import shutil
import subprocess

import numpy as np
import pytest
import sympy
from sympy import (DiagMatrix, DiagonalMatrix, HadamardPower, HadamardProduct, Identity,
                   Inverse, KroneckerProduct, MatrixSymbol, OneMatrix, Trace, Transpose,
                   ZeroMatrix, Determinant)

import symgrad as sg
from symgrad.matrix_form import Entry, Ones

HAS_JAX = importlib.util.find_spec("jax") is not None


def ls_leaves():
    return (sg.symbol("X", shape=("N", "d")), sg.symbol("w", shape=("d",)),
            sg.symbol("y", shape=("N",)))


def data(seed=0, n=7, d=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=d), rng.normal(size=n)


def numeric_grad(loss, Xv, wv, yv):
    """The numeric engine's gradient of loss(X, w, y) with respect to w."""
    X, y = sg.tensor(Xv), sg.tensor(yv)
    w = sg.tensor(wv, requires_grad=True)
    loss(X, w, y).backward()
    return w.grad.numpy()


def least_squares(X, w, y):
    return ((X @ w - y) ** 2).sum()


def logistic(X, w, y):
    z = X @ w
    return (sg.softplus(z) - y * z).sum()


def mean_times_exp(X, w, y):  # Entry and Ones: a scalar (1x1 entry) times a matrix
    z = X @ w
    return z.mean() * sg.exp(z.sum() / 10)


def tanh_sq(X, w, y):  # an unnamed elementwise function (Lambda) and a Hadamard power
    return (sg.tanh(X @ w) ** 2 * y).sum()


LOSSES = {"least_squares": least_squares, "logistic": logistic,
          "mean_times_exp": mean_times_exp, "tanh_sq": tanh_sq}


# ------------------------------------------------------------------ matrix form

def test_least_squares_source_reads_like_the_formula():
    X, w, y = ls_leaves()
    g = sg.diff(least_squares(X, w, y), w)
    assert str(g) == "2*X.T*(X*w - y)"
    src = sg.codegen(g, [X, w, y])
    assert "return (2*X.T @ (X @ w - y)).reshape(-1)" in src
    assert "w = numpy.asarray(w).reshape(-1, 1)" in src
    assert src.startswith("import numpy\n") and "shape[" not in src  # no dim is used
    src = sg.codegen(sg.diff(((X @ w - y) ** 2).mean(), w), [X, w, y])
    assert "N = X.shape[0]" in src and "return ((2/N)*X.T @ (X @ w - y)).reshape(-1)" in src


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("cse", [True, False])
def test_matrix_gradient_numpy_matches_backward(name, cse):
    X, w, y = ls_leaves()
    g = sg.diff(LOSSES[name](X, w, y), w)
    fn = sg.lambdify(g, [X, w, y], cse=cse)
    for seed, (n, d) in enumerate([(7, 3), (4, 1), (2, 5)]):  # dims read at call time
        Xv, wv, yv = data(seed, n, d)
        got = fn(Xv, wv, yv)
        assert got.shape == (d,)  # a 1-D vector in, a 1-D gradient out
        np.testing.assert_allclose(got, numeric_grad(LOSSES[name], Xv, wv, yv),
                                   rtol=1e-10, atol=1e-12)


def test_logistic_gradient_uses_a_stable_sigmoid():
    X, w, y = ls_leaves()
    g = sg.diff(logistic(X, w, y), w)
    assert str(g) == "X.T*(sigmoid(X*w) - y)"
    assert "scipy.special.expit(X @ w)" in sg.codegen(g, [X, w, y])
    Xv, wv, yv = data(3)
    got = sg.lambdify(g, [X, w, y])(Xv * 400, wv, yv)  # exp(-z) overflows for z << 0
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, numeric_grad(logistic, Xv * 400, wv, yv), rtol=1e-10)


def test_column_vectors_are_accepted_and_matrix_results_keep_their_shape():
    X, w, y = ls_leaves()
    Xv, wv, yv = data(1)
    g = sg.lambdify(sg.diff(least_squares(X, w, y), w), [X, w, y])
    np.testing.assert_allclose(g(Xv, wv[:, None], yv[:, None]), g(Xv, wv, yv))
    gX = sg.diff(least_squares(X, w, y), X)          # an (N, d) matrix result stays 2-D
    got = sg.lambdify(gX, [X, w, y])(Xv, wv, yv)
    Xt, yt, wt = sg.tensor(Xv, requires_grad=True), sg.tensor(yv), sg.tensor(wv)
    least_squares(Xt, wt, yt).backward()
    np.testing.assert_allclose(got, Xt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_matrix_gradient_torch_matches_backward(name):
    torch = pytest.importorskip("torch")
    X, w, y = ls_leaves()
    g = sg.diff(LOSSES[name](X, w, y), w)
    fn = sg.lambdify(g, [X, w, y], backend="torch")
    assert "import torch" in fn.source and "numpy" not in fn.source
    Xv, wv, yv = data(5)
    got = fn(torch.tensor(Xv), torch.tensor(wv), torch.tensor(yv))
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64 and got.shape == (3,)
    np.testing.assert_allclose(got.numpy(), numeric_grad(LOSSES[name], Xv, wv, yv),
                               rtol=1e-10, atol=1e-12)


def test_jax_source():
    X, w, y = ls_leaves()
    src = sg.codegen(sg.diff(logistic(X, w, y), w), [X, w, y], lang="jax", name="grad_w")
    assert "import jax.numpy" in src and "import jax.nn" in src and "numpy.asarray" in src
    assert "def grad_w(X, w, y):" in src
    assert "return (X.T @ (jax.nn.sigmoid(X @ w) - y)).reshape(-1)" in src
    compile(src, "<jax>", "exec")  # valid Python even where jax is absent


@pytest.mark.skipif(not HAS_JAX, reason="jax is not installed; its source is checked by "
                                        "test_jax_source")
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_matrix_gradient_jax_matches_backward(name):
    X, w, y = ls_leaves()
    fn = sg.lambdify(sg.diff(LOSSES[name](X, w, y), w), [X, w, y], backend="jax")
    Xv, wv, yv = data(6)
    np.testing.assert_allclose(np.asarray(fn(Xv, wv, yv)),
                               numeric_grad(LOSSES[name], Xv, wv, yv), rtol=1e-5, atol=1e-6)


def logistic_hessian_by_hand():
    """X.T*diag(sigmoid'(X*w))*X, sigmoid' as SymPy's diff writes it (exp over a square)."""
    from symgrad.matrix_form import Elementwise
    n, d = sympy.symbols("N d")
    X, w = MatrixSymbol("X", n, d), MatrixSymbol("w", d, 1)
    u = sympy.Dummy("u", real=True)
    dsig = sympy.diff(sympy.exp(u) / (sympy.exp(u) + 1), u)
    return X, w, X.T * DiagMatrix(Elementwise(sympy.Lambda(u, dsig), X * w)) * X


def finite_difference_hessian(loss, Xv, wv, yv, h=1e-6):
    cols = [(numeric_grad(loss, Xv, wv + h * e, yv) - numeric_grad(loss, Xv, wv - h * e, yv))
            / (2 * h) for e in np.eye(len(wv))]
    return np.array(cols).T


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_logistic_hessian_matches_differences_of_backward(backend):
    torch = pytest.importorskip("torch") if backend == "torch" else None
    X, w, H = logistic_hessian_by_hand()
    fn = sg.lambdify(H, [X, w], backend=backend)
    sigmoid = "scipy.special.expit" if backend == "numpy" else "torch.sigmoid"
    assert f"{sigmoid}(X @ w)" in fn.source and "exp" not in fn.source.replace("expit", "")
    Xv, wv, yv = data(2)
    got = fn(Xv, wv) if torch is None else fn(torch.tensor(Xv), torch.tensor(wv)).numpy()
    np.testing.assert_allclose(got, finite_difference_hessian(logistic, Xv, wv, yv),
                               rtol=1e-6, atol=1e-7)
    if torch is None:  # exp(2*X*w) would overflow to inf/inf = nan; s*(1 - s) does not
        assert np.all(np.isfinite(fn(Xv * 1000, wv)))


def test_matrix_hessians_from_sg_hessian():
    X, w, y = ls_leaves()
    H = sg.hessian(logistic(X, w, y), w, form="matrix")
    Xv, wv, yv = data(4)
    np.testing.assert_allclose(sg.lambdify(H, [X, w, y])(Xv, wv, yv),
                               finite_difference_hessian(logistic, Xv, wv, yv),
                               rtol=1e-6, atol=1e-7)
    H = sg.hessian(least_squares(X, w, y), w, form="matrix")
    np.testing.assert_allclose(sg.lambdify(H, [X, w, y])(Xv, wv, yv), 2 * Xv.T @ Xv)


def test_matrix_classes_match_numpy():
    """Every standard SymPy matrix class prints and runs (numpy and, if present, torch)."""
    n, m = sympy.symbols("n m")
    A, B = MatrixSymbol("A", n, n), MatrixSymbol("B", n, n)
    C, v = MatrixSymbol("C", n, m), MatrixSymbol("v", n, 1)
    rng = np.random.default_rng(7)
    Av, Bv = rng.normal(size=(3, 3)), rng.normal(size=(3, 3)) + 3 * np.eye(3)
    Cv, vv = rng.normal(size=(3, 2)), rng.normal(size=3)
    cases = [
        (Trace(A * Inverse(B)), np.trace(Av @ np.linalg.inv(Bv))),
        (Determinant(B) * A, np.linalg.det(Bv) * Av),
        (sympy.log(Determinant(B)), np.log(np.linalg.det(Bv))),
        (KroneckerProduct(A, C), np.kron(Av, Cv)),
        (DiagMatrix(v) * A, np.diag(vv) @ Av),
        (DiagonalMatrix(A) + B, np.diag(np.diag(Av)) + Bv),
        (HadamardProduct(A, B) - 2 * Transpose(A), Av * Bv - 2 * Av.T),
        (HadamardPower(C, 3), Cv ** 3),
        (Identity(n) + ZeroMatrix(n, n) + OneMatrix(n, n) * A, np.eye(3) + np.ones((3, 3)) @ Av),
        (A ** 2 * v, (Av @ Av @ vv)),
        (Entry(v.T * A * v, 0, 0) * C, (vv @ Av @ vv) * Cv),    # symgrad's 1x1 entry
        ((v.T * A * v)[0, 0], vv @ Av @ vv),                  # SymPy's: an index Sum
        (Ones(n, 1).T * C, np.ones((1, 3)) @ Cv),                 # a row vector stays 2-D
        (A.T * B.I * C, Av.T @ np.linalg.inv(Bv) @ Cv),
    ]
    args = [A, B, C, v]
    torch = None
    if importlib.util.find_spec("torch"):
        import torch
    for expr, want in cases:
        got = sg.lambdify(expr, args)(Av, Bv, Cv, vv)
        np.testing.assert_allclose(got, want, rtol=1e-10, err_msg=str(expr))
        if torch is not None:
            got = sg.lambdify(expr, args, backend="torch")(
                *(torch.tensor(a) for a in (Av, Bv, Cv, vv)))
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10, err_msg=str(expr))


# ------------------------------------------------------------------ elementwise forms

def small():
    rng = np.random.default_rng(11)
    return rng.uniform(0.5, 1.5, 3), rng.uniform(0.5, 1.5, (2, 3))


def vector_loss(a, B):
    return (sg.sin(B @ a) * sg.exp(a.sum())).sum() + (a ** 3).sum() * a[0]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("cse", [True, False])
def test_elementwise_gradient_list_matches_backward(backend, cse):
    if backend == "torch":
        pytest.importorskip("torch")
    av, Bv = small()
    a, B = sg.symbol("a", shape=(3,)), sg.symbol("B", shape=(2, 3))
    grads = sg.gradient(vector_loss(a, B), [a, B], simplify=False)
    fn = sg.lambdify(grads, [a, B], cse=cse, backend=backend)
    ga, gB = fn(av, Bv) if backend == "numpy" else (
        np.asarray(t) for t in fn(*(__import__("torch").tensor(v) for v in (av, Bv))))
    at, Bt = sg.tensor(av, requires_grad=True), sg.tensor(Bv, requires_grad=True)
    vector_loss(at, Bt).backward()
    assert ga.shape == (3,) and gB.shape == (2, 3)
    np.testing.assert_allclose(ga, at.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gB, Bt.grad.numpy(), rtol=1e-12)


def test_cse_pair_matches_backward():
    av, Bv = small()
    a, B = sg.symbol("a", shape=(3,)), sg.symbol("B", shape=(2, 3))
    reps, grads = sg.gradient(vector_loss(a, B), [a, B], cse=True, simplify=False)
    src = sg.codegen((reps, grads), [a, B])
    assert all(f"{s} = " in src for s, _ in reps)  # the pair's intermediates, written once
    ga, gB = sg.lambdify((reps, grads), [a, B])(av, Bv)
    at, Bt = sg.tensor(av, requires_grad=True), sg.tensor(Bv, requires_grad=True)
    vector_loss(at, Bt).backward()
    np.testing.assert_allclose(ga, at.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gB, Bt.grad.numpy(), rtol=1e-12)


def test_hessian_matches_differences_of_backward():
    av, Bv = small()
    a = sg.symbol("a", shape=(3,))
    Bc = sg.tensor(Bv)
    H = sg.lambdify(sg.hessian(vector_loss(a, Bc), [a], simplify=False), [a])(av)
    assert H.shape == (3, 3)

    def grad(p):
        t = sg.tensor(p, requires_grad=True)
        vector_loss(t, Bc).backward()
        return t.grad.numpy()
    h = 1e-6
    cols = [(grad(av + h * e) - grad(av - h * e)) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(H, np.array(cols).T, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(H, H.T, rtol=1e-12)


def test_scalar_args_stay_vectorised_and_names_are_valid_python():
    lam, x = sg.symbol("lambda"), sg.symbol("x")
    g = sg.diff(lam * sg.exp(x) + x ** 2, x)
    src = sg.codegen(g, [lam, x])
    assert "def f(_lambda, x):" in src
    np.testing.assert_allclose(sg.lambdify(g, [lam, x])(2.0, np.array([0.0, 1.0])),
                               [2.0, 2 * np.e + 2])


def test_torch_scalar_args_take_the_array_dtype():
    torch = pytest.importorskip("torch")
    X, w, y = ls_leaves()
    lam = sg.symbol("lam")
    ridge = least_squares(X, w, y) + lam * (w @ w)
    fn = sg.lambdify(sg.diff(ridge, w), [lam, X, w, y], backend="torch")
    Xv, wv, yv = data(8)
    got = fn(0.1, *(torch.tensor(v) for v in (Xv, wv, yv)))
    assert got.dtype == torch.float64
    X_, y_ = sg.tensor(Xv), sg.tensor(yv)
    w_ = sg.tensor(wv, requires_grad=True)
    (least_squares(X_, w_, y_) + 0.1 * (w_ @ w_)).backward()
    np.testing.assert_allclose(got.numpy(), w_.grad.numpy(), rtol=1e-12)


# ------------------------------------------------------------------ C

def c_gradient():
    x, z = sg.symbol("x"), sg.symbol("z")
    a = sg.symbol("a", shape=(2,))
    f = sg.exp(x * z) * sg.sin(x) + (a ** 2).sum() * z
    return [x, z, a], sg.gradient(f, [x, z, a])


def test_c_source():
    args, grads = c_gradient()
    src = sg.codegen(grads, args, lang="c", name="grad")
    assert "#include <math.h>" in src
    assert "void grad(double x, double z, const double *a, double *out) {" in src
    assert "out[3] = " in src and "exp(x*z)" in src
    x = sg.symbol("x")
    assert "double g(double x) {\n    return cos(x);\n}" in sg.codegen(sg.diff(sg.sin(x), x), [x],
                                                                       lang="c", name="g")


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc); source checked "
                                                       "by test_c_source")
def test_c_compiles_and_matches_backward(tmp_path):
    args, grads = c_gradient()
    (tmp_path / "g.c").write_text(sg.codegen(grads, args, lang="c", name="grad"))
    lib = tmp_path / "libg.so"
    subprocess.run(["cc", "-O1", "-shared", "-fPIC", "-o", str(lib), str(tmp_path / "g.c"),
                    "-lm"], check=True, timeout=60)
    fn = ctypes.CDLL(str(lib)).grad
    fn.restype = None
    out, av = (ctypes.c_double * 4)(), (ctypes.c_double * 2)(0.3, -1.2)
    fn(ctypes.c_double(0.7), ctypes.c_double(1.1), av, out)
    x, z = sg.tensor(0.7, requires_grad=True), sg.tensor(1.1, requires_grad=True)
    a = sg.tensor([0.3, -1.2], requires_grad=True)
    (sg.exp(x * z) * sg.sin(x) + (a ** 2).sum() * z).backward()
    want = [x.grad.item(), z.grad.item(), *a.grad.numpy()]
    np.testing.assert_allclose(list(out), want, rtol=1e-12)


def test_c_refuses_matrix_forms():
    X, w, y = ls_leaves()
    with pytest.raises(ValueError, match="lang='c' writes scalar"):
        sg.codegen(sg.diff(least_squares(X, w, y), w), [X, w, y], lang="c")


# ------------------------------------------------------------------ errors

def test_bad_input_is_named():
    x, z = sg.symbol("x"), sg.symbol("z")
    with pytest.raises(ValueError, match="lang must be one of"):
        sg.codegen(sg.diff(sg.exp(x), x), [x], lang="fortran")
    with pytest.raises(ValueError, match="uses z, which no argument provides"):
        sg.codegen(sg.diff(x * z, x), [x])
    with pytest.raises(ValueError, match="name must be a valid identifier"):
        sg.codegen(sg.diff(x * z, x), [x, z], name="my f")
    with pytest.raises(ValueError, match="sg.codegen"):
        sg.lambdify(sg.diff(x * z, x), [x, z], backend="c")
    with pytest.raises(TypeError, match="args are leaf tensors"):
        sg.codegen(sg.diff(x * z, x), [x, 3.0])
    with pytest.raises(ValueError, match="has no spelling for"):
        sg.codegen(sympy.Function("g")(sympy.Symbol("x")), [sympy.Symbol("x")])


# ------------------------------------------------------------------ the matrix battery

def battery():
    """The matrix-calculus battery's cases (tests/symgrad/test_matrix_battery.py)."""
    from tests.symgrad import test_matrix_battery as b
    return b.CASES


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_every_battery_gradient_codegens_and_matches_backward(backend):
    """Each battery case's matrix form (trace, det, inverse, softmax, indicators, kron,
    vec, norms, ...) code-generated and run equals numeric backward() at concrete dims."""
    from tests.symgrad import test_matrix_battery as b
    torch = pytest.importorskip("torch") if backend == "torch" else None
    for name, build, leaves, wrt, _known in b.CASES:
        sym = {n: sg.symbol(n, shape=s) for n, s in leaves.items()}
        g = sg.diff(build(**sym), sym[wrt], form="matrix")
        rng = np.random.default_rng(0)
        values = {n: np.asarray(b._value(n, s, rng, b._KINDS.get(name, {})), dtype=float)
                  for n, s in leaves.items()}
        eager = {n: sg.tensor(values[n], requires_grad=(n == wrt)) for n in leaves}
        build(**eager).backward()
        fn = sg.lambdify(g, list(sym.values()), backend=backend)
        args = [values[n] if torch is None else torch.tensor(values[n]) for n in leaves]
        got = np.asarray(fn(*args), dtype=float)
        want = eager[wrt].grad.numpy()
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9, err_msg=f"{name}: {g}")
        if backend == "numpy":  # the JAX source of the same formula is valid Python
            compile(sg.codegen(g, list(sym.values()), lang="jax"), name, "exec")
