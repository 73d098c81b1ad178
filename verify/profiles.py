"""Hypothesis profiles for gradient property tests: ``ci`` and ``thorough``.

* ``ci``: derandomized (the same examples every run), 40 examples, no
  deadline -- deterministic and fast enough for every push;
* ``thorough``: 1000 random examples per property, for a nightly or a release.

Importing :mod:`verify.strategies` registers both; the environment variable
``SYMGRAD_PROFILE`` chooses one.  In your own suite's ``conftest.py``::

    from verify.profiles import load_profile
    load_profile()          # SYMGRAD_PROFILE=thorough pytest ... for the long run

>>> from hypothesis import settings
>>> register_profiles()
>>> settings.get_profile("ci").derandomize, settings.get_profile("thorough").max_examples
(True, 1000)
"""
from __future__ import annotations

import os
from typing import Optional

from hypothesis import HealthCheck, settings

__all__ = ["PROFILE_ENV", "PROFILES", "register_profiles", "load_profile"]

#: the environment variable that chooses a profile
PROFILE_ENV = "SYMGRAD_PROFILE"
#: the profiles' names
PROFILES = ("ci", "thorough")

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]


def register_profiles() -> None:
    """Register the ``ci`` and ``thorough`` profiles with Hypothesis (idempotent)."""
    settings.register_profile("ci", derandomize=True, max_examples=40, deadline=None,
                              print_blob=True, suppress_health_check=_SLOW_OK)
    settings.register_profile("thorough", max_examples=1000, deadline=None, derandomize=False,
                              suppress_health_check=_SLOW_OK)


def load_profile(name: Optional[str] = None) -> str:
    """Load profile ``name`` (default: ``$SYMGRAD_PROFILE``, else ``ci``); return its name.

    >>> load_profile("ci")
    'ci'
    >>> load_profile("nightly")
    Traceback (most recent call last):
    ...
    ValueError: unknown hypothesis profile 'nightly'; SYMGRAD_PROFILE must be one of ('ci', 'thorough')
    """
    register_profiles()
    name = name or os.environ.get(PROFILE_ENV) or "ci"
    if name not in PROFILES:
        raise ValueError(f"unknown hypothesis profile {name!r}; {PROFILE_ENV} must be one of "
                         f"{PROFILES}")
    settings.load_profile(name)
    return name
