"""Small cases worked out by hand from docs/model.md, run through the public engine.

Each case writes a path file and a book file (CSV) to ``tmp_path``, runs
``stresstest.engine.run(load_scenario(...))`` and checks ``result.metrics`` and
``result.paths_frame()`` against the arithmetic written out in the comments.
Notation as in the model: ``E = c + s q (P - e)``, ``R = m q P``, breach ``E < R``,
close at ``tau = min(t + latency, T)`` at ``x = P_tau (1 - s slippage)``,
``e' = c + s q (x - e)``, due ``d = fee q x``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stresstest.engine import Result, run
from stresstest.engine.plan import margin_arguments
from stresstest.kernels.dense import margin_rates
from stresstest.kernels.enums import METRIC_NAMES
from stresstest.scenario import load_scenario, schema
from tests.reference import reference_margin_rates
from tests.tolerances import HAND_COMPUTED_ATOL, HAND_COMPUTED_RTOL, assert_close

Position = tuple[str, float, float, float]  # side, qty, entry_price, collateral


def run_case(
    tmp_path: Path,
    prices: list[list[float]],
    positions: list[Position],
    *,
    margin: dict[str, Any],
    liquidation: dict[str, Any],
    fund: float,
) -> Result:
    """Write ``prices`` (one list per path, steps 0..T) and ``positions`` as CSV and run."""
    path_file = tmp_path / "paths.csv"
    lines = ["path,step,price"]
    for path, series in enumerate(prices):
        lines += [f"{path},{step},{price!r}" for step, price in enumerate(series)]
    path_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    book_file = tmp_path / "book.csv"
    rows = ["side,qty,entry_price,collateral"]
    rows += [
        f"{side},{qty!r},{entry!r},{collateral!r}" for side, qty, entry, collateral in positions
    ]
    book_file.write_text("\n".join(rows) + "\n", encoding="utf-8")
    scenario = load_scenario(
        {
            "scenario": {"name": "hand", "seed": 0},
            "paths": {"source": "file", "file": str(path_file)},
            "book": {"source": "file", "file": str(book_file)},
            "margin": margin,
            "liquidation": liquidation,
            "insurance_fund": {"initial": fund},
        }
    )
    return run(scenario)


def check(result: Result, expected: dict[str, float], path: int = 0) -> None:
    """Every metric named in ``expected`` on row ``path``; unnamed metrics are not checked."""
    unknown = set(expected) - set(METRIC_NAMES)
    assert not unknown, unknown
    for name, value in expected.items():
        assert_close(
            result.column(name)[path],
            value,
            rtol=HAND_COMPUTED_RTOL,
            atol=HAND_COMPUTED_ATOL,
            what=name,
        )


def test_a_long_and_short_breached_and_closed(tmp_path: Path) -> None:
    # Static m = 0.05, latency 1, slippage 0.01, fee 0.02, liquidator share 0.25, fund 1000.
    # Prices P = 100, 110, 89, 92 (T = 3).
    #
    # Short S: q = 1, e = 100, c = 15.  E = 15 - (P - 100), R = 0.05 P.
    #   t=0: E = 15 >= R = 5.   t=1: E = 15 - 10 = 5 < R = 5.5  -> breach, tau = 2.
    #   x = 89 * 1.01 = 89.89;  e' = 15 - (89.89 - 100) = 25.11;  d = 0.02 * 89.89 = 1.7978
    #   e' >= d: pays 1.7978 (liquidator 0.449450, fund 1.348350).
    # Long L: q = 2, e = 100, c = 30.  E = 30 + 2 (P - 100), R = 0.1 P.
    #   t=0: 30 >= 10.  t=1: 50 >= 11.  t=2: E = 30 - 22 = 8 < R = 8.9  -> breach, tau = 3.
    #   x = 92 * 0.99 = 91.08;  e' = 30 + 2 (91.08 - 100) = 12.16;  d = 0.02 * 2 * 91.08 = 3.6432
    #   e' >= d: pays 3.6432 (liquidator 0.9108, fund 2.7324).
    # Totals: notional 89.89 + 2 * 91.08 = 272.05; penalties 5.441 -> liquidators
    #   0.25 * 5.441 = 1.36025, fund 0.75 * 5.441 = 4.08075; no bad debt.
    # Fund: 1000 -> 1000 -> 1001.34835 (t=2) -> 1004.08075 (t=3): min 1000, no drawdown.
    # Requirement: Q_t = 3, 3, 2, 0 (S counts at t=1, L at t=2):
    #   0.05 (100*3 + 110*3 + 89*2 + 92*0) / 4 = 0.05 * 808 / 4 = 10.1; rate 0.05.
    result = run_case(
        tmp_path,
        [[100.0, 110.0, 89.0, 92.0]],
        [("short", 1.0, 100.0, 15.0), ("long", 2.0, 100.0, 30.0)],
        margin={"model": "static", "maintenance": 0.05},
        liquidation={"latency_steps": 1, "slippage": 0.01, "fee": 0.02, "liquidator_share": 0.25},
        fund=1000.0,
    )
    check(
        result,
        {
            "n_liquidations": 2,
            "liquidated_notional": 272.05,
            "bad_debt": 0.0,
            "fees_to_fund": 4.08075,
            "fees_to_liquidators": 1.36025,
            "fund_end": 1004.08075,
            "fund_min": 1000.0,
            "fund_max_drawdown": 0.0,
            "socialized_loss": 0.0,
            "fund_required": 0.0,
            "requirement_mean": 10.1,
            "margin_rate_mean": 0.05,
        },
    )
    frame = result.paths_frame()
    assert frame.columns == ["path", *METRIC_NAMES]
    assert frame["path"].to_list() == [0]
    assert frame["n_liquidations"].to_list() == [2]


@pytest.mark.parametrize("latency", [2, 3, 1000])
def test_b_latency_past_the_horizon_closes_at_last_step(tmp_path: Path, latency: int) -> None:
    # Long q = 1, e = 100, c = 12; static m = 0.1; fee 0.05, share 0.5, no slippage, fund 0.
    # P = 100, 80, 50, 95 (T = 3).  t=0: E = 12 >= R = 10.  t=1: E = -8 < R = 8 -> breach.
    # tau = min(1 + latency, 3) = 3 for latency >= 2: x = P_3 = 95 (P_2 = 50 does not matter).
    #   e' = 12 + (95 - 100) = 7;  d = 0.05 * 95 = 4.75 <= e': pays 4.75 -> 2.375 each.
    #   (Closing at P_2 = 50 would leave bad debt 38.)
    # Fund 0 -> 2.375 at t=3.  Requirement: Q = 1, 1, 0, 0: 0.1 (100 + 80) / 4 = 4.5; rate 0.1.
    result = run_case(
        tmp_path,
        [[100.0, 80.0, 50.0, 95.0]],
        [("long", 1.0, 100.0, 12.0)],
        margin={"model": "static", "maintenance": 0.1},
        liquidation={"latency_steps": latency, "fee": 0.05, "liquidator_share": 0.5},
        fund=0.0,
    )
    check(
        result,
        {
            "n_liquidations": 1,
            "liquidated_notional": 95.0,
            "bad_debt": 0.0,
            "fees_to_fund": 2.375,
            "fees_to_liquidators": 2.375,
            "fund_end": 2.375,
            "fund_min": 0.0,
            "fund_max_drawdown": 0.0,
            "socialized_loss": 0.0,
            "fund_required": 0.0,
            "requirement_mean": 4.5,
            "margin_rate_mean": 0.1,
        },
    )


def test_c_penalty_partly_paid(tmp_path: Path) -> None:
    # Short q = 4, e = 50, c = 20; static m = 0.02; latency 0, slippage 0.005, fee 0.05,
    # share 0.4, fund 10.  P = 50, 54, 56 (T = 2).
    # t=0: E = 20 >= R = 0.02 * 4 * 50 = 4.  t=1: E = 20 - 4 * 4 = 4 < R = 0.02 * 4 * 54 = 4.32.
    # x = 54 * 1.005 = 54.27;  e' = 20 - 4 (54.27 - 50) = 20 - 17.08 = 2.92;
    # d = 0.05 * 4 * 54.27 = 10.854 > e' >= 0: pays e' = 2.92 (liquidator 1.168, fund 1.752).
    # Fund 10 -> 11.752.  Requirement: Q = 4, 4, 0: 0.02 (200 + 216) / 3 = 8.32 / 3; rate 0.02.
    result = run_case(
        tmp_path,
        [[50.0, 54.0, 56.0]],
        [("short", 4.0, 50.0, 20.0)],
        margin={"model": "static", "maintenance": 0.02},
        liquidation={"latency_steps": 0, "slippage": 0.005, "fee": 0.05, "liquidator_share": 0.4},
        fund=10.0,
    )
    check(
        result,
        {
            "n_liquidations": 1,
            "liquidated_notional": 217.08,
            "bad_debt": 0.0,
            "fees_to_fund": 1.752,
            "fees_to_liquidators": 1.168,
            "fund_end": 11.752,
            "fund_min": 10.0,
            "fund_max_drawdown": 0.0,
            "socialized_loss": 0.0,
            "fund_required": 0.0,
            "requirement_mean": 8.32 / 3.0,
            "margin_rate_mean": 0.02,
        },
    )


def test_d_bad_debt_empties_the_fund(tmp_path: Path) -> None:
    # Static m = 0.1; latency 0, no slippage, fee 0.02, share 0.5, fund 5.  P = 100, 93, 60, 70.
    # Longs (q, e, c): A (1, 100, 20), B (10, 100, 150), D (1, 100, 45).
    # t=0 (P=100): E_A = 20 >= 10, E_B = 150 >= 100, E_D = 45 >= 10.
    # t=1 (P=93):  E_A = 13 >= 9.3;  E_B = 150 - 70 = 80 < 93 -> B closes at x = 93:
    #              e' = 80 >= d = 0.02 * 10 * 93 = 18.6: pays 18.6 -> fund +9.3;  E_D = 38 >= 9.3.
    # t=2 (P=60):  E_A = -20 < 6 -> A closes at 60: e' = -20, bad debt 20, pays 0;
    #              E_D = 5 < 6 -> D closes at 60: e' = 5 >= d = 1.2: pays 1.2 -> fund +0.6.
    # Fund: 5 -> 5 -> 14.3 -> 14.3 + 0.6 - 20 = -5.1 (netted in the same step) -> socialized
    #   5.1, F = 0 -> 0.  min 0, peak 14.3, drawdown 14.3.  (Applying the bad debt before the
    #   fee would give socialized 5.7 and F = 0.6.)
    # C_t = 0, 9.3, -10.1, -10.1: fund_required = 10.1 (= 5 + 5.1).
    # Totals: 3 closes, notional 930 + 60 + 60 = 1050, bad debt 20, penalties 19.8 -> 9.9 each.
    # Requirement: Q = 12, 12, 2, 0: 0.1 (1200 + 1116 + 120) / 4 = 243.6 / 4 = 60.9; rate 0.1.
    result = run_case(
        tmp_path,
        [[100.0, 93.0, 60.0, 70.0]],
        [("long", 1.0, 100.0, 20.0), ("long", 10.0, 100.0, 150.0), ("long", 1.0, 100.0, 45.0)],
        margin={"model": "static", "maintenance": 0.1},
        liquidation={"latency_steps": 0, "fee": 0.02, "liquidator_share": 0.5},
        fund=5.0,
    )
    check(
        result,
        {
            "n_liquidations": 3,
            "liquidated_notional": 1050.0,
            "bad_debt": 20.0,
            "fees_to_fund": 9.9,
            "fees_to_liquidators": 9.9,
            "fund_end": 0.0,
            "fund_min": 0.0,
            "fund_max_drawdown": 14.3,
            "socialized_loss": 5.1,
            "fund_required": 10.1,
            "requirement_mean": 60.9,
            "margin_rate_mean": 0.1,
        },
    )


def test_e_breach_at_step_zero(tmp_path: Path) -> None:
    # Static m = 0.01; latency 1, no slippage, fee 0.01, share 0.5, fund 3.  P = 100, 104, 90.
    # Long q = 1, e = 110, c = 5:  t=0: E = 5 - 10 = -5 < R = 1 -> breach at t = 0, tau = 1.
    #   x = 104: e' = 5 + (104 - 110) = -1 -> bad debt 1, pays 0.
    # Short q = 1, e = 95, c = 4:  t=0: E = 4 - 5 = -1 < R = 1 -> breach at t = 0, tau = 1.
    #   x = 104: e' = 4 - (104 - 95) = -5 -> bad debt 5, pays 0.
    # (A breach first seen at t = 1 would close at P_2 = 90 instead.)
    # Fund: 3 -> 3 (t=0) -> 3 - 6 = -3 -> socialized 3, F = 0 -> 0.  min 0, drawdown 3.
    # C_t = 0, -6, -6: fund_required 6.  Notional 2 * 104 = 208.
    # Requirement: Q = 2, 0, 0: 0.01 * 100 * 2 / 3 = 2 / 3; rate 2 / (100 * 2) = 0.01.
    result = run_case(
        tmp_path,
        [[100.0, 104.0, 90.0]],
        [("long", 1.0, 110.0, 5.0), ("short", 1.0, 95.0, 4.0)],
        margin={"model": "static", "maintenance": 0.01},
        liquidation={"latency_steps": 1, "fee": 0.01, "liquidator_share": 0.5},
        fund=3.0,
    )
    check(
        result,
        {
            "n_liquidations": 2,
            "liquidated_notional": 208.0,
            "bad_debt": 6.0,
            "fees_to_fund": 0.0,
            "fees_to_liquidators": 0.0,
            "fund_end": 0.0,
            "fund_min": 0.0,
            "fund_max_drawdown": 3.0,
            "socialized_loss": 3.0,
            "fund_required": 6.0,
            "requirement_mean": 2.0 / 3.0,
            "margin_rate_mean": 0.01,
        },
    )


def test_f_vol_scaled_margin_by_hand(tmp_path: Path) -> None:
    # vol_scaled: k = 2, horizon 4 (sqrt 2), lambda = 0.75, v_0 = 1e-4, floor 0.05, cap 0.2.
    # P_0 = 100, P_1 = 100 e^0.1, P_2 = P_1, P_3 = P_2 e^-0.02: log returns 0.1, 0, -0.02.
    # t=0: k sqrt(v) sqrt(h) = 2 * 0.01 * 2 = 0.04 -> floor:       m_0 = 0.05
    # t=1: v_1 = 0.75e-4 + 0.25 * 0.1^2 = 0.002575;   4 sqrt(v_1) = 0.20298 -> cap: m_1 = 0.2
    # t=2: v_2 = 0.75 * 0.002575 = 0.00193125;        m_2 = 4 sqrt(v_2) = 0.175784...
    # t=3: v_3 = 0.75 * 0.00193125 + 0.25 * 0.02^2 = 0.0015484375;  m_3 = 4 sqrt(v_3) = 0.157401...
    p1 = 100.0 * math.exp(0.1)
    p3 = p1 * math.exp(-0.02)
    prices = [100.0, p1, p1, p3]
    expected_rates = [0.05, 0.2, 4.0 * math.sqrt(0.00193125), 4.0 * math.sqrt(0.0015484375)]
    margin = {
        "model": "vol_scaled",
        "k": 2.0,
        "horizon_steps": 4,
        "ewma_lambda": 0.75,
        "initial_variance": 1e-4,
        "floor": 0.05,
        "cap": 0.2,
    }
    # Short S: q = 1, e = 100, c = 30.  t=0: E = 30 >= 0.05 * 100 = 5.
    #   t=1: E = 30 - (P_1 - 100) = 19.483 < R = 0.2 P_1 = 22.103 -> breach (under a static 0.05
    #   it would not: R = 5.5); closes at x = P_1, e' = 19.48 >= 0, fee 0.
    # Long G: q = 1, e = 100, c = 100: theta = 0, never breaches.
    # Q_t = 2, 2, 1, 1:  requirement sum = 2 m_0 P_0 + 2 m_1 P_1 + m_2 P_2 + m_3 P_3,
    #   open notional sum = 2 P_0 + 2 P_1 + P_2 + P_3.
    quantities = [2.0, 2.0, 1.0, 1.0]
    requirement_sum = sum(
        m * p * q for m, p, q in zip(expected_rates, prices, quantities, strict=True)
    )
    notional_sum = sum(p * q for p, q in zip(prices, quantities, strict=True))
    result = run_case(
        tmp_path,
        [prices],
        [("short", 1.0, 100.0, 30.0), ("long", 1.0, 100.0, 100.0)],
        margin=margin,
        liquidation={"latency_steps": 0, "fee": 0.0},
        fund=0.0,
    )
    check(
        result,
        {
            "n_liquidations": 1,
            "liquidated_notional": p1,
            "bad_debt": 0.0,
            "fees_to_fund": 0.0,
            "socialized_loss": 0.0,
            "requirement_mean": requirement_sum / 4.0,
            "margin_rate_mean": requirement_sum / notional_sum,
        },
    )
    # The rates themselves, step by step: the engine's compiled series and the reference.
    engine_rates = margin_rates(
        np.array(prices), margin_arguments(schema.VolScaledMargin(**margin))
    )
    for what, rates in (
        ("kernels.dense.margin_rates", engine_rates),
        ("reference_margin_rates", reference_margin_rates(np.array(prices), margin)),
    ):
        assert_close(
            rates, expected_rates, rtol=HAND_COMPUTED_RTOL, atol=HAND_COMPUTED_ATOL, what=what
        )


def test_g_position_that_never_breaches(tmp_path: Path) -> None:
    # Static m = 0.1, fund 7.  P = 100, 80, 60, 120.
    # Long q = 1, e = 100, c = 50: lowest E - R is at P = 60: E = 10 >= R = 6.
    # Short q = 2, e = 100, c = 100: at P = 120: E = 100 - 40 = 60 >= R = 24.
    # Nothing closes; the fund stays 7.  Requirement: 0.1 * 3 * (100 + 80 + 60 + 120) / 4 = 27.
    result = run_case(
        tmp_path,
        [[100.0, 80.0, 60.0, 120.0]],
        [("long", 1.0, 100.0, 50.0), ("short", 2.0, 100.0, 100.0)],
        margin={"model": "static", "maintenance": 0.1},
        liquidation={"latency_steps": 0, "fee": 0.01},
        fund=7.0,
    )
    check(
        result,
        {
            "n_liquidations": 0,
            "liquidated_notional": 0.0,
            "bad_debt": 0.0,
            "fees_to_fund": 0.0,
            "fees_to_liquidators": 0.0,
            "fund_end": 7.0,
            "fund_min": 7.0,
            "fund_max_drawdown": 0.0,
            "socialized_loss": 0.0,
            "fund_required": 0.0,
            "requirement_mean": 27.0,
            "margin_rate_mean": 0.1,
        },
    )


def test_h_equity_equal_to_requirement_does_not_breach(tmp_path: Path) -> None:
    # Static m = 0.125; every number is a power of two or a short binary fraction, so
    # E, R (and the thresholds theta = e - c/q, phi = e + c/q of model 4.1) are exact.
    # Long L: q = 2, e = 64, c = 72 (theta = 28).  Short S: q = 1, e = 64, c = 8 (phi = 72).
    # Path 0: P = 64, 32, 32.
    #   t=0: S: E = 8 = R = 0.125 * 64 = 8        -> equal, no breach (P (1 + m) = 72 = phi).
    #   t=1: L: E = 72 - 64 = 8 = R = 0.125*2*32 -> equal, no breach (P (1 - m) = 28 = theta).
    #   -> no liquidation; requirement 0.125 * 3 * (64 + 32 + 32) / 3 = 16.
    # Path 1: P = 64, 31.5, 32:  t=1: L: E = 72 - 65 = 7 < R = 7.875 -> one liquidation.
    # Path 2: P = 64.5, 32, 32:  t=0: S: E = 8 - 0.5 = 7.5 < R = 8.0625 -> one liquidation;
    #   L at t=1 is the equal case of path 0 again.
    result = run_case(
        tmp_path,
        [[64.0, 32.0, 32.0], [64.0, 31.5, 32.0], [64.5, 32.0, 32.0]],
        [("long", 2.0, 64.0, 72.0), ("short", 1.0, 64.0, 8.0)],
        margin={"model": "static", "maintenance": 0.125},
        liquidation={"latency_steps": 0, "fee": 0.0},
        fund=0.0,
    )
    frame = result.paths_frame()
    assert frame["path"].to_list() == [0, 1, 2]
    assert frame["n_liquidations"].to_list() == [0, 1, 1]
    check(result, {"liquidated_notional": 0.0, "requirement_mean": 16.0}, path=0)
    check(result, {"liquidated_notional": 2.0 * 31.5}, path=1)
    check(result, {"liquidated_notional": 64.5}, path=2)
