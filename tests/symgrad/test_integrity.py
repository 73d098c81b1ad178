"""Issue 13, integrity rules: indices, the version counter, ``.grad`` assignment, and
errors as PyTorch users expect (ragged lists, empty reductions, ``no_grad`` on
generators, numpy scalars).  Each test starts from the issue's failing case."""
import re

import numpy as np
import pytest

import symgrad as sg

F = sg.nn.functional


# ----------------------------------------------------------------------------- indices
def test_cross_entropy_target_out_of_range_is_index_error():
    # the issue's case: loss 0 and gradient 0 for that row instead of an error
    x = sg.tensor([[1.0, 2.0]], requires_grad=True)
    with pytest.raises(IndexError, match=r"Target 5 is out of bounds.*\[0, 2\)"):
        sg.nn.CrossEntropyLoss()(x, sg.tensor([5]))
    with pytest.raises(IndexError, match=r"Target -1 is out of bounds"):
        F.nll_loss(x, sg.tensor([-1]))
    with pytest.raises(IndexError, match=r"Target 7 is out of bounds"):
        F.cross_entropy(sg.zeros(1, 2, 3), sg.tensor([[0, 1, 7]]))
    assert x.grad is None


def test_ignore_index_still_skips_its_rows():
    x = sg.tensor([[1.0, 2.0], [1.0, 3.0]], requires_grad=True)
    loss = F.cross_entropy(x, sg.tensor([-100, 1]))
    assert loss.item() == pytest.approx(np.log1p(np.exp(-2.0)))
    loss.backward()
    assert x.grad.tolist()[0] == [0.0, 0.0]
    assert F.cross_entropy(x, sg.tensor([5, 1]), ignore_index=5).item() == \
        pytest.approx(np.log1p(np.exp(-2.0)))


@pytest.mark.parametrize("index, message", [
    (5, r"index 5 is out of bounds for dimension 0 with size 3 \(valid indices: \[-3, 2\]\)"),
    (-4, r"index -4 is out of bounds for dimension 0 with size 3"),
    ([0, 5], r"index 5 is out of bounds for dimension 0 with size 3"),
    ((slice(None), 4), r"index 4 is out of bounds for dimension 1 with size 2 "
                       r"\(valid indices: \[-2, 1\]\)"),
    ((Ellipsis, [-3]), r"index -3 is out of bounds for dimension 1 with size 2"),
    ((0, 0, 0), r"too many indices for tensor of dimension 2"),
])
def test_getitem_out_of_range_names_dimension_and_range(index, message):
    # before: numpy's "for axis 0", no valid range (or numpy's own wording)
    x = sg.zeros(3, 2)
    with pytest.raises(IndexError, match=message):
        x[index]


def test_getitem_tensor_index_and_mask_are_checked():
    x = sg.arange(6.0).reshape(3, 2)
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0"):
        x[sg.tensor([0, 3])]
    with pytest.raises(IndexError, match=r"The shape of the mask \[2\] at index 0 does not "
                                         r"match the shape of the indexed tensor \[3, 2\]"):
        x[sg.tensor([True, False])]
    assert x[-1, [0, -1]].tolist() == [4.0, 5.0]            # valid ones still work
    assert x[:, sg.tensor([], dtype=sg.int64)].shape == (3, 0)
    with pytest.raises(IndexError, match=r"with size 0 \(valid indices: none"):
        sg.zeros(0)[0]
    assert x[x > 3].tolist() == [4.0, 5.0]


def test_index_select_is_index_error_gather_scatter_runtime_error():
    x = sg.arange(6.0).reshape(2, 3)
    with pytest.raises(IndexError, match=r"index 3 is out of bounds for dimension 1 with "
                                         r"size 3 \(valid indices: \[0, 2\]\)"):
        sg.index_select(x, 1, sg.tensor([0, 3]))
    with pytest.raises(IndexError, match="index -1 is out of bounds"):
        sg.index_select(x, 0, sg.tensor([-1]))
    with pytest.raises(RuntimeError, match="index 3 is out of bounds for dimension 1"):
        sg.gather(x, 1, sg.tensor([[3]]))
    with pytest.raises(RuntimeError, match="index 2 is out of bounds for dimension 0"):
        sg.scatter(sg.zeros(2), 0, sg.tensor([2]), sg.tensor([1.0]))
    with pytest.raises(IndexError, match="index 6 on a tensor of 6 elements"):
        sg.take(x, sg.tensor([6]))
    with pytest.raises(IndexError, match=r"embedding index 3 is not in \[0, 2\]"):
        F.embedding(sg.tensor([3]), sg.zeros(3, 2))
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(sg.tensor([3]), 3)


def test_masked_select_shape_mismatch_is_not_a_raw_numpy_error():
    with pytest.raises(RuntimeError, match=r"shapes \(2, 3\) and \(2,\) do not broadcast"):
        sg.masked_select(sg.zeros(2, 3), sg.tensor([True, False]))


# ----------------------------------------------------------------------------- versions
def _issue_model():
    m = sg.nn.Linear(1, 1, bias=False)
    m.load_state_dict({"weight": np.array([[3.0]])})
    return m


def test_load_state_dict_between_forward_and_backward_raises():
    # the issue's case: backward used the new weight, grad 200 instead of 6
    m = _issue_model()
    loss = (m(sg.tensor([[1.0]])) ** 2).sum()
    m.load_state_dict({"weight": np.array([[100.0]])})
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation: .* is at "
                                           r"version 2; expected version 1 instead"):
        loss.backward()
    assert m.weight.grad is None
    m = _issue_model()                          # without the reload: the right gradient
    (m(sg.tensor([[1.0]])) ** 2).sum().backward()
    assert m.weight.grad.tolist() == [[6.0]]


@pytest.mark.parametrize("method, args, after", [
    ("copy_", (sg.tensor([2.0, 5.0]),), [2.0, 5.0]),
    ("copy_", (7.0,), [7.0, 7.0]),
    ("fill_", (2.0,), [2.0, 2.0]),
    ("fill_", (sg.tensor(4.0),), [4.0, 4.0]),
    ("zero_", (), [0.0, 0.0]),
    ("add_", (1.0,), [4.0, 5.0]),
    ("add_", (sg.tensor([1.0, 2.0]),), [4.0, 6.0]),
    ("sub_", (1.0,), [2.0, 3.0]),
    ("mul_", (2.0,), [6.0, 8.0]),
    ("div_", (2.0,), [1.5, 2.0]),
    ("clamp_", (0.0, 3.5), [3.0, 3.5]),
])
def test_each_in_place_method_bumps_the_version(method, args, after):
    w = sg.tensor([3.0, 4.0], requires_grad=True)
    y = (w * w).sum()
    with sg.no_grad():
        out = getattr(w, method)(*args)
    assert out is w and w.tolist() == after and w._version == 1
    with pytest.raises(RuntimeError, match="is at version 1; expected version 0 instead"):
        y.backward()


def test_add_alpha_and_iadd_under_no_grad():
    w = sg.tensor([1.0, 2.0])
    w.add_(sg.tensor([1.0, 1.0]), alpha=3).sub_(1, alpha=0.5)
    assert w.tolist() == [3.5, 4.5] and w._version == 2
    w += 1
    assert w.tolist() == [4.5, 5.5] and w._version == 3


def test_optimizer_step_bumps_the_version():
    w = sg.tensor([1.0], requires_grad=True)
    opt = sg.optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    y = (w * 3).sum()
    opt.step()
    assert w._version == 1
    with pytest.raises(RuntimeError, match="is at version 1; expected version 0"):
        y.backward()


def test_refused_in_place_changes_nothing():
    w = sg.tensor([1.0, 2.0], requires_grad=True)
    for change in (lambda: w.add_(1.0), lambda: w.zero_(), lambda: w.copy_(sg.ones(2))):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            change()
    with pytest.raises(RuntimeError, match="computed tensor that requires grad"):
        (w * 2).mul_(2.0)
    i = sg.tensor([1, 2])
    with pytest.raises(RuntimeError, match="result type float64 can't be cast to the desired "
                                           "output type int64"):
        i.add_(0.5)
    z = sg.zeros(2, 3)
    with pytest.raises(RuntimeError, match=r"shape \[3, 3\] does not broadcast to the shape "
                                           r"\[2, 3\]"):
        z.add_(sg.ones(3, 3))
    with pytest.raises(RuntimeError, match=r"copy_\(\): the source of shape \[2\]"):
        z.copy_(sg.ones(2))
    with pytest.raises(RuntimeError, match="fill_ only supports 0-dimension value tensor"):
        z.fill_(sg.ones(1))
    assert w.tolist() == [1.0, 2.0] and i.tolist() == [1, 2] and z.tolist() == [[0.0] * 3] * 2
    assert (w._version, i._version, z._version) == (0, 0, 0)


# ----------------------------------------------------------------------------- .grad
def test_grad_assignment_checks_type_shape_dtype():
    p = sg.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"assigned grad has data of a different size: .*"
                                           r"size \[1\] to a tensor of size \[3\]"):
        p.grad = sg.ones(1)                 # the issue's case: broadcast silently before
    with pytest.raises(RuntimeError, match="assigned grad has data of a different type: .*"
                                           "float32 to a tensor with dtype float64"):
        p.grad = sg.ones(3, dtype=sg.float32)
    with pytest.raises(TypeError, match="assigned grad expected to be a Tensor or None but "
                                        "got grad of type list"):
        p.grad = [1.0, 2.0, 3.0]
    with pytest.raises(TypeError, match="got grad of type numpy.ndarray"):
        p.grad = np.ones(3)
    assert p.grad is None
    p.grad = sg.ones(3)
    assert p.grad.tolist() == [1.0, 1.0, 1.0]
    p.grad = None
    assert p.grad is None


def test_backward_and_optimizers_still_set_grads():
    m = sg.nn.Linear(2, 1)
    opt = sg.optim.Adam(m.parameters(), lr=0.1)
    (m(sg.ones(4, 2)) ** 2).mean().backward()
    assert m.weight.grad.shape == (1, 2) and m.bias.grad.shape == (1,)
    opt.step()
    opt.zero_grad(set_to_none=False)
    assert m.weight.grad.tolist() == [[0.0, 0.0]]


# ----------------------------------------------------------------------------- Deliver 7
@pytest.mark.parametrize("data, error, message", [
    ([[1, 2], [1, 2, 3]], ValueError, r"expected sequence of length 2 at dim 1 \(got 3\)"),
    ([[[1, 2]], [[1]]], ValueError, r"expected sequence of length 2 at dim 2 \(got 1\)"),
    ([[1.0, 2.0], 3.0], TypeError, r"expected a sequence of length 2 at dim 1"),
    ([1.0, [2.0, 3.0]], TypeError, r"expected a number at dim 1"),
])
def test_ragged_lists(data, error, message):
    # before: numpy's "setting an array element with a sequence ... inhomogeneous"
    with pytest.raises(error, match=message):
        sg.tensor(data)
    with pytest.raises(error, match=message):
        sg.tensor(data, dtype=sg.float32)


@pytest.mark.parametrize("name", ["max", "min", "amax", "amin"])
def test_empty_reductions_without_identity(name):
    # before: numpy's "zero-size array to reduction operation maximum which has no identity"
    with pytest.raises(RuntimeError, match=re.escape(
            f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
            "Specify the reduction dim with the 'dim' argument.")):
        getattr(sg.tensor([]), name)()
    with pytest.raises(IndexError, match=re.escape(
            f"{name}(): Expected reduction dim 0 to have non-zero size.")):
        getattr(sg.zeros(0, 3), name)(dim=0)
    out = getattr(sg.zeros(0, 3), name)(dim=1)
    assert (out[0] if isinstance(out, tuple) else out).shape == (0,)


def test_empty_argmax_sum_mean_median():
    with pytest.raises(IndexError, match=r"argmax\(\): Expected reduction dim to be specified"):
        sg.tensor([]).argmax()
    with pytest.raises(IndexError, match=r"argmin\(\): Expected reduction dim 0"):
        sg.zeros(0, 2).argmin(0)
    with np.errstate(all="raise"):              # no numpy warning on the way
        x = sg.tensor([], requires_grad=True)
        assert sg.tensor([]).sum().item() == 0.0
        mean = x.mean()
        assert np.isnan(mean.item())
        mean.backward()
        assert x.grad.shape == (0,)
        assert np.isnan(sg.tensor([]).median().item())
        assert np.isnan(sg.tensor([]).var().item())
        assert sg.zeros(0, 2).mean(0).tolist() == [pytest.approx(np.nan, nan_ok=True)] * 2


def test_no_grad_covers_a_generator_body():
    # the issue's case: the body of a decorated generator recorded a graph
    x = sg.tensor([1.0], requires_grad=True)

    @sg.no_grad()
    def steps(n):
        for _ in range(n):
            got = yield x * 2
            assert got is None or got == "sent"
        return "done"

    gen = steps(2)
    first = next(gen)
    assert not first.requires_grad and sg.is_grad_enabled()    # restored at the yield
    assert not gen.send("sent").requires_grad
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value == "done"

    @sg.enable_grad()
    def recording():
        yield sg.is_grad_enabled()

    with sg.no_grad():
        assert list(recording()) == [True]


def test_no_grad_generator_close_and_throw():
    seen = []

    @sg.no_grad()
    def gen():
        try:
            yield 1
        except ValueError:
            seen.append(sg.is_grad_enabled())
            yield 2
        finally:
            seen.append(("closed", sg.is_grad_enabled()))

    g = gen()
    next(g)
    assert g.throw(ValueError()) == 2
    g.close()
    assert seen == [False, ("closed", False)] and sg.is_grad_enabled()


def test_numpy_scalars_where_python_numbers_go():
    # before: sg.full kept np.float32's dtype (PyTorch: a number, the default dtype),
    # round(decimals=np.int64) and full(np.int64 size) raised
    assert sg.full((2,), np.float32(2)).dtype == sg.float64
    assert sg.full(np.int64(2), 1.5).tolist() == [1.5, 1.5]
    assert sg.full((2,), np.int64(2)).dtype == sg.int64
    assert sg.round(sg.tensor([1.25]), decimals=np.int64(1)).tolist() == [1.2]
    assert sg.symbol("X", shape=(np.int64(2), "n")).shape == (2, "n")
    x = sg.tensor([-1.0, 2.0, 3.0])
    assert x.clamp(min=np.float64(0), max=np.float32(2.5)).tolist() == [0.0, 2.0, 2.5]
    assert (x ** np.int64(2)).tolist() == [1.0, 4.0, 9.0]
    assert sg.softmax(x, dim=np.int64(0)).shape == (3,)
    assert x.sum(dim=np.int64(0)).item() == 4.0
    assert sg.zeros(2).fill_(np.float32(2)).add_(np.float32(1), alpha=np.int64(2)).tolist() \
        == [4.0, 4.0]


# ----------------------------------------------------------------------------- torch
def _error(fn):
    try:
        fn()
    except Exception as exc:        # noqa: BLE001 - comparing what each library raises
        return type(exc)
    return None


@pytest.mark.parametrize("case", [
    lambda m: m.tensor([[1, 2], [1, 2, 3]]),
    lambda m: m.tensor([]).max(),
    lambda m: m.tensor([]).argmax(),
    lambda m: m.zeros(0, 3).amax(dim=0),
    lambda m: m.zeros(3)[5],
    lambda m: m.zeros(3, 2)[:, [0, 2]],
    lambda m: m.index_select(m.zeros(2), 0, m.tensor([2])),
    lambda m: m.gather(m.zeros(1, 2), 1, m.tensor([[2]])),
    lambda m: m.nn.functional.cross_entropy(m.zeros(1, 2), m.tensor([5])),
    lambda m: setattr(m.zeros(3, requires_grad=True), "grad", m.zeros(1)),
    lambda m: setattr(m.zeros(3, requires_grad=True), "grad", [1.0]),
    lambda m: m.zeros(3, requires_grad=True).add_(1.0),
    lambda m: m.zeros(2, dtype=m.int64).add_(0.5),
])
def test_same_exception_type_as_torch(case):
    torch = pytest.importorskip("torch")
    expected = _error(lambda: case(torch))
    assert expected is not None
    assert issubclass(_error(lambda: case(sg)), expected)


def test_version_error_matches_torch():
    torch = pytest.importorskip("torch")
    messages = []
    for m in (torch, sg):
        w = m.tensor([3.0], requires_grad=True)
        y = (w * w).sum()
        with m.no_grad():
            w.add_(1.0)
            w.mul_(2.0)
        with pytest.raises(RuntimeError) as err:
            y.backward()
        messages.append(re.search(r"is at version \d+; expected version \d+ instead",
                                  str(err.value)).group())
    assert messages[0] == messages[1] == "is at version 2; expected version 0 instead"
