"""Hand-written vector-Jacobian products: ``VJP[op]``, one tuple per op.

Each VJP is declared with its op in :mod:`numeric.rules`; ``VJP`` is the plain
dict view the executor indexes.  This module keeps the contract and
:func:`unbroadcast`, the one place cotangents are reduced to their input's shape.

``VJP[op][i](g, out, *inputs, **attrs)`` is the cotangent of input ``i`` given
the cotangent ``g`` of the op's output ``out``.  ``None`` in a tuple means that
input never gets a gradient (the condition of ``WHERE``).  The variadic ops
``CONCAT`` and ``STACK`` have a 1-tuple whose callable returns every input's
cotangent at once (Note [Variadic VJPs]).

Note [Variadic VJPs]
    ``VJP[op][0](g, out, *inputs, **attrs)`` of a variadic op returns a tuple
    with one cotangent per input (``None`` = none), in one call: ``CONCAT``
    slices ``g`` at a running offset, ``STACK`` indexes it along the new axis.
    A per-input call (``argnum=i``) would pass all n inputs n times and
    re-count the offsets, O(n^2): 16 000 inputs took 19 s.  The executor, the
    compiled backward and verify's mutants all call it once per node.

Rules are written as if shapes matched (Note [Broadcast cotangents]): the
executor reduces each cotangent to its input's shape and dtype in one place,
:func:`unbroadcast`.

Note [The VJP vocabulary]
    So that symgrad's ``Tensor`` can run these very functions to build
    differentiable graphs (``create_graph=True``), VJPs use only:

    * operators ``+ - * / ** @``, unary ``-``, comparisons ``> >= < <= ==``;
    * ufuncs ``np.exp``, ``np.log``, ``np.cos``, ``np.sin``, ``np.expm1``,
      ``np.sqrt``, and the gradient-free ``np.sign`` and ``np.trunc``;
    * array functions ``np.sum`` (with ``axis`` tuple and ``keepdims``),
      ``np.reshape``, ``np.transpose``, ``np.swapaxes``, ``np.broadcast_to``,
      ``np.where``, ``np.ones_like``, ``np.zeros_like``, ``np.expand_dims``;
    * indexing ``g[index]`` and ``numeric.apply(op, ...)`` for any op (``Op.SCATTER_ADD``,
      ``Op.COSH`` in ``sinh``'s VJP, ...);
      :func:`unbroadcast` also uses ``apply(Op.CAST, g, dtype=)``;
    * attributes ``.shape``, ``.ndim`` and ``.dtype`` of ``g``, ``out`` and inputs;
    * ``numeric.apply(Op.CUMSUM | Op.CUMPROD, g, axis=)`` (a scan's backward is a scan);
    * the VJP of an ``AT_POINT`` op (sort, topk, ...) reads its input's values with
      ``np.asarray`` to fix its indices (``values_at`` in numeric/rules/reductions.py),
      never for a value that carries gradient.

    Masks are multiplied in (``g * (x > 0)``: a float times a bool keeps the
    float's dtype) or selected with ``np.where(mask, a, 0)``.  No in-place
    mutation, no ``astype``, no Python-float promotion of float32 (NEP 50 keeps
    Python scalars weak).

Note [Kink conventions]  (PyTorch's; see docs/conventions.md)
    relu'(0) = 0; abs'(0) = sign(0) = 0; clamp passes the gradient where
    ``min <= x <= max`` (bounds inclusive); maximum/minimum give each input half
    the gradient at a tie; max/min reductions split the gradient evenly among
    tied extrema; ``d(x**y)/dx`` is 0 where ``y == 0``; ``d(x**y)/dy`` is 0 where
    ``x == 0`` and ``y >= 0``.

>>> import numpy as np
>>> VJP[Op.MUL][0](np.float32([1, 1]), None, np.float32([2, 3]), np.float32([4, 5]))
array([4., 5.], dtype=float32)
"""
from __future__ import annotations

from typing import Any

import numpy as np

from numeric.rules import VJP
from numeric.rules.core import apply
from numeric.ops import Op

__all__ = ["VJP", "unbroadcast"]


#: (cotangent shape, input shape) -> the axes unbroadcast sums over (a small cache:
#: eager training meets the same few shape pairs in every step)
_SUMMED: dict[tuple, tuple[int, ...]] = {}


def _summed_axes(gshape: tuple, shape: tuple) -> tuple[int, ...]:
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1)
    if len(_SUMMED) > 1024:
        _SUMMED.clear()
    _SUMMED[gshape, shape] = axes
    return axes


def unbroadcast(g: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """Reduce a cotangent to an input's ``shape`` and ``dtype``.

    Note [Broadcast cotangents]: an input of ``shape`` was broadcast to the
    output's shape, so its cotangent is the sum over the leading axes numpy
    added and over the axes where the input had size 1.  A cotangent with fewer
    elements than ``shape`` (a VJP that relied on broadcasting) is expanded.

    >>> unbroadcast(np.ones((2, 3, 4)), (3, 1), np.float32)
    array([[8.],
           [8.],
           [8.]], dtype=float32)
    """
    gshape = g.shape
    if gshape != shape:
        lead = len(gshape) - len(shape)
        if lead >= 0:
            axes = _SUMMED.get((gshape, shape))
            if axes is None:
                axes = _summed_axes(gshape, shape)
            if g.__class__ is np.ndarray:
                # Note [Tiny arrays]: np.sum's Python wrapper costs more than the
                # sum itself on the small arrays of eager training; the ufunc
                # method and ndarray.reshape skip it
                g = np.add.reduce(g, axis=axes).reshape(shape) if axes else g
            elif axes:
                g = np.reshape(np.sum(g, axis=axes), shape)
        if g.shape != shape:
            try:
                g = np.broadcast_to(g, shape)
            except ValueError:
                raise ValueError(f"cannot reduce a cotangent of shape {gshape} to an input of "
                                 f"shape {shape}: a VJP returned a wrong shape") from None
    if g.dtype != dtype:
        g = apply(Op.CAST, g, dtype=dtype)
    return g
