"""Exception classes of the symgrad front end.

Every class subclasses :class:`SymgradError` *and* the standard exception a
PyTorch user would expect (``ValueError``, ``TypeError``, ``RuntimeError``), so
``except ValueError`` keeps working.  Messages say what was wrong, the shapes or
dtypes involved, and how to fix it.

>>> issubclass(ShapeError, ValueError) and issubclass(ShapeError, SymgradError)
True
>>> issubclass(ShapeError, RuntimeError) and ShapeError.__module__
'numeric.errors'
"""
from __future__ import annotations

# The root class and ShapeError are numeric's (numeric's shape rules raise it and
# numeric may not import symgrad): one class each, so ``except sg.ShapeError``
# catches what numeric raises.
from numeric.errors import ShapeError, SymgradError
# --- issue 11: linalg (numeric's kernels raise it, so it lives there as ShapeError does)
from numeric.errors import LinAlgError


class DtypeError(SymgradError, TypeError, RuntimeError):
    """A dtype cannot be used this way (e.g. an integer tensor requiring grad).

    It is both a ``TypeError`` and a ``RuntimeError`` (PyTorch raises the latter).

    >>> issubclass(DtypeError, RuntimeError) and issubclass(DtypeError, TypeError)
    True
    """


class GradientError(SymgradError, RuntimeError):
    """``backward()``/``grad()`` cannot run (non-scalar output, no grad, unused input).

    >>> issubclass(GradientError, RuntimeError)
    True
    """


class GraphFreedError(GradientError):
    """Backward through a graph whose intermediate nodes were already released.

    >>> issubclass(GraphFreedError, RuntimeError)
    True
    """


class SymbolicValueError(SymgradError, RuntimeError):
    """A numeric value was needed from a symbolic tensor (one built from ``sg.symbol``).

    >>> issubclass(SymbolicValueError, RuntimeError)
    True
    """


class OptimizerError(SymgradError, ValueError):
    """An optimizer was given bad parameters or hyper-parameters.

    >>> issubclass(OptimizerError, ValueError)
    True
    """


__all__ = [
    "SymgradError", "ShapeError", "DtypeError", "GradientError", "GraphFreedError",
    "SymbolicValueError", "OptimizerError",
]
# --- issue 11: linalg
__all__ += ["LinAlgError"]
