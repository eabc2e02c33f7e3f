"""Replay of margin units (cross accounts, isolated positions) over multi-asset paths.

A unit ``u`` with collateral ``c`` and positions ``k`` (asset ``a_k``, side
``s_k``, quantity ``q_k``, entry ``e_k``) breaches at step ``t`` when

    E_u,t = c + sum_k s_k q_k (P_a,t - e_k)  <  R_u,t = sum_k m_a,t q_k P_a,t

(or ``sum_k R_b(q_k P_a,t) + (m_a,t - r_0) q_k P_a,t`` with tiered brackets, the
add-on zero for static margin) and is then closed in full
at step ``min(t + latency, T)``. Cross margin has no single threshold per
unit, so the kernel filters instead (docs/model.md 11.5). With a rate bound
``m_bar >= m_a,t``, ``E - R >= K + sum_a w_a P_a`` where ``K = c - sum s q e`` and
``w_a = sum_k (s_k - m_bar) q_k``. In scaled prices ``y_a = P_a / R_a`` a unit in
two assets can only breach once ``u_theta . y > h``, ``u_theta`` the unit vector
of ``v = -(w_a R_a, w_b R_b)`` and ``h = K / |v|``: a half-plane.

Units are cut into groups of consecutive angle ``theta`` and sorted by ``h``
inside a group. A group's bound ``max_{theta in group} u_theta . y`` is exact
(its two extreme angles, or ``|y|`` when y points into the group); the units
with ``h`` at or below it, a growing prefix of the sorted group, become
candidates. A candidate is checked in the direct form ``E < R`` whenever its
own half-plane is within reach. Nothing ``d`` away (scaled prices) can be
reached before y has moved by ``d``, so groups and candidates *sleep* until the
path's arc length since they fell asleep, or its displacement from where they
fell asleep, reaches ``d``. Units the filter cannot describe (three or more
assets, cross accounts with brackets, ``|v| = 0``) are checked at every step.

Each asset's rate ``m_a,t`` is posted by :mod:`stresstest.kernels.asset_rates` (with
the APC options, from the asset's own state; ``m_bar`` is then ``(1 + apc_buffer)
cap``-based, docs/model.md 11.5).

With an oracle every price of the breach, the requirement and the filter is the
mark ``O_a,t`` (the filter's bounds hold on any positive series); the EWMA of the
margin rates and the closes read the market prices ``P_a,t`` (docs/model.md 11.7).

Cost per path: ``O(T G)`` cheap sleep tests for ``G`` groups, plus one
evaluation per wake-up and ``O(log N)`` per release, instead of ``O(N T)``.
"""

from __future__ import annotations

import numba
import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.account_gap import unit_gap
from stresstest.kernels.account_stages import stage_series
from stresstest.kernels.asset_rates import rate_state, step_rates
from stresstest.kernels.brackets import position_requirement
from stresstest.kernels.fund import (
    N_FLOWS,
    N_TOTALS,
    record_close,
    record_grid,
    walk_fund,
    write_totals,
)
from stresstest.kernels.jit import kernel, parallel_kernel
from stresstest.kernels.margin import liquidation_terms, sqrt_horizon_of
from stresstest.kernels.procyclicality_accounts import (
    close_counted,
    finish_accounts_measure,
    new_accounts_measure,
    track_book_rate,
)
from stresstest.kernels.search import first_greater

#: Slack added to the filter's bound, in units of |y| (scaled prices): the bound and
#: the thresholds are rounded at ~1e-16 relative, so 1e-9 never lets a breach through;
#: it only makes a unit a candidate marginally earlier (the direct check decides).
FILTER_SLACK = 1e-9
#: A sleeper ``d`` away wakes once the path's arc length has grown by ``d (1 - 1e-6)``:
#: the bound is (1 + FILTER_SLACK)-Lipschitz in y, and the arc length and gaps are rounded
#: far below 1e-6 relative, so this never wakes anything late.
WAKE_SHRINK = 1.0 - 1e-6


@kernel
def close_unit(
    unit: int,
    close_step: int,
    prices: np.ndarray,
    slippage: float,
    fee: float,
    fee_rates: np.ndarray,
    liquidator_share: float,
    unit_start: np.ndarray,
    pos_asset: np.ndarray,
    pos_side: np.ndarray,
    pos_qty: np.ndarray,
    pos_entry: np.ndarray,
    unit_collateral: np.ndarray,
    totals: np.ndarray,
    flows: np.ndarray,
) -> tuple[float, float]:
    """Close every position of a unit at ``x_k = P_a,close (1 - s_k slippage)`` and book it.

    ``prices`` are the market prices (never the marks). Remaining equity
    ``e' = c + sum s q (x - e)``; penalty due ``fee sum q x``, or with the
    volatility-scaled penalty (``fee_rates`` ``(A, T + 1)``, not ``(0, 0)``)
    ``sum fee_a_k,close q_k x_k``, each leg at its own asset's rate (docs/model.md
    11.7); paid and bad debt as for one position (docs/model.md 4), booked into
    ``totals`` and ``flows``. Returns the legs closed and their notional ``sum q x``
    (quote units), for the unit's closes of ``[procyclicality]``.
    """
    remaining = unit_collateral[unit]
    notional = 0.0
    leg_due = 0.0
    per_leg = fee_rates.shape[0] > 0
    first = unit_start[unit]
    stop = unit_start[unit + 1]
    for position in range(first, stop):
        side = pos_side[position]
        asset = pos_asset[position]
        exit_price = prices[asset, close_step] * (1.0 - side * slippage)
        remaining += side * pos_qty[position] * (exit_price - pos_entry[position])
        notional += pos_qty[position] * exit_price
        if per_leg:
            leg_due += fee_rates[asset, close_step] * pos_qty[position] * exit_price
    due = leg_due if per_leg else fee * notional
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
        float(stop - first),
        notional,
        paid,
        max(0.0, -remaining),
        liquidator_share,
    )
    return float(stop - first), notional


@kernel
def book_quantities(pos_asset: np.ndarray, pos_qty: np.ndarray, n_assets: int) -> np.ndarray:
    """The book's quantity per asset, ``sum_k q_k`` over its positions in position order (base)."""
    quantities = np.zeros(n_assets)
    for position in range(pos_asset.shape[0]):
        quantities[pos_asset[position]] += pos_qty[position]
    return quantities


@kernel
def add_legs(
    unit: int,
    sign: float,
    unit_start: np.ndarray,
    pos_asset: np.ndarray,
    qty: np.ndarray,
    open_qty: np.ndarray,
) -> None:
    """Add (``sign`` 1) or take (-1) a unit's leg quantities ``qty`` to ``open_qty`` (base)."""
    for position in range(unit_start[unit], unit_start[unit + 1]):
        open_qty[pos_asset[position]] += sign * qty[position]


@kernel
def open_sums(
    step: int,
    marks: np.ndarray,
    rates_now: np.ndarray,
    brackets: np.ndarray,
    unit_start: np.ndarray,
    pos_asset: np.ndarray,
    qty: np.ndarray,
    not_open: np.ndarray,
    open_qty: np.ndarray,
) -> tuple[float, float]:
    """Requirement and notional of the open book at a step, for ``requirement_mean`` (11.3).

    The notional is ``sum_a O_a,t Q_a`` and, without brackets, the requirement
    ``sum_a m_a,t O_a,t Q_a``, over assets from ``open_qty`` (``Q_a``, the open
    quantity of asset ``a``, base units): ``O(A)``. With brackets the requirement is
    ``sum_k R_k,t`` (11.4) over the legs ``qty`` of the units with ``not_open[u]``
    zero (``False``), leg by leg in unit order: ``O(N)``. The plain accounts kernel
    and the defence kernel both call this, so the two sums are formed alike (quote
    units).
    """
    open_notional = 0.0
    requirement = 0.0
    for asset in range(open_qty.shape[0]):
        open_notional += marks[asset, step] * open_qty[asset]
        requirement += rates_now[asset] * marks[asset, step] * open_qty[asset]
    if brackets[0].shape[0] > 1:
        requirement = 0.0
        for unit in range(not_open.shape[0]):
            if not not_open[unit]:
                for position in range(unit_start[unit], unit_start[unit + 1]):
                    requirement += position_requirement(
                        qty[position] * marks[pos_asset[position], step],
                        rates_now[pos_asset[position]],
                        brackets[0],
                        brackets[1],
                        brackets[2],
                    )
    return requirement, open_notional


@kernel
def _group_bound(
    group: int, group_pair: np.ndarray, group_angle: np.ndarray, pair_y: np.ndarray
) -> float:
    """``max_{theta in group} u_theta . y`` plus the slack, for the group's pair (scaled prices)."""
    pair = group_pair[group]
    y_a = pair_y[pair, 0]
    y_b = pair_y[pair, 1]
    radius = pair_y[pair, 2]
    if group_angle[group, 0] <= pair_y[pair, 3] <= group_angle[group, 1]:
        bound = radius
    else:
        bound = max(
            group_angle[group, 2] * y_a + group_angle[group, 3] * y_b,
            group_angle[group, 4] * y_a + group_angle[group, 5] * y_b,
        )
    return float(bound + FILTER_SLACK * radius)


@kernel
def _asleep(sleep: np.ndarray, row: int, pair_y: np.ndarray, pair: int, arc: float) -> bool:
    """Whether sleeper ``row`` = ``(wake arc, y_a, y_b, d)`` is still out of reach.

    Out of reach while the arc length is below its wake arc or the displacement
    of the pair's scaled prices from where it fell asleep is below ``d`` (both
    bound how far y has moved).
    """
    if arc < sleep[row, 0]:
        return True
    move_a = pair_y[pair, 0] - sleep[row, 1]
    move_b = pair_y[pair, 1] - sleep[row, 2]
    return bool(move_a * move_a + move_b * move_b < sleep[row, 3] * sleep[row, 3])


@kernel
def _sleep(
    sleep: np.ndarray, row: int, pair_y: np.ndarray, pair: int, arc: float, distance: float
) -> None:
    """Put sleeper ``row`` to sleep at y for ``distance`` (scaled prices), shrunk for rounding."""
    reach = distance * WAKE_SHRINK
    sleep[row, 0] = arc + reach
    sleep[row, 1] = pair_y[pair, 0]
    sleep[row, 2] = pair_y[pair, 1]
    sleep[row, 3] = reach


@kernel
def cross_replay_path(
    prices: np.ndarray,
    marks: np.ndarray,
    fee_rates: np.ndarray,
    margin: np.ndarray,
    brackets: np.ndarray,
    liquidation: np.ndarray,
    units: tuple[np.ndarray, ...],
    index: tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray
    ],
    reference: np.ndarray,
    always: np.ndarray,
    initial_qty: np.ndarray,
    fund_initial: float,
    flows: np.ndarray,
    out_row: np.ndarray,
) -> None:
    """Replay every margin unit over one multi-asset path ``prices`` (assets x (T + 1)).

    ``prices`` are the market prices ``P_a,t`` (EWMA of the margin rates,
    closes); ``marks`` the marks ``O_a,t`` the breach, the requirement and the
    filter read (``prices`` itself without an oracle); ``fee_rates`` the
    per-asset penalty rates of :func:`stresstest.kernels.account_stages.fee_series`,
    or ``(0, 0)`` for the flat ``fee`` (docs/model.md 11.7). ``margin`` is the
    accounts margin vector (``enums.MARGIN_ARG_*``, with the APC options of 3.1 and
    each asset's variance floor when on; each asset posts its rate by
    :func:`stresstest.kernels.asset_rates.step_rates`);
    ``brackets`` = rows (floors, rates, amounts)
    (one column without tiers; ``rates[0]`` is ``maintenance``, or ``floor`` for
    vol-scaled margin, whose add-on ``(m_a,t - floor) q P`` comes on top);
    ``liquidation`` = (latency_steps, slippage, fee, liquidator_share);
    ``units`` = (unit_start, pos_asset, pos_side, pos_qty, pos_entry,
    unit_collateral) with the filtered units first;
    ``index`` = (group_start, h, group_pair, group_angle, unit_direction,
    pair_a, pair_b) from :func:`stresstest.book.cross_index.build_cross_index`;
    ``reference`` the scaling prices ``R_a``; ``always`` the units checked at
    every step; ``initial_qty`` the book's quantity per asset (base units).
    ``flows`` is a zeroed ``(N_FLOWS, T + 1)`` scratch.
    """
    unit_start, pos_asset, pos_side, pos_qty, pos_entry, unit_collateral = units
    group_start, unit_h, group_pair, group_angle, unit_direction, pair_a, pair_b = index
    sqrt_horizon = sqrt_horizon_of(margin)
    floors = brackets[0]
    rates = brackets[1]
    amounts = brackets[2]
    tiered = floors.shape[0] > 1
    latency, slippage, fee, share = liquidation_terms(liquidation)
    n_assets, n_points = prices.shape
    last_step = n_points - 1
    n_units = unit_collateral.shape[0]
    n_pairs = pair_a.shape[0]
    n_groups = group_start.shape[0] - 1
    n_filtered = unit_h.shape[0]

    rates_state, apc = rate_state(margin, n_assets)
    rates_now = np.empty(n_assets)
    open_qty = initial_qty.copy()
    closed = np.zeros(n_units if tiered else 1, dtype=np.bool_)
    frontier = group_start[:-1].copy()
    active = np.arange(n_groups)
    n_active = n_groups
    # a sleeper (group or candidate unit) at scaled prices y_s, distance d from waking,
    # is skipped while the arc length since then or the displacement |y - y_s| is below d
    group_sleep = np.zeros((n_groups, 4))  # per slot of active: wake arc, y_a, y_b, d
    active_pair = group_pair.copy()  # per slot of active: the group's asset pair
    pending = np.empty(n_filtered, dtype=np.int64)
    pending_sleep = np.empty((n_filtered, 4))
    pending_pair = np.empty(n_filtered, dtype=np.int64)
    n_pending = 0
    always_open = always.copy()
    n_always = always_open.shape[0]
    pair_y = np.empty((n_pairs, 4))  # y_a, y_b, |y|, angle of y
    scaled = np.empty(n_assets)
    arc = 0.0
    totals = np.zeros(N_TOTALS)
    requirement_sum = 0.0
    open_notional_sum = 0.0
    measure = new_accounts_measure(margin, units, n_assets, True)  # [procyclicality] (3.2)

    for step in range(n_points):
        step_rates(prices, step, rates_state, apc, sqrt_horizon, rates_now)
        track_book_rate(measure, step, rates_now)
        # requirement and notional of the units open at the step (before its closes)
        requirement, open_notional = open_sums(
            step, marks, rates_now, brackets, unit_start, pos_asset, pos_qty, closed, open_qty
        )
        requirement_sum += requirement
        open_notional_sum += open_notional
        # arc length of the marks in scaled prices: nothing d away wakes before it grows by d
        moved = 0.0
        for asset in range(n_assets):
            value = marks[asset, step] / reference[asset]
            if step > 0:
                moved += (value - scaled[asset]) * (value - scaled[asset])
            scaled[asset] = value
        arc += np.sqrt(moved)
        for pair in range(n_pairs):
            y_a = scaled[pair_a[pair]]
            y_b = scaled[pair_b[pair]]
            pair_y[pair, 0] = y_a
            pair_y[pair, 1] = y_b
            pair_y[pair, 2] = np.hypot(y_a, y_b)
            pair_y[pair, 3] = np.arctan2(y_b, y_a)
        # groups: release the units their bound has reached as candidates
        slot = 0
        while slot < n_active:
            if _asleep(group_sleep, slot, pair_y, active_pair[slot], arc):
                slot += 1
                continue
            group = active[slot]
            bound = _group_bound(group, group_pair, group_angle, pair_y)
            front = frontier[group]
            stop = group_start[group + 1]
            if unit_h[front] <= bound:
                new_front = first_greater(unit_h, bound, front, stop)
                for unit in range(front, new_front):
                    pending[n_pending] = unit
                    pending_pair[n_pending] = int(unit_direction[unit, 2])
                    pending_sleep[n_pending, 0] = -np.inf
                    pending_sleep[n_pending, 3] = 0.0
                    n_pending += 1
                frontier[group] = new_front
                front = new_front
                if front == stop:  # every unit of the group is a candidate: drop the group
                    n_active -= 1
                    active[slot] = active[n_active]
                    active_pair[slot] = active_pair[n_active]
                    for column in range(4):
                        group_sleep[slot, column] = group_sleep[n_active, column]
                    continue
            _sleep(group_sleep, slot, pair_y, active_pair[slot], arc, unit_h[front] - bound)
            slot += 1
        # candidates: sleep while their own half-plane is out of reach, else the direct check
        close_step = min(step + latency, last_step)
        slot = 0
        while slot < n_pending + n_always:
            if slot < n_pending:
                pair = pending_pair[slot]
                if _asleep(pending_sleep, slot, pair_y, pair, arc):
                    slot += 1
                    continue
                unit = pending[slot]
                gap = unit_h[unit] - (
                    unit_direction[unit, 0] * pair_y[pair, 0]
                    + unit_direction[unit, 1] * pair_y[pair, 1]
                )
                if gap > FILTER_SLACK * pair_y[pair, 2]:
                    _sleep(pending_sleep, slot, pair_y, pair, arc, gap)
                    slot += 1
                    continue
            else:
                unit = always_open[slot - n_pending]
            equity, unit_requirement = unit_gap(
                unit,
                step,
                marks,
                rates_now,
                floors,
                rates,
                amounts,
                unit_start,
                pos_asset,
                pos_side,
                pos_qty,
                pos_entry,
                unit_collateral,
            )
            if not equity < unit_requirement:
                slot += 1
                continue
            count, notional = close_unit(
                unit,
                close_step,
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
            close_counted(measure, unit, count, notional)
            add_legs(unit, -1.0, unit_start, pos_asset, pos_qty, open_qty)
            if tiered:
                closed[unit] = True
            if slot < n_pending:
                n_pending -= 1
                pending[slot] = pending[n_pending]
                pending_pair[slot] = pending_pair[n_pending]
                for column in range(4):
                    pending_sleep[slot, column] = pending_sleep[n_pending, column]
            else:
                n_always -= 1
                always_open[slot - n_pending] = always_open[n_always]
    write_totals(totals, out_row)
    out_row[enums.REQUIREMENT_MEAN] = requirement_sum / n_points
    out_row[enums.MARGIN_RATE_MEAN] = (
        requirement_sum / open_notional_sum if open_notional_sum > 0.0 else 0.0
    )
    walk_fund(flows, fund_initial, out_row)
    finish_accounts_measure(measure, marks, brackets, units, False, out_row)


@parallel_kernel
def cross_replay_paths(
    prices: np.ndarray,
    params: np.ndarray,
    margin: np.ndarray,
    brackets: np.ndarray,
    liquidation: np.ndarray,
    units: tuple[np.ndarray, ...],
    index: tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray
    ],
    reference: np.ndarray,
    always: np.ndarray,
    fund_initial: float,
    grid: np.ndarray,
    out: np.ndarray,
    grid_out: np.ndarray,
) -> None:
    """Replay every path of ``prices`` (paths x assets x (T + 1)); row i of ``out`` is path i.

    ``params`` is the ``N_MECH`` stage vector of the account stages on (oracle,
    volatility-scaled penalty; engine.mechanics.mechanics_vector), or empty when
    none is: then nothing more is computed than before the stages existed. The
    grid records (``record_grid``) hold the price of the first asset. Each
    thread owns whole paths, so results do not depend on threads or chunks.
    """
    initial_qty = book_quantities(units[1], units[3], prices.shape[1])
    for row in numba.prange(prices.shape[0]):
        flows = np.zeros((N_FLOWS, prices.shape[2]))
        market = prices[row]
        marks, fee_rates = stage_series(params, market, liquidation[enums.LIQUIDATION_ARG_FEE])
        cross_replay_path(
            market,
            marks,
            fee_rates,
            margin,
            brackets,
            liquidation,
            units,
            index,
            reference,
            always,
            initial_qty,
            fund_initial,
            flows,
            out[row],
        )
        if grid.shape[0] > 0:
            record_grid(prices[row, 0], flows, grid, grid_out[row])
