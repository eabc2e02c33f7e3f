"""A wavelet matrix: how many values of a range are below a value, in ``O(log N)``.

Built once over integer values in ``[0, 2^L)`` (``L`` levels of bit vectors in
64-bit words with their running counts of ones); :func:`wavelet_count_less`
answers ``#{i in [start, stop): values[i] < value}`` in ``O(L)``. Ranked ADL
counts an event's candidates with it over the entry ranks of a side
(:mod:`stresstest.kernels.adl_index`, docs/model.md 10.2).
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.jit import kernel

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)
_ONE = np.uint64(1)


@kernel
def popcount(word: np.uint64) -> int:
    """Set bits of a 64-bit word."""
    x = word - ((word >> _ONE) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return int((x * _H01) >> np.uint64(56))


@kernel
def wavelet_build(values: np.ndarray, n_levels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A wavelet matrix of ``values`` (integers in ``[0, 2^n_levels)``).

    Returns ``(bits, ones, zeros)``: per level the bit vector in 64-bit words
    ``(L, W)``, the ones before each word ``(L, W + 1)`` and the count of zeros ``(L,)``.
    """
    n = values.shape[0]
    n_words = n // 64 + 1
    bits = np.zeros((n_levels, n_words), dtype=np.uint64)
    ones = np.zeros((n_levels, n_words + 1), dtype=np.int64)
    zeros = np.zeros(n_levels, dtype=np.int64)
    current = values.copy()
    following = np.empty_like(current)
    for level in range(n_levels):
        shift = n_levels - 1 - level
        for i in range(n):
            if (current[i] >> shift) & 1:
                bits[level, i >> 6] |= _ONE << np.uint64(i & 63)
        for word in range(n_words):
            ones[level, word + 1] = ones[level, word] + popcount(bits[level, word])
        n_zero = n - ones[level, n_words]
        zeros[level] = n_zero
        low = 0
        high = n_zero
        for i in range(n):
            if (current[i] >> shift) & 1:
                following[high] = current[i]
                high += 1
            else:
                following[low] = current[i]
                low += 1
        current, following = following, current
    return bits, ones, zeros


@kernel
def _rank1(bits: np.ndarray, ones: np.ndarray, level: int, i: int) -> int:
    """Ones among the first ``i`` bits of ``level``."""
    word = i >> 6
    mask = (_ONE << np.uint64(i & 63)) - _ONE
    return int(ones[level, word]) + popcount(bits[level, word] & mask)


@kernel
def wavelet_count_less(
    bits: np.ndarray, ones: np.ndarray, zeros: np.ndarray, start: int, stop: int, value: int
) -> int:
    """How many of ``values[start:stop]`` are below ``value``, in ``O(levels)``."""
    n_levels = zeros.shape[0]
    if stop <= start:
        return 0
    if value >= (1 << n_levels):
        return stop - start
    if value <= 0:
        return 0
    count = 0
    for level in range(n_levels):
        shift = n_levels - 1 - level
        one_start = _rank1(bits, ones, level, start)
        one_stop = _rank1(bits, ones, level, stop)
        if (value >> shift) & 1:
            count += (stop - start) - (one_stop - one_start)
            start = zeros[level] + one_start
            stop = zeros[level] + one_stop
        else:
            start = start - one_start
            stop = stop - one_stop
    return count
