"""Lowering the DAG to SymPy, elementwise: ``TO_SYMPY`` and ``to_sympy``.

A tensor of shape ``S`` lowers to a numpy *object* array of shape ``S`` whose
entries are SymPy scalars (numpy does broadcasting, reshapes, indexing and
matmul on object arrays for free); the public :func:`to_sympy` turns that into
a SymPy ``ImmutableDenseNDimArray`` (or a plain expression for a size-1 result).

``TO_SYMPY[op](*arrays, **attrs)`` is each op's exact local form.  Elementwise
ops are built from a *scalar* form in ``SCALAR_FORMS`` applied with numpy
broadcasting.  Note [Kinks]: ``relu`` is ``Piecewise((x, x > 0), (0, True))``, ``clamp`` a
``Piecewise`` whose middle branch is inclusive, so derivatives taken by
:mod:`symgrad.closed_form` match numeric's conventions (see there).

The graph is walked with ``numeric.graph.toposort`` (iterative, never recursion).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import sympy

from numeric.executor import evaluate
from numeric.graph import toposort
from numeric.ops import AT_POINT, Op
from symgrad.naming import leaf_name, name_from_caller
from numeric.node import as_node, many

__all__ = ["TO_SYMPY", "SCALAR_FORMS", "lower", "leaf_array", "exact", "LoweringError",
           "graph_order", "real_world", "is_variable", "variables", "point_values"]


class LoweringError(ValueError):
    """A graph that cannot be lowered to SymPy (e.g. symbolic dims in elementwise form)."""


def exact(v: Any) -> sympy.Expr:
    """A Python/numpy number as an exact SymPy number (shortest decimal repr).

    >>> exact(5.0), exact(0.01), exact(3), exact(True)
    (5, 1/100, 3, 1)
    """
    if isinstance(v, sympy.Basic):
        return v
    if isinstance(v, (bool, np.bool_)):
        return sympy.Integer(int(v))
    if isinstance(v, (int, np.integer)):
        return sympy.Integer(int(v))
    f = float(v)
    if f != f:
        return sympy.nan
    if f in (float("inf"), float("-inf")):
        return sympy.oo if f > 0 else -sympy.oo
    return sympy.Rational(repr(f))


# ---------------------------------------------------------------- scalar forms

def _sigmoid(x):
    return 1 / (1 + sympy.exp(-x))


def _softplus(x, beta=1.0, threshold=float("inf")):
    # PyTorch's softplus is x itself where beta * x > threshold: part of its meaning
    # (the value and the gradient 1 there); log(1 + exp(x)) stays the plain form at
    # beta = 1 so closed forms read as before below the threshold
    # and at beta * x == threshold its tangent line: slope sigmoid(threshold), second
    # derivative 0 (PyTorch's softplus_double_backward masks with beta * x < threshold)
    b, t = exact(beta), exact(threshold)
    if t == sympy.oo and b == 1:            # the op's defaults: the textbook softplus
        return sympy.log(1 + sympy.exp(x))
    # log1p: exact too, and its value stays resolved where exp(b*x) is below 1e-40
    smooth = _log1p(sympy.exp(b * x)) / b
    if t == sympy.oo:
        return smooth
    at = _log1p(sympy.exp(t)) / b + (x - t / b) / (1 + sympy.exp(-t))
    return sympy.Piecewise((x, b * x > t), (at, sympy.Eq(b * x, t)), (smooth, True))


def _relu(x):
    # not Max(0, x): SymPy differentiates that to Heaviside(x) = 1/2 at 0, the tie
    # convention of `maximum`; relu'(0) = 0 (numeric, PyTorch) at every order
    return sympy.Piecewise((x, x > 0), (0, True))


def _clamp(x, min=None, max=None):  # noqa: A002 - numeric's attr names
    pieces = []
    if min is not None:
        pieces.append((exact(min), x < exact(min)))
    if max is not None:
        pieces.append((exact(max), x > exact(max)))
    if not pieces:
        return x
    return sympy.Piecewise(*pieces, (x, True))


def _cast(x, dtype=None):
    kind = np.dtype(dtype).kind if dtype is not None else "f"
    if kind == "b":
        return sympy.Piecewise((1, sympy.Ne(x, 0)), (0, True))
    if kind in "iu":  # numpy's astype truncates toward zero
        return sympy.Piecewise((sympy.floor(x), x >= 0), (sympy.ceiling(x), True))
    return x


def _where(c, x, y):
    if c.is_number:
        return x if c != 0 else y
    return sympy.Piecewise((x, sympy.Ne(c, 0)), (y, True))


# --- issue 11: activations (forms; Note [Kinks] in symgrad/closed_form.py)
from sympy.codegen.cfunctions import log1p as _log1p  # noqa: E402 - SymPy's exact log(1 + x)

_SELU_ALPHA = sympy.Rational("1.6732632423543772848170429916717")
_SELU_SCALE = sympy.Rational("1.0507009873554804934193349852946")


def _leaky_relu(x, negative_slope=0.01):
    return sympy.Piecewise((x, x > 0), (exact(negative_slope) * x, True))


def _elu_form(x, alpha, scale=1):
    # at 0 PyTorch's slope is scale*alpha but its second derivative 0: the Eq branch is
    # the tangent line there, so SymPy's derivatives give both
    return sympy.Piecewise((scale * x, x > 0), (scale * alpha * x, sympy.Eq(x, 0)),
                           (scale * alpha * (sympy.exp(x) - 1), True))


def _celu(x, alpha=1.0):
    a = exact(alpha)
    return sympy.Piecewise((x, x >= 0), (a * (sympy.exp(x / a) - 1), True))


def _gelu(x, approximate="none"):
    if approximate == "tanh":
        # x/2 * (1 + tanh(u)) written x / (1 + exp(-2u)): no 1 + tanh(u) cancellation
        inner = sympy.sqrt(2 / sympy.pi) * (x + sympy.Rational(44715, 1000000) * x ** 3)
        return x / (1 + sympy.exp(-2 * inner))
    # x * Phi(x) with Phi = (1 + erf(x/sqrt 2))/2 written erfc(-x/sqrt 2)/2: the same
    # function, whose value far left (x ~ -30) needs no hundreds of digits to resolve
    # (evaluate=False: SymPy would rewrite erfc(-z) as 2 - erfc(z), the cancelling form)
    return x / 2 * sympy.erfc(-x / sympy.sqrt(2), evaluate=False)


def _softsign(x):
    # 1/(1+|x|)**2 at every order's first step; second derivative 0 at 0 (PyTorch's
    # sign(0) = 0), so the point 0 is its own branch
    return sympy.Piecewise((x / (1 + x), x > 0), (x / (1 - x), x < 0), (x, True))


def _hardtanh(x, min_val=-1.0, max_val=1.0):
    # bounds exclusive in the gradient (PyTorch's hardtanh_backward): <= and >=
    lo, hi = exact(min_val), exact(max_val)
    return sympy.Piecewise((lo, x <= lo), (hi, x >= hi), (x, True))


def _hardsigmoid(x):
    return sympy.Piecewise((0, x <= -3), (1, x >= 3), (x / 6 + sympy.Rational(1, 2), True))


def _hardswish(x):
    # PyTorch's gradient: 0 at -3, 1 at 3 (outer branches closed), second derivative 0
    return sympy.Piecewise((0, x <= -3), (x, x >= 3), (x * (x + 3) / 6, True))


def _softmin(row):
    return _softmax([-r for r in row])


def _p_norm(row, p):
    if p == 2:
        return sympy.sqrt(sympy.Add(*[r * r for r in row]))
    if p == 1:
        return sympy.Add(*[sympy.Abs(r) for r in row])
    if p == float("inf"):
        return sympy.Max(*[sympy.Abs(r) for r in row])
    q = exact(p)
    return sympy.Add(*[sympy.Abs(r) ** q for r in row]) ** (1 / q)


def _normalize_form(x, p=2.0, axis=1, eps=1e-12):
    def rows(row):
        n = _p_norm(row, p)
        # clamp_min(norm, eps): the norm's gradient passes where norm >= eps
        d = sympy.Piecewise((exact(eps), n < exact(eps)), (n, True))
        return [r / d for r in row]
    return _normalize(rows)(x, axis=axis)


#: the exact local form of every elementwise op, on SymPy scalars
SCALAR_FORMS: dict[Op, Callable[..., sympy.Expr]] = {
    Op.ADD: lambda x, y: x + y,
    Op.SUB: lambda x, y: x - y,
    Op.MUL: lambda x, y: x * y,
    Op.DIV: lambda x, y: x / y,
    Op.POW: lambda x, y: x ** y,
    Op.MAXIMUM: lambda x, y: sympy.Max(x, y),
    Op.MINIMUM: lambda x, y: sympy.Min(x, y),
    Op.ATAN2: sympy.atan2,
    Op.NEG: lambda x: -x,
    Op.EXP: sympy.exp,
    Op.LOG: sympy.log,
    Op.LOG1P: lambda x: sympy.log(1 + x),
    Op.EXPM1: lambda x: sympy.exp(x) - 1,
    Op.SQRT: sympy.sqrt,
    Op.SIN: sympy.sin,
    Op.COS: sympy.cos,
    Op.TAN: sympy.tan,
    Op.TANH: sympy.tanh,
    Op.SIGMOID: _sigmoid,
    Op.SOFTPLUS: lambda x, beta=1.0, threshold=float("inf"): _softplus(x, beta, threshold),
    Op.RELU: _relu,
    Op.ABS: sympy.Abs,
    Op.ERF: sympy.erf,
    Op.CLAMP: _clamp,
    Op.CAST: _cast,
    Op.WHERE: _where,
    # --- issue 11: activations
    Op.LEAKY_RELU: _leaky_relu,
    Op.ELU: lambda x, alpha=1.0: _elu_form(x, exact(alpha)),
    Op.SELU: lambda x: _elu_form(x, _SELU_ALPHA, _SELU_SCALE),
    Op.CELU: _celu,
    Op.SILU: lambda x: x * _sigmoid(x),
    Op.GELU: _gelu,
    Op.MISH: lambda x: x * sympy.tanh(_log1p(sympy.exp(x))),
    Op.SOFTSIGN: _softsign,
    Op.LOGSIGMOID: lambda x: -sympy.log(1 + sympy.exp(-x)),
    Op.HARDTANH: _hardtanh,
    Op.HARDSIGMOID: _hardsigmoid,
    Op.HARDSWISH: _hardswish,
}


def _elementwise(form):
    def lower_op(*xs, **attrs):
        bs = np.broadcast_arrays(*xs)
        out = np.empty(bs[0].shape, dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = form(*(b[idx] for b in bs), **attrs)
        return out
    return lower_op


# ---------------------------------------------------------------- reductions

def _groups(x: np.ndarray, axis):
    """Move the reduced axes last: returns (rows of shape outer+(k,), axes)."""
    axes = tuple(range(x.ndim)) if axis is None else tuple(a % max(x.ndim, 1) for a in
                                                           ((axis,) if isinstance(axis, int) else axis))
    rest = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, rest + list(axes))
    outer = moved.shape[:len(rest)]
    return moved.reshape(outer + (-1,)), axes


def _reduce(fn):
    def lower_op(x, axis=None, keepdims=False):
        rows, axes = _groups(x, axis)
        out = np.empty(rows.shape[:-1], dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = fn(list(rows[idx]))
        if keepdims:
            out = out.reshape(tuple(1 if a in axes else n for a, n in enumerate(x.shape)))
        return out
    return lower_op


def _normalize(fn):
    def lower_op(x, axis=-1):
        moved = np.moveaxis(x, axis, -1)
        out = np.empty(moved.shape, dtype=object)
        for idx in np.ndindex(moved.shape[:-1]):
            for j, v in enumerate(fn(list(moved[idx]))):
                out[idx + (j,)] = v
        return np.moveaxis(out, -1, axis)
    return lower_op


def _lse(row):
    return sympy.log(sympy.Add(*[sympy.exp(r) for r in row]))


def _softmax(row):
    es = [sympy.exp(r) for r in row]
    total = sympy.Add(*es)
    return [e / total for e in es]


def _log_softmax(row):
    lse = _lse(row)
    return [r - lse for r in row]


# ---------------------------------------------------------------- movement & linear algebra

def _zeros(shape):
    out = np.empty(shape, dtype=object)
    out.fill(sympy.S.Zero)
    return out


def _scatter_add(x, shape, index):
    out = _zeros(tuple(shape))
    np.add.at(out, index, x)
    return out


def _matmul(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise LoweringError("matmul needs inputs of rank >= 1, got a scalar; use * instead")
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    lead = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    a2 = np.broadcast_to(a2, lead + a2.shape[-2:])
    b2 = np.broadcast_to(b2, lead + b2.shape[-2:])
    n, k, m = a2.shape[-2], a2.shape[-1], b2.shape[-1]
    if b2.shape[-2] != k:
        raise LoweringError(f"matmul shapes {a.shape} and {b.shape} do not align")
    out = np.empty(lead + (n, m), dtype=object)
    for idx in np.ndindex(lead):
        for i in range(n):
            for j in range(m):
                out[idx + (i, j)] = sympy.Add(*[a2[idx + (i, t)] * b2[idx + (t, j)] for t in range(k)])
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return out


def _concat(*xs, axis=0):
    return np.concatenate(xs, axis=axis)


def _stack(*xs, axis=0):
    return np.stack(xs, axis=axis)


#: every op's exact local form over numpy object arrays of SymPy scalars
TO_SYMPY: dict[Op, Callable[..., np.ndarray]] = {op: _elementwise(f) for op, f in SCALAR_FORMS.items()}
TO_SYMPY |= {
    Op.MATMUL: _matmul,
    Op.SUM: _reduce(lambda row: sympy.Add(*row)),
    Op.MEAN: _reduce(lambda row: sympy.Add(*row) / len(row)),
    Op.MAX: _reduce(lambda row: sympy.Max(*row)),
    Op.MIN: _reduce(lambda row: sympy.Min(*row)),
    Op.LOGSUMEXP: _reduce(_lse),
    Op.SOFTMAX: _normalize(_softmax),
    Op.LOG_SOFTMAX: _normalize(_log_softmax),
    Op.RESHAPE: lambda x, shape: np.reshape(x, tuple(shape)),
    Op.PERMUTE: lambda x, axes: np.transpose(x, tuple(axes)),
    Op.BROADCAST_TO: lambda x, shape: np.array(np.broadcast_to(x, tuple(shape))),
    Op.GETITEM: lambda x, index: np.array(x[index], dtype=object),
    Op.SCATTER_ADD: _scatter_add,
    Op.CONCAT: _concat,
    Op.STACK: _stack,
    # --- issue 11: activations
    Op.SOFTMIN: _normalize(_softmin),
    Op.NORMALIZE: _normalize_form,
}


# ---------------------------------------------------------------- leaves

def is_variable(node, wrt=None) -> bool:
    """Does leaf ``node`` lower to symbols?  Note [Leaf roles] in numeric/node.py.

    A symbol always does, a constant never; a data leaf does when it is one of
    the call's variables (``wrt``: a set of node ids) or was given a name
    (``name=``, an ``nn`` parameter's module path), and otherwise lowers to its
    exact values.  ``requires_grad`` plays no part.
    """
    role = node.role
    if role == "symbol":
        return True
    if role == "constant":
        return False
    return node.name is not None or (wrt is not None and id(node) in wrt)


def _element_name(name: str, idx: tuple[int, ...]) -> str:
    return "_".join([name] + [str(i) for i in idx])


def leaf_array(node, wrt=None) -> np.ndarray:
    """The object array of a leaf: element symbols (plain) or exact constants.

    A leaf named ``x`` of shape (3,) gives ``x_0, x_1, x_2``; a size-1 leaf gives ``x``.
    The symbols carry no assumptions (Note [Plain leaves]).  Whether a leaf is
    symbols or numbers: :func:`is_variable`.
    """
    node = as_node(node)
    shape = tuple(node.shape)
    if any(not isinstance(d, (int, np.integer)) for d in shape):
        raise LoweringError(
            f"leaf {leaf_name(node)!r} has symbolic shape {shape}; elementwise form needs "
            "concrete dims: use form='matrix' or give the symbol a shape of ints")
    if node.literal is not None:
        return np.full(shape, exact(node.literal), dtype=object)
    out = np.empty(shape, dtype=object)
    if is_variable(node, wrt):
        name = leaf_name(node)
        size1 = int(np.prod(shape, dtype=np.int64)) == 1
        for idx in np.ndindex(shape):
            out[idx] = sympy.Symbol(name if size1 else _element_name(name, idx))
    else:
        value = np.asarray(node.data)
        for idx in np.ndindex(shape):
            out[idx] = exact(value[idx].item())
    return out


def real_world(*exprs, dims=()):
    """Note [Plain leaves]: stand-ins with assumptions for the plain symbols of ``exprs``.

    Leaves lower to plain ``sympy.Symbol(name)`` (symbolic dims to plain
    ``Symbol("N")``), so results compare equal to what a user writes
    (``sympy.Symbol("x")``, ``sympy.symbols("N d")``) and ``.subs(Symbol("x"), 3)``
    works.  SymPy's calculus and ``simplify`` know more about real symbols
    (``d|x|/dx = sign(x)``, ``d sign(x)/dx = 2*DiracDelta(x)``, ``sqrt(x**2) = |x|``),
    so derivatives of results and simplification run on real Dummies (positive
    integer ones for the names in ``dims``) and map back.  Returns
    ``(to_real, to_plain)``: two ``xreplace`` tables.

    >>> x = sympy.Symbol("x")
    >>> to_real, to_plain = real_world(sympy.Abs(x))
    >>> sympy.diff(sympy.Abs(x).xreplace(to_real), to_real[x]).xreplace(to_plain)
    sign(x)
    """
    dims = set(dims)
    to_real: dict = {}
    for e in exprs:
        if not isinstance(e, sympy.Basic):
            continue
        for s in e.atoms(sympy.Symbol):  # also the dims inside MatrixSymbol("X", N, d)
            if type(s) is sympy.Symbol and s not in to_real and s.is_real is None:
                to_real[s] = (sympy.Dummy(s.name, integer=True, positive=True) if s.name in dims
                              else sympy.Dummy(s.name, real=True))
    return to_real, {d: s for s, d in to_real.items()}


def lower_node(node, arrays: list[np.ndarray], bindings: "dict | None" = None) -> np.ndarray:
    """Apply a node's op to the object arrays of its inputs.

    An op whose structure depends on values (``AT_POINT``: sort, max-pooling, ...)
    is lowered at a point (Note [Forms at a point]): its form gets ``point=``, the
    numeric values of its inputs, computed from the leaves' data or ``bindings``
    (``{id(leaf node): value}``).
    """
    op = node.op
    attrs = node.attrs or {}
    if isinstance(op, Op):
        if op in AT_POINT:
            attrs = dict(attrs, point=point_values(node, bindings))
        return np.asarray(TO_SYMPY[op](*arrays, **attrs), dtype=object)
    form = getattr(op, "sympy", None)
    if form is None:
        raise LoweringError(f"op {op!r} has no SymPy form; give it a `.sympy` scalar function")
    out = _elementwise(form)(*arrays)
    return out.reshape(tuple(node.shape)) if out.size == int(np.prod(node.shape)) else out


# Note [Forms at a point]: sort, topk, median, max-pooling, nonzero and masked_select
# have a structure (a permutation, an argmax, a mask) that the values choose.  Their
# exact form is the one at a given point: the structure is read from the inputs'
# numeric values there and fixed, and the form is exact in the neighbourhood where
# that structure does not change (away from ties), which is what a derivative needs.
# The point is the leaves' own data (an eager graph) or ``bindings``; a symbol
# without a value cannot fix it, and says so.
def point_values(node, bindings: "dict | None" = None) -> tuple:
    """The numeric values of ``node``'s inputs at the point the leaves (or ``bindings``) give."""
    try:
        return tuple(np.asarray(v) for v in evaluate(list(node.inputs), bindings))
    except ValueError as exc:
        raise LoweringError(
            f"{node.op.value}'s exact form depends on the values of its input (its "
            f"structure is fixed at a point): give the leaves values, e.g. lower a tensor "
            f"rather than a symbol, or pass bindings ({exc})") from None


def graph_order(output, wrt=None) -> list:
    """The nodes under ``output`` (a Tensor or node) in topological order.

    Leaves that will lower to symbols and have no name yet are named after the
    caller's variables (Note [Leaf names] in :mod:`symgrad.naming`).  The graph
    of a tensor survives ``backward()``, so this works before and after it.
    """
    order = toposort([as_node(output)])
    name_from_caller([n for n in order if n.op is None and is_variable(n, wrt)], depth=2)
    return order


def lower(output, wrt=None, bindings=None) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Lower the graph under ``output``: (its object array, {id(node): object array}).

    ``bindings`` (``{id(leaf node): value}``) gives the point at which ops of
    ``AT_POINT`` are lowered (Note [Forms at a point]).
    """
    output = as_node(output)
    arrays: dict[int, np.ndarray] = {}
    for node in graph_order(output, wrt):
        if node.op is None:
            arrays[id(node)] = leaf_array(node, wrt)
        else:
            arrays[id(node)] = lower_node(node, [arrays[id(i)] for i in node.inputs], bindings)
    return arrays[id(output)], arrays


def as_sympy(arr: np.ndarray):
    """An object array as SymPy: a size-1 array -> scalar expr, else an immutable Array."""
    arr = np.asarray(arr, dtype=object)
    if arr.size == 1:
        return sympy.sympify(arr.reshape(()).item())
    return sympy.ImmutableDenseNDimArray(arr.ravel().tolist(), arr.shape)


def variables(wrt) -> "set[int] | None":
    """The ids of the nodes of ``wrt`` (a tensor, node, or list of them); None stays None."""
    if wrt is None:
        return None
    if isinstance(wrt, (set, frozenset)):
        return wrt
    items = wrt if many(wrt) else [wrt]
    return {id(as_node(x)) for x in items}
