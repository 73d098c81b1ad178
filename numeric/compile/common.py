"""Small helpers shared by the emitters: op lookup, naming, literals, exact comparison."""
from __future__ import annotations

import math
import re
from typing import Any, Callable

import numpy as np

from numeric.kernels import FORWARD
from numeric.ops import Op
from numeric.vjps import VJP

# cost model of an emitted line, in array elements: ~1 us of call overhead ~ 1000 elements
LINE_COST = 1000


def kernel(op: Any) -> Callable[..., Any]:
    """``op``'s forward: numeric's table, or a user-defined op's own ``forward``."""
    return FORWARD[op] if op.__class__ is Op else op.forward


def rules(op: Any) -> tuple:
    """``op``'s VJPs: numeric's table, or a user-defined op's own ``vjp`` tuple."""
    return VJP[op] if op.__class__ is Op else op.vjp


def label(op: Any, slot: int) -> str:
    """An identifier for ``op``'s function in generated code.

    A user-defined op is named after itself and its slot: two ops may share a
    name (``sg.autograd.Function`` makes one op per call).
    """
    if op.__class__ is Op:
        return op.name
    name = re.sub(r"\W", "_", str(getattr(op, "name", "op")))
    return f"{name}_{slot}"


def literal(v: Any) -> bool:
    """True for values whose ``repr`` is a Python literal that reads back equal."""
    if v is None or isinstance(v, (bool, int, str)):
        return True
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, tuple):
        return all(literal(e) for e in v)
    return False


def attr_src(slot: int, attrs: dict, glob: dict) -> str:
    """``attrs`` as keyword arguments; a value that is not a literal becomes a global."""
    parts = []
    for k, v in attrs.items():
        if literal(v):
            parts.append(f"{k}={v!r}")
        else:
            name = f"a{slot}_{k}"
            glob[name] = v
            parts.append(f"{k}={name}")
    return ", ".join(parts)


def dtype_src(dtype: np.dtype, glob: dict) -> str:
    """A global naming ``dtype`` in generated code."""
    name = f"dt_{dtype.str.replace('<', 'l').replace('>', 'b').replace('|', 'n')}"
    glob[name] = dtype
    return name


def same(a: Any, b: Any) -> bool:
    """Exact agreement of two results (0-d arrays and numpy scalars count as equal)."""
    if a is None or b is None:
        return a is b
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    return (a_arr.dtype == b_arr.dtype and a_arr.shape == b_arr.shape
            and np.array_equal(a_arr, b_arr, equal_nan=a_arr.dtype.kind in "fc"))


def probe_cotangent(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A deterministic, non-trivial output cotangent for the build-time probe."""
    g = np.random.default_rng(0).uniform(0.5, 1.5, size=shape)
    return np.asarray(g, dtype=dtype if dtype.kind in "fc" else np.float64)
