"""``symgrad diff`` with shapes, matrixcalculus notation, --hessian, --latex, --code (issue 12).

In-process through :func:`symgrad.cli.main`. Elementwise results are read back with
SymPy and compared with the Matrix Cookbook's formulas at exact points.
"""
from __future__ import annotations

import time

import pytest
import sympy

from symgrad import cli

LSQ = ["diff", "sum((X@w - y)**2)", "--wrt", "w"]
LSQ_SYMBOLIC = LSQ + ["--shape", "X=n,d", "--shape", "w=d", "--shape", "y=n"]
LSQ_CONCRETE = LSQ + ["--shape", "X=3,2", "--shape", "w=2", "--shape", "y=3"]


def run(argv, capsys):
    try:
        rc = cli.main(list(argv))
    except SystemExit as exc:      # argparse usage errors
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def one_error(rc, err, status, contains):
    assert rc == status, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert contains in lines[0], lines[0]


def value(text: str, name: str, m: sympy.Matrix) -> dict:
    """Entry symbols ``X_i_j`` (or ``w_i`` for a column) bound to the entries of ``m``."""
    if m.cols == 1:
        return {sympy.Symbol(f"{name}_{i}"): m[i] for i in range(m.rows)}
    return {sympy.Symbol(f"{name}_{i}_{j}"): m[i, j]
            for i in range(m.rows) for j in range(m.cols)}


def read_result(out: str, label: str) -> sympy.Matrix:
    line = next(ln for ln in out.splitlines() if ln.startswith(label + " = "))
    return sympy.Matrix(sympy.sympify(line.split(" = ", 1)[1]))


Xv = sympy.Matrix([[1, 2], [3, -1], [0, 4]])
wv = sympy.Matrix([2, -3])
yv = sympy.Matrix([1, 0, 5])


# ------------------------------------------------------------------- --shape
def test_least_squares_in_matrix_form(capsys):
    rc, out, err = run(LSQ_SYMBOLIC, capsys)
    assert (rc, err) == (0, "")
    assert out.splitlines() == ["df/dw = 2*X.T*(X*w - y)"]


def test_least_squares_elementwise_at_concrete_shapes(capsys):
    rc, out, err = run(LSQ_CONCRETE, capsys)
    assert (rc, err) == (0, "")
    g = read_result(out, "df/dw")
    env = {**value(out, "X", Xv), **value(out, "w", wv), **value(out, "y", yv)}
    assert g.xreplace(env) == 2 * Xv.T * (Xv * wv - yv)


def test_every_variable_by_default(capsys):
    rc, out, _ = run(["diff", "sum((X@w - y)**2)", "--shape", "X=n,d", "--shape", "w=d",
                      "--shape", "y=n"], capsys)
    assert rc == 0
    assert [ln.split(" = ")[0] for ln in out.splitlines()] == ["df/dX", "df/dw", "df/dy"]


def test_latex_of_a_matrix_result(capsys):
    rc, out, _ = run(LSQ_SYMBOLIC + ["--latex"], capsys)
    assert rc == 0
    assert out.strip() == (r"\frac{\partial f}{\partial w} = "
                           r"2 X^{T} \left(X w - y\right)")


@pytest.mark.parametrize("argv,status,message", [
    (["diff", "x", "--shape", "y=3"], 2, "--shape y: not a variable of the expression"),
    (["diff", "sum(x)", "--shape", "x=n,m,k"], 2, "at most 2 dims"),
    (["diff", "sum(x)", "--shape", "x=3", "--shape", "x=4"], 2, "--shape gives x twice"),
    (["diff", "sum(x)", "--shape", "x=-3"], 2, "neither a number"),
    (["diff", "sum(x)", "--shape", "x3"], 2, "--shape expects NAME=d1,d2"),
    (["diff", "sum(X)", "--shape", "X=1000,1000"], 2, "more than 1000 for elementwise"),
    (["diff", "X@w", "--shape", "X=n,d", "--shape", "w=d"], 2, "wrap it in sum(...)"),
    (["diff", "sum(w)", "--shape", "w=n", "--order", "2"], 2, "use --hessian"),
    (["diff", "sum(w)", "--shape", "w=3", "--at", "w=1"], 2, "--at evaluates formulas in "
                                                              "scalar variables only"),
    (["diff", "sum(w*w)", "--shape", "w=n", "--expand"], 2, "--expand applies to "
                                                            "elementwise results"),
    (["diff", "sum(w)", "--shape", "w=n", "--hessian", "--order", "2"], 2, "drop --order"),
])
def test_shape_mistakes_are_one_line_errors(argv, status, message, capsys):
    rc, _, err = run(argv, capsys)
    one_error(rc, err, status, message)


def test_scalar_shape_is_allowed(capsys):
    rc, out, _ = run(["diff", "a*sum(w)", "--shape", "w=n", "--shape", "a=", "--wrt", "a"],
                     capsys)
    assert rc == 0 and out.startswith("df/da = ") and "sum(w)" in out   # sum of w


# ------------------------------------------------------------------- --hessian
def test_scalar_hessian_with_values(capsys):
    rc, out, err = run(["diff", "x**2*y", "--hessian", "--at", "x=1,y=2"], capsys)
    assert (rc, err) == (0, "")
    assert out.splitlines() == ["hessian(x, y) = [[2*y, 2*x], [2*x, 0]]",
                                "  at x=1, y=2: exact [[4, 2], [2, 0]], "
                                "float64 [[4.0, 2.0], [2.0, 0.0]]"]


def test_elementwise_hessian_of_least_squares_is_2_XtX(capsys):
    rc, out, _ = run(LSQ_CONCRETE + ["--hessian"], capsys)
    assert rc == 0
    h = read_result(out, "d2f/dw2")
    assert h.xreplace(value(out, "X", Xv)) == 2 * Xv.T * Xv


def test_elementwise_hessian_size_is_bounded(capsys):
    rc, _, err = run(["diff", "sum(w*w)", "--shape", "w=101", "--hessian"], capsys)
    one_error(rc, err, 2, "more than 10000")


def test_matrix_hessian_of_least_squares(capsys):
    rc, out, err = run(LSQ_SYMBOLIC + ["--hessian"], capsys)
    assert (rc, err) == (0, "")
    assert out.strip() == "d2f/dw2 = 2*X.T*X"


def test_matrix_hessian_takes_one_variable(capsys):
    rc, _, err = run(LSQ_SYMBOLIC[:2] + LSQ_SYMBOLIC[4:] + ["--hessian"], capsys)
    one_error(rc, err, 2, "takes one variable")


# ------------------------------------------------------------------- --code
def test_code_refuses_unknown_languages(capsys):
    rc, _, err = run(["diff", "x**2", "--code", "fortran"], capsys)
    one_error(rc, err, 2, "invalid choice: 'fortran' (choose from 'numpy', 'jax', 'torch')")


def code_blocks(out: str) -> dict[str, str]:
    """{label: the source printed after it} from ``symgrad diff --code`` output."""
    blocks: dict[str, list[str]] = {}
    current = None
    for ln in out.splitlines():
        head = ln.split(" = ", 1)[0]
        if " = " in ln and not ln.startswith((" ", "\t")) and "/" in head or \
                head.startswith("hessian("):
            current = blocks.setdefault(head, [])
        elif current is not None:
            current.append(ln)
    return {k: "\n".join(v) for k, v in blocks.items()}


@pytest.mark.parametrize("argv,label,fn", [
    (["diff", "x**2*sin(y)"], "df/dy", "df_dy"),
    (LSQ_SYMBOLIC, "df/dw", "df_dw"),
    (LSQ_CONCRETE, "df/dw", "df_dw"),
    (LSQ_CONCRETE + ["--hessian"], "d2f/dw2", "hessian"),
])
def test_code_prints_a_function_that_computes_the_result(argv, label, fn, capsys):
    import numpy as np

    rc, out, err = run(argv + ["--code", "numpy"], capsys)
    assert (rc, err) == (0, "")
    namespace: dict = {}
    exec(compile(code_blocks(out)[label], "<symgrad --code>", "exec"), namespace)
    f = namespace[fn]
    if argv[1] == "x**2*sin(y)":
        assert np.isclose(f(1.5, 0.5), 1.5 ** 2 * np.cos(0.5))
        return
    X, w, y = (np.array(m.tolist(), dtype=float) for m in (Xv, wv, yv))
    expected = 2 * X.T @ X if fn == "hessian" else 2 * X.T @ (X @ w.ravel() - y.ravel())
    got = np.asarray(f(X, w.ravel(), y.ravel()), dtype=float)
    np.testing.assert_allclose(got.reshape(expected.shape), expected)


@pytest.mark.parametrize("expr,wrt,expected", [
    ("tr(A*X'*B*X*C)", "X", "df/dX = B*X*C*A + B.T*X*A.T*C.T"),
    ("log(det(inv(X)))", "X", "df/dX = -X.T**(-1)"),
    ("logdet(X)", "X", "df/dX = X.T**(-1)"),
    ("norm2(A*x-y)^2", "x", "df/dx = 2*A.T*(A*x - y)"),
])
def test_matrixcalculus_examples_in_matrix_form(expr, wrt, expected, capsys):
    rc, out, err = run(["diff", expr, "--notation", "matrixcalculus", "--wrt", wrt], capsys)
    assert (rc, err) == (0, "")
    assert out.strip() == expected


# ------------------------------------------------------------------- --notation
def test_matrixcalculus_quadratic_form(capsys):
    rc, out, err = run(["diff", "x'*A*x", "--notation", "matrixcalculus"], capsys)
    assert (rc, err) == (0, "")
    assert out.splitlines() == ["df/dA = x*x.T", "df/dx = (A + A.T)*x"]


def test_matrixcalculus_elementwise_ops(capsys):
    rc, out, _ = run(["diff", "sum(exp(x) .* y)", "--notation", "matrixcalculus"], capsys)
    assert rc == 0
    assert out.splitlines() == ["df/dx = HadamardProduct(exp(x), y)", "df/dy = exp(x)"]


def _mc_concrete(expr, wrt, shapes, capsys):
    argv = ["diff", expr, "--notation", "matrixcalculus", "--wrt", wrt]
    for s in shapes:
        argv += ["--shape", s]
    rc, out, err = run(argv, capsys)
    assert (rc, err) == (0, ""), err
    return out


def test_matrixcalculus_trace_gradient_is_the_cookbook_one(capsys):
    # d/dX tr(A X' B X C) = B X C A + B' X A' C'  (Matrix Cookbook (117))
    out = _mc_concrete("tr(A*X'*B*X*C)", "X", [f"{n}=2,2" for n in "ABCX"], capsys)
    g = read_result(out, "df/dX")
    a, b, c, xm = (sympy.Matrix([[1, 2], [0, -1]]), sympy.Matrix([[3, 1], [1, 2]]),
                   sympy.Matrix([[0, 1], [2, 1]]), sympy.Matrix([[1, -2], [4, 3]]))
    env = {**value(out, "A", a), **value(out, "B", b), **value(out, "C", c),
           **value(out, "X", xm)}
    assert g.reshape(2, 2).xreplace(env) == b * xm * c * a + b.T * xm * a.T * c.T


def test_matrixcalculus_log_det_inv_gradient_is_minus_inverse_transpose(capsys):
    out = _mc_concrete("log(det(inv(X)))", "X", ["X=2,2"], capsys)
    g = read_result(out, "df/dX").reshape(2, 2)
    xm = sympy.Matrix([[3, 1], [1, 2]])
    assert sympy.simplify(g.xreplace(value(out, "X", xm)) + xm.inv().T) == sympy.zeros(2, 2)


def test_matrixcalculus_squared_norm_gradient(capsys):
    out = _mc_concrete("norm2(A*x-y)^2", "x", ["A=2,2", "x=2", "y=2"], capsys)
    g = read_result(out, "df/dx")
    a, xv, yv2 = sympy.Matrix([[1, 2], [3, 4]]), sympy.Matrix([1, -1]), sympy.Matrix([2, 0])
    env = {**value(out, "A", a), **value(out, "x", xv), **value(out, "y", yv2)}
    assert sympy.simplify(g.xreplace(env) - 2 * a.T * (a * xv - yv2)) == sympy.zeros(2, 1)


def test_matrixcalculus_mistake_is_a_one_line_error(capsys):
    rc, _, err = run(["diff", "x*y", "--notation", "matrixcalculus"], capsys)
    one_error(rc, err, 2, "a column vector times a column vector is not a matrix product")


# ------------------------------------------------------------------- messages
@pytest.mark.parametrize("expr,message", [
    ("I*x", "symgrad is real-valued"),
    ("x^2", "use ** for powers"),
    ("S*x", "pick another name"),
    ("oo*x", "write a large constant"),
])
def test_refused_names_say_what_to_do(expr, message, capsys):
    rc, _, err = run(["diff", expr], capsys)
    one_error(rc, err, 2, message)


@pytest.mark.parametrize("expr,at,expected", [
    ("log(x)", "x=0", "exact ±inf (division by zero), float64 inf"),
    ("x*log(x)", "x=0", "exact -inf (log of 0), float64 -inf"),
    ("x**2*log(x)", "x=0", "exact nan (log of 0), float64 nan"),
    ("-1/x", "x=0", "(division by zero)"),
    ("sqrt(x)", "x=-1", "exact nan (not real: the value is complex), float64 nan"),
    ("x**10000", "x=3", "exact 5.4378339511420862477e+4774 (4775 digits), "
                        "float64 inf (overflows float64)"),
])
def test_singular_values_read_inf_or_nan_with_a_reason(expr, at, expected, capsys):
    rc, out, err = run(["diff", expr, "--at", at], capsys)
    assert (rc, err) == (0, "")
    line = out.splitlines()[1]
    assert expected in line and "zoo" not in line and "undefined (" not in line, line


# ------------------------------------------------------------------- limits
def test_long_sum_is_refused_quickly(capsys):
    t = time.perf_counter()
    rc, _, err = run(["diff", "x+" * 49999 + "x"], capsys)
    one_error(rc, err, 2, "more than 10000 operands and operators (MAX_NODES")
    assert time.perf_counter() - t < 2.0


@pytest.mark.parametrize("expr,message", [
    ("1e308*10*x", "overflows float64"),
    ("(x**10000)**10000", "nested powers multiply"),
    ("sin(" * 250 + "x" + ")" * 250, "nested deeper than 200"),
])
def test_hostile_input_is_a_one_line_error(expr, message, capsys):
    rc, _, err = run(["diff", expr], capsys)
    one_error(rc, err, 2, message)
