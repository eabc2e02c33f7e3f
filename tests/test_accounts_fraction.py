"""The venue-style fraction rule of partial liquidation with accounts (docs/model.md 11.8).

The accounts defence kernel with ``[partial_liquidation] rule = "fraction"`` against
tests/reference_account_defences.py (unit by unit, leg by leg) on random books in
cross, isolated and book modes, with the rule on in every example and ADL, the
backstop vault, price impact, an oracle, a volatility-scaled penalty, the fund's bound
or the predictive trigger drawn on top; an isolated one-asset book against the single-asset
pipeline (10.1.1, position by position); by hand, a cool-down that closes a unit in
full two steps after its partial close, a leg at or below the notional threshold
closed in full while the other is reduced, and a unit whose legs are all below it
closed whole; the scenario layer (the pair loads, threads and chunks give the same
bytes).
"""

from __future__ import annotations

import copy
from typing import Any

import numba
import numpy as np
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

import stresstest
from stresstest.book.accounts import AccountsBook
from stresstest.kernels import enums
from stresstest.scenario import load_scenario
from stresstest.scenario.composition import UNSUPPORTED
from tests.reference_account_defences import reference_account_defences
from tests.reference_accounts import smallest_gap
from tests.test_accounts import (
    KERNEL_SETTINGS,
    NEAR_TIE_RELATIVE_GAP,
    accounts_cases,
    book_dict,
    hand_prices,
    make_book,
)
from tests.test_accounts_backstop import (
    backstop_tables,
    one_asset_isolated,
    run_vault,
    single_asset_metrics,
    vault_params,
)
from tests.test_accounts_defences import (
    assert_defence_metrics,
    defence_params,
    reference_trigger,
)
from tests.test_accounts_market import impact_params, market_tables
from tests.test_accounts_stages import fee_tables, oracle_tables, resolved_fee
from tests.test_composition import ACCOUNTS
from tests.tiers import examples
from tests.tolerances import HAND_COMPUTED_ATOL, HAND_COMPUTED_RTOL, assert_close

INDEX = enums.METRIC_INDEX


def fraction_params(params: np.ndarray, rule: dict[str, Any]) -> np.ndarray:
    """``params`` with partial liquidation by the fraction rule ``rule`` (the table's keys),
    as engine.mechanics.mechanics_vector sets them."""
    params = params.copy()
    params[enums.MECH_PARTIAL] = 1.0
    params[enums.MECH_BUFFER] = 0.0
    params[enums.MECH_PARTIAL_RULE] = enums.PARTIAL_RULE_FRACTION
    params[enums.MECH_PARTIAL_FRACTION] = float(rule["fraction"])
    cooldown = rule.get("cooldown_steps")
    params[enums.MECH_PARTIAL_COOLDOWN] = 0.0 if cooldown is None else float(cooldown)
    params[enums.MECH_PARTIAL_MIN_NOTIONAL] = float(rule.get("min_notional") or 0.0)
    return params


def reference_rule(rule: dict[str, Any]) -> dict[str, float]:
    """The rule's keys for the reference, defaults filled (10.1.1)."""
    return {
        "fraction": float(rule["fraction"]),
        "cooldown_steps": float(rule.get("cooldown_steps") or 0),
        "min_notional": float(rule.get("min_notional") or 0.0),
    }


@st.composite
def fraction_tables(draw: st.DrawFn, book: AccountsBook) -> dict[str, Any]:
    """A ``rule = "fraction"`` table; ``min_notional`` drawn among the legs' entry notionals,
    so that it splits the legs of the units breached at one step."""
    table: dict[str, Any] = {
        "rule": "fraction",
        "fraction": draw(st.sampled_from([0.2, 0.5, 1.0]) | st.floats(0.05, 0.95)),
        "cooldown_steps": draw(st.sampled_from([None, 0, 1, 2, 5])),
    }
    if draw(st.booleans()):
        notional = book.qty * book.entry_price
        table["min_notional"] = float(np.quantile(notional, draw(st.floats(0.0, 1.0))))
    return table


@st.composite
def fraction_cases(draw: st.DrawFn) -> dict[str, Any]:
    """An accounts case with the fraction rule always, and maybe ADL, the vault, impact, an
    oracle, a vol fee or the predictive trigger (cross units by 11.8's move to ruin)."""
    case = draw(accounts_cases())
    case["rule"] = draw(fraction_tables(case["book"]))
    return draw(with_other_stages(case))


@st.composite
def with_other_stages(draw: st.DrawFn, case: dict[str, Any]) -> dict[str, Any]:
    """``case`` with maybe ADL, an empty fund, an oracle, a vol fee, impact, the vault, the
    predictive trigger or the fund's bound drawn on top (each in every mode, 11.8)."""
    case["adl"] = draw(st.sampled_from([None, "profit_leverage", "hyperliquid", "pro_rata"]))
    if draw(st.booleans()):
        case["fund_initial"] = 0.0  # every bad debt is a shortfall
    case["oracle"] = draw(oracle_tables()) if draw(st.booleans()) else None
    vol_margin = case["margin"]["model"] == "vol_scaled"
    case["fee_keys"] = draw(fee_tables(vol_margin)) if draw(st.booleans()) else None
    case["market"] = draw(market_tables()) if draw(st.integers(0, 3)) == 0 else None
    case["backstop"] = (
        draw(backstop_tables(case["book"].entry_notional)) if draw(st.integers(0, 3)) == 0 else None
    )
    case["trigger"] = None
    if draw(st.integers(0, 3)) == 0:  # the predictive trigger, in every mode (11.8)
        case["trigger"] = (draw(st.floats(0.01, 0.5)), draw(st.integers(0, 12)))
    # the fund's bound past bankruptcy (11.10): only the full closes have bad debt
    case["bound"] = (
        draw(st.sampled_from([0.0, 0.002, 0.2])) if draw(st.integers(0, 3)) == 0 else None
    )
    return case


@settings(KERNEL_SETTINGS, max_examples=examples(300))
@given(case=fraction_cases())
def test_fraction_rule_kernel_matches_reference(case: dict[str, Any]) -> None:
    params = defence_params(
        case["margin"], case["oracle"], case["fee_keys"], None, case["adl"], case["trigger"]
    )
    check_leg_rule(case, fraction_params(params, case["rule"]), reference_rule(case["rule"]))


def check_leg_rule(case: dict[str, Any], params: np.ndarray, rule: dict[str, float]) -> None:
    """The kernel with a rule of legs on (``params``; ``[market]`` and ``[backstop]`` of the
    case added here) against the reference with ``fraction=rule``, every metric the stages
    write; near ties of a breach or a takeover are assumed away."""
    book = case["book"]
    mode = case["mode"]
    cross = book.cross if mode == "book" else np.full(book.n_accounts, mode == "cross")
    gap = smallest_gap(
        case["prices"], book_dict(book), cross, case["margin"], case["brackets"], case["oracle"]
    )
    assume(gap > NEAR_TIE_RELATIVE_GAP)
    if case["market"] is not None:
        params = impact_params(params, case["market"])
    if case["backstop"] is not None:
        params = vault_params(params, case["backstop"])
    if case["bound"] is not None:
        params = params.copy()
        params[enums.MECH_FUND_BOUND] = 1.0
        params[enums.MECH_FUND_BOUND_FRACTION] = case["bound"]
    gaps: list[float] = []
    seen: set[str] = set()
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
        adl=case["adl"],
        trigger=reference_trigger(params),
        market=case["market"],
        bound=case["bound"],
        backstop=case["backstop"],
        gaps=gaps,
        fraction=rule,
        seen=seen,
    )
    assume(not gaps or min(gaps) > NEAR_TIE_RELATIVE_GAP)
    for name in sorted(seen):  # how often each case of the rule was met (11.8)
        event(f"case: {name}")
    actual = run_vault(
        case["prices"],
        book,
        mode,
        case["margin"],
        case["liquidation"],
        case["fund_initial"],
        params,
        case["brackets"],
    )
    closes = actual[:, INDEX["n_liquidations"]].sum()
    event(f"{mode}: closes {'> 0' if closes > 0 else '0'}, adl {case['adl'] is not None}")
    names = enums.METRIC_NAMES
    names += enums.ADL_METRIC_NAMES if case["adl"] else ()
    names += enums.MARKET_METRIC_NAMES if case["market"] else ()
    names += enums.BACKSTOP_METRIC_NAMES if case["backstop"] else ()
    names += enums.FUND_BOUND_METRIC_NAMES if case["bound"] is not None else ()
    capital = case["backstop"]["capital"] if case["backstop"] else 0.0
    assert_defence_metrics(actual, expected, book.entry_notional + capital, names)


@settings(KERNEL_SETTINGS, max_examples=examples(150))
@given(case=accounts_cases(), data=st.data())
def test_isolated_one_asset_book_is_the_single_asset_fraction_rule(
    case: dict[str, Any], data: st.DataObject
) -> None:
    """Every unit one position of one asset: the accounts run is 10.1.1 on the same book."""
    book, prices = one_asset_isolated(case)
    cross = np.zeros(book.n_accounts, dtype=bool)
    assume(smallest_gap(prices, book_dict(book), cross, case["margin"]) > NEAR_TIE_RELATIVE_GAP)
    rule = data.draw(fraction_tables(book))
    backstop = data.draw(st.none() | backstop_tables(book.entry_notional))
    gaps: list[float] = []
    seen: set[str] = set()
    latency, slippage, fee, share = case["liquidation"]
    reference_account_defences(
        prices,
        book_dict(book),
        cross,
        case["margin"],
        latency,
        slippage,
        fee,
        share,
        case["fund_initial"],
        backstop=backstop,
        gaps=gaps,
        fraction=reference_rule(rule),
        seen=seen,
    )
    for name in sorted(seen):
        event(f"case: {name}")
    assume(not gaps or min(gaps) > NEAR_TIE_RELATIVE_GAP)
    params = fraction_params(defence_params(case["margin"], None, None, None, None, None), rule)
    if backstop is not None:
        params = vault_params(params, backstop)
    actual = run_vault(
        prices, book, "isolated", case["margin"], case["liquidation"], case["fund_initial"], params
    )
    expected = single_asset_metrics(
        book, prices, case, partial={"buffer": 0.0, **rule}, backstop=backstop
    )
    event(f"closes {'> 0' if actual[:, INDEX['n_liquidations']].sum() > 0 else '0'}")
    names = tuple(
        name
        for name in enums.METRIC_NAMES + (enums.BACKSTOP_METRIC_NAMES if backstop else ())
        # the requirement sums are each engine's against its own reference elsewhere
        if name not in ("requirement_mean", "margin_rate_mean")
    )
    capital = backstop["capital"] if backstop else 0.0
    assert_defence_metrics(actual, expected, book.entry_notional + capital, names)


# ----------------------------------------------------------------------------- by hand
STATIC = {"model": "static", "maintenance": 0.05}
#: latency 0, no slippage, penalty 1 %, half of it to the liquidator
LIQUIDATION = (0, 0.0, 0.01, 0.5)
#: One cross account: long 1 BTC at 60,000 and short 10 ETH at 3,000, collateral 6,000.
PAIR = make_book(
    [0, 0], [0, 1], [1.0, -1.0], [1.0, 10.0], [60000.0, 3000.0], [3000.0, 3000.0], [True]
)
#: t = 1: BTC 57,000: E = 6,000 - 3,000 = 3,000 < R = 0.05 (57,000 + 30,000) = 4,350.
#: t = 2: BTC 58,000 (recovered), t = 3: BTC 54,000; ETH stays at 3,000.
PRICES = hand_prices([60000.0, 57000.0, 58000.0, 54000.0], [3000.0] * 4)


def hand(value: float, expected: float, what: str) -> None:
    assert_close(value, expected, rtol=HAND_COMPUTED_RTOL, atol=HAND_COMPUTED_ATOL, what=what)


def run_rule(prices: np.ndarray, rule: dict[str, Any]) -> np.ndarray:
    params = fraction_params(defence_params(STATIC, None, None, None, None, None), rule)
    return run_vault(prices, PAIR, "cross", STATIC, LIQUIDATION, 0.0, params)[0]


def test_a_unit_in_its_cool_down_is_closed_in_full() -> None:
    # t = 1: A = 3,000 - 0.01 x 87,000 = 2,130 > 0, both legs above N_min = 0: half of each
    # closed (0.5 BTC, 5 ETH), notional 28,500 + 15,000 = 43,500, penalty 435 paid in full;
    # c' = 6,000 + 0.5 (57,000 - 60,000) - 435 = 4,065.
    # t = 2: E = 4,065 + 0.5 (58,000 - 60,000) = 3,065 >= R = 0.05 (29,000 + 15,000) = 2,200:
    # no breach, the unit is skipped.
    # t = 3: E = 4,065 - 3,000 = 1,065 < R = 0.05 (27,000 + 15,000) = 2,100; A = 1,065 - 420
    # = 645 > 0. With cooldown_steps = 2, t = 3 <= 1 + 2: the whole rest is closed.
    cooling = run_rule(PRICES, {"fraction": 0.5, "cooldown_steps": 2})
    assert cooling[INDEX["n_liquidations"]] == 4
    hand(cooling[INDEX["liquidated_notional"]], 43500.0 + 42000.0, "notional, cool-down")
    hand(cooling[INDEX["fees_to_fund"]], 0.5 * (435.0 + 420.0), "fees, cool-down")
    hand(cooling[INDEX["bad_debt"]], 0.0, "bad debt")
    # with cooldown_steps = 1 the cool-down ended at t = 2: t = 3 closes half again, 0.25 BTC
    # and 2.5 ETH, notional 13,500 + 7,500 = 21,000, penalty 210; the rest stays open at
    # the last step
    after = run_rule(PRICES, {"fraction": 0.5, "cooldown_steps": 1})
    assert after[INDEX["n_liquidations"]] == 4
    hand(after[INDEX["liquidated_notional"]], 43500.0 + 21000.0, "notional, after")
    hand(after[INDEX["fees_to_fund"]], 0.5 * (435.0 + 210.0), "fees, after")
    # the requirement: t = 0 4,500; t = 1 4,350 (flagged at t, counted); t = 2 2,200;
    # t = 3 2,100 (flagged at 3, counted): the same for both
    hand(after[INDEX["requirement_mean"]], (4500.0 + 4350.0 + 2200.0 + 2100.0) / 4.0, "R mean")


def test_a_leg_at_or_below_the_notional_threshold_closes_in_full() -> None:
    # contiguous, as the engine passes prices: a strided slice would compile the defence
    # kernel a second time for layout 'A' (about 45 s cold, docs/performance.md)
    prices = np.ascontiguousarray(PRICES[:, :, :2])
    # N_min = 40,000: the ETH leg's notional at the mark, 30,000, is below it: closed in
    # full; the BTC leg's 57,000 is above it: half closed. Notional 28,500 + 30,000, penalty
    # 585, the unit stays open with 0.5 BTC long and c' = 6,000 - 1,500 - 585 = 3,915
    split = run_rule(prices, {"fraction": 0.5, "min_notional": 40000.0})
    assert split[INDEX["n_liquidations"]] == 2
    hand(split[INDEX["liquidated_notional"]], 58500.0, "notional, split")
    hand(split[INDEX["fees_to_fund"]], 0.5 * 585.0, "fees, split")
    # N_min = 57,000 equals the BTC leg's notional ("at or below"): every leg is closed in
    # full, the unit closed whole at t = 1: notional 87,000, penalty 870 paid from E_x =
    # 3,000 in full, no bad debt
    whole = run_rule(PRICES, {"fraction": 0.5, "min_notional": 57000.0})
    assert whole[INDEX["n_liquidations"]] == 2
    hand(whole[INDEX["liquidated_notional"]], 87000.0, "notional, whole")
    hand(whole[INDEX["fees_to_fund"]], 435.0, "fees, whole")
    hand(whole[INDEX["bad_debt"]], 0.0, "bad debt")
    # closed whole at t = 1, nothing counts after: R = 4,500 at t = 0 and 4,350 at t = 1
    hand(whole[INDEX["requirement_mean"]], (4500.0 + 4350.0) / 4.0, "R mean")


# ----------------------------------------------------------------------------- scenarios
def test_accounts_run_the_fraction_rule_with_the_same_bytes_by_thread_and_chunk() -> None:
    assert frozenset({"accounts", "partial_fraction"}) not in UNSUPPORTED
    scenario = copy.deepcopy(ACCOUNTS)
    scenario["paths"].update(sigma=[0.03, 0.05], n_steps=24)
    scenario["book"].update(n_accounts=200, leverage_max=50.0)
    scenario["liquidation"] = {"latency_steps": 1, "fee": 0.005}
    scenario["partial_liquidation"] = {
        "rule": "fraction",
        "fraction": 0.2,
        "cooldown_steps": 1,
        "min_notional": 1000.0,
    }
    scenario["adl"] = {"policy": "profit_leverage"}
    scenario["insurance_fund"] = {"initial": 0.0}
    for mode in ("cross", "isolated"):
        scenario["accounts"] = {"mode": mode}
        loaded = load_scenario(scenario)
        result = stresstest.run(loaded)
        to_buffer = copy.deepcopy(scenario)
        to_buffer["partial_liquidation"] = {"buffer": 0.01}
        target = stresstest.run(load_scenario(to_buffer))
        # the rule ran: it closes other quantities than the target rule
        assert not (
            result.column("liquidated_notional") == target.column("liquidated_notional")
        ).all(), mode
        before = numba.get_num_threads()
        try:
            numba.set_num_threads(1)
            one = stresstest.run(loaded, chunk_size=1).metrics
            numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
            two = stresstest.run(loaded, chunk_size=7).metrics
        finally:
            numba.set_num_threads(before)
        assert one.tobytes() == result.metrics.tobytes()
        assert two.tobytes() == result.metrics.tobytes()
