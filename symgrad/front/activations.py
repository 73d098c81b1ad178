"""Activations with ``torch.nn.functional``'s signatures (issue 11).

``sg.selu``, ``sg.celu`` and ``sg.softplus`` are top-level names (PyTorch has
``torch.selu`` and ``torch.celu``; ``sg.softplus`` predates this family); the
rest live in :mod:`symgrad.nn.functional` only, as in PyTorch.  Each is one op
of :mod:`numeric.rules.activations`, except ``relu6``, which PyTorch defines as
``hardtanh(input, 0, 6)`` and so is here.

``inplace=True`` is refused with a clear error: symgrad never overwrites a
tensor that a graph may still need.

>>> import symgrad as sg
>>> x = sg.tensor([-1.0, 0.0, 2.0], requires_grad=True)
>>> leaky_relu(x, 0.1)
tensor([-0.1000,  0.0000,  2.0000], grad_fn=<LeakyReluBackward>)
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Optional

from numeric.ops import Op
from symgrad.tensor import Tensor, _apply, _dim, const

__all__ = ["selu", "celu", "softplus"]


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else const(x)


def _no_inplace(name: str, inplace: bool) -> None:
    if inplace:
        raise NotImplementedError(
            f"{name}(inplace=True) is not supported: symgrad does not overwrite tensors a "
            f"graph may need; call {name}(input) (inplace=False) and use the result")


def _unary(op: Op, input: Any, **attrs: Any) -> Tensor:
    return _apply(op, (_t(input),), attrs)


def leaky_relu(input: Any, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``input`` where positive, else ``negative_slope * input`` (slope at 0: ``negative_slope``).

    >>> import symgrad as sg
    >>> leaky_relu(sg.tensor([-2.0, 3.0]))
    tensor([-0.0200,  3.0000])
    """
    _no_inplace("leaky_relu", inplace)
    return _unary(Op.LEAKY_RELU, input, negative_slope=float(negative_slope))


def elu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``input`` where positive, else ``alpha * (exp(input) - 1)``.

    >>> import symgrad as sg
    >>> elu(sg.tensor([-1.0, 2.0]))
    tensor([-0.6321,  2.0000])
    """
    _no_inplace("elu", inplace)
    return _unary(Op.ELU, input, alpha=float(alpha))


def selu(input: Any, inplace: bool = False) -> Tensor:
    """``scale * elu(input, alpha)`` with SELU's constants (alpha ~ 1.6733, scale ~ 1.0507).

    >>> import symgrad as sg
    >>> sg.selu(sg.tensor([-1.0, 1.0]))
    tensor([-1.1113,  1.0507])
    """
    _no_inplace("selu", inplace)
    return _unary(Op.SELU, input)


def celu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``input`` where non-negative, else ``alpha * (exp(input / alpha) - 1)``.

    >>> import symgrad as sg
    >>> sg.celu(sg.tensor([-1.0, 2.0]), alpha=2.0)
    tensor([-0.7869,  2.0000])
    """
    _no_inplace("celu", inplace)
    if float(alpha) == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU; pass a nonzero alpha")
    return _unary(Op.CELU, input, alpha=float(alpha))


def silu(input: Any, inplace: bool = False) -> Tensor:
    """``input * sigmoid(input)`` (swish), finite for every finite input.

    >>> import symgrad as sg
    >>> silu(sg.tensor([0.0, 1.0]))
    tensor([0.0000, 0.7311])
    """
    _no_inplace("silu", inplace)
    return _unary(Op.SILU, input)


def gelu(input: Any, approximate: str = "none") -> Tensor:
    """``input * Phi(input)``, Phi the standard normal CDF; ``approximate="tanh"``: its tanh form.

    >>> import symgrad as sg
    >>> gelu(sg.tensor([1.0])), gelu(sg.tensor([1.0]), approximate="tanh")
    (tensor([0.8413]), tensor([0.8412]))
    """
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"approximate argument must be either none or tanh, got "
                           f"{approximate!r}")
    return _unary(Op.GELU, input, approximate=approximate)


def mish(input: Any, inplace: bool = False) -> Tensor:
    """``input * tanh(softplus(input))``.

    >>> import symgrad as sg
    >>> mish(sg.tensor([1.0]))
    tensor([0.8651])
    """
    _no_inplace("mish", inplace)
    return _unary(Op.MISH, input)


def softsign(input: Any) -> Tensor:
    """``input / (1 + |input|)``.

    >>> import symgrad as sg
    >>> softsign(sg.tensor([-3.0, 1.0]))
    tensor([-0.7500,  0.5000])
    """
    return _unary(Op.SOFTSIGN, input)


def logsigmoid(input: Any) -> Tensor:
    """``log(sigmoid(input))``, finite for every finite input.

    >>> import symgrad as sg
    >>> logsigmoid(sg.tensor([0.0, -1000.0]))
    tensor([-6.9315e-01, -1.0000e+03])
    """
    return _unary(Op.LOGSIGMOID, input)


def hardtanh(input: Any, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """Clip to ``[min_val, max_val]``; the gradient passes strictly between the bounds.

    >>> import symgrad as sg
    >>> hardtanh(sg.tensor([-2.0, 0.5, 2.0]))
    tensor([-1.0000,  0.5000,  1.0000])
    """
    _no_inplace("hardtanh", inplace)
    if min_val > max_val:
        raise ValueError(f"min_val cannot be greater than max_val (got min_val={min_val}, "
                         f"max_val={max_val})")
    return _unary(Op.HARDTANH, input, min_val=float(min_val), max_val=float(max_val))


def relu6(input: Any, inplace: bool = False) -> Tensor:
    """``min(max(input, 0), 6)``: PyTorch's ``hardtanh(input, 0, 6)`` (gradient 0 at 0 and 6).

    >>> import symgrad as sg
    >>> relu6(sg.tensor([-1.0, 3.0, 7.0]))
    tensor([0., 3., 6.])
    """
    _no_inplace("relu6", inplace)
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input: Any, inplace: bool = False) -> Tensor:
    """``relu6(input + 3) / 6``; gradient 0 at -3 and 3.

    >>> import symgrad as sg
    >>> hardsigmoid(sg.tensor([-4.0, 0.0, 1.5]))
    tensor([0.0000, 0.5000, 0.7500])
    """
    _no_inplace("hardsigmoid", inplace)
    return _unary(Op.HARDSIGMOID, input)


def hardswish(input: Any, inplace: bool = False) -> Tensor:
    """``input * relu6(input + 3) / 6``.

    >>> import symgrad as sg
    >>> hardswish(sg.tensor([-4.0, 1.0, 4.0]))
    tensor([-0.0000,  0.6667,  4.0000])
    """
    _no_inplace("hardswish", inplace)
    return _unary(Op.HARDSWISH, input)


def softplus(input: Any, beta: float = 1.0, threshold: float = math.inf) -> Tensor:
    """``log(1 + exp(beta * input)) / beta``, and ``input`` itself where ``beta * input > threshold``.

    ``sg.softplus`` (symgrad's name; PyTorch has no ``torch.softplus``) is the
    textbook function by default, whose closed-form derivative is the sigmoid;
    ``sg.nn.functional.softplus`` has PyTorch's ``threshold=20``.

    >>> import symgrad as sg
    >>> sg.softplus(sg.tensor([0.0])), sg.softplus(sg.tensor([1.0]), beta=2.0, threshold=1.0)
    (tensor([0.6931]), tensor([1.]))
    """
    return _unary(Op.SOFTPLUS, input, beta=float(beta), threshold=float(threshold))


def functional_softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``torch.nn.functional.softplus``: linear (``input``) where ``beta * input > 20``.

    >>> import symgrad as sg
    >>> functional_softplus(sg.tensor([0.0, 30.0]))
    tensor([ 0.6931, 30.0000])
    """
    return softplus(input, beta, threshold)


def _implicit_dim(name: str, ndim: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmin(input: Any, dim: Optional[int] = None, _stacklevel: int = 3,
            dtype: Any = None) -> Tensor:
    """``softmax(-input)`` along ``dim`` (``dtype``: cast the input first).

    >>> import symgrad as sg
    >>> softmin(sg.tensor([0.0, 0.0]), dim=0)
    tensor([0.5000, 0.5000])
    """
    t = _t(input)
    if dtype is not None:
        t = t.to(dtype)
    d = _implicit_dim("softmin", t.ndim) if dim is None else _dim(dim, t.ndim)
    return _apply(Op.SOFTMIN, (t,), {"axis": d})


def normalize(input: Any, p: float = 2.0, dim: int = 1, eps: float = 1e-12,
              out: Any = None) -> Tensor:
    """``input / max(||input||_p, eps)`` along ``dim`` (p > 0, or ``inf``).

    >>> import symgrad as sg
    >>> normalize(sg.tensor([[3.0, 4.0]]))
    tensor([[0.6000, 0.8000]])
    """
    if out is not None:
        raise NotImplementedError("normalize(out=...) is not supported: symgrad returns a new "
                                  "tensor; drop out= and use the result")
    p = float(p)
    if not (p > 0 or p == math.inf):
        raise NotImplementedError(f"normalize: p must be positive or inf, got p={p}")
    t = _t(input)
    return _apply(Op.NORMALIZE, (t,), {"p": p, "axis": _dim(dim, t.ndim), "eps": float(eps)})
