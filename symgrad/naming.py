"""Leaf names for SymPy: the one place that says what a leaf is called.

Note [Leaf names]
    Every leaf lowers under a name.  A node's own ``name`` wins (``name=``, an
    ``sg.symbol``'s name, an ``nn`` parameter's module path such as
    ``"fc1.weight"``).  A leaf made without one gets a display name the first
    time one is needed, and keeps it for as long as the node lives: the
    caller's variable when a closed-form call can see it (so ``x =
    sg.tensor([5.0]); sg.diff(x ** 2, x)`` reads ``2*x``; see
    :func:`name_from_caller`), else ``"t<k>"`` from one process-wide counter.
    Nodes are immutable, so display names live here, in a weak table keyed by
    node: they go when the node goes.

>>> from numeric.node import Node
>>> import numpy as np
>>> a = Node.leaf("data", np.zeros(2), name="a"); b = Node.leaf("data", np.zeros(2))
>>> leaf_name(a), leaf_name(b) == leaf_name(b), known_name(Node.leaf("data", np.zeros(1)))
('a', True, None)
"""
from __future__ import annotations

import itertools
import sys
import weakref
from typing import Any, Iterable, Optional

_DISPLAY: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()
_COUNTER = itertools.count()
_INTERNAL_PACKAGES = frozenset({"symgrad", "numeric", "verify"})


def known_name(node: Any) -> Optional[str]:
    """The node's name or the display name it already got; None if it has neither."""
    return node.name if node.name is not None else _DISPLAY.get(node)


def leaf_name(node: Any) -> str:
    """The node's name, giving it an automatic ``"t<k>"`` display name if it has none."""
    name = node.name
    if name is None:
        name = _DISPLAY.get(node)
        if name is None:
            name = _DISPLAY[node] = f"t{next(_COUNTER)}"
    return name


def name_from_caller(leaves: Iterable[Any], depth: int = 1) -> None:
    """Name unnamed ``leaves`` after the variables holding them in the caller's code.

    The calling code is the first frame outside symgrad/numeric/verify.  A
    variable counts when it holds a Tensor whose node is the leaf.  Names used
    by another leaf of the same call, or starting with ``_``, are skipped (the
    leaf then gets ``t<k>`` later).  A name once given sticks.
    """
    leaves = list(leaves)
    unnamed = {id(n): n for n in leaves if known_name(n) is None}
    if not unnamed:
        return
    frame = sys._getframe(depth)
    while frame is not None and \
            str(frame.f_globals.get("__name__", "")).split(".")[0] in _INTERNAL_PACKAGES:
        frame = frame.f_back
    if frame is None:
        return
    taken = {known_name(n) for n in leaves} - {None}
    for scope in (frame.f_locals, frame.f_globals):
        for var, obj in list(scope.items()):
            node = getattr(obj, "node", None) if hasattr(obj, "grad") else None
            if node is None or id(node) not in unnamed or unnamed[id(node)] is not node:
                continue
            if var.isidentifier() and not var.startswith("_") and var not in taken:
                _DISPLAY[node] = var
                taken.add(var)
                del unnamed[id(node)]
        if not unnamed:
            return
