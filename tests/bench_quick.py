"""One ``python -m bench --quick`` run per test session, shared by the tests that read it.

Two test modules check the quick benchmark's output (tests/test_bench.py, the issue-6
acceptance tests); it costs ~15 s, so it runs once.
"""
from __future__ import annotations

import functools
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=1)
def quick_bench() -> tuple[subprocess.CompletedProcess, float]:
    """(the finished process, wall seconds) of ``python -m bench --quick``."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    return proc, time.perf_counter() - t0
