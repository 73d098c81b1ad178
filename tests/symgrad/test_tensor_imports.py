"""No import circle between tensor.py, tensor_ops.py and tensor_numpy.py (issue 10, item 5).

tensor.py defines the class; tensor_ops.py (op functions, methods from numeric's
rules) imports it; tensor_numpy.py (numpy protocols) imports both.  One way only,
and no import inside a function to dodge a cycle.
"""
from __future__ import annotations

import ast
from pathlib import Path

SYMGRAD = Path(__file__).resolve().parents[2] / "symgrad"
ORDER = ["tensor", "tensor_ops", "tensor_numpy"]


def imported_modules(name: str) -> set[str]:
    tree = ast.parse((SYMGRAD / f"{name}.py").read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_tensor_modules_import_one_way():
    for i, name in enumerate(ORDER):
        later = {f"symgrad.{m}" for m in ORDER[i + 1:]}
        assert not imported_modules(name) & later, f"symgrad/{name}.py imports {later}"


def test_every_op_method_is_on_the_class():
    import symgrad as sg
    from numeric.rules import RULES
    missing = [m for r in RULES for m in r.methods if not hasattr(sg.Tensor, m)]
    assert not missing
