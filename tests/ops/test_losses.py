"""Losses (issue 11): values, gradients and errors against PyTorch, plus torch-free witnesses.

The torch tests compare ``symgrad.nn.functional`` with ``torch.nn.functional`` for every
loss and reduction, float32 and float64, first and second derivatives; the others check
values against numpy formulas, gradients against finite differences, exact forms against
hand-written SymPy, the errors PyTorch raises, and ``sg.compile`` reading new targets.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy

import symgrad as sg
import symgrad.nn.functional as F

pytestmark = pytest.mark.filterwarnings("ignore:Using a target size:UserWarning",
                                        "ignore:reduction. 'mean' divides:UserWarning")
RNG = np.random.default_rng(11)
REDUCTIONS = ("none", "mean", "sum")


def _w(shape):
    return np.random.default_rng(3).standard_normal(shape)


def _logp(shape):
    x = RNG.standard_normal(shape)
    return x - np.log(np.exp(x).sum(axis=1 if len(shape) > 1 else 0, keepdims=True))


# (name, [inputs], kwargs, positions differentiated): every loss, PyTorch's argument names
CASES = [
    ("mse_loss", [RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))], {}, (0, 1)),
    ("mse_loss", [RNG.standard_normal((3, 1)), RNG.standard_normal((1, 4))], {}, (0, 1)),
    ("l1_loss", [RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))], {}, (0, 1)),
    ("smooth_l1_loss", [RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))],
     {"beta": 0.7}, (0, 1)),
    ("huber_loss", [RNG.standard_normal((3, 4)), RNG.standard_normal((4,))], {"delta": 0.6},
     (0, 1)),
    ("kl_div", [_logp((3, 4)), RNG.dirichlet(np.ones(4), 3)], {}, (0, 1)),
    ("kl_div", [_logp((3, 4)), _logp((3, 4))], {"log_target": True}, (0, 1)),
    ("binary_cross_entropy", [RNG.uniform(0.05, 0.95, (3, 4)), RNG.uniform(0, 1, (3, 4)),
                              RNG.uniform(0.5, 2, (4,))], {}, (0, 1)),
    ("binary_cross_entropy_with_logits", [RNG.standard_normal((3, 4)), RNG.uniform(0, 1, (3, 4))],
     {"pos_weight": RNG.uniform(0.5, 2, (4,)), "weight": RNG.uniform(0.5, 2, (3, 1))}, (0, 1)),
    ("nll_loss", [_logp((3, 4)), np.array([0, 3, 1])], {"weight": RNG.uniform(0.5, 2, 4)}, (0,)),
    ("nll_loss", [_logp((2, 3, 2)), np.array([[0, 2], [1, 1]])], {"ignore_index": 1}, (0,)),
    ("cross_entropy", [RNG.standard_normal((3, 4)), np.array([0, -100, 2])],
     {"weight": RNG.uniform(0.5, 2, 4), "label_smoothing": 0.2}, (0,)),
    ("cross_entropy", [RNG.standard_normal(4), np.array(2)], {}, (0,)),
    ("cross_entropy", [RNG.standard_normal((2, 3, 2, 2)), RNG.integers(0, 3, (2, 2, 2))],
     {"label_smoothing": 0.1}, (0,)),
    ("cross_entropy", [RNG.standard_normal((3, 4)), RNG.dirichlet(np.ones(4), 3)],
     {"weight": RNG.uniform(0.5, 2, 4), "label_smoothing": 0.3}, (0, 1)),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _call(lib, name, arrays, kwargs, grads, reduction, wrap, dtype):
    args = [wrap(a.astype(dtype) if a.dtype.kind == "f" else a, i in grads)
            for i, a in enumerate(arrays)]
    kw = {k: wrap(v.astype(dtype), False) if isinstance(v, np.ndarray) else v
          for k, v in kwargs.items()}
    return args, getattr(lib, name)(*args, **kw, reduction=reduction)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_values_and_gradients_match_torch(case, dtype, torch):
    name, arrays, kwargs, grads = case
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-6)
    for reduction in REDUCTIONS:
        ours_in, ours = _call(F, name, arrays, kwargs, grads, reduction,
                              lambda a, rg: sg.tensor(a, requires_grad=rg), dtype)
        theirs_in, theirs = _call(torch.nn.functional, name, arrays, kwargs, grads, reduction,
                                  lambda a, rg: torch.tensor(a, requires_grad=rg), dtype)
        assert ours.dtype == dtype and ours.shape == tuple(theirs.shape)
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), **tol)
        w = _w(ours.shape).astype(dtype)
        g = sg.autograd.grad((ours * sg.tensor(w)).sum(), [ours_in[i] for i in grads])
        tg = torch.autograd.grad((theirs * torch.tensor(w)).sum(), [theirs_in[i] for i in grads])
        for a, b in zip(g, tg):
            assert a.dtype == dtype
            np.testing.assert_allclose(a.numpy(), b.numpy(), **tol)


# l1 and nll are linear in the input between kinks: no second-order graph
_SMOOTH = [(i, c) for i, c in zip(IDS, CASES) if c[0] not in ("l1_loss", "nll_loss")]


@pytest.mark.parametrize("case", [c for _, c in _SMOOTH], ids=[i for i, _ in _SMOOTH])
def test_second_derivatives_match_torch(case, torch):
    name, arrays, kwargs, grads = case
    ours_in, ours = _call(F, name, arrays, kwargs, grads, "sum",
                          lambda a, rg: sg.tensor(a, requires_grad=rg), np.float64)
    theirs_in, theirs = _call(torch.nn.functional, name, arrays, kwargs, grads, "sum",
                              lambda a, rg: torch.tensor(a, requires_grad=rg), np.float64)
    x, tx = ours_in[0], theirs_in[0]
    (g,) = sg.autograd.grad(ours, [x], create_graph=True)
    (tg,) = torch.autograd.grad(theirs, [tx], create_graph=True)
    v = _w(x.shape)
    (h,) = sg.autograd.grad((g * sg.tensor(v)).sum(), [x], allow_unused=True)
    (th,) = torch.autograd.grad((tg * torch.tensor(v)).sum(), [tx], allow_unused=True)
    want = np.zeros(x.shape) if th is None else th.numpy()
    np.testing.assert_allclose(np.zeros(x.shape) if h is None else h.numpy(), want,
                               rtol=1e-9, atol=1e-12)


def test_cosine_similarity_matches_torch(torch):
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((4,))
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        for dim in (1, -1):
            x, y = sg.tensor(a.astype(dtype), requires_grad=True), sg.tensor(b.astype(dtype),
                                                                             requires_grad=True)
            tx, ty = (torch.tensor(v.astype(dtype), requires_grad=True) for v in (a, b))
            out, tout = sg.cosine_similarity(x, y, dim=dim), torch.cosine_similarity(tx, ty, dim)
            assert out.dtype == dtype and F.cosine_similarity is sg.cosine_similarity
            np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), atol=tol)
            w = _w(out.shape).astype(dtype)
            for p, q in zip(sg.autograd.grad((out * sg.tensor(w)).sum(), [x, y]),
                            torch.autograd.grad((tout * torch.tensor(w)).sum(), [tx, ty])):
                np.testing.assert_allclose(p.numpy(), q.numpy(), atol=tol * 10)


def test_kink_gradients_follow_torch(torch):
    """l1 at a tie, smooth_l1 / huber at the switch (value, gradient and second derivative)."""
    x = np.array([0.0, 0.5, -0.5, 1.0, -2.0])
    for name, kw in (("l1_loss", {}), ("smooth_l1_loss", {"beta": 0.5}),
                     ("huber_loss", {"delta": 0.5})):
        a, ta = sg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        (g,) = sg.autograd.grad(getattr(F, name)(a, sg.zeros(5), reduction="sum", **kw), [a],
                                create_graph=True)
        (tg,) = torch.autograd.grad(getattr(torch.nn.functional, name)(
            ta, torch.zeros(5, dtype=torch.float64), reduction="sum", **kw), [ta],
            create_graph=True)
        np.testing.assert_array_equal(g.detach().numpy(), tg.detach().numpy())
        if name != "l1_loss":
            (h,) = sg.autograd.grad(g.sum(), [a])
            (th,) = torch.autograd.grad(tg.sum(), [ta])
            np.testing.assert_array_equal(h.numpy(), th.numpy())


def test_edge_values_match_torch(torch):
    """BCE at 0 and 1 (logs clamped at -100), logits at +-800, kl_div's target at 0."""
    p, t = np.array([0.0, 1.0, 0.5]), np.array([1.0, 0.0, 0.3])
    ours = F.binary_cross_entropy(sg.tensor(p), sg.tensor(t), reduction="none").numpy()
    theirs = torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(t),
                                                      reduction="none").numpy()
    np.testing.assert_allclose(ours, theirs)
    assert ours[0] == 100.0
    z = np.array([800.0, -800.0, 0.0])
    a, ta = sg.tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
    out = F.binary_cross_entropy_with_logits(a, sg.tensor(t), reduction="sum")
    tout = torch.nn.functional.binary_cross_entropy_with_logits(ta, torch.tensor(t),
                                                                reduction="sum")
    assert np.isfinite(out.item()) and out.item() == pytest.approx(tout.item())
    np.testing.assert_allclose(sg.autograd.grad(out, [a])[0].numpy(),
                               torch.autograd.grad(tout, [ta])[0].numpy())
    lt = sg.tensor([0.0, 0.5], requires_grad=True)
    kl = F.kl_div(sg.tensor([-1.0, -0.5]), lt, reduction="sum")
    assert kl.item() == pytest.approx(0.5 * (np.log(0.5) + 0.5))
    g = sg.autograd.grad(kl, [lt])[0].numpy()
    assert np.isnan(g[0]) and g[1] == pytest.approx(np.log(0.5) + 1 + 0.5)


# ----------------------------------------------------------------------------- torch-free
def test_values_against_numpy_formulas():
    x, t = np.array([[0.5, -1.0, 2.0]]), np.array([[0.0, 0.0, 1.0]])
    assert F.mse_loss(sg.tensor(x), sg.tensor(t)).item() == pytest.approx((0.25 + 1 + 1) / 3)
    assert F.l1_loss(sg.tensor(x), sg.tensor(t), reduction="sum").item() == 2.5
    np.testing.assert_allclose(
        F.smooth_l1_loss(sg.tensor(x), sg.tensor(t), reduction="none").numpy(),
        [[0.125, 0.5, 0.5]])
    np.testing.assert_allclose(
        F.huber_loss(sg.tensor(x), sg.tensor(t), reduction="none", delta=0.5).numpy(),
        [[0.125, 0.375, 0.375]])
    logits, target = np.array([[1.0, 2.0, 0.5], [0.1, 0.2, 3.0]]), np.array([2, 0])
    lse = np.log(np.exp(logits).sum(axis=1))
    want = lse - logits[[0, 1], target]
    np.testing.assert_allclose(F.cross_entropy(sg.tensor(logits), sg.tensor(target),
                                               reduction="none").numpy(), want)
    w = np.array([1.0, 2.0, 3.0])
    got = F.cross_entropy(sg.tensor(logits), sg.tensor(target), weight=sg.tensor(w)).item()
    assert got == pytest.approx((3 * want[0] + 1 * want[1]) / 4)
    assert F.nll_loss(sg.tensor(logits), sg.tensor([2, -100])).item() == -0.5
    z = np.array([-3.0, 0.0, 4.0])
    bce = F.binary_cross_entropy_with_logits(sg.tensor(z), sg.tensor([1.0, 0.0, 1.0]),
                                             reduction="none").numpy()
    np.testing.assert_allclose(bce, [np.log1p(np.exp(3.0)), np.log(2), np.log1p(np.exp(-4.0))])
    p, q = np.array([[0.2, 0.8]]), np.array([[0.5, 0.5]])
    assert F.kl_div(sg.tensor(np.log(p)), sg.tensor(q), reduction="batchmean").item() == \
        pytest.approx(np.sum(q * np.log(q / p)))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradients_against_finite_differences(case):
    name, arrays, kwargs, grads = case
    kw = {k: sg.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    x0 = arrays[0]

    def f(x):
        args = [sg.tensor(x)] + [sg.tensor(a) for a in arrays[1:]]
        return (getattr(F, name)(*args, **kw, reduction="none") * sg.tensor(_w(
            getattr(F, name)(*args, **kw, reduction="none").shape))).sum().item()
    x = sg.tensor(x0, requires_grad=True)
    out = getattr(F, name)(x, *[sg.tensor(a) for a in arrays[1:]], **kw, reduction="none")
    (g,) = sg.autograd.grad((out * sg.tensor(_w(out.shape))).sum(), [x])
    fd = np.zeros(x0.shape)
    for idx in np.ndindex(x0.shape):
        e = np.zeros(x0.shape)
        e[idx] = 1e-6
        fd[idx] = (f(x0 + e) - f(x0 - e)) / 2e-6
    np.testing.assert_allclose(g.numpy(), fd, rtol=1e-5, atol=1e-7)


def test_exact_forms_match_hand_written_sympy():
    x = sg.tensor([[0.3, -0.2]], requires_grad=True, name="x")
    ce = F.cross_entropy(x, sg.tensor([1]))
    a, b = sympy.symbols("x_0_0 x_0_1", real=True)
    want = sympy.log(sympy.exp(a) + sympy.exp(b)) - b
    got = sg.diff(ce, x)
    expected = [sympy.diff(want, a), sympy.diff(want, b)]
    for g_, e in zip(np.ravel(np.asarray(got.tolist(), dtype=object)), expected):
        assert sympy.simplify(g_.subs({s: sympy.Symbol(s.name, real=True)
                                       for s in g_.free_symbols}) - e) == 0
    y = sg.tensor([0.4], requires_grad=True, name="y")
    bce = F.binary_cross_entropy_with_logits(y, sg.tensor([1.0]), reduction="sum")
    d = sg.diff(bce, y)
    s = next(iter(d.free_symbols))
    assert sympy.simplify(d - (1 / (1 + sympy.exp(-s)) - 1)) == 0
    z = sg.tensor([1.5, -0.25], requires_grad=True, name="z")
    mse = F.mse_loss(z, sg.tensor([0.0, 0.0]), reduction="mean")
    u, v = sorted(sg.diff(mse, z).free_symbols, key=lambda q: q.name)
    assert [sympy.expand(e) for e in np.ravel(np.asarray(sg.diff(mse, z).tolist()))] == [u, v]


def test_class_index_errors_as_torch():
    logits = sg.tensor([[1.0, 2.0]])
    with pytest.raises(IndexError, match=r"Target 5 is out of bounds.*\[0, 2\)"):
        sg.nn.CrossEntropyLoss()(logits, sg.tensor([5]))
    with pytest.raises(IndexError, match="Target -3 is out of bounds"):
        F.nll_loss(logits, sg.tensor([-3]))
    assert F.nll_loss(logits, sg.tensor([-3]), ignore_index=-3, reduction="sum").item() == 0.0
    with pytest.raises(RuntimeError, match="expected target dtype to be an integer type"):
        F.nll_loss(logits, sg.tensor([1.0]))
    with pytest.raises(ValueError, match=r"batch_size \(1\) to match target batch_size \(2\)"):
        F.cross_entropy(logits, sg.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="weight tensor should be defined either for all 2"):
        F.cross_entropy(logits, sg.tensor([0]), weight=sg.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'weight'"):
        F.nll_loss(logits, sg.tensor([0]), weight=sg.tensor([1.0, 2.0], requires_grad=True))


def test_argument_errors_as_torch():
    a, b = sg.tensor([0.5, 0.2]), sg.tensor([1.0, 0.0])
    with pytest.raises(ValueError, match="'avg' is not a valid value for reduction: use one of "
                                         "'none', 'mean', 'sum'"):
        F.mse_loss(a, b, reduction="avg")
    with pytest.raises(ValueError, match="'batchmean'"):
        F.kl_div(a, b, reduction="batch")
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(sg.tensor([1.5, 0.2]), b)
    with pytest.raises(ValueError, match=r"target size \(3,\) must be the same as input size"):
        F.binary_cross_entropy_with_logits(a, sg.tensor([1.0, 0.0, 1.0]))
    with pytest.raises(RuntimeError, match="negative values for beta"):
        F.smooth_l1_loss(a, b, beta=-1.0)
    with pytest.raises(RuntimeError, match="non-positive values for delta"):
        F.huber_loss(a, b, delta=0.0)
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(sg.tensor([[1.0, 2.0]]), sg.tensor([0]), label_smoothing=1.5)
    assert F.smooth_l1_loss(a, b, beta=0.0).item() == F.l1_loss(a, b).item()
    assert F.mse_loss(a, b, size_average=False).item() == pytest.approx(0.29)


def test_weighted_regression_losses_are_torch_compositions():
    a, b, w = sg.tensor([0.5, 0.2]), sg.tensor([1.0, 0.0]), sg.tensor([2.0, 1.0])
    assert F.mse_loss(a, b, weight=w).item() == pytest.approx((2 * 0.25 + 0.04) / 3)
    assert F.l1_loss(a, b, weight=w, reduction="sum").item() == pytest.approx(1.2)
    assert F.huber_loss(a, b, weight=w).item() == pytest.approx((2 * 0.125 + 0.02) / 2)
    with pytest.raises(ValueError, match="Weights and input must have the same size"):
        F.mse_loss(a, b, weight=sg.tensor([1.0]))


def test_compiled_losses_read_targets_at_every_call():
    model = sg.nn.Linear(3, 4, seed=0)
    loss_fn = sg.nn.CrossEntropyLoss(label_smoothing=0.1, ignore_index=3)
    f = sg.compile(lambda x, t: loss_fn(model(x), t))
    x = sg.tensor(np.ones((2, 3)))
    for t in ([0, 1], [2, 3], [1, 1]):
        assert f(x, sg.tensor(t)).item() == pytest.approx(
            loss_fn(model(x), sg.tensor(t)).item(), rel=1e-13)
    with pytest.raises(IndexError, match="Target 4 is out of bounds"):
        f(x, sg.tensor([4, 0]))
    assert sg.nn.CrossEntropyLoss(reduction="none")(sg.tensor([[0.0, 0.0]]),
                                                    sg.tensor([1])).shape == (1,)
