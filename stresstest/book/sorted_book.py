"""The book sorted by breach threshold, with compensated prefix sums, for the replay kernel."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stresstest.book.positions import Book
from stresstest.kernels.book_order import side_thresholds
from stresstest.kernels.sort import stable_argsort
from stresstest.kernels.sums import gathered_prefix_sums


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
    """``threshold`` in ``order`` (default: ascending, stable) and its ``(n + 1, 4)`` prefixes.

    One pass over the side (:func:`~stresstest.kernels.sums.gathered_prefix_sums`):
    the same values as ``compensated_prefix_sums`` of ``qty[order]`` and of
    ``qty[order] * threshold[order]``, without those gathered copies.
    """
    if order is None:
        order = stable_argsort(threshold)
    return gathered_prefix_sums(
        np.ascontiguousarray(qty, dtype=np.float64),
        np.ascontiguousarray(threshold, dtype=np.float64),
        np.ascontiguousarray(order, dtype=np.int64),
    )


@dataclass(frozen=True)
class ThresholdOrders:
    """Each side's quantities and thresholds, in book order, and their stable ascending order.

    ``long_threshold`` is ``theta = e - c / q`` of the longs, ``short_threshold``
    ``phi = e + c / q`` of the shorts (quote per base), each side's positions in
    their order in the book (``book.qty[book.side == 1]``, ...); ``long_order`` is
    ``np.argsort(long_threshold, kind="stable")``, the same for the shorts.
    """

    long_qty: np.ndarray
    long_threshold: np.ndarray
    long_order: np.ndarray
    short_qty: np.ndarray
    short_threshold: np.ndarray
    short_order: np.ndarray


def threshold_orders(book: Book) -> ThresholdOrders:
    """Each side's thresholds and their stable ascending order: the one sort of the book.

    The sides are split and their thresholds computed in one pass
    (:func:`~stresstest.kernels.book_order.side_thresholds`); the order is
    ``np.argsort(threshold, kind="stable")``'s, index for index, found by radix sort
    in O(N) (:func:`~stresstest.kernels.sort.stable_argsort`).
    """
    long_qty, long_threshold, short_qty, short_threshold = side_thresholds(
        np.ascontiguousarray(book.side),
        np.ascontiguousarray(book.qty, dtype=np.float64),
        np.ascontiguousarray(book.entry_price, dtype=np.float64),
        np.ascontiguousarray(book.collateral, dtype=np.float64),
    )
    return ThresholdOrders(
        long_qty,
        long_threshold,
        stable_argsort(long_threshold),
        short_qty,
        short_threshold,
        stable_argsort(short_threshold),
    )


def sort_book(book: Book, orders: ThresholdOrders | None = None) -> SortedBook:
    """Sort a book once by breach threshold: O(N) (``orders``: already sorted)."""
    sides = orders or threshold_orders(book)
    long_threshold, long_prefix = sorted_side(
        sides.long_qty, sides.long_threshold, sides.long_order
    )
    short_threshold, short_prefix = sorted_side(
        sides.short_qty, sides.short_threshold, sides.short_order
    )
    return SortedBook(long_threshold, long_prefix, short_threshold, short_prefix)
