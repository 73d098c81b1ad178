"""The safe parser: grammar, precedence, and hostile inputs (each a fast ParseError)."""
import time

import pytest
import sympy

import symgrad as sg
from symgrad.parse import ParseError

X, Y = sympy.symbols("x y")


@pytest.mark.parametrize("text,want", [
    ("-x**2", -X ** 2), ("2**-x", 2 ** -X), ("x**2**3", X ** 8 if False else X ** (2 ** 3)),
    ("x - y - 1", X - Y - 1), ("x / y / 2", X / Y / 2), ("3*sin(y) + exp(-x)", 3 * sympy.sin(Y)
                                                                          + sympy.exp(-X)),
    ("(x + y) * (x - y)", (X + Y) * (X - Y)), ("maximum(x, y)", sympy.Max(X, Y)),
    ("1.5e2 * x", 150 * X), ("sigmoid(x)", 1 / (1 + sympy.exp(-X))),
])
def test_grammar(text, want):
    assert sympy.simplify(sg.to_sympy(sg.parse(text)) - want) == 0


def test_shapes_and_kwargs():
    t = sg.parse("sum(a * a, dim=0)", shapes={"a": (3,)})
    assert tuple(t.shape) == ()
    assert sg.to_sympy(t) == sum(sympy.Symbol(f"a_{i}") ** 2 for i in range(3))


@pytest.mark.parametrize("text,fragment", [
    ("__import__('os').system('x')", "'__import__' at column 1"),
    ("os(1)", "unknown function 'os' at column 1"),
    ("x.__class__", "'.' at column 2"),
    ("lambda: 0", "'lambda' at column 1"),
    ("x**10**10**10", "exponent"),
    ("(" * 10_000 + "x" + ")" * 10_000, "deeper than 200"),
    ("", "empty expression"),
    ("x +", "unexpected end of input after '+'"),
    ("x y", "missing operator before 'y' at column 3"),
    ("exp", "function needs arguments"),
    ("(x", "unclosed '(' at column 1"),
    ("x)", "unmatched ')'"),
    ("x" * 100_001, "longer than 100000"),
    ("x $ y", "unexpected character '$' at column 3"),
    ("sum(x, axis=0)", "unexpected keyword argument 'axis'"),
])
def test_hostile_inputs(text, fragment):
    start = time.perf_counter()
    with pytest.raises(ParseError) as err:
        sg.parse(text)
    assert time.perf_counter() - start < 1.0
    assert fragment in str(err.value)
    assert isinstance(err.value, ValueError) and err.value.column is not None


def test_error_fields():
    with pytest.raises(ParseError) as err:
        sg.parse("x + os(1)")
    assert (err.value.column, err.value.token) == (5, "os")
