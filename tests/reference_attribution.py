"""A plain Python reference of the attribution (docs/model.md 6b), position by position.

Each position's cohort is computed from its own leverage and notional; its breach
is evaluated in the direct form ``E_i,t < R_i,t`` (docs/model.md 4), as in
tests/reference.py, whose margin rates and penalty rule it reuses. Sums use
``math.fsum``. No numba.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

import numpy as np

from tests.reference import _penalty_paid, reference_margin_rates


def bucket(value: float, edges: tuple[float, ...]) -> int:
    """Left-closed bucket of ``value``: ``b`` with ``edges[b - 1] <= value < edges[b]``."""
    return bisect.bisect_right(edges, value)


def reference_attribution(
    prices: np.ndarray,
    side: np.ndarray,
    qty: np.ndarray,
    entry_price: np.ndarray,
    collateral: np.ndarray,
    margin: dict[str, Any],
    liquidation: tuple[int, float, float],
    edges: tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]],
) -> np.ndarray:
    """``(n_paths, slots, 4)``: count, notional, penalties paid and bad debt per slot.

    ``liquidation`` is ``(latency_steps, slippage, fee)``; ``edges`` is
    ``(leverage edges, notional edges, flag-step edges)``. Slots: long cohorts,
    short cohorts (``leverage_bucket x n_notional + notional_bucket`` each), then
    the flag-step buckets.
    """
    latency_steps, slippage, fee = liquidation
    leverage_edges, notional_edges, step_edges = edges
    n_notional = len(notional_edges) + 1
    n_side = (len(leverage_edges) + 1) * n_notional
    n_slots = 2 * n_side + len(step_edges) + 1
    prices = np.asarray(prices, dtype=float)
    n_paths, n_points = prices.shape
    parts: list[list[list[tuple[float, float, float]]]] = [
        [[] for _ in range(n_slots)] for _ in range(n_paths)
    ]
    for path in range(n_paths):
        rates = reference_margin_rates(prices[path], margin)
        for i in range(len(side)):
            s, q, e, c = float(side[i]), float(qty[i]), float(entry_price[i]), float(collateral[i])
            notional = q * e
            leverage = notional / c if c > 0.0 else math.inf
            cohort = bucket(leverage, leverage_edges) * n_notional + bucket(
                notional, notional_edges
            )
            cohort += 0 if s > 0 else n_side
            for t in range(n_points):
                price = float(prices[path, t])
                if not c + s * q * (price - e) < float(rates[t]) * q * price:
                    continue
                tau = min(t + latency_steps, n_points - 1)
                exit_price = float(prices[path, tau]) * (1.0 - s * slippage)
                remaining = c + s * q * (exit_price - e)
                close = (
                    q * exit_price,
                    _penalty_paid(remaining, fee * q * exit_price),
                    max(0.0, -remaining),
                )
                parts[path][cohort].append(close)
                parts[path][2 * n_side + bucket(float(t), step_edges)].append(close)
                break
    out = np.zeros((n_paths, n_slots, 4))
    for path in range(n_paths):
        for slot, closes in enumerate(parts[path]):
            out[path, slot, 0] = len(closes)
            for field in range(3):
                out[path, slot, field + 1] = math.fsum(close[field] for close in closes)
    return out
