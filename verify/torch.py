"""Check PyTorch gradients against exact ones: ``verify.torch.check(fn, *example_inputs)``.

``fn`` is traced with a :class:`torch.overrides.TorchFunctionMode`: every torch
function, method and operator it calls on a tensor derived from an input is
mapped to the symgrad op of the same meaning (``SUPPORTED`` lists the names),
building symgrad's graph over ``sg.symbol`` leaves.  A custom
``torch.autograd.Function`` is traced through its ``forward`` (the exact
derivative is that of the forward), while torch's gradient comes from its
hand-written ``backward``; ``exact=`` gives the formula instead (a symgrad
function of the inputs, or a SymPy expression).  torch's gradient of
``sum(w * fn(...))`` (autograd, run by torch, float64) is compared with the
exact one (SymPy via symgrad, evaluated at 40 digits) at the example point,
points drawn in the domain, extremes and kinks (Note [Checking a foreign
gradient] in :mod:`verify.external`).  An op outside symgrad's vocabulary
fails the report with its name and a hint.

This module needs PyTorch (``pip install symgrad[torch]``); ``import verify``
never imports it.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

try:
    import torch
    from torch.overrides import TorchFunctionMode
except ImportError as exc:  # pragma: no cover - exercised in a fresh interpreter
    raise ImportError("verify.torch needs PyTorch: pip install symgrad[torch]") from exc

import numpy as np

import symgrad as sg
from numeric.ops import RULE, UNARY
from verify import graph as vgraph
from verify.external import UnsupportedOp, check_foreign, cotangent, unsupported_report
from verify.report import Report

__all__ = ["check", "SUPPORTED", "trace"]


def _dims(a: tuple, kw: dict, start: int = 1) -> tuple:
    return tuple(a[start:]) if len(a) > start + 1 or (len(a) == start + 1 and isinstance(
        a[start], int)) else (tuple(a[start]) if len(a) > start else tuple(kw.get("dims", ())))


def _reduce(fn: Callable) -> Callable:
    def h(a, kw, t):
        dim = a[1] if len(a) > 1 else kw.get("dim", kw.get("axis"))
        keep = a[2] if len(a) > 2 else kw.get("keepdim", False)
        if isinstance(dim, list):
            dim = tuple(dim)
        return fn(a[0], dim=dim, keepdim=keep) if dim is not None else fn(a[0])
    return h


def _max_like(red: Callable, binary: Callable) -> Callable:
    def h(a, kw, t):
        other = a[1] if len(a) > 1 else kw.get("other", kw.get("dim"))
        if isinstance(other, sg.Tensor):
            return binary(a[0], other)
        if other is None:
            return red(a[0])
        keep = a[2] if len(a) > 2 else kw.get("keepdim", False)
        return red(a[0], dim=other, keepdim=keep), None   # (values, indices)
    return h


def _softplus(a, kw, t):
    beta = a[1] if len(a) > 1 else kw.get("beta", 1.0)
    threshold = a[2] if len(a) > 2 else kw.get("threshold", 20.0)
    x = a[0]
    soft = sg.softplus(x * beta) / beta if beta != 1 else sg.softplus(x)
    # torch returns x itself where beta * x > threshold: that branch is part of its meaning
    above = (t[0].detach().double() * beta > threshold).numpy()
    return sg.where(vgraph.constant(above), x, soft) if above.any() else soft


def _dim_arg(a, kw, k=1, name="dim"):
    return a[k] if len(a) > k else kw.get(name)


def _swap(fn):
    return lambda a, kw, t: fn(a[1], a[0])


def _getitem(a, kw, t):
    def conv(i):
        if isinstance(i, torch.Tensor):
            return i.detach().numpy()
        if isinstance(i, tuple):
            return tuple(conv(j) for j in i)
        return i
    return a[0][conv(t[1])]


def _transpose(a, kw, t):
    x = a[0]
    d0, d1 = (a[1], a[2]) if len(a) > 2 else (kw.get("dim0", 0), kw.get("dim1", 1))
    perm = list(range(len(x.shape)))
    d0, d1 = d0 % len(perm), d1 % len(perm)
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return x.permute(*perm)


def _T(a, kw, t):
    return a[0].permute(*reversed(range(len(a[0].shape))))


def _mT(a, kw, t):
    n = len(a[0].shape)
    return a[0].permute(*range(n - 2), n - 1, n - 2)


def _shape_args(a, kw):
    rest = a[1:] if len(a) > 1 else (kw.get("shape") or kw.get("size"),)
    if len(rest) == 1 and isinstance(rest[0], (tuple, list, torch.Size)):
        rest = tuple(rest[0])
    return tuple(int(d) for d in rest)


def _arith(fn, alpha_sign=None):
    def h(a, kw, t):
        other = a[1] if len(a) > 1 else kw["other"]
        alpha = kw.get("alpha", 1)
        if alpha != 1:
            other = other * alpha
        return fn(a[0], other)
    return h


def _div(a, kw, t):
    if kw.get("rounding_mode") is not None:
        raise UnsupportedOp(f"div(rounding_mode={kw['rounding_mode']!r}) is not in symgrad's "
                            "vocabulary (its gradient is zero almost everywhere)")
    return a[0] / (a[1] if len(a) > 1 else kw["other"])


def _cat(fn):
    return lambda a, kw, t: fn(list(a[0]), dim=_dim_arg(a, kw) or 0)


def _clamp(a, kw, t):
    lo = a[1] if len(a) > 1 else kw.get("min")
    hi = a[2] if len(a) > 2 else kw.get("max")
    if isinstance(lo, sg.Tensor) or isinstance(hi, sg.Tensor):
        out = a[0]
        if lo is not None:
            out = sg.maximum(out, lo)
        if hi is not None:
            out = sg.minimum(out, hi)
        return out
    return sg.clamp(a[0], min=lo, max=hi)


def _identity(a, kw, t):
    return a[0]


def _where(a, kw, t):
    return sg.where(a[0], a[1], a[2])


_I = _identity
#: torch name -> handler(converted args, kwargs, torch args); names are those of torch
#: functions, Tensor methods, torch.nn.functional functions and operators (dunders folded)
_TABLE: dict[str, Callable] = {
    "add": _arith(lambda x, y: x + y), "sub": _arith(lambda x, y: x - y),
    "subtract": _arith(lambda x, y: x - y), "rsub": _arith(lambda x, y: y - x),
    "mul": _arith(lambda x, y: x * y), "multiply": _arith(lambda x, y: x * y),
    "div": _div, "divide": _div, "true_divide": _div, "truediv": _div,
    "rtruediv": lambda a, kw, t: a[1] / a[0], "rdiv": lambda a, kw, t: a[1] / a[0],
    "pow": lambda a, kw, t: a[0] ** (a[1] if len(a) > 1 else kw["exponent"]),
    "rpow": lambda a, kw, t: a[1] ** a[0],
    "radd": _swap(lambda x, y: x + y), "rmul": _swap(lambda x, y: x * y),
    "neg": lambda a, kw, t: -a[0], "negative": lambda a, kw, t: -a[0],
    "pos": _I, "positive": _I,
    "rsqrt": lambda a, kw, t: 1.0 / sg.sqrt(a[0]),
    "square": lambda a, kw, t: a[0] * a[0], "reciprocal": lambda a, kw, t: 1.0 / a[0],
    "softplus": _softplus,
    "absolute": lambda a, kw, t: sg.abs(a[0]),
    "atan2": lambda a, kw, t: sg.atan2(a[0], a[1]), "arctan2": lambda a, kw, t: sg.atan2(a[0], a[1]),
    "maximum": lambda a, kw, t: sg.maximum(a[0], a[1]),
    "minimum": lambda a, kw, t: sg.minimum(a[0], a[1]),
    "clamp": _clamp, "clip": _clamp, "where": _where,
    "matmul": lambda a, kw, t: a[0] @ a[1], "mm": lambda a, kw, t: a[0] @ a[1],
    "bmm": lambda a, kw, t: a[0] @ a[1], "mv": lambda a, kw, t: a[0] @ a[1],
    "dot": lambda a, kw, t: (a[0] * a[1]).sum(), "rmatmul": lambda a, kw, t: a[1] @ a[0],
    "sum": _reduce(sg.sum), "mean": _reduce(sg.mean),
    "amax": _reduce(sg.amax), "amin": _reduce(sg.amin),
    "max": _max_like(sg.amax, sg.maximum), "min": _max_like(sg.amin, sg.minimum),
    "logsumexp": lambda a, kw, t: sg.logsumexp(a[0], _dim_arg(a, kw),
                                               a[2] if len(a) > 2 else kw.get("keepdim", False)),
    "softmax": lambda a, kw, t: sg.softmax(a[0], _dim_arg(a, kw)),
    "log_softmax": lambda a, kw, t: sg.log_softmax(a[0], _dim_arg(a, kw)),
    "reshape": lambda a, kw, t: a[0].reshape(*_shape_args(a, kw)),
    "view": lambda a, kw, t: a[0].reshape(*_shape_args(a, kw)),
    "view_as": lambda a, kw, t: a[0].reshape(*t[1].shape),
    "reshape_as": lambda a, kw, t: a[0].reshape(*t[1].shape),
    "expand": lambda a, kw, t: sg.broadcast_to(a[0], *_out_shape[0]),
    "expand_as": lambda a, kw, t: sg.broadcast_to(a[0], *_out_shape[0]),
    "broadcast_to": lambda a, kw, t: sg.broadcast_to(a[0], *_shape_args(a, kw)),
    "flatten": lambda a, kw, t: a[0].reshape(*_out_shape[0]),
    "squeeze": lambda a, kw, t: a[0].reshape(*_out_shape[0]),
    "unsqueeze": lambda a, kw, t: a[0].reshape(*_out_shape[0]),
    "permute": lambda a, kw, t: a[0].permute(*_dims(a, kw)),
    "transpose": _transpose, "swapaxes": _transpose, "t": _T, "T": _T, "mT": _mT,
    "getitem": _getitem,
    "cat": _cat(sg.cat), "concat": _cat(sg.cat), "concatenate": _cat(sg.cat),
    "stack": _cat(sg.stack),
    "contiguous": _I, "clone": _I, "double": _I, "float": _I, "to": _I, "type_as": _I,
}
#: the shape torch gave the output being mapped (shape-only ops copy it)
_out_shape: list = [()]


# the rest of the elementwise vocabulary comes from numeric's rules: each op declares its
# PyTorch names (sg. function and Tensor methods), so a new unary op is traced with no edit here
for _op in UNARY:
    _fn = getattr(sg, RULE[_op].sg[0]) if RULE[_op].sg else None
    for _name in (*RULE[_op].sg, *RULE[_op].methods) if _fn is not None else ():
        _TABLE.setdefault(_name, lambda a, kw, t, fn=_fn: fn(a[0]))

#: every torch name the tracer maps to a symgrad op
SUPPORTED = tuple(sorted(_TABLE))


def _qualname(func: Any) -> str:
    name = getattr(func, "__name__", repr(func))
    if name == "__get__":
        owner = getattr(func, "__self__", None)
        return f"torch.Tensor.{getattr(owner, '__name__', '?')}"
    import torch.nn.functional as F
    for prefix, mod in (("torch.nn.functional", F), ("torch", torch), ("torch.Tensor", torch.Tensor)):
        if getattr(mod, name, None) is func:
            return f"{prefix}.{name}"
    return f"torch.Tensor.{name}" if "Tensor" in repr(func) else name


def _key(func: Any) -> str:
    name = getattr(func, "__name__", "")
    if name == "__get__":
        return getattr(getattr(func, "__self__", None), "__name__", "")
    if name.startswith("__") and name.endswith("__"):
        name = name[2:-2]
        if name.startswith("i") and name[1:] in _TABLE:
            return "inplace:" + name
    return name


class _Tracer(TorchFunctionMode):
    """Records, for each tensor computed from the inputs, its symgrad counterpart."""

    def __init__(self, inputs: Sequence, symbols: Sequence) -> None:
        super().__init__()
        self.map: dict[int, tuple] = {id(t): (t, s) for t, s in zip(inputs, symbols)}
        self.unknown: list[str] = []

    def tracked(self, x: Any) -> bool:
        return isinstance(x, torch.Tensor) and id(x) in self.map and self.map[id(x)][0] is x

    def sym(self, x: Any) -> Any:
        if self.tracked(x):
            return self.map[id(x)][1]
        if isinstance(x, torch.Tensor):
            v = x.detach().cpu().numpy()
            return vgraph.constant(v if v.dtype == bool else v.astype(np.float64))
        if isinstance(x, (list, tuple)):
            return type(x)(self.sym(i) for i in x)
        return x

    def _any_tracked(self, args: Any) -> bool:
        if isinstance(args, (list, tuple)):
            return any(self._any_tracked(a) for a in args)
        if isinstance(args, dict):
            return any(self._any_tracked(a) for a in args.values())
        return self.tracked(args)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if not self._any_tracked((args, kwargs)):
            return out
        outs = out if isinstance(out, tuple) else (out,)
        if not isinstance(outs[0], torch.Tensor) or not outs[0].is_floating_point():
            return out   # shapes, sizes, comparisons: constants of the trace
        key = _key(func)
        handler = _TABLE.get(key)
        if handler is None:
            hint = ("in-place ops are not traced; write it out of place" if
                    key.startswith("inplace:") or key.endswith("_") else
                    "rewrite it with supported ops (verify.torch.SUPPORTED), or give the "
                    "exact derivative with exact= (a symgrad function or a SymPy expression)")
            msg = f"{_qualname(func)} is not in symgrad's vocabulary; {hint}"
            if msg not in self.unknown:
                self.unknown.append(msg)
            return out
        _out_shape[0] = tuple(outs[0].shape)
        try:
            res = handler(tuple(self.sym(a) for a in args),
                          {k: self.sym(v) for k, v in kwargs.items()}, args)
        except UnsupportedOp as e:
            self.unknown.append(f"{_qualname(func)}: {e}")
            return out
        res = res if isinstance(res, tuple) else (res,)
        for o, r in zip(outs, res):
            if r is not None and isinstance(o, torch.Tensor):
                if tuple(r.shape) != tuple(o.shape):
                    self.unknown.append(f"{_qualname(func)}: traced shape {tuple(r.shape)} "
                                        f"differs from torch's {tuple(o.shape)} (a tracer gap)")
                self.map[id(o)] = (o, r)
        return out


def trace(fn: Callable, *example_inputs: Any, names: Sequence[str] | None = None):
    """Trace ``fn`` at ``example_inputs`` into a symgrad tensor over ``sg.symbol`` leaves.

    Returns ``(output, symbols, unknown)``: ``unknown`` lists the ops symgrad
    does not know (empty when the trace is complete).

    >>> import torch
    >>> out, syms, unknown = trace(lambda x: torch.sin(x).sum(), torch.ones(2, dtype=torch.float64))
    >>> out.node.op, unknown
    (Op.SUM, [])
    """
    xs = [torch.as_tensor(x).detach().to(torch.float64).requires_grad_(True)
          for x in example_inputs]
    names = list(names) if names is not None else _names(fn, len(xs))
    syms = [vgraph.symbol(n, tuple(x.shape)) for n, x in zip(names, xs)]
    out, sym_out, unknown = _run_traced(fn, xs, syms)
    return sym_out, syms, unknown


def _run_traced(fn, xs, syms):
    tracer = _Tracer(xs, syms)
    with tracer:
        out = fn(*xs)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"verify.torch.check: fn must return one tensor, got {type(out).__name__}")
    entry = tracer.map.get(id(out))
    sym_out = entry[1] if entry is not None and entry[0] is out else None
    unknown = list(tracer.unknown)
    if sym_out is None and not unknown:
        unknown.append("the output does not depend on the inputs through traced torch ops")
    return out, sym_out, unknown


def _names(fn: Callable, n: int) -> list[str]:
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        names = [p.name for p in params][:n]
    except (TypeError, ValueError):
        names = []
    if len(names) != n or len(set(names)) != n or not all(s.isidentifier() for s in names):
        names = [f"x{k}" for k in range(n)]
    return names


def _exact_graph(exact: Any, syms: list, names: list):
    """The symgrad tensor of ``exact`` (a symgrad function or a SymPy expression)."""
    import sympy
    if isinstance(exact, sympy.Basic):
        free = sorted(exact.free_symbols, key=lambda s: s.name)
        byname = {s.name: s for s in free}
        if all(n in byname for n in names[:len(free)]) and len(free) <= len(names):
            order = [byname.get(n) for n in names]
        elif len(free) <= len(names):
            order = free + [None] * (len(names) - len(free))
        else:
            raise ValueError(f"exact= has free symbols {free} but fn has {len(names)} inputs")
        params = [s if s is not None else sympy.Dummy() for s in order]
        fwd = sympy.lambdify(params, exact, "numpy")
        op = sg.custom_op("exact", lambda *v: np.asarray(fwd(*v), dtype=np.float64) +
                          np.zeros(np.broadcast_shapes(*[np.shape(u) for u in v])),
                          tuple(lambda g, out, *v: np.full(np.shape(g), np.nan)
                                for _ in params),
                          lambda *v: exact.xreplace(dict(zip(params, v))))
        return op(*syms)
    if callable(exact):
        return exact(*syms)
    raise TypeError(f"exact= must be a symgrad function or a SymPy expression, got "
                    f"{type(exact).__name__}")


def check(fn: Callable, *example_inputs: Any, exact: Any = None, n_points: int = 10,
          seed: int = 0, extremes: bool = True, kinks: bool = True,
          points: Sequence | None = None, names: Sequence[str] | None = None) -> Report:
    """Compare torch's gradients of ``fn`` with the exact ones; return a :class:`verify.Report`.

    ``fn`` takes tensors shaped like ``example_inputs`` (run in float64) and
    returns one tensor.  ``exact`` (optional): the function's exact form, a
    symgrad function of the inputs (``lambda t: sg.softplus(t)``) or a SymPy
    expression (its free symbols named like ``fn``'s parameters, or ``x0,
    x1, ...``); without it ``fn`` is traced.  Points: the example, ``n_points``
    drawn in the domain, ``extremes`` and ``kinks`` (or exactly ``points``).
    Never raises for a mismatch (``report.raise_if_failed()`` does).

    >>> import torch
    >>> report = check(lambda x: (torch.tanh(x) * x).sum(), torch.randn(3))
    >>> report.passed
    True
    """
    xs0 = [torch.as_tensor(x).detach().to(torch.float64) for x in example_inputs]
    names = list(names) if names is not None else _names(fn, len(xs0))
    syms = [vgraph.symbol(n, tuple(x.shape)) for n, x in zip(names, xs0)]
    label = "torch"
    fixed = _exact_graph(exact, syms, names) if exact is not None else None

    def run(values):
        xs = [torch.tensor(np.asarray(v, np.float64), dtype=torch.float64, requires_grad=True)
              for v in values]
        if fixed is not None:
            out, sym_out, unknown = fn(*xs), fixed, []
        else:
            out, sym_out, unknown = _run_traced(fn, xs, syms)
        if unknown:
            raise UnsupportedOp("\n".join(unknown))
        w = torch.tensor(cotangent(tuple(out.shape), seed), dtype=out.dtype)
        grads = torch.autograd.grad(out, xs, grad_outputs=w, allow_unused=True)
        grads = [np.zeros(tuple(x.shape)) if g is None else g.detach().double().numpy()
                 for g, x in zip(grads, xs)]
        return sym_out.node, [s.node for s in syms], grads, out.detach().double().numpy()

    try:
        return check_foreign(run, [x.numpy() for x in xs0], names, n_points=n_points,
                             seed=seed, extremes=extremes, kinks=kinks, points=points,
                             label=label)
    except UnsupportedOp as e:
        return unsupported_report(names, [tuple(x.shape) for x in xs0], str(e).splitlines(),
                                  label)
