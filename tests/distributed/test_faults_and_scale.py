"""Issue 14: a worker killed mid-epoch, data four times the workers' memory, client=None,
and what happens without the dask extra."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import symgrad as sg

da = pytest.importorskip("dask.array")
sgd = pytest.importorskip("symgrad.distributed")

D = 10
W_STAR = np.arange(1.0, D + 1) / 4
B_STAR = 0.5


def slow_rows(block):
    """A chunk that takes a while to make, so a worker can be killed while making it."""
    time.sleep(0.08)
    return block


def signs(rows):
    """Row r's features: +-1 by the bits of r.  Every 1024 rows the columns are orthogonal
    with mean 0, so one gradient step of lr 0.5 on the mean squared error is Newton's."""
    return 1.0 - 2.0 * ((rows[:, None] >> np.arange(D)) & 1)


def targets(rows):
    return signs(rows) @ W_STAR + B_STAR


def test_worker_killed_mid_epoch_result_unchanged():
    client = sgd.client("local", workers=2, memory_limit="1GiB")
    try:
        rng = np.random.default_rng(0)
        X = da.from_array(rng.normal(size=(4_000, 3)), chunks=(200, 3)).map_blocks(slow_rows)
        y = da.from_array(rng.normal(size=4_000), chunks=200)
        w = sg.tensor([0.5, -1.0, 2.0], requires_grad=True)
        dp = sgd.DataParallel(lambda X, y: ((X @ w - y) ** 2).mean(), [w], client=client)
        want = dp.gradient(X, y)
        pids = set(client.run(os.getpid).values())
        got = {}
        run = threading.Thread(target=lambda: got.update(r=dp.gradient(X, y)))
        run.start()
        time.sleep(0.4)                              # about a third of the epoch's chunks
        assert run.is_alive(), "the epoch finished before a worker could be killed"
        victim = next(iter(pids))
        os.kill(victim, signal.SIGKILL)
        run.join(timeout=120)
        assert not run.is_alive()
        assert got["r"][0] == want[0]
        assert np.array_equal(got["r"][1][0], want[1][0])
        deadline = time.time() + 30
        while len(client.run(os.getpid)) < 2 and time.time() < deadline:
            time.sleep(0.1)
        now = set(client.run(os.getpid).values())
        assert victim not in now and len(now) == 2   # the nanny started a new worker
    finally:
        sgd.close(client)


def test_data_four_times_the_workers_memory_trains_like_a_sample_in_memory():
    limit = 200 * 2 ** 20
    client = sgd.client("local", workers=2, memory_limit=limit)
    try:
        info = client.scheduler_info()["workers"]
        total_limit = sum(wk["memory_limit"] for wk in info.values())
        assert total_limit == 2 * limit
        chunk = 65_536
        n = 292 * chunk                               # 19.1M rows: X and y are 1.57 GiB
        rows = da.arange(n, chunks=chunk)
        X = rows.map_blocks(signs, new_axis=1, chunks=(chunk, D), dtype=float)
        y = rows.map_blocks(targets, dtype=float)
        assert X.nbytes + y.nbytes >= 4 * total_limit
        pids = client.run(os.getpid)

        w = sg.zeros(D, requires_grad=True)
        b = sg.zeros((), requires_grad=True)
        dp = sgd.DataParallel(lambda X, y: ((X @ w + b - y) ** 2).mean(), [w, b], client=client)
        losses = dp.fit(X, y, optimizer=sg.optim.SGD([w, b], lr=0.5), epochs=1)
        assert client.run(os.getpid) == pids          # no worker was killed or restarted

        ws, bs = sg.zeros(D, requires_grad=True), sg.zeros((), requires_grad=True)
        sample = np.arange(4 * 1024)                  # the in-memory run on a sample
        Xs, ys = sg.tensor(signs(sample)), sg.tensor(targets(sample))
        opt = sg.optim.SGD([ws, bs], lr=0.5)
        sample_losses = []
        for _ in range(1):
            opt.zero_grad()
            loss = ((Xs @ ws + bs - ys) ** 2).mean()
            loss.backward()
            opt.step()
            sample_losses.append(loss.item())
        np.testing.assert_allclose(w.value, ws.value, rtol=0, atol=1e-12)
        np.testing.assert_allclose(b.value, bs.value, rtol=0, atol=1e-12)
        np.testing.assert_allclose(w.value, W_STAR, atol=1e-12)
        np.testing.assert_allclose(losses, sample_losses, rtol=1e-12, atol=1e-20)
    finally:
        sgd.close(client)


def _python(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, cwd=os.path.dirname(os.path.dirname(
                              os.path.dirname(os.path.abspath(__file__)))))


def test_client_none_starts_a_local_cluster_one_worker_per_core():
    code = """if True:
        import os, numpy as np, symgrad as sg
        import distributed
        w = sg.zeros(2, requires_grad=True)
        dp = sg.distributed.DataParallel(lambda X, y: ((X @ w - y) ** 2).sum(), [w],
                                         reduction="sum")
        loss, (g,) = dp.gradient(np.ones((6, 2)), np.arange(6.0))
        info = dp.client.scheduler_info()["workers"].values()
        print(type(dp.client.cluster).__name__, len(info), os.cpu_count(),
              all(wk["memory_limit"] > 0 for wk in info), loss, g.tolist())
    """
    out = _python(code)
    assert out.returncode == 0, out.stderr[-2000:]
    name, workers, cores, limited, loss, *grad = out.stdout.split()
    assert name == "LocalCluster" and workers == cores and limited == "True"
    assert float(loss) == 55.0 and "".join(grad) == "[-30.0,-30.0]"


def test_without_the_extra_one_line_says_pip_install():
    code = """if True:
        import sys
        sys.modules["dask"] = None
        import symgrad as sg
        assert "dask" not in [m.split(".")[0] for m in sys.modules if sys.modules[m]]
        try:
            sg.distributed
        except ModuleNotFoundError as e:
            print(repr(str(e)))
    """
    out = _python(code)
    assert out.returncode == 0, out.stderr[-2000:]
    message = eval(out.stdout)
    assert "pip install symgrad[dask]" in message and "\\n" not in message
