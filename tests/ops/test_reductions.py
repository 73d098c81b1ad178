"""Reductions and scans (issue 11): prod, var, std, var_mean, std_mean, norm, cumsum,
cumprod, cummax, cummin, logcumsumexp, sort, argsort, topk, kthvalue, median.

Values, indices and gradients against PyTorch (float32 and float64, zeros, ties
and other edge values, second derivatives), and torch-free witnesses: finite
differences, numpy values, exact forms against hand-written SymPy formulas,
the exact gradient of the value-dependent ops at a point, and bad input.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy

import symgrad as sg

rng = np.random.default_rng(11)


def real(shape):
    return rng.normal(size=shape)


def distinct(shape):        # no ties: a permutation of well-separated values
    n = int(np.prod(shape, dtype=int))
    return (rng.permutation(n) * 0.5 + rng.uniform(-0.1, 0.1, size=n)).reshape(shape)


def zeros_in_rows(shape):   # row 0 one zero, row 1 two zeros (prod/cumprod's special cases)
    v = rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    v[0, 1] = 0.0
    v[1, 0] = v[1, 2] = 0.0
    return v


def constant_row(shape):    # std = 0 and a zero vector in row 1
    v = real(shape)
    v[1] = 0.0
    return v


def ties(shape):            # |x| ties for the inf-norms
    return np.array([[1.0, -2.0, 2.0, 0.5], [0.0, 0.0, 0.0, 0.0], [3.0, -3.0, 1.0, 3.0]])


# id -> (function of (module, x): sg or torch alike, sampler, shape, smooth (2nd order))
CASES = {
    "prod": (lambda m, x: m.prod(x), real, (3, 4), True),
    "prod-dim-keepdim": (lambda m, x: m.prod(x, 1, True), real, (3, 4), True),
    "prod-zeros": (lambda m, x: m.prod(x, 1), zeros_in_rows, (3, 4), True),
    "var": (lambda m, x: m.var(x), real, (3, 4), True),
    "var-dim-correction0": (lambda m, x: m.var(x, 1, keepdim=True, correction=0), real,
                            (3, 4), True),
    "var-dims-correction2": (lambda m, x: m.var(x, (0, 2), correction=2), real,
                             (2, 3, 4), True),
    "var-unbiased-false": (lambda m, x: m.var(x, 0, False), real, (3, 4), True),
    "std": (lambda m, x: m.std(x, 1), real, (3, 4), True),
    "std-constant-row": (lambda m, x: m.std(x, 1), constant_row, (3, 4), False),
    "var_mean": (lambda m, x: m.var_mean(x, 1)[0] * m.var_mean(x, 1)[1], real, (3, 4),
                 True),
    "std_mean": (lambda m, x: m.std_mean(x, 0, keepdim=True)[0] + m.std_mean(x)[1], real,
                 (3, 4), True),
    "norm-fro": (lambda m, x: m.norm(x), real, (3, 4), True),
    "norm-2-dim": (lambda m, x: m.norm(x, 2, dim=1), constant_row, (3, 4), False),
    "norm-1": (lambda m, x: m.norm(x, 1, dim=0, keepdim=True), constant_row, (3, 4),
               False),
    "norm-inf": (lambda m, x: m.norm(x, math.inf, dim=1), ties, (3, 4), False),
    "norm--inf": (lambda m, x: m.norm(x, -math.inf, dim=1), ties, (3, 4), False),
    "norm-3": (lambda m, x: m.norm(x, 3, dim=(0, 1)), real, (3, 4), True),
    "norm-0.5": (lambda m, x: m.norm(x, 0.5, dim=1), constant_row, (3, 4), False),
    "cumsum": (lambda m, x: m.cumsum(x, 1), real, (3, 4), False),      # linear
    "cumsum-0d": (lambda m, x: m.cumsum(x, 0), real, (), False),
    "cumprod": (lambda m, x: m.cumprod(x, -1), real, (3, 4), True),
    "cumprod-zeros": (lambda m, x: m.cumprod(x, 1), zeros_in_rows, (3, 4), True),
    "logcumsumexp": (lambda m, x: m.logcumsumexp(x, 0), real, (3, 4), True),
    # second order: exact ~0 from terms of ~1e5, where torch's rounding shows
    "logcumsumexp-large": (lambda m, x: m.logcumsumexp(x * 400, 1), real, (3, 4), False),
    "cummax": (lambda m, x: m.cummax(x, 1).values, distinct, (3, 4), False),
    "cummin": (lambda m, x: m.cummin(x, 0).values, distinct, (3, 4), False),
    "sort": (lambda m, x: m.sort(x, 0).values, distinct, (3, 4), False),
    "sort-descending": (lambda m, x: m.sort(x, descending=True).values, distinct,
                        (2, 3, 4), False),
    "topk": (lambda m, x: m.topk(x, 2).values, distinct, (3, 4), False),
    "topk-smallest": (lambda m, x: m.topk(x, 3, dim=0, largest=False).values, distinct,
                      (4, 2), False),
    "kthvalue": (lambda m, x: m.kthvalue(x, 3, 1, keepdim=True).values, distinct,
                 (3, 4), False),
    "median": (lambda m, x: m.median(x), distinct, (3, 4), False),
    "median-even-dim": (lambda m, x: m.median(x, 1).values, distinct, (3, 4), False),
    "sort-0d": (lambda m, x: m.sort(x).values * m.median(x, 0).values, real, (), False),
}
SMOOTH = [k for k, c in CASES.items() if c[3]]


def _torch():
    return pytest.importorskip("torch")


def _weights(shape):
    return np.random.default_rng(3).integers(1, 5, size=shape) / 4.0


def _sg_grad(name, v, dtype=np.float64):
    fn = CASES[name][0]
    x = sg.tensor(v.astype(dtype), requires_grad=True)
    y = fn(sg, x)
    (y * sg.tensor(_weights(y.shape).astype(dtype))).sum().backward()
    return y, x.grad


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(CASES))
def test_values_and_gradients_match_torch(name, dtype):
    torch = _torch()
    v = CASES[name][1](CASES[name][2])
    y, g = _sg_grad(name, v, np.dtype(dtype))
    t = torch.tensor(v.astype(dtype), requires_grad=True)
    ty = CASES[name][0](torch, t)
    (ty * torch.tensor(_weights(tuple(ty.shape)).astype(dtype))).sum().backward()
    assert y.dtype == np.dtype(dtype) and g.dtype == np.dtype(dtype)
    assert y.shape == tuple(ty.shape)
    f32 = 2e-4 if "large" in name else 1e-5     # inputs scaled by 400: float32 rounding too
    tol = dict(rtol=f32, atol=f32) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **tol)
    np.testing.assert_allclose(g.numpy(), t.grad.numpy(), **tol)


@pytest.mark.parametrize("name", SMOOTH)
def test_second_derivatives_match_torch(name):
    torch = _torch()
    fn, sampler, shape, _ = CASES[name]
    v = sampler(shape)
    w2 = _weights(shape)[::-1].copy() if shape else np.float64(0.75)
    x = sg.tensor(v, requires_grad=True)
    y = fn(sg, x)
    (g,) = sg.autograd.grad((y * sg.tensor(_weights(y.shape))).sum(), [x], create_graph=True)
    (g * sg.tensor(w2)).sum().backward()
    t = torch.tensor(v, requires_grad=True)
    ty = fn(torch, t)
    (tg,) = torch.autograd.grad((ty * torch.tensor(_weights(tuple(ty.shape)))).sum(), [t],
                                create_graph=True)
    (tg * torch.tensor(w2)).sum().backward()
    np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy(), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_indices_match_torch():
    torch = _torch()
    v = distinct((3, 4))
    x, t = sg.tensor(v), torch.tensor(v)
    pairs = [(sg.sort(x, 0), torch.sort(t, 0)),
             (sg.sort(x, descending=True), torch.sort(t, descending=True)),
             (sg.topk(x, 3), torch.topk(t, 3)),
             (sg.topk(x, 2, 0, largest=False), torch.topk(t, 2, 0, largest=False)),
             (sg.kthvalue(x, 2, 0, True), torch.kthvalue(t, 2, 0, True)),
             (sg.median(x, 1), torch.median(t, 1)),
             (sg.cummax(x, 1), torch.cummax(t, 1)), (sg.cummin(x, 0), torch.cummin(t, 0))]
    for ours, theirs in pairs:
        assert ours.indices.dtype == np.int64 and not ours.indices.requires_grad
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
    np.testing.assert_array_equal(sg.argsort(x, 0).numpy(), torch.argsort(t, 0).numpy())
    ties = sg.tensor([1.0, 1.0, 0.0, 1.0])
    tt = torch.tensor([1.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(sg.cummax(ties, 0).indices.numpy(),
                                  torch.cummax(tt, 0).indices.numpy())
    np.testing.assert_array_equal(sg.cummin(ties, 0).indices.numpy(),
                                  torch.cummin(tt, 0).indices.numpy())
    np.testing.assert_array_equal(sg.sort(ties, stable=True).indices.numpy(),
                                  torch.sort(tt, stable=True).indices.numpy())


def test_integer_dtypes_follow_torch():
    torch = _torch()
    for name in ("prod", "cumsum", "cumprod"):
        for dt, tdt in ((np.int32, torch.int32), (np.bool_, torch.bool)):
            ours = getattr(sg, name)(sg.tensor(np.array([1, 2, 3]).astype(dt)), 0)
            theirs = getattr(torch, name)(torch.tensor([1, 2, 3]).to(tdt), 0)
            assert ours.dtype == np.int64 and str(theirs.dtype) == "torch.int64"
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert sg.median(sg.tensor([3, 1, 2], dtype=sg.int32)).dtype == np.int32
    ours = sg.cumsum(sg.tensor([1, 2], dtype=sg.int32), 0, dtype=sg.float32)
    assert ours.dtype == np.float32 and ours.tolist() == [1.0, 3.0]


# ----------------------------------------------------------------------------- torch-free
def _fd(fn, v, w, eps=1e-6):
    g = np.zeros_like(v)
    for idx in np.ndindex(v.shape):
        hi, lo = v.copy(), v.copy()
        hi[idx] += eps
        lo[idx] -= eps
        g[idx] = (np.sum(fn(hi) * w) - np.sum(fn(lo) * w)) / (2 * eps)
    return g


@pytest.mark.parametrize("name", [k for k in CASES if k not in (
    "std-constant-row", "norm-2-dim", "norm-1", "norm-inf", "norm--inf", "norm-0.5")])
def test_gradients_match_finite_differences(name):
    fn, sampler, shape, _ = CASES[name]
    v = sampler(shape)
    y, g = _sg_grad(name, v)
    w = _weights(y.shape)
    fd = _fd(lambda a: fn(sg, sg.tensor(a)).numpy(), v, w)
    np.testing.assert_allclose(g.numpy(), fd, rtol=1e-6, atol=1e-6)


def test_values_match_numpy():
    v = real((3, 4))
    x = sg.tensor(v)
    np.testing.assert_allclose(sg.prod(x, 0).numpy(), np.prod(v, 0), rtol=1e-15)
    np.testing.assert_allclose(sg.var(x, 1).numpy(), np.var(v, 1, ddof=1), rtol=1e-14)
    np.testing.assert_allclose(sg.std(x, correction=0).numpy(), np.std(v), rtol=1e-14)
    np.testing.assert_allclose(sg.norm(x, 3, 1).numpy(), np.linalg.norm(v, 3, axis=1),
                               rtol=1e-14)
    np.testing.assert_allclose(sg.norm(x, -math.inf).numpy(), np.min(np.abs(v)))
    np.testing.assert_allclose(sg.cumprod(x, 0).numpy(), np.cumprod(v, 0), rtol=1e-15)
    np.testing.assert_allclose(sg.logcumsumexp(x, 1).numpy(),
                               np.log(np.cumsum(np.exp(v), 1)), rtol=1e-13)
    np.testing.assert_allclose(sg.logcumsumexp(sg.tensor([800.0, 800.0]), 0).numpy(),
                               [800.0, 800.0 + math.log(2)])
    np.testing.assert_allclose(sg.cummax(x, 1).values.numpy(), np.maximum.accumulate(v, 1))
    np.testing.assert_array_equal(sg.sort(x).values.numpy(), np.sort(v))
    assert sg.median(sg.tensor([4.0, 1.0, 3.0, 2.0])).item() == 2.0    # the lower median
    assert sg.norm(sg.tensor([0.0, 2.0, -1.0]), 0).item() == 2.0        # p=0 counts
    assert math.isnan(sg.var(sg.tensor([1.0])).item())                  # N - correction = 0


def test_float32_stays_float32_and_named_tuples():
    x = sg.tensor([[3.0, 1.0], [2.0, 5.0]], dtype=sg.float32)
    for out in (sg.prod(x), sg.var(x, 0), sg.std(x), sg.norm(x, 1), sg.cumsum(x, 0),
                sg.cumprod(x, 1), sg.logcumsumexp(x, 0), sg.median(x)):
        assert out.dtype == np.float32
    r = sg.sort(x, dim=0)
    assert r.values.dtype == np.float32 and r.indices.dtype == np.int64
    values, indices = sg.topk(x, 1)
    assert values.tolist() == [[3.0], [5.0]] and indices.tolist() == [[0], [1]]
    assert type(sg.var_mean(x)) is tuple and len(sg.std_mean(x, 1)) == 2


def test_methods():
    x = sg.tensor([[3.0, 1.0, 2.0]])
    assert x.argsort().tolist() == [[1, 2, 0]]
    assert x.sort(1, descending=True).values.tolist() == [[3.0, 2.0, 1.0]]
    assert x.cumsum(1).tolist() == [[3.0, 4.0, 6.0]] and x.prod().item() == 6.0
    assert x.var().item() == 1.0 and x.std(1).tolist() == [1.0]
    assert x.norm(1).item() == 6.0 and x.median().item() == 2.0
    assert x.kthvalue(3).values.tolist() == [3.0] and x.topk(1).indices.tolist() == [[0]]
    assert x.cummax(1).indices.tolist() == [[0, 0, 0]]
    assert x.cummin(1).indices.tolist() == [[0, 1, 1]]
    assert x.cumprod(1).tolist() == [[3.0, 3.0, 6.0]]
    assert np.allclose(x.logcumsumexp(1).numpy()[0, -1], np.log(np.exp([3, 1, 2]).sum()))


def test_zero_gradient_conventions():
    x = sg.tensor([[2.0, 0.0, 3.0, 4.0], [0.0, 1.0, 0.0, 5.0]], requires_grad=True)
    sg.prod(x, 1).sum().backward()
    assert x.grad.tolist() == [[0.0, 24.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    x = sg.tensor([2.0, 0.0, 3.0, 0.0, 4.0], requires_grad=True)
    sg.cumprod(x, 0).sum().backward()
    assert x.grad.tolist() == [1.0, 8.0, 0.0, 0.0, 0.0]
    x = sg.tensor([1.0, 1.0, 1.0], requires_grad=True)
    sg.std(x).backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
    x = sg.zeros(3, requires_grad=True)
    sg.norm(x).backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
    x = sg.tensor([0.0, 2.0, -2.0], requires_grad=True)
    sg.norm(x, math.inf).backward()
    assert x.grad.tolist() == [0.0, 0.5, -0.5]


def test_exact_forms_equal_hand_formulas():
    a, b, c = sympy.symbols("x_0 x_1 x_2")
    x = sg.symbol("x", shape=(3,))
    assert sympy.simplify(sg.to_sympy(sg.prod(x)) - a * b * c) == 0
    m = (a + b + c) / 3
    var = ((a - m) ** 2 + (b - m) ** 2 + (c - m) ** 2) / 2
    assert sympy.simplify(sg.to_sympy(sg.var(x)) - var) == 0
    assert sympy.simplify(sg.diff(sg.var(x), x)[0] - sympy.diff(var, a)) == 0
    lse = sg.to_sympy(sg.logcumsumexp(x, 0))
    assert sympy.simplify(lse[2] - sympy.log(sympy.exp(a) + sympy.exp(b) + sympy.exp(c))) == 0
    assert sympy.simplify(sg.to_sympy(sg.norm(x, 3)) -
                          (sympy.Abs(a) ** 3 + sympy.Abs(b) ** 3 + sympy.Abs(c) ** 3)
                          ** sympy.Rational(1, 3)) == 0
    assert list(sg.to_sympy(sg.cumsum(x, 0))) == [a, a + b, a + b + c]


@pytest.mark.parametrize("name", [k for k, c in CASES.items() if c[1] is distinct])
def test_exact_gradient_at_a_point_equals_backward(name):
    """Value-dependent ops: the exact form at the tensor's values, differentiated by SymPy."""
    fn, sampler, shape, _ = CASES[name]
    v = sampler(shape)
    x = sg.tensor(v, requires_grad=True, name="x")
    y = fn(sg, x)
    f = (y * sg.tensor(_weights(y.shape))).sum()
    (exact,) = sg.gradient(f, [x])
    f.backward()
    np.testing.assert_allclose(np.asarray(sg.lambdify(exact, [x])(v), float).reshape(v.shape),
                               x.grad.numpy(), rtol=1e-13, atol=1e-13)


def test_symbolic_inputs_give_values_without_indices():
    x = sg.symbol("x", shape=("N", 3))
    r = sg.sort(x, dim=1)
    assert r.values.shape == ("N", 3) and r.indices is None
    assert sg.topk(x, 2).values.shape == ("N", 2) and sg.var(x, 1).shape == ("N",)
    assert sg.kthvalue(x, 1, 1, keepdim=True).values.shape == ("N", 1)


def test_bad_input_raises_like_torch():
    x = sg.tensor([[3.0, 1.0], [2.0, 5.0]])
    for call in (lambda: sg.cumsum(x, 5), lambda: sg.sort(x, -3), lambda: sg.var(x, 2),
                 lambda: sg.topk(x, 1, dim=2), lambda: sg.median(x, 7), lambda: sg.prod(x, 2)):
        with pytest.raises(IndexError, match=r"expected to be in range of \[-2, 1\]"):
            call()
    with pytest.raises(RuntimeError, match=r"k=3 is out of range .* 0 <= k <= 2"):
        sg.topk(x, 3)
    with pytest.raises(RuntimeError, match=r"k=0 is out of range .* 1 <= k <= 2"):
        sg.kthvalue(x, 0)
    with pytest.raises(RuntimeError, match="floating point"):
        sg.var(sg.tensor([1, 2, 3]))
    with pytest.raises(RuntimeError, match="floating point"):
        sg.norm(sg.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match="one dim"):
        sg.prod(x, (0, 1))
    with pytest.raises(TypeError, match="not both"):
        sg.std(x, 0, True, correction=0)
    with pytest.raises(ValueError, match="'nuc' is not supported"):
        sg.norm(x, "nuc")
