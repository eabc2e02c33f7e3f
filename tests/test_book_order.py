"""The one-pass book kernels give numpy's selections, sorts and sums bit for bit.

``threshold_orders``, ``sort_book`` and ``cohort_book`` (book/) split the book by
side, bucket it into cohorts and gather each side's prefix sums with the kernels of
stresstest/kernels/book_order.py and ``gathered_prefix_sums``. Every sorted book,
cohort book and result file depends on them giving exactly what the plain numpy
formulation below gives (boolean selection, ``np.searchsorted``, ``np.argsort``
stable, ``compensated_prefix_sums`` of the gathered arrays): compared on random
books with ties, zero collateral and values on the bucket edges, and by hand.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stresstest.book.cohorts import cohort_book, side_cohorts_of
from stresstest.book.positions import Book
from stresstest.book.sorted_book import sort_book, sorted_side, threshold_orders
from stresstest.kernels.book_order import bucket, cohort_order
from stresstest.kernels.sums import compensated_prefix_sums, gathered_prefix_sums
from tests.tiers import examples

LEVERAGE_EDGES = np.array([5.0, 10.0, 25.0])
NOTIONAL_EDGES = np.array([10_000.0, 100_000.0])


def numpy_thresholds(book: Book) -> tuple[np.ndarray, np.ndarray]:
    """``(is_long, threshold)``: ``e - c / q`` of longs, ``e + c / q`` of shorts."""
    is_long = book.side == 1
    margin_per_unit = book.collateral / book.qty
    threshold = np.where(
        is_long, book.entry_price - margin_per_unit, book.entry_price + margin_per_unit
    )
    return is_long, threshold


def numpy_cohorts(book: Book, leverage_edges: np.ndarray, notional_edges: np.ndarray) -> np.ndarray:
    """Cohort of every position by ``np.searchsorted`` (side ``right``) of leverage and notional."""
    notional = book.qty * book.entry_price
    with np.errstate(divide="ignore"):
        leverage = np.where(book.collateral > 0.0, notional / book.collateral, np.inf)
    n_notional = notional_edges.shape[0] + 1
    leverage_bucket = np.searchsorted(leverage_edges, leverage, side="right").astype(np.int64)
    return leverage_bucket * n_notional + np.searchsorted(notional_edges, notional, side="right")


def numpy_side(
    qty: np.ndarray, threshold: np.ndarray, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gathered copies, then the compensated prefix sums of ``q`` and ``q * threshold``."""
    sorted_qty, sorted_threshold = qty[order], threshold[order]
    prefix = np.empty((order.shape[0] + 1, 4))
    prefix[:, 0], prefix[:, 1] = compensated_prefix_sums(sorted_qty)
    prefix[:, 2], prefix[:, 3] = compensated_prefix_sums(sorted_qty * sorted_threshold)
    return sorted_threshold, prefix


@st.composite
def books(draw: st.DrawFn) -> Book:
    """Small books with tied thresholds, zero collateral and notionals on the edges."""
    n = draw(st.integers(0, 60))
    prices = st.sampled_from([100.0, 1_000.0, 2_000.0, 30_000.0])
    quantities = st.sampled_from([0.5, 1.0, 3.0, 10.0, 100.0]) | st.floats(1e-3, 1e3)
    collaterals = st.sampled_from([0.0, 100.0, 400.0, 2_000.0]) | st.floats(1e-6, 1e5)
    side = np.array(draw(st.lists(st.sampled_from([1, -1]), min_size=n, max_size=n)), np.int8)
    qty = np.array(draw(st.lists(quantities, min_size=n, max_size=n)), dtype=np.float64)
    entry = np.array(draw(st.lists(prices, min_size=n, max_size=n)), dtype=np.float64)
    collateral = np.array(draw(st.lists(collaterals, min_size=n, max_size=n)), dtype=np.float64)
    return Book(side=side, qty=qty, entry_price=entry, collateral=collateral)


def assert_sides_equal(actual: tuple[np.ndarray, ...], expected: tuple[np.ndarray, ...]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@settings(deadline=None, database=None, max_examples=examples(300))
@given(books())
def test_threshold_orders_equal_numpy(book: Book) -> None:
    """Each side's quantities and thresholds as boolean selection gives them, sorted as numpy."""
    sides = threshold_orders(book)
    is_long, threshold = numpy_thresholds(book)
    assert_sides_equal(
        (sides.long_qty, sides.long_threshold, sides.short_qty, sides.short_threshold),
        (book.qty[is_long], threshold[is_long], book.qty[~is_long], threshold[~is_long]),
    )
    np.testing.assert_array_equal(sides.long_order, np.argsort(threshold[is_long], kind="stable"))
    np.testing.assert_array_equal(sides.short_order, np.argsort(threshold[~is_long], kind="stable"))


@settings(deadline=None, database=None, max_examples=examples(300))
@given(books())
def test_sorted_and_cohort_books_equal_numpy(book: Book) -> None:
    """The sorted book and the cohort book, bit for bit, from the plain numpy formulation."""
    is_long, threshold = numpy_thresholds(book)
    cohort = numpy_cohorts(book, LEVERAGE_EDGES, NOTIONAL_EDGES)
    n_cohorts = (LEVERAGE_EDGES.shape[0] + 1) * (NOTIONAL_EDGES.shape[0] + 1)
    sorted_book = sort_book(book)
    cohorts = cohort_book(book, LEVERAGE_EDGES, NOTIONAL_EDGES)
    expected_sorted: list[np.ndarray] = []
    expected_cohorts: list[np.ndarray] = []
    for mask in (is_long, ~is_long):
        qty, level, side_cohort = book.qty[mask], threshold[mask], cohort[mask]
        expected_sorted += numpy_side(qty, level, np.argsort(level, kind="stable"))
        by_cohort = np.lexsort((level, side_cohort))  # stable: ties in book order
        bounds = np.searchsorted(side_cohort[by_cohort], np.arange(n_cohorts + 1), side="left")
        expected_cohorts += [*numpy_side(qty, level, by_cohort), bounds.astype(np.int64)]
    assert_sides_equal(
        (
            sorted_book.long_threshold,
            sorted_book.long_prefix,
            sorted_book.short_threshold,
            sorted_book.short_prefix,
        ),
        tuple(expected_sorted),
    )
    assert_sides_equal(
        (
            cohorts.long_threshold,
            cohorts.long_prefix,
            cohorts.long_bounds,
            cohorts.short_threshold,
            cohorts.short_prefix,
            cohorts.short_bounds,
        ),
        tuple(expected_cohorts),
    )


@settings(deadline=None, database=None, max_examples=examples(300))
@given(books(), st.sampled_from([(1.0,), (5.0, 10.0, 25.0), (2.0, 3.0, 4.0, np.inf)]))
def test_side_cohorts_equal_searchsorted(book: Book, leverage_edges: tuple[float, ...]) -> None:
    """Cohorts by side as ``np.searchsorted`` buckets them, ``inf`` leverage and edges included."""
    edges = np.array(leverage_edges)
    long_cohort, short_cohort = side_cohorts_of(book, edges, NOTIONAL_EDGES)
    cohort = numpy_cohorts(book, edges, NOTIONAL_EDGES)
    assert_sides_equal(
        (long_cohort, short_cohort), (cohort[book.side == 1], cohort[book.side != 1])
    )


def test_buckets_by_hand() -> None:
    """Left-closed: an edge opens its bucket; NaN and ``inf`` past the last edge."""
    edges = np.array([5.0, 10.0, 25.0])
    values = [0.0, 4.999, 5.0, 9.0, 10.0, 25.0, 1e300, np.inf, np.nan]
    assert [bucket(value, edges) for value in values] == [0, 0, 1, 1, 2, 3, 3, 3, 3]
    assert [bucket(value, edges) for value in values] == list(
        np.searchsorted(edges, values, side="right")
    )


def test_cohort_order_by_hand() -> None:
    """Threshold order 2, 0, 3, 1, 4 re-sorted by cohort, ties in threshold order."""
    by_threshold = np.array([2, 0, 3, 1, 4])
    cohort = np.array([1, 0, 1, 3, 0])  # by position
    order, bounds = cohort_order(by_threshold, cohort, 4)
    np.testing.assert_array_equal(order, [1, 4, 2, 0, 3])
    np.testing.assert_array_equal(bounds, [0, 2, 4, 4, 5])


def test_gathered_prefix_sums_by_hand() -> None:
    """``(q, q theta)`` prefixes in the given order; the compensation keeps what ``hi`` drops."""
    qty = np.array([1.0, 1e16, 2.0])
    threshold = np.array([3.0, 1.0, 0.5])
    sorted_threshold, prefix = gathered_prefix_sums(qty, threshold, np.array([1, 0, 2]))
    np.testing.assert_array_equal(sorted_threshold, [1.0, 3.0, 0.5])
    np.testing.assert_array_equal(prefix[:, 0], [0.0, 1e16, 1e16, 1e16 + 2.0])
    np.testing.assert_array_equal(prefix[:, 1], [0.0, 0.0, 1.0, 1.0])  # 1e16 + 1 rounds to 1e16
    np.testing.assert_array_equal(prefix[:, 2], [0.0, 1e16, 1e16 + 4.0, 1e16 + 4.0])
    np.testing.assert_array_equal(prefix[:, 3], [0.0, 0.0, -1.0, 0.0])
    default_threshold, default_prefix = sorted_side(qty, threshold)  # ascending threshold
    np.testing.assert_array_equal(default_threshold, [0.5, 1.0, 3.0])
    np.testing.assert_array_equal(default_prefix[1], [2.0, 0.0, 1.0, 0.0])
