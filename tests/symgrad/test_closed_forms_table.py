"""The matrix-calculus table of docs/closed-forms.md is what symgrad prints.

Each row's symgrad code is run over the symbols the section names, and
``sg.latex(sg.diff(f, wrt))`` must equal the row's LaTeX (with the table's
``\\vert``/``\\Vert`` escapes undone), so the docs cannot drift from the code.
"""
from __future__ import annotations

import pathlib
import re

import pytest

import symgrad as sg

DOC = pathlib.Path(__file__).parents[2] / "docs" / "closed-forms.md"


def _rows():
    text = DOC.read_text()
    section = text.split("## Matrix calculus", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = re.findall(r"\|\s*(.*?)\s*(?=\|)", line)
        if len(cells) == 4 and cells[1].startswith("`") and cells[3].startswith("$"):
            mc, wrt, code, tex = cells
            rows.append((mc.strip("`"), wrt.strip("`"), code.strip("`"), tex.strip("$")))
    return rows


ROWS = _rows()


def _leaves():
    shapes = {**{n: ("N", "N") for n in "XABC"}, **{n: ("N",) for n in "xyab"},
              "M": ("N", "d"), "w": ("d",), "z": ("K",), "t": ("K",), "W": ("h", "d"),
              "u": ("d",), "v": ("h",), "lam": ()}
    return {n: sg.symbol(n, shape=s) for n, s in shapes.items()}


def test_the_table_has_the_issue_examples():
    names = {r[0] for r in ROWS}
    assert {"x'*A*x", "tr(A*X'*B*X*C)", "log(det(inv(X)))", "norm2(A*x-y)^2"} <= names
    assert len(ROWS) >= 20


@pytest.mark.parametrize("mc, wrt, code, tex", ROWS, ids=[r[0] for r in ROWS])
def test_each_row_is_what_symgrad_prints(mc, wrt, code, tex):
    leaves = _leaves()
    f = eval(code, {"sg": sg}, leaves)   # the docs' own code, over the section's symbols
    got = sg.latex(sg.diff(f, leaves[wrt]))
    want = tex.replace(r"\vert", "|").replace(r"\Vert", r"\|")
    assert re.sub(r"\s+", "", got) == re.sub(r"\s+", "", want)
