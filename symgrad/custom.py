"""User-defined ops: ``sg.custom_op(name, forward, vjp, sympy)`` and ``sg.autograd.Function``.

A custom op is an object that the rest of symgrad treats like an ``Op``
member: graph nodes built by calling it have ``node.op`` set to it.

* numeric's executor runs ``op.forward(*values)`` and ``op.vjp[i](g, out, *values)``
  (same contract as numeric's ``VJP`` entries, see docs/architecture.md);
* symgrad's lowering applies ``op.sympy`` elementwise to SymPy scalars, and the
  closed forms differentiate that with ``sympy.diff`` (never the VJP);
* ``verify.check`` compares the two, so a wrong VJP is caught.

:class:`Function` is PyTorch's class form of the same thing: each ``apply`` call
makes a :class:`CustomOp` whose ``forward``/``vjp``/``sympy`` close over that
call's ``ctx`` (see Note [Function calls]).

>>> import numpy as np, sympy
>>> import symgrad as sg
>>> cube = sg.custom_op("cube", lambda x: x ** 3, lambda g, out, x: g * 3 * x ** 2,
...                     lambda x: x ** 3)
>>> cube(np.array([2.0]))
array([8.])
>>> cube
custom_op('cube')
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Optional, Sequence

import numpy as np

import numeric.kernels
from symgrad.errors import GradientError, ShapeError

__all__ = ["CustomOp", "custom_op", "Function", "FunctionCtx"]


def _adapt(rule: Callable, name: str, k: int, arity: int) -> Callable:
    """``rule`` as ``vjp(g, out, *inputs)``; a two-argument rule is ``vjp(g, out)``."""
    try:
        params = inspect.signature(rule).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: trust it
        return rule
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return rule
    n = sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    required = sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                   and p.default is p.empty)
    if required <= 2 + arity <= n:
        return rule
    if required <= 2 <= n:
        return lambda g, out, *inputs: rule(g, out)
    raise TypeError(f"custom_op {name!r}: the vjp for input {k} takes {n} argument(s); write "
                    f"vjp(g, out, *inputs) with {2 + arity} arguments, or vjp(g, out)")


class CustomOp:
    """An op defined by the user: numpy ``forward``, ``vjp`` tuple, SymPy local form.

    Attributes: ``name`` (str), ``forward`` (numpy callable), ``vjp`` (tuple of
    callables ``vjp(g, out, *inputs) -> cotangent``, ``None`` for an input
    without gradient), ``sympy`` (callable on SymPy scalars, or None if the op
    has no exact form), ``arity`` (number of inputs).  Output shapes follow
    numpy broadcasting of the inputs unless ``shape`` was given.
    """

    __slots__ = ("name", "forward", "vjp", "sympy", "arity", "_shape")

    def __init__(self, name: str, forward: Callable, vjp: Any, sympy: Optional[Callable] = None,
                 *, shape: Optional[Callable] = None) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"custom_op name must be an identifier string, got {name!r}")
        if not callable(forward):
            raise TypeError(f"custom_op {name!r}: forward must be callable, got "
                            f"{type(forward).__name__}")
        rules = (vjp,) if callable(vjp) else tuple(vjp) if isinstance(vjp, Sequence) else None
        if not rules or any(r is not None and not callable(r) for r in rules):
            raise TypeError(f"custom_op {name!r}: vjp must be a callable (one input) or a tuple "
                            "of callables/None, one per input: vjp(g, out, *inputs) -> cotangent")
        if sympy is not None and not callable(sympy):
            raise TypeError(f"custom_op {name!r}: sympy must be a callable on SymPy scalars "
                            "(e.g. lambda x: sympy.tanh(x)) or None")
        if shape is not None and not callable(shape):
            raise TypeError(f"custom_op {name!r}: shape must be callable(shapes, attrs) or None")
        self.arity = len(rules)
        rules = tuple(None if r is None else _adapt(r, name, k, self.arity)
                      for k, r in enumerate(rules))
        self.name, self.forward, self.vjp, self.sympy = name, forward, rules, sympy
        self._shape = shape

    def infer_shape(self, shapes: Sequence[tuple], attrs: dict) -> tuple:
        """Output shape for input ``shapes`` (broadcasting unless ``shape=`` was given).

        >>> custom_op("f", np.add, (None, None)).infer_shape([(3, 1), (4,)], {})
        (3, 4)
        """
        if self._shape is not None:
            return tuple(self._shape(shapes, attrs))
        try:
            return tuple(np.broadcast_shapes(*[tuple(s) for s in shapes]))
        except ValueError:
            raise ValueError(f"custom op {self.name!r}: input shapes {list(shapes)} do not "
                             "broadcast; pass shape=(lambda shapes, attrs: ...) to "
                             "custom_op for a non-elementwise op") from None

    def __call__(self, *inputs: Any) -> Any:
        """Apply the op: records a graph node on tensors, plain numpy on arrays."""
        if len(inputs) != self.arity:
            raise TypeError(f"custom op {self.name!r} takes {self.arity} input(s) (one per vjp "
                            f"entry), got {len(inputs)}")
        if any(hasattr(type(x), "__numeric_apply__") for x in inputs):
            return numeric.kernels.apply(self, *inputs)
        return np.asarray(self.forward(*(np.asarray(x) for x in inputs)))

    def __repr__(self) -> str:
        return f"custom_op({self.name!r})"


def custom_op(name: str, forward: Callable, vjp: Any, sympy: Optional[Callable] = None, *,
              shape: Optional[Callable] = None) -> CustomOp:
    """Define an op from a numpy ``forward``, a ``vjp`` and an exact ``sympy`` form.

    ``vjp``: a callable for a one-input op, else a tuple with one callable (or
    ``None``) per input, each ``vjp(g, out, *inputs) -> cotangent`` written as if
    shapes matched (the executor un-broadcasts); a rule that needs only the
    output may take two arguments, ``vjp(g, y)`` (``y`` the op's output).  ``sympy``: the op on SymPy
    scalars, used by ``sg.to_sympy``/``sg.diff`` and by ``verify.check``.

    >>> import sympy
    >>> import symgrad as sg
    >>> tanh = sg.custom_op("mytanh", np.tanh, lambda g, out, x: g * (1 - out ** 2),
    ...                     sympy.tanh)
    >>> x = sg.tensor([0.5], requires_grad=True)
    >>> y = tanh(x)
    >>> y.backward()
    >>> bool(np.isclose(x.grad.item(), 1 - np.tanh(0.5) ** 2))
    True
    >>> tanh2 = sg.custom_op("tanh2", np.tanh, lambda g, y: g * (1 - y ** 2), sympy.tanh)
    >>> x = sg.tensor([0.5], requires_grad=True)
    >>> tanh2(x).backward()
    >>> bool(np.isclose(x.grad.item(), 1 - np.tanh(0.5) ** 2))
    True
    """
    return CustomOp(name, forward, vjp, sympy, shape=shape)


# ----------------------------------------------------------------------------- Function
def _readonly(a: Any) -> np.ndarray:
    """A read-only view of ``a``: user code must not change graph values in place."""
    view = np.asarray(a).view()
    view.flags.writeable = False
    return view


def _is_tensor(a: Any) -> bool:
    """A graph node (a symgrad Tensor, a verify Node): anything that records ops."""
    return hasattr(type(a), "__numeric_apply__")


class FunctionCtx:
    """The ``ctx`` of one :meth:`Function.apply` call, as PyTorch's.

    ``save_for_backward(*arrays)`` keeps arrays for ``backward``, which reads
    them back from ``saved_tensors``; ``needs_input_grad`` holds one bool per
    forward input (False for a non-tensor argument or a tensor without
    ``requires_grad``); any other attribute may be set freely (``ctx.alpha = 2``).

    >>> ctx = FunctionCtx((True, False))
    >>> ctx.save_for_backward(np.array([1.0]), None)
    >>> ctx.alpha = 2
    >>> ctx.saved_tensors, ctx.needs_input_grad, ctx.alpha
    ((array([1.]), None), (True, False), 2)
    """

    def __init__(self, needs_input_grad: tuple = ()) -> None:
        self.needs_input_grad = tuple(needs_input_grad)
        self._saved: tuple = ()

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep ``arrays`` (numpy arrays, numbers or None) for ``backward``."""
        self._saved = arrays

    @property
    def saved_tensors(self) -> tuple:
        """What ``save_for_backward`` kept, as a tuple in the same order."""
        return self._saved


def _create_graph_error(name: str) -> GradientError:
    return GradientError(
        f"{name}.backward works on numpy arrays, so its result cannot be differentiated "
        f"again: create_graph=True (higher-order gradients) through the sg.autograd.Function "
        f"{name} is not supported. Take higher derivatives in closed form (sg.diff, "
        f"sg.hessian use {name}.sympy), or build the op from symgrad ops instead")


class _Call:
    """One :meth:`Function.apply` call: where its tensors sit among the arguments, its ctx.

    Note [Function calls]
        ``forward``/``backward`` are staticmethods of the class, but each call
        has its own ``ctx``, so ``apply`` makes one :class:`CustomOp` per call
        whose ``forward``, ``vjp`` rules and ``sympy`` are this object's methods.
        ``forward`` runs ``cls.forward`` on a fresh ctx and remembers the input
        arrays it saw.  The VJP rules (numeric's executor calls one per input)
        share one ``cls.backward`` call per backward pass.  If the executor hands
        them other input arrays than the ctx saw (``sg.evaluate``, verify's
        replays at its points, a symbolic node that never ran forward), forward
        runs again on those first, so the saved tensors always belong to the
        values being differentiated.  Tensors are not kept here (only their
        positions), so a freed graph is not held alive by its ops.
    """

    __slots__ = ("cls", "args", "slots", "needs", "ctx", "seen", "cached", "served")

    def __init__(self, cls: type, args: tuple) -> None:
        self.cls = cls
        self.slots = tuple(k for k, a in enumerate(args) if _is_tensor(a))
        self.args = tuple(None if k in self.slots else a for k, a in enumerate(args))
        self.needs = tuple(k in self.slots and bool(getattr(a, "requires_grad", False))
                           for k, a in enumerate(args))
        self.ctx: Optional[FunctionCtx] = None
        self.seen: Optional[tuple] = None
        self.cached: Optional[tuple] = None
        self.served: set = set()

    def _fill(self, values: Sequence[Any], convert: Callable = lambda a: a) -> list:
        args = [convert(a) for a in self.args]
        for k, v in zip(self.slots, values):
            args[k] = v
        return args

    def forward(self, *values: Any) -> np.ndarray:
        """``cls.forward(ctx, *args)`` on a fresh ctx; the tensors' ``values`` as numpy."""
        cls, ctx = self.cls, FunctionCtx(self.needs)
        args = self._fill([_readonly(v) for v in values])
        if cls.setup_context is not Function.setup_context:   # PyTorch 2's split form
            out = cls.forward(*args)
            cls.setup_context(ctx, tuple(args), out)
        else:
            out = cls.forward(ctx, *args)
        if isinstance(out, (tuple, list)):
            raise TypeError(f"{cls.__name__}.forward returned a {type(out).__name__} of "
                            f"{len(out)}; sg.autograd.Function supports one output: return "
                            "one numpy array")
        out = np.asarray(out)
        if out.dtype.kind not in "fiub":
            raise TypeError(f"{cls.__name__}.forward returned an array of dtype {out.dtype}; "
                            "return a numeric numpy array")
        self.ctx, self.seen, self.cached = ctx, values, None
        return out

    def rule(self, k: int) -> Callable:
        """The VJP rule of tensor input ``k``: ``vjp(g, out, *inputs)`` as numeric calls it."""
        return lambda g, out, *values: self.gradient(k, g, values)

    def gradient(self, k: int, g: Any, values: tuple) -> Optional[np.ndarray]:
        """Cotangent of tensor input ``k`` (see Note [Function calls])."""
        if _is_tensor(g):   # the executor runs VJPs on Tensors for create_graph=True
            raise _create_graph_error(self.cls.__name__)
        seen = self.seen
        if seen is None or len(seen) != len(values) or any(
                a is not b for a, b in zip(seen, values)):
            self.forward(*values)
        cached = self.cached
        if cached is None or cached[0] is not g or k in self.served:
            cached = self.cached = (g, self._backward(g, values))
            self.served = set()
        self.served.add(k)
        return cached[1][k]

    def _backward(self, g: Any, values: tuple) -> list:
        """``cls.backward(ctx, g)``, checked: one gradient per tensor input (or None)."""
        name, n = self.cls.__name__, len(self.args)
        res = self.cls.backward(self.ctx, _readonly(g))
        res = tuple(res) if isinstance(res, (tuple, list)) else (res,)
        if len(res) < n or any(r is not None for r in res[n:]):
            raise GradientError(
                f"{name}.backward returned {len(res)} gradient(s) but {name}.forward takes "
                f"{n} input(s) after ctx; return one gradient per input (a tuple, None for "
                "an input without gradient)")
        for pos, r in enumerate(res[:n]):
            if r is not None and pos not in self.slots:
                raise GradientError(
                    f"{name}.backward returned a gradient for input {pos}, which is not a "
                    f"tensor ({type(self.args[pos]).__name__}); return None in that place")
        grads: list = []
        for k, pos in enumerate(self.slots):
            r = res[pos]
            if r is None:
                grads.append(None)
                continue
            c, shape = np.asarray(r), np.shape(values[k])
            if c.shape != shape:
                try:
                    ok = np.broadcast_shapes(c.shape, shape) == c.shape
                except ValueError:
                    ok = False
                if not ok:
                    raise ShapeError(
                        f"{name}.backward returned an invalid gradient for input {pos}: got "
                        f"shape {c.shape} but expected the input's shape {shape} (or a shape "
                        "it broadcasts to)")
            if c.dtype.kind not in "fiub":
                raise TypeError(f"{name}.backward returned a gradient of dtype {c.dtype} for "
                                f"input {pos}; return numpy arrays")
            # never pass a read-only view (grad_output, an input) on as a gradient
            grads.append(c if c.flags.writeable else c.copy())
        return grads

    def sympy(self, *scalars: Any) -> Any:
        """``cls.sympy(*args)`` on SymPy scalars; Python numbers become exact."""
        from symgrad.lower_sympy import exact   # SymPy loads on the first closed-form call

        def as_exact(a: Any) -> Any:
            number = isinstance(a, (int, float, np.number)) and not isinstance(a, bool)
            return exact(a) if number else a
        return self.cls.sympy(*self._fill(scalars, as_exact))


class _FunctionOp(CustomOp):
    """The op of one :meth:`Function.apply` call (named after the class)."""

    __slots__ = ("function", "grad_fn_name")

    def __init__(self, cls: type, call: _Call) -> None:
        form = call.sympy if getattr(cls, "sympy", None) is not None else None
        n = len(call.slots)
        super().__init__(cls.__name__, call.forward, (None,) * n, form)
        # the rules already have numeric's signature: skip _adapt's per-call inspection
        self.vjp = tuple(call.rule(k) for k in range(n))
        self.function = cls
        self.grad_fn_name = cls.__name__ + "Backward"   # PyTorch's: the class name kept

    def __repr__(self) -> str:
        if self.sympy is None:
            return f"{self.name} (an sg.autograd.Function without a `sympy` staticmethod)"
        return f"{self.name} (an sg.autograd.Function)"


class Function:
    """PyTorch's ``torch.autograd.Function``: an op from a ``forward`` and a ``backward``.

    Subclass it with staticmethods, then call ``YourOp.apply(*args)``:

    * ``forward(ctx, *args)``: tensor arguments arrive as **numpy arrays**
      (read-only), other arguments (Python numbers, ...) as given; return one
      numpy array.  ``ctx.save_for_backward(*arrays)`` keeps what ``backward``
      needs; any attribute may be set on ``ctx``.  PyTorch 2's split form,
      ``forward(*args)`` plus ``setup_context(ctx, inputs, output)``, works too.
    * ``backward(ctx, grad_output)``: numpy in, numpy out; return one gradient
      per forward argument (a single value for one argument, else a tuple),
      ``None`` for an argument without gradient (non-tensor arguments must get
      None).  ``ctx.saved_tensors`` and ``ctx.needs_input_grad`` (one bool per
      argument) are there.  A gradient may have the broadcast output's shape;
      it is summed back to its input's shape.
    * ``sympy(*args)`` (optional): the op on SymPy scalars, the tensor
      arguments replaced by scalars and Python numbers made exact.  It gives
      ``sg.diff``/``sg.to_sympy`` their formulas and ``verify.check`` its exact
      witness, which is how a wrong ``backward`` is caught.  Without it the op
      works numerically only.  The form is scalar, so closed forms need an
      elementwise op (output shape: the inputs broadcast).

    Each call gets its own ``ctx``; ``y.grad_fn`` is ``<YourOpBackward>``.
    ``create_graph=True`` through a Function raises (its backward is numpy).
    This is :func:`custom_op`'s mechanism: each call builds a :class:`CustomOp`.

    >>> import sympy
    >>> import symgrad as sg
    >>> class MyTanh(sg.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         y = np.tanh(x)
    ...         ctx.save_for_backward(y)
    ...         return y
    ...     @staticmethod
    ...     def backward(ctx, grad_output):
    ...         (y,) = ctx.saved_tensors
    ...         return grad_output * (1 - y ** 2)
    ...     @staticmethod
    ...     def sympy(x):
    ...         return sympy.tanh(x)
    >>> x = sg.tensor([0.5], requires_grad=True)
    >>> y = MyTanh.apply(x)
    >>> y.grad_fn
    <MyTanhBackward object at 0x...>
    >>> y.sum().backward()
    >>> bool(np.isclose(x.grad.item(), 1 - np.tanh(0.5) ** 2))
    True
    >>> t = sg.symbol("t")
    >>> sg.diff(MyTanh.apply(t), t, simplify=False)
    1 - tanh(t)**2
    """

    sympy: Optional[Callable] = None

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any) -> Any:
        """Compute the output from numpy arrays (override as a staticmethod)."""
        raise NotImplementedError("subclass sg.autograd.Function and define "
                                  "@staticmethod forward(ctx, *inputs) returning a numpy array")

    @staticmethod
    def backward(ctx: FunctionCtx, grad_output: Any) -> Any:
        """One gradient per forward input from ``grad_output`` (override as a staticmethod)."""
        raise NotImplementedError("subclass sg.autograd.Function and define "
                                  "@staticmethod backward(ctx, grad_output) returning one "
                                  "gradient per forward input (None for none)")

    @staticmethod
    def setup_context(ctx: FunctionCtx, inputs: tuple, output: Any) -> None:
        """Optional (PyTorch 2): fill ``ctx`` when ``forward`` takes no ctx."""

    @classmethod
    def apply(cls, *args: Any) -> Any:
        """Run the op on ``args``: a graph node if any argument is a tensor, else numpy.

        >>> class Double(Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         return 2 * x
        ...     @staticmethod
        ...     def backward(ctx, g):
        ...         return 2 * g
        >>> Double.apply(np.array([1.5]))
        array([3.])
        """
        if cls is Function:
            raise TypeError("sg.autograd.Function is a base class: subclass it with "
                            "staticmethods forward/backward, then call YourOp.apply(...)")
        call = _Call(cls, args)
        if not call.slots:
            return call.forward()
        return _FunctionOp(cls, call)(*(args[k] for k in call.slots))
