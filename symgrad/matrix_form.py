"""Matrix form: lowering to SymPy matrix expressions and index-free derivatives.

Leaves of rank <= 2 become ``MatrixSymbol``s (a 1-D vector of length n is an
n x 1 column; ``str`` dims become plain Symbols, ``Symbol("N")``), scalars become
plain Symbols (Note [Plain leaves] in :mod:`symgrad.lower_sympy`).  ``matmul`` maps to ``MatMul``, 2-D ``permute`` to ``.T``, ``+ -`` to
``MatAdd``, elementwise ``*`` to a Hadamard product (or scalar * matrix),
``**`` by a number to ``HadamardPower``, sums to products with ``OneMatrix``
vectors, and elementwise functions to ``ElementwiseApplyFunction``.

Note [Matrix reverse mode]
    ``diff_matrix`` is a structural reverse mode over these expressions: the chain
    rule through matmul (``G*B.T``, ``A.T*G``), transpose, sums and broadcasting
    is written here; every *scalar* derivative (of exp, softplus, x**2, x*y, ...)
    comes from ``sympy.diff`` of the op's scalar form in ``SCALAR_FORMS``,
    re-read elementwise in matrix language (``_elementwise_expr``).
"""
from __future__ import annotations

import numpy as np
import sympy
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.diagonal import DiagMatrix, DiagonalOf
from sympy.matrices.expressions.matexpr import MatrixElement
from sympy import (HadamardPower, HadamardProduct, ImmutableMatrix,
                   Lambda, MatMul, MatrixExpr, MatrixSymbol, OneMatrix)

from numeric.ops import Op
from symgrad.budget import tidy
from symgrad.lower_sympy import (SCALAR_FORMS, LoweringError, exact, flat_steps, graph_order,
                                 is_variable)
from symgrad.naming import known_name, leaf_name
from numeric.node import IDENTITY, as_node

__all__ = ["to_matrix", "diff_matrix"]

_BINARY_EW = (Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.POW)
_LINEAR_OK = {Op.MATMUL, Op.PERMUTE, Op.SUM, Op.MEAN}


class Ones(OneMatrix):
    """The all-ones matrix, printed ``ones(n, m)`` by ``str`` (SymPy prints a bare ``1``)."""

    def _sympystr(self, printer):
        return f"ones({printer._print(self.rows)}, {printer._print(self.cols)})"

    def _eval_transpose(self):
        return Ones(self.cols, self.rows)

    def _latex(self, printer):
        return rf"\mathbf{{1}}_{{{printer._print(self.rows)} \times {printer._print(self.cols)}}}"


#: elementwise functions printed by name; the scalar forms SymPy's diff produces
_U = sympy.Dummy("u", real=True)
_NAMED = {
    1 / (1 + sympy.exp(-_U)): "sigmoid",
    sympy.exp(_U) / (sympy.exp(_U) + 1): "sigmoid",
    sympy.log(1 + sympy.exp(_U)): "softplus",
}


class Elementwise(ElementwiseApplyFunction):
    """``f`` applied to each entry of a matrix, printed ``f(M)`` when ``f`` has a name.

    ``sigmoid(X*w)`` means the sigmoid of every entry of ``X*w`` (a named scalar
    form, or a single SymPy function such as ``exp``); other functions print as
    SymPy does, ``Lambda(_u, ...).(M)``.  The function stays a ``Lambda``, so
    ``.as_explicit()`` gives ordinary exp/log formulas.
    """

    def _name(self):
        lam = self.function
        if not isinstance(lam, Lambda) or len(lam.variables) != 1:
            return None
        body = lam.expr.xreplace({lam.variables[0]: _U})
        name = _NAMED.get(body)
        if name is None and isinstance(body, sympy.Function) and body.args == (_U,):
            name = type(body).__name__
        return name

    def _sympystr(self, printer):
        name = self._name()
        if name is None:
            return printer._print_ElementwiseApplyFunction(self)
        return f"{name}({printer._print(self.expr)})"

    def _latex(self, printer):
        name = self._name()
        if name is None:
            return printer._print_ElementwiseApplyFunction(self)
        op = f"\\{name}" if name in ("exp", "log", "sin", "cos", "tan", "tanh") \
            else f"\\operatorname{{{name}}}"
        return f"{op}\\left({printer._print(self.expr)}\\right)"

    def doit(self, **hints):
        """SymPy's ``doit`` without fusing ``f(g(M))`` into one Lambda while dims are symbolic.

        SymPy merges nested elementwise functions on every ``doit`` (which every matrix
        ``*`` calls), substituting into a growing Lambda each time: cubic in the depth
        of a chain (a 60-deep ``sin`` chain took 9 s).  Kept nested, ``sin(sin(X))``
        stays readable and each ``doit`` is one walk; explicit matrices still apply
        the function entrywise.
        """
        expr = self.expr.doit(**hints) if hints.get("deep", True) else self.expr
        if isinstance(expr, sympy.MatrixBase):
            return expr.applyfunc(self.function)
        if expr is self.expr:
            return self
        return type(self)(self.function, expr)


# ---------------------------------------------------------------- linear-algebra classes
#
# Note [Matrix-form classes]
#     Results use SymPy's own classes where they exist (Trace, Determinant, Inverse,
#     Identity, DiagMatrix, DiagonalOf, KroneckerProduct, HadamardProduct).  The few
#     new ones below are ``MatrixExpr`` (or scalar ``Expr``) subclasses with an
#     ``_entry`` (or ``doit``), so ``.subs({N: 3}).doit()`` / ``.as_explicit()`` give
#     explicit matrices at concrete dims, and ``str``/``latex`` read as in the Matrix
#     Cookbook: ``softmax(z)``, ``[X > 0]``, ``vec(X)``, ``norm2(x)``.

def _concrete(*shapes) -> bool:
    return all(sympy.sympify(n).is_Integer for s in shapes for n in s)


class Softmax(MatrixExpr):
    """``softmax`` of each column (``axis=0``) or each row (``axis=1``) of a matrix.

    A vector ``z`` (an ``n x 1`` column) prints ``softmax(z)``; rows print
    ``softmax(X, axis=1)``.

    >>> import sympy
    >>> z = sympy.MatrixSymbol("z", 2, 1)
    >>> Softmax(z, 0).as_explicit()[0, 0]
    exp(z[0, 0])/(exp(z[0, 0]) + exp(z[1, 0]))
    """

    def __new__(cls, M, axis=0):
        return MatrixExpr.__new__(cls, M, sympy.Integer(axis))

    @property
    def shape(self):
        return self.args[0].shape

    @property
    def axis(self) -> int:
        return int(self.args[1])

    def _entry(self, i, j, **kwargs):
        M = self.args[0]
        n, m = M.shape
        if self.axis == 0:
            total = sympy.Add(*[sympy.exp(M[k, j]) for k in range(int(n))])
        else:
            total = sympy.Add(*[sympy.exp(M[i, k]) for k in range(int(m))])
        return sympy.exp(M[i, j]) / total

    def doit(self, **hints):
        M = self.args[0].doit(**hints) if hints.get("deep", True) else self.args[0]
        out = Softmax(M, self.axis)
        return out.as_explicit() if isinstance(M, sympy.MatrixBase) else out

    def _sympystr(self, printer):
        extra = "" if self.axis == 0 else ", axis=1"
        return f"softmax({printer._print(self.args[0])}{extra})"

    def _latex(self, printer):
        extra = "" if self.axis == 0 else r"_{\mathrm{rows}}"
        return rf"\operatorname{{softmax}}{extra}\left({printer._print(self.args[0])}\right)"


_STEPS = {  # the 0/1 step functions of an indicator, on the difference A - B
    ">": sympy.Piecewise((1, _U > 0), (0, True)),
    ">=": sympy.Piecewise((1, _U >= 0), (0, True)),
    "!=": sympy.Piecewise((1, sympy.Ne(_U, 0)), (0, True)),
}


class Indicator(Elementwise):
    """The 0/1 matrix ``[A > B]`` (``strict``), ``[A >= B]``, or ``[A != 0]``, entry by entry.

    ``A`` or ``B`` may be a scalar (compared with every entry of the other).
    ``maximum(A, B) = A∘[A > B] + B∘[B >= A]``, ``relu(X) = X∘[X > 0]``,
    ``where(m, A, B) = [m != 0]∘A + [m == 0]∘B``.  It is the step function applied
    to each entry of ``A - B`` (an :class:`Elementwise`, so SymPy's rules and
    ``.as_explicit()`` read it), printed as the comparison.

    >>> import sympy
    >>> x = sympy.MatrixSymbol("x", 2, 1)
    >>> Indicator(x, 0), Indicator(x, 0).as_explicit()[1, 0]
    ([x > 0], Piecewise((1, x[1, 0] > 0), (0, True)))
    """

    def __new__(cls, A, B=None, strict=True):
        if isinstance(A, Lambda):   # SymPy rebuilding from args: (function, expr)
            return super().__new__(cls, A, B)
        rel = strict if isinstance(strict, str) else ">" if strict else ">="
        A, B = sympy.sympify(A), sympy.sympify(B if B is not None else 0)
        shape = A.shape if _is_mat(A) else B.shape
        diff = _add([A, -B] if B != 0 else [A], shape)
        return super().__new__(cls, Lambda(_U, _STEPS[rel]), diff)

    def _rel(self) -> str:
        lam = self.function
        body = lam.expr.xreplace({lam.variables[0]: _U})
        return next(r for r, step in _STEPS.items() if step == body)

    def _sides(self, printer):
        """(left, right) of the comparison: the positive and negated negative terms."""
        e = self.expr
        terms = e.args if isinstance(e, sympy.MatAdd) else (e,)
        pos, neg = [], []
        for t in terms:
            c, _ = _coef_factors(t)
            (neg if c.could_extract_minus_sign() else pos).append(t)
        if not neg or not pos:
            return printer._print(e), "0"

        def side(ts):
            ts = [c if fs and isinstance(fs[0], OneMatrix) and len(fs) == 1 else t
                  for t in ts for c, fs in [_coef_factors(t)]]
            return printer._print(sympy.Add(*ts) if all(not _is_mat(t) for t in ts)
                                  else sympy.MatAdd(*ts) if len(ts) > 1 else ts[0])

        return side(pos), side([-t for t in neg])

    def _sympystr(self, printer):
        left, right = self._sides(printer)
        return f"[{left} {self._rel()} {right}]"

    def _latex(self, printer):
        left, right = self._sides(printer)
        rel = {">": ">", ">=": r"\geq", "!=": r"\neq"}[self._rel()]
        return rf"\mathbb{{1}}\left[{left} {rel} {right}\right]"


class Vec(MatrixExpr):
    """``vec(M)``: the columns of ``M`` stacked into one column (the Matrix Cookbook's vec).

    NumPy's row-major ``X.reshape(-1)`` is ``vec(X.T)``; ``X.T.reshape(-1)`` is ``vec(X)``.

    >>> import sympy
    >>> X = sympy.MatrixSymbol("X", 2, 2)
    >>> list(Vec(X).as_explicit())
    [X[0, 0], X[1, 0], X[0, 1], X[1, 1]]
    """

    @property
    def shape(self):
        n, m = self.args[0].shape
        return (n * m, sympy.S.One)

    def _entry(self, i, j, **kwargs):
        n = self.args[0].shape[0]
        return self.args[0][i % n, i // n]

    def doit(self, **hints):
        M = self.args[0].doit(**hints) if hints.get("deep", True) else self.args[0]
        return _vec(M).as_explicit() if isinstance(M, sympy.MatrixBase) else _vec(M)

    def _sympystr(self, printer):
        return f"vec({printer._print(self.args[0])})"

    def _latex(self, printer):
        return rf"\operatorname{{vec}}\left({printer._print(self.args[0])}\right)"


class Unvec(MatrixExpr):
    """The ``rows x cols`` matrix whose columns, stacked, are the vector ``v`` (vec's inverse).

    >>> import sympy
    >>> v = sympy.MatrixSymbol("v", 4, 1)
    >>> Unvec(v, 2, 2).as_explicit()[0, 1]
    v[2, 0]
    """

    def __new__(cls, v, rows, cols):
        return MatrixExpr.__new__(cls, v, sympy.sympify(rows), sympy.sympify(cols))

    @property
    def shape(self):
        return tuple(self.args[1:])

    def _entry(self, i, j, **kwargs):
        return self.args[0][j * self.args[1] + i, 0]

    def doit(self, **hints):
        v = self.args[0].doit(**hints) if hints.get("deep", True) else self.args[0]
        out = _unvec(v, *self.args[1:])
        return out.as_explicit() if isinstance(v, sympy.MatrixBase) else out

    def _sympystr(self, printer):
        v, r, c = (printer._print(a) for a in self.args)
        return f"unvec({v}, {r}, {c})"

    def _latex(self, printer):
        v, r, c = (printer._print(a) for a in self.args)
        return rf"\operatorname{{vec}}^{{-1}}_{{{r} \times {c}}}\left({v}\right)"


def _vec(M):
    if isinstance(M, Unvec):
        return M.args[0]
    if M.shape[1] == 1:
        return M
    return Vec(M)


def _unvec(v, rows, cols):
    if isinstance(v, Vec) and tuple(v.args[0].shape) == (rows, cols):
        return v.args[0]
    if cols == 1 and v.shape[0] == rows:
        return v
    return Unvec(v, rows, cols)


class Norm(sympy.Expr):
    """The vector ``p``-norm of all entries of a matrix (``p`` = 1 or 2; 2 is Frobenius).

    >>> import sympy
    >>> x = sympy.MatrixSymbol("x", 2, 1)
    >>> Norm(x, 2), Norm(x, 2).subs(x, sympy.ImmutableMatrix([3, 4])).doit()
    (norm2(x), 5)
    """

    is_commutative = True
    is_real = True

    def __new__(cls, M, p=2):
        return sympy.Expr.__new__(cls, M, sympy.Integer(p))

    @property
    def p(self) -> int:
        return int(self.args[1])

    def doit(self, **hints):
        M = self.args[0].doit(**hints) if hints.get("deep", True) else self.args[0]
        if not _concrete(M.shape) or not (isinstance(M, sympy.MatrixBase)
                                          or _concrete(*[a.shape for a in
                                                         M.atoms(MatrixExpr)])):
            return Norm(M, self.p)
        entries = list(M.as_explicit())
        if self.p == 1:
            return sympy.Add(*[sympy.Abs(e) for e in entries])
        return sympy.sqrt(sympy.Add(*[e ** 2 for e in entries]))

    def _eval_subs(self, old, new):
        if self == old:
            return new
        return None

    def _sympystr(self, printer):
        return f"norm{self.p}({printer._print(self.args[0])})"

    def _latex(self, printer, exp=None):
        M = self.args[0]
        sub = "F" if self.p == 2 and M.shape[1] != 1 and M.shape[0] != 1 else self.p
        out = rf"\left\|{printer._print(M)}\right\|_{{{sub}}}"
        return out if exp is None else rf"{out}^{{{exp}}}"


def _dim(d):
    if isinstance(d, str):  # "N*d": a product of dims (reshape's flattened size)
        return sympy.Mul(*[sympy.Integer(p) if p.strip().isdigit() else sympy.Symbol(p.strip())
                           for p in d.split("*")])
    return sympy.Integer(d)


def _mshape(shape) -> tuple:
    """numpy shape -> matrix shape (rows, cols); () for scalars."""
    shape = tuple(shape)
    if len(shape) == 0:
        return ()
    if len(shape) == 1:
        return (_dim(shape[0]), sympy.Integer(1))
    if len(shape) == 2:
        return (_dim(shape[0]), _dim(shape[1]))
    raise LoweringError(f"matrix form handles rank <= 2, got shape {shape}; "
                        "use form='elementwise' with concrete shapes")


def _is_mat(e) -> bool:
    return isinstance(e, MatrixExpr) or getattr(e, "is_Matrix", False)


def _leaf(node, wrt):
    shape = _mshape(node.shape)
    if node.literal == IDENTITY:
        return sympy.Identity(shape[0])
    if node.literal is not None:
        value = exact(node.literal)
        return value if not shape else value * Ones(*shape)
    if is_variable(node, wrt):
        if not shape:
            return sympy.Symbol(leaf_name(node))
        return MatrixSymbol(leaf_name(node), *shape)
    v = np.asarray(node.data)
    if v.ndim == 0:
        return exact(v.item())
    if v.ndim == 2 and v.shape[0] == v.shape[1] and np.array_equal(v, np.eye(v.shape[0])):
        return sympy.Identity(v.shape[0])
    rows = v.reshape(v.shape[0], -1) if v.ndim == 2 else v.reshape(-1, 1)
    return ImmutableMatrix([[exact(x.item()) for x in r] for r in rows])


# ---------------------------------------------------------------- elementwise helpers

def _split(m):
    """(scalar coefficient, matrix) of c*M."""
    if isinstance(m, MatMul):
        scal = [a for a in m.args if not _is_mat(a)]
        mats = [a for a in m.args if _is_mat(a)]
        if len(mats) == 1:
            return sympy.Mul(*scal), mats[0]
    return sympy.S.One, m


def _had(a, b):
    """Elementwise product, with scalars and all-ones matrices folded away."""
    if not _is_mat(a) or not _is_mat(b):
        return a * b
    ca, ma = _split(a)
    cb, mb = _split(b)
    if isinstance(ma, OneMatrix):
        return (ca * cb) * mb
    if isinstance(mb, OneMatrix):
        return (ca * cb) * ma
    return (ca * cb) * HadamardProduct(ma, mb)


def _add(terms, shape):
    """Sum of scalar and matrix terms (scalars broadcast over ``shape``)."""
    scal = sympy.Add(*[t for t in terms if not _is_mat(t)])
    mats = [t for t in terms if _is_mat(t)]
    if not mats:
        return scal
    total = mats[0]
    for t in mats[1:]:
        total = total + t
    return total if scal == 0 else total + scal * Ones(*shape)


def _full(c, shape):
    return c if not shape else c * Ones(*shape)


def _elementwise_expr(expr, env: dict, shape):
    """Read a scalar expression over placeholders elementwise, in matrix language.

    ``env`` maps placeholder -> scalar or matrix expression; ``shape`` is the
    matrix shape of the result (``()`` for scalar).
    """
    scalars = {s: v for s, v in env.items() if not _is_mat(v)}
    if scalars:
        expr = expr.xreplace(scalars)
        env = {s: v for s, v in env.items() if _is_mat(v)}
    if not shape or not any(s in expr.free_symbols for s in env):
        return expr
    if expr in env:
        return env[expr]
    if isinstance(expr, sympy.Add):
        return _add([_elementwise_expr(a, env, shape) for a in expr.args], shape)
    mats = [s for s in expr.free_symbols if s in env]
    if isinstance(expr, sympy.Mul):
        coef = sympy.Mul(*[a for a in expr.args if not (a.free_symbols & set(env))])
        dep = [a for a in expr.args if a.free_symbols & set(env)]
        if len(dep) > 1 and len(mats) == 1:  # one nonlinear function of one matrix
            return coef * _apply(sympy.Mul(*dep), mats[0], env[mats[0]])
        out = coef
        for a in dep:
            out = _had(out, _elementwise_expr(a, env, shape))
        return out
    if isinstance(expr, sympy.Pow) and expr.exp.is_number:
        base = _elementwise_expr(expr.base, env, shape)
        return HadamardPower(base, expr.exp) if _is_mat(base) else base ** expr.exp
    if len(mats) == 1:
        return _apply(expr, mats[0], env[mats[0]])
    raise LoweringError(f"cannot write {expr} in matrix form; use form='elementwise'")


def _apply(expr, var, matrix):
    """``expr`` (a function of the scalar ``var``) applied to each entry of ``matrix``."""
    u = sympy.Dummy("u", real=True)
    return Elementwise(Lambda(u, expr.xreplace({var: u})), matrix)


def _sum_all(g):
    if not _is_mat(g):
        return g
    r, c = g.shape
    return Ones(1, r) * g * Ones(c, 1)


class Entry(MatrixElement):
    """The only entry of a 1x1 matrix expression (a sum, ``v.T*v``), as a scalar.

    Unlike SymPy's ``MatrixElement``, ``doit()`` keeps it whole while dims are
    symbolic instead of writing an index ``Sum`` (``MatrixExpr.__mul__`` calls
    ``doit``), so formulas stay index-free.  A sum of all entries (``ones(1, N)*X*w``)
    prints ``sum(X*w)``; other entries print ``(w.T*w)[0, 0]``.  Once the dims are
    numbers (``.subs({N: 3, d: 2}).doit()``) it becomes the explicit entry.

    >>> import symgrad as sg
    >>> X, w = sg.symbol("X", shape=("N", "d")), sg.symbol("w", shape=("d",))
    >>> sg.to_sympy(sg.exp((X @ w).sum()), form="matrix")
    exp(sum(X*w))
    """

    def doit(self, **hints):
        parent = self.parent.doit(**hints) if hints.get("deep", True) else self.parent
        if isinstance(parent, sympy.MatrixBase):
            return parent[0, 0]
        if all(n.is_Integer for m in parent.atoms(MatrixSymbol, OneMatrix) for n in m.shape):
            return parent.as_explicit()[0, 0]
        return Entry(parent, 0, 0)

    def summed(self):
        """``M`` when this entry is the sum of all entries of ``M`` (``ones*M*ones``), else None."""
        p = self.parent
        if not isinstance(p, MatMul):
            return None
        args = [a for a in p.args if _is_mat(a)]
        if len(args) < 2 or any(not _is_mat(a) for a in p.args):
            return None
        if isinstance(args[0], OneMatrix) and args[0].shape[0] == 1:
            args = args[1:]
        else:
            return None
        if len(args) > 1 and isinstance(args[-1], OneMatrix) and args[-1].shape[1] == 1:
            args = args[:-1]
        elif args[-1].shape[1] != 1:
            return None
        return args[0] if len(args) == 1 else MatMul(*args)

    def _sympystr(self, printer):
        inner = self.summed()
        if inner is None:
            return printer._print_MatrixElement(self)
        return f"sum({printer._print(inner)})"

    def _latex(self, printer):
        inner = self.summed()
        if inner is None:
            return printer._print_MatrixElement(self)
        return f"\\operatorname{{sum}}\\left({printer._print(inner)}\\right)"


def _scalar(e):
    """A 1x1 matrix expression as a scalar (its only entry, kept index-free)."""
    if not _is_mat(e):
        return e
    if isinstance(e, MatrixExpr):
        c, mats = _coef_factors(e)
        return c * Entry(MatMul(*mats), 0, 0) if c != 1 else Entry(e, 0, 0)
    return e[0, 0]


def _unbroadcast(g, shape):
    if not shape and _is_mat(g):
        return _scalar(_sum_all(g)) if tuple(g.shape) != (1, 1) else _scalar(g)
    if shape and not _is_mat(g):
        return g * Ones(*shape)
    return g


# ---------------------------------------------------------------- broadcasting
#
# Note [Matrix broadcasting]
#     A 1-D vector is an ``n x 1`` column, but NumPy broadcasts it along the *last*
#     axis, as a row: in a 2-D result ``v`` reads ``v.T``.  ``_view`` gives each input of
#     an elementwise op its matrix at the result's shape (a row, a column or a 1x1
#     spread with ``ones``); ``_unview`` is its adjoint (sums over the spread axes).
#     A column times a row is the outer product ``u*v.T``, not a Hadamard product.

def _view_kind(in_np, out_np) -> tuple:
    """(transpose?, spread) for one input of an elementwise op; spread in
    ``same``, ``rows`` (1 x m -> n x m), ``cols`` (n x 1 -> n x m), ``all``."""
    in_np, out_np = tuple(in_np), tuple(out_np)
    if not in_np or not out_np:
        return False, "same"
    flip = len(in_np) == 1 and len(out_np) == 2
    (r, c), (R, C) = _mshape(in_np), _mshape(out_np)
    if flip:
        r, c = c, r
    if (r, c) == (R, C):
        return flip, "same"
    if r == 1 and c == 1:
        return flip, "all"
    return flip, ("rows" if r == 1 else "cols")


def _view(v, in_np, out_np):
    flip, spread = _view_kind(in_np, out_np)
    if not _is_mat(v):
        return v
    v = v.T if flip else v
    R, C = _mshape(out_np)
    if spread == "rows":
        return Ones(R, 1) * v
    if spread == "cols":
        return v * Ones(1, C)
    if spread == "all":
        return _scalar(v)
    return v


def _unview(g, in_np, out_np):
    flip, spread = _view_kind(in_np, out_np)
    if not in_np or not _is_mat(g):
        return g
    R, C = g.shape
    if spread == "rows":
        g = Ones(1, R) * g
    elif spread == "cols":
        g = g * Ones(C, 1)
    elif spread == "all":
        g = _sum_all(g)
    return g.T if flip else g


def _outer_factors(node, vals, ins_np):
    """(column, row) matrices of an outer-product ``MUL``."""
    raw = [v.T if _view_kind(s, node.shape)[0] else v for v, s in zip(vals, ins_np)]
    return raw if _view_kind(ins_np[0], node.shape)[1] == "cols" else raw[::-1]


def _outer_pair(node, shapes_np):
    """True when ``node`` multiplies a column by a row (an outer product)."""
    if node.op is not Op.MUL or len(node.shape) != 2:
        return False
    kinds = [_view_kind(s, node.shape)[1] for s in shapes_np]
    return sorted(kinds) == ["cols", "rows"]


# ---------------------------------------------------------------- linear algebra

_LINALG = {Op.DET, Op.LOGABSDET, Op.INV, Op.SOLVE, Op.TRACE, Op.VECTOR_NORM, Op.NORM,
           Op.SOFTMAX, Op.LOG_SOFTMAX, Op.LOGSUMEXP, Op.MAXIMUM, Op.MINIMUM, Op.RELU,
           Op.WHERE, Op.RESHAPE}


def _norm_p(node) -> int:
    attrs = node.attrs or {}
    p = attrs.get("ord", attrs.get("p", 2.0))
    if p not in (1.0, 2.0):
        raise LoweringError(f"norm of order {p} is not supported in matrix form (orders 1 and "
                            "2, and Frobenius, are); use form='elementwise' with concrete "
                            "shapes")
    axis = attrs.get("axis")
    if axis is not None and len(axis) != len(node.inputs[0].shape):
        raise LoweringError(f"norm over axis {axis} of a shape-{tuple(node.inputs[0].shape)} "
                            "tensor is not supported in matrix form (norms over all entries "
                            "are); use form='elementwise' with concrete shapes")
    return int(p)


def _axis(node) -> int:
    """The matrix axis of a softmax / logsumexp (0: down each column)."""
    axis = (node.attrs or {}).get("axis")
    axis = axis[0] if isinstance(axis, tuple) and len(axis) == 1 else axis
    return 0 if len(node.inputs[0].shape) <= 1 else axis


def _lse_all(x):
    return sympy.log(_scalar(_sum_all(_apply(sympy.exp(_U), _U, x))))


def _reshape(v, in_np, out_np):
    """Row-major reshape (NumPy's) in matrix language: transposes, ``vec`` and ``unvec``."""
    (r, c), (R, C) = _mshape(in_np), _mshape(out_np)
    if (r, c) == (R, C):
        return v
    if (r, c) == (C, R) and 1 in (r, c):
        return v.T
    if C == 1 and sympy.expand(r * c - R) == 0:
        return _vec(v.T)          # row-major flatten: the rows of v, one after another
    if c == 1 and sympy.expand(r - R * C) == 0:
        return _unvec(v, C, R).T
    raise LoweringError(f"reshape {tuple(in_np)} -> {tuple(out_np)} is not supported in matrix "
                        "form (vectors, transposed vectors, flattening and its inverse are); "
                        "use form='elementwise' with concrete shapes")


def _forward_linalg(node, vals, shapes):
    op = node.op
    ins_np = [tuple(i.shape) for i in node.inputs]
    out_np = tuple(node.shape)
    if op is Op.DET:
        return sympy.Determinant(vals[0])
    if op is Op.LOGABSDET:
        return sympy.log(sympy.Abs(sympy.Determinant(vals[0])))
    if op is Op.INV:
        return sympy.Inverse(vals[0])
    if op is Op.SOLVE:
        return sympy.Inverse(vals[0]) * vals[1]
    if op is Op.TRACE:
        return sympy.Trace(vals[0])
    if op in (Op.VECTOR_NORM, Op.NORM):
        return Norm(vals[0], _norm_p(node)) if _is_mat(vals[0]) else sympy.Abs(vals[0])
    if op is Op.SOFTMAX:
        return Softmax(vals[0], _axis(node))
    if op is Op.LOG_SOFTMAX:
        return _apply(sympy.log(_U), _U, Softmax(vals[0], _axis(node)))
    if op is Op.LOGSUMEXP:
        x = vals[0]
        if not out_np or all(n == 1 for n in out_np):
            s = _lse_all(x)
            return s if not out_np else s * Ones(*_mshape(out_np))
        e = _apply(sympy.exp(_U), _U, x)
        n, m = x.shape
        sums = e.T * Ones(n, 1) if _axis(node) == 0 else e * Ones(m, 1)
        out = _apply(sympy.log(_U), _U, sums)
        return out.T if _mshape(out_np) != out.shape else out
    if op is Op.RESHAPE:
        return _reshape(vals[0], ins_np[0], out_np)
    views = [_view(v, s, out_np) for v, s in zip(vals, ins_np)]
    if op is Op.RELU:
        return _had(views[0], Indicator(views[0], 0))
    if op in (Op.MAXIMUM, Op.MINIMUM):
        return _add([_had(views[k], _pick(op, views, k)) for k in range(2)], _mshape(out_np))
    if op is Op.WHERE:
        c, a, b = views
        c = _truth(c)
        return _add([_had(c, a), _had(_not(c, out_np), b)], _mshape(out_np))
    raise AssertionError(op)


def _truth(c):
    """A condition as 0/1 entries: data masks are already; a symbol ``m`` is ``[m != 0]``."""
    if isinstance(c, sympy.MatrixBase) or not _is_mat(c):
        return c
    return Indicator(c, 0, "!=")


def _not(c, out_np):
    """``1 - c`` of a 0/1 condition (explicit when the condition is data)."""
    if isinstance(c, sympy.MatrixBase):
        return c.applyfunc(lambda v: 1 - v)
    return _add([1, -c], _mshape(out_np))


def _pick(op, views, k):
    """Indicator of the entries where input ``k`` of maximum / minimum is chosen (ties go
    to the second input; PyTorch splits them, random points never tie)."""
    v0, v1 = views
    if op is Op.MAXIMUM:
        return Indicator(v0, v1, True) if k == 0 else Indicator(v1, v0, False)
    return Indicator(v1, v0, True) if k == 0 else Indicator(v0, v1, False)


def _backward_linalg(node, g, vals, shapes):
    op = node.op
    ins_np = [tuple(i.shape) for i in node.inputs]
    out_np = tuple(node.shape)
    if op in (Op.DET, Op.LOGABSDET):
        inv_t = sympy.Inverse(vals[0]).T
        return [(0, (g * sympy.Determinant(vals[0]) if op is Op.DET else g) * inv_t)]
    if op is Op.INV:
        inv_t = sympy.Inverse(vals[0]).T
        return [(0, -inv_t * g * inv_t)]
    if op is Op.SOLVE:
        inv_t = sympy.Inverse(vals[0]).T
        gb = inv_t * g
        return [(0, -gb * (sympy.Inverse(vals[0]) * vals[1]).T), (1, gb)]
    if op is Op.TRACE:
        return [(0, _scalar(g) * sympy.Identity(vals[0].shape[0]))]
    if op in (Op.VECTOR_NORM, Op.NORM):
        x = vals[0]
        if not _is_mat(x):
            return [(0, g * sympy.sign(x))]
        if _norm_p(node) == 1:
            return [(0, _scalar(g) * _apply(sympy.sign(_U), _U, x))]
        return [(0, _scalar(g) / Norm(x, 2) * x)]
    if op in (Op.SOFTMAX, Op.LOG_SOFTMAX, Op.LOGSUMEXP):
        return [(0, _softmax_adjoint(node, g, vals[0]))]
    if op is Op.RESHAPE:
        return [(0, _reshape(g, out_np, ins_np[0]))]
    views = [_view(v, s, out_np) for v, s in zip(vals, ins_np)]
    if op is Op.RELU:
        return [(0, _had(g, Indicator(views[0], 0)))]
    if op in (Op.MAXIMUM, Op.MINIMUM):
        return [(k, _unview(_had(g, _pick(op, views, k)), ins_np[k], out_np))
                for k in range(2)]
    if op is Op.WHERE:
        c = _truth(views[0])
        return [(1, _unview(_had(g, c), ins_np[1], out_np)),
                (2, _unview(_had(g, _not(c, out_np)), ins_np[2], out_np))]
    raise AssertionError(op)


def _softmax_adjoint(node, g, x):
    """Adjoint of softmax / log_softmax / logsumexp along the matrix axis of ``node``."""
    op, out_np = node.op, tuple(node.shape)
    n, m = x.shape
    if op is Op.LOGSUMEXP and (not out_np or all(k == 1 for k in out_np)):
        if m == 1:
            return _scalar(_sum_all(g)) * Softmax(x, 0)
        return _scalar(_sum_all(g)) * sympy.exp(-_lse_all(x)) * _apply(sympy.exp(_U), _U, x)
    axis = _axis(node)
    if op is Op.LOGSUMEXP:  # one lse per column (axis 0) or row (axis 1)
        if axis == 0:
            row = g if g.shape[0] == 1 else g.T
            return _had(Softmax(x, 0), Ones(n, 1) * row)
        col = g if g.shape[1] == 1 else g.T
        return _had(Softmax(x, 1), col * Ones(1, m))
    s = Softmax(x, axis)
    inner = _had(g, s) if op is Op.SOFTMAX else g

    def spread(v):  # each column's (row's) sum, repeated down the column (along the row)
        if axis == 0:
            return _scalar(Ones(1, n) * v) * Ones(n, 1) if m == 1 else Ones(n, 1) * (Ones(1, n) * v)
        return _scalar(v * Ones(m, 1)) * Ones(1, m) if n == 1 else (v * Ones(m, 1)) * Ones(1, m)

    if op is Op.SOFTMAX:
        return _had(s, _add([g, -spread(inner)], (n, m)))
    return _add([g, -_had(s, spread(inner))], (n, m))


# ---------------------------------------------------------------- diag and kron
#
# Note [Recognised patterns]
#     ``sg.diag`` and ``sg.kron`` are composed of index and reshape ops (verify/opdb.py
#     ``COMPOSED``).  The matrix form reads the patterns back: a ``GETITEM`` of the main
#     diagonal is ``DiagonalOf(X)``, the ``SCATTER_ADD`` that builds a diagonal matrix is
#     ``DiagMatrix(x)``, and kron's reshape-multiply-reshape (through rank-4
#     intermediates, which the matrix form otherwise refuses) is ``KroneckerProduct``.

class Diagonal(DiagonalOf):
    """SymPy's ``DiagonalOf`` (the diagonal of a square matrix, as a column) whose
    ``doit()`` also works on explicit matrices (SymPy's fails on an ``ImmutableMatrix``).

    >>> import sympy
    >>> Diagonal(sympy.ImmutableMatrix([[1, 2], [3, 4]])).doit()
    Matrix([
    [1],
    [4]])
    """

    def doit(self, **hints):
        M = self.arg.doit(**hints) if hints.get("deep", True) else self.arg
        if isinstance(M, sympy.MatrixBase):
            return sympy.ImmutableMatrix([[M[i, i]] for i in range(min(M.shape))])
        return Diagonal(M)

    def _sympystr(self, printer):
        return f"DiagonalOf({printer._print(self.arg)})"


def _is_main_diagonal(index, n) -> bool:
    if not (isinstance(index, tuple) and len(index) == 3 and index[0] is Ellipsis):
        return False
    rows, cols = (np.asarray(i) for i in index[1:])
    return (rows.ndim == 1 and isinstance(n, int) and rows.shape == (n,)
            and np.array_equal(rows, np.arange(n)) and np.array_equal(cols, np.arange(n)))


def _diag_kind(node):
    """'diagonal' (matrix -> its diagonal), 'diagmatrix' (vector -> matrix) or None."""
    attrs = node.attrs or {}
    if node.op is Op.GETITEM and len(node.inputs[0].shape) == 2:
        n, m = node.inputs[0].shape
        if n == m and _is_main_diagonal(attrs.get("index"), n):
            return "diagonal"
    if node.op is Op.SCATTER_ADD and len(node.inputs[0].shape) == 1:
        n = node.inputs[0].shape[0]
        if tuple(attrs.get("shape", ())) == (n, n) and _is_main_diagonal(attrs.get("index"), n):
            return "diagmatrix"
    return None


def _diag_matrix(v):
    c, m = _split(v)
    return c * sympy.Identity(m.shape[0]) if isinstance(m, OneMatrix) else DiagMatrix(v)


def _kron_parts(node):
    """(a node, b node) when ``node`` is ``sg.kron(a, b)`` of rank <= 2 operands, else None."""
    if node.op is not Op.RESHAPE or len(node.shape) > 2:
        return None
    prod = node.inputs[0]
    if prod.op is not Op.MUL or len(prod.shape) != 4:
        return None
    ra, rb = prod.inputs
    if ra.op is not Op.RESHAPE or rb.op is not Op.RESHAPE:
        return None
    sa, sb = tuple(ra.shape), tuple(rb.shape)
    if sa[1] != 1 or sa[3] != 1 or sb[0] != 1 or sb[2] != 1:
        return None
    a, b = ra.inputs[0], rb.inputs[0]
    if len(a.shape) > 2 or len(b.shape) > 2:
        return None
    return a, b


def _kron_operand(v, node):
    """A kron operand as the matrix kron pads it to: a 1-D one next to a 2-D one is a row."""
    return v.T if len(node.shape) == 1 and _is_mat(v) else v


class KronGrad(MatrixExpr):
    """Adjoint of a Kronecker product ``A ⊗ B`` for one factor, given the other.

    ``KronGrad(G, B, 0)`` is the gradient for ``A`` of ``<G, A ⊗ B>``: its ``(i, j)``
    entry is ``<G_ij, B>``, ``G_ij`` the ``(i, j)`` block of ``G`` (printed
    ``<G, _ ⊗ B>``); ``KronGrad(G, A, 1)`` is ``sum_ij A_ij G_ij`` (``<G, A ⊗ _>``).

    >>> import sympy
    >>> G, B = sympy.MatrixSymbol("G", 2, 2), sympy.MatrixSymbol("B", 1, 2)
    >>> KronGrad(G, B, 0).as_explicit()[1, 0]
    B[0, 0]*G[1, 0] + B[0, 1]*G[1, 1]
    """

    def __new__(cls, G, other, side):
        return MatrixExpr.__new__(cls, G, other, sympy.Integer(side))

    @property
    def shape(self):
        G, other = self.args[:2]
        return (sympy.sympify(G.shape[0]) / other.shape[0], sympy.sympify(G.shape[1]) / other.shape[1])

    def _entry(self, i, j, **kwargs):
        G, other, side = self.args
        p, q = self.shape if int(side) == 1 else other.shape
        if int(side) == 0:
            return sympy.Add(*[G[i * p + k, j * q + m] * other[k, m]
                               for k in range(int(p)) for m in range(int(q))])
        n, m_ = other.shape
        return sympy.Add(*[other[a, b] * G[a * p + i, b * q + j]
                           for a in range(int(n)) for b in range(int(m_))])

    def doit(self, **hints):
        args = [a.doit(**hints) if hasattr(a, "doit") else a for a in self.args]
        out = KronGrad(*args)
        if any(isinstance(a, sympy.MatrixBase) for a in args[:2]) and _concrete(out.shape):
            return out.as_explicit()
        return out

    def _sympystr(self, printer):
        G, other = (printer._print(a) for a in self.args[:2])
        return f"<{G}, _ ⊗ {other}>" if int(self.args[2]) == 0 else f"<{G}, {other} ⊗ _>"

    def _latex(self, printer):
        G, other = (printer._print(a) for a in self.args[:2])
        inner = rf"\cdot \otimes {other}" if int(self.args[2]) == 0 else rf"{other} \otimes \cdot"
        return rf"\left\langle {G}, {inner} \right\rangle"


# ---------------------------------------------------------------- forward

def _reduce_matrix(x, shape, axis, keepdims):
    if not shape:
        return x
    n, m = shape
    if axis is None or len(axis) == 2 or m == 1 and tuple(axis) == (0,):
        return Ones(1, n) * x * Ones(m, 1)
    (a,) = axis
    if a == 0:
        return Ones(1, n) * x if keepdims else x.T * Ones(n, 1)
    return x * Ones(m, 1)


def _count(shape, axis):
    if not shape:
        return sympy.S.One
    n, m = shape
    if axis is None or len(axis) == 2 or m == 1:
        return n * m
    return n if axis[0] == 0 else m


def _forward(node, vals, shapes):
    op, attrs = node.op, node.attrs or {}
    out_shape = _mshape(node.shape)
    if op in _LINALG:
        return _forward_linalg(node, vals, shapes)
    kind = _diag_kind(node)
    if kind is not None:
        return Diagonal(vals[0]) if kind == "diagonal" else _diag_matrix(vals[0])
    if op in SCALAR_FORMS:
        ins_np = [tuple(i.shape) for i in node.inputs]
        if _outer_pair(node, ins_np):
            col, row = _outer_factors(node, vals, ins_np)
            return col * row
        vals = [_view(v, s, node.shape) if sh else _scalar(v)
                for v, s, sh in zip(vals, ins_np, shapes)]
        ps = [sympy.Dummy(real=True) for _ in vals]
        env = dict(zip(ps, vals))
        if op is Op.ADD or op is Op.SUB:
            a = vals[0] if _is_mat(vals[0]) else _full(vals[0], out_shape)
            b = vals[1] if _is_mat(vals[1]) else _full(vals[1], out_shape)
            return a + b if op is Op.ADD else a - b
        return _elementwise_expr(SCALAR_FORMS[op](*ps, **attrs), env, out_shape)
    if op is Op.MATMUL:
        a, b = vals
        ra, rb = len(node.inputs[0].shape), len(node.inputs[1].shape)
        if ra == 1 and rb == 1:
            return _scalar(a.T * b)
        if ra == 1:
            return b.T * a
        return a * b
    if op is Op.PERMUTE:
        return vals[0].T if tuple(attrs["axes"]) == (1, 0) else vals[0]
    if op in (Op.SUM, Op.MEAN):
        axis = attrs.get("axis")
        r = _reduce_matrix(vals[0], shapes[0], axis, attrs.get("keepdims", False))
        if not out_shape:
            r = _scalar(r) if _is_mat(r) and not isinstance(r, MatMul) else r
        return r if op is Op.SUM else r / _count(shapes[0], axis)
    raise LoweringError(f"op {op!r} is not supported in matrix form; use form='elementwise' "
                        "with concrete shapes")


def _walk(f, wrt=None):
    order = graph_order(f, wrt)
    vals: dict[int, object] = {}
    for node in order:
        if node.op is None:
            vals[id(node)] = _leaf(node, wrt)
        elif len(node.shape) > 2:
            vals[id(node)] = None   # only inside a recognised pattern (kron)
        elif (kron := _kron_parts(node)) is not None:
            a, b = (_kron_operand(vals[id(k)], k) for k in kron)
            vals[id(node)] = sympy.KroneckerProduct(a, b)
        else:
            for i in node.inputs:
                if vals[id(i)] is None:
                    _mshape(i.shape)  # raises: rank > 2
            vals[id(node)] = _forward(node, [vals[id(i)] for i in node.inputs],
                                      [_mshape(i.shape) for i in node.inputs])
    return order, vals


def to_matrix(t, wrt=None):
    """Lower a tensor's graph to a SymPy matrix expression (``wrt``: node ids or None).

    >>> import symgrad as sg
    >>> X, w = sg.symbol("X", shape=("N", "d")), sg.symbol("w", shape=("d",))
    >>> sg.to_sympy(X @ w, form="matrix")
    X*w
    """
    t = as_node(t)
    _mshape(t.shape)
    return _walk(t, wrt)[1][id(t)]


# ---------------------------------------------------------------- reverse

def _backward_rule(node, g, vals, shapes):
    """Adjoint contributions [(input position, matrix/scalar adjoint)]."""
    op, attrs = node.op, node.attrs or {}
    out_shape = _mshape(node.shape)
    if op is Op.MATMUL:
        a, b = vals
        ra, rb = len(node.inputs[0].shape), len(node.inputs[1].shape)
        if ra == 1 and rb == 1:
            return [(0, g * b), (1, g * a)]
        if ra == 1:  # b.T * a
            return [(0, b * g), (1, a * g.T)]
        return [(0, g * b.T), (1, a.T * g)]
    if op is Op.PERMUTE:
        return [(0, g.T if tuple(attrs["axes"]) == (1, 0) else g)]
    if op in (Op.SUM, Op.MEAN):
        shape = shapes[0]
        axis = attrs.get("axis")
        if op is Op.MEAN:
            g = g / _count(shape, axis)
        if not shape:
            return [(0, g)]
        n, m = shape
        if axis is None or len(axis) == 2 or m == 1:
            return [(0, _scalar(g) * Ones(n, m))]
        if axis[0] == 0:
            return [(0, Ones(n, 1) * (g if attrs.get("keepdims") else g.T))]
        return [(0, g * Ones(1, m))]
    if op in _LINALG:
        return _backward_linalg(node, g, vals, shapes)
    kind = _diag_kind(node)
    if kind is not None:
        return [(0, _diag_matrix(g) if kind == "diagonal" else Diagonal(g))]
    ins_np = [tuple(i.shape) for i in node.inputs]
    if _outer_pair(node, ins_np):
        col, row = _outer_factors(node, vals, ins_np)
        k_col = 0 if _view_kind(ins_np[0], node.shape)[1] == "cols" else 1
        g_row = col.T * g
        return [(k_col, g * row.T),
                (1 - k_col, g_row.T if _view_kind(ins_np[1 - k_col], node.shape)[0] else g_row)]
    if op is Op.ADD:
        return [(k, _unview(g, ins_np[k], node.shape)) for k in range(2)]
    if op is Op.SUB:
        return [(0, _unview(g, ins_np[0], node.shape)), (1, _unview(-g, ins_np[1], node.shape))]
    # elementwise: every scalar partial from sympy.diff of the op's scalar form
    vals = [_view(v, s, node.shape) if sh else _scalar(v)
            for v, s, sh in zip(vals, ins_np, shapes)]
    ps = [sympy.Dummy(real=True) for _ in vals]
    env = dict(zip(ps, vals))
    form = SCALAR_FORMS[op](*ps, **attrs)
    out = []
    for k, p in enumerate(ps):
        if op is Op.POW and k == 1 and node.inputs[1].role == "constant":
            continue
        d = flat_steps(sympy.diff(form, p))
        if d != 0:
            ga = _had(g, _elementwise_expr(d, env, out_shape))
            out.append((k, _unview(ga, ins_np[k], node.shape) if shapes[k] else ga))
    return out


def _kron_backward(node, g, vals, shapes):
    a, b = (_kron_operand(v, k) for v, k in zip(vals, _kron_parts(node)))
    out = []
    for k, other in enumerate((b, a)):
        c, G = _split(g)
        if isinstance(G, sympy.Identity) and other.shape[0] == other.shape[1]:
            ga = c * sympy.Trace(other) * sympy.Identity(G.shape[0] / other.shape[0])
        else:
            ga = KronGrad(g, other, k)
        out.append((k, ga.T if ga.shape != vals[k].shape else ga))
    return out


def _coef_factors(term) -> tuple:
    """(scalar coefficient, [matrix factors]) of a product term."""
    if isinstance(term, MatMul):
        return (sympy.Mul(*[a for a in term.args if not _is_mat(a)]),
                [a for a in term.args if _is_mat(a)])
    return sympy.S.One, [term]


def _matmul(args):
    """A flat ``MatMul`` of scalars and matrices, unevaluated so factored forms survive."""
    coef, mats = sympy.S.One, []
    for a in args:
        if isinstance(a, MatMul):
            c, fs = _coef_factors(a)
            coef, mats = coef * c, mats + fs
        elif _is_mat(a):
            mats.append(a)
        else:
            coef = coef * a
    if coef == 0:
        return sympy.ZeroMatrix(*_product_shape(mats))
    if len(mats) == 1 and coef == 1:
        return mats[0]
    return MatMul(*([coef] if coef != 1 else []), *mats)


def _product_shape(mats):
    return (mats[0].shape[0], mats[-1].shape[1])


def _common_scalar(coefs):
    """The common factor of scalar coefficients: numeric gcd times shared symbols."""
    nums, rests = zip(*[c.as_coeff_Mul() for c in coefs])
    g = nums[0]
    for n in nums[1:]:
        g = sympy.gcd(g, n)
    if all(n < 0 for n in nums):
        g = -g
    shared = set(sympy.Mul.make_args(rests[0]))
    for r in rests[1:]:
        shared &= set(sympy.Mul.make_args(r))
    return g * sympy.Mul(*shared)


def _factor_add(terms):
    """Pull common scalars and outer matrix factors out of a sum:
    ``X.T*(2*X*w) - X.T*(2*y)`` -> ``2*X.T*(X*w - y)``."""
    parts = [_coef_factors(t) for t in terms]
    left, right = [], []
    while all(len(f) >= 2 and f[0] == parts[0][1][0] for _, f in parts):
        left.append(parts[0][1][0])
        parts = [(c, f[1:]) for c, f in parts]
    while all(len(f) >= 2 and f[-1] == parts[0][1][-1] for _, f in parts):
        right.insert(0, parts[0][1][-1])
        parts = [(c, f[:-1]) for c, f in parts]
    common = _common_scalar([c for c, _ in parts])
    if not left and not right and common == 1:
        return sympy.MatAdd(*terms)
    inner = [_matmul([c / common] + f) for c, f in parts]
    # (I + A) + (I + A.T) -> 2*I + A + A.T: sums left inside by the factoring are merged
    inner = sympy.MatAdd(*[t for e in inner for t in (e.args if isinstance(e, sympy.MatAdd)
                                                      else (e,))]).doit(deep=False)
    return _matmul([common] + left + [inner] + right)


def factor_matrix(e):
    """Read-like-a-person form of a matrix expression: common factors pulled out of sums.

    Walks the expression bottom-up with an explicit stack (no recursion).

    >>> import sympy
    >>> X, w, y = (sympy.MatrixSymbol(n, *s) for n, s in (("X", (3, 2)), ("w", (2, 1)),
    ...                                                   ("y", (3, 1))))
    >>> factor_matrix((X.T * (2 * X * w - 2 * y)).doit())
    2*X.T*(X*w - y)
    """
    kinds = (sympy.MatAdd, MatMul)
    done: dict = {}
    stack = [(e, False)]
    while stack:
        node, ready = stack.pop()
        if node in done:
            continue
        if not isinstance(node, kinds):
            done[node] = node
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in done)
            continue
        args = [done[a] for a in node.args]
        if isinstance(node, MatMul):
            done[node] = _matmul(args)
        else:
            flat = [t for a in args for t in (a.args if isinstance(a, sympy.MatAdd) else (a,))]
            done[node] = _factor_add(flat)
    return done[e]


def _ones(e):
    """SymPy's products of ones (``OneMatrix``, printed ``1``) as :class:`Ones`."""
    if not isinstance(e, sympy.Basic) or not e.has(OneMatrix):
        return e
    return e.replace(lambda a: type(a) is OneMatrix, lambda a: Ones(*a.shape))


def _tidy(e, simplify, dims=()):
    e = _ones(e.doit() if hasattr(e, "doit") else e)
    if simplify:
        if _is_mat(e):
            e = factor_matrix(e)
        else:  # Note [Plain leaves]: over real leaves and positive integer dims, in budget
            e = tidy(e, simplify, None, dims=dims)
    return e


def diff_matrix(f, x, *, simplify: bool = True):
    """Index-free derivative of a scalar ``f`` with respect to the leaf ``x``.

    >>> import symgrad as sg
    >>> X, w = sg.symbol("X", shape=("N", "d")), sg.symbol("w", shape=("d",))
    >>> sg.diff((X @ w).sum(), w)
    X.T*ones(N, 1)
    """
    f, x = as_node(f), as_node(x)
    if tuple(f.shape) != ():
        raise ValueError(f"matrix-form diff needs a scalar f, got shape {tuple(f.shape)}; "
                         "call .sum() or .mean() first")
    order, vals = _walk(f, {id(x)})
    if not any(n is x for n in order):
        raise ValueError(f"{known_name(x) or x!r} is not an input of this expression")
    needs = {id(x)}
    for node in order:
        if node.op is not None and any(id(i) in needs for i in node.inputs):
            needs.add(id(node))
    adj: dict[int, list] = {id(f): [sympy.S.One]}
    for node in reversed(order):
        terms = adj.pop(id(node), None)
        if terms is None or node.op is None:
            if node is x:
                adj[id(node)] = terms or []
            continue
        g = _add(terms, _mshape(node.shape))
        kron = _kron_parts(node)
        ins = kron if kron is not None else node.inputs
        shapes = [_mshape(i.shape) for i in ins]
        rule = _kron_backward if kron is not None else _backward_rule
        for k, ga in rule(node, g, [vals[id(i)] for i in ins], shapes):
            if id(ins[k]) in needs:
                adj.setdefault(id(ins[k]), []).append(_unbroadcast(ga, shapes[k]))
    terms = adj.get(id(x), [])
    shape = _mshape(x.shape)
    if not terms:
        return sympy.ZeroMatrix(*shape) if shape else sympy.S.Zero
    dims = {d for n in order if n.op is None for d in n.shape if isinstance(d, str)}
    return _tidy(_add(terms, shape), simplify, dims)
