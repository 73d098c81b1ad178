"""Matrix-form Jacobians and Hessians: ``2*X.T*X``, ``X.T*diag(...)*X``, ``A + A.T``.

Note [Matrix Jacobians]
    The Jacobian of a vector expression ``e(x)`` (``m x 1``) with respect to a
    column ``x`` (``n x 1``) is the ``m x n`` matrix ``d vec(e) / d x.T``.  It is
    computed bottom-up over the SymPy matrix expression (an explicit stack, no
    recursion) with the structural rules of matrix calculus:

    - ``J(x) = I``, ``J(c) = 0`` for anything free of ``x``, ``J(a + b) = J(a) + J(b)``;
    - ``J(L*v*r) = r*L*J(v)`` for a column factor ``v`` (``r`` the 1 x 1 rest),
      ``J(L*u.T*R) = L*R.T*J(u)`` for a row factor, ``J(s*M) = M*J(s) + s*J(M)``;
    - ``J(a o b) = diag(b)*J(a) + diag(a)*J(b)`` (Hadamard product),
      ``J(a.^p) = diag(p*a.^(p-1))*J(a)``, ``J(f(a)) = diag(f'(a))*J(a)``.

    Every scalar derivative (``f'`` of an elementwise function, the partials of a
    scalar expression of 1 x 1 entries) comes from ``sympy.diff``; numeric's VJPs
    are never read (DESIGN.md, "the one rule").  The Hessian of a scalar ``f`` is
    the Jacobian of its matrix gradient (:func:`symgrad.matrix_form.diff_matrix`).
    A structure the rules do not know (part of a newer op's gradient, say) is handed
    to SymPy's own matrix derivative, ``MatrixExpr.diff``; either way the result is
    checked numerically before it is returned (:mod:`symgrad.matrix_check`).

Note [Higher-order results]
    Matrix form writes objects of order <= 2.  The Hessian with respect to a
    matrix ``X`` (``N x d``) is a 4th-order tensor ``N x d x N x d``; the Jacobian
    of a matrix-valued function, or of a vector function with respect to a matrix,
    is 3rd or 4th order.  These raise a ``ValueError``
    (:class:`HigherOrderError`) that names the tensor and its dims, and points to
    ``form="elementwise"`` with concrete shapes.  The one exception is the
    Jacobian of a *scalar* with respect to a matrix: it is returned as the
    gradient matrix, laid out like ``X`` (what ``sg.diff`` gives).
"""
from __future__ import annotations

import sympy
from sympy import (DiagMatrix, HadamardPower, HadamardProduct, Identity, Lambda, MatAdd,
                   MatMul, MatrixExpr, MatrixSymbol, Transpose, ZeroMatrix)
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement

from numeric.node import as_node, many
from symgrad.lower_sympy import LoweringError, flat_steps
from symgrad.matrix_check import check_matrix
from symgrad.matrix_form import Elementwise, Entry, Ones, diff_matrix, factor_matrix, to_matrix
from symgrad.naming import known_name, leaf_name

__all__ = ["HigherOrderError", "Diag", "Pointwise", "matrix_jacobian", "matrix_hessian",
           "jacobian_wrt", "fuse_pointwise"]


class HigherOrderError(LoweringError):
    """A matrix-form result would be a tensor of order 3 or more (a ``ValueError``).

    >>> issubclass(HigherOrderError, ValueError)
    True
    """


class Diag(DiagMatrix):
    """The diagonal matrix of a vector, printed ``diag(v)`` (SymPy's ``DiagMatrix``).

    Inside ``diag(...)`` a product of vectors is entrywise (a Hadamard product):
    ``diag(a*tanh(B*x))``; LaTeX writes it ``\\circ``.

    >>> import sympy
    >>> Diag(sympy.MatrixSymbol("v", 3, 1))
    diag(v)
    """

    def doit(self, **hints):
        arg = self.args[0]
        if hints.get("deep", True):
            arg = arg.doit(**hints)
        if isinstance(arg, sympy.MatrixBase):
            return DiagMatrix(arg).doit()
        return Diag(arg)

    def _sympystr(self, printer):
        arg = self.args[0]
        if isinstance(arg, HadamardProduct):  # entrywise inside diag(): a*f(M)
            return "diag({})".format("*".join(
                printer.parenthesize(a, sympy.printing.precedence.PRECEDENCE["Mul"])
                for a in arg.args))
        return f"diag({printer._print(arg)})"

    def _latex(self, printer):
        return rf"\operatorname{{diag}}\left({printer._print(self.args[0])}\right)"


# ---------------------------------------------------------------- printing f'(M)

_S = sympy.Dummy("s")


def _readable_body(body, u):
    """(expression over stand-in symbols, {stand-in: function name}) or None.

    ``exp(u)/(exp(u) + 1)``'s derivative reads ``s*(1 - s)`` with ``s = sigmoid(u)``;
    ``1 - tanh(u)**2`` reads as is with ``tanh(u)`` standing for ``tanh(M)``.
    """
    if body.has(sympy.exp):
        ratio = _S / (1 - _S)  # exp(u) = s/(1 - s) for s = sigmoid(u)
        try:
            e = body.replace(lambda a: isinstance(a, sympy.exp) and (a.args[0] / u).is_number,
                             lambda a: ratio ** (a.args[0] / u))
            e = sympy.factor(sympy.cancel(e))
        except (TypeError, ValueError):  # pragma: no cover - defensive
            e = None
        if e is not None and u not in e.free_symbols and e.is_polynomial(_S):
            return _one_minus(e), {_S: "sigmoid"}
    names: dict = {}
    subs: dict = {}
    for a in body.atoms(sympy.Function):
        if a.args == (u,):
            d = sympy.Dummy(type(a).__name__)
            subs[a] = d
            names[d] = type(a).__name__
    e = body.xreplace(subs)
    if u in e.free_symbols:
        return None
    return e, names


def _one_minus(e):
    """``-s*(s - 1)`` -> ``s*(1 - s)``: a negative sign moved into a factor."""
    coeff, factors = e.as_coeff_mul()
    if coeff < 0:
        for k, f in enumerate(factors):
            if isinstance(f, sympy.Add):
                rest = factors[:k] + (-f,) + factors[k + 1:]
                return sympy.Mul(-coeff, *rest)
    return e


_LATEX_NAMES = ("exp", "log", "sin", "cos", "tan", "tanh")


class Pointwise(Elementwise):
    """An elementwise derivative ``f'(M)``, printed with ``f``'s name where it has one.

    The function is still a ``Lambda`` (``.as_explicit()`` works at concrete dims);
    only printing reads it back: ``sigmoid(X*w)*(1 - sigmoid(X*w))``,
    ``1 - tanh(X*w)**2``.
    """

    def _readable(self, printer, template):
        lam = self.function
        if not isinstance(lam, Lambda) or len(lam.variables) != 1:
            return None
        got = _readable_body(lam.expr, lam.variables[0])
        if got is None:
            return None
        e, names = got
        inner = printer._print(self.expr)
        stand = {d: sympy.Symbol(template.format(name=n, arg=inner)
                                 .replace(r"\operatorname{%s}" % n, "\\" + n)
                                 if n in _LATEX_NAMES else template.format(name=n, arg=inner))
                 for d, n in names.items()}
        return printer._print(e.xreplace(stand))

    def _sympystr(self, printer):
        text = self._readable(printer, "{name}({arg})")
        return super()._sympystr(printer) if text is None else text

    def _latex(self, printer):
        text = self._readable(printer, r"\operatorname{{{name}}}\left({arg}\right)")
        return super()._latex(printer) if text is None else text


# ---------------------------------------------------------------- fusing f(M) back

_V = sympy.Dummy("v", real=True)


def _pointwise(e, pw):
    """(M, body over _V) when ``e`` is a function of the entries of one matrix M, else None.

    ``M`` is None for a constant (``c*ones``); ``pw`` holds the arguments' answers.
    """
    if isinstance(e, ElementwiseApplyFunction):
        lam = e.function
        return e.expr, lam.expr.xreplace({lam.variables[0]: _V})
    if isinstance(e, sympy.OneMatrix):
        return None, sympy.S.One
    if isinstance(e, MatMul) and any(not _is_mat(a) and a.free_symbols for a in e.args):
        return None  # a scalar factor that is a symbol (2/N, an entry): left as it is
    parts = [pw.get(a) if _is_mat(a) else (None, a) for a in e.args]
    if any(p is None for p in parts):
        return None
    mats = {m for m, _ in parts if m is not None}
    if len(mats) > 1:
        return None
    m = mats.pop() if mats else None
    bodies = [b for _, b in parts]
    if isinstance(e, MatAdd):
        return m, sympy.Add(*bodies)
    if isinstance(e, (HadamardProduct, MatMul)) and (
            isinstance(e, HadamardProduct) or sum(_is_mat(a) for a in e.args) == 1):
        return m, sympy.Mul(*bodies)
    if isinstance(e, HadamardPower) and e.exp.is_number:
        return m, bodies[0] ** e.exp
    return None


def fuse_pointwise(e):
    """Sub-expressions that are one named function of one matrix, written as that function.

    The lowering writes ``sigmoid(M)`` as ``(ones + exp(-M)).^-1``; read back, it
    is ``sigmoid(M)`` again (an :class:`~symgrad.matrix_form.Elementwise`), and its
    derivative reads ``sigmoid(M)*(1 - sigmoid(M))``.  Only fusions whose result
    prints by name are made.  Iterative (explicit stacks).

    >>> import sympy
    >>> from symgrad.matrix_form import Ones
    >>> M = sympy.MatrixSymbol("M", 3, 1)
    >>> u = sympy.Dummy("u")
    >>> fuse_pointwise(sympy.HadamardPower(Ones(3, 1) + Elementwise(sympy.Lambda(u, sympy.exp(-u)), M), -1))
    sigmoid(M)
    """
    if not _is_mat(e):
        return e
    pw: dict = {}
    stack = [(e, False)]
    while stack:  # bottom-up: which nodes are pointwise in one matrix
        node, ready = stack.pop()
        if node in pw:
            continue
        kids = [a for a in node.args if _is_mat(a) and a not in pw] \
            if not isinstance(node, (ElementwiseApplyFunction, MatrixSymbol)) else []
        if not ready and kids:
            stack.append((node, True))
            stack.extend((k, False) for k in kids)
            continue
        try:
            pw[node] = _pointwise(node, pw) if _is_mat(node) else None
        except (TypeError, AttributeError):
            pw[node] = None
    table: dict = {}
    todo = [e]
    while todo:  # top-down: the largest named fusions
        node = todo.pop()
        got = pw.get(node)
        if got is not None and got[0] is not None and not isinstance(node, ElementwiseApplyFunction):
            fused = Elementwise(Lambda(_V, got[1]), got[0])
            if fused._name() is not None:
                table[node] = fused
                continue
        if not isinstance(node, (ElementwiseApplyFunction, MatrixSymbol)):
            todo.extend(a for a in node.args if _is_mat(a))
    return e.xreplace(table) if table else e


# ---------------------------------------------------------------- the Jacobian engine

class _NoRule(Exception):
    """A sub-expression without a structural rule (handed to SymPy's matrix derivative)."""


def _is_mat(e) -> bool:
    return isinstance(e, MatrixExpr) or getattr(e, "is_Matrix", False)


def _vec_rows(e):
    """Rows of ``d vec(e)/d x.T``: 1 for a scalar, m for an m x 1 or 1 x m expression."""
    if not _is_mat(e):
        return sympy.S.One
    r, c = e.shape
    if c == 1:
        return r
    if r == 1:
        return c
    raise _NoRule(e)


def _col(e):
    """A vector expression as a column (a row vector transposed)."""
    return e.T if _is_mat(e) and e.shape[1] != 1 and e.shape[0] == 1 else e


def _mm(*args):
    """A flat, unevaluated product; identities dropped, 1 x 1 scalars folded in."""
    coef, mats, eye = sympy.S.One, [], None
    stack = list(reversed(args))
    while stack:
        a = stack.pop()
        if a is None:
            return None
        if isinstance(a, MatMul):
            stack.extend(reversed(a.args))
        elif isinstance(a, Identity):
            eye = a
        elif isinstance(a, Diag) and mats and isinstance(mats[-1], Diag):
            mats[-1] = Diag(_hadamard(mats[-1].args[0], a.args[0]))
        elif isinstance(a, Diag) and mats and _is_ones(mats[-1], row=True):
            mats[-1] = _col(a.args[0]).T        # ones(1, n)*diag(v) = v.T
        elif _is_ones(a, row=False) and mats and isinstance(mats[-1], Diag):
            mats[-1] = _col(mats[-1].args[0])   # diag(v)*ones(n, 1) = v
        elif _is_mat(a):
            mats.append(a)
        else:
            coef = coef * a
    if coef == 0:
        return None
    if not mats:
        return coef if eye is None else (eye if coef == 1 else MatMul(coef, eye))
    if coef == 1 and len(mats) == 1:
        return mats[0]
    return MatMul(*([coef] if coef != 1 else []), *mats)


def _is_ones(m, *, row: bool) -> bool:
    return isinstance(m, sympy.OneMatrix) and (m.shape[0] == 1 if row else m.shape[1] == 1)


def _hadamard(a, b):
    """a o b; two functions of the same matrix become one (``tanh(M)*(1 - tanh(M)**2)``)."""
    if (isinstance(a, ElementwiseApplyFunction) and isinstance(b, ElementwiseApplyFunction)
            and a.expr == b.expr):
        fa, fb = a.function, b.function
        body = fa.expr.xreplace({fa.variables[0]: _V}) * fb.expr.xreplace({fb.variables[0]: _V})
        return Pointwise(Lambda(_V, body), a.expr)
    return HadamardProduct(a, b)


def _madd(terms):
    terms = [t for t in terms if t is not None]
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else MatAdd(*terms)


def _entry(m):
    """A 1 x 1 matrix product as a scalar (the matrix form's ``Entry``)."""
    return Entry(m, 0, 0)


def _children(e, x):
    if not e.has(x) or e == x:
        return []
    if isinstance(e, (MatAdd, MatMul, HadamardProduct)):
        return list(e.args)
    if isinstance(e, Transpose):
        return [e.arg]
    if isinstance(e, HadamardPower):
        if e.exp.has(x):
            raise _NoRule(e)
        return [e.base]
    if isinstance(e, ElementwiseApplyFunction):
        lam = e.function
        if not isinstance(lam, Lambda) or len(lam.variables) != 1:
            raise _NoRule(e)  # e.g. a function class of a newer op: SymPy's derivative
        return [e.expr]
    if isinstance(e, MatrixElement):
        if tuple(e.parent.shape) != (1, 1):
            raise _NoRule(e)
        return [e.parent]
    if not _is_mat(e) and isinstance(e, sympy.Expr):
        entries = _dependent_entries(e, x)
        if e.xreplace({a: sympy.Dummy() for a in entries}).has(x):
            raise _NoRule(e)  # x inside something else (a trace, a determinant)
        return [a.parent for a in entries]
    raise _NoRule(e)


def _dependent_entries(s, x):
    return sorted((a for a in s.atoms(MatrixElement) if a.has(x)), key=sympy.default_sort_key)


def _rule(e, x, J):
    """``J(e)`` from its arguments' Jacobians ``J`` (None means zero)."""
    if e == x:
        return Identity(x.shape[0])
    if not e.has(x):
        return None
    if isinstance(e, MatAdd):
        return _madd([J[a] for a in e.args])
    if isinstance(e, Transpose):
        _vec_rows(e)
        return J[e.arg]
    if isinstance(e, MatMul):
        return _matmul_rule(e, J)
    if isinstance(e, HadamardProduct):
        terms = []
        for k, a in enumerate(e.args):
            if J[a] is None:
                continue
            rest = [_col(b) for b in e.args[:k] + e.args[k + 1:]]
            other = rest[0] if len(rest) == 1 else HadamardProduct(*rest)
            terms.append(_mm(Diag(other), J[a]))
        return _madd(terms)
    if isinstance(e, HadamardPower):
        p = e.exp
        inner = _col(e.base) if p == 2 else HadamardPower(_col(e.base), p - 1)
        return _mm(p, Diag(inner), J[e.base])
    if isinstance(e, ElementwiseApplyFunction):
        lam = e.function
        (u,) = lam.variables
        d = flat_steps(sympy.diff(lam.expr, u))
        if J[e.expr] is None or d == 0:
            return None
        if u not in d.free_symbols:
            return _mm(d, J[e.expr])
        return _mm(Diag(Pointwise(Lambda(u, d), _col(e.expr))), J[e.expr])
    if isinstance(e, MatrixElement):
        return J[e.parent]
    # a scalar expression of 1 x 1 entries: its partials from sympy.diff
    terms = []
    for a in _dependent_entries(e, x):
        if J[a.parent] is None:
            continue
        p = sympy.Dummy(real=True)
        partial = sympy.diff(e.xreplace({a: p}), p).xreplace({p: a})
        terms.append(_mm(partial, J[a.parent]))
    return _madd(terms)


def _matmul_rule(e, J):
    if e.shape[1] != 1 and e.shape[0] == 1:  # a row: vec(P) = P.T, factors reversed
        factors = [a.T if _is_mat(a) else a for a in reversed(e.args)]
        jac = {f: J[f.T] if _is_mat(f) else J[f] for f in factors}
    elif e.shape[1] == 1:
        factors, jac = list(e.args), J
    else:
        raise _NoRule(e)
    scalars = [a for a in factors if not _is_mat(a)]
    mats = [a for a in factors if _is_mat(a)]
    coef = sympy.Mul(*scalars)
    terms = []
    for s in scalars:
        if jac[s] is not None:
            others = sympy.Mul(*[t for t in scalars if t is not s])
            terms.append(_mm(others, *mats, jac[s]))
    for i, f in enumerate(mats):
        if jac[f] is None:
            continue
        left, right = mats[:i], mats[i + 1:]
        a, b = f.shape
        if b == 1:     # a column (or 1 x 1) factor: the rest on the right is 1 x 1
            r = _entry(_mm(*right)) if right else sympy.S.One
            terms.append(_mm(coef * r, *left, jac[f]))
        elif a == 1:   # a row u.T: L*(u.T*R) = L*R.T*u
            rt = _mm(*right).T
            terms.append(_mm(coef, *left, rt, jac[f]))
        else:
            raise _NoRule(f)
    return _madd(terms)


def jacobian_wrt(e, x):
    """``d vec(e) / d x.T`` for a column ``MatrixSymbol`` ``x`` (Note [Matrix Jacobians]).

    ``e`` is a vector or scalar matrix expression; the result has ``numel(e)`` rows
    and ``n`` columns.  Structures without a rule go to SymPy's ``e.diff(x)``.

    >>> import sympy
    >>> A, x = sympy.MatrixSymbol("A", 3, 3), sympy.MatrixSymbol("x", 3, 1)
    >>> jacobian_wrt(A * x + A.T * x, x)
    A + A.T
    """
    rows = _vec_rows(e)
    try:
        J: dict = {}
        stack = [(e, False)]
        while stack:
            node, ready = stack.pop()
            if node in J:
                continue
            kids = _children(node, x)
            if not ready and kids:
                stack.append((node, True))
                stack.extend((k, False) for k in kids if k not in J)
                continue
            J[node] = _rule(node, x, J)
        out = J[e]
    except _NoRule:
        out = _sympy_jacobian(e, x)
    if out is None:
        return ZeroMatrix(rows, x.shape[0])
    if not _is_mat(out):  # a scalar times the 1 x 1 identity
        return out * Identity(1) if rows == 1 and x.shape[0] == 1 else out
    return out


def _sympy_jacobian(e, x):
    """SymPy's own matrix derivative, as ``d vec(e) / d x.T`` where it is a matrix."""
    try:
        d = e.diff(x)
    except Exception as err:  # SymPy raises many kinds on expressions it cannot read
        raise LoweringError(f"no matrix-form derivative of {e} with respect to {x}: {err}; "
                            "use form='elementwise' with concrete shapes") from None
    d = d.doit() if hasattr(d, "doit") else d
    if not _is_mat(d):
        raise LoweringError(f"SymPy's matrix derivative of {e} with respect to {x} is not a "
                            f"matrix ({type(d).__name__}); use form='elementwise' with "
                            "concrete shapes")
    # SymPy writes derivatives in denominator layout (d(A*x)/dx = A.T, n x m): transpose
    return d.T if d.shape == (x.shape[0], _vec_rows(e)) else d


# ---------------------------------------------------------------- the public entry points

def _dims_text(shape) -> str:
    return " x ".join(str(d) for d in shape)


def _what(node) -> str:
    shape = tuple(node.shape)
    kind = {0: "scalar", 1: "vector"}.get(len(shape), "matrix")
    name = known_name(node) or leaf_name(node)
    return f"the {_dims_text(shape)} {kind} {name}" if shape else f"the scalar {name}"


def _order_text(k: int) -> str:
    return {3: "3rd", 4: "4th"}.get(k, f"{k}th")


def _symbol_of(x):
    """The SymPy leaf standing for ``x`` in the lowered expressions."""
    shape = tuple(x.shape)
    name = leaf_name(x)
    if not shape:
        return sympy.Symbol(name)
    return MatrixSymbol(name, *[sympy.Symbol(d) if isinstance(d, str) else sympy.Integer(d)
                                for d in (shape if len(shape) == 2 else (shape[0], 1))])


def _tidy(e, simplify):
    if simplify and _is_mat(e):
        # doit() multiplies ones(N, 1)*ones(1, N) into SymPy's OneMatrix, printed "1"
        e = e.doit().replace(lambda a: type(a) is sympy.OneMatrix, lambda a: Ones(*a.shape))
        e = factor_matrix(e)
    return e


def matrix_jacobian(f, x, *, simplify: bool = True, check: bool = True):
    """The Jacobian of ``f`` with respect to the leaf ``x`` in matrix form.

    A vector ``f`` (length m) and a vector ``x`` (length n) give the m x n matrix
    ``d f / d x.T``; a scalar ``f`` gives the 1 x n row (for a vector ``x``) or the
    gradient matrix laid out like ``x`` (for a matrix ``x``).  Other combinations
    are tensors of order 3 or 4 (Note [Higher-order results]).

    >>> import symgrad as sg
    >>> A, x = sg.symbol("A", shape=("m", "n")), sg.symbol("x", shape=("n",))
    >>> matrix_jacobian(A @ x, x)
    A
    >>> matrix_jacobian(x * x, x)
    2*diag(x)
    """
    f, x = as_node(f), as_node(x)
    rf, rx = len(f.shape), len(x.shape)
    if rf == 2 or (rf >= 1 and rx == 2):
        shape = tuple(f.shape) + tuple(x.shape)
        raise HigherOrderError(
            f"the Jacobian of the {_dims_text(f.shape)} {'matrix' if rf == 2 else 'vector'} "
            f"{known_name(f) or 'f'} with respect to {_what(x)} is a "
            f"{_order_text(len(shape))}-order tensor {_dims_text(shape)}; matrix form writes "
            "results of order <= 2: use form='elementwise' with concrete shapes, or reduce f "
            "to a scalar (e.g. a weighted .sum()) and take sg.diff")
    if rf == 0:
        if rx == 2:
            res = diff_matrix(f, x, simplify=simplify)
        else:
            g = diff_matrix(f, x, simplify=simplify)
            res = g.T if _is_mat(g) else g
    else:
        e = fuse_pointwise(to_matrix(f, wrt={id(x)}))
        xs = _symbol_of(x)
        if rx == 0:
            res = _scalar_derivative(e, xs)
        else:
            res = _tidy(jacobian_wrt(e, xs), simplify)
    if check:
        check_matrix(f, x, res, order=1)
    return res


def _scalar_derivative(e, s):
    """d e / d s for a scalar leaf ``s``: SymPy's derivative (checked like every result)."""
    try:
        d = sympy.diff(e, s)
    except Exception as err:
        raise LoweringError(f"no matrix-form derivative of {e} with respect to the scalar {s}: "
                            f"{err}; use form='elementwise' with concrete shapes") from None
    return d.doit() if hasattr(d, "doit") else d


def matrix_hessian(f, xs, *, simplify: bool = True, check: bool = True):
    """The Hessian of a scalar ``f`` in matrix form: the Jacobian of its matrix gradient.

    ``xs`` is a leaf or a list of leaves (vectors or scalars); several leaves give a
    ``BlockMatrix`` of the blocks ``d^2 f / d x_i d x_j.T``.  A matrix leaf's Hessian
    is a 4th-order tensor and raises :class:`HigherOrderError`.

    >>> import symgrad as sg
    >>> X, w = sg.symbol("X", shape=("N", "d")), sg.symbol("w", shape=("d",))
    >>> y = sg.symbol("y", shape=("N",))
    >>> matrix_hessian(((X @ w - y) ** 2).sum(), w)
    2*X.T*X
    """
    f = as_node(f)
    single = not many(xs)
    nodes = [as_node(x) for x in ([xs] if single else xs)]
    if tuple(f.shape) != ():
        raise ValueError(f"hessian() needs a scalar f, got shape {tuple(f.shape)}; "
                         "call .sum() first")
    for x in nodes:
        if len(x.shape) == 2:
            shape = tuple(x.shape) * 2
            raise HigherOrderError(
                f"the Hessian with respect to {_what(x)} is a 4th-order tensor "
                f"{_dims_text(shape)}; matrix form writes results of order <= 2: use "
                "form='elementwise' with concrete shapes, or take the Hessian with respect "
                "to a vector (one column or row of the matrix, as its own symbol)")
    syms = [_symbol_of(x) for x in nodes]
    blocks = []
    for x, xi in zip(nodes, syms):
        g = fuse_pointwise(diff_matrix(f, x, simplify=False))
        row = []
        for xj in syms:
            h = _scalar_derivative(g, xj) if not _is_mat(xj) else jacobian_wrt(g, xj)
            row.append(_tidy(h, simplify))
        blocks.append(row)
    if single:
        res = blocks[0][0]
    else:
        if not all(_is_mat(h) for r in blocks for h in r):
            blocks = [[h if _is_mat(h) else h * Identity(1) for h in r] for r in blocks]
        res = sympy.BlockMatrix(blocks)
    if check:
        check_matrix(f, nodes[0] if single else nodes, res, order=2)
    return res
