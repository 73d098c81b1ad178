"""The witnesses: exact (mpmath with a running error bound), numeric, finite differences.

* :class:`ExactEvaluator` evaluates SymPy expressions at >= 30 significant digits
  with inputs converted exactly (``mpmath.mpf(float)`` is the float's binary value)
  and returns, with each value, a first-order running error bound (Note
  [Tolerance policy] in :mod:`verify.tolerance`).
* :func:`replay` re-runs a graph's forward pass through numeric's kernels at new
  leaf values and :func:`numeric_gradient` runs numeric's reverse-mode executor on
  it; the replay also measures the worst cancellation ratio ``rho``.
* :func:`fd_gradient` is the third opinion: central differences with a step per
  input element and one Richardson extrapolation.

All walks are iterative (explicit stacks), never recursive.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Callable, Sequence

import mpmath
import numpy as np
import sympy

from numeric.graph import toposort
from numeric.kernels import FORWARD
from numeric.node import as_node
from numeric.ops import MOVEMENT, Op
from symgrad.naming import leaf_name
from symgrad.tensor import Tensor, handle

__all__ = ["OutOfDomain", "ExactEvaluator", "replay", "backward_rho", "adjoint_scale",
           "numeric_gradient",
           "fd_gradient", "DPS"]

#: decimal digits of the exact evaluation
DPS = 40


class OutOfDomain(ValueError):
    """The exact formula is undefined or complex at this point (skip it)."""


# ------------------------------------------------------------------- exact witness

_STEP_FUNCS = (sympy.Heaviside, sympy.sign, sympy.floor, sympy.ceiling)


@lru_cache(maxsize=None)
def _template(func: Any, nargs: int):
    """mpmath callables for ``func``'s value and each partial derivative (SymPy's diff)."""
    ds = sympy.symbols(f"_t0:{nargs}", real=True)
    form = func(*ds)
    value = sympy.lambdify(ds, form, "mpmath")
    partials = []
    for d in ds:
        if func in _STEP_FUNCS:
            partials.append(None)  # piecewise constant: no propagated error
            continue
        deriv = sympy.diff(form, d)
        if deriv.has(sympy.DiracDelta):
            deriv = deriv.replace(sympy.DiracDelta, lambda *a: sympy.S.Zero)
        partials.append(sympy.lambdify(ds, deriv, "mpmath"))
    return value, partials


def _exactly_representable(r: sympy.Rational) -> bool:
    q = int(r.q)
    if q & (q - 1):
        return False
    return abs(int(r.p)).bit_length() <= 53


def _real(v: Any) -> Any:
    if isinstance(v, mpmath.mpc):
        if abs(v.imag) > abs(v.real) * mpmath.mpf(10) ** (-DPS + 5) and v.imag != 0:
            raise OutOfDomain(f"complex value {v}")
        v = v.real
    if isinstance(v, (bool, int)):
        return mpmath.mpf(int(v))
    v = mpmath.mpf(v)
    if not mpmath.isfinite(v):
        raise OutOfDomain(f"non-finite value {v}")
    return v


class ExactEvaluator:
    """Evaluate SymPy expressions exactly-ish (``DPS`` digits) with a rounding bound.

    ``evaluate(exprs, subs)`` returns ``[(value, bound)]``: ``value`` an mpmath
    number; ``bound`` ``a`` such that evaluating the same formula in floats of
    unit roundoff ``u`` errs by at most ~``u * a`` (first order).

    >>> x = sympy.Symbol("x", real=True)
    >>> [(v, a)] = ExactEvaluator().evaluate([x * x - 1], {x: mpmath.mpf(1.0)})
    >>> float(v), float(a)
    (0.0, 3.0)
    """

    def __init__(self, dps: int = DPS) -> None:
        self.dps = dps

    def evaluate(self, exprs: Sequence[sympy.Basic], subs: dict) -> list[tuple[Any, Any]]:
        """Evaluate every expression of ``exprs`` at ``subs`` ({Symbol: number})."""
        with mpmath.workdps(self.dps):
            memo: dict = {}
            for s, v in subs.items():
                memo[s] = (_real(v), mpmath.mpf(0))
            return [self._walk(e, memo) for e in exprs]

    def _walk(self, root: sympy.Basic, memo: dict) -> tuple[Any, Any]:
        # Explicit stack of (expr, stage); Piecewise needs two passes (conditions,
        # then the chosen branch), everything else one pass over its args.
        stack: list[tuple[Any, int]] = [(root, 0)]
        while stack:
            e, stage = stack.pop()
            if e in memo:
                continue
            if isinstance(e, sympy.Piecewise):
                if stage == 0:
                    stack.append((e, 1))
                    stack.extend((x, 0) for x in _condition_operands(e) if x not in memo)
                    continue
                branch = _choose(e, memo)
                if branch in memo:
                    memo[e] = memo[branch]
                else:
                    stack.append((e, 1))
                    stack.append((branch, 0))
                continue
            if stage == 0 and e.args and not e.is_Atom:
                pending = [a for a in e.args if a not in memo]
                if pending:
                    stack.append((e, 1))
                    stack.extend((a, 0) for a in pending)
                    continue
            memo[e] = self._node(e, memo)
        return memo[root]

    def _node(self, e: sympy.Basic, memo: dict) -> tuple[Any, Any]:
        if e.is_Symbol:
            raise OutOfDomain(f"symbol {e} has no value; bind it")
        if e.is_Rational:
            v = mpmath.mpf(int(e.p)) / int(e.q)
            return v, (mpmath.mpf(0) if _exactly_representable(e) else abs(v))
        if e.is_Number or isinstance(e, sympy.NumberSymbol):
            v = _real(mpmath.mpf(sympy.Float(e, self.dps)))
            return v, abs(v)
        args = [memo[a] for a in e.args]
        vals = [v for v, _ in args]
        if e.is_Add:
            v = mpmath.fsum(vals)
            return v, mpmath.fsum(a for _, a in args) + (len(vals) - 1) * mpmath.fsum(
                abs(x) for x in vals)
        if e.is_Mul:
            v = mpmath.fprod(vals)
            bound = (len(vals) - 1) * abs(v)
            for i, (_, a) in enumerate(args):
                if a:
                    bound += a * abs(mpmath.fprod(vals[:i] + vals[i + 1:]))
            return v, bound
        if e.is_Pow:
            (b, ab), (x, ax) = args
            if b == 0 and x < 0:
                raise OutOfDomain("division by zero")
            v = _real(mpmath.power(b, x))
            bound = abs(v)
            if ab:
                bound += abs(x * mpmath.power(b, x - 1)) * ab if b != 0 else ab
            if ax:
                bound += abs(v * mpmath.log(abs(b))) * ax if b != 0 else 0
            return v, bound
        if isinstance(e, (sympy.Function, sympy.Abs)) or e.is_Function:
            value, partials = _template(e.func, len(vals))
            try:
                v = _real(value(*vals))
                bound = abs(v)
                for p, (_, a) in zip(partials, args):
                    if p is not None and a:
                        bound += abs(_real(p(*vals))) * a
            except (ZeroDivisionError, ValueError, TypeError) as exc:
                raise OutOfDomain(f"{e.func}: {exc}") from exc
            return v, bound
        raise OutOfDomain(f"cannot evaluate {type(e).__name__} exactly: {e}")


def _relationals(cond: sympy.Basic) -> list:
    out, stack = [], [cond]
    while stack:
        c = stack.pop()
        if isinstance(c, sympy.core.relational.Relational):
            out.append(c)
        elif isinstance(c, sympy.logic.boolalg.BooleanFunction):   # And, Or, Not, ITE, Xor...
            stack.extend(c.args)
    return out


def _condition_operands(pw: sympy.Piecewise) -> list:
    return [side for _, cond in pw.args for rel in _relationals(cond)
            for side in (rel.lhs, rel.rhs)]


def _truth(cond: sympy.Basic, memo: dict) -> bool:
    if cond is sympy.true or cond is True:
        return True
    if cond is sympy.false or cond is False:
        return False
    if isinstance(cond, sympy.Not):
        return not _truth(cond.args[0], memo)
    if isinstance(cond, sympy.And):
        return all(_truth(c, memo) for c in cond.args)
    if isinstance(cond, sympy.Or):
        return any(_truth(c, memo) for c in cond.args)
    if not isinstance(cond, sympy.core.relational.Relational):
        # any other boolean function (ITE, Xor, ...): decide its relationals, then let
        # SymPy evaluate the function of True/False
        rels = _relationals(cond)
        value = cond.xreplace({r: sympy.true if _truth(r, memo) else sympy.false
                               for r in rels})
        if value is sympy.true or value is sympy.false:
            return bool(value)
        raise OutOfDomain(f"cannot decide the condition {cond}")
    lhs, rhs = memo[cond.lhs][0], memo[cond.rhs][0]
    ops = {"<": lhs < rhs, "<=": lhs <= rhs, ">": lhs > rhs, ">=": lhs >= rhs,
           "==": lhs == rhs, "!=": lhs != rhs}
    return bool(ops[cond.rel_op])


def _choose(pw: sympy.Piecewise, memo: dict) -> sympy.Basic:
    for expr, cond in pw.args:
        if _truth(cond, memo):
            return expr
    raise OutOfDomain(f"no branch of {pw} applies")


# ------------------------------------------------------------------- numeric witness

_SUMMING = {Op.ADD, Op.SUB}


def _forward(op: Any, values: list, attrs: dict) -> np.ndarray:
    if isinstance(op, Op):
        return np.asarray(FORWARD[op](*values, **attrs))
    return np.asarray(op.forward(*values, **attrs))


def _magnitude(op: Any, node_vals: list, mags: list, ratios: list, out: np.ndarray,
               attrs: dict) -> np.ndarray:
    """Forward magnitude of ``out`` for the cancellation ratio (see Note [Tolerance policy])."""
    if op in _SUMMING:
        return np.abs(mags[0]) + np.abs(mags[1])
    if op in (Op.SUM, Op.MEAN):
        return np.asarray(FORWARD[op](mags[0], **attrs))
    if op is Op.MATMUL:
        return np.abs(FORWARD[op](mags[0], mags[1]))
    if op is Op.LOG_SOFTMAX:
        return np.abs(node_vals[0]) + np.abs(node_vals[0] - out)
    if op in MOVEMENT:
        return np.abs(FORWARD[op](*mags, **attrs))
    return np.abs(out) * max(ratios, default=1.0)


def replay(output, bind: dict, grad_leaves: Sequence = ()) -> tuple[Tensor, dict, float, int]:
    """Re-run the forward pass of ``output`` (an IR node) with leaf values ``bind``.

    ``bind`` maps ``id(leaf node)`` to an array.  Returns (the output's handle,
    {id(node): its handle}, rho, n_ops): Tensor handles over the same nodes
    with this run's values, ready for numeric's executor; ``rho`` the worst
    cancellation ratio of an intermediate value, ``n_ops`` the op count.
    Leaves in ``grad_leaves`` (nodes) require grad in the replay.
    """
    output = as_node(output)
    want = {id(as_node(t)) for t in grad_leaves}
    new: dict[int, Tensor] = {}
    mags: dict[int, np.ndarray] = {}
    ratio: dict[int, float] = {}
    rho, n_ops = 1.0, 0
    for node in toposort([output]):
        if node.op is None:
            value = bind.get(id(node), node.data)
            if value is None:
                raise ValueError(
                    f"symbol {leaf_name(node)!r} has no value: list it in wrt or "
                    "bind it with points=")
            value = np.asarray(value)
            new[id(node)] = handle(node, value, (), id(node) in want)
            mags[id(node)], ratio[id(node)] = np.abs(value.astype(np.float64)), 1.0
            continue
        n_ops += 1
        ins = tuple(new[id(i)] for i in node.inputs)
        attrs = node.attrs
        out = _forward(node.op, [i.value for i in ins], attrs)
        new[id(node)] = handle(node, out, ins, any(i.requires_grad for i in ins))
        m = _magnitude(node.op, [i.value for i in ins], [mags[id(i)] for i in node.inputs],
                       [ratio[id(i)] for i in node.inputs], out, attrs)
        absout = np.abs(out.astype(np.float64)) if out.dtype.kind in "fc" else None
        r = 1.0
        if absout is not None:
            # an element that overflowed (inf or nan) is a finding of the comparison, not
            # cancellation: the ratio is taken over finite elements only
            mb = np.broadcast_to(m, absout.shape)
            nz = (absout > 0) & np.isfinite(absout) & np.isfinite(mb)
            if np.any(nz):
                r = float(np.max(mb[nz] / absout[nz]))
        mags[id(node)], ratio[id(node)] = m, max(r, 1.0)
        if math.isfinite(r):
            rho = max(rho, r)
        else:
            rho = math.inf
    return new[id(output)], new, rho, n_ops


def backward_rho(order: Sequence, new: dict) -> float:
    """Note [Backward conditioning]: how much a VJP's own formula amplifies rounding.

    ``sigmoid``'s VJP is ``g * out * (1 - out)`` and ``tanh``'s ``g * (1 - out**2)``
    (PyTorch's formulas too): where ``out`` is near 1, the ``1 - out`` cancels and the
    numeric gradient carries a relative error of about ``u / (1 - out)``, which the
    exact derivative (``exp(-x) / (1 + exp(-x))**2``) does not.  The forward
    cancellation ratio ``rho`` cannot see it, so :func:`verify.check` takes the larger
    of the two: the tolerance grows with it, and beyond ``MAX_RHO`` the point is
    ill-conditioned.  ``order``: the IR nodes; ``new``: their replayed handles.
    """
    worst = 1.0
    with np.errstate(all="ignore"):
        for node in order:
            if node.op is Op.SIGMOID:
                out = np.abs(np.asarray(new[id(node)].value, np.float64))
                r = out / np.abs(1 - out)
            elif node.op is Op.TANH:
                out = np.asarray(new[id(node)].value, np.float64) ** 2
                r = out / np.abs(1 - out)
            else:
                continue
            r = np.where(np.isfinite(r), r, math.inf) if r.size else r
            worst = max(worst, float(np.max(r, initial=1.0)))
    return worst


def numeric_gradient(out: Tensor, leaves: Sequence[Tensor], cotangent) -> list:
    """numeric's reverse-mode gradient of ``<cotangent, out>`` w.r.t. each leaf."""
    from numeric.executor import backward

    grads = backward([out], [np.asarray(cotangent, dtype=out.value.dtype)], targets=list(leaves))
    return [np.asarray(grads.get(id(leaf), np.zeros(leaf.shape)), dtype=np.float64)
            .reshape(leaf.shape) for leaf in leaves]


def adjoint_scale(out: Tensor, handles: Sequence[Tensor], cotangent) -> float:
    """Note [Backward cancellation]: the largest cotangent anywhere in the backward pass.

    A gradient that is a sum of terms cancelling to (nearly) zero -- ``d/dx
    log_softmax([x, x])`` is ``a - a`` with ``|a| ~ 1`` -- carries an absolute rounding
    error of about ``u`` times those terms, which an exact 0 cannot scale.  The terms
    are bounded by the cotangents flowing through the graph, so :func:`verify.check`
    adds ``u * n_ops * adjoint_scale`` to its tolerance: an absolute floor at the
    scale of the backward pass, far below any gradient bug of that scale.
    """
    from numeric.executor import backward

    wanted = [h for h in handles if h.requires_grad]
    with np.errstate(all="ignore"):
        grads = backward([out], [np.asarray(cotangent, dtype=out.value.dtype)],
                         targets=wanted)
        mags = [float(np.max(np.abs(g), initial=0.0)) for g in grads.values()]
    finite = [m for m in mags if math.isfinite(m)]
    return max(finite, default=0.0)


# ------------------------------------------------------------------- finite differences

def fd_gradient(phi: Callable[[list], float], xs: Sequence[np.ndarray],
                max_step: float = math.inf) -> tuple[list, list]:
    """Central differences of scalar ``phi`` with one Richardson step.

    The step for element ``x`` is ``u**(1/5) * max(|x|, 1)`` (balancing the
    ``h**4`` truncation of the extrapolated difference against rounding
    ``u / h``), rounded to a power of two and capped at ``max_step`` (so it does
    not cross a kink or leave the domain).  Returns (estimates, error estimates).

    >>> est, err = fd_gradient(lambda xs: float(np.sum(np.sin(xs[0]))), [np.array([0.5])])
    >>> bool(abs(est[0][0] - np.cos(0.5)) < 1e-10)
    True
    """
    u = 2.0 ** -53
    xs = [np.array(x, dtype=np.float64) for x in xs]
    base = abs(phi(xs))
    ests, errs = [], []
    for k, x in enumerate(xs):
        est, err = np.zeros(x.shape), np.zeros(x.shape)
        for idx in np.ndindex(x.shape):
            x0 = x[idx]
            h = min(u ** 0.2 * max(abs(x0), 1.0), max_step)
            h = 2.0 ** math.floor(math.log2(h))

            def d(step):
                x[idx] = x0 + step
                fp = phi(xs)
                x[idx] = x0 - step
                fm = phi(xs)
                x[idx] = x0
                return (fp - fm) / (2 * step)

            d1, d2 = d(h), d(h / 2)
            est[idx] = (4 * d2 - d1) / 3
            err[idx] = abs(est[idx] - d2) + 4 * u * max(base, 1e-300) / h
        ests.append(est)
        errs.append(err)
    return ests, errs
