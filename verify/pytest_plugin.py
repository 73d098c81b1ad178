"""The pytest plugin of symgrad (entry point ``pytest11``): a ``symgrad_verify`` fixture.

Installed with symgrad, it is loaded by every pytest run, so it imports
nothing heavy at start-up (no torch, jax, SymPy or verify): the fixture
imports ``verify.torch`` or ``verify.jax`` on its first call.

* ``symgrad_verify(fn, *example_inputs, **options)`` checks the gradients of
  ``fn`` (a PyTorch or JAX function, chosen by the example inputs' type; a
  symgrad tensor or function goes to ``verify.check``), fails the test with
  the report when they disagree with the exact ones, and returns the report.
* ``--symgrad-profile NAME`` (or ``$SYMGRAD_PROFILE``) registers and loads the
  Hypothesis profiles of :mod:`verify.profiles` (``ci``, ``thorough``).
  Without either, your Hypothesis settings are left alone; registering is
  idempotent, so a ``conftest.py`` that also calls ``load_profile()`` is fine.
"""
from __future__ import annotations

import os
from typing import Any, Callable

import pytest

PROFILE_ENV = "SYMGRAD_PROFILE"


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("symgrad")
    group.addoption("--symgrad-profile", default=None,
                    help="load a Hypothesis profile of verify.profiles (ci, thorough)")


def pytest_configure(config: Any) -> None:
    name = config.getoption("--symgrad-profile", default=None) or os.environ.get(PROFILE_ENV)
    if name:
        from verify.profiles import load_profile
        load_profile(name)


def _framework(x: Any) -> str:
    mod = type(x).__module__ or ""
    if mod.startswith("torch"):
        return "torch"
    if mod.startswith(("jax", "jaxlib")):
        return "jax"
    return "symgrad"


def verify_gradients(fn: Any, *example_inputs: Any, **options: Any):
    """Check ``fn``'s gradients at ``example_inputs``; raise ``AssertionError`` with the report."""
    kind = _framework(example_inputs[0]) if example_inputs else "symgrad"
    if kind == "torch":
        from verify.torch import check
        report = check(fn, *example_inputs, **options)
    elif kind == "jax":
        from verify.jax import check
        report = check(fn, *example_inputs, **options)
    else:
        import verify
        wrt = options.pop("wrt", list(example_inputs) if example_inputs else None)
        report = verify.check(fn, wrt, **options)
    if not report.passed:
        raise AssertionError(f"gradients of {getattr(fn, '__qualname__', fn)!s} disagree with "
                             f"the exact ones:\n{report}\n" + "\n".join(report.failures[:10]))
    return report


@pytest.fixture
def symgrad_verify() -> Callable:
    """``symgrad_verify(fn, *example_inputs, **options)``: assert ``fn``'s gradients are exact."""
    return verify_gradients
