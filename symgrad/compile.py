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
  are seen;
* a Python number argument once a second value was seen at its position (the
  first trace specialises on the number, the second takes it as a 0-d input, as
  ``torch.compile``'s automatic dynamic shapes do).

What is baked in at trace time, under guards (symgrad/compile_guards.py and
docs/performance.md, "Compile guards"): other non-Tensor arguments (part of the
signature), Python constants, and control flow inside ``fn``.  Every value Python
reads from a traced tensor (``item()``, ``bool()``, ``float()``, ``tolist()``, ...)
is a guard: a call whose read differs runs the trace made for that value, tracing
it if new.  Captured tensors are guarded by where ``fn`` found them (closure cell,
global, module attribute: identity) and by shape, dtype and ``requires_grad``.

A call retraces when the signature changes (the shapes, dtypes and
``requires_grad`` of the Tensor arguments, the non-Tensor arguments, grad mode) or
a guard fails.  At most ``cache_limit`` traces are made per function (default 8,
``sg.compile.config.cache_limit``); beyond that, and when a guard could not be
checked cheaply, calls run eagerly with one :class:`CompileWarning` saying why.
``compiled.cache_info()`` counts traces and eager calls; ``compiled.clear()``
forgets every trace.

Note [First call]
    The tracing call returns the values the trace computed (eager values of the
    same arguments), and its backward runs the eager graph the trace recorded, so
    user code -- a ``sg.custom_op``'s forward and VJP, an ``sg.autograd.Function``
    -- runs once on that call as in eager mode.  The program is built from the
    trace without running user code; later calls run it.

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
from collections import Counter, namedtuple
from typing import Any, Callable, Optional

import numpy as np

from numeric.executor import FREED_GRAPH, backward as _engine_backward
from numeric.graph import toposort
from numeric.compile import Program
from numeric.node import NO_ATTRS, Node
from numeric.ops import Op
from symgrad import autograd as _ag
from symgrad import compile_guards as _guards
from symgrad import dtypes as _dt
from symgrad.compile_guards import CompileWarning
from symgrad.naming import known_name
from symgrad.tensor import _CLOCK, VALUE_READS as _READS, Tensor, handle

__all__ = ["compile", "CompiledFunction", "CompileWarning", "CacheInfo"]

CacheInfo = namedtuple("CacheInfo", ["traces", "cached", "eager_calls", "limit"])


def _number_dtype(a: Any) -> np.dtype:
    """The dtype of a Python number passed as a 0-d input: what ``sg.tensor(a)`` gives."""
    if isinstance(a, (int, np.integer)):
        return np.dtype(np.int64)
    return _dt.get_default_dtype()


def compile(fn: Callable | None = None, *, inline: bool = True,  # noqa: A001
            cache_limit: Optional[int] = None) -> Any:
    """Compile ``fn`` (Tensors in, a Tensor or tuple of Tensors out); usable as a decorator.

    ``inline=False`` makes the Program call numeric's ``FORWARD``/``VJP`` tables for
    every op (useful to compare).  ``cache_limit`` caps the traces kept for ``fn``
    (default ``sg.compile.config.cache_limit``, 8); beyond it, calls that would need a
    new trace run eagerly, with one :class:`CompileWarning`.  See the module docstring
    for what is traced and what is guarded.

    >>> import symgrad as sg
    >>> @sg.compile
    ... def square_sum(x):
    ...     return (x * x).sum()
    >>> square_sum(sg.tensor([1.0, 2.0])), square_sum.traces
    (tensor(5.), 1)
    """
    if fn is None:
        return functools.partial(compile, inline=inline, cache_limit=cache_limit)
    if not callable(fn):
        raise TypeError(f"sg.compile needs a function, got {type(fn).__name__}")
    return CompiledFunction(fn, inline=inline, cache_limit=cache_limit)


compile.config = _guards.config  # type: ignore[attr-defined]


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
            cts = [None] * self.trace.n_prog
            cts[self.index] = g
            grads = self.trace.program.backward(self.saved, *cts)
            self._cache = (g, grads)
        return grads[i]

    def __repr__(self) -> str:
        return "<compiled>"


class _TracedOp:
    """The ``op`` of a tracing call's output: its ``vjp`` runs the trace's eager graph
    (Note [First call]); same interface as :class:`_CompiledOp`."""

    __slots__ = ("trace", "saved", "targets", "index", "_cache")
    name = "compiled"

    def __init__(self, trace: "_Trace", outs: tuple, targets: tuple, index: int) -> None:
        self.trace, self.saved, self.targets, self.index = trace, outs, targets, index
        self._cache: tuple = (None, None)

    vjp = _CompiledOp.vjp

    def grads(self, g: Any) -> tuple:
        last_g, grads = self._cache
        if last_g is not g:
            if self.saved is None:
                raise RuntimeError(FREED_GRAPH)
            prev = _ag.GRAD_MODE.enabled
            _ag.GRAD_MODE.enabled = False
            try:    # the eager graph is kept (other outputs may need it); it dies with them
                got = _engine_backward((self.saved[self.index],), (g,), targets=self.targets,
                                       release=_ag._collector({}, False))
            finally:
                _ag.GRAD_MODE.enabled = prev
            grads = tuple(got.get(id(t)) for t in self.targets)
            self._cache = (g, grads)
        return grads

    def _grad(self, i: int, g: Any, out: Any, *inputs: Any) -> Any:
        if isinstance(g, Tensor):
            raise RuntimeError("create_graph=True is not supported through a compiled function; "
                               "call the function without sg.compile to get higher derivatives")
        return self.grads(g)[i]

    def unit_grads(self) -> tuple:
        out = self.saved[self.index].value
        return self.grads(_ag._ones(out))

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

    __slots__ = ("_call",)

    @property
    def node(self) -> Node:
        """This output's IR graph (Note [Compiled outputs are graph nodes])."""
        try:
            return _NODE_SLOT.__get__(self)
        except AttributeError:
            trace, args, index = self._call
            mapping = {id(p): args[k].node for p, k in zip(trace.proxy_nodes, trace.arg_pos)}
            for p, (k, dt) in zip(trace.num_nodes, trace.num_pos):
                v = np.asarray(args[k], dt)
                mapping[id(p)] = Node.leaf("constant", v, literal=args[k])
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
            if op.__class__ is _CompiledOp:
                grads = op.trace.program.backward_unit(op.saved, op.index)
            else:
                grads = op.unit_grads()
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


def _results(tr, args: tuple, sources: tuple, values: list, make_op):
    """The call's result tensors: ``values`` with ``make_op(j)`` as output j's op."""
    results = []
    for j, v in enumerate(values):
        t = _new(_CompiledResult)
        t.value = v
        t.inputs = sources
        t.op = make_op(j) if sources else None
        t.attrs = NO_ATTRS
        t._call = (tr, args, j)
        t._requires_grad = bool(sources) and tr.float_out[j]
        t.grad = None
        t._version = 0
        t._modified = _CLOCK[0]
        t._hooks = None
        t._grad_fn = None
        results.append(t)
    return results[0] if tr.single else tuple(results)


class _Trace:
    __slots__ = ("program", "captured", "checks", "arg_pos", "num_pos", "wrt_sources", "n_out",
                 "n_prog", "single", "grad", "float_out", "unit", "fixed_sources",
                 "leaf_sources", "out_nodes", "proxy_nodes", "num_nodes", "guards", "reads",
                 "source", "check")


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
_NUMBERS = (int, float, np.integer, np.floating)
_TRACING = [0]          # traces running in any thread (a cheap test before the thread-local)


class CompiledFunction:
    """A function traced into a :class:`~numeric.compile.Program` per input signature.

    ``traces`` counts the traces so far; ``cache_info()`` gives the counts (traces,
    cached, eager calls, limit); ``program(*args)`` returns the Program that a call
    with ``args`` runs (tracing if needed); ``clear()`` forgets every trace.
    """

    def __init__(self, fn: Callable, *, inline: bool = True,
                 cache_limit: Optional[int] = None) -> None:
        self.fn, self.inline = fn, inline
        self.cache_limit = None if cache_limit is None else _guards.check_limit(cache_limit)
        self.traces = 0
        self.eager_calls = 0
        self._cache: dict[tuple, list[_Trace]] = {}
        self._count = 0                     # traces since the last clear(), for the limit
        self._numbers: dict[int, Any] = {}  # argument position -> first number seen there
        self._dynamic: set[int] = set()     # number positions passed as 0-d inputs
        self._static: set[int] = set()      # positions that could not be (fn needs a number)
        self._eager_reason: Optional[str] = None
        self._bypass = False                # _eager_reason is set: every call runs eagerly
        self._warned = False
        functools.update_wrapper(self, fn)

    def __reduce__(self) -> Any:
        """A compiled function pickles as ``fn`` and its options, never its traces: the
        receiver (a Dask worker, ``sg.distributed``) traces again on its first call."""
        return CompiledFunction, (self.fn,), {"inline": self.inline,
                                              "cache_limit": self.cache_limit}

    def __setstate__(self, state: dict) -> None:
        self.inline = state["inline"]
        self.cache_limit = state["cache_limit"]

    def clear(self) -> None:
        """Forget every trace: the next call traces ``fn`` again (e.g. after changing a
        Python constant it reads).  Also resets the cache limit's count and eager mode."""
        self._cache.clear()
        self._count = 0
        self._numbers.clear()
        self._dynamic.clear()
        self._static.clear()
        self._eager_reason = None
        self._bypass = False
        self._warned = False

    def cache_info(self) -> CacheInfo:
        """``CacheInfo(traces, cached, eager_calls, limit)``: traces made, traces kept now,
        calls that ran eagerly, and the cache limit in force.

        >>> import symgrad as sg
        >>> f = sg.compile(lambda x, k: x * k)
        >>> for k in range(100):
        ...     _ = f(sg.tensor([1.0]), float(k))
        >>> f.cache_info()          # k = 0.0 specialised, then k became an input
        CacheInfo(traces=2, cached=2, eager_calls=0, limit=8)
        """
        return CacheInfo(self.traces, sum(len(v) for v in self._cache.values()),
                         self.eager_calls, self._limit())

    def _limit(self) -> int:
        return _guards.config.cache_limit if self.cache_limit is None else self.cache_limit

    def program(self, *args: Any) -> Program:
        """The Program a call with ``args`` runs."""
        key = self._signature(args)
        for tr in self._cache.get(key, ()):
            if self._valid(tr):
                return tr.program
        self.__call__(*args)
        for tr in self._cache.get(self._signature(args), ()):
            if self._valid(tr):
                return tr.program
        raise RuntimeError(f"{self!r} runs eagerly for these arguments ({self._eager_reason or 'cache limit'}); "
                           "it has no Program for them")

    def _signature(self, args: tuple) -> tuple:
        sig = [_ag.GRAD_MODE.enabled]
        for k, a in enumerate(args):
            if isinstance(a, Tensor):
                v = a.value
                if v is None:
                    raise TypeError("sg.compile needs Tensors with values; bind symbolic "
                                    "tensors with sg.evaluate instead")
                sig.append((v.shape, v.dtype, a._requires_grad))
            elif isinstance(a, np.ndarray):
                raise TypeError("pass numpy arrays to a compiled function as sg.tensor(array): "
                                "a raw array would be baked in as a constant")
            elif k in self._dynamic and isinstance(a, _NUMBERS) and not isinstance(a, bool):
                sig.append(("number", _number_dtype(a)))
            else:
                try:
                    hash(a)
                except TypeError:
                    raise TypeError(f"argument of type {type(a).__name__} is neither a Tensor "
                                    "nor hashable; compiled functions take Tensors and hashable "
                                    "Python constants") from None
                sig.append(("const", type(a), a))
        return tuple(sig)

    @staticmethod
    def _valid(tr: _Trace) -> bool:
        """The trace's captured tensors still have its shapes, dtypes, flags and sources."""
        check = tr.check
        if check is None:
            return True
        try:
            return check()
        except (ValueError, IndexError):    # an emptied closure cell, a shorter list
            return False

    # -- calling ------------------------------------------------------------------------

    def __call__(self, *args: Any) -> Any:
        if self._bypass or (_TRACING[0] and _READS.hook is not None):
            return self._eager(args)         # eager mode, or inside another function's trace
        key = self._signature(args)
        traces = self._cache.get(key)
        if traces is not None:
            tr = traces[0]
            check = tr.check
            if check is None or self._valid(tr):
                res = self._run(tr, args)
                if res is not None:
                    return res
            return self._other(key, traces, args)
        return self._miss(key, args)

    def _eager(self, args: tuple) -> Any:
        if _READS.hook is None:
            self.eager_calls += 1
        return self.fn(*args)

    def _other(self, key: tuple, traces: list, args: tuple) -> Any:
        """The first trace failed a guard: try the others for this signature, else trace."""
        for tr in list(traces):
            if not self._valid(tr):          # kept: train()/eval() or a rebinding may return
                continue
            res = self._run(tr, args)
            if res is not None:
                traces.remove(tr)
                traces.insert(0, tr)
                return res
        return self._new_trace(key, args)

    def _miss(self, key: tuple, args: tuple) -> Any:
        """A new signature: make changed Python numbers inputs, then trace."""
        changed = False
        for k, a in enumerate(args):
            if isinstance(a, _NUMBERS) and not isinstance(a, bool) and k not in self._static:
                first = self._numbers.setdefault(k, a)
                if k not in self._dynamic and (first != a or type(first) is not type(a)):
                    self._dynamic.add(k)
                    changed = True
        if changed:
            key = self._signature(args)
            traces = self._cache.get(key)
            if traces is not None:
                return self._other(key, traces, args)
        return self._new_trace(key, args)

    def _new_trace(self, key: tuple, args: tuple) -> Any:
        limit = self._limit()
        if self._count >= limit:
            if not self._warned:
                self._warned = True
                _guards.warn(
                    f"sg.compile: {self._name()} has been traced {self._count} times "
                    f"(cache_limit={limit}); calls that need a new trace now run eagerly. "
                    f"The last one: {self._why_new(key, args)}. Raise the limit with "
                    "sg.compile(fn, cache_limit=N) or sg.compile.config.cache_limit, or make "
                    "the calls alike (Tensors for changing values, tensor comparisons "
                    "instead of .item() in `if`).")
            return self._eager(args)
        tr, first = self._trace(args)
        if tr.program is None:          # this call's results are the trace's eager ones
            self._bypass = True
            self.eager_calls += 1
            _guards.warn(f"sg.compile: {self._name()} runs eagerly from now on: "
                         f"{self._eager_reason}")
            return first
        self._cache.setdefault(self._signature(args), []).insert(0, tr)
        return first

    def _name(self) -> str:
        return getattr(self.fn, "__qualname__", None) or type(self.fn).__name__

    def _why_new(self, key: tuple, args: tuple) -> str:
        traces = self._cache.get(key)
        if not traces:
            return "a new signature (argument shapes, dtypes, requires_grad, constants or grad mode)"
        tr = traces[0]
        if not self._valid(tr):
            return "a captured tensor was rebound or changed shape, dtype or requires_grad"
        reads = ", ".join(f"{what} at {where}" for what, where in tr.reads)
        return f"a value read differs from every trace's ({reads})"

    def _run(self, tr: _Trace, args: tuple) -> Any:
        values = [args[k].value for k in tr.arg_pos]
        if tr.num_pos:
            values += [np.asarray(args[k], dt) for k, dt in tr.num_pos]
        values += [c.value for c in tr.captured]
        outs, saved = tr.program.forward(*values)
        if tr.guards and not _guards.guards_hold(outs, tr.n_out, tr.guards):
            return None
        if not tr.wrt_sources:
            sources: tuple = ()
        else:
            sources = tr.fixed_sources
            if sources is None:
                sources = tuple([args[k] if kind == "arg" else tr.captured[k]
                                 for kind, k in tr.wrt_sources])
        return _results(tr, args, sources, outs[:tr.n_out],
                        lambda j: _CompiledOp(tr, saved, j))

    # -- tracing ------------------------------------------------------------------------

    def _trace(self, args: tuple) -> tuple[_Trace, Any]:
        """Trace ``fn`` on ``args``: the trace, and this call's results (the trace's own
        values, so user code runs once on this call: Note [First call])."""
        proxies, arg_pos, nums, num_pos = [], [], [], []
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
            elif k in self._dynamic and isinstance(a, _NUMBERS) and not isinstance(a, bool):
                dt = _number_dtype(a)
                v = np.asarray(a, dt)
                p = handle(Node.leaf("symbol", name=f"arg{k}", shape=(), dtype=dt), v)
                nums.append(p)
                num_pos.append((k, dt))
                call_args.append(p)
            else:
                call_args.append(a)
        reads: list = []

        def record(t: Optional[Tensor], what: str) -> None:
            reads.append((t, what, _guards.user_frame()))
        _READS.hook, _READS.ufunc = record, _guards.traced_ufunc
        _TRACING[0] += 1
        try:
            result = self.fn(*call_args)
        except Exception:
            if not num_pos:
                raise
            # fn needs a Python number there (an attribute, a shape): keep it a constant
            self._static.update(k for k, _ in num_pos)
            self._dynamic.difference_update(k for k, _ in num_pos)
            return self._trace(args)
        finally:
            _READS.hook = _READS.ufunc = None
            _TRACING[0] -= 1
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
        guards, read_nodes, where = [], [], []
        eager = None
        for t, what, at in reads:
            g = None if t is None else _guards.value_guard(t, what)
            if g is None:
                eager = eager or _guards.unguardable(t, what, at)
                continue
            guards.append(g)
            read_nodes.append(t)
            where.append((what, at))
        proxy_ids = {id(p) for p in proxies} | {id(p) for p in nums}
        order = toposort(list(outs) + read_nodes)
        used = {id(n) for n in order}
        if any(id(p) not in used for p in nums):
            # a number fn did not compute with (unused, or read through .value by a
            # function that takes only Python numbers): keep numbers constants
            self._static.update(k for k, _ in num_pos)
            self._dynamic.difference_update(k for k, _ in num_pos)
            return self._trace(args)
        leaves = [n for n in order
                  if n.op is None and id(n) not in proxy_ids and n.node.role != "constant"]
        self.traces += 1
        self._count += 1
        made_inside = _made_inside(order, leaves)
        captured = [n for n in leaves if id(n) not in made_inside]
        del order, leaves
        inputs = proxies + nums + captured
        grad = _ag.GRAD_MODE.enabled
        wrt = [n for n in inputs if n._requires_grad] if grad else []
        tr = _Trace()
        prog_outs = list(outs) + read_nodes
        tr.program = None
        if eager is not None:       # the reason is stored; no program is built
            self._eager_reason = eager
        else:
            self._build(tr, prog_outs, inputs, wrt)
        tr.out_nodes = [o.node for o in outs]
        tr.proxy_nodes = [p.node for p in proxies]
        tr.num_nodes = [p.node for p in nums]
        tr.captured = captured
        tr.checks = [(c,) + _sig_of(c) for c in captured]
        tr.source = _guards.SourceGuard(self.fn, args, captured)
        tr.check = tr.source.checker(tr.checks)
        tr.arg_pos, tr.num_pos = arg_pos, num_pos
        tr.guards, tr.reads = guards, where
        # where each gradient goes: ("arg", position) or ("cap", index)
        where_to = {id(p): ("arg", k) for p, k in zip(proxies, arg_pos)}
        where_to.update({id(c): ("cap", k) for k, c in enumerate(captured)})
        tr.wrt_sources = [where_to[id(n)] for n in wrt if id(n) in where_to]
        wrt = [n for n in wrt if id(n) in where_to]          # numbers get no gradient
        tr.n_out, tr.n_prog, tr.single, tr.grad = len(outs), len(prog_outs), single, grad
        tr.float_out = [o.value.dtype.kind == "f" for o in outs]
        tr.unit = [o.value.size == 1 for o in outs]
        # gradient sources that are all captured leaves are the same tensors at every call
        tr.leaf_sources = all(kind == "cap" for kind, _ in tr.wrt_sources)
        tr.fixed_sources = (tuple(captured[k] for _, k in tr.wrt_sources)
                            if tr.leaf_sources else None)
        return tr, self._first_results(tr, args, outs, wrt)

    def _build(self, tr: _Trace, prog_outs: list, inputs: list, wrt: list) -> None:
        """The trace's Program (Note [First call]: no user code runs while it is built)."""
        # values of user-defined ops come from the trace (their code is not run again)
        known = {id(t.node): t.value for t in toposort(prog_outs)
                 if t.op is not None and t.op.__class__ is not Op
                 and not getattr(t.op, "pure", False)}
        # the Program reads the IR (the handles' nodes); example values from the handles
        tr.program = Program([o.node for o in prog_outs], [n.node for n in inputs],
                             wrt=[n.node for n in wrt], inline=self.inline,
                             values=[n.value for n in inputs], known=known or None)

    def _first_results(self, tr: _Trace, args: tuple, outs: Any, wrt: list) -> Any:
        """Note [First call]: the tracing call returns the values the trace computed.

        Its outputs are compiled outputs like any call's, but their backward runs the
        eager graph the trace recorded (``_TracedOp``), so a user-defined op's forward
        and VJP each run once on the first call, as in eager mode.
        """
        sources = tuple([args[k] if kind == "arg" else tr.captured[k]
                         for kind, k in tr.wrt_sources])
        return _results(tr, args, sources, [o.value for o in outs],
                        lambda j: _TracedOp(tr, tuple(outs), tuple(wrt), j))

    def __repr__(self) -> str:
        return f"<compiled {getattr(self.fn, '__name__', 'function')}: {self.traces} trace(s)>"
