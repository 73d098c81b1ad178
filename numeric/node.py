"""The IR: one immutable graph node read by every path.

A :class:`Node` is an op applied to input nodes, or a leaf.  It holds structure
only -- never an intermediate value -- so a graph survives ``backward()`` (which
frees values) and is shared by the executor, compiled programs, the SymPy
lowering, the matrix form, ``verify`` and the graph pictures.  symgrad's
``Tensor`` is a handle around a node (value, ``grad``, ``requires_grad``,
version, hooks); see docs/architecture.md "The node and the handle".

Fields:

``op``       an :class:`~numeric.ops.Op` (or a user-defined op object with
             ``forward``/``vjp``); ``None`` for a leaf
``inputs``   tuple of input nodes (empty for a leaf)
``attrs``    the op's parameters only (``axis``, ``shape``, ...; see
             :mod:`numeric.ops`); read-only by contract
``shape``    tuple of dims (ints, or strings such as ``"N"`` for symbols)
``dtype``    numpy dtype
``name``     a leaf's SymPy name (``name=``, a module path such as
             ``"fc1.weight"``) or None (lowering then picks one)
``role``     a leaf's role: ``"symbol"`` (no value), ``"data"`` (an array the
             user gave), ``"constant"`` (a Python number in an expression);
             ``None`` for op nodes
``literal``  a constant's exact Python number (``2``, ``0.5``), or :data:`IDENTITY` for
             ``sg.eye("N")`` (an identity of symbolic size, no data), else None
``data``     a data or constant leaf's array (shared with its tensor), else None

Note [Leaf roles]
    Lowering decides symbol-or-number from the leaf and the caller's ``wrt``
    alone: a symbol is always a SymPy symbol, a constant always its exact
    literal, a data leaf a symbol when it is a variable of the call (in ``wrt``)
    or has a name of its own, and its exact value otherwise.
    ``requires_grad`` is the handle's business and never consulted.

>>> import numpy as np
>>> from numeric.ops import Op
>>> x = Node.leaf("data", np.array([1.0, 2.0]), name="x")
>>> y = Node.make(Op.EXP, (x,), {}, (2,), x.dtype)
>>> y.op, y.inputs[0].name, y.shape, x.role
(Op.EXP, 'x', (2,), 'data')
>>> y.op = Op.LOG
Traceback (most recent call last):
...
AttributeError: Node is immutable: build a new node instead of setting 'op'

Note [Node layout]
    A node is a tuple underneath (one C-level allocation: building an op node
    costs ~0.15 us, against ~0.45 us for a class with nine slot stores, and
    the eager hot path builds one per op).  Equality and hashing are by
    identity, as for any graph node.  Tuples cannot be weakly referenced, so a
    leaf made without a name carries one mutable cell, ``name_cell``, in which
    lowering keeps the display name it gives the leaf (Note [Leaf names] in
    symgrad/naming.py); every field proper is immutable.
"""
from __future__ import annotations

from operator import itemgetter
from types import MappingProxyType
from typing import Any, Optional

import numpy as np


__all__ = ["Node", "NO_ATTRS", "ROLES", "as_node", "many"]

#: the shared ``attrs`` of every node without parameters (one object, not one dict per op)
NO_ATTRS = MappingProxyType({})
ROLES = ("symbol", "data", "constant")

_tuple_new = tuple.__new__
#: the ``literal`` of an identity matrix of symbolic size (``sg.eye("N")``): no data,
#: lowered to ``Identity(N)`` in matrix form
IDENTITY = "identity"

_FIELDS = ("op", "inputs", "attrs", "shape", "dtype", "name", "role", "literal", "data",
           "name_cell")


class Node(tuple):
    """An immutable graph node (see the module docstring for the fields)."""

    __slots__ = ()
    op = property(itemgetter(0), doc="the Op (or user op object); None for a leaf")
    inputs = property(itemgetter(1), doc="tuple of input nodes")
    attrs = property(itemgetter(2), doc="the op's parameters (read-only mapping)")
    shape = property(itemgetter(3), doc="tuple of dims (ints or strings)")
    dtype = property(itemgetter(4), doc="numpy dtype")
    name = property(itemgetter(5), doc="a leaf's own name, or None")
    role = property(itemgetter(6), doc="'symbol', 'data' or 'constant' for a leaf; None for ops")
    literal = property(itemgetter(7), doc="a constant's exact Python number, else None")
    data = property(itemgetter(8), doc="a data or constant leaf's array, else None")
    name_cell = property(itemgetter(9), doc="Note [Node layout]: display-name cache or None")

    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"Node is immutable: build a new node instead of setting {key!r}")

    def __delattr__(self, key: str) -> None:
        raise AttributeError(f"Node is immutable: cannot delete {key!r}")

    @staticmethod
    def make(op: Any, inputs: tuple, attrs: Any, shape: tuple, dtype: Any) -> "Node":
        """An op node (the hot-path constructor: no validation)."""
        return _tuple_new(Node, (op, inputs, attrs or NO_ATTRS, shape, dtype, None, None,
                                 None, None, None))

    @staticmethod
    def leaf(role: str, data: Any = None, *, name: Optional[str] = None, literal: Any = None,
             shape: Optional[tuple] = None, dtype: Any = None) -> "Node":
        """A leaf: ``"data"``/``"constant"`` with an array, or a ``"symbol"`` with shape/dtype.

        >>> Node.leaf("symbol", name="X", shape=("N", 3), dtype=np.float64).shape
        ('N', 3)
        >>> Node.leaf("constant", np.array(2.0), literal=2).literal
        2
        """
        if role not in ROLES:
            raise ValueError(f"leaf role must be one of {ROLES}, got {role!r}")
        if role == "symbol" or literal == IDENTITY:
            if data is not None:
                raise ValueError("a symbol leaf has no value; use role 'data' for arrays")
            shape, dtype = tuple(shape), np.dtype(dtype)
        elif data is None:
            raise ValueError(f"a {role} leaf needs its array")
        else:
            shape, dtype = data.shape, data.dtype
        return _tuple_new(Node, (None, (), NO_ATTRS, shape, dtype, name, role, literal, data,
                                 [None] if name is None else None))

    @staticmethod
    def data_leaf(value: np.ndarray, cell: bool = True) -> "Node":
        """An unnamed data leaf around an ndarray (the hot-path leaf constructor).

        ``cell=False`` leaves out the display-name cell, for the leaves the library
        makes by the thousand (gradients, results computed without a graph): such
        a leaf, if it is ever lowered as a variable, is called ``t_<hex id>``.
        """
        return _tuple_new(Node, (None, (), NO_ATTRS, value.shape, value.dtype, None, "data",
                                 None, value, [None] if cell else None))

    def renamed(self, name: Optional[str]) -> "Node":
        """This leaf under another name (a new node; this one is unchanged)."""
        if self.op is not None:
            raise ValueError("only leaves have names; this node is an op")
        if self.role == "symbol":
            return Node.leaf("symbol", name=name, shape=self.shape, dtype=self.dtype)
        return Node.leaf(self.role, self.data, name=name, literal=self.literal)

    @property
    def is_leaf(self) -> bool:
        """True for leaves (``op is None``)."""
        return self[0] is None

    def __reduce__(self) -> Any:
        raise TypeError("symgrad graph nodes are not pickled; save values with sg.save "
                        "or rebuild the graph")

    def __repr__(self) -> str:
        if self.op is None:
            what = f"{self.role} {self.name!r}" if self.name else self.role
            if self.role == "constant":
                what = f"constant {self.literal!r}"
        else:
            what = getattr(self.op, "name", None) or type(self.op).__name__
        return f"<Node {what} shape={self.shape} dtype={self.dtype}>"


def as_node(x: Any) -> Node:
    """The IR node of a handle (anything with a ``node``, e.g. a Tensor) or a node itself.

    >>> as_node(Node.leaf("data", np.zeros(2))).role
    'data'
    """
    node = getattr(x, "node", x)
    if node.__class__ is Node:
        return node
    raise TypeError(f"expected a symgrad Tensor or graph Node, got {type(x).__name__}")


def many(x: Any) -> bool:
    """Is ``x`` a list or tuple of items (and not one node, which is a tuple underneath)?

    >>> many([1, 2]), many(Node.leaf("data", np.zeros(1)))
    (True, False)
    """
    return isinstance(x, (list, tuple)) and x.__class__ is not Node
