"""Shell completion of the command line's arguments (``stresstest --install-completion``).

Typer replaces a path argument's file completion by the function given as
``autocompletion=``, so these functions offer the files and folders themselves:
the shipped scenario names (:func:`~stresstest.scenario.embedded.resolve_scenario`
takes them) and the ``.toml`` files and folders that start with what was typed;
result folders for ``report``. Lean: only :mod:`pathlib` and the shipped folder's
listing, so completing costs no start-up time.
"""

from __future__ import annotations

from pathlib import Path

from stresstest.scenario.embedded import shipped_scenario_names


def _entries(incomplete: str, suffix: str | None) -> list[str]:
    """Folders (with a trailing ``/``) and files ending in ``suffix`` that start with
    ``incomplete``, relative as typed; hidden ones only when a ``.`` was typed."""
    head, _, stem = incomplete.rpartition("/")
    prefix = incomplete[: len(incomplete) - len(stem)]  # as typed, with its trailing "/"
    folder = Path(head + "/") if prefix else Path()
    try:
        children = sorted(folder.iterdir())
    except OSError:  # not a folder, unreadable, gone: nothing to offer
        return []
    found = []
    for child in children:
        if not child.name.startswith(stem) or (child.name.startswith(".") and not stem):
            continue
        shown = prefix + child.name
        if child.is_dir():
            found.append(shown + "/")
        elif suffix is None or child.name.endswith(suffix):
            found.append(shown)
    return found


def complete_scenario(incomplete: str) -> list[str]:
    """A SCENARIO argument: shipped scenario names, then ``.toml`` files and folders.

    A name is offered only while no folder was typed (a path with a folder is never
    looked up by name).
    """
    names = [] if "/" in incomplete else shipped_scenario_names()
    return [name for name in names if name.startswith(incomplete)] + _entries(incomplete, ".toml")


def complete_result_folder(incomplete: str) -> list[str]:
    """``report``'s RESULT argument: folders, those under ``runs/`` first when nothing was
    typed (the default result folders of run and compare)."""
    found = _entries(incomplete, suffix="/")  # no file ends in "/": folders only
    if not incomplete and Path("runs").is_dir():
        found = _entries("runs/", suffix="/") + found
    return found
