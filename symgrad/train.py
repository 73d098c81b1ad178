"""Training UX: the seed's linear model, a progress bar, a loss curve, the exact optimum.

``symgrad train linear`` is built from these pieces, which also work on their own:

* :func:`read_xy_csv` reads ``x,y`` columns (header optional) with errors naming
  the line;
* :func:`fit_linear` trains ``y = w*x + b`` on the sum of squared errors exactly
  as the seed tutorial does (eager or ``sg.compile``d, SGD or Adam), reporting
  each epoch to a callback such as :class:`Progress`;
* :class:`Progress` draws a progress bar with the running loss on a terminal and
  prints plain periodic lines otherwise (logs, CI, pipes);
* :func:`linear_optimum` solves ``grad L = 0`` exactly with SymPy;
* :func:`plot_losses` writes a PNG loss curve (needs ``pip install 'symgrad[plot]'``).

>>> fit = fit_linear([1.0, 2.0, 3.0], [3.0, 5.0, 7.0])
>>> fit.w, fit.b
(2.1001044717024104, 0.7724390062968837)
>>> linear_optimum([1.0, 2.0, 3.0], [3.0, 5.0, 7.0]).solution
{'w': 2, 'b': 1}
"""
from __future__ import annotations

import csv
import functools
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Optional, Sequence

import numpy as np
import sympy

from symgrad.errors import TrainingDiverged

__all__ = ["SEED_X", "SEED_Y", "read_xy_csv", "fit_linear", "LinearFit", "Progress",
           "linear_optimum", "LinearOptimum", "plot_losses", "TrainingDiverged", "format_loss",
           "PLOT_HINT", "linear_closed_form", "LinearClosedForm", "EXACT_ROWS",
           "linear_data_sums", "linear_optimum_from_sums"]

#: the seed tutorial's data: y = 2x + 1 at x = 1, 2, 3
SEED_X = (1.0, 2.0, 3.0)
SEED_Y = (3.0, 5.0, 7.0)
PLOT_HINT = ("the loss curve needs matplotlib, which is not installed; install it with "
             "pip install symgrad[plot] (quoted in zsh: pip install 'symgrad[plot]'), "
             "or pip install matplotlib")


# ------------------------------------------------------------------------ data
def _number(text: str, path: str, line: int, column: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"{path} line {line}: {column} is not a number: {text.strip()!r}; "
                         "each row must be two numbers x,y") from None
    if not math.isfinite(v):
        raise ValueError(f"{path} line {line}: {column} is {text.strip()}; values must be finite")
    return v


def read_xy_csv(path: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` float64 arrays from a CSV file with two columns (or named x and y).

    A first row that is not numeric is a header; if it names columns ``x`` and
    ``y`` (any case) those are used, otherwise the file must have two columns.
    Blank lines and lines starting with ``#`` are skipped.  Bad rows raise a
    ValueError naming the file and line.

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
    >>> _ = p.write_text("x,y\\n1,3\\n2,5\\n")
    >>> read_xy_csv(str(p))
    (array([1., 2.]), array([3., 5.]))
    >>> _ = p.write_text("1,3\\n2,five\\n")
    >>> read_xy_csv(str(p))
    Traceback (most recent call last):
    ...
    ValueError: ...d.csv line 2: y is not a number: 'five'; each row must be two numbers x,y
    """
    fast = _read_xy_fast(path)
    if fast is not None:
        return fast
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = [(k, row) for k, row in enumerate(csv.reader(fh), start=1)
                    if row and any(c.strip() for c in row) and not row[0].lstrip().startswith("#")]
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{path} is not a readable CSV text file: {exc}") from None
    if not rows:
        raise ValueError(f"{path} has no data rows; give x,y pairs, one per line")
    cols = (0, 1)
    first_line, first = rows[0]
    try:
        [float(c) for c in first]
    except ValueError:
        names = [c.strip().lower() for c in first]
        if "x" in names and "y" in names:
            cols = (names.index("x"), names.index("y"))
        elif len(names) != 2:
            raise ValueError(f"{path} line {first_line}: header {first!r} has no columns named "
                             "x and y; name them or give exactly two columns") from None
        rows = rows[1:]
        if not rows:
            raise ValueError(f"{path} has a header but no data rows")
    width = max(cols) + 1
    xs, ys = [], []
    for line, row in rows:
        if len(row) < width or (cols == (0, 1) and len(row) != 2):
            raise ValueError(f"{path} line {line}: expected two numbers x,y, got {len(row)} "
                             f"field(s): {','.join(row)!r}")
        xs.append(_number(row[cols[0]], path, line, "x"))
        ys.append(_number(row[cols[1]], path, line, "y"))
    return np.array(xs, dtype=np.float64), np.array(ys, dtype=np.float64)


def _read_xy_fast(path: str) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """numpy's C parser for a plain file (header, then rows of numbers), or None.

    None sends the file through the careful per-row reader, which gives the very same
    arrays or the error naming the line: comments, quotes, ragged or non-finite rows
    all take that path, so this one only has to be right on files it accepts.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            skip = 0
            for line in fh:
                skip += 1
                if line.strip():
                    break
            else:
                return None
        if line.lstrip().startswith("#"):
            return None
        first = next(csv.reader([line]))
        try:
            [float(c) for c in first]
            skip -= 1                       # no header: the first row is data
            cols, width = (0, 1), 2
        except ValueError:
            names = [c.strip().lower() for c in first]
            if "x" not in names or "y" not in names:
                return None
            cols, width = (names.index("x"), names.index("y")), len(names)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # "input contained no data": the slow path says
            data = np.loadtxt(path, delimiter=",", comments=None, skiprows=skip,
                              dtype=np.float64, ndmin=2, encoding="utf-8")
    except (OSError, ValueError, UnicodeDecodeError, csv.Error, StopIteration):
        return None
    if data.shape[0] == 0 or data.shape[1] != width or not np.isfinite(data).all():
        return None
    return np.ascontiguousarray(data[:, cols[0]]), np.ascontiguousarray(data[:, cols[1]])


# ------------------------------------------------------------------------ progress
def format_loss(loss: float) -> str:
    """The seed's ``{:.4f}``, switching to ``{:.4e}`` for huge or tiny values.

    >>> format_loss(29.0), format_loss(1.5e300), format_loss(2.5e-9), format_loss(0.0)
    ('29.0000', '1.5000e+300', '2.5000e-09', '0.0000')
    """
    return f"{loss:.4f}" if loss == 0 or 1e-4 <= abs(loss) < 1e6 else f"{loss:.4e}"


class Progress:
    """Per-epoch reporter: a bar with the running loss on a TTY, plain lines otherwise.

    Plain lines use the seed's format (``Epoch [10/100], Loss: 0.1031``) at the
    first epoch, every ``every`` epochs (default: a tenth of the run) and the last.

    >>> import io
    >>> p = Progress(20, file=io.StringIO(), tty=False)
    >>> for k in range(1, 21): p(k, 1.0 / k)
    >>> print(p.file.getvalue(), end="")
    Epoch [1/20], Loss: 1.0000
    Epoch [2/20], Loss: 0.5000
    Epoch [4/20], Loss: 0.2500
    ...
    Epoch [20/20], Loss: 0.0500
    """

    def __init__(self, total: int, *, file: Any = None, tty: Optional[bool] = None,
                 every: Optional[int] = None, width: int = 30) -> None:
        self.total = int(total)
        self.file = file if file is not None else sys.stdout
        isatty = getattr(self.file, "isatty", None)
        self.tty = bool(isatty and isatty()) if tty is None else bool(tty)
        self.every = every or max(1, self.total // 10)
        self.width = width
        self._last_draw = 0.0

    def __call__(self, epoch: int, loss: float) -> None:
        """Report the loss after ``epoch`` (1-based)."""
        last = epoch == self.total
        if self.tty:
            now = time.monotonic()
            if last or epoch == 1 or now - self._last_draw >= 0.05:
                self._last_draw = now
                filled = int(self.width * epoch / self.total)
                bar = "█" * filled + "░" * (self.width - filled)
                self.file.write(f"\rEpoch {epoch:>{len(str(self.total))}}/{self.total} "
                                f"{bar} loss {format_loss(loss)}" + ("\n" if last else ""))
                self.file.flush()
        elif epoch == 1 or last or epoch % self.every == 0:
            self.file.write(f"Epoch [{epoch}/{self.total}], Loss: {format_loss(loss)}\n")


# ------------------------------------------------------------------------ training
@dataclass
class LinearFit:
    """Result of :func:`fit_linear`: trained ``w``, ``b`` and the loss of every epoch."""

    w: float
    b: float
    losses: list[float] = field(default_factory=list)


def fit_linear(x: Sequence[float], y: Sequence[float], *, epochs: int = 100, lr: float = 0.01,
               optimizer: str = "sgd", compiled: bool = False, w0: float = 1.0, b0: float = 0.0,
               callback: Optional[Callable[[int, float], None]] = None,
               reduction: str = "sum") -> LinearFit:
    """Train ``y = w*x + b`` on ``sum((w*x + b - y)**2)`` as the seed tutorial does.

    ``reduction="mean"`` trains on the mean squared error instead (same optimum; the
    gradient is divided by the number of rows, so a larger ``lr`` is stable).

    ``w`` and ``b`` start at ``w0``, ``b0`` (the seed's 1 and 0); ``optimizer`` is
    ``"sgd"`` or ``"adam"`` (``sg.optim``), ``compiled=True`` runs the loss through
    ``sg.compile``.  ``callback(epoch, loss)`` is called after every epoch.  The
    loss reported for an epoch is the one computed before that epoch's step, as in
    the seed.  Raises :class:`TrainingDiverged` if the loss stops being finite.

    >>> fit = fit_linear([1.0, 2.0, 3.0], [3.0, 5.0, 7.0], optimizer="adam", lr=0.1)
    >>> round(fit.w, 3), round(fit.b, 3), len(fit.losses)
    (1.997, 0.997, 100)
    """
    import symgrad as sg

    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    if not (isinstance(epochs, int) and epochs >= 1):
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    xv = np.asarray(x, dtype=np.float64).reshape(-1, 1)
    yv = np.asarray(y, dtype=np.float64).reshape(-1, 1)
    if xv.shape != yv.shape or xv.size == 0:
        raise ValueError(f"x and y need the same positive length, got {xv.size} and {yv.size}")
    w = sg.tensor([float(w0)], requires_grad=True, name="w")
    b = sg.tensor([float(b0)], requires_grad=True, name="b")
    x_train, y_train = sg.tensor(xv), sg.tensor(yv)
    opt = sg.optim.SGD([w, b], lr=lr) if optimizer == "sgd" else sg.optim.Adam([w, b], lr=lr)

    def sse(x_train, y_train):
        y_pred = w * x_train + b
        return reduce((y_pred - y_train) ** 2)

    reduce = sg.sum if reduction == "sum" else sg.mean

    loss_fn = sg.compile(sse) if compiled else sse
    losses: list[float] = []
    for epoch in range(1, epochs + 1):
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below
            loss = loss_fn(x_train, y_train)
            opt.zero_grad()
            loss.backward()
            opt.step()
        value = loss.item()
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"training diverged: the loss is {value} at epoch {epoch}; lower the learning "
                f"rate (e.g. --lr {lr / 10:g}) or use --optimizer adam")
        losses.append(value)
        if callback is not None:
            callback(epoch, value)
    return LinearFit(w.item(), b.item(), losses)


# ------------------------------------------------------------------------ exact optimum
@dataclass
class LinearOptimum:
    """The exact minimiser of the sum of squared errors of ``y = w*x + b``.

    ``gradient``: ``{"w": dL/dw, "b": dL/db}`` (SymPy, over symbols ``w``, ``b``);
    ``solution``: ``{"w": value, "b": value}`` (exact SymPy numbers), or None when
    the minimiser is not unique (all x equal); ``exact``: False when the data's sums
    were float64 (more than :data:`EXACT_ROWS` rows; the numbers are then Floats).
    """

    gradient: dict[str, sympy.Expr]
    solution: Optional[dict[str, sympy.Expr]]
    exact: bool = True

    def _repr_latex_(self) -> str:
        """Notebook rendering: the gradient equations and the optimum.

        >>> print(linear_optimum([1.0, 2.0, 3.0], [3.0, 5.0, 7.0])._repr_latex_())
        $\\frac{\\partial L}{\\partial w} = 28 w + 12 b - 68, \\quad ... w = 2,\\ b = 1$
        """
        gens = [sympy.Symbol("w"), sympy.Symbol("b")]
        parts = []
        for name, g in self.gradient.items():
            terms = [c * sympy.Mul(*[v ** k for v, k in zip(gens, m)])
                     for m, c in sympy.Poly(g, *gens).terms()]
            rhs = sympy.latex(sympy.Add(*terms, evaluate=False), order="none") if terms else "0"
            parts.append(f"\\frac{{\\partial L}}{{\\partial {name}}} = {rhs}")
        text = ", \\quad ".join(parts)
        if self.solution is None:
            return f"${text}$ (no unique optimum: all x are equal)"
        sol = ",\\ ".join(f"{k} = {sympy.latex(v)}" for k, v in self.solution.items())
        return f"${text} \\quad\\Rightarrow\\quad {sol}$"

    def gradient_text(self) -> dict[str, str]:
        """The gradient printed with ``w`` first, then ``b``, then the constant.

        >>> linear_optimum([1.0, 2.0, 3.0], [3.0, 5.0, 7.0]).gradient_text()
        {'w': '28*w + 12*b - 68', 'b': '12*w + 6*b - 30'}
        """
        gens = [sympy.Symbol("w"), sympy.Symbol("b")]
        printer = sympy.printing.str.StrPrinter({"order": "none"})
        out = {}
        for name, g in self.gradient.items():
            terms = [c * sympy.Mul(*[v ** k for v, k in zip(gens, m)])
                     for m, c in sympy.Poly(g, *gens).terms()]
            out[name] = printer.doprint(sympy.Add(*terms, evaluate=False)) if terms else "0"
        return out


def _exact(v: float) -> Fraction:
    return Fraction(repr(float(v)))  # shortest decimal, like symgrad.lower_sympy.exact


#: up to this many rows the data's sums are exact decimal rationals; above, float64 sums
EXACT_ROWS = 10_000


@dataclass(frozen=True)
class LinearClosedForm:
    """The gradient of ``L = sum((w*x_i + b - y_i)**2)`` over the data's sums, built once.

    ``gradient``: ``{"w": dL/dw, "b": dL/db}`` as SymPy expressions in ``w``, ``b`` and
    the sum symbols; ``sums``: ``{symbol: (i, j)}``, the symbol standing for
    ``sum(x_i**i * y_i**j)`` (``n`` for the row count).  No row of data is in it, so its
    size is the same for 3 rows and for 10^6.
    """

    w: sympy.Symbol
    b: sympy.Symbol
    gradient: dict[str, sympy.Expr]
    sums: dict[sympy.Symbol, tuple[int, int]]


_SUM_NAMES = {(0, 0): "n", (1, 0): "Sx", (0, 1): "Sy", (2, 0): "Sxx", (1, 1): "Sxy",
              (0, 2): "Syy"}


@functools.lru_cache(maxsize=1)
def linear_closed_form() -> LinearClosedForm:
    """The least-squares gradient in terms of ``n``, ``Sx = sum(x_i)``, ``Sxx``, ``Sxy``, ...

    The per-row gradient comes from ``sg.gradient`` (SymPy's calculus) on one
    symbolic row ``(w*x_i + b - y_i)**2``; summing over rows is linear, so each
    monomial ``x_i**i * y_i**j`` becomes the symbol of its sum.  Built once per
    process, whatever the data.

    >>> linear_closed_form().gradient
    {'w': 2*Sx*b + 2*Sxx*w - 2*Sxy, 'b': 2*Sx*w - 2*Sy + 2*b*n}
    """
    import symgrad as sg

    w, b = sg.symbol("w"), sg.symbol("b")
    xi, yi = sg.symbol("x_i"), sg.symbol("y_i")
    row_grads = sg.gradient((w * xi + b - yi) ** 2, [w, b], simplify=False)  # expanded below
    X, Y = sg.to_sympy(xi), sg.to_sympy(yi)
    sums: dict[sympy.Symbol, tuple[int, int]] = {}
    totals = []
    for g in row_grads:
        total = sympy.Integer(0)
        for (i, j), coeff in sympy.Poly(sympy.expand(g), X, Y).terms():
            sym = sympy.Symbol(_SUM_NAMES.get((i, j), f"S_x{i}_y{j}"))
            sums[sym] = (i, j)
            total += coeff * sym
        totals.append(sympy.expand(total))
    return LinearClosedForm(sg.to_sympy(w), sg.to_sympy(b), {"w": totals[0], "b": totals[1]},
                            sums)


def _data_sums(form: LinearClosedForm, x: np.ndarray, y: np.ndarray,
               exact: Optional[bool] = None) -> tuple[dict, bool]:
    """``({sum symbol: value}, exact)``: decimal-rational sums up to :data:`EXACT_ROWS`
    rows, float64 sums (numpy, O(rows)) above, each then taken exactly as a Rational."""
    exact = x.size <= EXACT_ROWS if exact is None else exact
    if exact:
        xs, ys = [_exact(v) for v in x], [_exact(v) for v in y]
    values = {}
    for sym, (i, j) in form.sums.items():
        if exact:
            s = sum((xv ** i * yv ** j for xv, yv in zip(xs, ys)), Fraction(0))
            values[sym] = sympy.Rational(s.numerator, s.denominator)
        else:
            values[sym] = sympy.Rational(float(np.sum(x ** i * y ** j)))
    return values, exact


def linear_optimum(x: Sequence[float], y: Sequence[float]) -> LinearOptimum:
    """Solve ``grad L = 0`` exactly for ``L = sum((w*x + b - y)**2)`` with SymPy.

    The gradient is :func:`linear_closed_form` (built once, over the data's sums
    ``n``, ``Sx``, ``Sxx``, ``Sxy``, ``Sy``); only those sums are computed from the
    rows.  Up to :data:`EXACT_ROWS` rows they are exact (data as decimal
    Rationals: ``0.1`` is 1/10) and so is the optimum; above, they are float64
    sums and the gradient and optimum are shown as floats (``exact`` is False).

    >>> opt = linear_optimum([0.0, 1.0], [1.0, 3.0])
    >>> opt.gradient_text(), opt.solution
    ({'w': '2*w + 2*b - 6', 'b': '2*w + 4*b - 8'}, {'w': 2, 'b': 1})
    """
    xv = np.asarray(x, dtype=np.float64).ravel()
    yv = np.asarray(y, dtype=np.float64).ravel()
    if xv.size != yv.size or not xv.size:
        raise ValueError(f"x and y need the same positive length, got {xv.size} and {yv.size}")
    form = linear_closed_form()
    values, exact = _data_sums(form, xv, yv)
    return linear_optimum_from_sums(values, exact)


def linear_data_sums(x: Sequence[float], y: Sequence[float], *, exact: bool) -> dict:
    """The sums :func:`linear_closed_form` needs over some rows, ``{symbol: Rational}``:
    exact (decimal rationals) or float64 sums.  Sums of row blocks add up to the sums
    of all the rows, so each block of a large file can be summed where it is.

    >>> sorted((str(k), v) for k, v in linear_data_sums([1.0, 2.0], [3.0, 5.0],
    ...                                                 exact=True).items())
    [('Sx', 3), ('Sxx', 5), ('Sxy', 13), ('Sy', 8), ('n', 2)]
    """
    xv = np.asarray(x, dtype=np.float64).ravel()
    yv = np.asarray(y, dtype=np.float64).ravel()
    return _data_sums(linear_closed_form(), xv, yv, exact)[0]


def linear_optimum_from_sums(values: dict, exact: bool) -> LinearOptimum:
    """:func:`linear_optimum` from the data's sums (:func:`linear_data_sums` of all the rows,
    or the sum of those of row blocks); ``exact=False`` shows the result as floats.

    >>> linear_optimum_from_sums(linear_data_sums([0.0, 1.0], [1.0, 3.0], exact=True),
    ...                          exact=True).solution
    {'w': 2, 'b': 1}
    """
    form = linear_closed_form()
    W, B = form.w, form.b
    totals = [sympy.expand(form.gradient[k].xreplace(values)) for k in ("w", "b")]
    solved = sympy.solve(totals, [W, B], dict=True)
    solution = None
    if len(solved) == 1 and W in solved[0] and B in solved[0]:
        solution = {"w": solved[0][W], "b": solved[0][B]}
    if not exact:
        totals = [t.xreplace({c: sympy.Float(float(c)) for c in t.atoms(sympy.Rational)})
                  for t in totals]
        if solution is not None:
            solution = {k: sympy.Float(float(v)) for k, v in solution.items()}
    return LinearOptimum({"w": totals[0], "b": totals[1]}, solution, exact)


# ------------------------------------------------------------------------ plot
def have_matplotlib() -> bool:
    """True if matplotlib can be imported (``pip install 'symgrad[plot]'``)."""
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def plot_losses(losses: Sequence[float], path: str, *, title: str = "training loss",
                ylabel: str = "loss (sum of squared errors)") -> None:
    """Write the loss curve (log scale when it spans decades) as a PNG to ``path``.

    Raises ModuleNotFoundError with an install hint when matplotlib is missing.
    """
    if not have_matplotlib():
        raise ModuleNotFoundError(PLOT_HINT, name="matplotlib")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    try:
        epochs = np.arange(1, len(losses) + 1)
        ax.plot(epochs, losses, color="tab:blue", linewidth=1.5)
        positive = [v for v in losses if v > 0]
        if positive and max(positive) / min(positive) > 100:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
