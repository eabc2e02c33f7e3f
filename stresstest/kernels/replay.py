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

Prefix arrays are ``(4, N + 1)``: rows ``QTY_HI, QTY_LO`` (prefix sums of ``q``)
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
    record_close,
    record_grid,
    walk_fund,
    write_totals,
)
from stresstest.kernels.jit import inline_kernel, kernel, parallel_kernel
from stresstest.kernels.margin import (
    design_rate,
    has_apc,
    liquidation_terms,
    next_variance,
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
from stresstest.kernels.search import (
    first_greater,
    first_greater_each,
    first_greater_from_stop,
    first_not_less,
    first_not_less_each,
    first_not_less_from_start,
)
from stresstest.kernels.sums import range_sum

QTY_HI = 0
QTY_LO = 1
QT_HI = 2
QT_LO = 3

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
    return _close_long_parts(prefix, start, full_stop, partial_stop, stop, exit_price, fee)


@kernel
def _close_long_parts(
    prefix: np.ndarray,
    start: int,
    full_stop: int,
    partial_stop: int,
    stop: int,
    exit_price: float,
    fee: float,
) -> tuple[float, float, float, float]:
    """:func:`_close_long_range` once its two searches are done.

    Longs ``[start, full_stop)`` pay the full penalty, ``[full_stop, partial_stop)``
    their remaining equity, ``[partial_stop, stop)`` leave bad debt.
    """
    qty_all = range_sum(prefix[:, QTY_HI], prefix[:, QTY_LO], start, stop)
    qty_full = range_sum(prefix[:, QTY_HI], prefix[:, QTY_LO], start, full_stop)
    qty_partial = range_sum(prefix[:, QTY_HI], prefix[:, QTY_LO], full_stop, partial_stop)
    qt_partial = range_sum(prefix[:, QT_HI], prefix[:, QT_LO], full_stop, partial_stop)
    qty_bad = range_sum(prefix[:, QTY_HI], prefix[:, QTY_LO], partial_stop, stop)
    qt_bad = range_sum(prefix[:, QT_HI], prefix[:, QT_LO], partial_stop, stop)
    penalty_paid = fee * exit_price * qty_full + max(0.0, exit_price * qty_partial - qt_partial)
    bad_debt = max(0.0, qt_bad - exit_price * qty_bad)
    return qty_all, exit_price * qty_all, penalty_paid, bad_debt


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
    return _close_short_parts(prefix, start, bad_stop, partial_stop, stop, exit_price, fee)


@kernel
def _close_short_parts(
    prefix: np.ndarray,
    start: int,
    bad_stop: int,
    partial_stop: int,
    stop: int,
    exit_price: float,
    fee: float,
) -> tuple[float, float, float, float]:
    """:func:`_close_short_range` once its two searches are done.

    Shorts ``[start, bad_stop)`` leave bad debt, ``[bad_stop, partial_stop)`` pay
    their remaining equity, ``[partial_stop, stop)`` the full penalty.
    """
    qty_all = range_sum(prefix[:, QTY_HI], prefix[:, QTY_LO], start, stop)
    qty_bad = range_sum(prefix[:, QTY_HI], prefix[:, QTY_LO], start, bad_stop)
    qt_bad = range_sum(prefix[:, QT_HI], prefix[:, QT_LO], start, bad_stop)
    qty_partial = range_sum(prefix[:, QTY_HI], prefix[:, QTY_LO], bad_stop, partial_stop)
    qt_partial = range_sum(prefix[:, QT_HI], prefix[:, QT_LO], bad_stop, partial_stop)
    qty_full = range_sum(prefix[:, QTY_HI], prefix[:, QTY_LO], partial_stop, stop)
    penalty_paid = fee * exit_price * qty_full + max(0.0, qt_partial - exit_price * qty_partial)
    bad_debt = max(0.0, exit_price * qty_bad - qt_bad)
    return qty_all, exit_price * qty_all, penalty_paid, bad_debt


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


# Rows of a path's records (:func:`new_records`): ``values`` holds the rates and the
# running extremes at their records, ``marks`` the records' steps and search results.
RECORD_LONG = 0  # values: new running minima of P (1 - m); marks: their steps
RECORD_SHORT = 1  # values: new running maxima of P (1 + m); marks: their steps
RECORD_RATES = 2  # values: m_t of every step
RECORD_LEVELS = 3  # values: the exit levels being searched (exit_bounds)
RECORD_LONG_BOUND = 2  # marks: first long with theta > the record (the longs flagged from)
RECORD_SHORT_BOUND = 3  # marks: first short with phi >= the record (the shorts flagged to)
RECORD_LONG_FULL = 4  # marks: first long with theta > x (1 - fee), x the record's exit price
RECORD_LONG_PARTIAL = 5  # marks: first long with theta > x
RECORD_SHORT_BAD = 6  # marks: first short with phi >= x
RECORD_SHORT_PARTIAL = 7  # marks: first short with phi >= x (1 + fee)
RECORD_LONG_STOP = 8  # marks: the longs newly flagged at a record are [bound, this)
RECORD_SHORT_START = 9  # marks: the shorts newly flagged at a record are [this, bound)
# values: each record's close, the closes in step order (close_records)
CLOSE_LONG = 4  # rows CLOSE_LONG + CLOSE_QTY .. CLOSE_BAD_DEBT: the longs closed at a record
CLOSE_SHORT = 8  # the same for the shorts
CLOSE_QTY = 0  # base units
CLOSE_NOTIONAL = 1  # quote units, and so are the next two
CLOSE_PAID = 2
CLOSE_BAD_DEBT = 3
N_VALUE_ROWS = 12
N_MARK_ROWS = 10


@kernel
def new_records(n_points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A path's scratch for :func:`breach_records`: ``(rates, values, marks)``.

    ``values`` is ``(N_VALUE_ROWS, n_points)`` float64 and ``marks``
    ``(N_MARK_ROWS, n_points)`` int64 (rows ``RECORD_*``); ``rates`` is row
    ``RECORD_RATES`` of ``values``.
    """
    values = np.empty((N_VALUE_ROWS, n_points))
    marks = np.empty((N_MARK_ROWS, n_points), dtype=np.int64)
    return values[RECORD_RATES], values, marks


@kernel
def breach_records(
    prices: np.ndarray,
    margin: np.ndarray,
    apc_rates: np.ndarray,
    rates: np.ndarray,
    values: np.ndarray,
    marks: np.ndarray,
) -> tuple[int, int]:
    """The rates of one path and the records of its two breach series.

    Writes ``m_t`` into ``rates`` (the APC rates ``apc_rates`` when not empty, else
    the design's rate at the EWMA variance, docs/model.md 3), the new running minima
    of ``P_t (1 - m_t)`` and the new running maxima of ``P_t (1 + m_t)`` (strict, from
    +-inf) into rows ``RECORD_LONG`` and ``RECORD_SHORT`` of ``values``, and their
    steps into the same rows of ``marks``, in step order. Returns how many of each.
    """
    sqrt_horizon = sqrt_horizon_of(margin)
    variance = margin[enums.MARGIN_ARG_INITIAL_VARIANCE]
    apc = apc_rates.shape[0] > 0
    running_min = np.inf
    running_max = -np.inf
    n_long = 0
    n_short = 0
    for step in range(prices.shape[0]):
        price = prices[step]
        if step >= 1:
            variance = next_variance(margin, variance, price, prices[step - 1])
        rate = apc_rates[step] if apc else design_rate(margin, sqrt_horizon, variance)
        rates[step] = rate
        long_series = price * (1.0 - rate)
        short_series = price * (1.0 + rate)
        if long_series < running_min:
            running_min = long_series
            values[RECORD_LONG, n_long] = long_series
            marks[RECORD_LONG, n_long] = step
            n_long += 1
        if short_series > running_max:
            running_max = short_series
            values[RECORD_SHORT, n_short] = short_series
            marks[RECORD_SHORT, n_short] = step
            n_short += 1
    return n_long, n_short


@kernel
def record_ranges(marks: np.ndarray, n_long: int, n_short: int, n_long_records: int) -> None:
    """The positions newly flagged at each record, from the records' bounds.

    Long record k flags ``[bound_k, bound_{k-1})`` (``bound_{-1} = n_long``), short
    record k ``[bound_{k-1}, bound_k)`` (``bound_{-1} = 0``): rows
    ``RECORD_LONG_STOP`` and ``RECORD_SHORT_START`` of ``marks``. (``n_short``, the
    short records, is how many short ranges to write.)
    """
    previous = n_long
    for k in range(n_long_records):
        marks[RECORD_LONG_STOP, k] = previous
        previous = marks[RECORD_LONG_BOUND, k]
    previous = 0
    for k in range(n_short):
        marks[RECORD_SHORT_START, k] = previous
        previous = marks[RECORD_SHORT_BOUND, k]


@kernel
def exit_bounds(
    prices: np.ndarray,
    liquidation: np.ndarray,
    long_threshold: np.ndarray,
    short_threshold: np.ndarray,
    values: np.ndarray,
    marks: np.ndarray,
    n_long_records: int,
    n_short_records: int,
) -> None:
    """The two searches of every record's close, interleaved (rows ``RECORD_LONG_FULL`` ..).

    A record at step t closes its range at ``x = P_c (1 -+ slippage)``,
    ``c = min(t + latency, T)``. :func:`_close_long_range` searches its range for the
    first long with ``theta > x (1 - fee)``, then with ``theta > x``;
    :func:`_close_short_range` for the first short with ``phi >= x``, then
    ``phi >= x (1 + fee)``. A search over ``[start, stop)`` of a sorted array is the
    whole array's answer clamped to ``[start, stop]``: the whole side is searched here
    (for every record at once, :func:`first_greater_each`) and the answers clamped to
    the record's range, which gives the same indices.
    """
    latency_steps, slippage, fee, _ = liquidation_terms(liquidation)
    last_step = prices.shape[0] - 1
    levels = values[RECORD_LEVELS]
    for k in range(n_long_records):
        close_step = min(marks[RECORD_LONG, k] + latency_steps, last_step)
        levels[k] = prices[close_step] * (1.0 - slippage) * (1.0 - fee)
    first_greater_each(long_threshold, levels, n_long_records, marks[RECORD_LONG_FULL])
    for k in range(n_long_records):
        close_step = min(marks[RECORD_LONG, k] + latency_steps, last_step)
        levels[k] = prices[close_step] * (1.0 - slippage)
    first_greater_each(long_threshold, levels, n_long_records, marks[RECORD_LONG_PARTIAL])
    for k in range(n_short_records):
        close_step = min(marks[RECORD_SHORT, k] + latency_steps, last_step)
        levels[k] = prices[close_step] * (1.0 + slippage)
    first_not_less_each(short_threshold, levels, n_short_records, marks[RECORD_SHORT_BAD])
    for k in range(n_short_records):
        close_step = min(marks[RECORD_SHORT, k] + latency_steps, last_step)
        levels[k] = prices[close_step] * (1.0 + slippage) * (1.0 + fee)
    first_not_less_each(short_threshold, levels, n_short_records, marks[RECORD_SHORT_PARTIAL])
    for k in range(n_long_records):
        start = marks[RECORD_LONG_BOUND, k]
        stop = marks[RECORD_LONG_STOP, k]
        full_stop = min(max(marks[RECORD_LONG_FULL, k], start), stop)
        marks[RECORD_LONG_FULL, k] = full_stop
        marks[RECORD_LONG_PARTIAL, k] = min(max(marks[RECORD_LONG_PARTIAL, k], full_stop), stop)
    for k in range(n_short_records):
        start = marks[RECORD_SHORT_START, k]
        stop = marks[RECORD_SHORT_BOUND, k]
        bad_stop = min(max(marks[RECORD_SHORT_BAD, k], start), stop)
        marks[RECORD_SHORT_BAD, k] = bad_stop
        marks[RECORD_SHORT_PARTIAL, k] = min(max(marks[RECORD_SHORT_PARTIAL, k], bad_stop), stop)


@kernel
def close_records(
    prices: np.ndarray,
    liquidation: np.ndarray,
    long_threshold: np.ndarray,
    long_prefix: np.ndarray,
    short_threshold: np.ndarray,
    short_prefix: np.ndarray,
    values: np.ndarray,
    marks: np.ndarray,
    n_long_records: int,
    n_short_records: int,
    qty_only: bool,
) -> None:
    """The close at every record of a path, record by record (rows ``CLOSE_*`` of ``values``).

    Needs rows ``RECORD_LONG_BOUND`` and ``RECORD_SHORT_BOUND`` of ``marks``. The longs
    newly flagged at long record k are ``[bound_k, bound_{k-1})`` (``bound_{-1} = n``),
    the shorts ``[bound_{k-1}, bound_k)`` (``bound_{-1} = 0``); a record that flags none
    is left unwritten. Each close is :func:`_close_long_parts` (or its short mirror)
    after the searches of :func:`exit_bounds`: the values the loop over the steps would
    get, computed here in a loop whose iterations do not wait on each other. With
    ``qty_only`` only the quantity is written, and the exit searches are skipped.
    """
    record_ranges(marks, long_threshold.shape[0], n_short_records, n_long_records)
    if not qty_only:
        exit_bounds(
            prices,
            liquidation,
            long_threshold,
            short_threshold,
            values,
            marks,
            n_long_records,
            n_short_records,
        )
    _touch_prefix_rows(
        long_prefix, short_prefix, values, marks, n_long_records, n_short_records, qty_only
    )
    latency_steps, slippage, fee, _ = liquidation_terms(liquidation)
    last_step = prices.shape[0] - 1
    for k in range(n_long_records):
        start = marks[RECORD_LONG_BOUND, k]
        stop = marks[RECORD_LONG_STOP, k]
        if start < stop:
            if qty_only:
                qty = range_sum(long_prefix[:, QTY_HI], long_prefix[:, QTY_LO], start, stop)
                values[CLOSE_LONG + CLOSE_QTY, k] = qty
            else:
                close_step = min(marks[RECORD_LONG, k] + latency_steps, last_step)
                qty, notional, paid, bad = _close_long_parts(
                    long_prefix,
                    start,
                    marks[RECORD_LONG_FULL, k],
                    marks[RECORD_LONG_PARTIAL, k],
                    stop,
                    prices[close_step] * (1.0 - slippage),
                    fee,
                )
                _store_close(values, CLOSE_LONG, k, qty, notional, paid, bad)
    for k in range(n_short_records):
        start = marks[RECORD_SHORT_START, k]
        stop = marks[RECORD_SHORT_BOUND, k]
        if stop > start:
            if qty_only:
                qty = range_sum(short_prefix[:, QTY_HI], short_prefix[:, QTY_LO], start, stop)
                values[CLOSE_SHORT + CLOSE_QTY, k] = qty
            else:
                close_step = min(marks[RECORD_SHORT, k] + latency_steps, last_step)
                qty, notional, paid, bad = _close_short_parts(
                    short_prefix,
                    start,
                    marks[RECORD_SHORT_BAD, k],
                    marks[RECORD_SHORT_PARTIAL, k],
                    stop,
                    prices[close_step] * (1.0 + slippage),
                    fee,
                )
                _store_close(values, CLOSE_SHORT, k, qty, notional, paid, bad)


@kernel
def _touch_prefix_rows(
    long_prefix: np.ndarray,
    short_prefix: np.ndarray,
    values: np.ndarray,
    marks: np.ndarray,
    n_long_records: int,
    n_short_records: int,
    bounds_only: bool,
) -> None:
    """Load the prefix rows the closes will read, in a loop of independent loads.

    With a million positions most of these rows are out of cache; loaded here, their
    misses overlap, while in the loop of the closes each waits behind a close's
    arithmetic. What is loaded is summed into ``values[RECORD_LEVELS, 0]`` (scratch,
    not read again) so that the loads are kept. With ``bounds_only`` only the rows of
    the records' bounds (the exit searches were not made).
    """
    touched = 0.0
    for k in range(n_long_records):
        touched += long_prefix[marks[RECORD_LONG_BOUND, k], 0]
        if not bounds_only:
            touched += long_prefix[marks[RECORD_LONG_FULL, k], 0]
            touched += long_prefix[marks[RECORD_LONG_PARTIAL, k], 0]
    for k in range(n_short_records):
        touched += short_prefix[marks[RECORD_SHORT_BOUND, k], 0]
        if not bounds_only:
            touched += short_prefix[marks[RECORD_SHORT_BAD, k], 0]
            touched += short_prefix[marks[RECORD_SHORT_PARTIAL, k], 0]
    values[RECORD_LEVELS, 0] = touched


@kernel
def _store_close(
    values: np.ndarray, row: int, k: int, qty: float, notional: float, paid: float, bad: float
) -> None:
    values[row + CLOSE_QTY, k] = qty
    values[row + CLOSE_NOTIONAL, k] = notional
    values[row + CLOSE_PAID, k] = paid
    values[row + CLOSE_BAD_DEBT, k] = bad


@kernel
def _stored_close(values: np.ndarray, row: int, k: int) -> tuple[float, float, float, float]:
    return (
        values[row + CLOSE_QTY, k],
        values[row + CLOSE_NOTIONAL, k],
        values[row + CLOSE_PAID, k],
        values[row + CLOSE_BAD_DEBT, k],
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
        tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        np.ndarray,
        np.ndarray,
    ],
    None,
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
    ``MARGIN_RATE_MEAN``, attribution, procyclicality, per-step flows and fund walk
    are skipped, and so is their scratch (``flows`` is neither read nor written and
    may be empty). A cost match measures its designs so (comparison/measuring.py).
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
        flows: np.ndarray,
        out_row: np.ndarray,
        cohorts: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        step_edges: np.ndarray,
        attribution: np.ndarray,
    ) -> None:
        """Replay the sorted book over one path of prices ``P_0..P_T`` into ``out_row``.

        ``margin`` and ``liquidation`` are the design vectors indexed by
        ``enums.MARGIN_ARG_*`` and ``enums.LIQUIDATION_ARG_*`` (engine.plan builds them).
        ``flows`` is a zeroed ``(N_FLOWS, T + 1)`` scratch array; on return it holds
        the path's per-step closes and fund (see :mod:`stresstest.kernels.fund`).

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
        if not requirement_only:
            tally, ring = new_tally(procyc_horizon)
            totals = np.zeros(N_TOTALS)
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
        # The breaches' records first: the running extremes depend on the prices and
        # rates alone, and each record's search is independent of the others (its
        # answer is the search over the whole side), so the searches of a path run
        # interleaved (first_greater_each); the loop below then closes at the
        # records in step order, as one loop over the steps would.
        rates, values, marks = new_records(n_points)
        n_long_records, n_short_records = breach_records(
            prices, margin, apc_rates, rates, values, marks
        )
        first_greater_each(
            long_threshold, values[RECORD_LONG], n_long_records, marks[RECORD_LONG_BOUND]
        )
        first_not_less_each(
            short_threshold, values[RECORD_SHORT], n_short_records, marks[RECORD_SHORT_BOUND]
        )
        close_records(
            prices,
            liquidation,
            long_threshold,
            long_prefix,
            short_threshold,
            short_prefix,
            values,
            marks,
            n_long_records,
            n_short_records,
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
                        qty, notional, paid, bad = _stored_close(
                            values, CLOSE_LONG, long_record - 1
                        )
                        open_qty -= qty
                        if measured:
                            tally_procyclical(
                                tally,
                                long_prefix,
                                start,
                                min(long_flagged_from, long_held_from),
                                exit_price,
                            )
                        record_close(
                            totals,
                            flows,
                            close_step,
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
                        qty, notional, paid, bad = _stored_close(
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
                        record_close(
                            totals,
                            flows,
                            close_step,
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
            return
        out_row[enums.MARGIN_RATE_MEAN] = (
            requirement_sum / open_notional_sum if open_notional_sum > 0.0 else 0.0
        )
        write_totals(totals, out_row)
        if measured:
            write_procyclicality(tally, out_row)
        walk_fund(flows, fund_initial, out_row)

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
    into ``grid_out`` (paths x N_GRID x len(grid)), see ``record_grid``.
    ``attribution_out`` is ``(paths, width)``, zeroed: row i is path i's
    attribution (``width`` 0: none), see :func:`replay_path`.

    Each thread owns whole paths and writes only their rows, so the result does
    not depend on the thread count or on how paths are chunked.
    """
    for row in numba.prange(prices.shape[0]):
        flows = np.zeros((N_FLOWS, prices.shape[1]))
        replay_path(
            prices[row],
            margin,
            liquidation,
            long_threshold,
            long_prefix,
            short_threshold,
            short_prefix,
            fund_initial,
            flows,
            out[row],
            cohorts,
            step_edges,
            attribution_out[row],
        )
        if grid.shape[0] > 0:
            record_grid(prices[row], flows, grid, grid_out[row])


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
    no_flows = np.zeros((N_FLOWS, 0))
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
            no_flows,
            out[row],
            NO_COHORTS,
            NO_STEP_EDGES,
            no_attribution[row],
        )
