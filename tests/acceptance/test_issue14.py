"""Issue 14 acceptance: past one machine -- data-parallel training and verification sweeps
on Dask.  One test (or a few) per Deliver item, in the issue's words; the detailed tests are
in tests/distributed/ and tests/verify/test_verify_scheduler.py."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symgrad as sg

pytest.importorskip("distributed", reason="needs the dask extra: pip install symgrad[dask]")
import dask.array as da  # noqa: E402
import dask.dataframe as dd  # noqa: E402
import pandas as pd  # noqa: E402

from symgrad import cli  # noqa: E402
from symgrad import distributed as sgd  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(1414)
X = RNG.normal(size=(3_001, 5))
Y = X @ np.array([1.0, -1.0, 2.0, 0.5, -0.25]) + 1.5 + 0.05 * RNG.normal(size=3_001)

w = sg.zeros(5, requires_grad=True)
b = sg.zeros((), requires_grad=True)


@sg.compile
def loss(Xc, yc):
    return ((Xc @ w + b - yc) ** 2).mean()


@pytest.fixture(autouse=True)
def _fresh():
    w.value[...] = 0.0
    b.value[...] = 0.0
    w.grad = b.grad = None


def _in_memory_gradient():
    wm, bm = sg.tensor(w.value.copy(), requires_grad=True), sg.tensor(b.value.copy(),
                                                                       requires_grad=True)
    out = ((sg.tensor(X) @ wm + bm - sg.tensor(Y)) ** 2).mean()
    out.backward()
    return out.item(), wm.grad.value, bm.grad.value


# ------------------------------------------------------ 1. data-parallel gradients
def test_1_compiled_loss_on_a_dask_array_and_a_dask_dataframe_equals_in_memory_1e12(dask_client):
    w.value[...] = [0.3, -0.2, 0.1, 0.0, 0.5]
    frame = dd.from_pandas(pd.DataFrame(X, columns=list("abcde")).assign(y=Y), npartitions=4)
    value0, gw0, gb0 = _in_memory_gradient()
    dp = sgd.DataParallel(loss, [w, b], client=dask_client)
    runs = []
    for data in ((da.from_array(X, chunks=(400, 5)), da.from_array(Y, chunks=400)),
                 (frame[list("abcde")], frame["y"])):
        value, (gw, gb) = dp.gradient(*data)
        assert abs(value - value0) <= 1e-12 * value0
        np.testing.assert_allclose(gw, gw0, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gb, gb0, rtol=1e-12, atol=1e-12)
        runs.append((value, gw.tobytes()))
        again = dp.gradient(*data)
        assert (again[0], again[1][0].tobytes()) == runs[-1]     # the same from run to run


@pytest.mark.parametrize("make_opt", [
    lambda ps: sg.optim.SGD(ps, lr=0.1, momentum=0.5),
    lambda ps: sg.optim.AdamW(ps, lr=0.05),
    lambda ps: sg.optim.RMSprop(ps, lr=0.01),
    lambda ps: sg.optim.LBFGS(ps, max_iter=4),
], ids=["sgd", "adamw", "rmsprop", "lbfgs"])
def test_1_full_batch_gd_with_any_optimizer_matches_in_memory(dask_client, make_opt):
    sgd.fit(loss, [w, b], da.from_array(X, chunks=(1_000, 5)), da.from_array(Y, chunks=1_000),
            optimizer=make_opt([w, b]), epochs=3, client=dask_client)
    wm, bm = sg.zeros(5, requires_grad=True), sg.zeros((), requires_grad=True)
    opt = make_opt([wm, bm])
    for _ in range(3):
        def closure():
            opt.zero_grad()
            out = ((sg.tensor(X) @ wm + bm - sg.tensor(Y)) ** 2).mean()
            out.backward()
            return out
        opt.step(closure)
    np.testing.assert_allclose(w.value, wm.value, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.value, bm.value, rtol=1e-9, atol=1e-12)


def test_1_minibatch_sgd_over_chunks_and_one_broadcast_per_step(dask_client, monkeypatch):
    dp = sgd.DataParallel(loss, [w, b], client=dask_client)
    Xd, Yd = da.from_array(X, chunks=(1_000, 5)), da.from_array(Y, chunks=1_000)
    opt = sg.optim.SGD([w, b], lr=0.05)
    dp.step(opt, Xd, Yd)                               # sends the loss once
    sent = []
    real = dask_client.scatter
    monkeypatch.setattr(dask_client, "scatter", lambda d, **k: sent.append(k) or real(d, **k))
    dp.fit(Xd, Yd, optimizer=opt, epochs=1, batch="chunk")     # 4 chunks: 4 steps
    assert len(sent) == 4 and all(k.get("broadcast") for k in sent)


# ------------------------------------------------------ 2. a real scheduler, the CLI
def test_2_client_is_an_existing_cluster_by_address_and_the_cli_trains_on_it(dask_client,
                                                                            tmp_path, capsys):
    address = dask_client.scheduler.address
    value, _ = sgd.DataParallel(loss, [w, b], client=address).gradient(
        da.from_array(X, chunks=(1_000, 5)), da.from_array(Y, chunks=1_000))
    assert abs(value - _in_memory_gradient()[0]) <= 1e-12 * value
    path = tmp_path / "rows.csv"
    np.savetxt(path, np.column_stack([X, Y]), delimiter=",")
    rc = cli.main(["train", "--data", str(path), "--scheduler", address, "--chunk-rows", "800",
                   "--epochs", "3", "--lr", "0.1", "--reduction", "mean"])
    out = capsys.readouterr().out
    assert rc == 0
    assert re.search(r"3001 rows x 5 features from .* in \d+ chunks", out)
    assert "Epoch [3/3], Loss: " in out and "trained:" in out


@pytest.mark.parametrize("fmt", ["parquet", "zarr"])
def test_2_parquet_and_zarr_are_read_through_dask(dask_client, tmp_path, fmt):
    rows = np.column_stack([X, Y])
    path = tmp_path / f"rows.{fmt}"
    if fmt == "parquet":
        pd.DataFrame(rows, columns=[*"abcde", "y"]).to_parquet(path)
    else:
        da.from_array(rows, chunks=(1_000, 6)).to_zarr(str(path))
    table = sgd.read(str(path), chunk_rows=1_000)
    assert type(table.X).__module__.startswith("dask") and table.rows == 3_001
    value, _ = sgd.DataParallel(loss, [w, b], client=dask_client).gradient(table.X, table.y)
    assert abs(value - _in_memory_gradient()[0]) <= 1e-12 * value


# ------------------------------------------------------ 4. faults: bad chunks
def test_4_nan_and_wrong_column_count_name_the_chunk_and_leave_parameters(dask_client):
    import dask

    bad = X.copy()
    bad[2_222, 3] = np.nan
    opt = sg.optim.Adam([w, b], lr=0.1)
    with pytest.raises(sgd.ChunkError, match=r"chunk 2 of 4 \(rows 2000-2999\).*nan at row 2222"):
        sgd.fit(loss, [w, b], da.from_array(bad, chunks=(1_000, 5)),
                da.from_array(Y, chunks=1_000), optimizer=opt, client=dask_client)
    assert not w.value.any() and w.grad is None
    short = da.concatenate([da.from_array(X[:1_000], chunks=(1_000, 5)),
                            da.from_delayed(dask.delayed(np.ones)((1_000, 4)), (1_000, 5), float)])
    with pytest.raises(sgd.ChunkError, match=r"chunk 1 of 2 .* 4 column\(s\), expected 5"):
        sgd.DataParallel(loss, [w, b], client=dask_client).backward(
            short, da.from_array(Y[:2_000], chunks=1_000))
    assert w.grad is None


# ------------------------------------------------------ 5. distributed verification
def test_5_verify_on_the_cluster_prints_the_one_machine_report(dask_client):
    argv = ["verify", "--ops", "exp,tanh", "--examples", "4"]
    runs = []
    for extra in ([], ["--scheduler", dask_client.scheduler.address]):
        proc = subprocess.run([sys.executable, "-m", "symgrad", *argv, *extra], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs.append(re.sub(r"\d+\.\d+s\b", "<t>", proc.stdout))
    assert runs[0] == runs[1]


# ------------------------------------------------------ 7. without the extra
def test_7_import_symgrad_never_imports_dask_and_the_hint_is_one_line():
    code = ("import sys, symgrad; assert 'dask' not in sys.modules; sys.modules['dask'] = None\n"
            "try:\n    symgrad.distributed\nexcept ImportError as e:\n    print(e)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("pip install symgrad[dask]")
    assert len(proc.stdout.strip().splitlines()) == 1


# ------------------------------------------------------ done when: docs
def test_done_when_docs_show_a_laptop_run_a_cluster_and_the_readme_names_the_extra():
    scale = (ROOT / "docs" / "scale-out.md").read_text()
    assert "LocalCluster" in scale and "tcp://" in scale and "dask scheduler" in scale
    assert "symgrad[dask]" in (ROOT / "README.md").read_text()
    perf = (ROOT / "docs" / "performance.md").read_text()
    assert "Scale-out on Dask" in perf and "rows/s" in perf
