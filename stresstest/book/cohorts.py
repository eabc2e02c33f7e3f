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
from stresstest.kernels.book_order import cohort_order, side_cohorts


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


def side_cohorts_of(
    book: Book, leverage_edges: np.ndarray, notional_edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each position's cohort, ``leverage_bucket x n_notional + notional_bucket``, by side.

    Buckets are left-closed (``edges[b - 1] <= value < edges[b]``) on the entry
    leverage ``q e / c`` (``inf`` without collateral) and the entry notional ``q e``;
    the longs' cohorts and the shorts', each side in book order, from one pass over
    the book (:func:`~stresstest.kernels.book_order.side_cohorts`).
    """
    return side_cohorts(
        np.ascontiguousarray(book.side),
        np.ascontiguousarray(book.qty, dtype=np.float64),
        np.ascontiguousarray(book.entry_price, dtype=np.float64),
        np.ascontiguousarray(book.collateral, dtype=np.float64),
        np.ascontiguousarray(leverage_edges, dtype=np.float64),
        np.ascontiguousarray(notional_edges, dtype=np.float64),
    )


def _cohort_side(
    qty: np.ndarray,
    threshold: np.ndarray,
    by_threshold: np.ndarray,
    cohort: np.ndarray,
    n_cohorts: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # By cohort, then threshold, stable: np.lexsort((threshold, cohort)), but from the
    # threshold order the book was sorted by, re-sorted by cohort number in one
    # counting sort (at most 33 x 33 cohorts).
    order, bounds = cohort_order(by_threshold, cohort, n_cohorts)
    sorted_threshold, prefix = sorted_side(qty, threshold, order)
    return sorted_threshold, prefix, bounds


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
    sides = orders or threshold_orders(book)
    long_cohort, short_cohort = side_cohorts_of(book, leverage_edges, notional_edges)
    n_cohorts = (leverage_edges.shape[0] + 1) * (notional_edges.shape[0] + 1)
    long_side = _cohort_side(
        sides.long_qty, sides.long_threshold, sides.long_order, long_cohort, n_cohorts
    )
    short_side = _cohort_side(
        sides.short_qty, sides.short_threshold, sides.short_order, short_cohort, n_cohorts
    )
    return CohortBook(*long_side, *short_side)
