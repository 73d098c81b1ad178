"""Loss functions with ``torch.nn.functional``'s signatures (issue 11, family ``losses``).

Each loss is one primitive (numeric/rules/losses.py); this module checks the
arguments as PyTorch does (reduction names, shapes, target dtypes, weights that
require grad) and builds the node.  They are exported from
:mod:`symgrad.nn.functional`; ``cosine_similarity`` is also ``sg.cosine_similarity``,
as ``torch.cosine_similarity``.  Weighted ``mse_loss``/``l1_loss``/``huber_loss``
are PyTorch compositions (the unweighted loss times ``weight``, reduced) and are
built the same way here.

>>> import symgrad as sg
>>> import symgrad.nn.functional as F
>>> F.cross_entropy(sg.tensor([[2.0, 0.0]]), sg.tensor([0]))
tensor(0.1269)
"""
from __future__ import annotations

import builtins
from typing import Any, Optional

import numpy as np

from numeric.ops import Op
from symgrad.errors import ShapeError
from symgrad.tensor import Tensor, _apply, _dim, const

__all__ = ["cosine_similarity"]

_REDUCTIONS = ("none", "mean", "sum")


def _t(x: Any, like: Optional[Tensor] = None) -> Tensor:
    return x if isinstance(x, Tensor) else const(x, like)


def _reduction(reduction: str, size_average: Any = None, reduce: Any = None,
               allowed: tuple = _REDUCTIONS) -> str:
    """PyTorch's reduction argument (and its legacy ``size_average``/``reduce`` pair)."""
    if size_average is not None or reduce is not None:
        mean = size_average is None or size_average
        return "none" if reduce is False else ("mean" if mean else "sum")
    if reduction not in allowed:
        names = ", ".join(repr(r) for r in allowed)
        raise ValueError(f"{reduction!r} is not a valid value for reduction: use one of {names}")
    return reduction


def _no_grad_weight(t: Tensor, fn: str, what: str = "weight") -> Tensor:
    if t.requires_grad:
        raise RuntimeError(f"The function '{fn}' is not differentiable with respect to argument "
                           f"'{what}'. This input cannot have requires_grad True; pass "
                           f"{what}.detach()")
    return t


def _weight(weight: Any, like: Tensor, fn: str, what: str = "weight") -> Tensor:
    """``weight`` as a tensor without gradient; ``1`` (a literal) when None."""
    if weight is None:
        return const(1, like)
    return _no_grad_weight(_t(weight, like), fn, what)


def _same_size(input: Tensor, target: Tensor, fn: str) -> None:  # noqa: A002
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{fn}: target size {tuple(target.shape)} must be the same as input "
                         f"size {tuple(input.shape)}; reshape the target")


def _pointwise(op: Op, input: Any, target: Any, **attrs: Any) -> Tensor:  # noqa: A002
    x = _t(input)
    return _apply(op, (x, _t(target, x)), attrs)


def _weighted(op: Op, input: Any, target: Any, weight: Any, reduction: str,  # noqa: A002
              mean_over_weight: bool, **attrs: Any) -> Tensor:
    """PyTorch's weighted regression losses: the loss times ``weight``, then reduced."""
    x = _t(input)
    w = _t(weight, x)
    if tuple(w.shape) != tuple(x.shape):
        raise ValueError(f"Weights and input must have the same size: weight {tuple(w.shape)}, "
                         f"input {tuple(x.shape)}")
    loss = _pointwise(op, x, target, reduction="none", **attrs) * w
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    return total / w.sum() if mean_over_weight else loss.mean()


def mse_loss(input: Any, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002
             reduction: str = "mean", weight: Any = None) -> Tensor:
    """Mean squared error ``(input - target) ** 2``, reduced (as ``F.mse_loss``).

    >>> import symgrad as sg
    >>> import symgrad.nn.functional as F
    >>> F.mse_loss(sg.tensor([1.0, 2.0]), sg.tensor([0.0, 4.0]))
    tensor(2.5000)
    """
    reduction = _reduction(reduction, size_average, reduce)
    if weight is not None:
        return _weighted(Op.MSE_LOSS, input, target, weight, reduction, True)
    return _pointwise(Op.MSE_LOSS, input, target, reduction=reduction)


def l1_loss(input: Any, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002
            reduction: str = "mean", weight: Any = None) -> Tensor:
    """Absolute error ``|input - target|``, reduced (gradient 0 at a tie, as PyTorch).

    >>> import symgrad as sg
    >>> import symgrad.nn.functional as F
    >>> F.l1_loss(sg.tensor([1.0, 2.0]), sg.tensor([0.0, 4.0]), reduction="sum")
    tensor(3.)
    """
    reduction = _reduction(reduction, size_average, reduce)
    if weight is not None:
        return _weighted(Op.L1_LOSS, input, target, weight, reduction, True)
    return _pointwise(Op.L1_LOSS, input, target, reduction=reduction)


def smooth_l1_loss(input: Any, target: Any, size_average: Any = None,  # noqa: A002
                   reduce: Any = None, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - beta / 2``; ``beta = 0`` is L1.

    >>> import symgrad as sg
    >>> import symgrad.nn.functional as F
    >>> F.smooth_l1_loss(sg.tensor([0.5, 3.0]), sg.tensor([0.0, 0.0]), reduction="none")
    tensor([0.1250, 2.5000])
    """
    reduction = _reduction(reduction, size_average, reduce)
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta, got "
                           f"beta={beta}")
    if beta == 0:       # PyTorch's: the quadratic piece vanishes
        return _pointwise(Op.L1_LOSS, input, target, reduction=reduction)
    return _pointwise(Op.SMOOTH_L1_LOSS, input, target, reduction=reduction,
                      beta=builtins.float(beta))


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0,  # noqa: A002
               weight: Any = None) -> Tensor:
    """``0.5 d**2`` where ``|d| < delta``, else ``delta (|d| - delta / 2)``.

    >>> import symgrad as sg
    >>> import symgrad.nn.functional as F
    >>> F.huber_loss(sg.tensor([0.5, 3.0]), sg.tensor([0.0, 0.0]), reduction="none", delta=2.0)
    tensor([0.1250, 4.0000])
    """
    reduction = _reduction(reduction)
    if not delta > 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta, got "
                           f"delta={delta}")
    if weight is not None:
        return _weighted(Op.HUBER_LOSS, input, target, weight, reduction, False,
                         delta=builtins.float(delta))
    return _pointwise(Op.HUBER_LOSS, input, target, reduction=reduction,
                      delta=builtins.float(delta))


def kl_div(input: Any, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL divergence ``target (log target - input)``; ``input`` holds log-probabilities.

    ``reduction="batchmean"`` divides the sum by the batch size (the true KL).

    >>> import symgrad as sg
    >>> import symgrad.nn.functional as F
    >>> F.kl_div(sg.tensor([[-1.0, -0.5]]), sg.tensor([[0.5, 0.5]]), reduction="batchmean")
    tensor(0.0569)
    """
    reduction = _reduction(reduction, size_average, reduce, _REDUCTIONS + ("batchmean",))
    return _pointwise(Op.KL_DIV, input, target, reduction=reduction,
                      log_target=builtins.bool(log_target))


def binary_cross_entropy(input: Any, target: Any, weight: Any = None,  # noqa: A002
                         size_average: Any = None, reduce: Any = None,
                         reduction: str = "mean") -> Tensor:
    """``-weight (target log(input) + (1 - target) log(1 - input))``, logs clamped at -100.

    ``input`` must hold probabilities in [0, 1] (RuntimeError otherwise, as PyTorch).

    >>> import symgrad as sg
    >>> import symgrad.nn.functional as F
    >>> F.binary_cross_entropy(sg.tensor([0.5, 1.0]), sg.tensor([1.0, 1.0]))
    tensor(0.3466)
    """
    reduction = _reduction(reduction, size_average, reduce)
    x = _t(input)
    t = _t(target, x)
    _same_size(x, t, "binary_cross_entropy")
    w = _weight(weight, x, "binary_cross_entropy")
    return _apply(Op.BINARY_CROSS_ENTROPY, (x, t, w), {"reduction": reduction})


def binary_cross_entropy_with_logits(input: Any, target: Any, weight: Any = None,  # noqa: A002
                                     size_average: Any = None, reduce: Any = None,
                                     reduction: str = "mean", pos_weight: Any = None) -> Tensor:
    """Binary cross-entropy of ``sigmoid(input)``, computed stably from the logits.

    ``pos_weight`` weighs the positive term (broadcast along the last dim).

    >>> import symgrad as sg
    >>> import symgrad.nn.functional as F
    >>> F.binary_cross_entropy_with_logits(sg.tensor([0.0, 800.0]), sg.tensor([1.0, 1.0]))
    tensor(0.3466)
    """
    reduction = _reduction(reduction, size_average, reduce)
    x = _t(input)
    t = _t(target, x)
    _same_size(x, t, "binary_cross_entropy_with_logits")
    w = _weight(weight, x, "binary_cross_entropy_with_logits")
    pw = _weight(pos_weight, x, "binary_cross_entropy_with_logits", "pos_weight")
    return _apply(Op.BINARY_CROSS_ENTROPY_WITH_LOGITS, (x, t, w, pw), {"reduction": reduction})


# ----------------------------------------------------------------------------- class targets
def _class_args(x: Tensor, t: Tensor, weight: Any, fn: str) -> Tensor:
    """Check ``(input, target)`` of a class-index loss as PyTorch; returns the class weights."""
    if x.ndim < 1:
        raise ValueError(f"{fn}: input must have at least 1 dim (C,) or (N, C, ...), got 0")
    if x.ndim == 1 and t.ndim != 0 or x.ndim > 1 and (t.ndim != x.ndim - 1):
        raise ValueError(f"{fn}: expected target of shape {tuple(x.shape[:1] + x.shape[2:])} "
                         f"for input of shape {tuple(x.shape)}, got {tuple(t.shape)}")
    if x.ndim > 1 and t.shape[:1] != x.shape[:1]:
        raise ValueError(f"Expected input batch_size ({x.shape[0]}) to match target batch_size "
                         f"({t.shape[0]}).")
    if x.ndim > 2 and tuple(t.shape[1:]) != tuple(x.shape[2:]):
        raise ShapeError(f"{fn}: expected target of shape {tuple(x.shape[:1] + x.shape[2:])}, "
                         f"got {tuple(t.shape)}")
    if t.dtype.kind not in "iu":
        raise RuntimeError(f"{fn}: expected target dtype to be an integer type (class indices), "
                           f"but got {t.dtype}; use target.long()")
    c = x.shape[1] if x.ndim > 1 else x.shape[0]
    if weight is None:
        return const(np.ones(c, dtype=x.dtype))
    w = _no_grad_weight(_t(weight, x), fn)
    if tuple(w.shape) != (c,):
        raise RuntimeError(f"{fn}: weight tensor should be defined either for all {c} classes "
                           f"or no classes but got weight tensor of shape: {tuple(w.shape)}")
    return w


def nll_loss(input: Any, target: Any, weight: Any = None, size_average: Any = None,  # noqa: A002
             ignore_index: int = -100, reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood ``-weight[t] input[n, t[n]]`` of class indices ``target``.

    ``input`` is ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``; the mean divides by the
    summed weight of the targets that are not ``ignore_index``.  A target outside
    ``[0, C)`` raises IndexError.

    >>> import symgrad as sg
    >>> import symgrad.nn.functional as F
    >>> F.nll_loss(sg.tensor([[-1.0, -2.0], [-3.0, -4.0]]), sg.tensor([1, 0]))
    tensor(2.5000)
    """
    reduction = _reduction(reduction, size_average, reduce)
    x = _t(input)
    t = _t(target)
    w = _class_args(x, t, weight, "nll_loss")
    return _apply(Op.NLL_LOSS, (x, t, w), {"ignore_index": builtins.int(ignore_index),
                                           "reduction": reduction})


def cross_entropy(input: Any, target: Any, weight: Any = None,  # noqa: A002
                  size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of logits ``input`` (classes on dim 1) against ``target``.

    ``target``: class indices (integer, shape of ``input`` without dim 1) or class
    probabilities (float, the shape of ``input``), as ``F.cross_entropy``.

    >>> import symgrad as sg
    >>> import symgrad.nn.functional as F
    >>> F.cross_entropy(sg.tensor([[2.0, 0.0]]), sg.tensor([[0.5, 0.5]]))
    tensor(1.1269)
    """
    reduction = _reduction(reduction, size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    x = _t(input)
    t = _t(target, x)
    smoothing = builtins.float(label_smoothing)
    if t.dtype.kind == "f" and tuple(t.shape) == tuple(x.shape):
        if x.ndim < 1:
            raise ValueError("cross_entropy: input must have at least 1 dim (C,) or (N, C, ...)")
        c = x.shape[1] if x.ndim > 1 else x.shape[0]
        w = (const(np.ones(c, dtype=x.dtype)) if weight is None
             else _no_grad_weight(_t(weight, x), "cross_entropy"))
        return _apply(Op.CROSS_ENTROPY_PROBS, (x, t, w),
                      {"reduction": reduction, "label_smoothing": smoothing})
    w = _class_args(x, t, weight, "cross_entropy")
    return _apply(Op.CROSS_ENTROPY, (x, t, w),
                  {"ignore_index": builtins.int(ignore_index), "reduction": reduction,
                   "label_smoothing": smoothing})


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Cosine of the angle between ``x1`` and ``x2`` along ``dim`` (broadcast first).

    Each norm is clamped to at least ``eps``, as PyTorch.

    >>> import symgrad as sg
    >>> sg.cosine_similarity(sg.tensor([[1.0, 0.0]]), sg.tensor([[1.0, 1.0]]))
    tensor([0.7071])
    """
    a = _t(x1)
    b = _t(x2, a)
    ndim = builtins.max(a.ndim, b.ndim)
    return _apply(Op.COSINE_SIMILARITY, (a, b), {"dim": _dim(dim, ndim),
                                                 "eps": builtins.float(eps)})
