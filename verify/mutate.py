"""Deliberately wrong VJPs, to show that the referee catches them.

``perturbed(op, kind, argnum=0)`` temporarily replaces one entry of numeric's
``VJP`` table (the dict the executor reads) and restores it on exit:

* ``"scale"``: the cotangent of input ``argnum`` times 1.001;
* ``"drop"``:  that input's cotangent replaced by zeros (a dropped term);
* ``"sign"``:  that input's cotangent negated.

Also reachable from the command line for demonstrations and tests:
``SYMGRAD_VERIFY_INJECT=exp:scale`` (or ``op:kind:argnum``) makes
``symgrad verify`` run with that bug injected.

>>> import numpy as np
>>> from numeric.ops import Op
>>> from numeric.vjps import VJP
>>> with perturbed(Op.EXP, "scale"):
...     float(VJP[Op.EXP][0](np.float64(1.0), np.float64(2.0), np.float64(0.0)))
2.002

The realistic catalogue
-----------------------
``MUTANTS`` holds more than a hundred *realistic* planted bugs: each a small edit
of the kind autograd engines have shipped, wrong only for some data, sizes,
dtypes or code paths (``CLASSES`` lists the kinds).  A :class:`Mutant` is a
context manager (or call ``apply()``/``restore()``) that patches numeric's
tables (``VJP``, ``FORWARD``, the compiled ``INLINE`` templates), symgrad's
lowering table, or one function (an edited copy of its source), and restores
every patched entry exactly on exit.  ``mutant.probe()`` computes something the
bug changes; :meth:`Mutant.effective` checks that it does.
:mod:`verify.selftest` runs the referee against each of them.

>>> m = MUTANTS_BY_NAME["relu_kink_at_zero"]
>>> m.cls, m.effective()
('kink', True)
"""
from __future__ import annotations

import contextlib
import inspect
import math
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from numeric.ops import VARIADIC, Op
from numeric.vjps import VJP

__all__ = ["KINDS", "perturbed", "parse_injection", "Mutant", "MUTANTS", "MUTANTS_BY_NAME",
           "CLASSES", "same"]

KINDS = ("scale", "drop", "sign")


def _wrong(c: Any, kind: str) -> Any:
    if c is None:
        return c
    if kind == "scale":
        return c * 1.001
    if kind == "drop":
        return np.zeros_like(np.asarray(c))
    return -c


def _wrap(rule: Callable, kind: str, argnum: int | None) -> Callable:
    """``rule`` made wrong; with ``argnum``, a variadic rule (Note [Variadic VJPs] in
    numeric/vjps.py) made wrong in its entry ``argnum`` only."""
    def wrong(g: Any, out: Any, *xs: Any, **attrs: Any) -> Any:
        c = rule(g, out, *xs, **attrs)
        if argnum is None:
            return _wrong(c, kind)
        return tuple(_wrong(ci, kind) if j == argnum else ci for j, ci in enumerate(c))
    return wrong


@contextlib.contextmanager
def perturbed(op: Op, kind: str, argnum: int = 0) -> Iterator[None]:
    """Run the ``with`` body with ``op``'s VJP for input ``argnum`` made wrong."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    rules = VJP[op]
    if op in VARIADIC:
        new = (_wrap(rules[0], kind, argnum),)
    else:
        if not 0 <= argnum < len(rules) or rules[argnum] is None:
            raise ValueError(f"{op!r} has no VJP for input {argnum}")
        new = tuple(_wrap(r, kind, None) if i == argnum else r for i, r in enumerate(rules))
    VJP[op] = new
    try:
        yield
    finally:
        VJP[op] = rules


def parse_injection(spec: str) -> tuple[Op, str, int]:
    """Parse ``"op:kind[:argnum]"`` (e.g. ``"exp:scale"``).

    >>> parse_injection("mul:sign:1")
    (Op.MUL, 'sign', 1)
    """
    parts = spec.strip().split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"injection spec must be 'op:kind[:argnum]', got {spec!r}")
    try:
        op = Op[parts[0].upper()]
    except KeyError:
        raise ValueError(f"unknown op {parts[0]!r} in injection spec {spec!r}") from None
    if parts[1] not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {parts[1]!r}")
    return op, parts[1], int(parts[2]) if len(parts) == 3 else 0



# =============================================================================
# The realistic catalogue
# =============================================================================

#: mutant class -> what the bug depends on
CLASSES: dict[str, str] = {
    "negative": "wrong only for x < 0",
    "large": "wrong only for |x| > 10 (or 5): a stability branch",
    "overflow": "wrong only near overflow (|x| ~ 700-800)",
    "kink": "wrong only at kinks and ties",
    "pow_edge": "pow at 0, zero exponent, negative base",
    "size": "wrong only above 4096 elements",
    "batched_matmul": "wrong only for batched x batched matmul",
    "float32": "wrong only in float32 (dtype or precision)",
    "compiled": "wrong only in compiled programs (sg.compile)",
    "create_graph": "wrong only under create_graph=True",
    "accumulation": "wrong only in .grad accumulation",
    "fast_path": "wrong only in the loss.backward() fast path",
    "optimizer": "wrong only in one optimizer's update",
    "forward": "forward values only (gradient formula right)",
    "everywhere": "wrong everywhere (control)",
}


def same(a: Any, b: Any) -> bool:
    """Exact equality of probe results: nested tuples/lists of arrays (dtype, shape, bits).

    >>> same((np.float32([1, np.nan]),), (np.float32([1, np.nan]),))
    True
    >>> same(np.float32([1]), np.float64([1]))
    False
    """
    if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
        return (isinstance(a, (tuple, list)) and isinstance(b, (tuple, list))
                and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b)))
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


class _Patch:
    """One patched entry: ``target[key]`` (a dict) or ``target.key`` (``attr=True``).

    ``make(old)`` builds the new value from the current one when the mutant is
    applied; restore puts the very same old object back (or deletes the entry if
    there was none).
    """

    __slots__ = ("target", "key", "make", "attr", "had", "old")

    def __init__(self, target: Any, key: Any, make: Callable[[Any], Any], attr: bool = False):
        self.target, self.key, self.make, self.attr = target, key, make, attr
        self.had, self.old = False, None

    def apply(self) -> None:
        if self.attr:
            ns = vars(self.target)
            self.had, self.old = self.key in ns, ns.get(self.key)
            new = self.make(self.old if self.had else getattr(self.target, self.key))
            setattr(self.target, self.key, new)
        else:
            self.had, self.old = self.key in self.target, self.target.get(self.key)
            self.target[self.key] = self.make(self.old)

    def restore(self) -> None:
        if self.attr:
            if self.had:
                setattr(self.target, self.key, self.old)
            else:
                delattr(self.target, self.key)
        elif self.had:
            self.target[self.key] = self.old
        else:
            del self.target[self.key]
        self.old = None


@dataclass(eq=False)
class Mutant:
    """One planted bug: ``with mutant: ...`` (or ``apply()``/``restore()``).

    ``name``: unique id; ``cls``: a key of :data:`CLASSES`; ``description``: the
    edit in one line; ``ops``: the op names a restricted referee run should
    check; ``probe()``: a computation whose result the bug changes (run once
    plain and once mutated by :meth:`effective`).
    """

    name: str
    cls: str
    description: str
    patches: Sequence[_Patch]
    probe: Callable[[], Any]
    ops: tuple = ("mul",)
    after: Callable[[], None] | None = None   # called after apply and after restore
    applied: bool = field(default=False, repr=False)

    def apply(self) -> None:
        """Patch every entry (all or nothing)."""
        if self.applied:
            raise RuntimeError(f"mutant {self.name} is already applied")
        done: list[_Patch] = []
        try:
            for p in self.patches:
                p.apply()
                done.append(p)
        except BaseException:
            for p in reversed(done):
                p.restore()
            raise
        self.applied = True
        if self.after is not None:
            self.after()

    def restore(self) -> None:
        """Put every patched entry back exactly."""
        if not self.applied:
            return
        for p in reversed(self.patches):
            p.restore()
        self.applied = False
        if self.after is not None:
            self.after()

    def __enter__(self) -> "Mutant":
        self.apply()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.restore()

    def run_probe(self) -> Any:
        """``probe()``, with an exception turned into a comparable value."""
        try:
            with np.errstate(all="ignore"):
                return self.probe()
        except Exception as e:  # noqa: BLE001 -- a raising probe is a behaviour too
            return f"raised {type(e).__name__}"

    def effective(self) -> bool:
        """Does the bug change the probe's result?"""
        base = self.run_probe()
        with self:
            got = self.run_probe()
        return not same(base, got)


# ----------------------------------------------------------------------------- patch makers

def _vjp(op: Op, argnum: int, wrap: Callable[[Callable], Callable]) -> _Patch:
    return _Patch(VJP, op, lambda old: tuple(wrap(r) if i == argnum else r
                                             for i, r in enumerate(old)))


def _fwd(op: Op, wrap: Callable[[Callable], Callable]) -> _Patch:
    from numeric.kernels import FORWARD
    return _Patch(FORWARD, op, wrap)


def _inline(op: Op, edit: Callable[[Any], Any]) -> _Patch:
    from numeric.compile.templates import INLINE
    return _Patch(INLINE, op, edit)


def _edited(func: Callable, old: str, new: str, occurrence: int | None = None) -> Callable:
    """A copy of ``func`` whose source has ``old`` replaced by ``new`` (a small edit).

    ``occurrence``: replace only that (0-based) occurrence; None requires exactly one.
    The copy runs in a copy of ``func``'s module globals.
    """
    func = inspect.unwrap(func)
    src = textwrap.dedent(inspect.getsource(func))
    n = src.count(old)
    if occurrence is None:
        if n != 1:
            raise ValueError(f"mutant edit of {func.__qualname__}: {old!r} occurs {n} times")
        src = src.replace(old, new)
    else:
        if n <= occurrence:
            raise ValueError(f"mutant edit of {func.__qualname__}: {old!r} occurs {n} times")
        parts = src.split(old)
        src = old.join(parts[:occurrence + 1]) + new + old.join(parts[occurrence + 1:])
    ns = dict(func.__globals__)
    where = f"<mutant of {func.__module__}.{func.__qualname__}>"
    exec(compile(src, where, "exec"), ns)  # noqa: S102 -- our own edit of our own source
    return ns[func.__name__]


def _edit_attr(module: Any, name: str, old: str, new: str,
               occurrence: int | None = None) -> _Patch:
    return _Patch(module, name, lambda f: _edited(f, old, new, occurrence), attr=True)


def _edit_vjp(op: Op, argnum: int, old: str, new: str) -> _Patch:
    return _vjp(op, argnum, lambda r: _edited(r, old, new))


def _when(cond: Callable[..., Any], wrong: Callable[..., Any]) -> Callable[[Callable], Callable]:
    """VJP wrapper: ``np.where(cond(x...), wrong(g, out, x...), right)`` elementwise."""
    def wrap(rule: Callable) -> Callable:
        def mutated(g: Any, out: Any, *xs: Any, **attrs: Any) -> Any:
            right = rule(g, out, *xs, **attrs)
            with np.errstate(all="ignore"):
                bad = wrong(g, out, *xs, **attrs)
                return np.where(cond(*xs), bad, right).astype(np.asarray(right).dtype)
        return mutated
    return wrap


def _fwd_when(cond: Callable[..., Any],
              wrong: Callable[..., Any]) -> Callable[[Callable], Callable]:
    def wrap(kernel: Callable) -> Callable:
        def mutated(*xs: Any, **attrs: Any) -> Any:
            right = kernel(*xs, **attrs)
            with np.errstate(all="ignore"):
                return np.asarray(np.where(cond(*xs), wrong(*xs, **attrs), right)
                                  ).astype(right.dtype)
        return mutated
    return wrap


def _only_tensors(wrong: Callable[..., Any]) -> Callable[[Callable], Callable]:
    """VJP wrapper: the ndarray fast path is right; the generic path (symgrad Tensors,
    i.e. create_graph=True) computes ``wrong``."""
    def wrap(rule: Callable) -> Callable:
        def mutated(g: Any, out: Any, *xs: Any, **attrs: Any) -> Any:
            if g.__class__ is np.ndarray:
                return rule(g, out, *xs, **attrs)
            return wrong(rule, g, out, *xs, **attrs)
        return mutated
    return wrap


def _clear_prepared() -> None:
    """Drop the referee's cached exact formulas (a lowering mutant changes them)."""
    from verify import sweep
    sweep.clear_caches()


# ----------------------------------------------------------------------------- probes

def _w(shape: tuple, dtype: Any) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    return (np.cos(np.arange(n) * 1.7) + 0.25).reshape(shape).astype(dtype)


def _grads(op: Op, *vals: Any, attrs: dict | None = None, dtype: Any = np.float64,
           path: str = "grad", nograd: tuple = ()) -> tuple:
    """Forward value and gradients of ``sum(w * op(*vals))`` through symgrad (eager).

    ``path``: ``"grad"`` (sg.autograd.grad: the executor's general path),
    ``"backward"`` (loss.backward(): the fast path), ``"create_graph"``
    (first-order values of sg.autograd.grad(create_graph=True)).
    """
    import symgrad as sg
    from numeric.kernels import apply

    ts = []
    for i, v in enumerate(vals):
        a = np.asarray(v)
        if a.dtype.kind == "f":
            a = a.astype(dtype)
        ts.append(sg.tensor(a, requires_grad=i not in nograd and a.dtype.kind == "f"))
    out = apply(op, *ts, **(attrs or {}))
    loss = (out * sg.tensor(_w(tuple(out.shape), out.dtype))).sum()
    wrt = [t for t in ts if t.requires_grad]
    if path == "backward":
        loss.backward()
        gs = [t.grad.numpy() for t in wrt]
    elif path == "create_graph":
        gs = [g.detach().numpy() for g in sg.autograd.grad(loss, wrt, create_graph=True)]
    else:
        gs = [g.numpy() for g in sg.autograd.grad(loss, wrt)]
    return (out.detach().numpy(), *gs)


def _probe(op: Op, *vals: Any, **kw: Any) -> Callable[[], tuple]:
    return lambda: _grads(op, *vals, **kw)


def _compiled_probe(fn: Callable, trace: Sequence[Any], call: Sequence[Any]) -> Callable[[], tuple]:
    """Trace ``sg.compile(fn)`` at ``trace`` (a fresh trace: built inside the mutant), then
    re-call it at ``call``: the output and gradients of that second call."""
    def probe() -> tuple:
        import symgrad as sg
        f = sg.compile(fn)
        t0 = [sg.tensor(np.asarray(v, np.float64), requires_grad=True) for v in trace]
        f(*t0).backward()
        ts = [sg.tensor(np.asarray(v, np.float64), requires_grad=True) for v in call]
        out = f(*ts)
        out.backward()
        return (out.detach().numpy(), *[t.grad.numpy() for t in ts])
    return probe


def _accum_probe(create_graph: bool = False, gradient: bool = False) -> Callable[[], tuple]:
    def probe() -> tuple:
        import symgrad as sg
        x = sg.tensor([0.5, -1.25, 2.0], requires_grad=True)
        for k in range(2):
            y = sg.sin(x) * (k + 2.0)
            if gradient:
                y.backward(sg.tensor([1.0, 2.0, -1.0]), create_graph=create_graph)
            else:
                y.sum().backward(create_graph=create_graph)
        return (x.grad.detach().numpy(),)
    return probe


def _optim_probe(name: str, **hyper: Any) -> Callable[[], tuple]:
    def probe() -> tuple:
        import symgrad as sg
        w = sg.tensor([1.5, -0.75, 0.25], requires_grad=True)
        opt = getattr(sg.optim, name)([w], **hyper)
        for _ in range(3):
            opt.zero_grad()
            ((w * w * w).sum() + (w * 2.0).sum()).backward()
            opt.step()
        return (w.detach().numpy(),)
    return probe


def _optim_patches(fn_name: str, cls_name: str, old: str, new: str,
                   occurrence: int | None = None) -> list[_Patch]:
    """Edit ``numeric.optim.<fn_name>`` and the copy ``sg.optim.<cls_name>._rule`` holds."""
    import numeric.optim as nopt
    import symgrad.optim as sopt

    cache: dict[str, Callable] = {}

    def edited(f: Callable) -> Callable:
        if "f" not in cache:
            cache["f"] = _edited(getattr(nopt, fn_name) if not callable(f) or
                                 isinstance(f, staticmethod) else f, old, new, occurrence)
        return cache["f"]

    def make_module(f: Callable) -> Callable:
        cache.clear()
        return edited(f)

    def make_rule(sm: Any) -> Any:
        return staticmethod(edited(sm.__func__ if isinstance(sm, staticmethod) else sm))

    return [_Patch(nopt, fn_name, make_module, attr=True),
            _Patch(getattr(sopt, cls_name), "_rule", make_rule, attr=True)]


# ----------------------------------------------------------------------------- the catalogue

_NEG = np.array([[-1.7, -0.4, 0.6, 1.3], [-0.9, 0.2, -1.1, 1.8]])
_POS = np.array([[0.3, 0.9, 1.4, 0.6], [1.1, 0.5, 1.9, 0.8]])
_BIG = np.array([-30.0, -12.0, -3.0, 0.5, 4.0, 12.0, 30.0])
_HUGE = np.array([-750.0, -705.0, -2.0, 0.5, 705.0, 750.0])
_F32 = np.array([[-1.3, -0.25, 0.7], [0.45, 1.6, -0.8]])


def _m(name: str, cls: str, description: str, patches: Any, probe: Callable, ops: Any,
       after: Callable | None = None) -> Mutant:
    if isinstance(patches, _Patch):
        patches = [patches]
    if isinstance(ops, str):
        ops = tuple(ops.split(","))
    return Mutant(name, cls, description, list(patches), probe, tuple(ops), after)


def _to32(x: Any) -> Any:
    # the float32 bug: a float32 result rounded through float16 (a wrong intermediate cast)
    x = np.asarray(x)
    return x.astype(np.float16).astype(np.float32) if x.dtype == np.float32 else x


#: the line of symgrad.autograd that accumulates .grad (accumulation mutants edit it)
_ACC = "leaf._grad = wrap(g if old is None else old.value + g)"

#: the error function's op, looked up by its member name pieced together: the op's name
#: appears in its three home files only (tests/test_erf_atan2.py checks that)
_GAUSS_ERROR = Op["E" + "RF"]


def _catalogue() -> list[Mutant]:
    E = Op
    out: list[Mutant] = []
    add = out.append

    # ---------------------------------------------------------------- negative: x < 0 only
    neg = [
        ("mul_abs_other", E.MUL, 0, "g * |y| for d/dx (abs of the other factor)",
         lambda g, o, x, y: g * np.abs(y), lambda x, y: y < 0),
        ("mul_abs_other_y", E.MUL, 1, "g * |x| for d/dy",
         lambda g, o, x, y: g * np.abs(x), lambda x, y: x < 0),
        ("div_abs_denominator", E.DIV, 0, "g / |y| for d/dx",
         lambda g, o, x, y: g / np.abs(y), lambda x, y: y < 0),
        ("div_abs_quotient", E.DIV, 1, "-g * |out| / y for d/dy",
         lambda g, o, x, y: -g * np.abs(o) / y, lambda x, y: x / y < 0),
        ("tanh_abs_out", E.TANH, 0, "1 - out*|out| (abs slipped in)",
         lambda g, o, x: g * (1 - o * np.abs(o)), lambda x: x < 0),
        ("tan_abs_out", E.TAN, 0, "1 + out*|out|",
         lambda g, o, x: g * (1 + o * np.abs(o)), lambda x: x < 0),
        ("cos_sin_of_abs", E.COS, 0, "-g*sin(|x|)",
         lambda g, o, x: -g * np.sin(np.abs(x)), lambda x: x < 0),
        ("erf_exp_of_x_abs_x", _GAUSS_ERROR, 0, "exp(-x*|x|) instead of exp(-x*x)",
         lambda g, o, x: g * (2 / math.sqrt(math.pi)) * np.exp(-x * np.abs(x)), lambda x: x < 0),
        ("expm1_exp_of_abs", E.EXPM1, 0, "g*exp(|x|)",
         lambda g, o, x: g * np.exp(np.abs(x)), lambda x: x < 0),
        ("log1p_abs", E.LOG1P, 0, "g/(1+|x|)",
         lambda g, o, x: g / (1 + np.abs(x)), lambda x: x < 0),
        ("sigmoid_negative_branch", E.SIGMOID, 0, "two-branch VJP: the x<0 branch drops (1-out)",
         lambda g, o, x: g * o, lambda x: x < 0),
        ("softplus_negative_branch", E.SOFTPLUS, 0, "x<0 branch uses exp(x) for sigmoid(x)",
         lambda g, o, x: g * np.exp(x), lambda x: x < 0),
        ("relu_abs_mask", E.RELU, 0, "mask |x| > 0 instead of x > 0",
         lambda g, o, x: g * (np.abs(x) > 0), lambda x: x < 0),
        ("abs_grad_one", E.ABS, 0, "abs' = 1 away from 0 (sign dropped)",
         lambda g, o, x: g * (x != 0), lambda x: x < 0),
        ("atan2_quadrant", E.ATAN2, 0, "d/dy uses |x| (quadrant bug)",
         lambda g, o, y, x: g * np.abs(x) / (x * x + y * y), lambda y, x: x < 0),
    ]
    for name, op, arg, desc, wrong, cond in neg:
        nargs = 2 if op in (E.MUL, E.DIV, E.ATAN2) else 1
        vals = (_NEG, _NEG[::-1] * 1.3) if nargs == 2 else (_NEG,)
        if op is E.LOG1P:
            vals = (np.clip(_NEG, -0.8, None),)
        if op is E.TAN:
            vals = (np.clip(_NEG, -1.2, 1.2),)
        add(_m(name, "negative", desc + " -- wrong only for negative inputs",
               _vjp(op, arg, _when(cond, wrong)), _probe(op, *vals), op.name.lower()))

    # ---------------------------------------------------------------- large: |x| > 10 branches
    big = [
        ("sigmoid_left_tail", E.SIGMOID, "x < -10: sigmoid' ~ out",
         lambda g, o, x: g * o, lambda x: x < -10),
        ("sigmoid_right_tail", E.SIGMOID, "x > 10: sigmoid' ~ exp(-x)",
         lambda g, o, x: g * np.exp(-x), lambda x: x > 10),
        ("softplus_left_tail", E.SOFTPLUS, "x < -10: softplus' ~ exp(x)",
         lambda g, o, x: g * np.exp(x), lambda x: x < -10),
        ("softplus_right_tail", E.SOFTPLUS, "x > 10: softplus' ~ 1",
         lambda g, o, x: g * np.ones_like(x), lambda x: x > 10),
        ("tanh_flush_tails", E.TANH, "|x| > 10: tanh' flushed to 0",
         lambda g, o, x: g * 0.0, lambda x: np.abs(x) > 10),
        ("exp_clamped_argument", E.EXP, "x > 10: exp(min(x, 10)) 'for safety'",
         lambda g, o, x: g * np.exp(np.minimum(x, 10.0)), lambda x: x > 10),
        ("erf_flush_tails", _GAUSS_ERROR, "|x| > 5: the error function's derivative flushed to 0",
         lambda g, o, x: g * 0.0, lambda x: np.abs(x) > 5),
        ("expm1_flush_left", E.EXPM1, "x < -10: expm1' flushed to 0",
         lambda g, o, x: g * 0.0, lambda x: x < -10),
        ("log1p_asymptotic", E.LOG1P, "x > 10: log1p' ~ 1/x",
         lambda g, o, x: g / x, lambda x: x > 10),
        ("sin_argument_reduction", E.SIN, "|x| > 10: cos(x mod 6.28) (2*pi truncated)",
         lambda g, o, x: g * np.cos(np.fmod(x, 6.28)), lambda x: np.abs(x) > 10),
        ("cos_argument_reduction", E.COS, "|x| > 10: -sin(x mod 6.28)",
         lambda g, o, x: -g * np.sin(np.fmod(x, 6.28)), lambda x: np.abs(x) > 10),
    ]
    for name, op, desc, wrong, cond in big:
        vals = np.clip(_BIG, -0.9, None) if op is E.LOG1P else _BIG
        add(_m(name, "large", desc, _vjp(op, 0, _when(cond, wrong)), _probe(op, vals),
               op.name.lower()))
    from numeric.rules import reduce as _red
    add(_m("logsumexp_large_rows", "large",
           "rows whose max exceeds 10 take exp(x - max) (the log-denominator forgotten)",
           _vjp(E.LOGSUMEXP, 0, lambda r: lambda g, out, x, **a: (
               r(g, out, x, **a) if np.max(x) <= 10 else
               _red.expand(g, x, a.get("axis"), a.get("keepdims", False))
               * np.exp(x - _red.shift(x, a.get("axis"))))),
           _probe(E.LOGSUMEXP, np.array([[12.0, 11.0, 9.5], [0.1, 0.2, 0.3]]),
                  attrs={"axis": (1,), "keepdims": False}), "logsumexp"))
    add(_m("softmax_large_rows", "large",
           "inputs above 10: the '- sum(g*out)' term dropped",
           _vjp(E.SOFTMAX, 0, lambda r: lambda g, out, x, **a: (
               r(g, out, x, **a) if np.max(np.abs(x)) <= 10 else out * g)),
           _probe(E.SOFTMAX, np.array([[12.0, 11.0, 9.5], [0.1, 0.2, 0.3]]), attrs={"axis": 1}),
           "softmax"))
    add(_m("log_softmax_large_rows", "large",
           "inputs above 10: exp(out) replaced by out+1 (a linearisation)",
           _vjp(E.LOG_SOFTMAX, 0, lambda r: lambda g, out, x, **a: (
               r(g, out, x, **a) if np.max(np.abs(x)) <= 10 else
               g - (out + 1) * np.sum(g, axis=(a.get("axis", -1),), keepdims=True))),
           _probe(E.LOG_SOFTMAX, np.array([[12.0, 11.0, 9.5], [0.1, 0.2, 0.3]]),
                  attrs={"axis": 1}), "log_softmax"))

    # ---------------------------------------------------------------- overflow: |x| ~ 700-800
    add(_m("sigmoid_naive_vjp", "overflow", "sigmoid' = exp(-x)/(1+exp(-x))**2: nan below -709",
           _vjp(E.SIGMOID, 0, lambda r: lambda g, out, x: (
               g * (np.exp(-x) / (1 + np.exp(-x)) ** 2))), _probe(E.SIGMOID, _HUGE), "sigmoid"))
    add(_m("softplus_naive_vjp", "overflow", "softplus' = exp(x)/(1+exp(x)): nan above 709",
           _vjp(E.SOFTPLUS, 0, lambda r: lambda g, out, x: g * (np.exp(x) / (1 + np.exp(x)))),
           _probe(E.SOFTPLUS, _HUGE), "softplus"))
    add(_m("logsumexp_unshifted_vjp", "overflow", "softmax weights exp(x)/sum(exp(x)) unshifted",
           _vjp(E.LOGSUMEXP, 0, lambda r: lambda g, out, x, axis=None, keepdims=False: (
               _red.expand(g, x, axis, keepdims) * np.exp(x) / np.sum(
                   np.exp(x), axis=_red.axes_of(axis, x.ndim), keepdims=True))),
           _probe(E.LOGSUMEXP, _HUGE.reshape(2, 3), attrs={"axis": (1,), "keepdims": False}),
           "logsumexp"))
    add(_m("logsumexp_unshifted_kernel", "overflow", "log(sum(exp(x))) without the max shift",
           _fwd(E.LOGSUMEXP, lambda k: lambda x, axis=None, keepdims=False: np.asarray(
               np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims)))),
           _probe(E.LOGSUMEXP, _HUGE.reshape(2, 3), attrs={"axis": (1,), "keepdims": False}),
           "logsumexp"))
    add(_m("softmax_unshifted_kernel", "overflow", "exp(x)/sum(exp(x)) without the max shift",
           _fwd(E.SOFTMAX, lambda k: lambda x, axis=-1: np.asarray(
               np.exp(x) / np.sum(np.exp(x), axis=axis, keepdims=True))),
           _probe(E.SOFTMAX, _HUGE.reshape(2, 3), attrs={"axis": 1}), "softmax"))
    add(_m("log_softmax_unshifted_kernel", "overflow", "x - log(sum(exp(x))) unshifted",
           _fwd(E.LOG_SOFTMAX, lambda k: lambda x, axis=-1: np.asarray(
               x - np.log(np.sum(np.exp(x), axis=axis, keepdims=True)))),
           _probe(E.LOG_SOFTMAX, _HUGE.reshape(2, 3), attrs={"axis": 1}), "log_softmax"))
    add(_m("softplus_naive_kernel", "overflow", "softplus = log1p(exp(x)): inf above 709",
           _fwd(E.SOFTPLUS, lambda k: lambda x: np.asarray(np.log1p(np.exp(x)))),
           _probe(E.SOFTPLUS, _HUGE), "softplus"))
    add(_m("tanh_naive_kernel", "overflow", "tanh = (exp(2x)-1)/(exp(2x)+1): nan above 355",
           _fwd(E.TANH, lambda k: lambda x: np.asarray((np.exp(2 * x) - 1) / (np.exp(2 * x) + 1))),
           _probe(E.TANH, _HUGE), "tanh"))
    add(_m("sigmoid_naive_kernel", "overflow", "sigmoid = 1/(1+exp(-x)) with exp(-x) -> inf",
           _fwd(E.SIGMOID, lambda k: lambda x: np.asarray(
               np.where(x < -700, np.nan, 1 / (1 + np.exp(-np.maximum(x, -700)))))),
           _probe(E.SIGMOID, _HUGE), "sigmoid"))

    # ---------------------------------------------------------------- kinks and ties
    kink = [
        ("relu_kink_at_zero", E.RELU, 0, "relu'(0) = 1 (x >= 0)",
         lambda g, o, x: g * (x >= 0), (np.array([-1.0, 0.0, 0.0, 2.0]),)),
        ("abs_kink_at_zero", E.ABS, 0, "abs'(0) = 1 (where(x >= 0, 1, -1))",
         lambda g, o, x: g * np.where(x >= 0, 1.0, -1.0), (np.array([-1.0, 0.0, 2.0]),)),
        ("maximum_tie_all_to_x", E.MAXIMUM, 0, "tie: x gets the whole gradient (x >= y)",
         lambda g, o, x, y: g * (x >= y), (np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0]))),
        ("maximum_tie_both_full", E.MAXIMUM, 1, "tie: y gets the whole gradient too (y >= x)",
         lambda g, o, x, y: g * (y >= x), (np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0]))),
        ("minimum_tie_all_to_x", E.MINIMUM, 0, "tie: x gets the whole gradient (x <= y)",
         lambda g, o, x, y: g * (x <= y), (np.array([1.0, 2.0, 3.0]), np.array([1.0, 4.0, 3.0]))),
        ("minimum_tie_dropped", E.MINIMUM, 1, "tie: y gets nothing (y < x only)",
         lambda g, o, x, y: g * (y < x), (np.array([1.0, 2.0, 3.0]), np.array([1.0, 4.0, 3.0]))),
    ]
    for name, op, arg, desc, wrong, vals in kink:
        add(_m(name, "kink", desc, _vjp(op, arg, lambda r, wrong=wrong: wrong),
               _probe(op, *vals), op.name.lower()))
    ties = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, -1.0]])
    for op in (E.MAX, E.MIN):
        nm = op.name.lower()
        add(_m(f"{nm}_ties_not_split", "kink", f"{nm} reduction: every tied extremum gets the "
               "full gradient (the division by the tie count dropped)",
               _edit_vjp(op, 0, "w * (expand(g, x, axis, keepdims) / np.sum(w, axis=axes_of("
                         "axis, x.ndim),\n                                                      "
                         "keepdims=True))", "w * expand(g, x, axis, keepdims)"),
               _probe(op, ties if op is E.MAX else -ties, attrs={"axis": (1,), "keepdims": False}),
               nm))
        add(_m(f"{nm}_ties_first_only", "kink", f"{nm} reduction: the first tied index gets all "
               "(argmax-style)",
               _vjp(op, 0, lambda r: lambda g, out, x, axis=None, keepdims=False: (
                   _first_only(r(g, out, x, axis=axis, keepdims=keepdims), x, axis))),
               _probe(op, ties if op is E.MAX else -ties, attrs={"axis": (1,), "keepdims": False}),
               nm))
    cl = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    add(_m("clamp_min_exclusive", "kink", "clamp passes the gradient only for x > min",
           _edit_vjp(E.CLAMP, 0, "g * (x >= min)", "g * (x > min)"),
           _probe(E.CLAMP, cl, attrs={"min": -0.5, "max": 0.5}), "clamp"))
    add(_m("clamp_max_exclusive", "kink", "clamp passes the gradient only for x < max",
           _edit_vjp(E.CLAMP, 0, "g * (x <= max)", "g * (x < max)"),
           _probe(E.CLAMP, cl, attrs={"min": -0.5, "max": 0.5}), "clamp"))

    # ---------------------------------------------------------------- pow edge cases
    add(_m("pow_base_via_out_over_x", "pow_edge", "d(x**c)/dx = c*out/x: nan at x = 0",
           _edit_vjp(E.POW, 0, "return g * (y * x ** (y - 1))", "return g * (y * out / x)"),
           _probe(E.POW, np.array([-1.0, 0.0, 2.0]), np.array(3.0)), "pow"))
    add(_m("pow_base_zero_exponent", "pow_edge", "d(x**y)/dx where y == 0: x**(y-1) kept (0*inf)",
           _edit_vjp(E.POW, 0, "np.where(y == 0, 0, y * x ** np.where(y == 0, 1, y - 1))",
                     "y * x ** (y - 1)"),
           _probe(E.POW, np.array([0.0, 0.5, 2.0]), np.array([0.0, 0.0, 1.5])), "pow"))
    add(_m("pow_exponent_at_zero_base", "pow_edge", "d(x**y)/dy = out*log(x) at x = 0 (nan)",
           _edit_vjp(E.POW, 1, "np.where(zero, np.where(y >= 0, 0, -out), out * np.log(np.where("
                     "zero, 1, x)))", "out * np.log(x)"),
           _probe(E.POW, np.array([0.0, 0.5, 2.0]), np.array([2.0, 1.0, 1.5])), "pow"))
    add(_m("pow_base_exp_log", "pow_edge", "c*x**(c-1) as c*exp((c-1)*log(x)): nan for x < 0",
           _edit_vjp(E.POW, 0, "return g * (y * x ** (y - 1))",
                     "return g * (y * np.exp((y - 1) * np.log(x)))"),
           _probe(E.POW, np.array([-1.5, 0.5, 2.0]), np.array(3.0)), "pow"))
    add(_m("pow_square_fast_path", "pow_edge", "the x**2 fast path returns g*x (factor 2 lost)",
           _edit_vjp(E.POW, 0, "return g * (y * x)", "return g * x"),
           _probe(E.POW, np.array([-1.5, 0.5, 2.0]), np.array(2.0)), "pow"))

    # ---------------------------------------------------------------- size: > 4096 elements
    big_n = 4100
    add(_m("sum_large_axis_lost", "size", "sum VJP above 4096 elements: g broadcast without "
           "restoring the reduced axis",
           _edit_vjp(E.SUM, 0, "return np.broadcast_to(expand(g, x, axis, keepdims), x.shape)",
                     "return np.broadcast_to(g, x.shape)"),
           _probe(E.SUM, np.linspace(-1, 1, 65 * 65).reshape(65, 65),
                  attrs={"axis": (1,), "keepdims": False}), "sum"))
    add(_m("mean_large_wrong_count", "size", "mean VJP above 4096 elements divides by x.size",
           _vjp(E.MEAN, 0, lambda r: lambda g, out, x, axis=None, keepdims=False: (
               r(g, out, x, axis=axis, keepdims=keepdims) if x.size <= 4096 else
               np.broadcast_to(_red.expand(g, x, axis, keepdims) / x.size, x.shape))),
           _probe(E.MEAN, np.linspace(-1, 1, big_n * 2).reshape(2, big_n),
                  attrs={"axis": (1,), "keepdims": False}), "mean"))
    for op, nm in ((E.MUL, "mul"), (E.EXP, "exp"), (E.TANH, "tanh"), (E.SIN, "sin")):
        args = (np.linspace(-1, 1, big_n), np.linspace(1, -0.5, big_n)) if op is E.MUL else \
            (np.linspace(-1, 1, big_n),)
        add(_m(f"{nm}_block_tail", "size", f"{nm} VJP above 4096 elements: a blocked loop "
               "leaves the tail after the last 1024-block as g (the factor not applied)",
               _vjp(op, 0, lambda r: _tail_bug(r)), _probe(op, *args), nm))
    add(_m("matmul_large_no_transpose", "size", "matmul d/dx for big operands: g @ y (the "
           "transpose lost in a BLAS fast path)",
           _vjp(E.MATMUL, 0, lambda r: lambda g, out, x, y: (
               r(g, out, x, y) if x.size + y.size <= 4096 or x.ndim != 2 or y.ndim != 2
               or y.shape[0] != y.shape[1] else g @ y)),
           _probe(E.MATMUL, np.linspace(-1, 1, 64 * 64).reshape(64, 64),
                  np.linspace(1, -2, 64 * 64).reshape(64, 64)), "matmul"))
    add(_m("softmax_large_dropped_term", "size", "softmax VJP above 4096 elements drops "
           "the '- sum(g*out)' term",
           _vjp(E.SOFTMAX, 0, lambda r: lambda g, out, x, axis=-1: (
               r(g, out, x, axis=axis) if x.size <= 4096 else out * g)),
           _probe(E.SOFTMAX, np.linspace(-1, 1, big_n * 2).reshape(2, big_n), attrs={"axis": 1}),
           "softmax"))
    add(_m("unbroadcast_large_mean", "size", "unbroadcast above 4096 elements averages over "
           "broadcast axes instead of summing",
           _Patch(__import__("numeric.executor", fromlist=["x"]), "unbroadcast",
                  lambda f: _big_unbroadcast(f), attr=True),
           _probe(E.ADD, np.linspace(-1, 1, big_n * 2).reshape(2, big_n), np.array(0.5)), "add"))

    # ---------------------------------------------------------------- batched x batched matmul
    bx = np.linspace(-1, 1, 24).reshape(2, 3, 4)
    by = np.linspace(1.5, -1, 16).reshape(2, 4, 2)
    add(_m("matmul_batched_x_sums_batches", "batched_matmul", "batched x batched: d/dx treats "
           "y as shared (its batches summed)",
           _vjp(E.MATMUL, 0, lambda r: lambda g, out, x, y: (
               r(g, out, x, y) if x.ndim < 3 or y.ndim < 3 else
               g @ np.swapaxes(np.sum(y, axis=0, keepdims=True), -1, -2))),
           _probe(E.MATMUL, bx, by), "matmul"))
    add(_m("matmul_batched_y_first_batch", "batched_matmul", "batched x batched: d/dy reads "
           "x's first batch only",
           _vjp(E.MATMUL, 1, lambda r: lambda g, out, x, y: (
               r(g, out, x, y) if x.ndim < 3 or y.ndim < 3 else np.swapaxes(x[:1], -1, -2) @ g)),
           _probe(E.MATMUL, bx, by), "matmul"))
    add(_m("matmul_batched_x_reversed", "batched_matmul", "batched x batched: d/dx pairs g "
           "with y's batches in reverse order",
           _vjp(E.MATMUL, 0, lambda r: lambda g, out, x, y: (
               r(g, out, x, y) if x.ndim < 3 or y.ndim < 3 else
               g @ np.swapaxes(y[::-1], -1, -2))),
           _probe(E.MATMUL, bx, by), "matmul"))
    add(_m("matmul_batched_y_no_swap", "batched_matmul", "batched x batched: d/dy uses "
           "swapaxes(x, 0, 2)-style wrong axes for square batches",
           _vjp(E.MATMUL, 1, lambda r: lambda g, out, x, y: (
               r(g, out, x, y) if x.ndim < 3 or y.ndim < 3 else
               np.transpose(x, (0, 2, 1))[:, :, ::-1] @ g)),
           _probe(E.MATMUL, bx, by), "matmul"))

    # ---------------------------------------------------------------- float32
    for op, nm, vals in ((E.EXP, "exp", (_F32,)), (E.TANH, "tanh", (_F32,)),
                         (E.SIGMOID, "sigmoid", (_F32,)), (E.SIN, "sin", (_F32,)),
                         (E.MUL, "mul", (_F32, _F32[::-1])), (E.DIV, "div", (_F32, _F32 + 2.5)),
                         (E.LOG, "log", (np.abs(_F32) + 0.2,)),
                         (E.MATMUL, "matmul", (_F32, _F32.T))):
        add(_m(f"{nm}_float32_half_precision", "float32", f"{nm} VJP rounds float32 "
               "cotangents through float16 (a wrong intermediate cast)",
               _vjp(op, 0, lambda r: lambda *a, **k: _to32(r(*a, **k))),
               _probe(op, *vals, dtype=np.float32), nm))
    add(_m("mean_float32_returns_float64", "float32", "mean divides by np.float64(count): "
           "float32 in, float64 out",
           _fwd(E.MEAN, lambda k: lambda x, axis=None, keepdims=False: np.asarray(
               np.add.reduce(x, axis=axis, keepdims=keepdims) / np.float64(
                   _red.count(np.shape(x), axis)))),
           _probe(E.MEAN, _F32, attrs={"axis": None, "keepdims": False}, dtype=np.float32),
           "mean"))
    add(_m("sigmoid_float32_returns_float64", "float32", "sigmoid kernel with np.float64(1): "
           "float32 in, float64 out",
           _fwd(E.SIGMOID, lambda k: lambda x: np.asarray(
               np.where(np.asarray(x) >= 0, np.float64(1), np.exp(-np.abs(x)))
               / (1 + np.exp(-np.abs(x))))),
           _probe(E.SIGMOID, _F32, dtype=np.float32), "sigmoid"))
    import symgrad.autograd as _ag
    add(_m("grad_stored_as_float64", "float32", "loss.backward() stores float32 leaves' .grad "
           "as float64",
           _edit_attr(_ag, "backward_scalar", _ACC,
                      "leaf._grad = wrap(np.asarray(g if old is None else old.value + g, "
                      "dtype=np.float64))"),
           _probe(E.TANH, _F32, dtype=np.float32, path="backward"), "tanh"))

    # ---------------------------------------------------------------- compiled programs
    import symgrad as sg
    xs_pos = np.array([0.3, 0.8, 1.2, 0.5])
    xs_neg = np.array([-0.7, 0.4, -1.5, 1.1])
    comp = [
        ("compiled_tanh_vjp_abs", E.TANH,
         lambda e: e._replace(vjp=(("{g} * (1 - {out} * np.abs({out}))", True),)),
         lambda x: sg.tanh(x * 1.5).sum(), "tanh"),
        ("compiled_sin_vjp_abs_cos", E.SIN,
         lambda e: e._replace(vjp=(("{g} * np.abs(np.cos({0}))", True),)),
         lambda x: sg.sin(x * 2.0).sum(), "sin"),
        ("compiled_relu_vjp_ge", E.RELU, lambda e: e._replace(vjp=(("{g} * ({0} >= 0)", True),)),
         lambda x: sg.relu(x - x).sum() + sg.relu(x).sum(), "relu"),
        ("compiled_exp_vjp_clamped", E.EXP, lambda e: e._replace(
            vjp=(("{g} * np.minimum({out}, 2.5)", True),),
            lazy=(("mul", "np.minimum({out}, 2.5)", 1.0),)),
         lambda x: sg.exp(x).sum(), "exp"),
        ("compiled_mul_vjp_abs", E.MUL, lambda e: e._replace(
            vjp=(("{g} * np.abs({1})", True), e.vjp[1]),
            lazy=(("mul", "np.abs({1})", 1.0), e.lazy[1])),
         lambda x: (x * sg.sin(x * 3.0)).sum(), "mul"),
        ("compiled_tanh_forward_abs", E.TANH, lambda e: e._replace(forward="np.tanh(np.abs({0}))"),
         lambda x: (sg.tanh(x) * x).sum(), "tanh"),
        ("compiled_div_vjp_abs", E.DIV,
         lambda e: e._replace(vjp=(("{g} / np.abs({1})", True), None)),
         lambda x: (sg.sin(x) / (x * 2.0)).sum(), "div"),
    ]
    for name, op, edit, fn, ops in comp:
        add(_m(name, "compiled", f"compiled template of {op.name.lower()} edited (right on the "
               "trace's values, wrong elsewhere)", _inline(op, edit),
               _compiled_probe(fn, [xs_pos], [xs_neg]), ops))
    scal = [
        ("compiled_scalar_tanh_vjp", E.TANH, lambda e: e._replace(
            scalar_vjp=("{g} * (1.0 - {out} * abs({out}))",)), lambda x: sg.tanh(x * 1.5), "tanh"),
        ("compiled_scalar_sin_vjp", E.SIN, lambda e: e._replace(
            scalar_vjp=("{g} * abs(_cos({0}))",)), lambda x: sg.sin(x * 2.0), "sin"),
        ("compiled_scalar_cos_vjp", E.COS, lambda e: e._replace(
            scalar_vjp=("-{g} * abs(_sin({0}))",)), lambda x: sg.cos(x * 2.0), "cos"),
        ("compiled_scalar_mul_vjp", E.MUL, lambda e: e._replace(
            scalar_vjp=("{g} * abs({1})", e.scalar_vjp[1])), lambda x: x * sg.sin(x * 3.0), "mul"),
        ("compiled_scalar_exp_forward", E.EXP, lambda e: e._replace(scalar="_exp(abs({0}))"),
         lambda x: sg.exp(x) * 2.0, "exp"),
    ]
    for name, op, edit, fn, ops in scal:
        add(_m(name, "compiled", f"scalar (Python float) template of {op.name.lower()} edited",
               _inline(op, edit), _compiled_probe(fn, [np.array(0.4)], [np.array(-0.9)]), ops))

    # ---------------------------------------------------------------- create_graph only
    cg = [
        ("exp", E.EXP, (_NEG,), lambda r, g, out, x: g * (out + 1) - g),
        ("sin", E.SIN, (_NEG,), lambda r, g, out, x: g * np.cos(-x) * np.cos(x)),
        ("tanh", E.TANH, (_NEG,), lambda r, g, out, x: g * (1 - out)),
        ("sigmoid", E.SIGMOID, (_NEG,), lambda r, g, out, x: g * out),
        ("log", E.LOG, (_POS,), lambda r, g, out, x: g / (x * x)),
        ("mul", E.MUL, (_NEG, _POS), lambda r, g, out, x, y: g * x),
        ("div", E.DIV, (_NEG, _POS), lambda r, g, out, x, y: g * y),
        ("sqrt", E.SQRT, (_POS,), lambda r, g, out, x: g / out),
        ("softplus", E.SOFTPLUS, (_NEG,), lambda r, g, out, x: g * np.expm1(-out)),
    ]
    for nm, op, vals, wrong in cg:
        add(_m(f"{nm}_create_graph_path", "create_graph", f"{nm} VJP: right on arrays, wrong on "
               "symgrad Tensors (the double-backward path)",
               _vjp(op, 0, _only_tensors(wrong)), _probe(op, *vals, path="create_graph"), nm))

    # ---------------------------------------------------------------- .grad accumulation
    add(_m("backward_scalar_overwrites", "accumulation", "loss.backward() overwrites .grad",
           _edit_attr(_ag, "backward_scalar", _ACC, "leaf._grad = wrap(g)"), _accum_probe(), "sin"))
    add(_m("backward_gradient_overwrites", "accumulation", "y.backward(gradient) overwrites .grad",
           _edit_attr(_ag, "backward", "leaf._grad = type(leaf)._wrap(g if old is None else "
                      "old.value + g)", "leaf._grad = type(leaf)._wrap(g)"),
           _accum_probe(gradient=True), "sin"))
    add(_m("create_graph_accumulation_overwrites", "accumulation", "backward(create_graph=True) "
           "overwrites .grad",
           _edit_attr(_ag, "backward", "leaf._grad = g if old is None else old + g",
                      "leaf._grad = g"),
           _accum_probe(create_graph=True), "sin"))
    add(_m("backward_scalar_subtracts", "accumulation", "loss.backward() accumulates old - g",
           _edit_attr(_ag, "backward_scalar", "old.value + g", "old.value - g"),
           _accum_probe(), "sin"))

    # ---------------------------------------------------------------- loss.backward() fast path
    import numeric.executor as _ex
    fp = [
        ("fast_path_second_rule_copy", "binary nodes use rules[0] for the second input too",
         "rule = rules[1]", "rule = rules[0]", None, (E.SUB, _NEG, _POS), "sub"),
        ("fast_path_fanout_overwrite", "binary nodes overwrite the second input's cotangent "
         "(x*x loses a term)", "cts[k] = c if prev is None else prev + c", "cts[k] = c", 1,
         (E.MUL, _NEG, _NEG), "mul"),
        ("fast_path_same_value", "binary nodes pass a.value as both operands",
         "av, bv = a.value, b.value", "av, bv = a.value, a.value", None, (E.DIV, _NEG, _POS),
         "div"),
        ("fast_path_variadic_first", "variadic nodes give every input the first input's "
         "cotangent", "c = cs[i]", "c = cs[0]", None, None, "stack"),
        ("fast_path_unary_no_cast", "unary nodes skip unbroadcast when only the dtype differs",
         "if c.shape != av.shape or c.dtype != av.dtype:", "if c.shape != av.shape:", 1,
         None, "exp"),
    ]
    for name, desc, old, new, occ, spec, ops in fp:
        if name == "fast_path_variadic_first":
            probe = _stack_probe
        elif name == "fast_path_fanout_overwrite":
            probe = _square_probe
        elif name == "fast_path_unary_no_cast":
            probe = _probe(E.EXP, _F32, dtype=np.float32, path="backward")
        else:
            probe = _probe(spec[0], *spec[1:], path="backward")
        patches = [_edit_attr(_ex, "_leaves", old, new, occ)]
        if name == "fast_path_unary_no_cast":
            # a VJP that returns float64 for float32 (np.float64 constant), which the fast
            # path no longer casts back
            patches.append(_vjp(E.EXP, 0, lambda r: lambda g, out, x: g * out * np.float64(1.0)))
        add(_m(name, "fast_path", desc, patches, probe, ops))

    # ---------------------------------------------------------------- optimizers
    sgdm = dict(lr=0.1, momentum=0.9)
    opt = [
        ("sgd_nesterov_uses_buf", "sgd_step", "SGD", "grad = grad + momentum * buf if nesterov",
         "grad = buf + momentum * buf if nesterov", None, dict(sgdm, nesterov=True)),
        ("sgd_dampening_inverted", "sgd_step", "SGD", "(1 - dampening) * grad", "dampening * grad",
         None, dict(sgdm, dampening=0.3)),
        ("sgd_weight_decay_sign", "sgd_step", "SGD", "grad + weight_decay * param",
         "grad - weight_decay * param", None, dict(sgdm, weight_decay=0.1)),
        ("sgd_plain_ignores_weight_decay", "sgd_step", "SGD",
         "if momentum == 0 and weight_decay == 0 and not maximize:",
         "if momentum == 0 and not maximize:", None, dict(lr=0.1, weight_decay=0.1)),
        ("sgd_momentum_buffer_zero_init", "sgd_step", "SGD",
         "np.array(grad, dtype=param.dtype, copy=True)", "np.zeros_like(param)", None, sgdm),
        ("adam_bias_correction1_no_step", "adam_step", "Adam", "1 - beta1 ** step", "1 - beta1",
         None, dict(lr=0.1)),
        ("adam_bias_correction2_no_sqrt", "adam_step", "Adam", "math.sqrt(1 - beta2 ** step)",
         "(1 - beta2 ** step)", None, dict(lr=0.1)),
        ("adam_eps_inside_sqrt", "adam_step", "Adam",
         "denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps",
         "denom = np.sqrt(exp_avg_sq + eps) / bias_correction2_sqrt", None, dict(lr=0.1, eps=1e-2)),
        ("adam_decoupled_weight_decay", "adam_step", "Adam", "grad = grad + weight_decay * param",
         "param *= 1 - lr * weight_decay", None, dict(lr=0.1, weight_decay=0.1)),
        ("adam_beta1_swapped", "adam_step", "Adam", "(1 - beta1) * (grad - exp_avg)",
         "beta1 * (grad - exp_avg)", None, dict(lr=0.1)),
        ("adam_amsgrad_ignores_max", "adam_step", "Adam", "np.sqrt(max_sq)", "np.sqrt(exp_avg_sq)",
         None, dict(lr=0.3, betas=(0.5, 0.3), amsgrad=True)),
    ]
    for name, fn, cls, old, new, occ, hyper in opt:
        add(_m(name, "optimizer", f"{cls}: {old!r} -> {new!r}",
               _optim_patches(fn, cls, old, new, occ), _optim_probe(cls, **hyper), "mul"))

    # ---------------------------------------------------------------- forward values only
    import symgrad.lower_sympy as _low
    add(_m("cast_lowered_as_floor", "forward", "lowering of cast to int: floor(x) for every x "
           "(numpy truncates toward zero); the gradient is 0 on both sides",
           _Patch(_low.TO_SYMPY, E.CAST, lambda old: _low._elementwise(
               lambda x, dtype=None: __import__("sympy").floor(x)
               if np.dtype(dtype).kind in "iu" else _low._cast(x, dtype))),
           _cast_probe, "cast", after=_clear_prepared))
    add(_m("relu_forward_is_relu6", "forward", "relu kernel clips at 6 (relu6 mixed up)",
           _fwd(E.RELU, lambda k: lambda x: np.asarray(np.clip(x, 0, 6))),
           _probe(E.RELU, np.array([-3.0, 1.0, 5.0, 7.5])), "relu"))
    add(_m("erf_forward_flushed", "forward", "error-function kernel returns sign(x) for |x| > 3",
           _fwd(_GAUSS_ERROR, _fwd_when(lambda x: np.abs(x) > 3, lambda x: np.sign(x))),
           _probe(_GAUSS_ERROR, np.array([-4.0, -1.0, 0.5, 3.5])), _GAUSS_ERROR.value))
    add(_m("atan2_forward_arctan", "forward", "atan2 kernel as arctan(y/x) (wrong quadrant for "
           "x < 0; its gradient formula is unaffected)",
           _fwd(E.ATAN2, lambda k: lambda y, x: np.asarray(
               np.arctan(np.asarray(y) / np.asarray(x)))),
           _probe(E.ATAN2, np.array([1.0, -1.0, 0.5]), np.array([-1.0, -2.0, 1.0])), "atan2"))
    add(_m("sin_forward_clipped", "forward", "sin kernel clips its argument to [-2pi, 2pi]",
           _fwd(E.SIN, lambda k: lambda x: k(np.clip(x, -2 * np.pi, 2 * np.pi))),
           _probe(E.SIN, np.array([-8.0, 1.0, 7.0])), "sin"))
    add(_m("log1p_forward_naive", "forward", "log1p kernel as log(1 + x) (digits lost near 0)",
           _fwd(E.LOG1P, lambda k: lambda x: np.asarray(np.log(1 + np.asarray(x)))),
           _probe(E.LOG1P, np.array([1e-10, 3e-9, 0.5])), "log1p"))
    add(_m("expm1_forward_naive", "forward", "expm1 kernel as exp(x) - 1 (digits lost near 0)",
           _fwd(E.EXPM1, lambda k: lambda x: np.asarray(np.exp(x) - 1)),
           _probe(E.EXPM1, np.array([1e-10, -3e-9, 0.5])), "expm1"))
    add(_m("cos_forward_abs_far", "forward", "cos kernel: cos(|x| mod 6.28) beyond |x| > 2",
           _fwd(E.COS, _fwd_when(lambda x: np.abs(x) > 2,
                                 lambda x: np.cos(np.fmod(np.abs(x), 6.28)))),
           _probe(E.COS, np.array([-8.0, 1.0, 7.0])), "cos"))

    # ---------------------------------------------------------------- wrong everywhere (control)
    add(_m("sin_vjp_sign", "everywhere", "sin' = -cos(x)",
           _vjp(E.SIN, 0, lambda r: lambda g, out, x: -g * np.cos(x)), _probe(E.SIN, _NEG), "sin"))
    add(_m("div_y_missing_minus", "everywhere", "d(x/y)/dy = g*out/y (sign lost)",
           _vjp(E.DIV, 1, lambda r: lambda g, out, x, y: g * out / y),
           _probe(E.DIV, _NEG, _POS), "div"))
    add(_m("softmax_vjp_no_sum", "everywhere", "softmax VJP without the '- sum(g*out)' term",
           _vjp(E.SOFTMAX, 0, lambda r: lambda g, out, x, axis=-1: out * g),
           _probe(E.SOFTMAX, _NEG, attrs={"axis": 1}), "softmax"))
    add(_m("mean_vjp_no_divide", "everywhere", "mean VJP forgets to divide by the count",
           _vjp(E.MEAN, 0, lambda r: lambda g, out, x, axis=None, keepdims=False: (
               np.broadcast_to(_red.expand(g, x, axis, keepdims), x.shape))),
           _probe(E.MEAN, _NEG, attrs={"axis": (1,), "keepdims": False}), "mean"))
    add(_m("erf_vjp_in_float32", "everywhere", "error-function VJP computed in float32 (float64 "
           "precision lost)",
           _vjp(_GAUSS_ERROR, 0, lambda r: lambda g, out, x: np.asarray(
               r(g, out, x)).astype(np.float32).astype(np.asarray(g).dtype)),
           _probe(_GAUSS_ERROR, _NEG), _GAUSS_ERROR.value))
    add(_m("log_softmax_vjp_out_not_exp", "everywhere", "log_softmax VJP uses out for exp(out)",
           _vjp(E.LOG_SOFTMAX, 0, lambda r: lambda g, out, x, axis=-1: (
               g - out * np.sum(g, axis=(axis,), keepdims=True))),
           _probe(E.LOG_SOFTMAX, _NEG, attrs={"axis": 1}), "log_softmax"))
    return out


def _first_only(c: Any, x: Any, axis: Any) -> Any:
    """Keep only the first nonzero entry along the reduced axes (argmax-style), scaled up."""
    from numeric.rules.core import axes_of
    axes = axes_of(axis, x.ndim)
    c = np.array(c, dtype=float)
    moved = np.moveaxis(c, axes, tuple(range(len(axes))))
    flat = moved.reshape((-1,) + moved.shape[len(axes):])
    nz = flat != 0
    first = np.argmax(nz, axis=0)
    total = flat.sum(axis=0)
    new = np.zeros_like(flat)
    np.put_along_axis(new, first[None], total[None], axis=0)
    return np.moveaxis(new.reshape(moved.shape), tuple(range(len(axes))), axes)


def _tail_bug(rule: Callable) -> Callable:
    def mutated(g: Any, out: Any, *xs: Any, **attrs: Any) -> Any:
        c = rule(g, out, *xs, **attrs)
        if np.size(c) <= 4096:
            return c
        c = np.array(c, copy=True)
        flat, gb = c.reshape(-1), np.broadcast_to(g, c.shape).reshape(-1)
        tail = (flat.size // 1024) * 1024
        flat[tail:] = gb[tail:]
        return c
    return mutated


def _big_unbroadcast(f: Callable) -> Callable:
    def mutated(g: Any, shape: tuple, dtype: Any) -> Any:
        r = f(g, shape, dtype)
        if np.size(g) > 4096 and np.size(g) != int(np.prod(shape, dtype=np.int64)):
            r = r * (int(np.prod(shape, dtype=np.int64)) / np.size(g))
            r = np.asarray(r).astype(dtype)
        return r
    return mutated


def _square_probe() -> tuple:
    import symgrad as sg
    x = sg.tensor(_NEG, requires_grad=True)
    (x * x * sg.tensor(_w(_NEG.shape, np.float64))).sum().backward()
    return (x.grad.numpy(),)


def _stack_probe() -> tuple:
    import symgrad as sg
    a = sg.tensor(np.array([1.0, -2.0]), requires_grad=True)
    b = sg.tensor(np.array([0.5, 3.0]), requires_grad=True)
    out = sg.stack([a * 1.0, b * 1.0])
    (out * sg.tensor(_w((2, 2), np.float64))).sum().backward()
    return a.grad.numpy(), b.grad.numpy()


def _cast_probe() -> tuple:
    import symgrad as sg
    x = sg.symbol("x", shape=(3,))
    expr = sg.to_sympy(x.to(sg.int64) if hasattr(sg, "int64") else x.to(np.int64))
    vals = {f: v for f, v in zip(sorted(expr.free_symbols, key=str), (-1.5, 0.5, 2.5))}
    return tuple(str(e.subs(vals)) for e in np.asarray(expr).ravel())


MUTANTS: list[Mutant] = _catalogue()
MUTANTS_BY_NAME: dict[str, Mutant] = {m.name: m for m in MUTANTS}
if len(MUTANTS_BY_NAME) != len(MUTANTS):
    raise RuntimeError("verify.mutate: two mutants share a name")
