"""The verifier tests itself: every wrong VJP is flagged, every right one passes."""
import numpy as np
import pytest
import sympy

import symgrad as sg
import verify
from numeric.ops import Op, VARIADIC
from numeric.vjps import VJP
from verify.mutate import KINDS, parse_injection, perturbed
from verify.opdb import OP_DB
from verify.sweep import check_op


def _first_broadcast_free_sample(op):
    return 0  # sample 0 of every op has no size-1 broadcasting that could hide a term


# a zero gradient (rounding ops) is unchanged by scaling, negating or dropping it: those
# ops get the mutant that can be wrong for them (test_a_nonzero_gradient_is_flagged)
MUTANTS = [(op, kind, argnum) for op in sorted(OP_DB, key=lambda o: o.name) for kind in KINDS
           for argnum in OP_DB[op].grad_inputs(OP_DB[op].arity or 2)[:2]
           if (op in VARIADIC or VJP[op][argnum] is not None) and not OP_DB[op].zero_grad]
ZERO_GRAD = sorted((op for op, info in OP_DB.items() if info.zero_grad), key=lambda o: o.name)


@pytest.mark.parametrize("op,kind,argnum", MUTANTS,
                         ids=[f"{o.name}-{k}-{a}" for o, k, a in MUTANTS])
def test_every_perturbed_vjp_is_flagged(op, kind, argnum):
    with perturbed(op, kind, argnum):
        r = check_op(op, _first_broadcast_free_sample(op), n_points=2, fd=False)
    assert not r.passed, f"{op.name} {kind} on input {argnum} was not flagged:\n{r}"
    assert sum(i.mismatches for i in r.inputs) > 0


@pytest.mark.parametrize("op", ZERO_GRAD, ids=lambda o: o.name)
def test_a_nonzero_gradient_is_flagged(op, monkeypatch):
    """An op whose gradient is zero (floor, round...) with an identity VJP instead."""
    monkeypatch.setitem(VJP, op, (lambda g, out, x, **attrs: g,) + VJP[op][1:])
    r = check_op(op, 0, n_points=2, fd=False)
    assert not r.passed and sum(i.mismatches for i in r.inputs) > 0, str(r)


def test_perturbation_is_undone():
    before = VJP[Op.EXP]
    with perturbed(Op.EXP, "sign"):
        assert VJP[Op.EXP] is not before
    assert VJP[Op.EXP] is before
    assert check_op(Op.EXP, 0, n_points=2).passed


def test_parse_injection_rejects_bad_specs():
    with pytest.raises(ValueError, match="unknown op"):
        parse_injection("frobnicate:scale")
    with pytest.raises(ValueError, match="kind must be one of"):
        parse_injection("exp:double")
    assert parse_injection("EXP:drop") == (Op.EXP, "drop", 0)


# ------------------------------------------------------------------ custom ops (issue item 3)

def _tanh(vjp):
    return sg.custom_op("mytanh", np.tanh, vjp, sympy.tanh)


def test_custom_tanh_with_wrong_vjp_fails_check():
    bad = _tanh(lambda g, out, x: g * (1 - out))
    r = verify.check(lambda x: bad(x), [(4,)], n_points=5)
    assert not r.passed
    assert r.inputs[0].mismatches > 0
    with pytest.raises(verify.GradientMismatchError) as info:
        r.raise_if_failed()
    assert isinstance(info.value, AssertionError) and info.value.report is r


def test_custom_tanh_with_right_vjp_passes_check():
    good = _tanh(lambda g, out, x: g * (1 - out ** 2))
    r = verify.check(lambda x: good(x), [(4,)], n_points=10)
    assert r.passed, str(r)
    assert r.inputs[0].max_err_over_tol < 1.0
    assert r.raise_if_failed() is r


def test_factor_1_0001_fails_check_but_passes_finite_difference_gradcheck():
    off = _tanh(lambda g, out, x: g * (1 - out ** 2) * 1.0001)
    x = np.array([0.3, -0.7, 1.1])
    assert verify.gradcheck(lambda t: off(t), (x,), exact=False) is True
    assert not verify.check(lambda t: off(t), [(3,)], n_points=3).passed
    with pytest.raises(verify.GradientMismatchError,
                       match="Jacobian mismatch for output 0 with respect to input 0"):
        verify.gradcheck(lambda t: off(t), (x,))
    assert verify.gradcheck(lambda t: off(t), (x,), raise_exception=False) is False


def test_custom_op_validates_arguments():
    with pytest.raises(ValueError, match="identifier"):
        sg.custom_op("not a name", np.tanh, lambda g, out, x: g)
    with pytest.raises(TypeError, match="vjp must be"):
        sg.custom_op("f", np.tanh, 3)
    with pytest.raises(TypeError, match="takes 1 input"):
        _tanh(lambda g, out, x: g)(np.ones(2), np.ones(2))


def test_custom_op_lowers_through_its_sympy_form():
    good = _tanh(lambda g, out, x: g * (1 - out ** 2))
    x = sg.symbol("x")
    assert sg.to_sympy(good(x)) == sympy.tanh(sympy.Symbol("x"))
