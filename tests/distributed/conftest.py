"""The tests of sg.distributed need the dask extra; the shared ``dask_client`` fixture is
in tests/conftest.py."""
import pytest

pytest.importorskip("distributed", reason="needs the dask extra: pip install symgrad[dask]")
