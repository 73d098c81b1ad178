"""Shared test set-up: the hypothesis profiles of :mod:`verify.profiles`, and one Dask
LocalCluster for the tests of ``sg.distributed`` (issue 14).

``ci`` (the default) is derandomized and small so CI is deterministic and fast;
``thorough`` runs many more examples.  Choose with ``SYMGRAD_PROFILE=thorough``.
"""
import pytest

from verify.profiles import load_profile

load_profile()


@pytest.fixture(scope="session")
def dask_client():
    """A 2-worker LocalCluster (2 GiB each), started once per session and shared.

    Tests that kill workers or need other settings make their own cluster and close it.
    """
    pytest.importorskip("distributed", reason="needs the dask extra: pip install symgrad[dask]")
    from symgrad import distributed as sgd

    client = sgd.client("local", workers=2, memory_limit="2GiB")
    yield client
    sgd.close()
