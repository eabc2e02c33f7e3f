"""A plain Python reference of the crash mechanisms, written from docs/model.md section 9.

Position by position and step by step, in the direct form: the maintenance
breach is ``E_i,t < R_i,t`` at the oracle price, the predictive trigger compares
the first-passage probability ``2 Phi(-d / (sigma sqrt(h)))`` (computed with
``math.erfc``) with ``p*``, and every close of a step is priced from the
``math.fsum`` of the quantities closing at it. No numba and no sorted book.

Units: prices quote per base, quantities base units, money quote units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from stresstest.kernels.enums import METRIC_NAMES, N_METRICS
from tests.reference import _fund_walk, _penalty_paid, reference_margin_rates

_COLUMN = {name: index for index, name in enumerate(METRIC_NAMES)}


@dataclass(frozen=True)
class Mechanisms:
    """The scenario's tables as plain dicts (defaults filled as docs/model.md 9 says).

    ``liquidation`` holds every ``[liquidation]`` key; ``oracle`` and ``market``
    are the tables or ``None``.
    """

    margin: dict[str, Any]
    liquidation: dict[str, Any]
    oracle: dict[str, Any] | None = None
    market: dict[str, Any] | None = None
    fund_initial: float = 0.0


def _sigma_series(market: list[float], mechanisms: Mechanisms) -> float:
    """``sigma_t`` at the last step of ``market``: sqrt of the EWMA variance (9.2)."""
    liquidation = mechanisms.liquidation
    margin = mechanisms.margin
    decay = liquidation.get("vol_ewma_lambda")
    start = liquidation.get("vol_initial_variance")
    if decay is None:
        decay = margin["ewma_lambda"] if margin["model"] == "vol_scaled" else 0.5
    if start is None:
        start = margin["initial_variance"] if margin["model"] == "vol_scaled" else 0.0
    as_margin = {
        "model": "vol_scaled",
        "k": 1.0,
        "horizon_steps": 1,
        "ewma_lambda": decay,
        "initial_variance": start,
        "floor": 0.0,
        "cap": math.inf,
    }
    return float(reference_margin_rates(np.array(market), as_margin)[-1])


def _oracle(market: list[float], ema: float, step: int, oracle: dict[str, Any] | None) -> float:
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


def _impact(notional: float, market: dict[str, Any]) -> float:
    """Log-price impact ``I`` of a net order of ``notional`` quote units (9.4)."""
    if market["impact"] == "linear":
        raw = 0.01 * notional / float(market["depth"])
    else:
        raw = float(market["coefficient"]) * math.sqrt(
            notional / float(market.get("reference_notional", 1_000_000.0))
        )
    return min(float(market.get("max_impact", 1.0)), raw)


def _fee(sigma: float, liquidation: dict[str, Any]) -> float:
    if liquidation.get("fee_model", "static") == "vol_scaled":
        raw = float(liquidation["fee_base"]) + float(liquidation["fee_k"]) * sigma
        return min(float(liquidation["fee_max"]), max(float(liquidation["fee_min"]), raw))
    return float(liquidation["fee"])


def _breaches(
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


def _replay_one(
    prices: list[float],
    book: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    mechanisms: Mechanisms,
    with_impact: bool,
    baseline_flag_step: list[int] | None,
) -> tuple[np.ndarray, list[int], int, float]:
    """One path: metrics row, each position's flag step (large if never), depth, min gap."""
    side, qty, entry, collateral = book
    liq = mechanisms.liquidation
    market_table = mechanisms.market
    n_points = len(prices)
    last = n_points - 1
    n = len(side)
    never = n_points + 1
    flag_step = [never] * n
    market: list[float] = []
    factor = 1.0
    ema = 0.0
    impact_generation = 0
    generation_of_step = [0] * n_points
    depth = 0
    gap = math.inf
    closes: list[tuple[float, float, float]] = []
    to_fund_by_step: list[list[float]] = [[] for _ in range(n_points)]
    bad_by_step: list[list[float]] = [[] for _ in range(n_points)]
    requirement_terms: list[float] = []
    open_notional_terms: list[float] = []
    decay = float(mechanisms.oracle.get("ema_lambda", 0.0)) if mechanisms.oracle else 0.0
    for t in range(n_points):
        price = prices[t] * factor
        market.append(price)
        ema = price if t == 0 else decay * ema + (1.0 - decay) * price
        oracle = _oracle(market, ema, t, mechanisms.oracle)
        rate = float(reference_margin_rates(np.array(market), mechanisms.margin)[-1])
        sigma = _sigma_series(market, mechanisms)
        open_qty = math.fsum(float(qty[i]) for i in range(n) if flag_step[i] == never)
        requirement_terms.append(rate * oracle * open_qty)
        open_notional_terms.append(oracle * open_qty)
        caused = False
        for i in range(n):
            if flag_step[i] != never:
                continue
            hit, distance = _breaches(
                float(side[i]),
                float(qty[i]),
                float(entry[i]),
                float(collateral[i]),
                oracle,
                rate,
                sigma,
                liq,
            )
            gap = min(gap, distance)
            if hit:
                flag_step[i] = t
                if with_impact and baseline_flag_step is not None and baseline_flag_step[i] > t:
                    caused = True
        generation_of_step[t] = impact_generation + 1 if caused else 0
        depth = max(depth, generation_of_step[t])
        closing = [
            i
            for i in range(n)
            if flag_step[i] != never and min(flag_step[i] + liq["latency_steps"], last) == t
        ]
        if not closing:
            continue
        execution = price
        impact = 0.0
        direction = -1.0
        if with_impact and market_table is not None:
            net = math.fsum(float(side[i]) * -1.0 * float(qty[i]) for i in closing)
            direction = 1.0 if net > 0.0 else -1.0
            impact = _impact(price * abs(net), market_table)
            execution = price * math.exp(direction * impact)
        fee = _fee(sigma, liq)
        for i in closing:
            s = float(side[i])
            q = float(qty[i])
            x = execution * (1.0 - s * liq["slippage"])
            remaining = float(collateral[i]) + s * q * (x - float(entry[i]))
            paid = _penalty_paid(remaining, fee * q * x)
            bad = max(0.0, -remaining)
            closes.append((q * x, paid, bad))
            to_fund_by_step[t].append((1.0 - liq["liquidator_share"]) * paid)
            bad_by_step[t].append(bad)
        permanent = float(market_table.get("permanent_fraction", 0.0)) if market_table else 0.0
        if with_impact and permanent * impact > 0.0:
            factor *= math.exp(direction * permanent * impact)
            impact_generation = max(
                [impact_generation, *(generation_of_step[flag_step[i]] for i in closing)]
            )
    row = np.zeros(N_METRICS)
    share = liq["liquidator_share"]
    row[_COLUMN["n_liquidations"]] = len(closes)
    row[_COLUMN["liquidated_notional"]] = math.fsum(close[0] for close in closes)
    row[_COLUMN["bad_debt"]] = math.fsum(close[2] for close in closes)
    row[_COLUMN["fees_to_fund"]] = math.fsum((1.0 - share) * close[1] for close in closes)
    row[_COLUMN["fees_to_liquidators"]] = math.fsum(share * close[1] for close in closes)
    fund = _fund_walk(
        [math.fsum(values) for values in to_fund_by_step],
        [math.fsum(values) for values in bad_by_step],
        mechanisms.fund_initial,
    )
    for name, value in fund.items():
        row[_COLUMN[name]] = value
    requirement_sum = math.fsum(requirement_terms)
    open_notional_sum = math.fsum(open_notional_terms)
    row[_COLUMN["requirement_mean"]] = requirement_sum / n_points
    row[_COLUMN["margin_rate_mean"]] = (
        requirement_sum / open_notional_sum if open_notional_sum > 0.0 else 0.0
    )
    return row, flag_step, depth, gap


def reference_mechanics(
    prices: np.ndarray,
    side: np.ndarray,
    qty: np.ndarray,
    entry_price: np.ndarray,
    collateral: np.ndarray,
    mechanisms: Mechanisms,
) -> tuple[np.ndarray, float]:
    """Per-path metrics and the smallest breach gap over every path, position and step.

    Returns ``(n_paths, N_METRICS)`` (``N_METRICS + 2`` with a ``[market]`` table:
    ``cascade_depth``, ``impact_bad_debt``), unsorted book, ``side`` +1 / -1.
    The gap is the smallest relative distance of any open position to its trigger
    (``|E - R| / (q O)``, or ``|d - z sigma sqrt(h)|`` in log-price for the predictive
    trigger): where it is tiny the engine's
    threshold form may flag a step apart, a rounding tie rather than a test.
    """
    prices = np.asarray(prices, dtype=float)
    book = (side, qty, entry_price, collateral)
    width = N_METRICS + (2 if mechanisms.market is not None else 0)
    out = np.zeros((prices.shape[0], width))
    gap = math.inf
    for path in range(prices.shape[0]):
        path_prices = [float(value) for value in prices[path]]
        row, flags, _, path_gap = _replay_one(path_prices, book, mechanisms, False, None)
        gap = min(gap, path_gap)
        if mechanisms.market is None:
            out[path] = row
            continue
        impacted, _, depth, impacted_gap = _replay_one(path_prices, book, mechanisms, True, flags)
        gap = min(gap, impacted_gap)
        out[path, :N_METRICS] = impacted
        out[path, N_METRICS] = depth
        out[path, N_METRICS + 1] = impacted[_COLUMN["bad_debt"]] - row[_COLUMN["bad_debt"]]
    return out, gap
