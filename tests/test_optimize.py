"""stresstest optimize: the cheapest design of a grid that meets an [appetite], checked
again on fresh paths, with the binding limits (docs/optimize.md)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from stresstest.check.optimize import optimize
from stresstest.cli import app
from stresstest.errors import InputError
from stresstest.scenario import load_scenario

#: One long of 1 at 100 with 10 of collateral (bankrupt at 90) on a path falling 3 a
#: step, closed one step after the breach. A maintenance rate m breaches at the first
#: price P < 90 / (1 - m) and closes at P - 3, with bad debt max(0, 93 - P): none only
#: when the breach comes at 94 or 97, i.e. m > 1 - 90 / 94 = 0.0426. On the grid
#: 0.01 .. 0.09 the cheapest design without bad debt is m = 0.05.
SCENARIO = """
[scenario]
name = "falling"
seed = 2

[paths]
source = "file"
file = "path.csv"

[book]
source = "file"
file = "book.csv"

[margin]
model = "static"
maintenance = 0.01

[liquidation]
latency_steps = 1
slippage = 0.0
fee = 0.0

[insurance_fund]
initial = 0.0

[appetite]
bad_debt_mean_max = 0.0
{extra}
[search]
"margin.maintenance" = [0.01, 0.09]
points = 9
"""


def _scenario(tmp_path: Path, extra: str = "") -> Path:
    prices = [100.0, 97.0, 94.0, 91.0, 88.0, 85.0]
    rows = "\n".join(f"0,{step},{price}" for step, price in enumerate(prices))
    (tmp_path / "path.csv").write_text("path,step,price\n" + rows + "\n")
    (tmp_path / "book.csv").write_text("side,qty,entry_price,collateral\nlong,1,100,10\n")
    (tmp_path / "s.toml").write_text(SCENARIO.format(extra=extra))
    return tmp_path / "s.toml"


def test_the_cheapest_design_without_bad_debt_is_the_closed_form(tmp_path: Path) -> None:
    found = optimize(load_scenario(_scenario(tmp_path)))
    assert found.best is not None and found.validated
    assert found.best.parameters == {"margin.maintenance": pytest.approx(0.05)}
    feasible = [d.parameters["margin.maintenance"] for d in found.designs if d.feasible]
    assert feasible == pytest.approx([0.05, 0.06, 0.07, 0.08, 0.09])
    assert found.binding == ["bad_debt_mean_max"]  # 0.01 .. 0.04 fail it alone


def test_no_feasible_design_and_refusals(tmp_path: Path) -> None:
    tight = _scenario(tmp_path, "liquidations_mean_max = 0.0")  # every design liquidates
    found = optimize(load_scenario(tight))
    assert found.best is None and not found.validated
    without = (tmp_path / "s.toml").read_text().split("[search]")[0]
    (tmp_path / "nosearch.toml").write_text(without)
    with pytest.raises(InputError, match="needs a \\[search\\] table"):
        optimize(load_scenario(tmp_path / "nosearch.toml"))
    bad = (tmp_path / "s.toml").read_text().replace("[0.01, 0.09]", "[0.09, 0.01]")
    (tmp_path / "bad.toml").write_text(bad)
    with pytest.raises(InputError, match="low < high"):
        optimize(load_scenario(tmp_path / "bad.toml"))


def test_the_command_writes_the_frontier_and_the_document(tmp_path: Path) -> None:
    out = tmp_path / "opt"
    result = CliRunner().invoke(app, ["optimize", str(_scenario(tmp_path)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "best: margin.maintenance = 0.05" in result.output
    document = json.loads((out / "optimize.json").read_text())
    assert document["binding"] == ["bad_debt_mean_max"] and document["validated"]
    frontier = pl.read_parquet(out / "frontier.parquet")
    assert frontier.height == 9 and frontier["feasible"].sum() == 5
    assert (out / "optimize.png").is_file() and (out / "optimize.pdf").is_file()


def test_validate_names_a_bad_search_range(tmp_path: Path) -> None:
    """`stresstest validate` checks [search] as it checks every other table: exit 2,
    naming the key and its value, before optimize would replay anything."""
    _scenario(tmp_path)
    good = CliRunner().invoke(app, ["validate", str(tmp_path / "s.toml")])
    assert good.exit_code == 0, good.output
    bad = (tmp_path / "s.toml").read_text().replace("[0.01, 0.09]", "[0.09, 0.01]")
    (tmp_path / "bad.toml").write_text(bad)
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "bad.toml")])
    assert result.exit_code == 2, result.output
    assert "search.margin.maintenance" in result.output and "low < high" in result.output
