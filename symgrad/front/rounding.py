"""``sg.round``, the tests (``isnan``...), logical and bitwise ops, and ``& | ^ ~``.

``floor``, ``ceil``, ``trunc`` and ``frac`` are generated from their rules.  The
operators follow PyTorch: bitwise on integer tensors, logical on bool tensors
(``~`` of a bool tensor is its logical NOT), an error on floating tensors.
No result here requires grad (bool or integer values); ``round`` keeps its
input's ``requires_grad`` with a zero gradient, as PyTorch's.

>>> import symgrad as sg
>>> sg.tensor([12, 5]) & 10, ~sg.tensor([True, False])
(tensor([8, 0]), tensor([False,  True]))
"""
from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from numeric.ops import Op
from symgrad.tensor import Tensor, _apply, const, promoted

__all__ = ["round", "isnan", "isinf", "isfinite", "logical_not", "logical_and", "logical_or",
           "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not"]


def _t(x: Any, like: "Tensor | None" = None) -> Tensor:
    return x if isinstance(x, Tensor) else const(x, like)


def _pair(op: Op, input: Any, other: Any) -> Tensor:
    a = _t(input, other if isinstance(other, Tensor) else None)
    return _apply(op, (a, _t(other, a)), {})


def _bitwise(op: Op, input: Any, other: Any) -> Tensor:
    """A bitwise op in PyTorch's result dtype (``int32 & tensor(3)`` stays int32)."""
    a = _t(input, other if isinstance(other, Tensor) else None)
    b = _t(other, a)
    if a.value is not None and b.value is not None and a.dtype != b.dtype:
        a, b = promoted((a, b))
    return _apply(op, (a, b), {})


def round(input: Any, *, decimals: int = 0) -> Tensor:  # noqa: A001
    """Round to ``decimals`` digits (negative: tens, hundreds...), half to even.

    Floating tensors only (as PyTorch); the gradient is zero.

    >>> import symgrad as sg
    >>> sg.round(sg.tensor([0.5, 1.5, 2.5, -2.5])), sg.round(sg.tensor([1.25]), decimals=1)
    (tensor([ 0.,  2.,  2., -2.]), tensor([1.2000]))
    """
    if isinstance(decimals, np.integer):
        decimals = builtins.int(decimals)
    if isinstance(decimals, builtins.bool) or not isinstance(decimals, builtins.int):
        raise TypeError(f"round(): argument 'decimals' must be int, not "
                        f"{type(decimals).__name__}")
    return _apply(Op.ROUND, (_t(input),), {"decimals": decimals})


def isnan(input: Any) -> Tensor:
    """True where ``input`` is NaN; a bool tensor without gradient.

    >>> import symgrad as sg
    >>> sg.isnan(sg.tensor([1.0, float("nan")]))
    tensor([False,  True])
    """
    return _apply(Op.ISNAN, (_t(input),), {})


def isinf(input: Any) -> Tensor:
    """True where ``input`` is +inf or -inf; a bool tensor without gradient.

    >>> import symgrad as sg
    >>> sg.isinf(sg.tensor([1.0, float("-inf")]))
    tensor([False,  True])
    """
    return _apply(Op.ISINF, (_t(input),), {})


def isfinite(input: Any) -> Tensor:
    """True where ``input`` is neither infinite nor NaN; a bool tensor without gradient.

    >>> import symgrad as sg
    >>> sg.isfinite(sg.tensor([1.0, float("inf"), float("nan")]))
    tensor([ True, False, False])
    """
    return _apply(Op.ISFINITE, (_t(input),), {})


def logical_not(input: Any) -> Tensor:
    """True where ``input`` is zero (False); a bool tensor without gradient.

    >>> import symgrad as sg
    >>> sg.logical_not(sg.tensor([0.0, 2.0]))
    tensor([ True, False])
    """
    return _apply(Op.LOGICAL_NOT, (_t(input),), {})


def logical_and(input: Any, other: Any) -> Tensor:
    """True where both are nonzero (any dtypes, broadcasting); bool, no gradient.

    >>> import symgrad as sg
    >>> sg.logical_and(sg.tensor([0.0, 1.0, 2.0]), sg.tensor([3, 0, 4]))
    tensor([False, False,  True])
    """
    return _pair(Op.LOGICAL_AND, input, other)


def logical_or(input: Any, other: Any) -> Tensor:
    """True where either is nonzero; bool, no gradient.

    >>> import symgrad as sg
    >>> sg.logical_or(sg.tensor([0.0, 1.0]), 0)
    tensor([False,  True])
    """
    return _pair(Op.LOGICAL_OR, input, other)


def logical_xor(input: Any, other: Any) -> Tensor:
    """True where exactly one is nonzero; bool, no gradient.

    >>> import symgrad as sg
    >>> sg.logical_xor(sg.tensor([True, True]), sg.tensor([True, False]))
    tensor([False,  True])
    """
    return _pair(Op.LOGICAL_XOR, input, other)


def bitwise_and(input: Any, other: Any) -> Tensor:
    """Bitwise AND of integer tensors (logical AND of bool ones); ``input & other``.

    >>> import symgrad as sg
    >>> sg.bitwise_and(sg.tensor([12, -1]), sg.tensor([10, 5]))
    tensor([8, 5])
    """
    return _bitwise(Op.BITWISE_AND, input, other)


def bitwise_or(input: Any, other: Any) -> Tensor:
    """Bitwise OR of integer tensors (logical OR of bool ones); ``input | other``.

    >>> import symgrad as sg
    >>> sg.bitwise_or(sg.tensor([12, -8]), 3)
    tensor([15, -5])
    """
    return _bitwise(Op.BITWISE_OR, input, other)


def bitwise_xor(input: Any, other: Any) -> Tensor:
    """Bitwise XOR of integer tensors (logical XOR of bool ones); ``input ^ other``.

    >>> import symgrad as sg
    >>> sg.bitwise_xor(sg.tensor([12, -1]), sg.tensor([10, 5]))
    tensor([ 6, -6])
    """
    return _bitwise(Op.BITWISE_XOR, input, other)


def bitwise_not(input: Any) -> Tensor:
    """Bitwise NOT of an integer tensor (``-x - 1``), logical NOT of a bool one; ``~input``.

    >>> import symgrad as sg
    >>> sg.bitwise_not(sg.tensor([0, 7, -3])), sg.bitwise_not(sg.tensor([True]))
    (tensor([-1, -8,  2]), tensor([False]))
    """
    t = _t(input)
    if t.dtype.kind == "b":     # one op per meaning: NOT of a bool is the logical one
        return _apply(Op.LOGICAL_NOT, (t,), {})
    return _apply(Op.BITWISE_NOT, (t,), {})


def _invert(self: Tensor) -> Tensor:
    if self.dtype.kind not in "biu":
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type "
                        f"tensors, got {self.dtype.name}; use sg.logical_not(x) for a truth "
                        "test")
    return bitwise_not(self)


def _reflected(fn: Any) -> Any:
    def method(self: Tensor, other: Any) -> Tensor:
        return fn(const(other, self), self)
    return method


#: the operators (Tensor's defaults would be logical on every dtype)
METHODS = {
    "__and__": bitwise_and, "__rand__": _reflected(bitwise_and),
    "__or__": bitwise_or, "__ror__": _reflected(bitwise_or),
    "__xor__": bitwise_xor, "__rxor__": _reflected(bitwise_xor),
    "__invert__": _invert,
}
