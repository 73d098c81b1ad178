"""Check JAX gradients against exact ones: ``verify.jax.check(fn, *example_inputs)``.

``fn`` is traced with ``jax.make_jaxpr`` (in float64) and its equations are
interpreted into symgrad's graph (``PRIMITIVES`` lists the primitive names
mapped; ``pjit``, ``custom_jvp_call`` and ``custom_vjp_call`` are entered, so
the exact derivative of a ``jax.custom_vjp`` function is that of its primal
forward while ``jax.vjp`` runs its hand-written rule).  Boolean and integer
values (comparisons feeding ``select_n``) are evaluated concretely and become
constants.  Points and verdicts as in :mod:`verify.torch`.

The mapping itself (:func:`interpret`) reads only ``eqn.primitive.name``,
``eqn.invars``/``outvars`` (a literal has ``.val``), ``eqn.params`` and
``primitive.bind``, so it is tested without jax installed.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

import symgrad as sg
from numeric.ops import RULE, UNARY
from verify import graph as vgraph
from verify.external import UnsupportedOp, check_foreign, cotangent, unsupported_report
from verify.report import Report

__all__ = ["check", "interpret", "PRIMITIVES"]


def _dot_general(ins, params, shape):
    (lc, rc), (lb, rb) = params["dimension_numbers"]
    a, b = ins
    na, nb = len(a.shape), len(b.shape)
    lc, rc, lb, rb = map(tuple, (lc, rc, lb, rb))
    nbatch = len(lb)
    if lb != tuple(range(nbatch)) or rb != tuple(range(nbatch)) or len(lc) != 1:
        raise UnsupportedOp(f"dot_general with dimension_numbers {params['dimension_numbers']}")
    if lc != (na - 1,):
        raise UnsupportedOp(f"dot_general contracting lhs dims {lc}")
    if nb - nbatch == 1 and rc == (nbatch,):
        return a @ b
    if rc == (nbatch,):
        return a @ b
    if rc == (nb - 1,):   # a @ b.T over the last two dims
        perm = list(range(nb - 2)) + [nb - 1, nb - 2]
        return a @ b.permute(*perm)
    raise UnsupportedOp(f"dot_general contracting rhs dims {rc}")


def _broadcast_in_dim(ins, params, shape):
    x = ins[0]
    target = tuple(params["shape"])
    dims = tuple(params["broadcast_dimensions"])
    mid = [1] * len(target)
    for d, s in zip(dims, x.shape):
        mid[d] = s
    y = x.reshape(*mid) if tuple(mid) != tuple(x.shape) else x
    return sg.broadcast_to(y, *target) if tuple(mid) != target else y


def _select_n(ins, params, shape):
    if len(ins) != 3:
        raise UnsupportedOp("select_n with more than two cases")
    pred, on_false, on_true = ins
    return sg.where(pred, on_true, on_false)


def _reduce(fn):
    return lambda ins, p, shape: fn(ins[0], dim=tuple(p["axes"])) if p["axes"] else ins[0]


def _unary(fn):
    return lambda ins, p, shape: fn(ins[0])


def _binary(fn):
    return lambda ins, p, shape: fn(ins[0], ins[1])


#: jaxpr primitive name -> handler(inputs, params, output shape) -> symgrad tensor
_TABLE: dict[str, Callable] = {
    "add": _binary(lambda a, b: a + b), "add_any": _binary(lambda a, b: a + b),
    "sub": _binary(lambda a, b: a - b), "mul": _binary(lambda a, b: a * b),
    "div": _binary(lambda a, b: a / b), "pow": _binary(lambda a, b: a ** b),
    "max": _binary(sg.maximum), "min": _binary(sg.minimum),
    "neg": _unary(lambda a: -a), "rsqrt": _unary(lambda a: 1.0 / sg.sqrt(a)),
    "logistic": _unary(sg.sigmoid), "square": _unary(lambda a: a * a),
    "integer_pow": lambda ins, p, shape: ins[0] ** int(p["y"]),
    "copy": _unary(lambda a: a), "copy_p": _unary(lambda a: a),
    "convert_element_type": _unary(lambda a: a),
    "reduce_sum": _reduce(sg.sum), "reduce_max": _reduce(sg.amax), "reduce_min": _reduce(sg.amin),
    "dot_general": _dot_general, "broadcast_in_dim": _broadcast_in_dim,
    "reshape": lambda ins, p, shape: ins[0].reshape(*shape),
    "squeeze": lambda ins, p, shape: ins[0].reshape(*shape),
    "expand_dims": lambda ins, p, shape: ins[0].reshape(*shape),
    "transpose": lambda ins, p, shape: ins[0].permute(*p["permutation"]),
    "select_n": _select_n,
    "concatenate": lambda ins, p, shape: sg.cat(list(ins), dim=int(p["dimension"])),
    "slice": lambda ins, p, shape: ins[0][tuple(
        slice(s, e, st) for s, e, st in zip(p["start_indices"], p["limit_indices"],
                                            p.get("strides") or (None,) * len(shape)))],
}
# jax names its elementwise primitives as symgrad's rules name the ops (exp, log1p, tanh, ...)
for _op in UNARY:
    if RULE[_op].sg:
        _TABLE.setdefault(RULE[_op].sg[0], _unary(getattr(sg, RULE[_op].sg[0])))
_TABLE.setdefault("atan2", _binary(sg.atan2))
#: primitives whose sub-jaxpr is entered (the parameter holding it)
_CALLS = {"pjit": "jaxpr", "jit": "jaxpr", "closed_call": "call_jaxpr", "core_call": "call_jaxpr",
          "custom_jvp_call": "call_jaxpr", "custom_vjp_call": "call_jaxpr",
          "custom_vjp_call_jaxpr": "fun_jaxpr", "remat": "jaxpr", "checkpoint": "jaxpr"}
#: every primitive name the interpreter maps
PRIMITIVES = tuple(sorted(set(_TABLE) | set(_CALLS) | {"stop_gradient"}))


def _is_float(v: Any) -> bool:
    return np.asarray(v).dtype.kind == "f"


def _shape(var: Any) -> tuple:
    aval = getattr(var, "aval", None)
    return tuple(getattr(aval, "shape", ()))


def interpret(jaxpr: Any, consts: Sequence, args: Sequence, syms: Sequence,
              unknown: list) -> tuple[list, list]:
    """Run ``jaxpr`` at ``args`` (concrete values) alongside symgrad tensors ``syms``.

    ``syms[k]`` is the symgrad tensor of input ``k`` (``None`` for a constant
    input).  Returns (output values, output symgrad tensors or None); the names
    of primitives symgrad has no form for are appended to ``unknown``.
    """
    val: dict = {}
    sym: dict = {}

    def read(v):
        if type(v).__name__ == "Literal":   # a constant written into the equation
            return v.val, None
        return val[v], sym.get(v)

    for var, c in zip(getattr(jaxpr, "constvars", ()), consts):
        val[var] = c
    for var, a, s in zip(jaxpr.invars, args, syms):
        val[var], sym[var] = a, s
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        pairs = [read(v) for v in eqn.invars]
        in_vals = [p[0] for p in pairs]
        if name in _CALLS and _CALLS[name] in eqn.params:
            sub = eqn.params[_CALLS[name]]
            inner = getattr(sub, "jaxpr", sub)
            outs, osyms = interpret(inner, getattr(sub, "consts", ()), in_vals,
                                    [p[1] for p in pairs], unknown)
        else:
            res = eqn.primitive.bind(*in_vals, **eqn.params)
            outs = list(res) if getattr(eqn.primitive, "multiple_results", False) else [res]
            osyms = [None] * len(outs)
            if name == "stop_gradient":
                pass   # no gradient flows: its value is a constant of the trace
            elif any(p[1] is not None for p in pairs) and _is_float(outs[0]):
                handler = _TABLE.get(name)
                if handler is None:
                    msg = (f"jax primitive {name!r} is not in symgrad's vocabulary; rewrite it "
                           "with supported ops (verify.jax.PRIMITIVES), or give the exact form "
                           "with exact= (a symgrad function)")
                    if msg not in unknown:
                        unknown.append(msg)
                else:
                    ins = [s if s is not None else vgraph.constant(
                        np.asarray(v, dtype=bool if np.asarray(v).dtype == bool else np.float64))
                        for v, s in pairs]
                    try:
                        osyms = [handler(ins, dict(eqn.params), _shape(eqn.outvars[0]) or
                                         tuple(np.shape(outs[0])))]
                    except UnsupportedOp as e:
                        unknown.append(f"jax primitive {name!r}: {e}")
        for var, v, s in zip(eqn.outvars, outs, osyms):
            val[var], sym[var] = v, s
    results = [read(v) for v in jaxpr.outvars]
    return [r[0] for r in results], [r[1] for r in results]


def check(fn: Callable, *example_inputs: Any, exact: Any = None, n_points: int = 10,
          seed: int = 0, extremes: bool = True, kinks: bool = False,
          points: Sequence | None = None, names: Sequence[str] | None = None) -> Report:
    """Compare ``jax.vjp``'s gradients of ``fn`` with the exact ones (see :mod:`verify.torch`).

    ``exact``: optional symgrad function of the inputs giving the exact form.
    ``kinks`` is off by default: symgrad's kink conventions are PyTorch's, and
    JAX's differ (ties of ``max`` split differently, for one).
    """
    try:
        import jax
    except ImportError as exc:
        raise ImportError("verify.jax needs JAX: pip install symgrad[jax]") from exc
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)   # float64, as the exact comparison needs
    try:
        return _check(fn, example_inputs, exact, n_points, seed, extremes, kinks, points, names)
    finally:
        jax.config.update("jax_enable_x64", previous)


def _input_names(fn: Callable, n: int) -> list[str]:
    import inspect
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][:n]
    except (TypeError, ValueError):
        params = []
    if len(params) != n or len(set(params)) != n:
        params = [f"x{k}" for k in range(n)]
    return params


def _check(fn, example_inputs, exact, n_points, seed, extremes, kinks, points, names):
    import jax
    import jax.numpy as jnp

    xs0 = [np.asarray(x, dtype=np.float64) for x in example_inputs]
    names = list(names) if names is not None else _input_names(fn, len(xs0))
    syms = [vgraph.symbol(n, x.shape) for n, x in zip(names, xs0)]
    fixed = exact(*syms) if exact is not None else None

    def run(values):
        xs = [jnp.asarray(np.asarray(v, np.float64)) for v in values]
        out, vjp = jax.vjp(fn, *xs)
        if fixed is not None:
            sym_out, unknown = fixed, []
        else:
            closed = jax.make_jaxpr(fn)(*xs)
            unknown: list = []
            _, outs = interpret(closed.jaxpr, closed.consts, xs, syms, unknown)
            sym_out = outs[0]
            if sym_out is None and not unknown:
                unknown.append("the output does not depend on the inputs through traced ops")
        if unknown:
            raise UnsupportedOp("\n".join(unknown))
        w = cotangent(tuple(np.shape(out)), seed)
        grads = vjp(jnp.asarray(w, dtype=jnp.asarray(out).dtype))
        return (sym_out.node, [s.node for s in syms], [np.asarray(g, np.float64) for g in grads],
                np.asarray(out, np.float64))

    try:
        return check_foreign(run, xs0, names, n_points=n_points, seed=seed, extremes=extremes,
                             kinks=kinks, points=points, label="jax")
    except UnsupportedOp as e:
        return unsupported_report(names, [x.shape for x in xs0], str(e).splitlines(), "jax")
