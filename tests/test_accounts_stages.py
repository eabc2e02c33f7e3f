"""The oracle and the volatility-scaled penalty with accounts (docs/model.md 11.7).

The cross-margin kernel and its dense twin with a mark per asset (lag, ema, twap,
manipulation) and a penalty rate per leg, against tests/reference_accounts.py
(account by account, direct form) on random books, paths and stage settings; by
hand on a two-asset cross account whose breach a lagged oracle delays; and the
filter on a large book whose marks jump (a manipulation) against the dense twin.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stresstest.engine.mechanics import mechanics_vector
from stresstest.scenario import schema
from stresstest.scenario.mechanics import Oracle
from tests.reference_accounts import reference_accounts, smallest_gap
from tests.test_accounts import (
    COLUMN,
    HEDGED,
    KERNEL_SETTINGS,
    NEAR_TIE_RELATIVE_GAP,
    accounts_cases,
    assert_metrics,
    book_dict,
    gbm_two_assets,
    hand_prices,
    make_book,
    margin_config,
    run_kernel,
)
from tests.tiers import examples
from tests.tolerances import (
    ENGINE_VS_DENSE_RTOL,
    HAND_COMPUTED_ATOL,
    HAND_COMPUTED_RTOL,
    assert_close,
)


def stage_vector(
    margin: dict[str, Any],
    oracle: dict[str, Any] | None,
    fee_keys: dict[str, Any] | None,
    *,
    buffer: float | None = None,
    adl: str | None = None,
) -> np.ndarray:
    """The engine's ``N_MECH`` vector (engine.mechanics.mechanics_vector) of these tables.

    ``buffer``: ``[partial_liquidation] buffer``, ``adl``: ``[adl] policy`` (``None``: off).
    """
    liquidation = (
        schema.Liquidation(fee_model="vol_scaled", **fee_keys)
        if fee_keys is not None
        else schema.Liquidation()
    )
    scenario = SimpleNamespace(
        oracle=Oracle(**named_asset(oracle)) if oracle is not None else None,
        paths=SimpleNamespace(assets=ASSET_NAMES),
        liquidation=liquidation,
        margin=margin_config(margin),
        market=None,
        adl=SimpleNamespace(policy=adl) if adl is not None else None,
        partial_liquidation=(
            SimpleNamespace(buffer=buffer, rule=None) if buffer is not None else None
        ),
        backstop=None,
        insurance_fund=schema.InsuranceFund(),
    )
    return mechanics_vector(scenario)  # type: ignore[arg-type]


def resolved_fee(margin: dict[str, Any], fee_keys: dict[str, Any] | None) -> dict[str, Any] | None:
    """The penalty keys with docs/model.md 9.0's defaults filled (the margin's EWMA)."""
    if fee_keys is None:
        return None
    resolved = {"fee_base": 0.0, "fee_k": 0.0, "fee_min": 0.0, "fee_max": 0.1, **fee_keys}
    shared = margin["model"] == "vol_scaled"
    if resolved.get("vol_ewma_lambda") is None:
        resolved["vol_ewma_lambda"] = margin["ewma_lambda"] if shared else 0.5
    if resolved.get("vol_initial_variance") is None:
        resolved["vol_initial_variance"] = margin["initial_variance"] if shared else 0.0
    return resolved


#: Names of the (two or three) assets of the accounts cases, for ``oracle.manipulation_asset``.
ASSET_NAMES = ["asset0", "asset1", "asset2"]


def named_asset(oracle: dict[str, Any]) -> dict[str, Any]:
    """The ``[oracle]`` keys with ``manipulation_asset`` an asset name, not an index."""
    index = oracle.get("manipulation_asset")
    return {**oracle, "manipulation_asset": None if index is None else ASSET_NAMES[index]}


@st.composite
def oracle_tables(draw: st.DrawFn) -> dict[str, Any]:
    model = draw(st.sampled_from(["lag", "ema", "twap"]))
    table: dict[str, Any] = {"model": model}
    if model == "lag":
        table["lag_steps"] = draw(st.integers(0, 6))
    elif model == "ema":
        table["ema_lambda"] = draw(st.floats(0.0, 0.95))
    else:
        table["twap_steps"] = draw(st.integers(1, 6))
    if draw(st.booleans()):
        table["manipulation_step"] = draw(st.integers(0, 20))
        table["manipulation_steps"] = draw(st.integers(1, 5))
        table["manipulation_size"] = draw(st.floats(-0.3, 0.3))
        table["manipulation_asset"] = draw(st.sampled_from([None, 0, 1]))  # 11.7: one or all
    return table


@st.composite
def fee_tables(draw: st.DrawFn, vol_margin: bool) -> dict[str, Any]:
    low = draw(st.floats(0.0, 0.02))
    table: dict[str, Any] = {
        "fee_base": draw(st.floats(0.0, 0.02)),
        "fee_k": draw(st.floats(0.0, 2.0)),
        "fee_min": low,
        "fee_max": low + draw(st.floats(0.0, 0.1)),
    }
    if not vol_margin or draw(st.booleans()):  # a static margin has no EWMA to share
        table["vol_ewma_lambda"] = draw(st.floats(0.5, 0.99))
        table["vol_initial_variance"] = draw(st.floats(0.0, 1e-3))
    return table


@st.composite
def staged_cases(draw: st.DrawFn) -> dict[str, Any]:
    """An accounts case of tests/test_accounts.py with an oracle, a vol fee, or both."""
    case = draw(accounts_cases())
    which = draw(st.sampled_from(["oracle", "vol_fee", "both"]))
    case["oracle"] = draw(oracle_tables()) if which != "vol_fee" else None
    vol_margin = case["margin"]["model"] == "vol_scaled"
    case["fee_keys"] = draw(fee_tables(vol_margin)) if which != "oracle" else None
    return case


def check_staged(case: dict[str, Any], *, dense: bool) -> None:
    book = case["book"]
    cross = (
        book.cross if case["mode"] == "book" else np.full(book.n_accounts, case["mode"] == "cross")
    )
    gap = smallest_gap(
        case["prices"], book_dict(book), cross, case["margin"], case["brackets"], case["oracle"]
    )
    assume(gap > NEAR_TIE_RELATIVE_GAP)
    stages = stage_vector(case["margin"], case["oracle"], case["fee_keys"])
    actual, _ = run_kernel(
        case["prices"],
        book,
        case["mode"],
        case["margin"],
        case["liquidation"],
        case["fund_initial"],
        case["brackets"],
        dense=dense,
        group_size=case["group_size"],
        stages=stages,
    )
    expected = reference_accounts(
        case["prices"],
        book_dict(book),
        cross,
        case["margin"],
        *case["liquidation"],
        case["fund_initial"],
        case["brackets"],
        oracle=case["oracle"],
        fee_model=resolved_fee(case["margin"], case["fee_keys"]),
    )
    assert_metrics(actual, expected, book.entry_notional, "dense" if dense else "kernel")


@settings(KERNEL_SETTINGS, max_examples=examples(200))
@given(case=staged_cases())
def test_cross_kernel_with_oracle_and_vol_fee_matches_reference(case: dict[str, Any]) -> None:
    check_staged(case, dense=False)


@settings(KERNEL_SETTINGS, max_examples=examples(60))
@given(case=staged_cases())
def test_dense_twin_with_oracle_and_vol_fee_matches_reference(case: dict[str, Any]) -> None:
    check_staged(case, dense=True)


# ----------------------------------------------------------------------------- by hand
MARGIN = {"model": "static", "maintenance": 0.01}
#: BTC falls while ETH rises: the hedged account (long 1 BTC, short 20 ETH, 6,000 pooled)
#: loses on both legs.
BREAK = hand_prices(
    [60000.0, 60000.0, 57000.0, 55000.0, 54000.0, 53000.0],
    [3000.0, 3000.0, 3100.0, 3200.0, 3300.0, 3400.0],
)


def test_lagged_oracle_delays_the_breach_and_the_close_pays_the_market() -> None:
    liquidation = (0, 0.0, 0.005, 0.5)
    # market marks: at step 2, E = 6000 - 3000 - 20 * 100 = 1000 < R = 0.01 (57000 + 62000)
    # = 1190: closed at step 2, remaining 1000 covers the penalty 0.005 * 119000 = 595
    plain, _ = run_kernel(BREAK, HEDGED, "cross", MARGIN, liquidation, 0.0)
    assert plain[0, COLUMN["n_liquidations"]] == 2
    assert_close(
        plain[0, COLUMN["liquidated_notional"]],
        119000.0,
        rtol=HAND_COMPUTED_RTOL,
        atol=HAND_COMPUTED_ATOL,
    )
    assert_close(
        plain[0, COLUMN["fees_to_fund"]], 297.5, rtol=HAND_COMPUTED_RTOL, atol=HAND_COMPUTED_ATOL
    )
    assert plain[0, COLUMN["bad_debt"]] == 0.0
    # lag 2: O_t = P_{t-2}; steps 2 and 3 read P_0 and P_1 (E = 6000), step 4 reads P_2
    # (E = 1000 < 1190): flagged 2 steps later and closed at the market of step 4,
    # 54,000 and 3,300: e' = 6000 - 6000 - 20 * 300 = -6000, notional 54000 + 66000
    oracle = {"model": "lag", "lag_steps": 2}
    stages = stage_vector(MARGIN, oracle, None)
    for dense in (False, True):
        lagged, _ = run_kernel(
            BREAK, HEDGED, "cross", MARGIN, liquidation, 0.0, dense=dense, stages=stages
        )
        assert lagged[0, COLUMN["n_liquidations"]] == 2
        expected = {
            "liquidated_notional": 120000.0,
            "bad_debt": 6000.0,
            "fees_to_fund": 0.0,
            "socialized_loss": 6000.0,
        }
        for name, value in expected.items():
            assert_close(
                lagged[0, COLUMN[name]],
                value,
                rtol=HAND_COMPUTED_RTOL,
                atol=HAND_COMPUTED_ATOL,
                what=name,
            )
        # requirement_mean reads the marks: 0.01 x the open notional at the marks of
        # steps 0..4 (60000 + 60000 at steps 0..3, 57000 + 62000 at step 4), over 6 steps
        assert_close(
            lagged[0, COLUMN["requirement_mean"]],
            0.01 * (4 * 120000.0 + 119000.0) / 6,
            rtol=HAND_COMPUTED_RTOL,
            atol=HAND_COMPUTED_ATOL,
        )
    assert_metrics(
        lagged,
        reference_accounts(
            BREAK, book_dict(HEDGED), np.array([True]), MARGIN, *liquidation, 0.0, oracle=oracle
        ),
        1.2e5,
        "lagged",
    )


def test_each_leg_pays_the_penalty_rate_of_its_own_asset() -> None:
    # 10,000 of collateral per leg, 20,000 pooled; maintenance 10 %. At step 1 BTC -10 %
    # and ETH +10 %: E = 20000 - 6000 - 6000 = 8000 < R = 0.1 (54000 + 66000) = 12000
    book = make_book(
        [0, 0], [0, 1], [1.0, -1.0], [1.0, 20.0], [60000.0, 3000.0], [10000.0] * 2, [True]
    )
    prices = hand_prices([60000.0, 54000.0], [3000.0, 3300.0])
    margin = {"model": "static", "maintenance": 0.1}
    keys = {
        "fee_base": 0.001,
        "fee_k": 0.1,
        "fee_min": 0.0,
        "fee_max": 0.5,
        "vol_ewma_lambda": 0.5,
        "vol_initial_variance": 0.0,
    }
    liquidation = (0, 0.0, 0.005, 0.25)
    result, _ = run_kernel(
        prices, book, "cross", margin, liquidation, 0.0, stages=stage_vector(margin, None, keys)
    )
    # w_a,1 = 0.5 r_a^2, sigma_a = |r_a| / sqrt(2); fee_a = 0.001 + 0.1 sigma_a
    fee_btc = 0.001 + 0.1 * abs(math.log(0.9)) / math.sqrt(2.0)
    fee_eth = 0.001 + 0.1 * abs(math.log(1.1)) / math.sqrt(2.0)
    due = fee_btc * 54000.0 + fee_eth * 66000.0  # about 967, below the 8,000 left: all paid
    assert_close(
        result[0, COLUMN["fees_to_fund"]],
        0.75 * due,
        rtol=HAND_COMPUTED_RTOL,
        atol=HAND_COMPUTED_ATOL,
    )
    assert_close(
        result[0, COLUMN["fees_to_liquidators"]],
        0.25 * due,
        rtol=HAND_COMPUTED_RTOL,
        atol=HAND_COMPUTED_ATOL,
    )
    assert result[0, COLUMN["bad_debt"]] == 0.0


# ----------------------------------------------------------------------------- neutral, large
def test_a_neutral_oracle_is_the_replay_without_it_bit_for_bit() -> None:
    prices = gbm_two_assets(3, 120, 5)
    from stresstest.book.accounts import synthetic_accounts
    from stresstest.scenario.accounts import AccountsSyntheticBook

    book = synthetic_accounts(
        AccountsSyntheticBook(n_accounts=500, cross_fraction=0.5, leverage_max=40.0),
        5,
        prices[0, :, 0],
        ("BTC", "ETH"),
    )
    arguments = (prices, book, "book", MARGIN, (1, 0.001, 0.005, 0.5), 1e4)
    plain, _ = run_kernel(*arguments)
    assert plain[:, COLUMN["n_liquidations"]].sum() > 0
    for oracle in ({"model": "lag"}, {"model": "ema"}, {"model": "twap"}):
        staged, _ = run_kernel(*arguments, stages=stage_vector(MARGIN, oracle, None))
        assert np.array_equal(staged, plain), oracle


def test_filter_on_jumping_marks_matches_the_dense_twin_on_a_large_book() -> None:
    """A manipulation moves every mark 30 % at once: the sleepers must still wake in time."""
    from stresstest.book.accounts import synthetic_accounts
    from stresstest.scenario.accounts import AccountsSyntheticBook

    prices = gbm_two_assets(4, 300, 13)
    book = synthetic_accounts(
        AccountsSyntheticBook(n_accounts=5000, cross_fraction=0.5, leverage_max=40.0),
        13,
        prices[0, :, 0],
        ("BTC", "ETH"),
    )
    margin = {"model": "static", "maintenance": 0.005}
    oracle = {
        "model": "ema",
        "ema_lambda": 0.6,
        "manipulation_step": 150,
        "manipulation_steps": 3,
        "manipulation_size": -0.3,
    }
    keys = {"fee_base": 0.002, "fee_k": 1.0, "fee_max": 0.03, "vol_ewma_lambda": 0.94}
    stages = stage_vector(margin, oracle, keys)
    arguments = (prices, book, "book", margin, (1, 0.001, 0.005, 0.5), 1e5)
    fast, _ = run_kernel(*arguments, group_size=64, stages=stages)
    dense, _ = run_kernel(*arguments, dense=True, stages=stages)
    honest = {key: value for key, value in oracle.items() if not key.startswith("manip")}
    unmanipulated, _ = run_kernel(
        *arguments, group_size=64, stages=stage_vector(margin, honest, keys)
    )
    # the jump changed who is liquidated, so the filter had jumps to follow
    count = COLUMN["n_liquidations"]
    assert not np.array_equal(fast[:, count], unmanipulated[:, count])
    assert_close(fast, dense, rtol=ENGINE_VS_DENSE_RTOL, atol=1e-9 * book.entry_notional)


# ----------------------------------------------------------------------------- the engine
STAGED_SCENARIO: dict[str, Any] = {
    "scenario": {"name": "cross_stages", "seed": 9},
    "paths": {
        "source": "gbm_multi",
        "assets": ["BTC", "ETH"],
        "s0": [60000.0, 3000.0],
        "sigma": [0.015, 0.02],
        "correlation": [[1.0, 0.6], [0.6, 1.0]],
        "n_paths": 3,
        "n_steps": 40,
    },
    "book": {"source": "accounts_synthetic", "n_accounts": 60, "leverage_max": 30.0},
    "margin": {
        "model": "vol_scaled",
        "k": 3.0,
        "horizon_steps": 8,
        "ewma_lambda": 0.9,
        "initial_variance": 1e-4,
        "floor": 0.004,
        "cap": 0.08,
    },
    "liquidation": {
        "latency_steps": 2,
        "slippage": 0.002,
        "fee": 0.005,
        "fee_model": "vol_scaled",
        "fee_base": 0.001,
        "fee_k": 0.4,
        "fee_max": 0.03,
    },
    "oracle": {"model": "twap", "twap_steps": 4},
    "insurance_fund": {"initial": 500.0},
}


def test_a_scenario_with_both_stages_runs_as_the_reference_says() -> None:
    """From the scenario: the stage vector, the shared EWMA defaults and the plumbing."""
    from stresstest.engine.accounts import prepare_accounts, run_accounts
    from stresstest.scenario.validate import scenario_from_dict

    scenario = scenario_from_dict(STAGED_SCENARIO, file=None)
    result = run_accounts(scenario)
    source, book = prepare_accounts(scenario)
    margin = {"model": "vol_scaled", **STAGED_SCENARIO["margin"]}
    fee_keys = {
        key: STAGED_SCENARIO["liquidation"][key] for key in ("fee_base", "fee_k", "fee_max")
    }
    expected = reference_accounts(
        source.chunk(0, source.n_paths),
        book_dict(book),
        book.cross,
        margin,
        2,
        0.002,
        0.005,
        0.5,  # the default liquidator_share
        500.0,
        oracle=STAGED_SCENARIO["oracle"],
        fee_model=resolved_fee(margin, fee_keys),  # vol_ewma_lambda from [margin]
    )
    assert result.metrics[:, COLUMN["n_liquidations"]].sum() > 0
    assert_metrics(result.metrics, expected, book.entry_notional, "run_accounts")
