"""Which stages run together (docs/model.md 12): every pair the engine does not run is
refused when the scenario is loaded, naming both settings; every other pair loads and
runs, and each stage's columns appear exactly when it is on.

Before this rule accounts scenarios ran [oracle], [partial_liquidation] and a predictive
trigger as if they were absent, and [market] or [adl] ended in an IndexError. Accounts
now run [oracle] and the vol-scaled penalty (docs/model.md 11.7), partial liquidation (by
either rule) and ADL (11.8) and [market] (11.9); the rest is refused. One asset runs
partial liquidation with ADL (10.2).
"""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from typer.testing import CliRunner

import stresstest
from stresstest.cli import app
from stresstest.errors import InputError
from stresstest.kernels import enums
from stresstest.scenario import load_scenario
from stresstest.scenario.composition import UNSUPPORTED
from tests.test_scenario_limits import ACCOUNTS as LIMITS_ACCOUNTS
from tests.test_scenario_limits import GBM as LIMITS_GBM

#: tests/test_scenario_limits.py's tiny scenarios, with enough steps and positions to liquidate.
GBM: dict[str, Any] = copy.deepcopy(LIMITS_GBM)
GBM["scenario"] = {"name": "composition", "seed": 3}
GBM["paths"].update(sigma=0.02, n_paths=4, n_steps=24)
GBM["book"]["n_positions"] = 200
GBM["liquidation"] = {"latency_steps": 1, "fee": 0.005}
ACCOUNTS: dict[str, Any] = copy.deepcopy(LIMITS_ACCOUNTS)
ACCOUNTS["scenario"] = {"name": "composition", "seed": 3}
ACCOUNTS["paths"]["n_steps"] = 8
ACCOUNTS["book"]["n_accounts"] = 20
ACCOUNTS["accounts"] = {"mode": "cross"}

#: Each stage as the scenario settings that turn it on, and the words the error uses.
STAGE_SETTINGS: dict[str, tuple[dict[str, Any], str]] = {
    "oracle": ({"oracle": {"model": "ema", "ema_lambda": 0.5}}, "[oracle]"),
    "market": ({"market": {"impact": "linear", "depth": 1e6}}, "[market]"),
    "predictive": (
        {"liquidation": {"trigger": "predictive", "vol_ewma_lambda": 0.94}},
        "liquidation.trigger = 'predictive'",
    ),
    "vol_fee": (
        {"liquidation": {"fee_model": "vol_scaled", "vol_ewma_lambda": 0.94}},
        "liquidation.fee_model = 'vol_scaled'",
    ),
    "partial": ({"partial_liquidation": {"buffer": 0.01}}, "[partial_liquidation]"),
    "adl": ({"adl": {"policy": "profit_leverage"}}, "[adl]"),
    # the venue-style rule (10.1): merged after "partial", whose buffer it sets to 0
    "partial_fraction": (
        {"partial_liquidation": {"rule": "fraction", "fraction": 0.2, "buffer": 0.0}},
        "partial_liquidation.rule = 'fraction'",
    ),
    "backstop": ({"backstop": {"capital": 1e5, "hold_steps": 2}}, "[backstop]"),
    "fund_bound": (
        {"insurance_fund": {"pays_past_bankruptcy": 0.001}},
        "insurance_fund.pays_past_bankruptcy",
    ),
}
SINGLE_STAGES = tuple(STAGE_SETTINGS)


def with_stages(base: dict[str, Any], stages: tuple[str, ...]) -> dict[str, Any]:
    """``base`` with the settings of ``stages`` merged in, table by table."""
    scenario = copy.deepcopy(base)
    for stage in stages:
        for table, values in STAGE_SETTINGS[stage][0].items():
            scenario.setdefault(table, {}).update(values)
    return scenario


def test_every_pair_composes() -> None:
    """The table of refused pairs is empty since issue 15 (docs/model.md 12): the fraction
    rule, the predictive trigger and the fund's bound were the last pairs with accounts."""
    assert UNSUPPORTED == {}


def test_every_single_asset_pair_runs_together() -> None:
    """No pair of single-asset stages is refused: the last one, the fraction rule with ADL,
    composes since issue 15 (docs/model.md 10.2); refusals name both settings (below)."""
    assert [pair for pair in UNSUPPORTED if "accounts" not in pair] == []


#: The stages accounts run (docs/model.md 11.7-11.11); every other stage is refused with them.
ACCOUNT_STAGES = (
    "oracle",
    "vol_fee",
    "partial",
    "partial_fraction",
    "adl",
    "market",
    "backstop",
    "predictive",
    "fund_bound",
)


def test_a_listed_pair_is_refused_naming_both_and_why(monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusal still works should a pair be listed: both settings, the reason, no run."""
    from stresstest.scenario import composition

    assert set(ACCOUNT_STAGES) == set(SINGLE_STAGES)  # accounts run every stage
    reason = "a reason written for this test (docs/model.md 11.7)"
    monkeypatch.setitem(composition.UNSUPPORTED, frozenset({"oracle", "accounts"}), reason)
    with pytest.raises(InputError) as caught:
        load_scenario(with_stages(ACCOUNTS, ("oracle",)))
    message = str(caught.value)
    assert STAGE_SETTINGS["oracle"][1] in message
    assert "multi-asset accounts" in message
    assert reason in message


@pytest.mark.parametrize("stages", [("oracle",), ("vol_fee",), ("oracle", "vol_fee")], ids="+".join)
def test_accounts_run_the_oracle_and_the_vol_fee(stages: tuple[str, ...]) -> None:
    for pair in itertools.combinations((*stages, "accounts"), 2):
        assert frozenset(pair) not in UNSUPPORTED
    scenario = with_stages(ACCOUNTS, stages)
    if "oracle" in stages:
        scenario["oracle"] = {"model": "lag", "lag_steps": 3}
    if "vol_fee" in stages:
        scenario["liquidation"].update(fee_base=0.002, fee_k=2.0, fee_max=0.05)
    result = stresstest.run(load_scenario(scenario))
    plain = stresstest.run(load_scenario(ACCOUNTS))
    assert result.paths.columns == ["path", *enums.METRIC_NAMES]
    assert plain.metrics[:, enums.N_LIQUIDATIONS].sum() > 0
    # the stage changed something the plain run measures: it ran, nothing was ignored
    changed = "requirement_mean" if "oracle" in stages else "fees_to_fund"
    assert not (result.column(changed) == plain.column(changed)).all()


@pytest.mark.parametrize("stage", ["partial", "partial_fraction", "adl"])
def test_accounts_run_partial_liquidation_and_adl(stage: str) -> None:
    assert frozenset({stage, "accounts"}) not in UNSUPPORTED
    stages = ("partial", stage) if stage == "partial_fraction" else (stage,)
    # volatile enough for bad debt on every path, and no fund: every bad debt is a shortfall
    base = copy.deepcopy(ACCOUNTS)
    base["paths"].update(sigma=[0.03, 0.05], n_steps=24)
    base["book"].update(n_accounts=200, leverage_max=50.0)
    base["insurance_fund"] = {"initial": 0.0}
    base["liquidation"] = {"latency_steps": 1, "fee": 0.005}
    result = stresstest.run(load_scenario(with_stages(base, stages)))
    plain = stresstest.run(load_scenario(base))
    # whole paths per thread: the same bytes whatever the chunk size
    chunked = stresstest.run(load_scenario(with_stages(base, stages)), chunk_size=1)
    assert chunked.metrics.tobytes() == result.metrics.tobytes()
    extra = enums.ADL_METRIC_NAMES if stage == "adl" else ()
    assert result.paths.columns == ["path", *enums.METRIC_NAMES, *extra]
    assert (plain.metrics[:, enums.BAD_DEBT] > 0).all()
    # the stage changed what the plain run measures: it ran, nothing was ignored
    changed = "socialized_loss" if stage == "adl" else "liquidated_notional"
    assert not (result.column(changed) == plain.column(changed)).all()


def test_one_asset_runs_partial_liquidation_and_adl_together() -> None:
    """Once refused (the partial stage kept closes per cohort); now ADL reads each partially
    closed position's state and its closes reduce the cohorts (docs/model.md 10.2)."""
    assert frozenset({"partial", "adl"}) not in UNSUPPORTED
    base = copy.deepcopy(GBM)
    base["paths"].update(sigma=0.03, n_steps=24)
    base["insurance_fund"] = {"initial": 0.0}
    for policy in ("profit_leverage", "hyperliquid", "pro_rata"):
        scenario = with_stages(base, ("partial", "adl"))
        scenario["adl"]["policy"] = policy
        both = load_scenario(scenario)
        result = stresstest.run(both)
        assert result.paths.columns == ["path", *enums.METRIC_NAMES, *enums.ADL_METRIC_NAMES]
        assert result.column("adl_count").sum() > 0, policy
        chunked = stresstest.run(both, chunk_size=1)
        assert chunked.metrics.tobytes() == result.metrics.tobytes()
        partial_only = stresstest.run(load_scenario(with_stages(base, ("partial",))))
        assert (result.column("socialized_loss") < partial_only.column("socialized_loss")).any()


def test_one_asset_runs_the_fraction_rule_and_adl_together() -> None:
    """Once refused; now ADL ranks each remainder of the fraction rule by its own state
    (docs/model.md 10.1.1, 10.2), the same bits whatever the chunk size."""
    assert frozenset({"partial_fraction", "adl"}) not in UNSUPPORTED
    base = copy.deepcopy(GBM)
    base["paths"].update(sigma=0.03, n_steps=24)
    base["insurance_fund"] = {"initial": 0.0}
    for policy in ("profit_leverage", "hyperliquid", "pro_rata"):
        scenario = with_stages(base, ("partial", "partial_fraction", "adl"))
        scenario["adl"]["policy"] = policy
        both = load_scenario(scenario)
        result = stresstest.run(both)
        assert result.column("adl_count").sum() > 0, policy
        assert (result.column("n_liquidations") > 0).any()
        chunked = stresstest.run(both, chunk_size=1)
        assert chunked.metrics.tobytes() == result.metrics.tobytes()


def test_accounts_run_partial_liquidation_and_adl_together() -> None:
    """Accounts run both with each unit's own state (11.8)."""
    base = copy.deepcopy(ACCOUNTS)
    base["paths"].update(sigma=[0.03, 0.05], n_steps=24)
    base["book"].update(n_accounts=200, leverage_max=50.0)
    base["insurance_fund"] = {"initial": 0.0}
    base["liquidation"] = {"latency_steps": 1, "fee": 0.005}
    both = load_scenario(with_stages(base, ("partial", "adl")))
    result = stresstest.run(both)
    assert result.paths.columns == ["path", *enums.METRIC_NAMES, *enums.ADL_METRIC_NAMES]
    assert result.column("adl_count").sum() > 0  # ADL ran on the partially closed book
    chunked = stresstest.run(both, chunk_size=1)
    assert chunked.metrics.tobytes() == result.metrics.tobytes()
    partial_only = stresstest.run(load_scenario(with_stages(base, ("partial",))))
    assert not (result.column("socialized_loss") == partial_only.column("socialized_loss")).all()


def supported_single_sets() -> list[tuple[str, ...]]:
    """Every set of single-asset stages with no refused pair (the empty set too).

    The venue-style rule is a setting of partial liquidation: each set with ``partial``
    comes once more with ``partial_fraction``.
    """
    sets = []
    stages_but_rule = tuple(stage for stage in SINGLE_STAGES if stage != "partial_fraction")
    for size in range(len(stages_but_rule) + 1):
        for stages in itertools.combinations(stages_but_rule, size):
            pairs = {frozenset(pair) for pair in itertools.combinations(stages, 2)}
            if not pairs & set(UNSUPPORTED):
                sets.append(stages)
                with_rule = {frozenset({stage, "partial_fraction"}) for stage in stages}
                if "partial" in stages and not with_rule & set(UNSUPPORTED):
                    sets.append((*stages, "partial_fraction"))
    return sets


@pytest.mark.parametrize("stages", supported_single_sets(), ids=lambda s: "+".join(s) or "core")
def test_every_set_of_stages_not_refused_runs_with_its_columns(stages: tuple[str, ...]) -> None:
    result = stresstest.run(load_scenario(with_stages(GBM, stages)))
    expected = enums.METRIC_NAMES
    if "market" in stages:
        expected += enums.MARKET_METRIC_NAMES
    if "adl" in stages:
        expected += enums.ADL_METRIC_NAMES
    if "backstop" in stages:
        expected += enums.BACKSTOP_METRIC_NAMES
    if "fund_bound" in stages:
        expected += enums.FUND_BOUND_METRIC_NAMES
    assert result.paths.columns == ["path", *expected]
    assert set(result.summary()["metrics"]) == set(expected)
    assert result.paths.null_count().sum_horizontal().item() == 0


def test_the_cli_runs_accounts_with_market_and_writes_its_columns(tmp_path: Path) -> None:
    """It used to end in IndexError (index 12 out of bounds), then was refused; now it runs.

    The autouse fixture validates the result folder against the schemas.
    """
    scenario = tmp_path / "cross_market.toml"
    scenario.write_text(tomli_w.dumps(with_stages(ACCOUNTS, ("market",))))
    out = tmp_path / "result"
    outcome = CliRunner().invoke(app, ["run", str(scenario), "--out", str(out), "--quiet"])
    assert outcome.exit_code == 0, outcome.output
    summary = json.loads((out / "summary.json").read_text())
    assert set(enums.MARKET_METRIC_NAMES) <= set(summary["metrics"])


@pytest.mark.parametrize("stages", [("market",), ("market", "partial"), ("market", "adl")])
def test_accounts_run_market_impact(stages: tuple[str, ...]) -> None:
    """Impact moved prices (docs/model.md 11.9): it ran, and the run is chunk-independent."""
    assert frozenset({"market", "accounts"}) not in UNSUPPORTED
    base = copy.deepcopy(ACCOUNTS)
    base["paths"].update(sigma=[0.03, 0.05], n_steps=24)
    base["book"].update(n_accounts=200, leverage_max=50.0)
    base["insurance_fund"] = {"initial": 0.0}
    base["liquidation"] = {"latency_steps": 1, "fee": 0.005}
    scenario = with_stages(base, stages)
    scenario["market"] = {"impact": "linear", "depth": 2e4, "permanent_fraction": 0.5}
    result = stresstest.run(load_scenario(scenario))
    chunked = stresstest.run(load_scenario(scenario), chunk_size=1)
    assert chunked.metrics.tobytes() == result.metrics.tobytes()
    extra = enums.ADL_METRIC_NAMES if "adl" in stages else ()
    assert result.paths.columns == [
        "path",
        *enums.METRIC_NAMES,
        *enums.MARKET_METRIC_NAMES,
        *extra,
    ]
    assert (result.column("impact_bad_debt") != 0.0).any()
    assert (result.column("cascade_depth") > 0).any()


def test_the_cli_writes_an_accounts_adl_run_with_its_columns(tmp_path: Path) -> None:
    """The folder holds the ADL columns; the autouse fixture validates it against the schemas."""
    scenario = tmp_path / "cross_adl.toml"
    scenario.write_text(tomli_w.dumps(with_stages(ACCOUNTS, ("adl",))))
    out = tmp_path / "result"
    outcome = CliRunner().invoke(app, ["run", str(scenario), "--out", str(out), "--quiet"])
    assert outcome.exit_code == 0, outcome.output
    summary = json.loads((out / "summary.json").read_text())
    assert set(enums.ADL_METRIC_NAMES) <= set(summary["metrics"])


@pytest.mark.parametrize("mode", ["isolated", "cross", "book"])
def test_accounts_run_the_predictive_trigger(mode: str) -> None:
    """One-position units by 9.3, cross units by their equity's first passage (11.8)."""
    predictive = {"trigger": "predictive", "vol_ewma_lambda": 0.94, "latency_steps": 1}
    base = copy.deepcopy(ACCOUNTS)
    base["paths"].update(sigma=[0.03, 0.05], n_steps=24)
    base["book"].update(n_accounts=200, leverage_max=50.0)
    base["accounts"] = {"mode": mode}
    plain = stresstest.run(load_scenario({**base, "liquidation": {"latency_steps": 1}}))
    base["liquidation"] = dict(predictive)
    result = stresstest.run(load_scenario(base))
    assert result.paths.columns == ["path", *enums.METRIC_NAMES]
    assert result.metrics[:, enums.N_LIQUIDATIONS].sum() > 0
    # the trigger ran: it flags at other steps than the maintenance check
    assert (
        not (result.column("n_liquidations") == plain.column("n_liquidations")).all()
        or not (result.column("bad_debt") == plain.column("bad_debt")).all()
    )
