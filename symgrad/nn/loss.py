"""Loss modules beyond MSELoss and CrossEntropyLoss, each calling its functional form.

``torch.nn``'s names and signatures (the legacy ``size_average``/``reduce`` pair
included); class weights and ``pos_weight`` are buffers, so they are in ``state_dict()``.

>>> import symgrad as sg
>>> sg.nn.L1Loss()(sg.tensor([1.0, 2.0]), sg.tensor([0.0, 4.0]))
tensor(1.5000)
>>> sg.nn.BCEWithLogitsLoss()(sg.tensor([0.0]), sg.tensor([1.0]))
tensor(0.6931)
"""
from __future__ import annotations

from typing import Any, Optional

from symgrad.nn import functional as F
from symgrad.nn.modules import Module, _reduction
from symgrad.tensor import Tensor

__all__ = ["L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss", "NLLLoss",
           "KLDivLoss"]


def _buffer(value: Any) -> Optional[Tensor]:
    if value is None or isinstance(value, Tensor):
        return value
    raise TypeError(f"a loss weight must be a symgrad Tensor or None, got "
                    f"{type(value).__name__}; wrap it with sg.tensor(...)")


class L1Loss(Module):
    """Mean (or sum, or none) of absolute differences, as ``torch.nn.L1Loss``."""

    def __init__(self, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _reduction("L1Loss", size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(Module):
    """``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - beta / 2``, reduced."""

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                 beta: float = 1.0) -> None:
        super().__init__()
        self.reduction = _reduction("SmoothL1Loss", size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(Module):
    """``0.5 d**2`` where ``|d| < delta``, else ``delta (|d| - delta / 2)``, reduced.

    >>> import symgrad as sg
    >>> sg.nn.HuberLoss(delta=1.0)(sg.tensor([0.5, 3.0]), sg.tensor([0.0, 0.0]))
    tensor(1.3125)
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__()
        self.reduction = _reduction("HuberLoss", None, None, reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class BCELoss(Module):
    """Binary cross-entropy of probabilities ``input`` against ``target`` in [0, 1]."""

    def __init__(self, weight: Optional[Tensor] = None, size_average: Any = None,
                 reduce: Any = None, reduction: str = "mean") -> None:
        super().__init__()
        self.register_buffer("weight", _buffer(weight))
        self.reduction = _reduction("BCELoss", size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(Module):
    """Binary cross-entropy of ``sigmoid(input)``, computed stably from the logits."""

    def __init__(self, weight: Optional[Tensor] = None, size_average: Any = None,
                 reduce: Any = None, reduction: str = "mean",
                 pos_weight: Optional[Tensor] = None) -> None:
        super().__init__()
        self.register_buffer("weight", _buffer(weight))
        self.register_buffer("pos_weight", _buffer(pos_weight))
        self.reduction = _reduction("BCEWithLogitsLoss", size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class NLLLoss(Module):
    """Negative log-likelihood of class indices given log-probabilities (classes on dim 1)."""

    def __init__(self, weight: Optional[Tensor] = None, size_average: Any = None,
                 ignore_index: int = -100, reduce: Any = None, reduction: str = "mean") -> None:
        super().__init__()
        self.register_buffer("weight", _buffer(weight))
        self.ignore_index = ignore_index
        self.reduction = _reduction("NLLLoss", size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class KLDivLoss(Module):
    """KL divergence ``target (log target - input)``; ``input`` holds log-probabilities."""

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                 log_target: bool = False) -> None:
        super().__init__()
        self.reduction = reduction if size_average is None and reduce is None else \
            _reduction("KLDivLoss", size_average, reduce, "mean")
        self.log_target = log_target

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)
