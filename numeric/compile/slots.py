"""Reading a traced graph into instruction slots: the compiler's only contact with nodes.

This is the one module of :mod:`numeric.compile` that reads graph nodes' attributes
(``op``, ``inputs`` through :func:`~numeric.graph.toposort`, ``attrs``, a constant
leaf's value); everything downstream works on :class:`Slots` and :class:`Instr`.
The graph is made of IR nodes (:class:`numeric.node.Node`, a constant's value is its
``data``); minimal nodes with ``op``, ``inputs``, ``attrs`` and ``value`` work too.

Every value of the program lives in a numbered slot of one of three kinds: ``"in"``
(an input, passed to ``forward``), ``"const"`` (a leaf or a folded op, baked in) and
``"tmp"`` (the result of an instruction).  Building the slots folds constants,
shares common subexpressions and drops dead code, each counted in ``stats``.

>>> import numpy as np
>>> from collections import Counter
>>> from numeric.ops import Op
>>> class N:
...     def __init__(self, op=None, inputs=(), value=None, **attrs):
...         self.op, self.inputs, self.attrs, self.value = op, inputs, attrs, value
>>> x = N(value=np.ones(2))
>>> y = N(Op.ADD, (N(Op.EXP, (x,)), N(Op.EXP, (x,))))
>>> s = Slots([y], [x], Counter())
>>> [(ins.op.name, ins.args) for ins in s.instrs], s.stats["cse"]
([('EXP', (0,)), ('ADD', (1, 1))], 1)
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from numeric.graph import toposort
from numeric.node import Node
from numeric.ops import Op

from numeric.compile.common import kernel

__all__ = ["Instr", "Slots", "default_wrt", "example_values", "leaf_value"]


def default_wrt(inputs: Sequence[Any]) -> tuple:
    """The inputs whose ``requires_grad`` is true (``Program``'s default ``wrt``)."""
    return tuple(n for n in inputs if getattr(n, "requires_grad", False))


def leaf_value(node: Any) -> Any:
    """A leaf's value: an IR node's ``data``, else (a minimal node) its ``value``."""
    return node.data if node.__class__ is Node else node.value


def example_values(inputs: Sequence[Any]) -> list[np.ndarray]:
    """The inputs' values (the trace's example point), or a clear error for one without."""
    values = []
    for k, n in enumerate(inputs):
        v = leaf_value(n)
        if v is None:
            raise ValueError(f"Program: input {k} has no value to build the program with")
        values.append(np.asarray(v))
    return values


def _freeze(v: Any) -> Any:
    """A hashable stand-in for an attr value, equal exactly when the values are equal."""
    if isinstance(v, np.ndarray):
        return ("ndarray", v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, (tuple, list)):
        return (type(v).__name__,) + tuple(_freeze(e) for e in v)
    if isinstance(v, slice):
        return ("slice", _freeze(v.start), _freeze(v.stop), _freeze(v.step))
    if isinstance(v, dict):
        return ("dict",) + tuple(sorted((k, _freeze(e)) for k, e in v.items()))
    if isinstance(v, np.dtype):
        return ("dtype", v.str)
    if isinstance(v, type):
        return ("type", np.dtype(v).str) if issubclass(v, np.generic) else ("type", id(v))
    hash(v)
    return (type(v).__name__, v)


class Instr:
    """One instruction: ``slot = op(*args, **attrs)`` over slot numbers."""

    __slots__ = ("slot", "op", "args", "attrs")

    def __init__(self, slot: int, op: Op, args: tuple[int, ...], attrs: dict) -> None:
        self.slot, self.op, self.args, self.attrs = slot, op, args, attrs


class Slots:
    """The graph of ``outputs`` over ``inputs`` as a list of instructions over slots.

    Attributes: ``slot_of`` (``id(node)`` -> slot), ``kinds`` (per slot ``(kind, payload)``, payload the input's position
    for ``"in"``), ``consts`` (slot -> value of the live constants), ``instrs`` (the
    live instructions in topological order), ``in_slots``, ``out_slots``, ``wrt_slots``
    and ``needs`` (the slots on a path from a ``wrt`` input: they carry cotangents).
    ``index`` maps ``id(input node)`` to its position; ``stats`` gets the counts.
    """

    __slots__ = ("kinds", "consts", "instrs", "in_slots", "out_slots", "wrt_slots",
                 "needs", "stats", "slot_of")

    def __init__(self, outputs: Sequence[Any], inputs: Sequence[Any], stats: dict,
                 wrt: Sequence[Any] = (), index: dict[int, int] | None = None) -> None:
        if index is None:
            index = {id(n): k for k, n in enumerate(inputs)}
        self.stats = stats
        self._read(outputs, inputs)
        self.wrt_slots = tuple(self.in_slots[index[id(n)]] for n in wrt)
        self._eliminate_dead()
        self._mark_needs()

    def _read(self, outputs: Sequence[Any], inputs: Sequence[Any]) -> None:
        """Walk the graph once: fold constants, share equal instructions (CSE)."""
        kinds: list[tuple[str, Any]] = []
        consts: dict[int, Any] = {}                 # slot -> value
        of: dict[int, int] = {}                     # id(node) -> slot
        in_slots = []
        for k, n in enumerate(inputs):
            of[id(n)] = len(kinds)
            in_slots.append(len(kinds))
            kinds.append(("in", k))
        instrs: list[Instr] = []
        seen: dict[Any, int] = {}
        order = toposort(list(outputs))
        self.stats["nodes"] = len(order)
        for node in order:
            if id(node) in of:
                continue
            op = node.op
            if op is None:
                value = leaf_value(node)
                if value is None:
                    raise ValueError(
                        f"Program: leaf {getattr(node, 'name', None) or node!r} has no value "
                        "and is not listed in inputs; bind a value or pass it as an input")
                of[id(node)] = len(kinds)
                consts[len(kinds)] = value
                kinds.append(("const", None))
                continue
            args = tuple(of[id(i)] for i in node.inputs)
            attrs = dict(node.attrs)
            if all(kinds[a][0] == "const" for a in args):
                value = kernel(op)(*(consts[a] for a in args), **attrs)
                of[id(node)] = len(kinds)
                consts[len(kinds)] = value
                kinds.append(("const", None))
                self.stats["folded"] += 1
                continue
            try:
                key = (op, args, _freeze(attrs))
            except TypeError:                       # unhashable attr: no CSE for this node
                key = None
            if key is not None and key in seen:
                of[id(node)] = seen[key]
                self.stats["cse"] += 1
                continue
            slot = len(kinds)
            kinds.append(("tmp", None))
            instrs.append(Instr(slot, op, args, attrs))
            of[id(node)] = slot
            if key is not None:
                seen[key] = slot
        self.kinds, self.consts, self.instrs = kinds, consts, instrs
        self.slot_of = of
        self.in_slots = tuple(in_slots)
        self.out_slots = tuple(of[id(n)] for n in outputs)

    def _eliminate_dead(self) -> None:
        live = set(self.out_slots)
        kept = []
        for ins in reversed(self.instrs):
            if ins.slot in live:
                live.update(ins.args)
                kept.append(ins)
        self.stats["dead"] = len(self.instrs) - len(kept)
        self.instrs = kept[::-1]
        for s in [s for s in self.consts if s not in live]:
            del self.consts[s]

    def _mark_needs(self) -> None:
        needs = set(self.wrt_slots)
        for ins in self.instrs:
            if any(a in needs for a in ins.args):
                needs.add(ins.slot)
        self.needs = needs

    # -- reading slots --------------------------------------------------------------

    def name(self, s: int) -> str:
        """The variable of slot ``s`` in generated code: ``x<k>``, ``c<s>`` or ``t<s>``."""
        kind, payload = self.kinds[s]
        return {"in": "x", "const": "c", "tmp": "t"}[kind] + str(payload if kind == "in" else s)

    def is_const(self, s: int) -> bool:
        return self.kinds[s][0] == "const"

    def const_scalar(self, s: int) -> float | None:
        """The value of a constant 0-d float slot as a Python float, else None."""
        if self.kinds[s][0] != "const":
            return None
        v = np.asarray(self.consts[s])
        if v.shape != () or v.dtype.kind != "f" or not np.isfinite(v):
            return None
        return float(v)

    def const_nonzero(self, s: int) -> bool:
        """Is slot ``s`` a constant with no zero element?"""
        return self.kinds[s][0] == "const" and bool(np.all(np.asarray(self.consts[s]) != 0))
