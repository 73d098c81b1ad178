"""The rule table: one declaration per op, and every per-op table derived from it.

Each module of this package declares a group of ops (:mod:`.elementwise`,
:mod:`.linalg`, :mod:`.reduce`, :mod:`.nn`, :mod:`.movement`) with the format of
:mod:`.core`.  Importing the package builds, once:

* ``Op``, the op vocabulary, an ``Enum`` whose members are the declared names in
  declaration order (plus the aliases ``CONCATENATE`` and ``TRANSPOSE``);
* ``RULE``: ``Op -> Rule``;
* ``FORWARD`` and ``VJP``: plain dicts ``Op -> kernel`` and ``Op -> tuple of VJPs``,
  the ones the executor's hot loop indexes;
* the category sets (``UNARY``, ``BINARY``, ``ELEMENTWISE``, ``REDUCE``, ...),
  ``ARITY``, ``KINKED``;
* :func:`infer_shape` and :func:`result_dtype`, dispatching to each rule.

So adding an op is one declaration in one of those modules.  (Its exact SymPy
form in symgrad and its ``OP_DB`` entry in verify stay separate on purpose: they
are the independent witnesses.)

>>> Op.EXP in UNARY, RULE[Op.MAX].sg, infer_shape(Op.MAXIMUM, [("N", 1), (3,)], {})
(True, ('max', 'amax'), ('N', 3))
"""
from __future__ import annotations

import enum
from typing import Any, Sequence

import numpy as np

from numeric.rules import elementwise, linalg, movement, nn, reduce  # noqa: F401 - declare
# the op families of issue 11 (reductions before matrix: matrix's vector_norm uses its kernel)
from numeric.rules import (  # noqa: F401 - declare
    rounding, math, reductions, matrix, shape, nnops, losses, activations,
)
from numeric.rules.core import FORWARD, RULES, Rule

__all__ = [
    "Op", "Rule", "RULES", "RULE", "FORWARD", "VJP", "ARITY", "BINARY", "UNARY",
    "ELEMENTWISE", "REDUCE", "NORMALIZE", "MOVEMENT", "VARIADIC", "KINKED", "AT_POINT",
    "infer_shape", "result_dtype",
]


class _OpEnum(enum.Enum):
    """Behaviour of ``Op`` (its members come from the declarations)."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        """``Op("concatenate")``, ``Op("MUL")``: look names and aliases up too."""
        if isinstance(value, str):
            return cls.__members__.get(value.upper())
        return None

    def __repr__(self) -> str:
        return f"Op.{self.name}"

    # Members are singletons compared by identity, so identity hashing is exact;
    # Enum's default hashes the name in Python code, which doubles the cost of
    # every ``FORWARD[op]`` / ``VJP[op]`` lookup on the executor's hot path.
    __hash__ = object.__hash__


_members = [(r.name.upper(), r.name) for r in RULES]
_members += [(alias.upper(), r.name) for r in RULES for alias in r.aliases]
#: every primitive operation of the expression graph, one member per declared rule
Op = _OpEnum("Op", _members, module="numeric.ops", qualname="Op")
Op.__doc__ = "Every primitive operation of the expression graph (one per rule)."

for _rule in RULES:
    _rule.op = Op(_rule.name)

#: Op -> its declaration
RULE: dict[Any, Rule] = {r.op: r for r in RULES}
FORWARD.update({r.op: r.kernel for r in RULES})
#: Op -> one VJP per input position (see numeric/vjps.py for the contract)
VJP: dict[Any, tuple] = {r.op: r.vjp for r in RULES}


def _group(*names: str) -> frozenset:
    return frozenset(r.op for r in RULES if r.group in names)


BINARY = _group("binary")
UNARY = _group("unary")
ELEMENTWISE = _group("binary", "unary", "ternary")
REDUCE = _group("reduce")
NORMALIZE = _group("normalize")
MOVEMENT = _group("movement")
VARIADIC = frozenset(r.op for r in RULES if r.arity is None)
#: ops whose derivative has a kink somewhere in the domain (conventions in docs/)
KINKED = frozenset(r.op for r in RULES if r.kinked)
#: ops whose exact form is taken at a point (structure fixed by the values there)
AT_POINT = frozenset(r.op for r in RULES if r.at_point)
ARITY = {r.op: r.arity for r in RULES}


def infer_shape(op: Any, shapes: Sequence[Sequence[Any]], attrs: dict) -> tuple:
    """Result shape of ``op`` applied to inputs of ``shapes`` (dims may be strings).

    >>> infer_shape(Op.ADD, [("N", 1), (1, "d")], {})
    ('N', 'd')
    >>> infer_shape(Op.SUM, [("N", "d")], {"axis": (1,), "keepdims": False})
    ('N',)
    """
    return RULE[op].shape(shapes, attrs)


def result_dtype(op: Any, dtypes: Sequence[np.dtype], attrs: dict) -> np.dtype:
    """Result dtype of ``op`` for inputs of ``dtypes`` (numpy promotion, then the op's rule).

    >>> result_dtype(Op.MUL, [np.dtype("float32"), np.dtype("float32")], {})
    dtype('float32')
    >>> result_dtype(Op.EXP, [np.dtype("int64")], {})
    dtype('float64')
    """
    return np.dtype(RULE[op].dtype(dtypes, attrs))
