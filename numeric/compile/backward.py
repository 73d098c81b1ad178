"""The backward emitter: the reversed instruction list as VJP source, with lazy scales.

:class:`BackwardEmitter` writes ``backward(saved, *output_cotangents) -> gradients``
for one selection of outputs, in named steps: :meth:`~BackwardEmitter.seed` the
output cotangents, :meth:`~BackwardEmitter.emit_node` for each instruction in reverse
(choosing, per input, an alias, a uniform sum, a ``g * F`` product, an inline
template or a call of ``VJP``), :meth:`~BackwardEmitter.accumulate` fan-out in one
place (after :meth:`~BackwardEmitter.unbroadcast`), and
:meth:`~BackwardEmitter.finish` the returned gradients.  It probes as it emits:
every line is also evaluated on the trace's values, to learn cotangent shapes and
dtypes and to validate templates (Notes [Validated inlining] and [Lazy cotangent
scale] in :mod:`numeric.compile`).
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from numeric.ops import VARIADIC, Op

from numeric.compile.common import attr_src, label, probe_cotangent, rules, same
from numeric.compile.cotangent import Accumulator, Ct
from numeric.compile.forward import saved_slots
from numeric.compile.slots import Instr, Slots
from numeric.compile.templates import MATMUL_2D_THROUGH_T, Planner

__all__ = ["BackwardEmitter", "redirects"]

_SAVED_NAME = re.compile(r"[a-z]\d+")           # a slot's variable: an alias, no parentheses


def redirects(slots: Slots, shapes: dict) -> dict[int, int]:
    """2-D transposes ``P = W.T`` read once, by a 2-D matmul: slot of P -> slot of W.

    Their gradient is emitted straight from the matmul as ``g.T @ X`` (C-contiguous,
    the weight's own layout) instead of ``(X.T @ g).T``, a transposed view that
    makes every later elementwise pass over the gradient (the optimizer's update)
    walk memory in strided order.
    """
    uses = {s: 0 for s in slots.out_slots}
    for s in slots.out_slots:
        uses[s] += 1
    for ins in slots.instrs:
        for a in ins.args:
            uses[a] = uses.get(a, 0) + 1
    perms = {ins.slot: ins.args[0] for ins in slots.instrs
             if ins.op is Op.PERMUTE and tuple(ins.attrs.get("axes", ())) == (1, 0)
             and len(shapes[ins.args[0]][0]) == 2 and ins.args[0] in slots.needs}
    out: dict[int, int] = {}
    for ins in slots.instrs:
        if ins.op is Op.MATMUL and all(len(shapes[a][0]) == 2 for a in ins.args):
            for a in ins.args:
                if a in perms and uses.get(a) == 1:
                    out[a] = perms[a]
    return out


class BackwardEmitter(Accumulator):
    """Emit ``backward`` for the outputs selected by ``mask`` (or output ``unit`` with a
    unit cotangent): ``BackwardEmitter(...).build() -> (source, globals, cost)``.

    ``policy``: ``"plain"`` materialises every cotangent; ``"early"`` and ``"late"``
    carry scale factors and uniform cotangents symbolically and apply a pending scale
    at the first instruction that is not a pure alias, or only where it must
    (accumulation with a different scale, the returned gradients).  ``cost`` is the
    per-line cost model's estimate (``LINE_COST`` per line plus its elements).
    """

    def __init__(self, slots: Slots, planner: Planner, values: dict[int, Any], glob: dict,
                 mask: tuple[bool, ...] | None, unit: int | None, policy: str) -> None:
        super().__init__(planner.shapes, glob)
        self.slots, self.plan, self.values = slots, planner, values
        self.mask, self.unit = mask, unit
        self.policy, self.lazy = policy, policy != "plain"
        self.redirect = redirects(slots, self.shapes) if self.lazy else {}
        self.params: list[str] = []
        self.out_cts: list[np.ndarray] = []     # probe values of the output cotangents
        self.variadic: dict[int, tuple] = {}    # slot -> (tuple name, probe cotangents)

    def build(self) -> tuple[str, dict, int]:
        """``(source, globals, cost)`` of the backward."""
        self.seed()
        for ins in reversed(self.slots.instrs):
            self.emit_node(ins)
        return self.finish(), self.glob, self.cost

    # -- the steps ----------------------------------------------------------------------

    def seed(self) -> None:
        """The output cotangents: parameters ``go<j>``, or the unit cotangent."""
        mask, unit, lazy = self.mask, self.unit, self.lazy
        for j, s in enumerate(self.slots.out_slots):
            if not (j == unit if mask is None else mask[j]):
                continue
            if mask is not None:
                self.params.append(f"go{j}")
            if s not in self.slots.needs:
                continue
            shape, dtype = self.shapes[s]
            if mask is None and lazy:
                self.accumulate(s, Ct(None, None, False, None, 1.0, shape, dtype))
                continue
            if mask is None:                        # plain unit backward: a constant ones
                ones = np.ones(shape, dtype)
                ones.flags.writeable = False
                self.glob[f"go{j}"] = ones
                self.out_cts.append(ones)
                self.accumulate(s, Ct(f"go{j}", ones, False))
                continue
            val = probe_cotangent(shape, dtype)
            self.out_cts.append(val)
            if lazy and shape == () and dtype.kind == "f":
                v = f"s{j}"
                self.lines.append(f"    {v} = float(go{j})")
                self.var_probe[v] = float(val)
                self.accumulate(s, Ct(None, None, False, v, 1.0, shape, dtype))
            else:
                self.accumulate(s, Ct(f"go{j}", val, False))

    def emit_node(self, ins: Instr) -> None:
        """The VJP lines of one instruction, for each input on a path to ``wrt``."""
        r = self.ct.pop(ins.slot, None)
        if r is None:
            return
        xs = [self.values[a] for a in ins.args]
        needed = [i for i, a in enumerate(ins.args) if a in self.slots.needs]
        plans = {i: self.plan.lazy(ins, i) if self.lazy else None for i in needed}
        fvals: dict[int, Any] = {}
        for i, plan in plans.items():
            if plan is not None and plan[0] == "mul":
                src = self.plan.fill(plan[1], ins, [f"_v[{j}]" for j in range(len(xs))], "", "_o")
                with np.errstate(all="ignore"):
                    fvals[i] = eval(src, {"np": np, "_v": xs,  # noqa: S307
                                          "_o": self.values[ins.slot]})
        r = self._ready(r, ins, needed, plans, fvals)
        for i in needed:
            if plans[i] is None or not self._lazy_input(ins, i, r, plans[i], fvals.get(i),
                                                         len(needed) == 1):
                self._rule_input(ins, i, r)

    def _ready(self, r: Ct, ins: Instr, needed: list[int], plans: dict, fvals: dict) -> Ct:
        """``r``, materialised unless every input's plan can carry it as it is."""
        oshape, odtype = self.shapes[ins.slot]
        if r.name is None and not all(
                plans[i] is not None and (plans[i][0] != "mul" or (
                    np.shape(fvals[i]) == oshape and np.asarray(fvals[i]).dtype == odtype))
                for i in needed):
            return self.materialize(r)
        if r.name is not None and (not isinstance(ins.op, Op) or self.policy == "early" and any(
                plans[i] is None or plans[i][0] != "id"
                or self.shapes[ins.args[i]] != (oshape, odtype) for i in needed)):
            return self.materialize(r)
        return r

    def _note(self, ins: Instr, i: int) -> str:
        return f"d{label(ins.op, ins.slot).lower()}/d{self.slots.name(ins.args[i])}"

    def _lazy_input(self, ins: Instr, i: int, r: Ct, plan: tuple, fval: Any,
                    one_alias: bool) -> bool:
        """Input ``i``'s cotangent by its lazy plan; False if it needs the VJP instead."""
        a = ins.args[i]
        g, gval = r.name, r.val
        oshape, odtype = self.shapes[ins.slot]
        kind, factor = plan[0], plan[2]
        if kind == "id":
            self.accumulate(a, Ct(g, gval, r.owned and one_alias, r.var, r.c * factor,
                                  oshape, odtype))
            return True
        if kind == "sum":
            if r.name is None:
                self.accumulate(a, Ct(None, None, False, r.var, r.c * factor, *self.shapes[a]))
                return True
            if np.ndim(gval) == 0 and np.asarray(gval).dtype.kind == "f":
                v = self.fresh("s")
                base = self.scale_src(r)
                self.lines.append(f"    {v} = float({g})" + (f" * {base}" if base else ""))
                self.var_probe[v] = float(gval) * self.scale_probe(r)
                self.accumulate(a, Ct(None, None, False, v, factor, *self.shapes[a]))
                return True
            return False
        # "mul": g * F * factor
        fsrc = self.plan.fill(plan[1], ins, [self.slots.name(x) for x in ins.args], "",
                              self.slots.name(ins.slot))
        note = self._note(ins, i)
        if r.name is None:
            if _SAVED_NAME.fullmatch(fsrc):         # a saved value: an alias
                self.accumulate(a, Ct(fsrc, fval, False, r.var, r.c * factor))
                return True
            name = self.fresh("g")
            self.emit(name, fsrc, fval, note)
            self.accumulate(a, Ct(name, fval, isinstance(fval, np.ndarray),
                                  r.var, r.c * factor))
            return True
        name = self.fresh("g")
        with np.errstate(all="ignore"):
            got = gval * fval
        self.emit(name, f"{g} * {fsrc}" if _SAVED_NAME.fullmatch(fsrc)
                  else f"{g} * ({fsrc})", got, note)
        self.accumulate(a, Ct(name, got, isinstance(got, np.ndarray), r.var, r.c * factor))
        return True

    def _rule_input(self, ins: Instr, i: int, r: Ct) -> None:
        """Input ``i``'s cotangent from the op's VJP: an inline template if it agrees
        with ``VJP`` on the probe, else a call of the table's function."""
        if ins.op in VARIADIC:
            self._variadic_input(ins, i, r)
            return
        a = ins.args[i]
        g, gval = r.name, r.val
        names = [self.slots.name(x) for x in ins.args]
        xs = [self.values[x] for x in ins.args]
        out = self.values[ins.slot]
        fn = rules(ins.op)[i]
        if fn is None:
            return
        with np.errstate(all="ignore"):
            ref = fn(gval, out, *xs, **ins.attrs)
        if ref is None:
            return
        name = self.fresh("g")
        note = self._note(ins, i)
        if a in self.redirect:                      # d(W.T) through a matmul: g.T @ X
            src_slot = self.redirect[a]
            tmpl = MATMUL_2D_THROUGH_T[i]
            got = eval(self.plan.fill(tmpl, ins, ["_v[0]", "_v[1]"], "_g", "_o"),  # noqa: S307
                       {"_v": xs, "_g": gval, "_o": out})
            self.emit(name, self.plan.fill(tmpl, ins, names, g, ""), got,
                      f"d{label(ins.op, ins.slot).lower()}/d{self.slots.name(src_slot)} "
                      "(through .T)")
            self.accumulate(src_slot, Ct(name, got, True, r.var, r.c))
            return
        plan = self.plan.vjp(ins, i)
        if plan is not None:
            src = self.plan.fill(plan[0], ins, [f"_v[{j}]" for j in range(len(xs))], "_g", "_o")
            with np.errstate(all="ignore"):
                got = eval(src, {"np": np, "_v": xs, "_g": gval, "_o": out})  # noqa: S307
            if same(got, ref):
                if plan[0] == "{g}":                # identity: no instruction, an alias
                    self.accumulate(a, Ct(g, got, False, r.var, r.c))
                    return
                self.emit(name, self.plan.fill(plan[0], ins, names, g, self.slots.name(ins.slot)),
                          got, note)
                self.accumulate(a, Ct(name, got, plan[1] and isinstance(got, np.ndarray),
                                      r.var, r.c))
                return
        fname = f"V_{label(ins.op, ins.slot)}_{i}"
        self.glob[fname] = fn
        attrs = attr_src(ins.slot, ins.attrs, self.glob)
        call = ", ".join([g, self.slots.name(ins.slot)] + names + ([attrs] if attrs else []))
        self.emit(name, f"{fname}({call})", ref, note)
        self.accumulate(a, Ct(name, ref, False, r.var, r.c))

    def _variadic_input(self, ins: Instr, i: int, r: Ct) -> None:
        """Input ``i``'s cotangent from a variadic VJP, which is called once per node and
        returns every input's cotangent (Note [Variadic VJPs] in numeric/vjps.py)."""
        got = self.variadic.get(ins.slot)
        if got is None:
            fn = rules(ins.op)[0]
            xs = [self.values[x] for x in ins.args]
            with np.errstate(all="ignore"):
                refs = fn(r.val, self.values[ins.slot], *xs, **ins.attrs)
            tname, fname = self.fresh("gs"), f"V_{label(ins.op, ins.slot)}"
            self.glob[fname] = fn
            attrs = attr_src(ins.slot, ins.attrs, self.glob)
            call = ", ".join([r.name, self.slots.name(ins.slot)]
                             + [self.slots.name(x) for x in ins.args] + ([attrs] if attrs else []))
            self.emit(tname, f"{fname}({call})", r.val,
                      f"d{label(ins.op, ins.slot).lower()}/d(each input)")
            got = self.variadic[ins.slot] = (tname, refs)
        tname, refs = got
        if refs[i] is None:
            return
        name = self.fresh("g")
        self.emit(name, f"{tname}[{i}]", refs[i], self._note(ins, i))
        self.accumulate(ins.args[i], Ct(name, refs[i], False, r.var, r.c))

    def finish(self) -> str:
        """The returned gradients (copied where they alias a value the caller holds)."""
        saved = saved_slots(self.slots, self.plan)
        rets = []
        held = [v for v in self.values.values() if isinstance(v, np.ndarray)] + self.out_cts
        for s in self.slots.wrt_slots:
            if s in self.ct:
                r = self.materialize(self.ct[s])
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
        name = self.slots.name
        head = [f"def backward(saved{''.join(', ' + p for p in self.params)}):"]
        if saved:
            head.append(f"    {''.join(name(s) + ', ' for s in saved)}= saved")
        body = head + self.lines + [f"    return ({''.join(r + ', ' for r in rets)})"]
        return "\n".join(body)
