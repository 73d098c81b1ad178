"""Math ops with PyTorch signatures beyond ``f(input, other)`` (issue 11, "Math").

``clamp_min(input, min)``, ``clamp_max(input, max)``, ``lerp(input, end, weight)``,
and the operators ``%`` (``remainder``) and ``//`` (``floor_divide``).  The plain
elementwise math ops (``asin``, ``hypot``, ``fmod``, ...) get generated functions
from their rules in :mod:`numeric.rules.math`.

>>> import symgrad as sg
>>> sg.tensor([-7.0, 7.0]) % 3, sg.tensor([-7.0, 7.0]) // 2
(tensor([2., 1.]), tensor([-4.,  3.]))
"""
from __future__ import annotations

from typing import Any

from numeric.ops import Op
from numeric.rules import FORWARD
from symgrad.tensor import Tensor, _apply, _binary, const

__all__ = ["clamp_min", "clamp_max", "lerp"]

_REMAINDER, _FLOOR_DIVIDE = Op.REMAINDER, Op.FLOOR_DIVIDE
_K_REMAINDER, _K_FLOOR_DIVIDE = FORWARD[_REMAINDER], FORWARD[_FLOOR_DIVIDE]


def _tensor(x: Any, like: Any = None) -> Tensor:
    return x if isinstance(x, Tensor) else const(x, like)


def clamp_min(input: Any, min: Any) -> Tensor:  # noqa: A002 - PyTorch's name
    """``max(input, min)``; ``min`` a number or a tensor (which then gets a gradient).

    At ``input == min`` the gradient goes to ``input`` (as PyTorch).

    >>> import symgrad as sg
    >>> sg.clamp_min(sg.tensor([-1.0, 0.5]), 0)
    tensor([0.0000, 0.5000])
    """
    return _binary(Op.CLAMP_MIN, FORWARD[Op.CLAMP_MIN], _tensor(input), min)


def clamp_max(input: Any, max: Any) -> Tensor:  # noqa: A002 - PyTorch's name
    """``min(input, max)``; ``max`` a number or a tensor (which then gets a gradient).

    At ``input == max`` the gradient goes to ``input`` (as PyTorch).

    >>> import symgrad as sg
    >>> sg.clamp_max(sg.tensor([-1.0, 0.5]), 0)
    tensor([-1.,  0.])
    """
    return _binary(Op.CLAMP_MAX, FORWARD[Op.CLAMP_MAX], _tensor(input), max)


def lerp(input: Any, end: Any, weight: Any) -> Tensor:
    """``input + weight * (end - input)``; ``weight`` a number or a tensor.

    ``input`` and ``end`` must have the same dtype (and a ``weight`` tensor that is
    not 0-d too), as in PyTorch.

    >>> import symgrad as sg
    >>> sg.lerp(sg.tensor([0.0, 1.0]), sg.tensor([2.0, 3.0]), 0.25)
    tensor([0.5000, 1.5000])
    """
    start = _tensor(input)
    if start.dtype.kind != "f":
        raise RuntimeError(f"lerp: input must be a floating-point tensor, got {start.dtype}; "
                           "convert it with .double() or .float()")
    stop = _tensor(end, start)
    w = _tensor(weight, start)
    # as PyTorch: a 0-d weight is a number, any other tensor must match input's dtype
    for name, given, t in (("end", end, stop), ("weight", weight, w)):
        if isinstance(given, Tensor) and t.dtype != start.dtype and \
                (name == "end" or t.ndim > 0):
            raise RuntimeError(f"lerp: expected dtype {start.dtype} for `{name}` but got dtype "
                               f"{t.dtype}; convert it with .to({start.dtype})")
    if w.dtype != start.dtype:   # a 0-d weight (or a number) takes input's dtype
        w = w.to(start.dtype)
    return _apply(Op.LERP, (start, stop, w), {})


def _mod(self: Tensor, other: Any) -> Tensor:
    return _binary(_REMAINDER, _K_REMAINDER, self, other)


def _rmod(self: Tensor, other: Any) -> Tensor:
    return _binary(_REMAINDER, _K_REMAINDER, const(other, self), self)


def _floordiv(self: Tensor, other: Any) -> Tensor:
    return _binary(_FLOOR_DIVIDE, _K_FLOOR_DIVIDE, self, other)


def _rfloordiv(self: Tensor, other: Any) -> Tensor:
    return _binary(_FLOOR_DIVIDE, _K_FLOOR_DIVIDE, const(other, self), self)


#: the operators (the methods named by the rules come from them)
METHODS = {"__mod__": _mod, "__rmod__": _rmod, "__floordiv__": _floordiv,
           "__rfloordiv__": _rfloordiv}
