"""Accounts across several assets: the cross-margin kernel against the plain reference.

docs/model.md 11. The kernel (filtered, sleeping, swapped candidate lists) and
its dense twin are checked against tests/reference_accounts.py (account by
account, step by step, direct form) on random books and paths, on hand-computed
hedged and correlation-break cases, and for determinism.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stresstest.book.accounts import AccountsBook, margin_units
from stresstest.book.cross_index import build_cross_index
from stresstest.engine.accounts import accounts_margin_arguments, bracket_base_rate, rate_bound
from stresstest.kernels import enums
from stresstest.kernels.brackets import bracket_amounts
from stresstest.kernels.cross import cross_replay_paths
from stresstest.kernels.cross_dense import dense_cross_paths
from stresstest.kernels.enums import N_GRID
from stresstest.scenario.validate import scenario_from_dict
from tests.reference_accounts import ASSET_FLOORS, reference_accounts, smallest_gap
from tests.tiers import examples
from tests.tolerances import (
    ENGINE_VS_DENSE_RTOL,
    ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL,
    ENGINE_VS_REFERENCE_RTOL,
    HAND_COMPUTED_ATOL,
    HAND_COMPUTED_RTOL,
    assert_close,
)

#: Cases where some unit's equity is within this fraction of its notional of its
#: requirement are discarded: rounding may then flag it one step apart (as in
#: tests/test_replay_reference.py).
NEAR_TIE_RELATIVE_GAP = 1e-9

KERNEL_SETTINGS = settings(
    deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
COLUMN = {name: index for index, name in enumerate(enums.METRIC_NAMES)}


def make_book(
    account: list[int],
    asset: list[int],
    side: list[float],
    qty: list[float],
    entry: list[float],
    collateral: list[float],
    cross: list[bool],
    assets: tuple[str, ...] = ("BTC", "ETH"),
) -> AccountsBook:
    """An accounts book from plain lists (positions grouped by account)."""
    return AccountsBook(
        account=np.asarray(account, dtype=np.int64),
        asset=np.asarray(asset, dtype=np.int64),
        side=np.asarray(side, dtype=float),
        qty=np.asarray(qty, dtype=float),
        entry_price=np.asarray(entry, dtype=float),
        collateral=np.asarray(collateral, dtype=float),
        cross=np.asarray(cross, dtype=bool),
        assets=assets,
    )


def margin_config(margin: dict[str, Any]) -> Any:
    """The ``[margin]`` dataclass of a margin table (without the test-only asset floors)."""
    from stresstest.scenario import schema

    if margin["model"] == "static":
        return schema.StaticMargin(maintenance=margin["maintenance"])
    keys = {k: v for k, v in margin.items() if k not in ("model", ASSET_FLOORS)}
    return schema.VolScaledMargin(**keys)


def kernel_margin(margin: dict[str, Any]) -> np.ndarray:
    """The accounts kernels' margin vector of a margin table, each asset's APC floor appended
    when the table has ``asset_floors`` (engine.accounts.accounts_margin_arguments)."""
    return accounts_margin_arguments(margin_config(margin), margin.get(ASSET_FLOORS))


def vol_scaled_margin(draw: st.DrawFn) -> dict[str, Any]:
    """A random vol-scaled ``[margin]`` table without the APC options (floor 0.2%)."""
    return {
        "model": "vol_scaled",
        "k": draw(st.floats(0.5, 5.0)),
        "horizon_steps": draw(st.integers(1, 24)),
        "ewma_lambda": draw(st.floats(0.5, 0.99)),
        "initial_variance": draw(st.floats(0.0, 1e-3)),
        "floor": 0.002,
        "cap": draw(st.floats(0.002, 0.2)),
    }


def apc_keys(draw: st.DrawFn, n_assets: int, *, always: bool = False) -> dict[str, Any]:
    """Random APC options of docs/model.md 3.1 (none, some or all), per-asset floors included.

    The buffer at most 0.5, so with ``cap <= 0.2`` the refusal ``(1 + b) cap >= 1`` is
    never met; floors up to ``1e-3`` per step (3% an hour), at or above the EWMA.
    ``always``: at least one option.
    """
    which = draw(
        st.sampled_from(["buffer", "weight", "floor", "all"] + ([] if always else ["none"]))
    )
    keys: dict[str, Any] = {}
    if which in ("buffer", "all"):
        keys["apc_buffer"] = draw(st.floats(0.0, 0.5))
    if which in ("weight", "all"):
        keys["stressed_weight"] = draw(st.floats(0.0, 1.0))
        if draw(st.booleans()):
            keys["stressed_variance"] = draw(st.floats(0.0, 1e-3))
    if which in ("floor", "all"):
        keys[ASSET_FLOORS] = [draw(st.floats(0.0, 1e-3)) for _ in range(n_assets)]
    return keys


def brackets_array(maintenance: float, brackets: list[tuple[float, float]]) -> np.ndarray:
    floors = np.array([0.0] + [floor for floor, _ in brackets])
    rates = np.array([maintenance] + [rate for _, rate in brackets])
    return np.stack([floors, rates, bracket_amounts(floors, rates)])


def run_kernel(
    prices: np.ndarray,
    book: AccountsBook,
    mode: str,
    margin: dict[str, Any],
    liquidation: tuple[int, float, float, float],
    fund_initial: float,
    brackets: list[tuple[float, float]] | None = None,
    *,
    dense: bool = False,
    group_size: int = 4,
    grid: np.ndarray | None = None,
    stages: np.ndarray | None = None,
    margin_vector: np.ndarray | None = None,
    width: int = enums.N_METRICS,
) -> tuple[np.ndarray, np.ndarray]:
    """Metrics ``(n_paths, width)`` and grid records of the kernel (or its dense twin).

    ``stages``: the ``N_MECH`` stage vector (oracle, vol-scaled penalty); ``None``:
    no stage (an empty vector, as the engine passes). ``margin_vector``: the kernels'
    margin vector (``None``: :func:`kernel_margin` of ``margin``), e.g. with the
    ``[procyclicality]`` horizon set.
    """
    stages = np.empty(0) if stages is None else stages
    config = margin_config(margin)
    margin_vector = kernel_margin(margin) if margin_vector is None else margin_vector
    table = brackets_array(bracket_base_rate(config)[1], brackets or [])
    units = margin_units(book, mode)
    index = build_cross_index(
        units,
        prices[0, :, 0],
        rate_bound(config, table),
        table,
        group_size,
        static_rates=margin["model"] == "static",
    )
    liquidation_vector = np.asarray(liquidation, dtype=float)
    out = np.zeros((prices.shape[0], width))
    grid = np.empty(0, dtype=np.int64) if grid is None else grid
    grid_out = np.empty((prices.shape[0], N_GRID, grid.shape[0]))
    if dense:
        dense_cross_paths(
            prices, stages, margin_vector, table, liquidation_vector, index.units, fund_initial, out
        )
    else:
        cross_replay_paths(
            prices,
            stages,
            margin_vector,
            table,
            liquidation_vector,
            index.units,
            index.index,
            index.reference,
            index.always,
            fund_initial,
            grid,
            out,
            grid_out,
        )
    return out, grid_out


def run_reference(
    prices: np.ndarray,
    book: AccountsBook,
    mode: str,
    margin: dict[str, Any],
    liquidation: tuple[int, float, float, float],
    fund_initial: float,
    brackets: list[tuple[float, float]] | None = None,
) -> np.ndarray:
    cross = book.cross if mode == "book" else np.full(book.n_accounts, mode == "cross")
    return reference_accounts(
        prices, book_dict(book), cross, margin, *liquidation, fund_initial, brackets
    )


def book_dict(book: AccountsBook) -> dict[str, np.ndarray]:
    return {
        "account": book.account,
        "asset": book.asset,
        "side": book.side,
        "qty": book.qty,
        "entry_price": book.entry_price,
        "collateral": book.collateral,
    }


def assert_metrics(actual: np.ndarray, expected: np.ndarray, scale: float, what: str) -> None:
    for name, column in COLUMN.items():
        if name == "n_liquidations":
            assert_close(actual[:, column], expected[:, column], rtol=0.0, atol=0.0, what=name)
        elif name == "margin_rate_mean":
            assert_close(
                actual[:, column], expected[:, column], rtol=ENGINE_VS_REFERENCE_RTOL, atol=1e-12
            )
        else:
            assert_close(
                actual[:, column],
                expected[:, column],
                rtol=ENGINE_VS_REFERENCE_RTOL,
                atol=ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL * scale,
                what=f"{what}: {name}",
            )


# ----------------------------------------------------------------------------- random cases
@st.composite
def accounts_cases(draw: st.DrawFn, vol_brackets: bool = False) -> dict[str, Any]:
    """A random book, paths, margin and liquidation; ``vol_brackets``: always vol-scaled
    margin with tiered brackets (docs/model.md 11.4)."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_assets = draw(st.integers(2, 3))
    n_accounts = draw(st.integers(1, 10))
    n_paths = draw(st.integers(1, 3))
    n_steps = draw(st.integers(1, 25))
    volatility = draw(st.sampled_from([0.005, 0.03, 0.1]))
    rho = draw(st.floats(-0.9, 0.95))
    start = 100.0 * (1.0 + np.arange(n_assets))
    shocks = rng.standard_normal((n_paths, n_steps, n_assets))
    common = rng.standard_normal((n_paths, n_steps, 1))
    mixed = np.sqrt(1 - abs(rho)) * shocks + np.sign(rho) * np.sqrt(abs(rho)) * common
    log_paths = np.concatenate(
        [np.zeros((n_paths, 1, n_assets)), np.cumsum(volatility * mixed, axis=1)], axis=1
    )
    prices = np.ascontiguousarray(np.transpose(start * np.exp(log_paths), (0, 2, 1)))
    rows: dict[str, list[Any]] = {k: [] for k in ("account", "asset", "side", "qty", "entry")}
    rows["collateral"] = []
    for account in range(n_accounts):
        legs = int(rng.integers(1, n_assets + 1))
        for asset in rng.permutation(n_assets)[:legs]:
            rows["account"].append(account)
            rows["asset"].append(int(asset))
            rows["side"].append(1.0 if rng.random() < 0.5 else -1.0)
            qty = float(np.exp(rng.normal(0.0, 1.0)))
            entry = float(start[asset] * np.exp(rng.normal(0.0, 0.02)))
            rows["qty"].append(qty)
            rows["entry"].append(entry)
            rows["collateral"].append(qty * entry / float(np.exp(rng.uniform(0.0, np.log(40)))))
    book = make_book(
        rows["account"],
        rows["asset"],
        rows["side"],
        rows["qty"],
        rows["entry"],
        rows["collateral"],
        list(rng.random(n_accounts) < 0.5),
        tuple(f"A{i}" for i in range(n_assets)),
    )
    if not vol_brackets and draw(st.booleans()):
        margin: dict[str, Any] = {"model": "static", "maintenance": draw(st.floats(0.0, 0.1))}
        brackets = (
            [(50.0, margin["maintenance"] + 0.01), (400.0, margin["maintenance"] + 0.05)]
            if draw(st.booleans())
            else None
        )
    else:
        margin = {**vol_scaled_margin(draw), **apc_keys(draw, n_assets)}
        brackets = (
            [(draw(st.floats(10.0, 200.0)), 0.002 + draw(st.floats(0.0, 0.02))), (400.0, 0.06)]
            if vol_brackets or draw(st.booleans())
            else None
        )
    liquidation = (
        draw(st.integers(0, 3)),
        draw(st.floats(0.0, 0.05)),
        draw(st.floats(0.0, 0.1)),
        draw(st.floats(0.0, 1.0)),
    )
    return {
        "prices": prices,
        "book": book,
        "mode": draw(st.sampled_from(["book", "isolated", "cross"])),
        "margin": margin,
        "liquidation": liquidation,
        "fund_initial": draw(st.floats(0.0, 1.0)) * book.entry_notional,
        "brackets": brackets,
        "group_size": draw(st.sampled_from([1, 2, 64])),
    }


def check_case(case: dict[str, Any], *, dense: bool) -> None:
    cross = (
        case["book"].cross
        if case["mode"] == "book"
        else np.full(case["book"].n_accounts, case["mode"] == "cross")
    )
    gap = smallest_gap(
        case["prices"], book_dict(case["book"]), cross, case["margin"], case["brackets"]
    )
    assume(gap > NEAR_TIE_RELATIVE_GAP)
    arguments = (
        case["prices"],
        case["book"],
        case["mode"],
        case["margin"],
        case["liquidation"],
        case["fund_initial"],
        case["brackets"],
    )
    actual, _ = run_kernel(*arguments, dense=dense, group_size=case["group_size"])
    assert_metrics(
        actual,
        run_reference(*arguments),
        case["book"].entry_notional,
        "dense_cross_paths" if dense else "cross_replay_paths",
    )


@settings(KERNEL_SETTINGS, max_examples=examples(300))
@given(case=accounts_cases())
def test_cross_kernel_matches_reference(case: dict[str, Any]) -> None:
    check_case(case, dense=False)


@settings(KERNEL_SETTINGS, max_examples=examples(100))
@given(case=accounts_cases())
def test_dense_cross_kernel_matches_reference(case: dict[str, Any]) -> None:
    check_case(case, dense=True)


def gbm_two_assets(n_paths: int, n_steps: int, seed: int) -> np.ndarray:
    from stresstest.paths.multi import GbmMultiPathSource
    from stresstest.scenario.accounts import GbmMultiPaths

    config = GbmMultiPaths(
        assets=["BTC", "ETH"],
        s0=[60000.0, 3000.0],
        sigma=[0.01, 0.013],
        correlation=[[1.0, 0.7], [0.7, 1.0]],
        n_paths=n_paths,
        n_steps=n_steps,
    )
    return GbmMultiPathSource(config, seed).chunk(0, n_paths)


@pytest.mark.parametrize("model", ["static", "vol_scaled"])
def test_cross_kernel_matches_dense_twin_on_a_large_book(model: str) -> None:
    from stresstest.book.accounts import synthetic_accounts
    from stresstest.scenario.accounts import AccountsSyntheticBook

    prices = gbm_two_assets(6, 300, 11)
    book = synthetic_accounts(
        AccountsSyntheticBook(n_accounts=5000, cross_fraction=0.5, leverage_max=40.0),
        11,
        prices[0, :, 0],
        ("BTC", "ETH"),
    )
    margin = (
        {"model": "static", "maintenance": 0.005}
        if model == "static"
        else {
            "model": "vol_scaled",
            "k": 3.0,
            "horizon_steps": 24,
            "ewma_lambda": 0.97,
            "initial_variance": 1e-4,
            "floor": 0.004,
            "cap": 0.06,
        }
    )
    arguments = (prices, book, "book", margin, (1, 0.001, 0.005, 0.5), 1e5)
    fast, _ = run_kernel(*arguments, group_size=64)
    dense, _ = run_kernel(*arguments, dense=True)
    assert fast[:, COLUMN["n_liquidations"]].min() > 0
    assert_close(fast, dense, rtol=ENGINE_VS_DENSE_RTOL, atol=1e-9 * book.entry_notional)


# ----------------------------------------------------------------------------- hand cases
#: Long 1 BTC at 60,000 and short 20 ETH at 3,000 (60,000 of notional each), 3,000 of
#: collateral per leg (20x isolated), 6,000 pooled in cross; m = 1 %, no latency.
HEDGED = make_book(
    [0, 0], [0, 1], [1.0, -1.0], [1.0, 20.0], [60000.0, 3000.0], [3000.0] * 2, [True]
)


def hand_prices(btc: list[float], eth: list[float]) -> np.ndarray:
    return np.array([[btc, eth]], dtype=float)


def test_hedged_account_survives_moves_that_liquidate_each_leg_alone() -> None:
    # both fall 10 %, then both rise to +10 %: each leg alone goes under water once
    prices = hand_prices([60000.0, 54000.0, 66000.0], [3000.0, 2700.0, 3300.0])
    margin = {"model": "static", "maintenance": 0.01}
    liquidation = (0, 0.0, 0.0, 0.5)
    cross, _ = run_kernel(prices, HEDGED, "cross", margin, liquidation, 0.0)
    # cross: E = 6000 - 6000 + 6000 = 6000 >= R = 0.01 (54000 + 54000) = 1080; at +10 %
    # E = 6000 + 6000 - 6000 = 6000 >= 1320: never breaches
    assert cross[0, COLUMN["n_liquidations"]] == 0
    assert cross[0, COLUMN["bad_debt"]] == 0
    isolated, _ = run_kernel(prices, HEDGED, "isolated", margin, liquidation, 0.0)
    # isolated: the long leg at 54,000 has E = 3000 - 6000 = -3000 (bad debt 3,000); the
    # short leg at 3,300 has E = 3000 - 20 * 300 = -3000 (bad debt 3,000)
    assert isolated[0, COLUMN["n_liquidations"]] == 2
    assert_close(
        isolated[0, COLUMN["bad_debt"]], 6000.0, rtol=HAND_COMPUTED_RTOL, atol=HAND_COMPUTED_ATOL
    )
    assert_close(
        isolated[0, COLUMN["liquidated_notional"]],
        54000.0 + 66000.0,
        rtol=HAND_COMPUTED_RTOL,
        atol=HAND_COMPUTED_ATOL,
    )
    for mode, metrics in (("cross", cross), ("isolated", isolated)):
        assert_metrics(
            metrics, run_reference(prices, HEDGED, mode, margin, liquidation, 0.0), 1.2e5, mode
        )


def test_correlation_break_liquidates_the_hedged_account() -> None:
    # BTC falls 10 % while ETH rises 10 %: both legs lose 6,000
    prices = hand_prices([60000.0, 54000.0, 54000.0], [3000.0, 3300.0, 3300.0])
    margin = {"model": "static", "maintenance": 0.01}
    fee = 0.005
    cross, _ = run_kernel(prices, HEDGED, "cross", margin, (0, 0.0, fee, 0.5), 1000.0)
    # E = 6000 - 6000 - 6000 = -6000 < R: both legs closed at step 1, notional
    # 54,000 + 66,000, remaining equity -6,000: no penalty paid, bad debt 6,000
    assert cross[0, COLUMN["n_liquidations"]] == 2
    expected = {
        "liquidated_notional": 120000.0,
        "bad_debt": 6000.0,
        "fees_to_fund": 0.0,
        "fund_end": 0.0,
        "socialized_loss": 5000.0,
        "fund_required": 6000.0,
    }
    for name, value in expected.items():
        assert_close(
            cross[0, COLUMN[name]],
            value,
            rtol=HAND_COMPUTED_RTOL,
            atol=HAND_COMPUTED_ATOL,
            what=name,
        )


def test_small_cross_breach_pays_the_penalty_from_pooled_equity() -> None:
    # BTC -5 %, ETH +2 %: E = 6000 - 3000 - 1200 = 1800 >= R = 0.01 (57000 + 61200) = 1182;
    # then BTC -6 %, ETH +2 %: E = 6000 - 3600 - 1200 = 1200 >= R = 1176: survives;
    # then BTC -7 %: E = 6000 - 4200 - 1200 = 600 < R = 1170: closed at step 3 with
    # latency 0: penalty due 0.005 * (55800 + 61200) = 585 <= 600, all of it paid
    prices = hand_prices([60000.0, 57000.0, 56400.0, 55800.0], [3000.0, 3060.0, 3060.0, 3060.0])
    margin = {"model": "static", "maintenance": 0.01}
    cross, _ = run_kernel(prices, HEDGED, "cross", margin, (0, 0.0, 0.005, 0.5), 0.0)
    assert cross[0, COLUMN["n_liquidations"]] == 2
    assert_close(cross[0, COLUMN["bad_debt"]], 0.0, rtol=0.0, atol=HAND_COMPUTED_ATOL)
    assert_close(
        cross[0, COLUMN["fees_to_fund"]], 292.5, rtol=HAND_COMPUTED_RTOL, atol=HAND_COMPUTED_ATOL
    )


# ----------------------------------------------------------------------------- determinism
def test_results_do_not_depend_on_threads_or_chunks() -> None:
    from stresstest.engine.accounts import run_accounts

    scenario = scenario_from_dict(SCENARIO, file=None)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run_accounts(scenario, chunk_size=3).metrics
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = run_accounts(scenario).metrics
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, two)
    assert one[:, COLUMN["n_liquidations"]].sum() > 0


SCENARIO: dict[str, Any] = {
    "scenario": {"name": "cross_test", "seed": 5},
    "paths": {
        "source": "gbm_multi",
        "assets": ["BTC", "ETH"],
        "s0": [60000.0, 3000.0],
        "sigma": [0.01, 0.012],
        "correlation": [[1.0, 0.8], [0.8, 1.0]],
        "n_paths": 11,
        "n_steps": 100,
    },
    "book": {"source": "accounts_synthetic", "n_accounts": 2000, "cross_fraction": 0.5},
    "margin": {"model": "static", "maintenance": 0.005},
    "liquidation": {"latency_steps": 1, "fee": 0.005},
}
