"""A plain numpy reference of docs/model.md sections 3-6, independent of the kernels.

Per path it loops over the steps ``t = 0..T`` and evaluates, vectorized over the
positions still open, the breach in its *direct form* ``E_i,t < R_i,t`` with

    E_i,t = c_i + s_i q_i (P_t - e_i),      R_i,t = m_t q_i P_t

(no thresholds, no sorting, no prefix sums). Flagged positions are closed at
``tau_i = min(t_i + latency, T)`` at ``x_i = P_tau (1 - s_i slippage)``, their
penalty, bad debt and fund flows follow section 4, the fund walk section 5 and
the outputs section 6 (including ``requirement_mean`` and ``margin_rate_mean``,
with ``Q_t`` the quantity not flagged before step ``t``). Only
:mod:`stresstest.kernels.enums` (the column order) is taken from the package.

Cost: O(N x T) per path in numpy (single-threaded), so it is meant for a few
paths at a time - it is the yardstick the compiled engine is checked against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from stresstest.kernels import enums


@dataclass(frozen=True)
class ReferenceParams:
    """Scenario parameters the reference needs, as plain numbers (docs/model.md 3-5).

    ``margin_model`` is ``"static"`` or ``"vol_scaled"``; the vol-scaled fields
    are ignored for a static margin.
    """

    margin_model: str
    maintenance: float
    k: float
    horizon_steps: float
    ewma_lambda: float
    initial_variance: float
    floor: float
    cap: float
    latency_steps: int
    slippage: float
    fee: float
    liquidator_share: float
    fund_initial: float

    @classmethod
    def from_scenario(cls, scenario: Any) -> ReferenceParams:
        """Read the parameters from a validated scenario (its margin, liquidation, fund)."""
        margin = scenario.margin
        liquidation = scenario.liquidation
        common = {
            "latency_steps": int(liquidation.latency_steps),
            "slippage": float(liquidation.slippage),
            "fee": float(liquidation.fee),
            "liquidator_share": float(liquidation.liquidator_share),
            "fund_initial": float(scenario.insurance_fund.initial),
        }
        if margin.model == "static":
            return cls(
                margin_model="static",
                maintenance=float(margin.maintenance),
                k=0.0,
                horizon_steps=1.0,
                ewma_lambda=0.5,
                initial_variance=0.0,
                floor=0.0,
                cap=0.0,
                **common,
            )
        if margin.model == "vol_scaled":
            return cls(
                margin_model="vol_scaled",
                maintenance=0.0,
                k=float(margin.k),
                horizon_steps=float(margin.horizon_steps),
                ewma_lambda=float(margin.ewma_lambda),
                initial_variance=float(margin.initial_variance),
                floor=float(margin.floor),
                cap=float(margin.cap),
                **common,
            )
        raise ValueError(f"unknown margin model {margin.model!r}")


def margin_series(prices: np.ndarray, params: ReferenceParams) -> np.ndarray:
    """The maintenance rate ``m_t`` of one path, t = 0..T (docs/model.md section 3)."""
    n_points = prices.shape[0]
    if params.margin_model == "static":
        return np.full(n_points, params.maintenance)
    rates = np.empty(n_points)
    sqrt_horizon = math.sqrt(params.horizon_steps)
    variance = params.initial_variance
    for step in range(n_points):
        if step >= 1:
            log_return = math.log(prices[step] / prices[step - 1])
            variance = (
                params.ewma_lambda * variance + (1.0 - params.ewma_lambda) * log_return * log_return
            )
        rates[step] = min(
            params.cap, max(params.floor, params.k * math.sqrt(variance) * sqrt_horizon)
        )
    return rates


def walk_fund(
    fees_to_fund_by_step: np.ndarray, bad_debt_by_step: np.ndarray, initial: float
) -> dict[str, float]:
    """The insurance fund over steps 0..T (docs/model.md sections 5 and 6)."""
    fund = initial
    peak = initial
    fund_min = initial
    drawdown = 0.0
    socialized = 0.0
    net_flows = fees_to_fund_by_step - bad_debt_by_step
    for net in net_flows.tolist():
        fund += net
        if fund < 0.0:
            socialized += -fund
            fund = 0.0
        fund_min = min(fund_min, fund)
        peak = max(peak, fund)
        drawdown = max(drawdown, peak - fund)
    cumulative = np.cumsum(net_flows)
    required = max(0.0, float(np.max(-cumulative))) if cumulative.size else 0.0
    return {
        "fund_end": fund,
        "fund_min": fund_min,
        "fund_max_drawdown": drawdown,
        "socialized_loss": socialized,
        "fund_required": required,
    }


def reference_path(
    prices: np.ndarray,
    side: np.ndarray,
    qty: np.ndarray,
    entry_price: np.ndarray,
    collateral: np.ndarray,
    params: ReferenceParams,
) -> np.ndarray:
    """Metrics of one path (``N_METRICS`` values in ``METRIC_NAMES`` order).

    ``side`` is +1/-1, ``qty`` base units, ``entry_price`` quote per base,
    ``collateral`` quote units (the unsorted book).
    """
    prices = np.asarray(prices, dtype=np.float64)
    n_points = prices.shape[0]
    last_step = n_points - 1
    rates = margin_series(prices, params)
    # Positions still open, compressed whenever some are flagged.
    open_side = np.asarray(side, dtype=np.float64)
    open_qty = np.asarray(qty, dtype=np.float64)
    open_entry = np.asarray(entry_price, dtype=np.float64)
    open_collateral = np.asarray(collateral, dtype=np.float64)
    open_signed_qty = open_side * open_qty  # exact: the side is +-1
    fees_to_fund_by_step = np.zeros(n_points)
    bad_debt_by_step = np.zeros(n_points)
    n_liquidations = 0
    notional = 0.0
    bad_debt = 0.0
    to_fund = 0.0
    to_liquidators = 0.0
    open_qty_total = float(np.sum(open_qty))  # Q_t: quantity not flagged before step t
    requirement_sum = 0.0  # sum_t m_t P_t Q_t
    open_notional_sum = 0.0  # sum_t P_t Q_t
    equity = np.empty(open_qty.shape[0])
    requirement = np.empty(open_qty.shape[0])
    for step in range(n_points):
        price = prices[step]
        open_notional = price * open_qty_total
        requirement_sum += rates[step] * open_notional
        open_notional_sum += open_notional
        n_open = open_qty.shape[0]
        if n_open == 0:
            continue
        # E = c + s q (P - e)
        e_buf = equity[:n_open]
        np.subtract(price, open_entry, out=e_buf)
        np.multiply(open_signed_qty, e_buf, out=e_buf)
        np.add(open_collateral, e_buf, out=e_buf)
        # R = m q P
        r_buf = requirement[:n_open]
        np.multiply(rates[step], open_qty, out=r_buf)
        np.multiply(r_buf, price, out=r_buf)
        breach = e_buf < r_buf
        if not breach.any():
            continue
        close_step = min(step + params.latency_steps, last_step)
        s = open_side[breach]
        q = open_qty[breach]
        exit_price = prices[close_step] * (1.0 - s * params.slippage)
        remaining = open_collateral[breach] + open_signed_qty[breach] * (
            exit_price - open_entry[breach]
        )
        due = params.fee * q * exit_price
        paid = np.where(remaining >= due, due, np.where(remaining >= 0.0, remaining, 0.0))
        bad = np.maximum(0.0, -remaining)
        paid_total = float(np.sum(paid))
        bad_total = float(np.sum(bad))
        n_liquidations += int(s.shape[0])
        notional += float(np.sum(q * exit_price))
        bad_debt += bad_total
        to_fund += (1.0 - params.liquidator_share) * paid_total
        to_liquidators += params.liquidator_share * paid_total
        fees_to_fund_by_step[close_step] += (1.0 - params.liquidator_share) * paid_total
        bad_debt_by_step[close_step] += bad_total
        keep = ~breach
        open_side = open_side[keep]
        open_qty = open_qty[keep]
        open_entry = open_entry[keep]
        open_collateral = open_collateral[keep]
        open_signed_qty = open_signed_qty[keep]
        open_qty_total = float(np.sum(open_qty)) if open_qty.shape[0] else 0.0
    fund = walk_fund(fees_to_fund_by_step, bad_debt_by_step, params.fund_initial)
    values = {
        "n_liquidations": float(n_liquidations),
        "liquidated_notional": notional,
        "bad_debt": bad_debt,
        "fees_to_fund": to_fund,
        "fees_to_liquidators": to_liquidators,
        "requirement_mean": requirement_sum / n_points,
        "margin_rate_mean": requirement_sum / open_notional_sum if open_notional_sum > 0 else 0.0,
        **fund,
    }
    missing = [name for name in enums.METRIC_NAMES if name not in values]
    if missing:
        raise NotImplementedError(f"the numpy reference does not compute {missing}")
    return np.array([values[name] for name in enums.METRIC_NAMES])


def reference_metrics(
    prices: np.ndarray,
    side: np.ndarray,
    qty: np.ndarray,
    entry_price: np.ndarray,
    collateral: np.ndarray,
    params: ReferenceParams,
) -> np.ndarray:
    """Per-path metrics ``(n_paths, N_METRICS)`` for prices ``(n_paths, T + 1)``."""
    prices = np.atleast_2d(np.asarray(prices, dtype=np.float64))
    out = np.empty((prices.shape[0], len(enums.METRIC_NAMES)))
    for row in range(prices.shape[0]):
        out[row] = reference_path(prices[row], side, qty, entry_price, collateral, params)
    return out
