"""Issue 12: matrix calculus a researcher can paste into a paper.

One test (or a few) per numbered "Deliver" item of the issue, in its words: the
examples it names give the results it names.  The battery of 40+ cases lives in
tests/symgrad/test_matrix_battery.py; the parser/CLI details in
tests/symgrad/test_parse_matrix.py and tests/test_cli_matrix.py.
"""
from __future__ import annotations

import re
import time

import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad import cli


def S(name, *shape, **kw):
    return sg.symbol(name, shape=shape, **kw)


# ------------------------------------------------------------------ 1. never stall

# each case: (builder, {leaf: shape}, variable); built once over symbols, once over tensors
STALLS = {
    "a@tanh(B@x)": (lambda a, B, x: a @ sg.tanh(B @ x), {"a": (2,), "B": (2, 3), "x": (3,)},
                    "x"),
    "logistic": (lambda X, w, y: (sg.softplus(X @ w) - y * (X @ w)).sum(),
                 {"X": (4, 3), "w": (3,), "y": (4,)}, "w"),
    "sum(relu(X@w))": (lambda X, w: sg.relu(X @ w).sum(), {"X": (4, 3), "w": (3,)}, "w"),
    "MLP dW1": (lambda W1, W2, x, y: ((W2 @ sg.tanh(W1 @ x) - y) ** 2).sum(),
                {"W1": (3, 2), "W2": (1, 3), "x": (2,), "y": (1,)}, "W1"),
}


def _symbols(shapes):
    return {k: sg.symbol(k, shape=v) for k, v in shapes.items()}


def _agrees_with_numeric(build, shapes, wrt, exact):
    """The exact derivative at a random point equals numeric backward() there."""
    rng = np.random.default_rng(0)
    values = {k: rng.uniform(-1, 1, v) for k, v in shapes.items()}
    subs = {}
    for name, v in values.items():
        if v.size == 1:                      # a size-1 leaf is a plain symbol
            subs[sympy.Symbol(name)] = float(v.ravel()[0])
        for idx in np.ndindex(v.shape):
            subs[sympy.Symbol(name + "".join(f"_{i}" for i in idx))] = float(v[idx])
    got = np.array(sympy.Array(exact).subs(subs).tolist(), dtype=float)
    tensors = {k: sg.tensor(v, requires_grad=True) for k, v in values.items()}
    build(**tensors).backward()
    np.testing.assert_allclose(got.reshape(shapes[wrt]), tensors[wrt].grad.numpy(),
                               rtol=1e-9, atol=1e-12)


# the issue's stalls (113 s, 22 s, 18 s, > 60 s) returning within the default budget, with
# values checked against backward(), are tests/symgrad/test_budget.py's first six tests


def test_simplify_rejects_unknown_strategies():
    x = S("x")
    with pytest.raises(ValueError, match="simplify"):
        sg.diff(x ** 2, x, simplify="maybe")
    assert sg.diff(x ** 2, x, simplify=False) == 2 * sympy.Symbol("x")


def test_timeout_warns_and_marks_the_result():
    build, shapes, wrt = STALLS["a@tanh(B@x)"]
    leaves = _symbols(shapes)
    with pytest.warns(sg.SimplifyTimeout):
        d = sg.diff(build(**leaves), leaves[wrt], timeout=1e-9)
    assert getattr(d, "timed_out", False) is True
    _agrees_with_numeric(build, shapes, wrt, d)


def _chain(depth):
    x = S("x")
    y = x
    for _ in range(depth):
        y = sg.sin(y)
    v, expected = 0.3, 1.0
    for _ in range(depth):
        expected *= np.cos(v)
        v = np.sin(v)
    return x, y, expected


def _evaluate_cse(replacements, result, x_value):
    table = {sympy.Symbol("x"): sympy.Float(x_value, 30)}
    for sym, e in replacements:
        table[sym] = e.xreplace(table).evalf(30)
    return float(result.xreplace(table).evalf(30))


def test_a_deep_chain_says_how_to_get_its_derivative():
    """400 levels: no bare RecursionError; a clear error naming cse=True, which works."""
    x, y, expected = _chain(400)
    with pytest.raises(sg.TooDeepError, match="cse=True") as info:
        sg.diff(y, x)
    assert isinstance(info.value, ValueError)
    reps, d = sg.diff(y, x, cse=True)
    assert _evaluate_cse(reps, d, 0.3) == pytest.approx(expected, rel=1e-9)


# 10^4-deep chains of sin and of additions: tests/symgrad/test_budget.py


# ------------------------------------------------------------------ 2. linear algebra

N = ("N", "N")


def test_matrix_cookbook_results_in_the_issue():
    A, X, B = S("A", *N), S("X", *N), S("B", *N)
    x, y = S("x", "N"), S("y", "N")
    z, t = S("z", "K"), S("t", "K")
    assert str(sg.diff(sg.trace(A @ X @ B), X)) == "A.T*B.T"
    assert sg.diff(sg.logdet(X), X) == sympy.MatrixSymbol("X", *sympy.symbols("N N")).T.I
    assert str(sg.diff(sg.linalg.vector_norm(A @ x - y), x)) == \
        "1/norm2(A*x - y)*A.T*(A*x - y)"
    # softmax cross-entropy: sum(t)*softmax(z) - t, which is softmax(z) - onehot
    assert str(sg.diff(-(t * sg.log_softmax(z, 0)).sum(), z)) == "sum(t)*softmax(z) - t"


@pytest.mark.parametrize("build, wrt, want", [
    (lambda A, X, x, y: sg.det(X), "X", "Determinant(X)*X.T**(-1)"),
    (lambda A, X, x, y: sg.trace(sg.inverse(X) @ A), "X", "-X.T**(-1)*A.T*X.T**(-1)"),
    (lambda A, X, x, y: (sg.linalg.solve(A, x)).sum(), "x", "A.T**(-1)*ones(N, 1)"),
    (lambda A, X, x, y: sg.linalg.vector_norm(x, 1), "x", "sign(x)"),
    (lambda A, X, x, y: sg.linalg.matrix_norm(X), "X", "1/norm2(X)*X"),
    (lambda A, X, x, y: sg.logsumexp(x, 0), "x", "softmax(x)"),
    (lambda A, X, x, y: sg.maximum(x, y).sum(), "x", "[x > y]"),
    (lambda A, X, x, y: sg.where(S("m", "N", dtype=sg.bool, requires_grad=False), x, 2 * x).sum(),
     "x", None),
    (lambda A, X, x, y: (sg.outer(x, y) * A).sum(), "x", "A*y"),
    (lambda A, X, x, y: x @ sg.eye("N") @ y, "x", "y"),
])
def test_linear_algebra_ops_lower_in_matrix_form(build, wrt, want):
    A, X = S("A", *N), S("X", *N)
    x, y = S("x", "N"), S("y", "N")
    leaves = {"A": A, "X": X, "x": x, "y": y}
    d = sg.diff(build(A, X, x, y), leaves[wrt])     # the self-check runs here
    if want is not None:
        assert str(d) == want


# ------------------------------------------------------------------ 3. Jacobians, Hessians

def test_matrix_hessians_in_the_issue():
    X, w, y = S("X", "n", "d"), S("w", "d"), S("y", "n")
    A, x = S("A", "n", "n"), S("x", "n")
    assert str(sg.hessian(((X @ w - y) ** 2).sum(), w, form="matrix")) == "2*X.T*X"
    z = X @ w
    assert str(sg.hessian((sg.softplus(z) - y * z).sum(), w, form="matrix")) == \
        "X.T*diag(sigmoid(X*w)*(1 - sigmoid(X*w)))*X"
    assert str(sg.hessian(x @ A @ x, x, form="matrix")) == "A + A.T"


def test_a_third_order_result_says_which_tensor_it_is():
    X = S("X", "n", "d")
    with pytest.raises(ValueError, match="4th-order tensor"):
        sg.hessian((sg.exp(X)).sum(), X, form="matrix")


def test_matrix_jacobian():
    A, x = S("A", "m", "n"), S("x", "n")
    assert str(sg.jacobian(A @ x, x, form="matrix")) == "A"


# ------------------------------------------------------------------ 5. self-check

def test_a_wrong_matrix_rule_raises_instead_of_printing(monkeypatch):
    from symgrad import matrix_form
    X, w, y = S("X", "n", "d"), S("w", "d"), S("y", "n")
    f = ((X @ w - y) ** 2).sum()
    real = matrix_form._backward_rule

    def wrong(node, g, vals, shapes):
        return [(k, 3 * a) for k, a in real(node, g, vals, shapes)]

    monkeypatch.setattr(matrix_form, "_backward_rule", wrong)
    with pytest.raises(sg.MatrixFormMismatch):
        sg.diff(f, w)
    assert "X.T" in str(sg.diff(f, w, check=False))    # returned unchecked on request


# ------------------------------------------------------------------ 6. sg.func

def test_sg_func_transforms_exist_and_agree():
    F = sg.func
    for name in ("grad", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "hvp"):
        assert callable(getattr(F, name))

    def f(x):
        return (x ** 3).sum()

    x = sg.tensor([1.0, 2.0])
    np.testing.assert_allclose(F.grad(f)(x).numpy(), [3.0, 12.0])
    np.testing.assert_allclose(F.hessian(f)(x).numpy(), [[6.0, 0.0], [0.0, 12.0]])
    _, (hv,) = F.hvp(f, (x,), (sg.tensor([1.0, 1.0]),))
    np.testing.assert_allclose(hv.numpy(), [6.0, 12.0])
    _, jv = F.jvp(lambda v: v * v, (x,), (sg.tensor([1.0, 0.0]),))
    np.testing.assert_allclose(jv.numpy(), [2.0, 0.0])
    np.testing.assert_allclose(F.jacfwd(lambda v: v * v)(x).numpy(), np.diag([2.0, 4.0]))
    np.testing.assert_allclose(F.jacrev(lambda v: v * v)(x).numpy(), np.diag([2.0, 4.0]))


# ------------------------------------------------------------------ 7. CLI

def _cli(argv, capsys):
    try:
        rc = cli.main(list(argv))
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_reads_shapes(capsys):
    rc, out, err = _cli(["diff", "sum((X@w - y)**2)", "--wrt", "w", "--shape", "X=n,d",
                         "--shape", "w=d", "--shape", "y=n"], capsys)
    assert rc == 0, err
    assert "2*X.T*(X*w - y)" in out


def test_cli_matrixcalculus_notation(capsys):
    rc, out, err = _cli(["diff", "x'*A*x", "--wrt", "x", "--notation", "matrixcalculus"],
                        capsys)
    assert rc == 0, err
    assert "(A + A.T)*x" in out
    rc, out, err = _cli(["diff", "x'*A*x", "--wrt", "x", "--notation", "matrixcalculus",
                         "--hessian"], capsys)
    assert rc == 0, err
    assert "A + A.T" in out


@pytest.mark.parametrize("text, message", [
    ("I*x", "symgrad is real-valued"),
    ("x^2", "use ** for powers"),
])
def test_parser_messages(text, message):
    with pytest.raises(sg.ParseError, match=re.escape(message)):
        sg.parse(text)


def test_pi_and_e_are_constants(capsys):
    rc, out, err = _cli(["diff", "E**x + pi*x"], capsys)
    assert rc == 0, err
    assert "exp(x) + pi" in out and "log(E)" not in out


def test_singular_values_print_inf_or_nan(capsys):
    rc, out, err = _cli(["diff", "log(x)", "--at", "x=0"], capsys)
    assert "zoo" not in out + err
    assert "inf" in out or "nan" in out


# ------------------------------------------------------------------ 8. bounded work

def test_long_sums_are_bounded():
    t0 = time.perf_counter()
    try:
        f = sg.parse("x+" * 49999 + "x")
    except sg.ParseError as err:
        assert "node" in str(err).lower() or "limit" in str(err).lower()
    else:
        sg.to_sympy(f)
    assert time.perf_counter() - t0 < 30


def test_python_limits_do_not_leak(capsys):
    rc, out, err = _cli(["diff", "x**10000", "--at", "x=3"], capsys)
    assert "Exceeds the limit" not in out + err and "Traceback" not in out + err
    for text in ["(x**10000)**10000", "1e999*x", "٣*x", "１２*x"]:
        with pytest.raises(sg.ParseError):
            sg.parse(text)
