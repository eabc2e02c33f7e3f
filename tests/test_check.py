"""stresstest check: a parameter change reviewed on the same paths against a tolerance
and a written [appetite] (docs/check.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stresstest.check.change import check_change
from stresstest.cli import app
from stresstest.errors import InputError
from stresstest.scenario import load_scenario
from stresstest.schemas.validate import check_document

BASE = """
[scenario]
name = "{name}"
seed = 4

[paths]
source = "gbm"
s0 = 100.0
sigma = {sigma}
n_paths = 200
n_steps = 48

[book]
source = "synthetic"
n_positions = 2000
leverage_max = 20.0

[margin]
model = "static"
maintenance = {maintenance}

[liquidation]
latency_steps = 1
slippage = 0.002
fee = 0.01

[insurance_fund]
initial = 100000.0
"""


def _write(
    folder: Path, name: str, maintenance: float, extra: str = "", sigma: float = 0.01
) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(BASE.format(name=name, maintenance=maintenance, sigma=sigma) + extra)
    return path


def test_the_same_design_passes_with_every_change_zero(tmp_path: Path) -> None:
    current = load_scenario(_write(tmp_path, "current", 0.005))
    proposed = load_scenario(_write(tmp_path, "proposed", 0.005))
    result = check_change(current, proposed)
    assert result.passed and result.reasons == []
    for move in result.moves:
        assert move.change == 0.0 and move.low == 0.0 == move.high and not move.moved


def test_a_tenfold_maintenance_moves_the_figures_and_fails(tmp_path: Path) -> None:
    current = load_scenario(_write(tmp_path, "current", 0.005))
    proposed = load_scenario(_write(tmp_path, "proposed", 0.05))
    result = check_change(current, proposed)
    assert not result.passed
    moved = {move.figure for move in result.moves if move.moved}
    assert {"requirement_mean", "n_liquidations_mean"} <= moved
    requirement = next(move for move in result.moves if move.figure == "requirement_mean")
    assert requirement.proposed > 5 * requirement.current  # ten times the rate
    assert any(reason.startswith("requirement_mean moved by +") for reason in result.reasons)


def test_a_broken_appetite_limit_fails_and_names_the_key(tmp_path: Path) -> None:
    current = load_scenario(_write(tmp_path, "current", 0.005))
    limits = "\n[appetite]\nliquidations_mean_max = 1.0\nbad_debt_es99_max = 1e15\n"
    proposed = load_scenario(_write(tmp_path, "proposed", 0.005, limits))
    result = check_change(current, proposed)
    keys = {limit.key: limit.met for limit in result.limits}
    assert keys == {"liquidations_mean_max": False, "bad_debt_es99_max": True}
    assert result.reasons == [
        next(r for r in result.reasons if r.startswith("appetite.liquidations_mean_max"))
    ]


def test_refusals(tmp_path: Path) -> None:
    current = load_scenario(_write(tmp_path, "current", 0.005))
    other_paths = load_scenario(_write(tmp_path, "proposed", 0.005, sigma=0.02))
    with pytest.raises(InputError, match="paths differ"):
        check_change(current, other_paths)
    empty = load_scenario(_write(tmp_path, "empty", 0.005, "\n[appetite]\n"))
    with pytest.raises(InputError, match="without a limit"):
        check_change(current, empty)
    with pytest.raises(InputError, match=r"appetite\.probability_fund_depleted_max"):
        load_scenario(
            _write(tmp_path, "bad", 0.005, "\n[appetite]\nprobability_fund_depleted_max = 2.0\n")
        )
        check_change(current, load_scenario(tmp_path / "bad.toml"))


def test_the_command_exits_1_on_a_failing_change_and_writes_check_json(tmp_path: Path) -> None:
    current = _write(tmp_path, "current", 0.005)
    same = _write(tmp_path, "same", 0.005)
    passing = CliRunner().invoke(app, ["check", str(current), str(same)])
    assert passing.exit_code == 0, passing.output
    assert "the change passes" in passing.output
    proposed = _write(tmp_path, "proposed", 0.05)
    out = tmp_path / "review"
    failing = CliRunner().invoke(app, ["check", str(current), str(proposed), "--out", str(out)])
    assert failing.exit_code == 1, failing.output
    assert "fails: requirement_mean moved" in failing.output
    document = json.loads((out / "check.json").read_text())
    check_document(document, "check.schema.json", out / "check.json", 1)
    assert document["passed"] is False and document["reasons"]
    bad = CliRunner().invoke(app, ["check", str(current), str(proposed), "--tolerance", "0"])
    assert bad.exit_code == 2 and "tolerance out of range" in bad.output


def test_run_prints_each_limit_and_compare_says_it_does_not_check_them(tmp_path: Path) -> None:
    limits = "\n[appetite]\nliquidations_mean_max = 1.0\nrequirement_mean_max = 1e15\n"
    path = _write(tmp_path, "limited", 0.005, limits)
    ran = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "run")])
    assert ran.exit_code == 0, ran.output
    assert "appetite.liquidations_mean_max:" in ran.output and ": BROKEN" in ran.output
    assert "appetite.requirement_mean_max:" in ran.output and ": met" in ran.output
    compare = path.read_text() + '\n[compare]\nbaseline = "a"\n[[compare.variants]]\nname = "a"\n'
    path.write_text(compare)
    compared = CliRunner().invoke(app, ["compare", str(path), "--out", str(tmp_path / "cmp")])
    assert compared.exit_code == 0, compared.output
    assert "compare does not check [appetite]" in compared.output


def test_accounts_scenarios_are_refused_by_check_optimize_and_reverse() -> None:
    from stresstest.check.optimize import optimize
    from stresstest.reverse.search import Target, reverse_search

    accounts = load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "cross_gbm.toml")
    with pytest.raises(InputError, match="check runs single-asset scenarios only"):
        check_change(accounts, accounts)
    with pytest.raises(InputError, match="optimize runs single-asset scenarios only"):
        optimize(accounts)
    with pytest.raises(InputError, match="reverse runs single-asset scenarios only"):
        reverse_search(accounts, "crash", Target("fund"))
