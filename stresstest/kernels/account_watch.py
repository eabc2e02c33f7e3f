"""Which margin units the accounts defence kernel checks at a step (docs/model.md 11.5, 11.8).

The defence kernel (:mod:`stresstest.kernels.account_defences`) changes units as it
goes: a partial close keeps a fraction of every leg and changes the collateral, ADL
takes legs. A unit nothing has changed keeps the half-plane of the filter index
(:mod:`stresstest.book.cross_index`), whose bound holds on any positive price
series (the marks, with price impact the marks after impact), so it stays in the
filter of :mod:`stresstest.kernels.cross`: groups sorted by distance release it as a
candidate, and a candidate sleeps while its own half-plane is out of reach. A unit a
close or ADL has changed leaves the filter for good and is checked directly at every
step, with the units the filter cannot describe (three or more assets, cross
accounts with brackets, the predictive trigger). A flagged, closed or taken unit is
not checked.

Every unit is in exactly one place: ``IN_FILTER`` (a group's sorted list or a
candidate), ``DIRECT`` (the direct list) or ``UNWATCHED``. A unit leaves the
candidates and the direct list when it is flagged (at once) or when ADL changes or
closes it (lazily, at its next visit). The order in which the units are checked
does not matter: a check only flags its own unit; the kernel settles the units due
at a step in unit order (:func:`due_units`) and takes the breached units out of its
armed quantities in unit order.

Cost per path: ``O(T G)`` sleep tests for ``G`` groups plus one evaluation per
wake-up, and ``O(D T)`` direct checks for ``D`` direct units.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.account_gap import unit_gap
from stresstest.kernels.account_stages import predictive_breach
from stresstest.kernels.cross import FILTER_SLACK, _asleep, _group_bound, _sleep
from stresstest.kernels.jit import kernel
from stresstest.kernels.search import first_greater

# Where a unit is watched.
IN_FILTER = 0  # untouched: in a group's sorted list or a candidate of the filter
DIRECT = 1  # checked directly at every step
UNWATCHED = 2  # flagged, closed or taken over: not checked
# Slots of the watch's sizes.
N_ACTIVE = 0  # groups with units not yet released
N_PENDING = 1  # candidates
N_DIRECT = 2  # units of the direct list
# The state of a unit the kernel checks (account_adl.ARMED).
ARMED = 0


@kernel
def new_watch(
    n_units: int,
    n_assets: int,
    watch_index: tuple[np.ndarray, ...],
    use_filter: bool,
) -> tuple[np.ndarray, ...]:
    """The watch of one path: every unit in the filter or the direct list.

    ``watch_index`` = ``(group_start, h, group_pair, group_angle, unit_direction,
    pair_a, pair_b, reference, order)``: the filter of
    :func:`stresstest.book.cross_index.build_cross_index` over the kernel's units,
    its scaling prices ``R_a`` and ``order[i]``, the unit (book order) of filter
    unit ``i``; units ``order[len(h):]`` are checked directly. Without
    ``use_filter`` every unit is checked directly.

    Returns ``(where, frontier, active, group_sleep, active_pair, pending,
    pending_sleep, pending_pair, direct, sizes, pair_y, scaled, arc)``.
    """
    group_start, unit_h, group_pair, _, _, pair_a, _, _, order = watch_index
    n_groups = group_start.shape[0] - 1 if use_filter else 0
    n_filtered = unit_h.shape[0] if use_filter else 0
    where = np.full(n_units, DIRECT, dtype=np.int64)
    direct = np.empty(n_units, dtype=np.int64)
    n_direct = 0
    for slot in range(n_units):
        unit = order[slot] if use_filter else slot
        if slot < n_filtered:
            where[unit] = IN_FILTER
        else:
            direct[n_direct] = unit
            n_direct += 1
    sizes = np.zeros(3, dtype=np.int64)
    sizes[N_ACTIVE] = n_groups
    sizes[N_DIRECT] = n_direct
    return (
        where,
        group_start[:-1].copy(),
        np.arange(n_groups),
        np.zeros((n_groups, 4)),  # per slot of active: wake arc, y_a, y_b, d
        group_pair[:n_groups].copy(),
        np.empty(n_filtered, dtype=np.int64),
        np.empty((n_filtered, 4)),
        np.empty(n_filtered, dtype=np.int64),
        direct,
        sizes,
        np.empty((pair_a.shape[0], 4)),  # y_a, y_b, |y|, angle of y
        np.empty(n_assets),
        np.zeros(1),  # arc length of the marks in scaled prices
    )


@kernel
def unit_breached(
    unit: int,
    step: int,
    marks: np.ndarray,
    rates_now: np.ndarray,
    brackets: np.ndarray,
    shifts: np.ndarray,
    units: tuple[np.ndarray, ...],
    qty: np.ndarray,
    collateral: np.ndarray,
) -> bool:
    """The direct test of 11.8: ``E_u,t < R_u,t``, or the predictive trigger when ``shifts``."""
    unit_start, pos_asset, pos_side, _, pos_entry, _ = units
    if shifts.shape[0] > 0:
        return predictive_breach(
            unit, step, marks, shifts, unit_start, pos_asset, pos_side, qty, pos_entry, collateral
        )
    equity, requirement = unit_gap(
        unit,
        step,
        marks,
        rates_now,
        brackets[0],
        brackets[1],
        brackets[2],
        unit_start,
        pos_asset,
        pos_side,
        qty,
        pos_entry,
        collateral,
    )
    return bool(equity < requirement)


@kernel
def _scaled_marks(
    step: int,
    marks: np.ndarray,
    reference: np.ndarray,
    pair_a: np.ndarray,
    pair_b: np.ndarray,
    pair_y: np.ndarray,
    scaled: np.ndarray,
    arc: np.ndarray,
) -> None:
    """The scaled marks ``y`` of every pair at ``step`` and the arc length up to it (11.5)."""
    moved = 0.0
    for asset in range(scaled.shape[0]):
        value = marks[asset, step] / reference[asset]
        if step > 0:
            moved += (value - scaled[asset]) * (value - scaled[asset])
        scaled[asset] = value
    arc[0] += np.sqrt(moved)
    for pair in range(pair_a.shape[0]):
        y_a = scaled[pair_a[pair]]
        y_b = scaled[pair_b[pair]]
        pair_y[pair, 0] = y_a
        pair_y[pair, 1] = y_b
        pair_y[pair, 2] = np.hypot(y_a, y_b)
        pair_y[pair, 3] = np.arctan2(y_b, y_a)


@kernel
def _release(
    watch_index: tuple[np.ndarray, ...],
    watch: tuple[np.ndarray, ...],
) -> None:
    """Release as candidates the units in the filter that their group's bound has reached."""
    group_start, unit_h, group_pair, group_angle, unit_direction, _, _, _, order = watch_index
    where, frontier, active, group_sleep, active_pair, pending = watch[:6]
    pending_sleep, pending_pair, _, sizes, pair_y, _, arc = watch[6:]
    slot = 0
    while slot < sizes[N_ACTIVE]:
        if _asleep(group_sleep, slot, pair_y, active_pair[slot], arc[0]):
            slot += 1
            continue
        group = active[slot]
        bound = _group_bound(group, group_pair, group_angle, pair_y)
        front = frontier[group]
        stop = group_start[group + 1]
        if unit_h[front] <= bound:
            new_front = first_greater(unit_h, bound, front, stop)
            for filtered in range(front, new_front):
                if where[order[filtered]] != IN_FILTER:  # changed by ADL or closed: left
                    continue
                n_pending = sizes[N_PENDING]
                pending[n_pending] = filtered
                pending_pair[n_pending] = int(unit_direction[filtered, 2])
                pending_sleep[n_pending, 0] = -np.inf
                pending_sleep[n_pending, 3] = 0.0
                sizes[N_PENDING] = n_pending + 1
            frontier[group] = new_front
            front = new_front
            if front == stop:  # every unit of the group is released: drop the group
                last = sizes[N_ACTIVE] - 1
                sizes[N_ACTIVE] = last
                active[slot] = active[last]
                active_pair[slot] = active_pair[last]
                for column in range(4):
                    group_sleep[slot, column] = group_sleep[last, column]
                continue
        _sleep(group_sleep, slot, pair_y, active_pair[slot], arc[0], unit_h[front] - bound)
        slot += 1


@kernel
def _drop_pending(slot: int, watch: tuple[np.ndarray, ...]) -> None:
    """Remove candidate ``slot`` (the last candidate takes its place)."""
    pending = watch[5]
    pending_sleep = watch[6]
    pending_pair = watch[7]
    sizes = watch[9]
    last = sizes[N_PENDING] - 1
    sizes[N_PENDING] = last
    pending[slot] = pending[last]
    pending_pair[slot] = pending_pair[last]
    for column in range(4):
        pending_sleep[slot, column] = pending_sleep[last, column]


@kernel
def watch_breaches(
    step: int,
    marks: np.ndarray,
    rates_now: np.ndarray,
    brackets: np.ndarray,
    shifts: np.ndarray,
    units: tuple[np.ndarray, ...],
    qty: np.ndarray,
    collateral: np.ndarray,
    watch_index: tuple[np.ndarray, ...],
    watch: tuple[np.ndarray, ...],
    state: np.ndarray,
    breached: np.ndarray,
) -> int:
    """Check every open unit that can breach at ``step``; the breached ones go to ``breached``.

    Writes the breached units (book order, in no particular order) to the front of
    ``breached`` and returns how many; they are no longer watched (the kernel flags
    them). A unit in the filter whose half-plane is out of reach cannot breach
    (11.5), so only the candidates in reach and the direct units are tested with
    :func:`unit_breached`.
    """
    _, unit_h, _, _, unit_direction, pair_a, pair_b, reference, order = watch_index
    where, _, _, _, _, pending, pending_sleep, pending_pair, direct, sizes = watch[:10]
    pair_y, scaled, arc = watch[10:]
    n_breached = 0
    if sizes[N_ACTIVE] + sizes[N_PENDING] > 0:  # once both are empty, they stay empty
        _scaled_marks(step, marks, reference, pair_a, pair_b, pair_y, scaled, arc)
        _release(watch_index, watch)
    slot = 0
    while slot < sizes[N_PENDING]:
        filtered = pending[slot]
        unit = order[filtered]
        if where[unit] != IN_FILTER:
            _drop_pending(slot, watch)
            continue
        pair = pending_pair[slot]
        if _asleep(pending_sleep, slot, pair_y, pair, arc[0]):
            slot += 1
            continue
        gap = unit_h[filtered] - (
            unit_direction[filtered, 0] * pair_y[pair, 0]
            + unit_direction[filtered, 1] * pair_y[pair, 1]
        )
        if gap > FILTER_SLACK * pair_y[pair, 2]:
            _sleep(pending_sleep, slot, pair_y, pair, arc[0], gap)
            slot += 1
            continue
        if unit_breached(unit, step, marks, rates_now, brackets, shifts, units, qty, collateral):
            breached[n_breached] = unit
            n_breached += 1
            where[unit] = UNWATCHED
            _drop_pending(slot, watch)
            continue
        slot += 1
    slot = 0
    while slot < sizes[N_DIRECT]:
        unit = direct[slot]
        if state[unit] != ARMED:  # closed by ADL
            where[unit] = UNWATCHED
        elif unit_breached(unit, step, marks, rates_now, brackets, shifts, units, qty, collateral):
            breached[n_breached] = unit
            n_breached += 1
            where[unit] = UNWATCHED
        else:
            slot += 1
            continue
        last = sizes[N_DIRECT] - 1
        sizes[N_DIRECT] = last
        direct[slot] = direct[last]
    return n_breached


@kernel
def watch_directly(unit: int, watch: tuple[np.ndarray, ...]) -> None:
    """Check ``unit`` directly from the next step on: it was re-armed or ADL changed it.

    A unit already in the direct list stays there once; a unit in the filter leaves it
    for good (its stale candidate entry is dropped at its next visit).
    """
    where = watch[0]
    if where[unit] == DIRECT:
        return
    where[unit] = DIRECT
    direct = watch[8]
    sizes = watch[9]
    direct[sizes[N_DIRECT]] = unit
    sizes[N_DIRECT] += 1


@kernel
def unwatch(unit: int, watch: tuple[np.ndarray, ...]) -> None:
    """Stop watching ``unit`` (closed by ADL): dropped from its list at its next visit."""
    watch[0][unit] = UNWATCHED


@kernel
def due_units(step: int, flagged: np.ndarray, due: np.ndarray, n_flagged: int) -> np.ndarray:
    """The flagged units due at ``step`` in unit order; they leave ``flagged`` (its new size last).

    Returns an array whose last element is the number of units still flagged and
    whose other elements are the due units, sorted: the dense replay settled them
    in unit order, and the sums a settlement adds to keep that order.
    """
    n_due = 0
    for slot in range(n_flagged):
        if due[flagged[slot]] == step:
            n_due += 1
    out = np.empty(n_due + 1, dtype=np.int64)
    n_due = 0
    kept = 0
    for slot in range(n_flagged):
        unit = flagged[slot]
        if due[unit] == step:
            out[n_due] = unit
            n_due += 1
        else:
            flagged[kept] = unit
            kept += 1
    out[:n_due] = np.sort(out[:n_due])
    out[n_due] = kept
    return out


@kernel
def watch_changed(
    changed: np.ndarray,
    unit_start: np.ndarray,
    qty_before: np.ndarray,
    collateral_before: np.ndarray,
    qty: np.ndarray,
    collateral: np.ndarray,
    state: np.ndarray,
    watch: tuple[np.ndarray, ...],
) -> None:
    """After a step's ADL events: the units whose legs or collateral they changed leave the filter.

    ``changed`` the units the events touched, in unit order, with their legs'
    quantities and collateral before the events in ``qty_before`` and
    ``collateral_before``. A changed unit still open is checked directly from the next
    step; one ADL closed is no longer watched. ``O(L)`` per unit of ``L`` legs.
    """
    for unit in changed:
        for position in range(unit_start[unit], unit_start[unit + 1]):
            if qty[position] != qty_before[position] or collateral[unit] != collateral_before[unit]:
                if state[unit] == ARMED:
                    watch_directly(unit, watch)
                else:
                    unwatch(unit, watch)
