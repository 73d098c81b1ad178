"""Issue 11, neural-network ops: conv1d/conv2d, pooling, interpolate, norms, dropout,
embedding, scaled_dot_product_attention.

Against PyTorch (values and gradients, float32 and float64, every option) where
torch is installed; without it, finite differences, exact forms (``sg.diff``
equal to hand-written SymPy), and PyTorch's errors.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy

import symgrad as sg
import symgrad.nn.functional as F
from numeric import FORWARD, Op

rng = np.random.default_rng(11)
DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


@pytest.fixture(scope="module")
def torch():
    """torch, on one thread: its threaded CPU conv backward on tiny inputs takes ~0.4 s."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


def _grads_vs_torch(torch, fn_sg, fn_t, arrays, dtype, *, seed_out=None):
    """Run ``fn`` on ``arrays`` in both libraries; compare the output and every gradient."""
    xs = [sg.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    ts = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    out, ref = fn_sg(*xs), fn_t(*ts)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), **TOL[dtype])
    g = rng.normal(size=ref.shape).astype(dtype) if seed_out is None else seed_out
    out.backward(sg.tensor(g))
    ref.backward(torch.tensor(g))
    for x, t in zip(xs, ts):
        assert x.grad.dtype == np.dtype(dtype)
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), **TOL[dtype])
    return out


def _fd_check(fn, arrays, eps=1e-6):
    """Eager gradients of sum(w * fn(*xs)) against central differences (torch-free)."""
    xs = [sg.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*xs)
    w = rng.normal(size=out.shape)
    (out * sg.tensor(w)).sum().backward()
    for i, a in enumerate(arrays):
        num = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            hi, lo = [b.copy() for b in arrays], [b.copy() for b in arrays]
            hi[i][idx] += eps
            lo[i][idx] -= eps
            f = lambda vs: float(np.sum(w * fn(*[sg.tensor(v) for v in vs]).numpy()))  # noqa: E731
            num[idx] = (f(hi) - f(lo)) / (2 * eps)
        np.testing.assert_allclose(xs[i].grad.numpy(), num, rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------- conv
CONV2D = [dict(), dict(stride=2), dict(stride=(2, 1), padding=1), dict(padding=(2, 0)),
          dict(padding="same"), dict(padding="same", dilation=(2, 1)), dict(padding="valid"),
          dict(dilation=2, padding=1), dict(groups=2), dict(groups=4, stride=(1, 2))]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opts", CONV2D, ids=str)
@pytest.mark.parametrize("bias", [False, True])
def test_conv2d_values_and_grads_match_torch(torch, opts, dtype, bias):
    x, w = rng.normal(size=(2, 4, 7, 6)), rng.normal(size=(4, 4 // opts.get("groups", 1), 3, 2))
    arrays = [x, w] + ([rng.normal(size=4)] if bias else [])
    _grads_vs_torch(torch, lambda *a: sg.conv2d(*a, **opts),
                    lambda *a: torch.nn.functional.conv2d(*a, **opts), arrays, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opts", [dict(), dict(stride=2, padding=2), dict(dilation=3),
                                  dict(padding="same"), dict(groups=2, padding=1)], ids=str)
def test_conv1d_values_and_grads_match_torch(torch, opts, dtype):
    arrays = [rng.normal(size=(3, 2, 9)), rng.normal(size=(4, 2 // opts.get("groups", 1), 3)),
              rng.normal(size=4)]
    _grads_vs_torch(torch, lambda *a: F.conv1d(*a, **opts),
                    lambda *a: torch.nn.functional.conv1d(*a, **opts), arrays, dtype)


def test_conv2d_unbatched_input_and_top_level_names(torch):
    arrays = [rng.normal(size=(2, 5, 5)), rng.normal(size=(3, 2, 2, 2))]
    out = _grads_vs_torch(torch, lambda x, w: sg.conv2d(x, w, padding=1),
                          lambda x, w: torch.conv2d(x, w, padding=1), arrays, np.float64)
    assert out.shape == (3, 6, 6) and F.conv2d is sg.conv2d


def test_conv2d_second_derivatives_match_torch(torch):
    x, w = rng.normal(size=(1, 2, 5, 5)), rng.normal(size=(2, 1, 3, 3))
    xs, ws = sg.tensor(x, requires_grad=True), sg.tensor(w, requires_grad=True)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    (gx,) = sg.autograd.grad((sg.conv2d(xs, ws, stride=2, padding=1, groups=2) ** 2).sum(),
                             [xs], create_graph=True)
    (gxt,) = torch.autograd.grad((torch.conv2d(xt, wt, stride=2, padding=1, groups=2) ** 2)
                                 .sum(), [xt], create_graph=True)
    (gx ** 2).sum().backward()
    (gxt ** 2).sum().backward()
    np.testing.assert_allclose(ws.grad.numpy(), wt.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_conv_finite_differences():
    x, w = rng.normal(size=(1, 2, 5, 4)), rng.normal(size=(2, 1, 2, 3))
    _fd_check(lambda a, b: sg.conv2d(a, b, stride=(2, 1), padding=(1, 2), dilation=(2, 1),
                                     groups=2), [x, w])
    _fd_check(lambda a, b: sg.conv1d(a, b, padding="same"),
              [rng.normal(size=(2, 1, 6)), rng.normal(size=(1, 1, 4))])


def test_conv_exact_form_is_the_window_sum():
    """sg.diff of a 1x1x3x3 conv (2x2 kernel, stride 1) by the kernel: the input windows."""
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    w = sg.tensor(np.ones((1, 1, 2, 2)), requires_grad=True, name="w")
    y = sg.conv2d(sg.tensor(x), w)
    d = sg.diff(y[0, 0, 1, 0], w)
    assert [d[0, 0, i, j] for i in range(2) for j in range(2)] == [3, 4, 6, 7]
    xs = sg.tensor(x, name="x")
    out = sg.conv2d(xs, sg.tensor([[[[1.0, -2.0], [0.5, 3.0]]]]), padding=1).sum()
    expected = sum(c * sympy.Symbol(f"x_0_0_{i}_{j}") for i in range(3) for j in range(3)
                   for c in [1.0 - 2.0 + 0.5 + 3.0])
    grad = sg.gradient(out, [xs])[0]
    assert all(sympy.simplify(grad[0, 0, i, j] - sympy.Rational(5, 2)) == 0
               for i in range(3) for j in range(3))
    assert sympy.simplify(sympy.Add(*[grad[0, 0, i, j] * sympy.Symbol(f"x_0_0_{i}_{j}")
                                      for i in range(3) for j in range(3)]) - expected) == 0


@pytest.mark.parametrize("call,error,match", [
    (lambda: sg.conv2d(sg.ones(1, 3, 4, 4), sg.ones(2, 2, 2, 2)), RuntimeError,
     "expected input.* to have 2 channels, but got 3"),
    (lambda: sg.conv2d(sg.ones(1, 4, 4, 4), sg.ones(3, 2, 2, 2), groups=2), RuntimeError,
     "divisible by 2"),
    (lambda: sg.conv2d(sg.ones(1, 1, 4, 4), sg.ones(1, 1, 2, 2), stride=2, padding="same"),
     RuntimeError, "strided"),
    (lambda: sg.conv2d(sg.ones(1, 1, 4, 4), sg.ones(1, 1, 2, 2), padding="full"),
     RuntimeError, "Invalid padding string"),
    (lambda: sg.conv2d(sg.ones(1, 1, 2, 2), sg.ones(1, 1, 3, 3)), RuntimeError,
     "can't be greater than actual input size"),
    (lambda: sg.conv2d(sg.ones(1, 1, 4, 4), sg.ones(1, 1, 2, 2), padding=-1), RuntimeError,
     "negative padding"),
    (lambda: sg.conv2d(sg.ones(1, 1, 4, 4), sg.ones(1, 1, 2, 2), stride=0), RuntimeError,
     "non-positive stride"),
    (lambda: sg.conv2d(sg.ones(4, 4), sg.ones(1, 1, 2, 2)), RuntimeError, "3D.*4D"),
    (lambda: sg.conv2d(sg.ones(1, 1, 4, 4), sg.ones(1, 1, 2, 2), bias=sg.ones(2)),
     RuntimeError, "bias"),
])
def test_conv_errors_as_torch(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------------------- pooling
MAXPOOL = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
           dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2)),
           dict(kernel_size=3, stride=2, ceil_mode=True), dict(kernel_size=2, stride=1,
                                                               dilation=2, padding=1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opts", MAXPOOL, ids=str)
def test_max_pool2d_values_grads_and_indices_match_torch(torch, opts, dtype):
    x = rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) / 10.0     # no ties
    _grads_vs_torch(torch, lambda a: F.max_pool2d(a, **opts),
                    lambda a: torch.nn.functional.max_pool2d(a, **opts), [x], dtype)
    _, idx = sg.max_pool2d(sg.tensor(x), **opts, return_indices=True)
    _, ref = torch.nn.functional.max_pool2d(torch.tensor(x), **opts, return_indices=True)
    assert idx.dtype == np.int64 and not idx.requires_grad
    np.testing.assert_array_equal(idx.numpy(), ref.numpy())


def test_max_pool2d_ties_route_to_the_first_maximum_as_torch(torch):
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = x[0, 0, 1, 2] = 1.0
    for opts in (dict(kernel_size=2, stride=1), dict(kernel_size=3, padding=1, stride=2)):
        _grads_vs_torch(torch, lambda a: sg.max_pool2d(a, **opts),
                        lambda a: torch.max_pool2d(a, **opts), [x], np.float64)


def test_max_pool2d_exact_form_at_the_point_matches_the_eager_gradient():
    x = sg.tensor(rng.permutation(25).reshape(1, 1, 5, 5) * 1.0, requires_grad=True, name="x")
    y = sg.max_pool2d(x, 3, stride=2, padding=1)
    w = rng.integers(1, 5, size=y.shape) * 1.0
    loss = (y * sg.tensor(w)).sum()
    loss.backward()
    exact = sg.gradient(loss, [x])[0]
    got = np.array([[float(exact[0, 0, i, j]) for j in range(5)] for i in range(5)])
    np.testing.assert_array_equal(got, x.grad.numpy()[0, 0])
    assert sg.diff(y[0, 0, 0, 0], x)[0, 0, 1, 1] in (0, 1)


AVGPOOL = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
           dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
           dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), ceil_mode=True),
           dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opts", AVGPOOL, ids=str)
def test_avg_pool2d_matches_torch(torch, opts, dtype):
    _grads_vs_torch(torch, lambda a: F.avg_pool2d(a, **opts),
                    lambda a: torch.nn.functional.avg_pool2d(a, **opts),
                    [rng.normal(size=(2, 3, 7, 6))], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [(3, 2), 1, (7, 6), (4, None), (5, 4)], ids=str)
def test_adaptive_avg_pool2d_matches_torch(torch, size, dtype):
    _grads_vs_torch(torch, lambda a: F.adaptive_avg_pool2d(a, size),
                    lambda a: torch.nn.functional.adaptive_avg_pool2d(a, size),
                    [rng.normal(size=(2, 3, 7, 6))], dtype)


def test_pooling_finite_differences_and_exact_forms():
    x = rng.normal(size=(1, 2, 5, 5))
    _fd_check(lambda a: sg.avg_pool2d(a, 3, 2, 1, ceil_mode=True, count_include_pad=False), [x])
    _fd_check(lambda a: sg.adaptive_avg_pool2d(a, (2, 3)), [x])
    _fd_check(lambda a: sg.max_pool2d(a, 2, 1), [rng.permutation(50).reshape(1, 2, 5, 5) / 7])
    # the corner window of a 3x3 average with padding 1, count_include_pad=False: 4 cells
    xs = sg.tensor(np.ones((1, 1, 3, 3)), name="x")
    d = sg.diff(sg.avg_pool2d(xs, 3, 1, 1, count_include_pad=False)[0, 0, 0, 0], xs)
    assert d[0, 0, 0, 0] == sympy.Rational(1, 4) and d[0, 0, 2, 2] == 0
    d = sg.diff(sg.avg_pool2d(xs, 3, 1, 1)[0, 0, 0, 0], xs)
    assert d[0, 0, 0, 0] == sympy.Rational(1, 9)
    # adaptive 3 -> 2: windows [0, 2) and [1, 3) overlap in the middle
    d = sg.diff(sg.adaptive_avg_pool2d(xs, (2, 1))[0, 0, 1, 0], xs)
    assert [d[0, 0, i, 0] for i in range(3)] == [0, sympy.Rational(1, 6), sympy.Rational(1, 6)]


@pytest.mark.parametrize("call,error,match", [
    (lambda: sg.max_pool2d(sg.ones(1, 1, 4, 4), 2, padding=2), RuntimeError, "at most half"),
    (lambda: sg.avg_pool2d(sg.ones(1, 1, 4, 4), 3, padding=2), RuntimeError, "at most half"),
    (lambda: sg.max_pool2d(sg.ones(1, 1, 1, 1), 2), RuntimeError, "too small"),
    (lambda: sg.max_pool2d(sg.ones(4, 4), 2), RuntimeError, "3D.*4D"),
    (lambda: sg.adaptive_avg_pool2d(sg.ones(1, 1, 4, 4), (0, 2)), RuntimeError, "positive"),
])
def test_pooling_errors_as_torch(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------------------- interpolate
INTERP = [dict(size=(14, 12)), dict(size=(5, 4)), dict(scale_factor=2), dict(scale_factor=(1.7, 0.6)),
          dict(size=(9, 13), mode="bilinear"), dict(size=(4, 3), mode="bilinear"),
          dict(scale_factor=2, mode="bilinear"), dict(scale_factor=(1.5, 2.5), mode="bilinear"),
          dict(size=(9, 13), mode="bilinear", align_corners=True),
          dict(scale_factor=2, mode="bilinear", align_corners=True),
          dict(scale_factor=1.7, mode="bilinear", recompute_scale_factor=True)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opts", INTERP, ids=str)
def test_interpolate_matches_torch(torch, opts, dtype):
    _grads_vs_torch(torch, lambda a: F.interpolate(a, **opts),
                    lambda a: torch.nn.functional.interpolate(a, **opts),
                    [rng.normal(size=(2, 3, 7, 6))], dtype)


def test_interpolate_exact_form_and_finite_differences():
    xs = sg.tensor(np.ones((1, 1, 2, 2)), name="x")
    d = sg.diff(F.interpolate(xs, scale_factor=2, mode="bilinear")[0, 0, 1, 1], xs)
    # output (1, 1) sits at source (0.25, 0.25): weights 3/4 * 3/4, 3/4 * 1/4, ...
    assert d[0, 0, 0, 0] == sympy.Rational(9, 16) and d[0, 0, 1, 1] == sympy.Rational(1, 16)
    _fd_check(lambda a: F.interpolate(a, size=(5, 3), mode="bilinear", align_corners=True),
              [rng.normal(size=(1, 2, 3, 4))])


@pytest.mark.parametrize("call,error,match", [
    (lambda: F.interpolate(sg.ones(1, 1, 2, 2)), ValueError, "size or scale_factor"),
    (lambda: F.interpolate(sg.ones(1, 1, 2, 2), size=3, scale_factor=2), ValueError,
     "size or scale_factor"),
    (lambda: F.interpolate(sg.ones(1, 1, 2, 2), size=3, align_corners=True), ValueError,
     "align_corners"),
    (lambda: F.interpolate(sg.ones(1, 1, 2, 2), size=3, mode="bicubic"), NotImplementedError,
     "bicubic"),
    (lambda: F.interpolate(sg.ones(1, 2, 2), size=3, mode="bilinear"), NotImplementedError,
     "4D"),
])
def test_interpolate_errors_as_torch(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------------------- norms
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,normalized,affine", [
    ((3, 5), (5,), True), ((2, 3, 4), (3, 4), True), ((2, 3, 4), 4, False), ((6,), (6,), True)])
def test_layer_norm_matches_torch(torch, shape, normalized, affine, dtype):
    n = (normalized,) if isinstance(normalized, int) else normalized
    arrays = [rng.normal(size=shape)] + ([rng.normal(size=n), rng.normal(size=n)] if affine
                                         else [])
    _grads_vs_torch(torch, lambda x, *wb: sg.layer_norm(x, normalized, *wb, eps=1e-4),
                    lambda x, *wb: torch.layer_norm(x, n, *wb, eps=1e-4), arrays, dtype)


def test_layer_norm_second_derivatives_match_torch(torch):
    x = rng.normal(size=(2, 5))
    xs, xt = sg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    w = rng.normal(size=(2, 5))
    (g,) = sg.autograd.grad((sg.layer_norm(xs, (5,)) * sg.tensor(w)).sum(), [xs],
                            create_graph=True)
    (gt,) = torch.autograd.grad((torch.layer_norm(xt, (5,)) * torch.tensor(w)).sum(), [xt],
                                create_graph=True)
    (g ** 2).sum().backward()
    (gt ** 2).sum().backward()
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (2, 3, 4, 2)])
def test_batch_norm_training_matches_torch_and_updates_running_stats(torch, shape, dtype):
    c = shape[1]
    rm, rv = rng.normal(size=c).astype(dtype), rng.uniform(0.5, 2, size=c).astype(dtype)
    rms, rvs = sg.tensor(rm.copy()), sg.tensor(rv.copy())
    rmt, rvt = torch.tensor(rm.copy()), torch.tensor(rv.copy())
    arrays = [rng.normal(size=shape), rng.normal(size=c), rng.normal(size=c)]
    _grads_vs_torch(torch, lambda x, w, b: F.batch_norm(x, rms, rvs, w, b, True, 0.3),
                    lambda x, w, b: torch.nn.functional.batch_norm(x, rmt, rvt, w, b, True, 0.3),
                    arrays, dtype)
    np.testing.assert_allclose(rms.numpy(), rmt.numpy(), **TOL[dtype])
    np.testing.assert_allclose(rvs.numpy(), rvt.numpy(), **TOL[dtype])
    assert rms._version == 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_eval_matches_torch(torch, dtype):
    rm, rv = rng.normal(size=3), rng.uniform(0.5, 2, size=3)
    arrays = [rng.normal(size=(2, 3, 4)), rng.normal(size=3), rng.normal(size=3)]
    _grads_vs_torch(
        torch, lambda x, w, b: F.batch_norm(x, sg.tensor(rm.astype(dtype)),
                                            sg.tensor(rv.astype(dtype)), w, b),
        lambda x, w, b: torch.batch_norm(x, w, b, torch.tensor(rm.astype(dtype)),
                                         torch.tensor(rv.astype(dtype)), False, 0.1, 1e-5,
                                         False),
        arrays, dtype)


def test_top_level_batch_norm_and_embedding_take_torchs_argument_orders(torch):
    rm, rv = rng.normal(size=3), rng.uniform(0.5, 2, size=3)
    _grads_vs_torch(
        torch, lambda x, w, b: sg.batch_norm(x, w, b, sg.tensor(rm), sg.tensor(rv), False, 0.1,
                                             1e-3, True),
        lambda x, w, b: torch.batch_norm(x, w, b, torch.tensor(rm), torch.tensor(rv), False,
                                         0.1, 1e-3, True),
        [rng.normal(size=(2, 3, 4)), rng.normal(size=3), rng.normal(size=3)], np.float64)
    idx = np.array([[0, 2], [2, 1]])
    for pad in (-1, 2):
        _grads_vs_torch(torch, lambda w: sg.embedding(w, sg.tensor(idx), pad),
                        lambda w: torch.embedding(w, torch.tensor(idx), pad),
                        [rng.normal(size=(3, 4))], np.float64)


def test_norms_finite_differences_and_exact_form():
    _fd_check(lambda x, w, b: sg.layer_norm(x, (2, 3), w, b),
              [rng.normal(size=(2, 2, 3)), rng.normal(size=(2, 3)), rng.normal(size=(2, 3))])
    _fd_check(lambda x: F.batch_norm(x, None, None, training=True),
              [rng.normal(size=(3, 2, 2))])
    # the exact derivative is SymPy's derivative of the hand-written formula
    x = sg.tensor([[3.0, 1.0, 2.0]], name="x")
    y = sg.layer_norm(x, (3,), eps=0.25)[0, 0]
    a, b, c = sympy.symbols("x_0_0 x_0_1 x_0_2")
    m = (a + b + c) / 3
    hand = (a - m) / sympy.sqrt(((a - m) ** 2 + (b - m) ** 2 + (c - m) ** 2) / 3
                                + sympy.Rational(1, 4))
    d = sg.diff(y, x, simplify=False)
    point = {a: 3, b: 1, c: 2}
    for j, s in enumerate((a, b, c)):
        assert abs(sympy.N((d[0, j] - sympy.diff(hand, s)).subs(point), 30)) < 1e-25


@pytest.mark.parametrize("call,error,match", [
    (lambda: sg.layer_norm(sg.ones(2, 3), (4,)), RuntimeError, r"normalized_shape=\[4\]"),
    (lambda: sg.layer_norm(sg.ones(2, 3), (3,), sg.ones(2)), RuntimeError, "weight"),
    (lambda: F.batch_norm(sg.ones(1, 3), None, None, training=True), ValueError,
     "more than 1 value per channel"),
    (lambda: F.batch_norm(sg.ones(2, 3), sg.zeros(4), sg.ones(3)), RuntimeError,
     "running_mean should contain 3"),
    (lambda: F.batch_norm(sg.ones(2, 3), None, None), RuntimeError, "evaluation mode"),
])
def test_norm_errors_as_torch(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------------------- dropout
def test_dropout_mask_scale_seed_and_exact_gradient():
    x = sg.tensor(rng.normal(size=(40, 50)), requires_grad=True, name="x")
    sg.manual_seed(3)
    y = F.dropout(x, p=0.3)
    sg.manual_seed(3)
    np.testing.assert_array_equal(F.dropout(x, p=0.3).detach().numpy(), y.detach().numpy())
    mask = y.detach().numpy() / x.detach().numpy()
    assert set(np.round(np.unique(mask), 12)) == {0.0, round(1 / 0.7, 12)}
    assert abs((mask == 0).mean() - 0.3) < 0.05
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), mask, rtol=1e-15)
    # exact: d y[i, j] / d x[i, j] is the drawn mask entry
    small = sg.tensor([1.0, 2.0, 3.0, 4.0], name="s")
    sg.manual_seed(0)
    z = sg.dropout(small, 0.5)
    d = sg.diff(z.sum(), small)
    assert [d[i] for i in range(4)] == [2 if v else 0 for v in z.numpy() != 0]


def test_dropout_identity_cases_and_dtypes():
    x = sg.tensor([1.0, 2.0], dtype=sg.float32)
    assert F.dropout(x, 0.5, training=False) is x and sg.dropout(x, 0.0) is x
    assert F.dropout(x, 1.0).tolist() == [0.0, 0.0] and F.dropout(x, 0.5).dtype == np.float32
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="between 0 and 1"):
            F.dropout(x, p)


def test_dropout_statistics_match_torch(torch):
    x = np.ones((200, 200))
    ours, ref = F.dropout(sg.tensor(x), 0.25).numpy(), torch.nn.functional.dropout(
        torch.tensor(x), 0.25).numpy()
    assert set(np.unique(ours)) == set(np.unique(ref)) and abs(ours.mean() - ref.mean()) < 0.02


# ----------------------------------------------------------------------------- embedding
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding_idx", [None, 1, -2, 3])
def test_embedding_matches_torch(torch, padding_idx, dtype):
    idx = np.array([[1, 3, 1], [0, 4, 2]])
    w = rng.normal(size=(5, 3))
    _grads_vs_torch(torch, lambda a: F.embedding(sg.tensor(idx), a, padding_idx),
                    lambda a: torch.nn.functional.embedding(torch.tensor(idx), a, padding_idx),
                    [w], dtype)


def test_embedding_exact_form_and_errors():
    w = sg.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True, name="w")
    y = F.embedding(sg.tensor([2, 0, 2]), w, padding_idx=0)
    d = sg.gradient(y.sum(), [w])[0]
    assert [[d[i, j] for j in range(2)] for i in range(3)] == [[0, 0], [0, 0], [2, 2]]
    for bad in ([3], [-1]):
        with pytest.raises(IndexError, match="out of range"):
            F.embedding(sg.tensor(bad), w)
    with pytest.raises(RuntimeError, match="integer"):
        F.embedding(sg.tensor([0.0]), w)


# ----------------------------------------------------------------------------- attention
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opts", ["none", "bool", "float", "causal", "scale"])
def test_scaled_dot_product_attention_matches_torch(torch, opts, dtype):
    q, k, v = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 5, 2))
    mask = {"bool": rng.uniform(size=(3, 5)) < 0.7, "float": rng.normal(size=(2, 3, 5))}
    mask["bool"][:, 0] = True
    kw = {"bool": dict(attn_mask=mask["bool"]), "float": dict(attn_mask=mask["float"]),
          "causal": dict(is_causal=True), "scale": dict(scale=0.3), "none": {}}[opts]
    kw = {key: (val.astype(dtype) if key == "attn_mask" and val.dtype != bool else val)
          for key, val in kw.items()}
    kt = {key: (torch.tensor(val) if key == "attn_mask" else val) for key, val in kw.items()}
    if opts == "causal":
        q = rng.normal(size=(2, 5, 4))
    _grads_vs_torch(torch, lambda *a: F.scaled_dot_product_attention(*a, **kw),
                    lambda *a: torch.nn.functional.scaled_dot_product_attention(*a, **kt),
                    [q, k, v], dtype)


def test_attention_finite_differences_and_errors():
    _fd_check(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
              [rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2))])
    with pytest.raises(RuntimeError, match="is_causal"):
        F.scaled_dot_product_attention(sg.ones(2, 2), sg.ones(2, 2), sg.ones(2, 2),
                                       attn_mask=np.ones((2, 2), bool), is_causal=True)
    with pytest.raises(RuntimeError, match="query"):
        F.scaled_dot_product_attention(sg.ones(2, 3), sg.ones(2, 2), sg.ones(2, 2))


# ----------------------------------------------------------------------------- plumbing
def test_functional_exports_and_symbolic_shapes():
    for name in ("conv1d", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
                 "interpolate", "layer_norm", "batch_norm", "dropout", "embedding",
                 "scaled_dot_product_attention"):
        assert name in F.__all__ and callable(getattr(F, name))
    x = sg.symbol("X", shape=(2, 3, 6, 6))
    assert sg.conv2d(x, sg.ones(4, 3, 3, 3), stride=2, padding=1).shape == (2, 4, 3, 3)
    assert sg.avg_pool2d(x, 2).shape == (2, 3, 3, 3)
    assert FORWARD[Op.STANDARDIZE](np.float32([1, 3]), axis=(0,), eps=0.0).dtype == np.float32
