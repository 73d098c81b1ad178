"""Issue 13: training you can trust.  The issue's own failing cases, one test each.

The per-part suites go further: tests/symgrad/test_integrity.py, test_optimizers.py,
test_schedulers.py, test_save_load.py, test_nn_kit.py, test_cnn.py,
test_compile_guards.py and test_linear_time.py.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import symgrad as sg
from symgrad import nn


# ------------------------------------------------------------------ 1. integrity

def test_class_index_out_of_range_raises_index_error():
    with pytest.raises(IndexError):
        nn.CrossEntropyLoss()(sg.tensor([[1., 2.]]), sg.tensor([5]))


def test_load_state_dict_between_forward_and_backward_is_refused():
    m = nn.Linear(1, 1, bias=False, seed=0)
    x = sg.tensor([[3.0]])
    loss = (m(x) ** 2).sum()
    m.load_state_dict({"weight": np.array([[100.0]])})
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


@pytest.mark.parametrize("bad, kind", [
    (sg.zeros(1), RuntimeError),                      # (1,) on (3,): no silent broadcast
    (sg.zeros(3, dtype=sg.float32), RuntimeError),    # wrong dtype
    ([0.0, 0.0, 0.0], TypeError),                     # not a tensor
])
def test_grad_assignment_is_checked(bad, kind):
    p = nn.Parameter(sg.zeros(3))
    with pytest.raises(kind):
        p.grad = bad
    p.grad = None
    p.grad = sg.ones(3)
    assert p.grad.tolist() == [1.0, 1.0, 1.0]


def test_a_failing_step_changes_nothing():
    a, b = nn.Parameter(sg.tensor([1.0, 2.0])), nn.Parameter(sg.tensor([3.0]))
    opt = sg.optim.Adam([a, b], lr=0.1)
    (a.sum() + b.sum()).backward()
    opt.step()
    before = ([a.tolist(), b.tolist()], repr(opt.state_dict()))
    a.grad = sg.ones(2)
    b._grad = np.ones(2)       # a corrupt gradient on the last parameter
    with pytest.raises((RuntimeError, TypeError)):
        opt.step()
    assert ([a.tolist(), b.tolist()], repr(opt.state_dict())) == before


# ------------------------------------------------------------------ 2. state that resumes

def _run(steps, opt_state=None, params=None):
    w = nn.Parameter(sg.tensor([1.0, -2.0, 0.5]) if params is None else sg.tensor(params))
    opt = sg.optim.Adam([w], lr=0.05)
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    for _ in range(steps):
        opt.zero_grad()
        ((w - sg.tensor([3.0, 1.0, -1.0])) ** 2).sum().backward()
        opt.step()
    return w, opt


def test_ten_plus_save_load_plus_ten_equals_twenty(tmp_path):
    w20, _ = _run(20)
    w10, opt10 = _run(10)
    path = tmp_path / "ckpt.npz"
    sg.save({"w": w10.detach(), "opt": opt10.state_dict()}, path)
    state = sg.load(path)
    w, _ = _run(10, state["opt"], state["w"].numpy())
    assert w.tolist() == w20.tolist()          # bit for bit


def test_a_truncated_checkpoint_is_refused(tmp_path):
    path = tmp_path / "ckpt.npz"
    sg.save({"w": sg.tensor([1.0, 2.0])}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="ckpt.npz"):
        sg.load(path)


# ------------------------------------------------------------------ 3. optimizers, schedulers

def test_optimizers_and_schedulers_exist_and_take_numpy_scalars():
    w = nn.Parameter(sg.ones(2))
    for cls in (sg.optim.SGD, sg.optim.Adam, sg.optim.AdamW, sg.optim.RMSprop,
                sg.optim.Adagrad, sg.optim.LBFGS):
        cls([w], lr=np.float32(0.1))
    with pytest.raises(ValueError, match="lr"):
        sg.optim.SGD([w], lr=-1.0)
    S = sg.optim.lr_scheduler
    for name in ("StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR",
                 "LinearLR", "OneCycleLR", "ReduceLROnPlateau"):
        assert hasattr(S, name), name


def test_step_lr_halves_every_two_steps():
    w = nn.Parameter(sg.ones(1))
    opt = sg.optim.SGD([w], lr=1.0)
    sched = sg.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    assert lrs == [1.0, 0.5, 0.5, 0.25, 0.25]


# ------------------------------------------------------------------ 4. the nn kit

def test_layers_init_train_eval_and_data():
    for name in ("Sigmoid", "Tanh", "GELU", "SiLU", "Dropout", "LayerNorm", "BatchNorm1d",
                 "Embedding", "Conv2d", "MaxPool2d", "Flatten", "ModuleList", "ModuleDict"):
        assert hasattr(nn, name), name
    model = nn.Sequential(nn.Linear(4, 3, seed=0), nn.Dropout(0.5), nn.ReLU())
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    model.eval()
    x = sg.ones(2, 4)
    assert np.array_equal(model(x).detach().numpy(), model(x).detach().numpy())  # eval: no dropout
    assert not model[1].training
    w = nn.Parameter(sg.zeros(30, 20))
    nn.init.xavier_uniform_(w)
    bound = np.sqrt(6 / (20 + 30))
    drawn = np.abs(w.detach().numpy()).max()
    assert bound / 2 < drawn <= bound
    ds = sg.utils.data.TensorDataset(sg.arange(10.0), sg.arange(10))
    batches = list(sg.utils.data.DataLoader(ds, batch_size=4, drop_last=True))
    assert [b[0].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7]]


# ------------------------------------------------------------------ 5. compile never lies

def test_compile_retraces_when_a_value_read_differs():
    def f(x):
        return x * 2 if x.sum().item() > 0 else x * 3

    g = sg.compile(f)
    assert g(sg.tensor([1.0])).tolist() == [2.0]
    assert g(sg.tensor([-1.0])).tolist() == [-3.0]


def test_compile_sees_a_rebound_parameter():
    m = nn.Linear(1, 1, bias=False, seed=0)
    g = sg.compile(lambda x: m(x))
    x = sg.tensor([[1.0]])
    g(x)
    m.weight = nn.Parameter(sg.tensor([[5.0]]))
    assert g(x).tolist() == [[5.0]]


def test_compile_numbers_become_inputs_and_traces_are_bounded():
    g = sg.compile(lambda x, k: x * k)
    x = sg.tensor([1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # no cache-limit warning
        for k in range(50):
            assert g(x, float(k)).tolist() == [float(k)]
    assert g.cache_info().traces <= 2


# ------------------------------------------------------------------ 7. errors as PyTorch

def test_pytorch_errors():
    with pytest.raises(ValueError, match="expected sequence of length"):
        sg.tensor([[1.0, 2.0], [3.0]])
    with pytest.raises(RuntimeError, match="numel\\(\\) == 0"):
        sg.tensor([]).max()

    @sg.no_grad()
    def gen(x):
        yield (x * 2).requires_grad

    x = sg.tensor([1.0], requires_grad=True)
    assert list(gen(x)) == [False]


def test_compile_index_arguments_are_not_baked_in():
    g = sg.compile(lambda x, i: x[:, i].sum(0))
    x = sg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert [g(x, sg.tensor([k])).tolist() for k in (0, 2, 1)] == [[5.0], [9.0], [7.0]]
    with pytest.raises(IndexError, match="out of bounds"):
        g(x, sg.tensor([7]))
