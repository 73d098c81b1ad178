"""``sg.nn.init``: fill parameters in place with PyTorch's initialisation schemes.

Each function writes the tensor's array directly (no graph is recorded, as under
``torch.no_grad()``), bumps its version counter and returns it.  Random ones draw
from ``generator`` (a ``numpy.random.Generator``) or else the generator
:func:`symgrad.manual_seed` seeds.  ``fan_in``/``fan_out`` are PyTorch's: for a
weight of shape ``(out, in, *kernel)``, ``in * prod(kernel)`` and ``out * prod(kernel)``.

>>> import numpy as np
>>> import symgrad as sg
>>> w = sg.nn.Parameter(np.empty((4, 6)))
>>> _ = sg.nn.init.xavier_uniform_(w, generator=np.random.default_rng(0))
>>> bool(abs(w.value).max() <= (6 / (4 + 6)) ** 0.5)
True
>>> sg.nn.init.calculate_gain("relu") == 2 ** 0.5
True
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from symgrad.creation import _rng
from symgrad.tensor import Tensor, mark_modified

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "ones_", "zeros_", "eye_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: Optional[float] = None) -> float:
    """The recommended gain for ``nonlinearity``, as ``torch.nn.init.calculate_gain``.

    ``linear``/``conv*``/``sigmoid``: 1; ``tanh``: 5/3; ``relu``: sqrt(2);
    ``leaky_relu``: sqrt(2 / (1 + slope**2)) (``param`` = slope, default 0.01);
    ``selu``: 3/4.

    >>> import symgrad as sg
    >>> sg.nn.init.calculate_gain("tanh"), round(sg.nn.init.calculate_gain("leaky_relu", 0.2), 6)
    (1.6666666666666667, 1.38675)
    """
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float, np.integer, np.floating)) \
                and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"negative_slope {param!r} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity!r}; use one of "
                     f"{', '.join(_LINEAR)}, tanh, relu, leaky_relu, selu")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """PyTorch's fans: ``(shape[1] * receptive, shape[0] * receptive)``."""
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError(f"Fan in and fan out can not be computed for tensor with fewer than "
                         f"2 dimensions (got shape {shape})")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode!r} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _write(tensor: Tensor, values: Any) -> Tensor:
    """Store ``values`` into ``tensor`` in place (its dtype) and bump its version."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"nn.init expects a symgrad Tensor (or Parameter), got "
                        f"{type(tensor).__name__}")
    v = tensor._need_value("nn.init")
    if v.flags.writeable:
        v[...] = values
    else:
        tensor.value = np.broadcast_to(np.asarray(values), v.shape).astype(v.dtype)
    mark_modified(tensor)
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0,
             generator: Optional[np.random.Generator] = None) -> Tensor:
    """Fill with samples from ``U(a, b)``."""
    if not a <= b:
        raise ValueError(f"uniform_ expects a <= b, got a={a}, b={b}")
    return _write(tensor, _rng(None, generator).uniform(a, b, tuple(tensor.shape)))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: Optional[np.random.Generator] = None) -> Tensor:
    """Fill with samples from ``N(mean, std**2)``."""
    if std < 0:
        raise ValueError(f"normal_ expects std >= 0, got std={std}")
    return _write(tensor, _rng(None, generator).normal(mean, std, tuple(tensor.shape)))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    return _write(tensor, val)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return _write(tensor, 1)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return _write(tensor, 0)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity (ones on the diagonal)."""
    if tensor.ndim != 2:
        raise ValueError(f"Only tensors with 2 dimensions are supported, got {tensor.ndim}")
    return _write(tensor, np.eye(*tensor.shape))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0,
                    generator: Optional[np.random.Generator] = None) -> Tensor:
    """``U(-a, a)`` with ``a = gain * sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0,
                   generator: Optional[np.random.Generator] = None) -> Tensor:
    """``N(0, std**2)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu",
                     generator: Optional[np.random.Generator] = None) -> Tensor:
    """``U(-bound, bound)``, ``bound = gain * sqrt(3 / fan)`` (He et al.), as PyTorch's.

    ``gain = calculate_gain(nonlinearity, a)``; ``fan`` is fan_in or fan_out (``mode``).
    ``a = sqrt(5)`` gives PyTorch's Linear/Conv default, ``bound = 1 / sqrt(fan_in)``.

    >>> import numpy as np, symgrad as sg
    >>> w = sg.nn.init.kaiming_uniform_(sg.zeros(3, 25), a=5 ** 0.5)
    >>> bool(abs(w.value).max() <= 0.2)
    True
    """
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu",
                    generator: Optional[np.random.Generator] = None) -> Tensor:
    """``N(0, std**2)``, ``std = gain / sqrt(fan)`` (He et al.), as PyTorch's."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)
