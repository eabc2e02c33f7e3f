"""The oracle, penalty and trigger stages of an accounts path, one series per asset (11.7, 11.8).

Pure functions over one path's market prices ``(n_assets, T + 1)``, called by
:mod:`stresstest.kernels.cross` and its dense twin once per path before the
replay: the mark ``O_a,t`` of every asset (the oracle of 9.1 applied to that
asset's own market path, with the same ``[oracle]`` table for every asset) and
the volatility-scaled penalty rate ``fee_a,t`` of every asset (9.2, with that
asset's own EWMA variance of market returns); and for the accounts defence kernel
the predictive trigger's shift per asset and its breach test of a one-position unit
(9.3, 11.8). The series are ``O(A T)`` per path
(``O(A T twap_steps)`` with a twap oracle) and ``O(A T)`` memory per thread,
never accounts x paths x steps. A stage that is off is not computed at all.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.account_predictive import cross_predictive_breach
from stresstest.kernels.jit import kernel
from stresstest.kernels.margin import ewma_variance
from stresstest.kernels.mechanics import manipulation_factor, oracle_price, penalty_rate


@kernel
def has_oracle(params: np.ndarray) -> bool:
    """Whether a stage vector (empty: every stage off) has an oracle model."""
    return params.shape[0] > 0 and int(params[enums.MECH_ORACLE_MODEL]) != enums.ORACLE_MARKET


@kernel
def has_vol_fee(params: np.ndarray) -> bool:
    """Whether a stage vector (empty: every stage off) has the volatility-scaled penalty."""
    return params.shape[0] > 0 and int(params[enums.MECH_FEE_MODEL]) == enums.FEE_VOL_SCALED


@kernel
def mark_series(params: np.ndarray, market: np.ndarray, marks: np.ndarray) -> None:
    """Fill ``marks[a, t] = O_a,t`` (quote per base of asset ``a``) from ``market``.

    ``market`` holds the market prices ``P_a,0..P_a,T`` of every asset (rows);
    each row goes through :func:`stresstest.kernels.mechanics.oracle_price`
    (lag, ema or twap of that row) times the manipulation factor of the step,
    exactly as the single-asset pipeline computes ``O_t`` from ``P~_t``; with
    ``MECH_MANIP_ASSET >= 0`` only that row is manipulated (docs/model.md 11.7).
    """
    ema_weight = params[enums.MECH_ORACLE_EMA]
    manipulated = int(params[enums.MECH_MANIP_ASSET])
    for asset in range(market.shape[0]):
        row = market[asset]
        honest = manipulated >= 0 and asset != manipulated
        ema_state = 0.0
        for step in range(row.shape[0]):
            price = row[step]
            ema_state = (ema_weight * ema_state + (1.0 - ema_weight) * price) if step else price
            factor = 1.0 if honest else manipulation_factor(params, step)
            marks[asset, step] = oracle_price(params, row, step, ema_state) * factor


@kernel
def fee_series(params: np.ndarray, market: np.ndarray, fee: float, rates: np.ndarray) -> None:
    """Fill ``rates[a, t] = fee_a,t``, the penalty rate of a close of asset ``a`` at step ``t``.

    ``fee_a,t = min(fee_max, max(fee_min, fee_base + fee_k sigma_a,t))`` (fraction
    of notional) with ``sigma_a,t^2 = w_a,t``, the EWMA of asset ``a``'s squared
    market log returns (``w_a,0 = vol_initial_variance``, decay ``vol_ewma_lambda``;
    per step), computed as the single-asset pipeline computes ``w_t``.
    """
    decay = params[enums.MECH_VOL_LAMBDA]
    for asset in range(market.shape[0]):
        variance = params[enums.MECH_VOL_V0]
        for step in range(market.shape[1]):
            if step >= 1:
                variance = ewma_variance(
                    variance, market[asset, step], market[asset, step - 1], decay
                )
            rates[asset, step] = penalty_rate(params, fee, variance)


@kernel
def stage_series(
    params: np.ndarray, market: np.ndarray, fee: float
) -> tuple[np.ndarray, np.ndarray]:
    """The series the replay of one path reads: ``(marks, fee_rates)``.

    ``marks`` is ``market`` itself without an oracle (no copy), else a new
    ``(A, T + 1)`` array of :func:`mark_series`. ``fee_rates`` is ``(0, 0)``
    with the flat penalty (the close uses ``fee``), else ``(A, T + 1)`` of
    :func:`fee_series`.
    """
    marks = market
    if has_oracle(params):
        marks = np.empty_like(market)
        mark_series(params, market, marks)
    if has_vol_fee(params):
        fee_rates = np.empty(market.shape)
        fee_series(params, market, fee, fee_rates)
    else:
        fee_rates = np.empty((0, 0))
    return marks, fee_rates


@kernel
def stage_step(
    params: np.ndarray,
    raw: np.ndarray,
    step: int,
    factor: np.ndarray,
    fee: float,
    market: np.ndarray,
    marks: np.ndarray,
    fee_rates: np.ndarray,
    ema_state: np.ndarray,
    fee_variance: np.ndarray,
) -> None:
    """Fill column ``step`` of the impacted series of one path (docs/model.md 11.9).

    ``market[a, step] = raw[a, step] factor[a]`` (``factor`` the permanent impact of
    the closes before ``step``, 9.0); with an oracle ``marks[a, step]`` is
    :func:`mark_series`'s value on the impacted prices ``market[a, 0..step]`` (``marks``
    is ``market`` itself without one); with the volatility-scaled penalty
    ``fee_rates[a, step]`` is :func:`fee_series`'s. ``ema_state`` and
    ``fee_variance`` (one per asset) carry the recursions from step to step, so the
    values are those the whole-path functions give on the same prices, bit for bit.
    """
    for asset in range(market.shape[0]):
        price = raw[asset, step] * factor[asset]
        market[asset, step] = price
        if has_oracle(params):
            weight = params[enums.MECH_ORACLE_EMA]
            ema_state[asset] = (
                (weight * ema_state[asset] + (1.0 - weight) * price) if step else price
            )
            manipulated = int(params[enums.MECH_MANIP_ASSET])
            honest = manipulated >= 0 and asset != manipulated
            manipulation = 1.0 if honest else manipulation_factor(params, step)
            marks[asset, step] = (
                oracle_price(params, market[asset], step, ema_state[asset]) * manipulation
            )
        if has_vol_fee(params):
            if step >= 1:
                fee_variance[asset] = ewma_variance(
                    fee_variance[asset],
                    market[asset, step],
                    market[asset, step - 1],
                    params[enums.MECH_VOL_LAMBDA],
                )
            fee_rates[asset, step] = penalty_rate(params, fee, fee_variance[asset])


@kernel
def trigger_shifts(
    params: np.ndarray, prices: np.ndarray, step: int, vol_variance: np.ndarray, shifts: np.ndarray
) -> None:
    """Update each asset's EWMA variance ``w_a,t`` and its shift ``z sqrt(w_a,t) sqrt(h)`` (9.3).

    ``w_a,0 = vol_initial_variance``, decay ``vol_ewma_lambda``, market log returns:
    the volatility the single-asset predictive trigger reads, one per asset.
    """
    shift_per_sigma = params[enums.MECH_TRIGGER_Z] * params[enums.MECH_TRIGGER_SQRT_H]
    for asset in range(prices.shape[0]):
        if step >= 1:
            vol_variance[asset] = ewma_variance(
                vol_variance[asset],
                prices[asset, step],
                prices[asset, step - 1],
                params[enums.MECH_VOL_LAMBDA],
            )
        shifts[asset] = shift_per_sigma * np.sqrt(vol_variance[asset])


@kernel
def predictive_breach(
    unit: int,
    step: int,
    marks: np.ndarray,
    shifts: np.ndarray,
    unit_start: np.ndarray,
    pos_asset: np.ndarray,
    pos_side: np.ndarray,
    qty: np.ndarray,
    pos_entry: np.ndarray,
    collateral: np.ndarray,
) -> bool:
    """The predictive trigger of 9.3 for a one-position unit (11.8).

    Bankruptcy price ``B = e - s c / q``; a long breaches when ``O exp(-shift) < B``,
    a short when ``O exp(shift) > B``. A unit of several legs follows
    :func:`stresstest.kernels.account_predictive.cross_predictive_breach`.
    """
    if unit_start[unit + 1] - unit_start[unit] > 1:
        return cross_predictive_breach(
            unit, step, marks, shifts, unit_start, pos_asset, pos_side, qty, pos_entry, collateral
        )
    position = unit_start[unit]
    side = pos_side[position]
    bankruptcy = pos_entry[position] - side * collateral[unit] / qty[position]
    mark = marks[pos_asset[position], step]
    shift = shifts[pos_asset[position]]
    if side > 0:
        return bool(mark * np.exp(-shift) < bankruptcy)
    return bool(mark * np.exp(shift) > bankruptcy)
