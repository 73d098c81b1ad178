"""The reverse-mode executor: ``backward`` and ``evaluate`` over any node objects.

A node is anything with ``op`` (an :class:`~numeric.ops.Op`, a user-defined op
object with ``forward``/``vjp``, or ``None`` for a leaf), ``inputs`` (tuple),
``attrs`` (dict), ``value`` (ndarray) and ``requires_grad`` (bool); see
docs/architecture.md "The node protocol".  numeric never imports the classes
that implement it.

Note [One accumulation site]
    Cotangents live in one dict keyed by ``id(node)``.  A node's cotangent is
    complete once every user has run (reverse topological order guarantees
    it); it is popped when consumed, so intermediates are dropped as early as
    possible, and fan-out (``x * x + x``) is summed in exactly one place.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np

from numeric.graph import toposort
from numeric.kernels import FORWARD
from numeric.ops import VARIADIC, Op
from numeric.vjps import VJP, unbroadcast

FREED_GRAPH = ("Trying to backward through the graph a second time (or directly access saved "
               "tensors after they have already been freed). Specify retain_graph=True if you "
               "need to backward through the graph a second time.")

_Op = Op


def _requires_grad(node: Any) -> bool:
    if not node.requires_grad:
        return False
    if node.op is not None and not node.inputs:
        raise RuntimeError(FREED_GRAPH)
    return True


def _node_value(node: Any) -> Any:
    return node.value


def backward(outputs: Sequence[Any], cotangents: Sequence[Any], *,
             targets: Optional[Iterable[Any]] = None,
             value: Optional[Callable[[Any], Any]] = None,
             release: Optional[Callable[[Any], Any]] = None) -> dict[int, Any]:
    """Reverse-mode gradients of ``outputs`` (seeded with ``cotangents``).

    Walks only nodes whose ``requires_grad`` is true, in reverse topological
    order, without recursion; calls only the VJPs of inputs that require grad
    (and, when ``targets`` is given, lead to one); accumulates fan-out; drops
    each cotangent once consumed.

    Arguments:
        outputs: the nodes to differentiate.
        cotangents: one per output, shaped like its value (cast to its dtype).
        targets: nodes (leaves or not) whose gradients to return; default:
            every leaf (``op is None``) reached.
        value: ``node -> value handed to VJPs`` (default ``node.value``);
            symgrad passes ``lambda n: n`` so that VJPs build a graph.
        release: called on each op node after its VJPs ran (to free the graph).

    Returns ``{id(node): gradient}``.  Targets no cotangent reached are absent.
    Returned arrays may be read-only views or shared between entries: treat
    them as immutable.

    Raises RuntimeError for an op node whose ``inputs`` were freed (before
    running anything) or an output that does not require grad, ValueError for
    a cotangent of the wrong shape.

    >>> class N:
    ...     def __init__(self, op, inputs, value, requires_grad=True):
    ...         self.op, self.inputs, self.attrs = op, inputs, {}
    ...         self.value, self.requires_grad = value, requires_grad
    >>> x = N(None, (), np.array([3.0]))
    >>> y = N(Op.MUL, (x, x), x.value * x.value)
    >>> backward([y], [np.ones(1)])[id(x)]
    array([6.])
    """
    if len(outputs) != len(cotangents):
        raise ValueError(f"backward got {len(outputs)} outputs but {len(cotangents)} "
                         "cotangents; pass one cotangent per output")
    get = _node_value if value is None else value
    cts: dict[int, Any] = {}
    for k, (node, ct) in enumerate(zip(outputs, cotangents)):
        if not node.requires_grad:
            raise RuntimeError(f"output {k} does not require grad and has no gradient "
                               "function; differentiate an output computed from a node "
                               "with requires_grad=True")
        v = get(node)
        if not hasattr(ct, "shape"):
            ct = np.asarray(ct, dtype=v.dtype)
        if ct.shape != v.shape:
            raise ValueError(f"cotangent {k} has shape {tuple(ct.shape)} but output {k} has "
                             f"shape {tuple(v.shape)}; pass a cotangent shaped like the output")
        if ct.shape != v.shape or ct.dtype != v.dtype:
            ct = unbroadcast(ct, v.shape, v.dtype)
        key = id(node)
        cts[key] = cts[key] + ct if key in cts else ct

    order = _grad_order(outputs)            # raises on a freed graph, before any work
    if targets is not None or value is not None:
        grads = _general(order, cts, targets, value, release)
    else:
        grads = _leaves(order, cts, release)
    for key, g in grads.items():
        if isinstance(g, np.generic):
            grads[key] = np.asarray(g)
    return grads


def _grad_order(outputs: Sequence[Any]) -> list:
    """Nodes that require grad, reachable from ``outputs``, inputs first.

    ``toposort`` with the requires-grad filter inlined (this walk runs once per
    ``backward()`` in every eager training step, so its per-node cost counts).
    """
    order: list = []
    seen: set[int] = set()
    append, add = order.append, seen.add
    for root in outputs:
        if id(root) in seen:
            continue
        _requires_grad(root)
        add(id(root))
        stack = [(root, iter(root.inputs))]
        push, pop = stack.append, stack.pop
        while stack:
            node, inputs = stack[-1]
            for child in inputs:
                if child.requires_grad and id(child) not in seen:
                    if child.op is not None and not child.inputs:
                        raise RuntimeError(FREED_GRAPH)
                    add(id(child))
                    push((child, iter(child.inputs)))
                    break
            else:
                pop()
                append(node)
    return order


def _leaves(order: list, cts: dict, release: Optional[Callable[[Any], Any]]) -> dict:
    """The training-loop case: gradients of every leaf, VJPs on plain values."""
    grads: dict[int, Any] = {}
    pop, get = cts.pop, cts.get
    for node in reversed(order):
        key = id(node)
        g = pop(key, None)
        op = node.op
        if op is None:
            if g is not None:
                grads[key] = g
            continue
        if g is not None:
            inputs = node.inputs
            rules = VJP[op] if op.__class__ is _Op else op.vjp
            vals = [i.value for i in inputs]
            out = node.value
            attrs = node.attrs
            for i, inp in enumerate(inputs):
                if not inp.requires_grad:
                    continue
                if op in VARIADIC:
                    c = rules[0](g, out, *vals, argnum=i, **attrs)
                else:
                    rule = rules[i]
                    if rule is None:
                        continue
                    c = rule(g, out, *vals, **attrs) if attrs else rule(g, out, *vals)
                if c is None:
                    continue
                v = vals[i]
                # the one place where cotangents meet their input's shape and dtype
                if c.shape != v.shape or c.dtype != v.dtype:
                    c = unbroadcast(c, v.shape, v.dtype)
                k = id(inp)
                prev = get(k)
                cts[k] = c if prev is None else prev + c
        if release is not None:
            release(node)
    return grads


def _general(order: list, cts: dict, targets: Optional[Iterable[Any]],
             value: Optional[Callable[[Any], Any]],
             release: Optional[Callable[[Any], Any]]) -> dict:
    """Gradients of chosen ``targets`` and/or VJPs run on ``value(node)``."""
    get = _node_value if value is None else value
    wanted: Optional[set[int]] = None
    useful: Optional[set[int]] = None
    if targets is not None:
        wanted = {id(t) for t in targets}
        # a node is useful if a target is among it and its inputs, transitively
        useful = set()
        for node in order:
            key = id(node)
            if key in wanted or any(id(i) in useful for i in node.inputs):
                useful.add(key)

    grads: dict[int, Any] = {}
    pop = cts.pop
    for node in reversed(order):
        key = id(node)
        g = pop(key, None)
        op = node.op
        if g is None:                       # no path to a target, or only None VJPs
            if release is not None and op is not None:
                release(node)
            continue
        if wanted is None:
            if op is None:
                grads[key] = g
                continue
        elif key in wanted:
            grads[key] = g
        if op is None:
            continue
        inputs = node.inputs
        if op.__class__ is _Op:
            rules = VJP[op]
            variadic = op in VARIADIC
        else:
            rules = op.vjp
            variadic = False
        vals = [get(i) for i in inputs]
        out = get(node)
        attrs = node.attrs
        for i, inp in enumerate(inputs):
            if not inp.requires_grad or (useful is not None and id(inp) not in useful):
                continue
            if variadic:
                c = rules[0](g, out, *vals, argnum=i, **attrs)
            else:
                rule = rules[i]
                if rule is None:
                    continue
                c = rule(g, out, *vals, **attrs)
            if c is None:
                continue
            v = vals[i]
            if c.shape != v.shape or (c.dtype is not v.dtype and c.dtype != v.dtype):
                c = unbroadcast(c, v.shape, v.dtype)
            k = id(inp)
            prev = cts.get(k)
            cts[k] = c if prev is None else prev + c
        if release is not None:
            release(node)
    return grads


def evaluate(outputs: Sequence[Any], bindings: Optional[dict[int, Any]] = None) -> list:
    """Forward-evaluate the graph of ``outputs``; returns their values.

    Leaves take their value from ``bindings`` (``{id(leaf): array}``) or, if
    unbound, their own ``.value``.  Every op node is recomputed (iteratively).

    >>> class N:
    ...     def __init__(self, op, inputs, value=None):
    ...         self.op, self.inputs, self.attrs, self.value = op, inputs, {}, value
    >>> x = N(None, (), np.array(2.0))
    >>> y = N(Op.EXP, (x,))
    >>> evaluate([y], {id(x): np.array(0.0)})
    [array(1.)]
    """
    bindings = bindings or {}
    vals: dict[int, Any] = {}
    for node in toposort(outputs):
        key = id(node)
        op = node.op
        if op is None:
            vals[key] = bindings[key] if key in bindings else node.value
            continue
        if key in bindings:
            vals[key] = bindings[key]
            continue
        kernel = FORWARD[op] if op.__class__ is _Op else op.forward
        vals[key] = kernel(*[vals[id(i)] for i in node.inputs], **node.attrs)
    return [vals[id(o)] for o in outputs]
