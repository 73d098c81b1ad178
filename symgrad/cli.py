"""The ``symgrad`` command line.  ``symgrad demo`` runs the seed tutorial's tour.

One function per subcommand; :func:`main` builds the parser.  Another engineer
extends it with more subcommands.

>>> main(["demo"])  # doctest: +ELLIPSIS
ex1 f = x**2 at x = 5: x.grad = tensor([10.])
...
0
"""
from __future__ import annotations

import argparse
from typing import Optional, Sequence

import symgrad as sg


def demo(args: argparse.Namespace) -> int:
    """Print the seed's four examples and their results (PyTorch's numbers)."""
    x = sg.tensor([5.0], requires_grad=True)
    f = x ** 2
    f.backward()
    print("ex1 f = x**2 at x = 5: x.grad =", x.grad)

    x, y = sg.rand(3, 4, seed=0), sg.rand(3, 4, seed=1)
    z = x + y
    w = z * 2
    print("graph (no grad):", z.grad_fn, w.grad_fn, w.requires_grad)
    x = sg.rand(3, 4, requires_grad=True, seed=0)
    z = x + y
    w = z * 2
    print("graph (x requires grad):", type(z.grad_fn).__name__, type(w.grad_fn).__name__,
          w.requires_grad, x.grad_fn, x.is_leaf, w.is_leaf)

    x = sg.tensor([1.0], requires_grad=True)
    f = x + 2
    f.backward()
    print("ex2 f = x + 2 at x = 1: x.grad =", x.grad)

    print("ex3 linear model y = w*x + b, SGD lr=0.01, 100 epochs:")
    w = sg.tensor([1.0], requires_grad=True)
    b = sg.tensor([0.0], requires_grad=True)
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
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-parser per subcommand."""
    parser = argparse.ArgumentParser(prog="symgrad", description="Differentiation you can "
                                     "trust: PyTorch-style tensors, exact SymPy derivatives.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="run the seed tutorial's examples")
    p.set_defaults(func=demo)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``symgrad`` script; returns the exit status."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
