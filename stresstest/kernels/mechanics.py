"""The price, oracle and penalty stages of the per-path pipeline (docs/model.md 9).

Pure functions of one step, called by :mod:`stresstest.kernels.pipeline`: the
oracle price ``O_t`` (9.1) and its manipulation factor, the penalty rate of a
close, flat or volatility-scaled (9.2), and the log-price impact of a net order
(9.4). Every mechanism keeps the breach a threshold on one per-path series, so
the pipeline stays exact and ``O(T + B log N)`` per path.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.jit import kernel
from stresstest.kernels.replay import (
    QTY_HI,
    QTY_LO,
)
from stresstest.kernels.sums import range_sum


@kernel
def oracle_price(params: np.ndarray, market: np.ndarray, step: int, ema_state: float) -> float:
    """The oracle price ``O_t`` before manipulation (quote per base).

    ``market`` holds the market prices ``P_0..P_t`` (after permanent impact);
    ``ema_state`` is ``O_t`` of the ema model (the caller updates it).
    lag: ``P_{max(0, t - k)}``; twap: mean of the last ``min(w, t + 1)`` prices
    summed in step order; ema: ``ema_state``; no oracle: ``P_t``.
    """
    model = int(params[enums.MECH_ORACLE_MODEL])
    if model == enums.ORACLE_LAG:
        return float(market[max(0, step - int(params[enums.MECH_ORACLE_LAG]))])
    if model == enums.ORACLE_TWAP:
        first = max(0, step - int(params[enums.MECH_ORACLE_TWAP]) + 1)
        total = 0.0
        for inner in range(first, step + 1):
            total += market[inner]
        return total / (step + 1 - first)
    if model == enums.ORACLE_EMA:
        return ema_state
    return float(market[step])


@kernel
def flag_steps_closing_at(step: int, last_step: int, latency_steps: int) -> tuple[int, int]:
    """Flag steps ``[first, last]`` whose closes fall on ``step`` (empty if ``last < first``).

    A flag at ``s`` closes at ``min(s + latency_steps, T)``: one flag step per close
    step, and every flag step from ``T - latency_steps`` on at the last step ``T``.
    """
    if step == last_step:
        return max(0, last_step - latency_steps), last_step
    return step - latency_steps, step - latency_steps


@kernel
def manipulation_factor(params: np.ndarray, step: int) -> float:
    """``1 + size`` on the manipulated steps ``[start, start + steps)``, else 1."""
    start = int(params[enums.MECH_MANIP_STEP])
    if start >= 0 and start <= step < start + int(params[enums.MECH_MANIP_STEPS]):
        return 1.0 + float(params[enums.MECH_MANIP_SIZE])
    return 1.0


@kernel
def penalty_rate(params: np.ndarray, fee: float, variance: float) -> float:
    """Penalty rate of a close (fraction of notional).

    static: ``fee``; vol_scaled: ``min(fee_max, max(fee_min, fee_base + fee_k sigma))``
    with ``sigma = sqrt(variance)`` per step.
    """
    if int(params[enums.MECH_FEE_MODEL]) == enums.FEE_VOL_SCALED:
        raw = params[enums.MECH_FEE_BASE] + params[enums.MECH_FEE_K] * np.sqrt(variance)
        return float(min(params[enums.MECH_FEE_MAX], max(params[enums.MECH_FEE_MIN], raw)))
    return fee


@kernel
def relative_impact(params: np.ndarray, notional: float) -> float:
    """Log-price impact ``I`` of a net order of ``notional`` quote units (>= 0).

    linear: ``I = min(max_impact, 0.01 notional / depth)``; sqrt:
    ``I = min(max_impact, coefficient sqrt(notional / reference))``.
    """
    law = int(params[enums.MECH_IMPACT])
    if law == enums.IMPACT_LINEAR:
        raw = params[enums.MECH_IMPACT_COEF] * notional
    elif law == enums.IMPACT_SQRT:
        raw = params[enums.MECH_IMPACT_COEF] * np.sqrt(notional / params[enums.MECH_IMPACT_REF])
    else:
        return 0.0
    return float(min(params[enums.MECH_IMPACT_MAX], raw))


@kernel
def _quantity(prefix: np.ndarray, start: int, stop: int) -> float:
    """Sum of ``q`` over ``[start, stop)`` of a sorted side (base units)."""
    return range_sum(prefix[:, QTY_HI], prefix[:, QTY_LO], start, stop)
