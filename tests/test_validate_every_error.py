"""A scenario file with several mistakes: every problem of its tables at once, exit 2.

docs/robustness.md, "Scenario keys": the per-table checks all run before any
problem is raised; the checks across tables run once the tables are valid.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stresstest.cli import app
from stresstest.errors import CombinedInputError, InputError
from stresstest.scenario import load_scenario

#: Six mistakes in five tables, two of them in [liquidation].
BAD = """
[scenario]
name = "bad"
seed = -1

[paths]
source = "gbm"
s0 = 100.0
sigma = 0.01
n_paths = 60
n_steps = 120
colour = 3

[book]
source = "synthetic"
n_positions = 4000

[margin]
model = "static"
maintenance = 1.5

[liquidation]
latency_steps = 2
slipage = 0.002
fee = -0.01

[insurance_fund]
initial = "lots"
"""
#: (key, problem) of each mistake, in the order of the file's tables.
EXPECTED = [
    ("scenario.seed", "out of range"),
    ("paths.colour", "unknown key"),
    ("margin.maintenance", "out of range"),
    ("liquidation.slipage", "unknown key"),
    ("liquidation.fee", "out of range"),
    ("insurance_fund.initial", "wrong type"),
]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_validate_prints_every_problem_of_the_file_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.output + result.stderr
    lines = ANSI.sub("", result.stderr).strip().splitlines()
    assert len(lines) == len(EXPECTED), lines
    for line, (key, problem) in zip(lines, EXPECTED, strict=True):
        assert line.startswith(f"error: {path}, key '{key}': {problem}"), line


def test_python_callers_get_every_problem_and_the_first_as_attributes(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    with pytest.raises(CombinedInputError) as caught:
        load_scenario(path)
    error = caught.value
    assert isinstance(error, InputError)
    assert [(item.key, item.problem) for item in error.errors] == EXPECTED
    assert (error.key, error.value) == ("scenario.seed", -1)
    assert str(error).splitlines() == [str(item) for item in error.errors]


def test_one_problem_is_a_plain_input_error(tmp_path: Path) -> None:
    path = tmp_path / "one.toml"
    path.write_text(BAD.replace("seed = -1", "seed = 1").split("\n[paths]")[0] + GOOD_REST)
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert type(caught.value) is InputError
    assert caught.value.key == "margin.maintenance"


def test_checks_across_tables_wait_for_valid_tables(tmp_path: Path) -> None:
    """floor above cap is reported once the unknown key beside it is fixed."""
    vol = (
        '[margin]\nmodel = "vol_scaled"\nk = 2.0\nhorizon_steps = 4\newma_lambda = 0.94\n'
        "initial_variance = 1e-4\nfloor = 0.3\ncap = 0.2\n"
    )
    text = BAD.replace("seed = -1", "seed = 1").split("\n[paths]")[0] + GOOD_REST
    text = text.replace('[margin]\nmodel = "static"\nmaintenance = 1.5\n', vol)
    path = tmp_path / "cross.toml"
    path.write_text(text.replace("latency_steps = 2", "latency_steps = 2\nslipage = 0.1"))
    with pytest.raises(InputError, match="unknown key") as caught:
        load_scenario(path)
    assert caught.value.key == "liquidation.slipage"
    path.write_text(text)
    with pytest.raises(InputError, match="floor above cap"):
        load_scenario(path)


GOOD_REST = """
[paths]
source = "gbm"
s0 = 100.0
sigma = 0.01
n_paths = 60
n_steps = 120

[book]
source = "synthetic"
n_positions = 4000

[margin]
model = "static"
maintenance = 1.5

[liquidation]
latency_steps = 2

[insurance_fund]
initial = 100.0
"""
