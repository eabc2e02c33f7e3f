"""``compare --match`` of accounts scenarios (docs/model.md 11.6, docs/compare.md "Matching").

A volatility-scaled accounts variant is matched with one static maintenance rate
for every asset. Checked three ways: a closed form (a book that never breaches
has a cost linear in the rate, so the match is the target over the mean open
notional), the plain account-by-account reference at the scanned rates and
around the matched one (the lowest crossing the scan sees, for cost and for
risk), and the command (the matched design written to the folder). The static
designs a match measures are the full runs' bytes (paths held in memory, the
accounts book built once), and a matched variant with tiered brackets is refused
naming both settings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import tomli_w
from typer.testing import CliRunner

from stresstest.cli import app
from stresstest.comparison.engine import compare, cost_of, risk_of, run_variants
from stresstest.comparison.matching import MATCH_XTOL
from stresstest.comparison.measuring import StaticFamily, static_variant
from stresstest.comparison.paired import expected_shortfall_99
from stresstest.engine.accounts import prepare_accounts
from stresstest.engine.run import PrepareCache
from stresstest.errors import InputError
from stresstest.kernels.enums import METRIC_NAMES
from stresstest.paths.memory import MemoryPathSource
from stresstest.scenario import Scenario
from stresstest.scenario.compare import parse_compare
from stresstest.scenario.validate import scenario_from_dict
from tests.test_accounts import run_reference
from tests.test_accounts_compare import BASE
from tests.tolerances import ENGINE_VS_REFERENCE_RTOL

REQUIREMENT = METRIC_NAMES.index("requirement_mean")
BAD_DEBT = METRIC_NAMES.index("bad_debt")
#: BASE's liquidation (latency steps, slippage, fee), no share to liquidators, and fund.
LIQUIDATION = (*BASE["liquidation"].values(), 0.0)
FUND = BASE["insurance_fund"]["initial"]
VOL: dict[str, Any] = {
    "model": "vol_scaled",
    "k": 1.0,
    "horizon_steps": 4,
    "ewma_lambda": 0.94,
    "initial_variance": 1.5e-4,
    "floor": 0.002,
    "cap": 0.1,
}
#: Beyond Brent's tolerance on either side of a matched rate (fraction of notional).
STEP = 10 * MATCH_XTOL
#: Absolute slack of a measure against the reference (quote units): an ES99 of 0.
MONEY_ATOL = 1e-6


def accounts_raw(leverage: tuple[float, float], **variant: Any) -> dict[str, Any]:
    """tests/test_accounts_compare.py's two assets, smaller (30 accounts, 6 paths of 40
    steps) and cross-margined: a static baseline and a volatility-scaled design."""
    return {
        **BASE,
        "scenario": {"name": "accounts_match", "seed": 5},
        "paths": {**BASE["paths"], "n_paths": 6, "n_steps": 40},
        "book": {
            **BASE["book"],
            "n_accounts": 30,
            "leverage_min": leverage[0],
            "leverage_max": leverage[1],
        },
        "liquidation": {**BASE["liquidation"], "liquidator_share": LIQUIDATION[3]},
        "accounts": {"mode": "cross"},
        "compare": {
            "baseline": "static",
            "bootstrap_samples": 20,
            "variants": [{"name": "static"}, {"name": "vol", "margin": VOL, **variant}],
        },
    }


def reference_metrics(scenario: Scenario, rate: float) -> np.ndarray:
    """The plain reference's per-path metrics of the static design at ``rate`` (cross)."""
    source, book = prepare_accounts(scenario)
    prices = source.chunk(0, source.n_paths)
    margin = {"model": "static", "maintenance": float(rate)}
    return run_reference(prices, book, "cross", margin, LIQUIDATION, FUND)


def test_cost_match_of_a_book_that_never_breaches_is_target_over_open_notional() -> None:
    """Closed form: without a breach every unit stays open, so the cost of the static
    rate ``m`` is ``m S`` with ``S`` the mean over paths of the time-averaged open
    notional ``(1/(T+1)) sum_t sum_a Q_a P_a,t`` (docs/model.md 11.3); the match is
    ``target / S``."""
    scenario = scenario_from_dict(accounts_raw((1.2, 1.5)), file=None)
    comparison = compare(scenario, match="cost")
    (found,) = comparison.matches
    assert found.static_maintenance is not None and found.static_variant == "vol@static-cost"
    for name in ("vol", found.static_variant):  # the premise: no breach on any path
        assert comparison.result(name).column("n_liquidations").sum() == 0
    source, book = prepare_accounts(scenario)
    prices = source.chunk(0, source.n_paths)
    open_quantity = np.zeros(len(source.assets))
    np.add.at(open_quantity, book.asset, book.qty)
    notional = np.einsum("a,pat->p", open_quantity, prices) / prices.shape[2]
    expected = found.target / float(np.mean(notional))
    assert abs(found.static_maintenance - expected) <= 2 * MATCH_XTOL
    assert found.achieved == pytest.approx(
        found.static_maintenance * float(np.mean(notional)), rel=ENGINE_VS_REFERENCE_RTOL
    )
    assert found.matching_rates == (found.static_maintenance,)
    # Not vacuous: the vol-scaled design's cost is not the static baseline's.
    assert cost_of(comparison.result("static")) < found.target


@pytest.mark.parametrize("kind", ["cost", "risk"])
def test_matched_rate_is_the_lowest_crossing_of_the_reference_the_scan_sees(kind: str) -> None:
    """A leveraged book (units close, so the cost is not monotone and ES99 is a step
    function): the plain reference's measure at each scanned rate is the scan's, the
    matched rate lies in the first scan interval where the reference's measure crosses
    the target, it is a crossing of the reference's measure (a sign change within
    Brent's tolerance), and its measure is the reference's there."""
    scenario = scenario_from_dict(accounts_raw((5.0, 40.0)), file=None)
    comparison = compare(scenario, match=kind)
    (found,) = comparison.matches
    assert found.static_maintenance is not None and found.achieved is not None
    rate, target = found.static_maintenance, found.target

    def measure(value: float) -> float:
        metrics = reference_metrics(scenario, value)
        if kind == "cost":
            return float(np.mean(metrics[:, REQUIREMENT]))
        return expected_shortfall_99(metrics[:, BAD_DEBT])

    scanned = [measure(value) for value in found.scan_rates]
    np.testing.assert_allclose(
        found.scan_values, scanned, rtol=ENGINE_VS_REFERENCE_RTOL, atol=MONEY_ATOL
    )
    gaps = np.array(scanned) - target
    first = int(np.argmax(np.sign(gaps) != np.sign(gaps[0])))
    assert first > 0  # the scan crosses the target
    assert found.scan_rates[first - 1] < rate <= found.scan_rates[first]
    assert measure(rate) == pytest.approx(
        found.achieved, rel=ENGINE_VS_REFERENCE_RTOL, abs=MONEY_ATOL
    )

    def side(value: float) -> float:
        """The sign of ``value - target``, 0 within the reference's rounding."""
        gap = value - target
        return 0.0 if abs(gap) <= ENGINE_VS_REFERENCE_RTOL * abs(target) + MONEY_ATOL else gap

    assert side(measure(rate - STEP)) * side(measure(rate + STEP)) <= 0.0
    # Not vacuous: the designs liquidate, so the measure is not linear in the rate.
    assert comparison.result(found.static_variant).column("n_liquidations").sum() > 0


def test_static_designs_of_an_accounts_match_equal_full_runs() -> None:
    """The measuring replays (no records, no findings, paths held in memory, the
    accounts book built once) give a full run's per-path metrics, bit for bit."""
    scenario = scenario_from_dict(accounts_raw((5.0, 40.0)), file=None)
    variant = next(v for v in parse_compare(scenario).variants if v.name == "vol")
    rates = (0.003, 0.02, 0.08)
    family = StaticFamily(variant, "cost", {"chunk_size": 4}, PrepareCache())
    measured = family.results(rates)
    costs = family.costs(rates[::-1])
    full = run_variants([static_variant(variant, rate, "cost") for rate in rates], {})
    assert isinstance(family.cache.source, MemoryPathSource)
    assert len(family.cache.accounts) == 1
    for quick, whole in zip(measured, full, strict=True):
        assert quick.grid.shape == (0,)
        assert quick.metrics.tobytes() == whole.metrics.tobytes()
    assert costs[::-1] == [cost_of(result) for result in full]
    assert len({risk_of(result) for result in full} | {0.0}) > 1  # the rates differ


def test_match_refuses_a_volatility_scaled_variant_with_brackets() -> None:
    raw = accounts_raw(
        (5.0, 40.0), **{"accounts.bracket_floor": [50000.0], "accounts.bracket_rate": [0.02]}
    )
    scenario = scenario_from_dict(raw, file=None)
    compare(scenario)  # without --match the variant is compared as given
    with pytest.raises(InputError, match="tiered brackets") as caught:
        compare(scenario, match="cost")
    assert caught.value.key == "match, accounts.bracket_floor"


def test_command_writes_the_matched_accounts_design(tmp_path: Path) -> None:
    file = tmp_path / "accounts_match.toml"
    file.write_text(tomli_w.dumps(accounts_raw((5.0, 40.0))))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["compare", str(file), "--match", "cost", "--out", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    written = json.loads((out / "compare.json").read_text())
    (found,) = written["matches"]
    assert found["static_variant"] == "vol@static-cost"
    expected = compare(scenario_from_dict(accounts_raw((5.0, 40.0)), file=None), match="cost")
    assert found["static_maintenance"] == expected.matches[0].static_maintenance
    table = pl.read_parquet(out / "compare.parquet")
    assert list(table["variant"]) == ["static", "vol", "vol@static-cost"]
    assert (
        table.filter(pl.col("variant") == "vol@static-cost")["maintenance"][0]
        == (found["static_maintenance"])
    )
    assert (out / "variants" / "vol@static-cost" / "paths.parquet").is_file()
