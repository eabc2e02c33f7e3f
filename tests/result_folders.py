"""Find the result folders a test wrote, and check them against the shipped schemas.

A result folder is one holding ``summary.json``, ``compare.json`` or
``backtest.json`` beside ``.stresstest-manifest.json``. Only folders that still
hold exactly what their manifest lists (no file added, removed or changed) are
checked: those are outputs as stresstest wrote them, while a folder a test
broke on purpose (to check an error message) no longer matches its manifest.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from stresstest.io.atomic import MANIFEST_NAME, manifest_entries
from stresstest.schemas import validate_result_folder

#: The JSON documents that make a folder with a manifest a result folder, in the order
#: validate_result_folder tries them.
DOCUMENTS = ("compare.json", "summary.json", "backtest.json")


def as_written(folder: Path) -> bool:
    """Whether ``folder`` holds exactly what its manifest lists, every file unchanged."""
    try:
        listed = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))["entries"]
        return bool(manifest_entries(folder) == listed)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def written_result_folders(root: Path) -> list[Path]:
    """Result folders below ``root`` (inclusive) as stresstest wrote them, sorted."""
    found = []
    for directory, _, files in os.walk(root):
        folder = Path(directory)
        documents = any(name in files for name in DOCUMENTS)
        if MANIFEST_NAME in files and documents and as_written(folder):
            found.append(folder)
    return sorted(found)


def signature(folder: Path) -> tuple[str, int, int]:
    """Identifies one writing of a folder: its path and its manifest's inode and mtime."""
    info = os.stat(folder / MANIFEST_NAME)
    return str(folder), info.st_ino, info.st_mtime_ns


def kind(folder: Path) -> str:
    """``compare``, ``run`` or ``backtest``, as :func:`stresstest.schemas.validate_result_folder`
    tells them apart (the first of :data:`DOCUMENTS` the folder holds)."""
    document = next(name for name in DOCUMENTS if (folder / name).is_file())
    return {"compare.json": "compare", "summary.json": "run", "backtest.json": "backtest"}[document]


def validate_written(
    root: Path,
    checked: set[tuple[str, int, int]] | None = None,
    kinds: dict[str, int] | None = None,
) -> int:
    """Validate every result folder below ``root`` not yet in ``checked``; return how many.

    ``kinds`` counts the folders validated by :func:`kind`.

    Raises
    ------
    stresstest.InputError
        From :func:`stresstest.schemas.validate_result_folder`, naming the file.
    """
    count = 0
    for folder in written_result_folders(root):
        key = signature(folder)
        if checked is not None:
            if key in checked:
                continue
            checked.add(key)  # before validating: a failure is reported once
        validate_result_folder(folder)
        count += 1
        if kinds is not None:
            kinds[kind(folder)] = kinds.get(kind(folder), 0) + 1
    return count
