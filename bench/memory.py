"""Peak memory of one training step: compiled symgrad vs the hand-written numpy step.

``tracemalloc`` sees numpy's buffers; the peak is taken over one full step (loss,
gradients, SGD update) after a warm-up step (so tracing is not counted).  Target:
the compiled step's peak within 1.5x of numpy's.
"""
from __future__ import annotations

import tracemalloc

import numpy as np

from bench import linreg, mlp


def _peak(fn) -> int:
    fn()                                     # warm-up: traces, caches
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _linreg(n: int, d: int) -> tuple[int, int]:
    X, y = linreg.make_data(n, d)
    state = linreg.symgrad_setup(X, y, compiled=True)
    numpy_peak = _peak(lambda: linreg.numpy_loop(X, y, steps=1))
    sg_peak = _peak(lambda: linreg.symgrad_loop(X, y, True, steps=1, state=state))
    return numpy_peak, sg_peak


def _mlp(dtype) -> tuple[int, int]:
    import symgrad as sg
    X, T = mlp.make_data(1, dtype)
    weights = mlp.init_weights(dtype)
    params = [w.copy() for w in weights]
    numpy_peak = _peak(lambda: mlp.numpy_step(params, X[0], T[0]))
    state = mlp.symgrad_state(weights, compiled=True)
    mlp.reset(state[0], weights)
    xs, ts = [sg.tensor(X[0])], [sg.tensor(T[0])]
    sg_peak = _peak(lambda: mlp.symgrad_loop(state, xs, ts))
    return numpy_peak, sg_peak


def run(quick: bool = False) -> list[dict]:
    cases = [("linreg 100000x10", lambda: _linreg(10**5, 10)),
             ("mlp float64, batch 128", lambda: _mlp(np.float64)),
             ("mlp float32, batch 128", lambda: _mlp(np.float32))]
    rows = []
    for name, fn in cases:
        numpy_peak, sg_peak = fn()
        rows.append({"workload": name, "numpy_peak_kib": numpy_peak / 1024,
                     "compiled_peak_kib": sg_peak / 1024, "ratio": sg_peak / numpy_peak,
                     "target": "<= 1.5x", "met": sg_peak <= 1.5 * numpy_peak})
    return rows
