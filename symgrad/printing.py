"""Printing and evaluating closed forms: ``latex``, ``sstr``, ``lambdify``.

Tensors are lowered with :func:`symgrad.lower_sympy.to_sympy` first; SymPy
objects are printed by SymPy's own printers.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import sympy

from symgrad.closed_form import to_sympy
from numeric.node import Node, as_node, many
from symgrad.tensor import Tensor
from symgrad.lower_sympy import leaf_array

__all__ = ["latex", "sstr", "lambdify"]


def _is_node(x) -> bool:
    return isinstance(x, (Tensor, Node))


def _as_sympy(x):
    return to_sympy(x) if _is_node(x) else sympy.sympify(x)


def latex(expr_or_tensor: Any, **settings) -> str:
    """LaTeX of a SymPy expression or of a tensor's closed form.

    >>> import symgrad as sg
    >>> x = sg.symbol("x")
    >>> sg.latex(sg.exp(x) / 2)
    '\\\\frac{e^{x}}{2}'
    """
    return sympy.latex(_as_sympy(expr_or_tensor), **settings)


def sstr(expr_or_tensor: Any) -> str:
    """SymPy's ``str`` of an expression or of a tensor's closed form.

    >>> import symgrad as sg
    >>> sstr(sg.symbol("x") ** 2)
    'x**2'
    """
    return sympy.sstr(_as_sympy(expr_or_tensor))


def _arg(a):
    """A lambdify argument: leaf tensor -> its symbol (or nested list of element symbols)."""
    if _is_node(a):
        arr = leaf_array(a, {id(as_node(a))})
        return arr.reshape(()).item() if arr.size == 1 else arr.tolist()
    return a


#: lambdify's modules: numpy, and scipy.special for what numpy lacks (erfc, erfinv)
_MODULES = ["numpy", "scipy"]


def lambdify(formula: Any, args: Sequence[Any]) -> Callable[..., Any]:
    """A numpy function evaluating ``formula`` (SymPy object, tensor, or cse pair).

    ``args`` are leaf tensors (shaped leaves take one array argument each) or
    SymPy symbols.  Arrays of expressions give numpy arrays of their shape;
    a ``(replacements, exprs)`` pair from ``gradient(..., cse=True)`` gives a list.

    >>> import symgrad as sg
    >>> x = sg.symbol("x")
    >>> f = sg.lambdify(sg.diff(sg.sin(x), x), [x])
    >>> float(f(0.0))
    1.0
    """
    if not many(args):
        args = [args]
    syms = [_arg(a) for a in args]
    if many(formula) and len(formula) == 2 and isinstance(formula[0], list):
        reps, exprs = formula
        several = isinstance(exprs, (list, tuple))
        items = list(exprs) if several else [exprs]
        flat_fn = sympy.lambdify(syms, items, modules=_MODULES,
                                 cse=lambda es: (list(reps), list(es)))
        return (lambda *vals: flat_fn(*vals)) if several else (lambda *vals: flat_fn(*vals)[0])
    if _is_node(formula):
        formula = to_sympy(formula, wrt=[a for a in args if _is_node(a)])
    if isinstance(formula, (sympy.NDimArray, sympy.MatrixBase, np.ndarray)):
        shape = tuple(np.shape(np.asarray(formula.tolist(), dtype=object))) \
            if not isinstance(formula, np.ndarray) else formula.shape
        flat = list(np.asarray(formula.tolist() if not isinstance(formula, np.ndarray)
                               else formula, dtype=object).ravel())
        fn = sympy.lambdify(syms, flat, modules=_MODULES)

        def array_fn(*vals):
            out = np.broadcast_arrays(*[np.asarray(v, dtype=float) for v in fn(*vals)])
            stacked = np.stack(out) if out else np.zeros(0)
            return stacked.reshape(shape + stacked.shape[1:])
        return array_fn
    return sympy.lambdify(syms, formula, modules=_MODULES)
