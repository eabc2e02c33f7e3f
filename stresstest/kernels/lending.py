"""Lending markets: a book of loans replayed over multi-asset paths (docs/model.md 13).

Per path and step, in this order: the oracle marks (Chainlink deviation and
heartbeat, :func:`stresstest.kernels.lending_market.oracle_marks`, of the market
price or of the feed of ``[oracle]``, computed for the whole path first); the pools'
refill; every open loan's health factor at the marks; the liquidatable loans
(``HF < 1``) in ascending health factor (ties: loan order), each liquidated
once if the liquidator profits, selling the seized collateral through the
asset's constant-product pool
(:func:`stresstest.kernels.lending_market.pool_proceeds`) that the step's
liquidations share; then the reserve (:func:`stresstest.kernels.fund.walk_fund`).
Pure numba over arrays; every path is computed by one thread.
"""

from __future__ import annotations

import numba
import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.account_stages import mark_series
from stresstest.kernels.fund import (
    FLOW_BAD_DEBT,
    FLOW_COUNT,
    FLOW_NOTIONAL,
    FLOW_TO_FUND,
    N_FLOWS,
    record_grid,
    walk_fund,
)
from stresstest.kernels.jit import inline_kernel, kernel, parallel_kernel
from stresstest.kernels.lending_awake import (
    AwakeWork,
    awake_work,
    hold_slot,
    liquidate_single,
    scan_single,
)
from stresstest.kernels.lending_heaps import wake_next
from stresstest.kernels.lending_market import (
    congestion_gas,
    curve_proceeds,
    oracle_marks,
    pool_proceeds,
)
from stresstest.kernels.lending_multi import (
    MULTI_SLEEP_HF,
    WAKE_MARGIN,
    MultiIndex,
    MultiWork,
    add_sleepers,
    go_to_sleep,
    leave_sleep,
    multi_work,
    start_path,
    wake_multi,
)
from stresstest.kernels.lending_refusal import sale_gains, step_refused, surely_refused
from stresstest.kernels.sort import RADIX_FROM, rank_by_key

#: A thread's buffers (:func:`lending_work`): per-loan state of the loans of several
#: rows (collateral per row, debt, open, step refused, the stamp of the path that touched
#: it), the heaps of the single-collateral loans returned to sleep (keys, loans, debt,
#: collateral), the step's candidates and health factors, the awake loans, and the seize
#: order, seized, whole and sold amounts of one liquidation's legs.
LendingWork = tuple[
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
]


@kernel
def sleep_sums(
    single: np.ndarray,
    groups: np.ndarray,
    start: np.ndarray,
    collateral0: np.ndarray,
    debt0: np.ndarray,
    sleep_debt: np.ndarray,
    sleep_collateral: np.ndarray,
) -> None:
    """Each group's initial sums of sleeping debt and collateral, once per plan (13.7).

    ``sleep_debt[g]`` (units of the group's debt asset) and ``sleep_collateral[g]``
    (base units) add the loans of ``single[groups[g, 0] : groups[g, 1]]`` in that
    order, the order every path's sums start from.
    """
    for group in range(groups.shape[0]):
        sleep_debt[group] = 0.0
        sleep_collateral[group] = 0.0
        for position in range(groups[group, 0], groups[group, 1]):
            sleep_debt[group] += debt0[single[position]]
            sleep_collateral[group] += collateral0[start[single[position]]]


@kernel
def lending_work(
    n_loans: int, n_legs: int, n_single: int, max_legs: int, multi: bool
) -> LendingWork:
    """Buffers for the paths one thread replays, allocated once (13.7).

    Nothing in them is read before it is written on the same path: a loan's state
    only where its stamp is the path's (:func:`touch`), the rest up to counts set on
    the path (the returned heaps' sizes start at 0 on every path). The per-loan state
    is only for loans of several rows: empty when ``multi`` is False (none in the book),
    so a book of single-collateral loans writes nothing of its size here.
    """
    n_state = n_loans if multi else 0
    return (
        np.empty(n_legs if multi else 0),
        np.empty(n_state),
        np.empty(n_state, dtype=np.bool_),
        np.empty(n_state, dtype=np.int64),
        np.full(n_state, -1, dtype=np.int64),
        np.empty(n_single),
        np.empty(n_single, dtype=np.int64),
        np.empty(n_single),
        np.empty(n_single),
        np.empty(n_loans, dtype=np.int64),
        np.empty(n_loans),
        np.empty(n_loans, dtype=np.int64),
        np.empty(max_legs, dtype=np.int64),
        np.empty(max_legs),
        np.empty(max_legs, dtype=np.bool_),
        np.empty(max_legs),
    )


@inline_kernel
def touch(
    start: np.ndarray,
    collateral0: np.ndarray,
    debt0: np.ndarray,
    collateral: np.ndarray,
    debt: np.ndarray,
    is_open: np.ndarray,
    refused_at: np.ndarray,
    touched: np.ndarray,
    stamp: int,
    loan: int,
) -> None:
    """Give ``loan`` its initial state on this path (stamp ``stamp``) if not yet done.

    Its collateral rows and debt from the book, open, never refused: what a private
    copy of the book per path holds for a loan not changed yet.
    """
    if touched[loan] == stamp:
        return
    touched[loan] = stamp
    debt[loan] = debt0[loan]
    is_open[loan] = True
    refused_at[loan] = -1
    for leg in range(start[loan], start[loan + 1]):
        collateral[leg] = collateral0[leg]


@inline_kernel
def loan_health(
    loan: int,
    step: int,
    marks: np.ndarray,
    threshold: np.ndarray,
    start: np.ndarray,
    leg_asset: np.ndarray,
    debt_asset: np.ndarray,
    collateral: np.ndarray,
    debt: np.ndarray,
) -> tuple[float, float, float]:
    """A loan's debt and collateral at ``step``'s marks (quote units) and its health
    factor, in the direct form of 13.3 (legs added in book order)."""
    debt_value = debt[loan] * marks[debt_asset[loan], step]
    weighted = 0.0
    value = 0.0
    for leg in range(start[loan], start[loan + 1]):
        leg_value = collateral[leg] * marks[leg_asset[leg], step]
        weighted += leg_value * threshold[leg_asset[leg]]
        value += leg_value
    return debt_value, value, weighted / debt_value


@kernel
def lending_replay_path(
    prices: np.ndarray,
    market: np.ndarray,
    threshold: np.ndarray,
    bonus: np.ndarray,
    bonus_max: np.ndarray,
    fee: np.ndarray,
    depth: np.ndarray,
    start: np.ndarray,
    leg_asset: np.ndarray,
    collateral0: np.ndarray,
    debt_asset: np.ndarray,
    debt0: np.ndarray,
    single: np.ndarray,
    single_theta: np.ndarray,
    single_debt: np.ndarray,
    single_collateral: np.ndarray,
    groups: np.ndarray,
    multi: MultiIndex,
    sleep_debt0: np.ndarray,
    sleep_collateral0: np.ndarray,
    held: np.ndarray,
    borrowed: np.ndarray,
    fund_initial: float,
    grid: np.ndarray,
    oracle: np.ndarray,
    gas_steps: np.ndarray,
    curve_start: np.ndarray,
    curve_knots: np.ndarray,
    work: LendingWork,
    work_multi: MultiWork,
    work_awake: AwakeWork,
    stamp: int,
    out_row: np.ndarray,
    grid_row: np.ndarray,
) -> None:
    """Replay every loan over one path's ``prices`` ``(A, T + 1)`` (docs/model.md 13).

    Asset ``A`` (past the path assets) is the quote asset, price 1. Writes the
    ``N_METRICS_LENDING`` columns of ``out_row`` and the grid records.

    Single-collateral loans sleep until their thresholds wake them (13.7): ``single``
    lists them by group (collateral asset, debt asset; rows of ``groups``: first
    position, end, asset, debt asset) and, within a group, by descending
    ``single_theta`` (the ratio ``O_a / O_b`` below which ``HF < 1``; ties in loan
    order), with ``single_debt`` and ``single_collateral`` their initial debt and
    collateral in that order; a group wakes them from a cursor, and the loans returned
    to sleep on the path from a heap (:mod:`stresstest.kernels.lending_heaps`). While
    awake, a single-collateral loan lives in its slot
    (:mod:`stresstest.kernels.lending_awake`), and so does its liquidation. The loans
    of several rows sleep in the wake queues of ``multi`` (kernels/lending_multi.py) until a
    ratio of marks wakes them.
    ``bonus`` is each asset's liquidation bonus; with ``LEND_BONUS_SLOPE`` > 0 a
    liquidation at health factor ``HF`` pays ``min(bonus_max, bonus + slope (1 - HF))``
    (the bonus ramp, 13.3).
    ``oracle`` is the ``N_MECH`` vector of ``[oracle]`` (empty: none); the feed
    each asset's Chainlink rule reads is then the lag, ema or twap of its market
    price times a manipulation (13.2), instead of the market price.
    ``gas_steps`` is the gas per liquidation at each step (quote units, the gas path
    of 13.4); empty: the constant ``LEND_GAS`` of ``market``. With
    ``LEND_GAS_CRASH_SLOPE`` > 0 it is scaled on this path by the fall of asset
    ``LEND_GAS_CRASH_ASSET``'s price (:func:`congestion_gas`). ``curve_start`` and
    ``curve_knots`` are the piecewise depth curves of the path assets' pools
    (:func:`curve_proceeds`); ``curve_start`` empty: the constant-product pools of
    ``depth``. ``held`` (per path asset) and ``borrowed`` (per asset, the quote last)
    flag the assets some loan holds as collateral and borrows
    (:class:`stresstest.engine.lending.WakeIndex`), for the step's cut of the
    candidates (13.7).

    Nothing of size ``O(loans)`` is written per path (13.7): ``sleep_debt0`` and
    ``sleep_collateral0`` are the groups' initial sleep sums (:func:`sleep_sums`);
    ``work`` holds the thread's buffers (:func:`lending_work`), whose per-loan state
    (loans of several rows) counts only where stamped ``stamp`` (unique per path among
    the paths that share ``work``); elsewhere the initial book is read.
    ``work_multi`` (:func:`stresstest.kernels.lending_multi.multi_work`) is set from
    ``multi`` at the start of the path; ``work_awake``
    (:func:`stresstest.kernels.lending_awake.awake_work`) holds the awake
    single-collateral loans' slots.
    """
    n_assets = prices.shape[0]
    n_points = prices.shape[1]
    last_step = n_points - 1
    close_factor = market[enums.LEND_CLOSE_FACTOR]
    full_below = market[enums.LEND_FULL_BELOW_HF]
    small_loan = market[enums.LEND_SMALL_LOAN]
    gas = market[enums.LEND_GAS]
    decay = market[enums.LEND_POOL_DECAY]
    by_value = int(market[enums.LEND_SEIZE_ORDER]) == enums.SEIZE_HIGHEST_VALUE
    ramp = market[enums.LEND_BONUS_SLOPE]
    curves = curve_start.shape[0] > 0
    marks = np.empty((n_assets + 1, n_points))
    deviation = market[enums.LEND_ORACLE_DEVIATION]
    heartbeat = int(market[enums.LEND_ORACLE_HEARTBEAT])
    if oracle.shape[0] > 0:  # [oracle]: the Chainlink rule reads its feed (13.2)
        feed = np.empty((n_assets, n_points))
        mark_series(oracle, prices, feed)
        oracle_marks(feed, deviation, heartbeat, marks)
    else:
        oracle_marks(prices, deviation, heartbeat, marks)
    marks[n_assets, :] = 1.0
    market_prices = np.empty((n_assets + 1, n_points))
    market_prices[:n_assets, :] = prices
    market_prices[n_assets, :] = 1.0
    gas_series = gas_steps
    crash_slope = market[enums.LEND_GAS_CRASH_SLOPE]
    if crash_slope > 0.0:  # congestion gas: this path's own gas path (13.4)
        gas_series = np.empty(n_points)
        congestion_gas(
            prices[int(market[enums.LEND_GAS_CRASH_ASSET])],
            gas_steps,
            gas,
            crash_slope,
            int(market[enums.LEND_GAS_CRASH_WINDOW]),
            gas_series,
        )
    (
        collateral,
        debt,
        is_open,
        refused_at,
        touched,
        returned_theta,
        returned_loan,
        returned_debt,
        returned_collateral,
        candidates,
        candidate_hf,
        active,
        order,
        seized,
        whole,
        sold,
    ) = work
    used = np.zeros(n_assets + 1)
    bounded = not curves  # refused liquidations known without pricing them (13.7)
    gain = np.zeros(n_assets + 1)
    bound_depth = depth.copy() if bounded else np.empty(0)  # empty: no bound
    # debt and collateral outstanding, summed over steps, then the step's largest
    # candidate debt at the oracle and at the market (quote)
    totals = np.zeros(4)
    candidate_slot = work_awake[4]
    bonus_top = bonus_max if ramp > 0.0 else bonus
    n_active = 0
    sleeping_multi = multi[5].shape[0] > 0  # any loan of several rows
    awake_multi = work_multi[4]
    n_awake = start_path(multi, work_multi)
    for position in range(n_awake):
        touch(
            start,
            collateral0,
            debt0,
            collateral,
            debt,
            is_open,
            refused_at,
            touched,
            stamp,
            awake_multi[position],
        )
    n_groups = groups.shape[0]
    fresh = groups[:, 0].copy()  # each group's first loan not yet woken on the path
    returned = np.zeros(n_groups, dtype=np.int64)  # its loans returned to sleep
    fresh_sleepers = (single_theta, single, single_debt, single_collateral)
    heap = (returned_theta, returned_loan, returned_debt, returned_collateral)
    refused_slot = work_awake[7]
    sleep_debt = sleep_debt0.copy()  # debt of the group's sleepers, units of the debt asset
    sleep_collateral = sleep_collateral0.copy()  # their collateral, base units
    flows = np.zeros((N_FLOWS, n_points))
    debt_total = 0.0
    collateral_total = 0.0
    seized_total = 0.0
    profit_total = 0.0
    to_liquidators = 0.0
    for step in range(n_points):
        if step > 0:
            for asset in range(n_assets + 1):
                used[asset] *= decay
        gas_now = gas_series[step] if gas_series.shape[0] > 0 else gas
        if sleeping_multi:  # loans of several rows: wake, then the sleepers' sums (13.7)
            first_woken = n_awake
            n_awake = wake_multi(marks, step, multi, work_multi, n_awake, stamp)
            for position in range(first_woken, n_awake):
                loan = awake_multi[position]
                touch(
                    start,
                    collateral0,
                    debt0,
                    collateral,
                    debt,
                    is_open,
                    refused_at,
                    touched,
                    stamp,
                    loan,
                )
                leave_sleep(loan, start, leg_asset, debt_asset, collateral, debt, work_multi)
            sleeping_debt, sleeping_collateral = add_sleepers(marks, step, work_multi)
            debt_total += sleeping_debt
            collateral_total += sleeping_collateral
        for group in range(n_groups):
            asset, debt_of, base = groups[group, 2], groups[group, 3], groups[group, 0]
            limit = marks[asset, step] / marks[debt_of, step] * (1.0 - WAKE_MARGIN)
            while (  # the two heads, tested here: no call on a step that wakes none
                fresh[group] < groups[group, 1] and single_theta[fresh[group]] > limit
            ) or (returned[group] > 0 and returned_theta[base] > limit):
                loan, loan_debt, loan_collateral = wake_next(
                    fresh_sleepers, fresh, heap, returned, group, base, groups[group, 1], limit
                )
                active[n_active] = loan
                hold_slot(work_awake, n_active, loan_debt, loan_collateral, threshold[asset], group)
                refused_slot[n_active] = -1
                n_active += 1
                sleep_debt[group] -= loan_debt
                sleep_collateral[group] -= loan_collateral
            debt_total += sleep_debt[group] * marks[debt_of, step]
            collateral_total += sleep_collateral[group] * marks[asset, step]
        if bounded and n_active + n_awake > 0:  # only candidates read the gains
            sale_gains(bonus_top, fee, market_prices, marks, step, gain[:n_assets])
        n_candidates = 0
        largest_cover = 0.0  # the candidates' largest d O_b and d P_b (quote), for the cut
        largest_cost = 0.0
        kept = 0
        for position in range(n_awake):  # awake loans of several rows
            loan = awake_multi[position]
            if not is_open[loan]:
                continue
            debt_value, value, health = loan_health(
                loan, step, marks, threshold, start, leg_asset, debt_asset, collateral, debt
            )
            debt_total += debt_value
            collateral_total += value
            if health >= MULTI_SLEEP_HF:
                go_to_sleep(
                    loan,
                    health,
                    marks,
                    step,
                    threshold,
                    start,
                    leg_asset,
                    debt_asset,
                    collateral,
                    debt,
                    multi,
                    work_multi,
                )
                continue
            awake_multi[kept] = loan
            kept += 1
            if health < 1.0:
                if bounded and surely_refused(
                    loan,
                    start,
                    leg_asset,
                    depth,
                    used,
                    gain,
                    debt[loan],
                    marks[debt_asset[loan], step],
                    market_prices[debt_asset[loan], step],
                    gas_now,
                ):
                    refused_at[loan] = step  # refused, as its priced liquidation would be
                    continue
                candidates[n_candidates] = loan
                candidate_hf[n_candidates] = health
                candidate_slot[n_candidates] = -1
                n_candidates += 1
                largest_cover = max(largest_cover, debt_value)
                largest_cost = max(largest_cost, debt[loan] * market_prices[debt_asset[loan], step])
        n_awake = kept
        if n_active > 0:  # the awake single-collateral loans, from their slots
            totals[0] = debt_total
            totals[1] = collateral_total
            totals[2] = largest_cover
            totals[3] = largest_cost
            n_active, n_candidates = scan_single(
                step,
                n_active,
                active,
                work_awake,
                groups,
                marks,
                threshold,
                (heap, returned),
                sleep_debt,
                sleep_collateral,
                candidates,
                candidate_hf,
                n_candidates,
                (bound_depth, used, gain, market_prices, bonus, bonus_top),
                min(close_factor, 1.0),
                gas_now,
                totals,
            )
            debt_total = totals[0]
            collateral_total = totals[1]
            largest_cover = totals[2]
            largest_cost = totals[3]
        if n_candidates == 0:
            continue
        ranked = rank_by_key(candidate_hf[:n_candidates], candidates, RADIX_FROM)
        cut_due = bounded  # the pools changed since the cut was last tested (13.7)
        refused = False  # the candidate before was refused
        for rank in range(n_candidates):
            if refused and cut_due:  # tested after a refusal, once per change of the pools
                cut_due = False
                if step_refused(
                    depth,
                    used,
                    gain,
                    held,
                    borrowed,
                    market_prices,
                    marks,
                    step,
                    largest_cover,
                    largest_cost,
                    gas_now,
                ):  # every candidate left is refused, as its priced liquidation would be
                    if step == last_step:  # only a refusal at T is read (unprofitable)
                        for later in range(rank, n_candidates):
                            if candidate_slot[ranked[later]] >= 0:
                                refused_slot[candidate_slot[ranked[later]]] = step
                            else:
                                refused_at[candidates[ranked[later]]] = step
                    break
            refused = True  # until it is executed
            loan = candidates[ranked[rank]]
            health = candidate_hf[ranked[rank]]
            slot = candidate_slot[ranked[rank]]
            if slot >= 0:  # a single-collateral loan, from its slot
                group = work_awake[3][slot]
                executed, fee_value, bad, repaid_value, seized_value, profit = liquidate_single(
                    work_awake,
                    slot,
                    health,
                    step,
                    (group, groups[group, 2], groups[group, 3]),
                    marks,
                    market_prices,
                    (threshold, bonus, bonus_max, fee, depth),
                    used,
                    (curve_start, curve_knots),
                    (close_factor, full_below, small_loan, ramp, gas_now),
                )
                if not executed:
                    continue
            else:  # a loan of several rows, from the loan arrays
                debt_mark = marks[debt_asset[loan], step]
                debt_value = debt[loan] * debt_mark
                factor = close_factor
                if health < full_below or debt_value < small_loan:
                    factor = 1.0
                remaining = factor * debt_value
                first = start[loan]
                n_legs = start[loan + 1] - first
                for index in range(n_legs):  # the seize order, stable insertion sort
                    leg = first + index
                    order[index] = leg
                    if by_value:
                        value = collateral[leg] * marks[leg_asset[leg], step]
                        position = index
                        while position > 0:
                            other = order[position - 1]
                            if collateral[other] * marks[leg_asset[other], step] >= value:
                                break
                            order[position] = other
                            position -= 1
                        order[position] = leg
                proceeds = 0.0
                seized_value = 0.0
                fee_value = 0.0
                for index in range(n_legs):
                    leg = order[index]
                    asset = leg_asset[leg]
                    mark = marks[asset, step]
                    leg_value = collateral[leg] * mark
                    seized[index] = 0.0
                    whole[index] = False
                    sold[index] = 0.0
                    if leg_value <= 0.0 or remaining <= 0.0:
                        continue
                    leg_bonus = bonus[asset]
                    if ramp > 0.0:  # the bonus ramp of 13.3
                        leg_bonus = min(bonus_max[asset], leg_bonus + ramp * (1.0 - health))
                    if leg_value / (1.0 + leg_bonus) <= remaining:
                        cover = leg_value / (1.0 + leg_bonus)
                        amount = collateral[leg]
                        whole[index] = True
                    else:
                        cover = remaining
                        amount = cover * (1.0 + leg_bonus) / mark
                    remaining -= cover
                    fee_amount = fee[asset] * cover * leg_bonus / mark
                    seized[index] = amount
                    seized_value += amount * mark
                    fee_value += fee_amount * mark
                    sold[index] = (amount - fee_amount) * market_prices[asset, step]
                    if curves:
                        proceeds += curve_proceeds(
                            curve_knots,
                            curve_start[asset],
                            curve_start[asset + 1],
                            used[asset],
                            sold[index],
                        )
                    else:
                        proceeds += pool_proceeds(depth[asset], used[asset], sold[index])
                repaid_value = factor * debt_value - remaining
                if repaid_value < 0.0:
                    repaid_value = 0.0
                repaid = repaid_value / debt_mark
                profit = proceeds - repaid * market_prices[debt_asset[loan], step] - gas_now
                if not profit > 0.0:
                    refused_at[loan] = step
                    continue
                left = 0.0
                for index in range(n_legs):
                    leg = order[index]
                    if whole[index]:
                        collateral[leg] = 0.0
                    else:
                        collateral[leg] -= seized[index]
                    left += collateral[leg]
                    used[leg_asset[leg]] += sold[index]
                bad = 0.0
                if factor == 1.0 and remaining <= 0.0:
                    debt[loan] = 0.0
                else:
                    debt[loan] -= repaid
                if left <= 0.0 and debt[loan] > 0.0:
                    bad = debt[loan] * debt_mark  # collateral ran out: the rest is bad debt
                    debt[loan] = 0.0
                if debt[loan] <= 0.0:
                    is_open[loan] = False
            refused = False
            cut_due = bounded  # the pools have changed
            flows[FLOW_TO_FUND, step] += fee_value
            flows[FLOW_BAD_DEBT, step] += bad
            flows[FLOW_COUNT, step] += 1.0
            flows[FLOW_NOTIONAL, step] += repaid_value
            seized_total += seized_value
            profit_total += profit
            to_liquidators += seized_value - fee_value - repaid_value
    walk_fund(flows, fund_initial, out_row)
    record_grid(prices[0], flows, grid, grid_row)
    unprofitable_debt = 0.0
    unprofitable = 0.0
    underwater = 0.0
    awake_multi[:n_awake].sort()  # loans of several rows first, in loan order (13.7)
    for position in range(n_awake + n_active):  # a sleeping loan is healthy at T (13.7)
        value = 0.0
        if position < n_awake:
            loan = awake_multi[position]
            if not is_open[loan]:
                continue
            debt_value = debt[loan] * marks[debt_asset[loan], last_step]
            for leg in range(start[loan], start[loan + 1]):
                value += collateral[leg] * marks[leg_asset[leg], last_step]
            refused = refused_at[loan]
        else:  # a single-collateral loan, from its slot (open while its debt is > 0)
            slot = position - n_awake
            if not work_awake[0][slot] > 0.0:
                continue
            group = work_awake[3][slot]
            debt_value = work_awake[0][slot] * marks[groups[group, 3], last_step]
            value += work_awake[1][slot] * marks[groups[group, 2], last_step]
            refused = refused_slot[slot]
        if refused == last_step:
            unprofitable_debt += debt_value
            unprofitable += 1.0
        if debt_value > value:
            underwater += debt_value - value
    out_row[enums.N_LIQUIDATIONS] = flows[FLOW_COUNT].sum()
    out_row[enums.LIQUIDATED_NOTIONAL] = flows[FLOW_NOTIONAL].sum()
    out_row[enums.BAD_DEBT] = flows[FLOW_BAD_DEBT].sum()
    out_row[enums.FEES_TO_FUND] = flows[FLOW_TO_FUND].sum()
    out_row[enums.FEES_TO_LIQUIDATORS] = to_liquidators
    out_row[enums.REQUIREMENT_MEAN] = debt_total / n_points
    out_row[enums.MARGIN_RATE_MEAN] = (
        debt_total / collateral_total if collateral_total > 0.0 else 0.0
    )
    out_row[enums.COLLATERAL_SEIZED] = seized_total
    out_row[enums.LIQUIDATOR_PROFIT] = profit_total
    out_row[enums.UNPROFITABLE_DEBT] = unprofitable_debt
    out_row[enums.UNPROFITABLE_LOANS] = unprofitable
    out_row[enums.UNDERWATER_DEBT] = underwater


@parallel_kernel
def lending_replay_paths(
    prices: np.ndarray,
    market: np.ndarray,
    threshold: np.ndarray,
    bonus: np.ndarray,
    bonus_max: np.ndarray,
    fee: np.ndarray,
    depth: np.ndarray,
    start: np.ndarray,
    leg_asset: np.ndarray,
    collateral0: np.ndarray,
    debt_asset: np.ndarray,
    debt0: np.ndarray,
    single: np.ndarray,
    single_theta: np.ndarray,
    single_debt: np.ndarray,
    single_collateral: np.ndarray,
    groups: np.ndarray,
    multi: MultiIndex,
    sleep_debt0: np.ndarray,
    sleep_collateral0: np.ndarray,
    held: np.ndarray,
    borrowed: np.ndarray,
    fund_initial: float,
    grid: np.ndarray,
    oracle: np.ndarray,
    gas_steps: np.ndarray,
    curve_start: np.ndarray,
    curve_knots: np.ndarray,
    blocks: int,
    out: np.ndarray,
    grid_out: np.ndarray,
) -> None:
    """:func:`lending_replay_path` over ``prices`` ``(n, A, T + 1)``.

    ``prange`` over ``blocks`` blocks of consecutive paths (at most one per path);
    each block allocates its buffers once (:func:`lending_work`) and replays its
    paths one after the other, stamping each with its row. A path's result depends
    on nothing but the path: the same bytes whatever the threads or ``blocks``.
    """
    n_rows = prices.shape[0]
    n_loans = debt0.shape[0]
    max_legs = 1
    for loan in range(n_loans):
        max_legs = max(max_legs, start[loan + 1] - start[loan])
    n_blocks = min(n_rows, max(1, blocks))
    for block in numba.prange(n_blocks):
        first = block * n_rows // n_blocks
        end = (block + 1) * n_rows // n_blocks
        work = lending_work(
            n_loans, collateral0.shape[0], single.shape[0], max_legs, multi[1].shape[0] > 1
        )
        work_multi = multi_work(multi)
        work_awake = awake_work(n_loans, groups.shape[0])
        for row in range(first, end):
            lending_replay_path(
                prices[row],
                market,
                threshold,
                bonus,
                bonus_max,
                fee,
                depth,
                start,
                leg_asset,
                collateral0,
                debt_asset,
                debt0,
                single,
                single_theta,
                single_debt,
                single_collateral,
                groups,
                multi,
                sleep_debt0,
                sleep_collateral0,
                held,
                borrowed,
                fund_initial,
                grid,
                oracle,
                gas_steps,
                curve_start,
                curve_knots,
                work,
                work_multi,
                work_awake,
                row,
                out[row],
                grid_out[row],
            )
