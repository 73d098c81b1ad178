"""Every code example in README.md and docs/ runs, and its shown output is checked.

Conventions for examples in Markdown:

* a ```python block written in ``>>>`` style is run as a doctest (output checked);
* a ```python block followed directly by a ```text block is run and its printed
  output must equal the text block;
* any other ```python block is run and must not raise;
* a ```console block holds ``$ symgrad ...`` commands; each is run in a subprocess
  and must exit 0, and the lines shown after it must appear in its output.

Blocks of one file share a namespace, in order, like cells of a notebook.
Blocks marked ```python torch are PyTorch code shown beside symgrad's: they run in
a namespace of their own when torch is installed (their ```text output checked the
same way) and are skipped otherwise.  Blocks marked ```python no-run are shown only;
unmarked fences (```) hold diagrams.  Any other language is an error, so no
example is skipped by a typo in its fence.
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


def run_console(code: str, where: str) -> int:
    commands: list[tuple[str, list[str]]] = []
    for line in code.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        elif commands and line.strip():
            commands[-1][1].append(line.rstrip())
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    ran = 0
    for command, shown in commands:
        argv = shlex.split(command, comments=True)
        if argv[0] != "symgrad":
            continue  # shell set-up lines (make, pip) are not re-run here
        ran += 1
        if argv[1:2] == ["diff"]:   # pure: in-process (a process per command was most of the time)
            rc, stdout, stderr = _in_process(argv[1:])
        else:
            proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300,
                                  cwd=ROOT)
            rc, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
        assert rc == 0, f"{where}: {command!r} failed:\n{stderr}"
        for expected in shown:
            if expected.strip() != "...":
                assert expected.strip() in stdout, (
                    f"{where}: {command!r} did not print {expected.strip()!r}:\n{stdout}")
    return ran


def _in_process(argv: list[str]) -> tuple[int, str, str]:
    """``symgrad <argv>`` through :func:`symgrad.cli.main`: (status, stdout, stderr)."""
    import contextlib
    import io

    from symgrad import cli
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = cli.main(argv)
        except SystemExit as exc:   # argparse
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


LANGUAGES = {"python", "console", "text", ""}


def _have_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def check_markdown(path: Path) -> int:
    """Run every example of ``path`` (in the current directory); the number run.

    Raises AssertionError naming ``file:line`` for the first example that fails
    or whose shown output differs.
    """
    namespace: dict = {"__name__": "__docs__"}
    torch_namespace: dict = {"__name__": "__docs_torch__"}
    found = list(blocks(path))
    ran = 0
    for k, (lang, info, code, line) in enumerate(found):
        where = f"{path.name}:{line}"
        assert lang in LANGUAGES, (f"{where}: unknown code block language {lang!r}; use "
                                   f"one of {sorted(LANGUAGES)} so the docs test runs it")
        if "no-run" in info:
            continue
        if lang == "python":
            ns = namespace
            if "torch" in info.split():
                if not _have_torch():
                    continue
                ns = torch_namespace
            if code.lstrip().startswith(">>>"):
                run_doctest(code, ns, where)
            else:
                printed = run_python(code, ns, where)
                nxt = found[k + 1] if k + 1 < len(found) else None
                if nxt and nxt[0] == "text" and _adjacent(path, line, code, nxt[3]):
                    assert printed.strip() == nxt[2].strip(), (
                        f"{where}: printed\n{printed}\nbut the page shows\n{nxt[2]}")
            ran += 1
        elif lang == "console":
            ran += run_console(code, where)
    return ran


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_markdown_examples_run(path: Path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check_markdown(path)


# ------------------------------------------------------------------ the harness itself
GOOD = """# page

```python
>>> x = 1 + 1
>>> x
2

```

```python
print(x * 3)
```

```text
6
```

```console
$ symgrad diff "x**2"
df/dx = 2*x
```
"""


def _page(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "page.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_harness_runs_every_kind_of_block(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert check_markdown(_page(tmp_path, GOOD)) == 3


@pytest.mark.parametrize("good,bad", [
    (">>> x\n2\n", ">>> x\n3\n"),                       # doctest output
    ("```text\n6\n```", "```text\n7\n```"),           # printed output
    ("df/dx = 2*x", "df/dx = 3*x"),                       # console output
    ('$ symgrad diff "x**2"', '$ symgrad diff "x**"'),    # console exit status
    ("print(x * 3)", "print(x * 3); 1 / 0"),              # a block that raises
    ("```python\nprint", "```pyhton\nprint"),            # a misspelt language
])
def test_harness_fails_when_a_shown_output_is_wrong(good, bad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert good in GOOD
    with pytest.raises((AssertionError, ZeroDivisionError), match=r"page\.md:\d+|division"):
        check_markdown(_page(tmp_path, GOOD.replace(good, bad, 1)))


def test_harness_checks_torch_blocks_when_torch_is_installed(tmp_path, monkeypatch):
    pytest.importorskip("torch", reason="torch not installed (optional test oracle)")
    monkeypatch.chdir(tmp_path)
    page = ("```python torch\nimport torch\nprint(torch.tensor([5.0]) * 2)\n```\n\n"
            "```text\ntensor([10.])\n```\n")
    assert check_markdown(_page(tmp_path, page)) == 1
    with pytest.raises(AssertionError, match="page.md:1"):
        check_markdown(_page(tmp_path, page.replace("10.", "11.")))


def _adjacent(path: Path, line: int, code: str, next_line: int) -> bool:
    """True when the next block starts right after this one (blank lines aside)."""
    end = line + code.count("\n") + 1
    between = path.read_text(encoding="utf-8").splitlines()[end:next_line - 1]
    return all(not s.strip() for s in between)
