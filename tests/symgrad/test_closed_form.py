"""Closed forms through the real front end: the seed, every op vs backward()."""
import numpy as np
import pytest
import sympy

import symgrad as sg


def same(a, b):
    return sympy.simplify(sympy.sympify(a) - sympy.sympify(b)) == 0


def test_seed_square():
    x = sg.tensor([5.0], requires_grad=True, name="x")
    assert sg.diff(x ** 2, x) == 2 * sympy.Symbol("x", real=True)
    assert str(sg.to_sympy(x ** 2)) == "x**2"


def test_seed_linear_model():
    w = sg.tensor([1.0], requires_grad=True, name="w")
    b = sg.tensor([0.0], requires_grad=True, name="b")
    xt, yt = sg.tensor([[1.0], [2.0], [3.0]]), sg.tensor([[3.0], [5.0], [7.0]])
    loss = ((w * xt + b - yt) ** 2).sum()
    dw, db = sg.gradient(loss, [w, b])
    W, B = sympy.symbols("w b", real=True)
    assert same(dw, 28 * W + 12 * B - 68) and same(db, 12 * W + 6 * B - 30)
    assert sympy.solve([dw, db], [W, B]) == {W: 2, B: 1}


def test_literals_exact():
    x = sg.symbol("x")
    assert sg.to_sympy(x * 0.01 + 5.0) == sympy.Symbol("x", real=True) / 100 + 5


def test_matrix_form_auto():
    X, w, y = sg.symbol("X", ("N", "d")), sg.symbol("w", ("d",)), sg.symbol("y", ("N",))
    g = sg.diff(((X @ w - y) ** 2).sum(), w)
    n, d = sympy.symbols("N d", integer=True, positive=True)
    Xs, ws, ys = (sympy.MatrixSymbol("X", n, d), sympy.MatrixSymbol("w", d, 1),
                  sympy.MatrixSymbol("y", n, 1))
    diff = (g - 2 * Xs.T * (Xs * ws - ys)).subs({n: 3, d: 2}).as_explicit()
    assert diff.applyfunc(sympy.expand) == sympy.zeros(2, 1)


# every op: closed-form gradient (lambdified) vs numeric backward() at float64 points
UNARY = ["exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid",
         "softplus", "relu", "abs"]
CASES = [(name, lambda a, b, n=name: getattr(sg, n)(a) * b) for name in UNARY] + [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b), ("pow", lambda a, b: a ** b),
    ("maximum", sg.maximum), ("minimum", sg.minimum), ("neg", lambda a, b: -a * b),
    ("clamp", lambda a, b: sg.clamp(a, min=0.8, max=1.5) * b),
    ("where", lambda a, b: sg.where(sg.tensor([True, False, True]), a, b)),
    ("matmul", lambda a, b: a @ b), ("sum", lambda a, b: a.sum(dim=0) * b),
    ("mean", lambda a, b: a.mean() * b), ("max", lambda a, b: a.max() * b),
    ("min", lambda a, b: a.min() * b), ("logsumexp", lambda a, b: sg.logsumexp(a * b, dim=0)),
    ("softmax", lambda a, b: sg.softmax(a * b, dim=0)[1]),
    ("log_softmax", lambda a, b: sg.log_softmax(a * b, dim=0)[0]),
    ("reshape", lambda a, b: a.reshape(3, 1) * b), ("permute", lambda a, b: a[None].T * b),
    ("getitem", lambda a, b: a[1:] * b[0]), ("cat", lambda a, b: sg.cat([a, b]) * 2.0),
    ("stack", lambda a, b: sg.stack([a, b]) ** 2),
]


@pytest.mark.parametrize("name,fn", CASES, ids=[c[0] for c in CASES])
def test_gradient_matches_backward(name, fn):
    rng = np.random.default_rng(sum(map(ord, name)))
    av, bv = rng.uniform(0.7, 1.7, 3), rng.uniform(0.7, 1.7, 3)
    a = sg.tensor(av, requires_grad=True, name="a")
    b = sg.tensor(bv, requires_grad=True, name="b")
    out = fn(a, b).sum()
    ga, gb = sg.gradient(out, [a, b], simplify=False)  # before backward() frees the graph
    out.backward()
    got_a = sg.lambdify(ga, [a, b])(av, bv)
    got_b = sg.lambdify(gb, [a, b])(av, bv)
    np.testing.assert_allclose(got_a, a.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got_b, b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_cse_gradient_lambdifies():
    x, y = sg.symbol("x"), sg.symbol("y")
    f = sg.sin(x * y) * sg.exp(x * y)
    reps, grads = sg.gradient(f, [x, y], cse=True)
    fn = sg.lambdify((reps, grads), [x, y])
    X, Y = sympy.symbols("x y", real=True)
    want = [sympy.diff(sympy.sin(X * Y) * sympy.exp(X * Y), v).subs({X: 0.3, Y: 0.7})
            for v in (X, Y)]
    np.testing.assert_allclose(fn(0.3, 0.7), [float(w) for w in want], rtol=1e-12)


def test_latex():
    x = sg.symbol("x")
    assert sg.latex(sg.sqrt(x)) == "\\sqrt{x}"
