"""The referee measured against realistic planted bugs (``symgrad verify --self-test``).

For each :class:`verify.mutate.Mutant`, :func:`run` applies it, runs the
referee, records whether it flagged the bug and how long it took, restores the
mutant, and checks with a direct probe that the mutant really changes numeric
behaviour (a mutant that patches nothing is a catalogue bug, reported as
``effective=False``).  :func:`table` prints the detection rate per class.

The referee is any callable ``verify(mutant) -> bool`` (True: flagged).  Two come
with this module, both calling :func:`referee`, the one entry point into what
``symgrad verify`` runs (so passes added to it later are measured too):

* :func:`full_referee`: ``symgrad verify`` with default settings (every op, 40
  points each, 20 random DAGs);
* :func:`quick_referee`: the same sweep restricted to the ops the mutant touches
  (``mutant.ops``) with fewer points and a few random DAGs -- what the test suite
  runs for 100+ mutants.

>>> from verify.mutate import MUTANTS_BY_NAME
>>> results = run([MUTANTS_BY_NAME["sin_vjp_sign"]], verify=quick_referee)
>>> results[0].flagged, results[0].effective
(True, True)
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from verify.mutate import CLASSES, MUTANTS, Mutant

__all__ = ["Result", "run", "referee", "full_referee", "quick_referee", "summary", "table",
           "main_table"]

#: points per op of the quick referee (and quick_examples // 2 random DAGs)
QUICK_EXAMPLES = 6


@dataclass
class Result:
    """One mutant's outcome: flagged by the referee, effective by its probe, seconds."""

    name: str
    cls: str
    flagged: bool
    effective: bool
    seconds: float
    error: Optional[str] = None   # the referee raised (counted as flagged)


def referee(ops: Optional[Sequence[str]] = None, *, examples: int = 40, seed: int = 0,
            dags: bool = True) -> bool:
    """Run ``symgrad verify`` in-process (output discarded); True if it flagged anything.

    ``ops=None`` checks every op (the default run); ``examples`` as ``--examples``.
    """
    from verify.cli import INJECT_ENV, add_parser, run as cli_run

    # through the real parser, so options added to ``symgrad verify`` later get their defaults
    parser = argparse.ArgumentParser(prog="symgrad")
    add_parser(parser.add_subparsers())
    argv = ["verify", "--examples", str(examples), "--seed", str(seed)]
    argv += ["--ops", ",".join(ops)] if ops else []
    argv += [] if dags else ["--no-dags"]
    args = parser.parse_args(argv)
    saved = os.environ.pop(INJECT_ENV, None)
    try:
        with contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            return cli_run(args) != 0
    finally:
        if saved is not None:
            os.environ[INJECT_ENV] = saved


def full_referee(mutant: Mutant) -> bool:
    """``symgrad verify`` with default settings, whatever the mutant touches."""
    return referee()


def quick_referee(mutant: Mutant) -> bool:
    """``symgrad verify --ops <the mutant's ops> --examples 6`` (3 random DAGs).

    The op sweep runs first without DAGs: when it already flags the bug, the DAG run
    (whose failure Hypothesis would spend seconds shrinking) is skipped.
    """
    return (referee(mutant.ops, examples=QUICK_EXAMPLES, dags=False)
            or referee(mutant.ops, examples=QUICK_EXAMPLES))


def run(mutants: Optional[Sequence[Mutant]] = None, *,
        verify: Callable[[Mutant], bool] = full_referee, probe: bool = True,
        progress: Optional[Callable[[Result], None]] = None) -> list[Result]:
    """Apply each mutant, run ``verify`` on it, restore; one :class:`Result` each.

    ``probe=False`` skips the effectiveness probe (``effective`` is then True).
    A referee that raises counts as flagged (the error is kept in ``Result.error``).
    """
    results = []
    for m in MUTANTS if mutants is None else mutants:
        effective = m.effective() if probe else True
        error = None
        start = time.perf_counter()
        with m:
            try:
                flagged = bool(verify(m))
            except Exception as e:  # noqa: BLE001 -- a crash is not a pass
                flagged, error = True, f"{type(e).__name__}: {e}"
        r = Result(m.name, m.cls, flagged, effective, time.perf_counter() - start, error)
        results.append(r)
        if progress is not None:
            progress(r)
    return results


def summary(results: Sequence[Result]) -> dict[str, tuple[int, int]]:
    """``{class: (flagged, total)}`` in :data:`verify.mutate.CLASSES` order, plus ``"all"``."""
    out: dict[str, tuple[int, int]] = {}
    for cls in CLASSES:
        rs = [r for r in results if r.cls == cls]
        if rs:
            out[cls] = (sum(r.flagged for r in rs), len(rs))
    out["all"] = (sum(r.flagged for r in results), len(results))
    return out


def table(results: Sequence[Result]) -> list[str]:
    """The detection table: one line per class, then the missed mutants."""
    lines = [f"{'class':<16}{'flagged':>9}{'total':>7}{'rate':>7}  bug kind"]
    for cls, (f, n) in summary(results).items():
        what = CLASSES.get(cls, "")
        lines.append(f"{cls:<16}{f:>9}{n:>7}{f / n:>7.0%}  {what}")
    secs = sum(r.seconds for r in results)
    lines.append(f"referee time: {secs:.1f}s over {len(results)} mutants")
    ineffective = [r.name for r in results if not r.effective]
    if ineffective:
        lines.append("CATALOGUE BUG, mutants that change nothing: " + ", ".join(ineffective))
    missed = [r.name for r in results if not r.flagged]
    if missed:
        lines.append("missed: " + ", ".join(missed))
    return lines


def main_table(quick: bool = False) -> int:
    """``symgrad verify --self-test``: run every mutant, print the table; 0 if all flagged."""
    import sys

    verify = quick_referee if quick else full_referee

    def progress(r: Result) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r{r.name:<44}{'flagged' if r.flagged else 'missed':<8}")
            sys.stderr.flush()

    results = run(verify=verify, progress=progress)
    if sys.stderr.isatty():
        sys.stderr.write("\r" + " " * 60 + "\r")
    for line in table(results):
        print(line)
    ok = all(r.flagged for r in results) and all(r.effective for r in results)
    return 0 if ok else 1
