"""Misuse raises a clear, standard error and leaves every tensor and .grad unchanged."""
import numpy as np
import pytest

import symgrad as sg


def _snapshot(*ts):
    return [(t.value.copy(), None if t.grad is None else t.grad.value.copy()) for t in ts]


def _same(before, ts):
    for (v, g), t in zip(before, ts):
        assert np.array_equal(v, t.value)
        assert (g is None and t.grad is None) or np.array_equal(g, t.grad.value)


def test_backward_non_scalar_needs_gradient():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    before = _snapshot(x)
    y = x * 3
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar "
                                           "outputs.*gradient=.*sum\\(\\) first"):
        y.backward()
    _same(before, [x])
    y.backward(gradient=sg.ones(2))          # the graph is still usable
    assert x.grad.tolist() == [5.0, 5.0]


def test_second_backward_suggests_retain_graph():
    x = sg.tensor([1.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    before = _snapshot(x)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()
    _same(before, [x])


def test_backward_through_freed_intermediate():
    x = sg.tensor([1.0], requires_grad=True)
    h = x * 2
    h.sum().backward()
    before = _snapshot(x)
    with pytest.raises(sg.GraphFreedError, match="retain_graph=True"):
        (h * 3).sum().backward()
    _same(before, [x])


def test_backward_without_requires_grad():
    x = sg.tensor([1.0])
    with pytest.raises(RuntimeError, match="does not require grad.*requires_grad=True"):
        (x * 2).sum().backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        with sg.no_grad():
            y = (sg.tensor([1.0], requires_grad=True) * 2).sum()
        y.backward()


@pytest.mark.parametrize("data", [[1, 2], [True, False]])
def test_requires_grad_on_integer_or_bool(data):
    with pytest.raises(RuntimeError, match="only floating point tensors can require gradients"):
        sg.tensor(data, requires_grad=True)
    t = sg.tensor(data)
    with pytest.raises(TypeError, match="floating point"):
        t.requires_grad_()
    with pytest.raises(TypeError):
        t.requires_grad = True
    assert not t.requires_grad and t.tolist() == data


def test_shapes_that_do_not_broadcast_name_both():
    a = sg.tensor(np.ones((2, 3)), requires_grad=True)
    b = sg.tensor(np.ones(4))
    before = _snapshot(a, b)
    with pytest.raises(ValueError, match=r"shapes \(2, 3\) and \(4,\) do not broadcast") as e:
        a + b
    assert isinstance(e.value, sg.ShapeError)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        sg.where(sg.tensor([True, False, True]).reshape(1, 3), a, b)
    _same(before, [a, b])


def test_matmul_inner_dims_name_both_shapes():
    a, b = sg.ones(2, 3), sg.ones(4, 5)
    with pytest.raises(ValueError, match=r"inner dimensions differ: \(2, 3\) @ \(4, 5\)"):
        a @ b
    with pytest.raises(ValueError, match=r"\(3,\) @ \(4,\)"):
        sg.matmul(sg.ones(3), sg.ones(4))


def test_reshape_and_dim_errors():
    t = sg.ones(2, 3)
    with pytest.raises(ValueError, match=r"cannot reshape .*\(2, 3\).*\(4,\)"):
        t.reshape(4)
    with pytest.raises(IndexError, match="Dimension out of range"):
        t.sum(dim=2)
    with pytest.raises(TypeError, match="item assignment"):
        t[0] = 1.0


def test_optimizer_misuse():
    w = sg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        sg.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        sg.optim.SGD([w * 2], lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        sg.optim.SGD([w], lr=-1.0)
    with pytest.raises(ValueError, match="Nesterov"):
        sg.optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta"):
        sg.optim.Adam([w], betas=(1.0, 0.9))
    assert w.tolist() == [1.0] and w.grad is None


def test_gradient_argument_shape_mismatch():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="Mismatch in shape"):
        (x * 2).backward(gradient=sg.ones(3))
    assert x.grad is None


def test_error_classes_are_standard_types():
    assert issubclass(sg.ShapeError, ValueError) and issubclass(sg.GradientError, RuntimeError)
    assert issubclass(sg.DtypeError, RuntimeError) and issubclass(sg.OptimizerError, ValueError)
    for cls in (sg.ShapeError, sg.GradientError, sg.DtypeError, sg.OptimizerError):
        assert issubclass(cls, sg.SymgradError)
