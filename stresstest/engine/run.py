"""Run a scenario: prepare the book, stream path chunks through the replay kernel."""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np

from stresstest.book import Book, SortedBook, sort_book
from stresstest.book.positions import read_book
from stresstest.book.synthetic import synthetic_book
from stresstest.engine.result import BookStats, Result
from stresstest.errors import InputError
from stresstest.kernels import enums
from stresstest.kernels.replay import replay_paths
from stresstest.paths import PathSource, path_source
from stresstest.scenario import schema

#: Prices held in memory at once, in float64 values (64 MB).
CHUNK_BUDGET_VALUES = 8_000_000

Progress = Callable[[int, int], None]


def build_book(scenario: schema.Scenario, start_price: float) -> Book:
    """The book a scenario's ``[book]`` table describes."""
    config = scenario.book
    if isinstance(config, schema.SyntheticBook):
        return synthetic_book(config, scenario.seed, start_price)
    return read_book(config.file)


def margin_arguments(
    margin: schema.MarginConfig,
) -> tuple[int, float, float, float, float, float, float, float]:
    """Kernel arguments ``(model, maintenance, k, horizon, lambda, v0, floor, cap)``."""
    if isinstance(margin, schema.StaticMargin):
        return (enums.MARGIN_STATIC, margin.maintenance, 0.0, 1.0, 0.5, 0.0, 0.0, 0.0)
    return (
        enums.MARGIN_VOL_SCALED,
        0.0,
        margin.k,
        float(margin.horizon_steps),
        margin.ewma_lambda,
        margin.initial_variance,
        margin.floor,
        margin.cap,
    )


def default_chunk_size(n_paths: int, n_steps: int) -> int:
    """Paths per chunk so that one chunk of prices takes about 64 MB."""
    return max(1, min(n_paths, CHUNK_BUDGET_VALUES // (n_steps + 1)))


def run(
    scenario: schema.Scenario,
    *,
    chunk_size: int | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
) -> Result:
    """Replay the scenario's book over all its paths.

    Parameters
    ----------
    chunk_size
        Paths generated and replayed at once; memory is O(positions + chunk x steps).
        Results do not depend on it.
    threads
        Numba threads; results do not depend on it.
    progress
        Called as ``progress(paths_done, n_paths)`` after each chunk.
    """
    if chunk_size is not None and chunk_size < 1:
        raise InputError(
            "chunk size must be positive",
            key="chunk_size",
            value=chunk_size,
            expected="an integer >= 1",
        )
    if threads is not None:
        if not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
            raise InputError(
                "thread count out of range",
                key="threads",
                value=threads,
                expected=f"an integer from 1 to {numba.config.NUMBA_NUM_THREADS}",
            )
        numba.set_num_threads(threads)
    source = path_source(scenario)
    book = build_book(scenario, source.start_price())
    sorted_book = sort_book(book)
    metrics = replay_all(scenario, source, sorted_book, chunk_size=chunk_size, progress=progress)
    stats = BookStats(n_positions=len(book), n_long=book.n_long, entry_notional=book.entry_notional)
    return Result(scenario=scenario, path_ids=source.path_ids(), metrics=metrics, book=stats)


def replay_all(
    scenario: schema.Scenario,
    source: PathSource,
    sorted_book: SortedBook,
    *,
    chunk_size: int | None,
    progress: Progress | None,
) -> np.ndarray:
    """Stream every chunk of paths through the replay kernel; ``(n_paths, N_METRICS)``."""
    n_paths = source.n_paths
    size = chunk_size or default_chunk_size(n_paths, source.n_steps)
    metrics = np.empty((n_paths, enums.N_METRICS))
    margin = margin_arguments(scenario.margin)
    liquidation = scenario.liquidation
    for first in range(0, n_paths, size):
        count = min(size, n_paths - first)
        prices = source.chunk(first, count)
        replay_paths(
            prices,
            *margin,
            liquidation.latency_steps,
            liquidation.slippage,
            liquidation.fee,
            liquidation.liquidator_share,
            sorted_book.long_threshold,
            sorted_book.long_prefix,
            sorted_book.short_threshold,
            sorted_book.short_prefix,
            scenario.insurance_fund.initial,
            metrics[first : first + count],
        )
        if progress is not None:
            progress(first + count, n_paths)
    return metrics
