"""ADL of the accounts defence kernel: who gives up what (docs/model.md 11.8).

Split out of :mod:`stresstest.kernels.account_defences`: each (asset, side) part of a
step's shortfall is covered by the profitable legs of the opposite side of that asset
in armed units, ranked by the account's score (:func:`stresstest.kernels.adl.adl_score`
with the unit's collateral and account value) or reduced ``pro_rata``; a unit whose
legs are all gone is closed.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.adl import adl_score
from stresstest.kernels.jit import kernel

# Unit states of the defence replay (account_defences re-exports them).
ARMED = 0  # open and checked at every step
FLAGGED = 1  # breached; settled at its close step
CLOSED = 2  # closed in full (liquidation or ADL of every leg)
TAKEN = 3  # taken over by the backstop vault (11.11)


@kernel
def account_value(
    unit: int,
    adl_prices: np.ndarray,
    unit_start: np.ndarray,
    pos_asset: np.ndarray,
    pos_side: np.ndarray,
    qty: np.ndarray,
    pos_entry: np.ndarray,
    collateral: np.ndarray,
) -> float:
    """``V_u = c_u + sum_k s_k q_k (A_a_k - e_k)`` at the ADL prices (quote units)."""
    value = float(collateral[unit])
    for position in range(unit_start[unit], unit_start[unit + 1]):
        value += (
            pos_side[position]
            * qty[position]
            * (adl_prices[pos_asset[position]] - pos_entry[position])
        )
    return value


@kernel
def deleverage_legs(
    policy: int,
    asset: int,
    side: float,
    need: float,
    adl_prices: np.ndarray,
    units: tuple[np.ndarray, ...],
    pos_unit: np.ndarray,
    state: np.ndarray,
    qty: np.ndarray,
    collateral: np.ndarray,
    given: np.ndarray,
) -> tuple[float, float, float, float, float]:
    """Cover ``need`` from the profitable legs of ``asset`` on ``side`` in armed units.

    Returns ``(cover, need left, notional q A, count, gini)`` as
    :func:`stresstest.kernels.adl.deleverage` (docs/model.md 11.8). Ranked policies
    take legs by descending score (ties: lower position index, i.e. book order), each
    closed whole giving ``min(u, need left)``; a unit left with no leg is closed, a
    unit with other legs keeps ``c + u - taken``. ``pro_rata`` reduces every
    candidate by ``f = min(1, need / U)``; a one-leg unit's collateral shrinks with it.
    """
    unit_start, pos_asset, pos_side, _, pos_entry, _ = units
    price = adl_prices[asset]
    n_positions = pos_asset.shape[0]
    index = np.empty(n_positions, dtype=np.int64)
    key = np.empty(n_positions)
    profit = np.empty(n_positions)
    n_all = 0
    total = 0.0
    for position in range(n_positions):
        if pos_asset[position] != asset or pos_side[position] != side or qty[position] == 0.0:
            continue
        unit = pos_unit[position]
        if state[unit] != ARMED:
            continue
        gain = side * qty[position] * (price - pos_entry[position])
        if not gain > 0.0:
            continue
        index[n_all] = position
        profit[n_all] = gain
        total += gain
        if policy != enums.ADL_PRO_RATA:
            value = account_value(
                unit, adl_prices, unit_start, pos_asset, pos_side, qty, pos_entry, collateral
            )
            margin = collateral[unit]
            score = (
                np.inf
                if value <= 0.0
                else adl_score(
                    policy,
                    int(side),
                    qty[position],
                    pos_entry[position],
                    margin,
                    value - margin,
                    price,
                )
            )
            key[n_all] = -score
        n_all += 1
    if n_all == 0:
        return 0.0, need, 0.0, 0.0, 0.0
    cover = 0.0
    notional = 0.0
    count = 0.0
    if policy == enums.ADL_PRO_RATA:
        fraction = 1.0 if need >= total else need / total
        for candidate in range(n_all):
            position = index[candidate]
            unit = pos_unit[position]
            taken = profit[candidate] * fraction
            cover += taken
            given[position] += taken
            notional += qty[position] * fraction * price
            count += 1.0
            qty[position] = 0.0 if fraction >= 1.0 else qty[position] * (1.0 - fraction)
            if unit_start[unit + 1] - unit_start[unit] == 1:
                collateral[unit] = 0.0 if fraction >= 1.0 else collateral[unit] * (1.0 - fraction)
            _close_if_empty(unit, unit_start, qty, state)
        left = need - total if fraction >= 1.0 else 0.0
        return cover, left, notional, count, 0.0
    order = np.argsort(key[:n_all], kind="mergesort")
    left = need
    weighted = 0.0
    haircuts = 0.0
    for rank in range(n_all):
        if not left > 0.0:
            break
        position = index[order[rank]]
        unit = pos_unit[position]
        gain = profit[order[rank]]
        taken = min(gain, left)
        left -= taken
        cover += taken
        given[position] += taken
        notional += qty[position] * price
        count += 1.0
        qty[position] = 0.0
        collateral[unit] += gain - taken
        _close_if_empty(unit, unit_start, qty, state)
        haircut = taken / gain
        weighted += (n_all - count + 1.0) * haircut
        haircuts += haircut
    gini = 0.0
    if haircuts > 0.0:
        gini = max(0.0, 2.0 * weighted / (n_all * haircuts) - (n_all + 1.0) / n_all)
    return cover, max(0.0, left), notional, count, gini


@kernel
def _close_if_empty(unit: int, unit_start: np.ndarray, qty: np.ndarray, state: np.ndarray) -> None:
    """Mark a unit closed once ADL has taken every one of its legs."""
    for position in range(unit_start[unit], unit_start[unit + 1]):
        if qty[position] > 0.0:
            return
    state[unit] = CLOSED
