"""The sorted-threshold replay with the crash mechanisms of docs/model.md section 9.

Oracle, predictive trigger, volatility-scaled penalty and price impact with
cascades. Every mechanism keeps the breach a threshold on one per-path series
(long: ``S_t < theta_i``, short: ``S_t > phi_i``), so the positions first
flagged at a step are still one contiguous range of the sorted book and the
replay stays exact and O(T + B log N) per path:

- oracle: ``S_t = O_t (1 - m_t)`` (shorts ``O_t (1 + m_t)``) with the oracle
  price ``O_t`` in place of the market price;
- predictive trigger: ``S_t = O_t exp(-z sigma_t sqrt(h))`` (shorts ``exp(+...)``);
- impact: the flagged ranges are queued until their close step (a close step
  is nondecreasing in the flag step, so the ranges closing at one step are
  adjacent in the sorted book); all closes of a step execute together at one
  impacted price, and a fraction of the impact moves the later prices.

The ranges are closed with the core kernel's range closers
(:mod:`stresstest.kernels.replay`), so the penalty and bad-debt algebra is
shared, not copied. The engine calls this module only when a scenario enables
a mechanism; otherwise :func:`stresstest.kernels.replay.replay_paths` runs.
"""

from __future__ import annotations

import numba
import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.fund import (
    N_FLOWS,
    N_TOTALS,
    record_close,
    record_grid,
    walk_fund,
    write_totals,
)
from stresstest.kernels.jit import kernel, parallel_kernel
from stresstest.kernels.margin import (
    design_rate,
    ewma_variance,
    liquidation_terms,
    next_variance,
    sqrt_horizon_of,
)
from stresstest.kernels.replay import (
    QTY_HI,
    QTY_LO,
    _close_long_range,
    _close_short_range,
)
from stresstest.kernels.search import first_greater, first_not_less
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
        return market[max(0, step - int(params[enums.MECH_ORACLE_LAG]))]
    if model == enums.ORACLE_TWAP:
        first = max(0, step - int(params[enums.MECH_ORACLE_TWAP]) + 1)
        total = 0.0
        for inner in range(first, step + 1):
            total += market[inner]
        return total / (step + 1 - first)
    if model == enums.ORACLE_EMA:
        return ema_state
    return market[step]


@kernel
def manipulation_factor(params: np.ndarray, step: int) -> float:
    """``1 + size`` on the manipulated steps ``[start, start + steps)``, else 1."""
    start = int(params[enums.MECH_MANIP_STEP])
    if start >= 0 and start <= step < start + int(params[enums.MECH_MANIP_STEPS]):
        return 1.0 + params[enums.MECH_MANIP_SIZE]
    return 1.0


@kernel
def penalty_rate(params: np.ndarray, fee: float, variance: float) -> float:
    """Penalty rate of a close (fraction of notional).

    static: ``fee``; vol_scaled: ``min(fee_max, max(fee_min, fee_base + fee_k sigma))``
    with ``sigma = sqrt(variance)`` per step.
    """
    if int(params[enums.MECH_FEE_MODEL]) == enums.FEE_VOL_SCALED:
        raw = params[enums.MECH_FEE_BASE] + params[enums.MECH_FEE_K] * np.sqrt(variance)
        return min(params[enums.MECH_FEE_MAX], max(params[enums.MECH_FEE_MIN], raw))
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
    return min(params[enums.MECH_IMPACT_MAX], raw)


@kernel
def _quantity(prefix: np.ndarray, start: int, stop: int) -> float:
    """Sum of ``q`` over ``[start, stop)`` of a sorted side (base units)."""
    return range_sum(prefix[:, QTY_HI], prefix[:, QTY_LO], start, stop)


@kernel
def _flag_steps_closing_at(step: int, last_step: int, latency_steps: int) -> tuple[int, int]:
    """Flag steps ``[first, last]`` whose closes fall on ``step`` (empty if ``last < first``)."""
    if step == last_step:
        return max(0, last_step - latency_steps), last_step
    return step - latency_steps, step - latency_steps


@kernel
def mechanics_path(
    prices: np.ndarray,
    margin: np.ndarray,
    liquidation: np.ndarray,
    params: np.ndarray,
    long_threshold: np.ndarray,
    long_prefix: np.ndarray,
    short_threshold: np.ndarray,
    short_prefix: np.ndarray,
    fund_initial: float,
    with_impact: bool,
    baseline_long_from: np.ndarray,
    baseline_short_to: np.ndarray,
    long_from_at: np.ndarray,
    short_to_at: np.ndarray,
    market: np.ndarray,
    flows: np.ndarray,
    out_row: np.ndarray,
) -> int:
    """Replay the sorted book over one path with the mechanisms of ``params``.

    ``prices`` are the path's prices ``P_0..P_T`` before impact. On return
    ``market`` holds the market prices after permanent impact, ``flows`` (zeroed
    ``(N_FLOWS, T + 1)``) the per-step closes and fund, and ``long_from_at[t]``
    / ``short_to_at[t]`` the flagged ranges after step t (longs
    ``[long_from_at[t], n_long)``, shorts ``[0, short_to_at[t])``).

    With ``with_impact`` the closes move prices, and a flag at step t that
    reaches past ``baseline_long_from[t]`` / ``baseline_short_to[t]`` (the same
    path replayed without impact) is caused by impact. Returns the cascade
    depth: the largest generation of such flags (0 without impact).
    """
    n_points = prices.shape[0]
    last_step = n_points - 1
    n_long = long_threshold.shape[0]
    n_short = short_threshold.shape[0]
    latency_steps, slippage, fee, liquidator_share = liquidation_terms(liquidation)
    sqrt_horizon = sqrt_horizon_of(margin)
    predictive = int(params[enums.MECH_TRIGGER]) == enums.TRIGGER_PREDICTIVE
    shift_per_sigma = params[enums.MECH_TRIGGER_Z] * params[enums.MECH_TRIGGER_SQRT_H]
    ema_weight = params[enums.MECH_ORACLE_EMA]
    vol_lambda = params[enums.MECH_VOL_LAMBDA]
    permanent = params[enums.MECH_PERMANENT]
    long_from = n_long
    short_to = 0
    running_min = np.inf
    running_max = -np.inf
    variance = margin[enums.MARGIN_ARG_INITIAL_VARIANCE]
    vol_variance = params[enums.MECH_VOL_V0]
    ema_state = 0.0
    factor = 1.0  # permanent impact so far: market price = factor * P_t
    impact_generation = 0  # largest generation of the closes that moved the price so far
    depth = 0
    flag_generation = np.zeros(n_points, dtype=np.int64)
    open_qty = _quantity(long_prefix, 0, n_long) + _quantity(short_prefix, 0, n_short)
    requirement_sum = 0.0
    open_notional_sum = 0.0
    totals = np.zeros(N_TOTALS)
    for step in range(n_points):
        price = prices[step] * factor
        market[step] = price
        if step >= 1:
            variance = next_variance(margin, variance, price, market[step - 1])
            vol_variance = ewma_variance(vol_variance, price, market[step - 1], vol_lambda)
            ema_state = ema_weight * ema_state + (1.0 - ema_weight) * price
        else:
            ema_state = price
        oracle = oracle_price(params, market, step, ema_state) * manipulation_factor(params, step)
        rate = design_rate(margin, sqrt_horizon, variance)
        if predictive:
            shift = shift_per_sigma * np.sqrt(vol_variance)
            long_series = oracle * np.exp(-shift)
            short_series = oracle * np.exp(shift)
        else:
            long_series = oracle * (1.0 - rate)
            short_series = oracle * (1.0 + rate)
        open_notional = oracle * open_qty
        requirement_sum += rate * open_notional
        open_notional_sum += open_notional
        generation = 0
        if long_series < running_min:
            running_min = long_series
            start = first_greater(long_threshold, long_series, 0, long_from)
            if start < long_from:
                open_qty -= _quantity(long_prefix, start, long_from)
                if with_impact and start < baseline_long_from[step]:
                    generation = impact_generation + 1
                long_from = start
        if short_series > running_max:
            running_max = short_series
            stop = first_not_less(short_threshold, short_series, short_to, n_short)
            if stop > short_to:
                open_qty -= _quantity(short_prefix, short_to, stop)
                if with_impact and stop > baseline_short_to[step]:
                    generation = impact_generation + 1
                short_to = stop
        long_from_at[step] = long_from
        short_to_at[step] = short_to
        flag_generation[step] = generation
        depth = max(depth, generation)
        # Closes due at this step: the flags of steps [first, last], adjacent ranges.
        first, last = _flag_steps_closing_at(step, last_step, latency_steps)
        if last < 0:
            continue
        closing_from = long_from_at[last]
        closing_long_to = long_from_at[first - 1] if first >= 1 else n_long
        closing_short_from = short_to_at[first - 1] if first >= 1 else 0
        closing_to = short_to_at[last]
        if closing_from == closing_long_to and closing_short_from == closing_to:
            continue
        execution = price
        impact = 0.0
        direction = 0.0
        if with_impact:
            sold = _quantity(long_prefix, closing_from, closing_long_to)
            bought = _quantity(short_prefix, closing_short_from, closing_to)
            net = bought - sold
            direction = 1.0 if net > 0.0 else -1.0
            impact = relative_impact(params, price * abs(net))
            execution = price * np.exp(direction * impact)
        rate_paid = penalty_rate(params, fee, vol_variance)
        long_exit = execution * (1.0 - slippage)
        short_exit = execution * (1.0 + slippage)
        close_generation = 0
        for flag_step in range(first, last + 1):
            close_generation = max(close_generation, flag_generation[flag_step])
            upper = long_from_at[flag_step - 1] if flag_step >= 1 else n_long
            lower = short_to_at[flag_step - 1] if flag_step >= 1 else 0
            if long_from_at[flag_step] < upper:
                lower_long = long_from_at[flag_step]
                _, notional, paid, bad = _close_long_range(
                    long_threshold, long_prefix, lower_long, upper, long_exit, rate_paid
                )
                count = upper - lower_long
                record_close(totals, flows, step, count, notional, paid, bad, liquidator_share)
            if short_to_at[flag_step] > lower:
                upper_short = short_to_at[flag_step]
                _, notional, paid, bad = _close_short_range(
                    short_threshold, short_prefix, lower, upper_short, short_exit, rate_paid
                )
                count = upper_short - lower
                record_close(totals, flows, step, count, notional, paid, bad, liquidator_share)
        if permanent * impact > 0.0:
            factor *= np.exp(direction * permanent * impact)
            impact_generation = max(impact_generation, close_generation)
    write_totals(totals, out_row)
    out_row[enums.REQUIREMENT_MEAN] = requirement_sum / n_points
    out_row[enums.MARGIN_RATE_MEAN] = (
        requirement_sum / open_notional_sum if open_notional_sum > 0.0 else 0.0
    )
    walk_fund(flows, fund_initial, out_row)
    return depth


@parallel_kernel
def mechanics_replay_paths(
    prices: np.ndarray,
    margin: np.ndarray,
    liquidation: np.ndarray,
    params: np.ndarray,
    long_threshold: np.ndarray,
    long_prefix: np.ndarray,
    short_threshold: np.ndarray,
    short_prefix: np.ndarray,
    fund_initial: float,
    grid: np.ndarray,
    out: np.ndarray,
    grid_out: np.ndarray,
) -> None:
    """Replay every row of ``prices`` with the mechanisms of ``params`` (``N_MECH`` slots).

    Arguments as :func:`stresstest.kernels.replay.replay_paths`. With an impact
    law, each path is replayed twice, without impact first (its flagged ranges
    and bad debt are the baseline) and then with it; ``out`` then needs
    ``N_METRICS_MARKET`` columns and gets ``cascade_depth`` and
    ``impact_bad_debt``. The grid records the market price after impact.
    """
    n_points = prices.shape[1]
    with_impact = int(params[enums.MECH_IMPACT]) != enums.IMPACT_NONE
    for row in numba.prange(prices.shape[0]):
        flows = np.zeros((N_FLOWS, n_points))
        market = np.empty(n_points)
        long_from_at = np.empty(n_points, dtype=np.int64)
        short_to_at = np.empty(n_points, dtype=np.int64)
        if with_impact:
            baseline_row = np.empty(enums.N_METRICS)
            baseline_long_from = np.empty(n_points, dtype=np.int64)
            baseline_short_to = np.empty(n_points, dtype=np.int64)
            mechanics_path(
                prices[row],
                margin,
                liquidation,
                params,
                long_threshold,
                long_prefix,
                short_threshold,
                short_prefix,
                fund_initial,
                False,
                baseline_long_from,
                baseline_short_to,
                baseline_long_from,
                baseline_short_to,
                market,
                np.zeros((N_FLOWS, n_points)),
                baseline_row,
            )
            depth = mechanics_path(
                prices[row],
                margin,
                liquidation,
                params,
                long_threshold,
                long_prefix,
                short_threshold,
                short_prefix,
                fund_initial,
                True,
                baseline_long_from,
                baseline_short_to,
                long_from_at,
                short_to_at,
                market,
                flows,
                out[row],
            )
            out[row, enums.CASCADE_DEPTH] = depth
            out[row, enums.IMPACT_BAD_DEBT] = (
                out[row, enums.BAD_DEBT] - baseline_row[enums.BAD_DEBT]
            )
        else:
            mechanics_path(
                prices[row],
                margin,
                liquidation,
                params,
                long_threshold,
                long_prefix,
                short_threshold,
                short_prefix,
                fund_initial,
                False,
                long_from_at,
                short_to_at,
                long_from_at,
                short_to_at,
                market,
                flows,
                out[row],
            )
        if grid.shape[0] > 0:
            record_grid(market, flows, grid, grid_out[row])
