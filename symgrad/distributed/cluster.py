"""Which Dask cluster ``sg.distributed`` runs on, and the LocalCluster it starts for you.

>>> from symgrad.distributed.cluster import describe
>>> describe("local"), describe("tcp://10.0.0.5:8786")
('a LocalCluster on this machine', 'the Dask scheduler at tcp://10.0.0.5:8786')
"""
from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from typing import Any, Optional

import distributed

__all__ = ["client", "close", "describe"]

#: why a LocalCluster cannot start from a script's top level (its workers import the script)
SPAWN_HINT = ("Dask's worker processes import your script again: put the code that starts "
              "sg.distributed under `if __name__ == \"__main__\":`")

_LOCK = threading.Lock()
_LOCAL: dict = {}          # (workers, memory_limit, threads) -> (cluster, client)
_REMOTE: dict = {}         # address -> client


def describe(scheduler: Any) -> str:
    """A few words naming ``scheduler`` for messages and progress lines."""
    if scheduler in (None, "local"):
        return "a LocalCluster on this machine"
    if isinstance(scheduler, distributed.Client):
        return f"the Dask client {scheduler.scheduler.address}"
    return f"the Dask scheduler at {scheduler}"


def client(scheduler: Any = None, *, workers: Optional[int] = None,
           memory_limit: Any = "auto", threads_per_worker: int = 1) -> "distributed.Client":
    """The ``distributed.Client`` that ``sg.distributed`` runs on.

    ``scheduler`` is

    * ``None``: the Dask client already active in this process (``distributed.Client()``
      made by the caller), else the LocalCluster below;
    * ``"local"``: a LocalCluster on this machine, started once per process and kept
      until exit (or :func:`close`): ``workers`` processes (default: one per core),
      ``threads_per_worker`` threads each, ``memory_limit`` per worker (bytes or a
      string such as ``"2GiB"``; ``"auto"`` splits the machine's memory evenly), no
      dashboard.  Each distinct setting has its own cluster;
    * an address, ``"tcp://host:port"``: the scheduler of an existing cluster;
    * a ``distributed.Client``: used as it is.
    """
    if isinstance(scheduler, distributed.Client):
        return scheduler
    if scheduler is None:
        try:
            return distributed.get_client()
        except ValueError:
            scheduler = "local"
    if scheduler == "local":
        return _local(workers, memory_limit, threads_per_worker)
    if not isinstance(scheduler, str) or "://" not in scheduler:
        raise ValueError(f"scheduler must be None, 'local', an address such as "
                         f"'tcp://host:8786' or a distributed.Client, got {scheduler!r}")
    if workers is not None:
        raise ValueError("workers= applies to the LocalCluster this function starts; an "
                         f"existing cluster at {scheduler} has the workers it has")
    with _LOCK:
        hit = _REMOTE.get(scheduler)
        if hit is not None and hit.status == "running":
            return hit
    try:
        c = distributed.Client(scheduler, timeout="10s", set_as_default=False)
    except OSError as exc:
        raise ConnectionError(f"no Dask scheduler answered at {scheduler} ({exc}); start one "
                              "with `dask scheduler` and `dask worker ADDRESS`, or use "
                              "--scheduler local") from None
    with _LOCK:
        _REMOTE[scheduler] = c
    return c


def _local(workers: Optional[int], memory_limit: Any, threads: int) -> "distributed.Client":
    n = workers if workers is not None else (os.cpu_count() or 1)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    key = (n, memory_limit, threads)
    with _LOCK:
        hit = _LOCAL.get(key)
        if hit is not None and hit[1].status == "running":
            return hit[1]
        if getattr(sys.modules.get("__main__"), "__name__", None) == "__mp_main__":
            raise RuntimeError(SPAWN_HINT)
        try:
            cluster = distributed.LocalCluster(
                n_workers=n, threads_per_worker=threads, processes=True,
                memory_limit=memory_limit, dashboard_address=None, host="127.0.0.1",
                # no dashboard, and the scheduler's small HTTP server on a free port
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                silence_logs=logging.CRITICAL)  # errors reach the caller
        except RuntimeError as exc:
            main = sys.modules.get("__main__")
            hint = f"; {SPAWN_HINT}" if getattr(main, "__file__", None) else ""
            raise RuntimeError(f"the LocalCluster did not start ({exc}){hint}") from None
        _LOCAL[key] = (cluster, distributed.Client(cluster, set_as_default=False))
        return _LOCAL[key][1]


def close(client: Any = None) -> None:
    """Stop the LocalCluster that :func:`client` started and returned as ``client`` (or
    disconnect from the cluster at an address), or all of them (``client=None``); the
    next call starts or connects anew."""
    with _LOCK:
        remote = [_REMOTE.pop(a) for a, c in list(_REMOTE.items())
                  if client is None or c is client]
        keys = [k for k, (_, c) in _LOCAL.items() if client is None or c is client]
        clusters = [_LOCAL.pop(k) for k in keys]
    for c in remote:                   # first: they may be connected to a LocalCluster
        c.close()
    for cluster, c in clusters:
        c.close()
        cluster.close()


atexit.register(close)
