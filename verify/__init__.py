"""verify: the referee between numeric and exact symbolic gradients.

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
from verify.report import GradientMismatchError, Report

__all__ = ["check", "gradcheck", "Report", "GradientMismatchError"]
