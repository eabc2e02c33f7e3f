"""The awake single-collateral loans of a lending path, checked from a compact copy (13.7).

Each awake single-collateral loan holds a *slot*: its debt, collateral, threshold
``theta = d / (c LT)`` and group, copied when it wakes and rewritten when a
liquidation changes it, kept in the order of the awake list (compacted as the list
is). The step's scan reads the slots one after the other instead of the loan arrays
at random, and does the same arithmetic in the same order as the direct form of
13.3 (one collateral row: ``weighted = c O_a LT_a``, ``HF = weighted / (d O_b)``), so
every decision and sum is bit for bit the loan-by-loan one. A liquidatable loan whose
liquidation the pool bound of :mod:`stresstest.kernels.lending_refusal` refuses is
marked refused without being priced. Pure numba over arrays.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.jit import kernel
from stresstest.kernels.lending_heaps import wake_push
from stresstest.kernels.lending_multi import WAKE_MARGIN
from stresstest.kernels.lending_refusal import leg_refused, pool_turn

#: A thread's slots (:func:`awake_work`): per awake position the loan's debt (units of
#: its debt asset), collateral (base units), threshold ``theta`` (ratio of marks) and
#: group; per candidate of the step its slot (-1: a loan of several rows); per group
#: the step's :func:`~stresstest.kernels.lending_refusal.pool_turn` (turn, peak).
AwakeWork = tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray
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
    returned: tuple[np.ndarray, np.ndarray, np.ndarray],
    sleep_debt: np.ndarray,
    sleep_collateral: np.ndarray,
    candidates: np.ndarray,
    candidate_hf: np.ndarray,
    n_candidates: int,
    refused_at: np.ndarray,
    pools: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    close_least: float,
    gas: float,
    totals: np.ndarray,
) -> tuple[int, int]:
    """One step over the awake single-collateral loans, in awake order (13.7).

    A closed loan (debt 0) leaves the list; a loan with ``theta <= (O_a / O_b)(1 -
    WAKE_MARGIN)`` goes back to sleep: into its group's heap of loans returned to sleep
    (``returned``: keys, loans, each group's size; :mod:`stresstest.kernels.lending_heaps`)
    and sleep sums; any other stays, its
    debt and collateral at the marks added to ``totals`` (debt, collateral: quote), and
    becomes a candidate at ``HF < 1`` unless its liquidation is surely refused
    (``pools``: depth, used, gains of the step's rested pools, market prices, each
    asset's liquidation bonus and largest bonus; empty depth: no bound;
    ``close_least`` the smallest close factor), when it is marked refused at
    ``step``. Returns the awake loans kept and the candidates.
    """
    debt_slot, collateral_slot, theta_slot, group_slot = slots[0], slots[1], slots[2], slots[3]
    candidate_slot, turn, peak = slots[4], slots[5], slots[6]
    returned_theta, returned_loan, n_returned = returned
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
                returned_theta, returned_loan, groups[group, 0], n_returned[group], theta, loan
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
                refused_at[loan] = step  # refused, as its priced liquidation would be
                continue
            candidates[n_candidates] = loan
            candidate_hf[n_candidates] = health
            candidate_slot[n_candidates] = kept - 1
            n_candidates += 1
    return kept, n_candidates
