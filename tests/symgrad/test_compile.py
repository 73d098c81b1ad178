"""sg.compile: same numbers as eager mode, retracing rules, errors."""
from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg


def seed_run(compiled: bool, steps: int = 100):
    w = sg.tensor([1.0], requires_grad=True)
    b = sg.tensor([0.0], requires_grad=True)
    x, y = sg.tensor([[1.0], [2.0], [3.0]]), sg.tensor([[3.0], [5.0], [7.0]])
    opt = sg.optim.SGD([w, b], lr=0.01)

    def loss_fn(x, y):
        return ((w * x + b - y) ** 2).sum()
    f = sg.compile(loss_fn) if compiled else loss_fn
    losses = []
    for _ in range(steps):
        loss = f(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return w.item(), b.item(), losses, f


def test_seed_loop_compiled_equals_eager():
    we, be, le, _ = seed_run(False)
    wc, bc, lc, f = seed_run(True)
    assert abs(wc - we) <= 1e-12 and abs(bc - be) <= 1e-12
    np.testing.assert_allclose(lc, le, rtol=1e-12)
    assert lc[0] == 29.0 and round(lc[-1], 4) == 0.0226
    assert wc == pytest.approx(2.100104570388794, abs=1e-6)
    assert f.traces == 1                     # one signature, one trace for 100 calls


def mlp_run(compiled: bool, steps: int = 50, dtype=np.float64):
    rng = np.random.default_rng(0)
    model = sg.nn.Sequential(sg.nn.Linear(6, 8, seed=1, dtype=dtype), sg.nn.ReLU(),
                             sg.nn.Linear(8, 5, seed=2, dtype=dtype), sg.nn.Tanh(),
                             sg.nn.Linear(5, 3, seed=3, dtype=dtype))
    loss_fn = sg.nn.CrossEntropyLoss()
    opt = sg.optim.SGD(list(model.parameters()), lr=0.1, momentum=0.9)

    def step(x, t):
        return loss_fn(model(x), t)
    f = sg.compile(step) if compiled else step
    for _ in range(steps):
        x = sg.tensor(rng.standard_normal((16, 6)).astype(dtype))
        t = sg.tensor(rng.integers(0, 3, 16))
        opt.zero_grad()
        f(x, t).backward()
        opt.step()
    return model.state_dict(), f


def test_mlp_compiled_equals_eager_after_50_steps():
    eager, _ = mlp_run(False)
    comp, f = mlp_run(True)
    assert list(eager) == list(comp)
    for k in eager:
        np.testing.assert_allclose(comp[k], eager[k], rtol=1e-12, atol=1e-12)
    assert f.traces == 1                     # new targets each step are inputs, not constants


def test_mlp_float32_compiled_close_to_eager():
    eager, _ = mlp_run(False, steps=10, dtype=np.float32)
    comp, _ = mlp_run(True, steps=10, dtype=np.float32)
    for k in eager:
        assert comp[k].dtype == np.float32
        np.testing.assert_allclose(comp[k], eager[k], rtol=1e-5, atol=1e-6)


def test_retrace_on_new_shape_dtype_and_requires_grad():
    calls = []

    def fn(x):
        calls.append(1)
        return (x * x).sum()
    f = sg.compile(fn)
    f(sg.tensor([1.0, 2.0]))
    f(sg.tensor([3.0, 4.0]))
    assert len(calls) == 1 and f.traces == 1
    f(sg.tensor([1.0, 2.0, 3.0]))                          # shape
    assert len(calls) == 2
    f(sg.tensor([1.0, 2.0], dtype=sg.float32))             # dtype
    assert len(calls) == 3
    x = sg.tensor([1.0, 2.0], requires_grad=True)          # requires_grad
    y = f(x)
    assert len(calls) == 4
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    f(sg.tensor([5.0, 6.0]))                               # back to a cached signature
    assert len(calls) == 4
    f.clear()
    f(sg.tensor([5.0, 6.0]))
    assert len(calls) == 5


def test_python_constant_arguments_are_part_of_the_signature():
    f = sg.compile(lambda x, k: (x * k).sum())
    assert f(sg.tensor([1.0, 2.0]), 2).item() == 6.0
    assert f(sg.tensor([1.0, 2.0]), 3).item() == 9.0
    assert f.traces == 2


def test_captured_python_constant_is_baked_in_until_clear():
    scale = {"k": 2.0}
    f = sg.compile(lambda x: (x * scale["k"]).sum())
    assert f(sg.tensor([1.0])).item() == 2.0
    scale["k"] = 5.0
    assert f(sg.tensor([1.0])).item() == 2.0               # documented: baked at trace time
    f.clear()
    assert f(sg.tensor([1.0])).item() == 5.0


def test_captured_tensor_values_are_read_at_call_time():
    w = sg.tensor([1.0, 1.0], requires_grad=True)
    data = sg.tensor([[1.0, 2.0], [3.0, 4.0]])
    f = sg.compile(lambda: (data @ w).sum())
    assert f().item() == 10.0
    w.value[...] = [2.0, 0.0]                               # as an optimizer step would
    data.value[...] = 1.0
    assert f().item() == 4.0
    assert f.traces == 1
    w.requires_grad_(False)                                 # changes the signature
    assert not f().requires_grad and f.traces == 2


def test_gradient_flows_into_eager_graph_and_accumulates():
    a = sg.tensor([1.0, 2.0], requires_grad=True)
    f = sg.compile(lambda x: (x.exp() * x).sum())
    x = a * 3                                                # a non-leaf argument
    out = f(x) * 2 + a.sum()
    out.backward()
    xv = 3 * np.array([1.0, 2.0])
    expected = 2 * 3 * (np.exp(xv) * xv + np.exp(xv)) + 1
    np.testing.assert_allclose(a.grad.numpy(), expected, rtol=1e-14)
    f(a * 3).backward()                                      # .grad accumulates as in eager
    np.testing.assert_allclose(a.grad.numpy(), expected + 3 * (np.exp(xv) * xv + np.exp(xv)),
                               rtol=1e-14)


def test_second_backward_through_freed_graph_raises():
    w = sg.tensor([1.0], requires_grad=True)
    out = sg.compile(lambda: (w * w).sum())()
    out.backward()
    with pytest.raises(RuntimeError, match="second time"):
        out.backward()


def test_multiple_outputs():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    f = sg.compile(lambda x: ((x * x).sum(), x.sin().sum()))
    a, b = f(x)
    a.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    x.grad = None
    b.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.cos([1.0, 2.0]), rtol=1e-15)


def test_no_grad_runs_forward_only():
    w = sg.tensor([2.0], requires_grad=True)
    f = sg.compile(lambda x: (x * w).sum())
    with sg.no_grad():
        out = f(sg.tensor([3.0]))
    assert out.item() == 6.0 and not out.requires_grad


def test_program_is_printable_and_skips_data_gradients():
    w = sg.tensor(np.ones((3, 1)), requires_grad=True)
    f = sg.compile(lambda X, y: ((X @ w - y) ** 2).mean())
    X, y = sg.tensor(np.ones((4, 3))), sg.tensor(np.zeros((4, 1)))
    src = str(f.program(X, y))
    assert "def forward(x0, x1, x2):" in src and "def backward(saved, go0):" in src
    assert "/dx0" not in src and "/dx1" not in src and "/dx2" in src   # X, y get no gradient


def test_errors():
    with pytest.raises(TypeError, match="must return a Tensor"):
        sg.compile(lambda x: 3.0)(sg.tensor([1.0]))
    with pytest.raises(TypeError, match="numpy arrays"):
        sg.compile(lambda x: x)(np.ones(2))
    with pytest.raises(TypeError, match="needs a function"):
        sg.compile(3)
    x = sg.tensor([1.0], requires_grad=True)
    y = sg.compile(lambda x: x * x)(x)
    with pytest.raises(RuntimeError, match="create_graph"):
        sg.autograd.grad(y, [x], create_graph=True)


def test_tensors_made_inside_fn_are_folded_but_captured_ones_are_read():
    held = sg.tensor([2.0])
    f = sg.compile(lambda x: (x * sg.tensor(3.0).exp() * held).sum())
    x = sg.tensor([1.0, 2.0])
    p = f.program(x)
    assert len(p.inputs) == 2 and p.stats["folded"] == 1      # x and held; exp(3) folded
    assert "exp" not in str(p).split("def backward")[0]
    assert f(x).item() == pytest.approx(3 * np.exp(3.0) * 2)
    held.value[...] = 5.0
    assert f(x).item() == pytest.approx(3 * np.exp(3.0) * 5) and f.traces == 1


def test_compiled_user_ops_match_eager():
    """sg.custom_op and sg.autograd.Function run inside compiled programs (own forward/VJP)."""
    from tests.symgrad.test_function import MyTanh as Tanh

    square = sg.custom_op("square", lambda x: x * x, (lambda g, out, x: 2 * g * x,),
                          lambda x: x ** 2)

    def f(w):   # two calls of one Function: two ops with the same name in one program
        return (Tanh.apply(w) * Tanh.apply(2 * w) + square(w)).sum()

    compiled = sg.compile(f)
    for data in ([0.3, -0.2], [0.5, 0.1]):
        results = []
        for fn in (f, compiled):
            w = sg.tensor(data, requires_grad=True)
            loss = fn(w)
            loss.backward()
            results.append((loss.item(), w.grad.numpy()))
        (l_eager, g_eager), (l_comp, g_comp) = results
        assert l_comp == pytest.approx(l_eager, rel=1e-14)
        np.testing.assert_allclose(g_comp, g_eager, rtol=1e-14)
        t = np.array(data)
        expected = (1 - np.tanh(t) ** 2) * np.tanh(2 * t) \
            + 2 * np.tanh(t) * (1 - np.tanh(2 * t) ** 2) + 2 * t
        np.testing.assert_allclose(g_comp, expected, rtol=1e-12)
