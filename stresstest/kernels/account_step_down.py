"""The tier step-down rule of partial liquidation for margin units (docs/model.md 11.8).

``[partial_liquidation] rule = "tier_step_down"`` with accounts and tiered brackets
(11.4): a due unit in breach that is not bankrupt at its exits has each live leg
brought down one bracket, to the notional floor ``F_b`` of the bracket it is in, at
the mark; a leg in the lowest bracket is closed in full. If the unit so reduced is
still in breach at the marks (after the realized loss and the penalty of the closed
part), it is closed whole instead. Binance's liquidation protocol: one order that
reduces the position without closing it whole, the liquidation stopping once the
account is margin compliant, else the position closed. The cases before the legs
(re-armed, bankrupt) are the fraction rule's
(:func:`stresstest.kernels.account_fraction.fraction_closes`), which calls
:func:`step_down_closes`. Units: prices quote per base, quantities base units,
notionals and money quote units.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.account_close import closed_terms
from stresstest.kernels.account_watch import unit_breached
from stresstest.kernels.jit import kernel


@kernel
def step_down_quantity(quantity: float, mark: float, floors: np.ndarray) -> float:
    """The quantity a leg keeps when stepped down one bracket, base units.

    ``F_b / O`` for the largest ``b >= 1`` with ``F_b / O < q`` (the floor of the
    bracket the leg is in, taken as a quantity at the mark ``O``); 0 when there is
    none (``q O <= F_1``: the lowest bracket, the leg closes in full). Tie: a leg
    exactly at a floor (``F_b / O == q``) counts in the bracket below, so every step
    down closes a positive quantity. ``floors[0] = 0`` is the first bracket's floor.
    """
    keep = 0.0
    for bracket in range(1, floors.shape[0]):
        candidate = floors[bracket] / mark
        if candidate < quantity:
            keep = candidate
        else:
            break
    return keep


@kernel
def _leg_closes(
    unit: int,
    step: int,
    marks: np.ndarray,
    floors: np.ndarray,
    units: tuple[np.ndarray, ...],
    qty: np.ndarray,
    closes: np.ndarray,
) -> bool:
    """Fill ``closes[k] = q_k - q_k'`` of the unit's live legs; whether some leg is kept."""
    unit_start, pos_asset = units[0], units[1]
    kept = False
    for position in range(unit_start[unit], unit_start[unit + 1]):
        quantity = qty[position]
        if quantity == 0.0:
            continue
        keep = step_down_quantity(quantity, marks[pos_asset[position], step], floors)
        closes[position] = quantity - keep
        kept = kept or keep > 0.0
    return kept


@kernel
def step_down_closes(
    unit: int,
    step: int,
    exits: np.ndarray,
    inputs: tuple[np.ndarray, ...],
    units: tuple[np.ndarray, ...],
    state: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> bool:
    """Size the step-down of a due ``unit`` at ``step``; True: a partial close of the unit.

    Each live leg closes ``q_k - q_k'`` (:func:`step_down_quantity` at the marks of
    ``step``) into ``closes[k]``. False (``closes`` set to the whole quantities: the
    caller closes the unit whole) when every leg is in the lowest bracket, or when the
    kept unit, with collateral ``c' = c + sum_k s_k dq_k (x_k - e_k) - sum_k fee_k dq_k
    x_k`` at the exits ``x_k`` of ``exits`` (before slippage), is still in breach at the
    marks (:func:`unit_breached`, the predictive trigger included). ``inputs`` and
    ``state = (qty, collateral, last_partial, closes)`` as
    :func:`stresstest.kernels.account_fraction.fraction_closes`.
    """
    marks, fee_rates, rates_now, shifts, brackets, liquidation, _ = inputs
    qty, collateral, _, closes = state
    unit_start = units[0]
    start = unit_start[unit]
    end = unit_start[unit + 1]
    if not _leg_closes(unit, step, marks, brackets[0], units, qty, closes):
        closes[start:end] = qty[start:end]
        return False
    _, _, penalty, realized = closed_terms(
        unit, step, exits, fee_rates, liquidation, units, qty, closes
    )
    # the kept unit, tested in place and put back exactly (closes is refilled)
    before = collateral[unit]
    collateral[unit] = before + (realized - penalty)
    for position in range(start, end):
        kept = qty[position] - closes[position]
        closes[position] = qty[position]  # the original quantity, for the way back
        qty[position] = kept
    breached = unit_breached(unit, step, marks, rates_now, brackets, shifts, units, qty, collateral)
    collateral[unit] = before
    qty[start:end] = closes[start:end]
    if breached:
        return False
    _leg_closes(unit, step, marks, brackets[0], units, qty, closes)
    return True
