"""Acceptance tests for issue 7: the symgrad command line, the picture of the graph,
training UX and the docs -- written from the issue text, through the public surface
(the ``symgrad`` console script, ``python -m symgrad``, ``import symgrad as sg``).

Most CLI checks run real subprocesses (started together where they are independent,
so the file stays fast); a few use ``symgrad.cli.main`` in-process where the
operating system gets in the way (a 200 000-character argument exceeds Linux's
per-argument limit).
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import symgrad as sg

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SYMGRAD = shutil.which("symgrad", path=str(BIN)) or shutil.which("symgrad")
HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz `dot` is not on PATH "
                                                    "(Debian: apt-get install graphviz)")
SEED_W, SEED_B = "2.1001044717024104", "0.7724390062968837"


def symgrad(*argv, cwd=None, env=None, timeout=120):
    """Run the installed ``symgrad`` console script; the CompletedProcess."""
    assert SYMGRAD, "the symgrad console script is not installed (pip install -e .)"
    return subprocess.run([SYMGRAD, *argv], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=timeout)


def symgrad_many(argvs, cwd=None, env=None, timeout=120):
    """Run several ``symgrad`` commands at once; their (returncode, stdout, stderr)."""
    procs = [subprocess.Popen([SYMGRAD, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=cwd, env=env) for argv in argvs]
    return [_finish(p, timeout) for p in procs]


def _finish(p, timeout):
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def in_process(*argv):
    """(status, stdout, stderr) of ``symgrad argv`` through ``symgrad.cli.main``."""
    from symgrad.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(list(argv))
        except SystemExit as exc:
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


def assert_bad_input(rc, err, contains=""):
    """Exit status 2, one line on stderr, no traceback."""
    assert rc == 2, (rc, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected a one-line message, got:\n{err}"
    assert contains.lower() in lines[0].lower(), lines[0]


# ================================================================ 1. the console script
def test_console_script_is_installed_and_lists_the_subcommands():
    proc = symgrad("--help")
    assert proc.returncode == 0
    for name in ("diff", "graph", "train", "verify", "demo"):
        assert name in proc.stdout


@pytest.mark.parametrize("argv", [["diff"], ["graph"], ["train"], ["train", "linear"],
                                  ["verify"], ["demo"]], ids=" ".join)
def test_help_on_every_subcommand(argv):
    proc = symgrad(*argv, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout and proc.stderr == ""


def test_help_of_diff_names_its_options():
    out = symgrad("diff", "--help").stdout
    for option in ("--wrt", "--at", "--order", "--latex", "--expand"):
        assert option in out


def test_help_of_train_names_its_options_and_defaults():
    out = symgrad("train", "--help").stdout
    for option in ("--data", "--epochs", "--lr", "--optimizer", "--compiled", "--plot",
                   "sgd", "adam", "100", "0.01"):
        assert option in out


def test_python_dash_m_symgrad_is_the_same_command():
    proc = subprocess.run([sys.executable, "-m", "symgrad", "diff", "x**2"],
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout.strip()) == (0, "df/dx = 2*x")


# ---------------------------------------------------------------- diff
def test_diff_wrt_gives_closed_form_partials():
    proc = symgrad("diff", "x**2*sin(y)", "--wrt", "x,y")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["df/dx = 2*x*sin(y)", "df/dy = x**2*cos(y)"]


def test_diff_at_evaluates_exactly_and_in_float64():
    proc = symgrad("diff", "x**2*sin(y)", "--wrt", "x,y", "--at", "x=1,y=2")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "2*sin(2)" in out and "1.8185948536513634" in out     # 2 sin 2 in float64
    assert "cos(2)" in out and "-0.4161468365471424" in out
    # rationals stay exact
    rc, out, _ = in_process("diff", "x**3", "--at", "x=1/3")
    assert rc == 0 and "exact 1/3" in out and "0.333333333333333" in out


def test_diff_order_gives_higher_derivatives_with_a_bound():
    rc, out, _ = in_process("diff", "x**3*y", "--wrt", "x", "--order", "2")
    assert rc == 0 and out.strip() == "d2f/dx2 = 6*x*y"
    rc, out, _ = in_process("diff", "exp(x*y)", "--order", "2")
    assert rc == 0 and len(out.splitlines()) == 3          # xx, xy, yy
    rc, out, _ = in_process("diff", "x**12", "--order", "10")
    assert rc == 0 and "239500800*x**2" in out
    for order in ("0", "-1", "11", "1000000", "99999999999999999999999"):
        rc, _, err = in_process("diff", "x", "--order", order)
        assert_bad_input(rc, err, "--order")


def test_diff_latex_and_expand():
    rc, out, _ = in_process("diff", "x**2*sin(y)", "--wrt", "y", "--latex")
    assert rc == 0 and "x^{2} \\cos{\\left(y \\right)}" in out and "\\partial" in out
    rc, out, _ = in_process("diff", "(x + 1)**3", "--expand")
    assert rc == 0 and out.strip() == "df/dx = 3*x**2 + 6*x + 3"


def test_diff_formula_starting_with_a_minus():
    proc = symgrad("diff", "-x**2")
    assert (proc.returncode, proc.stdout.strip()) == (0, "df/dx = -2*x"), proc.stderr


# ---------------------------------------------------------------- hostile input
HOSTILE = [
    "__import__('os').system('touch pwned')",
    "x.__class__",
    "x.__class__.__mro__",
    "lambda: 0",
    "x**10**10**10",
    "(" * 10_000 + "x" + ")" * 10_000,
    "",
    "   ",
    "x +",
    "sin(x",
    "eval('1')",
    "open('pwned', 'w')",
    "x; import os",
    "[x for x in y]",
    "'x'",
    "x if y else 2",
    "9**9**9",
    "x @@ y",
]


def test_hostile_expressions_exit_2_with_one_line_in_a_real_process(tmp_path):
    argvs = [["diff", expr] for expr in HOSTILE] + [["graph", expr] for expr in HOSTILE[:6]]
    for argv, (rc, out, err) in zip(argvs, symgrad_many(argvs, cwd=tmp_path)):
        assert_bad_input(rc, err)
        assert err.startswith("symgrad"), err
        assert out == "", argv
    assert list(tmp_path.iterdir()) == []        # nothing ran: no file was made


@pytest.mark.parametrize("expr", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_expressions_in_graph(expr, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for argv in (["graph", expr], ["graph", expr, "-o", "g.dot"], ["graph", expr, "--text"]):
        rc, out, err = in_process(*argv)
        assert_bad_input(rc, err)
        assert out == ""
    assert list(tmp_path.iterdir()) == []


def test_a_200000_character_formula_is_refused_in_one_line():
    # too long for one argv entry on Linux (128 KiB), so in-process
    for expr in ("x+" * 100_000, "x" * 200_000, "(" * 100_000 + "x" + ")" * 100_000):
        for cmd in ("diff", "graph"):
            start = time.perf_counter()
            rc, out, err = in_process(cmd, expr)
            assert time.perf_counter() - start < 5
            assert_bad_input(rc, err)
            assert out == ""


@pytest.mark.parametrize("argv,contains", [
    (["--at", "x=abc"], "--at"),
    (["--at", "x"], "--at"),
    (["--at", "x=1/0"], "--at"),
    (["--at", "x=nan"], "--at"),
    (["--at", "x=inf"], "--at"),
    (["--at", "x=__import__('os')"], "--at"),
    (["--at", "x=1,x=2"], "--at"),
    (["--at", "x=1"], "y"),                       # y has no value
    (["--at", "x=1,y=2,q=3"], "q"),               # q is not a variable
    (["--at", ""], "--at"),
    (["--wrt", "q"], "q"),                        # not a variable of the formula
    (["--wrt", "x,Y"], "Y"),
    (["--wrt", "x y"], "--wrt"),
    (["--wrt", "__class__"], "--wrt"),
    (["--wrt", ""], "--wrt"),
    (["--order", "abc"], "--order"),
    (["--bogus"], "--bogus"),
])
def test_bad_diff_options_exit_2_with_one_line(argv, contains):
    rc, out, err = in_process("diff", "x*y", *argv)
    assert_bad_input(rc, err, contains)
    assert out == ""


def test_bad_options_in_a_real_process():
    argvs = [["diff", "x*y", "--at", "x=abc,y=1"], ["diff", "x", "--wrt", "z"],
             ["diff", "x", "--order", "-1"], ["diff", "x", "--order", "10000000000000000000"],
             ["nosuchcommand"], [], ["train", "linear", "--lr", "-1"], ["train", "quadratic"]]
    for argv, (rc, out, err) in zip(argvs, symgrad_many(argvs)):
        assert_bad_input(rc, err)


def test_no_numpy_warning_reaches_stderr():
    proc = symgrad("diff", "log(0)*x", "--at", "x=1")
    assert proc.stderr == "" and proc.returncode == 0
    assert "inf" in proc.stdout


# ---------------------------------------------------------------- graph
def test_graph_prints_dot_by_default():
    proc = symgrad("graph", "x**2*sin(y)")
    assert proc.returncode == 0, proc.stderr
    dot = proc.stdout
    assert dot.lstrip().startswith("digraph") and dot.rstrip().endswith("}")
    assert "->" in dot and "sin" in dot.lower() and "mul" in dot.lower()


def test_graph_writes_a_dot_file(tmp_path):
    proc = symgrad("graph", "x**2*sin(y)", "-o", "g.dot", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "g.dot").read_text().lstrip().startswith("digraph")


@needs_dot
def test_graph_svg_is_valid_svg(tmp_path):
    proc = symgrad("graph", "x**2*sin(y)", "-o", "g.svg", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    root = ET.parse(tmp_path / "g.svg").getroot()
    assert root.tag in ("svg", "{http://www.w3.org/2000/svg}svg")
    texts = " ".join(t.text or "" for t in root.iter())
    assert "x" in texts and "y" in texts and "Sin" in texts


@needs_dot
def test_graph_png_has_the_png_magic_bytes(tmp_path):
    proc = symgrad("graph", "x**2*sin(y)", "-o", "g.png", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_graph_without_dot_on_path_says_how_to_get_it(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))      # an empty directory: no dot
    for name in ("g.svg", "g.png"):
        rc, out, err = _finish(subprocess.Popen(
            [SYMGRAD, "graph", "x**2*sin(y)", "-o", name], cwd=tmp_path, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), 60)
        assert rc != 0 and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
        assert "graphviz" in err.lower() and "dot" in err
        assert "apt-get install graphviz" in err or "graphviz.org" in err
        assert not (tmp_path / name).exists()
    # DOT needs nothing
    rc, _, err = _finish(subprocess.Popen([SYMGRAD, "graph", "x", "-o", "g.dot"], cwd=tmp_path,
                                          env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True), 60)
    assert rc == 0, err


@pytest.mark.parametrize("name", ["g.pdf", "g.txt", "g", "", "/nonexistent-dir/g.dot"])
def test_graph_bad_output_file_is_bad_input(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = in_process("graph", "x", "-o", name)
    assert_bad_input(rc, err)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- train linear
def test_train_linear_defaults_to_the_seed_and_prints_the_exact_optimum():
    proc = symgrad("train", "linear")           # stdout is a pipe: plain lines
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "\r" not in out and "█" not in out
    assert "Epoch [1/100], Loss: 29.0000" in out
    assert "Epoch [10/100], Loss: 0.1031" in out
    assert "Epoch [100/100], Loss: 0.0226" in out
    assert f"w = {SEED_W}" in out and f"b = {SEED_B}" in out
    assert re.search(r"w = 2\b", out) and re.search(r"b = 1\b", out)   # SymPy's optimum


def test_explicit_defaults_and_compiled_give_the_same_numbers():
    argvs = [["train", "linear", "--epochs", "100", "--lr", "0.01", "--optimizer", "sgd"],
             ["train", "linear", "--compiled"]]
    for rc, out, err in symgrad_many(argvs):
        assert rc == 0, err
        assert f"w = {SEED_W}" in out and f"b = {SEED_B}" in out


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--epochs", "-5"], ["--epochs", "ten"],
                                  ["--epochs", "1e9"], ["--lr", "0"], ["--lr", "nan"],
                                  ["--lr", "inf"], ["--optimizer", "rmsprop"],
                                  ["--plot", "loss.pdf"]], ids=" ".join)
def test_bad_train_options_exit_2_with_one_line(argv):
    rc, out, err = in_process("train", "linear", *argv)
    assert_bad_input(rc, err, argv[0])


def test_train_adam_and_epochs():
    rc, out, err = in_process("train", "linear", "--optimizer", "adam", "--lr", "0.1",
                              "--epochs", "300")
    assert rc == 0, err
    assert "Epoch [300/300]" in out
    w = float(re.search(r"w = ([-0-9.e]+)", out).group(1))
    assert abs(w - 2) < 1e-3


def test_train_on_a_csv(tmp_path):
    (tmp_path / "d.csv").write_text("x,y\n0,1\n1,3\n2,5.5\n")
    (tmp_path / "plain.csv").write_text("0,1\n1,3\n2,5.5\n")
    for name in ("d.csv", "plain.csv"):
        rc, out, err = in_process("train", "linear", "--data", str(tmp_path / name),
                                  "--epochs", "2000", "--lr", "0.05")
        assert rc == 0, err
        assert "9/4" in out and "11/12" in out          # exact least squares: w, b
        w = float(re.search(r"trained:\s+w = ([-0-9.e]+)", out).group(1))
        assert abs(w - 2.25) < 1e-6


@pytest.mark.parametrize("content", ["", "x,y\n", "x,y\n1,abc\n", "1,2,3\n4,5,6\n",
                                     "1\n2\n", "x,y\n1,nan\n", "\xff\xfe"])
def test_train_bad_csv_is_bad_input(content, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(content.encode("latin-1"))
    rc, out, err = in_process("train", "linear", "--data", str(path))
    assert_bad_input(rc, err, "bad.csv")


def test_train_missing_csv_is_bad_input_in_a_real_process(tmp_path):
    proc = symgrad("train", "linear", "--data", str(tmp_path / "missing.csv"))
    assert_bad_input(proc.returncode, proc.stderr, "missing.csv")


def test_train_progress_bar_on_a_terminal():
    pty = pytest.importorskip("pty")
    pid, fd = pty.fork()
    if pid == 0:   # the child: symgrad with stdout on a pseudo-terminal
        os.execv(SYMGRAD, [SYMGRAD, "train", "linear"])
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    out = b"".join(chunks).decode("utf-8", errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert "\r" in out.replace("\r\n", "\n")          # the bar redraws in place
    assert "100/100" in out and "0.0226" in out        # with the running loss
    assert "Epoch [10/100], Loss" not in out           # no plain lines on a terminal
    assert f"w = {SEED_W}" in out and re.search(r"w = 2\b", out)


def test_plot_without_matplotlib_names_the_extra(tmp_path):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("matplotlib is installed; see test_plot_writes_a_png")
    proc = symgrad("train", "linear", "--plot", "loss.png", cwd=tmp_path)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "pip install symgrad[plot]" in proc.stderr and "matplotlib" in proc.stderr
    assert not (tmp_path / "loss.png").exists()


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib not installed (symgrad[plot] extra)")
    proc = symgrad("train", "linear", "--plot", "loss.png", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- verify and demo
def test_verify_subcommand_runs_the_referee():
    proc = symgrad("verify", "--ops", "exp,sin", "--examples", "3", "--no-dags")
    assert proc.returncode == 0, proc.stderr
    assert "exp" in proc.stdout and "sin" in proc.stdout


@pytest.mark.parametrize("argv", [["--ops", "nosuchop"], ["--examples", "-1"],
                                  ["--examples", "abc"], ["--bogus"]], ids=" ".join)
def test_verify_bad_options_exit_2_with_one_line(argv):
    rc, out, err = in_process("verify", *argv)
    assert_bad_input(rc, err)


def test_symgrad_does_not_import_verify():
    code = ("import sys, symgrad, symgrad.cli, symgrad.graphviz, symgrad.train; "
            "print([m for m in sys.modules if m == 'verify' or m.startswith('verify.')])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "[]", proc.stderr


def test_demo_tours_the_seed_in_seconds():
    start = time.perf_counter()
    proc = symgrad("demo", timeout=60)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 30
    out = proc.stdout
    assert "tensor([10.])" in out and "tensor([1.])" in out          # numeric results
    assert "2*x" in out                                              # a closed form
    assert "AddBackward" in out and "MulBackward" in out and "└──" in out   # the graph
    assert "Epoch [100/100], Loss: 0.0226" in out and f"w = {SEED_W}" in out  # training
    assert "PASSED" in out or "passed" in out.lower()               # a verification


def test_make_demo_in_this_checkout_runs_the_tour():
    if shutil.which("make") is None or not (ROOT / ".venv" / ".installed").exists():
        pytest.skip("needs make and an installed .venv (make demo once)")
    proc = subprocess.run(["make", "-s", "demo"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"w = {SEED_W}" in proc.stdout


@pytest.mark.skipif(not os.environ.get("SYMGRAD_FRESH_CLONE"),
                    reason="set SYMGRAD_FRESH_CLONE=1: clones the repository and installs "
                           "it into a new venv (needs the package index)")
def test_make_demo_on_a_fresh_clone_finishes_in_under_a_minute(tmp_path):
    subprocess.run(["git", "clone", "-q", str(ROOT), str(tmp_path / "clone")], check=True)
    start = time.perf_counter()
    proc = subprocess.run(["make", "demo"], cwd=tmp_path / "clone", capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert time.perf_counter() - start < 60
    assert f"w = {SEED_W}" in proc.stdout


# ================================================================ 2. to_dot, print_graph
def test_to_dot_labels_ops_shapes_leaves_and_the_grad_fn_chain():
    x = sg.tensor([1.0, 2.0, 3.0], requires_grad=True, name="x")
    W = sg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], name="W")
    y = (W @ x).sum()
    dot = sg.to_dot(y)
    assert isinstance(dot, str) and dot.lstrip().startswith("digraph")
    assert "x" in dot and "W" in dot
    assert "requires_grad=True" in dot
    assert "(3,)" in dot and "(2, 3)" in dot and "(2,)" in dot       # shapes
    assert "SumBackward" in dot and "MatmulBackward" in dot          # grad_fn names
    assert type(y.grad_fn).__name__ in dot
    assert "AccumulateGrad" in dot                                   # as in PyTorch
    assert dot.count("->") >= 3
    # a graph without grad still draws, with plain op names
    plain = sg.to_dot(sg.tensor([1.0]) * 2)
    assert "mul" in plain.lower() and "->" in plain


@needs_dot
def test_dot_accepts_to_dot_output(tmp_path):
    x = sg.tensor([1.0], requires_grad=True, name="x")
    proc = subprocess.run(["dot", "-Tsvg"], input=sg.to_dot(sg.exp(x) * x + 1),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    ET.fromstring(proc.stdout)


def test_print_graph_prints_a_text_tree(capsys):
    x = sg.tensor([1.0, 2.0], requires_grad=True, name="x")
    y = sg.tensor([3.0, 4.0], name="y")
    w = (x + y) * 2
    assert sg.print_graph(w) is None
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("MulBackward")
    assert any("AddBackward" in s for s in lines)
    assert any("x" in s and "requires_grad=True" in s for s in lines)
    assert any("y" in s for s in lines) and "(2,)" in out


def test_print_graph_survives_a_deep_chain(capsys):
    x = sg.tensor([1.0], requires_grad=True, name="x")
    y = x
    for _ in range(5000):
        y = y + 1
    sg.print_graph(y)
    assert capsys.readouterr().out.count("AddBackward") == 5000
    assert sg.to_dot(y).count("AddBackward") == 5000


def test_to_dot_rejects_non_tensors():
    with pytest.raises(TypeError):
        sg.to_dot("x**2")


# ================================================================ 3. notebooks
def test_formulas_render_as_latex():
    x = sg.tensor([2.0], requires_grad=True, name="x")
    d = sg.diff(x ** 2 * sg.sin(x), x)
    latex = d._repr_latex_()
    assert latex.startswith("$") and latex.endswith("$") and "\\sin" in latex
    a, b = sg.symbol("a"), sg.symbol("b")
    for g in sg.gradient(a * b, [a, b]):
        assert g._repr_latex_().startswith("$")


def test_tensors_print_like_pytorch():
    assert repr(sg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(sg.tensor([[1.0, 2.0], [3.0, 4.0]])) == "tensor([[1., 2.],\n        [3., 4.]])"
    assert repr(sg.tensor([1.5])) == "tensor([1.5000])"
    assert repr(sg.tensor(3.0)) == "tensor(3.)"
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    assert re.fullmatch(r"tensor\(6\., grad_fn=<SumBackward\d*>\)", repr((x * 2).sum()))
    assert str(sg.tensor([1.0])) == "tensor([1.])"
    # a notebook shows repr, so a tensor must not claim LaTeX
    assert not hasattr(sg.tensor([1.0]), "_repr_latex_")


def test_tensor_repr_matches_torch():
    torch = pytest.importorskip("torch", reason="torch not installed (optional oracle)")
    for data in ([1.5], [0.1, 100.0, 1e-5], [[1.0, 2.0], [3.0, 4.0]], [], [-1.0, 2.5],
                 [float("nan"), float("inf")], [1, 2, 3]):
        assert repr(sg.tensor(data)) == repr(torch.tensor(data)), data


def test_summarised_tensor_repr_matches_torch():
    torch = pytest.importorskip("torch", reason="torch not installed (optional oracle)")
    for data in ([float(k) for k in range(2000)], [[float(20 * i + j) for j in range(20)]
                                                   for i in range(100)], list(range(2000))):
        assert repr(sg.tensor(data)) == repr(torch.tensor(data))


# ================================================================ 4. docs
PAGES = {
    "getting started": ("getting-started.md", ["torch", "sg.", "backward", "Epoch"]),
    "closed forms": ("closed-forms.md", ["matrix", "cse"]),
    "training": ("training.md", ["compile", "optim", "Adam"]),
    "verification": ("verification.md", ["policy", "strategies"]),
    "CLI": ("cli.md", ["symgrad diff", "symgrad graph", "symgrad train", "symgrad verify",
                       "symgrad demo", "Exit status"]),
    "performance": ("performance.md", ["python -m bench", "make bench"]),
    "architecture": ("architecture.md", ["numeric", "symgrad", "verify", "table"]),
    "API reference": ("api.md", ["sg.to_dot", "sg.print_graph", "sg.diff"]),
}


@pytest.mark.parametrize("topic", list(PAGES))
def test_every_docs_page_exists(topic):
    name, words = PAGES[topic]
    path = ROOT / "docs" / name
    assert path.exists(), f"docs/{name} ({topic}) is missing"
    text = path.read_text(encoding="utf-8").lower()
    found = [w for w in words if w.lower() in text]
    assert found, f"docs/{name} mentions none of {words}"
    assert name in (ROOT / "docs" / "index.md").read_text(encoding="utf-8")


def test_getting_started_shows_the_four_seed_examples_both_ways():
    text = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    for shown in ("tensor([10.])", "tensor([1.])", "AddBackward", "MulBackward",
                  "w = 2.100104570388794", f"w = {SEED_W}", "import torch"):
        assert shown in text


def test_the_docs_test_runs_every_markdown_file(monkeypatch, tmp_path):
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import test_docs
    finally:
        sys.path.remove(str(ROOT / "tests"))
    covered = {p.resolve() for p in test_docs.FILES}
    assert (ROOT / "README.md").resolve() in covered
    assert {p.resolve() for p in (ROOT / "docs").glob("*.md")} <= covered
    # and it fails when a shown output is wrong
    page = tmp_path / "page.md"
    page.write_text("```python\nprint(1 + 1)\n```\n\n```text\n3\n```\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AssertionError):
        test_docs.check_markdown(page)
    page.write_text("```python\n>>> 1 + 1\n3\n\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError):
        test_docs.check_markdown(page)


# ================================================================ 5. README
def _readme():
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_says_what_symgrad_is_in_three_sentences():
    intro = _readme().split("\n\n")[1]     # the paragraph under the title
    assert not intro.startswith(("```", "#"))
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", intro.strip()) if s]
    assert len(sentences) == 3, sentences


def test_readme_gives_exactly_the_two_commands():
    blocks = re.findall(r"```console\n(.*?)```", _readme(), re.S)
    setup = [line for b in blocks for line in b.splitlines()
             if line.startswith("$ ") and not line.startswith("$ symgrad")]
    assert setup == ["$ make demo", "$ make test"]


def test_readme_example_is_about_ten_lines_and_shows_the_three_paths():
    example = re.findall(r"```python\n(.*?)```", _readme(), re.S)[0]
    code = [s for s in example.splitlines() if s.startswith((">>>", "..."))]
    assert 5 <= len(code) <= 12
    text = "\n".join(code)
    assert "sg.diff" in text or "sg.gradient" in text       # exact (SymPy)
    assert "backward()" in text                              # numeric reverse mode
    assert "verify." in text                                 # the referee


def test_readme_links_into_docs():
    links = re.findall(r"\]\((docs/[^)#]+)", _readme())
    assert len(links) >= 3
    for link in links:
        assert (ROOT / link).exists(), link
