"""The dense replay of margin units: every unit walked step by step to its first breach.

The loop over units and steps a risk team would write, ``O(N T)`` per path,
in the direct form ``E_u,t < R_u,t`` with no filter. A compiled twin of
:mod:`stresstest.kernels.cross` for the benchmark and the tests, not used by
the engine.
"""

from __future__ import annotations

import numba
import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.account_gap import unit_gap
from stresstest.kernels.account_stages import stage_series
from stresstest.kernels.asset_rates import rate_state, step_rates
from stresstest.kernels.cross import close_unit
from stresstest.kernels.fund import N_FLOWS, N_TOTALS, walk_fund, write_totals
from stresstest.kernels.jit import kernel, parallel_kernel
from stresstest.kernels.margin import liquidation_terms, sqrt_horizon_of


@kernel
def dense_cross_path(
    prices: np.ndarray,
    marks: np.ndarray,
    fee_rates: np.ndarray,
    margin: np.ndarray,
    brackets: np.ndarray,
    liquidation: np.ndarray,
    units: tuple[np.ndarray, ...],
    fund_initial: float,
    out_row: np.ndarray,
) -> None:
    """Replay the units over one path (assets x (T + 1)); arguments as ``cross_replay_path``.

    The breach, the requirement and the notional read ``marks``; the margin EWMA
    and the closes read ``prices`` (the market).
    """
    unit_start, pos_asset, pos_side, pos_qty, pos_entry, unit_collateral = units
    n_assets, n_points = prices.shape
    last_step = n_points - 1
    latency, slippage, fee, share = liquidation_terms(liquidation)
    sqrt_horizon = sqrt_horizon_of(margin)
    rate_table = np.empty((n_points, n_assets))
    rates_state, apc = rate_state(margin, n_assets)
    for step in range(n_points):
        step_rates(prices, step, rates_state, apc, sqrt_horizon, rate_table[step])
    flows = np.zeros((N_FLOWS, n_points))
    totals = np.zeros(N_TOTALS)
    requirement_by_step = np.zeros(n_points)
    notional_by_step = np.zeros(n_points)
    for unit in range(unit_collateral.shape[0]):
        for step in range(n_points):
            equity, requirement = unit_gap(
                unit,
                step,
                marks,
                rate_table[step],
                brackets[0],
                brackets[1],
                brackets[2],
                unit_start,
                pos_asset,
                pos_side,
                pos_qty,
                pos_entry,
                unit_collateral,
            )
            requirement_by_step[step] += requirement
            for position in range(unit_start[unit], unit_start[unit + 1]):
                notional_by_step[step] += pos_qty[position] * marks[pos_asset[position], step]
            if equity < requirement:
                close_unit(
                    unit,
                    min(step + latency, last_step),
                    prices,
                    slippage,
                    fee,
                    fee_rates,
                    share,
                    unit_start,
                    pos_asset,
                    pos_side,
                    pos_qty,
                    pos_entry,
                    unit_collateral,
                    totals,
                    flows,
                )
                break
    write_totals(totals, out_row)
    requirement_sum = np.sum(requirement_by_step)
    notional_sum = np.sum(notional_by_step)
    out_row[enums.REQUIREMENT_MEAN] = requirement_sum / n_points
    out_row[enums.MARGIN_RATE_MEAN] = requirement_sum / notional_sum if notional_sum > 0.0 else 0.0
    walk_fund(flows, fund_initial, out_row)


@parallel_kernel
def dense_cross_paths(
    prices: np.ndarray,
    params: np.ndarray,
    margin: np.ndarray,
    brackets: np.ndarray,
    liquidation: np.ndarray,
    units: tuple[np.ndarray, ...],
    fund_initial: float,
    out: np.ndarray,
) -> None:
    """Dense replay of every path of ``prices`` (paths x assets x (T + 1)) into ``out``.

    ``params`` as :func:`stresstest.kernels.cross.cross_replay_paths` (empty: no stage).
    """
    for row in numba.prange(prices.shape[0]):
        market = prices[row]
        marks, fee_rates = stage_series(params, market, liquidation[enums.LIQUIDATION_ARG_FEE])
        dense_cross_path(
            market, marks, fee_rates, margin, brackets, liquidation, units, fund_initial, out[row]
        )
