"""Sleeping loans of several collateral rows (docs/model.md 13.7).

A loan of several collateral rows, unchanged since it went to sleep, has

    HF_t = sum_a c_a LT_a R_a,t / d   >=   (sum_a c_a LT_a R_a,s / d) min_a (R_a,t / R_a,s)

with ``R_a,t = O_a,t / O_b,t`` the ratio of collateral asset ``a``'s mark to the
debt asset's. Each leg with ``c_a LT_a > 0`` is an *entry* keyed by
``kappa_a = R_a,s / H_s`` (``H_s`` the health factor at which the loan went to sleep;
a path-independent reference ratio instead of ``R_a,s`` for the book's initial
sleep) in the wake queue of its pair (collateral asset, debt asset): while no entry
of the loan has ``kappa_a > R_a,t (1 - WAKE_MARGIN)``, ``HF_t >= 1 / (1 - WAKE_MARGIN)``.
The first entry to cross wakes the loan (all its entries leave their queues); the
kernel then checks it directly, and it goes back to sleep with new keys at a step
where its health factor is at least ``MULTI_SLEEP_HF``.

A pair's queue has two parts. The book's initial sleepers are a sorted array shared
by every path (descending key, ties in entry order), read from a cursor; an entry
there is live while its loan has not woken on the path. The entries returned to
sleep on the path are in *buckets* of their key's leading bits (the float64's
exponent and first ``BUCKET_BITS`` bits of mantissa, so bucket order is key order
exactly, each bucket a factor of at most ``1 + 2**-BUCKET_BITS`` wide), each bucket a
doubly linked list over the entries: going to sleep and leaving are ``O(1)``. At a
step, every entry of a bucket above the limit's bucket crosses; in the limit's own
bucket each key is compared. The entries that cross at a step are put in descending
key order (ties: entry order) before their loans wake, the order of a max-heap of
every sleeper. Pure numba over arrays.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.jit import inline_kernel, kernel
from stresstest.kernels.sort import RADIX_FROM, rank_by_key

#: A loan is woken once a ratio of marks has fallen to within this fraction of its
#: key: far more than the rounding between ``HF`` and the ratios, so a loan left
#: asleep has ``HF > 1`` (docs/model.md 13.7). Shared with the single-collateral heaps.
WAKE_MARGIN = 1e-9

#: A woken loan of several collateral rows goes back to sleep at a step where its
#: health factor is at least this; below, it stays awake and is checked directly at
#: every step (a sleep ends as soon as one ratio falls by ``1 / HF``: sleeping closer
#: to ``HF = 1`` would wake it again within a few steps).
MULTI_SLEEP_HF = 1.05

#: Bits of a key's mantissa that name its bucket, after the exponent: a bucket spans
#: keys within a factor ``1 + 2**-10`` (0.1%), so the limit's own bucket, the one
#: whose keys are compared, holds few entries.
BUCKET_BITS = 10
#: Buckets per pair: ``2**14`` of them, 16 octaves of ``2**10``, span a factor 256
#: either side of the pair's reference ratio; keys beyond share the end buckets
#: (compared like the limit's).
N_BUCKETS = 1 << 14
#: A float64's bits shifted right by this keep its exponent and ``BUCKET_BITS``.
BUCKET_SHIFT = 52 - BUCKET_BITS

#: The shared, read-only index of the sleeping multi-collateral loans, built once per
#: run (``stresstest.engine.lending.multi_sleep_index``):
#: ``multi_of`` (n_loans: the loan's index among the multi-collateral loans, -1 for a
#: single-collateral loan), ``entry_first`` (n_multi + 1: its entries, one per
#: collateral row in book order), ``entry_leg``, ``entry_loan``, ``entry_pair``
#: (per entry: collateral row, loan, pair), ``pairs`` ((P, 3): first position of the
#: pair's initial sleepers, collateral asset, debt asset), ``size0`` (the pairs'
#: numbers of initial sleepers), ``key0``, ``entry0`` (the initial sleepers of every
#: pair, each pair's by descending key, ties in entry order), ``origin`` (P: the
#: bucket of each pair's reference ratio less ``N_BUCKETS // 2``), ``awake0`` (loans
#: never asleep at the start, ascending) and ``sleep_debt0``, ``sleep_collateral0``
#: (A + 1: the initial sleepers' debt per debt asset and collateral per asset, summed
#: in loan order).
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

#: A thread's buffers for the wake queues (:func:`multi_work`): per entry its key,
#: next and previous entry in its bucket and its bucket (-1: in none); the awake
#: loans; the sleep sums of debt and collateral; each pair's bucket heads
#: ``(P, N_BUCKETS)``; per pair its highest bucket that may hold an entry, its lowest
#: and its cursor in the initial sleepers; per loan of several rows the stamp of the
#: path it last woke on and whether it sleeps; a step's crossing keys and entries.
MultiWork = tuple[
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

#: From this many entries crossing in one pair at one step, they are ordered by
#: :func:`stresstest.kernels.sort.rank_by_key` (an argsort), below it by insertion.
SORT_FROM = 16


@kernel
def multi_work(index: MultiIndex) -> MultiWork:
    """Buffers for the paths one thread replays, allocated once; :func:`start_path`
    sets them at the start of each path."""
    entry_loan, pairs = index[3], index[5]
    n_entries = entry_loan.shape[0]
    n_multi = max(index[1].shape[0] - 1, 0)
    n_pairs = pairs.shape[0]
    bounds = np.empty((n_pairs, 3), dtype=np.int64)
    bounds[:, 0] = -1  # no bucket holds an entry
    bounds[:, 1] = N_BUCKETS
    return (
        np.empty(n_entries),
        np.empty(n_entries, dtype=np.int64),
        np.empty(n_entries, dtype=np.int64),
        np.full(n_entries, -1, dtype=np.int64),
        np.empty(n_multi, dtype=np.int64),
        np.empty(index[11].shape[0]),
        np.empty(index[12].shape[0]),
        np.full((n_pairs, N_BUCKETS), -1, dtype=np.int64),
        bounds,
        np.full(n_multi, -1, dtype=np.int64),
        np.zeros(n_multi, dtype=np.bool_),
        np.empty(n_entries),
        np.empty(n_entries, dtype=np.int64),
    )


@kernel
def start_path(index: MultiIndex, work: MultiWork) -> int:
    """Set ``work`` to the book's initial sleep; returns the number of awake loans.

    Empties the buckets the previous path left (``O(their entries + range)``) and
    puts each pair's cursor at its first initial sleeper; nothing of the size of
    the book is copied.
    """
    bucket_of, awake, sleep_debt, sleep_collateral = work[3], work[4], work[5], work[6]
    head, bounds, following = work[7], work[8], work[1]
    pairs = index[5]
    for pair in range(pairs.shape[0]):
        for bucket in range(bounds[pair, 1], bounds[pair, 0] + 1):
            entry = head[pair, bucket]
            while entry >= 0:
                bucket_of[entry] = -1
                entry = following[entry]
            head[pair, bucket] = -1
        bounds[pair, 0] = -1
        bounds[pair, 1] = N_BUCKETS
        bounds[pair, 2] = pairs[pair, 0]
    awake0 = index[10]
    n_awake: int = awake0.shape[0]
    awake[:n_awake] = awake0
    sleep_debt[:] = index[11]
    sleep_collateral[:] = index[12]
    return n_awake


@inline_kernel
def key_bucket(key: float, origin: int) -> int:
    """The bucket of a key or limit (never negative): its leading bits less the
    pair's ``origin``, clipped to the pair's buckets. Non-decreasing in ``key``."""
    raw = int(np.float64(key).view(np.int64) >> BUCKET_SHIFT) - origin
    if raw < 0:
        return 0
    return raw if raw < N_BUCKETS else N_BUCKETS - 1


@inline_kernel
def unlink(work: MultiWork, pair: int, entry: int) -> None:
    """Take ``entry`` out of its bucket of ``pair``'s queue."""
    following, preceding, bucket_of, head = work[1], work[2], work[3], work[7]
    after = following[entry]
    before = preceding[entry]
    if before >= 0:
        following[before] = after
    else:
        head[pair, bucket_of[entry]] = after
    if after >= 0:
        preceding[after] = before
    bucket_of[entry] = -1


@kernel
def order_crossing(keys: np.ndarray, entries: np.ndarray, n: int) -> None:
    """Put the first ``n`` crossing ``keys`` and ``entries`` in descending key order,
    equal keys in entry order (in place)."""
    if n >= SORT_FROM:
        ranked = rank_by_key(-keys[:n], entries[:n], RADIX_FROM)
        sorted_keys = keys[:n][ranked]
        sorted_entries = entries[:n][ranked]
        keys[:n] = sorted_keys
        entries[:n] = sorted_entries
        return
    for index in range(1, n):
        moving_key = keys[index]
        moving = entries[index]
        position = index
        while position > 0 and (
            keys[position - 1] < moving_key
            or (keys[position - 1] == moving_key and entries[position - 1] > moving)
        ):
            keys[position] = keys[position - 1]
            entries[position] = entries[position - 1]
            position -= 1
        keys[position] = moving_key
        entries[position] = moving


@kernel
def wake_multi(
    marks: np.ndarray, step: int, index: MultiIndex, work: MultiWork, n_awake: int, stamp: int
) -> int:
    """Wake every sleeping loan one of whose entries crosses at ``step`` (path ``stamp``).

    For each pair in order, the entries with key above ``R_t (1 - WAKE_MARGIN)``
    (``R_t = O_a,t / O_b,t``), initial sleepers and returned ones alike, are taken in
    descending key order (ties: entry order); each one's loan, unless already woken,
    leaves every queue and is appended to the awake loans. Returns their new number;
    the caller gives each woken loan its state and takes it out of the sleep sums
    (:func:`leave_sleep`).
    """
    multi_of, entry_first, entry_loan, entry_pair, pairs = (
        index[0],
        index[1],
        index[3],
        index[4],
        index[5],
    )
    size0, key0, entry0, origin = index[6], index[7], index[8], index[9]
    key, following, bucket_of, awake, head, bounds = (
        work[0],
        work[1],
        work[3],
        work[4],
        work[7],
        work[8],
    )
    woke, asleep, crossing_key, crossing = work[9], work[10], work[11], work[12]
    for pair in range(pairs.shape[0]):
        first, asset, debt_of = pairs[pair, 0], pairs[pair, 1], pairs[pair, 2]
        limit = marks[asset, step] / marks[debt_of, step] * (1.0 - WAKE_MARGIN)
        n_crossing = 0
        position = bounds[pair, 2]
        end = first + size0[pair]
        while position < end and key0[position] > limit:  # initial sleepers
            entry = entry0[position]
            if woke[multi_of[entry_loan[entry]]] != stamp:
                crossing_key[n_crossing] = key0[position]
                crossing[n_crossing] = entry
                n_crossing += 1
            position += 1
        bounds[pair, 2] = position
        top = bounds[pair, 0]
        if top >= 0 and limit == limit:  # returned sleepers (a NaN limit: none crosses)
            at_limit = key_bucket(limit, origin[pair])
            if top >= at_limit:
                for bucket in range(top, at_limit - 1, -1):
                    entry = head[pair, bucket]
                    while entry >= 0:
                        after = following[entry]
                        if bucket > at_limit or key[entry] > limit:
                            crossing_key[n_crossing] = key[entry]
                            crossing[n_crossing] = entry
                            n_crossing += 1
                            unlink(work, pair, entry)
                        entry = after
                bounds[pair, 0] = at_limit if head[pair, at_limit] >= 0 else at_limit - 1
        if n_crossing > 1:
            order_crossing(crossing_key, crossing, n_crossing)
        for position in range(n_crossing):
            loan = entry_loan[crossing[position]]
            multi = multi_of[loan]
            if woke[multi] == stamp and not asleep[multi]:
                continue  # woken by an earlier entry
            woke[multi] = stamp
            asleep[multi] = False
            for entry in range(entry_first[multi], entry_first[multi + 1]):
                if bucket_of[entry] >= 0:
                    unlink(work, entry_pair[entry], entry)
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

    Each leg with ``c LT > 0`` enters its pair's queue with key ``R_a,t / health``,
    at the head of its bucket; the loan's debt and collateral join the sleep sums
    (counted from the next step).
    """
    entry_first, entry_pair, multi_of, origin = index[1], index[4], index[0], index[9]
    key, following, preceding, bucket_of, head, bounds = (
        work[0],
        work[1],
        work[2],
        work[3],
        work[7],
        work[8],
    )
    sleep_debt, sleep_collateral, asleep = work[5], work[6], work[10]
    debt_of = debt_asset[loan]
    multi = multi_of[loan]
    first = entry_first[multi] - start[loan]
    for leg in range(start[loan], start[loan + 1]):
        asset = leg_asset[leg]
        sleep_collateral[asset] += collateral[leg]
        if collateral[leg] * threshold[asset] > 0.0:
            entry = first + leg
            pair = entry_pair[entry]
            value = marks[asset, step] / marks[debt_of, step] / health
            bucket = key_bucket(value, origin[pair])
            key[entry] = value
            after = head[pair, bucket]
            following[entry] = after
            preceding[entry] = -1
            if after >= 0:
                preceding[after] = entry
            head[pair, bucket] = entry
            bucket_of[entry] = bucket
            bounds[pair, 0] = max(bounds[pair, 0], bucket)
            bounds[pair, 1] = min(bounds[pair, 1], bucket)
    asleep[multi] = True
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
