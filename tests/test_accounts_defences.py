"""Partial liquidation and ADL with accounts (docs/model.md 11.8).

The accounts defence kernel against tests/reference_account_defences.py (unit by
unit, bisection for the kept fraction, a full sort for the ranking) on random
books, paths, margins, brackets, oracles and penalty rates; by hand on a two-leg
cross account deleveraged by ADL and on the partial close of a two-leg account;
and, with no defence doing anything, against the filtered kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stresstest.book.accounts import AccountsBook, MarginUnits, margin_units
from stresstest.book.cross_index import WatchIndex, build_cross_index, watch_index
from stresstest.engine.accounts import rate_bound
from stresstest.engine.mechanics import trigger_z
from stresstest.kernels import enums
from stresstest.kernels.account_defences import defence_replay_paths
from stresstest.scenario import schema
from tests.reference_account_defences import reference_account_defences
from tests.reference_accounts import smallest_gap
from tests.test_accounts import (
    KERNEL_SETTINGS,
    NEAR_TIE_RELATIVE_GAP,
    accounts_cases,
    book_dict,
    bracket_base_rate,
    brackets_array,
    hand_prices,
    kernel_margin,
    make_book,
    run_kernel,
)
from tests.test_accounts_stages import (
    fee_tables,
    margin_config,
    oracle_tables,
    resolved_fee,
    stage_vector,
)
from tests.tiers import examples
from tests.tolerances import (
    ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL,
    ENGINE_VS_REFERENCE_RTOL,
    HAND_COMPUTED_ATOL,
    HAND_COMPUTED_RTOL,
    assert_close,
)

INDEX = enums.METRIC_INDEX
#: Columns that count: compared exactly.
COUNTS = ("n_liquidations", "adl_count")
#: Columns that are fractions of a total (dimensionless): compared at the relative tolerance.
SHARES = ("margin_rate_mean", "adl_top1_share", "adl_top10_share", "adl_gini")


def defence_params(
    margin: dict[str, Any],
    oracle: dict[str, Any] | None,
    fee_keys: dict[str, Any] | None,
    buffer: float | None,
    adl: str | None,
    trigger: tuple[float, int] | None,
) -> np.ndarray:
    """The ``N_MECH`` vector; ``trigger`` = (p*, horizon steps) of the predictive trigger."""
    params = stage_vector(margin, oracle, fee_keys, buffer=buffer, adl=adl)
    if trigger is not None:
        params[enums.MECH_TRIGGER] = enums.TRIGGER_PREDICTIVE
        params[enums.MECH_TRIGGER_Z] = trigger_z(trigger[0])
        params[enums.MECH_TRIGGER_SQRT_H] = np.sqrt(float(trigger[1]))
    return params


def reference_trigger(params: np.ndarray) -> dict[str, float] | None:
    """The predictive trigger's keys of ``params`` for the reference, ``None`` if off."""
    if int(params[enums.MECH_TRIGGER]) != enums.TRIGGER_PREDICTIVE:
        return None
    return {
        "z": float(params[enums.MECH_TRIGGER_Z]),
        "sqrt_h": float(params[enums.MECH_TRIGGER_SQRT_H]),
        "vol_ewma_lambda": float(params[enums.MECH_VOL_LAMBDA]),
        "vol_initial_variance": float(params[enums.MECH_VOL_V0]),
    }


#: Units per group of the tests' filter: small, so the tests' small books have several.
WATCH_GROUP_SIZE = 2


def defence_watch(
    units: MarginUnits, prices: np.ndarray, config: Any, table: np.ndarray
) -> WatchIndex:
    """The engine's filter over ``units`` (scaled by the first path's start), small groups."""
    return watch_index(
        build_cross_index(
            units,
            prices[0, :, 0],
            rate_bound(config, table),
            table,
            WATCH_GROUP_SIZE,
            static_rates=isinstance(config, schema.StaticMargin),
        )
    )


def run_defences(
    prices: np.ndarray,
    book: AccountsBook,
    mode: str,
    margin: dict[str, Any],
    liquidation: tuple[int, float, float, float],
    fund_initial: float,
    brackets: list[tuple[float, float]] | None = None,
    *,
    oracle: dict[str, Any] | None = None,
    fee_keys: dict[str, Any] | None = None,
    buffer: float | None = None,
    adl: str | None = None,
    trigger: tuple[float, int] | None = None,
) -> np.ndarray:
    """Metrics ``(n_paths, N_METRICS_ADL)`` of the defence kernel (the engine's arguments)."""
    config = margin_config(margin)
    table = brackets_array(bracket_base_rate(config)[1], brackets or [])
    units = margin_units(book, mode)
    out = np.zeros((prices.shape[0], enums.N_METRICS_ADL))
    grid = np.empty(0, dtype=np.int64)
    defence_replay_paths(
        prices,
        defence_params(margin, oracle, fee_keys, buffer, adl, trigger),
        kernel_margin(margin),
        table,
        np.asarray(liquidation, dtype=float),
        (units.start, units.asset, units.side, units.qty, units.entry, units.collateral),
        defence_watch(units, prices, config, table),
        fund_initial,
        grid,
        out,
        np.empty((prices.shape[0], enums.N_GRID, 0)),
    )
    return out


def assert_defence_metrics(
    actual: np.ndarray, expected: np.ndarray, scale: float, names: tuple[str, ...]
) -> None:
    for name in names:
        column = INDEX[name]
        if name in COUNTS:
            assert_close(actual[:, column], expected[:, column], rtol=0.0, atol=0.0, what=name)
        elif name in SHARES:
            assert_close(
                actual[:, column],
                expected[:, column],
                rtol=ENGINE_VS_REFERENCE_RTOL,
                atol=1e-12,
                what=name,
            )
        else:
            assert_close(
                actual[:, column],
                expected[:, column],
                rtol=ENGINE_VS_REFERENCE_RTOL,
                atol=ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL * scale,
                what=name,
            )


@st.composite
def defence_cases(draw: st.DrawFn) -> dict[str, Any]:
    """An accounts case with partial liquidation, ADL or both, and maybe an oracle or a vol
    fee."""
    case = draw(accounts_cases())
    which = draw(st.sampled_from(["partial", "profit_leverage", "hyperliquid", "pro_rata"]))
    # buffer > 0: with 0 a partial close leaves the unit exactly at its requirement, a tie
    # the next step's E < R decides by rounding, which the kernel and the reference may
    # round apart (CI found one such case with [market], n_liquidations 3 against 2)
    case["buffer"] = draw(st.floats(1e-4, 0.05)) if which == "partial" else None
    case["adl"] = None if which == "partial" else which
    if which == "partial" and draw(st.booleans()):  # both: each unit keeps its own state
        case["adl"] = draw(st.sampled_from(["profit_leverage", "hyperliquid", "pro_rata"]))
    if case["adl"] is not None and draw(st.booleans()):
        case["fund_initial"] = 0.0  # every bad debt is a shortfall
    case["oracle"] = draw(oracle_tables()) if draw(st.booleans()) else None
    vol_margin = case["margin"]["model"] == "vol_scaled"
    case["fee_keys"] = draw(fee_tables(vol_margin)) if draw(st.booleans()) else None
    case["trigger"] = None
    if draw(st.integers(0, 3)) == 0:  # the predictive trigger, in every mode (11.8)
        case["trigger"] = (draw(st.floats(0.01, 0.5)), draw(st.integers(0, 12)))
    return case


@settings(KERNEL_SETTINGS, max_examples=examples(200))
@given(case=defence_cases())
def test_defence_kernel_matches_reference(case: dict[str, Any]) -> None:
    check_defence_case(case)


def check_defence_case(case: dict[str, Any]) -> None:
    """The defence kernel against the plain reference on one drawn case (discarded near a tie)."""
    book = case["book"]
    cross = (
        book.cross if case["mode"] == "book" else np.full(book.n_accounts, case["mode"] == "cross")
    )
    gap = smallest_gap(
        case["prices"], book_dict(book), cross, case["margin"], case["brackets"], case["oracle"]
    )
    assume(gap > NEAR_TIE_RELATIVE_GAP)
    actual = run_defences(
        case["prices"],
        book,
        case["mode"],
        case["margin"],
        case["liquidation"],
        case["fund_initial"],
        case["brackets"],
        oracle=case["oracle"],
        fee_keys=case["fee_keys"],
        buffer=case["buffer"],
        adl=case["adl"],
        trigger=case["trigger"],
    )
    params = defence_params(
        case["margin"],
        case["oracle"],
        case["fee_keys"],
        case["buffer"],
        case["adl"],
        case["trigger"],
    )
    expected = reference_account_defences(
        case["prices"],
        book_dict(book),
        cross,
        case["margin"],
        *case["liquidation"],
        case["fund_initial"],
        case["brackets"],
        oracle=case["oracle"],
        fee_model=resolved_fee(case["margin"], case["fee_keys"]),
        buffer=case["buffer"],
        adl=case["adl"],
        trigger=reference_trigger(params),
    )
    names = enums.METRIC_NAMES + (enums.ADL_METRIC_NAMES if case["adl"] else ())
    assert_defence_metrics(actual, expected, book.entry_notional, names)


@settings(KERNEL_SETTINGS, max_examples=examples(60))
@given(case=accounts_cases(), policy=st.sampled_from(["profit_leverage", "pro_rata"]))
def test_adl_that_never_fires_gives_the_filtered_kernel(case: dict[str, Any], policy: str) -> None:
    """A fund too large to empty: no ADL event, so the results are the accounts kernel's."""
    book = case["book"]
    fund = 1e6 * book.entry_notional
    plain, _ = run_kernel(
        case["prices"],
        book,
        case["mode"],
        case["margin"],
        case["liquidation"],
        fund,
        case["brackets"],
    )
    actual = run_defences(
        case["prices"],
        book,
        case["mode"],
        case["margin"],
        case["liquidation"],
        fund,
        case["brackets"],
        adl=policy,
    )
    assert (actual[:, INDEX["adl_count"]] == 0).all()
    assert_defence_metrics(actual, plain, book.entry_notional, enums.METRIC_NAMES)


# ----------------------------------------------------------------------------- by hand
STATIC = {"model": "static", "maintenance": 0.01}
#: account 0: isolated long 1 BTC at 60,000 (3,000); account 1: cross, short 0.5 BTC at
#: 60,000 and long 10 ETH at 3,000 (1,000 each); account 2: short 0.4 BTC at 55,000
#: (4,000); account 3: short 0.1 BTC at 51,000 (5,000). BTC falls to 50,000, ETH to 2,900.
ADL_BOOK = make_book(
    [0, 1, 1, 2, 3],
    [0, 0, 1, 0, 0],
    [1.0, -1.0, 1.0, -1.0, -1.0],
    [1.0, 0.5, 10.0, 0.4, 0.1],
    [60000.0, 60000.0, 3000.0, 55000.0, 51000.0],
    [3000.0, 1000.0, 1000.0, 4000.0, 5000.0],
    [False, True, False, False],
)
ADL_PRICES = hand_prices([60000.0, 50000.0, 50000.0], [3000.0, 2900.0, 2900.0])


def hand(value: float, expected: float, what: str) -> None:
    assert_close(value, expected, rtol=HAND_COMPUTED_RTOL, atol=HAND_COMPUTED_ATOL, what=what)


def test_adl_deleverages_the_short_leg_of_a_two_leg_cross_account() -> None:
    out = run_defences(
        ADL_PRICES, ADL_BOOK, "book", STATIC, (0, 0.0, 0.005, 0.5), 0.0, adl="profit_leverage"
    )[0]
    # step 1: the long's equity 3000 - 10000 = -7000: bad debt 7,000, nothing paid, all of
    # it on (BTC, long); the fund (0) is short 7,000, covered by profitable BTC shorts at 50,000:
    #   account 1: u = 5000, V = 2000 + 5000 - 1000 = 6000, score (4000/2000)(25000/6000) = 8.33
    #   account 2: u = 2000, V = 6000, score (2000/4000)(20000/6000) = 1.67
    #   account 3: u = 100, V = 5100, score (100/5000)(5000/5100) = 0.0196
    # account 1's BTC leg gives 5,000 (closed), account 2 gives 2,000 (closed): need met
    assert out[INDEX["n_liquidations"]] == 1
    hand(out[INDEX["bad_debt"]], 7000.0, "bad debt")
    hand(out[INDEX["socialized_loss"]], 0.0, "socialized")
    hand(out[INDEX["fund_end"]], 0.0, "fund end")
    hand(out[INDEX["fund_required"]], 7000.0, "fund required")
    assert out[INDEX["adl_count"]] == 2
    hand(out[INDEX["adl_notional"]], 0.5 * 50000.0 + 0.4 * 50000.0, "adl notional")
    # two traders gave 5,000 and 2,000: the top 1% and 10% are the first
    hand(out[INDEX["adl_top1_share"]], 5000.0 / 7000.0, "top1")
    hand(out[INDEX["adl_top10_share"]], 5000.0 / 7000.0, "top10")
    # haircuts (1, 1, 0) over the event's 3 candidates: G = 4 / (2 * 3 * 2) = 1/3
    hand(out[INDEX["adl_gini"]], 1.0 / 3.0, "gini")
    # account 1 keeps its ETH leg and collateral 2,000 (+ 5000 - 5000): E = 1000 at step 2,
    # above R = 0.01 * 29000 = 290, so nothing more is liquidated
    assert out[INDEX["n_liquidations"]] == 1


def test_pro_rata_adl_reduces_every_profitable_leg_alike() -> None:
    out = run_defences(
        ADL_PRICES, ADL_BOOK, "book", STATIC, (0, 0.0, 0.005, 0.5), 0.0, adl="pro_rata"
    )[0]
    # U = 5000 + 2000 + 100 = 7100, f = 7000 / 7100: every candidate gives f u
    fraction = 7000.0 / 7100.0
    assert out[INDEX["adl_count"]] == 3
    hand(out[INDEX["adl_notional"]], fraction * (0.5 + 0.4 + 0.1) * 50000.0, "adl notional")
    hand(out[INDEX["socialized_loss"]], 0.0, "socialized")
    hand(out[INDEX["adl_top1_share"]], 5000.0 / 7100.0, "top1")
    hand(out[INDEX["adl_gini"]], 0.0, "gini")


#: a hedged cross account: long 1 BTC at 60,000, short 20 ETH at 3,000, 1,000 each.
PAIR = make_book([0, 0], [0, 1], [1.0, -1.0], [1.0, 20.0], [60000.0, 3000.0], [1000.0] * 2, [True])


def test_partial_close_keeps_the_same_fraction_of_both_legs() -> None:
    prices = hand_prices([60000.0, 59500.0, 59500.0], [3000.0, 3020.0, 3020.0])
    out = run_defences(prices, PAIR, "cross", STATIC, (0, 0.0, 0.005, 0.5), 0.0, buffer=0.01)[0]
    # step 1: E = 2000 - 500 - 400 = 1100 < R = 0.01 (59500 + 60400) = 1199: flagged, closed
    # at step 1: F = 0.005 * 119900 = 599.5, A = 1100 - 599.5 = 500.5 > 0,
    # D = (0.01 + 0.01) 119900 - 599.5 = 1798.5, phi = A / D kept of both legs
    kept = 500.5 / 1798.5
    closed = 1.0 - kept
    assert out[INDEX["n_liquidations"]] == 2  # both legs reduced once
    hand(out[INDEX["liquidated_notional"]], closed * 119900.0, "liquidated notional")
    hand(out[INDEX["fees_to_fund"]], 0.5 * closed * 599.5, "fees to fund")
    hand(out[INDEX["bad_debt"]], 0.0, "bad debt")
    # what stays: c' = 2000 - 1499.5 closed, equity at step 2 = 500.5 + 599.5 kept = 2398 kept
    # = 2 R: never flagged again; the requirement counts the kept legs from step 2 on
    expected_requirement = (1200.0 + 1199.0 + 1199.0 * kept) / 3.0
    hand(out[INDEX["requirement_mean"]], expected_requirement, "requirement mean")


def test_partial_close_of_a_unit_with_no_equity_after_the_penalty_is_full() -> None:
    prices = hand_prices([60000.0, 59000.0], [3000.0, 3050.0])
    out = run_defences(prices, PAIR, "cross", STATIC, (0, 0.0, 0.005, 0.5), 0.0, buffer=0.01)[0]
    # E = 2000 - 1000 - 1000 = 0 at the exits; A = 0 - 600 <= 0: closed in full, paid 0
    assert out[INDEX["n_liquidations"]] == 2
    hand(out[INDEX["liquidated_notional"]], 120000.0, "liquidated notional")
    hand(out[INDEX["fees_to_fund"]], 0.0, "fees to fund")


def test_predictive_trigger_flags_an_isolated_position_before_maintenance_does() -> None:
    long_btc = make_book([0], [0], [1.0], [1.0], [60000.0], [3000.0], [False])
    prices = hand_prices([60000.0, 58000.0], [3000.0, 3000.0])
    liquidation = (0, 0.0, 0.005, 0.5)
    plain = run_defences(prices, long_btc, "isolated", STATIC, liquidation, 0.0, adl="pro_rata")
    # maintenance: E = 3000 - 2000 = 1000 >= R = 580 at step 1: nothing closed
    assert plain[0, INDEX["n_liquidations"]] == 0
    out = run_defences(
        prices, long_btc, "isolated", STATIC, liquidation, 0.0, adl="pro_rata", trigger=(0.05, 1)
    )[0]
    # w_1 = 0.5 ln(58/60)^2 (lambda 0.5, w_0 = 0), shift = 1.95996 sqrt(w_1) = 0.0470:
    # 58000 exp(-0.0470) = 55338 < B = 60000 - 3000 = 57000: flagged and closed at step 1,
    # remaining 1000 pays the penalty 0.005 * 58000 = 290
    shift = 1.959963984540054 * np.sqrt(0.5 * np.log(58.0 / 60.0) ** 2)
    assert 58000.0 * np.exp(-shift) < 57000.0
    assert out[INDEX["n_liquidations"]] == 1
    hand(out[INDEX["fees_to_fund"]], 145.0, "fees to fund")
    hand(out[INDEX["bad_debt"]], 0.0, "bad debt")
