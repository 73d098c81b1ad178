"""The module import graph: one direction between packages, no circles inside them.

Read from the source (module-level imports only; an import inside a function is
a start-up choice, e.g. SymPy on first use).  ``from pkg import submodule`` counts
as an edge to the submodule, not to the package.
"""
from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("numeric", "symgrad", "verify")
#: who may import whom (DESIGN.md): numeric <- symgrad <- verify
ALLOWED = {"numeric": {"numeric"}, "symgrad": {"numeric", "symgrad"},
           "verify": {"numeric", "symgrad", "verify"}}


def _modules() -> dict[str, pathlib.Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            mods[name] = path
    return mods


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        deps: set[str] = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                subs = {f"{node.module}.{a.name}" for a in node.names} & set(mods)
                deps |= subs
                if node.module in mods and len(subs) < len(node.names):
                    deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name in mods}
        graph[name] = deps - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    found = []
    for start in sorted(graph):
        if start in state:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            for nxt in it:
                if state.get(nxt) == 1:
                    found.append(path[path.index(nxt):] + [nxt])
                elif nxt not in state:
                    state[nxt] = 1
                    path.append(nxt)
                    stack.append((nxt, iter(sorted(graph[nxt]))))
                    break
            else:
                stack.pop()
                state[path.pop()] = 2
    return found


def test_no_import_circles():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_packages_import_one_way():
    bad = [(m, d) for m, deps in _graph().items() for d in deps
           if d.split(".")[0] not in ALLOWED[m.split(".")[0]]]
    assert bad == []


def test_methods_are_not_set_on_tensor_from_other_modules_after_import():
    # methods come from one place: numeric's declarations (symgrad/tensor_ops.py)
    offenders = []
    for path in (ROOT / "symgrad").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "setattr(Tensor" in text and path.name != "tensor_ops.py":
            offenders.append(path.name)
    assert offenders == []
