"""The ADL layer of the loss waterfall over the sorted book (docs/model.md 10.2).

Called by the stage pipeline (:mod:`stresstest.kernels.pipeline`), which walks
the fund online: at each step, after that step's closes are booked, if the fund
plus the step's net flow is negative, the shortfall is split between the sides in
proportion to the step's bad debt, and each part is covered by closing profitable
open positions of the *opposite* side at the mark ``O_t``, highest ranking score

    score_j = (u_j / c_j) * (q_j O_t / (c_j + u_j)),   u_j = s_j q_j (O_t - e_j) > 0

first (``+inf`` when ``c_j = 0``; ties by the threshold order), each giving up
``min(u_j, need left)`` of its profit, until the need is met or the side has no
profit left; what is left is socialized as before. Deleveraged positions leave the
book for the rest of the path.

Removal state is per path and allocated only on the first ADL event of a side:
a mask (``N`` bytes) and three Fenwick trees of removed ``q``, ``q * threshold``
and counts (``3 (N + 1)`` floats), which correct every later range sum. An ADL
event costs ``O(N)`` per selection round (a scan of that side's open positions,
see :func:`deleverage`); a path costs ``O(T + B log N + A N R)`` for ``A`` ADL
events of ``R`` rounds (usually 1), and memory is ``O(N)`` per thread, never
positions x paths x steps.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.fenwick import fenwick_add, fenwick_range
from stresstest.kernels.jit import kernel
from stresstest.kernels.replay import QT_HI, QT_LO, QTY_HI, QTY_LO
from stresstest.kernels.search import first_greater, first_not_less
from stresstest.kernels.sums import range_sum

# Rows of a side's removal trees ``(N_REMOVED, n + 1)``.
REMOVED_QTY = 0  # removed q, base units
REMOVED_QT = 1  # removed q * threshold, quote units
REMOVED_COUNT = 2  # removed positions
N_REMOVED = 3

#: Candidates sorted in the first round of an ADL event (then 8 times more per round).
FIRST_BATCH = 64

# Slots of the online fund state.
FUND = 0
FUND_PEAK = 1
FUND_LOW = 2
FUND_DRAWDOWN = 3
FUND_SOCIALIZED = 4
FUND_CUMULATIVE = 5
FUND_REQUIRED = 6
N_FUND = 7


@kernel
def open_sums(
    prefix: np.ndarray, removed: np.ndarray, start: int, stop: int
) -> tuple[float, float, float]:
    """``(sum q, sum q threshold, count)`` over ``[start, stop)`` minus the removed positions.

    ``removed`` with a single column means nothing was removed on this side. Counts
    are exact (integers in float64), so a range whose positions were all removed
    gives exact zeros.
    """
    qty = range_sum(prefix[:, QTY_HI], prefix[:, QTY_LO], start, stop)
    qt = range_sum(prefix[:, QT_HI], prefix[:, QT_LO], start, stop)
    count = float(max(0, stop - start))
    if removed.shape[1] > 1:
        qty -= fenwick_range(removed[REMOVED_QTY], start, stop)
        qt -= fenwick_range(removed[REMOVED_QT], start, stop)
        count -= fenwick_range(removed[REMOVED_COUNT], start, stop)
        if count == 0.0:  # all removed: exactly nothing, not a rounding residue
            return 0.0, 0.0, 0.0
    return qty, qt, count


@kernel
def close_range(
    side: int,
    threshold: np.ndarray,
    prefix: np.ndarray,
    removed: np.ndarray,
    start: int,
    stop: int,
    exit_price: float,
    fee: float,
) -> tuple[float, float, float, float, float]:
    """Close the open positions of ``[start, stop)`` at ``exit_price`` (docs/model.md 4.1).

    Returns ``(count, sum q, notional, penalty paid, bad debt)``; the formulas of
    :func:`stresstest.kernels.replay._close_long_range` and its short mirror, on
    sums that exclude removed positions.
    """
    if side > 0:
        full_stop = first_greater(threshold, exit_price * (1.0 - fee), start, stop)
        partial_stop = first_greater(threshold, exit_price, full_stop, stop)
        qty_all, _, count = open_sums(prefix, removed, start, stop)
        qty_full, _, _ = open_sums(prefix, removed, start, full_stop)
        qty_partial, qt_partial, _ = open_sums(prefix, removed, full_stop, partial_stop)
        qty_bad, qt_bad, _ = open_sums(prefix, removed, partial_stop, stop)
        paid = fee * exit_price * qty_full + max(0.0, exit_price * qty_partial - qt_partial)
        bad = max(0.0, qt_bad - exit_price * qty_bad)
        return count, qty_all, exit_price * qty_all, paid, bad
    bad_stop = first_not_less(threshold, exit_price, start, stop)
    partial_stop = first_not_less(threshold, exit_price * (1.0 + fee), bad_stop, stop)
    qty_all, _, count = open_sums(prefix, removed, start, stop)
    qty_bad, qt_bad, _ = open_sums(prefix, removed, start, bad_stop)
    qty_partial, qt_partial, _ = open_sums(prefix, removed, bad_stop, partial_stop)
    qty_full, _, _ = open_sums(prefix, removed, partial_stop, stop)
    paid = fee * exit_price * qty_full + max(0.0, qt_partial - exit_price * qty_partial)
    bad = max(0.0, exit_price * qty_bad - qt_bad)
    return count, qty_all, exit_price * qty_all, paid, bad


@kernel
def deleverage(
    side: int,
    need: float,
    price: float,
    threshold: np.ndarray,
    qty: np.ndarray,
    entry: np.ndarray,
    collateral: np.ndarray,
    start: int,
    stop: int,
    removed: np.ndarray,
    mask: np.ndarray,
) -> tuple[float, float, float, float, float]:
    """Cover ``need`` (quote units) from the open positions ``[start, stop)`` of one side.

    Candidates are the positions not yet removed with unrealized profit
    ``u = side q (price - e) > 0``, taken by descending score, ties by index (the
    threshold order); each is removed and gives ``min(u, need left)``. Returns
    ``(cover, need left, notional q price, count, quantity)``: the cover and the
    need not covered (quote units; 0 exactly when covered), then the deleveraged
    positions' notional (quote units), count and quantity (base units).

    Rather than sorting every candidate, each round scans the side (``O(N)``), keeps
    the best ``batch`` by ``np.partition`` and sorts only those; if the need is not
    met the next round keeps 8 times more among those left. The order taken is that
    of a full sort; an event costs ``O(N)`` per round, ``O(N log_8 k)`` for ``k``
    positions deleveraged.
    """
    size = max(0, stop - start)
    index = np.empty(size, dtype=np.int64)
    key = np.empty(size)  # minus the score, so that ascending order is best first
    left = need
    cover = 0.0
    notional = 0.0
    count = 0.0
    removed_qty = 0.0
    batch = FIRST_BATCH
    while left > 0.0:
        n_candidates = 0
        for position in range(start, stop):
            if mask[position]:
                continue
            profit = side * qty[position] * (price - entry[position])
            if profit > 0.0:
                margin = collateral[position]
                index[n_candidates] = position
                if margin == 0.0:
                    key[n_candidates] = -np.inf
                else:
                    key[n_candidates] = -(
                        (profit / margin) * (qty[position] * price / (margin + profit))
                    )
                n_candidates += 1
        if n_candidates == 0:
            break
        n_selected = n_candidates
        if n_candidates > batch:  # keep the best `batch` (and ties), in index order
            cutoff = np.partition(key[:n_candidates], batch - 1)[batch - 1]
            n_selected = 0
            for candidate in range(n_candidates):
                if key[candidate] <= cutoff:
                    index[n_selected] = index[candidate]
                    key[n_selected] = key[candidate]
                    n_selected += 1
        order = np.argsort(key[:n_selected], kind="mergesort")  # stable: ties by index
        for rank in range(n_selected):
            if not left > 0.0:
                break
            position = index[order[rank]]
            profit = side * qty[position] * (price - entry[position])
            taken = min(profit, left)
            left -= taken
            cover += taken
            mask[position] = True
            fenwick_add(removed[REMOVED_QTY], position, qty[position])
            fenwick_add(removed[REMOVED_QT], position, qty[position] * threshold[position])
            fenwick_add(removed[REMOVED_COUNT], position, 1.0)
            notional += qty[position] * price
            count += 1.0
            removed_qty += qty[position]
        batch *= 8
    return cover, max(0.0, left), notional, count, removed_qty


@kernel
def fund_step(state: np.ndarray, net: float, cover: float, covered: bool) -> None:
    """One step of the fund walk of docs/model.md 5 with the ADL cover added before the floor.

    ``covered``: ADL met the whole shortfall, so the fund ends the step at exactly 0
    (no rounding residue is socialized). ``C_t`` (``fund_required``) accumulates
    ``net`` only, the cover excluded.
    """
    fund = state[FUND] + net
    state[FUND_CUMULATIVE] += net
    if -state[FUND_CUMULATIVE] > state[FUND_REQUIRED]:
        state[FUND_REQUIRED] = -state[FUND_CUMULATIVE]
    if fund < 0.0:
        fund = 0.0 if covered else fund + cover
        if fund < 0.0:
            state[FUND_SOCIALIZED] += -fund
            fund = 0.0
    state[FUND] = fund
    if fund < state[FUND_LOW]:
        state[FUND_LOW] = fund
    if fund > state[FUND_PEAK]:
        state[FUND_PEAK] = fund
    if state[FUND_PEAK] - fund > state[FUND_DRAWDOWN]:
        state[FUND_DRAWDOWN] = state[FUND_PEAK] - fund
