"""Layers of ``sg.nn`` beyond Linear: activations, dropout, norms, embedding, conv, containers.

Each has ``torch.nn``'s name, constructor signature, parameter names, shapes and
initialisation (drawn from ``generator``, ``seed`` or the generator
:func:`symgrad.manual_seed` seeds), and calls the functional op of the same name.

>>> import symgrad as sg
>>> net = sg.nn.Sequential(sg.nn.Conv2d(1, 2, 3, seed=0), sg.nn.ReLU(), sg.nn.MaxPool2d(2),
...                        sg.nn.Flatten(), sg.nn.Linear(2 * 3 * 3, 4, seed=1))
>>> net(sg.zeros(5, 1, 8, 8)).shape
(5, 4)
>>> [(name, p.shape) for name, p in net.named_parameters()][:2]
[('0.weight', (2, 1, 3, 3)), ('0.bias', (2,))]
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Iterator, Optional

import numpy as np

from symgrad import dtypes as dt
from symgrad.creation import _rng
from symgrad.nn import functional as F, init
from symgrad.nn.modules import Module, Parameter
from symgrad.tensor import Tensor, mark_modified
from symgrad.tensor_ops import flatten as _flatten

__all__ = ["Identity", "Sigmoid", "GELU", "SiLU", "Softmax", "LogSoftmax", "LeakyReLU", "ELU",
           "Softplus", "Dropout", "LayerNorm", "BatchNorm1d", "BatchNorm2d", "Embedding",
           "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "ModuleList", "ModuleDict"]


def _dtype(dtype: Any) -> np.dtype:
    return dt.as_dtype(dtype) if dtype is not None else dt.get_default_dtype()


def _positive(cls: str, **sizes: Any) -> None:
    for name, n in sizes.items():
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n <= 0:
            raise ValueError(f"{cls}: {name} must be a positive int, got {n!r}")


def _pair(v: Any) -> tuple:
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else tuple(int(e) for e in v)


# ----------------------------------------------------------------------------- activations
class Identity(Module):
    """Returns its input unchanged (a placeholder layer)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input


class Sigmoid(Module):
    """``1 / (1 + exp(-x))`` elementwise.

    >>> import symgrad as sg
    >>> sg.nn.Sigmoid()(sg.tensor([0.0]))
    tensor([0.5000])
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.sigmoid(input)


class GELU(Module):
    """``x * Phi(x)`` (``approximate='tanh'``: the tanh approximation), as ``torch.nn.GELU``.

    >>> import symgrad as sg
    >>> sg.nn.GELU()(sg.tensor([1.0])), sg.nn.GELU(approximate="tanh")(sg.tensor([1.0]))
    (tensor([0.8413]), tensor([0.8412]))
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """``x * sigmoid(x)`` elementwise (swish)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.silu(input, inplace=self.inplace)


class LeakyReLU(Module):
    """``x`` where positive, else ``negative_slope * x``."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.leaky_relu(input, self.negative_slope, self.inplace)


class ELU(Module):
    """``x`` where positive, else ``alpha * (exp(x) - 1)``."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.elu(input, self.alpha, self.inplace)


class Softplus(Module):
    """``log(1 + exp(beta x)) / beta``, linear above ``threshold``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.softplus(input, self.beta, self.threshold)


class Softmax(Module):
    """Softmax along ``dim``."""

    def __init__(self, dim: Optional[int] = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.softmax(input, self.dim)


class LogSoftmax(Module):
    """Log-softmax along ``dim``."""

    def __init__(self, dim: Optional[int] = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.log_softmax(input, self.dim)


class Dropout(Module):
    """Zero elements with probability ``p`` in training mode (scaling the rest by 1/(1-p)).

    In eval mode (``model.eval()``) it returns its input.  The mask comes from the
    generator :func:`symgrad.manual_seed` seeds.

    >>> import symgrad as sg
    >>> d = sg.nn.Dropout(0.5); sg.manual_seed(0)
    >>> d(sg.ones(4)), d.eval()(sg.ones(4))
    (tensor([2., 0., 0., 0.]), tensor([1., 1., 1., 1.]))
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)) \
                or not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p!r}")
        self.p, self.inplace = float(p), inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


# ----------------------------------------------------------------------------- norms
class LayerNorm(Module):
    """Normalise over the last dims (``normalized_shape``), then ``* weight + bias``.

    ``weight`` starts at ones and ``bias`` at zeros (``elementwise_affine``; ``bias=False``
    drops only the bias), as ``torch.nn.LayerNorm``.

    >>> import symgrad as sg
    >>> sg.nn.LayerNorm(2, eps=0.0)(sg.tensor([[1.0, 3.0]]))
    tensor([[-1.,  1.]], grad_fn=<AddBackward>)
    """

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, *, dtype: Any = None) -> None:
        super().__init__()
        shape = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) \
            else tuple(int(n) for n in normalized_shape)
        self.normalized_shape, self.eps = shape, float(eps)
        self.elementwise_affine = elementwise_affine
        d = _dtype(dtype)
        self.weight = Parameter(np.ones(shape), dtype=d) if elementwise_affine else None
        self.bias = Parameter(np.zeros(shape), dtype=d) if elementwise_affine and bias else None

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class _BatchNorm(Module):
    _dims: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *,
                 dtype: Any = None) -> None:
        super().__init__()
        _positive(type(self).__name__, num_features=num_features)
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{type(self).__name__}: momentum must be in [0, 1] or None "
                             f"(a cumulative average), got {momentum!r}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        d, c = _dtype(dtype), int(num_features)
        self.weight = Parameter(np.ones(c), dtype=d) if affine else None
        self.bias = Parameter(np.zeros(c), dtype=d) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(c, d)))
            self.register_buffer("running_var", Tensor(np.ones(c, d)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, np.int64)))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        """Running mean 0, variance 1 and batch count 0 (in place)."""
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        if input.ndim not in self._dims:
            want = " or ".join(f"{n}D" for n in self._dims)
            raise ValueError(f"{type(self).__name__}: expected {want} input (got {input.ndim}D "
                             "input)")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            # PyTorch's order: the count moves before the batch is normalised
            n = self.num_batches_tracked
            if n.value.flags.writeable:
                n.value += 1
            else:
                n.value = n.value + 1
            mark_modified(n)
            if self.momentum is None:
                factor = 1.0 / float(n.value)
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if track else None,
                            self.running_var if track else None, self.weight, self.bias,
                            use_batch, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of ``(N, C)`` or ``(N, C, L)`` input per channel, as PyTorch's.

    Training mode normalises with the batch's statistics and updates the buffers
    ``running_mean``/``running_var`` (``momentum``; None: a cumulative average) and
    ``num_batches_tracked``; eval mode normalises with the running statistics.  The
    buffers are in ``state_dict()``.

    >>> import symgrad as sg
    >>> bn = sg.nn.BatchNorm1d(1)
    >>> bn(sg.tensor([[1.0], [3.0]])).detach(), bn.running_mean, bn.running_var
    (tensor([[-1.0000],
            [ 1.0000]]), tensor([0.2000]), tensor([1.1000]))
    >>> bn.eval()(sg.tensor([[0.2]])).detach()
    tensor([[0.]])
    """

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of ``(N, C, H, W)`` input per channel (see :class:`BatchNorm1d`)."""

    _dims = (4,)


# ----------------------------------------------------------------------------- embedding
class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``, looked up by index.

    ``weight`` starts standard normal; the ``padding_idx`` row starts at zero and gets
    no gradient, as ``torch.nn.Embedding``.

    >>> import symgrad as sg
    >>> emb = sg.nn.Embedding(4, 2, padding_idx=0, seed=0)
    >>> emb(sg.tensor([0, 0])).detach()
    tensor([[0., 0.],
            [0., 0.]])
    """

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 padding_idx: Optional[int] = None, max_norm: Optional[float] = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, *, dtype: Any = None, seed: Optional[int] = None,
                 generator: Optional[np.random.Generator] = None) -> None:
        super().__init__()
        _positive("Embedding", num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise AssertionError(f"Padding_idx must be within num_embeddings: got "
                                     f"{padding_idx} for {num_embeddings} embeddings")
            padding_idx = int(padding_idx) % num_embeddings
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError("Embedding: max_norm, scale_grad_by_freq and sparse are "
                                      "not supported")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx = padding_idx
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim)), dtype=_dtype(dtype))
        init.normal_(self.weight, generator=_rng(seed, generator))
        if padding_idx is not None:
            self.weight.value[padding_idx] = 0

    def forward(self, input: Any) -> Tensor:  # noqa: A002
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


# ----------------------------------------------------------------------------- conv, pool
class Conv2d(Module):
    """2-D convolution (cross-correlation) layer, as ``torch.nn.Conv2d``.

    ``weight`` has shape ``(out_channels, in_channels // groups, kh, kw)`` and ``bias``
    ``(out_channels,)``, both uniform in ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]`` with
    ``fan_in = in_channels // groups * kh * kw`` (PyTorch's kaiming-uniform, ``a=sqrt(5)``).

    >>> import symgrad as sg
    >>> conv = sg.nn.Conv2d(3, 8, kernel_size=3, padding=1, seed=0)
    >>> conv.weight.shape, conv(sg.zeros(2, 3, 5, 5)).shape
    ((8, 3, 3, 3), (2, 8, 5, 5))
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", *, dtype: Any = None, seed: Optional[int] = None,
                 generator: Optional[np.random.Generator] = None) -> None:
        super().__init__()
        _positive("Conv2d", in_channels=in_channels, out_channels=out_channels, groups=groups)
        if in_channels % groups:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode != "zeros":
            raise NotImplementedError(f"Conv2d: padding_mode {padding_mode!r} is not supported; "
                                      "use 'zeros' (or pad the input with F.pad first)")
        k = _pair(kernel_size)
        if len(k) != 2 or min(k) < 1:
            raise ValueError(f"Conv2d: kernel_size must be a positive int or 2 of them, got "
                             f"{kernel_size!r}")
        self.in_channels, self.out_channels, self.kernel_size = int(in_channels), \
            int(out_channels), k
        self.stride, self.dilation, self.groups = _pair(stride), _pair(dilation), int(groups)
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self.padding_mode = padding_mode
        rng, d = _rng(seed, generator), _dtype(dtype)
        self.weight = Parameter(np.empty((out_channels, in_channels // groups) + k), dtype=d)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=rng)
        if bias:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1.0 / math.sqrt(fan_in)
            self.bias = Parameter(np.empty(out_channels), dtype=d)
            init.uniform_(self.bias, -bound, bound, generator=rng)
        else:
            self.bias = None

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding,
                        self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding!r}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + ("" if self.bias is not None else ", bias=False")


class MaxPool2d(Module):
    """Maximum over ``kernel_size`` windows (``stride`` defaults to ``kernel_size``).

    >>> import symgrad as sg
    >>> sg.nn.MaxPool2d(2)(sg.arange(16.0).reshape(1, 1, 4, 4))
    tensor([[[[ 5.,  7.],
              [13., 15.]]]])
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input: Tensor) -> Any:  # noqa: A002
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over ``kernel_size`` windows (``stride`` defaults to ``kernel_size``)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: Optional[int] = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class Flatten(Module):
    """Merge dims ``start_dim..end_dim`` (default: all but the batch dim) into one.

    >>> import symgrad as sg
    >>> sg.nn.Flatten()(sg.zeros(2, 3, 4)).shape
    (2, 12)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return _flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


# ----------------------------------------------------------------------------- containers
def _as_module(m: Any, where: str) -> Module:
    if not isinstance(m, Module):
        raise TypeError(f"{where} is a {type(m).__name__}, not a Module")
    return m


class ModuleList(Module):
    """A list of sub-modules, registered as children ``"0"``, ``"1"``, ... (no forward).

    >>> import symgrad as sg
    >>> layers = sg.nn.ModuleList([sg.nn.Linear(2, 2, seed=k) for k in range(2)])
    >>> _ = layers.append(sg.nn.ReLU()); len(layers), [n for n, _ in layers.named_parameters()][:2]
    (3, ['0.weight', '0.bias'])
    """

    def __init__(self, modules: Optional[Iterable[Module]] = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _list(self) -> list[Module]:
        return [v for v in vars(self).values() if isinstance(v, Module)]

    def _reset(self, items: list[Module]) -> None:
        for k in range(len(self)):
            object.__delattr__(self, str(k))
        for k, m in enumerate(items):
            setattr(self, str(k), m)

    def _index(self, idx: Any) -> int:
        n = len(self)
        if not isinstance(idx, (int, np.integer)) or isinstance(idx, bool):
            raise TypeError(f"ModuleList indices must be integers or slices, not "
                            f"{type(idx).__name__}")
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for a ModuleList of length {n}")
        return int(idx) % n

    def __len__(self) -> int:
        return len(self._list())

    def __iter__(self) -> Iterator[Module]:
        return iter(self._list())

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, slice):
            return ModuleList(self._list()[idx])
        return self._list()[self._index(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, str(self._index(idx)), _as_module(module, "ModuleList item"))

    def __delitem__(self, idx: Any) -> None:
        items = self._list()
        if isinstance(idx, slice):
            del items[idx]
        else:
            del items[self._index(idx)]
        self._reset(items)

    def append(self, module: Module) -> "ModuleList":
        """Add ``module`` at the end; returns self."""
        setattr(self, str(len(self)), _as_module(module, "ModuleList.append's argument"))
        return self

    def extend(self, modules: Iterable[Module]) -> "ModuleList":
        """Append each module of ``modules``; returns self."""
        items = [_as_module(m, f"ModuleList item {k}") for k, m in enumerate(modules)]
        for m in items:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before ``index``."""
        items = self._list()
        items.insert(index, _as_module(module, "ModuleList.insert's argument"))
        self._reset(items)


class ModuleDict(Module):
    """An ordered dict of sub-modules, registered as children under their keys (no forward).

    >>> import symgrad as sg
    >>> heads = sg.nn.ModuleDict({"a": sg.nn.Linear(2, 1, seed=0), "b": sg.nn.Tanh()})
    >>> list(heads), [n for n, _ in heads.named_parameters()]
    (['a', 'b'], ['a.weight', 'a.bias'])
    """

    def __init__(self, modules: Any = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def _check_key(self, key: Any) -> str:
        if not isinstance(key, str):
            raise TypeError(f"module name should be a string, got {type(key).__name__}")
        if not key or "." in key:
            raise KeyError(f"module name can't be empty or contain '.', got {key!r}")
        if (key in vars(self) or hasattr(type(self), key)) and key not in self:
            raise KeyError(f"attribute {key!r} already exists; use another key")
        return key

    def __getitem__(self, key: str) -> Module:
        if key not in self:
            raise KeyError(key)
        return vars(self)[key]

    def __setitem__(self, key: str, module: Module) -> None:
        setattr(self, self._check_key(key), _as_module(module, f"ModuleDict[{key!r}]"))

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        object.__delattr__(self, key)

    def __contains__(self, key: Any) -> bool:
        return isinstance(vars(self).get(key), Module)

    def __len__(self) -> int:
        return len(self.keys())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def keys(self) -> list[str]:
        """The keys, in insertion order."""
        return [k for k, v in vars(self).items() if isinstance(v, Module)]

    def values(self) -> list[Module]:
        """The modules, in insertion order."""
        return [vars(self)[k] for k in self.keys()]

    def items(self) -> list[tuple[str, Module]]:
        """``(key, module)`` pairs, in insertion order."""
        return [(k, vars(self)[k]) for k in self.keys()]

    def pop(self, key: str) -> Module:
        """Remove ``key`` and return its module."""
        m = self[key]
        del self[key]
        return m

    def clear(self) -> None:
        """Remove every module."""
        for k in self.keys():
            del self[k]

    def update(self, modules: Any) -> None:
        """Add (or replace) modules from a mapping or an iterable of ``(key, module)`` pairs."""
        pairs = list(modules.items()) if hasattr(modules, "items") else list(modules)
        for k, m in pairs:
            self._check_key(k)
            _as_module(m, f"ModuleDict[{k!r}]")
        for k, m in pairs:
            setattr(self, k, m)
