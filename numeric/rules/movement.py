"""Movement ops: reshape, permute, broadcast, indexing and its adjoint, concat, stack.

Integer dtypes stay integer; values are never changed, only moved.

>>> scatter_add(np.array([1.0, 2.0, 3.0]), shape=(2,), index=(np.array([0, 1, 0]),))
array([4., 2.])
"""
from __future__ import annotations

from typing import Any

import numpy as np

from numeric.rules.core import PROMOTE, apply, declare
from numeric.shapes import (
    broadcast_to_shape, concat_shape, getitem_shape, reshape_shape, stack_shape,
)

_a = np.asarray


def is_basic(index: Any) -> bool:
    """True for an index of ints, slices, None and Ellipsis only (it cannot repeat an element)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer))
               for p in parts)


def scatter_add(x: Any, shape: tuple[int, ...], index: Any) -> np.ndarray:
    """Zeros of ``shape`` with ``x`` added at ``index``; repeated indices add up.

    The adjoint of ``x[index]``.
    """
    x = _a(x)
    out = np.zeros(shape, dtype=x.dtype)
    if is_basic(index):
        out[index] += x               # a basic index cannot repeat an element
    else:
        np.add.at(out, index, x)
    return out


def _permute_vjp(g, out, x, *, axes):
    inverse = [0] * len(axes)
    for i, a in enumerate(axes):
        inverse[a] = i
    return np.transpose(g, tuple(inverse))


def _concat_vjp(g, out, *xs, axis=0):
    # Note [Variadic VJPs]: one call returns every input's cotangent, each a slice of
    # g at a running offset, so backward through n inputs is O(n), not O(n^2)
    axis %= g.ndim
    lead = (slice(None),) * axis
    cts = []
    start = 0
    for x in xs:
        stop = start + x.shape[axis]
        cts.append(g[lead + (slice(start, stop),)])
        start = stop
    return tuple(cts)


def _stack_vjp(g, out, *xs, axis=0):
    axis %= g.ndim
    lead = (slice(None),) * axis
    return tuple(g[lead + (i,)] for i in range(len(xs)))


def _movement(name: str, kernel: Any, vjp: Any, shape: Any, *, doc: str, sg: Any = (),
              methods: Any = None, arity: Any = 1, aliases: tuple = ()) -> Any:
    return declare(name, kernel, (vjp,), group="movement", arity=arity, shape=shape,
                   dtype=PROMOTE, sg=sg, methods=methods, doc=doc, aliases=aliases)


RESHAPE = _movement(
    "reshape", lambda x, shape: _a(x).reshape(shape),
    lambda g, out, x, *, shape: np.reshape(g, x.shape),
    lambda shapes, attrs: reshape_shape(shapes[0], attrs["shape"]),
    sg=("reshape", "view", "flatten", "unsqueeze", "squeeze"),
    methods=("reshape", "view", "flatten", "unsqueeze", "squeeze", "view_as"),
    doc="Same elements, new shape; one dim may be -1 (inferred).")
PERMUTE = _movement(
    "permute", lambda x, axes: _a(x).transpose(axes), _permute_vjp,
    lambda shapes, attrs: tuple(tuple(shapes[0])[a] for a in attrs["axes"]),
    sg=("permute", "transpose"), aliases=("transpose",),
    doc="Reorder dims: ``permute(x, (1, 0))`` is the transpose of a matrix.")
BROADCAST_TO = _movement(
    "broadcast_to", lambda x, shape: np.broadcast_to(x, shape),
    lambda g, out, x, *, shape: g,                  # unbroadcast sums it back
    lambda shapes, attrs: broadcast_to_shape(shapes[0], attrs["shape"]),
    sg=("broadcast_to", "expand"), methods=("broadcast_to", "expand", "expand_as"),
    doc="Broadcast to ``shape`` (numpy rules; -1 keeps a dim, as ``expand``).")
GETITEM = _movement(
    "getitem", lambda x, index: _a(_a(x)[index]),
    lambda g, out, x, *, index: apply(SCATTER_ADD.op, g, shape=x.shape, index=index),
    lambda shapes, attrs: getitem_shape(shapes[0], attrs["index"]),
    doc="``input[index]``: ints, slices, None, Ellipsis, int lists/arrays, bool masks.")
SCATTER_ADD = _movement(
    "scatter_add", scatter_add, lambda g, out, x, *, shape, index: g[index],
    lambda shapes, attrs: tuple(attrs["shape"]),
    doc="Zeros of ``shape`` with the input added at ``index`` (the adjoint of getitem).")
CONCAT = _movement(
    "concat", lambda *xs, axis=0: np.concatenate(xs, axis=axis), _concat_vjp,
    lambda shapes, attrs: concat_shape(shapes, attrs["axis"]), arity=None,
    sg="cat", methods=(), aliases=("concatenate",),
    doc="Concatenate along an existing ``dim``.")
STACK = _movement(
    "stack", lambda *xs, axis=0: np.stack(xs, axis=axis), _stack_vjp,
    lambda shapes, attrs: stack_shape(shapes, attrs["axis"]), arity=None,
    sg="stack", methods=(), doc="Stack equal-shaped tensors along a new ``dim``.")
