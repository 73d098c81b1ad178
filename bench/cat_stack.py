"""``cat``/``stack``/``split`` forward + backward over many pieces (issue 13: linear time).

n leaves of shape (3,) are concatenated (``cat``) or stacked (``stack``), or one leaf of
shape (3n,) is split into n pieces that are stacked again (``split``); the loss is a
weighted sum and every system computes the gradients of every leaf.  n = 10^5 (``--quick``:
3000).  Systems: PyTorch eager (the baseline when installed), symgrad eager, numpy (the
hand-written backward: slicing the weights; the baseline without torch).  The leaves are
made in the untimed set-up.
"""
from __future__ import annotations

import numpy as np

from bench.harness import compare, torch_or_reason

PIECE = 3


def numpy_run(kind: str, n: int, w: np.ndarray) -> list:
    xs = [np.ones(PIECE) for _ in range(n)] if kind != "split" else [np.ones(PIECE * n)]

    def run() -> list:
        y = np.concatenate(xs) if kind == "cat" else np.stack(xs) if kind == "stack" \
            else np.stack(np.split(xs[0], n))
        _ = (y * w).sum()
        return list(w) if kind == "stack" else np.split(w, n) if kind == "cat" \
            else [w.reshape(-1)]
    return run


def symgrad_run(kind: str, n: int, w: np.ndarray):
    import symgrad as sg
    xs = [sg.tensor(np.ones(PIECE), requires_grad=True) for _ in range(n)] \
        if kind != "split" else [sg.tensor(np.ones(PIECE * n), requires_grad=True)]
    wt = sg.tensor(w)

    def run() -> list:
        y = sg.cat(xs) if kind == "cat" else sg.stack(xs) if kind == "stack" \
            else sg.stack(sg.split(xs[0], PIECE))
        (y * wt).sum().backward()
        return [x.grad.numpy() for x in xs]
    return run


def torch_run(torch, kind: str, n: int, w: np.ndarray):
    xs = [torch.ones(PIECE, dtype=torch.float64, requires_grad=True) for _ in range(n)] \
        if kind != "split" else [torch.ones(PIECE * n, dtype=torch.float64, requires_grad=True)]
    wt = torch.from_numpy(w)

    def run() -> list:
        y = torch.cat(xs) if kind == "cat" else torch.stack(xs) if kind == "stack" \
            else torch.stack(torch.split(xs[0], PIECE))
        (y * wt).sum().backward()
        return [x.grad.numpy() for x in xs]
    return run


def run(quick: bool = False) -> list[dict]:
    n = 3000 if quick else 10**5
    rounds = 3 if quick else 5
    torch, why = torch_or_reason()
    rng = np.random.default_rng(0)
    rows = []
    for kind in ("cat", "stack", "split"):
        w = rng.standard_normal(PIECE * n if kind == "cat" else (n, PIECE))
        ref = symgrad_run(kind, n, w)()
        np.testing.assert_allclose(np.concatenate([np.ravel(r) for r in ref]), np.ravel(w))
        systems = {}
        if torch is not None:
            systems["torch eager"] = lambda kind=kind, w=w: torch_run(torch, kind, n, w)
        systems["symgrad eager"] = lambda kind=kind, w=w: symgrad_run(kind, n, w)
        systems["numpy (hand-written)"] = lambda kind=kind, w=w: numpy_run(kind, n, w)
        rows += compare(f"{kind} {n} x ({PIECE},)", systems, rounds=rounds,
                        skipped={} if torch else {"torch eager": why})
    return rows
