"""Maintenance-margin rates, one step at a time."""

from __future__ import annotations

import numpy as np

from stresstest.kernels.enums import MARGIN_VOL_SCALED
from stresstest.kernels.jit import kernel


@kernel
def ewma_variance(
    previous_variance: float, price: float, previous_price: float, ewma_lambda: float
) -> float:
    """``v_t = lambda v_{t-1} + (1 - lambda) r_t^2`` with ``r_t = ln(P_t / P_{t-1})`` (per step)."""
    log_return = np.log(price / previous_price)
    return ewma_lambda * previous_variance + (1.0 - ewma_lambda) * log_return * log_return


@kernel
def maintenance_rate(
    margin_model: int,
    maintenance: float,
    k: float,
    sqrt_horizon: float,
    floor: float,
    cap: float,
    variance: float,
) -> float:
    """Maintenance rate ``m_t`` (fraction of notional).

    static: ``m_t = maintenance``. vol_scaled:
    ``m_t = min(cap, max(floor, k * sqrt(v_t) * sqrt(horizon_steps)))``.
    """
    if margin_model == MARGIN_VOL_SCALED:
        return min(cap, max(floor, k * np.sqrt(variance) * sqrt_horizon))
    return maintenance
