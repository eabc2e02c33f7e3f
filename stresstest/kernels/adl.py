"""The ADL layer of the loss waterfall over the sorted book (docs/model.md 10.2).

Called by the stage pipeline (:mod:`stresstest.kernels.pipeline`), which walks
the fund online: at each step, after that step's closes are booked, if the fund
plus the step's net flow is negative, the shortfall is split between the sides in
proportion to the step's bad debt, and each part is covered from the profit
``u_j = s_j q_j (A_t - e_j) > 0`` of open positions of the *opposite* side at the
ADL price ``A_t`` (the mark ``O_t``; ``O_{t-1}`` for ``hyperliquid``), by policy:

- ``profit_leverage``: highest ``(u_j / c_j) (q_j A_t / (c_j + u_j))`` first
  (``+inf`` when ``c_j = 0``), each closed whole and giving ``min(u_j, need left)``;
- ``hyperliquid``: the same with the score ``(A_t / e_j) (q_j A_t / (c_j + u_j))``
  (``e_j / A_t`` for a short);
- ``pro_rata``: every candidate reduced by the fraction ``f = min(1, need / U)`` of
  its quantity and collateral, giving ``f u_j``.

Ties of the ranked policies by the threshold order. What is left is socialized
as before. Each event also yields the Gini of the haircut ``given / u`` over its
candidates, and each position's total given up feeds the path's top-share
figures (:func:`top_shares`; the stage pipeline reads only the touched positions,
:func:`stresstest.kernels.adl_index.touched_top_shares`).

This module holds the removal state's range sums and the fund walk; the
selection itself is :func:`stresstest.kernels.adl_index.deleverage`. The removal
state of a side is each position's remaining fraction and amount given up and
three Fenwick trees of removed ``q``, ``q * threshold`` and counts of fully
removed positions, which correct every later range sum. It is allocated once per
thread (not per path) and each path undoes only what it touched. A ranked event
is a best-first search over a k-d tree in ``(e, c / q)`` with score bounds,
``O((k + 1) log N)`` for ``k`` positions deleveraged plus ``O(log N)`` per node
with a loose bound (:mod:`stresstest.kernels.adl_index`); a ``pro_rata`` event two scans of the side
(every candidate is deleveraged). Memory is ``O(N)`` per thread, never positions
x paths x steps.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
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
def open_quantity(prefix: np.ndarray, removed: np.ndarray, start: int, stop: int) -> float:
    """Open ``sum q`` of ``[start, stop)`` (base units), ADL's removals excluded (10.2)."""
    qty, _, _ = open_sums(prefix, removed, start, stop)
    return qty


@kernel
def open_count(prefix: np.ndarray, removed: np.ndarray, start: int, stop: int) -> float:
    """Open positions in ``[start, stop)`` of a sorted side (deleveraged ones excluded)."""
    _, _, count = open_sums(prefix, removed, start, stop)
    return count


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
def adl_score(
    policy: int, side: int, qty: float, entry: float, margin: float, profit: float, price: float
) -> float:
    """The ranking score of a candidate with profit ``profit > 0`` at ``price`` (10.2).

    ``profit_leverage``: ``(u / c) (q O / (c + u))``, ``+inf`` when ``c <= 0`` (a
    single-asset position never has ``c < 0``; a cross unit can after the fraction rule
    of docs/model.md 11.8 closes a losing leg whole and keeps a winning one);
    ``hyperliquid``: ``(O / e) (q O / (c + u))`` for a long, ``(e / O) (q O / (c + u))``
    for a short. ``qty`` base units, ``entry`` and ``price`` quote per base, ``margin``
    and ``profit`` quote units.
    """
    if policy == enums.ADL_HYPERLIQUID:
        ratio = price / entry if side > 0 else entry / price
        return ratio * (qty * price / (margin + profit))
    if margin <= 0.0:
        return np.inf
    return (profit / margin) * (qty * price / (margin + profit))


@kernel
def remove_position(
    removed: np.ndarray,
    remain: np.ndarray,
    position: int,
    qty: float,
    threshold: float,
    fraction: float,
) -> None:
    """Take ``fraction`` of what is left of ``position`` out of the book's range sums.

    ``fraction = 1`` removes it (``remain = 0`` and a count); otherwise it stays open
    with ``remain (1 - fraction)`` of its quantity and collateral.
    """
    if fraction >= 1.0:
        taken = remain[position]
        remain[position] = 0.0
        fenwick_add(removed[REMOVED_COUNT], position, 1.0)
    else:
        taken = remain[position] * fraction
        remain[position] = remain[position] * (1.0 - fraction)
    fenwick_add(removed[REMOVED_QTY], position, qty * taken)
    fenwick_add(removed[REMOVED_QT], position, qty * taken * threshold)


@kernel
def top_shares(long_given: np.ndarray, short_given: np.ndarray) -> tuple[float, float]:
    """Shares of the path's ADL cover paid by the top 1% and 10% of deleveraged traders.

    A deleveraged trader is a position with ``given > 0`` (what it gave up over the
    path, quote units) on either side; with ``n`` of them the top ``k = ceil(0.01 n)``
    (``ceil(0.1 n)``) by amount, and the share ``sum of their amounts / sum of all``,
    both summed largest first. ``(0, 0)`` when nobody gave anything.
    """
    n = 0
    for values in (long_given, short_given):
        for value in values:
            if value > 0.0:
                n += 1
    if n == 0:
        return 0.0, 0.0
    amounts = np.empty(n)
    n = 0
    for values in (long_given, short_given):
        for value in values:
            if value > 0.0:
                amounts[n] = value
                n += 1
    amounts = np.sort(amounts)[::-1]
    k1 = int(np.ceil(0.01 * n))
    k10 = int(np.ceil(0.1 * n))
    total = 0.0
    top1 = 0.0
    top10 = 0.0
    for rank in range(n):
        total += amounts[rank]
        if rank < k1:
            top1 += amounts[rank]
        if rank < k10:
            top10 += amounts[rank]
    return top1 / total, top10 / total


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


@kernel
def init_fund_state(fund_initial: float) -> np.ndarray:
    """The online fund state of :func:`fund_step` at its start (quote units)."""
    state = np.zeros(N_FUND)
    state[FUND] = fund_initial
    state[FUND_PEAK] = fund_initial
    state[FUND_LOW] = fund_initial
    return state


@kernel
def write_fund_state(state: np.ndarray, out_row: np.ndarray) -> None:
    """Copy the fund walk's per-path metrics (docs/model.md 5) into ``out_row``."""
    out_row[enums.FUND_END] = state[FUND]
    out_row[enums.FUND_MIN] = state[FUND_LOW]
    out_row[enums.FUND_MAX_DRAWDOWN] = state[FUND_DRAWDOWN]
    out_row[enums.SOCIALIZED_LOSS] = state[FUND_SOCIALIZED]
    out_row[enums.FUND_REQUIRED] = state[FUND_REQUIRED]
