"""A plain Python reference of the procyclicality columns of an accounts run.

Written from docs/model.md 3.2 "With accounts": the book's rate ``m_t = sum_a w_a
m_a,t`` with ``w_a`` asset ``a``'s share of the book's entry notional, its peak to
trough and largest ``n``-step increase; and the closes of the units that, **as
opened**, breach at no step in the direct form ``E_u,t < R_u,t`` (11.3, brackets of
11.4 included) with every asset's rate held at ``m_a,0``, on the run's marks. Unit
by unit, step by step, sums with ``math.fsum``; no numba, no bound, no early exit.

Units: prices quote per base, quantities base units, money quote units.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tests.reference_procyclicality import reference_rate_measures


def reference_account_measures(
    rates: list[Any],
    marks: list[list[float]],
    units: list[list[int]],
    book: dict[str, np.ndarray],
    closes: list[tuple[int, float, float]],
    horizon: int,
    predictive: bool,
    requirement: Any,
) -> tuple[dict[str, float], float]:
    """The four ``[procyclicality]`` columns of one path, and the nearest tie.

    ``rates[a][t]`` and ``marks[a][t]`` are the run's posted rates ``m_a,t`` and marks
    ``O_a,t``; ``units`` the rows of each margin unit; ``closes`` every close the run
    made as ``(unit, legs closed, notional closed)`` (partial and full; the vault's
    takeovers and ADL are not closes); ``requirement(notional, rate)`` a leg's
    requirement (``rate n``, or the brackets with the add-on). Under the predictive
    trigger the breach does not read the rates and no close counts. The second value
    is the smallest ``|E - R| / sum q O`` of the held comparisons (``inf`` if none).
    """
    n_assets = len(rates)
    n_points = len(marks[0])
    asset = [int(v) for v in book["asset"]]
    side = [float(v) for v in book["side"]]
    qty = [float(v) for v in book["qty"]]
    entry = [float(v) for v in book["entry_price"]]
    collateral = [float(v) for v in book["collateral"]]
    total = math.fsum(q * e for q, e in zip(qty, entry, strict=True))
    weights = [
        math.fsum(qty[k] * entry[k] for k in range(len(qty)) if asset[k] == a) / total
        for a in range(n_assets)
    ]
    book_rate = [
        math.fsum(weights[a] * float(rates[a][t]) for a in range(n_assets)) for t in range(n_points)
    ]
    ratio, increase = reference_rate_measures(np.array(book_rate), horizon)
    columns = {
        "margin_peak_to_trough": ratio,
        "margin_max_increase": increase,
        "procyclical_liquidations": 0.0,
        "procyclical_notional": 0.0,
    }
    if predictive:
        return columns, math.inf
    held = [float(rates[a][0]) for a in range(n_assets)]
    flagged = []
    gap = math.inf
    for rows in units:
        breached = False
        for t in range(n_points):
            equity = [math.fsum(collateral[k] for k in rows)]
            required = []
            notional = []
            for k in rows:
                mark = marks[asset[k]][t]
                equity.append(side[k] * qty[k] * (mark - entry[k]))
                required.append(requirement(qty[k] * mark, held[asset[k]]))
                notional.append(qty[k] * mark)
            difference = math.fsum(equity) - math.fsum(required)
            gap = min(gap, abs(difference) / math.fsum(notional))
            breached = breached or difference < 0.0
        flagged.append(breached)
    counted = [(legs, notional) for unit, legs, notional in closes if not flagged[unit]]
    columns["procyclical_liquidations"] = float(sum(legs for legs, _ in counted))
    columns["procyclical_notional"] = math.fsum(notional for _, notional in counted)
    return columns, gap
