"""The scalar-float program: a graph of 0-d float64 values over Python floats and ``math``.

Note [Scalar programs]
    A graph whose every value is a 0-d float64 (the 1000-node scalar benchmark) pays
    numpy's per-call overhead for each op, ~1 us, on one number.  Such programs are
    also emitted over Python floats and the math module (~50 ns per op).  Python
    floats raise where numpy returns inf/nan (math.log(-1), math.exp(1000), 1/0), so
    the scalar code runs inside try: on ArithmeticError or ValueError the call is redone
    by the numpy program, whose results are the reference.  math's sin/cos/exp/log may
    differ from numpy's SIMD versions in the last bit, so the build-time probe accepts
    the scalar program when it agrees to 1e-13 relative.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from numeric.compile.slots import Slots
from numeric.compile.templates import INLINE, MATH

__all__ = ["ScalarSaved", "scalar_program"]


class ScalarSaved(tuple):
    """The saved values of a scalar program run (Python floats), plus its inputs."""

    __slots__ = ()


def _scalar(op: Any) -> str | None:
    entry = INLINE.get(op)
    return entry.scalar if entry is not None else None


def scalar_program(slots: Slots, shapes: dict,
                   inline: bool) -> tuple[Callable, Callable[[tuple], Callable]] | None:
    """``(forward, backward_for_mask)`` over Python floats, or None if not applicable."""
    f64 = np.dtype(np.float64)
    if not inline or any(sh != ((), f64) for sh in shapes.values()):
        return None
    if any(_scalar(ins.op) is None for ins in slots.instrs):
        return None
    name = slots.name
    glob: dict[str, Any] = dict(MATH)
    for s, v in slots.consts.items():
        glob[name(s)] = float(v)
    ins_names = [name(s) for s in slots.in_slots]
    lines = [f"def forward({', '.join(ins_names)}):"]
    lines += [f"    {n} = {n}.item()" for n in ins_names]
    for ins in slots.instrs:
        lines.append(f"    {name(ins.slot)} = "
                     + _scalar(ins.op).format(*(name(a) for a in ins.args)))
    keep = [name(s) for s in range(len(slots.kinds)) if not slots.is_const(s)
            and (s in slots.in_slots or any(ins.slot == s for ins in slots.instrs))]
    outs = "".join(f"_asarray({name(s)}), " for s in slots.out_slots)
    lines.append(f"    return ({outs}), _Saved(({''.join(k + ', ' for k in keep)}))")
    glob.update(_f64=np.float64, _Saved=ScalarSaved, _asarray=np.asarray)
    fwd_src = "\n".join(lines)
    exec(compile(fwd_src, "<symgrad scalar program: forward>", "exec"), glob)  # noqa: S102

    def backward_for(mask: tuple[bool, ...]) -> Callable:
        ns = dict(glob)
        src = _ScalarBackward(slots, mask).source(keep)
        exec(compile(src, "<symgrad scalar program: backward>", "exec"),
             ns)  # noqa: S102 -- generated from the templates above
        return ns["backward"]
    return glob["forward"], backward_for


class _ScalarBackward:
    """The scalar backward's source for the outputs selected by ``mask``."""

    def __init__(self, slots: Slots, mask: tuple[bool, ...]) -> None:
        self.slots, self.mask = slots, mask
        self.ct: dict[int, str] = {}
        self.body: list[str] = []
        self.count = 0

    def add(self, s: int, expr: str) -> None:
        """Accumulate ``expr`` into slot ``s``'s cotangent (a new variable each time)."""
        self.count += 1
        g = f"g{self.count}"
        self.body.append(f"    {g} = {expr}" if s not in self.ct
                         else f"    {g} = {self.ct[s]} + ({expr})")
        self.ct[s] = g

    def source(self, keep: list[str]) -> str:
        slots, name, ct = self.slots, self.slots.name, self.ct
        params = []
        for j, (s, m) in enumerate(zip(slots.out_slots, self.mask)):
            if m:
                params.append(f"go{j}")
                if s in slots.needs:
                    self.add(s, f"float(go{j})")
        for ins in reversed(slots.instrs):
            g = ct.pop(ins.slot, None)
            if g is None:
                continue
            names = [name(a) for a in ins.args]
            vjps = INLINE[ins.op].scalar_vjp
            for i, a in enumerate(ins.args):
                if a in slots.needs:
                    self.add(a, vjps[i].format(*names, g=g, out=name(ins.slot)))
        rets = "".join((f"_asarray({ct[s]}), " if s in ct else "None, ")
                       for s in slots.wrt_slots)
        head = [f"def backward(saved{''.join(', ' + q for q in params)}):"]
        if keep:
            head.append(f"    {''.join(n + ', ' for n in keep)}= saved")
        return "\n".join(head + self.body + [f"    return ({rets})"])
