"""The records' interleaved searches (kernels/search.py, kernels/records.py; issue 19).

``first_greater_each_of`` / ``first_not_less_each_of`` run the interleaved search of
a subset of the searches. ``records.exit_bounds`` answers each record's two splits
from the records' values when the exit level lies outside the values of the
record's range, and searches only the others: every index must be what the whole
side's search clamped to the record's range gave, in every case. The cases: ties
(in the side, between levels and records: no fee, no slippage, no latency, a zero
margin rate), empty ranges, paths with plateaus, infinities, NaN thresholds (which
``np.sort`` puts last), sides of 0 to a few hundred values.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stresstest.engine.plan import liquidation_arguments, margin_arguments
from stresstest.kernels import records
from stresstest.kernels.search import (
    first_greater_each,
    first_greater_each_of,
    first_not_less_each,
    first_not_less_each_of,
)
from stresstest.scenario.schema import Liquidation, StaticMargin
from tests.tiers import examples

SPECIAL = (np.inf, -np.inf, np.nan)


def plain_count(side: np.ndarray, level: float, strict: bool) -> int:
    """How many of ``side`` are ``< level`` (``strict``) or ``<= level``: the index both
    searches give when the test holds on a prefix of ``side`` (NaN ``level``: none)."""
    return sum(1 for x in side.tolist() if (x < level if strict else x <= level))


@st.composite
def sides(draw: st.DrawFn) -> np.ndarray:
    """A sorted side with many ties; maybe infinities and NaN (last, as np.sort puts it)."""
    size = draw(st.sampled_from([0, 1, 2, 3, 5, 8, 40, 300]))
    distinct = draw(st.integers(1, 12))
    side = np.asarray(draw(st.lists(st.integers(0, distinct), min_size=size, max_size=size)))
    side = side.astype(float) / 2.0
    for value in SPECIAL:
        if size and draw(st.booleans()):
            side[draw(st.integers(0, size - 1))] = value
    return np.sort(side)


@given(
    side=sides(),
    levels=st.lists(
        st.one_of(st.integers(-4, 30).map(lambda q: q / 4.0), st.sampled_from(SPECIAL)),
        max_size=24,
    ),
    chosen=st.lists(st.booleans(), min_size=24, max_size=24),
)
@settings(deadline=None, database=None, max_examples=examples(500))
def test_searches_of_a_subset_equal_the_plain_count(
    side: np.ndarray, levels: list[float], chosen: list[bool]
) -> None:
    values = np.asarray(levels, dtype=float)
    count = values.shape[0]
    pending = np.asarray([k for k in range(count) if chosen[k]] + [-1], dtype=np.int64)
    n_pending = pending.shape[0] - 1
    for strict, each, each_of in (
        (False, first_greater_each, first_greater_each_of),
        (True, first_not_less_each, first_not_less_each_of),
    ):
        whole = np.full(count + 1, -7, dtype=np.int64)
        each(side, values, count, whole)
        subset = np.full(count, -7, dtype=np.int64)
        each_of(side, values, pending, n_pending, subset)
        assert whole[count] == -7
        for k in range(count):
            expected = plain_count(side, values[k], strict) if not np.isnan(values[k]) else 0
            assert whole[k] == expected, (strict, k)
            assert subset[k] == (expected if chosen[k] else -7), (strict, k)


def reference_splits(
    prices: np.ndarray,
    liquidation: Liquidation,
    long_side: np.ndarray,
    short_side: np.ndarray,
    values: np.ndarray,
    marks: np.ndarray,
    n_long: int,
    n_short: int,
) -> dict[int, list[int]]:
    """The rows ``RECORD_*_BOUND`` .. ``RECORD_SHORT_PARTIAL`` as the code before gave
    them: each search over the whole side, clamped to the record's range (plain
    Python counts over the sorted side)."""
    last = prices.shape[0] - 1
    latency, slippage, fee = liquidation.latency_steps, liquidation.slippage, liquidation.fee
    rows: dict[int, list[int]] = {
        row: []
        for row in (
            records.RECORD_LONG_BOUND,
            records.RECORD_LONG_FULL,
            records.RECORD_LONG_PARTIAL,
            records.RECORD_SHORT_BOUND,
            records.RECORD_SHORT_BAD,
            records.RECORD_SHORT_PARTIAL,
        )
    }
    stop = long_side.shape[0]
    for k in range(n_long):
        start = plain_count(long_side, values[records.RECORD_LONG, k], False)
        exit_price = prices[min(marks[records.RECORD_LONG, k] + latency, last)] * (1.0 - slippage)
        full = min(max(plain_count(long_side, exit_price * (1.0 - fee), False), start), stop)
        partial = min(max(plain_count(long_side, exit_price, False), full), stop)
        rows[records.RECORD_LONG_BOUND].append(start)
        rows[records.RECORD_LONG_FULL].append(full)
        rows[records.RECORD_LONG_PARTIAL].append(partial)
        stop = start
    start = 0
    for k in range(n_short):
        stop = plain_count(short_side, values[records.RECORD_SHORT, k], True)
        exit_price = prices[min(marks[records.RECORD_SHORT, k] + latency, last)] * (1.0 + slippage)
        bad = min(max(plain_count(short_side, exit_price, True), start), stop)
        partial = min(max(plain_count(short_side, exit_price * (1.0 + fee), True), bad), stop)
        rows[records.RECORD_SHORT_BOUND].append(stop)
        rows[records.RECORD_SHORT_BAD].append(bad)
        rows[records.RECORD_SHORT_PARTIAL].append(partial)
        start = stop
    return rows


@given(
    long_side=sides(),
    short_side=sides(),
    moves=st.lists(st.integers(-3, 3), min_size=1, max_size=40),
    maintenance=st.sampled_from([0.0, 0.0, 0.05, 0.1]),
    latency=st.integers(0, 3),
    slippage=st.sampled_from([0.0, 0.0, 0.01, 0.1]),
    fee=st.sampled_from([0.0, 0.0, 0.02, 0.2]),
    nan_steps=st.lists(st.integers(0, 40), max_size=3),
)
@settings(deadline=None, database=None, max_examples=examples(500))
def test_exit_splits_equal_the_whole_sides_search_clamped(
    long_side: np.ndarray,
    short_side: np.ndarray,
    moves: list[int],
    maintenance: float,
    latency: int,
    slippage: float,
    fee: float,
    nan_steps: list[int],
) -> None:
    """records.path_records against the searches of the code before, index for index.

    Prices on a grid of halves near the sides' values (plateaus: a move of 0), so that
    exit levels, records and thresholds tie often; a few NaN prices (never a record,
    a NaN exit level when a record closes at one)."""
    prices = 3.0 + np.cumsum(np.asarray(moves, dtype=float)) / 2.0
    prices = np.maximum(prices, 0.5)
    prices[[step for step in nan_steps if step < prices.shape[0]]] = np.nan
    liquidation = Liquidation(latency_steps=latency, slippage=slippage, fee=fee)
    margin = margin_arguments(StaticMargin(maintenance=maintenance))
    _, values, marks, n_long, n_short = records.path_records(
        prices,
        margin,
        liquidation_arguments(liquidation),
        prices[:0],
        long_side,
        np.zeros((long_side.shape[0] + 1, 4)),  # the closes' sums are not checked here
        short_side,
        np.zeros((short_side.shape[0] + 1, 4)),
        False,
    )
    expected = reference_splits(
        prices, liquidation, long_side, short_side, values, marks, n_long, n_short
    )
    for row, indices in expected.items():
        assert marks[row, : len(indices)].tolist() == indices, row
