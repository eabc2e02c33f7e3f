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
from stresstest.scenario.defences import DEFENCE_TABLES
from stresstest.scenario.mechanics import MECHANISM_TABLES

_JSON_TYPES = {"float": "number", "int": "integer", "str": "string", "Path": "string"}


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
    for name, (_, variants) in schema.VARIANT_TABLES.items():
        properties[name] = {"oneOf": [table_schema(cls) for cls in variants.values()]}
    for name, cls in MECHANISM_TABLES.items():
        properties[name] = table_schema(cls)
    for name, cls in DEFENCE_TABLES.items():
        properties[name] = table_schema(cls)
    for name, cls in ACCOUNTS_TABLES.items():
        properties[name] = table_schema(cls)
    properties["compare"] = {
        "type": "object",
        "description": "Variants and sweeps for `stresstest compare` (docs/compare.md).",
    }
    properties["provenance"] = {
        "type": "object",
        "description": "Written by stresstest into scenario.resolved.toml; input file hashes.",
    }
    required = [
        name
        for name in (*schema.PLAIN_TABLES, *schema.VARIANT_TABLES)
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
    for name, (key, variants) in schema.VARIANT_TABLES.items():
        for value, cls in variants.items():
            describe_table(f'[{name}] {key} = "{value}"', cls)
    for name, cls in MECHANISM_TABLES.items():
        describe_table(f"[{name}] (optional)", cls)
    for name, cls in DEFENCE_TABLES.items():
        describe_table(f"[{name}] (optional)", cls)
    for name, cls in ACCOUNTS_TABLES.items():
        describe_table(f"[{name}] (optional)", cls)
    return "\n".join(lines)
