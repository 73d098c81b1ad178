"""A safe parser for math text: ``sg.parse("x**2*sin(y)")`` -> a Tensor over symbols.

No ``eval``, no ``sympify`` of the text, no attribute access, no dunder names.
A hand-written tokenizer feeds a shunting-yard parser (an explicit operator
stack, no recursion), and the postfix result is evaluated with symgrad's own
functions from a fixed whitelist.

Grammar: numbers, names, ``+ - * / ** @``, unary ``-``/``+``, parentheses and
calls ``f(args, dim=..., keepdim=...)`` of whitelisted functions.  ``**`` is
right-associative and binds tighter than unary minus (``-x**2 == -(x**2)``).

Bounded work: input over 100 000 characters, more than 10 000 operands and
operators (``MAX_NODES``), nesting deeper than 200, or a numeric exponent above
10 000 in magnitude (nested powers multiply) is refused with a :class:`ParseError`;
Python's own limits (recursion, integer digits, float overflow, memory) never
leak out as anything else.  ``pi`` and ``E`` are exact constants; SymPy's other
names (``I``, ``oo``, ...), non-ASCII digits and literals that overflow float64
are refused.

``notation="matrixcalculus"`` reads the notation of matrixcalculus.org (Laue et al.):
``x'*A*x``, ``tr(A*X'*B*X*C)``, ``log(det(inv(X)))``, ``norm2(A*x-y)^2``; see
:func:`parse`.
"""
from __future__ import annotations

import keyword
import math
import operator
import sys
from typing import Any

from numeric.rules import RULES

__all__ = ["parse", "ParseError", "FUNCTIONS", "LINALG_FUNCTIONS", "MC_FUNCTIONS", "NOTATIONS", "MAX_LENGTH",
           "MAX_NODES", "MAX_DEPTH", "MAX_EXPONENT"]

MAX_LENGTH = 100_000
#: the most operands and operators (numbers, names, operators, calls) one formula may hold
MAX_NODES = 10_000
MAX_DEPTH = 200
MAX_EXPONENT = 10_000
_MAX_INT_BITS = 4096
_FLOAT_MAX = int(sys.float_info.max)

#: whitelisted function names (looked up on the ``symgrad`` package at evaluation):
#: the main ``sg.`` name of every op whose rule in numeric.rules says ``parse=True``
FUNCTIONS = frozenset(rule.sg[0] for rule in RULES if rule.parse)
#: linear algebra read in the python notation too (functions over ops, not ops of their own)
LINALG_FUNCTIONS = frozenset({"trace", "det", "logdet", "inverse", "outer", "transpose"})
#: names of the other notation, with what to write instead
_HINTS = {"tr": "trace", "inv": "inverse", "norm2": "norm", "norm1": "sum(abs(...))"}
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
    "I": "SymPy's imaginary unit; symgrad is real-valued (no complex numbers); "
         "pick another name for a variable",
    "S": "S is SymPy's singleton registry, not a variable; pick another name",
    "N": "N is SymPy's numeric evaluation, not a variable; pick another name (e.g. n)",
    "oo": "SymPy's infinity is not a number a formula can hold; write a large constant",
    "zoo": "SymPy's complex infinity; symgrad is real-valued; write a large constant",
    "nan": "nan is not a constant a formula can hold; pick another name",
}
_BINARY = {"+": (1, operator.add), "-": (1, operator.sub), "*": (2, operator.mul),
           "/": (2, operator.truediv), "@": (2, operator.matmul), "**": (4, operator.pow)}
_PREFIX_PREC = 3
#: right-associative binary operators
_RIGHT = frozenset({"**", "^", ".^"})
#: Note [matrixcalculus notation]: matrixcalculus.org's operators -- ``*`` is the matrix
#: product, ``.*``/``./``/``.^`` are elementwise, ``^`` a power, postfix ``'`` the transpose
#: (handled in _to_rpn) -- and its functions; the meanings live in _McEval
_MC_BINARY = {"+": (1, None), "-": (1, None), "*": (2, None), "/": (2, None),
              ".*": (2, None), "./": (2, None), "^": (4, None), ".^": (4, None)}
_MC_ELEMENTWISE = frozenset({"exp", "log", "sin", "cos", "tan", "tanh", "sinh", "cosh", "sqrt",
                             "abs", "sign", "relu", "sigmoid", "softplus", "asin", "acos",
                             "atan"})
#: the function names read with ``notation="matrixcalculus"``
MC_FUNCTIONS = _MC_ELEMENTWISE | {"tr", "det", "logdet", "inv", "norm1", "norm2", "sum"}
NOTATIONS = ("python", "matrixcalculus")
#: the first of these that is not a variable's name is the dimension of matrixcalculus
#: vectors and matrices without a --shape
_MC_DIMS = ("n", "m", "k", "p")


class ParseError(ValueError):
    """Malformed or refused input; ``column`` is 1-based, ``token`` the offending text."""

    def __init__(self, message: str, column: int | None = None, token: str | None = None):
        super().__init__(message)
        self.column = column
        self.token = token


def _err(what: str, tok: str, col: int) -> ParseError:
    return ParseError(f"{what} {tok!r} at column {col}", col, tok)


def _tokenize(text: str, mc: bool = False) -> list[tuple[str, str, int]]:
    """(kind, text, column) with kind in num, name, op, eof; ``mc``: matrixcalculus notation."""
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
        elif mc and text[i:i + 2] in (".*", "./", ".^"):
            toks.append(("op", text[i:i + 2], start + 1))
            i += 2
        elif mc and c in "^'":
            toks.append(("op", c, start + 1))
            i += 1
        elif mc and (text.startswith("**", i) or c == "@"):
            raise _err("in matrixcalculus notation '*' is the matrix product and '^' the "
                       "power; unexpected", text[i:i + 2] if c == "*" else c, start + 1)
        elif text.startswith("**", i):
            toks.append(("op", "**", start + 1))
            i += 2
        elif c in "+-*/@(),=":
            toks.append(("op", c, start + 1))
            i += 1
        elif c == "^":
            raise ParseError(f"unexpected character '^' at column {start + 1}: use ** for "
                             "powers (x**2), as in Python (or the matrixcalculus notation, "
                             "where ^ is a power)", start + 1, c)
        else:
            what = "attribute access is not allowed:" if c == "." else "unexpected character"
            if c == "'":
                what = "a transpose x' is matrixcalculus notation (in python notation write " \
                       "transpose(X, 0, 1) or x @ y); unexpected character"
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
        return _checked(int(tok), col, tok)
    except ParseError:
        raise
    except ValueError:
        raise _err("malformed or too long number", tok, col) from None


#: what building the graph may raise for a bad formula; each becomes a ParseError
_BUILD_ERRORS = (OverflowError, ZeroDivisionError, RecursionError, MemoryError, TypeError,
                 ValueError, RuntimeError, IndexError)


def _build_error(exc: BaseException, col: int, tok: str) -> ParseError:
    """The ParseError for ``exc`` raised while applying the operation at column ``col``.

    Python's own limits (RecursionError, MemoryError, float overflow) never leak out.
    """
    if isinstance(exc, OverflowError):
        return ParseError(f"number too large at column {col} ({tok!r}): the value overflows "
                          "float64; use a smaller constant", col, tok)
    if isinstance(exc, ZeroDivisionError):
        return ParseError(f"division by zero at column {col} ({tok!r})", col, tok)
    if isinstance(exc, (RecursionError, MemoryError)):
        return ParseError(f"expression too large to build at column {col} ({tok!r}); "
                          "simplify or split it", col, tok)
    return ParseError(f"{exc} (at column {col}, {tok!r})", col, tok)


def _to_rpn(toks, mc: bool = False):
    # One shunting-yard loop over the tokens (about 90 lines): its state -- the output,
    # the operator stack and whether an operand is expected -- is shared by every branch,
    # so splitting it into functions would only pass that state around.
    functions, binary, kwargs = (MC_FUNCTIONS, _MC_BINARY, frozenset()) if mc else \
        (FUNCTIONS | LINALG_FUNCTIONS, _BINARY, _KWARGS)
    out: list[tuple] = []
    ops: list[tuple] = []      # ("(", col, frame|None) | ("bin", sym, col) | ("pre", sym, col)
    expect = True              # expecting an operand
    i = 0
    while True:
        kind, tok, col = toks[i]
        if len(out) + len(ops) > MAX_NODES:
            raise ParseError(f"expression has more than {MAX_NODES} operands and operators "
                             f"(MAX_NODES, the parser's work limit) at column {col}; split it "
                             "or build the graph in Python", col, tok)
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
                if tok not in functions:
                    hint = "" if mc or tok not in _HINTS else \
                        f" (write {_HINTS[tok]}, or use the matrixcalculus notation)"
                    raise ParseError(f"unknown function {tok!r} at column {col}{hint}", col, tok)
                ops.append(("(", nxt[2], {"name": tok, "col": col, "kinds": [], "kw": None}))
                i += 2
                continue
            elif nxt[1] == "=" and nxt[0] == "op":
                frame = ops[-1][2] if ops and ops[-1][0] == "(" else None
                if frame is None or tok not in kwargs:
                    raise _err("unexpected keyword argument", tok, col)
                frame["kw"] = tok
                i += 2
                continue
            elif tok in functions:
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
        elif tok == "'":       # postfix transpose binds tightest: it applies to the operand now
            if expect:
                raise _err("expected an operand before", tok, col)
            out.append(("post", tok, col))
        elif tok in binary:
            if expect:
                raise _err("expected an operand before", tok, col)
            prec = binary[tok][0]
            while ops and ops[-1][0] != "(":
                top = ops[-1]
                tprec = _PREFIX_PREC if top[0] == "pre" else binary[top[1]][0]
                if tprec > prec or (tprec == prec and tok not in _RIGHT):
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


def _checked(r: Any, col: int, sym: str) -> Any:
    """A number computed from literals, refused if it overflows float64 (``1e308*10``)."""
    if isinstance(r, int) and not isinstance(r, bool) and abs(r) > _FLOAT_MAX:
        r = math.inf     # every number ends as a float64: refuse it now, not at float()
    if isinstance(r, float) and not math.isfinite(r):
        shown = sym if len(sym) <= 20 else sym[:17] + "..."
        raise ParseError(f"number too large at column {col} ({shown!r}): the value overflows "
                         "float64; use a smaller constant", col, sym)
    return r


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
                if name not in symbols:
                    symbols[name] = _symbol(name, col, shapes.get(name, ()), sg)
                stack.append(symbols[name])
            elif kind == "pre":
                x = stack.pop()
                stack.append(-x if item[1] == "-" else x)
            elif kind == "bin":
                b, a = stack.pop(), stack.pop()
                sym = item[1]
                r = _pow(a, b, col) if sym == "**" else _BINARY[sym][1](a, b)
                stack.append(_checked(r, col, sym))
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
        except _BUILD_ERRORS as exc:
            raise _build_error(exc, col, str(item[1])) from exc
    result = stack.pop()
    if isinstance(result, (int, float)):
        result = sg.tensor(float(result))
    return result


def _symbol(name: str, col: int, shape: tuple, sg) -> Any:
    if name in _RESERVED:
        raise ParseError(f"name {name!r} at column {col} is reserved: {_RESERVED[name]}",
                         col, name)
    if name in _NAMED:
        return _named_constant(name, sg)
    return sg.symbol(name, shape=tuple(shape))


def _mc_shape(name: str, shapes: dict, dim: str) -> tuple:
    """matrixcalculus.org's convention: a..g scalars, h..z vectors, A..Z matrices."""
    if name in shapes:
        return tuple(shapes[name])
    c = name[0]
    if "h" <= c <= "z":
        return (dim,)
    if "A" <= c <= "Z":
        return (dim, dim)
    return ()


class _McEval:
    """Meanings of matrixcalculus.org's operators on symgrad tensors.

    A vector is a 1-D tensor plus an orientation (column, or a row after ``'``), so
    ``x'*y`` is an inner product, ``x*y'`` an outer one, and ``x*y`` a shape error.
    """

    def __init__(self, sg):
        self.sg = sg

    @staticmethod
    def rank(v) -> int:
        return len(getattr(v, "shape", ()))

    @staticmethod
    def _desc(v, row: bool) -> str:
        r = _McEval.rank(v)
        return ("a scalar", "a row vector" if row else "a column vector", "a matrix")[r]

    def _same_kind(self, a, ra, b, rb, sym, col) -> bool:
        ka, kb = self.rank(a), self.rank(b)
        if ka and kb and (ka != kb or ra != rb):
            raise ParseError(f"'{sym}' at column {col} combines {self._desc(a, ra)} with "
                             f"{self._desc(b, rb)}; elementwise operations need the same kind "
                             "(transpose with ')", col, sym)
        return ra if ka else rb

    def binary(self, sym, a, ra, b, rb, col):
        if sym in ("+", "-", ".*", "./"):
            row = self._same_kind(a, ra, b, rb, sym, col)
            op = {"+": operator.add, "-": operator.sub, ".*": operator.mul,
                  "./": operator.truediv}[sym]
            return op(a, b), row
        if sym == ".^":
            return _pow(a, b, col), ra
        if sym == "^":
            if self.rank(a):
                raise ParseError(f"'^' at column {col} raises {self._desc(a, ra)} to a "
                                 "power; write .^ for an elementwise power or A*A for a "
                                 "matrix power", col, sym)
            return _pow(a, b, col), rb
        if sym == "/":
            if self.rank(b):
                raise ParseError(f"'/' at column {col} divides by {self._desc(b, rb)}; write "
                                 "./ for elementwise division or inv(...) for an inverse",
                                 col, sym)
            return a / b, ra
        return self.product(a, ra, b, rb, col)

    def product(self, a, ra, b, rb, col):
        """``*``: scalar times anything, else the matrix product of the oriented shapes."""
        ka, kb = self.rank(a), self.rank(b)
        if not ka or not kb:
            return a * b, (ra if ka else rb)
        kinds = (ka == 1 and ra, ka == 1 and not ra, kb == 1 and rb, kb == 1 and not rb)
        a_row, a_col, b_row, b_col = kinds
        if a_row and b_col:
            return a @ b, False                   # inner product
        if a_col and b_row:
            return self.sg.outer(a, b), False     # outer product
        if ka == 2 and kb == 2:
            return a @ b, False
        if ka == 2 and b_col:
            return a @ b, False
        if a_row and kb == 2:
            return a @ b, True
        raise ParseError(f"'*' at column {col}: {self._desc(a, ra)} times {self._desc(b, rb)} "
                         "is not a matrix product; transpose one side with ' (x'*y, A*x, "
                         "x'*A) or write .* for the elementwise product", col, "*")

    def transpose(self, a, ra):
        k = self.rank(a)
        if k == 2:
            return a.T, False
        return a, (not ra if k == 1 else False)

    def call(self, name, args, col):
        sg = self.sg
        if len(args) != 1:
            raise ParseError(f"{name}() at column {col} takes one argument, got {len(args)}",
                             col, name)
        a, ra = args[0]
        if isinstance(a, (int, float)):
            a = sg.tensor(float(a))
        if name in _MC_ELEMENTWISE:
            return getattr(sg, name)(a), ra
        if name == "sum":
            return a.sum(), False
        if name == "norm1":
            return sg.abs(a).sum(), False
        if name == "norm2":          # 2-norm of a vector, Frobenius norm of a matrix
            return sg.norm(a), False
        if self.rank(a) != 2:
            raise ParseError(f"{name}() at column {col} needs a matrix, got "
                             f"{self._desc(a, ra)}", col, name)
        fn = {"tr": sg.trace, "det": sg.det, "logdet": sg.logdet, "inv": sg.inverse}[name]
        return fn(a), False


def _evaluate_mc(rpn, shapes: dict, sg) -> Any:
    """Evaluate matrixcalculus-notation RPN; the stack holds (value, is_row_vector)."""
    names = {item[1] for item in rpn if item[0] == "sym"}
    dim = next((d for d in _MC_DIMS if d not in names), "n_")
    ev = _McEval(sg)
    symbols: dict[str, Any] = {}
    stack: list = []
    for item in rpn:
        kind, col = item[0], item[-1]
        try:
            if kind == "num":
                stack.append((item[1], False))
            elif kind == "sym":
                name = item[1]
                if name not in symbols:
                    symbols[name] = _symbol(name, col, _mc_shape(name, shapes, dim), sg)
                stack.append((symbols[name], False))
            elif kind == "pre":
                x, row = stack.pop()
                stack.append((-x if item[1] == "-" else x, row))
            elif kind == "post":
                stack.append(ev.transpose(*stack.pop()))
            elif kind == "bin":
                (b, rb), (a, ra) = stack.pop(), stack.pop()
                r, row = ev.binary(item[1], a, ra, b, rb, col)
                stack.append((_checked(r, col, item[1]), row))
            else:  # call
                _, name, kinds, _ = item
                args = stack[len(stack) - len(kinds):]
                del stack[len(stack) - len(kinds):]
                stack.append(ev.call(name, args, col))
        except ParseError:
            raise
        except _BUILD_ERRORS as exc:
            raise _build_error(exc, col, str(item[1])) from exc
    result = stack.pop()[0]
    if isinstance(result, (int, float)):
        result = sg.tensor(float(result))
    return result


def parse(text: str, shapes: dict | None = None, *, notation: str = "python"):
    """Parse math text into a Tensor over symbols (safe: no eval, bounded work).

    Names become ``sg.symbol(name, shape=shapes.get(name, ()))``, one per name; dims
    are ints or names (``{"X": ("n", "d")}``).

    >>> import symgrad as sg
    >>> sg.to_sympy(sg.parse("-x**2 + 3*sin(y)"))
    -x**2 + 3*sin(y)
    >>> sg.parse("os(1)")
    Traceback (most recent call last):
    ...
    symgrad.parse.ParseError: unknown function 'os' at column 1

    ``notation="matrixcalculus"`` reads matrixcalculus.org's notation: ``*`` is the
    matrix product (or a product with a scalar), ``.*`` ``./`` ``.^`` are elementwise,
    ``^`` is a power of a scalar, a postfix ``'`` transposes; functions ``tr det logdet
    inv norm1 norm2 sum`` and elementwise ``exp log sin cos tanh sqrt abs ...``.
    Names without a shape in ``shapes`` follow its convention: a..g scalars, h..z
    vectors, A..Z matrices, every vector and matrix of one dimension ``n`` (the first
    of n, m, k, p that is not a variable's name):

    >>> f = sg.parse("x'*A*x", notation="matrixcalculus")
    >>> f.shape, sg.to_sympy(f, form="matrix")
    ((), (x.T*A*x)[0, 0])
    """
    import symgrad as sg

    if not isinstance(text, str):
        raise TypeError(f"parse() needs a str, got {type(text).__name__}")
    if notation not in NOTATIONS:
        raise ValueError(f"notation must be one of {', '.join(map(repr, NOTATIONS))}, "
                         f"got {notation!r}")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"input of {len(text)} characters is longer than {MAX_LENGTH}; "
                         "split it or build the graph in Python", 1, text[:10])
    shapes = dict(shapes or {})
    mc = notation == "matrixcalculus"
    rpn = _to_rpn(_tokenize(text, mc), mc)
    return _evaluate_mc(rpn, shapes, sg) if mc else _evaluate(rpn, shapes, sg)
