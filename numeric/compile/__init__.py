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

The package, one concern per module:

``slots.py``      reading the graph into instruction slots (the only module that
                  reads graph nodes), constant folding, CSE, dead code;
``templates.py``  the inline forward/VJP/scalar source templates, one table, and
                  the choice among them (``Planner``);
``forward.py``    the probe and the ``forward`` emitter;
``backward.py``   ``BackwardEmitter``, the ``backward`` emitter (lazy scales,
                  accumulation, unbroadcast); ``cotangent.py`` its cotangent record;
``scalar.py``     the program over Python floats (Note [Scalar programs]);
``program.py``    :class:`Program`, which builds, checks and caches the above;
``common.py``     small helpers shared by the emitters.

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
from numeric.compile.program import Program

__all__ = ["Program"]
