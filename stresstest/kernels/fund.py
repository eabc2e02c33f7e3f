"""The insurance fund of one path, walked step by step over its net flows."""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.jit import kernel

# Rows of the per-path, per-step flows array ``(N_FLOWS, T + 1)``.
FLOW_TO_FUND = 0  # fund's share of penalties of closes at the step, quote units
FLOW_BAD_DEBT = 1  # bad debt of closes at the step, quote units
FLOW_COUNT = 2  # positions closed at the step
FLOW_NOTIONAL = 3  # notional closed at the step, quote units
FLOW_FUND = 4  # the fund after the step (written by walk_fund), quote units
N_FLOWS = 5

# Slots of the per-path totals array that ``record_close`` accumulates into.
TOTAL_COUNT = 0
TOTAL_NOTIONAL = 1
TOTAL_BAD_DEBT = 2
TOTAL_TO_FUND = 3
TOTAL_TO_LIQUIDATORS = 4
N_TOTALS = 5


@kernel
def record_close(
    totals: np.ndarray,
    flows: np.ndarray,
    close_step: int,
    count: float,
    notional: float,
    penalty_paid: float,
    bad_debt: float,
    liquidator_share: float,
) -> None:
    """Account for ``count`` positions closed at ``close_step``.

    The paid penalty is split ``liquidator_share`` to the liquidator and
    ``1 - liquidator_share`` to the fund; the fund's share and the bad debt are
    booked at the close step (row ``close_step`` of ``flows``) for the fund walk.
    """
    to_fund = (1.0 - liquidator_share) * penalty_paid
    totals[TOTAL_COUNT] += count
    totals[TOTAL_NOTIONAL] += notional
    totals[TOTAL_BAD_DEBT] += bad_debt
    totals[TOTAL_TO_FUND] += to_fund
    totals[TOTAL_TO_LIQUIDATORS] += liquidator_share * penalty_paid
    flows[FLOW_TO_FUND, close_step] += to_fund
    flows[FLOW_BAD_DEBT, close_step] += bad_debt
    flows[FLOW_COUNT, close_step] += count
    flows[FLOW_NOTIONAL, close_step] += notional


@kernel
def write_totals(totals: np.ndarray, out_row: np.ndarray) -> None:
    """Copy the close totals into the per-path output row."""
    out_row[enums.N_LIQUIDATIONS] = totals[TOTAL_COUNT]
    out_row[enums.LIQUIDATED_NOTIONAL] = totals[TOTAL_NOTIONAL]
    out_row[enums.BAD_DEBT] = totals[TOTAL_BAD_DEBT]
    out_row[enums.FEES_TO_FUND] = totals[TOTAL_TO_FUND]
    out_row[enums.FEES_TO_LIQUIDATORS] = totals[TOTAL_TO_LIQUIDATORS]


@kernel
def record_grid(
    prices: np.ndarray, flows: np.ndarray, grid: np.ndarray, grid_row: np.ndarray
) -> None:
    """Copy a path's price and fund at the ``grid`` steps, and its closes between them."""
    previous = -1
    for index in range(grid.shape[0]):
        step = grid[index]
        count = 0.0
        notional = 0.0
        for inner in range(previous + 1, step + 1):
            count += flows[FLOW_COUNT, inner]
            notional += flows[FLOW_NOTIONAL, inner]
        grid_row[enums.GRID_PRICE, index] = prices[step]
        grid_row[enums.GRID_FUND, index] = flows[FLOW_FUND, step]
        grid_row[enums.GRID_COUNT, index] = count
        grid_row[enums.GRID_NOTIONAL, index] = notional
        previous = step


@kernel
def walk_fund(flows: np.ndarray, fund_initial: float, out_row: np.ndarray) -> None:
    """Walk the fund over steps 0..T and write its per-path metrics into ``out_row``.

    Reads rows ``FLOW_TO_FUND`` and ``FLOW_BAD_DEBT`` of ``flows`` and writes the
    fund after each step into row ``FLOW_FUND``. ``F`` starts at ``fund_initial``;
    at each step ``F += fees_to_fund[t] - bad_debt[t]``;
    if ``F < 0`` the shortfall ``-F`` is added to the socialized loss and ``F = 0``.
    ``fund_min`` includes the initial value, ``fund_max_drawdown`` is the largest
    ``peak - F`` with the peak starting at ``fund_initial``, and ``fund_required``
    is ``max(0, max_t -C_t)`` with ``C_t`` the cumulative net flow up to step t.
    All amounts in quote units.

    A step whose net flow is zero (no close reached the fund; most of a path's
    steps) while ``F > 0`` leaves every running value as it was, so it only writes
    ``F`` and skips the chain of comparisons. Exact: ``F + 0 = F`` for ``F > 0``;
    ``C`` is never ``-0.0`` (it starts at ``+0.0``, and a sum is ``-0.0`` only when
    both terms are), so ``C + 0 = C``; and the comparisons hold as they did after the
    step before (``F`` is not negative, the minimum, peak, drawdown and requirement
    already account for it). A zero, negative or NaN ``F`` walks the step in full.
    """
    fund = fund_initial
    peak = fund_initial
    fund_min = fund_initial
    max_drawdown = 0.0
    socialized = 0.0
    cumulative = 0.0
    required = 0.0
    for step in range(flows.shape[1]):
        net = flows[FLOW_TO_FUND, step] - flows[FLOW_BAD_DEBT, step]
        if net == 0.0 and fund > 0.0:
            flows[FLOW_FUND, step] = fund
            continue
        fund += net
        cumulative += net
        if -cumulative > required:
            required = -cumulative
        if fund < 0.0:
            socialized += -fund
            fund = 0.0
        flows[FLOW_FUND, step] = fund
        if fund < fund_min:
            fund_min = fund
        if fund > peak:
            peak = fund
        if peak - fund > max_drawdown:
            max_drawdown = peak - fund
    out_row[enums.FUND_END] = fund
    out_row[enums.FUND_MIN] = fund_min
    out_row[enums.FUND_MAX_DRAWDOWN] = max_drawdown
    out_row[enums.SOCIALIZED_LOSS] = socialized
    out_row[enums.FUND_REQUIRED] = required
