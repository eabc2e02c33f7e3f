"""Partial liquidation and ADL (docs/model.md 10) against their plain references and by hand.

Both together: hand-computed cases of a partially closed position deleveraged (10.2,
"ADL with partial liquidation"); the random comparison with the reference is in
tests/test_mechanics_reference.py.

The stage pipeline (:mod:`stresstest.kernels.pipeline`) with partial liquidation
(its close rule, :mod:`stresstest.kernels.partial`) or ADL as its only stage is
compared column by column with ``tests.reference_partial_adl`` on the random cases
of ``tests.test_replay_reference``; hand-computed cases run through the public
engine; and without the tables the engine's results are those of the core kernel,
bit for bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numba
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stresstest.book import Book, sort_book
from stresstest.engine import Result, run
from stresstest.engine.defences import sorted_positions
from stresstest.engine.mechanics import neutral_vector
from stresstest.engine.run import margin_arguments, prepare
from stresstest.errors import InputError
from stresstest.kernels import enums
from stresstest.kernels.enums import N_GRID
from stresstest.kernels.pipeline import pipeline_paths
from stresstest.kernels.replay import replay_paths
from stresstest.scenario import load_scenario
from tests.reference_partial_adl import reference_adl, reference_partial
from tests.test_replay_reference import (
    KERNEL_SETTINGS,
    NEAR_TIE_RELATIVE_GAP,
    ReplayCase,
    assert_metrics_close,
    liquidation_tail,
    liquidation_vector,
    margin_config,
    replay_cases,
)
from tests.tiers import examples
from tests.tolerances import (
    ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL,
    ENGINE_VS_REFERENCE_RTOL,
    HAND_COMPUTED_ATOL,
    HAND_COMPUTED_RTOL,
    assert_close,
)

NO_GRID = np.empty(0, dtype=np.int64)


def lowest_rate(margin: dict[str, Any]) -> float:
    """The smallest maintenance rate a ``[margin]`` table can give (fraction of notional)."""
    return margin["maintenance"] if margin["model"] == "static" else margin["floor"]


def run_partial_kernel(case: ReplayCase, buffer: float) -> np.ndarray:
    """The stage pipeline with partial liquidation as its only stage, ``(n_paths, N_METRICS)``."""
    book = sort_book(case.book)
    n_paths = case.prices.shape[0]
    out = np.full((n_paths, enums.N_METRICS_ALL), np.nan)
    pipeline_paths(
        np.ascontiguousarray(case.prices),
        margin_arguments(margin_config(case.margin)),
        liquidation_vector(case),
        neutral_vector(buffer=buffer),  # partial liquidation the only stage
        book.long_threshold,
        book.long_prefix,
        np.empty((3, 0)),
        book.short_threshold,
        book.short_prefix,
        np.empty((3, 0)),
        case.fund_initial,
        NO_GRID,
        out,
        np.empty((n_paths, N_GRID, 0)),
    )
    assert np.all(np.isnan(out[:, enums.N_METRICS :])), "partial wrote a column of another stage"
    return out[:, : enums.N_METRICS]


def run_adl_kernel(case: ReplayCase, buffer: float | None = None) -> np.ndarray:
    """The stage pipeline with ADL as its only stage, ``(n_paths, N_METRICS_ADL)``.

    With ``buffer`` partial liquidation runs too (docs/model.md 10.2, "ADL with partial
    liquidation").
    """
    book = sort_book(case.book)
    long_positions, short_positions = sorted_positions(case.book)
    n_paths = case.prices.shape[0]
    out = np.full((n_paths, enums.N_METRICS_ADL), np.nan)
    pipeline_paths(
        np.ascontiguousarray(case.prices),
        margin_arguments(margin_config(case.margin)),
        liquidation_vector(case),
        neutral_vector(adl="profit_leverage", buffer=buffer),  # ADL (and partial) only
        book.long_threshold,
        book.long_prefix,
        long_positions,
        book.short_threshold,
        book.short_prefix,
        short_positions,
        case.fund_initial,
        NO_GRID,
        out,
        np.empty((n_paths, N_GRID, 0)),
    )
    return out


def run_core_kernel(case: ReplayCase) -> np.ndarray:
    book = sort_book(case.book)
    n_paths = case.prices.shape[0]
    out = np.full((n_paths, enums.N_METRICS), np.nan)
    replay_paths(
        np.ascontiguousarray(case.prices),
        margin_arguments(margin_config(case.margin)),
        liquidation_vector(case),
        book.long_threshold,
        book.long_prefix,
        book.short_threshold,
        book.short_prefix,
        case.fund_initial,
        NO_GRID,
        out,
        np.empty((n_paths, N_GRID, 0)),
    )
    return out


def reference_arguments(case: ReplayCase) -> tuple[Any, ...]:
    book = case.book
    return (
        case.prices,
        book.side,
        book.qty,
        book.entry_price,
        book.collateral,
        case.margin,
        *liquidation_tail(case),
        case.fund_initial,
    )


@settings(KERNEL_SETTINGS, max_examples=examples(250))
@given(case=replay_cases(), extra=st.floats(1e-3, 0.2))
def test_partial_kernel_matches_reference(case: ReplayCase, extra: float) -> None:
    buffer = max(0.0, case.fee - lowest_rate(case.margin)) + extra
    assume(buffer < 1.0)
    expected, gap = reference_partial(*reference_arguments(case), buffer)
    assume(gap > NEAR_TIE_RELATIVE_GAP)
    assert_metrics_close(
        run_partial_kernel(case, buffer),
        expected,
        rtol=ENGINE_VS_REFERENCE_RTOL,
        scale=case.scale,
        what="pipeline_paths (partial only) vs reference",
    )


@settings(KERNEL_SETTINGS, max_examples=examples(250))
@given(case=replay_cases())
def test_adl_kernel_matches_reference(case: ReplayCase) -> None:
    expected, gap = reference_adl(*reference_arguments(case))
    assume(gap > NEAR_TIE_RELATIVE_GAP)
    actual = run_adl_kernel(case)
    assert_metrics_close(
        actual[:, : enums.N_METRICS],
        expected[:, : enums.N_METRICS],
        rtol=ENGINE_VS_REFERENCE_RTOL,
        scale=case.scale,
        what="pipeline_paths (ADL only) vs reference",
    )
    assert np.array_equal(actual[:, enums.ADL_COUNT], expected[:, enums.ADL_COUNT])
    assert_close(
        actual[:, enums.ADL_NOTIONAL],
        expected[:, enums.ADL_NOTIONAL],
        rtol=ENGINE_VS_REFERENCE_RTOL,
        atol=ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL * case.scale,
        what="adl_notional",
    )


@settings(KERNEL_SETTINGS, max_examples=examples(100))
@given(case=replay_cases())
def test_adl_kernel_without_adl_events_is_the_core_kernel(case: ReplayCase) -> None:
    """With a fund no path can empty, the ADL kernel gives the core results bit for bit."""
    rich = ReplayCase(**{**case.__dict__, "fund_initial": 1e6 * case.scale})
    actual = run_adl_kernel(rich)
    assert np.array_equal(actual[:, enums.ADL_COUNT], np.zeros(rich.prices.shape[0]))
    assert np.array_equal(actual[:, : enums.N_METRICS], run_core_kernel(rich))


# ----------------------------------------------------------------------------- by hand


def run_case(
    tmp_path: Path,
    prices: list[float],
    positions: list[tuple[str, float, float, float]],
    tables: dict[str, Any],
) -> Result:
    """One path and a small book written as CSV, run through the public engine."""
    path_file = tmp_path / "paths.csv"
    lines = ["path,step,price"] + [f"0,{step},{price!r}" for step, price in enumerate(prices)]
    path_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    book_file = tmp_path / "book.csv"
    rows = ["side,qty,entry_price,collateral"]
    rows += [
        f"{side},{qty!r},{entry!r},{collateral!r}" for side, qty, entry, collateral in positions
    ]
    book_file.write_text("\n".join(rows) + "\n", encoding="utf-8")
    scenario = {
        "scenario": {"name": "hand", "seed": 0},
        "paths": {"source": "file", "file": str(path_file)},
        "book": {"source": "file", "file": str(book_file)},
        **tables,
    }
    return run(load_scenario(scenario))


def check(result: Result, expected: dict[str, float]) -> None:
    for name, value in expected.items():
        assert_close(
            result.column(name)[0],
            value,
            rtol=HAND_COMPUTED_RTOL,
            atol=HAND_COMPUTED_ATOL,
            what=name,
        )


def test_partial_close_back_to_maintenance_plus_buffer_then_reliquidated(
    tmp_path: Path,
) -> None:
    # Long q = 1, e = 100, c = 10 (theta = 90); m = 0.05, b = 0.05, fee = 0.01, latency 0,
    # no slippage, liquidator share 0.5, fund 0. Prices 100, 94, 90, 80.
    # t = 1: E = 4 < R = 4.7, closed at x = 94: q' = (4 - 0.94) / (0.09 * 94) = 17/47;
    #   closed 30/47, notional 60, penalty 0.6; remaining equity 3.4 = 0.1 q' x;
    #   theta' = 94 (1 - 0.1) = 84.6. t = 2: 90 * 0.95 = 85.5 > 84.6, still open.
    # t = 3: 80 * 0.95 = 76 < 84.6: closed at 80, E' = 17/47 (80 - 84.6) < 0: full close,
    #   bad debt 17/47 * 4.6 = 78.2/47, notional 1360/47.
    # Fund: +0.3 at t = 1, -78.2/47 at t = 3: socialized 78.2/47 - 0.3.
    # Q_t = 1, 1, 17/47, 17/47: requirement 0.05 (100 + 94 + 170 * 17/47) / 4.
    result = run_case(
        tmp_path,
        [100.0, 94.0, 90.0, 80.0],
        [("long", 1.0, 100.0, 10.0)],
        {
            "margin": {"model": "static", "maintenance": 0.05},
            "liquidation": {"fee": 0.01, "liquidator_share": 0.5},
            "partial_liquidation": {"buffer": 0.05},
        },
    )
    bad = 78.2 / 47
    check(
        result,
        {
            "n_liquidations": 2,
            "liquidated_notional": 60.0 + 1360 / 47,
            "bad_debt": bad,
            "fees_to_fund": 0.3,
            "fees_to_liquidators": 0.3,
            "socialized_loss": bad - 0.3,
            "fund_required": bad - 0.3,
            "fund_end": 0.0,
            "requirement_mean": 0.05 * (194.0 + 170.0 * 17 / 47) / 4,
            "margin_rate_mean": 0.05,
        },
    )
    assert result.paths_frame().columns == ["path", *enums.METRIC_NAMES]


def test_partial_recovered_position_is_rearmed(tmp_path: Path) -> None:
    # As above with latency 1 and prices 100, 94, 101, 80, 80. Flagged at t = 1, due at
    # t = 2 at x = 101: q' = (11 - 1.01) / (0.09 * 101) > 1, nothing closed; re-armed
    # from t = 3 (Q_2 = 0). t = 3: 76 < 90, flagged; closed at t = 4 at 80: E = -10, full
    # close, bad debt 10. Requirement 0.05 (100 + 94 + 0 + 80 + 0) / 5.
    result = run_case(
        tmp_path,
        [100.0, 94.0, 101.0, 80.0, 80.0],
        [("long", 1.0, 100.0, 10.0)],
        {
            "margin": {"model": "static", "maintenance": 0.05},
            "liquidation": {"fee": 0.01, "latency_steps": 1},
            "partial_liquidation": {"buffer": 0.05},
        },
    )
    check(
        result,
        {
            "n_liquidations": 1,
            "liquidated_notional": 80.0,
            "bad_debt": 10.0,
            "requirement_mean": 0.05 * 274.0 / 5,
        },
    )


def test_adl_covers_an_empty_fund_from_the_top_ranked_short(tmp_path: Path) -> None:
    # Long L (q 1, e 100, c 5: theta 95); shorts S1 (q 1, e 100, c 50: phi 150) and
    # S2 (q 2, e 110, c 100: phi 160). m = 0.01, no fee, latency 0, fund 1.
    # Prices 100, 90, 170.
    # t = 1: L flagged (89.1 < 95), closed at 90: bad debt 5; fund 1 - 5 = -4.
    #   Scores at 90: S1 (10/50)(90/60) = 0.3, S2 (40/100)(180/140) = 0.514: S2 gives
    #   min(40, 4) = 4 and leaves the book (notional 2 * 90 = 180). Fund 0, nothing socialized.
    # t = 2: S1 flagged (171.7 > 150), closed at 170: bad debt 20; no long left: socialized
    #   20. S2 (phi 160) would have been flagged too, but it is gone.
    # Q_t = 4, 4, 1: requirement 0.01 (400 + 360 + 170) / 3.
    tables: dict[str, Any] = {
        "margin": {"model": "static", "maintenance": 0.01},
        "insurance_fund": {"initial": 1.0},
        "adl": {},
    }
    positions = [
        ("long", 1.0, 100.0, 5.0),
        ("short", 1.0, 100.0, 50.0),
        ("short", 2.0, 110.0, 100.0),
    ]
    result = run_case(tmp_path, [100.0, 90.0, 170.0], positions, tables)
    check(
        result,
        {
            "n_liquidations": 2,
            "liquidated_notional": 260.0,
            "bad_debt": 25.0,
            "socialized_loss": 20.0,
            "fund_end": 0.0,
            "fund_min": 0.0,
            "fund_max_drawdown": 1.0,
            "fund_required": 25.0,
            "requirement_mean": 0.01 * 930.0 / 3,
            "margin_rate_mean": 0.01,
            "adl_notional": 180.0,
            "adl_count": 1,
        },
    )
    frame = result.paths_frame()
    assert frame.columns == ["path", *enums.METRIC_NAMES, *enums.ADL_METRIC_NAMES]
    # Up to t = 1 ADL covers the whole shortfall: exactly nothing is socialized.
    first_two = run_case(tmp_path, [100.0, 90.0], positions, tables)
    assert first_two.column("socialized_loss")[0] == 0.0
    assert first_two.column("fund_end")[0] == 0.0
    assert frame["adl_count"].dtype.is_integer()
    assert set(enums.ADL_METRIC_NAMES) <= set(result.summary()["metrics"])
    # Without ADL the same book socializes 4 at t = 1 and S2 is liquidated at t = 2.
    del tables["adl"]
    core = run_case(tmp_path, [100.0, 90.0, 170.0], positions, tables)
    check(core, {"n_liquidations": 3, "socialized_loss": 4.0 + 20.0 + 20.0})
    assert core.paths_frame().columns == ["path", *enums.METRIC_NAMES]


# ----------------------------------------------------------------------------- engine


def synthetic_scenario(**tables: Any) -> dict[str, Any]:
    return {
        "scenario": {"name": "defences", "seed": 7},
        "paths": {"source": "gbm", "s0": 100.0, "sigma": 0.03, "n_paths": 6, "n_steps": 60},
        "book": {"source": "synthetic", "n_positions": 3000, "leverage_max": 50.0},
        "margin": {"model": "static", "maintenance": 0.01},
        "liquidation": {"latency_steps": 1, "slippage": 0.002, "fee": 0.005},
        "insurance_fund": {"initial": 100.0},
        **tables,
    }


def test_absent_defences_run_the_core_kernel_bit_for_bit() -> None:
    scenario = load_scenario(synthetic_scenario())
    plan, _ = prepare([scenario])
    assert plan.variants[0].defences is None
    prices = plan.source.chunk(0, plan.n_paths)
    variant = plan.variants[0]
    out = np.empty((plan.n_paths, enums.N_METRICS))
    replay_paths(
        prices,
        variant.margin,
        variant.liquidation,
        variant.book.long_threshold,
        variant.book.long_prefix,
        variant.book.short_threshold,
        variant.book.short_prefix,
        variant.fund_initial,
        NO_GRID,
        out,
        np.empty((plan.n_paths, N_GRID, 0)),
    )
    assert np.array_equal(run(scenario).metrics, out)


def test_defences_run_through_the_engine() -> None:
    core = run(load_scenario(synthetic_scenario()))
    partial = run(load_scenario(synthetic_scenario(partial_liquidation={"buffer": 0.01})))
    adl = run(load_scenario(synthetic_scenario(adl={"policy": "profit_leverage"})))
    assert partial.metrics.shape == core.metrics.shape
    assert adl.metrics.shape == (core.n_paths, enums.N_METRICS_ADL)
    # Partial closes only part of each breached position: less notional per liquidation.
    assert partial.column("n_liquidations").sum() > 0
    assert partial.column("liquidated_notional").sum() < core.column("liquidated_notional").sum()
    # ADL replaces socialization on this book where the fund empties.
    assert core.column("socialized_loss").sum() > 0.0
    assert adl.column("adl_count").sum() > 0
    assert adl.column("socialized_loss").sum() < core.column("socialized_loss").sum()


@pytest.mark.parametrize(
    ("tables", "key"),
    [
        (
            {"partial_liquidation": {"buffer": 0.005}, "liquidation": {"fee": 0.02}},
            "partial_liquidation.buffer",
        ),
        ({"adl": {"policy": "fair_share"}}, "adl.policy"),
        ({"partial_liquidation": {"buffer": 1.5}}, "partial_liquidation.buffer"),
        ({"adl": {"enabled": True}}, "adl.enabled"),
    ],
)
def test_bad_defence_tables_raise_input_error(tables: dict[str, Any], key: str) -> None:
    with pytest.raises(InputError) as caught:
        load_scenario(synthetic_scenario(**tables))
    assert caught.value.key == key


def test_partial_liquidation_runs_with_the_crash_mechanisms() -> None:
    """Partial liquidation is the close rule of the stage pipeline: it composes with them."""
    raw = synthetic_scenario(
        partial_liquidation={"buffer": 0.01},
        oracle={"model": "lag", "lag_steps": 1},
        market={"impact": "linear", "depth": 1e5, "permanent_fraction": 0.5},
        liquidation={
            "latency_steps": 1,
            "slippage": 0.002,
            "trigger": "predictive",
            "fee_model": "vol_scaled",
            "fee_base": 0.002,
            "fee_k": 0.5,
            "fee_max": 0.02,
            "vol_ewma_lambda": 0.94,
        },
    )
    result = run(load_scenario(raw))
    assert result.column("n_liquidations").sum() > 0
    assert "cascade_depth" in result.paths.columns


#: Longs L (q 1, e 100, c 10: theta 90) and L2 (q 1, e 120, c 60: theta 60), short S
#: (q 1, e 100, c 22: phi 122); m = 0.05, b = 0.05, fee 0.01, latency 0, no slippage,
#: liquidator share 0.5, fund 0. Prices 100, 94, 130, 80.
PARTIAL_ADL_BOOK = [
    ("long", 1.0, 100.0, 10.0),
    ("long", 1.0, 120.0, 60.0),
    ("short", 1.0, 100.0, 22.0),
]
PARTIAL_ADL_PRICES = [100.0, 94.0, 130.0, 80.0]
PARTIAL_ADL_TABLES: dict[str, Any] = {
    "margin": {"model": "static", "maintenance": 0.05},
    "liquidation": {"fee": 0.01, "liquidator_share": 0.5},
    "partial_liquidation": {"buffer": 0.05},
    "insurance_fund": {"initial": 0.0},
}


def test_a_partially_closed_long_is_deleveraged_and_never_closed_again(tmp_path: Path) -> None:
    # t = 1: L flagged (E 4 < R 4.7), closed at 94 down to q' = 17/47 (as the case above):
    #   notional 60, penalty 0.6 (0.3 to the fund); theta' = 84.6, c' = q' (100 - 84.6).
    #   L2 (89.3 > 60) and S (98.7 < 122) are not flagged.
    # t = 2: S flagged (136.5 > 122), closed at 130: E = 22 - 30 = -8, bad debt 8, notional
    #   130. Fund 0.3 - 8 = -7.7: the longs cover 7.7 at A = 130.
    #   L: u = 17/47 * 30 = 510/47, c' = 261.8/47, score (510/261.8)(2210/771.8) = 5.58;
    #   L2: u = 10, c = 60, score (10/60)(130/70) = 0.31. L first: gives 7.7 < 510/47 and is
    #   closed whole (notional 17/47 * 130 = 2210/47); the need is met, fund 0 exactly.
    #   Haircuts (7.7 / (510/47), 0) over the 2 candidates: Gini 1/2; one trader: shares 1.
    # t = 3: at 80 L's cohort would be flagged (76 < 84.6) and closed with bad debt; it is
    #   gone. L2: 76 > 60. Nothing is closed.
    # Q_t = 3, 3, 2 + 17/47 (L's remainder armed from t = 2), 1 (L2): requirement
    #   0.05 (300 + 282 + (2 + 17/47) 130 + 80) / 4.
    tables = {**PARTIAL_ADL_TABLES, "adl": {"policy": "profit_leverage"}}
    result = run_case(tmp_path, PARTIAL_ADL_PRICES, PARTIAL_ADL_BOOK, tables)
    check(
        result,
        {
            "n_liquidations": 2,
            "liquidated_notional": 190.0,
            "bad_debt": 8.0,
            "fees_to_fund": 0.3,
            "fees_to_liquidators": 0.3,
            "socialized_loss": 0.0,
            "fund_end": 0.0,
            "fund_min": 0.0,
            "fund_max_drawdown": 0.3,
            "fund_required": 7.7,
            "requirement_mean": 0.05 * (300.0 + 282.0 + (2.0 + 17 / 47) * 130.0 + 80.0) / 4,
            "margin_rate_mean": 0.05,
            "adl_notional": 2210 / 47,
            "adl_count": 1,
            "adl_top1_share": 1.0,
            "adl_top10_share": 1.0,
            "adl_gini": 0.5,
        },
    )
    assert result.column("socialized_loss")[0] == 0.0  # covered: exactly nothing socialized
    # Without ADL the remainder is closed in full at t = 3 (bad debt 17/47 * 4.6).
    partial_only = {key: value for key, value in tables.items() if key != "adl"}
    alone = run_case(tmp_path, PARTIAL_ADL_PRICES, PARTIAL_ADL_BOOK, partial_only)
    check(alone, {"n_liquidations": 3, "bad_debt": 8.0 + 78.2 / 47})


def test_pro_rata_reduces_a_cohort_which_is_then_closed_at_what_is_left(tmp_path: Path) -> None:
    # As above with pro_rata: at t = 2 U = 510/47 + 10, f = 7.7 / U; L keeps (1 - f) 17/47
    #   (its cohort's Q') and L2 (1 - f). adl_notional f (17/47 + 1) 130, adl_count 2.
    # t = 3: the cohort (threshold 84.6) is flagged and closed in full at 80 with what is
    #   left: notional (1 - f) 17/47 * 80, bad debt (1 - f) 78.2/47. No short is left to
    #   cover it: socialized. L2 (threshold 60, kept by pro_rata) is not flagged.
    tables = {**PARTIAL_ADL_TABLES, "adl": {"policy": "pro_rata"}}
    result = run_case(tmp_path, PARTIAL_ADL_PRICES, PARTIAL_ADL_BOOK, tables)
    fraction = 7.7 / (510 / 47 + 10.0)
    kept = 1.0 - fraction
    check(
        result,
        {
            "n_liquidations": 3,
            "liquidated_notional": 190.0 + kept * 17 / 47 * 80.0,
            "bad_debt": 8.0 + kept * 78.2 / 47,
            "socialized_loss": kept * 78.2 / 47,
            "fund_end": 0.0,
            "adl_notional": fraction * (17 / 47 + 1.0) * 130.0,
            "adl_count": 2,
            "adl_gini": 0.0,
            "requirement_mean": 0.05
            * (300.0 + 282.0 + (2.0 + 17 / 47) * 130.0 + (kept * (17 / 47 + 1.0)) * 80.0)
            / 4,
        },
    )


def test_adl_runs_with_an_oracle() -> None:
    """ADL is a layer of the stage pipeline: it composes with the crash mechanisms."""
    raw = synthetic_scenario(adl={}, oracle={"model": "lag", "lag_steps": 1})
    result = run(load_scenario(raw))
    assert "adl_count" in result.paths.columns


def test_sorted_positions_follow_the_sorted_book() -> None:
    rng = np.random.default_rng(3)
    n = 500
    book = Book(
        side=np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8),
        qty=rng.uniform(0.1, 2.0, n),
        entry_price=rng.uniform(90.0, 110.0, n),
        collateral=np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0.0, 50.0, n)),
    )
    sorted_book = sort_book(book)
    long_positions, short_positions = sorted_positions(book)
    for positions, threshold, sign in (
        (long_positions, sorted_book.long_threshold, 1.0),
        (short_positions, sorted_book.short_threshold, -1.0),
    ):
        assert np.array_equal(positions[1] - sign * (positions[2] / positions[0]), threshold)


def test_adl_selection_rounds_follow_the_full_ranking() -> None:
    """One ADL event that deleverages many positions (a deep best-first search)."""
    rng = np.random.default_rng(11)
    n = 600
    side = np.where(np.arange(n) < 200, 1, -1).astype(np.int8)
    qty = np.where(side == 1, 5.0, 0.05) * rng.uniform(0.5, 1.5, n)
    entry = 100.0 * np.exp(0.05 * rng.standard_normal(n))
    collateral = qty * entry / np.where(side == 1, 50.0, rng.uniform(1.0, 20.0, n))
    collateral[rng.random(n) < 0.05] = 0.0
    case = ReplayCase(
        prices=np.array([[100.0, 99.0, 70.0, 72.0, 65.0]]),
        book=Book(side=side, qty=qty, entry_price=entry, collateral=collateral),
        margin={"model": "static", "maintenance": 0.01},
        latency_steps=0,
        slippage=0.0,
        fee=0.0,
        liquidator_share=0.5,
        fund_initial=0.0,
    )
    expected, gap = reference_adl(*reference_arguments(case))
    assert gap > NEAR_TIE_RELATIVE_GAP
    actual = run_adl_kernel(case)
    assert expected[0, enums.ADL_COUNT] > 128
    assert np.array_equal(actual[:, enums.ADL_COUNT], expected[:, enums.ADL_COUNT])
    assert_metrics_close(
        actual[:, : enums.N_METRICS],
        expected[:, : enums.N_METRICS],
        rtol=ENGINE_VS_REFERENCE_RTOL,
        scale=case.scale,
        what="adl rounds",
    )
    assert_close(
        actual[:, enums.ADL_NOTIONAL],
        expected[:, enums.ADL_NOTIONAL],
        rtol=ENGINE_VS_REFERENCE_RTOL,
        atol=0.0,
        what="adl_notional",
    )


def threads_case() -> ReplayCase:
    """Eight seeded GBM paths of 80 steps over a random book of 2000 positions up to 50x."""
    return ReplayCase(
        prices=np.ascontiguousarray(
            100.0 * np.exp(np.cumsum(0.03 * np.random.default_rng(5).standard_normal((8, 80)), 1))
        ),
        book=sort_free_book(2000),
        margin={"model": "static", "maintenance": 0.01},
        latency_steps=2,
        slippage=0.002,
        fee=0.005,
        liquidator_share=0.5,
        fund_initial=10.0,
    )


def test_one_thread_and_two_give_the_same_bits() -> None:
    case = threads_case()
    before = numba.get_num_threads()
    results = []
    for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
        numba.set_num_threads(threads)
        try:
            results.append(
                (
                    run_partial_kernel(case, 0.01),
                    run_adl_kernel(case),
                    run_adl_kernel(case, buffer=0.01),
                )
            )
        finally:
            numba.set_num_threads(before)
    assert np.array_equal(results[0][0], results[1][0])
    # Slots of other stages' columns stay NaN in both (enums.METRIC_INDEX).
    assert np.array_equal(results[0][1], results[1][1], equal_nan=True)
    assert results[0][1][:, enums.ADL_COUNT].sum() > 0
    # Partial liquidation with ADL: the per-position state is per thread and restored.
    assert np.array_equal(results[0][2], results[1][2], equal_nan=True)
    assert results[0][2][:, enums.ADL_COUNT].sum() > 0


def sort_free_book(n: int) -> Book:
    """A seeded random book of ``n`` positions up to 50x (unsorted)."""
    rng = np.random.default_rng(n)
    entry = 100.0 * np.exp(0.01 * rng.standard_normal(n))
    notional = 1000.0 * np.exp(rng.standard_normal(n))
    return Book(
        side=np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8),
        qty=notional / entry,
        entry_price=entry,
        collateral=notional / np.exp(rng.uniform(0.0, np.log(50.0), n)),
    )


def test_partial_liquidation_with_the_fund_bound_by_hand(tmp_path: Path) -> None:
    # The first hand case (long q = 1, e = 100, c = 10, theta = 90; m = 0.05, b = 0.05,
    # fee = 0.01, latency 0, no slippage, share 0.5, fund 0; prices 100, 94, 90, 80) plus
    # a long q = 1, e = 100, c = 5.5 (theta = 94.5, not flagged at t = 0: 95 > 94.5), and
    # pays_past_bankruptcy f = 0.002 (docs/model.md 10.4 with 10.1).
    # t = 1 (x = 94, F = 93.06): the second closes in full from the sorted range: bad
    #   debt 0.5, the fund pays f q x = 0.188, 0.312 passes on; the first closes
    #   partially (notional 60, penalty 0.6, no bad debt) and its remainder 17/47 at
    #   theta' = 84.6 is a cohort. Fund: 0.3 - 0.188 = 0.112; 0.312 socialized.
    # t = 3 (x = 80): the cohort closes in full: bad debt 17/47 * 4.6 = 78.2/47, the fund
    #   pays 0.002 * 80 * 17/47 = 2.72/47 (ends at 0.112 - 2.72/47 > 0), 75.48/47 passes
    #   on and is socialized.
    result = run_case(
        tmp_path,
        [100.0, 94.0, 90.0, 80.0],
        [("long", 1.0, 100.0, 10.0), ("long", 1.0, 100.0, 5.5)],
        {
            "margin": {"model": "static", "maintenance": 0.05},
            "liquidation": {"fee": 0.01, "liquidator_share": 0.5},
            "partial_liquidation": {"buffer": 0.05},
            "insurance_fund": {"initial": 0.0, "pays_past_bankruptcy": 0.002},
        },
    )
    check(
        result,
        {
            "n_liquidations": 3,
            "liquidated_notional": 94.0 + 60.0 + 1360 / 47,
            "bad_debt": 0.5 + 78.2 / 47,
            "fees_to_fund": 0.3,
            "fund_passed_bad_debt": 0.312 + 75.48 / 47,
            "socialized_loss": 0.312 + 75.48 / 47,
            "fund_end": 0.112 - 2.72 / 47,
            "fund_required": 0.0,
        },
    )
    assert result.paths_frame().columns == [
        "path",
        *enums.METRIC_NAMES,
        *enums.FUND_BOUND_METRIC_NAMES,
    ]


HAND_PARTIAL = {
    "margin": {"model": "static", "maintenance": 0.05},
    "liquidation": {"fee": 0.01, "liquidator_share": 0.5},
    "partial_liquidation": {"buffer": 0.05},
}


def test_the_vault_takes_over_a_partially_closed_remainder_by_hand(tmp_path: Path) -> None:
    # The first hand case (long q = 1, e = 100, c = 10, theta = 90; m = 0.05, b = 0.05,
    # fee = 0.01, latency 0, share 0.5, fund 0; prices 100, 94, 90, 80) with a vault of
    # capital 1, k = 2/3, held to T (docs/model.md 10.3 with 10.1).
    # t = 1: theta = 90 <= 94 (1 - 0.05 k) = 90.87: not taken; closed partially
    #   (notional 60, penalty 0.6); remainder q' = 17/47 at theta' = 84.6 (its
    #   bankruptcy price: equity at the mark q' (O - theta')).
    # t = 3: flagged at 80; theta' = 84.6 > 80 (1 - 0.05 k) = 77.33: the vault takes the
    #   remainder (notional 17/47 * 80) and closes it at T = 3 at 80: P&L -78.2/47; capital
    #   1 - 78.2/47 < 0 passes 78.2/47 - 1 on (socialized), equity 0.
    tables = {**HAND_PARTIAL, "backstop": {"capital": 1.0}}
    result = run_case(tmp_path, [100.0, 94.0, 90.0, 80.0], [("long", 1.0, 100.0, 10.0)], tables)
    check(
        result,
        {
            "n_liquidations": 1,
            "liquidated_notional": 60.0,
            "bad_debt": 0.0,
            "fees_to_fund": 0.3,
            "fund_end": 0.3,
            "socialized_loss": 78.2 / 47 - 1.0,
            "backstop_takeovers": 1,
            "backstop_notional": 1360 / 47,
            "backstop_pnl": -78.2 / 47,
            "backstop_loss_passed": 78.2 / 47 - 1.0,
            "backstop_min_equity": 0.0,
            "backstop_exhausted": 1,
        },
    )


def test_the_vault_takes_a_range_and_an_exhausted_vault_leaves_the_cohort_by_hand(
    tmp_path: Path,
) -> None:
    # As above plus a long q = 1, e = 100, c = 5.5 (theta = 94.5).
    # t = 1: both flagged; the vault (equity 1 > 0) takes the second (94.5 > 90.87, the
    #   worst end of the flagged range; notional 94); the first closes partially.
    #   Vault equity at 94: 1 + (94 - 94.5) = 0.5; at t = 2: 1 + (90 - 94.5) = -3.5.
    # t = 3: vault equity at 80 is 1 - 14.5 <= 0: it takes nothing; the cohort closes in
    #   the market at 80: bad debt 78.2/47, the fund (0.3) socializes 78.2/47 - 0.3. The
    #   vault closes its position at 80: P&L -14.5, passes 13.5 on (socialized), equity 0.
    tables = {**HAND_PARTIAL, "backstop": {"capital": 1.0}}
    result = run_case(
        tmp_path,
        [100.0, 94.0, 90.0, 80.0],
        [("long", 1.0, 100.0, 10.0), ("long", 1.0, 100.0, 5.5)],
        tables,
    )
    check(
        result,
        {
            "n_liquidations": 2,
            "liquidated_notional": 60.0 + 1360 / 47,
            "bad_debt": 78.2 / 47,
            "fees_to_fund": 0.3,
            "fund_end": 0.0,
            "socialized_loss": 13.5 + 78.2 / 47 - 0.3,
            "backstop_takeovers": 1,
            "backstop_notional": 94.0,
            "backstop_pnl": -14.5,
            "backstop_loss_passed": 13.5,
            "backstop_min_equity": -3.5,
            "backstop_exhausted": 1,
        },
    )
