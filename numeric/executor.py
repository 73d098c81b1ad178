r"""The reverse-mode executor: ``backward`` over handles, ``evaluate`` over nodes.

The graph is made of immutable :class:`numeric.node.Node` objects.  Backward
needs the values of one run as well, so it walks *handles*: objects with
``node`` (the IR node: op, attrs), ``inputs`` (the input handles, whose
``value``\ s the VJPs read), ``value`` and ``requires_grad``.  symgrad's
``Tensor`` is the handle; numeric never imports it.  See docs/architecture.md
"The node and the handle".

Note [One accumulation site]
    Cotangents live in one dict keyed by ``id(handle)``.  A handle's cotangent
    is complete once every user has run (reverse topological order guarantees
    it); it is popped when consumed, so intermediates are dropped as early as
    possible, and fan-out (``x * x + x``) is summed in exactly one place.

Note [Slices add in place]
    ``split``, ``unbind`` and ``x[i]`` loops make n basic-index ``GETITEM`` nodes
    over one input; each VJP (``scatter_add`` into zeros of the whole input) and
    each ``prev + c`` would cost the whole input, O(n * size).  The training
    loop's path instead adds ``g`` into the input's cotangent buffer at the
    index, in place, once the executor owns that buffer (it allocated it: zeros
    or a copy; a later ``prev + c`` is a fresh sum, still its own), so the pieces
    cost O(size) in all.  Both paths do it on plain values (not when VJPs build a
    graph, ``create_graph=True``), and only while ``VJP[Op.GETITEM]`` is the
    declared rule: a replaced rule (verify's mutants) runs as written.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np

from numeric.graph import toposort
from numeric.kernels import FORWARD
from numeric.node import NO_ATTRS, Node
from numeric.ops import VARIADIC, Op
from numeric.rules.movement import is_basic
from numeric.vjps import VJP, unbroadcast

FREED_GRAPH = ("Trying to backward through the graph a second time (or directly access saved "
               "tensors after they have already been freed). Specify retain_graph=True if you "
               "need to backward through the graph a second time.")

_Op = Op
_GETITEM, _GETITEM_RULES = Op.GETITEM, VJP[Op.GETITEM]


def _requires_grad(h: Any) -> bool:
    if not h.requires_grad:
        return False
    if h.op is not None and not h.inputs:
        raise RuntimeError(FREED_GRAPH)
    return True


def _handle_value(h: Any) -> Any:
    return h.value


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
        outputs: the handles to differentiate (a sequence, or one handle).
        cotangents: one per output (or one, for one node), shaped like its
            value (cast to its dtype).
        targets: handles (leaves or not) whose gradients to return; default:
            every leaf (``node.op is None``) reached.
        value: ``handle -> value handed to VJPs`` (default ``handle.value``);
            symgrad passes ``lambda h: h`` so that VJPs build a graph.
        release: called on each op handle after its VJPs ran (to free values).
        hooks: ``{id(handle): hook}``; once a handle's cotangent is complete it is
            replaced by ``hook(cotangent)`` before being used or returned
            (symgrad's ``register_hook`` and ``retain_grad``).

    Returns ``{id(handle): gradient}``.  Targets no cotangent reached are absent.
    Returned arrays may be read-only views or shared between entries: treat
    them as immutable.

    Raises RuntimeError for an op handle whose ``inputs`` were freed (before
    running anything) or an output that does not require grad, ValueError for
    a cotangent of the wrong shape.

    >>> from numeric.node import Node
    >>> class H:                               # a minimal handle
    ...     def __init__(self, node, inputs, value):
    ...         self.node, self.inputs, self.value = node, inputs, value
    ...         self.op, self.attrs, self.requires_grad = node.op, node.attrs, True
    >>> x = H(Node.leaf("data", np.array([3.0])), (), np.array([3.0]))
    >>> y = H(Node.make(Op.MUL, (x.node, x.node), {}, (1,), x.value.dtype), (x, x), x.value ** 2)
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
    get = _handle_value if value is None else value
    minimal = not all(hasattr(o, "requires_grad") for o in outputs)
    cts: dict[int, Any] = {}
    for k, (node, ct) in enumerate(zip(outputs, cotangents)):
        if not getattr(node, "requires_grad", True):
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

    # raises on a freed graph, before any work
    order = toposort(outputs) if minimal else _grad_order(outputs)
    if minimal or targets is not None or value is not None or hooks:
        grads = _general(order, cts, targets, value, release, hooks)
    else:
        grads = _leaves(order, cts, release)
    for key, g in grads.items():
        if isinstance(g, np.generic):
            grads[key] = np.asarray(g)
    return grads


def _rules(op: Any) -> tuple[Any, bool]:
    """``(vjp rules, variadic)`` of an ``Op``, its name, or a user-defined op object."""
    if op.__class__ is str:                 # Note [Minimal handles]
        op = Op(op)
    if op.__class__ is _Op:
        return VJP[op], op in VARIADIC
    return op.vjp, False


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
    # Long on purpose: the unary and binary cases are written out inline, without
    # helper calls, because this loop runs once per node of every eager training step.
    grads: dict[int, Any] = {}
    pop, get = cts.pop, cts.get
    owned: set[int] = set()                 # Note [Slices add in place]
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
                rules, variadic = _rules(op)
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
                if op is _GETITEM and rules is _GETITEM_RULES and a.requires_grad \
                        and is_basic(attrs["index"]):
                    _add_slice(cts, owned, id(a), a.value, g, attrs["index"])
                elif a.requires_grad and rules[0] is not None:
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
                # Note [Variadic VJPs]: one call for all inputs (linear in their number)
                cs = rules[0](g, out, *vals, **attrs) if variadic else None
                for i, inp in enumerate(inputs):
                    if not inp.requires_grad:
                        continue
                    if variadic:
                        c = cs[i]
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


def _add_slice(cts: dict, owned: set, k: int, v: Any, g: Any, index: Any) -> None:
    """Add ``g`` into input ``k``'s cotangent at a basic ``index``, in place
    (Note [Slices add in place]); the first time, into zeros or a copy it then owns."""
    buf = cts.get(k)
    if k not in owned:
        buf = np.zeros(v.shape, v.dtype) if buf is None else np.array(buf, v.dtype)
        cts[k] = buf
        owned.add(k)
    buf[index] += g


def _general(order: list, cts: dict, targets: Optional[Iterable[Any]],
             value: Optional[Callable[[Any], Any]],
             release: Optional[Callable[[Any], Any]],
             hooks: Optional[dict[int, Callable[[Any], Any]]] = None) -> dict:
    """Gradients of chosen ``targets`` and/or VJPs run on ``value(node)``, with hooks.

    Note [Minimal handles]
        This path also serves handles written by users with only ``op``,
        ``inputs``, ``attrs`` and ``value`` (numeric's original contract): a
        handle without ``requires_grad`` requires grad, one without ``attrs``
        has none, and an op may be given by name (``"mul"``).  The training
        loop's fast path (:func:`_leaves`) reads the full protocol directly.
    """
    get = _handle_value if value is None else value
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
    owned: set[int] = set()                 # Note [Slices add in place] (values only)
    for node in reversed(order):
        key = id(node)
        g = pop(key, None)
        op = node.op
        if op.__class__ is str:             # Note [Minimal handles]
            op = Op(op)
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
        rules, variadic = _rules(op)
        attrs = getattr(node, "attrs", None) or NO_ATTRS
        if op is _GETITEM and value is None and rules is _GETITEM_RULES \
                and is_basic(attrs["index"]):
            (inp,) = inputs
            if getattr(inp, "requires_grad", True) and (useful is None or id(inp) in useful):
                _add_slice(cts, owned, id(inp), inp.value, g, attrs["index"])
            if release is not None:
                release(node)
            continue
        vals = [get(i) for i in inputs]
        out = get(node)
        cs = rules[0](g, out, *vals, **attrs) if variadic else None
        for i, inp in enumerate(inputs):
            if not getattr(inp, "requires_grad", True) or \
                    (useful is not None and id(inp) not in useful):
                continue
            if variadic:
                c = cs[i]
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
    """Forward-evaluate the node graph of ``outputs``; returns their values.

    Leaves take their value from ``bindings`` (``{id(node): array}``) or, if
    unbound, their own ``data`` (a symbol must be bound).  Every op node is
    computed once (iteratively).  User-written minimal nodes (``op``, ``inputs``,
    ``attrs``, ``value``) work too (Note [Minimal handles]).

    >>> from numeric.node import Node
    >>> x = Node.leaf("symbol", name="x", shape=(), dtype=np.float64)
    >>> y = Node.make(Op.EXP, (x,), {}, (), x.dtype)
    >>> evaluate([y], {id(x): np.array(0.0)})
    [array(1.)]
    """
    bindings = bindings or {}
    vals: dict[int, Any] = {}
    for node in toposort(outputs):
        key = id(node)
        op = node.op
        if key in bindings:
            vals[key] = bindings[key]
            continue
        if op is None:
            v = node.data if node.__class__ is Node else node.value   # Note [Minimal handles]
            if v is None:
                raise ValueError(f"evaluate: symbol {getattr(node, 'name', None)!r} is not "
                                 "bound; pass its value in bindings")
            vals[key] = v
            continue
        if op.__class__ is str:
            op = Op(op)
        kernel = FORWARD[op] if op.__class__ is _Op else op.forward
        vals[key] = kernel(*[vals[id(i)] for i in node.inputs],
                           **(getattr(node, "attrs", None) or NO_ATTRS))
    return [vals[id(o)] for o in outputs]
