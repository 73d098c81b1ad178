"""Hypothesis strategies for random expressions and points, importable by users.

``expressions()`` draws random DAGs *with sharing* (some node feeds several
others) over ``sg.symbol`` leaves of mutually broadcastable shapes, mixing
elementwise ops, reductions, normalisations, ``matmul`` and movement ops
(reshape, permute, broadcast, indexing, concat, stack), and your own
``sg.custom_op`` ops; each drawn :class:`Expression` prints itself as Python
code you can paste.  ``points(expr)`` draws leaf values at which every node is
inside its op's domain and away from kinks.  Importing this module registers
the ``ci`` and ``thorough`` profiles (:mod:`verify.profiles`) and loads the one
named by ``SYMGRAD_PROFILE`` if that is set.  Use them in your own test suite::

    from hypothesis import given, strategies as st
    import verify
    from verify.strategies import expressions, points

    @given(st.data())
    def test_gradients(data):
        expr = data.draw(expressions(max_nodes=4))
        r = verify.check(expr, points=[data.draw(points(expr))])
        assert r.passed, f"{expr!r}\\n{r}"

>>> from hypothesis import given, settings
>>> @settings(max_examples=3, derandomize=True, database=None)
... @given(expressions(max_nodes=3))
... def show(expr):
...     assert "sg.symbol" in repr(expr) and expr.node is not None
>>> show()
"""
from __future__ import annotations

import math
import os
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from hypothesis import assume, strategies as st
from hypothesis.extra import numpy as hnp

from numeric.graph import toposort
from numeric.kernels import FORWARD, apply
from numeric.node import Node, as_node
from numeric.ops import ARITY, ELEMENTWISE, NORMALIZE, REDUCE, RULE, Op
from symgrad.naming import leaf_name
from symgrad.tensor import Tensor
from verify.check import KINK_MARGIN, _admissible, _leaf_domains
from verify.opdb import ABOVE_MINUS_ONE, ABOVE_ONE, BASE, NONZERO, OP_DB, POSITIVE, \
    TAN_DOMAIN, UNIT
from verify.oracles import replay
from verify.profiles import PROFILE_ENV, load_profile, register_profiles
from verify.tolerance import MAX_RHO

register_profiles()
if os.environ.get(PROFILE_ENV):  # the user chose a profile for this run
    load_profile()

__all__ = ["Expression", "Point", "expressions", "points", "SUPPORTED_OPS", "MAX_SIZE"]

#: ops the expression strategy can draw: every op but CAST (a no-op in float64
#: graphs), SCATTER_ADD (GETITEM's adjoint, drawn through GETITEM's gradient) and the
#: ops without a gradient (isnan, bitwise ops: a DAG is drawn to check gradients)
SUPPORTED_OPS = frozenset(set(Op) - {Op.CAST, Op.SCATTER_ADD}
                          - {op for op, info in OP_DB.items() if not info.has_gradient}
                          # --- issue 11: losses (a loss ends a graph; OP_DB checks them)
                          - {op for op in Op if RULE[op].group == "loss"})
# --- issue 11: shape -- no plan in _plan yet: drawing them would only thin out the others
SUPPORTED_OPS -= {Op.FLIP, Op.ROLL, Op.PAD, Op.REPEAT_INTERLEAVE, Op.UNFOLD, Op.GATHER,
                  Op.SCATTER, Op.SCATTER_ADD_DIM, Op.MASKED_FILL}
_DEFAULT_OPS = tuple(sorted(SUPPORTED_OPS, key=lambda o: o.name))
#: the default draw picks elementwise or structural first, so a growing elementwise
#: vocabulary does not crowd matmul, reductions and movement ops out of the DAGs
_DEFAULT_KINDS = (tuple(o for o in _DEFAULT_OPS if o in ELEMENTWISE),
                  tuple(o for o in _DEFAULT_OPS if o not in ELEMENTWISE))
#: no drawn value has more elements than this (exact evaluation is per element)
MAX_SIZE = 36
_MAX_NDIM = 4


class Expression:
    """A drawn expression: ``node`` (output tensor), ``symbols`` (leaves), ``code``.

    ``repr(expr)`` is Python code that rebuilds it, ending in ``expr = ...``
    (custom ops appear under their ``name``: paste it where the op is defined
    under that name).  ``verify.check(expr, points=...)`` checks it.
    """

    __slots__ = ("node", "symbols", "code", "n_ops")

    def __init__(self, node: Any, symbols: list, code: str, n_ops: int) -> None:
        self.node, self.symbols, self.code, self.n_ops = node, symbols, code, n_ops

    def __repr__(self) -> str:
        return self.code

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        # Hypothesis prints falsifying examples with this: the code itself
        p.text(self.code)


def _check_int(name: str, v: Any, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"expressions({name}=...) must be an int, got {type(v).__name__}")
    if not lo <= v <= hi:
        raise ValueError(f"expressions({name}={v}) must be between {lo} and {hi}")
    return v


def _as_op(o: Any) -> Any:
    if isinstance(o, str):
        try:
            return Op(o.lower())
        except ValueError:
            try:
                return Op[o.upper()]
            except KeyError:
                return o
    return o


def _check_ops(ops: Iterable[Any] | None) -> tuple:
    if ops is None:
        return _DEFAULT_OPS
    if isinstance(ops, (str, Op)) or hasattr(ops, "forward"):
        raise TypeError("expressions(ops=...) must be a collection of ops, e.g. "
                        "ops=[Op.SIN, Op.MUL] or ops=['sin', 'mul', my_custom_op]")
    ops = tuple(_as_op(o) for o in ops)
    bad = [o for o in ops if not (o in SUPPORTED_OPS or _is_custom(o))]
    if not ops or bad:
        raise ValueError(f"expressions(ops=...) must be a non-empty collection of ops from "
                         f"SUPPORTED_OPS (Op members or their names) or sg.custom_op ops; "
                         f"not supported: {bad or 'empty'}")
    return ops


def _is_custom(o: Any) -> bool:
    return (not isinstance(o, Op) and callable(getattr(o, "forward", None))
            and isinstance(getattr(o, "arity", None), int) and isinstance(getattr(o, "name", None), str))


def _check_shapes(shapes: Sequence[tuple] | None):
    if shapes is None:
        return None
    try:
        shapes = [tuple(int(d) for d in s) for s in shapes]
    except TypeError:
        raise TypeError("expressions(shapes=...) must be a sequence of shape tuples, e.g. "
                        "[(3, 1), (4,)]") from None
    if not shapes or len(shapes) > 4:
        raise ValueError(f"expressions(shapes=...) needs 1 to 4 shapes, got {len(shapes)}")
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"expressions(shapes={shapes}): shapes must broadcast together") \
            from None
    return shapes


def _code(v: Any) -> str:
    """Python source for an argument or attribute value.

    >>> _code((Ellipsis, slice(0, 2, None), np.array([1, 1])))
    '(..., slice(0, 2, None), np.array([1, 1]))'
    """
    if isinstance(v, np.ndarray):
        return f"np.array({v.tolist()!r})"
    if isinstance(v, np.dtype):
        return f"np.dtype({v.name!r})"
    if v is Ellipsis:
        return "..."
    if isinstance(v, tuple):
        inner = ", ".join(_code(e) for e in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    return repr(v)


def _size(shape: tuple) -> int:
    return math.prod(shape)


def _broadcasts(a: tuple, b: tuple) -> bool:
    try:
        return _size(np.broadcast_shapes(a, b)) <= MAX_SIZE
    except ValueError:
        return False


#: a guard maps any real value into an op input's domain (values stay away from poles)
_GUARD = {POSITIVE.name: "pos", BASE.name: "pos", NONZERO.name: "pos",
          ABOVE_MINUS_ONE.name: "sigmoid", TAN_DOMAIN.name: "sin", UNIT.name: "sigmoid",
          ABOVE_ONE.name: "above_one"}


class _Builder:
    """The DAG being drawn: a pool of nodes, their names and the code lines."""

    def __init__(self, draw: Callable) -> None:
        self.draw = draw
        self.pool: list = []
        self.names: list[str] = []
        self.symbols: list = []
        self.lines: list[str] = []  # one per pool node
        self.n_ops = 0

    def shape(self, k: int) -> tuple:
        return tuple(self.pool[k].shape)

    def symbol(self, shape: tuple) -> int:
        import symgrad as sg

        name = f"x{len(self.symbols)}"
        self.symbols.append(sg.symbol(name, shape=tuple(shape)))
        self.pool.append(self.symbols[-1])
        self.names.append(name)
        self.lines.append(f"{name} = sg.symbol({name!r}, shape={tuple(shape)!r})")
        return len(self.pool) - 1

    def pick(self, ok: Callable[[tuple], bool] = lambda s: True) -> int | None:
        """A pool node whose shape passes ``ok``, the most recent preferred (shrinks there)."""
        cands = [k for k in range(len(self.pool)) if ok(self.shape(k))]
        if not cands:
            return None
        return cands[len(cands) - 1 - self.draw(st.integers(0, len(cands) - 1))]

    def out_shape(self, op: Any, args: list, attrs: dict) -> tuple | None:
        """The output shape, by running the kernel on probe values (None if it fails)."""
        probes = [np.full(self.shape(a), 0.5) if isinstance(a, int) else a for a in args]
        fwd = FORWARD[op] if isinstance(op, Op) else op.forward
        try:
            with np.errstate(all="ignore"):
                shape = tuple(np.shape(fwd(*probes, **attrs)))
        except (ValueError, TypeError, IndexError):
            return None
        return shape if _size(shape) <= MAX_SIZE and len(shape) <= _MAX_NDIM else None

    def emit(self, op: Any, args: list, attrs: dict) -> int:
        node = apply(op, *[self.pool[a] if isinstance(a, int) else a for a in args], **attrs)
        name = f"v{self.n_ops}"
        self.n_ops += 1
        argv = [self.names[a] if isinstance(a, int) else _code(a) for a in args]
        kw = [f"{k}={_code(v)}" for k, v in attrs.items()]
        if isinstance(op, Op):
            self.lines.append(f"{name} = apply({', '.join([f'Op.{op.name}'] + argv + kw)})")
        else:
            self.lines.append(f"{name} = {op.name}({', '.join(argv + kw)})")
        self.pool.append(node)
        self.names.append(name)
        return len(self.pool) - 1

    def guarded(self, op: Any, pos: int, a: int) -> int:
        if not isinstance(op, Op) or op not in OP_DB:
            return a
        kind = _GUARD.get(OP_DB[op].domain(pos).name)
        if kind == "pos":  # sigmoid(a) + 0.5 lies in (0.5, 1.5)
            return self.emit(Op.ADD, [self.emit(Op.SIGMOID, [a], {}), 0.5], {})
        if kind == "sigmoid":
            return self.emit(Op.SIGMOID, [a], {})
        if kind == "sin":
            return self.emit(Op.SIN, [a], {})
        if kind == "above_one":  # sigmoid(a) + 1.5 lies in (1.5, 2.5)
            return self.emit(Op.ADD, [self.emit(Op.SIGMOID, [a], {}), 1.5], {})
        return a


def _plan(b: _Builder, op: Any) -> tuple[list, dict] | None:
    """Arguments and attrs for one application of ``op`` on the pool (None: not now)."""
    draw = b.draw
    nd = lambda lo: (lambda s: len(s) >= lo)  # noqa: E731
    if op in ELEMENTWISE or _is_custom(op):
        arity = op.arity if _is_custom(op) else ARITY[op]
        first = b.pick()
        args = [first] + [b.pick(lambda s, f=b.shape(first): _broadcasts(s, f))
                          for _ in range(arity - 1)]
        attrs = {"min": -0.5, "max": 0.75} if op is Op.CLAMP else {}
        if op is Op.WHERE:
            shape = np.broadcast_shapes(*[b.shape(a) for a in args[1:]])
            flags = draw(st.lists(st.booleans(), min_size=_size(shape), max_size=_size(shape)))
            args[0] = np.array(flags, dtype=bool).reshape(shape)
        return args, attrs
    if op in REDUCE:
        a = b.pick()
        ndim = len(b.shape(a))
        if ndim == 0 or draw(st.booleans()):
            return [a], {"axis": None, "keepdims": False}
        return [a], {"axis": (draw(st.integers(0, ndim - 1)),), "keepdims": draw(st.booleans())}
    if op in NORMALIZE:
        a = b.pick(nd(1))
        return None if a is None else ([a], {"axis": draw(st.integers(0, len(b.shape(a)) - 1))})
    if op is Op.MATMUL:
        a = b.pick(nd(1))
        if a is None:
            return None
        k = b.shape(a)[-1]
        other = b.pick(lambda s: len(s) in (1, 2) and s[0] == k)
        if other is None or draw(st.booleans()):
            other = b.symbol(draw(st.sampled_from([(k,), (k, 1), (k, 2), (k, 3)])))
        return [a, other], {}
    if op is Op.RESHAPE:
        a = b.pick()
        s = b.shape(a)
        n = _size(s)
        options = [(n,), (1, *s), (*s, 1)] + ([(2, n // 2)] if n % 2 == 0 and n >= 4 else [])
        return [a], {"shape": draw(st.sampled_from(options))}
    if op is Op.PERMUTE:
        a = b.pick(nd(2))
        return None if a is None else (
            [a], {"axes": tuple(draw(st.permutations(range(len(b.shape(a))))))})
    if op is Op.BROADCAST_TO:
        a = b.pick()
        s = tuple(draw(st.integers(1, 3)) if d == 1 else d for d in b.shape(a))
        return [a], {"shape": ((2,) if draw(st.booleans()) else ()) + s}
    if op is Op.GETITEM:
        a = b.pick(lambda s: len(s) >= 1 and s[-1] >= 1)
        if a is None:
            return None
        n = b.shape(a)[-1]
        kind = draw(st.sampled_from(["slice", "int", "array"]))
        if kind == "slice":
            lo = draw(st.integers(0, n - 1))
            idx: Any = slice(lo, draw(st.integers(lo + 1, n)), None)
        elif kind == "int":
            idx = draw(st.integers(0, n - 1))
        else:  # repeated indices: the gradient must add up
            idx = np.array(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4)))
        return [a], {"index": (Ellipsis, idx)}
    if op is Op.CONCAT:
        a = b.pick(nd(1))
        if a is None:
            return None
        s = b.shape(a)
        axis = draw(st.integers(0, len(s) - 1))
        c = b.pick(lambda t: len(t) == len(s) and all(x == y for i, (x, y) in
                                                       enumerate(zip(t, s)) if i != axis))
        return [a, c], {"axis": axis}
    if op is Op.STACK:
        a = b.pick()
        s = b.shape(a)
        return [a, b.pick(lambda t: t == s)], {"axis": draw(st.integers(0, len(s)))}
    return None


def expressions(*, max_nodes: int = 6, ops: Iterable[Any] | None = None,
                shapes: Sequence[tuple] | None = None, max_leaves: int = 3):
    """A strategy for random expression DAGs with sharing over ``sg.symbol`` leaves.

    ``max_nodes``: at most this many drawn ops (plus domain guards such as
    ``sigmoid(x) + 0.5`` before a ``log``, and one op that forces sharing);
    ``ops``: the ops to draw from -- ``Op`` members, their names (``"sin"``) or
    ``sg.custom_op`` ops (default: :data:`SUPPORTED_OPS`, elementwise,
    reductions, softmax, matmul and movement ops); ``shapes``: the leaves'
    shapes (default: drawn with ``mutually_broadcastable_shapes``; ``matmul``
    may add a leaf of a matching shape); ``max_leaves``: how many symbols when
    ``shapes`` is not given.  Arguments are checked eagerly.

    >>> expressions(max_nodes=0)
    Traceback (most recent call last):
    ...
    ValueError: expressions(max_nodes=0) must be between 1 and 40
    """
    _check_int("max_nodes", max_nodes, 1, 40)
    _check_int("max_leaves", max_leaves, 1, 4)
    chosen = _check_ops(ops)
    fixed = _check_shapes(shapes)
    return _expressions(max_nodes, chosen, fixed, max_leaves)


@st.composite
def _expressions(draw, max_nodes, ops, fixed, max_leaves):
    if fixed is None:
        n = draw(st.integers(1, max_leaves))
        fixed = list(draw(hnp.mutually_broadcastable_shapes(
            num_shapes=n, min_dims=0, max_dims=2, min_side=1, max_side=3)).input_shapes)
    b = _Builder(draw)
    for s in fixed:
        b.symbol(s)
    drawn = 0
    for _ in range(draw(st.integers(1, max_nodes))):
        kind = draw(st.sampled_from(_DEFAULT_KINDS)) if ops is _DEFAULT_OPS else ops
        op = draw(st.sampled_from(kind))
        plan = _plan(b, op)
        if plan is None or b.out_shape(op, *plan) is None:
            continue  # the op does not fit the pool right now
        args, attrs = plan
        b.emit(op, [b.guarded(op, p, a) if isinstance(a, int) else a
                    for p, a in enumerate(args)], attrs)
        drawn += 1
    if not drawn:  # nothing fitted: a minimal expression over the last leaf
        b.emit(Op.MUL, [len(b.pool) - 1, len(b.pool) - 1], {})
    out = len(b.pool) - 1
    users: dict[int, int] = {}
    for node in toposort([b.pool[out]]):
        for i in node.inputs:
            users[id(i)] = users.get(id(i), 0) + 1
    if max(users.values(), default=0) < 2:  # force sharing: reuse an ancestor of the output
        ancestors = {id(n) for n in toposort([b.pool[out]])} - {id(b.pool[out])}
        reuse = next((k for k in range(len(b.pool)) if id(b.pool[k]) in ancestors
                      and _broadcasts(b.shape(k), b.shape(out))), out)
        out = b.emit(Op.ADD, [out, reuse], {})
    order = toposort([b.pool[out]])
    present = {id(n) for n in order}
    used = [s for s in b.symbols if id(s) in present]
    # the code: only the lines the output needs, so a shrunk failure reads minimal
    header = ["import numpy as np", "import symgrad as sg", "from numeric.kernels import apply",
              "from numeric.ops import Op"]
    custom = list(dict.fromkeys(n.op.name for n in order if n.op is not None
                                and not isinstance(n.op, Op)))
    if custom:
        header.append(f"# custom ops (define them first): {', '.join(custom)}")
    body = [line for node, line in zip(b.pool, b.lines) if id(node) in present]
    code = "\n".join(header + body + [f"expr = {b.names[out]}"])
    n_ops = sum(1 for n in order if n.op is not None)
    return Expression(b.pool[out], used, code, n_ops)


class Point(list):
    """One drawn point: a list of arrays (one per symbol) whose ``repr`` is exact code.

    >>> Point([np.array([0.1, -2.0]), np.array(0.5)])
    [np.array([0.1, -2.0]), np.array(0.5)]
    """

    def __repr__(self) -> str:
        return "[" + ", ".join(_code(np.asarray(v)) for v in self) + "]"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))


def _point_symbols(expr: Any) -> tuple[Any, list, bool]:
    """(output node, symbol leaf nodes, drawn?) of an Expression or a symbolic Tensor."""
    if isinstance(expr, Expression):
        return as_node(expr.node), [as_node(s.node) for s in expr.symbols], True
    if not isinstance(expr, (Tensor, Node)):
        raise TypeError(f"points(expr): expr must be a symbolic Tensor (built over "
                        f"sg.symbol leaves) or an Expression drawn from expressions(), got "
                        f"{type(expr).__name__}")
    out = as_node(expr)
    symbols = [n for n in toposort([out]) if n.op is None and n.role == "symbol"]
    if not symbols:
        raise ValueError("points(expr): expr has no sg.symbol leaf to draw values for; build "
                         "it over sg.symbol(...) leaves (verify.check(t) checks an eager "
                         "tensor at its leaves' current values)")
    for s in symbols:
        if not all(isinstance(d, (int, np.integer)) for d in s.shape):
            raise ValueError(f"points(expr): symbol {leaf_name(s)!r} has the symbolic shape "
                             f"{tuple(s.shape)}; give it concrete dims, e.g. "
                             f"sg.symbol({leaf_name(s)!r}, shape=(3,))")
    return out, symbols, False


def points(expr: Any, *, margin: float = KINK_MARGIN):
    """A strategy for one :class:`Point` (a list of arrays, one per symbol) in the domain.

    ``expr`` is an :class:`Expression` drawn from :func:`expressions` or any
    symbolic Tensor; the arrays follow its symbols (``expr.symbols``, or the
    Tensor's ``sg.symbol`` leaves in the order ``verify.check`` takes them).
    Every node's inputs are checked against its op's domain and kinks (at least
    ``margin`` away); points that fail, or are too ill-conditioned for float64,
    are rejected.  Pass ``[point]`` as ``verify.check(..., points=)``.

    >>> import symgrad as sg
    >>> from verify.strategies import points
    >>> from hypothesis import find
    >>> p = find(points(sg.log(sg.symbol("x", shape=(3,)))), lambda p: True)
    >>> p[0].shape, bool((p[0] > 0).all())
    ((3,), True)
    >>> points(3.0)
    Traceback (most recent call last):
    ...
    TypeError: points(expr): expr must be a symbolic Tensor (built over sg.symbol leaves) or an Expression drawn from expressions(), got float
    """
    out, symbols, drawn = _point_symbols(expr)
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not margin >= 0:
        raise ValueError(f"points(margin={margin!r}) must be a non-negative number")
    order = toposort([out])
    if drawn:
        elements = [st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False, width=64)
                    ] * len(symbols)
    else:  # each symbol from the narrowest domain of the ops it feeds (as verify.check)
        elements = [st.floats(-2.0, 2.0) if d.boolean else
                    st.floats(d.low, d.high, allow_nan=False, allow_infinity=False, width=64)
                    for d in _leaf_domains(order, symbols)]

    @st.composite
    def _points(draw):
        vals = Point(draw(hnp.arrays(np.float64, tuple(s.shape), elements=e))
                     for s, e in zip(symbols, elements))
        bind = {id(s): v for s, v in zip(symbols, vals)}
        # Note [Tiny inputs]: below 1e-6 in magnitude, a gradient like d/dx (x - tanh(x)) =
        # tanh(x)**2 is computed as 1 - (1 - tanh(x)**2): cancellation in the backward pass
        # that the forward conditioning cannot see.  Tiny values are the extremes pass's
        # business (verify/passes.py, with its own tolerance floor), so DAG points avoid them.
        assume(all(np.all((v == 0) | (np.abs(v) >= 1e-6)) for v in vals))
        with np.errstate(all="ignore"):
            _, new, rho, _ = replay(out, bind, symbols)
            assume(_admissible(order, new, margin) and rho <= MAX_RHO)
        return vals

    return _points()
