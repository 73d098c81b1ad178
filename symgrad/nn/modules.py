"""The core of ``sg.nn``: ``Module`` (parameters, buffers, children, ``state_dict``,
train/eval), ``Parameter``, ``Linear``, ``Sequential``, ``ReLU``, ``Tanh``, ``MSELoss`` and
``CrossEntropyLoss``.  ``symgrad.nn`` re-exports them with the other layers
(``layers.py``), loss modules (``loss.py``), ``init`` and ``functional``.

PYTEST_DONT_REWRITE: library code; pytest would otherwise rewrite it (and bind ``@py_builtins``
here), since the distribution declares a ``pytest11`` plugin.
"""
from __future__ import annotations

import math as _math
from typing import TYPE_CHECKING as _TYPE_CHECKING

import numpy as _np

from numeric.ops import Op as _Op
from symgrad import dtypes as _dt
from symgrad.front.losses import _reduction as _check_reduction
from symgrad.creation import _rng
from symgrad.nn import functional
from symgrad.tensor import Tensor as _Tensor, _apply, mark_modified as _mark_modified

if _TYPE_CHECKING:   # names for annotations only: sg.nn exports just __all__
    from typing import Any, Iterator

    import numpy as np

    from numeric.ops import Op
    from symgrad.tensor import Tensor

__all__ = ["Module", "Parameter", "Linear", "Sequential", "ReLU", "Tanh", "MSELoss",
           "CrossEntropyLoss"]


def _op(op: Op, *inputs: Tensor, **attrs: Any) -> Tensor:
    return _apply(op, inputs, attrs)


class Parameter(_Tensor):
    """A leaf Tensor that requires grad (a fresh copy of ``data``), as ``torch.nn.Parameter``.

    ``data`` may be a Tensor, a numpy array or nested lists; ``dtype`` converts.
    A Parameter is a Tensor in every respect (ops on it return plain Tensors).

    >>> import symgrad as sg
    >>> p = sg.nn.Parameter([1.0, 2.0]); p.requires_grad, p.is_leaf, isinstance(p, sg.Tensor)
    (True, True, True)
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, *, dtype: Any = None) -> None:
        value = data.value if isinstance(data, _Tensor) else data
        super().__init__(_np.array(value, dtype=dtype, copy=True), requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class: assign Tensors that require grad and sub-Modules as attributes.

    Parameters are found in attribute order (children's prefixed with their name):
    ``parameters()``, ``named_parameters()``, ``children()``, ``modules()``,
    ``named_modules()``, ``apply(fn)``; ``register_buffer`` keeps non-parameter state
    (``buffers()``).  ``state_dict()`` copies parameters and persistent buffers to plain
    numpy arrays and ``load_state_dict()`` writes them back in place (so optimizers keep
    working); ``train()``/``eval()`` set ``training`` recursively; ``zero_grad()`` clears
    every ``.grad``.  Subclasses define ``forward``.

    >>> import symgrad as sg
    >>> class Affine(sg.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.a = sg.nn.Parameter([2.0])
    ...     def forward(self, x):
    ...         return x * self.a
    >>> m = Affine(); m(sg.tensor([3.0])), list(m.state_dict())
    (tensor([6.], grad_fn=<MulBackward>), ['a'])
    """

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        """Note [Parameter names]: a parameter lowers under its module path.

        A parameter assigned without a name of its own is named after the
        attribute (``weight``); a sub-module assigned as ``fc1`` prefixes the
        path-named parameters under it (``fc1.weight``), so closed forms read
        like the model.  Names given by the user are kept.
        """
        if isinstance(value, _Tensor):
            if value.op is None and value._requires_grad and value.node.name is None:
                value.name = name
        elif isinstance(value, Module):
            for path, p in value.named_parameters():
                if p.node.name == path:
                    p.name = f"{name}.{path}"
        object.__setattr__(self, name, value)

    def forward(self, *args: Any) -> Any:
        raise TypeError(f"{type(self).__name__} has no forward(); subclasses of Module must "
                        "define forward(self, ...)")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def _entries(self) -> Iterator[tuple[str, Any]]:
        for name, v in vars(self).items():
            if isinstance(v, (Module, _Tensor)):
                yield name, v

    def children(self) -> Iterator["Module"]:
        """The direct sub-modules, in attribute order."""
        for _, v in self._entries():
            if isinstance(v, Module):
                yield v

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        """``(name, module)`` for the direct sub-modules."""
        for name, v in self._entries():
            if isinstance(v, Module):
                yield name, v

    def modules(self) -> Iterator["Module"]:
        """This module and every descendant, depth first (iteratively), each once."""
        for _, m in self.named_modules():
            yield m

    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, "Module"]]:
        """``(dotted path, module)`` for this module (path ``prefix``) and every descendant.

        Depth first, in attribute order (iteratively); a module reached twice is listed
        once unless ``remove_duplicate=False``.

        >>> import symgrad as sg
        >>> m = sg.nn.Sequential(sg.nn.Linear(2, 2, seed=0), sg.nn.ReLU())
        >>> [name for name, _ in m.named_modules()]
        ['', '0', '1']
        """
        seen: set[int] = set() if memo is None else memo
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            pre, m = stack.pop()
            if remove_duplicate:
                if id(m) in seen:
                    continue
                seen.add(id(m))
            yield pre, m
            stack.extend(reversed([(f"{pre}.{n}" if pre else n, c)
                                   for n, c in m.named_children()]))

    def _own_parameters(self) -> Iterator[tuple[str, Tensor]]:
        for name, v in self._entries():
            if isinstance(v, _Tensor) and v._requires_grad and v.op is None \
                    and name not in self._buffer_names():
                yield name, v

    def _buffer_names(self) -> dict[str, bool]:
        return vars(self).get("_buffers_persistent", {})

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, parameter)`` pairs; a shared parameter is listed once."""
        seen: set[int] = set()
        for pre, m in self.named_modules(prefix=prefix):
            for name, v in m._own_parameters():
                if id(v) not in seen:
                    seen.add(id(v))
                    yield (f"{pre}.{name}" if pre else name), v

    def parameters(self) -> Iterator[Tensor]:
        """Every parameter (a leaf Tensor that requires grad), each once."""
        for _, p in self.named_parameters():
            yield p

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Keep ``tensor`` (or None) as state that is not a parameter, as PyTorch's.

        A buffer (batch norm's ``running_mean``) is in ``buffers()`` and, when
        ``persistent``, in ``state_dict()``; assigning the attribute again replaces it.

        >>> import symgrad as sg
        >>> m = sg.nn.Module(); m.register_buffer("count", sg.zeros(1))
        >>> list(m.state_dict()), [n for n, _ in m.named_buffers()]
        (['count'], ['count'])
        """
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"buffer name must be a non-empty string without '.', got {name!r}")
        if tensor is not None and not isinstance(tensor, _Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__} object to buffer {name!r} "
                            "(a symgrad Tensor or None is required)")
        if name in vars(self) and name not in self._buffer_names():
            raise KeyError(f"attribute {name!r} already exists; pick another buffer name")
        vars(self).setdefault("_buffers_persistent", {})[name] = bool(persistent)
        object.__setattr__(self, name, tensor)

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, buffer)`` for every buffer that is not None."""
        for pre, m in self.named_modules(prefix=prefix):
            for name in m._buffer_names():
                v = vars(m).get(name)
                if v is not None:
                    yield (f"{pre}.{name}" if pre else name), v

    def buffers(self) -> Iterator[Tensor]:
        """Every buffer that is not None (``running_mean``, ...)."""
        for _, b in self.named_buffers():
            yield b

    def _state_tensors(self) -> dict[str, Tensor]:
        """The state dict's tensors: per module, parameters then persistent buffers."""
        out: dict[str, Tensor] = {}
        seen: set[int] = set()
        for pre, m in self.named_modules():
            for name, v in m._own_parameters():
                if id(v) not in seen:
                    seen.add(id(v))
                    out[f"{pre}.{name}" if pre else name] = v
            for name, persistent in m._buffer_names().items():
                v = vars(m).get(name)
                if persistent and v is not None:
                    out[f"{pre}.{name}" if pre else name] = v
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        """``{name: copy of the array}`` for parameters and persistent buffers: plain numpy.

        >>> import symgrad as sg
        >>> list(sg.nn.BatchNorm1d(2).state_dict())
        ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
        """
        return {name: _np.array(t.value, copy=True) for name, t in self._state_tensors().items()}

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Copy arrays from ``state`` into the parameters and buffers in place.

        Raises KeyError naming missing/unexpected keys (``strict``) and ValueError naming
        the key and both shapes when a shape differs; everything is checked before anything
        is written, so a refused state dict changes nothing.  Each written tensor's version
        counter is bumped (a backward through the old values then raises).
        """
        targets = self._state_tensors()
        if strict:
            missing = sorted(set(targets) - set(state))
            unexpected = sorted(set(state) - set(targets))
            if missing or unexpected:
                raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys "
                               f"{unexpected}; pass strict=False to load a subset")
        writes = []
        for name, value in state.items():
            t = targets.get(name)
            if t is None:
                continue
            arr = _np.asarray(value.value if isinstance(value, _Tensor) else value)
            if arr.shape != t.value.shape:
                raise ValueError(f"load_state_dict: {name!r} has shape {arr.shape} in the state "
                                 f"dict but the module has shape {t.value.shape}")
            writes.append((t, arr))
        for t, arr in writes:
            if t.value.flags.writeable:
                t.value[...] = arr
            else:
                t.value = arr.astype(t.value.dtype, copy=True)
            _mark_modified(t)

    def apply(self, fn: Any) -> "Module":
        """Call ``fn(m)`` on every descendant (children first) and then on self; returns self.

        >>> import symgrad as sg
        >>> m = sg.nn.Sequential(sg.nn.Linear(2, 2, seed=0))
        >>> _ = m.apply(lambda m: sg.nn.init.zeros_(m.bias) if isinstance(m, sg.nn.Linear) else None)
        >>> m[0].bias.tolist()
        [0.0, 0.0]
        """
        stack: list[tuple[Module, bool]] = [(self, False)]
        while stack:
            m, expanded = stack.pop()
            if expanded:
                fn(m)
                continue
            stack.append((m, True))
            stack.extend((c, False) for c in reversed(list(m.children())))
        return self

    def train(self, mode: bool = True) -> "Module":
        """Set ``training`` on this module and every descendant; returns self."""
        if not isinstance(mode, bool):
            raise ValueError(f"training mode is expected to be boolean, got {mode!r}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        """``train(False)``."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's ``.grad`` (to None, as PyTorch's default)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.value[...] = 0

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        kids = list(self.named_children())
        if not kids:
            return f"{type(self).__name__}({self.extra_repr()})"
        body = "".join(f"\n  ({n}): " + repr(m).replace("\n", "\n  ") for n, m in kids)
        return f"{type(self).__name__}({body}\n)"


class Linear(Module):
    """``y = x @ weight.T + bias`` with ``weight`` of shape ``(out, in)``, as ``torch.nn.Linear``.

    Initialised like PyTorch: both uniform in ``[-1/sqrt(in), 1/sqrt(in)]`` (kaiming
    uniform with ``a = sqrt(5)``), drawn from ``generator``, ``seed`` or else the generator
    :func:`symgrad.manual_seed` seeds.

    >>> import symgrad as sg
    >>> lin = sg.nn.Linear(2, 3, seed=0, dtype=sg.float32)
    >>> lin.weight.shape, lin.bias.dtype, bool(abs(lin.weight.value).max() <= 2 ** -0.5)
    ((3, 2), dtype('float32'), True)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 dtype: Any = None, seed: int | None = None,
                 generator: np.random.Generator | None = None) -> None:
        super().__init__()
        for name, n in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(n, (int, _np.integer)) or n <= 0:
                raise ValueError(f"Linear: {name} must be a positive int, got {n!r}")
        dt = _dt.as_dtype(dtype) if dtype is not None else _dt.get_default_dtype()
        rng = _rng(seed, generator)
        bound = 1.0 / _math.sqrt(in_features)
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(rng.uniform(-bound, bound, (out_features, in_features)), dtype=dt)
        self.bias = (Parameter(rng.uniform(-bound, bound, (out_features,)), dtype=dt)
                     if bias else None)

    def forward(self, x: Tensor) -> Tensor:
        y = _op(_Op.MATMUL, x, _op(_Op.PERMUTE, self.weight, axes=(1, 0)))
        return y if self.bias is None else _op(_Op.ADD, y, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Sequential(Module):
    """Modules applied in order; children are named ``"0"``, ``"1"``, ...

    >>> import symgrad as sg
    >>> sg.nn.Sequential(sg.nn.Tanh(), sg.nn.ReLU())(sg.tensor([-1.0, 0.5]))
    tensor([0.0000, 0.4621])
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for k, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {k} is a {type(m).__name__}, not a Module")
            setattr(self, str(k), m)

    def __len__(self) -> int:
        return len(list(self.children()))

    def __getitem__(self, k: int) -> Module:
        return list(self.children())[k]

    def forward(self, x: Any) -> Any:
        for m in self.children():
            x = m(x)
        return x


class ReLU(Module):
    """``max(x, 0)`` elementwise (gradient 0 at 0, as PyTorch)."""

    def forward(self, x: Tensor) -> Tensor:
        return _op(_Op.RELU, x)


class Tanh(Module):
    """``tanh(x)`` elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return _op(_Op.TANH, x)


def _reduction(cls: str, size_average: Any, reduce: Any, reduction: str) -> str:
    """A loss module's reduction, checked when it is built (PyTorch's legacy pair too)."""
    if isinstance(size_average, str):
        raise TypeError(f"{cls}: the first argument is size_average (PyTorch's signature); "
                        f"pass reduction={size_average!r} by keyword")
    return _check_reduction(reduction, size_average, reduce)


class MSELoss(Module):
    """Mean (or sum, or none) of squared differences, as ``torch.nn.MSELoss``.

    >>> import symgrad as sg
    >>> sg.nn.MSELoss()(sg.tensor([1.0, 2.0]), sg.tensor([0.0, 4.0]))
    tensor(2.5000)
    """

    def __init__(self, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _reduction("MSELoss", size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return functional.mse_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(Module):
    """Softmax cross-entropy of logits against class indices or probabilities.

    As ``torch.nn.CrossEntropyLoss``: ``weight`` per class, ``ignore_index``,
    ``reduction`` and ``label_smoothing``; see :func:`symgrad.nn.functional.cross_entropy`.
    The targets are an input of the graph (not baked in), so a compiled loss reads
    new targets at every call, and a class index outside ``[0, C)`` raises IndexError.

    >>> import symgrad as sg
    >>> logits = sg.tensor([[2.0, 0.0], [0.0, 2.0]])
    >>> round(sg.nn.CrossEntropyLoss()(logits, sg.tensor([0, 0])).item(), 6)
    1.126928
    """

    def __init__(self, weight: Any = None, size_average: Any = None, ignore_index: int = -100,
                 reduce: Any = None, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("weight", weight if isinstance(weight, _Tensor) or weight is None
                             else _Tensor(_np.asarray(weight)))
        self.ignore_index = ignore_index
        self.reduction = _reduction("CrossEntropyLoss", size_average, reduce, reduction)
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return functional.cross_entropy(input, target, self.weight,
                                        ignore_index=self.ignore_index,
                                        reduction=self.reduction,
                                        label_smoothing=self.label_smoothing)
