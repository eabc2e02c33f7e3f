"""Every static rate at which a measure (cost or risk) equals a target: scan, then bracket.

The measure of a static design need not be monotone in its rate. The average
requirement rises with the rate while the book stays open, then falls once the
rate liquidates most of the book at once (a rate of 0.5 closes every position of
2x leverage or more); ES99 of bad debt is a step function of the rate on a
finite sample. So a root search between the two ends of the interval can miss
matches that exist. :func:`find_matching_rates` evaluates the measure on a fixed
log-spaced grid of rates, then refines every sign change of ``measure - target``
between neighbouring grid rates with Brent's method, and returns every matching
rate it found, lowest first (docs/compare.md, "Matching").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: Search interval for the matched static maintenance rate (fraction of notional).
MATCH_BRACKET = (1e-4, 0.5)
#: Rates of the scan, log-spaced over ``MATCH_BRACKET`` (neighbours 1.7 times apart).
MATCH_GRID_POINTS = 17
#: Absolute tolerance of a matched rate (fraction of notional).
MATCH_XTOL = 1e-7


@dataclass(frozen=True)
class RateSearch:
    """What the search tried and found.

    Attributes
    ----------
    rates
        The scanned grid of static rates (fraction of notional), ascending.
    values
        The measure at each scanned rate (quote units).
    matching_rates
        Every matching rate found (fraction of notional), ascending; empty if none.
        A stretch of grid rates that all equal the target exactly is one match,
        its lowest rate.
    evaluations
        Static designs measured: the grid and every refining step (a design
        measured for an earlier match may be served without a replay,
        comparison/measuring.py).
    """

    rates: tuple[float, ...]
    values: tuple[float, ...]
    matching_rates: tuple[float, ...]
    evaluations: int


def scan_rates(
    bracket: tuple[float, float] = MATCH_BRACKET, points: int = MATCH_GRID_POINTS
) -> np.ndarray:
    """The scanned rates: ``points`` log-spaced rates from ``bracket[0]`` to ``bracket[1]``."""
    return np.geomspace(bracket[0], bracket[1], points)


def find_matching_rates(
    measure_many: Callable[[Sequence[float]], Sequence[float]],
    measure: Callable[[float], float],
    target: float,
    *,
    bracket: tuple[float, float] = MATCH_BRACKET,
    points: int = MATCH_GRID_POINTS,
    xtol: float = MATCH_XTOL,
) -> RateSearch:
    """Every static rate in ``bracket`` whose measure equals ``target``, lowest first.

    Parameters
    ----------
    measure_many
        The measure (quote units) at each of several rates, evaluated together
        (one replay of all of them on the same paths).
    measure
        The measure at one rate (fraction of notional).
    target
        The value to match (quote units).
    bracket, points
        The scanned grid (:func:`scan_rates`).
    xtol
        Absolute tolerance of a refined rate (fraction of notional).

    Returns
    -------
    RateSearch
        The grid, the measure on it and every matching rate found. Two matches
        between the same two neighbouring grid rates (a peak or a dip narrower
        than the grid) are not seen. Deterministic: a fixed grid, then Brent's
        method, which takes the same steps for the same values.
    """
    from scipy.optimize import brentq  # scipy only when designs are matched

    rates = scan_rates(bracket, points)
    values = [float(value) for value in measure_many([float(rate) for rate in rates])]
    evaluations = len(values)
    gaps = [value - target for value in values]

    def gap(rate: float) -> float:
        nonlocal evaluations
        evaluations += 1
        return measure(rate) - target

    found: list[float] = []
    for index, here in enumerate(gaps):
        before = gaps[index - 1] if index > 0 else None
        if here == 0.0:
            if before is None:
                found.append(float(rates[index]))
            elif before != 0.0:  # the lowest rate of this exact stretch
                found.append(_lowest_exact(gap, float(rates[index - 1]), float(rates[index]), xtol))
        elif before is not None and before != 0.0 and np.sign(before) != np.sign(here):
            low, high = float(rates[index - 1]), float(rates[index])
            found.append(float(brentq(gap, low, high, xtol=xtol)))
    return RateSearch(
        tuple(float(rate) for rate in rates), tuple(values), tuple(found), evaluations
    )


def _lowest_exact(gap: Callable[[float], float], low: float, high: float, xtol: float) -> float:
    """Bisect for the lowest rate in ``(low, high]`` whose gap is exactly zero.

    ``gap(low) != 0`` and ``gap(high) == 0``: a flat stretch of the measure at the
    target (for instance no bad debt at all) starts between them.
    """
    while high - low > xtol:
        middle = 0.5 * (low + high)
        if gap(middle) == 0.0:
            high = middle
        else:
            low = middle
    return high


def amount(value: float) -> str:
    """An amount of quote units for a message: ``57,012,345`` from 1,000 up, else 6 figures."""
    return f"{value:,.0f}" if abs(value) >= 1e3 else f"{value:.6g}"


def no_match_text(
    kind: str, target: float, search: RateSearch, bracket: tuple[float, float]
) -> str:
    """Why nothing matched: the interval, the grid and the lowest and highest measure met."""
    values = np.asarray(search.values)
    lowest, highest = int(np.argmin(values)), int(np.argmax(values))
    side = "below" if target > values[highest] else "above"
    return (
        f"no static rate in [{bracket[0]:g}, {bracket[1]:g}] has the same {kind} "
        f"({amount(target)} quote units): {len(values)} log-spaced rates scanned, the {kind} "
        f"ranged from {amount(values[lowest])} (rate {search.rates[lowest]:.6g}) to "
        f"{amount(values[highest])} (rate {search.rates[highest]:.6g}), all {side} the "
        f"target; no match"
    )
