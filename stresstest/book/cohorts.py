"""The book by cohort: side x leverage bucket x notional bucket, each sorted by threshold.

Within a side, positions are ordered by cohort, then by breach threshold (the
order of :func:`~stresstest.book.sorted_book.sort_book` inside each cohort), so
each cohort is one contiguous sorted range with its own double-double prefix sums
(docs/model.md 6b). Memory is that of one more sorted book: O(N), not K x N.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stresstest.book.positions import Book
from stresstest.book.sorted_book import ThresholdOrders, sorted_side, threshold_orders


@dataclass(frozen=True)
class CohortBook:
    """Each side sorted by (cohort, threshold), with the cohorts' bounds.

    Cohort ``j`` of the longs is ``[long_bounds[j], long_bounds[j + 1])`` of
    ``long_threshold`` (ascending on it); the same for the shorts. A side has
    ``n_leverage x n_notional`` cohorts, ``j = leverage_bucket x n_notional +
    notional_bucket``, empty ones included.
    """

    long_threshold: np.ndarray
    long_prefix: np.ndarray
    long_bounds: np.ndarray
    short_threshold: np.ndarray
    short_prefix: np.ndarray
    short_bounds: np.ndarray


def bucket_of(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Left-closed buckets: ``b`` with ``edges[b - 1] <= value < edges[b]`` (0 below the first)."""
    return np.searchsorted(edges, values, side="right").astype(np.int64)


def leverage_and_notional(book: Book) -> tuple[np.ndarray, np.ndarray]:
    """Entry leverage ``q e / c`` (``inf`` if no collateral) and entry notional ``q e`` (quote)."""
    notional = book.qty * book.entry_price
    with np.errstate(divide="ignore"):
        leverage = np.where(book.collateral > 0.0, notional / book.collateral, np.inf)
    return leverage, notional


def cohort_of(book: Book, leverage_edges: np.ndarray, notional_edges: np.ndarray) -> np.ndarray:
    """Each position's cohort in its side: ``leverage_bucket x n_notional + notional_bucket``."""
    leverage, notional = leverage_and_notional(book)
    n_notional = notional_edges.shape[0] + 1
    cohort: np.ndarray = bucket_of(leverage, leverage_edges) * n_notional
    cohort += bucket_of(notional, notional_edges)
    return cohort


def _cohort_side(
    qty: np.ndarray,
    threshold: np.ndarray,
    by_threshold: np.ndarray,
    cohort: np.ndarray,
    n_cohorts: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # By cohort, then threshold, stable: np.lexsort((threshold, cohort)), but from the
    # threshold order the book was sorted by, and the second pass sorts small integers
    # (at most 33 x 33 cohorts), which numpy radix-sorts in O(N).
    order = by_threshold[np.argsort(cohort[by_threshold].astype(np.int16), kind="stable")]
    sorted_threshold, prefix = sorted_side(qty, threshold, order)
    bounds = np.searchsorted(cohort[order], np.arange(n_cohorts + 1), side="left")
    return sorted_threshold, prefix, bounds.astype(np.int64)


def cohort_book(
    book: Book,
    leverage_edges: np.ndarray,
    notional_edges: np.ndarray,
    orders: ThresholdOrders | None = None,
) -> CohortBook:
    """Sort each side of ``book`` by cohort, then breach threshold.

    O(N) given the threshold ``orders`` of :func:`~stresstest.book.sorted_book.threshold_orders`
    (the sort of :func:`~stresstest.book.sorted_book.sort_book`), else it sorts them first.
    """
    is_long, threshold, long_order, short_order = orders or threshold_orders(book)
    cohort = cohort_of(book, leverage_edges, notional_edges)
    n_cohorts = (leverage_edges.shape[0] + 1) * (notional_edges.shape[0] + 1)
    long_side = _cohort_side(
        book.qty[is_long], threshold[is_long], long_order, cohort[is_long], n_cohorts
    )
    short_side = _cohort_side(
        book.qty[~is_long], threshold[~is_long], short_order, cohort[~is_long], n_cohorts
    )
    return CohortBook(*long_side, *short_side)
