"""Dtypes of symgrad tensors: numpy dtypes under PyTorch's names.

``sg.float32`` *is* ``numpy.dtype("float32")`` (so values flow to numpy with no
conversion); tensor reprs spell it ``sg.float32``.  The default floating dtype
is float64 (PyTorch's is float32); change it with :func:`set_default_dtype`.

>>> import symgrad as sg
>>> sg.float32 == np.float32, sg.get_default_dtype()
(True, dtype('float64'))
"""
from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from numeric.rules.core import promote_types
from symgrad.errors import DtypeError

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int8 = np.dtype(np.int8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool = np.dtype(np.bool_)  # noqa: A001  (PyTorch's name, shadowing is intended)
half, float, double, long, int = float16, float32, float64, int64, int32  # noqa: A001

_NAMES = {
    float16: "float16", float32: "float32", float64: "float64", int8: "int8",
    int16: "int16", int32: "int32", int64: "int64", uint8: "uint8", bool: "bool",
}


class _Default:
    __slots__ = ("dtype",)

    def __init__(self) -> None:
        self.dtype = float64


_DEFAULT = _Default()


def as_dtype(dtype: Any) -> np.dtype:
    """Convert ``dtype`` (an sg/numpy dtype, a numpy type, or a name) to a numpy dtype.

    Python's ``float`` means the default dtype and ``int`` means int64.

    >>> as_dtype("float32"), as_dtype(builtins.float), as_dtype(builtins.int)
    (dtype('float32'), dtype('float64'), dtype('int64'))
    """
    if dtype is None:
        return _DEFAULT.dtype
    if dtype is builtins.float:
        return _DEFAULT.dtype
    if dtype is builtins.int:
        return int64
    try:
        out = np.dtype(dtype)
    except TypeError as e:
        raise DtypeError(f"unknown dtype {dtype!r}; use sg.float32, sg.float64, sg.int64 "
                         "or sg.bool") from e
    if out not in _NAMES:
        raise DtypeError(f"dtype {out} is not supported; use one of "
                         + ", ".join("sg." + n for n in _NAMES.values()))
    return out


def dtype_name(dtype: np.dtype) -> str:
    """The PyTorch-style name used in reprs, e.g. ``"sg.float32"``.

    >>> dtype_name(float32)
    'sg.float32'
    """
    return "sg." + _NAMES.get(dtype, str(dtype))


def is_floating_point(dtype: np.dtype) -> bool:
    """True for floating dtypes (the only ones that can require gradients).

    >>> is_floating_point(float32), is_floating_point(int64)
    (True, False)
    """
    return dtype.kind == "f"


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype of floating tensors created without ``dtype=`` (float32 or float64).

    >>> set_default_dtype(float32); get_default_dtype()
    dtype('float32')
    >>> set_default_dtype(float64)
    """
    d = np.dtype(dtype)
    if d not in (float32, float64):
        raise DtypeError(f"set_default_dtype: only sg.float32 or sg.float64 can be the "
                         f"default floating dtype, got {d}")
    _DEFAULT.dtype = d


def get_default_dtype() -> np.dtype:
    """The dtype of floating tensors created without ``dtype=`` (float64 unless changed).

    >>> get_default_dtype()
    dtype('float64')
    """
    return _DEFAULT.dtype


def result_type(*tensors: Any) -> np.dtype:
    """PyTorch's result dtype of an elementwise op on ``tensors`` (Tensors or numbers).

    Within one category (bool < integer < float) tensors with dims decide over
    0-d tensors, which decide over Python numbers; a higher category among the
    0-d tensors or numbers still wins (an int tensor times a float32 0-d tensor
    is float32, times ``2.5`` the default float).  Across categories an integer
    meeting a float gives that float (``torch.promote_types``).

    >>> import symgrad as sg
    >>> sg.result_type(sg.tensor([1, 2]), sg.tensor(1.0, dtype=sg.float32))
    dtype('float32')
    >>> sg.result_type(sg.tensor([1.0], dtype=sg.float32), sg.tensor(1.0))
    dtype('float32')
    >>> sg.result_type(sg.tensor([1, 2]), 2.5)
    dtype('float64')
    """
    groups: list[Any] = [None, None, None]      # dims, 0-d, numbers
    for t in tensors:
        if isinstance(t, (builtins.bool, np.bool_)):
            k, d = 2, bool
        elif isinstance(t, (builtins.int, np.integer)):
            k, d = 2, int64
        elif isinstance(t, (builtins.float, np.floating)):
            k, d = 2, get_default_dtype()
        else:
            k, d = (0 if len(t.shape) else 1), np.dtype(t.dtype)
        groups[k] = d if groups[k] is None else promote_types(groups[k], d)
    dims, zero, numbers = groups
    return _combine(dims, _combine(zero, numbers))


def _combine(higher: Any, lower: Any) -> Any:
    """c10's ``combine_categories``: ``higher`` wins unless ``lower`` is of a higher category."""
    if higher is None:
        return lower
    if lower is None or higher.kind == "f":
        return higher
    if higher.kind == "b" or lower.kind == "f":
        return promote_types(higher, lower)
    return higher


__all__ = [
    "result_type", "promote_types",
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
    "half", "float", "double", "long", "int", "set_default_dtype", "get_default_dtype",
    "as_dtype", "dtype_name", "is_floating_point",
]
