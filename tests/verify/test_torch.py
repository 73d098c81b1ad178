"""verify.torch: PyTorch gradients checked against exact ones (skipped without torch)."""
import subprocess
import sys

import pytest
import sympy

torch = pytest.importorskip("torch", reason="torch not installed (pip install symgrad[torch])")
import symgrad as sg  # noqa: E402
import verify.torch as vt  # noqa: E402

F = torch.nn.functional


class GoodSoftplus(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return F.softplus(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.sigmoid(x)


class BadSoftplus(GoodSoftplus):
    """Wrong only for x < -20: a 'stability branch' that returns 0 there."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.where(x < -20, torch.zeros_like(x), torch.sigmoid(x))


@pytest.mark.parametrize("fn", [
    lambda x: (torch.tanh(x) * x).sum(),
    lambda x: F.softplus(x).sum(),
    lambda x: torch.sigmoid(x) / (1 + x ** 2),
    lambda x: torch.relu(x) * 2 + x.abs(),
    lambda x: F.log_softmax(x, 0),
    lambda x: torch.logsumexp(torch.stack([x, 2 * x]), dim=0),
    lambda x: x.reshape(3, 1).T @ x.view(3, 1),
    lambda x: torch.where(x > 0, x ** 2, torch.exp(x)),
    lambda x: torch.cat([x[1:], x[:2]]).max(),
    lambda x: torch.clamp(x, -0.5, 0.5).sum() + torch.erf(x).mean(),
    lambda x: torch.atan2(x, torch.ones(3, dtype=torch.float64) * 2).sum(),
])
def test_torch_builtin_gradients_pass(fn):
    r = vt.check(fn, torch.tensor([0.3, -1.2, 0.7], dtype=torch.float64), n_points=4)
    assert r.passed, str(r)
    assert r.passes["extreme"] > 0 and r.passes["sampled"] > 0


def test_two_inputs_and_matmul():
    def f(w, x):
        return torch.softmax(x @ w, dim=-1).amax(dim=1).sum()
    r = vt.check(f, torch.randn(4, 3), torch.randn(2, 4), n_points=3, extremes=False)
    assert r.passed, str(r)
    assert [i.name for i in r.inputs] == ["w", "x"]


def test_unknown_op_is_named_with_a_hint():
    r = vt.check(lambda x: F.gelu(x).sum(), torch.randn(3))
    assert not r.passed
    assert "torch.nn.functional.gelu is not in symgrad's vocabulary" in r.failures[0]
    assert "exact=" in r.failures[0]


def test_wrong_softplus_backward_flagged_where_gradcheck_passes():
    x = torch.tensor([0.5, -1.3, 2.0], dtype=torch.float64, requires_grad=True)
    # torch's own referee passes the wrong backward at a typical point ...
    assert torch.autograd.gradcheck(BadSoftplus.apply, (x,))
    # ... the exact referee samples extremes (x = -30, -60, ...) and flags it
    bad = vt.check(BadSoftplus.apply, x)
    assert not bad.passed
    assert any("extreme" in f for f in bad.failures), bad.failures
    # the exact derivative from the traced forward, given as symgrad, or as SymPy
    assert vt.check(GoodSoftplus.apply, x).passed
    t = sympy.Symbol("x0")
    assert vt.check(GoodSoftplus.apply, x, exact=lambda u: sg.softplus(u)).passed
    assert vt.check(GoodSoftplus.apply, x, exact=sympy.log(1 + sympy.exp(t))).passed
    assert not vt.check(BadSoftplus.apply, x, exact=sympy.log(1 + sympy.exp(t))).passed


def test_wrong_scale_backward_flagged_at_every_point():
    class Off(GoodSoftplus):
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * torch.sigmoid(x) * 1.0001
    r = vt.check(Off.apply, torch.randn(3), n_points=3, extremes=False)
    assert not r.passed and r.inputs[0].mismatches > 0


def test_report_raises_on_request():
    r = vt.check(BadSoftplus.apply, torch.randn(2))
    with pytest.raises(AssertionError):
        r.raise_if_failed()


def test_trace_returns_a_symgrad_graph():
    out, syms, unknown = vt.trace(lambda a: torch.exp(a).sum(), torch.ones(2))
    assert unknown == [] and syms[0].shape == (2,)
    assert str(sg.diff(out, syms[0], simplify=False)) != ""


def test_importing_verify_and_symgrad_never_imports_torch_or_jax():
    code = ("import sys, symgrad, verify, verify.pytest_plugin; "
            "print('torch' in sys.modules, 'jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_missing_torch_message_names_the_extra():
    code = ("import sys; sys.modules['torch'] = None\n"
            "try:\n    import verify.torch\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "verify.torch needs PyTorch: pip install symgrad[torch]"
