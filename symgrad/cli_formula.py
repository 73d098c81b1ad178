"""``symgrad diff`` and ``symgrad graph``: commands on a formula given as text.

Formulas go through :func:`symgrad.parse` (no ``eval``; bounded length, node count,
nesting and exponents), in the python notation or matrixcalculus.org's
(``--notation matrixcalculus``).  ``--shape X=n,d`` makes a variable a vector or
matrix: named dims give matrix-form results (``2*X.T*(X*w - y)``), numbered dims
elementwise ones.  ``--hessian`` prints second derivatives (matrix form through
``sg.hessian(..., form="matrix")``), ``--code numpy|jax|torch`` a function
(``sg.codegen``).  Work that could still explode -- the tenth derivative of a deep
composition -- runs under a wall-clock limit (``--timeout``, default 30 s) on
platforms with ``SIGALRM``.

>>> import argparse
>>> p = argparse.ArgumentParser(); add_arguments(p)
>>> run(p.parse_args(["x**3", "--order", "2", "--at", "x=1/2"]))
d2f/dx2 = 6*x
  at x=1/2: exact 3, float64 3.0
0
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import re
import shutil
import signal
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

if TYPE_CHECKING:   # SymPy is imported by the functions that use it: `symgrad --help` skips it
    import sympy

__all__ = ["CommandFailed", "TimeLimitExceeded", "add_arguments", "run", "run_graph",
           "parse_assignments", "parse_shapes", "partials", "MAX_ORDER", "MAX_PARTIALS",
           "MAX_ENTRIES", "MAX_HESSIAN_ENTRIES", "CODE_LANGS"]

#: the highest --order accepted
MAX_ORDER = 10
#: the most partial derivatives one command prints
MAX_PARTIALS = 500
#: the most scalar entries all variables with concrete --shape dims may hold together
MAX_ENTRIES = 1000
#: the most entries an elementwise --hessian may have (its side is the entries of --wrt)
MAX_HESSIAN_ENTRIES = 10_000
#: the languages of --code (sg.codegen's lang=)
CODE_LANGS = ("numpy", "jax", "torch")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_VALUE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?(/[+-]?\d{1,300})?\Z")
_GRAPH_FORMATS = {".dot": None, ".gv": None, ".svg": "svg", ".png": "png"}
DOT_HINT = ("Graphviz's `dot` is not on PATH; install Graphviz (Debian/Ubuntu: "
            "apt-get install graphviz; macOS: brew install graphviz; others: "
            "https://graphviz.org/download/) or write DOT with -o FILE.dot")


class CommandFailed(Exception):
    """The input was fine but the command could not finish (exit status 1)."""


class TimeLimitExceeded(RuntimeError):
    """The computation ran past ``--timeout`` seconds (exit status 2: input too heavy)."""


@contextlib.contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Raise :class:`TimeLimitExceeded` if the block runs longer than ``seconds``.

    Uses ``SIGALRM``; where that is unavailable (Windows, or not the main
    thread) the block runs without a limit.
    """
    usable = (seconds and seconds > 0 and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    active = [True]

    def on_alarm(signum: int, frame: Any) -> None:
        if active[0]:
            raise TimeLimitExceeded(f"gave up after {seconds:g} s: {what}")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    # the alarm repeats every 0.1 s: Python swallows an exception raised while a gc
    # callback or __del__ runs (hypothesis installs a gc callback), so one may be lost
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.1)
    try:
        yield
    finally:
        active[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------------------- diff
def add_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``symgrad diff``."""
    p.add_argument("expr", metavar="EXPR", help='a formula, e.g. "x**2*sin(y)"')
    p.add_argument("--wrt", metavar="x,y", default=None,
                   help="comma-separated variables (default: every variable, alphabetical)")
    p.add_argument("--at", metavar="x=1,y=2", default=None,
                   help="evaluate at this point, exactly (rationals: 1/3, 0.1) and in float64")
    p.add_argument("--order", type=int, default=1, metavar="N",
                   help=f"order of the partial derivatives, 1..{MAX_ORDER} (default 1): all "
                        "mixed partials of that order")
    p.add_argument("--shape", action="append", metavar="NAME=d1,d2", default=None,
                   help="the shape of a variable, dims as numbers or names (X=n,d; w=3; "
                        "a= for a scalar); repeat for each variable. Names as dims give "
                        "matrix-form results (2*X.T*(X*w - y)), numbers elementwise ones")
    p.add_argument("--notation", choices=("python", "matrixcalculus"), default="python",
                   help="python (default: ** powers, @ matrix product) or matrixcalculus "
                        "(matrixcalculus.org: x'*A*x, .*, ./, ^, tr, det, logdet, inv, norm2; "
                        "a..g scalars, h..z vectors, A..Z matrices)")
    p.add_argument("--hessian", action="store_true",
                   help="print the Hessian over the --wrt variables (matrix form for "
                        "symbolic shapes) instead of first derivatives")
    p.add_argument("--code", choices=CODE_LANGS, default=None, metavar="LANG",
                   help="also print each result as a Python function (sg.codegen): "
                        + ", ".join(CODE_LANGS))
    p.add_argument("--latex", action="store_true", help="print LaTeX")
    p.add_argument("--expand", action="store_true", help="expand the results into flat sums")
    p.add_argument("--simplify", action="store_true",
                   help="simplify each result (within --timeout: the best form found "
                        "in time)")
    p.add_argument("--timeout", type=_seconds, default=30.0, metavar="SECONDS",
                   help="give up after this many seconds (default 30)")


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not (0 < v < float("inf")):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return v


def _names(text: str, option: str) -> list[str]:
    names = [s.strip() for s in text.split(",")]
    for n in names:
        if not _NAME.match(n) or "__" in n:
            raise ValueError(f"{option} expects variable names like x,y; got {n!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"{option} names a variable twice: {text!r}")
    return names


def parse_assignments(text: str) -> dict[str, sympy.Rational]:
    """``"x=1,y=1/3"`` -> ``{"x": 1, "y": 1/3}`` as exact SymPy Rationals.

    >>> parse_assignments("x=0.1, y=-2/3")
    {'x': 1/10, 'y': -2/3}
    """
    import sympy

    out: dict[str, sympy.Rational] = {}
    for item in text.split(","):
        name, eq, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not _NAME.match(name) or "__" in name:
            raise ValueError(f"--at expects name=value pairs like x=1,y=0.5; got {item.strip()!r}")
        if not _VALUE.match(value):
            raise ValueError(f"--at {name}: {value!r} is not a number; use integers, decimals "
                             "(exponent at most 3 digits) or fractions such as 1/3")
        if name in out:
            raise ValueError(f"--at gives {name} twice")
        try:
            num = sympy.Rational(value)
        except ZeroDivisionError:
            num = sympy.zoo
        if not num.is_finite:
            raise ValueError(f"--at {name}: {value!r} divides by zero")
        out[name] = num
    return out


def parse_shapes(items: list[str]) -> dict[str, tuple]:
    """``["X=n,d", "w=3", "a="]`` -> ``{"X": ("n", "d"), "w": (3,), "a": ()}``.

    >>> parse_shapes(["X=n,d", "w=3", "a="])
    {'X': ('n', 'd'), 'w': (3,), 'a': ()}
    """
    out: dict[str, tuple] = {}
    for item in items:
        name, eq, dims = item.partition("=")
        name = name.strip()
        if not eq or not _NAME.match(name) or "__" in name:
            raise ValueError(f"--shape expects NAME=d1,d2 like X=n,d or w=3; got {item!r}")
        if name in out:
            raise ValueError(f"--shape gives {name} twice")
        shape: list = []
        for d in (dims.split(",") if dims.strip() else []):
            d = d.strip()
            if re.fullmatch(r"\d{1,6}", d):
                shape.append(int(d))
            elif _NAME.match(d) and "__" not in d:
                shape.append(d)
            else:
                raise ValueError(f"--shape {name}: dim {d!r} is neither a number (up to 6 "
                                 "digits) nor a name such as n")
        if len(shape) > 2:
            raise ValueError(f"--shape {name}: {len(shape)} dims; the CLI reads scalars, "
                             "vectors and matrices (at most 2 dims)")
        out[name] = tuple(shape)
    return out


def _label(counts: list[tuple[str, int]], order: int, latex: bool) -> str:
    import sympy

    if latex:
        den = " ".join(f"\\partial {sympy.latex(sympy.Symbol(n))}" + (f"^{{{k}}}" if k > 1 else "")
                       for n, k in counts)
        num = "\\partial f" if order == 1 else f"\\partial^{{{order}}} f"
        return f"\\frac{{{num}}}{{{den}}}"
    den = "".join(f"d{n}" + (str(k) if k > 1 else "") for n, k in counts)
    return ("df" if order == 1 else f"d{order}f") + "/" + den


def partials(f: Any, wrt: list[str], order: int, *, simplify: bool = False,
             timeout: float | None = None) -> list[tuple[tuple[int, ...], sympy.Expr]]:
    """Every partial derivative of order ``order`` of the scalar tensor ``f``.

    Returns ``[(index tuple into wrt, expression), ...]`` over the sorted
    multi-indices.  First derivatives come from :func:`symgrad.gradient`; higher
    ones from ``sympy.diff`` of those.  Variables absent from ``f`` give 0.
    ``simplify=True`` simplifies each result (:func:`symgrad.budget.tidy`, strategy
    "auto") within ``timeout`` seconds for all of them (default
    :data:`symgrad.budget.DEFAULT_TIMEOUT`): the best form found in time, never a
    larger one.

    >>> import symgrad as sg
    >>> partials(sg.parse("x**2*y"), ["x", "y"], 2)
    [((0, 0), 2*y), ((0, 1), 2*x), ((1, 1), 0)]
    """
    import sympy

    import symgrad as sg
    from numeric.graph import toposort
    from symgrad.budget import Deadline, DEFAULT_TIMEOUT, tidy
    from symgrad.lower_sympy import real_world

    deadline = Deadline(DEFAULT_TIMEOUT if timeout is None else timeout)   # for all of them
    leaves = {n.name: n for n in toposort([f]) if n.op is None and n.value is None}
    present = [n for n in wrt if n in leaves]
    first: dict[str, sympy.Expr] = {n: sympy.Integer(0) for n in wrt}
    if present:
        for n, g in zip(present, sg.gradient(f, [leaves[n] for n in present],
                                                simplify=False)):
            first[n] = g
    syms = [sg.to_sympy(leaves[n]) if n in leaves else sympy.Symbol(n) for n in wrt]
    # higher derivatives and simplify over real stand-ins for the plain leaf symbols
    # (Note [Plain leaves] in symgrad.lower_sympy: d sign(x)/dx needs a real x)
    to_real, to_plain = real_world(*syms, *first.values())
    syms = [s.xreplace(to_real) for s in syms]
    cache: dict[tuple[int, ...], sympy.Expr] = {
        (i,): first[n].xreplace(to_real) for i, n in enumerate(wrt)}
    out = []
    for idx in itertools.combinations_with_replacement(range(len(wrt)), order):
        for k in range(2, len(idx) + 1):
            if idx[:k] not in cache:
                cache[idx[:k]] = sympy.diff(cache[idx[:k - 1]], syms[idx[k - 1]])
        e = tidy(cache[idx], True, deadline) if simplify else cache[idx]
        out.append((idx, e.xreplace(to_plain)))
    return out


def _exact_text(value: sympy.Expr, latex: bool, reason: str = "") -> str:
    """An exact value for people: inf/nan with a reason, never ``zoo``; huge integers
    as 20 significant digits.

    >>> import sympy
    >>> _exact_text(sympy.zoo, False), _exact_text(sympy.Integer(3) ** 10000, False)
    ('±inf (division by zero)', '1.6313501853426258743e+4771 (4772 digits)')
    """
    import sympy

    if value is sympy.zoo:   # SymPy's unsigned infinity: 1/0 has no sign
        return f"±inf ({reason or 'division by zero'})"
    if value is sympy.nan:
        return f"nan ({reason or 'undefined: 0/0, 0*inf or inf - inf'})"
    if value in (sympy.oo, -sympy.oo):
        text = "inf" if value is sympy.oo else "-inf"
        return f"{text} ({reason})" if reason else text
    if value.has(sympy.I):      # sqrt(-1): symgrad is real-valued
        return "nan (not real: the value is complex)"
    if value.is_Integer and abs(value) > 10 ** 50:
        digits = len(str(abs(int(value)))) if abs(value) < 10 ** 4000 else \
            int(sympy.floor(sympy.log(abs(value), 10))) + 1
        return f"{sympy.sstr(sympy.N(value, 20))} ({digits} digits)"
    try:
        return sympy.latex(value) if latex else sympy.sstr(value)
    except ValueError:          # Python's limit on int-to-str digits, inside a product
        return f"{sympy.sstr(sympy.N(value, 20))} (shown to 20 digits)"


def _singular_reason(expr: sympy.Expr, subs: dict, limit: int = 10_000) -> str:
    """Why ``expr`` is infinite or undefined at ``subs``: the first log of 0 or division
    by zero found in it (at most ``limit`` subexpressions are looked at).

    >>> import sympy
    >>> x = sympy.Symbol("x")
    >>> _singular_reason(sympy.log(x) + 1, {x: 0}), _singular_reason(1 / x, {x: 0})
    ('log of 0', 'division by zero')
    """
    import sympy

    for k, node in enumerate(sympy.preorder_traversal(expr)):
        if k >= limit:
            break
        if isinstance(node, sympy.log) and node.args[0].xreplace(subs) == 0:
            return "log of 0"
        if node.is_Pow and node.exp.is_negative and node.base.xreplace(subs) == 0:
            return "division by zero"
    return ""


def _float64(expr: sympy.Expr, syms: list, values: list[float]) -> str:
    import sympy

    # numpy's printer knows oo and nan but not zoo (log(0) folded to a constant)
    fn = sympy.lambdify(syms, expr.xreplace({sympy.zoo: sympy.oo}), modules=["numpy", "scipy"])
    with np.errstate(all="ignore"):
        v = fn(*[np.float64(v) for v in values])
    v = np.asarray(v)
    if v.dtype.kind == "c":
        return "nan (complex result)"
    return repr(float(v)) if v.size == 1 else str(v.tolist())


def run(args: argparse.Namespace) -> int:
    """``symgrad diff``: print the partial derivatives (and values with ``--at``)."""

    import symgrad as sg
    from numeric.graph import toposort

    if not 1 <= args.order <= MAX_ORDER:
        raise ValueError(f"--order must be between 1 and {MAX_ORDER}, got {args.order}")
    hessian = getattr(args, "hessian", False)
    if hessian and args.order != 1:
        raise ValueError("--hessian prints second derivatives; drop --order")
    at = parse_assignments(args.at) if args.at is not None else None
    shapes = parse_shapes(getattr(args, "shape", None) or [])
    with time_limit(args.timeout, "the derivatives of this expression are too expensive; "
                                  "lower --order or simplify the formula (or raise --timeout)"):
        f = sg.parse(args.expr, shapes, notation=getattr(args, "notation", "python"))
        leaves = {n.name: n for n in toposort([f]) if n.op is None and n.value is None}
        variables = sorted(leaves)
        stray = [n for n in shapes if n not in leaves]
        if stray:
            raise ValueError(f"--shape {','.join(stray)}: not a variable of the expression "
                             f"(its variables: {','.join(variables) or 'none'})")
        if not variables:
            raise ValueError("the expression has no variables, so every derivative is 0; "
                             "give a formula in variables such as 'x**2*sin(y)'")
        wrt = _names(args.wrt, "--wrt") if args.wrt is not None else variables
        unknown = [n for n in wrt if n not in variables]
        if unknown:   # a typo (--wrt X for x) would otherwise print a silent 0
            raise ValueError(f"--wrt {','.join(unknown)}: not a variable of the expression "
                             f"(its variables: {','.join(variables)}); "
                             f"e.g. --wrt {','.join(variables)}")
        if any(leaves[n].shape for n in variables):
            lines = _tensor_lines(args, f, leaves, wrt)
        elif hessian:
            lines = _scalar_hessian_lines(args, f, leaves, wrt, at)
        else:
            lines = _scalar_lines(args, f, leaves, wrt, at)
    print("\n".join(lines))
    return 0


def _scalar_lines(args: argparse.Namespace, f: Any, leaves: dict, wrt: list[str],
                  at: dict | None) -> list[str]:
    import sympy

    count = len(list(itertools.islice(
        itertools.combinations_with_replacement(range(len(wrt)), args.order),
        MAX_PARTIALS + 1)))
    if count > MAX_PARTIALS:
        raise ValueError(f"--order {args.order} over {len(wrt)} variables gives more than "
                         f"{MAX_PARTIALS} partial derivatives; lower --order or --wrt fewer")
    _check_at(at, sorted(leaves))
    lines = []
    # the command's own --timeout bounds simplification (the output does not depend on
    # how busy the machine is); the time_limit around this call is the hard stop
    for idx, expr in partials(f, wrt, args.order, simplify=args.simplify,
                              timeout=args.timeout * 0.9):
        if args.expand:
            expr = sympy.expand(expr)
        counts = [(wrt[i], len(list(g))) for i, g in itertools.groupby(idx)]
        lines.append(f"{_label(counts, args.order, args.latex)} = {_text(expr, args.latex)}")
        if at is not None:
            lines.append(_at_line(expr, at, args.latex))
        if getattr(args, "code", None):
            lines.append(_code(expr, leaves, args.code, _fn_name(counts, args.order)))
    return lines


def _check_at(at: dict | None, needed: list[str]) -> None:
    if at is None:
        return
    missing = [n for n in needed if n not in at]
    extra = [n for n in at if n not in needed]
    if missing:
        raise ValueError(f"--at gives no value for {', '.join(missing)}; give every "
                         f"variable, e.g. --at {','.join(n + '=1' for n in needed)}")
    if extra:
        raise ValueError(f"--at names {', '.join(extra)}, which is not a variable of "
                         f"the expression (variables: {', '.join(needed) or 'none'})")


def _at_line(expr: Any, at: dict, latex: bool) -> str:
    """``  at x=0: exact ±inf (division by zero), float64 inf``."""
    import sympy

    names = sorted(at)
    syms = [sympy.Symbol(n) for n in names]
    subs = dict(zip(syms, [at[n] for n in names]))
    point = ", ".join(f"{n}={at[n]}" for n in names)
    if isinstance(expr, sympy.MatrixBase):
        exact = expr.xreplace(subs).applyfunc(sympy.simplify)
        text = _text(exact, latex)
        if exact.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            text += f" ({_singular_reason(expr, subs) or 'not finite'})"
        flt = _float64(expr, syms, [float(at[n]) for n in names])
        return f"  at {point}: exact {text}, float64 {flt}"
    exact = sympy.simplify(expr.xreplace(subs))
    reason = _singular_reason(expr, subs) if exact.has(
        sympy.zoo, sympy.nan, sympy.oo, -sympy.oo) else ""
    if exact is sympy.zoo and reason == "log of 0":   # SymPy's log(0) is zoo; the limit is -oo
        signed = sympy.simplify(expr.replace(
            lambda e: isinstance(e, sympy.log) and e.args[0].xreplace(subs) == 0,
            lambda e: -sympy.oo).xreplace(subs))
        if signed in (sympy.oo, -sympy.oo):
            exact = signed
    flt = _float64(expr, syms, [float(at[n]) for n in names])
    if exact.is_finite and flt in ("inf", "-inf"):
        flt += " (overflows float64)"
    return f"  at {point}: exact {_exact_text(exact, latex, reason)}, float64 {flt}"


def _scalar_hessian_lines(args: argparse.Namespace, f: Any, leaves: dict, wrt: list[str],
                          at: dict | None) -> list[str]:
    import sympy

    import symgrad as sg

    _check_at(at, sorted(leaves))
    h = sg.hessian(f, [leaves[n] for n in wrt], simplify=args.simplify)
    if args.expand:
        h = h.applyfunc(sympy.expand)
    lines = [f"{_hessian_label(wrt, args.latex)} = {_text(h, args.latex)}"]
    if at is not None:
        lines.append(_at_line(h, at, args.latex))
    if getattr(args, "code", None):
        lines.append(_code(h, leaves, args.code, "hessian"))
    return lines


def _tensor_lines(args: argparse.Namespace, f: Any, leaves: dict, wrt: list[str]) -> list[str]:
    """Derivatives when some variable is a vector or matrix: matrix form when a dim is a
    name (``2*X.T*(X*w - y)``), elementwise arrays when every dim is a number."""
    import inspect

    import sympy

    import symgrad as sg

    if tuple(f.shape) != ():
        raise ValueError(f"the formula has shape {tuple(f.shape)}; symgrad diff needs a "
                         "scalar: wrap it in sum(...)")
    if args.order != 1:
        raise ValueError("--order applies to scalar variables; for vectors and matrices use "
                         "--hessian for second derivatives")
    if args.at is not None:
        raise ValueError("--at evaluates formulas in scalar variables only; with vectors or "
                         "matrices, use --code to get a function to call")
    symbolic = any(isinstance(d, str) for n in leaves.values() for d in n.shape)
    if symbolic and args.expand:
        raise ValueError("--expand applies to elementwise results; give every dim as a "
                         "number (--shape w=3) for those")
    if not symbolic:
        entries = sum(_size(n.shape) for n in leaves.values())
        if entries > MAX_ENTRIES:
            raise ValueError(f"the variables hold {entries} entries together, more than "
                             f"{MAX_ENTRIES} for elementwise results; give dims as names "
                             "(--shape X=n,d) for the matrix form")
    lines = []
    if getattr(args, "hessian", False):
        if symbolic:
            if len(wrt) != 1:
                raise ValueError("--hessian in matrix form takes one variable: give --wrt w")
            if "form" not in inspect.signature(sg.hessian).parameters:
                raise CommandFailed("--hessian with symbolic dims needs "
                                    "sg.hessian(..., form='matrix'), which this symgrad "
                                    "build lacks; give every dim as a number (--shape w=3) "
                                    "for the elementwise Hessian")
            h = sg.hessian(f, leaves[wrt[0]], form="matrix")
        else:
            side = sum(_size(leaves[n].shape) for n in wrt)
            if side * side > MAX_HESSIAN_ENTRIES:
                raise ValueError(f"the Hessian over {','.join(wrt)} has {side}x{side} "
                                 f"entries, more than {MAX_HESSIAN_ENTRIES}; --wrt fewer "
                                 "variables or give dims as names")
            h = sg.hessian(f, [leaves[n] for n in wrt], simplify=args.simplify)
            if args.expand:
                h = h.applyfunc(sympy.expand)
        lines.append(f"{_hessian_label(wrt, args.latex)} = {_text(h, args.latex)}")
        if getattr(args, "code", None):
            lines.append(_code(h, leaves, args.code, "hessian"))
        return lines
    for n in wrt:
        g = sg.diff(f, leaves[n], simplify=True if symbolic else args.simplify)
        if args.expand:
            g = g.applyfunc(sympy.expand) if hasattr(g, "applyfunc") else sympy.expand(g)
        lines.append(f"{_label([(n, 1)], 1, args.latex)} = {_text(g, args.latex)}")
        if getattr(args, "code", None):
            lines.append(_code(g, leaves, args.code, f"df_d{n}"))
    return lines


def _size(shape: tuple) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


def _text(expr: Any, latex: bool) -> str:
    import sympy

    import symgrad as sg

    if latex:
        return sg.latex(expr)
    if isinstance(expr, sympy.MatrixBase):    # one line, like an elementwise Array
        return sympy.sstr(expr.tolist())
    return sympy.sstr(expr)


def _hessian_label(wrt: list[str], latex: bool) -> str:
    if len(wrt) == 1:
        return _label([(wrt[0], 2)], 2, latex)
    return f"hessian({', '.join(wrt)})"


def _fn_name(counts: list[tuple[str, int]], order: int) -> str:
    return ("df" if order == 1 else f"d{order}f") + "_" + "".join(
        f"d{n}" + (str(k) if k > 1 else "") for n, k in counts)


def _code(expr: Any, leaves: dict, lang: str, name: str) -> str:
    """The source of a function computing ``expr`` from the variables (``sg.codegen``)."""
    import symgrad as sg

    codegen = getattr(sg, "codegen", None)
    if codegen is None:
        raise CommandFailed(f"--code {lang} needs sg.codegen, which this symgrad build lacks")
    args = [leaves[n] for n in sorted(leaves)]     # the formula's symbol tensors
    return str(codegen(expr, args, lang=lang, name=name)).rstrip("\n")


# ---------------------------------------------------------------------------- graph
def run_graph(args: argparse.Namespace) -> int:
    """``symgrad graph``: DOT on stdout, a text tree, or a .dot/.svg/.png file."""
    import symgrad as sg
    from symgrad.graphviz import graph_text

    if args.text and args.output is not None:
        raise ValueError("--text prints a text tree; it cannot be combined with -o")
    suffix = Path(args.output).suffix.lower() if args.output is not None else None
    if args.output is not None and suffix not in _GRAPH_FORMATS:
        raise ValueError(f"-o {args.output!r}: the file name must end in .dot, .gv, .svg "
                         "or .png")
    if args.output is not None and not Path(args.output).resolve().parent.is_dir():
        raise ValueError(f"-o {args.output}: the directory "
                         f"{str(Path(args.output).parent)!r} does not exist")
    with time_limit(30.0, "the expression is too large to draw"):
        f = sg.parse(args.expr)
        if args.text:
            print(graph_text(f))
            return 0
        dot = sg.to_dot(f)
    if args.output is None:
        print(dot)
        return 0
    fmt = _GRAPH_FORMATS[suffix]
    if fmt is None:
        Path(args.output).write_text(dot + "\n", encoding="utf-8")
    else:
        exe = shutil.which("dot")
        if exe is None:
            raise CommandFailed(f"cannot write {args.output}: {DOT_HINT}")
        proc = subprocess.run([exe, f"-T{fmt}", "-o", args.output], input=dot.encode(),
                              capture_output=True, timeout=120)
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace").strip().splitlines()
            raise CommandFailed(f"dot failed to write {args.output}: "
                                f"{err[0] if err else 'exit status ' + str(proc.returncode)}")
    print(f"graph written to {args.output}")
    return 0
