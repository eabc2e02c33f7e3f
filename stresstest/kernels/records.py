"""A path's breach records, their searches and their closes, before its loop over the steps.

The running extremes of the breach series ``P_t (1 - m_t)`` and ``P_t (1 + m_t)``
depend on the prices and rates alone; each new extreme (a record) flags a range of
the sorted book whose bound is the search of the record over the whole side (the
earlier records' bounds only narrow a search whose answer lies inside them), and
the range's close (docs/model.md 4.1) depends only on that range and the exit
price. So the records of a path are found first (:func:`breach_records`), their
searches run interleaved (:func:`stresstest.kernels.search.first_greater_each`)
and their closes in a loop whose iterations do not wait on each other
(:func:`close_records`); the loop over the steps in :mod:`stresstest.kernels.replay`
then books them in step order. The values are those the searches and closes in the
loop would give, bit for bit.

Prefix arrays are ``(N + 1, 4)``: columns ``QTY_HI, QTY_LO`` (prefix sums of ``q``)
and ``QT_HI, QT_LO`` (of ``q * threshold``), double-double.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.jit import kernel
from stresstest.kernels.margin import (
    design_rate,
    design_rates,
    is_vol_scaled,
    liquidation_terms,
    sqrt_horizon_of,
)
from stresstest.kernels.search import (
    first_greater_each,
    first_greater_each_of,
    first_not_less_each,
    first_not_less_each_of,
)
from stresstest.kernels.sums import range_sum

QTY_HI = 0
QTY_LO = 1
QT_HI = 2
QT_LO = 3


@kernel
def close_long_parts(
    prefix: np.ndarray,
    start: int,
    full_stop: int,
    partial_stop: int,
    stop: int,
    exit_price: float,
    fee: float,
) -> tuple[float, float, float, float]:
    """``replay._close_long_range`` once its two searches are done.

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
def close_short_parts(
    prefix: np.ndarray,
    start: int,
    bad_stop: int,
    partial_stop: int,
    stop: int,
    exit_price: float,
    fee: float,
) -> tuple[float, float, float, float]:
    """``replay._close_short_range`` once its two searches are done.

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


# Rows of a path's records (:func:`new_records`): ``values`` holds the rates and the
# running extremes at their records, ``marks`` the records' steps and search results.
RECORD_LONG = 0  # values: new running minima of P (1 - m); marks: their steps
RECORD_SHORT = 1  # values: new running maxima of P (1 + m); marks: their steps
RECORD_RATES = 2  # values: m_t of every step
RECORD_LEVELS = 3  # values: scratch (_touch_prefix_rows)
RECORD_LONG_BOUND = 2  # marks: first long with theta > the record (the longs flagged from)
RECORD_SHORT_BOUND = 3  # marks: first short with phi >= the record (the shorts flagged to)
RECORD_LONG_FULL = 4  # marks: first long with theta > x (1 - fee), x the record's exit price
RECORD_LONG_PARTIAL = RECORD_LONG_FULL + 1  # marks: first long with theta > x
RECORD_SHORT_BAD = 6  # marks: first short with phi >= x
RECORD_SHORT_PARTIAL = RECORD_SHORT_BAD + 1  # marks: first short with phi >= x (1 + fee)
RECORD_LONG_STOP = 8  # marks: the longs newly flagged at a record are [bound, this)
RECORD_SHORT_START = 9  # marks: the shorts newly flagged at a record are [this, bound)
RECORD_PENDING = 10  # marks: two rows, scratch of the exit searches (exit_bounds)
RECORD_SPLIT_LEVELS = 12  # values: two rows, the levels of the exit searches (exit_bounds)
# values: each record's close, the closes in step order (close_records)
CLOSE_LONG = 4  # rows CLOSE_LONG + CLOSE_QTY .. CLOSE_BAD_DEBT: the longs closed at a record
CLOSE_SHORT = 8  # the same for the shorts
CLOSE_QTY = 0  # base units
CLOSE_NOTIONAL = 1  # quote units, and so are the next two
CLOSE_PAID = 2
CLOSE_BAD_DEBT = 3
N_VALUE_ROWS = 14
N_MARK_ROWS = 12


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
    the design's rate at the EWMA variance, docs/model.md 3, :func:`design_rates`), the
    new running minima of ``P_t (1 - m_t)`` and the new running maxima of
    ``P_t (1 + m_t)`` (strict, from +-inf) into rows ``RECORD_LONG`` and
    ``RECORD_SHORT`` of ``values``, and their steps into the same rows of ``marks``,
    in step order. Returns how many of each.
    """
    apc = apc_rates.shape[0] > 0
    fixed = not apc and not is_vol_scaled(margin)  # static: one rate, written in the loop
    if apc:
        rates[:] = apc_rates
    elif not fixed:
        design_rates(prices, margin, rates)
    fixed_rate = design_rate(
        margin, sqrt_horizon_of(margin), margin[enums.MARGIN_ARG_INITIAL_VARIANCE]
    )
    running_min = np.inf
    running_max = -np.inf
    n_long = 0
    n_short = 0
    for step in range(prices.shape[0]):
        price = prices[step]
        if fixed:
            rates[step] = fixed_rate
        rate = rates[step]
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
def _exit_splits(
    threshold: np.ndarray,
    levels: np.ndarray,
    records: np.ndarray,
    starts: np.ndarray,
    stops: np.ndarray,
    count: int,
    stride: int,
    out: np.ndarray,
    pending: np.ndarray,
    long: bool,
) -> None:
    """The two splits of every record's range at its exit levels, for :func:`exit_bounds`.

    ``levels[k]`` and ``levels[stride + k]`` are record k's two levels; ``out`` at the
    same places receives, for each, the first long in ``[starts[k], stops[k])`` with
    ``theta`` above it (``long``), or the first short with ``phi`` not below it: the
    whole side's search clamped to the range. The range of long record k lies in the
    records' values, ``records[k] < theta <= records[k - 1]`` (no upper value for
    k = 0: its range runs to the end of the side, where NaN thresholds would sort),
    that of short record k in ``records[k - 1] <= phi < records[k]`` (``-inf`` for
    k = 0). So a level at or below the lower value splits the range at its start, one
    at or above the upper value at its stop, without a load of the side; only the
    others are searched, both splits' together
    (:data:`~stresstest.kernels.search.first_greater_each_of`, interleaved). A NaN
    level is searched, and gives the start, as the whole side's search clamped.
    ``pending`` (at least ``2 stride`` long) is scratch.
    """
    n_pending = 0
    for split in range(2):
        for k in range(count):
            level = levels[split * stride + k]
            if long:
                lower = records[k]
                upper = records[k - 1] if k > 0 else np.nan
            else:
                lower = records[k - 1] if k > 0 else -np.inf
                upper = records[k]
            if level <= lower:
                out[split * stride + k] = starts[k]
            elif level >= upper:
                out[split * stride + k] = stops[k]
            else:
                pending[n_pending] = split * stride + k
                n_pending += 1
    if long:
        first_greater_each_of(threshold, levels, pending, n_pending, out)
    else:
        first_not_less_each_of(threshold, levels, pending, n_pending, out)
    for j in range(n_pending):  # a level strictly inside the values gives an index inside
        at = pending[j]  # the range already; a NaN level gives 0, clamped to the start
        k = at - stride if at >= stride else at
        out[at] = min(max(out[at], starts[k]), stops[k])


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
    ``c = min(t + latency, T)``. ``replay._close_long_range`` searches the range for
    the first long with ``theta > x (1 - fee)``, then with ``theta > x`` over
    ``[first answer, stop)``; ``replay._close_short_range`` for the first short with
    ``phi >= x``, then ``phi >= x (1 + fee)``. Each is the whole side's search clamped
    to the range (a search of ``[start, stop)`` of a sorted array is the whole array's
    answer clamped to ``[start, stop]``), the second clamped to ``[first answer,
    stop]``. Most levels lie outside their range's values, which answers them without
    a search (:func:`_exit_splits`); the others search the whole side, a side's two
    splits all at once, interleaved, and are clamped. The same indices as
    ``replay._close_long_range``'s searches.
    """
    latency_steps, slippage, fee, _ = liquidation_terms(liquidation)
    n_points = prices.shape[0]
    last_step = n_points - 1
    # two rows each, seen flat: record k's first split at k, its second at n_points + k
    levels = values.reshape(-1)[
        RECORD_SPLIT_LEVELS * n_points : (RECORD_SPLIT_LEVELS + 2) * n_points
    ]
    pending = marks.reshape(-1)[RECORD_PENDING * n_points : (RECORD_PENDING + 2) * n_points]
    flat_marks = marks.reshape(-1)
    for k in range(n_long_records):
        exit_price = prices[min(marks[RECORD_LONG, k] + latency_steps, last_step)] * (
            1.0 - slippage
        )
        levels[k] = exit_price * (1.0 - fee)
        levels[n_points + k] = exit_price
    long_splits = flat_marks[RECORD_LONG_FULL * n_points : (RECORD_LONG_PARTIAL + 1) * n_points]
    _exit_splits(
        long_threshold,
        levels,
        values[RECORD_LONG],
        marks[RECORD_LONG_BOUND],
        marks[RECORD_LONG_STOP],
        n_long_records,
        n_points,
        long_splits,
        pending,
        True,
    )
    for k in range(n_long_records):
        marks[RECORD_LONG_PARTIAL, k] = min(
            max(marks[RECORD_LONG_PARTIAL, k], marks[RECORD_LONG_FULL, k]),
            marks[RECORD_LONG_STOP, k],
        )
    for k in range(n_short_records):
        exit_price = prices[min(marks[RECORD_SHORT, k] + latency_steps, last_step)] * (
            1.0 + slippage
        )
        levels[k] = exit_price
        levels[n_points + k] = exit_price * (1.0 + fee)
    short_splits = flat_marks[RECORD_SHORT_BAD * n_points : (RECORD_SHORT_PARTIAL + 1) * n_points]
    _exit_splits(
        short_threshold,
        levels,
        values[RECORD_SHORT],
        marks[RECORD_SHORT_START],
        marks[RECORD_SHORT_BOUND],
        n_short_records,
        n_points,
        short_splits,
        pending,
        False,
    )
    for k in range(n_short_records):
        marks[RECORD_SHORT_PARTIAL, k] = min(
            max(marks[RECORD_SHORT_PARTIAL, k], marks[RECORD_SHORT_BAD, k]),
            marks[RECORD_SHORT_BOUND, k],
        )


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
    is left unwritten. Each close is :func:`close_long_parts` (or its short mirror)
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
    _close_side(prices, liquidation, long_prefix, values, marks, n_long_records, True, qty_only)
    _close_side(prices, liquidation, short_prefix, values, marks, n_short_records, False, qty_only)


@kernel
def _close_side(
    prices: np.ndarray,
    liquidation: np.ndarray,
    prefix: np.ndarray,
    values: np.ndarray,
    marks: np.ndarray,
    n_records: int,
    long: bool,
    qty_only: bool,
) -> None:
    """:func:`close_records` for the longs (``long``) or the shorts."""
    latency_steps, slippage, fee, _ = liquidation_terms(liquidation)
    last_step = prices.shape[0] - 1
    record_row, close_row = (RECORD_LONG, CLOSE_LONG) if long else (RECORD_SHORT, CLOSE_SHORT)
    start_row, stop_row = (
        (RECORD_LONG_BOUND, RECORD_LONG_STOP) if long else (RECORD_SHORT_START, RECORD_SHORT_BOUND)
    )
    first_split, second_split = (
        (RECORD_LONG_FULL, RECORD_LONG_PARTIAL)
        if long
        else (RECORD_SHORT_BAD, RECORD_SHORT_PARTIAL)
    )
    for k in range(n_records):
        start = marks[start_row, k]
        stop = marks[stop_row, k]
        if start < stop:
            if qty_only:
                qty = range_sum(prefix[:, QTY_HI], prefix[:, QTY_LO], start, stop)
                values[close_row + CLOSE_QTY, k] = qty
                continue
            close_step = min(marks[record_row, k] + latency_steps, last_step)
            if long:
                qty, notional, paid, bad = close_long_parts(
                    prefix,
                    start,
                    marks[first_split, k],
                    marks[second_split, k],
                    stop,
                    prices[close_step] * (1.0 - slippage),
                    fee,
                )
            else:
                qty, notional, paid, bad = close_short_parts(
                    prefix,
                    start,
                    marks[first_split, k],
                    marks[second_split, k],
                    stop,
                    prices[close_step] * (1.0 + slippage),
                    fee,
                )
            values[close_row + CLOSE_QTY, k] = qty
            values[close_row + CLOSE_NOTIONAL, k] = notional
            values[close_row + CLOSE_PAID, k] = paid
            values[close_row + CLOSE_BAD_DEBT, k] = bad


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
def stored_close(values: np.ndarray, row: int, k: int) -> tuple[float, float, float, float]:
    return (
        values[row + CLOSE_QTY, k],
        values[row + CLOSE_NOTIONAL, k],
        values[row + CLOSE_PAID, k],
        values[row + CLOSE_BAD_DEBT, k],
    )


@kernel
def path_records(
    prices: np.ndarray,
    margin: np.ndarray,
    liquidation: np.ndarray,
    apc_rates: np.ndarray,
    long_threshold: np.ndarray,
    long_prefix: np.ndarray,
    short_threshold: np.ndarray,
    short_prefix: np.ndarray,
    qty_only: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """A path's rates, records, their bounds and their closes, before its loop over the steps.

    Returns ``(rates, values, marks, n_long_records, n_short_records)`` (rows
    ``RECORD_*`` and ``CLOSE_*``): :func:`breach_records`, the records' searches over
    the whole side, interleaved (the bound of long record k is the first long with
    ``theta`` above it, of short record k the first short with ``phi`` not below it),
    then :func:`close_records`.
    """
    rates, values, marks = new_records(prices.shape[0])
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
        qty_only,
    )
    return rates, values, marks, n_long_records, n_short_records
