"""Symbolic reverse mode vs SymPy's own diff + cse, and closed forms under the time budget.

f = sum_i sin(x_i*x_{i+1}) * exp(x_i**2), i < n, built from n scalar symbols.
Times ``sg.gradient(f, xs, cse=True)`` against ``sympy.diff`` per variable
followed by ``sympy.cse``; reports ``sympy.count_ops`` over intermediates and
results for both.  A second table (:func:`cases`) times the matrix and stall
cases of issue 12 with default settings (``simplify=True``, the default
``timeout``): time per result, whether the budget ran out, and the size.
Run: ``python -m bench.symbolic``.
"""
from __future__ import annotations

import time
import warnings

import sympy

import symgrad as sg
from symgrad.budget import DEFAULT_TIMEOUT


def _build(n):
    xs = [sg.symbol(f"x{i}") for i in range(n)]
    f = None
    for i in range(n - 1):
        t = sg.sin(xs[i] * xs[i + 1]) * sg.exp(xs[i] ** 2)
        f = t if f is None else f + t
    return f, xs


def _sympy_route(n):
    syms = [sympy.Symbol(f"x{i}", real=True) for i in range(n)]
    expr = sympy.Add(*[sympy.sin(syms[i] * syms[i + 1]) * sympy.exp(syms[i] ** 2)
                       for i in range(n - 1)])
    return sympy.cse([sympy.diff(expr, s) for s in syms])


def _best(fn, repeat):
    """(best wall time over ``repeat`` runs, last result): the timeit convention, so
    other jobs on a shared machine inflate the figures less."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run(quick: bool = False, repeat: int = 3) -> list[dict]:
    """One row per n: best-of-``repeat`` times (s), ratio and operation counts of both.

    SymPy's caches are cleared before every run of either method, so neither side
    reuses the other's (or its own previous) work.

    >>> rows = [r for r in run(quick=True, repeat=1) if "n" in r]
    >>> [r["n"] for r in rows], all(r["symgrad_ops"] > 0 for r in rows)
    ([10, 50], True)
    """
    rows = []
    for n in ((10, 50) if quick else (10, 50, 200)):
        f, xs = _build(n)

        def ours():
            sympy.core.cache.clear_cache()
            return sg.gradient(f, xs, cse=True)

        def theirs():
            sympy.core.cache.clear_cache()
            return _sympy_route(n)

        t_sg, (reps, grads) = _best(ours, repeat)
        t_sp, (sreps, sgrads) = _best(theirs, repeat)
        rows.append({"n": n, "symgrad_s": t_sg, "sympy_s": t_sp, "ratio": t_sp / t_sg,
                     "symgrad_ops": sympy.count_ops([e for _, e in reps] + list(grads)),
                     "sympy_ops": sympy.count_ops([e for _, e in sreps] + list(sgrads))})
    return rows + cases(quick)


def _case_list():
    """(name, thunk) for each closed form of the table: issue 12's stalls and matrix forms."""
    def sym(name, shape):
        return sg.symbol(name, shape=shape)

    a, B, x = sym("a", (2,)), sym("B", (2, 3)), sym("x", (3,))
    X, w, y = sym("X", (3, 2)), sym("w", (2,)), sym("y", (3,))
    Xn, wn, yn = sym("X", ("n", "d")), sym("w", ("d",)), sym("y", ("n",))
    X2, W1, W2, y2 = sym("X", (2, 3)), sym("W1", (3, 3)), sym("W2", (3, 1)), sym("y", (2, 1))
    A, v = sym("A", ("d", "d")), sym("v", ("d",))
    P, Q, R = sym("P", ("d", "d")), sym("Q", ("d", "d")), sym("R", ("d", "d"))
    z, t = sym("z", ("K",)), sym("t", ("K",))

    def logistic(X_, w_, y_):
        z = X_ @ w_
        return (sg.softplus(z) - y_ * z).sum()

    return [
        ("d/dx a@tanh(B@x), (2,),(2,3),(3,)", lambda: sg.diff(a @ sg.tanh(B @ x), x)),
        ("logistic loss gradient, X (3,2)", lambda: sg.gradient(logistic(X, w, y), [w])),
        ("logistic loss gradient, matrix form", lambda: sg.diff(logistic(Xn, wn, yn), wn)),
        ("least squares gradient, matrix form",
         lambda: sg.diff(((Xn @ wn - yn) ** 2).sum(), wn)),
        ("quadratic form v.T A v, matrix form", lambda: sg.diff((v * (A @ v)).sum(), v)),
        ("d/dX tr(A X B), matrix form", lambda: sg.diff(sg.trace(P @ Q @ R), Q)),
        ("d/dX log det X, matrix form", lambda: sg.diff(sg.logdet(Q), Q)),
        ("softmax cross-entropy, matrix form",
         lambda: sg.diff(-(t * sg.log_softmax(z, 0)).sum(), z)),
        ("least squares Hessian, matrix form",
         lambda: sg.hessian(((Xn @ wn - yn) ** 2).sum(), wn)),
        ("logistic Hessian, matrix form", lambda: sg.hessian(logistic(Xn, wn, yn), wn)),
        ("sum(relu(X@w)), X (3,2)", lambda: sg.diff(sg.relu(X @ w).sum(), w)),
        ("MLP dW1, tanh, X (2,3)",
         lambda: sg.diff(((sg.tanh(X2 @ W1) @ W2 - y2) ** 2).sum(), W1)),
        ("logistic Hessian, X (3,2)", lambda: sg.hessian(logistic(X, w, y), [w])),
    ]


#: the cases ``--quick`` runs (one stall, one matrix form), to keep it under 30 s
_QUICK = ("d/dx a@tanh(B@x), (2,),(2,3),(3,)", "logistic loss gradient, matrix form")


def cases(quick: bool = False) -> list[dict]:
    """One row per closed form: seconds with default settings, timed out?, operations.

    Default settings include the matrix forms' numerical self-check (``check=True``).

    >>> rows = cases(quick=True)
    >>> [r["case"] for r in rows] == list(_QUICK), all(r["default_s"] < 10 for r in rows)
    (True, True)
    """
    rows = []
    for name, thunk in _case_list():
        if quick and name not in _QUICK:
            continue
        sympy.core.cache.clear_cache()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            out = thunk()
            elapsed = time.perf_counter() - t0
        timed_out = any(issubclass(c.category, sg.SimplifyTimeout) for c in caught)
        out = out[0] if isinstance(out, list) else out
        rows.append({"case": name, "default_s": elapsed, "timed_out": timed_out,
                     "ops": sympy.count_ops(out), "result": _short(out)})
    return rows


def _short(e, width: int = 40) -> str:
    text = str(e).replace("\n", " ")
    return text if len(text) <= width else text[:width - 3] + "..."


def format_table(rows: list[dict]) -> str:
    """The reverse-mode table, then the closed forms under the default budget."""
    from bench.harness import format_generic
    ours = [r for r in rows if "n" in r]
    budget = [r for r in rows if "case" in r]
    return (format_generic(ours) + "\n\nclosed forms with default settings (simplify=True, "
            f"timeout={DEFAULT_TIMEOUT} s):\n\n" + format_generic(budget))


if __name__ == "__main__":
    print(format_table(run()))
