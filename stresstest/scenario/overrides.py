"""``--set KEY=VALUE``: override scenario keys from the command line, and record them.

``KEY`` is a dotted key into the scenario's tables (``margin.maintenance``,
``paths.params.omega``, or a whole table: ``margin``) and ``VALUE`` a TOML value
(``0.01``, ``"text"``, ``true``, ``[1, 2]``, ``{ model = "static", maintenance = 0.01 }``).
The overrides are applied in order to the file's tables before anything is
validated, so the scenario that is validated, run and written to
``scenario.resolved.toml`` is the effective one; the ``KEY=VALUE`` texts
themselves are kept as ``Scenario.overrides`` and written as
``[provenance] overrides`` (docs/scenario-reference.md, "Overrides").
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stresstest.errors import InputError, raise_all
from stresstest.scenario import schema
from stresstest.scenario.tables import VARIANT_TABLES

#: What a valid ``--set`` looks like, for messages.
SET_FORMAT = (
    "KEY=VALUE with KEY a dotted key into the scenario's tables (margin.maintenance, "
    'paths.n_paths) and VALUE a TOML value: 0.01, "text" in double quotes, true, [1, 2]'
)


def parse_set(text: str) -> tuple[str, Any]:
    """One ``KEY=VALUE`` as ``(dotted key, value)``; the value is parsed as TOML.

    Raises
    ------
    InputError
        Naming the text when it has no ``=``, an empty key or key part, or a
        value that is not one TOML value.
    """
    key, equals, value_text = text.partition("=")
    key = key.strip()
    if not equals or not key:
        raise InputError("--set needs KEY=VALUE", key="--set", value=text, expected=SET_FORMAT)
    parts = key.split(".")
    if any(not part or part != part.strip() for part in parts):
        raise InputError(
            "--set key has an empty or padded part", key=key, value=text, expected=SET_FORMAT
        )
    try:
        parsed = tomllib.loads(f"value = {value_text}\n")
    except (tomllib.TOMLDecodeError, ValueError):
        quoted = value_text.strip().replace("\\", "\\\\").replace('"', '\\"')
        raise InputError(
            "--set value is not a TOML value",
            key=key,
            value=value_text,
            expected=f"{SET_FORMAT}; a string needs double quotes, which a shell keeps "
            f"inside single quotes: --set '{key}=\"{quoted}\"'",
        ) from None
    if list(parsed) != ["value"]:  # "1\nother = 2" would set a second key
        raise InputError(
            "--set value is more than one TOML value",
            key=key,
            value=value_text,
            expected=SET_FORMAT,
        )
    return key, parsed["value"]


def apply_sets(raw: dict[str, Any], assignments: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """``raw`` with every ``(dotted key, value)`` set, in order; ``raw`` is not changed.

    Missing tables on the way are created (the validation that follows says
    whether they may exist). A recorded input hash (``[provenance.inputs]``) of a
    key that is overridden is dropped: it belongs to the file the run no longer
    reads.
    """
    result = copy.deepcopy(raw)
    for key, value in assignments:
        *tables, name = key.split(".")
        target = result
        for depth, part in enumerate(tables):
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(tables[: depth + 1])
                raise InputError(
                    f"--set {key}: '{where}' is not a table",
                    key=where,
                    value=child,
                    expected=f"a key whose every part but the last names a table, not {where}",
                )
            target = child
        target[name] = copy.deepcopy(value)
    provenance = result.get("provenance")
    inputs = provenance.get("inputs") if isinstance(provenance, dict) else None
    if isinstance(inputs, dict):
        keys = [key for key, _ in assignments]
        for recorded in list(inputs):
            if any(_under(recorded, key) for key in keys):
                del inputs[recorded]
    return result


def _under(key: str, prefix: str) -> bool:
    """Whether dotted ``key`` is ``prefix`` or inside it (``paths.data[0]`` is in ``paths``)."""
    return key == prefix or key.startswith((prefix + ".", prefix + "["))


def scenario_with_sets(
    raw: dict[str, Any], sets: Sequence[str], *, file: Path | None
) -> schema.Scenario:
    """The scenario ``raw`` (read from ``file``) with the ``--set`` texts applied and recorded.

    Raises
    ------
    InputError
        For a bad ``--set`` text, and for any problem of the effective scenario;
        one at a key that was set (or inside a set table) says so and names no file.
    """
    from stresstest.scenario.validate import scenario_from_dict

    assignments = [parse_set(text) for text in sets]
    applied = apply_sets(raw, assignments)
    try:
        scenario = scenario_from_dict(applied, file=file)
    except InputError as error:
        found = [
            _attributed(problem, sets, assignments)
            for problem in getattr(error, "errors", (error,))
        ]
        raise_all(found)
        raise  # pragma: no cover - raise_all raised
    return dataclasses.replace(scenario, overrides=tuple(sets))


def _attributed(
    error: InputError, sets: Sequence[str], assignments: Sequence[tuple[str, Any]]
) -> InputError:
    """``error`` saying which ``--set`` it came from, if any (then naming no file).

    Of several that set the key, the last (the one in effect) is named.
    """
    origin = next(
        (
            text
            for text, (key, _) in reversed(list(zip(sets, assignments, strict=True)))
            if error.key is not None and (_under(error.key, key) or _under(key, error.key))
        ),
        None,
    )
    if origin is not None:
        return InputError(
            f"{error.problem} (from --set {origin})",
            key=error.key,
            row=error.row,
            value=error.value,
            expected=error.expected,
        )
    table = (error.key or "").split(".")[0].split("[")[0]
    discriminator = VARIANT_TABLES.get(table, ("",))[0]  # margin.model, paths.source
    nearby = next(
        (
            text
            for text, (key, _) in zip(sets, assignments, strict=True)
            if key == table + "." + discriminator
        ),
        None,
    )
    if nearby is None:
        return error
    return InputError(  # the file's key, in a table whose variant a --set changed
        f"{error.problem} (after --set {nearby}; --set '{table}={{ ... }}' "
        "replaces the whole table)",
        file=error.file,
        key=error.key,
        row=error.row,
        value=error.value,
        expected=error.expected,
    )
