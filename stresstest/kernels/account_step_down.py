"""The tier step-down rule of partial liquidation for margin units (docs/model.md 11.8).

``[partial_liquidation] rule = "tier_step_down"`` with accounts and tiered brackets
(11.4): a due unit in breach that is not bankrupt at its exits has each live leg
brought down one bracket, to the notional floor ``F_b`` of the bracket it is in, at
the mark; a leg in the lowest bracket is closed in full. Binance's liquidation
protocol ("Smart Liquidation": one order that reduces the position without closing
it whole; the liquidation stops once the account is margin compliant). The cases
before the legs (re-armed, bankrupt) are the fraction rule's
(:func:`stresstest.kernels.account_fraction.fraction_closes`), which calls
:func:`step_down_closes`. Units: prices quote per base, quantities base units,
notionals quote units.
"""

from __future__ import annotations

import numpy as np

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
def step_down_closes(
    start: int,
    end: int,
    step: int,
    marks: np.ndarray,
    floors: np.ndarray,
    pos_asset: np.ndarray,
    qty: np.ndarray,
    closes: np.ndarray,
) -> bool:
    """Fill ``closes[k]`` of the legs ``start .. end - 1`` by the step-down; whether one stays.

    ``closes`` holds each leg's whole quantity on entry (the full close); a live leg
    above the lowest bracket at the marks of ``step`` closes ``q - F_b / O`` instead
    (:func:`step_down_quantity`). Returns True when some leg keeps a quantity (a
    partial close of the unit), False when every leg closes in full.
    """
    kept = False
    for position in range(start, end):
        quantity = qty[position]
        if quantity == 0.0:
            continue
        keep = step_down_quantity(quantity, marks[pos_asset[position], step], floors)
        if keep > 0.0:
            closes[position] = quantity - keep
            kept = True
    return kept
