"""numeric.optim against torch.optim (single-tensor code path), 20 steps."""
from __future__ import annotations

import numpy as np
import pytest

from numeric.optim import adam_update, sgd_update

STEPS = 20


def gradient(p, k):
    """A parameter-dependent gradient with a step-dependent twist (same on both sides)."""
    return 2.0 * (p - np.linspace(-1, 1, p.size).reshape(p.shape).astype(p.dtype)) + \
        np.asarray(np.sin(k + np.arange(p.size)).reshape(p.shape), dtype=p.dtype)


def run_numeric(update, p0, **hp):
    p, state = p0.copy(), {}
    for k in range(STEPS):
        update(p, gradient(p, k), state, **hp)
    return p


def run_torch(cls, p0, **hp):
    torch = pytest.importorskip("torch")
    p = torch.tensor(p0.copy(), requires_grad=True)
    opt = cls([p], foreach=False, **hp)
    for k in range(STEPS):
        p.grad = torch.from_numpy(gradient(p.detach().numpy().copy(), k))
        opt.step()
    return p.detach().numpy()


SGD_CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01),
    dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1, maximize=True),
]
ADAM_CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, amsgrad=True),
    dict(lr=0.05, amsgrad=True, weight_decay=0.01, maximize=True),
]
TOL = {np.float64: dict(rtol=1e-12, atol=1e-13), np.float32: dict(rtol=2e-5, atol=2e-6)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("hp", SGD_CONFIGS, ids=str)
def test_sgd_matches_torch(hp, dtype):
    torch = pytest.importorskip("torch")
    p0 = np.random.default_rng(0).normal(size=(3, 4)).astype(dtype)
    ours = run_numeric(sgd_update, p0, **hp)
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours, run_torch(torch.optim.SGD, p0, **hp), **TOL[dtype])
    assert not np.allclose(ours, p0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("hp", ADAM_CONFIGS, ids=str)
def test_adam_matches_torch(hp, dtype):
    torch = pytest.importorskip("torch")
    p0 = np.random.default_rng(1).normal(size=(5,)).astype(dtype)
    ours = run_numeric(adam_update, p0, **hp)
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours, run_torch(torch.optim.Adam, p0, **hp), **TOL[dtype])
    assert not np.allclose(ours, p0)


def test_state_is_kept_in_the_dict():
    p, state = np.zeros(2), {}
    adam_update(p, np.ones(2), state, amsgrad=True)
    assert state["step"] == 1 and set(state) == {"step", "exp_avg", "exp_avg_sq",
                                                  "max_exp_avg_sq"}
    sgd_state: dict = {}
    sgd_update(p, np.ones(2), sgd_state, lr=0.1, momentum=0.5)
    np.testing.assert_array_equal(sgd_state["momentum_buffer"], [1.0, 1.0])


def test_bad_hyper_parameters_are_rejected():
    p = np.zeros(2)
    with pytest.raises(ValueError, match="learning rate"):
        sgd_update(p, p, {}, lr=-1.0)
    with pytest.raises(ValueError, match="Nesterov"):
        sgd_update(p, p, {}, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"betas\[1\]"):
        adam_update(p, p, {}, betas=(0.9, 1.0))


def test_step_functions_update_a_group_like_single_updates():
    from numeric.optim import adam_step, sgd_step
    rng = np.random.default_rng(0)
    ps = [rng.standard_normal(3), rng.standard_normal((2, 2))]
    gs = [rng.standard_normal(3), rng.standard_normal((2, 2))]
    for step, update, hp in [(sgd_step, sgd_update, dict(lr=0.1, momentum=0.9, nesterov=True)),
                             (adam_step, adam_update, dict(lr=0.1, amsgrad=True))]:
        a, b = [p.copy() for p in ps], [p.copy() for p in ps]
        sa, sb = [{}, {}], [{}, {}]
        for _ in range(3):
            step(a, gs, sa, **hp)
            for p, g, s in zip(b, gs, sb):
                update(p, g, s, **hp)
        for p, q in zip(a, b):
            np.testing.assert_array_equal(p, q)
        with pytest.raises(ValueError, match="lr"):
            step(a, gs, sa, **{**hp, "lr": -1.0})
        step(a, gs, sa, **{**hp, "lr": -1.0, "check": False})      # unchecked: no error
