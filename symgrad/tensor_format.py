"""``repr`` of tensors in PyTorch's style.

Floats print with 4 decimals (``tensor([0.1000, 2.5000])``), or as ``1.`` when
every value is an integer, or in scientific notation when the magnitudes span
more than 3 decades; rows wrap at 80 columns and tensors with more than 1000
elements are summarised with ``...``, as ``torch._tensor_str`` does.  The dtype
is shown unless it is the default float dtype, int64 or bool.

>>> import numpy as np
>>> format_values(np.array([[1.0, 2.0], [3.0, 4.0]]))
'[[1., 2.],\\n        [3., 4.]]'
>>> format_values(np.array([0.5, 1e-5]))
'[5.0000e-01, 1.0000e-05]'
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from symgrad import dtypes as _dt
from symgrad.shapes import fmt

_PREFIX = "tensor("


def _float_formatter(v: np.ndarray) -> Callable[[Any], str]:
    finite = v[np.isfinite(v)]
    nz = np.abs(finite[finite != 0]).astype(np.float64)
    if nz.size == 0:
        return _pad(v, lambda x: _special(x) or "0.")
    lo, hi = nz.min(), nz.max()
    int_mode = bool(np.all(finite == np.ceil(finite)))
    sci = hi / lo > 1000.0 or hi > 1.0e8 or (not int_mode and lo < 1.0e-4)
    if sci:
        def f(x: Any) -> str:
            return _special(x) or f"{float(x):.4e}"
    elif int_mode:
        def f(x: Any) -> str:
            return _special(x) or f"{float(x):.0f}."
    else:
        def f(x: Any) -> str:
            return _special(x) or f"{float(x):.4f}"
    return _pad(v, f)


def _special(x: Any) -> str:
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return ""


def _pad(v: np.ndarray, f: Callable[[Any], str]) -> Callable[[Any], str]:
    sample = v if v.size <= 1000 else _edges(v)
    width = max((len(f(x)) for x in sample.flat), default=0)
    return lambda x: f(x).rjust(width)


def _edges(v: np.ndarray) -> np.ndarray:
    """The elements a summarised print shows (3 at each edge of every axis)."""
    for axis in range(v.ndim):
        if v.shape[axis] > 6:
            v = np.concatenate([v.take(range(3), axis), v.take(range(-3, 0), axis)], axis)
    return v


def format_values(v: np.ndarray, prefix: str = _PREFIX) -> str:
    """The nested-list part of a tensor repr, e.g. ``[1., 2.]``."""
    if v.dtype.kind == "f":
        fmt = _float_formatter(v)
    elif v.dtype.kind == "b":
        fmt = _pad(v, lambda x: str(bool(x)))
    else:
        fmt = _pad(v, lambda x: str(int(x)))
    # the pad below widens a summarised row by one character: wrap one earlier
    width = 80 if v.size <= 1000 else 79
    text = np.array2string(v, max_line_width=width, precision=4, separator=", ",
                           prefix=prefix, formatter={"all": fmt}, threshold=1000,
                           edgeitems=3)
    # PyTorch pads an elided run inside a row by one space (", ..., " -> ",  ..., ")
    return text.replace(", ..., ", ",  ..., ")


def format_tensor(t: Any) -> str:
    """PyTorch-style repr of a Tensor (symbolic tensors show name and shape)."""
    extra = []
    v = t.value
    dtype = t.dtype
    if v is None:
        body = f"<symbolic {t.name}>" if t.op is None else "<symbolic>"
        extra.append(f"shape={fmt(t.shape)}")
    elif v.size == 0 and v.ndim != 1:
        body = "[]"
        extra.append(f"size={tuple(v.shape)}")
    else:
        body = format_values(v)
    if not (dtype == _dt.get_default_dtype() or dtype == _dt.int64 or dtype == _dt.bool):
        extra.append(f"dtype={_dt.dtype_name(dtype)}")
    fn = t.grad_fn
    if fn is not None:
        extra.append(f"grad_fn=<{type(fn).__name__}>")
    elif t.requires_grad:
        extra.append("requires_grad=True")
    return _PREFIX + ", ".join([body] + extra) + ")"


__all__ = ["format_tensor", "format_values"]
