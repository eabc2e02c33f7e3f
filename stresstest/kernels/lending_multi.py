"""Sleeping loans of several collateral rows (docs/model.md 13.7).

A loan of several collateral rows, unchanged since it went to sleep, has

    HF_t = sum_a c_a LT_a R_a,t / d   >=   (sum_a c_a LT_a R_a,s / d) min_a (R_a,t / R_a,s)

with ``R_a,t = O_a,t / O_b,t`` the ratio of collateral asset ``a``'s mark to the
debt asset's. Each leg with ``c_a LT_a > 0`` is an *entry* keyed by
``kappa_a = R_a,s / H_s`` (``H_s`` the health factor at which the loan went to sleep;
a path-independent reference ratio instead of ``R_a,s`` for the book's initial
sleep) in the max-heap of its pair (collateral asset, debt asset): while no entry
of the loan has ``kappa_a > R_a,t (1 - WAKE_MARGIN)``, ``HF_t >= 1 / (1 - WAKE_MARGIN)``.
The first entry to cross wakes the loan (all its entries leave their heaps); the
kernel then checks it directly, and it goes back to sleep with new keys at a step
where its health factor is at least ``MULTI_SLEEP_HF``.

The heaps are indexed (each entry knows its slot), so a woken loan's other entries
are removed in ``O(log n)``. Pure numba over arrays.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.jit import inline_kernel, kernel

#: A loan is woken once a ratio of marks has fallen to within this fraction of its
#: key: far more than the rounding between ``HF`` and the ratios, so a loan left
#: asleep has ``HF > 1`` (docs/model.md 13.7). Shared with the single-collateral heaps.
WAKE_MARGIN = 1e-9

#: A woken loan of several collateral rows goes back to sleep at a step where its
#: health factor is at least this; below, it stays awake and is checked directly at
#: every step (a sleep ends as soon as one ratio falls by ``1 / HF``: sleeping closer
#: to ``HF = 1`` would wake it again within a few steps).
MULTI_SLEEP_HF = 1.05

#: The shared, read-only index of the sleeping multi-collateral loans, built once per
#: run (``stresstest.engine.lending.multi_sleep_index``):
#: ``multi_of`` (n_loans: the loan's index among the multi-collateral loans, -1 for a
#: single-collateral loan), ``entry_first`` (n_multi + 1: its entries, one per
#: collateral row in book order), ``entry_leg``, ``entry_loan``, ``entry_pair``
#: (per entry: collateral row, loan, pair), ``pairs`` ((P, 3): first slot of the
#: pair's heap, collateral asset, debt asset), ``size0`` (initial heap sizes),
#: ``key0``, ``slot_entry0`` (the initial heaps, slot by slot), ``slot_of0`` (each
#: entry's initial slot, -1: none), ``awake0`` (loans never asleep at the start,
#: ascending) and ``sleep_debt0``, ``sleep_collateral0`` (A + 1: the initial sleepers'
#: debt per debt asset and collateral per asset, summed in loan order).
MultiIndex = tuple[
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
]

#: A thread's buffers for the multi-collateral heaps (:func:`multi_work`): keys, entry
#: per slot, slot per entry, heap sizes, the awake loans, the sleep sums of debt and
#: collateral.
MultiWork = tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray
]


@kernel
def multi_work(index: MultiIndex) -> MultiWork:
    """Buffers for the paths one thread replays, allocated once; :func:`start_path`
    sets them from ``index`` at the start of each path."""
    entry_loan, pairs, key0 = index[3], index[5], index[7]
    n_multi = index[1].shape[0] - 1
    return (
        np.empty(key0.shape[0]),
        np.empty(key0.shape[0], dtype=np.int64),
        np.empty(entry_loan.shape[0], dtype=np.int64),
        np.empty(pairs.shape[0], dtype=np.int64),
        np.empty(max(n_multi, 0), dtype=np.int64),
        np.empty(index[11].shape[0]),
        np.empty(index[12].shape[0]),
    )


@kernel
def start_path(index: MultiIndex, work: MultiWork) -> int:
    """Set ``work`` to the book's initial sleep; returns the number of awake loans.

    An ``O(entries)`` copy of the shared initial heaps per path (memory copies).
    """
    key, slot_entry, slot_of, size, awake, sleep_debt, sleep_collateral = work
    key[:] = index[7]
    slot_entry[:] = index[8]
    slot_of[:] = index[9]
    size[:] = index[6]
    awake0 = index[10]
    n_awake: int = awake0.shape[0]
    awake[:n_awake] = awake0
    sleep_debt[:] = index[11]
    sleep_collateral[:] = index[12]
    return n_awake


@inline_kernel
def sift_up(
    key: np.ndarray, slot_entry: np.ndarray, slot_of: np.ndarray, base: int, node: int
) -> None:
    """Move the entry at ``base + node`` up its max-heap until its parent's key is not smaller."""
    moving_key = key[base + node]
    moving = slot_entry[base + node]
    while node > 0:
        parent = (node - 1) // 2
        if not key[base + parent] < moving_key:
            break
        key[base + node] = key[base + parent]
        slot_entry[base + node] = slot_entry[base + parent]
        slot_of[slot_entry[base + node]] = base + node
        node = parent
    key[base + node] = moving_key
    slot_entry[base + node] = moving
    slot_of[moving] = base + node


@kernel
def sift_down(
    key: np.ndarray, slot_entry: np.ndarray, slot_of: np.ndarray, base: int, size: int, node: int
) -> None:
    """Move the entry at ``base + node`` down its max-heap of ``size`` entries."""
    moving_key = key[base + node]
    moving = slot_entry[base + node]
    while True:
        child = 2 * node + 1
        if child >= size:
            break
        if child + 1 < size and key[base + child + 1] > key[base + child]:
            child += 1
        if not key[base + child] > moving_key:
            break
        key[base + node] = key[base + child]
        slot_entry[base + node] = slot_entry[base + child]
        slot_of[slot_entry[base + node]] = base + node
        node = child
    key[base + node] = moving_key
    slot_entry[base + node] = moving
    slot_of[moving] = base + node


@kernel
def heap_remove(
    key: np.ndarray, slot_entry: np.ndarray, slot_of: np.ndarray, base: int, size: int, slot: int
) -> int:
    """Remove the entry at ``slot`` from the heap at ``base`` (``size`` entries); new size."""
    slot_of[slot_entry[slot]] = -1
    size -= 1
    node = slot - base
    if node == size:
        return size
    last = base + size
    key[slot] = key[last]
    slot_entry[slot] = slot_entry[last]
    slot_of[slot_entry[slot]] = slot
    if node > 0 and key[base + (node - 1) // 2] < key[slot]:
        sift_up(key, slot_entry, slot_of, base, node)
    else:
        sift_down(key, slot_entry, slot_of, base, size, node)
    return size


@kernel
def wake_multi(
    marks: np.ndarray, step: int, index: MultiIndex, work: MultiWork, n_awake: int
) -> int:
    """Wake every sleeping loan one of whose entries crosses at ``step``.

    For each pair in order, while the root's key exceeds ``R_t (1 - WAKE_MARGIN)``
    (``R_t = O_a,t / O_b,t``), the root's loan leaves every heap and is appended to
    the awake loans. Returns their new number; the caller gives each woken loan its
    state and takes it out of the sleep sums (:func:`leave_sleep`).
    """
    entry_first, entry_loan, entry_pair, pairs, multi_of = (
        index[1],
        index[3],
        index[4],
        index[5],
        index[0],
    )
    key, slot_entry, slot_of, size, awake = work[0], work[1], work[2], work[3], work[4]
    for pair in range(pairs.shape[0]):
        base, asset, debt_of = pairs[pair, 0], pairs[pair, 1], pairs[pair, 2]
        limit = marks[asset, step] / marks[debt_of, step] * (1.0 - WAKE_MARGIN)
        while size[pair] > 0 and key[base] > limit:
            loan = entry_loan[slot_entry[base]]
            multi = multi_of[loan]
            for entry in range(entry_first[multi], entry_first[multi + 1]):
                slot = slot_of[entry]
                if slot >= 0:
                    other = entry_pair[entry]
                    size[other] = heap_remove(
                        key, slot_entry, slot_of, pairs[other, 0], size[other], slot
                    )
            awake[n_awake] = loan
            n_awake += 1
    return n_awake


@inline_kernel
def leave_sleep(
    loan: int,
    start: np.ndarray,
    leg_asset: np.ndarray,
    debt_asset: np.ndarray,
    collateral: np.ndarray,
    debt: np.ndarray,
    work: MultiWork,
) -> None:
    """Take a woken loan's debt and collateral out of the sleep sums."""
    sleep_debt, sleep_collateral = work[5], work[6]
    sleep_debt[debt_asset[loan]] -= debt[loan]
    for leg in range(start[loan], start[loan + 1]):
        sleep_collateral[leg_asset[leg]] -= collateral[leg]


@inline_kernel
def go_to_sleep(
    loan: int,
    health: float,
    marks: np.ndarray,
    step: int,
    threshold: np.ndarray,
    start: np.ndarray,
    leg_asset: np.ndarray,
    debt_asset: np.ndarray,
    collateral: np.ndarray,
    debt: np.ndarray,
    index: MultiIndex,
    work: MultiWork,
) -> None:
    """Put an awake loan at health factor ``health`` (of ``step``) to sleep.

    Each leg with ``c LT > 0`` enters its pair's heap with key ``R_a,t / health``;
    the loan's debt and collateral join the sleep sums (counted from the next step).
    """
    entry_first, entry_pair, pairs, multi_of = index[1], index[4], index[5], index[0]
    key, slot_entry, slot_of, size = work[0], work[1], work[2], work[3]
    sleep_debt, sleep_collateral = work[5], work[6]
    debt_of = debt_asset[loan]
    first = entry_first[multi_of[loan]] - start[loan]
    for leg in range(start[loan], start[loan + 1]):
        asset = leg_asset[leg]
        sleep_collateral[asset] += collateral[leg]
        if collateral[leg] * threshold[asset] > 0.0:
            entry = first + leg
            pair = entry_pair[entry]
            base = pairs[pair, 0]
            node = size[pair]
            key[base + node] = marks[asset, step] / marks[debt_of, step] / health
            slot_entry[base + node] = entry
            sift_up(key, slot_entry, slot_of, base, node)
            size[pair] = node + 1
    sleep_debt[debt_of] += debt[loan]


@kernel
def add_sleepers(marks: np.ndarray, step: int, work: MultiWork) -> tuple[float, float]:
    """The sleepers' debt and collateral at ``step``'s marks (quote units), by asset."""
    sleep_debt, sleep_collateral = work[5], work[6]
    debt_value = 0.0
    collateral_value = 0.0
    for asset in range(sleep_debt.shape[0]):
        debt_value += sleep_debt[asset] * marks[asset, step]
        collateral_value += sleep_collateral[asset] * marks[asset, step]
    return debt_value, collateral_value


@kernel
def initial_sleep_sums(
    asleep: np.ndarray,
    start: np.ndarray,
    leg_asset: np.ndarray,
    collateral0: np.ndarray,
    debt_asset: np.ndarray,
    debt0: np.ndarray,
    sleep_debt: np.ndarray,
    sleep_collateral: np.ndarray,
) -> None:
    """The initial sleepers' sums, once per run: ``asleep`` (loan indices, ascending)
    added in that order into ``sleep_debt`` (per debt asset) and ``sleep_collateral``
    (per collateral asset), both zero on entry."""
    for position in range(asleep.shape[0]):
        loan = asleep[position]
        sleep_debt[debt_asset[loan]] += debt0[loan]
        for leg in range(start[loan], start[loan + 1]):
            sleep_collateral[leg_asset[leg]] += collateral0[leg]
