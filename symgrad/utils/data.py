"""``sg.utils.data``: ``Dataset``, ``TensorDataset`` and ``DataLoader``, as ``torch.utils.data``.

A ``DataLoader`` yields batches: for a ``TensorDataset``, a tuple with one tensor per
dataset tensor, each indexed by the batch's rows at once (no per-sample stacking).
``shuffle=True`` draws a new order each epoch from ``generator`` (a
``numpy.random.Generator``), ``seed``, or else the generator :func:`symgrad.manual_seed`
seeds.

>>> import symgrad as sg
>>> ds = sg.utils.data.TensorDataset(sg.arange(5.0), sg.tensor([0, 1, 0, 1, 0]))
>>> for x, y in sg.utils.data.DataLoader(ds, batch_size=2):
...     print(x, y)
tensor([0., 1.]) tensor([0, 1])
tensor([2., 3.]) tensor([0, 1])
tensor([4.]) tensor([0])
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from symgrad.creation import _rng
from symgrad.tensor import Tensor

__all__ = ["Dataset", "TensorDataset", "DataLoader", "default_collate"]


class Dataset:
    """Base class: subclasses define ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


class TensorDataset(Dataset):
    """Samples are rows: item ``i`` is ``tuple(t[i] for t in tensors)``.

    Every tensor must have the same size in dim 0 (AssertionError otherwise, as PyTorch).

    >>> import symgrad as sg
    >>> ds = sg.utils.data.TensorDataset(sg.zeros(4, 2), sg.ones(4))
    >>> len(ds), [t.shape for t in ds[0]]
    (4, [(2,), ()])
    """

    def __init__(self, *tensors: Tensor) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        for k, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset: argument {k} is a {type(t).__name__}, not a "
                                "symgrad Tensor; wrap it with sg.tensor(...)")
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: argument {k} is 0-d; each tensor needs a "
                                 "sample dim 0")
        sizes = [t.shape[0] for t in tensors]
        if len(set(sizes)) != 1:
            raise AssertionError(f"Size mismatch between tensors: dim 0 sizes {sizes} must "
                                 "all be equal")
        self.tensors = tuple(tensors)

    def __getitem__(self, index: Any) -> tuple:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def _batch(self, rows: np.ndarray) -> tuple:
        # one fancy index per tensor; data that needs no grad becomes a fresh leaf
        return tuple(t[rows] if t.requires_grad else Tensor(t.value[rows]) for t in self.tensors)


def default_collate(samples: Sequence[Any]) -> Any:
    """Stack a list of samples into a batch: tensors and numbers stacked along a new dim 0,
    tuples/lists and dicts collated field by field.

    >>> import symgrad as sg
    >>> sg.utils.data.default_collate([(sg.tensor([1.0]), 0), (sg.tensor([2.0]), 1)])
    (tensor([[1.],
            [2.]]), tensor([0, 1]))
    """
    first = samples[0]
    if isinstance(first, Tensor):
        if any(s.requires_grad for s in samples):
            from symgrad.tensor_ops import OP_FUNCTIONS
            return OP_FUNCTIONS["stack"](list(samples))
        return Tensor(np.stack([s.value for s in samples]))
    if isinstance(first, (int, float, bool, np.number, np.ndarray)):
        return Tensor(np.asarray(samples))
    if isinstance(first, dict):
        return {k: default_collate([s[k] for s in samples]) for k in first}
    if isinstance(first, (tuple, list)):
        if any(len(s) != len(first) for s in samples):
            raise RuntimeError("each element in list of batch should be of equal size")
        return type(first)(default_collate(list(f)) for f in zip(*samples)) \
            if isinstance(first, tuple) else [default_collate(list(f)) for f in zip(*samples)]
    return list(samples)


def _positive_int(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
        raise ValueError(f"{name} should be a positive integer value, but got {name}={v!r}")
    return int(v)


class DataLoader:
    """Batches of a dataset: ``batch_size``, ``shuffle`` (seeded), ``drop_last``, ``collate_fn``.

    ``len(loader)`` is the number of batches per epoch; each ``iter()`` is one epoch
    (with shuffling, a new permutation from the same generator).

    >>> import symgrad as sg
    >>> ds = sg.utils.data.TensorDataset(sg.arange(6.0))
    >>> loader = sg.utils.data.DataLoader(ds, batch_size=4, shuffle=True, seed=0, drop_last=True)
    >>> len(loader), [x.tolist() for (x,) in loader]
    (1, [[3.0, 2.0, 5.0, 4.0]])
    """

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False,
                 sampler: Any = None, batch_sampler: Any = None, num_workers: int = 0,
                 collate_fn: Optional[Callable] = None, pin_memory: bool = False,
                 drop_last: bool = False, *, generator: Optional[np.random.Generator] = None,
                 seed: Optional[int] = None) -> None:
        if sampler is not None or batch_sampler is not None:
            raise NotImplementedError("DataLoader: sampler and batch_sampler are not supported; "
                                      "use shuffle= with seed= or generator=")
        if num_workers:
            raise NotImplementedError("DataLoader: num_workers must be 0 (batches are made in "
                                      "the calling process)")
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader: the dataset ({type(dataset).__name__}) needs "
                            "__len__ and __getitem__")
        self.dataset = dataset
        self.batch_size = _positive_int("batch_size", batch_size)
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.collate_fn = collate_fn
        # seed= makes the loader's own generator; without one, manual_seed's (read per epoch)
        self.generator = generator if seed is None else _rng(seed, generator)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        n = len(self.dataset)
        order = _rng(None, self.generator).permutation(n) if self.shuffle else np.arange(n)
        stop = n - n % self.batch_size if self.drop_last else n
        fast = isinstance(self.dataset, TensorDataset) and self.collate_fn is None
        for start in range(0, stop, self.batch_size):
            rows = order[start:start + self.batch_size]
            if fast:
                yield self.dataset._batch(rows)
            else:
                samples = [self.dataset[int(i)] for i in rows]
                yield (self.collate_fn or default_collate)(samples)
