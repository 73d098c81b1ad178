"""Grad mode is per thread, as in PyTorch: ``no_grad``, ``enable_grad``, ``set_grad_enabled``,
the ``@no_grad()`` decorator and the switch ``backward`` makes internally change recording in
the calling thread only.

Barriers make the interleavings certain rather than likely: each check runs while the other
thread is provably inside its ``no_grad`` block (or its ``backward``).  Every barrier has a
timeout, so a regression fails instead of hanging.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

import symgrad as sg

TIMEOUT = 30


def _run_threads(*targets, barrier=None):
    """Run each target in its own thread; re-raise the first exception any of them raised
    (after breaking ``barrier``, so the other thread stops waiting at once)."""
    errors: list[BaseException] = []

    def guard(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 -- reported to the main thread below
                errors.append(e)
                if barrier is not None:
                    barrier.abort()
        return run
    threads = [threading.Thread(target=guard(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
        assert not t.is_alive(), "thread did not finish"
    if errors:
        raise errors[0]


def _data(seed, n=8, d=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, X @ rng.standard_normal(d) + 0.5 + 0.1 * rng.standard_normal(n)


def _numpy_reference(seed, steps, lr):
    """Plain-numpy SGD on the mean squared error of X @ w + b: losses and final w, b."""
    X, y = _data(seed)
    w, b = np.zeros(X.shape[1]), 0.0
    losses, evals = [], []
    for _ in range(steps):
        r = X @ w + b - y
        losses.append(np.mean(r ** 2))
        gw, gb = 2 * X.T @ r / len(y), 2 * np.mean(r)
        w, b = w - lr * gw, b - lr * gb
        evals.append(np.mean((X @ w + b - y) ** 2))
    return np.array(losses), np.array(evals), w, b


def _train(seed, steps, lr, *, evaluate=False, in_no_grad=None, before=None, after=None):
    """symgrad SGD on the same problem.  ``evaluate``: after each step, the loss under
    ``no_grad``; ``in_no_grad()`` runs inside that block; ``before()`` and ``after()`` run
    around each step (recording, backward, optimizer step)."""
    X, y = _data(seed)
    Xt, yt = sg.tensor(X), sg.tensor(y)
    w = sg.zeros(X.shape[1], dtype=sg.float64, requires_grad=True)
    b = sg.zeros((), dtype=sg.float64, requires_grad=True)
    opt = sg.optim.SGD([w, b], lr=lr)
    losses, evals = [], []
    for _ in range(steps):
        if before:
            before()
        opt.zero_grad()
        loss = ((Xt @ w + b - yt) ** 2).mean()
        assert sg.is_grad_enabled() and loss.requires_grad and loss.grad_fn is not None
        loss.backward()
        assert w.grad is not None and b.grad is not None
        opt.step()
        losses.append(loss.item())
        if after:
            after()
        if evaluate:
            with sg.no_grad():
                ev = ((Xt @ w + b - yt) ** 2).mean()
                if in_no_grad:
                    in_no_grad()
                assert not sg.is_grad_enabled()
                assert ev.grad_fn is None and not ev.requires_grad
            evals.append(ev.item())
        assert sg.is_grad_enabled()
    return np.array(losses), np.array(evals), w.detach().numpy(), b.item()


STEPS, LR = 12, 0.1


def _assert_same(got, want, exact=False):
    for g, r in zip(got, want):
        if exact:
            np.testing.assert_array_equal(g, r)
        else:
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-14)


def test_two_threads_train_their_own_models_as_when_alone():
    losses_a, evals_a, w_a, b_a = _numpy_reference(1, STEPS, LR)
    losses_b, _, w_b, b_b = _numpy_reference(2, STEPS, LR)
    alone_a = _train(1, STEPS, LR, evaluate=True)
    alone_b = _train(2, STEPS, LR)
    _assert_same(alone_a, (losses_a, evals_a, w_a, b_a))
    _assert_same(alone_b, (losses_b, [], w_b, b_b))

    # Every step: A's no_grad block stays open (barrier 1 .. barrier 2) while B records its
    # step, calls backward and steps its optimizer.
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    out = {}

    def hold_open():          # A, inside its no_grad block
        barrier.wait()        # 1: A is inside no_grad
        barrier.wait()        # 2: B has recorded, called backward and stepped

    def a():
        out["a"] = _train(1, STEPS, LR, evaluate=True, in_no_grad=hold_open)

    def b():                  # B's whole step runs between A's barriers 1 and 2
        out["b"] = _train(2, STEPS, LR, before=barrier.wait, after=barrier.wait)

    _run_threads(a, b, barrier=barrier)
    _assert_same(out["a"], alone_a, exact=True)
    _assert_same(out["b"], alone_b, exact=True)


def test_recording_in_one_thread_while_the_other_is_inside_backward():
    """backward turns recording off for its own thread while it runs (hooks run then)."""
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    seen = {}

    def b():
        x = sg.tensor([1.0, 2.0], requires_grad=True)
        y = x * 3

        def hook(g):
            seen["b in backward"] = sg.is_grad_enabled()
            barrier.wait()    # 1: B is inside backward
            barrier.wait()    # 2: A has recorded
        y.register_hook(hook)
        y.sum().backward()
        seen["b after"] = sg.is_grad_enabled()
        np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])

    def a():
        barrier.wait()        # 1
        x = sg.tensor([1.0], requires_grad=True)
        z = sg.exp(x) * 2
        seen["a"] = (sg.is_grad_enabled(), z.grad_fn is not None)
        barrier.wait()        # 2
        z.backward()
        np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([1.0]))

    _run_threads(a, b, barrier=barrier)
    assert seen == {"b in backward": False, "b after": True, "a": (True, True)}


@pytest.mark.parametrize("enter", [
    lambda: sg.no_grad(), lambda: sg.set_grad_enabled(False),
], ids=["no_grad", "set_grad_enabled(False)"])
def test_no_grad_in_one_thread_leaves_the_other_recording(enter):
    inside, done = threading.Event(), threading.Event()
    seen = {}

    def a():
        with enter():
            seen["a inside"] = sg.is_grad_enabled()
            inside.set()
            assert done.wait(TIMEOUT)
            with sg.enable_grad():
                seen["a enable_grad"] = sg.is_grad_enabled()
            seen["a still inside"] = sg.is_grad_enabled()
        seen["a after"] = sg.is_grad_enabled()

    def b():
        assert inside.wait(TIMEOUT)
        x = sg.tensor([2.0], requires_grad=True)
        y = x ** 2
        seen["b"] = (sg.is_grad_enabled(), y.requires_grad, y.grad_fn is not None)
        y.backward()
        seen["b grad"] = x.grad.item()
        done.set()

    _run_threads(a, b)
    assert seen == {"a inside": False, "b": (True, True, True), "b grad": 4.0,
                    "a enable_grad": True, "a still inside": False, "a after": True}


def test_no_grad_decorator_affects_only_the_calling_thread():
    inside, done = threading.Event(), threading.Event()
    seen = {}

    @sg.no_grad()
    def evaluate(x):
        seen["in decorated"] = sg.is_grad_enabled()
        inside.set()
        assert done.wait(TIMEOUT)
        return x * 2

    def a():
        x = sg.tensor([1.0], requires_grad=True)
        seen["a result grad_fn"] = evaluate(x).grad_fn
        seen["a after"] = sg.is_grad_enabled()

    def b():
        assert inside.wait(TIMEOUT)
        x = sg.tensor([1.0], requires_grad=True)
        seen["b"] = (sg.is_grad_enabled(), (x * 2).grad_fn is not None)
        done.set()

    _run_threads(a, b)
    assert seen == {"in decorated": False, "b": (True, True), "a result grad_fn": None,
                    "a after": True}


def test_a_new_thread_starts_with_recording_on():
    seen = []
    with sg.no_grad():
        t = threading.Thread(target=lambda: seen.append(sg.is_grad_enabled()))
        t.start()
        t.join(TIMEOUT)
        assert not sg.is_grad_enabled()
    assert seen == [True] and sg.is_grad_enabled()
