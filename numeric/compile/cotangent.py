"""Cotangents while a backward is emitted, and ``unbroadcast`` with known shapes."""
from __future__ import annotations

from typing import Any

import numpy as np

from numeric.compile.common import dtype_src

__all__ = ["Ct", "static_unbroadcast"]


class Ct:
    """A cotangent while the backward is emitted: ``scale * array``.

    ``name`` is the variable holding the array part and ``val`` its probe value;
    ``name=None`` stands for ones of ``shape``/``dtype`` (a uniform cotangent, never
    materialised until an instruction needs it).  ``owned``: a fresh array nothing
    else refers to (may be written in place).  The scale is ``var * c``: ``var`` a
    Python-float variable of the generated code (None: 1), ``c`` a build-time float.
    """

    __slots__ = ("name", "val", "owned", "var", "c", "shape", "dtype")

    def __init__(self, name: str | None, val: Any, owned: bool, var: str | None = None,
                 c: float = 1.0, shape: tuple = (), dtype: Any = None) -> None:
        self.name, self.val, self.owned, self.var, self.c = name, val, owned, var, c
        self.shape, self.dtype = shape, dtype


def static_unbroadcast(name: str, gshape: tuple, gdtype: np.dtype, shape: tuple,
                       dtype: np.dtype, glob: dict) -> str | None:
    """``unbroadcast`` with the shapes known at build time: one sum, reshape, cast."""
    lead = len(gshape) - len(shape)
    if lead < 0:
        return None
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and gshape[lead + i] != 1)
    expr = name
    if axes and axes == tuple(range(lead)):     # only leading axes: the sum has the shape
        expr = f"np.add.reduce({expr}, axis={axes!r})"
    elif axes:
        expr = f"np.add.reduce({expr}, axis={axes!r}, keepdims=True)"
        kept = tuple(1 if i in axes else n for i, n in enumerate(gshape))
        if kept != shape:
            expr += f".reshape({shape!r})"
    elif gshape != shape:
        return None
    if gdtype != dtype:
        expr += f".astype({dtype_src(dtype, glob)}, copy=False)"
    return expr
