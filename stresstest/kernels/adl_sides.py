"""One step's ADL on both sides of a single-asset book (docs/model.md 10.2, 12).

The loss waterfall of both single-asset loops
(:func:`stresstest.kernels.pipeline.pipeline_path` and
:func:`stresstest.kernels.pipeline_partial.partial_pipeline_path`) ends with the
same two ADL events: the longs' losses covered by profitable shorts, then the
shorts' by profitable longs. :func:`deleverage_both_sides` runs them and books
their figures in that order, by
:func:`stresstest.kernels.adl_index.deleverage` over the open range of each side,
or with partial liquidation by
:func:`stresstest.kernels.partial_adl.deleverage_partial` over each position's
state after partial closes.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.adl_index import W_REMOVED, AdlIndex, AdlWork, deleverage
from stresstest.kernels.jit import kernel
from stresstest.kernels.partial_adl import PartialAdlWork, deleverage_partial

#: What :func:`deleverage_both_sides` returns (its docstring).
BothSides = tuple[float, float, float, float, float, float, float, np.ndarray, np.ndarray]


@kernel
def _deleverage_side(
    with_partial: bool,
    policy: int,
    side: int,
    need: float,
    price: float,
    step: int,
    threshold: np.ndarray,
    positions: np.ndarray,
    start: int,
    stop: int,
    cohorts: np.ndarray,
    n_cohorts: int,
    index: AdlIndex,
    work: AdlWork,
    partial: PartialAdlWork,
    keys: np.ndarray,
    tags: np.ndarray,
) -> tuple[float, float, float, float, float, float]:
    """One side's ADL event: ``deleverage`` over ``[start, stop)`` or ``deleverage_partial``."""
    if with_partial:
        return deleverage_partial(
            policy,
            side,
            need,
            price,
            step,
            threshold,
            positions,
            cohorts,
            n_cohorts,
            index,
            work,
            partial,
            keys,
            tags,
        )
    return deleverage(
        policy, side, need, price, threshold, positions, start, stop, index, work, keys, tags
    )


@kernel
def deleverage_both_sides(
    with_partial: bool,
    policy: int,
    need_long: float,
    need_short: float,
    price: float,
    step: int,
    long_threshold: np.ndarray,
    long_positions: np.ndarray,
    long_stop: int,
    long_cohorts: np.ndarray,
    n_long_cohorts: int,
    long_index: AdlIndex,
    long_work: AdlWork,
    long_partial: PartialAdlWork,
    long_removed: np.ndarray,
    short_threshold: np.ndarray,
    short_positions: np.ndarray,
    short_start: int,
    short_cohorts: np.ndarray,
    n_short_cohorts: int,
    short_index: AdlIndex,
    short_work: AdlWork,
    short_partial: PartialAdlWork,
    short_removed: np.ndarray,
    heap_keys: np.ndarray,
    heap_tags: np.ndarray,
    adl_notional: float,
    adl_count: float,
    gini_weighted: float,
    gini_cover: float,
    open_qty: float,
) -> BothSides:
    """Cover ``need_long`` from the shorts, then ``need_short`` from the longs (quote units).

    ``need_long`` is the longs' losses to cover (by profitable shorts), ``need_short``
    the shorts'; a side with no need has no event. The open positions are the
    shorts ``[short_start, n_short)`` and the longs ``[0, long_stop)`` of the sorted
    book, or with ``with_partial`` each position's state after partial closes
    (``*_cohorts``, ``*_partial``; ``step`` the step, for the armed quantity). A
    side's removal trees become its working state's (``W_REMOVED``) on its first
    event (a single column means nothing removed yet). Returns ``(cover, need
    left, adl_notional, adl_count, gini_weighted, gini_cover, open_qty,
    long_removed, short_removed)``: the cover and the need not covered summed over
    the events (quote units), and the running figures passed in with each
    event's added in order (notional in quote units, count, the Gini's
    cover-weighted sum and its cover, and the armed quantity less what ADL closed,
    base units).
    """
    cover = 0.0
    left = 0.0
    if need_long > 0.0:  # longs went bankrupt: profitable shorts cover
        if short_removed.shape[1] == 1:  # the thread's (zeroed) removal trees
            short_removed = short_work[W_REMOVED]
        got, short_left, notional, count, qty, gini = _deleverage_side(
            with_partial,
            policy,
            -1,
            need_long,
            price,
            step,
            short_threshold,
            short_positions,
            short_start,
            short_threshold.shape[0],
            short_cohorts,
            n_short_cohorts,
            short_index,
            short_work,
            short_partial,
            heap_keys,
            heap_tags,
        )
        gini_weighted += got * gini
        gini_cover += got
        cover += got
        left += short_left
        adl_notional += notional
        adl_count += count
        open_qty -= qty
    if need_short > 0.0:  # shorts went bankrupt: profitable longs cover
        if long_removed.shape[1] == 1:
            long_removed = long_work[W_REMOVED]
        got, long_left, notional, count, qty, gini = _deleverage_side(
            with_partial,
            policy,
            1,
            need_short,
            price,
            step,
            long_threshold,
            long_positions,
            0,
            long_stop,
            long_cohorts,
            n_long_cohorts,
            long_index,
            long_work,
            long_partial,
            heap_keys,
            heap_tags,
        )
        gini_weighted += got * gini
        gini_cover += got
        cover += got
        left += long_left
        adl_notional += notional
        adl_count += count
        open_qty -= qty
    return (
        cover,
        left,
        adl_notional,
        adl_count,
        gini_weighted,
        gini_cover,
        open_qty,
        long_removed,
        short_removed,
    )
