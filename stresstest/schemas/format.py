"""Format version of result folders, and the shipped schemas by name (see the package doc)."""

from __future__ import annotations

import functools
import inspect
import json
from importlib import resources
from pathlib import Path
from typing import Any

from stresstest.errors import InputError

#: The format of the result folders this stresstest writes, and the newest it reads.
FORMAT_VERSION = 3
#: Key of the version in summary.json and compare.json.
FORMAT_KEY = "format_version"
#: Key of the version in a Parquet file's key-value metadata (a decimal string).
PARQUET_VERSION_KEY = "stresstest.format_version"
#: A folder whose JSON document has no version was written before versions existed.
LEGACY_VERSION = 0


def load_schema(name: str) -> dict[str, Any]:
    """A shipped schema by file name (``"summary.schema.json"``, ``"tables/paths.schema.json"``).

    Raises
    ------
    FileNotFoundError
        If no such schema is shipped (:func:`schema_names` lists them).
    """
    resource = resources.files("stresstest.schemas").joinpath(*name.split("/"))
    return json.loads(resource.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def schema_names() -> list[str]:
    """Every shipped schema file, relative to this package, sorted."""
    root = resources.files("stresstest.schemas")
    names = [entry.name for entry in root.iterdir() if entry.name.endswith(".schema.json")]
    names += [
        f"tables/{entry.name}"
        for entry in root.joinpath("tables").iterdir()
        if entry.name.endswith(".schema.json")
    ]
    return sorted(names)


def check_format_version(document: dict[str, Any], path: Path) -> int:
    """The format version of a result document; refuse one newer than this stresstest reads.

    Parameters
    ----------
    document
        The parsed ``summary.json`` or ``compare.json``.
    path
        Its file, for the message.

    Returns
    -------
    int
        ``document["format_version"]``, or :data:`LEGACY_VERSION` (0) if absent.

    Raises
    ------
    InputError
        Naming the file, the key and the value, if the version is not a whole
        number from 1 to :data:`FORMAT_VERSION`.
    """
    if FORMAT_KEY not in document:
        return LEGACY_VERSION
    value = document[FORMAT_KEY]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(
            "not a format version",
            file=path,
            key=FORMAT_KEY,
            value=value,
            expected=f"a whole number from 1 to {FORMAT_VERSION}, or no key (legacy, version 0)",
        )
    if value > FORMAT_VERSION:
        raise InputError(
            "result folder written by a newer stresstest",
            file=path,
            key=FORMAT_KEY,
            value=value,
            expected=f"format_version at most {FORMAT_VERSION}, the newest this stresstest "
            "reads; upgrade stresstest to read this folder",
        )
    return value


@functools.cache
def _polars_writes_metadata() -> bool:
    """Whether this polars' ``DataFrame.write_parquet`` takes ``metadata`` (2.1.0 does)."""
    import polars as pl  # here, not at the top: `validate` plans a run without polars

    return "metadata" in inspect.signature(pl.DataFrame.write_parquet).parameters


def parquet_metadata() -> dict[str, str] | None:
    """Key-value metadata of every Parquet file of a result folder, or None if polars cannot.

    ``{PARQUET_VERSION_KEY: str(FORMAT_VERSION)}``; the JSON document of the folder
    carries the version in any case.
    """
    return {PARQUET_VERSION_KEY: str(FORMAT_VERSION)} if _polars_writes_metadata() else None
