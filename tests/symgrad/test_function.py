"""sg.autograd.Function: PyTorch's class form of user-defined ops (issue 5, item 3)."""
from __future__ import annotations

import numpy as np
import pytest
import sympy

import symgrad as sg
import verify
from symgrad.errors import GradientError, ShapeError


class MyTanh(sg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * (1 - y ** 2)

    @staticmethod
    def sympy(x):
        return sympy.tanh(x)


class WrongTanh(MyTanh):
    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * (1 - y)


class OffTanh(MyTanh):
    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * (1 - y ** 2) * 1.0001


class NoFormTanh(sg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * (1 - y ** 2)


class MulScale(sg.autograd.Function):
    """x * y * alpha: two tensor inputs and a Python number; records what it saw."""

    seen: list = []

    @staticmethod
    def forward(ctx, x, y, alpha):
        ctx.save_for_backward(x, y)
        ctx.alpha = alpha
        MulScale.seen.append(ctx.needs_input_grad)
        return x * y * alpha

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved_tensors
        gx = grad_output * y * ctx.alpha if ctx.needs_input_grad[0] else None
        gy = grad_output * x * ctx.alpha if ctx.needs_input_grad[1] else None
        return gx, gy, None

    @staticmethod
    def sympy(x, y, alpha):
        return x * y * alpha


def fd(f, x, h=1e-6):
    """Central differences of scalar f at array x."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


# ------------------------------------------------------------------ values and gradients
def test_tanh_values_and_gradient_match_numpy_and_finite_differences():
    v = np.array([-1.2, 0.0, 0.4, 2.0])
    x = sg.tensor(v, requires_grad=True)
    y = MyTanh.apply(x)
    assert isinstance(y, sg.Tensor) and y.requires_grad
    np.testing.assert_allclose(y.detach().numpy(), np.tanh(v), rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 1 - np.tanh(v) ** 2, rtol=1e-14)
    np.testing.assert_allclose(x.grad.numpy(), fd(lambda a: np.tanh(a).sum(), v), rtol=1e-8)


def test_two_tensor_inputs_broadcast_and_a_number_passes_through():
    a, b = np.array([[0.5], [-1.5], [2.0]]), np.array([1.0, -2.0, 0.25, 3.0])
    x = sg.tensor(a, requires_grad=True)
    y = sg.tensor(b, requires_grad=True)
    z = MulScale.apply(x, y, 2.5)
    np.testing.assert_allclose(z.detach().numpy(), a * b * 2.5)
    (z * z).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), fd(lambda t: ((t * b * 2.5) ** 2).sum(), a),
                               rtol=1e-7)
    np.testing.assert_allclose(y.grad.numpy(), fd(lambda t: ((a * t * 2.5) ** 2).sum(), b),
                               rtol=1e-7)
    assert x.grad.shape == (3, 1) and y.grad.shape == (4,)


def test_needs_input_grad_one_bool_per_forward_argument():
    MulScale.seen.clear()
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    y = sg.tensor([3.0, 4.0])
    MulScale.apply(x, y, 2.0).sum().backward()
    assert MulScale.seen == [(True, False, False)]
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 8.0])
    assert y.grad is None


def test_saved_tensors_and_ctx_attributes():
    seen = {}

    class Cube(sg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x, None)
            ctx.power = 3
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            x, nothing = ctx.saved_tensors
            seen["saved"] = (x.copy(), nothing, ctx.power, type(ctx.saved_tensors))
            return g * ctx.power * x ** 2

    x = sg.tensor([2.0, -1.0], requires_grad=True)
    Cube.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [12.0, 3.0])
    saved, nothing, power, kind = seen["saved"]
    np.testing.assert_array_equal(saved, [2.0, -1.0])
    assert nothing is None and power == 3 and kind is tuple


def test_each_call_has_its_own_ctx():
    a = sg.tensor([0.3, -0.8], requires_grad=True)
    b = sg.tensor([1.7, 0.1], requires_grad=True)
    ya, yb = MyTanh.apply(a), MyTanh.apply(b)
    nested = MyTanh.apply(ya)
    (ya * 2 + yb + nested).sum().backward()
    ta, tb = np.tanh(a.detach().numpy()), np.tanh(b.detach().numpy())
    np.testing.assert_allclose(a.grad.numpy(), (2 + (1 - np.tanh(ta) ** 2)) * (1 - ta ** 2))
    np.testing.assert_allclose(b.grad.numpy(), 1 - tb ** 2)


def test_backward_runs_once_per_pass_for_all_inputs_and_again_on_a_retained_graph():
    calls = []

    class Mul(sg.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x, y)
            return x * y

        @staticmethod
        def backward(ctx, g):
            calls.append(1)
            x, y = ctx.saved_tensors
            return g * y, g * x

    x = sg.tensor(3.0, requires_grad=True)
    z = Mul.apply(x, x)            # the same tensor twice: d(x*x)/dx = 2x
    z.backward(retain_graph=True)
    assert x.grad.item() == 6.0 and len(calls) == 1
    z.backward()                   # same (cached) unit cotangent, a new pass
    assert x.grad.item() == 12.0 and len(calls) == 2


def test_grad_fn_is_named_after_the_class():
    x = sg.tensor([0.5], requires_grad=True)
    y = MyTanh.apply(x)
    assert type(y.grad_fn).__name__ == "MyTanhBackward"
    assert y.grad_fn.name() == "MyTanhBackward"
    assert repr(y.grad_fn).startswith("<MyTanhBackward")
    assert type(y.grad_fn.next_functions[0][0]).__name__ == "AccumulateGrad"
    assert "grad_fn=<MyTanhBackward>" in repr(y)


def test_float32_and_no_grad_and_plain_numpy_arguments():
    x = sg.tensor([0.25, 0.5], dtype=sg.float32, requires_grad=True)
    y = MyTanh.apply(x)
    assert y.dtype == sg.float32
    y.sum().backward()
    assert x.grad.dtype == sg.float32
    with sg.no_grad():
        assert not MyTanh.apply(x).requires_grad
    out = MyTanh.apply(np.array([0.5]))          # no tensor: forward on numpy, a numpy result
    assert isinstance(out, np.ndarray) and np.isclose(out[0], np.tanh(0.5))


def test_pytorch2_setup_context_form():
    class Sq(sg.autograd.Function):
        @staticmethod
        def forward(x):
            return x * x

        @staticmethod
        def setup_context(ctx, inputs, output):
            (x,) = inputs
            ctx.save_for_backward(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * g * x

    x = sg.tensor([1.5, -2.0], requires_grad=True)
    Sq.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, -4.0])


def test_gradient_returned_as_is_is_not_read_only():
    class Identity(sg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.copy()

        @staticmethod
        def backward(ctx, g):
            return g

    x = sg.tensor([1.0, 2.0], requires_grad=True)
    Identity.apply(x).sum().backward()
    assert x.grad.numpy().flags.writeable
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


# ------------------------------------------------------------------ verify
def test_verify_check_catches_the_wrong_tanh_backward():
    assert verify.check(lambda t: MyTanh.apply(t), (3,)).passed
    r = verify.check(lambda t: WrongTanh.apply(t), (3,))
    assert not r.passed and r.inputs[0].mismatches > 0


def test_verify_check_catches_a_backward_off_by_1_0001_that_gradcheck_fd_passes():
    assert not verify.check(lambda t: OffTanh.apply(t), (3,)).passed
    x = sg.tensor([0.3, -0.4, 0.9], requires_grad=True)
    assert verify.gradcheck(lambda t: OffTanh.apply(t), (x,), exact=False)
    with pytest.raises(verify.GradientMismatchError):
        verify.gradcheck(lambda t: OffTanh.apply(t), (x,))   # exact by default: has sympy


def test_verify_check_on_symbols_and_with_a_number_argument():
    x = sg.symbol("x", shape=(3,))
    assert verify.check(MyTanh.apply(x).sum(), x, n_points=5).passed
    assert verify.check(lambda a, b: MulScale.apply(a, b, 0.5), [(2, 1), (3,)],
                        n_points=5).passed


# ------------------------------------------------------------------ closed forms
def test_closed_form_from_the_sympy_staticmethod():
    x = sg.symbol("x")
    d = sg.diff(MyTanh.apply(x), x)
    assert sympy.simplify(d - (1 - sympy.tanh(sympy.Symbol("x")) ** 2)) == 0
    assert sg.diff(MyTanh.apply(x), x, simplify=False) == 1 - sympy.tanh(sympy.Symbol("x")) ** 2


def test_closed_form_makes_number_arguments_exact():
    x, y = sg.symbol("x"), sg.symbol("y")
    assert sg.diff(MulScale.apply(x, y, 0.5), x) == sympy.Symbol("y") / 2


def test_missing_sympy_works_numerically_and_names_the_method_in_closed_forms():
    x = sg.tensor([0.5], requires_grad=True)
    NoFormTanh.apply(x).sum().backward()
    assert np.isclose(x.grad.item(), 1 - np.tanh(0.5) ** 2)
    assert verify.gradcheck(lambda t: NoFormTanh.apply(t), (sg.tensor([0.2, 0.7],
                                                                       requires_grad=True),))
    s = sg.symbol("s")
    for attempt in (lambda: sg.diff(NoFormTanh.apply(s), s),
                    lambda: sg.to_sympy(NoFormTanh.apply(s)),
                    lambda: verify.check(lambda t: NoFormTanh.apply(t), (2,))):
        with pytest.raises(ValueError, match=r"NoFormTanh.*`sympy` staticmethod"):
            attempt()


# ------------------------------------------------------------------ misuse
def test_wrong_number_of_gradients():
    class Two(MulScale):
        @staticmethod
        def backward(ctx, g):
            return g

    x = sg.tensor([1.0], requires_grad=True)
    with pytest.raises(GradientError, match=r"Two.backward returned 1 gradient\(s\).*3 input"):
        Two.apply(x, x, 1.0).sum().backward()
    assert x.grad is None


def test_gradient_for_a_non_tensor_argument():
    class Greedy(MulScale):
        @staticmethod
        def backward(ctx, g):
            return g, g, g

    x = sg.tensor([1.0], requires_grad=True)
    with pytest.raises(GradientError, match="input 2, which is not a tensor"):
        Greedy.apply(x, x, 1.0).sum().backward()


def test_gradient_of_the_wrong_shape():
    class Bad(sg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return np.ones(5)

    x = sg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ShapeError, match=r"got shape \(5,\).*\(2,\)"):
        Bad.apply(x).sum().backward()


def test_forward_cannot_change_its_input_in_place():
    class Sneaky(sg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x += 1
            return x

    x = sg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="read-only"):
        Sneaky.apply(x)
    assert x.item() == 1.0


def test_forward_with_two_outputs_is_refused():
    class Pair(sg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x, x

    with pytest.raises(TypeError, match="one output"):
        Pair.apply(sg.tensor([1.0], requires_grad=True))


def test_create_graph_through_a_function_raises_clearly():
    x = sg.tensor([0.5], requires_grad=True)
    with pytest.raises(GradientError, match="create_graph=True.*MyTanh"):
        sg.autograd.grad(MyTanh.apply(x).sum(), [x], create_graph=True)


def test_base_class_and_missing_methods():
    with pytest.raises(TypeError, match="subclass"):
        sg.autograd.Function.apply(sg.tensor([1.0]))

    class NoBackward(sg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

    x = sg.tensor([1.0], requires_grad=True)
    with pytest.raises(NotImplementedError, match="backward"):
        NoBackward.apply(x).sum().backward()
