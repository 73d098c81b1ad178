"""erf and atan2: the two ops added through the one-declaration-per-op path.

Values against scipy/numpy (and torch when installed), gradients against finite
differences, closed forms from SymPy's own diff, float32, broadcasting, the
parser, verify.check, and where ``erf`` lives: exactly three source files.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import sympy
from scipy import special

import symgrad as sg
import verify

ROOT = Path(__file__).resolve().parent.parent
rng = np.random.default_rng(7)


def fd_grad(f, xs, i, eps=1e-6):
    """Central differences of the scalar sum(f(*xs)) with respect to xs[i]."""
    x = xs[i]
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        hi, lo = [a.copy() for a in xs], [a.copy() for a in xs]
        hi[i][idx] += eps
        lo[i][idx] -= eps
        g[idx] = (np.sum(f(*hi)) - np.sum(f(*lo))) / (2 * eps)
    return g


def test_erf_values_and_gradient():
    v = rng.normal(size=(3, 4))
    x = sg.tensor(v, requires_grad=True)
    y = sg.erf(x)
    np.testing.assert_allclose(y.detach().numpy(), special.erf(v), rtol=1e-15)
    assert y.grad_fn.name() == "ErfBackward"
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 / np.sqrt(np.pi) * np.exp(-v * v), rtol=1e-14)
    np.testing.assert_allclose(x.grad.numpy(), fd_grad(special.erf, [v], 0), rtol=1e-7)
    assert sg.allclose(x.erf(), y)


def test_atan2_values_gradient_and_broadcasting():
    yv, xv = rng.normal(size=(3, 1)) + 2.0, rng.normal(size=(4,))
    y, x = sg.tensor(yv, requires_grad=True), sg.tensor(xv, requires_grad=True)
    out = sg.atan2(y, x)
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out.detach().numpy(), np.arctan2(yv, xv), rtol=1e-15)
    out.sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), fd_grad(np.arctan2, [yv, xv], 0), rtol=1e-7)
    np.testing.assert_allclose(x.grad.numpy(), fd_grad(np.arctan2, [yv, xv], 1), rtol=1e-7)
    r2 = xv * xv + yv * yv
    np.testing.assert_allclose(y.grad.numpy(), np.sum(xv / r2, axis=1, keepdims=True))
    assert sg.allclose(y.atan2(x), out) and sg.allclose(sg.atan2(input=y, other=x), out)
    assert sg.atan2(sg.tensor([1.0]), -1).item() == pytest.approx(3 * np.pi / 4)


def test_float32_stays_float32_and_ints_promote():
    f = sg.tensor([0.5, -1.0], dtype=sg.float32, requires_grad=True)
    assert sg.erf(f).dtype == sg.float32 and sg.atan2(f, 2).dtype == sg.float32
    assert sg.atan2(2, f).dtype == sg.float32
    (sg.erf(f) + sg.atan2(f, f * 3)).sum().backward()
    assert f.grad.dtype == sg.float32
    assert sg.erf(sg.tensor([1, 2])).dtype == sg.float64          # as PyTorch: int -> float
    assert sg.atan2(sg.tensor([1]), sg.tensor([2])).dtype == sg.float64
    s = sg.symbol("s", shape=("N",), dtype=sg.float32)
    assert sg.erf(s).dtype == sg.float32 and sg.atan2(s, s).shape == ("N",)


def test_closed_forms_come_from_sympy():
    x, z = sg.symbol("x"), sg.symbol("z")
    X, Z = sympy.Symbol("x"), sympy.Symbol("z")
    assert sympy.simplify(sg.diff(sg.erf(x), x) - 2 * sympy.exp(-X**2) / sympy.sqrt(sympy.pi)) == 0
    assert str(sg.diff(sg.erf(x), x)) == "2*exp(-x**2)/sqrt(pi)"
    assert sympy.simplify(sg.diff(sg.atan2(x, z), x) - Z / (X**2 + Z**2)) == 0
    assert sympy.simplify(sg.diff(sg.atan2(x, z), z) + X / (X**2 + Z**2)) == 0


def test_parser_names():
    assert str(sg.to_sympy(sg.parse("erf(x) + atan2(y, x)"))) == "atan2(y, x) + erf(x)"


@pytest.mark.parametrize("make,n", [
    (lambda x, y: sg.erf(x).sum(), 1),
    (lambda x, y: (sg.atan2(y, x) * sg.erf(x * y)).sum(), 2),
], ids=["erf", "atan2"])
def test_verify_check_passes(make, n):
    x = sg.tensor([0.3, -0.7, 1.1], requires_grad=True, name="x")
    y = sg.tensor([1.2, -0.4, 0.8], requires_grad=True, name="y")
    report = verify.check(make(x, y), [x, y][:n])
    assert report.passed, str(report)


def test_matches_torch_when_installed():
    torch = pytest.importorskip("torch")
    v, w = rng.normal(size=5), rng.normal(size=5)
    np.testing.assert_allclose(sg.erf(sg.tensor(v)).numpy(),
                               torch.erf(torch.tensor(v)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(sg.atan2(sg.tensor(v), sg.tensor(w)).numpy(),
                               torch.atan2(torch.tensor(v), torch.tensor(w)).numpy(), rtol=1e-12)


def test_erf_lives_in_exactly_three_source_files():
    """Adding an elementwise op is one declaration, one SymPy form, one OP_DB entry."""
    word = re.compile(r"\berf\b", re.IGNORECASE)
    found = sorted(str(p.relative_to(ROOT)) for pkg in ("numeric", "symgrad", "verify")
                   for p in (ROOT / pkg).rglob("*.py") if word.search(p.read_text("utf-8")))
    # issue 11: gelu's VJP applies erf (numeric/rules/activations.py), a use, not a definition
    assert found == ["numeric/rules/activations.py", "numeric/rules/elementwise.py",
                     "symgrad/lower_sympy.py", "verify/opdb.py"]
    # the docs lines are generated from the declaration (tests/test_op_table.py checks them)
    assert "`sg.erf(input)`" in (ROOT / "docs" / "api.md").read_text("utf-8")
