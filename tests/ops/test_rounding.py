"""Rounding and tests: floor, ceil, trunc/fix, frac, round, isnan/isinf/isfinite, logical
and bitwise ops, and the operators ``& | ^ ~``: against PyTorch, and torch-free witnesses
(numpy values, exact forms, finite differences, the value check of verify)."""
import math

import numpy as np
import pytest
import sympy

import symgrad as sg
from numeric.kernels import FORWARD
from numeric.ops import Op
from symgrad import lower_sympy
from verify.sweep import check_values

ROUNDING = ["floor", "ceil", "trunc", "frac"]
TESTS = ["isnan", "isinf", "isfinite"]
LOGICAL = ["logical_and", "logical_or", "logical_xor"]
BITWISE = ["bitwise_and", "bitwise_or", "bitwise_xor"]
EDGES = [-2.5, -1.5, -0.5, -0.0, 0.0, 0.5, 1.5, 2.5, 0.49999999999999994, -3.7, 7.2, 1e20,
         -1e20, math.inf, -math.inf, math.nan]
SPECIALS = [0.0, -0.0, 1.5, -2.0, math.inf, -math.inf, math.nan]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _tdt(torch, dtype):
    return {np.float32: torch.float32, np.float64: torch.float64}[dtype]


def _same(ours, theirs):
    """Equal values (nan where nan) and dtypes, as torch's."""
    a, b = ours.detach().numpy(), theirs.detach().numpy()
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- vs PyTorch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ROUNDING + ["fix"])
def test_rounding_values_and_zero_or_unit_gradient_match_torch(torch, name, dtype):
    x = sg.tensor(np.array(EDGES, dtype), requires_grad=True)
    tx = torch.tensor(np.array(EDGES, dtype), requires_grad=True)
    y, ty = getattr(sg, name)(x), getattr(torch, name)(tx)
    _same(y, ty)
    assert y.requires_grad and ty.requires_grad and y.dtype == x.dtype
    g = np.array([1.0, -2.0, np.inf, np.nan] * 4, dtype)   # zeros_like(g): 0 even for inf
    y.backward(sg.tensor(g))
    ty.backward(torch.tensor(g))
    _same(x.grad, tx.grad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("decimals", [0, 1, 2, -1, 3])
def test_round_half_even_with_decimals_matches_torch(torch, decimals, dtype):
    vals = np.array(EDGES + [0.125, 0.135, 2.675, 15.0, 25.0, -35.0, 1234.5678], dtype)
    x = sg.tensor(vals, requires_grad=True)
    tx = torch.tensor(vals, requires_grad=True)
    y, ty = sg.round(x, decimals=decimals), torch.round(tx, decimals=decimals)
    _same(y, ty)
    assert x.round(decimals=decimals).requires_grad
    (y * 3).sum().backward()
    (ty * 3).sum().backward()
    _same(x.grad, tx.grad)


def test_integer_and_bool_inputs_as_torch(torch):
    i = np.array([3, -5, 0])
    for name in ["floor", "ceil", "trunc", "round"]:     # integers come back unchanged
        _same(getattr(sg, name)(sg.tensor(i)), getattr(torch, name)(torch.tensor(i)))
    for name, bad, kw in [("frac", i, {}), ("round", i, {"decimals": 1}),
                          ("floor", np.array([True]), {})]:
        with pytest.raises(NotImplementedError):
            getattr(torch, name)(torch.tensor(bad), **kw)
        with pytest.raises(NotImplementedError, match=f'"{name}" is not implemented'):
            getattr(sg, name)(sg.tensor(bad), **kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("name", TESTS + ["logical_not"])
def test_tests_match_torch_and_never_require_grad(torch, name, dtype):
    vals = np.array(SPECIALS if dtype != np.int64 else [0, 3, -2]).astype(dtype)
    x = sg.tensor(vals, requires_grad=dtype != np.int64)
    _same(getattr(sg, name)(x), getattr(torch, name)(torch.tensor(vals)))
    assert not getattr(x, name)().requires_grad


@pytest.mark.parametrize("name", LOGICAL)
def test_logical_ops_broadcast_over_mixed_dtypes_as_torch(torch, name):
    a = np.array([[0.0], [-0.0], [2.5], [math.nan]])
    b = np.array([0, 3, -1])
    c = np.array([True, False, True])
    x = sg.tensor(a, requires_grad=True)
    for other in (b, c):
        y = getattr(sg, name)(x, sg.tensor(other))
        _same(y, getattr(torch, name)(torch.tensor(a), torch.tensor(other)))
        assert not y.requires_grad
    _same(getattr(x, name)(0), getattr(torch.tensor(a), name)(torch.tensor(0)))


@pytest.mark.parametrize("name", BITWISE)
@pytest.mark.parametrize("dtypes", [(np.int64, np.int64), (np.int32, np.int32),
                                    (np.uint8, np.int64), (np.bool_, np.int64),
                                    (np.bool_, np.bool_)])
def test_bitwise_ops_promote_and_broadcast_as_torch(torch, name, dtypes):
    a = np.array([[12], [-1], [0], [255]]).astype(dtypes[0])
    b = np.array([10, 5, -128]).astype(dtypes[1])
    _same(getattr(sg, name)(sg.tensor(a), sg.tensor(b)),
          getattr(torch, name)(torch.tensor(a), torch.tensor(b)))
    _same(getattr(sg.tensor(a), name)(3), getattr(torch.tensor(a), name)(3))
    _same(getattr(sg, name)(sg.tensor(a), sg.tensor(b[0])),         # a 0-d tensor: no
          getattr(torch, name)(torch.tensor(a), torch.tensor(b[0])))  # promotion (PyTorch)


def test_operators_bitwise_on_ints_logical_on_bools_as_torch(torch):
    i, j, b = np.array([12, -1, 6]), np.array([10, 5, 3]), np.array([True, False, True])
    si, sj, sb = sg.tensor(i), sg.tensor(j), sg.tensor(b)
    ti, tj, tb = torch.tensor(i), torch.tensor(j), torch.tensor(b)
    for ours, theirs in [(si & sj, ti & tj), (si | sj, ti | tj), (si ^ sj, ti ^ tj),
                         (~si, ~ti), (~sb, ~tb), (sb & sb[::-1], tb & tb.flip(0)),
                         (sb | False, tb | False), (sb ^ True, tb ^ True), (sb & 1, tb & 1),
                         (sb & si, tb & ti), (3 & si, 3 & ti), (5 | si, 5 | ti),
                         (6 ^ si, 6 ^ ti), (sg.bitwise_not(sb), torch.bitwise_not(tb))]:
        _same(ours, theirs)
    assert (~sb).op is Op.LOGICAL_NOT and (~si).op is Op.BITWISE_NOT


def test_bitwise_on_floats_raises_as_torch(torch):
    f = np.array([1.0, 2.0])
    for ours, theirs in [(lambda: sg.tensor(f) & sg.tensor(f), lambda: torch.tensor(f) &
                          torch.tensor(f)),
                         (lambda: sg.tensor([1, 2]) | 1.5, lambda: torch.tensor([1, 2]) | 1.5),
                         (lambda: sg.bitwise_not(sg.tensor(f)),
                          lambda: torch.bitwise_not(torch.tensor(f)))]:
        with pytest.raises(NotImplementedError):
            theirs()
        with pytest.raises(NotImplementedError, match="integer or bool"):
            ours()
    with pytest.raises(TypeError):
        ~torch.tensor(f)
    with pytest.raises(TypeError, match="integer and Boolean"):
        ~sg.tensor(f)


def test_rounding_twice_differentiable_as_torch(torch):
    v = np.array([0.3, -1.7, 2.2])
    x = sg.tensor(v, requires_grad=True)
    tx = torch.tensor(v, requires_grad=True)
    y = (sg.frac(x) ** 3 + sg.floor(x) * x * x).sum()
    ty = (torch.frac(tx) ** 3 + torch.floor(tx) * tx * tx).sum()
    (g,) = sg.autograd.grad(y, [x], create_graph=True)
    (tg,) = torch.autograd.grad(ty, [tx], create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy(), rtol=1e-12)
    g.sum().backward()
    tg.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


# ----------------------------------------------------------------------------- torch-free
def test_values_against_numpy():
    v = np.array(EDGES)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(sg.floor(sg.tensor(v)).numpy(), np.floor(v))
        np.testing.assert_array_equal(sg.ceil(sg.tensor(v)).numpy(), np.ceil(v))
        np.testing.assert_array_equal(sg.trunc(sg.tensor(v)).numpy(), np.trunc(v))
        np.testing.assert_array_equal(sg.round(sg.tensor(v)).numpy(), np.round(v))
        np.testing.assert_array_equal(sg.frac(sg.tensor(v)).numpy(), v - np.trunc(v))
    np.testing.assert_array_equal(sg.round(sg.tensor([0.5, 1.5, 2.5, -0.5, -1.5])).numpy(),
                                  [0.0, 2.0, 2.0, -0.0, -2.0])
    assert sg.isfinite(sg.tensor(SPECIALS)).numpy().tolist() == [True] * 4 + [False] * 3
    assert (sg.tensor([12, -1]) ^ sg.tensor([10, 5])).numpy().tolist() == [6, -6]


def test_exact_forms_against_hand_written_sympy():
    x = sg.tensor([1.25, -2.5], requires_grad=True, name="x")
    t, s = sg.symbol("t"), sympy.Symbol("t")
    assert sg.diff(sg.frac(t) * 3, t) == 3
    assert sg.diff(sg.floor(t) * sg.sin(t), t) == sympy.floor(s) * sympy.cos(s)
    assert sg.diff(sg.trunc(t) * t, t) == sympy.Piecewise((sympy.floor(s), s >= 0),
                                                         (sympy.ceiling(s), True))
    assert list(sg.gradient(sg.round(x, decimals=1).sum(), [x])[0]) == [0, 0]
    assert sg.hessian(sg.frac(t) ** 2, [t]) == sympy.Matrix([[2]])
    assert sg.to_sympy(sg.ceil(t)) == sympy.ceiling(s)


@pytest.mark.parametrize("decimals", [0, 1, -1])
def test_round_form_is_half_to_even_at_exact_ties(decimals):
    scale = sympy.Integer(10) ** decimals
    for k in range(-4, 5):
        tie = (sympy.Integer(k) + sympy.Rational(1, 2)) / scale
        want = (k if k % 2 == 0 else k + 1) / scale
        assert lower_sympy._round(tie, decimals) == want
        assert lower_sympy._round(tie + sympy.Rational(1, 10 ** 6) / scale, decimals) == \
            (k + 1) / scale


def test_logical_and_bitwise_forms_are_integer_arithmetic():
    f = lower_sympy.SCALAR_FORMS
    vals = [-9, -1, 0, 1, 6, 12, 255]
    for a in vals:
        assert f[Op.BITWISE_NOT](sympy.Integer(a)) == ~a
        assert f[Op.LOGICAL_NOT](sympy.Integer(a)) == int(not a)
        for b in vals:
            A, B = sympy.Integer(a), sympy.Integer(b)
            assert (f[Op.BITWISE_AND](A, B), f[Op.BITWISE_OR](A, B),
                    f[Op.BITWISE_XOR](A, B)) == (a & b, a | b, a ^ b)
            assert (f[Op.LOGICAL_AND](A, B), f[Op.LOGICAL_OR](A, B),
                    f[Op.LOGICAL_XOR](A, B)) == (int(bool(a) and bool(b)),
                                                 int(bool(a) or bool(b)), int(bool(a) != bool(b)))
    assert [f[Op.ISNAN](e) + 2 * f[Op.ISINF](e) for e in (sympy.nan, sympy.oo, -sympy.oo,
                                                          sympy.Integer(3))] == [1, 2, 2, 0]


def test_finite_differences_agree_with_backward_away_from_jumps():
    v = np.array([0.3, -1.7, 2.2, 0.05])

    def f(a):
        t = sg.tensor(a)
        return float((sg.frac(t) * sg.ceil(t) + sg.round(t * 2, decimals=1) * t).sum())

    x = sg.tensor(v, requires_grad=True)
    (sg.frac(x) * sg.ceil(x) + sg.round(x * 2, decimals=1) * x).sum().backward()
    h = 1e-6
    fd = [(f(v + h * e) - f(v - h * e)) / (2 * h) for e in np.eye(len(v))]
    np.testing.assert_allclose(x.grad.numpy(), fd, rtol=1e-6, atol=1e-8)


def test_verify_checks_values_and_flags_a_wrong_kernel_or_form(monkeypatch):
    assert check_values(Op.ROUND, 0, n_points=3).passed
    monkeypatch.setitem(FORWARD, Op.ROUND, lambda x, decimals=0: np.floor(x + 0.5))  # half up
    r = check_values(Op.ROUND, 0, n_points=20)
    assert not r.passed and "numeric" in r.failures[0]
    monkeypatch.undo()
    monkeypatch.setitem(lower_sympy.TO_SYMPY, Op.BITWISE_XOR,
                        lower_sympy._elementwise(lambda x, y: x + y - lower_sympy.BitAnd(x, y)))
    assert not check_values(Op.BITWISE_XOR, 0, n_points=3).passed


def test_symbolic_tensors_and_errors():
    x = sg.symbol("x", shape=(2,))
    assert sg.isnan(x).dtype == np.dtype(bool) and not sg.isnan(x).requires_grad
    assert sg.floor(x).shape == (2,)
    with pytest.raises(NotImplementedError):
        sg.bitwise_and(x, x)
    with pytest.raises(TypeError, match="decimals"):
        sg.round(sg.tensor([1.0]), decimals=1.5)
    with pytest.raises(sg.ShapeError if hasattr(sg, "ShapeError") else RuntimeError):
        sg.tensor([1, 2]) & sg.tensor([1, 2, 3])


def test_verify_checks_gradients_through_masks_and_rounding():
    import verify

    x = sg.symbol("x", shape=(3, 4))
    f = (sg.where(sg.isnan(x), 0.0, sg.sin(x)) + sg.where(sg.logical_not(x), 1.0, x)
         + sg.frac(x) * sg.floor(x * 2)).sum()
    r = verify.check(f, [x], n_points=3)
    assert r.passed and r.points_used == 3, str(r)
