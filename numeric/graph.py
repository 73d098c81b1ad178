"""Graph walks over any node objects with an ``inputs`` tuple.

One iterative topological sort (an explicit stack, never recursion) serves
backward, evaluation, lowering, printing and compiling.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Optional


def toposort(outputs: Iterable[Any],
             include: Optional[Callable[[Any], Any]] = None) -> list:
    """All nodes reachable from ``outputs``, each once, inputs before their users.

    Nodes are identified by ``id``.  ``include(node)`` prunes the walk: a node
    for which it is falsy is neither listed nor entered (nor are its inputs,
    unless reachable another way).  Depth is limited only by memory.

    >>> class N:
    ...     def __init__(self, name, *inputs): self.name, self.inputs = name, inputs
    >>> a = N("a"); b = N("b", a); c = N("c", a, b)
    >>> [n.name for n in toposort([c])]
    ['a', 'b', 'c']
    >>> [n.name for n in toposort([c], include=lambda n: n.name != "b")]
    ['a', 'c']
    """
    order: list = []
    seen: set[int] = set()
    append, add = order.append, seen.add
    for root in outputs:
        if id(root) in seen or (include is not None and not include(root)):
            continue
        add(id(root))
        stack = [(root, iter(root.inputs))]
        push, pop = stack.append, stack.pop
        while stack:
            node, inputs = stack[-1]
            for child in inputs:
                if id(child) not in seen and (include is None or include(child)):
                    add(id(child))
                    push((child, iter(child.inputs)))
                    break
            else:
                pop()
                append(node)
    return order
