"""Per-step quantiles across paths, exactly as numpy's ``"linear"`` method.

Each grid column of a ``(n_paths, n_grid)`` matrix is copied to a contiguous
buffer (eight columns at a time, one cache line per path) and the order
statistics it needs are selected (:func:`select_ranks`, an exact radix
selection on the floats' order keys, not a sort); the quantile is then formed from them with
the same floating-point operations, in the same order, as numpy 2.4's
``np.quantile(..., method="linear")`` (virtual index ``(n - 1) * q`` as in
numpy's ``_QuantileMethods["linear"]``, ``_get_indexes``, ``_get_gamma``
and ``_lerp``), so the result is bit-identical
for columns without NaN (docs/model.md 6a; where a column mixes ``-0.0`` and
``+0.0`` at a wanted rank the sign of that zero may differ). Columns are independent, so the
``prange`` over them gives the same bytes whatever the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from stresstest.kernels.jit import kernel, parallel_kernel


@kernel
def linear_quantile_sorted(ordered: np.ndarray, level: float) -> float:
    """Quantile ``level`` of an ascending sample, numpy ``"linear"`` bit for bit.

    Parameters
    ----------
    ordered : np.ndarray
        The sample, sorted ascending, length ``n >= 1``, no NaN (value units).
    level : float
        Quantile level in ``[0, 1]`` (dimensionless).

    Returns
    -------
    float
        ``a + (b - a) * g`` for ``g < 0.5`` and ``b - (b - a) * (1 - g)``
        otherwise, with ``a, b`` the order statistics around the virtual index
        ``(n - 1) * level`` and ``g`` its fraction (numpy 2.4 ``"linear"``).
    """
    n = ordered.shape[0]
    virtual = (n - 1) * level
    previous = np.floor(virtual)
    upper = previous + 1.0
    if virtual >= n - 1:
        previous = -1.0
        upper = -1.0
    if virtual < 0.0:
        previous = 0.0
        upper = 0.0
    gamma = virtual - previous
    low = int(previous)
    high = int(upper)
    a = ordered[low if low >= 0 else n + low]
    b = ordered[high if high >= 0 else n + high]
    diff = b - a
    result: float = b - diff * (1.0 - gamma) if gamma >= 0.5 else a + diff * gamma
    return result


@kernel
def needed_ranks(n: int, levels: np.ndarray) -> np.ndarray:
    """The 0-based ranks whose order statistics the quantiles of ``n`` values use.

    The floor and ceiling of each virtual index ``(n - 1) * level`` clipped to
    ``[0, n - 1]``, as numpy's ``_get_indexes``; a selection that places these
    ranks gives the same values as a full sort at them.
    """
    ranks = np.empty(2 * levels.shape[0], dtype=np.int64)
    for k in range(levels.shape[0]):
        virtual = (n - 1) * levels[k]
        low = min(max(int(np.floor(virtual)), 0), n - 1)
        ranks[2 * k] = low
        ranks[2 * k + 1] = min(low + 1, n - 1)
    return np.unique(ranks)


#: Grid columns copied together: one 64-byte cache line of float64 per path, so the
#: strided copy out of the records misses the cache once per path and block of columns,
#: not once per path and column.
COLUMN_BLOCK = 8
#: Bits of the float64 order key examined per radix pass: the first pass reads the
#: sign and exponent (the binade), later passes the mantissa from the top.
DIGIT_BITS = 11
N_BUCKETS = 1 << DIGIT_BITS
#: Shift of the first pass (the key's top ``DIGIT_BITS`` bits) and of the second.
TOP_SHIFT = 64 - DIGIT_BITS
#: Candidate sets this small are sorted instead of histogrammed again.
SMALL_SET = 32
SIGN_BIT = np.uint64(1 << 63)


@kernel
def order_key(bits: np.uint64) -> np.uint64:
    """An unsigned key of a float64's bits with the float order: flip negatives, set the sign
    bit of non-negatives (``-0.0`` keys just below ``+0.0``)."""
    if bits >> np.uint64(63):
        return ~bits
    return bits | SIGN_BIT


@kernel
def key_value(key: np.uint64) -> float:
    """The float64 whose :func:`order_key` is ``key``."""
    bits = key & ~SIGN_BIT if key >> np.uint64(63) else ~key
    cell = np.empty(1, dtype=np.uint64)
    cell[0] = bits
    value: float = cell.view(np.float64)[0]
    return value


@kernel
def refine_rank(keys: np.ndarray, count: int, rank: int, shift: int) -> np.uint64:
    """The key of 0-based ``rank`` among ``keys[0, :count]``, keys that agree above bit
    ``shift + DIGIT_BITS``; ``keys`` is ``(2, m >= count)`` and both rows are overwritten.

    Radix selection from the top: a histogram of the digit at ``shift``, the bucket
    holding ``rank``, its keys gathered into the other row, the next digit; a set of at
    most ``SMALL_SET`` keys is sorted. Every key left agrees on every bit once the digit
    at shift 0 is done. ``O(m)`` per digit for ``m`` keys left.
    """
    row = 0
    histogram = np.empty(N_BUCKETS, dtype=np.int64)
    mask = np.uint64(N_BUCKETS - 1)
    while True:
        if count <= SMALL_SET:
            part = keys[row, :count].copy()
            part.sort()
            smallest: np.uint64 = part[rank]
            return smallest
        histogram[:] = 0
        digit_shift = np.uint64(shift)
        for i in range(count):
            histogram[(keys[row, i] >> digit_shift) & mask] += 1
        bucket = 0
        while histogram[bucket] <= rank:
            rank -= histogram[bucket]
            bucket += 1
        if histogram[bucket] < count:
            kept = 0
            for i in range(count):
                if (keys[row, i] >> digit_shift) & mask == bucket:
                    keys[1 - row, kept] = keys[row, i]
                    kept += 1
            row = 1 - row
            count = kept
        if shift == 0:
            found: np.uint64 = keys[row, rank]
            return found
        shift = max(0, shift - DIGIT_BITS)


@kernel
def select_ranks(values: np.ndarray, ranks: np.ndarray) -> None:
    """Write the order statistic of every rank of ``ranks`` at its index of ``values``.

    Exact radix selection on order keys (:func:`order_key`): one pass keys every
    value and counts its binade (the key's top ``DIGIT_BITS`` bits); a second gathers
    the binades that hold a wanted rank; :func:`refine_rank` finds each rank within
    its binade from the mantissa down. No comparisons of values, so no mispredicted
    branches on random data: about ``2 n`` plus the size of the wanted binades per rank.
    Only the wanted indices of ``values`` are written (the rest is left as it was).
    ``ranks`` ascending, unique, in ``[0, n - 1]``; ``values`` C-contiguous, no NaN.
    A ``-0.0`` orders below ``+0.0`` (numpy's partition treats them as equal).
    """
    n = values.shape[0]
    n_ranks = ranks.shape[0]
    bits = values.view(np.uint64)
    keys = np.empty(n, dtype=np.uint64)
    histogram = np.zeros(N_BUCKETS, dtype=np.int64)
    top = np.uint64(TOP_SHIFT)
    for i in range(n):
        key = order_key(bits[i])
        keys[i] = key
        histogram[key >> top] += 1
    slot = np.full(N_BUCKETS, -1, dtype=np.int64)  # where a wanted binade starts in region
    bucket_of = np.empty(n_ranks, dtype=np.int64)
    below_of = np.empty(n_ranks, dtype=np.int64)
    below = 0
    bucket = 0
    filled = 0
    for r in range(n_ranks):
        while below + histogram[bucket] <= ranks[r]:
            below += histogram[bucket]
            bucket += 1
        bucket_of[r] = bucket
        below_of[r] = below
        if slot[bucket] < 0:
            slot[bucket] = filled
            filled += histogram[bucket]
    region = np.empty(filled, dtype=np.uint64)
    fill = slot.copy()
    for i in range(n):
        bucket = keys[i] >> top
        if slot[bucket] >= 0:
            region[fill[bucket]] = keys[i]
            fill[bucket] += 1
    work = np.empty((2, filled), dtype=np.uint64)
    for r in range(n_ranks):
        bucket = bucket_of[r]
        count = histogram[bucket]
        work[0, :count] = region[slot[bucket] : slot[bucket] + count]
        key = refine_rank(work, count, ranks[r] - below_of[r], TOP_SHIFT - DIGIT_BITS)
        values[ranks[r]] = key_value(key)


@parallel_kernel
def column_quantiles(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles across rows of each column of ``values``.

    Parameters
    ----------
    values : np.ndarray
        ``(n_paths, n_grid)`` float64, any strides, no NaN (value units).
    levels : np.ndarray
        Quantile levels in ``[0, 1]`` (dimensionless).

    Returns
    -------
    np.ndarray
        ``(len(levels), n_grid)``: equal to ``np.quantile(values, levels,
        axis=0, method="linear")``.

    Columns are taken ``COLUMN_BLOCK`` at a time (one ``prange`` iteration each):
    copied row by row into contiguous buffers, then each has its needed ranks
    selected by :func:`select_ranks`.
    """
    n_paths, n_grid = values.shape
    out = np.empty((levels.shape[0], n_grid))
    needed = needed_ranks(n_paths, levels)
    n_blocks = (n_grid + COLUMN_BLOCK - 1) // COLUMN_BLOCK
    for block in prange(n_blocks):
        first = block * COLUMN_BLOCK
        width = min(COLUMN_BLOCK, n_grid - first)
        buffer = np.empty((width, n_paths))
        for row in range(n_paths):
            for offset in range(width):
                buffer[offset, row] = values[row, first + offset]
        for offset in range(width):
            ordered = buffer[offset]
            select_ranks(ordered, needed)
            for k in range(levels.shape[0]):
                out[k, first + offset] = linear_quantile_sorted(ordered, levels[k])
    return out
