"""Packaging metadata and public surface: the license is an SPDX string (PEP 639, no
deprecation warning on install) and ``sg.nn`` exports its API and nothing it merely uses."""
from __future__ import annotations

import __future__
import types
from pathlib import Path

import pytest

import symgrad as sg

ROOT = Path(__file__).resolve().parent.parent
NN_API = {"Module", "Parameter", "Linear", "Sequential", "ReLU", "Tanh", "MSELoss",
          "CrossEntropyLoss"}
# --- issue 13: nnkit
NN_API |= {"Identity", "Sigmoid", "GELU", "SiLU", "Softmax", "LogSoftmax", "LeakyReLU", "ELU",
           "Softplus", "Dropout", "LayerNorm", "BatchNorm1d", "BatchNorm2d", "Embedding",
           "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "ModuleList", "ModuleDict", "L1Loss",
           "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss", "NLLLoss", "KLDivLoss"}


def test_license_is_an_spdx_string_and_setuptools_accepts_it():
    tomllib = pytest.importorskip("tomllib")
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["license"] == "MIT"
    # SPDX strings need setuptools 77 (PEP 639); older ones reject or warn
    assert "setuptools>=77" in meta["build-system"]["requires"]


def _is_submodule_or_future(value) -> bool:
    """Submodules of sg.nn (none today) and ``from __future__ import annotations`` (a compiler
    directive that binds a name) are not exports."""
    if isinstance(value, __future__._Feature):
        return True
    return isinstance(value, types.ModuleType) and value.__name__.startswith("symgrad.nn.")


def test_nn_public_names_are_exactly_its_api():
    public = {n for n in dir(sg.nn)
              if not n.startswith("_") and not _is_submodule_or_future(getattr(sg.nn, n))}
    assert public == NN_API, (sorted(public - NN_API), sorted(NN_API - public))
    assert set(sg.nn.__all__) == NN_API
    ns: dict = {}
    exec("from symgrad.nn import *", ns)
    assert set(ns) - {"__builtins__"} == NN_API
