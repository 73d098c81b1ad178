"""``sg.distributed``: data-parallel gradients and training on Dask.

Needs the optional extra (``pip install symgrad[dask]``, which pulls
``dask[distributed]``); without it, ``sg.distributed`` raises a one-line
``ModuleNotFoundError`` saying so, and ``import symgrad`` never imports Dask.

* :func:`client` -- the Dask client to run on: ``None`` starts (once per process) a
  ``LocalCluster`` with one worker per core and a memory limit per worker, unless a
  Dask client is already active; ``"local"``, an address ``"tcp://host:port"`` or a
  ``distributed.Client`` choose explicitly.
* :class:`DataParallel` -- a loss and its parameters; ``gradient(*data)`` runs the
  loss's compiled program on every chunk of the data on the workers and sums the
  chunks' results in a fixed-order tree, so the full-batch gradient equals the
  in-memory one to rounding and is the same from run to run; ``backward(*data)``
  puts it in ``.grad``; ``step(optimizer, *data)`` and ``fit(...)`` train with any
  ``sg.optim`` optimizer, full batch or one chunk per step.
* :func:`fit` -- ``DataParallel(loss, params).fit(...)`` in one call.
* :func:`read` -- a CSV, Parquet or Zarr file as a lazy :class:`Table` of row chunks
  (``table.X``, ``table.y``: dask arrays), read by the workers as they train.
* :class:`ChunkError` -- a chunk of data that cannot be used (NaN, a wrong column
  count, text): the message names the chunk; parameters are left as they were.

See docs/scale-out.md for a laptop run and how to point the same code at a cluster.
"""
from __future__ import annotations

from symgrad.errors import DASK_HINT

try:
    import dask  # noqa: F401
    import dask.array  # noqa: F401
    import distributed  # noqa: F401
except ImportError:
    raise ModuleNotFoundError(DASK_HINT, name="dask") from None

from symgrad.distributed.chunks import ChunkError  # noqa: E402
from symgrad.distributed.cluster import client, close  # noqa: E402
from symgrad.distributed.files import Table, read  # noqa: E402
from symgrad.distributed.parallel import DataParallel, fit  # noqa: E402

__all__ = ["client", "close", "DataParallel", "fit", "ChunkError", "read", "Table"]
