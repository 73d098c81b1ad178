"""The ``symgrad`` command line: ``diff``, ``graph``, ``train``, ``verify``, ``demo``.

Exit status: 0 success; 1 the input was fine but the command could not finish
(an optional tool is missing -- Graphviz ``dot``, matplotlib --, training
diverged, or ``verify`` found a disagreement); 2 bad input (a malformed or
refused expression, bad option values, an unreadable CSV).  Errors are one line
on stderr, ``symgrad: error: ...``, never a traceback (``SYMGRAD_DEBUG=1`` shows
it for internal errors).

>>> main(["diff", "x**2*sin(y)", "--wrt", "x,y"])
df/dx = 2*x*sin(y)
df/dy = x**2*cos(y)
0
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from typing import Any, NoReturn, Optional, Sequence

from symgrad import cli_formula, cli_train, plugins
from symgrad.cli_formula import CommandFailed

__all__ = ["main", "build_parser", "CommandFailed"]

MAX_EPOCHS = cli_train.MAX_EPOCHS


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``symgrad diff: error: ... (see symgrad diff --help)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (v > 0 and v != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return v


# ---------------------------------------------------------------------------- handlers
def _demo(args: argparse.Namespace) -> int:
    from symgrad.demo import run

    return run()


def _plugin(argv: list[str]) -> int:
    """``symgrad NAME ...`` for a plugin subcommand: parsed by the plugin's own sub-parser."""
    parser = _Parser(prog="symgrad")
    plugins.load(argv[0]).add_parser(parser.add_subparsers(dest="command", parser_class=_Parser))
    args = parser.parse_args(argv)
    return int(args.func(args))


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-parser per subcommand."""
    parser = _Parser(
        prog="symgrad",
        description="Differentiation you can trust: PyTorch-style tensors, exact SymPy "
                    "derivatives, a fast numpy engine, and a referee.",
        epilog="Exit status: 0 ok, 1 could not finish (missing optional tool, diverged, "
               "verification failed), 2 bad input.  Docs: docs/cli.md")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)

    p = sub.add_parser("diff", help="closed-form partial derivatives of a formula",
                       description="Exact partial derivatives of EXPR (parsed safely, no eval) "
                                   "with SymPy; optionally evaluated exactly and in float64.",
                       epilog='examples: symgrad diff "x**2*sin(y)" --wrt x,y --at x=1,y=2; '
                              'symgrad diff "sum((X@w - y)**2)" --wrt w --shape X=n,d '
                              '--shape w=d --shape y=n; symgrad diff "x\'*A*x" '
                              '--notation matrixcalculus')
    cli_formula.add_arguments(p)
    p.set_defaults(func=cli_formula.run)

    p = sub.add_parser("graph", help="the computational graph of a formula (DOT, SVG, PNG)",
                       description="The computational graph of EXPR as PyTorch's autograd "
                                   "sees it. DOT on stdout, or -o FILE (.dot, .gv; .svg and "
                                   ".png need Graphviz's dot on PATH).",
                       epilog='example: symgrad graph "x**2*sin(y)" -o g.svg')
    p.add_argument("expr", metavar="EXPR", help='a formula, e.g. "x**2*sin(y)"')
    p.add_argument("-o", "--output", metavar="FILE", default=None,
                   help="write to FILE (.dot/.gv, .svg or .png) instead of printing DOT")
    p.add_argument("--text", action="store_true",
                   help="print the graph as a text tree (sg.print_graph) instead of DOT")
    p.set_defaults(func=cli_formula.run_graph)

    p = sub.add_parser("train", help="train the seed's linear model with a progress bar",
                       description="Train y = w*x + b (w=1, b=0 at the start) on the sum of "
                                   "squared errors, as the seed tutorial does, and print the "
                                   "exact optimum from SymPy beside the trained parameters. "
                                   "With --scheduler, train y = X@w + b on a CSV, Parquet or "
                                   "Zarr file of any size, chunk by chunk on Dask workers.",
                       epilog="examples: symgrad train linear --optimizer adam --lr 0.1; "
                              "symgrad train --data big.parquet --scheduler local --workers 2 "
                              "--reduction mean --lr 0.1")
    p.add_argument("model", nargs="?", choices=["linear"], default="linear",
                   help="the model to train (linear, the default)")
    p.add_argument("--data", metavar="PATH", default=None,
                   help="x,y columns (header optional); default: the seed's x=1,2,3, y=3,5,7. "
                        "With --scheduler: .csv, .parquet or .zarr, the features then the "
                        "target")
    p.add_argument("--scheduler", metavar="local|ADDRESS", default=None,
                   help="train through Dask (pip install symgrad[dask]): 'local' starts a "
                        "LocalCluster, tcp://host:port uses a running scheduler")
    p.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                   help="worker processes of --scheduler local (default: one per core)")
    p.add_argument("--memory-limit", default=None, metavar="SIZE",
                   help="memory per worker of --scheduler local, e.g. 2GiB (default: the "
                        "machine's memory split evenly)")
    p.add_argument("--chunk-rows", type=_positive_int, default=None, metavar="N",
                   help="rows per chunk (about N for CSV; default: a Parquet file's "
                        "partitions, a Zarr array's chunks, 10^6 rows of CSV)")
    p.add_argument("--target", metavar="NAME", default=None,
                   help="the target column by name (CSV header, Parquet); default the last")
    p.add_argument("--reduction", choices=["sum", "mean"], default="sum",
                   help="the loss: sum (as the seed) or mean of squared errors (default sum)")
    p.add_argument("--epochs", type=_positive_int, default=100, metavar="N",
                   help="number of epochs (default 100)")
    p.add_argument("--lr", type=_positive_float, default=0.01, help="learning rate (0.01)")
    p.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd",
                   help="sg.optim.SGD or sg.optim.Adam (default sgd)")
    p.add_argument("--compiled", action="store_true",
                   help="run the loss through sg.compile (the fast path)")
    p.add_argument("--plot", metavar="loss.png", default=None,
                   help="write the loss curve as a PNG (needs pip install 'symgrad[plot]')")
    p.set_defaults(func=cli_train.run)

    for name in sorted(plugins.commands()):   # main() dispatches these before this parser
        sub.add_parser(name, add_help=False, help=f"see symgrad {name} --help (a plugin)")

    p = sub.add_parser("demo", help="a tour of the seed tutorial's examples (seconds)",
                       description="The seed's four examples: numeric results as PyTorch "
                                   "prints them, their closed forms, the graph, training and "
                                   "a short verification.")
    p.set_defaults(func=_demo)
    return parser


def _one_line(message: str) -> str:
    return " ".join(str(message).split()) or "unknown error"


_OPTION_LIKE = re.compile(r"--?[A-Za-z][A-Za-z0-9-]*(=.*)?\Z", re.S)


def _protect_formulas(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """Let a formula start with a minus: ``symgrad diff "-x**2"``.

    argparse takes any word starting with ``-`` for an option.  For the
    subcommands that read a formula, a word that is not one of their options (or
    an abbreviation of one) gets a leading space, which argparse reads as a
    positional and the parser ignores.

    >>> _protect_formulas(build_parser(), ["diff", "-x**2", "--wrt", "x", "-h"])
    ['diff', ' -x**2', '--wrt', 'x', '-h']
    """
    if len(argv) < 2 or argv[0] not in ("diff", "graph"):
        return argv
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    known = list(sub.choices[argv[0]]._option_string_actions)
    out = argv[:1]
    for k, word in enumerate(argv[1:], start=1):
        if word == "--":
            return out + argv[k:]
        name = word.split("=", 1)[0]
        is_option = bool(_OPTION_LIKE.match(word)) and any(
            o == name or (name.startswith("--") and o.startswith(name)) for o in known)
        out.append(" " + word if word.startswith("-") and not is_option else word)
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``symgrad`` script; returns the exit status (see module doc)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in plugins.commands():   # Note [CLI plugins]
        return _guarded(_plugin, argv)
    parser = build_parser()
    args = parser.parse_args(_protect_formulas(parser, argv))
    return _guarded(args.func, args)


def _guarded(func: Any, arg: Any) -> int:
    """Run a handler; map exceptions to one-line messages and exit statuses.

    numpy's RuntimeWarnings (``log(0)`` folded while parsing) are silenced: the
    results say inf or nan themselves, and stderr keeps to one line.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return int(func(arg))
    except CommandFailed as exc:
        print(f"symgrad: error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, ArithmeticError, RecursionError,
            RuntimeError, MemoryError, OSError) as exc:
        msg = str(exc) if not isinstance(exc, MemoryError) else "out of memory"
        if isinstance(exc, OSError) and exc.strerror:
            msg = f"{exc.filename or ''}: {exc.strerror}".lstrip(": ")
        if isinstance(exc, RecursionError):
            msg = "expression too deeply nested"
        print(f"symgrad: error: {_one_line(msg)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("symgrad: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug in symgrad: one line, the traceback on request
        if os.environ.get("SYMGRAD_DEBUG"):
            raise
        print(f"symgrad: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
              "(set SYMGRAD_DEBUG=1 for the traceback, and please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
