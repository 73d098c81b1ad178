"""The forward emitter: probe the instructions on the trace's values, then write ``forward``.

The probe runs every instruction once, through ``FORWARD`` and through its inline
template, and keeps the template only where the two agree exactly (Note [Validated
inlining] in :mod:`numeric.compile`); it also records every slot's shape and dtype,
which the backward emitter plans with.  The emitted function is
``forward(*inputs) -> (outputs, saved)``; an inlined ufunc writes into a dead
temporary of its own shape and dtype with ``out=`` (``stats["reused"]``).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from numeric.vjps import unbroadcast

from numeric.compile.common import attr_src, kernel, label, same
from numeric.compile.slots import Slots
from numeric.compile.templates import Planner

__all__ = ["base_globals", "probe", "emit_forward", "saved_slots", "boundary"]


def base_globals(slots: Slots) -> dict[str, Any]:
    """The globals every generated function starts from: numpy, helpers, the constants."""
    glob: dict[str, Any] = {"np": np, "UB": unbroadcast, "_asarray": np.asarray}
    for s, v in slots.consts.items():
        glob[slots.name(s)] = v
    return glob


def probe(slots: Slots, planner: Planner, examples: Sequence[np.ndarray],
          known: dict[int, Any] | None = None) -> tuple[dict[int, Any], dict[int, str]]:
    """Run every instruction on the example values: ``(slot -> value, slot -> choice)``.

    The choice is ``"inline"`` where the template's result equals the table's, else
    ``"call"``.  Fills ``planner.shapes`` as it goes.  ``known`` (slot -> value) gives
    the results of user-defined ops already computed on the same values, so the
    user's code is not run again (``sg.compile`` passes the trace's values).
    """
    values: dict[int, Any] = dict(slots.consts)
    for s, v in zip(slots.in_slots, examples):
        values[s] = v
    shapes = planner.shapes
    shapes.clear()
    shapes.update({s: (np.shape(v), np.asarray(v).dtype) for s, v in values.items()})
    choice: dict[int, str] = {}
    for ins in slots.instrs:
        xs = [values[a] for a in ins.args]
        if known is not None and ins.slot in known:
            values[ins.slot] = ref = known[ins.slot]
            choice[ins.slot] = "call"
            shapes[ins.slot] = (np.shape(ref), np.asarray(ref).dtype)
            continue
        with np.errstate(all="ignore"):
            ref = kernel(ins.op)(*xs, **ins.attrs)
        use = "call"
        plan = planner.forward(ins)
        if plan is not None:
            src = plan[0].format(*(f"_v[{i}]" for i in range(len(xs))))
            with np.errstate(all="ignore"):
                got = eval(src, {"np": np, "_v": xs})  # noqa: S307 -- our own template
            if same(got, ref):
                use, ref = "inline", got
        choice[ins.slot] = use
        values[ins.slot] = ref
        shapes[ins.slot] = (np.shape(ref), np.asarray(ref).dtype)
    return values, choice


def saved_slots(slots: Slots, planner: Planner) -> list[int]:
    """Forward values the backward reads (inputs and temporaries, never constants)."""
    saved: list[int] = []
    for ins in slots.instrs:
        if ins.slot not in slots.needs:
            continue
        for i, a in enumerate(ins.args):
            if a not in slots.needs:
                continue
            plan = planner.vjp(ins, i)
            if plan is None:
                used = (ins.slot,) + ins.args
            else:
                used = tuple(ins.args[j] for j in range(len(ins.args))
                             if "{%d}" % j in plan[0])
                used += (ins.slot,) if "{out}" in plan[0] else ()
            for u in used:
                if not slots.is_const(u) and u not in saved:
                    saved.append(u)
    return saved


def boundary(slots: Slots, values: dict[int, Any], s: int) -> str:
    """The slot's name, wrapped to an ndarray where the probe saw a numpy scalar."""
    v = values.get(s)
    name = slots.name(s)
    return name if isinstance(v, np.ndarray) or s in slots.in_slots else f"_asarray({name})"


def emit_forward(slots: Slots, planner: Planner, values: dict[int, Any],
                 choice: dict[int, str], glob: dict, stats: dict) -> str:
    """The source of ``forward``, given the probe's values and choices."""
    shapes = planner.shapes
    saved = saved_slots(slots, planner)
    last_use: dict[int, int] = {}
    for k, ins in enumerate(slots.instrs):
        for a in ins.args:
            last_use[a] = k
    keep = set(saved) | set(slots.out_slots)
    owned: set[int] = set()
    lines = [f"def forward({', '.join(slots.name(s) for s in slots.in_slots)}):"]
    for k, ins in enumerate(slots.instrs):
        t = slots.name(ins.slot)
        names = [slots.name(a) for a in ins.args]
        shape, dtype = shapes[ins.slot]
        note = f"  # {label(ins.op, ins.slot).lower()} {shape} {dtype}"
        if choice[ins.slot] == "inline":
            stats["inlined"] += 1
            expr, ufunc = planner.forward(ins)
            target = None
            if ufunc is not None and shape:
                for a in ins.args:
                    if (a in owned and last_use.get(a) == k and a not in keep
                            and shapes[a] == (shape, dtype) and ins.args.count(a) == 1):
                        target = a
                        break
            if target is not None:
                stats["reused"] += 1
                lines.append(f"    {t} = {ufunc}({', '.join(names)}, out={slots.name(target)})"
                             + note + " (in place)")
            else:
                lines.append(f"    {t} = {expr.format(*names)}" + note)
            if shape and isinstance(values[ins.slot], np.ndarray):
                owned.add(ins.slot)
        else:
            fn = f"F_{label(ins.op, ins.slot)}"
            glob[fn] = kernel(ins.op)
            owned.difference_update(ins.args)   # the result may be a view of them
            attrs = attr_src(ins.slot, ins.attrs, glob)
            call_args = ", ".join(names + ([attrs] if attrs else []))
            lines.append(f"    {t} = {fn}({call_args})" + note)
    outs = [boundary(slots, values, s) for s in slots.out_slots]
    lines.append(f"    return ({''.join(o + ', ' for o in outs)}), "
                 f"({''.join(slots.name(s) + ', ' for s in saved)})")
    return "\n".join(lines)
