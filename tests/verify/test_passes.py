"""The sampling passes catch bugs that live off the domain box, and raise no false alarm.

Each test plants one realistic bug in numeric's tables (``VJP``, ``FORWARD``, the
executor's ``unbroadcast``) inside a context, asserts the pass meant for it flags
it while the domain pass does not, and that the same pass is clean without it.
"""
import contextlib

import numpy as np
import pytest

import numeric.executor as executor
from numeric.kernels import FORWARD
from numeric.ops import Op
from numeric.vjps import VJP
from verify import cli
from verify.opdb import OP_DB
from verify.passes import PASSES, PassResult, parse_passes, register, run_passes

N = 16  # --examples for the passes in these tests


@contextlib.contextmanager
def _patched(table, op, value):
    old = table[op]
    table[op] = value
    try:
        yield
    finally:
        table[op] = old


def _vjp(op, argnum, wrong):
    """``VJP[op][argnum]`` replaced by ``wrong(orig, g, out, *xs, **attrs)``."""
    rules = VJP[op]
    orig = rules[argnum]
    new = tuple((lambda g, out, *xs, **a: wrong(orig, g, out, *xs, **a)) if i == argnum else r
                for i, r in enumerate(rules))
    return _patched(VJP, op, new)


def _flags(pass_name, op, plant):
    with plant:
        planted = PASSES[pass_name](op, N, 0)
    clean = PASSES[pass_name](op, N, 0)
    assert clean.status == "ok", clean.failures
    assert planted.status == "FAIL", f"{pass_name} missed the bug on {op.name}"
    assert planted.failures[0].startswith(f"[{pass_name}]")
    return planted


def _domain_misses(op, plant):
    with plant:
        assert PASSES["domain"](op, 8, 0).status == "ok"


# ------------------------------------------------------------------ one bug per class

def _softplus_branch(orig, g, out, x, **attrs):
    # a "stability branch" for x < -10 that drops the 1/(1+exp(x)) factor
    return np.where(x < -10, g * np.exp(x) * 1.5, orig(g, out, x, **attrs))


def test_extremes_flags_a_branch_wrong_only_below_minus_10():
    plant = _vjp(Op.SOFTPLUS, 0, _softplus_branch)
    _flags("extremes", Op.SOFTPLUS, plant)
    _domain_misses(Op.SOFTPLUS, _vjp(Op.SOFTPLUS, 0, _softplus_branch))


def test_extremes_flags_an_overflow_near_800():
    # sigmoid's VJP through exp(-x): exp(800) overflows and 0 * inf is NaN
    def naive(orig, g, out, x):
        with np.errstate(all="ignore"):
            e = np.exp(-x)
            return g * e / (1 + e) ** 2
    _flags("extremes", Op.SIGMOID, _vjp(Op.SIGMOID, 0, naive))


def test_extremes_flags_cube_wrong_at_zero():
    # d(x**y)/dx as y * out / x: NaN at x == 0
    def via_out(orig, g, out, x, y):
        with np.errstate(all="ignore"):
            return g * y * out / x
    _flags("extremes", Op.POW, _vjp(Op.POW, 0, via_out))


def test_kinks_flags_relu_wrong_only_at_zero():
    plant = lambda: _vjp(Op.RELU, 0, lambda orig, g, out, x: g * (x >= 0))  # noqa: E731
    _flags("kinks", Op.RELU, plant())
    _domain_misses(Op.RELU, plant())


def test_kinks_flags_maximum_ties_not_split():
    plant = lambda: _vjp(Op.MAXIMUM, 0, lambda orig, g, out, x, y: g * (x >= y))  # noqa: E731
    _flags("kinks", Op.MAXIMUM, plant())
    _domain_misses(Op.MAXIMUM, plant())


def test_kinks_flags_max_reduction_ties_not_split():
    from numeric.rules.reduce import expand

    def no_split(orig, g, out, x, axis=None, keepdims=False):  # each tie gets all of g
        return (x == expand(out, x, axis, keepdims)) * expand(g, x, axis, keepdims)
    plant = lambda: _vjp(Op.MAX, 0, no_split)  # noqa: E731
    _flags("kinks", Op.MAX, plant())
    _domain_misses(Op.MAX, plant())


def test_kinks_flags_clamp_blocking_at_its_bounds():
    def exclusive(orig, g, out, x, min=None, max=None):  # noqa: A002
        inside = np.ones(np.shape(x), bool)
        if min is not None:
            inside &= x > min
        if max is not None:
            inside &= x < max
        return g * inside
    _flags("kinks", Op.CLAMP, _vjp(Op.CLAMP, 0, exclusive))


def _big_only(orig, g, out, *xs, **a):
    c = orig(g, out, *xs, **a)
    return c * 1.001 if xs[0].size > 4096 else c


@pytest.mark.parametrize("op", [Op.SUM, Op.MUL, Op.EXP])
def test_sizes_flags_a_vjp_wrong_only_above_4096_elements(op):
    plant = lambda: _vjp(op, 0, _big_only)  # noqa: E731
    _flags("sizes", op, plant())
    _domain_misses(op, plant())


def test_sizes_flags_batched_times_batched_matmul():
    def batched(orig, g, out, a, b):
        c = orig(g, out, a, b)
        return c * 1.001 if np.ndim(a) > 2 and np.ndim(b) > 2 else c
    plant = lambda: _vjp(Op.MATMUL, 0, batched)  # noqa: E731
    _flags("sizes", Op.MATMUL, plant())
    _domain_misses(Op.MATMUL, plant())


def test_float32_flags_a_float64_forward():
    kernel = FORWARD[Op.EXP]
    r = _flags("float32", Op.EXP, _patched(FORWARD, Op.EXP,
                                           lambda x: kernel(np.asarray(x, np.float64))))
    assert "float64" in r.failures[0]


def test_float32_flags_a_gradient_returned_as_float64():
    def keep_dtype(g, shape, dtype):  # the executor's cast to the input dtype forgotten
        return real(g, shape, g.dtype)
    real = executor.unbroadcast

    @contextlib.contextmanager
    def plant():
        with _vjp(Op.TANH, 0, lambda orig, g, out, x: np.asarray(orig(g, out, x), np.float64)):
            executor.unbroadcast = keep_dtype
            try:
                yield
            finally:
                executor.unbroadcast = real
    r = _flags("float32", Op.TANH, plant())
    assert ".grad is float64" in r.failures[0]


def test_forward_flags_a_kernel_wrong_only_beyond_5():
    kernel = FORWARD[Op.ERF]
    wrong = lambda x: np.where(np.abs(x) > 5, np.sign(x) * 0.9999, kernel(x))  # noqa: E731
    _flags("forward", Op.ERF, _patched(FORWARD, Op.ERF, wrong))
    with _patched(FORWARD, Op.ERF, wrong):
        assert PASSES["domain"](Op.ERF, 8, 0).status == "ok"


def test_forward_flags_a_truncation_lowered_as_floor():
    import sympy

    from symgrad import lower_sympy

    real = lower_sympy.SCALAR_FORMS[Op.CAST]

    def cast(x, dtype=None):  # numpy truncates toward zero; this lowering floors
        return sympy.floor(x) if np.dtype(dtype).kind in "iu" else real(x, dtype)
    floor = lower_sympy._elementwise(cast)
    r = _flags("forward", Op.CAST, _patched(lower_sympy.TO_SYMPY, Op.CAST, floor))
    assert "cast to int64" in r.failures[0]


# ------------------------------------------------------------------ no false alarm

@pytest.mark.parametrize("name", [p for p in PASSES if p != "domain"])
def test_every_pass_passes_on_every_real_op(name):
    bad = {}
    for op in OP_DB:
        r = PASSES[name](op, 8, 1)
        if r.status == "FAIL":
            bad[op.name] = r.failures[0]
    assert not bad, bad


def test_passes_apply_where_they_should():
    ran = {op: {r.name: r.status for r in run_passes(op, ["kinks", "sizes"], 4, 0)}
           for op in (Op.RELU, Op.EXP, Op.MATMUL)}
    assert ran[Op.RELU]["kinks"] == "ok" and ran[Op.EXP]["kinks"] == "-"
    assert ran[Op.MATMUL]["sizes"] == "ok"


# ------------------------------------------------------------------ registry and CLI

def test_registry_takes_a_new_pass_in_one_line(capsys):
    calls = []

    def paths(op, n, seed):
        calls.append(op)
        r = PassResult("paths", tried=1, used=1)
        if op is Op.NEG:
            r.fail("neg", "planted")
        return r
    register("paths", paths)
    try:
        # one process, so the calls are recorded here (forked workers run it too)
        code = cli.main(["--ops", "exp,neg", "--examples", "2", "--no-dags",
                         "--passes", "paths", "--jobs", "1"])
    finally:
        del PASSES["paths"]
    out = capsys.readouterr().out
    assert code == 1 and calls == [Op.EXP, Op.NEG]
    assert "FAIL: [paths] neg: planted" in out
    assert "paths!" in out


def test_cli_names_the_pass_that_failed(capsys):
    plant = _vjp(Op.RELU, 0, lambda orig, g, out, x: g * (x >= 0))
    with plant:
        code = cli.main(["--ops", "relu", "--examples", "4", "--no-dags"])
    out = capsys.readouterr().out
    assert code == 1
    assert "domain,extremes,kinks!,sizes,f32,fwd" in out
    assert "FAIL: [kinks] relu" in out


def test_cli_passes_option():
    assert parse_passes(None) == list(PASSES)
    assert parse_passes("f32,domain") == ["domain", "float32"]
    with pytest.raises(ValueError, match="unknown pass 'nope'"):
        parse_passes("nope")
    assert cli.main(["--ops", "exp", "--examples", "2", "--no-dags", "--passes", "nope"]) == 2
