"""Time budgets for closed-form work: ``deadline``, ``tidy``, ``SimplifyTimeout``.

Every closed-form call (``sg.diff``, ``sg.gradient``, ``sg.jacobian``,
``sg.hessian``) computes its derivative, which costs time linear in the graph,
and then simplifies it within a time budget (``timeout=`` seconds, default
:data:`DEFAULT_TIMEOUT`).  When the budget runs out the call returns the best
form found so far, correct but less simplified, issues :class:`SimplifyTimeout`
and sets ``timed_out = True`` on results that can carry an attribute.

>>> import sympy
>>> x = sympy.Symbol("x")
>>> tidy(sympy.sin(x) ** 2 + sympy.cos(x) ** 2, "fast", 1.0)
1

Note [Interrupting SymPy]
    ``sympy.simplify`` is pure Python that can run for minutes and has no time
    limit of its own.  Work under a deadline runs with a trace function
    (``sys.settrace``, this thread only, chained to any tracer already set, e.g.
    coverage's, and restored afterwards).  Python calls it as each function is
    entered; once the deadline has passed it raises :class:`BudgetExceeded`
    there, on entry to a SymPy (or mpmath) function, as if that function had
    raised.  Never at an arbitrary bytecode: an asynchronous exception (a watchdog
    thread's ``PyThreadState_SetAsyncExc``, SIGALRM) can land inside importlib's
    or ``threading``'s Python-level locks and deadlock the process, which a first
    version of this module did.  It never raises on entry to ``__exit__``,
    ``__setattr__`` or ``__del__``, nor inside ``sympy.core.parameters`` and
    ``sympy.core.cache``, the code that restores SymPy's global settings, nor on
    resuming a generator (its ``close()`` may come from the garbage collector), so
    ``with evaluate(False)`` and its kin always undo themselves, nor while a module
    is being imported (SymPy imports lazily inside its functions).  Python removes a
    trace function that raises, so it raises once; ``BudgetExceeded`` derives from
    ``BaseException`` (like ``KeyboardInterrupt``) so SymPy's ``except
    Exception`` fallbacks let it through (SymPy has no bare ``except:`` outside
    its tests).  SymPy's caches stay sound: its ``lru_cache`` stores only finished
    results, and its assumptions record a fact only once deduced.  The cost is
    the trace call on every Python call (SymPy runs about 2.5x slower under a
    deadline), paid only while simplifying.
"""
from __future__ import annotations

import inspect
import math
import os
import sys
import threading
import time
import warnings

import mpmath
import sympy

__all__ = ["DEFAULT_TIMEOUT", "STRATEGIES", "SimplifyTimeout", "BudgetExceeded", "Deadline",
           "deadline", "tidy", "check_simplify", "current"]

#: seconds a closed-form call may spend before it stops simplifying (``timeout=None``)
DEFAULT_TIMEOUT = 1.5

#: the named values of ``simplify=`` (``True`` is ``"auto"``, ``False`` is ``"none"``)
STRATEGIES = ("none", "fast", "auto", "full")

#: ``"auto"`` tries ``sympy.simplify`` only on elements up to this many operations
#: (after the cheap steps); larger ones keep the cheap form (``"full"`` tries anyway)
AUTO_SIMPLIFY_OPS = 60



class SimplifyTimeout(UserWarning):
    """A closed form ran out of its time budget and was returned less simplified.

    The result is correct; pass a larger ``timeout=`` or ``simplify="fast"`` to
    silence it, or filter it with :mod:`warnings`.
    """


class BudgetExceeded(BaseException):
    """Raised inside work under a :func:`deadline` when its time is up.

    A ``BaseException`` (like ``KeyboardInterrupt``) so that library code's
    ``except Exception`` does not swallow it; catch it by name.
    """


_INTERRUPTIBLE = tuple(os.path.dirname(m.__file__) + os.sep for m in (sympy, mpmath))
_PROTECTED_FILES = tuple(os.path.join(os.path.dirname(sympy.__file__), "core", f)
                         for f in ("parameters.py", "cache.py"))
_PROTECTED_NAMES = frozenset({"__exit__", "__setattr__", "__delattr__", "__del__"})
#: generators are entered again on each resume and on close (from the garbage collector,
#: where an exception is only printed): never raise there
_GENERATOR = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def _interruptible(frame) -> bool:
    """May BudgetExceeded be raised on entry to ``frame``?  (Only SymPy's algorithms.)"""
    code = frame.f_code
    name = code.co_filename
    if not (name.startswith(_INTERRUPTIBLE) and not name.startswith(_PROTECTED_FILES)
            and code.co_name not in _PROTECTED_NAMES) or code.co_flags & _GENERATOR:
        return False
    while frame is not None:  # not while a module is being imported (SymPy imports lazily)
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return False
        frame = frame.f_back
    return True


def _tracer_until(end: float, prev):
    """A trace function raising BudgetExceeded on entry to SymPy code after ``end``."""
    clock = time.monotonic

    def trace(frame, event, arg):
        if clock() >= end and _interruptible(frame):
            raise BudgetExceeded
        return prev(frame, event, arg) if prev is not None else None
    return trace


_LOCAL = threading.local()


class Deadline:
    """A point in time after which closed-form work stops (see :func:`deadline`).

    ``with d:`` runs a block that :class:`BudgetExceeded` interrupts at the
    deadline (re-entrant; an inner ``with`` of a nearer deadline nests).
    ``d.timed_out`` records that some work under ``d`` was cut short;
    ``d.remaining()`` is the time left (``math.inf`` without a limit).
    """

    __slots__ = ("seconds", "end", "timed_out", "_prev")

    def __init__(self, seconds: float | None):
        if seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
                    or math.isnan(seconds) or seconds < 0:
                raise ValueError(f"timeout must be a number of seconds >= 0 or None, "
                                 f"got {seconds!r}")
        self.seconds = seconds
        self.end = math.inf if seconds is None else time.monotonic() + seconds
        self.timed_out = False
        self._prev: list = []

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def within(self, seconds: float) -> "Deadline":
        """A nearer deadline: ``seconds`` from now, or this one if it comes first."""
        d = Deadline(None)
        d.end = min(self.end, time.monotonic() + max(0.0, seconds))
        d.seconds = d.end - time.monotonic()
        return d

    def run(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)``, interrupted by :class:`BudgetExceeded` at the deadline.

        The same as ``with self: return fn(...)``; the library's own steps run this way.
        """
        if self.expired():
            self.timed_out = True
            raise BudgetExceeded
        if self.end == math.inf:
            return fn(*args, **kwargs)
        prev = sys.gettrace()
        sys.settrace(_tracer_until(self.end, prev))
        try:
            return fn(*args, **kwargs)
        except BudgetExceeded:
            if self.expired():
                self.timed_out = True
            raise
        finally:
            sys.settrace(prev)

    def __enter__(self) -> "Deadline":
        if self.expired():
            self.timed_out = True
            raise BudgetExceeded
        prev = sys.gettrace()
        self._prev.append(prev)
        if self.end < math.inf:
            sys.settrace(_tracer_until(self.end, prev))
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        sys.settrace(self._prev.pop())
        if exc_type is not None and issubclass(exc_type, BudgetExceeded) and self.expired():
            self.timed_out = True
        return False

    def __repr__(self) -> str:
        left = "no limit" if self.end == math.inf else f"{self.remaining():.3g}s left"
        return f"Deadline({left}{', timed out' if self.timed_out else ''})"


def deadline(seconds: float | None) -> Deadline:
    """A deadline ``seconds`` from now; ``with`` it, long SymPy work raises :class:`BudgetExceeded`.

    ``None`` means no limit.  The exception interrupts SymPy's (pure-Python)
    work in the thread that entered the block, on entry to one of its functions
    (Note [Interrupting SymPy]); other code in the block runs on.

    >>> import sympy
    >>> d = deadline(0.05)
    >>> try:
    ...     with d:
    ...         while True:
    ...             _ = sympy.expand((sympy.Symbol("x") + 1) ** 3)
    ... except BudgetExceeded:
    ...     print("stopped", d.timed_out)
    stopped True
    """
    return Deadline(seconds)


def current() -> Deadline | None:
    """The deadline of the closed-form call running in this thread, if any."""
    stack = getattr(_LOCAL, "stack", None)
    return stack[-1] if stack else None


class _Active:
    """``with _Active(d):`` makes ``d`` the thread's :func:`current` deadline."""

    def __init__(self, d: Deadline):
        self.d = d

    def __enter__(self):
        stack = getattr(_LOCAL, "stack", None)
        if stack is None:
            stack = _LOCAL.stack = []
        stack.append(self.d)
        return self.d

    def __exit__(self, *exc):
        _LOCAL.stack.pop()
        return False


def check_simplify(simplify) -> str:
    """The strategy name for a ``simplify=`` argument; ValueError for anything else.

    >>> check_simplify(True), check_simplify(False), check_simplify("fast")
    ('auto', 'none', 'fast')
    """
    if simplify is True:
        return "auto"
    if simplify is False or simplify is None:
        return "none"
    if isinstance(simplify, str) and simplify in STRATEGIES:
        return simplify
    raise ValueError(f"simplify must be False, True or one of {', '.join(map(repr, STRATEGIES))} "
                     f"(True means 'auto'), got {simplify!r}")


# ---------------------------------------------------------------- staged simplification

def _ops(e) -> int:
    return sympy.count_ops(e)


def _hyperbolic(e):
    """tanh and sigmoid identities: ``1 - tanh(u)**2`` -> ``1/cosh(u)**2`` etc., cheaply."""
    if not e.has(sympy.tanh, sympy.exp):
        return e
    return sympy.powsimp(sympy.together(e))


def _poly_expand(e):
    return sympy.expand(e) if e.is_polynomial() else e


#: the cheap steps, in order; each is kept only if it does not add operations
_CHEAP_STEPS = (
    ("factor_terms", lambda e: sympy.factor_terms(e)),
    ("powsimp", lambda e: sympy.powsimp(e)),
    ("cancel", lambda e: sympy.cancel(e)),
    ("hyperbolic", _hyperbolic),
    ("trigsimp", lambda e: sympy.trigsimp(e) if e.has(sympy.sin, sympy.cos) else e),
    ("expand", _poly_expand),
)

#: the cheap steps are tried on elements of at most this many operations
_CHEAP_MAX_OPS = 2000

#: Piecewise expressions larger than this, or whose conditions compare with Max/Min (tie
#: splits), skip ``sympy.simplify``: it can take minutes on their relational conditions
_PIECEWISE_SIMPLIFY_OPS = 40


def _better(candidate, best, best_ops):
    """``(candidate, its ops)`` if it has no more operations than ``best``, else ``best``."""
    ops = _ops(candidate)
    return (candidate, ops) if ops <= best_ops else (best, best_ops)


def _simplify_real(e, strategy: str, d: Deadline, cheap: bool = True):
    """Staged simplification of an expression over real symbols, under ``d``.

    Returns ``(expr, cut)``: ``cut`` is True when a stage was interrupted.
    ``cheap=False`` skips the cheap steps (already done).
    """
    if e.is_Atom or strategy == "none":
        return e, False
    best, best_ops = e, _ops(e)
    cut = False
    if cheap and best_ops <= _CHEAP_MAX_OPS:
        for _, step in _CHEAP_STEPS:
            try:
                best, best_ops = d.run(lambda: _better(step(best), best, best_ops))
            except BudgetExceeded:
                if not d.expired():
                    raise
                return best, True
    if strategy == "fast":
        return best, cut
    if best.has(sympy.Piecewise) and (best.has(sympy.Max, sympy.Min)
                                      or best_ops > _PIECEWISE_SIMPLIFY_OPS):
        return best, cut
    if strategy == "auto" and best_ops > AUTO_SIMPLIFY_OPS:
        return best, cut
    def full(best, best_ops):
        best, best_ops = _better(sympy.simplify(best), best, best_ops)
        return _better(_poly_expand(best), best, best_ops)

    try:
        best, best_ops = d.run(full, best, best_ops)
    except BudgetExceeded:
        if not d.expired():
            raise
        cut = True
    return best, cut


def _is_matrix_expr(e) -> bool:
    return isinstance(e, sympy.MatrixExpr) or (hasattr(e, "is_Matrix") and e.is_Matrix)


def tidy(expr, simplify=True, deadline=None, *, dims=()):
    """``expr`` simplified as ``simplify`` says, within the time ``deadline`` allows.

    ``simplify``: ``False``/``"none"`` (returned as is), ``"fast"`` (cheap steps:
    ``factor_terms``, ``powsimp``, ``cancel``, tanh/sigmoid identities,
    ``trigsimp``, polynomial ``expand``), ``True``/``"auto"`` (the cheap steps,
    then ``sympy.simplify`` on elements of up to :data:`AUTO_SIMPLIFY_OPS`
    operations), ``"full"`` (``sympy.simplify`` whatever the size).  A step is
    kept only if it does not add operations, so the result is never larger than
    ``expr``.  Plain leaves are taken as real meanwhile (Note [Plain leaves] in
    :mod:`symgrad.lower_sympy`); ``dims`` names symbols that are positive
    integers (symbolic dims).

    ``deadline``: a :class:`Deadline` (shared by the pieces of one result: it
    records ``timed_out`` and the caller warns), seconds, or ``None`` (the
    running closed-form call's deadline, else :data:`DEFAULT_TIMEOUT`); with
    seconds or ``None`` outside a call, ``tidy`` issues :class:`SimplifyTimeout`
    itself when time runs out.

    >>> import sympy
    >>> x = sympy.Symbol("x")
    >>> tidy(x * (1 - sympy.tanh(x) ** 2) + x * sympy.tanh(x) ** 2, "fast", 1.0)
    x
    """
    strategy = check_simplify(simplify)
    if strategy == "none" or not isinstance(expr, sympy.Basic) or expr.is_Atom:
        return expr
    if _is_matrix_expr(expr):
        return expr
    own = not isinstance(deadline, Deadline)
    d = deadline if not own else (current() if deadline is None else None) or Deadline(
        DEFAULT_TIMEOUT if deadline is None else deadline)
    if d is current():
        own = False
    from symgrad.lower_sympy import real_world  # lower_sympy imports this module's users
    to_real, to_plain = real_world(expr, dims=dims)
    out, cut = _simplify_real(expr.xreplace(to_real), strategy, d)
    if cut:
        d.timed_out = True
        if own:
            warn_timeout(d, "tidy()")
    return out.xreplace(to_plain)


def tidy_all(exprs, simplify, d: Deadline, *, dims=()) -> list:
    """``tidy`` each of ``exprs`` under one deadline ``d``, sharing its time fairly.

    The cheap steps of every element run before any ``sympy.simplify``, and each
    element gets the time left divided by the elements left, so one stubborn
    element cannot starve the others.  Equal elements (a symmetric Hessian's
    mirror entries) are simplified once.  Sets ``d.timed_out`` when cut short.
    """
    strategy = check_simplify(simplify)
    exprs = list(exprs)
    if strategy == "none":
        return exprs
    from symgrad.lower_sympy import real_world
    to_real, to_plain = real_world(*exprs, dims=dims)
    orig = [e.xreplace(to_real) if isinstance(e, sympy.Basic) else e for e in exprs]
    out = list(orig)
    first: dict = {}
    for k, e in enumerate(orig):
        if isinstance(e, sympy.Basic) and not e.is_Atom and not _is_matrix_expr(e):
            first.setdefault(e, k)
    todo = sorted(first.values())
    stages = ["fast"] if strategy == "fast" else ["fast", strategy]
    for stage in stages:
        for n, k in enumerate(todo):
            share = d.within(d.remaining() / (len(todo) - n))
            out[k], cut = _simplify_real(out[k], stage, share, cheap=stage == "fast")
            if cut:
                d.timed_out = True
    out = [out[first[e]] if isinstance(e, sympy.Basic) and e in first else e for e in orig]
    return [e.xreplace(to_plain) if isinstance(e, sympy.Basic) else e for e in out]


def warn_timeout(d: Deadline, what: str, stacklevel: int = 3) -> None:
    """Issue :class:`SimplifyTimeout` for a call whose deadline ``d`` ran out."""
    limit = "" if d.seconds is None else f" of {d.seconds:g} s"
    warnings.warn(f"{what} ran out of its time budget{limit} while simplifying; the result is "
                  "correct but may be less simplified (pass a larger timeout=, or "
                  "simplify='fast')", SimplifyTimeout, stacklevel=stacklevel)


def mark(result, timed_out: bool):
    """Set ``result.timed_out`` where the SymPy object allows attributes; returns ``result``.

    Arrays and matrices carry it; scalar expressions cannot (SymPy's expressions
    have no ``__dict__`` and are shared through its cache), so for them the
    :class:`SimplifyTimeout` warning is the signal.
    """
    if isinstance(result, (sympy.NDimArray, sympy.MatrixBase)):
        try:
            result.timed_out = timed_out
        except AttributeError:
            pass
    return result
