"""What a graph costs after ``backward()``: bytes per node of a long chain, and all back.

``backward()`` frees the values it saved but keeps the graph's structure (the IR
nodes), so ``sg.diff(loss, w)`` still works afterwards, as PyTorch keeps its
``grad_fn`` nodes.  This measures, with ``tracemalloc``, the memory still held
after ``backward()`` of an ``n``-op chain ``sin(sin(...sin(x)))`` of 8-element
float64 tensors, per node, and what is left once the output is deleted (target:
nothing).  For scale: one 8-element float64 value is 64 bytes of data plus
numpy's ~112-byte array header, freed by ``backward()``.
"""
from __future__ import annotations

import gc
import time
import tracemalloc


def chain(n: int) -> dict:
    """Bytes held per node after backward of an ``n``-op chain, and after ``del``."""
    import symgrad as sg

    x = sg.tensor([0.5] * 8, requires_grad=True)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        t0 = time.perf_counter()
        y = x
        for _ in range(n):
            y = sg.sin(y)
        built = tracemalloc.get_traced_memory()[0] - base
        loss = y.sum()
        del y
        loss.backward()
        seconds = time.perf_counter() - t0
        x.grad = None
        gc.collect()
        after = tracemalloc.get_traced_memory()[0] - base
        del loss
        gc.collect()
        left = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    return {"workload": f"chain of {n:,} sin ops", "before_backward_b_per_node": built / n,
            "after_backward_b_per_node": after / n, "after_del_bytes": left,
            "build_and_backward_s": seconds, "target": "after del: ~0 (< 1 KiB)",
            "met": left < 1024}


def run(quick: bool = False) -> list[dict]:
    return [chain(2 * 10**4 if quick else 10**6)]
