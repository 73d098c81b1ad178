"""verify: the referee between numeric and exact symbolic gradients.

``verify.check`` (numeric vs exact vs finite differences, a :class:`Report`),
``verify.gradcheck`` (PyTorch's gradcheck, plus the exact Jacobian),
``verify.check_jacobian`` / ``verify.check_hessian`` (exact Jacobians and Hessians
against ``sg.func``'s numeric ones),
``verify.opdb.OP_DB`` (the op database), ``verify.strategies`` (Hypothesis
strategies for random expressions and points) and ``verify.profiles`` (the
``ci`` and ``thorough`` Hypothesis profiles).

>>> import verify
>>> from verify.graph import symbol, apply
>>> from numeric.ops import Op
>>> x = symbol("x", (2,))
>>> verify.check(apply(Op.SUM, apply(Op.SIN, x), axis=None, keepdims=False), x,
...              n_points=2).passed
True
"""
from verify.check import check
from verify.gradcheck import gradcheck
from verify.jacobians import MatrixReport, check_hessian, check_jacobian
from verify.report import GradientMismatchError, Report
from verify import opdb, profiles, strategies  # noqa: E402  (public submodules)

__all__ = ["check", "gradcheck", "check_jacobian", "check_hessian", "MatrixReport", "Report", "GradientMismatchError", "opdb", "profiles",
           "strategies"]
