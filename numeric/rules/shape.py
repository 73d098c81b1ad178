"""Shape and selection ops: flip, roll, pad, repeat_interleave, unfold, gather,
scatter, scatter_add (PyTorch's, along a dim) and masked_fill.

Every op here moves or selects values without changing them (``pad`` also fills
a constant), so each VJP is the adjoint of the selection: the op reads its input
through an advanced index (:func:`_mesh`), and its VJP adds the cotangent back at
that index with ``apply(Op.SCATTER_ADD, g, shape=, index=)`` (getitem's adjoint).
Written so, the VJPs run on symgrad Tensors too (``create_graph=True``).

Index tensors (``gather``'s ``index``) are attributes, as getitem's index is: they
are fixed integers that never get a gradient, and their values are checked (in
range) by the front end before a node is built.

>>> gather_kernel(np.array([[1.0, 2.0], [3.0, 4.0]]), dim=1, index=np.array([[1], [0]]))
array([[2.],
       [3.]])
"""
from __future__ import annotations

from typing import Any

import numpy as np

from numeric.errors import ShapeError
from numeric.rules.core import apply, declare
from numeric.rules.movement import SCATTER_ADD
from numeric.shapes import broadcast_shapes

_a = np.asarray


def _same(dtypes: Any, attrs: dict) -> np.dtype:
    """The first input's dtype (values are only moved; PyTorch keeps ``self``'s dtype)."""
    return np.dtype(dtypes[0])


def _shape(name: str, kernel: Any, vjp: tuple, shape: Any, *, doc: str, sg: Any = (),
           methods: Any = None, arity: int = 1) -> Any:
    return declare(name, kernel, vjp, group="movement", arity=arity, shape=shape,
                   dtype=_same, sg=sg, methods=methods, doc=doc)


def _add_back(g: Any, shape: tuple, index: Any) -> Any:
    """The adjoint of ``x[index]`` for ``x`` of ``shape``: ``g`` added at ``index``."""
    return apply(SCATTER_ADD.op, g, shape=tuple(shape), index=index)


def _mesh(ndim: int, parts: list) -> tuple:
    """An advanced index of ``ndim`` broadcasting arrays from ``(positions, values)`` parts.

    Each part is an int array ``values`` whose axes land at output ``positions``;
    ``x[_mesh(...)]`` has the broadcast shape of the parts.

    >>> [i.shape for i in _mesh(3, [((0,), np.arange(2)), ((1, 2), np.zeros((3, 4), int))])]
    [(2, 1, 1), (1, 3, 4)]
    """
    out = []
    for positions, values in parts:
        values = _a(values, dtype=np.int64)
        shape = [1] * ndim
        for p, n in zip(positions, values.shape):
            shape[p] = n
        out.append(values.reshape(shape))
    return tuple(out)


# ----------------------------------------------------------------------------- flip, roll
def _same_shape(shapes: Any, attrs: dict) -> tuple:
    return tuple(shapes[0])


def _reversed(ndim: int, dims: tuple) -> tuple:
    """The basic index that reverses ``dims``: flip is its own adjoint."""
    return tuple(slice(None, None, -1) if a in dims else slice(None) for a in range(ndim))


def _rolled(shape: tuple, shifts: tuple, dims: tuple) -> tuple:
    """The advanced index that undoes ``roll(shifts, dims)``: ``out[j]`` came from ``j - s``."""
    sources = [np.arange(n) for n in shape]
    for s, d in zip(shifts, dims):
        sources[d] = (sources[d] + s) % max(shape[d], 1)
    return _mesh(len(shape), [((a,), i) for a, i in enumerate(sources)])


def _roll_vjp(g: Any, out: Any, x: Any, *, shifts: tuple, dims: Any) -> Any:
    if dims is None:
        n = int(np.prod(x.shape, dtype=np.int64))
        return np.reshape(np.reshape(g, (n,))[_rolled((n,), shifts, (0,))], x.shape)
    return g[_rolled(x.shape, shifts, dims)]


FLIP = _shape(
    "flip", lambda x, dims: np.flip(_a(x), dims).copy(),
    (lambda g, out, x, *, dims: g[_reversed(x.ndim, dims)],),
    _same_shape, sg="flip",
    doc="Reverse the order of elements along ``dims``.")

ROLL = _shape(
    "roll", lambda x, shifts, dims: np.roll(_a(x), shifts[0] if dims is None else shifts, dims),
    (_roll_vjp,),
    _same_shape, sg="roll",
    doc="Shift elements cyclically by ``shifts`` along ``dims`` (flattened if ``dims`` is None).")


# ----------------------------------------------------------------------------- pad
def pad_pairs(pad: tuple, ndim: int) -> list:
    """PyTorch's flat ``pad`` (last dim first) as ``(dim, before, after)`` triples.

    >>> pad_pairs((1, 2, 3, 4), 3)
    [(2, 1, 2), (1, 3, 4)]
    """
    return [(ndim - 1 - k, pad[2 * k], pad[2 * k + 1]) for k in range(len(pad) // 2)]


def _pad_shape(shapes: Any, attrs: dict) -> tuple:
    shape = list(shapes[0])
    for d, lo, hi in pad_pairs(attrs["pad"], len(shape)):
        if isinstance(shape[d], str):
            raise ShapeError(f"pad: dim {d} has symbolic size {shape[d]!r}; give it an int")
        shape[d] = shape[d] + lo + hi
    return tuple(shape)


def _source(n: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """The input index each output position of a padded dim reads (reflect/replicate)."""
    j = np.arange(n + lo + hi) - lo
    if mode == "replicate":
        return np.clip(j, 0, n - 1)
    period = 2 * (n - 1) if n > 1 else 1              # reflect: no edge repeated
    j = np.abs(j) % period
    return np.where(j >= n, period - j, j)


def _pad_index(shape: tuple, pad: tuple, mode: str) -> tuple:
    sources = [np.arange(n) for n in shape]
    for d, lo, hi in pad_pairs(pad, len(shape)):
        sources[d] = _source(shape[d], lo, hi, mode)
    return _mesh(len(shape), [((d,), s) for d, s in enumerate(sources)])


def _crop(shape: tuple, pad: tuple) -> tuple:
    """(source slices of the input, destination slices of the output) for constant mode."""
    src, dst = [slice(None)] * len(shape), [slice(None)] * len(shape)
    for d, lo, hi in pad_pairs(pad, len(shape)):
        n = shape[d]
        src[d] = slice(max(0, -lo), n - max(0, -hi))
        dst[d] = slice(max(0, lo), max(0, lo) + max(0, n - max(0, -lo) - max(0, -hi)))
    return tuple(src), tuple(dst)


def pad_kernel(x: Any, pad: tuple, mode: str = "constant", value: float = 0.0) -> np.ndarray:
    """``F.pad``'s forward: constant (negative sizes crop), reflect or replicate."""
    x = _a(x)
    if mode != "constant":
        return x[_pad_index(x.shape, pad, mode)]
    out = np.full(_pad_shape([x.shape], {"pad": pad}), value, dtype=x.dtype)
    src, dst = _crop(x.shape, pad)
    out[dst] = x[src]
    return out


def _pad_vjp(g: Any, out: Any, x: Any, *, pad: tuple, mode: str, value: float) -> Any:
    if mode != "constant":
        return _add_back(g, x.shape, _pad_index(x.shape, pad, mode))
    src, dst = _crop(x.shape, pad)
    return _add_back(g[dst], x.shape, src)


PAD = _shape("pad", pad_kernel, (_pad_vjp,), _pad_shape, sg="pad", methods=(),
             doc="Pad the last dims by PyTorch's ``pad`` sizes (last dim first): constant, "
                 "reflect or replicate.")


# ----------------------------------------------------------------------------- repeat_interleave
def _interleave_index(n: int, repeats: tuple) -> np.ndarray:
    return np.repeat(np.arange(n), repeats)


def _interleave_shape(shapes: Any, attrs: dict) -> tuple:
    shape, dim, repeats = tuple(shapes[0]), attrs["dim"], attrs["repeats"]
    if dim is None:
        n = int(np.prod(shape, dtype=np.int64))
        return (len(_interleave_index(n, repeats)),)
    out = list(shape)
    out[dim] = len(_interleave_index(shape[dim], repeats))
    return tuple(out)


def _interleave_kernel(x: Any, repeats: tuple, dim: Any) -> np.ndarray:
    x = _a(x)
    if dim is None:
        return np.repeat(x.reshape(-1), repeats)
    return np.repeat(x, repeats, axis=dim)


def _interleave_vjp(g: Any, out: Any, x: Any, *, repeats: tuple, dim: Any) -> Any:
    if dim is None:
        n = int(np.prod(x.shape, dtype=np.int64))
        return np.reshape(_add_back(g, (n,), (_interleave_index(n, repeats),)), x.shape)
    index = (slice(None),) * dim + (_interleave_index(x.shape[dim], repeats),)
    return _add_back(g, x.shape, index)


REPEAT_INTERLEAVE = _shape(
    "repeat_interleave", _interleave_kernel, (_interleave_vjp,), _interleave_shape,
    sg="repeat_interleave",
    doc="Repeat each element ``repeats`` times along ``dim`` (of the flattened input if None).")


# ----------------------------------------------------------------------------- unfold
def _unfold_index(shape: tuple, dimension: int, size: int, step: int) -> tuple:
    n, nd = shape[dimension], len(shape)
    windows = (np.arange((n - size) // step + 1) * step)[:, None] + np.arange(size)[None, :]
    parts = [((a,), np.arange(m)) for a, m in enumerate(shape) if a != dimension]
    parts.insert(dimension, ((dimension, nd), windows))
    return _mesh(nd + 1, parts)


def _unfold_shape(shapes: Any, attrs: dict) -> tuple:
    shape, d = list(shapes[0]), attrs["dimension"]
    size, step = attrs["size"], attrs["step"]
    shape[d] = (shape[d] - size) // step + 1
    return tuple(shape) + (size,)


UNFOLD = _shape(
    "unfold",
    lambda x, dimension, size, step: _a(x)[_unfold_index(_a(x).shape, dimension, size, step)],
    (lambda g, out, x, *, dimension, size, step:
     _add_back(g, x.shape, _unfold_index(x.shape, dimension, size, step)),),
    _unfold_shape, methods=(),
    doc="``Tensor.unfold(dimension, size, step)``: the windows of ``size`` every ``step`` "
        "along ``dimension``, as a new last dim.")


# ----------------------------------------------------------------------------- gather, scatter
def dim_index(dim: int, index: np.ndarray) -> tuple:
    """The advanced index of ``x`` that gather reads and scatter writes along ``dim``.

    >>> dim_index(0, np.array([[2, 0]]))[0].tolist(), dim_index(0, np.array([[2, 0]]))[1].tolist()
    ([[2, 0]], [[0, 1]])
    """
    parts = [((a,), np.arange(n)) for a, n in enumerate(index.shape) if a != dim]
    parts.insert(dim, (tuple(range(index.ndim)), index))
    return _mesh(index.ndim, parts)


def gather_kernel(x: Any, dim: int, index: np.ndarray) -> np.ndarray:
    """``out[i][j] = x[index[i][j]][j]`` (dim 0): ``torch.gather``'s forward."""
    return _a(_a(x)[dim_index(dim, index)])


def _index_shape(shapes: Any, attrs: dict) -> tuple:
    return tuple(attrs["index"].shape)


def _input_shape(shapes: Any, attrs: dict) -> tuple:
    return tuple(shapes[0])


GATHER = _shape(
    "gather", gather_kernel,
    (lambda g, out, x, *, dim, index: _add_back(g, x.shape, dim_index(dim, index)),),
    _index_shape, sg="gather",
    doc="Values of ``input`` along ``dim`` at ``index`` (``out[i][j] = input[index[i][j]][j]`` "
        "for dim 0).")


def _src_part(src: Any, index: np.ndarray) -> Any:
    """The leading ``index.shape`` block of ``src`` (PyTorch reads only that part)."""
    return src[tuple(slice(0, n) for n in index.shape)]


def _scatter_kernel(x: Any, src: Any, dim: int, index: np.ndarray) -> np.ndarray:
    out = np.array(x, copy=True)
    out[dim_index(dim, index)] = _src_part(_a(src), index)
    return out


def _scatter_add_kernel(x: Any, src: Any, dim: int, index: np.ndarray) -> np.ndarray:
    out = np.array(x, copy=True)
    np.add.at(out, dim_index(dim, index), _src_part(_a(src), index).astype(out.dtype))
    return out


def _kept(shape: tuple, dim: int, index: np.ndarray) -> np.ndarray:
    """True where scatter leaves ``input``'s value (PyTorch's gradient mask for ``input``)."""
    keep = np.ones(shape, dtype=bool)
    keep[dim_index(dim, index)] = False
    return keep


def _src_vjp(g: Any, out: Any, x: Any, src: Any, *, dim: int, index: np.ndarray) -> Any:
    block = g[dim_index(dim, index)]
    if tuple(src.shape) == tuple(index.shape):
        return block
    return _add_back(block, src.shape, tuple(slice(0, n) for n in index.shape))


SCATTER = _shape(
    "scatter", _scatter_kernel,
    (lambda g, out, x, src, *, dim, index: g * _kept(x.shape, dim, index), _src_vjp),
    _input_shape, sg="scatter", arity=2,
    doc="``input`` with ``src`` (or ``value``) written along ``dim`` at ``index``; "
        "overwritten entries get no gradient.")
SCATTER_ADD_DIM = _shape(
    "scatter_add_dim", _scatter_add_kernel,
    (lambda g, out, x, src, *, dim, index: g, _src_vjp),
    _input_shape, sg="scatter_add", arity=2,
    doc="``input`` with ``src`` added along ``dim`` at ``index`` (repeated indices add up).")


# ----------------------------------------------------------------------------- masked_fill
def _masked_fill_shape(shapes: Any, attrs: dict) -> tuple:
    return broadcast_shapes(shapes[0], shapes[1])


def _masked_fill_kernel(x: Any, mask: Any, value: Any) -> np.ndarray:
    x = _a(x)
    return np.where(mask, _a(value).astype(x.dtype), x)


MASKED_FILL = _shape(
    "masked_fill", _masked_fill_kernel,
    (lambda g, out, x, mask, value: np.where(mask, 0, g), None,
     lambda g, out, x, mask, value: np.where(mask, g, 0)),
    _masked_fill_shape, sg="masked_fill", arity=3,
    doc="``input`` with ``value`` where ``mask`` is True (no gradient there, none to ``mask``).")
