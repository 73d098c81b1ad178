"""Issue 12's parser findings: pi and E are exact constants, SymPy's other names and
non-ASCII digits are refused, ``^`` gets a hint, and an overflowing literal is an error."""
import math

import pytest
import sympy

import symgrad as sg
from symgrad.parse import ParseError


def _x(f):
    from numeric.graph import toposort
    return next(n for n in toposort([f.node]) if n.role == "symbol")


def test_pi_and_e_are_exact_constants():
    f = sg.parse("E**x + pi*x**2")
    x = sympy.Symbol("x")
    assert sg.to_sympy(f) == sympy.exp(x) + sympy.pi * x ** 2
    assert sg.diff(f, _x(f)) == sympy.exp(x) + 2 * sympy.pi * x
    assert sg.parse("pi").item() == math.pi and sg.parse("E").item() == math.e


@pytest.mark.parametrize("name", ["I", "S", "N", "oo", "zoo", "nan"])
def test_sympy_names_are_refused_not_made_variables(name):
    with pytest.raises(ParseError, match=f"name '{name}' at column 1 is reserved"):
        sg.parse(f"{name} * x")


@pytest.mark.parametrize("text", ["٣*x", "１２*x", "x + ۲"])
def test_non_ascii_digits_are_refused(text):
    with pytest.raises(ParseError, match="non-ASCII digit"):
        sg.parse(text)


def test_caret_gets_a_hint():
    with pytest.raises(ParseError, match=r"use \*\* for powers \(x\*\*2\)"):
        sg.parse("x^2")


@pytest.mark.parametrize("text", ["1e999*x", "x + 2e308"])
def test_overflowing_literals_are_refused(text):
    with pytest.raises(ParseError, match="overflows float64"):
        sg.parse(text)


def test_ordinary_names_still_variables():
    assert str(sg.to_sympy(sg.parse("e + pie + Ex"))) == "Ex + e + pie"


def _diff_cli(*argv):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "symgrad", "diff", *argv], capture_output=True,
                          text=True, timeout=60)


def test_cli_at_a_pole_says_inf_with_a_reason_not_zoo():
    out = _diff_cli("log(x)", "--at", "x=0").stdout
    assert "exact ±inf (division by zero), float64 inf" in out and "zoo" not in out


def test_cli_huge_exact_value_is_shown_in_digits_not_an_error():
    proc = _diff_cli("x**10000", "--at", "x=3")
    assert proc.returncode == 0, proc.stderr
    assert "exact 5.4378339511420862477e+4774 (4775 digits)" in proc.stdout


def test_nested_powers_count_against_the_exponent_limit():
    with pytest.raises(ParseError, match="nested powers multiply"):
        sg.parse("(x**10000)**10000")
    assert str(sg.to_sympy(sg.parse("(x**2)**3"))) == "x**6"
