"""Guards of ``sg.compile``: what a trace assumed, checked cheaply at every call.

A trace is valid only while what ``fn`` saw when it was traced still holds.  Three
kinds of assumption are recorded (see docs/performance.md, "Compile guards"):

* **value reads** -- ``item()``, ``float()``, ``int()``, ``bool()`` (so ``if`` on a
  comparison), ``tolist()``, ``numpy()``, ``np.asarray``, a tensor used as an index
  or a size: any read of a traced tensor's values by Python.  The read
  tensor becomes an extra output of the program and the value Python saw is kept;
  a call whose read differs runs the trace made for that value (tracing it if
  new).  ``bool()`` keeps only the truth value, so ``if (x.sum() > 0):`` guards the
  branch, while ``x.sum().item() > 0`` guards the exact number.  A read of more than
  :data:`GUARD_MAX_ELEMENTS` elements cannot be compared cheaply: the function then
  runs eagerly (one :class:`CompileWarning` says why).
* **where captured tensors come from** -- :class:`SourceGuard`: the closure cells,
  globals, module attributes (and lists, tuples, dicts under them) through which
  ``fn`` reaches each captured tensor and module, checked by identity, plus every
  reached module's ``training`` flag.  Rebinding ``m.w = sg.nn.Parameter(...)``
  fails it; an optimizer's in-place update does not.
* shapes, dtypes and ``requires_grad`` of captured tensors (in ``symgrad.compile``).

>>> import symgrad as sg
>>> f = sg.compile(lambda x: x * 2 if (x.sum() > 0) else x * -3)
>>> f(sg.tensor([1.0, 2.0])), f(sg.tensor([-1.0, -2.0])), f.cache_info().traces
(tensor([2., 4.]), tensor([3., 6.]), 2)
"""
from __future__ import annotations

import os
import sys
import types
import warnings
from typing import Any, Optional

import numpy as np

import numeric
from symgrad.tensor import Tensor

__all__ = ["CompileWarning", "CompileConfig", "config", "GUARD_MAX_ELEMENTS",
           "value_guard", "guards_hold", "SourceGuard", "user_frame"]

#: the largest value read (``tolist()``, ``numpy()``) kept as a guard; a larger one
#: makes the compiled function run eagerly
GUARD_MAX_ELEMENTS = 16


class CompileWarning(UserWarning):
    """A compiled function runs eagerly (cache limit reached, or a guard too costly)."""


class CompileConfig:
    """Settings of ``sg.compile``, as ``sg.compile.config`` (cf. ``torch._dynamo.config``).

    ``cache_limit``: traces kept per compiled function (default 8) when
    ``sg.compile(fn, cache_limit=...)`` does not say; read at each new trace.

    >>> import symgrad as sg
    >>> sg.compile.config.cache_limit
    8
    """

    __slots__ = ("_cache_limit",)

    def __init__(self) -> None:
        self._cache_limit = 8

    @property
    def cache_limit(self) -> int:
        return self._cache_limit

    @cache_limit.setter
    def cache_limit(self, n: int) -> None:
        self._cache_limit = check_limit(n)


def check_limit(n: Any) -> int:
    """``n`` as a cache limit, or ValueError/TypeError naming the allowed values."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"cache_limit must be an int >= 1, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"cache_limit must be >= 1, got {n}")
    return int(n)


config = CompileConfig()

_OUR_DIRS = tuple(os.path.dirname(m.__file__) + os.sep for m in (numeric, sys.modules[__name__]))


def _ours(f: types.FrameType) -> bool:
    return f.f_code.co_filename.startswith(_OUR_DIRS)


def user_frame() -> str:
    """``file:line`` of the innermost caller outside symgrad and numeric (for messages)."""
    f = sys._getframe(1)
    while f is not None and _ours(f):
        f = f.f_back
    return "<unknown>" if f is None else f"{f.f_code.co_filename}:{f.f_lineno}"


def warn(message: str) -> None:
    """Issue a :class:`CompileWarning` attributed to the user's line that called symgrad."""
    level, f = 1, sys._getframe(1)
    while f is not None and _ours(f):
        level, f = level + 1, f.f_back
    warnings.warn(message, CompileWarning, stacklevel=level)


# ----------------------------------------------------------------------------- value reads
def value_guard(t: Tensor, what: str) -> Optional[tuple]:
    """``(kind, value seen)`` for a read of ``t``; None if it is too large to guard."""
    v = t.value
    if what == "bool(tensor)":
        return ("bool", bool(v.item()))
    if what == "item()":
        return ("item", v.item())
    if v.size > GUARD_MAX_ELEMENTS:
        return None
    return ("array", np.array(v, copy=True))


def unguardable(t: Optional[Tensor], what: str, at: str) -> str:
    """Why a read that :func:`value_guard` cannot guard makes ``fn`` run eagerly."""
    if t is None:
        return (f"it draws random numbers ({what} at {at}) from symgrad's generator; a trace "
                "would replay the first call's draw at every call. Pass the random tensor as "
                "an argument (or a fixed seed=) to compile the rest")
    return (f"it reads {t.value.size} values of a traced tensor with {what} at {at}; a guard "
            f"would compare them all at every call (at most {GUARD_MAX_ELEMENTS} are "
            "guarded). Compute with tensor ops instead (sg.where for branches), or read the "
            "values outside the compiled function")


def _item_equal(a: Any, b: Any) -> bool:
    return a == b or (a != a and b != b)         # NaN read twice is the same read


def guards_hold(outs: tuple, start: int, guards: list) -> bool:
    """Do the program's guard outputs (``outs[start:]``) equal the values the trace saw?"""
    for k, (kind, seen) in enumerate(guards):
        got = outs[start + k]
        if kind == "bool":
            if bool(got) is not seen:
                return False
        elif kind == "item":
            if not _item_equal(got.item(), seen):
                return False
        else:
            got = np.asarray(got)
            if got.shape != seen.shape or not np.array_equal(
                    got, seen, equal_nan=seen.dtype.kind in "fc"):
                return False
    return True


# ----------------------------------------------------------------------------- sources
_MISSING = object()
_OPAQUE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
           types.MethodType, str, bytes, int, float, complex, bool, type(None), np.ndarray)
_MAX_DEPTH = 6
_MAX_VISITS = 5000


def _code_names(code: types.CodeType) -> set[str]:
    names: set[str] = set()
    stack = [code]
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return names


def _roots(fn: Any, args: tuple) -> list[tuple[Any, tuple]]:
    """``(object, checks that reach it)`` for each place ``fn`` can read state from."""
    roots: list[tuple[Any, tuple]] = []
    funcs = []
    seen_fn: set[int] = set()
    todo = [fn]
    while todo:
        f = todo.pop()
        if id(f) in seen_fn:
            continue
        seen_fn.add(id(f))
        if isinstance(f, types.MethodType):
            roots.append((f.__self__, ()))
            todo.append(f.__func__)
        elif hasattr(f, "func") and hasattr(f, "args") and hasattr(f, "keywords"):  # partial
            todo.append(f.func)
            roots.extend((a, ()) for a in f.args)
            roots.extend((a, ()) for a in f.keywords.values())
        elif isinstance(f, types.FunctionType):
            funcs.append(f)
        elif not isinstance(f, _OPAQUE):      # a callable object (a Module, say)
            roots.append((f, ()))
            call = getattr(type(f), "forward", None) or getattr(type(f), "__call__", None)
            if isinstance(call, types.FunctionType):
                todo.append(call)
    for f in funcs:
        for cell in f.__closure__ or ():
            try:
                obj = cell.cell_contents
            except ValueError:                 # an empty cell
                continue
            roots.append((obj, (("cell", cell, None, obj),)))
        glob = f.__globals__
        for name in sorted(_code_names(f.__code__)):
            obj = glob.get(name, _MISSING)
            if obj is not _MISSING and not isinstance(obj, _OPAQUE):
                roots.append((obj, (("dict", glob, name, obj),)))
    roots.extend((a, ()) for a in args if not isinstance(a, Tensor))
    return roots


class SourceGuard:
    """Identity checks of the paths from ``fn``'s closure, globals and ``self`` to the
    captured tensors and the modules it reaches, plus each module's ``training``.

    ``holds()`` is a few dict lookups and ``is`` tests per path step.
    """

    __slots__ = ("cells", "dicts", "seqs", "found")

    def __init__(self, fn: Any, args: tuple, captured: list) -> None:
        from symgrad.nn import Module         # sg.nn imports tensor only: no cycle
        wanted = {id(c) for c in captured}
        checks: dict[tuple, tuple] = {}
        found: set[int] = set()
        seen: set[int] = set()
        queue = [(obj, path, 0) for obj, path in _roots(fn, args)]
        visits = 0
        while queue and visits < _MAX_VISITS:
            obj, path, depth = queue.pop(0)
            visits += 1
            if isinstance(obj, Tensor):
                if id(obj) in wanted and id(obj) not in found:
                    found.add(id(obj))
                    for c in path:
                        checks[(c[0], id(c[1]), c[2])] = c
                continue
            if id(obj) in seen or isinstance(obj, _OPAQUE) or depth >= _MAX_DEPTH:
                continue
            seen.add(id(obj))
            if isinstance(obj, Module):
                d = vars(obj)
                for c in path:
                    checks[(c[0], id(c[1]), c[2])] = c
                if "training" in d:
                    checks[("dict", id(d), "training")] = ("dict", d, "training", d["training"])
                items = d.items()
                kind, box = "dict", d
            elif isinstance(obj, dict):
                items, kind, box = obj.items(), "dict", obj
            elif isinstance(obj, (list, tuple)):
                items, kind, box = enumerate(obj), "seq", obj
            elif hasattr(obj, "__dict__") and not callable(obj):
                items, kind, box = vars(obj).items(), "dict", vars(obj)
            else:
                continue
            for key, v in list(items):
                if isinstance(v, _OPAQUE) and not isinstance(v, Tensor):
                    continue
                queue.append((v, path + ((kind, box, key, v),), depth + 1))
        self.found = found
        self.cells = tuple((c[1], c[3]) for c in checks.values() if c[0] == "cell")
        self.dicts = tuple((c[1], c[2], c[3]) for c in checks.values() if c[0] == "dict")
        self.seqs = tuple((c[1], c[2], c[3]) for c in checks.values() if c[0] == "seq")

    def holds(self) -> bool:
        """True while every path still leads to the object the trace saw."""
        try:
            for cell, obj in self.cells:
                if cell.cell_contents is not obj:
                    return False
        except ValueError:                     # the cell was emptied (del)
            return False
        for d, key, obj in self.dicts:
            if d.get(key, _MISSING) is not obj:
                return False
        for seq, k, obj in self.seqs:
            if k >= len(seq) or seq[k] is not obj:
                return False
        return True

    def checker(self, captured_checks: list) -> Any:
        """A generated ``check()``: these identity paths and the captured tensors' shapes,
        dtypes and ``requires_grad`` in one expression (None if there is nothing to check).

        The hot path of every compiled call, so it is straight-line code: a few
        attribute loads, dict lookups and ``is`` tests per path step.
        """
        glob: dict[str, Any] = {"M": _MISSING}
        terms = []
        for k, (c, shape, dtype, rg) in enumerate(captured_checks):
            glob[f"t{k}"], glob[f"s{k}"], glob[f"d{k}"] = c, shape, dtype
            terms.append(f"(v := t{k}.value).shape == s{k} and v.dtype == d{k} "
                         f"and t{k}._requires_grad is {bool(rg)}")
        for k, (d, key, obj) in enumerate(self.dicts):
            glob[f"D{k}"], glob[f"K{k}"], glob[f"O{k}"] = d, key, obj
            terms.append(f"D{k}.get(K{k}, M) is O{k}")
        for k, (cell, obj) in enumerate(self.cells):    # an emptied cell raises ValueError
            glob[f"C{k}"], glob[f"P{k}"] = cell, obj
            terms.append(f"C{k}.cell_contents is P{k}")
        for k, (seq, i, obj) in enumerate(self.seqs):    # a shorter list raises IndexError
            glob[f"S{k}"], glob[f"Q{k}"] = seq, obj
            terms.append(f"S{k}[{int(i)}] is Q{k}")
        if not terms:
            return None
        src = "def check():\n    return " + " and ".join(terms) + "\n"
        exec(compile(src, "<symgrad compile guard>", "exec"), glob)  # noqa: S102 -- ours
        return glob["check"]

    def __len__(self) -> int:
        return len(self.cells) + len(self.dicts) + len(self.seqs)


# ----------------------------------------------------------------------------- comparisons
class UfuncOp:
    """A gradient-free numpy ufunc (``>``, ``==``, ``np.isnan``) as a graph op.

    Note [Traced comparisons]
        Eagerly a comparison is a constant leaf (it has no gradient, and symgrad's op
        table has no comparison ops).  Inside a trace that leaf would be folded into
        the program, so ``sg.where(x > 0, x, 0)`` would keep the first call's mask.
        While tracing, comparisons are recorded as nodes of this op instead: the
        program recomputes them at every call, and ``bool()`` of one is a guard on
        the comparison's outcome.  ``pure``: no user code, so the program may run it
        while it is built.
    """

    __slots__ = ("ufunc", "name", "arity", "vjp")
    pure = True
    sympy = None

    def __init__(self, ufunc: Any, arity: int) -> None:
        self.ufunc, self.arity = ufunc, arity
        self.name = "detach" if ufunc is None else ufunc.__name__
        self.vjp = (None,) * arity

    def forward(self, *xs: Any) -> np.ndarray:
        if self.ufunc is None:                  # detach: the same values, no gradient
            return xs[0]
        return np.asarray(self.ufunc(*xs))

    def __repr__(self) -> str:
        return f"np.{self.name}"


_UFUNC_OPS: dict[tuple, UfuncOp] = {}


def traced_ufunc(ufunc: Any, *operands: Any) -> Tensor:
    """``ufunc(*operands)`` as a node of the traced graph (Note [Traced comparisons]);
    ``ufunc`` None is ``detach()``."""
    from symgrad.tensor import _node, const
    like = next(o for o in operands if isinstance(o, Tensor))
    ins = tuple(o if isinstance(o, Tensor) else const(o, like) for o in operands)
    key = (ufunc, len(ins))
    op = _UFUNC_OPS.get(key)
    if op is None:
        op = _UFUNC_OPS[key] = UfuncOp(ufunc, len(ins))
    return _node(op.forward(*(t.value for t in ins)), op, ins, {}, False)
