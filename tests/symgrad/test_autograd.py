"""Autograd semantics: backward, accumulation, retain_graph, grad(), no_grad, higher order."""
import numpy as np
import pytest

import symgrad as sg

RNG = np.random.default_rng(1)


def test_grad_accumulates_across_backward_calls():
    x = sg.tensor([2.0], requires_grad=True)
    (x * 3).backward()
    (x * x).backward()
    assert x.grad.tolist() == [7.0]
    assert not x.grad.requires_grad and x.grad.is_leaf


def test_fan_out_and_broadcast_gradients():
    x = sg.tensor([[1.0, 2.0, 3.0]], requires_grad=True)      # (1, 3) broadcast to (2, 3)
    b = sg.tensor([[1.0], [2.0]], requires_grad=True)
    y = (x * b + x).sum()
    y.backward()
    assert x.grad.tolist() == [[5.0, 5.0, 5.0]]        # sum over rows of b + 1
    assert b.grad.tolist() == [[6.0], [6.0]]


def test_backward_with_gradient_argument():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).backward(gradient=sg.tensor([1.0, 10.0]))
    assert x.grad.tolist() == [2.0, 40.0]


def test_retain_graph_allows_second_backward():
    x = sg.tensor([3.0], requires_grad=True)
    y = x ** 2
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [12.0]


def test_graph_freed_after_backward():
    x = sg.tensor([3.0], requires_grad=True)
    h = x * 2
    y = (h ** 2).sum()
    y.backward()
    assert h.inputs == () and y.inputs == ()
    assert y.grad_fn is not None and y.item() == 36.0    # values and grad_fn survive


def test_grad_function_returns_without_accumulating():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    y = sg.tensor(3.0, requires_grad=True)
    gx, gy = sg.autograd.grad((x * y).sum(), [x, y])
    assert gx.tolist() == [3.0, 3.0] and gy.item() == 3.0
    assert x.grad is None and y.grad is None


def test_grad_allow_unused():
    x, z = sg.tensor(1.0, requires_grad=True), sg.tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        sg.autograd.grad(x * 2, [x, z], retain_graph=True)
    gx, gz = sg.autograd.grad(x * 2, [x, z], allow_unused=True)
    assert gx.item() == 2.0 and gz is None


def test_grad_wrt_intermediate():
    x = sg.tensor(2.0, requires_grad=True)
    h = x * 3
    (gh,) = sg.autograd.grad(h ** 2, [h])
    assert gh.item() == 12.0


def test_no_grad_and_enable_grad_nesting_and_decorator():
    x = sg.tensor(1.0, requires_grad=True)
    with sg.no_grad():
        assert not sg.is_grad_enabled() and not (x * 2).requires_grad
        with sg.enable_grad():
            assert (x * 2).requires_grad
        assert not sg.is_grad_enabled()
    assert sg.is_grad_enabled()

    @sg.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad and sg.is_grad_enabled()


def test_requires_grad_propagation_and_detach():
    x = sg.tensor([1.0], requires_grad=True)
    c = sg.tensor([2.0])
    assert (x + c).requires_grad and not (c * 2).requires_grad
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    e = d.requires_grad_()
    assert e is d and d.requires_grad and d.is_leaf


@pytest.mark.parametrize("op, name", [
    (lambda a, b: a + b, "AddBackward"), (lambda a, b: a - b, "SubBackward"),
    (lambda a, b: a * b, "MulBackward"), (lambda a, b: a / b, "DivBackward"),
    (lambda a, b: a ** b, "PowBackward"), (lambda a, b: a.exp(), "ExpBackward"),
    (lambda a, b: a.sum(), "SumBackward"), (lambda a, b: a @ b, "MatmulBackward"),
    (lambda a, b: sg.log_softmax(a, 0), "LogSoftmaxBackward"),
    (lambda a, b: a[0], "GetitemBackward"), (lambda a, b: a.float(), "CastBackward"),
])
def test_grad_fn_names(op, name):
    a = sg.tensor([1.0, 2.0], requires_grad=True)
    b = sg.tensor([3.0, 4.0], requires_grad=True)
    fn = op(a, b).grad_fn
    assert type(fn).__name__ == name and fn.name() == name
    assert repr(fn).startswith(f"<{name} object")
    assert op(a, b).grad_fn is not fn and (lambda t: t.grad_fn is t.grad_fn)(op(a, b))


def test_second_derivative_of_cube():
    x = sg.tensor(2.0, requires_grad=True)
    (d1,) = sg.autograd.grad(x ** 3, [x], create_graph=True)
    assert d1.item() == 12.0 and d1.requires_grad
    (d2,) = sg.autograd.grad(d1, [x])
    assert d2.item() == 12.0


def test_backward_create_graph_then_backward_again():
    x = sg.tensor(2.0, requires_grad=True)
    (x ** 3).backward(create_graph=True)
    g = x.grad
    assert g.item() == 12.0 and g.grad_fn is not None
    x.grad = None
    g.backward()
    assert x.grad.item() == 12.0


def test_hessian_vector_product():
    # f(a, b) = a**2 * b + sin(b) * a ; H = [[2b, 2a + cos b], [2a + cos b, -a sin b]]
    p = sg.tensor([0.7, -1.3], requires_grad=True)
    f = p[0] ** 2 * p[1] + sg.sin(p[1]) * p[0]
    (g,) = sg.autograd.grad(f, [p], create_graph=True)
    v = np.array([0.3, -0.7])
    (hv,) = sg.autograd.grad((g * sg.tensor(v)).sum(), [p])
    a, b = 0.7, -1.3
    H = np.array([[2 * b, 2 * a + np.cos(b)], [2 * a + np.cos(b), -a * np.sin(b)]])
    np.testing.assert_allclose(hv.value, H @ v, rtol=1e-12)


SECOND = {
    "exp": (sg.exp, (0.1, 1.0)), "log": (sg.log, (0.5, 2.0)), "sin": (sg.sin, (-1.0, 1.0)),
    "cos": (sg.cos, (-1.0, 1.0)), "tanh": (sg.tanh, (-1.0, 1.0)),
    "sigmoid": (sg.sigmoid, (-2.0, 2.0)), "sqrt": (sg.sqrt, (0.5, 2.0)),
    "softplus": (sg.softplus, (-2.0, 2.0)), "log1p": (sg.log1p, (0.0, 1.0)),
    "expm1": (sg.expm1, (-1.0, 1.0)), "tan": (sg.tan, (-1.0, 1.0)),
    "pow3": (lambda t: t ** 3, (0.5, 2.0)), "div": (lambda t: 1 / t, (0.5, 2.0)),
    "logsumexp": (lambda t: sg.logsumexp(t, dim=0), (-1.0, 1.0)),
    "softmax": (lambda t: sg.softmax(t, dim=0)[0], (-1.0, 1.0)),
    "log_softmax": (lambda t: sg.log_softmax(t, dim=0)[1], (-1.0, 1.0)),
    "matmul": (lambda t: t @ t, (-1.0, 1.0)), "mean": (lambda t: (t * t).mean(), (-1., 1.)),
    "pow_xy": (lambda t: t[0] ** t[1], (0.5, 2.0)),
}


@pytest.mark.parametrize("name", sorted(SECOND))
def test_second_derivatives_vs_finite_differences(name):
    fn, (lo, hi) = SECOND[name]
    x0 = RNG.uniform(lo, hi, size=3)

    def grad_at(v, create):
        x = sg.tensor(v, requires_grad=True)
        y = fn(x).sum()
        (g,) = sg.autograd.grad(y, [x], create_graph=create)
        return x, g

    x, g = grad_at(x0, True)
    u = np.array([0.2, -0.5, 0.4])
    (hu,) = sg.autograd.grad((g * sg.tensor(u)).sum(), [x])
    eps = 1e-6
    fd = (grad_at(x0 + eps * u, False)[1].value - grad_at(x0 - eps * u, False)[1].value) / (2 * eps)
    np.testing.assert_allclose(hu.value, fd, rtol=1e-6, atol=1e-7)


def test_deep_chain_backward_without_recursion():
    x = sg.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(20000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_in_place_change_after_recording_raises_and_changes_no_grad():
    w = sg.tensor([1.0, 2.0], requires_grad=True)
    x = sg.tensor([3.0, 4.0])
    loss = (w * x).sum()
    with sg.no_grad():
        w -= 0.5                      # the leaf MulBackward saved
    with pytest.raises(RuntimeError, match="input 0 of MulBackward") as e:
        loss.backward()
    assert "version 1" in str(e.value) and w._version == 1
    assert w.grad is None
    y = sg.exp(w)
    with sg.no_grad():
        y += 1                        # an op's own output, read by its VJP
    with pytest.raises(RuntimeError, match="its output of ExpBackward"):
        y.sum().backward()
    z = sg.tensor([1.0, 1.0], requires_grad=True)
    out = (z * x).sum()
    x.zero_()
    with pytest.raises(RuntimeError, match="input 1 of MulBackward"):
        out.backward()
    assert z.grad is None


def test_hooks_on_leaves_and_intermediates_and_handles():
    x = sg.tensor([1.0, -1.0], requires_grad=True)
    y = sg.relu(x) * 2
    y.register_hook(lambda g: g * 3)
    y.retain_grad()
    h = x.register_hook(lambda g: None)           # None keeps the gradient
    y.sum().backward()
    assert y.grad.tolist() == [3.0, 3.0]          # retained after the hooks, as PyTorch
    assert x.grad.tolist() == [6.0, 0.0]
    h.remove(); h.remove()
    with pytest.raises(ValueError, match="shape"):
        x.register_hook(lambda g: sg.ones(3))
        (x * 1).sum().backward()
    assert x.grad.tolist() == [6.0, 0.0]


def test_hooks_with_create_graph_and_grad():
    x = sg.tensor(2.0, requires_grad=True)
    y = x ** 3
    y.register_hook(lambda g: g * 2)
    y.retain_grad()
    (dx,) = sg.autograd.grad(y, [x], create_graph=True)
    assert dx.item() == 24.0 and y.grad is None     # grad() does not fill retained .grad
    (d2,) = sg.autograd.grad(dx, [x])
    assert d2.item() == 24.0


def test_random_generator_keyword():
    a = sg.randn(3, generator=np.random.default_rng(5))
    b = sg.randn(3, seed=np.random.default_rng(5))
    assert a.tolist() == b.tolist()
    with pytest.raises(TypeError, match="either"):
        sg.rand(2, seed=1, generator=np.random.default_rng(1))
