"""The exception classes numeric raises on purpose (numeric is the bottom layer).

``SymgradError`` is the root of every deliberate error of the distribution
(numeric, symgrad, verify); it lives here because numeric may import nothing
above it.  symgrad re-exports both classes (``sg.SymgradError``,
``sg.ShapeError``), so ``except sg.ShapeError`` catches a shape error raised by
numeric's shape rules: there is one class, not a numeric copy and a symgrad copy.

>>> issubclass(ShapeError, ValueError) and issubclass(ShapeError, SymgradError)
True
"""
from __future__ import annotations

__all__ = ["SymgradError", "ShapeError", "LinAlgError"]


class SymgradError(Exception):
    """Base class of every error raised on purpose by symgrad (and numeric, verify)."""


class ShapeError(SymgradError, ValueError, RuntimeError):
    """Operand shapes are incompatible (broadcasting, matmul, reshape, ...).

    A ValueError as numpy raises, and a RuntimeError as PyTorch raises, so code
    written for either catches it.

    >>> raise ShapeError("shapes (2,) and (3,) do not broadcast")
    Traceback (most recent call last):
    ...
    numeric.errors.ShapeError: shapes (2,) and (3,) do not broadcast
    """


# --- issue 11: linalg
class LinAlgError(SymgradError, RuntimeError):
    """A linear-algebra routine failed on its input: a singular matrix for ``inv`` or
    ``solve``, a matrix that is not positive-definite for ``cholesky``.

    A RuntimeError, as PyTorch's ``torch.linalg.LinAlgError``.

    >>> issubclass(LinAlgError, RuntimeError)
    True
    """
