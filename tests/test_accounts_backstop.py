"""The backstop vault with accounts (docs/model.md 11.11, 10.3).

The accounts defence kernel with ``[backstop]`` against
tests/reference_account_defences.py on random books in cross, isolated and book
modes, with or without ADL, partial liquidation, an oracle, a volatility-scaled
penalty and price impact; an isolated one-asset book against the single-asset
pipeline (the rule of 10.3, position by position); by hand, a two-leg cross account
taken over below 2/3 of its requirement and the vault's later loss; the scenario
layer (the pair loads, the columns appear, threads and chunks give the same bytes).
"""

from __future__ import annotations

import copy
from typing import Any

import numba
import numpy as np
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

import stresstest
from stresstest.book import Book
from stresstest.book.accounts import AccountsBook, margin_units
from stresstest.kernels import enums
from stresstest.kernels.account_defences import defence_replay_paths
from stresstest.scenario import load_scenario
from tests.reference_account_defences import reference_account_defences
from tests.reference_accounts import ASSET_FLOORS, smallest_gap
from tests.reference_mechanics import Mechanisms
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
from tests.test_accounts_defences import assert_defence_metrics, defence_params, defence_watch
from tests.test_accounts_market import impact_params, market_tables
from tests.test_accounts_stages import fee_tables, margin_config, oracle_tables, resolved_fee
from tests.test_composition import ACCOUNTS
from tests.test_mechanics_reference import liquidation_table, run_mechanics_kernel
from tests.test_replay_reference import ReplayCase
from tests.tiers import examples
from tests.tolerances import HAND_COMPUTED_ATOL, HAND_COMPUTED_RTOL, assert_close

INDEX = enums.METRIC_INDEX


def vault_params(params: np.ndarray, backstop: dict[str, Any]) -> np.ndarray:
    """``params`` with the ``[backstop]`` slots of engine.mechanics.mechanics_vector set."""
    params = params.copy()
    params[enums.MECH_BACKSTOP] = 1.0
    params[enums.MECH_BACKSTOP_CAPITAL] = float(backstop["capital"])
    params[enums.MECH_BACKSTOP_FRACTION] = float(backstop.get("takeover_fraction", 2.0 / 3.0))
    hold = backstop.get("hold_steps")
    params[enums.MECH_BACKSTOP_HOLD] = -1.0 if hold is None else float(hold)
    return params


def run_vault(
    prices: np.ndarray,
    book: AccountsBook,
    mode: str,
    margin: dict[str, Any],
    liquidation: tuple[int, float, float, float],
    fund_initial: float,
    params: np.ndarray,
    brackets: list[tuple[float, float]] | None = None,
) -> np.ndarray:
    """Metrics ``(n_paths, N_METRICS_ALL)`` of the defence kernel with the stages ``params``."""
    config = margin_config(margin)
    table = brackets_array(bracket_base_rate(config)[1], brackets or [])
    units = margin_units(book, mode)
    out = np.zeros((prices.shape[0], enums.N_METRICS_ALL))
    defence_replay_paths(
        prices,
        params,
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
def backstop_tables(draw: st.DrawFn, scale: float) -> dict[str, Any]:
    """A ``[backstop]`` table whose capital is a share of ``scale`` (the book's notional)."""
    table: dict[str, Any] = {
        "capital": draw(st.sampled_from([1e-9, 1e-4, 1e-2, 0.2, 10.0])) * scale,
        "takeover_fraction": draw(st.sampled_from([2.0 / 3.0, 0.3, 0.9, 1.0])),
    }
    hold = draw(st.sampled_from([None, 0, 1, 4]))
    if hold is not None:
        table["hold_steps"] = hold
    return table


@st.composite
def vault_cases(draw: st.DrawFn) -> dict[str, Any]:
    """An accounts case with the vault, and maybe ADL, partial liquidation, an oracle, a vol
    fee, impact; cross, isolated or the book's own modes."""
    case = draw(accounts_cases())
    case["backstop"] = draw(backstop_tables(case["book"].entry_notional))
    case["adl"] = draw(st.sampled_from([None, "profit_leverage", "hyperliquid", "pro_rata"]))
    if draw(st.booleans()):
        case["fund_initial"] = 0.0
    case["buffer"] = draw(st.sampled_from([None, None, 0.001, 0.01]))  # not 0: a tie (11.8)
    case["oracle"] = draw(oracle_tables()) if draw(st.booleans()) else None
    vol_margin = case["margin"]["model"] == "vol_scaled"
    case["fee_keys"] = draw(fee_tables(vol_margin)) if draw(st.booleans()) else None
    case["market"] = draw(market_tables()) if draw(st.integers(0, 3)) == 0 else None
    return case


@settings(KERNEL_SETTINGS, max_examples=examples(200))
@given(case=vault_cases())
def test_vault_kernel_matches_reference(case: dict[str, Any]) -> None:
    check_vault_case(case)


@settings(KERNEL_SETTINGS, max_examples=examples(150))
@given(case=vault_cases(), adl=st.sampled_from([None, "profit_leverage", "pro_rata"]))
def test_cross_vault_losses_past_capital_match_reference(
    case: dict[str, Any], adl: str | None
) -> None:
    """Cross units and a vault of almost no capital: most takeovers pass a loss on."""
    case["mode"] = "cross"
    case["adl"] = adl
    case["backstop"]["capital"] = 1e-9 * case["book"].entry_notional
    check_vault_case(case)


def check_vault_case(case: dict[str, Any]) -> None:
    """The kernel against the reference on one case of :func:`vault_cases`."""
    book = case["book"]
    mode = case["mode"]
    cross = book.cross if mode == "book" else np.full(book.n_accounts, mode == "cross")
    gap = smallest_gap(
        case["prices"], book_dict(book), cross, case["margin"], case["brackets"], case["oracle"]
    )
    assume(gap > NEAR_TIE_RELATIVE_GAP)
    params = defence_params(
        case["margin"], case["oracle"], case["fee_keys"], case["buffer"], case["adl"], None
    )
    if case["market"] is not None:
        params = impact_params(params, case["market"])
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
        market=case["market"],
        backstop=case["backstop"],
        gaps=gaps,
    )
    assume(min(gaps) > NEAR_TIE_RELATIVE_GAP)
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
    taken = bool(np.any(actual[:, INDEX["backstop_takeovers"]] > 0))
    passed = bool(np.any(actual[:, INDEX["backstop_loss_passed"]] > 0))
    event(f"{mode} adl={case['adl'] is not None}: takeover {taken}, loss passed {passed}")
    names = enums.METRIC_NAMES + enums.BACKSTOP_METRIC_NAMES
    names += enums.ADL_METRIC_NAMES if case["adl"] else ()
    names += enums.MARKET_METRIC_NAMES if case["market"] else ()
    assert_defence_metrics(
        actual, expected, book.entry_notional + case["backstop"]["capital"], names
    )


def one_asset_isolated(case: dict[str, Any]) -> tuple[AccountsBook, np.ndarray]:
    """The positions of an :func:`accounts_cases` case as isolated accounts of one position
    each, all in the first asset, and that asset's paths ``(n_paths, 1, T + 1)``."""
    rows = case["book"]
    book = make_book(
        list(range(rows.qty.shape[0])),
        [0] * rows.qty.shape[0],
        rows.side.tolist(),
        rows.qty.tolist(),
        rows.entry_price.tolist(),
        rows.collateral.tolist(),
        [False] * rows.qty.shape[0],
        ("A0",),
    )
    return book, np.ascontiguousarray(case["prices"][:, :1, :])


def single_asset_metrics(
    book: AccountsBook, prices: np.ndarray, case: dict[str, Any], **tables: Any
) -> np.ndarray:
    """The single-asset pipeline on the same positions and paths, with the tables
    ``tables`` (:class:`tests.reference_mechanics.Mechanisms` fields, e.g. ``backstop``)."""
    latency, slippage, fee, share = case["liquidation"]
    # the first asset's APC floor (the accounts margin table lists one per asset)
    margin = {key: value for key, value in case["margin"].items() if key != ASSET_FLOORS}
    floors = case["margin"].get(ASSET_FLOORS)
    single = ReplayCase(
        prices=prices[:, 0, :],
        book=Book(
            side=book.side.astype(np.int8),
            qty=book.qty,
            entry_price=book.entry_price,
            collateral=book.collateral,
        ),
        margin=margin,
        latency_steps=latency,
        slippage=slippage,
        fee=fee,
        liquidator_share=share,
        fund_initial=case["fund_initial"],
    )
    mechanisms = Mechanisms(
        margin=margin,
        liquidation=liquidation_table(single),
        fund_initial=case["fund_initial"],
        vol_floor_variance=0.0 if floors is None else float(floors[0]),
        **tables,
    )
    return run_mechanics_kernel(single, mechanisms)


@settings(KERNEL_SETTINGS, max_examples=examples(150))
@given(case=accounts_cases(), data=st.data())
def test_isolated_one_asset_book_is_the_single_asset_vault(
    case: dict[str, Any], data: st.DataObject
) -> None:
    """Every unit one position of one asset: the accounts run is 10.3 on the same book."""
    book, prices = one_asset_isolated(case)
    cross = np.zeros(book.n_accounts, dtype=bool)
    assume(smallest_gap(prices, book_dict(book), cross, case["margin"]) > NEAR_TIE_RELATIVE_GAP)
    backstop = data.draw(backstop_tables(book.entry_notional))
    gaps: list[float] = []
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
    )
    assume(min(gaps) > NEAR_TIE_RELATIVE_GAP)
    params = vault_params(defence_params(case["margin"], None, None, None, None, None), backstop)
    actual = run_vault(
        prices, book, "isolated", case["margin"], case["liquidation"], case["fund_initial"], params
    )
    expected = single_asset_metrics(book, prices, case, backstop=backstop)
    taken = bool(np.any(actual[:, INDEX["backstop_takeovers"]] > 0))
    event(f"takeover {taken}, loss passed {bool(np.any(actual[:, INDEX['backstop_exhausted']]))}")
    names = tuple(
        name
        for name in enums.METRIC_NAMES + enums.BACKSTOP_METRIC_NAMES
        # the requirement sums are each engine's against its own reference elsewhere
        if name not in ("requirement_mean", "margin_rate_mean")
    )
    assert_defence_metrics(actual, expected, book.entry_notional + backstop["capital"], names)


# ----------------------------------------------------------------------------- by hand
STATIC = {"model": "static", "maintenance": 0.05}
NO_FEES = (0, 0.0, 0.0, 0.5)
#: One cross account: long 1 BTC at 60,000 and short 10 ETH at 3,000 (entry notionals
#: 60,000 and 30,000), collateral 6,000 (3,000 on each leg's row).
CROSS_BOOK = make_book(
    [0, 0], [0, 1], [1.0, -1.0], [1.0, 10.0], [60000.0, 3000.0], [3000.0, 3000.0], [True]
)
#: t = 1: BTC 55,000, ETH 3,100: E = 6,000 - 5,000 - 1,000 = 0; R = 0.05 (55,000 +
#: 31,000) = 4,300; E < R flags the account and, latency 0, closes it at once; E = 0 <
#: (2/3) 4,300 = 2,866.67, so the vault takes it. t = 2: BTC 50,000, ETH 3,000.
#: t = 3: BTC 45,000, ETH 3,100.
CROSS_PRICES = hand_prices([60000.0, 55000.0, 50000.0, 45000.0], [3000.0, 3100.0, 3000.0, 3100.0])
VAULT = {"capital": 3000.0, "hold_steps": 2}


def hand(value: float, expected: float, what: str) -> None:
    assert_close(value, expected, rtol=HAND_COMPUTED_RTOL, atol=HAND_COMPUTED_ATOL, what=what)


def test_a_two_leg_account_taken_over_and_the_vaults_later_loss() -> None:
    params = vault_params(defence_params(STATIC, None, None, None, None, None), VAULT)
    out = run_vault(CROSS_PRICES, CROSS_BOOK, "cross", STATIC, NO_FEES, 1000.0, params)[0]
    # the vault takes both legs at t = 1: collateral 6,000 split by entry notional, 4,000 to
    # the BTC long (theta = 60,000 - 4,000 = 56,000) and 2,000 to the ETH short (theta =
    # 3,000 + 2,000 / 10 = 3,200); notional 55,000 + 10 x 3,100 = 86,000 at the marks
    assert out[INDEX["backstop_takeovers"]] == 2
    hand(out[INDEX["backstop_notional"]], 86000.0, "notional")
    assert out[INDEX["n_liquidations"]] == 0  # not a market close: no penalty, no bad debt
    hand(out[INDEX["bad_debt"]], 0.0, "bad debt")
    # held to t = 1 + 2 = 3: BTC long realizes 45,000 - 56,000 = -11,000, ETH short
    # 10 (3,200 - 3,100) = +1,000: P&L -10,000, V = 3,000 - 10,000 = -7,000: 7,000 passed
    # on (all to the BTC longs' bucket, the only one with a realized loss), socialized
    # without ADL; the fund is untouched
    hand(out[INDEX["backstop_pnl"]], -10000.0, "pnl")
    hand(out[INDEX["backstop_loss_passed"]], 7000.0, "passed")
    assert out[INDEX["backstop_exhausted"]] == 1
    hand(out[INDEX["socialized_loss"]], 7000.0, "socialized")
    hand(out[INDEX["fund_end"]], 1000.0, "fund")
    # the equity at t = 1: 3,000 + (55,000 - 56,000) + 10 (3,200 - 3,100) = 3,000; at t = 2:
    # 3,000 + (50,000 - 56,000) + 10 (3,200 - 3,000) = -1,000; at t = 3 after the close: 0
    hand(out[INDEX["backstop_min_equity"]], -1000.0, "min equity")


def test_the_vaults_loss_of_an_account_is_covered_by_adl() -> None:
    # a second account, an isolated BTC short at 60,000 with 6,000, gains 15,000 by t = 3;
    # the BTC longs' 7,000 is covered by it (profit_leverage); nothing is socialized
    book = make_book(
        [0, 0, 1],
        [0, 1, 0],
        [1.0, -1.0, -1.0],
        [1.0, 10.0, 1.0],
        [60000.0, 3000.0, 60000.0],
        [3000.0, 3000.0, 6000.0],
        [True, True, False],
    )
    params = vault_params(defence_params(STATIC, None, None, None, "profit_leverage", None), VAULT)
    out = run_vault(CROSS_PRICES, book, "book", STATIC, NO_FEES, 1000.0, params)[0]
    hand(out[INDEX["backstop_loss_passed"]], 7000.0, "passed")
    assert out[INDEX["adl_count"]] == 1
    hand(out[INDEX["adl_notional"]], 45000.0, "adl notional")
    hand(out[INDEX["socialized_loss"]], 0.0, "socialized")
    hand(out[INDEX["fund_end"]], 1000.0, "fund")


def test_an_account_above_the_takeover_line_closes_in_the_market() -> None:
    # ETH at 3,050 at t = 1: E = 6,000 - 5,000 - 500 = 500 < R = 0.05 (55,000 + 30,500) =
    # 4,275 flags the account, but E >= 0.1 R = 427.5: it closes in the market, both legs
    prices = hand_prices([60000.0, 55000.0, 50000.0], [3000.0, 3050.0, 3000.0])
    params = vault_params(
        defence_params(STATIC, None, None, None, None, None),
        {"capital": 3000.0, "takeover_fraction": 0.1},
    )
    out = run_vault(prices, CROSS_BOOK, "cross", STATIC, NO_FEES, 1000.0, params)[0]
    assert out[INDEX["backstop_takeovers"]] == 0
    assert out[INDEX["n_liquidations"]] == 2
    hand(out[INDEX["backstop_min_equity"]], 3000.0, "min equity")


def test_accounts_run_the_vault_with_the_same_bytes_by_thread_and_chunk() -> None:
    scenario = copy.deepcopy(ACCOUNTS)
    scenario["paths"].update(sigma=[0.03, 0.05], n_steps=24)
    scenario["book"].update(n_accounts=200, leverage_max=50.0)
    scenario["backstop"] = {"capital": 5000.0, "hold_steps": 3}
    scenario["adl"] = {"policy": "profit_leverage"}
    for mode in ("cross", "isolated"):
        scenario["accounts"] = {"mode": mode}
        loaded = load_scenario(scenario)
        result = stresstest.run(loaded)
        assert result.paths.columns == [
            "path",
            *enums.METRIC_NAMES,
            *enums.ADL_METRIC_NAMES,
            *enums.BACKSTOP_METRIC_NAMES,
        ]
        assert (result.column("backstop_takeovers") > 0.0).any(), mode
        assert_same_bytes_by_thread_and_chunk(loaded, result.metrics, mode)


def assert_same_bytes_by_thread_and_chunk(loaded: Any, metrics: np.ndarray, what: str) -> None:
    """The run of ``loaded`` on one thread in chunks of 1 and on two in chunks of 7 gives
    ``metrics`` byte for byte."""
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = stresstest.run(loaded, chunk_size=1).metrics
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = stresstest.run(loaded, chunk_size=7).metrics
    finally:
        numba.set_num_threads(before)
    assert one.tobytes() == metrics.tobytes(), what
    assert two.tobytes() == metrics.tobytes(), what
