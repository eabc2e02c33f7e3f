"""The exact sorted-threshold replay of a whole book over price paths.

A long position breaches when ``P_t (1 - m_t) < theta_i = e_i - c_i / q_i`` and a
short when ``P_t (1 + m_t) > phi_i = e_i + c_i / q_i``: a threshold on one
series per path. With the longs sorted by ``theta`` ascending, the longs flagged
by step t are those with ``theta_i`` above the running minimum of
``P (1 - m)``: a suffix of the sorted book, which grows only when the running
minimum falls. The positions first flagged at step t are therefore one
contiguous range, found by binary search, and closed together at the same exit
price ``x``. Their remaining equity is ``q_i (x - theta_i)`` (longs) or
``q_i (phi_i - x)`` (shorts), linear in ``q`` and ``q * theta``, so the penalty
paid, the bad debt and the notional of the whole range come from compensated
prefix sums of ``q`` and ``q * theta`` after two more binary searches. A path
costs O(T + B log N) for B new extremes, whatever the book size.

The records of a path (its new extremes), their searches and their closes are
computed before the loop over the steps, the searches interleaved
(:mod:`stresstest.kernels.records`); the loop books them in step order.

Prefix arrays are ``(N + 1, 4)``: columns ``QTY_HI, QTY_LO`` (prefix sums of ``q``)
and ``QT_HI, QT_LO`` (of ``q * threshold``), double-double.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.fund import (
    N_FLOWS,
    N_TOTALS,
    event_at,
    record_close,
    record_grid_events,
    start_events,
    walk_fund,
    write_totals,
)
from stresstest.kernels.jit import inline_kernel, kernel, parallel_kernel
from stresstest.kernels.margin import (
    design_rate,
    has_apc,
    liquidation_terms,
    rate_series,
    sqrt_horizon_of,
)
from stresstest.kernels.procyclicality import (
    add_procyclical,
    held_rate_flags,
    new_tally,
    track_rate,
    write_procyclicality,
)
from stresstest.kernels.records import (
    CLOSE_LONG,
    CLOSE_QTY,
    CLOSE_SHORT,
    RECORD_LONG,
    RECORD_LONG_BOUND,
    RECORD_SHORT,
    RECORD_SHORT_BOUND,
    close_long_parts,
    close_short_parts,
    path_records,
    stored_close,
)

# the prefix columns, re-exported for the kernels that import them from here
from stresstest.kernels.records import QT_HI as QT_HI
from stresstest.kernels.records import QT_LO as QT_LO
from stresstest.kernels.records import QTY_HI as QTY_HI
from stresstest.kernels.records import QTY_LO as QTY_LO
from stresstest.kernels.search import (
    first_greater,
    first_greater_from_stop,
    first_not_less,
    first_not_less_from_start,
)
from stresstest.kernels.sums import range_sum

# Fields of one cohort's (or flag-step bucket's) slot in a path's attribution row:
# positions closed, their notional, penalties paid and bad debt (quote units).
ATTR_COUNT = 0
ATTR_NOTIONAL = 1
ATTR_PENALTIES = 2
ATTR_BAD_DEBT = 3
N_ATTR = 4


@kernel
def _close_long_range(
    threshold: np.ndarray,
    prefix: np.ndarray,
    start: int,
    stop: int,
    exit_price: float,
    fee: float,
) -> tuple[float, float, float, float]:
    """Close longs ``[start, stop)`` at ``exit_price``.

    Returns ``(sum of q, notional, penalty paid, bad debt)`` in base and quote units.
    Sorted by ``theta`` ascending: ``theta <= x (1 - fee)`` pays the full penalty
    ``fee q x``; ``x (1 - fee) < theta <= x`` pays its remaining equity
    ``q (x - theta)``; ``theta > x`` pays nothing and leaves bad debt ``q (theta - x)``.
    """
    full_stop = first_greater(threshold, exit_price * (1.0 - fee), start, stop)
    partial_stop = first_greater(threshold, exit_price, full_stop, stop)
    return close_long_parts(prefix, start, full_stop, partial_stop, stop, exit_price, fee)


@kernel
def _close_short_range(
    threshold: np.ndarray,
    prefix: np.ndarray,
    start: int,
    stop: int,
    exit_price: float,
    fee: float,
) -> tuple[float, float, float, float]:
    """Close shorts ``[start, stop)`` at ``exit_price``; the mirror of the long case.

    Sorted by ``phi`` ascending: ``phi < x`` leaves bad debt ``q (x - phi)``;
    ``x <= phi < x (1 + fee)`` pays ``q (phi - x)``; ``phi >= x (1 + fee)`` pays ``fee q x``.
    """
    bad_stop = first_not_less(threshold, exit_price, start, stop)
    partial_stop = first_not_less(threshold, exit_price * (1.0 + fee), bad_stop, stop)
    return close_short_parts(prefix, start, bad_stop, partial_stop, stop, exit_price, fee)


@kernel
def _close_cohort_longs(
    threshold: np.ndarray, prefix: np.ndarray, start: int, stop: int, exit_price: float, fee: float
) -> tuple[float, float, float]:
    """``(notional, penalty paid, bad debt)`` of :func:`_close_long_range`, the same values.

    A range wholly in one case (all pay the full penalty, or all leave bad debt) skips
    the two searches and the empty parts' sums, which are 0 there.
    """
    if threshold[stop - 1] <= exit_price * (1.0 - fee):
        qty = range_sum(prefix[:, QTY_HI], prefix[:, QTY_LO], start, stop)
        return exit_price * qty, fee * exit_price * qty + 0.0, 0.0
    if threshold[start] > exit_price:
        qty = range_sum(prefix[:, QTY_HI], prefix[:, QTY_LO], start, stop)
        qt = range_sum(prefix[:, QT_HI], prefix[:, QT_LO], start, stop)
        return exit_price * qty, 0.0, max(0.0, qt - exit_price * qty)
    _, notional, paid, bad = _close_long_range(threshold, prefix, start, stop, exit_price, fee)
    return notional, paid, bad


@kernel
def _close_cohort_shorts(
    threshold: np.ndarray, prefix: np.ndarray, start: int, stop: int, exit_price: float, fee: float
) -> tuple[float, float, float]:
    """The mirror of :func:`_close_cohort_longs` for :func:`_close_short_range`."""
    if threshold[stop - 1] < exit_price:
        qty = range_sum(prefix[:, QTY_HI], prefix[:, QTY_LO], start, stop)
        qt = range_sum(prefix[:, QT_HI], prefix[:, QT_LO], start, stop)
        return exit_price * qty, 0.0, max(0.0, exit_price * qty - qt)
    if threshold[start] >= exit_price * (1.0 + fee):
        qty = range_sum(prefix[:, QTY_HI], prefix[:, QTY_LO], start, stop)
        return exit_price * qty, fee * exit_price * qty + 0.0, 0.0
    _, notional, paid, bad = _close_short_range(threshold, prefix, start, stop, exit_price, fee)
    return notional, paid, bad


@kernel
def _attribute_longs(
    threshold: np.ndarray,
    prefix: np.ndarray,
    bounds: np.ndarray,
    cursor: np.ndarray,
    running_min: float,
    exit_price: float,
    fee: float,
    attribution: np.ndarray,
) -> None:
    """Close, cohort by cohort, the longs newly flagged by ``running_min``.

    Cohort ``j`` is ``[bounds[j], bounds[j + 1])`` of the (cohort, threshold) order;
    ``[cursor[j], bounds[j + 1])`` are flagged already. Its newly flagged longs are
    those with ``theta > running_min``: the same predicate as the whole side's
    search, so the cohorts split the side's closed range exactly (docs/model.md 6b).
    A cohort with nothing new costs one comparison.
    """
    for cohort in range(bounds.shape[0] - 1):
        stop = cursor[cohort]
        if stop == bounds[cohort] or threshold[stop - 1] <= running_min:
            continue
        start = first_greater_from_stop(threshold, running_min, bounds[cohort], stop)
        notional, paid, bad = _close_cohort_longs(threshold, prefix, start, stop, exit_price, fee)
        _add_attribution(attribution, cohort, stop - start, notional, paid, bad)
        cursor[cohort] = start


@kernel
def _attribute_shorts(
    threshold: np.ndarray,
    prefix: np.ndarray,
    bounds: np.ndarray,
    cursor: np.ndarray,
    running_max: float,
    exit_price: float,
    fee: float,
    attribution: np.ndarray,
    first_cohort: int,
) -> None:
    """The mirror of :func:`_attribute_longs`: ``[bounds[j], cursor[j])`` are flagged,
    the newly flagged shorts have ``phi < running_max``; cohort ``j`` is written at
    ``first_cohort + j``."""
    for cohort in range(bounds.shape[0] - 1):
        start = cursor[cohort]
        if start == bounds[cohort + 1] or threshold[start] >= running_max:
            continue
        stop = first_not_less_from_start(threshold, running_max, start, bounds[cohort + 1])
        notional, paid, bad = _close_cohort_shorts(threshold, prefix, start, stop, exit_price, fee)
        _add_attribution(attribution, first_cohort + cohort, stop - start, notional, paid, bad)
        cursor[cohort] = stop


@kernel
def _add_attribution(
    attribution: np.ndarray,
    slot: int,
    count: float,
    notional: float,
    paid: float,
    bad: float,
) -> None:
    """Add a close to slot ``slot`` (fields ``ATTR_*``) of a path's attribution row."""
    base = slot * N_ATTR
    attribution[base + ATTR_COUNT] += count
    attribution[base + ATTR_NOTIONAL] += notional
    attribution[base + ATTR_PENALTIES] += paid
    attribution[base + ATTR_BAD_DEBT] += bad


@kernel
def _step_slot(step_edges: np.ndarray, step: int, first_slot: int) -> int:
    """The slot of flag step ``step``: ``first_slot`` + its left-closed bucket of ``step_edges``
    (float64, ascending whole steps)."""
    return first_slot + first_greater(step_edges, float(step), 0, step_edges.shape[0])


@kernel
def tally_procyclical(
    tally: np.ndarray, prefix: np.ndarray, start: int, stop: int, exit_price: float
) -> None:
    """Add the closes ``[start, stop)`` (at ``exit_price``) that m_0 held would not flag."""
    if stop > start:
        add_procyclical(
            tally,
            stop - start,
            range_sum(prefix[:, QTY_HI], prefix[:, QTY_LO], start, stop),
            exit_price,
        )


#: The arguments of :data:`replay_path` and :data:`requirement_path`.
PathReplay = Callable[
    [
        np.ndarray,
        np.ndarray,
        np.ndarray,
        np.ndarray,
        np.ndarray,
        np.ndarray,
        np.ndarray,
        float,
        np.ndarray,
        np.ndarray,
        np.ndarray,
        tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        np.ndarray,
        np.ndarray,
    ],
    int,
]


def _replay_path_kernel(requirement_only: bool) -> PathReplay:
    """The one per-path loop of the core replay, compiled for one mode.

    ``requirement_only`` is a constant of the compiled code (a closure variable,
    which numba freezes and LLVM folds), so each mode's loop holds only its own
    work: the full replay (:data:`replay_path`) as it was, and the
    requirement-only mode (:data:`requirement_path`) without the branches it
    skips, nor their scratch (those blocks branch on the constant, so numba
    deletes them before typing). numba caches the two apart (its cache key hashes
    the closure's values). The requirement-only mode is inlined into its driver
    :func:`requirement_paths`: as a call of its own it increments and decrements
    the reference counts of its array arguments on every path, atomics that the two
    threads contend for, which cost it 10-17% CPU against the former separate
    kernel on a static margin (docs/performance.md).

    The requirement-only mode replays a path for its cost alone
    (``REQUIREMENT_MEAN``, the only entry of ``out_row`` it writes): the same
    steps, running extremes, searches for the newly flagged ranges and prefix sums
    of their quantity, in the same order, so the value is the full replay's bits
    (tests/test_requirement.py); the exit prices, penalties, bad debt,
    ``MARGIN_RATE_MEAN``, attribution, procyclicality, close events and fund walk
    are skipped, and so is their scratch (``events`` and ``event_steps`` are neither
    read nor written and may be empty; it returns 0). A cost match measures its
    designs so (comparison/measuring.py).
    """

    @(inline_kernel if requirement_only else kernel)
    def replay_path(
        prices: np.ndarray,
        margin: np.ndarray,
        liquidation: np.ndarray,
        long_threshold: np.ndarray,
        long_prefix: np.ndarray,
        short_threshold: np.ndarray,
        short_prefix: np.ndarray,
        fund_initial: float,
        events: np.ndarray,
        event_steps: np.ndarray,
        out_row: np.ndarray,
        cohorts: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        step_edges: np.ndarray,
        attribution: np.ndarray,
    ) -> int:
        """Replay the sorted book over one path of prices ``P_0..P_T`` into ``out_row``.

        ``margin`` and ``liquidation`` are the design vectors indexed by
        ``enums.MARGIN_ARG_*`` and ``enums.LIQUIDATION_ARG_*`` (engine.plan builds them).
        ``events`` (``(N_FLOWS, T + 1)``) and ``event_steps`` (int64, ``T + 1``) are
        scratch, not zeroed; on return their first ``n_events`` columns, the returned
        count, hold the path's close events: step 0 and each step with closes, its
        closes and the fund after it, in step order (the same bits as those steps'
        columns of a dense per-step ``flows``; see
        :func:`stresstest.kernels.fund.start_events`).

        ``cohorts`` is the book by cohort (``threshold, prefix, bounds`` of the longs,
        then of the shorts, as :class:`stresstest.book.cohorts.CohortBook`); with an
        empty ``attribution`` nothing is attributed. Otherwise ``attribution`` (zeroed)
        receives ``N_ATTR`` fields per slot: the long cohorts, the short cohorts, then
        the flag-step buckets of ``step_edges`` (docs/model.md 6b).

        With ``margin[MARGIN_ARG_PROCYC_HORIZON] = n > 0`` the procyclicality columns
        (docs/model.md 3.2) are written too: one more pass over the prices at ``m_0``
        before the loop, and per step a ring of ``n`` rates.

        In the requirement-only mode (:data:`requirement_path`) only
        ``out_row[REQUIREMENT_MEAN]`` is written, see :func:`_replay_path_kernel`.
        """
        n_points = prices.shape[0]
        last_step = n_points - 1
        n_long = long_threshold.shape[0]
        latency_steps, slippage, fee, liquidator_share = liquidation_terms(liquidation)
        sqrt_horizon = sqrt_horizon_of(margin)
        long_flagged_from = n_long  # longs [long_flagged_from, n_long) are flagged
        short_flagged_to = 0  # shorts [0, short_flagged_to) are flagged
        running_min = np.inf
        running_max = -np.inf
        variance = margin[enums.MARGIN_ARG_INITIAL_VARIANCE]
        apc = has_apc(margin)
        # the APC rates (docs/model.md 3.1) carry a state: computed in a pass of their own,
        # so that the loop below is the plain one when they are off
        apc_rates = rate_series(prices, margin) if apc else prices[:0]
        procyc_horizon = int(margin[enums.MARGIN_ARG_PROCYC_HORIZON])
        measured = procyc_horizon > 0 and not requirement_only
        long_held_from = 0  # longs [long_held_from, n_long) breach at m_0 held (when measured)
        short_held_to = short_threshold.shape[0]  # shorts [0, short_held_to) likewise
        if measured:
            rate_0 = apc_rates[0] if apc else design_rate(margin, sqrt_horizon, variance)
            long_held_from, short_held_to = held_rate_flags(
                prices, rate_0, long_threshold, short_threshold
            )
        open_qty = range_sum(long_prefix[:, QTY_HI], long_prefix[:, QTY_LO], 0, n_long) + range_sum(
            short_prefix[:, QTY_HI], short_prefix[:, QTY_LO], 0, short_threshold.shape[0]
        )
        requirement_sum = 0.0
        open_notional_sum = 0.0
        attributed = attribution.shape[0] > 0
        # The scratch of the closes' accounting, in blocks that numba deletes from the
        # requirement-only mode (a branch on the closure constant), so that mode
        # neither allocates them nor counts references to them per path.
        n_events = 0
        if not requirement_only:
            tally, ring = new_tally(procyc_horizon)
            totals = np.zeros(N_TOTALS)
            n_events = start_events(events, event_steps)
            (
                long_c_threshold,
                long_c_prefix,
                long_bounds,
                short_c_threshold,
                short_c_prefix,
                short_bounds,
            ) = cohorts
            long_cursor = long_bounds[1:].copy()
            short_cursor = short_bounds[:-1].copy()
            n_cohort_slots = long_cursor.shape[0] + short_cursor.shape[0]
        # The records of the breach series first, with their searches and closes
        # (kernels/records.py); the loop over the steps books them in step order.
        rates, values, marks, n_long_records, n_short_records = path_records(
            prices,
            margin,
            liquidation,
            apc_rates,
            long_threshold,
            long_prefix,
            short_threshold,
            short_prefix,
            requirement_only,
        )
        long_record = 0
        short_record = 0
        for step in range(n_points):
            price = prices[step]
            rate = rates[step]
            if not requirement_only and measured:
                track_rate(tally, ring, step, rate)
            close_step = min(step + latency_steps, last_step)
            open_notional = price * open_qty
            requirement_sum += rate * open_notional
            if not requirement_only:
                open_notional_sum += open_notional
            if long_record < n_long_records and marks[RECORD_LONG, long_record] == step:
                running_min = values[RECORD_LONG, long_record]
                start = marks[RECORD_LONG_BOUND, long_record]
                long_record += 1
                if start < long_flagged_from:
                    if requirement_only:
                        open_qty -= values[CLOSE_LONG + CLOSE_QTY, long_record - 1]
                    else:
                        exit_price = prices[close_step] * (1.0 - slippage)
                        qty, notional, paid, bad = stored_close(values, CLOSE_LONG, long_record - 1)
                        open_qty -= qty
                        if measured:
                            tally_procyclical(
                                tally,
                                long_prefix,
                                start,
                                min(long_flagged_from, long_held_from),
                                exit_price,
                            )
                        n_events = event_at(events, event_steps, n_events, close_step)
                        record_close(
                            totals,
                            events,
                            n_events - 1,
                            long_flagged_from - start,
                            notional,
                            paid,
                            bad,
                            liquidator_share,
                        )
                        if attributed:
                            _attribute_longs(
                                long_c_threshold,
                                long_c_prefix,
                                long_bounds,
                                long_cursor,
                                running_min,
                                exit_price,
                                fee,
                                attribution,
                            )
                            slot = _step_slot(step_edges, step, n_cohort_slots)
                            _add_attribution(
                                attribution, slot, long_flagged_from - start, notional, paid, bad
                            )
                    long_flagged_from = start
            if short_record < n_short_records and marks[RECORD_SHORT, short_record] == step:
                running_max = values[RECORD_SHORT, short_record]
                stop = marks[RECORD_SHORT_BOUND, short_record]
                short_record += 1
                if stop > short_flagged_to:
                    if requirement_only:
                        open_qty -= values[CLOSE_SHORT + CLOSE_QTY, short_record - 1]
                    else:
                        exit_price = prices[close_step] * (1.0 + slippage)
                        qty, notional, paid, bad = stored_close(
                            values, CLOSE_SHORT, short_record - 1
                        )
                        open_qty -= qty
                        if measured:
                            tally_procyclical(
                                tally,
                                short_prefix,
                                max(short_flagged_to, short_held_to),
                                stop,
                                exit_price,
                            )
                        n_events = event_at(events, event_steps, n_events, close_step)
                        record_close(
                            totals,
                            events,
                            n_events - 1,
                            stop - short_flagged_to,
                            notional,
                            paid,
                            bad,
                            liquidator_share,
                        )
                        if attributed:
                            _attribute_shorts(
                                short_c_threshold,
                                short_c_prefix,
                                short_bounds,
                                short_cursor,
                                running_max,
                                exit_price,
                                fee,
                                attribution,
                                long_cursor.shape[0],
                            )
                            slot = _step_slot(step_edges, step, n_cohort_slots)
                            _add_attribution(
                                attribution, slot, stop - short_flagged_to, notional, paid, bad
                            )
                    short_flagged_to = stop
        out_row[enums.REQUIREMENT_MEAN] = requirement_sum / n_points
        if requirement_only:
            return 0
        out_row[enums.MARGIN_RATE_MEAN] = (
            requirement_sum / open_notional_sum if open_notional_sum > 0.0 else 0.0
        )
        write_totals(totals, out_row)
        if measured:
            write_procyclicality(tally, out_row)
        walk_fund(events[:, :n_events], fund_initial, out_row)
        return n_events

    return replay_path


#: The full replay of one path (the flagship core case).
replay_path = _replay_path_kernel(requirement_only=False)
#: The same loop in its requirement-only mode: ``requirement_mean`` alone.
requirement_path = _replay_path_kernel(requirement_only=True)


@parallel_kernel
def replay_paths_attributed(
    prices: np.ndarray,
    margin: np.ndarray,
    liquidation: np.ndarray,
    long_threshold: np.ndarray,
    long_prefix: np.ndarray,
    short_threshold: np.ndarray,
    short_prefix: np.ndarray,
    fund_initial: float,
    grid: np.ndarray,
    out: np.ndarray,
    grid_out: np.ndarray,
    cohorts: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    step_edges: np.ndarray,
    attribution_out: np.ndarray,
) -> None:
    """Replay every row of ``prices`` (paths x (T + 1)); row i of ``out`` is path i's metrics.

    ``grid`` (int64, ascending steps, possibly empty) selects the steps recorded
    into ``grid_out`` (paths x N_GRID x len(grid)), see ``record_grid_events``.
    ``attribution_out`` is ``(paths, width)``, zeroed: row i is path i's
    attribution (``width`` 0: none), see :func:`replay_path`.

    Each thread owns whole paths and writes only their rows, so the result does
    not depend on the thread count or on how paths are chunked.
    """
    for row in numba.prange(prices.shape[0]):
        replay_row(
            prices[row],
            margin,
            liquidation,
            long_threshold,
            long_prefix,
            short_threshold,
            short_prefix,
            fund_initial,
            grid,
            out[row],
            grid_out[row],
            cohorts,
            step_edges,
            attribution_out[row],
        )


@inline_kernel
def replay_row(
    prices: np.ndarray,
    margin: np.ndarray,
    liquidation: np.ndarray,
    long_threshold: np.ndarray,
    long_prefix: np.ndarray,
    short_threshold: np.ndarray,
    short_prefix: np.ndarray,
    fund_initial: float,
    grid: np.ndarray,
    out_row: np.ndarray,
    grid_row: np.ndarray,
    cohorts: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    step_edges: np.ndarray,
    attribution_row: np.ndarray,
) -> None:
    """One path of :func:`replay_paths_attributed` (prices ``P_0..P_T``): its metrics into
    ``out_row``, its records at the ``grid`` steps into ``grid_row`` and its attribution
    into ``attribution_row``. Inlined into the drivers that call it per path (this one
    and the fused :func:`stresstest.kernels.gbm_replay.gbm_replay_paths`), so their
    loops are what they were with the body written in place."""
    events = np.empty((N_FLOWS, prices.shape[0]))
    event_steps = np.empty(prices.shape[0], dtype=np.int64)
    n_events = replay_path(
        prices,
        margin,
        liquidation,
        long_threshold,
        long_prefix,
        short_threshold,
        short_prefix,
        fund_initial,
        events,
        event_steps,
        out_row,
        cohorts,
        step_edges,
        attribution_row,
    )
    if grid.shape[0] > 0:
        record_grid_events(prices, events, event_steps, n_events, grid, grid_row)


_NO_BOUNDS = np.zeros(1, dtype=np.int64)
_NO_PREFIX = np.zeros((1, 4))
#: No flag-step edges (with an empty attribution row: nothing is attributed).
NO_STEP_EDGES = np.empty(0)
#: No cohorts: :func:`replay_paths_attributed`'s ``cohorts`` for a run without attribution.
NO_COHORTS = (NO_STEP_EDGES, _NO_PREFIX, _NO_BOUNDS, NO_STEP_EDGES, _NO_PREFIX, _NO_BOUNDS)


def replay_paths(
    prices: np.ndarray,
    margin: np.ndarray,
    liquidation: np.ndarray,
    long_threshold: np.ndarray,
    long_prefix: np.ndarray,
    short_threshold: np.ndarray,
    short_prefix: np.ndarray,
    fund_initial: float,
    grid: np.ndarray,
    out: np.ndarray,
    grid_out: np.ndarray,
) -> None:
    """:func:`replay_paths_attributed` without attribution (the core replay, docs/model.md 4.1)."""
    replay_paths_attributed(
        prices,
        margin,
        liquidation,
        long_threshold,
        long_prefix,
        short_threshold,
        short_prefix,
        fund_initial,
        grid,
        out,
        grid_out,
        NO_COHORTS,
        NO_STEP_EDGES,
        np.zeros((prices.shape[0], 0)),
    )


@parallel_kernel
def requirement_paths(
    prices: np.ndarray,
    margin: np.ndarray,
    liquidation: np.ndarray,
    long_threshold: np.ndarray,
    long_prefix: np.ndarray,
    short_threshold: np.ndarray,
    short_prefix: np.ndarray,
    fund_initial: float,
    out: np.ndarray,
) -> None:
    """:data:`requirement_path` of every row of ``prices``: the cost alone.

    Row i of ``out`` (paths x metrics, as a replay's) receives path i's
    ``REQUIREMENT_MEAN``, the full replay's bits; its other entries are left as
    they are. The other arguments are :func:`replay_paths`'s (the liquidation and
    fund do not change the cost). A thin entry of its own rather than a flag of
    :func:`replay_paths_attributed`, so that the full replay's driver stays the
    one it was (with a second call site in it the full replay measured 2-7% slower).

    Each thread owns whole paths and writes only their rows.
    """
    no_events = np.zeros((N_FLOWS, 0))
    no_event_steps = np.zeros(0, dtype=np.int64)
    no_attribution = np.zeros((prices.shape[0], 0))
    for row in numba.prange(prices.shape[0]):
        requirement_path(
            prices[row],
            margin,
            liquidation,
            long_threshold,
            long_prefix,
            short_threshold,
            short_prefix,
            fund_initial,
            no_events,
            no_event_steps,
            out[row],
            NO_COHORTS,
            NO_STEP_EDGES,
            no_attribution[row],
        )
