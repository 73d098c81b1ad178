"""numeric's rule table: one declaration per op, every per-op table derived from it."""
from __future__ import annotations

import numpy as np
import pytest

from numeric import ARITY, BINARY, ELEMENTWISE, FORWARD, KINKED, REDUCE, UNARY, VARIADIC, VJP, Op
from numeric.errors import ShapeError, SymgradError
from numeric.rules import RULE, RULES, infer_shape, result_dtype
from numeric.rules.core import declare


def test_op_is_generated_from_the_declarations():
    assert [op.value for op in Op] == [r.name for r in RULES]
    assert all(r.op is Op(r.name) and Op[r.name.upper()] is r.op for r in RULES)
    assert Op("concatenate") is Op.CONCAT and Op.TRANSPOSE is Op.PERMUTE and Op("MUL") is Op.MUL
    assert repr(Op.ERF) == "Op.ERF" and Op.__module__ == "numeric.ops"
    assert hash(Op.ADD) == object.__hash__(Op.ADD)     # identity hash: the hot path's dict lookups


def test_tables_are_plain_dict_views_of_the_rules():
    assert set(RULE) == set(FORWARD) == set(VJP) == set(Op)
    assert type(FORWARD) is dict and type(VJP) is dict
    assert all(FORWARD[r.op] is r.kernel and VJP[r.op] is r.vjp for r in RULES)
    assert all(len(r.vjp) == (1 if r.arity is None else r.arity) for r in RULES)


def test_category_sets_come_from_groups():
    assert Op.ERF in UNARY and Op.ATAN2 in BINARY and {Op.ERF, Op.ATAN2} <= ELEMENTWISE
    assert Op.WHERE in ELEMENTWISE and Op.SUM in REDUCE and VARIADIC == {Op.CONCAT, Op.STACK}
    assert ARITY[Op.ATAN2] == 2 and ARITY[Op.WHERE] == 3 and ARITY[Op.CONCAT] is None
    # issue 11 adds kinked ops (floor, ...): the original ones stay, smooth ones stay out
    assert {Op.RELU, Op.ABS, Op.MAXIMUM, Op.MINIMUM, Op.CLAMP, Op.MAX, Op.MIN} <= KINKED
    assert not {Op.EXP, Op.ERF, Op.ATAN2, Op.MATMUL} & KINKED
    # --- issue 11: activations
    assert KINKED >= {Op.LEAKY_RELU, Op.ELU, Op.SELU, Op.CELU, Op.HARDTANH, Op.HARDSIGMOID,
                      Op.HARDSWISH, Op.SOFTPLUS, Op.NORMALIZE}
    assert not KINKED & {Op.SILU, Op.GELU, Op.MISH, Op.LOGSIGMOID, Op.SOFTMIN}


def test_shape_rules_take_symbolic_dims():
    assert infer_shape(Op.ATAN2, [("N", 1), (3,)], {}) == ("N", 3)
    assert infer_shape(Op.MATMUL, [("N", "d"), ("d",)], {}) == ("N",)
    assert infer_shape(Op.STACK, [("N",), ("N",)], {"axis": 1}) == ("N", 2)
    assert infer_shape(Op.PERMUTE, [("N", 2)], {"axes": (1, 0)}) == (2, "N")
    with pytest.raises(ShapeError, match="do not broadcast") as e:
        infer_shape(Op.ADD, [(2,), (3,)], {})
    assert isinstance(e.value, (SymgradError, ValueError, RuntimeError))


def test_dtype_rules_follow_pytorch():
    f32, i64, b = np.dtype("float32"), np.dtype("int64"), np.dtype("bool")
    assert result_dtype(Op.ERF, [f32], {}) == f32 and result_dtype(Op.ERF, [i64], {}) == "float64"
    assert result_dtype(Op.ATAN2, [i64, i64], {}) == "float64"
    assert result_dtype(Op.ADD, [i64, i64], {}) == i64 and result_dtype(Op.SUM, [b], {}) == b
    assert result_dtype(Op.WHERE, [b, f32, f32], {}) == f32
    assert result_dtype(Op.CAST, [f32], {"dtype": i64}) == i64


def test_the_rules_name_their_front_end():
    assert RULE[Op.ERF].sg == ("erf",) and RULE[Op.ERF].front == "generated"
    assert RULE[Op.CLAMP].sg == ("clamp", "clip") and RULE[Op.CLAMP].front == "hand"
    for r in RULES:
        assert r.doc.endswith("."), r        # one line for docs/api.md
        if r.front == "generated":
            call, result = r.example
            assert call.startswith(f"sg.{r.sg[0]}(") and result.startswith("tensor(")


def test_declare_refuses_mistakes():
    with pytest.raises(ValueError, match="declared twice"):
        declare("add", None, (), group="binary", arity=2, shape=None, dtype=None)
    with pytest.raises(ValueError, match="needs sg=, doc= and example="):
        declare("frob", None, (), group="unary", arity=1, shape=None, dtype=None,
                front="generated")
    assert "frob" not in [r.name for r in RULES]


def test_scipy_only_for_special_functions():
    import ast
    import pathlib
    root = pathlib.Path(__file__).resolve().parents[2] / "numeric"
    users = set()
    for p in root.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text("utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "scipy" for n in names):
                users.add((p.name, tuple(names)))
    assert users == {("core.py", ("scipy.special",))}
