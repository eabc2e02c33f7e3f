"""The backstop vault with margin units (docs/model.md 11.11, the rule of 10.3).

Called by :mod:`stresstest.kernels.account_defences` when ``[backstop]`` is on:

- **takeover**: at its close step a flagged unit whose equity at the marks is below
  ``k`` times its maintenance requirement is taken over whole
  (:func:`unit_taken_over`, :func:`take_unit`): the vault inherits every leg with
  quantity left and the unit's collateral, spread over the legs by entry notional
  ``q e``, so each leg is held from its own price ``theta_k = e_k - s_k c'_k / q_k``
  (a one-leg unit: its bankruptcy price, exactly 10.3);
- **the vault's step** (:func:`account_vault_step`): in the loss waterfall, after
  the fund, the cohort due at the step is closed at the market prices ``P~_a,t`` of
  its assets; the realized P&L enters the capital ``V``; a ``V < 0`` passes ``-V`` on,
  split over (asset, side) in proportion to each one's realized loss, to ADL or the
  socialized loss; then the vault's equity at ``P~_t`` updates its minimum.

The vault's state is the single-asset vector of :mod:`stresstest.kernels.backstop`
(capital, counts, P&L, passed loss, minimum equity, positions held) plus what it
holds by (asset, side), ``held[a, j] = (sum q, sum q theta)`` (``j`` 0 long, 1
short), and the same sums per takeover step, ``cohorts[a, j, :, t]``: ``O(A T)``
memory per path, ``O(A)`` per step, ``O(legs)`` per takeover, nothing when off.
Units: prices quote per base, quantities base units, money quote units.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.account_gap import unit_gap
from stresstest.kernels.backstop import (
    VAULT_CAPITAL,
    VAULT_HELD,
    VAULT_MIN_EQUITY,
    VAULT_NOTIONAL,
    VAULT_PASSED,
    VAULT_PNL,
    VAULT_TAKEOVERS,
)
from stresstest.kernels.jit import kernel

HELD_QTY = 0  # sum q of the held legs, base units
HELD_QT = 1  # sum q theta of the held legs, quote units


@kernel
def vault_books(n_assets: int, n_points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(held (A, 2, 2), cohorts (A, 2, 2, T + 1), cohort counts (T + 1))``, zeros."""
    held = np.zeros((n_assets, 2, 2))
    cohorts = np.zeros((n_assets, 2, 2, n_points))
    counts = np.zeros(n_points)
    return held, cohorts, counts


@kernel
def account_vault_equity(
    vault: np.ndarray, held: np.ndarray, prices: np.ndarray, step: int
) -> float:
    """``W = V + sum_a (Q_a,long P~_a - QT_a,long) + (QT_a,short - Q_a,short P~_a)``, quote.

    ``prices`` are the market prices ``(A, T + 1)``, read at ``step``.
    """
    equity = float(vault[VAULT_CAPITAL])
    for asset in range(held.shape[0]):
        price = prices[asset, step]
        equity += held[asset, 0, HELD_QTY] * price - held[asset, 0, HELD_QT]
        equity += held[asset, 1, HELD_QT] - held[asset, 1, HELD_QTY] * price
    return equity


@kernel
def unit_taken_over(
    unit: int,
    step: int,
    marks: np.ndarray,
    rates_now: np.ndarray,
    brackets: np.ndarray,
    units: tuple[np.ndarray, ...],
    qty: np.ndarray,
    collateral: np.ndarray,
    fraction: float,
) -> bool:
    """Whether the vault takes ``unit`` at its close step: ``E_u,t < k R_u,t`` at the marks.

    ``E_u,t`` and ``R_u,t`` are the unit's equity and maintenance requirement of
    docs/model.md 11.3 (rates or tiered brackets, 11.4) with its current legs and
    collateral; ``fraction`` is ``k``. Equality is not taken over.
    """
    unit_start, pos_asset, pos_side, _, pos_entry, _ = units
    equity, requirement = unit_gap(
        unit,
        step,
        marks,
        rates_now,
        brackets[0],
        brackets[1],
        brackets[2],
        unit_start,
        pos_asset,
        pos_side,
        qty,
        pos_entry,
        collateral,
    )
    return bool(equity < fraction * requirement)


@kernel
def take_unit(
    unit: int,
    step: int,
    marks: np.ndarray,
    units: tuple[np.ndarray, ...],
    qty: np.ndarray,
    collateral: np.ndarray,
    vault: np.ndarray,
    held: np.ndarray,
    cohorts: np.ndarray,
    counts: np.ndarray,
) -> None:
    """The vault takes every leg of ``unit`` with quantity left, and its collateral.

    Leg ``k`` gets ``c'_k = c q_k e_k / sum_j q_j e_j`` of the collateral ``c`` and is
    held from ``theta_k = e_k - s_k c'_k / q_k``: ``q_k theta_k = q_k e_k - s_k c'_k`` is
    added to its (asset, side) in ``held`` and in the cohort of ``step``. Counts one
    takeover per leg and ``q_k O_a,t`` of notional. The trader keeps nothing.
    """
    unit_start, pos_asset, pos_side, _, pos_entry, _ = units
    entry_notional = 0.0
    for position in range(unit_start[unit], unit_start[unit + 1]):
        entry_notional += qty[position] * pos_entry[position]
    for position in range(unit_start[unit], unit_start[unit + 1]):
        quantity = qty[position]
        if quantity == 0.0:
            continue
        asset = pos_asset[position]
        side = pos_side[position]
        weight = quantity * pos_entry[position] / entry_notional  # 1 exactly for one leg
        qt = quantity * pos_entry[position] - side * (collateral[unit] * weight)
        j = 0 if side > 0 else 1
        held[asset, j, HELD_QTY] += quantity
        held[asset, j, HELD_QT] += qt
        cohorts[asset, j, HELD_QTY, step] += quantity
        cohorts[asset, j, HELD_QT, step] += qt
        counts[step] += 1.0
        vault[VAULT_HELD] += 1.0
        vault[VAULT_TAKEOVERS] += 1.0
        vault[VAULT_NOTIONAL] += quantity * marks[asset, step]


@kernel
def account_vault_step(
    vault: np.ndarray,
    held: np.ndarray,
    cohorts: np.ndarray,
    counts: np.ndarray,
    step: int,
    hold: int,
    prices: np.ndarray,
    passed_by_asset: np.ndarray,
) -> float:
    """Close the cohorts due at ``step`` at ``P~_a,step`` and book their P&L (10.3, 11.11).

    Due: the cohort taken at ``step - hold`` (``hold >= 0``), and at the last step every
    cohort still held. Realized ``Q P~ - QT`` per asset's longs, ``QT - Q P~`` per
    asset's shorts enter ``V``; a ``V < 0`` passes ``-V`` on and ``V = 0``. The passed loss
    is added to ``passed_by_asset[a, j]`` in proportion to each (asset, side)'s realized
    loss, the last one with a loss taking the remainder (a side without a realized loss
    gets exactly 0); returns it. Then the equity at ``P~_step`` updates the minimum.
    """
    n_assets = held.shape[0]
    last_step = counts.shape[0] - 1
    first = step - hold if hold >= 0 else -1
    stop = first + 1
    if step == last_step:
        first = 0 if hold < 0 else max(0, step - hold)
        stop = step + 1
    passed = 0.0
    count = 0.0
    for due in range(max(first, 0), stop if first >= 0 else 0):
        count += counts[due]
    if count > 0.0:
        realized = np.zeros((n_assets, 2))
        total = 0.0
        lost = 0.0
        for asset in range(n_assets):
            price = prices[asset, step]
            for j in range(2):
                qty = 0.0
                qt = 0.0
                for due in range(first, stop):
                    qty += cohorts[asset, j, HELD_QTY, due]
                    qt += cohorts[asset, j, HELD_QT, due]
                held[asset, j, HELD_QTY] -= qty
                held[asset, j, HELD_QT] -= qt
                value = qty * price - qt if j == 0 else qt - qty * price
                realized[asset, j] = value
                total += value
                lost += max(0.0, -value)
        vault[VAULT_HELD] -= count
        if step == last_step or vault[VAULT_HELD] == 0.0:
            held[:] = 0.0  # nothing held: no rounding residue in W either (10.3)
        vault[VAULT_PNL] += total
        capital = vault[VAULT_CAPITAL] + total
        if capital < 0.0:
            passed = -capital
            given = 0.0
            last_asset = -1
            last_j = -1
            for asset in range(n_assets):
                for j in range(2):
                    if realized[asset, j] < 0.0:
                        last_asset = asset
                        last_j = j
            for asset in range(n_assets):
                for j in range(2):
                    if not realized[asset, j] < 0.0:
                        continue
                    if asset == last_asset and j == last_j:
                        share = passed - given
                    else:
                        share = passed * -realized[asset, j] / lost
                    given += share
                    passed_by_asset[asset, j] += share
            vault[VAULT_PASSED] += passed
            capital = 0.0
        vault[VAULT_CAPITAL] = capital
    equity = account_vault_equity(vault, held, prices, step)
    if equity < vault[VAULT_MIN_EQUITY]:
        vault[VAULT_MIN_EQUITY] = equity
    return passed
