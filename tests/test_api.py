"""The Python API: the same results as the command line, overrides, templates, errors.

``stresstest.load_scenario``, ``stresstest.run`` and ``stresstest.compare`` are
what the CLI calls; these tests run a scenario both ways and compare the
DataFrames and summaries value for value (bit for bit), write every ``init``
template and check it validates from another folder, and check that bad input
reaches a Python caller as one :class:`stresstest.InputError` carrying the
location, and the command line as exit status 2.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

import stresstest
from stresstest.cli import app
from stresstest.scenario.templates import TEMPLATES

REPO = Path(__file__).resolve().parents[1]

SCENARIO = """
[scenario]
name = "api"
seed = 5

[paths]
source = "gbm"
s0 = 100.0
sigma = 0.01
n_paths = 64
n_steps = 48

[book]
source = "synthetic"
n_positions = 2000
leverage_max = 40.0

[margin]
model = "static"
maintenance = 0.005

[liquidation]
latency_steps = 1
slippage = 0.002
fee = 0.01

[insurance_fund]
initial = 2000.0
"""

COMPARE = """
[compare]
baseline = "static"

[[compare.variants]]
name = "static"

[[compare.variants]]
name = "vol"
margin = { model = "vol_scaled", k = 2.0, horizon_steps = 4, ewma_lambda = 0.94, \
initial_variance = 1e-4, floor = 0.003, cap = 0.2 }
"""


def _json_equal(left: object, right: object) -> bool:
    """Equal as JSON documents (NaN equal to NaN), exactly: no tolerance."""
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


def test_api_run_equals_cli_run(tmp_path: Path) -> None:
    path = tmp_path / "api.toml"
    path.write_text(SCENARIO)
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "cli"), "--quiet"])
    assert result.exit_code == 0, result.output
    api = stresstest.run(stresstest.load_scenario(path))
    assert_frame_equal(api.paths, pl.read_parquet(tmp_path / "cli" / "paths.parquet"))
    written = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert _json_equal(json.loads(json.dumps(api.summary())), written)
    for name, frame in api.step_frames().items():
        assert_frame_equal(frame, pl.read_parquet(tmp_path / "cli" / name))


def test_api_compare_equals_cli_compare(tmp_path: Path) -> None:
    path = tmp_path / "compare.toml"
    path.write_text(SCENARIO + COMPARE)
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["compare", str(path), "--out", str(out), "--match", "cost"])
    assert result.exit_code == 0, result.output
    comparison = stresstest.compare(stresstest.load_scenario(path), match="cost")
    assert_frame_equal(comparison.table, pl.read_parquet(out / "compare.parquet"))
    assert_frame_equal(comparison.differences_table, pl.read_parquet(out / "differences.parquet"))
    assert comparison.table["variant"].to_list() == list(comparison.names)
    assert len(comparison.matches) == 1
    for name in comparison.names:
        assert_frame_equal(
            comparison.result(name).paths,
            pl.read_parquet(out / "variants" / name / "paths.parquet"),
        )


def test_load_scenario_from_a_dict_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "api.toml"
    path.write_text(SCENARIO)
    from_file = stresstest.load_scenario(path)
    from_dict = stresstest.load_scenario(from_file.raw)
    assert from_dict == from_file
    changed = from_file.with_overrides({"margin.maintenance": 0.01, "paths.n_paths": 8})
    assert changed.margin.maintenance == 0.01
    assert changed.paths.n_paths == 8
    assert from_file.margin.maintenance == 0.005, "overrides return a new scenario"
    result = stresstest.run(changed)
    assert result.paths.height == 8
    assert math.isfinite(result.summary()["metrics"]["bad_debt"]["mean"])


@pytest.mark.parametrize(
    ("override", "key", "value"),
    [
        ({"margin.maintenanse": 0.01}, "margin.maintenanse", 0.01),
        ({"margin.maintenance": 1.5}, "margin.maintenance", 1.5),
        ({"paths.n_paths": "many"}, "paths.n_paths", "many"),
    ],
)
def test_bad_input_reaches_python_as_input_error(
    tmp_path: Path, override: dict[str, object], key: str, value: object
) -> None:
    path = tmp_path / "api.toml"
    path.write_text(SCENARIO)
    with pytest.raises(stresstest.InputError) as caught:
        stresstest.load_scenario(path).with_overrides(override)
    assert caught.value.key == key
    assert caught.value.value == value
    assert caught.value.file == str(path.resolve())
    assert caught.value.expected
    assert isinstance(caught.value, ValueError)


def test_the_same_bad_input_is_exit_2_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "api.toml"
    path.write_text(SCENARIO.replace("maintenance = 0.005", "maintenance = 1.5"))
    with pytest.raises(stresstest.InputError) as caught:
        stresstest.load_scenario(path)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "margin.maintenance" in result.output
    assert caught.value.key == "margin.maintenance"


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_init_writes_a_template_that_validates_anywhere(tmp_path: Path, template: str) -> None:
    target = tmp_path / "elsewhere" / f"my_{template}.toml"
    result = CliRunner().invoke(app, ["init", "--template", template, str(target)])
    assert result.exit_code == 0, result.output
    text = target.read_text()
    assert text.startswith(f"# Written by `stresstest init --template {template}`")
    assert "../data/" not in text, "data paths are absolute"
    scenario = stresstest.load_scenario(target)
    assert scenario.name == f"my_{template}"
    shipped = stresstest.load_scenario(REPO / "scenarios" / TEMPLATES[template])
    assert scenario.paths == shipped.paths
    assert scenario.margin == shipped.margin
    validated = CliRunner().invoke(app, ["validate", str(target)])
    assert validated.exit_code == 0, validated.output


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "mine.toml"
    target.write_text("# my own work\n")
    result = CliRunner().invoke(app, ["init", str(target)])
    assert result.exit_code == 2
    assert "--force" in result.output
    assert target.read_text() == "# my own work\n"
    bad = CliRunner().invoke(app, ["init", "--template", "heston", str(tmp_path / "new.toml")])
    assert bad.exit_code == 2
    assert "heston" in bad.output and not (tmp_path / "new.toml").exists()
    forced = CliRunner().invoke(app, ["init", "--force", str(target)])
    assert forced.exit_code == 0, forced.output
    assert stresstest.load_scenario(target).paths.source == "gbm"


def test_json_outputs_parse(tmp_path: Path) -> None:
    path = tmp_path / "api.toml"
    path.write_text(SCENARIO)
    runner = CliRunner()
    ran = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), "--json"])
    assert ran.exit_code == 0, ran.output
    assert _json_equal(
        json.loads(ran.stdout), json.loads((tmp_path / "out" / "summary.json").read_text())
    )
    listing = runner.invoke(app, ["scenarios", "--json"])
    assert listing.exit_code == 0, listing.output
    files = [entry["file"] for entry in json.loads(listing.stdout)]
    assert files == sorted(path.name for path in (REPO / "scenarios").glob("*.toml"))
