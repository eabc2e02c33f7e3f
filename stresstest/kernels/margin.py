"""Maintenance-margin rates, one step at a time."""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.enums import MARGIN_VOL_SCALED
from stresstest.kernels.jit import kernel


@kernel
def ewma_variance(
    previous_variance: float, price: float, previous_price: float, ewma_lambda: float
) -> float:
    """``v_t = lambda v_{t-1} + (1 - lambda) r_t^2`` with ``r_t = ln(P_t / P_{t-1})`` (per step)."""
    log_return = np.log(price / previous_price)
    return float(ewma_lambda * previous_variance + (1.0 - ewma_lambda) * log_return * log_return)


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
        return float(min(cap, max(floor, k * np.sqrt(variance) * sqrt_horizon)))
    return maintenance


@kernel
def is_vol_scaled(margin: np.ndarray) -> bool:
    """Whether the margin design vector (``enums.MARGIN_ARG_*``) is volatility-scaled."""
    return int(margin[enums.MARGIN_ARG_MODEL]) == MARGIN_VOL_SCALED


@kernel
def next_variance(
    margin: np.ndarray, variance: float, price: float, previous_price: float
) -> float:
    """``v_t`` from ``v_{t-1}``: the EWMA under vol-scaled margin, unchanged under static."""
    if is_vol_scaled(margin):
        return ewma_variance(variance, price, previous_price, margin[enums.MARGIN_ARG_LAMBDA])
    return variance


@kernel
def sqrt_horizon_of(margin: np.ndarray) -> float:
    """``sqrt(horizon_steps)`` of the margin design vector, computed once per path."""
    return float(np.sqrt(margin[enums.MARGIN_ARG_HORIZON]))


@kernel
def design_rate(margin: np.ndarray, sqrt_horizon: float, variance: float) -> float:
    """:func:`maintenance_rate` of the margin design vector at per-step variance ``v_t``."""
    return maintenance_rate(
        int(margin[enums.MARGIN_ARG_MODEL]),
        margin[enums.MARGIN_ARG_MAINTENANCE],
        margin[enums.MARGIN_ARG_K],
        sqrt_horizon,
        margin[enums.MARGIN_ARG_FLOOR],
        margin[enums.MARGIN_ARG_CAP],
        variance,
    )


@kernel
def liquidation_terms(liquidation: np.ndarray) -> tuple[int, float, float, float]:
    """``(latency_steps, slippage, fee, liquidator_share)`` of the liquidation vector."""
    return (
        int(liquidation[enums.LIQUIDATION_ARG_LATENCY]),
        liquidation[enums.LIQUIDATION_ARG_SLIPPAGE],
        liquidation[enums.LIQUIDATION_ARG_FEE],
        liquidation[enums.LIQUIDATION_ARG_LIQUIDATOR_SHARE],
    )
