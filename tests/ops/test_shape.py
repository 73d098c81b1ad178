"""Shape and selection ops (issue 11): flip, roll, pad, repeat(_interleave), tile, split,
chunk, unbind, unflatten, movedim, swapaxes, narrow, unfold, gather, scatter(_add),
index_select, masked_fill/select, take, one_hot, meshgrid, tri*_indices, nonzero, where.

Against PyTorch (values and gradients, float32 and float64, second derivatives through
a nonlinear wrapper) when torch is installed; without it, against numpy values, finite
differences (``verify.gradcheck``), SymPy forms written by hand, and PyTorch's errors.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy

import symgrad as sg
import symgrad.nn.functional as F
import verify

rng = np.random.default_rng(11)
I = sg.tensor  # noqa: E741 - index tensors read as I([...])


def _torch():
    return pytest.importorskip("torch")


def _tt(torch, v):
    """A numpy value as the torch tensor of the same dtype."""
    return torch.tensor(v) if isinstance(v, np.ndarray) else v


# name -> (sg call, torch call, float input shapes, extra args built per library)
# ``extra`` are non-float arguments (indices, masks) given as numpy and converted.
CASES = {
    "flip": (lambda x: sg.flip(x, (0, 2)), lambda t, x: t.flip(x, (0, 2)), [(2, 3, 2)]),
    "flip_method": (lambda x: x.flip(-1), lambda t, x: x.flip(-1), [(2, 3)]),
    "roll": (lambda x: sg.roll(x, (1, -2), (0, 1)), lambda t, x: t.roll(x, (1, -2), (0, 1)),
             [(3, 4)]),
    "roll_flat": (lambda x: x.roll(5), lambda t, x: x.roll(5), [(3, 4)]),
    "pad_constant": (lambda x: F.pad(x, (1, 2, 0, 1), value=0.5),
                     lambda t, x: t.nn.functional.pad(x, (1, 2, 0, 1), value=0.5), [(2, 3)]),
    "pad_crop": (lambda x: F.pad(x, (-1, 1, 2, -1)),
                 lambda t, x: t.nn.functional.pad(x, (-1, 1, 2, -1)), [(3, 4)]),
    "pad_reflect": (lambda x: F.pad(x, (2, 3), mode="reflect"),
                    lambda t, x: t.nn.functional.pad(x, (2, 3), mode="reflect"), [(2, 4)]),
    "pad_reflect_2d": (lambda x: F.pad(x, (1, 2, 2, 1), mode="reflect"),
                       lambda t, x: t.nn.functional.pad(x, (1, 2, 2, 1), mode="reflect"),
                       [(1, 3, 4)]),
    "pad_replicate": (lambda x: F.pad(x, (3, 1, 0, 2), mode="replicate"),
                      lambda t, x: t.nn.functional.pad(x, (3, 1, 0, 2), mode="replicate"),
                      [(2, 2, 3)]),
    "repeat": (lambda x: x.repeat(2, 1, 3), lambda t, x: x.repeat(2, 1, 3), [(2, 3)]),
    "repeat_interleave": (lambda x: sg.repeat_interleave(x, 2, dim=1),
                          lambda t, x: t.repeat_interleave(x, 2, dim=1), [(2, 3)]),
    "repeat_interleave_flat": (lambda x: x.repeat_interleave(3),
                               lambda t, x: x.repeat_interleave(3), [(2, 2)]),
    "repeat_interleave_tensor": (
        lambda x: sg.repeat_interleave(x, I([1, 0, 3]), dim=0),
        lambda t, x: t.repeat_interleave(x, t.tensor([1, 0, 3]), dim=0), [(3, 2)]),
    "tile": (lambda x: sg.tile(x, (2,)), lambda t, x: t.tile(x, (2,)), [(2, 3)]),
    "tile_more": (lambda x: x.tile((3, 1, 2)), lambda t, x: x.tile((3, 1, 2)), [(2, 3)]),
    "unflatten": (lambda x: sg.unflatten(x, 1, (2, -1)), lambda t, x: t.unflatten(x, 1, (2, -1)),
                  [(2, 6)]),
    "movedim": (lambda x: sg.movedim(x, (0, 1), (2, 0)), lambda t, x: t.movedim(x, (0, 1), (2, 0)),
                [(2, 3, 4)]),
    "moveaxis": (lambda x: x.moveaxis(-1, 0), lambda t, x: x.moveaxis(-1, 0), [(2, 3, 4)]),
    "swapaxes": (lambda x: sg.swapaxes(x, 0, 2), lambda t, x: t.swapaxes(x, 0, 2), [(2, 3, 4)]),
    "swapdims": (lambda x: x.swapdims(-1, 0), lambda t, x: x.swapdims(-1, 0), [(2, 3)]),
    "narrow": (lambda x: sg.narrow(x, 1, -3, 2), lambda t, x: t.narrow(x, 1, -3, 2), [(2, 4)]),
    "unfold": (lambda x: x.unfold(1, 2, 2), lambda t, x: x.unfold(1, 2, 2), [(3, 5)]),
    "unfold_dim0": (lambda x: x.unfold(0, 3, 1), lambda t, x: x.unfold(0, 3, 1), [(4, 2)]),
    "gather": (lambda x: sg.gather(x, 1, I([[0, 3, 3], [1, 0, 2]])),
               lambda t, x: t.gather(x, 1, t.tensor([[0, 3, 3], [1, 0, 2]])), [(3, 4)]),
    "gather_dim0": (lambda x: x.gather(-2, I([[2, 2, 0, 1]])),
                    lambda t, x: x.gather(-2, t.tensor([[2, 2, 0, 1]])), [(3, 4)]),
    "scatter": (lambda x, s: sg.scatter(x, 0, I([[0, 2], [1, 0]]), s),
                lambda t, x, s: t.scatter(x, 0, t.tensor([[0, 2], [1, 0]]), s), [(3, 4), (2, 2)]),
    "scatter_value": (lambda x: x.scatter(1, I([[2], [0]]), value=-1.5),
                      lambda t, x: x.scatter(1, t.tensor([[2], [0]]), value=-1.5), [(2, 3)]),
    "scatter_add": (lambda x, s: sg.scatter_add(x, 0, I([[0, 0, 2, 1], [0, 1, 2, 1]]), s),
                    lambda t, x, s: t.scatter_add(x, 0, t.tensor([[0, 0, 2, 1], [0, 1, 2, 1]]), s),
                    [(3, 4), (2, 4)]),
    "index_select": (lambda x: sg.index_select(x, 1, I([3, 0, 3])),
                     lambda t, x: t.index_select(x, 1, t.tensor([3, 0, 3])), [(2, 4)]),
    "take": (lambda x: sg.take(x, I([[0, -1], [5, 5]])),
             lambda t, x: t.take(x, t.tensor([[0, -1], [5, 5]])), [(2, 3)]),
    "masked_fill": (lambda x: sg.masked_fill(x, sg.tensor([True, False, True]), 2.0),
                    lambda t, x: t.masked_fill(x, t.tensor([True, False, True]), 2.0), [(2, 3)]),
    "masked_fill_tensor_value": (
        lambda x, v: x.masked_fill(sg.tensor([[True], [False]]), v.sum()),
        lambda t, x, v: x.masked_fill(t.tensor([[True], [False]]), v.sum()), [(2, 3), (2,)]),
    "masked_select": (lambda x: sg.masked_select(x, sg.tensor([True, False, True])),
                      lambda t, x: t.masked_select(x, t.tensor([True, False, True])), [(2, 3)]),
}
SPLITS = {
    "split": (lambda x: sg.split(x, 2, 1), lambda t, x: t.split(x, 2, 1), (3, 5)),
    "split_sizes": (lambda x: x.split([1, 3, 1], dim=-1), lambda t, x: x.split([1, 3, 1], dim=-1),
                    (3, 5)),
    "chunk": (lambda x: sg.chunk(x, 3, 0), lambda t, x: t.chunk(x, 3, 0), (5, 2)),
    "unbind": (lambda x: sg.unbind(x, 1), lambda t, x: t.unbind(x, 1), (2, 3)),
    "meshgrid_ij": (lambda x: sg.meshgrid(x[0], x[1, :2], indexing="ij"),
                    lambda t, x: t.meshgrid(x[0], x[1, :2], indexing="ij"), (2, 3)),
    "meshgrid_xy": (lambda x: sg.meshgrid(x[0], x[1, :2], x[1], indexing="xy"),
                    lambda t, x: t.meshgrid(x[0], x[1, :2], x[1], indexing="xy"), (2, 3)),
}


def _run_pair(name, dtype):
    """Values and gradients of a CASES entry in symgrad and torch, same inputs and weights."""
    torch = _torch()
    fs, ft, shapes = CASES[name]
    vals = [rng.normal(size=s).astype(dtype) for s in shapes]
    xs = [sg.tensor(v, requires_grad=True) for v in vals]
    ts = [torch.tensor(v, requires_grad=True) for v in vals]
    out, tout = fs(*xs), ft(torch, *ts)
    w = rng.normal(size=tout.shape).astype(dtype)
    (out * sg.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    return out, tout, xs, ts


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_torch(name, dtype):
    out, tout, xs, ts = _run_pair(name, dtype)
    assert out.dtype == dtype and tuple(out.shape) == tuple(tout.shape)
    np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-6, atol=1e-6)
        assert x.grad.dtype == dtype


@pytest.mark.parametrize("name", sorted(SPLITS))
def test_split_family_matches_torch(name):
    torch = _torch()
    fs, ft, shape = SPLITS[name]
    v = rng.normal(size=shape)
    x, t = sg.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
    outs, touts = fs(x), ft(torch, t)
    assert len(outs) == len(touts)
    total, ttotal = 0, 0
    for k, (o, to) in enumerate(zip(outs, touts)):
        np.testing.assert_array_equal(o.detach().numpy(), to.detach().numpy())
        total = total + (o ** 2).sum() * (k + 1)
        ttotal = ttotal + (to ** 2).sum() * (k + 1)
    total.backward()
    ttotal.backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["pad_reflect", "gather", "scatter", "scatter_add", "roll",
                                  "repeat_interleave", "unfold", "masked_fill_tensor_value",
                                  "pad_replicate", "flip"])
def test_second_derivatives_match_torch(name):
    """Through a nonlinear wrapper (the ops are linear): d/dx <v, grad f> with create_graph."""
    torch = _torch()
    fs, ft, shapes = CASES[name]
    vals = [rng.normal(size=s) for s in shapes]
    xs = [sg.tensor(v, requires_grad=True) for v in vals]
    ts = [torch.tensor(v, requires_grad=True) for v in vals]
    ys, tys = (fs(*xs) ** 3).sum(), (ft(torch, *ts) ** 3).sum()
    gs = sg.autograd.grad(ys, xs, create_graph=True)
    tgs = torch.autograd.grad(tys, ts, create_graph=True)
    vs = [rng.normal(size=s) for s in shapes]
    sum(((g * sg.tensor(v)).sum() for g, v in zip(gs, vs)), sg.tensor(0.0)).backward()
    sum((g * torch.tensor(v)).sum() for g, v in zip(tgs, vs)).backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_integer_results_match_torch():
    torch = _torch()
    v = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    np.testing.assert_array_equal(sg.nonzero(sg.tensor(v)).numpy(),
                                  torch.nonzero(torch.tensor(v)).numpy())
    for a, b in zip(sg.nonzero(sg.tensor(v), as_tuple=True),
                    torch.nonzero(torch.tensor(v), as_tuple=True)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(sg.where(sg.tensor(v) > 0), torch.where(torch.tensor(v) > 0)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    c = np.array([[0, 2], [1, 4]])
    np.testing.assert_array_equal(F.one_hot(sg.tensor(c)).numpy(),
                                  torch.nn.functional.one_hot(torch.tensor(c)).numpy())
    np.testing.assert_array_equal(F.one_hot(sg.tensor(c), 6).numpy(),
                                  torch.nn.functional.one_hot(torch.tensor(c), 6).numpy())
    for r, k, off in [(3, 4, 0), (4, 3, 1), (3, 3, -1)]:
        np.testing.assert_array_equal(sg.triu_indices(r, k, off).numpy(),
                                      torch.triu_indices(r, k, off).numpy())
        np.testing.assert_array_equal(sg.tril_indices(r, k, off).numpy(),
                                      torch.tril_indices(r, k, off).numpy())


BAD = [
    ("gather_out_of_range", lambda: sg.gather(sg.zeros(2, 3), 1, I([[3]])),
     lambda t: t.gather(t.zeros(2, 3), 1, t.tensor([[3]])), RuntimeError, "index 3"),
    ("gather_negative", lambda: sg.gather(sg.zeros(2, 3), 1, I([[-1]])),
     lambda t: t.gather(t.zeros(2, 3), 1, t.tensor([[-1]])), RuntimeError, "index -1"),
    ("gather_ndim", lambda: sg.gather(sg.zeros(2, 3), 1, I([1])),
     lambda t: t.gather(t.zeros(2, 3), 1, t.tensor([1])), RuntimeError, "same number"),
    ("gather_float_index", lambda: sg.gather(sg.zeros(2, 3), 1, sg.tensor([[1.0]])),
     lambda t: t.gather(t.zeros(2, 3), 1, t.tensor([[1.0]])), RuntimeError, "int64"),
    ("gather_bad_dim", lambda: sg.gather(sg.zeros(2, 3), 2, I([[1]])),
     lambda t: t.gather(t.zeros(2, 3), 2, t.tensor([[1]])), IndexError, "Dimension out of range"),
    ("scatter_out_of_range", lambda: sg.scatter(sg.zeros(2, 3), 1, I([[3]]), sg.ones(1, 1)),
     lambda t: t.scatter(t.zeros(2, 3), 1, t.tensor([[3]]), t.ones(1, 1)), RuntimeError,
     "index 3"),
    ("scatter_src_small", lambda: sg.scatter(sg.zeros(2, 3), 1, I([[1, 2]]), sg.ones(1, 1)),
     lambda t: t.scatter(t.zeros(2, 3), 1, t.tensor([[1, 2]]), t.ones(1, 1)), RuntimeError,
     "src"),
    ("scatter_dtype", lambda: sg.scatter(sg.zeros(2, 3, dtype=sg.float32), 1, I([[1]]),
                                         sg.ones(1, 1)),
     lambda t: t.scatter(t.zeros(2, 3), 1, t.tensor([[1]]), t.ones(1, 1, dtype=t.float64)),
     RuntimeError, "dtype"),
    ("scatter_add_out_of_range", lambda: sg.scatter_add(sg.zeros(3), 0, I([-4]), sg.ones(1)),
     lambda t: t.scatter_add(t.zeros(3), 0, t.tensor([-4]), t.ones(1)), RuntimeError, "-4"),
    ("index_select_out_of_range", lambda: sg.index_select(sg.zeros(2, 3), 1, I([3])),
     lambda t: t.index_select(t.zeros(2, 3), 1, t.tensor([3])), IndexError, "3"),
    ("index_select_negative", lambda: sg.index_select(sg.zeros(2, 3), 1, I([-1])),
     lambda t: t.index_select(t.zeros(2, 3), 1, t.tensor([-1])), IndexError, "-1"),
    ("index_select_2d", lambda: sg.index_select(sg.zeros(2, 3), 1, I([[1]])),
     lambda t: t.index_select(t.zeros(2, 3), 1, t.tensor([[1]])), IndexError, "vector"),
    ("scatter_src_larger_ok", lambda: sg.scatter(sg.zeros(2, 3), 1, I([[1, 2]]), sg.zeros(2)),
     lambda t: t.scatter(t.zeros(2, 3), 1, t.tensor([[1, 2]]), t.zeros(2)), RuntimeError,
     "same number"),
    ("take_out_of_range", lambda: sg.take(sg.zeros(2, 3), I([6])),
     lambda t: t.take(t.zeros(2, 3), t.tensor([6])), IndexError, "index 6"),
    ("take_negative", lambda: sg.take(sg.zeros(2, 3), I([-7])),
     lambda t: t.take(t.zeros(2, 3), t.tensor([-7])), IndexError, "index -7"),
    ("pad_reflect_too_large", lambda: F.pad(sg.zeros(2, 3), (3, 3), mode="reflect"),
     lambda t: t.nn.functional.pad(t.zeros(2, 3), (3, 3), mode="reflect"), RuntimeError,
     "padding"),
    ("pad_odd", lambda: F.pad(sg.zeros(2, 3), (1, 1, 1)),
     lambda t: t.nn.functional.pad(t.zeros(2, 3), (1, 1, 1)), RuntimeError, "divisible by 2"),
    ("pad_too_long", lambda: F.pad(sg.zeros(2, 3), (1,) * 6),
     lambda t: t.nn.functional.pad(t.zeros(2, 3), (1,) * 6), RuntimeError, "Padding length"),
    ("pad_reflect_value", lambda: F.pad(sg.zeros(2, 3), (1, 1), mode="reflect", value=2.0),
     lambda t: t.nn.functional.pad(t.zeros(2, 3), (1, 1), mode="reflect", value=2.0),
     RuntimeError, "value"),
    ("pad_reflect_1d", lambda: F.pad(sg.zeros(3), (1, 1), mode="reflect"),
     lambda t: t.nn.functional.pad(t.zeros(3), (1, 1), mode="reflect"), NotImplementedError,
     "not supported"),
    ("pad_mode", lambda: F.pad(sg.zeros(2, 3), (1, 1), mode="foo"),
     lambda t: t.nn.functional.pad(t.zeros(2, 3), (1, 1), mode="foo"), NotImplementedError,
     "foo"),
    ("flip_bad_dim", lambda: sg.flip(sg.zeros(2, 3), 2),
     lambda t: t.flip(t.zeros(2, 3), (2,)), IndexError, "Dimension out of range"),
    ("flip_repeated", lambda: sg.flip(sg.zeros(2, 3), (0, -2)),
     lambda t: t.flip(t.zeros(2, 3), (0, -2)), RuntimeError, "multiple times"),
    ("roll_mismatch", lambda: sg.roll(sg.zeros(2, 3), (1, 2), (0,)),
     lambda t: t.roll(t.zeros(2, 3), (1, 2), (0,)), RuntimeError, "align"),
    ("unfold_too_big", lambda: sg.zeros(2, 3).unfold(1, 4, 1),
     lambda t: t.zeros(2, 3).unfold(1, 4, 1), RuntimeError, "size is 4"),
    ("unfold_step", lambda: sg.zeros(2, 3).unfold(1, 2, 0),
     lambda t: t.zeros(2, 3).unfold(1, 2, 0), RuntimeError, "step"),
    ("repeat_interleave_len", lambda: sg.repeat_interleave(sg.zeros(2, 3), I([1, 2]), dim=1),
     lambda t: t.repeat_interleave(t.zeros(2, 3), t.tensor([1, 2]), dim=1), RuntimeError,
     "same size"),
    ("repeat_interleave_neg", lambda: sg.repeat_interleave(sg.zeros(2), -1),
     lambda t: t.repeat_interleave(t.zeros(2), -1), RuntimeError, "non-negative"),
    ("repeat_too_few", lambda: sg.zeros(2, 3).repeat(2),
     lambda t: t.zeros(2, 3).repeat(2), RuntimeError, "smaller"),
    ("narrow_past_end", lambda: sg.narrow(sg.zeros(2, 3), 1, 2, 2),
     lambda t: t.narrow(t.zeros(2, 3), 1, 2, 2), RuntimeError, "exceeds"),
    ("split_sizes", lambda: sg.split(sg.zeros(2, 3), [1, 1], 1),
     lambda t: t.split(t.zeros(2, 3), [1, 1], 1), RuntimeError, "sum exactly"),
    ("chunk_zero", lambda: sg.chunk(sg.zeros(3), 0), lambda t: t.chunk(t.zeros(3), 0),
     RuntimeError, "greater than 0"),
    ("unflatten_sizes", lambda: sg.unflatten(sg.zeros(2, 3), 1, (2, 2)),
     lambda t: t.unflatten(t.zeros(2, 3), 1, (2, 2)), RuntimeError, "multiply up"),
    ("movedim_repeated", lambda: sg.movedim(sg.zeros(2, 3), (0, 1), (1, 1)),
     lambda t: t.movedim(t.zeros(2, 3), (0, 1), (1, 1)), RuntimeError, "1"),
    ("swapaxes_bad_dim", lambda: sg.swapaxes(sg.zeros(2, 3), 0, 2),
     lambda t: t.swapaxes(t.zeros(2, 3), 0, 2), IndexError, "Dimension out of range"),
    ("meshgrid_indexing", lambda: sg.meshgrid(sg.zeros(2), indexing="foo"),
     lambda t: t.meshgrid(t.zeros(2), indexing="foo"), RuntimeError, "indexing"),
    ("one_hot_too_big", lambda: F.one_hot(I([0, 3]), 3),
     lambda t: t.nn.functional.one_hot(t.tensor([0, 3]), 3), RuntimeError, "smaller"),
    ("one_hot_negative", lambda: F.one_hot(I([0, -1]), 3),
     lambda t: t.nn.functional.one_hot(t.tensor([0, -1]), 3), RuntimeError, "non-negative"),
    ("one_hot_float", lambda: F.one_hot(sg.tensor([0.0])),
     lambda t: t.nn.functional.one_hot(t.tensor([0.0])), RuntimeError, "LongTensor"),
    ("masked_fill_int_mask", lambda: sg.masked_fill(sg.zeros(2), I([1, 0]), 1.0),
     lambda t: t.masked_fill(t.zeros(2), t.tensor([1, 0]), 1.0), RuntimeError, "bool"),
]


@pytest.mark.parametrize("name,ours,theirs,exc,text", BAD, ids=[b[0] for b in BAD])
def test_bad_input_raises_as_pytorch(name, ours, theirs, exc, text):
    with pytest.raises(exc, match=text):
        ours()
    try:
        import torch
    except ImportError:
        return
    with pytest.raises((exc, RuntimeError, IndexError)):   # torch raises here too
        theirs(torch)


def test_index_errors_name_the_valid_range():
    with pytest.raises(RuntimeError, match=r"dimension 1 with size 3 \(valid indices: \[0, 2\]\)"):
        sg.gather(sg.zeros(2, 3), 1, I([[5]]))
    with pytest.raises(IndexError, match=r"valid indices: \[-6, 5\]"):
        sg.take(sg.zeros(2, 3), I([9]))


# ----------------------------------------------------------------------------- torch-free
def test_values_against_numpy():
    v = np.arange(12.0).reshape(3, 4)
    x = sg.tensor(v)
    np.testing.assert_array_equal(sg.flip(x, (0, 1)).numpy(), v[::-1, ::-1])
    np.testing.assert_array_equal(sg.roll(x, 3).numpy(), np.roll(v, 3))
    np.testing.assert_array_equal(F.pad(x, (1, 2), mode="reflect").numpy(),
                                  np.pad(v, ((0, 0), (1, 2)), mode="reflect"))
    np.testing.assert_array_equal(F.pad(x, (1, 2), mode="replicate").numpy(),
                                  np.pad(v, ((0, 0), (1, 2)), mode="edge"))
    np.testing.assert_array_equal(F.pad(x, (1, 0, 0, 2), value=7.0).numpy(),
                                  np.pad(v, ((0, 2), (1, 0)), constant_values=7.0))
    np.testing.assert_array_equal(x.repeat(2, 3).numpy(), np.tile(v, (2, 3)))
    np.testing.assert_array_equal(sg.tile(x, (2, 1, 1)).numpy(), np.tile(v, (2, 1, 1)))
    np.testing.assert_array_equal(sg.repeat_interleave(x, I([0, 2, 1]), 0).numpy(),
                                  np.repeat(v, [0, 2, 1], axis=0))
    np.testing.assert_array_equal(sg.gather(x, 1, I([[3, 0], [1, 1]])).numpy(),
                                  np.take_along_axis(v[:2], np.array([[3, 0], [1, 1]]), 1))
    np.testing.assert_array_equal(x.unfold(1, 2, 1).numpy(),
                                  np.lib.stride_tricks.sliding_window_view(v, 2, axis=1))
    np.testing.assert_array_equal(sg.movedim(x, 0, 1).numpy(), v.T)
    np.testing.assert_array_equal(sg.take(x, I([-1, 0])).numpy(), [11.0, 0.0])
    a, b = sg.meshgrid(sg.tensor([1.0, 2.0]), sg.tensor([3.0, 4.0, 5.0]), indexing="xy")
    na, nb = np.meshgrid([1.0, 2.0], [3.0, 4.0, 5.0], indexing="xy")
    np.testing.assert_array_equal(a.numpy(), na)
    np.testing.assert_array_equal(b.numpy(), nb)
    np.testing.assert_array_equal(sg.triu_indices(3, 4, 1).numpy(), np.stack(np.triu_indices(3, 1, 4)))


def test_dtypes_and_no_grad_results():
    x = sg.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    for out in (sg.flip(x, 0), sg.gather(x, 1, I([[0], [2]])), F.pad(x, (1, 1), mode="reflect"),
                sg.masked_fill(x, x > 2, 1.0), x.unfold(1, 2, 1)):
        assert out.dtype == np.float32 and out.requires_grad
    n = sg.tensor(np.arange(6).reshape(2, 3))
    assert sg.flip(n, 0).dtype == np.int64 and sg.roll(n, 1).dtype == np.int64
    for out in (sg.nonzero(x), F.one_hot(I([1, 0])), sg.triu_indices(2, 2), sg.where(x > 1)[0]):
        assert out.dtype == np.int64 and not out.requires_grad
    idx = I([[0], [2]])
    sg.gather(x, 1, idx).sum().backward()
    assert idx.grad is None and x.grad.numpy().tolist() == [[1, 0, 0], [0, 0, 1]]


def test_scatter_gradient_skips_overwritten_positions():
    x = sg.tensor(np.ones((2, 3)), requires_grad=True)
    src = sg.tensor(np.full((1, 3), 2.0), requires_grad=True)
    out = sg.scatter(x, 0, I([[1, 0, 1]]), src)
    (out * sg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])).sum().backward()
    assert x.grad.numpy().tolist() == [[1, 0, 3], [0, 5, 0]]
    assert src.grad.numpy().tolist() == [[4, 2, 6]]
    y = sg.tensor(np.ones((2, 3)), requires_grad=True)
    (sg.scatter(y, 1, I([[0], [2]]), value=0.0) * 3.0).sum().backward()
    assert y.grad.numpy().tolist() == [[0, 3, 3], [3, 3, 0]]


def test_masked_fill_broadcasts_and_sends_value_the_masked_gradient():
    x = sg.tensor(np.zeros(3), requires_grad=True)
    v = sg.tensor(1.5, requires_grad=True)
    out = sg.masked_fill(x, sg.tensor([[True, False, True], [False, False, True]]), v)
    assert out.shape == (2, 3) and out.tolist() == [[1.5, 0, 1.5], [0, 0, 1.5]]
    out.sum().backward()
    assert v.grad.item() == 3.0 and x.grad.numpy().tolist() == [1.0, 2.0, 0.0]


GRADCHECK = [
    lambda x: sg.flip(x, (0, 1)) ** 2,
    lambda x: sg.roll(x, (1, 2), (0, 1)) * x,
    lambda x: F.pad(x, (2, 1), mode="reflect") ** 3,
    lambda x: F.pad(x.unsqueeze(0), (1, 2, 2, 1), mode="replicate").sin(),
    lambda x: F.pad(x, (-1, 2, 1, 0), value=1.0).exp(),
    lambda x: sg.repeat_interleave(x, I([2, 0, 1, 3]), dim=1) ** 2,
    lambda x: x.unfold(1, 2, 1).exp(),
    lambda x: sg.gather(x, 0, I([[2, 0, 0, 1], [1, 1, 2, 0]])) ** 3,
    lambda x: sg.scatter(x, 1, I([[3], [0]]), (x[:2, :2] ** 2)),
    lambda x: sg.scatter_add(x, 0, I([[0, 0, 2, 1], [0, 1, 2, 1]]), x[:2].sin()),
    lambda x: sg.masked_fill(x, sg.tensor([True, False, False, True]), x[0, 0] ** 2),
    lambda x: x.repeat(2, 1).tanh(),
    lambda x: sg.masked_select(x, x.detach() > 0) ** 2,
]


@pytest.mark.parametrize("k", range(len(GRADCHECK)))
def test_gradients_against_finite_differences(k):
    v = rng.normal(size=(3, 4)) + 0.1
    assert verify.gradcheck(GRADCHECK[k], (v,), exact=False)


def _symbols(name, shape):
    return np.array([sympy.Symbol(f"{name}_{i}_{j}") for i in range(shape[0])
                     for j in range(shape[1])], dtype=object).reshape(shape)


def test_exact_forms_equal_hand_written_sympy():
    x = sg.tensor(rng.normal(size=(2, 3)), name="x")
    X = _symbols("x", (2, 3))
    w = np.array([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]])
    f = (F.pad(x, (1, 1), mode="reflect") ** 2 * sg.tensor(w.astype(float))).sum()
    padded = np.concatenate([X[:, 1:2], X, X[:, 1:2]], axis=1)
    expected = sum(int(w[i, j]) * padded[i, j] ** 2 for i in range(2) for j in range(5))
    assert sympy.expand(sg.to_sympy(f, wrt=[x]) - expected) == 0
    g = sg.diff(f, x)
    for i in range(2):
        for j in range(3):
            assert sympy.expand(g[i, j] - sympy.diff(expected, X[i, j])) == 0
    h = (sg.gather(x, 1, I([[2, 2], [0, 1]])) ** 3).sum()
    expected = 2 * X[0, 2] ** 3 + X[1, 0] ** 3 + X[1, 1] ** 3
    assert sympy.expand(sg.to_sympy(h, wrt=[x]) - expected) == 0
    s = sg.scatter_add(x, 0, I([[1, 0, 1]]), sg.sin(x[:1])).sum()
    expected = sum(X.ravel()) + sum(sympy.sin(X[0, j]) for j in range(3))
    assert sympy.simplify(sg.to_sympy(s, wrt=[x]) - expected) == 0


@pytest.mark.parametrize("fn", [
    lambda x: (sg.roll(x, 1) * x).sum(),
    lambda x: (sg.scatter(x, 1, I([[0], [2]]), x[:, 1:2] ** 2) ** 2).sum(),
    lambda x: (sg.masked_fill(x, x.detach() > 0, 0.5) * x).sum(),
    lambda x: (x.unfold(1, 2, 1)[..., 0] * x.unfold(1, 2, 1)[..., 1]).sum(),
])
def test_exact_gradient_equals_eager_gradient(fn):
    x = sg.tensor(rng.normal(size=(2, 3)), requires_grad=True, name="x")
    fn(x).backward()
    g = sg.diff(fn(x), x)
    exact = np.array([[float(g[i, j].subs(_point(x))) for j in range(3)] for i in range(2)])
    np.testing.assert_allclose(exact, x.grad.numpy(), rtol=1e-12)


def _point(x):
    v = x.detach().numpy()
    return {sympy.Symbol(f"x_{i}_{j}"): v[i, j] for i in range(2) for j in range(3)}


def test_composed_functions_are_listed_and_methods_bound():
    from verify.opdb import COMPOSED

    for name in ("split", "chunk", "unbind", "narrow", "unflatten", "movedim", "swapaxes",
                 "swapdims", "tile", "index_select", "take", "masked_select", "meshgrid"):
        assert name in COMPOSED and callable(getattr(sg, name))
    for m in ("flip", "roll", "repeat", "repeat_interleave", "tile", "split", "chunk", "unbind",
              "unflatten", "movedim", "swapaxes", "swapdims", "narrow", "unfold", "gather",
              "scatter", "scatter_add", "index_select", "masked_fill", "masked_select", "take",
              "nonzero"):
        assert callable(getattr(sg.Tensor, m)), m
    assert F.pad is sg.pad and "one_hot" in F.__all__ and not hasattr(sg, "one_hot")


def test_symbolic_inputs_keep_shapes():
    X = sg.symbol("X", shape=(3, 4))
    assert sg.flip(X, 0).shape == (3, 4)
    assert F.pad(X, (1, 2, 0, 1)).shape == (4, 7)
    assert X.unfold(1, 2, 2).shape == (3, 2, 2)
    assert sg.gather(X, 1, I([[0, 1]])).shape == (1, 2)
    assert sg.repeat_interleave(X, 2, dim=0).shape == (6, 4)


def test_scatter_repeated_indices_send_every_src_the_gradient_as_torch():
    torch = _torch()
    w = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    src = sg.tensor(np.ones((2, 3)), requires_grad=True)
    tsrc = torch.ones(2, 3, dtype=torch.float64, requires_grad=True)
    idx = [[1, 1, 0], [1, 0, 0]]
    (sg.scatter(sg.zeros(2, 3), 0, I(idx), src) * sg.tensor(w)).sum().backward()
    (torch.zeros(2, 3, dtype=torch.float64).scatter(0, torch.tensor(idx), tsrc)
     * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(src.grad.numpy(), tsrc.grad.numpy())
