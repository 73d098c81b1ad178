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
``!``.  Then ``N // 2`` random DAGs are drawn with hypothesis.

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

__all__ = ["add_parser", "run", "main", "FD_POINTS", "INJECT_ENV", "MAX_EXAMPLES", "MAX_SEED"]

#: environment variable naming a VJP bug to inject (``op:kind[:argnum]``)
INJECT_ENV = "SYMGRAD_VERIFY_INJECT"
#: ``--examples`` is at most this (10**6 points per op already takes days)
MAX_EXAMPLES = 10 ** 6
#: ``--seed`` is in ``[0, MAX_SEED)`` (numpy's and hypothesis's 32-bit seeds)
MAX_SEED = 2 ** 32


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
                   help="processes sweeping ops in parallel (default: the number of CPUs); "
                        "the report is the same for every N")
    p.add_argument("--self-test", action="store_true",
                   help="plant each realistic bug of verify.mutate in turn, run this sweep "
                        "(default settings) on it and print the detection rate per class")
    p.set_defaults(func=run)
    return p


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of processes, got {text!r}")
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _sweep_rows(ops: list, n: int, seed: int, passes: Any, jobs: Optional[int], bar: Any) -> list:
    """One row per op, in ``ops`` order, from ``jobs`` processes.

    Note [Parallel sweep]: every op's points come from its own generator (seeded by
    the op and ``seed``), so a row does not depend on which process computed it or
    in what order: the report is the same for any ``jobs``.  Workers are forked, so
    an injected bug (``SYMGRAD_VERIFY_INJECT``) patched in this process is in them too;
    where fork is not available the sweep runs in this process.
    """
    import multiprocessing

    jobs = min(jobs or os.cpu_count() or 1, len(ops))
    if jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
        work = functools.partial(_sweep_op, n=n, seed=seed, passes=passes)
        rows = []
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            for op, row in zip(ops, pool.imap(work, ops)):
                rows.append(row)
                bar.step(op.name.lower())
        return rows
    rows = []
    for op in ops:
        rows.append(_sweep_op(op, n, seed, passes))
        bar.step(op.name.lower())
    return rows


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


def _sweep_dags(n: int, seed: int) -> dict:
    from hypothesis import HealthCheck, given, settings, strategies as st
    from hypothesis import seed as hseed

    import verify
    from verify.strategies import expressions, points

    stats = {"examples": 0, "failures": []}

    @hseed(seed)
    @settings(max_examples=n, database=None, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(st.data())
    def prop(data: Any) -> None:
        expr = data.draw(expressions(max_nodes=5))
        pt = data.draw(points(expr))
        stats["examples"] += 1
        r = verify.check(expr.node, expr.symbols, points=[pt], fd=False)
        assert r.passed, f"{expr!r}\n{r}"

    try:
        prop()
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
    ops = _parse_ops(args.ops)
    passes = parse_passes(getattr(args, "passes", None))
    inject = os.environ.get(INJECT_ENV)
    ctx: Any = contextlib.nullcontext()
    if inject:
        from verify.mutate import parse_injection, perturbed
        op, kind, argnum = parse_injection(inject)
        ctx = perturbed(op, kind, argnum)
        print(f"injected bug: {op.name.lower()} VJP for input {argnum}: {kind}")
    start = time.perf_counter()
    rows: list[dict] = []
    dags: dict = {"examples": 0, "failures": []}
    with ctx:
        bar = _Progress(len(ops) + (0 if args.no_dags else 1))
        try:
            rows = _sweep_rows(ops, args.examples, args.seed, passes,
                               getattr(args, "jobs", None), bar)
            if not args.no_dags:
                dags = _sweep_dags(max(1, args.examples // 2), args.seed)
                bar.step("random DAGs")
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
    try:
        return int(args.func(args))
    except ValueError as exc:
        print(f"python -m verify: error: {exc}", file=sys.stderr)
        return 2
