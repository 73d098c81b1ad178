"""Per-op overhead of numeric's kernels and executor against plain numpy, tiny arrays.

Forward: one ``FORWARD[op](...)`` call against the bare numpy expression.
Backward: ``numeric.backward`` through a chain of ``CHAIN`` identical op nodes,
divided by ``CHAIN``, against the same chain's VJPs written as a bare numpy
loop.  Arrays have shape (3,), so the figures are pure Python/numpy call
overhead.  Run ``python bench/per_op.py`` (``--quick`` for a fast pass).
"""
from __future__ import annotations

import statistics
import sys
import time
from typing import Any, Callable

import numpy as np

import numeric
from numeric import FORWARD, Op

CHAIN = 200


class Node:
    """The smallest object implementing numeric's node protocol."""

    __slots__ = ("op", "inputs", "attrs", "value", "requires_grad")

    def __init__(self, op, inputs, attrs, value, requires_grad):
        self.op, self.inputs, self.attrs = op, inputs, attrs
        self.value, self.requires_grad = value, requires_grad


def _median_us(fn: Callable[[], Any], number: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        for _ in range(number):
            fn()
        times.append((time.process_time() - t0) / number)
    return statistics.median(times) * 1e6


x = np.array([0.3, -0.2, 0.5])
c = np.array([0.9, 1.1, 1.05])
W = np.eye(3) * 0.9

# op, attrs, constant second input (or None), bare numpy forward, bare numpy VJP of input 0
CASES: list[tuple[Op, dict, Any, Callable, Callable]] = [
    (Op.ADD, {}, c, lambda a: np.add(a, c), lambda g, a, out: g),
    (Op.MUL, {}, c, lambda a: np.multiply(a, c), lambda g, a, out: g * c),
    (Op.SIN, {}, None, lambda a: np.sin(a), lambda g, a, out: g * np.cos(a)),
    (Op.TANH, {}, None, lambda a: np.tanh(a), lambda g, a, out: g * (1 - out * out)),
    (Op.RELU, {}, None, lambda a: np.maximum(a, 0), lambda g, a, out: g * (a > 0)),
    (Op.MATMUL, {}, W, lambda a: a @ W, lambda g, a, out: g @ W.T),
    (Op.SUM, {"axis": None, "keepdims": True}, None, lambda a: a.sum(keepdims=True),
     lambda g, a, out: np.broadcast_to(g, a.shape)),
]


def _chain(op: Op, attrs: dict, const: Any) -> tuple[Node, Node]:
    leaf = Node(None, (), {}, x, True)
    k = Node(None, (), {}, const, False) if const is not None else None
    y = leaf
    for _ in range(CHAIN):
        inputs = (y,) if k is None else (y, k)
        y = Node(op, inputs, attrs, FORWARD[op](*(i.value for i in inputs), **attrs), True)
    return leaf, y


def _bare_backward(np_vjp: Callable, values: list, g: np.ndarray) -> np.ndarray:
    for a, out in reversed(values):
        g = np_vjp(g, a, out)
    return g


def run(quick: bool = False) -> list[dict]:
    """Time every case; returns one dict per op (times in microseconds per op).

    >>> rows = run(quick=True)
    >>> [r["op"] for r in rows][:3], sorted(rows[0])[:3]
    (['add', 'mul', 'sin'], ['bwd_ratio', 'executor_bwd_us', 'fwd_ratio'])
    """
    number, repeat = (200, 5) if quick else (2000, 15)
    rows = []
    for op, attrs, const, np_fwd, np_vjp in CASES:
        args = (x,) if const is None else (x, const)
        kernel = FORWARD[op]
        fwd_np = _median_us(lambda: np_fwd(x), number, repeat)
        fwd_k = _median_us(lambda: kernel(*args, **attrs), number, repeat)
        leaf, y = _chain(op, attrs, const)
        seed = np.ones_like(y.value)
        nodes = [n for n in numeric.toposort([y]) if n.op is not None]
        values = [(n.inputs[0].value, n.value) for n in nodes]
        n_bwd = max(number // CHAIN, 3)
        bwd_np = _median_us(lambda: _bare_backward(np_vjp, values, seed), n_bwd, repeat) / CHAIN
        bwd_ex = _median_us(lambda: numeric.backward([y], [seed]), n_bwd, repeat) / CHAIN
        expected = _bare_backward(np_vjp, values, seed)
        np.testing.assert_allclose(numeric.backward([y], [seed])[id(leaf)], expected)
        rows.append({"op": op.name.lower(), "numpy_fwd_us": fwd_np, "kernel_fwd_us": fwd_k,
                     "fwd_ratio": fwd_k / fwd_np, "numpy_bwd_us": bwd_np,
                     "executor_bwd_us": bwd_ex, "bwd_ratio": bwd_ex / bwd_np})
    return rows


def format_table(rows: list[dict]) -> str:
    """A Markdown table of ``run()``'s rows.

    >>> print(format_table([dict(op="add", numpy_fwd_us=0.4, kernel_fwd_us=0.5, fwd_ratio=1.25,
    ...                          numpy_bwd_us=0.1, executor_bwd_us=1.0, bwd_ratio=10.0)]))
    | op | numpy fwd µs | FORWARD µs | ratio | numpy VJP µs | executor bwd µs/op | ratio |
    |---|---:|---:|---:|---:|---:|---:|
    | add | 0.40 | 0.50 | 1.2x | 0.10 | 1.00 | 10.0x |
    """
    lines = ["| op | numpy fwd µs | FORWARD µs | ratio | numpy VJP µs | executor bwd µs/op | ratio |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['op']} | {r['numpy_fwd_us']:.2f} | {r['kernel_fwd_us']:.2f} | "
                     f"{r['fwd_ratio']:.1f}x | {r['numpy_bwd_us']:.2f} | "
                     f"{r['executor_bwd_us']:.2f} | {r['bwd_ratio']:.1f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(f"numpy {np.__version__}, Python {sys.version.split()[0]}, arrays of shape (3,), "
          f"backward through a chain of {CHAIN} ops (median of repeats)")
    print(format_table(run(quick="--quick" in sys.argv)))
