"""Lowering to SymPy and symbolic reverse mode, on bare IR nodes (no Tensor).

Graphs are built from :class:`numeric.node.Node` directly, so these tests pin
down lower_sympy / closed_form / matrix_form independently of the front end.
"""
import numpy as np
import pytest
import sympy

from numeric.node import Node
from numeric.ops import Op
from symgrad.closed_form import diff, gradient, hessian, jacobian, to_sympy
from symgrad.lower_sympy import TO_SYMPY, LoweringError, exact
from symgrad.matrix_form import diff_matrix, to_matrix

F64 = np.dtype(np.float64)


def sym(name, shape=()):
    return Node.leaf("symbol", name=name, shape=tuple(shape), dtype=F64)


def const(v, name=None):
    if isinstance(v, (int, float)):
        return Node.leaf("constant", np.array(float(v)), literal=v)
    return Node.leaf("constant", np.asarray(v, float))


def op(o, *xs, shape=(), **attrs):
    return Node.make(o, tuple(xs), attrs, tuple(shape), F64)


def same(a, b):
    return sympy.simplify(sympy.sympify(a) - sympy.sympify(b)) == 0


def test_table_covers_every_op():
    assert set(TO_SYMPY) == set(Op)


def test_exact_constants():
    assert exact(5.0) == 5 and exact(0.01) == sympy.Rational(1, 100)
    assert exact(0.1) == sympy.Rational(1, 10)


def test_element_symbols_and_size1():
    x = sym("x", (3,))
    assert to_sympy(x) == sympy.Array(sympy.symbols("x_0 x_1 x_2"))
    m = sym("m", (2, 2))
    assert to_sympy(m)[0, 1] == sympy.Symbol("m_0_1")
    s = sym("s", (1,))
    assert to_sympy(s) == sympy.Symbol("s")


def test_seed_square():
    x = sym("x", (1,))
    f = op(Op.POW, x, const(2), shape=(1,))
    assert diff(f, x) == 2 * sympy.Symbol("x")


def test_seed_linear_model():
    w, b = sym("w", (1,)), sym("b", (1,))
    xt, yt = const([[1.0], [2.0], [3.0]]), const([[3.0], [5.0], [7.0]])
    pred = op(Op.ADD, op(Op.MUL, w, xt, shape=(3, 1)), b, shape=(3, 1))
    loss = op(Op.SUM, op(Op.POW, op(Op.SUB, pred, yt, shape=(3, 1)), const(2), shape=(3, 1)),
              axis=None, keepdims=False)
    dw, db = gradient(loss, [w, b])
    W, B = sympy.symbols("w b")
    assert same(dw, 28 * W + 12 * B - 68) and same(db, 12 * W + 6 * B - 30)
    assert str(dw) == "12*b + 28*w - 68"
    assert sympy.solve([dw, db], [W, B]) == {W: 2, B: 1}


def test_matmul_and_reductions_lower():
    a, b = sym("a", (2, 3)), sym("b", (3,))
    out = to_sympy(op(Op.MATMUL, a, b, shape=(2,)))
    assert out[1] == sum(sympy.Symbol(f"a_1_{k}") * sympy.Symbol(f"b_{k}")
                         for k in range(3))
    s = to_sympy(op(Op.SUM, a, axis=(0,), keepdims=True, shape=(1, 3)))
    assert s.shape == (1, 3)
    sm = to_sympy(op(Op.SOFTMAX, b, axis=0, shape=(3,)))
    assert same(sum(sm), 1)


def test_symbolic_dims_need_matrix_form():
    X = sym("X", ("N", "d"))
    with pytest.raises(LoweringError, match="form='matrix'"):
        to_sympy(X)


def test_kinks_match_numeric():
    x = sym("x")
    X = sympy.Symbol("x")
    assert diff(op(Op.RELU, x), x).subs(X, 0) == 0
    assert diff(op(Op.RELU, x), x).subs(X, 2) == 1
    assert diff(op(Op.ABS, x), x).subs(X, 0) == 0
    y = sym("y")
    Y = sympy.Symbol("y")
    assert diff(op(Op.MAXIMUM, x, y), x).subs({X: 1, Y: 1}) == sympy.Rational(1, 2)
    assert diff(op(Op.MINIMUM, x, y), y).subs({X: 1, Y: 1}) == sympy.Rational(1, 2)
    c = op(Op.CLAMP, x, min=-1.0, max=1.0)
    assert [diff(c, x).subs(X, v) for v in (-1, 1, 2)] == [1, 1, 0]
    assert diff(op(Op.SQRT, x), x, simplify=False).subs(X, 0) in (sympy.zoo, sympy.oo)


def test_max_reduction_splits_ties_evenly():
    v = sym("v", (3,))
    g = diff(op(Op.MAX, v, axis=None, keepdims=False), v)
    vs = sympy.symbols("v_0 v_1 v_2")
    at = {s: 2 for s in vs}
    assert [g[i].subs(at) for i in range(3)] == [sympy.Rational(1, 3)] * 3
    at = {vs[0]: 1, vs[1]: 3, vs[2]: 3}
    assert [g[i].subs(at) for i in range(3)] == [0, sympy.Rational(1, 2), sympy.Rational(1, 2)]
    at = {vs[0]: 5, vs[1]: 3, vs[2]: 1}
    assert [g[i].subs(at) for i in range(3)] == [1, 0, 0]


def test_jacobian_and_hessian():
    x = sym("x", (2,))
    f = op(Op.MUL, x, op(Op.GETITEM, x, index=(0,)), shape=(2,))
    x0, x1 = sympy.symbols("x_0 x_1")
    assert jacobian(f, x) == sympy.Matrix([[2 * x0, 0], [x1, x0]])
    a, b = sym("a"), sym("b")
    h = hessian(op(Op.MUL, op(Op.EXP, a), op(Op.SIN, b)), [a, b])
    A, B = sympy.symbols("a b")
    assert h == sympy.hessian(sympy.exp(A) * sympy.sin(B), [A, B])


def chain(n):
    xs = [sym(f"x{i}") for i in range(n)]
    f = None
    for i in range(n - 1):
        t = op(Op.MUL, op(Op.SIN, op(Op.MUL, xs[i], xs[i + 1])),
               op(Op.EXP, op(Op.POW, xs[i], const(2))))
        f = t if f is None else op(Op.ADD, f, t)
    return f, xs


def test_reverse_mode_op_count_is_linear():
    counts = {}
    for n in (10, 20, 40):
        f, xs = chain(n)
        reps, grads = gradient(f, xs, cse=True)
        counts[n] = sympy.count_ops([e for _, e in reps] + list(grads))
    # exactly affine in n: each extra variable adds the same number of operations
    assert counts[40] - counts[20] == 2 * (counts[20] - counts[10])
    assert counts[40] / 40 < 16


def test_reverse_mode_matches_sympy_diff():
    f, xs = chain(6)
    reps, grads = gradient(f, xs, cse=True)
    full = to_sympy(f)
    table = {}
    for s, e in reps:
        table[s] = e.xreplace(table)
    for x, g in zip(xs, grads):
        assert same(g.xreplace(table), sympy.diff(full, sympy.Symbol(x.name)))


def _explicit(e):
    n, d = sympy.symbols("N d")
    return sympy.Matrix(e.subs({n: 3, d: 2}).as_explicit())


def test_matrix_form_least_squares_and_logistic():
    X, w, y = sym("X", ("N", "d")), sym("w", ("d",)), sym("y", ("N",))
    n, d = sympy.symbols("N d")
    Xs, ws, ys = (sympy.MatrixSymbol("X", n, d), sympy.MatrixSymbol("w", d, 1),
                  sympy.MatrixSymbol("y", n, 1))
    z = op(Op.MATMUL, X, w, shape=("N",))
    r = op(Op.SUB, z, y, shape=("N",))
    sq = op(Op.POW, r, const(2), shape=("N",))
    g = diff_matrix(op(Op.SUM, sq, axis=None, keepdims=False), w)
    assert str(g) == "2*X.T*(X*w - y)"
    assert (_explicit(g) - _explicit(2 * Xs.T * (Xs * ws - ys))).applyfunc(sympy.expand) == \
        sympy.zeros(2, 1)
    g = diff_matrix(op(Op.MEAN, sq, axis=None, keepdims=False), w)
    assert (_explicit(g) - _explicit(2 * Xs.T * (Xs * ws - ys) / n).subs(n, 3)).applyfunc(
        sympy.expand) == sympy.zeros(2, 1)
    loss = op(Op.SUM, op(Op.SUB, op(Op.SOFTPLUS, z, shape=("N",)),
                         op(Op.MUL, y, z, shape=("N",)), shape=("N",)), axis=None, keepdims=False)
    g = diff_matrix(loss, w)
    assert str(g) == "X.T*(sigmoid(X*w) - y)"
    u = sympy.Dummy(real=True)
    want = Xs.T * (sympy.matrices.expressions.applyfunc.ElementwiseApplyFunction(
        sympy.Lambda(u, 1 / (1 + sympy.exp(-u))), Xs * ws) - ys)
    assert (_explicit(g) - _explicit(want)).applyfunc(sympy.simplify) == sympy.zeros(2, 1)
    assert str(to_matrix(z)) == "X*w"


def test_deep_chain_is_iterative():
    x = sym("x")
    t = x
    for _ in range(3000):
        t = op(Op.ADD, t, const(1))
    assert to_sympy(t) == sympy.Symbol("x") + 3000


def test_matrix_scalar_of_a_sum_stays_index_free():
    X, w = sym("X", ("N", "d")), sym("w", ("d",))
    s = op(Op.SUM, op(Op.MATMUL, X, w, shape=("N",)), axis=None, keepdims=False)
    f = op(Op.EXP, s)
    assert str(to_matrix(f)) == "exp(sum(X*w))"
    g = diff_matrix(f, w)
    assert str(g) == "exp(sum(X*w))*X.T*ones(N, 1)"
    n, d = sympy.symbols("N d")
    Xs, ws = sympy.MatrixSymbol("X", n, d), sympy.MatrixSymbol("w", d, 1)
    total = (sympy.OneMatrix(1, n) * Xs * ws).subs({n: 3, d: 2}).as_explicit()[0, 0]
    want = sympy.Matrix([sympy.exp(total) * sum(Xs[i, j] for i in range(3))
                         for j in range(2)]).subs({n: 3, d: 2})
    got = g.subs({n: 3, d: 2}).doit().as_explicit()
    assert (got - want).applyfunc(sympy.expand) == sympy.zeros(2, 1)


def test_hessian_drops_dirac_delta_and_relu_has_no_half():
    x = sym("x")
    X = sympy.Symbol("x")
    H = hessian(op(Op.MUL, op(Op.RELU, x), x), [x])
    assert not H.has(sympy.DiracDelta)
    assert [H[0, 0].subs(X, v) for v in (-1, 0, 2)] == [0, 0, 2]
    H = hessian(op(Op.MUL, op(Op.ABS, x), x), [x])
    assert H == sympy.Matrix([[2 * sympy.sign(X)]])
