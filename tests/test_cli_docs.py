"""The reference docs stay complete: every public name is in docs/api.md, every docs page
is linked from docs/index.md, and the links of README.md and the user-guide pages resolve."""
from __future__ import annotations

import re
import types
from pathlib import Path

import pytest

import symgrad as sg
import verify
import verify.strategies

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def public_names(module, prefix):
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    return [f"{prefix}.{n}" for n in names
            if not isinstance(getattr(module, n), types.ModuleType)]


@pytest.mark.parametrize("module,prefix", [
    (sg, "sg"), (sg.optim, "sg.optim"), (sg.nn, "sg.nn"), (verify, "verify"),
    (verify.strategies, "verify.strategies"), (sg.func, "sg.func"),
], ids=["sg", "sg.optim", "sg.nn", "verify", "verify.strategies", "sg.func"])
def test_every_public_name_is_in_the_api_reference(module, prefix):
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    missing = [n for n in public_names(module, prefix)
               if f"`{n}(" not in text and f"`{n}`" not in text]
    assert not missing, f"add these to docs/api.md (name, signature, one line): {missing}"


def test_every_distributed_name_is_in_the_api_reference():
    pytest.importorskip("distributed", reason="sg.distributed needs the dask extra")
    test_every_public_name_is_in_the_api_reference(sg.distributed, "sg.distributed")


def test_index_links_every_docs_page():
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    linked = set(LINK.findall(text))
    pages = {p.name for p in DOCS.glob("*.md")} - {"index.md"}
    assert pages <= linked, f"docs/index.md does not link {sorted(pages - linked)}"


@pytest.mark.parametrize("page", ["README.md", "docs/index.md", "docs/getting-started.md",
                                  "docs/cli.md", "docs/api.md"])
def test_relative_links_resolve(page):
    path = ROOT / page
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if "://" in target:
            continue
        assert (path.parent / target).exists(), f"{page} links to missing {target}"


def test_readme_has_exactly_the_two_setup_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("```console\n", 1)[1].split("```", 1)[0]
    assert block.split("\n")[:2] == ["$ make demo", "$ make test"]
