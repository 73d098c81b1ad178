"""Every code example in README.md and docs/ runs, and its shown output is checked.

Conventions for examples in Markdown:

* a ```python block written in ``>>>`` style is run as a doctest (output checked);
* a ```python block followed directly by a ```text block is run and its printed
  output must equal the text block;
* any other ```python block is run and must not raise;
* a ```console block holds ``$ symgrad ...`` commands; each is run in a subprocess
  and must exit 0, and the lines shown after it must appear in its output.

Blocks of one file share a namespace, in order, like cells of a notebook.
Blocks marked ```python no-run are shown only.
"""
from __future__ import annotations

import contextlib
import doctest
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("**/*.md")])
FENCE = re.compile(r"^```([\w-]*)([^\n]*)\n(.*?)^```\s*$", re.S | re.M)


def blocks(path: Path):
    """(language, info, code, line) for each fenced block of ``path``."""
    text = path.read_text(encoding="utf-8")
    for m in FENCE.finditer(text):
        yield m.group(1), m.group(2).strip(), m.group(3), text.count("\n", 0, m.start()) + 1


def run_python(code: str, namespace: dict, where: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, where, "exec"), namespace)  # the project's own docs
    return out.getvalue()


def run_doctest(code: str, namespace: dict, where: str) -> None:
    parser = doctest.DocTestParser()
    test = parser.get_doctest(code, namespace, where, where, 0)
    test.globs = namespace  # get_doctest copies; share names across blocks like notebook cells
    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    runner = doctest.DocTestRunner(optionflags=flags)
    out = io.StringIO()
    runner.run(test, out=out.write, clear_globs=False)
    assert runner.failures == 0, out.getvalue()


def run_console(code: str, where: str) -> None:
    commands: list[tuple[str, list[str]]] = []
    for line in code.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        elif commands and line.strip():
            commands[-1][1].append(line.rstrip())
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    for command, shown in commands:
        argv = shlex.split(command)
        if argv[0] != "symgrad":
            continue  # shell set-up lines (make, pip) are not re-run here
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300,
                              cwd=ROOT)
        assert proc.returncode == 0, f"{where}: {command!r} failed:\n{proc.stderr}"
        for expected in shown:
            if expected.strip() != "...":
                assert expected.strip() in proc.stdout, (
                    f"{where}: {command!r} did not print {expected.strip()!r}:\n{proc.stdout}")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_markdown_examples_run(path: Path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    found = list(blocks(path))
    for k, (lang, info, code, line) in enumerate(found):
        where = f"{path.name}:{line}"
        if "no-run" in info:
            continue
        if lang == "python":
            if code.lstrip().startswith(">>>"):
                run_doctest(code, namespace, where)
            else:
                printed = run_python(code, namespace, where)
                nxt = found[k + 1] if k + 1 < len(found) else None
                if nxt and nxt[0] == "text" and _adjacent(path, line, code, nxt[3]):
                    assert printed.strip() == nxt[2].strip(), f"{where}: printed\n{printed}"
        elif lang == "console":
            run_console(code, where)


def _adjacent(path: Path, line: int, code: str, next_line: int) -> bool:
    """True when the next block starts right after this one (blank lines aside)."""
    end = line + code.count("\n") + 1
    between = path.read_text(encoding="utf-8").splitlines()[end:next_line - 1]
    return all(not s.strip() for s in between)
