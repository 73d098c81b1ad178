"""Optimizer update rules with PyTorch's exact formulas, in place on numpy arrays.

``sgd_update``/``adam_update`` update one ``param`` in place; ``sgd_step``/
``adam_step`` do the same for a list of parameters sharing hyper-parameters (one
call per parameter group, as ``torch.optim``'s ``foreach`` loops).  Each updates ``param`` in place from ``grad`` and a per-parameter
``state`` dict (created empty by the caller, kept between steps), following
``torch.optim``'s single-tensor (``foreach=False``) code operation by
operation, so results agree with PyTorch to float rounding.  Hyper-parameters
are Python floats, which NEP 50 keeps weak: float32 parameters stay float32.

State keys: ``momentum_buffer`` (SGD); ``step``, ``exp_avg``, ``exp_avg_sq``,
``max_exp_avg_sq`` (Adam, AdamW); ``step``, ``square_avg``, ``momentum_buffer``,
``grad_avg`` (RMSprop); ``step``, ``sum`` (Adagrad).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np


def _check(name: str, value: float, ok: bool, rule: str) -> None:
    if not ok:
        raise ValueError(f"invalid {name}: {value!r}; it must be {rule}")


def check_sgd(*, lr: float, momentum: float = 0.0, dampening: float = 0.0,
              weight_decay: float = 0.0, nesterov: bool = False, **_: Any) -> None:
    """Raise ValueError unless the hyper-parameters are valid for :func:`sgd_update`.

    >>> check_sgd(lr=-1.0)
    Traceback (most recent call last):
    ...
    ValueError: invalid learning rate lr: -1.0; it must be >= 0
    """
    _check("learning rate lr", lr, lr >= 0, ">= 0")
    _check("momentum", momentum, momentum >= 0, ">= 0")
    _check("weight_decay", weight_decay, weight_decay >= 0, ">= 0")
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("Nesterov momentum requires a momentum > 0 and zero dampening; "
                         f"got momentum={momentum!r}, dampening={dampening!r}")


def check_adam(*, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
               eps: float = 1e-8, weight_decay: float = 0.0, **_: Any) -> None:
    """Raise ValueError unless the hyper-parameters are valid for :func:`adam_update`.

    >>> check_adam(betas=(0.9, 1.0))
    Traceback (most recent call last):
    ...
    ValueError: invalid betas[1]: 1.0; it must be in [0, 1)
    """
    beta1, beta2 = betas
    _check("learning rate lr", lr, lr >= 0, ">= 0")
    _check("eps", eps, eps >= 0, ">= 0")
    _check("betas[0]", beta1, 0 <= beta1 < 1, "in [0, 1)")
    _check("betas[1]", beta2, 0 <= beta2 < 1, "in [0, 1)")
    _check("weight_decay", weight_decay, weight_decay >= 0, ">= 0")


def sgd_update(param: np.ndarray, grad: np.ndarray, state: dict[str, Any], *, lr: float,
               momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0,
               nesterov: bool = False, maximize: bool = False, check: bool = True) -> None:
    """One step of ``torch.optim.SGD`` on ``param`` (in place).

    ``check=False`` skips :func:`check_sgd` (for callers that validated the
    hyper-parameters once, e.g. when the optimizer was built).

    >>> p, state = np.array([1.0, 2.0]), {}
    >>> sgd_update(p, np.array([0.5, -1.0]), state, lr=0.1, momentum=0.9)
    >>> p
    array([0.95, 2.1 ])
    >>> sgd_update(p, np.array([0.5, -1.0]), state, lr=0.1, momentum=0.9)
    >>> p, state["momentum_buffer"]
    (array([0.855, 2.29 ]), array([ 0.95, -1.9 ]))
    """
    sgd_step((param,), (grad,), (state,), lr=lr, momentum=momentum, dampening=dampening,
             weight_decay=weight_decay, nesterov=nesterov, maximize=maximize, check=check)


def sgd_step(params: Sequence[np.ndarray], grads: Sequence[np.ndarray],
             states: Sequence[dict[str, Any]], *, lr: float, momentum: float = 0.0,
             dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
             maximize: bool = False, check: bool = True) -> None:
    """:func:`sgd_update` on each ``(param, grad, state)`` triple: one call per group.

    >>> ps = [np.array([1.0]), np.array([2.0])]
    >>> sgd_step(ps, [np.array([1.0]), np.array([-1.0])], [{}, {}], lr=0.5)
    >>> ps
    [array([0.5]), array([2.5])]
    """
    if check:
        check_sgd(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                  nesterov=nesterov)
    if momentum == 0 and weight_decay == 0 and not maximize:   # plain SGD: the common case
        step = -lr
        for param, grad in zip(params, grads):
            param += step * grad
        return
    for param, grad, state in zip(params, grads, states):
        if maximize:
            grad = -grad
        if weight_decay != 0:
            grad = grad + weight_decay * param
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(grad, dtype=param.dtype, copy=True)
            else:
                buf *= momentum
                buf += grad if dampening == 0 else (1 - dampening) * grad
            grad = grad + momentum * buf if nesterov else buf
        param += -lr * grad


def adam_update(param: np.ndarray, grad: np.ndarray, state: dict[str, Any], *,
                lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                weight_decay: float = 0.0, amsgrad: bool = False, maximize: bool = False,
                check: bool = True) -> None:
    """One step of ``torch.optim.Adam`` on ``param`` (in place).

    ``check=False`` skips :func:`check_adam`.

    >>> p, state = np.array([1.0, -1.0]), {}
    >>> adam_update(p, np.array([0.2, -3.0]), state, lr=0.1)
    >>> p, state["step"]
    (array([ 0.9, -0.9]), 1)
    """
    adam_step((param,), (grad,), (state,), lr=lr, betas=betas, eps=eps,
              weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize, check=check)


def adam_step(params: Sequence[np.ndarray], grads: Sequence[np.ndarray],
              states: Sequence[dict[str, Any]], *, lr: float = 1e-3,
              betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
              weight_decay: float = 0.0, amsgrad: bool = False, maximize: bool = False,
              check: bool = True, decoupled_weight_decay: bool = False) -> None:
    """:func:`adam_update` on each ``(param, grad, state)`` triple: one call per group.

    >>> ps = [np.array([1.0]), np.array([-1.0])]
    >>> adam_step(ps, [np.array([3.0]), np.array([-0.5])], [{}, {}], lr=0.1)
    >>> ps
    [array([0.9]), array([-0.9])]
    """
    if check:
        check_adam(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    beta1, beta2 = betas
    for param, grad, state in zip(params, grads, states):
        if maximize:
            grad = -grad
        step = state["step"] = state.get("step", 0) + 1
        if weight_decay != 0:
            if decoupled_weight_decay:                   # AdamW: param.mul_(1 - lr * wd)
                param *= 1 - lr * weight_decay
            else:
                grad = grad + weight_decay * param
        exp_avg = state.get("exp_avg")
        if exp_avg is None:
            exp_avg = state["exp_avg"] = np.zeros_like(param)
            state["exp_avg_sq"] = np.zeros_like(param)
            if amsgrad:
                state["max_exp_avg_sq"] = np.zeros_like(param)
        exp_avg_sq = state["exp_avg_sq"]
        exp_avg += (1 - beta1) * (grad - exp_avg)        # torch: exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * grad * grad          # addcmul_(grad, grad, value=1 - beta2)
        bias_correction1 = 1 - beta1 ** step
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
        step_size = lr / bias_correction1
        if amsgrad:
            max_sq = state.get("max_exp_avg_sq")
            if max_sq is None:
                max_sq = state["max_exp_avg_sq"] = np.zeros_like(param)
            np.maximum(max_sq, exp_avg_sq, out=max_sq)
            denom = np.sqrt(max_sq) / bias_correction2_sqrt + eps
        else:
            denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps
        param += -step_size * exp_avg / denom            # addcdiv_(exp_avg, denom, value=-step_size)


def adamw_step(params: Sequence[np.ndarray], grads: Sequence[np.ndarray],
               states: Sequence[dict[str, Any]], *, lr: float = 1e-3,
               betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
               weight_decay: float = 1e-2, amsgrad: bool = False, maximize: bool = False,
               check: bool = True) -> None:
    """``torch.optim.AdamW``: Adam with decoupled weight decay (``param *= 1 - lr * wd``).

    >>> p = [np.array([1.0])]
    >>> adamw_step(p, [np.array([2.0])], [{}], lr=0.1, weight_decay=0.5)
    >>> p     # 1 * (1 - 0.1 * 0.5) - 0.1
    [array([0.85])]
    """
    adam_step(params, grads, states, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
              amsgrad=amsgrad, maximize=maximize, check=check, decoupled_weight_decay=True)


def check_rmsprop(*, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                  weight_decay: float = 0.0, momentum: float = 0.0, **_: Any) -> None:
    """Raise ValueError unless the hyper-parameters are valid for :func:`rmsprop_step`.

    >>> check_rmsprop(alpha=-0.5)
    Traceback (most recent call last):
    ...
    ValueError: invalid alpha: -0.5; it must be >= 0
    """
    _check("learning rate lr", lr, lr >= 0, ">= 0")
    _check("eps", eps, eps >= 0, ">= 0")
    _check("momentum", momentum, momentum >= 0, ">= 0")
    _check("weight_decay", weight_decay, weight_decay >= 0, ">= 0")
    _check("alpha", alpha, alpha >= 0, ">= 0")


def rmsprop_step(params: Sequence[np.ndarray], grads: Sequence[np.ndarray],
                 states: Sequence[dict[str, Any]], *, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, maximize: bool = False, check: bool = True) -> None:
    """``torch.optim.RMSprop`` on each ``(param, grad, state)`` triple (in place).

    >>> p = [np.array([1.0])]
    >>> rmsprop_step(p, [np.array([2.0])], [{}], lr=0.01, alpha=0.75, eps=0.0)
    >>> p     # square_avg = 0.25 * 4 = 1; p -= 0.01 * 2 / sqrt(1)
    [array([0.98])]
    """
    if check:
        check_rmsprop(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum)
    for param, grad, state in zip(params, grads, states):
        if maximize:
            grad = -grad
        state["step"] = state.get("step", 0) + 1
        if weight_decay != 0:
            grad = grad + weight_decay * param
        square_avg = state.get("square_avg")
        if square_avg is None:
            square_avg = state["square_avg"] = np.zeros_like(param)
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad          # addcmul_(grad, grad, value=1 - alpha)
        if centered:
            grad_avg = state.get("grad_avg")
            if grad_avg is None:
                grad_avg = state["grad_avg"] = np.zeros_like(param)
            grad_avg += (1 - alpha) * (grad - grad_avg)  # lerp_(grad, 1 - alpha)
            avg = np.sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = np.sqrt(square_avg)
        avg += eps
        if momentum > 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.zeros_like(param)
            buf *= momentum
            buf += grad / avg                            # addcdiv_(grad, avg)
            param += -lr * buf
        else:
            param += -lr * (grad / avg)                  # addcdiv_(grad, avg, value=-lr)


def check_adagrad(*, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                  initial_accumulator_value: float = 0.0, eps: float = 1e-10,
                  **_: Any) -> None:
    """Raise ValueError unless the hyper-parameters are valid for :func:`adagrad_step`.

    >>> check_adagrad(lr_decay=-1.0)
    Traceback (most recent call last):
    ...
    ValueError: invalid lr_decay: -1.0; it must be >= 0
    """
    _check("learning rate lr", lr, lr >= 0, ">= 0")
    _check("lr_decay", lr_decay, lr_decay >= 0, ">= 0")
    _check("weight_decay", weight_decay, weight_decay >= 0, ">= 0")
    _check("initial_accumulator_value", initial_accumulator_value,
           initial_accumulator_value >= 0, ">= 0")
    _check("eps", eps, eps >= 0, ">= 0")


def adagrad_step(params: Sequence[np.ndarray], grads: Sequence[np.ndarray],
                 states: Sequence[dict[str, Any]], *, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, maximize: bool = False, check: bool = True) -> None:
    """``torch.optim.Adagrad`` on each ``(param, grad, state)`` triple (in place).

    >>> p = [np.array([1.0])]
    >>> adagrad_step(p, [np.array([2.0])], [{}], lr=0.1, eps=0.0)
    >>> p     # sum = 4; p -= 0.1 * 2 / sqrt(4)
    [array([0.9])]
    """
    if check:
        check_adagrad(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                      initial_accumulator_value=initial_accumulator_value, eps=eps)
    for param, grad, state in zip(params, grads, states):
        step = state["step"] = state.get("step", 0) + 1
        if maximize:
            grad = -grad
        if weight_decay != 0:
            grad = grad + weight_decay * param
        clr = lr / (1 + (step - 1) * lr_decay)
        state_sum = state.get("sum")
        if state_sum is None:
            state_sum = state["sum"] = np.full_like(param, initial_accumulator_value)
        state_sum += grad * grad                         # addcmul_(grad, grad, value=1)
        std = np.sqrt(state_sum)
        std += eps
        param += -clr * (grad / std)                     # addcdiv_(grad, std, value=-clr)
