"""The seed tutorial's four examples, with PyTorch's recorded outputs."""
import numpy as np
import pytest

import symgrad as sg


def test_example1_square():
    x = sg.tensor([5.0], requires_grad=True)
    f = x ** 2
    f.backward()
    assert repr(x.grad) == "tensor([10.])"
    assert sg.equal(x.grad, sg.tensor([10.0]))
    assert repr(f) == "tensor([25.], grad_fn=<PowBackward>)"


def test_graph_example_without_grad():
    x, y = sg.rand(3, 4, seed=0), sg.rand(3, 4, seed=1)
    z = x + y
    w = z * 2
    assert (z.grad_fn, w.grad_fn, w.requires_grad) == (None, None, False)


def test_graph_example_with_grad():
    x = sg.rand(3, 4, requires_grad=True, seed=0)
    y = sg.rand(3, 4, seed=1)
    z = x + y
    w = z * 2
    assert type(z.grad_fn).__name__ == "AddBackward"
    assert type(w.grad_fn).__name__ == "MulBackward"
    assert w.requires_grad is True
    assert x.grad_fn is None
    assert x.is_leaf is True and w.is_leaf is False
    (zf, _), (const, _) = w.grad_fn.next_functions
    assert zf is z.grad_fn and const is None
    assert type(z.grad_fn.next_functions[0][0]).__name__ == "AccumulateGrad"
    assert z.grad_fn.next_functions[0][0].variable is x


def test_example2_add():
    x = sg.tensor([1.0], requires_grad=True)
    f = x + 2
    f.backward()
    assert repr(x.grad) == "tensor([1.])"


def _train(dtype, record=None):
    w = sg.tensor([1.0], requires_grad=True, dtype=dtype)
    b = sg.tensor([0.0], requires_grad=True, dtype=dtype)
    x_train = sg.tensor([[1.0], [2.0], [3.0]], dtype=dtype)
    y_train = sg.tensor([[3.0], [5.0], [7.0]], dtype=dtype)
    optimizer = sg.optim.SGD([w, b], lr=0.01)
    for i in range(100):
        y_pred = w * x_train + b
        loss = sg.sum((y_pred - y_train) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if record is not None and i in (0, 1, 9, 49, 98, 99):
            record.append("Epoch [{}/{}], Loss: {:.4f}".format(i + 1, 100, loss.item()))
    return w, b


def test_linear_model_float32_matches_pytorch():
    w, b = _train(sg.float32)
    assert w.dtype == sg.float32 and b.dtype == sg.float32
    assert abs(w.item() - 2.100104570388794) < 1e-6
    assert abs(b.item() - 0.7724389433860779) < 1e-6


def test_linear_model_float64_matches_pytorch():
    lines = []
    w, b = _train(sg.float64, lines)
    assert abs(w.item() - 2.1001044717024104) < 1e-12
    assert abs(b.item() - 0.7724390062968837) < 1e-12
    assert [ln.split(": ")[1] for ln in lines] == [
        "29.0000", "12.9612", "0.1031", "0.0466", "0.0229", "0.0226"]


def test_demo_cli_prints_the_tour(capsys):
    from symgrad.cli import main
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "tensor([10.])" in out and "tensor([1.])" in out
    assert "AddBackward MulBackward True" in out
    assert "Epoch [100/100], Loss: 0.0226" in out
    assert "w = 2.1001044717024104, b = 0.7724390062968837" in out


@pytest.mark.parametrize("quick", [True])
def test_bench_seed_runs(quick):
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).parents[2] / "bench" / "seed.py"
    spec = importlib.util.spec_from_file_location("bench_seed", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = mod.run(quick=quick)
    names = [r["name"] for r in rows]
    assert names[:2] == ["numpy (hand-derived gradient)", "symgrad eager"]
    for r in rows:
        assert np.isclose(r["w"], 2.1001044717024104, atol=1e-6)
        assert r["median_s"] > 0
