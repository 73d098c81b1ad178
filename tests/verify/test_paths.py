"""verify.paths: every gradient path at each point, each proved by a bug planted in it alone.

Each planted bug is wrong in one route only (the executor's fast path, ``.grad``
accumulation, one compiled template, VJPs run on Tensors, one optimizer term);
``check_paths`` must name exactly the affected paths and no other.  The
optimizer, accumulation and second-order tests need no torch.
"""
import numpy as np
import pytest
import sympy

import symgrad as sg
import symgrad.autograd as ag
from numeric import executor
from numeric.compile import templates
from numeric.ops import Op
from numeric.optim import adam_step, sgd_step
from numeric.vjps import VJP
from verify.opdb import OP_DB
from verify.paths import (OPTIMIZERS, PATHS, adam_reference, check_paths, paths_op,
                          sgd_reference)
from verify.sweep import cases

#: the trace point has every entry in (-1, 1), the later points some above 1
POINTS = [[np.array([0.3, -0.6, 0.8]), np.array([0.5, 1.5, -0.7])],
          [np.array([1.3, -0.4, 1.7]), np.array([-1.1, 0.9, 0.6])],
          [np.array([-1.4, 1.2, 0.2]), np.array([0.8, -1.3, 1.9])]]


def _expr():
    x, y = sg.symbol("x", shape=(3,)), sg.symbol("y", shape=(3,))
    return (sg.sin(x) * y + sg.exp(y) * x * x).sum(), [x, y]


def _failed():
    f, wrt = _expr()
    r = check_paths(f, wrt, POINTS)
    assert r.points_used == 3
    return r


# ----------------------------------------------------------------------------- no false alarm
@pytest.mark.parametrize("op", sorted(OP_DB, key=lambda o: o.name), ids=lambda o: o.name)
def test_every_path_agrees_for_every_op(op):
    if not OP_DB[op].has_gradient:
        pytest.skip("no input has a gradient, so no gradient path to check (its values: "
                    "test_opdb through verify.sweep.check_values)")
    for _, k in cases([op]):
        r = paths_op(op, k, n_points=2)
        assert r.passed, str(r)
        assert r.checked.get("compiled (re-called at a new point)") == 1, str(r)
        assert sum(1 for p in r.checked if p.startswith("optimizer")) == len(OPTIMIZERS)


def test_unplanted_expression_passes_every_path():
    r = _failed()
    assert r.passed, str(r)
    assert set(PATHS) <= set(r.checked), r.checked
    assert r.failed_paths == set()


def test_drawn_points_and_function_form():
    r = check_paths(lambda a, b: sg.log(sg.softmax(a @ b, dim=0) + 0.5).sum(), [(3, 4), (4,)],
                    3, seed=1)
    assert r.passed and r.points_used == 3, str(r)


# ----------------------------------------------------------------------------- planted bugs
def test_fast_path_bug_in_executor_leaves(monkeypatch):
    orig = executor._leaves

    def scaled(order, cts, release):
        grads = orig(order, cts, release)
        if order and np.size(order[-1].value) == 1:       # 1-element outputs only
            key = next(iter(grads))
            grads[key] = grads[key] * 1.001
        return grads

    monkeypatch.setattr(executor, "_leaves", scaled)
    r = _failed()
    # backward(gradient=ones) runs the same executor fast path (_leaves); the general
    # path (inputs=), autograd.grad, create_graph and the comparisons against eager do not
    assert r.failed_paths == {"backward() fast path", "backward(gradient=ones)"}, str(r)


def test_fast_path_bug_in_backward_scalar(monkeypatch):
    orig = ag.backward_scalar

    def wrong(t, retain_graph):      # this call's gradient off in one element
        leaves = _graph_leaves(t)
        old = {}
        for x in leaves:
            old[id(x)], x.grad = x.grad, None
        orig(t, retain_graph)
        for x in leaves:
            g = x.grad.value * np.array([1.0, 1.0, 1.0 + 2.0 ** -20])
            x.grad = sg.tensor(g if old[id(x)] is None else old[id(x)].value + g)

    monkeypatch.setattr(ag, "backward_scalar", wrong)
    r = _failed()
    assert r.failed_paths == {"backward() fast path"}, str(r)


def _graph_leaves(t):
    seen, stack, out = set(), [t], []
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if n.op is None and n.requires_grad:
            out.append(n)
        stack.extend(n.inputs)
    return out


def test_accumulation_bug(monkeypatch):
    orig = ag.backward_scalar

    def wrong_accumulation(t, retain_graph):
        leaves = _graph_leaves(t)
        old = {id(x): x.grad.value.copy() for x in leaves if x.grad is not None}
        orig(t, retain_graph)
        for x in leaves:
            if id(x) in old:        # old + g computed as old * (1 + 2**-30) + g
                g = x.grad.value - old[id(x)]
                x.grad = sg.tensor(old[id(x)] * (1 + 2.0 ** -30) + g)

    monkeypatch.setattr(ag, "backward_scalar", wrong_accumulation)
    r = _failed()
    assert r.failed_paths == {"accumulation"}, str(r)


def test_compiled_template_checked_only_at_trace_values(monkeypatch):
    # agrees with VJP[SIN] wherever |x| <= 1 (so Note [Validated inlining] keeps it at the
    # trace point), off by 1e-3 above 1
    entry = templates.INLINE[Op.SIN]
    bad = entry._replace(vjp=(("{g} * np.cos({0}) * (1 + 1e-3 * ({0} > 1.0))", True),))
    monkeypatch.setitem(templates.INLINE, Op.SIN, bad)
    r = _failed()
    assert r.failed_paths == {"compiled (re-called at a new point)"}, str(r)


def test_compiled_template_wrong_everywhere(monkeypatch):
    entry = templates.INLINE[Op.EXP]
    monkeypatch.setitem(templates.INLINE, Op.EXP, entry._replace(forward="np.exp({0}) * 1.001"))
    # the build-time probe rejects a template that is wrong at the trace values
    assert _failed().passed


def test_create_graph_first_order_bug(monkeypatch):
    (orig,) = VJP[Op.SIN]

    def on_tensors_wrong(g, out, x, **kw):
        c = orig(g, out, x, **kw)
        return c * 1.001 if isinstance(g, sg.Tensor) else c

    monkeypatch.setitem(VJP, Op.SIN, (on_tensors_wrong,))
    r = _failed()
    assert "create_graph first order" in r.failed_paths, str(r)
    assert r.failed_paths <= {"create_graph first order", "create_graph second order"}, str(r)


def test_create_graph_second_order_bug(monkeypatch):
    (orig,) = VJP[Op.SIN]

    def detached(g, out, x, **kw):     # right values, but cos(x) is not differentiated
        if isinstance(g, sg.Tensor):
            return g * sg.cos(x.detach())
        return orig(g, out, x, **kw)

    monkeypatch.setitem(VJP, Op.SIN, (detached,))
    r = _failed()
    assert r.failed_paths == {"create_graph second order"}, str(r)


def _sgd_with(**override):
    def rule(params, grads, states, **kw):
        sgd_step(params, grads, states, **{**kw, **override})
    return staticmethod(rule)


def _adam_with(**override):
    def rule(params, grads, states, **kw):
        adam_step(params, grads, states, **{**kw, **override})
    return staticmethod(rule)


@pytest.mark.parametrize("override,expected", [
    ({"nesterov": False}, {"optimizer SGD(momentum=0.9, nesterov=True)",
                           "optimizer SGD(momentum=0.9, weight_decay=0.1, nesterov=True)"}),
    ({"dampening": 0.0}, {"optimizer SGD(momentum=0.9, dampening=0.3)"}),
], ids=["sgd-drops-nesterov", "sgd-drops-dampening"])
def test_sgd_bug(monkeypatch, override, expected):
    monkeypatch.setattr(sg.optim.SGD, "_rule", _sgd_with(**override))
    r = paths_op(Op.TANH, 0, n_points=2)
    assert r.failed_paths == expected, str(r)


def test_sgd_weight_decay_bug(monkeypatch):
    def rule(params, grads, states, *, weight_decay, **kw):
        sgd_step(params, grads, states, weight_decay=weight_decay * 0.5, **kw)
    monkeypatch.setattr(sg.optim.SGD, "_rule", staticmethod(rule))
    r = paths_op(Op.MUL, 0, n_points=2)
    assert r.failed_paths == {"optimizer SGD(weight_decay=0.1)",
                              "optimizer SGD(momentum=0.9, weight_decay=0.1, nesterov=True)"}, \
        str(r)


def test_adam_bias_correction_dropped(monkeypatch):
    def rule(params, grads, states, **kw):
        for s in states:               # bias corrections 1 - beta**step become ~1
            s["step"] = max(s.get("step", 0), 10 ** 6)
        adam_step(params, grads, states, **kw)
    monkeypatch.setattr(sg.optim.Adam, "_rule", staticmethod(rule))
    r = paths_op(Op.SIN, 0, n_points=2)
    assert r.failed_paths == {p for p in (f"optimizer {n}" for n in OPTIMIZERS)
                              if "Adam" in p}, str(r)


@pytest.mark.parametrize("override,expected", [
    ({"weight_decay": 0.0}, {"optimizer Adam(weight_decay=0.1)"}),
    ({"amsgrad": False}, {"optimizer Adam(amsgrad=True, betas=(0.8, 0.9))"}),
], ids=["adam-drops-weight-decay", "adam-drops-amsgrad"])
def test_adam_bug(monkeypatch, override, expected):
    monkeypatch.setattr(sg.optim.Adam, "_rule", _adam_with(**override))
    r = paths_op(Op.EXP, 0, n_points=2)
    assert r.failed_paths == expected, str(r)


# ----------------------------------------------------------------------------- plain tests
def _quadratic_run(opt_cls, reference, steps=10, **kw):
    rng = np.random.default_rng(3)
    a = rng.uniform(-2, 2, size=4)
    w0 = rng.uniform(-1, 1, size=4)
    w = sg.tensor(w0.copy(), requires_grad=True)
    opt = opt_cls([w], **kw)
    ref, state = w0.copy(), {}
    for _ in range(steps):
        opt.zero_grad()
        loss = ((w - sg.tensor(a)) ** 2 * sg.tensor(np.arange(1.0, 5.0))).sum() + \
            (sg.sin(w) * 0.5).sum()
        loss.backward()
        g = w.grad.value.copy()
        np.testing.assert_allclose(g, 2 * (w.value - a) * np.arange(1.0, 5.0)
                                   + 0.5 * np.cos(w.value), rtol=1e-13, atol=1e-14)
        ref = reference(ref, g, state, **kw)
        opt.step()
        np.testing.assert_allclose(w.value, ref, rtol=1e-12, atol=1e-14)
    return w.value


@pytest.mark.parametrize("kw", [
    dict(lr=0.05), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.9, nesterov=True), dict(lr=0.05, weight_decay=0.2),
    dict(lr=0.02, momentum=0.8, weight_decay=0.1, nesterov=True)], ids=str)
def test_sgd_matches_independent_formula_over_10_steps(kw):
    _quadratic_run(sg.optim.SGD, sgd_reference, **kw)


@pytest.mark.parametrize("kw", [
    dict(lr=0.05), dict(lr=0.05, weight_decay=0.2), dict(lr=0.05, amsgrad=True),
    dict(lr=0.1, betas=(0.5, 0.6), eps=1e-6, amsgrad=True, weight_decay=0.05)], ids=str)
def test_adam_matches_independent_formula_over_10_steps(kw):
    _quadratic_run(sg.optim.Adam, adam_reference, **kw)


def test_reference_formulas_by_hand():
    # Adam's first step moves every coordinate by lr (bias correction exact at t = 1)
    p = adam_reference(np.array([1.0, -1.0]), np.array([0.2, -3.0]), {}, lr=0.1)
    np.testing.assert_allclose(p, [0.9, -0.9], rtol=1e-7)
    # SGD momentum: b1 = g, b2 = 0.9 b1 + g, Nesterov uses g + 0.9 b
    s = {}
    p = sgd_reference(np.array([1.0]), np.array([1.0]), s, lr=0.1, momentum=0.9, nesterov=True)
    assert p[0] == pytest.approx(1.0 - 0.1 * 1.9)
    p = sgd_reference(p, np.array([1.0]), s, lr=0.1, momentum=0.9, nesterov=True)
    assert p[0] == pytest.approx(0.81 - 0.1 * (1.0 + 0.9 * 1.9))


def test_grad_accumulates_across_backward_calls():
    x = sg.tensor([0.5, -1.5, 2.0], requires_grad=True)
    y = (sg.sin(x) * x).sum()
    y.backward(retain_graph=True)
    g = x.grad.value.copy()
    np.testing.assert_allclose(g, np.cos(x.value) * x.value + np.sin(x.value), rtol=1e-15)
    y.backward(retain_graph=True)
    assert np.array_equal(x.grad.value, 2 * g)
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.value, 2 * g + 3)
    x.grad = None
    sg.autograd.backward(y, inputs=[x])
    assert np.array_equal(x.grad.value, g)


@pytest.mark.parametrize("build", [
    lambda x, y: x ** 3 * sg.sin(y),
    lambda x, y: sg.exp(x * y) / (1 + y * y),
    lambda x, y: sg.log(1 + x * x) * sg.tanh(y) + sg.sigmoid(x - y),
], ids=["x3siny", "expxy", "logtanh"])
def test_second_order_matches_exact_hessian(build):
    x, y = sg.symbol("x"), sg.symbol("y")
    exact = sg.hessian(build(x, y), [x, y])
    sx, sy = sorted(exact.free_symbols, key=lambda s: s.name)
    point = {sx: sympy.Rational(3, 4), sy: sympy.Rational(-5, 4)}
    want = np.array(exact.subs(point).evalf(30), dtype=float)
    xt, yt = sg.tensor(0.75, requires_grad=True), sg.tensor(-1.25, requires_grad=True)
    gx, gy = sg.autograd.grad(build(xt, yt), [xt, yt], create_graph=True)
    got = np.array([[float(h.value) for h in sg.autograd.grad(g, [xt, yt], retain_graph=True,
                                                             allow_unused=True)]
                    for g in (gx, gy)])
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)
    # and the same through the referee's path check (exact H v, verify's tolerance)
    r = check_paths(build(x, y), [x, y], 2)
    assert r.passed and r.checked["create_graph second order"] == 2, str(r)
