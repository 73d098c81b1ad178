"""User-defined ops: ``sg.custom_op(name, forward, vjp, sympy)``.

A custom op is an object that the rest of symgrad treats like an ``Op``
member: graph nodes built by calling it have ``node.op`` set to it.

* numeric's executor runs ``op.forward(*values)`` and ``op.vjp[i](g, out, *values)``
  (same contract as numeric's ``VJP`` entries, see docs/architecture.md);
* symgrad's lowering applies ``op.sympy`` elementwise to SymPy scalars, and the
  closed forms differentiate that with ``sympy.diff`` (never the VJP);
* ``verify.check`` compares the two, so a wrong VJP is caught.

>>> import numpy as np, sympy
>>> import symgrad as sg
>>> cube = sg.custom_op("cube", lambda x: x ** 3, lambda g, out, x: g * 3 * x ** 2,
...                     lambda x: x ** 3)
>>> cube(np.array([2.0]))
array([8.])
>>> cube
custom_op('cube')
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Optional, Sequence

import numpy as np

import numeric.kernels

__all__ = ["CustomOp", "custom_op"]


def _adapt(rule: Callable, name: str, k: int, arity: int) -> Callable:
    """``rule`` as ``vjp(g, out, *inputs)``; a two-argument rule is ``vjp(g, out)``."""
    try:
        params = inspect.signature(rule).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: trust it
        return rule
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return rule
    n = sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    required = sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                   and p.default is p.empty)
    if required <= 2 + arity <= n:
        return rule
    if required <= 2 <= n:
        return lambda g, out, *inputs: rule(g, out)
    raise TypeError(f"custom_op {name!r}: the vjp for input {k} takes {n} argument(s); write "
                    f"vjp(g, out, *inputs) with {2 + arity} arguments, or vjp(g, out)")


class CustomOp:
    """An op defined by the user: numpy ``forward``, ``vjp`` tuple, SymPy local form.

    Attributes: ``name`` (str), ``forward`` (numpy callable), ``vjp`` (tuple of
    callables ``vjp(g, out, *inputs) -> cotangent``, ``None`` for an input
    without gradient), ``sympy`` (callable on SymPy scalars, or None if the op
    has no exact form), ``arity`` (number of inputs).  Output shapes follow
    numpy broadcasting of the inputs unless ``shape`` was given.
    """

    __slots__ = ("name", "forward", "vjp", "sympy", "arity", "_shape")

    def __init__(self, name: str, forward: Callable, vjp: Any, sympy: Optional[Callable] = None,
                 *, shape: Optional[Callable] = None) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"custom_op name must be an identifier string, got {name!r}")
        if not callable(forward):
            raise TypeError(f"custom_op {name!r}: forward must be callable, got "
                            f"{type(forward).__name__}")
        rules = (vjp,) if callable(vjp) else tuple(vjp) if isinstance(vjp, Sequence) else None
        if not rules or any(r is not None and not callable(r) for r in rules):
            raise TypeError(f"custom_op {name!r}: vjp must be a callable (one input) or a tuple "
                            "of callables/None, one per input: vjp(g, out, *inputs) -> cotangent")
        if sympy is not None and not callable(sympy):
            raise TypeError(f"custom_op {name!r}: sympy must be a callable on SymPy scalars "
                            "(e.g. lambda x: sympy.tanh(x)) or None")
        if shape is not None and not callable(shape):
            raise TypeError(f"custom_op {name!r}: shape must be callable(shapes, attrs) or None")
        self.arity = len(rules)
        rules = tuple(None if r is None else _adapt(r, name, k, self.arity)
                      for k, r in enumerate(rules))
        self.name, self.forward, self.vjp, self.sympy = name, forward, rules, sympy
        self._shape = shape

    def infer_shape(self, shapes: Sequence[tuple], attrs: dict) -> tuple:
        """Output shape for input ``shapes`` (broadcasting unless ``shape=`` was given).

        >>> custom_op("f", np.add, (None, None)).infer_shape([(3, 1), (4,)], {})
        (3, 4)
        """
        if self._shape is not None:
            return tuple(self._shape(shapes, attrs))
        try:
            return tuple(np.broadcast_shapes(*[tuple(s) for s in shapes]))
        except ValueError:
            raise ValueError(f"custom op {self.name!r}: input shapes {list(shapes)} do not "
                             "broadcast; pass shape=(lambda shapes, attrs: ...) to "
                             "custom_op for a non-elementwise op") from None

    def __call__(self, *inputs: Any) -> Any:
        """Apply the op: records a graph node on tensors, plain numpy on arrays."""
        if len(inputs) != self.arity:
            raise TypeError(f"custom op {self.name!r} takes {self.arity} input(s) (one per vjp "
                            f"entry), got {len(inputs)}")
        if any(hasattr(type(x), "__numeric_apply__") for x in inputs):
            return numeric.kernels.apply(self, *inputs)
        return np.asarray(self.forward(*(np.asarray(x) for x in inputs)))

    def __repr__(self) -> str:
        return f"custom_op({self.name!r})"


def custom_op(name: str, forward: Callable, vjp: Any, sympy: Optional[Callable] = None, *,
              shape: Optional[Callable] = None) -> CustomOp:
    """Define an op from a numpy ``forward``, a ``vjp`` and an exact ``sympy`` form.

    ``vjp``: a callable for a one-input op, else a tuple with one callable (or
    ``None``) per input, each ``vjp(g, out, *inputs) -> cotangent`` written as if
    shapes matched (the executor un-broadcasts); a rule that needs only the
    output may take two arguments, ``vjp(g, y)`` (``y`` the op's output).  ``sympy``: the op on SymPy
    scalars, used by ``sg.to_sympy``/``sg.diff`` and by ``verify.check``.

    >>> import sympy
    >>> import symgrad as sg
    >>> tanh = sg.custom_op("mytanh", np.tanh, lambda g, out, x: g * (1 - out ** 2),
    ...                     sympy.tanh)
    >>> x = sg.tensor([0.5], requires_grad=True)
    >>> y = tanh(x)
    >>> y.backward()
    >>> bool(np.isclose(x.grad.item(), 1 - np.tanh(0.5) ** 2))
    True
    >>> tanh2 = sg.custom_op("tanh2", np.tanh, lambda g, y: g * (1 - y ** 2), sympy.tanh)
    >>> x = sg.tensor([0.5], requires_grad=True)
    >>> tanh2(x).backward()
    >>> bool(np.isclose(x.grad.item(), 1 - np.tanh(0.5) ** 2))
    True
    """
    return CustomOp(name, forward, vjp, sympy, shape=shape)
