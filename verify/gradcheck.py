"""``verify.gradcheck``: PyTorch's gradcheck, plus a check against the exact Jacobian.

With ``exact=False`` this is PyTorch's test: the Jacobian from finite differences
(central, step ``eps``) against the analytical one (numeric's reverse mode, one
backward per output element), passing when ``|a - n| <= atol + rtol * |n|``
elementwise.  With ``exact=True`` (the default when every op of the graph has a
SymPy form) the analytical Jacobian must *also* match the exact one within the
rounding tolerance of Note [Tolerance policy], which finite differences cannot
resolve: a VJP off by a factor 1.0001 passes the first test and fails the second.

The graph is traced once by calling ``fn(*inputs)``; finite differences perturb
the leaves and re-run that graph through numeric's kernels (data-dependent
Python control flow in ``fn`` is not re-traced).
"""
from __future__ import annotations

from typing import Any, Callable

import mpmath
import numpy as np

from numeric.node import as_node
from symgrad.creation import tensor
from symgrad.tensor import Tensor
from verify.oracles import ExactEvaluator, OutOfDomain, numeric_gradient, replay
from verify.report import GradientMismatchError
from verify.tolerance import tolerance

__all__ = ["gradcheck"]


def _as_leaf(x: Any) -> Tensor:
    if isinstance(x, Tensor):
        return x
    return tensor(np.asarray(x, dtype=np.float64), requires_grad=True)


def _exact_available(out_nodes: list) -> bool:
    from numeric.graph import toposort
    from numeric.ops import Op
    return all(n.op is None or isinstance(n.op, Op) or getattr(n.op, "sympy", None) is not None
               for n in toposort(out_nodes))


def _fmt(a: np.ndarray) -> str:
    return np.array2string(np.asarray(a), precision=6, separator=", ")


def gradcheck(fn: Callable, inputs: Any, *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True, exact: bool | None = None
              ) -> bool:
    """Check ``fn``'s gradients at ``inputs`` like ``torch.autograd.gradcheck``.

    ``inputs``: a tensor or tuple of tensors (arrays are wrapped as tensors that
    require grad); only inputs that require grad are checked.  Raises
    :class:`GradientMismatchError` ("Jacobian mismatch for output 0 with respect
    to input 1 ...") or returns False when ``raise_exception=False``.

    >>> import numpy as np
    >>> from numeric.ops import Op
    >>> from verify.graph import apply
    >>> gradcheck(lambda x: apply(Op.SIN, x), (np.array([0.3, 1.2]),))
    True
    """
    # Long because it mirrors torch.autograd.gradcheck step by step (validate,
    # analytical rows, numerical columns, then the exact check), in that order.
    for name, v in (("eps", eps), ("atol", atol), ("rtol", rtol)):
        if not isinstance(v, (int, float)) or v < 0 or (name == "eps" and v == 0):
            raise ValueError(f"gradcheck: {name} must be a {'positive' if name == 'eps' else 'non-negative'} "
                             f"number, got {v!r}")
    if not isinstance(inputs, (tuple, list)):
        inputs = (inputs,)
    leaves = [_as_leaf(x) for x in inputs]
    outs = fn(*leaves)
    outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
    checked = [k for k, leaf in enumerate(leaves) if getattr(leaf, "requires_grad", False)]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; pass tensors with "
                         "requires_grad=True (or numpy arrays)")
    for k, leaf in enumerate(leaves):
        if leaf.op is not None or leaf.value is None:
            raise ValueError(f"gradcheck: input {k} must be a leaf tensor with a value")
    values = [leaf.value for leaf in leaves]
    leaves = [as_node(leaf) for leaf in leaves]
    outs = [as_node(o) for o in outs]
    if exact is None:
        exact = _exact_available(outs)
    elif exact and not _exact_available(outs):
        raise ValueError("gradcheck(exact=True): an op of the graph has no SymPy form (a "
                         "custom op made without sympy=); give it one or pass exact=False")
    base = {id(leaf): np.asarray(v, dtype=np.float64) for leaf, v in zip(leaves, values)}
    grad_leaves = [leaves[k] for k in checked]

    def fail(msg: str, **fields: Any) -> bool:
        if raise_exception:
            raise GradientMismatchError(msg, **fields)
        return False

    for o, out in enumerate(outs):
        new_out, new, rho, n_ops = replay(out, base, grad_leaves)
        out_val = new_out.value
        n_out = int(np.size(out_val))
        # analytical: one backward per output element (rows of the Jacobian)
        analytical = [np.zeros((n_out, int(np.size(base[id(leaves[k])])))) for k in checked]
        for r in range(n_out):
            seed = np.zeros(np.shape(out_val))
            seed.reshape(-1)[r] = 1.0
            used = [j for j, leaf in enumerate(grad_leaves) if id(leaf) in new]
            rows = numeric_gradient(new_out, [new[id(grad_leaves[j])] for j in used], seed)
            for j, row in zip(used, rows):  # an input the output ignores keeps a zero row
                analytical[j][r] = row.reshape(-1)
        for j, k in enumerate(checked):
            x = base[id(leaves[k])]
            numerical = np.zeros_like(analytical[j])
            for c in range(x.size):
                cols = []
                for sign in (1.0, -1.0):
                    pert = dict(base)
                    xp = x.copy()
                    xp.reshape(-1)[c] += sign * eps
                    pert[id(leaves[k])] = xp
                    cols.append(np.asarray(replay(out, pert)[0].value, np.float64).reshape(-1))
                numerical[:, c] = (cols[0] - cols[1]) / (2 * eps)
            ok = np.abs(analytical[j] - numerical) <= atol + rtol * np.abs(numerical)
            if not np.all(ok):
                return fail(f"Jacobian mismatch for output {o} with respect to input {k},\n"
                            f"numerical:{_fmt(numerical)}\nanalytical:{_fmt(analytical[j])}\n",
                            output=o, input=k, numeric=analytical[j], expected=numerical,
                            max_abs_err=float(np.max(np.abs(analytical[j] - numerical))))
        if exact:
            res = _check_exact(out, leaves, checked, grad_leaves, base, analytical, n_ops, rho)
            if res is not None:
                k, ex, err = res
                j = checked.index(k)
                return fail(f"Jacobian mismatch for output {o} with respect to input {k} "
                            f"(numeric vs exact, beyond float64 rounding tolerance),\n"
                            f"exact:{_fmt(ex)}\nanalytical:{_fmt(analytical[j])}\n",
                            output=o, input=k, numeric=analytical[j], expected=ex,
                            max_abs_err=err)
    return True


def _check_exact(out, leaves, checked, grad_leaves, base, analytical, n_ops, rho):
    """None if the analytical Jacobian matches the exact one, else (input, exact, err)."""
    from symgrad.closed_form import reverse_mode
    from symgrad.lower_sympy import leaf_array

    from numeric.graph import toposort

    in_graph = {id(n) for n in toposort([out])}
    used = [j for j, leaf in enumerate(grad_leaves) if id(leaf) in in_graph]
    if not used:  # the output ignores every checked input: the zero Jacobian is exact
        return None
    reps, jac_used = reverse_mode(out, [grad_leaves[j] for j in used], cse=True,
                                  bindings={id(leaf): base[id(leaf)] for leaf in leaves})
    jac = dict(zip(used, jac_used))
    ev = ExactEvaluator()
    with mpmath.workdps(ev.dps):
        memo = {}
        for leaf in leaves:
            syms = leaf_array(leaf, {id(leaf)})
            for s, x in zip(syms.ravel(), base[id(leaf)].ravel()):
                if hasattr(s, "is_Symbol") and s.is_Symbol:
                    memo[s] = (mpmath.mpf(float(x)), mpmath.mpf(0))
        try:
            for sym, expr in reps:
                memo[sym] = ev._walk(expr, memo)
            for j, k in enumerate(checked):
                if j not in jac:
                    continue  # not in the graph: the analytical row is exactly zero
                pairs = [ev._walk(e, memo) for e in np.asarray(jac[j], dtype=object).ravel()]
                ex = np.array([float(v) for v, _ in pairs]).reshape(analytical[j].shape)
                a = np.array([float(b) for _, b in pairs]).reshape(analytical[j].shape)
                err = np.abs(analytical[j] - ex)
                if np.any(err > tolerance(a, ex, n_ops, rho)):
                    return k, ex, float(np.max(err))
        except OutOfDomain:
            return None
    return None
