"""The tolerance policy: how far a float gradient may be from the exact one.

Note [Tolerance policy] (docs/verification.md explains it with examples)
    The exact gradient ``G`` is evaluated with mpmath together with a first-order
    *running error bound* ``a``: if the exact formula were evaluated in a float
    format of unit roundoff ``u``, its result would be off by at most about
    ``u * a`` (every sum, product, power and library call adds its own rounding,
    propagated through the formula's partial derivatives; see
    :class:`verify.oracles.ExactEvaluator`).  ``a`` is large exactly where the
    formula cancels (``x*y - x*z`` with ``y ~ z``) and small where it is benign.

    The numeric engine evaluates a *different* formula for the same number (its
    hand-written VJPs).  Two more terms cover that: ``n_ops * |G|`` (each of the
    graph's ``n_ops`` operations may add a relative rounding of ``u`` along a path)
    and ``rho * |G|``, where ``rho`` is the worst cancellation ratio of any
    intermediate forward value in the numeric graph (``(|a| + |b|) / |a + b|``
    for sums, ``|A| @ |B| / |A @ B|`` for matmul; see ``verify.oracles``): a
    forward value that lost digits carries that loss into every gradient that
    depends on it, and SymPy may have simplified the cancellation away.

    ``tol = SAFETY * u * (a + (n_ops + rho) * |G|) + TINY``

    ``SAFETY = 16`` absorbs library functions that are accurate to a few ulps
    rather than half an ulp, and re-associated sums.  A point whose ``rho``
    exceeds ``MAX_RHO`` is *ill-conditioned*: float64 cannot resolve the answer
    there, so it is skipped and counted, never judged.

>>> bool(tolerance(a=0.0, g=1.0, n_ops=2, rho=1.0) < 1e-13)
True
"""
from __future__ import annotations

import numpy as np

__all__ = ["SAFETY", "MAX_RHO", "TINY", "unit_roundoff", "tolerance", "ulps"]

#: multiplies the first-order rounding bound
SAFETY = 16.0
#: beyond this cancellation ratio a point is skipped as ill-conditioned
MAX_RHO = 1e8
#: an absolute floor, far below any representable gradient error of interest
TINY = 1e-300


def unit_roundoff(dtype) -> float:
    """Unit roundoff ``u`` of a float dtype (half the machine epsilon).

    >>> unit_roundoff("float64") == 2.0 ** -53, unit_roundoff("float32") == 2.0 ** -24
    (True, True)
    """
    return float(np.finfo(np.dtype(dtype)).eps) / 2.0


def tolerance(a, g, n_ops: int, rho: float, dtype="float64"):
    """Allowed ``|numeric - exact|`` given the running bound ``a`` and exact value ``g``.

    Works elementwise on arrays.

    >>> float(tolerance(a=1.0, g=0.0, n_ops=1, rho=1.0)) == 16 * 2.0 ** -53 + 1e-300
    True
    """
    u = unit_roundoff(dtype)
    return SAFETY * u * (np.asarray(a, float) + (n_ops + rho) * np.abs(np.asarray(g, float))) \
        + TINY


def ulps(err, exact) -> np.ndarray:
    """An absolute error in units in the last place of the exact value (float64).

    >>> float(ulps(2.0 ** -52, 1.0))
    1.0
    """
    exact = np.abs(np.asarray(exact, dtype=np.float64))
    spacing = np.spacing(np.maximum(exact, np.finfo(np.float64).tiny))
    return np.asarray(err, dtype=np.float64) / spacing
