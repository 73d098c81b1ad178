"""One LocalCluster for every test here: 2 worker processes, shared (started once).

Tests that kill workers or need other settings make their own cluster.
"""
from __future__ import annotations

import pytest

pytest.importorskip("distributed", reason="needs the dask extra: pip install symgrad[dask]")


@pytest.fixture(scope="session")
def dask_client():
    from symgrad import distributed as sgd

    client = sgd.client("local", workers=2, memory_limit="2GiB")
    yield client
    sgd.close()
