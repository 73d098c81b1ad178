"""A 784-256-10 ReLU MLP, softmax cross-entropy, batch 128, 50 SGD steps.

float32 and float64; synthetic data from a seeded Generator (``--quick``: 10 steps).
Systems: hand-derived numpy (baseline), symgrad eager (``sg.nn``), symgrad compiled,
PyTorch eager, JAX (jit) when installed.  All start from the same weights; final weights are checked against
numpy's.
"""
from __future__ import annotations

import numpy as np

from bench.harness import compare, jax_or_reason, jax_sgd_factory, torch_or_reason

SIZES, BATCH, LR = (784, 256, 10), 128, 0.05


def make_data(steps: int, dtype, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((steps, BATCH, SIZES[0])).astype(dtype)
    T = rng.integers(0, SIZES[2], size=(steps, BATCH))
    return X, T


def init_weights(dtype, seed: int = 1):
    """PyTorch-shaped weights (out, in), uniform in +-1/sqrt(in)."""
    rng = np.random.default_rng(seed)
    ws = []
    for i, o in zip(SIZES[:-1], SIZES[1:]):
        bound = 1 / np.sqrt(i)
        ws += [rng.uniform(-bound, bound, (o, i)).astype(dtype),
               rng.uniform(-bound, bound, (o,)).astype(dtype)]
    return ws


def numpy_step(params, x, t):
    W1, b1, W2, b2 = params
    h_pre = x @ W1.T + b1
    h = np.maximum(h_pre, 0)
    z = h @ W2.T + b2
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss = (np.log(s[:, 0]) - z[np.arange(n), t]).mean()    # the loss value, as every system
    p = e / s
    p[np.arange(n), t] -= 1
    dz = p / n
    gW2, gb2 = dz.T @ h, dz.sum(axis=0)
    dh = (dz @ W2) * (h_pre > 0)
    gW1, gb1 = dh.T @ x, dh.sum(axis=0)
    for w, g in zip(params, (gW1, gb1, gW2, gb2)):
        w -= LR * g
    return loss


def numpy_loop(params, X, T):
    for x, t in zip(X, T):
        numpy_step(params, x, t)


def symgrad_state(weights, compiled: bool):
    import symgrad as sg
    dtype = weights[0].dtype
    model = sg.nn.Sequential(sg.nn.Linear(SIZES[0], SIZES[1], dtype=dtype), sg.nn.ReLU(),
                             sg.nn.Linear(SIZES[1], SIZES[2], dtype=dtype))
    loss_fn = sg.nn.CrossEntropyLoss()

    def step_loss(x, t):
        return loss_fn(model(x), t)
    f = sg.compile(step_loss) if compiled else step_loss
    opt = sg.optim.SGD(list(model.parameters()), lr=LR)
    return model, f, opt


def reset(model, weights):
    model.load_state_dict(dict(zip(["0.weight", "0.bias", "2.weight", "2.bias"], weights)))


def symgrad_loop(state, Xs, Ts):
    model, f, opt = state
    for x, t in zip(Xs, Ts):
        opt.zero_grad()
        loss = f(x, t)
        loss.backward()
        opt.step()


def torch_state(torch, weights):
    dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
    model = torch.nn.Sequential(torch.nn.Linear(SIZES[0], SIZES[1]), torch.nn.ReLU(),
                                torch.nn.Linear(SIZES[1], SIZES[2])).to(dtype[weights[0].dtype])
    return model, torch.nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=LR)


def torch_reset(torch, model, weights):
    with torch.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(torch.from_numpy(w))


def torch_loop(state, Xs, Ts):
    model, loss_fn, opt = state
    for x, t in zip(Xs, Ts):
        opt.zero_grad()
        loss = loss_fn(model(x), t)
        loss.backward()
        opt.step()


def _jax_loss(jax):
    jnp = jax.numpy

    def loss(params, x, t):
        W1, b1, W2, b2 = params
        z = jnp.maximum(x @ W1.T + b1, 0) @ W2.T + b2
        logp = jax.nn.log_softmax(z, axis=1)
        return -jnp.mean(logp[jnp.arange(x.shape[0]), t])
    return loss


def run(quick: bool = False) -> list[dict]:
    import symgrad as sg
    steps = 10 if quick else 50
    rounds = 3 if quick else 5
    torch, why = torch_or_reason()
    jax, why_jax = jax_or_reason()
    rows = []
    for dtype in (np.float32, np.float64):
        X, T = make_data(steps, dtype)
        weights = init_weights(dtype)
        Xs = [sg.tensor(x) for x in X]
        Ts = [sg.tensor(t) for t in T]
        ref = [w.copy() for w in weights]
        numpy_loop(ref, X, T)
        states = {c: symgrad_state(weights, c) for c in (False, True)}
        tol = 1e-4 if dtype == np.float32 else 1e-9
        for c, st in states.items():
            reset(st[0], weights)
            symgrad_loop(st, Xs, Ts)
            got = list(st[0].state_dict().values())
            for g, r in zip(got, ref):
                np.testing.assert_allclose(g, r, rtol=tol, atol=tol)

        def np_factory():
            params = [w.copy() for w in weights]
            return lambda: numpy_loop(params, X, T)

        def sg_factory(c):
            def factory():
                reset(states[c][0], weights)
                return lambda: symgrad_loop(states[c], Xs, Ts)
            return factory
        systems = {"numpy (hand-derived)": np_factory, "symgrad eager": sg_factory(False),
                   "symgrad compiled": sg_factory(True)}
        if torch is not None:
            tst = torch_state(torch, weights)
            tX, tT = [torch.from_numpy(x) for x in X], [torch.from_numpy(t) for t in T]

            def t_factory():
                torch_reset(torch, tst[0], weights)
                return lambda: torch_loop(tst, tX, tT)
            systems["torch eager"] = t_factory
        if jax is not None:
            systems["jax jit"] = jax_sgd_factory(jax, _jax_loss(jax), tuple(weights),
                                                 list(zip(X, T)), LR)
        skipped = {} if torch else {"torch eager": why}
        if jax is None:
            skipped["jax jit"] = why_jax
        rows += compare(f"mlp {np.dtype(dtype).name}", systems, rounds=rounds, steps=steps,
                        skipped=skipped)
    return rows
