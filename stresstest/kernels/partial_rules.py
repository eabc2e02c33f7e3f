"""Venue-style close rule of the partial-liquidation stage: a fixed fraction per close.

docs/model.md 10.1 (rule ``'fraction'``). A due long ``(q, theta)`` at close step
``tau`` with exit price ``x``, full-close bound ``F = x (1 - fee)`` and the breach
series ``T`` of step ``tau`` (the mark times the trigger's boundary, no buffer) is

- re-armed unchanged if ``theta <= T`` (no longer in breach at ``tau``);
- otherwise closed in full (the core accounting of docs/model.md 4) if ``theta >= F``,
  if its notional at the mark ``q O_tau`` is at most ``min_notional``, if it was
  closed partially at a step ``u`` with ``tau <= u + cooldown`` (the cool-down) or if
  ``f = 1``;
- otherwise closed partially: ``f q`` is closed at ``x`` paying ``fee f q x``; it keeps
  ``q' = q - f q`` and its collateral less the loss and penalty of the closed part,
  so its new threshold is ``theta' = (theta - f F) / (1 - f)``.

Shorts mirror this (``F = x (1 + fee)``, ``phi >= T`` re-armed, ``phi <= F`` full).
``theta'`` differs between positions, so a remainder is a cohort row of one
position (``COH_COUNT`` = 1) with an extra column ``COH_LAST``, the step of its last
partial close; a range of the sorted book is split at ``T`` and ``F`` by binary
search and its middle part closed position by position (the notional threshold
depends on each position's quantity, which is not sorted with the threshold).
Per path ``O(T (S + K) + B log N + P)``: ``K`` live remainders, ``P`` partial
closes of positions of the sorted book. With ADL (10.2) each row also holds its
position (``COH_MEMBER``), whose own state ADL reads
(:mod:`stresstest.kernels.partial_fraction_adl`).
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.fund import FLOW_BAD_DEBT, record_close
from stresstest.kernels.jit import kernel
from stresstest.kernels.partial import (
    COH_COUNT,
    COH_FROM,
    COH_ID,
    COH_QTY,
    COH_THRESHOLD,
    N_COH,
    Q_A,
    Q_B,
    Q_COHORT,
    Q_FLAG,
    _close_cohort,
    _cohort_beyond,
    _cohort_row,
    _qty,
    close_range_in_full,
    grown,
    rearmed,
)
from stresstest.kernels.procyclicality import add_procyclical
from stresstest.kernels.procyclicality_staged import tally_closed_ranges

COH_LAST = N_COH  # step of the remainder's last partial close (rule 'fraction')
COH_MEMBER = N_COH + 1  # the remainder's position in the sorted book (ADL's state, 10.2)
N_COH_RULES = N_COH + 2

REARM = 0
FULL = 1
PARTIAL = 2


@kernel
def fraction_case(
    side: int,
    target: float,
    full_bound: float,
    level: float,
    qty: float,
    mark: float,
    fraction: float,
    min_notional: float,
    in_cooldown: bool,
) -> int:
    """The case of a due position (threshold ``level``, quantity ``qty``) by the table of 10.1.1.

    :data:`REARM` if it is no longer in breach of ``target``, :data:`FULL` if it is
    at or past ``full_bound``, if ``f = 1``, if its notional at the mark ``qty mark``
    is at most ``min_notional`` or during its cool-down, else :data:`PARTIAL`.
    """
    if side * (target - level) >= 0.0:
        return REARM
    if (
        side * (level - full_bound) >= 0.0
        or fraction >= 1.0
        or qty * mark <= min_notional
        or in_cooldown
    ):
        return FULL
    return PARTIAL


@kernel
def held_qty(prefix: np.ndarray, remain: np.ndarray, index: int) -> float:
    """Quantity (base units) of the sorted book's position ``index`` now.

    ``remain`` is ADL's remaining fraction per position (empty: ADL is off, the
    book's quantity).
    """
    qty = _qty(prefix, index, index + 1)
    if remain.shape[0] == 0:
        return qty
    return float(qty * remain[index])


@kernel
def _full_cohort(
    side: int,
    level: float,
    qty: float,
    exit_price: float,
    fee: float,
    close_step: int,
    count: float,
    liquidator_share: float,
    bound: float,
    totals: np.ndarray,
    flows: np.ndarray,
) -> float:
    """Record a cohort row closed in full (4.1, 10.4); returns the bad debt passed on."""
    paid, bad = _close_cohort(side, level, qty, exit_price, fee)
    record_close(totals, flows, close_step, count, exit_price * qty, paid, bad, liquidator_share)
    if bound >= 0.0 and bad > 0.0:
        beyond = _cohort_beyond(side, level, qty, exit_price, bound)
        flows[FLOW_BAD_DEBT, close_step] -= beyond
        return beyond
    return 0.0


@kernel
def close_side_fraction(
    side: int,
    flag_step: int,
    close_step: int,
    last_step: int,
    exit_price: float,
    target: float,
    full_bound: float,
    fee: float,
    liquidator_share: float,
    bound: float,
    mark: float,
    fraction: float,
    cooldown: int,
    min_notional: float,
    threshold: np.ndarray,
    prefix: np.ndarray,
    removed: np.ndarray,
    remain: np.ndarray,
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
    """Close one side's flags of ``flag_step`` at ``close_step`` by the fraction rule (10.1).

    :func:`stresstest.kernels.partial.close_side`'s contract, with ``target`` the
    breach series of ``close_step`` (quote per base), ``mark`` the mark ``O_tau``
    (the notional threshold reads ``q O_tau``), ``fraction`` the share ``f`` closed,
    ``cooldown`` in steps and ``min_notional`` in quote units. ``cohorts`` has
    :data:`N_COH_RULES` columns. A partial close of a cohort row updates it in place
    (armed from ``close_step + 1``); one of a position of the sorted book appends a
    row, in the book's order, with the position in :data:`COH_MEMBER`. With ADL
    (10.2) ``removed`` is the side's removal trees (one column: nothing removed) and
    ``remain`` ADL's remaining fraction per position (empty without ADL): a range's
    sums and each middle position's quantity are net of what ADL took, and a
    position ADL closed is skipped. Without ``book`` nothing changes and only the closed
    quantity is computed (the order the impact stage prices). With ``book`` and a
    non-empty ``tally`` (``[procyclicality]``, 3.2) the closes of positions
    ``[held_from, held_to)`` of the sorted book, those the rate held at ``m_0`` never
    flags, are added to it (a row's position is its :data:`COH_MEMBER`).
    """
    alive_after = close_step < last_step
    measured = book and tally.shape[0] > 0
    keep = 1.0 - fraction
    closed_qty = 0.0
    passed = 0.0
    while head < n_queue and queue[head, Q_FLAG] == flag_step:
        if queue[head, Q_COHORT] > 0.0:
            row = _cohort_row(cohorts, n_cohorts, queue[head, Q_A])
            head += 1
            level = cohorts[row, COH_THRESHOLD]
            qty = cohorts[row, COH_QTY]
            member = cohorts[row, COH_MEMBER]
            counted = measured and held_from <= member and member < held_to
            case = fraction_case(
                side,
                target,
                full_bound,
                level,
                qty,
                mark,
                fraction,
                min_notional,
                close_step <= cohorts[row, COH_LAST] + cooldown,
            )
            if case == REARM:  # no longer in breach: re-armed unchanged
                if book:
                    if alive_after:
                        cohorts[row, COH_FROM] = close_step + 1
                    else:
                        cohorts[row, COH_COUNT] = 0.0
                continue
            if case == FULL:
                if book:
                    passed += _full_cohort(
                        side,
                        level,
                        qty,
                        exit_price,
                        fee,
                        close_step,
                        cohorts[row, COH_COUNT],
                        liquidator_share,
                        bound,
                        totals,
                        flows,
                    )
                    if counted:
                        add_procyclical(tally, cohorts[row, COH_COUNT], qty, exit_price)
                    cohorts[row, COH_COUNT] = 0.0
                else:
                    closed_qty += qty
                continue
            closed = fraction * qty
            closed_qty += closed
            if counted:
                add_procyclical(tally, cohorts[row, COH_COUNT], closed, exit_price)
            if book:
                record_close(
                    totals,
                    flows,
                    close_step,
                    cohorts[row, COH_COUNT],
                    closed * exit_price,
                    fee * closed * exit_price,
                    0.0,
                    liquidator_share,
                )
                if alive_after:
                    cohorts[row, COH_THRESHOLD] = (level - fraction * full_bound) / keep
                    cohorts[row, COH_QTY] = qty - closed
                    cohorts[row, COH_FROM] = close_step + 1
                    cohorts[row, COH_LAST] = close_step
                else:
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
            tally_closed_ranges(
                tally,
                side,
                (start, stop, part_start, part_stop),
                held_from,
                held_to,
                prefix,
                removed,
                exit_price,
                full_bound,
                0.0,
            )
        # The middle part, position by position: T < theta < F (longs), so a close in
        # full pays its whole penalty and has no bad debt.
        small_count = 0
        small_qty = 0.0
        part_count = 0
        part_closed = 0.0
        held_count = 0  # [procyclicality]: of those, the positions m_0 held never flags
        held_closed = 0.0
        for index in range(part_start, part_stop):
            qty = held_qty(prefix, remain, index)
            if not qty > 0.0:  # closed by ADL (10.2)
                continue
            counted = measured and held_from <= index and index < held_to
            if fraction >= 1.0 or qty * mark <= min_notional:
                small_count += 1
                small_qty += qty
                if counted:
                    held_count += 1
                    held_closed += qty
                continue
            closed = fraction * qty
            part_count += 1
            part_closed += closed
            if counted:
                held_count += 1
                held_closed += closed
            if book and alive_after:
                cohorts = grown(cohorts, n_cohorts)
                cohorts[n_cohorts, COH_THRESHOLD] = (
                    threshold[index] - fraction * full_bound
                ) / keep
                cohorts[n_cohorts, COH_QTY] = qty - closed
                cohorts[n_cohorts, COH_COUNT] = 1.0
                cohorts[n_cohorts, COH_FROM] = close_step + 1
                cohorts[n_cohorts, COH_ID] = (
                    cohorts[n_cohorts - 1, COH_ID] + 1.0 if n_cohorts else 0.0
                )
                cohorts[n_cohorts, COH_LAST] = close_step
                cohorts[n_cohorts, COH_MEMBER] = index
                n_cohorts += 1
        closed_qty += small_qty + part_closed
        if book and small_count > 0:
            record_close(
                totals,
                flows,
                close_step,
                small_count,
                small_qty * exit_price,
                fee * small_qty * exit_price,
                0.0,
                liquidator_share,
            )
        if book and part_count > 0:
            record_close(
                totals,
                flows,
                close_step,
                part_count,
                part_closed * exit_price,
                fee * part_closed * exit_price,
                0.0,
                liquidator_share,
            )
        if held_count > 0:
            add_procyclical(tally, held_count, held_closed, exit_price)
        if book and rearm_start < rearm_stop and alive_after:
            segments, n_segments = rearmed(
                segments, n_segments, side, rearm_start, rearm_stop, close_step
            )
    return segments, n_segments, cohorts, n_cohorts, head, closed_qty, passed
