"""The referee against realistic planted bugs (verify.mutate.MUTANTS, verify.selftest).

(a) every mutant applies and restores exactly, exceptions included;
(b) every mutant is effective: its direct probe differs from the unpatched result;
(c) detection: the referee flags every mutant.  Classes today's referee cannot see
    are marked xfail (strict=False) in XFAIL_MUTANTS, with the reason; delete an entry
    once a pass catches it.  The ci run uses the quick referee (the sweep
    restricted to the mutant's ops, plus 3 random DAGs); SYMGRAD_PROFILE=thorough
    runs the full default ``symgrad verify`` per mutant.
"""
import argparse
import os

import pytest

import symgrad.autograd
import symgrad.lower_sympy
import symgrad.optim
from numeric.compile.templates import INLINE
from numeric.kernels import FORWARD
from numeric.vjps import VJP
from verify import selftest
from verify.mutate import CLASSES, MUTANTS, MUTANTS_BY_NAME, Mutant, _Patch, same
from verify.profiles import PROFILE_ENV

#: the mutants today's referee misses (issue 15: at least 95% must be flagged), and why;
#: remove an entry when a pass catches it.  Every other mutant must be flagged.
XFAIL_MUTANTS = {
    "erf_flush_tails": "erf' below 1e-22 (|x| > 7) is under the extremes pass's tolerance "
                       "floor; the full default run catches it at |x| in 5-7, the quick one "
                       "may not",
    "pow_base_zero_exponent": "d(x**y)/dx at x = 0, y = 0: SymPy's exact value is nan there "
                              "(0 * zoo), so the point is not judged",
    "pow_exponent_at_zero_base": "d(x**y)/dy at x = 0: SymPy's exact value is nan there",
    "erf_forward_flushed": "erf(x) = sign(x) for |x| > 3 is within float64 rounding of the "
                           "exact value for |x| > 6, and the forward pass rarely draws 3-6",
}
#: the referee must flag at least this fraction of the catalogue
MIN_DETECTION = 0.95

THOROUGH = os.environ.get(PROFILE_ENV) == "thorough"
REFEREE = selftest.full_referee if THOROUGH else selftest.quick_referee

_IDS = [m.name for m in MUTANTS]


def _tables():
    """Identity snapshot of every table and function a mutant may patch."""
    import numeric.rules.core  # noqa: F401
    snap = {"VJP": dict(VJP), "FORWARD": dict(FORWARD), "INLINE": dict(INLINE),
            "TO_SYMPY": dict(symgrad.lower_sympy.TO_SYMPY)}
    for mod, names in ((numeric.executor, ("_leaves", "unbroadcast", "backward")),
                       (symgrad.autograd, ("backward", "backward_scalar")),
                       (numeric.optim, ("sgd_step", "adam_step"))):
        for n in names:
            snap[f"{mod.__name__}.{n}"] = getattr(mod, n)
    for cls in (symgrad.optim.SGD, symgrad.optim.Adam):
        snap[f"{cls.__name__}._rule"] = vars(cls)["_rule"]
    return snap


def _same_tables(a, b):
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, dict):
            if x.keys() != y.keys() or any(x[i] is not y[i] for i in x):
                return False
        elif x is not y:
            return False
    return True


def test_catalogue_size_and_classes():
    assert len(MUTANTS) >= 100
    assert {m.cls for m in MUTANTS} == set(CLASSES)
    assert len(MUTANTS_BY_NAME) == len(MUTANTS)
    assert set(XFAIL_MUTANTS) <= set(MUTANTS_BY_NAME)
    assert 1 - len(XFAIL_MUTANTS) / len(MUTANTS) >= MIN_DETECTION
    for m in MUTANTS:
        assert m.ops and m.description and m.patches, m.name


# ------------------------------------------------------------------ (a) apply and restore

@pytest.mark.parametrize("m", MUTANTS, ids=_IDS)
def test_mutant_restores_exactly(m):
    before = _tables()
    with m:
        assert m.applied
        assert not _same_tables(before, _tables()), f"{m.name} patched none of the tables"
    assert not m.applied
    assert _same_tables(before, _tables())
    with pytest.raises(ZeroDivisionError):
        with m:
            1 / 0
    assert _same_tables(before, _tables())
    m.apply()                       # the apply()/restore() form
    m.restore()
    m.restore()                     # idempotent
    assert _same_tables(before, _tables())


def test_failed_apply_restores_what_was_patched():
    before = _tables()
    from numeric.ops import Op

    def boom(old):
        raise RuntimeError("no")
    m = Mutant("broken", "everywhere", "a patch that fails", [
        _Patch(VJP, Op.EXP, lambda old: (lambda g, out, x: g,)), _Patch(VJP, Op.SIN, boom)],
        probe=lambda: 0)
    with pytest.raises(RuntimeError):
        m.apply()
    assert not m.applied and _same_tables(before, _tables())


def test_applying_twice_is_refused():
    m = MUTANTS[0]
    with m:
        with pytest.raises(RuntimeError, match="already applied"):
            m.apply()


# ------------------------------------------------------------------ (b) effective

@pytest.mark.parametrize("m", MUTANTS, ids=_IDS)
def test_mutant_is_effective(m):
    base = m.run_probe()
    assert not isinstance(base, str), f"{m.name}: the unpatched probe raised: {base}"
    with m:
        got = m.run_probe()
    assert not same(base, got), f"{m.name} changes nothing its probe can see"
    assert same(base, m.run_probe()), f"{m.name} left its effect behind"


# ------------------------------------------------------------------ (c) detection

def _detection_params():
    out = []
    for m in MUTANTS:
        reason = XFAIL_MUTANTS.get(m.name)
        marks = [pytest.mark.xfail(strict=False, reason=reason)] if reason else []
        out.append(pytest.param(m, marks=marks, id=m.name))
    return out


@pytest.mark.parametrize("m", _detection_params())
def test_referee_flags_mutant(m):
    with m:
        flagged = REFEREE(m)
    assert flagged, f"{m.name} ({m.cls}: {m.description}) was not flagged"


def test_referee_is_clean_without_mutants():
    assert not selftest.referee(["mul", "exp"], examples=6)


# ------------------------------------------------------------------ the harness and the CLI

def test_run_and_table():
    ms = [MUTANTS_BY_NAME["sin_vjp_sign"], MUTANTS_BY_NAME["relu_kink_at_zero"]]
    results = selftest.run(ms, verify=lambda m: m.cls == "everywhere")
    assert [(r.flagged, r.effective) for r in results] == [(True, True), (False, True)]
    assert selftest.summary(results) == {"kink": (0, 1), "everywhere": (1, 1), "all": (1, 2)}
    text = "\n".join(selftest.table(results))
    assert "everywhere" in text and "missed: relu_kink_at_zero" in text


def test_a_raising_referee_counts_as_flagged():
    def crash(m):
        raise ValueError("boom")
    (r,) = selftest.run([MUTANTS_BY_NAME["sin_vjp_sign"]], verify=crash, probe=False)
    assert r.flagged and r.error == "ValueError: boom"


def test_cli_self_test_prints_the_table(monkeypatch, capsys):
    from verify.cli import add_parser, run
    monkeypatch.setattr(selftest, "MUTANTS", [MUTANTS_BY_NAME["sin_vjp_sign"],
                                              MUTANTS_BY_NAME["pow_base_zero_exponent"]])
    monkeypatch.setattr(selftest, "full_referee", selftest.quick_referee)
    p = argparse.ArgumentParser(prog="symgrad")
    add_parser(p.add_subparsers())
    assert run(p.parse_args(["verify", "--self-test"])) == 1      # pow at 0 is missed today
    out = capsys.readouterr().out
    assert "everywhere" in out and "100%" in out and "missed: pow_base_zero_exponent" in out
