"""sg.compile never reuses a trace whose assumptions no longer hold (issue 13, Deliver 5).

Each test is one of the issue's failing cases: the wrong result the old code gave is
noted, and the compiled result is now compared with eager mode; trace counts come
from ``compiled.cache_info()``.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import symgrad as sg
from symgrad.compile import CompileWarning


def both(fn, *args):
    """(compiled result, eager result) of ``fn`` on ``args``, for a compiled ``fn``."""
    return fn(*args), fn.fn(*args)


# ----------------------------------------------------------------------------- value reads
def test_item_in_if_retraces_per_branch():
    def fn(x):
        if x.sum().item() > 0:
            return x * 2
        return x * -3
    f = sg.compile(fn)
    assert f(sg.tensor([1.0, 2.0])).tolist() == [2.0, 4.0]
    # before: [-2., -4.] (the x > 0 branch's trace reused)
    assert f(sg.tensor([-1.0, -2.0])).tolist() == [3.0, 6.0]
    assert f.cache_info().traces == 2
    for v in ([1.0, 2.0], [-1.0, -2.0]):       # both reads seen: no new trace
        got, want = both(f, sg.tensor(v))
        assert got.tolist() == want.tolist()
    assert f.cache_info().traces == 2


def test_bool_of_tensor_comparison_guards_the_branch_not_the_value():
    f = sg.compile(lambda x: x * 2 if (x.sum() > 0) else x * -3)
    for v in [1.0, -1.0, 2.5, -7.0, 0.5, -0.25]:
        got, want = both(f, sg.tensor([v]))
        assert got.tolist() == want.tolist()
    assert f.cache_info().traces == 2          # one per outcome, not per value


def test_float_and_int_reads_are_guards():
    f = sg.compile(lambda x: x * float(x.max()) + int(x.min()))
    for v in ([1.0, 2.0], [1.0, 3.0], [1.0, 2.0]):
        got, want = both(f, sg.tensor(v))
        assert got.tolist() == want.tolist()
    # before: [2., 5.] for the second call (max 2.0 baked in)
    assert f(sg.tensor([1.0, 3.0])).tolist() == [4.0, 10.0]
    assert f.cache_info().traces == 2


def test_small_tolist_is_a_guard_large_numpy_runs_eagerly_with_one_warning():
    f = sg.compile(lambda x: x * sum(x.tolist()))
    assert f(sg.tensor([1.0, 2.0])).tolist() == [3.0, 6.0]
    assert f(sg.tensor([2.0, 2.0])).tolist() == [8.0, 8.0]      # before: [6., 6.]
    g = sg.compile(lambda x: x * float(np.median(x.numpy())))
    big = np.arange(100.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for shift in range(3):
            got, want = both(g, sg.tensor(big + shift))
            np.testing.assert_array_equal(got.numpy(), want.numpy())
    msgs = [str(w.message) for w in caught if issubclass(w.category, CompileWarning)]
    assert len(msgs) == 1 and "runs eagerly" in msgs[0] and "100 values" in msgs[0]
    assert "numpy()" in msgs[0] and "test_compile_guards.py" in msgs[0]
    assert g.cache_info().eager_calls == 3 and g.cache_info().traces == 1   # traced, refused


def test_comparison_masks_are_recomputed():
    f = sg.compile(lambda x: sg.where(x > 0, x, x * 0).sum())
    f(sg.tensor([1.0, -1.0]))
    got, want = both(f, sg.tensor([-1.0, 1.0]))
    assert got.item() == want.item() == 1.0      # before: -1.0 (the first mask kept)
    assert f.cache_info().traces == 1


def test_detach_is_recomputed():
    f = sg.compile(lambda x: (x * x.detach()).sum())
    f(sg.tensor([1.0, 2.0], requires_grad=True))
    x = sg.tensor([3.0, 4.0], requires_grad=True)
    out = f(x)
    assert out.item() == 25.0                    # before: 11.0 (detach() of the first x)
    out.backward()
    assert x.grad.tolist() == [3.0, 4.0]         # no gradient through the detached factor
    assert f.cache_info().traces == 1


def test_read_guards_keep_gradients_right():
    w = sg.tensor([1.0, -2.0], requires_grad=True)

    def fn(x):
        s = (x * w).sum()
        return s * s if s.item() > 0 else -s
    f = sg.compile(fn)
    for v in ([3.0, 1.0], [1.0, 3.0], [4.0, 1.0]):
        grads = []
        for g in (f, fn):
            w.grad = None
            g(sg.tensor(v)).backward()
            grads.append(w.grad.tolist())
        assert grads[0] == grads[1]


def test_random_draws_run_eagerly_with_one_warning():
    d = sg.nn.Dropout(0.5)
    f = sg.compile(lambda x: d(x) * 1.0)
    x = sg.tensor(np.ones(64))
    sg.manual_seed(3)
    with pytest.warns(CompileWarning, match="draws random numbers"):
        got = [f(x).tolist() for _ in range(3)]
    sg.manual_seed(3)
    want = [(d(x) * 1.0).tolist() for _ in range(3)]
    assert got == want and got[0] != got[1]      # before: the first mask at every call
    g = sg.compile(lambda x: x * sg.rand(3, seed=0))  # a fixed seed is the same draw
    assert g(sg.ones(3)).tolist() == g(sg.ones(3)).tolist() == sg.rand(3, seed=0).tolist()
    assert g.cache_info().eager_calls == 0


# ----------------------------------------------------------------------------- sources
def test_rebinding_a_module_parameter_retraces_in_place_updates_do_not():
    m = sg.nn.Linear(2, 1, seed=0)
    f = sg.compile(lambda x: m(x).sum())
    x = sg.tensor([[1.0, 2.0]])
    f(x)
    m.weight = sg.nn.Parameter([[5.0, 6.0]])
    got, want = both(f, x)
    assert got.item() == want.item()             # before: the old weight's value
    assert f.cache_info().traces == 2
    opt = sg.optim.SGD(list(m.parameters()), lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        f(x).backward()
        opt.step()
    assert m.weight.grad is not None
    got, want = both(f, x)
    assert got.item() == want.item()
    assert f.cache_info().traces == 2            # in-place optimizer steps: no retrace


def test_rebinding_globals_closure_cells_and_submodules_retraces():
    scale = sg.tensor([2.0])
    f = sg.compile(lambda x: (x * scale).sum())
    assert f(sg.tensor([1.0])).item() == 2.0
    scale = sg.tensor([7.0])                     # noqa: F841 -- the closure cell rebinds
    assert f(sg.tensor([1.0])).item() == 7.0     # before: 2.0

    model = sg.nn.Sequential(sg.nn.Linear(1, 1, seed=0), sg.nn.ReLU())
    g = sg.compile(lambda x: model(x).sum())
    x = sg.tensor([[-5.0]])
    g(x)
    model.__dict__["1"] = sg.nn.Tanh()           # a sub-module replaced
    got, want = both(g, x)
    assert got.item() == want.item() and got.item() < 0    # before: ReLU's 0
    assert g.cache_info().traces == 2


class Scaled(sg.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = sg.nn.Parameter([3.0])

    def forward(self, x):
        return x * self.w * (2.0 if self.training else 1.0)


def test_module_training_flag_is_guarded():
    m = Scaled()
    f = sg.compile(m)
    assert f(sg.tensor([1.0])).item() == 6.0
    m.eval()
    assert f(sg.tensor([1.0])).item() == 3.0     # before: 6.0 (train-mode trace)
    m.train()
    assert f(sg.tensor([1.0])).item() == 6.0 and f.cache_info().traces == 2


# ----------------------------------------------------------------------------- cache limit
def test_cache_limit_warns_once_and_runs_eagerly():
    f = sg.compile(lambda x: x * 2 if x.sum().item() > 0 else x, cache_limit=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for v in range(1, 11):
            got, want = both(f, sg.tensor([float(v)]))
            assert got.tolist() == want.tolist()
    msgs = [str(w.message) for w in caught if issubclass(w.category, CompileWarning)]
    assert len(msgs) == 1 and "cache_limit=3" in msgs[0] and "item()" in msgs[0]
    info = f.cache_info()
    assert (info.traces, info.cached, info.eager_calls, info.limit) == (3, 3, 7, 3)


def test_default_cache_limit_is_eight_and_configurable():
    old = sg.compile.config.cache_limit
    assert old == 8
    f = sg.compile(lambda x: x.reshape(-1).sum())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(1, 12):
            f(sg.tensor(np.ones(n)))
    assert f.cache_info().traces == 8 and f.cache_info().eager_calls == 3
    assert sum(issubclass(w.category, CompileWarning) for w in caught) == 1
    try:
        sg.compile.config.cache_limit = 2
        g = sg.compile(lambda x: x.sum())
        with pytest.warns(CompileWarning, match="cache_limit=2"):
            for n in range(1, 4):
                g(sg.tensor(np.ones(n)))
    finally:
        sg.compile.config.cache_limit = old
    with pytest.raises(ValueError, match="cache_limit must be >= 1, got 0"):
        sg.compile(lambda x: x, cache_limit=0)
    with pytest.raises(TypeError, match="cache_limit must be an int"):
        sg.compile.config.cache_limit = 2.5


# ----------------------------------------------------------------------------- numbers
def test_python_numbers_become_inputs_after_a_second_value():
    f = sg.compile(lambda x, k: (x * k).sum())
    x = sg.tensor([1.0, 2.0])
    for i in range(3000):
        k = i * 0.25
        assert f(x, k).item() == (x * k).sum().item()
    assert f.cache_info().traces == 2            # before: 3000 traces, no limit, no warning
    x32 = sg.tensor([1.0, 2.0], dtype=sg.float32)
    out = f(x32, 0.1)
    assert out.dtype == np.float32 and out.item() == (x32 * 0.1).sum().item()
    n = sg.compile(lambda x, k: x * k)
    for k in range(5):                           # ints too, with PyTorch's dtype rules
        got, want = both(n, sg.tensor([1, 2], dtype=sg.int32), k)
        assert got.dtype == want.dtype == np.int32 and got.tolist() == want.tolist()
    assert n.cache_info().traces == 2


def test_number_inputs_get_gradients_right_and_static_uses_stay_correct():
    w = sg.tensor([1.0, 2.0], requires_grad=True)
    f = sg.compile(lambda k: (w ** 2 * k).sum())
    for k in (1.0, 2.0, 3.0):
        w.grad = None
        f(k).backward()
        assert w.grad.tolist() == [2.0 * k, 4.0 * k]
    # a number used as a shape: each value is its own (correct) trace
    g = sg.compile(lambda x, n: x.reshape(n, -1).sum(0))
    x = sg.tensor([1.0, 2.0, 3.0, 4.0])
    for n in (1, 2, 4, 2):
        assert g(x, n).tolist() == x.reshape(n, -1).sum(0).tolist()


# ----------------------------------------------------------------------------- user code
def test_user_forward_and_backward_run_once_on_the_first_call():
    calls = {"forward": 0, "vjp": 0, "Function.forward": 0, "Function.backward": 0}

    def fwd(x):
        calls["forward"] += 1
        return x * x

    def vjp(g, out, x):
        calls["vjp"] += 1
        return 2 * g * x
    square = sg.custom_op("square_counted", fwd, vjp, lambda x: x ** 2)

    class Cube(sg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            calls["Function.forward"] += 1
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            calls["Function.backward"] += 1
            (x,) = ctx.saved_tensors
            return 3 * g * x ** 2

    f = sg.compile(lambda w: (square(w) + Cube.apply(w)).sum())
    w = sg.tensor([1.0, 2.0], requires_grad=True)
    loss = f(w)
    assert calls == {"forward": 1, "vjp": 0, "Function.forward": 1, "Function.backward": 0}
    loss.backward()                              # before: 3 of each, then 7 VJP calls
    assert calls == {"forward": 1, "vjp": 1, "Function.forward": 1, "Function.backward": 1}
    assert loss.item() == 14.0 and w.grad.tolist() == [5.0, 16.0]
    w.grad = None
    f(w).backward()                              # the compiled program: same numbers
    assert w.grad.tolist() == [5.0, 16.0] and calls["forward"] == 2


def test_first_call_outputs_behave_like_compiled_outputs():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    a, b = sg.compile(lambda x: ((x * x).sum(), x.sin().sum()))(x)
    assert repr(a) == "tensor(5., grad_fn=<CompiledBackward>)"
    a.backward()
    b.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0] + np.cos([1.0, 2.0]), rtol=1e-15)
    with pytest.raises(RuntimeError, match="second time"):
        a.backward()
