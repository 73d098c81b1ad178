"""``symgrad demo``: a tour of the seed tutorial's four examples, in seconds.

Each example is run the PyTorch way (tensors, ``backward()``, ``sg.optim``) and
printed as PyTorch prints it, then differentiated exactly with SymPy; the graph
of ``z = x + y; w = z * 2`` is drawn as text, and :func:`verify.check` referees
two formulas.

>>> run()  # doctest: +ELLIPSIS
== 1. f = x**2 at x = 5 ==
x.grad = tensor([10.])
...
w = 2.1001044717024104, b = 0.7724390062968837
...
0
"""
from __future__ import annotations

import os
import tempfile
import time
from typing import Any

__all__ = ["run"]

# PyTorch's float32 output for the seed's training loop (docs/getting-started.md)
TORCH_W, TORCH_B = 2.100104570388794, 0.7724389433860779


def _section(title: str) -> None:
    print(f"\n== {title} ==" if not title.startswith("1.") else f"== {title} ==")


def _resume_demo(sg: Any) -> None:
    """Train the seed's model 50 steps, save (``sg.save``), load into new objects, train 50
    more, and compare with 100 uninterrupted steps; then show a damaged file refused."""
    x_train = sg.tensor([[1.0], [2.0], [3.0]])
    y_train = sg.tensor([[3.0], [5.0], [7.0]])

    def build() -> tuple:
        w = sg.tensor([1.0], requires_grad=True)
        b = sg.tensor([0.0], requires_grad=True)
        opt = sg.optim.Adam([w, b], lr=0.1)
        return w, b, opt, sg.optim.lr_scheduler.ExponentialLR(opt, gamma=0.98)

    def train(run: tuple, steps: int) -> float:
        w, b, opt, sched = run
        for _ in range(steps):
            loss = sg.sum((w * x_train + b - y_train) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        return loss.item()

    straight = build()
    train(straight, 100)
    first = build()
    train(first, 50)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "checkpoint.npz")
        w, b, opt, sched = first
        sg.save({"params": {"w": w, "b": b}, "optimizer": opt.state_dict(),
                 "scheduler": sched.state_dict(), "step": 50}, path)
        print(f"sg.save -> checkpoint.npz ({os.path.getsize(path)} bytes: .npz, no pickle)")
        resumed = build()
        ck = sg.load(path)
        resumed[0].value[...] = ck["params"]["w"].value
        resumed[1].value[...] = ck["params"]["b"].value
        resumed[2].load_state_dict(ck["optimizer"])
        resumed[3].load_state_dict(ck["scheduler"])
        print(f"sg.load: step {ck['step']}, Adam step counter "
              f"{ck['optimizer']['state'][0]['step']}, lr {resumed[3].get_last_lr()[0]:.6f}")
        train(resumed, 50)
        same = all(a.value.tobytes() == c.value.tobytes()
                   for a, c in zip(straight[:2], resumed[:2]))
        print(f"after 50 more steps: w = {resumed[0].item():.12f}, b = "
              f"{resumed[1].item():.12f}; equal to 100 straight steps bit for bit: {same}")
        with open(path, "r+b") as f:
            f.truncate(200)
        try:
            sg.load(path)
        except ValueError as e:
            print("a truncated checkpoint is refused:", str(e).split(" (")[0])


def run() -> int:
    """Print the tour; returns 0."""
    import symgrad as sg
    from symgrad import plugins
    from symgrad.train import linear_optimum

    start = time.perf_counter()

    _section("1. f = x**2 at x = 5")
    x = sg.tensor([5.0], requires_grad=True, name="x")
    f = x ** 2
    closed = sg.diff(f, x)  # before backward(), which frees the graph (as in PyTorch)
    f.backward()
    print("x.grad =", x.grad, "                 # PyTorch: tensor([10.])")
    print("closed form: df/dx =", closed, "        # sg.diff(f, x), exact (SymPy)")

    _section("2. the computational graph of z = x + y; w = z * 2")
    x, y = sg.rand(3, 4, seed=0, name="x"), sg.rand(3, 4, seed=1, name="y")
    z = x + y
    w = z * 2
    print("no grad:       ", z.grad_fn, w.grad_fn, w.requires_grad)
    x = sg.rand(3, 4, requires_grad=True, seed=0, name="x")
    z = x + y
    w = z * 2
    print("x requires grad:", type(z.grad_fn).__name__, type(w.grad_fn).__name__,
          w.requires_grad, x.grad_fn, x.is_leaf, w.is_leaf)
    print("sg.print_graph(w):")
    sg.print_graph(w)

    _section("3. f = x + 2 at x = 1")
    x = sg.tensor([1.0], requires_grad=True, name="x")
    f = x + 2
    closed = sg.diff(f, x)
    f.backward()
    print("x.grad =", x.grad, "                  # PyTorch: tensor([1.])")
    print("closed form: df/dx =", closed)

    _section("4. linear model y = w*x + b, SGD lr=0.01, 100 epochs")
    w = sg.tensor([1.0], requires_grad=True, name="w")
    b = sg.tensor([0.0], requires_grad=True, name="b")
    x_train = sg.tensor([[1.0], [2.0], [3.0]])
    y_train = sg.tensor([[3.0], [5.0], [7.0]])
    optimizer = sg.optim.SGD([w, b], lr=0.01)
    for i in range(100):
        y_pred = w * x_train + b
        loss = sg.sum((y_pred - y_train) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i in (0, 1, 9, 49, 98, 99):
            print("Epoch [{}/{}], Loss: {:.4f}".format(i + 1, 100, loss.item()))
    print("w = {}, b = {}".format(w.item(), b.item()))
    print(f"  (PyTorch, float32: w = {TORCH_W}, b = {TORCH_B})")
    opt = linear_optimum([1.0, 2.0, 3.0], [3.0, 5.0, 7.0])
    grads = opt.gradient_text()
    print(f"closed form: dL/dw = {grads['w']}, dL/db = {grads['b']}")
    print(f"optimum (solve grad = 0): w = {opt.solution['w']}, b = {opt.solution['b']}")

    _section("5. save, load and resume: 50 + 50 Adam steps with a scheduler = 100 steps")
    _resume_demo(sg)

    for name in sorted(plugins.commands()):   # Note [CLI plugins]: verify's section
        tour = getattr(plugins.load(name), "tour", None)
        if tour is not None:
            _section(f"6. {name}: {tour.__doc__.splitlines()[0].rstrip('.').lower()}")
            tour()

    print(f"\ndone in {time.perf_counter() - start:.1f} s.  Next: symgrad diff --help, "
          "symgrad graph --help, symgrad train --help, docs/getting-started.md")
    return 0
