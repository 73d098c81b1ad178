"""The declaration format: one :class:`Rule` per op, and the helpers rules share.

A rule gives an op everything numeric and the front end need to know about it:

``name``      the op's value, lower case (``Op.EXP.value == "exp"``; the member
              name is its upper case);
``kernel``    the numpy forward, ``kernel(*values, **attrs) -> ndarray``
              (see :mod:`numeric.kernels` for the contract);
``vjp``       one callable per input, ``vjp(g, out, *inputs, **attrs)``, or None
              for an input without gradient (see :mod:`numeric.vjps`);
``shape``     ``shape(shapes, attrs) -> tuple``: the result shape for inputs of
              ``shapes``, whose dims may be ints or strings (:mod:`numeric.shapes`);
``dtype``     ``dtype(dtypes, attrs) -> np.dtype``: the result dtype;
``group``     ``"binary"``, ``"unary"``, ``"ternary"``, ``"linalg"``, ``"reduce"``,
              ``"normalize"``, ``"movement"`` or ``"loss"``: the category sets come from it;
``sg``        the ``sg.`` function names (PyTorch's), first the main one;
``methods``   the ``Tensor`` method names;
``parse``     True if ``sg.parse`` may call it (under its first ``sg`` name);
``doc``       one line for the docstring and for docs/api.md;
``front``     ``"generated"``: symgrad makes the ``sg.`` function and the methods
              from this rule (elementwise ops without parameters);
              ``"hand"``: a hand-written function in ``symgrad/tensor_ops.py``
              (rich PyTorch signatures: ``sum(dim, keepdim, dtype)``, ``clamp``...);
``example``   ``(call, result)``: the doctest of a generated function;
``at_point``  True when the op's structure depends on its input values (sort's
              permutation, max-pooling's argmax, masked_select's mask): its exact
              form is taken at a given point, with that structure fixed by the
              values there (Note [Forms at a point] in symgrad/lower_sympy.py).

An elementwise op is declared with :func:`unary` or :func:`binary`; each returns
the :class:`Rule`, whose ``op`` is filled in when :mod:`numeric.rules` builds
the ``Op`` enum from all declarations.

>>> r = RULES[0]
>>> r.name, r.group, r.sg, r.front
('add', 'binary', ('add',), 'generated')
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np

from numeric.shapes import broadcast_shapes

__all__ = ["Rule", "RULES", "declare", "unary", "binary", "FORWARD", "apply",
           "PROMOTE", "promote_types", "FLOAT", "elementwise_shape", "scipy_special"]

GROUPS = ("binary", "unary", "ternary", "linalg", "reduce", "normalize", "movement", "loss")

_a = np.asarray


@dataclass(eq=False)
class Rule:
    """One op's declaration (see the module docstring for the fields)."""

    name: str
    kernel: Callable[..., np.ndarray]
    vjp: tuple
    group: str
    arity: Optional[int]
    shape: Callable[[Sequence[tuple], dict], tuple]
    dtype: Callable[[Sequence[np.dtype], dict], np.dtype]
    sg: tuple = ()
    methods: tuple = ()
    parse: bool = False
    doc: str = ""
    front: str = "hand"
    example: Optional[tuple] = None
    kinked: bool = False
    aliases: tuple = ()
    at_point: bool = False
    #: the ``Op`` member, set when numeric.rules builds the enum
    op: Any = None

    def __repr__(self) -> str:
        return f"Rule({self.name!r}, group={self.group!r})"


#: every declaration, in declaration order (the order of ``Op``'s members)
RULES: list[Rule] = []


def declare(name: str, kernel: Callable, vjp: tuple, *, group: str, arity: Optional[int],
            shape: Callable, dtype: Callable, sg: Any = (), methods: Any = None,
            parse: bool = False, doc: str = "", front: str = "hand",
            example: Optional[tuple] = None, kinked: bool = False,
            aliases: tuple = (), at_point: bool = False) -> Rule:
    """Declare one op; returns its :class:`Rule` (``methods`` defaults to ``sg``).

    >>> declare("x", None, (), group="bogus", arity=1, shape=None, dtype=None)
    Traceback (most recent call last):
    ...
    ValueError: rule 'x': group must be one of binary, unary, ..., got 'bogus'
    """
    if group not in GROUPS:
        raise ValueError(f"rule {name!r}: group must be one of {', '.join(GROUPS)}, "
                         f"got {group!r}")
    if any(r.name == name for r in RULES):
        raise ValueError(f"rule {name!r} is declared twice")
    if front not in ("generated", "hand"):
        raise ValueError(f"rule {name!r}: front must be 'generated' or 'hand', got {front!r}")
    sg = (sg,) if isinstance(sg, str) else tuple(sg)
    methods = sg if methods is None else ((methods,) if isinstance(methods, str)
                                          else tuple(methods))
    if front == "generated" and not (sg and doc and example):
        raise ValueError(f"rule {name!r}: a generated front end needs sg=, doc= and example=")
    rule = Rule(name, kernel, tuple(vjp), group, arity, shape, dtype, sg, methods, parse, doc,
                front, example, kinked, tuple(aliases), at_point)
    RULES.append(rule)
    return rule


# ----------------------------------------------------------------------------- dtype rules
def promote_types(a: Any, b: Any) -> np.dtype:
    """PyTorch's promotion of two dtypes: numpy's, except that an integer or bool
    meeting a float gives that float (``int64`` with ``float32`` is ``float32``,
    where numpy says ``float64``).

    >>> promote_types(np.dtype("int64"), np.dtype("float32"))
    dtype('float32')
    >>> promote_types(np.dtype("uint8"), np.dtype("int8"))
    dtype('int16')
    """
    a, b = np.dtype(a), np.dtype(b)
    if (a.kind == "f") != (b.kind == "f"):
        return a if a.kind == "f" else b
    return np.promote_types(a, b)


def PROMOTE(dtypes: Sequence[np.dtype], attrs: dict) -> np.dtype:
    """PyTorch's promotion (:func:`promote_types`); integers stay integers (``add``, ``sum``)."""
    out = np.dtype(dtypes[0])
    for d in dtypes[1:]:
        out = promote_types(out, d)
    return out


def FLOAT(dtypes: Sequence[np.dtype], attrs: dict) -> np.dtype:
    """numpy promotion, then integers and bools become float64 (``exp``, ``div``, ``mean``).

    float32 stays float32, as in PyTorch.

    >>> FLOAT([np.dtype("int64")], {}), FLOAT([np.dtype("float32")], {})
    (dtype('float64'), dtype('float32'))
    """
    out = PROMOTE(dtypes, attrs)
    return np.dtype(np.float64) if out.kind in "biu" else out


# ----------------------------------------------------------------------------- shape rules
def elementwise_shape(shapes: Sequence[tuple], attrs: dict) -> tuple:
    """Every elementwise op: numpy broadcasting of the input shapes."""
    return broadcast_shapes(*shapes)


def unary(name: str, kernel: Callable, vjp: Callable, *, doc: str, example: tuple,
          dtype: Callable = FLOAT, parse: bool = True, kinked: bool = False,
          sg: Any = None, methods: Any = None) -> Rule:
    """Declare an elementwise op of one input with a generated front end.

    ``sg.<name>(input)``, ``Tensor.<name>()`` and (``parse=True``) the parser's
    ``<name>(x)`` come from it.
    """
    return declare(name, kernel, (vjp,), group="unary", arity=1, shape=elementwise_shape,
                   dtype=dtype, sg=name if sg is None else sg, methods=methods, parse=parse,
                   doc=doc, front="generated", example=example, kinked=kinked)


def binary(name: str, kernel: Callable, vjp_x: Callable, vjp_y: Callable, *, doc: str,
           example: tuple, dtype: Callable = FLOAT, parse: bool = True, kinked: bool = False,
           front: str = "generated", sg: Any = None, methods: Any = None) -> Rule:
    """Declare a broadcasting elementwise op of two inputs, ``sg.<name>(input, other)``."""
    return declare(name, kernel, (vjp_x, vjp_y), group="binary", arity=2,
                   shape=elementwise_shape, dtype=dtype, sg=name if sg is None else sg,
                   methods=methods, parse=parse, doc=doc, front=front, example=example,
                   kinked=kinked)


# ----------------------------------------------------------------------------- apply
#: Op -> forward kernel; filled by numeric.rules once the enum exists
#: (re-exported as ``numeric.kernels.FORWARD``)
FORWARD: dict = {}


def apply(op: Any, *xs: Any, **attrs: Any) -> Any:
    """Run ``op`` on ``xs``: numpy kernels for arrays, else the inputs' own protocol.

    If every input is a plain ndarray or number, this is ``FORWARD[op](*xs, **attrs)``.
    Otherwise the first input whose type defines ``__numeric_apply__(op, xs, attrs)``
    handles it (symgrad's ``Tensor`` does, which is how VJPs written with ``apply``
    record differentiable graphs); returning ``NotImplemented`` passes to the next.

    >>> from numeric.ops import Op
    >>> apply(Op.MUL, np.float32([1, 2]), np.float32(3))
    array([3., 6.], dtype=float32)
    """
    for x in xs:
        hook = getattr(type(x), "__numeric_apply__", None)
        if hook is not None:
            break
    else:
        return FORWARD[op](*xs, **attrs)
    for x in xs:
        hook = getattr(type(x), "__numeric_apply__", None)
        if hook is not None:
            result = hook(x, op, xs, attrs)
            if result is not NotImplemented:
                return result
    names = ", ".join(type(x).__name__ for x in xs)
    raise TypeError(f"apply({op!r}): no input handled the op (input types: {names}); "
                    "pass numpy arrays or objects implementing __numeric_apply__")


# ----------------------------------------------------------------------------- helpers
@functools.cache
def scipy_special(name: str) -> Callable[..., Any]:
    """``scipy.special.<name>``; scipy is imported on the first call.

    Note [Lazy scipy]: scipy is numeric's dependency for special functions only.
    Importing it costs more than numpy, so ``import numeric`` (and ``import
    symgrad``) does not: a start-up choice, as for SymPy, not a dodged cycle.

    >>> scipy_special("expit")(np.float32(0.0))
    np.float32(0.5)
    """
    import scipy.special

    return getattr(scipy.special, name)


def axes_of(axis: Any, ndim: int) -> tuple[int, ...]:
    """Normalise ``axis`` (None, int or tuple, possibly negative) to a sorted tuple.

    >>> axes_of(-1, 3), axes_of(None, 2)
    ((2,), (0, 1))
    """
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    return tuple(sorted(int(a) % ndim if ndim else int(a) for a in axis))


def count(shape: tuple[int, ...], axis: Any) -> int:
    """How many elements a reduction over ``axis`` combines into one."""
    n = 1
    for a in axes_of(axis, len(shape)):
        n *= shape[a]
    return n


def floats(x: Any) -> np.ndarray:
    """``x`` as an array; integers and bools become float64 (exp/log need floats)."""
    x = _a(x)
    return x.astype(np.float64) if x.dtype.kind in "biu" else x
