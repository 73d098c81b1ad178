"""sg.nn: modules, parameters, state dicts, losses (checked against torch when installed)."""
from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg


def test_linear_init_bounds_dtype_and_seed():
    a = sg.nn.Linear(16, 4, seed=3)
    b = sg.nn.Linear(16, 4, seed=3)
    np.testing.assert_array_equal(a.weight.value, b.weight.value)
    assert a.weight.shape == (4, 16) and a.bias.shape == (4,)
    assert np.abs(a.weight.value).max() <= 0.25 and np.abs(a.bias.value).max() <= 0.25
    assert np.abs(a.weight.value).max() > 0.2            # uses the whole range
    f32 = sg.nn.Linear(3, 2, dtype=sg.float32, generator=np.random.default_rng(0), bias=False)
    assert f32.weight.dtype == np.float32 and f32.bias is None
    assert [n for n, _ in f32.named_parameters()] == ["weight"]
    with pytest.raises(ValueError, match="in_features must be a positive int"):
        sg.nn.Linear(0, 3)


def test_parameters_children_and_sharing():
    shared = sg.nn.Linear(2, 2, seed=0)
    model = sg.nn.Sequential(shared, sg.nn.Tanh(), shared)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(model.children())) == 3 and len(model) == 3
    assert all(p.requires_grad and p.is_leaf for p in model.parameters())
    assert model[1].__class__ is sg.nn.Tanh
    assert "Linear(in_features=2, out_features=2, bias=True)" in repr(model)


def test_train_eval_and_zero_grad():
    model = sg.nn.Sequential(sg.nn.Linear(2, 1, seed=0))
    assert model.training and model[0].training
    model.eval()
    assert not model.training and not model[0].training
    model.train()
    assert model[0].training
    model(sg.tensor([[1.0, 2.0]])).sum().backward()
    assert model[0].weight.grad is not None
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_state_dict_round_trip_is_plain_numpy_copies():
    a = sg.nn.Sequential(sg.nn.Linear(3, 4, seed=0), sg.nn.ReLU(), sg.nn.Linear(4, 2, seed=1))
    b = sg.nn.Sequential(sg.nn.Linear(3, 4, seed=5), sg.nn.ReLU(), sg.nn.Linear(4, 2, seed=6))
    state = a.state_dict()
    assert all(type(v) is np.ndarray for v in state.values())
    state["0.weight"][0, 0] = 123.0                          # a copy: a is unchanged
    assert a[0].weight.value[0, 0] != 123.0
    weight_obj = b[0].weight
    b.load_state_dict(a.state_dict())
    assert b[0].weight is weight_obj                         # loaded in place
    x = sg.tensor([[0.5, -1.0, 2.0]])
    np.testing.assert_array_equal(a(x).value, b(x).value)


def test_load_state_dict_errors_name_keys_and_shapes():
    m = sg.nn.Linear(3, 2, seed=0)
    with pytest.raises(KeyError, match=r"missing keys \['bias'\]"):
        m.load_state_dict({"weight": np.zeros((2, 3))})
    with pytest.raises(KeyError, match=r"unexpected keys \['extra'\]"):
        m.load_state_dict({"weight": np.zeros((2, 3)), "bias": np.zeros(2), "extra": 1})
    with pytest.raises(ValueError, match=r"'weight' has shape \(3, 2\).*shape \(2, 3\)"):
        m.load_state_dict({"weight": np.zeros((3, 2)), "bias": np.zeros(2)})
    m.load_state_dict({"bias": np.ones(2)}, strict=False)
    np.testing.assert_array_equal(m.bias.value, [1.0, 1.0])


def test_losses_values_and_errors():
    mse = sg.nn.MSELoss()(sg.tensor([1.0, 2.0, 4.0]), sg.tensor([1.0, 0.0, 1.0]))
    assert mse.item() == pytest.approx(13 / 3)
    assert sg.nn.MSELoss(reduction="sum")(sg.tensor([1.0, 2.0]),
                                          sg.tensor([0.0, 0.0])).item() == 5.0
    logits = np.array([[1.0, 2.0, 0.5], [0.1, 0.2, 3.0]])
    ce = sg.nn.CrossEntropyLoss()(sg.tensor(logits), sg.tensor([2, 0])).item()
    lse = np.log(np.exp(logits).sum(axis=1))
    assert ce == pytest.approx(np.mean(lse - logits[[0, 1], [2, 0]]), rel=1e-14)
    with pytest.raises(ValueError, match="reduction: use one of 'none', 'mean', 'sum'"):
        sg.nn.MSELoss(reduction="avg")
    with pytest.raises(TypeError, match="pass reduction='sum' by keyword"):
        sg.nn.MSELoss("sum")
    with pytest.raises(ValueError, match=r"batch_size \(2\) to match target batch_size \(3\)"):
        sg.nn.CrossEntropyLoss()(sg.tensor(logits), sg.tensor([0, 1, 2]))
    with pytest.raises(RuntimeError, match="expected target dtype to be an integer type"):
        sg.nn.CrossEntropyLoss()(sg.tensor(logits), sg.tensor([0.0, 1.0]))
    with pytest.raises(IndexError, match=r"Target 5 is out of bounds.*\[0, 2\)"):
        sg.nn.CrossEntropyLoss()(sg.tensor([[1.0, 2.0]]), sg.tensor([5]))
    with pytest.raises(RuntimeError, match=r"shapes \(2,\) and \(3,\) do not broadcast"):
        sg.nn.MSELoss()(sg.tensor([1.0, 3.0]), sg.tensor([1.0, 2.0, 3.0]))


def test_module_without_forward_and_bad_sequential():
    with pytest.raises(TypeError, match="must define forward"):
        sg.nn.Module()(1)
    with pytest.raises(TypeError, match="argument 1 is a int"):
        sg.nn.Sequential(sg.nn.ReLU(), 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_and_losses_match_torch(dtype):
    torch = pytest.importorskip("torch")
    tdt = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
    rng = np.random.default_rng(0)
    lin = sg.nn.Linear(5, 3, seed=0, dtype=dtype)
    tlin = torch.nn.Linear(5, 3).to(tdt)
    with torch.no_grad():
        tlin.weight.copy_(torch.from_numpy(lin.weight.value))
        tlin.bias.copy_(torch.from_numpy(lin.bias.value))
    X = rng.standard_normal((7, 5)).astype(dtype)
    target = rng.standard_normal((7, 3)).astype(dtype)
    labels = rng.integers(0, 3, 7)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    for loss_name in ("MSELoss", "CrossEntropyLoss"):
        lin.zero_grad()
        tlin.zero_grad()
        y = lin(sg.tensor(X))
        ty = tlin(torch.from_numpy(X))
        np.testing.assert_allclose(y.value, ty.detach().numpy(), **tol)
        tgt, ttgt = ((sg.tensor(target), torch.from_numpy(target)) if loss_name == "MSELoss"
                     else (sg.tensor(labels), torch.from_numpy(labels)))
        loss = getattr(sg.nn, loss_name)()(y, tgt)
        tloss = getattr(torch.nn, loss_name)()(ty, ttgt)
        np.testing.assert_allclose(loss.item(), tloss.item(), **tol)
        loss.backward()
        tloss.backward()
        np.testing.assert_allclose(lin.weight.grad.numpy(), tlin.weight.grad.numpy(), **tol)
        np.testing.assert_allclose(lin.bias.grad.numpy(), tlin.bias.grad.numpy(), **tol)


def test_model_under_compile_matches_eager_gradients():
    model = sg.nn.Sequential(sg.nn.Linear(4, 6, seed=0), sg.nn.Tanh(), sg.nn.Linear(6, 1, seed=1))
    X = sg.tensor(np.random.default_rng(1).standard_normal((9, 4)))
    y = sg.tensor(np.random.default_rng(2).standard_normal((9, 1)))
    loss_fn = sg.nn.MSELoss()
    loss_fn(model(X), y).backward()
    eager = [p.grad.numpy().copy() for p in model.parameters()]
    model.zero_grad()
    sg.compile(lambda X, y: loss_fn(model(X), y))(X, y).backward()
    for p, g in zip(model.parameters(), eager):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-13, atol=1e-15)


def test_parameter_is_a_tensor_subclass():
    p = sg.nn.Parameter(np.ones(2, np.float32))
    assert isinstance(p, sg.nn.Parameter) and isinstance(p, sg.Tensor)
    assert p.dtype == np.float32 and p.requires_grad and p.is_leaf
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert type(p * 2) is sg.Tensor
    lin = sg.nn.Linear(2, 3, seed=0)
    assert all(isinstance(q, sg.nn.Parameter) for q in lin.parameters())
