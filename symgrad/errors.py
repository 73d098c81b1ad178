"""Exception classes of the symgrad front end.

Every class subclasses :class:`SymgradError` *and* the standard exception a
PyTorch user would expect (``ValueError``, ``TypeError``, ``RuntimeError``), so
``except ValueError`` keeps working.  Messages say what was wrong, the shapes or
dtypes involved, and how to fix it.

>>> issubclass(ShapeError, ValueError) and issubclass(ShapeError, SymgradError)
True
"""
from __future__ import annotations


class SymgradError(Exception):
    """Base class of every error raised on purpose by symgrad."""


class ShapeError(SymgradError, ValueError, RuntimeError):
    """Operand shapes are incompatible (broadcasting, matmul, reshape, ...).

    A ValueError as numpy raises, and a RuntimeError as PyTorch raises, so code
    written for either catches it.

    >>> raise ShapeError("shapes (2,) and (3,) do not broadcast")
    Traceback (most recent call last):
    ...
    symgrad.errors.ShapeError: shapes (2,) and (3,) do not broadcast
    """


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
