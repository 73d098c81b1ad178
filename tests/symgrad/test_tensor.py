"""Tensor basics: creation, dtypes, repr, ops' values, shapes, literals, symbolic leaves."""
import numpy as np
import pytest

import symgrad as sg
from numeric.ops import Op

RNG = np.random.default_rng(0)


def test_creation_dtypes():
    assert sg.tensor([1.0, 2.0]).dtype == sg.float64
    assert sg.tensor([1, 2]).dtype == sg.int64
    assert sg.tensor([True, False]).dtype == sg.bool
    assert sg.tensor(np.float32([1])).dtype == sg.float32
    assert sg.tensor([1, 2], dtype=sg.float32).dtype == sg.float32
    assert sg.zeros(2, 3).shape == (2, 3) and sg.ones((4,)).value.sum() == 4
    assert sg.full((2,), 3).dtype == sg.int64 and sg.full((2,), 0.5).value.tolist() == [0.5, 0.5]
    assert sg.arange(4).tolist() == [0, 1, 2, 3] and sg.arange(0, 1, 0.25).dtype == sg.float64
    assert sg.eye(2).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert np.array_equal(sg.rand(3, seed=5).value, sg.rand(3, seed=5).value)
    g = np.random.default_rng(3)
    assert sg.randn(2, 2, seed=g).shape == (2, 2)
    assert sg.zeros_like(sg.tensor([1, 2])).dtype == sg.int64
    assert sg.ones_like(sg.tensor([1.0], dtype=sg.float32)).dtype == sg.float32


def test_from_numpy_shares_memory_and_tensor_copies():
    a = np.zeros(2)
    t, c = sg.from_numpy(a), sg.tensor(a)
    a[0] = 7
    assert t.tolist() == [7.0, 0.0] and c.tolist() == [0.0, 0.0]


def test_default_dtype_switch():
    sg.set_default_dtype(sg.float32)
    try:
        assert sg.tensor([1.0]).dtype == sg.float32 and sg.zeros(1).dtype == sg.float32
        assert repr(sg.tensor([1.0])) == "tensor([1.])"
        assert repr(sg.tensor([1.0], dtype=sg.float64)) == "tensor([1.], dtype=sg.float64)"
    finally:
        sg.set_default_dtype(sg.float64)
    with pytest.raises(TypeError):
        sg.set_default_dtype(sg.int64)


@pytest.mark.parametrize("t, text", [
    (lambda: sg.tensor([10.0]), "tensor([10.])"),
    (lambda: sg.tensor([1.0, 2.0], dtype=sg.float32, requires_grad=True),
     "tensor([1., 2.], dtype=sg.float32, requires_grad=True)"),
    (lambda: sg.tensor([[1.0, 2.0], [3.0, 4.0]]), "tensor([[1., 2.],\n        [3., 4.]])"),
    (lambda: sg.tensor([0.1, 2.5]), "tensor([0.1000, 2.5000])"),
    (lambda: sg.tensor(2.0), "tensor(2.)"),
    (lambda: sg.tensor([1, 2]), "tensor([1, 2])"),
    (lambda: sg.tensor([True, False]), "tensor([ True, False])"),
    (lambda: sg.tensor([1e-5, 1.0]), "tensor([1.0000e-05, 1.0000e+00])"),
    (lambda: sg.tensor([float("nan"), 1.5]), "tensor([   nan, 1.5000])"),
    (lambda: sg.zeros(0, 3), "tensor([], size=(0, 3))"),
    (lambda: sg.tensor([1, 2], dtype=sg.int32), "tensor([1, 2], dtype=sg.int32)"),
    (lambda: sg.tensor([5.0], requires_grad=True) ** 2, "tensor([25.], grad_fn=<PowBackward>)"),
    (lambda: sg.tensor([1.0], dtype=sg.float32, requires_grad=True) * 2,
     "tensor([2.], dtype=sg.float32, grad_fn=<MulBackward>)"),
])
def test_repr_like_pytorch(t, text):
    assert repr(t()) == text


def test_repr_summarises_large_tensors():
    text = repr(sg.arange(2000))
    assert text == "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"   # as PyTorch prints it


def test_literals_keep_dtype_and_number():
    x = sg.tensor([1.0, 2.0], dtype=sg.float32, requires_grad=True)
    y = 2.5 * x
    assert y.dtype == sg.float32
    c = y.inputs[0]
    assert c.op is None and c.node.role == "constant" and c.node.literal == 2.5
    assert not c.attrs and c.value.dtype == sg.float32
    assert not x.attrs and (x ** 2).node.inputs[1].literal == 2
    assert (1 - x).tolist() == [0.0, -1.0] and (1 / x).tolist() == [1.0, 0.5]
    assert (2 ** x).tolist() == [2.0, 4.0]
    assert (sg.tensor([1, 2]) * 0.5).dtype == sg.float64


def test_leaf_names_stable_and_user_given():
    a = sg.tensor(1.0, name="alpha")
    b = sg.tensor(2.0)
    n1 = b.name
    assert a.name == "alpha" and n1.startswith("t") and b.name == n1
    assert (a + b).name is None


UNARY = {
    "exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "sqrt": np.sqrt,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "tanh": np.tanh,
    "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "relu": lambda v: np.maximum(v, 0),
    "abs": np.abs, "softplus": lambda v: np.log1p(np.exp(v)), "neg": np.negative,
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary_values_and_dtype(name, dtype):
    v = RNG.uniform(0.1, 1.5, size=(2, 3)).astype(dtype)
    t = sg.tensor(v)
    for out in (getattr(sg, name)(t), getattr(t, name)()):
        assert out.dtype == dtype and out.shape == (2, 3)
        np.testing.assert_allclose(out.value, UNARY[name](v), rtol=1e-6 if dtype == np.float32
                                   else 1e-12)


def test_binary_broadcasting_and_matmul():
    a, b = RNG.normal(size=(3, 1)), RNG.normal(size=(4,))
    ta, tb = sg.tensor(a), sg.tensor(b)
    for op, ref in [("__add__", a + b), ("__sub__", a - b), ("__mul__", a * b),
                    ("__truediv__", a / b)]:
        np.testing.assert_allclose(getattr(ta, op)(tb).value, ref)
    np.testing.assert_allclose(sg.maximum(ta, tb).value, np.maximum(a, b))
    np.testing.assert_allclose(sg.minimum(ta, tb).value, np.minimum(a, b))
    np.testing.assert_allclose((abs(ta) ** tb).value, np.abs(a) ** b)
    m, v = RNG.normal(size=(2, 3)), RNG.normal(size=(3,))
    np.testing.assert_allclose((sg.tensor(m) @ sg.tensor(v)).value, m @ v)
    np.testing.assert_allclose(sg.matmul(sg.tensor(m), sg.tensor(m).T).value, m @ m.T)


def test_reductions_dims():
    v = RNG.normal(size=(2, 3, 4))
    t = sg.tensor(v)
    np.testing.assert_allclose(t.sum().value, v.sum())
    np.testing.assert_allclose(t.sum(dim=-1).value, v.sum(-1))
    np.testing.assert_allclose(t.sum(dim=(0, 2), keepdim=True).value, v.sum((0, 2), keepdims=True))
    np.testing.assert_allclose(t.mean(1).value, v.mean(1))
    np.testing.assert_allclose(t.max().value, v.max())
    vals, idx = t.max(dim=1)
    np.testing.assert_allclose(vals.value, v.max(1))
    assert idx.dtype == sg.int64 and np.array_equal(idx.value, v.argmax(1))
    assert np.array_equal(sg.min(t, 2, keepdim=True).indices.value, v.argmin(2)[..., None])
    np.testing.assert_allclose(sg.logsumexp(t, dim=1).value, np.log(np.exp(v).sum(1)))
    sm = sg.softmax(t, dim=-1).value
    np.testing.assert_allclose(sm, np.exp(v) / np.exp(v).sum(-1, keepdims=True))
    np.testing.assert_allclose(sg.log_softmax(t, dim=0).value,
                               v - np.log(np.exp(v).sum(0, keepdims=True)))
    np.testing.assert_allclose(sg.clamp(t, min=-0.5, max=0.5).value, np.clip(v, -0.5, 0.5))
    assert t.argmax().item() == v.argmax()


def test_movement_ops():
    v = RNG.normal(size=(2, 3))
    t = sg.tensor(v)
    assert t.reshape(3, 2).shape == (3, 2) and t.view(-1).shape == (6,)
    assert t.reshape((1, -1)).shape == (1, 6) and t.flatten().shape == (6,)
    np.testing.assert_allclose(t.transpose(0, 1).value, v.T)
    np.testing.assert_allclose(t.T.value, v.T)
    assert t.permute(1, 0).shape == (3, 2) and t.unsqueeze(0).shape == (1, 2, 3)
    assert t.unsqueeze(-1).shape == (2, 3, 1) and t.unsqueeze(0).squeeze().shape == (2, 3)
    assert t[None].squeeze(0).shape == (2, 3)
    assert t.unsqueeze(1).expand(2, 4, 3).shape == (2, 4, 3)
    assert t.unsqueeze(1).expand(-1, 4, -1).shape == (2, 4, 3)
    np.testing.assert_allclose(sg.cat([t, t], dim=1).value, np.concatenate([v, v], 1))
    np.testing.assert_allclose(sg.stack([t, t], dim=-1).value, np.stack([v, v], -1))
    c = sg.where(t > 0, t, 0.0)
    np.testing.assert_allclose(c.value, np.where(v > 0, v, 0))


@pytest.mark.parametrize("index", [
    0, -1, (slice(None), 1), (Ellipsis, 2), (None, 0), [0, 1, 1], ([0, 1], [2, 0]),
    (slice(None, None, -1),), np.array([True, False]),
])
def test_indexing(index):
    v = RNG.normal(size=(2, 3))
    t = sg.tensor(v)
    np.testing.assert_allclose(t[index].value, v[index])
    assert t[index].op is Op.GETITEM


def test_index_with_tensors_and_masks():
    v = np.arange(6.0).reshape(2, 3)
    t = sg.tensor(v)
    assert t[sg.tensor([1, 0])].tolist() == v[[1, 0]].tolist()
    assert t[t > 2].tolist() == [3.0, 4.0, 5.0]


def test_comparisons_are_bool_without_grad():
    x = sg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for c in (x < 2, x <= 2, x > 2, x >= 2, x == 2, x != 2):
        assert c.dtype == sg.bool and not c.requires_grad and c.grad_fn is None
    assert (x > 1.5).tolist() == [False, True, True]
    assert ((x > 1) & (x < 3)).tolist() == [False, True, False]


def test_casts():
    x = sg.tensor([1.5, 2.5], requires_grad=True)
    f = x.float()
    assert f.dtype == sg.float32 and f.op is Op.CAST and f.requires_grad
    assert x.double() is x and x.to(sg.float64) is x
    i = x.to(sg.int64)
    assert i.dtype == sg.int64 and not i.requires_grad


def test_item_tolist_numpy_detach():
    x = sg.tensor([[1.0, 2.0]], requires_grad=True)
    assert x.sum().item() == 3.0 and x.tolist() == [[1.0, 2.0]]
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    d = x.detach()
    assert d.numpy() is x.value and not d.requires_grad and d.is_leaf
    assert x.size() == (1, 2) and x.size(-1) == 2 and x.numel() == 2 and x.ndim == 2
    with pytest.raises(ValueError):
        x.item()


def test_no_grad_results_are_leaves():
    x = sg.tensor([1.0], requires_grad=True)
    with sg.no_grad():
        y = x * 2
    assert not y.requires_grad and y.is_leaf and y.grad_fn is None and y.op is Op.MUL


def test_symbolic_graph_shapes_and_evaluate():
    X = sg.symbol("X", shape=("N", "d"))
    w = sg.symbol("w", shape=("d",))
    y = X @ w
    assert y.value is None and y.shape == ("N",) and y.requires_grad
    loss = ((y - 1.0) ** 2).mean()
    assert loss.shape == () and loss.dtype == sg.float64
    assert repr(X) == "tensor(<symbolic X>, shape=(N, d), requires_grad=True)"
    Xv, wv = RNG.normal(size=(5, 3)), RNG.normal(size=3)
    out = sg.evaluate(loss, {X: Xv, "w": wv})
    np.testing.assert_allclose(out.value, ((Xv @ wv - 1) ** 2).mean())
    assert (X + sg.symbol("b", shape=(1, "d"))).shape == ("N", "d")
    assert X.sum(dim=0, keepdim=True).shape == (1, "d")
    assert X.T.shape == ("d", "N") and X[:, 0].shape == ("N",)
    assert X.unsqueeze(0).shape == (1, "N", "d")
    with pytest.raises(sg.SymbolicValueError, match="not bound"):
        sg.evaluate(loss, {X: Xv})
    with pytest.raises(sg.SymbolicValueError):
        y.item()


def test_symbolic_shape_errors_name_both_shapes():
    X = sg.symbol("X", shape=("N", "d"))
    with pytest.raises(ValueError, match=r"\(N, d\).*\(k,\)"):
        X @ sg.symbol("v", shape=("k",))
    with pytest.raises(ValueError, match=r"\(N, d\) and \(3,\)"):
        X + sg.symbol("v", shape=(3,))


def test_in_place_updates_under_no_grad():
    w = sg.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    with sg.no_grad():
        w -= 0.1 * w.grad
    assert w.is_leaf and w.tolist() == pytest.approx([0.8, 1.6])
    with pytest.raises(RuntimeError, match="in-place"):
        w += 1
    w.grad.zero_()
    assert w.grad.tolist() == [0.0, 0.0]


def test_numpy_interop():
    x = sg.tensor([1.0, 2.0])
    assert np.asarray(x) is x.value
    y = np.exp(x)
    assert isinstance(y, sg.Tensor) and y.op is Op.EXP
    z = np.array([1.0, 1.0]) + x
    assert isinstance(z, sg.Tensor) and z.tolist() == [2.0, 3.0]
    assert isinstance(np.sum(x), sg.Tensor) and np.sum(x).item() == 3.0
