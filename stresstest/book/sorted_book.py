"""The book sorted by breach threshold, with compensated prefix sums, for the replay kernel."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stresstest.book.positions import Book
from stresstest.kernels.sort import stable_argsort
from stresstest.kernels.sums import compensated_prefix_sums


@dataclass(frozen=True)
class SortedBook:
    """Longs sorted by ``theta = e - c / q`` and shorts by ``phi = e + c / q``, ascending.

    ``*_prefix`` are ``(n + 1, 4)`` double-double prefix sums of ``q`` and
    ``q * threshold`` (columns QTY_HI, QTY_LO, QT_HI, QT_LO of
    :mod:`stresstest.kernels.replay`). Thresholds are in quote per base.
    """

    long_threshold: np.ndarray
    long_prefix: np.ndarray
    short_threshold: np.ndarray
    short_prefix: np.ndarray

    @property
    def n_positions(self) -> int:
        """Number of positions, both sides."""
        return int(self.long_threshold.shape[0] + self.short_threshold.shape[0])


def sorted_side(
    qty: np.ndarray, threshold: np.ndarray, order: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``threshold`` in ``order`` (default: ascending, stable) and its ``(n + 1, 4)`` prefixes."""
    if order is None:
        order = np.argsort(threshold, kind="stable")
    sorted_threshold = np.ascontiguousarray(threshold[order])
    sorted_qty = np.ascontiguousarray(qty[order])
    prefix = np.empty((sorted_qty.shape[0] + 1, 4))
    prefix[:, 0], prefix[:, 1] = compensated_prefix_sums(sorted_qty)
    prefix[:, 2], prefix[:, 3] = compensated_prefix_sums(sorted_qty * sorted_threshold)
    return sorted_threshold, prefix


def side_thresholds(book: Book) -> tuple[np.ndarray, np.ndarray]:
    """``(is_long, threshold)``: ``theta = e - c / q`` of longs, ``phi = e + c / q`` of shorts."""
    is_long = book.side == 1
    margin_per_unit = book.collateral / book.qty
    threshold = np.where(
        is_long, book.entry_price - margin_per_unit, book.entry_price + margin_per_unit
    )
    return is_long, threshold


#: ``(is_long, threshold, long order, short order)``: each side's stable threshold order.
ThresholdOrders = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def threshold_orders(book: Book) -> ThresholdOrders:
    """Each side's thresholds and their stable ascending order: the one sort of the book.

    The order is ``np.argsort(threshold, kind="stable")``'s, index for index, found by
    radix sort in O(N) (:func:`~stresstest.kernels.sort.stable_argsort`).
    """
    is_long, threshold = side_thresholds(book)
    long_order = stable_argsort(threshold[is_long])
    short_order = stable_argsort(threshold[~is_long])
    return is_long, threshold, long_order, short_order


def sort_book(book: Book, orders: ThresholdOrders | None = None) -> SortedBook:
    """Sort a book once by breach threshold: O(N) (``orders``: already sorted)."""
    is_long, threshold, long_order, short_order = orders or threshold_orders(book)
    long_threshold, long_prefix = sorted_side(book.qty[is_long], threshold[is_long], long_order)
    short_threshold, short_prefix = sorted_side(
        book.qty[~is_long], threshold[~is_long], short_order
    )
    return SortedBook(long_threshold, long_prefix, short_threshold, short_prefix)
