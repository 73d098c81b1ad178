"""The verdict of a check: ``Report`` and ``GradientMismatchError``.

>>> r = Report(inputs=[InputReport("x", (2,))], points_used=3, points_tried=4,
...            skipped_domain=1)
>>> r.passed
True
>>> print(str(r).splitlines()[0])
verify.check: PASSED (3 points used of 4 tried; 1 out of domain, 0 ill-conditioned)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["InputReport", "WorstPoint", "PointVerdict", "Report", "GradientMismatchError",
           "ILL_CONDITIONED", "AT_KINK", "NEAR_KINK", "OUT_OF_DOMAIN"]

#: verdicts of a given point that is not an ordinary one (``PointVerdict.verdict``)
ILL_CONDITIONED = "ill-conditioned"
AT_KINK = "at a kink"
NEAR_KINK = "near a kink"
OUT_OF_DOMAIN = "out of domain"


class GradientMismatchError(AssertionError, ValueError, RuntimeError):
    """A computed gradient disagrees with the reference beyond tolerance.

    An ``AssertionError`` (so it reads naturally in a test), a ``ValueError``,
    and a ``RuntimeError`` (what ``torch.autograd.gradcheck`` raises).  Fields: ``output`` and ``input`` (positions or names),
    ``numeric`` and ``expected`` (arrays), ``max_abs_err``, ``report`` (the
    :class:`Report`, or None for ``gradcheck``).

    >>> e = GradientMismatchError("Jacobian mismatch for output 0 with respect to input 1",
    ...                           output=0, input=1)
    >>> (e.output, e.input, isinstance(e, ValueError))
    (0, 1, True)
    """

    def __init__(self, message: str, *, output: Any = 0, input: Any = None,  # noqa: A002
                 numeric: Any = None, expected: Any = None, max_abs_err: float = float("nan"),
                 report: "Report | None" = None) -> None:
        super().__init__(message)
        self.output, self.input = output, input
        self.numeric, self.expected = numeric, expected
        self.max_abs_err, self.report = max_abs_err, report


@dataclass
class InputReport:
    """Errors of one input's gradient over all points of a check."""

    name: str
    shape: tuple
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0
    max_ulps: float = 0.0
    max_err_over_tol: float = 0.0
    max_fd_rel_err: float = 0.0
    mismatches: int = 0


@dataclass
class WorstPoint:
    """The element with the largest error/tolerance ratio over every point."""

    input: str
    index: tuple
    point: dict
    numeric: float
    exact: float
    fd: float
    tol: float

    def __str__(self) -> str:
        where = f"{self.input}[{', '.join(map(str, self.index))}]" if self.index else self.input
        pt = ", ".join(f"{k}={np.asarray(v).tolist()!r}" for k, v in self.point.items())
        return (f"worst: d/d{where} at {pt}: numeric={self.numeric!r} exact={self.exact!r} "
                f"finite-diff={self.fd!r} |err|={abs(self.numeric - self.exact):.3g} "
                f"tol={self.tol:.3g}")


def _fmt(a: Any) -> str:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return repr(float(a))
    return np.array2string(a, precision=17, threshold=8, edgeitems=3, separator=", ",
                           max_line_width=10_000)


@dataclass
class PointVerdict:
    """What a given point is, when it is not an ordinary one, with the three values there.

    ``verdict``: ``"ill-conditioned"`` (float64 cannot resolve the function:
    reported, not judged), ``"at a kink"`` / ``"near a kink"`` (numeric judged
    against the exact value, which follows the convention at a kink; finite
    differences are not meaningful) or ``"out of domain"`` (no exact value);
    ``index``: the point's position among those tried; ``point``: the values;
    ``numeric``/``exact``/``fd``: ``{input name: array}``; ``judged``: whether
    numeric was compared with exact; ``ok``: the outcome (None if not judged);
    ``rho``: the worst cancellation ratio of the forward pass.

    >>> v = PointVerdict(0, AT_KINK, {"x": np.array(0.0)}, "note", {"x": np.array(0.0)},
    ...                  {"x": np.array(0.0)}, {"x": np.array(0.5)}, judged=True, ok=True)
    >>> print(v)
    point 0 at x=0.0: at a kink (note): ok
      d/dx: numeric=0.0 exact=0.0 finite-diff=0.5
    """

    index: int
    verdict: str
    point: dict
    note: str
    numeric: dict
    exact: dict
    fd: dict
    judged: bool = False
    ok: "bool | None" = None
    rho: float = float("nan")

    def __str__(self) -> str:
        pt = ", ".join(f"{k}={np.asarray(v).tolist()!r}" for k, v in self.point.items())
        outcome = ("ok" if self.ok else "FAILED") if self.judged else "reported, not judged"
        lines = [f"point {self.index} at {pt}: {self.verdict} ({self.note}): {outcome}"]
        for name in self.numeric:
            lines.append(f"  d/d{name}: numeric={_fmt(self.numeric[name])} "
                         f"exact={_fmt(self.exact[name])} finite-diff={_fmt(self.fd[name])}")
        return "\n".join(lines)


@dataclass
class Report:
    """The result of :func:`verify.check`; ``str(report)`` is a readable table.

    ``inputs``: one :class:`InputReport` per input (``report["x"]`` by name):
    max absolute and relative error, error in ulps (``max_ulps``), the largest
    error/tolerance ratio, finite differences' relative error, mismatches;
    ``worst``: the :class:`WorstPoint`; ``points_used``/``points_tried``/
    ``skipped_domain``/``skipped_ill``: where the points went; ``failures``: messages;
    ``verdicts``: one :class:`PointVerdict` per given point that is ill-conditioned,
    at or near a kink, or out of the domain.

    ``passed`` is False when any element at any point disagrees with the exact
    gradient beyond tolerance (at a kink too: numeric must follow the
    convention), or when the exact path disagrees grossly with finite
    differences while numeric agrees with them (``exact_suspect``), or when no
    point could be used.  Ill-conditioned given points are reported, not
    failures: when they are all there is, ``passed`` is True and the first line
    says ``NOT JUDGED``.
    """

    inputs: list = field(default_factory=list)
    points_used: int = 0
    points_tried: int = 0
    skipped_domain: int = 0
    skipped_ill: int = 0
    exact_suspect: int = 0
    worst: WorstPoint | None = None
    failures: list = field(default_factory=list)
    expression: str = ""
    dtype: str = "float64"
    verdicts: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every compared element was within tolerance."""
        return not self.failures and (self.points_used > 0 or any(
            v.verdict == ILL_CONDITIONED for v in self.verdicts))

    def __bool__(self) -> bool:
        return self.passed

    def __getitem__(self, key: "int | str") -> InputReport:
        """One input's errors, by position or name.

        >>> Report(inputs=[InputReport("x", (2,), max_abs_err=1e-17)])["x"].max_abs_err
        1e-17
        """
        if isinstance(key, str):
            for i in self.inputs:
                if i.name == key:
                    return i
            raise KeyError(f"no input named {key!r}; inputs: {[i.name for i in self.inputs]}")
        return self.inputs[key]

    @property
    def worst_point(self) -> "WorstPoint | None":
        """Alias of :attr:`worst`."""
        return self.worst

    def raise_if_failed(self) -> "Report":
        """Raise :class:`GradientMismatchError` (with this report) unless passed.

        >>> Report(points_used=1).raise_if_failed().passed
        True
        """
        if not self.passed:
            bad = next((i for i in self.inputs if i.mismatches), None)
            raise GradientMismatchError(
                str(self), input=bad.name if bad else None,
                max_abs_err=bad.max_abs_err if bad else float("nan"), report=self,
                numeric=self.worst.numeric if self.worst else None,
                expected=self.worst.exact if self.worst else None)
        return self

    def __str__(self) -> str:
        status = ("FAILED" if not self.passed else "PASSED" if self.points_used
                  else "NOT JUDGED")
        head = (f"verify.check: {status} "
                f"({self.points_used} points used of {self.points_tried} tried; "
                f"{self.skipped_domain} out of domain, {self.skipped_ill} ill-conditioned)")
        lines = [head]
        if self.expression:
            lines.append(f"  expression: {self.expression}")
        if self.dtype != "float64":
            lines.append(f"  numeric dtype: {self.dtype}")
        cols = ("input", "shape", "max abs err", "max rel err", "max ulps", "err/tol",
                "FD rel err", "mismatches")
        rows = [cols] + [(i.name, str(i.shape), f"{i.max_abs_err:.3g}", f"{i.max_rel_err:.3g}",
                          f"{i.max_ulps:.3g}", f"{i.max_err_over_tol:.3g}",
                          f"{i.max_fd_rel_err:.3g}", str(i.mismatches)) for i in self.inputs]
        widths = [max(len(r[c]) for r in rows) for c in range(len(cols))]
        for r in rows if self.points_used or not self.verdicts else ():
            lines.append("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
        if self.worst is not None:
            lines.append("  " + str(self.worst))
        for v in self.verdicts[:5]:
            lines.extend("  " + line for line in str(v).splitlines())
        if len(self.verdicts) > 5:
            lines.append(f"  ... and {len(self.verdicts) - 5} more points with a verdict")
        for msg in self.failures[:5]:
            lines.append(f"  FAIL: {msg}")
        if len(self.failures) > 5:
            lines.append(f"  ... and {len(self.failures) - 5} more failures")
        return "\n".join(lines)

    __repr__ = __str__
