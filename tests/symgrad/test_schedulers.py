"""Issue 13: sg.optim.lr_scheduler — lr sequences equal torch's over 50 steps, closed-form
checks without torch, state_dict/load_state_dict resume exactly."""
import math

import numpy as np
import pytest

import symgrad as sg
from symgrad.optim import lr_scheduler as S


def _opt(cls=sg.optim.SGD, lr=0.1, groups=1, **kw):
    ps = [{"params": [sg.zeros(2, requires_grad=True)], "lr": lr * (i + 1)}
          for i in range(groups)]
    return cls(ps, lr=lr, **kw)


SPECS = [
    ("StepLR", dict(step_size=7, gamma=0.5), {}),
    ("MultiStepLR", dict(milestones=[3, 10, 10, 31], gamma=0.3), {}),
    ("ExponentialLR", dict(gamma=0.93), {}),
    ("CosineAnnealingLR", dict(T_max=13, eta_min=0.001), {}),
    ("LinearLR", dict(start_factor=0.2, end_factor=0.9, total_iters=17), {}),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=60), dict(momentum=0.9)),
    ("OneCycleLR", dict(max_lr=[0.5, 2.0], total_steps=55, anneal_strategy="linear",
                        three_phase=True, pct_start=0.25), dict(momentum=0.9)),
]


def _lambda(e):
    return 0.95 ** e + 0.01 * e


def _seq(sched, opt, steps=50, metric=None):
    out = [list(sched.get_last_lr())]
    for k in range(steps):
        opt.step()
        sched.step() if metric is None else sched.step(metric(k))
        out.append(list(sched.get_last_lr()))
    return out


@pytest.mark.parametrize("name,kw,okw", SPECS, ids=[f"{n}-{kw}" for n, kw, _ in SPECS])
def test_lr_sequence_equals_torch(name, kw, okw):
    torch = pytest.importorskip("torch")
    opt = _opt(groups=2, **okw)
    ours = _seq(getattr(S, name)(opt, **kw), opt)
    p = [torch.zeros(2, requires_grad=True) for _ in range(2)]
    topt = torch.optim.SGD([{"params": [p[0]], "lr": 0.1}, {"params": [p[1]], "lr": 0.2}],
                           lr=0.1, **okw)
    theirs = _seq(getattr(torch.optim.lr_scheduler, name)(topt, **kw), topt)
    assert ours == theirs                               # bit for bit
    if "momentum" in okw:
        assert [g["momentum"] for g in opt.param_groups] == \
            [g["momentum"] for g in topt.param_groups]


def test_lambda_and_plateau_equal_torch():
    torch = pytest.importorskip("torch")
    opt = _opt(groups=2)
    p = [torch.zeros(2, requires_grad=True) for _ in range(2)]
    topt = torch.optim.SGD([{"params": [p[0]], "lr": 0.1}, {"params": [p[1]], "lr": 0.2}],
                           lr=0.1)
    assert _seq(S.LambdaLR(opt, _lambda), opt) == \
        _seq(torch.optim.lr_scheduler.LambdaLR(topt, _lambda), topt)

    def metric(k):
        return 1.0 / (1 + k) if k < 10 else 0.1 + 0.001 * (k % 3)
    for kw in (dict(patience=2, factor=0.5, cooldown=1, min_lr=[0.0, 0.01]),
               dict(mode="max", threshold=0.1, threshold_mode="abs", patience=0)):
        opt = _opt(groups=2)
        topt = torch.optim.SGD([{"params": [p[0]], "lr": 0.1}, {"params": [p[1]], "lr": 0.2}],
                               lr=0.1)
        assert _seq(S.ReduceLROnPlateau(opt, **kw), opt, metric=metric) == \
            _seq(torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw), topt, metric=metric)


def test_closed_forms_without_torch():
    opt = _opt(lr=1.0)
    seq = [x[0] for x in _seq(S.StepLR(opt, step_size=3, gamma=0.5), opt, steps=9)]
    assert seq == [0.5 ** (e // 3) for e in range(10)]
    opt = _opt(lr=1.0)
    seq = [x[0] for x in _seq(S.CosineAnnealingLR(opt, T_max=10, eta_min=0.1), opt, 10)]
    np.testing.assert_allclose(seq, [0.1 + 0.9 * (1 + math.cos(math.pi * e / 10)) / 2
                                     for e in range(11)], rtol=1e-13)
    opt = _opt(lr=1.0)
    seq = [x[0] for x in _seq(S.LinearLR(opt, start_factor=0.25, total_iters=4), opt, 6)]
    np.testing.assert_allclose(seq, [0.25, 0.4375, 0.625, 0.8125, 1.0, 1.0, 1.0], rtol=1e-13)
    opt = _opt(lr=1.0)
    seq = [x[0] for x in _seq(S.MultiStepLR(opt, milestones=[2, 2, 5], gamma=0.5), opt, 6)]
    assert seq == [1.0, 1.0, 0.25, 0.25, 0.25, 0.125, 0.125]
    opt = _opt(lr=1.0, momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=10, anneal_strategy="linear")
    seq = [x[0] for x in _seq(sched, opt, 9)]
    assert seq[0] == pytest.approx(0.04) and seq[2] == pytest.approx(1.0)
    assert seq[-1] == pytest.approx(0.04 / 1e4)
    with pytest.raises(ValueError, match="Tried to step 11 times"):
        opt.step(); sched.step(); sched.step()
    opt = _opt(lr=1.0)
    plateau = S.ReduceLROnPlateau(opt, patience=1, factor=0.5)
    lrs = []
    for loss in (3.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0):
        plateau.step(sg.tensor(loss)); lrs.append(plateau.get_last_lr()[0])
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]


@pytest.mark.parametrize("make", [
    lambda o: S.StepLR(o, step_size=4, gamma=0.5),
    lambda o: S.MultiStepLR(o, milestones=[5, 15], gamma=0.1),
    lambda o: S.ExponentialLR(o, gamma=0.9),
    lambda o: S.CosineAnnealingLR(o, T_max=7),
    lambda o: S.LambdaLR(o, _lambda),
    lambda o: S.LinearLR(o, total_iters=12),
    lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=30),
], ids=["step", "multistep", "exp", "cos", "lambda", "linear", "onecycle"])
def test_state_dict_resumes_exactly(make, tmp_path):
    opt = _opt(momentum=0.9)
    full = _seq(make(opt), opt, 20)
    ref_opt = _opt(momentum=0.9)
    ref = make(ref_opt)
    first = _seq(ref, ref_opt, 10)
    sg.save({"opt": ref_opt.state_dict(), "sched": ref.state_dict()}, tmp_path / "ck.npz")
    opt = _opt(momentum=0.9)     # a fresh run: build, then load both
    s = make(opt)
    ck = sg.load(tmp_path / "ck.npz")
    opt.load_state_dict(ck["opt"])
    s.load_state_dict(ck["sched"])
    assert s.get_last_lr() == first[-1]
    rest = _seq(s, opt, 10)
    assert first + rest[1:] == full


def test_bad_arguments():
    opt = _opt()
    with pytest.raises(TypeError, match="not an Optimizer"):
        S.StepLR(object(), step_size=1)
    with pytest.raises(ValueError, match="step_size"):
        S.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="start_factor"):
        S.LinearLR(opt, start_factor=0.0)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        S.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="total_steps"):
        S.OneCycleLR(opt, max_lr=1.0)
    s = S.StepLR(opt, step_size=2)
    with pytest.raises(ValueError, match="missing keys"):
        s.load_state_dict({"gamma": 0.5})
    assert s.gamma == 0.1


def test_onecycle_cycles_adam_beta1_like_torch():
    torch = pytest.importorskip("torch")
    opt = _opt(sg.optim.Adam)
    sched = S.OneCycleLR(opt, max_lr=0.3, total_steps=50)
    tp = torch.zeros(2, requires_grad=True)
    topt = torch.optim.Adam([tp], lr=0.1)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.3, total_steps=50)
    for _ in range(49):
        assert sched.get_last_lr() == tsched.get_last_lr()
        assert opt.param_groups[0]["betas"] == tuple(topt.param_groups[0]["betas"])
        opt.step(); sched.step(); topt.step(); tsched.step()


def test_plateau_state_dict_resumes(tmp_path):
    losses = [1.0, 0.9, 0.95, 0.97, 0.96, 0.5, 0.6, 0.7, 0.8, 0.9, 0.91, 0.92]

    def make():
        opt = _opt(lr=1.0)
        return opt, S.ReduceLROnPlateau(opt, patience=1, cooldown=1, factor=0.5)
    opt, s = make()
    full = []
    for x in losses:
        s.step(x); full.append(s.get_last_lr()[0])
    opt, s = make()
    for x in losses[:4]:
        s.step(x)
    sg.save({"o": opt.state_dict(), "s": s.state_dict()}, tmp_path / "p.npz")
    opt2, s2 = make()
    ck = sg.load(tmp_path / "p.npz")
    opt2.load_state_dict(ck["o"]); s2.load_state_dict(ck["s"])
    rest = []
    for x in losses[4:]:
        s2.step(x); rest.append(s2.get_last_lr()[0])
    assert rest == full[4:] and min(full) < 1.0


def test_numpy_scalar_arguments():
    opt = _opt(lr=1.0, momentum=0.9)
    s = S.OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=np.float64(0.3))
    assert s.get_last_lr()[0] == pytest.approx(0.04)
    s = S.StepLR(_opt(lr=1.0), step_size=1, gamma=np.float32(0.5))
    s.optimizer.step(); s.step()
    assert s.get_last_lr() == [0.5] and type(s.gamma) is float
