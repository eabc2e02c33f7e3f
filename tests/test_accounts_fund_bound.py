"""The fund's bound past bankruptcy with accounts (docs/model.md 11.10, 10.4).

The accounts defence kernel with ``insurance_fund.pays_past_bankruptcy`` against
tests/reference_account_defences.py on random books in every mode (isolated: every
unit one position, §10.4; cross: the bound ``f N_u`` on the unit's exit notional),
with or without ADL, partial liquidation, an oracle, a volatility-scaled penalty, price
impact and the backstop vault; by hand on one bankrupt isolated long whose bad debt
past the bound is socialized, or covered by ADL, and on a two-leg cross account whose
bad debt is beyond the bound or within it; and scenarios in every mode, with the same
bytes by thread and chunk.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

import stresstest
from stresstest.book.accounts import AccountsBook, margin_units
from stresstest.kernels import enums
from stresstest.kernels.account_defences import defence_replay_paths
from stresstest.scenario import load_scenario
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
)
from tests.test_accounts_backstop import (
    assert_same_bytes_by_thread_and_chunk,
    backstop_tables,
    vault_params,
)
from tests.test_accounts_defences import (
    assert_defence_metrics,
    defence_params,
    defence_watch,
    reference_trigger,
)
from tests.test_accounts_market import impact_params, market_tables
from tests.test_accounts_stages import fee_tables, margin_config, oracle_tables, resolved_fee
from tests.test_composition import ACCOUNTS
from tests.tiers import examples
from tests.tolerances import HAND_COMPUTED_ATOL, HAND_COMPUTED_RTOL, assert_close

INDEX = enums.METRIC_INDEX


def run_bound(
    prices: np.ndarray,
    book: AccountsBook,
    margin: dict[str, Any],
    liquidation: tuple[int, float, float, float],
    fund_initial: float,
    bound: float | None,
    brackets: list[tuple[float, float]] | None = None,
    *,
    params: np.ndarray | None = None,
    mode: str = "isolated",
) -> np.ndarray:
    """Metrics ``(n_paths, N_METRICS_ALL)`` of the defence kernel in ``mode`` (``bound``
    ``None``: the fund pays all bad debt)."""
    config = margin_config(margin)
    table = brackets_array(bracket_base_rate(config)[1], brackets or [])
    units = margin_units(book, mode)
    stages = (
        params.copy()
        if params is not None
        else defence_params(margin, None, None, None, None, None)
    )
    if bound is not None:
        stages[enums.MECH_FUND_BOUND] = 1.0
        stages[enums.MECH_FUND_BOUND_FRACTION] = bound
    out = np.zeros((prices.shape[0], enums.N_METRICS_ALL))
    defence_replay_paths(
        prices,
        stages,
        kernel_margin(margin),
        table,
        np.asarray(liquidation, dtype=float),
        (units.start, units.asset, units.side, units.qty, units.entry, units.collateral),
        defence_watch(units, prices, config, table),
        fund_initial,
        np.empty(0, dtype=np.int64),
        out,
        np.empty((prices.shape[0], enums.N_GRID, 0)),
    )
    return out


@st.composite
def bound_cases(draw: st.DrawFn) -> dict[str, Any]:
    """An accounts case in any mode with the bound, and maybe ADL, partial liquidation, an
    oracle, a vol fee, impact, the backstop vault."""
    case = draw(accounts_cases())
    case["bound"] = draw(st.sampled_from([0.0, 0.002, 0.02, 0.2]))
    case["adl"] = draw(st.sampled_from([None, "profit_leverage", "hyperliquid", "pro_rata"]))
    if draw(st.booleans()):
        case["fund_initial"] = 0.0
    case["oracle"] = draw(oracle_tables()) if draw(st.booleans()) else None
    vol_margin = case["margin"]["model"] == "vol_scaled"
    case["fee_keys"] = draw(fee_tables(vol_margin)) if draw(st.booleans()) else None
    case["market"] = draw(market_tables()) if draw(st.booleans()) else None
    case["buffer"] = draw(st.sampled_from([None, None, 0.001, 0.01]))  # not 0: a tie (11.8)
    case["backstop"] = None
    if draw(st.integers(0, 3)) == 0:
        case["backstop"] = draw(backstop_tables(case["book"].entry_notional))
    return case


@settings(KERNEL_SETTINGS, max_examples=examples(200))
@given(case=bound_cases())
def test_bound_kernel_matches_reference(case: dict[str, Any]) -> None:
    check_bound_case(case)


@settings(KERNEL_SETTINGS, max_examples=examples(200))
@given(case=bound_cases())
def test_cross_bound_kernel_matches_reference(case: dict[str, Any]) -> None:
    """Every account cross: the bound on the unit's exit notional summed over its legs."""
    case["mode"] = "cross"
    check_bound_case(case)


def check_bound_case(case: dict[str, Any]) -> np.ndarray:
    """The kernel against the reference on one case of :func:`bound_cases` (``bound`` may
    be ``None``; ``trigger``, when present, the predictive trigger's ``(p*, h)``); returns
    the kernel's metrics."""
    book = case["book"]
    mode = case["mode"]
    cross = book.cross if mode == "book" else np.full(book.n_accounts, mode == "cross")
    gap = smallest_gap(
        case["prices"], book_dict(book), cross, case["margin"], case["brackets"], case["oracle"]
    )
    assume(gap > NEAR_TIE_RELATIVE_GAP)
    params = defence_params(
        case["margin"],
        case["oracle"],
        case["fee_keys"],
        case["buffer"],
        case["adl"],
        case.get("trigger"),
    )
    if case["market"] is not None:
        params = impact_params(params, case["market"])
    if case["backstop"] is not None:
        params = vault_params(params, case["backstop"])
    gaps: list[float] = []
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
        market=case["market"],
        bound=case["bound"],
        backstop=case["backstop"],
        gaps=gaps if case["backstop"] is not None else None,
    )
    if gaps:  # a takeover decided at its tie may round apart (tests/test_accounts_backstop.py)
        assume(min(gaps) > NEAR_TIE_RELATIVE_GAP)
    actual = run_bound(
        case["prices"],
        book,
        case["margin"],
        case["liquidation"],
        case["fund_initial"],
        case["bound"],
        case["brackets"],
        params=params,
        mode=mode,
    )
    names = enums.METRIC_NAMES
    if case["bound"] is not None:
        passed = bool(np.any(actual[:, INDEX["fund_passed_bad_debt"]] > 0.0))
        event(f"{mode}: passed {passed}")
        names += enums.FUND_BOUND_METRIC_NAMES
    names += enums.ADL_METRIC_NAMES if case["adl"] else ()
    names += enums.MARKET_METRIC_NAMES if case["market"] else ()
    names += enums.BACKSTOP_METRIC_NAMES if case["backstop"] else ()
    scale = book.entry_notional + (case["backstop"]["capital"] if case["backstop"] else 0.0)
    assert_defence_metrics(actual, expected, scale, names)
    return actual


# ----------------------------------------------------------------------------- by hand
STATIC = {"model": "static", "maintenance": 0.01}
NO_FEES = (0, 0.0, 0.0, 0.5)
#: account 0: isolated long 1 BTC at 60,000 with 1,000; account 1: isolated short 1 BTC
#: at 60,000 with 6,000; one ETH long far from its liquidation. BTC falls to 55,000.
BOUND_BOOK = make_book(
    [0, 1, 2],
    [0, 0, 1],
    [1.0, -1.0, 1.0],
    [1.0, 1.0, 1.0],
    [60000.0, 60000.0, 3000.0],
    [1000.0, 6000.0, 3000.0],
    [False, False, False],
)
BOUND_PRICES = hand_prices([60000.0, 55000.0, 55000.0], [3000.0, 3000.0, 3000.0])


def hand(value: float, expected: float, what: str) -> None:
    assert_close(value, expected, rtol=HAND_COMPUTED_RTOL, atol=HAND_COMPUTED_ATOL, what=what)


def test_bad_debt_past_the_bound_is_socialized_without_adl() -> None:
    out = run_bound(BOUND_PRICES, BOUND_BOOK, STATIC, NO_FEES, 10000.0, 0.05)[0]
    # step 1: the long's equity 1000 - 5000 = -4000: bad debt 4,000 at x = 55,000; the fund
    # pays up to 0.05 * 55,000 = 2,750 and 1,250 is passed on, socialized without ADL
    assert out[INDEX["n_liquidations"]] == 1
    hand(out[INDEX["bad_debt"]], 4000.0, "bad debt")
    hand(out[INDEX["fund_passed_bad_debt"]], 1250.0, "passed")
    hand(out[INDEX["fund_end"]], 10000.0 - 2750.0, "fund end")
    hand(out[INDEX["socialized_loss"]], 1250.0, "socialized")


def test_bad_debt_past_the_bound_is_covered_by_adl() -> None:
    params = defence_params(STATIC, None, None, None, "profit_leverage", None)
    out = run_bound(BOUND_PRICES, BOUND_BOOK, STATIC, NO_FEES, 10000.0, 0.05, params=params)[0]
    # the 1,250 passed on is the BTC longs' loss: the profitable BTC short (5,000 at the
    # mark 55,000) is closed whole and gives 1,250; the fund keeps 10,000 - 2,750
    hand(out[INDEX["fund_passed_bad_debt"]], 1250.0, "passed")
    hand(out[INDEX["fund_end"]], 7250.0, "fund end")
    hand(out[INDEX["socialized_loss"]], 0.0, "socialized")
    assert out[INDEX["adl_count"]] == 1
    hand(out[INDEX["adl_notional"]], 55000.0, "adl notional")


#: account 0: cross, long 1 BTC at 60,000 and long 20 ETH at 3,000, 1,000 each; account
#: 1: isolated short 1 BTC at 60,000 with 6,000. BTC falls to 55,000, ETH to 2,900.
CROSS_BOOK = make_book(
    [0, 0, 1],
    [0, 1, 0],
    [1.0, 1.0, -1.0],
    [1.0, 20.0, 1.0],
    [60000.0, 3000.0, 60000.0],
    [1000.0, 1000.0, 6000.0],
    [True, False],
)
CROSS_PRICES = hand_prices([60000.0, 55000.0, 55000.0], [3000.0, 2900.0, 2900.0])


def test_cross_bad_debt_past_the_bound_is_passed_on() -> None:
    out = run_bound(CROSS_PRICES, CROSS_BOOK, STATIC, NO_FEES, 10000.0, 0.02, mode="book")[0]
    # step 0: E = 2,000 >= R = 0.01 (60,000 + 60,000) = 1,200. Step 1: E = 2,000 - 5,000
    # - 2,000 = -5,000 < R: closed at x = 55,000 and 2,900, bad debt 5,000; N_u = 55,000
    # + 20 * 2,900 = 113,000, the fund pays 0.02 * 113,000 = 2,260, 2,740 is passed on
    assert out[INDEX["n_liquidations"]] == 2  # two legs
    hand(out[INDEX["liquidated_notional"]], 113000.0, "exit notional")
    hand(out[INDEX["bad_debt"]], 5000.0, "bad debt")
    hand(out[INDEX["fund_passed_bad_debt"]], 2740.0, "passed")
    hand(out[INDEX["fund_end"]], 10000.0 - 2260.0, "fund end")
    hand(out[INDEX["socialized_loss"]], 2740.0, "socialized")


def test_cross_bad_debt_within_the_bound_is_the_funds() -> None:
    out = run_bound(CROSS_PRICES, CROSS_BOOK, STATIC, NO_FEES, 10000.0, 0.05, mode="book")[0]
    # 0.05 * 113,000 = 5,650 >= 5,000: the fund pays it all, nothing is passed on
    hand(out[INDEX["bad_debt"]], 5000.0, "bad debt")
    hand(out[INDEX["fund_passed_bad_debt"]], 0.0, "passed")
    hand(out[INDEX["fund_end"]], 5000.0, "fund end")
    hand(out[INDEX["socialized_loss"]], 0.0, "socialized")


def test_cross_passed_debt_goes_to_adl_by_leg_loss() -> None:
    params = defence_params(STATIC, None, None, None, "profit_leverage", None)
    out = run_bound(
        CROSS_PRICES, CROSS_BOOK, STATIC, NO_FEES, 10000.0, 0.02, params=params, mode="book"
    )[0]
    # the 2,740 passed on is split by the legs' losses, 5,000 BTC and 2,000 ETH: the BTC
    # longs' 2,740 * 5/7 is covered by the profitable BTC short (5,000 at 55,000), closed
    # whole; no ETH short exists, so the ETH longs' 2,740 * 2/7 is socialized
    hand(out[INDEX["fund_passed_bad_debt"]], 2740.0, "passed")
    hand(out[INDEX["fund_end"]], 7740.0, "fund end")
    hand(out[INDEX["socialized_loss"]], 2740.0 * 2.0 / 7.0, "socialized")
    assert out[INDEX["adl_count"]] == 1
    hand(out[INDEX["adl_notional"]], 55000.0, "adl notional")


def test_accounts_run_the_bound_in_every_mode_with_the_same_bytes() -> None:
    base = copy.deepcopy(ACCOUNTS)
    base["paths"].update(sigma=[0.03, 0.05], n_steps=24)
    base["book"].update(n_accounts=200, leverage_max=50.0)
    base["insurance_fund"] = {"initial": 0.0, "pays_past_bankruptcy": 0.001}
    for mode in ("cross", "book", "isolated"):
        scenario = copy.deepcopy(base)
        scenario["accounts"] = {"mode": mode}
        loaded = load_scenario(scenario)
        result = stresstest.run(loaded)
        assert result.paths.columns == ["path", *enums.METRIC_NAMES, "fund_passed_bad_debt"]
        assert (result.column("fund_passed_bad_debt") > 0.0).any(), mode
        assert_same_bytes_by_thread_and_chunk(loaded, result.metrics, mode)
