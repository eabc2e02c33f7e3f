"""Hand-computed cases of the crash mechanisms (docs/model.md 9), one or more per mechanism.

Each case is one or three longs (``q = 1``, entry 100, so ``theta = 100 - c``)
over one short path; the expected values are derived in the comments from the
formulas of docs/model.md, written out with ``math`` rather than the engine.
Then: ``compare`` pits the predictive trigger against the maintenance trigger
through a dotted-key override, bad input names its key, and a run with
``[market]`` writes the two extra columns.
"""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numba
import numpy as np
import polars as pl
import pytest

from stresstest.book import Book
from stresstest.comparison.engine import compare
from stresstest.engine.mechanics import trigger_z
from stresstest.engine.run import run
from stresstest.errors import InputError
from stresstest.kernels import enums
from stresstest.kernels.enums import PROCYCLICALITY_METRIC_NAMES
from stresstest.scenario import load_scenario
from tests.reference_mechanics import Mechanisms, reference_mechanics
from tests.test_mechanics_reference import liquidation_table, run_mechanics_kernel
from tests.test_replay_reference import ReplayCase
from tests.tolerances import HAND_COMPUTED_ATOL, HAND_COMPUTED_RTOL, assert_close


def longs(*collateral: float) -> Book:
    """Longs of q = 1 entered at 100 with the given collateral (theta = 100 - c)."""
    n = len(collateral)
    return Book(
        side=np.ones(n, dtype=np.int8),
        qty=np.ones(n),
        entry_price=np.full(n, 100.0),
        collateral=np.array(collateral, dtype=float),
    )


def replay(
    prices: list[float],
    book: Book,
    margin: dict[str, Any],
    *,
    fee: float = 0.0,
    latency_steps: int = 0,
    oracle: dict[str, Any] | None = None,
    market: dict[str, Any] | None = None,
    partial: dict[str, Any] | None = None,
    procyclicality: int = 0,
    **liquidation: Any,
) -> dict[str, float]:
    """The mechanics kernel on one path; metrics by name.

    With ``procyclicality = n > 0`` (``[procyclicality] horizon_steps``, docs/model.md
    3.2) its four columns too, each returned column checked against the plain
    reference (tests/reference_mechanics.py) at the hand-computed tolerances.
    """
    case = ReplayCase(
        prices=np.array([prices]),
        book=book,
        margin=margin,
        latency_steps=latency_steps,
        slippage=0.0,
        fee=fee,
        liquidator_share=0.5,
        fund_initial=0.0,
    )
    mechanisms = Mechanisms(
        margin=margin,
        liquidation=liquidation_table(case, **liquidation),
        oracle=oracle,
        market=market,
        partial=partial,
        procyclicality=procyclicality,
    )
    row = run_mechanics_kernel(case, mechanisms)[0]
    names = enums.METRIC_NAMES + (enums.MARKET_METRIC_NAMES if market else ())
    actual = {name: float(row[enums.METRIC_INDEX[name]]) for name in names}
    if procyclicality > 0:
        actual.update(
            {name: float(row[enums.METRIC_INDEX[name]]) for name in PROCYCLICALITY_METRIC_NAMES}
        )
        reference, _ = reference_mechanics(
            case.prices, book.side, book.qty, book.entry_price, book.collateral, mechanisms
        )
        check(actual, {name: float(reference[0, enums.METRIC_INDEX[name]]) for name in actual})
    return actual


def check(actual: dict[str, float], expected: dict[str, float]) -> None:
    for name, value in expected.items():
        assert_close(
            actual[name], value, rtol=HAND_COMPUTED_RTOL, atol=HAND_COMPUTED_ATOL, what=name
        )


STATIC_0 = {"model": "static", "maintenance": 0.0}


def test_lagged_oracle_flags_a_step_late_and_closes_at_the_market_price() -> None:
    # theta = 90. Market: P_2 = 85 < 90 flags at t = 2, closes at 85: e' = 10 - 15 = -5.
    # Oracle lag 1: O = 100, 100, 95, 85, 80; O_3 = 85 < 90 flags at t = 3 and closes
    # at the market price P_3 = 80: e' = 10 - 20 = -10, bad debt 10, penalty 0.
    prices = [100.0, 95.0, 85.0, 80.0, 80.0]
    on_market = replay(prices, longs(10.0), STATIC_0, fee=0.01)
    check(on_market, {"n_liquidations": 1, "bad_debt": 5.0, "liquidated_notional": 85.0})
    lagged = replay(
        prices, longs(10.0), STATIC_0, fee=0.01, oracle={"model": "lag", "lag_steps": 1}
    )
    check(lagged, {"n_liquidations": 1, "bad_debt": 10.0, "liquidated_notional": 80.0})


def test_ema_and_twap_oracles() -> None:
    # theta = 90, prices 100, 80, 80. ema a = 0.5: O = 100, 90, 85: flags at t = 2
    # (O_1 = 90 is not < 90), closes at 80: bad debt 10. twap of 3: O_2 = 260/3 = 86.67 < 90
    # flags at t = 2 too; twap of 2: O_1 = 90 not < 90, O_2 = 80 flags at t = 2.
    prices = [100.0, 80.0, 80.0]
    for oracle in (
        {"model": "ema", "ema_lambda": 0.5},
        {"model": "twap", "twap_steps": 3},
        {"model": "twap", "twap_steps": 2},
    ):
        result = replay(prices, longs(10.0), STATIC_0, oracle=oracle)
        check(result, {"n_liquidations": 1, "bad_debt": 10.0, "liquidated_notional": 80.0})
    # requirement_mean uses the oracle price: m = 0.01, O = 100, 90, 85 (ema). With m = 0.01
    # the long breaches at t = 1 (E = 10 - 10 = 0 < 0.01 * 90): open q 1, 1, 0 (flagged at
    # 1 still counts at 1), so (0.01 * 100 + 0.01 * 90 + 0) / 3; margin_rate_mean 0.01.
    result = replay(
        prices,
        longs(10.0),
        {"model": "static", "maintenance": 0.01},
        oracle={"model": "ema", "ema_lambda": 0.5},
    )
    check(result, {"requirement_mean": (1.0 + 0.9) / 3.0, "margin_rate_mean": 0.01})


def test_manipulated_oracle_liquidates_a_healthy_position() -> None:
    # Flat market at 100; the oracle is pushed 15% down at step 1 only: O_1 = 85 < 90.
    # The long is closed at the market price 100: e' = 10, penalty 0.01 * 100 = 1,
    # half to the fund; no bad debt. Without the manipulation nothing happens.
    prices = [100.0, 100.0, 100.0, 100.0]
    oracle = {
        "model": "lag",
        "manipulation_step": 1,
        "manipulation_size": -0.15,
        "manipulation_steps": 1,
    }
    result = replay(prices, longs(10.0), STATIC_0, fee=0.01, oracle=oracle)
    check(
        result,
        {
            "n_liquidations": 1,
            "liquidated_notional": 100.0,
            "bad_debt": 0.0,
            "fees_to_fund": 0.5,
            "fees_to_liquidators": 0.5,
        },
    )
    quiet = replay(prices, longs(10.0), STATIC_0, fee=0.01, oracle={"model": "lag"})
    check(quiet, {"n_liquidations": 0})


PREDICTIVE = {
    "trigger": "predictive",
    "trigger_probability": 2.0 * NormalDist().cdf(-1.0),  # z = 1
    "trigger_horizon_steps": 4,
    "vol_ewma_lambda": 0.5,
    "vol_initial_variance": 0.0,
}


def test_z_of_the_predictive_trigger() -> None:
    assert trigger_z(PREDICTIVE["trigger_probability"]) == pytest.approx(1.0, rel=1e-12)
    assert trigger_z(0.05) == pytest.approx(1.959963984540054, rel=1e-12)


def test_predictive_trigger_fires_where_maintenance_does_not() -> None:
    # theta = 94 (c = 6), prices 100, 100, 96, 96, maintenance 0.005.
    # Maintenance: at 96, E = 6 - 4 = 2 >= R = 0.48: never breached.
    # Predictive, z = 1, h = 4, lambda 0.5, v_0 = 0: sigma_0 = sigma_1 = 0, so the series is
    # P itself (100 > 94). At t = 2, r = ln 0.96, v_2 = 0.5 r^2, sigma_2 = |r| sqrt(0.5),
    # series 96 exp(-2 sigma_2) = 90.61 < 94: flagged and closed at 96: e' = 2,
    # penalty 0.01 * 96 = 0.96 paid in full.
    prices = [100.0, 100.0, 96.0, 96.0]
    margin = {"model": "static", "maintenance": 0.005}
    maintenance = replay(prices, longs(6.0), margin, fee=0.01)
    check(maintenance, {"n_liquidations": 0})
    predictive = replay(prices, longs(6.0), margin, fee=0.01, **PREDICTIVE)
    assert 96.0 * math.exp(-2.0 * abs(math.log(0.96)) * math.sqrt(0.5)) < 94.0
    check(
        predictive,
        {"n_liquidations": 1, "liquidated_notional": 96.0, "fees_to_fund": 0.48, "bad_debt": 0.0},
    )


def test_vol_scaled_penalty_at_the_close_step() -> None:
    # The case above with fee = min(0.02, max(0.002, 0.001 + 0.5 sigma_2)) = 0.001 + 0.5 sigma_2
    # (sigma_2 = |ln 0.96| sqrt(0.5) = 0.02887): due 96 fee = 1.4816 < e' = 2, paid in full.
    sigma = abs(math.log(0.96)) * math.sqrt(0.5)
    fee = 0.001 + 0.5 * sigma
    result = replay(
        [100.0, 100.0, 96.0, 96.0],
        longs(6.0),
        {"model": "static", "maintenance": 0.005},
        fee_model="vol_scaled",
        fee_base=0.001,
        fee_k=0.5,
        fee_min=0.002,
        fee_max=0.02,
        **PREDICTIVE,
    )
    check(result, {"fees_to_fund": 0.5 * fee * 96.0, "fees_to_liquidators": 0.5 * fee * 96.0})
    # Capped: fee_max = 0.01 gives 0.96.
    capped = replay(
        [100.0, 100.0, 96.0, 96.0],
        longs(6.0),
        {"model": "static", "maintenance": 0.005},
        fee_model="vol_scaled",
        fee_base=0.001,
        fee_k=0.5,
        fee_max=0.01,
        **PREDICTIVE,
    )
    check(capped, {"fees_to_fund": 0.48})


def test_linear_impact_cascade_of_three_generations() -> None:
    # thetas 95, 90, 80 (c = 5, 10, 20); prices 100, 94, 94, 94; latency 0, fee 0,
    # depth 9.4 (quote per 1%), permanent fraction 1.
    # t=1: 94 < 95 flags A (also without impact: generation 0). Net sell 94:
    #      I1 = 0.01 * 94 / 9.4 = 0.1, x1 = 94 e^-0.1; A: e' = 5 + x1 - 100 < 0.
    #      Later prices are multiplied by e^-0.1.
    # t=2: P = 94 e^-0.1 = 85.06 < 90 flags B, which the un-impacted path never
    #      flags: generation 1. I2 = 0.01 * 94 e^-0.1 / 9.4, x2 = 94 e^-0.1 e^-I2.
    # t=3: P = x2 = 77.7 < 80 flags C: generation 2. I3 = 0.01 x2 / 9.4, x3 = x2 e^-I3.
    # Without impact only A is closed, at 94: bad debt 1.
    x1 = 94.0 * math.exp(-0.1)
    i2 = 0.01 * x1 / 9.4
    x2 = x1 * math.exp(-i2)
    i3 = 0.01 * x2 / 9.4
    x3 = x2 * math.exp(-i3)
    bad = (95.0 - x1) + (90.0 - x2) + (80.0 - x3)
    result = replay(
        [100.0, 94.0, 94.0, 94.0],
        longs(5.0, 10.0, 20.0),
        STATIC_0,
        market={"impact": "linear", "depth": 9.4, "permanent_fraction": 1.0},
    )
    check(
        result,
        {
            "n_liquidations": 3,
            "liquidated_notional": x1 + x2 + x3,
            "bad_debt": bad,
            "cascade_depth": 2,
            "impact_bad_debt": bad - 1.0,
        },
    )
    # Temporary impact only: A closes at x1, nothing else moves: depth 0.
    temporary = replay(
        [100.0, 94.0, 94.0, 94.0],
        longs(5.0, 10.0, 20.0),
        STATIC_0,
        market={"impact": "linear", "depth": 9.4, "permanent_fraction": 0.0},
    )
    check(
        temporary,
        {
            "n_liquidations": 1,
            "bad_debt": 95.0 - x1,
            "cascade_depth": 0,
            "impact_bad_debt": 95.0 - x1 - 1.0,
        },
    )


def test_sqrt_impact_with_its_cap() -> None:
    # One long theta 95 at P_1 = 94: net sell 94, I = 0.05 sqrt(94 / 23.5) = 0.1, x = 94 e^-0.1.
    # With max_impact 0.04 the impact is capped: x = 94 e^-0.04.
    for cap, impact in ((1.0, 0.1), (0.04, 0.04)):
        market = {
            "impact": "sqrt",
            "coefficient": 0.05,
            "reference_notional": 23.5,
            "max_impact": cap,
        }
        result = replay([100.0, 94.0, 94.0], longs(5.0), STATIC_0, market=market)
        check(
            result,
            {
                "liquidated_notional": 94.0 * math.exp(-impact),
                "bad_debt": 95.0 - 94.0 * math.exp(-impact),
            },
        )


SCENARIO = """
[scenario]
name = "mech"
seed = 4

[paths]
source = "gbm"
s0 = 100.0
sigma = 0.01
n_paths = 40
n_steps = 60

[book]
source = "synthetic"
n_positions = 2000
leverage_max = 30.0

[margin]
model = "vol_scaled"
k = 3.0
horizon_steps = 4
ewma_lambda = 0.94
initial_variance = 1e-4
floor = 0.004
cap = 0.2

[liquidation]
latency_steps = 2
slippage = 0.002
fee = 0.01
"""

COMPARE = """
[compare]
baseline = "maintenance"
bootstrap_samples = 50

[[compare.variants]]
name = "maintenance"

[[compare.variants]]
name = "predictive"
"liquidation.trigger" = "predictive"
"liquidation.trigger_probability" = 0.2
"""


def test_partial_close_with_a_lagged_oracle_targets_the_mark() -> None:
    """Partial liquidation with an oracle (docs/model.md 10.1): breach and target at the mark.

    Long q 1, e 100, c 10 (theta 90); m = 0.05, b = 0.05 (rho = 0.1), fee 0.01, no
    latency or slippage, fund 0. Market P = 100, 92, 95, 80, 80; oracle lag 1:
    O = 100, 100, 92, 95, 80.
    t = 2: at the mark E = 10 - 8 = 2 < 0.05 * 92 = 4.6: flagged, closed at the market
      x = 95 with the mark y = 92. E_x = 5, A = E_x - fee q x = 4.05,
      D = rho y - (y - x) - fee x = 9.2 + 3 - 0.95 = 11.25, q' = A / D = 0.36:
      0.64 closed, notional 60.8, penalty 0.608; the rest keeps
      c' = 5 - 0.608 - 0.36 (95 - 100) = 6.192, so theta' = 100 - c' / q' = 82.8
      = y (1 - rho): equity 0.1 of its notional at the mark, not at 95.
    t = 3: O = 95, 95 * 0.95 = 90.25 > 82.8: open.
    t = 4: O = 80, 76 < 82.8: flagged, closed at 80: E = 0.36 (80 - 82.8) < 0, full
      close, bad debt 1.008, notional 28.8.
    Q_t = 1, 1, 1, 0.36, 0.36 at O_t: requirement 0.05 (292 + 0.36 * 175) / 5.
    """
    prices = [100.0, 92.0, 95.0, 80.0, 80.0]
    kwargs: dict[str, Any] = {
        "fee": 0.01,
        "oracle": {"model": "lag", "lag_steps": 1},
        "partial": {"buffer": 0.05},
    }
    result = replay(prices, longs(10.0), {"model": "static", "maintenance": 0.05}, **kwargs)
    check(
        result,
        {
            "n_liquidations": 2,
            "liquidated_notional": 60.8 + 28.8,
            "bad_debt": 1.008,
            "fees_to_fund": 0.304,
            "fees_to_liquidators": 0.304,
            "socialized_loss": 1.008 - 0.304,
            "fund_end": 0.0,
            "requirement_mean": 0.05 * (292.0 + 0.36 * 175.0) / 5,
            "margin_rate_mean": 0.05,
        },
    )


def test_partial_close_with_price_impact() -> None:
    """Partial liquidation with linear impact (docs/model.md 10.1, 9.4).

    Long q 1, e 100, c 10 (theta 90); m = 0.05, b = 0.05, no fee, latency or
    slippage; depth 54, no permanent impact. Prices 100, 94.
    t = 1: E = 4 < 4.7: flagged. Sized at the price before impact (x0 = y = 94):
      q'0 = 4 / (0.1 * 94), the order sells 1 - q'0 = 54 / 94, notional 54:
      I = 0.01 * 54 / 54 = 0.01 and the execution price x = 94 e^-0.01. At x the
      venue keeps q' = (10 + x - 100) / (0.1 * 94 - (94 - x)) (the target is at the
      mark 94, theta' = 84.6) and closes 1 - q' at x. No bad debt, nothing flagged
      by impact.
    """
    x = 94.0 * math.exp(-0.01)
    kept = (10.0 + x - 100.0) / (9.4 - (94.0 - x))
    result = replay(
        [100.0, 94.0],
        longs(10.0),
        {"model": "static", "maintenance": 0.05},
        market={"impact": "linear", "depth": 54.0, "permanent_fraction": 0.0},
        partial={"buffer": 0.05},
    )
    check(
        result,
        {
            "n_liquidations": 1,
            "liquidated_notional": (1.0 - kept) * x,
            "bad_debt": 0.0,
            "cascade_depth": 0,
            "impact_bad_debt": 0.0,
            "requirement_mean": 0.05 * 194.0 / 2,
        },
    )
    # Without impact the same close keeps 4 / 9.4 and sells at 94.
    calm = replay(
        [100.0, 94.0],
        longs(10.0),
        {"model": "static", "maintenance": 0.05},
        partial={"buffer": 0.05},
    )
    check(calm, {"liquidated_notional": (1.0 - 4.0 / 9.4) * 94.0})


def test_partial_close_with_the_predictive_trigger() -> None:
    """The target of a predictive trigger: the trigger's own boundary at the mark, less b.

    Long q 1, e 100, c 10 (theta 90), z = 1, h = 4, sigma_t from an EWMA with
    lambda 0.5 from 0; b = 0.02, no fee, latency or slippage. Prices 100, 95.
    t = 1: r = ln 0.95, sigma^2 = 0.5 r^2, shift = z sigma sqrt(h) = 2 sigma;
      95 e^-shift = 88.9 < 90: flagged. Closed at 95 keeping q' so that the bankruptcy
      price is 95 (e^-shift - b): rho = 1 - e^-shift + b,
      q' = E / (rho 95) with E = 5 (no fee, x = y).
    """
    shift = 2.0 * math.sqrt(0.5) * abs(math.log(0.95))
    rho = 1.0 - math.exp(-shift) + 0.02
    kept = 5.0 / (rho * 95.0)
    result = replay(
        [100.0, 95.0],
        longs(10.0),
        STATIC_0,
        partial={"buffer": 0.02},
        **PREDICTIVE,
    )
    check(result, {"n_liquidations": 1, "liquidated_notional": (1.0 - kept) * 95.0})


def test_adl_deleverages_at_the_mark_of_a_twap_oracle() -> None:
    """ADL with an oracle (docs/model.md 10.2): the winner gives up profit at the mark O_t.

    Long A: q 1, e 100, c 5, theta 95. Short B: q 1, e 110, c 50, phi 160.
    Prices 100, 92; twap over 2 points: O = 100, 96; static m = 0.02, no fee,
    no latency, fund 0. Step 0: 100 * 0.98 = 98 > 95, nothing. Step 1: 96 * 0.98 =
    94.08 < 95 flags A, closed at the market 92: equity 5 - 8 = -3, bad debt 3;
    B (96 * 1.02 = 97.92 < 160) stays open. The fund (0) is short 3, all from a
    long: shorts cover. B's profit at the mark is 110 - 96 = 14 >= 3: B is
    deleveraged, adl_notional = q O_1 = 96 (not the market's 92), and nothing is
    socialized.
    """
    book = Book(
        side=np.array([1, -1], dtype=np.int8),
        qty=np.ones(2),
        entry_price=np.array([100.0, 110.0]),
        collateral=np.array([5.0, 50.0]),
    )
    margin = {"model": "static", "maintenance": 0.02}
    case = ReplayCase(
        prices=np.array([[100.0, 92.0]]),
        book=book,
        margin=margin,
        latency_steps=0,
        slippage=0.0,
        fee=0.0,
        liquidator_share=0.5,
        fund_initial=0.0,
    )
    mechanisms = Mechanisms(
        margin=margin,
        liquidation=liquidation_table(case),
        oracle={"model": "twap", "twap_steps": 2},
        adl={"policy": "profit_leverage"},
    )
    row = run_mechanics_kernel(case, mechanisms)[0]
    actual = {  # every column of the perps kernels (a lending run's own slots lie beyond)
        name: float(row[slot])
        for name, slot in enums.METRIC_INDEX.items()
        if slot < enums.N_METRICS_ALL
    }
    check(
        actual,
        {
            "n_liquidations": 1.0,
            "liquidated_notional": 92.0,
            "bad_debt": 3.0,
            "fund_end": 0.0,
            "socialized_loss": 0.0,
            "fund_required": 3.0,
            "adl_count": 1.0,
            "adl_notional": 96.0,
        },
    )


def test_compare_pits_the_predictive_trigger_against_maintenance(tmp_path: Path) -> None:
    path = tmp_path / "compare.toml"
    path.write_text(SCENARIO + COMPARE)
    comparison = compare(load_scenario(path))
    maintenance = comparison.result("maintenance")
    predictive = comparison.result("predictive")
    assert predictive.scenario.liquidation.trigger == "predictive"
    # Each variant equals a separate run of the same scenario.
    alone = run(
        load_scenario(path).with_overrides(
            {"liquidation.trigger": "predictive", "liquidation.trigger_probability": 0.2}
        )
    )
    np.testing.assert_array_equal(alone.metrics, predictive.metrics)
    assert not np.array_equal(maintenance.metrics, predictive.metrics)


def test_market_columns_only_with_a_market_table(tmp_path: Path) -> None:
    plain = run(load_scenario(SCENARIO_DICT))
    assert plain.paths_frame().columns == ["path", *enums.METRIC_NAMES]
    with_market = run(
        load_scenario(
            {
                **SCENARIO_DICT,
                "market": {"impact": "linear", "depth": 1e5, "permanent_fraction": 0.5},
            }
        )
    )
    frame = with_market.paths_frame()
    assert frame.columns == ["path", *enums.METRIC_NAMES, *enums.MARKET_METRIC_NAMES]
    assert frame["cascade_depth"].dtype == pl.Int64
    assert "impact_bad_debt" in with_market.summary()["metrics"]
    with_market.write(tmp_path / "out")
    assert pl.read_parquet(tmp_path / "out" / "paths.parquet").columns == frame.columns


SCENARIO_DICT: dict[str, Any] = {
    "scenario": {"name": "mech", "seed": 4},
    "paths": {"source": "gbm", "s0": 100.0, "sigma": 0.01, "n_paths": 20, "n_steps": 40},
    "book": {"source": "synthetic", "n_positions": 1000},
    "margin": {"model": "static", "maintenance": 0.01},
}


@pytest.mark.parametrize(
    ("tables", "key"),
    [
        ({"market": {"impact": "linear"}}, "market.depth"),
        ({"market": {"impact": "sqrt"}}, "market.coefficient"),
        ({"market": {"impact": "cubic", "depth": 1.0}}, "market.impact"),
        ({"oracle": {"model": "lag", "lag_steps": -1}}, "oracle.lag_steps"),
        ({"oracle": {"model": "twap", "colour": 1}}, "oracle.colour"),
        ({"liquidation": {"trigger": "predictive"}}, "liquidation.vol_ewma_lambda"),
        ({"liquidation": {"fee_min": 0.05, "fee_max": 0.01}}, "liquidation.fee_min"),
        ({"liquidation": {"trigger_probability": 1.0}}, "liquidation.trigger_probability"),
        (
            {
                "oracle": {"model": "lag"},
                "liquidation": {"fee": 0.02},
                "partial_liquidation": {"buffer": 0.005},
            },
            "partial_liquidation.buffer",
        ),
    ],
)
def test_bad_mechanism_input_names_its_key(tables: dict[str, Any], key: str) -> None:
    with pytest.raises(InputError) as raised:
        load_scenario({**SCENARIO_DICT, **tables})
    assert raised.value.key is not None
    assert raised.value.key.split(",")[0] == key


def test_mechanics_are_bit_identical_whatever_the_threads_or_chunks() -> None:
    """Every mechanism on, without and with partial liquidation (both rules): 1 thread
    against all, and chunks of 7 paths against one chunk."""
    raw = {
        **SCENARIO_DICT,
        "liquidation": {
            "trigger": "predictive",
            "fee_model": "vol_scaled",
            "fee_k": 1.0,
            "vol_ewma_lambda": 0.9,
            "vol_initial_variance": 1e-4,
        },
        "oracle": {
            "model": "twap",
            "twap_steps": 3,
            "manipulation_step": 5,
            "manipulation_size": -0.05,
        },
        "market": {"impact": "sqrt", "coefficient": 0.01, "permanent_fraction": 0.5},
    }
    fraction_rule = {"rule": "fraction", "fraction": 0.2, "cooldown_steps": 2, "min_notional": 5e3}
    for partial in (None, {"buffer": 0.02}, fraction_rule):
        tables = raw if partial is None else {**raw, "partial_liquidation": partial}
        scenario = load_scenario(tables)
        threads = numba.get_num_threads()
        try:
            one = run(scenario, threads=1)
        finally:
            numba.set_num_threads(threads)
        many = run(scenario, chunk_size=7)
        assert one.metrics.shape == (20, enums.N_METRICS_MARKET)
        assert one.metrics[:, enums.N_LIQUIDATIONS].sum() > 0
        np.testing.assert_array_equal(one.metrics, many.metrics)
        np.testing.assert_array_equal(one.records, many.records)
