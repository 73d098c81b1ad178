"""Symbolic reverse mode vs SymPy's own diff + cse.

f = sum_i sin(x_i*x_{i+1}) * exp(x_i**2), i < n, built from n scalar symbols.
Times ``sg.gradient(f, xs, cse=True)`` against ``sympy.diff`` per variable
followed by ``sympy.cse``; reports ``sympy.count_ops`` over intermediates and
results for both.  Run: ``python -m bench.symbolic``.
"""
from __future__ import annotations

import time

import sympy

import symgrad as sg


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

    >>> rows = run(quick=True, repeat=1)
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
    return rows


if __name__ == "__main__":
    print(f"{'n':>5} {'symgrad s':>10} {'sympy s':>10} {'ratio':>7} {'sg ops':>7} {'sympy ops':>9}")
    for r in run():
        print(f"{r['n']:>5} {r['symgrad_s']:>10.3f} {r['sympy_s']:>10.3f} {r['ratio']:>7.1f} "
              f"{r['symgrad_ops']:>7} {r['sympy_ops']:>9}")
