"""The time-averaged maintenance requirement of a design alone: the cost a match measures.

A cost match (docs/compare.md, "Matching") reads one column of each static
design it tries, ``requirement_mean``, the mean over paths of
``(1 / (T + 1)) sum_t m_t P_t Q_t`` with ``Q_t`` the open quantity at step t
(docs/model.md 4.1). It depends on the closes only through the quantity they
remove, so :func:`requirement_path` follows the replay of
:func:`stresstest.kernels.replay.replay_path` step by step, the same running
extremes, the same searches for the newly flagged ranges and the same prefix sums
of their quantity, in the same order, and leaves out everything else: the exit
prices, penalties, bad debt, the per-step flows and the fund walk. Every
floating-point operation that reaches ``requirement_mean`` is the replay's own,
so the value is the same bits (tests/test_measuring.py compares them).

Only the core replay (no APC option, no stage pipeline) is followed here; the
engine uses the full replay for anything else.
"""

from __future__ import annotations

import numba
import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.jit import kernel, parallel_kernel
from stresstest.kernels.margin import design_rate, next_variance, sqrt_horizon_of
from stresstest.kernels.replay import QTY_HI, QTY_LO
from stresstest.kernels.search import first_greater, first_not_less
from stresstest.kernels.sums import range_sum


@kernel
def requirement_path(
    prices: np.ndarray,
    margin: np.ndarray,
    long_threshold: np.ndarray,
    long_prefix: np.ndarray,
    short_threshold: np.ndarray,
    short_prefix: np.ndarray,
) -> float:
    """``requirement_mean`` of one path ``P_0..P_T`` (quote units), as the replay computes it.

    ``margin`` is the design vector (``enums.MARGIN_ARG_*``) without APC options;
    the thresholds and prefixes are the sorted book's (kernels/replay.py).
    """
    n_points = prices.shape[0]
    n_long = long_threshold.shape[0]
    n_short = short_threshold.shape[0]
    sqrt_horizon = sqrt_horizon_of(margin)
    long_flagged_from = n_long
    short_flagged_to = 0
    running_min = np.inf
    running_max = -np.inf
    variance = margin[enums.MARGIN_ARG_INITIAL_VARIANCE]
    open_qty = range_sum(long_prefix[:, QTY_HI], long_prefix[:, QTY_LO], 0, n_long) + range_sum(
        short_prefix[:, QTY_HI], short_prefix[:, QTY_LO], 0, n_short
    )
    requirement_sum = 0.0
    for step in range(n_points):
        price = prices[step]
        if step >= 1:
            variance = next_variance(margin, variance, price, prices[step - 1])
        rate = design_rate(margin, sqrt_horizon, variance)
        long_series = price * (1.0 - rate)
        short_series = price * (1.0 + rate)
        open_notional = price * open_qty
        requirement_sum += rate * open_notional
        if long_series < running_min:
            running_min = long_series
            start = first_greater(long_threshold, long_series, 0, long_flagged_from)
            if start < long_flagged_from:
                open_qty -= range_sum(
                    long_prefix[:, QTY_HI], long_prefix[:, QTY_LO], start, long_flagged_from
                )
                long_flagged_from = start
        if short_series > running_max:
            running_max = short_series
            stop = first_not_less(short_threshold, short_series, short_flagged_to, n_short)
            if stop > short_flagged_to:
                open_qty -= range_sum(
                    short_prefix[:, QTY_HI], short_prefix[:, QTY_LO], short_flagged_to, stop
                )
                short_flagged_to = stop
    return float(requirement_sum / n_points)


@parallel_kernel
def requirement_paths(
    prices: np.ndarray,
    margin: np.ndarray,
    long_threshold: np.ndarray,
    long_prefix: np.ndarray,
    short_threshold: np.ndarray,
    short_prefix: np.ndarray,
    out: np.ndarray,
) -> None:
    """``out[i]`` = :func:`requirement_path` of row i of ``prices`` (paths x (T + 1)).

    Each thread owns whole paths and writes only their entries: the values do not
    depend on the thread count or on how paths are chunked.
    """
    for row in numba.prange(prices.shape[0]):
        out[row] = requirement_path(
            prices[row], margin, long_threshold, long_prefix, short_threshold, short_prefix
        )
