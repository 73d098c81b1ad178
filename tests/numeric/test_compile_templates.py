"""The inline templates of compiled programs agree with the rule table (FORWARD, VJP).

numeric/compile/templates.py is the one place that writes derivative source beside
numeric/vjps.py.  Every template there is evaluated here on random inputs (broadcast
shapes, float32 and float64) and compared numerically with ``FORWARD``/``VJP``, so a
template that drifts from the rule table fails this test.  (At build time a program
also checks each array template on its trace and falls back to the table when they
differ; the scalar and lazy forms are checked only here and by the build's probe.)
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from numeric.compile.templates import (
    INLINE, MATH, MATMUL_2D, MATMUL_2D_THROUGH_T, SMALL, fill, forward_template,
    lazy_template, vjp_template,
)
from numeric.kernels import FORWARD
from numeric.ops import ARITY, Op
from numeric.vjps import VJP, unbroadcast

DTYPES = (np.float32, np.float64)
# input shapes per arity: equal shapes, broadcasting, 0-d
SHAPES = {1: [((3, 4),), ((),)], 2: [((2, 3), (2, 3)), ((3, 1), (4,)), ((), (3,))]}
POSITIVE = {Op.LOG, Op.SQRT, Op.POW}           # domains: x > 0 (pow with a real exponent)


def _inputs(op, shapes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    xs = []
    for k, shape in enumerate(shapes):
        lo = 0.5 if op in POSITIVE or (op is Op.DIV and k == 1) else -2.0
        v = rng.uniform(lo, 2.0, size=shape)
        if op is Op.RELU:
            v = np.where(np.abs(v) < 0.1, 0.5, v)      # away from the kink
        xs.append(np.asarray(v, dtype=dtype))
    return xs


def _cotangent(out, seed=1):
    return np.asarray(np.random.default_rng(seed).uniform(0.5, 1.5, size=np.shape(out)),
                      dtype=np.asarray(out).dtype)


def _run(template, xs, g=None, out=None):
    src = fill(template, [f"_v[{i}]" for i in range(len(xs))], "_g", "_o", np.shape(xs[0]))
    with np.errstate(all="ignore"):
        return eval(src, {"np": np, "_v": xs, "_g": g, "_o": out})  # noqa: S307


def _close(got, ref, dtype, what):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape, f"{what}: shape {got.shape}, rule table {ref.shape}"
    assert got.dtype == ref.dtype, f"{what}: dtype {got.dtype}, rule table {ref.dtype}"
    tol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-12
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol, err_msg=what)


def _cases(ops):
    return [(op, shapes, dtype) for op in ops for shapes in SHAPES[ARITY[op]]
            for dtype in DTYPES]


def _vjp_ref(op, i, g, out, xs, **attrs):
    ref = VJP[op][i](g, out, *xs, **attrs)
    return unbroadcast(ref, xs[i].shape, xs[i].dtype)


def test_template_ops_are_in_the_rule_table():
    for op, entry in INLINE.items():
        assert op in FORWARD and op in VJP, op
        for field in ("vjp", "lazy", "scalar_vjp"):
            forms = getattr(entry, field)
            assert forms is None or len(forms) <= ARITY[op], (op, field)


ELEMENTWISE = [op for op, e in INLINE.items() if e.forward is not None and op is not Op.MATMUL]


@pytest.mark.parametrize("op,shapes,dtype", _cases(ELEMENTWISE))
def test_forward_templates(op, shapes, dtype):
    xs = _inputs(op, shapes, dtype)
    expr, ufunc = forward_template(op, {}, xs[0].shape, None)
    _close(_run(expr, xs), FORWARD[op](*xs), dtype, f"{op.name} forward {expr!r}")
    if ufunc is not None:
        with np.errstate(all="ignore"):
            got = eval(f"{ufunc}(*_v)", {"np": np, "_v": xs})  # noqa: S307
        _close(got, FORWARD[op](*xs), dtype, f"{op.name} ufunc {ufunc}")


@pytest.mark.parametrize("op,shapes,dtype", _cases(
    [op for op, e in INLINE.items() if e.vjp is not None and op not in (Op.SUM, Op.MEAN)]))
def test_vjp_templates(op, shapes, dtype):
    xs = _inputs(op, shapes, dtype)
    out = FORWARD[op](*xs)
    g = _cotangent(out)
    for i, form in enumerate(INLINE[op].vjp):
        if form is None:
            continue
        got = unbroadcast(_run(form[0], xs, g, out), xs[i].shape, xs[i].dtype)
        _close(got, _vjp_ref(op, i, g, out, xs), dtype, f"{op.name} VJP {i} {form[0]!r}")


@pytest.mark.parametrize("op", [Op.SUM, Op.MEAN])
@pytest.mark.parametrize("shape", [(3, 4), (), (300, 300)])       # the last > SMALL
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("attrs", [{"axis": None, "keepdims": False},
                                   {"axis": (1,), "keepdims": True}, {"axis": (0, 1)}])
def test_reduction_templates(op, shape, dtype, attrs):
    if attrs["axis"] is not None and len(shape) < 2:
        pytest.skip("axis needs a 2-D input")
    (x,) = _inputs(op, (shape,), dtype)
    expr, _ = forward_template(op, attrs, x.shape, None)
    out = FORWARD[op](x, **attrs)
    _close(_run(expr, [x]), out, dtype, f"{op.name} forward {expr!r}")
    g = _cotangent(out)
    ref = _vjp_ref(op, 0, g, out, [x], **attrs)
    chosen = vjp_template(op, 0, attrs, [x.shape])
    forms = [chosen] + ([INLINE[op].vjp[0]] if attrs["axis"] is None else [])
    assert (chosen is None) == (attrs["axis"] is not None or bool(attrs.get("keepdims")))
    assert chosen is None or ("np.full" in chosen[0]) == (math.prod(shape) <= SMALL)
    for form in forms:
        if form is not None:
            _close(_run(form[0], [x], g, out), ref, dtype, f"{op.name} VJP {form[0]!r}")


@pytest.mark.parametrize("c", [2.0, 3.0, 0.5, -1.0, 1.0])
@pytest.mark.parametrize("dtype", DTYPES)
def test_constant_exponent_templates(c, dtype):
    (x,) = _inputs(Op.POW, ((3, 4),), dtype)
    y = np.asarray(c, dtype=dtype)                 # a traced constant keeps the dtype
    out = FORWARD[Op.POW](x, y)
    expr, _ = forward_template(Op.POW, {}, x.shape, c)
    _close(_run(expr, [x]), out, dtype, f"pow forward {expr!r}")
    g = _cotangent(out)
    ref = _vjp_ref(Op.POW, 0, g, out, [x, y])
    form = vjp_template(Op.POW, 0, {}, [x.shape, ()], c, True)
    _close(_run(form[0], [x, y], g, out), ref, dtype, f"pow VJP {form[0]!r}")
    _check_lazy(Op.POW, 0, [x, y], g, out, ref, c, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_2d_templates(dtype):
    x, w = _inputs(Op.MATMUL, ((3, 4), (5, 4)), dtype)
    p = np.ascontiguousarray(w.T)                  # P = W.T read by the matmul
    out = FORWARD[Op.MATMUL](x, p)
    g = _cotangent(out)
    for i in range(2):
        form = vjp_template(Op.MATMUL, i, {}, [x.shape, p.shape])
        assert form == MATMUL_2D[i]
        ref = _vjp_ref(Op.MATMUL, i, g, out, [x, p])
        _close(_run(form[0], [x, p], g, out), ref, dtype, f"matmul VJP {i}")
        # through the transpose: the gradient of W (or of the W whose .T is x)
        got = _run(MATMUL_2D_THROUGH_T[i], [x, p], g, out)
        _close(got, ref.T, dtype, f"matmul VJP {i} through .T")
    assert vjp_template(Op.MATMUL, 0, {}, [(2, 3, 4), (4, 5)]) is None


def _check_lazy(op, i, xs, g, out, ref, y_const, dtype, attrs=None):
    plan = lazy_template(op, i, math.prod(np.shape(xs[0])), math.prod(np.shape(out)), y_const)
    if plan is None:
        return
    kind, form, factor = plan
    what = f"{op.name} lazy {i} {plan!r}"
    if kind == "id":
        got = g * np.asarray(factor, dtype)
    elif kind == "mul":
        got = g * _run(form, xs, None, out) * np.asarray(factor, dtype)
    else:                                          # "sum": uniform in, uniform out
        got = np.full(np.shape(xs[0]), factor, dtype)
        g = np.ones(np.shape(out), dtype)
        ref = _vjp_ref(op, i, g, out, xs, **(attrs or {}))
    _close(unbroadcast(got, xs[i].shape, xs[i].dtype), ref, dtype, what)


LAZY = [op for op, e in INLINE.items() if e.lazy is not None] + [Op.DIV]


@pytest.mark.parametrize("op,shapes,dtype", _cases(LAZY))
def test_lazy_templates(op, shapes, dtype):
    xs = _inputs(op, shapes, dtype)
    c = None
    if op is Op.DIV:                               # the lazy form is for a constant divisor
        c = 1.7
        xs[1] = np.asarray(c, dtype)
    out = FORWARD[op](*xs)
    g = _cotangent(out)
    for i in range(len(xs)):
        _check_lazy(op, i, xs, g, out, _vjp_ref(op, i, g, out, xs), c, dtype)


@pytest.mark.parametrize("op", [Op.SUM, Op.MEAN])
@pytest.mark.parametrize("attrs", [{"axis": None, "keepdims": False},
                                   {"axis": (1,), "keepdims": True}])
def test_lazy_reductions(op, attrs):
    (x,) = _inputs(op, ((3, 4),), np.float64)
    out = FORWARD[op](x, **attrs)
    _check_lazy(op, 0, [x], None, out, None, None, np.float64, attrs)


SCALAR = [op for op, e in INLINE.items() if e.scalar is not None]


@pytest.mark.parametrize("op", SCALAR)
def test_scalar_templates(op):
    xs = [np.asarray(v) for v in _inputs(op, ((),) * ARITY[op], np.float64)]
    names = [f"_a{i}" for i in range(len(xs))]
    env = dict(MATH, **{n: float(v) for n, v in zip(names, xs)})
    out = FORWARD[op](*xs)
    got = eval(INLINE[op].scalar.format(*names), env)  # noqa: S307
    assert type(got) is float
    np.testing.assert_allclose(got, out, rtol=1e-13, err_msg=f"{op.name} scalar forward")
    g = 0.75
    env.update(_g=g, _o=float(out))
    for i, form in enumerate(INLINE[op].scalar_vjp):
        got = eval(form.format(*names, g="_g", out="_o"), env)  # noqa: S307
        ref = VJP[op][i](np.asarray(g), out, *xs)
        np.testing.assert_allclose(got, ref, rtol=1e-13, err_msg=f"{op.name} scalar VJP {i}")
    assert len(INLINE[op].scalar_vjp) == ARITY[op]
