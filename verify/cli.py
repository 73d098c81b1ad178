"""``symgrad verify``: sweep every op and random DAGs, print a table, exit non-zero on a bug.

The symgrad CLI wires this in with ``verify.cli.add_parser(subparsers)``; the
sub-parser's default ``func`` is :func:`run`.  ``python -m verify`` runs it
stand-alone.  ``SYMGRAD_VERIFY_INJECT=op:kind[:argnum]`` (see
:mod:`verify.mutate`) injects a wrong VJP first, to watch the sweep catch it.

Per op, every pass of :data:`verify.passes.PASSES` runs (``--passes`` selects):
``domain`` (``--examples N`` points split across the op's samples; finite
differences, the slowest witness, on the first ``FD_POINTS`` points of each
sample), ``extremes``, ``kinks``, ``sizes``, ``float32`` and ``forward`` (their
point counts scale with ``N``; see Note [Sample where bugs live]).  The table's
``passes`` column lists the passes that ran for the op, a failing one marked
``!``.  Then ``N // 2`` random DAGs are drawn with hypothesis, in blocks of
:data:`DAG_BLOCK` (see Note [DAG blocks]).

``--scheduler local|ADDRESS`` runs the ops and the DAG blocks as tasks on Dask
workers (:mod:`verify.scheduler`) instead of ``--jobs`` processes; the report is
the same, apart from timing figures.

>>> import argparse
>>> p = argparse.ArgumentParser(prog="symgrad"); sub = p.add_subparsers()
>>> _ = add_parser(sub)
>>> args = p.parse_args(["verify", "--ops", "exp,sin", "--examples", "4", "--no-dags"])
>>> run(args)  # doctest: +ELLIPSIS
op ...
exp ...
sin ...
all ... agree
0
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
import time
from typing import Any, Optional, Sequence

import numpy as np

from numeric.ops import Op
from verify.opdb import OP_DB
from verify.passes import FD_POINTS, SHORT, parse_passes, run_passes

__all__ = ["add_parser", "run", "main", "FD_POINTS", "INJECT_ENV", "MAX_EXAMPLES", "MAX_SEED",
           "DAG_BLOCK"]

#: environment variable naming a VJP bug to inject (``op:kind[:argnum]``)
INJECT_ENV = "SYMGRAD_VERIFY_INJECT"
#: ``--examples`` is at most this (10**6 points per op already takes days)
MAX_EXAMPLES = 10 ** 6
#: ``--seed`` is in ``[0, MAX_SEED)`` (numpy's and hypothesis's 32-bit seeds)
MAX_SEED = 2 ** 32
#: random DAGs per hypothesis run (Note [DAG blocks])
DAG_BLOCK = 50


def _int_in(text: Any, lo: int, hi: int) -> int:
    """``text`` as an int in ``[lo, hi]``, else a one-line ``ArgumentTypeError``."""
    if isinstance(text, bool):
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    try:
        v = int(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not lo <= v <= hi:
        raise argparse.ArgumentTypeError(f"must be between {lo} and {hi:,}, got {v}")
    return v


def _examples(text: str) -> int:
    return _int_in(text, 1, MAX_EXAMPLES)


def _seed(text: str) -> int:
    return _int_in(text, 0, MAX_SEED - 1)


class _OneLineParser(argparse.ArgumentParser):
    """``python -m verify``'s parser: bad arguments are one line on stderr, exit 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``verify`` sub-command on an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "verify", help="cross-check numeric gradients against exact ones for every op",
        description="Sweep every op (and random expression DAGs): numeric gradients vs exact "
                    "(SymPy, mpmath) vs finite differences.  Exits 1 on any disagreement.")
    p.add_argument("--ops", default=None, metavar="NAMES",
                   help="comma-separated op names (default: all), e.g. exp,matmul,softmax")
    p.add_argument("--examples", type=_examples, default=40, metavar="N",
                   help=f"points per op, and N//2 random DAGs (default 40, at most "
                        f"{MAX_EXAMPLES:,})")
    p.add_argument("--seed", type=_seed, default=0, metavar="S",
                   help="random seed in [0, 2**32) (default 0)")
    p.add_argument("--json", default=None, metavar="PATH", help="also write results as JSON")
    p.add_argument("--no-dags", action="store_true", help="skip the random-DAG sweep")
    p.add_argument("--passes", default=None, metavar="NAMES",
                   help="comma-separated passes to run per op (default: all): domain, "
                        "extremes, kinks, sizes, float32 (f32), forward (fwd), paths")
    p.add_argument("--jobs", type=_jobs, default=None, metavar="N",
                   help="processes sweeping ops and blocks of random DAGs in parallel "
                        "(default: the number of CPUs); the report is the same for every N")
    p.add_argument("--scheduler", default=None, metavar="local|ADDRESS",
                   help="run the sweep on Dask workers: 'local' starts a LocalCluster on this "
                        "machine, an address such as tcp://host:8786 uses an existing cluster "
                        "(needs pip install symgrad[dask]); the report is the same")
    p.add_argument("--workers", type=_positive("worker processes"), default=None, metavar="N",
                   help="with --scheduler local: worker processes (default: one per CPU)")
    p.add_argument("--self-test", action="store_true",
                   help="plant each realistic bug of verify.mutate in turn, run this sweep "
                        "(default settings) on it and print the detection rate per class")
    p.set_defaults(func=run)
    return p


def _positive(what: str) -> Any:
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number of {what}, got {text!r}")
        if n < 1:
            raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
        return n
    parse.__name__ = what
    return parse


_jobs = _positive("processes")


def _dag_blocks(n: int, seed: int) -> list[tuple[int, int]]:
    """``(examples, seed)`` of each hypothesis run drawing ``n`` random DAGs.

    Note [DAG blocks]: the DAG sweep is cut into runs of at most :data:`DAG_BLOCK`
    examples whose sizes and seeds depend on ``n`` and ``seed`` only -- never on
    ``--jobs`` or the number of Dask workers -- so any process can run any block and
    the report is the same.  Each block is one derandomized hypothesis run, which
    shrinks its own failure where it runs.  Blocks are merged in order and the sweep
    stops at the first failing block (one shrunk failure, as a single run reports);
    the example count covers the blocks up to it.  Block 0 keeps ``seed``, so a sweep
    of at most ``DAG_BLOCK`` DAGs is the single run it always was.

    >>> _dag_blocks(120, 0)[0], [k for k, _ in _dag_blocks(120, 0)]
    ((50, 0), [50, 50, 20])
    """
    blocks = []
    for b, start in enumerate(range(0, n, DAG_BLOCK)):
        bseed = seed if b == 0 else int(np.random.SeedSequence([seed, b]).generate_state(1)[0])
        blocks.append((min(DAG_BLOCK, n - start), bseed))
    return blocks


def _merge_dags(results: Sequence[Optional[dict]]) -> dict:
    """The DAG blocks' results (in block order) as one: up to the first failing block.

    Blocks after a failing one may be ``None`` (cancelled or never run).
    """
    merged: dict = {"examples": 0, "failures": []}
    for r in results:
        if r is None:
            break
        merged["examples"] += r["examples"]
        if r["failures"]:
            merged["failures"] = list(r["failures"])
            break
    return merged


def _task(item: tuple, n: int, seed: int, passes: Any, stop: Optional[Any] = None) -> dict:
    """One unit of the sweep: ``("op", op)`` -> a table row, ``("dags", k, s)`` -> a DAG block."""
    if item[0] == "op":
        return _sweep_op(item[1], n, seed, passes)
    return _sweep_dags(item[1], item[2], stop)


def _label(item: tuple) -> str:
    return item[1].name.lower() if item[0] == "op" else "random DAGs"


def _sweep_rows(ops: list, blocks: list, n: int, seed: int, passes: Any,
                jobs: Optional[int], bar: Any) -> tuple[list, dict]:
    """One row per op, in ``ops`` order, and the merged DAG blocks, from ``jobs`` processes.

    Note [Parallel sweep]: every op's points come from its own generator (seeded by
    the op and ``seed``), and every DAG block from its own seed (Note [DAG blocks]),
    so a result does not depend on which process computed it or in what order: the
    report is the same for any ``jobs``.  Workers are forked, so an injected bug
    (``SYMGRAD_VERIFY_INJECT``) patched in this process is in them too; where fork is
    not available the sweep runs in this process.
    """
    import multiprocessing

    items = [("op", op) for op in ops] + [("dags", k, s) for k, s in blocks]
    work = functools.partial(_task, n=n, seed=seed, passes=passes)
    jobs = min(jobs or os.cpu_count() or 1, len(items))
    rows: list = []
    dag_results: list = []
    with contextlib.ExitStack() as stack:
        if jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
            pool = stack.enter_context(multiprocessing.get_context("fork").Pool(jobs))
            results = pool.imap(work, items)
        else:
            results = map(work, items)
        for item, result in zip(items, results):
            bar.step(_label(item))
            if item[0] == "op":
                rows.append(result)
                continue
            dag_results.append(result)
            if result["failures"]:
                break   # later blocks are not reported (Note [DAG blocks]); the pool stops them
    return rows, _merge_dags(dag_results)


def _parse_ops(spec: Optional[str]) -> list[Op]:
    if not spec:
        return sorted(OP_DB, key=lambda o: o.name)
    ops = []
    for name in spec.split(","):
        name = name.strip()
        try:
            ops.append(Op[name.upper()])
        except KeyError:
            known = ", ".join(sorted(o.name.lower() for o in Op))
            raise ValueError(f"unknown op {name!r}; known ops: {known}") from None
    return ops


class _Progress:
    """A progress bar on a TTY, nothing otherwise (the table lines are the log)."""

    def __init__(self, total: int, stream: Any = None) -> None:
        self.total, self.done = max(total, 1), 0
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def step(self, label: str) -> None:
        self.done += 1
        if self.tty:
            width = 30
            fill = int(width * self.done / self.total)
            self.stream.write(f"\r[{'#' * fill}{'.' * (width - fill)}] "
                              f"{self.done}/{self.total} {label:<14}")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()


def _sweep_op(op: Op, n: int, seed: int, passes: Optional[Sequence[str]] = None) -> dict:
    """Run the passes on ``op``; one table row (the domain pass fills the error columns)."""
    names = parse_passes(None) if passes is None else list(passes)
    results = run_passes(op, names, n, seed)
    row: dict = {"op": op.name.lower(), "tried": 0, "used": 0, "skipped_domain": 0,
                 "skipped_ill": 0, "max_rel_err": 0.0, "max_rel_err_fd": 0.0,
                 "max_err_over_tol": 0.0, "failures": [],
                 "passes": [r.as_dict() for r in results]}
    for r in results:
        if r.name == "domain":
            row["tried"], row["used"] = r.tried, r.used
            for key in ("skipped_domain", "skipped_ill", "max_rel_err", "max_rel_err_fd",
                        "max_err_over_tol"):
                row[key] = r.stats.get(key, row[key])
        row["failures"].extend(r.failures)
    return row


def _passes_cell(row: dict) -> str:
    return ",".join(SHORT.get(p["name"], p["name"]) + ("!" if p["status"] == "FAIL" else "")
                    for p in row.get("passes", ()) if p["status"] != "-")


class StopSweep(BaseException):
    """Raised by a ``stop`` callback to end a DAG block early (hypothesis does not catch it)."""


def _sweep_dags(n: int, seed: int, stop: Optional[Any] = None) -> dict:
    """One hypothesis run of ``n`` random DAGs (a block, Note [DAG blocks]).

    ``stop()``, if given, is asked before each example; True ends the run at once,
    unshrunk, with ``"stopped": True`` (its result is not to be reported).
    """
    from hypothesis import HealthCheck, Phase, given, settings, strategies as st
    from hypothesis import seed as hseed

    import verify
    from verify.strategies import expressions, points

    stats = {"examples": 0, "failures": []}

    # report_multiple_bugs=False: after a first failure hypothesis would otherwise go on
    # looking for others for up to 10 s of wall time, so how many examples ran (and which
    # were shrunk) would depend on the machine's load, not only on the seed
    # and the default profile as the parent: the profile a test session or a user loaded
    # (phases, verbosity, ...) must not change the report either
    @hseed(seed)
    @settings(settings.get_profile("default"), max_examples=n, database=None, deadline=None,
              derandomize=False, suppress_health_check=list(HealthCheck), print_blob=False,
              report_multiple_bugs=False,
              phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink))
    @given(st.data())
    def prop(data: Any) -> None:
        if stop is not None and stop():
            raise StopSweep
        expr = data.draw(expressions(max_nodes=5))
        pt = data.draw(points(expr))
        stats["examples"] += 1
        r = verify.check(expr.node, expr.symbols, points=[pt], fd=False)
        if not r.passed:   # not ``assert``: pytest may rewrite it, and then its message
            raise AssertionError(f"{expr!r}\n{r}")

    try:
        prop()
    except StopSweep:
        stats["stopped"] = True
    except AssertionError as e:
        stats["failures"].append(str(e))
    except Exception as e:  # noqa: BLE001 - the referee crashing on an expression is a finding
        stats["failures"].append(f"{type(e).__name__}: {e}")
    return stats


def _table(rows: list[dict]) -> list[str]:
    cols = ("op", "points", "used", "out of domain", "ill-cond", "max rel err (exact)",
            "max rel err (FD)", "err/tol", "passes", "status")
    body = [cols] + [(r["op"], str(r["tried"]), str(r["used"]), str(r["skipped_domain"]),
                      str(r["skipped_ill"]), f"{r['max_rel_err']:.2e}",
                      f"{r['max_rel_err_fd']:.2e}", f"{r['max_err_over_tol']:.3g}",
                      _passes_cell(r), "ok" if not r["failures"] else "FAIL") for r in rows]
    widths = [max(len(line[c]) for line in body) for c in range(len(cols))]
    return ["  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip() for line in body]


def _check_scheduler(scheduler: Any, workers: Optional[int], jobs: Optional[int]) -> None:
    """Refuse option combinations that cannot mean anything (a one-line ``ValueError``)."""
    if scheduler is None:
        if workers is not None:
            raise ValueError("--workers sets the size of the LocalCluster that --scheduler local "
                             "starts; add --scheduler local, or use --jobs N for processes "
                             "on this machine without Dask")
        return
    if jobs is not None:
        raise ValueError("--jobs and --scheduler cannot be combined: --jobs forks processes on "
                         "this machine, --scheduler runs the sweep on Dask workers (with "
                         "--scheduler local, --workers N sets how many)")
    if isinstance(scheduler, str) and scheduler != "local":
        if "://" not in scheduler:
            raise ValueError(f"--scheduler takes 'local' or a Dask scheduler address such as "
                             f"tcp://host:8786, got {scheduler!r}")
        if workers is not None:
            raise ValueError(f"--workers applies to --scheduler local only; the cluster at "
                             f"{scheduler} has the workers it has")


def run(args: argparse.Namespace) -> int:
    """Run the sweep described by ``args`` (see :func:`add_parser`); 0 if all agree."""
    if getattr(args, "self_test", False):
        from verify.selftest import main_table
        return main_table()
    for flag, value, valid in (("--examples", args.examples, _examples),
                               ("--seed", args.seed, _seed)):
        try:
            valid(value if isinstance(value, int) else repr(value))
        except argparse.ArgumentTypeError as exc:
            raise ValueError(f"argument {flag}: {exc}") from None
    scheduler, workers = getattr(args, "scheduler", None), getattr(args, "workers", None)
    _check_scheduler(scheduler, workers, getattr(args, "jobs", None))
    ops = _parse_ops(args.ops)
    passes = parse_passes(getattr(args, "passes", None))
    blocks = [] if args.no_dags else _dag_blocks(max(1, args.examples // 2), args.seed)
    inject = os.environ.get(INJECT_ENV)
    ctx: Any = contextlib.nullcontext()
    if inject:
        from verify.mutate import parse_injection, perturbed
        op, kind, argnum = parse_injection(inject)
        if scheduler is None:    # on Dask, each task injects the bug on its worker
            ctx = perturbed(op, kind, argnum)
    if scheduler is not None:   # without Dask, this is the one-line refusal
        from verify import scheduler as dask_sweep
        client = dask_sweep.connect(scheduler, workers)
        ctx = dask_sweep.releasing(client, scheduler)
    if inject:
        print(f"injected bug: {op.name.lower()} VJP for input {argnum}: {kind}")
    start = time.perf_counter()
    with ctx:
        bar = _Progress(len(ops) + len(blocks))
        try:
            if scheduler is None:
                rows, dags = _sweep_rows(ops, blocks, args.examples, args.seed, passes,
                                         getattr(args, "jobs", None), bar)
            else:
                rows, dags = dask_sweep.sweep(client, ops, blocks, args.examples, args.seed,
                                              passes, inject=inject, bar=bar)
        finally:
            bar.close()
    for line in _table(rows):
        print(line)
    failures = [f for r in rows for f in r["failures"]] + dags["failures"]
    if not args.no_dags:
        print(f"random DAGs: {dags['examples']} examples, "
              f"{'FAIL' if dags['failures'] else 'ok'}")
    for f in failures:
        print("FAIL:", f)
    elapsed = time.perf_counter() - start
    seconds: dict = {}
    for r in rows:
        for p in r["passes"]:
            seconds[p["name"]] = seconds.get(p["name"], 0.0) + p["seconds"]
    if seconds:
        print("passes: " + ", ".join(f"{SHORT.get(k, k)} {v:.1f}s" for k, v in seconds.items()))
    verdict = "all gradients agree" if not failures else f"{len(failures)} disagreement(s)"
    print(f"all {len(rows)} ops checked in {elapsed:.1f}s: {verdict}" if not failures
          else f"{len(rows)} ops checked in {elapsed:.1f}s: {verdict}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"ops": rows, "dags": dags, "passed": not failures,
                       "seconds": elapsed, "injected": inject or None}, fh, indent=2,
                      default=lambda o: float(o) if isinstance(o, np.floating) else str(o))
    return 0 if not failures else 1


def tour() -> None:
    """Numeric vs exact vs finite differences on two formulas.

    The last section of ``symgrad demo`` (Note [CLI plugins] in symgrad/plugins.py).
    """
    import symgrad as sg
    from verify.check import check

    for text in ("x**2*sin(y)", "log(1 + exp(x)) * tanh(y)"):
        report = check(sg.parse(text), n_points=5)
        print(f"verify.check({text}): {str(report).splitlines()[0].split(': ', 1)[1]}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m verify [options]``: the same sweep without the symgrad CLI."""
    parser = _OneLineParser(prog="python -m verify")
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "verify":
        argv = ["verify", *argv]
    args = parser.parse_args(argv)
    from symgrad.cli_formula import CommandFailed

    try:
        return int(args.func(args))
    except CommandFailed as exc:           # e.g. --scheduler without the dask extra
        print(f"python -m verify: error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:   # OSError: no Dask scheduler at --scheduler ADDRESS
        print(f"python -m verify: error: {exc}", file=sys.stderr)
        return 2
