"""``Tensor``: a PyTorch-style handle around a node of the expression graph.

The graph is made of immutable :class:`numeric.node.Node` objects (``t.node``):
an ``Op`` applied to input nodes with parameters ``attrs``, or a leaf whose role
is ``"data"`` (an array from the user), ``"constant"`` (a Python number in an
expression) or ``"symbol"`` (no value).  A Tensor adds what belongs to one run:
``value``, ``grad``, ``requires_grad``, the version counter, hooks, and
``inputs`` -- the input handles whose values backward needs (freed by
``backward()``; the node graph stays, so formulas survive it).

Eager tensors compute ``value`` at once with numeric's ``FORWARD`` kernels; when
any input is symbolic (``value is None``), the result is symbolic too and only
its shape and dtype are derived (:mod:`symgrad.shapes`).

Note [Hot path]
    Every op goes through :func:`_node` (one ``object.__new__``, one tuple for
    the IR node, plain slot stores; ``grad_fn`` objects and automatic leaf names
    are created lazily, on first access); the binary operators inline it.
    Binary operators look their kernel up once at import time.  A handle keeps
    its node's ``op`` and ``attrs`` in slots of its own (the executor reads
    them per node; for a compiled call's output ``op`` is the Program's
    backward instead).
    This keeps the seed's training loop within a few times a hand-written numpy
    loop; see docs/performance.md.

Note [Literals]
    A Python number in an op becomes a constant leaf whose value has the other
    operand's dtype (a float32 tensor never gets promoted to float64) and whose
    node (role ``"constant"``) keeps the number as ``literal``, so lowering makes
    it exact.

>>> import symgrad as sg
>>> x = sg.tensor([5.0], requires_grad=True)
>>> f = x ** 2
>>> f
tensor([25.], grad_fn=<PowBackward>)
>>> f.backward(); x.grad
tensor([10.])
"""
from __future__ import annotations

import threading
import weakref
from collections import namedtuple
from typing import Any, Optional

import numpy as np

from numeric.executor import evaluate as _evaluate
from numeric.graph import toposort
from numeric.kernels import FORWARD
from numeric.node import NO_ATTRS, Node, as_node, many
from numeric.ops import Op
from symgrad import autograd as _ag
from symgrad import dtypes as _dt
from symgrad.errors import DtypeError, GradientError, ShapeError, SymbolicValueError
from symgrad.naming import known_name, leaf_name
from symgrad.tensor_format import format_tensor
from symgrad.shapes import broadcast_shapes, infer_shape, matmul_shape, result_dtype

_GRAD = _ag.GRAD_MODE
_new = object.__new__
_make = Node.make
_leaf_node = Node.leaf
_fast_leaf = Node.data_leaf
_tuple_new = tuple.__new__       # Node.make inlined on the hot path (Note [Node layout])
_NUMBER = (int, float, bool, np.number, np.bool_)

values_indices = namedtuple("values_indices", ["values", "indices"])


# --- issue 13: compile
class _ValueReads(threading.local):
    """``hook(tensor, what)``, called when Python reads a tensor's values as an array
    (``item()``, ``bool()``, ``tolist()``, ``numpy()``, ``np.asarray``, a tensor used as
    an index or size: every ``_need_value``) in this thread; set by ``sg.compile``
    while it traces, so a value read becomes a guard (symgrad/compile_guards.py)."""

    hook: Any = None
    #: ``ufunc(np_ufunc, *operands)``: a gradient-free ufunc (comparison; None for
    #: ``detach``) while tracing, recorded as a graph node instead of a constant leaf
    #: (Note [Traced comparisons] in symgrad/compile_guards.py)
    ufunc: Any = None


VALUE_READS = _ValueReads()


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    Create tensors with :func:`symgrad.tensor` (or ``Tensor(data, ...)``, the
    same thing).  See the module docstring for the graph structure.

    >>> import symgrad as sg
    >>> t = Tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> t.shape, t.dtype, t.T.sum(dim=0)
    ((2, 2), dtype('float64'), tensor([3., 7.]))
    """

    __slots__ = ("node", "value", "op", "attrs", "inputs", "_requires_grad", "_grad",
                 "_version", "_modified", "_hooks", "_grad_fn", "__weakref__")
    __array_priority__ = 1000.0

    def __init__(self, data: Any, *, dtype: Any = None, requires_grad: bool = False,
                 name: Optional[str] = None) -> None:
        value = to_array(data, dtype)
        _init(self, value, _data_leaf(value, name), (), False)
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _wrap(value: Any) -> "Tensor":
        """A new leaf holding ``value`` (used by autograd for gradients)."""
        if value.__class__ is not np.ndarray:
            value = np.asarray(value)
        return _node(value, None, (), {}, False)

    # -------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple:
        """The shape, a tuple (dims of symbolic tensors may be strings)."""
        v = self.value
        return v.shape if v is not None else self.node.shape

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype (``sg.float64`` by default for floating data)."""
        v = self.value
        return v.dtype if v is not None else self.node.dtype

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    def dim(self) -> int:
        """Number of dimensions (PyTorch's method form)."""
        return len(self.shape)

    def size(self, dim: Optional[int] = None) -> Any:
        """The shape, or the size of one ``dim``."""
        shape = self.shape
        return shape if dim is None else shape[_dim(dim, len(shape))]

    def numel(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        shape = self.shape
        if not shape:
            raise TypeError("len() of a 0-d tensor")
        return shape[0]

    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to (or through) this tensor."""
        return self._requires_grad

    @property
    def grad(self) -> Optional["Tensor"]:
        """The accumulated gradient (None until a backward reaches this leaf).

        Assigning checks what PyTorch checks: a Tensor (or None) of this tensor's
        shape and dtype; nothing is broadcast.

        >>> import symgrad as sg
        >>> w = sg.zeros(3, requires_grad=True)
        >>> w.grad = sg.ones(1)
        Traceback (most recent call last):
        ...
        RuntimeError: assigned grad has data of a different size: attempting to assign a gradient of size [1] to a tensor of size [3]; the gradient and the tensor must be the same size
        """
        return self._grad

    @grad.setter
    def grad(self, grad: Optional["Tensor"]) -> None:
        if grad is not None:
            if not isinstance(grad, Tensor):
                kind = type(grad)
                name = kind.__name__ if kind.__module__ == "builtins" else \
                    f"{kind.__module__}.{kind.__qualname__}"
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad "
                                f"of type {name}")
            if grad.shape != self.shape:
                raise RuntimeError(
                    f"assigned grad has data of a different size: attempting to assign a "
                    f"gradient of size {list(grad.shape)} to a tensor of size "
                    f"{list(self.shape)}; the gradient and the tensor must be the same size")
            if grad.dtype != self.dtype:
                raise RuntimeError(
                    f"assigned grad has data of a different type: attempting to assign a "
                    f"gradient with dtype {grad.dtype} to a tensor with dtype {self.dtype}; "
                    f"convert it with grad.to(sg.{self.dtype})")
        self._grad = grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set ``requires_grad`` on a leaf in place; returns ``self``.

        >>> import symgrad as sg
        >>> sg.tensor([1]).requires_grad_()
        Traceback (most recent call last):
        ...
        symgrad.errors.DtypeError: only floating point tensors can require gradients...
        """
        if self.op is not None and self._requires_grad and not requires_grad:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables; to use a computed "
                "tensor without gradient, use t.detach()")
        if requires_grad and self.dtype.kind != "f":
            raise DtypeError(
                f"only floating point tensors can require gradients, got dtype {self.dtype}; "
                "create the tensor with dtype=sg.float64 (or sg.float32), e.g. "
                "sg.tensor([1.0, 2.0], requires_grad=True)")
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op (as in PyTorch)."""
        return self.op is None or not self._requires_grad

    def register_hook(self, hook: Any) -> Any:
        """Call ``hook(grad)`` each time a gradient for this tensor is computed.

        As in PyTorch: the hook gets the gradient as a Tensor and may return a
        replacement (same shape) or None; for a leaf it runs before ``.grad``
        is accumulated.  Returns a handle whose ``remove()`` unregisters it.

        >>> import symgrad as sg
        >>> x = sg.tensor([1.0, 2.0], requires_grad=True)
        >>> y = x * 3
        >>> h = y.register_hook(lambda g: g * 10)
        >>> y.sum().backward(); x.grad
        tensor([30., 30.])
        """
        if not self._requires_grad:
            raise GradientError("cannot register a hook on a tensor that doesn't require "
                                "gradient; create it with requires_grad=True")
        if not callable(hook):
            raise TypeError(f"register_hook expects a callable, got {type(hook).__name__}")
        return _ag.add_hook(self, hook)

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after ``backward()``.

        A no-op on leaves (they always get ``.grad``).  The gradient accumulates
        across ``backward()`` calls, as a leaf's does.

        >>> import symgrad as sg
        >>> x = sg.tensor([1.0, 2.0], requires_grad=True)
        >>> y = x * x; y.retain_grad()
        >>> (y * 3).sum().backward(); y.grad, x.grad
        (tensor([3., 3.]), tensor([ 6., 12.]))
        """
        if not self._requires_grad:
            raise GradientError("can't retain_grad on Tensor that has requires_grad=False")
        if self.op is not None and not self.retains_grad:
            _ag.add_hook(self, _ag.RETAIN)

    @property
    def retains_grad(self) -> bool:
        """True if :meth:`retain_grad` was called on this non-leaf tensor."""
        hooks = self._hooks
        return hooks is not None and any(h is _ag.RETAIN for h in hooks)

    @property
    def grad_fn(self) -> Any:
        """The ``<Op>Backward`` object that made this tensor, or None (leaves, no-grad)."""
        op = self.op
        if op is None or not self._requires_grad:
            return None
        fn = self._grad_fn
        if fn is None:
            fn = self._grad_fn = _ag.make_grad_fn(op, self.inputs)
        return fn

    @property
    def name(self) -> Optional[str]:
        """The SymPy name of a leaf: ``name=``, else an automatic one (None for ops).

        See Note [Leaf names] in :mod:`symgrad.naming`.
        """
        node = self.node
        return None if node.op is not None else leaf_name(node)

    @name.setter
    def name(self, value: Optional[str]) -> None:
        node = self.node
        if node.op is not None:
            raise ValueError("only leaf tensors have names; this tensor was computed by an op")
        self.node = node.renamed(value)

    @property
    def is_symbolic(self) -> bool:
        """True if the tensor has no value (it depends on an ``sg.symbol``)."""
        return self.value is None

    @property
    def data(self) -> "Tensor":
        """A detached tensor sharing this tensor's values."""
        return self.detach()

    # -------------------------------------------------------------- conversion
    def _need_value(self, what: str) -> np.ndarray:
        v = self.value
        if VALUE_READS.hook is not None and v is not None:   # --- issue 13: compile
            VALUE_READS.hook(self, what)
        if v is None:
            raise SymbolicValueError(
                f"{what} needs a numeric value but this tensor is symbolic (it depends on "
                "sg.symbol); bind values with sg.evaluate(t, {symbol: array}) first")
        return v

    def item(self) -> Any:
        """The single element as a Python number."""
        v = self._need_value("item()")
        if v.size != 1:
            raise ValueError(f"a Tensor with {v.size} elements cannot be converted to a "
                             "Python scalar; index it or reduce it first (e.g. .sum())")
        return v.item()

    def tolist(self) -> Any:
        """The values as (nested) Python lists."""
        v = self._need_value("tolist()")
        return v.tolist()

    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The value as a numpy array (shared, not copied).

        As in PyTorch this refuses on a tensor that requires grad: use
        ``t.detach().numpy()`` (or ``force=True``).
        """
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        v = self._need_value("numpy()")
        return v

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        v = self._need_value("np.asarray(tensor)")
        return v if dtype is None else v.astype(dtype)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu":
            raise TypeError("only integer tensors of a single element can be an index")
        return int(self.item())

    def __bool__(self) -> bool:
        v = self._need_value("bool(tensor)")
        if v.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {v.size} values is ambiguous; "
                               "use .any() or .all()")
        return bool(v.item())

    __hash__ = object.__hash__

    def __reduce__(self) -> Any:
        """Pickle (and ``copy.deepcopy``) a tensor as PyTorch does: its value,
        ``requires_grad`` and name, never its graph, gradient or hooks.  This is how a
        loss and the parameters it captures travel to Dask workers (``sg.distributed``);
        files use ``sg.save``, which never pickles.

        >>> import pickle, symgrad as sg
        >>> w = sg.tensor([1.0, 2.0], requires_grad=True, name="w")
        >>> pickle.loads(pickle.dumps(w)), pickle.loads(pickle.dumps(w)).name
        (tensor([1., 2.], requires_grad=True), 'w')
        """
        if self.value is None:
            raise TypeError("a symbolic tensor has no value to pickle; pickle the data it is "
                            "evaluated on, or rebuild it with sg.symbol on the other side")
        node = self.node
        if node.op is not None and self._requires_grad:
            raise RuntimeError("can't pickle a non-leaf tensor that requires grad: it is part "
                               "of a graph; pickle t.detach() (its value) instead")
        name = node.name if node.op is None else None
        return _unpickle, (type(self), self.value, self._requires_grad, name)

    def detach(self) -> "Tensor":
        """A new leaf sharing this tensor's value, cut off from the graph."""
        if self.value is None:
            raise SymbolicValueError("detach() of a symbolic tensor has no value to share")
        if VALUE_READS.ufunc is not None:       # --- issue 13: compile: a node in a trace
            return VALUE_READS.ufunc(None, self)
        return handle(_data_leaf(self.value), self.value)

    def clone(self) -> "Tensor":
        """A copy (differentiable: recorded as a reshape to the same shape)."""
        return _apply(Op.RESHAPE, (self,), {"shape": tuple(self.shape)})

    def backward(self, gradient: Any = None, retain_graph: Optional[bool] = None,
                 create_graph: bool = False, inputs: Any = None) -> None:
        """Accumulate this tensor's gradient into the ``.grad`` of every leaf.

        See :func:`symgrad.autograd.backward`.
        """
        if gradient is None and not create_graph and inputs is None:
            _ag.backward_scalar(self, retain_graph)
        else:
            _ag.backward(self, gradient, retain_graph, create_graph, inputs)

    def __repr__(self) -> str:
        return format_tensor(self)

    # -------------------------------------------------------------- dtype ops
    def to(self, *args: Any, **kwargs: Any) -> "Tensor":
        """Cast to a dtype (``t.to(sg.float32)``); device arguments are accepted and ignored."""
        dtype = kwargs.get("dtype")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif not isinstance(a, str):
                dtype = a
        if dtype is None:
            return self
        dtype = _dt.as_dtype(dtype)
        if dtype == self.dtype:
            return self
        out = _apply(Op.CAST, (self,), {"dtype": dtype})
        return out

    def type(self, dtype: Any = None) -> Any:
        """Cast to ``dtype``, or return the dtype name if no dtype is given."""
        return _dt.dtype_name(self.dtype) if dtype is None else self.to(dtype)

    def float(self) -> "Tensor":
        """Cast to float32."""
        return self.to(_dt.float32)

    def double(self) -> "Tensor":
        """Cast to float64."""
        return self.to(_dt.float64)

    def long(self) -> "Tensor":
        """Cast to int64 (no gradient)."""
        return self.to(_dt.int64)

    def int(self) -> "Tensor":
        """Cast to int32 (no gradient)."""
        return self.to(_dt.int32)

    def bool(self) -> "Tensor":
        """Cast to bool (no gradient)."""
        return self.to(_dt.bool)

    def astype(self, dtype: Any, copy: bool = True) -> "Tensor":
        """numpy spelling of :meth:`to`."""
        return self.to(np.dtype(dtype))

    def cpu(self) -> "Tensor":
        """Return ``self`` (symgrad tensors live in host memory)."""
        return self

    def is_floating_point(self) -> bool:
        """True for floating dtypes."""
        return self.dtype.kind == "f"


#: Note [Version check]: a process-wide clock ticked by every in-place change of a
#: tensor's value.  Each tensor keeps the tick of its last change (``_modified``;
#: creation counts), so "input changed after the node that saved it was made" is
#: ``input._modified > node._modified``, checked by autograd when backward reaches
#: the node.  Creating a tensor only reads the clock (one store on the hot path).
_CLOCK = [0]


def mark_modified(*tensors: Tensor) -> None:
    """Record an in-place change of each tensor's value (see Note [Version check]).

    Bumps ``_version`` (PyTorch's counter) and stamps the change with one tick.

    >>> import symgrad as sg
    >>> w = sg.tensor([1.0]); mark_modified(w); w._version
    1
    """
    _CLOCK[0] = tick = _CLOCK[0] + 1
    for t in tensors:
        t._modified = tick
        t._version += 1
        ticks = _ag.MODIFIED.get(id(t))
        if ticks is None:
            ticks = _ag.MODIFIED[id(t)] = []
            weakref.finalize(t, _ag.MODIFIED.pop, id(t), None)
        elif len(ticks) == _ag.HISTORY:
            del ticks[0]
        ticks.append(tick)


def write_(t: Tensor, array: Any) -> None:
    """Copy ``array`` (already checked: broadcastable, castable) into ``t``'s value in place
    and bump its version: the primitive under ``copy_`` and ``Module.load_state_dict``.

    >>> import symgrad as sg
    >>> w = sg.zeros(2); write_(w, [1.0, 2.0]); w, w._version
    (tensor([1., 2.]), 1)
    """
    v = t.value
    if not v.flags.writeable:
        t.value = v = v.copy()
    np.copyto(v, array, casting="unsafe")
    mark_modified(t)


def _init(t: Tensor, value: Any, node: Node, inputs: tuple, rg: bool) -> None:
    # the same slot stores as _node, which repeats them inline instead of calling
    # this: one call less per op on the eager hot path (Note [Hot path])
    t.node = node
    t.value = value
    t.op = node.op
    t.attrs = node.attrs
    t.inputs = inputs
    t._requires_grad = rg
    t._grad = None
    t._version = 0
    t._modified = _CLOCK[0]
    t._hooks = None
    t._grad_fn = None


def _unpickle(cls: type, value: np.ndarray, requires_grad: bool, name: Optional[str]) -> Tensor:
    """Rebuild a pickled tensor (see :meth:`Tensor.__reduce__`) as a leaf of class ``cls``."""
    t = Tensor(value, requires_grad=requires_grad, name=name)
    if cls is not Tensor:
        t.__class__ = cls                   # Parameter and other slot-less subclasses
    return t


def _data_leaf(value: np.ndarray, name: Optional[str] = None) -> Node:
    """The IR leaf of an array the user gave (role ``"data"``)."""
    return _leaf_node("data", value, name=name) if name is not None else _fast_leaf(value)


def _node(value: Any, op: Any, inputs: tuple, attrs: Any, rg: bool) -> Tensor:
    """The one fast constructor (see Note [Hot path]).

    ``op is None`` makes a data leaf around ``value`` (library-made: no name cell,
    see :meth:`numeric.node.Node.data_leaf`); otherwise an op node whose
    IR inputs are the input handles' nodes, and whose handle keeps the input
    handles (``inputs``: the values backward needs, dropped when it frees them).
    """
    t = _new(Tensor)
    if op is None:          # Node.data_leaf(value, cell=False), inlined
        t.node = _tuple_new(Node, (None, (), NO_ATTRS, value.shape, value.dtype, None, "data",
                                   None, value, None))
        t.attrs = NO_ATTRS
    else:
        if not attrs:
            attrs = NO_ATTRS
        n = len(inputs)
        if n == 2:
            ins = (inputs[0].node, inputs[1].node)
        elif n == 1:
            ins = (inputs[0].node,)
        else:
            ins = tuple([i.node for i in inputs])
        t.node = _tuple_new(Node, (op, ins, attrs, value.shape, value.dtype, None, None, None,
                                   None, None))
        t.attrs = attrs
    t.op = op
    t.value = value
    t.inputs = inputs
    t._requires_grad = rg
    t._grad = None
    t._version = 0
    t._modified = _CLOCK[0]
    t._hooks = None
    t._grad_fn = None
    return t


def handle(node: Node, value: Any = None, inputs: tuple = (), rg: bool = False) -> Tensor:
    """A Tensor handle around an existing IR ``node`` (value optional).

    >>> import symgrad as sg
    >>> x = sg.tensor([1.0, 2.0], name="x")
    >>> handle(x.node).name, handle(x.node).is_symbolic
    ('x', True)
    """
    t = _new(Tensor)
    _init(t, value, node, inputs, rg)
    return t


def symbolic_node(op: Any, inputs: tuple, attrs: dict, shape: tuple, dtype: np.dtype,
                  rg: bool, name: Optional[str] = None) -> Tensor:
    """A tensor without value (a symbol when ``op`` is None) of ``shape`` and ``dtype``."""
    if op is None:
        node = _leaf_node("symbol", name=name, shape=tuple(shape), dtype=dtype)
    else:
        node = _make(op, tuple([i.node for i in inputs]), attrs, tuple(shape), dtype)
    return handle(node, None, inputs, rg)


def to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """``data`` as a fresh numpy array with symgrad's dtype rules.

    Python floats -> the default dtype, ints -> int64, bools -> bool; numpy
    arrays keep their dtype unless ``dtype`` is given.

    >>> to_array([1, 2]).dtype, to_array([1.0]).dtype, to_array(np.float32([1])).dtype
    (dtype('int64'), dtype('float64'), dtype('float32'))
    """
    if isinstance(data, Tensor):
        data = data._need_value("tensor(tensor)")
    if dtype is not None:
        dtype = _dt.as_dtype(dtype)
        return _array(data, dtype)
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.array(data)
    else:
        arr = _array(data, None)
        if arr.dtype.kind == "f":
            arr = arr.astype(_dt.get_default_dtype(), copy=False)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64, copy=False)
        elif arr.dtype.kind == "O" or arr.dtype.kind in "USc":
            raise TypeError(f"cannot make a tensor from {type(data).__name__} data "
                            f"(numpy dtype {arr.dtype}); pass numbers or nested lists of "
                            "numbers of equal lengths")
    if arr.dtype.kind not in "fiub":
        raise DtypeError(f"unsupported dtype {arr.dtype}; use float, int or bool data")
    return arr


def _array(data: Any, dtype: Any) -> np.ndarray:
    """``np.array(data, dtype)``, with PyTorch's errors for ragged nested lists."""
    try:
        return np.array(data, dtype=dtype)
    except ValueError:
        _check_nested(data)
        raise


def _check_nested(data: Any) -> None:
    """Raise PyTorch's error for nested sequences of unequal lengths (level by level).

    >>> _check_nested([[1, 2], [1, 2, 3]])
    Traceback (most recent call last):
    ...
    ValueError: expected sequence of length 2 at dim 1 (got 3)
    """
    def is_seq(x: Any) -> bool:
        return isinstance(x, (list, tuple)) or (isinstance(x, (np.ndarray, Tensor))
                                               and x.ndim > 0)
    level, dim = [data], 0
    while level and is_seq(level[0]):
        n = len(level[0])
        for x in level:
            if not is_seq(x):
                raise TypeError(f"expected a sequence of length {n} at dim {dim} (got "
                                f"{type(x).__name__} {x!r}): nested lists must have equal "
                                "lengths at every level")
            if len(x) != n:
                raise ValueError(f"expected sequence of length {n} at dim {dim} (got {len(x)})")
        level = [y for x in level for y in x]
        dim += 1
    for x in level:
        if is_seq(x):
            raise TypeError(f"expected a number at dim {dim} (got a sequence of length "
                            f"{len(x)}): nested lists must have equal lengths at every level")


# ----------------------------------------------------------------------------- constants
def _literal_dtype(x: Any, dtype: np.dtype) -> np.dtype:
    kind = dtype.kind
    if kind == "f":
        return dtype
    if isinstance(x, (float, np.floating)):
        return _dt.get_default_dtype()
    if kind == "b" and not isinstance(x, (bool, np.bool_)):
        return _dt.int64
    return dtype


def const(x: Any, like: Optional[Tensor] = None) -> Tensor:
    """``x`` as a tensor: Tensors pass through, numbers become literal leaves.

    A number takes ``like``'s dtype (see Note [Literals]); arrays become constant
    leaves too (their exact values lower, not a symbol).

    >>> import symgrad as sg
    >>> c = const(2, sg.tensor([1.0], dtype=sg.float32))
    >>> c.value.dtype, c.node.role, c.node.literal
    (dtype('float32'), 'constant', 2)
    """
    if isinstance(x, Tensor):
        return x
    if isinstance(x, _NUMBER):
        lit = x.item() if isinstance(x, np.generic) else x
        if like is not None:
            dt = _literal_dtype(lit, like.dtype)
        elif isinstance(lit, bool):
            dt = _dt.bool
        elif isinstance(lit, int):
            dt = _dt.int64
        else:
            dt = _dt.get_default_dtype()
        key = (lit.__class__, lit, dt)
        t = _CONSTANTS.get(key)
        if t is None:
            v = np.array(lit, dtype=dt)
            v.flags.writeable = False
            if len(_CONSTANTS) >= 512:
                _CONSTANTS.clear()
            t = _CONSTANTS[key] = handle(_leaf_node("constant", v, literal=lit), v)
        return t
    v = to_array(x)
    return handle(_leaf_node("constant", v), v)


#: Note [Shared literals]: one read-only constant handle per (number, dtype), reused by
#: every expression that writes that number (``x ** 2`` in a training loop makes no new
#: leaf per step).  Constants never require grad and are never changed in place.
_CONSTANTS: dict = {}


# ----------------------------------------------------------------------------- apply
def _symbolic(op: Any, inputs: tuple, attrs: dict) -> Tensor:
    shapes = [t.shape for t in inputs]
    dtypes = [t.dtype for t in inputs]
    if isinstance(op, Op):
        shape = infer_shape(op, shapes, attrs)
        dtype = result_dtype(op, dtypes, attrs)
    else:
        rule = getattr(op, "infer_shape", None)
        if rule is None:
            raise SymbolicValueError(f"op {op!r} has no infer_shape(shapes, attrs) rule, so it "
                                     "cannot be applied to symbolic tensors")
        shape = tuple(rule(shapes, attrs))
        dtype = np.result_type(*dtypes)
    rg = _GRAD.enabled and any(t._requires_grad for t in inputs) and dtype.kind == "f"
    return symbolic_node(op, inputs, attrs, shape, dtype, rg)


def _apply(op: Any, inputs: tuple, attrs: dict) -> Tensor:
    """Apply ``op`` (an ``Op`` or a user op with ``forward``) to Tensor ``inputs``."""
    vals = []
    for t in inputs:
        v = t.value
        if v is None:
            return _symbolic(op, inputs, attrs)
        vals.append(v)
    kernel = FORWARD[op] if op.__class__ is Op else op.forward
    try:
        v = kernel(*vals, **attrs)
    except ValueError as e:
        raise _explain(op, inputs, e, attrs) from None
    rg = False
    for t in inputs:
        if t._requires_grad:
            rg = v.dtype.kind == "f" and _GRAD.enabled
            break
    return _node(v, op, inputs, attrs, rg)


def promoted(tensors: tuple) -> tuple:
    """``tensors`` cast to PyTorch's result dtype (``sg.result_type``) where they differ.

    numpy would compute ``int64 + float32`` in float64; PyTorch (and symgrad) in
    float32.  The casts are graph nodes, so every path sees the same dtypes.
    """
    target = _dt.result_type(*tensors)
    return tuple(t if t.value.dtype == target else _apply(Op.CAST, (t,), {"dtype": target})
                 for t in tensors)


def _explain(op: Any, inputs: tuple, err: Exception, attrs: Optional[dict] = None) -> Exception:
    """Turn numpy's shape ValueError into a ShapeError naming the shapes and the fix."""
    shapes = [t.shape for t in inputs]
    try:
        if op is Op.MATMUL:
            matmul_shape(*shapes)
        elif op in (Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.POW, Op.MAXIMUM, Op.MINIMUM, Op.WHERE):
            broadcast_shapes(*shapes)
        elif isinstance(op, Op):
            infer_shape(op, shapes, attrs or {})
    except ShapeError as s:
        return s
    except Exception:  # noqa: BLE001 - fall back to numpy's own message
        pass
    return err


def _binary(op: Op, kernel: Any, a: Any, b: Any) -> Tensor:
    """Fast path of the binary operators (one of ``a``, ``b`` is a Tensor)."""
    if a.__class__ is not Tensor:
        a = const(a, b)
    if b.__class__ is not Tensor:
        b = const(b, a)
    av = a.value
    bv = b.value
    if av is None or bv is None:
        return _symbolic(op, (a, b), {})
    if av.dtype is not bv.dtype:
        a, b = promoted((a, b))
        av, bv = a.value, b.value
    try:
        v = kernel(av, bv)
    except ValueError as e:
        raise _explain(op, (a, b), e) from None
    # _node(v, op, (a, b), NO_ATTRS, rg) inlined (Note [Hot path])
    t = _new(Tensor)
    t.node = _tuple_new(Node, (op, (a.node, b.node), NO_ATTRS, v.shape, v.dtype, None, None,
                               None, None, None))
    t.value = v
    t.op = op
    t.attrs = NO_ATTRS
    t.inputs = (a, b)
    t._requires_grad = (a._requires_grad or b._requires_grad) and _GRAD.enabled
    t._grad = None
    t._version = 0
    t._modified = _CLOCK[0]
    t._hooks = None
    t._grad_fn = None
    return t


def _unary(op: Op, kernel: Any, a: Tensor) -> Tensor:
    v = a.value
    if v is None:
        return _symbolic(op, (a,), {})
    return _node(kernel(v), op, (a,), NO_ATTRS, a._requires_grad and _GRAD.enabled)


def _dim(d: Any, ndim: int) -> int:
    d = int(d)
    lo = -max(ndim, 1)
    if not lo <= d < max(ndim, 1):
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[{lo}, {max(ndim, 1) - 1}], but got {d})")
    return d % max(ndim, 1) if ndim else 0


def axes(dim: Any, ndim: int) -> Optional[tuple]:
    """Normalise ``dim`` (None, int, or tuple of ints, possibly negative) to sorted axes.

    >>> axes(-1, 3), axes((0, -1), 3), axes(None, 2)
    ((2,), (0, 2), None)
    """
    if dim is None:
        return None
    if isinstance(dim, (list, tuple)):
        out = tuple(sorted({_dim(d, ndim) for d in dim}))
        if len(out) != len(dim):
            raise ValueError(f"dim {tuple(dim)} repeats a dimension")
        return out if ndim else ()
    d = _dim(dim, ndim)              # validated for a 0-d tensor too (only 0 and -1 are dims)
    return (d,) if ndim else ()


def compare(ufunc: Any, a: Any, b: Any) -> Tensor:
    """An elementwise comparison (or other gradient-free ufunc) as a bool/constant leaf."""
    if VALUE_READS.ufunc is not None:       # --- issue 13: compile: a graph node in a trace
        return VALUE_READS.ufunc(ufunc, a, b)
    if any(isinstance(t, Tensor) and t.value is None for t in (a, b)):
        # comparisons are values, not graph ops: say what a symbolic graph can use instead
        raise SymbolicValueError(
            f"np.{ufunc.__name__} of a symbolic tensor: comparisons give values, not graph "
            "nodes, so they need numbers (bind them with sg.evaluate first); in a closed form "
            "write the kink with sg.relu, sg.maximum/sg.minimum, sg.clamp or sg.abs, or pass "
            "where() a boolean sg.symbol as its mask")
    av = a._need_value(f"np.{ufunc.__name__}") if isinstance(a, Tensor) else a
    bv = b._need_value(f"np.{ufunc.__name__}") if isinstance(b, Tensor) else b
    try:
        return _node(np.asarray(ufunc(av, bv)), None, (), NO_ATTRS, False)
    except ValueError as e:
        sa, sb = np.shape(av), np.shape(bv)
        broadcast_shapes(sa, sb)
        raise e


def evaluate(outputs: Any, bindings: Optional[dict] = None) -> Any:
    """Run the graph of ``outputs`` numerically with values bound to its leaves.

    ``bindings`` maps a leaf (a Tensor, its node, or its name) to an array;
    symbols must all be bound, other leaves default to their own value.
    ``outputs`` may be Tensors or nodes.  Returns a Tensor (a tuple for a list
    of outputs) without gradient.

    >>> import symgrad as sg
    >>> X = sg.symbol("X", shape=("N", 2)); w = sg.tensor([1.0, 10.0])
    >>> sg.evaluate((X @ w).sum(), {"X": [[1.0, 2.0], [3.0, 4.0]]})
    tensor(64.)
    """
    single = not many(outputs)
    outs = [as_node(o) for o in ([outputs] if single else outputs)]
    leaves = [n for n in toposort(outs) if n.op is None]
    by_name = {known_name(n): n for n in leaves if known_name(n) is not None}
    ids: dict[int, np.ndarray] = {}
    for key, val in (bindings or {}).items():
        node = as_node(key) if isinstance(key, (Tensor, Node)) else by_name.get(key)
        if node is None:
            raise ValueError(f"evaluate: no leaf named {key!r} in the graph; its named leaves "
                             f"are {sorted(by_name)}")
        arr = np.asarray(val._need_value("a binding") if isinstance(val, Tensor) else val,
                         dtype=node.dtype)
        want = node.shape
        if len(want) != arr.ndim or any(isinstance(d, int) and d != a
                                        for d, a in zip(want, arr.shape)):
            raise ShapeError(f"evaluate: leaf {leaf_name(node)!r} has shape {want} but the "
                             f"bound value has shape {arr.shape}")
        ids[id(node)] = arr
    missing = [leaf_name(n) for n in leaves if n.data is None and id(n) not in ids]
    if missing:
        raise SymbolicValueError(f"evaluate: symbols {missing} are not bound; pass "
                                 "bindings={name: array} for each")
    vals = _evaluate(outs, ids)
    res = tuple(_node(np.asarray(v), None, (), NO_ATTRS, False) for v in vals)
    return res[0] if single else res
