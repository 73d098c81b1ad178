"""Printing and evaluating closed forms: ``latex``, ``sstr``, ``lambdify``.

Tensors are lowered with :func:`symgrad.lower_sympy.to_sympy` first; SymPy
objects are printed by SymPy's own printers.
"""
from __future__ import annotations

import itertools
import linecache
from typing import Any, Callable, Sequence

import sympy

from symgrad.closed_form import to_sympy
from numeric.node import Node
from symgrad.tensor import Tensor

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


_COUNTER = itertools.count()


def lambdify(formula: Any, args: Sequence[Any], *, cse: bool = True,
             backend: str = "numpy") -> Callable[..., Any]:
    """A function evaluating ``formula``: the source :func:`symgrad.code_out.codegen` writes.

    ``formula`` is a SymPy expression, a Matrix/Array of expressions, a matrix-form
    result (``2*X.T*(X*w - y)``), a list/tuple of these (``sg.gradient``'s output),
    a ``(replacements, exprs)`` pair from ``cse=True``, or a tensor.  ``args`` are
    leaf tensors (a shaped leaf takes one array), SymPy Symbols or MatrixSymbols.
    ``backend`` is "numpy" (default), "jax" or "torch"; ``cse=True`` evaluates
    shared subexpressions once.  Arrays of expressions give arrays of their shape;
    vectors in matrix form are 1-D arrays in and out.  The generated source is the
    function's ``source`` attribute.

    >>> import symgrad as sg
    >>> x = sg.symbol("x")
    >>> f = sg.lambdify(sg.diff(sg.sin(x), x), [x])
    >>> float(f(0.0))
    1.0
    """
    from symgrad.code_out import _generate
    if backend == "c":
        raise ValueError("lambdify makes Python callables (backend 'numpy', 'jax' or "
                         "'torch'); for C source use sg.codegen(..., lang='c')")
    if backend not in ("numpy", "jax", "torch"):
        raise ValueError(f"backend must be 'numpy', 'jax' or 'torch'; got {backend!r}")
    source, implemented = _generate(formula, args, backend, "f", cse)
    filename = f"<symgrad.lambdify-{next(_COUNTER)}>"
    # the source in linecache, so tracebacks through the generated function show its lines
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict = dict(implemented)
    exec(compile(source, filename, "exec"), namespace)
    fn = namespace["f"]
    fn.source = source
    return fn
