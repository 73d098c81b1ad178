"""``sg.nn``: a small training kit in PyTorch's shape.

``Module`` (parameters, buffers, children, ``state_dict`` as plain numpy arrays,
train/eval), ``Parameter``, ``Linear``, ``Sequential``, ``ReLU``, ``Tanh``, ``MSELoss`` and
``CrossEntropyLoss`` in ``symgrad/nn/modules.py``; the other layers in ``symgrad/nn/layers.py``, the other loss
modules in ``symgrad/nn/loss.py`` and ``sg.nn.init`` in ``symgrad/nn/init.py``.  Everything is built from symgrad's primitive ops, so a
model runs eagerly and under :func:`symgrad.compile` alike.

>>> import symgrad as sg
>>> model = sg.nn.Sequential(sg.nn.Linear(3, 4, seed=0), sg.nn.ReLU(), sg.nn.Linear(4, 2, seed=1))
>>> [name for name, _ in model.named_parameters()]
['0.weight', '0.bias', '2.weight', '2.bias']
>>> model[0].weight.name                   # the module path is the SymPy name too
'0.weight'
>>> model(sg.tensor([[1.0, 2.0, 3.0]])).shape
(1, 2)

PYTEST_DONT_REWRITE: library code; pytest would otherwise rewrite it (and bind ``@py_builtins``
here), since the distribution declares a ``pytest11`` plugin.
"""
from symgrad.nn import functional, init  # noqa: F401  (sg.nn.functional, sg.nn.init)
from symgrad.nn.modules import (
    CrossEntropyLoss, Linear, Module, MSELoss, Parameter, ReLU, Sequential, Tanh,
)
from symgrad.nn.layers import (
    ELU, GELU, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Embedding, Flatten,
    Identity, LayerNorm, LeakyReLU, LogSoftmax, MaxPool2d, ModuleDict, ModuleList, SiLU,
    Sigmoid, Softmax, Softplus,
)
from symgrad.nn.loss import (
    BCELoss, BCEWithLogitsLoss, HuberLoss, KLDivLoss, L1Loss, NLLLoss, SmoothL1Loss,
)

__all__ = ["Module", "Parameter", "Linear", "Sequential", "ReLU", "Tanh", "MSELoss",
           "CrossEntropyLoss",
           "Identity", "Sigmoid", "GELU", "SiLU", "Softmax", "LogSoftmax",
           "LeakyReLU", "ELU", "Softplus", "Dropout", "LayerNorm", "BatchNorm1d",
           "BatchNorm2d", "Embedding", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten",
           "ModuleList", "ModuleDict", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss",
           "BCEWithLogitsLoss", "NLLLoss", "KLDivLoss"]
