"""Issue 11, activations: values, gradients, kinks and errors of ``sg.nn.functional``'s
activations, against PyTorch where it is installed and against independent witnesses
(mpmath, finite differences, hand-written SymPy formulas) everywhere."""
from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy

import symgrad as sg
import symgrad.nn.functional as F

#: name -> (sg call, torch call name, kwargs); each a function of one tensor
CASES = {
    "leaky_relu": ("leaky_relu", {}), "leaky_relu_0.2": ("leaky_relu", {"negative_slope": 0.2}),
    "elu": ("elu", {}), "elu_2": ("elu", {"alpha": 2.0}), "selu": ("selu", {}),
    "celu": ("celu", {}), "celu_0.5": ("celu", {"alpha": 0.5}), "silu": ("silu", {}),
    "gelu": ("gelu", {}), "gelu_tanh": ("gelu", {"approximate": "tanh"}), "mish": ("mish", {}),
    "softsign": ("softsign", {}), "logsigmoid": ("logsigmoid", {}), "relu6": ("relu6", {}),
    "hardtanh": ("hardtanh", {}), "hardtanh_ab": ("hardtanh", {"min_val": -0.5, "max_val": 2.0}),
    "hardsigmoid": ("hardsigmoid", {}), "hardswish": ("hardswish", {}),
    "softplus": ("softplus", {}), "softplus_bt": ("softplus", {"beta": 2.0, "threshold": 1.0}),
}
#: every kink of the ops above, plus ordinary and large points
POINTS = [-50.0, -6.0, -3.0, -2.5, -1.0, -0.5, 0.0, 0.3, 0.5, 1.0, 2.0, 3.0, 4.5, 6.0, 7.0,
          20.0, 20.5, 50.0]
SMOOTH = ["silu", "gelu", "gelu_tanh", "mish", "logsigmoid"]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _sg(name):
    fn, kw = CASES[name]
    return lambda x: getattr(F, fn)(x, **kw)


def _torch(torch, name):
    fn, kw = CASES[name]
    return lambda x: getattr(torch.nn.functional, fn)(x, **kw)


def _grads(f, values, dtype, create_graph=False):
    x = sg.tensor(np.asarray(values, dtype), requires_grad=True)
    y = f(x)
    (g,) = sg.autograd.grad(y.sum(), [x], create_graph=create_graph)
    return x, y, g


# ----------------------------------------------------------------------------- torch parity
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_torch_at_kinks_and_extremes(torch, name, dtype):
    _, y, g = _grads(_sg(name), POINTS, dtype)
    xt = torch.tensor(POINTS, dtype=getattr(torch, dtype), requires_grad=True)
    yt = _torch(torch, name)(xt)
    yt.sum().backward()
    assert y.dtype == np.dtype(dtype) and g.dtype == np.dtype(dtype)
    tol = 1e-6 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
    # PyTorch's hardsigmoid_backward multiplies by the float constant 1.0f/6 even in float64
    gtol = 3e-8 if name == "hardsigmoid" else tol
    np.testing.assert_allclose(g.numpy(), xt.grad.numpy(), rtol=gtol, atol=tol)


@pytest.mark.parametrize("name", sorted(CASES))
def test_second_derivatives_match_torch(torch, name):
    pts = [p for p in POINTS if abs(p) < 40]
    xs = sg.tensor(np.asarray(pts), requires_grad=True)
    (gs,) = sg.autograd.grad(_sg(name)(xs).sum(), [xs], create_graph=True)
    # piecewise-linear ops: the gradient does not depend on x, so it has no graph (0)
    h = sg.autograd.grad(gs.sum(), [xs])[0] if gs.requires_grad else sg.zeros(len(pts))
    xt = torch.tensor(pts, dtype=torch.float64, requires_grad=True)
    (gt,) = torch.autograd.grad(_torch(torch, name)(xt).sum(), xt, create_graph=True)
    if CASES[name][0] == "hardsigmoid":   # PyTorch has no double backward here: 0 a.e.
        np.testing.assert_array_equal(h.numpy(), 0.0)
        return
    (ht,) = torch.autograd.grad(gt.sum(), xt, allow_unused=True)
    ht = np.zeros(len(pts)) if ht is None else ht.numpy()
    np.testing.assert_allclose(h.numpy(), ht, rtol=1e-12, atol=1e-12)


def test_elu_celu_selu_second_derivative_at_zero_is_zero(torch):
    for f in (lambda t: F.elu(t, alpha=2.0), lambda t: F.celu(t, alpha=0.5), F.selu):
        x = sg.tensor([0.0], requires_grad=True)
        (g,) = sg.autograd.grad(f(x).sum(), [x], create_graph=True)
        (h,) = sg.autograd.grad(g.sum(), [x])
        assert h.item() == 0.0
    x = sg.tensor([0.0], name="x")
    assert sg.diff(F.elu(x, alpha=2.0), x).subs(sympy.Symbol("x"), 0) == 2
    assert sg.hessian(F.elu(x, alpha=2.0).sum(), [x])[0, 0].subs(sympy.Symbol("x"), 0) == 0
    assert sg.hessian(sg.softplus(x, threshold=0.0).sum(), [x])[0, 0].subs(
        sympy.Symbol("x"), 0) == 0                # masked at the threshold, as PyTorch


@pytest.mark.parametrize("kw", [{"p": 2.0, "dim": 1}, {"p": 1.0, "dim": 0},
                                {"p": math.inf, "dim": -1}, {"p": 3.0, "dim": 0},
                                {"p": 2.0, "dim": 1, "eps": 5.0}])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_normalize_matches_torch(torch, kw, dtype):
    v = np.array([[0.0, 2.0, -2.0], [1.0, -3.0, 0.5], [0.0, 0.0, 0.0]])
    w = np.array([[1.0, -2.0, 3.0], [0.5, 0.5, -1.0], [2.0, 1.0, 1.0]])
    x = sg.tensor(v.astype(dtype), requires_grad=True)
    (F.normalize(x, **kw) * sg.tensor(w.astype(dtype))).sum().backward()
    xt = torch.tensor(v, dtype=getattr(torch, dtype), requires_grad=True)
    yt = torch.nn.functional.normalize(xt, **kw)
    (yt * torch.tensor(w, dtype=getattr(torch, dtype))).sum().backward()
    tol = 2e-6 if dtype == "float32" else 1e-12
    assert x.grad.dtype == np.dtype(dtype)
    np.testing.assert_allclose(F.normalize(x, **kw).detach().numpy(), yt.detach().numpy(),
                               rtol=tol, atol=tol)
    # at an all-zero row the norm is clamped to eps: 1/eps is the gradient's scale
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=tol, atol=tol)


def test_normalize_second_derivative_and_softmin_match_torch(torch):
    v = np.array([[0.3, -1.2, 2.0], [1.0, 0.7, -0.4]])
    x = sg.tensor(v, requires_grad=True)
    (g,) = sg.autograd.grad((F.normalize(x, dim=1) ** 3).sum(), [x], create_graph=True)
    (h,) = sg.autograd.grad((g * g).sum(), [x])
    xt = torch.tensor(v, requires_grad=True)
    (gt,) = torch.autograd.grad((torch.nn.functional.normalize(xt, dim=1) ** 3).sum(), xt,
                                create_graph=True)
    (ht,) = torch.autograd.grad((gt * gt).sum(), xt)
    np.testing.assert_allclose(h.numpy(), ht.numpy(), rtol=1e-12)
    for dim in (0, 1, -1):
        x = sg.tensor(v.astype(np.float32), requires_grad=True)
        y = F.softmin(x, dim=dim)
        (y * sg.tensor(v.astype(np.float32))).sum().backward()
        xt = torch.tensor(v, dtype=torch.float32, requires_grad=True)
        yt = torch.nn.functional.softmin(xt, dim=dim)
        (yt * torch.tensor(v, dtype=torch.float32)).sum().backward()
        assert y.dtype == np.float32
        np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-6)
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_broadcast_attrs_and_batched_shapes_match_torch(torch):
    v = np.random.default_rng(0).normal(size=(2, 3, 4)) * 3
    for name in CASES:
        y = _sg(name)(sg.tensor(v)).numpy()
        np.testing.assert_allclose(y, _torch(torch, name)(torch.tensor(v)).numpy(),
                                   rtol=1e-13, atol=1e-13, err_msg=name)
    np.testing.assert_allclose(F.softmin(sg.tensor(v), dim=1, dtype=sg.float32).numpy(),
                               torch.nn.functional.softmin(torch.tensor(v), dim=1,
                                                           dtype=torch.float32).numpy(),
                               rtol=1e-6)


# ----------------------------------------------------------------------------- torch-free
def test_values_against_mpmath():
    xs = [-30.0, -3.0, -0.7, 0.0, 0.4, 2.5, 30.0]
    mp = mpmath.mp
    mp.dps = 30
    sig = lambda x: 1 / (1 + mpmath.exp(-x))  # noqa: E731
    softplus = lambda x: mpmath.log(1 + mpmath.exp(x))  # noqa: E731
    alpha = mpmath.mpf("1.6732632423543772848170429916717")
    scale = mpmath.mpf("1.0507009873554804934193349852946")
    ref = {
        "silu": lambda x: x * sig(x),
        "gelu": lambda x: x / 2 * mpmath.erfc(-x / mpmath.sqrt(2)),
        "gelu_tanh": lambda x: x / 2 * (1 + mpmath.tanh(mpmath.sqrt(2 / mpmath.pi) *
                                                        (x + mpmath.mpf("0.044715") * x ** 3))),
        "mish": lambda x: x * mpmath.tanh(softplus(x)),
        "logsigmoid": lambda x: mpmath.log(sig(x)),
        "selu": lambda x: scale * (x if x > 0 else alpha * (mpmath.exp(x) - 1)),
        "celu_0.5": lambda x: x if x > 0 else mpmath.mpf("0.5") * (mpmath.exp(2 * x) - 1),
        "softsign": lambda x: x / (1 + abs(x)),
    }
    for name, f in ref.items():
        got = _sg(name)(sg.tensor(xs)).numpy()
        want = np.array([float(f(mpmath.mpf(x))) for x in xs])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300, err_msg=name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_against_central_differences(name):
    pts = np.array([-4.0, -2.7, -1.3, -0.2, 0.15, 0.8, 1.7, 2.9, 5.2])
    _, _, g = _grads(_sg(name), pts, "float64")
    h = 1e-6
    f = lambda v: _sg(name)(sg.tensor(v)).numpy()  # noqa: E731
    np.testing.assert_allclose(g.numpy(), (f(pts + h) - f(pts - h)) / (2 * h), rtol=1e-7,
                               atol=1e-8)


def test_stable_for_large_inputs_and_float32_stays_float32():
    big = np.array([-1e4, -800.0, 800.0, 1e4], np.float32)
    for name in CASES:
        x, y, g = _grads(_sg(name), big, "float32")
        assert y.dtype == np.float32 and g.dtype == np.float32, name
        assert np.all(np.isfinite(y.detach().numpy())) and np.all(np.isfinite(g.numpy())), name
    x, y, g = _grads(F.logsigmoid, [-1e4, 1e4], "float64")
    np.testing.assert_array_equal(y.detach().numpy(), [-1e4, 0.0])
    np.testing.assert_array_equal(g.numpy(), [1.0, 0.0])
    x, y, g = _grads(F.silu, [-1e4, 1e4], "float64")
    np.testing.assert_array_equal(g.numpy(), [0.0, 1.0])
    assert F.gelu(sg.tensor([-30.0])).item() < 0     # erfc: no cancellation to 0
    assert F.leaky_relu(sg.tensor([1, -2])).dtype == sg.float64   # ints give the default float
    assert F.relu6(sg.tensor([-1, 3, 9])).tolist() == [0, 3, 6]   # hardtanh keeps ints


def test_softplus_threshold_is_pytorchs():
    x, y, g = _grads(F.softplus, [20.0, 20.5, 0.0], "float64")
    assert y.tolist()[:2] == [20.000000002061153, 20.5]         # x itself above 20
    assert g.tolist()[1] == 1.0 and g.tolist()[0] < 1.0 and g.tolist()[2] == 0.5
    x, y, g = _grads(lambda t: sg.softplus(t, beta=2.0, threshold=1.0), [0.5, 0.75], "float64")
    np.testing.assert_allclose(y.detach().numpy(), [math.log1p(math.e) / 2, 0.75])
    np.testing.assert_allclose(g.numpy(), [1 / (1 + math.exp(-1)), 1.0])
    assert sg.tensor([0.0]).softplus().item() == math.log(2)
    # sg.softplus (symgrad's name) is the textbook function unless given a threshold
    assert sg.softplus(sg.tensor([30.5])).item() == math.log1p(math.exp(30.5))
    assert sg.softplus(sg.tensor([30.5]), threshold=20.0).item() == 30.5


# ----------------------------------------------------------------------------- exact forms
def test_exact_forms_are_the_textbook_formulas():
    x = sg.tensor(0.7, name="x")
    s = sympy.Symbol("x")
    sig = 1 / (1 + sympy.exp(-s))
    phi = (1 + sympy.erf(s / sympy.sqrt(2))) / 2
    pairs = [(sg.diff(F.silu(x), x), sympy.diff(s * sig, s)),
             (sg.diff(F.gelu(x), x), phi + s * sympy.exp(-s ** 2 / 2) / sympy.sqrt(2 * sympy.pi)),
             (sg.to_sympy(F.logsigmoid(x)), sympy.log(sig)),
             (sg.diff(F.mish(x), x), sympy.diff(s * sympy.tanh(sympy.log(1 + sympy.exp(s))), s))]
    for got, want in pairs:
        for point in (-2.5, 0.3, 1.7):
            assert abs(sympy.N((got - want).subs(s, sympy.Rational(point)), 30)) < 1e-25
    v0, v1 = sympy.symbols("v_0 v_1")
    assert sg.to_sympy(F.softmin(sg.tensor([1.0, 2.0], name="v"), dim=0))[0] == \
        sympy.exp(-v0) / (sympy.exp(-v0) + sympy.exp(-v1))
    # kinks: the exact derivative at the kink is PyTorch's
    at = {"leaky": (F.leaky_relu(x, 0.25), 0, sympy.Rational(1, 4)),
          "hardtanh": (F.hardtanh(x), 1, 0), "relu6": (F.relu6(x), 6, 0),
          "hardswish-": (F.hardswish(x), -3, 0), "hardswish+": (F.hardswish(x), 3, 1),
          "hardsigmoid": (F.hardsigmoid(x), 3, 0), "softsign": (F.softsign(x), 0, 1),
          "softplus": (sg.softplus(x, threshold=1.0), 1, sympy.exp(1) / (1 + sympy.exp(1)))}
    for name, (y, point, slope) in at.items():
        d = sg.diff(y, x).subs(s, point)
        assert sympy.simplify(d - slope) == 0, name


def test_symbolic_gradient_of_a_data_tensor_matches_eager():
    v = np.array([[0.4, -1.1, 2.0], [-0.3, 0.8, 1.5]])
    x = sg.tensor(v, requires_grad=True, name="x")
    f = (F.normalize(F.mish(x), p=1.0, dim=1) * F.softmin(F.gelu(x, approximate="tanh"), 0)
         ).sum() + F.hardswish(3 * x).sum()
    (g,) = sg.gradient(f, [x])
    f.backward()
    np.testing.assert_allclose(sg.lambdify(g, [x])(v), x.grad.numpy(), rtol=1e-12)


# ----------------------------------------------------------------------------- errors and API
def test_bad_arguments_raise_like_pytorch():
    x = sg.tensor([1.0, -1.0])
    for fn in (F.leaky_relu, F.elu, F.selu, F.celu, F.silu, F.mish, F.relu6, F.hardtanh,
               F.hardsigmoid, F.hardswish):
        with pytest.raises(NotImplementedError, match="inplace=True"):
            fn(x, inplace=True)
    with pytest.raises(RuntimeError, match="none or tanh"):
        F.gelu(x, approximate="erf")
    with pytest.raises(RuntimeError, match="alpha cannot be 0"):
        F.celu(x, alpha=0.0)
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(x, 1.0, -1.0)
    with pytest.raises(IndexError, match=r"range of \[-1, 0\], but got 1"):
        F.normalize(x)                                    # dim=1 on a 1-d tensor
    with pytest.raises(IndexError, match="but got 3"):
        F.softmin(x, dim=3)
    with pytest.raises(NotImplementedError, match="p must be positive"):
        F.normalize(x, p=0, dim=0)
    with pytest.raises(NotImplementedError, match="out="):
        F.normalize(x, dim=0, out=x)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
        assert F.softmin(sg.tensor([[1.0, 1.0]])).tolist() == [[0.5, 0.5]]


def test_exports_follow_pytorch():
    assert sg.selu is F.selu and sg.celu is F.celu and sg.softplus is not F.softplus
    for name in ("gelu", "silu", "mish", "relu6", "hardtanh", "leaky_relu", "normalize"):
        assert not hasattr(sg, name), name       # torch.<name> does not exist either
    assert set(CASES[n][0] for n in CASES) | {"softmin", "normalize"} <= set(F.__all__)
