"""Price impact with accounts (docs/model.md 11.9).

The accounts defence kernel with a ``[market]`` table against
tests/reference_account_defences.py (unit by unit, every series recomputed at
every step from the impacted prices so far) on random books, paths, margins,
oracles, penalty rates, partial liquidation, ADL and the predictive trigger; by
hand on two accounts in two assets whose first close moves the price that
liquidates the second; and through the engine on a scenario file.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stresstest.book.accounts import AccountsBook, margin_units
from stresstest.kernels import enums
from stresstest.kernels.account_defences import defence_replay_paths
from stresstest.scenario.validate import scenario_from_dict
from tests.reference_account_defences import reference_account_defences
from tests.reference_accounts import smallest_gap
from tests.test_accounts import (
    KERNEL_SETTINGS,
    NEAR_TIE_RELATIVE_GAP,
    SCENARIO,
    book_dict,
    bracket_base_rate,
    brackets_array,
    hand_prices,
    kernel_margin,
    make_book,
)
from tests.test_accounts_defences import (
    assert_defence_metrics,
    defence_cases,
    defence_params,
    defence_watch,
    reference_trigger,
    run_defences,
)
from tests.test_accounts_stages import margin_config, resolved_fee
from tests.tiers import examples
from tests.tolerances import HAND_COMPUTED_ATOL, HAND_COMPUTED_RTOL, assert_close

INDEX = enums.METRIC_INDEX
#: The columns a run with ``[market]`` adds (cascade_depth is a count: compared exactly).
MARKET_NAMES = enums.MARKET_METRIC_NAMES


def impact_params(params: np.ndarray, market: dict[str, Any]) -> np.ndarray:
    """``params`` with the ``[market]`` slots of engine.mechanics.mechanics_vector set."""
    params = params.copy()
    if market["impact"] == "linear":
        params[enums.MECH_IMPACT] = enums.IMPACT_LINEAR
        params[enums.MECH_IMPACT_COEF] = 0.01 / float(market["depth"])
    else:
        params[enums.MECH_IMPACT] = enums.IMPACT_SQRT
        params[enums.MECH_IMPACT_COEF] = float(market["coefficient"])
        params[enums.MECH_IMPACT_REF] = float(market["reference_notional"])
    params[enums.MECH_PERMANENT] = float(market["permanent_fraction"])
    params[enums.MECH_IMPACT_MAX] = float(market["max_impact"])
    return params


def run_market(
    prices: np.ndarray,
    book: AccountsBook,
    mode: str,
    margin: dict[str, Any],
    liquidation: tuple[int, float, float, float],
    fund_initial: float,
    market: dict[str, Any],
    brackets: list[tuple[float, float]] | None = None,
    *,
    params: np.ndarray | None = None,
    grid: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Metrics ``(n_paths, N_METRICS_ADL)`` and grid records of the kernel with impact."""
    config = margin_config(margin)
    table = brackets_array(bracket_base_rate(config)[1], brackets or [])
    units = margin_units(book, mode)
    base = params if params is not None else defence_params(margin, None, None, None, None, None)
    steps = grid if grid is not None else np.empty(0, dtype=np.int64)
    out = np.zeros((prices.shape[0], enums.N_METRICS_ADL))
    grid_out = np.zeros((prices.shape[0], enums.N_GRID, steps.shape[0]))
    defence_replay_paths(
        prices,
        impact_params(base, market),
        kernel_margin(margin),
        table,
        np.asarray(liquidation, dtype=float),
        (units.start, units.asset, units.side, units.qty, units.entry, units.collateral),
        defence_watch(units, prices, config, table),
        fund_initial,
        steps,
        out,
        grid_out,
    )
    return out, grid_out


@st.composite
def market_tables(draw: st.DrawFn) -> dict[str, Any]:
    """A ``[market]`` table whose impact matters for books of notional ~100-10,000."""
    table: dict[str, Any] = {
        "permanent_fraction": draw(st.sampled_from([0.0, 0.3, 1.0])),
        "max_impact": draw(st.sampled_from([1.0, 0.02])),
    }
    if draw(st.booleans()):
        table["impact"] = "linear"
        table["depth"] = draw(st.sampled_from([50.0, 500.0, 5000.0]))
    else:
        table["impact"] = "sqrt"
        table["coefficient"] = draw(st.sampled_from([0.005, 0.05]))
        table["reference_notional"] = draw(st.sampled_from([100.0, 10000.0]))
    return table


@st.composite
def market_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A defence case (partial, ADL, oracle, vol fee, predictive) or a plain one, with impact."""
    case = draw(defence_cases())
    if draw(st.booleans()):  # no defence: full closes, the fund alone
        case["buffer"] = None
        case["adl"] = None
    case["market"] = draw(market_tables())
    return case


def _cross(case: dict[str, Any]) -> np.ndarray:
    book = case["book"]
    if case["mode"] == "book":
        return np.asarray(book.cross)
    return np.full(book.n_accounts, case["mode"] == "cross")


@settings(KERNEL_SETTINGS, max_examples=examples(200))
@given(case=market_cases())
def test_impact_kernel_matches_reference(case: dict[str, Any]) -> None:
    book = case["book"]
    cross = _cross(case)
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
        case["trigger"],
    )
    actual, _ = run_market(
        case["prices"],
        book,
        case["mode"],
        case["margin"],
        case["liquidation"],
        case["fund_initial"],
        case["market"],
        case["brackets"],
        params=params,
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
        market=case["market"],
    )
    names = enums.METRIC_NAMES + MARKET_NAMES + (enums.ADL_METRIC_NAMES if case["adl"] else ())
    assert_defence_metrics(actual, expected, book.entry_notional, names)


# ----------------------------------------------------------------------------- by hand
STATIC = {"model": "static", "maintenance": 0.01}
NO_FEES = (0, 0.0, 0.0, 0.5)  # latency 0, slippage 0, fee 0, liquidator share 0.5
#: linear impact: 575,000 quote moves the log-price by 0.01; half of it stays.
DEPTH_575K = {"impact": "linear", "depth": 575000.0, "permanent_fraction": 0.5, "max_impact": 1.0}
#: account 0: isolated long 1 BTC at 60,000 (collateral 3,000); account 1: cross, long
#: 0.5 BTC at 60,000 and long 10 ETH at 3,000 (922.5 each, 1,845 in all). BTC falls to
#: 57,500 and stays; ETH stays at 3,000.
CASCADE_BOOK = make_book(
    [0, 1, 1],
    [0, 0, 1],
    [1.0, 1.0, 1.0],
    [1.0, 0.5, 10.0],
    [60000.0, 60000.0, 3000.0],
    [3000.0, 922.5, 922.5],
    [False, True],
)
CASCADE_PRICES = hand_prices([60000.0, 57500.0, 57500.0], [3000.0, 3000.0, 3000.0])


def hand(value: float, expected: float, what: str) -> None:
    assert_close(value, expected, rtol=HAND_COMPUTED_RTOL, atol=HAND_COMPUTED_ATOL, what=what)


def test_one_close_moves_the_price_that_liquidates_a_cross_account() -> None:
    out, grid = run_market(
        CASCADE_PRICES,
        CASCADE_BOOK,
        "book",
        STATIC,
        NO_FEES,
        0.0,
        DEPTH_575K,
        grid=np.array([0, 1, 2], dtype=np.int64),
    )
    row = out[0]
    # step 1: account 0: E = 3000 - 2500 = 500 < R = 575, closed at once; account 1:
    # E = 1845 - 0.5 * 2500 = 595 >= R = 0.01 (0.5 * 57500 + 10 * 3000) = 587.5.
    # The close sells 1 BTC: D = -1, N = 57,500, I = 0.01 * 57500 / 575000 = 0.001,
    # X = 57500 exp(-0.001); equity left 3000 + X - 60000 > 0: no bad debt.
    x_1 = 57500.0 * math.exp(-0.001)
    # half stays: BTC's later prices are 57500 exp(-0.0005)
    btc_2 = 57500.0 * math.exp(-0.0005)
    # step 2: account 1: E = 1845 + 0.5 (btc_2 - 60000) = 580.63 < R = 0.01 (0.5 btc_2 +
    # 30000) = 587.36: flagged, which the replay without impact never does (595 >= 587.5).
    assert 1845.0 + 0.5 * (btc_2 - 60000.0) < 0.01 * (0.5 * btc_2 + 30000.0)
    # Its close sells 0.5 BTC (impact 0.01 * 0.5 btc_2 / 575000) and 10 ETH (0.01 * 30000
    # / 575000), each asset at its own execution price.
    x_btc = btc_2 * math.exp(-0.01 * 0.5 * btc_2 / 575000.0)
    x_eth = 3000.0 * math.exp(-0.01 * 30000.0 / 575000.0)
    assert row[INDEX["n_liquidations"]] == 3
    hand(row[INDEX["liquidated_notional"]], x_1 + 0.5 * x_btc + 10.0 * x_eth, "notional")
    hand(row[INDEX["bad_debt"]], 0.0, "bad debt")
    # the close at step 1 (generation 0) moved BTC and flagged account 1: generation 1
    assert row[INDEX["cascade_depth"]] == 1
    hand(row[INDEX["impact_bad_debt"]], 0.0, "impact bad debt")
    # requirement: 1200 at step 0, 575 + 587.5 at step 1, account 1's at step 2
    requirement = (1200.0 + 575.0 + 587.5 + 0.01 * (0.5 * btc_2 + 30000.0)) / 3.0
    hand(row[INDEX["requirement_mean"]], requirement, "requirement mean")
    # the per-step files record the first asset's price after impact
    hand(grid[0, enums.GRID_PRICE, 2], btc_2, "grid price")
    without, _ = run_market(
        CASCADE_PRICES,
        CASCADE_BOOK,
        "book",
        STATIC,
        NO_FEES,
        0.0,
        {**DEPTH_575K, "depth": 1e300},
    )
    assert without[0, INDEX["n_liquidations"]] == 1
    assert without[0, INDEX["cascade_depth"]] == 0


#: accounts 0 and 1: isolated, no collateral, long and short 1 BTC at 60,000: both breach
#: at step 0 (E = 0 < R = 600) and close together.
NETTED_BOOK = make_book(
    [0, 1],
    [0, 0],
    [1.0, -1.0],
    [1.0, 1.0],
    [60000.0, 60000.0],
    [0.0, 0.0],
    [False, False],
)
NETTED_PRICES = hand_prices([60000.0, 60000.0], [3000.0, 3000.0])


def test_closes_of_one_step_are_netted_per_asset_across_accounts() -> None:
    depth = {**DEPTH_575K, "depth": 60000.0}
    out, _ = run_market(NETTED_PRICES, NETTED_BOOK, "book", STATIC, NO_FEES, 0.0, depth)
    # the long sells 1, the short buys 1: D = 0, no impact, both exit at 60,000
    assert out[0, INDEX["n_liquidations"]] == 2
    hand(out[0, INDEX["liquidated_notional"]], 120000.0, "notional")
    hand(out[0, INDEX["bad_debt"]], 0.0, "bad debt")
    alone = make_book([0], [0], [1.0], [1.0], [60000.0], [0.0], [False])
    out, _ = run_market(NETTED_PRICES, alone, "book", STATIC, NO_FEES, 0.0, depth)
    # the long alone sells 1: I = 0.01 * 60000 / 60000 = 0.01, exit 60000 exp(-0.01)
    hand(out[0, INDEX["bad_debt"]], 60000.0 * (1.0 - math.exp(-0.01)), "bad debt alone")
    hand(out[0, INDEX["impact_bad_debt"]], 60000.0 * (1.0 - math.exp(-0.01)), "impact")


@settings(KERNEL_SETTINGS, max_examples=examples(60))
@given(case=market_cases())
def test_impact_that_moves_nothing_gives_the_replay_without_market(case: dict[str, Any]) -> None:
    """No permanent part and an impact below a float: the impacted replay, which builds its
    prices, marks and penalty rates step by step, is the whole-path replay bit for bit."""
    book = case["book"]
    params = defence_params(
        case["margin"],
        case["oracle"],
        case["fee_keys"],
        case["buffer"],
        case["adl"],
        case["trigger"],
    )
    neutral = {"impact": "linear", "depth": 1e300, "permanent_fraction": 0.0, "max_impact": 1.0}
    actual, _ = run_market(
        case["prices"],
        book,
        case["mode"],
        case["margin"],
        case["liquidation"],
        case["fund_initial"],
        neutral,
        case["brackets"],
        params=params,
    )
    plain = run_defences(
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
    assert (actual[:, INDEX["cascade_depth"]] == 0).all()
    assert (actual[:, INDEX["impact_bad_debt"]] == 0.0).all()
    market_slots = [INDEX[name] for name in MARKET_NAMES]
    actual[:, market_slots] = 0.0
    assert actual.tobytes() == plain.tobytes()


def test_impact_results_do_not_depend_on_threads_or_chunks() -> None:
    from stresstest.engine.accounts import run_accounts

    scenario = scenario_from_dict(
        {**SCENARIO, "market": {"impact": "linear", "depth": 1e5, "permanent_fraction": 0.5}},
        file=None,
    )
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run_accounts(scenario, chunk_size=3).metrics
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = run_accounts(scenario).metrics
    finally:
        numba.set_num_threads(before)
    assert one.tobytes() == two.tobytes()
    assert one[:, INDEX["cascade_depth"]].max() > 0
