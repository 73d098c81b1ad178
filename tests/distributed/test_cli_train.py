"""``symgrad train --data PATH --scheduler local``: CSV, Parquet and Zarr through Dask.

The CLI runs in-process on the session's 2-worker LocalCluster (``--workers 2
--memory-limit 2GiB`` are its settings, so the cached cluster is reused).  Trained
parameters are checked against the same loss and optimizer run in memory.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import symgrad as sg
from symgrad import cli

LOCAL = ["--scheduler", "local", "--workers", "2", "--memory-limit", "2GiB"]
TRUE_W, TRUE_B = np.array([1.5, -2.0, 0.5]), 0.25


def run(argv, capsys):
    try:
        rc = cli.main(list(argv))
    except SystemExit as exc:          # argparse usage errors
        rc = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(rc, err, status, contains):
    assert rc == status, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert contains in lines[0], lines[0]
    return lines[0]


def trained(out):
    """(w as a list, b) from the ``trained:`` line (printed with repr: exact floats)."""
    line = next(ln for ln in out.splitlines() if ln.startswith("trained:"))
    w_text = line.split("w = ", 1)[1].split(", b = ")[0]
    b = float(line.split(", b = ", 1)[1].split()[0])
    w = [float(v) for v in w_text.strip("[]").split(",")]
    return w, b


def in_memory(data, *, epochs, lr, optimizer="sgd", reduction="sum"):
    """The same model, loss and optimizer on all rows at once (the reference)."""
    d = data.shape[1] - 1
    w = sg.ones(d, dtype=sg.float64, requires_grad=True)
    b = sg.zeros(1, dtype=sg.float64, requires_grad=True)
    opt = (sg.optim.SGD if optimizer == "sgd" else sg.optim.Adam)([w, b], lr=lr)
    reduce = sg.sum if reduction == "sum" else sg.mean
    rows = sg.from_numpy(np.ascontiguousarray(data))
    for _ in range(epochs):
        opt.zero_grad()
        loss = reduce((rows[:, :d] @ w + b - rows[:, d]) ** 2)
        loss.backward()
        opt.step()
    return w.value.tolist(), float(b.value[0])


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(14)
    X = rng.normal(size=(240, 3))
    y = X @ TRUE_W + TRUE_B + 0.01 * rng.normal(size=240)
    return np.column_stack([X, y])


def write_csv(path, data, header=None):
    with open(path, "w") as fh:
        if header:
            fh.write(header + "\n")
        for row in data:
            fh.write(",".join(repr(float(v)) for v in row) + "\n")
    return str(path)


def assert_matches(out, data, **kw):
    w, b = trained(out)
    w_ref, b_ref = in_memory(data, **kw)
    np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-10)
    assert abs(b - b_ref) <= 1e-10


# ---------------------------------------------------------------- the formats
@pytest.mark.parametrize("header", [None, "a,b,c,y"], ids=["no-header", "header"])
def test_csv_trains_like_in_memory(dask_client, table, header, tmp_path, capsys):
    path = write_csv(tmp_path / "t.csv", table, header)
    rc, out, err = run(["train", "--data", path, *LOCAL, "--chunk-rows", "50",
                        "--epochs", "5", "--lr", "0.001"], capsys)
    assert rc == 0, err
    assert f"on 240 rows x 3 features from {path} in " in out
    assert "on a LocalCluster on this machine with 2 workers" in out
    assert "Epoch [1/5], Loss: " in out and "Epoch [5/5], Loss: " in out
    assert_matches(out, table, epochs=5, lr=0.001)


def test_csv_target_by_name_and_mean_loss_with_adam(dask_client, table, tmp_path, capsys):
    moved = table[:, [0, 3, 1, 2]]                    # the target is the 2nd column
    path = write_csv(tmp_path / "t.csv", moved, "a,y,b,c")
    rc, out, err = run(["train", "--data", path, *LOCAL, "--target", "y", "--reduction", "mean",
                        "--optimizer", "adam", "--lr", "0.1", "--epochs", "4"], capsys)
    assert rc == 0, err
    assert "loss = mean of squared errors, adam lr=0.1" in out
    assert_matches(out, table, epochs=4, lr=0.1, optimizer="adam", reduction="mean")


def test_parquet(dask_client, table, tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    path = str(tmp_path / "t.parquet")
    pd.DataFrame(table, columns=["a", "b", "c", "y"]).to_parquet(path)
    rc, out, err = run(["train", "--data", path, *LOCAL, "--chunk-rows", "64",
                        "--epochs", "5", "--lr", "0.001"], capsys)
    assert rc == 0, err
    assert "240 rows x 3 features" in out and "in 4 chunks" in out
    assert_matches(out, table, epochs=5, lr=0.001)


def test_zarr(dask_client, table, tmp_path, capsys):
    zarr = pytest.importorskip("zarr")
    path = str(tmp_path / "t.zarr")
    z = zarr.open_array(path, mode="w", shape=table.shape, chunks=(100, 4), dtype="f8")
    z[:] = table
    rc, out, err = run(["train", "--data", path, *LOCAL, "--chunk-rows", "80",
                        "--epochs", "5", "--lr", "0.001"], capsys)
    assert rc == 0, err
    assert "240 rows x 3 features" in out and "in 3 chunks" in out
    assert_matches(out, table, epochs=5, lr=0.001)


def test_one_feature_prints_what_the_in_memory_command_prints(dask_client, tmp_path, capsys):
    path = str(tmp_path / "points.csv")
    with open(path, "w") as fh:
        fh.write("x,y\n0,1\n1,3\n2,5.5\n")
    rc, plain, _ = run(["train", "linear", "--data", path, "--epochs", "20", "--lr", "0.05"],
                       capsys)
    assert rc == 0
    rc, out, err = run(["train", "--data", path, *LOCAL, "--epochs", "20", "--lr", "0.05"],
                       capsys)
    assert rc == 0, err
    assert out.splitlines()[1:] == plain.splitlines()[1:]    # epochs, trained, closed form
    assert "closed form (SymPy):  w = 9/4 (2.25), b = 11/12 (0.9166666666666666)" in out


def test_readers_return_dask_collections(dask_client, table, tmp_path):
    import dask.array as da
    from symgrad.distributed import files

    path = write_csv(tmp_path / "t.csv", table, "a,b,c,y")
    t = files.read(path, 50, client=dask_client)
    assert isinstance(t.data, da.Array) and isinstance(t.X, da.Array)
    assert (t.rows, t.features, t.columns) == (240, 3, ["a", "b", "c", "y"])
    assert sum(t.data.chunks[0]) == 240 and len(t.data.chunks[0]) > 1
    np.testing.assert_array_equal(dask_client.compute(t.data).result(), table)
    with pytest.raises(ValueError, match=r"CSV \(\.csv\), Parquet \(\.parquet, \.pq\) or Zarr"):
        files.read(str(tmp_path / "t.json"))


# ---------------------------------------------------------------- faults
@pytest.mark.parametrize("bad,contains", [
    ("1.0,2.0,oops,4.0", "line 102, field 3 is not a number: 'oops'"),
    ("1.0,2.0,3.0", "line 102 has 3 field(s), expected 4"),
    ("1.0,nan,3.0,4.0", "line 102, field 2 is nan"),
])
def test_a_bad_csv_row_names_the_chunk_and_line(dask_client, table, bad, contains, tmp_path,
                                                capsys):
    path = tmp_path / "bad.csv"
    write_csv(path, table[:100], "a,b,c,y")
    with open(path, "a") as fh:
        fh.write(bad + "\n")
    write_csv(tmp_path / "rest.csv", table[100:])
    with open(path, "a") as fh:
        fh.write((tmp_path / "rest.csv").read_text())
    rc, out, err = run(["train", "--data", str(path), *LOCAL, "--chunk-rows", "40"], capsys)
    line = one_line_error(rc, err, 2, contains)
    assert "chunk 2 of " in line and "of bad.csv" in line      # rows 80-119 hold line 102
    assert "trained:" not in out


def test_divergence_suggests_the_mean(dask_client, table, tmp_path, capsys):
    path = write_csv(tmp_path / "t.csv", table)
    rc, _, err = run(["train", "--data", path, *LOCAL, "--lr", "1e150", "--epochs", "5"],
                     capsys)
    one_line_error(rc, err, 1, "--reduction mean")


@pytest.mark.parametrize("argv,status,contains", [
    (["--workers", "2"], 2, "--workers applies to training through Dask"),
    (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], 2, "has the workers it has"),
    (["--scheduler", "local", "--chunk-rows", "0"], 2, "expected a positive integer, got 0"),
    (["--scheduler", "somewhere"], 2, "--scheduler takes local or a Dask scheduler's address"),
])
def test_bad_options(argv, status, contains, table, tmp_path, capsys):
    path = write_csv(tmp_path / "t.csv", table)
    rc, _, err = run(["train", "--data", path, *argv], capsys)
    one_line_error(rc, err, status, contains)


def test_unknown_format_and_parquet_without_scheduler(tmp_path, capsys):
    (tmp_path / "t.json").write_text("{}")
    rc, _, err = run(["train", "--data", str(tmp_path / "t.json"), "--scheduler", "local"],
                     capsys)
    one_line_error(rc, err, 2, "use CSV (.csv), Parquet (.parquet, .pq) or Zarr (.zarr)")
    rc, _, err = run(["train", "--data", str(tmp_path / "t.parquet")], capsys)
    one_line_error(rc, err, 2, "add --scheduler local")


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                    reason="needs matplotlib (pip install symgrad[plot])")
def test_plot_writes_a_png(dask_client, table, tmp_path, capsys):
    path = write_csv(tmp_path / "t.csv", table)
    target = tmp_path / "loss.png"
    rc, out, err = run(["train", "--data", path, *LOCAL, "--epochs", "3", "--lr", "0.001",
                        "--plot", str(target)], capsys)
    assert rc == 0, err
    assert f"loss curve written to {target}" in out
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_dask_the_scheduler_says_how_to_install_it(table, tmp_path):
    path = write_csv(tmp_path / "t.csv", table[:5])
    code = ("import sys; sys.modules['dask'] = None; from symgrad.cli import main; "
            f"raise SystemExit(main(['train', '--data', {path!r}, '--scheduler', 'local']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    one_line_error(proc.returncode, proc.stderr, 1, "pip install symgrad[dask]")
    assert proc.stdout == ""


@pytest.mark.parametrize("chunk_rows", [1, 2, 100])
def test_csv_blank_lines_comments_and_crlf(chunk_rows, tmp_path):
    from symgrad.distributed import files

    path = tmp_path / "crlf.csv"
    path.write_bytes(b"# made by hand\r\nx,y\r\n1,2\r\n   \r\n3,4\r\n# c\r\n\r\n5,6")
    t = files.read(str(path), chunk_rows, scheduler="sync")
    assert (t.rows, t.columns) == (3, ["x", "y"])
    assert t.data.compute(scheduler="sync").tolist() == [[1, 2], [3, 4], [5, 6]]


def test_a_real_process_keeps_stderr_to_one_line(table, tmp_path):
    """The console script starts its own LocalCluster; a worker's failure is not logged
    besides the error line."""
    import shutil

    script = shutil.which("symgrad", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("the symgrad console script is not installed (pip install -e .)")
    path = tmp_path / "bad.csv"
    write_csv(path, table[:30])
    with open(path, "a") as fh:
        fh.write("1,2,x,4\n")
    proc = subprocess.run([script, "train", "--data", str(path), "--scheduler", "local",
                           "--workers", "1", "--epochs", "2"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    one_line_error(proc.returncode, proc.stderr, 2,
                   "chunk 0 of 1 (rows 0-30) of bad.csv: line 31, field 3 is not a number")
