"""The ``verify`` sweep: table, JSON, exit status, and a caught injected bug."""
import argparse
import json
import subprocess
import sys

import pytest

from verify import cli


def _run(argv, capsys):
    p = argparse.ArgumentParser(prog="symgrad")
    cli.add_parser(p.add_subparsers())
    status = cli.run(p.parse_args(["verify", *argv]))
    return status, capsys.readouterr().out


def test_sweep_passes_and_writes_json(tmp_path, capsys):
    path = tmp_path / "out.json"
    status, out = _run(["--ops", "exp,matmul,where", "--examples", "6", "--json", str(path)],
                       capsys)
    assert status == 0, out
    assert "all 3 ops checked" in out and "random DAGs: 3 examples, ok" in out
    data = json.loads(path.read_text())
    assert data["passed"] is True
    assert [r["op"] for r in data["ops"]] == ["exp", "matmul", "where"]
    assert all(r["used"] >= 6 and not r["failures"] for r in data["ops"])


def test_injected_bug_is_flagged_with_nonzero_exit(monkeypatch, capsys):
    monkeypatch.setenv(cli.INJECT_ENV, "mul:sign:1")
    status, out = _run(["--ops", "mul,add", "--examples", "4", "--no-dags"], capsys)
    assert status == 1
    assert "injected bug: mul VJP for input 1: sign" in out
    line = next(l for l in out.splitlines() if l.startswith("mul "))
    assert line.endswith("FAIL")
    assert next(l for l in out.splitlines() if l.startswith("add ")).endswith("ok")


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # err/tol of the bug
def test_injected_bug_is_caught_by_random_dags(monkeypatch, capsys):
    # a bug in add, which nearly every drawn DAG contains: with some 40 ops in the pool, 20
    # DAGs may or may not draw a given rarer op such as sigmoid (it depended on the pool)
    monkeypatch.setenv(cli.INJECT_ENV, "add:scale")
    status, out = _run(["--ops", "neg", "--examples", "40"], capsys)
    assert status == 1 and "random DAGs: " in out and "FAIL" in out


def test_unknown_op_is_a_clear_error(capsys):
    with pytest.raises(ValueError, match="unknown op .frob."):
        _run(["--ops", "frob"], capsys)


def test_module_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "verify", "--ops", "sin", "--examples", "3",
                           "--no-dags"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "all gradients agree" in proc.stdout


def _rows(out):
    return [l for l in out.splitlines() if l.split() and l.split()[0] in ("exp", "mul", "sum")]


def test_jobs_do_not_change_the_report(capsys):
    argv = ["--ops", "exp,mul,sum", "--examples", "4", "--no-dags", "--passes", "domain,kinks"]
    s1, one = _run(argv + ["--jobs", "1"], capsys)
    s2, two = _run(argv + ["--jobs", "2"], capsys)
    assert s1 == s2 == 0
    assert _rows(one) == _rows(two) and len(_rows(one)) == 3


def test_injected_bug_is_found_by_parallel_workers(monkeypatch, capsys):
    monkeypatch.setenv(cli.INJECT_ENV, "mul:sign:1")
    status, out = _run(["--ops", "mul,exp", "--examples", "4", "--no-dags", "--jobs", "2"],
                       capsys)
    assert status == 1 and next(l for l in out.splitlines() if l.startswith("mul ")).endswith("FAIL")


@pytest.mark.parametrize("bad", ["0", "two"])
def test_bad_jobs_is_a_one_line_error(bad):
    p = argparse.ArgumentParser(prog="symgrad")
    cli.add_parser(p.add_subparsers())
    with pytest.raises(SystemExit):
        p.parse_args(["verify", "--jobs", bad])
