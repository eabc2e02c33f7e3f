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
    for table in ("paths", "book", "lending"):  # [lending]: its gas and depth files
        config = getattr(scenario, table)
        if config is None:
            continue
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


def toml_strings(value: Any) -> list[str]:
    """Every string anywhere in a parsed TOML document, in document order."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in toml_strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in toml_strings(item)]
    return []


def inputs_digest(scenario_file: Path, version: str) -> str:
    """SHA-256 (hex) of everything a run of ``scenario_file`` starts from, without loading it.

    Hashed: the parsed TOML (so comments and layout do not count, every key and
    value does), the SHA-256 of every file a string of it names (relative to the
    file's folder: path and book files, ``compare.backtest_data``, ...) and
    ``version``. Reading and hashing only, no engine: the check that the shipped
    reports are current (docs/reports.md) costs milliseconds.
    """
    import json
    import tomllib

    raw = tomllib.loads(Path(scenario_file).read_text(encoding="utf-8"))
    files = {}
    for text in toml_strings(raw):
        candidate = Path(scenario_file).parent / text
        if text and candidate.is_file():
            files[text] = sha256_of(candidate)
    record = {"scenario": raw, "files": files, "stresstest_version": version}
    canonical = json.dumps(record, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def scenario_identity(scenario: schema.Scenario) -> str | None:
    """The scenario file a run is of: what tells two scenarios of one ``[scenario] name`` apart.

    The absolute path of the file the scenario was loaded from; for a
    ``scenario.resolved.toml`` loaded again, the file its ``[provenance]
    scenario_file`` names (a rerun of a run's record is a run of that scenario).
    ``None`` for a scenario built from a dict. Editing a file keeps its identity;
    ``--set`` overrides too.
    """
    recorded = scenario.raw.get("provenance")
    if isinstance(recorded, dict) and isinstance(recorded.get("scenario_file"), str):
        return str(recorded["scenario_file"])
    if scenario.source_file is None:
        return None
    return os.path.realpath(scenario.source_file)


def with_identity(resolved: dict[str, Any], scenario: schema.Scenario) -> dict[str, Any]:
    """``resolved`` with ``[provenance] scenario_file`` (:func:`scenario_identity`), if known.

    Kept out of :func:`resolved_dict`, which is also the checkpoint's fingerprint
    and the record of each compare variant: only the top-level
    ``scenario.resolved.toml`` of a result folder names the file.
    """
    identity = scenario_identity(scenario)
    if identity is not None:
        resolved["provenance"]["scenario_file"] = identity
    return resolved


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
    if getattr(scenario, "lending", None) is not None:  # a loan book: no margin, no penalty
        del tables["margin"], tables["liquidation"]  # (docs/model.md 13.8)
    optional = (
        "oracle",
        "market",
        "partial_liquidation",
        "adl",
        "accounts",
        "attribution",
        "procyclicality",
        "backstop",
        "lending",
    )
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
