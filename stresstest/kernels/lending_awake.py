"""The awake single-collateral loans of a lending path, kept in compact slots (13.7).

Each awake single-collateral loan holds a *slot*: its debt, collateral, threshold
``theta = d / (c LT)``, group and the step of its last refused liquidation, written
when it wakes (from its sleeper's entry) and rewritten when a liquidation changes it,
kept in the order of the awake list (compacted as the list is). The slot is the
loan's whole state while awake: the step's scan reads the slots one after the other,
with the same arithmetic in the same order as the direct form of 13.3 (one collateral
row: ``weighted = c O_a LT_a``, ``HF = weighted / (d O_b)``), and its liquidation
(:func:`liquidate_single`) reads and writes the slot, so every decision and sum is
bit for bit the loan-by-loan one without reading a per-loan array at random. A
liquidatable loan whose liquidation the pool bound of
:mod:`stresstest.kernels.lending_refusal` refuses is marked refused without being
priced. Pure numba over arrays.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.jit import kernel
from stresstest.kernels.lending_heaps import Sleepers, wake_push
from stresstest.kernels.lending_market import curve_proceeds, pool_proceeds
from stresstest.kernels.lending_multi import WAKE_MARGIN
from stresstest.kernels.lending_refusal import leg_refused, pool_turn

#: A thread's slots (:func:`awake_work`): per awake position the loan's debt (units of
#: its debt asset), collateral (base units), threshold ``theta`` (ratio of marks) and
#: group; per candidate of the step its slot (-1: a loan of several rows); per group
#: the step's :func:`~stresstest.kernels.lending_refusal.pool_turn` (turn, peak); per
#: awake position the step its liquidation was last refused at (-1: not since it woke).
AwakeWork = tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray
]


@kernel
def awake_work(n_loans: int, n_groups: int) -> AwakeWork:
    """Slots for the paths one thread replays, allocated once; written before read."""
    return (
        np.empty(n_loans),
        np.empty(n_loans),
        np.empty(n_loans),
        np.empty(n_loans, dtype=np.int64),
        np.empty(n_loans, dtype=np.int64),
        np.empty(n_groups),
        np.empty(n_groups),
        np.empty(n_loans, dtype=np.int64),
    )


@kernel
def hold_slot(
    slots: AwakeWork, position: int, debt: float, collateral: float, threshold: float, group: int
) -> None:
    """Write a loan's slot: its debt, collateral, ``theta = d / (c LT)`` (inf when
    ``c LT = 0``) and group, as the direct form computes them."""
    weighted = collateral * threshold
    slots[0][position] = debt
    slots[1][position] = collateral
    slots[2][position] = debt / weighted if weighted > 0.0 else np.inf
    slots[3][position] = group


@kernel
def scan_single(
    step: int,
    n_active: int,
    active: np.ndarray,
    slots: AwakeWork,
    groups: np.ndarray,
    marks: np.ndarray,
    threshold: np.ndarray,
    returned: tuple[Sleepers, np.ndarray],
    sleep_debt: np.ndarray,
    sleep_collateral: np.ndarray,
    candidates: np.ndarray,
    candidate_hf: np.ndarray,
    n_candidates: int,
    pools: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    close_least: float,
    gas: float,
    totals: np.ndarray,
) -> tuple[int, int]:
    """One step over the awake single-collateral loans, in awake order (13.7).

    A closed loan (debt 0) leaves the list; a loan with ``theta <= (O_a / O_b)(1 -
    WAKE_MARGIN)`` goes back to sleep: into its group's heap of loans returned to sleep
    (``returned``: the heaps and each group's size; :mod:`stresstest.kernels.lending_heaps`)
    with its debt and collateral, and to the sleep sums; any other stays, its
    debt and collateral at the marks added to ``totals`` (debt, collateral: quote), and
    becomes a candidate at ``HF < 1`` unless its liquidation is surely refused
    (``pools``: depth, used, gains of the step's rested pools, market prices, each
    asset's liquidation bonus and largest bonus; empty depth: no bound;
    ``close_least`` the smallest close factor), when it is marked refused at
    ``step`` (its slot's refusal). A candidate raises ``totals[2]`` and ``totals[3]``
    to its debt at the oracle and at the market (quote) if larger, for the step's cut
    of the candidates (13.7). Returns the awake loans kept and the candidates.
    """
    debt_slot, collateral_slot, theta_slot, group_slot = slots[0], slots[1], slots[2], slots[3]
    candidate_slot, turn, peak, refused_at = slots[4], slots[5], slots[6], slots[7]
    heap, n_returned = returned
    depth, used, gain, market_prices, bonus, bonus_top = pools
    bounded = depth.shape[0] > 0
    if bounded:  # each group's pool_turn at the step's rested pool
        for group in range(groups.shape[0]):
            asset, debt_of = groups[group, 2], groups[group, 3]
            turn[group], peak[group] = pool_turn(
                depth[asset],
                used[asset],
                gain[asset],
                market_prices[debt_of, step] / marks[debt_of, step],
            )
    kept = 0
    for position in range(n_active):
        debt = debt_slot[position]
        if debt <= 0.0:  # closed by a liquidation
            continue
        group = group_slot[position]
        asset, debt_of = groups[group, 2], groups[group, 3]
        collateral = collateral_slot[position]
        theta = theta_slot[position]
        loan = active[position]
        if theta <= marks[asset, step] / marks[debt_of, step] * (1.0 - WAKE_MARGIN):
            n_returned[group] = wake_push(
                heap, groups[group, 0], n_returned[group], theta, loan, debt, collateral
            )
            sleep_debt[group] += debt
            sleep_collateral[group] += collateral
            totals[0] += debt * marks[debt_of, step]
            totals[1] += collateral * marks[asset, step]
            continue
        active[kept] = loan
        debt_slot[kept] = debt
        collateral_slot[kept] = collateral
        theta_slot[kept] = theta
        group_slot[kept] = group
        refused_at[kept] = refused_at[position]
        kept += 1
        debt_value = debt * marks[debt_of, step]
        value = collateral * marks[asset, step]
        health = value * threshold[asset] / debt_value
        totals[0] += debt_value
        totals[1] += value
        if health < 1.0:
            if bounded and leg_refused(
                turn[group],
                peak[group],
                depth[asset],
                used[asset],
                gain[asset],
                min(value / (1.0 + bonus_top[asset]), close_least * debt_value),
                min(value / (1.0 + bonus[asset]), debt_value),
                debt,
                marks[debt_of, step],
                market_prices[debt_of, step],
                gas,
            ):
                refused_at[kept - 1] = step  # refused, as its priced liquidation would be
                continue
            candidates[n_candidates] = loan
            candidate_hf[n_candidates] = health
            candidate_slot[n_candidates] = kept - 1
            n_candidates += 1
            totals[2] = max(totals[2], debt_value)
            totals[3] = max(totals[3], debt * market_prices[debt_of, step])
    return kept, n_candidates


@kernel
def liquidate_single(
    slots: AwakeWork,
    slot: int,
    health: float,
    step: int,
    group: tuple[int, int, int],
    marks: np.ndarray,
    market_prices: np.ndarray,
    terms: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    used: np.ndarray,
    curves: tuple[np.ndarray, np.ndarray],
    market: tuple[float, float, float, float, float],
) -> tuple[bool, float, float, float, float, float]:
    """One liquidation try of the awake single-collateral loan in ``slot`` (13.3, 13.4).

    The arithmetic of the kernel's liquidation of a loan of any rows, in the same
    order, for its one row, read from and written back to the slot instead of the loan
    arrays. ``group``: the loan's group, collateral asset and debt asset; ``terms``:
    each asset's liquidation threshold, bonus, largest bonus of the ramp, protocol fee
    and pool depth (quote); ``used``: the pools' unrefilled sales (quote), to which
    the sale is added; ``curves``: the depth curves' starts and knots (empty starts:
    the constant-product pools); ``market``: close factor, full-close health factor,
    small-loan size (quote), bonus ramp slope, the step's gas (quote). Returns whether
    it was executed (profit > 0; if not, the slot's refusal becomes ``step``), and its
    fees to the fund, bad debt, repaid value, seized value and profit (quote units).
    """
    threshold, bonus, bonus_max, fee, depth = terms
    curve_start, curve_knots = curves
    close_factor, full_below, small_loan, ramp, gas = market
    group_of, asset, debt_of = group
    debt = slots[0][slot]
    collateral = slots[1][slot]
    debt_mark = marks[debt_of, step]
    debt_value = debt * debt_mark
    factor = close_factor
    if health < full_below or debt_value < small_loan:
        factor = 1.0
    remaining = factor * debt_value
    mark = marks[asset, step]
    leg_value = collateral * mark
    seized = 0.0
    whole = False
    sold = 0.0
    proceeds = 0.0
    seized_value = 0.0
    fee_value = 0.0
    if not (leg_value <= 0.0 or remaining <= 0.0):
        leg_bonus = bonus[asset]
        if ramp > 0.0:  # the bonus ramp of 13.3
            leg_bonus = min(bonus_max[asset], leg_bonus + ramp * (1.0 - health))
        if leg_value / (1.0 + leg_bonus) <= remaining:
            cover = leg_value / (1.0 + leg_bonus)
            amount = collateral
            whole = True
        else:
            cover = remaining
            amount = cover * (1.0 + leg_bonus) / mark
        remaining -= cover
        fee_amount = fee[asset] * cover * leg_bonus / mark
        seized = amount
        seized_value += amount * mark
        fee_value += fee_amount * mark
        sold = (amount - fee_amount) * market_prices[asset, step]
        if curve_start.shape[0] > 0:
            proceeds += curve_proceeds(
                curve_knots, curve_start[asset], curve_start[asset + 1], used[asset], sold
            )
        else:
            proceeds += pool_proceeds(depth[asset], used[asset], sold)
    repaid_value = factor * debt_value - remaining
    if repaid_value < 0.0:
        repaid_value = 0.0
    repaid = repaid_value / debt_mark
    profit = proceeds - repaid * market_prices[debt_of, step] - gas
    if not profit > 0.0:
        slots[7][slot] = step
        return False, 0.0, 0.0, 0.0, 0.0, 0.0
    left = 0.0
    if whole:
        collateral = 0.0
    else:
        collateral -= seized
    left += collateral
    used[asset] += sold
    bad = 0.0
    if factor == 1.0 and remaining <= 0.0:
        debt = 0.0
    else:
        debt -= repaid
    if left <= 0.0 and debt > 0.0:
        bad = debt * debt_mark  # collateral ran out: the rest is bad debt
        debt = 0.0
    hold_slot(slots, slot, debt, collateral, threshold[asset], group_of)
    return True, fee_value, bad, repaid_value, seized_value, profit
