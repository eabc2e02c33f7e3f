"""A JSON Schema of the scenario file, generated from the dataclasses that validate it.

Editors that read JSON Schema (for TOML too, e.g. through taplo or Even Better
TOML) can then complete and check scenario files. The schema and the validator
share one source, so they cannot drift.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from stresstest.scenario import schema
from stresstest.scenario.accounts import ACCOUNTS_TABLES
from stresstest.scenario.appetite import Appetite
from stresstest.scenario.attribution import ATTRIBUTION_TABLES
from stresstest.scenario.defences import DEFENCE_TABLES
from stresstest.scenario.lending import LENDING_TABLES
from stresstest.scenario.mechanics import MECHANISM_TABLES
from stresstest.scenario.procyclicality import PROCYCLICALITY_TABLES
from stresstest.scenario.tables import VARIANT_TABLES

#: The optional tables described after the mechanisms and defences, in this order.
OTHER_TABLES = {**ACCOUNTS_TABLES, **ATTRIBUTION_TABLES, **PROCYCLICALITY_TABLES, **LENDING_TABLES}

_JSON_TYPES = {
    "float": "number",
    "int": "integer",
    "str": "string",
    "Path": "string",
    "bool": "boolean",
}


def _field_schema(field: dataclasses.Field[Any]) -> dict[str, Any]:
    meta = field.metadata
    kind = str(field.type).replace(" | None", "")
    if kind in _JSON_TYPES:
        result: dict[str, Any] = {"type": _JSON_TYPES[kind]}
    elif kind.startswith(("list[", "tuple[")):
        result = {"type": "array"}
    elif kind.startswith("dict["):
        result = {"type": "object"}
    else:
        result = {}
    description = meta["doc"]
    if meta["unit"]:
        description += f" Unit: {meta['unit']}."
    result["description"] = description
    if meta["choices"] is not None:
        result["enum"] = list(meta["choices"])
    for key, json_key in (
        ("ge", "minimum"),
        ("gt", "exclusiveMinimum"),
        ("le", "maximum"),
        ("lt", "exclusiveMaximum"),
    ):
        if meta[key] is not None:
            result[json_key] = meta[key]
    if field.default is not dataclasses.MISSING:
        result["default"] = field.default
    return result


def table_schema(cls: type) -> dict[str, Any]:
    """JSON Schema of one table (or one variant of a table)."""
    fields = dataclasses.fields(cls)
    return {
        "type": "object",
        "description": (cls.__doc__ or "").strip(),
        "properties": {field.name: _field_schema(field) for field in fields},
        "required": [field.name for field in fields if field.default is dataclasses.MISSING],
        "additionalProperties": False,
    }


def scenario_json_schema() -> dict[str, Any]:
    """The whole scenario file's JSON Schema (draft 2020-12)."""
    properties: dict[str, Any] = {
        name: table_schema(cls) for name, cls in schema.PLAIN_TABLES.items()
    }
    for name, (_, variants) in VARIANT_TABLES.items():
        properties[name] = {"oneOf": [table_schema(cls) for cls in variants.values()]}
    for name, cls in MECHANISM_TABLES.items():
        properties[name] = table_schema(cls)
    for name, cls in DEFENCE_TABLES.items():
        properties[name] = table_schema(cls)
    for name, cls in {
        **ACCOUNTS_TABLES,
        **ATTRIBUTION_TABLES,
        **PROCYCLICALITY_TABLES,
        **LENDING_TABLES,
    }.items():
        properties[name] = table_schema(cls)
    properties["appetite"] = table_schema(Appetite)
    properties["search"] = {
        "type": "object",
        "description": 'Design parameters and ranges for `stresstest optimize`: "table.key" = '
        "[low, high], points, validation_seed (docs/optimize.md).",
    }
    properties["compare"] = {
        "type": "object",
        "description": "Variants and sweeps for `stresstest compare` (docs/compare.md).",
    }
    properties["provenance"] = {
        "type": "object",
        "description": "Written by stresstest into scenario.resolved.toml: input file "
        "hashes, and the --set overrides applied (`overrides`).",
    }
    required = [
        name
        for name in (*schema.PLAIN_TABLES, *VARIANT_TABLES)
        if name not in schema.OPTIONAL_TABLES
    ]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "stresstest scenario",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def scenario_reference_markdown() -> str:
    """docs/scenario-reference.md: every table, key, type, default, range and unit."""
    lines = [
        "# Scenario reference",
        "",
        "Generated from the schema by `stresstest schema --markdown`; do not edit by hand.",
        "",
        *UNITS_SECTION,
    ]

    def describe_table(title: str, cls: type) -> None:
        lines.extend([f"## {title}", "", (cls.__doc__ or "").strip(), ""])
        lines.append("| key | type | default | valid | meaning |")
        lines.append("|---|---|---|---|---|")
        for field in dataclasses.fields(cls):
            item = _field_schema(field)
            valid = []
            for key, word in (
                ("minimum", ">="),
                ("exclusiveMinimum", ">"),
                ("maximum", "<="),
                ("exclusiveMaximum", "<"),
            ):
                if key in item:
                    valid.append(f"{word} {item[key]:g}")
            if "enum" in item:
                valid.append(", ".join(f"`{choice}`" for choice in item["enum"]))
            default = "required" if "default" not in item else f"`{item['default']!r}`"
            lines.append(
                f"| `{field.name}` | {item.get('type', 'any')} | {default} | {' and '.join(valid)} "
                f"| {item['description']} |"
            )
        lines.append("")

    for name, cls in schema.PLAIN_TABLES.items():
        describe_table(f"[{name}]", cls)
    for name, (key, variants) in VARIANT_TABLES.items():
        for value, cls in variants.items():
            describe_table(f'[{name}] {key} = "{value}"', cls)
    for name, cls in MECHANISM_TABLES.items():
        describe_table(f"[{name}] (optional)", cls)
    for name, cls in DEFENCE_TABLES.items():
        describe_table(f"[{name}] (optional)", cls)
    for name, cls in {
        **ACCOUNTS_TABLES,
        **ATTRIBUTION_TABLES,
        **PROCYCLICALITY_TABLES,
        **LENDING_TABLES,
    }.items():
        describe_table(f"[{name}] (optional)", cls)
    describe_table("[appetite] (optional; read by stresstest check, docs/check.md)", Appetite)
    lines.extend(OVERRIDES_SECTION)
    return "\n".join(lines)


#: The one unit convention of scenario files (docs/plausibility.md checks it).
UNITS_SECTION = [
    "## Units",
    "",
    "Rates, penalties, slippage and volatilities are fractions (`0.01` is 1%), variances",
    "are fractions squared (`1e-4` is a 1% volatility), all per step (one bar of the",
    "paths); amounts of money are in quote units (e.g. USDT) and prices in quote per",
    "base. The one exception is the GARCH family's `params` and `sigma0`, which keep",
    "arch's percent returns (`sigma0 = 0.585` is 0.585% per step, `omega` is in percent",
    "squared); a variance elsewhere (`margin.initial_variance`) is still a fraction",
    "squared: `sigma0 = 0.585` goes with `initial_variance = 3.42e-5`. Each key's unit is",
    "in its row below. Values that are valid but far from what the rest of the scenario",
    "implies (a rate above the book's initial margin, a fund in the wrong unit, a variance",
    "in percent squared) draw a plausibility warning (docs/plausibility.md).",
    "",
]

#: How ``--set`` overrides these keys (stresstest/scenario/overrides.py).
OVERRIDES_SECTION = [
    "## Overrides: `--set KEY=VALUE`",
    "",
    "`stresstest run`, `compare` and `validate` take `--set KEY=VALUE`, repeatable, to",
    "change a key of the file without editing it. `KEY` is a dotted key into the",
    "tables above (`margin.maintenance`, `paths.n_paths`, `paths.params.omega`; a table",
    "name alone replaces the whole table); `VALUE` is a TOML value: `0.01`, `true`,",
    '`[1, 2]`, `{ model = "static", maintenance = 0.01 }`, and strings in double',
    "quotes, which a shell keeps inside single quotes: `--set 'scenario.name=\"x\"'`.",
    "",
    "- The overrides are applied in order (a later one wins) to the file's tables",
    "  before anything is checked: the effective scenario is what is validated, run",
    "  and written to `scenario.resolved.toml`, whose `[provenance] overrides` lists",
    "  the `KEY=VALUE` texts applied. Rerunning that file gives the same result",
    "  without them.",
    "- A file path set this way is relative to the scenario file's folder, as in",
    "  the file.",
    "- In `compare`, they change the base scenario, so every variant inherits them",
    "  except where the variant sets the same key; `[compare]` keys can be set too",
    "  (`compare.baseline`).",
    "- An unknown key or a value that is not valid for its key is refused with exit",
    "  status 2, naming the key, the value, what is valid and the `--set` it came",
    "  from, e.g. `key 'margin.maintenance': out of range (from --set",
    "  margin.maintenance=2) (got 2.0); expected a number >= 0 and < 1 (fraction of",
    "  notional)`. Recorded input hashes of an overridden file key are dropped: the",
    "  run reads another file.",
]
