"""The APC margin options with accounts (docs/model.md 3.1, 11.3, 11.5).

Each asset posts the APC rate of 3.1 from its own EWMA state, running maximum,
previous posted rate and variance floor, through the single-asset function
(kernels/margin.py ``apc_rate``, via kernels/asset_rates.py). Here: a hand case of
one cross account in two assets in which the buffer holds the rate up after a
volatility spike and liquidates the account the plain rate would not; random
accounts cases with the APC options always on against the plain reference
(filtered kernel, dense twin, defence kernel with partial liquidation or ADL); the
filter's bound ``(1 + apc_buffer) cap`` against the dense twin on a large book; each
asset's floor from its own history; and whole scenarios that load, run and post
higher rates with the buffer. The other random accounts tests
(tests/test_accounts*.py) draw the options too, as one case among others.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stresstest
from stresstest.engine.accounts import prepare_accounts_variants, rate_bound
from stresstest.engine.procyclicality import history_variance
from stresstest.kernels import enums
from stresstest.scenario import load_scenario
from stresstest.scenario.schema import VolScaledMargin
from tests.reference_accounts import ASSET_FLOORS, reference_asset_rates
from tests.test_accounts import (
    COLUMN,
    KERNEL_SETTINGS,
    accounts_cases,
    apc_keys,
    brackets_array,
    check_case,
    hand_prices,
    make_book,
    run_kernel,
    run_reference,
    vol_scaled_margin,
)
from tests.test_accounts_defences import check_defence_case
from tests.test_apc_stages import HAND_MARGIN as STAGES_HAND_MARGIN
from tests.test_apc_stages import _vol_scaled
from tests.test_composition import ACCOUNTS
from tests.tiers import examples
from tests.tolerances import HAND_COMPUTED_ATOL, HAND_COMPUTED_RTOL, assert_close

#: k = 1, h = 1, lambda = 0.9, v_0 = 1e-4, floor 0, cap 0.5: the model rate is sqrt(v_t).
HAND_MARGIN: dict[str, Any] = {**STAGES_HAND_MARGIN, "ewma_lambda": 0.9}
#: BTC falls 10% in log at step 1 (the spike), then 1.1% at step 4; ETH stays at 50.
HAND_BTC = [100.0, 100.0 * math.exp(-0.1), 100.0 * math.exp(-0.1), 100.0 * math.exp(-0.1)]
HAND_BTC += [89.5, 89.5, 89.5]
HAND_ETH = [50.0] * 7
#: One cross account: long 1 BTC at 100 and long 1 ETH at 50, collateral 13.7.
HAND_BOOK = make_book([0, 0], [0, 1], [1.0, 1.0], [1.0, 1.0], [100.0, 50.0], [6.85, 6.85], [True])


def hand_rates(prices: list[float], buffer: float) -> list[float]:
    """``m_t`` of 3.1 with only the buffer, by its formulas: ``u_t = sqrt(v_t)`` here."""
    variance = 1e-4
    rates: list[float] = []
    for t, price in enumerate(prices):
        if t >= 1:
            variance = 0.9 * variance + 0.1 * math.log(price / prices[t - 1]) ** 2
        model = math.sqrt(variance)
        rates.append(
            (1.0 + buffer) * model if t == 0 else min((1.0 + buffer) * model, max(model, rates[-1]))
        )
    return rates


def test_the_buffer_holds_the_rate_up_after_a_spike_and_liquidates_the_account() -> None:
    # BTC: v_1 = 0.9e-4 + 0.1 (0.1)^2 = 0.00109, u_1 = 0.03302 > m_0 = 0.0125: the
    # buffer is exhausted, m_1 = u_1. Then u falls (x sqrt(0.9) a step) while
    # 1.25 u_t stays above m_1, so m_t holds at 0.03302 through step 5; at step 4 the
    # 1.1% fall gives u_4 = 0.02840 (plain) against the held m_4 = 0.03302.
    # ETH is flat: u = 0.01 x 0.9^(t/2), posted 1.25 u (the band's top).
    btc_apc = hand_rates(HAND_BTC, 0.25)
    btc_plain = hand_rates(HAND_BTC, 0.0)
    assert btc_apc[1] == btc_plain[1]  # exhausted at the spike
    assert btc_apc[2] == btc_apc[3] == btc_apc[4] == btc_apc[5] == btc_apc[1]  # held
    assert btc_apc[6] < btc_apc[5]  # the band's top fell below it at step 6
    assert btc_plain[4] < btc_apc[4]
    eth_apc = hand_rates(HAND_ETH, 0.25)
    # E_4 = 13.7 + (89.5 - 100) = 3.2; R_4 = m_BTC,4 89.5 + m_ETH,4 50
    equity = 13.7 + (89.5 - 100.0)
    held = btc_apc[4] * 89.5 + eth_apc[4] * 50.0  # 0.033015 x 89.5 + 0.010125 x 50 = 3.461
    plain = btc_plain[4] * 89.5 + hand_rates(HAND_ETH, 0.0)[4] * 50.0  # 2.947
    assert plain < equity < held
    # steps 0..3 stay above the held requirement: E_1 = 13.7 - 9.516 = 4.184 > R_1 = 3.580
    for t in range(4):
        requirement = btc_apc[t] * HAND_BTC[t] + eth_apc[t] * 50.0
        assert 13.7 + HAND_BTC[t] - 100.0 > requirement
    prices = hand_prices(HAND_BTC, HAND_ETH)
    liquidation = (0, 0.0, 0.0, 0.5)
    margin = {**HAND_MARGIN, "apc_buffer": 0.25}
    for dense in (False, True):
        out, _ = run_kernel(prices, HAND_BOOK, "cross", margin, liquidation, 0.0, dense=dense)
        # both legs closed at step 4 at the market: notional 89.5 + 50, equity 3.2 left
        assert out[0, COLUMN["n_liquidations"]] == 2
        assert_close(
            out[0, COLUMN["liquidated_notional"]],
            139.5,
            rtol=HAND_COMPUTED_RTOL,
            atol=HAND_COMPUTED_ATOL,
            what="liquidated_notional",
        )
        assert out[0, COLUMN["bad_debt"]] == 0.0
        plain_out, _ = run_kernel(
            prices, HAND_BOOK, "cross", HAND_MARGIN, liquidation, 0.0, dense=dense
        )
        assert plain_out[0, COLUMN["n_liquidations"]] == 0
    reference = run_reference(prices, HAND_BOOK, "cross", margin, liquidation, 0.0)
    assert reference[0, COLUMN["n_liquidations"]] == 2
    assert_close(
        np.asarray(reference_asset_rates(HAND_BTC, margin, 0)),
        np.asarray(btc_apc),
        rtol=HAND_COMPUTED_RTOL,
        atol=0.0,
        what="reference m_BTC,t",
    )


def test_each_asset_keeps_its_own_state() -> None:
    """ETH's calm rates are untouched by BTC's spike: per-asset running maximum and m_{t-1}."""
    margin = {**HAND_MARGIN, "apc_buffer": 0.25, "stressed_weight": 0.25}
    prices = hand_prices(HAND_BTC, HAND_ETH)
    alone = hand_prices(HAND_ETH, HAND_ETH)  # ETH beside a calm asset
    eth_only = make_book([0], [1], [1.0], [1.0], [50.0], [0.1], [False])
    liquidation = (0, 0.0, 0.0, 0.5)
    beside_spike, _ = run_kernel(prices, eth_only, "cross", margin, liquidation, 0.0)
    beside_calm, _ = run_kernel(alone, eth_only, "cross", margin, liquidation, 0.0)
    assert beside_spike[0, COLUMN["requirement_mean"]] == beside_calm[0, COLUMN["requirement_mean"]]


@st.composite
def apc_accounts_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A random accounts case (tests/test_accounts.py) with vol-scaled margin and the APC
    options always on (some or all), brackets or not."""
    case = draw(accounts_cases(vol_brackets=draw(st.booleans())))
    keys = apc_keys(draw, case["prices"].shape[1], always=True)
    case["margin"] = {**vol_scaled_margin(draw), **keys}
    return case


#: The cases draw a book, paths and two margins: large, but not to be made smaller.
APC_SETTINGS = settings(
    KERNEL_SETTINGS,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)


@settings(APC_SETTINGS, max_examples=examples(200))
@given(case=apc_accounts_cases(), dense=st.booleans())
def test_apc_accounts_match_the_reference(case: dict[str, Any], dense: bool) -> None:
    check_case(case, dense=dense)


@settings(APC_SETTINGS, max_examples=examples(100))
@given(case=apc_accounts_cases(), data=st.data())
def test_apc_accounts_with_the_defences_match_the_reference(
    case: dict[str, Any], data: st.DataObject
) -> None:
    which = data.draw(st.sampled_from(["partial", "adl", "both"]))
    case["buffer"] = data.draw(st.floats(1e-4, 0.05)) if which != "adl" else None
    policy = data.draw(st.sampled_from(["profit_leverage", "hyperliquid", "pro_rata"]))
    case["adl"] = policy if which != "partial" else None
    case["oracle"] = None
    case["fee_keys"] = None
    case["trigger"] = None
    check_defence_case(case)


@pytest.mark.parametrize("brackets", [None, [(5e4, 0.01), (2e5, 0.05)]])
def test_the_filter_bound_holds_the_buffered_cap(
    brackets: list[tuple[float, float]] | None,
) -> None:
    """A large book whose rates sit at ``(1 + b) cap``: the filter against the dense twin."""
    from stresstest.book.accounts import synthetic_accounts
    from stresstest.scenario.accounts import AccountsSyntheticBook
    from tests.test_accounts import gbm_two_assets

    prices = gbm_two_assets(3, 120, seed=5)
    book = synthetic_accounts(
        AccountsSyntheticBook(n_accounts=3000, legs=2, leverage_min=5.0, leverage_max=60.0),
        7,
        prices[0, :, 0],
        ("BTC", "ETH"),
    )
    # k sqrt(v) sqrt(h) >> cap: u_t = cap at every step, so m_t = (1 + b) cap
    margin = {**HAND_MARGIN, "k": 50.0, "horizon_steps": 24, "floor": 0.002, "cap": 0.02}
    margin["apc_buffer"] = 0.5
    config = VolScaledMargin(**{k: v for k, v in margin.items() if k != "model"})
    table = brackets_array(0.002, brackets or [])
    top = 1.5 * 0.02 if brackets is None else 0.05 + 1.5 * 0.02 - 0.002
    assert rate_bound(config, table) == top
    liquidation = (1, 0.001, 0.005, 0.5)
    for mode in ("cross", "isolated"):
        filtered, _ = run_kernel(prices, book, mode, margin, liquidation, 0.0, brackets)
        dense, _ = run_kernel(prices, book, mode, margin, liquidation, 0.0, brackets, dense=True)
        assert filtered[:, COLUMN["n_liquidations"]].sum() > 0
        np.testing.assert_array_equal(
            filtered[:, COLUMN["n_liquidations"]], dense[:, COLUMN["n_liquidations"]]
        )
        np.testing.assert_allclose(filtered, dense, rtol=1e-9, atol=1e-9)


def _accounts(**margin: Any) -> dict[str, Any]:
    """The small accounts scenario of tests/test_composition.py with a vol-scaled margin."""
    return _vol_scaled(ACCOUNTS, floor=0.002, **margin)


@pytest.mark.parametrize("mode", ["cross", "isolated"])
def test_an_accounts_scenario_runs_the_options(mode: str) -> None:
    """The options load and run with accounts; calm GBM paths: the buffer raises the rates."""
    base = _accounts()
    base["accounts"] = {"mode": mode}
    apc = copy.deepcopy(base)
    apc["margin"].update(apc_buffer=0.25, stressed_weight=0.25, vol_floor_lookback_years=10.0)
    plain_result = stresstest.run(load_scenario(base))
    apc_result = stresstest.run(load_scenario(apc))
    assert apc_result.paths.columns == plain_result.paths.columns
    rise = apc_result.column("margin_rate_mean") - plain_result.column("margin_rate_mean")
    assert np.all(rise > 0.0)


def test_options_at_zero_leave_an_accounts_run_as_without_them() -> None:
    plain = stresstest.run(load_scenario(_accounts()))
    zeros = stresstest.run(load_scenario(_accounts(apc_buffer=0.0, stressed_weight=0.0)))
    assert plain.paths.equals(zeros.paths)


def test_gbm_multi_floors_are_each_assets_sigma_squared() -> None:
    scenario = load_scenario(_accounts(vol_floor_lookback_years=10.0))
    plan = prepare_accounts_variants([scenario]).plans[0]
    assert plan.margin.shape[0] == enums.N_MARGIN_ARGS + 2
    floors = plan.margin[enums.MARGIN_ARG_ASSET_FLOORS :]
    np.testing.assert_array_equal(floors, [0.01**2, 0.02**2])  # paths.sigma of ACCOUNTS


def test_historical_multi_floors_come_from_each_assets_file() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    files = [root / "data" / "btc_usdt_spot_1h.parquet", root / "data" / "eth_usdt_spot_1h.parquet"]
    scenario = _accounts(vol_floor_lookback_years=1.0)
    scenario["paths"] = {
        "source": "historical_multi",
        "assets": ["BTC", "ETH"],
        "data": [str(path) for path in files],
        "mode": "windows",
        "n_steps": 24,
        "start": "2025-10-06T00:00:00Z",
        "end": "2025-10-09T00:00:00Z",
    }
    plan = prepare_accounts_variants([load_scenario(scenario)]).plans[0]
    floors = plan.margin[enums.MARGIN_ARG_ASSET_FLOORS :]
    expected = [history_variance(path, 1.0) for path in files]
    np.testing.assert_array_equal(floors, expected)
    assert floors[0] != floors[1]  # each asset's own history
    assert ASSET_FLOORS  # the references read the same floors from the margin table
