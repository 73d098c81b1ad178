"""symgrad.train: CSV reading, progress reporting, the linear fit and its exact optimum."""
from __future__ import annotations

import io
import time

import numpy as np
import pytest
import sympy

from symgrad import train
from symgrad.train import (LinearOptimum, Progress, TrainingDiverged, fit_linear, linear_optimum,
                           read_xy_csv)


def write(tmp_path, text, name="d.csv"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


# ------------------------------------------------------------------------------ CSV
@pytest.mark.parametrize("text", [
    "x,y\n1,3\n2,5\n",
    "X, Y\n1,3\n2,5\n",
    "y,x\n3,1\n5,2\n",
    "id,x,note,y\n7,1,a,3\n8,2,b,5\n",
    "1,3\n2,5\n",
    "# comment\n\n1, 3\n\n2 ,5\n",
    "t,v\n1,3\n2,5\n",
])
def test_read_xy_csv_layouts(text, tmp_path):
    x, y = read_xy_csv(write(tmp_path, text))
    assert x.dtype == np.float64 and y.dtype == np.float64
    np.testing.assert_array_equal(x, [1.0, 2.0])
    np.testing.assert_array_equal(y, [3.0, 5.0])


@pytest.mark.parametrize("text,message", [
    ("1,3\n2,x5\n", "line 2: y is not a number: 'x5'"),
    ("1,3\nabc,5\n", "line 2: x is not a number: 'abc'"),
    ("# c\n1,3\n\n2\n", "line 4: expected two numbers x,y, got 1 field(s): '2'"),
    ("x,y\n1,inf\n", "line 2: y is inf; values must be finite"),
    ("", "has no data rows"),
    ("\n\n", "has no data rows"),
    ("x,y\n", "has a header but no data rows"),
    ("a,b,c\n1,2,3\n", "header ['a', 'b', 'c'] has no columns named x and y"),
    ("id,x,y\n1,2\n", "line 2: expected two numbers x,y, got 2 field(s)"),
])
def test_read_xy_csv_errors_name_the_line(text, message, tmp_path):
    with pytest.raises(ValueError, match=None) as info:
        read_xy_csv(write(tmp_path, text))
    assert message in str(info.value)


def test_read_xy_csv_unreadable(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        read_xy_csv(str(tmp_path / "missing.csv"))
    p = tmp_path / "bin.csv"
    p.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(ValueError, match="not a readable CSV text file"):
        read_xy_csv(str(p))


# ------------------------------------------------------------------------------ progress
def test_progress_plain_lines_when_not_a_tty():
    buf = io.StringIO()
    p = Progress(100, file=buf)  # StringIO is not a TTY
    for k in range(1, 101):
        p(k, 1.0 / k)
    lines = buf.getvalue().splitlines()
    assert lines[0] == "Epoch [1/100], Loss: 1.0000"
    assert lines[1] == "Epoch [10/100], Loss: 0.1000"
    assert lines[-1] == "Epoch [100/100], Loss: 0.0100"
    assert len(lines) == 11


def test_progress_bar_on_a_tty_rewrites_one_line():
    buf = io.StringIO()
    p = Progress(50, file=buf, tty=True, width=10)
    for k in range(1, 51):
        p(k, 2.0)
    text = buf.getvalue()
    assert text.startswith("\rEpoch  1/50 ░░░░░░░░░░ loss 2.0000")
    assert text.endswith("\rEpoch 50/50 ██████████ loss 2.0000\n")
    assert text.count("\n") == 1


def test_progress_bar_throttles_redraws():
    buf = io.StringIO()
    p = Progress(100_000, file=buf, tty=True)
    start = time.perf_counter()
    for k in range(1, 100_001):
        p(k, 1.0)
    assert time.perf_counter() - start < 5
    assert buf.getvalue().count("\r") < 1000


def test_huge_losses_switch_to_exponent_format():
    assert train.format_loss(0.02261) == "0.0226"
    assert train.format_loss(-3.0) == "-3.0000"
    assert train.format_loss(2.5e12) == "2.5000e+12"
    assert train.format_loss(4.4e-15) == "4.4000e-15"
    assert train.format_loss(0.0) == "0.0000"


# ------------------------------------------------------------------------------ fit
def test_fit_linear_reproduces_the_seed_bit_for_bit():
    seen = []
    fit = fit_linear(train.SEED_X, train.SEED_Y, callback=lambda e, v: seen.append((e, v)))
    assert (fit.w, fit.b) == (2.1001044717024104, 0.7724390062968837)
    assert [f"{v:.4f}" for v in fit.losses[:2]] == ["29.0000", "12.9612"]
    assert f"{fit.losses[9]:.4f}" == "0.1031" and f"{fit.losses[-1]:.4f}" == "0.0226"
    assert seen == list(enumerate(fit.losses, start=1))


def test_fit_linear_compiled_equals_eager():
    eager = fit_linear([0.5, 1.5, -2.0, 3.0], [1.0, 2.0, -3.5, 6.0], epochs=30, lr=0.02)
    compiled = fit_linear([0.5, 1.5, -2.0, 3.0], [1.0, 2.0, -3.5, 6.0], epochs=30, lr=0.02,
                          compiled=True)
    assert (compiled.w, compiled.b) == (eager.w, eager.b)
    assert compiled.losses == eager.losses


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fit_linear_matches_torch(optimizer):
    torch = pytest.importorskip("torch", reason="torch is the optional oracle")
    x = [1.0, 2.0, 3.0, 4.5]
    y = [2.0, 4.5, 5.5, 9.0]
    w = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([0.0], dtype=torch.float64, requires_grad=True)
    xt = torch.tensor(x, dtype=torch.float64).reshape(-1, 1)
    yt = torch.tensor(y, dtype=torch.float64).reshape(-1, 1)
    cls = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
    opt = cls([w, b], lr=0.01)
    for _ in range(60):
        loss = torch.sum((w * xt + b - yt) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    fit = fit_linear(x, y, epochs=60, lr=0.01, optimizer=optimizer)
    assert fit.w == pytest.approx(w.item(), rel=1e-13, abs=1e-14)
    assert fit.b == pytest.approx(b.item(), rel=1e-13, abs=1e-14)


def test_fit_linear_detects_divergence():
    with pytest.raises(TrainingDiverged, match=r"the loss is (inf|nan) at epoch \d+; lower"):
        fit_linear(train.SEED_X, train.SEED_Y, lr=1e150, epochs=50)


@pytest.mark.parametrize("kwargs,message", [
    ({"optimizer": "rmsprop"}, "optimizer must be 'sgd' or 'adam'"),
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"lr": float("nan")}, "lr must be a positive finite number"),
    ({"lr": 0.0}, "lr must be a positive finite number"),
])
def test_fit_linear_validates(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_linear(train.SEED_X, train.SEED_Y, **kwargs)
    with pytest.raises(ValueError, match="same positive length"):
        fit_linear([1.0, 2.0], [1.0])


# ------------------------------------------------------------------------------ optimum
def test_linear_optimum_of_the_seed_is_exact():
    opt = linear_optimum(train.SEED_X, train.SEED_Y)
    w, b = sympy.Symbol("w"), sympy.Symbol("b")
    assert opt.gradient == {"w": 28 * w + 12 * b - 68, "b": 12 * w + 6 * b - 30}
    assert opt.solution == {"w": 2, "b": 1}
    assert all(isinstance(v, sympy.Integer) for v in opt.solution.values())


def test_linear_optimum_uses_decimal_rationals():
    opt = linear_optimum([0.0, 1.0], [0.1, 0.3])
    assert opt.solution == {"w": sympy.Rational(1, 5), "b": sympy.Rational(1, 10)}


def test_linear_optimum_agrees_with_least_squares_on_random_data():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    opt = linear_optimum(x, y)
    w_ls, b_ls = np.polyfit(x, y, 1)
    assert float(opt.solution["w"]) == pytest.approx(w_ls, rel=1e-12)
    assert float(opt.solution["b"]) == pytest.approx(b_ls, rel=1e-12)


def test_linear_optimum_is_fast_on_large_files():
    x = np.arange(20_000, dtype=np.float64) / 7
    start = time.perf_counter()
    opt = linear_optimum(x, 3 * x - 2)
    assert time.perf_counter() - start < 10
    assert float(opt.solution["w"]) == pytest.approx(3.0, rel=1e-12)
    assert float(opt.solution["b"]) == pytest.approx(-2.0, rel=1e-12)


def test_linear_optimum_not_unique_when_all_x_are_equal():
    opt = linear_optimum([2.0, 2.0], [1.0, 3.0])
    assert opt.solution is None
    assert opt.gradient_text() == {"w": "16*w + 8*b - 16", "b": "8*w + 4*b - 8"}


def test_gradient_text_orders_w_then_b_then_constant():
    w, b = sympy.Symbol("w"), sympy.Symbol("b")
    opt = LinearOptimum({"w": -b + 3 * w, "b": sympy.Integer(0)}, None)
    assert opt.gradient_text() == {"w": "3*w - b", "b": "0"}


# ------------------------------------------------------------------------------ plot
def test_plot_losses_without_matplotlib_raises_with_the_install_hint(monkeypatch, tmp_path):
    monkeypatch.setattr(train, "have_matplotlib", lambda: False)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'symgrad\[plot\]'"):
        train.plot_losses([3.0, 2.0, 1.0], str(tmp_path / "l.png"))
    assert not (tmp_path / "l.png").exists()


def test_plot_losses_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib not installed (symgrad[plot] extra)")
    target = tmp_path / "l.png"
    train.plot_losses([29.0, 12.0, 0.1, 0.02], str(target))
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_linear_optimum_renders_as_latex_in_notebooks():
    latex = linear_optimum(train.SEED_X, train.SEED_Y)._repr_latex_()
    assert latex == (r"$\frac{\partial L}{\partial w} = 28 w + 12 b - 68, \quad "
                     r"\frac{\partial L}{\partial b} = 12 w + 6 b - 30 \quad\Rightarrow\quad "
                     r"w = 2,\ b = 1$")
    assert linear_optimum([2.0, 2.0], [1.0, 3.0])._repr_latex_().endswith(
        "$ (no unique optimum: all x are equal)")
