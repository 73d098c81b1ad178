"""Subcommands that packages above symgrad add to the ``symgrad`` command line.

Note [CLI plugins]
    Imports point one way, numeric <- symgrad <- verify, yet ``symgrad verify``
    runs the referee.  Rather than import verify from symgrad (a cycle dodged by a
    lazy import), symgrad reads the entry-point group ``symgrad.commands``: each
    entry names a subcommand and a module with ``add_parser(subparsers)`` (which
    sets ``func`` on its parser) and, optionally, ``tour()`` (a section of
    ``symgrad demo``).  verify registers itself in pyproject.toml.  A module is
    imported only when its subcommand runs, so ``symgrad diff`` does not pay for
    importing hypothesis.

>>> "verify" in commands()
True
"""
from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from types import ModuleType

GROUP = "symgrad.commands"


def commands() -> dict[str, EntryPoint]:
    """The plugin subcommands, by name, not yet imported."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def load(name: str) -> ModuleType:
    """Import the module of plugin subcommand ``name``."""
    return commands()[name].load()
