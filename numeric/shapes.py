"""Shape helpers for the shape rules: dims may be ints or strings (``"N"``).

Eager values carry their own shape; symbolic tensors (and graph nodes built
without values) get theirs from each op's shape rule in :mod:`numeric.rules`,
which are written with these helpers.  A dim is an ``int`` or a ``str`` naming
an unknown size; two string dims are equal only if they are the same string.
Errors are :class:`numeric.errors.ShapeError` (``sg.ShapeError``) naming both
shapes and the fix.

>>> broadcast_shapes(("N", 1), (3,))
('N', 3)
>>> matmul_shape(("N", "d"), ("d",))
('N',)
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from numeric.errors import ShapeError

__all__ = [
    "Dim", "fmt", "broadcast_shapes", "matmul_shape", "reduce_shape", "reshape_shape",
    "getitem_shape", "concat_shape", "stack_shape", "broadcast_to_shape", "ShapeError",
]

Dim = Any  # int or str
Shape = tuple


def fmt(shape: Sequence[Dim]) -> str:
    """Format a shape like a Python tuple, with string dims unquoted.

    >>> fmt(("N", 3)), fmt((2,))
    ('(N, 3)', '(2,)')
    """
    parts = [str(d) for d in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def broadcast_shapes(*shapes: Sequence[Dim]) -> tuple:
    """numpy broadcasting of shapes whose dims may be strings.

    >>> broadcast_shapes((3, 1), (1, 4), (4,))
    (3, 4)
    >>> broadcast_shapes((2,), (3,))
    Traceback (most recent call last):
    ...
    numeric.errors.ShapeError: shapes (2,) and (3,) do not broadcast: dim 0 is 2 vs 3 ...
    """
    out: list = []
    for shape in shapes:
        shape = tuple(shape)
        if len(shape) > len(out):
            out = [1] * (len(shape) - len(out)) + out
        for i in range(1, len(shape) + 1):
            a, b = out[-i], shape[-i]
            if a == b or b == 1:
                continue
            if a == 1:
                out[-i] = b
                continue
            first = tuple(out)
            raise ShapeError(
                f"shapes {fmt(first)} and {fmt(shape)} do not broadcast: dim {len(shape) - i} "
                f"is {a} vs {b} (aligned from the right; each pair must be equal or one of "
                "them 1). Reshape or unsqueeze an operand so the dims line up.")
    return tuple(out)


def matmul_shape(a: Sequence[Dim], b: Sequence[Dim]) -> tuple:
    """Result shape of ``a @ b`` (numpy/PyTorch matmul rules, batch dims broadcast).

    >>> matmul_shape((5, "N", 3), (3, 2)), matmul_shape((3,), (3,))
    ((5, 'N', 2), ())
    >>> matmul_shape((2, 3), (4, 5))
    Traceback (most recent call last):
    ...
    numeric.errors.ShapeError: matmul: inner dimensions differ: (2, 3) @ (4, 5) ...
    """
    a, b = tuple(a), tuple(b)
    if not a or not b:
        raise ShapeError(f"matmul: both operands need at least 1 dimension, got shapes "
                         f"{fmt(a)} and {fmt(b)}; use * for scalar multiplication")
    a2 = a if len(a) > 1 else (1,) + a
    b2 = b if len(b) > 1 else b + (1,)
    if a2[-1] != b2[-2]:
        raise ShapeError(
            f"matmul: inner dimensions differ: {fmt(a)} @ {fmt(b)} ({a2[-1]} != {b2[-2]}); "
            "the last dim of the left operand must equal the "
            f"{'only' if len(b) == 1 else 'second-to-last'} dim of the right one "
            "(transpose or reshape an operand)")
    batch = broadcast_shapes(a2[:-2], b2[:-2])
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def reduce_shape(shape: Sequence[Dim], axis: Any, keepdims: bool) -> tuple:
    """Shape after reducing ``axis`` (tuple of non-negative ints or None).

    >>> reduce_shape(("N", 3), (0,), False), reduce_shape((2, 3), None, True)
    ((3,), (1, 1))
    """
    shape = tuple(shape)
    axes = range(len(shape)) if axis is None else axis
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def reshape_shape(shape: Sequence[Dim], new: Sequence[Dim]) -> tuple:
    """Check a reshape: equal element counts when every dim is known.

    >>> reshape_shape((2, 3), (3, 2))
    (3, 2)
    """
    shape, new = tuple(shape), tuple(new)
    if all(isinstance(d, int) for d in shape + new):
        if int(np.prod(shape)) != int(np.prod(new)):
            raise ShapeError(f"cannot reshape a tensor of shape {fmt(shape)} "
                             f"({int(np.prod(shape))} elements) to {fmt(new)} "
                             f"({int(np.prod(new))} elements); the counts must match")
    return new


def _slice_len(s: slice, d: Dim) -> Dim:
    if isinstance(d, int):
        return len(range(*s.indices(d)))
    if s.start is None and s.stop is None and s.step in (None, 1):
        return d
    raise ShapeError(f"cannot slice the symbolic dim {d!r} with {s}; only ':' is supported "
                     "on a symbolic dim (bind a value with sg.evaluate first)")


def getitem_shape(shape: Sequence[Dim], index: tuple) -> tuple:
    """Result shape of ``x[index]`` for a normalised index (numpy rules).

    >>> getitem_shape(("N", 4), (slice(None), 0))
    ('N',)
    >>> getitem_shape((5, 4), (np.array([0, 1]), None, slice(1, 3)))
    (2, 1, 2)
    >>> getitem_shape((5, 4, 3), (np.array([0, 1]), slice(None), 0))
    (2, 4)
    """
    shape = tuple(shape)
    n_used = sum(1 for p in index if p is not None and p is not Ellipsis
                 and not (isinstance(p, np.ndarray) and p.dtype == np.bool_))
    n_used += sum(p.ndim for p in index if isinstance(p, np.ndarray) and p.dtype == np.bool_)
    if n_used > len(shape):
        raise ShapeError(f"too many indices for a tensor of shape {fmt(shape)}: {n_used} "
                         f"indices for {len(shape)} dims")
    parts: list = []
    for p in index:
        if p is Ellipsis:
            parts.extend([slice(None)] * (len(shape) - n_used))
            n_used = len(shape)
        else:
            parts.append(p)
    parts.extend([slice(None)] * (len(shape) - n_used))
    out: list = []
    adv_shapes: list = []
    adv_pos: list = []
    dim = 0
    for p in parts:
        if p is None:
            out.append(1)
        elif isinstance(p, slice):
            out.append(_slice_len(p, shape[dim]))
            dim += 1
        elif isinstance(p, np.ndarray) and p.dtype == np.bool_:
            adv_pos.append(len(out))
            adv_shapes.append((int(p.sum()),))
            dim += p.ndim
        elif isinstance(p, np.ndarray):
            adv_pos.append(len(out))
            adv_shapes.append(p.shape)
            dim += 1
        else:  # an int: a 0-d advanced index when arrays are present
            adv_pos.append(len(out))
            adv_shapes.append(())
            dim += 1
    if any(adv_shapes):
        adv = broadcast_shapes(*adv_shapes)
        # numpy: advanced indices next to each other keep their place, else go first
        contiguous = len(set(adv_pos)) == 1
        at = adv_pos[0] if contiguous else 0
        out = out[:at] + list(adv) + out[at:]
    return tuple(out)


def concat_shape(shapes: Sequence[Sequence[Dim]], axis: int) -> tuple:
    """Result shape of concatenating ``shapes`` along ``axis``.

    >>> concat_shape([(2, "d"), (3, "d")], 0), concat_shape([("N", 1), ("M", 1)], 0)
    ((5, 'd'), ('N+M', 1))
    """
    first = tuple(shapes[0])
    total: Any = 0
    for s in shapes:
        s = tuple(s)
        if len(s) != len(first) or any(a != b for i, (a, b) in enumerate(zip(s, first))
                                       if i != axis):
            raise ShapeError(f"cat: shapes {fmt(first)} and {fmt(s)} differ outside dim "
                             f"{axis}; every dim except the concatenated one must match")
        d = s[axis]
        if isinstance(total, int) and isinstance(d, int):
            total += d
        else:
            total = f"{total}+{d}" if total != 0 else d
    return first[:axis] + (total,) + first[axis + 1:]


def stack_shape(shapes: Sequence[Sequence[Dim]], axis: int) -> tuple:
    """Result shape of stacking equal ``shapes`` along a new ``axis``.

    >>> stack_shape([("N", 2), ("N", 2)], 1)
    ('N', 2, 2)
    """
    first = tuple(shapes[0])
    for s in shapes[1:]:
        if tuple(s) != first:
            raise ShapeError(f"stack expects tensors of equal shape, got {fmt(first)} "
                             f"and {fmt(s)}")
    return first[:axis] + (len(shapes),) + first[axis:]


def broadcast_to_shape(shape: Sequence[Dim], target: Sequence[Dim]) -> tuple:
    """Check that ``shape`` broadcasts to ``target`` and return ``target``.

    >>> broadcast_to_shape((3, 1), (2, 3, 4))
    (2, 3, 4)
    """
    target = tuple(target)
    if broadcast_shapes(shape, target) != target:
        raise ShapeError(f"cannot expand shape {fmt(shape)} to {fmt(target)}")
    return target
