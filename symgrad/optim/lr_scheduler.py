"""``sg.optim.lr_scheduler``: PyTorch's learning-rate schedulers, formula for formula.

Each scheduler sets ``group["lr"]`` of its optimizer's parameter groups when
``step()`` is called (after ``optimizer.step()``); ``get_last_lr()`` returns
the rates it set last.  The updates are PyTorch's chainable (recursive) forms,
so a sequence of rates equals ``torch.optim.lr_scheduler``'s to the last bit.
``state_dict()``/``load_state_dict()`` hold plain numbers, lists and strings
(``sg.save`` writes them).

>>> import symgrad as sg
>>> w = sg.tensor([1.0], requires_grad=True)
>>> opt = sg.optim.SGD([w], lr=1.0)
>>> sched = sg.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
>>> lrs = []
>>> for _ in range(5):
...     opt.step(); sched.step(); lrs.append(sched.get_last_lr()[0])
>>> lrs
[1.0, 0.5, 0.5, 0.25, 0.25]
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence, Union

from symgrad.optim.optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
           "LambdaLR", "LinearLR", "OneCycleLR", "ReduceLROnPlateau"]


class LRScheduler:
    """Base class: ``base_lrs``, ``last_epoch``, ``step()``, ``get_last_lr()``, state dicts.

    Subclasses implement ``get_lr()`` (the rates for ``last_epoch``, from the current
    ``group["lr"]`` as PyTorch's chainable form does).  Building a scheduler takes
    the initial step: it records ``initial_lr`` in each group and sets the rate of
    epoch 0.
    """

    #: attributes that ``state_dict`` leaves out (not data)
    _not_state = ("optimizer",)

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer; pass the "
                            "optimizer whose learning rates to schedule")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] "
                                   "when resuming a scheduler with last_epoch >= 0; load the "
                                   "optimizer's state dict first")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The rates for ``last_epoch`` (called by ``step``); each scheduler defines it."""
        raise NotImplementedError(f"{type(self).__name__} must define get_lr(): the learning "
                                  "rates for self.last_epoch, one per parameter group")

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last ``step()``, one per parameter group."""
        return list(self._last_lr)

    def step(self) -> None:
        """Advance one epoch (or iteration) and set each group's ``lr``."""
        self._step_count += 1
        self.last_epoch += 1
        values = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer (numbers, lists, strings)."""
        return {k: _copy(v) for k, v in self.__dict__.items() if k not in self._not_state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the attributes saved by :meth:`state_dict` (checked first)."""
        if not isinstance(state_dict, dict):
            raise ValueError(f"{type(self).__name__}.load_state_dict expects a dict, got a "
                             f"{type(state_dict).__name__}")
        mine = self.state_dict()
        missing = sorted(set(mine) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(mine))
        if missing or unexpected:
            raise ValueError(f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                             f"unexpected keys {unexpected}; was the state saved from another "
                             "scheduler?")
        for k in ("base_lrs", "_last_lr"):
            if k in state_dict and len(state_dict[k]) != len(self.optimizer.param_groups):
                raise ValueError(f"{type(self).__name__}.load_state_dict: {k} has "
                                 f"{len(state_dict[k])} entries but the optimizer has "
                                 f"{len(self.optimizer.param_groups)} parameter groups")
        self.__dict__.update({k: _copy(v) for k, v in state_dict.items()})


def _copy(v: Any) -> Any:
    if isinstance(v, list):
        return [_copy(x) for x in v]
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    return v


class LambdaLR(LRScheduler):
    """``lr = initial_lr * lr_lambda(epoch)``; one function or one per group.

    The functions are not saved by ``state_dict`` (as in PyTorch).

    >>> import symgrad as sg
    >>> opt = sg.optim.SGD([sg.zeros(1, requires_grad=True)], lr=2.0)
    >>> s = LambdaLR(opt, lambda e: 1 / (e + 1)); s.step(); s.get_last_lr()
    [1.0]
    """

    _not_state = ("optimizer", "lr_lambdas")

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Union[Callable[[int], float], Sequence[Callable[[int], float]]],
                 last_epoch: int = -1) -> None:
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(optimizer.param_groups):
                raise ValueError(f"Expected {len(optimizer.param_groups)} lr_lambdas, but got "
                                 f"{len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * len(optimizer.param_groups)
        for f in self.lr_lambdas:
            if not callable(f):
                raise TypeError(f"lr_lambda must be callable, got a {type(f).__name__}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * f(self.last_epoch) for f, base in zip(self.lr_lambdas, self.base_lrs)]


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs.

    >>> import symgrad as sg
    >>> opt = sg.optim.SGD([sg.zeros(1, requires_grad=True)], lr=1.0)
    >>> s = StepLR(opt, step_size=1, gamma=0.5); s.step(); s.get_last_lr()
    [0.5]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        if not isinstance(step_size, int) or isinstance(step_size, bool) or step_size < 1:
            raise ValueError(f"Invalid step_size: {step_size!r}; it must be an int >= 1")
        self.step_size = step_size
        self.gamma = _real("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]


class MultiStepLR(LRScheduler):
    """Multiply the rate by ``gamma`` at each milestone epoch.

    >>> import symgrad as sg
    >>> opt = sg.optim.SGD([sg.zeros(1, requires_grad=True)], lr=1.0)
    >>> s = MultiStepLR(opt, milestones=[1, 3], gamma=0.5)
    >>> [(s.step(), s.get_last_lr()[0])[1] for _ in range(3)]
    [0.5, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        counts: dict[int, int] = {}
        for m in milestones:
            if not isinstance(m, int) or isinstance(m, bool):
                raise ValueError(f"Invalid milestone: {m!r}; milestones must be ints")
            counts[m] = counts.get(m, 0) + 1
        self.milestones = counts       # epoch -> multiplicity (torch's Counter)
        self.gamma = _real("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def state_dict(self) -> dict[str, Any]:
        sd = super().state_dict()
        sd["milestones"] = [[k, v] for k, v in sorted(self.milestones.items())]
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        sd = dict(state_dict)
        try:
            milestones = {int(k): int(v) for k, v in sd.get("milestones", [])}
        except (TypeError, ValueError):
            raise ValueError("MultiStepLR.load_state_dict: 'milestones' must be a list of "
                             "[epoch, count] pairs") from None
        super().load_state_dict(sd)
        self.milestones = milestones

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._lrs()
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in self._lrs()]


class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every epoch.

    >>> import symgrad as sg
    >>> opt = sg.optim.SGD([sg.zeros(1, requires_grad=True)], lr=1.0)
    >>> s = ExponentialLR(opt, gamma=0.5); s.step(); s.step(); s.get_last_lr()
    [0.25]
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = _real("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from the initial rate to ``eta_min`` over ``T_max`` epochs.

    >>> import symgrad as sg
    >>> opt = sg.optim.SGD([sg.zeros(1, requires_grad=True)], lr=1.0)
    >>> s = CosineAnnealingLR(opt, T_max=2); s.step(); s.get_last_lr()
    [0.5]
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        if not isinstance(T_max, int) or isinstance(T_max, bool) or T_max < 1:
            raise ValueError(f"Invalid T_max: {T_max!r}; it must be an int >= 1")
        self.T_max = T_max
        self.eta_min = _real("eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        e, T, eta = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._lrs()
        if self._step_count == 1 and e > 0:
            return [eta + (base - eta) * (1 + math.cos(e * math.pi / T)) / 2
                    for base in self.base_lrs]
        if (e - 1 - T) % (2 * T) == 0:
            return [lr + (base - eta) * (1 - math.cos(math.pi / T)) / 2
                    for base, lr in zip(self.base_lrs, self._lrs())]
        return [(1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
                * (lr - eta) + eta for lr in self._lrs()]


class LinearLR(LRScheduler):
    """Scale the rate linearly from ``start_factor`` to ``end_factor`` over ``total_iters``.

    >>> import symgrad as sg
    >>> opt = sg.optim.SGD([sg.zeros(1, requires_grad=True)], lr=1.0)
    >>> s = LinearLR(opt, start_factor=0.5, total_iters=2); s.get_last_lr()
    [0.5]
    >>> s.step(); s.get_last_lr()
    [0.75]
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5, last_epoch: int = -1) -> None:
        if not (_is_real(start_factor) and 0 < start_factor <= 1):
            raise ValueError(f"Invalid start_factor: {start_factor!r}; it must be in (0, 1]")
        if not (_is_real(end_factor) and 0 <= end_factor <= 1):
            raise ValueError(f"Invalid end_factor: {end_factor!r}; it must be in [0, 1]")
        if not isinstance(total_iters, int) or isinstance(total_iters, bool) or total_iters < 1:
            raise ValueError(f"Invalid total_iters: {total_iters!r}; it must be an int >= 1")
        self.start_factor = float(start_factor)
        self.end_factor = float(end_factor)
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._lrs()
        d = self.end_factor - self.start_factor
        return [lr * (1.0 + d / (self.total_iters * self.start_factor
                                 + (self.last_epoch - 1) * d)) for lr in self._lrs()]


class OneCycleLR(LRScheduler):
    """The 1cycle policy: warm up to ``max_lr``, then anneal to ``max_lr / div_factor /
    final_div_factor``, cycling momentum (or Adam's beta1) inversely.

    >>> import symgrad as sg
    >>> opt = sg.optim.SGD([sg.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    >>> s = OneCycleLR(opt, max_lr=1.0, total_steps=10)
    >>> round(s.get_last_lr()[0], 12), opt.param_groups[0]["momentum"]
    (0.04, 0.95)
    """

    def __init__(self, optimizer: Optimizer, max_lr: Union[float, Sequence[float]],
                 total_steps: Union[int, None] = None, epochs: Union[int, None] = None,
                 steps_per_epoch: Union[int, None] = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: Union[float, Sequence[float]] = 0.85,
                 max_momentum: Union[float, Sequence[float]] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            if not isinstance(epochs, int) or epochs <= 0:
                raise ValueError(f"Expected positive integer epochs, but got {epochs}")
            if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
                raise ValueError("Expected positive integer steps_per_epoch, but got "
                                 f"{steps_per_epoch}")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("You must define either total_steps OR (epochs AND "
                             "steps_per_epoch)")
        if _is_real(pct_start) and not isinstance(pct_start, int):
            pct_start = float(pct_start)          # numpy floats too
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError("anneal_strategy must be one of 'cos' or 'linear', instead got "
                             f"{anneal_strategy}")
        n = self.total_steps
        if three_phase:
            self._schedule_phases = [
                {"end_step": float(pct_start * n) - 1, "start_lr": "initial_lr",
                 "end_lr": "max_lr", "start_momentum": "max_momentum",
                 "end_momentum": "base_momentum"},
                {"end_step": float(2 * pct_start * n) - 2, "start_lr": "max_lr",
                 "end_lr": "initial_lr", "start_momentum": "base_momentum",
                 "end_momentum": "max_momentum"},
                {"end_step": n - 1, "start_lr": "initial_lr", "end_lr": "min_lr",
                 "start_momentum": "max_momentum", "end_momentum": "max_momentum"}]
        else:
            self._schedule_phases = [
                {"end_step": float(pct_start * n) - 1, "start_lr": "initial_lr",
                 "end_lr": "max_lr", "start_momentum": "max_momentum",
                 "end_momentum": "base_momentum"},
                {"end_step": n - 1, "start_lr": "max_lr", "end_lr": "min_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"}]
        self._anneal_func_type = anneal_strategy
        max_lrs = _per_group("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for m, group in zip(max_lrs, optimizer.param_groups):
                group["initial_lr"] = m / div_factor
                group["max_lr"] = m
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError("optimizer must support momentum or beta1 with "
                                 "`cycle_momentum` option enabled")
            self.use_beta1 = "betas" in optimizer.defaults
            maxes = _per_group("max_momentum", optimizer, max_momentum)
            bases = _per_group("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for m, b, group in zip(maxes, bases, optimizer.param_groups):
                    if self.use_beta1:
                        group["betas"] = (m, *group["betas"][1:])
                    else:
                        group["momentum"] = m
                    group["max_momentum"] = m
                    group["base_momentum"] = b
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ValueError(f"Tried to step {step_num} times. The specified number of total "
                             f"steps is {self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == len(self._schedule_phases) - 1:
                    pct = (step_num - start_step) / (end_step - start_step)
                    lr = self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct)
                    if self.cycle_momentum:
                        mom = self._anneal(group[phase["start_momentum"]],
                                           group[phase["end_momentum"]], pct)
                    break
                start_step = phase["end_step"]
            lrs.append(lr)
            if self.cycle_momentum:
                if self.use_beta1:
                    group["betas"] = (mom, *group["betas"][1:])
                else:
                    group["momentum"] = mom
        return lrs


class ReduceLROnPlateau(LRScheduler):
    """Multiply the rate by ``factor`` when a metric stopped improving for ``patience``
    epochs; ``step(metric)``.

    >>> import symgrad as sg
    >>> opt = sg.optim.SGD([sg.zeros(1, requires_grad=True)], lr=1.0)
    >>> s = ReduceLROnPlateau(opt, patience=1)
    >>> for loss in (1.0, 1.0, 1.0):
    ...     s.step(loss)
    >>> s.get_last_lr()
    [0.1]
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: Union[float, Sequence[float]] = 0,
                 eps: float = 1e-8) -> None:
        if not _is_real(factor) or factor >= 1.0:
            raise ValueError(f"Invalid factor: {factor!r}; Factor should be < 1.0.")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        if mode not in ("min", "max"):
            raise ValueError(f"mode {mode!r} is unknown; use 'min' or 'max'")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold mode {threshold_mode!r} is unknown; use 'rel' or "
                             "'abs'")
        self.factor = float(factor)
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(f"expected {len(optimizer.param_groups)} min_lrs, got "
                                 f"{len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = self._lrs()
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def step(self, metrics: Any) -> None:  # type: ignore[override]
        """Record ``metrics`` (a number or a one-element tensor) for the next epoch."""
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            if len(self.min_lrs) != len(self.optimizer.param_groups):
                self.min_lrs = [self.default_min_lr] * len(self.optimizer.param_groups)
            for i, group in enumerate(self.optimizer.param_groups):
                old = float(group["lr"])
                new = max(old * self.factor, self.min_lrs[i])
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._lrs()

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold


def _is_real(v: Any) -> bool:
    import numbers
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _real(name: str, v: Any) -> float:
    if not _is_real(v):
        raise ValueError(f"Invalid {name}: {v!r}; it must be a number")
    return float(v)


def _per_group(name: str, optimizer: Optimizer, value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"expected {len(optimizer.param_groups)} values for {name}, got "
                             f"{len(value)}")
        return list(value)
    return [value] * len(optimizer.param_groups)
