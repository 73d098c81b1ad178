"""``sg.compile``: trace a function once per input signature, replay it as a Program.

The traced graph becomes a :class:`numeric.compile.Program` (straight-line numpy
for the forward and the backward pass).  Calling the compiled function runs the
Program without building a Python handle per op; each output is one Tensor
handle whose gradient function runs the Program's backward, so
``loss.backward()`` fills ``.grad`` exactly as in eager mode and ``sg.optim``
works unchanged.

Note [Compiled outputs are graph nodes]
    An output's ``node`` is the traced IR graph with the trace's argument leaves
    replaced by this call's arguments' nodes, built on first access (a training
    loop never pays for it).  So ``sg.diff(f(x), x)``, ``verify.check`` and
    ``sg.to_dot`` read a compiled output exactly as the eager one.

What is an input of the program (read at every call):

* every Tensor argument (its value, whatever it is);
* every leaf Tensor ``fn`` reads that is not an argument -- module parameters,
  tensors captured by a closure -- its *current* ``.value``, so optimizer updates
  are seen.

What is baked in at trace time (as ``torch.compile`` and ``jax.jit`` do): Python
numbers and other non-Tensor arguments (they are part of the signature: a new
value retraces), Python constants and control flow inside ``fn``.

A call retraces when the signature changes: the shapes, dtypes and
``requires_grad`` of the Tensor arguments and captured leaves, the non-Tensor
arguments, or grad mode.  ``compiled.clear()`` forces a retrace.

>>> import symgrad as sg
>>> w = sg.tensor([1.0, 2.0], requires_grad=True)
>>> f = sg.compile(lambda x: ((x * w) ** 2).sum())
>>> loss = f(sg.tensor([3.0, 4.0]))
>>> loss.backward(); loss, w.grad
(tensor(73., grad_fn=<CompiledBackward>), tensor([18., 64.]))
"""
from __future__ import annotations

import functools
import sys
from collections import Counter
from typing import Any, Callable, Optional

import numpy as np

from numeric.graph import toposort
from numeric.compile import Program
from numeric.node import NO_ATTRS, Node
from symgrad import autograd as _ag
from symgrad.naming import known_name
from symgrad.tensor import _CLOCK, Tensor, handle

__all__ = ["compile", "CompiledFunction"]


def compile(fn: Callable | None = None, *, inline: bool = True) -> Any:  # noqa: A001
    """Compile ``fn`` (Tensors in, a Tensor or tuple of Tensors out); usable as a decorator.

    ``inline=False`` makes the Program call numeric's ``FORWARD``/``VJP`` tables for
    every op (useful to compare).  See the module docstring for what is traced.

    >>> import symgrad as sg
    >>> @sg.compile
    ... def square_sum(x):
    ...     return (x * x).sum()
    >>> square_sum(sg.tensor([1.0, 2.0])), square_sum.traces
    (tensor(5.), 1)
    """
    if fn is None:
        return functools.partial(compile, inline=inline)
    if not callable(fn):
        raise TypeError(f"sg.compile needs a function, got {type(fn).__name__}")
    return CompiledFunction(fn, inline=inline)


class _CompiledOp:
    """The ``op`` of a compiled call's output: its ``vjp`` runs the Program's backward.

    One per call (it holds that call's saved forward values); the per-input VJP
    callables are made only if the generic executor asks for them.
    """

    __slots__ = ("trace", "saved", "index", "_cache")
    name = "compiled"

    def __init__(self, trace: "_Trace", saved: tuple, index: int) -> None:
        self.trace, self.saved, self.index = trace, saved, index
        self._cache: tuple = (None, None)

    @property
    def vjp(self) -> tuple:
        return tuple(functools.partial(self._grad, i) for i in range(len(self.trace.wrt_sources)))

    def _grad(self, i: int, g: Any, out: Any, *inputs: Any) -> Any:
        if isinstance(g, Tensor):
            raise RuntimeError("create_graph=True is not supported through a compiled function; "
                               "call the function without sg.compile to get higher derivatives")
        last_g, grads = self._cache
        if last_g is not g:
            cts = [None] * self.trace.n_out
            cts[self.index] = g
            grads = self.trace.program.backward(self.saved, *cts)
            self._cache = (g, grads)
        return grads[i]

    def __repr__(self) -> str:
        return "<compiled>"


def _all_leaves(nodes: tuple) -> bool:
    for n in nodes:
        if n.op is not None:
            return False
    return True


_NODE_SLOT = Tensor.node        # the base class's slot, under the property below


def _substitute(outputs: list, mapping: dict) -> list:
    """The node graphs of ``outputs`` with the nodes in ``mapping`` (by id) replaced."""
    new = dict(mapping)
    for node in toposort(outputs):
        key = id(node)
        if key in new or node.op is None:
            continue
        ins = tuple(new.get(id(i), i) for i in node.inputs)
        if any(a is not b for a, b in zip(ins, node.inputs)):
            new[key] = Node.make(node.op, ins, node.attrs, node.shape, node.dtype)
    return [new.get(id(o), o) for o in outputs]


class _CompiledResult(Tensor):
    """An output of a compiled call: a Tensor whose ``backward()`` has a short path.

    Note [Compiled backward fast path]
        ``loss.backward()`` on a one-element compiled output whose gradient sources
        are all leaves (the training-loop case: parameters) runs the Program's
        backward directly and accumulates into each leaf's ``.grad`` exactly as
        ``symgrad.autograd.backward`` does, then frees the node (unless
        ``retain_graph``).  Anything else -- an explicit ``gradient``,
        ``create_graph``, ``inputs``, a source that is not a leaf -- goes through
        the generic autograd path, where the node's VJP runs the same Program.
    """

    __slots__ = ("op", "_call")
    attrs = NO_ATTRS

    @property
    def node(self) -> Node:
        """This output's IR graph (Note [Compiled outputs are graph nodes])."""
        try:
            return _NODE_SLOT.__get__(self)
        except AttributeError:
            trace, args, index = self._call
            mapping = {id(p): args[k].node for p, k in zip(trace.proxy_nodes, trace.arg_pos)}
            node = _substitute([trace.out_nodes[index]], mapping)[0]
            _NODE_SLOT.__set__(self, node)
            self._call = None
            return node

    def backward(self, gradient: Any = None, retain_graph: Optional[bool] = None,
                 create_graph: bool = False, inputs: Any = None) -> None:
        op = self.op
        if (gradient is None and not create_graph and inputs is None and self.inputs
                and op is not None and self._requires_grad and op.trace.unit[op.index]
                and (op.trace.leaf_sources or _all_leaves(self.inputs))):
            grads = op.trace.program.backward_unit(op.saved, op.index)
            for leaf, g in zip(self.inputs, grads):
                if g is None or not leaf._requires_grad:
                    continue
                old = leaf.grad
                leaf.grad = _wrap(g if old is None else old.value + g)
            if not retain_graph:
                self.inputs = ()
                op.saved = None
            return
        Tensor.backward(self, gradient, retain_graph, create_graph, inputs)


class _Trace:
    __slots__ = ("program", "captured", "checks", "arg_pos", "wrt_sources", "n_out",
                 "single", "grad", "float_out", "unit", "fixed_sources", "leaf_sources",
                 "out_nodes", "proxy_nodes")


def _refcounts(objs: list) -> list[int]:
    return [sys.getrefcount(o) for o in objs]


def _made_inside(order: list, leaves: list) -> set[int]:
    """ids of the ``leaves`` that nothing but the traced graph refers to.

    Note [Tensors made inside fn]
        A leaf that ``fn`` created while tracing (``sg.tensor(2.0)``, the class
        indices of a loss) can never change later: nobody else holds it.  It is a
        constant of the program, so it can be folded.  A leaf held by anything else
        (a closure cell, a module attribute, a global) is captured and read at every
        call.  The test: the leaf's reference count equals the references of the
        graph's ``inputs`` tuples plus those of ``order`` and ``leaves``, measured
        against a probe object held the same way (so interpreter details cancel).
        Any doubt leaves a tensor captured, which is always correct.
    """
    uses = Counter(id(i) for n in order for i in n.inputs)
    probe = object()
    held_like_order, held_like_leaves = [probe], [probe]
    del probe
    base = _refcounts(held_like_leaves)[0]
    del held_like_order
    return {id(n) for n, c in zip(leaves, _refcounts(leaves)) if c - uses[id(n)] == base}


def _sig_of(t: Tensor) -> tuple:
    v = t.value
    return (v.shape, v.dtype, t._requires_grad)


_wrap = Tensor._wrap
_new = object.__new__


class CompiledFunction:
    """A function traced into a :class:`~numeric.compile.Program` per input signature.

    ``traces`` counts the traces so far; ``program(*args)`` returns the Program that
    a call with ``args`` runs (tracing if needed); ``clear()`` forgets every trace.
    """

    def __init__(self, fn: Callable, *, inline: bool = True) -> None:
        self.fn, self.inline = fn, inline
        self.traces = 0
        self._cache: dict[tuple, _Trace] = {}
        functools.update_wrapper(self, fn)

    def clear(self) -> None:
        """Forget every trace: the next call traces ``fn`` again (e.g. after changing a
        Python constant it reads)."""
        self._cache.clear()

    def program(self, *args: Any) -> Program:
        """The Program a call with ``args`` runs."""
        return self._lookup(args)[0].program

    def _signature(self, args: tuple) -> tuple:
        sig = [_ag.GRAD_MODE.enabled]
        for a in args:
            if isinstance(a, Tensor):
                v = a.value
                if v is None:
                    raise TypeError("sg.compile needs Tensors with values; bind symbolic "
                                    "tensors with sg.evaluate instead")
                sig.append((v.shape, v.dtype, a._requires_grad))
            elif isinstance(a, np.ndarray):
                raise TypeError("pass numpy arrays to a compiled function as sg.tensor(array): "
                                "a raw array would be baked in as a constant")
            else:
                try:
                    hash(a)
                except TypeError:
                    raise TypeError(f"argument of type {type(a).__name__} is neither a Tensor "
                                    "nor hashable; compiled functions take Tensors and hashable "
                                    "Python constants") from None
                sig.append(("const", type(a), a))
        return tuple(sig)

    def _lookup(self, args: tuple) -> tuple[_Trace, tuple]:
        key = self._signature(args)
        tr = self._cache.get(key)
        if tr is not None:
            for c, shape, dtype, rg in tr.checks:
                v = c.value
                if v.shape != shape or v.dtype != dtype or c._requires_grad != rg:
                    tr = None           # a captured tensor changed shape/dtype/requires_grad
                    break
        if tr is None:
            tr = self._cache[key] = self._trace(args)
        return tr, key

    def _trace(self, args: tuple) -> _Trace:
        self.traces += 1
        proxies, arg_pos = [], []
        call_args = []
        for k, a in enumerate(args):
            if isinstance(a, Tensor):
                # a value-less leaf in the IR (the trace must not keep the first call's
                # data alive); each call's output node puts that call's argument here
                v = a.value
                leaf = Node.leaf("symbol", name=known_name(a.node), shape=v.shape,
                                 dtype=v.dtype)
                p = handle(leaf, v, (), a._requires_grad)
                proxies.append(p)
                arg_pos.append(k)
                call_args.append(p)
            else:
                call_args.append(a)
        result = self.fn(*call_args)
        single = isinstance(result, Tensor)
        outs = (result,) if single else result
        if not isinstance(outs, (tuple, list)) or not outs or not all(
                isinstance(o, Tensor) for o in outs):
            raise TypeError(f"a compiled function must return a Tensor or a tuple of Tensors, "
                            f"got {type(result).__name__}; wrap numbers with sg.tensor")
        for o in outs:
            if o.value is None:
                raise TypeError("a compiled function must compute values; it returned a "
                                "symbolic tensor")
        proxy_ids = {id(p) for p in proxies}
        order = toposort(list(outs))
        leaves = [n for n in order
                  if n.op is None and id(n) not in proxy_ids and n.node.role != "constant"]
        made_inside = _made_inside(order, leaves)
        captured = [n for n in leaves if id(n) not in made_inside]
        del order, leaves
        inputs = proxies + captured
        grad = _ag.GRAD_MODE.enabled
        wrt = [n for n in inputs if n._requires_grad] if grad else []
        tr = _Trace()
        # the Program reads the IR (the handles' nodes); example values from the handles
        tr.program = Program([o.node for o in outs], [n.node for n in inputs],
                             wrt=[n.node for n in wrt], inline=self.inline,
                             values=[n.value for n in inputs])
        tr.out_nodes = [o.node for o in outs]
        tr.proxy_nodes = [p.node for p in proxies]
        tr.captured = captured
        tr.checks = [(c,) + _sig_of(c) for c in captured]
        tr.arg_pos = arg_pos
        # where each gradient goes: ("arg", position) or ("cap", index)
        where = {id(p): ("arg", k) for p, k in zip(proxies, arg_pos)}
        where.update({id(c): ("cap", k) for k, c in enumerate(captured)})
        tr.wrt_sources = [where[id(n)] for n in wrt]
        tr.n_out, tr.single, tr.grad = len(outs), single, grad
        tr.float_out = [o.value.dtype.kind == "f" for o in outs]
        tr.unit = [o.value.size == 1 for o in outs]
        # gradient sources that are all captured leaves are the same tensors at every call
        tr.leaf_sources = all(kind == "cap" for kind, _ in tr.wrt_sources)
        tr.fixed_sources = (tuple(captured[k] for _, k in tr.wrt_sources)
                            if tr.leaf_sources else None)
        return tr

    def __call__(self, *args: Any) -> Any:
        tr, _ = self._lookup(args)
        values = [args[k].value for k in tr.arg_pos]
        values += [c.value for c in tr.captured]
        outs, saved = tr.program.forward(*values)
        if not tr.wrt_sources:
            sources: tuple = ()
        else:
            sources = tr.fixed_sources
            if sources is None:
                sources = tuple([args[k] if kind == "arg" else tr.captured[k]
                                 for kind, k in tr.wrt_sources])
        results = []
        for j, v in enumerate(outs):
            t = _new(_CompiledResult)
            t.value = v
            t.inputs = sources
            t.op = _CompiledOp(tr, saved, j) if sources else None
            t._call = (tr, args, j)
            t._requires_grad = bool(sources) and tr.float_out[j]
            t.grad = None
            t._version = 0
            t._modified = _CLOCK[0]
            t._hooks = None
            t._grad_fn = None
            results.append(t)
        return results[0] if tr.single else tuple(results)

    def __repr__(self) -> str:
        return f"<compiled {getattr(self.fn, '__name__', 'function')}: {self.traces} trace(s)>"
