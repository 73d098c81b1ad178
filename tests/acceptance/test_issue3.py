"""Acceptance tests for issue 3: PyTorch-style tensors, autograd, optimizers, seed examples.

Written from the issue text alone, with ``import symgrad as sg`` in place of
``import torch``; PyTorch (when installed) is the oracle for parity checks.
"""
from __future__ import annotations

import gc
import inspect
import tracemalloc
import weakref
from pathlib import Path

import numpy as np
import pytest

import symgrad as sg

ROOT = Path(__file__).resolve().parents[2]

try:
    import torch
except ImportError:  # parity tests skip
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


def close(t, want, tol=1e-12):
    np.testing.assert_allclose(np.asarray(t.detach().numpy() if isinstance(t, sg.Tensor) else t),
                               want, rtol=tol, atol=tol)


# ----------------------------------------------------------------------------- 1. creation
def test_tensor_signature_and_defaults():
    params = inspect.signature(sg.tensor).parameters
    assert list(params)[:1] == ["data"]
    for name, default in [("dtype", None), ("requires_grad", False), ("name", None)]:
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[name].default is default
    t = sg.tensor([1.0, 2.0])
    assert t.dtype == sg.float64 and t.shape == (2,) and t.ndim == 1
    assert not t.requires_grad and t.is_leaf and t.grad is None and t.grad_fn is None
    assert sg.tensor(3.0).shape == () and sg.tensor([[1.0]]).ndim == 2


def test_dtypes_and_default_dtype():
    assert sg.get_default_dtype() == sg.float64
    assert sg.tensor([1.0], dtype=sg.float32).dtype == sg.float32
    try:
        sg.set_default_dtype(sg.float32)
        assert sg.get_default_dtype() == sg.float32
        assert sg.tensor([1.0]).dtype == sg.float32
        assert sg.zeros(2).dtype == sg.float32
    finally:
        sg.set_default_dtype(sg.float64)
    assert sg.tensor([1.0]).dtype == sg.float64


def test_creation_functions():
    close(sg.zeros(2, 3), np.zeros((2, 3)))
    close(sg.zeros((2, 3)), np.zeros((2, 3)))
    close(sg.ones(3), np.ones(3))
    close(sg.full((2, 2), 7.5), np.full((2, 2), 7.5))
    close(sg.arange(5), np.arange(5))
    close(sg.arange(1, 2, 0.25), [1.0, 1.25, 1.5, 1.75])
    close(sg.eye(3), np.eye(3))
    assert sg.zeros(2, dtype=sg.float32).dtype == sg.float32
    assert sg.ones(2, requires_grad=True).requires_grad
    x = sg.tensor([[1.0, 2.0]], dtype=sg.float32)
    z, o = sg.zeros_like(x), sg.ones_like(x)
    assert z.shape == o.shape == (1, 2) and z.dtype == o.dtype == sg.float32
    close(o, [[1.0, 1.0]])


def test_random_with_seed_or_generator():
    a, b = sg.rand(3, 4, seed=0), sg.rand(3, 4, seed=0)
    assert a.shape == (3, 4) and np.array_equal(a.numpy(), b.numpy())
    assert 0 <= a.numpy().min() and a.numpy().max() < 1
    c = sg.randn(5, seed=np.random.default_rng(1))
    d = sg.randn(5, seed=np.random.default_rng(1))
    assert np.array_equal(c.numpy(), d.numpy()) and c.dtype == sg.float64
    assert not np.array_equal(sg.randn(5, seed=1).numpy(), sg.randn(5, seed=2).numpy())
    assert sg.randn(2, 2, seed=0, dtype=sg.float32).dtype == sg.float32
    e = sg.rand(2, generator=np.random.default_rng(3))
    assert np.array_equal(e.numpy(), sg.rand(2, seed=np.random.default_rng(3)).numpy())


def test_leaf_names():
    x = sg.tensor([1.0], name="x", requires_grad=True)
    assert x.name == "x"
    y = sg.tensor([2.0])
    assert isinstance(y.name, str) and y.name and y.name == y.name      # stable
    z = sg.tensor([3.0])
    assert z.name != y.name
    assert str(sg.diff((x ** 2).sum(), x)) == "2*x"
    y.requires_grad_()
    assert str(sg.to_sympy(y * 2, wrt=y)) == f"2*{y.name}"


# ----------------------------------------------------------------------------- 2. ops
def test_operators_and_reflected_forms():
    x = sg.tensor([1.0, 2.0, 4.0])
    close(x + 1, [2, 3, 5]); close(1 + x, [2, 3, 5])
    close(x - 1, [0, 1, 3]); close(1 - x, [0, -1, -3])
    close(x * 2, [2, 4, 8]); close(2 * x, [2, 4, 8])
    close(x / 2, [0.5, 1, 2]); close(2 / x, [2, 1, 0.5])
    close(x ** 2, [1, 4, 16]); close(2 ** x, [2, 4, 16])
    close(-x, [-1, -2, -4])
    m = sg.tensor([[1.0, 2.0], [3.0, 4.0]])
    close(m @ sg.tensor([1.0, 1.0]), [3, 7])
    close(m @ m, np.array([[1, 2], [3, 4]]) @ np.array([[1, 2], [3, 4]]))
    close(x + x, [2, 4, 8]); close(x * x, [1, 4, 16]); close(x ** x, [1, 4, 256])


UNARY = ["exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid",
         "relu", "abs"]


@pytest.mark.parametrize("name", UNARY)
def test_unary_as_method_and_function(name):
    v = np.array([0.3, 0.7, 1.2])
    x = sg.tensor(v, requires_grad=True)
    ref = {"sigmoid": lambda a: 1 / (1 + np.exp(-a)), "relu": lambda a: np.maximum(a, 0),
           "abs": np.abs}.get(name) or getattr(np, name)
    a, b = getattr(sg, name)(x), getattr(x, name)()
    close(a, ref(v)); close(b, ref(v))
    assert a.requires_grad and a.grad_fn is not None


def test_clamp_and_named_functions():
    x = sg.tensor([-2.0, 0.5, 3.0])
    close(sg.clamp(x, min=-1, max=1), [-1, 0.5, 1]); close(x.clamp(min=0), [0, 0.5, 3])
    close(x.clamp(-1.0, 1.0), [-1, 0.5, 1])
    y = sg.tensor([1.0, 1.0, 1.0])
    close(sg.maximum(x, y), [1, 1, 3]); close(sg.minimum(x, y), [-2, 0.5, 1])
    close(sg.where(x > 0, x, y), [1, 0.5, 3])
    close(sg.matmul(sg.eye(3), x), [-2, 0.5, 3])
    close(sg.logsumexp(x, dim=0), np.log(np.sum(np.exp([-2, 0.5, 3]))))
    e = np.exp([-2, 0.5, 3])
    close(sg.softmax(x, dim=0), e / e.sum())
    close(sg.log_softmax(x, dim=0), np.log(e / e.sum()))
    close(sg.cat([x, y]), [-2, 0.5, 3, 1, 1, 1])
    close(sg.cat([x.reshape(1, 3), y.reshape(1, 3)], dim=0), [[-2, 0.5, 3], [1, 1, 1]])
    close(sg.stack([x, y]), [[-2, 0.5, 3], [1, 1, 1]])
    close(sg.stack([x, y], dim=1), [[-2, 1], [0.5, 1], [3, 1]])


def test_reductions_with_dim_and_keepdim():
    v = np.arange(6.0).reshape(2, 3)
    x = sg.tensor(v)
    close(x.sum(), 15.0); close(sg.sum(x, dim=0), v.sum(0))
    close(x.sum(dim=1, keepdim=True), v.sum(1, keepdims=True))
    assert x.sum(dim=1, keepdim=True).shape == (2, 1)
    close(x.sum(dim=(0, 1)), 15.0); close(x.sum(-1), v.sum(-1))
    close(x.mean(), 2.5); close(sg.mean(x, dim=0), v.mean(0))
    close(x.mean(dim=1, keepdim=True), v.mean(1, keepdims=True))
    close(x.max(), 5.0); close(x.min(), 0.0)
    close(sg.max(x), 5.0); close(sg.min(x), 0.0)
    vals, idx = x.max(dim=1)
    close(vals, [2, 5]); assert idx.tolist() == [2, 2]
    r = sg.min(x, dim=0, keepdim=True)
    close(r.values, [[0, 1, 2]]); assert r.indices.tolist() == [[0, 0, 0]]
    close(sg.logsumexp(x, dim=1, keepdim=True),
          np.log(np.exp(v).sum(1, keepdims=True)))
    close(sg.softmax(x, dim=-1).sum(dim=-1), [1, 1])


def test_movement_ops():
    x = sg.arange(6.0)
    assert x.reshape(2, 3).shape == (2, 3) and x.reshape((3, -1)).shape == (3, 2)
    assert sg.reshape(x, (2, 3)).shape == (2, 3)
    assert x.view(3, 2).shape == (3, 2) and x.view(-1, 2).shape == (3, 2)
    m = x.reshape(2, 3)
    close(m.T, np.arange(6.0).reshape(2, 3).T)
    close(m.transpose(0, 1), np.arange(6.0).reshape(2, 3).T)
    close(sg.transpose(m, 0, 1), np.arange(6.0).reshape(2, 3).T)
    t3 = sg.zeros(2, 3, 4)
    assert t3.permute(2, 0, 1).shape == (4, 2, 3) and sg.permute(t3, (1, 2, 0)).shape == (3, 4, 2)
    assert x.unsqueeze(0).shape == (1, 6) and sg.unsqueeze(x, -1).shape == (6, 1)
    assert sg.zeros(1, 3, 1).squeeze().shape == (3,)
    assert sg.squeeze(sg.zeros(1, 3, 1), 0).shape == (3, 1)
    assert sg.zeros(1, 3, 1).squeeze(-1).shape == (1, 3)
    assert sg.tensor([[1.0], [2.0]]).expand(2, 3).shape == (2, 3)
    assert sg.tensor([[1.0], [2.0]]).expand(-1, 4).shape == (2, 4)
    close(sg.view(x, (2, 3)), np.arange(6.0).reshape(2, 3))
    close(sg.expand(sg.tensor([1.0, 2.0]), (2, 2)), [[1, 2], [1, 2]])


def test_indexing_and_its_gradient():
    v = np.arange(12.0).reshape(3, 4)
    x = sg.tensor(v, requires_grad=True)
    close(x[0], v[0]); close(x[:, 1], v[:, 1]); close(x[1:, ::2], v[1:, ::2])
    close(x[..., -1], v[..., -1]); close(x[None, 0].reshape(-1), v[0])
    close(x[[0, 2, 0]], v[[0, 2, 0]])
    close(x[sg.tensor([2, 1])], v[[2, 1]])
    mask = x > 5
    close(x[mask], v[v > 5])
    x[[0, 0, 2], 1].sum().backward()
    want = np.zeros((3, 4)); want[0, 1] = 2; want[2, 1] = 1
    close(x.grad, want)


def test_comparisons_are_boolean_without_gradient():
    x = sg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for c in [x > 2, x >= 2, x < 2, x <= 2, x == 2, x != 2, 2 < x]:
        assert c.dtype == sg.bool and not c.requires_grad and c.grad_fn is None
    assert (x > 1.5).tolist() == [False, True, True]
    assert (x == sg.tensor([1.0, 0.0, 3.0])).tolist() == [True, False, True]


# ----------------------------------------------------------------------------- 3. autograd
def test_requires_grad_propagation_and_leaves():
    x = sg.tensor([1.0], requires_grad=True)
    c = sg.tensor([2.0])
    y = x * c
    assert y.requires_grad and not y.is_leaf and x.is_leaf and c.is_leaf
    assert x.grad_fn is None and y.grad_fn is not None
    assert not (c * 2).requires_grad and (c * 2).is_leaf
    with sg.no_grad():
        z = x * 2
        with sg.enable_grad():
            w = x * 2
    assert not z.requires_grad and z.grad_fn is None and z.is_leaf
    assert w.requires_grad
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    close(d, [2.0])
    t = sg.tensor([1.0]).requires_grad_()
    assert t.requires_grad and t.requires_grad_(False) is t and not t.requires_grad


def test_no_grad_as_decorator():
    x = sg.tensor([1.0], requires_grad=True)

    @sg.no_grad()
    def f(a):
        return a * 2
    assert not f(x).requires_grad


def test_grad_fn_names_and_next_functions():
    x = sg.rand(3, 4, requires_grad=True, seed=0)
    y = sg.rand(3, 4, seed=1)
    z = x + y
    w = z * 2
    assert type(z.grad_fn).__name__.startswith("AddBackward")
    assert type(w.grad_fn).__name__.startswith("MulBackward")
    assert type((x ** 2).grad_fn).__name__.startswith("PowBackward")
    assert w.requires_grad and x.grad_fn is None and x.is_leaf and not w.is_leaf
    (fn, _), (none, _) = w.grad_fn.next_functions
    assert fn is z.grad_fn or type(fn) is type(z.grad_fn)
    assert none is None
    (acc, _), (n2, _) = z.grad_fn.next_functions
    assert type(acc).__name__ == "AccumulateGrad" and acc.variable is x and n2 is None
    x2, y2 = sg.rand(3, 4, seed=0), sg.rand(3, 4, seed=1)
    assert (x2 + y2).grad_fn is None and not ((x2 + y2) * 2).requires_grad


def test_backward_signature():
    params = inspect.signature(sg.Tensor.backward).parameters
    assert params["gradient"].default is None
    assert params["retain_graph"].default in (None, False)
    assert params["create_graph"].default is False


def test_grad_accumulates_and_is_a_tensor():
    x = sg.tensor([5.0], requires_grad=True)
    (x ** 2).backward()
    assert isinstance(x.grad, sg.Tensor) and repr(x.grad) == "tensor([10.])"
    (x ** 2).backward()
    close(x.grad, [20.0])
    (x * 3).sum().backward()
    close(x.grad, [23.0])
    assert not x.grad.requires_grad


def test_backward_with_gradient_and_retain_graph():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.backward(gradient=sg.tensor([1.0, 0.5]), retain_graph=True)
    close(x.grad, [2.0, 2.0])
    y.backward(sg.tensor([1.0, 1.0]))
    close(x.grad, [4.0, 6.0])


def test_item_numpy_tolist_shape():
    x = sg.tensor([[1.5, 2.0]])
    assert x.tolist() == [[1.5, 2.0]] and x.shape == (1, 2) and tuple(x.shape) == (1, 2)
    assert isinstance(x.numpy(), np.ndarray) and x.numpy().dtype == np.float64
    assert sg.tensor([3.5]).item() == 3.5 and isinstance(sg.tensor(2.0).item(), float)
    w = sg.tensor([1.0], requires_grad=True)
    assert w.detach().numpy().tolist() == [1.0] and w.item() == 1.0


def test_autograd_grad_signature_and_values():
    params = inspect.signature(sg.autograd.grad).parameters
    assert list(params)[:2] == ["outputs", "inputs"]
    for name, default in [("grad_outputs", None), ("retain_graph", None),
                          ("create_graph", False), ("allow_unused", False)]:
        assert params[name].default is default, name
    x = sg.tensor(2.0, requires_grad=True)
    y = sg.tensor(3.0, requires_grad=True)
    gx, gy = sg.autograd.grad(x * y ** 2, [x, y])
    assert gx.item() == 9.0 and gy.item() == 12.0
    assert x.grad is None and y.grad is None
    (g,) = sg.autograd.grad(x * x, x)
    assert g.item() == 4.0
    u = sg.tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError):
        sg.autograd.grad(x * 2, [x, u])
    gx, gu = sg.autograd.grad(x * 2, [x, u], allow_unused=True)
    assert gx.item() == 2.0 and gu is None
    v = sg.tensor([1.0, 2.0], requires_grad=True)
    (gv,) = sg.autograd.grad(v * v, [v], grad_outputs=[sg.tensor([1.0, 1.0])])
    close(gv, [2.0, 4.0])


def test_second_derivative_of_x_cubed_at_2_is_12():
    x = sg.tensor(2.0, requires_grad=True)
    (dx,) = sg.autograd.grad(x ** 3, [x], create_graph=True)
    assert dx.item() == 12.0 and dx.requires_grad
    (d2,) = sg.autograd.grad(dx, [x])
    assert d2.item() == 12.0
    x = sg.tensor([2.0], requires_grad=True)
    y = x ** 3
    y.backward(create_graph=True)
    g = x.grad
    assert g.requires_grad
    x.grad = None
    g.backward()
    close(x.grad, [12.0])


def test_hessian_vector_product_of_two_variables():
    # f(x, y) = x**2 * y + y**3;  H = [[2y, 2x], [2x, 6y]]
    x = sg.tensor(1.5, requires_grad=True)
    y = sg.tensor(-0.5, requires_grad=True)
    f = x ** 2 * y + y ** 3
    gx, gy = sg.autograd.grad(f, [x, y], create_graph=True)
    v = (0.3, -2.0)
    hx, hy = sg.autograd.grad(gx * v[0] + gy * v[1], [x, y])
    H = np.array([[2 * -0.5, 2 * 1.5], [2 * 1.5, 6 * -0.5]])
    close(sg.stack([hx, hy]), H @ np.array(v))


# ----------------------------------------------------------------------------- 4. repr
def test_repr_like_pytorch():
    x = sg.tensor([5.0], requires_grad=True)
    f = x ** 2
    assert repr(f) == "tensor([25.], grad_fn=<PowBackward>)"
    f.backward()
    assert repr(x.grad) == "tensor([10.])"
    assert repr(sg.tensor([1.0, 2.0], dtype=sg.float32, requires_grad=True)) == \
        "tensor([1., 2.], dtype=sg.float32, requires_grad=True)"
    assert repr(sg.tensor([10.0])) == "tensor([10.])"
    assert repr(sg.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    assert repr(sg.tensor([0.5, 2.25])) == "tensor([0.5000, 2.2500])"
    assert repr(sg.tensor(3)) == "tensor(3)"


# ----------------------------------------------------------------------------- 5. optimizers
def test_optimizer_signatures():
    p = inspect.signature(sg.optim.SGD).parameters
    assert list(p)[:2] == ["params", "lr"]
    for name, default in [("momentum", 0), ("dampening", 0), ("weight_decay", 0),
                          ("nesterov", False)]:
        assert p[name].default == default, name
    p = inspect.signature(sg.optim.Adam).parameters
    for name, default in [("lr", 1e-3), ("betas", (0.9, 0.999)), ("eps", 1e-8),
                          ("weight_decay", 0), ("amsgrad", False)]:
        assert p[name].default == default, name
    p = inspect.signature(sg.optim.SGD.zero_grad).parameters
    assert p["set_to_none"].default is True


def test_sgd_by_hand_and_zero_grad():
    w = sg.tensor([1.0, -1.0], requires_grad=True)
    opt = sg.optim.SGD([w], lr=0.1, momentum=0.9)
    for _ in range(2):
        opt.zero_grad()
        (w ** 2).sum().backward()
        opt.step()
    # buf1 = 2w0 = [2,-2]; w1 = w0 - 0.2*[1,-1] = [0.8,-0.8]; g2 = [1.6,-1.6]
    # buf2 = 0.9*buf1 + g2 = [3.4,-3.4]; w2 = w1 - 0.34*[1,-1]
    close(w, [0.46, -0.46])
    opt.zero_grad()
    assert w.grad is None
    (w * 1).sum().backward()
    opt.zero_grad(set_to_none=False)
    close(w.grad, [0.0, 0.0])


def test_param_groups_as_list_of_dicts():
    a = sg.tensor([1.0], requires_grad=True)
    b = sg.tensor([1.0], requires_grad=True)
    opt = sg.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    (a + b).sum().backward()
    opt.step()
    close(a, [0.9]); close(b, [0.5])
    adam = sg.optim.Adam([{"params": [a], "lr": 0.01}, {"params": [b]}])
    assert [g["lr"] for g in adam.param_groups] == [0.01, 1e-3]


def test_adam_first_step_is_lr_times_sign():
    w = sg.tensor([1.0, -2.0], requires_grad=True)
    opt = sg.optim.Adam([w], lr=0.1)
    (w ** 2).sum().backward()
    opt.step()
    close(w, [0.9, -1.9], tol=1e-7)


@needs_torch
@pytest.mark.parametrize("kind,kwargs", [
    ("SGD", dict(lr=0.05)), ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.05)), ("Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.05, weight_decay=0.1, amsgrad=True)),
])
def test_optimizer_trajectories_match_pytorch(kind, kwargs):
    rng = np.random.default_rng(7)
    p0, t = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    ws = sg.tensor(p0, requires_grad=True)
    wt = torch.tensor(p0, requires_grad=True)
    os_ = getattr(sg.optim, kind)([ws], **kwargs)
    ot = getattr(torch.optim, kind)([wt], **kwargs)
    for _ in range(20):
        os_.zero_grad(); ot.zero_grad()
        (sg.sin(ws) * sg.tensor(t) + ws ** 2).sum().backward()
        (torch.sin(wt) * torch.tensor(t) + wt ** 2).sum().backward()
        os_.step(); ot.step()
    close(ws, wt.detach().numpy(), tol=1e-12)


# ----------------------------------------------------------------------------- 6. errors
def test_backward_on_non_scalar_without_gradient():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar "
                                           "outputs"):
        y.backward()
    assert x.grad is None
    close(y, [2.0, 4.0])
    y.sum().backward()          # the graph is intact
    close(x.grad, [2.0, 2.0])


def test_second_backward_suggests_retain_graph():
    x = sg.tensor([3.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()
    close(x.grad, [6.0])


def test_backward_on_tensor_that_does_not_require_grad():
    x = sg.tensor([1.0])
    with pytest.raises(RuntimeError, match="(?i)requires?_grad|does not require grad"):
        (x * 2).sum().backward()
    assert x.grad is None


@pytest.mark.parametrize("data", [[1, 2], [True, False]])
def test_requires_grad_on_integer_or_bool_data(data):
    with pytest.raises(RuntimeError, match="(?i)float"):
        sg.tensor(data, requires_grad=True)
    t = sg.tensor(data)
    with pytest.raises(RuntimeError):
        t.requires_grad_()
    assert not t.requires_grad


def test_shapes_that_do_not_broadcast_name_both_shapes():
    a, b = sg.ones(2, 3, requires_grad=True), sg.ones(4)
    with pytest.raises(ValueError) as e:
        a + b
    assert "(2, 3)" in str(e.value) and "(4,)" in str(e.value)
    with pytest.raises(ValueError) as e:
        sg.maximum(sg.ones(3), sg.ones(2))
    assert "(3,)" in str(e.value) and "(2,)" in str(e.value)


def test_matmul_inner_dimensions_differ():
    a, b = sg.ones(2, 3), sg.ones(4, 5)
    with pytest.raises(ValueError) as e:
        a @ b
    msg = str(e.value)
    assert "(2, 3)" in msg and "(4, 5)" in msg
    with pytest.raises(ValueError):
        sg.matmul(sg.ones(3), sg.ones(4))


def test_optimizer_rejects_non_leaf_and_empty_list():
    w = sg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="(?i)leaf"):
        sg.optim.SGD([w * 2], lr=0.1)
    with pytest.raises(ValueError, match="(?i)empty"):
        sg.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="(?i)empty"):
        sg.optim.Adam([])
    with pytest.raises(ValueError):
        sg.optim.SGD([w], lr=-1.0)


def test_failed_backward_leaves_grads_unchanged():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    before = x.grad.numpy().copy()
    with pytest.raises(RuntimeError):
        (x * x).backward()
    with pytest.raises(ValueError):
        (x * x).backward(gradient=sg.ones(3))
    np.testing.assert_array_equal(x.grad.numpy(), before)
    close(x, [1.0, 2.0])


# ----------------------------------------------------------------------------- 7. memory
def _seed_step(w, b, x, y, opt):
    loss = sg.sum((w * x + b - y) ** 2)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def test_memory_stays_flat_in_the_training_loop():
    w = sg.tensor([1.0], requires_grad=True)
    b = sg.tensor([0.0], requires_grad=True)
    x = sg.tensor([[1.0], [2.0], [3.0]])
    y = sg.tensor([[3.0], [5.0], [7.0]])
    opt = sg.optim.SGD([w, b], lr=0.01)
    refs = []
    for i in range(500):
        refs.append(weakref.ref(_seed_step(w, b, x, y, opt)))
    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    for i in range(500):
        loss = _seed_step(w, b, x, y, opt)
        if i % 50 == 0:
            refs.append(weakref.ref(loss))
    del loss
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - start
    tracemalloc.stop()
    assert grown < 1_000_000, grown
    assert sum(r() is not None for r in refs) == 0


# ----------------------------------------------------------------------------- done when
def test_seed_example_1_and_2():
    x = sg.tensor([5.0], requires_grad=True)
    f = x ** 2
    f.backward()
    assert repr(x.grad) == "tensor([10.])"
    x = sg.tensor([1.0], requires_grad=True)
    f = x + 2
    f.backward()
    assert repr(x.grad) == "tensor([1.])"


def test_seed_graph_example():
    x, y = sg.rand(3, 4), sg.rand(3, 4)
    z = x + y
    w = z * 2
    assert z.grad_fn is None and w.grad_fn is None and w.requires_grad is False
    x, y = sg.rand(3, 4, requires_grad=True), sg.rand(3, 4)
    z = x + y
    w = z * 2
    assert type(z.grad_fn).__name__.startswith("AddBackward")
    assert type(w.grad_fn).__name__.startswith("MulBackward")
    assert w.requires_grad is True and x.grad_fn is None
    assert x.is_leaf is True and w.is_leaf is False


def _linear_model(dtype):
    w = sg.tensor([1.0], requires_grad=True, dtype=dtype)
    b = sg.tensor([0.0], requires_grad=True, dtype=dtype)
    x_train = sg.tensor([[1.0], [2.0], [3.0]], dtype=dtype)
    y_train = sg.tensor([[3.0], [5.0], [7.0]], dtype=dtype)
    optimizer = sg.optim.SGD([w, b], lr=0.01)
    losses = []
    for i in range(100):
        y_pred = w * x_train + b
        loss = sg.sum((y_pred - y_train) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return w, b, losses


def test_seed_linear_model_float32_matches_pytorch():
    w, b, losses = _linear_model(sg.float32)
    assert w.dtype == sg.float32 and w.grad.dtype == sg.float32
    assert abs(w.item() - 2.100104570388794) < 1e-6
    assert abs(b.item() - 0.7724389433860779) < 1e-6
    for epoch, want in [(1, 29.0000), (2, 12.9612), (10, 0.1031), (50, 0.0466), (99, 0.0229),
                        (100, 0.0226)]:
        assert f"{losses[epoch - 1]:.4f}" == f"{want:.4f}"


def test_seed_linear_model_float64():
    w, b, _ = _linear_model(sg.float64)
    assert abs(w.item() - 2.1001044717024104) < 1e-12
    assert abs(b.item() - 0.7724390062968837) < 1e-12


def test_torch_parity_module_exists():
    text = (ROOT / "tests" / "symgrad" / "test_torch_parity.py").read_text()
    assert "importorskip" in text or "skipif" in text


@needs_torch
@pytest.mark.parametrize("name", UNARY + ["softplus", "neg"])
def test_unary_value_and_gradient_match_pytorch(name):
    v = np.random.default_rng(3).uniform(0.2, 1.3, (3, 2))
    xs, xt = sg.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
    tfn = {"softplus": torch.nn.functional.softplus}.get(name, getattr(torch, name, None))
    ys, yt = getattr(sg, name)(xs), tfn(xt)
    close(ys, yt.detach().numpy())
    ys.sum().backward(); yt.sum().backward()
    close(xs.grad, xt.grad.numpy())


def test_bench_seed_and_performance_doc():
    assert (ROOT / "bench" / "seed.py").is_file()
    text = (ROOT / "docs" / "performance.md").read_text()
    assert "Seed loop" in text and "pytorch" in text.lower() and "numpy" in text.lower()


# ----------------------------------------------------------------------------- PyTorch extras
def test_in_place_change_of_a_saved_value_is_detected():
    w = sg.tensor([1.0], requires_grad=True)
    x = sg.tensor([2.0])
    loss = (w * x).sum()
    x += 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    assert w.grad is None
    opt = sg.optim.SGD([w], lr=0.1)
    loss = (w * x).sum()
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    close(w.grad, [3.0])
    loss = (w * x).sum()            # recomputed after the change: fine
    loss.backward()
    close(w.grad, [6.0])


def test_register_hook_and_retain_grad_like_pytorch():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.retain_grad()
    assert y.retains_grad and not x.retains_grad
    seen = []
    h = x.register_hook(lambda g: seen.append(g.tolist()) or g + 1)
    (y * 3).sum().backward()
    close(y.grad, [3.0, 3.0])
    close(x.grad, [7.0, 13.0])          # (2 * x * 3) + 1, as PyTorch
    assert seen == [[6.0, 12.0]]
    h.remove()
    (x * 1).sum().backward()
    close(x.grad, [8.0, 14.0])
    z = x * 2
    z.register_hook(lambda g: g * 0)
    z.sum().backward()
    close(x.grad, [8.0, 14.0])
    with pytest.raises(RuntimeError):
        sg.tensor([1.0]).register_hook(lambda g: g)
