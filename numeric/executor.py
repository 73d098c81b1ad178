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
             release: Optional[Callable[[Any], Any]] = None,
             hooks: Optional[dict[int, Callable[[Any], Any]]] = None) -> dict[int, Any]:
    """Reverse-mode gradients of ``outputs`` (seeded with ``cotangents``).

    Walks only nodes whose ``requires_grad`` is true, in reverse topological
    order, without recursion; calls only the VJPs of inputs that require grad
    (and, when ``targets`` is given, lead to one); accumulates fan-out; drops
    each cotangent once consumed.

    Arguments:
        outputs: the nodes to differentiate (a sequence, or one node).
        cotangents: one per output (or one, for one node), shaped like its
            value (cast to its dtype).
        targets: nodes (leaves or not) whose gradients to return; default:
            every leaf (``op is None``) reached.
        value: ``node -> value handed to VJPs`` (default ``node.value``);
            symgrad passes ``lambda n: n`` so that VJPs build a graph.
        release: called on each op node after its VJPs ran (to free the graph).
        hooks: ``{id(node): hook}``; once a node's cotangent is complete it is
            replaced by ``hook(cotangent)`` before being used or returned
            (symgrad's ``register_hook`` and ``retain_grad``).

    Nodes without ``requires_grad`` count as requiring grad, nodes without
    ``attrs`` have none, and ops may be given by name (``"mul"``); see
    Note [Minimal nodes].

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
    if not isinstance(outputs, (tuple, list)) and hasattr(outputs, "inputs"):
        outputs = (outputs,)                # one node and its cotangent, not lists
        if not (isinstance(cotangents, (list, tuple)) and len(cotangents) == 1
                and hasattr(cotangents[0], "shape")):
            cotangents = (cotangents,)
    if len(outputs) != len(cotangents):
        raise ValueError(f"backward got {len(outputs)} outputs but {len(cotangents)} "
                         "cotangents; pass one cotangent per output")
    for node in outputs:
        if node.__class__ not in _COMPLETE and not _conforms(node):
            return _adapted_backward(outputs, cotangents, targets, value, release, hooks)
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
        if ct.dtype != v.dtype:
            ct = unbroadcast(ct, v.shape, v.dtype)
        key = id(node)
        cts[key] = cts[key] + ct if key in cts else ct

    order = _grad_order(outputs)            # raises on a freed graph, before any work
    if targets is not None or value is not None or hooks:
        grads = _general(order, cts, targets, value, release, hooks)
    else:
        grads = _leaves(order, cts, release)
    for key, g in grads.items():
        if isinstance(g, np.generic):
            grads[key] = np.asarray(g)
    return grads


#: node classes seen with the full protocol (checked once per class, off the hot path)
_COMPLETE: set = set()


def _conforms(node: Any) -> bool:
    """True if ``node`` has ``requires_grad`` and ``attrs`` (the full protocol)."""
    if not (hasattr(node, "requires_grad") and hasattr(node, "attrs")):
        return False
    _COMPLETE.add(node.__class__)
    return True


def _other_rules(op: Any) -> tuple[Any, bool]:
    """``(vjp rules, variadic)`` of an op named by a string or a user-defined op object."""
    if op.__class__ is str:
        op = Op(op)
        return VJP[op], op in VARIADIC
    return op.vjp, False


def _as_op(op: Any) -> Any:
    """An op given by name (``"mul"``, ``"MUL"``) as its ``Op``; other ops unchanged."""
    return Op(op) if op.__class__ is str else op


class _Adapted:
    """A node lacking part of the protocol, completed with its defaults (see below)."""

    __slots__ = ("op", "inputs", "attrs", "value", "requires_grad", "orig")


def _adapted_backward(outputs: Sequence[Any], cotangents: Sequence[Any],
                      targets: Optional[Iterable[Any]], value: Optional[Callable[[Any], Any]],
                      release: Optional[Callable[[Any], Any]],
                      hooks: Optional[dict[int, Callable[[Any], Any]]]) -> dict[int, Any]:
    """``backward`` on nodes with only ``op``, ``inputs`` and ``value`` (Note [Minimal nodes]).

    Note [Minimal nodes]
        A node without ``requires_grad`` requires grad; one without ``attrs``
        has none; an op may be given by name (``"mul"``).  Such graphs are
        copied once into complete nodes (keeping the hot path free of the
        checks) and the gradients mapped back to the original nodes' ids.
    """
    made: dict[int, _Adapted] = {}
    for node in toposort(outputs):
        a = _Adapted()
        a.op = _as_op(node.op)
        a.inputs = tuple(made[id(i)] for i in node.inputs)
        a.attrs = getattr(node, "attrs", None) or {}
        a.value = node.value
        a.requires_grad = getattr(node, "requires_grad", True)
        a.orig = node
        made[id(node)] = a
    grads = backward(
        [made[id(o)] for o in outputs], cotangents,
        targets=None if targets is None else [made[id(t)] for t in targets if id(t) in made],
        value=None if value is None else (lambda a: value(a.orig)),
        release=None if release is None else (lambda a: release(a.orig)),
        hooks=None if not hooks else {id(a): hooks[key] for key, a in made.items()
                                      if key in hooks})
    back = {id(a): id(a.orig) for a in made.values()}
    return {back[key]: g for key, g in grads.items()}


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
                    add(id(child))
                    grand = child.inputs
                    if grand:
                        push((child, iter(grand)))
                        break
                    if child.op is not None:
                        raise RuntimeError(FREED_GRAPH)
                    append(child)           # a leaf: done at once, no stack frame
            else:
                pop()
                append(node)
    return order


def _leaves(order: list, cts: dict, release: Optional[Callable[[Any], Any]]) -> dict:
    """The training-loop case: gradients of every leaf, VJPs on plain values.

    Same semantics as :func:`_general` without targets; unary and binary nodes
    (nearly all of them) skip the generic per-input loop.
    """
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
            out = node.value
            attrs = node.attrs
            if op.__class__ is _Op:
                rules = VJP[op]
                variadic = op in VARIADIC
            else:
                rules, variadic = _other_rules(op)
            n = len(inputs)
            if n == 2 and not variadic:
                a, b = inputs
                av, bv = a.value, b.value
                if a.requires_grad:
                    rule = rules[0]
                    if rule is not None:
                        c = rule(g, out, av, bv, **attrs) if attrs else rule(g, out, av, bv)
                        if c is not None:
                            if c.shape != av.shape or c.dtype != av.dtype:
                                c = unbroadcast(c, av.shape, av.dtype)
                            k = id(a)
                            prev = get(k)
                            cts[k] = c if prev is None else prev + c
                if b.requires_grad:
                    rule = rules[1]
                    if rule is not None:
                        c = rule(g, out, av, bv, **attrs) if attrs else rule(g, out, av, bv)
                        if c is not None:
                            if c.shape != bv.shape or c.dtype != bv.dtype:
                                c = unbroadcast(c, bv.shape, bv.dtype)
                            k = id(b)
                            prev = get(k)
                            cts[k] = c if prev is None else prev + c
            elif n == 1 and not variadic:
                (a,) = inputs
                if a.requires_grad and rules[0] is not None:
                    av = a.value
                    c = rules[0](g, out, av, **attrs) if attrs else rules[0](g, out, av)
                    if c is not None:
                        if c.shape != av.shape or c.dtype != av.dtype:
                            c = unbroadcast(c, av.shape, av.dtype)
                        k = id(a)
                        prev = get(k)
                        cts[k] = c if prev is None else prev + c
            else:
                vals = [i.value for i in inputs]
                for i, inp in enumerate(inputs):
                    if not inp.requires_grad:
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
             release: Optional[Callable[[Any], Any]],
             hooks: Optional[dict[int, Callable[[Any], Any]]] = None) -> dict:
    """Gradients of chosen ``targets`` and/or VJPs run on ``value(node)``, with hooks."""
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
        if hooks:
            hook = hooks.get(key)
            if hook is not None:
                g = hook(g)
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
            rules, variadic = _other_rules(op)
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
        op = _as_op(op)
        kernel = FORWARD[op] if op.__class__ is _Op else op.forward
        vals[key] = kernel(*[vals[id(i)] for i in node.inputs],
                           **(getattr(node, "attrs", None) or {}))
    return [vals[id(o)] for o in outputs]
