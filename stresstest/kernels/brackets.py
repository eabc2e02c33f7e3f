"""Tiered maintenance brackets: the requirement of a position by its notional.

Bracket ``b`` covers notionals ``floor_b <= n < floor_{b+1}`` (``floor_0 = 0``,
the last bracket unbounded) with rate ``rate_b`` and maintenance amount
``amount_b``; the requirement is ``R(n) = rate_b n - amount_b``, quote units.
With ``amount_0 = 0`` and ``amount_b = amount_{b-1} + (rate_b - rate_{b-1}) floor_b``
it is continuous in ``n``, and convex when the rates do not decrease: the
venue-style table (Binance's "maintenance amount" or "cum"). With
volatility-scaled margin the table is the requirement at the margin's floor
``rate_0``, and the add-on ``(m_t - rate_0) n`` applies on top of it
(:func:`position_requirement`). See docs/model.md 11.4.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.jit import kernel


def bracket_amounts(floors: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Maintenance amounts ``amount_b`` that make ``R(n)`` continuous, quote units."""
    amounts = np.zeros(floors.shape[0])
    for index in range(1, floors.shape[0]):
        amounts[index] = amounts[index - 1] + (rates[index] - rates[index - 1]) * floors[index]
    return amounts


@kernel
def bracket_index(notional: float, floors: np.ndarray) -> int:
    """The bracket ``b`` with ``floor_b <= notional < floor_{b+1}`` (0 for notional < 0)."""
    index = 0
    for candidate in range(1, floors.shape[0]):
        if notional >= floors[candidate]:
            index = candidate
        else:
            break
    return index


@kernel
def bracket_requirement(
    notional: float, floors: np.ndarray, rates: np.ndarray, amounts: np.ndarray
) -> float:
    """``R(n) = rate_b n - amount_b`` for the bracket holding ``n`` (quote units)."""
    index = bracket_index(notional, floors)
    return float(rates[index] * notional - amounts[index])


@kernel
def position_requirement(
    notional: float, rate_now: float, floors: np.ndarray, rates: np.ndarray, amounts: np.ndarray
) -> float:
    """``R_t(n) = R(n) + (m_t - rate_0) n``, quote units: the table plus the volatility add-on.

    Parameters
    ----------
    notional
        ``n = q P_t``, quote units.
    rate_now
        The asset's maintenance rate ``m_t`` at the step (fraction of notional):
        ``maintenance`` for static margin, the EWMA rate of docs/model.md 3 for
        vol-scaled margin.
    floors, rates, amounts
        The bracket table; ``rates[0]`` is ``maintenance`` (static) or the
        margin's ``floor`` (vol-scaled), so the add-on is exactly 0 for static
        margin and whenever ``m_t`` sits at the floor.
    """
    return float(
        bracket_requirement(notional, floors, rates, amounts) + (rate_now - rates[0]) * notional
    )


@kernel
def bracket_liquidation_price(
    side: float,
    qty: float,
    entry: float,
    collateral: float,
    floors: np.ndarray,
    rates: np.ndarray,
    amounts: np.ndarray,
) -> float:
    """The price ``P*`` at which an isolated position's equity meets its requirement.

    Solves ``c + s q (P - e) = rate_b q P - amount_b`` in the bracket ``b`` that
    holds ``q P``: ``P_b = (c + amount_b - s q e) / (q rate_b - s q)``, the
    venue formula for one isolated position (Binance's, with no other
    positions). The gap ``E - R`` is increasing in ``P`` for a long and
    decreasing for a short (rates < 1), so the root is unique: a long breaches
    iff ``P < P*``, a short iff ``P > P*``. A long whose equity stays above its
    requirement at every ``P > 0`` gets ``P* = 0`` (never breaches).
    """
    n_brackets = floors.shape[0]
    if side > 0.0 and collateral - qty * entry >= 0.0:
        return 0.0
    for index in range(n_brackets):
        price = (collateral + amounts[index] - side * qty * entry) / (
            qty * rates[index] - side * qty
        )
        notional = qty * price
        upper = floors[index + 1] if index + 1 < n_brackets else np.inf
        if notional < upper:
            return float(max(price, 0.0))
    return np.inf  # pragma: no cover - the last bracket is unbounded
