"""Training data as row chunks: aligning the data arguments, and checking each chunk.

Every data argument of a loss (``X``, ``y``, ...) becomes one list of row blocks,
all arguments cut at the same rows, so chunk ``i`` of every argument describes the
same examples.  Accepted: dask arrays, dask DataFrames and Series (one chunk per
partition), and in-memory numpy arrays or Tensors (cut into ``chunk_rows`` rows).

A chunk is checked on the worker before the loss sees it (:func:`check`): the same
rows in every argument, the column count the data declared, numbers only, no NaN or
inf.  What is wrong raises :class:`ChunkError` naming the chunk and its rows.

>>> import numpy as np
>>> check([np.ones((3, 2)), np.array([1.0, np.nan, 3.0])], Chunk(1, 4, 3, 3), [(2,), ()])
Traceback (most recent call last):
...
symgrad.distributed.chunks.ChunkError: chunk 1 of 4 (rows 3-5): argument 1 has nan at row 4; drop or fill those rows before training (e.g. dask's dropna or fillna)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["ChunkError", "Chunk", "Blocks", "blocks", "check", "as_array"]

#: rows per chunk for in-memory arrays when no ``chunk_rows`` is given
DEFAULT_CHUNK_ROWS = 1_000_000


class ChunkError(ValueError):
    """One chunk of the training data cannot be used; the message names the chunk."""


@dataclass(frozen=True)
class Chunk:
    """Where a chunk is: its index, how many there are, its first row (None: unknown)."""

    index: int
    total: int
    start: Optional[int] = None
    rows: Optional[int] = None

    def __str__(self) -> str:
        where = f"chunk {self.index} of {self.total}"
        if self.start is not None and self.rows is not None:
            where += f" (rows {self.start}-{self.start + self.rows - 1})"
        return where

    def row(self, r: int) -> str:
        return f"row {self.start + r}" if self.start is not None else f"row {r} of the chunk"


@dataclass
class Blocks:
    """The data cut into chunks: ``parts[i]`` holds chunk ``i`` of every argument
    (dask Delayed objects), ``chunks[i]`` where it is, ``trailing[k]`` the shape of one
    row of argument ``k`` (None where the data did not declare it)."""

    parts: list
    chunks: list
    trailing: list
    rows: Optional[int]

    def __len__(self) -> int:
        return len(self.parts)


def _kind(a: Any) -> str:
    import dask.array as da
    if isinstance(a, da.Array):
        return "array"
    mod = type(a).__module__
    if mod.startswith(("dask.dataframe", "dask_expr")) and hasattr(a, "to_delayed"):
        return "frame"
    return "memory"


def blocks(data: Sequence[Any], chunk_rows: Optional[int] = None) -> Blocks:
    """Cut ``data`` (the loss's data arguments) into aligned row chunks."""
    import dask.array as da

    if not data:
        raise TypeError("no training data: pass the loss's data arguments, e.g. "
                        "dp.gradient(X, y) with dask arrays")
    if chunk_rows is not None and (not isinstance(chunk_rows, int) or chunk_rows < 1):
        raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    kinds = [_kind(a) for a in data]
    arrays = []
    for k, (a, kind) in enumerate(zip(data, kinds)):
        if kind == "memory":
            v = np.asarray(getattr(a, "value", a))
            if v.ndim == 0:
                raise ValueError(f"data argument {k} is 0-d; training data has one row per "
                                 "example (at least 1-d)")
            a = da.from_array(v, chunks=(chunk_rows or DEFAULT_CHUNK_ROWS,) + v.shape[1:])
            kinds[k] = "array"
        elif kind == "array":
            if a.ndim == 0:
                raise ValueError(f"data argument {k} is a 0-d dask array; training data has "
                                 "one row per example")
            if a.ndim > 1:
                a = a.rechunk({i: -1 for i in range(1, a.ndim)})
            if chunk_rows is not None:
                a = a.rechunk({0: chunk_rows})
        arrays.append(a)
    # align every dask array to the first one's row chunks (when they are known)
    first = next((a for a, kind in zip(arrays, kinds) if kind == "array"), None)
    if first is not None and not any(math.isnan(c) for c in first.chunks[0]):
        for k, (a, kind) in enumerate(zip(arrays, kinds)):
            if kind != "array" or a is first:
                continue
            if a.shape[0] != first.shape[0]:
                raise ValueError(f"data argument {k} has {a.shape[0]} rows, argument 0 has "
                                 f"{first.shape[0]}: every argument needs one row per example")
            if a.chunks[0] != first.chunks[0]:
                arrays[k] = a.rechunk({0: first.chunks[0]})
    # unoptimized graphs: X and y cut from one source (a file, one generated array) share
    # its keys, so each chunk is read or made once per step, not once per argument
    per_arg = []
    for a, kind in zip(arrays, kinds):
        if kind == "array":
            per_arg.append(list(a.to_delayed(optimize_graph=False).ravel()))
        else:
            per_arg.append(list(a.to_delayed(optimize_graph=False)))
    counts = {len(p) for p in per_arg}
    if len(counts) != 1:
        raise ValueError(f"the data arguments have {sorted(len(p) for p in per_arg)} chunks; "
                         "they must be cut at the same rows (rechunk them alike, or take "
                         "them from one dask DataFrame)")
    n = counts.pop()
    sizes: Optional[tuple] = None
    if first is not None and not any(math.isnan(c) for c in first.chunks[0]):
        sizes = tuple(int(c) for c in first.chunks[0])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int).tolist() if sizes else None
    chunks = [Chunk(i, n, starts[i] if starts else None, sizes[i] if sizes else None)
              for i in range(n)]
    trailing = []
    for a, kind in zip(arrays, kinds):
        if kind == "array":
            shape = a.shape[1:]
            trailing.append(None if any(math.isnan(s) for s in shape) else tuple(shape))
        else:
            trailing.append((len(a.columns),) if getattr(a, "ndim", 1) == 2 else ())
    return Blocks([tuple(p[i] for p in per_arg) for i in range(n)], chunks, trailing,
                  sum(sizes) if sizes else None)


def as_array(part: Any) -> np.ndarray:
    """A chunk of one argument as a numpy array (DataFrame partitions via ``to_numpy``)."""
    if not isinstance(part, np.ndarray):
        to_numpy = getattr(part, "to_numpy", None)
        part = np.asarray(to_numpy() if to_numpy is not None else part)
    if part.dtype == object:                 # numbers in an object column are numbers
        try:
            return part.astype(np.float64)
        except (TypeError, ValueError):
            return part                      # text: check() names the chunk and the row
    return part


def _first_text(a: np.ndarray, where: Chunk) -> str:
    for index in np.ndindex(a.shape):
        try:
            float(a[index])
        except (TypeError, ValueError):
            col = f", column {index[1]}" if len(index) > 1 else ""
            return f" ({a[index]!r} at {where.row(index[0])}{col})"
    return ""


def check(arrays: Sequence[np.ndarray], where: Chunk, trailing: Sequence[Any]) -> None:
    """Raise :class:`ChunkError` naming ``where`` if the chunk cannot be trained on."""
    rows = None
    for k, (a, want) in enumerate(zip(arrays, trailing)):
        if a.ndim == 0:
            raise ChunkError(f"{where}: argument {k} is 0-d; expected one row per example")
        if want is not None and a.shape[1:] != tuple(want):
            got = a.shape[1] if a.ndim > 1 else 1
            cols = want[0] if len(want) else 1
            raise ChunkError(f"{where}: argument {k} has {got} column(s), expected {cols} "
                             f"(row shape {a.shape[1:]} instead of {tuple(want)}); fix the "
                             "file or the code that wrote this chunk")
        if rows is None:
            rows = a.shape[0]
        elif a.shape[0] != rows:
            raise ChunkError(f"{where}: argument {k} has {a.shape[0]} rows, argument 0 has "
                             f"{rows}; every argument needs one row per example")
        if a.dtype.kind not in "biuf":
            raise ChunkError(f"{where}: argument {k} has dtype {a.dtype}{_first_text(a, where)}"
                             "; training data must be numbers (is there text in a numeric "
                             "column?)")
        if a.dtype.kind == "f" and not np.isfinite(np.add.reduce(a, axis=None)):
            # the sum is a NaN or inf exactly when an entry is (or, rarely, it overflowed):
            # one pass without a temporary; the entries are searched only then
            bad = ~np.isfinite(a)
            if bad.any():
                r, *c = np.argwhere(bad)[0]
                what = "nan" if np.isnan(a[(r, *c)]) else str(a[(r, *c)])
                col = f", column {c[0]}" if c else ""
                raise ChunkError(f"{where}: argument {k} has {what} at {where.row(int(r))}"
                                 f"{col}; drop or fill those rows before training (e.g. "
                                 "dask's dropna or fillna)")
