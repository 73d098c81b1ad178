"""Issue 11, "Also fix": behaviour a port of other projects' op tests found on main.

Each test states PyTorch's answer as a number (so it runs without torch), and the
torch-parity ones at the end re-check against torch where installed.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import symgrad as sg


@pytest.mark.parametrize("x", [math.inf, -math.inf, 0.0, 2.0, -3.0])
def test_pow_zero_exponent_has_zero_gradient_everywhere(x):
    t = sg.tensor([x], requires_grad=True)
    (t ** 0).sum().backward()
    assert t.grad.tolist() == [0.0]
    t = sg.tensor([x], requires_grad=True)
    e = sg.tensor([0.0, 0.0], requires_grad=True)
    (t ** e).sum().backward()
    assert t.grad.tolist() == [0.0]


def test_pow_zero_exponent_second_order_stays_masked():
    x = sg.tensor([2.0], requires_grad=True)
    e = sg.tensor([0.0, 3.0], requires_grad=True)
    (g,) = sg.autograd.grad((x ** e).sum(), x, create_graph=True)
    assert g.tolist() == [12.0]
    g.backward()
    assert x.grad.tolist() == [12.0]
    assert e.grad.tolist()[0] == 0.0
    assert e.grad.tolist()[1] == pytest.approx(4 + 12 * math.log(2))


def test_advanced_index_split_by_slice_follows_pytorch():
    x = np.arange(2 * 5 * 6 * 5 * 3 * 4, dtype=float).reshape(2, 5, 6, 5, 3, 4)
    t = sg.tensor(x, requires_grad=True)
    y = t[0, :, [1, 2]]
    assert y.shape == (5, 2, 5, 3, 4)
    np.testing.assert_array_equal(y.detach().numpy(), x[0][:, [1, 2]])
    y.sum().backward()
    want = np.zeros_like(x)
    want[0, :, [1, 2]] = 1
    np.testing.assert_array_equal(t.grad.numpy(), want)
    # the closed form reads the same graph
    s = sg.tensor(x[:1, :2, :3, :1, :1, :1], name="s")
    assert s[0, :, [1, 2]].shape == (2, 2, 1, 1, 1)


def test_adjacent_advanced_indices_unchanged():
    x = np.arange(24.0).reshape(2, 3, 4)
    assert sg.tensor(x)[0, [1, 2]].shape == (2, 4)
    assert sg.tensor(x)[:, [0, 1], [1, 2]].shape == (2, 2)


@pytest.mark.parametrize("fn", [sg.softmax, sg.log_softmax])
@pytest.mark.parametrize("dim", [0, -1])
def test_softmax_of_0d_tensor(fn, dim):
    x = sg.tensor(1.5, requires_grad=True)
    y = fn(x, dim)
    assert y.shape == () and y.item() == (1.0 if fn is sg.softmax else 0.0)
    y.backward()
    assert x.grad.item() == 0.0
    z = sg.tensor(0.5, name="z")
    assert sg.diff(fn(z, dim), z) == 0


def test_int_with_float32_promotes_to_float32():
    a = sg.tensor([1, 2])
    b = sg.tensor([0.5, 1.5], dtype=sg.float32, requires_grad=True)
    c = a * b
    assert c.dtype == sg.float32 and c.tolist() == [0.5, 3.0]
    c.sum().backward()
    assert b.grad.dtype == sg.float32 and b.grad.tolist() == [1.0, 2.0]
    assert (sg.tensor([1, 2]) + sg.tensor(2.5, dtype=sg.float32)).dtype == sg.float32
    # a float32 tensor with dims beats a float64 0-d tensor (same category)
    assert (sg.tensor([1.0], dtype=sg.float32) + sg.tensor(1.0)).dtype == sg.float32
    assert (sg.tensor([1.0], dtype=sg.float32) * sg.tensor([1.0])).dtype == sg.float64
    assert sg.where(sg.tensor([True]), sg.tensor([1]), sg.tensor([0.5], dtype=sg.float32)).dtype \
        == sg.float32
    assert sg.promote_types(sg.int64, sg.float32) == sg.float32
    assert sg.result_type(sg.tensor([1, 2]), 2.5) == sg.float64


@pytest.mark.parametrize("call", [lambda t: t.sum(1), lambda t: t.squeeze(10),
                                  lambda t: t.mean(1), lambda t: t.sum((1,))])
def test_dims_of_0d_tensors_are_checked(call):
    with pytest.raises(IndexError, match=r"range of \[-1, 0\]"):
        call(sg.tensor(1.0))


def test_0d_dims_0_and_minus_1_are_fine():
    t = sg.tensor(2.0)
    assert t.sum(0).item() == 2.0 and t.sum(-1).item() == 2.0 and t.squeeze(0).item() == 2.0


def test_any_all_take_a_tuple_of_dims():
    b = sg.tensor([[True, False], [True, True]])
    assert sg.any(b, dim=(0, 1)).item() is True
    assert sg.all(b, dim=(0, 1)).item() is False
    assert b.all(dim=(0,)).tolist() == [True, False]
    assert b.any(1, keepdim=True).shape == (2, 1)


def test_permute_and_clamp_errors_are_runtime_errors():
    with pytest.raises(RuntimeError, match="3 were given"):
        sg.ones(2, 3).permute(1, 0, 2)
    with pytest.raises(RuntimeError, match="repeats"):
        sg.ones(2, 3).permute(1, 1)
    with pytest.raises(RuntimeError, match="at least one of 'min' or 'max'"):
        sg.ones(2).clamp(None, None)
    assert issubclass(sg.ShapeError, RuntimeError)


def test_against_torch():
    torch = pytest.importorskip("torch")
    for x in (math.inf, -math.inf):
        t = torch.tensor([x], dtype=torch.float64, requires_grad=True)
        (t ** 0).sum().backward()
        s = sg.tensor([x], requires_grad=True)
        (s ** 0).sum().backward()
        assert s.grad.tolist() == t.grad.tolist()
    x = np.random.default_rng(0).random((2, 5, 6, 5, 3, 4))
    assert sg.tensor(x)[0, :, [1, 2]].shape == tuple(torch.tensor(x)[0, :, [1, 2]].shape)
    np.testing.assert_array_equal(sg.tensor(x)[0, :, [1, 2]].numpy(),
                                  torch.tensor(x)[0, :, [1, 2]].numpy())
    r = torch.tensor([1, 2]) * torch.tensor([0.5, 1.5], dtype=torch.float32)
    assert str(r.dtype).endswith("float32")
