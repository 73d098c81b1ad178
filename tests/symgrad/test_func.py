"""sg.func: torch.func's transforms over symgrad's reverse-mode engine.

Values are checked against the exact sg.jacobian / sg.hessian (SymPy, evaluated at the
point), against finite differences, and against each other (jacrev vs jacfwd, hessian vs
jacfwd(jacrev) vs hvp, vjp/jvp vs the matrix); then composition, argnums, has_aux, the
error messages, and torch.func parity (skipped without torch).
"""
import numpy as np
import pytest

import symgrad as sg
from numeric.node import as_node
from symgrad.lower_sympy import leaf_array

F = sg.func

#: (name, function, input values): smooth functions with shared subexpressions,
#: broadcasting, matmul, reductions and several inputs
CASES = [
    ("cube", lambda x: (x ** 3).sum(), [np.array([0.5, -1.5, 2.0])]),
    ("sin_times_quad", lambda x, y: (sg.sin(x) * y ** 2).sum() + (x @ y) ** 2,
     [np.array([0.3, -1.2, 0.7]), np.array([1.5, 0.2, -0.4])]),
    ("matmul_tanh", lambda W, x: sg.tanh(W @ x).sum() * sg.exp(x[0]),
     [np.array([[0.2, -0.5], [1.1, 0.3], [-0.7, 0.4]]), np.array([0.6, -0.9])]),
    ("broadcast_log", lambda a, b: (sg.log(a * a + b) * a).mean(),
     [np.array([[1.0, 2.0], [0.5, -1.5]]), np.array(0.7)]),
    ("sigmoid_softplus", lambda x: (sg.sigmoid(x) * sg.nn.functional.softplus(2 * x)).sum(),
     [np.array([-0.4, 0.9, 1.7, 0.0])]),
]
VECTOR_CASES = [
    ("tanh_scaled", lambda x: sg.tanh(x) * x.sum(), [np.array([0.3, -1.2, 0.7])]),
    ("outer", lambda x, y: x[:, None] * sg.exp(y)[None, :],
     [np.array([1.0, -2.0]), np.array([0.1, 0.2, -0.3])]),
    ("matvec", lambda A, x: A @ sg.sin(x),
     [np.array([[1.0, 2.0, 0.5], [-1.0, 0.3, 0.2]]), np.array([0.4, -0.1, 1.3])]),
]


def _tensors(values):
    return [sg.tensor(v) for v in values]


def _exact(fn, values, order):
    """sg.jacobian / sg.hessian at ``values``: blocks per input (order 1) or the full
    flattened Hessian (order 2), as float arrays."""
    leaves = [sg.tensor(v, requires_grad=True, name=f"in{k}") for k, v in enumerate(values)]
    out = fn(*leaves)
    subs = {}
    for leaf, v in zip(leaves, values):
        node = as_node(leaf)
        for s, x in zip(leaf_array(node, {id(node)}).ravel(), np.ravel(v)):
            subs[s] = x
    if order == 1:
        return [np.array(sg.jacobian(out, leaf, simplify=False).subs(subs).evalf(),
                         dtype=float).reshape(tuple(out.shape) + np.shape(v))
                for leaf, v in zip(leaves, values)]
    return np.array(sg.hessian(out, leaves, simplify=False).subs(subs).evalf(), dtype=float)


def _fd_jacobian(fn, values, h=1e-6):
    """Central differences, blocks per input shaped out.shape + in.shape."""
    out_shape = tuple(fn(*_tensors(values)).shape)
    blocks = []
    for k, v in enumerate(values):
        cols = []
        for e in range(np.size(v)):
            pair = []
            for s in (h, -h):
                vs = [np.array(w, dtype=float) for w in values]
                vs[k].reshape(-1)[e] += s
                pair.append(fn(*_tensors(vs)).numpy().reshape(-1))
            cols.append((pair[0] - pair[1]) / (2 * h))
        blocks.append(np.stack(cols, 1).reshape(out_shape + np.shape(v)))
    return blocks


def _full_hessian(blocks, values):
    sizes = [np.size(v) for v in values]
    return np.concatenate([np.concatenate([np.asarray(b.numpy()).reshape(sizes[i], sizes[j])
                                           for j, b in enumerate(row)], 1)
                           for i, row in enumerate(blocks)], 0)


# ----------------------------------------------------------------------------- values
@pytest.mark.parametrize("name,fn,values", CASES + VECTOR_CASES,
                         ids=[c[0] for c in CASES + VECTOR_CASES])
def test_jacobians_match_exact_and_finite_differences(name, fn, values):
    nums = tuple(range(len(values)))
    exact = _exact(fn, values, 1)
    fd = _fd_jacobian(fn, values)
    rev = F.jacrev(fn, nums)(*_tensors(values))
    fwd = F.jacfwd(fn, nums)(*_tensors(values))
    for e, d, r, f in zip(exact, fd, rev, fwd):
        assert r.shape == e.shape and f.shape == e.shape
        np.testing.assert_allclose(r.numpy(), e, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(f.numpy(), e, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(d, e, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name,fn,values", CASES, ids=[c[0] for c in CASES])
def test_gradients_and_hessians_match_exact(name, fn, values):
    nums = tuple(range(len(values)))
    exact_h = _exact(fn, values, 2)
    exact_g = _exact(fn, values, 1)
    g = F.grad(fn, nums)(*_tensors(values))
    for gi, ei in zip(g, exact_g):
        np.testing.assert_allclose(gi.numpy(), ei, rtol=1e-12, atol=1e-13)
    for blocks in (F.hessian(fn, nums)(*_tensors(values)),
                   F.jacfwd(F.jacrev(fn, nums), nums)(*_tensors(values)),
                   F.jacrev(F.jacfwd(fn, nums), nums)(*_tensors(values))):
        for i, row in enumerate(blocks):
            for j, b in enumerate(row):
                assert b.shape == np.shape(values[i]) + np.shape(values[j])
        np.testing.assert_allclose(_full_hessian(blocks, values), exact_h, rtol=1e-11,
                                   atol=1e-12)
    # hvp along a random direction is H v, one entry per primal
    rng = np.random.default_rng(0)
    v = [rng.standard_normal(np.shape(x)) for x in values]
    value, hv = F.hvp(fn, tuple(_tensors(values)), tuple(_tensors(v)))
    assert float(value) == pytest.approx(float(fn(*_tensors(values))), rel=1e-15)
    flat = np.concatenate([np.asarray(h.numpy()).ravel() for h in hv])
    np.testing.assert_allclose(flat, exact_h @ np.concatenate([x.ravel() for x in v]),
                               rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("name,fn,values", VECTOR_CASES, ids=[c[0] for c in VECTOR_CASES])
def test_vjp_and_jvp_are_the_jacobian_products(name, fn, values):
    exact = _exact(fn, values, 1)
    rng = np.random.default_rng(1)
    out, vjp_fn = F.vjp(fn, *_tensors(values))
    np.testing.assert_allclose(out.numpy(), fn(*_tensors(values)).numpy(), rtol=0)
    u = rng.standard_normal(out.shape)
    for g, e in zip(vjp_fn(sg.tensor(u)), exact):
        np.testing.assert_allclose(g.numpy(), np.tensordot(u, e, axes=u.ndim), rtol=1e-12)
    t = [rng.standard_normal(np.shape(x)) for x in values]
    out2, jv = F.jvp(fn, tuple(_tensors(values)), tuple(_tensors(t)))
    want = sum(np.tensordot(e, ti, axes=ti.ndim) for e, ti in zip(exact, t))
    np.testing.assert_allclose(out2.numpy(), out.numpy(), rtol=0)
    np.testing.assert_allclose(jv.numpy(), want, rtol=1e-12, atol=1e-14)
    # linearize reuses the first pass for several tangents
    _, jvp_fn = F.linearize(fn, *_tensors(values))
    np.testing.assert_allclose(jvp_fn(*_tensors(t)).numpy(), want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(jvp_fn(*_tensors([2 * x for x in t])).numpy(), 2 * want,
                               rtol=1e-12, atol=1e-14)


def test_unused_inputs_get_zeros_and_constant_outputs():
    f = lambda x, y: (x * 2).sum()  # noqa: E731
    gx, gy = F.grad(f, (0, 1))(sg.tensor([1.0, 2.0]), sg.tensor([[3.0]]))
    assert gx.tolist() == [2.0, 2.0] and gy.tolist() == [[0.0]]
    j = F.jacfwd(lambda x: sg.ones(2) * 1.0)(sg.tensor([1.0, 2.0, 3.0]))
    assert j.shape == (2, 3) and not j.numpy().any()
    assert F.hessian(lambda x: (x * 3).sum())(sg.tensor([1.0, 2.0])).tolist() == [[0, 0], [0, 0]]
    assert F.jvp(lambda x: x * 3, sg.tensor([1.0]), sg.tensor([2.0]))[1].tolist() == [6.0]


def test_scalar_input_and_shapes_follow_torch():
    x = sg.tensor(0.5)
    assert F.jacrev(sg.sin)(x).shape == ()
    assert F.jacrev(lambda x: x * sg.ones(2, 3))(x).shape == (2, 3)
    assert F.jacfwd(lambda x: x.sum())(sg.ones(2, 3)).shape == (2, 3)
    assert F.hessian(lambda x: (x ** 3).sum())(sg.ones(2, 2)).shape == (2, 2, 2, 2)


# ----------------------------------------------------------------------------- composition
def test_higher_derivatives_compose():
    d = F.grad
    x = sg.tensor(1.5)
    assert float(d(d(d(lambda x: x ** 4)))(x)) == pytest.approx(24 * 1.5)
    assert float(d(d(sg.sin))(x)) == pytest.approx(-np.sin(1.5), rel=1e-14)
    v = sg.tensor([0.3, -0.8])
    f = lambda x: (sg.exp(x) * x.sum()).sum()  # noqa: E731
    for h in (F.jacrev(F.jacrev(f)), F.jacfwd(F.jacfwd(f)), F.jacrev(F.grad(f))):
        np.testing.assert_allclose(h(v).numpy(), F.hessian(f)(v).numpy(), rtol=1e-13)
    # third derivative tensor of sum(x**3 * y): d3/dx3 = 6*y on the diagonal
    t = F.jacrev(F.jacrev(F.jacrev(lambda x: (x ** 3).sum() * 2.0)))(v)
    assert t.shape == (2, 2, 2)
    assert t.numpy()[0, 0, 0] == pytest.approx(12.0) and t.numpy()[0, 1, 1] == 0


def test_results_join_an_enclosing_graph_only_when_inputs_require_grad():
    plain = sg.tensor([1.0, 2.0])
    g = F.grad(lambda x: (x ** 3).sum())(plain)
    assert g.grad_fn is None and not g.requires_grad
    leaf = sg.tensor([1.0, 2.0], requires_grad=True)
    g = F.grad(lambda x: (x ** 3).sum())(leaf)
    assert g.requires_grad and leaf.grad is None       # .grad untouched by the transform
    g.sum().backward()
    assert leaf.grad.tolist() == [6.0, 12.0]           # d/dx sum(3 x^2)


def test_transforms_record_inside_no_grad():
    with sg.no_grad():
        g = F.grad(lambda x: (x * x).sum())(sg.tensor([3.0], requires_grad=True))
        out, jv = F.jvp(sg.exp, (sg.tensor([0.0]),), (sg.tensor([2.0]),))
    assert g.tolist() == [6.0] and not g.requires_grad
    assert jv.tolist() == [2.0]


# ----------------------------------------------------------------------------- argnums, aux
def test_argnums_int_tuple_and_negative():
    f = lambda x, y, z: (x * y * z).sum()  # noqa: E731
    args = (sg.tensor([2.0]), sg.tensor([3.0]), sg.tensor([5.0]))
    assert F.grad(f, 1)(*args).tolist() == [10.0]
    assert F.grad(f, -1)(*args).tolist() == [6.0]
    gx, gz = F.grad(f, (0, 2))(*args)
    assert (gx.tolist(), gz.tolist()) == ([15.0], [6.0])
    (only,) = F.grad(f, (1,))(*args)
    assert only.tolist() == [10.0]
    jy = F.jacrev(lambda x, y: x * y, argnums=1)(sg.tensor([1.0, 2.0]), sg.tensor(3.0))
    assert jy.shape == (2,) and jy.tolist() == [1.0, 2.0]
    # non-tensor arguments outside argnums pass through
    assert F.grad(lambda x, n: (x ** n).sum())(sg.tensor([2.0]), 3).tolist() == [12.0]


def test_tuple_outputs_nest_outputs_outside_argnums():
    f = lambda x, y: (x * y, (x + y).sum())  # noqa: E731
    x, y = sg.tensor([1.0, 2.0]), sg.tensor([3.0, 4.0])
    for jac in (F.jacrev, F.jacfwd):
        (a, b), (c, d) = jac(f, (0, 1))(x, y)
        assert a.tolist() == [[3.0, 0.0], [0.0, 4.0]] and b.tolist() == [[1.0, 0.0], [0.0, 2.0]]
        assert c.tolist() == [1.0, 1.0] and d.tolist() == [1.0, 1.0]
        j0, j1 = jac(f)(x, y)
        assert j0.shape == (2, 2) and j1.shape == (2,)
    out, vjp_fn = F.vjp(f, x, y)
    gx, gy = vjp_fn((sg.tensor([1.0, 1.0]), sg.tensor(2.0)))
    assert gx.tolist() == [5.0, 6.0] and gy.tolist() == [3.0, 4.0]


def test_has_aux():
    def f(x):
        y = sg.sin(x)
        return (y * y).sum(), {"y": y, "n": 3}
    x = sg.tensor([0.5, 1.0])
    g, aux = F.grad(f, has_aux=True)(x)
    np.testing.assert_allclose(g.numpy(), np.sin(2 * x.numpy()), rtol=1e-14)
    assert aux["n"] == 3 and aux["y"].grad_fn is None
    np.testing.assert_allclose(aux["y"].numpy(), np.sin(x.numpy()))
    g2, (value, aux2) = F.grad_and_value(f, has_aux=True)(x)
    assert float(value) == pytest.approx(float((np.sin(x.numpy()) ** 2).sum()))
    out, vjp_fn, aux3 = F.vjp(f, x, has_aux=True)
    np.testing.assert_allclose(vjp_fn(sg.tensor(1.0))[0].numpy(), g.numpy())
    jac, aux4 = F.jacrev(lambda x: (sg.sin(x), x.sum()), has_aux=True)(x)
    np.testing.assert_allclose(jac.numpy(), np.diag(np.cos(x.numpy())))
    assert float(aux4) == 1.5
    out, jv, aux5 = F.jvp(lambda x: (x * 2, "tag"), (x,), (sg.ones(2),), has_aux=True)
    assert jv.tolist() == [2.0, 2.0] and aux5 == "tag"
    jac, aux6 = F.jacfwd(lambda x: (sg.sin(x), 7), has_aux=True)(x)
    assert aux6 == 7 and jac.shape == (2, 2)


# ----------------------------------------------------------------------------- errors
def test_errors_name_the_fix():
    x = sg.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"scalar tensor, got shape \(2,\).*jacrev"):
        F.grad(lambda x: x * 2)(x)
    with pytest.raises(sg.GradientError):
        F.grad(lambda x: x * 2)(x)
    with pytest.raises(TypeError, match="must return a scalar symgrad Tensor, got float"):
        F.grad(lambda x: 1.0)(x)
    with pytest.raises(TypeError, match="Tensor or a tuple of Tensors, got a tuple of"):
        F.jacrev(lambda x: (x, 3.0))(x)
    with pytest.raises(TypeError, match="has_aux=True the function must return a pair"):
        F.grad(lambda x: x.sum(), has_aux=True)(x)
    with pytest.raises(ValueError, match=r"argnums=2, but only 2 positional input"):
        F.grad(lambda x, y: x.sum(), argnums=2)(x, x)
    with pytest.raises(ValueError, match="names an input twice"):
        F.jacrev(lambda x, y: x, argnums=(0, -2))(x, x)
    with pytest.raises(TypeError, match="argnums must be an int or a tuple of ints"):
        F.grad(lambda x: x.sum(), argnums=0.5)(x)
    with pytest.raises(TypeError, match="must be a symgrad Tensor, got list.*sg.tensor"):
        F.grad(lambda x: x.sum())([1.0, 2.0])
    with pytest.raises(TypeError, match="only floating point tensors.*double"):
        F.grad(lambda x: x.sum())(sg.tensor([1, 2]))
    with pytest.raises(sg.SymbolicValueError, match="sg.jacobian / sg.hessian"):
        F.grad(lambda x: x.sum())(sg.symbol("s", shape=(2,)))
    with pytest.raises(ValueError, match=r"tangents\[0\] has shape \(3,\) but must have shape"):
        F.jvp(sg.sin, (x,), (sg.ones(3),))
    with pytest.raises(ValueError, match="as many tangents as primals"):
        F.hvp(lambda x, y: (x * y).sum(), (x, x), (x,))
    with pytest.raises(TypeError, match="primals to be a tuple"):
        F.jvp(sg.sin, 1.0, 1.0)
    _, vjp_fn = F.vjp(sg.sin, x)
    with pytest.raises(ValueError, match="expected 1 cotangent"):
        vjp_fn(x, x)
    with pytest.raises(ValueError, match="cotangent 0 has shape"):
        vjp_fn(sg.ones(3))


# ----------------------------------------------------------------------------- torch parity
def test_torch_func_parity():
    torch = pytest.importorskip("torch")
    tf = torch.func
    vals = [np.array([[0.2, -0.5], [1.1, 0.3]]), np.array([0.6, -0.9])]

    def f(W, x, m):
        return (m.tanh(W @ x) * m.exp(x)).sum() + (W * W).sum() * x[0]

    sgf = lambda W, x: f(W, x, sg)  # noqa: E731
    tfn = lambda W, x: f(W, x, torch)  # noqa: E731
    s_in, t_in = _tensors(vals), [torch.tensor(v) for v in vals]

    def same(a, b):
        if isinstance(a, tuple):
            assert isinstance(b, tuple) and len(a) == len(b)
            for p, q in zip(a, b):
                same(p, q)
            return
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-13)

    for argnums in (0, 1, (0, 1), (1,)):
        same(F.grad(sgf, argnums)(*s_in), tf.grad(tfn, argnums)(*t_in))
        same(F.jacrev(sgf, argnums)(*s_in), tf.jacrev(tfn, argnums)(*t_in))
        same(F.jacfwd(sgf, argnums)(*s_in), tf.jacfwd(tfn, argnums)(*t_in))
        same(F.hessian(sgf, argnums)(*s_in), tf.hessian(tfn, argnums)(*t_in))
    g = lambda x, W: (W @ torch.sin(x) if isinstance(x, torch.Tensor)  # noqa: E731
                      else W @ sg.sin(x), x.sum())
    s2, t2 = (s_in[1], s_in[0]), (t_in[1], t_in[0])
    same(F.jacrev(g, (0, 1))(*s2), tf.jacrev(g, (0, 1))(*t2))
    same(F.jacfwd(g, (0, 1))(*s2), tf.jacfwd(g, (0, 1))(*t2))
    tangents = (sg.tensor([1.0, -2.0]), sg.tensor([[0.5, 0.0], [1.0, 3.0]]))
    t_tan = tuple(torch.tensor(t.numpy()) for t in tangents)
    same(F.jvp(g, s2, tangents), tf.jvp(g, t2, t_tan))
    out, vjp_fn = F.vjp(g, *s2)
    t_out, t_vjp = tf.vjp(g, *t2)
    same(out, t_out)
    same(vjp_fn((sg.tensor([1.0, 2.0]), sg.tensor(0.5))),
         t_vjp((torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor(0.5,
                                                                             dtype=torch.float64))))
    h = lambda W, x: f(W, x, sg)  # noqa: E731
    value, hv = F.hvp(h, tuple(s_in), (tangents[1], tangents[0]))
    t_value, t_hv = torch.autograd.functional.hvp(tfn, tuple(t_in), (t_tan[1], t_tan[0]))
    same(value, t_value)
    same(hv, t_hv)


def test_float32_stays_float32():
    x = sg.tensor([0.5, -1.0, 2.0], dtype=sg.float32)
    for jac in (F.jacrev(sg.sin)(x), F.jacfwd(sg.sin)(x), F.hessian(lambda x: (x ** 3).sum())(x)):
        assert jac.dtype == sg.float32
    np.testing.assert_allclose(F.jacfwd(sg.sin)(x).numpy(), np.diag(np.cos(x.numpy())),
                               rtol=1e-6)
