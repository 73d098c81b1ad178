"""Training data files read lazily through Dask: CSV, Parquet and Zarr.

:func:`read` returns a :class:`Table`: one dask array of float64 rows, the
features then the target in the last column, cut into row chunks.  Nothing is
read on the client beyond the head of a CSV file (to find its header and its
bytes per row) and the files' metadata; the workers read and parse the chunks
when they train on them.

* CSV (``.csv``): columns are the features then the target; a first line that is
  not all numbers is a header (``target=`` then picks the target column by name);
  blank lines and ``#`` comments are skipped.  The file is cut at line ends into
  blocks of about ``chunk_rows`` rows (from the bytes per line of its head); the
  workers count each block's rows once, then parse a block whenever it is used.
  A line that is not numbers, has the wrong number of fields, or holds nan or inf
  raises :class:`~symgrad.distributed.ChunkError` naming the chunk and the line.
* Parquet (``.parquet``, ``.pq``, or a directory of them): numeric columns, the
  last (or ``target=``) is the target.
* Zarr (``.zarr``): a 2-D numeric array, the last column is the target.

Every worker must see the file at the same path (one machine, or a shared file
system); the path is made absolute on the client.

>>> import pathlib, tempfile
>>> p = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
>>> _ = p.write_text("x,y\\n1,3\\n2,5\\n3,7\\n")
>>> t = read(str(p), chunk_rows=2, scheduler="sync")
>>> t.rows, t.features, t.columns, t.format
(3, 1, ['x', 'y'], 'csv')
>>> t.data.compute(scheduler="sync").tolist()
[[1.0, 3.0], [2.0, 5.0], [3.0, 7.0]]
"""
from __future__ import annotations

import io
import math
import os
import re
import warnings
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from symgrad.distributed.chunks import DEFAULT_CHUNK_ROWS, Chunk, ChunkError

__all__ = ["Table", "read", "FORMATS", "format_of"]

#: file name endings and the format each is read as
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".zarr": "zarr"}
SUPPORTED = "CSV (.csv), Parquet (.parquet, .pq) or Zarr (.zarr)"

#: bytes of a CSV file's head read on the client (header, bytes per line)
HEAD_BYTES = 1 << 16


@dataclass
class Table:
    """Training rows as one dask array: ``data[:, :-1]`` the features, ``data[:, -1]``
    the target (float64), and where they came from.

    Train on ``data`` itself (one argument, split inside the loss): ``X`` and ``y``
    are convenient slices, but passing both to ``DataParallel`` makes Dask read
    each chunk twice.
    """

    data: Any
    path: str
    format: str
    columns: list

    @property
    def rows(self) -> int:
        return int(self.data.shape[0])

    @property
    def features(self) -> int:
        return int(self.data.shape[1]) - 1

    @property
    def chunks(self) -> int:
        return len(self.data.chunks[0])

    @property
    def X(self) -> Any:
        return self.data[:, :-1]

    @property
    def y(self) -> Any:
        return self.data[:, -1]


def format_of(path: str) -> str:
    """``"csv"``, ``"parquet"`` or ``"zarr"`` from the file name (a directory of
    Parquet files or a Zarr store counts too); ValueError naming the supported ones.

    >>> format_of("train.parquet"), format_of("x.CSV")
    ('parquet', 'csv')
    >>> format_of("data.json")
    Traceback (most recent call last):
    ...
    ValueError: cannot tell the format of data.json from its name: use CSV (.csv), Parquet (.parquet, .pq) or Zarr (.zarr)
    """
    ext = os.path.splitext(path.rstrip("/\\"))[1].lower()
    if ext in FORMATS:
        return FORMATS[ext]
    if os.path.isdir(path):
        names = os.listdir(path)
        if any(n in (".zarray", "zarr.json") for n in names):
            return "zarr"
        if any(n.endswith((".parquet", ".pq")) for n in names):
            return "parquet"
    raise ValueError(f"cannot tell the format of {path} from its name: use {SUPPORTED}")


def read(path: str, chunk_rows: Optional[int] = None, *, target: Optional[str] = None,
         client: Any = None, scheduler: Any = None) -> Table:
    """``path`` as a lazy :class:`Table` of about ``chunk_rows`` rows per chunk.

    ``chunk_rows=None`` keeps a Parquet file's partitions and a Zarr array's chunks
    and cuts a CSV file into blocks of about 10^6 rows.  ``target`` names the target
    column (a CSV header or a Parquet column); default the last column.  A CSV file's
    rows are counted on ``client`` (a ``distributed.Client``; default: Dask's current
    scheduler, or ``scheduler=`` for ``dask.compute``).
    """
    if chunk_rows is not None and (isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int)
                                   or chunk_rows < 1):
        raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    kind = format_of(path)
    if not os.path.exists(path):
        raise FileNotFoundError(2, "No such file or directory", path)
    full = os.path.abspath(path)
    if kind == "csv":
        data, columns = _read_csv(full, path, chunk_rows, target, client, scheduler)
    elif kind == "parquet":
        data, columns = _read_parquet(full, path, chunk_rows, target)
    else:
        data, columns = _read_zarr(full, path, chunk_rows, target)
    if data.shape[1] < 2:
        raise ValueError(f"{path} has {data.shape[1]} column(s); training needs the features "
                         "then the target, at least 2 columns")
    return Table(data, path, kind, columns)


# ------------------------------------------------------------------ Parquet, Zarr
def _read_parquet(full: str, path: str, chunk_rows: Optional[int],
                  target: Optional[str]) -> tuple:
    import dask.dataframe as dd
    import pandas as pd

    try:
        df = dd.read_parquet(full)
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"cannot read {path} as Parquet: {exc}") from None
    columns = [str(c) for c in df.columns]
    text = [str(c) for c, t in df.dtypes.items()
            if not (pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t))]
    if text:
        raise ValueError(f"{path}: column(s) {', '.join(text)} are not numeric; training "
                         "needs numbers in every column (drop or encode those columns)")
    order = _order(columns, target, path)
    arr = df[[df.columns[k] for k in order]].to_dask_array(lengths=True).astype(np.float64)
    if chunk_rows is not None:
        arr = arr.rechunk({0: chunk_rows, 1: -1})
    return arr, [columns[k] for k in order]


def _read_zarr(full: str, path: str, chunk_rows: Optional[int], target: Optional[str]) -> tuple:
    import dask.array as da

    if target is not None:
        raise ValueError(f"target= picks a column by name, and the Zarr array {path} has no "
                         "column names: put the target in the last column")
    try:
        arr = da.from_zarr(full)
    except Exception as exc:  # zarr raises its own classes for a group, a missing array...
        raise ValueError(f"cannot read {path} as a Zarr array: {type(exc).__name__}: {exc}") \
            from None
    if arr.ndim != 2 or arr.dtype.kind not in "biuf":
        raise ValueError(f"{path} holds a {arr.ndim}-d {arr.dtype} array; training needs a "
                         "2-D numeric array (rows x (features + target))")
    arr = arr.astype(np.float64).rechunk({0: chunk_rows or arr.chunks[0], 1: -1})
    cols = arr.shape[1]
    return arr, [f"x{k}" for k in range(cols - 1)] + ["y"]


def _order(columns: list, target: Optional[str], path: str) -> list:
    """Column indices: the features in file order, then the target."""
    if target is None:
        t = len(columns) - 1
    elif target in columns:
        t = columns.index(target)
    else:
        raise ValueError(f"{path} has no column {target!r} for the target; its columns are "
                         f"{', '.join(columns)}")
    return [k for k in range(len(columns)) if k != t] + [t]


# ------------------------------------------------------------------ CSV
@dataclass(frozen=True)
class _CsvBlock:
    """What a worker needs to parse one block: where it is in the file and the table."""

    path: str
    chunk: Chunk
    first_line: int          # 1-based line number of the block's first line
    header_line: int         # 0 when the header is not in this block
    columns: int
    order: tuple


def _head(path: str) -> tuple:
    """``(header_fields or None, header_line, fields, bytes_per_line)`` from the file's head."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
        lines = head.split(b"\n")
        if len(lines) > 1:
            lines = lines[:-1]                 # the last piece may be a partial line
        first, at = None, 0
        for k, raw in enumerate(lines, start=1):
            if _content(raw):
                first, at = raw, k
                break
        if first is None:                     # comments or blanks fill the head
            for k, raw in enumerate(fh, start=len(lines) + 1):
                if _content(raw):
                    first, at = raw, k
                    break
    if first is None:
        raise ValueError(f"{path} has no data rows; give the features then the target, "
                         "comma-separated, one row per line")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a CSV text file (line {at} is not UTF-8)") from None
    fields = [f.strip() for f in _content(first).decode("utf-8").split(",")]
    try:
        [float(f) for f in fields]
        header = None
    except ValueError:
        header = [f.strip().strip('"') for f in text.split("#", 1)[0].split(",")]
    per_line = max(1.0, sum(len(ln) + 1 for ln in lines) / max(1, len(lines)))
    return header, at if header is not None else 0, len(fields), per_line


def _content(raw: bytes) -> bytes:
    """A line without its comment and surrounding blanks (empty: not a data line)."""
    return raw.split(b"#", 1)[0].strip()


_BLANK = re.compile(rb"(?m)^[ \t\r]*(?:\n|\Z)")


def _count(block: bytes) -> tuple:
    """``(lines, data_lines)`` of a block (its lines end with b"\\n", the last maybe not)."""
    lines = block.count(b"\n") + (1 if block and not block.endswith(b"\n") else 0)
    if b"#" not in block and not _BLANK.search(block, 0, len(block) - 1 if block else 0):
        return lines, lines
    return lines, sum(1 for raw in _split(block) if _content(raw))


def _split(block: bytes) -> list:
    parts = block.split(b"\n")
    return parts[:-1] if block.endswith(b"\n") else parts


def _parse(block: bytes, where: _CsvBlock) -> np.ndarray:
    """The block's rows as float64, the target moved last; ChunkError names a bad line."""
    skip = where.header_line - where.first_line + 1 if where.header_line else 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = np.loadtxt(io.BytesIO(block), delimiter=",", comments="#", skiprows=skip,
                             dtype=np.float64, ndmin=2)
        ok = arr.shape == (where.chunk.rows, where.columns) and np.isfinite(arr).all()
    except ValueError:
        ok = False
    if not ok:
        arr = _parse_carefully(block, where)
    return arr[:, list(where.order)] if list(where.order) != list(range(where.columns)) \
        else arr


def _parse_carefully(block: bytes, where: _CsvBlock) -> np.ndarray:
    """Line by line, for the first bad line's number (and blank lines of spaces)."""
    name = os.path.basename(where.path)
    rows = []
    for k, raw in enumerate(_split(block)):
        line = where.first_line + k
        text = _content(raw)
        if not text or line == where.header_line:
            continue
        fields = text.split(b",")
        if len(fields) != where.columns:
            raise ChunkError(f"{where.chunk} of {name}: line {line} has {len(fields)} "
                             f"field(s), expected {where.columns} (the features then the "
                             "target); fix or delete that line")
        row = []
        for c, f in enumerate(fields, start=1):
            try:
                v = float(f)
            except ValueError:
                shown = f.strip().decode("utf-8", "replace")
                raise ChunkError(f"{where.chunk} of {name}: line {line}, field {c} is not a "
                                 f"number: {shown!r}; every field must be a number") from None
            if not math.isfinite(v):
                raise ChunkError(f"{where.chunk} of {name}: line {line}, field {c} is {v}; "
                                 "values must be finite (drop or fill those rows)")
            row.append(v)
        rows.append(row)
    arr = np.array(rows, dtype=np.float64).reshape(len(rows), where.columns)
    if arr.shape[0] != where.chunk.rows:     # the file changed since its rows were counted
        raise ChunkError(f"{where.chunk} of {name}: {arr.shape[0]} rows now, "
                         f"{where.chunk.rows} when the file was opened; was it changed?")
    return arr


def _read_csv(full: str, path: str, chunk_rows: Optional[int], target: Optional[str],
              client: Any, scheduler: Any) -> tuple:
    import dask
    import dask.array as da
    from dask.bytes import read_bytes

    header, header_line, ncols, per_line = _head(full)
    if header is not None:
        columns = header
        if len(columns) != ncols:
            raise ValueError(f"{path}: the header has {len(columns)} names and the first row "
                             f"{ncols} fields")
    elif target is not None:
        raise ValueError(f"target={target!r} names a column, and {path} has no header row: "
                         "add one (e.g. x1,x2,y) or put the target in the last column")
    else:
        columns = [f"x{k}" for k in range(ncols - 1)] + ["y"] if ncols > 2 else ["x", "y"]
    order = _order(columns, target, path)
    blocksize = max(1, int((chunk_rows or DEFAULT_CHUNK_ROWS) * per_line))
    _, [pieces] = read_bytes(full, delimiter=b"\n", blocksize=blocksize, sample=False)
    tasks = [dask.delayed(_count, pure=True)(p) for p in pieces]
    counts = client.gather(client.compute(tasks)) if client is not None \
        else dask.compute(*tasks, scheduler=scheduler)
    lines, kept = 1, []
    for k, (n_lines, n_rows) in enumerate(counts):
        if lines <= header_line < lines + n_lines:
            n_rows -= 1
        if n_rows:
            kept.append((k, lines, n_rows))
        lines += n_lines
    if not kept:
        raise ValueError(f"{path} has no data rows; give the features then the target, "
                         "comma-separated, one row per line")
    total, row = len(kept), 0
    parts = []
    for i, (k, first, n_rows) in enumerate(kept):
        hline = header_line if first <= header_line < first + counts[k][0] else 0
        where = _CsvBlock(full, Chunk(i, total, row, n_rows), first, hline, ncols, tuple(order))
        parts.append(da.from_delayed(dask.delayed(_parse, pure=True)(pieces[k], where),
                                     shape=(n_rows, ncols), dtype=np.float64))
        row += n_rows
    arr = da.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
    return arr, [columns[k] for k in order]
