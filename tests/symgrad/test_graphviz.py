"""sg.to_dot and sg.print_graph: labels, edges, sharing, deep graphs, valid DOT."""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys

import pytest

import symgrad as sg
from symgrad.graphviz import graph_text, node_label

NODE = re.compile(r'^  (\w+) \[label="((?:[^"\\]|\\.)*)"', re.M)
EDGE = re.compile(r"^  (\w+) -> (\w+);$", re.M)


def parse_dot(text: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """{node id: label} and [(src, dst)] of to_dot's output."""
    return dict(NODE.findall(text)), EDGE.findall(text)


def seed_graph(requires_grad: bool):
    x = sg.rand(3, 4, requires_grad=requires_grad, seed=0, name="x")
    y = sg.rand(3, 4, seed=1, name="y")
    z = x + y
    return z * 2


def test_dot_of_the_seed_graph_follows_the_grad_fn_chain():
    nodes, edges = parse_dot(sg.to_dot(seed_graph(True)))
    by_label = {label.split("\\n")[0]: nid for nid, label in nodes.items()}
    assert set(by_label) == {"x", "AccumulateGrad", "y", "AddBackward", "2", "MulBackward"}
    assert nodes[by_label["x"]] == "x\\n(3, 4)\\nrequires_grad=True"
    assert nodes[by_label["y"]] == "y\\n(3, 4)"
    assert nodes[by_label["MulBackward"]] == "MulBackward\\n(3, 4)"
    expected = {("x", "AccumulateGrad"), ("AccumulateGrad", "AddBackward"),
                ("y", "AddBackward"), ("AddBackward", "MulBackward"), ("2", "MulBackward")}
    name = {nid: label.split("\\n")[0] for nid, label in nodes.items()}
    assert {(name[a], name[b]) for a, b in edges} == expected
    assert len(edges) == len(expected)


def test_dot_without_grad_names_the_ops():
    nodes, _ = parse_dot(sg.to_dot(seed_graph(False)))
    labels = {label.split("\\n")[0] for label in nodes.values()}
    assert labels == {"x", "y", "add", "mul", "2"}
    assert "AccumulateGrad" not in sg.to_dot(seed_graph(False))


def test_dot_marks_the_output_and_parameters():
    text = sg.to_dot(seed_graph(True))
    out_line = [ln for ln in text.splitlines() if "MulBackward" in ln][0]
    assert 'fillcolor="darkolivegreen1"' in out_line
    x_line = [ln for ln in text.splitlines() if 'label="x' in ln][0]
    assert 'fillcolor="lightblue"' in x_line


def test_dot_every_edge_endpoint_is_declared_and_shared_nodes_appear_once():
    x = sg.tensor([1.0, 2.0], requires_grad=True, name="x")
    s = sg.sin(x)
    f = (s * s + s).sum()
    nodes, edges = parse_dot(sg.to_dot(f))
    assert all(a in nodes and b in nodes for a, b in edges)
    assert sum(1 for label in nodes.values() if label.startswith("SinBackward")) == 1
    sin_id = [n for n, label in nodes.items() if label.startswith("SinBackward")][0]
    assert sum(1 for a, _ in edges if a == sin_id) == 3  # used three times


def test_dot_escapes_names_and_accepts_several_outputs():
    a = sg.tensor([1.0], requires_grad=True, name='we"ird\\name')
    text = sg.to_dot([a * 2, a + 1], name="two outputs")
    assert text.startswith('digraph "two outputs" {')
    assert 'label="we\\"ird\\\\name\\n(1,)\\nrequires_grad=True"' in text
    assert text.count('fillcolor="darkolivegreen1"') == 2


def test_dot_of_a_symbolic_parse_result():
    nodes, edges = parse_dot(sg.to_dot(sg.parse("x**2*sin(y)")))
    labels = sorted(label.split("\\n")[0] for label in nodes.values())
    assert labels == sorted(["x", "AccumulateGrad", "2", "PowBackward", "y", "AccumulateGrad",
                             "SinBackward", "MulBackward"])
    assert len(edges) == 7


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not on PATH")
def test_dot_is_accepted_by_graphviz():
    x = sg.tensor([[1.0, 2.0]], requires_grad=True, name="x")
    w = sg.tensor([[0.5], [0.25]], name="w")
    f = sg.relu(x @ w).sum()
    proc = subprocess.run(["dot", "-Tplain"], input=sg.to_dot(f), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\nnode ") == 6  # x, AccumulateGrad, w, matmul, relu, sum


def test_print_graph_shows_shared_nodes_once():
    x = sg.tensor([1.0, 2.0], requires_grad=True, name="x")
    y = sg.tensor([3.0, 4.0], name="y")
    z = x + y
    buf = io.StringIO()
    sg.print_graph(z * z + z, file=buf)
    assert buf.getvalue().splitlines() == [
        "AddBackward (2,)",
        "├── MulBackward (2,)",
        "│   ├── AddBackward (2,) [1]",
        "│   │   ├── x (2,) requires_grad=True",
        "│   │   └── y (2,)",
        "│   └── AddBackward (2,) [1] (shown above)",
        "└── AddBackward (2,) [1] (shown above)",
    ]


def test_node_labels():
    x = sg.tensor([1.0], requires_grad=True, name="x")
    c = sg.tensor([[1.0, 2.0]], name="c")
    assert node_label(x) == "x (1,) requires_grad=True"
    assert node_label(c) == "c (1, 2)"
    assert node_label(x * c) == "MulBackward (1, 2)"
    assert node_label((x * 2.5).inputs[1]) == "constant 2.5"
    with sg.no_grad():
        assert node_label(x * c) == "mul (1, 2)"
    assert node_label(sg.symbol("X", shape=("N", 3))) == "X (N, 3) requires_grad=True"


def test_graphs_are_drawn_after_backward():
    x = sg.tensor([2.0], requires_grad=True, name="x")
    f = (x * x).sum()
    f.backward()
    assert graph_text(f).splitlines()[0] == "SumBackward ()"
    assert "SumBackward" in sg.to_dot(f)


def test_a_10000_deep_chain_needs_no_recursion():
    x = sg.tensor([1.0], requires_grad=True, name="x")
    t = x
    for _ in range(10_000):
        t = t * 1.0001
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # a recursive walk would fail at once
    try:
        dot = sg.to_dot(t)
        text = graph_text(t)
    finally:
        sys.setrecursionlimit(limit)
    nodes, edges = parse_dot(dot)
    assert len(nodes) == 1 + 1 + 2 * 10_000  # x, AccumulateGrad, a constant and a mul per step
    assert len(edges) == 1 + 2 * 10_000
    lines = text.splitlines()
    assert len(lines) == 1 + 2 * 10_000
    assert lines[-1] == "└── constant 1.0001"
    # indentation stops growing after max_indent levels; depth is printed instead
    assert max(len(ln) for ln in lines) < 120
    assert any("┊ 5000 " in ln for ln in lines)


def test_non_tensors_are_refused():
    with pytest.raises(TypeError, match="expected a symgrad Tensor"):
        sg.to_dot(3.0)
    with pytest.raises(TypeError, match="expected a symgrad Tensor"):
        sg.print_graph([sg.tensor(1.0), "x"])
