"""Start-up: ``import numpy``, ``import symgrad`` and ``symgrad --help`` as fresh processes.

Each command runs in a new interpreter, rounds interleaved in a rotating order (as in
:mod:`bench.harness`); the table gives the best wall-clock time over the rounds (the
least disturbed run on a shared machine), the median, the best CPU time of the child
process, and the ratio of the best time to ``import numpy``'s.  ``python -c pass`` is
the interpreter alone; ``first sg.diff`` is ``import symgrad`` plus one closed form,
where SymPy loads.  Target: ``import symgrad`` under 0.25 s and at most about 3x
numpy's import.
"""
from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: the target for ``import symgrad``: seconds, and times numpy's import
TARGET_S, TARGET_RATIO = 0.25, 3.0


def commands() -> dict[str, list[str]]:
    """Name -> argv.  ``symgrad --help`` is the installed console script when there is one."""
    py = sys.executable
    script = Path(py).parent / "symgrad"
    cli = [str(script), "--help"] if script.exists() else [py, "-m", "symgrad", "--help"]
    return {
        "python -c pass": [py, "-c", "pass"],
        "import numpy": [py, "-c", "import numpy"],
        "import symgrad": [py, "-c", "import symgrad"],
        "symgrad --help": cli,
        "first sg.diff": [py, "-c", "import symgrad as sg; x = sg.symbol('x'); sg.diff(x**2, x)"],
    }


def _time(argv: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system) of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def run(quick: bool = False) -> list[dict]:
    cmds = commands()
    names = list(cmds)
    rounds = 2 if quick else 10
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for n in names:                                  # warm-up: the OS file cache, .pyc files
        _time(cmds[n])
    for r in range(rounds):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            w, c = _time(cmds[n])
            wall[n].append(w)
            cpu[n].append(c)
    base = min(wall["import numpy"])
    rows = []
    for n in names:
        best = min(wall[n])
        row = {"command": n, "best_s": best, "median_s": statistics.median(wall[n]),
               "best_cpu_s": min(cpu[n]), "ratio_to_numpy": best / base, "rounds": rounds,
               "target": "", "met": ""}
        if n == "import symgrad":
            row["target"] = f"< {TARGET_S} s, <= {TARGET_RATIO:g}x numpy"
            row["met"] = best < TARGET_S and best / base <= TARGET_RATIO
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """A Markdown table: one row per command, times in seconds."""
    lines = ["| command | best s | median s | best CPU s | ratio to import numpy | target | met |",
             "|---|---:|---:|---:|---:|---|---|"]
    for r in rows:
        lines.append(f"| {r['command']} | {r['best_s']:.3f} | {r['median_s']:.3f} | "
                     f"{r['best_cpu_s']:.3f} | {r['ratio_to_numpy']:.2f}x | {r['target']} | "
                     f"{r['met']} |")
    lines.append(f"\n(best of {rows[0]['rounds']} rounds; BLAS threads "
                 f"{os.environ.get('OPENBLAS_NUM_THREADS', 'default')})")
    return "\n".join(lines)
