"""``sg.nn``: a small training kit in PyTorch's shape.

``Module`` (parameters, children, ``state_dict`` as plain numpy arrays, train/eval),
``Parameter``, ``Linear``, ``Sequential``, ``ReLU``, ``Tanh``, ``MSELoss`` and
``CrossEntropyLoss``.  Everything is built from symgrad's primitive ops, so a
model runs eagerly and under :func:`symgrad.compile` alike.

>>> import symgrad as sg
>>> model = sg.nn.Sequential(sg.nn.Linear(3, 4, seed=0), sg.nn.ReLU(), sg.nn.Linear(4, 2, seed=1))
>>> [name for name, _ in model.named_parameters()]
['0.weight', '0.bias', '2.weight', '2.bias']
>>> model[0].weight.name                   # the module path is the SymPy name too
'0.weight'
>>> model(sg.tensor([[1.0, 2.0, 3.0]])).shape
(1, 2)

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
from symgrad.tensor import Tensor as _Tensor, _apply

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
    ``parameters()``, ``named_parameters()``, ``children()``, ``modules()``;
    ``state_dict()`` copies them to plain numpy arrays and ``load_state_dict()`` writes
    them back in place (so optimizers keep working); ``train()``/``eval()`` set
    ``training``; ``zero_grad()`` clears every ``.grad``.  Subclasses define ``forward``.

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
        """This module and every descendant, depth first (iteratively)."""
        stack: list[Module] = [self]
        while stack:
            m = stack.pop()
            yield m
            stack.extend(reversed(list(m.children())))

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, parameter)`` pairs; a shared parameter is listed once."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            pre, m = stack.pop()
            subs = []
            for name, v in m._entries():
                full = f"{pre}.{name}" if pre else name
                if isinstance(v, Module):
                    subs.append((full, v))
                elif v._requires_grad and v.op is None and id(v) not in seen:
                    seen.add(id(v))
                    yield full, v
            stack.extend(reversed(subs))

    def parameters(self) -> Iterator[Tensor]:
        """Every parameter (a leaf Tensor that requires grad), each once."""
        for _, p in self.named_parameters():
            yield p

    def state_dict(self) -> dict[str, np.ndarray]:
        """``{name: copy of the parameter's array}``: plain numpy, no code pickled."""
        return {name: _np.array(p.value, copy=True) for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Copy arrays from ``state`` into the parameters in place.

        Raises KeyError naming missing/unexpected keys (``strict``) and ValueError naming
        the key and both shapes when a shape differs.
        """
        params = dict(self.named_parameters())
        if strict:
            missing = sorted(set(params) - set(state))
            unexpected = sorted(set(state) - set(params))
            if missing or unexpected:
                raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys "
                               f"{unexpected}; pass strict=False to load a subset")
        for name, value in state.items():
            p = params.get(name)
            if p is None:
                continue
            arr = _np.asarray(value.value if isinstance(value, _Tensor) else value)
            if arr.shape != p.value.shape:
                raise ValueError(f"load_state_dict: {name!r} has shape {arr.shape} in the state "
                                 f"dict but the parameter has shape {p.value.shape}")
            p.value[...] = arr

    def train(self, mode: bool = True) -> "Module":
        """Set ``training`` on this module and every descendant; returns self."""
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
    uniform with ``a = sqrt(5)``), drawn from ``generator`` or ``np.random.default_rng(seed)``.

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
        rng = generator if generator is not None else _np.random.default_rng(seed)
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
        self.weight = weight
        self.ignore_index = ignore_index
        self.reduction = _reduction("CrossEntropyLoss", size_average, reduce, reduction)
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return functional.cross_entropy(input, target, self.weight,
                                        ignore_index=self.ignore_index,
                                        reduction=self.reduction,
                                        label_smoothing=self.label_smoothing)


from symgrad.nn import functional  # noqa: E402  (sg.nn.functional)
