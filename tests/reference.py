"""A plain Python reference of the replay, written from docs/model.md sections 3-6.

One loop per path, per step, per position; the breach is evaluated in its direct
form ``E_i,t < R_i,t`` (docs/model.md 4), not in the engine's threshold form (4.1).
Sums over positions use ``math.fsum`` so that the reference is at least as
accurate as the engine. No numba: this is what the compiled kernels are checked
against.

Units: prices quote per base, quantities base units, money quote units.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stresstest.kernels.enums import METRIC_NAMES, N_METRICS

_COLUMN = {name: index for index, name in enumerate(METRIC_NAMES)}


def reference_margin_rates(prices: np.ndarray, margin: dict[str, Any]) -> np.ndarray:
    """Maintenance rate ``m_t`` for ``t = 0..T`` of one path (docs/model.md 3).

    ``margin`` is the scenario's ``[margin]`` table: ``{"model": "static",
    "maintenance": m}`` or ``{"model": "vol_scaled", "k", "horizon_steps",
    "ewma_lambda", "initial_variance", "floor", "cap"}``.
    """
    n_points = len(prices)
    if margin["model"] == "static":
        return np.full(n_points, float(margin["maintenance"]))
    if margin["model"] != "vol_scaled":
        raise ValueError(f"unknown margin model {margin['model']!r}")
    k = float(margin["k"])
    horizon = float(margin["horizon_steps"])
    decay = float(margin["ewma_lambda"])
    floor = float(margin["floor"])
    cap = float(margin["cap"])
    rates = np.empty(n_points)
    variance = float(margin["initial_variance"])  # v_0
    for t in range(n_points):
        if t >= 1:
            log_return = math.log(float(prices[t]) / float(prices[t - 1]))
            variance = decay * variance + (1.0 - decay) * log_return * log_return
        rates[t] = min(cap, max(floor, k * math.sqrt(variance) * math.sqrt(horizon)))
    return rates


def _penalty_paid(remaining: float, due: float) -> float:
    """``f_i``: the penalty paid out of the remaining equity ``e'_i`` (docs/model.md 4)."""
    if remaining >= due:
        return due
    if remaining >= 0.0:
        return remaining
    return 0.0


def _fund_walk(
    to_fund_by_step: list[float], bad_debt_by_step: list[float], fund_initial: float
) -> dict[str, float]:
    """The insurance fund of one path (docs/model.md 5 and the fund columns of 6)."""
    fund = fund_initial
    fund_min = fund_initial
    peak = fund_initial
    max_drawdown = 0.0
    socialized = 0.0
    cumulative = 0.0  # C_t
    required = 0.0
    for to_fund, bad in zip(to_fund_by_step, bad_debt_by_step, strict=True):
        net = to_fund - bad  # penalties and bad debt of the same step are netted first
        fund = fund + net
        cumulative += net
        required = max(required, -cumulative)
        if fund < 0.0:
            socialized += -fund
            fund = 0.0
        fund_min = min(fund_min, fund)
        peak = max(peak, fund)
        max_drawdown = max(max_drawdown, peak - fund)
    return {
        "fund_end": fund,
        "fund_min": fund_min,
        "fund_max_drawdown": max_drawdown,
        "socialized_loss": socialized,
        "fund_required": required,
    }


def reference_replay(
    prices: np.ndarray,
    side: np.ndarray,
    qty: np.ndarray,
    entry_price: np.ndarray,
    collateral: np.ndarray,
    margin: dict[str, Any],
    latency_steps: int,
    slippage: float,
    fee: float,
    liquidator_share: float,
    fund_initial: float,
) -> np.ndarray:
    """Per-path metrics ``(n_paths, N_METRICS)`` in ``METRIC_NAMES`` order.

    ``prices`` is ``(n_paths, T + 1)``; the book is unsorted, ``side`` +1 long / -1 short.
    """
    prices = np.asarray(prices, dtype=float)
    n_paths, n_points = prices.shape
    last = n_points - 1
    n_positions = len(side)
    out = np.zeros((n_paths, N_METRICS))
    for path in range(n_paths):
        path_prices = [float(value) for value in prices[path]]
        rates = reference_margin_rates(prices[path], margin)
        is_open = [True] * n_positions  # not flagged yet
        closes: list[tuple[float, float, float]] = []  # (notional, paid, bad debt)
        to_fund_by_step: list[list[float]] = [[] for _ in range(n_points)]
        bad_debt_by_step: list[list[float]] = [[] for _ in range(n_points)]
        requirement_terms: list[float] = []
        open_notional_terms: list[float] = []
        for t in range(n_points):
            price = path_prices[t]
            rate = float(rates[t])
            # Q_t: positions not flagged before t (those flagged at t still count at t).
            open_qty = math.fsum(float(qty[i]) for i in range(n_positions) if is_open[i])
            requirement_terms.append(rate * price * open_qty)
            open_notional_terms.append(price * open_qty)
            for i in range(n_positions):
                if not is_open[i]:
                    continue
                s = float(side[i])
                q = float(qty[i])
                e = float(entry_price[i])
                c = float(collateral[i])
                equity = c + s * q * (price - e)
                requirement = rate * q * price
                if not equity < requirement:
                    continue
                is_open[i] = False  # first breach: closed at tau, never checked again
                tau = min(t + latency_steps, last)
                exit_price = path_prices[tau] * (1.0 - s * slippage)
                remaining = c + s * q * (exit_price - e)
                due = fee * q * exit_price
                paid = _penalty_paid(remaining, due)
                bad = max(0.0, -remaining)
                closes.append((q * exit_price, paid, bad))
                to_fund_by_step[tau].append((1.0 - liquidator_share) * paid)
                bad_debt_by_step[tau].append(bad)
        row = out[path]
        row[_COLUMN["n_liquidations"]] = len(closes)
        row[_COLUMN["liquidated_notional"]] = math.fsum(close[0] for close in closes)
        row[_COLUMN["bad_debt"]] = math.fsum(close[2] for close in closes)
        row[_COLUMN["fees_to_fund"]] = math.fsum(
            (1.0 - liquidator_share) * close[1] for close in closes
        )
        row[_COLUMN["fees_to_liquidators"]] = math.fsum(
            liquidator_share * close[1] for close in closes
        )
        fund = _fund_walk(
            [math.fsum(values) for values in to_fund_by_step],
            [math.fsum(values) for values in bad_debt_by_step],
            fund_initial,
        )
        for name, value in fund.items():
            row[_COLUMN[name]] = value
        requirement_sum = math.fsum(requirement_terms)
        open_notional_sum = math.fsum(open_notional_terms)
        row[_COLUMN["requirement_mean"]] = requirement_sum / n_points
        row[_COLUMN["margin_rate_mean"]] = (
            requirement_sum / open_notional_sum if open_notional_sum > 0.0 else 0.0
        )
    return out


def smallest_breach_gap(
    prices: np.ndarray,
    side: np.ndarray,
    qty: np.ndarray,
    entry_price: np.ndarray,
    collateral: np.ndarray,
    margin: dict[str, Any],
) -> float:
    """Smallest ``|E_i,t - R_i,t| / (q_i P_t)`` over every path, position and step up
    to and including the position's first breach (``inf`` for an empty book).

    Where this is tiny, the direct form ``E < R`` and the engine's threshold form
    (docs/model.md 4.1) may round to different answers, so a comparison is a
    near-tie rather than a test of the model.
    """
    prices = np.asarray(prices, dtype=float)
    smallest = math.inf
    for path in range(prices.shape[0]):
        rates = reference_margin_rates(prices[path], margin)
        for i in range(len(side)):
            s = float(side[i])
            q = float(qty[i])
            e = float(entry_price[i])
            c = float(collateral[i])
            for t in range(prices.shape[1]):
                price = float(prices[path, t])
                equity = c + s * q * (price - e)
                requirement = float(rates[t]) * q * price
                smallest = min(smallest, abs(equity - requirement) / (q * price))
                if equity < requirement:
                    break
    return smallest
