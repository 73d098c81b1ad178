"""The benchmark suite runs (``python -m bench --quick``) so it cannot rot.

No timing assertions: only that every workload runs, agrees with its numpy
reference (each workload asserts that itself) and prints its table.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.serial      # shares the serial part's one --quick run (tests/bench_quick.py)
def test_bench_quick_runs_and_prints_tables():
    from tests.bench_quick import quick_bench
    proc, _ = quick_bench()   # the session's one --quick run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "machine:" in out and "numpy" in out
    for name in ("seed", "seed_compiled", "linreg", "mlp", "scalar", "symbolic", "per_op",
                 "memory", "startup",
                 "cat_stack", "train_data",             # --- issue 13: linear
                 "dask"):                               # --- issue 14
        assert f"## {name}\n" in out, name
    assert "| workload | system | median ms | p25–p75 ms | ms/step | ratio to baseline |" in out
    assert "symgrad compiled" in out and "FAILED" not in out
    assert "| import symgrad |" in out and "| symgrad --help |" in out


def test_bench_only_and_bad_name():
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "memory"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "## memory" in proc.stdout and "## linreg" not in proc.stdout
    assert "| linreg 100000x10 |" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "bench", "--only", "nope"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
