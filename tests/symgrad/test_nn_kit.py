"""The nn kit (issue 13, Deliver 4): layers, loss modules, nn.init, buffers, train/eval, data.

Values are checked without torch (numbers written here or numpy formulas); where torch
is installed each layer's forward and parameter gradients are compared with torch's.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import symgrad as sg
from symgrad import nn

F64 = np.float64


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ----------------------------------------------------------------------------- module tree
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4, seed=0)
        self.bn = nn.BatchNorm1d(4)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(4, 2, seed=1)

    def forward(self, x):
        return self.fc2(self.drop(sg.relu(self.bn(self.fc1(x)))))


def test_named_parameters_modules_buffers_and_state_dict_keys():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "fc2.weight", "fc2.bias"]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "bn", "drop", "fc2"]
    assert [type(c).__name__ for c in net.children()] == ["Linear", "BatchNorm1d", "Dropout",
                                                          "Linear"]
    assert [n for n, _ in net.named_buffers()] == ["bn.running_mean", "bn.running_var",
                                                   "bn.num_batches_tracked"]
    assert len(list(net.buffers())) == 3 and len(list(net.parameters())) == 6
    assert list(net.state_dict()) == [
        "fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
        "bn.num_batches_tracked", "fc2.weight", "fc2.bias"]
    assert net.state_dict()["bn.num_batches_tracked"].dtype == np.int64


def test_train_eval_is_recursive_and_switches_dropout_and_batch_norm():
    net = Net()
    x = sg.tensor(_x(8, 3))
    net.eval()
    assert not any(m.training for m in net.modules())
    a, b = net(x), net(x)
    np.testing.assert_array_equal(a.value, b.value)            # no dropout, running stats
    assert net.bn.num_batches_tracked.item() == 0
    net.train()
    assert all(m.training for m in net.modules())
    sg.manual_seed(1)
    net(x)
    assert net.bn.num_batches_tracked.item() == 1
    with pytest.raises(ValueError, match="boolean"):
        net.train("no")


def test_state_dict_round_trip_includes_buffers_and_is_all_or_nothing():
    a, b = Net(), Net()
    a(sg.tensor(_x(8, 3)))                                      # moves a's running stats
    b.load_state_dict(a.state_dict())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        np.testing.assert_array_equal(va, vb)
    before = b.state_dict()
    bad = a.state_dict()
    bad["fc2.bias"] = np.zeros(5)                               # the last key is wrong
    bad["fc1.weight"] = bad["fc1.weight"] + 1.0
    with pytest.raises(ValueError, match="'fc2.bias' has shape"):
        b.load_state_dict(bad)
    for k, v in b.state_dict().items():                         # nothing was written
        np.testing.assert_array_equal(v, before[k])
    with pytest.raises(KeyError, match="missing keys \\['bn.running_mean'\\]"):
        b.load_state_dict({k: v for k, v in a.state_dict().items() if k != "bn.running_mean"})
    w = b.fc1.weight
    v0 = w._version
    b.load_state_dict(a.state_dict())
    assert b.fc1.weight is w and w._version == v0 + 1          # in place, version bumped


def test_register_buffer_rules():
    m = nn.Module()
    m.register_buffer("steps", sg.zeros(()), persistent=False)
    m.register_buffer("empty", None)
    assert [n for n, _ in m.named_buffers()] == ["steps"] and m.state_dict() == {}
    with pytest.raises(TypeError, match="buffer 'x'"):
        m.register_buffer("x", np.zeros(2))
    with pytest.raises(KeyError, match="'.'"):
        m.register_buffer("a.b", sg.zeros(1))
    m.training_steps = 3
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("training_steps", sg.zeros(1))


def test_apply_visits_children_before_parent():
    order = []
    net = nn.Sequential(nn.Linear(2, 2, seed=0), nn.Sequential(nn.ReLU()))
    net.apply(lambda m: order.append(type(m).__name__))
    assert order == ["Linear", "ReLU", "Sequential", "Sequential"]


# ----------------------------------------------------------------------------- containers
def test_module_list_and_dict():
    ml = nn.ModuleList([nn.Linear(2, 2, seed=k) for k in range(3)])
    assert len(ml) == 3 and [n for n, _ in ml.named_parameters()][-1] == "2.bias"
    ml.insert(0, nn.Tanh())
    assert [type(m).__name__ for m in ml] == ["Tanh", "Linear", "Linear", "Linear"]
    del ml[1]
    assert len(ml) == 3 and [n for n, _ in ml.named_parameters()][0] == "1.weight"
    assert isinstance(ml[-1], nn.Linear) and len(ml[1:]) == 2
    with pytest.raises(IndexError, match="index 5 is out of range"):
        ml[5]
    with pytest.raises(TypeError, match="not a Module"):
        ml.append(3)
    md = nn.ModuleDict({"enc": nn.Linear(2, 3, seed=0)})
    md["act"] = nn.ReLU()
    assert list(md) == ["enc", "act"] and "act" in md and len(md) == 2
    assert [n for n, _ in md.named_parameters()] == ["enc.weight", "enc.bias"]
    assert isinstance(md.pop("act"), nn.ReLU) and list(md.keys()) == ["enc"]
    with pytest.raises(KeyError, match="already exists"):
        md["forward"] = nn.ReLU()
    with pytest.raises(KeyError):
        md["missing"]

    class Tower(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(2, 2, seed=0), nn.Linear(2, 2, seed=1)])

        def forward(self, x):
            for b in self.blocks:
                x = b(x)
            return x

    assert "blocks.1.weight" in Tower().state_dict()


# ----------------------------------------------------------------------------- init
def test_fans_gains_and_scaling():
    w = sg.zeros(8, 3, 5, 5)
    assert nn.init._calculate_fan_in_and_fan_out(w) == (75, 200)
    assert nn.init._calculate_fan_in_and_fan_out(sg.zeros(7, 4)) == (4, 7)
    assert nn.init.calculate_gain("relu") == math.sqrt(2)
    assert nn.init.calculate_gain("tanh") == 5 / 3 and nn.init.calculate_gain("conv2d") == 1
    assert nn.init.calculate_gain("leaky_relu") == math.sqrt(2 / (1 + 0.01 ** 2))
    assert nn.init.calculate_gain("selu") == 0.75
    g = np.random.default_rng(0)
    big = nn.Parameter(np.empty((400, 300)))
    nn.init.kaiming_normal_(big, mode="fan_out", nonlinearity="relu", generator=g)
    assert abs(big.value.std() - math.sqrt(2 / 400)) < 0.01 * math.sqrt(2 / 400)
    nn.init.kaiming_uniform_(big, a=0.0, generator=g)
    bound = math.sqrt(2) * math.sqrt(3 / 300)
    assert bound * 0.99 < np.abs(big.value).max() <= bound
    nn.init.xavier_normal_(big, gain=2.0, generator=g)
    assert abs(big.value.std() - 2 * math.sqrt(2 / 700)) < 0.01 * 2 * math.sqrt(2 / 700)
    nn.init.xavier_uniform_(big, generator=g)
    assert math.sqrt(6 / 700) * 0.99 < np.abs(big.value).max() <= math.sqrt(6 / 700)
    nn.init.uniform_(big, 2.0, 3.0, generator=g)
    assert 2.0 <= big.value.min() and big.value.max() <= 3.0
    nn.init.normal_(big, 5.0, 0.5, generator=g)
    assert abs(big.value.mean() - 5.0) < 0.01


def test_init_is_in_place_without_graph_and_seeded():
    p = nn.Parameter(np.zeros((3, 4), np.float32))
    arr, v0 = p.value, p._version
    out = nn.init.constant_(p, 0.25)
    assert out is p and p.value is arr and p.value.dtype == np.float32
    assert p._version == v0 + 1 and p.grad_fn is None and p.is_leaf
    assert (p.value == 0.25).all()
    nn.init.ones_(p), nn.init.zeros_(p)
    assert (p.value == 0).all()
    nn.init.eye_(p)
    np.testing.assert_array_equal(p.value, np.eye(3, 4))
    sg.manual_seed(7)
    a = nn.init.normal_(sg.zeros(5)).value.copy()
    sg.manual_seed(7)
    np.testing.assert_array_equal(nn.init.normal_(sg.zeros(5)).value, a)


def test_init_errors():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(sg.zeros(3))
    with pytest.raises(ValueError, match="Mode 'fan' not supported"):
        nn.init.kaiming_uniform_(sg.zeros(3, 3), mode="fan")
    with pytest.raises(ValueError, match="Unsupported nonlinearity 'swish'"):
        nn.init.calculate_gain("swish")
    with pytest.raises(TypeError, match="symgrad Tensor"):
        nn.init.zeros_(np.zeros(3))


def test_layer_default_inits_use_torch_bounds():
    conv = nn.Conv2d(4, 6, 3, seed=0)
    bound = 1 / math.sqrt(4 * 9)
    assert conv.weight.shape == (6, 4, 3, 3) and conv.bias.shape == (6,)
    assert np.abs(conv.weight.value).max() <= bound and np.abs(conv.bias.value).max() <= bound
    assert np.abs(conv.weight.value).max() > 0.9 * bound
    grouped = nn.Conv2d(4, 6, (3, 1), groups=2, bias=False, seed=0)
    assert grouped.weight.shape == (6, 2, 3, 1) and grouped.bias is None
    emb = nn.Embedding(500, 40, padding_idx=-1, seed=0)
    assert emb.padding_idx == 499 and (emb.weight.value[499] == 0).all()
    assert abs(emb.weight.value[:499].std() - 1) < 0.02
    ln = nn.LayerNorm((2, 3), elementwise_affine=True)
    assert (ln.weight.value == 1).all() and (ln.bias.value == 0).all()
    assert nn.LayerNorm(3, bias=False).bias is None and nn.LayerNorm(3, elementwise_affine=False).weight is None
    sg.manual_seed(3)
    a = nn.Linear(3, 2).weight.value.copy()
    sg.manual_seed(3)
    np.testing.assert_array_equal(nn.Linear(3, 2).weight.value, a)   # manual_seed's RNG


def test_constructor_errors():
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 6, 3, groups=2)
    with pytest.raises(ValueError, match="num_features must be a positive int"):
        nn.BatchNorm1d(0)
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(3, 2, padding_idx=3)
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("fast")
    with pytest.raises(ValueError, match="expected 2D or 3D input \\(got 4D input\\)"):
        nn.BatchNorm1d(2)(sg.zeros(2, 2, 2, 2))
    with pytest.raises(TypeError, match="sg.tensor"):
        nn.NLLLoss(weight=[1.0, 2.0])


# ----------------------------------------------------------------------------- values
def test_activation_and_shape_layer_values():
    x = np.array([-2.0, -0.5, 0.0, 1.5])
    t = sg.tensor(x)
    sig = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(nn.Sigmoid()(t).value, sig, rtol=1e-15)
    np.testing.assert_allclose(nn.SiLU()(t).value, x * sig, rtol=1e-15)
    phi = 0.5 * (1 + np.array([math.erf(v / math.sqrt(2)) for v in x]))
    np.testing.assert_allclose(nn.GELU()(t).value, x * phi, rtol=1e-14)
    tanh_gelu = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(nn.GELU("tanh")(t).value, tanh_gelu, rtol=1e-14)
    np.testing.assert_allclose(nn.Tanh()(t).value, np.tanh(x))
    assert nn.Flatten()(sg.zeros(2, 3, 4, 5)).shape == (2, 60)
    assert nn.Flatten(0, 1)(sg.zeros(2, 3, 4)).shape == (6, 4)
    np.testing.assert_array_equal(
        nn.MaxPool2d(2, stride=1)(sg.tensor([[[[1.0, 5.0, 2.0], [0.0, 3.0, 9.0]]]])).value,
        [[[[5.0, 9.0]]]])


def test_dropout_train_and_eval():
    d = nn.Dropout(0.25)
    x = sg.ones(4000, requires_grad=True)
    sg.manual_seed(0)
    y = d(x)
    kept = y.value != 0
    assert set(np.unique(y.value)) == {0.0, 4 / 3} and abs(kept.mean() - 0.75) < 0.03
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.value, kept * (4 / 3))
    d.eval()
    assert d(x) is x
    assert (nn.Dropout(1.0)(sg.ones(3)).value == 0).all()


def test_layer_norm_and_batch_norm_values():
    x = _x(4, 3)
    ln = nn.LayerNorm(3)
    ln.weight.value[:] = [1.0, 2.0, 3.0]
    ln.bias.value[:] = [0.5, 0.0, -0.5]
    z = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(ln(sg.tensor(x)).value, z * [1, 2, 3] + [0.5, 0, -0.5],
                               rtol=1e-12)
    bn = nn.BatchNorm1d(1)
    y = bn(sg.tensor([[1.0], [3.0]]))
    np.testing.assert_allclose(y.value, [[-1 / math.sqrt(1 + 1e-5)], [1 / math.sqrt(1 + 1e-5)]])
    np.testing.assert_allclose(bn.running_mean.value, [0.2])
    np.testing.assert_allclose(bn.running_var.value, [0.9 + 0.1 * 2.0])   # unbiased var 2
    assert bn.num_batches_tracked.item() == 1
    bn.eval()
    np.testing.assert_allclose(bn(sg.tensor([[0.2]])).value, [[0.0]])
    np.testing.assert_allclose(bn(sg.tensor([[1.2]])).value, [[1 / math.sqrt(1.1 + 1e-5)]])
    cma = nn.BatchNorm1d(2, momentum=None, affine=False)              # cumulative average
    batches = [_x(5, 2, seed=s) for s in range(3)]
    for b in batches:
        cma(sg.tensor(b))
    np.testing.assert_allclose(cma.running_mean.value,
                               np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-12)
    assert list(cma.state_dict()) == ["running_mean", "running_var", "num_batches_tracked"]
    plain = nn.BatchNorm1d(2, track_running_stats=False).eval()     # batch stats even in eval
    out = plain(sg.tensor(batches[0])).value
    np.testing.assert_allclose(out, (batches[0] - batches[0].mean(0))
                               / np.sqrt(batches[0].var(0) + 1e-5), rtol=1e-12)
    assert plain.state_dict().keys() == {"weight", "bias"}
    assert nn.BatchNorm1d(2)(sg.tensor(_x(3, 2, 4))).shape == (3, 2, 4)


def test_embedding_padding_row_gets_no_gradient():
    emb = nn.Embedding(3, 2, padding_idx=1, seed=0)
    out = emb(sg.tensor([[0, 1], [1, 2]]))
    assert out.shape == (2, 2, 2)
    (out * sg.tensor(np.arange(8.0).reshape(2, 2, 2))).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.value, [[0, 1], [0, 0], [6, 7]])
    with pytest.raises(IndexError, match="index out of range"):
        emb(sg.tensor([3]))


def test_conv2d_matches_a_direct_sum():
    conv = nn.Conv2d(2, 3, (2, 3), stride=(1, 2), padding=1, seed=0)
    x = _x(2, 2, 4, 5)
    y = conv(sg.tensor(x)).value
    w, b = conv.weight.value, conv.bias.value
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.empty(y.shape)
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            patch = xp[:, :, i:i + 2, 2 * j:2 * j + 3]
            ref[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w) + b
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


def test_loss_module_values():
    p, t = np.array([0.2, 0.7, 0.9]), np.array([0.0, 1.0, 1.0])
    P, T = sg.tensor(p), sg.tensor(t)
    np.testing.assert_allclose(nn.L1Loss()(P, T).item(), np.abs(p - t).mean())
    np.testing.assert_allclose(nn.L1Loss(reduction="sum")(P, T).item(), np.abs(p - t).sum())
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    np.testing.assert_allclose(nn.BCELoss()(P, T).item(), bce.mean(), rtol=1e-14)
    w = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(nn.BCELoss(weight=sg.tensor(w))(P, T).item(), (w * bce).mean(),
                               rtol=1e-14)
    z = np.array([-1.0, 0.5, 3.0])
    s = 1 / (1 + np.exp(-z))
    ref = -(2 * t * np.log(s) + (1 - t) * np.log(1 - s))
    np.testing.assert_allclose(
        nn.BCEWithLogitsLoss(pos_weight=sg.tensor([2.0]))(sg.tensor(z), T).item(), ref.mean(),
        rtol=1e-14)
    d = np.array([0.5, -3.0])
    np.testing.assert_allclose(nn.HuberLoss(delta=2.0)(sg.tensor(d), sg.zeros(2)).item(),
                               (0.125 + 2 * (3 - 1)) / 2)
    np.testing.assert_allclose(nn.SmoothL1Loss(beta=2.0)(sg.tensor(d), sg.zeros(2)).item(),
                               (0.0625 + (3 - 1)) / 2)
    logp = np.log(np.array([[0.2, 0.8], [0.6, 0.4]]))
    nll = nn.NLLLoss(weight=sg.tensor([1.0, 3.0]))(sg.tensor(logp), sg.tensor([1, 0]))
    np.testing.assert_allclose(nll.item(), -(3 * logp[0, 1] + logp[1, 0]) / 4)
    assert list(nn.NLLLoss(weight=sg.tensor([1.0, 3.0])).state_dict()) == ["weight"]
    assert list(nn.CrossEntropyLoss(weight=sg.tensor([1.0, 3.0])).state_dict()) == ["weight"]
    with pytest.raises(ValueError, match="'avg' is not a valid value for reduction"):
        nn.HuberLoss(reduction="avg")


# ----------------------------------------------------------------------------- data
def test_tensor_dataset_and_data_loader():
    x, y = sg.tensor(np.arange(20.0).reshape(10, 2)), sg.tensor(np.arange(10))
    ds = sg.utils.data.TensorDataset(x, y)
    assert len(ds) == 10 and ds[3][1].item() == 3
    loader = sg.utils.data.DataLoader(ds, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    assert all(isinstance(b, tuple) and len(b) == 2 for b in batches)
    np.testing.assert_array_equal(batches[2][1].value, [8, 9])
    dropping = sg.utils.data.DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dropping) == 2 and len(list(dropping)) == 2
    a = sg.utils.data.DataLoader(ds, batch_size=3, shuffle=True, seed=5)
    b = sg.utils.data.DataLoader(ds, batch_size=3, shuffle=True,
                                 generator=np.random.default_rng(5))
    e1 = np.concatenate([yb.value for _, yb in a])
    e2 = np.concatenate([yb.value for _, yb in a])
    assert sorted(e1) == list(range(10)) and sorted(e2) == list(range(10))
    assert not (e1 == e2).all()                                  # a new order each epoch
    np.testing.assert_array_equal(np.concatenate([yb.value for _, yb in b]), e1)
    for xb, yb in a:                                             # rows stay paired
        np.testing.assert_array_equal(xb.value[:, 0], 2 * yb.value)
    sg.manual_seed(11)
    c1 = [yb.tolist() for _, yb in sg.utils.data.DataLoader(ds, batch_size=5, shuffle=True)]
    sg.manual_seed(11)
    c2 = [yb.tolist() for _, yb in sg.utils.data.DataLoader(ds, batch_size=5, shuffle=True)]
    assert c1 == c2


def test_data_loader_generic_dataset_and_errors():
    class Squares(sg.utils.data.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return sg.tensor([float(i)]), i * i

    xb, yb = next(iter(sg.utils.data.DataLoader(Squares(), batch_size=3)))
    assert xb.shape == (3, 1) and yb.tolist() == [0, 1, 4]
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        sg.utils.data.TensorDataset(sg.zeros(3), sg.zeros(4))
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        sg.utils.data.DataLoader(Squares(), batch_size=0)
    with pytest.raises(TypeError, match="not a symgrad Tensor"):
        sg.utils.data.TensorDataset(np.zeros(3))


# ----------------------------------------------------------------------------- torch parity
def _torch_pair(sg_mod, torch_mod, *inputs, grad_inputs=True, atol=1e-12):
    """Copy sg's state into torch's, run both on the inputs, compare outputs and grads."""
    torch = pytest.importorskip("torch")
    torch_mod.double()
    torch_mod.load_state_dict({k: torch.tensor(v) for k, v in sg_mod.state_dict().items()})
    sx = [sg.tensor(a, requires_grad=grad_inputs and a.dtype.kind == "f") for a in inputs]
    tx = [torch.tensor(a, requires_grad=grad_inputs and a.dtype.kind == "f") for a in inputs]
    ys, yt = sg_mod(*sx), torch_mod(*tx)
    np.testing.assert_allclose(ys.value, yt.detach().numpy(), rtol=1e-12, atol=atol)
    cot = np.random.default_rng(9).standard_normal(yt.shape)
    (ys * sg.tensor(cot)).sum().backward()
    (yt * torch.tensor(cot)).sum().backward()
    for (name, p), (tname, tp) in zip(sg_mod.named_parameters(), torch_mod.named_parameters()):
        assert name == tname
        np.testing.assert_allclose(p.grad.value, tp.grad.numpy(), rtol=1e-10, atol=atol)
    for a, b in zip(sx, tx):
        if b.grad is not None:
            np.testing.assert_allclose(a.grad.value, b.grad.numpy(), rtol=1e-10, atol=atol)
    for (name, buf), (tname, tb) in zip(sg_mod.named_buffers(), torch_mod.named_buffers()):
        assert name == tname
        np.testing.assert_allclose(buf.value, tb.numpy(), rtol=1e-12)
    return ys, yt


def test_torch_parity_activations_and_shape_layers():
    torch = pytest.importorskip("torch")
    x = _x(3, 4, 5, 6)
    for ours, theirs in [(nn.Sigmoid(), torch.nn.Sigmoid()), (nn.Tanh(), torch.nn.Tanh()),
                         (nn.GELU(), torch.nn.GELU()),
                         (nn.GELU("tanh"), torch.nn.GELU(approximate="tanh")),
                         (nn.SiLU(), torch.nn.SiLU()), (nn.ReLU(), torch.nn.ReLU()),
                         (nn.Flatten(), torch.nn.Flatten()),
                         (nn.Flatten(2), torch.nn.Flatten(2)),
                         (nn.MaxPool2d(2), torch.nn.MaxPool2d(2)),
                         (nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1)),
                         (nn.Dropout(0.3).eval(), torch.nn.Dropout(0.3).eval()),
                         (nn.Dropout(0.0), torch.nn.Dropout(0.0))]:
        _torch_pair(ours, theirs, x)


def test_torch_parity_parametrised_layers():
    torch = pytest.importorskip("torch")
    _torch_pair(nn.Linear(6, 3, seed=0), torch.nn.Linear(6, 3), _x(4, 6))
    _torch_pair(nn.Conv2d(4, 6, 3, stride=2, padding=1, seed=0),
                torch.nn.Conv2d(4, 6, 3, stride=2, padding=1), _x(2, 4, 7, 6))
    _torch_pair(nn.Conv2d(4, 6, (3, 2), groups=2, bias=False, dilation=(1, 2), seed=1),
                torch.nn.Conv2d(4, 6, (3, 2), groups=2, bias=False, dilation=(1, 2)),
                _x(2, 4, 7, 6))
    ln = nn.LayerNorm((5, 6))
    nn.init.normal_(ln.weight, generator=np.random.default_rng(1))
    nn.init.normal_(ln.bias, generator=np.random.default_rng(2))
    _torch_pair(ln, torch.nn.LayerNorm((5, 6)), _x(3, 4, 5, 6))
    _torch_pair(nn.LayerNorm(6, elementwise_affine=False),
                torch.nn.LayerNorm(6, elementwise_affine=False), _x(3, 6))
    emb = nn.Embedding(5, 3, padding_idx=2, seed=0)
    _torch_pair(emb, torch.nn.Embedding(5, 3, padding_idx=2), np.array([[0, 2, 4], [2, 1, 1]]),
                grad_inputs=False)


def test_torch_parity_batch_norm_train_then_eval():
    torch = pytest.importorskip("torch")
    for ours, theirs, shape in [
            (nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3), (6, 3)),
            (nn.BatchNorm1d(3, momentum=None), torch.nn.BatchNorm1d(3, momentum=None),
             (6, 3, 4)),
            (nn.BatchNorm1d(3, affine=False, momentum=0.3),
             torch.nn.BatchNorm1d(3, affine=False, momentum=0.3), (5, 3)),
            (nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3), (2, 3, 4, 4))]:
        if ours.affine:
            nn.init.uniform_(ours.weight, 0.5, 1.5, generator=np.random.default_rng(0))
        _torch_pair(ours, theirs, _x(*shape, seed=1))       # loads the fresh buffers, steps
        for seed in (2, 3):                                  # two more training steps
            ours(sg.tensor(_x(*shape, seed=seed)))
            theirs(torch.tensor(_x(*shape, seed=seed)))
        for k, v in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[k], v.numpy(), rtol=1e-12)
        ours.eval(), theirs.eval()
        x = _x(*shape, seed=4)
        np.testing.assert_allclose(ours(sg.tensor(x)).value,
                                   theirs(torch.tensor(x)).detach().numpy(), rtol=1e-12)


def test_torch_parity_loss_modules():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    p, t = np.array([[0.2, 0.7], [0.9, 0.4]]), np.array([[0.0, 1.0], [1.0, 0.5]])
    logits, labels = _x(4, 3), np.array([2, 0, 1, 1])
    w = np.array([0.5, 1.0, 2.0])
    cases = [
        (nn.L1Loss(), tnn.L1Loss(), p, t), (nn.MSELoss(), tnn.MSELoss(), p, t),
        (nn.HuberLoss(delta=0.3), tnn.HuberLoss(delta=0.3), p, t),
        (nn.SmoothL1Loss(beta=0.3, reduction="sum"), tnn.SmoothL1Loss(beta=0.3,
                                                                      reduction="sum"), p, t),
        (nn.BCELoss(), tnn.BCELoss(), p, t),
        (nn.BCEWithLogitsLoss(pos_weight=sg.tensor([2.0, 0.5])),
         tnn.BCEWithLogitsLoss(pos_weight=torch.tensor([2.0, 0.5], dtype=torch.float64)),
         logits[:2, :2], t),
        (nn.NLLLoss(weight=sg.tensor(w)),
         tnn.NLLLoss(weight=torch.tensor(w)), np.log(np.abs(logits) / 3 + 0.1), labels),
        (nn.CrossEntropyLoss(label_smoothing=0.1), tnn.CrossEntropyLoss(label_smoothing=0.1),
         logits, labels),
        (nn.KLDivLoss(reduction="batchmean"), tnn.KLDivLoss(reduction="batchmean"),
         np.log(p), t),
    ]
    for ours, theirs, a, b in cases:
        xs, xt = sg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        ls, lt = ours(xs, sg.tensor(b)), theirs(xt, torch.tensor(b))
        np.testing.assert_allclose(ls.item(), lt.item(), rtol=1e-12, err_msg=type(ours))
        ls.backward(), lt.backward()
        np.testing.assert_allclose(xs.grad.value, xt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_torch_parity_init_fans_and_gains():
    torch = pytest.importorskip("torch")
    for shape in [(7, 4), (8, 3, 5, 5), (6, 2, 3, 1), (3, 5, 2)]:
        assert nn.init._calculate_fan_in_and_fan_out(sg.zeros(*shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))
    for name, param in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                        ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                        ("selu", None)]:
        assert nn.init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)
