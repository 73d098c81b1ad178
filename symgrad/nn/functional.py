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
softmax = _F["softmax"]
log_softmax = _F["log_softmax"]

__all__ = ["relu", "tanh", "sigmoid", "softplus", "softmax", "log_softmax"]

# each issue-11 family adds its functional names below (one block per family)
# --- issue 11: nnops
from symgrad.front.nnops import (  # noqa: E402 - F's own argument orders
    functional_batch_norm as batch_norm, functional_embedding as embedding,
    scaled_dot_product_attention,
)

conv1d = _F["conv1d"]
conv2d = _F["conv2d"]
max_pool2d = _F["max_pool2d"]
avg_pool2d = _F["avg_pool2d"]
adaptive_avg_pool2d = _F["adaptive_avg_pool2d"]
interpolate = _F["interpolate"]
layer_norm = _F["layer_norm"]
dropout = _F["dropout"]
__all__ += ["conv1d", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
            "interpolate", "layer_norm", "batch_norm", "dropout", "embedding",
            "scaled_dot_product_attention"]

# --- issue 11: shape
from symgrad.front.shape import one_hot  # noqa: E402 - in sg.nn.functional only, as in torch

pad = _F["pad"]
__all__ += ["pad", "one_hot"]

# --- issue 11: losses
from symgrad.front.losses import (  # noqa: E402
    binary_cross_entropy, binary_cross_entropy_with_logits, cosine_similarity, cross_entropy,
    huber_loss, kl_div, l1_loss, mse_loss, nll_loss, smooth_l1_loss,
)

__all__ += ["binary_cross_entropy", "binary_cross_entropy_with_logits", "cosine_similarity",
            "cross_entropy", "huber_loss", "kl_div", "l1_loss", "mse_loss", "nll_loss",
            "smooth_l1_loss"]

# --- issue 11: activations
from symgrad.front.activations import (  # noqa: E402
    celu, elu, gelu, hardsigmoid, hardswish, hardtanh, leaky_relu, logsigmoid, mish, normalize,
    relu6, selu, silu, softmin, softsign,
)
from symgrad.front.activations import functional_softplus as softplus  # noqa: E402

__all__ += ["leaky_relu", "elu", "selu", "celu", "silu", "gelu", "mish", "softsign",
            "logsigmoid", "relu6", "hardtanh", "hardsigmoid", "hardswish", "softmin",
            "normalize"]
