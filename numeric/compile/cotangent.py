"""Cotangents while a backward is emitted: scales, materialisation, accumulation.

:class:`Accumulator` owns the emitted lines and the cotangent of every slot; the
backward emitter (:mod:`numeric.compile.backward`) builds on it.  Each method emits
source and computes the same thing on the probe values, so later steps know every
cotangent's shape, dtype and value (Note [Lazy cotangent scale]).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from numeric.vjps import unbroadcast

from numeric.compile.common import LINE_COST, dtype_src, same
from numeric.compile.templates import SMALL

__all__ = ["Ct", "Accumulator", "static_unbroadcast"]


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


class Accumulator:
    """The lines emitted so far and each slot's pending cotangent (``ct``).

    ``counter`` numbers fresh variables, ``cost`` sums the per-line cost model
    (``LINE_COST`` per line plus its elements), ``var_probe`` holds the probe value
    of every scale variable.
    """

    def __init__(self, shapes: dict, glob: dict) -> None:
        self.shapes = shapes
        self.glob = dict(glob)
        self.ct: dict[int, Ct] = {}
        self.lines: list[str] = []
        self.counter = 0
        self.cost = 0
        self.var_probe: dict[str, float] = {}

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def emit(self, name: str, expr: str, val: Any, note: str) -> None:
        self.lines.append(f"    {name} = {expr}  # {note}")
        self.cost += LINE_COST + int(np.size(val))

    def scale_src(self, r: Ct) -> str | None:
        """The scale of ``r`` as a Python expression (None for exactly 1)."""
        if r.var is None:
            return None if r.c == 1.0 else repr(r.c)
        if r.c != 1.0:
            v = self.fresh("s")
            self.lines.append(f"    {v} = {r.var} * {r.c!r}")
            self.var_probe[v] = self.var_probe[r.var] * r.c
            r.var, r.c = v, 1.0
        return r.var

    def scale_probe(self, r: Ct) -> float:
        return (self.var_probe[r.var] if r.var is not None else 1.0) * r.c

    def materialize(self, r: Ct) -> Ct:
        """``r`` as an array with scale 1 (emitting the multiply or the fill)."""
        s = self.scale_src(r)
        if r.name is None:
            dt = dtype_src(r.dtype, self.glob)
            val = np.full(r.shape, self.scale_probe(r), r.dtype)
            name = self.fresh("g")
            if math.prod(r.shape) <= SMALL:
                self.emit(name, f"np.full({r.shape!r}, {s or '1.0'}, {dt})", val, "uniform")
                return Ct(name, val, True)
            self.emit(name, f"np.broadcast_to(np.full((), {s or '1.0'}, {dt}), {r.shape!r})",
                      val, "uniform")
            return Ct(name, np.broadcast_to(val, r.shape), False)
        if s is None:
            return r
        name = self.fresh("g")
        dtype = np.asarray(r.val).dtype
        if r.var is None and dtype.kind == "f":
            # a build-time factor: a 0-d array of the cotangent's dtype, which numpy
            # multiplies faster than a Python float on small arrays (same result)
            s = f"k{self.counter}"
            self.glob[s] = np.asarray(r.c, dtype)
        with np.errstate(all="ignore"):
            val = r.val * (self.glob[s] if r.var is None and dtype.kind == "f"
                           else self.scale_probe(r))
        if r.owned and isinstance(r.val, np.ndarray) and r.val.shape:
            self.emit(name, f"np.multiply({r.name}, {s}, out={r.name})", val, "scale")
        else:
            self.emit(name, f"{r.name} * {s}", val, "scale")
        return Ct(name, val, isinstance(val, np.ndarray))

    def add_arrays(self, s: int, p: Ct, r: Ct) -> Ct:
        shape = self.shapes[s][0]
        new = self.fresh("g")
        if p.owned and shape and isinstance(p.val, np.ndarray):
            self.lines.append(f"    {new} = np.add({p.name}, {r.name}, out={p.name})  # accumulate")
        else:
            self.lines.append(f"    {new} = {p.name} + {r.name}  # accumulate")
        self.cost += LINE_COST + math.prod(shape)
        return Ct(new, p.val + r.val, True, p.var, p.c)

    def unbroadcast(self, s: int, r: Ct) -> Ct:
        """``r`` reduced to slot ``s``'s shape and dtype (a count for uniform ones)."""
        shape, dtype = self.shapes[s]
        if r.name is None:
            if r.shape != shape or r.dtype != dtype:    # unbroadcast ones: a count
                n = math.prod(r.shape) / max(math.prod(shape), 1)
                r = Ct(None, None, False, r.var, r.c * n, shape, dtype)
            return r
        val = r.val
        if np.shape(val) == shape and np.asarray(val).dtype == dtype:
            return r
        ref = unbroadcast(val, shape, dtype)
        expr = static_unbroadcast(r.name, np.shape(val), np.asarray(val).dtype,
                                  shape, dtype, self.glob)
        got = None
        if expr is not None:
            got = eval(expr.replace(r.name, "_g"), dict(self.glob, _g=val))  # noqa: S307
        name = self.fresh("g")
        if got is not None and same(got, ref):
            self.emit(name, expr, got, "unbroadcast")
            return Ct(name, got, isinstance(got, np.ndarray) and got.base is None, r.var, r.c)
        self.emit(name, f"UB({r.name}, {shape!r}, {dtype_src(dtype, self.glob)})", ref,
                  "unbroadcast")
        return Ct(name, ref, False, r.var, r.c)

    def accumulate(self, s: int, r: Ct) -> None:
        """Add cotangent ``r`` to slot ``s``'s (the one accumulation site)."""
        shape, dtype = self.shapes[s]
        r = self.unbroadcast(s, r)
        p = self.ct.get(s)
        if p is None:
            self.ct[s] = r
        elif p.name is None and r.name is None:
            if p.var is None and r.var is None:
                self.ct[s] = Ct(None, None, False, None, p.c + r.c, shape, dtype)
            else:
                v = self.fresh("s")
                self.lines.append(f"    {v} = {self.scale_src(p) or '1.0'} + "
                                  f"{self.scale_src(r) or '1.0'}")
                self.var_probe[v] = self.scale_probe(p) + self.scale_probe(r)
                self.ct[s] = Ct(None, None, False, v, 1.0, shape, dtype)
        elif p.name is not None and r.name is not None and (p.var, p.c) == (r.var, r.c):
            self.ct[s] = self.add_arrays(s, p, r)
        else:
            self.ct[s] = self.add_arrays(s, self.materialize(p), self.materialize(r))
