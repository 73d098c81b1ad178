"""``sg.nn.functional``: the functional forms of activations, layers and losses.

As ``torch.nn.functional``: the same functions as the top-level ``sg.`` ones
where PyTorch has both (``relu``, ``softmax``, ``gelu``), plus the ones only
``torch.nn.functional`` has.  Every name is one of symgrad's ops (or built from
them), so it runs eagerly, compiled and in closed form alike.

>>> import symgrad as sg
>>> import symgrad.nn.functional as F
>>> F.relu(sg.tensor([-1.0, 2.0]))
tensor([0., 2.])
"""
from __future__ import annotations

from symgrad.tensor_ops import OP_FUNCTIONS as _F

relu = _F["relu"]
tanh = _F["tanh"]
sigmoid = _F["sigmoid"]
softplus = _F["softplus"]
softmax = _F["softmax"]
log_softmax = _F["log_softmax"]

__all__ = ["relu", "tanh", "sigmoid", "softplus", "softmax", "log_softmax"]

# each issue-11 family adds its functional names below (one block per family)

# --- issue 11: activations
from symgrad.front.activations import (  # noqa: E402
    celu, elu, gelu, hardsigmoid, hardswish, hardtanh, leaky_relu, logsigmoid, mish, normalize,
    relu6, selu, silu, softmin, softsign,
)

__all__ += ["leaky_relu", "elu", "selu", "celu", "silu", "gelu", "mish", "softsign",
            "logsigmoid", "relu6", "hardtanh", "hardsigmoid", "hardswish", "softmin",
            "normalize"]
