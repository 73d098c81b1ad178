"""Timing harness: interleave systems round by round, report median and p25-p75.

Each system is a *factory*: called once per round (untimed) it sets up fresh state
and returns the zero-argument callable that is timed.  Rounds visit the systems in
a rotating order so drift (thermal, other processes) hits them alike.  Ratios are
medians divided by the baseline system's median from the same run.  Times are CPU
time of this process (``time.process_time``; BLAS runs on one thread): on a machine
shared with other jobs, wall-clock time also counts the moments the process waits for
a core, which is noise, not work.

>>> rows = compare("demo", {"numpy": lambda: (lambda: sum(range(100))),
...                         "slow": lambda: (lambda: sum(range(400)))}, rounds=5)
>>> [r["system"] for r in rows], rows[0]["ratio"]
(['numpy', 'slow'], 1.0)
"""
from __future__ import annotations

import importlib.util
import statistics
import time
from typing import Any, Callable, Optional

Factory = Callable[[], Callable[[], Any]]


def available(module: str) -> bool:
    """True if ``module`` can be imported (torch, jax are optional)."""
    return importlib.util.find_spec(module) is not None


def _quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def compare(workload: str, systems: dict[str, Factory], *, rounds: int,
            baseline: Optional[str] = None, steps: int = 1, skipped: dict[str, str] | None = None,
            warmup: int = 1) -> list[dict]:
    """Time ``systems`` interleaved; one row per system (times in ms per call and per step).

    ``baseline`` (default: the first system) gets ratio 1.0; ``skipped`` maps systems that
    could not run to the reason, listed as rows with ``note`` and no times.
    """
    names = list(systems)
    baseline = baseline or names[0]
    times: dict[str, list[float]] = {n: [] for n in names}
    for n in names:                                 # warm-up: traces, caches, imports
        for _ in range(warmup):
            systems[n]()()
    for r in range(rounds):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            fn = systems[n]()
            t0 = time.process_time()
            fn()
            times[n].append(time.process_time() - t0)
    base = statistics.median(times[baseline])
    rows = []
    for n in names:
        med = statistics.median(times[n])
        rows.append({"workload": workload, "system": n, "median_ms": med * 1e3,
                     "p25_ms": _quantile(times[n], 0.25) * 1e3,
                     "p75_ms": _quantile(times[n], 0.75) * 1e3,
                     "per_step_ms": med * 1e3 / steps, "ratio": med / base,
                     "baseline": baseline, "rounds": rounds, "note": ""})
    for n, why in (skipped or {}).items():
        rows.append({"workload": workload, "system": n, "median_ms": None, "p25_ms": None,
                     "p75_ms": None, "per_step_ms": None, "ratio": None, "baseline": baseline,
                     "rounds": 0, "note": f"skipped: {why}"})
    return rows


def torch_or_reason() -> tuple[Any, Optional[str]]:
    """``(torch, None)`` if torch imports, else ``(None, reason)``."""
    if not available("torch"):
        return None, "torch is not installed"
    import torch
    torch.set_num_threads(1)
    return torch, None


def jax_or_reason() -> tuple[Any, Optional[str]]:
    """``(jax, None)`` with float64 enabled if jax imports, else ``(None, reason)``."""
    if not available("jax"):
        return None, "jax is not installed"
    import jax
    jax.config.update("jax_enable_x64", True)
    return jax, None


def jax_sgd_factory(jax: Any, loss: Callable, params: tuple, batches: list, lr: float) -> Factory:
    """A factory for ``compare``: jit-compiled SGD on ``loss(params, *batch)`` per batch.

    Every step computes the loss value and the gradients (``value_and_grad``), as the
    other systems do; the loop waits for the result (``block_until_ready``).
    """
    @jax.jit
    def step(params: tuple, *batch: Any) -> tuple:
        value, grads = jax.value_and_grad(loss)(params, *batch)
        return tuple(p - lr * g for p, g in zip(params, grads)), value

    start = tuple(jax.numpy.asarray(p) for p in params)
    batches = [tuple(jax.numpy.asarray(a) for a in b) for b in batches]

    def factory() -> Callable[[], Any]:
        def run() -> Any:
            p = start
            for batch in batches:
                p, _ = step(p, *batch)
            return jax.block_until_ready(p)
        return run
    return factory


def format_rows(rows: list[dict]) -> str:
    """A Markdown table of timing rows (``compare``'s format)."""
    lines = ["| workload | system | median ms | p25–p75 ms | ms/step | ratio to baseline | note |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        if r["median_ms"] is None:
            lines.append(f"| {r['workload']} | {r['system']} | – | – | – | – | {r['note']} |")
            continue
        lines.append(f"| {r['workload']} | {r['system']} | {r['median_ms']:.3f} | "
                     f"{r['p25_ms']:.3f}–{r['p75_ms']:.3f} | {r['per_step_ms']:.4f} | "
                     f"{r['ratio']:.2f}x ({r['baseline']}) | {r['note']} |")
    return "\n".join(lines)


def format_generic(rows: list[dict]) -> str:
    """A Markdown table with one column per key (for workloads with their own fields)."""
    if not rows:
        return "(no rows)"
    keys = list(rows[0])
    for r in rows[1:]:
        keys += [k for k in r if k not in keys]

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return "" if v is None else str(v)
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(cell(r.get(k)) for k in keys) + " |" for r in rows]
    return "\n".join(lines)
