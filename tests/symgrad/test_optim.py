"""Optimizers: param groups, zero_grad, step semantics and hand-computed updates."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.optim as optim


def test_import_styles():
    assert optim.SGD is sg.optim.SGD and optim.Adam is sg.optim.Adam


def test_param_groups_defaults_filled():
    a, b = sg.zeros(1, requires_grad=True), sg.zeros(1, requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    g0, g1 = opt.param_groups
    assert g0["lr"] == 0.1 and g0["momentum"] == 0 and g1["lr"] == 0.5 and g1["momentum"] == 0.9
    assert g0["params"] == [a] and g1["params"][0] is b
    with pytest.raises(ValueError, match="more than one"):
        opt.add_param_group({"params": [a]})


def test_zero_grad_and_skip_params_without_grad():
    a, b = sg.tensor([1.0], requires_grad=True), sg.tensor([1.0], requires_grad=True)
    opt = optim.SGD([a, b], lr=0.1)
    (a * 2).sum().backward()
    opt.step()
    assert a.tolist() == [0.8] and b.tolist() == [1.0]
    opt.zero_grad(set_to_none=False)
    assert a.grad.tolist() == [0.0] and b.grad is None
    opt.zero_grad()
    assert a.grad is None


def test_sgd_momentum_weight_decay_nesterov_by_hand():
    p = sg.tensor([1.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True)
    buf, v = None, 1.0
    for _ in range(3):
        opt.zero_grad()
        (p ** 2).sum().backward()
        g = 2 * v + 0.1 * v
        buf = g if buf is None else 0.9 * buf + g
        v -= 0.1 * (g + 0.9 * buf)
        opt.step()
        assert p.item() == pytest.approx(v, rel=1e-14)


def test_adam_by_hand():
    p = sg.tensor([1.0, -2.0], requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    m = np.zeros(2); s = np.zeros(2); v = np.array([1.0, -2.0])
    for t in range(1, 4):
        opt.zero_grad()
        (p ** 2).sum().backward()
        g = 2 * v
        m = 0.9 * m + 0.1 * g
        s = 0.999 * s + 0.001 * g * g
        v = v - 0.1 * (m / (1 - 0.9 ** t)) / (np.sqrt(s / (1 - 0.999 ** t)) + 1e-8)
        opt.step()
        np.testing.assert_allclose(p.value, v, rtol=1e-12)
    assert opt.state[p]["step"] == 3


def test_float32_params_stay_float32():
    p = sg.tensor([1.0], dtype=sg.float32, requires_grad=True)
    for opt in (optim.SGD([p], lr=0.1, momentum=0.5), optim.Adam([p], lr=0.1)):
        (p * 3).sum().backward()
        opt.step()
        assert p.dtype == sg.float32 and p.value.dtype == np.float32
