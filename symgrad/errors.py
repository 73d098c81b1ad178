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


class MatrixFormMismatch(SymgradError, AssertionError):
    """A matrix-form derivative disagrees with the elementwise form or numeric's gradient.

    Raised by the self-check every matrix-form result goes through
    (:mod:`symgrad.matrix_check`) instead of printing a wrong formula.  It is an
    ``AssertionError``: the inputs were valid and nothing overflowed, a
    consistency invariant of symgrad itself failed (a wrong matrix rule), as with
    ``verify``'s ``GradientMismatchError``, also an ``AssertionError``; not an
    ``ArithmeticError``, which means the arithmetic of an input went wrong.
    Fields: ``kind`` ("gradient", "Jacobian", "Hessian"), ``formula``, ``witness``
    (which reference disagreed), ``dims`` (the concrete dims), ``got`` and
    ``expected`` (flat arrays), ``max_abs_err``.

    >>> issubclass(MatrixFormMismatch, AssertionError), MatrixFormMismatch("x").witness
    (True, None)
    """

    def __init__(self, message: str, *, kind: str = "", formula=None, witness=None,
                 dims=None, got=None, expected=None, max_abs_err: float = float("nan")):
        super().__init__(message)
        self.kind, self.formula, self.witness, self.dims = kind, formula, witness, dims
        self.got, self.expected, self.max_abs_err = got, expected, max_abs_err


__all__ = [
    "SymgradError", "ShapeError", "DtypeError", "GradientError", "GraphFreedError",
    "SymbolicValueError", "OptimizerError",
]
# --- issue 11: linalg
__all__ += ["LinAlgError"]
# --- issue 12: matrix-form self-check
__all__ += ["MatrixFormMismatch"]


class TrainingDiverged(SymgradError, RuntimeError):
    """The loss became inf or nan; the message says at which epoch and what to try.

    ``symgrad train`` and ``sg.distributed`` raise it before the step that would have
    used the non-finite loss, so the parameters keep their last finite values.
    """


#: what ``sg.distributed`` and ``--scheduler`` say when Dask is not installed (one line)
DASK_HINT = ("sg.distributed needs Dask (dask.distributed), which is not installed: "
             "pip install symgrad[dask]")
