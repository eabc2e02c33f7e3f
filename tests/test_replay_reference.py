"""The compiled replay kernels against the plain reference of docs/model.md.

``replay_paths`` (sorted book, threshold form, range sums) and
``dense_replay_paths`` (position by position, direct form) are both compared,
column by column, with ``tests.reference.reference_replay`` on random small books
and paths; then the sorted kernel is compared with its dense twin on a large
synthetic book where liquidations, bad debt and fund depletion certainly happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stresstest.book import Book, sort_book
from stresstest.book.synthetic import synthetic_book
from stresstest.engine.run import margin_arguments
from stresstest.kernels import enums
from stresstest.kernels.dense import dense_replay_paths
from stresstest.kernels.enums import N_GRID
from stresstest.kernels.replay import replay_paths
from stresstest.paths.gbm import GbmPathSource
from stresstest.scenario import schema
from tests.reference import reference_replay, smallest_breach_gap
from tests.tiers import examples
from tests.tolerances import (
    ENGINE_VS_DENSE_RTOL,
    ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL,
    ENGINE_VS_REFERENCE_RTOL,
    assert_close,
)

#: Cases where some position's equity is within this fraction of its notional of
#: its requirement (at a step up to its first breach) are discarded: the engine
#: evaluates the breach in the threshold form ``P (1 - m) < theta`` (docs/model.md
#: 4.1), which is rounded differently from the reference's ``E < R``, so such a
#: position may legitimately be flagged one step apart by the two.
NEAR_TIE_RELATIVE_GAP = 1e-9

#: Hypothesis settings for the JIT-compiled kernels (the first call compiles).
KERNEL_SETTINGS = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass(frozen=True)
class ReplayCase:
    """One random book, set of paths and liquidation design."""

    prices: np.ndarray  # (n_paths, T + 1), quote per base
    book: Book
    margin: dict[str, Any]  # the scenario's [margin] table
    latency_steps: int
    slippage: float
    fee: float
    liquidator_share: float
    fund_initial: float  # quote units

    @property
    def scale(self) -> float:
        """Sum of ``q * max price`` plus the fund (quote units): the size of every money column."""
        return float(np.sum(self.book.qty) * np.max(self.prices) + self.fund_initial)


def margin_config(margin: dict[str, Any]) -> schema.MarginConfig:
    """The validated dataclass of a ``[margin]`` table given as a dict."""
    if margin["model"] == "static":
        return schema.StaticMargin(**margin)
    return schema.VolScaledMargin(**margin)


def liquidation_tail(case: ReplayCase) -> tuple[int, float, float, float]:
    """The plain references' liquidation arguments."""
    return (case.latency_steps, case.slippage, case.fee, case.liquidator_share)


def liquidation_vector(case: ReplayCase) -> np.ndarray:
    """The kernels' liquidation vector (``enums.LIQUIDATION_ARG_*``)."""
    return np.asarray(liquidation_tail(case), dtype=np.float64)


def run_sorted_kernel(case: ReplayCase, vol_floor_variance: float = 0.0) -> np.ndarray:
    """The engine's kernel on the sorted book, ``(n_paths, N_METRICS)``.

    ``vol_floor_variance`` is the APC variance floor ``f`` (docs/model.md 3.1), per step.
    """
    sorted_book = sort_book(case.book)
    n_paths = case.prices.shape[0]
    out = np.full((n_paths, enums.N_METRICS), np.nan)
    arguments: list[Any] = [
        np.ascontiguousarray(case.prices),
        margin_arguments(margin_config(case.margin), vol_floor_variance=vol_floor_variance),
        liquidation_vector(case),
        sorted_book.long_threshold,
        sorted_book.long_prefix,
        sorted_book.short_threshold,
        sorted_book.short_prefix,
        case.fund_initial,
    ]
    # Record no grid steps: only the per-path metrics are compared here.
    grid = np.empty(0, dtype=np.int64)
    replay_paths(*arguments, grid, out, np.empty((n_paths, N_GRID, 0)))
    return out


def run_dense_kernel(case: ReplayCase) -> np.ndarray:
    """The dense compiled twin on the unsorted book, ``(n_paths, N_METRICS)``."""
    out = np.full((case.prices.shape[0], enums.N_METRICS), np.nan)
    dense_replay_paths(
        np.ascontiguousarray(case.prices),
        margin_arguments(margin_config(case.margin)),
        liquidation_vector(case),
        case.book.side,
        case.book.qty,
        case.book.entry_price,
        case.book.collateral,
        case.fund_initial,
        out,
    )
    return out


def run_reference(case: ReplayCase) -> np.ndarray:
    book = case.book
    return reference_replay(
        case.prices,
        book.side,
        book.qty,
        book.entry_price,
        book.collateral,
        case.margin,
        case.latency_steps,
        case.slippage,
        case.fee,
        case.liquidator_share,
        case.fund_initial,
    )


def assert_metrics_close(
    actual: np.ndarray, expected: np.ndarray, *, rtol: float, scale: float, what: str
) -> None:
    """Compare every column; money columns get an absolute floor proportional to ``scale``.

    The count must match exactly and the margin rate (a fraction of notional) gets
    the per-notional floor itself: a money-sized floor would make both vacuous.
    """
    assert actual.shape == expected.shape
    for index, name in enumerate(enums.METRIC_NAMES):
        if index == enums.N_LIQUIDATIONS:
            atol = 0.0
        elif index == enums.MARGIN_RATE_MEAN:
            atol = ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL
        else:
            atol = ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL * scale
        assert_close(
            actual[:, index], expected[:, index], rtol=rtol, atol=atol, what=f"{what}: {name}"
        )


unit_floats = st.floats(min_value=0.0, max_value=1.0)


@st.composite
def margin_tables(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        return {"model": "static", "maintenance": draw(st.floats(0.0, 0.3))}
    floor = draw(st.floats(0.0, 0.2))
    return {
        "model": "vol_scaled",
        "k": draw(st.floats(0.1, 5.0)),
        "horizon_steps": draw(st.integers(1, 24)),
        "ewma_lambda": draw(st.floats(0.5, 0.99)),
        "initial_variance": draw(st.floats(0.0, 0.01)),
        "floor": floor,
        "cap": draw(st.floats(floor, 0.5)),
    }


@st.composite
def replay_cases(draw: st.DrawFn) -> ReplayCase:
    """Small books (1-40 positions) over 1-6 paths of 1-60 steps.

    Structure and parameters are drawn by hypothesis; the bulk values come from a
    numpy generator seeded by it. Paths mix diffusion with jumps of up to e^1.5
    either way, so gaps past bankruptcy (bad debt) and fund depletion occur.
    Collateral can be 0 and leverage below 1.
    """
    n_paths = draw(st.integers(1, 6))
    n_steps = draw(st.integers(1, 60))
    n_positions = draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**63 - 1)))

    s0 = 100.0 * np.exp(draw(st.floats(-3.0, 3.0)))
    step_vol = draw(st.floats(0.0, 0.08))
    jump_probability = draw(st.floats(0.0, 0.3))
    jump_size = draw(st.floats(0.05, 1.5))
    shocks = step_vol * rng.standard_normal((n_paths, n_steps))
    jumps = rng.random((n_paths, n_steps)) < jump_probability
    shocks += (
        jumps
        * jump_size
        * rng.uniform(0.5, 1.0, (n_paths, n_steps))
        * rng.choice([-1.0, 1.0], (n_paths, n_steps))
    )
    log_price = np.clip(np.cumsum(shocks, axis=1), -4.0, 3.0)
    prices = s0 * np.exp(np.concatenate([np.zeros((n_paths, 1)), log_price], axis=1))

    long_fraction = draw(unit_floats)
    leverage_min = draw(st.floats(0.3, 1.0))  # leverage < 1: collateral above notional
    leverage_max = draw(st.floats(1.0, 100.0))
    entry_dispersion = draw(st.floats(0.0, 0.3))
    zero_collateral_fraction = draw(st.sampled_from([0.0, 0.3, 1.0]))
    side = np.where(rng.random(n_positions) < long_fraction, 1, -1).astype(np.int8)
    leverage = np.exp(rng.uniform(np.log(leverage_min), np.log(leverage_max), n_positions))
    notional = 1000.0 * np.exp(rng.standard_normal(n_positions))
    entry = s0 * np.exp(entry_dispersion * rng.standard_normal(n_positions))
    collateral = notional / leverage
    collateral[rng.random(n_positions) < zero_collateral_fraction] = 0.0
    book = Book(side=side, qty=notional / entry, entry_price=entry, collateral=collateral)

    fund_fraction = draw(st.sampled_from([0.0, 1e-4, 1e-3, 1e-2, 0.1, 1.0]))
    return ReplayCase(
        prices=prices,
        book=book,
        margin=draw(margin_tables()),
        latency_steps=draw(st.integers(0, n_steps + 3)),
        slippage=draw(st.floats(0.0, 0.05)),
        fee=draw(st.floats(0.0, 0.1)),
        liquidator_share=draw(unit_floats),
        fund_initial=fund_fraction * float(np.sum(notional)),
    )


def discard_near_ties(case: ReplayCase) -> None:
    book = case.book
    gap = smallest_breach_gap(
        case.prices, book.side, book.qty, book.entry_price, book.collateral, case.margin
    )
    assume(gap > NEAR_TIE_RELATIVE_GAP)


@settings(KERNEL_SETTINGS, max_examples=examples(600))
@given(case=replay_cases())
def test_sorted_kernel_matches_reference(case: ReplayCase) -> None:
    discard_near_ties(case)
    assert_metrics_close(
        run_sorted_kernel(case),
        run_reference(case),
        rtol=ENGINE_VS_REFERENCE_RTOL,
        scale=case.scale,
        what="replay_paths vs reference",
    )


@settings(KERNEL_SETTINGS, max_examples=examples(300))
@given(case=replay_cases())
def test_dense_kernel_matches_reference(case: ReplayCase) -> None:
    discard_near_ties(case)
    assert_metrics_close(
        run_dense_kernel(case),
        run_reference(case),
        rtol=ENGINE_VS_REFERENCE_RTOL,
        scale=case.scale,
        what="dense_replay_paths vs reference",
    )


LARGE_SEED = 20240611
LARGE_MARGINS: dict[str, dict[str, Any]] = {
    "static": {"model": "static", "maintenance": 0.01},
    "vol_scaled": {
        "model": "vol_scaled",
        "k": 3.0,
        "horizon_steps": 8,
        "ewma_lambda": 0.94,
        "initial_variance": 1e-4,
        "floor": 0.005,
        "cap": 0.3,
    },
}


@pytest.fixture(scope="module")
def large_case_inputs() -> tuple[np.ndarray, Book]:
    """20,000 synthetic positions and 20 GBM paths of 200 steps (sigma 1.5% per step)."""
    paths = GbmPathSource(
        schema.GbmPaths(s0=100.0, sigma=0.015, n_paths=20, n_steps=200), LARGE_SEED
    )
    book = synthetic_book(
        schema.SyntheticBook(n_positions=20_000, leverage_max=100.0, entry_dispersion=0.02),
        LARGE_SEED,
        paths.start_price(),
    )
    return paths.chunk(0, paths.n_paths), book


@pytest.mark.parametrize("margin_name", sorted(LARGE_MARGINS))
def test_sorted_kernel_matches_dense_on_large_book(
    large_case_inputs: tuple[np.ndarray, Book], margin_name: str
) -> None:
    prices, book = large_case_inputs
    case = ReplayCase(
        prices=prices,
        book=book,
        margin=LARGE_MARGINS[margin_name],
        latency_steps=3,
        slippage=0.002,
        fee=0.01,
        liquidator_share=0.5,
        fund_initial=2e4,
    )
    sorted_result = run_sorted_kernel(case)
    dense_result = run_dense_kernel(case)
    # The comparison must be able to fail: the design liquidates, leaves bad
    # debt and exhausts the fund on some paths.
    assert sorted_result[:, enums.N_LIQUIDATIONS].min() > 100
    assert (sorted_result[:, enums.BAD_DEBT] > 0.0).mean() > 0.5
    assert (sorted_result[:, enums.SOCIALIZED_LOSS] > 0.0).any()
    assert_metrics_close(
        sorted_result,
        dense_result,
        rtol=ENGINE_VS_DENSE_RTOL,
        scale=case.scale,
        what=f"replay_paths vs dense ({margin_name})",
    )
