"""Versioned, machine-readable schemas of the files a result folder holds.

A result folder of ``stresstest run`` or ``stresstest compare`` carries its
format version as ``format_version`` in ``summary.json`` (a run) or
``compare.json`` (a comparison); that number holds for every file of the folder,
``variants/NAME/`` included. Parquet files also carry it in their key-value
metadata (:data:`PARQUET_VERSION_KEY`) when the installed polars can write it.
A folder without the key was written before versions existed: it is version 0
(legacy) and is read as before. The schemas (docs/results.md) are shipped in
this package:

- ``summary.schema.json``, ``compare.schema.json``, ``backtest.schema.json``:
  JSON Schema (draft 2020-12) of the JSON documents;
- ``tables/NAME.schema.json``: the columns of ``NAME.parquet`` with dtype, unit,
  description and when each is present (form: ``table.schema.json``).

:func:`validate_result_folder` checks a folder against them.
"""

from __future__ import annotations

from pathlib import Path

from stresstest.schemas.format import (
    FORMAT_KEY,
    FORMAT_VERSION,
    LEGACY_VERSION,
    PARQUET_VERSION_KEY,
    check_format_version,
    load_schema,
    parquet_metadata,
    schema_names,
)


def validate_result_folder(path: str | Path) -> None:
    """Check a result folder against the schemas (:mod:`stresstest.schemas.validate`).

    Imported on call: the writers of result folders import this package for the
    format version, and must not load polars before a run needs it.
    """
    from stresstest.schemas.validate import validate_result_folder as validate

    validate(path)


__all__ = [
    "FORMAT_KEY",
    "FORMAT_VERSION",
    "LEGACY_VERSION",
    "PARQUET_VERSION_KEY",
    "check_format_version",
    "load_schema",
    "parquet_metadata",
    "schema_names",
    "validate_result_folder",
]
