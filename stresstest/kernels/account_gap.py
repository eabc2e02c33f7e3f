"""The direct breach test of a margin unit, ``E_u,t < R_u,t`` (docs/model.md 11.3).

One function every accounts kernel reads a unit's equity and requirement with: the
filtered kernel (:mod:`stresstest.kernels.cross`), its dense twin, the defence
kernel's watch and vault, and the held-rate pass of ``[procyclicality]``
(:mod:`stresstest.kernels.procyclicality_accounts`).
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.brackets import position_requirement
from stresstest.kernels.jit import kernel


@kernel
def unit_gap(
    unit: int,
    step: int,
    prices: np.ndarray,
    rates_now: np.ndarray,
    floors: np.ndarray,
    rates: np.ndarray,
    amounts: np.ndarray,
    unit_start: np.ndarray,
    pos_asset: np.ndarray,
    pos_side: np.ndarray,
    pos_qty: np.ndarray,
    pos_entry: np.ndarray,
    unit_collateral: np.ndarray,
) -> tuple[float, float]:
    """Equity ``E_u,t`` and requirement ``R_u,t`` of a unit at a step, quote units.

    ``prices`` is the series the breach is measured at: the marks ``O_a,t``
    (the market prices without an oracle).
    """
    equity = unit_collateral[unit]
    requirement = 0.0
    tiered = floors.shape[0] > 1
    for position in range(unit_start[unit], unit_start[unit + 1]):
        asset = pos_asset[position]
        price = prices[asset, step]
        quantity = pos_qty[position]
        equity += pos_side[position] * quantity * (price - pos_entry[position])
        if tiered:
            requirement += position_requirement(
                quantity * price, rates_now[asset], floors, rates, amounts
            )
        else:
            requirement += rates_now[asset] * quantity * price
    return equity, requirement
