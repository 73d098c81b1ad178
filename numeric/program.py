"""Compiled programs: a traced graph flattened into straight-line numpy.

A :class:`Program` takes the nodes of a traced graph (the node protocol of
:mod:`numeric.ops`: ``op``, ``inputs``, ``attrs``, ``value``) and turns them into
two Python functions of plain numpy calls over numbered slots, a Wengert list:

``forward(*input_values) -> (outputs, saved)``
    every op once, in topological order;
``backward(saved, *output_cotangents) -> gradients``
    the reversed list of VJP calls, only for the inputs in ``wrt``.

Optimisations, each recorded in ``program.stats``:

* constant folding: an op none of whose ancestors is an input is computed once
  when the program is built (``stats["folded"]``);
* common-subexpression elimination: the same op on the same slots with equal
  attrs is computed once (``stats["cse"]``);
* dead-code elimination: no forward work that no output needs
  (``stats["dead"]``), and no VJP for a slot on no path to ``wrt`` -- the data
  matrix ``X`` of a regression gets no gradient instructions;
* inlining: common ops become numpy operators and ufuncs instead of calls through
  ``FORWARD``/``VJP`` (Note [Validated inlining]);
* buffer reuse: an inlined ufunc writes into a dead temporary of its own shape
  and dtype with ``out=`` (``stats["reused"]``); fan-out cotangents accumulate
  in place when the accumulator is a fresh array the program owns.

The schedule is emitted as Python source (``program.source``, also
``str(program)``) and compiled with :func:`compile`; the source is generated
here from the graph's ops and never contains user text: values and attrs that
are not plain literals are passed in as named globals.

Note [Validated inlining]
    An inlined template must compute exactly what ``FORWARD``/``VJP`` compute.
    When the program is built it runs once in probe mode on the trace's values:
    every template is evaluated next to the table's callable and kept only if
    the dtype, shape and every element agree; otherwise the table's callable is
    emitted.  The probe also records each cotangent's shape and dtype, so
    ``unbroadcast`` is emitted only where they differ from the input's.

Note [Lazy cotangent scale]
    Every VJP is linear in its cotangent ``g``, so a backward can carry a cotangent
    as ``scale * array`` and apply the scale once, where it is cheapest.  Scales come
    from the unit cotangent of ``loss.backward()`` (:meth:`Program.backward_unit`,
    known when the code is generated, so no ones array is made), a mean's ``1/N``,
    a square's ``2``, a negation, a division by a constant.  A uniform cotangent
    (the ones, or a sum's broadcast of a scalar) stays symbolic until an instruction
    needs it as an array: ``d(x * y)/dx`` of a uniform ``g`` is just ``y``, an
    alias.  Two placements are emitted -- the scale applied at the first instruction
    that is not a pure alias (``"early"``: 2 * r once in the seed loop) or only where
    it must be (``"late"``: on the 100-element gradient instead of the 10^4-element
    residual in linear regression) -- and the cheaper by a per-line cost model is
    kept if it agrees with the plain backward on the trace's values (to 1e-8
    relative in float64; otherwise the plain one is used).  The lazy variants also
    take the gradient of ``W`` in ``x @ W.T`` as ``g.T @ x`` (C-contiguous, ``W``'s
    layout) rather than ``(x.T @ g).T``, a transposed view that would make the
    optimizer's update walk memory in strided order.  A returned gradient that
    would alias an input, a saved value or a cotangent is copied: it becomes
    ``.grad``, which the caller owns.

>>> import numpy as np
>>> from numeric.ops import Op
>>> class N:                                  # any object with the node protocol
...     def __init__(self, op=None, inputs=(), value=None, **attrs):
...         self.op, self.inputs, self.attrs, self.value = op, inputs, attrs, value
>>> x, w = N(value=np.ones((3, 2))), N(value=np.full(2, 0.5))
>>> loss = N(Op.SUM, (N(Op.MUL, (x, w)),), axis=None, keepdims=False)
>>> p = Program([loss], inputs=[x, w], wrt=[w])
>>> (value,), saved = p.forward(np.ones((3, 2)), np.array([1.0, 2.0]))
>>> value
array(9.)
>>> p.backward(saved, np.array(1.0))
(array([3., 3.]),)
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable, Sequence

import numpy as np

from numeric.graph import toposort
from numeric.kernels import FORWARD
from numeric.ops import VARIADIC, Op
from numeric.vjps import VJP, unbroadcast

__all__ = ["Program"]

# forward templates: op -> (operator form, ufunc name for out= reuse or None)
_FWD_INLINE: dict[Op, tuple[str, str | None]] = {
    Op.ADD: ("{0} + {1}", "np.add"),
    Op.SUB: ("{0} - {1}", "np.subtract"),
    Op.MUL: ("{0} * {1}", "np.multiply"),
    Op.DIV: ("{0} / {1}", "np.true_divide"),
    Op.NEG: ("-{0}", "np.negative"),
    Op.EXP: ("np.exp({0})", "np.exp"),
    Op.LOG: ("np.log({0})", "np.log"),
    Op.SIN: ("np.sin({0})", "np.sin"),
    Op.COS: ("np.cos({0})", "np.cos"),
    Op.TANH: ("np.tanh({0})", "np.tanh"),
    Op.SQRT: ("np.sqrt({0})", "np.sqrt"),
    Op.MATMUL: ("{0} @ {1}", None),
    Op.RELU: ("np.maximum({0}, 0)", None),
    Op.POW: ("{0} ** {1}", "np.power"),
}
# VJP templates over g, out and the inputs {0}, {1}; (template, result is a fresh array)
_VJP_INLINE: dict[Op, tuple[tuple[str, bool] | None, ...]] = {
    Op.ADD: (("{g}", False), ("{g}", False)),
    Op.SUB: (("{g}", False), ("-{g}", True)),
    Op.MUL: (("{g} * {1}", True), ("{g} * {0}", True)),
    Op.DIV: (("{g} / {1}", True), None),
    Op.NEG: (("-{g}", True),),
    Op.EXP: (("{g} * {out}", True),),
    Op.SIN: (("{g} * np.cos({0})", True),),
    Op.TANH: (("{g} * (1 - {out} * {out})", True),),
    Op.RELU: (("{g} * ({0} > 0)", True),),
    Op.SUM: (("np.broadcast_to({g}, {shape0})", False),),      # only for axis=None
    Op.MEAN: (("np.broadcast_to({g} / {count0}, {shape0})", False),),
    Op.POW: (("{g} * ({1} * {0} ** ({1} - 1))", True), None),  # only for a constant y != 0
}
# below this many elements np.full beats np.broadcast_to's Python overhead
_SMALL = 1 << 16
# cost model of an emitted line, in array elements: ~1 us of call overhead ~ 1000 elements
_LINE_COST = 1000
# 2-D matmul needs no expand_dims dance
_MATMUL_2D = (("{g} @ {1}.T", True), ("{0}.T @ {g}", True))


def _literal(v: Any) -> bool:
    """True for values whose ``repr`` is a Python literal that reads back equal."""
    if v is None or isinstance(v, (bool, int, str)):
        return True
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, tuple):
        return all(_literal(e) for e in v)
    return False


def _freeze(v: Any) -> Any:
    """A hashable stand-in for an attr value, equal exactly when the values are equal."""
    if isinstance(v, np.ndarray):
        return ("ndarray", v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, (tuple, list)):
        return (type(v).__name__,) + tuple(_freeze(e) for e in v)
    if isinstance(v, slice):
        return ("slice", _freeze(v.start), _freeze(v.stop), _freeze(v.step))
    if isinstance(v, dict):
        return ("dict",) + tuple(sorted((k, _freeze(e)) for k, e in v.items()))
    if isinstance(v, np.dtype):
        return ("dtype", v.str)
    if isinstance(v, type):
        return ("type", np.dtype(v).str) if issubclass(v, np.generic) else ("type", id(v))
    hash(v)
    return (type(v).__name__, v)


def _kernel(op: Any) -> Callable[..., Any]:
    """``op``'s forward: numeric's table, or a user-defined op's own ``forward``."""
    return FORWARD[op] if op.__class__ is Op else op.forward


def _rules(op: Any) -> tuple:
    """``op``'s VJPs: numeric's table, or a user-defined op's own ``vjp`` tuple."""
    return VJP[op] if op.__class__ is Op else op.vjp


def _label(op: Any, slot: int) -> str:
    """An identifier for ``op``'s function in generated code.

    A user-defined op is named after itself and its slot: two ops may share a
    name (``sg.autograd.Function`` makes one op per call).
    """
    if op.__class__ is Op:
        return op.name
    name = re.sub(r"\W", "_", str(getattr(op, "name", "op")))
    return f"{name}_{slot}"


def _same(a: Any, b: Any) -> bool:
    """Exact agreement of two results (0-d arrays and numpy scalars count as equal)."""
    if a is None or b is None:
        return a is b
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    return (a_arr.dtype == b_arr.dtype and a_arr.shape == b_arr.shape
            and np.array_equal(a_arr, b_arr, equal_nan=a_arr.dtype.kind in "fc"))


class _Instr:
    __slots__ = ("slot", "op", "args", "attrs")

    def __init__(self, slot: int, op: Op, args: tuple[int, ...], attrs: dict) -> None:
        self.slot, self.op, self.args, self.attrs = slot, op, args, attrs


class _Ct:
    """A cotangent while the backward is emitted: ``scale * array``.

    ``name`` is the variable holding the array part and ``val`` its probe value;
    ``name=None`` stands for ones of ``shape``/``dtype`` (a uniform cotangent, never
    materialised until an instruction needs it).  ``owned``: a fresh array nothing
    else refers to (may be written in place).  The scale is ``var * c``: ``var`` a
    Python-float variable of the generated code (None: 1), ``c`` a build-time float.
    """

    __slots__ = ("name", "val", "owned", "var", "c", "shape", "dtype")

    def __init__(self, name: str | None, val: Any, owned: bool, var: str | None = None,
                 c: float = 1.0, shape: tuple = (), dtype: Any = None) -> None:
        self.name, self.val, self.owned, self.var, self.c = name, val, owned, var, c
        self.shape, self.dtype = shape, dtype


class Program:
    """A traced graph compiled to a forward and a backward function of numpy calls.

    Arguments:
        outputs: the nodes to compute.
        inputs: leaf nodes whose values are passed to :meth:`forward`, in order; their
            ``value`` is the example used to build and check the program.  Every other
            leaf the outputs depend on is a constant, baked in.
        wrt: the inputs to differentiate with respect to (default: those whose
            ``requires_grad`` is true).
        inline: emit numpy operators for common ops (validated, see the module notes);
            ``False`` calls ``FORWARD``/``VJP`` everywhere.

    ``program.forward(*values)`` returns ``(outputs, saved)``;
    ``program.backward(saved, *cotangents)`` returns one gradient per ``wrt`` input
    (``None`` for an input that no output depends on).  A cotangent may be ``None``
    for an output that gets no gradient.  See the module docstring for an example.
    """

    __slots__ = ("inputs", "wrt", "outputs", "source", "stats", "forward",
                 "_backwards", "_instrs", "_slots", "_consts", "_shapes", "_needs",
                 "_out_slots", "_in_slots", "_wrt_slots", "_inline", "_fwd_src", "_globals",
                 "_probe", "_np_forward", "_scalar_backward", "_scalar_backwards")

    def __init__(self, outputs: Sequence[Any], inputs: Sequence[Any], *,
                 wrt: Sequence[Any] | None = None, inline: bool = True) -> None:
        outputs, inputs = tuple(outputs), tuple(inputs)
        if wrt is None:
            wrt = tuple(n for n in inputs if getattr(n, "requires_grad", False))
        wrt = tuple(wrt)
        index = {id(n): k for k, n in enumerate(inputs)}
        if len(index) != len(inputs):
            raise ValueError("Program: the same node is listed twice in inputs")
        for n in wrt:
            if id(n) not in index:
                raise ValueError("Program: every wrt node must also be one of the inputs")
        self.inputs, self.wrt, self.outputs, self._inline = inputs, wrt, outputs, inline
        self.stats = {"nodes": 0, "folded": 0, "cse": 0, "dead": 0, "reused": 0,
                      "inlined": 0, "backward_calls": 0}
        self._build_slots(outputs, inputs, index)
        self._wrt_slots = tuple(self._in_slots[index[id(n)]] for n in wrt)
        self._eliminate_dead()
        self._mark_needs()
        self._backwards: dict[tuple[bool, ...], Callable] = {}
        self._probe: dict[int, Any] = {}
        self._emit_forward()
        self._scalar_backward = None
        self._scalar_backwards: dict[tuple[bool, ...], Callable] = {}
        self._try_scalar()

    # -- building ---------------------------------------------------------------

    def _build_slots(self, outputs, inputs, index) -> None:
        slots: list[tuple[str, Any]] = []          # (kind, payload) kind in in/const/tmp
        consts: dict[int, Any] = {}                 # slot -> value
        of: dict[int, int] = {}                     # id(node) -> slot
        in_slots = []
        for k, n in enumerate(inputs):
            of[id(n)] = len(slots)
            in_slots.append(len(slots))
            slots.append(("in", k))
        instrs: list[_Instr] = []
        seen: dict[Any, int] = {}
        order = toposort(list(outputs))
        self.stats["nodes"] = len(order)
        for node in order:
            if id(node) in of:
                continue
            op = node.op
            if op is None:
                if node.value is None:
                    raise ValueError(
                        f"Program: leaf {getattr(node, 'name', None) or node!r} has no value "
                        "and is not listed in inputs; bind a value or pass it as an input")
                of[id(node)] = len(slots)
                consts[len(slots)] = node.value
                slots.append(("const", None))
                continue
            args = tuple(of[id(i)] for i in node.inputs)
            attrs = dict(node.attrs)
            if all(slots[a][0] == "const" for a in args):
                value = _kernel(op)(*(consts[a] for a in args), **attrs)
                of[id(node)] = len(slots)
                consts[len(slots)] = value
                slots.append(("const", None))
                self.stats["folded"] += 1
                continue
            try:
                key = (op, args, _freeze(attrs))
            except TypeError:                       # unhashable attr: no CSE for this node
                key = None
            if key is not None and key in seen:
                of[id(node)] = seen[key]
                self.stats["cse"] += 1
                continue
            slot = len(slots)
            slots.append(("tmp", None))
            instrs.append(_Instr(slot, op, args, attrs))
            of[id(node)] = slot
            if key is not None:
                seen[key] = slot
        self._slots, self._consts, self._instrs = slots, consts, instrs
        self._in_slots = tuple(in_slots)
        self._out_slots = tuple(of[id(n)] for n in outputs)

    def _eliminate_dead(self) -> None:
        live = set(self._out_slots)
        kept = []
        for ins in reversed(self._instrs):
            if ins.slot in live:
                live.update(ins.args)
                kept.append(ins)
        self.stats["dead"] = len(self._instrs) - len(kept)
        self._instrs = kept[::-1]
        for s in [s for s in self._consts if s not in live]:
            del self._consts[s]

    def _mark_needs(self) -> None:
        """Which slots lie on a path from a ``wrt`` input (they carry cotangents)."""
        needs = set(self._wrt_slots)
        for ins in self._instrs:
            if any(a in needs for a in ins.args):
                needs.add(ins.slot)
        self._needs = needs

    # -- naming -------------------------------------------------------------------

    def _name(self, s: int) -> str:
        kind, payload = self._slots[s]
        return {"in": "x", "const": "c", "tmp": "t"}[kind] + str(payload if kind == "in" else s)

    def _attr_src(self, ins: _Instr, glob: dict) -> str:
        parts = []
        for k, v in ins.attrs.items():
            if _literal(v):
                parts.append(f"{k}={v!r}")
            else:
                name = f"a{ins.slot}_{k}"
                glob[name] = v
                parts.append(f"{k}={name}")
        return ", ".join(parts)

    def _base_globals(self) -> dict:
        glob: dict[str, Any] = {"np": np, "UB": unbroadcast, "_asarray": np.asarray}
        for s, v in self._consts.items():
            glob[self._name(s)] = v
        return glob

    # -- forward --------------------------------------------------------------------

    def _emit_forward(self) -> None:
        """Probe the forward once on the inputs' values, then emit the final code."""
        glob = self._base_globals()
        values: dict[int, Any] = dict(self._consts)
        for k, s in enumerate(self._in_slots):
            v = self.inputs[k].value
            if v is None:
                raise ValueError(f"Program: input {k} has no value to build the program with")
            values[s] = np.asarray(v)
        choice: dict[int, str] = {}                 # slot -> "inline" | "call"
        self._shapes = {s: (np.shape(v), np.asarray(v).dtype) for s, v in values.items()}
        for ins in self._instrs:
            xs = [values[a] for a in ins.args]
            with np.errstate(all="ignore"):
                ref = _kernel(ins.op)(*xs, **ins.attrs)
            use = "call"
            plan = self._fwd_plan(ins)
            if plan is not None:
                src = plan[0].format(*(f"_v[{i}]" for i in range(len(xs))))
                with np.errstate(all="ignore"):
                    got = eval(src, {"np": np, "_v": xs})  # noqa: S307 -- our own template
                if _same(got, ref):
                    use, ref = "inline", got
            choice[ins.slot] = use
            values[ins.slot] = ref
            self._shapes[ins.slot] = (np.shape(ref), np.asarray(ref).dtype)
        self._probe = values
        self._shapes = {s: (np.shape(v), np.asarray(v).dtype) for s, v in values.items()}
        saved = self._saved_slots()
        last_use: dict[int, int] = {}
        for k, ins in enumerate(self._instrs):
            for a in ins.args:
                last_use[a] = k
        keep = set(saved) | set(self._out_slots)
        owned: set[int] = set()
        lines = [f"def forward({', '.join(self._name(s) for s in self._in_slots)}):"]
        for k, ins in enumerate(self._instrs):
            t = self._name(ins.slot)
            names = [self._name(a) for a in ins.args]
            shape, dtype = self._shapes[ins.slot]
            note = f"  # {_label(ins.op, ins.slot).lower()} {shape} {dtype}"
            if choice[ins.slot] == "inline":
                self.stats["inlined"] += 1
                expr, ufunc = self._fwd_plan(ins)
                target = None
                if ufunc is not None and shape:
                    for a in ins.args:
                        if (a in owned and last_use.get(a) == k and a not in keep
                                and self._shapes[a] == (shape, dtype)
                                and ins.args.count(a) == 1):
                            target = a
                            break
                if target is not None:
                    self.stats["reused"] += 1
                    lines.append(f"    {t} = {ufunc}({', '.join(names)}, out={self._name(target)})"
                                 + note + " (in place)")
                else:
                    lines.append(f"    {t} = {expr.format(*names)}" + note)
                if shape and isinstance(values[ins.slot], np.ndarray):
                    owned.add(ins.slot)
            else:
                fn = f"F_{_label(ins.op, ins.slot)}"
                glob[fn] = _kernel(ins.op)
                owned.difference_update(ins.args)   # the result may be a view of them
                attrs = self._attr_src(ins, glob)
                call_args = ", ".join(names + ([attrs] if attrs else []))
                lines.append(f"    {t} = {fn}({call_args})" + note)
        outs = [self._boundary(s) for s in self._out_slots]
        lines.append(f"    return ({''.join(o + ', ' for o in outs)}), "
                     f"({''.join(self._name(s) + ', ' for s in saved)})")
        self._fwd_src = "\n".join(lines)
        self._globals = glob
        code = compile(self._fwd_src, "<symgrad program: forward>", "exec")
        exec(code, glob)  # noqa: S102 -- source generated above from Op templates only
        self.forward = glob["forward"]
        self._np_forward = self.forward
        full = tuple(True for _ in self._out_slots)
        self.source = self._fwd_src + "\n\n" + self._build_backward(full)[1]
        self.stats["backward_calls"] = self.source.count(" = V_")

    def _const_scalar(self, s: int) -> float | None:
        """The value of a constant 0-d float slot as a Python float, else None."""
        if self._slots[s][0] != "const":
            return None
        v = np.asarray(self._consts[s])
        if v.shape != () or v.dtype.kind != "f" or not np.isfinite(v):
            return None
        return float(v)

    def _fwd_plan(self, ins: _Instr) -> tuple[str, str | None] | None:
        """The inline forward template of ``ins`` (operator form, ufunc for ``out=``)."""
        if not self._inline:
            return None
        op = ins.op
        if op is Op.POW:
            c = self._const_scalar(ins.args[1])
            if c == 2.0:
                return "np.square({0})", "np.square"
            return ("{0} ** %r" % c, None) if c is not None else _FWD_INLINE[op]
        if op in (Op.SUM, Op.MEAN):
            axis, keepdims = ins.attrs.get("axis"), bool(ins.attrs.get("keepdims", False))
            red = "np.add.reduce({0}, axis=%r, keepdims=%r)" % (axis, keepdims)
            if op is Op.SUM:
                return red, None
            shape = self._shapes[ins.args[0]][0] if ins.args[0] in self._shapes else None
            if shape is None:
                return None
            n = math.prod(shape[a] for a in (range(len(shape)) if axis is None else axis))
            return f"{red} / {n}", None
        return _FWD_INLINE.get(op)

    def _boundary(self, s: int) -> str:
        """The slot's name, wrapped to an ndarray where the probe saw a numpy scalar."""
        v = self._probe.get(s)
        name = self._name(s)
        return name if isinstance(v, np.ndarray) or s in self._in_slots else f"_asarray({name})"

    # -- backward ---------------------------------------------------------------------

    def _vjp_plan(self, ins: _Instr, i: int) -> tuple[str, bool] | None:
        """The inline template for input ``i`` of ``ins``, or None to call ``VJP``."""
        if not self._inline:
            return None
        if ins.op is Op.MATMUL:
            if all(len(self._shapes[a][0]) == 2 for a in ins.args):
                return _MATMUL_2D[i]
            return None
        if ins.op in (Op.SUM, Op.MEAN) and (ins.attrs.get("axis") is not None
                                             or ins.attrs.get("keepdims")):
            return None
        if ins.op is Op.POW:
            y = ins.args[1]
            if self._slots[y][0] != "const" or not np.all(np.asarray(self._consts[y]) != 0):
                return None
            c = self._const_scalar(y)
            if i == 0 and c is not None:
                return ("{g} * (%r * {0})" % c if c == 2.0
                        else "{g} * (%r * {0} ** %r)" % (c, c - 1), True)
        if math.prod(self._shapes[ins.args[0]][0]) <= _SMALL:
            if ins.op is Op.MEAN:
                return "np.full({shape0}, {g} / {count0})", True
            if ins.op is Op.SUM:
                return "np.full({shape0}, {g})", True
        table = _VJP_INLINE.get(ins.op)
        return table[i] if table is not None and i < len(table) else None

    def _fmt(self, template: str, ins: _Instr, names: Sequence[str], g: str, out: str) -> str:
        shape0 = self._shapes[ins.args[0]][0]
        return template.format(*names, g=g, out=out, shape0=repr(shape0),
                               count0=repr(math.prod(shape0)))

    def _saved_slots(self) -> list[int]:
        """Forward values the backward reads (inputs and temporaries, never constants)."""
        saved: list[int] = []
        for ins in self._instrs:
            if ins.slot not in self._needs:
                continue
            for i, a in enumerate(ins.args):
                if a not in self._needs:
                    continue
                plan = self._vjp_plan(ins, i)
                if plan is None:
                    used = (ins.slot,) + ins.args
                else:
                    used = tuple(ins.args[j] for j in range(len(ins.args))
                                 if "{%d}" % j in plan[0])
                    used += (ins.slot,) if "{out}" in plan[0] else ()
                for u in used:
                    if self._slots[u][0] != "const" and u not in saved:
                        saved.append(u)
        return saved

    def _try_scalar(self) -> None:
        """Use a Python-float program if the probe agrees (Note [Scalar programs])."""
        built = _scalar_program(self)
        if built is None:
            return
        fwd, backward_for = built
        values = [np.asarray(n.value) for n in self.inputs]
        try:
            outs, saved = fwd(*values)
            ref_outs, ref_saved = self._np_forward(*values)
            cts = [_probe_cotangent((), np.dtype(np.float64)) for _ in outs]
            mask = tuple(True for _ in outs)
            grads = backward_for(mask)(saved, *cts)
            ref = self._numpy_backward(ref_saved, cts)
        except (ArithmeticError, ValueError):
            return
        for a, b in zip(list(outs) + list(grads), list(ref_outs) + list(ref)):
            if (a is None) != (b is None) or (a is not None and not np.allclose(
                    a, b, rtol=1e-13, atol=0, equal_nan=True)):
                return
        np_forward = self._np_forward

        def forward(*xs: Any) -> tuple:
            try:
                return fwd(*xs)
            except (ArithmeticError, ValueError):
                return np_forward(*xs)
        self.forward = forward
        self._scalar_backward = backward_for
        self.stats["scalar"] = True

    def _numpy_backward(self, saved: tuple, cotangents: Sequence[Any]) -> tuple:
        if len(cotangents) == 1 and cotangents[0] is not None:
            fn = self._backwards.get((True,))
            if fn is not None:
                return fn(saved, cotangents[0])
        mask = tuple(c is not None for c in cotangents)
        fn = self._backwards.get(mask)
        if fn is None:
            fn = self._build_backward(mask)[0]
        return fn(saved, *(c for c in cotangents if c is not None))

    def backward(self, saved: tuple, *cotangents: Any) -> tuple:
        """Gradients of the ``wrt`` inputs given one cotangent per output (or None)."""
        if len(cotangents) != len(self._out_slots):
            raise ValueError(f"Program.backward: expected {len(self._out_slots)} cotangent(s), "
                             f"got {len(cotangents)}")
        if type(saved) is _ScalarSaved:
            mask = tuple(c is not None for c in cotangents)
            fn = self._scalar_backwards.get(mask)
            if fn is None:
                fn = self._scalar_backwards[mask] = self._scalar_backward(mask)
            try:
                return fn(saved, *(c for c in cotangents if c is not None))
            except (ArithmeticError, ValueError):
                # redo the whole call in numpy: the inputs lead the saved values
                saved = self._np_forward(*saved[:len(self._in_slots)])[1]
        return self._numpy_backward(saved, cotangents)

    def backward_unit(self, saved: tuple, index: int = 0) -> tuple:
        """``backward`` with cotangent one (every element) for output ``index``, None for the rest.

        The training-loop case (``loss.backward()``): the unit cotangent is known when
        the code is generated, so it costs no instruction (Note [Lazy cotangent scale]).

        >>> import numpy as np
        >>> from numeric.ops import Op
        >>> class N:
        ...     def __init__(self, op=None, inputs=(), value=None, **attrs):
        ...         self.op, self.inputs, self.attrs, self.value = op, inputs, attrs, value
        ...         self.requires_grad = op is None
        >>> x = N(value=np.array([1.0, 2.0]))
        >>> p = Program([N(Op.MEAN, (N(Op.MUL, (x, x)),), axis=None, keepdims=False)], [x])
        >>> p.backward_unit(p.forward(np.array([3.0, 4.0]))[1])
        (array([3., 4.]),)
        """
        fn = self._backwards.get(index)
        if fn is None:
            if not 0 <= index < len(self._out_slots):
                raise IndexError(f"Program.backward_unit: output {index} does not exist; the "
                                 f"program has {len(self._out_slots)} output(s)")
            fn = self._build_backward(None, index)[0]
        if type(saved) is _ScalarSaved:
            shape, dtype = self._shapes[self._out_slots[index]]
            cts = [None] * len(self._out_slots)
            cts[index] = np.ones(shape, dtype)
            return self.backward(saved, *cts)
        return fn(saved)

    def _build_backward(self, mask: tuple[bool, ...] | None,
                        unit: int | None = None) -> tuple[Callable, str]:
        """Compile, check and cache the backward for ``mask`` (or output ``unit`` with a
        unit cotangent): the cheaper lazy-scale variant if it agrees with the plain one
        on the trace's values (Note [Lazy cotangent scale]), else the plain one."""
        built = []
        for policy in ("plain", "early", "late") if self._inline else ("plain",):
            src, glob, cost = self._backward_source(mask, unit, policy)
            exec(compile(src, "<symgrad program: backward>", "exec"), glob)  # noqa: S102
            built.append((cost, src, glob["backward"]))
        fn, src = built[0][2], built[0][1]
        if len(built) > 1:
            for cost, lazy_src, lazy_fn in sorted(built[1:], key=lambda b: b[0]):
                if cost < built[0][0] and self._agrees(lazy_fn, fn, mask, unit):
                    fn, src = lazy_fn, lazy_src
                    break
        self._backwards[unit if mask is None else mask] = fn
        return fn, src

    def _agrees(self, fn: Callable, ref_fn: Callable, mask: tuple[bool, ...] | None,
                unit: int | None) -> bool:
        """Do two backward functions give the same gradients on the trace's values?"""
        try:
            saved = self._np_forward(*(np.asarray(n.value) for n in self.inputs))[1]
            if mask is None:
                got, ref = fn(saved), ref_fn(saved)
            else:
                cts = [_probe_cotangent(*self._shapes[s])
                       for s, m in zip(self._out_slots, mask) if m]
                got, ref = fn(saved, *cts), ref_fn(saved, *cts)
        except Exception:  # noqa: BLE001 -- any failure means: keep the plain backward
            return False
        for a, b in zip(got, ref):
            if a is None or b is None:
                if a is not b:
                    return False
                continue
            a, b = np.asarray(a), np.asarray(b)
            if a.shape != b.shape or a.dtype != b.dtype:
                return False
            tol = 1e-8 if a.dtype.itemsize >= 8 and a.dtype.kind == "f" else 1e-3
            with np.errstate(all="ignore"):
                scale = float(np.max(np.abs(b))) if b.size else 0.0
                if not np.allclose(a, b, rtol=tol, atol=tol * scale, equal_nan=True):
                    return False
        return True

    def _lazy_plan(self, ins: _Instr, i: int) -> tuple[str, str | None, float] | None:
        """How input ``i``'s cotangent follows from the output's, up to a scale factor.

        ``("id", None, f)``: it is ``f`` times the output cotangent (add, sub, neg,
        division by a constant); ``("sum", None, f)``: a reduction, whose input
        cotangent is uniform when the output's is; ``("mul", F, f)``: ``g * F * f``
        with ``F`` a template over saved values.  None: use the op's VJP.
        """
        op, args = ins.op, ins.args
        if op is Op.ADD:
            return ("id", None, 1.0)
        if op is Op.SUB:
            return ("id", None, 1.0 if i == 0 else -1.0)
        if op is Op.NEG:
            return ("id", None, -1.0)
        if op is Op.DIV and i == 0:
            c = self._const_scalar(args[1])
            return ("id", None, 1.0 / c) if c else None
        if op is Op.SUM or op is Op.MEAN:
            n = math.prod(self._shapes[args[0]][0]) / max(math.prod(self._shapes[ins.slot][0]), 1)
            return ("sum", None, 1.0 if op is Op.SUM else 1.0 / n)
        if op is Op.MUL:
            return ("mul", "{%d}" % (1 - i), 1.0)
        if op is Op.POW and i == 0:
            c = self._const_scalar(args[1])
            if c is None or c == 0:
                return None
            if c == 1.0:
                return ("id", None, 1.0)
            return ("mul", "{0}" if c == 2.0 else "{0} ** %r" % (c - 1), c)
        if op is Op.EXP:
            return ("mul", "{out}", 1.0)
        return None

    def _redirects(self) -> dict[int, int]:
        """2-D transposes ``P = W.T`` read once, by a 2-D matmul: slot of P -> slot of W.

        Their gradient is emitted straight from the matmul as ``g.T @ X`` (C-contiguous,
        the weight's own layout) instead of ``(X.T @ g).T``, a transposed view that
        makes every later elementwise pass over the gradient (the optimizer's update)
        walk memory in strided order.
        """
        uses = {s: 0 for s in self._out_slots}
        for s in self._out_slots:
            uses[s] += 1
        for ins in self._instrs:
            for a in ins.args:
                uses[a] = uses.get(a, 0) + 1
        perms = {ins.slot: ins.args[0] for ins in self._instrs
                 if ins.op is Op.PERMUTE and tuple(ins.attrs.get("axes", ())) == (1, 0)
                 and len(self._shapes[ins.args[0]][0]) == 2 and ins.args[0] in self._needs}
        out: dict[int, int] = {}
        for ins in self._instrs:
            if ins.op is Op.MATMUL and all(len(self._shapes[a][0]) == 2 for a in ins.args):
                for a in ins.args:
                    if a in perms and uses.get(a) == 1:
                        out[a] = perms[a]
        return out

    def _backward_source(self, mask: tuple[bool, ...] | None, unit: int | None = None,
                         policy: str = "plain"):
        """Emit ``backward`` for the outputs selected by ``mask`` (or output ``unit`` with a
        unit cotangent); returns ``(source, globals, estimated cost)``.

        The probe runs the same plan on the trace values to learn each cotangent's
        shape and dtype (where ``unbroadcast`` is needed) and to validate templates.
        ``policy``: ``"plain"`` materialises every cotangent; ``"early"`` and ``"late"``
        carry scale factors and uniform cotangents symbolically (Note [Lazy cotangent
        scale]) and apply a pending scale at the first instruction that is not a pure
        alias, or only where it must (accumulation with a different scale, the returned
        gradients).
        """
        glob = dict(self._globals)
        values = self._probe
        lazy = policy != "plain"
        redirect = self._redirects() if lazy else {}
        ct: dict[int, _Ct] = {}
        lines: list[str] = []
        params = []
        counter = [0]
        cost = [0]
        var_probe: dict[str, float] = {}
        out_cts: list[np.ndarray] = []              # probe values of the output cotangents

        def fresh(prefix: str) -> str:
            counter[0] += 1
            return f"{prefix}{counter[0]}"

        def emit(name: str, expr: str, val: Any, note: str) -> None:
            lines.append(f"    {name} = {expr}  # {note}")
            cost[0] += _LINE_COST + int(np.size(val))

        def scale_src(r: _Ct) -> str | None:
            """The scale of ``r`` as a Python expression (None for exactly 1)."""
            if r.var is None:
                return None if r.c == 1.0 else repr(r.c)
            if r.c != 1.0:
                v = fresh("s")
                lines.append(f"    {v} = {r.var} * {r.c!r}")
                var_probe[v] = var_probe[r.var] * r.c
                r.var, r.c = v, 1.0
            return r.var

        def scale_probe(r: _Ct) -> float:
            return (var_probe[r.var] if r.var is not None else 1.0) * r.c

        def materialize(r: _Ct) -> _Ct:
            """``r`` as an array with scale 1 (emitting the multiply or the fill)."""
            s = scale_src(r)
            if r.name is None:
                dt = _dtype_src(r.dtype, glob)
                val = np.full(r.shape, scale_probe(r), r.dtype)
                name = fresh("g")
                if math.prod(r.shape) <= _SMALL:
                    emit(name, f"np.full({r.shape!r}, {s or '1.0'}, {dt})", val, "uniform")
                    return _Ct(name, val, True)
                emit(name, f"np.broadcast_to(np.full((), {s or '1.0'}, {dt}), {r.shape!r})",
                     val, "uniform")
                return _Ct(name, np.broadcast_to(val, r.shape), False)
            if s is None:
                return r
            name = fresh("g")
            dtype = np.asarray(r.val).dtype
            if r.var is None and dtype.kind == "f":
                # a build-time factor: a 0-d array of the cotangent's dtype, which numpy
                # multiplies faster than a Python float on small arrays (same result)
                s = f"k{counter[0]}"
                glob[s] = np.asarray(r.c, dtype)
            with np.errstate(all="ignore"):
                val = r.val * (glob[s] if r.var is None and dtype.kind == "f" else scale_probe(r))
            if r.owned and isinstance(r.val, np.ndarray) and r.val.shape:
                emit(name, f"np.multiply({r.name}, {s}, out={r.name})", val, "scale")
            else:
                emit(name, f"{r.name} * {s}", val, "scale")
            return _Ct(name, val, isinstance(val, np.ndarray))

        def add_arrays(s: int, p: _Ct, r: _Ct) -> _Ct:
            shape = self._shapes[s][0]
            new = fresh("g")
            if p.owned and shape and isinstance(p.val, np.ndarray):
                lines.append(f"    {new} = np.add({p.name}, {r.name}, out={p.name})  # accumulate")
            else:
                lines.append(f"    {new} = {p.name} + {r.name}  # accumulate")
            cost[0] += _LINE_COST + math.prod(shape)
            return _Ct(new, p.val + r.val, True, p.var, p.c)

        def accumulate(s: int, r: _Ct) -> None:
            shape, dtype = self._shapes[s]
            if r.name is None:
                if r.shape != shape or r.dtype != dtype:    # unbroadcast ones: a count
                    n = math.prod(r.shape) / max(math.prod(shape), 1)
                    r = _Ct(None, None, False, r.var, r.c * n, shape, dtype)
            elif np.shape(r.val) != shape or np.asarray(r.val).dtype != dtype:
                val = r.val
                ref = unbroadcast(val, shape, dtype)
                expr = _static_unbroadcast(r.name, np.shape(val), np.asarray(val).dtype,
                                           shape, dtype, glob)
                got = None
                if expr is not None:
                    got = eval(expr.replace(r.name, "_g"), dict(glob, _g=val))  # noqa: S307
                name = fresh("g")
                if got is not None and _same(got, ref):
                    emit(name, expr, got, "unbroadcast")
                    r = _Ct(name, got, isinstance(got, np.ndarray) and got.base is None,
                            r.var, r.c)
                else:
                    emit(name, f"UB({r.name}, {shape!r}, {_dtype_src(dtype, glob)})", ref,
                         "unbroadcast")
                    r = _Ct(name, ref, False, r.var, r.c)
            p = ct.get(s)
            if p is None:
                ct[s] = r
            elif p.name is None and r.name is None:
                if p.var is None and r.var is None:
                    ct[s] = _Ct(None, None, False, None, p.c + r.c, shape, dtype)
                else:
                    v = fresh("s")
                    lines.append(f"    {v} = {scale_src(p) or '1.0'} + {scale_src(r) or '1.0'}")
                    var_probe[v] = scale_probe(p) + scale_probe(r)
                    ct[s] = _Ct(None, None, False, v, 1.0, shape, dtype)
            elif p.name is not None and r.name is not None and (p.var, p.c) == (r.var, r.c):
                ct[s] = add_arrays(s, p, r)
            else:
                ct[s] = add_arrays(s, materialize(p), materialize(r))

        for j, s in enumerate(self._out_slots):
            if not (j == unit if mask is None else mask[j]):
                continue
            if mask is not None:
                params.append(f"go{j}")
            if s not in self._needs:
                continue
            shape, dtype = self._shapes[s]
            if mask is None and lazy:
                accumulate(s, _Ct(None, None, False, None, 1.0, shape, dtype))
                continue
            if mask is None:                        # plain unit backward: a constant ones
                ones = np.ones(shape, dtype)
                ones.flags.writeable = False
                glob[f"go{j}"] = ones
                out_cts.append(ones)
                accumulate(s, _Ct(f"go{j}", ones, False))
                continue
            val = _probe_cotangent(shape, dtype)
            out_cts.append(val)
            if lazy and shape == () and dtype.kind == "f":
                v = f"s{j}"
                lines.append(f"    {v} = float(go{j})")
                var_probe[v] = float(val)
                accumulate(s, _Ct(None, None, False, v, 1.0, shape, dtype))
            else:
                accumulate(s, _Ct(f"go{j}", val, False))
        for ins in reversed(self._instrs):
            r = ct.pop(ins.slot, None)
            if r is None:
                continue
            names = [self._name(a) for a in ins.args]
            xs = [values[a] for a in ins.args]
            out = values[ins.slot]
            oshape, odtype = self._shapes[ins.slot]
            needed = [i for i, a in enumerate(ins.args) if a in self._needs]
            plans = {i: self._lazy_plan(ins, i) if lazy else None for i in needed}
            fvals: dict[int, Any] = {}
            for i, plan in plans.items():
                if plan is not None and plan[0] == "mul":
                    src = self._fmt(plan[1], ins, [f"_v[{j}]" for j in range(len(xs))], "", "_o")
                    with np.errstate(all="ignore"):
                        fvals[i] = eval(src, {"np": np, "_v": xs, "_o": out})  # noqa: S307
            if r.name is None and not all(
                    plans[i] is not None and (plans[i][0] != "mul" or (
                        np.shape(fvals[i]) == oshape and np.asarray(fvals[i]).dtype == odtype))
                    for i in needed):
                r = materialize(r)
            elif r.name is not None and (not isinstance(ins.op, Op) or policy == "early" and any(
                    plans[i] is None or plans[i][0] != "id"
                    or self._shapes[ins.args[i]] != (oshape, odtype) for i in needed)):
                r = materialize(r)
            g, gval = r.name, r.val
            one_alias = len(needed) == 1
            for i in needed:
                a = ins.args[i]
                plan = plans[i]
                note = f"d{_label(ins.op, ins.slot).lower()}/d{names[i]}"
                if plan is not None and plan[0] == "id":
                    accumulate(a, _Ct(g, gval, r.owned and one_alias, r.var, r.c * plan[2],
                                      oshape, odtype))
                    continue
                if plan is not None and plan[0] == "sum":
                    if r.name is None:
                        accumulate(a, _Ct(None, None, False, r.var, r.c * plan[2],
                                          *self._shapes[a]))
                        continue
                    if np.ndim(gval) == 0 and np.asarray(gval).dtype.kind == "f":
                        v = fresh("s")
                        base = scale_src(r)
                        lines.append(f"    {v} = float({g})" + (f" * {base}" if base else ""))
                        var_probe[v] = float(gval) * scale_probe(r)
                        accumulate(a, _Ct(None, None, False, v, plan[2], *self._shapes[a]))
                        continue
                    plan = None
                if plan is not None:                # "mul": g * F * factor
                    fsrc = self._fmt(plan[1], ins, names, "", self._name(ins.slot))
                    fval = fvals[i]
                    if r.name is None:
                        if re.fullmatch(r"[a-z]\d+", fsrc):     # a saved value: an alias
                            accumulate(a, _Ct(fsrc, fval, False, r.var, r.c * plan[2]))
                            continue
                        name = fresh("g")
                        emit(name, fsrc, fval, note)
                        accumulate(a, _Ct(name, fval, isinstance(fval, np.ndarray),
                                          r.var, r.c * plan[2]))
                        continue
                    name = fresh("g")
                    with np.errstate(all="ignore"):
                        got = gval * fval
                    emit(name, f"{g} * {fsrc}" if re.fullmatch(r"[a-z]\d+", fsrc)
                         else f"{g} * ({fsrc})", got, note)
                    accumulate(a, _Ct(name, got, isinstance(got, np.ndarray), r.var,
                                      r.c * plan[2]))
                    continue
                fns = _rules(ins.op)
                fn = fns[0] if ins.op in VARIADIC else fns[i]
                if fn is None:
                    continue
                extra = {"argnum": i} if ins.op in VARIADIC else {}
                with np.errstate(all="ignore"):
                    ref = fn(gval, out, *xs, **ins.attrs, **extra)
                if ref is None:
                    continue
                name = fresh("g")
                if a in redirect:                   # d(W.T) through a matmul: g.T @ X
                    src_slot = redirect[a]
                    tmpl = "{g}.T @ {0}" if i == 1 else "{1} @ {g}.T"
                    got = eval(self._fmt(tmpl, ins, ["_v[0]", "_v[1]"], "_g", "_o"),  # noqa: S307
                               {"_v": xs, "_g": gval, "_o": out})
                    emit(name, self._fmt(tmpl, ins, names, g, ""), got,
                         f"d{_label(ins.op, ins.slot).lower()}/d{self._name(src_slot)} (through .T)")
                    accumulate(src_slot, _Ct(name, got, True, r.var, r.c))
                    continue
                plan = self._vjp_plan(ins, i)
                if plan is not None:
                    src = self._fmt(plan[0], ins, [f"_v[{j}]" for j in range(len(xs))], "_g", "_o")
                    with np.errstate(all="ignore"):
                        got = eval(src, {"np": np, "_v": xs, "_g": gval,  # noqa: S307
                                         "_o": out})
                    if _same(got, ref):
                        if plan[0] == "{g}":            # identity: no instruction, an alias
                            accumulate(a, _Ct(g, got, False, r.var, r.c))
                            continue
                        emit(name, self._fmt(plan[0], ins, names, g, self._name(ins.slot)),
                             got, note)
                        accumulate(a, _Ct(name, got, plan[1] and isinstance(got, np.ndarray),
                                          r.var, r.c))
                        continue
                fname = f"V_{_label(ins.op, ins.slot)}_{0 if ins.op in VARIADIC else i}"
                glob[fname] = fn
                attrs = self._attr_src(ins, glob)
                call = ", ".join([g, self._name(ins.slot)] + names
                                 + ([attrs] if attrs else [])
                                 + ([f"argnum={i}"] if extra else []))
                emit(name, f"{fname}({call})", ref, note)
                accumulate(a, _Ct(name, ref, False, r.var, r.c))
        saved = self._saved_slots()
        rets = []
        held = [v for v in values.values() if isinstance(v, np.ndarray)] + out_cts
        for s in self._wrt_slots:
            if s in ct:
                r = materialize(ct[s])
                if not isinstance(r.val, np.ndarray):
                    rets.append(f"_asarray({r.name})")
                elif any(np.may_share_memory(r.val, v) for v in held):
                    # an alias of an input, a saved value or a cotangent: the caller owns
                    # the gradient (it becomes ``.grad``), so it gets its own array
                    rets.append(f"{r.name}.copy()")
                else:
                    rets.append(r.name)
            else:
                rets.append("None")
        head = [f"def backward(saved{''.join(', ' + p for p in params)}):"]
        if saved:
            head.append(f"    {''.join(self._name(s) + ', ' for s in saved)}= saved")
        body = head + lines + [f"    return ({''.join(r + ', ' for r in rets)})"]
        return "\n".join(body), glob, cost[0]

    # -- convenience ---------------------------------------------------------------------

    def __call__(self, *values: Any, cotangents: Sequence[Any] | None = None):
        """Forward and, if ``cotangents`` are given, backward: ``(outputs, gradients)``.

        >>> import numpy as np
        >>> from numeric.ops import Op
        >>> class N:
        ...     def __init__(self, op=None, inputs=(), value=None, **attrs):
        ...         self.op, self.inputs, self.attrs, self.value = op, inputs, attrs, value
        ...         self.requires_grad = op is None
        >>> x = N(value=np.array(2.0))
        >>> p = Program([N(Op.MUL, (x, x))], inputs=[x])
        >>> p(np.array(3.0), cotangents=[np.array(1.0)])
        ((array(9.),), (array(6.),))
        """
        outs, saved = self.forward(*values)
        if cotangents is None:
            return outs, None
        return outs, self.backward(saved, *cotangents)

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        return (f"<Program {len(self.inputs)} inputs, {len(self._instrs)} forward instructions, "
                f"{len(self.wrt)} gradients>")


def _dtype_src(dtype: np.dtype, glob: dict) -> str:
    name = f"dt_{dtype.str.replace('<', 'l').replace('>', 'b').replace('|', 'n')}"
    glob[name] = dtype
    return name


def _static_unbroadcast(name: str, gshape: tuple, gdtype: np.dtype, shape: tuple,
                        dtype: np.dtype, glob: dict) -> str | None:
    """``unbroadcast`` with the shapes known at build time: one sum, reshape, cast."""
    lead = len(gshape) - len(shape)
    if lead < 0:
        return None
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and gshape[lead + i] != 1)
    expr = name
    if axes and axes == tuple(range(lead)):     # only leading axes: the sum has the shape
        expr = f"np.add.reduce({expr}, axis={axes!r})"
    elif axes:
        expr = f"np.add.reduce({expr}, axis={axes!r}, keepdims=True)"
        kept = tuple(1 if i in axes else n for i, n in enumerate(gshape))
        if kept != shape:
            expr += f".reshape({shape!r})"
    elif gshape != shape:
        return None
    if gdtype != dtype:
        expr += f".astype({_dtype_src(dtype, glob)}, copy=False)"
    return expr


def _probe_cotangent(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A deterministic, non-trivial output cotangent for the build-time probe."""
    g = np.random.default_rng(0).uniform(0.5, 1.5, size=shape)
    return np.asarray(g, dtype=dtype if dtype.kind in "fc" else np.float64)


# Note [Scalar programs]
#     A graph whose every value is a 0-d float64 (the 1000-node scalar benchmark) pays
#     numpy's per-call overhead for each op, ~1 us, on one number.  Such programs are
#     also emitted over Python floats and the math module (~50 ns per op).  Python
#     floats raise where numpy returns inf/nan (math.log(-1), math.exp(1000), 1/0), so
#     the scalar code runs inside try: on ArithmeticError or ValueError the call is redone
#     by the numpy program, whose results are the reference.  math's sin/cos/exp/log may
#     differ from numpy's SIMD versions in the last bit, so the build-time probe accepts
#     the scalar program when it agrees to 1e-13 relative.

_SCALAR_FWD = {
    Op.ADD: "{0} + {1}", Op.SUB: "{0} - {1}", Op.MUL: "{0} * {1}", Op.DIV: "{0} / {1}",
    Op.NEG: "-{0}", Op.SIN: "_sin({0})", Op.COS: "_cos({0})", Op.TANH: "_tanh({0})",
    Op.EXP: "_exp({0})", Op.LOG: "_log({0})", Op.SQRT: "_sqrt({0})",
}
_SCALAR_VJP = {
    Op.ADD: ("{g}", "{g}"), Op.SUB: ("{g}", "-{g}"), Op.MUL: ("{g} * {1}", "{g} * {0}"),
    Op.DIV: ("{g} / {1}", "-{g} * {out} / {1}"), Op.NEG: ("-{g}",),
    Op.SIN: ("{g} * _cos({0})",), Op.COS: ("-{g} * _sin({0})",),
    Op.TANH: ("{g} * (1.0 - {out} * {out})",), Op.EXP: ("{g} * {out}",),
    Op.LOG: ("{g} / {0}",), Op.SQRT: ("{g} / (2.0 * {out})",),
}
_MATH = {"_sin": math.sin, "_cos": math.cos, "_tanh": math.tanh, "_exp": math.exp,
         "_log": math.log, "_sqrt": math.sqrt}


class _ScalarSaved(tuple):
    """The saved values of a scalar program run (Python floats), plus its inputs."""

    __slots__ = ()


def _scalar_program(p: "Program"):
    """``(forward, backward_for_mask)`` over Python floats, or None if not applicable."""
    f64 = np.dtype(np.float64)
    if not p._inline or any(sh != ((), f64) for sh in p._shapes.values()):
        return None
    if any(ins.op not in _SCALAR_FWD for ins in p._instrs):
        return None
    name = p._name
    glob: dict[str, Any] = dict(_MATH)
    for s, v in p._consts.items():
        glob[name(s)] = float(v)
    ins_names = [name(s) for s in p._in_slots]
    lines = [f"def forward({', '.join(ins_names)}):"]
    lines += [f"    {n} = {n}.item()" for n in ins_names]
    for ins in p._instrs:
        lines.append(f"    {name(ins.slot)} = "
                     + _SCALAR_FWD[ins.op].format(*(name(a) for a in ins.args)))
    keep = [name(s) for s in range(len(p._slots)) if p._slots[s][0] != "const"
            and (s in p._in_slots or any(ins.slot == s for ins in p._instrs))]
    outs = "".join(f"_asarray({name(s)}), " for s in p._out_slots)
    lines.append(f"    return ({outs}), _Saved(({''.join(k + ', ' for k in keep)}))")
    glob.update(_f64=np.float64, _Saved=_ScalarSaved, _asarray=np.asarray)
    fwd_src = "\n".join(lines)
    exec(compile(fwd_src, "<symgrad scalar program: forward>", "exec"), glob)  # noqa: S102

    def backward_source(mask: tuple[bool, ...]) -> str:
        ct: dict[int, str] = {}
        body: list[str] = []
        params = []
        k = [0]

        def add(s: int, expr: str) -> None:
            k[0] += 1
            g = f"g{k[0]}"
            body.append(f"    {g} = {expr}" if s not in ct else f"    {g} = {ct[s]} + ({expr})")
            ct[s] = g
        for j, (s, m) in enumerate(zip(p._out_slots, mask)):
            if m:
                params.append(f"go{j}")
                if s in p._needs:
                    add(s, f"float(go{j})")
        for ins in reversed(p._instrs):
            g = ct.pop(ins.slot, None)
            if g is None:
                continue
            names = [name(a) for a in ins.args]
            for i, a in enumerate(ins.args):
                if a in p._needs:
                    add(a, _SCALAR_VJP[ins.op][i].format(*names, g=g, out=name(ins.slot)))
        rets = "".join((f"_asarray({ct[s]}), " if s in ct else "None, ") for s in p._wrt_slots)
        head = [f"def backward(saved{''.join(', ' + q for q in params)}):"]
        if keep:
            head.append(f"    {''.join(n + ', ' for n in keep)}= saved")
        return "\n".join(head + body + [f"    return ({rets})"])

    def backward_for(mask: tuple[bool, ...]) -> Callable:
        ns = dict(glob)
        exec(compile(backward_source(mask), "<symgrad scalar program: backward>", "exec"),
             ns)  # noqa: S102 -- generated from the templates above
        return ns["backward"]
    return glob["forward"], backward_for
