"""Shared test set-up: hypothesis profiles.

``ci`` (the default) is derandomized and small so CI is deterministic and fast;
``thorough`` runs many more examples.  Choose with ``SYMGRAD_PROFILE=thorough``.
"""
import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, max_examples=40, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("SYMGRAD_PROFILE", "ci"))
