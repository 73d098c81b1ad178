"""``sg.utils``: helpers around training, as ``torch.utils`` (``sg.utils.data``).

>>> import symgrad as sg
>>> sg.utils.data.TensorDataset(sg.arange(3.0))[1]
(tensor(1.),)
"""
from symgrad.utils import data

__all__ = ["data"]
