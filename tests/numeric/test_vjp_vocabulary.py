"""VJPs keep to the vocabulary that lets symgrad's Tensor run them (create_graph).

``Boxed`` stands in for symgrad's ``Tensor``: it is not an ndarray, implements
``__array_ufunc__``, ``__array_function__`` and ``__numeric_apply__``, and
rejects anything outside the documented list (an unlisted ufunc or function,
``astype``, implicit conversion to an array, in-place operators).  Every
finite-difference case's backward pass, run on Boxed values, must give the same
gradients as on plain arrays.
"""
from __future__ import annotations

import numpy as np
import pytest
from tests.numeric._graph_nodes import leaf, node
from tests.numeric.test_vjp_finite_differences import CASES, differentiable, sample

from numeric import Op, backward

UFUNCS = {np.add, np.subtract, np.multiply, np.true_divide, np.power, np.matmul, np.negative,
          np.greater, np.greater_equal, np.less, np.less_equal, np.equal,
          np.exp, np.log, np.cos, np.sin, np.expm1, np.sign}
FUNCTIONS = {np.sum, np.reshape, np.transpose, np.swapaxes, np.broadcast_to, np.where,
             np.ones_like, np.zeros_like, np.expand_dims}
APPLIED = {Op.SCATTER_ADD, Op.CAST}
# --- issue 11: activations (gelu: erf; silu, logsigmoid, softplus: sigmoid; normalize: max)
APPLIED |= {Op.ERF, Op.SIGMOID, Op.MAX}


def unbox(x):
    if isinstance(x, Boxed):
        return x.a
    if isinstance(x, (tuple, list)):
        return type(x)(unbox(i) for i in x)
    return x


class Boxed:
    __slots__ = ("a",)
    __hash__ = None

    def __init__(self, a):
        assert not isinstance(a, Boxed)
        self.a = np.asarray(a)

    shape = property(lambda self: self.a.shape)
    ndim = property(lambda self: self.a.ndim)
    dtype = property(lambda self: self.a.dtype)

    def __array__(self, *args, **kwargs):
        raise AssertionError("a VJP converted a Tensor to an ndarray")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        assert method == "__call__" and ufunc in UFUNCS, f"VJP used {ufunc.__name__}.{method}"
        assert "out" not in kwargs, "VJP wrote in place"
        return Boxed(ufunc(*unbox(inputs), **kwargs))

    def __array_function__(self, func, types, args, kwargs):
        assert func in FUNCTIONS, f"VJP used np.{func.__name__}"
        return Boxed(func(*unbox(args), **{k: unbox(v) for k, v in kwargs.items()}))

    def __numeric_apply__(self, op, xs, attrs):
        assert op in APPLIED, f"VJP applied {op!r}"
        from numeric import FORWARD
        return Boxed(FORWARD[op](*unbox(xs), **attrs))

    def __getitem__(self, index):
        return Boxed(self.a[unbox(index)])

    def _inplace(self, other):
        raise AssertionError("VJP used an in-place operator")

    __iadd__ = __isub__ = __imul__ = __itruediv__ = _inplace

    def __getattr__(self, name):
        raise AssertionError(f"VJP used the attribute or method {name!r}")


def _binary(ufunc, reflected=False):
    if reflected:
        return lambda self, other: ufunc(other, self)
    return lambda self, other: ufunc(self, other)


for name, uf in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                 ("truediv", np.true_divide), ("pow", np.power), ("matmul", np.matmul)]:
    setattr(Boxed, f"__{name}__", _binary(uf))
    setattr(Boxed, f"__r{name}__", _binary(uf, reflected=True))
for name, uf in [("gt", np.greater), ("ge", np.greater_equal), ("lt", np.less),
                 ("le", np.less_equal), ("eq", np.equal)]:
    setattr(Boxed, f"__{name}__", _binary(uf))
Boxed.__neg__ = lambda self: np.negative(self)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_vjps_run_on_tensor_like_values(case, dtype):
    _, op, inputs, attrs = case
    values = [v.astype(dtype) if v.dtype.kind == "f" else v for v in sample(inputs)]
    diff = differentiable(values)
    leaves = [leaf(v, d) for v, d in zip(values, diff)]
    out = node(op, *leaves, **attrs)
    g = np.random.default_rng(3).normal(size=out.value.shape).astype(out.value.dtype)
    plain = backward([out], [g])
    boxed = backward([out], [Boxed(g)], value=lambda n: Boxed(n.value))
    assert set(plain) == set(boxed)
    for key, grad in plain.items():
        assert isinstance(boxed[key], Boxed)
        assert boxed[key].dtype == grad.dtype and boxed[key].shape == grad.shape
        np.testing.assert_array_equal(boxed[key].a, grad)
