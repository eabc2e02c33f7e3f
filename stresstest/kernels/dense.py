"""The dense replay: every position walked step by step to its first breach.

This is the loop a risk team would write by hand, O(positions x steps) per
path. It evaluates the breach in its direct form ``E_i,t < R_i,t`` on the
unsorted book. It is kept as a compiled twin of :mod:`stresstest.kernels.replay`
for the benchmarks and the tests, not used by the engine.
"""

from __future__ import annotations

import numba
import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.fund import N_FLOWS, N_TOTALS, record_close, walk_fund, write_totals
from stresstest.kernels.jit import kernel, parallel_kernel
from stresstest.kernels.margin import liquidation_terms, rate_series


@kernel
def margin_rates(prices: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """The maintenance rate ``m_t`` of one path for steps 0..T (fraction of notional).

    ``margin`` is the margin design vector (``enums.MARGIN_ARG_*``); the same series
    as :func:`stresstest.kernels.margin.rate_series` (APC options included).
    """
    return rate_series(prices, margin)


@kernel
def dense_replay_path(
    prices: np.ndarray,
    rates: np.ndarray,
    liquidation: np.ndarray,
    side: np.ndarray,
    qty: np.ndarray,
    entry_price: np.ndarray,
    collateral: np.ndarray,
    fund_initial: float,
    out_row: np.ndarray,
) -> None:
    """Replay the unsorted book (side +1/-1, qty, entry, collateral) over one path."""
    latency_steps, slippage, fee, liquidator_share = liquidation_terms(liquidation)
    n_points = prices.shape[0]
    last_step = n_points - 1
    flows = np.zeros((N_FLOWS, n_points))
    flagged_qty_by_step = np.zeros(n_points)
    totals = np.zeros(N_TOTALS)
    for position in range(side.shape[0]):
        direction = side[position]
        quantity = qty[position]
        entry = entry_price[position]
        posted = collateral[position]
        for step in range(n_points):
            price = prices[step]
            equity = posted + direction * quantity * (price - entry)
            if equity < rates[step] * quantity * price:
                flagged_qty_by_step[step] += quantity
                close_step = min(step + latency_steps, last_step)
                exit_price = prices[close_step] * (1.0 - direction * slippage)
                remaining = posted + direction * quantity * (exit_price - entry)
                due = fee * quantity * exit_price
                if remaining >= due:
                    paid = due
                elif remaining >= 0.0:
                    paid = remaining
                else:
                    paid = 0.0
                record_close(
                    totals,
                    flows,
                    close_step,
                    1.0,
                    quantity * exit_price,
                    paid,
                    max(0.0, -remaining),
                    liquidator_share,
                )
                break
    write_totals(totals, out_row)
    open_qty = np.sum(qty)
    requirement_sum = 0.0
    open_notional_sum = 0.0
    for step in range(n_points):
        open_notional = prices[step] * open_qty
        requirement_sum += rates[step] * open_notional
        open_notional_sum += open_notional
        open_qty -= flagged_qty_by_step[step]
    out_row[enums.REQUIREMENT_MEAN] = requirement_sum / n_points
    out_row[enums.MARGIN_RATE_MEAN] = (
        requirement_sum / open_notional_sum if open_notional_sum > 0.0 else 0.0
    )
    walk_fund(flows, fund_initial, out_row)


@parallel_kernel
def dense_replay_paths(
    prices: np.ndarray,
    margin: np.ndarray,
    liquidation: np.ndarray,
    side: np.ndarray,
    qty: np.ndarray,
    entry_price: np.ndarray,
    collateral: np.ndarray,
    fund_initial: float,
    out: np.ndarray,
) -> None:
    """Dense replay of every row of ``prices``; same outputs as ``replay_paths``."""
    for row in numba.prange(prices.shape[0]):
        dense_replay_path(
            prices[row],
            margin_rates(prices[row], margin),
            liquidation,
            side,
            qty,
            entry_price,
            collateral,
            fund_initial,
            out[row],
        )
