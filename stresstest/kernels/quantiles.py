"""Per-step means and quantiles across paths, exactly as numpy's ``"linear"`` method.

The order keys of a ``(n_paths, n_grid)`` matrix are gathered ``COLUMN_BLOCK`` grid
columns at a time, column-major, reading the paths in tiles (each path's values of
a block are one contiguous run of the records), with each column's bounds and sum
in the same read; the order statistics each column needs are then selected
(:func:`select_keys_into`, an exact radix selection on the floats' order keys, not
a sort); the quantile is formed from them with
the same floating-point operations, in the same order, as numpy 2.4's
``np.quantile(..., method="linear")`` (virtual index ``(n - 1) * q`` as in
numpy's ``_QuantileMethods["linear"]``, ``_get_indexes``, ``_get_gamma``
and ``_lerp``), so the result is bit-identical
for columns without NaN (docs/model.md 6a; where a column mixes ``-0.0`` and
``+0.0`` at a wanted rank the sign of that zero may differ). Columns are independent, so the
``prange`` over them gives the same bytes whatever the thread count."""

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


#: Grid columns whose keys are gathered together: each path's values of a block are one
#: contiguous run of the records (512 bytes, inside one page), so reading a block costs
#: one address translation and a prefetched run per path, not a miss per path and column.
COLUMN_BLOCK = 64
#: Paths gathered together per column: two 64-byte cache lines of keys per column.
PATH_TILE = 16
#: Bits of the float64 order key examined per radix pass: those ending at the highest
#: bit where the pass's smallest and largest key differ.
DIGIT_BITS = 11
N_BUCKETS = 1 << DIGIT_BITS
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
    """The float64 whose :func:`order_key` is ``key`` (a reinterpretation of the bits in a
    register: nothing is allocated, so a rank costs no heap call)."""
    bits = key & ~SIGN_BIT if key >> np.uint64(63) else ~key
    value: float = np.uint64(bits).view(np.float64)
    return value


@kernel
def select_ranks(values: np.ndarray, ranks: np.ndarray) -> None:
    """Write the order statistic of every rank of ``ranks`` at its index of ``values``.

    Keys ``values`` (:func:`order_key`) with their bounds, selects with
    :func:`select_keys_into` and writes the values found. Only the wanted indices of
    ``values`` are written (the rest is left as it was). ``ranks`` ascending, unique,
    in ``[0, n - 1]``; ``values`` C-contiguous, no NaN.
    """
    n = values.shape[0]
    bits = values.view(np.uint64)
    keys = np.empty((2, n), dtype=np.uint64)
    low = order_key(bits[0])
    high = low
    for i in range(n):
        key = order_key(bits[i])
        keys[0, i] = key
        low = min(low, key)
        high = max(high, key)
    found, histogram, slot, owner, tasks, bounds = selection_scratch(ranks.shape[0])
    select_keys_into(
        keys[0], keys[1], low, high, ranks, found, histogram, slot, owner, tasks, bounds
    )
    for r in range(ranks.shape[0]):
        values[ranks[r]] = key_value(found[r])


@kernel
def selection_scratch(
    n_ranks: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Work arrays of :func:`select_keys_into` for ``n_ranks`` ranks: found keys, a zeroed
    histogram, empty bucket slots (-1), the pending set each slot fills, the pending
    sets and their bounds; the histogram and slots are left as they were found, so one
    set serves column after column."""
    capacity = 8 * n_ranks + 8
    return (
        np.empty(n_ranks, dtype=np.uint64),
        np.zeros(N_BUCKETS, dtype=np.int64),
        np.full(N_BUCKETS, -1, dtype=np.int64),
        np.empty(N_BUCKETS, dtype=np.int64),
        np.empty((capacity, 6), dtype=np.int64),
        np.empty((capacity, 2), dtype=np.uint64),
    )


@kernel
def highest_bit(word: np.uint64) -> int:
    """Index of the highest set bit of ``word > 0`` (0 for 1, 63 for ``2**63``)."""
    index = 0
    step = 32
    while step > 0:
        if word >> np.uint64(step):
            word >>= np.uint64(step)
            index += step
        step //= 2
    return index


@kernel
def sort_small(keys: np.ndarray) -> None:
    """Sort a few order keys ascending in place (insertion sort: unlike ``ndarray.sort``,
    which builds a partition stack on the heap per call, it allocates nothing)."""
    for i in range(1, keys.shape[0]):
        key = keys[i]
        j = i - 1
        while j >= 0 and keys[j] > key:
            keys[j + 1] = keys[j]
            j -= 1
        keys[j + 1] = key


@kernel
def select_keys_into(
    keys: np.ndarray,
    spare: np.ndarray,
    low: np.uint64,
    high: np.uint64,
    ranks: np.ndarray,
    found: np.ndarray,
    histogram: np.ndarray,
    slot: np.ndarray,
    owner: np.ndarray,
    tasks: np.ndarray,
    bounds: np.ndarray,
) -> None:
    """Find the order key of every rank of ``ranks`` among ``keys``.

    ``keys`` holds the :func:`order_key` of the ``n`` values, ``low`` and ``high``
    their smallest and largest; ``spare`` (``n`` keys) is scratch, and ``keys`` is
    overwritten too. ``found[r]`` receives the key of rank ``ranks[r]``.

    Exact radix selection on order keys, every rank at once. A set
    of keys is first bounded (its smallest and largest key): equal bounds answer every
    rank in it; otherwise the digit is the ``DIGIT_BITS`` bits that end at the highest
    bit where the bounds differ, so the set splits into at least two buckets and the
    bits above are shared. The set is histogrammed once by that digit, each wanted rank
    placed in its bucket, and the buckets that hold a wanted rank are gathered (in one
    pass) and refined the same way, with the ranks that fell in them; a set of at most
    ``SMALL_SET`` keys is sorted where it lies (:func:`sort_small`), and a bucket of the
    digit at bit 0 holds equal keys.
    Ranks in one bucket (the floor and the next index of one quantile nearly always
    are) share its work; columns of equal values (a count that is 0 on most paths)
    cost one pass. No comparisons of values outside the small sorts, so no
    mispredicted branches on random data: about ``3 n`` per level of the sets that
    hold a wanted rank; a histogram is cleared over the buckets between the bounds'
    digits, or by the keys that filled it when they are fewer.

    ``ranks`` ascending, unique, in ``[0, n - 1]``. A ``-0.0`` orders below ``+0.0``
    (numpy's partition treats them as equal). The work arrays are
    :func:`selection_scratch`'s for these ranks.
    """
    n = keys.shape[0]
    n_ranks = ranks.shape[0]
    bounds[0, 0], bounds[0, 1] = low, high
    mask = np.uint64(N_BUCKETS - 1)
    # Pending sets, depth first: keys or spare (row 0 or 1) [start : start + count], holding ranks
    # ``ranks[first : last]``, with ``below`` keys of the column smaller than all of them.
    # A set's children lie inside its span in the other row. Each level consumes at least
    # DIGIT_BITS bits of the keys, so at most 6 levels of at most n_ranks sets are pending.
    tasks[0, 0], tasks[0, 1], tasks[0, 2] = 0, 0, n
    tasks[0, 3], tasks[0, 4], tasks[0, 5] = 0, n_ranks, 0
    pending = 1
    while pending > 0:
        pending -= 1
        row, start, count = tasks[pending, 0], tasks[pending, 1], tasks[pending, 2]
        first, last, below = tasks[pending, 3], tasks[pending, 4], tasks[pending, 5]
        source = keys if row == 0 else spare
        target = spare if row == 0 else keys
        if count <= SMALL_SET:  # sorted where it lies: no other pending set reads this span
            part = source[start : start + count]
            sort_small(part)
            for r in range(first, last):
                found[r] = part[ranks[r] - below]
            continue
        low, high = bounds[pending, 0], bounds[pending, 1]
        if low == high:
            for r in range(first, last):
                found[r] = low
            continue
        shift = max(0, highest_bit(low ^ high) + 1 - DIGIT_BITS)
        digit_shift = np.uint64(shift)
        for i in range(start, start + count):
            histogram[(source[i] >> digit_shift) & mask] += 1
        bucket = np.int64((low >> digit_shift) & mask)
        top = np.int64((high >> digit_shift) & mask)
        cumulative = below
        fill = start
        r = first
        while r < last:
            while cumulative + histogram[bucket] <= ranks[r]:
                cumulative += histogram[bucket]
                bucket += 1
            size = histogram[bucket]
            after = r + 1
            while after < last and ranks[after] < cumulative + size:
                after += 1
            if shift == 0:  # every key of the bucket agrees on every bit
                equal = ((low >> np.uint64(DIGIT_BITS)) << np.uint64(DIGIT_BITS)) | np.uint64(
                    bucket
                )
                for k in range(r, after):
                    found[k] = equal
            else:  # gathered below, into the other row
                slot[bucket] = fill
                owner[bucket] = pending  # its bounds are found while it is gathered
                tasks[pending, 0], tasks[pending, 1], tasks[pending, 2] = 1 - row, fill, size
                tasks[pending, 3], tasks[pending, 4], tasks[pending, 5] = r, after, cumulative
                bounds[pending, 0], bounds[pending, 1] = ~np.uint64(0), np.uint64(0)
                pending += 1
                fill += size
            r = after
        if fill > start:
            for i in range(start, start + count):
                key = source[i]
                digit = (key >> digit_shift) & mask
                slot_index = slot[digit]
                if slot_index >= 0:
                    target[slot_index] = key
                    slot[digit] = slot_index + 1
                    child = owner[digit]
                    bounds[child, 0] = min(bounds[child, 0], key)
                    bounds[child, 1] = max(bounds[child, 1], key)
        bottom = np.int64((low >> digit_shift) & mask)
        if count >= top - bottom + 1:  # clear the buckets between the bounds' digits
            for digit in range(bottom, top + 1):
                histogram[digit] = 0
                slot[digit] = -1
        else:
            for i in range(start, start + count):
                digit = (source[i] >> digit_shift) & mask
                histogram[digit] = 0
                slot[digit] = -1


@kernel
def gather_column_keys(
    values: np.ndarray,
    first: int,
    keys: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    sums: np.ndarray,
) -> None:
    """Order keys and sums of grid columns ``first, first + 1, ...`` of ``values``.

    For ``offset < len(low)``: ``keys[offset, p]`` receives the :func:`order_key` of
    ``values[p, first + offset]``, ``low[offset]`` and ``high[offset]`` the column's
    smallest and largest key, ``sums[offset]`` its sum over the paths in path order
    from ``+0.0`` (numpy's order for ``values.sum(axis=0)`` over two or more
    columns). The paths are read ``PATH_TILE`` at a time, all the block's columns
    of each tile before the next tile: every path's values of the block are one
    contiguous run of the records (one page: one translation miss, and the hardware
    prefetcher follows the run), and each column's keys of a tile fill whole cache
    lines of ``keys``.
    """
    n_paths = values.shape[0]
    width = low.shape[0]
    bits = values.view(np.uint64)
    for offset in range(width):
        low[offset] = order_key(bits[0, first + offset])
        high[offset] = low[offset]
        sums[offset] = 0.0
    for start in range(0, n_paths, PATH_TILE):
        stop = min(start + PATH_TILE, n_paths)
        for offset in range(width):
            column = first + offset
            smallest, largest, total = low[offset], high[offset], sums[offset]
            for path in range(start, stop):
                key = order_key(bits[path, column])
                keys[offset, path] = key
                smallest = min(smallest, key)
                largest = max(largest, key)
                total += values[path, column]
            low[offset], high[offset], sums[offset] = smallest, largest, total


def column_quantiles(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles across rows of each column of ``values``: :func:`column_bands`'s.

    ``(len(levels), n_grid)``, equal to ``np.quantile(values, levels, axis=0,
    method="linear")``.
    """
    return column_bands(values, levels)[1]


@parallel_kernel
def column_bands(values: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Means and quantiles across rows of each column of ``values``.

    Parameters
    ----------
    values : np.ndarray
        ``(n_paths, n_grid)`` float64, any strides, no NaN (value units).
    levels : np.ndarray
        Quantile levels in ``[0, 1]`` (dimensionless).

    Returns
    -------
    tuple[np.ndarray, np.ndarray]
        Means ``(n_grid,)``: each column's sum in row order from ``+0.0`` divided by
        ``n_paths``, equal to ``values.mean(axis=0)`` when ``n_grid >= 2`` (numpy
        sums a single contiguous column pairwise); quantiles ``(len(levels),
        n_grid)``: equal to ``np.quantile(values, levels, axis=0, method="linear")``.

    Columns are taken ``COLUMN_BLOCK`` at a time (one ``prange`` iteration each):
    their order keys and sums are gathered column-major in tiles of paths
    (:func:`gather_column_keys`), so no column is copied out of the records path by
    path, then each column has its needed ranks selected by :func:`select_keys_into`.
    """
    n_paths, n_grid = values.shape
    means = np.empty(n_grid)
    out = np.empty((levels.shape[0], n_grid))
    needed = needed_ranks(n_paths, levels)
    n_blocks = (n_grid + COLUMN_BLOCK - 1) // COLUMN_BLOCK
    for block in prange(n_blocks):
        first = block * COLUMN_BLOCK
        width = min(COLUMN_BLOCK, n_grid - first)
        keys = np.empty((width + 1, n_paths), dtype=np.uint64)  # the last row: scratch
        low = np.empty(width, dtype=np.uint64)
        high = np.empty(width, dtype=np.uint64)
        sums = np.empty(width)
        gather_column_keys(values, first, keys, low, high, sums)
        found, histogram, slot, owner, tasks, bounds = selection_scratch(needed.shape[0])
        ordered = np.empty(n_paths)  # only the needed ranks are written
        for offset in range(width):
            means[first + offset] = sums[offset] / n_paths
            select_keys_into(
                keys[offset], keys[width], low[offset], high[offset], needed,
                found, histogram, slot, owner, tasks, bounds,
            )  # fmt: skip
            for r in range(needed.shape[0]):
                ordered[needed[r]] = key_value(found[r])
            for k in range(levels.shape[0]):
                out[k, first + offset] = linear_quantile_sorted(ordered, levels[k])
    return means, out
