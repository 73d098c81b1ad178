"""Pictures of the computational graph: ``sg.to_dot`` (Graphviz) and ``sg.print_graph``.

Both walk the IR (:class:`numeric.node.Node`) once with
:func:`numeric.graph.toposort` (iterative: a chain of 100 000 ops is fine), so
they draw a graph before and after ``backward()`` and for compiled outputs alike.
Whether a node records gradients is the handles' business: it is read from the
Tensor handles still linked to the output (``backward()`` unlinks them, after
which the picture shows the plain ops); inside a compiled call's output, a node
records them when one of its inputs does, so the picture equals the eager one.  Nodes are named the way PyTorch users
know them:

* an op node that requires grad is its ``grad_fn`` class: ``MulBackward``,
  ``AddBackward``, ... (without PyTorch's trailing version digit);
* an op node computed without grad (no ``grad_fn``) is its op: ``mul``, ``add``;
* a leaf that requires grad is reached through ``AccumulateGrad`` (where
  ``backward()`` deposits ``.grad``), and is shown with its name, shape and
  ``requires_grad=True``;
* other leaves are data (name and shape) or constants (the Python number).

Edges follow the data, input -> consumer, as in torchviz.  The output node is
drawn in green, leaves that require grad in blue, like torchviz's pictures.

Note [Text tree depth]
    ``print_graph`` indents one level per edge.  Indenting a 10 000-deep chain
    would print a quadratic amount of spaces, so indentation stops growing after
    ``max_indent`` levels; deeper lines carry their depth in the guide
    (``┊ 57 └── ...``) instead.
"""
from __future__ import annotations

from typing import Any, Iterable

from numeric.graph import toposort
from numeric.node import Node, as_node, many
from symgrad.autograd import backward_name
from symgrad.naming import leaf_name
from symgrad.tensor import Tensor

__all__ = ["to_dot", "print_graph", "graph_text", "node_label"]


def _shape(node: Any) -> str:
    shape = tuple(node.shape)
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class _View:
    """The nodes under some outputs, with what their handles say about gradients."""

    def __init__(self, tensors: Any) -> None:
        items = list(tensors) if many(tensors) else [tensors]
        for t in items:
            if not isinstance(t, (Tensor, Node)):
                raise TypeError(f"expected a symgrad Tensor (a graph node), got "
                                f"{type(t).__name__}; build one with sg.tensor(...) or "
                                "sg.parse('x**2')")
        self.roots = [as_node(t) for t in items]
        self.order = toposort(self.roots)
        # Which nodes record gradients is the handles' business: read it from the
        # handles still linked to an output; a node without one (inside a compiled
        # call's output) records them when one of its inputs does.
        handles = {}
        for h in toposort([t for t in items if isinstance(t, Tensor)]):
            if h.op is h.node.op:               # a compiled output's op is its Program
                handles[id(h.node)] = h
        self.grad: set[int] = set()
        for node in self.order:
            h = handles.get(id(node))
            if h is not None:
                if h.requires_grad:
                    self.grad.add(id(node))
            elif node.op is not None and node.dtype.kind == "f" and \
                    any(id(i) in self.grad for i in node.inputs):
                self.grad.add(id(node))

    def kind(self, node: Any) -> str:
        """'op', 'param' (leaf requiring grad), 'const' (Python number) or 'data'."""
        if node.op is not None:
            return "op"
        if id(node) in self.grad:
            return "param"
        return "const" if node.role == "constant" and node.literal is not None else "data"

    def op_name(self, node: Any) -> str:
        """``MulBackward`` if the node records gradients, else the op's name (``mul``)."""
        op = node.op
        if id(node) in self.grad:
            return backward_name(op)
        name = getattr(op, "value", None)
        if not isinstance(name, str):
            name = getattr(op, "name", None)
            name = name() if callable(name) else name
        return str(name if name is not None else op)

    def label(self, node: Any) -> str:
        """One-line description of a node (see :func:`node_label`)."""
        kind = self.kind(node)
        if kind == "op":
            return f"{self.op_name(node)} {_shape(node)}"
        if kind == "const":
            return f"constant {node.literal!r}"
        label = f"{leaf_name(node)} {_shape(node)}"
        return label + (" requires_grad=True" if kind == "param" else "")


def node_label(node: Any) -> str:
    """One-line description of a node, as used by :func:`print_graph`.

    >>> import symgrad as sg
    >>> x = sg.tensor([1.0, 2.0], requires_grad=True, name="x")
    >>> node_label(x), node_label(x * 2), node_label((x * 2).node.inputs[1])
    ('x (2,) requires_grad=True', 'MulBackward (2,)', 'constant 2')
    """
    return _View(node).label(as_node(node))


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_STYLE = {
    "op": 'shape=box, style="rounded,filled", fillcolor="lightgrey"',
    "param": 'shape=box, style=filled, fillcolor="lightblue"',
    "data": 'shape=box, style=filled, fillcolor="white"',
    "const": 'shape=ellipse, style=filled, fillcolor="white"',
    "accumulate": 'shape=box, style="rounded,filled", fillcolor="lightgrey"',
}


def to_dot(tensors: Any, *, name: str = "symgrad") -> str:
    """The computational graph under ``tensors`` (one or a list) as Graphviz DOT text.

    Op nodes show their ``grad_fn`` name (or op) and shape; leaves their name,
    shape and ``requires_grad``; a leaf that requires grad feeds its consumers
    through an ``AccumulateGrad`` node, as in PyTorch's autograd graph.  Render
    with ``dot -Tsvg graph.dot -o graph.svg`` or ``symgrad graph EXPR -o g.svg``.

    >>> import symgrad as sg
    >>> x = sg.tensor([5.0], requires_grad=True, name="x")
    >>> print(sg.to_dot(x ** 2))
    digraph symgrad {
      rankdir=BT;
      node [fontname="Helvetica", fontsize=11];
      n0 [label="x\\n(1,)\\nrequires_grad=True", shape=box, style=filled, fillcolor="lightblue"];
      n0_acc [label="AccumulateGrad", shape=box, style="rounded,filled", fillcolor="lightgrey"];
      n0 -> n0_acc;
      n1 [label="2", shape=ellipse, style=filled, fillcolor="white"];
      n2 [label="PowBackward\\n(1,)", shape=box, style="rounded,filled", fillcolor="darkolivegreen1"];
      n0_acc -> n2;
      n1 -> n2;
    }
    """
    view = _View(tensors)
    outputs = {id(r) for r in view.roots}
    lines = [f"digraph {_dot_quote(name) if not name.isidentifier() else name} {{",
             "  rankdir=BT;", '  node [fontname="Helvetica", fontsize=11];']
    ids: dict[int, str] = {}
    fresh = iter(range(1 << 62))

    def emit(node: Any) -> str:
        nid = f"n{next(fresh)}"
        kind = view.kind(node)
        if kind == "op":
            label = f"{view.op_name(node)}\n{_shape(node)}"
        elif kind == "const":
            label = repr(node.literal)
        else:
            label = f"{leaf_name(node)}\n{_shape(node)}"
            label += "\nrequires_grad=True" if kind == "param" else ""
        style = _STYLE[kind]
        if id(node) in outputs:
            style = style.rsplit("fillcolor=", 1)[0] + 'fillcolor="darkolivegreen1"'
        lines.append(f"  {nid} [label={_dot_quote(label)}, {style}];")
        if kind == "param":
            lines.append(f'  {nid}_acc [label="AccumulateGrad", {_STYLE["accumulate"]}];')
            lines.append(f"  {nid} -> {nid}_acc;")
        return nid

    for node in view.order:
        if view.kind(node) == "const" and id(node) not in outputs:
            continue            # Note [Shared literals]: a number is drawn at each use
        srcs = []
        for inp in node.inputs:
            kind = view.kind(inp)
            src = emit(inp) if kind == "const" and id(inp) not in outputs else ids[id(inp)]
            srcs.append(src + ("_acc" if kind == "param" else ""))
        nid = ids[id(node)] = emit(node)
        lines.extend(f"  {src} -> {nid};" for src in srcs)
    lines.append("}")
    return "\n".join(lines)


def graph_text(tensors: Any, *, max_indent: int = 16) -> str:
    """The text tree printed by :func:`print_graph`, as a string."""
    view = _View(tensors)
    roots, order = view.roots, view.order
    uses: dict[int, int] = {}
    for node in order:
        for inp in node.inputs:
            if view.kind(inp) != "const":       # a number is shown at each use
                uses[id(inp)] = uses.get(id(inp), 0) + 1
    refs: dict[int, int] = {}      # id -> [k] reference number of shared nodes shown already
    lines: list[str] = []
    # explicit stack of (node, guide prefix, connector, depth); children pushed reversed
    stack: list[tuple[Any, str, str, int]] = [(r, "", "", 0) for r in reversed(roots)]
    while stack:
        node, prefix, connector, depth = stack.pop()
        head = prefix + connector
        if id(node) in refs:
            lines.append(f"{head}{view.label(node)} [{refs[id(node)]}] (shown above)")
            continue
        label = view.label(node)
        if uses.get(id(node), 0) > 1:
            refs[id(node)] = len(refs) + 1
            label += f" [{refs[id(node)]}]"
        lines.append(head + label)
        inputs = node.inputs
        if not inputs:
            continue
        if depth < max_indent:
            child_prefix = prefix + ("" if not connector else
                                     ("    " if connector.startswith("└") else "│   "))
        else:
            child_prefix = prefix.split("┊")[0] + f"┊ {depth + 1} "
        for k in range(len(inputs) - 1, -1, -1):
            last = k == len(inputs) - 1
            stack.append((inputs[k], child_prefix, "└── " if last else "├── ", depth + 1))
    return "\n".join(lines)


def print_graph(tensors: Any, *, max_indent: int = 16, file: Any = None) -> None:
    """Print the graph under ``tensors`` as a tree, output at the top, inputs below.

    A node used more than once gets a number ``[k]`` the first time it is shown
    and is referenced as ``[k] (shown above)`` afterwards.

    >>> import symgrad as sg
    >>> x = sg.tensor([1.0, 2.0], requires_grad=True, name="x")
    >>> y = sg.tensor([3.0, 4.0], name="y")
    >>> z = x + y
    >>> sg.print_graph(z * z)
    MulBackward (2,)
    ├── AddBackward (2,) [1]
    │   ├── x (2,) requires_grad=True
    │   └── y (2,)
    └── AddBackward (2,) [1] (shown above)
    """
    print(graph_text(tensors, max_indent=max_indent), file=file)


def leaves(tensors: Iterable[Any]) -> list:
    """The leaves under ``tensors`` in topological order (helper for the CLI)."""
    return [n for n in _View(tensors).order if n.op is None]
