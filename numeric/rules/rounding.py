"""Rounding ops and tests: floor, ceil, round, trunc, frac, isnan/isinf/isfinite,
logical and bitwise ops.

As in PyTorch: rounding keeps the dtype and has a zero gradient (``frac``'s is 1);
integer inputs of floor/ceil/trunc (and round to 0 decimals) come back unchanged;
``frac`` and ``round`` to other decimals take floating inputs only.  Tests and logical ops return bool, bitwise ops take
integer or bool tensors and promote like arithmetic; none of these has a
gradient.  A dtype an op does not take raises ``NotImplementedError`` (a
``RuntimeError``, as PyTorch's ``"floor" not implemented for 'Bool'``).

>>> ROUND.kernel(np.array([0.5, 1.5, 2.5, -0.5]))
array([ 0.,  2.,  2., -0.])
>>> BITWISE_XOR.kernel(np.array([12, -1]), np.array([10, 5]))
array([ 6, -6])
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from numeric.rules.core import declare, elementwise_shape, unary

_a = np.asarray


def not_implemented(name: str, dtype: Any, takes: str) -> NotImplementedError:
    """The error for an input dtype an op does not take (PyTorch raises at dispatch).

    >>> str(not_implemented("frac", np.dtype("int64"), "floating"))
    '"frac" is not implemented for int64 tensors: it takes floating tensors'
    """
    return NotImplementedError(f'"{name}" is not implemented for {np.dtype(dtype).name} '
                               f"tensors: it takes {takes} tensors")


#: input kinds each group of ops takes, and how they are named in errors
_TAKES = {"fiu": "floating or integer", "f": "floating", "biu": "integer or bool"}


def _checked(name: str, kinds: str, dtypes: Sequence[np.dtype]) -> None:
    for dt in dtypes:
        if np.dtype(dt).kind not in kinds:
            raise not_implemented(name, dt, _TAKES[kinds])


def _same_dtype(name: str, kinds: str) -> Callable:
    def rule(dtypes: Sequence[np.dtype], attrs: dict) -> np.dtype:
        _checked(name, kinds, dtypes)
        return np.result_type(*dtypes)
    return rule


def _bool_result(dtypes: Sequence[np.dtype], attrs: dict) -> np.dtype:
    return np.dtype(bool)


def _zero(g, out, x, **attrs):
    # PyTorch's rounding backward is zeros_like(grad): 0 even where g is inf or nan
    return np.zeros_like(g)


# ----------------------------------------------------------------------------- rounding
def _rounding(name: str, ufunc: Any) -> Callable:
    def kernel(x: Any) -> np.ndarray:
        x = _a(x)
        _checked(name, "fiu", [x.dtype])
        return x.copy() if x.dtype.kind in "iu" else _a(ufunc(x))
    kernel.__name__ = name
    return kernel


FLOOR = unary("floor", _rounding("floor", np.floor), _zero, dtype=_same_dtype("floor", "fiu"),
              kinked=True, doc="Largest integer <= x (dtype kept); zero gradient.",
              example=("sg.floor(sg.tensor([-1.5, 1.5]))", "tensor([-2.,  1.])"))
CEIL = unary("ceil", _rounding("ceil", np.ceil), _zero, dtype=_same_dtype("ceil", "fiu"),
             kinked=True, doc="Smallest integer >= x (dtype kept); zero gradient.",
             example=("sg.ceil(sg.tensor([-1.5, 1.5]))", "tensor([-1.,  2.])"))
TRUNC = unary("trunc", _rounding("trunc", np.trunc), _zero, dtype=_same_dtype("trunc", "fiu"),
              kinked=True, sg=("trunc", "fix"),
              doc="x rounded toward zero (dtype kept); zero gradient.",
              example=("sg.trunc(sg.tensor([-1.5, 1.5]))", "tensor([-1.,  1.])"))


def frac(x: Any) -> np.ndarray:
    """``x - trunc(x)``: the fractional part with the sign of ``x`` (PyTorch's).

    >>> frac(np.array([-1.25, 1.25]))
    array([-0.25,  0.25])
    """
    x = _a(x)
    _checked("frac", "f", [x.dtype])
    with np.errstate(invalid="ignore"):     # frac(inf) is nan, as PyTorch's, silently
        return _a(x - np.trunc(x))


FRAC = unary("frac", frac, lambda g, out, x: g, dtype=_same_dtype("frac", "f"), kinked=True,
             doc="x - trunc(x), with the sign of x; gradient 1.",
             example=("sg.frac(sg.tensor([-1.25, 1.25]))", "tensor([-0.2500,  0.2500])"))


def round_half_even(x: Any, decimals: int = 0) -> np.ndarray:
    """Round to ``decimals`` digits, ties to even (PyTorch's ``round(x, decimals=)``).

    As PyTorch computes it: ``rint(x * 10**d) / 10**d``, or for ``d < 0``
    ``rint(x / 10**-d) * 10**-d``, in the input's dtype.  Integers come back
    unchanged for ``decimals=0`` and are refused otherwise (as PyTorch).

    >>> round_half_even(np.array([2.5, 3.5, 0.125]), 2), round_half_even(np.array([25.0]), -1)
    (array([2.5 , 3.5 , 0.12]), array([20.]))
    """
    x = _a(x)
    _checked("round", "fiu" if decimals == 0 else "f", [x.dtype])
    if x.dtype.kind in "iu":
        return x.copy()
    if decimals == 0:
        return _a(np.rint(x))
    scale = x.dtype.type(10.0 ** abs(decimals))
    return _a(np.rint(x * scale) / scale) if decimals > 0 else _a(np.rint(x / scale) * scale)


def _round_dtype(dtypes: Sequence[np.dtype], attrs: dict) -> np.dtype:
    kinds = "fiu" if attrs.get("decimals", 0) == 0 else "f"
    return _same_dtype("round", kinds)(dtypes, attrs)


ROUND = declare("round", round_half_even, (_zero,), group="unary", arity=1,
                shape=elementwise_shape, dtype=_round_dtype, sg="round",
                parse=True, kinked=True,
                doc="Round to ``decimals`` digits, half to even; zero gradient.")

# ----------------------------------------------------------------------------- tests
def _test(name: str, fn: Any) -> Callable:
    def kernel(x: Any) -> np.ndarray:
        return _a(fn(_a(x)))
    kernel.__name__ = name
    return kernel


def _declare_test(name: str, fn: Any, doc: str) -> Any:
    return declare(name, _test(name, fn), (None,), group="unary", arity=1,
                   shape=elementwise_shape, dtype=_bool_result, sg=name, doc=doc)


ISNAN = _declare_test("isnan", np.isnan, "True where x is NaN (bool, no gradient).")
ISINF = _declare_test("isinf", np.isinf, "True where x is +inf or -inf (bool, no gradient).")
ISFINITE = _declare_test("isfinite", np.isfinite,
                         "True where x is neither inf nor NaN (bool, no gradient).")
LOGICAL_NOT = _declare_test("logical_not", np.logical_not,
                            "True where x is zero (bool, no gradient).")


def _logical(name: str, fn: Any, doc: str) -> Any:
    return declare(name, lambda x, y: _a(fn(x, y)), (None, None), group="binary", arity=2,
                   shape=elementwise_shape, dtype=_bool_result, sg=name, doc=doc)


LOGICAL_AND = _logical("logical_and", np.logical_and,
                       "True where both inputs are nonzero (bool, no gradient).")
LOGICAL_OR = _logical("logical_or", np.logical_or,
                      "True where either input is nonzero (bool, no gradient).")
LOGICAL_XOR = _logical("logical_xor", np.logical_xor,
                       "True where exactly one input is nonzero (bool, no gradient).")


# ----------------------------------------------------------------------------- bitwise
def _bitwise(name: str, ufunc: Any, doc: str) -> Any:
    def kernel(x: Any, y: Any) -> np.ndarray:
        x, y = _a(x), _a(y)
        _checked(name, "biu", [x.dtype, y.dtype])
        return _a(ufunc(x, y))
    kernel.__name__ = name
    return declare(name, kernel, (None, None), group="binary", arity=2,
                   shape=elementwise_shape, dtype=_same_dtype(name, "biu"), sg=name, doc=doc)


BITWISE_AND = _bitwise("bitwise_and", np.bitwise_and,
                       "Bitwise AND of integer (logical AND of bool) tensors; ``&``.")
BITWISE_OR = _bitwise("bitwise_or", np.bitwise_or,
                      "Bitwise OR of integer (logical OR of bool) tensors; ``|``.")
BITWISE_XOR = _bitwise("bitwise_xor", np.bitwise_xor,
                       "Bitwise XOR of integer (logical XOR of bool) tensors; ``^``.")


def _bitwise_not(x: Any) -> np.ndarray:
    x = _a(x)
    _checked("bitwise_not", "biu", [x.dtype])
    return _a(np.invert(x))


BITWISE_NOT = declare("bitwise_not", _bitwise_not, (None,), group="unary", arity=1,
                      shape=elementwise_shape, dtype=_same_dtype("bitwise_not", "biu"),
                      sg="bitwise_not",
                      doc="Bitwise NOT of an integer tensor (-x - 1; logical NOT of bool); "
                          "``~``.")
