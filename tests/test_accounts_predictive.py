"""The predictive trigger with cross units (docs/model.md 11.8).

The accounts defence kernel with ``liquidation.trigger = "predictive"`` against
tests/reference_account_defences.py on random books in cross and book modes, with or
without partial liquidation, ADL, an oracle, a volatility-scaled penalty, price impact,
the fund's bound and the backstop vault; by hand on a hedged two-leg account (the
covariance's diagonal only) flagged or not by the equity at the move ``r*``; a cross
account whose legs are all in one asset against the single-asset rule on its net
position; and scenarios in every mode with the same bytes by thread and chunk.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

import stresstest
from stresstest.book.accounts import margin_units
from stresstest.engine.mechanics import trigger_z
from stresstest.kernels import enums
from stresstest.scenario import load_scenario
from tests.test_accounts import KERNEL_SETTINGS, hand_prices, make_book
from tests.test_accounts_backstop import assert_same_bytes_by_thread_and_chunk
from tests.test_accounts_defences import defence_params
from tests.test_accounts_fund_bound import bound_cases, check_bound_case, run_bound
from tests.test_composition import ACCOUNTS
from tests.tiers import examples
from tests.tolerances import HAND_COMPUTED_ATOL, HAND_COMPUTED_RTOL, assert_close

INDEX = enums.METRIC_INDEX


@st.composite
def predictive_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A case of :func:`tests.test_accounts_fund_bound.bound_cases` with the predictive
    trigger always on, cross or the book's modes, the fund's bound only sometimes."""
    case = draw(bound_cases())
    case["trigger"] = (draw(st.floats(0.01, 0.5)), draw(st.integers(0, 12)))
    case["mode"] = draw(st.sampled_from(["cross", "book"]))
    if draw(st.booleans()):
        case["bound"] = None
    return case


@settings(KERNEL_SETTINGS, max_examples=examples(250))
@given(case=predictive_cases())
def test_cross_predictive_kernel_matches_reference(case: dict[str, Any]) -> None:
    actual = check_bound_case(case)
    several = bool(np.any(np.diff(margin_units(case["book"], case["mode"]).start) > 1))
    closed = bool(np.any(actual[:, INDEX["n_liquidations"]] > 0))
    event(f"{case['mode']}: units of several legs {several}, liquidations {closed}")


# ----------------------------------------------------------------------------- by hand
STATIC = {"model": "static", "maintenance": 0.01}
NO_FEES = (0, 0.0, 0.0, 0.5)
#: p* = 0.05 (z = 1.95996), h = 4 steps, w_0 = 1e-4 per step, lambda = 0.94
Z = 1.959963984540054
SQRT_H = 2.0
W0 = 1e-4


def trigger_params(adl: str | None = None) -> np.ndarray:
    params = defence_params(STATIC, None, None, None, adl, (0.05, 4))
    params[enums.MECH_VOL_V0] = W0
    params[enums.MECH_VOL_LAMBDA] = 0.94
    return params


def hedged_book(collateral: float) -> Any:
    """One cross account: long 1 BTC at 60,000 and short 20 ETH at 3,000, half the
    collateral on each leg."""
    return make_book(
        [0, 0],
        [0, 1],
        [1.0, -1.0],
        [1.0, 20.0],
        [60000.0, 3000.0],
        [collateral / 2.0, collateral / 2.0],
        [True],
    )


def hand(value: float, expected: float, what: str) -> None:
    assert_close(value, expected, rtol=HAND_COMPUTED_RTOL, atol=HAND_COMPUTED_ATOL, what=what)


def test_hedged_account_is_flagged_by_its_equity_at_the_move_to_ruin() -> None:
    # flat prices: C = w_0 I at step 0, g = (60,000, -60,000), S = z^2 h w_0 I, so
    # r* = -z sqrt(h) sqrt(w_0) (1, -1) / sqrt(2) = (-m, +m), m = 0.0277174; the equity at
    # r* loses 60,000 (1 - e^-m) + 60,000 (e^m - 1) = 120,000 sinh(m) = 3,326.595
    m = Z * SQRT_H * np.sqrt(W0) / np.sqrt(2.0)
    loss = 120000.0 * np.sinh(m)
    assert abs(loss - 3326.595) < 1e-3
    assert abs(trigger_z(0.05) - Z) < 1e-12
    prices = hand_prices([60000.0, 60000.0], [3000.0, 3000.0])
    params = trigger_params()
    flagged = run_bound(
        prices, hedged_book(3300.0), STATIC, NO_FEES, 0.0, None, params=params, mode="cross"
    )
    # c = 3,300 < 3,326.6: flagged at step 0 and closed (two legs), no bad debt at the marks
    assert flagged[0, INDEX["n_liquidations"]] == 2
    hand(flagged[0, INDEX["bad_debt"]], 0.0, "bad debt")
    safe = run_bound(
        prices, hedged_book(3350.0), STATIC, NO_FEES, 0.0, None, params=params, mode="cross"
    )
    # c = 3,350 > 3,326.6 and, w_1 = 0.94 w_0 smaller, later steps too: never flagged
    assert safe[0, INDEX["n_liquidations"]] == 0
    # each leg alone would be flagged: 1,675 < 60,000 (1 - exp(-z sqrt(h w_0))) = 2,305
    assert 60000.0 * (1.0 - np.exp(-Z * SQRT_H * np.sqrt(W0))) > 1675.0


def test_one_asset_cross_account_is_the_single_asset_rule_on_its_net_position() -> None:
    # cross: long 1.5 BTC and short 0.5 BTC (net long 1) with 3,000; isolated: long 1 BTC
    # at the same average entry with the same collateral. r* = -z sigma sqrt(h) on the
    # net position, so both are flagged at the same step with the same bad debt.
    cross = make_book(
        [0, 0], [0, 0], [1.0, -1.0], [1.5, 0.5], [60000.0, 60000.0], [1500.0, 1500.0], [True]
    )
    single = make_book([0], [0], [1.0], [1.0], [60000.0], [3000.0], [False])
    prices = hand_prices([60000.0, 59000.0, 56000.0, 56000.0, 56000.0], [3000.0] * 5)
    params = trigger_params()
    both = run_bound(
        prices, cross, STATIC, (1, 0.0, 0.0, 0.5), 0.0, None, params=params, mode="cross"
    )[0]
    one = run_bound(
        prices, single, STATIC, (1, 0.0, 0.0, 0.5), 0.0, None, params=params, mode="isolated"
    )[0]
    assert one[INDEX["n_liquidations"]] == 1
    assert both[INDEX["n_liquidations"]] == 2  # its two legs, closed at the same step
    hand(both[INDEX["bad_debt"]], one[INDEX["bad_debt"]], "bad debt")
    net = both[INDEX["liquidated_notional"]] / 2.0  # 1.5 x + 0.5 x = 2 x: x of the 1 BTC
    hand(net, one[INDEX["liquidated_notional"]], "exit price")
    # w_1 = 0.94 w_0 + 0.06 ln(59/60)^2, shift = z 2 sqrt(w_1) = 0.0413: 59,000 exp(-0.0413)
    # = 56,615 < B = 57,000, flagged at step 1, closed at step 2 at 56,000: bad debt 1,000
    hand(one[INDEX["bad_debt"]], 1000.0, "bad debt")
    hand(one[INDEX["liquidated_notional"]], 56000.0, "exit")


def test_accounts_run_the_predictive_trigger_in_every_mode_with_the_same_bytes() -> None:
    base = copy.deepcopy(ACCOUNTS)
    base["paths"].update(sigma=[0.03, 0.05], n_steps=24)
    base["book"].update(n_accounts=200, leverage_max=50.0)
    base["liquidation"] = {"trigger": "predictive", "vol_ewma_lambda": 0.94, "latency_steps": 1}
    base["partial_liquidation"] = {"buffer": 0.01}
    base["adl"] = {"policy": "profit_leverage"}
    for mode in ("cross", "book", "isolated"):
        scenario = copy.deepcopy(base)
        scenario["accounts"] = {"mode": mode}
        loaded = load_scenario(scenario)
        result = stresstest.run(loaded)
        assert result.metrics[:, enums.N_LIQUIDATIONS].sum() > 0, mode
        assert_same_bytes_by_thread_and_chunk(loaded, result.metrics, mode)
