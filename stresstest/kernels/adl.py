"""Auto-deleveraging over the sorted book (docs/model.md 10.2).

The replay is the core one (:mod:`stresstest.kernels.replay`) with the fund walked
online: at each step, after that step's closes are booked, if the fund plus the
step's net flow is negative, the shortfall is split between the sides in
proportion to the step's bad debt, and each part is covered by closing profitable
open positions of the *opposite* side at the mark ``P_t``, highest ranking score

    score_j = (u_j / c_j) * (q_j P_t / (c_j + u_j)),   u_j = s_j q_j (P_t - e_j) > 0

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

import numba
import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.fenwick import fenwick_add, fenwick_range
from stresstest.kernels.fund import (
    FLOW_BAD_DEBT,
    FLOW_FUND,
    FLOW_TO_FUND,
    N_FLOWS,
    N_TOTALS,
    record_close,
    record_grid,
    write_totals,
)
from stresstest.kernels.jit import kernel, parallel_kernel
from stresstest.kernels.margin import (
    design_rate,
    liquidation_terms,
    next_variance,
    sqrt_horizon_of,
)
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


@kernel
def adl_replay_path(
    prices: np.ndarray,
    margin: np.ndarray,
    liquidation: np.ndarray,
    long_threshold: np.ndarray,
    long_prefix: np.ndarray,
    long_positions: np.ndarray,
    short_threshold: np.ndarray,
    short_prefix: np.ndarray,
    short_positions: np.ndarray,
    fund_initial: float,
    flows: np.ndarray,
    out_row: np.ndarray,
) -> None:
    """Replay the sorted book over one path with auto-deleveraging into ``out_row``.

    Arguments as :func:`stresstest.kernels.replay.replay_path`, plus
    ``*_positions`` ``(3, n)``: rows ``q`` (base units), ``e`` (quote per base) and
    ``c`` (quote units) of each side in the sorted order. ``out_row`` has
    ``N_METRICS_ADL`` slots; the ADL columns are ``ADL_NOTIONAL`` and ``ADL_COUNT``,
    slots no other stage writes. Without any ADL event the result is the core one.
    """
    n_points = prices.shape[0]
    last_step = n_points - 1
    n_long = long_threshold.shape[0]
    n_short = short_threshold.shape[0]
    latency_steps, slippage, fee, liquidator_share = liquidation_terms(liquidation)
    sqrt_horizon = sqrt_horizon_of(margin)
    long_flagged_from = n_long
    short_flagged_to = 0
    running_min = np.inf
    running_max = -np.inf
    variance = margin[enums.MARGIN_ARG_INITIAL_VARIANCE]
    long_removed = np.zeros((N_REMOVED, 1))
    short_removed = np.zeros((N_REMOVED, 1))
    long_mask = np.zeros(1, dtype=np.bool_)
    short_mask = np.zeros(1, dtype=np.bool_)
    side_bad = np.zeros((2, n_points))
    open_qty = range_sum(long_prefix[:, QTY_HI], long_prefix[:, QTY_LO], 0, n_long) + range_sum(
        short_prefix[:, QTY_HI], short_prefix[:, QTY_LO], 0, n_short
    )
    requirement_sum = 0.0
    open_notional_sum = 0.0
    adl_notional = 0.0
    adl_count = 0.0
    totals = np.zeros(N_TOTALS)
    state = np.zeros(N_FUND)
    state[FUND] = fund_initial
    state[FUND_PEAK] = fund_initial
    state[FUND_LOW] = fund_initial
    for step in range(n_points):
        price = prices[step]
        if step >= 1:
            variance = next_variance(margin, variance, price, prices[step - 1])
        rate = design_rate(margin, sqrt_horizon, variance)
        long_series = price * (1.0 - rate)
        short_series = price * (1.0 + rate)
        close_step = min(step + latency_steps, last_step)
        open_notional = price * open_qty
        requirement_sum += rate * open_notional
        open_notional_sum += open_notional
        if long_series < running_min:
            running_min = long_series
            start = first_greater(long_threshold, long_series, 0, long_flagged_from)
            if start < long_flagged_from:
                count, qty, notional, paid, bad = close_range(
                    1,
                    long_threshold,
                    long_prefix,
                    long_removed,
                    start,
                    long_flagged_from,
                    prices[close_step] * (1.0 - slippage),
                    fee,
                )
                open_qty -= qty
                record_close(
                    totals, flows, close_step, count, notional, paid, bad, liquidator_share
                )
                side_bad[0, close_step] += bad
                long_flagged_from = start
        if short_series > running_max:
            running_max = short_series
            stop = first_not_less(short_threshold, short_series, short_flagged_to, n_short)
            if stop > short_flagged_to:
                count, qty, notional, paid, bad = close_range(
                    -1,
                    short_threshold,
                    short_prefix,
                    short_removed,
                    short_flagged_to,
                    stop,
                    prices[close_step] * (1.0 + slippage),
                    fee,
                )
                open_qty -= qty
                record_close(
                    totals, flows, close_step, count, notional, paid, bad, liquidator_share
                )
                side_bad[1, close_step] += bad
                short_flagged_to = stop
        # The step's flows are final here: later flags close at later steps (or at T,
        # which is reached only after every flag).
        net = flows[FLOW_TO_FUND, step] - flows[FLOW_BAD_DEBT, step]
        cover = 0.0
        left = 0.0
        shortfall = -(state[FUND] + net)
        if shortfall > 0.0:
            bad_long = side_bad[0, step]
            bad_short = side_bad[1, step]
            if bad_long > 0.0:  # longs went bankrupt: profitable shorts cover
                if short_removed.shape[1] == 1:
                    short_removed = np.zeros((N_REMOVED, n_short + 1))
                    short_mask = np.zeros(n_short, dtype=np.bool_)
                got, short_left, notional, count, qty = deleverage(
                    -1,
                    shortfall * bad_long / (bad_long + bad_short),
                    price,
                    short_threshold,
                    short_positions[0],
                    short_positions[1],
                    short_positions[2],
                    short_flagged_to,
                    n_short,
                    short_removed,
                    short_mask,
                )
                cover += got
                left += short_left
                adl_notional += notional
                adl_count += count
                open_qty -= qty
            if bad_short > 0.0:  # shorts went bankrupt: profitable longs cover
                if long_removed.shape[1] == 1:
                    long_removed = np.zeros((N_REMOVED, n_long + 1))
                    long_mask = np.zeros(n_long, dtype=np.bool_)
                got, long_left, notional, count, qty = deleverage(
                    1,
                    shortfall * bad_short / (bad_long + bad_short),
                    price,
                    long_threshold,
                    long_positions[0],
                    long_positions[1],
                    long_positions[2],
                    0,
                    long_flagged_from,
                    long_removed,
                    long_mask,
                )
                cover += got
                left += long_left
                adl_notional += notional
                adl_count += count
                open_qty -= qty
        fund_step(state, net, cover, shortfall > 0.0 and left == 0.0)
        flows[FLOW_FUND, step] = state[FUND]
    write_totals(totals, out_row)
    out_row[enums.REQUIREMENT_MEAN] = requirement_sum / n_points
    out_row[enums.MARGIN_RATE_MEAN] = (
        requirement_sum / open_notional_sum if open_notional_sum > 0.0 else 0.0
    )
    out_row[enums.FUND_END] = state[FUND]
    out_row[enums.FUND_MIN] = state[FUND_LOW]
    out_row[enums.FUND_MAX_DRAWDOWN] = state[FUND_DRAWDOWN]
    out_row[enums.SOCIALIZED_LOSS] = state[FUND_SOCIALIZED]
    out_row[enums.FUND_REQUIRED] = state[FUND_REQUIRED]
    out_row[enums.ADL_NOTIONAL] = adl_notional
    out_row[enums.ADL_COUNT] = adl_count


@parallel_kernel
def adl_replay_paths(
    prices: np.ndarray,
    margin: np.ndarray,
    liquidation: np.ndarray,
    long_threshold: np.ndarray,
    long_prefix: np.ndarray,
    long_positions: np.ndarray,
    short_threshold: np.ndarray,
    short_prefix: np.ndarray,
    short_positions: np.ndarray,
    fund_initial: float,
    grid: np.ndarray,
    out: np.ndarray,
    grid_out: np.ndarray,
) -> None:
    """Every row of ``prices`` with auto-deleveraging; as :func:`replay.replay_paths`.

    ``out`` is ``(paths, N_METRICS_ADL)``. Each thread owns whole paths.
    """
    for row in numba.prange(prices.shape[0]):
        flows = np.zeros((N_FLOWS, prices.shape[1]))
        adl_replay_path(
            prices[row],
            margin,
            liquidation,
            long_threshold,
            long_prefix,
            long_positions,
            short_threshold,
            short_prefix,
            short_positions,
            fund_initial,
            flows,
            out[row],
        )
        if grid.shape[0] > 0:
            record_grid(prices[row], flows, grid, grid_out[row])
