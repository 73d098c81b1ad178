"""Closed forms through the real front end: the seed, every op vs backward()."""
import numpy as np
import pytest
import sympy

import symgrad as sg


def same(a, b):
    return sympy.simplify(sympy.sympify(a) - sympy.sympify(b)) == 0


def test_seed_square():
    x = sg.tensor([5.0], requires_grad=True, name="x")
    assert sg.diff(x ** 2, x) == 2 * sympy.Symbol("x")
    assert str(sg.to_sympy(x ** 2)) == "x**2"


def test_seed_linear_model():
    w = sg.tensor([1.0], requires_grad=True, name="w")
    b = sg.tensor([0.0], requires_grad=True, name="b")
    xt, yt = sg.tensor([[1.0], [2.0], [3.0]]), sg.tensor([[3.0], [5.0], [7.0]])
    loss = ((w * xt + b - yt) ** 2).sum()
    dw, db = sg.gradient(loss, [w, b])
    W, B = sympy.symbols("w b")
    assert same(dw, 28 * W + 12 * B - 68) and same(db, 12 * W + 6 * B - 30)
    assert sympy.solve([dw, db], [W, B]) == {W: 2, B: 1}


def test_literals_exact():
    x = sg.symbol("x")
    assert sg.to_sympy(x * 0.01 + 5.0) == sympy.Symbol("x") / 100 + 5


def test_matrix_form_auto():
    X, w, y = sg.symbol("X", ("N", "d")), sg.symbol("w", ("d",)), sg.symbol("y", ("N",))
    g = sg.diff(((X @ w - y) ** 2).sum(), w)
    n, d = sympy.symbols("N d")
    Xs, ws, ys = (sympy.MatrixSymbol("X", n, d), sympy.MatrixSymbol("w", d, 1),
                  sympy.MatrixSymbol("y", n, 1))
    diff = (g - 2 * Xs.T * (Xs * ws - ys)).subs({n: 3, d: 2}).as_explicit()
    assert diff.applyfunc(sympy.expand) == sympy.zeros(2, 1)


def test_leaves_are_plain_symbols_everywhere():
    # Note [Plain leaves]: leaves carry no assumptions in every public result
    x = sg.tensor([5.0], requires_grad=True, name="x")
    assert sg.diff(x ** 2, x) == 2 * sympy.Symbol("x")
    assert sg.diff(x ** 2, x).subs(sympy.Symbol("x"), 3) == 6
    v = sg.symbol("v", shape=(2,))
    assert sg.to_sympy(v) == sympy.Array(sympy.symbols("v_0 v_1"))
    X, w = sg.symbol("X", ("N", "d")), sg.symbol("w", ("d",))
    N, d = sympy.symbols("N d")
    assert sg.to_sympy(X, form="matrix") == sympy.MatrixSymbol("X", N, d)
    assert sg.diff((X @ w).mean(), w).free_symbols >= {sympy.MatrixSymbol("X", N, d), N}
    s, y = sg.symbol("s"), sg.symbol("y")
    assert sg.diff(s * y, s) == sympy.Symbol("y")
    assert sg.diff(((X @ w) * s).sum(), s).has(sympy.MatrixSymbol("w", d, 1))
    for e in [*sg.gradient(sg.exp(s * y), [s, y]), sg.hessian(s * y, [s, y]),
              sg.jacobian(v * v[0], v), sg.to_sympy(sg.parse("a*b"))]:
        assert all(sym.assumptions0.keys() <= {"commutative"}
                   for sym in e.atoms(sympy.Symbol)), e


def test_simplify_and_second_derivatives_still_see_real_leaves():
    # plain symbols would leave sqrt(x**2), d sign(x)/dx, re/im in the results
    x, y = sg.symbol("x"), sg.symbol("y")
    X = sympy.Symbol("x")
    assert sg.diff(sg.log(sg.exp(x)), x) == 1
    assert sg.diff(sg.abs(x) ** 2, x) == 2 * X
    assert sg.diff(sg.sqrt(x * x), x) == X / sympy.Abs(X)
    h = sg.hessian(sg.abs(x) * x + y, [x, y])
    assert h == sympy.Matrix([[2 * sympy.sign(X), 0], [0, 0]])
    assert not h.has(sympy.Derivative, sympy.re, sympy.im, sympy.DiracDelta)
    from symgrad.cli_formula import partials
    got = dict(partials(sg.parse("abs(x)*y"), ["x", "y"], 2, simplify=True))
    assert got[(0, 1)] == sympy.sign(X) and got[(1, 1)] == 0
    assert not got[(0, 0)].has(sympy.Derivative)  # d sign(x)/dx evaluated (DiracDelta)


def test_cse_intermediates_never_take_a_leaf_name():
    v0, v1, x = sg.symbol("v0"), sg.symbol("v1"), sg.symbol("x")
    f = sg.exp(v0 * x) * v1 * x + sg.sin(v0 * v1)
    reps, grads = sg.gradient(f, [v0, v1, x], cse=True)
    leaves = set(sympy.symbols("v0 v1 x"))
    assert reps and not {s for s, _ in reps} & leaves
    assert not {s.name for s, _ in reps} & {"v0", "v1", "x"}
    fn = sg.lambdify((reps, grads), [v0, v1, x])
    exact = sg.gradient(f, [v0, v1, x])
    at = {sympy.Symbol("v0"): 0.3, sympy.Symbol("v1"): 0.7, sympy.Symbol("x"): 1.1}
    np.testing.assert_allclose(fn(0.3, 0.7, 1.1), [float(g.subs(at)) for g in exact])


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
    X, Y = sympy.symbols("x y")
    want = [sympy.diff(sympy.sin(X * Y) * sympy.exp(X * Y), v).subs({X: 0.3, Y: 0.7})
            for v in (X, Y)]
    np.testing.assert_allclose(fn(0.3, 0.7), [float(w) for w in want], rtol=1e-12)


def test_latex():
    x = sg.symbol("x")
    assert sg.latex(sg.sqrt(x)) == "\\sqrt{x}"
