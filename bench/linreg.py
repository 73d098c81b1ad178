"""Full-batch gradient descent on linear regression: 20 steps of ``w -= lr * grad``.

Shapes N x d = 10^6 x 10 and 10^4 x 100 (``--quick``: 10^5 x 10 and 10^3 x 100).
Loss ``mean((X @ w + b - y) ** 2)``; every system computes the loss value and the
gradients each step.  Systems: hand-derived numpy (baseline),
symgrad eager, symgrad compiled, PyTorch eager, JAX (jit) when installed.  Every system starts from the same
parameters and the final parameters are checked against numpy's.
"""
from __future__ import annotations

import numpy as np

from bench.harness import compare, jax_or_reason, jax_sgd_factory, torch_or_reason

STEPS, LR = 20, 0.1


def make_data(n: int, d: int, dtype=np.float64, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    w_true = rng.standard_normal((d, 1)).astype(dtype)
    y = (X @ w_true + 0.5 + 0.1 * rng.standard_normal((n, 1))).astype(dtype)
    return X, y


def numpy_loop(X, y, steps=STEPS, lr=LR):
    n, d = X.shape
    w, b = np.zeros((d, 1), X.dtype), np.zeros((1,), X.dtype)
    for _ in range(steps):
        r = X @ w + b - y
        loss = (r * r).mean()           # every system computes the loss value too
        gw = X.T @ r * (2.0 / n)
        gb = r.sum(axis=0) * (2.0 / n)
        w -= lr * gw
        b -= lr * gb
    return w, b, loss


def symgrad_setup(X, y, compiled: bool):
    import symgrad as sg
    w = sg.tensor(np.zeros((X.shape[1], 1), X.dtype), requires_grad=True)
    b = sg.tensor(np.zeros((1,), X.dtype), requires_grad=True)
    Xt, yt = sg.tensor(X), sg.tensor(y)

    def loss_fn(X, y):
        return ((X @ w + b - y) ** 2).mean()
    f = sg.compile(loss_fn) if compiled else loss_fn
    opt = sg.optim.SGD([w, b], lr=LR)
    return w, b, Xt, yt, f, opt


def symgrad_loop(X, y, compiled: bool, steps=STEPS, state=None):
    w, b, Xt, yt, f, opt = state or symgrad_setup(X, y, compiled)
    for _ in range(steps):
        opt.zero_grad()
        loss = f(Xt, yt)
        loss.backward()
        opt.step()
    return w.value, b.value


def _factory(X, y, compiled: bool):
    """One model and one compiled function for all rounds; parameters reset in place."""
    state = symgrad_setup(X, y, compiled)

    def factory():
        state[0].value[...] = 0
        state[1].value[...] = 0
        return lambda: symgrad_loop(X, y, compiled, state=state)
    return factory


def torch_loop(torch, X, y, steps=STEPS):
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    w = torch.zeros((X.shape[1], 1), dtype=Xt.dtype, requires_grad=True)
    b = torch.zeros((1,), dtype=Xt.dtype, requires_grad=True)
    opt = torch.optim.SGD([w, b], lr=LR)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((Xt @ w + b - yt) ** 2).mean()
        loss.backward()
        opt.step()
    return w.detach().numpy(), b.detach().numpy()


def run(quick: bool = False) -> list[dict]:
    shapes = [(10**5, 10), (10**3, 100)] if quick else [(10**6, 10), (10**4, 100)]
    rounds = 3 if quick else 7
    torch, why = torch_or_reason()
    jax, why_jax = jax_or_reason()
    rows = []
    for n, d in shapes:
        X, y = make_data(n, d)
        ref = numpy_loop(X, y)
        for compiled in (False, True):
            got = symgrad_loop(X, y, compiled)
            np.testing.assert_allclose(got[0], ref[0], rtol=1e-8, atol=1e-10)
        systems = {
            "numpy (hand-derived)": lambda: (lambda: numpy_loop(X, y)),
            "symgrad eager": _factory(X, y, False),
            "symgrad compiled": _factory(X, y, True),
        }
        if torch is not None:
            systems["torch eager"] = lambda: (lambda: torch_loop(torch, X, y))
        if jax is not None:
            systems["jax jit"] = jax_sgd_factory(
                jax, lambda p, X, y: ((X @ p[0] + p[1] - y) ** 2).mean(),
                (np.zeros((d, 1), X.dtype), np.zeros((1,), X.dtype)), [(X, y)] * STEPS, LR)
        skipped = {} if torch else {"torch eager": why}
        if jax is None:
            skipped["jax jit"] = why_jax
        rows += compare(f"linreg {n}x{d}", systems, rounds=rounds, steps=STEPS, skipped=skipped)
    return rows
