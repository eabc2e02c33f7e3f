"""The market side of a lending path: oracle marks, congestion gas and pool proceeds.

Per path, before or during the loan loop of :mod:`stresstest.kernels.lending`: the
Chainlink-style marks (deviation and heartbeat, docs/model.md 13.2), the gas of each
step scaled by the fall of one asset's price (13.4), and what a liquidator receives
for collateral sold through a constant-product pool or a piecewise depth curve
(13.4). Pure numba over arrays.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.jit import kernel


@kernel
def oracle_marks(prices: np.ndarray, deviation: float, heartbeat: int, marks: np.ndarray) -> None:
    """Chainlink-style reported prices ``marks`` ``(A, T + 1)`` of market ``prices`` ``(A, T + 1)``.

    ``O_a,0 = P_a,0``; at ``t >= 1`` the price is reported (``O_a,t = P_a,t``,
    last report ``l_a = t``) when ``t - l_a >= heartbeat`` or
    ``|P_a,t / O_a,t-1 - 1| > deviation``; otherwise ``O_a,t = O_a,t-1``.
    Quote per base; ``heartbeat`` in steps, ``deviation`` a fraction of price.
    """
    for asset in range(prices.shape[0]):
        reported = prices[asset, 0]
        last = 0
        marks[asset, 0] = reported
        for step in range(1, prices.shape[1]):
            price = prices[asset, step]
            if step - last >= heartbeat or abs(price / reported - 1.0) > deviation:
                reported = price
                last = step
            marks[asset, step] = reported


@kernel
def congestion_gas(
    prices: np.ndarray,
    gas_steps: np.ndarray,
    gas: float,
    slope: float,
    window: int,
    out: np.ndarray,
) -> None:
    """Congestion gas ``out`` ``(T + 1,)`` of one asset's market ``prices`` (13.4, quote units).

    ``G_t = g_t (1 + slope f_t)``: ``g_t`` is ``gas_steps[t]`` (``gas`` if empty) and
    ``f_t = 1 - P_t / H_t`` the fall of the price from ``H_t``, its highest over steps
    ``max(0, t - window) .. t``. The rolling high is kept in a monotone queue of step
    indices (``O(T)``); it is a maximum, so exact.
    """
    n_points = prices.shape[0]
    queue = np.empty(n_points, dtype=np.int64)  # steps of decreasing price, oldest first
    head = 0
    tail = 0
    for step in range(n_points):
        price = prices[step]
        while tail > head and prices[queue[tail - 1]] <= price:
            tail -= 1
        queue[tail] = step
        tail += 1
        while queue[head] < step - window:
            head += 1
        fall = 1.0 - price / prices[queue[head]]
        base = gas_steps[step] if gas_steps.shape[0] > 0 else gas
        out[step] = base * (1.0 + slope * fall)


@kernel
def pool_proceeds(depth: float, used: float, value: float) -> float:
    """Quote a constant-product pool pays for collateral worth ``value`` at the market.

    The pool holds ``D = depth`` quote against ``D / P`` base at the market price
    ``P`` when rested; ``used`` is the market value of earlier sales not yet
    refilled. Selling ``value`` more yields ``D^2 v / ((D + s)(D + s + v))``
    quote (``s = used``, ``v = value``): ``D v / (D + v)`` from a rested pool.
    """
    return depth * depth * value / ((depth + used) * (depth + used + value))


@kernel
def impact_integral(knots: np.ndarray, first: int, end: int, sold: float) -> float:
    """``integral_0^sold i(u) du`` of a piecewise depth curve (quote units).

    ``knots[:, first:end]`` hold per knot the depth (value sold at the market, quote
    units, from 0, ascending), the price impact there (a fraction) and the integral of
    the impact up to that depth. Between knots the impact ``i`` is linear in the value
    sold; past the last knot it stays at the last impact.
    """
    knot = first
    while knot + 2 < end and knots[0, knot + 1] <= sold:
        knot += 1
    if sold >= knots[0, end - 1]:  # past the last knot: the last impact
        last = end - 1
        beyond: float = knots[2, last] + (sold - knots[0, last]) * knots[1, last]
        return beyond
    low, high = knots[0, knot], knots[0, knot + 1]
    impact = knots[1, knot] + (knots[1, knot + 1] - knots[1, knot]) * (sold - low) / (high - low)
    within: float = knots[2, knot] + (sold - low) * 0.5 * (knots[1, knot] + impact)
    return within


@kernel
def curve_proceeds(knots: np.ndarray, first: int, end: int, used: float, value: float) -> float:
    """Quote a piecewise depth curve pays for collateral worth ``value`` at the market.

    ``used`` is the market value of earlier sales not yet refilled: the sale runs
    along the curve from ``used`` to ``used + value`` and each unit sold at a
    price impact ``i`` pays ``1 - i`` of its value (docs/model.md 13.4).
    """
    return value - (
        impact_integral(knots, first, end, used + value) - impact_integral(knots, first, end, used)
    )
