"""Hypothesis strategies for random expressions and points, importable by users.

``expressions()`` draws random DAGs *with sharing* (some node feeds several
others) over ``sg.symbol`` leaves of mutually broadcastable shapes; each drawn
:class:`Expression` prints itself as Python code you can paste.  ``points(expr)``
draws leaf values at which every node is inside its op's domain and away from
kinks.  Use them in your own test suite::

    from hypothesis import given, strategies as st
    import verify
    from verify.strategies import expressions, points

    @given(st.data())
    def test_gradients(data):
        expr = data.draw(expressions(max_nodes=4))
        r = verify.check(expr.node, expr.symbols, points=[data.draw(points(expr))])
        assert r.passed, f"{expr!r}\\n{r}"

>>> from hypothesis import given, settings
>>> @settings(max_examples=3, derandomize=True, database=None)
... @given(expressions(max_nodes=3))
... def show(expr):
...     assert "sg.symbol" in repr(expr) and expr.node is not None
>>> show()
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
from hypothesis import assume, strategies as st
from hypothesis.extra import numpy as hnp

from numeric.kernels import apply
from numeric.ops import BINARY, NORMALIZE, REDUCE, UNARY, Op
from verify.check import KINK_MARGIN, _admissible
from verify.opdb import ABOVE_MINUS_ONE, BASE, NONZERO, OP_DB, POSITIVE, TAN_DOMAIN
from verify.oracles import replay
from verify.tolerance import MAX_RHO

__all__ = ["Expression", "expressions", "points", "SUPPORTED_OPS"]

#: ops the expression strategy knows how to call (movement ops need shape-specific attrs)
SUPPORTED_OPS = frozenset((UNARY - {Op.CAST, Op.CLAMP}) | BINARY | REDUCE | NORMALIZE
                          | {Op.CLAMP})
_DEFAULT_OPS = tuple(sorted(SUPPORTED_OPS, key=lambda o: o.name))


class Expression:
    """A drawn expression: ``node`` (output tensor), ``symbols`` (leaves), ``code``.

    ``repr(expr)`` is Python code that rebuilds it (ending in ``expr = ...``).
    """

    __slots__ = ("node", "symbols", "code", "n_ops")

    def __init__(self, node: Any, symbols: list, code: str, n_ops: int) -> None:
        self.node, self.symbols, self.code, self.n_ops = node, symbols, code, n_ops

    def __repr__(self) -> str:
        return self.code


def _check_int(name: str, v: Any, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"expressions({name}=...) must be an int, got {type(v).__name__}")
    if not lo <= v <= hi:
        raise ValueError(f"expressions({name}={v}) must be between {lo} and {hi}")
    return v


def _check_ops(ops: Iterable[Op] | None) -> tuple:
    if ops is None:
        return _DEFAULT_OPS
    if isinstance(ops, (str, Op)):
        raise TypeError("expressions(ops=...) must be a collection of Op members, e.g. "
                        "ops=[Op.SIN, Op.MUL]")
    ops = tuple(ops)
    bad = [o for o in ops if not isinstance(o, Op) or o not in SUPPORTED_OPS]
    if not ops or bad:
        raise ValueError(f"expressions(ops=...) must be a non-empty collection of Ops from "
                         f"SUPPORTED_OPS; not supported: {bad or 'empty'}")
    return ops


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


#: a guard maps any real value into an op input's domain (values stay away from poles)
_GUARD = {POSITIVE.name: "pos", BASE.name: "pos", NONZERO.name: "pos",
          ABOVE_MINUS_ONE.name: "sigmoid", TAN_DOMAIN.name: "sin"}


def expressions(*, max_nodes: int = 6, ops: Iterable[Op] | None = None,
                shapes: Sequence[tuple] | None = None, max_leaves: int = 3):
    """A strategy for random expression DAGs with sharing over ``sg.symbol`` leaves.

    ``max_nodes``: at most this many ops (plus domain guards); ``ops``: the ops
    to draw from (default :data:`SUPPORTED_OPS`); ``shapes``: the leaves' shapes
    (default: drawn with ``mutually_broadcastable_shapes``); ``max_leaves``: how
    many symbols when ``shapes`` is not given.  Arguments are checked eagerly.

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
    import symgrad as sg

    if fixed is None:
        n = draw(st.integers(1, max_leaves))
        fixed = list(draw(hnp.mutually_broadcastable_shapes(
            num_shapes=n, min_dims=0, max_dims=2, min_side=1, max_side=3)).input_shapes)
    lines = ["import symgrad as sg", "from numeric.kernels import apply",
             "from numeric.ops import Op"]
    pool, names = [], []
    for i, s in enumerate(fixed):
        pool.append(sg.symbol(f"x{i}", shape=s))
        names.append(f"x{i}")
        lines.append(f"x{i} = sg.symbol({f'x{i}'!r}, shape={s!r})")
    symbols = list(pool)
    counter = [0]

    def emit(op: Op, args: list, attrs: dict) -> int:
        node = apply(op, *[pool[a] if isinstance(a, int) else a for a in args], **attrs)
        name = f"v{counter[0]}"
        counter[0] += 1
        text = ", ".join([f"Op.{op.name}"] + [names[a] if isinstance(a, int) else repr(a)
                                               for a in args]
                         + [f"{k}={v!r}" for k, v in attrs.items()])
        lines.append(f"{name} = apply({text})")
        pool.append(node)
        names.append(name)
        return len(pool) - 1

    def guarded(op: Op, pos: int, a: int) -> int:
        kind = _GUARD.get(OP_DB[op].domain(pos).name)
        if kind == "pos":  # sigmoid(a) + 0.5 lies in (0.5, 1.5)
            return emit(Op.ADD, [emit(Op.SIGMOID, [a], {}), 0.5], {})
        if kind == "sigmoid":
            return emit(Op.SIGMOID, [a], {})
        if kind == "sin":
            return emit(Op.SIN, [a], {})
        return a

    n_ops = draw(st.integers(1, max_nodes))
    for _ in range(n_ops):
        op = draw(st.sampled_from(ops))
        arity = 2 if op in BINARY else 1
        # prefer recent nodes so expressions grow deep, but any node may be reused
        args = [draw(st.integers(0, len(pool) - 1).map(lambda k, n=len(pool): n - 1 - k))
                for _ in range(arity)]
        args = [guarded(op, p, a) for p, a in enumerate(args)]
        ndim = len(pool[args[0]].shape)
        attrs: dict = {}
        if op in REDUCE:
            attrs = ({"axis": None, "keepdims": False} if ndim == 0 or draw(st.booleans())
                     else {"axis": (ndim - 1,), "keepdims": True})
        elif op in NORMALIZE:
            if ndim == 0:
                op, attrs = Op.EXP, {}
            else:
                attrs = {"axis": ndim - 1}
        elif op is Op.CLAMP:
            attrs = {"min": -0.5, "max": 0.75}
        emit(op, args, attrs)
    from numeric.graph import toposort
    out = len(pool) - 1
    users: dict[int, int] = {}
    for node in toposort([pool[out]]):
        for i in node.inputs:
            users[id(i)] = users.get(id(i), 0) + 1
    if max(users.values(), default=0) < 2:  # force sharing: reuse an input of the output
        first = next(k for k, n in enumerate(pool) if n is pool[out].inputs[0])
        out = emit(Op.ADD, [out, first], {})
    lines.append(f"expr = {names[out]}")
    present = {id(n) for n in toposort([pool[out]])}
    used = [s for s in symbols if id(s) in present]
    return Expression(pool[out], used, "\n".join(lines), counter[0])


def points(expr: Expression, *, margin: float = KINK_MARGIN):
    """A strategy for one point (a list of arrays, one per symbol) inside the domain.

    Every node's inputs are checked against its op's domain and kinks; points
    that fail (or are too ill-conditioned for float64) are rejected.
    """
    if not isinstance(expr, Expression):
        raise TypeError(f"points(expr): expr must be an Expression drawn from expressions(), "
                        f"got {type(expr).__name__}")
    if not isinstance(margin, (int, float)) or margin < 0:
        raise ValueError(f"points(margin={margin!r}) must be a non-negative number")
    from numeric.graph import toposort
    order = toposort([expr.node])
    elements = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False, width=64)

    @st.composite
    def _points(draw):
        vals = [draw(hnp.arrays(np.float64, tuple(s.shape), elements=elements))
                for s in expr.symbols]
        bind = {id(s): v for s, v in zip(expr.symbols, vals)}
        with np.errstate(all="ignore"):
            _, new, rho, _ = replay(expr.node, bind, expr.symbols)
            assume(_admissible(order, new, margin) and rho <= MAX_RHO)
        return vals

    return _points()
