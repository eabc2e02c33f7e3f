"""Tiered maintenance brackets (docs/model.md 11.4): amounts, liquidation price, engine.

The table is a venue's published one (Binance USD-M BTCUSDT brackets: notional
floor, maintenance rate, maintenance amount "cum"); the amounts derived from
continuity must equal the published ones, the liquidation price must equal the
venue's isolated one-way formula

    LP = (WB + cum_b - side q EP) / (q MMR_b - side q)

in the bracket that holds the notional at LP, and the engine must close an
isolated position at the first step its price crosses LP.
"""

from __future__ import annotations

import numpy as np
import pytest

from stresstest.kernels.brackets import bracket_amounts, bracket_liquidation_price
from stresstest.kernels.fund import GRID_COUNT
from tests.reference_accounts import reference_requirement
from tests.test_accounts import COLUMN, make_book, run_kernel
from tests.tolerances import HAND_COMPUTED_ATOL, HAND_COMPUTED_RTOL, assert_close

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
