"""What makes a run reproducible: input file hashes and the resolved scenario."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from pathlib import Path
from typing import Any

from stresstest.errors import InputError
from stresstest.io.tables import file_signature, remember_digest, remembered_digest, unreadable
from stresstest.scenario import schema


def sha256_of(path: Path, *, key: str | None = None) -> str:
    """SHA-256 of a file's bytes, as hex.

    A data file the run has read (:func:`stresstest.io.tables.read_input`) and
    that still has the same device, inode, size and modification time gives the
    digest of the very bytes that were read, without reading it again; any other
    file is hashed now, and that digest is remembered the same way.

    Raises
    ------
    InputError
        If the file is missing (for instance removed during the run), a
        directory, a symbolic link loop or unreadable, naming the file and
        ``key`` (the scenario key that names it), never an ``OSError``.
    """
    try:
        with Path(path).open("rb") as handle:
            status = os.fstat(handle.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise InputError("not a regular file", file=path, key=key, expected="a data file")
            signature = file_signature(status)
            known = remembered_digest(path, signature)
            if known is not None:
                return known
            digest = hashlib.sha256()
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
            if file_signature(os.fstat(handle.fileno())) != signature:
                raise InputError(
                    "the file changed while it was hashed",
                    file=path,
                    key=key,
                    expected="a file nothing writes to during the run",
                )
    except OSError as error:
        raise unreadable(path, error, key=key) from None
    remember_digest(path, signature, digest.hexdigest())
    return digest.hexdigest()


def data_file_list(scenario: schema.Scenario) -> list[Path] | None:
    """Absolute paths of a multi-asset ``[paths] data`` list (one file per asset), else None.

    Relative names are taken from the scenario file's folder (the current
    folder without one), as the multi-asset path sources read them.
    """
    data = getattr(scenario.paths, "data", None)
    if not isinstance(data, list | tuple):
        return None
    file = scenario.source_file
    base = file.parent if file is not None else Path.cwd()
    # os.path.realpath is Path.resolve without its RuntimeError on a symbolic link loop
    return [Path(os.path.realpath(base / str(name))) for name in data]


def input_files(scenario: schema.Scenario) -> dict[str, Path]:
    """Every input file of a scenario, by dotted key (``paths.data[i]`` for a list of files)."""
    files: dict[str, Path] = {}
    for table in ("paths", "book"):
        config = getattr(scenario, table)
        for field in dataclasses.fields(config):
            if field.metadata.get("is_file") and getattr(config, field.name) is not None:
                files[f"{table}.{field.name}"] = getattr(config, field.name)
    for index, path in enumerate(data_file_list(scenario) or []):
        files[f"paths.data[{index}]"] = path
    return files


def check_input_hashes(scenario: schema.Scenario, provenance: Any, file: Path | None) -> None:
    """If the scenario carries ``[provenance.inputs]``, every input must still hash the same."""
    if provenance is None:
        return
    if not isinstance(provenance, dict):
        raise InputError("not a table", file=file, key="provenance", value=provenance)
    recorded = provenance.get("inputs", {})
    if not isinstance(recorded, dict):
        raise InputError("not a table", file=file, key="provenance.inputs", value=recorded)
    files = input_files(scenario)
    for key, expected_hash in recorded.items():
        if key not in files:
            continue
        actual = sha256_of(files[key], key=key)
        if actual != expected_hash:
            raise InputError(
                "input file changed since the run that recorded it",
                file=file,
                key=f"provenance.inputs.{key}",
                value=actual,
                expected=f"SHA-256 {expected_hash} of {files[key]}",
            )


def resolved_dict(
    scenario: schema.Scenario, version: str, paths_record: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The scenario with every default filled, absolute file paths and provenance.

    ``[provenance]`` holds the version, the input files' SHA-256 and the
    ``--set`` overrides that were applied (``overrides``, when there are any).

    ``paths_record`` is what the path source used (fitted parameters with their
    standard errors, data rows), written as ``[provenance.paths]``.
    """
    result: dict[str, Any] = {}
    tables = {
        "scenario": scenario.info,
        "paths": scenario.paths,
        "book": scenario.book,
        "margin": scenario.margin,
        "liquidation": scenario.liquidation,
        "insurance_fund": scenario.insurance_fund,
    }
    optional = ("oracle", "market", "partial_liquidation", "adl", "accounts", "attribution")
    for name in optional:
        if getattr(scenario, name) is not None:
            tables[name] = getattr(scenario, name)
    for name, config in tables.items():
        values = dataclasses.asdict(config)
        result[name] = {
            key: str(value) if isinstance(value, Path) else value
            for key, value in values.items()
            if value is not None  # TOML has no null: an absent optional key means its default
        }
    data_files = data_file_list(scenario)
    if data_files is not None:  # multi-asset candle files, absolute like every other file
        result["paths"]["data"] = [str(path) for path in data_files]
    result["provenance"] = {
        "stresstest_version": version,
        "inputs": {key: sha256_of(path, key=key) for key, path in input_files(scenario).items()},
    }
    if scenario.overrides:  # --set KEY=VALUE, already applied to the tables above
        result["provenance"]["overrides"] = list(scenario.overrides)
    if paths_record:
        result["provenance"]["paths"] = paths_record
    return result
