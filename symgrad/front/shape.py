"""Shape and selection: ``flip``, ``roll``, ``pad``, ``gather``, ``scatter``, ``split``...

The primitives (flip, roll, pad, repeat_interleave, unfold, gather, scatter,
scatter_add, masked_fill) are ops of :mod:`numeric.rules.shape`; the views and
aliases PyTorch defines through other ops are built here from existing ops
(``verify.opdb.COMPOSED`` lists them): ``swapaxes``/``movedim`` are permutes,
``split``/``chunk``/``unbind``/``narrow``/``index_select``/``take``/
``masked_select`` are getitems, ``unflatten`` a reshape, ``tile``/``repeat`` a
reshape, broadcast and reshape, ``meshgrid`` broadcasts.  ``nonzero``,
``one_hot`` (``sg.nn.functional`` only, as in PyTorch) and
``triu_indices``/``tril_indices`` return integer tensors without gradient (like
``argmax``), computed from values.

Index arguments are checked here, before any kernel runs, so a bad index raises
PyTorch's error (naming the index and the valid range) instead of numpy's
wrap-around of negative indices.

>>> import symgrad as sg
>>> x = sg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> sg.gather(x, 1, sg.tensor([[1], [0]]))
tensor([[2.],
        [3.]], grad_fn=<GatherBackward>)
"""
from __future__ import annotations

import builtins
from typing import Any, Optional, Sequence

import numpy as np

from numeric.ops import Op
from numeric.rules.shape import pad_pairs
from numeric.shapes import broadcast_shapes
from symgrad.tensor import Tensor, _apply, _dim, _node, const

__all__ = [
    "flip", "roll", "pad", "repeat_interleave", "gather", "scatter", "scatter_add",
    "masked_fill", "index_select", "masked_select", "take", "tile", "split", "chunk",
    "unbind", "unflatten", "movedim", "moveaxis", "swapaxes", "swapdims", "narrow",
    "meshgrid", "nonzero", "triu_indices", "tril_indices",
]


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else const(x)


def _ints(xs: Any) -> tuple:
    """An int or a sequence of ints (PyTorch's ``int[]`` arguments) as a tuple."""
    if isinstance(xs, (builtins.int, np.integer)):
        return (builtins.int(xs),)
    if isinstance(xs, Tensor):
        xs = xs._need_value("a size argument").reshape(-1).tolist()
    return tuple(builtins.int(x) for x in xs)


def _varargs(sizes: Sequence[Any]) -> tuple:
    """``f(2, 3)`` or ``f((2, 3))``: PyTorch's size varargs."""
    if len(sizes) == 1 and not isinstance(sizes[0], (builtins.int, np.integer)):
        return _ints(sizes[0])
    return _ints(sizes)


def _dims(dims: Any, ndim: int, what: str) -> tuple:
    out = tuple(_dim(d, ndim) for d in _ints(dims))
    for d in out:
        if out.count(d) > 1:
            raise RuntimeError(f"{what}: dim {d} appears multiple times in the list of dims")
    return out


def _getitem(t: Tensor, index: tuple) -> Tensor:
    return _apply(Op.GETITEM, (t,), {"index": index})


def _reshape(t: Tensor, shape: tuple) -> Tensor:
    return t if tuple(t.shape) == tuple(shape) else _apply(Op.RESHAPE, (t,), {"shape": shape})


def _permute(t: Tensor, order: tuple) -> Tensor:
    return t if order == tuple(range(t.ndim)) else _apply(Op.PERMUTE, (t,), {"axes": order})


def _no_grad(value: np.ndarray) -> Tensor:
    return _node(np.asarray(value), None, (), {}, False)


# ----------------------------------------------------------------------------- indices
def _index(index: Any, what: str) -> np.ndarray:
    """An index argument as an int64 array (PyTorch refuses float indices)."""
    arr = index._need_value(what) if isinstance(index, Tensor) else np.asarray(index)
    if arr.dtype.kind not in "iu":
        raise RuntimeError(f"{what}(): Expected dtype int32/int64 for index, got {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _in_range(index: np.ndarray, size: int, dim: int, error: type = RuntimeError
               ) -> np.ndarray:
    """Check ``index`` against a dim of ``size`` (no negatives).

    ``error``: PyTorch's exception type for the op (RuntimeError for gather and
    scatter, IndexError for index_select).
    """
    bad = index[(index < 0) | (index >= size)]
    if bad.size:
        allowed = f"[0, {size - 1}]" if size else "none (the dim is empty)"
        raise error(f"index {builtins.int(bad.flat[0])} is out of bounds for dimension "
                    f"{dim} with size {size} (valid indices: {allowed})")
    return index


def _dim_index(t: Tensor, dim: int, index: Any, what: str, src: Optional[Tensor] = None
               ) -> tuple:
    """Validate gather/scatter's ``dim`` and ``index`` as PyTorch does."""
    d = _dim(dim, t.ndim)
    idx = _index(index, what)
    if idx.ndim != max(t.ndim, 1) and not (idx.ndim == 0 and t.ndim == 0):
        raise RuntimeError(f"{what}(): Index tensor must have the same number of dimensions "
                           f"as input tensor (index {idx.shape}, input {t.shape})")
    if src is not None and max(src.ndim, 1) != max(idx.ndim, 1):
        raise RuntimeError(f"{what}(): Index tensor must have the same number of dimensions "
                           f"as src tensor (index {idx.shape}, src {src.shape})")
    shape = tuple(t.shape) if t.ndim else (1,)
    for a, n in enumerate(idx.shape):
        if a != d and n > shape[a]:
            raise RuntimeError(f"{what}(): Size does not match at dimension {a}: expected "
                               f"index {idx.shape} to be no larger than input {t.shape} "
                               f"apart from dimension {d}")
        if src is not None and n > (tuple(src.shape) or (1,))[a]:
            raise RuntimeError(f"{what}(): Expected index {idx.shape} to be no larger "
                               f"size than src {src.shape}")
    return d, _in_range(idx, shape[d], d)


# ----------------------------------------------------------------------------- primitives
def flip(input: Any, dims: Any) -> Tensor:
    """Reverse the order of elements along ``dims`` (an int or a sequence of ints).

    >>> import symgrad as sg
    >>> sg.flip(sg.tensor([[1.0, 2.0], [3.0, 4.0]]), [1])
    tensor([[2., 1.],
            [4., 3.]])
    """
    t = _t(input)
    d = _dims(dims, t.ndim, "flip")
    return _apply(Op.FLIP, (t,), {"dims": d if t.ndim else ()})


def roll(input: Any, shifts: Any, dims: Any = None) -> Tensor:
    """Shift elements cyclically by ``shifts`` along ``dims``; the flattened tensor if None.

    >>> import symgrad as sg
    >>> sg.roll(sg.tensor([1.0, 2.0, 3.0]), 1)
    tensor([3., 1., 2.])
    """
    t = _t(input)
    s = _ints(shifts)
    d = None if dims is None else tuple(_dim(x, t.ndim) for x in _ints(dims))
    if len(s) != (1 if d is None else len(d)):
        raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(s)}, "
                           f"dims: {0 if d is None else len(d)}")
    if t.ndim == 0:
        d = None
    return _apply(Op.ROLL, (t,), {"shifts": s, "dims": d})


_PAD_MODES = ("constant", "reflect", "replicate")


def _check_pad(t: Tensor, p: tuple, mode: str, value: Any) -> None:
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"pad: unrecognised padding mode {mode!r}; symgrad has "
                                  f"{', '.join(_PAD_MODES)}")
    if len(p) % 2:
        raise RuntimeError(f"pad: Padding length must be divisible by 2, got {len(p)}")
    if len(p) // 2 > t.ndim:
        raise RuntimeError(f"pad: Padding length should be less than or equal to two times "
                           f"the input dimension but got padding length {len(p)} and input "
                           f"of dimension {t.ndim}")
    if mode == "constant":
        return
    if value is not None:
        raise RuntimeError(f'pad: Padding mode "{mode}" doesn\'t take in value argument')
    k = len(p) // 2
    if k not in (1, 2, 3) or t.ndim not in (k + 1, k + 2):
        raise NotImplementedError(
            f"pad: padding size {len(p)} is not supported for {t.ndim}D input with mode "
            f"{mode!r}: pad 2 sizes for 2D/3D input, 4 for 3D/4D, 6 for 4D/5D")
    for d, lo, hi in pad_pairs(p, t.ndim):
        n = t.shape[d]
        if n == 0 or (mode == "reflect" and (lo >= n or hi >= n)):
            raise RuntimeError(
                f"pad: padding size should be less than the corresponding input dimension, "
                f"but got padding ({lo}, {hi}) at dimension {d} of input {t.shape}"
                if n else f"pad: {mode} padding of dimension {d} of size 0 in {t.shape}")


def pad(input: Any, pad: Sequence[int], mode: str = "constant",  # noqa: A002
        value: Optional[float] = None) -> Tensor:
    """Pad ``input`` (``F.pad``): ``pad`` gives (before, after) sizes, last dim first.

    ``mode`` is ``"constant"`` (fill with ``value``, 0 by default; negative sizes
    crop), ``"reflect"`` (mirror without repeating the edge; each size below the
    dim's size) or ``"replicate"`` (repeat the edge).

    >>> import symgrad as sg
    >>> sg.pad(sg.tensor([[1.0, 2.0, 3.0]]), (2, 1), mode="reflect")
    tensor([[3., 2., 1., 2., 3., 2.]])
    """
    t = _t(input)
    p = _ints(pad)
    _check_pad(t, p, mode, value)
    if any(t.shape[d] + lo + hi < 0 for d, lo, hi in pad_pairs(p, t.ndim)):
        raise RuntimeError(f"pad: the padded size of some dim of {t.shape} would be negative "
                           f"with pad {p}")
    fill = 0.0 if value is None else builtins.float(value)
    return _apply(Op.PAD, (t,), {"pad": p, "mode": mode, "value": fill})


def repeat_interleave(input: Any, repeats: Any, dim: Optional[int] = None, *,
                      output_size: Optional[int] = None) -> Tensor:
    """Repeat each element ``repeats`` times (an int or one count per element) along ``dim``.

    >>> import symgrad as sg
    >>> sg.repeat_interleave(sg.tensor([1.0, 2.0]), sg.tensor([1, 2]))
    tensor([1., 2., 2.])
    """
    t = _t(input)
    d = None if dim is None else _dim(dim, t.ndim)
    reps = _ints(repeats) if not isinstance(repeats, Tensor) else tuple(
        _index(repeats, "repeat_interleave").reshape(-1).tolist())
    n = t.numel() if d is None or t.ndim == 0 else t.shape[d]
    if any(r < 0 for r in reps):
        raise RuntimeError(f"repeat_interleave: repeats must be non-negative, got {reps}")
    if len(reps) != 1 and len(reps) != n:
        raise RuntimeError(f"repeat_interleave: repeats must have the same size as input "
                           f"along dim, but got {len(reps)} repeats for size {n}")
    if t.ndim == 0:
        d = None
    out = _apply(Op.REPEAT_INTERLEAVE, (t,), {"repeats": reps, "dim": d})
    if output_size is not None and out.shape[0 if d is None else d] != output_size:
        raise RuntimeError(f"repeat_interleave: output_size={output_size} but the repeats "
                           f"give {out.shape[0 if d is None else d]}")
    return out


def _unfold(self: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """``Tensor.unfold``: every window of ``size`` elements, ``step`` apart, along ``dimension``.

    The windows are a new last dim (as PyTorch's ``Tensor.unfold``).

    >>> import symgrad as sg
    >>> sg.arange(5.0).unfold(0, 2, 2)
    tensor([[0., 1.],
            [2., 3.]])
    """
    t = _reshape(self, (1,)) if self.ndim == 0 else self
    d = _dim(dimension, t.ndim)
    if step <= 0:
        raise RuntimeError(f"unfold: step is {step} but must be > 0")
    if not 0 <= size <= t.shape[d]:
        raise RuntimeError(f"unfold: maximum size for tensor at dimension {d} is "
                           f"{t.shape[d]} but size is {size}")
    out = _apply(Op.UNFOLD, (t,), {"dimension": d, "size": builtins.int(size),
                                   "step": builtins.int(step)})
    return _reshape(out, (size,)) if self.ndim == 0 else out


def gather(input: Any, dim: int, index: Any, *, sparse_grad: bool = False) -> Tensor:
    """Values along ``dim`` at ``index``: ``out[i][j] = input[index[i][j]][j]`` for dim 0.

    ``index`` has the input's number of dims; no gradient flows to it.

    >>> import symgrad as sg
    >>> sg.gather(sg.tensor([[1.0, 2.0], [3.0, 4.0]]), 0, sg.tensor([[1, 0]]))
    tensor([[3., 2.]])
    """
    t = _t(input)
    d, idx = _dim_index(t, dim, index, "gather")
    if t.ndim == 0:
        return _reshape(_apply(Op.GATHER, (_reshape(t, (1,)),),
                               {"dim": 0, "index": idx.reshape(1)}), idx.shape)
    return _apply(Op.GATHER, (t,), {"dim": d, "index": idx})


def _scatter(op: Op, what: str, input: Any, dim: int, index: Any, src: Any) -> Tensor:
    t = _t(input)
    s = _t(src) if isinstance(src, Tensor) else None
    d, idx = _dim_index(t, dim, index, what, s)
    if s is None:       # a number: PyTorch's ``value=`` form, no gradient
        s = const(np.full(idx.shape, src, dtype=t.dtype))
    elif s.dtype != t.dtype:
        raise RuntimeError(f"{what}(): Expected self.dtype to be equal to src.dtype "
                           f"({t.dtype} vs {s.dtype})")
    if t.ndim == 0:
        one = _apply(op, (_reshape(t, (1,)), _reshape(s, (1,))),
                     {"dim": 0, "index": idx.reshape(1)})
        return _reshape(one, ())
    return _apply(op, (t, s), {"dim": d, "index": idx})


def scatter(input: Any, dim: int, index: Any, src: Any = None, *,
            value: Any = None) -> Tensor:
    """``input`` with ``src`` (or the number ``value``) written along ``dim`` at ``index``.

    ``out[index[i][j]][j] = src[i][j]`` for dim 0.  The overwritten entries of
    ``input`` get no gradient; ``src`` gets the gradient of where it landed.

    >>> import symgrad as sg
    >>> sg.scatter(sg.zeros(2, 2), 0, sg.tensor([[1, 0]]), sg.tensor([[5.0, 6.0]]))
    tensor([[0., 6.],
            [5., 0.]])
    """
    if (src is None) == (value is None):
        raise TypeError("scatter() needs exactly one of src (a tensor) or value (a number)")
    return _scatter(Op.SCATTER, "scatter", input, dim, index, value if src is None else src)


def scatter_add(input: Any, dim: int, index: Any, src: Any) -> Tensor:
    """``input`` with ``src`` added along ``dim`` at ``index`` (repeated indices add up).

    >>> import symgrad as sg
    >>> sg.scatter_add(sg.zeros(3), 0, sg.tensor([0, 0, 2]), sg.tensor([1.0, 2.0, 3.0]))
    tensor([3., 0., 3.])
    """
    return _scatter(Op.SCATTER_ADD_DIM, "scatter_add", input, dim, index, src)


def masked_fill(input: Any, mask: Any, value: Any) -> Tensor:
    """``input`` with ``value`` (a number or 0-d tensor) where the bool ``mask`` is True.

    >>> import symgrad as sg
    >>> x = sg.tensor([1.0, 2.0, 3.0])
    >>> sg.masked_fill(x, x > 1.5, 0.0)
    tensor([1., 0., 0.])
    """
    t = _t(input)
    m = _t(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_fill only supports boolean masks, but got mask with "
                           f"dtype {m.dtype}")
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError(f"masked_fill only supports a 0-dimensional value tensor, but "
                           f"got tensor with {value.ndim} dimension(s)")
    v = value if isinstance(value, Tensor) else const(value, t)
    return _apply(Op.MASKED_FILL, (t, m, v), {})


# ----------------------------------------------------------------------------- selection
def index_select(input: Any, dim: int, index: Any) -> Tensor:
    """The entries of ``input`` along ``dim`` at the 1-D ``index`` (a getitem).

    >>> import symgrad as sg
    >>> sg.index_select(sg.tensor([[1.0, 2.0], [3.0, 4.0]]), 1, sg.tensor([1, 1]))
    tensor([[2., 2.],
            [4., 4.]])
    """
    t = _t(input)
    d = _dim(dim, t.ndim)
    idx = _index(index, "index_select")
    if idx.ndim > 1:
        raise IndexError(f"index_select(): Index is supposed to be a vector, got shape "
                         f"{idx.shape}")
    if t.ndim == 0:
        if idx.size != 1:
            raise RuntimeError(f"index_select(): Index to scalar can have only 1 value, got "
                               f"{idx.size} value(s)")
        one = _in_range(idx.reshape(-1), 1, 0, IndexError)
        return _reshape(_getitem(_reshape(t, (1,)), (one,)), ())
    return _getitem(t, (slice(None),) * d + (_in_range(idx.reshape(-1), t.shape[d], d,
                                                       IndexError),))


def take(input: Any, index: Any) -> Tensor:
    """Entries of the flattened ``input`` at ``index`` (shaped like ``index``; negatives count
    from the end).

    >>> import symgrad as sg
    >>> sg.take(sg.tensor([[1.0, 2.0], [3.0, 4.0]]), sg.tensor([0, -1]))
    tensor([1., 4.])
    """
    t = _t(input)
    idx = _index(index, "take")
    n = t.numel()
    bad = idx[(idx < -n) | (idx >= n)]
    if bad.size:
        raise IndexError(f"take: out of range: tried to access index {builtins.int(bad.flat[0])} "
                         f"on a tensor of {n} elements (valid indices: [{-n}, {n - 1}])")
    return _getitem(_reshape(t, (n,)), (idx % max(n, 1),))


def masked_select(input: Any, mask: Any) -> Tensor:
    """The entries of ``input`` where ``mask`` is True, as a 1-D tensor (both broadcast).

    The mask is read from its values (a getitem by a bool mask), so the exact form
    is the one at those values.

    >>> import symgrad as sg
    >>> x = sg.tensor([[1.0, -2.0], [3.0, -4.0]])
    >>> sg.masked_select(x, x > 0)
    tensor([1., 3.])
    """
    t = _t(input)
    m = _index_mask(mask)
    shape = broadcast_shapes(tuple(t.shape), m.shape)
    if shape != tuple(t.shape):
        t = _apply(Op.BROADCAST_TO, (t,), {"shape": shape})
    return _getitem(t, (np.broadcast_to(m, shape).copy(),))


def _index_mask(mask: Any) -> np.ndarray:
    m = mask._need_value("masked_select") if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_select: expected a bool mask, got dtype {m.dtype}")
    return m


# ----------------------------------------------------------------------------- views
def split(tensor: Any, split_size_or_sections: Any, dim: int = 0) -> tuple:
    """Split into pieces of ``split_size_or_sections`` (an int: the last may be smaller; a
    list: the sizes) along ``dim``.

    >>> import symgrad as sg
    >>> [p.shape for p in sg.split(sg.zeros(5, 2), 2)]
    [(2, 2), (2, 2), (1, 2)]
    """
    t = _t(tensor)
    d = _dim(dim, t.ndim)
    n = t.shape[d]
    if isinstance(split_size_or_sections, (builtins.int, np.integer)):
        size = builtins.int(split_size_or_sections)
        if size < 0 or (size == 0 and n):
            raise RuntimeError(f"split expects split_size be non-negative, but got "
                               f"split_size={size}")
        sizes = [min(size, n - s) for s in range(0, n, size)] if size else [0]
    else:
        sizes = list(_ints(split_size_or_sections))
        if builtins.sum(sizes) != n or builtins.any(s < 0 for s in sizes):
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} "
                               f"(input tensor's size at dimension {d}), but got "
                               f"split_sizes={sizes}")
    starts = np.cumsum([0] + sizes[:-1])
    return tuple(narrow(t, d, builtins.int(s), k) for s, k in zip(starts, sizes))


def chunk(input: Any, chunks: int, dim: int = 0) -> tuple:
    """Split into ``chunks`` pieces of equal size (rounded up) along ``dim``; may give fewer.

    >>> import symgrad as sg
    >>> [p.shape for p in sg.chunk(sg.zeros(5), 3)]
    [(2,), (2,), (1,)]
    """
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    t = _t(input)
    n = t.shape[_dim(dim, t.ndim)]
    return split(t, max(-(-n // chunks), 1), dim)


def unbind(input: Any, dim: int = 0) -> tuple:
    """The slices along ``dim``, each without that dim.

    >>> import symgrad as sg
    >>> sg.unbind(sg.tensor([[1.0, 2.0], [3.0, 4.0]]), 1)
    (tensor([1., 3.]), tensor([2., 4.]))
    """
    t = _t(input)
    d = _dim(dim, t.ndim)
    return tuple(_getitem(t, (slice(None),) * d + (i,)) for i in range(t.shape[d]))


def narrow(input: Any, dim: int, start: int, length: int) -> Tensor:
    """``length`` entries from ``start`` along ``dim`` (a negative start counts from the end).

    >>> import symgrad as sg
    >>> sg.narrow(sg.tensor([1.0, 2.0, 3.0, 4.0]), 0, 1, 2)
    tensor([2., 3.])
    """
    t = _t(input)
    d = _dim(dim, t.ndim)
    n = t.shape[d]
    start = builtins.int(start)
    if not -n <= start <= n:
        raise IndexError(f"narrow(): start ({start}) out of range (expected to be in range "
                         f"of [{-n}, {n}])")
    if start < 0:
        start += n
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if start + length > n:
        raise RuntimeError(f"narrow(): start ({start}) + length ({length}) exceeds dimension "
                           f"size ({n}).")
    return _getitem(t, (slice(None),) * d + (slice(start, start + builtins.int(length)),))


def unflatten(input: Any, dim: int, sizes: Sequence[int]) -> Tensor:
    """Expand dim ``dim`` into ``sizes`` (one may be -1) (a reshape).

    >>> import symgrad as sg
    >>> sg.unflatten(sg.zeros(2, 6), 1, (2, 3)).shape
    (2, 2, 3)
    """
    t = _t(input)
    d = _dim(dim, t.ndim)
    new = list(_ints(sizes))
    n = t.shape[d]
    if new.count(-1) > 1:
        raise RuntimeError(f"unflatten: only one dimension can be inferred (-1), got {new}")
    known = builtins.int(np.prod([s for s in new if s != -1]))
    if -1 in new and known and n % known == 0:
        new[new.index(-1)] = n // known
    if builtins.int(np.prod(new)) != n or not new:
        raise RuntimeError(f"unflatten: Provided sizes {list(_ints(sizes))} don't multiply up "
                           f"to the size of dim {d} ({n}) in the input tensor")
    return _reshape(t, tuple(t.shape[:d]) + tuple(new) + tuple(t.shape[d + 1:]))


def movedim(input: Any, source: Any, destination: Any) -> Tensor:
    """Move dims ``source`` to positions ``destination`` (the others keep their order).

    >>> import symgrad as sg
    >>> sg.movedim(sg.zeros(2, 3, 4), 0, -1).shape
    (3, 4, 2)
    """
    t = _t(input)
    src = _dims(source, t.ndim, "movedim")
    dst = _dims(destination, t.ndim, "movedim")
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)}"
                           f" dims) should contain the same number of dims as destination "
                           f"({list(dst)} dims)")
    order: list = [None] * t.ndim
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(a for a in range(t.ndim) if a not in src)
    return _permute(t, tuple(next(rest) if o is None else o for o in order))


moveaxis = movedim


def swapaxes(input: Any, axis0: int, axis1: int) -> Tensor:
    """Swap two dims (PyTorch's alias of ``transpose``).

    >>> import symgrad as sg
    >>> sg.swapaxes(sg.zeros(2, 3, 4), 0, 2).shape
    (4, 3, 2)
    """
    t = _t(input)
    a, b = _dim(axis0, t.ndim), _dim(axis1, t.ndim)
    if t.ndim == 0:
        return t
    order = list(range(t.ndim))
    order[a], order[b] = order[b], order[a]
    return _permute(t, tuple(order))


def swapdims(input: Any, dim0: int, dim1: int) -> Tensor:
    """Swap two dims (PyTorch's alias of ``transpose``).

    >>> import symgrad as sg
    >>> sg.swapdims(sg.zeros(2, 3), 0, 1).shape
    (3, 2)
    """
    return swapaxes(input, dim0, dim1)


def tile(input: Any, dims: Any) -> Tensor:
    """Repeat the whole tensor ``dims`` times per dim (missing leading counts are 1).

    >>> import symgrad as sg
    >>> sg.tile(sg.tensor([1.0, 2.0]), (2,))
    tensor([1., 2., 1., 2.])
    """
    t = _t(input)
    reps = _ints(dims)
    return _repeat(t, (1,) * (t.ndim - len(reps)) + reps)


def _repeat(t: Tensor, reps: tuple) -> Tensor:
    """``Tensor.repeat``: a reshape, a broadcast over interleaved new dims, a reshape."""
    if len(reps) < t.ndim:
        raise RuntimeError(f"repeat: Number of dimensions of repeat dims ({len(reps)}) can not "
                           f"be smaller than number of dimensions of tensor ({t.ndim})")
    if any(r < 0 for r in reps):
        raise RuntimeError(f"repeat: Trying to create tensor with negative dimension: {reps}")
    shape = (1,) * (len(reps) - t.ndim) + tuple(t.shape)
    spread = tuple(x for n in shape for x in (1, n))
    target = tuple(x for r, n in zip(reps, shape) for x in (r, n))
    wide = _apply(Op.BROADCAST_TO, (_reshape(t, spread),), {"shape": target})
    return _reshape(wide, tuple(r * n for r, n in zip(reps, shape)))


def _repeat_method(self: Tensor, *sizes: Any) -> Tensor:
    """``Tensor.repeat(*sizes)``: tile the tensor ``sizes`` times along each dim.

    >>> import symgrad as sg
    >>> sg.tensor([1.0, 2.0]).repeat(2, 2)
    tensor([[1., 2., 1., 2.],
            [1., 2., 1., 2.]])
    """
    return _repeat(self, _varargs(sizes))


def meshgrid(*tensors: Any, indexing: Optional[str] = None) -> tuple:
    """Coordinate grids from 1-D tensors: ``indexing="ij"`` (default) or ``"xy"``.

    >>> import symgrad as sg
    >>> a, b = sg.meshgrid(sg.tensor([1.0, 2.0]), sg.tensor([3.0, 4.0, 5.0]), indexing="ij")
    >>> a.shape, b[0]
    ((2, 3), tensor([3., 4., 5.]))
    """
    ts = [_t(x) for x in (tensors[0] if len(tensors) == 1 and isinstance(
        tensors[0], (list, tuple)) else tensors)]
    indexing = "ij" if indexing is None else indexing
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but '
                           f"received: {indexing}")
    if builtins.any(t.ndim > 1 for t in ts):
        raise RuntimeError("meshgrid: Expected 0D or 1D tensor in the input list")
    ts = [_reshape(t, (1,)) if t.ndim == 0 else t for t in ts]
    order = list(range(len(ts)))
    if indexing == "xy" and len(ts) >= 2:
        order[0], order[1] = 1, 0
    shape = tuple(ts[i].shape[0] for i in order)
    out: list = [None] * len(ts)
    for pos, i in enumerate(order):
        col = _reshape(ts[i], tuple(n if p == pos else 1 for p, n in enumerate(shape)))
        out[i] = (_apply(Op.BROADCAST_TO, (col,), {"shape": shape}) if col.shape != shape
                  else col)
    return tuple(out)


# ----------------------------------------------------------------------------- integer results
def nonzero(input: Any, *, as_tuple: bool = False) -> Any:
    """Indices of the nonzero entries: an int64 ``(n, ndim)`` tensor, or one per dim.

    No gradient (indices); read from the values, as ``argmax``.

    >>> import symgrad as sg
    >>> sg.nonzero(sg.tensor([[0.0, 1.0], [2.0, 0.0]]))
    tensor([[0, 1],
            [1, 0]])
    """
    v = _t(input)._need_value("nonzero")
    if as_tuple:
        return tuple(_no_grad(i.astype(np.int64)) for i in np.nonzero(np.atleast_1d(v)))
    return _no_grad(np.argwhere(v).astype(np.int64))


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """int64 one-hot rows of class indices: a new last dim of ``num_classes`` (-1: max + 1).

    >>> import symgrad as sg
    >>> sg.nn.functional.one_hot(sg.tensor([0, 2]), 3)
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    v = tensor._need_value("one_hot") if isinstance(tensor, Tensor) else np.asarray(tensor)
    if v.dtype != np.int64:
        raise RuntimeError(f"one_hot is only applicable to index tensor of type LongTensor "
                           f"(int64), got {v.dtype}")
    if v.size and v.min() < 0:
        raise RuntimeError(f"one_hot: Class values must be non-negative, got {v.min()}")
    if num_classes == -1 and not v.size:
        raise RuntimeError("one_hot: Can not infer total number of classes from empty tensor; "
                           "pass num_classes")
    n = builtins.int(v.max()) + 1 if num_classes == -1 else num_classes
    if v.size and v.max() >= n:
        raise RuntimeError(f"one_hot: Class values must be smaller than num_classes "
                           f"({n}), got {v.max()}")
    return _no_grad((v[..., None] == np.arange(n)).astype(np.int64))


def _tri_indices(which: Any, row: int, col: int, offset: int, dtype: Any) -> Tensor:
    if row < 0 or col < 0:
        raise RuntimeError(f"row ({row}) and col ({col}) must be non-negative")
    r, c = which(row, offset, col)
    return _no_grad(np.stack([r, c]).astype(np.dtype(dtype) if dtype is not None
                                            else np.int64))


def triu_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None) -> Tensor:
    """The (2, n) int64 coordinates of the upper triangle of a ``row`` x ``col`` matrix.

    >>> import symgrad as sg
    >>> sg.triu_indices(2, 2)
    tensor([[0, 0, 1],
            [0, 1, 1]])
    """
    return _tri_indices(np.triu_indices, row, col, offset, dtype)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None) -> Tensor:
    """The (2, n) int64 coordinates of the lower triangle of a ``row`` x ``col`` matrix.

    >>> import symgrad as sg
    >>> sg.tril_indices(2, 2)
    tensor([[0, 1, 1],
            [0, 0, 1]])
    """
    return _tri_indices(np.tril_indices, row, col, offset, dtype)


def _flip_method(self: Tensor, *dims: Any, **kwargs: Any) -> Tensor:
    """``t.flip(0, 1)``, ``t.flip((0, 1))`` or ``t.flip(dims=(0, 1))``, as PyTorch."""
    return flip(self, kwargs.pop("dims") if "dims" in kwargs and not dims else _varargs(dims),
                **kwargs)


#: Tensor methods beyond the rules' (the composed functions, and varargs forms)
METHODS = {
    "flip": _flip_method, "repeat": _repeat_method, "unfold": _unfold,
    **{name: globals()[name] for name in (
        "index_select", "masked_select", "take", "tile", "split", "chunk", "unbind",
        "unflatten", "movedim", "moveaxis", "swapaxes", "swapdims", "narrow", "nonzero")},
}
