"""Attribution of liquidations, penalties and bad debt to cohorts and flag steps (docs/model.md 6b).

The kernel against a plain position-by-position reference (tests/reference_attribution.py)
on random books, a hand-computed case, the exactness property (cohorts and flag-step
buckets add up to the per-path totals of paths.parquet), determinism across threads
and chunk sizes, and the scenario checks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from stresstest.book import Book, sort_book
from stresstest.book.cohorts import cohort_book
from stresstest.engine.attribution import AttributionPlan, AttributionResult, absent_reason
from stresstest.engine.run import margin_arguments, run
from stresstest.errors import InputError
from stresstest.kernels import enums
from stresstest.kernels.enums import N_GRID
from stresstest.kernels.replay import replay_paths_attributed
from stresstest.kernels.search import (
    first_greater,
    first_greater_from_stop,
    first_not_less,
    first_not_less_from_start,
)
from stresstest.scenario import load_scenario
from stresstest.scenario.validate import scenario_from_dict
from tests.reference_attribution import reference_attribution
from tests.test_replay_reference import (
    KERNEL_SETTINGS,
    ReplayCase,
    discard_near_ties,
    liquidation_vector,
    margin_config,
    replay_cases,
)
from tests.tiers import examples
from tests.tolerances import (
    ATTRIBUTION_SUM_RTOL_PER_NOTIONAL,
    ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL,
    ENGINE_VS_REFERENCE_RTOL,
    HAND_COMPUTED_ATOL,
    HAND_COMPUTED_RTOL,
    assert_close,
)


def run_attributed(
    prices: np.ndarray,
    book: Book,
    margin: dict[str, Any],
    liquidation: np.ndarray,
    fund_initial: float,
    edges: tuple[tuple[float, ...], tuple[float, ...], tuple[int, ...]],
) -> tuple[np.ndarray, np.ndarray]:
    """The kernel with attribution: metrics ``(n, N_METRICS)`` and attribution ``(n, slots, 4)``."""
    leverage, notional, steps = edges
    sorted_book = sort_book(book)
    plan = AttributionPlan(
        cohort_book(book, np.asarray(leverage), np.asarray(notional)), leverage, notional, steps
    )
    cohorts, step_edges = plan.kernel_arguments()
    n_paths = prices.shape[0]
    out = np.full((n_paths, enums.N_METRICS), np.nan)
    attribution = np.zeros((n_paths, plan.width))
    replay_paths_attributed(
        np.ascontiguousarray(prices),
        margin_arguments(margin_config(margin)),
        liquidation,
        sorted_book.long_threshold,
        sorted_book.long_prefix,
        sorted_book.short_threshold,
        sorted_book.short_prefix,
        fund_initial,
        np.empty(0, dtype=np.int64),
        out,
        np.empty((n_paths, N_GRID, 0)),
        cohorts,  # type: ignore[arg-type]
        step_edges,
        attribution,
    )
    return out, attribution.reshape(n_paths, plan.n_slots, 4)


def assert_adds_up(metrics: np.ndarray, groups: np.ndarray, what: str) -> None:
    """Counts equal, money within ``ATTRIBUTION_SUM_RTOL_PER_NOTIONAL`` of the path's notional."""
    scale = metrics[:, enums.LIQUIDATED_NOTIONAL]
    np.testing.assert_array_equal(groups[:, :, 0].sum(axis=1), metrics[:, enums.N_LIQUIDATIONS])
    penalties = metrics[:, enums.FEES_TO_FUND] + metrics[:, enums.FEES_TO_LIQUIDATORS]
    for field, expected in ((1, scale), (2, penalties), (3, metrics[:, enums.BAD_DEBT])):
        assert_close(
            groups[:, :, field].sum(axis=1),
            expected,
            rtol=0.0,
            atol=float(ATTRIBUTION_SUM_RTOL_PER_NOTIONAL * max(scale.max(), 1.0)),
            what=f"{what}: field {field}",
        )


edge_lists = st.lists(st.floats(0.5, 200.0), min_size=1, max_size=4, unique=True).map(
    lambda values: tuple(sorted(values))
)


@settings(KERNEL_SETTINGS, max_examples=examples(300))
@given(
    case=replay_cases(),
    leverage=edge_lists,
    notional=st.lists(st.floats(10.0, 1e4), min_size=1, max_size=3, unique=True).map(
        lambda values: tuple(sorted(values))
    ),
    steps=st.lists(st.integers(1, 70), min_size=1, max_size=4, unique=True).map(
        lambda values: tuple(sorted(values))
    ),
)
def test_kernel_attribution_matches_reference_and_adds_up(
    case: ReplayCase,
    leverage: tuple[float, ...],
    notional: tuple[float, ...],
    steps: tuple[int, ...],
) -> None:
    discard_near_ties(case)
    book = case.book
    metrics, attributed = run_attributed(
        case.prices,
        book,
        case.margin,
        liquidation_vector(case),
        case.fund_initial,
        (leverage, notional, steps),
    )
    expected = reference_attribution(
        case.prices,
        book.side,
        book.qty,
        book.entry_price,
        book.collateral,
        case.margin,
        (case.latency_steps, case.slippage, case.fee),
        (leverage, notional, tuple(float(step) for step in steps)),
    )
    np.testing.assert_array_equal(attributed[:, :, 0], expected[:, :, 0])
    assert_close(
        attributed[:, :, 1:],
        expected[:, :, 1:],
        rtol=ENGINE_VS_REFERENCE_RTOL,
        atol=ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL * case.scale,
        what="attribution vs reference",
    )
    n_cohorts = attributed.shape[1] - len(steps) - 1
    assert_adds_up(metrics, attributed[:, :n_cohorts], "cohorts")
    assert_adds_up(metrics, attributed[:, n_cohorts:], "flag steps")


def test_hand_computed_case() -> None:
    """Three longs, one path 100 -> 90 -> 80, static margin 0, no latency, no slippage, fee 1%.

    Long A: q 1, e 100, c 20 (5x, notional 100): theta = 80, not breached (P(1-m) = 80 is
    not < 80). Long B: q 1, e 100, c 5 (20x): theta = 95, flagged at step 1 (90 < 95),
    exit 90: equity -5, bad debt 5, penalty 0. Long C: q 10, e 100, c 150 (6.67x,
    notional 1000): theta = 85, flagged at step 2 (80 < 85), exit 80: equity -50, bad
    debt 50. Leverage edges [10], notional edges [500], step edges [2].
    """
    book = Book(
        side=np.array([1, 1, 1], dtype=np.int8),
        qty=np.array([1.0, 1.0, 10.0]),
        entry_price=np.array([100.0, 100.0, 100.0]),
        collateral=np.array([20.0, 5.0, 150.0]),
    )
    prices = np.array([[100.0, 90.0, 80.0]])
    liquidation = np.array([0.0, 0.0, 0.01, 0.5])
    _, attributed = run_attributed(
        prices,
        book,
        {"model": "static", "maintenance": 0.0},
        liquidation,
        0.0,
        ((10.0,), (500.0,), (2,)),
    )
    expected = np.zeros((1, 2 * 4 + 2, 4))
    expected[0, 1 * 2 + 0] = (1, 90.0, 0.0, 5.0)  # long, [10, inf) x, [0, 500) notional: B
    expected[0, 0 * 2 + 1] = (1, 800.0, 0.0, 50.0)  # long, [0, 10) x, [500, inf): C
    expected[0, 8] = (1, 90.0, 0.0, 5.0)  # flagged in steps [0, 2): B
    expected[0, 9] = (1, 800.0, 0.0, 50.0)  # flagged in [2, 3): C
    assert_close(
        attributed, expected, rtol=HAND_COMPUTED_RTOL, atol=HAND_COMPUTED_ATOL, what="hand"
    )


SCENARIO = """
[scenario]
name = "attribution"
seed = 11
[paths]
source = "gbm"
n_paths = 37
n_steps = 60
s0 = 30000.0
sigma = 0.012
[book]
source = "synthetic"
n_positions = 3000
[margin]
model = "vol_scaled"
k = 3.0
horizon_steps = 8
ewma_lambda = 0.94
initial_variance = 0.0001
floor = 0.004
cap = 0.2
[liquidation]
latency_steps = 1
slippage = 0.002
fee = 0.01
liquidator_share = 0.5
[insurance_fund]
initial = 1000000.0
"""


def _scenario(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "attribution.toml"
    path.write_text(SCENARIO + extra)
    return path


def test_files_add_up_to_paths_and_are_deterministic(tmp_path: Path) -> None:
    scenario = load_scenario(_scenario(tmp_path))
    result = run(scenario, chunk_size=5, threads=1)
    result.write(tmp_path / "a")
    run(scenario).write(tmp_path / "b")
    for name in ("attribution.parquet", "attribution_steps.parquet", "paths.parquet"):
        assert_frame_equal(
            pl.read_parquet(tmp_path / "a" / name), pl.read_parquet(tmp_path / "b" / name)
        )
    paths = pl.read_parquet(tmp_path / "a" / "paths.parquet").sort("path")
    for name in ("attribution.parquet", "attribution_steps.parquet"):
        frame = pl.read_parquet(tmp_path / "a" / name)
        totals = frame.group_by("path").agg(pl.col("n_liquidations").sum()).sort("path")
        assert totals["n_liquidations"].to_list() == paths["n_liquidations"].to_list()
    frame = pl.read_parquet(tmp_path / "a" / "attribution.parquet")
    assert frame.height == 37 * 2 * 4 * 3  # paths x sides x leverage x notional buckets (defaults)
    assert frame["n_liquidations"].sum() > 0
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())["attribution"]
    assert summary["available"] is True
    shares = sum(cohort["bad_debt_share"] for cohort in summary["cohorts"])
    assert shares == pytest.approx(1.0) if result.column("bad_debt").sum() > 0 else shares == 0.0
    assert [bucket["step_bucket"] for bucket in summary["flag_steps"]] == [
        "[0, 1)",
        "[1, 15)",
        "[15, 30)",
        "[30, 45)",
        "[45, 61)",
    ]


def test_disabled_and_unsupported_runs_say_why(tmp_path: Path) -> None:
    off = run(load_scenario(_scenario(tmp_path, "[attribution]\nenabled = false\n")))
    off.write(tmp_path / "off")
    assert not (tmp_path / "off" / "attribution.parquet").exists()
    summary = json.loads((tmp_path / "off" / "summary.json").read_text())
    assert summary["attribution"] == {"available": False, "reason": "[attribution] enabled = false"}
    pipeline = load_scenario(_scenario(tmp_path, "[partial_liquidation]\nbuffer = 0.01\n"))
    reason = absent_reason(pipeline)
    assert reason is not None and "partial_liquidation" in reason
    assert AttributionResult.absent(reason).summary() == {"available": False, "reason": reason}


def _raw(tmp_path: Path, extra: str) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(SCENARIO + extra)


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("[attribution]\nleverage_buckets = [5.0, 2.0]\n", "attribution.leverage_buckets"),
        ("[attribution]\nnotional_buckets = [0.0]\n", "attribution.notional_buckets"),
        ("[attribution]\nstep_buckets = [1.5]\n", "attribution.step_buckets"),
        (
            "[attribution]\n[partial_liquidation]\nbuffer = 0.01\n",
            "attribution, partial_liquidation",
        ),
    ],
)
def test_bad_attribution_tables_are_refused(tmp_path: Path, extra: str, key: str) -> None:
    with pytest.raises(InputError) as error:
        scenario_from_dict(_raw(tmp_path, extra), file=None)
    assert error.value.key == key


@settings(deadline=None, max_examples=examples(300))
@given(
    values=st.lists(st.integers(0, 20), max_size=40).map(sorted),
    value=st.integers(-1, 21),
    data=st.data(),
)
def test_galloping_searches_equal_the_binary_ones(
    values: list[int], value: int, data: st.DataObject
) -> None:
    array = np.asarray(values, dtype=np.float64)
    start = data.draw(st.integers(0, len(values)))
    stop = data.draw(st.integers(start, len(values)))
    assert first_greater_from_stop(array, value, start, stop) == first_greater(
        array, value, start, stop
    )
    assert first_not_less_from_start(array, value, start, stop) == first_not_less(
        array, value, start, stop
    )


def test_the_command_line_lists_the_top_cohorts_or_says_why_not(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from stresstest.cli import app

    runner = CliRunner()
    shown = runner.invoke(app, ["run", str(_scenario(tmp_path)), "--out", str(tmp_path / "on")])
    assert shown.exit_code == 0, shown.output
    assert "cohorts with the most bad debt" in shown.output
    summary = json.loads((tmp_path / "on" / "summary.json").read_text())["attribution"]
    worst = max(summary["cohorts"], key=lambda entry: entry["bad_debt_mean"])
    assert worst["leverage_bucket"] in shown.output and worst["notional_bucket"] in shown.output
    off = _scenario(tmp_path, "[attribution]\nenabled = false\n")
    hidden = runner.invoke(app, ["run", str(off), "--out", str(tmp_path / "off")])
    assert hidden.exit_code == 0, hidden.output
    assert "attribution: none ([attribution] enabled = false)" in hidden.output


def test_attribution_with_accounts_is_refused_naming_both() -> None:
    import tomllib

    file = Path(__file__).resolve().parents[1] / "scenarios" / "cross_gbm.toml"
    raw = tomllib.loads(file.read_text())
    scenario_from_dict(raw, file=file)  # valid without the table
    with pytest.raises(InputError) as error:
        scenario_from_dict({**raw, "attribution": {"enabled": True}}, file=file)
    assert error.value.key == "attribution, accounts"
    assert "accounts" in str(error.value) and "[attribution]" in str(error.value)
