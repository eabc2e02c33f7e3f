"""Read a scenario (TOML file or dict), check it against the schema, fill defaults.

Every problem raises :class:`stresstest.errors.InputError` naming the file,
the dotted key, the value and what is valid.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stresstest.errors import InputError, raise_all
from stresstest.io.atomic import check_folder_name
from stresstest.scenario import lookalikes, schema
from stresstest.scenario.accounts import ACCOUNTS_TABLES, check_accounts
from stresstest.scenario.attribution import ATTRIBUTION_TABLES, check_attribution
from stresstest.scenario.composition import check_composition
from stresstest.scenario.defences import DEFENCE_TABLES, check_defences
from stresstest.scenario.lending import (
    LENDING_TABLES,
    check_lending,
    is_lending_raw,
    lending_margin,
)
from stresstest.scenario.mechanics import (
    MECHANISM_TABLES,
    check_mechanisms,
)
from stresstest.scenario.procyclicality import PROCYCLICALITY_TABLES, check_procyclicality
from stresstest.scenario.provenance import check_input_hashes
from stresstest.scenario.tables import VARIANT_TABLES

_TOP_LEVEL_EXTRA = frozenset({"provenance", "compare", "appetite", "search"})


def load_scenario(
    source: str | Path | dict[str, Any], *, sets: Sequence[str] = ()
) -> schema.Scenario:
    """Load and validate a scenario from a TOML file path or a dict.

    Parameters
    ----------
    source
        Path to a ``.toml`` file, or the scenario as a dict (relative file
        paths in a dict resolve against the current directory).
    sets
        ``KEY=VALUE`` overrides as ``--set`` takes them (``"margin.maintenance=0.01"``):
        a dotted key into the tables and a TOML value, applied in order before
        anything is validated (:mod:`stresstest.scenario.overrides`). The scenario
        records them (``Scenario.overrides``, ``[provenance] overrides``).

    Raises
    ------
    InputError
        If the file is missing or not valid TOML, or any key is unknown, of
        the wrong type or out of range; a problem with a set key names the
        key and says it came from ``--set``.
    """
    if isinstance(source, dict):
        raw, file = copy.deepcopy(source), None
    else:
        raw = read_scenario_file(Path(source))
        file = Path(source).resolve()
    if not sets:
        return scenario_from_dict(raw, file=file)
    from stresstest.scenario.overrides import scenario_with_sets

    return scenario_with_sets(raw, sets, file=file)


def read_scenario_file(path: Path) -> dict[str, Any]:
    """The TOML of a scenario file as a dict, not yet validated.

    Raises
    ------
    InputError
        If the file is missing, not UTF-8 or not valid TOML.
    """
    if not path.is_file():
        raise InputError("scenario file not found", file=path, expected="an existing .toml file")
    try:
        text = path.read_text(encoding="utf-8")
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        detail = lookalikes.toml_error_detail(text, str(error), _known_tables(), _known_keys())
        if detail is not None:
            raise InputError(detail[0], file=path, expected=detail[1]) from None
        raise InputError(f"not valid TOML: {error}", file=path) from None
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text: {error}", file=path) from None
    except ValueError as error:  # tomllib: an integer literal of more than 4300 digits
        digits = "".join(char for char in str(error).split("value has")[-1] if char.isdigit())
        raise InputError(
            f"not valid TOML: an integer literal of {digits or 'too many'} digits",
            file=path,
            expected="integers of at most 64 bits (20 digits)",
        ) from None


def _known_tables() -> set[str]:
    """Every top-level table name a scenario may hold."""
    return (
        set(schema.PLAIN_TABLES)
        | set(VARIANT_TABLES)
        | set(MECHANISM_TABLES)
        | set(DEFENCE_TABLES)
        | set(ACCOUNTS_TABLES)
        | set(ATTRIBUTION_TABLES)
        | set(PROCYCLICALITY_TABLES)
        | set(LENDING_TABLES)
        | _TOP_LEVEL_EXTRA
    )


def _known_keys() -> set[str]:
    """Every key of every table (and variant) a scenario may hold."""
    classes = [
        *schema.PLAIN_TABLES.values(),
        *MECHANISM_TABLES.values(),
        *DEFENCE_TABLES.values(),
        *ACCOUNTS_TABLES.values(),
        *LENDING_TABLES.values(),
        *ATTRIBUTION_TABLES.values(),
        *PROCYCLICALITY_TABLES.values(),
    ]
    for _, variants in VARIANT_TABLES.values():
        classes.extend(variants.values())
    return {field.name for cls in classes for field in dataclasses.fields(cls)}


def _unknown(what: str, name: str, known: set[str]) -> tuple[str, str]:
    """``(problem, expected)`` of an unknown table or key, naming a non-ASCII character."""
    note = lookalikes.non_ascii_note(name)
    if note is None:
        return what, f"one of {sorted(known)}"
    guess = lookalikes.suggest(name, known)
    hint = f"; did you mean {guess!r}?" if guess is not None else ""
    return f"{what}: {name!r} {note}", f"ASCII letters, one of {sorted(known)}{hint}"


def scenario_from_dict(raw: dict[str, Any], *, file: Path | None) -> schema.Scenario:
    """Validate a parsed scenario; ``file`` locates errors and relative paths.

    Every problem of the tables themselves (an unknown table or key, a missing
    key, a value of the wrong type or out of range) is found before any is
    raised, and all are raised together (:class:`~stresstest.errors.CombinedInputError`
    when there are several). Checks across tables run once every table is valid
    and stop at the first problem.
    """
    base_dir = file.parent if file is not None else Path.cwd()
    known = _known_tables()
    errors: list[InputError] = []
    for table in raw:
        if table not in known:
            problem, expected = _unknown("unknown table", table, known)
            errors.append(InputError(problem, file=file, key=table, expected=expected))
    built: dict[str, Any] = {}

    def build(table: str, cls: type | None) -> None:
        """``built[table]``, or ``None`` with its problems kept in ``errors``."""
        built[table] = None
        try:
            if cls is None:  # a variant table: the class its discriminator names
                discriminator, variants = VARIANT_TABLES[table]
                choice = _table(raw, table, file).get(discriminator)
                if not isinstance(choice, str) or choice not in variants:
                    raise InputError(
                        "missing or unknown variant" if choice is not None else "missing key",
                        file=file,
                        key=f"{table}.{discriminator}",
                        value=choice,
                        expected=f"one of {sorted(variants)}",
                    )
                cls = variants[choice]
            built[table] = _build_table(raw, table, cls, file, base_dir)
        except InputError as error:
            errors.append(error)

    for table, plain in schema.PLAIN_TABLES.items():
        build(table, plain)
    if built["scenario"] is not None:
        try:
            check_folder_name(built["scenario"].name, file=file, key="scenario.name")  # runs/NAME
        except InputError as error:
            errors.append(error)
    for table in VARIANT_TABLES:
        if table == "margin" and "margin" not in raw and is_lending_raw(raw):
            built["margin"] = lending_margin()  # unused by a loan book (docs/model.md 13.8)
            continue
        build(table, None)
    optional_tables = (
        MECHANISM_TABLES,
        DEFENCE_TABLES,
        ACCOUNTS_TABLES,
        ATTRIBUTION_TABLES,
        PROCYCLICALITY_TABLES,
        LENDING_TABLES,
    )
    for tables in optional_tables:
        for table, optional in tables.items():
            if table in raw:
                build(table, optional)
            else:
                built[table] = None
    order = {table: index for index, table in enumerate(raw)}  # as the file has them
    raise_all(sorted(errors, key=lambda error: order.get(str(error.key).split(".")[0], 0)))
    _check_cross_fields(built, file)
    check_mechanisms(built, file)
    check_defences(built, file)
    check_lending(built, raw, file)  # docs/model.md 13
    check_accounts(built, raw, file)
    check_composition(built, file)  # which stages run together: docs/model.md 12
    check_attribution(built, file)  # docs/model.md 6b
    check_procyclicality(built, file)  # docs/model.md 3.1, 3.2
    scenario = schema.Scenario(
        info=built["scenario"],
        paths=built["paths"],
        book=built["book"],
        margin=built["margin"],
        liquidation=built["liquidation"],
        insurance_fund=built["insurance_fund"],
        raw=raw,
        source_file=file,
        oracle=built["oracle"],
        market=built["market"],
        partial_liquidation=built["partial_liquidation"],
        adl=built["adl"],
        backstop=built["backstop"],
        accounts=built["accounts"],
        lending=built["lending"],
        attribution=built["attribution"],
        procyclicality=built["procyclicality"],
    )
    check_input_hashes(scenario, raw.get("provenance"), file)
    return scenario


def _table(raw: dict[str, Any], table: str, file: Path | None) -> dict[str, Any]:
    values = raw.get(table)
    if values is None:
        if table in schema.OPTIONAL_TABLES:
            return {}
        raise InputError("missing table", file=file, key=table, expected=f"a [{table}] table")
    if not isinstance(values, dict):
        raise InputError("not a table", file=file, key=table, value=values, expected="a table")
    return values


def build_table(
    raw: dict[str, Any], table: str, cls: type, file: Path | None, base_dir: Path | None
) -> Any:
    """One table of ``raw`` as ``cls``, validated by its fields' specs; every problem of
    its keys raised together. For tables read beside the scenario (``[appetite]``);
    ``base_dir`` (default: the current folder) resolves relative file names."""
    return _build_table(raw, table, cls, file, base_dir if base_dir is not None else Path.cwd())


def _build_table(
    raw: dict[str, Any], table: str, cls: type, file: Path | None, base_dir: Path
) -> Any:
    """One table as ``cls``; every problem of its keys is raised together (:func:`raise_all`)."""
    values = _table(raw, table, file)
    fields = {field.name: field for field in dataclasses.fields(cls)}
    errors: list[InputError] = []
    for key in values:
        if key not in fields:
            problem, expected = _unknown("unknown key", key, set(fields))
            errors.append(
                InputError(
                    problem, file=file, key=f"{table}.{key}", value=values[key], expected=expected
                )
            )
    arguments: dict[str, Any] = {}
    for name, field in fields.items():
        dotted = f"{table}.{name}"
        if name not in values:
            if field.default is dataclasses.MISSING:
                errors.append(
                    InputError("missing key", file=file, key=dotted, expected=_describe(field))
                )
            arguments[name] = field.default
            continue
        try:
            arguments[name] = _check_value(values[name], field, dotted, file, base_dir)
        except InputError as error:
            errors.append(error)
    raise_all(errors)
    return cls(**arguments)


def _check_value(
    value: Any, field: dataclasses.Field[Any], dotted: str, file: Path | None, base_dir: Path
) -> Any:
    kind = str(field.type).removesuffix(" | None")
    meta = field.metadata
    type_ok = {
        "float": _is_number(value),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
        "Path": isinstance(value, str),
        "list[str]": isinstance(value, list) and all(isinstance(item, str) for item in value),
        "list[float]": isinstance(value, list) and all(map(_is_number, value)),
        "list[list[float]]": isinstance(value, list)
        and all(isinstance(row, list) and all(map(_is_number, row)) for row in value),
        "dict[str, float]": isinstance(value, dict) and all(map(_is_number, value.values())),
        "dict[str, str]": isinstance(value, dict)
        and all(isinstance(item, str) for item in value.values()),
    }[kind]
    if not type_ok:
        raise InputError(
            "wrong type", file=file, key=dotted, value=_shown(value), expected=_describe(field)
        )
    if kind == "list[str]":
        return tuple(value)
    if kind in ("list[float]", "list[list[float]]"):
        return _check_number_list(value, dotted, file)
    if kind == "dict[str, float]":
        return _check_number_table(value, dotted, file)
    if kind == "dict[str, str]":
        return dict(value)
    if kind == "float":
        value = _as_float(value)
        if not math.isfinite(value):
            raise InputError(
                "not finite", file=file, key=dotted, value=_shown(value), expected=_describe(field)
            )
    if meta["choices"] is not None and value not in meta["choices"]:
        raise InputError(
            "unknown value", file=file, key=dotted, value=_shown(value), expected=_describe(field)
        )
    if kind in ("float", "int") and not _in_bounds(value, meta):
        raise InputError(
            "out of range", file=file, key=dotted, value=_shown(value), expected=_describe(field)
        )
    if meta["is_file"]:
        path = Path(value)
        path = path if path.is_absolute() else (base_dir / path)
        try:
            path = path.resolve()
        except RuntimeError:  # Python 3.11: a symbolic link loop
            raise InputError(
                "symbolic link loop", file=file, key=dotted, value=str(path), expected="a file"
            ) from None
        if not path.is_file():
            raise InputError(
                "file not found",
                file=file,
                key=dotted,
                value=str(path),
                expected="an existing file",
            )
        return path
    return value


def _shown(value: Any) -> Any:
    """``value`` for a message: an integer beyond 128 bits by its size, not its digits."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"{'-' if value < 0 else ''}an integer of {value.bit_length()} bits"
    return value


def _as_float(value: int | float) -> float:
    """``value`` as a float; an integer beyond float64 becomes an infinity of its sign."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_number_table(value: dict[str, Any], dotted: str, file: Path | None) -> dict[str, float]:
    """A table of finite numbers (which keys are valid is the table's user's to check)."""
    for name, item in value.items():
        if not math.isfinite(_as_float(item)):
            raise InputError("not finite", file=file, key=f"{dotted}.{name}", value=_shown(item))
    return {name: float(item) for name, item in value.items()}


def _check_number_list(value: list[Any], dotted: str, file: Path | None) -> Any:
    """A list (or list of lists) of finite numbers, as a tuple (of tuples) of floats."""
    if value and isinstance(value[0], list):
        return tuple(_check_number_list(row, dotted, file) for row in value)
    for item in value:
        if not math.isfinite(_as_float(item)):
            raise InputError("not finite", file=file, key=dotted, value=_shown(item))
    return tuple(float(item) for item in value)


def _in_bounds(value: float, meta: Any) -> bool:
    tiny = meta.get("nonzero_ge")
    return not (
        (meta["ge"] is not None and not value >= meta["ge"])
        or (meta["gt"] is not None and not value > meta["gt"])
        or (meta["le"] is not None and not value <= meta["le"])
        or (meta["lt"] is not None and not value < meta["lt"])
        or (tiny is not None and value != 0 and not abs(value) >= tiny)
    )


def _number(value: float) -> str:
    """``value`` in short form, or in full where the short form would round it (2**64 - 1)."""
    short = f"{value:g}"
    return short if float(short) == value else str(value)


def _describe(field: dataclasses.Field[Any]) -> str:
    """What a valid value of ``field`` looks like, in words."""
    meta = field.metadata
    kinds = {
        "float": "a number",
        "int": "an integer",
        "bool": "true or false",
        "str": "a string",
        "Path": "a file path",
        "list[str]": "a list of strings",
        "list[float]": "a list of numbers",
        "list[list[float]]": "a list of lists of numbers",
        "dict[str, float]": "a table of numbers",
        "dict[str, str]": "a table of strings",
    }
    kind_name = str(field.type).removesuffix(" | None")
    kind = kinds.get(kind_name, kind_name)
    if meta["choices"] is not None:
        return "one of " + ", ".join(repr(choice) for choice in meta["choices"])
    bounds = []
    for key, word in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if meta[key] is not None:
            bounds.append(f"{word} {_number(meta[key])}")
    if meta.get("nonzero_ge") is not None:
        bounds[0] = f"0 or {kind} >= {meta['nonzero_ge']:g}"
        kind = ""
    text = kind + (" " + " and ".join(bounds) if bounds else "")
    text = text.strip()
    if meta["unit"]:
        text += f" ({meta['unit']})"
    return text


def _check_cross_fields(built: dict[str, Any], file: Path | None) -> None:
    paths = built["paths"]
    if isinstance(paths, schema.GbmPaths):
        schema.check_gbm_band(paths.s0, paths.sigma, paths.drift, paths.n_steps, file=file)
    margin = built["margin"]
    if isinstance(margin, schema.VolScaledMargin) and margin.floor > margin.cap:
        raise InputError(
            "floor above cap",
            file=file,
            key="margin.floor",
            value=margin.floor,
            expected=f"a number <= margin.cap ({margin.cap:g})",
        )
    book = built["book"]
    if isinstance(book, schema.FileBook) and book.columns is not None:
        _check_book_columns(book.columns, file)
    if isinstance(book, schema.SyntheticBook) and book.leverage_min > book.leverage_max:
        raise InputError(
            "leverage_min above leverage_max",
            file=file,
            key="book.leverage_min",
            value=book.leverage_min,
            expected=f"a number <= book.leverage_max ({book.leverage_max:g})",
        )


def _check_book_columns(columns: dict[str, str], file: Path | None) -> None:
    """``[book.columns]``: canonical book columns to distinct, non-empty file column names."""
    errors = []
    seen: dict[str, str] = {}
    for name, column in columns.items():
        dotted = f"book.columns.{name}"
        if name not in schema.FILE_BOOK_COLUMNS:
            problem, expected = _unknown("unknown column", name, set(schema.FILE_BOOK_COLUMNS))
            errors.append(
                InputError(problem, file=file, key=dotted, value=column, expected=expected)
            )
        elif not column.strip():
            errors.append(
                InputError(
                    "empty column name",
                    file=file,
                    key=dotted,
                    value=column,
                    expected="the name of a column of the book file",
                )
            )
        elif column in seen:
            errors.append(
                InputError(
                    "column already mapped",
                    file=file,
                    key=dotted,
                    value=column,
                    expected=f"a column other than book.columns.{seen[column]}'s",
                )
            )
        seen.setdefault(column, name)
    raise_all(errors)


def apply_overrides(
    raw: dict[str, Any], overrides: dict[str, Any], *, file: Path | None
) -> dict[str, Any]:
    """Apply dotted-key (``"margin.k": 3``) or whole-table (``"margin": {...}``) overrides."""
    result = copy.deepcopy(raw)
    result.pop("provenance", None)
    for key, value in overrides.items():
        parts = key.split(".")
        if len(parts) == 1:
            if not isinstance(value, dict):
                raise InputError(
                    "a whole-table override needs a table", file=file, key=key, value=value
                )
            result[key] = copy.deepcopy(value)
            continue
        if len(parts) != 2:
            raise InputError("override key too deep", file=file, key=key, expected="'table.key'")
        table, name = parts
        target = result.setdefault(table, {})
        if not isinstance(target, dict):
            raise InputError("not a table", file=file, key=table, value=target)
        target[name] = copy.deepcopy(value)
    return result
