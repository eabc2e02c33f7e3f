"""The procyclicality measures of an accounts replay (docs/model.md 3.2 "With accounts").

The accounts kernels (the filtered :mod:`stresstest.kernels.cross` and the defence
kernel :mod:`stresstest.kernels.account_defences`) keep a path's measure here:

- the **book's rate** ``m_t = sum_a w_a m_a,t``, ``w_a`` asset ``a``'s share of the
  book's entry notional ``sum_k q_k e_k`` (fixed for the path), whose peak, trough and
  largest ``n``-step increase go to the tally of :mod:`stresstest.kernels.procyclicality`;
- each unit's closes (the legs counted in ``n_liquidations`` and the notional of
  ``liquidated_notional``), recorded as they are booked (:func:`close_counted` in the
  filtered kernel, :func:`close_sink` and :func:`close_booked` in the defence kernel);
- after the path, one plain pass of the breach test ``E_u,t < R_u,t`` with every
  asset's rate held at its step-0 value ``m_a,0``, on the run's marks, of each unit
  as opened (:func:`held_flags`); the closes of the units it never flags are the
  procyclical ones.

A measure that is off (``horizon_steps`` 0 in the margin vector, or the baseline
replay of ``[market]``) is empty arrays: nothing of size units is allocated and no
pass runs. With the measure on, memory ``O(U + A + n)`` per path and thread (two floats
per unit), cost ``O(A)`` per step for the book's rate plus the held pass: ``O(A T)``
for each asset's lowest and highest mark, ``O(L)`` per unit of ``L`` legs for a bound
that clears most units, and ``O(L T)`` direct checks (until the first breach) for the
units the bound does not clear.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.account_gap import unit_gap
from stresstest.kernels.fund import N_TOTALS, TOTAL_COUNT, TOTAL_NOTIONAL
from stresstest.kernels.jit import kernel
from stresstest.kernels.procyclicality import (
    add_procyclical,
    new_tally,
    track_rate,
    write_procyclicality,
)

#: Relative slack of the held pass's bound (of the unit's scale ``|c| + sum q (e + 2 O_max)``):
#: the direct form rounds at ~1e-16 relative per term, so a unit whose bound clears
#: this never breaches at the held rates; any other unit is checked step by step.
HELD_BOUND_SLACK = 1e-9

# The measure of a path (:func:`new_accounts_measure`): (tally, ring, weights, rates_0,
# closes (U, 3): legs and notional closed per unit and 1.0 once ADL changed a unit of
# several legs, scratch totals of one settlement).
Measure = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@kernel
def new_accounts_measure(
    margin: np.ndarray, units: tuple[np.ndarray, ...], n_assets: int, on: bool
) -> Measure:
    """A path's fresh measure; empty (off) unless ``on`` and ``[procyclicality]`` is set.

    ``margin[MARGIN_ARG_PROCYC_HORIZON]`` is ``n`` (0: off). ``units`` =
    ``(unit_start, pos_asset, pos_side, pos_qty, pos_entry, unit_collateral)`` as
    opened; the weights are ``w_a = sum_{k: a_k = a} q_k e_k / sum_k q_k e_k``
    (dimensionless, summed in position order).
    """
    horizon = int(margin[enums.MARGIN_ARG_PROCYC_HORIZON]) if on else 0
    tally, ring = new_tally(horizon)
    if horizon == 0:
        empty = np.empty(0)
        return tally, ring, empty, empty, np.empty((0, 3)), empty
    _, pos_asset, _, pos_qty, pos_entry, unit_collateral = units
    weights = np.zeros(n_assets)
    total = 0.0
    for position in range(pos_asset.shape[0]):
        notional = pos_qty[position] * pos_entry[position]
        weights[pos_asset[position]] += notional
        total += notional
    if total > 0.0:
        for asset in range(n_assets):
            weights[asset] /= total
    closes = np.zeros((unit_collateral.shape[0], 3))
    return tally, ring, weights, np.empty(n_assets), closes, np.zeros(N_TOTALS)


@kernel
def measured(measure: Measure) -> bool:
    """Whether the measure is on."""
    return bool(measure[1].shape[0] > 0)


@kernel
def track_book_rate(measure: Measure, step: int, rates_now: np.ndarray) -> None:
    """Add the book's rate ``m_t = sum_a w_a m_a,t`` (assets in order) to the tally.

    At step 0 every asset's rate ``m_a,0`` is kept for the held pass. Nothing when off.
    """
    tally, ring, weights, rates_0, _, _ = measure
    if ring.shape[0] == 0:
        return
    if step == 0:
        rates_0[:] = rates_now
    rate = 0.0
    for asset in range(rates_now.shape[0]):
        rate += weights[asset] * rates_now[asset]
    track_rate(tally, ring, step, rate)


@kernel
def close_sink(measure: Measure, totals: np.ndarray) -> np.ndarray:
    """The totals a unit's settlement books into: ``totals`` when off, else a zeroed scratch.

    A settlement books at most one close (``fund.record_close``), so
    :func:`close_booked` adding the scratch to ``totals`` gives ``totals`` the same bits.
    """
    scratch = measure[5]
    if scratch.shape[0] == 0:
        return totals
    scratch[:] = 0.0
    return scratch


@kernel
def close_counted(measure: Measure, unit: int, count: float, notional: float) -> None:
    """Add a unit's close (``count`` legs, ``notional`` quote units) to its closes.

    For a kernel that books the close into the totals itself (the filtered kernel of
    :mod:`stresstest.kernels.cross`): the same bits as :func:`close_sink` and
    :func:`close_booked`, which add a scratch holding only this close. Nothing when
    off, and no array is returned or passed per close: with :func:`close_sink` the
    filtered kernel measured some 8% slower with the measure off
    (docs/performance.md, issue 15 "Cross accounts with every stage available").
    """
    closes = measure[4]
    if closes.shape[0] == 0:
        return
    closes[unit, 0] += count
    closes[unit, 1] += notional


@kernel
def close_booked(measure: Measure, sink: np.ndarray, totals: np.ndarray, unit: int) -> None:
    """After a settlement into :func:`close_sink`'s ``sink``: add it to ``totals`` and
    to the unit's closes (legs, notional in quote units). Nothing when off."""
    if measure[5].shape[0] == 0:
        return
    for slot in range(totals.shape[0]):
        totals[slot] += sink[slot]
    close_counted(measure, unit, sink[TOTAL_COUNT], sink[TOTAL_NOTIONAL])


@kernel
def adl_changed(measure: Measure, changed: np.ndarray, unit_start: np.ndarray) -> None:
    """Mark the units of several legs whose legs ADL changed at this step (``changed``,
    unit indices): none of their closes counts (docs/model.md 3.2 "With accounts").

    A unit of one position keeps its breach price under ADL and is not marked. Nothing
    when off.
    """
    closes = measure[4]
    if closes.shape[0] == 0:
        return
    for unit in changed:
        if unit_start[unit + 1] - unit_start[unit] >= 2:
            closes[unit, 2] = 1.0


@kernel
def _cross(ox: float, oy: float, ax: float, ay: float, bx: float, by: float) -> float:
    """``(a - o) x (b - o)``: positive when ``o, a, b`` turn counter-clockwise."""
    return (ax - ox) * (by - oy) - (ay - oy) * (bx - ox)


@kernel
def pair_hull(x: np.ndarray, y: np.ndarray, hull: np.ndarray) -> int:
    """The vertices of the convex hull of the points ``(x_t, y_t)`` into ``hull``; their count.

    Andrew's monotone chain over the points sorted by ``x``, then ``y``; collinear
    points are dropped (a linear function's least value over the points is at a
    vertex). ``hull`` holds at least ``2 len(x)`` rows of ``(x, y)``.
    """
    order = np.argsort(y, kind="mergesort")
    order = order[np.argsort(x[order], kind="mergesort")]
    count = 0
    for rounds in range(2):  # the lower chain, then the upper one
        start = count
        for slot in range(x.shape[0]):
            point = order[slot] if rounds == 0 else order[x.shape[0] - 1 - slot]
            px = x[point]
            py = y[point]
            while count - start >= 2 and (
                _cross(
                    hull[count - 2, 0],
                    hull[count - 2, 1],
                    hull[count - 1, 0],
                    hull[count - 1, 1],
                    px,
                    py,
                )
                <= 0.0
            ):
                count -= 1
            hull[count, 0] = px
            hull[count, 1] = py
            count += 1
        count -= 1  # each chain's last point is the other's first
    return max(count, 1)


@kernel
def held_flags(
    marks: np.ndarray,
    rates_0: np.ndarray,
    brackets: np.ndarray,
    units: tuple[np.ndarray, ...],
) -> np.ndarray:
    """Whether each unit, as opened, breaches at some step with ``m_a,t = m_a,0`` held.

    The direct form of docs/model.md 11.3 (``account_gap.unit_gap`` with the held
    rates, the brackets' add-on included) on the marks ``O_a,t`` ``(A, T + 1)``. Without
    brackets the held gap of a unit in one or two assets is linear in the marks,
    ``K + sum_a W_a O_a,t`` (``K = c - sum_k s_k q_k e_k``, ``W_a = sum_{k: a_k = a} (s_k -
    m_a,0) q_k``), and its least value over the path is at an extreme mark (one asset)
    or at a vertex of the convex hull of the points ``(O_a,t, O_b,t)`` (two assets,
    :func:`pair_hull`, once per pair and path): above :data:`HELD_BOUND_SLACK` of the
    unit's scale the unit never breaches, below minus that it does. Otherwise (brackets,
    three or more assets) the bound ``K + sum_k min_t (s_k - m_a_k,0 - (r_B - r_0)) q_k
    O_a_k,t`` (``R_k <= (m_a,0 + r_B - r_0) q_k O``) clears the units above the slack.
    The units left are checked step by step until their first breach.
    """
    unit_start, pos_asset, pos_side, pos_qty, pos_entry, unit_collateral = units
    n_assets, n_points = marks.shape
    floors = brackets[0]
    table = brackets[1]
    amounts = brackets[2]
    premium = table.max() - table[0] if floors.shape[0] > 1 else 0.0
    lowest = np.empty(n_assets)
    highest = np.empty(n_assets)
    for asset in range(n_assets):
        lowest[asset] = marks[asset].min()
        highest[asset] = marks[asset].max()
    tiered = floors.shape[0] > 1
    # the hull of every pair of assets' marks (pair a < b at a * n_assets + b), without brackets
    n_pairs = n_assets * n_assets if not tiered and n_assets > 1 else 0
    hulls = np.empty((n_pairs, 2 * n_points, 2))
    hull_size = np.zeros(n_pairs, dtype=np.int64)
    for first in range(n_assets if n_pairs > 0 else 0):
        for second in range(first + 1, n_assets):
            pair = first * n_assets + second
            hull_size[pair] = pair_hull(marks[first], marks[second], hulls[pair])
    weights = np.zeros(n_assets)
    n_units = unit_collateral.shape[0]
    flagged = np.zeros(n_units, dtype=np.bool_)
    for unit in range(n_units):
        collateral = unit_collateral[unit]
        base = collateral  # K
        bound = 0.0  # sum_k min_t (s_k - m_a,0 - premium) q_k O_a,t
        scale = abs(collateral)
        first = -1
        second = -1
        many = False
        for position in range(unit_start[unit], unit_start[unit + 1]):
            asset = pos_asset[position]
            qty = pos_qty[position]
            side = pos_side[position]
            coefficient = (side - rates_0[asset] - premium) * qty
            base -= side * qty * pos_entry[position]
            bound += coefficient * (lowest[asset] if coefficient > 0.0 else highest[asset])
            scale += qty * (pos_entry[position] + 2.0 * highest[asset])
            if first < 0 or asset == first:
                first = asset
            elif second < 0 or asset == second:
                second = asset
            else:
                many = True
            weights[asset] = 0.0
        slack = HELD_BOUND_SLACK * scale
        if not tiered and not many:  # the least held gap over the path, exactly
            for position in range(unit_start[unit], unit_start[unit + 1]):
                asset = pos_asset[position]
                weights[asset] += (pos_side[position] - rates_0[asset]) * pos_qty[position]
            if second < 0:
                weight = weights[first]
                least = weight * (lowest[first] if weight > 0.0 else highest[first])
            else:
                low = min(first, second)
                high = max(first, second)
                pair = low * n_assets + high
                least = np.inf
                for vertex in range(hull_size[pair]):
                    value = weights[low] * hulls[pair, vertex, 0]
                    least = min(least, value + weights[high] * hulls[pair, vertex, 1])
            if base + least > slack:
                continue
            if base + least < -slack:
                flagged[unit] = True
                continue
        elif base + bound > slack:
            continue
        for step in range(n_points):
            equity, requirement = unit_gap(
                unit,
                step,
                marks,
                rates_0,
                floors,
                table,
                amounts,
                unit_start,
                pos_asset,
                pos_side,
                pos_qty,
                pos_entry,
                unit_collateral,
            )
            if equity < requirement:
                flagged[unit] = True
                break
    return flagged


@kernel
def finish_accounts_measure(
    measure: Measure,
    marks: np.ndarray,
    brackets: np.ndarray,
    units: tuple[np.ndarray, ...],
    predictive: bool,
    out_row: np.ndarray,
) -> None:
    """Write the procyclicality columns of the path (nothing when off).

    ``procyclical_liquidations`` and ``procyclical_notional`` sum, in unit order, the
    closes of the units :func:`held_flags` never flags (``units`` as opened, the run's
    marks) and ADL never changed (:func:`adl_changed`); under the predictive trigger the
    breach does not read the rates and both are 0 (no pass runs).
    """
    tally, ring, _, rates_0, closes, _ = measure
    if ring.shape[0] == 0:
        return
    if not predictive:
        flagged = held_flags(marks, rates_0, brackets, units)
        for unit in range(closes.shape[0]):
            if not flagged[unit] and closes[unit, 2] == 0.0 and closes[unit, 0] > 0.0:
                add_procyclical(tally, closes[unit, 0], closes[unit, 1], 1.0)
    write_procyclicality(tally, out_row)
