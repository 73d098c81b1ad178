"""``symgrad verify --scheduler local|ADDRESS``: the sweep as tasks on Dask workers.

One task per op (a table row) and one per DAG block (Note [DAG blocks] in
verify/cli.py); results are put back in op order and block order, so the report
is the one ``symgrad verify`` prints without ``--scheduler``, for any number of
workers (apart from timing figures).  Needs ``pip install symgrad[dask]``; the
cluster comes from :func:`symgrad.distributed.client`.

An injected bug (``SYMGRAD_VERIFY_INJECT``) is not inherited by workers, which are
other processes, possibly on other machines: each task enters it itself.

>>> with injected("exp:scale"):
...     from numeric.ops import Op
...     from numeric.vjps import VJP
...     VJP[Op.EXP][0].__name__
'wrong'
"""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator, Optional, Sequence

__all__ = ["connect", "releasing", "sweep", "injected"]


def connect(scheduler: Any, workers: Optional[int] = None) -> Any:
    """The ``distributed.Client`` for ``--scheduler`` (``"local"``, an address, or a Client).

    Without Dask installed: a one-line ``CommandFailed`` (exit status 1) ending
    ``pip install symgrad[dask]``.
    """
    try:
        from symgrad import distributed as sgd
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("dask", "distributed"):
            raise
        from symgrad.cli_formula import CommandFailed
        from symgrad.errors import DASK_HINT
        # exit status 1 (a missing optional tool), as `symgrad train --scheduler` and --plot
        raise CommandFailed(DASK_HINT.replace("sg.distributed", "--scheduler", 1)) from None
    return sgd.client(scheduler, workers=workers)


@contextlib.contextmanager
def releasing(client: Any, scheduler: Any) -> Iterator[Any]:
    """Close ``client`` on exit if :func:`connect` opened it for an address.

    The LocalCluster's client is kept for the process (``symgrad.distributed.client``
    reuses it), and a ``distributed.Client`` passed in belongs to the caller.
    """
    try:
        yield client
    finally:
        if isinstance(scheduler, str) and scheduler != "local":
            from symgrad.distributed import close
            close(client)


_LOCK = threading.Lock()
_ACTIVE: dict = {"spec": None, "users": 0, "ctx": None}


@contextlib.contextmanager
def injected(spec: Optional[str]) -> Iterator[None]:
    """Run the body with the bug ``spec`` (``op:kind[:argnum]``) injected; nothing if empty.

    Tasks running at the same time in one worker (threads) share one patch: the first
    applies it and the last restores the VJP table, so none runs half-patched.
    """
    if not spec:
        yield
        return
    from verify.mutate import parse_injection, perturbed

    with _LOCK:
        if _ACTIVE["users"] == 0:
            ctx = perturbed(*parse_injection(spec))
            ctx.__enter__()
            _ACTIVE.update(spec=spec, ctx=ctx)
        elif _ACTIVE["spec"] != spec:
            raise RuntimeError(f"this worker is running tasks with injected bug "
                               f"{_ACTIVE['spec']!r}; cannot inject {spec!r} at the same time")
        _ACTIVE["users"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _ACTIVE["users"] -= 1
            if _ACTIVE["users"] == 0:
                ctx, _ACTIVE["ctx"], _ACTIVE["spec"] = _ACTIVE["ctx"], None, None
                ctx.__exit__(None, None, None)


#: seconds between a DAG block's looks at whether an earlier block has failed
POLL_SECONDS = 0.25


def _stopper(limit: str, index: int) -> Any:
    """``stop()`` for task ``index``: True once a task before it has failed.

    The client keeps the index of the first failing DAG block in the Dask ``Variable``
    ``limit``; a block after it would not be reported, so it stops instead of running
    (and shrinking) on.  Cancelling its future cannot stop a task already running.
    """
    import time

    import distributed

    var = distributed.Variable(limit)
    state = {"next": time.monotonic() + POLL_SECONDS, "stop": False}

    def stop() -> bool:
        now = time.monotonic()
        if not state["stop"] and now >= state["next"]:
            state["next"] = now + POLL_SECONDS
            try:
                state["stop"] = var.get(timeout=10) < index
            except Exception:  # noqa: BLE001 - the sweep is over (the Variable is deleted)
                state["stop"] = True
        return state["stop"]
    return stop


def _run_task(item: tuple, n: int, seed: int, passes: Any, inject: Optional[str],
              limit: str, index: int) -> dict:
    """On a worker: one op's row or one DAG block, with the injected bug if any."""
    from verify.cli import _task

    stop = _stopper(limit, index) if item[0] == "dags" else None
    with injected(inject):
        return _task(item, n, seed, passes, stop)


def sweep(client: Any, ops: Sequence, blocks: Sequence[tuple[int, int]], n: int, seed: int,
          passes: Any, *, inject: Optional[str] = None, bar: Any = None) -> tuple[list, dict]:
    """Rows for ``ops`` (in order) and the merged DAG ``blocks``, computed on ``client``'s workers.

    The same as ``verify.cli._sweep_rows`` on one machine: once a DAG block fails,
    the blocks after it, which the report would not include, are cancelled or stopped.
    """
    import uuid

    import distributed

    from verify.cli import _label, _merge_dags

    items = [("op", op) for op in ops] + [("dags", k, s) for k, s in blocks]
    limit = distributed.Variable(f"symgrad-verify-{uuid.uuid4().hex}", client=client)
    limit.set(len(items))
    futures = [client.submit(_run_task, item, n, seed, passes, inject, limit.name, i,
                             pure=False) for i, item in enumerate(items)]
    where = {f.key: i for i, f in enumerate(futures)}
    results: list = [None] * len(items)
    pending = set(futures)
    try:
        while pending:
            with client.as_current():           # distributed.wait asks for the current client
                done = distributed.wait(list(pending), return_when="FIRST_COMPLETED").done
            for f in sorted(done, key=lambda f: where[f.key]):
                if f not in pending:
                    continue
                pending.discard(f)
                i = where[f.key]
                results[i] = f.result()     # a task's exception is raised here, as locally
                if bar is not None:
                    bar.step(_label(items[i]))
                if items[i][0] == "dags" and results[i]["failures"]:
                    limit.set(i)
                    later = [g for g in pending if where[g.key] > i]
                    client.cancel(later)
                    pending.difference_update(later)
    finally:
        client.cancel(list(pending))
        limit.set(-1)    # stops any block still running
        limit.delete()
    n_ops = len(ops)
    return results[:n_ops], _merge_dags(results[n_ops:])
