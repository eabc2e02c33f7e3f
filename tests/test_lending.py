"""Lending markets (docs/model.md 13): the kernel against the plain loan-by-loan reference,
hand-computed cases, a run through the engine, and bad lending input at the command line.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner

import stresstest.cli
from stresstest.cli import app
from stresstest.engine.lending import market_arguments
from stresstest.engine.run import run
from stresstest.kernels import enums
from stresstest.scenario import load_scenario
from stresstest.scenario.lending import LendingTable
from tests.reference_lending import reference_lending
from tests.tiers import examples
from tests.tolerances import (
    ENGINE_VS_REFERENCE_RTOL,
    HAND_COMPUTED_ATOL,
    HAND_COMPUTED_RTOL,
    assert_close,
)

KERNEL_SETTINGS = settings(
    deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
NAMES = (*enums.METRIC_NAMES, *enums.LENDING_METRIC_NAMES)
#: Absolute floor of the engine-reference comparison, quote units: the cases' money
#: figures are 1 to 10^6, so this matters only for figures that should be 0.
REFERENCE_ATOL = 1e-6
#: Cases where a loan's health factor or a liquidation's profit lies within this of
#: its threshold are kept: the kernel and the reference do the same operations in the
#: same order, so they decide ties alike (no near-tie filter is needed).
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def market(**changes: Any) -> dict[str, Any]:
    """A reference market (13.3-13.4) with every setting of ``changes``."""
    values: dict[str, Any] = {
        "threshold": [0.8],
        "bonus": [0.05],
        "fee": [0.1],
        "depth": [1e12],
        "close_factor": 0.5,
        "full_below_hf": 0.95,
        "small_loan": 0.0,
        "gas": 0.0,
        "half_life": 1.0,
        "seize_order": "highest_value",
        "deviation": 0.0,
        "heartbeat": 1,
    }
    values.update(changes)
    return values


def kernel_arguments(values: dict[str, Any]) -> np.ndarray:
    """The kernel's market vector of a reference market (through engine.lending)."""
    table = LendingTable(
        liquidation_threshold=values["threshold"],
        liquidation_bonus=values["bonus"],
        protocol_fee=values["fee"],
        pool_depth=values["depth"],
        pool_half_life=values["half_life"],
        gas_cost=values["gas"] if not isinstance(values["gas"], list) else 0.0,
        close_factor=values["close_factor"],
        close_factor_full_below_hf=values["full_below_hf"],
        small_loan_threshold=values["small_loan"],
        seize_order="highest_value" if values["seize_order"] == "highest_value" else "book",
        oracle_deviation=values["deviation"],
        oracle_heartbeat_steps=values["heartbeat"],
        bonus_ramp_slope=values.get("bonus_slope", 0.0),
        bonus_max=values.get("bonus_max"),
        gas_crash_slope=values.get("gas_crash_slope", 0.0),
        gas_crash_asset=(
            f"asset{values['gas_crash_asset']}" if "gas_crash_asset" in values else None
        ),
        gas_crash_window=values.get("gas_crash_window", 24),
    )
    return market_arguments(table, [f"asset{a}" for a in range(len(values["threshold"]))])


def oracle_arguments(values: dict[str, Any], n_assets: int) -> np.ndarray:
    """The kernel's ``[oracle]`` vector of a reference market (through engine.mechanics)."""
    from types import SimpleNamespace

    from stresstest.engine.mechanics import neutral_vector, set_oracle
    from stresstest.scenario.mechanics import Oracle

    keys = values.get("oracle")
    if keys is None:
        return np.zeros(0)
    keys = dict(keys)
    if keys.get("manipulation_asset") is not None:
        keys["manipulation_asset"] = f"asset{keys['manipulation_asset']}"
    scenario = SimpleNamespace(
        oracle=Oracle(**keys),
        paths=SimpleNamespace(assets=[f"asset{a}" for a in range(n_assets)]),
    )
    params = neutral_vector()
    set_oracle(params, scenario)  # type: ignore[arg-type]
    return params


def run_kernel_book(
    prices: np.ndarray,
    book: Any,
    wake: Any,
    values: dict[str, Any],
    fund: float,
    blocks: int = 2,
    records: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's metrics ``(n, N_METRICS_LENDING)`` and grid records on ``prices``
    ``(n, A, T + 1)`` for a :class:`~stresstest.book.loans.LoanBook` (``wake``: its
    wake index, or None to build it; ``records`` False: an empty grid, no records).
    """
    from stresstest.engine.lending import wake_index
    from stresstest.kernels.lending import lending_replay_paths

    n_paths, n_assets, n_points = prices.shape
    threshold = np.asarray(values["threshold"], dtype=float)
    if wake is None:
        wake = wake_index(book, threshold)
    curves = values.get("curves")
    grid = np.arange(n_points if records else 0, dtype=np.int64)
    out = np.zeros((n_paths, enums.N_METRICS_LENDING))
    records_out = np.empty((n_paths, enums.N_GRID, grid.shape[0]))
    lending_replay_paths(
        np.ascontiguousarray(prices, dtype=float),
        kernel_arguments(values),
        threshold,
        np.asarray(values["bonus"], dtype=float),
        np.asarray(values.get("bonus_max") or values["bonus"], dtype=float),
        np.asarray(values["fee"], dtype=float),
        np.asarray(values["depth"], dtype=float),
        book.start,
        book.asset,
        book.collateral,
        book.debt_asset,
        book.debt,
        wake.single,
        wake.theta,
        wake.debt,
        wake.collateral,
        wake.groups,
        wake.multi,
        wake.sleep_debt,
        wake.sleep_collateral,
        wake.held,
        wake.borrowed,
        fund,
        grid,
        oracle_arguments(values, n_assets),
        np.asarray(values["gas"] if isinstance(values["gas"], list) else [], dtype=float),
        curves.start if curves is not None else np.zeros(0, dtype=np.int64),
        curves.knots if curves is not None else np.zeros((3, 0)),
        blocks,
        out,
        records_out,
    )
    return out, records_out


def loan_book(loans: list[dict[str, Any]], n_assets: int) -> Any:
    """The :class:`~stresstest.book.loans.LoanBook` of the reference's loans."""
    from stresstest.book.loans import LoanBook

    return LoanBook(
        start=np.cumsum([0] + [len(loan["collateral"]) for loan in loans]).astype(np.int64),
        asset=np.array([a for loan in loans for a, _ in loan["collateral"]], dtype=np.int64),
        collateral=np.array([c for loan in loans for _, c in loan["collateral"]], dtype=float),
        debt_asset=np.array([loan["debt_asset"] for loan in loans], dtype=np.int64),
        debt=np.array([loan["debt"] for loan in loans], dtype=float),
        assets=tuple(f"asset{a}" for a in range(n_assets + 1)),
    )


def run_kernel(
    prices: np.ndarray,
    loans: list[dict[str, Any]],
    values: dict[str, Any],
    fund: float,
    blocks: int = 2,
    every_path: list[np.ndarray] | None = None,
) -> tuple[dict[str, float], np.ndarray]:
    """The kernel's columns on path 0 of ``prices`` ``(n, A, T + 1)``, and its grid records.

    ``blocks``: blocks of paths sharing buffers (13.7); ``every_path`` receives the
    metrics of every path.
    """
    out, records = run_kernel_book(
        prices, loan_book(loans, prices.shape[1]), None, values, fund, blocks
    )
    if every_path is not None:
        every_path.append(out)
    columns = {name: out[:, enums.METRIC_INDEX[name]] for name in NAMES}
    return {name: float(value[0]) for name, value in columns.items()}, records


def assert_matches(actual: dict[str, float], expected: dict[str, float], where: str = "") -> None:
    """Every column of a kernel run against the reference, at the engine-reference tolerance."""
    for name in NAMES:
        assert_close(
            actual[name],
            expected[name],
            rtol=ENGINE_VS_REFERENCE_RTOL,
            atol=REFERENCE_ATOL,
            what=f"{where}{name}",
        )


def assert_hand(actual: float, expected: float, what: str) -> None:
    assert_close(actual, expected, rtol=HAND_COMPUTED_RTOL, atol=HAND_COMPUTED_ATOL, what=what)


def one_asset(prices: list[float]) -> np.ndarray:
    return np.array([[prices]], dtype=float)


# ----------------------------------------------------------------------------- hand cases
def test_health_factor_crosses_one_exactly_at_d_over_c_lt() -> None:
    """2 ETH at LT 0.8 against 2000 USDC: HF = 1 at P = d / (c LT) = 1250, liquidatable below.

    At 1250 exactly HF = 1 (not < 1): no liquidation. At 1249.5, HF = 0.9996 >= 0.95,
    close factor 0.5: repay 1000, seize 1000 x 1.05 / 1249.5 ETH (1050 quote), fee
    0.1 x 50 = 5 to the reserve, liquidator's bonus 45. HF after:
    (2 - 1050 / 1249.5) 1249.5 x 0.8 / 1000 = 1.1592 >= 1: no second liquidation.
    """
    loans = [{"collateral": [(0, 2.0)], "debt_asset": 1, "debt": 2000.0}]
    columns, records = run_kernel(one_asset([1300.0, 1250.0, 1249.5, 1249.5]), loans, market(), 0.0)
    assert list(records[0, enums.GRID_COUNT]) == [0.0, 0.0, 1.0, 0.0]
    assert_hand(columns["liquidated_notional"], 1000.0, "debt repaid")
    assert_hand(columns["collateral_seized"], 1050.0, "collateral seized")
    assert_hand(columns["fees_to_fund"], 5.0, "protocol fee")
    assert_hand(columns["fees_to_liquidators"], 45.0, "liquidator bonus")
    assert_hand(columns["fund_end"], 5.0, "reserve")
    assert_hand(columns["bad_debt"], 0.0, "bad debt")


def test_close_factor_switches_to_the_whole_debt_below_hf_095() -> None:
    """HF 0.96 repays close_factor 0.5 of the debt; HF 0.94 repays all of it.

    1 ETH at LT 0.8 against 800 USDC: HF = 0.8 P / 800 = P / 1000, so P = 960 and 940.
    """
    loans = [{"collateral": [(0, 1.0)], "debt_asset": 1, "debt": 800.0}]
    half, _ = run_kernel(one_asset([1100.0, 960.0]), loans, market(), 0.0)
    whole, _ = run_kernel(one_asset([1100.0, 940.0]), loans, market(), 0.0)
    assert_hand(half["liquidated_notional"], 400.0, "HF 0.96: half the debt")
    assert_hand(whole["liquidated_notional"], 800.0, "HF 0.94: the whole debt")
    assert_hand(whole["collateral_seized"], 840.0, "HF 0.94: 800 x 1.05 seized")
    small, _ = run_kernel(one_asset([1100.0, 960.0]), loans, market(small_loan=1000.0), 0.0)
    assert_hand(small["liquidated_notional"], 800.0, "debt 800 < small_loan 1000: all of it")


def test_gas_above_the_bonus_leaves_the_loan_unliquidated() -> None:
    """A 100 USDC loan at HF 0.98: the bonus is 0.05 x 50 = 2.5 quote, gas 10: no liquidation.

    It stays liquidatable and unliquidated to the end: unprofitable_debt = 100.
    """
    loans = [{"collateral": [(0, 0.125)], "debt_asset": 1, "debt": 100.0}]
    columns, _ = run_kernel(one_asset([1100.0, 980.0, 980.0]), loans, market(gas=10.0), 0.0)
    assert columns["n_liquidations"] == 0.0
    assert columns["unprofitable_loans"] == 1.0
    assert_hand(columns["unprofitable_debt"], 100.0, "unprofitable debt")
    assert_hand(columns["liquidator_profit"], 0.0, "no profit booked")
    cheap, _ = run_kernel(one_asset([1100.0, 980.0, 980.0]), loans, market(gas=1.0), 0.0)
    assert cheap["n_liquidations"] == 1.0  # the same loan with gas 1 < 2.5 is liquidated


def test_collateral_running_out_books_bad_debt_against_the_reserve() -> None:
    """1 ETH falls to 900 against 1000 USDC (HF 0.72 < 0.95: the whole debt).

    Seized: all 900 of collateral, covering 900 / 1.05 = 857.142857... of debt; the
    rest, 1000 - 6000 / 7 = 1000 / 7, is bad debt. Fee 0.1 x 0.05 x 6000 / 7 = 30 / 7 to
    the reserve of 100: reserve 100 + 30/7 - 1000/7 < 0, so the socialized loss is
    1000/7 - 30/7 - 100 = 270 / 7 and the reserve ends at 0.
    """
    loans = [{"collateral": [(0, 1.0)], "debt_asset": 1, "debt": 1000.0}]
    columns, _ = run_kernel(one_asset([1300.0, 900.0]), loans, market(), 100.0)
    assert_hand(columns["bad_debt"], 1000.0 / 7.0, "bad debt")
    assert_hand(columns["liquidated_notional"], 6000.0 / 7.0, "debt repaid")
    assert_hand(columns["collateral_seized"], 900.0, "all the collateral")
    assert_hand(columns["socialized_loss"], 270.0 / 7.0, "reserve shortfall")
    assert_hand(columns["fund_end"], 0.0, "reserve")
    assert_hand(columns["underwater_debt"], 0.0, "nothing left open")


def test_the_steps_liquidations_share_the_pool_in_health_order() -> None:
    """Two loans liquidatable at once sell into one pool, lowest health factor first.

    1 ETH each at P = 1000, LT 0.8, debts 840 (HF 0.952) and 830 (HF 0.964), both below
    small_loan (the whole debt). Loan 1 seizes 840 x 1.05 / 1000 = 0.882 ETH, fee
    0.0042 ETH, sells 877.8 quote into a rested pool of D = 20000:
    20000 x 877.8 / 20877.8 = 840.9 > 840, profitable. Loan 0 then sells 867.35 into
    the used pool: 20000^2 x 867.35 / (20877.8 x 21745.15) = 764.2 < 830, refused; at
    step 2 the pool has refilled half (half-life 1 step): 796.7 < 830, refused again.
    """
    loans = [
        {"collateral": [(0, 1.0)], "debt_asset": 1, "debt": 780.0},  # HF 1000*0.8/780 = 1.026
        {"collateral": [(0, 1.0)], "debt_asset": 1, "debt": 840.0},  # HF 0.952
    ]
    prices = one_asset([1100.0, 1000.0, 1000.0])
    deep, _ = run_kernel(prices, loans, market(depth=[1e6], small_loan=1e4), 0.0)
    assert deep["n_liquidations"] == 1.0  # only loan 1 has HF < 1
    loans[0]["debt"] = 830.0  # HF 0.964: both liquidatable, loan 1 (0.952) first
    both, _ = run_kernel(prices, loans, market(depth=[1e6], small_loan=1e4), 0.0)
    assert both["n_liquidations"] == 2.0
    shared, _ = run_kernel(prices, loans, market(depth=[20_000.0], small_loan=1e4), 0.0)
    assert shared["n_liquidations"] == 1.0
    assert shared["unprofitable_loans"] == 1.0
    assert_hand(shared["liquidated_notional"], 840.0, "loan 1 repaid whole")


def test_chainlink_oracle_holds_the_price_within_the_deviation() -> None:
    """A 1% deviation threshold: the 0.5% move is not reported, the 1.5% one is."""
    from stresstest.kernels.lending_market import oracle_marks

    prices = np.array([[100.0, 99.5, 99.2, 98.0, 98.0]])
    marks = np.empty_like(prices)
    oracle_marks(prices, 0.01, 100, marks)
    assert list(marks[0]) == [100.0, 100.0, 100.0, 98.0, 98.0]
    oracle_marks(prices, 0.01, 2, marks)  # the heartbeat reports at step 2 anyway
    assert list(marks[0]) == [100.0, 100.0, 99.2, 98.0, 98.0]


def test_one_feed_printing_the_debt_stablecoin_high_liquidates_and_pays_the_liquidator() -> None:
    """Compound, November 2020: one feed printed DAI at 1.30 while it traded at 1.00.

    1 ETH (2000, LT 0.8) against 1250 DAI: HF = 1600 / 1250 = 1.28. ``[oracle]``
    manipulates DAI's feed by +30% at step 1 only: HF = 1600 / 1625 = 0.98462 >= 0.95,
    close factor 0.5: repay 812.5 at the mark (625 DAI), seize 812.5 x 1.05 / 2000 =
    0.4265625 ETH (853.125), no protocol fee. The liquidator buys the 625 DAI at the
    market (625) and sells the ETH at 2000 through a deep pool: profit
    853.125 d / (d + 853.125) - 625 = 228.125 less the pool's cut. HF after: 917.5 /
    812.5 = 1.129, so one liquidation. The same print on every asset (ETH at 2600 too)
    leaves HF = 2080 / 1625 = 1.28: none; a Chainlink deviation of 0.5 with a long
    heartbeat never reports the 30% print: none; a deviation of 0.2 reports it: one.
    """
    prices = np.array([[2000.0] * 3, [1.0] * 3])
    loans = [{"collateral": [(0, 1.0)], "debt_asset": 1, "debt": 1250.0}]
    depth = 1e9
    print_dai = {
        "model": "lag",
        "manipulation_step": 1,
        "manipulation_steps": 1,
        "manipulation_size": 0.3,
        "manipulation_asset": 1,
    }
    values = market(threshold=[0.8, 0.8], bonus=[0.05, 0.05], fee=[0.0, 0.0], depth=[depth] * 2)
    columns, records = run_kernel(prices[None], loans, {**values, "oracle": print_dai}, 0.0)
    assert list(records[0, enums.GRID_COUNT]) == [0.0, 1.0, 0.0]
    assert_hand(columns["liquidated_notional"], 812.5, "debt repaid at the printed mark")
    assert_hand(columns["collateral_seized"], 853.125, "ETH seized")
    assert_hand(columns["fees_to_liquidators"], 40.625, "bonus at the marks")
    profit = 853.125 * depth / (depth + 853.125) - 625.0
    assert_hand(columns["liquidator_profit"], profit, "what the print pays the liquidator")
    every_asset = {key: value for key, value in print_dai.items() if key != "manipulation_asset"}
    columns, _ = run_kernel(prices[None], loans, {**values, "oracle": every_asset}, 0.0)
    assert columns["n_liquidations"] == 0.0
    filtered = {**values, "oracle": print_dai, "heartbeat": 100}
    columns, _ = run_kernel(prices[None], loans, {**filtered, "deviation": 0.5}, 0.0)
    assert columns["n_liquidations"] == 0.0
    columns, _ = run_kernel(prices[None], loans, {**filtered, "deviation": 0.2}, 0.0)
    assert columns["n_liquidations"] == 1.0


# ----------------------------------------------------------------------------- property
@st.composite
def lending_cases(draw: st.DrawFn) -> tuple[np.ndarray, list[dict[str, Any]], dict[str, Any]]:
    """Two or three assets (the last may be a stablecoin that depegs), 1 to 6 loans."""
    n_assets = draw(st.integers(2, 3))
    n_steps = draw(st.integers(1, 12))
    prices = np.empty((n_assets, n_steps + 1))
    for a in range(n_assets):
        moves = draw(st.lists(st.floats(-0.15, 0.1), min_size=n_steps, max_size=n_steps))
        prices[a] = 100.0 * (a + 1) * np.exp(np.concatenate([[0.0], np.cumsum(moves)]))
    if draw(st.booleans()):  # the last asset is a stablecoin that depegs at one step
        depeg_step = draw(st.integers(0, n_steps))
        prices[-1] = 1.0
        prices[-1, depeg_step:] = draw(st.floats(0.7, 1.0))
    loans = []
    for _ in range(draw(st.integers(1, 6))):
        legs = draw(st.lists(st.integers(0, n_assets - 1), min_size=1, max_size=3, unique=True))
        amounts = st.one_of(st.just(0.0), st.floats(0.01, 5.0))  # no subnormal amounts
        collateral = [(a, draw(amounts)) for a in legs]
        if all(amount == 0.0 for _, amount in collateral):
            collateral[0] = (legs[0], 1.0)
        debt_asset = draw(st.integers(0, n_assets))
        scale = float(prices[debt_asset, 0]) if debt_asset < n_assets else 1.0
        debt = draw(st.floats(1.0, 400.0)) / scale
        loans.append({"collateral": collateral, "debt_asset": debt_asset, "debt": debt})
    threshold = [draw(st.floats(0.0, 0.9)) for _ in range(n_assets)]
    bonus = [draw(st.floats(0.0, min(0.2, 1.0 / max(t, 1e-9) - 1.0 - 1e-6))) for t in threshold]
    values = market(
        threshold=threshold,
        bonus=bonus,
        fee=[draw(st.floats(0.0, 1.0)) for _ in range(n_assets)],
        depth=[draw(st.sampled_from([50.0, 500.0, 1e9])) for _ in range(n_assets)],
        close_factor=draw(st.sampled_from([0.5, 1.0, 0.3])),
        full_below_hf=draw(st.sampled_from([0.95, 0.0, 1.0])),
        small_loan=draw(st.sampled_from([0.0, 100.0])),
        gas=draw(st.sampled_from([0.0, 1.0, 20.0])),
        half_life=draw(st.sampled_from([0.0, 1.0, 5.0])),
        seize_order=draw(st.sampled_from(["highest_value", "book"])),
        deviation=draw(st.sampled_from([0.0, 0.02])),
        heartbeat=draw(st.integers(1, 4)),
        oracle=draw(oracle_tables(n_assets, n_steps)),
    )
    if draw(st.booleans()):  # piecewise depth curves (13.4) instead of constant product
        from stresstest.io.lending_files import depth_curves

        curves = []
        for _ in range(n_assets):
            n_knots = draw(st.integers(2, 4))
            steps = draw(
                st.lists(st.floats(1.0, 400.0), min_size=n_knots - 1, max_size=n_knots - 1)
            )
            rises = draw(st.lists(st.floats(0.01, 0.3), min_size=n_knots - 1, max_size=n_knots - 1))
            depth = np.concatenate([[0.0], np.cumsum(steps)])
            impact = np.minimum(np.concatenate([[0.0], np.cumsum(rises)]), 0.99)
            if np.all(np.diff(impact) > 0.0):
                curves.append((depth, impact))
            else:
                curves.append((depth[:2], impact[:2]))
        values["curves"] = depth_curves(curves)
    if draw(st.booleans()):  # a gas path (13.4): gas per liquidation at each step
        values["gas"] = [draw(st.sampled_from([0.0, 1.0, 20.0])) for _ in range(n_steps + 1)]
    if draw(st.booleans()):  # congestion gas (13.4): scaled by one asset's fall
        values["gas_crash_slope"] = draw(st.sampled_from([0.5, 5.0, 40.0]))
        values["gas_crash_asset"] = draw(st.integers(0, n_assets - 1))
        values["gas_crash_window"] = draw(st.integers(1, 5))
        if values["gas"] == 0.0:
            values["gas"] = 1.0
    if draw(st.booleans()):  # the bonus ramp of 13.3, capped below 1 / LT - 1
        values["bonus_slope"] = draw(st.sampled_from([0.1, 0.5, 2.0]))
        values["bonus_max"] = [
            draw(st.floats(b, min(0.3, 1.0 / max(t, 1e-9) - 1.0 - 1e-6)))
            for b, t in zip(bonus, threshold, strict=True)
        ]
    return prices, loans, values


@st.composite
def oracle_tables(draw: st.DrawFn, n_assets: int, n_steps: int) -> dict[str, Any] | None:
    """No ``[oracle]``, or one of lag, ema, twap with a manipulation of one or every asset."""
    model = draw(st.sampled_from([None, "lag", "ema", "twap"]))
    if model is None:
        return None
    oracle: dict[str, Any] = {"model": model}
    if model == "lag":
        oracle["lag_steps"] = draw(st.integers(0, 3))
    elif model == "ema":
        oracle["ema_lambda"] = draw(st.sampled_from([0.0, 0.5, 0.9]))
    else:
        oracle["twap_steps"] = draw(st.integers(1, 4))
    if draw(st.booleans()):
        oracle["manipulation_step"] = draw(st.integers(0, n_steps))
        oracle["manipulation_steps"] = draw(st.integers(1, 3))
        oracle["manipulation_size"] = draw(st.sampled_from([-0.3, -0.1, 0.3]))
        oracle["manipulation_asset"] = draw(st.one_of(st.none(), st.integers(0, n_assets - 1)))
    return oracle


@settings(KERNEL_SETTINGS, max_examples=examples(300))
@given(case=lending_cases(), fund=st.sampled_from([0.0, 50.0]))
def test_kernel_matches_the_loan_by_loan_reference(
    case: tuple[np.ndarray, list[dict[str, Any]], dict[str, Any]], fund: float
) -> None:
    """Several collateral assets, depegs, unprofitable liquidations, pool exhaustion."""
    prices, loans, values = case
    columns, _ = run_kernel(prices[None], loans, values, fund)
    assert_matches(columns, reference_lending(prices, loans, values, fund))


# ----------------------------------------------------------------------------- engine
def lending_scenario(root: Path, **lending: Any) -> dict[str, Any]:
    (root / "loans.csv").write_text(
        "loan,asset,collateral,debt_asset,debt\n"
        "0,ETH,10,USDC,15000\n1,ETH,2,USDC,3000\n1,BTC,0.1,USDC,3000\n",
        encoding="utf-8",
    )
    return {
        "scenario": {"name": "lend", "seed": 3},
        "paths": {
            "source": "gbm_multi",
            "assets": ["BTC", "ETH"],
            "s0": [60000.0, 2000.0],
            "sigma": [0.01, 0.015],
            "correlation": [[1.0, 0.7], [0.7, 1.0]],
            "n_paths": 40,
            "n_steps": 50,
        },
        "book": {"source": "loans_file", "file": "loans.csv"},
        "lending": {
            "liquidation_threshold": [0.78, 0.83],
            "liquidation_bonus": [0.05, 0.05],
            "protocol_fee": [0.1, 0.1],
            "pool_depth": [5e7, 5e7],
            "gas_cost": 5.0,
            **lending,
        },
        "insurance_fund": {"initial": 1000.0},
    }


def test_engine_run_matches_the_reference_path_by_path(tmp_path: Path) -> None:
    """Every path of a run, through the scenario and the engine, equals the reference."""
    from stresstest.engine.lending import build_loans
    from stresstest.paths.multi import multi_path_source

    file = tmp_path / "lend.toml"
    file.write_text(tomli_w.dumps(lending_scenario(tmp_path)), encoding="utf-8")
    scenario = load_scenario(file)
    result = run(scenario, chunk_size=7)
    other = run(scenario)  # another chunk size: the same numbers
    np.testing.assert_array_equal(result.metrics, other.metrics)
    source = multi_path_source(scenario.paths, scenario.seed, scenario.source_file)
    prices = source.chunk(0, source.n_paths)
    book = build_loans(scenario, source)
    loans = [
        {
            "collateral": [
                (int(book.asset[leg]), float(book.collateral[leg]))
                for leg in range(book.start[j], book.start[j + 1])
            ],
            "debt_asset": int(book.debt_asset[j]),
            "debt": float(book.debt[j]),
        }
        for j in range(len(book))
    ]
    values = market(
        threshold=[0.78, 0.83], bonus=[0.05, 0.05], depth=[5e7, 5e7], gas=5.0, fee=[0.1, 0.1]
    )
    values["small_loan"] = 2000.0
    for path in range(source.n_paths):
        expected = reference_lending(prices[path], loans, values, 1000.0)
        for name in NAMES:
            assert_close(
                result.column(name)[path],
                expected[name],
                rtol=ENGINE_VS_REFERENCE_RTOL,
                atol=REFERENCE_ATOL,
                what=f"path {path} {name}",
            )
    assert result.column("n_liquidations").sum() > 0  # the case exercises liquidations
    result.write(tmp_path / "out")
    frame = pl.read_parquet(tmp_path / "out" / "paths.parquet")
    assert frame.columns == ["path", *NAMES]


def test_synthetic_loans_are_seeded_and_start_at_their_health_factor(tmp_path: Path) -> None:
    """loans_synthetic: the same seed gives the same loans; HF_0 lies in [hf_min, hf_max)."""
    from stresstest.engine.lending import build_loans, start_prices
    from stresstest.paths.multi import multi_path_source

    raw = lending_scenario(tmp_path)
    raw["book"] = {"source": "loans_synthetic", "n_loans": 200, "legs": 2, "hf_min": 1.1}
    scenario = load_scenario(raw)
    source = multi_path_source(scenario.paths, scenario.seed, None)
    book = build_loans(scenario, source)
    again = build_loans(scenario, source)
    np.testing.assert_array_equal(book.collateral, again.collateral)
    prices = start_prices(source)
    weighted = np.bincount(
        np.repeat(np.arange(len(book)), np.diff(book.start)),
        weights=book.collateral * prices[book.asset] * np.array([0.78, 0.83])[book.asset],
    )
    health = weighted / (book.debt * prices[book.debt_asset])
    assert health.min() >= 1.1 * (1 - 1e-12)
    assert health.max() < 2.0 * (1 + 1e-12)
    assert math.isclose(float(np.diff(book.start).mean()), 2.0)


# ------------------------------------------------------------ command helpers (test_lending_cli.py)
@pytest.fixture(autouse=True)
def wide_error_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stresstest.cli, "err_console", Console(stderr=True, width=100_000))


def invoke(scenario: Path, out: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["run", str(scenario), "--out", str(out), "--quiet"])
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, ANSI.sub("", result.stderr).strip()


def test_many_single_collateral_loans_woken_by_threshold_match_the_reference() -> None:
    """300 single-collateral loans in 6 (collateral, debt) groups and 20 multi-collateral
    loans over a falling, rebounding and falling path: the threshold wake-up (13.7) misses
    no liquidation and the suffix sums give the same debt outstanding as the reference.
    """
    generator = np.random.default_rng(16)
    n_steps = 60
    moves = generator.normal(-0.01, 0.03, (3, n_steps))
    moves[:, 20:30] += 0.03  # a rebound: loans woken earlier stay awake
    prices = 100.0 * np.exp(np.concatenate([np.zeros((3, 1)), np.cumsum(moves, axis=1)], axis=1))
    prices[2] = np.where(np.arange(n_steps + 1) >= 40, 0.85, 1.0)  # a stablecoin depegs
    loans = []
    for index in range(320):
        legs = [int(generator.integers(0, 2))] if index < 300 else [0, 1]
        debt_asset = int(generator.choice([2, 3, 1 - legs[0]]))
        collateral = [(a, float(generator.uniform(0.5, 2.0))) for a in legs]
        value = sum(amount * prices[a, 0] * 0.8 for a, amount in collateral)
        price = prices[debt_asset, 0] if debt_asset < 3 else 1.0
        health = float(np.exp(generator.uniform(0.0, np.log(2.0))))
        loans.append(
            {"collateral": collateral, "debt_asset": debt_asset, "debt": value / health / price}
        )
    values = market(
        threshold=[0.8, 0.8, 0.0],
        bonus=[0.05, 0.07, 0.0],
        fee=[0.1, 0.2, 0.0],
        depth=[5000.0, 20_000.0, 1e6],
        gas=0.5,
        deviation=0.01,
        heartbeat=3,
    )
    columns, _ = run_kernel(prices[None], loans, values, 100.0)
    expected = reference_lending(prices, loans, values, 100.0)
    assert expected["n_liquidations"] > 50 and expected["unprofitable_loans"] > 0
    assert_matches(columns, expected)


@pytest.mark.parametrize("big_first", [True, False])
def test_equal_health_factors_are_liquidated_in_loan_order(big_first: bool) -> None:
    """Two loans at the same HF 0.952 (1 ETH / 840 and 2 ETH / 1680 USDC, P = 1000) share a
    pool of D = 50000 that pays for only one: the lower loan index goes first.

    Big first: 50000 x 1755.6 / 51755.6 = 1696.0 > 1680, then the small one gets
    50000^2 x 877.8 / (51755.6 x 52633.4) = 805.6 < 840. Small first: 862.7 > 840, then
    the big one 1639.0 < 1680.
    """
    big = {"collateral": [(0, 2.0)], "debt_asset": 1, "debt": 1680.0}
    small = {"collateral": [(0, 1.0)], "debt_asset": 1, "debt": 840.0}
    loans = [big, small] if big_first else [small, big]
    values = market(depth=[50_000.0], small_loan=1e4)
    columns, _ = run_kernel(one_asset([1100.0, 1000.0]), loans, values, 0.0)
    assert columns["n_liquidations"] == 1.0
    assert_hand(columns["liquidated_notional"], 1680.0 if big_first else 840.0, "repaid")
