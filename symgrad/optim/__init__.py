"""``sg.optim``: SGD, Adam, AdamW, RMSprop, Adagrad and LBFGS with PyTorch's API and formulas.

The arithmetic is numeric's (:mod:`numeric.optim`, written to match
``torch.optim`` to rounding); this module adds parameter groups, per-parameter
state, ``zero_grad``, ``state_dict``/``load_state_dict`` and validation:
``step()`` checks every hyper-parameter and every gradient before it changes
anything, so a failing step leaves parameters and state as they were.
Schedulers are in :mod:`symgrad.optim.lr_scheduler`.  Parameters are updated in place (``p.value``),
inside no graph.

>>> import symgrad as sg
>>> w = sg.tensor([1.0], requires_grad=True)
>>> opt = sg.optim.SGD([w], lr=0.1)
>>> (w * 3).sum().backward(); opt.step(); w
tensor([0.7000], requires_grad=True)
"""
from symgrad.optim.lbfgs import LBFGS
from symgrad.optim.optimizer import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop


def __getattr__(name: str) -> object:
    """``sg.optim.lr_scheduler`` loads on first access (start-up stays small)."""
    if name == "lr_scheduler":
        import importlib
        return importlib.import_module("symgrad.optim.lr_scheduler")
    raise AttributeError(f"module 'symgrad.optim' has no attribute {name!r}")

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "LBFGS", "lr_scheduler"]
