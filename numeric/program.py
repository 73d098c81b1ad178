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
        self._np_forward = self.forward
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
                value = FORWARD[op](*(consts[a] for a in args), **attrs)
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
                ref = FORWARD[ins.op](*xs, **ins.attrs)
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
            note = f"  # {ins.op.name.lower()} {shape} {dtype}"
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
                fn = f"F_{ins.op.name}"
                glob[fn] = FORWARD[ins.op]
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
        full = tuple(True for _ in self._out_slots)
        self.source = self._fwd_src + "\n\n" + self._backward_source(full, probe_only=True)[0]

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
            src, glob = self._backward_source(mask)
            exec(compile(src, "<symgrad program: backward>", "exec"), glob)  # noqa: S102
            fn = self._backwards[mask] = glob["backward"]
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

    def _backward_source(self, mask: tuple[bool, ...], probe_only: bool = False):
        """Emit ``backward`` for the outputs selected by ``mask``.

        The probe runs the same plan on the trace values to learn each cotangent's
        shape and dtype (where ``unbroadcast`` is needed) and to validate templates.
        """
        glob = dict(self._globals)
        values = self._probe
        ct: dict[int, tuple[str, Any, bool]] = {}  # slot -> (name, probe value, owned)
        lines: list[str] = []
        params = []
        counter = [0]

        def fresh(prefix: str) -> str:
            counter[0] += 1
            return f"{prefix}{counter[0]}"

        def accumulate(s: int, name: str, val: Any, owned: bool) -> None:
            shape, dtype = self._shapes[s]
            if np.shape(val) != shape or np.asarray(val).dtype != dtype:
                ref = unbroadcast(val, shape, dtype)
                expr = _static_unbroadcast(name, np.shape(val), np.asarray(val).dtype,
                                           shape, dtype, glob)
                got = None
                if expr is not None:
                    got = eval(expr.replace(name, "_g"), dict(glob, _g=val))  # noqa: S307
                src_name, name = name, fresh("g")
                if got is not None and _same(got, ref):
                    lines.append(f"    {name} = {expr}  # unbroadcast")
                    val, owned = got, isinstance(got, np.ndarray) and got.base is None
                else:
                    lines.append(f"    {name} = UB({src_name}, {shape!r}, "
                                 f"{_dtype_src(dtype, glob)})")
                    val, owned = ref, False
            if s not in ct:
                ct[s] = (name, val, owned)
                return
            prev, pval, powned = ct[s]
            new = fresh("g")
            if powned and shape and isinstance(pval, np.ndarray):
                lines.append(f"    {new} = np.add({prev}, {name}, out={prev})  # accumulate")
            else:
                lines.append(f"    {new} = {prev} + {name}  # accumulate")
            ct[s] = (new, pval + val, True)

        for j, (s, m) in enumerate(zip(self._out_slots, mask)):
            if m:
                params.append(f"go{j}")
                if s in self._needs:
                    accumulate(s, f"go{j}", _probe_cotangent(*self._shapes[s]), False)
        for ins in reversed(self._instrs):
            if ins.slot not in ct:
                continue
            g, gval, _ = ct.pop(ins.slot)
            names = [self._name(a) for a in ins.args]
            xs = [values[a] for a in ins.args]
            out = values[ins.slot]
            for i, a in enumerate(ins.args):
                if a not in self._needs:
                    continue
                fns = VJP[ins.op]
                fn = fns[0] if ins.op in VARIADIC else fns[i]
                if fn is None:
                    continue
                extra = {"argnum": i} if ins.op in VARIADIC else {}
                with np.errstate(all="ignore"):
                    ref = fn(gval, out, *xs, **ins.attrs, **extra)
                if ref is None:
                    continue
                name = fresh("g")
                plan = self._vjp_plan(ins, i)
                if plan is not None:
                    src = self._fmt(plan[0], ins, [f"_v[{j}]" for j in range(len(xs))], "_g", "_o")
                    with np.errstate(all="ignore"):
                        got = eval(src, {"np": np, "_v": xs, "_g": gval,  # noqa: S307
                                         "_o": out})
                    if _same(got, ref):
                        if plan[0] == "{g}":            # identity: no instruction, an alias
                            accumulate(a, g, got, False)
                            continue
                        expr = self._fmt(plan[0], ins, names, g, self._name(ins.slot))
                        lines.append(f"    {name} = {expr}  # d{ins.op.name.lower()}/d{names[i]}")
                        accumulate(a, name, got, plan[1] and isinstance(got, np.ndarray))
                        continue
                fname = f"V_{ins.op.name}_{0 if ins.op in VARIADIC else i}"
                glob[fname] = fn
                attrs = self._attr_src(ins, glob)
                call = ", ".join([g, self._name(ins.slot)] + names
                                 + ([attrs] if attrs else [])
                                 + ([f"argnum={i}"] if extra else []))
                lines.append(f"    {name} = {fname}({call})  # d{ins.op.name.lower()}/d{names[i]}")
                self.stats["backward_calls"] += probe_only
                accumulate(a, name, ref, False)
        saved = self._saved_slots()
        rets = []
        for s in self._wrt_slots:
            if s in ct:
                name, val, _ = ct[s]
                rets.append(name if isinstance(val, np.ndarray) else f"_asarray({name})")
            else:
                rets.append("None")
        head = [f"def backward(saved{''.join(', ' + p for p in params)}):"]
        if saved:
            head.append(f"    {''.join(self._name(s) + ', ' for s in saved)}= saved")
        body = head + lines + [f"    return ({''.join(r + ', ' for r in rets)})"]
        return "\n".join(body), glob

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
    if axes:
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
