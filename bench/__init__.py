"""symgrad's benchmark suite: ``python -m bench [--quick] [--only NAME]`` (or ``make bench``).

Each workload module exposes ``run(quick=False) -> list[dict]``; systems of one
workload are interleaved round by round in one process (see :mod:`bench.harness`).
"""
