"""ADL's per-position state under the fraction rule of partial liquidation (10.1.1, 10.2).

The fraction rule (:func:`stresstest.kernels.partial_rules.close_side_fraction`)
keeps each remainder as a cohort row of one position, its position in the sorted
book in the row's ``COH_MEMBER`` column. With ADL each position the rule touches
gets the state of :mod:`stresstest.kernels.partial_adl` (status, remaining fraction
``remain``, threshold ``level``, cohort id, armed-from step), so ADL ranks a
remainder by its own quantity ``q r`` and collateral ``s q r (e - theta')`` and its
closes come off the row's ``COH_QTY`` (and ``COH_COUNT``) that the rule reads later.

:func:`track_fraction_close` applies the rule's decisions of one side's flags of
one flag step to that state, in two passes around the close: the due cohort rows
*before* it (their threshold, quantity and last partial step are read before the
close updates the row in place; the close reads the row, not ``remain``) and the
due ranges of the sorted book *after* it (the close reads each middle position's
quantity as ``q remain`` with ``remain`` still ADL's alone, and appends the rows
whose ids the pass then gives). The same binary searches and cases as the close
(:func:`stresstest.kernels.partial.split_due_range`,
:func:`stresstest.kernels.partial_rules.fraction_case`): ``O(1)`` per position per
event (the counts of non-candidates by entry rank included when the policy
ranks). Per-thread arrays only, restored after each path as for the target rule.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.adl_index import AdlWork
from stresstest.kernels.jit import kernel
from stresstest.kernels.partial import (
    COH_COUNT,
    COH_ID,
    COH_QTY,
    COH_THRESHOLD,
    Q_A,
    Q_B,
    Q_COHORT,
    Q_FLAG,
    _cohort_row,
    split_due_range,
)
from stresstest.kernels.partial_adl import (
    GONE,
    LAST,
    P_COHORT,
    P_LEVEL,
    P_NEXT,
    PartialAdlWork,
    _reopen,
    _set_status,
)
from stresstest.kernels.partial_rules import (
    COH_LAST,
    COH_MEMBER,
    FULL,
    REARM,
    fraction_case,
    held_qty,
)


@kernel
def _kept(
    position: int,
    keep: float,
    level: float,
    tag: int,
    close_step: int,
    ranked: bool,
    ranks: np.ndarray,
    work: AdlWork,
    partial: PartialAdlWork,
) -> None:
    """A position closed partially: ``keep`` of its quantity, threshold ``level``, row ``tag``."""
    work[2][position] *= keep
    _reopen(position, close_step, ranked, ranks, work, partial)
    partial[P_LEVEL][position] = level
    partial[P_COHORT][position] = tag
    partial[P_NEXT][position] = -1  # a row of the fraction rule has one member


@kernel
def track_fraction_close(
    ranges: bool,
    side: int,
    flag_step: int,
    close_step: int,
    last_step: int,
    target: float,
    full_bound: float,
    mark: float,
    fraction: float,
    cooldown: int,
    min_notional: float,
    threshold: np.ndarray,
    prefix: np.ndarray,
    queue: np.ndarray,
    head: int,
    n_queue: int,
    cohorts: np.ndarray,
    n_cohorts: int,
    ranked: bool,
    ranks: np.ndarray,
    work: AdlWork,
    partial: PartialAdlWork,
) -> None:
    """The per-position side of one side's fraction-rule closes of ``flag_step`` (module doc).

    Without ``ranges`` (before the close): each due cohort row's member is re-armed
    (open again), closed in full (:data:`GONE`) or kept at ``1 - f`` of its quantity
    with the threshold ``(theta - f F) / (1 - f)``, staying in its row (:data:`LAST`
    at the last step, which keeps no row). With ``ranges`` (after the close, which
    appended its rows to the first ``n_cohorts``, the count before it): each due
    range's re-armed part is open again, its part past ``F`` and the middle
    positions closed in full are :data:`GONE`, and each middle position closed
    partially is kept and joins the next new row, in the book's order. Positions ADL
    closed (``remain`` 0) are skipped. ``target`` is the breach series of the close
    step, ``mark`` the mark ``O_tau`` (quote per base).
    """
    remain = work[2]
    alive_after = close_step < last_step
    keep = 1.0 - fraction
    next_id = int(cohorts[n_cohorts - 1, COH_ID]) + 1 if n_cohorts else 0
    row = head
    while row < n_queue and queue[row, Q_FLAG] == flag_step:
        if queue[row, Q_COHORT] > 0.0:
            if not ranges:
                index = _cohort_row(cohorts, n_cohorts, queue[row, Q_A])
                member = int(cohorts[index, COH_MEMBER])
                level = cohorts[index, COH_THRESHOLD]
                if cohorts[index, COH_COUNT] > 0.0 and remain[member] > 0.0:
                    case = fraction_case(
                        side,
                        target,
                        full_bound,
                        level,
                        cohorts[index, COH_QTY],
                        mark,
                        fraction,
                        min_notional,
                        close_step <= cohorts[index, COH_LAST] + cooldown,
                    )
                    if case == REARM:
                        _reopen(member, close_step, ranked, ranks, work, partial)
                    elif case == FULL:
                        _set_status(member, GONE, ranked, ranks, work, partial)
                    else:
                        tag = int(cohorts[index, COH_ID]) if alive_after else LAST
                        level = (level - fraction * full_bound) / keep
                        _kept(member, keep, level, tag, close_step, ranked, ranks, work, partial)
            row += 1
            continue
        start = int(queue[row, Q_A])
        stop = int(queue[row, Q_B])
        row += 1
        if not ranges:
            continue
        rearm_start, rearm_stop, full_start, full_stop, part_start, part_stop = split_due_range(
            side, target, full_bound, threshold, start, stop
        )
        for position in range(rearm_start, rearm_stop):
            if remain[position] > 0.0:
                _reopen(position, close_step, ranked, ranks, work, partial)
        for position in range(full_start, full_stop):
            if remain[position] > 0.0:
                _set_status(position, GONE, ranked, ranks, work, partial)
        for position in range(part_start, part_stop):
            qty = held_qty(prefix, remain, position)
            if not qty > 0.0:
                continue
            if fraction >= 1.0 or qty * mark <= min_notional:
                _set_status(position, GONE, ranked, ranks, work, partial)
                continue
            tag = LAST
            if alive_after:
                tag = next_id
                next_id += 1
            new_level = (threshold[position] - fraction * full_bound) / keep
            _kept(position, keep, new_level, tag, close_step, ranked, ranks, work, partial)
