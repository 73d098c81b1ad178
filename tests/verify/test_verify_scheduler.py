"""``symgrad verify --scheduler``: the sweep on Dask workers prints the one-machine report."""
import argparse
import re
import subprocess
import sys

import pytest

from verify import cli

pytest.importorskip("distributed", reason="needs the dask extra: pip install symgrad[dask]")


@pytest.fixture(scope="module")
def address():  # kept for the session (tests/distributed/conftest.py closes it)
    """The scheduler address of a 2-worker LocalCluster (tests/distributed's settings,
    so a session that ran those tests reuses their cluster)."""
    from symgrad import distributed as sgd

    return sgd.client("local", workers=2, memory_limit="2GiB").scheduler.address


def _run(argv, capsys):
    p = argparse.ArgumentParser(prog="symgrad")
    cli.add_parser(p.add_subparsers())
    status = cli.run(p.parse_args(["verify", *argv]))
    return status, capsys.readouterr().out


def _report(out):
    """The report without its timing figures."""
    return re.sub(r"\d+\.\d+s\b", "<t>", out)


def _both(argv, scheduler, capsys):
    s1, here = _run(argv, capsys)
    s2, there = _run([*argv, "--scheduler", *scheduler], capsys)
    assert s1 == s2
    assert _report(here) == _report(there), f"{here}\n---\n{there}"
    return s1, here


def test_op_table_and_dags_on_workers_equal_the_local_report(address, capsys):
    status, out = _both(["--ops", "exp,sin,matmul", "--examples", "6"], [address], capsys)
    assert status == 0
    assert [l.split()[0] for l in out.splitlines()[1:4]] == ["exp", "sin", "matmul"]
    assert "random DAGs: 3 examples, ok" in out and "all 3 ops checked" in out


def test_dag_blocks_are_spread_over_workers_and_merged_in_order(address, capsys, monkeypatch):
    monkeypatch.setattr(cli, "DAG_BLOCK", 3)
    assert [k for k, _ in cli._dag_blocks(10, 7)] == [3, 3, 3, 1]
    assert cli._dag_blocks(10, 7) == cli._dag_blocks(10, 7) and cli._dag_blocks(10, 7)[0][1] == 7
    status, out = _both(["--ops", "neg", "--passes", "domain", "--examples", "20", "--seed", "7"],
                        [address], capsys)
    assert status == 0 and "random DAGs: 10 examples, ok" in out


def test_injected_op_bug_is_caught_on_workers_with_the_same_failures(address, capsys,
                                                                     monkeypatch):
    monkeypatch.setenv(cli.INJECT_ENV, "exp:scale")
    status, out = _both(["--ops", "exp,sin", "--examples", "4", "--no-dags"], [address], capsys)
    fails = [l for l in out.splitlines() if l.startswith("FAIL:")]
    assert status == 1 and fails and all("exp" in l for l in fails)
    assert next(l for l in out.splitlines() if l.startswith("sin ")).endswith("ok")


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_dag_failure_on_a_worker_is_shrunk_and_reported_as_locally(address, capsys,
                                                                   monkeypatch):
    # add is in nearly every DAG: the first block fails and shrinks; the second block,
    # running on the other worker meanwhile, is stopped and not reported
    monkeypatch.setenv(cli.INJECT_ENV, "add:scale")
    monkeypatch.setattr(cli, "DAG_BLOCK", 5)
    status, out = _both(["--ops", "neg", "--passes", "domain", "--examples", "20"], [address],
                        capsys)
    assert status == 1 and "random DAGs: " in out and ", FAIL" in out
    fails = [i for i, l in enumerate(out.splitlines()) if l.startswith("FAIL: ")]
    assert len(fails) == 1      # one failure, shrunk to a few nodes:
    assert "Op.ADD" in out and out.count(" = apply(") <= 3


@pytest.mark.parametrize("argv,match", [
    (["--workers", "2"], "--workers sets the size of the LocalCluster"),
    (["--scheduler", "local", "--jobs", "2"], "--jobs and --scheduler cannot be combined"),
    (["--scheduler", "here"], "'local' or a Dask scheduler address"),
    (["--scheduler", "tcp://127.0.0.1:8786", "--workers", "2"], "--scheduler local only"),
])
def test_option_misuse_is_a_clear_error(argv, match, capsys):
    with pytest.raises(ValueError, match=match):
        _run(["--ops", "exp", *argv], capsys)


@pytest.mark.parametrize("entry", ["verify.cli", "symgrad.cli"])
def test_scheduler_without_dask_says_how_to_install_it(entry):
    argv = ["--ops", "exp", "--examples", "2", "--scheduler", "local"]
    argv = argv if entry == "verify.cli" else ["verify", *argv]
    code = (f"import sys; sys.modules['dask'] = None\nfrom {entry} import main\n"
            f"raise SystemExit(main({argv!r}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1, proc.stderr      # a missing optional tool, as train's
    assert len(proc.stderr.splitlines()) == 1 and "pip install symgrad[dask]" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("workers", ["1", "4"])
def test_one_or_four_local_workers_give_the_same_report(workers, address, capsys, monkeypatch):
    from symgrad import distributed as sgd

    monkeypatch.setattr(cli, "DAG_BLOCK", 2)
    try:
        status, out = _both(["--ops", "sin,sum", "--passes", "domain,kinks", "--examples", "8"],
                            ["local", "--workers", workers], capsys)
    finally:                       # the cluster of this size (the CLI's memory limit: auto)
        sgd.close(sgd.client("local", workers=int(workers)))
    assert status == 0 and "random DAGs: 4 examples, ok" in out
