"""Math ops (issue 11): values, gradients, kinks and dtypes against PyTorch; and
torch-free witnesses (scipy/numpy values, finite differences, SymPy closed forms,
errors) so ``make test`` without torch still checks them.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy
from scipy import special

import symgrad as sg

rng = np.random.default_rng(11)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


# name -> (low, high) of the sampling interval (inside the domain, away from kinks)
UNARY = {
    "rsqrt": (0.2, 3.0), "reciprocal": (0.3, 2.0), "square": (-2.0, 2.0),
    "asin": (-0.9, 0.9), "acos": (-0.9, 0.9), "atan": (-3.0, 3.0), "sinh": (-3.0, 3.0),
    "cosh": (-3.0, 3.0), "asinh": (-3.0, 3.0), "acosh": (1.2, 3.0), "atanh": (-0.9, 0.9),
    "log2": (0.2, 3.0), "log10": (0.2, 3.0), "exp2": (-3.0, 3.0), "erfc": (-2.0, 2.0),
    "erfinv": (-0.9, 0.9), "sign": (0.2, 2.0),
}
# numpy/scipy references for the values
REFERENCE = {
    "rsqrt": lambda x: 1 / np.sqrt(x), "reciprocal": lambda x: 1 / x, "square": np.square,
    "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh,
    "cosh": np.cosh, "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
    "log2": np.log2, "log10": np.log10, "exp2": np.exp2, "erfc": special.erfc,
    "erfinv": special.erfinv, "sign": np.sign,
    "hypot": np.hypot, "xlogy": special.xlogy, "fmod": np.fmod, "remainder": np.remainder,
    "floor_divide": np.floor_divide, "copysign": np.copysign, "logaddexp": np.logaddexp,
    "clamp_min": np.maximum, "clamp_max": np.minimum,
}
BINARY = ("hypot", "xlogy", "fmod", "remainder", "floor_divide", "copysign", "logaddexp",
          "clamp_min", "clamp_max")
ALIASES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh",
           "arccosh": "acosh", "arctanh": "atanh"}
TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-6)}


def unary_sample(name, shape=(3, 4)):
    lo, hi = UNARY[name]
    x = rng.uniform(lo, hi, size=shape)
    return x * rng.choice([-1.0, 1.0], size=shape) if name == "sign" else x


def binary_sample(name):
    """(x of shape (3, 1), y of shape (4,)): broadcasting, away from kinks and jumps."""
    x = rng.uniform(-2.0, 2.0, size=(3, 1))
    y = rng.uniform(0.3, 2.0, size=(4,)) * np.array([1, -1, 1, -1])
    if name == "xlogy":
        y = np.abs(y)
    if name in ("fmod", "remainder", "floor_divide"):
        y = np.full(4, 1.5) * np.array([1, -1, 1, -1])
        x = 1.5 * (rng.integers(-2, 3, size=(3, 1)) + rng.uniform(0.2, 0.8, size=(3, 1)))
    return x, y


def torch_fn(torch, name):
    if name == "floor_divide":  # torch's floor_divide has no derivative; div(floor) has 0
        return lambda x, y: torch.div(x, y, rounding_mode="floor")
    return getattr(torch, name)


def run_sg(name, values, dtype):
    ts = [sg.tensor(np.asarray(v, dtype), requires_grad=True) for v in values]
    out = getattr(sg, name)(*ts)
    grads = sg.autograd.grad(out.sum(), ts)
    return out.detach().numpy(), [g.numpy() for g in grads]


def run_torch(torch, name, values, dtype):
    ts = [torch.tensor(np.asarray(v, dtype), requires_grad=True) for v in values]
    out = torch_fn(torch, name)(*ts)
    grads = torch.autograd.grad(out.sum(), ts)
    return out.detach().numpy(), [g.numpy() for g in grads]


def second_sg(name, values):
    ts = [sg.tensor(np.asarray(v), requires_grad=True) for v in values]
    gs = sg.autograd.grad(getattr(sg, name)(*ts).sum(), ts, create_graph=True)
    total = sum(g.sum() for g in gs)
    if not total.requires_grad:      # the first derivative is a constant
        return [np.zeros_like(np.asarray(v)) for v in values]
    return [g.numpy() for g in sg.autograd.grad(total, ts, allow_unused=True)]


def second_torch(torch, name, values):
    ts = [torch.tensor(np.asarray(v), requires_grad=True) for v in values]
    gs = torch.autograd.grad(torch_fn(torch, name)(*ts).sum(), ts, create_graph=True)
    total = sum(g.sum() for g in gs)
    if not total.requires_grad:      # the first derivative is a constant
        return [np.zeros_like(np.asarray(v)) for v in values]
    return [g.numpy() for g in torch.autograd.grad(total, ts, allow_unused=True,
                                                   materialize_grads=True)]


# ----------------------------------------------------------------------------- against torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", sorted(UNARY) + list(BINARY))
def test_values_and_gradients_match_torch(torch, name, dtype):
    values = [unary_sample(name)] if name in UNARY else list(binary_sample(name))
    out, grads = run_sg(name, values, dtype)
    t_out, t_grads = run_torch(torch, name, values, dtype)
    assert out.dtype == dtype and all(g.dtype == dtype for g in grads)
    np.testing.assert_allclose(out, t_out, **TOL[dtype])
    for g, tg in zip(grads, t_grads):
        np.testing.assert_allclose(g, tg, **TOL[dtype])


@pytest.mark.parametrize("name", sorted(UNARY) + list(BINARY))
def test_second_derivatives_match_torch(torch, name):
    values = [unary_sample(name, (5,))] if name in UNARY else list(binary_sample(name))
    for h, th in zip(second_sg(name, values), second_torch(torch, name, values)):
        np.testing.assert_allclose(h, th, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_lerp_matches_torch_with_scalar_and_tensor_weight(torch, dtype):
    s, e = rng.normal(size=(3, 1)).astype(dtype), rng.normal(size=(4,)).astype(dtype)
    w = np.array([0.2, 0.5, 0.9, 1.0], dtype)       # both of PyTorch's formulas
    for weight in (0.25, 0.75, w):
        ts = [sg.tensor(v, requires_grad=True) for v in (s, e)]
        tt = [torch.tensor(v, requires_grad=True) for v in (s, e)]
        sw = sg.tensor(weight, requires_grad=True) if isinstance(weight, np.ndarray) else weight
        tw = torch.tensor(weight, requires_grad=True) if isinstance(weight, np.ndarray) \
            else weight
        out, t_out = sg.lerp(*ts, sw), torch.lerp(*tt, tw)
        np.testing.assert_allclose(out.detach().numpy(), t_out.detach().numpy(), **TOL[dtype])
        wrt, t_wrt = ts + ([sw] if isinstance(weight, np.ndarray) else []), \
            tt + ([tw] if isinstance(weight, np.ndarray) else [])
        for g, tg in zip(sg.autograd.grad(out.sum(), wrt),
                         torch.autograd.grad(t_out.sum(), t_wrt)):
            assert g.dtype == dtype
            np.testing.assert_allclose(g.numpy(), tg.numpy(), **TOL[dtype])
    assert sg.tensor([1.0, 2.0]).lerp(sg.tensor([3.0, 4.0]), 1.0).tolist() == [3.0, 4.0]


def test_lerp_second_derivatives_match_torch(torch):
    vals = [rng.normal(size=(3,)) for _ in range(3)]
    ts = [sg.tensor(v, requires_grad=True) for v in vals]
    tt = [torch.tensor(v, requires_grad=True) for v in vals]
    gs = sg.autograd.grad((sg.lerp(*ts) ** 2).sum(), ts, create_graph=True)
    tgs = torch.autograd.grad((torch.lerp(*tt) ** 2).sum(), tt, create_graph=True)
    for h, th in zip(sg.autograd.grad(sum(g.sum() for g in gs), ts),
                     torch.autograd.grad(sum(g.sum() for g in tgs), tt)):
        np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=1e-12)


# ----------------------------------------------------------------------------- kinks
KINKS = {
    "sign": ([-1.0, 0.0, -0.0, 2.0],),
    "fmod": ([3.0, -3.0, 4.5, 0.0, 1.0], [1.5, 1.5, -1.5, 2.0, 0.5]),
    "remainder": ([3.0, -3.0, 4.5, 0.0, 1.0], [1.5, 1.5, -1.5, 2.0, 0.5]),
    "floor_divide": ([3.0, -3.0, 4.5, 0.0, 1.0], [1.5, 1.5, -1.5, 2.0, 0.5]),
    "copysign": ([0.0, 0.0, -0.0, 2.0, -2.0, 1.0], [1.0, -1.0, 0.0, 0.0, -0.0, -3.0]),
    "clamp_min": ([0.5, 0.5, 1.0, -1.0], [0.5, 0.0, 2.0, -1.0]),
    "clamp_max": ([0.5, 0.5, 1.0, -1.0], [0.5, 0.0, 2.0, -1.0]),
    "hypot": ([0.0, 0.0, 3.0], [0.0, 1.0, 0.0]),
    "xlogy": ([0.0, 0.0, 0.0, 2.0, 1.0, 0.0], [0.0, 2.0, -1.0, 0.0, 3.0, np.nan]),
    "logaddexp": ([-np.inf, 0.0, -np.inf], [-np.inf, 0.0, 1.0]),
}


@pytest.mark.parametrize("name", sorted(KINKS))
def test_gradients_at_kinks_match_torch(torch, name):
    values = [np.array(v) for v in KINKS[name]]
    with np.errstate(all="ignore"):
        out, grads = run_sg(name, values, np.float64)
    t_out, t_grads = run_torch(torch, name, values, np.float64)
    np.testing.assert_array_equal(out, t_out)
    for g, tg in zip(grads, t_grads):
        np.testing.assert_array_equal(g, tg)


def test_scalar_clamp_bounds_at_the_bound_match_torch(torch):
    v = np.array([-1.0, 0.0, 1.0])
    for name in ("clamp_min", "clamp_max"):
        x, tx = sg.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
        getattr(sg, name)(x, 0.0).sum().backward()
        getattr(torch, name)(tx, 0.0).sum().backward()
        assert x.grad.tolist() == tx.grad.tolist()
        assert getattr(x, name)(0.0).tolist() == getattr(tx, name)(0.0).tolist()


# ----------------------------------------------------------------------------- dtypes
def test_integer_inputs_follow_torch_dtypes(torch):
    a, b = [7, -7, 5, 0], [3, 3, -2, 4]
    for name in ("square", "sign"):
        out, t = getattr(sg, name)(sg.tensor(a)), getattr(torch, name)(torch.tensor(a))
        assert out.dtype == sg.int64 and out.tolist() == t.tolist()
    for name in ("fmod", "remainder", "floor_divide", "clamp_min", "clamp_max"):
        out = getattr(sg, name)(sg.tensor(a), sg.tensor(b))
        t = getattr(torch, name)(torch.tensor(a), torch.tensor(b))
        assert out.dtype == sg.int64 and out.tolist() == t.tolist(), name
    for name in ("rsqrt", "reciprocal", "asin", "atan", "log2", "exp2", "erfc", "erfinv"):
        out, t = getattr(sg, name)(sg.tensor([1, 0])), getattr(torch, name)(torch.tensor([1, 0]))
        assert out.dtype == sg.float64, name       # torch's default dtype is float32
        np.testing.assert_allclose(out.numpy(), t.double().numpy(), rtol=1e-6)
    for name in ("xlogy", "copysign"):
        out = getattr(sg, name)(sg.tensor([1, 2]), sg.tensor([1, -3]))
        np.testing.assert_allclose(out.numpy(), getattr(torch, name)(
            torch.tensor([1, 2]), torch.tensor([1, -3])).double().numpy(), rtol=1e-6)
        assert out.dtype == sg.float64


def test_float32_stays_float32_and_python_scalars_are_weak():
    x = sg.tensor([0.5, -1.5], dtype=sg.float32, requires_grad=True)
    outs = [sg.hypot(x, 2.0), sg.xlogy(x, 3), x % 2, 2.0 % x, x // 0.5, 3 // x, sg.fmod(x, 2),
            sg.copysign(x, -1), sg.logaddexp(x, 1.0), sg.lerp(x, 1.0, 0.5), sg.atan(x),
            sg.clamp_min(x, 0), sg.square(x), sg.sign(x)]
    assert all(o.dtype == sg.float32 for o in outs)
    sum(o.sum() for o in outs).backward()
    assert x.grad.dtype == sg.float32


# ----------------------------------------------------------------------------- torch-free
@pytest.mark.parametrize("name", sorted(UNARY) + list(BINARY))
def test_values_match_numpy_and_scipy(name):
    values = [unary_sample(name)] if name in UNARY else list(binary_sample(name))
    out = getattr(sg, name)(*[sg.tensor(v) for v in values])
    np.testing.assert_allclose(out.numpy(), REFERENCE[name](*values), rtol=1e-14, atol=1e-15)


def _fd(f, values, i, eps=1e-6):
    g = np.zeros_like(values[i])
    for idx in np.ndindex(values[i].shape):
        hi, lo = [v.copy() for v in values], [v.copy() for v in values]
        hi[i][idx] += eps
        lo[i][idx] -= eps
        g[idx] = (np.sum(f(*hi)) - np.sum(f(*lo))) / (2 * eps)
    return g


@pytest.mark.parametrize("name", sorted(UNARY) + list(BINARY) + ["lerp"])
def test_gradients_match_finite_differences(name):
    if name == "lerp":
        values = [rng.normal(size=(3, 1)), rng.normal(size=(4,)), rng.uniform(size=(3, 4))]
    else:
        values = [unary_sample(name, (5,))] if name in UNARY else list(binary_sample(name))
    _, grads = run_sg(name, values, np.float64)
    kernel = lambda *vs: getattr(sg, name)(*[sg.tensor(v) for v in vs]).numpy()  # noqa: E731
    for i, g in enumerate(grads):
        np.testing.assert_allclose(g, _fd(kernel, values, i), rtol=1e-6, atol=1e-8)


def test_zero_gradients_are_zeros_not_none():
    x = sg.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    y = sg.tensor([2.0, 2.0, -3.0], requires_grad=True)
    s = sg.sign(x)
    assert s.requires_grad and s.grad_fn.name() == "SignBackward" and x.sign().tolist() == \
        [-1.0, 0.0, 1.0]
    (s.sum() + (x // y).sum() + sg.copysign(x, y).sum()).backward()
    assert x.grad.tolist() == [-1.0, 0.0, -1.0] and y.grad.tolist() == [0.0, 0.0, 0.0]
    assert sg.sign(sg.tensor([True, False])).tolist() == [True, False]


def test_operators_follow_python_sign_conventions():
    x = sg.tensor([-7.0, 7.0, -7.5])
    assert (x % 3).tolist() == [2.0, 1.0, 1.5] and (x % -3).tolist() == [-1.0, -2.0, -1.5]
    assert (x // 2).tolist() == [-4.0, 3.0, -4.0] and sg.fmod(x, 3).tolist() == [-1.0, 1.0, -1.5]
    assert (10 % sg.tensor([3.0, -3.0])).tolist() == [1.0, -2.0]
    assert (10 // sg.tensor([3.0, -3.0])).tolist() == [3.0, -4.0]
    assert (sg.tensor([7, -7]) // 2).tolist() == [3, -4] and (sg.tensor([7, -7]) % 2).tolist() \
        == [1, 1]
    assert x.remainder(3).tolist() == (x % 3).tolist() and x.fmod(3).tolist() == [-1.0, 1.0, -1.5]
    assert x.floor_divide(2).tolist() == (x // 2).tolist()


def test_aliases_and_methods():
    x = sg.tensor([0.25, 0.5])
    for alias, name in ALIASES.items():
        v = x + 1.5 if name == "acosh" else x
        assert getattr(sg, alias) is getattr(sg, name)
        assert getattr(v, alias)().tolist() == getattr(sg, name)(v).tolist()
    assert x.hypot(x).tolist() == sg.hypot(x, x).tolist()
    assert x.xlogy(x).tolist() == sg.xlogy(x, x).tolist()
    assert x.logaddexp(x).tolist() == sg.logaddexp(x, x).tolist()
    assert x.copysign(-1.0).tolist() == [-0.25, -0.5]


def test_closed_forms_come_from_sympy():
    x, y, w = sg.symbol("x"), sg.symbol("y"), sg.symbol("w")
    X, Y, W = sympy.symbols("x y w")
    cases = [
        (sg.diff(sg.asin(x), x), 1 / sympy.sqrt(1 - X ** 2)),
        (sg.diff(sg.erfinv(x), x), sympy.sqrt(sympy.pi) / 2 * sympy.exp(sympy.erfinv(X) ** 2)),
        (sg.diff(sg.log2(x), x), 1 / (X * sympy.log(2))),
        (sg.diff(sg.hypot(x, y), y), Y / sympy.sqrt(X ** 2 + Y ** 2)),
        (sg.diff(sg.logaddexp(x, y), x), sympy.exp(X) / (sympy.exp(X) + sympy.exp(Y))),
        (sg.diff(sg.lerp(x, y, w), w), Y - X),
        (sg.diff(x % y, y), -sympy.floor(X / Y)),
        (sg.diff(x % y, x), 1),
        (sg.diff(x // y, x), 0),
        (sg.diff(sg.sign(x) * y, x), 0),
        (sg.diff(sg.rsqrt(x), x), -1 / (2 * X ** sympy.Rational(3, 2))),
    ]
    for got, want in cases:
        assert sympy.simplify(got - want) == 0, (got, want)
    assert sg.to_sympy(sg.sign(x)) == sympy.sign(X)
    assert sg.to_sympy(sg.exp2(x)) == 2 ** X


def test_exact_forms_at_kinks_follow_the_conventions():
    a = sg.tensor([0.0, 0.5], requires_grad=True, name="a")
    b = sg.tensor([0.5, 0.5], requires_grad=True, name="b")
    for f in (sg.clamp_min, sg.clamp_max, sg.copysign):
        out = f(a, b).sum()
        av, bv = a.detach().numpy(), b.detach().numpy()
        exact = [np.asarray(sg.lambdify(g, [a, b])(av, bv), float)
                 for g in sg.gradient(out, [a, b])]
        out.backward()
        np.testing.assert_array_equal(exact[0], a.grad.numpy())
        np.testing.assert_array_equal(exact[1], b.grad.numpy())
        a.grad = b.grad = None
    assert sg.to_sympy(sg.xlogy(sg.tensor(0.0), sg.tensor(0.0))) == 0


def test_parser_accepts_the_new_names():
    f = sg.parse("asin(x) + hypot(x, y) + lerp(x, y, 0.5) + clamp_min(x, 0) + fmod(x, y)"
                 " + sign(x) + erfinv(x) + xlogy(x, y) + log10(y)")
    xv, yv = 0.25, 2.0
    want = (np.arcsin(xv) + np.hypot(xv, yv) + (xv + yv) / 2 + xv + np.fmod(xv, yv) + 1
            + special.erfinv(xv) + xv * np.log(yv) + np.log10(yv))
    x, y = sympy.symbols("x y")
    assert float(sg.to_sympy(f).subs({x: xv, y: yv})) == pytest.approx(want, rel=1e-14)


def test_bad_inputs_raise_like_torch():
    with pytest.raises(ZeroDivisionError, match="integer division by zero") as e:
        sg.tensor([1, 2]) % sg.tensor([1, 0])
    assert isinstance(e.value, RuntimeError)
    for f in (sg.fmod, sg.floor_divide):
        with pytest.raises(RuntimeError, match="division by zero"):
            f(sg.tensor([1]), 0)
    assert np.isinf((sg.tensor([1.0]) // 0).item())      # floats: inf, as torch
    with pytest.raises(RuntimeError, match="expected dtype float64 for `end`"):
        sg.lerp(sg.tensor([1.0]), sg.tensor([1.0], dtype=sg.float32), 0.5)
    with pytest.raises(RuntimeError, match="expected dtype float32 for `weight`"):
        sg.lerp(sg.ones(2, dtype=sg.float32), sg.ones(2, dtype=sg.float32), sg.ones(2))
    assert sg.lerp(sg.ones(2, dtype=sg.float32), sg.zeros(2, dtype=sg.float32),
                   sg.tensor(0.25)).dtype == sg.float32      # a 0-d weight is a number
    with pytest.raises(RuntimeError, match="floating-point"):
        sg.lerp(sg.tensor([1, 2]), sg.tensor([3, 4]), 0.5)
    with pytest.raises(RuntimeError, match="broadcast"):
        sg.hypot(sg.zeros(2), sg.zeros(3))
    with pytest.raises(RuntimeError, match="broadcast"):
        sg.lerp(sg.zeros(2), sg.zeros(3), 0.5)


def test_edge_values():
    with np.errstate(all="ignore"):
        assert sg.rsqrt(sg.tensor([0.0, np.inf])).tolist() == [np.inf, 0.0]
        assert sg.atanh(sg.tensor([1.0, -1.0])).tolist() == [np.inf, -np.inf]
        assert sg.erfinv(sg.tensor([1.0, -1.0])).tolist() == [np.inf, -np.inf]
        assert np.isnan(sg.asin(sg.tensor(2.0)).item()) and np.isnan(sg.acosh(sg.tensor(0.5)).item())
    assert sg.erfc(sg.tensor([10.0])).item() == special.erfc(10.0) > 0   # not 1 - erf(10) = 0
    assert sg.logaddexp(sg.tensor(800.0), sg.tensor(800.0)).item() == pytest.approx(800 + np.log(2))
    assert sg.hypot(sg.tensor(1e200), sg.tensor(1e200)).item() == pytest.approx(np.sqrt(2) * 1e200)
    assert np.isnan(sg.xlogy(sg.tensor(0.0), sg.tensor(np.nan)).item())

