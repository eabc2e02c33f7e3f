"""ADL of the accounts defence kernel: who gives up what (docs/model.md 11.8).

Split out of :mod:`stresstest.kernels.account_defences`: each (asset, side) part of a
step's shortfall is covered by the profitable legs of the opposite side of that asset
in armed units, ranked by the account's score (:func:`stresstest.kernels.adl.adl_score`
with the unit's collateral and account value) or reduced ``pro_rata``; a unit whose
legs are all gone is closed.

An event visits only the legs of its (asset, side) in profit: each side's legs are
sorted by entry once per kernel call (a chunk of paths, :func:`adl_buckets`), so
they are a prefix found by binary search, and legs that can never be candidates
again (quantity 0, unit closed or taken over) are skipped by forward links with
path halving (:func:`_next_live`). Ranked policies score every candidate, keep the
first :data:`TOP_LEGS` in the order of the stable sort of the rule in one pass
(:func:`_best`, a heap whose root ranks last) and take their legs from those in
order; only when their profits do not cover the need are all ``n`` candidates heaped
(``O(n)`` comparisons plus ``O(k log n)`` for ``k`` legs taken either way); the
work arrays are allocated once per path (:func:`adl_work`), and the units an event
changes are listed
(:func:`remember_unit`), so the kernel updates its watch and armed quantities from
that list, not from the whole book.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.adl import adl_score
from stresstest.kernels.jit import kernel
from stresstest.kernels.search import first_not_less

# Unit states of the defence replay (account_defences re-exports them).
ARMED = 0  # open and checked at every step
FLAGGED = 1  # breached; settled at its close step
CLOSED = 2  # closed in full (liquidation or ADL of every leg)
TAKEN = 3  # taken over by the backstop vault (11.11)

#: The legs by (asset, side) (:func:`adl_buckets`), ``(start, order, key, members)``:
#: bucket ``2 a`` (longs) and ``2 a + 1`` (shorts) of asset ``a`` are
#: ``order[start[b]:start[b + 1]]``, sorted by ``key = s e`` ascending (ties: position
#: order), so ``key < s A`` is the profitable prefix; ``members`` holds the same legs
#: in position order.
Buckets = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
#: An event whose profitable prefix is at least this share of its bucket visits the
#: bucket in position order (:data:`Buckets` ``members``): the legs and their units are
#: then read in memory order, which at a few hundred thousand legs costs less than
#: visiting the prefix alone in entry order (measured; the outputs are the same).
BOOK_ORDER_SHARE = 0.125
#: A ranked event ranks only its best this many candidates (:func:`_best`), which in a
#: crash is far more than it takes; when their profits do not cover the need it heaps
#: every candidate (the order and the legs taken are the same either way).
TOP_LEGS = 256


@kernel
def adl_buckets(units: tuple[np.ndarray, ...], n_assets: int, with_adl: bool) -> Buckets:
    """The legs of the book by (asset, side), each sorted by ``s e`` (once per kernel call).

    Empty without ADL. ``O(P log P)``.
    """
    pos_asset, pos_side, pos_entry = units[1], units[2], units[4]
    n_positions = pos_asset.shape[0] if with_adl else 0
    start = np.zeros(2 * n_assets + 1 if with_adl else 1, dtype=np.int64)
    bucket = np.empty(n_positions, dtype=np.int64)
    for position in range(n_positions):
        bucket[position] = 2 * pos_asset[position] + (0 if pos_side[position] > 0 else 1)
        start[bucket[position] + 1] += 1
    for slot in range(1, start.shape[0]):
        start[slot] += start[slot - 1]
    members = np.empty(n_positions, dtype=np.int64)
    fill = start[:-1].copy()
    for position in range(n_positions):  # position order within a bucket
        members[fill[bucket[position]]] = position
        fill[bucket[position]] += 1
    order = members.copy()
    key = np.empty(n_positions)
    for slot in range(start.shape[0] - 1):
        legs = members[start[slot] : start[slot + 1]]
        keys = np.empty(legs.shape[0])
        for leg in range(legs.shape[0]):
            keys[leg] = pos_side[legs[leg]] * pos_entry[legs[leg]]
        sorted_slots = np.argsort(keys, kind="mergesort")  # stable: ties in position order
        order[start[slot] : start[slot + 1]] = legs[sorted_slots]
        key[start[slot] : start[slot + 1]] = keys[sorted_slots]
    return start, order, key, members


@kernel
def adl_work(
    n_positions: int, n_units: int, buckets: Buckets, top_legs: int = TOP_LEGS
) -> tuple[np.ndarray, ...]:
    """One path's ADL work arrays (empty without ADL).

    ``(skip, candidate, key, profit, heap, marked, changed, qty_before,
    collateral_before, member_skip, best)``: the forward links over the buckets' slots
    in entry order, per candidate its
    position, ranking key and profit (sized by the largest bucket), the heap, per unit
    the step it was last remembered at, the units changed at the step (their count
    last), their quantities and collateral before the step's events, the forward
    links over the slots in position order, and room for the ``top_legs`` best-ranked
    candidates of a ranked event (:data:`TOP_LEGS`; at least 1).
    """
    start = buckets[0]
    n_slots = buckets[1].shape[0]
    largest = 0
    for slot in range(start.shape[0] - 1):
        largest = max(largest, start[slot + 1] - start[slot])
    sized = n_slots > 0
    return (
        np.arange(n_slots + 1),
        np.empty(largest, dtype=np.int64),
        np.empty(largest),
        np.empty(largest),
        np.empty(largest, dtype=np.int64),
        np.full(n_units if sized else 0, -1, dtype=np.int64),
        np.zeros(n_units + 1 if sized else 1, dtype=np.int64),
        np.empty(n_positions if sized else 0),
        np.empty(n_units if sized else 0),
        np.arange(n_slots + 1),
        np.empty(max(1, min(top_legs, largest)), dtype=np.int64),
    )


@kernel
def _next_live(skip: np.ndarray, slot: int) -> int:
    """The first slot ``>= slot`` not skipped (forward links, path halving)."""
    while skip[slot] != slot:
        skip[slot] = skip[skip[slot]]
        slot = skip[slot]
    return slot


@kernel
def remember_unit(
    unit: int,
    step: int,
    unit_start: np.ndarray,
    qty: np.ndarray,
    collateral: np.ndarray,
    work: tuple[np.ndarray, ...],
) -> None:
    """Before ADL first changes ``unit`` at ``step``: list it, keep its legs and collateral."""
    marked, changed, qty_before, collateral_before = work[5], work[6], work[7], work[8]
    if marked[unit] == step:
        return
    marked[unit] = step
    n_changed = changed.shape[0] - 1
    changed[changed[n_changed]] = unit
    changed[n_changed] += 1
    for position in range(unit_start[unit], unit_start[unit + 1]):
        qty_before[position] = qty[position]
    collateral_before[unit] = collateral[unit]


@kernel
def changed_units(work: tuple[np.ndarray, ...]) -> np.ndarray:
    """The units ADL changed at the step, in unit order; the list is emptied."""
    changed = work[6]
    n_changed = changed.shape[0] - 1
    out = np.sort(changed[: changed[n_changed]])
    changed[n_changed] = 0
    return out


@kernel
def account_value(
    unit: int,
    adl_prices: np.ndarray,
    unit_start: np.ndarray,
    pos_asset: np.ndarray,
    pos_side: np.ndarray,
    qty: np.ndarray,
    pos_entry: np.ndarray,
    collateral: np.ndarray,
) -> float:
    """``V_u = c_u + sum_k s_k q_k (A_a_k - e_k)`` at the ADL prices (quote units)."""
    value = float(collateral[unit])
    for position in range(unit_start[unit], unit_start[unit + 1]):
        value += (
            pos_side[position]
            * qty[position]
            * (adl_prices[pos_asset[position]] - pos_entry[position])
        )
    return value


@kernel
def _ranks_before(key: np.ndarray, candidate: np.ndarray, a: int, b: int) -> bool:
    """Whether candidate ``a`` ranks before ``b``: lower key, ties (NaN last) by position.

    The order of a stable ascending sort of the keys in position order.
    """
    key_a = float(key[a])
    key_b = float(key[b])
    if key_a < key_b:
        return True
    if key_a > key_b:
        return False
    nan_a = np.isnan(key_a)
    nan_b = np.isnan(key_b)
    if nan_a != nan_b:
        return bool(nan_b)
    return bool(candidate[a] < candidate[b])


@kernel
def _sift_down(
    heap: np.ndarray,
    size: int,
    slot: int,
    key: np.ndarray,
    candidate: np.ndarray,
    last_first: bool = False,
) -> None:
    """Restore the heap below ``slot``: the first-ranked candidate at the root.

    With ``last_first`` the last-ranked one (the order reversed; no two candidates
    tie, as their positions differ).
    """
    item = heap[slot]
    while True:
        child = 2 * slot + 1
        if child >= size:
            break
        if child + 1 < size:
            first, second = heap[child], heap[child + 1]
            if last_first:  # the child ranked later goes up
                first, second = second, first
            if _ranks_before(key, candidate, second, first):
                child += 1
        if last_first:
            if not _ranks_before(key, candidate, item, heap[child]):
                break
        elif not _ranks_before(key, candidate, heap[child], item):
            break
        heap[slot] = heap[child]
        slot = child
    heap[slot] = item


@kernel
def _heapify(
    heap: np.ndarray, size: int, key: np.ndarray, candidate: np.ndarray, last_first: bool
) -> None:
    """Make ``heap[:size]`` a heap (:func:`_sift_down`), ``O(size)``."""
    for slot in range(size // 2 - 1, -1, -1):
        _sift_down(heap, size, slot, key, candidate, last_first)


@kernel
def _best(n_all: int, key: np.ndarray, candidate: np.ndarray, best: np.ndarray) -> int:
    """The first ``len(best)`` candidates in rank order into ``best`` (any order); their count.

    One pass with a heap whose root ranks last: ``O(n)`` comparisons and ``O(K log K
    log n)`` expected replacements for ``K`` kept of ``n`` in random order.
    """
    n_top = 0
    for item in range(n_all):
        if n_top < best.shape[0]:
            best[n_top] = item
            n_top += 1
            if n_top == best.shape[0]:
                _heapify(best, n_top, key, candidate, True)
        elif _ranks_before(key, candidate, item, best[0]):
            best[0] = item
            _sift_down(best, n_top, 0, key, candidate, True)
    return n_top


@kernel
def _in_rank_order(
    n_top: int, key: np.ndarray, candidate: np.ndarray, best: np.ndarray, out: np.ndarray
) -> int:
    """Write ``best[:n_top]`` into ``out`` first-ranked first; returns ``n_top``."""
    _heapify(best, n_top, key, candidate, False)
    for slot in range(n_top):
        out[slot] = best[0]
        best[0] = best[n_top - 1 - slot]
        _sift_down(best, n_top - 1 - slot, 0, key, candidate)
    return n_top


@kernel
def _uncovered(order: np.ndarray, size: int, profit: np.ndarray, need: float) -> bool:
    """Whether taking ``order[:size]`` in turn leaves need (the arithmetic of the take)."""
    left = need
    for slot in range(size):
        if not left > 0.0:
            return False
        left -= min(profit[order[slot]], left)
    return left > 0.0


@kernel
def deleverage_legs(
    policy: int,
    asset: int,
    side: float,
    need: float,
    adl_prices: np.ndarray,
    units: tuple[np.ndarray, ...],
    pos_unit: np.ndarray,
    state: np.ndarray,
    qty: np.ndarray,
    collateral: np.ndarray,
    given: np.ndarray,
    buckets: Buckets,
    work: tuple[np.ndarray, ...],
    step: int,
) -> tuple[float, float, float, float, float]:
    """Cover ``need`` from the profitable legs of ``asset`` on ``side`` in armed units.

    Returns ``(cover, need left, notional q A, count, gini)`` as
    :func:`stresstest.kernels.adl.deleverage` (docs/model.md 11.8). Ranked policies
    take legs by descending score (ties: lower position index, i.e. book order), each
    closed whole giving ``min(u, need left)``; a unit left with no leg is closed, a
    unit with other legs keeps ``c + u - taken``. ``pro_rata`` reduces every
    candidate by ``f = min(1, need / U)``; a one-leg unit's collateral shrinks with it.
    ``buckets`` from :func:`adl_buckets`, ``work`` from :func:`adl_work`; every unit
    changed is remembered (:func:`remember_unit`) for ``step``. Cost: the profitable
    prefix of the bucket in entry order, or the whole bucket in book order when the
    prefix is at least :data:`BOOK_ORDER_SHARE` of it (skipping dead legs in both),
    ``O(L)`` per candidate of a unit of ``L`` legs, ``O(n + k log n)`` to rank: the
    best :data:`TOP_LEGS` kept in one pass, every candidate heaped only if their
    profits leave need (``O(n log n)`` for ``pro_rata``).
    """
    unit_start, pos_asset, pos_side, _, pos_entry, _ = units
    start, order, bucket_key, members = buckets
    skip, index, key, profit, heap = work[0], work[1], work[2], work[3], work[4]
    price = adl_prices[asset]
    bucket = 2 * asset + (0 if side > 0 else 1)
    low = start[bucket]
    # every candidate has s (A - e) > 0, i.e. s e < s A: a prefix of the bucket
    high = first_not_less(bucket_key, side * price, low, start[bucket + 1])
    slots = order
    if high - low >= BOOK_ORDER_SHARE * (start[bucket + 1] - low):
        slots = members  # the whole bucket in book order, for memory locality
        skip = work[9]
        high = start[bucket + 1]
    n_all = 0
    slot = _next_live(skip, low)
    while slot < high:
        position = slots[slot]
        unit = pos_unit[position]
        if qty[position] == 0.0 or state[unit] == CLOSED or state[unit] == TAKEN:
            skip[slot] = slot + 1  # never a candidate again on this path
            slot = _next_live(skip, slot + 1)
            continue
        slot = _next_live(skip, slot + 1)
        if state[unit] != ARMED:
            continue
        gain = side * qty[position] * (price - pos_entry[position])
        if not gain > 0.0:
            continue
        index[n_all] = position
        profit[n_all] = gain
        if policy != enums.ADL_PRO_RATA:
            value = account_value(
                unit, adl_prices, unit_start, pos_asset, pos_side, qty, pos_entry, collateral
            )
            margin = collateral[unit]
            score = (
                np.inf
                if value <= 0.0
                else adl_score(
                    policy,
                    int(side),
                    qty[position],
                    pos_entry[position],
                    margin,
                    value - margin,
                    price,
                )
            )
            key[n_all] = -score
        n_all += 1
    if n_all == 0:
        return 0.0, need, 0.0, 0.0, 0.0
    cover = 0.0
    notional = 0.0
    count = 0.0
    if policy == enums.ADL_PRO_RATA:
        by_position = np.argsort(index[:n_all])  # the sums in position order
        total = 0.0
        for candidate in by_position:
            total += profit[candidate]
        fraction = 1.0 if need >= total else need / total
        for candidate in by_position:
            position = index[candidate]
            unit = pos_unit[position]
            remember_unit(unit, step, unit_start, qty, collateral, work)
            taken = profit[candidate] * fraction
            cover += taken
            given[position] += taken
            notional += qty[position] * fraction * price
            count += 1.0
            qty[position] = 0.0 if fraction >= 1.0 else qty[position] * (1.0 - fraction)
            if unit_start[unit + 1] - unit_start[unit] == 1:
                collateral[unit] = 0.0 if fraction >= 1.0 else collateral[unit] * (1.0 - fraction)
            _close_if_empty(unit, unit_start, qty, state)
        left = need - total if fraction >= 1.0 else 0.0
        return cover, left, notional, count, 0.0
    # the best TOP_LEGS in rank order (a sorted array is a heap); only if their profits
    # do not cover the need, every candidate is heaped
    size = _in_rank_order(_best(n_all, key, index, work[10]), key, index, work[10], heap)
    if size < n_all and _uncovered(heap, size, profit, need):
        for candidate in range(n_all):
            heap[candidate] = candidate
        _heapify(heap, n_all, key, index, False)
        size = n_all
    left = need
    weighted = 0.0
    haircuts = 0.0
    while size > 0 and left > 0.0:
        candidate = heap[0]
        size -= 1
        heap[0] = heap[size]
        _sift_down(heap, size, 0, key, index)
        position = index[candidate]
        unit = pos_unit[position]
        remember_unit(unit, step, unit_start, qty, collateral, work)
        gain = profit[candidate]
        taken = min(gain, left)
        left -= taken
        cover += taken
        given[position] += taken
        notional += qty[position] * price
        count += 1.0
        qty[position] = 0.0
        collateral[unit] += gain - taken
        _close_if_empty(unit, unit_start, qty, state)
        haircut = taken / gain
        weighted += (n_all - count + 1.0) * haircut
        haircuts += haircut
    gini = 0.0
    if haircuts > 0.0:
        gini = max(0.0, 2.0 * weighted / (n_all * haircuts) - (n_all + 1.0) / n_all)
    return cover, max(0.0, left), notional, count, gini


@kernel
def _close_if_empty(unit: int, unit_start: np.ndarray, qty: np.ndarray, state: np.ndarray) -> None:
    """Mark a unit closed once ADL has taken every one of its legs."""
    for position in range(unit_start[unit], unit_start[unit + 1]):
        if qty[position] > 0.0:
            return
    state[unit] = CLOSED
