"""Partial liquidation over the sorted book: cohorts of remaining positions (docs/model.md 10.1).

A long ``(q, e, c)`` with threshold ``theta = e - c / q``, flagged and closed at the
exit price ``x`` with penalty rate ``fee`` and maintenance ``m`` of the close step,
keeps the quantity

    q' = q (x (1 - fee) - theta) / ((m + b - fee) x)

so that its remaining equity is ``(m + b) q' x`` (``b`` the buffer). Then
``theta' = x (1 - m - b)``: the same for every position closed at that step, so
all of them form one *cohort* with a common threshold and a total quantity
``Q = (x (1 - fee) sum q - sum q theta) / ((m + b - fee) x)``, linear in the prefix
sums of the sorted book. Shorts mirror this with ``phi' = x (1 + m + b)``.

Three cases per position, by threshold (longs; shorts mirrored):

- ``theta >= x (1 - fee)`` (``q' <= 0``): closed in full, as in the core model;
- ``theta <= x (1 - m - b)`` (``q' >= q``): the price recovered during the latency,
  nothing is closed; the position is re-armed unchanged from the step after the close;
- otherwise: ``q - q'`` is closed, paying its full penalty; the rest joins the cohort.

The book is held as *segments* (ranges of the sorted book, each with its own running
extreme of the breach series since it was armed: the whole book is segment 0, and a
re-armed range becomes a new one) and *cohorts* ``(threshold, Q, members)``. A cohort
is flagged when the series crosses its threshold, and then closed like one position:
in full, re-armed, or scaled by ``q'/q``, which is the same for all its members.
Per path the cost is ``O(T (S + K) + B log N)``: ``S`` live segments, ``K`` live
cohorts (at most one new cohort per side and step, so ``K <= T``), ``B`` flag events.

Segment table rows: ``SEG_A, SEG_B`` (armed range ``[a, b)`` of the sorted book),
``SEG_EXTREME`` (running min of ``P (1 - m)`` for longs, max of ``P (1 + m)`` for
shorts since arming) and ``SEG_FROM`` (first step it is checked). Cohort rows:
``COH_THRESHOLD`` (quote per base), ``COH_QTY`` (base units), ``COH_COUNT``
(positions; 0 marks a dead cohort) and ``COH_FROM``.
"""

from __future__ import annotations

import numba
import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.dense import margin_rates
from stresstest.kernels.fund import (
    N_FLOWS,
    N_TOTALS,
    record_close,
    record_grid,
    walk_fund,
    write_totals,
)
from stresstest.kernels.jit import kernel, parallel_kernel
from stresstest.kernels.margin import liquidation_terms
from stresstest.kernels.replay import (
    QT_HI,
    QT_LO,
    QTY_HI,
    QTY_LO,
    _close_long_range,
    _close_short_range,
)
from stresstest.kernels.search import first_greater, first_not_less
from stresstest.kernels.sums import range_sum

SEG_A = 0
SEG_B = 1
SEG_EXTREME = 2
SEG_FROM = 3
N_SEG = 4

COH_THRESHOLD = 0
COH_QTY = 1
COH_COUNT = 2
COH_FROM = 3
N_COH = 4


@kernel
def grown(table: np.ndarray, used: int) -> np.ndarray:
    """``table`` if it has room for one more row after ``used``, else a copy twice as long."""
    if used < table.shape[0]:
        return table
    bigger = np.zeros((2 * table.shape[0], table.shape[1]))
    bigger[:used] = table[:used]
    return bigger


@kernel
def _qty(prefix: np.ndarray, start: int, stop: int) -> float:
    return range_sum(prefix[:, QTY_HI], prefix[:, QTY_LO], start, stop)


@kernel
def _qt(prefix: np.ndarray, start: int, stop: int) -> float:
    return range_sum(prefix[:, QT_HI], prefix[:, QT_LO], start, stop)


@kernel
def arm_due(
    segments: np.ndarray,
    n_segments: int,
    cohorts: np.ndarray,
    n_cohorts: int,
    prefix: np.ndarray,
    step: int,
) -> tuple[int, int, float]:
    """Drop dead rows (order kept) and arm the rows whose first step is ``step``.

    Returns the new row counts and the quantity armed at ``step`` (base units).
    """
    armed = 0.0
    kept = 0
    for row in range(n_segments):
        a = int(segments[row, SEG_A])
        b = int(segments[row, SEG_B])
        if a >= b:
            continue
        if segments[row, SEG_FROM] == step:
            armed += _qty(prefix, a, b)
        segments[kept] = segments[row]
        kept += 1
    n_segments = kept
    kept = 0
    for row in range(n_cohorts):
        if cohorts[row, COH_COUNT] <= 0.0:
            continue
        if cohorts[row, COH_FROM] == step:
            armed += cohorts[row, COH_QTY]
        cohorts[kept] = cohorts[row]
        kept += 1
    return n_segments, kept, armed


@kernel
def _close_cohort(
    side: int, threshold: float, qty: float, exit_price: float, fee: float
) -> tuple[float, float]:
    """Penalty paid and bad debt of a cohort closed in full (all members share ``threshold``).

    The core formulas of docs/model.md 4.1 with ``sum q theta = theta Q``.
    """
    if side > 0:
        if threshold <= exit_price * (1.0 - fee):
            return fee * exit_price * qty, 0.0
        if threshold <= exit_price:
            return max(0.0, qty * (exit_price - threshold)), 0.0
        return 0.0, max(0.0, qty * (threshold - exit_price))
    if threshold >= exit_price * (1.0 + fee):
        return fee * exit_price * qty, 0.0
    if threshold >= exit_price:
        return max(0.0, qty * (threshold - exit_price)), 0.0
    return 0.0, max(0.0, qty * (exit_price - threshold))


@kernel
def check_side(
    side: int,
    step: int,
    series: float,
    close_step: int,
    last_step: int,
    exit_price: float,
    close_rate: float,
    buffer: float,
    fee: float,
    liquidator_share: float,
    threshold: np.ndarray,
    prefix: np.ndarray,
    segments: np.ndarray,
    n_segments: int,
    cohorts: np.ndarray,
    n_cohorts: int,
    totals: np.ndarray,
    flows: np.ndarray,
) -> tuple[np.ndarray, int, np.ndarray, int, float]:
    """Flag, at ``step``, the armed positions of one side whose threshold the series crossed.

    ``side`` is +1 (longs: ``series = P (1 - m)``, flagged if ``series < threshold``) or
    -1 (shorts: ``P (1 + m)``, flagged if ``series > threshold``). Each flagged range
    or cohort is closed at ``close_step`` at ``exit_price`` with maintenance
    ``close_rate``, booked with ``record_close``; what remains forms the step's new
    cohort (armed from ``close_step + 1``; none at the last step). Returns the tables,
    their row counts and the quantity flagged (base units).
    """
    target = exit_price * (1.0 - side * (close_rate + buffer))  # theta' or phi'
    full_bound = exit_price * (1.0 - side * fee)  # q' <= 0 beyond this threshold
    denominator = (close_rate + buffer - fee) * exit_price
    alive_after = close_step < last_step
    flagged = 0.0
    new_qty = 0.0
    new_count = 0.0
    for row in range(n_segments):
        a = int(segments[row, SEG_A])
        b = int(segments[row, SEG_B])
        if a >= b or segments[row, SEG_FROM] > step:
            continue
        if side > 0:
            if not series < segments[row, SEG_EXTREME]:
                continue
            segments[row, SEG_EXTREME] = series
            start = first_greater(threshold, series, a, b)
            if start == b:
                continue
            stop = b
            rearm_stop = first_greater(threshold, target, start, stop)
            full_start = first_not_less(threshold, full_bound, rearm_stop, stop)
            part_start, part_stop = rearm_stop, full_start
            rearm_start = start
            if full_start < stop:
                qty, notional, paid, bad = _close_long_range(
                    threshold, prefix, full_start, stop, exit_price, fee
                )
                record_close(
                    totals,
                    flows,
                    close_step,
                    stop - full_start,
                    notional,
                    paid,
                    bad,
                    liquidator_share,
                )
            segments[row, SEG_B] = start
        else:
            if not series > segments[row, SEG_EXTREME]:
                continue
            segments[row, SEG_EXTREME] = series
            stop = first_not_less(threshold, series, a, b)
            if stop == a:
                continue
            start = a
            full_stop = first_greater(threshold, full_bound, start, stop)
            rearm_start = first_not_less(threshold, target, full_stop, stop)
            part_start, part_stop = full_stop, rearm_start
            rearm_stop = stop
            if full_stop > start:
                qty, notional, paid, bad = _close_short_range(
                    threshold, prefix, start, full_stop, exit_price, fee
                )
                record_close(
                    totals,
                    flows,
                    close_step,
                    full_stop - start,
                    notional,
                    paid,
                    bad,
                    liquidator_share,
                )
            segments[row, SEG_A] = stop
        flagged += _qty(prefix, start, stop)
        if part_start < part_stop:
            qty = _qty(prefix, part_start, part_stop)
            excess = side * (full_bound * qty - _qt(prefix, part_start, part_stop))
            remaining = min(qty, max(0.0, excess / denominator))
            closed = qty - remaining
            record_close(
                totals,
                flows,
                close_step,
                part_stop - part_start,
                closed * exit_price,
                fee * closed * exit_price,
                0.0,
                liquidator_share,
            )
            new_qty += remaining
            new_count += part_stop - part_start
        if rearm_start < rearm_stop and alive_after:
            segments = grown(segments, n_segments)
            segments[n_segments, SEG_A] = rearm_start
            segments[n_segments, SEG_B] = rearm_stop
            segments[n_segments, SEG_EXTREME] = side * np.inf
            segments[n_segments, SEG_FROM] = close_step + 1
            n_segments += 1
    for row in range(n_cohorts):
        count = cohorts[row, COH_COUNT]
        if count <= 0.0 or cohorts[row, COH_FROM] > step:
            continue
        level = cohorts[row, COH_THRESHOLD]
        if not side * (level - series) > 0.0:
            continue
        qty = cohorts[row, COH_QTY]
        flagged += qty
        if side * (level - full_bound) >= 0.0:
            paid, bad = _close_cohort(side, level, qty, exit_price, fee)
            record_close(
                totals, flows, close_step, count, exit_price * qty, paid, bad, liquidator_share
            )
            cohorts[row, COH_COUNT] = 0.0
        elif side * (target - level) >= 0.0:
            if alive_after:
                cohorts[row, COH_FROM] = close_step + 1
            else:
                cohorts[row, COH_COUNT] = 0.0
        else:
            remaining = min(qty, max(0.0, qty * side * (full_bound - level) / denominator))
            closed = qty - remaining
            record_close(
                totals,
                flows,
                close_step,
                count,
                closed * exit_price,
                fee * closed * exit_price,
                0.0,
                liquidator_share,
            )
            new_qty += remaining
            new_count += count
            cohorts[row, COH_COUNT] = 0.0
    if new_count > 0.0 and alive_after:
        cohorts = grown(cohorts, n_cohorts)
        cohorts[n_cohorts, COH_THRESHOLD] = target
        cohorts[n_cohorts, COH_QTY] = new_qty
        cohorts[n_cohorts, COH_COUNT] = new_count
        cohorts[n_cohorts, COH_FROM] = close_step + 1
        n_cohorts += 1
    return segments, n_segments, cohorts, n_cohorts, flagged


@kernel
def initial_segments(n_positions: int, side: int) -> np.ndarray:
    """The segment table of one side: the whole sorted book, armed from step 0."""
    segments = np.zeros((4, N_SEG))
    segments[0, SEG_A] = 0
    segments[0, SEG_B] = n_positions
    segments[0, SEG_EXTREME] = side * np.inf
    segments[0, SEG_FROM] = 0
    return segments


@kernel
def partial_replay_path(
    prices: np.ndarray,
    margin: np.ndarray,
    liquidation: np.ndarray,
    buffer: float,
    long_threshold: np.ndarray,
    long_prefix: np.ndarray,
    short_threshold: np.ndarray,
    short_prefix: np.ndarray,
    fund_initial: float,
    flows: np.ndarray,
    out_row: np.ndarray,
) -> None:
    """Replay the sorted book over one path with partial liquidation (docs/model.md 10.1).

    Arguments as :func:`stresstest.kernels.replay.replay_path`, plus ``buffer``
    (fraction of notional). ``n_liquidations`` counts closes (a position closed
    partially twice counts twice); ``liquidated_notional`` is the closed quantity
    times the exit price; the open quantity ``Q_t`` of ``requirement_mean`` holds
    armed positions only (flagged ones leave it until they are armed again).
    """
    n_points = prices.shape[0]
    last_step = n_points - 1
    latency_steps, slippage, fee, liquidator_share = liquidation_terms(liquidation)
    rates = margin_rates(prices, margin)
    long_segments = initial_segments(long_threshold.shape[0], 1)
    short_segments = initial_segments(short_threshold.shape[0], -1)
    long_cohorts = np.zeros((16, N_COH))
    short_cohorts = np.zeros((16, N_COH))
    n_long_segments = 1
    n_short_segments = 1
    n_long_cohorts = 0
    n_short_cohorts = 0
    open_qty = 0.0
    requirement_sum = 0.0
    open_notional_sum = 0.0
    totals = np.zeros(N_TOTALS)
    for step in range(n_points):
        price = prices[step]
        rate = rates[step]
        n_long_segments, n_long_cohorts, armed_long = arm_due(
            long_segments, n_long_segments, long_cohorts, n_long_cohorts, long_prefix, step
        )
        n_short_segments, n_short_cohorts, armed_short = arm_due(
            short_segments, n_short_segments, short_cohorts, n_short_cohorts, short_prefix, step
        )
        open_qty += armed_long + armed_short
        open_notional = price * open_qty
        requirement_sum += rate * open_notional
        open_notional_sum += open_notional
        close_step = min(step + latency_steps, last_step)
        close_price = prices[close_step]
        long_segments, n_long_segments, long_cohorts, n_long_cohorts, flagged_long = check_side(
            1,
            step,
            price * (1.0 - rate),
            close_step,
            last_step,
            close_price * (1.0 - slippage),
            rates[close_step],
            buffer,
            fee,
            liquidator_share,
            long_threshold,
            long_prefix,
            long_segments,
            n_long_segments,
            long_cohorts,
            n_long_cohorts,
            totals,
            flows,
        )
        short_segments, n_short_segments, short_cohorts, n_short_cohorts, flagged_short = (
            check_side(
                -1,
                step,
                price * (1.0 + rate),
                close_step,
                last_step,
                close_price * (1.0 + slippage),
                rates[close_step],
                buffer,
                fee,
                liquidator_share,
                short_threshold,
                short_prefix,
                short_segments,
                n_short_segments,
                short_cohorts,
                n_short_cohorts,
                totals,
                flows,
            )
        )
        open_qty -= flagged_long + flagged_short
    write_totals(totals, out_row)
    out_row[enums.REQUIREMENT_MEAN] = requirement_sum / n_points
    out_row[enums.MARGIN_RATE_MEAN] = (
        requirement_sum / open_notional_sum if open_notional_sum > 0.0 else 0.0
    )
    walk_fund(flows, fund_initial, out_row)


@parallel_kernel
def partial_replay_paths(
    prices: np.ndarray,
    margin: np.ndarray,
    liquidation: np.ndarray,
    buffer: float,
    long_threshold: np.ndarray,
    long_prefix: np.ndarray,
    short_threshold: np.ndarray,
    short_prefix: np.ndarray,
    fund_initial: float,
    grid: np.ndarray,
    out: np.ndarray,
    grid_out: np.ndarray,
) -> None:
    """Every row of ``prices`` with partial liquidation; as :func:`replay.replay_paths`.

    Each thread owns whole paths; per-path scratch is ``O(T)`` plus the segment and
    cohort tables, never ``O(N)``.
    """
    for row in numba.prange(prices.shape[0]):
        flows = np.zeros((N_FLOWS, prices.shape[1]))
        partial_replay_path(
            prices[row],
            margin,
            liquidation,
            buffer,
            long_threshold,
            long_prefix,
            short_threshold,
            short_prefix,
            fund_initial,
            flows,
            out[row],
        )
        if grid.shape[0] > 0:
            record_grid(prices[row], flows, grid, grid_out[row])
