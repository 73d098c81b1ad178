"""Shared test set-up: the hypothesis profiles of :mod:`verify.profiles`.

``ci`` (the default) is derandomized and small so CI is deterministic and fast;
``thorough`` runs many more examples.  Choose with ``SYMGRAD_PROFILE=thorough``.
"""
from verify.profiles import load_profile

load_profile()
