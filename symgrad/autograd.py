"""Autograd front end: grad mode, ``grad_fn`` objects, ``backward`` and ``grad``.

The numeric work is numeric's reverse-mode executor
(:func:`numeric.executor.backward`); this module adds PyTorch's semantics on top:
``.grad`` accumulation on leaves, freeing the graph unless ``retain_graph``,
higher-order gradients (``create_graph=True`` runs the very same VJPs on
Tensors, which record a differentiable graph through ``__array_ufunc__``,
``__array_function__`` and ``__numeric_apply__``), and clear errors.

This module works on any Tensor-like node; it never imports ``symgrad.tensor``
(the Tensor class imports it).  New tensors are made with ``type(node)._wrap``.

>>> import symgrad as sg
>>> x = sg.tensor(2.0, requires_grad=True)
>>> (dx,) = sg.autograd.grad(x ** 3, [x], create_graph=True)
>>> dx, sg.autograd.grad(dx, [x])[0]
(tensor(12., grad_fn=<MulBackward>), tensor(12.))
"""
from __future__ import annotations

import functools
import inspect
import threading
import weakref
from typing import Any, Callable, Optional, Sequence

import numpy as np

from numeric.executor import FREED_GRAPH
from numeric.executor import backward as _engine_backward
from numeric.ops import Op
from symgrad.errors import GradientError, GraphFreedError, ShapeError, SymbolicValueError
from symgrad.custom import Function, FunctionCtx  # user ops, PyTorch's class form


# ----------------------------------------------------------------------------- grad mode
class _GradMode(threading.local):
    """The one piece of autograd state: is graph recording on?  Per thread, as in PyTorch.

    Every thread sees its own ``enabled`` (a new thread starts with it on, since
    ``threading.local`` runs ``__init__`` once per thread), so a ``no_grad`` block, a
    decorated function or ``backward`` in one thread leaves recording in the others
    alone.  No ``__slots__``: slot values would be shared by all threads.
    """

    def __init__(self) -> None:
        self.enabled = True


GRAD_MODE = _GradMode()


class set_grad_enabled:
    """Context manager / decorator that turns gradient recording on or off.

    >>> import symgrad as sg
    >>> with sg.set_grad_enabled(False):
    ...     sg.is_grad_enabled()
    False
    """

    def __init__(self, mode: bool = True) -> None:
        self.mode = bool(mode)
        self.prev: list[bool] = []

    def __enter__(self) -> None:
        self.prev.append(GRAD_MODE.enabled)
        GRAD_MODE.enabled = self.mode

    def __exit__(self, *exc: Any) -> None:
        GRAD_MODE.enabled = self.prev.pop()

    def __call__(self, fn: Callable) -> Callable:
        """Decorate ``fn``; a generator function gets the mode on every resume (PyTorch).

        >>> import symgrad as sg
        >>> @sg.no_grad()
        ... def modes():
        ...     yield sg.is_grad_enabled()
        ...     yield sg.is_grad_enabled()
        >>> list(modes()), sg.is_grad_enabled()
        ([False, False], True)
        """
        def fresh() -> "set_grad_enabled":
            return type(self)(self.mode) if type(self) is set_grad_enabled else type(self)()

        if inspect.isgeneratorfunction(fn):
            return _wrap_generator(fresh, fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with fresh():
                return fn(*args, **kwargs)
        return wrapper


def _wrap_generator(fresh: Callable[[], Any], fn: Callable) -> Callable:
    """``fn``'s generator with the grad mode set while its body runs, restored at each yield
    (the caller's code between two ``next()`` calls runs in the caller's mode)."""
    @functools.wraps(fn)
    def generator(*args: Any, **kwargs: Any) -> Any:
        gen = fn(*args, **kwargs)
        try:
            with fresh():
                response = gen.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with fresh():
                        gen.close()
                    raise
                except BaseException as exc:
                    with fresh():
                        response = gen.throw(exc)
                else:
                    with fresh():
                        response = gen.send(request)
        except StopIteration as stop:
            return stop.value
    return generator


class no_grad(set_grad_enabled):
    """Disable graph recording (context manager or decorator), as ``torch.no_grad``.

    >>> import symgrad as sg
    >>> x = sg.tensor([1.0], requires_grad=True)
    >>> with sg.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Enable graph recording inside a ``no_grad`` block (context manager or decorator).

    >>> import symgrad as sg
    >>> with sg.no_grad():
    ...     with sg.enable_grad():
    ...         sg.is_grad_enabled()
    True
    """

    def __init__(self) -> None:
        super().__init__(True)


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad()``.

    >>> is_grad_enabled()
    True
    """
    return GRAD_MODE.enabled


# ----------------------------------------------------------------------------- grad_fn
class BackwardFunction:
    """A node's ``grad_fn``: names the op that made it (``AddBackward``, ...).

    Created lazily when ``tensor.grad_fn`` is read.  ``next_functions`` are the
    inputs' ``grad_fn`` (an :class:`AccumulateGrad` for a leaf that requires
    grad, ``None`` for an input that does not), paired with 0 as in PyTorch.

    >>> import symgrad as sg
    >>> x = sg.tensor([1.0], requires_grad=True)
    >>> f = (x * 2).grad_fn
    >>> f.name(), [type(n).__name__ for n, _ in f.next_functions]
    ('MulBackward', ['AccumulateGrad', 'NoneType'])
    """

    __slots__ = ("op", "inputs", "__weakref__")

    def __init__(self, op: Any, inputs: tuple) -> None:
        self.op = op
        self.inputs = inputs

    def name(self) -> str:
        """The class name, e.g. ``"AddBackward"``."""
        return type(self).__name__

    @property
    def next_functions(self) -> tuple:
        """``((grad_fn_or_AccumulateGrad_or_None, 0), ...)``, one per input."""
        out = []
        for t in self.inputs:
            if not t.requires_grad:
                out.append((None, 0))
            elif t.op is None:
                out.append((AccumulateGrad(t), 0))
            else:
                out.append((t.grad_fn, 0))
        return tuple(out)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {id(self):#x}>"


class AccumulateGrad:
    """The ``next_functions`` entry for a leaf that requires grad; ``variable`` is the leaf."""

    __slots__ = ("variable",)

    def __init__(self, variable: Any) -> None:
        self.variable = variable

    def name(self) -> str:
        """``"AccumulateGrad"``."""
        return "AccumulateGrad"

    next_functions = ()

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {id(self):#x}>"


_FN_CLASSES: dict[str, type] = {}


def backward_name(op: Any) -> str:
    """PyTorch-style grad_fn class name of ``op``: CamelCase op name + ``Backward``.

    >>> backward_name(Op.LOG_SOFTMAX), backward_name(Op.ADD)
    ('LogSoftmaxBackward', 'AddBackward')
    """
    if not isinstance(op, Op) and getattr(op, "grad_fn_name", None):  # sg.autograd.Function
        return op.grad_fn_name
    raw = op.name if isinstance(op, Op) else getattr(op, "name", type(op).__name__)
    raw = raw() if callable(raw) else str(raw)
    return "".join(p[:1].upper() + p[1:].lower() for p in raw.split("_") if p) + "Backward"


def make_grad_fn(op: Any, inputs: tuple) -> BackwardFunction:
    """A new ``grad_fn`` object for a node of ``op`` with ``inputs``."""
    name = backward_name(op)
    cls = _FN_CLASSES.get(name)
    if cls is None:
        cls = _FN_CLASSES[name] = type(name, (BackwardFunction,), {"__slots__": ()})
    return cls(op, inputs)


# ----------------------------------------------------------------------------- backward
def _check_output(k: int, t: Any) -> None:
    if not t.requires_grad:
        raise GradientError(
            f"element {k} of tensors does not require grad and does not have a grad_fn: "
            "create the leaf with requires_grad=True (or call .requires_grad_()) and compute "
            "the output outside sg.no_grad()")
    if t.value is None:
        raise SymbolicValueError(
            "backward() needs numeric values but this tensor is symbolic (built from "
            "sg.symbol); use sg.diff for the exact derivative or sg.evaluate to bind values")
    if freed(t):
        raise GraphFreedError(FREED_GRAPH)


def freed(t: Any) -> bool:
    """True if ``backward()`` freed the values under op tensor ``t`` (its node stays)."""
    return t.op is not None and not t.inputs


def _seed(k: int, t: Any, g: Any, create_graph: bool) -> Any:
    """The cotangent for output ``t`` (ones for a one-element output)."""
    v = t.value
    if g is None:
        if v.size != 1:
            raise GradientError(
                "grad can be implicitly created only for scalar outputs; this output has "
                f"shape {tuple(v.shape)}. Pass gradient= (a tensor shaped like the output) "
                "or call .sum() first")
        return type(t)._wrap(np.ones_like(v)) if create_graph else _ones(v)
    gv = g.value if hasattr(g, "op") else np.asarray(g, dtype=v.dtype)
    if gv is None:
        raise SymbolicValueError("gradient= must have a value, not be symbolic")
    if gv.shape != v.shape:
        raise ShapeError(f"Mismatch in shape: gradient {k} has shape {tuple(gv.shape)} and "
                         f"output {k} has shape {tuple(v.shape)}; pass a gradient shaped "
                         "like the output")
    if gv.dtype != v.dtype:
        gv = gv.astype(v.dtype)
    if create_graph:
        return g if hasattr(g, "op") and gv is g.value else type(t)._wrap(gv)
    return gv


_ONES: dict = {}


def _ones(v: np.ndarray) -> np.ndarray:
    """A cached read-only array of ones shaped like ``v`` (the implicit cotangent)."""
    key = (v.shape, v.dtype)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 64:
            _ONES.clear()
        ones = _ONES[key] = np.ones(v.shape, v.dtype)
        ones.flags.writeable = False
    return ones


def _collector(leaves: dict, free: bool) -> Callable[[Any], None]:
    """The executor's ``release`` callback, run on each op node after its VJPs.

    Checks that no value the VJPs read was changed in place after the node was
    recorded (Note [Version check] in symgrad/tensor.py), records the leaf
    inputs (their ``.grad`` is set afterwards), and, if ``free``, drops the
    handle's input handles: the values they hold go, the IR node stays.
    """
    def release(t: Any) -> None:
        made = t._modified
        if t._version:
            _modified_in_place(t, t)
        for i in t.inputs:
            if i._modified > made:
                _modified_in_place(t, i)
            if i.op is None:
                leaves[id(i)] = i
        if free:
            t.inputs = ()
    return release


#: id(tensor) -> the clock ticks of its last HISTORY in-place changes (kept by
#: symgrad.tensor.mark_modified; an entry goes with its tensor): enough to name the
#: version a node recorded in the error below
MODIFIED: dict[int, list] = {}
HISTORY = 16


def _modified_in_place(node: Any, culprit: Any) -> None:
    which = "its output" if culprit is node else \
        f"input {next(k for k, i in enumerate(node.inputs) if i is culprit)}"
    ticks = MODIFIED.get(id(culprit), ())
    later = sum(1 for tick in ticks if tick > node._modified)
    expected = max(culprit._version - later, 0)
    if culprit is node:
        expected = 0
    elif later == len(ticks) == HISTORY:
        expected = f"at most {expected}"
    name = backward_name(node.op)
    raise GradientError(
        "one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: {which} of {name}, a tensor of shape {tuple(culprit.shape)}, "
        f"is at version {culprit._version}; expected version {expected} instead (it was "
        f"changed after {name} recorded it). Hint: compute the output again after the "
        "in-place change, or make the change after backward() (or out of place: "
        "w = w - lr * g)")


# ----------------------------------------------------------------------------- hooks
#: id -> weakref of every live tensor with hooks or retain_grad (usually empty, which
#: keeps backward on its fast path)
_HOOKED: dict[int, Any] = {}
#: the ``_hooks`` entry that stands for ``retain_grad()``
RETAIN = object()


class RemovableHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook.

    >>> import symgrad as sg
    >>> x = sg.tensor([1.0], requires_grad=True)
    >>> h = x.register_hook(lambda g: g * 2)
    >>> (x * 3).sum().backward(); h.remove(); (x * 3).sum().backward(); x.grad
    tensor([9.])
    """

    __slots__ = ("_ref", "_hook")

    def __init__(self, tensor: Any, hook: Any) -> None:
        self._ref = weakref.ref(tensor)
        self._hook = hook

    def remove(self) -> None:
        """Unregister the hook (again: no effect)."""
        t = self._ref()
        if t is not None:
            _remove_hook(t, self._hook)


def add_hook(t: Any, hook: Any) -> RemovableHandle:
    """Register ``hook`` (or :data:`RETAIN`) on tensor ``t``; see ``Tensor.register_hook``."""
    if t._hooks is None:
        t._hooks = []
        key = id(t)
        _HOOKED[key] = weakref.ref(t, lambda _r, key=key: _HOOKED.pop(key, None))
    t._hooks.append(hook)
    return RemovableHandle(t, hook)


def _remove_hook(t: Any, hook: Any) -> None:
    hooks = t._hooks or []
    for k, h in enumerate(hooks):
        if h is hook:
            del hooks[k]
            break
    if not hooks:
        t._hooks = None
        _HOOKED.pop(id(t), None)


def _hook_table(pending: list, create_graph: bool, retain: bool) -> Optional[dict]:
    """The executor's ``hooks``: one runner per live hooked tensor (None if there is none)."""
    table = {}
    for key, ref in list(_HOOKED.items()):
        t = ref()
        if t is not None and t._hooks:
            table[key] = _hook_runner(t, pending, create_graph, retain)
    return table or None


def _hook_runner(t: Any, pending: list, create_graph: bool, retain: bool) -> Callable:
    def run(g: Any) -> Any:
        gt = g if create_graph else type(t)._wrap(g)
        for h in list(t._hooks):
            if h is RETAIN:
                continue
            r = h(gt)
            if r is None:
                continue
            if not hasattr(r, "op"):
                r = type(t)._wrap(np.asarray(r, dtype=t.dtype))
            if tuple(r.shape) != tuple(gt.shape):
                raise ShapeError(f"a hook registered on a tensor of shape {tuple(t.shape)} "
                                 f"returned a gradient of shape {tuple(r.shape)}; return a "
                                 "tensor shaped like its argument (or None to keep it)")
            if r.dtype != gt.dtype:
                r = r.to(gt.dtype)
            gt = r if create_graph else type(t)._wrap(r.value)
        if retain and t.op is not None and RETAIN in t._hooks:
            pending.append((t, gt))
        return gt if create_graph else gt.value
    return run


def _commit_retained(pending: list, create_graph: bool) -> None:
    """Accumulate the gradients that ``retain_grad()`` tensors received into ``.grad``."""
    for t, g in pending:
        old = t.grad
        if create_graph:
            t._grad = g if old is None else old + g
        else:
            t._grad = type(t)._wrap(g.value if old is None else old.value + g.value)


def _run(outputs: Sequence[Any], grad_outputs: Sequence[Any], targets: Optional[list],
         retain_graph: Optional[bool], create_graph: bool,
         retain: bool = True) -> tuple[dict, dict]:
    """Run numeric's executor; returns ``({id: grad}, {id: leaf that got a gradient})``.

    Hooks run; ``retain`` says whether ``retain_grad()`` tensors get ``.grad``
    (``backward`` yes, ``grad`` no, as in PyTorch).
    """
    if retain_graph is None:
        retain_graph = create_graph
    for k, t in enumerate(outputs):
        _check_output(k, t)
    cts = [_seed(k, t, g, create_graph) for k, (t, g) in enumerate(zip(outputs, grad_outputs))]
    leaves: dict[int, Any] = {id(t): t for t in outputs if t.op is None}
    release = _collector(leaves, not retain_graph)
    pending: list = []
    hooks = _hook_table(pending, create_graph, retain) if _HOOKED else None
    prev = GRAD_MODE.enabled
    GRAD_MODE.enabled = create_graph
    try:
        grads = _engine_backward(outputs, cts, targets=targets,
                                 value=_identity if create_graph else None, release=release,
                                 hooks=hooks)
    except RuntimeError as e:
        if str(e) == FREED_GRAPH:
            raise GraphFreedError(FREED_GRAPH) from None
        raise
    finally:
        GRAD_MODE.enabled = prev
    _commit_retained(pending, create_graph)
    return grads, leaves


def _identity(n: Any) -> Any:
    return n


def backward_scalar(t: Any, retain_graph: Optional[bool]) -> None:
    """Fast path of ``t.backward()`` for a one-element output (the training-loop case)."""
    v = t.value
    if not t._requires_grad or v is None or v.size != 1 or _HOOKED or \
            (t.op is not None and not t.inputs):
        return backward(t, None, retain_graph)
    leaves: dict[int, Any] = {}
    if t.op is None:
        leaves[id(t)] = t
    try:
        grads = _engine_backward((t,), (_ones(v),), release=_collector(leaves, not retain_graph))
    except RuntimeError as e:
        if str(e) == FREED_GRAPH:
            raise GraphFreedError(FREED_GRAPH) from None
        raise
    wrap = type(t)._wrap
    for key, g in grads.items():
        leaf = leaves.get(key)
        if leaf is not None:
            old = leaf.grad
            leaf._grad = wrap(g if old is None else old.value + g)


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: Optional[bool] = None,
             create_graph: bool = False, inputs: Any = None) -> None:
    """Accumulate d(tensors)/d(leaf) into every leaf's ``.grad`` (``torch.autograd.backward``).

    ``grad_tensors`` is needed for outputs with more than one element.  The
    graph is freed afterwards unless ``retain_graph`` (default: ``create_graph``).
    If anything fails, no ``.grad`` is changed.

    >>> import symgrad as sg
    >>> x = sg.tensor([5.0], requires_grad=True)
    >>> backward(x ** 2); x.grad
    tensor([10.])
    """
    outs = list(tensors) if isinstance(tensors, (list, tuple)) else [tensors]
    if grad_tensors is None:
        gts: list = [None] * len(outs)
    else:
        gts = list(grad_tensors) if isinstance(grad_tensors, (list, tuple)) else [grad_tensors]
    if len(gts) != len(outs):
        raise GradientError(f"got {len(outs)} tensors but {len(gts)} gradients; pass one "
                            "gradient per tensor")
    targets = None
    if inputs is not None:
        targets = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    grads, leaves = _run(outs, gts, targets, retain_graph, create_graph)
    if targets is not None:
        leaves = {id(t): t for t in targets}
    for key, g in grads.items():
        leaf = leaves.get(key)
        if leaf is None:
            continue
        old = leaf.grad
        if create_graph:
            g = g if hasattr(g, "op") else type(leaf)._wrap(g)
            leaf._grad = g if old is None else old + g
        else:
            leaf._grad = type(leaf)._wrap(g if old is None else old.value + g)


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None,
         retain_graph: Optional[bool] = None, create_graph: bool = False,
         allow_unused: bool = False) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, returned (not accumulated).

    Like ``torch.autograd.grad``.  With ``create_graph=True`` the results are
    themselves differentiable (higher-order derivatives).  ``.grad`` fields are
    left untouched.

    >>> import symgrad as sg
    >>> x = sg.tensor(2.0, requires_grad=True); y = sg.tensor(3.0, requires_grad=True)
    >>> grad(x * y, [x, y])
    (tensor(3.), tensor(2.))
    """
    outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    ins = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if grad_outputs is None:
        gos: list = [None] * len(outs)
    else:
        gos = list(grad_outputs) if isinstance(grad_outputs, (list, tuple)) else [grad_outputs]
    for k, t in enumerate(ins):
        if not t.requires_grad:
            raise GradientError(f"input {k} of grad() does not require grad; create it with "
                                "requires_grad=True")
    grads, _ = _run(outs, gos, ins, retain_graph, create_graph, retain=False)
    result = []
    for k, t in enumerate(ins):
        g = grads.get(id(t))
        if g is None:
            if not allow_unused:
                raise GradientError(
                    f"One of the differentiated Tensors (input {k}) appears to not have been "
                    "used in the graph. Set allow_unused=True if this is the desired behavior.")
            result.append(None)
        else:
            result.append(g if hasattr(g, "op") else type(t)._wrap(g))
    return tuple(result)


__all__ = [
    "GRAD_MODE", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "BackwardFunction", "AccumulateGrad", "backward_name", "make_grad_fn", "backward", "grad",
    "RemovableHandle", "add_hook", "RETAIN", "Function", "FunctionCtx",
]
