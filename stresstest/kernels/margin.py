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
    return ewma_step(previous_variance, np.log(price / previous_price), ewma_lambda)


@kernel
def ewma_step(previous_variance: float, log_return: float, ewma_lambda: float) -> float:
    """:func:`ewma_variance` given ``r_t = ln(P_t / P_{t-1})``: the same operations, in order."""
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
def design_rates(prices: np.ndarray, margin: np.ndarray, rates: np.ndarray) -> None:
    """Write :func:`design_rate` of every step of one path into ``rates`` (``m_t``, fractions).

    The values of the loop ``v_t = next_variance(v_{t-1}, P_t, P_{t-1})``,
    ``m_t = design_rate(v_t)`` from ``v_0 = initial_variance``, bit for bit, in
    passes that do not wait on each other: under vol-scaled margin first every
    log return ``ln(P_t / P_{t-1})`` (the same libm ``log`` of the same quotient;
    the calls are independent, so they overlap instead of interleaving with the
    recursion), then the recursion :func:`ewma_step` (``v_t`` in ``rates``),
    then each rate from its variance. ``rates`` is ``prices``' length.
    """
    n_points = prices.shape[0]
    sqrt_horizon = sqrt_horizon_of(margin)
    variance = margin[enums.MARGIN_ARG_INITIAL_VARIANCE]
    if not is_vol_scaled(margin):
        rate = design_rate(margin, sqrt_horizon, variance)
        for step in range(n_points):
            rates[step] = rate
        return
    ewma_lambda = margin[enums.MARGIN_ARG_LAMBDA]
    for step in range(1, n_points):
        rates[step] = np.log(prices[step] / prices[step - 1])
    rates[0] = variance
    for step in range(1, n_points):
        variance = ewma_step(variance, rates[step], ewma_lambda)
        rates[step] = variance
    for step in range(n_points):
        rates[step] = design_rate(margin, sqrt_horizon, rates[step])


@kernel
def has_apc(margin: np.ndarray) -> bool:
    """Whether any EMIR Art. 28 anti-procyclicality option of the design vector is on."""
    return bool(
        margin[enums.MARGIN_ARG_APC_BUFFER] > 0.0
        or margin[enums.MARGIN_ARG_STRESSED_WEIGHT] > 0.0
        or margin[enums.MARGIN_ARG_VOL_FLOOR_VARIANCE] > 0.0
    )


@kernel
def apc_state() -> np.ndarray:
    """A path's fresh APC state (``enums.APC_STATE_*``), before step 0."""
    state = np.zeros(enums.N_APC_STATE)
    state[enums.APC_STATE_POSTED] = -1.0
    return state


@kernel
def apc_rate(margin: np.ndarray, sqrt_horizon: float, variance: float, state: np.ndarray) -> float:
    """The posted rate ``m_t`` of vol-scaled margin with the APC options (docs/model.md 3.1).

    ``variance`` is the EWMA ``v_t`` (per step); ``state`` (``enums.APC_STATE_*``,
    from :func:`apc_state`) carries the running maximum of the floored variance and
    the previous posted rate, and is updated. With ``f`` the variance floor, ``w``
    the stressed weight, ``s_t`` the stressed variance and ``b`` the buffer::

        v'_t = max(v_t, f)
        u_t  = min(cap, max(floor, k ((1 - w) sqrt(v'_t) + w sqrt(s_t)) sqrt(h)))
        m_0  = (1 + b) u_0,   m_t = min((1 + b) u_t, max(u_t, m_{t-1}))
    """
    floored = max(variance, margin[enums.MARGIN_ARG_VOL_FLOOR_VARIANCE])
    state[enums.APC_STATE_STRESSED] = max(state[enums.APC_STATE_STRESSED], floored)
    stressed = margin[enums.MARGIN_ARG_STRESSED_VARIANCE]
    if stressed < 0.0:
        stressed = state[enums.APC_STATE_STRESSED]
    weight = margin[enums.MARGIN_ARG_STRESSED_WEIGHT]
    sigma = (1.0 - weight) * np.sqrt(floored) + weight * np.sqrt(stressed)
    model = min(
        margin[enums.MARGIN_ARG_CAP],
        max(margin[enums.MARGIN_ARG_FLOOR], margin[enums.MARGIN_ARG_K] * sigma * sqrt_horizon),
    )
    buffered = (1.0 + margin[enums.MARGIN_ARG_APC_BUFFER]) * model
    previous = state[enums.APC_STATE_POSTED]
    rate = buffered if previous < 0.0 else min(buffered, max(model, previous))
    state[enums.APC_STATE_POSTED] = rate
    return float(rate)


@kernel
def posted_rate(
    margin: np.ndarray, sqrt_horizon: float, variance: float, apc: bool, state: np.ndarray
) -> float:
    """``m_t``: :func:`apc_rate` when ``apc`` (:func:`has_apc`), else :func:`design_rate`."""
    if apc:
        return apc_rate(margin, sqrt_horizon, variance, state)
    return design_rate(margin, sqrt_horizon, variance)


@kernel
def rate_series(prices: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """The maintenance rate ``m_t`` of one path for steps 0..T (fraction of notional).

    ``margin`` is the margin design vector (``enums.MARGIN_ARG_*``); the APC options
    (docs/model.md 3.1) included.
    """
    n_points = prices.shape[0]
    rates = np.empty(n_points)
    sqrt_horizon = sqrt_horizon_of(margin)
    variance = margin[enums.MARGIN_ARG_INITIAL_VARIANCE]
    apc = has_apc(margin)
    state = apc_state()
    for step in range(n_points):
        if step >= 1:
            variance = next_variance(margin, variance, prices[step], prices[step - 1])
        rates[step] = posted_rate(margin, sqrt_horizon, variance, apc, state)
    return rates


@kernel
def liquidation_terms(liquidation: np.ndarray) -> tuple[int, float, float, float]:
    """``(latency_steps, slippage, fee, liquidator_share)`` of the liquidation vector."""
    return (
        int(liquidation[enums.LIQUIDATION_ARG_LATENCY]),
        liquidation[enums.LIQUIDATION_ARG_SLIPPAGE],
        liquidation[enums.LIQUIDATION_ARG_FEE],
        liquidation[enums.LIQUIDATION_ARG_LIQUIDATOR_SHARE],
    )
