"""A plain Python reference of the APC margin options and the procyclicality columns.

Written from docs/model.md 3.1 and 3.2: the rate series step by step with
``math`` functions, and the liquidations "caused by margin increases alone"
position by position in the direct form ``E_i,t < R_i,t`` (docs/model.md 4),
once with the design's rates and once with ``m_0`` held constant. No numba.

Units: prices quote per base, quantities base units, money quote units.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def reference_apc_rates(
    prices: np.ndarray, margin: dict[str, Any], vol_floor_variance: float = 0.0
) -> np.ndarray:
    """``m_t`` of vol-scaled margin with the APC options of docs/model.md 3.1.

    ``margin`` is the ``[margin]`` table (``apc_buffer``, ``stressed_weight``,
    ``stressed_variance`` optional); ``vol_floor_variance`` the resolved floor ``f``.
    """
    k = float(margin["k"])
    sqrt_horizon = math.sqrt(float(margin["horizon_steps"]))
    decay = float(margin["ewma_lambda"])
    buffer = float(margin.get("apc_buffer") or 0.0)
    weight = float(margin.get("stressed_weight") or 0.0)
    given = margin.get("stressed_variance")
    variance = float(margin["initial_variance"])
    running_max = 0.0
    rates = np.empty(len(prices))
    for t in range(len(prices)):
        if t >= 1:
            log_return = math.log(float(prices[t]) / float(prices[t - 1]))
            variance = decay * variance + (1.0 - decay) * log_return * log_return
        floored = max(variance, vol_floor_variance)
        running_max = max(running_max, floored)
        stressed = running_max if given is None else float(given)
        sigma = (1.0 - weight) * math.sqrt(floored) + weight * math.sqrt(stressed)
        model = min(float(margin["cap"]), max(float(margin["floor"]), k * sigma * sqrt_horizon))
        if t == 0:
            rates[t] = (1.0 + buffer) * model
        else:
            rates[t] = min((1.0 + buffer) * model, max(model, float(rates[t - 1])))
    return rates


def reference_rate_measures(rates: np.ndarray, horizon: int) -> tuple[float, float]:
    """``(peak_to_trough, max_increase)`` of one path's rates (docs/model.md 3.2)."""
    values = [float(rate) for rate in rates]
    ratio = max(values) / min(values)
    increases = [
        (values[t + horizon] - values[t]) / values[t] for t in range(len(values) - horizon)
    ]
    return ratio, (max(increases) if increases else 0.0)


def _first_breach(
    prices: list[float], rates: list[float], s: float, q: float, e: float, c: float
) -> int | None:
    for t, (price, rate) in enumerate(zip(prices, rates, strict=True)):
        if c + s * q * (price - e) < rate * q * price:
            return t
    return None


def reference_procyclical_closes(
    prices: np.ndarray,
    rates: np.ndarray,
    book: Any,
    latency_steps: int,
    slippage: float,
) -> tuple[int, float]:
    """``(count, notional)`` of the positions flagged with ``rates`` but not with ``m_0`` held.

    ``book`` has ``side, qty, entry_price, collateral``; the notional is ``q_i x_i``
    at the close the design makes (docs/model.md 4), summed with ``math.fsum``.
    """
    path = [float(price) for price in prices]
    design = [float(rate) for rate in rates]
    held = [design[0]] * len(design)
    last = len(path) - 1
    count = 0
    notional: list[float] = []
    for i in range(len(book.side)):
        s = float(book.side[i])
        q = float(book.qty[i])
        e = float(book.entry_price[i])
        c = float(book.collateral[i])
        flagged = _first_breach(path, design, s, q, e, c)
        if flagged is None or _first_breach(path, held, s, q, e, c) is not None:
            continue
        count += 1
        notional.append(q * path[min(flagged + latency_steps, last)] * (1.0 - s * slippage))
    return count, math.fsum(notional)


def smallest_gap(prices: np.ndarray, rates: np.ndarray, book: Any) -> float:
    """Smallest ``|E_i,t - R_i,t| / (q_i P_t)`` over positions and steps, at ``rates`` and at
    ``m_0`` held: below about 1e-9 the engine's threshold form may round the other way."""
    smallest = math.inf
    for series in (rates, np.full(len(rates), float(rates[0]))):
        for i in range(len(book.side)):
            s = float(book.side[i])
            q = float(book.qty[i])
            e = float(book.entry_price[i])
            c = float(book.collateral[i])
            for price, rate in zip(prices, series, strict=True):
                p = float(price)
                gap = c + s * q * (p - e) - float(rate) * q * p
                smallest = min(smallest, abs(gap) / (q * p))
    return smallest


def reference_staged_measures(
    rates: list[float],
    marks: list[float],
    market_closes: list[tuple[int, float, float]],
    book: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    horizon: int,
    predictive: bool,
) -> tuple[dict[str, float], float]:
    """The procyclicality columns of a staged run (docs/model.md 3.2, 12), and a near-tie gap.

    ``rates`` and ``marks`` are the run's ``m_t`` and ``O_t``; ``market_closes`` its
    liquidations sold at the market as ``(position, q, x)`` (the backstop vault's
    takeovers are not liquidations; with partial liquidation every close, partial or
    in full, with the quantity it closed, so a position may appear several times). A
    close counts when the position, as it was before any close (``side, qty,
    entry_price, collateral`` of ``book``), breaches at no step in the direct form
    ``E < R`` with the rate held at ``m_0`` on the same marks; under the predictive
    trigger the breach does not read the rate and none counts. The gap is the smallest
    ``|E - R| / (q O)`` of those comparisons.
    """
    ratio, increase = reference_rate_measures(np.array(rates), horizon)
    held = rates[0]
    side, qty, entry, collateral = book
    count = 0
    notional: list[float] = []
    gap = math.inf
    for i, q_closed, exit_price in market_closes:
        if predictive:
            continue
        s, q, e, c = float(side[i]), float(qty[i]), float(entry[i]), float(collateral[i])
        margins = [c + s * q * (mark - e) - held * q * mark for mark in marks]
        gap = min(gap, *(abs(m) / (q * mark) for m, mark in zip(margins, marks, strict=True)))
        if all(m >= 0.0 for m in margins):
            count += 1
            notional.append(q_closed * exit_price)
    columns = {
        "margin_peak_to_trough": ratio,
        "margin_max_increase": increase,
        "procyclical_liquidations": float(count),
        "procyclical_notional": math.fsum(notional),
    }
    return columns, gap
