"""A stable argsort of float64 keys by radix: the order of ``np.argsort(kind="stable")``.

numpy sorts float64 keys stably with timsort (O(N log N) comparisons, one
mispredicted branch for about every other comparison of random keys). Here each
key is mapped to an unsigned integer of the same order and the indices are
sorted by least-significant-digit radix sort, 11 bits a pass: O(N) per pass, no
comparison of keys, and passes whose digit is the same for every key skipped.
LSD radix sort is stable, and two keys map to the same integer exactly when
numpy calls them equal (``-0.0`` is mapped as ``0.0``), so the order is the one
``np.argsort(keys, kind="stable")`` returns, index for index. Keys must not be
NaN (numpy puts NaN last; :func:`stable_argsort` leaves such arrays to numpy).

:func:`rank_by_key` orders keys with ties broken by a label (the lending
candidates' ``(health factor, loan)``): the radix sort for many keys, numba's
quicksort for few, then :func:`tie_order` on the runs of equal keys.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.jit import kernel

#: Bits of the key sorted per pass, and the buckets of a pass.
RADIX_BITS = 11
RADIX_BUCKETS = 1 << RADIX_BITS
#: Passes over 64-bit keys: ceil(64 / 11).
RADIX_PASSES = 6
#: From this many keys on, :func:`rank_by_key`'s callers ask for the radix sort, below
#: it numba's quicksort (the same order either way). Radix sort costs O(n) a pass but a
#: fixed 2048-bucket histogram per pass: slower than the quicksort on a few hundred
#: keys, several times faster on tens of thousands (docs/performance.md, issue 16).
RADIX_FROM = 2048


@kernel
def order_keys(values: np.ndarray) -> np.ndarray:
    """Unsigned keys ordered as the floats: sign bit flipped for ``+``, all bits for ``-``."""
    n = values.shape[0]
    keys = np.empty(n, dtype=np.uint64)
    bits = values.view(np.uint64)
    sign = np.uint64(1) << np.uint64(63)
    for i in range(n):
        key = bits[i]
        if values[i] == 0.0:  # -0.0 == 0.0: one key for both
            key = np.uint64(0)
        if key & sign:
            keys[i] = ~key
        else:
            keys[i] = key | sign
    return keys


@kernel
def radix_argsort(keys: np.ndarray) -> np.ndarray:
    """Indices sorting unsigned 64-bit ``keys`` ascending, stably (LSD radix, 11 bits a pass)."""
    n = keys.shape[0]
    order = np.arange(n)
    if n < 2:
        return order
    counts = np.zeros((RADIX_PASSES, RADIX_BUCKETS), dtype=np.int64)
    mask = np.uint64(RADIX_BUCKETS - 1)
    for i in range(n):  # every pass's histogram in one read of the keys
        key = keys[i]
        for digit in range(RADIX_PASSES):
            counts[digit, (key >> np.uint64(digit * RADIX_BITS)) & mask] += 1
    current_keys = keys.copy()
    spare_keys = np.empty(n, dtype=np.uint64)
    spare_order = np.empty(n, dtype=np.int64)
    starts = np.empty(RADIX_BUCKETS, dtype=np.int64)
    for digit in range(RADIX_PASSES):
        shift = np.uint64(digit * RADIX_BITS)
        if counts[digit, (current_keys[0] >> shift) & mask] == n:
            continue  # every key has this digit: the pass would not move anything
        total = 0
        for bucket in range(RADIX_BUCKETS):
            starts[bucket] = total
            total += counts[digit, bucket]
        for i in range(n):
            bucket = (current_keys[i] >> shift) & mask
            target = starts[bucket]
            starts[bucket] = target + 1
            spare_keys[target] = current_keys[i]
            spare_order[target] = order[i]
        current_keys, spare_keys = spare_keys, current_keys
        order, spare_order = spare_order, order
    return order


def stable_argsort(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, kind="stable")`` of a float64 array, by radix when it has no NaN.

    Returns
    -------
    numpy.ndarray
        int64 indices, the same as numpy's, index for index.
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    if values.shape[0] < 2 or np.isnan(values).any():
        return np.argsort(values, kind="stable")
    return radix_argsort(order_keys(values))


@kernel
def tie_order(ranked: np.ndarray, key: np.ndarray, labels: np.ndarray) -> None:
    """Order each run of equal ``key`` in ``ranked`` (an argsort of ``key``) by ``labels``.

    The argsort need not be stable: ties are put in label order here (an insertion
    sort of each run), so the order is (key, label) whatever the order the keys came in.
    """
    first = 0
    while first < ranked.shape[0]:
        end = first + 1
        while end < ranked.shape[0] and key[ranked[end]] == key[ranked[first]]:
            end += 1
        for index in range(first + 1, end):  # insertion sort of the run by label
            moving = ranked[index]
            position = index
            while position > first and labels[ranked[position - 1]] > labels[moving]:
                ranked[position] = ranked[position - 1]
                position -= 1
            ranked[position] = moving
        first = end


@kernel
def rank_by_key(key: np.ndarray, labels: np.ndarray, radix_from: int) -> np.ndarray:
    """Indices ordering ``key`` ascending, equal keys by ``labels`` (ascending, distinct).

    ``key`` must hold no NaN (float64; ``-0.0`` equals ``0.0``). With at least
    ``radix_from`` keys the argsort is :func:`radix_argsort` (O(n) a pass), below it
    numba's quicksort; :func:`tie_order` then orders each run of equal keys by label,
    so the result is the same whichever sort ran.
    """
    many = key.shape[0] >= radix_from
    ranked = radix_argsort(order_keys(key)) if many else np.argsort(key)
    tie_order(ranked, key, labels)
    return ranked
