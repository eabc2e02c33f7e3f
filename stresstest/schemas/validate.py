"""Check a result folder against the shipped schemas: every file, column, dtype and version.

The Parquet files are checked by hand against ``tables/NAME.schema.json``
(names, order, dtypes, nulls, the condition under which each column is present,
the version in the key-value metadata). The JSON documents are checked with
``jsonschema`` (Draft 2020-12) when it is installed (the ``test`` extra installs
it); without it only their required top-level keys and their version are
checked, so the package itself needs nothing beyond its dependencies.
"""

from __future__ import annotations

import copy
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from stresstest.errors import InputError
from stresstest.schemas.format import (
    FORMAT_KEY,
    LEGACY_VERSION,
    PARQUET_VERSION_KEY,
    check_format_version,
    load_schema,
)

#: Parquet files of a run folder (``stresstest run``, or ``variants/NAME/`` of a comparison).
RUN_TABLES = (
    "paths",
    "fund_quantiles",
    "price_quantiles",
    "liquidation_quantiles",
    "liquidated_notional_quantiles",
    "sample_paths",
    "reference_paths",
    "attribution",
    "attribution_steps",
)
#: Parquet files of a comparison folder (beside its ``variants/NAME/`` run folders).
COMPARE_TABLES = ("compare", "differences")
#: Parquet files of a ``stresstest backtest`` folder.
BACKTEST_TABLES = ("windows",)
SCENARIO_FILE = "scenario.resolved.toml"
BACKTEST_FILE = "backtest.json"
#: Longest excerpt of a JSON Schema error message kept in the one-line error.
_MESSAGE_CHARS = 200
_RESULT_FILES = "summary.json (a run), compare.json (a comparison) or backtest.json (a backtest)"


@dataclass(frozen=True)
class Conditions:
    """What decides whether an optional column is present (``required_when``).

    Attributes
    ----------
    tables
        Top-level tables of the folder's ``scenario.resolved.toml``.
    accounts
        Whether the result is of an accounts scenario (docs/model.md 11).
    files
        Names of the files the folder holds.
    keys
        ``table.key`` of every key of the folder's ``scenario.resolved.toml``.
    """

    tables: frozenset[str] = frozenset()
    accounts: bool = False
    files: frozenset[str] = frozenset()
    keys: frozenset[str] = frozenset()

    def holds(self, condition: dict[str, Any] | None) -> bool:
        """Whether a column with this ``required_when`` must be present (``None``: always)."""
        if condition is None:
            return True
        if "scenario_table" in condition:
            return condition["scenario_table"] in self.tables
        if "scenario_key" in condition:
            return condition["scenario_key"] in self.keys
        if "accounts" in condition:
            return self.accounts
        if "file" in condition:
            return condition["file"] in self.files
        raise ValueError(f"unknown required_when {condition!r} in a shipped table schema")


def validate_result_folder(path: str | Path) -> None:
    """Check a result folder of ``run``, ``compare`` or ``backtest`` against the schemas.

    A folder with ``compare.json`` is a comparison (its ``variants/NAME/`` are run
    folders), one with ``summary.json`` a run, one with ``backtest.json`` (and no
    other document) a backtest. A folder without ``format_version`` is checked as
    legacy (version 0): the same layout, without the version.

    Raises
    ------
    InputError
        On the first problem, naming the file, the column or key, the value
        found and what is valid: a missing or unexpected file, column or key, a
        wrong dtype, a null where none is allowed, a column present without its
        stage (or missing with it), or a format version newer than this
        stresstest knows.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(
            "result folder not found", file=folder, expected=f"a folder holding {_RESULT_FILES}"
        )
    if (folder / "compare.json").is_file():
        _validate_compare(folder)
    elif (folder / "summary.json").is_file():
        _validate_run(folder, folder_version=None)
    elif (folder / BACKTEST_FILE).is_file():
        _validate_backtest(folder)
    else:
        raise InputError(
            "not a result folder", file=folder, expected=f"a folder holding {_RESULT_FILES}"
        )


# ----------------------------------------------------------------------------- folders
def _validate_run(folder: Path, folder_version: int | None) -> None:
    """A run folder; ``folder_version`` is the comparison's when it is ``variants/NAME/``."""
    summary_path = folder / "summary.json"
    summary = _read_json(summary_path)
    version = check_format_version(summary, summary_path)
    if folder_version is not None and version != folder_version:
        raise InputError(
            "format version differs from the comparison's compare.json",
            file=summary_path,
            key=FORMAT_KEY,
            value=summary.get(FORMAT_KEY),
            expected=f"the version of compare.json ({folder_version})",
        )
    check_document(summary, "summary.schema.json", summary_path, version)
    scenario = _read_toml(folder / SCENARIO_FILE)
    book = summary.get("book")
    files = _check_layout(
        folder,
        allowed={f"{name}.parquet" for name in RUN_TABLES}
        | {"summary.json", SCENARIO_FILE}
        | {BACKTEST_FILE},
    )
    conditions = Conditions(
        tables=frozenset(scenario),
        accounts=isinstance(book, dict) and "collateral" in book,
        files=files,
        keys=frozenset(
            f"{table}.{key}"
            for table, values in scenario.items()
            if isinstance(values, dict)
            for key in values
        ),
    )
    heights = _check_tables(folder, RUN_TABLES, conditions, version)
    if BACKTEST_FILE in files:
        path = folder / BACKTEST_FILE
        check_document(_read_json(path), "backtest.schema.json", path, version)
    _check_attribution_files(summary, summary_path, files)
    paths_file = folder / "paths.parquet"
    metric_columns = sorted(name for name in pl.read_parquet_schema(paths_file) if name != "path")
    if metric_columns != sorted(summary["metrics"]):
        raise InputError(
            "metrics differ from the columns of paths.parquet",
            file=summary_path,
            key="metrics",
            value=sorted(summary["metrics"]),
            expected=f"one entry per metric column of paths.parquet: {metric_columns}",
        )
    if heights["paths"] != summary["n_paths"]:
        raise InputError(
            "row count differs from summary.json n_paths",
            file=paths_file,
            value=heights["paths"],
            expected=f"{summary['n_paths']} rows, one per path",
        )


def _check_attribution_files(summary: dict[str, Any], path: Path, files: frozenset[str]) -> None:
    """The attribution files are there exactly when summary.json says the run has them."""
    available = bool(summary.get("attribution", {}).get("available", False))
    for name in ("attribution.parquet", "attribution_steps.parquet"):
        if (name in files) != available:
            raise InputError(
                f"{name} {'missing' if available else 'present'} while summary.json says "
                f"attribution.available = {str(available).lower()}",
                file=path,
                key="attribution.available",
                value=available,
                expected=f"{name} exactly when the attribution is available",
            )


def _validate_compare(folder: Path) -> None:
    document_path = folder / "compare.json"
    document = _read_json(document_path)
    version = check_format_version(document, document_path)
    check_document(document, "compare.schema.json", document_path, version)
    resolved = _read_toml(folder / SCENARIO_FILE)
    files = _check_layout(
        folder,
        allowed={f"{name}.parquet" for name in COMPARE_TABLES}
        | {"compare.json", SCENARIO_FILE, BACKTEST_FILE},
        folders={"variants"},
    )
    variants = [variant["name"] for variant in document["variants"]]
    conditions = Conditions(
        tables=frozenset(resolved),  # [procyclicality]: its compare.parquet columns
        accounts=any("accounts_mode" in variant for variant in document["variants"]),
        files=files,
    )
    _check_tables(folder, COMPARE_TABLES, conditions, version)
    if BACKTEST_FILE in files:
        path = folder / BACKTEST_FILE
        check_document(_read_json(path), "backtest.schema.json", path, version)
    table = folder / "compare.parquet"
    found = pl.read_parquet(table, columns=["variant"])["variant"].to_list()
    if found != variants:
        raise InputError(
            "variants differ from compare.json",
            file=table,
            key="variant",
            value=found,
            expected=f"one row per variant of compare.json, in its order: {variants}",
        )
    variants_dir = folder / "variants"
    on_disk = (
        sorted(entry.name for entry in variants_dir.iterdir()) if variants_dir.is_dir() else []
    )
    if on_disk != sorted(variants):
        raise InputError(
            "variant folders differ from compare.json",
            file=variants_dir,
            value=on_disk,
            expected=f"one run folder variants/NAME/ per variant: {sorted(variants)}",
        )
    for name in variants:
        _validate_run(variants_dir / name, folder_version=version)


def _validate_backtest(folder: Path) -> None:
    path = folder / BACKTEST_FILE
    document = _read_json(path)
    check_document(document, "backtest.schema.json", path, LEGACY_VERSION)
    files = _check_layout(folder, allowed={BACKTEST_FILE, "windows.parquet"})
    heights = _check_tables(folder, BACKTEST_TABLES, Conditions(files=files), None)
    if heights["windows"] != document["windows"]:
        raise InputError(
            "row count differs from backtest.json windows",
            file=folder / "windows.parquet",
            value=heights["windows"],
            expected=f"{document['windows']} rows, one per window",
        )


def _check_layout(
    folder: Path, allowed: set[str], folders: set[str] | None = None
) -> frozenset[str]:
    """The files of ``folder``; refuse an entry that is not one of ``allowed`` or ``folders``.

    Hidden entries (the manifest ``.stresstest-manifest.json``) are not part of the layout.
    """
    files = set()
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and entry.name in (folders or set()):
            continue
        if not (entry.is_file() and entry.name in allowed):
            raise InputError(
                "unexpected entry in a result folder",
                file=entry,
                expected=f"only {sorted(allowed | (folders or set()))} (docs/results.md)",
            )
        files.add(entry.name)
    return frozenset(files)


# ----------------------------------------------------------------------------- JSON
def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError("missing file", file=path, expected="a file written by stresstest")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError("unreadable JSON", file=path, value=str(error)) from None
    if not isinstance(data, dict):
        raise InputError("not a JSON object", file=path, expected="a JSON object")
    return data


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError("missing file", file=path, expected="a file written by stresstest")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise InputError("unreadable TOML", file=path, value=str(error)) from None


def check_document(document: dict[str, Any], schema_name: str, path: Path, version: int) -> None:
    """Check a JSON document against a shipped JSON Schema.

    A legacy document (``version`` 0) is checked without requiring ``format_version``.
    With ``jsonschema`` installed the whole schema is applied; without it, only
    the schema's required top-level keys.

    Raises
    ------
    InputError
        Naming the file, the dotted key of the first mismatch and the schema.
    """
    schema = load_schema(schema_name)
    if version == LEGACY_VERSION:
        schema = copy.deepcopy(schema)
        schema["required"] = [key for key in schema["required"] if key != FORMAT_KEY]
    try:
        import jsonschema  # type: ignore[import-untyped]
    except ImportError:
        for key in schema["required"]:
            if key not in document:
                raise InputError("missing key", file=path, key=key, expected=schema_name) from None
        return
    errors = jsonschema.Draft202012Validator(schema).iter_errors(document)
    first = min(errors, key=lambda error: list(map(str, error.absolute_path)), default=None)
    if first is not None:
        message = first.message.splitlines()[0]
        if len(message) > _MESSAGE_CHARS:
            message = message[:_MESSAGE_CHARS] + "..."
        key = ".".join(str(part) for part in first.absolute_path)
        raise InputError(
            f"does not match {schema_name}: {message}",
            file=path,
            key=key or None,
            expected=f"a document valid against stresstest/schemas/{schema_name}",
        )


# ----------------------------------------------------------------------------- Parquet
def _check_tables(
    folder: Path, names: tuple[str, ...], conditions: Conditions, version: int | None
) -> dict[str, int]:
    """Check every table of ``names`` present (refusing a missing required one); rows by name."""
    heights = {}
    for name in names:
        schema = load_schema(f"tables/{name}.schema.json")
        path = folder / schema["title"]
        if not path.exists():
            if schema["file_present"] == "always":
                raise InputError("missing file", file=path, expected="a file written by stresstest")
            continue
        heights[name] = check_table(path, schema, conditions, version)
    return heights


def check_table(
    path: Path, schema: dict[str, Any], conditions: Conditions, version: int | None
) -> int:
    """Check one Parquet file against its table schema; return its row count.

    Parameters
    ----------
    path
        The Parquet file.
    schema
        Its ``tables/NAME.schema.json``.
    conditions
        What decides which optional columns must be present.
    version
        The folder's format version; the file's key-value metadata, if it holds
        one, must agree. ``None``: not checked (a backtest folder).
    """
    name = f"tables/{Path(schema['title']).stem}.schema.json"
    try:
        found = dict(pl.read_parquet_schema(path))
        metadata = pl.read_parquet_metadata(path) if hasattr(pl, "read_parquet_metadata") else {}
        nulls = pl.scan_parquet(path).null_count().collect().row(0, named=True)
        height = int(pl.scan_parquet(path).select(pl.len()).collect().item())
    except (OSError, pl.exceptions.PolarsError) as error:
        raise InputError(
            "unreadable Parquet", file=path, value=str(error).splitlines()[0]
        ) from None
    columns = {column["name"]: column for column in schema["columns"]}
    for column_name in found:
        if column_name not in columns:
            raise InputError(
                "unexpected column", file=path, key=column_name, expected=f"the columns of {name}"
            )
    expected = [
        column["name"] for column in schema["columns"] if conditions.holds(column["required_when"])
    ]
    for column_name in expected:
        if column_name not in found:
            raise InputError(
                "missing column",
                file=path,
                key=column_name,
                expected=f"{_condition_words(columns[column_name]['required_when'])} ({name})",
            )
    for column_name in found:
        if column_name not in expected:
            raise InputError(
                "column present without its condition",
                file=path,
                key=column_name,
                expected=f"{_condition_words(columns[column_name]['required_when'])} ({name})",
            )
    if list(found) != expected:
        raise InputError(
            "columns out of order", file=path, value=list(found), expected=f"{expected} ({name})"
        )
    for column_name, dtype in found.items():
        column = columns[column_name]
        nullable = bool(column.get("nullable", False))
        if dtype_name(dtype) != column["dtype"] and not (nullable and dtype == pl.Null):
            raise InputError(
                "wrong column dtype",
                file=path,
                key=column_name,
                value=dtype_name(dtype),
                expected=f"{column['dtype']}{' (or Null when all null)' if nullable else ''} "
                f"({name})",
            )
        if nulls[column_name] and not nullable:
            raise InputError(
                "null values",
                file=path,
                key=column_name,
                value=nulls[column_name],
                expected=f"no nulls in this column ({name})",
            )
    stored = metadata.get(PARQUET_VERSION_KEY)
    if version is not None and stored is not None and stored != str(version):
        raise InputError(
            "format version in the Parquet metadata differs from the folder's",
            file=path,
            key=PARQUET_VERSION_KEY,
            value=stored,
            expected=f"{version}, the format_version of the folder's JSON document",
        )
    return height


def dtype_name(dtype: pl.DataType) -> str:
    """A dtype as the table schemas name it: polars' name, ``Datetime[ms]`` for naive datetimes."""
    if isinstance(dtype, pl.Datetime):
        zone = "" if dtype.time_zone is None else f", {dtype.time_zone}"
        return f"Datetime[{dtype.time_unit}{zone}]"
    return str(dtype)


def _condition_words(condition: dict[str, Any] | None) -> str:
    """When a column is present, in words."""
    if condition is None:
        return "present in every file"
    if "scenario_table" in condition:
        return f"present exactly when scenario.resolved.toml has [{condition['scenario_table']}]"
    if "scenario_key" in condition:
        return f"present exactly when scenario.resolved.toml sets {condition['scenario_key']}"
    if "accounts" in condition:
        return "present exactly in results of an accounts scenario"
    return f"present exactly when the folder holds {condition['file']}"
