"""Scenario tooling: JSON Schema from the validating dataclasses, reference doc, validate, list."""

from __future__ import annotations

import tomllib
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from stresstest.cli import app
from stresstest.jobs import shipped_scenarios
from stresstest.scenario.json_schema import scenario_json_schema, scenario_reference_markdown

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((REPO / "scenarios").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_scenario_satisfies_the_json_schema(path: Path) -> None:
    jsonschema.validate(tomllib.loads(path.read_text()), scenario_json_schema())


def test_the_json_schema_rejects_what_the_validator_rejects() -> None:
    raw = tomllib.loads((REPO / "scenarios" / "default.toml").read_text())
    raw["margin"]["maintenanse"] = 0.01
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(raw, scenario_json_schema())
    raw = tomllib.loads((REPO / "scenarios" / "default.toml").read_text())
    raw["liquidation"]["slippage"] = 1.5
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(raw, scenario_json_schema())


def test_scenario_reference_is_up_to_date() -> None:
    committed = (REPO / "docs" / "scenario-reference.md").read_text()
    assert committed == scenario_reference_markdown() + "\n", (
        "regenerate with: stresstest schema --markdown > docs/scenario-reference.md"
    )


def test_validate_and_scenarios_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["validate", str(REPO / "scenarios" / "default.toml"), "--json"])
    assert result.exit_code == 0, result.output
    assert '"n_positions": 1000000' in result.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text((REPO / "scenarios" / "default.toml").read_text().replace("n_paths", "paths_n"))
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    listing = runner.invoke(app, ["scenarios"])
    assert listing.exit_code == 0
    assert [name for name, _ in shipped_scenarios()] == sorted(
        path.name for path in (REPO / "scenarios").glob("*.toml")
    )
    assert "default.toml" in listing.stdout


@pytest.mark.parametrize(
    ("command", "table"),
    [("compare", "[compare]"), ("backtest", "[margin]"), ("paths", "[paths]"), ("fit", "[paths]")],
)
def test_help_keeps_the_table_names_rich_would_read_as_markup(command: str, table: str) -> None:
    shown = CliRunner().invoke(app, [command, "--help"])
    assert shown.exit_code == 0
    assert table in shown.output
