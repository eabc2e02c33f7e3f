"""Plain Python references of the pipeline's per-step formulas (docs/model.md 9, 10.1).

The direct forms each stage of :mod:`tests.reference_mechanics` applies position
by position: the oracle price (9.1, :func:`oracle_price`), the price impact of a
step's net close (9.4, :func:`price_impact`), the liquidation fee (9.3,
:func:`liquidation_fee`), the maintenance or predictive trigger (9.2, 9.3,
:func:`breaches`), the close decisions of ``[partial_liquidation]`` (10.1,
:func:`target_rate`, :func:`partial_decision`, :func:`fraction_decision`) and a
path's metric row in the engine's column slots (:func:`metrics_row`). No numba.

Units: prices quote per base, quantities base units, money quote units.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

from stresstest.kernels.enums import METRIC_INDEX, N_METRICS_ALL

_COLUMN = METRIC_INDEX


def metrics_row(
    closes: list[tuple[float, float, float]],
    share: float,
    fund: dict[str, float],
    requirement_terms: list[float],
    open_notional_terms: list[float],
    n_points: int,
) -> np.ndarray:
    """A path's metric row from its closes ``(notional, penalty paid, bad debt)``, its
    fund summary and the per-step requirement and open-notional terms (quote units)."""
    row = np.zeros(N_METRICS_ALL)
    row[_COLUMN["n_liquidations"]] = len(closes)
    row[_COLUMN["liquidated_notional"]] = math.fsum(close[0] for close in closes)
    row[_COLUMN["bad_debt"]] = math.fsum(close[2] for close in closes)
    row[_COLUMN["fees_to_fund"]] = math.fsum((1.0 - share) * close[1] for close in closes)
    row[_COLUMN["fees_to_liquidators"]] = math.fsum(share * close[1] for close in closes)
    for name, value in fund.items():
        row[_COLUMN[name]] = value
    requirement_sum = math.fsum(requirement_terms)
    open_notional_sum = math.fsum(open_notional_terms)
    row[_COLUMN["requirement_mean"]] = requirement_sum / n_points
    row[_COLUMN["margin_rate_mean"]] = (
        requirement_sum / open_notional_sum if open_notional_sum > 0.0 else 0.0
    )
    return row


def oracle_price(
    market: list[float], ema: float, step: int, oracle: dict[str, Any] | None
) -> float:
    """``O_t`` (9.1) from the market prices ``P_0..P_t`` and the ema state."""
    if oracle is None:
        value = market[step]
    elif oracle["model"] == "lag":
        value = market[max(0, step - int(oracle.get("lag_steps", 0)))]
    elif oracle["model"] == "twap":
        window = market[max(0, step - int(oracle.get("twap_steps", 1)) + 1) : step + 1]
        value = math.fsum(window) / len(window)
    else:
        value = ema
    if oracle is not None and oracle.get("manipulation_step") is not None:
        first = int(oracle["manipulation_step"])
        if first <= step < first + int(oracle.get("manipulation_steps", 1)):
            value *= 1.0 + float(oracle.get("manipulation_size", 0.0))
    return value


def price_impact(notional: float, market: dict[str, Any]) -> float:
    """Log-price impact ``I`` of a net order of ``notional`` quote units (9.4)."""
    if market["impact"] == "linear":
        raw = 0.01 * notional / float(market["depth"])
    else:
        raw = float(market["coefficient"]) * math.sqrt(
            notional / float(market.get("reference_notional", 1_000_000.0))
        )
    return min(float(market.get("max_impact", 1.0)), raw)


def liquidation_fee(sigma: float, liquidation: dict[str, Any]) -> float:
    if liquidation.get("fee_model", "static") == "vol_scaled":
        raw = float(liquidation["fee_base"]) + float(liquidation["fee_k"]) * sigma
        return min(float(liquidation["fee_max"]), max(float(liquidation["fee_min"]), raw))
    return float(liquidation["fee"])


def breaches(
    s: float, q: float, e: float, c: float, oracle: float, rate: float, sigma: float, liq: dict
) -> tuple[bool, float]:
    """Whether the position is flagged now, and how far it is from the boundary (relative)."""
    if liq.get("trigger", "maintenance") == "maintenance":
        equity = c + s * q * (oracle - e)
        requirement = rate * q * oracle
        return equity < requirement, abs(equity - requirement) / (q * oracle)
    bankruptcy = e - s * c / q
    if bankruptcy <= 0.0:  # a long that cannot go bankrupt
        return False, math.inf
    distance = math.log(oracle / bankruptcy) if s > 0 else math.log(bankruptcy / oracle)
    horizon = liq.get("trigger_horizon_steps")
    horizon = liq["latency_steps"] if horizon is None else horizon
    scale = sigma * math.sqrt(horizon)
    if scale == 0.0:
        return distance < 0.0, abs(distance)
    probability = math.erfc(distance / (scale * math.sqrt(2.0)))  # 2 Phi(-d / scale)
    p_star = float(liq.get("trigger_probability", 0.05))
    # The boundary in log-price: d = z sigma sqrt(h), z = -Phi^-1(p* / 2).
    boundary = -NormalDist().inv_cdf(p_star / 2.0) * scale
    return probability > p_star, abs(distance - boundary)


def target_rate(side: float, rate: float, shift: float, buffer: float, predictive: bool) -> float:
    """The equity a partial close leaves, per unit of remaining notional at the mark (10.1).

    Maintenance trigger: ``m_tau + b``. Predictive trigger: the equity fraction at
    which the trigger fires at the mark, ``1 - exp(-z sigma sqrt(h))`` for a long and
    ``exp(z sigma sqrt(h)) - 1`` for a short (``shift = z sigma sqrt(h)``), plus ``b``.
    """
    if not predictive:
        return rate + buffer
    boundary = 1.0 - math.exp(-shift) if side > 0 else math.exp(shift) - 1.0
    return boundary + buffer


def partial_decision(
    s: float, q: float, e: float, c: float, x: float, y: float, rho: float, fee: float
) -> tuple[str, float, float]:
    """How a due position is closed at exit price ``x`` with the mark ``y`` (10.1, direct form).

    ``g(q') = A - q' D`` is the remaining equity at ``y`` minus ``rho q' y`` when
    ``q'`` is kept, ``A = E_x - fee q x``, ``D = rho y - s (y - x) - fee x``:
    ``"rearm"`` if ``g(q) >= 0`` (nothing closed), else ``"full"`` if ``A <= 0`` or
    ``D <= 0`` (no partial close meets the target), else ``"partial"`` keeping
    ``q' = A / D``. Returns the decision, ``q'`` and the relative distance from the
    nearest boundary.
    """
    equity_x = c + s * q * (x - e)
    equity_y = c + s * q * (y - e)
    a = equity_x - fee * q * x
    d = rho * y - s * (y - x) - fee * x
    kept_all = equity_y - rho * q * y
    gap = min(abs(kept_all) / (q * y), abs(a) / (q * x), abs(d) / x)
    if kept_all >= 0.0:
        return "rearm", q, gap
    if a <= 0.0 or d <= 0.0:
        return "full", 0.0, gap
    return "partial", a / d, gap


def fraction_decision(
    s: float,
    q: float,
    e: float,
    c: float,
    x: float,
    fee: float,
    in_breach: bool,
    notional: float,
    rule: dict[str, Any],
    in_cooldown: bool,
) -> tuple[str, float, float]:
    """How a due position is closed by the rule ``'fraction'`` (10.1, direct form).

    ``"rearm"`` if it is no longer in breach at the mark of the close step, else
    ``"full"`` if ``E_x - fee q x <= 0`` (the closed share could not pay its
    penalty), if its notional at the mark is at most ``min_notional``, during its
    cool-down or if ``f = 1``, else ``"partial"`` keeping ``q - f q``. Returns the
    decision, the quantity kept and the relative distance of ``E_x - fee q x`` and of
    the notional from their boundaries.
    """
    f = float(rule["fraction"])
    floor = float(rule.get("min_notional") or 0.0)
    a = c + s * q * (x - e) - fee * q * x
    gap = abs(a) / (q * x)
    if floor > 0.0:
        gap = min(gap, abs(notional - floor) / floor)
    if not in_breach:
        return "rearm", q, gap
    if a <= 0.0 or notional <= floor or in_cooldown or f >= 1.0:
        return "full", 0.0, gap
    return "partial", q - f * q, gap
