"""A 1000-node scalar graph, differentiated 100 times.

``f(x) = horner(x) + chain(x)``: a Horner polynomial of degree 300 (600 nodes: one
mul and one add per coefficient) plus a chain of 200 ``sin``/``mul`` pairs (400
nodes).  Each timed call computes ``f`` and ``df/dx`` 100 times at new points.
Systems: symgrad compiled (baseline), symgrad eager, PyTorch eager; the target is
compiled at least 10x faster than PyTorch eager.  ``--quick`` differentiates at 20
points instead of 100.
"""
from __future__ import annotations

import numpy as np

from bench.harness import compare, torch_or_reason

DEGREE, CHAIN, REPEATS = 300, 200, 100
COEFFS = np.random.default_rng(0).uniform(-1, 1, DEGREE + 1) / np.arange(1, DEGREE + 2)


def graph(x, sin):
    """The benchmark function over any scalar type with ``*``, ``+`` and ``sin``."""
    acc = x * 0 + float(COEFFS[0])
    for c in COEFFS[1:]:
        acc = acc * x + float(c)
    z = x
    for _ in range(CHAIN):
        z = sin(z) * 0.9
    return acc + z


def points(n: int = REPEATS) -> np.ndarray:
    return np.linspace(-0.9, 0.9, n)


def symgrad_runner(compiled: bool, n: int = REPEATS):
    import symgrad as sg
    fn = sg.compile(lambda x: graph(x, sg.sin)) if compiled else (lambda x: graph(x, sg.sin))
    xs = [sg.tensor(float(p), requires_grad=True) for p in points(n)]

    def run():
        out = []
        for x in xs:
            x.grad = None
            y = fn(x)
            y.backward()
            out.append(x.grad.value)
        return out
    return run


def torch_runner(torch, n: int = REPEATS):
    xs = [torch.tensor(float(p), dtype=torch.float64, requires_grad=True) for p in points(n)]

    def run():
        out = []
        for x in xs:
            x.grad = None
            y = graph(x, torch.sin)
            y.backward()
            out.append(x.grad)
        return out
    return run


def run(quick: bool = False) -> list[dict]:
    torch, why = torch_or_reason()
    n = 20 if quick else REPEATS
    compiled, eager = symgrad_runner(True, n), symgrad_runner(False, n)
    np.testing.assert_allclose(compiled(), eager(), rtol=1e-12)
    systems = {"symgrad compiled": lambda: compiled, "symgrad eager": lambda: eager}
    if torch is not None:
        t = torch_runner(torch, n)
        np.testing.assert_allclose([float(g) for g in t()], compiled(), rtol=1e-12)
        systems["torch eager"] = lambda: t
    return compare(f"scalar graph (1000 nodes) x{n}", systems, rounds=3 if quick else 7,
                   steps=n, skipped={} if torch else {"torch eager": why})
