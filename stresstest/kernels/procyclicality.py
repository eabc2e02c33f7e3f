"""The procyclicality measures of one path (docs/model.md 3.2), for every replay kernel.

The core kernel (:mod:`stresstest.kernels.replay`) and the stage pipeline
(:mod:`stresstest.kernels.pipeline`, through
:mod:`stresstest.kernels.procyclicality_staged`) keep a path's tally here: the peak,
trough and largest ``n``-step increase of the posted rate ``m_t`` (a ring of the last
``n`` rates), and the count and notional of the closes the rate held at ``m_0``
would not have flagged. Memory O(n) per path; never positions x steps.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.jit import kernel
from stresstest.kernels.search import first_greater, first_not_less

# Fields of a path's procyclicality tally (docs/model.md 3.2).
_PC_PEAK = 0  # max_t m_t, fraction
_PC_TROUGH = 1  # min_t m_t, fraction
_PC_INCREASE = 2  # largest (m_{t+n} - m_t) / m_t so far (-inf: no pair yet)
_PC_COUNT = 3  # positions flagged that m_0 held constant would not flag, count
_PC_NOTIONAL = 4  # their closed notional, quote units
_PC_RATE_0 = 5  # m_0, the rate of step 0 (held constant for the counterfactual)
_N_PC = 6


@kernel
def held_rate_flags(
    prices: np.ndarray, rate: float, long_threshold: np.ndarray, short_threshold: np.ndarray
) -> tuple[int, int]:
    """The book flagged over the path at the step-0 rate ``m_0 = rate`` held constant.

    Returns ``(long_from, short_to)``: longs ``[long_from, n)`` and shorts
    ``[0, short_to)`` breach at some step with ``m_t = m_0`` (docs/model.md 3.2).
    """
    lowest = np.inf
    highest = -np.inf
    for step in range(prices.shape[0]):
        lowest = min(lowest, prices[step] * (1.0 - rate))
        highest = max(highest, prices[step] * (1.0 + rate))
    long_from = first_greater(long_threshold, lowest, 0, long_threshold.shape[0])
    short_to = first_not_less(short_threshold, highest, 0, short_threshold.shape[0])
    return long_from, short_to


@kernel
def track_rate(tally: np.ndarray, ring: np.ndarray, step: int, rate: float) -> None:
    """Add ``m_t`` to the tally's peak, trough and largest ``n``-step increase.

    ``ring`` (length ``n``) holds ``m_{t-n} .. m_{t-1}`` at ``t mod n``; the rate of
    step 0 is kept as ``m_0``.
    """
    if step == 0:
        tally[_PC_RATE_0] = rate
    tally[_PC_PEAK] = max(tally[_PC_PEAK], rate)
    tally[_PC_TROUGH] = min(tally[_PC_TROUGH], rate)
    slot = step % ring.shape[0]
    if step >= ring.shape[0]:
        before = ring[slot]
        if before > 0.0:
            tally[_PC_INCREASE] = max(tally[_PC_INCREASE], (rate - before) / before)
    ring[slot] = rate


@kernel
def write_procyclicality(tally: np.ndarray, out_row: np.ndarray) -> None:
    """The procyclicality columns (``enums.PROCYCLICALITY_METRIC_NAMES``) of a path."""
    trough = tally[_PC_TROUGH]
    out_row[enums.MARGIN_PEAK_TO_TROUGH] = tally[_PC_PEAK] / trough if trough > 0.0 else np.inf
    increase = tally[_PC_INCREASE]
    out_row[enums.MARGIN_MAX_INCREASE] = increase if increase > -np.inf else 0.0
    out_row[enums.PROCYCLICAL_LIQUIDATIONS] = tally[_PC_COUNT]
    out_row[enums.PROCYCLICAL_NOTIONAL] = tally[_PC_NOTIONAL]


@kernel
def new_tally(horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """A path's fresh tally and its ring of ``horizon`` rates (``horizon = 0``: not measured)."""
    tally = np.zeros(_N_PC)
    tally[_PC_TROUGH] = np.inf
    tally[_PC_PEAK] = -np.inf
    tally[_PC_INCREASE] = -np.inf
    return tally, np.empty(horizon)


@kernel
def held_rate(tally: np.ndarray) -> float:
    """``m_0``, the rate of step 0 as :func:`track_rate` saw it."""
    return float(tally[_PC_RATE_0])


@kernel
def add_procyclical(tally: np.ndarray, count: float, qty: float, exit_price: float) -> None:
    """Add ``count`` closes of ``qty`` base units at ``exit_price`` that m_0 held would not flag."""
    tally[_PC_COUNT] += count
    tally[_PC_NOTIONAL] += exit_price * qty
