"""verify.jax: the jaxpr -> symgrad mapping (fake equations, always) and JAX itself (if installed)."""
import importlib.util
from types import SimpleNamespace as NS

import numpy as np
import pytest

import symgrad as sg
from verify import graph as vgraph
from verify.jax import PRIMITIVES, interpret


class Prim:
    """A fake jax primitive: a name and a numpy ``bind``."""

    def __init__(self, name, fn, multiple_results=False):
        self.name, self.fn, self.multiple_results = name, fn, multiple_results

    def bind(self, *args, **params):
        return self.fn(*args, **params)


class Var:
    def __init__(self, shape):
        self.aval = NS(shape=shape)


def eqn(name, fn, invars, outvars, **params):
    return NS(primitive=Prim(name, fn), invars=invars, outvars=outvars, params=params)


def test_fake_jaxpr_maps_to_symgrad_and_differentiates_exactly():
    # f(x) = sum(where(x > 0, x * 2.0, tanh(logistic(x))))  over x of shape (3,)
    x, a, b, c, p, s = (Var((3,)) for _ in range(6))
    out = Var(())
    lit = literal(2.0)
    jaxpr = NS(constvars=[], invars=[x], outvars=[out], eqns=[
        eqn("mul", lambda u, v: u * v, [x, lit], [a]),
        eqn("logistic", lambda u: 1 / (1 + np.exp(-u)), [x], [b]),
        eqn("tanh", np.tanh, [b], [c]),
        eqn("gt", lambda u, v: u > v, [x, literal(0.0)], [p]),
        eqn("select_n", lambda q, f, t: np.where(q, t, f), [p, c, a], [s]),
        eqn("reduce_sum", lambda u, axes: u.sum(axis=axes), [s], [out], axes=(0,)),
    ])
    sx = vgraph.symbol("x", (3,))
    value = np.array([0.5, -1.0, 2.0])
    unknown = []
    vals, syms = interpret(jaxpr, [], [value], [sx], unknown)
    assert unknown == []
    expected = np.where(value > 0, 2 * value, np.tanh(1 / (1 + np.exp(-value)))).sum()
    assert np.isclose(vals[0], expected)
    f = syms[0]
    assert f.node.shape == ()
    got = sg.evaluate(f, {sx: value})
    assert np.isclose(float(np.asarray(getattr(got, "value", got))), expected)
    # the exact derivative comes from SymPy through symgrad
    d = sg.diff(f, sx, simplify=False)
    assert "tanh" in str(d)


def literal(v):
    lit = type("Literal", (), {})()
    lit.val = v
    return lit


def test_unknown_primitive_is_named():
    x, y = Var((2,)), Var((2,))
    jaxpr = NS(constvars=[], invars=[x], outvars=[y],
               eqns=[eqn("cbrt", np.cbrt, [x], [y])])
    unknown = []
    interpret(jaxpr, [], [np.ones(2)], [vgraph.symbol("x", (2,))], unknown)
    assert "jax primitive 'cbrt' is not in symgrad's vocabulary" in unknown[0]


def test_dot_general_and_broadcast_map_to_matmul_and_broadcast_to():
    a, b, c, d = Var((2, 3)), Var((3,)), Var((2,)), Var((4, 2))
    jaxpr = NS(constvars=[], invars=[a, b], outvars=[d], eqns=[
        eqn("dot_general", lambda u, v, **k: u @ v, [a, b], [c],
            dimension_numbers=(((1,), (0,)), ((), ()))),
        eqn("broadcast_in_dim", lambda u, **k: np.broadcast_to(u, (4, 2)), [c], [d],
            shape=(4, 2), broadcast_dimensions=(1,)),
    ])
    sa, sb = vgraph.symbol("a", (2, 3)), vgraph.symbol("b", (3,))
    _, outs = interpret(jaxpr, [], [np.ones((2, 3)), np.ones(3)], [sa, sb], [])
    assert outs[0].shape == (4, 2)
    assert {"dot_general", "custom_vjp_call", "pjit", "select_n"} <= set(PRIMITIVES)


needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                               reason="jax not installed (pip install symgrad[jax])")


@needs_jax
def test_jax_functions_pass():
    import jax
    import jax.numpy as jnp
    import verify.jax as vj
    x = np.array([0.3, -1.2, 0.7])
    for fn in [lambda x: jnp.sum(jnp.tanh(x) * x), lambda x: jax.nn.softplus(x).sum(),
               lambda x: jax.nn.log_softmax(x), lambda x: jnp.where(x > 0, x ** 2, jnp.exp(x)),
               lambda x: jnp.max(jax.nn.relu(x) + jnp.abs(x))]:
        r = vj.check(fn, x, n_points=4)
        assert r.passed, str(r) + "\n".join(r.failures)
    r = vj.check(lambda w, x: jnp.sum(jax.nn.sigmoid(x @ w)), np.ones((3, 2)), np.ones((4, 3)),
                 n_points=3)
    assert r.passed, r.failures


@needs_jax
def test_jax_custom_vjp_wrong_below_minus_20_is_flagged():
    import jax
    import jax.numpy as jnp
    import verify.jax as vj

    def make(bad):
        @jax.custom_vjp
        def softplus(x):
            return jnp.logaddexp(x, 0.0)

        def fwd(x):
            return softplus(x), x

        def bwd(x, g):
            s = jax.nn.sigmoid(x)
            return (g * (jnp.where(x < -20, 0.0, s) if bad else s),)
        softplus.defvjp(fwd, bwd)
        return softplus
    x = np.array([0.5, -1.3, 2.0])
    assert vj.check(make(False), x).passed
    r = vj.check(make(True), x)
    assert not r.passed and any("extreme" in f for f in r.failures)
    assert vj.check(make(False), x, exact=lambda t: sg.softplus(t)).passed
