"""Code out: ``sg.codegen`` writes a closed form as a numpy, JAX, PyTorch or C function.

(The module is ``code_out``, not ``codegen``: importing a submodule named like the
function would replace ``sg.codegen`` with the module.)

The formula is printed by SymPy's code printers (``SciPyPrinter``, ``JaxPrinter``,
``TorchPrinter``, ``C99CodePrinter``), extended here for matrix expressions (``@``,
``.T``, ``linalg.inv``, named elementwise functions such as ``sigmoid``) and for
symgrad's own matrix classes (``Ones``, ``Elementwise``, ``Entry``).  Shared
subexpressions come from ``sympy.cse`` and are written as local variables.

Note [Vectors in generated code]
    Matrix form writes a 1-D vector of length n as an n x 1 column.  Generated
    functions take such an argument as a 1-D array (an (n, 1) array works too),
    reshape it to a column inside, and return any result whose matrix shape is
    (r, 1) as a 1-D array of length r, so ``grad(X, w, y)`` has ``w``'s shape.
    The exception: when the arguments with r rows and one column are all 2-D
    ``(r, 1)`` leaf tensors, the result keeps that 2-D shape (a gradient for a
    column ``c`` of shape ``(N, 1)`` is ``(N, 1)``).
    A scalar result (``Entry``, a trace, a determinant) is a 0-d value.  Symbolic
    dims (``N``, ``d``) are read from the arguments' shapes at call time.

Note [Elementwise functions in generated code]
    An ``ElementwiseApplyFunction`` ``Lambda(u, body)`` applied to ``M`` prints as
    ``body`` with ``u`` replaced by ``M``'s code: numpy, JAX and PyTorch functions act
    entrywise, so ``exp(u)/(exp(u) + 1)`` over ``M`` is the entrywise sigmoid.  The
    named forms use the libraries' stable kernels (``scipy.special.expit``,
    ``numpy.logaddexp``), and a body that is a polynomial in ``sigmoid(u)`` (the
    sigmoid's derivatives, ``exp(u)/(exp(u) + 1)**2 = s*(1 - s)``) is written through
    it (``_via_sigmoid``), so large entries do not overflow to ``inf/inf``.  A 0/1 step
    (symgrad's indicator ``[A > B]``) is ``where(A - B > 0, 1.0, 0.0)``.  During CSE the
    function is hidden behind a stand-in (``_Applied``) so ``sympy.cse`` cannot pull
    the bound variable out of the body.

The other classes of symgrad's matrix form (``Softmax``, ``Vec``, ``Unvec``, ``Norm``,
``KronGrad`` in :mod:`symgrad.matrix_form`; ``Diag``/``Diagonal`` through SymPy's
``DiagMatrix``/``DiagonalOf``) are printed by class name.
"""
from __future__ import annotations

import functools
import keyword
import re
from typing import Any, Sequence

import numpy as np
import sympy
from sympy import MatrixExpr, MatrixSymbol
from sympy.core.basic import Basic
from sympy.core.symbol import Str
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement
from sympy.printing.c import C99CodePrinter
from sympy.printing.codeprinter import PrintMethodNotImplementedError
from sympy.printing.numpy import JaxPrinter, SciPyPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pycode import PythonCodePrinter

from numeric.node import Node, as_node, many
from symgrad.lower_sympy import leaf_array
from symgrad.naming import leaf_name
from symgrad.tensor import Tensor

__all__ = ["codegen", "LANGS"]

#: the languages ``codegen`` writes; "c" only for scalar (elementwise) forms
LANGS = ("numpy", "jax", "torch", "c")


# ---------------------------------------------------------------- the formula, normalised

class _Applied(MatrixExpr):
    """Stand-in for ``f.(M)`` during CSE: ``(key, M)``; the function is kept in a table."""

    @property
    def shape(self):
        return self.args[1].shape


def _is_node(x) -> bool:
    return isinstance(x, (Tensor, Node))


def _is_matrix(e) -> bool:
    return isinstance(e, MatrixExpr)


def _is_array(e) -> bool:
    return isinstance(e, (sympy.NDimArray, sympy.MatrixBase, np.ndarray))


def _as_array(e) -> np.ndarray:
    if isinstance(e, np.ndarray):
        return e
    return np.array(e.tolist(), dtype=object).reshape(tuple(e.shape))


class _Outputs:
    """The formula as one flat list of expressions plus how to rebuild it.

    ``items``: ``("scalar", k)``, ``("matrix", k)`` or ``("array", shape, [k...])`` with
    ``k`` indices into ``exprs``; ``container`` is None (one item), ``list`` or ``tuple``.
    """

    def __init__(self, formula):
        self.reps: list = []
        if many(formula) and len(formula) == 2 and isinstance(formula[0], list) \
                and all(isinstance(r, tuple) and len(r) == 2 for r in formula[0]):
            self.reps = [(s, sympy.sympify(v) if not _is_matrix(v) else v)
                         for s, v in formula[0]]
            formula = formula[1]
        self.exprs: list = []
        self.container = type(formula) if many(formula) else None
        items = list(formula) if self.container else [formula]
        self.items = [self._item(it) for it in items]

    def _add(self, e) -> int:
        self.exprs.append(e)
        return len(self.exprs) - 1

    def _item(self, e):
        if _is_matrix(e):
            return ("matrix", self._add(e))
        if _is_array(e):
            arr = _as_array(e)
            return ("array", arr.shape, [self._add(sympy.sympify(x)) for x in arr.ravel()])
        if many(e):
            raise TypeError("codegen takes one formula, a list/tuple of formulas or a "
                            "(replacements, formulas) pair; got a nested list: pass a "
                            "sympy.Array for arrays of expressions")
        try:
            return ("scalar", self._add(sympy.sympify(e, strict=True)))
        except sympy.SympifyError:
            raise TypeError(f"cannot generate code for {type(e).__name__} {e!r}: pass a SymPy "
                            "expression, Matrix/Array, matrix expression or a tensor") from None

    @property
    def has_matrix(self) -> bool:
        return any(_is_matrix(e) for e in self.exprs) or \
            any(_is_matrix(v) for _, v in self.reps)


# ---------------------------------------------------------------- arguments

class _Arg:
    """One parameter of the generated function.

    ``kind``: "scalar" (``sym``), "array" (``elems``: object array of element symbols,
    unpacked inside) or "matrix" (``sym`` a MatrixSymbol; ``vector`` when its
    columns are 1).
    """

    def __init__(self, kind, sym=None, elems=None, column2d=False):
        self.kind, self.sym, self.elems = kind, sym, elems
        self.column2d = column2d   # a 2-D (n, 1) leaf tensor, not a 1-D vector
        self.name = ""

    @property
    def symbols(self) -> list:
        return list(self.elems.ravel()) if self.kind == "array" else [self.sym]

    @property
    def vector(self) -> bool:
        return self.kind == "matrix" and self.sym.shape[1] == 1

    @property
    def row(self) -> bool:
        return self.kind == "matrix" and self.sym.shape[0] == 1 and self.sym.shape[1] != 1


def _arg(a, matrix: bool) -> _Arg:
    if _is_node(a):
        node = as_node(a)
        shape = tuple(node.shape)
        if matrix:
            from symgrad.matrix_form import _mshape
            ms = _mshape(shape)
            if not ms:
                return _Arg("scalar", sympy.Symbol(leaf_name(node)))
            return _Arg("matrix", MatrixSymbol(leaf_name(node), *ms),
                        column2d=len(shape) == 2 and ms[1] == 1)
        arr = leaf_array(node, {id(node)})
        if arr.size == 1:
            return _Arg("scalar", arr.reshape(()).item())
        return _Arg("array", elems=arr)
    if isinstance(a, MatrixSymbol):
        return _Arg("matrix", a)
    if isinstance(a, sympy.Symbol):
        return _Arg("scalar", a)
    if isinstance(a, (list, np.ndarray, sympy.NDimArray)):
        arr = np.array(a.tolist() if isinstance(a, sympy.NDimArray) else a, dtype=object)
        if arr.size and all(isinstance(s, sympy.Symbol) for s in arr.ravel()):
            return _Arg("array", elems=arr)
    raise TypeError(f"codegen/lambdify args are leaf tensors, SymPy Symbols or MatrixSymbols "
                    f"(or arrays of Symbols); got {type(a).__name__} {a!r}")


_IDENT = re.compile(r"\W")


class _Names:
    """Valid, distinct identifiers for symbols (leaf names can be any text)."""

    def __init__(self, reserved=()):
        self.of: dict = {}
        self.used = set(reserved)

    def add(self, sym, want: str | None = None) -> str:
        if sym in self.of:
            return self.of[sym]
        base = _IDENT.sub("_", want or str(sym.name if hasattr(sym, "name") else sym)) or "_"
        if base[0].isdigit() or keyword.iskeyword(base):
            base = "_" + base
        name, k = base, 1
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        self.of[sym] = name
        return name


# ---------------------------------------------------------------- printers

def _via_sigmoid(body, u):
    """``(polynomial in s, s)`` when ``body`` is one in ``s = sigmoid(u)``, else None.

    ``exp(k*u) = (s/(1 - s))**k``: a sigmoid derivative such as
    ``exp(u)/(exp(u) + 1)**2`` becomes ``s*(1 - s)``, which cannot overflow.
    """
    if not body.has(sympy.exp):
        return None
    s = sympy.Dummy("s")
    try:
        e = body.replace(lambda a: isinstance(a, sympy.exp) and (a.args[0] / u).is_Rational,
                         lambda a: (s / (1 - s)) ** (a.args[0] / u))
        e = sympy.factor(sympy.cancel(e))
    except (TypeError, ValueError, sympy.PolynomialError):
        return None
    if u in e.free_symbols or not e.is_polynomial(s):
        return None
    return e, s


class _MatrixCode:
    """Matrix-expression printing shared by the numpy, JAX and PyTorch printers.

    Subclasses set ``_mod`` (the array module's name as printed) and the spellings
    of the few functions whose names differ between libraries.
    """

    _mod = "numpy"
    _inv = "linalg.inv"
    _det = "linalg.det"
    _matrix_power = "linalg.matrix_power"

    def _setup(self, names: _Names, lambdas: dict, like: str | None):
        self._names, self._lambdas, self._like = names, lambdas, like
        self._inline: dict = {}
        self.implemented: dict = {}   # name -> Python function, for implemented_function
        self._ints: set = set()   # dims read from shapes at call time (Python ints)

    # names -------------------------------------------------------------
    def _print_Symbol(self, e):
        if e in self._inline:
            return self._inline[e]
        if e in self._names.of:
            return self._names.of[e]
        return super()._print_Symbol(e)

    _print_Dummy = _print_Symbol

    def _print_MatrixSymbol(self, e):
        return self._names.of.get(e) or self._names.of.get(sympy.Symbol(e.name)) or e.name

    def _fn(self, name: str) -> str:
        return self._module_format(f"{self._mod}.{name}")

    def _wrap(self, e) -> str:
        """Code of ``e``, parenthesised unless it is a name or a call."""
        s = self._print(e)
        atomic = (sympy.Symbol, MatrixSymbol, sympy.Number, sympy.Function,
                  sympy.Identity, sympy.ZeroMatrix, sympy.OneMatrix, sympy.Inverse,
                  sympy.Determinant, sympy.Trace, sympy.KroneckerProduct, sympy.DiagMatrix,
                  sympy.Transpose, MatrixElement, ElementwiseApplyFunction, _Applied,
                  sympy.ImmutableMatrix)
        calls = {"Softmax", "Vec", "Unvec", "KronGrad", "Norm"}  # part 2's
        if isinstance(e, atomic) and not (isinstance(e, sympy.Number) and e < 0) \
                or type(e).__name__ in calls:
            return s
        return f"({s})"

    def _dims(self, *dims) -> str:
        return ", ".join(self._print(d) for d in dims)

    def _creation(self, fn: str, *dims) -> str:
        return f"{self._fn(fn)}(({self._dims(*dims)}))"

    # matrix algebra ----------------------------------------------------
    def _print_MatMul(self, e):
        coef = sympy.Mul(*[a for a in e.args if not _is_matrix(a)])
        mats = " @ ".join(self._wrap(a) for a in e.args if _is_matrix(a))
        if coef == 1:
            return mats
        if coef == -1:
            return f"-{mats}"
        if coef.is_Number and coef < 0:
            return f"-{self.parenthesize(-coef, PRECEDENCE['Mul'])}*{mats}"
        return f"{self.parenthesize(coef, PRECEDENCE['Mul'])}*{mats}"

    def _print_MatAdd(self, e):
        codes = [self._print(t) for t in e.args]
        codes.sort(key=lambda s: s.startswith("-"))  # stable: X @ w - y, not -y + X @ w
        out = ""
        for k, s in enumerate(codes):
            if k == 0:
                out = s
            elif s.startswith("-"):
                out += f" - {s[1:]}"
            else:
                out += f" + {s}"
        return out

    def _print_HadamardProduct(self, e):
        return "*".join(self._wrap(a) for a in e.args)

    def _print_HadamardPower(self, e):
        return f"{self._wrap(e.base)}**{self.parenthesize(e.exp, PRECEDENCE['Pow'])}"

    def _print_Transpose(self, e):
        return f"{self._wrap(e.arg)}.T"

    def _print_Inverse(self, e):
        return f"{self._fn(self._inv)}({self._print(e.arg)})"

    def _print_MatPow(self, e):
        if e.exp == -1:
            return self._print_Inverse(sympy.Inverse(e.base))
        return f"{self._fn(self._matrix_power)}({self._print(e.base)}, {self._print(e.exp)})"

    def _print_Determinant(self, e):
        return f"{self._fn(self._det)}({self._print(e.arg)})"

    def _print_Trace(self, e):
        return f"{self._fn('trace')}({self._print(e.arg)})"

    def _print_KroneckerProduct(self, e):
        code = self._print(e.args[0])
        for a in e.args[1:]:
            code = f"{self._fn('kron')}({code}, {self._print(a)})"
        return code

    def _print_DiagMatrix(self, e):  # a vector's entries on a diagonal
        return f"{self._fn('diag')}({self._wrap(e.args[0])}.reshape(-1))"

    def _print_DiagonalMatrix(self, e):  # a matrix with its off-diagonal entries zeroed
        return f"{self._wrap(e.args[0])}*{self._eye(*e.shape)}"

    def _print_DiagonalOf(self, e):
        return f"{self._fn('diagonal')}({self._print(e.args[0])}).reshape(-1, 1)"

    def _eye(self, rows, cols=None):
        cols = rows if cols is None else cols
        return f"{self._fn('eye')}({self._dims(rows, cols)})"

    def _print_Identity(self, e):
        return self._eye(e.rows)

    def _print_ZeroMatrix(self, e):
        return self._creation("zeros", *e.shape)

    def _print_OneMatrix(self, e):
        return self._creation("ones", *e.shape)

    _print_Ones = _print_OneMatrix

    def _print_MatrixElement(self, e):
        return f"{self._wrap(e.parent)}[{self._print(e.i)}, {self._print(e.j)}]"

    _print_Entry = _print_MatrixElement

    def _print_ImmutableDenseMatrix(self, e):
        rows = ", ".join("[" + ", ".join(self._print(x) for x in r) + "]" for r in e.tolist())
        return f"{self._fn('array')}([{rows}], dtype=float)"

    _print_ImmutableMatrix = _print_MutableDenseMatrix = _print_ImmutableDenseMatrix

    # elementwise functions (Note [Elementwise functions in generated code]) ----------
    def _print_named(self, name: str, arg: str) -> str | None:
        if name == "sigmoid":
            return f"{self._module_format('scipy.special.expit')}({arg})"
        if name == "softplus":
            return f"{self._fn('logaddexp')}(0, {arg})"
        return None

    def _apply(self, function, matrix) -> str:
        from symgrad.matrix_form import Elementwise
        arg = self._print(matrix)
        name = Elementwise(function, matrix)._name() if isinstance(function, sympy.Lambda) \
            else getattr(function, "__name__", None)
        code = self._print_named(name, arg) if name else None
        if code is not None:
            return code
        u = sympy.Dummy("u")
        body = function(u) if not isinstance(function, sympy.Lambda) \
            else function.expr.xreplace({function.variables[0]: u})
        inline = {u: self._wrap(matrix)}
        sig = _via_sigmoid(body, u)
        if sig is not None:  # exp(u)/(exp(u) + 1)**2 -> s*(1 - s): no overflow
            body, s = sig
            inline = {s: self._print_named("sigmoid", arg)}
        self._inline.update(inline)
        try:
            if isinstance(body, sympy.Piecewise) and len(body.args) == 2 \
                    and body.args[1].cond == sympy.true \
                    and all(arm.expr.is_Number for arm in body.args):  # a step: [M > 0]
                return self._step(self._print(body.args[0].cond), *(a.expr for a in body.args))
            return self.parenthesize(body, PRECEDENCE["Atom"])  # a call, or (a + b)
        finally:
            for k in inline:
                del self._inline[k]

    def _print_ElementwiseApplyFunction(self, e):
        return self._apply(e.function, e.expr)

    def _print_Elementwise(self, e):
        return self._apply(e.function, e.expr)

    def _print__Applied(self, e):
        return self._apply(self._lambdas[e.args[0].name], e.args[1])

    def _print_Function(self, e):
        imp = getattr(type(e), "_imp_", None)
        if imp is None:
            return super()._print_Function(e)
        # sympy.implemented_function: called by name; lambdify puts it in the namespace
        name = type(e).__name__
        self.implemented[name] = imp
        return f"{name}({', '.join(self._print(a) for a in e.args)})"

    def _print_erfinv(self, e):
        return f"{self._module_format('scipy.special.erfinv')}({self._print(e.args[0])})"

    def _print_erfcinv(self, e):
        return f"{self._module_format('scipy.special.erfcinv')}({self._print(e.args[0])})"

    def _print_BitAnd(self, e):  # symgrad.lower_sympy.BitAnd: & of integer values
        x, y = (f"{self._fn('asarray')}({self._print(a)}).astype({self._fn('int64')})"
                for a in e.args)
        return f"{self._fn('bitwise_and')}({x}, {y})"

    # part 2's classes (symgrad.matrix_form), by name: Softmax, Vec, Unvec, Norm,
    # KronGrad (Diagonal is a DiagonalOf; Indicator an Elementwise step) ----------------
    def _print_Softmax(self, e):
        return self._softmax(self._print(e.args[0]), int(e.args[1]))

    def _softmax(self, code: str, axis: int) -> str:
        return f"{self._module_format('scipy.special.softmax')}({code}, axis={axis})"

    def _step(self, cond: str, a, b) -> str:
        """Entrywise ``a if cond else b`` for numbers a, b (an indicator matrix)."""
        return f"{self._fn('where')}({cond}, {float(a)!r}, {float(b)!r})"

    def _print_Vec(self, e):  # columns stacked: column-major, so transpose first
        return f"{self._wrap(e.args[0])}.T.reshape(-1, 1)"

    def _print_Unvec(self, e):
        v, rows, cols = e.args
        return f"{self._wrap(v)}.reshape({self._print(cols)}, {self._print(rows)}).T"

    def _print_Norm(self, e):
        M = self._print(e.args[0])
        if int(e.args[1]) == 1:
            return f"{self._fn('sum')}({self._fn('abs')}({M}))"
        return f"{self._fn('sqrt')}({self._fn('sum')}({self._wrap(e.args[0])}**2))"

    def _print_KronGrad(self, e):
        # <G, _ (x) B>: entry (i, j) is <block (i, j) of G, B>; <G, A (x) _>: sum_ab A_ab G_ab
        G, other = (self._print(a) for a in e.args[:2])
        if int(e.args[2]) == 0:
            spec, blocks = "ikjm,km->ij", ("G.shape[0] // B.shape[0], B.shape[0], "
                                           "G.shape[1] // B.shape[1], B.shape[1]")
        else:
            spec, blocks = "aibj,ab->ij", ("B.shape[0], G.shape[0] // B.shape[0], "
                                           "B.shape[1], G.shape[1] // B.shape[1]")
        return (f"(lambda G, B: {self._fn('einsum')}('{spec}', G.reshape({blocks}), B))"
                f"({G}, {other})")

    def _print_MatrixExpr(self, e):
        raise ValueError(f"codegen cannot print the matrix expression {type(e).__name__} "
                         f"({e}); write it with SymPy's standard matrix classes")


class _NumPyCode(_MatrixCode, SciPyPrinter):
    """numpy (and scipy.special for what numpy lacks)."""


class _JaxCode(_MatrixCode, JaxPrinter):
    """jax.numpy; jax.nn for the named elementwise functions."""

    _mod = "jax.numpy"

    def _print_named(self, name, arg):
        if name in ("sigmoid", "softplus"):
            return f"{self._module_format('jax.nn.' + name)}({arg})"
        return None

    def _softmax(self, code, axis):
        return f"{self._module_format('jax.nn.softmax')}({code}, axis={axis})"

    def _print_ImmutableDenseMatrix(self, e):
        rows = ", ".join("[" + ", ".join(self._print(x) for x in r) + "]" for r in e.tolist())
        return f"{self._fn('array')}([{rows}])"

    _print_ImmutableMatrix = _print_MutableDenseMatrix = _print_ImmutableDenseMatrix


@functools.lru_cache(maxsize=None)
def _torch_code() -> type:
    """The PyTorch printer: ``sympy.printing.pytorch`` imports torch, so it loads on first
    use (``import symgrad`` and the first ``sg.diff`` stay fast with torch installed)."""
    from sympy.printing.pytorch import TorchPrinter

    class _TorchCode(_MatrixCode, TorchPrinter):
        """PyTorch; created arrays take the dtype of the first array argument."""

        _mod = "torch"

        def _dtype(self) -> str:
            return f"{self._like}.dtype" if self._like else \
                f"{self._module_format('torch.get_default_dtype')}()"

        def _creation(self, fn, *dims):
            return f"{self._fn(fn)}(({self._dims(*dims)}), dtype={self._dtype()})"

        def _eye(self, rows, cols=None):
            cols = rows if cols is None else cols
            return f"{self._fn('eye')}({self._dims(rows, cols)}, dtype={self._dtype()})"

        def _print_Pow(self, e, **settings):
            if e.free_symbols <= self._ints:  # dims are Python ints; torch.pow wants a tensor
                return PythonCodePrinter._print_Pow(self, e)
            return super()._print_Pow(e)

        def _print_named(self, name, arg):
            if name == "sigmoid":
                return f"{self._fn('sigmoid')}({arg})"
            if name == "softplus":  # torch's softplus switches to x above 20: use the exact form
                return f"{self._fn('logaddexp')}({self._fn('zeros_like')}({arg}), {arg})"
            return None

        def _softmax(self, code, axis):
            return f"{self._fn('softmax')}({code}, dim={axis})"

        def _step(self, cond, a, b):
            return f"{self._fn('where')}({cond}, {float(a)!r}, {float(b)!r}).to({self._dtype()})"

        def _print_ImmutableDenseMatrix(self, e):
            rows = ", ".join("[" + ", ".join(self._print(x) for x in r) + "]" for r in e.tolist())
            return f"{self._fn('tensor')}([{rows}], dtype={self._dtype()})"

        _print_ImmutableMatrix = _print_MutableDenseMatrix = _print_ImmutableDenseMatrix
    return _TorchCode


_PRINTERS = {"numpy": lambda: _NumPyCode, "jax": lambda: _JaxCode, "torch": _torch_code}
_INDENT = "    "


# ---------------------------------------------------------------- CSE

def _hide_functions(exprs, lambdas: dict) -> list:
    """Each ``f.(M)`` as an ``_Applied`` stand-in (Note [Elementwise functions ...])."""
    keys: dict = {}

    def stand_in(a):
        key = keys.get(a.function)
        if key is None:
            key = keys[a.function] = f"_f{len(lambdas)}"
            lambdas[key] = a.function
        return _Applied(Str(key), a.expr)

    def is_apply(a):
        return isinstance(a, ElementwiseApplyFunction)
    return [e.replace(is_apply, stand_in) if isinstance(e, Basic) else e for e in exprs]


def matrix_cse(exprs: list) -> tuple[list, list]:
    """``(replacements, results)`` of matrix-form formulas, like ``sympy.cse``.

    Shared matrix subexpressions become intermediates ``v0, v1, ...``; the functions
    applied entrywise stay whole (their bodies are not split), so every replacement
    and result is again a readable matrix formula (``sg.gradient(..., cse=True)``).

    >>> import symgrad as sg
    >>> X, w = sg.symbol("X", shape=("N", "d")), sg.symbol("w", shape=("d",))
    >>> sg.gradient((sg.exp(X @ w) + sg.sin(X @ w)).sum(), [w], cse=True)
    ([(v0, X*w)], [X.T*(cos(v0) + exp(v0))])
    """
    from symgrad.matrix_form import Elementwise

    lambdas: dict = {}
    hidden = _hide_functions(exprs, lambdas)
    taken = {getattr(s, "name", None) for e in exprs if isinstance(e, Basic)
             for s in e.free_symbols}

    def fresh():   # v0, v1, ... skipping the formulas' own names (a leaf called v0)
        k = 0
        while True:
            if f"v{k}" not in taken:
                yield sympy.Symbol(f"v{k}")
            k += 1

    reps, out = sympy.cse(hidden, symbols=fresh(), order="none")
    # a transposed leaf is not worth a name: put X.T back where it was used
    trivial = {s: e for s, e in reps if isinstance(e, sympy.Transpose) and e.arg.is_symbol}
    if trivial:
        reps = [(s, e.xreplace(trivial)) for s, e in reps if s not in trivial]
        out = [e.xreplace(trivial) for e in out]
        names = fresh()   # renumbered without gaps
        final = {}
        for old, _ in reps:
            name = next(names).name
            final[old] = MatrixSymbol(name, *old.shape) if isinstance(old, MatrixSymbol) \
                else sympy.Symbol(name)
        reps = [(final[s], e.xreplace(final)) for s, e in reps]
        out = [e.xreplace(final) for e in out]

    def back(e):
        return e.replace(lambda a: isinstance(a, _Applied),
                         lambda a: Elementwise(lambdas[a.args[0].name], a.args[1]))
    return [(s, back(e)) for s, e in reps], [back(e) for e in out]


def _cse(reps, exprs):
    """``sympy.cse`` over all outputs at once; temporaries named ``_t0, _t1, ...``."""
    new_reps, new = sympy.cse(list(exprs), symbols=sympy.numbered_symbols("_t"), order="none")
    return list(reps) + list(new_reps), list(new)


# ---------------------------------------------------------------- the Python function

def _python(outs: _Outputs, args: list[_Arg], lang: str, name: str, cse: bool) -> str:
    names = _Names(reserved={name, "numpy", "scipy", "jax", "torch", "math", "builtins",
                             "_e", *(f"_o{k}" for k in range(len(outs.items)))})
    for a in args:
        a.name = names.add(a.sym, a.sym.name) if a.kind != "array" \
            else names.add(sympy.Dummy(), _array_name(a))
        if a.kind == "array":
            for s in a.elems.ravel():
                names.add(s)
    lambdas: dict = {}
    exprs, reps = outs.exprs, outs.reps
    if outs.has_matrix:
        exprs = _hide_functions(exprs, lambdas)
        reps = [(s, v) for s, v in zip([s for s, _ in reps],
                                       _hide_functions([v for _, v in reps], lambdas))]
    if cse:
        reps, exprs = _cse(reps, exprs)
    for s, _ in reps:
        names.add(s)
    like = next((a.name for a in args if a.kind != "scalar"), None)  # torch: its dtype
    printer = _PRINTERS[lang]()({"fully_qualified_modules": True, "inline": True,
                               "allow_unknown_functions": False})
    printer._setup(names, lambdas, like)
    everything = list(exprs) + [v for _, v in reps]
    used = set().union(*(e.free_symbols for e in everything))
    # DiagonalMatrix prints an eye of its shape, which its args do not name
    used |= {d for e in everything for a in sympy.preorder_traversal(e)
             if isinstance(a, sympy.DiagonalMatrix) for d in a.shape}
    body = _prologue(args, names, lang, printer, used)
    _check_free(outs, reps, exprs, args, names)
    for s, v in reps:
        body.append(f"{names.of[s]} = {printer.doprint(v)}")
    results = []
    for k, item in enumerate(outs.items):
        if item[0] == "scalar":
            results.append(printer.doprint(exprs[item[1]]))
        elif item[0] == "matrix":
            e = outs.exprs[item[1]]
            code = printer.doprint(exprs[item[1]])
            results.append(f"({code}).reshape(-1)" if _as_1d(e, args) else code)
        else:
            body.extend(_array_lines(f"_o{k}", item[1], [printer.doprint(exprs[i])
                                                          for i in item[2]], lang, printer))
            results.append(f"_o{k}")
    if outs.container is None:
        body.append(f"return {results[0]}")
    elif outs.container is tuple:
        body.append(f"return ({', '.join(results)}{',' if len(results) == 1 else ''})")
    else:
        body.append(f"return [{', '.join(results)}]")
    imports = {m for m in printer.module_imports} | _base_imports(lang)
    if any("builtins." in line for line in body):  # SymPy prints index sums builtins.sum
        imports.add("builtins")
    imports = sorted(imports)
    params = ", ".join(a.name for a in args)
    lines = [f"import {m}" for m in imports] + ["", "", f"def {name}({params}):"]
    lines += [_INDENT + line for line in body]
    return "\n".join(lines) + "\n", printer.implemented


def _as_1d(e, args) -> bool:
    """Note [Vectors in generated code]: an (r, 1) result is 1-D unless the only
    arguments with r rows and one column are 2-D (r, 1) tensors."""
    if e.shape[1] != 1:
        return False
    columns = [a for a in args if a.kind == "matrix" and a.vector and a.sym.shape[0] == e.shape[0]]
    return not columns or not all(a.column2d for a in columns)


def _array_name(a: _Arg) -> str:
    first = str(a.elems.ravel()[0])
    return re.sub(r"(_\d+)+$", "", first) or "a"


def _base_imports(lang: str) -> set:
    return {"numpy": {"numpy"}, "jax": {"jax.numpy"}, "torch": {"torch"}}[lang]


def _convert(lang: str) -> str:
    return {"numpy": "numpy.asarray", "jax": "jax.numpy.asarray",
            "torch": "torch.as_tensor"}[lang]


def _prologue(args, names: _Names, lang: str, printer, used: set) -> list[str]:
    """Argument conversion, vector reshapes, dims from shapes, array unpacking."""
    conv = _convert(lang)
    lines = []
    # arrays first: in torch, scalars then take the first array's dtype (float64 stays)
    for a in sorted(args, key=lambda a: a.kind == "scalar"):
        n = a.name
        if a.kind == "scalar":
            if lang == "torch":
                like = f", dtype={printer._like}.dtype" if printer._like else ""
                lines.append(f"{n} = {conv}({n}{like})")
        elif a.kind == "matrix":  # Note [Vectors in generated code]
            shape = "(-1, 1)" if a.vector else "(1, -1)" if a.row else None
            lines.append(f"{n} = {conv}({n})" + (f".reshape{shape}" if shape else ""))
        else:
            if lang == "torch":
                lines.append(f"{n} = {conv}({n})")
            lines.append(f"{_unpack(a.elems, names)} = {n}")
    for a in args:
        if a.kind != "matrix":
            continue
        for k, d in enumerate(a.sym.shape):
            if isinstance(d, sympy.Symbol) and d in used and d not in names.of:
                lines.append(f"{names.add(d)} = {a.name}.shape[{k}]")
                printer._ints.add(d)
    return lines


def _unpack(elems: np.ndarray, names: _Names) -> str:
    if not isinstance(elems, np.ndarray):
        return names.of[elems]
    return "[" + ", ".join(_unpack(e, names) for e in elems) + "]"


def _array_lines(var: str, shape, codes: list[str], lang: str, printer) -> list[str]:
    """An array output: entries broadcast together (scalar args may be arrays), stacked."""
    mod = {"numpy": "numpy", "jax": "jax.numpy", "torch": "torch"}[lang]
    if not codes:
        return [f"{var} = {mod}.zeros({tuple(shape)})"]
    if lang == "numpy":
        cast = "numpy.asarray(_e, dtype=float)"
        bcast = "numpy.broadcast_arrays"
    elif lang == "jax":
        cast, bcast = "jax.numpy.asarray(_e)", "jax.numpy.broadcast_arrays"
    else:
        cast = f"torch.as_tensor(_e, dtype={printer._dtype()})"
        bcast = "torch.broadcast_tensors"
    entries = ",\n".join(_INDENT * 2 + c for c in codes)
    return [f"{var} = [\n{entries},\n{_INDENT}]",
            f"{var} = {bcast}(*[{cast} for _e in {var}])",
            f"{var} = {mod}.stack({var}).reshape({tuple(shape)} + tuple({var}[0].shape))"]


def _check_free(outs, reps, exprs, args, names):
    known = {s for a in args for s in a.symbols} | {s for s, _ in reps}
    known |= {d for a in args if a.kind == "matrix" for d in a.sym.shape}
    free = set()
    for e in list(exprs) + [v for _, v in reps]:
        free |= {s for s in e.free_symbols
                 if isinstance(s, (sympy.Symbol, MatrixSymbol))}
    missing = sorted(str(s) for s in free - known if not isinstance(s, sympy.Dummy))
    if missing:
        raise ValueError(f"the formula uses {', '.join(missing)}, which no argument provides; "
                         "add the leaf (or a tensor whose shape has that dim) to args")


# ---------------------------------------------------------------- C

def _c(outs: _Outputs, args: list[_Arg], name: str, cse: bool) -> str:
    if outs.has_matrix:
        raise ValueError("lang='c' writes scalar (elementwise) forms only; this formula is a "
                         "matrix expression: use lang='numpy', 'jax' or 'torch', or lower with "
                         "form='elementwise' at concrete shapes")
    names = _Names(reserved={name, "out"})
    params = []
    for a in args:
        if a.kind == "matrix":
            raise ValueError(f"lang='c' takes scalar and fixed-shape arguments; {a.sym} is a "
                             "MatrixSymbol")
        if a.kind == "scalar":
            a.name = names.add(a.sym)
            params.append(f"double {a.name}")
        else:
            a.name = names.add(sympy.Dummy(), _array_name(a))
            params.append(f"const double *{a.name}")
            for k, s in enumerate(a.elems.ravel()):  # row-major (C order)
                names.of[s] = f"{a.name}[{k}]"
    exprs, reps = outs.exprs, outs.reps
    if cse:
        reps, exprs = _cse(reps, exprs)
    for s, _ in reps:
        names.add(s)
    _check_free(outs, reps, exprs, args, names)
    printer = C99CodePrinter()

    def show(e):
        return printer.doprint(e.xreplace({s: sympy.Symbol(n) for s, n in names.of.items()
                                           if isinstance(s, Basic)}))
    body = [f"const double {names.of[s]} = {show(v)};" for s, v in reps]
    single = len(outs.items) == 1 and outs.items[0][0] == "scalar" and outs.container is None
    if single:
        body.append(f"return {show(exprs[0])};")
        head = f"double {name}({', '.join(params) or 'void'})"
    else:
        body += [f"out[{k}] = {show(e)};" for k, e in enumerate(exprs)]
        params.append("double *out")
        head = f"void {name}({', '.join(params)})"
    layout = "" if single else (
        f"/* out: {len(exprs)} doubles, the outputs flattened in order, row-major */\n")
    return ("#include <math.h>\n\n" + layout + head + " {\n"
            + "".join(_INDENT + line + "\n" for line in body) + "}\n"), {}


# ---------------------------------------------------------------- entry point

def _lower(expr, args):
    """A tensor formula lowered to SymPy (matrix form when a leaf has symbolic dims)."""
    from symgrad.closed_form import to_sympy
    wrt = [a for a in args if _is_node(a)]
    node = as_node(expr)
    symbolic = any(not isinstance(d, (int, np.integer)) for d in node.shape) or any(
        not isinstance(d, (int, np.integer)) for a in wrt for d in as_node(a).shape)
    return to_sympy(expr, form="matrix" if symbolic else "elementwise", wrt=wrt)


def codegen(expr: Any, args: Sequence[Any], *, lang: str = "numpy", name: str = "f",
            cse: bool = True) -> str:
    """Source code of a function ``name(args...)`` evaluating ``expr``.

    ``expr`` is a SymPy expression, a Matrix/Array of expressions, a matrix
    expression (symgrad's matrix form), a list/tuple of those (``sg.gradient``'s
    output), a ``(replacements, results)`` pair from ``cse=True``, or a tensor.
    ``args`` are leaf tensors, SymPy Symbols or MatrixSymbols, in parameter order.
    ``lang`` is "numpy" (default), "jax", "torch" or "c" (scalar forms only);
    ``cse=True`` writes shared subexpressions once, as local variables.
    Vectors are 1-D arrays in and out (Note [Vectors in generated code]).

    >>> import symgrad as sg
    >>> x = sg.symbol("x")
    >>> print(sg.codegen(sg.diff(sg.exp(x) * sg.sin(x), x, simplify=False), [x]), end="")
    import numpy
    <BLANKLINE>
    <BLANKLINE>
    def f(x):
        _t0 = numpy.exp(x)
        return _t0*numpy.sin(x) + _t0*numpy.cos(x)
    """
    return _generate(expr, args, lang, name, cse)[0]


def _generate(expr, args, lang: str, name: str, cse: bool) -> tuple[str, dict]:
    """(source, {name: implementation} of implemented_function calls in it)."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(map(repr, LANGS))}; got {lang!r}")
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"name must be a valid identifier, got {name!r}")
    if not many(args):
        args = [args]
    if _is_node(expr):
        expr = _lower(expr, args)
    outs = _Outputs(expr)
    matrix = outs.has_matrix
    fargs = [_arg(a, matrix) for a in args]
    try:
        return _c(outs, fargs, name, cse) if lang == "c" else _python(outs, fargs, lang, name, cse)
    except PrintMethodNotImplementedError as e:
        what = str(e).split(": ", 1)[-1].splitlines()[0]
        raise ValueError(f"lang={lang!r} has no spelling for {what}; evaluate it with "
                         "another lang, or rewrite the formula with functions that have one"
                         ) from None
