"""The predictive trigger of a cross unit of several legs (docs/model.md 11.8).

A one-position unit follows the single-asset rule of 9.3
(:func:`stresstest.kernels.account_stages.predictive_breach`). A unit of several legs
has no bankruptcy price; its equity ``E_u = c_u + sum_k s_k q_k (O_a - e_k)`` moves
with every asset's price. Its dollar exposure to a log return of asset ``a`` is
``g_a = sum_(k of a) s_k q_k O_a,t``, the per-step covariance of the market log returns
is the EWMA ``C_ab,t`` (decay ``vol_ewma_lambda``, the variance ``w_a,t`` of 9.3 on the
diagonal, 0 off it at ``t = 0``), so the linearized equity is an arithmetic Brownian
motion of per-step variance ``g' C g`` and, by the reflection principle, reaches 0
within ``h`` steps with probability ``2 Phi(-E_u / sqrt(h g' C g))``: above ``p*`` when
``E_u < z sqrt(h g' C g)``. The kernel tests the exact equity at the most likely move
to that boundary, ``r*_a = -(S g)_a / sqrt(g' S g)`` with ``S = z^2 h C`` (the log
move of every asset; 0 when ``g' S g = 0``): the unit breaches when
``c_u + sum_k s_k q_k (O_a exp(r*_a) - e_k) < 0``. For a unit whose legs are all in one
asset this is 9.3's rule on the net position (``r* = -/+ z sigma sqrt(h)``).

The trigger's state is one vector ``shifts`` per path: the shifts ``z sqrt(w_a,t)
sqrt(h)`` of the ``A`` assets (9.3), then, only when the book has a unit of several
legs, ``S`` row by row (``A^2``) and ``2 A`` scratch slots (``g`` and ``r*`` of the
unit being tested), so a book of one-position units carries exactly the vector of
earlier versions. Cost per test ``O(L + A^2)`` for a unit of ``L`` legs, memory
``O(A^2)`` per thread.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.jit import kernel


@kernel
def trigger_state_size(n_assets: int, predictive: bool, several_legs: bool) -> int:
    """Length of the trigger's state vector: 0 off, ``A`` one-position units, ``A^2 + 3 A``."""
    if not predictive:
        return 0
    return n_assets * (n_assets + 3) if several_legs else n_assets


@kernel
def has_covariance(shifts: np.ndarray, n_assets: int) -> bool:
    """Whether the state vector carries the scaled covariance ``S`` (a unit of several legs)."""
    return bool(shifts.shape[0] > n_assets)


@kernel
def update_covariance(
    params: np.ndarray,
    prices: np.ndarray,
    step: int,
    vol_variance: np.ndarray,
    covariance: np.ndarray,
    shifts: np.ndarray,
) -> None:
    """``C_ab,t = lambda C_ab,t-1 + (1 - lambda) r_a,t r_b,t`` (``a != b``), ``C_aa,t = w_a,t``,
    and ``S = (z sqrt(h))^2 C`` into ``shifts[A:A + A^2]``.

    ``r_a,t = ln(P_a,t / P_a,t-1)`` the market log return; ``vol_variance`` holds the
    ``w_a,t`` of this step (:func:`stresstest.kernels.account_stages.trigger_shifts`).
    """
    n_assets = prices.shape[0]
    decay = params[enums.MECH_VOL_LAMBDA]
    if step >= 1:
        for first in range(n_assets):
            first_return = np.log(prices[first, step] / prices[first, step - 1])
            for second in range(first + 1, n_assets):
                second_return = np.log(prices[second, step] / prices[second, step - 1])
                value = decay * covariance[first, second] + (1.0 - decay) * (
                    first_return * second_return
                )
                covariance[first, second] = value
                covariance[second, first] = value
    for asset in range(n_assets):
        covariance[asset, asset] = vol_variance[asset]
    scale = params[enums.MECH_TRIGGER_Z] * params[enums.MECH_TRIGGER_SQRT_H]
    scale *= scale
    for first in range(n_assets):
        for second in range(n_assets):
            shifts[n_assets + first * n_assets + second] = scale * covariance[first, second]


@kernel
def adverse_moves(
    unit: int,
    step: int,
    marks: np.ndarray,
    shifts: np.ndarray,
    unit_start: np.ndarray,
    pos_asset: np.ndarray,
    pos_side: np.ndarray,
    qty: np.ndarray,
) -> np.ndarray:
    """Fill and return ``r*`` (log move per asset) of the unit at ``step``: a view of the
    state vector's scratch slots."""
    n_assets = marks.shape[0]
    base = n_assets + n_assets * n_assets
    exposure = shifts[base : base + n_assets]
    moves = shifts[base + n_assets : base + 2 * n_assets]
    exposure[:] = 0.0
    for position in range(unit_start[unit], unit_start[unit + 1]):
        asset = pos_asset[position]
        exposure[asset] += pos_side[position] * qty[position] * marks[asset, step]
    spread = 0.0
    for first in range(n_assets):
        row = 0.0
        for second in range(n_assets):
            row += shifts[n_assets + first * n_assets + second] * exposure[second]
        moves[first] = row
        spread += exposure[first] * row
    if spread > 0.0:
        width = np.sqrt(spread)
        for asset in range(n_assets):
            moves[asset] = -moves[asset] / width
    else:
        moves[:] = 0.0
    return moves


@kernel
def cross_predictive_breach(
    unit: int,
    step: int,
    marks: np.ndarray,
    shifts: np.ndarray,
    unit_start: np.ndarray,
    pos_asset: np.ndarray,
    pos_side: np.ndarray,
    qty: np.ndarray,
    pos_entry: np.ndarray,
    collateral: np.ndarray,
) -> bool:
    """``c_u + sum_k s_k q_k (O_a exp(r*_a) - e_k) < 0``: the unit's equity at the most
    likely move to ruin within ``h`` is negative (docs/model.md 11.8)."""
    moves = adverse_moves(unit, step, marks, shifts, unit_start, pos_asset, pos_side, qty)
    equity = collateral[unit]
    for position in range(unit_start[unit], unit_start[unit + 1]):
        asset = pos_asset[position]
        moved = marks[asset, step] * np.exp(moves[asset])
        equity += pos_side[position] * qty[position] * (moved - pos_entry[position])
    return bool(equity < 0.0)
