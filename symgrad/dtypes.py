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


__all__ = [
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
    "half", "float", "double", "long", "int", "set_default_dtype", "get_default_dtype",
    "as_dtype", "dtype_name", "is_floating_point",
]
