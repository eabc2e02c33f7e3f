"""The partial-liquidation stage of the pipeline: segments, cohorts and a close queue.

docs/model.md 10.1 and 12. A long ``(q, e, c)`` with threshold ``theta = e - c / q``,
flagged and due at step ``tau``, closes at the exit price ``x`` (the execution
price of the step, moved by slippage) with penalty rate ``fee`` and keeps the
quantity

    q' = q (F - theta) / (F - T),     F = x (1 - fee),   T = y * level

where ``T`` is the *target threshold*: the mark ``y`` of the close step (the
oracle price moved by slippage) times the trigger's boundary less the buffer
(``level = 1 - m - b`` for the maintenance trigger, ``exp(-z sigma sqrt(h)) - b``
for the predictive one). Then the remaining threshold is ``theta' = T``: the same
for every position closed at that step, so all of them form one *cohort* with a
common threshold and total quantity ``(F sum q - sum q theta) / (F - T)``, linear
in the prefix sums of the sorted book. Shorts mirror this (``F = x (1 + fee)``,
``level = 1 + m + b`` or ``exp(z sigma sqrt(h)) + b``).

Three cases per position, by threshold (longs; shorts mirrored):

- ``theta <= T`` (``q' >= q``): nothing is closed; re-armed unchanged from ``tau + 1``;
- otherwise ``theta >= F`` (``q' <= 0``): closed in full, as in the core model;
- otherwise: ``q - q'`` is closed, paying its full penalty; the rest joins the cohort.

(With ``F <= T``, possible only when the mark and the execution price differ or
the fee reaches the target's distance, the middle case is empty.)

The book is held as *segments* (ranges of the sorted book, each with its own running
extreme of the breach series since it was armed: the whole book is the *first*
segment, and a re-armed range becomes a new one) and *cohorts* ``(threshold, Q,
members)``. A flag moves a segment's flagged range into the side's close *queue*
(first in, first out by flag step) and marks a flagged cohort pending; both are
closed at their close step by :func:`close_side`, so the execution price may
depend on that step's own closes (price impact). Per path the cost is
``O(T (S + K) + B log N)``: ``S`` live segments, ``K`` live cohorts (at most one
new cohort per side and step), ``B`` flag events; memory ``O(T + S + K)``.

Segment rows: ``SEG_A, SEG_B`` (armed range ``[a, b)`` of the sorted book),
``SEG_EXTREME`` (running min of the long series, max of the short one, since
arming), ``SEG_FROM`` (first step it is checked) and ``SEG_FIRST`` (1 for the
first segment, whose flags are first flags). Cohort rows: ``COH_THRESHOLD`` (quote
per base), ``COH_QTY`` (base units), ``COH_COUNT`` (positions; 0 marks a dead
cohort), ``COH_FROM`` (``inf`` while pending) and ``COH_ID`` (ascending along the
table, which only appends and drops rows in order). Queue rows: ``Q_FLAG`` (flag
step), then a range ``Q_A, Q_B`` of the sorted book or, with ``Q_COHORT`` = 1, the
id of a pending cohort in ``Q_A``.

With ADL (10.2) the range sums exclude what ADL closed (the side's removal trees,
``removed``; one column: nothing removed) and a cohort's ``COH_QTY`` and
``COH_COUNT`` are net of it (:mod:`stresstest.kernels.partial_adl`).
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.adl import close_range, open_quantity, open_sums
from stresstest.kernels.backstop import passed_bad_debt, take_cohort, take_over
from stresstest.kernels.fund import FLOW_BAD_DEBT, record_close
from stresstest.kernels.jit import kernel
from stresstest.kernels.procyclicality import add_procyclical
from stresstest.kernels.procyclicality_staged import tally_closed_ranges
from stresstest.kernels.replay import QTY_HI, QTY_LO, _close_long_range, _close_short_range
from stresstest.kernels.search import first_greater, first_not_less
from stresstest.kernels.sums import range_sum

SEG_A = 0
SEG_B = 1
SEG_EXTREME = 2
SEG_FROM = 3
SEG_FIRST = 4
N_SEG = 5

COH_THRESHOLD = 0
COH_QTY = 1
COH_COUNT = 2
COH_FROM = 3
COH_ID = 4
N_COH = 5
# With [procyclicality] (docs/model.md 3.2) a target-rule cohort also carries the part of it
# the rate held at m_0 never flags: its quantity (base units) and count, and that side's
# index range [COH_HELD_FROM, COH_HELD_TO) of such positions in the sorted book.
COH_HELD_QTY = N_COH
COH_HELD_COUNT = N_COH + 1
COH_HELD_FROM = N_COH + 2
COH_HELD_TO = N_COH + 3
N_COH_HELD = N_COH + 4

Q_FLAG = 0
Q_A = 1
Q_B = 2
Q_COHORT = 3
N_Q = 4


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
def initial_segments(n_positions: int, side: int) -> np.ndarray:
    """The segment table of one side: the whole sorted book, armed from step 0."""
    segments = np.zeros((4, N_SEG))
    segments[0, SEG_A] = 0
    segments[0, SEG_B] = n_positions
    segments[0, SEG_EXTREME] = side * np.inf
    segments[0, SEG_FROM] = 0
    segments[0, SEG_FIRST] = 1.0
    return segments


@kernel
def arm_due(
    segments: np.ndarray,
    n_segments: int,
    cohorts: np.ndarray,
    n_cohorts: int,
    prefix: np.ndarray,
    removed: np.ndarray,
    step: int,
) -> tuple[int, int, float]:
    """Drop dead rows (order kept) and arm the rows whose first step is ``step``.

    Returns the new row counts and the quantity armed at ``step`` (base units).
    Pending cohorts (``COH_FROM = inf``) are kept and not armed. ``removed`` is the
    side's ADL removal state (:func:`stresstest.kernels.adl.open_sums`; one column:
    nothing removed), so positions ADL closed are not armed again.
    """
    armed = 0.0
    kept = 0
    for row in range(n_segments):
        a = int(segments[row, SEG_A])
        b = int(segments[row, SEG_B])
        if a >= b:
            continue
        if segments[row, SEG_FROM] == step:
            armed += open_quantity(prefix, removed, a, b)
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
def flag_side(
    side: int,
    step: int,
    series: float,
    threshold: np.ndarray,
    prefix: np.ndarray,
    removed: np.ndarray,
    segments: np.ndarray,
    n_segments: int,
    cohorts: np.ndarray,
    n_cohorts: int,
    queue: np.ndarray,
    n_queue: int,
    frontier: int,
) -> tuple[np.ndarray, int, float, int]:
    """Flag, at ``step``, the armed positions of one side whose threshold ``series`` crossed.

    ``side`` +1: longs, flagged if ``series < threshold``; -1: shorts, flagged if
    ``series > threshold``. A flagged range of a segment is cut from it and queued;
    a flagged cohort becomes pending (``COH_FROM = inf``) and its id is queued.
    ``frontier`` is the first-flag boundary (longs ``[frontier, n)``, shorts
    ``[0, frontier)`` were ever flagged). Returns the
    queue, its row count, the quantity flagged (base units) and the new frontier.
    """
    flagged = 0.0
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
            segments[row, SEG_B] = start
            if segments[row, SEG_FIRST] > 0.0:
                frontier = start
        else:
            if not series > segments[row, SEG_EXTREME]:
                continue
            segments[row, SEG_EXTREME] = series
            stop = first_not_less(threshold, series, a, b)
            if stop == a:
                continue
            start = a
            segments[row, SEG_A] = stop
            if segments[row, SEG_FIRST] > 0.0:
                frontier = stop
        flagged += open_quantity(prefix, removed, start, stop)
        if n_queue == queue.shape[0]:
            queue = grown(queue, n_queue)
        queue[n_queue, Q_FLAG] = step
        queue[n_queue, Q_A] = start
        queue[n_queue, Q_B] = stop
        queue[n_queue, Q_COHORT] = 0.0
        n_queue += 1
    for row in range(n_cohorts):
        if cohorts[row, COH_COUNT] <= 0.0 or cohorts[row, COH_FROM] > step:
            continue
        if not side * (cohorts[row, COH_THRESHOLD] - series) > 0.0:
            continue
        flagged += cohorts[row, COH_QTY]
        cohorts[row, COH_FROM] = np.inf
        if n_queue == queue.shape[0]:
            queue = grown(queue, n_queue)
        queue[n_queue, Q_FLAG] = step
        queue[n_queue, Q_A] = cohorts[row, COH_ID]
        queue[n_queue, Q_COHORT] = 1.0
        n_queue += 1
    return queue, n_queue, flagged, frontier


@kernel
def close_terms(
    side: int,
    execution: float,
    mark: float,
    level: float,
    slippage: float,
    fee: float,
    maintenance_form: bool,
    rate_and_buffer: float,
) -> tuple[float, float, float, float]:
    """``(x, T, F, F - T signed)`` of one side's closes at a step (docs/model.md 10.1).

    ``x = execution (1 - side slippage)`` (exit price), ``T = mark (1 - side
    slippage) level`` (target threshold), ``F = x (1 - side fee)`` (full-close
    bound) and ``side (F - T)``, the denominator of ``q'``. With the maintenance
    trigger and the mark equal to the execution price the denominator is
    ``(m + b - fee) x``, the form the results always had.
    """
    exit_price = execution * (1.0 - side * slippage)
    mark_exit = mark * (1.0 - side * slippage)
    target = mark_exit * level
    full_bound = exit_price * (1.0 - side * fee)
    if maintenance_form and mark_exit == exit_price:
        denominator = (rate_and_buffer - fee) * exit_price
    else:
        denominator = side * (full_bound - target)
    return exit_price, target, full_bound, denominator


@kernel
def split_due_range(
    side: int, target: float, full_bound: float, threshold: np.ndarray, start: int, stop: int
) -> tuple[int, int, int, int, int, int]:
    """Split a due range ``[start, stop)`` of the sorted book at ``target`` and ``full_bound``.

    Binary searches: returns ``(rearm_start, rearm_stop, full_start, full_stop,
    part_start, part_stop)``, the positions no longer in breach of ``target``, those
    at or past ``full_bound`` (longs; at or below it, shorts) and the middle part.
    """
    if side > 0:
        rearm_start = start
        rearm_stop = first_greater(threshold, target, start, stop)
        full_start = first_not_less(threshold, full_bound, rearm_stop, stop)
        full_stop = stop
        return rearm_start, rearm_stop, full_start, full_stop, rearm_stop, full_start
    rearm_start = first_not_less(threshold, target, start, stop)
    rearm_stop = stop
    full_start = start
    full_stop = first_greater(threshold, full_bound, start, rearm_start)
    return rearm_start, rearm_stop, full_start, full_stop, full_stop, rearm_start


@kernel
def close_range_in_full(
    side: int,
    target: float,
    full_bound: float,
    exit_price: float,
    fee: float,
    liquidator_share: float,
    bound: float,
    threshold: np.ndarray,
    prefix: np.ndarray,
    removed: np.ndarray,
    start: int,
    stop: int,
    close_step: int,
    totals: np.ndarray,
    flows: np.ndarray,
    book: bool,
) -> tuple[int, int, int, int, float, float]:
    """Split a due range ``[start, stop)`` of one side and close its full part (10.1, 10.4).

    Positions no longer in breach of ``target`` are re-armed; those at or past
    ``full_bound`` (longs; at or below it, shorts) are closed in full at
    ``exit_price``, recorded with ``book``, and the bad debt past the fund's bound
    ``bound`` (negative: none) is taken out of the step's fund flow. Returns
    ``(rearm_start, rearm_stop, part_start, part_stop, closed_qty, passed)``: the
    re-armed and the middle (partially closed) ranges, the quantity closed in full
    when not ``book`` (base units; 0 with ``book``) and the bad debt passed on
    (quote units). Shared by every partial rule. Range sums exclude what ADL removed
    (``removed``, :func:`stresstest.kernels.adl.open_sums`; one column: nothing).
    """
    closed_qty = 0.0
    passed = 0.0
    rearm_start, rearm_stop, full_start, full_stop, part_start, part_stop = split_due_range(
        side, target, full_bound, threshold, start, stop
    )
    if full_start < full_stop:
        if book:
            count = float(full_stop - full_start)
            if removed.shape[1] > 1:  # ADL removed positions (10.2): open sums
                count, _, notional, paid, bad = close_range(
                    side, threshold, prefix, removed, full_start, full_stop, exit_price, fee
                )
            elif side > 0:
                _, notional, paid, bad = _close_long_range(
                    threshold, prefix, full_start, full_stop, exit_price, fee
                )
            else:
                _, notional, paid, bad = _close_short_range(
                    threshold, prefix, full_start, full_stop, exit_price, fee
                )
            record_close(
                totals,
                flows,
                close_step,
                count,
                notional,
                paid,
                bad,
                liquidator_share,
            )
            if bound >= 0.0 and bad > 0.0:
                beyond = passed_bad_debt(
                    side,
                    threshold,
                    prefix,
                    removed,
                    full_start,
                    full_stop,
                    exit_price,
                    bound,
                )
                flows[FLOW_BAD_DEBT, close_step] -= beyond
                passed += beyond
        else:
            closed_qty += open_quantity(prefix, removed, full_start, full_stop)
    return rearm_start, rearm_stop, part_start, part_stop, closed_qty, passed


@kernel
def rearmed(
    segments: np.ndarray,
    n_segments: int,
    side: int,
    rearm_start: int,
    rearm_stop: int,
    close_step: int,
) -> tuple[np.ndarray, int]:
    """Append the re-armed range ``[rearm_start, rearm_stop)``, armed from ``close_step + 1``."""
    segments = grown(segments, n_segments)
    segments[n_segments, SEG_A] = rearm_start
    segments[n_segments, SEG_B] = rearm_stop
    segments[n_segments, SEG_EXTREME] = side * np.inf
    segments[n_segments, SEG_FROM] = close_step + 1
    segments[n_segments, SEG_FIRST] = 0.0
    return segments, n_segments + 1


@kernel
def close_side(
    side: int,
    flag_step: int,
    close_step: int,
    last_step: int,
    exit_price: float,
    target: float,
    full_bound: float,
    denominator: float,
    fee: float,
    liquidator_share: float,
    bound: float,
    threshold: np.ndarray,
    prefix: np.ndarray,
    removed: np.ndarray,
    queue: np.ndarray,
    head: int,
    n_queue: int,
    segments: np.ndarray,
    n_segments: int,
    cohorts: np.ndarray,
    n_cohorts: int,
    totals: np.ndarray,
    flows: np.ndarray,
    book: bool,
    tally: np.ndarray,
    held_from: int,
    held_to: int,
) -> tuple[np.ndarray, int, np.ndarray, int, int, float, float]:
    """Close one side's flags of ``flag_step`` at ``close_step`` (docs/model.md 10.1).

    The queue's rows of ``flag_step`` from ``head`` (ranges, then cohorts, as
    :func:`flag_side` queued them): re-armed, closed in full or partially, at ``exit_price`` with
    the target threshold ``target`` (see :func:`close_terms`). With ``book`` the
    closes are recorded, re-armed ranges become segments and the step's partial
    remains one new cohort (armed from ``close_step + 1``; none at the last step);
    without it nothing changes and only the closed quantity is computed (the order
    the impact stage prices). ``bound`` is the fund's bound past bankruptcy ``f``
    (docs/model.md 10.4; negative: none): the bad debt of a full close beyond ``f``
    of its notional is taken out of the step's fund flow and returned as passed on.
    A full close of a range splits by binary search at ``x (1 + f)`` (longs) /
    ``x (1 - f)`` (shorts); a cohort's members share one threshold, so it passes on
    all or nothing, ``Q theta' - x (1 + f) Q`` (longs). Range sums exclude what ADL
    removed (``removed``, :func:`stresstest.kernels.adl.open_sums`; a cohort's
    ``COH_QTY`` and ``COH_COUNT`` are already net of it). Returns the tables, their
    row counts, the new queue head, the closed quantity (base units) and the bad
    debt passed on (quote units). With ``book`` and a non-empty ``tally``
    (``[procyclicality]``, 3.2) the closes of positions ``[held_from, held_to)``, those
    the rate held at ``m_0`` never flags, are added to it; a cohort carries their part
    (:data:`COH_HELD_QTY`, a table of :data:`N_COH_HELD` columns).
    """
    alive_after = close_step < last_step
    measured = book and tally.shape[0] > 0
    closed_qty = 0.0
    passed = 0.0
    new_qty = 0.0
    new_count = 0.0
    new_held_qty = 0.0
    new_held_count = 0.0
    while head < n_queue and queue[head, Q_FLAG] == flag_step:
        if queue[head, Q_COHORT] > 0.0:
            row = _cohort_row(cohorts, n_cohorts, queue[head, Q_A])
            head += 1
            count = cohorts[row, COH_COUNT]
            level = cohorts[row, COH_THRESHOLD]
            qty = cohorts[row, COH_QTY]
            if side * (target - level) >= 0.0:  # recovered: re-armed unchanged
                if book:
                    if alive_after:
                        cohorts[row, COH_FROM] = close_step + 1
                    else:
                        cohorts[row, COH_COUNT] = 0.0
            elif side * (level - full_bound) >= 0.0:  # closed in full
                if book:
                    paid, bad = _close_cohort(side, level, qty, exit_price, fee)
                    record_close(
                        totals,
                        flows,
                        close_step,
                        count,
                        exit_price * qty,
                        paid,
                        bad,
                        liquidator_share,
                    )
                    if bound >= 0.0 and bad > 0.0:
                        beyond = _cohort_beyond(side, level, qty, exit_price, bound)
                        flows[FLOW_BAD_DEBT, close_step] -= beyond
                        passed += beyond
                    cohorts[row, COH_COUNT] = 0.0
                    if measured:
                        held_qty = cohorts[row, COH_HELD_QTY]
                        add_procyclical(tally, cohorts[row, COH_HELD_COUNT], held_qty, exit_price)
                else:
                    closed_qty += qty
            else:
                remaining = min(qty, max(0.0, qty * side * (full_bound - level) / denominator))
                closed = qty - remaining
                closed_qty += closed
                if measured:  # every member keeps the same share (10.1)
                    held_qty = cohorts[row, COH_HELD_QTY]
                    kept = held_qty * side * (full_bound - level) / denominator
                    kept = min(held_qty, max(0.0, kept))
                    add_procyclical(
                        tally, cohorts[row, COH_HELD_COUNT], held_qty - kept, exit_price
                    )
                    new_held_qty += kept
                    new_held_count += cohorts[row, COH_HELD_COUNT]
                if book:
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
            continue
        start = int(queue[head, Q_A])
        stop = int(queue[head, Q_B])
        head += 1
        rearm_start, rearm_stop, part_start, part_stop, full_qty, beyond = close_range_in_full(
            side,
            target,
            full_bound,
            exit_price,
            fee,
            liquidator_share,
            bound,
            threshold,
            prefix,
            removed,
            start,
            stop,
            close_step,
            totals,
            flows,
            book,
        )
        closed_qty += full_qty
        passed += beyond
        if measured:
            kept, count = tally_closed_ranges(
                tally,
                side,
                (start, stop, part_start, part_stop),
                held_from,
                held_to,
                prefix,
                removed,
                exit_price,
                full_bound,
                denominator,
            )
            new_held_qty += kept
            new_held_count += count
        if part_start < part_stop:
            qty, qt, count = open_sums(prefix, removed, part_start, part_stop)
            excess = side * (full_bound * qty - qt)
            remaining = min(qty, max(0.0, excess / denominator))
            closed = qty - remaining
            closed_qty += closed
            if book:
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
        if book and rearm_start < rearm_stop and alive_after:
            segments, n_segments = rearmed(
                segments, n_segments, side, rearm_start, rearm_stop, close_step
            )
    if book and new_count > 0.0 and alive_after:
        cohorts = grown(cohorts, n_cohorts)
        cohorts[n_cohorts, COH_THRESHOLD] = target
        cohorts[n_cohorts, COH_QTY] = new_qty
        cohorts[n_cohorts, COH_COUNT] = new_count
        cohorts[n_cohorts, COH_FROM] = close_step + 1
        cohorts[n_cohorts, COH_ID] = cohorts[n_cohorts - 1, COH_ID] + 1.0 if n_cohorts else 0.0
        if cohorts.shape[1] == N_COH_HELD:
            cohorts[n_cohorts, COH_HELD_QTY] = new_held_qty
            cohorts[n_cohorts, COH_HELD_COUNT] = new_held_count
            cohorts[n_cohorts, COH_HELD_FROM] = held_from
            cohorts[n_cohorts, COH_HELD_TO] = held_to
        n_cohorts += 1
    return segments, n_segments, cohorts, n_cohorts, head, closed_qty, passed


@kernel
def _cohort_beyond(
    side: int, threshold: float, qty: float, exit_price: float, bound: float
) -> float:
    """Bad debt of a cohort closed in full beyond ``bound`` of its notional (10.4), quote.

    Every member has the threshold ``threshold``, so each passes on ``q (theta' - x
    (1 + f))`` (longs; shorts ``q (x (1 - f) - phi')``) or nothing, and the cohort
    the same with ``Q``; equality passes nothing.
    """
    if side > 0:
        limit = exit_price * (1.0 + bound)
        if threshold > limit:
            return max(0.0, qty * threshold - limit * qty)
        return 0.0
    limit = exit_price * (1.0 - bound)
    if threshold < limit:
        return max(0.0, limit * qty - qty * threshold)
    return 0.0


@kernel
def _cohort_row(cohorts: np.ndarray, n_cohorts: int, cohort_id: float) -> int:
    """Row of the cohort ``cohort_id`` (ids ascend along the table; binary search)."""
    low = 0
    high = n_cohorts
    while low < high:
        middle = (low + high) >> 1
        if cohorts[middle, COH_ID] < cohort_id:
            low = middle + 1
        else:
            high = middle
    return low


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
def take_over_due(
    side: int,
    first: int,
    last: int,
    mark: float,
    level: float,
    threshold: np.ndarray,
    prefix: np.ndarray,
    removed: np.ndarray,
    queue: np.ndarray,
    head: int,
    n_queue: int,
    cohorts: np.ndarray,
    n_cohorts: int,
    vault: np.ndarray,
    vault_cohorts: np.ndarray,
    step: int,
) -> None:
    """The backstop vault takes over the due flags of one side below its level (10.3).

    The queue's rows of flag steps ``[first, last]`` from ``head``: a long is taken
    over when its threshold is above ``level = O_t (1 - k m_t)`` (a short: below
    ``O_t (1 + k m_t)``). A range of the sorted book is cut at that level by binary
    search and its worst end taken; a cohort's members share the threshold
    ``theta'`` of their last partial close, which is each member's bankruptcy price,
    so the cohort is taken whole (``Q'`` from ``theta'``, ``COH_COUNT`` positions)
    or not at all. What is taken leaves the queue (a range shrinks, a cohort's row
    becomes an empty range and the cohort dies), so the market close and the
    impact sizing never see it. Positions ADL removed (``removed``) are not taken.
    """
    row = head
    while row < n_queue and queue[row, Q_FLAG] <= last:
        if queue[row, Q_FLAG] < first:
            row += 1
            continue
        if queue[row, Q_COHORT] > 0.0:
            index = _cohort_row(cohorts, n_cohorts, queue[row, Q_A])
            theta = cohorts[index, COH_THRESHOLD]
            if side * (theta - level) > 0.0:
                qty = cohorts[index, COH_QTY]
                count = cohorts[index, COH_COUNT]
                take_cohort(vault, vault_cohorts, step, side, qty, qty * theta, count, mark)
                cohorts[index, COH_COUNT] = 0.0
                queue[row, Q_COHORT] = 0.0
                queue[row, Q_A] = 0.0
                queue[row, Q_B] = 0.0
        else:
            start = int(queue[row, Q_A])
            stop = int(queue[row, Q_B])
            if side > 0:
                split = first_greater(threshold, level, start, stop)
                take_over(vault, vault_cohorts, step, 1, prefix, removed, split, stop, mark)
                queue[row, Q_B] = split
            else:
                split = first_not_less(threshold, level, start, stop)
                take_over(vault, vault_cohorts, step, -1, prefix, removed, start, split, mark)
                queue[row, Q_A] = split
        row += 1
