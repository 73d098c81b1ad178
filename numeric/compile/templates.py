"""The inline source templates of compiled programs: one table, checked against the rules.

A template is numpy (or ``math``) source for what ``FORWARD[op]`` or ``VJP[op][i]``
computes, with ``{0}``, ``{1}`` for the inputs, ``{g}`` for the cotangent, ``{out}``
for the op's result, and ``{shape0}``/``{count0}`` for the first input's shape and
size.  Every template lives in :data:`INLINE` or in the selection functions below
(which pick a cheaper form when an exponent is a known constant, a reduction is
full, a matmul is 2-D); nothing else in :mod:`numeric.compile` writes derivative
source.  ``tests/numeric/test_compile_templates.py`` evaluates each of them on
random inputs (broadcast shapes, float32 and float64) against ``FORWARD`` and
``VJP``, so a template that drifts from the rule table fails a test; at build time
every inlined array template is also checked on the trace (Note [Validated inlining]).

>>> INLINE[Op.MUL].vjp[0]
('{g} * {1}', True)
>>> forward_template(Op.POW, {}, (3,), 2.0)
('np.square({0})', 'np.square')
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

from numeric.ops import Op

__all__ = ["Inline", "INLINE", "MATH", "SMALL", "forward_template", "vjp_template",
           "lazy_template", "fill"]


class Inline(NamedTuple):
    """The inline forms of one op.

    ``forward``: operator form over the inputs; ``ufunc``: the ufunc that takes
    ``out=`` for buffer reuse (or None).  ``vjp``: per input ``(template, result is
    a fresh array)`` or None (call ``VJP``).  ``lazy``: per input how its cotangent
    follows from the output's up to a factor (see :func:`lazy_template`).
    ``scalar``/``scalar_vjp``: the same over Python floats and the ``math``
    functions of :data:`MATH` (Note [Scalar programs]).
    """

    forward: str | None = None
    ufunc: str | None = None
    vjp: tuple[tuple[str, bool] | None, ...] | None = None
    lazy: tuple[tuple[str, str | None, float] | None, ...] | None = None
    scalar: str | None = None
    scalar_vjp: tuple[str, ...] | None = None


_ID, _NEG = ("id", None, 1.0), ("id", None, -1.0)

INLINE: dict[Op, Inline] = {
    Op.ADD: Inline("{0} + {1}", "np.add", (("{g}", False), ("{g}", False)), (_ID, _ID),
                   "{0} + {1}", ("{g}", "{g}")),
    Op.SUB: Inline("{0} - {1}", "np.subtract", (("{g}", False), ("-{g}", True)), (_ID, _NEG),
                   "{0} - {1}", ("{g}", "-{g}")),
    Op.MUL: Inline("{0} * {1}", "np.multiply", (("{g} * {1}", True), ("{g} * {0}", True)),
                   (("mul", "{1}", 1.0), ("mul", "{0}", 1.0)),
                   "{0} * {1}", ("{g} * {1}", "{g} * {0}")),
    Op.DIV: Inline("{0} / {1}", "np.true_divide", (("{g} / {1}", True), None), None,
                   "{0} / {1}", ("{g} / {1}", "-{g} * {out} / {1}")),
    Op.NEG: Inline("-{0}", "np.negative", (("-{g}", True),), (_NEG,), "-{0}", ("-{g}",)),
    Op.EXP: Inline("np.exp({0})", "np.exp", (("{g} * {out}", True),), (("mul", "{out}", 1.0),),
                   "_exp({0})", ("{g} * {out}",)),
    Op.LOG: Inline("np.log({0})", "np.log", None, None, "_log({0})", ("{g} / {0}",)),
    Op.SIN: Inline("np.sin({0})", "np.sin", (("{g} * np.cos({0})", True),), None,
                   "_sin({0})", ("{g} * _cos({0})",)),
    Op.COS: Inline("np.cos({0})", "np.cos", None, None, "_cos({0})", ("-{g} * _sin({0})",)),
    Op.TANH: Inline("np.tanh({0})", "np.tanh", (("{g} * (1 - {out} * {out})", True),), None,
                    "_tanh({0})", ("{g} * (1.0 - {out} * {out})",)),
    Op.SQRT: Inline("np.sqrt({0})", "np.sqrt", None, None,
                    "_sqrt({0})", ("{g} / (2.0 * {out})",)),
    Op.MATMUL: Inline("{0} @ {1}"),                          # VJP: MATMUL_2D, 2-D only
    Op.RELU: Inline("np.maximum({0}, 0)", None, (("{g} * ({0} > 0)", True),)),
    # for a constant y != 0 only; a constant scalar y gets forward_template's forms
    Op.POW: Inline("{0} ** {1}", "np.power", (("{g} * ({1} * {0} ** ({1} - 1))", True), None)),
    # forward: forward_template; VJP: only for axis=None (see vjp_template)
    Op.SUM: Inline(None, None, (("np.broadcast_to({g}, {shape0})", False),)),
    Op.MEAN: Inline(None, None, (("np.broadcast_to({g} / {count0}, {shape0})", False),)),
}
# the VJP of a 2-D matmul needs no expand_dims dance
MATMUL_2D = (("{g} @ {1}.T", True), ("{0}.T @ {g}", True))
# the gradient of W through P = W.T read by a 2-D matmul, C-contiguous (see backward.py)
MATMUL_2D_THROUGH_T = ("{1} @ {g}.T", "{g}.T @ {0}")
# below this many elements np.full beats np.broadcast_to's Python overhead
SMALL = 1 << 16
# the math functions of the scalar templates, as globals of the generated code
MATH = {"_sin": math.sin, "_cos": math.cos, "_tanh": math.tanh, "_exp": math.exp,
        "_log": math.log, "_sqrt": math.sqrt}


def forward_template(op: Any, attrs: dict, x_shape: tuple | None,
                     y_const: float | None) -> tuple[str, str | None] | None:
    """``(operator form, ufunc for out=)`` of ``op``, or None to call ``FORWARD``.

    ``x_shape``: the first input's shape (a mean divides by its count); ``y_const``:
    the second input as a Python float when it is a constant 0-d float, else None.
    """
    if op is Op.POW:
        if y_const == 2.0:
            return "np.square({0})", "np.square"
        return ("{0} ** %r" % y_const, None) if y_const is not None else INLINE[op][:2]
    if op in (Op.SUM, Op.MEAN):
        axis, keepdims = attrs.get("axis"), bool(attrs.get("keepdims", False))
        red = "np.add.reduce({0}, axis=%r, keepdims=%r)" % (axis, keepdims)
        if op is Op.SUM:
            return red, None
        if x_shape is None:
            return None
        n = math.prod(x_shape[a] for a in (range(len(x_shape)) if axis is None else axis))
        return f"{red} / {n}", None
    entry = INLINE.get(op)
    return entry[:2] if entry is not None and entry.forward is not None else None


def vjp_template(op: Any, i: int, attrs: dict, shapes: Sequence[tuple],
                 y_const: float | None = None,
                 y_nonzero: bool = False) -> tuple[str, bool] | None:
    """``(template, result is fresh)`` for input ``i`` of ``op``, or None to call ``VJP``.

    ``shapes``: the inputs' shapes; ``y_const`` as for :func:`forward_template`;
    ``y_nonzero``: the second input is a constant with no zero element (pow).
    """
    if op is Op.MATMUL:
        return MATMUL_2D[i] if all(len(s) == 2 for s in shapes) else None
    if op in (Op.SUM, Op.MEAN) and (attrs.get("axis") is not None or attrs.get("keepdims")):
        return None
    if op is Op.POW:
        if not y_nonzero:
            return None
        c = y_const
        if i == 0 and c is not None:
            return ("{g} * (%r * {0})" % c if c == 2.0
                    else "{g} * (%r * {0} ** %r)" % (c, c - 1), True)
    if math.prod(shapes[0]) <= SMALL:
        if op is Op.MEAN:
            return "np.full({shape0}, {g} / {count0})", True
        if op is Op.SUM:
            return "np.full({shape0}, {g})", True
    entry = INLINE.get(op)
    table = entry.vjp if entry is not None else None
    return table[i] if table is not None and i < len(table) else None


def lazy_template(op: Any, i: int, x_size: int, out_size: int,
                  y_const: float | None) -> tuple[str, str | None, float] | None:
    """How input ``i``'s cotangent follows from the output's, up to a scale factor.

    ``("id", None, f)``: it is ``f`` times the output cotangent (add, sub, neg,
    division by a constant); ``("sum", None, f)``: a reduction, whose input
    cotangent is uniform when the output's is; ``("mul", F, f)``: ``g * F * f``
    with ``F`` a template over saved values.  None: use the op's VJP.
    ``x_size``/``out_size``: element counts of the first input and the result.
    """
    if op is Op.DIV:
        return ("id", None, 1.0 / y_const) if i == 0 and y_const else None
    if op is Op.SUM or op is Op.MEAN:
        return ("sum", None, 1.0 if op is Op.SUM else 1.0 / (x_size / max(out_size, 1)))
    if op is Op.POW:
        c = y_const
        if i != 0 or c is None or c == 0:
            return None
        if c == 1.0:
            return _ID
        return ("mul", "{0}" if c == 2.0 else "{0} ** %r" % (c - 1), c)
    entry = INLINE.get(op) if op.__class__ is Op else None
    return entry.lazy[i] if entry is not None and entry.lazy is not None else None


def fill(template: str, names: Sequence[str], g: str, out: str, shape0: tuple) -> str:
    """``template`` with its placeholders replaced by source text."""
    return template.format(*names, g=g, out=out, shape0=repr(shape0),
                           count0=repr(math.prod(shape0)))


class Planner:
    """The templates chosen for one program's instructions, given its slots and shapes.

    ``shapes`` maps slot -> ``(shape, dtype)``; the forward emitter fills it while it
    probes, so the planner sees every slot before that slot's instruction is planned.
    With ``inline=False`` no array template is chosen (every op calls its table).
    """

    __slots__ = ("slots", "shapes", "inline")

    def __init__(self, slots: Any, shapes: dict, inline: bool) -> None:
        self.slots, self.shapes, self.inline = slots, shapes, inline

    def _y_const(self, ins: Any) -> float | None:
        return self.slots.const_scalar(ins.args[1]) if len(ins.args) > 1 else None

    def forward(self, ins: Any) -> tuple[str, str | None] | None:
        if not self.inline:
            return None
        x = ins.args[0] if ins.args else None
        x_shape = self.shapes[x][0] if x in self.shapes else None
        return forward_template(ins.op, ins.attrs, x_shape, self._y_const(ins))

    def vjp(self, ins: Any, i: int) -> tuple[str, bool] | None:
        if not self.inline:
            return None
        nonzero = ins.op is Op.POW and self.slots.const_nonzero(ins.args[1])
        return vjp_template(ins.op, i, ins.attrs, [self.shapes[a][0] for a in ins.args],
                            self._y_const(ins), nonzero)

    def lazy(self, ins: Any, i: int) -> tuple[str, str | None, float] | None:
        return lazy_template(ins.op, i, math.prod(self.shapes[ins.args[0]][0]),
                             math.prod(self.shapes[ins.slot][0]), self._y_const(ins))

    def fill(self, template: str, ins: Any, names: Sequence[str], g: str, out: str) -> str:
        return fill(template, names, g, out, self.shapes[ins.args[0]][0])
