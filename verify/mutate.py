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
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import numpy as np

from numeric.ops import VARIADIC, Op
from numeric.vjps import VJP

__all__ = ["KINDS", "perturbed", "parse_injection"]

KINDS = ("scale", "drop", "sign")


def _wrap(rule: Callable, kind: str, argnum: int | None) -> Callable:
    def wrong(g: Any, out: Any, *xs: Any, **attrs: Any) -> Any:
        c = rule(g, out, *xs, **attrs)
        if argnum is not None and attrs.get("argnum", argnum) != argnum:
            return c
        if kind == "scale":
            return c * 1.001
        if kind == "drop":
            return np.zeros_like(np.asarray(c))
        return -c
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
