"""Values and gradients of every op, and SGD/Adam trajectories, against PyTorch (float64)."""
import numpy as np
import pytest

import symgrad as sg

torch = pytest.importorskip("torch")
RNG = np.random.default_rng(42)


def _pos(*shape):
    return RNG.uniform(0.5, 2.0, size=shape)


def _any(*shape):
    return RNG.normal(size=shape)


# name -> (symgrad fn, torch fn, input arrays)
CASES = {
    "add": (lambda a, b: a + b, lambda a, b: a + b, [_any(3, 1), _any(4)]),
    "sub": (lambda a, b: a - b, lambda a, b: a - b, [_any(2, 3), _any(3)]),
    "rsub": (lambda a: 2 - a, lambda a: 2 - a, [_any(3)]),
    "mul": (lambda a, b: a * b, lambda a, b: a * b, [_any(2, 3), _any(2, 1)]),
    "div": (lambda a, b: a / b, lambda a, b: a / b, [_any(2, 3), _pos(3)]),
    "rdiv": (lambda a: 1.5 / a, lambda a: 1.5 / a, [_pos(3)]),
    "pow": (lambda a, b: a ** b, lambda a, b: a ** b, [_pos(3), _any(3)]),
    "pow_scalar": (lambda a: a ** 3, lambda a: a ** 3, [_any(4)]),
    "rpow": (lambda a: 2 ** a, lambda a: 2 ** a, [_any(3)]),
    "maximum": (sg.maximum, torch.maximum, [_any(5), _any(5)]),
    "minimum": (sg.minimum, torch.minimum, [_any(5), _any(5)]),
    "neg": (lambda a: -a, lambda a: -a, [_any(3)]),
    "exp": (sg.exp, torch.exp, [_any(3)]),
    "log": (sg.log, torch.log, [_pos(3)]),
    "log1p": (sg.log1p, torch.log1p, [_pos(3)]),
    "expm1": (sg.expm1, torch.expm1, [_any(3)]),
    "sqrt": (sg.sqrt, torch.sqrt, [_pos(3)]),
    "sin": (sg.sin, torch.sin, [_any(3)]),
    "cos": (sg.cos, torch.cos, [_any(3)]),
    "tan": (sg.tan, torch.tan, [_any(3) * 0.5]),
    "tanh": (sg.tanh, torch.tanh, [_any(3)]),
    "sigmoid": (sg.sigmoid, torch.sigmoid, [_any(3)]),
    "softplus": (sg.softplus, torch.nn.functional.softplus, [_any(3)]),
    "relu": (sg.relu, torch.relu, [_any(6)]),
    "abs": (sg.abs, torch.abs, [_any(6)]),
    "clamp": (lambda a: sg.clamp(a, min=-0.3, max=0.4),
              lambda a: torch.clamp(a, min=-0.3, max=0.4), [_any(6)]),
    "cast32": (lambda a: a.float() * 1, lambda a: a.float() * 1, [_any(3)]),
    "where": (lambda a, b: sg.where(a > 0, a, b), lambda a, b: torch.where(a > 0, a, b),
              [_any(5), _any(5)]),
    "matmul": (sg.matmul, torch.matmul, [_any(2, 3), _any(3, 4)]),
    "matmul_vec": (sg.matmul, torch.matmul, [_any(3), _any(3, 2)]),
    "matmul_batch": (sg.matmul, torch.matmul, [_any(2, 2, 3), _any(3)]),
    "sum": (lambda a: a.sum(dim=1), lambda a: a.sum(dim=1), [_any(2, 3)]),
    "sum_keep": (lambda a: a.sum(dim=(0, -1), keepdim=True),
                 lambda a: a.sum(dim=(0, -1), keepdim=True), [_any(2, 3, 2)]),
    "mean": (lambda a: a.mean(dim=0), lambda a: a.mean(dim=0), [_any(2, 3)]),
    "max_all": (lambda a: a.max(), lambda a: a.max(), [_any(2, 3)]),
    "max_dim": (lambda a: a.max(dim=1).values, lambda a: a.max(dim=1).values, [_any(2, 3)]),
    "min_dim": (lambda a: sg.min(a, 0, keepdim=True).values,
                lambda a: torch.min(a, 0, keepdim=True).values, [_any(2, 3)]),
    "logsumexp": (lambda a: sg.logsumexp(a, dim=1), lambda a: torch.logsumexp(a, dim=1),
                  [_any(2, 3)]),
    "softmax": (lambda a: sg.softmax(a, dim=-1), lambda a: torch.softmax(a, dim=-1),
                [_any(2, 3)]),
    "log_softmax": (lambda a: sg.log_softmax(a, dim=0), lambda a: torch.log_softmax(a, dim=0),
                    [_any(2, 3)]),
    "reshape": (lambda a: a.reshape(3, -1), lambda a: a.reshape(3, -1), [_any(2, 3)]),
    "view": (lambda a: a.view(6), lambda a: a.view(6), [_any(2, 3)]),
    "transpose": (lambda a: a.transpose(0, 2), lambda a: a.transpose(0, 2), [_any(2, 3, 4)]),
    "permute": (lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1), [_any(2, 3, 4)]),
    "T": (lambda a: a.T, lambda a: a.T, [_any(2, 3)]),
    "unsqueeze": (lambda a: a.unsqueeze(1), lambda a: a.unsqueeze(1), [_any(2, 3)]),
    "squeeze": (lambda a: a.squeeze(), lambda a: a.squeeze(), [_any(2, 1, 3)]),
    "expand": (lambda a: a.expand(4, 3), lambda a: a.expand(4, 3), [_any(1, 3)]),
    "getitem": (lambda a: a[1:, [0, 2]], lambda a: a[1:, [0, 2]], [_any(3, 3)]),
    "getitem_repeat": (lambda a: a[[0, 0, 1]], lambda a: a[[0, 0, 1]], [_any(3, 2)]),
    "getitem_mask": (lambda a: a[a > 0], lambda a: a[a > 0], [_any(6)]),
    "cat": (lambda a, b: sg.cat([a, b], dim=1), lambda a, b: torch.cat([a, b], dim=1),
            [_any(2, 3), _any(2, 1)]),
    "stack": (lambda a, b: sg.stack([a, b], dim=1), lambda a, b: torch.stack([a, b], dim=1),
              [_any(2, 3), _any(2, 3)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_torch(name):
    sg_fn, th_fn, arrays = CASES[name]
    xs = [sg.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = sg_fn(*xs), th_fn(*ts)
    np.testing.assert_allclose(out.value, ref.detach().numpy(), rtol=1e-6 if name == "cast32"
                               else 1e-13, atol=1e-14)
    w = RNG.normal(size=ref.shape)
    (out * sg.tensor(w).to(out.dtype)).sum().backward()
    (ref * torch.tensor(w, dtype=ref.dtype)).sum().backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.value, t.grad.numpy(), rtol=1e-6 if name == "cast32"
                                   else 1e-12, atol=1e-13)


@pytest.mark.parametrize("make, kw", [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.01, amsgrad=True)),
])
def test_optimizer_trajectories_match_torch(make, kw):
    X, y = _any(8, 3), _any(8)
    w0 = _any(3)
    w = sg.tensor(w0, requires_grad=True)
    tw = torch.tensor(w0, requires_grad=True)
    opt = getattr(sg.optim, make)([w], **kw)
    topt = getattr(torch.optim, make)([tw], **kw)
    Xs, ys, Xt, yt = sg.tensor(X), sg.tensor(y), torch.tensor(X), torch.tensor(y)
    for _ in range(25):
        loss = (sg.tanh(Xs @ w) - ys).pow(2).mean()
        opt.zero_grad(); loss.backward(); opt.step()
        tloss = (torch.tanh(Xt @ tw) - yt).pow(2).mean()
        topt.zero_grad(); tloss.backward(); topt.step()
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-12)
        np.testing.assert_allclose(w.value, tw.detach().numpy(), rtol=1e-11, atol=1e-13)


def test_second_derivative_matches_torch():
    a = _any(4)
    x, tx = sg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (g,) = sg.autograd.grad((sg.sin(x) * x ** 2).sum(), [x], create_graph=True)
    (tg,) = torch.autograd.grad((torch.sin(tx) * tx ** 2).sum(), [tx], create_graph=True)
    (h,) = sg.autograd.grad((g * g).sum(), [x])
    (th,) = torch.autograd.grad((tg * tg).sum(), [tx])
    np.testing.assert_allclose(h.value, th.numpy(), rtol=1e-12)


def test_repr_matches_torch_modulo_names():
    for a in ([10.0], [[1.0, 2.0], [3.0, 4.0]], [0.1, 2.5], [1e-5, 1.0], [1.0, -2.5, 300.0]):
        ref = repr(torch.tensor(a, dtype=torch.float64)).replace(", dtype=torch.float64", "")
        assert repr(sg.tensor(a)) == ref
