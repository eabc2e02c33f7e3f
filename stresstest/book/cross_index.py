"""The cross-margin filter index: margin units binned by breach direction, sorted by distance.

See :mod:`stresstest.kernels.cross` and docs/model.md 11.5. For a unit in at
most two assets ``(a, b)`` with static rate bound ``m_bar``, its breach region
lies in the half-plane ``u_theta . y > h`` of the scaled prices
``y = (P_a / R_a, P_b / R_b)``. Units of one asset pair are sorted by the angle
``theta`` of their half-plane's normal, cut into groups of ``group_size``
consecutive angles, and sorted by ``h`` inside a group; the kernel releases each
group's sorted list as the group's bound reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stresstest.book.accounts import MarginUnits
from stresstest.kernels.brackets import bracket_liquidation_price

#: Units per group. A group spans the angles of its own units (equal-count groups, so
#: narrow where units are dense); the kernel's bound overshoots a unit's projection by
#: at most |y| times the group's angular width, and costs O(1) per open group and step.
DEFAULT_GROUP_SIZE = 64


@dataclass(frozen=True)
class CrossIndex:
    """Units reordered for the kernel, and the filter's arrays.

    ``units`` is the kernel tuple ``(unit_start, pos_asset, pos_side, pos_qty,
    pos_entry, unit_collateral)``: filtered units first, sorted by (group,
    ``h``), then the ``always`` units. ``order[i]`` is the original unit of
    kernel unit ``i``. ``index`` is ``(group_start, h, group_pair, group_angle,
    unit_direction, pair_a, pair_b)``: group ``g`` holds kernel units
    ``group_start[g] .. group_start[g+1]-1`` of pair ``group_pair[g]``;
    ``group_angle[g]`` = (lowest angle, highest angle, their cosines and sines);
    ``unit_direction[u]`` = (cos theta, sin theta, pair) of filtered unit ``u``.
    """

    units: tuple[np.ndarray, ...]
    index: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    always: np.ndarray
    order: np.ndarray
    reference: np.ndarray


def _unit_sums(units: MarginUnits, n_assets: int) -> tuple[np.ndarray, ...]:
    """Per unit and asset ``beta = sum s q``, ``gamma = sum q``; per unit ``K = c - sum s q e``."""
    n_units = units.n_units
    unit_of = np.repeat(np.arange(n_units), np.diff(units.start))
    beta = np.zeros((n_units, n_assets))
    gamma = np.zeros((n_units, n_assets))
    np.add.at(beta, (unit_of, units.asset), units.side * units.qty)
    np.add.at(gamma, (unit_of, units.asset), units.qty)
    offset = np.zeros(n_units)
    np.add.at(offset, unit_of, units.side * units.qty * units.entry)
    return beta, gamma, units.collateral - offset


def build_cross_index(
    units: MarginUnits,
    reference: np.ndarray,
    rate_bound: float,
    brackets: np.ndarray,
    group_size: int = DEFAULT_GROUP_SIZE,
    *,
    static_rates: bool = True,
) -> CrossIndex:
    """Bin and sort margin units for :func:`stresstest.kernels.cross.cross_replay_paths`.

    Parameters
    ----------
    reference
        Scaling price ``R_a`` of each asset (the paths' start), quote per base.
    rate_bound
        ``m_bar``, a rate no step's requirement per notional exceeds (static: the
        rate or top bracket rate; vol-scaled: the cap, plus ``r_B - floor`` with
        brackets), fraction of notional.
    brackets
        ``(3, n_brackets)`` rows floors, rates, amounts; with more than one
        bracket, cross units are checked at every step, and one-position units
        use their exact liquidation price when ``static_rates``.
    static_rates
        Whether the rates are the same at every step (static margin). With
        vol-scaled margin and brackets the liquidation price moves with
        ``m_t``, so one-position units use the half-plane of ``m_bar`` instead.
    """
    reference = np.ascontiguousarray(reference, dtype=float)
    n_assets = reference.shape[0]
    n_units = units.n_units
    beta, gamma, offset = _unit_sums(units, n_assets)
    held = gamma > 0
    n_held = held.sum(axis=1)
    first_asset = np.argmax(held, axis=1)
    last_asset = n_assets - 1 - np.argmax(held[:, ::-1], axis=1)
    other = np.where(first_asset + 1 < n_assets, first_asset + 1, np.maximum(first_asset - 1, 0))
    asset_a = np.where(n_held == 2, first_asset, np.minimum(first_asset, other))
    asset_b = np.where(n_held == 2, last_asset, np.maximum(first_asset, other))
    rows = np.arange(n_units)
    w_a = beta[rows, asset_a] - rate_bound * gamma[rows, asset_a]
    w_b = np.where(asset_b != asset_a, beta[rows, asset_b] - rate_bound * gamma[rows, asset_b], 0.0)
    v_a = -w_a * reference[asset_a]
    v_b = -w_b * reference[asset_b]
    constant = offset
    tiered = brackets.shape[1] > 1
    single = np.diff(units.start) == 1
    if tiered and static_rates:
        # one position: breach iff P < P* (long) or P > P* (short); a half-line in y_a
        for unit in np.flatnonzero(single):
            position = units.start[unit]
            side = units.side[position]
            threshold = bracket_liquidation_price(
                side,
                units.qty[position],
                units.entry[position],
                units.collateral[unit],
                brackets[0],
                brackets[1],
                brackets[2],
            )
            held_asset = units.asset[position]
            v_a[unit] = -side if held_asset == asset_a[unit] else 0.0
            v_b[unit] = -side if held_asset != asset_a[unit] else 0.0
            constant[unit] = -side * threshold / reference[held_asset]
    radius = np.hypot(v_a, v_b)
    filtered = (n_held <= 2) & (radius > 0) & np.isfinite(radius)
    if tiered:
        filtered &= single
    angle = np.mod(np.arctan2(v_b, v_a), 2.0 * np.pi)
    pairs = sorted(set(zip(asset_a[filtered].tolist(), asset_b[filtered].tolist(), strict=True)))
    pair_number = {pair: number for number, pair in enumerate(pairs)}
    pair_of = np.array(
        [
            pair_number.get(pair, -1)
            for pair in zip(asset_a.tolist(), asset_b.tolist(), strict=True)
        ],
        dtype=np.int64,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(filtered, constant / np.where(radius > 0, radius, 1.0), np.inf)
    kept = np.flatnonzero(filtered)
    kept = kept[np.lexsort((angle[kept], pair_of[kept]))]
    # groups: runs of group_size units of one pair in angle order, then sorted by h inside
    group_of = np.zeros(kept.shape[0], dtype=np.int64)
    n_groups = 0
    for pair in range(len(pairs)):
        members = np.flatnonzero(pair_of[kept] == pair)
        count = -(-members.shape[0] // group_size)
        group_of[members] = n_groups + np.arange(members.shape[0]) // group_size
        n_groups += count
    kept = kept[np.lexsort((h[kept], group_of))]
    group_of = np.sort(group_of)
    group_start = np.searchsorted(group_of, np.arange(n_groups + 1)).astype(np.int64)
    group_pair = np.zeros(n_groups, dtype=np.int64)
    group_angle = np.zeros((n_groups, 6))
    if n_groups:
        firsts = group_start[:-1]
        group_pair = pair_of[kept[firsts]].astype(np.int64)
        low = np.minimum.reduceat(angle[kept], firsts)
        high = np.maximum.reduceat(angle[kept], firsts)
        group_angle[:] = np.stack(
            [low, high, np.cos(low), np.sin(low), np.cos(high), np.sin(high)], axis=1
        )
    always_units = np.flatnonzero(~filtered)
    order = np.concatenate([kept, always_units]).astype(np.int64)
    counts = np.diff(units.start)[order]
    start = np.zeros(n_units + 1, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    take = np.repeat(units.start[order], counts) + _ramp(counts)
    return CrossIndex(
        units=(
            start,
            units.asset[take].copy(),
            units.side[take].copy(),
            units.qty[take].copy(),
            units.entry[take].copy(),
            units.collateral[order].copy(),
        ),
        index=(
            group_start,
            np.ascontiguousarray(h[kept]),
            group_pair,
            group_angle,
            np.ascontiguousarray(
                np.stack(
                    [v_a[kept] / radius[kept], v_b[kept] / radius[kept], pair_of[kept]], axis=1
                )
            ),
            np.array([pair[0] for pair in pairs], dtype=np.int64),
            np.array([pair[1] for pair in pairs], dtype=np.int64),
        ),
        always=np.arange(kept.shape[0], n_units, dtype=np.int64),
        order=order,
        reference=reference,
    )


def _ramp(counts: np.ndarray) -> np.ndarray:
    """``0, 1, .., c_0 - 1, 0, 1, .., c_1 - 1, ...`` for counts ``c``."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    ramp: np.ndarray = np.arange(total) - starts
    return ramp


#: The defence kernel's filter (:func:`stresstest.kernels.account_watch.new_watch`).
WatchIndex = tuple[np.ndarray, ...]


def watch_index(index: CrossIndex) -> WatchIndex:
    """The filter for the defence kernel, over the units in book order.

    ``(group_start, h, group_pair, group_angle, unit_direction, pair_a, pair_b,
    reference, order)``: the filter's arrays, the scaling prices ``R_a`` and
    ``order[i]``, the book's unit of filter unit ``i``.
    """
    return (*index.index, index.reference, index.order)


def dense_watch_index(n_units: int, n_assets: int) -> WatchIndex:
    """A filter holding no unit: the defence kernel checks every unit at every step.

    The dense twin of the filtered defence kernel, for the tests and benchmarks.
    """
    return (
        np.zeros(1, dtype=np.int64),
        np.empty(0),
        np.empty(0, dtype=np.int64),
        np.empty((0, 6)),
        np.empty((0, 3)),
        np.empty(0, dtype=np.int64),
        np.empty(0, dtype=np.int64),
        np.ones(n_assets),
        np.arange(n_units, dtype=np.int64),
    )
