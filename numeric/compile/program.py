"""The :class:`Program` class: build, check and cache the compiled forward and backward."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from numeric.compile.backward import BackwardEmitter
from numeric.compile.common import probe_cotangent
from numeric.compile.forward import base_globals, emit_forward, probe
from numeric.compile.scalar import ScalarSaved, scalar_program
from numeric.compile.slots import Slots, default_wrt, example_values
from numeric.compile.templates import Planner
from numeric.ops import Op

__all__ = ["Program"]


class Program:
    """A traced graph compiled to a forward and a backward function of numpy calls.

    Arguments:
        outputs: the nodes to compute.
        inputs: leaf nodes whose values are passed to :meth:`forward`, in order.
            Every other leaf the outputs depend on is a constant, baked in (an IR
            node's ``data``).
        wrt: the inputs to differentiate with respect to (default: those whose
            ``requires_grad`` is true).
        values: the example input values used to build and check the program
            (default: each input's ``value``); needed for IR nodes, which hold none.
        inline: emit numpy operators for common ops (validated, see the package notes);
            ``False`` calls ``FORWARD``/``VJP`` everywhere.
        known: ``{id(node): value}`` for op nodes already computed on ``values`` (a
            trace's results).  A program with user-defined ops (``sg.custom_op``,
            ``sg.autograd.Function``) takes their values from here and runs no user
            code while it is built: no probe of its backward variants either (the
            plain backward is used), so each user forward and VJP runs only when the
            program runs.

    ``program.forward(*values)`` returns ``(outputs, saved)``;
    ``program.backward(saved, *cotangents)`` returns one gradient per ``wrt`` input
    (``None`` for an input that no output depends on).  A cotangent may be ``None``
    for an output that gets no gradient.  See :mod:`numeric.compile` for an example.
    """

    __slots__ = ("inputs", "wrt", "outputs", "_source", "stats", "forward", "_examples",
                 "_backwards", "_slots", "_plan", "_shapes", "_out_slots", "_in_slots",
                 "_inline", "_fwd_src", "_globals", "_probe", "_np_forward",
                 "_scalar_backward", "_scalar_backwards", "_known", "_user_ops")

    def __init__(self, outputs: Sequence[Any], inputs: Sequence[Any], *,
                 wrt: Sequence[Any] | None = None, inline: bool = True,
                 values: Sequence[Any] | None = None,
                 known: dict[int, Any] | None = None) -> None:
        outputs, inputs = tuple(outputs), tuple(inputs)
        self._examples = example_values(inputs) if values is None else \
            [np.asarray(v) for v in values]
        if len(self._examples) != len(inputs):
            raise ValueError(f"Program: {len(self._examples)} values for {len(inputs)} inputs")
        if wrt is None:
            wrt = default_wrt(inputs)
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
        self._slots = Slots(outputs, inputs, self.stats, wrt, index)
        self._in_slots, self._out_slots = self._slots.in_slots, self._slots.out_slots
        self._user_ops = any(ins.op.__class__ is not Op and not getattr(ins.op, "pure", False)
                             for ins in self._slots.instrs)
        of = self._slots.slot_of
        self._known = None if not known else {of[k]: v for k, v in known.items() if k in of}
        self._backwards: dict[Any, Callable] = {}
        self._shapes: dict[int, tuple] = {}
        self._plan = Planner(self._slots, self._shapes, inline)
        self._emit_forward()
        self._scalar_backward = None
        self._scalar_backwards: dict[tuple[bool, ...], Callable] = {}
        self._try_scalar()

    # -- building ---------------------------------------------------------------------

    def _emit_forward(self) -> None:
        """Probe the forward once on the inputs' values, then emit the final code."""
        glob = base_globals(self._slots)
        self._probe, choice = probe(self._slots, self._plan, self._examples, self._known)
        self._fwd_src = emit_forward(self._slots, self._plan, self._probe, choice, glob,
                                     self.stats)
        self._globals = glob
        code = compile(self._fwd_src, "<symgrad program: forward>", "exec")
        exec(code, glob)  # noqa: S102 -- source generated from Op templates only
        self.forward = glob["forward"]
        self._np_forward = self.forward
        self._source = None
        if not (self._user_ops and self._known is not None):
            self._source = self.source      # built now, unless that would run user VJPs

    @property
    def source(self) -> str:
        """The generated forward and backward (for every output) as Python source."""
        if self._source is None:
            full = tuple(True for _ in self._out_slots)
            self._source = self._fwd_src + "\n\n" + self._build_backward(full)[1]
            self.stats["backward_calls"] = self._source.count(" = V_")
        return self._source

    def _build_backward(self, mask: tuple[bool, ...] | None,
                        unit: int | None = None) -> tuple[Callable, str]:
        """Compile, check and cache the backward for ``mask`` (or output ``unit`` with a
        unit cotangent): the cheaper lazy-scale variant if it agrees with the plain one
        on the trace's values (Note [Lazy cotangent scale]), else the plain one."""
        built = []
        checked = self._inline and not (self._user_ops and self._known is not None)
        for policy in ("plain", "early", "late") if checked else ("plain",):
            src, glob, cost = BackwardEmitter(self._slots, self._plan, self._probe,
                                              self._globals, mask, unit, policy).build()
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
            saved = self._np_forward(*self._examples)[1]
            if mask is None:
                got, ref = fn(saved), ref_fn(saved)
            else:
                cts = [probe_cotangent(*self._shapes[s])
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

    def _try_scalar(self) -> None:
        """Use a Python-float program if the probe agrees (Note [Scalar programs])."""
        built = scalar_program(self._slots, self._shapes, self._inline)
        if built is None:
            return
        fwd, backward_for = built
        values = self._examples
        try:
            outs, saved = fwd(*values)
            ref_outs, ref_saved = self._np_forward(*values)
            cts = [probe_cotangent((), np.dtype(np.float64)) for _ in outs]
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

    # -- running (hot paths: keep them lean) -----------------------------------------

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
        if type(saved) is ScalarSaved:
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
        >>> from numeric.node import Node
        >>> from numeric.ops import Op
        >>> x = Node.leaf("symbol", name="x", shape=(2,), dtype=np.float64)
        >>> sq = Node.make(Op.MUL, (x, x), {}, (2,), x.dtype)
        >>> loss = Node.make(Op.MEAN, (sq,), {"axis": None, "keepdims": False}, (), x.dtype)
        >>> p = Program([loss], [x], wrt=[x], values=[np.array([1.0, 2.0])])
        >>> p.backward_unit(p.forward(np.array([3.0, 4.0]))[1])
        (array([3., 4.]),)
        """
        fn = self._backwards.get(index)
        if fn is None:
            if not 0 <= index < len(self._out_slots):
                raise IndexError(f"Program.backward_unit: output {index} does not exist; the "
                                 f"program has {len(self._out_slots)} output(s)")
            fn = self._build_backward(None, index)[0]
        if type(saved) is ScalarSaved:
            shape, dtype = self._shapes[self._out_slots[index]]
            cts = [None] * len(self._out_slots)
            cts[index] = np.ones(shape, dtype)
            return self.backward(saved, *cts)
        return fn(saved)

    # -- convenience ------------------------------------------------------------------

    def __call__(self, *values: Any, cotangents: Sequence[Any] | None = None):
        """Forward and, if ``cotangents`` are given, backward: ``(outputs, gradients)``.

        >>> import numpy as np
        >>> from numeric.node import Node
        >>> from numeric.ops import Op
        >>> x = Node.leaf("data", np.array(2.0))             # an IR leaf carries its value
        >>> p = Program([Node.make(Op.MUL, (x, x), {}, (), x.dtype)], inputs=[x], wrt=[x])
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
        return (f"<Program {len(self.inputs)} inputs, {len(self._slots.instrs)} forward "
                f"instructions, {len(self.wrt)} gradients>")
