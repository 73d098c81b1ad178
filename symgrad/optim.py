"""``sg.optim``: SGD and Adam with PyTorch's API and update formulas.

The arithmetic is numeric's (:func:`numeric.optim.sgd_step`,
:func:`numeric.optim.adam_step`, written to match ``torch.optim`` to
rounding); this module adds parameter groups, per-parameter state,
``zero_grad`` and validation.  Parameters are updated in place (``p.value``),
inside no graph.

>>> import symgrad as sg
>>> w = sg.tensor([1.0], requires_grad=True)
>>> opt = sg.optim.SGD([w], lr=0.1)
>>> (w * 3).sum().backward(); opt.step(); w
tensor([0.7000], requires_grad=True)
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

from numeric.optim import adam_step, sgd_step
from symgrad.autograd import enable_grad
from symgrad.errors import OptimizerError
from symgrad.tensor import Tensor, mark_modified


class Optimizer:
    """Base class: ``param_groups`` (list of dicts with ``"params"`` and hyper-parameters),
    ``state`` (per-parameter dicts), ``zero_grad()`` and ``step()``.

    Subclasses pass ``defaults``, set ``_rule`` (numeric's in-place update) and
    ``_hyper(group)`` (its keyword arguments), and check a group in ``_validate``.

    >>> import symgrad as sg
    >>> a, b = sg.zeros(1, requires_grad=True), sg.zeros(1, requires_grad=True)
    >>> opt = sg.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    >>> [g["lr"] for g in opt.param_groups]
    [0.1, 0.5]
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got a Tensor; wrap it in a list: [t]")
        groups = list(params)
        if not groups:
            raise OptimizerError("optimizer got an empty parameter list; pass the tensors to "
                                 "optimize, e.g. SGD([w, b], lr=0.01)")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group ``{"params": [...], **hyper_parameters}``; missing ones get defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(param_group).__name__}")
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        if not params:
            raise OptimizerError("optimizer got an empty parameter list in a parameter group")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for k, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but parameter {k} is a "
                                f"{type(p).__name__}")
            if not p.is_leaf or p.op is not None:
                raise OptimizerError(
                    f"can't optimize a non-leaf Tensor (parameter {k} was computed by "
                    f"{type(p.grad_fn).__name__ if p.grad_fn else 'an op'}); pass the leaf "
                    "tensors created with requires_grad=True, or use t.detach().requires_grad_()")
            if p.value is None:
                raise OptimizerError(f"parameter {k} is symbolic (no value) and cannot be "
                                     "optimized")
            if id(p) in seen:
                raise OptimizerError("some parameters appear in more than one parameter group")
            seen.add(id(p))
        group = {**self.defaults, **param_group, "params": params}
        self._validate(group)
        self.param_groups.append(group)

    def _validate(self, group: dict[str, Any]) -> None:
        lr = group.get("lr")
        if not isinstance(lr, (int, float)) or lr < 0:
            raise OptimizerError(f"Invalid learning rate: {lr!r}; lr must be a number >= 0")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad`` (to None, or to zeros if ``set_to_none=False``)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad = Tensor._wrap(p.grad.value * 0)

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """Update every parameter that has a ``.grad`` (others are skipped).

        ``closure`` (optional) re-evaluates the loss and returns it.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        state = self.state
        rule = self._rule
        changed = []
        for group in self.param_groups:
            values, grads, states = [], [], []
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                s = state.get(p)
                if s is None:
                    s = state[p] = {}
                values.append(p.value)
                grads.append(g.value)
                states.append(s)
                changed.append(p)
            if values:              # hyper-parameters were checked when the group was added
                rule(values, grads, states, check=False, **self._hyper(group))
        mark_modified(*changed)
        return loss

    #: ``rule(params, grads, states, *, check, **hyper)``: numeric's update of one group
    _rule: Callable[..., None]

    def _hyper(self, group: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments of ``_rule`` taken from ``group``."""
        return {k: v for k, v in group.items() if k != "params"}

    def state_dict(self) -> dict[str, Any]:
        """Hyper-parameters and state, with parameters referred to by position."""
        index = {id(p): i for i, p in enumerate(p for g in self.param_groups
                                               for p in g["params"])}
        return {
            "state": {index[id(p)]: dict(s) for p, s in self.state.items()},
            "param_groups": [{**{k: v for k, v in g.items() if k != "params"},
                              "params": [index[id(p)] for p in g["params"]]}
                             for g in self.param_groups],
        }

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines + [")"])


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, weight decay and Nesterov.

    >>> import symgrad as sg
    >>> w = sg.tensor([1.0], requires_grad=True)
    >>> opt = SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad(); (w ** 2).sum().backward(); opt.step()
    >>> round(w.item(), 6)
    0.46
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        if group["momentum"] < 0:
            raise OptimizerError(f"Invalid momentum value: {group['momentum']}; must be >= 0")
        if group["weight_decay"] < 0:
            raise OptimizerError(f"Invalid weight_decay value: {group['weight_decay']}; "
                                 "must be >= 0")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise OptimizerError("Nesterov momentum requires a momentum > 0 and zero "
                                 "dampening; pass momentum=0.9 (for example) or nesterov=False")

    _rule = staticmethod(sgd_step)

    def _hyper(self, group: dict[str, Any]) -> dict[str, Any]:
        return {"lr": group["lr"], "momentum": group["momentum"],
                "dampening": group["dampening"], "weight_decay": group["weight_decay"],
                "nesterov": group["nesterov"], "maximize": group["maximize"]}


class Adam(Optimizer):
    """Adam (Kingma & Ba) with PyTorch's bias correction, L2 weight decay and AMSGrad.

    >>> import symgrad as sg
    >>> w = sg.tensor([1.0], requires_grad=True)
    >>> opt = Adam([w], lr=0.1)
    >>> (w ** 2).sum().backward(); opt.step(); round(w.item(), 6)
    0.9
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        b1, b2 = group["betas"]
        for i, b in enumerate((b1, b2)):
            if not 0.0 <= b < 1.0:
                raise OptimizerError(f"Invalid beta parameter at index {i}: {b}; must be in "
                                     "[0, 1)")
        if group["eps"] < 0:
            raise OptimizerError(f"Invalid epsilon value: {group['eps']}; must be >= 0")
        if group["weight_decay"] < 0:
            raise OptimizerError(f"Invalid weight_decay value: {group['weight_decay']}")

    _rule = staticmethod(adam_step)

    def _hyper(self, group: dict[str, Any]) -> dict[str, Any]:
        return {"lr": group["lr"], "betas": tuple(group["betas"]), "eps": group["eps"],
                "weight_decay": group["weight_decay"], "amsgrad": group["amsgrad"],
                "maximize": group["maximize"]}


__all__ = ["Optimizer", "SGD", "Adam"]
