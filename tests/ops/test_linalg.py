"""Linear algebra (issue 11): values, gradients and errors against PyTorch, and
torch-free witnesses (numpy values, finite differences, exact SymPy forms).

The primitives are det, logabsdet, inv, solve, cholesky, vector_norm, trace, tril and
triu; the rest are composed of ops (verify.opdb.COMPOSED) and checked here the same way.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy

import symgrad as sg
from numeric.ops import Op

RNG = np.random.default_rng(11)


def invertible(*shape):
    """Diagonally dominant matrices (*, n, n), either sign of det."""
    n = shape[-1]
    sign = RNG.choice([-1.0, 1.0], size=shape[:-1])
    return RNG.uniform(-1, 1, size=shape) + np.eye(n) * (n * sign)[..., None]


def spd(*shape):
    a = RNG.uniform(-1, 1, size=shape)
    return (a + np.swapaxes(a, -1, -2)) / 2 + shape[-1] * np.eye(shape[-1])


def real(*shape):
    return RNG.uniform(-2, 2, size=shape)


def _fd_grad(fn, arrays, i, eps=1e-6):
    """Central differences of sum(w * fn(*arrays)) with respect to arrays[i]."""
    base = [np.array(a, dtype=np.float64) for a in arrays]
    out = np.asarray(fn(*[sg.tensor(a) for a in base]).numpy())
    w = np.linspace(0.5, 1.5, out.size).reshape(out.shape)
    grad = np.zeros_like(base[i])
    for idx in np.ndindex(base[i].shape):
        vals = []
        for sgn in (1, -1):
            shifted = [a.copy() for a in base]
            shifted[i][idx] += sgn * eps
            vals.append(np.sum(w * fn(*[sg.tensor(a) for a in shifted]).numpy()))
        grad[idx] = (vals[0] - vals[1]) / (2 * eps)
    return w, grad


def _sg_grads(fn, arrays, w):
    ts = [sg.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    (out * sg.tensor(w)).sum().backward()
    return [t.grad.numpy() for t in ts]


# (id, sg function, torch function, input builders): every op and composition
CASES = [
    ("det", sg.det, "torch.det", [lambda: invertible(3, 3)]),
    ("det-batch", sg.linalg.det, "torch.linalg.det", [lambda: invertible(2, 3, 3)]),
    ("inverse", sg.inverse, "torch.inverse", [lambda: invertible(3, 3)]),
    ("inv-batch", sg.linalg.inv, "torch.linalg.inv", [lambda: invertible(2, 2, 2)]),
    ("logdet", sg.logdet, "torch.logdet", [lambda: spd(3, 3)]),
    ("slogdet", lambda a: sg.slogdet(a).logabsdet, "lambda a: torch.slogdet(a).logabsdet",
     [lambda: invertible(2, 3, 3)]),
    ("solve-matrix", sg.linalg.solve, "torch.linalg.solve",
     [lambda: invertible(3, 3), lambda: real(3, 2)]),
    ("solve-vector", sg.linalg.solve, "torch.linalg.solve",
     [lambda: invertible(3, 3), lambda: real(3)]),
    ("solve-batch-vectors", sg.linalg.solve, "torch.linalg.solve",
     [lambda: invertible(2, 3, 3), lambda: real(2, 3)]),
    ("solve-broadcast", sg.linalg.solve, "torch.linalg.solve",
     [lambda: invertible(1, 2, 2), lambda: real(3, 2, 4)]),
    ("solve-right", lambda a, b: sg.linalg.solve(a, b, left=False),
     "lambda a, b: torch.linalg.solve(a, b, left=False)",
     [lambda: invertible(3, 3), lambda: real(2, 3)]),
    ("cholesky", sg.linalg.cholesky, "torch.linalg.cholesky", [lambda: spd(3, 3)]),
    ("cholesky-upper-batch", lambda a: sg.linalg.cholesky(a, upper=True),
     "lambda a: torch.linalg.cholesky(a, upper=True)", [lambda: spd(2, 3, 3)]),
    ("cholesky-top", lambda a: sg.cholesky(a, True), "lambda a: torch.cholesky(a, True)",
     [lambda: spd(2, 2)]),
    ("vector_norm-2", sg.linalg.vector_norm, "torch.linalg.vector_norm", [lambda: real(3, 4)]),
    ("vector_norm-1-dim", lambda x: sg.linalg.vector_norm(x, 1, dim=1, keepdim=True),
     "lambda x: torch.linalg.vector_norm(x, 1, dim=1, keepdim=True)", [lambda: real(3, 4)]),
    ("vector_norm-inf", lambda x: sg.linalg.vector_norm(x, math.inf, dim=(0, 2)),
     "lambda x: torch.linalg.vector_norm(x, math.inf, dim=(0, 2))", [lambda: real(2, 3, 4)]),
    ("vector_norm--inf", lambda x: sg.linalg.vector_norm(x, -math.inf, dim=-1),
     "lambda x: torch.linalg.vector_norm(x, -math.inf, dim=-1)", [lambda: real(3, 4)]),
    ("vector_norm-3", lambda x: sg.linalg.vector_norm(x, 3, dim=0),
     "lambda x: torch.linalg.vector_norm(x, 3, dim=0)", [lambda: real(3, 4)]),
    ("vector_norm-0.5", lambda x: sg.linalg.vector_norm(x, 0.5),
     "lambda x: torch.linalg.vector_norm(x, 0.5)", [lambda: real(5)]),
    ("vector_norm-0", lambda x: sg.linalg.vector_norm(x, 0, dim=1),
     "lambda x: torch.linalg.vector_norm(x, 0, dim=1)", [lambda: real(3, 4)]),
    ("matrix_norm-fro", sg.linalg.matrix_norm, "torch.linalg.matrix_norm",
     [lambda: real(2, 3, 4)]),
    ("matrix_norm-1", lambda a: sg.linalg.matrix_norm(a, 1),
     "lambda a: torch.linalg.matrix_norm(a, 1)", [lambda: real(2, 3, 4)]),
    ("matrix_norm--1-keep", lambda a: sg.linalg.matrix_norm(a, -1, keepdim=True),
     "lambda a: torch.linalg.matrix_norm(a, -1, keepdim=True)", [lambda: real(3, 4)]),
    ("matrix_norm-inf-dims", lambda a: sg.linalg.matrix_norm(a, math.inf, dim=(0, 2)),
     "lambda a: torch.linalg.matrix_norm(a, math.inf, dim=(0, 2))", [lambda: real(3, 2, 4)]),
    ("matrix_norm--inf", lambda a: sg.linalg.matrix_norm(a, -math.inf),
     "lambda a: torch.linalg.matrix_norm(a, -math.inf)", [lambda: real(3, 4)]),
    ("norm-default", sg.linalg.norm, "torch.linalg.norm", [lambda: real(2, 3, 4)]),
    ("norm-matrix-1", lambda a: sg.linalg.norm(a, 1), "lambda a: torch.linalg.norm(a, 1)",
     [lambda: real(3, 4)]),
    ("norm-vector-dim", lambda a: sg.linalg.norm(a, 3, dim=1),
     "lambda a: torch.linalg.norm(a, 3, dim=1)", [lambda: real(3, 4)]),
    ("vecdot", sg.linalg.vecdot, "torch.linalg.vecdot", [lambda: real(2, 3), lambda: real(3)]),
    ("trace", sg.trace, "torch.trace", [lambda: real(3, 4)]),
    ("tril", lambda x: sg.tril(x, -1), "lambda x: torch.tril(x, -1)", [lambda: real(2, 3, 4)]),
    ("triu", lambda x: x.triu(1), "lambda x: x.triu(1)", [lambda: real(4, 3)]),
    ("diagonal", lambda x: sg.diagonal(x, 1, 2, 0), "lambda x: torch.diagonal(x, 1, 2, 0)",
     [lambda: real(3, 2, 4)]),
    ("linalg.diagonal", lambda x: sg.linalg.diagonal(x, offset=-1),
     "lambda x: torch.linalg.diagonal(x, offset=-1)", [lambda: real(2, 3, 3)]),
    ("diag_embed", lambda x: sg.diag_embed(x, -1, 0, 2),
     "lambda x: torch.diag_embed(x, -1, 0, 2)", [lambda: real(2, 3)]),
    ("diag-vector", lambda x: sg.diag(x, 2), "lambda x: torch.diag(x, 2)", [lambda: real(3)]),
    ("diag-matrix", lambda x: x.diag(-1), "lambda x: x.diag(-1)", [lambda: real(3, 4)]),
    ("dot", sg.dot, "torch.dot", [lambda: real(4), lambda: real(4)]),
    ("vdot", lambda x, y: x.vdot(y), "lambda x, y: x.vdot(y)", [lambda: real(4), lambda: real(4)]),
    ("outer", sg.outer, "torch.outer", [lambda: real(3), lambda: real(2)]),
    ("kron", sg.kron, "torch.kron", [lambda: real(2, 3), lambda: real(3, 1, 2)]),
    ("einsum-matmul", lambda a, b: sg.einsum("ij,jk->ik", a, b),
     "lambda a, b: torch.einsum('ij,jk->ik', a, b)", [lambda: real(2, 3), lambda: real(3, 4)]),
    ("einsum-implicit-batch", lambda a, b: sg.einsum("...ij,...jk", a, b),
     "lambda a, b: torch.einsum('...ij,...jk', a, b)",
     [lambda: real(2, 2, 3), lambda: real(3, 4)]),
    ("einsum-trace-diag", lambda a, b: sg.einsum("ii,j->ij", a, b),
     "lambda a, b: torch.einsum('ii,j->ij', a, b)", [lambda: real(3, 3), lambda: real(2)]),
    ("einsum-three", lambda a, b, c: sg.einsum("bi,ij,bj->b", [a, b, c]),
     "lambda a, b, c: torch.einsum('bi,ij,bj->b', [a, b, c])",
     [lambda: real(2, 3), lambda: real(3, 4), lambda: real(2, 4)]),
    ("einsum-sum-all", lambda a: sg.einsum("ijk->", a), "lambda a: torch.einsum('ijk->', a)",
     [lambda: real(2, 3, 2)]),
    ("einsum-transpose", lambda a: sg.einsum("ij->ji", a), "lambda a: torch.einsum('ij->ji', a)",
     [lambda: real(2, 3)]),
]
IDS = [c[0] for c in CASES]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _torch_fn(torch, text):
    return eval(text, {"torch": torch, "math": math})  # noqa: S307 - the table's own text


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_values_and_gradients_match_torch(torch, case, dtype):
    _, fn, tfn, builders = case
    arrays = [b().astype(dtype) for b in builders]
    ts = [sg.tensor(a, requires_grad=True) for a in arrays]
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, tout = fn(*ts), _torch_fn(torch, tfn)(*tt)
    assert out.dtype == np.dtype(dtype) and out.shape == tuple(tout.shape)
    rtol = 1e-10 if dtype == "float64" else 2e-4
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=rtol, atol=rtol)
    w = np.linspace(0.5, 1.5, out.numel()).reshape(out.shape).astype(dtype)
    (out * sg.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    for t, r in zip(ts, tt):
        assert t.grad.dtype == np.dtype(dtype)
        # torch leaves .grad None where its backward returns no gradient (ord 0): zeros
        want = np.zeros(t.shape) if r.grad is None else r.grad.numpy()
        np.testing.assert_allclose(t.grad.numpy(), want, rtol=rtol * 10, atol=rtol * 10)


SECOND = ["det", "inverse", "slogdet", "solve-matrix", "solve-broadcast", "cholesky",
          "vector_norm-2", "vector_norm-3", "matrix_norm-fro", "einsum-three", "kron"]


@pytest.mark.parametrize("name", SECOND)
def test_second_derivatives_match_torch(torch, name):
    _, fn, tfn, builders = CASES[IDS.index(name)]
    arrays = [b() for b in builders]
    ts = [sg.tensor(a, requires_grad=True) for a in arrays]
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, tout = fn(*ts), _torch_fn(torch, tfn)(*tt)
    w = np.cos(np.arange(out.numel())).reshape(out.shape)
    gs = sg.autograd.grad((out * sg.tensor(w)).sum(), ts, create_graph=True)
    tg = torch.autograd.grad((tout * torch.tensor(w)).sum(), tt, create_graph=True)
    v = [np.sin(np.arange(a.size)).reshape(a.shape) for a in arrays]
    second = sg.autograd.grad(sum((g * sg.tensor(x)).sum() for g, x in zip(gs, v)), ts,
                              allow_unused=True)
    tsecond = torch.autograd.grad(sum((g * torch.tensor(x)).sum() for g, x in zip(tg, v)), tt,
                                  allow_unused=True)
    for s, r in zip(second, tsecond):
        want = np.zeros(1) if r is None else r.numpy()
        got = np.zeros(1) if s is None else s.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)


def test_singular_and_non_positive_definite_errors_match_torch(torch):
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    for sg_call, torch_call in [(sg.linalg.inv, torch.linalg.inv),
                                (lambda a: sg.linalg.solve(a, sg.ones(2, dtype=sg.float64)),
                                 lambda a: torch.linalg.solve(a, torch.ones(2, dtype=a.dtype)))]:
        with pytest.raises(torch.linalg.LinAlgError):
            torch_call(torch.tensor(singular))
        with pytest.raises(sg.linalg.LinAlgError, match="singular"):
            sg_call(sg.tensor(singular))
    with pytest.raises(torch.linalg.LinAlgError):
        torch.linalg.cholesky(torch.tensor(-np.eye(2)))
    with pytest.raises(sg.LinAlgError, match="positive-definite"):
        sg.linalg.cholesky(sg.tensor(-np.eye(2)))


def test_det_gradient_at_singular_matrices_is_the_adjugate(torch):
    for a in [np.zeros((2, 2)), np.zeros((3, 3))]:
        t = sg.tensor(a, requires_grad=True)
        sg.det(t).backward()
        r = torch.tensor(a, requires_grad=True)
        torch.linalg.det(r).backward()
        np.testing.assert_allclose(t.grad.numpy(), r.grad.numpy(), atol=1e-12)
    # rank n-1 (Note [Singular det]): the adjugate, SymPy's derivative (PyTorch 2.13
    # returns zeros there: docs/conventions.md)
    for a in [np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]]),
              np.array([[1.0, 2.0], [2.0, 4.0]])]:
        t = sg.tensor(a, requires_grad=True)
        sg.det(t).backward()
        want = np.array(sympy.Matrix(a.astype(int).tolist()).adjugate().T, dtype=float)
        np.testing.assert_allclose(t.grad.numpy(), want, atol=1e-12)


def test_logdet_negative_and_zero_as_torch(torch):
    for a in [np.array([[0.0, 1.0], [1.0, 0.0]]), np.zeros((2, 2))]:
        t = sg.tensor(a, requires_grad=True)
        r = torch.tensor(a, requires_grad=True)
        np.testing.assert_array_equal(sg.logdet(t).detach().numpy(), torch.logdet(r).detach().numpy())
        sign, logabs = sg.slogdet(t)
        rs = torch.linalg.slogdet(r)
        assert sign.item() == rs.sign.item() and logabs.item() == rs.logabsdet.item()
        assert not sign.requires_grad
    t = sg.tensor([[0.0, 1.0], [1.0, 0.0]], requires_grad=True)
    sg.logdet(t).backward()      # nan value: zero gradient, as torch's where
    assert np.all(t.grad.numpy() == 0)


# ----------------------------------------------------------------------------- torch-free
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradients_match_finite_differences(case):
    _, fn, _, builders = case
    arrays = [b() for b in builders]
    w, _ = _fd_grad(fn, arrays, 0)
    grads = _sg_grads(fn, arrays, w)
    for i in range(len(arrays)):
        _, fd = _fd_grad(fn, arrays, i)
        np.testing.assert_allclose(grads[i], fd, rtol=1e-6, atol=1e-6)


def test_values_match_numpy():
    a, b = invertible(2, 3, 3), real(2, 3, 2)
    x, y = real(3), real(4)
    checks = [
        (sg.det(sg.tensor(a)), np.linalg.det(a)),
        (sg.inverse(sg.tensor(a)), np.linalg.inv(a)),
        (sg.linalg.solve(sg.tensor(a), sg.tensor(b)), np.linalg.solve(a, b)),
        (sg.slogdet(sg.tensor(a)).logabsdet, np.linalg.slogdet(a)[1]),
        (sg.linalg.cholesky(sg.tensor(spd(3, 3) * 0 + np.eye(3) * 4)), np.eye(3) * 2),
        (sg.linalg.vector_norm(sg.tensor(b), 3, dim=(1, 2)),
         np.sum(np.abs(b) ** 3, axis=(1, 2)) ** (1 / 3)),
        (sg.linalg.matrix_norm(sg.tensor(b)), np.linalg.norm(b, "fro", axis=(1, 2))),
        (sg.linalg.matrix_norm(sg.tensor(b), -math.inf), np.linalg.norm(b, -np.inf, axis=(1, 2))),
        (sg.trace(sg.tensor(a[0])), np.trace(a[0])),
        (sg.tril(sg.tensor(a), 1), np.tril(a, 1)),
        (sg.diag_embed(sg.tensor(x), 1), np.diag(x, 1)),
        (sg.diagonal(sg.tensor(a), 0, -2, -1), np.diagonal(a, 0, -2, -1)),
        (sg.kron(sg.tensor(a[0]), sg.tensor(b[0])), np.kron(a[0], b[0])),
        (sg.outer(sg.tensor(x), sg.tensor(y)), np.outer(x, y)),
        (sg.einsum("bij,bjk->bik", sg.tensor(a), sg.tensor(b)), np.einsum("bij,bjk->bik", a, b)),
        (sg.einsum("i,i", sg.tensor(x), sg.tensor(x)), np.einsum("i,i", x, x)),
        (sg.einsum("b...ii->b...", sg.tensor(a)), np.einsum("b...ii->b...", a)),
    ]
    for got, want in checks:
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


def test_int_results_keep_int_dtype():
    m = sg.tensor([[1, 2], [3, 4]])
    assert sg.trace(m).dtype == np.int64 and sg.trace(m).item() == 5
    assert sg.tril(m).dtype == np.int64 and sg.tril(m).tolist() == [[1, 0], [3, 4]]


def test_exact_forms_equal_hand_written_sympy():
    a = sg.tensor([[2.0, 1.0], [1.0, 3.0]], requires_grad=True, name="A")
    a00, a01, a10, a11 = sympy.symbols("A_0_0 A_0_1 A_1_0 A_1_1")
    det = a00 * a11 - a01 * a10
    assert sympy.simplify(sg.to_sympy(sg.det(a)) - det) == 0
    d = sg.diff(sg.det(a), a)
    assert sympy.Matrix(d) == sympy.Matrix([[a11, -a10], [-a01, a00]])
    inv = sympy.Matrix([[a11, -a01], [-a10, a00]]) / det
    assert sympy.simplify(sympy.Matrix(sg.to_sympy(sg.inverse(a))) - inv) == sympy.zeros(2, 2)
    d = sg.diff(sg.slogdet(a).logabsdet, a)      # sign(det) / |det| * adj: a Piecewise at 0
    at = {a00: 2, a01: sympy.Rational(1, 3), a10: -1, a11: 5}
    assert (sympy.Matrix(d) - inv.T).subs(at) == sympy.zeros(2, 2)
    x = sg.tensor([3.0, 4.0], requires_grad=True, name="x")
    x0, x1 = sympy.symbols("x_0 x_1")
    g = sg.diff(sg.linalg.vector_norm(x), x)
    assert sympy.simplify(sympy.Matrix(g) - sympy.Matrix([x0, x1]) / sympy.sqrt(x0**2 + x1**2)) \
        == sympy.zeros(2, 1)
    low = sg.to_sympy(sg.linalg.cholesky(a))
    assert sympy.simplify(low[0, 0] - sympy.sqrt(a00)) == 0 and low[0, 1] == 0


def test_exact_gradient_of_solve_and_cholesky_at_a_point():
    a0, b0 = spd(2, 2), real(2, 3)
    a = sg.tensor(a0, requires_grad=True, name="A")
    b = sg.tensor(b0, requires_grad=True, name="B")
    w = sg.tensor(np.linspace(0.5, 1.5, 6).reshape(2, 3))
    for f in (lambda: (sg.linalg.solve(a, b) * w).sum(),
              lambda: (sg.linalg.cholesky(a) @ b * w).sum()):
        exact = sg.gradient(f(), [a, b], simplify=False)
        subs = {sympy.Symbol(f"A_{i}_{j}"): a0[i, j] for i in range(2) for j in range(2)}
        subs |= {sympy.Symbol(f"B_{i}_{j}"): b0[i, j] for i in range(2) for j in range(3)}
        a.grad = b.grad = None
        f().backward()
        for e, t in zip(exact, (a, b)):
            got = np.array(sympy.Matrix(e).subs(subs).evalf(30), dtype=float)
            np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_methods_exist_as_in_torch():
    a = sg.tensor(spd(3, 3))
    v = sg.tensor([1.0, 2.0, 3.0])
    assert sg.allclose(a.det(), sg.det(a)) and sg.allclose(a.inverse(), sg.inverse(a))
    assert sg.allclose(a.logdet(), sg.logdet(a)) and sg.allclose(a.trace(), sg.trace(a))
    assert sg.allclose(a.slogdet().logabsdet, sg.slogdet(a).logabsdet)
    assert sg.allclose(a.diagonal(), sg.diagonal(a)) and sg.allclose(v.diag_embed(), sg.diag(v))
    assert sg.allclose(v.outer(v), sg.outer(v, v)) and sg.allclose(v.dot(v), sg.dot(v, v))
    assert sg.allclose(a.kron(a), sg.kron(a, a)) and sg.allclose(a.tril(1), sg.tril(a, 1))
    assert sg.allclose(v.ger(v), sg.outer(v, v))


def test_symbolic_inputs_lower_exactly():
    a = sg.symbol("M", shape=(2, 2))
    assert sympy.simplify(sg.to_sympy(sg.logdet(a)) - sympy.log(
        sympy.Symbol("M_0_0") * sympy.Symbol("M_1_1") - sympy.Symbol("M_0_1") *
        sympy.Symbol("M_1_0"))) == 0
    assert sg.einsum("ij,j->i", a, sg.symbol("v", shape=(2,))).shape == (2,)


@pytest.mark.parametrize("call,error,match", [
    (lambda: sg.det(sg.ones(2, 3, dtype=sg.float64)), RuntimeError, "square"),
    (lambda: sg.inverse(sg.ones(3, dtype=sg.float64)), RuntimeError, "at least 2 dimensions"),
    (lambda: sg.det(sg.tensor([[1, 2], [3, 4]])), RuntimeError, "floating point"),
    (lambda: sg.linalg.solve(sg.eye(2), sg.ones(3, 1)), RuntimeError, "B needs 2 rows"),
    (lambda: sg.linalg.solve(sg.eye(2), sg.ones(2), left=False), RuntimeError, "left=False"),
    (lambda: sg.inverse(sg.zeros(2, 2)), sg.linalg.LinAlgError, "singular"),
    (lambda: sg.trace(sg.ones(3)), RuntimeError, "expected a matrix"),
    (lambda: sg.tril(sg.ones(3)), RuntimeError, "at least 2 dimensions"),
    (lambda: sg.diag(sg.ones(2, 2, 2)), RuntimeError, "1D or 2D"),
    (lambda: sg.diagonal(sg.ones(2, 2), 0, 1, -1), RuntimeError, "cannot be identical"),
    (lambda: sg.diagonal(sg.ones(2, 2), 0, 0, 2), IndexError, "out of range"),
    (lambda: sg.dot(sg.ones(2), sg.ones(3)), RuntimeError, "inconsistent tensor size"),
    (lambda: sg.dot(sg.ones(2, 2), sg.ones(2)), RuntimeError, "1D tensors expected"),
    (lambda: sg.dot(sg.ones(2), sg.ones(2, dtype=sg.float32)), RuntimeError, "same dtype"),
    (lambda: sg.outer(sg.ones(2, 1), sg.ones(2)), RuntimeError, "1D tensors expected"),
    (lambda: sg.einsum("ij,jk", sg.ones(2, 3)), ValueError, "operand subscripts"),
    (lambda: sg.einsum("ijk", sg.ones(2, 3)), ValueError, "number of subscripts"),
    (lambda: sg.einsum("ij->k", sg.ones(2, 3)), ValueError, "must each appear once"),
    (lambda: sg.einsum("ij,jk", sg.ones(2, 3), sg.ones(4, 2)), RuntimeError, "broadcast"),
    (lambda: sg.einsum("ii", sg.ones(2, 3)), RuntimeError, "repeated"),
    (lambda: sg.linalg.vector_norm(sg.ones(3), "fro"), TypeError, "number"),
    (lambda: sg.linalg.matrix_norm(sg.ones(3)), RuntimeError, "at least 2"),
    (lambda: sg.linalg.matrix_norm(sg.ones(2, 2), 3), RuntimeError, "not supported"),
    (lambda: sg.linalg.matrix_norm(sg.ones(2, 2), "nuc"), NotImplementedError, "singular"),
    (lambda: sg.linalg.matrix_norm(sg.ones(2, 2), dim=(0, 0)), RuntimeError, "different"),
    (lambda: sg.linalg.norm(sg.ones(2, 2, 2), 2), RuntimeError, "1D or 2D"),
])
def test_bad_input_raises_as_torch(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_errors_are_torch_classes(torch):
    """Each bad input above raises in torch too, with the same class family."""
    with pytest.raises(RuntimeError):
        torch.det(torch.ones(2, 3))
    with pytest.raises(RuntimeError):
        torch.trace(torch.ones(3))
    with pytest.raises(RuntimeError):
        torch.dot(torch.ones(2), torch.ones(3))
    with pytest.raises(IndexError):
        torch.diagonal(torch.ones(2, 2), 0, 0, 2)
    assert issubclass(sg.LinAlgError, RuntimeError)
    assert issubclass(torch.linalg.LinAlgError, RuntimeError)


def test_solve_vector_rule_matches_torch(torch):
    a = invertible(2, 3, 3)
    for b in (real(3), real(2, 3), real(3, 3), real(2, 3, 1)):
        got = sg.linalg.solve(sg.tensor(a), sg.tensor(b))
        want = torch.linalg.solve(torch.tensor(a), torch.tensor(b))
        assert got.shape == tuple(want.shape)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


def test_ops_are_primitives_with_own_forms():
    """The primitives have kernels, VJPs and SymPy forms; the compositions are listed."""
    from symgrad.lower_sympy import TO_SYMPY
    from verify.opdb import COMPOSED, OP_DB
    for op in (Op.DET, Op.LOGABSDET, Op.INV, Op.SOLVE, Op.CHOLESKY, Op.VECTOR_NORM, Op.TRACE,
               Op.TRIL, Op.TRIU):
        assert op in TO_SYMPY and op in OP_DB
    for name in ("diagonal", "diag_embed", "diag", "dot", "vdot", "outer", "kron", "einsum",
                 "logdet", "slogdet", "linalg.matrix_norm", "linalg.norm", "linalg.vecdot"):
        assert name in COMPOSED


def test_linalg_names_are_in_the_api_reference():
    from pathlib import Path
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    missing = [n for n in sg.linalg.__all__
               if f"`sg.linalg.{n}(" not in text and f"`sg.linalg.{n}`" not in text]
    assert not missing
