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
from sympy.matrices.expressions.matexpr import MatrixElement
from sympy import (HadamardPower, HadamardProduct, ImmutableMatrix,
                   Lambda, MatMul, MatrixExpr, MatrixSymbol, OneMatrix)

from numeric.ops import Op
from symgrad.budget import tidy
from symgrad.lower_sympy import (SCALAR_FORMS, LoweringError, exact, flat_steps, graph_order,
                                 is_variable)
from symgrad.naming import known_name, leaf_name
from numeric.node import as_node

__all__ = ["to_matrix", "diff_matrix"]

_BINARY_EW = (Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.POW)
_LINEAR_OK = {Op.MATMUL, Op.PERMUTE, Op.SUM, Op.MEAN}


class Ones(OneMatrix):
    """The all-ones matrix, printed ``ones(n, m)`` by ``str`` (SymPy prints a bare ``1``)."""

    def _sympystr(self, printer):
        return f"ones({printer._print(self.rows)}, {printer._print(self.cols)})"

    def _eval_transpose(self):
        return Ones(self.cols, self.rows)


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


def _dim(d):
    return sympy.Symbol(d) if isinstance(d, str) else sympy.Integer(d)


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
    ``doit``), so formulas stay index-free: ``exp((ones(1, N)*X*w)[0, 0])``.  Once
    the dims are numbers (``.subs({N: 3, d: 2}).doit()``) it becomes the explicit entry.
    """

    def doit(self, **hints):
        parent = self.parent.doit(**hints) if hints.get("deep", True) else self.parent
        if isinstance(parent, sympy.MatrixBase):
            return parent[0, 0]
        if all(n.is_Integer for m in parent.atoms(MatrixSymbol, OneMatrix) for n in m.shape):
            return parent.as_explicit()[0, 0]
        return Entry(parent, 0, 0)


def _scalar(e):
    """A 1x1 matrix expression as a scalar (its only entry, kept index-free)."""
    if not _is_mat(e):
        return e
    return Entry(e, 0, 0) if isinstance(e, MatrixExpr) else e[0, 0]


def _unbroadcast(g, shape):
    if not shape and _is_mat(g):
        return _scalar(_sum_all(g)) if tuple(g.shape) != (1, 1) else _scalar(g)
    if shape and not _is_mat(g):
        return g * Ones(*shape)
    return g


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
    if op in SCALAR_FORMS and op not in (Op.WHERE, Op.MAXIMUM, Op.MINIMUM):
        vals = [v if sh else _scalar(v) for v, sh in zip(vals, shapes)]
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
        else:
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
    if op is Op.ADD:
        return [(0, g), (1, g)]
    if op is Op.SUB:
        return [(0, g), (1, -g)]
    # elementwise: every scalar partial from sympy.diff of the op's scalar form
    vals = [v if sh else _scalar(v) for v, sh in zip(vals, shapes)]
    ps = [sympy.Dummy(real=True) for _ in vals]
    env = dict(zip(ps, vals))
    form = SCALAR_FORMS[op](*ps, **attrs)
    out = []
    for k, p in enumerate(ps):
        if op is Op.POW and k == 1 and node.inputs[1].role == "constant":
            continue
        d = flat_steps(sympy.diff(form, p))
        if d != 0:
            out.append((k, _had(g, _elementwise_expr(d, env, out_shape))))
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
    inner = sympy.MatAdd(*[_matmul([c / common] + f) for c, f in parts])
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


def _tidy(e, simplify, dims=()):
    e = e.doit() if hasattr(e, "doit") else e
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
        ins = node.inputs
        shapes = [_mshape(i.shape) for i in ins]
        for k, ga in _backward_rule(node, g, [vals[id(i)] for i in ins], shapes):
            if id(ins[k]) in needs:
                adj.setdefault(id(ins[k]), []).append(_unbroadcast(ga, shapes[k]))
    terms = adj.get(id(x), [])
    shape = _mshape(x.shape)
    if not terms:
        return sympy.ZeroMatrix(*shape) if shape else sympy.S.Zero
    dims = {d for n in order if n.op is None for d in n.shape if isinstance(d, str)}
    return _tidy(_add(terms, shape), simplify, dims)
