"""Start-up stays light: ``import symgrad`` and ``symgrad --help`` do not load SymPy (nor
hypothesis, scipy or verify); the first closed-form call does.  Each check runs a fresh
interpreter, since this process has imported everything already."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
HEAVY = ("sympy", "hypothesis", "scipy", "verify", "matplotlib", "dask", "distributed")


def _modules_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; which of HEAVY were imported at the end."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_symgrad_loads_no_heavy_module():
    loaded = _modules_after("import symgrad")
    assert not any(loaded.values()), f"import symgrad imports {[m for m in loaded if loaded[m]]}"


def test_first_closed_form_call_loads_sympy():
    code = ("import sys, symgrad as sg\n"
            "assert 'sympy' not in sys.modules\n"
            "x = sg.symbol('x')\n"
            "f = x ** 2\n"
            "assert 'sympy' not in sys.modules   # building the graph needs no SymPy\n"
            "assert str(sg.diff(f, x)) == '2*x'")
    loaded = _modules_after(code)
    assert loaded["sympy"] and not loaded["hypothesis"]


def test_numeric_work_loads_no_sympy():
    code = ("import symgrad as sg\n"
            "model = sg.nn.Sequential(sg.nn.Linear(3, 2, seed=0), sg.nn.Tanh())\n"
            "opt = sg.optim.SGD(model.parameters(), lr=0.1)\n"
            "x = sg.randn(4, 3)\n"
            "loss = model(x).pow(2).mean(); loss.backward(); opt.step()\n"
            "f = sg.compile(lambda a: (a * a).sum())\n"
            "a = sg.tensor([1.0, 2.0], requires_grad=True); f(a).backward()\n"
            "with sg.no_grad(): model(x)\n"
            "t = sg.parse('x**2*sin(y)'); sg.to_dot(t); sg.print_graph(t)\n"
            "repr(loss)")
    loaded = _modules_after(code)
    assert not any(loaded.values()), [m for m in loaded if loaded[m]]


@pytest.mark.parametrize("code", [
    "from symgrad import diff, gradient, hessian, jacobian, to_sympy, latex, lambdify",
    "import symgrad as sg; sg.latex",
    "import symgrad as sg; sg.to_sympy",
])
def test_lazy_names_load_sympy_on_access(code):
    assert _modules_after(code)["sympy"]


def test_lazy_names_are_listed_and_resolve():
    import symgrad as sg
    from symgrad import closed_form, printing
    for name, owner in [("diff", closed_form), ("gradient", closed_form),
                        ("hessian", closed_form), ("jacobian", closed_form),
                        ("to_sympy", closed_form), ("latex", printing), ("lambdify", printing)]:
        assert name in dir(sg)
        assert getattr(sg, name) is getattr(owner, name)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sg.nope


@pytest.mark.parametrize("argv", [["-m", "symgrad", "--help"],
                                  ["-c", "import sys; from symgrad.cli import main; "
                                         "sys.argv = ['symgrad', '--help']; main()"]])
def test_cli_help_loads_no_heavy_module(argv):
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "diff" in proc.stdout, proc.stderr[-2000:]
    imported = {line.split("|")[-1].strip().split(".")[0]
                for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_cli_diff_still_works():
    proc = subprocess.run([sys.executable, "-m", "symgrad", "diff", "x**3", "--at", "x=2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "3*x**2" in proc.stdout and "exact 12" in proc.stdout
