"""The tier step-down rule of partial liquidation with accounts (docs/model.md 11.8).

``[partial_liquidation] rule = "tier_step_down"``: the accounts defence kernel against
tests/reference_account_defences.py (unit by unit, leg by leg) on random books with a
random bracket table in cross, isolated and book modes, with ADL, the backstop vault,
price impact, an oracle, a volatility-scaled penalty, the predictive trigger or the
fund's bound drawn on top; by hand, a position in the third bracket stepped down to
the second, then to the first, then closed whole (and the same path ending bankrupt),
and a step-down that would leave the unit in breach closed whole instead; the
scenario layer (the rule needs brackets, refuses the buffer and the fraction rule's
keys, runs with the same bytes by thread and chunk).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import stresstest
from stresstest.book.accounts import AccountsBook
from stresstest.errors import InputError
from stresstest.kernels import enums
from stresstest.kernels.account_step_down import step_down_quantity
from stresstest.scenario import load_scenario
from tests.reference_account_defences import reference_account_defences
from tests.test_accounts import (
    KERNEL_SETTINGS,
    accounts_cases,
    book_dict,
    hand_prices,
    make_book,
)
from tests.test_accounts_backstop import (
    assert_same_bytes_by_thread_and_chunk,
    run_vault,
)
from tests.test_accounts_defences import assert_defence_metrics, defence_params
from tests.test_accounts_fraction import check_leg_rule, with_other_stages
from tests.test_composition import ACCOUNTS
from tests.tiers import examples
from tests.tolerances import HAND_COMPUTED_ATOL, HAND_COMPUTED_RTOL, assert_close

INDEX = enums.METRIC_INDEX
#: The reference's key for the rule (tests/reference_account_defences.py).
STEP_DOWN = {"tier_step_down": 1.0}


def step_down_params(params: np.ndarray) -> np.ndarray:
    """``params`` with partial liquidation by the tier step-down, as
    engine.mechanics.mechanics_vector sets it."""
    params = params.copy()
    params[enums.MECH_PARTIAL] = 1.0
    params[enums.MECH_BUFFER] = 0.0
    params[enums.MECH_PARTIAL_RULE] = enums.PARTIAL_RULE_STEP_DOWN
    return params


@st.composite
def bracket_tables(draw: st.DrawFn, base_rate: float) -> list[tuple[float, float]]:
    """1 to 4 brackets above the first, floors across the legs' notionals (about 20 to
    1,000 quote units in :func:`accounts_cases`), rates rising from ``base_rate``."""
    floors = sorted(set(draw(st.lists(st.floats(20.0, 1000.0), min_size=1, max_size=4))))
    rate = base_rate
    table = []
    for floor in floors:
        rate += draw(st.sampled_from([0.0, 0.005, 0.02]) | st.floats(0.0, 0.05))
        table.append((float(floor), min(rate, 0.5)))
    return table


@st.composite
def step_down_cases(draw: st.DrawFn) -> dict[str, Any]:
    """An accounts case with brackets and the step-down always, and maybe ADL, the vault,
    impact, an oracle, a vol fee or the predictive trigger."""
    case = draw(accounts_cases())
    margin = case["margin"]
    base = margin["maintenance"] if margin["model"] == "static" else margin["floor"]
    case["brackets"] = draw(bracket_tables(base))
    return draw(with_other_stages(case))


@settings(KERNEL_SETTINGS, max_examples=examples(300))
@given(case=step_down_cases())
def test_step_down_kernel_matches_reference(case: dict[str, Any]) -> None:
    params = defence_params(
        case["margin"], case["oracle"], case["fee_keys"], None, case["adl"], case["trigger"]
    )
    check_leg_rule(case, step_down_params(params), STEP_DOWN)


# ----------------------------------------------------------------------------- by hand
def test_step_down_quantity_keeps_the_floor_of_the_bracket_and_counts_a_tie_below() -> None:
    floors = np.array([0.0, 50000.0, 100000.0])
    # 2.5 at 50,000: notional 125,000, third bracket: keeps 100,000 / 50,000 = 2
    assert step_down_quantity(2.5, 50000.0, floors) == 2.0
    # exactly at the floor 100,000 (2 x 50,000): counted in the bracket below, keeps 1
    assert step_down_quantity(2.0, 50000.0, floors) == 1.0
    # 50,000 is the first floor: the lowest bracket, nothing kept (closed in full)
    assert step_down_quantity(1.0, 50000.0, floors) == 0.0
    assert step_down_quantity(0.5, 50000.0, floors) == 0.0
    # no brackets above the first: always the lowest
    assert step_down_quantity(10.0, 50000.0, floors[:1]) == 0.0


#: Brackets at 49,500 and 100,000 over the first at 1 %: rates 1 %, 2 %, 5 %, amounts
#: 0, 0.01 x 49,500 = 495 and 495 + 0.03 x 100,000 = 3,495 (R(n) = 0.05 n - 3,495 above
#: 100,000, 0.02 n - 495 from 49,500).
HAND_BRACKETS = [(49500.0, 0.02), (100000.0, 0.05)]
HAND_MARGIN = {"model": "static", "maintenance": 0.01}
#: latency 0, no slippage, penalty 0.5 %, half of it to the liquidator
HAND_LIQUIDATION = (0, 0.0, 0.005, 0.5)
#: BTC at 52,000, 50,000, 49,500, then 49,300 (ETH is in the paths, held by no one).
HAND_PATH = [52000.0, 50000.0, 49500.0, 49300.0]


def long_book(collateral: float) -> AccountsBook:
    """One cross account, one leg: long 2.5 BTC at 52,000 (notional 130,000, third
    bracket)."""
    return make_book([0], [0], [1.0], [2.5], [52000.0], [collateral], [True])


def hand(value: float, expected: float, what: str) -> None:
    assert_close(value, expected, rtol=HAND_COMPUTED_RTOL, atol=HAND_COMPUTED_ATOL, what=what)


def run_hand(btc: list[float], collateral: float = 7000.0) -> np.ndarray:
    params = step_down_params(defence_params(HAND_MARGIN, None, None, None, None, None))
    prices = hand_prices(btc, [3000.0] * len(btc))
    book = long_book(collateral)
    return run_vault(
        prices, book, "cross", HAND_MARGIN, HAND_LIQUIDATION, 0.0, params, HAND_BRACKETS
    )[0]


def test_third_bracket_stepped_down_to_the_second_then_the_first_then_closed() -> None:
    # t = 0, 52,000: R = 0.05 x 130,000 - 3,495 = 3,005 <= E = 7,000: no breach.
    # t = 1, 50,000: n = 125,000 (third bracket), R = 2,755 > E = 7,000 - 5,000 = 2,000;
    #   A = 2,000 - 0.005 x 125,000 = 1,375 > 0: down to the floor 100,000, keeps
    #   100,000 / 50,000 = 2, closes 0.5: notional 25,000, penalty 125,
    #   c' = 7,000 + 0.5 (50,000 - 52,000) - 125 = 5,875; kept: E' = 5,875 - 4,000 =
    #   1,875 >= R(100,000) = 1,505: compliant, the unit stays open.
    # t = 2, 49,500: n = 99,000 (second bracket), R = 0.02 x 99,000 - 495 = 1,485 > E =
    #   5,875 - 5,000 = 875; A = 875 - 495 = 380 > 0: down to 49,500, keeps 1, closes 1:
    #   notional 49,500, penalty 247.5, c'' = 5,875 - 2,500 - 247.5 = 3,127.5; kept: E'' =
    #   627.5 >= R(49,500) = 495 (at the floor: the same in either bracket): compliant.
    # t = 3, 49,300: the first bracket, R = 493 > E = 3,127.5 - 2,700 = 427.5; A = 427.5 -
    #   246.5 = 181 > 0, the lowest bracket: closed whole, penalty 246.5 paid in full.
    metrics = run_hand(HAND_PATH)
    assert metrics[INDEX["n_liquidations"]] == 3
    hand(metrics[INDEX["liquidated_notional"]], 25000.0 + 49500.0 + 49300.0, "notional")
    hand(metrics[INDEX["fees_to_fund"]], 0.5 * (125.0 + 247.5 + 246.5), "fees to the fund")
    hand(metrics[INDEX["bad_debt"]], 0.0, "bad debt")
    # the requirement at t = 0 .. 3 (a unit flagged at t counted at t)
    hand(metrics[INDEX["requirement_mean"]], (3005.0 + 2755.0 + 1485.0 + 493.0) / 4.0, "R mean")
    # the same path ending at 48,000: E = 3,127.5 - 4,000 = -872.5, A < 0: closed whole,
    # no penalty paid, bad debt 872.5
    bankrupt = run_hand([*HAND_PATH[:3], 48000.0])
    assert bankrupt[INDEX["n_liquidations"]] == 3
    hand(bankrupt[INDEX["liquidated_notional"]], 25000.0 + 49500.0 + 48000.0, "notional")
    hand(bankrupt[INDEX["fees_to_fund"]], 0.5 * (125.0 + 247.5), "fees, bankrupt")
    hand(bankrupt[INDEX["bad_debt"]], 872.5, "bad debt, bankrupt")


def test_a_step_down_that_leaves_the_unit_in_breach_closes_it_whole() -> None:
    # collateral 6,500: at t = 1 E = 1,500 < 2,755, A = 875 > 0; stepped down the unit
    # would keep c' = 5,375 and E' = 1,375 < R(100,000) = 1,505: still in breach, so it is
    # closed whole at once: notional 125,000, penalty 625 paid in full, no bad debt
    metrics = run_hand(HAND_PATH[:2], collateral=6500.0)
    assert metrics[INDEX["n_liquidations"]] == 1
    hand(metrics[INDEX["liquidated_notional"]], 125000.0, "notional")
    hand(metrics[INDEX["fees_to_fund"]], 0.5 * 625.0, "fees")
    hand(metrics[INDEX["bad_debt"]], 0.0, "bad debt")


def test_step_down_with_the_reference_on_the_hand_path() -> None:
    seen: set[str] = set()
    book = long_book(7000.0)
    expected = reference_account_defences(
        hand_prices(HAND_PATH, [3000.0] * 4),
        book_dict(book),
        np.ones(1, dtype=bool),
        HAND_MARGIN,
        *HAND_LIQUIDATION,
        0.0,
        HAND_BRACKETS,
        fraction=STEP_DOWN,
        seen=seen,
    )
    assert seen == {"stepped down", "lowest bracket"}
    actual = run_hand(HAND_PATH)
    assert_defence_metrics(actual[None, :], expected, book.entry_notional, enums.METRIC_NAMES)


# ----------------------------------------------------------------------------- scenarios
def step_down_scenario(mode: str) -> dict[str, Any]:
    scenario = copy.deepcopy(ACCOUNTS)
    scenario["paths"].update(sigma=[0.03, 0.05], n_steps=24)
    scenario["book"].update(n_accounts=200, leverage_max=50.0)
    scenario["liquidation"] = {"latency_steps": 1, "fee": 0.005}
    scenario["partial_liquidation"] = {"rule": "tier_step_down"}
    scenario["adl"] = {"policy": "profit_leverage"}
    scenario["insurance_fund"] = {"initial": 0.0}
    scenario["accounts"] = {
        "mode": mode,
        "bracket_floor": [5000.0, 20000.0, 50000.0],
        "bracket_rate": [0.02, 0.04, 0.08],
    }
    return scenario


def test_accounts_run_the_step_down_with_the_same_bytes_by_thread_and_chunk() -> None:
    for mode in ("cross", "isolated"):
        scenario = step_down_scenario(mode)
        loaded = load_scenario(scenario)
        result = stresstest.run(loaded)
        whole = copy.deepcopy(scenario)
        del whole["partial_liquidation"]
        closed_whole = stresstest.run(load_scenario(whole))
        # the rule ran: it closes less notional than closing whole
        assert (
            result.column("liquidated_notional").sum()
            != closed_whole.column("liquidated_notional").sum()
        ), mode
        assert_same_bytes_by_thread_and_chunk(loaded, result.metrics, mode)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        # no brackets to step down
        ({"accounts": {"mode": "cross"}}, "partial_liquidation.rule, accounts.bracket_floor"),
        (
            {"partial_liquidation": {"rule": "tier_step_down", "buffer": 0.01}},
            "partial_liquidation.rule, partial_liquidation.buffer",
        ),
        (
            {"partial_liquidation": {"rule": "tier_step_down", "fraction": 0.2}},
            "partial_liquidation.rule, partial_liquidation.fraction",
        ),
        (
            {"partial_liquidation": {"rule": "tier_step_down", "min_notional": 1e5}},
            "partial_liquidation.rule, partial_liquidation.min_notional",
        ),
    ],
)
def test_step_down_refusals_name_both_settings(change: dict[str, Any], key: str) -> None:
    scenario = step_down_scenario("cross")
    scenario.update(change)
    with pytest.raises(InputError) as raised:
        load_scenario(scenario)
    assert raised.value.key == key
    assert raised.value.expected


def test_single_asset_step_down_is_refused_for_want_of_brackets() -> None:
    from tests.test_partial_rules import SCENARIO

    with pytest.raises(InputError) as raised:
        load_scenario({**SCENARIO, "partial_liquidation": {"rule": "tier_step_down"}})
    assert raised.value.key == "partial_liquidation.rule, accounts.bracket_floor"
