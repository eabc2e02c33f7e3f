"""The procyclicality measures of the stage pipeline (docs/model.md 3.2, 12).

The pipeline keeps the tally of :mod:`stresstest.kernels.procyclicality` step by
step (the posted rate ``m_t``, the same as the core kernel's), the marks ``O_t``
its flag stage read, and per flag step the part of the flagged range the close
stage sold at the market and its exit price. After the path the rate held at
``m_0`` flags the book on those marks (:func:`held_rate_flags`, the core kernel's
own), and each range sold at the market splits as in the core kernel: its part
the held rate would not flag is added to the tally. The marks of a run with
``[market]`` are those its own closes moved. ``T + 1`` marks and ``4 (T + 1)``
fields per path being replayed. With partial liquidation the closes are tallied as
they happen instead (:func:`tally_closed_ranges`, and the close stages of
kernels/partial.py and kernels/partial_rules.py), the positions to tally known from a
first run of the path (:mod:`stresstest.kernels.procyclicality_partial`), and
:func:`finish_partial_measures` writes the columns.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.adl import open_sums
from stresstest.kernels.jit import kernel
from stresstest.kernels.procyclicality import (
    add_procyclical,
    held_rate,
    held_rate_flags,
    new_tally,
    write_procyclicality,
)

# Fields of a flag step's market close (rows of the records).
_LONG_TO = 0  # the flagged longs [long_from_at[f], _LONG_TO) were sold at the market
_LONG_EXIT = 1  # at this exit price, quote per base
_SHORT_FROM = 2  # the flagged shorts [_SHORT_FROM, short_to_at[f]) were bought back
_SHORT_EXIT = 3
_N_FIELDS = 4


@kernel
def new_measures(
    margin: np.ndarray, n_points: int, n_long: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A path's ``(tally, ring, marks, closes)``; ``marks`` is empty when not measured.

    ``margin`` is the design vector (``enums.MARGIN_ARG_PROCYC_HORIZON = n``, 0: off);
    ``marks`` holds ``O_t`` and ``closes`` a market close per flag step (a flag step the
    close stage never records sells nothing).
    """
    horizon = int(margin[enums.MARGIN_ARG_PROCYC_HORIZON])
    tally, ring = new_tally(horizon)
    n_measured = n_points if horizon > 0 else 0
    closes = np.zeros((_N_FIELDS, n_measured))
    closes[_LONG_TO] = n_long
    return tally, ring, np.empty(n_measured), closes


@kernel
def record_market_closes(
    closes: np.ndarray,
    flag_step: int,
    long_to: int,
    long_exit: float,
    short_from: int,
    short_exit: float,
) -> None:
    """The flags of ``flag_step`` sold at the market: longs up to ``long_to``, shorts from
    ``short_from`` (the rest of the flagged ranges went to the backstop vault, 10.3)."""
    closes[_LONG_TO, flag_step] = long_to
    closes[_LONG_EXIT, flag_step] = long_exit
    closes[_SHORT_FROM, flag_step] = short_from
    closes[_SHORT_EXIT, flag_step] = short_exit


@kernel
def tally_market_closes(
    tally: np.ndarray,
    marks: np.ndarray,
    closes: np.ndarray,
    longs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    shorts: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """Add the market closes of the path that the rate held at ``m_0`` would not flag.

    ``longs`` and ``shorts`` are each side's ``(threshold, prefix, removed, flagged
    range after each step)`` (kernels/pipeline.py). Flag step by flag step, longs
    before shorts, as the core kernel adds them; counts and quantities of open
    positions (ADL's removals excluded, 10.2). Empty ``marks``: nothing to add.
    """
    long_threshold, long_prefix, long_removed, long_from_at = longs
    short_threshold, short_prefix, short_removed, short_to_at = shorts
    if marks.shape[0] == 0:
        return
    long_held_from, short_held_to = held_rate_flags(
        marks, held_rate(tally), long_threshold, short_threshold
    )
    for flag_step in range(marks.shape[0]):
        upper = long_from_at[flag_step - 1] if flag_step >= 1 else long_threshold.shape[0]
        start = long_from_at[flag_step]
        stop = min(upper, int(closes[_LONG_TO, flag_step]), long_held_from)
        if stop > start:
            qty, _, count = open_sums(long_prefix, long_removed, start, stop)
            add_procyclical(tally, count, qty, closes[_LONG_EXIT, flag_step])
        lower = short_to_at[flag_step - 1] if flag_step >= 1 else 0
        start = max(lower, int(closes[_SHORT_FROM, flag_step]), short_held_to)
        stop = short_to_at[flag_step]
        if stop > start:
            qty, _, count = open_sums(short_prefix, short_removed, start, stop)
            add_procyclical(tally, count, qty, closes[_SHORT_EXIT, flag_step])


@kernel
def tally_closed_ranges(
    tally: np.ndarray,
    side: int,
    due: tuple[int, int, int, int],
    held_from: int,
    held_to: int,
    prefix: np.ndarray,
    removed: np.ndarray,
    exit_price: float,
    full_bound: float,
    denominator: float,
) -> tuple[float, float]:
    """Add a due range's closes of positions the rate held at ``m_0`` never flags (3.2, 10.1).

    With partial liquidation the pipeline knows those positions before the close: the
    sorted book's ``[held_from, held_to)`` of the side
    (:func:`stresstest.kernels.procyclicality_partial.measured_partial_path`). ``due``
    is ``(start, stop, part_start, part_stop)``: the due range and its middle part
    (``kernels/partial.py: close_range_in_full``); the part past the middle (longs
    ``[part_stop, stop)``, shorts ``[start, part_start)``) was closed in full at
    ``exit_price``. With ``denominator`` ``D > 0`` (the target rule) the middle part was
    closed down to the target, each position keeping ``s (F q - q theta) / D``
    (``full_bound`` ``F``; the range sums of 10.1); with ``D = 0`` (the fraction rule,
    which tallies its middle position by position) it is left out. Returns the quantity
    those positions of the middle part keep (base units) and their count, which join
    the step's cohort. Range sums net of ADL's removals (``removed``).
    """
    start, stop, part_start, part_stop = due
    full_start, full_stop = (part_stop, stop) if side > 0 else (start, part_start)
    first = max(full_start, held_from)
    last = min(full_stop, held_to)
    if first < last:
        qty, _, count = open_sums(prefix, removed, first, last)
        add_procyclical(tally, count, qty, exit_price)
    first = max(part_start, held_from)
    last = min(part_stop, held_to)
    if not (first < last and denominator > 0.0):
        return 0.0, 0.0
    qty, qt, count = open_sums(prefix, removed, first, last)
    kept = min(qty, max(0.0, side * (full_bound * qty - qt) / denominator))
    add_procyclical(tally, count, qty - kept, exit_price)
    return kept, count


@kernel
def finish_partial_measures(
    tally: np.ndarray,
    marks: np.ndarray,
    predictive: bool,
    held: np.ndarray,
    long_threshold: np.ndarray,
    short_threshold: np.ndarray,
    out_row: np.ndarray,
) -> None:
    """Write the procyclicality columns of a path with partial liquidation (3.2, 10.1).

    Its closes were tallied as they happened (``held`` named the positions the rate
    held at ``m_0`` never flags); ``held`` becomes the boundaries the path's marks give,
    longs ``[0, held[0])`` and shorts ``[held[1], n)`` (:func:`held_rate_flags`). Under
    the predictive trigger the breach does not read ``m_t``: ``held`` stays as it was.
    """
    if not predictive:
        long_from, short_to = held_rate_flags(
            marks, held_rate(tally), long_threshold, short_threshold
        )
        held[0] = long_from
        held[1] = short_to
    write_procyclicality(tally, out_row)
