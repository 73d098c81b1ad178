"""Creating tensors: ``sg.tensor``, ``zeros``, ``ones``, ``full``, ``arange``, ``eye``,
``rand``, ``randn``, ``*_like``, ``from_numpy`` and symbolic leaves (``sg.symbol``).

Python float data gets the default dtype (float64 unless changed with
``sg.set_default_dtype``), Python ints int64, bools bool; numpy arrays keep their
dtype.  Random tensors take ``seed=`` (an int or a ``numpy.random.Generator``);
without one they draw from a module generator seeded by :func:`manual_seed`.

>>> import symgrad as sg
>>> sg.tensor([1.0, 2.0], dtype=sg.float32, requires_grad=True)
tensor([1., 2.], dtype=sg.float32, requires_grad=True)
>>> sg.zeros(2, 3).shape, sg.arange(3), sg.randn(2, seed=0).dtype
((2, 3), tensor([0, 1, 2]), dtype('float64'))
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import numpy as np

from symgrad import dtypes as _dt
from symgrad.errors import DtypeError
from numeric.node import IDENTITY, Node
from symgrad.tensor import VALUE_READS, Tensor, _data_leaf, handle, symbolic_node, to_array

_RNG = [np.random.default_rng()]


def _leaf(value: np.ndarray, requires_grad: bool, name: Optional[str]) -> Tensor:
    t = handle(_data_leaf(value, name), value)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _size(size: Sequence[Any]) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def tensor(data: Any, *, dtype: Any = None, requires_grad: bool = False,
           name: Optional[str] = None) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (number, nested lists, array).

    ``name`` is the leaf's SymPy name (default: an automatic ``"t<k>"``).

    >>> import symgrad as sg
    >>> sg.tensor([[1, 2], [3, 4]]).dtype, sg.tensor(5.0, name="x").name
    (dtype('int64'), 'x')
    """
    return _leaf(to_array(data, dtype), requires_grad, name)


def from_numpy(array: np.ndarray, *, requires_grad: bool = False,
               name: Optional[str] = None) -> Tensor:
    """A leaf sharing ``array``'s memory (no copy) and dtype.

    >>> a = np.zeros(2, dtype=np.float32)
    >>> from_numpy(a).dtype
    dtype('float32')
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "fiub":
        raise DtypeError(f"from_numpy: unsupported dtype {array.dtype}")
    return _leaf(array, requires_grad, name)


def _filled(size: tuple, fill: Any, dtype: Any, requires_grad: bool,
            name: Optional[str]) -> Tensor:
    return _leaf(np.full(size, fill, dtype=_dt.as_dtype(dtype)), requires_grad, name)


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False,
          name: Optional[str] = None) -> Tensor:
    """Zeros of ``size`` (ints or one tuple).

    >>> zeros(2)
    tensor([0., 0.])
    """
    return _filled(_size(size), 0, dtype, requires_grad, name)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False,
         name: Optional[str] = None) -> Tensor:
    """Ones of ``size``.

    >>> ones((1, 2))
    tensor([[1., 1.]])
    """
    return _filled(_size(size), 1, dtype, requires_grad, name)


def full(size: Any, fill_value: Any, *, dtype: Any = None, requires_grad: bool = False,
         name: Optional[str] = None) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value`` (dtype inferred from it).

    >>> full((2,), 7), full((2,), 0.5)
    (tensor([7, 7]), tensor([0.5000, 0.5000]))
    """
    if isinstance(fill_value, (np.generic, np.ndarray)) and np.ndim(fill_value) == 0:
        fill_value = fill_value.item()      # a numpy scalar is a number, as in PyTorch
    if dtype is None:
        dtype = to_array(fill_value).dtype
    size = (int(size),) if isinstance(size, (int, np.integer)) else tuple(size)
    return _filled(size, fill_value, dtype, requires_grad, name)


def arange(start: Any, end: Any = None, step: Any = 1, *, dtype: Any = None,
           requires_grad: bool = False, name: Optional[str] = None) -> Tensor:
    """Values ``start, start+step, ...`` below ``end`` (int64 for ints, else default float).

    >>> arange(1, 3), arange(0, 1, 0.5)
    (tensor([1, 2]), tensor([0.0000, 0.5000]))
    """
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = _dt.int64 if ints else _dt.get_default_dtype()
    return _leaf(np.arange(start, end, step, dtype=_dt.as_dtype(dtype)), requires_grad, name)


def linspace(start: float, end: float, steps: int, *, dtype: Any = None,
             requires_grad: bool = False, name: Optional[str] = None) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive.

    >>> linspace(0, 1, 3)
    tensor([0.0000, 0.5000, 1.0000])
    """
    return _leaf(np.linspace(start, end, steps, dtype=_dt.as_dtype(dtype)), requires_grad,
                 name)


def eye(n: int, m: Optional[int] = None, *, dtype: Any = None, requires_grad: bool = False,
        name: Optional[str] = None) -> Tensor:
    """The ``n x m`` identity matrix.

    >>> eye(2)
    tensor([[1., 0.],
            [0., 1.]])
    """
    if isinstance(n, str) or isinstance(m, str):
        return _symbolic_eye(n, m, dtype)
    return _leaf(np.eye(n, m, dtype=_dt.as_dtype(dtype)), requires_grad, name)


def _symbolic_eye(n: Any, m: Any, dtype: Any) -> Tensor:
    """``sg.eye("N")``: the identity of symbolic size, a constant without values.

    Like a symbol it builds graphs for the closed forms (``Identity(N)`` in matrix
    form, e.g. ridge regression's ``X.T*X + lam*I``); it has no entries to compute with.

    >>> import symgrad as sg
    >>> x, A = sg.symbol("x", shape=("N",)), sg.symbol("A", shape=("N", "N"))
    >>> sg.diff(x @ (A + sg.eye("N")) @ x, x)
    (2*I + A + A.T)*x
    """
    if m is not None and m != n:
        raise TypeError(f"eye: a symbolic identity is square, got sizes {n!r}, {m!r}; use "
                        "eye('N') (or concrete sizes for a rectangular one)")
    for d in (n,):
        if not isinstance(d, str) or not d.isidentifier():
            raise TypeError(f"eye: a symbolic size is a name such as 'N', got {d!r}")
    node = Node.leaf("constant", None, literal=IDENTITY, shape=(n, n),
                     dtype=_dt.as_dtype(dtype))
    return handle(node, None)


def manual_seed(seed: int) -> None:
    """Seed the generator that ``rand``/``randn`` use when no ``seed=`` is given.

    >>> manual_seed(0); a = rand(2); manual_seed(0); bool((a == rand(2)).all())
    True
    """
    _RNG[0] = np.random.default_rng(seed)


def _rng(seed: Union[None, int, np.random.Generator],
         generator: Optional[np.random.Generator] = None) -> np.random.Generator:
    if generator is not None:
        if seed is not None:
            raise TypeError("pass either seed= or generator=, not both")
        seed = generator
    if VALUE_READS.hook is not None and (seed is None or isinstance(seed, np.random.Generator)):
        VALUE_READS.hook(None, "a random draw")     # --- issue 13: compile: not traceable
    if seed is None:
        return _RNG[0]
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def rand(*size: Any, seed: Any = None, dtype: Any = None, requires_grad: bool = False,
         name: Optional[str] = None, generator: Any = None) -> Tensor:
    """Uniform samples in [0, 1).

    ``seed`` is an int or a ``numpy.random.Generator`` (``generator=`` is
    PyTorch's spelling of the latter); without either, the generator seeded by
    :func:`manual_seed` is used.

    >>> rand(2, 2, seed=0).shape
    (2, 2)
    """
    dt = _dt.as_dtype(dtype)
    return _leaf(_rng(seed, generator).random(_size(size)).astype(dt, copy=False),
                 requires_grad, name)


def randn(*size: Any, seed: Any = None, dtype: Any = None, requires_grad: bool = False,
          name: Optional[str] = None, generator: Any = None) -> Tensor:
    """Standard normal samples (``seed``/``generator`` as for :func:`rand`).

    >>> randn(3, seed=np.random.default_rng(1)).shape
    (3,)
    """
    dt = _dt.as_dtype(dtype)
    return _leaf(_rng(seed, generator).standard_normal(_size(size)).astype(dt, copy=False),
                 requires_grad, name)


def zeros_like(input: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros shaped like ``input`` (its dtype unless ``dtype``).

    >>> zeros_like(tensor([1, 2]))
    tensor([0, 0])
    """
    return _filled(tuple(input.shape), 0, input.dtype if dtype is None else dtype,
                   requires_grad, None)


def ones_like(input: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones shaped like ``input``.

    >>> ones_like(tensor([1.0]))
    tensor([1.])
    """
    return _filled(tuple(input.shape), 1, input.dtype if dtype is None else dtype,
                   requires_grad, None)


def symbol(name: str, shape: Sequence[Any] = (), dtype: Any = None,
           requires_grad: bool = True) -> Tensor:
    """A symbolic leaf: a name and a shape (dims may be ints or strings), no value.

    Ops on symbols build the graph without computing values; lower it to SymPy
    or run it with :func:`evaluate`.

    >>> import symgrad as sg
    >>> X = sg.symbol("X", shape=("N", "d")); w = sg.symbol("w", shape=("d",))
    >>> (X @ w).shape
    ('N',)
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"symbol name must be a non-empty string, got {name!r}")
    shape = tuple(int(d) if isinstance(d, np.integer) else d for d in shape)
    for d in shape:
        if not isinstance(d, (int, str)) or (isinstance(d, int) and d < 0):
            raise TypeError(f"symbol shape dims must be non-negative ints or strings, got "
                            f"{tuple(shape)!r}")
    dt = _dt.as_dtype(dtype)
    if requires_grad and dt.kind != "f":
        raise DtypeError("only floating point tensors can require gradients; pass "
                         "requires_grad=False for an integer symbol")
    return symbolic_node(None, (), {}, tuple(shape), dt, bool(requires_grad), name)


__all__ = [
    "tensor", "from_numpy", "zeros", "ones", "full", "arange", "linspace", "eye",
    "manual_seed", "rand", "randn", "zeros_like", "ones_like", "symbol",
]
