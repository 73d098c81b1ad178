"""``python -m bench [--quick] [--only NAME ...]``: run the benchmark suite, print tables.

BLAS is pinned to one thread (set before numpy is imported) and PyTorch too, so the
systems compare per-core work and do not fight over the cores; override with
``OPENBLAS_NUM_THREADS`` etc. in the environment.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import importlib  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from bench.harness import available, format_generic, format_rows  # noqa: E402

#: workload name -> module (each has ``run(quick=False) -> list[dict]``)
WORKLOADS = {
    "seed": "bench.seed",
    "seed_compiled": "bench.seed_compiled",
    "linreg": "bench.linreg",
    "mlp": "bench.mlp",
    "scalar": "bench.scalar",
    "symbolic": "bench.symbolic",
    "per_op": "bench.per_op",
    "memory": "bench.memory",
    "graph_memory": "bench.graph_memory",
    "startup": "bench.startup",
    # --- issue 13: linear
    "cat_stack": "bench.cat_stack",
    "train_data": "bench.train_data",
    # --- issue 14: dask
    "dask": "bench.dask_bench",
}
#: names that select several workloads with ``--only``
GROUPS = {"seed": ["seed", "seed_compiled"]}


def machine() -> str:
    """One line: cores, CPU model, Python, numpy, torch and jax versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    torch = "not installed"
    if available("torch"):
        import torch as _t
        torch = _t.__version__
    jax = "not installed"
    if available("jax"):
        import jax as _j
        jax = _j.__version__
    return (f"{os.cpu_count()} cores, {cpu}; Python {platform.python_version()}, numpy "
            f"{np.__version__}, torch {torch}, jax {jax}; BLAS threads "
            f"{os.environ.get('OPENBLAS_NUM_THREADS')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds (< 30 s)")
    parser.add_argument("--only", action="append", choices=sorted(WORKLOADS), metavar="NAME",
                        help=f"run only this workload (repeatable): {', '.join(WORKLOADS)}; "
                        "'seed' runs seed and seed_compiled")
    args = parser.parse_args(argv)
    names = []
    for name in args.only or list(WORKLOADS):
        names += [n for n in GROUPS.get(name, [name]) if n not in names]
    print(f"# symgrad benchmarks{' (quick)' if args.quick else ''}")
    print(f"machine: {machine()}")
    failed = []
    start = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        print(f"\n## {name}\n", flush=True)
        try:
            module = importlib.import_module(WORKLOADS[name])
            rows = module.run(quick=args.quick)
        except Exception as e:  # one broken workload must not hide the others
            print(f"FAILED: {type(e).__name__}: {e}")
            failed.append(name)
            continue
        if rows and "median_ms" in rows[0] and "system" in rows[0]:
            print(format_rows(rows))
        elif hasattr(module, "format_table"):
            print(module.format_table(rows))
        else:
            print(format_generic(rows))
        print(f"\n({time.perf_counter() - t0:.1f} s)", flush=True)
    print(f"\ntotal {time.perf_counter() - start:.1f} s")
    if failed:
        print(f"failed workloads: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
