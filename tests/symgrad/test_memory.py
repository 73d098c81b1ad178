"""Memory stays flat in the seed's training loop: old graphs die, no growth."""
import gc
import tracemalloc
import weakref

import symgrad as sg


def _setup():
    w = sg.tensor([1.0], requires_grad=True)
    b = sg.tensor([0.0], requires_grad=True)
    x = sg.tensor([[1.0], [2.0], [3.0]])
    y = sg.tensor([[3.0], [5.0], [7.0]])
    return w, b, x, y, sg.optim.SGD([w, b], lr=0.01)


def test_no_old_graph_alive_after_1000_steps():
    w, b, x, y, opt = _setup()
    refs = []
    gc.disable()                      # graphs must die by reference counting alone
    try:
        for i in range(1000):
            y_pred = w * x + b
            loss = sg.sum((y_pred - y) ** 2)
            if i % 100 == 0:
                refs += [weakref.ref(loss), weakref.ref(y_pred)]
            opt.zero_grad()
            loss.backward()
            opt.step()
        del y_pred, loss
        alive = [r for r in refs if r() is not None]
    finally:
        gc.enable()
    assert alive == []


def test_tracemalloc_growth_under_1mb():
    w, b, x, y, opt = _setup()

    def steps(n):
        for _ in range(n):
            loss = sg.sum((w * x + b - y) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()

    steps(500)
    tracemalloc.start()
    try:
        start = tracemalloc.take_snapshot()
        steps(500)
        end = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    growth = sum(s.size_diff for s in end.compare_to(start, "filename"))
    assert growth < 1_000_000, growth


def test_grad_fn_does_not_create_reference_cycles():
    x = sg.tensor([1.0], requires_grad=True)
    y = x * 2
    _ = y.grad_fn.next_functions
    r = weakref.ref(y)
    gc.disable()
    try:
        del y, _
        assert r() is None
    finally:
        gc.enable()
