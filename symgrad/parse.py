"""A safe parser for math text: ``sg.parse("x**2*sin(y)")`` -> a Tensor over symbols.

No ``eval``, no ``sympify`` of the text, no attribute access, no dunder names.
A hand-written tokenizer feeds a shunting-yard parser (an explicit operator
stack, no recursion), and the postfix result is evaluated with symgrad's own
functions from a fixed whitelist.

Grammar: numbers, names, ``+ - * / ** @``, unary ``-``/``+``, parentheses and
calls ``f(args, dim=..., keepdim=...)`` of whitelisted functions.  ``**`` is
right-associative and binds tighter than unary minus (``-x**2 == -(x**2)``).

Bounded work: input over 100 000 characters, nesting deeper than 200, or a
numeric exponent above 10 000 in magnitude is refused with a :class:`ParseError`.
``pi`` and ``E`` are exact constants; SymPy's other names (``I``, ``oo``, ...),
non-ASCII digits and literals that overflow float64 are refused.
"""
from __future__ import annotations

import keyword
import operator
from typing import Any

from numeric.rules import RULES

__all__ = ["parse", "ParseError", "FUNCTIONS", "MAX_LENGTH", "MAX_DEPTH", "MAX_EXPONENT"]

MAX_LENGTH = 100_000
MAX_DEPTH = 200
MAX_EXPONENT = 10_000
_MAX_INT_BITS = 4096

#: whitelisted function names (looked up on the ``symgrad`` package at evaluation):
#: the main ``sg.`` name of every op whose rule in numeric.rules says ``parse=True``
FUNCTIONS = frozenset(rule.sg[0] for rule in RULES if rule.parse)
_KWARGS = frozenset({"dim", "keepdim", "min", "max"})
_CONSTANTS = {"True": True, "False": False, "None": None}
#: Note [ASCII digits]: str.isdigit() is true for Arabic-Indic and full-width digits too;
#: a number is written with these only
_DIGITS = frozenset("0123456789")
#: names read as exact constants: float64 value and SymPy form
_NAMED = {"pi": "pi", "E": "E"}
#: SymPy's names that would silently become variables (``E**x`` would differentiate to
#: ``E**x*log(E)``): refused, with what to write instead
_RESERVED = {
    "I": "the imaginary unit is not supported (real tensors only)",
    "S": "S is SymPy's singleton registry, not a variable; pick another name",
    "N": "N is SymPy's numeric evaluation, not a variable; pick another name",
    "oo": "infinity is not a number a formula can hold; write a large constant",
    "zoo": "complex infinity is not supported",
    "nan": "nan is not a constant a formula can hold",
}
_BINARY = {"+": (1, operator.add), "-": (1, operator.sub), "*": (2, operator.mul),
           "/": (2, operator.truediv), "@": (2, operator.matmul), "**": (4, operator.pow)}
_PREFIX_PREC = 3


class ParseError(ValueError):
    """Malformed or refused input; ``column`` is 1-based, ``token`` the offending text."""

    def __init__(self, message: str, column: int | None = None, token: str | None = None):
        super().__init__(message)
        self.column = column
        self.token = token


def _err(what: str, tok: str, col: int) -> ParseError:
    return ParseError(f"{what} {tok!r} at column {col}", col, tok)


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, column) with kind in num, name, op, eof."""
    toks = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
            continue
        start = i
        if c in _DIGITS or (c == "." and i + 1 < n and text[i + 1] in _DIGITS):
            while i < n and (text[i] in _DIGITS or text[i] == "."):
                i += 1
            if i < n and text[i] in "eE":
                j = i + 1
                if j < n and text[j] in "+-":
                    j += 1
                if j < n and text[j] in _DIGITS:
                    i = j
                    while i < n and text[i] in _DIGITS:
                        i += 1
            toks.append(("num", text[start:i], start + 1))
        elif c.isalpha() or c == "_":
            while i < n and (text[i].isalnum() or text[i] == "_"):
                i += 1
            name = text[start:i]
            if not name.isascii():
                raise _err("non-ASCII name", name, start + 1)
            if "__" in name:  # checked here so the first problem, left to right, is reported
                raise _err("names containing '__' are not allowed:", name, start + 1)
            if keyword.iskeyword(name) and name not in _CONSTANTS:
                raise _err("Python keyword is not allowed:", name, start + 1)
            toks.append(("name", text[start:i], start + 1))
        elif text.startswith("**", i):
            toks.append(("op", "**", start + 1))
            i += 2
        elif c in "+-*/@(),=":
            toks.append(("op", c, start + 1))
            i += 1
        elif c == "^":
            raise ParseError(f"unexpected character '^' at column {start + 1}: powers are "
                             "written ** (x**2), as in Python", start + 1, c)
        else:
            what = "attribute access is not allowed:" if c == "." else "unexpected character"
            if c.isdigit():     # Note [ASCII digits]
                what = "non-ASCII digit (write numbers with 0-9):"
            raise _err(what, c, start + 1)
    toks.append(("eof", "", n + 1))
    return toks


def _number(tok: str, col: int):
    try:
        if any(ch in tok for ch in ".eE"):
            value = float(tok)
            if value == float("inf"):
                raise ParseError(f"number too large at column {col} ({tok!r}): it overflows "
                                 "float64 (above 1.8e308); use a smaller constant", col, tok)
            return value
        if len(tok) > 1000:
            raise ValueError
        return int(tok)
    except ParseError:
        raise
    except ValueError:
        raise _err("malformed or too long number", tok, col) from None


def _to_rpn(toks):
    # One shunting-yard loop over the tokens (about 90 lines): its state -- the output,
    # the operator stack and whether an operand is expected -- is shared by every branch,
    # so splitting it into functions would only pass that state around.
    out: list[tuple] = []
    ops: list[tuple] = []      # ("(", col, frame|None) | ("bin", sym, col) | ("pre", sym, col)
    expect = True              # expecting an operand
    i = 0
    while True:
        kind, tok, col = toks[i]
        if len(ops) > MAX_DEPTH:
            raise _err(f"expression nested deeper than {MAX_DEPTH} levels at", tok or "end", col)
        if kind == "eof":
            break
        nxt = toks[i + 1]
        if kind in ("num", "name"):
            if not expect:
                raise _err("missing operator before", tok, col)
            if kind == "num":
                out.append(("num", _number(tok, col), col))
            elif nxt[1] == "(" and nxt[0] == "op":
                if tok not in FUNCTIONS:
                    raise _err("unknown function", tok, col)
                ops.append(("(", nxt[2], {"name": tok, "col": col, "kinds": [], "kw": None}))
                i += 2
                continue
            elif nxt[1] == "=" and nxt[0] == "op":
                frame = ops[-1][2] if ops and ops[-1][0] == "(" else None
                if frame is None or tok not in _KWARGS:
                    raise _err("unexpected keyword argument", tok, col)
                frame["kw"] = tok
                i += 2
                continue
            elif tok in FUNCTIONS:
                raise _err("function needs arguments, e.g. f(x):", tok, col)
            elif tok in _CONSTANTS:
                out.append(("num", _CONSTANTS[tok], col))
            else:
                out.append(("sym", tok, col))
            expect = False
        elif tok == "(":
            if not expect:
                raise _err("missing operator before", tok, col)
            ops.append(("(", col, None))
        elif tok in (")", ","):
            if expect:
                raise _err("expected an operand before", tok, col)
            while ops and ops[-1][0] != "(":
                out.append(ops.pop())
            if not ops:
                raise _err("unmatched", tok, col)
            frame = ops[-1][2]
            if frame is None:
                if tok == ",":
                    raise _err("comma outside a function call:", tok, col)
                ops.pop()
            else:
                if frame["kw"] is None and any(k is not None for k in frame["kinds"]):
                    raise _err("positional argument after keyword argument at", tok, col)
                frame["kinds"].append(frame["kw"])
                frame["kw"] = None
                if tok == ")":
                    ops.pop()
                    out.append(("call", frame["name"], tuple(frame["kinds"]), frame["col"]))
                else:
                    expect = True
                    i += 1
                    continue
            expect = False
        elif tok in ("+", "-") and expect:
            ops.append(("pre", tok, col))
        elif tok in _BINARY:
            if expect:
                raise _err("expected an operand before", tok, col)
            prec = _BINARY[tok][0]
            while ops and ops[-1][0] != "(":
                top = ops[-1]
                tprec = _PREFIX_PREC if top[0] == "pre" else _BINARY[top[1]][0]
                if tprec > prec or (tprec == prec and tok != "**"):
                    out.append(ops.pop())
                else:
                    break
            ops.append(("bin", tok, col))
            expect = True
        else:
            raise _err("unexpected", tok, col)
        i += 1
    kind, tok, col = toks[i]
    if expect:
        if len(toks) == 1:
            raise ParseError("empty expression: give a formula such as 'x**2'", 1, "")
        prev = toks[i - 1]
        raise ParseError(f"unexpected end of input after {prev[1]!r} at column {col}", col, "")
    while ops:
        top = ops.pop()
        if top[0] == "(":
            raise _err("unclosed", "(", top[1])
        out.append(top)
    return out


def _pow(a, b, col):
    if isinstance(b, (int, float)) and not isinstance(b, bool) and abs(b) > MAX_EXPONENT:
        raise _err(f"exponent larger than {MAX_EXPONENT} refused at", repr(b), col)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, int) and isinstance(b, int) and b >= 0 \
                and a.bit_length() * b > _MAX_INT_BITS:
            a = float(a)
    elif isinstance(b, (int, float)) and not isinstance(b, bool):
        inner = _literal_exponent(a)
        if inner is not None and abs(inner * b) > MAX_EXPONENT:   # (x**a)**b is x**(a*b)
            raise ParseError(f"exponent larger than {MAX_EXPONENT} refused at column {col}: "
                             f"nested powers multiply ({inner!r} * {b!r})", col, repr(b))
    return a ** b


def _literal_exponent(t: Any) -> Any:
    """The number ``c`` if ``t`` is ``base ** c`` with a literal ``c``, else None."""
    from numeric.ops import Op

    node = getattr(t, "node", None)
    if node is None or node.op is not Op.POW:
        return None
    return node.inputs[1].literal


def _named_constant(name: str, sg) -> Any:
    """``pi`` or ``E``: its float64 value, and exactly ``sympy.pi``/``sympy.E`` in closed forms.

    >>> import symgrad as sg
    >>> sg.to_sympy(sg.parse("E**x + pi*x"))
    pi*x + exp(x)
    """
    import math

    import sympy

    from numeric.node import Node
    from symgrad.tensor import handle

    value = sg.tensor(math.pi if name == "pi" else math.e).numpy()
    value.flags.writeable = False
    return handle(Node.leaf("constant", value, literal=getattr(sympy, _NAMED[name])), value)


def _evaluate(rpn, shapes: dict, sg) -> Any:
    symbols: dict[str, Any] = {}
    stack: list = []
    for item in rpn:
        kind = item[0]
        col = item[-1]
        try:
            if kind == "num":
                stack.append(item[1])
            elif kind == "sym":
                name = item[1]
                if name in _RESERVED:
                    raise ParseError(f"name {name!r} at column {col} is reserved: "
                                     f"{_RESERVED[name]}", col, name)
                if name in _NAMED:
                    stack.append(_named_constant(name, sg))
                    continue
                if name not in symbols:
                    symbols[name] = sg.symbol(name, shape=tuple(shapes.get(name, ())))
                stack.append(symbols[name])
            elif kind == "pre":
                x = stack.pop()
                stack.append(-x if item[1] == "-" else x)
            elif kind == "bin":
                b, a = stack.pop(), stack.pop()
                sym = item[1]
                r = _pow(a, b, col) if sym == "**" else _BINARY[sym][1](a, b)
                if isinstance(r, int) and not isinstance(r, bool) and r.bit_length() > _MAX_INT_BITS:
                    r = float(r)
                stack.append(r)
            else:  # call
                _, name, kinds, _ = item
                vals = stack[len(stack) - len(kinds):]
                del stack[len(stack) - len(kinds):]
                args = [v for v, k in zip(vals, kinds) if k is None]
                kwargs = {k: v for v, k in zip(vals, kinds) if k is not None}
                fn = getattr(sg, name, None)
                if fn is None:
                    raise _err("function not available in this symgrad build:", name, col)
                if args and isinstance(args[0], (int, float)) and not isinstance(args[0], bool):
                    args[0] = sg.tensor(float(args[0]))
                stack.append(fn(*args, **kwargs))
        except ParseError:
            raise
        except OverflowError:
            raise ParseError(f"number too large at column {col} ({str(item[1])!r}): the value "
                             "overflows float64; use a smaller constant", col,
                             str(item[1])) from None
        except ZeroDivisionError:
            raise ParseError(f"division by zero at column {col} ({str(item[1])!r})", col,
                             str(item[1])) from None
        except (TypeError, ValueError, RuntimeError, IndexError) as exc:
            raise ParseError(f"{exc} (at column {col}, {str(item[1])!r})", col,
                             str(item[1])) from exc
    result = stack.pop()
    if isinstance(result, (int, float)):
        result = sg.tensor(float(result))
    return result


def parse(text: str, shapes: dict | None = None):
    """Parse math text into a Tensor over symbols (safe: no eval, bounded work).

    Names become ``sg.symbol(name, shape=shapes.get(name, ()))``, one per name.

    >>> import symgrad as sg
    >>> sg.to_sympy(sg.parse("-x**2 + 3*sin(y)"))
    -x**2 + 3*sin(y)
    >>> sg.parse("os(1)")
    Traceback (most recent call last):
    ...
    symgrad.parse.ParseError: unknown function 'os' at column 1
    """
    import symgrad as sg

    if not isinstance(text, str):
        raise TypeError(f"parse() needs a str, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"input of {len(text)} characters is longer than {MAX_LENGTH}; "
                         "split it or build the graph in Python", 1, text[:10])
    shapes = dict(shapes or {})
    return _evaluate(_to_rpn(_tokenize(text)), shapes, sg)
