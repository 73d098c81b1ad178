"""Time the seed tutorial's 100-step training loop: symgrad eager vs numpy vs PyTorch.

The loop is the seed's linear model (``w * x + b``, squared-error sum, SGD
lr=0.01, 100 epochs).  Three versions run in interleaved rounds in one process
(so machine noise hits all of them alike) and the median per-loop time is
reported, with ratios to the hand-written numpy loop (gradient derived by
hand).  PyTorch is timed only if it imports.  Times are CPU time of this process
(``time.process_time``): on a machine shared with other jobs, wall-clock time
also counts the moments the process waits for a core, which is noise, not work.

>>> rows = run(quick=True)
>>> [r["name"] for r in rows][:2]
['numpy (hand-derived gradient)', 'symgrad eager']
"""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import numpy as np

X = [[1.0], [2.0], [3.0]]
Y = [[3.0], [5.0], [7.0]]
EPOCHS = 100
LR = 0.01


def numpy_loop() -> tuple[float, float]:
    """The loop in plain numpy with the gradient derived by hand."""
    w, b = np.array([1.0]), np.array([0.0])
    x, y = np.array(X), np.array(Y)
    for _ in range(EPOCHS):
        r = w * x + b - y
        loss = np.sum(r ** 2)  # noqa: F841  (computed, as the other loops do)
        gr = 2 * r
        gw = np.sum(gr * x, axis=(0,))
        gb = np.sum(gr, axis=(0,))
        w -= LR * gw
        b -= LR * gb
    return float(w[0]), float(b[0])


def symgrad_loop() -> tuple[float, float]:
    """The seed's loop verbatim with ``import symgrad as sg`` for ``import torch``."""
    import symgrad as sg
    w = sg.tensor([1.0], requires_grad=True)
    b = sg.tensor([0.0], requires_grad=True)
    x_train, y_train = sg.tensor(X), sg.tensor(Y)
    optimizer = sg.optim.SGD([w, b], lr=LR)
    for _ in range(EPOCHS):
        y_pred = w * x_train + b
        loss = sg.sum((y_pred - y_train) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return w.item(), b.item()


def _torch_loop(torch: Any) -> Callable[[], tuple[float, float]]:
    def loop() -> tuple[float, float]:
        w = torch.tensor([1.0], requires_grad=True, dtype=torch.float64)
        b = torch.tensor([0.0], requires_grad=True, dtype=torch.float64)
        x_train = torch.tensor(X, dtype=torch.float64)
        y_train = torch.tensor(Y, dtype=torch.float64)
        optimizer = torch.optim.SGD([w, b], lr=LR)
        for _ in range(EPOCHS):
            y_pred = w * x_train + b
            loss = torch.sum((y_pred - y_train) ** 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return w.item(), b.item()
    return loop


def run(quick: bool = False) -> list[dict]:
    """Time each loop; returns rows ``{name, median_s, ratio_to_numpy, rounds}``.

    ``quick`` does 3 rounds instead of 30 (for tests and smoke runs).
    """
    loops: list[tuple[str, Callable[[], tuple[float, float]]]] = [
        ("numpy (hand-derived gradient)", numpy_loop),
        ("symgrad eager", symgrad_loop),
    ]
    try:
        import torch
        torch.set_num_threads(1)
        loops.append(("pytorch eager", _torch_loop(torch)))
    except ImportError:
        pass
    rounds = 3 if quick else 30
    times: dict[str, list[float]] = {name: [] for name, _ in loops}
    results = {}
    for name, fn in loops:          # warm-up (imports, caches)
        results[name] = fn()
    for _ in range(rounds):
        for name, fn in loops:
            t0 = time.process_time()
            fn()
            times[name].append(time.process_time() - t0)
    base = statistics.median(times[loops[0][0]])
    rows = []
    for name, _ in loops:
        med = statistics.median(times[name])
        rows.append({"name": name, "median_s": med, "ratio_to_numpy": med / base,
                     "rounds": rounds, "w": results[name][0], "b": results[name][1]})
    return rows


def main() -> None:
    """Print the table (``python -m bench.seed``)."""
    rows = run()
    print(f"seed loop ({EPOCHS} steps), median CPU time of {rows[0]['rounds']} interleaved rounds")
    for r in rows:
        print(f"  {r['name']:32s} {r['median_s'] * 1e3:8.3f} ms   {r['ratio_to_numpy']:5.2f}x numpy"
              f"   w={r['w']:.6f} b={r['b']:.6f}")
    by = {r["name"]: r for r in rows}
    if "pytorch eager" in by:
        print(f"  pytorch / symgrad: "
              f"{by['pytorch eager']['median_s'] / by['symgrad eager']['median_s']:.2f}x")


if __name__ == "__main__":
    main()
