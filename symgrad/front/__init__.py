"""Hand-written ``sg.`` functions of the op families, one module per family.

A rule declared with ``front="hand"`` in :mod:`numeric.rules` needs an ``sg.``
function with PyTorch's signature (``var(input, dim, *, correction, keepdim)``).
The older ops keep theirs in :mod:`symgrad.tensor_ops`; each newer family has a
module here.  A family module defines

``__all__``   its ``sg.`` functions: those its rules name, and the functions built
              from other ops (``split``, ``meshgrid``), which are exported too;
``METHODS``   (optional) ``{name: function}``: Tensor methods that are not a rule's
              (a composed op's method, or a method whose form differs).

:data:`FUNCTIONS` and :data:`METHODS` collect them for :mod:`symgrad.tensor_ops`,
which binds the methods and checks every rule's names are defined somewhere.
A family module imports from :mod:`symgrad.tensor` (never from ``tensor_ops``).
"""
from __future__ import annotations

from typing import Any

# family modules (each issue-11 family adds its import here)
MODULES: tuple = ()
# --- issue 11: rounding
from symgrad.front import rounding  # noqa: E402

MODULES += (rounding,)
# --- issue 11: nnops
from symgrad.front import nnops  # noqa: E402 - a family module

MODULES += (nnops,)
# --- issue 11: math
from symgrad.front import math as _math  # noqa: E402
MODULES += (_math,)
# --- issue 11: linalg
from symgrad.front import linalg as _linalg  # noqa: E402
MODULES += (_linalg,)
# --- issue 11: reductions
from symgrad.front import reductions  # noqa: E402
MODULES += (reductions,)
# --- issue 11: shape
from symgrad.front import shape  # noqa: E402

MODULES += (shape,)
# --- issue 11: losses
from symgrad.front import losses  # noqa: E402

MODULES += (losses,)
# --- issue 11: activations
from symgrad.front import activations  # noqa: E402

MODULES += (activations,)

#: every family's sg. functions by name
FUNCTIONS: dict[str, Any] = {name: getattr(m, name) for m in MODULES for name in m.__all__}
#: Tensor methods defined by the families beyond their rules' methods
METHODS: dict[str, Any] = {name: fn for m in MODULES for name, fn in getattr(m, "METHODS", {}).items()}
