"""Acceptance tests for issue 6: compiled programs, the nn kit, the benchmark suite.

Written from the issue's own words, through the public API only
(``import symgrad as sg``, ``import numeric``, ``python -m bench``).
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import numeric
import symgrad as sg

ROOT = Path(__file__).resolve().parents[2]


# -- 1. sg.compile -------------------------------------------------------------------------

def counting(fn):
    """``fn`` plus a list that grows by one each time ``fn`` is traced (called)."""
    calls = []

    def wrapped(*args):
        calls.append(1)
        return fn(*args)
    return wrapped, calls


def test_compile_traces_once_per_signature_shapes_dtypes_requires_grad():
    fn, calls = counting(lambda x: (x * x).sum())
    f = sg.compile(fn)
    for v in ([1.0, 2.0], [3.0, 4.0], [5.0, 6.0]):
        assert f(sg.tensor(v)).item() == pytest.approx(sum(e * e for e in v))
    assert len(calls) == 1                                       # same signature: one trace
    f(sg.tensor([1.0, 2.0, 3.0]))
    assert len(calls) == 2                                       # new shape
    out32 = f(sg.tensor([1.0, 2.0], dtype=sg.float32))
    assert len(calls) == 3 and out32.dtype == np.float32         # new dtype
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    out = f(x)
    assert len(calls) == 4                                       # new requires_grad
    out.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    f(sg.tensor([7.0, 8.0]))
    f(sg.tensor([7.0, 8.0], requires_grad=True))
    assert len(calls) == 4                                       # all cached


def test_compile_as_decorator_and_value_matches_eager():
    def loss(x, y):
        return ((x.exp() * y - x.sin()) ** 2).mean()
    compiled = sg.compile(loss)
    rng = np.random.default_rng(0)
    for _ in range(3):
        xv, yv = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
        xe, xc = sg.tensor(xv, requires_grad=True), sg.tensor(xv, requires_grad=True)
        e = loss(xe, sg.tensor(yv))
        c = compiled(xc, sg.tensor(yv))
        assert abs(e.item() - c.item()) <= 1e-15 * max(1.0, abs(e.item()))
        e.backward()
        c.backward()
        np.testing.assert_allclose(xc.grad.numpy(), xe.grad.numpy(), rtol=1e-14, atol=1e-15)


def test_compiled_call_does_not_rerun_the_python_function():
    fn, calls = counting(lambda x, w: ((x @ w).tanh()).sum())
    f = sg.compile(fn)
    w = sg.tensor(np.ones((3, 2)), requires_grad=True)
    for k in range(5):
        out = f(sg.tensor(np.full((4, 3), float(k))), w)
        out.backward()
    assert len(calls) == 1
    assert out.is_leaf is False and out.grad_fn is not None
    # the result is one node: its inputs are the tensors that need gradients, not op nodes
    assert all(i.op is None for i in out.inputs)


def test_backward_fills_grad_and_optimizers_work_unchanged():
    w = sg.tensor([1.0], requires_grad=True)
    b = sg.tensor([0.0], requires_grad=True)
    opt = sg.optim.SGD([w, b], lr=0.01)
    f = sg.compile(lambda x, y: ((w * x + b - y) ** 2).sum())
    x, y = sg.tensor([[1.0], [2.0], [3.0]]), sg.tensor([[3.0], [5.0], [7.0]])
    loss = f(x, y)
    assert loss.item() == 29.0
    opt.zero_grad()
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), [-2 * (2 + 6 + 12)])
    np.testing.assert_allclose(b.grad.numpy(), [-2 * (2 + 3 + 4)])
    assert x.grad is None and y.grad is None
    opt.step()
    assert w.item() == pytest.approx(1.4) and b.item() == pytest.approx(0.18)
    assert f(x, y).item() == pytest.approx(12.9612, abs=1e-4)    # the seed's epoch-2 loss


def test_adam_through_compile_matches_eager():
    def run(compiled):
        w = sg.tensor([0.5, -0.5], requires_grad=True)
        opt = sg.optim.Adam([w], lr=0.1)

        def loss(x):
            return ((x @ w).sin() ** 2).sum()
        f = sg.compile(loss) if compiled else loss
        x = sg.tensor([[1.0, 2.0], [3.0, -1.0]])
        for _ in range(20):
            opt.zero_grad()
            f(x).backward()
            opt.step()
        return w.detach().numpy()
    np.testing.assert_allclose(run(True), run(False), rtol=1e-13, atol=1e-15)


def seed_loop(compiled: bool):
    w = sg.tensor([1.0], requires_grad=True)
    b = sg.tensor([0.0], requires_grad=True)
    x, y = sg.tensor([[1.0], [2.0], [3.0]]), sg.tensor([[3.0], [5.0], [7.0]])
    opt = sg.optim.SGD([w, b], lr=0.01)

    def loss_fn(x, y):
        return ((w * x + b - y) ** 2).sum()
    f = sg.compile(loss_fn) if compiled else loss_fn
    for _ in range(100):
        loss = f(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.item(), b.item(), loss.item()


def test_done_when_seed_100_steps_compiled_equals_eager_1e12():
    we, be, le = seed_loop(False)
    wc, bc, lc = seed_loop(True)
    assert abs(wc - we) <= 1e-12 and abs(bc - be) <= 1e-12
    assert wc == pytest.approx(2.100104570388794, abs=1e-6)
    assert bc == pytest.approx(0.7724389433860779, abs=1e-6)
    assert round(lc, 4) == 0.0226


def mlp_params(compiled: bool, steps: int = 50):
    """The issue's MLP: 784-256-10, relu, softmax cross-entropy, batch 128, float64, SGD."""
    model = sg.nn.Sequential(sg.nn.Linear(784, 256, seed=0), sg.nn.ReLU(),
                             sg.nn.Linear(256, 10, seed=1))
    loss_fn = sg.nn.CrossEntropyLoss()
    opt = sg.optim.SGD(model.parameters(), lr=0.05)

    def step(x, t):
        return loss_fn(model(x), t)
    f = sg.compile(step) if compiled else step
    rng = np.random.default_rng(0)
    for _ in range(steps):
        x = sg.tensor(rng.standard_normal((128, 784)))
        t = sg.tensor(rng.integers(0, 10, 128))
        opt.zero_grad()
        loss = f(x, t)
        loss.backward()
        opt.step()
    return model.state_dict(), loss.item()


def test_done_when_mlp_50_steps_compiled_equals_eager_1e12():
    eager, le = mlp_params(False)
    comp, lc = mlp_params(True)
    assert list(eager) == ["0.weight", "0.bias", "2.weight", "2.bias"] == list(comp)
    assert eager["0.weight"].shape == (256, 784) and eager["2.bias"].shape == (10,)
    for k in eager:
        assert comp[k].dtype == np.float64
        np.testing.assert_allclose(comp[k], eager[k], rtol=0, atol=1e-12)
    assert abs(lc - le) <= 1e-12
    assert 0 < lc < np.log(10) + 0.5                               # it trains


def test_retraces_for_new_signature_but_reads_new_parameter_values():
    w = sg.tensor([1.0, 1.0], requires_grad=True)
    fn, calls = counting(lambda x: (x * w).sum())
    f = sg.compile(fn)
    assert f(sg.tensor([1.0, 2.0])).item() == 3.0
    w.value[...] = [2.0, 3.0]                   # what an optimizer step does
    assert f(sg.tensor([1.0, 2.0])).item() == 8.0
    assert len(calls) == 1


def test_changed_python_constant_is_documented():
    text = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    assert "torch.compile" in text and "jax.jit" in text
    assert "baked in" in text and "clear()" in text
    scale = [2.0]
    f = sg.compile(lambda x: (x * scale[0]).sum())
    assert f(sg.tensor([1.0])).item() == 2.0
    scale[0] = 3.0
    assert f(sg.tensor([1.0])).item() == 2.0              # as documented: traced once
    f.clear()
    assert f(sg.tensor([1.0])).item() == 3.0


def program_of(f, *args) -> "numeric.Program":
    return f.program(*args)


def test_program_is_a_numeric_program_and_prints_as_python_source():
    w = sg.tensor(np.ones((3, 1)), requires_grad=True)
    f = sg.compile(lambda X, y: ((X @ w - y) ** 2).mean())
    X, y = sg.tensor(np.ones((5, 3))), sg.tensor(np.zeros((5, 1)))
    p = program_of(f, X, y)
    assert isinstance(p, numeric.Program)
    assert isinstance(p, numeric.compile.Program)
    src = str(p)
    assert "def forward(" in src and "def backward(" in src and "np." in src
    compile(src, "<program>", "exec")                        # valid Python
    print(p)                                                  # printing works


def forward_and_backward(src: str) -> tuple[str, str]:
    fwd, _, bwd = src.partition("def backward(")
    return fwd, bwd


def test_cse_computes_a_repeated_subexpression_once():
    f = sg.compile(lambda x: (x.sin() * x.sin() + x.sin()).sum())
    x = sg.tensor([0.1, 0.2, 0.3], requires_grad=True)
    fwd, _ = forward_and_backward(str(f.program(x)))
    assert fwd.count("sin(") == 1
    f(x).backward()
    xv = np.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.sin(xv) * np.cos(xv) + np.cos(xv),
                               rtol=1e-14)


def test_dce_no_gradient_work_for_the_data_matrix():
    w = sg.tensor(np.ones((3, 1)), requires_grad=True)
    f = sg.compile(lambda X, y: ((X @ w - y) ** 2).mean())
    X, y = sg.tensor(np.ones((5, 3))), sg.tensor(np.zeros((5, 1)))
    p = f.program(X, y)
    _, bwd = forward_and_backward(str(p))
    # the backward returns one gradient (w's) and never multiplies by w.T for X
    assert len(p.wrt) == 1
    assert ".T" in bwd and "@ x2.T" not in bwd and "x2.T" not in bwd.replace("x0.T", "")
    # unused forward work is dropped too
    g = sg.compile(lambda x: (x.exp(), x.sin())[0].sum())
    fwd, _ = forward_and_backward(str(g.program(sg.tensor([1.0]))))
    assert "sin" not in fwd


def test_constant_folding_happens_once_at_build_time():
    x = sg.tensor(np.ones(4))
    # a tensor made inside the function from Python values is a constant of the program
    g = sg.compile(lambda x: (x * (sg.tensor(2.0).exp() * 3)).sum())
    fwd, _ = forward_and_backward(str(g.program(x)))
    assert "exp" not in fwd
    assert g(x).item() == pytest.approx(4 * 3 * np.exp(2.0))
    assert g.program(x).stats["folded"] >= 2


def test_out_buffer_reuse():
    f = sg.compile(lambda x: (((x * 2).exp() + 1).sin() * 3).sum())
    x = sg.tensor(np.linspace(0, 1, 1000))
    src = str(f.program(x))
    assert "out=" in src
    np.testing.assert_allclose(f(x).item(), (np.sin(np.exp(x.numpy() * 2) + 1) * 3).sum(),
                               rtol=1e-14)
    # reusing buffers never corrupts the caller's arrays
    before = x.numpy().copy()
    f(x)
    np.testing.assert_array_equal(x.numpy(), before)


def test_compiled_results_are_not_overwritten_by_the_next_call():
    f = sg.compile(lambda x: (x * 2).exp() + 1)
    a = f(sg.tensor(np.zeros(3)))
    b = f(sg.tensor(np.ones(3)))
    np.testing.assert_array_equal(a.numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_allclose(b.numpy(), np.exp(2.0) + 1)


# -- 2. sg.nn ------------------------------------------------------------------------------

def test_nn_names_exist():
    for name in ("Module", "Parameter", "Linear", "Sequential", "ReLU", "Tanh", "MSELoss",
                 "CrossEntropyLoss"):
        assert hasattr(sg.nn, name), name


def test_parameter_is_a_leaf_tensor_that_requires_grad():
    p = sg.nn.Parameter(np.ones(3))
    assert isinstance(p, sg.Tensor) and p.requires_grad and p.is_leaf
    assert isinstance(p, sg.nn.Parameter)
    q = sg.nn.Parameter(sg.tensor([1.0, 2.0]))
    assert q.requires_grad and q.tolist() == [1.0, 2.0]


def test_module_parameters_named_parameters_state_dict():
    class Net(sg.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = sg.nn.Linear(4, 3, seed=0)
            self.act = sg.nn.Tanh()
            self.fc2 = sg.nn.Linear(3, 2, seed=1)
            self.scale = sg.nn.Parameter(np.array([2.0]))

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x))) * self.scale
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    # as PyTorch: the module's own parameters first, then each child's, in attribute order
    assert names == ["scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert len(list(net.parameters())) == 5
    sd = net.state_dict()
    assert list(sd) == names
    assert all(type(v) is np.ndarray for v in sd.values())
    sd["scale"][...] = 99.0                                   # copies, not views
    assert net.scale.item() == 2.0
    out = net(sg.tensor(np.ones((5, 4))))
    assert out.shape == (5, 2)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_load_state_dict_round_trip_and_keeps_optimizer_working():
    a = sg.nn.Sequential(sg.nn.Linear(3, 4, seed=0), sg.nn.ReLU(), sg.nn.Linear(4, 1, seed=1))
    b = sg.nn.Sequential(sg.nn.Linear(3, 4, seed=5), sg.nn.ReLU(), sg.nn.Linear(4, 1, seed=6))
    opt = sg.optim.SGD(b.parameters(), lr=0.1)
    b.load_state_dict(a.state_dict())
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k], v)
    x = sg.tensor(np.ones((2, 3)))
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())
    b(x).sum().backward()
    opt.step()                                               # the same tensors, updated
    assert not np.array_equal(b.state_dict()["0.weight"], a.state_dict()["0.weight"])
    with pytest.raises(KeyError, match="missing"):
        b.load_state_dict({"0.weight": np.ones((4, 3))})
    with pytest.raises(ValueError, match="shape"):
        b.load_state_dict({**a.state_dict(), "0.weight": np.ones((3, 4))})


def test_state_dict_saves_with_numpy_no_pickle(tmp_path):
    m = sg.nn.Sequential(sg.nn.Linear(3, 2, seed=0))
    path = tmp_path / "w.npz"
    np.savez(path, **m.state_dict())
    m2 = sg.nn.Sequential(sg.nn.Linear(3, 2, seed=9))
    with np.load(path, allow_pickle=False) as data:
        m2.load_state_dict(dict(data))
    np.testing.assert_array_equal(m2.state_dict()["0.weight"], m.state_dict()["0.weight"])


def test_layers_and_losses_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 5))
    t = rng.integers(0, 3, 6)
    model = sg.nn.Sequential(sg.nn.Linear(5, 4), sg.nn.Tanh(), sg.nn.Linear(4, 4),
                             sg.nn.ReLU(), sg.nn.Linear(4, 3))
    tm = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 4),
                             torch.nn.ReLU(), torch.nn.Linear(4, 3)).double()
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    assert list(tm.state_dict()) == list(model.state_dict())
    for compiled in (False, True):
        model.zero_grad()
        tm.zero_grad()

        def loss(x, t):
            return sg.nn.CrossEntropyLoss()(model(x), t)
        f = sg.compile(loss) if compiled else loss
        ours = f(sg.tensor(x), sg.tensor(t))
        theirs = torch.nn.CrossEntropyLoss()(tm(torch.from_numpy(x)), torch.from_numpy(t))
        assert ours.item() == pytest.approx(theirs.item(), rel=1e-13)
        ours.backward()
        theirs.backward()
        for (name, p), tp in zip(model.named_parameters(), tm.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12,
                                       atol=1e-14, err_msg=name)
    a, b = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    for red in ("mean", "sum"):
        ours = sg.nn.MSELoss(reduction=red)(sg.tensor(a), sg.tensor(b)).item()
        theirs = torch.nn.MSELoss(reduction=red)(torch.from_numpy(a), torch.from_numpy(b))
        assert ours == pytest.approx(theirs.item(), rel=1e-14)


def test_cross_entropy_float32_and_new_targets_under_compile():
    model = sg.nn.Linear(3, 4, seed=0, dtype=sg.float32)
    loss_fn = sg.nn.CrossEntropyLoss()
    f = sg.compile(lambda x, t: loss_fn(model(x), t))
    x = sg.tensor(np.ones((2, 3), np.float32))
    l0 = f(x, sg.tensor([0, 1]))
    l1 = f(x, sg.tensor([2, 3]))
    assert l0.dtype == np.float32
    e0 = loss_fn(model(x), sg.tensor([0, 1]))
    e1 = loss_fn(model(x), sg.tensor([2, 3]))
    assert l0.item() == pytest.approx(e0.item(), rel=1e-6)
    assert l1.item() == pytest.approx(e1.item(), rel=1e-6)   # targets are read at every call


def test_mse_loss_trains_linear_model_compiled():
    model = sg.nn.Linear(1, 1, seed=0)
    opt = sg.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = sg.nn.MSELoss()
    f = sg.compile(lambda x, y: loss_fn(model(x), y))
    x = sg.tensor([[1.0], [2.0], [3.0]])
    y = sg.tensor([[3.0], [5.0], [7.0]])
    for _ in range(2000):
        opt.zero_grad()
        f(x, y).backward()
        opt.step()
    assert model.weight.item() == pytest.approx(2.0, abs=1e-4)
    assert model.bias.item() == pytest.approx(1.0, abs=1e-4)


# -- 3. bench ------------------------------------------------------------------------------

def run_bench(*args: str, timeout: int = 300) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    return proc, time.perf_counter() - t0


@pytest.mark.serial      # timed: `make test` runs it alone, after the parallel part
def test_bench_quick_runs_every_workload_under_30_seconds():
    from tests.bench_quick import quick_bench
    proc, elapsed = quick_bench()   # the session's one --quick run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    for name in ("seed", "linreg", "mlp", "scalar", "symbolic"):
        assert f"## {name}" in out, name
    assert "median" in out and "p25" in out and "p75" in out and "ratio" in out
    assert "numpy" in out and "symgrad compiled" in out and "symgrad eager" in out
    for shape in ("linreg", "mlp float32", "mlp float64"):
        assert shape in out
    total = float(re.search(r"total ([\d.]+) s", out).group(1))
    assert total < 30, f"--quick took {total:.1f} s"
    assert elapsed < 60


def test_bench_only_name_and_seed_includes_compiled():
    proc, _ = run_bench("--quick", "--only", "seed")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "numpy" in out and "symgrad eager" in out and "symgrad compiled" in out
    assert "## linreg" not in out and "## mlp" not in out


def test_bench_skips_missing_systems_with_a_note():
    import bench.harness as harness
    from bench import linreg
    real = harness.available
    try:
        harness.available = lambda name: False if name in ("torch", "jax") else real(name)
        rows = linreg.run(quick=True)
    finally:
        harness.available = real
    notes = {r["system"]: r["note"] for r in rows}
    assert any("torch" in s and "not installed" in n for s, n in notes.items())
    assert any("jax" in s and "not installed" in n for s, n in notes.items())
    timed = [r for r in rows if r["median_ms"] is not None]
    assert {r["system"] for r in timed} >= {"numpy (hand-derived)", "symgrad eager",
                                            "symgrad compiled"}
    for r in timed:
        assert r["p25_ms"] <= r["median_ms"] <= r["p75_ms"] and r["ratio"] > 0


def test_make_bench_target():
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^bench:", text, re.M)
    assert "-m bench" in text


def test_performance_doc_has_table_machine_rerun_and_targets():
    text = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    assert "python -m bench" in text and "make bench" in text
    assert "Machine" in text or "machine" in text
    for target in ("1.2x", "1.5x", "10x"):
        assert target in text
    assert "not met" in text and re.search(r"\|\s*met\b", text)     # both kinds marked
    for workload in ("seed", "linreg", "mlp", "scalar", "memory"):
        assert workload in text
