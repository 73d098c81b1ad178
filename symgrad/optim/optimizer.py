"""The optimizers of ``sg.optim`` (``symgrad.optim`` re-exports them with LBFGS and
``lr_scheduler``): parameter groups, per-parameter state, validation before any change,
``state_dict``/``load_state_dict``; the update formulas are :mod:`numeric.optim`'s.
"""
from __future__ import annotations

import numbers
from typing import Any, Callable, Iterable, Optional

import numpy as np

from numeric.optim import adagrad_step, adam_step, adamw_step, rmsprop_step, sgd_step
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
        """Check ``group``'s hyper-parameters (numpy scalars become Python numbers)."""
        for k, v in group.items():
            if k != "params":
                group[k] = _plain(v)
        _number(group, "lr", "learning rate", ">= 0", lambda v: v >= 0)

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

        ``closure`` (optional) re-evaluates the loss and returns it.  Every
        hyper-parameter and every gradient is checked first: a bad one raises
        before any parameter or state entry changes.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        batches = self._checked_batches()
        state = self.state
        rule = self._rule
        changed = []
        for group, ps, grads in batches:
            states = []
            for p in ps:
                s = state.get(p)
                if s is None:
                    s = state[p] = {}
                states.append(s)
            rule([p.value for p in ps], grads, states, check=False, **self._hyper(group))
            changed += ps
        mark_modified(*changed)
        return loss

    def _checked_batches(self) -> list[tuple[dict[str, Any], list[Tensor], list[np.ndarray]]]:
        """``(group, params with a grad, grad arrays)`` per group, after checking them all."""
        batches = []
        k = 0
        checked = self.__dict__.setdefault("_checked_groups", {})
        for gi, group in enumerate(self.param_groups):
            # hyper-parameters are re-checked only when one changed (a scheduler, a user)
            snapshot = [v for v in group.values() if v.__class__ is not list]
            if checked.get(id(group)) != snapshot:
                self._validate(group)
                checked[id(group)] = [v for v in group.values() if v.__class__ is not list]
            ps, grads = [], []
            for p in group["params"]:
                g = p.grad
                if g is not None:
                    v = g.value if g.__class__ is Tensor else None
                    if v.__class__ is not np.ndarray or v.shape != p.value.shape or \
                            v.dtype != p.value.dtype:
                        v = _checked_grad(p, g, k, gi)  # raises, naming what is wrong
                    grads.append(v)
                    ps.append(p)
                k += 1
            if ps:
                batches.append((group, ps, grads))
        return batches

    #: ``rule(params, grads, states, *, check, **hyper)``: numeric's update of one group
    _rule: Callable[..., None]

    def _hyper(self, group: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments of ``_rule`` taken from ``group``."""
        return {k: v for k, v in group.items() if k != "params"}

    def state_dict(self) -> dict[str, Any]:
        """PyTorch's layout: ``{"state": {index: {...}}, "param_groups": [...]}``.

        Parameters are referred to by their position across the groups; arrays are
        copies (later steps do not change a saved state dict).

        >>> import symgrad as sg
        >>> w = sg.tensor([1.0], requires_grad=True)
        >>> opt = sg.optim.Adam([w], lr=0.1)
        >>> (w * 2).sum().backward(); opt.step()
        >>> sd = opt.state_dict(); sd["state"][0]["step"], sd["param_groups"][0]["params"]
        (1, [0])
        """
        index = {id(p): i for i, p in enumerate(self._all_params())}
        return {
            "state": {index[id(p)]: _copy_state(s) for p, s in self.state.items()},
            "param_groups": [{**{k: v for k, v in g.items() if k != "params"},
                              "params": [index[id(p)] for p in g["params"]]}
                             for g in self.param_groups],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyper-parameters and state saved by :meth:`state_dict`.

        The whole dict is checked (groups, sizes, indices, array shapes,
        hyper-parameters) before anything is replaced; on error the optimizer is
        unchanged.  Arrays are copied and cast to their parameter's dtype.

        >>> import symgrad as sg
        >>> w = sg.tensor([1.0], requires_grad=True)
        >>> opt = sg.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> opt.load_state_dict({"state": {}, "param_groups": [{"lr": 0.5}]})
        Traceback (most recent call last):
        ...
        ValueError: load_state_dict: parameter group 0 has no 'params' list
        """
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError("load_state_dict expects a dict with exactly the keys 'state' and "
                             "'param_groups' (as returned by optimizer.state_dict()), got "
                             f"{_describe(state_dict)}")
        saved_groups = state_dict["param_groups"]
        if not isinstance(saved_groups, (list, tuple)) or len(saved_groups) != len(
                self.param_groups):
            n = len(saved_groups) if isinstance(saved_groups, (list, tuple)) else "no"
            raise ValueError(f"loaded state dict has {n} parameter groups but the optimizer "
                             f"has {len(self.param_groups)}")
        params = list(self._all_params())
        by_index: dict[Any, Tensor] = {}
        new_groups = []
        for gi, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if not isinstance(saved, dict) or not isinstance(saved.get("params"), (list, tuple)):
                raise ValueError(f"load_state_dict: parameter group {gi} has no 'params' list")
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"loaded state dict contains a parameter group {gi} of "
                                 f"{len(saved['params'])} parameters but the optimizer's "
                                 f"group has {len(group['params'])}")
            missing = sorted(set(self.defaults) - set(saved))
            if missing:
                raise ValueError(f"load_state_dict: parameter group {gi} lacks the "
                                 f"hyper-parameters {missing}")
            for i, p in zip(saved["params"], group["params"]):
                by_index[i] = p
            new = {**{k: v for k, v in saved.items() if k != "params"},
                   "params": group["params"]}
            self._validate(new)
            new_groups.append(new)
        saved_state = state_dict["state"]
        if not isinstance(saved_state, dict):
            raise ValueError(f"load_state_dict: 'state' must be a dict, got "
                             f"{_describe(saved_state)}")
        new_state: dict[Tensor, dict[str, Any]] = {}
        for i, s in saved_state.items():
            p = by_index.get(i)
            if p is None:
                raise ValueError(f"load_state_dict: state refers to parameter {i!r}, but the "
                                 f"optimizer's parameters are numbered 0..{len(params) - 1}")
            if not isinstance(s, dict):
                raise ValueError(f"load_state_dict: state of parameter {i} must be a dict, "
                                 f"got {_describe(s)}")
            new_state[p] = {k: self._load_value(v, p, f"state[{i}][{k!r}]", k)
                            for k, v in s.items()}
        self.param_groups[:] = new_groups
        self.__dict__.pop("_checked_groups", None)
        self.state.clear()
        self.state.update(new_state)

    #: state entries shaped like their parameter (checked by ``load_state_dict``)
    _param_shaped = frozenset({"momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq",
                               "square_avg", "grad_avg", "sum"})

    def _load_value(self, v: Any, p: Tensor, where: str, key: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [self._load_value(x, p, f"{where}[{j}]", None) for j, x in enumerate(v)]
        if isinstance(v, Tensor):
            v = v.value
        if isinstance(v, np.ndarray):
            if v.dtype.kind not in "biuf":
                raise ValueError(f"load_state_dict: {where} has dtype {v.dtype}; expected a "
                                 "numeric array")
            if key in self._param_shaped and v.shape != p.value.shape:
                raise ValueError(f"load_state_dict: {where} has shape {v.shape} but its "
                                 f"parameter has shape {p.value.shape}")
            dtype = p.value.dtype if v.dtype.kind == "f" else v.dtype
            return np.array(v, dtype=dtype, copy=True)
        v = _plain(v)
        if v is None or isinstance(v, (bool, int, float)):
            if key == "step" and not (isinstance(v, int) and v >= 0):
                raise ValueError(f"load_state_dict: {where} must be an int >= 0, got {v!r}")
            return v
        raise ValueError(f"load_state_dict: {where} is {_describe(v)}; expected an array or "
                         "a number")

    def _all_params(self) -> Iterable[Tensor]:
        return (p for g in self.param_groups for p in g["params"])

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
        _number(group, "momentum", "momentum value", ">= 0", lambda v: v >= 0)
        _number(group, "dampening", "dampening value", "a number", lambda v: True)
        _number(group, "weight_decay", "weight_decay value", ">= 0", lambda v: v >= 0)
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
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise OptimizerError(f"Invalid betas: {betas!r}; betas must be a pair of numbers "
                                 "in [0, 1), e.g. (0.9, 0.999)")
        group["betas"] = tuple(_plain(b) for b in betas)
        for i, b in enumerate(group["betas"]):
            if not _is_number(b) or not 0.0 <= b < 1.0:
                raise OptimizerError(f"Invalid beta parameter at index {i}: {b!r}; it must be "
                                     "in [0, 1)")
        _number(group, "eps", "epsilon value", ">= 0", lambda v: v >= 0)
        _number(group, "weight_decay", "weight_decay value", ">= 0", lambda v: v >= 0)

    _rule = staticmethod(adam_step)

    def _hyper(self, group: dict[str, Any]) -> dict[str, Any]:
        return {"lr": group["lr"], "betas": tuple(group["betas"]), "eps": group["eps"],
                "weight_decay": group["weight_decay"], "amsgrad": group["amsgrad"],
                "maximize": group["maximize"]}





class AdamW(Adam):
    """AdamW (Loshchilov & Hutter): Adam with decoupled weight decay, PyTorch's formula.

    >>> import symgrad as sg
    >>> w = sg.tensor([1.0], requires_grad=True)
    >>> opt = AdamW([w], lr=0.1, weight_decay=0.5)
    >>> (w ** 2).sum().backward(); opt.step(); round(w.item(), 6)
    0.85
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)

    _rule = staticmethod(adamw_step)


class RMSprop(Optimizer):
    """RMSprop (Hinton) with PyTorch's ``alpha``, ``eps``, ``momentum`` and ``centered``.

    >>> import symgrad as sg
    >>> w = sg.tensor([1.0], requires_grad=True)
    >>> opt = RMSprop([w], lr=0.01, alpha=0.75, eps=0.0)
    >>> (w ** 2).sum().backward(); opt.step(); round(w.item(), 6)
    0.98
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered,
                                      maximize=maximize))

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        _number(group, "eps", "epsilon value", ">= 0", lambda v: v >= 0)
        _number(group, "momentum", "momentum value", ">= 0", lambda v: v >= 0)
        _number(group, "weight_decay", "weight_decay value", ">= 0", lambda v: v >= 0)
        _number(group, "alpha", "alpha value", ">= 0", lambda v: v >= 0)

    _rule = staticmethod(rmsprop_step)

    def _hyper(self, group: dict[str, Any]) -> dict[str, Any]:
        return {k: group[k] for k in ("lr", "alpha", "eps", "weight_decay", "momentum",
                                      "centered", "maximize")}


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.) with PyTorch's ``lr_decay`` and ``initial_accumulator_value``.

    >>> import symgrad as sg
    >>> w = sg.tensor([1.0], requires_grad=True)
    >>> opt = Adagrad([w], lr=0.1, eps=0.0)
    >>> (w ** 2).sum().backward(); opt.step(); round(w.item(), 6)
    0.9
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        _number(group, "lr_decay", "lr_decay value", ">= 0", lambda v: v >= 0)
        _number(group, "weight_decay", "weight_decay value", ">= 0", lambda v: v >= 0)
        _number(group, "initial_accumulator_value", "initial_accumulator_value value",
                ">= 0", lambda v: v >= 0)
        _number(group, "eps", "epsilon value", ">= 0", lambda v: v >= 0)

    _rule = staticmethod(adagrad_step)

    def _hyper(self, group: dict[str, Any]) -> dict[str, Any]:
        return {k: group[k] for k in ("lr", "lr_decay", "weight_decay",
                                      "initial_accumulator_value", "eps", "maximize")}


# ------------------------------------------------------------------------------ helpers
def _plain(v: Any) -> Any:
    """numpy scalars (``np.float32(0.1)``) as Python numbers, so float32 parameters stay
    float32 (NEP 50 keeps Python floats weak)."""
    if isinstance(v, np.generic):
        return v.item()
    return v


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _number(group: dict[str, Any], key: str, label: str, rule: str,
            ok: Callable[[Any], bool]) -> None:
    v = group[key]
    if not _is_number(v) or v != v or not ok(v):
        raise OptimizerError(f"Invalid {label}: {v!r}; {key} must be a number {rule}".replace(
            "a number a number", "a number"))


def _describe(v: Any) -> str:
    return f"a {type(v).__name__}"


def _checked_grad(p: Tensor, g: Any, k: int, gi: int) -> np.ndarray:
    """``g``'s array if ``g`` is a Tensor of ``p``'s shape and dtype, else raise."""
    v = g.value if isinstance(g, Tensor) else None
    if isinstance(v, np.ndarray) and v.shape == p.value.shape and v.dtype == p.value.dtype:
        return v
    where = f"parameter {k} (group {gi}, shape {tuple(p.value.shape)}, {p.value.dtype})"
    if not isinstance(g, Tensor) or not isinstance(g.value, np.ndarray):
        raise TypeError(f"optimizer.step(): the grad of {where} is {_describe(g)}, not a "
                        "Tensor with a value; no parameter was changed")
    v = g.value
    if v.shape != p.value.shape:
        raise RuntimeError(f"optimizer.step(): the grad of {where} has shape {v.shape}; it "
                           "must have the parameter's shape. No parameter was changed")
    if v.dtype != p.value.dtype:
        raise RuntimeError(f"optimizer.step(): the grad of {where} has dtype {v.dtype}; it "
                           "must have the parameter's dtype. No parameter was changed")
    return v


def _copy_state(s: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in s.items():
        if isinstance(v, np.ndarray):
            v = v.copy()
        elif isinstance(v, list):
            v = [x.copy() if isinstance(x, np.ndarray) else x for x in v]
        out[k] = v
    return out
