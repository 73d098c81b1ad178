"""Tests generated from the op database: every op, numeric vs exact vs FD."""
import numpy as np
import pytest

import symgrad as sg
import verify
from numeric.ops import ARITY, BINARY, Op
from verify.opdb import OP_DB
from verify.sweep import build_case, cases, check_op

CASES = cases()
IDS = [f"{op.name.lower()}-{OP_DB[op].samples[k].label}" for op, k in CASES]


def test_every_op_has_exactly_one_entry():
    assert set(OP_DB) == set(Op)


def test_arity_agrees_with_numeric():
    assert all(info.arity == ARITY[op] for op, info in OP_DB.items())


def test_samples_include_broadcasting_for_binary_ops():
    for op, info in OP_DB.items():
        if op in BINARY:        # elementwise: matmul, conv, solve, losses do not broadcast so
            shapes = [s.shapes for s in info.samples]
            assert ((), (3, 4)) in shapes and ((3, 1), (1, 4)) in shapes, op


def test_domains_exclude_singularities():
    assert not OP_DB[Op.LOG].admissible((np.array([-0.5]),), {}, 0.0)
    assert not OP_DB[Op.LOG1P].admissible((np.array([-1.0]),), {}, 0.0)
    assert not OP_DB[Op.TAN].admissible((np.array([np.pi / 2]),), {}, 0.0)
    assert not OP_DB[Op.DIV].admissible((np.array([1.0]), np.array([0.0])), {}, 0.0)
    assert not OP_DB[Op.MAXIMUM].admissible((np.array([1.0]), np.array([1.0])), {}, 1e-3)
    assert not OP_DB[Op.CLAMP].admissible((np.array([0.5]),), {"min": -0.5, "max": 0.5}, 1e-3)
    assert not OP_DB[Op.MAX].admissible((np.array([[1.0, 1.0, 0.0]]),),
                                        {"axis": (1,), "keepdims": False}, 1e-3)
    assert OP_DB[Op.MAX].admissible((np.array([[1.0, 2.0, 0.0]]),),
                                    {"axis": (1,), "keepdims": False}, 1e-3)


@pytest.mark.parametrize("op,k", CASES, ids=IDS)
def test_numeric_matches_exact_and_fd_float64(op, k):
    r = check_op(op, k, n_points=3)
    assert r.passed, str(r)
    assert r.exact_suspect == 0
    for inp in r.inputs:  # FD agrees with exact to what central differences can resolve
        assert inp.max_fd_rel_err < 1e-6, str(r)
        assert inp.max_err_over_tol <= 1.0


@pytest.mark.parametrize("op,k", CASES, ids=IDS)
def test_float32_within_float32_rounding(op, k):
    r = check_op(op, k, n_points=2, dtype=np.float32, fd=False)
    assert r.passed, str(r)


@pytest.mark.parametrize("op", sorted(OP_DB, key=lambda o: o.name), ids=lambda o: o.name)
def test_second_derivatives(op):
    """The VJP graph (create_graph) differentiated again matches SymPy's second derivative."""
    info = OP_DB[op]
    if not info.second_order:
        pytest.skip(info.xfails.get("second_order", "second derivatives not supported"))
    out, wrt = build_case(op, 0)
    # rebuild over valued leaves so that create_graph records a graph of Tensors
    rng = np.random.default_rng(0)
    from numeric.kernels import apply
    syms, ins = [], []
    for i, node in enumerate(out.inputs):
        if node.value is None:
            v = info.domain(i).sample(rng, node.shape)
            ins.append(sg.tensor(v, requires_grad=True, name=node.name))
            syms.append(ins[-1])
        else:
            ins.append(sg.tensor(node.value))
    y = apply(op, *ins, **out.attrs)
    w = rng.integers(1, 5, size=y.shape) / 4.0
    s = (y * sg.tensor(w)).sum() if y.shape else y
    g = sg.autograd.grad(s, syms, create_graph=True, allow_unused=True)[0]
    if g is None or not g.requires_grad:
        pytest.skip(f"{op.name}: first derivative is constant (no second-order graph)")
    gw = rng.integers(1, 5, size=g.shape) / 4.0
    scalar = (g * sg.tensor(gw)).sum() if g.shape else g
    from numeric.graph import toposort
    present = {id(n) for n in toposort([scalar])}
    r = verify.check(scalar, [t for t in syms if id(t) in present], n_points=2)
    assert r.passed, str(r)
