"""``verify.check_jacobian`` / ``verify.check_hessian``: exact matrices vs ``sg.func``'s numbers.

The exact side is ``sg.jacobian`` / ``sg.hessian`` (SymPy's calculus on the
graph ``fn`` builds from the inputs, never numeric's VJPs), evaluated with
mpmath at the inputs together with a rounding bound (Note [Tolerance policy]).
The numeric side is every requested ``sg.func`` transform at the same inputs:
``jacrev`` and ``jacfwd`` for a Jacobian; ``hessian`` (reverse over reverse),
``jacfwd(jacrev)`` (forward over reverse) and ``hvp`` for a Hessian.  Finite
differences are the third opinion: they say which side is wrong when the two
disagree.

Note [Second-order tolerance]
    A Hessian from numeric runs the VJPs on Tensors (``create_graph=True``), then
    again on the graph they built: about twice the operations of the function,
    and the forward-mode transforms (two reverse passes each) about three times.
    The tolerance of an entry is ``tolerance(a, H, k * n_ops, rho)`` for that
    ``k``, plus a norm-wise floor ``SAFETY * u * (k * n_ops + rho) * max|H|``:
    an entry whose exact value is 0 or cancels (``x*y - x*y``) comes out of the
    numeric passes as rounding noise of the size of the matrix's other entries.

>>> import symgrad as sg, verify
>>> r = verify.check_hessian(lambda x: (sg.sin(x) * x).sum(), sg.tensor([0.5, -1.0]))
>>> r.passed, r.methods
(True, ('hessian', 'jacfwd(jacrev)', 'hvp'))
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import mpmath
import numpy as np

from numeric.graph import toposort
from numeric.node import as_node
from symgrad import func as F
from symgrad.creation import tensor
from symgrad.tensor import Tensor
from verify.oracles import ExactEvaluator, OutOfDomain, replay
from verify.report import GradientMismatchError
from verify.tolerance import SAFETY, tolerance, unit_roundoff

__all__ = ["check_jacobian", "check_hessian", "MatrixReport", "JACOBIAN_METHODS",
           "HESSIAN_METHODS"]

#: the numeric witnesses of a Jacobian and their work factor (Note [Second-order tolerance])
JACOBIAN_METHODS = {"jacrev": 1, "jacfwd": 3}
#: the numeric witnesses of a Hessian and their work factor
HESSIAN_METHODS = {"hessian": 2, "jacfwd(jacrev)": 4, "hvp": 2}
#: finite-difference step (relative to max(1, |x|))
FD_STEP = 1e-5


@dataclass
class MatrixReport:
    """The verdict of :func:`check_jacobian` or :func:`check_hessian` at one point.

    ``kind``: ``"jacobian"`` or ``"hessian"``; ``names``/``shapes``: the inputs;
    ``exact``: the exact matrix (float64 of the mpmath values), rows the
    flattened output (a Hessian: the flattened gradient), columns the flattened
    inputs one after the other; ``numeric``: ``{method: matrix}``; ``fd``: the
    finite-difference matrix (None with ``fd=False``); ``max_err_over_tol``:
    ``{method: worst |numeric - exact| / tolerance}``; ``failures``: one line per
    method that disagrees.

    >>> MatrixReport("jacobian", ["x"], [(2,)], np.eye(2), {"jacrev": np.eye(2)}).passed
    True
    """

    kind: str
    names: list
    shapes: list
    exact: np.ndarray
    numeric: dict
    fd: "np.ndarray | None" = None
    max_err_over_tol: dict = field(default_factory=dict)
    max_abs_err: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True if every method agreed with the exact matrix within tolerance."""
        return not self.failures

    @property
    def methods(self) -> tuple:
        """The numeric methods that were compared."""
        return tuple(self.numeric)

    def raise_if_failed(self) -> "MatrixReport":
        """Raise :class:`GradientMismatchError` (with this report) unless passed.

        >>> MatrixReport("hessian", ["x"], [()], np.eye(1), {}).raise_if_failed().kind
        'hessian'
        """
        if not self.passed:
            worst = max(self.max_err_over_tol, key=self.max_err_over_tol.get)
            raise GradientMismatchError(str(self), input=worst, numeric=self.numeric[worst],
                                        expected=self.exact,
                                        max_abs_err=self.max_abs_err[worst], report=self)
        return self

    def __str__(self) -> str:
        head = (f"verify.check_{self.kind}: {'PASSED' if self.passed else 'FAILED'} "
                f"({self.exact.shape[0]}x{self.exact.shape[1]} exact {self.kind} of "
                f"{', '.join(f'{n}{list(s)}' for n, s in zip(self.names, self.shapes))})")
        lines = [head]
        for m in self.numeric:
            lines.append(f"  {m}: max |err| {self.max_abs_err[m]:.3g}, "
                         f"max err/tol {self.max_err_over_tol[m]:.3g}")
        lines += [f"  {f}" for f in self.failures]
        return "\n".join(lines)


def _leaves(inputs: Sequence[Any], where: str) -> tuple[list, list]:
    """Fresh named float64 leaves holding the inputs' values, and the values."""
    if not inputs:
        raise ValueError(f"{where}: pass the inputs after fn, e.g. {where}(fn, x, y)")
    values = []
    for k, x in enumerate(inputs):
        if isinstance(x, Tensor):
            if x.value is None:
                raise ValueError(f"{where}: input {k} is symbolic (no value); pass tensors "
                                 "or arrays holding the point to check at")
            x = x.value
        try:
            v = np.array(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{where}: input {k} must be a tensor or an array of numbers, "
                            f"got {type(x).__name__}") from None
        values.append(v)
    leaves = [tensor(v, requires_grad=True, name=f"x{k}") for k, v in enumerate(values)]
    return leaves, values


def _output(fn: Callable, leaves: list, where: str) -> Tensor:
    out = fn(*leaves)
    if not isinstance(out, Tensor):
        raise TypeError(f"{where}: fn must return a symgrad Tensor, got {type(out).__name__}")
    if out.dtype.kind != "f":
        raise TypeError(f"{where}: fn returned a {out.dtype.name} tensor; it must be floating")
    return out


def _bindings(out: Tensor, leaves: list, values: list) -> dict:
    """``{Symbol: mpf}``: the inputs' element symbols and other named data leaves' values."""
    from symgrad.lower_sympy import is_variable, leaf_array

    subs = {}
    inputs = {id(as_node(leaf)) for leaf in leaves}
    for leaf, v in zip(leaves, values):
        node = as_node(leaf)
        for s, x in zip(leaf_array(node, {id(node)}).ravel(), v.ravel()):
            subs[s] = mpmath.mpf(float(x))
    for n in toposort([as_node(out)]):
        if n.op is None and id(n) not in inputs and n.role == "data" and is_variable(n):
            for s, x in zip(leaf_array(n).ravel(), np.asarray(n.data, np.float64).ravel()):
                subs[s] = mpmath.mpf(float(x))
    return subs


def _evaluate(matrix: Any, subs: dict) -> tuple[np.ndarray, np.ndarray]:
    """A SymPy Matrix at ``subs``: (values, rounding bounds) as float arrays."""
    rows, cols = matrix.shape
    pairs = ExactEvaluator().evaluate(list(matrix), subs)
    vals = np.array([float(v) for v, _ in pairs]).reshape(rows, cols)
    bounds = np.array([float(a) for _, a in pairs]).reshape(rows, cols)
    return vals, bounds


def _label(kind: str, r: int, c: int, names: list, shapes: list) -> str:
    def at(flat: int) -> str:
        for n, s in zip(names, shapes):
            size = int(np.prod(s, dtype=np.int64))
            if flat < size:
                idx = np.unravel_index(flat, s) if s else ()
                return f"{n}[{', '.join(str(int(i)) for i in idx)}]" if s else n
            flat -= size
        return f"#{flat}"
    if kind == "hessian":
        return f"d2f/d{at(r)}d{at(c)}"
    return f"df[{r}]/d{at(c)}"


def _compare(report: MatrixReport, bounds: np.ndarray, factors: dict, n_ops: int,
             rho: float) -> None:
    ex = report.exact
    u = unit_roundoff(np.float64)
    scale = float(np.max(np.abs(ex), initial=0.0))
    for m, num in report.numeric.items():
        k = factors[m]
        tol = tolerance(bounds, ex, k * n_ops, rho) + SAFETY * u * (k * n_ops + rho) * scale
        with np.errstate(invalid="ignore"):
            err = np.abs(num - ex)
        err = np.where(np.isnan(err), np.inf, err)
        ratio = err / tol
        report.max_abs_err[m] = float(np.max(err, initial=0.0))
        report.max_err_over_tol[m] = float(np.max(ratio, initial=0.0))
        if np.any(ratio > 1.0):
            r, c = (int(i) for i in np.unravel_index(int(np.argmax(ratio)), ratio.shape))
            where = _label(report.kind, r, c, report.names, report.shapes)
            msg = (f"{m}: {where} numeric {float(num[r, c])!r} vs exact {float(ex[r, c])!r} "
                   f"(|err| {err[r, c]:.3g} > tol {tol[r, c]:.3g}; "
                   f"{int(np.sum(ratio > 1.0))} of {ratio.size} entries disagree)")
            if report.fd is not None:
                fd = report.fd[r, c]
                near = max(1e-4 * (abs(ex[r, c]) + scale), 1e-7)
                if abs(fd - ex[r, c]) <= near < abs(fd - num[r, c]):
                    msg += f"; finite differences ({fd:.6g}) side with exact: numeric is wrong"
                elif abs(fd - num[r, c]) <= near < abs(fd - ex[r, c]):
                    msg += (f"; finite differences ({fd:.6g}) side with numeric: the exact "
                            "form (lowering or closed form) may be wrong")
            report.failures.append(msg)


def _flat_blocks(blocks: Any, out_size: int, shapes: list) -> np.ndarray:
    """Blocks ``[i]`` (Jacobian) of shape out + in_i to one (out_size, N) matrix."""
    cols = [np.asarray(b.detach().numpy(), np.float64).reshape(out_size, -1) for b in blocks]
    return np.concatenate(cols, axis=1)


def _fd_jacobian(fn: Callable, values: list, out_size: int) -> np.ndarray:
    cols = []
    for k, v in enumerate(values):
        for e in range(v.size):
            h = FD_STEP * max(1.0, abs(float(v.ravel()[e])))
            pair = []
            for sign in (1.0, -1.0):
                vs = [w.copy() for w in values]
                vs[k].reshape(-1)[e] += sign * h
                with np.errstate(all="ignore"):
                    pair.append(np.asarray(fn(*[tensor(w) for w in vs]).detach().numpy(),
                                           np.float64).reshape(out_size))
            cols.append((pair[0] - pair[1]) / (2 * h))
    return np.stack(cols, axis=1) if cols else np.zeros((out_size, 0))


def _methods(methods: Any, table: dict, where: str) -> tuple:
    if methods is None:
        return tuple(table)
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    bad = [m for m in methods if m not in table]
    if bad or not methods:
        raise ValueError(f"{where}: methods must be a non-empty subset of {tuple(table)}, "
                         f"got {methods!r}")
    return methods


def _exact_at(exact, what: str, out, leaves, values, where: str) -> tuple:
    """(values, rounding bounds, conditioning, op count) of an exact matrix at the inputs."""
    try:
        ex, bounds = _evaluate(exact, _bindings(out, leaves, values))
    except OutOfDomain as e:
        raise ValueError(f"{where}: the exact {what} is undefined at this point ({e}); "
                         "check at a point inside the domain") from None
    _, _, rho, n_ops = replay(as_node(out), {id(as_node(leaf)): v for leaf, v
                                             in zip(leaves, values)})
    return ex, bounds, rho, n_ops


def check_jacobian(fn: Callable, *inputs: Any, methods: Any = None, fd: bool = True
                   ) -> MatrixReport:
    """Compare the exact Jacobian of ``fn`` at ``inputs`` with ``sg.func.jacrev`` / ``jacfwd``.

    ``fn`` takes tensors and returns one tensor; ``inputs`` are tensors or arrays
    (the point; every input is differentiated).  The exact matrix is
    ``sg.jacobian`` per input, side by side (shape ``(out.numel, sum of
    in.numel)``).  ``methods``: a subset of :data:`JACOBIAN_METHODS`.  Returns a
    :class:`MatrixReport`; never raises for a mismatch (``.raise_if_failed()``).

    >>> import symgrad as sg, verify
    >>> r = verify.check_jacobian(lambda x, y: sg.exp(x) * y, sg.tensor([0.5, 1.0]),
    ...                           sg.tensor(2.0))
    >>> r.passed, r.exact.shape
    (True, (2, 3))
    """
    import symgrad as sg

    where = "check_jacobian"
    methods = _methods(methods, JACOBIAN_METHODS, where)
    leaves, values = _leaves(inputs, where)
    out = _output(fn, leaves, where)
    n = out.numel()
    exact = _hstack([sg.jacobian(out, leaf, simplify=False) for leaf in leaves])
    ex, bounds, rho, n_ops = _exact_at(exact, "Jacobian", out, leaves, values, where)
    argnums = tuple(range(len(values)))
    numeric = {}
    for m in methods:
        transform = F.jacrev if m == "jacrev" else F.jacfwd
        numeric[m] = _flat_blocks(transform(fn, argnums)(*[tensor(v) for v in values]), n,
                                  [v.shape for v in values])
    report = MatrixReport("jacobian", [f"x{k}" for k in argnums], [v.shape for v in values],
                          ex, numeric, _fd_jacobian(fn, values, n) if fd else None)
    _compare(report, bounds, JACOBIAN_METHODS, max(n_ops, 1), rho)
    return report


def check_hessian(fn: Callable, *inputs: Any, methods: Any = None, fd: bool = True
                  ) -> MatrixReport:
    """Compare the exact Hessian of a scalar ``fn`` with ``sg.func``'s numeric Hessians.

    ``inputs`` as in :func:`check_jacobian`; the exact matrix is ``sg.hessian``
    over all inputs, flattened one after the other.  ``methods``: a subset of
    :data:`HESSIAN_METHODS` (``"hessian"``, reverse over reverse;
    ``"jacfwd(jacrev)"``, torch's composition; ``"hvp"``, one Hessian-vector
    product per column).  Finite differences of ``sg.func.grad`` are the third
    opinion.  A VJP that gives right first derivatives but builds a wrong graph
    under ``create_graph=True`` is caught here and nowhere else.

    >>> import symgrad as sg, verify
    >>> r = verify.check_hessian(lambda x, y: (x * x).sum() * sg.exp(y), sg.tensor([1.0, 2.0]),
    ...                          sg.tensor(0.0))
    >>> r.passed, r.exact.tolist()
    (True, [[2.0, 0.0, 2.0], [0.0, 2.0, 4.0], [2.0, 4.0, 5.0]])
    """
    import symgrad as sg

    where = "check_hessian"
    methods = _methods(methods, HESSIAN_METHODS, where)
    leaves, values = _leaves(inputs, where)
    out = _output(fn, leaves, where)
    if out.numel() != 1:
        raise ValueError(f"{where}: fn must return a scalar, got shape {tuple(out.shape)}; "
                         "reduce it (.sum()) or use check_jacobian")
    exact = sg.hessian(out, leaves, simplify=False)
    ex, bounds, rho, n_ops = _exact_at(exact, "Hessian", out, leaves, values, where)
    argnums = tuple(range(len(values)))
    sizes = [v.size for v in values]
    total = sum(sizes)
    ts = [tensor(v) for v in values]
    numeric = {}
    for m in methods:
        if m == "hvp":
            cols = []
            for k, v in enumerate(values):
                for e in range(v.size):
                    tang = [np.zeros(w.shape) for w in values]
                    tang[k].reshape(-1)[e] = 1.0
                    _, hv = F.hvp(fn, tuple(ts), tuple(tensor(t) for t in tang))
                    cols.append(np.concatenate([np.asarray(h.numpy(), np.float64).ravel()
                                                for h in hv]))
            numeric[m] = np.stack(cols, axis=1)
            continue
        blocks = (F.hessian(fn, argnums) if m == "hessian"
                  else F.jacfwd(F.jacrev(fn, argnums), argnums))(*ts)
        numeric[m] = np.concatenate(
            [_flat_blocks(row, sizes[i], None) for i, row in enumerate(blocks)], axis=0
        ).reshape(total, total)
    fd_matrix = None
    if fd:
        def grad_flat(*xs: Tensor) -> Tensor:
            gs = F.grad(fn, argnums)(*xs)
            return sg.cat([g.reshape(-1) for g in gs])
        fd_matrix = _fd_jacobian(grad_flat, values, total)
    report = MatrixReport("hessian", [f"x{k}" for k in argnums], [v.shape for v in values],
                          ex, numeric, fd_matrix)
    _compare(report, bounds, HESSIAN_METHODS, max(n_ops, 1), rho)
    return report


def _hstack(mats: list) -> Any:
    """Matrices side by side (``sympy.Matrix.hstack``)."""
    import sympy
    return sympy.Matrix.hstack(*mats)
