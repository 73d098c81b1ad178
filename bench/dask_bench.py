"""``sg.distributed`` on a 2-worker LocalCluster vs in-memory numpy: one full-batch GD epoch.

Linear regression, 10^7 rows x 10 float64 columns (``--quick``: 10^5), MSE loss.

* numpy: the data in this process, one epoch = ``r = X@w + b - y``,
  ``grad_w = 2 X.T r / n``, ``grad_b = 2 mean(r)``, the SGD update (one BLAS thread,
  as in every workload; a second row runs the same in a subprocess with two BLAS
  threads, so both systems may use both cores).
* symgrad.distributed: ``X`` and ``y`` generated on the workers (``dask.array`` with
  a seeded Generator, chunks of 10^6 rows), persisted before timing;
  ``DataParallel(loss, [w, b]).step(SGD, X, y)`` with
  ``loss = ((X @ w + b - y) ** 2).mean()``: the parameters sent to the workers, the
  compiled loss and gradient per chunk, the fixed-order tree sum, the update.

Times are **wall-clock** (``time.perf_counter``), not the harness's CPU time: the
distributed work runs in the worker processes, and the scheduler's latency is part
of what is measured.  Rounds interleave the two systems; the numpy in-process run
starts from the data gathered from the workers, and both must end at the same
parameters (to 1e-9), so the bench checks the distributed gradient too.

The larger-than-memory run (full suite only): a new LocalCluster of 2 workers with a
1 GiB memory limit each, ``X``, ``y`` of 10^8 rows generated lazily (not persisted;
8.8 GB, 4x the workers' memory), one epoch; its throughput in rows/s, and a check that
no worker was restarted (worker pids before and after).  For scale, the rows/s of
generating the data alone (summed on the workers, nothing else): the epoch cannot
beat it.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

from bench.harness import _quantile, available, format_generic, format_rows

COLS, LR, SEED = 10, 0.1, 0
W_TRUE = np.arange(1.0, COLS + 1)
B_TRUE, NOISE = 0.5, 0.1

#: the numpy epoch in another process with 2 BLAS threads (same work, same sizes)
_NUMPY_2T = """
import statistics, sys, time
import numpy as np
n, rounds = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
X = rng.standard_normal((n, 10)); y = X @ np.arange(1.0, 11) + 0.5
w, b, ts = np.zeros(10), 0.0, []
for i in range(rounds + 1):
    t0 = time.perf_counter()
    r = X @ w + b - y
    gw, gb = 2 * (X.T @ r) / n, 2 * r.mean()
    w, b = w - 0.1 * gw, b - 0.1 * gb
    ts.append(time.perf_counter() - t0)
print(" ".join(repr(t) for t in ts[1:]))
"""


def make_data(n: int, chunk: int, seed: int = SEED) -> tuple:
    """Lazy dask arrays ``X`` (n x 10) and ``y = X @ W_TRUE + 0.5 + noise``, one Generator."""
    import dask.array as da

    rng = da.random.default_rng(seed)
    X = rng.standard_normal((n, COLS), chunks=(chunk, COLS))
    y = X @ W_TRUE + B_TRUE + NOISE * rng.standard_normal(n, chunks=chunk)
    return X, y


def numpy_epoch(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> tuple:
    """One full-batch GD step on the MSE; the new ``(w, b)``."""
    r = X @ w + b - y
    gw, gb = 2 * (X.T @ r) / X.shape[0], 2 * r.mean()
    return w - LR * gw, b - LR * gb


def gather(client: Any, a: Any) -> np.ndarray:
    """A persisted dask array's chunks fetched into this process and joined here.

    (``a.compute()`` would join them on a worker, leaving it with copies of other
    workers' chunks and slowing the epochs after it by half.)
    """
    futures = sorted(client.futures_of(a), key=lambda f: f.key[1:])
    return np.concatenate(client.gather(futures))


def _model() -> tuple:
    import symgrad as sg

    w = sg.zeros(COLS, requires_grad=True, dtype="float64")
    b = sg.zeros((), requires_grad=True, dtype="float64")

    def loss(X: Any, y: Any) -> Any:
        return ((X @ w + b - y) ** 2).mean()
    return w, b, loss


def _row(workload: str, system: str, times: list[float], base: float, rounds: int,
         note: str = "") -> dict:
    med = statistics.median(times)
    return {"workload": workload, "system": system, "median_ms": med * 1e3,
            "p25_ms": _quantile(times, 0.25) * 1e3, "p75_ms": _quantile(times, 0.75) * 1e3,
            "per_step_ms": med * 1e3, "ratio": med / base, "baseline": "numpy",
            "rounds": rounds, "note": note}


def _numpy_two_threads(n: int, rounds: int) -> list[float]:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="2",
               MKL_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", _NUMPY_2T, str(n), str(rounds)], env=env,
                         capture_output=True, text=True, timeout=600, check=True)
    return [float(t) for t in out.stdout.split()]


def _profile(client: Any, step: Any) -> dict:
    """Where one epoch's wall time goes: the per-chunk tasks on the workers vs the rest."""
    from distributed import get_task_stream

    with get_task_stream(client) as ts:
        t0 = time.perf_counter()
        step()
        wall = time.perf_counter() - t0
    chunk, transfer, busy = [], 0.0, {}
    for t in ts.data:
        key = t["key"][0] if isinstance(t["key"], tuple) else t["key"]
        for s in t["startstops"]:
            d = s["stop"] - s["start"]
            if s["action"] == "compute":
                busy[t["worker"]] = busy.get(t["worker"], 0.0) + d
                if str(key).startswith("_chunk_task"):
                    chunk.append(d)
            elif s["action"] == "transfer":
                transfer += d
    return {"wall_ms": wall * 1e3, "chunks": len(chunk),
            "chunk_task_ms": statistics.median(chunk) * 1e3 if chunk else float("nan"),
            "busiest_worker_ms": max(busy.values(), default=0.0) * 1e3,
            "transfer_ms": transfer * 1e3}


def in_memory(n: int, chunk: int, rounds: int) -> tuple[list[dict], dict]:
    """The persisted run: timing rows (compare's format) and the profile of one epoch."""
    import symgrad as sg
    from distributed import wait
    from symgrad import distributed as sgd

    client = sgd.client("local", workers=2)
    t0 = time.perf_counter()
    X, y = client.persist(list(make_data(n, chunk)))
    with client.as_current():                # symgrad's LocalCluster is not the default
        wait([X, y])
    persist_s = time.perf_counter() - t0
    Xn, yn = gather(client, X), gather(client, y)  # the same numbers, in this process

    w, b, loss = _model()
    dp = sgd.DataParallel(loss, [w, b], client=client)
    opt = sg.optim.SGD([w, b], lr=LR)
    wn, bn = np.zeros(COLS), 0.0
    steps = 0

    def dask_epoch() -> None:
        dp.step(opt, X, y)

    # warm-up: traces the compiled loss on every worker thread, settles data placement
    for _ in range(2):
        dask_epoch()
        wn, bn = numpy_epoch(Xn, yn, wn, bn)
        steps += 1
    times: dict[str, list[float]] = {"numpy": [], "dask": []}
    for r in range(rounds):
        for name in (("numpy", "dask") if r % 2 == 0 else ("dask", "numpy")):
            t0 = time.perf_counter()
            if name == "numpy":
                wn, bn = numpy_epoch(Xn, yn, wn, bn)
            else:
                dask_epoch()
            times[name].append(time.perf_counter() - t0)
        steps += 1
    np.testing.assert_allclose(w.value, wn, rtol=0, atol=1e-9)
    np.testing.assert_allclose(float(b.value), bn, rtol=0, atol=1e-9)
    prof = _profile(client, dask_epoch)
    prof.update(persist_s=persist_s, steps=steps + 1)
    del Xn, yn

    base = statistics.median(times["numpy"])
    work = f"{n:.0e} x {COLS} GD epoch".replace("e+0", "e")
    rows = [_row(work, "numpy", times["numpy"], base, rounds, "in memory, 1 BLAS thread"),
            _row(work, "symgrad.distributed", times["dask"], base, rounds,
                 f"LocalCluster 2 workers x 1 thread, chunks of {chunk} rows, persisted")]
    two = _numpy_two_threads(n, rounds)
    rows.append(_row(work, "numpy, 2 BLAS threads", two, base, rounds,
                     "same epoch in a subprocess"))
    return rows, prof


def larger_than_memory(n: int, chunk: int, limit: str) -> dict:
    """One epoch over lazily generated data of ``n`` rows; rows/s, and no worker restarts."""
    import symgrad as sg
    from symgrad import distributed as sgd

    client = sgd.client("local", workers=2, memory_limit=limit)
    before = client.run(os.getpid)
    total = sum(w["memory_limit"] for w in client.scheduler_info()["workers"].values())
    X, y = make_data(n, chunk)
    data_bytes = X.nbytes + y.nbytes
    w, b, loss = _model()
    dp = sgd.DataParallel(loss, [w, b], client=client)
    opt = sg.optim.SGD([w, b], lr=LR)
    dp.gradient(*make_data(4 * chunk, chunk, seed=SEED + 1))   # traces on the workers
    t0 = time.perf_counter()
    value = dp.step(opt, X, y)
    seconds = time.perf_counter() - t0
    after = client.run(os.getpid)
    if after != before:
        raise RuntimeError(f"workers were restarted during the larger-than-memory run: "
                           f"{before} -> {after}")
    # at w = 0, b = 0 the loss is mean(y^2) ~ |W_TRUE|^2 + B_TRUE^2 + NOISE^2
    expect = W_TRUE @ W_TRUE + B_TRUE ** 2 + NOISE ** 2
    if not abs(value - expect) < 1e-2 * expect:
        raise AssertionError(f"larger-than-memory loss {value}, expected about {expect}")
    # the floor: generating the data alone (a fifth of it), summed where it is made
    Xg, yg = make_data(n // 5, chunk, seed=SEED + 2)
    t0 = time.perf_counter()
    client.compute([Xg.sum(), yg.sum()], sync=True)
    generate = (n // 5) / (time.perf_counter() - t0)
    sgd.close()
    return {"rows": n, "data_GB": data_bytes / 1e9, "workers_limit_GB": total / 1e9,
            "data/limit": data_bytes / total, "epoch_s": seconds, "rows_per_s": n / seconds,
            "generate_only_rows_per_s": generate, "workers_restarted": 0}


def run(quick: bool = False) -> list[dict]:
    if not (available("dask") and available("distributed")):
        return [{"section": "setup", "note": "skipped: dask is not installed "
                 "(pip install symgrad[dask])"}]
    from symgrad import distributed as sgd

    n, chunk, rounds = (10**5, 25_000, 3) if quick else (10**7, 10**6, 7)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    try:
        rows, prof = in_memory(n, chunk, rounds)
        out = [{"section": "setup", "rows": n, "chunk_rows": chunk, "workers": 2,
                "persist_s": prof.pop("persist_s"), "load_avg_1min": load}]
        out += [dict(r, section="epoch") for r in rows]
        out.append(dict(prof, section="profile"))
        if quick:
            out.append({"section": "big", "note": "skipped in --quick"})
        else:
            out.append(dict(larger_than_memory(10**8, 10**6, "1GiB"), section="big"))
    finally:
        sgd.close()
    return out


def format_table(rows: list[dict]) -> str:
    """The epoch table in ``compare``'s format, then the profile and larger-than-memory runs."""
    parts = []
    for section in ("setup", "epoch", "profile", "big"):
        these = [{k: v for k, v in r.items() if k != "section"} for r in rows
                 if r.get("section") == section]
        if not these:
            continue
        title = {"setup": "setup", "epoch": "one epoch (wall-clock)",
                 "profile": "one symgrad.distributed epoch, from the task stream",
                 "big": "larger than memory (lazy, 2 workers x 1 GiB)"}[section]
        table = format_rows(these) if section == "epoch" else format_generic(these)
        parts.append(f"{title}:\n\n{table}")
    return "\n\n".join(parts)


if __name__ == "__main__":
    print(format_table(run(quick="--quick" in sys.argv)))
