"""``symgrad train linear --data FILE`` on 10^6 rows x 5 epochs vs numpy doing the same work.

The same work: read the two-column CSV, 5 epochs of gradient descent on the sum of squared
errors (loss value and gradients every epoch), and the optimum from the normal equations.
symgrad runs the CLI in-process (``symgrad.cli.main``, output discarded), whose closed form
is built once from the symbolic model over the data's sums (``symgrad.train.linear_closed_form``),
so only those sums cost O(rows).  numpy: ``np.loadtxt``, hand-derived gradients,
``np.linalg.solve``.  Rows: 10^6 (``--quick``: 5 x 10^4); the CSV is written in the untimed
set-up.
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile

import numpy as np

from bench.harness import compare

EPOCHS, LR = 5, 1e-7


def write_csv(path: str, n: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n)
    y = 2 * x + 1 + 0.1 * rng.standard_normal(n)
    np.savetxt(path, np.c_[x, y], delimiter=",", header="x,y", comments="", fmt="%.17g")


def numpy_run(path: str) -> tuple:
    x, y = np.loadtxt(path, delimiter=",", skiprows=1, unpack=True)
    w, b = 1.0, 0.0
    for _ in range(EPOCHS):
        r = w * x + b - y
        _ = float(r @ r)                  # the loss value, as symgrad reports it
        gw, gb = 2 * float(r @ x), 2 * float(r.sum())
        w, b = w - LR * gw, b - LR * gb
    a = np.array([[x @ x, x.sum()], [x.sum(), x.size]])
    return w, b, np.linalg.solve(a, np.array([x @ y, y.sum()]))


def symgrad_run(path: str) -> str:
    from symgrad.cli import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["train", "linear", "--data", path, "--epochs", str(EPOCHS),
                       "--lr", str(LR)])
    if status != 0:
        raise RuntimeError(f"symgrad train failed with status {status}: {out.getvalue()}")
    return out.getvalue()


def run(quick: bool = False) -> list[dict]:
    n = 5 * 10**4 if quick else 10**6
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.csv")
        write_csv(path, n)
        w, b, opt = numpy_run(path)
        text = symgrad_run(path)
        trained = float(text.split("trained:              w = ")[1].split(",")[0])
        exact = float(text.split("closed form (SymPy):  w = ")[1].split(",")[0])
        np.testing.assert_allclose([trained, exact], [w, opt[0]], rtol=1e-9)
        systems = {"numpy (hand-derived)": lambda: (lambda: numpy_run(path)),
                   "symgrad train --data": lambda: (lambda: symgrad_run(path))}
        return compare(f"train --data {n} rows x {EPOCHS} epochs", systems,
                       rounds=3 if quick else 5)
