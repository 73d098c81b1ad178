"""The seed tutorial's 100-step SGD loop, compiled: ``sg.compile`` vs hand-written numpy.

Same loop as :mod:`bench.seed` (``w * x + b``, squared-error sum, SGD lr=0.01,
100 epochs; the loss is computed every epoch, as in every version), with the
loss function compiled once.  Systems: numpy with the gradient derived by hand
(baseline, :func:`bench.seed.numpy_loop`), symgrad compiled, symgrad eager, PyTorch eager,
JAX (jit) when installed.
"""
from __future__ import annotations

import numpy as np

from bench import seed
from bench.harness import compare, jax_or_reason, jax_sgd_factory, torch_or_reason


def compiled_factory():
    import symgrad as sg
    w = sg.tensor([1.0], requires_grad=True)
    b = sg.tensor([0.0], requires_grad=True)
    x, y = sg.tensor(seed.X), sg.tensor(seed.Y)
    loss_fn = sg.compile(lambda x, y: ((w * x + b - y) ** 2).sum())
    opt = sg.optim.SGD([w, b], lr=seed.LR)

    def loop():
        for _ in range(seed.EPOCHS):
            loss = loss_fn(x, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return w.item(), b.item()

    def factory():
        w.value[...] = 1.0
        b.value[...] = 0.0
        return loop
    return factory


def run(quick: bool = False) -> list[dict]:
    compiled = compiled_factory()
    got = compiled()()
    ref = seed.numpy_loop()
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    systems = {"numpy (hand-derived)": lambda: seed.numpy_loop, "symgrad compiled": compiled,
               "symgrad eager": lambda: seed.symgrad_loop}
    torch, why = torch_or_reason()
    if torch is not None:
        systems["torch eager"] = lambda: seed._torch_loop(torch)
    jax, why_jax = jax_or_reason()
    if jax is not None:
        x, y = np.array(seed.X), np.array(seed.Y)
        systems["jax jit"] = jax_sgd_factory(
            jax, lambda p, x, y: ((p[0] * x + p[1] - y) ** 2).sum(),
            (np.array([1.0]), np.array([0.0])), [(x, y)] * seed.EPOCHS, seed.LR)
    skipped = {} if torch else {"torch eager": why}
    if jax is None:
        skipped["jax jit"] = why_jax
    return compare("seed loop (100 SGD steps)", systems, rounds=10 if quick else 40,
                   steps=seed.EPOCHS, skipped=skipped)
