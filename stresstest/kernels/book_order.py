"""The book split by side, its cohorts, and each side's order by cohort (docs/model.md 4.1, 6b).

Each pass here reads the book once, in index order, and writes each side's values
in index order: the arrays ``book.qty[book.side == 1]`` and the rest of numpy's
boolean selections would give, without a temporary per selection. A side's
positions are ordered by cohort, then by breach threshold: the threshold order the
book was sorted by, re-sorted stably by cohort number. Cohort numbers are small
(at most 33 x 33), so a counting sort does it in two passes.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.jit import kernel


@kernel
def side_thresholds(
    side: np.ndarray, qty: np.ndarray, entry_price: np.ndarray, collateral: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each side's quantities and breach thresholds, in book order.

    Parameters
    ----------
    side
        +1 long, anything else short.
    qty, entry_price, collateral
        Base units, quote per base, quote units.

    Returns
    -------
    tuple of numpy.ndarray
        ``long_qty, long_threshold, short_qty, short_threshold``: ``theta = e - c / q``
        of the longs and ``phi = e + c / q`` of the shorts (quote per base), each
        side's positions in their order in the book.
    """
    n = side.shape[0]
    n_long = 0
    for i in range(n):
        n_long += side[i] == 1
    # Every value goes to both sides' next slot and only its own side's cursor moves
    # (no branch on the side, which is random in book order); one spare slot each.
    long_qty = np.empty(n_long + 1)
    long_threshold = np.empty(n_long + 1)
    short_qty = np.empty(n - n_long + 1)
    short_threshold = np.empty(n - n_long + 1)
    next_long = 0
    next_short = 0
    for i in range(n):
        margin_per_unit = collateral[i] / qty[i]
        long_qty[next_long] = qty[i]
        long_threshold[next_long] = entry_price[i] - margin_per_unit
        short_qty[next_short] = qty[i]
        short_threshold[next_short] = entry_price[i] + margin_per_unit
        is_long = side[i] == 1
        next_long += is_long
        next_short += 1 - is_long
    long_qty = long_qty[:n_long]
    long_threshold = long_threshold[:n_long]
    short_qty = short_qty[: n - n_long]
    short_threshold = short_threshold[: n - n_long]
    return long_qty, long_threshold, short_qty, short_threshold


@kernel
def bucket(value: float, edges: np.ndarray) -> int:
    """Left-closed bucket of ``value``: ``b`` with ``edges[b - 1] <= value < edges[b]``.

    ``np.searchsorted(edges, value, side="right")`` for strictly ascending edges:
    0 below the first edge, ``len(edges)`` from the last one on, and for NaN
    (which numpy sorts after every number).
    """
    n_edges: int = edges.shape[0]
    if value != value:
        return n_edges
    b = 0
    for k in range(n_edges):  # no early exit: no branch on the (random) value
        b += edges[k] <= value
    return b


@kernel
def side_cohorts(
    side: np.ndarray,
    qty: np.ndarray,
    entry_price: np.ndarray,
    collateral: np.ndarray,
    leverage_edges: np.ndarray,
    notional_edges: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each position's cohort: ``leverage_bucket x n_notional + notional_bucket``, by side.

    Parameters
    ----------
    side
        +1 long, anything else short.
    qty, entry_price, collateral
        Base units, quote per base, quote units.
    leverage_edges, notional_edges
        Strictly ascending bucket edges (:func:`bucket`) of the entry leverage
        ``q e / c`` (``inf`` where ``c`` is not positive) and of the entry notional
        ``q e`` (quote units).

    Returns
    -------
    tuple of numpy.ndarray
        int64 cohorts of the longs and of the shorts, each in book order;
        ``0 <= cohort < (len(leverage_edges) + 1) x n_notional`` with
        ``n_notional = len(notional_edges) + 1``.
    """
    n = side.shape[0]
    n_long = 0
    for i in range(n):
        n_long += side[i] == 1
    n_notional = notional_edges.shape[0] + 1
    long_cohort = np.empty(n_long + 1, dtype=np.int64)  # a spare slot: see side_thresholds
    short_cohort = np.empty(n - n_long + 1, dtype=np.int64)
    next_long = 0
    next_short = 0
    for i in range(n):
        notional = qty[i] * entry_price[i]
        leverage = notional / collateral[i] if collateral[i] > 0.0 else np.inf
        cohort = bucket(leverage, leverage_edges) * n_notional + bucket(notional, notional_edges)
        long_cohort[next_long] = cohort
        short_cohort[next_short] = cohort
        is_long = side[i] == 1
        next_long += is_long
        next_short += 1 - is_long
    long_cohort = long_cohort[:n_long]
    short_cohort = short_cohort[: n - n_long]
    return long_cohort, short_cohort


@kernel
def cohort_order(
    by_threshold: np.ndarray, cohort: np.ndarray, n_cohorts: int
) -> tuple[np.ndarray, np.ndarray]:
    """Re-sort a threshold order stably by cohort (counting sort, O(N + K)).

    Parameters
    ----------
    by_threshold
        Indices of a side's positions in ascending threshold order: a permutation
        of ``0 .. n - 1``.
    cohort
        Each position's cohort, ``0 <= cohort < n_cohorts`` (by position, not by rank).
    n_cohorts
        Number of cohorts, empty ones included.

    Returns
    -------
    tuple of numpy.ndarray
        The order ``by_threshold[np.argsort(cohort[by_threshold], kind="stable")]``
        (by cohort, then threshold, ties in ``by_threshold``'s order), and the
        ``n_cohorts + 1`` bounds: cohort ``j`` is ``order[bounds[j]:bounds[j + 1]]``.
    """
    n = by_threshold.shape[0]
    bounds = np.zeros(n_cohorts + 1, dtype=np.int64)
    for i in range(n):  # the sizes do not depend on the order: read in memory order
        bounds[cohort[i] + 1] += 1
    for j in range(n_cohorts):
        bounds[j + 1] += bounds[j]
    starts = bounds[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        position = by_threshold[i]
        j = cohort[position]
        order[starts[j]] = position
        starts[j] += 1
    return order, bounds
