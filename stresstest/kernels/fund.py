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
def start_events(events: np.ndarray, event_steps: np.ndarray) -> int:
    """Open a path's close events with step 0's column (zeroed); returns the count, 1.

    ``events`` is ``(N_FLOWS, T + 1)`` scratch, not zeroed, and ``event_steps`` int64
    of length ``T + 1``: column ``e`` of ``events`` holds what row ``event_steps[e]``
    of a dense ``flows`` array would hold (its rows ``FLOW_*``), for step 0 and the
    steps with closes, in step order. Step 0 is always a column, so the fund walk
    over the columns (:func:`walk_fund` of ``events[:, :n_events]``) walks step 0 as
    the dense walk does (its docstring says why the other steps without closes
    change nothing) and every grid step has a column at or before it
    (:func:`record_grid_events`).
    """
    for row in range(N_FLOWS):
        events[row, 0] = 0.0
    event_steps[0] = 0
    return 1


@kernel
def event_at(events: np.ndarray, event_steps: np.ndarray, n_events: int, close_step: int) -> int:
    """Make the last of ``n_events`` columns of ``events`` the one of ``close_step``; the new count.

    The closes are booked with non-decreasing close steps (the loop books step ``t``'s
    closes at ``min(t + latency, T)``), so a close shares the last column when it has
    the same step, and otherwise opens the next one, zeroed (``+0.0``, as a dense cell
    starts): :func:`record_close` into column ``n_events - 1`` then adds the same
    values in the same order as into the dense cell, so each column holds the cell's
    bits.
    """
    if event_steps[n_events - 1] == close_step:
        return n_events
    for row in range(N_FLOWS):
        events[row, n_events] = 0.0
    event_steps[n_events] = close_step
    return n_events + 1


@kernel
def record_grid_events(
    prices: np.ndarray,
    events: np.ndarray,
    event_steps: np.ndarray,
    n_events: int,
    grid: np.ndarray,
    grid_row: np.ndarray,
) -> None:
    """:func:`record_grid` from a path's close events (:func:`start_events`): the same bits.

    ``events[:, :n_events]`` has been walked (:func:`walk_fund`), so its row
    ``FLOW_FUND`` holds the fund after each column's step. The fund at grid step
    ``g`` is the fund after the last column at or before ``g`` (step 0 is a column;
    the fund does not change over the steps without closes, see :func:`walk_fund`),
    and the count and notional between grid points are summed over the columns
    between them, in step order from ``+0.0``, as the dense sum over every step:
    that sum also adds the ``+0.0`` of each step without closes, and ``s + 0.0 = s``
    for every ``s`` but ``-0.0``, which the sum never is (it starts at ``+0.0``, and a
    sum is ``-0.0`` only when both terms are).
    """
    event = 0
    fund = events[FLOW_FUND, 0]
    for index in range(grid.shape[0]):
        step = grid[index]
        count = 0.0
        notional = 0.0
        while event < n_events and event_steps[event] <= step:
            count += events[FLOW_COUNT, event]
            notional += events[FLOW_NOTIONAL, event]
            fund = events[FLOW_FUND, event]
            event += 1
        grid_row[enums.GRID_PRICE, index] = prices[step]
        grid_row[enums.GRID_FUND, index] = fund
        grid_row[enums.GRID_COUNT, index] = count
        grid_row[enums.GRID_NOTIONAL, index] = notional


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

    So the walk may be given only some of the steps (the core replay gives step 0
    and the steps with closes, :func:`start_events`): every step left out has net
    flow ``+0.0`` and, after step 0, changes nothing whatever ``F``, so the fund
    after each given step and the metrics are those of the walk over every step.
    After a walked step ``F`` is not ``-0.0`` (a net flow is never ``-0.0``: each
    flow starts at ``+0.0`` and adds, so is not ``-0.0``, and ``a - b`` is ``-0.0``
    only when ``a`` is; so ``F + net`` is not, and a negative ``F`` is floored to
    ``+0.0``), and the minimum, peak, drawdown and requirement have just been
    compared with the current ``F`` and ``C``. A zero-net step then: with ``F > 0``
    is skipped; with ``F = +0.0`` gives ``F + 0 = +0.0`` and ``C + 0 = C`` and makes
    the same comparisons with the same values, which change nothing the second time
    (each sets a value to one it already is, or is false); with ``F`` NaN keeps NaN and
    every comparison with it is false. Step 0 is different: ``F`` is still
    ``fund_initial``, which may be ``-0.0`` (``-0.0 + 0.0 = +0.0``) or negative
    (socialized at step 0), so step 0 is always walked. A step whose closes net to
    zero (a zero-net event: a fund share equal to the bad debt, or neither) is walked
    as every given step, the same operations as the dense walk at that step, so it
    too is the identity after step 0; its count and notional are still recorded.
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
