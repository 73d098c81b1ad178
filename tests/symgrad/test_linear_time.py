"""Issue 13, Deliver 6: backward through cat/stack/split is linear in the number of pieces.

No timed asserts: correctness with many pieces (values from an independent formula: the
gradient of ``sum(w * cat(xs))`` is ``w`` sliced), and complexity by counting (VJP calls
per node, elements zero-filled per backward).  The wall-clock comparison with PyTorch is
``python -m bench --only cat_stack``.
"""
from __future__ import annotations

import types
from fractions import Fraction

import numpy as np
import pytest

import numeric.executor
import numeric.rules.movement
import symgrad as sg
from numeric import VJP, Op

N = 2000                         # the old quadratic backward made 2000 inputs visibly slow


def _weights(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_cat_of_many_inputs_gives_each_its_slice_of_the_cotangent():
    sizes = [1 + k % 3 for k in range(N)]
    xs = [sg.tensor(np.full(s, float(k)), requires_grad=True) for k, s in enumerate(sizes)]
    w = _weights(sum(sizes))
    (sg.cat(xs) * sg.tensor(w)).sum().backward()
    for x, piece in zip(xs, np.split(w, np.cumsum(sizes)[:-1])):
        np.testing.assert_array_equal(x.grad.numpy(), piece)


def test_cat_along_dim_1_and_stack_along_dim_1():
    xs = [sg.tensor(np.ones((2, 1 + k % 2)), requires_grad=True) for k in range(300)]
    w = _weights((2, sum(x.shape[1] for x in xs)))
    (sg.cat(xs, dim=1) * sg.tensor(w)).sum().backward()
    np.testing.assert_array_equal(np.concatenate([x.grad.numpy() for x in xs], axis=1), w)
    ys = [sg.tensor(np.ones((2, 3)), requires_grad=True) for _ in range(300)]
    v = _weights((2, 300, 3), seed=1)
    (sg.stack(ys, dim=1) * sg.tensor(v)).sum().backward()
    for k, y in enumerate(ys):
        np.testing.assert_array_equal(y.grad.numpy(), v[:, k])


def test_stack_of_many_inputs_some_without_grad():
    xs = [sg.tensor(np.full(3, float(k)), requires_grad=k % 2 == 0) for k in range(N)]
    w = _weights((N, 3))
    (sg.stack(xs) * sg.tensor(w)).sum().backward()
    for k, x in enumerate(xs):
        if k % 2:
            assert x.grad is None
        else:
            np.testing.assert_array_equal(x.grad.numpy(), w[k])


def test_split_into_many_pieces_and_unbind():
    x = sg.tensor(np.arange(3.0 * N), requires_grad=True)
    w = _weights((N, 3))
    pieces = sg.split(x, 3)
    assert len(pieces) == N
    (sg.stack(pieces) * sg.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), w.ravel())
    m = sg.tensor(np.ones((N, 2)), requires_grad=True)
    total = sg.tensor(0.0)
    for k, row in enumerate(sg.unbind(m)):      # n int-index getitems on one input
        total = total + (row * float(k)).sum()
    total.backward()
    np.testing.assert_array_equal(m.grad.numpy(), np.repeat(np.arange(float(N)), 2)
                                  .reshape(N, 2))


def test_slices_added_in_place_never_write_into_a_callers_array():
    # q's cotangent starts as a view of the caller's gradient G (cat's VJP slices it);
    # the slice q[0:2] must add into a copy, not into G
    x = sg.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    q = x * 1.0
    out = sg.cat([q, q[0:2], q[1:]])
    G = np.arange(1.0, 8.0)
    kept = G.copy()
    out.backward(gradient=sg.tensor(G), retain_graph=True)
    np.testing.assert_array_equal(G, kept)
    np.testing.assert_array_equal(x.grad.numpy(), [1 + 4, 2 + 5 + 6, 3 + 7])
    (gq,) = sg.autograd.grad(out, [q], grad_outputs=sg.tensor(G))
    np.testing.assert_array_equal(G, kept)
    np.testing.assert_array_equal(gq.numpy(), [1 + 4, 2 + 5 + 6, 3 + 7])


def test_fan_out_and_repeated_slices_accumulate():
    x = sg.tensor(np.array([1.0, 2.0, 3.0, 4.0]), requires_grad=True)
    y = x[1:3] * 2.0 + x[1:3] * 3.0 + x[::2] + (x * x).sum() + x[-1]
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1 + 4, 5 + 8, 5 + 1 + 12, 16 + 2])


@pytest.mark.parametrize("op", [Op.CONCAT, Op.STACK])
def test_variadic_vjp_runs_once_per_node_not_once_per_input(monkeypatch, op):
    calls = []
    rule = VJP[op][0]

    def counted(g, out, *xs, **attrs):
        calls.append(len(xs))
        return rule(g, out, *xs, **attrs)
    monkeypatch.setitem(VJP, op, (counted,))
    xs = [sg.tensor(np.ones(2), requires_grad=True) for _ in range(500)]
    join = sg.cat if op is Op.CONCAT else sg.stack
    join(xs).sum().backward()
    assert calls == [500]
    calls.clear()                                # the general path (targets) too
    sg.autograd.grad(join(xs).sum(), xs[:3])
    assert calls == [500]


def test_variadic_vjp_returns_every_cotangent_in_one_call():
    g = np.arange(6.0)
    xs = (np.zeros(1), np.zeros(2), np.zeros(3))
    parts = VJP[Op.CONCAT][0](g, g, *xs, axis=0)
    assert [p.tolist() for p in parts] == [[0.0], [1.0, 2.0], [3.0, 4.0, 5.0]]
    g2 = np.arange(6.0).reshape(2, 3)
    parts = VJP[Op.STACK][0](g2, g2, np.zeros(2), np.zeros(2), np.zeros(2), axis=1)
    assert [p.tolist() for p in parts] == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]


def test_split_backward_zero_fills_the_input_once(monkeypatch):
    """O(size), not O(pieces * size): count the elements zero-filled during backward."""
    filled = []

    class CountingNumpy(types.ModuleType):
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def zeros(shape, *args, **kw):
            out = np.zeros(shape, *args, **kw)
            filled.append(out.size)
            return out
    fake = CountingNumpy("numpy")
    x = sg.tensor(np.ones(3 * N), requires_grad=True)
    pieces = sg.split(x, 3)
    loss = pieces[0].sum()
    for p in pieces[1:]:
        loss = loss + p.sum()
    monkeypatch.setattr(numeric.executor, "np", fake)
    monkeypatch.setattr(numeric.rules.movement, "np", fake)
    (gx,) = sg.autograd.grad(loss, [x], retain_graph=True)     # the targets path
    assert sum(filled) <= 2 * 3 * N, f"{len(filled)} zero-fills, {sum(filled)} elements"
    filled.clear()
    loss.backward()                                             # the training-loop path
    monkeypatch.undo()
    assert sum(filled) <= 2 * 3 * N, f"{len(filled)} zero-fills, {sum(filled)} elements"
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(3 * N))
    np.testing.assert_array_equal(gx.numpy(), np.ones(3 * N))


def test_create_graph_through_cat_stack_and_split():
    xs = [sg.tensor(np.array([0.5 + k, -1.0 - k]), requires_grad=True) for k in range(50)]
    loss = (sg.cat(xs) ** 3).sum() + (sg.stack(xs) ** 2).sum()
    grads = sg.autograd.grad(loss, xs, create_graph=True)
    for x, g in zip(xs, grads):
        np.testing.assert_allclose(g.detach().numpy(), 3 * x.detach().numpy() ** 2 + 2 * x.detach().numpy())
    sum(g.sum() for g in grads).backward()
    for x in xs:
        np.testing.assert_allclose(x.grad.numpy(), 6 * x.detach().numpy() + 2)
    y = sg.tensor(np.arange(1.0, 7.0), requires_grad=True)
    (gy,) = sg.autograd.grad((sg.stack(sg.split(y, 2)) ** 3).sum(), [y], create_graph=True)
    np.testing.assert_allclose(gy.detach().numpy(), 3 * np.arange(1.0, 7.0) ** 2)
    (hy,) = sg.autograd.grad(gy.sum(), [y])
    np.testing.assert_allclose(hy.numpy(), 6 * np.arange(1.0, 7.0))


def test_compiled_backward_calls_the_variadic_vjp_once(monkeypatch):
    calls = []
    rule = VJP[Op.CONCAT][0]

    def counted(g, out, *xs, **attrs):
        calls.append(len(xs))
        return rule(g, out, *xs, **attrs)
    monkeypatch.setitem(VJP, Op.CONCAT, (counted,))
    xs = [sg.tensor(np.full(2, float(k)), requires_grad=True) for k in range(200)]
    w = sg.tensor(_weights(400))
    f = sg.compile(lambda *xs: (sg.cat(xs) * w).sum())
    for _ in range(2):   # the first call traces, the second builds the program
        f(*xs).backward()
        for x in xs:
            x.grad = None
    calls.clear()
    f(*xs).backward()   # the program's own backward: one call for the node
    assert calls == [200]
    for x, piece in zip(xs, np.split(w.numpy(), 200)):
        np.testing.assert_array_equal(x.grad.numpy(), piece)


# ------------------------------------------------------------------ symgrad train --data
def _xy(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    return x, 2 * x + 1 + 0.1 * rng.standard_normal(n)


def test_train_closed_form_is_built_once_whatever_the_row_count(monkeypatch):
    from symgrad import train
    train.linear_closed_form.cache_clear()
    builds = []
    gradient = sg.gradient
    monkeypatch.setattr(sg, "gradient", lambda *a, **k: builds.append(1) or gradient(*a, **k))
    small = train.linear_optimum(*_xy(10))
    large = train.linear_optimum(*_xy(10_000))
    assert builds == [1]
    form = train.linear_closed_form()
    assert {str(s) for s in form.sums} == {"n", "Sx", "Sy", "Sxx", "Sxy"}
    import sympy
    n, Sx, Sy, Sxx, Sxy, w, b = sympy.symbols("n Sx Sy Sxx Sxy w b")
    assert form.gradient == {"w": 2 * Sxx * w + 2 * Sx * b - 2 * Sxy,    # d/dw sum(r**2)
                             "b": 2 * Sx * w + 2 * n * b - 2 * Sy}
    # the data enters only through the five sums: the same polynomial in w and b
    assert sg_ops(small.gradient["w"]) == sg_ops(large.gradient["w"])
    assert small.exact and large.exact


def sg_ops(expr):
    import sympy
    return sympy.count_ops(expr)


def test_train_large_data_sums_in_float64_not_per_row_rationals(monkeypatch):
    from symgrad import train
    calls = []
    monkeypatch.setattr(train, "_exact", lambda v: calls.append(v) or Fraction(repr(v)))
    x, y = _xy(100_000)
    opt = train.linear_optimum(x, y)
    assert calls == [] and not opt.exact
    w, b = np.polyfit(x, y, 1)
    assert float(opt.solution["w"]) == pytest.approx(w, rel=1e-10)
    assert float(opt.solution["b"]) == pytest.approx(b, rel=1e-10)
    assert set(opt.gradient_text()) == {"w", "b"}


def test_train_csv_of_plain_numbers_is_read_without_per_value_python(monkeypatch, tmp_path):
    from symgrad import train
    x, y = _xy(10_000)
    p = tmp_path / "d.csv"
    np.savetxt(p, np.c_[x, y], delimiter=",", header="x,y", comments="", fmt="%.17g")
    monkeypatch.setattr(train, "_number", lambda *a: pytest.fail("per-value parsing"))
    gx, gy = train.read_xy_csv(str(p))
    np.testing.assert_array_equal(gx, x)
    np.testing.assert_array_equal(gy, y)
    monkeypatch.undo()                           # odd files still get the line-named error
    p.write_text("x,y\n1,2\n3,nan\n")
    with pytest.raises(ValueError, match="line 3: y is nan"):
        train.read_xy_csv(str(p))


def test_train_cli_on_large_data_prints_float_optimum(tmp_path, capsys):
    from symgrad.cli import main
    x, y = _xy(20_000)
    p = tmp_path / "d.csv"
    np.savetxt(p, np.c_[x, y], delimiter=",", header="x,y", comments="", fmt="%.17g")
    assert main(["train", "linear", "--data", str(p), "--epochs", "2", "--lr", "1e-6"]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    w, b = np.polyfit(x, y, 1)
    assert line.startswith(f"closed form (SymPy):  w = {float(w):.12}"[:40]), line
    got = float(line.split("w = ")[1].split(",")[0])
    assert got == pytest.approx(w, rel=1e-10)
