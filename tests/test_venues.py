"""The five venue rulebooks of scenarios/venues/ (docs/venues.md) run whole, each with
its own stages, and the table of docs/venues.md is what docs/make_venues_doc.py makes."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

import stresstest

REPO = Path(__file__).resolve().parents[1]
VENUES = REPO / "scenarios" / "venues"
#: Each venue's columns that only its rulebook's stages write (docs/venues.md).
OWN_COLUMNS = {
    "binance_btcusdt": ("adl_notional", "adl_gini"),
    "hyperliquid_btc": ("backstop_pnl", "backstop_takeovers", "adl_notional"),
    "dydx_v4_btc": ("fund_passed_bad_debt", "adl_notional"),
    "drift_sol_perp": (),
    "bitmex_xbtusd": ("adl_notional", "adl_gini"),
}


def make_venues_doc() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_venues_doc", REPO / "docs/make_venues_doc.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_venue_is_in_the_table() -> None:
    assert sorted(path.stem for path in VENUES.glob("*.toml")) == sorted(OWN_COLUMNS)
    assert sorted(make_venues_doc().ORDER) == sorted(OWN_COLUMNS)


@pytest.mark.parametrize("venue", sorted(OWN_COLUMNS))
def test_a_venue_runs_whole_with_its_own_stages(venue: str) -> None:
    """The shipped scenario runs as written (no plausibility warning: the suite turns
    warnings into errors) and writes its stages' columns; Drift, which has no ADL, has
    none of ADL's."""
    scenario = stresstest.load_scenario(VENUES / f"{venue}.toml")
    if scenario.paths.source == "gbm":
        scenario = scenario.with_overrides({"paths.n_paths": 20})
    result = stresstest.run(scenario)
    names = set(result.metric_names)
    assert set(OWN_COLUMNS[venue]) <= names
    if venue == "drift_sol_perp":
        assert "adl_notional" not in names and scenario.partial_liquidation is not None
    if venue == "hyperliquid_btc":  # Hyperliquid's 20 % rule with its ADL (docs/venues.md)
        assert scenario.partial_liquidation is not None
        assert scenario.partial_liquidation.rule == "fraction"
    if venue == "binance_btcusdt":  # Binance's tier step-down (docs/model.md 11.8)
        assert scenario.partial_liquidation is not None
        assert scenario.partial_liquidation.rule == "tier_step_down"
    assert float(result.column("n_liquidations").sum()) > 0


@pytest.mark.slow
def test_the_table_of_venues_md_is_current() -> None:
    """Every row of docs/venues.md's table is what the script computes now."""
    module = make_venues_doc()
    text = (REPO / "docs" / "venues.md").read_text(encoding="utf-8")
    section = text.split(module.BEGIN, 1)[1].split(module.END, 1)[0]
    assert section.strip().splitlines() == module.table_lines()
