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
figures (:func:`top_shares`).

Removal state is per path and allocated only on the first ADL event of a side:
each position's remaining fraction and amount given up (``2 N`` floats) and
three Fenwick trees of removed ``q``, ``q * threshold`` and counts of fully
removed positions (``3 (N + 1)`` floats), which correct every later range sum.
A ranked event costs ``O(N)`` per selection round (a scan of that side's open
positions, see :func:`deleverage`), a ``pro_rata`` event two scans; a path costs
``O(T + B log N + A N R)`` for ``A`` ADL events of ``R`` rounds (usually 1), and
memory is ``O(N)`` per thread, never positions x paths x steps.
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
def adl_score(
    policy: int, side: int, qty: float, entry: float, margin: float, profit: float, price: float
) -> float:
    """The ranking score of a candidate with profit ``profit > 0`` at ``price`` (10.2).

    ``profit_leverage``: ``(u / c) (q O / (c + u))``, ``+inf`` when ``c = 0``;
    ``hyperliquid``: ``(O / e) (q O / (c + u))`` for a long, ``(e / O) (q O / (c + u))``
    for a short. ``qty`` base units, ``entry`` and ``price`` quote per base, ``margin``
    and ``profit`` quote units.
    """
    if policy == enums.ADL_HYPERLIQUID:
        ratio = price / entry if side > 0 else entry / price
        return ratio * (qty * price / (margin + profit))
    if margin == 0.0:
        return np.inf
    return (profit / margin) * (qty * price / (margin + profit))


@kernel
def _remove(
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
def deleverage(
    policy: int,
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
    remain: np.ndarray,
    given: np.ndarray,
) -> tuple[float, float, float, float, float, float]:
    """Cover ``need`` (quote units) from the open positions ``[start, stop)`` of one side.

    Candidates are the open positions (``remain > 0``) with unrealized profit
    ``u = side q (price - e) > 0``. ``profit_leverage`` and ``hyperliquid`` take them
    by descending :func:`adl_score`, ties by index (the threshold order); each is
    removed and gives ``min(u, need left)``. ``pro_rata`` is :func:`_pro_rata`. What
    each gives is added to ``given[position]``. Returns ``(cover, need left,
    notional q price, count, quantity, gini)``: the cover and the need not covered
    (quote units; 0 exactly when covered), then the deleveraged positions' notional
    (quote units), count and quantity (base units), and the Gini coefficient of the
    haircut ``h_j = taken_j / u_j`` over every candidate (docs/model.md 10.2).

    Rather than sorting every candidate, each round scans the side (``O(N)``), keeps
    the best ``batch`` by ``np.partition`` and sorts only those; if the need is not
    met the next round keeps 8 times more among those left. The order taken is that
    of a full sort; an event costs ``O(N)`` per round, ``O(N log_8 k)`` for ``k``
    positions deleveraged.
    """
    if policy == enums.ADL_PRO_RATA:
        return _pro_rata(
            side, need, price, threshold, qty, entry, start, stop, removed, remain, given
        )
    size = max(0, stop - start)
    index = np.empty(size, dtype=np.int64)
    key = np.empty(size)  # minus the score, so that ascending order is best first
    left = need
    cover = 0.0
    notional = 0.0
    count = 0.0
    removed_qty = 0.0
    batch = FIRST_BATCH
    n_all = 0  # candidates of the event: the population of its Gini
    weighted = 0.0  # sum over takers in rank order k of (n_all + 1 - k) h_k
    haircuts = 0.0  # sum of h_k
    while left > 0.0:
        n_candidates = 0
        for position in range(start, stop):
            if remain[position] == 0.0:
                continue
            profit = side * qty[position] * (price - entry[position])
            if profit > 0.0:
                index[n_candidates] = position
                margin = collateral[position]
                key[n_candidates] = -adl_score(
                    policy, side, qty[position], entry[position], margin, profit, price
                )
                n_candidates += 1
        if n_candidates == 0:
            break
        if n_all == 0:
            n_all = n_candidates
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
            given[position] += taken
            _remove(removed, remain, position, qty[position], threshold[position], 1.0)
            notional += qty[position] * price
            count += 1.0
            removed_qty += qty[position]
            haircut = taken / profit
            weighted += (n_all - count + 1.0) * haircut
            haircuts += haircut
        batch *= 8
    gini = 0.0
    if haircuts > 0.0:
        gini = max(0.0, 2.0 * weighted / (n_all * haircuts) - (n_all + 1.0) / n_all)
    return cover, max(0.0, left), notional, count, removed_qty, gini


@kernel
def _pro_rata(
    side: int,
    need: float,
    price: float,
    threshold: np.ndarray,
    qty: np.ndarray,
    entry: np.ndarray,
    start: int,
    stop: int,
    removed: np.ndarray,
    remain: np.ndarray,
    given: np.ndarray,
) -> tuple[float, float, float, float, float, float]:
    """``pro_rata`` ADL: every candidate gives up the fraction ``f`` of its profit.

    ``f = min(1, need / U)`` with ``U`` the candidates' total profit (summed in index
    order); each candidate is reduced by ``f`` of its remaining quantity (and
    collateral) at ``price``, the profit of the closed part is given up, the rest
    stays open. With ``U >= need`` the need counts as met (need left 0); otherwise
    every candidate is closed and ``need - U`` is left. Returns as :func:`deleverage`
    (the Gini is 0: every candidate's haircut is ``f``). Two scans, ``O(N)``.
    """
    total = 0.0
    for position in range(start, stop):
        if remain[position] > 0.0:
            profit = side * qty[position] * remain[position] * (price - entry[position])
            if profit > 0.0:
                total += profit
    if not total > 0.0:
        return 0.0, need, 0.0, 0.0, 0.0, 0.0
    fraction = 1.0 if need >= total else need / total
    cover = 0.0
    notional = 0.0
    count = 0.0
    removed_qty = 0.0
    for position in range(start, stop):
        if remain[position] > 0.0:
            profit = side * qty[position] * remain[position] * (price - entry[position])
            if profit > 0.0:
                taken = profit * fraction
                cover += taken
                given[position] += taken
                closed = qty[position] * (remain[position] * fraction)
                notional += closed * price
                removed_qty += closed
                count += 1.0
                _remove(removed, remain, position, qty[position], threshold[position], fraction)
    left = need - total if fraction >= 1.0 else 0.0
    return cover, left, notional, count, removed_qty, 0.0


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
