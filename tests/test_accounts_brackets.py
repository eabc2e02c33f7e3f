"""Tiered maintenance brackets (docs/model.md 11.4): amounts, liquidation price, engine.

The table is a venue's published one (Binance USD-M BTCUSDT brackets: notional
floor, maintenance rate, maintenance amount "cum"); the amounts derived from
continuity must equal the published ones, the liquidation price must equal the
venue's isolated one-way formula

    LP = (WB + cum_b - side q EP) / (q MMR_b - side q)

in the bracket that holds the notional at LP, and the engine must close an
isolated position at the first step its price crosses LP. With vol-scaled
margin the table is the requirement at the floor and the add-on
``(m_t - floor) q P`` applies on top (docs/model.md 11.4): checked by hand, on
random cases against the reference and the dense twin, and, with a schedule
flat at the floor, against plain vol-scaled margin.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings

from stresstest.kernels.brackets import bracket_amounts, bracket_liquidation_price
from stresstest.kernels.enums import GRID_COUNT
from tests.reference_accounts import reference_requirement
from tests.test_accounts import (
    COLUMN,
    KERNEL_SETTINGS,
    accounts_cases,
    assert_metrics,
    check_case,
    gbm_two_assets,
    make_book,
    run_kernel,
    run_reference,
)
from tests.tiers import examples
from tests.tolerances import (
    ENGINE_VS_DENSE_RTOL,
    ENGINE_VS_REFERENCE_RTOL,
    HAND_COMPUTED_ATOL,
    HAND_COMPUTED_RTOL,
    assert_close,
)

FLOORS = np.array([0.0, 5e4, 5e5, 8e6, 5e7, 8e7, 1e8, 2e8, 3e8])
RATES = np.array([0.004, 0.005, 0.01, 0.025, 0.05, 0.1, 0.125, 0.15, 0.25])
PUBLISHED_CUM = np.array(
    [0.0, 50.0, 2550.0, 122550.0, 1372550.0, 5372550.0, 7872550.0, 12872550.0, 42872550.0]
)
AMOUNTS = bracket_amounts(FLOORS, RATES)

#: (side, qty BTC, entry, wallet balance, bracket index the liquidation falls in)
CASES = [
    (1.0, 0.5, 60000.0, 3000.0, 0),
    (1.0, 1.0, 60000.0, 6000.0, 1),
    (-1.0, 10.0, 60000.0, 60000.0, 2),
    (1.0, 200.0, 60000.0, 1.2e6, 3),
    (-1.0, 1000.0, 60000.0, 6e6, 4),
    (-1.0, 1400.0, 60000.0, 7e6, 5),
    (-1.0, 1500.0, 60000.0, 1.5e7, 6),
    (1.0, 6000.0, 60000.0, 1.2e8, 7),
    (1.0, 10000.0, 60000.0, 2.5e8, 8),
]


def venue_formula(side: float, qty: float, entry: float, wallet: float, bracket: int) -> float:
    """Binance's isolated one-way liquidation price with the given bracket."""
    return (wallet + PUBLISHED_CUM[bracket] - side * qty * entry) / (
        qty * RATES[bracket] - side * qty
    )


def test_continuity_amounts_equal_the_published_table() -> None:
    assert_close(AMOUNTS, PUBLISHED_CUM, rtol=HAND_COMPUTED_RTOL, atol=HAND_COMPUTED_ATOL)


@pytest.mark.parametrize(("side", "qty", "entry", "wallet", "bracket"), CASES)
def test_liquidation_price_equals_the_venue_formula(
    side: float, qty: float, entry: float, wallet: float, bracket: int
) -> None:
    expected = venue_formula(side, qty, entry, wallet, bracket)
    notional = qty * expected
    assert FLOORS[bracket] <= notional < (FLOORS[bracket + 1] if bracket + 1 < 9 else np.inf)
    actual = bracket_liquidation_price(side, qty, entry, wallet, FLOORS, RATES, AMOUNTS)
    assert_close(actual, expected, rtol=HAND_COMPUTED_RTOL, atol=0.0)
    # and equity meets the tiered requirement there (the reference's direct form)
    brackets = list(zip(FLOORS[1:].tolist(), RATES[1:].tolist(), strict=True))
    gap = (
        wallet
        + side * qty * (actual - entry)
        - reference_requirement(qty * actual, RATES[0], brackets)
    )
    assert abs(gap) <= 1e-9 * qty * actual


def test_unlevered_long_never_liquidates() -> None:
    assert bracket_liquidation_price(1.0, 1.0, 60000.0, 60000.0, FLOORS, RATES, AMOUNTS) == 0.0


@pytest.mark.parametrize(("side", "qty", "entry", "wallet", "bracket"), CASES)
def test_engine_closes_at_the_first_step_past_the_liquidation_price(
    side: float, qty: float, entry: float, wallet: float, bracket: int
) -> None:
    threshold = venue_formula(side, qty, entry, wallet, bracket)
    # BTC walks towards the liquidation price, stops 1e-6 short of it, then crosses it
    near = threshold * (1.0 + side * 1e-6)
    past = threshold * (1.0 - side * 1e-6)
    btc = [entry, 0.5 * (entry + near), near, past, past]
    prices = np.array([[btc, [3000.0] * len(btc)]])
    book = make_book([0], [0], [side], [qty], [entry], [wallet], [False])
    brackets = list(zip(FLOORS[1:].tolist(), RATES[1:].tolist(), strict=True))
    margin = {"model": "static", "maintenance": float(RATES[0])}
    metrics, records = run_kernel(
        prices,
        book,
        "isolated",
        margin,
        (0, 0.0, 0.0, 0.5),
        0.0,
        brackets,
        grid=np.arange(len(btc), dtype=np.int64),
    )
    assert metrics[0, COLUMN["n_liquidations"]] == 1
    assert records[0, GRID_COUNT].tolist() == [0.0, 0.0, 0.0, 1.0, 0.0]


# ----------------------------------------------------------------------------- vol-scaled
#: Vol-scaled margin for the hand case: lambda = 0.75 and k = 2 make
#: m_1 = 2 sqrt(0.25 r_1^2) = |r_1| after one return (horizon 1, v_0 = 0).
HAND_VOL_MARGIN: dict[str, Any] = {
    "model": "vol_scaled",
    "k": 2.0,
    "horizon_steps": 1,
    "ewma_lambda": 0.75,
    "initial_variance": 0.0,
    "floor": 0.005,
    "cap": 0.2,
}


def test_vol_scaled_brackets_liquidate_by_hand() -> None:
    """One isolated long in the second bracket, liquidated when volatility lifts m_t.

    Long 1 BTC at 60,000, collateral 3,000; brackets r_0 = floor = 0.5 %, then 1 %
    from 50,000 (A_1 = 0.005 * 50,000 = 250), so the table gives
    R(n) = 0.01 n - 250 at these notionals and R_t = 0.01 q P - 250 + (m_t - 0.005) q P.

    ===== ======= ======================= ===== ================= ===== ==========
    step  P       m_t                     E     R_t               table plain m_t P
    ===== ======= ======================= ===== ================= ===== ==========
    0     60,000  0.005 (v_0 = 0: floor)  3000  350 + 0 = 350     350   300
    1     58,800  |ln 0.98| = 0.020203    1800  338 + 893.92      338   1187.92
                                                = 1231.92
    2     58,200  2 sqrt(0.75 v_1 + 0.25  1200  332 + 889.34      332   1180.34
                  ln(58200/58800)^2)            = 1221.34
                  = 0.020281
    ===== ======= ======================= ===== ================= ===== ==========

    (v_1 = 0.25 * 0.020203^2 = 1.0204e-4.) Step 2 is the first with E < R_t
    (1200 < 1221.34, a 1.8 % margin, far from any tie): closed there with latency 0
    at 58,200, remaining 1,200, penalty 0.005 * 58,200 = 291 paid in full, half to
    the fund. The static table alone (R = 332) and plain vol-scaled margin
    (R = 1180.34) would both leave it open.
    """
    prices = np.array([[[60000.0, 58800.0, 58200.0, 58200.0], [3000.0] * 4]])
    book = make_book([0], [0], [1.0], [1.0], [60000.0], [3000.0], [False])
    liquidation = (0, 0.0, 0.005, 0.5)
    brackets = [(50000.0, 0.01)]
    grid = np.arange(4, dtype=np.int64)
    metrics, records = run_kernel(
        prices, book, "isolated", HAND_VOL_MARGIN, liquidation, 0.0, brackets, grid=grid
    )
    assert records[0, GRID_COUNT].tolist() == [0.0, 0.0, 1.0, 0.0]
    expected = {"n_liquidations": 1.0, "liquidated_notional": 58200.0, "fees_to_fund": 145.5}
    for name, value in expected.items():
        assert_close(
            metrics[0, COLUMN[name]],
            value,
            rtol=HAND_COMPUTED_RTOL,
            atol=HAND_COMPUTED_ATOL,
            what=name,
        )
    assert_metrics(
        metrics,
        run_reference(prices, book, "isolated", HAND_VOL_MARGIN, liquidation, 0.0, brackets),
        60000.0,
        "hand case",
    )
    for other_margin, other_brackets in (
        ({"model": "static", "maintenance": 0.005}, brackets),
        (HAND_VOL_MARGIN, None),
    ):
        other, _ = run_kernel(
            prices, book, "isolated", other_margin, liquidation, 0.0, other_brackets
        )
        assert other[0, COLUMN["n_liquidations"]] == 0


@settings(KERNEL_SETTINGS, max_examples=examples(200))
@given(case=accounts_cases(vol_brackets=True))
def test_vol_scaled_brackets_kernel_matches_reference(case: dict[str, Any]) -> None:
    check_case(case, dense=False)


@settings(KERNEL_SETTINGS, max_examples=examples(60))
@given(case=accounts_cases(vol_brackets=True))
def test_vol_scaled_brackets_dense_twin_matches_reference(case: dict[str, Any]) -> None:
    check_case(case, dense=True)


LARGE_VOL_MARGIN: dict[str, Any] = {
    "model": "vol_scaled",
    "k": 3.0,
    "horizon_steps": 24,
    "ewma_lambda": 0.97,
    "initial_variance": 1e-4,
    "floor": 0.004,
    "cap": 0.06,
}


def large_book_case() -> tuple[np.ndarray, Any]:
    from stresstest.book.accounts import synthetic_accounts
    from stresstest.scenario.accounts import AccountsSyntheticBook

    prices = gbm_two_assets(4, 200, 13)
    book = synthetic_accounts(
        AccountsSyntheticBook(n_accounts=3000, cross_fraction=0.5, leverage_max=40.0),
        13,
        prices[0, :, 0],
        ("BTC", "ETH"),
    )
    return prices, book


def test_vol_scaled_brackets_kernel_matches_dense_twin_on_a_large_book() -> None:
    prices, book = large_book_case()
    brackets = [(5e4, 0.005), (2e5, 0.01), (1e6, 0.025)]
    arguments = (prices, book, "book", LARGE_VOL_MARGIN, (1, 0.001, 0.005, 0.5), 1e5, brackets)
    fast, _ = run_kernel(*arguments, group_size=64)
    dense, _ = run_kernel(*arguments, dense=True)
    assert fast[:, COLUMN["n_liquidations"]].min() > 0
    assert_close(fast, dense, rtol=ENGINE_VS_DENSE_RTOL, atol=1e-9 * book.entry_notional)


def test_flat_schedule_at_the_floor_equals_plain_vol_scaled_margin() -> None:
    """Brackets whose rates all equal the floor: R_t = floor n + (m_t - floor) n = m_t n.

    Equal to plain vol-scaled margin up to the rounding of that sum (one ulp of
    the requirement), so every breach step agrees and the metrics agree at
    ENGINE_VS_REFERENCE_RTOL.
    """
    prices, book = large_book_case()
    floor = LARGE_VOL_MARGIN["floor"]
    arguments = (prices, book, "book", LARGE_VOL_MARGIN, (1, 0.001, 0.005, 0.5), 1e5)
    plain, _ = run_kernel(*arguments)
    flat, _ = run_kernel(*arguments, [(5e4, floor), (1e6, floor)])
    assert plain[:, COLUMN["n_liquidations"]].min() > 0
    assert np.array_equal(flat[:, COLUMN["n_liquidations"]], plain[:, COLUMN["n_liquidations"]])
    assert_close(flat, plain, rtol=ENGINE_VS_REFERENCE_RTOL, atol=1e-9 * book.entry_notional)
