"""Compensated prefix sums, so that a range sum is accurate to its own size.

A plain prefix sum ``S`` makes ``S[b] - S[a]`` lose every digit that the
magnitude of ``S`` carries beyond the range: with a million positions the error
of a small range is about ``eps * |S[N]|``. Here each prefix is kept as an
unevaluated pair ``hi + lo`` (double-double, built with Knuth's TwoSum), and a
range sum subtracts the pairs with TwoSum again, so its error is about
``eps * |range sum| + N eps^2 |S[N]|``.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.jit import kernel


@kernel
def two_sum(a: float, b: float) -> tuple[float, float]:
    """Knuth's TwoSum: ``a + b = s + e`` exactly, with ``s = fl(a + b)``."""
    s = a + b
    b_virtual = s - a
    a_virtual = s - b_virtual
    return s, (a - a_virtual) + (b - b_virtual)


@kernel
def compensated_prefix_sums(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prefix sums of ``values`` as double-double pairs.

    Returns ``hi, lo`` of length ``len(values) + 1`` with ``hi[0] = lo[0] = 0``
    and ``hi[i] + lo[i]`` the sum of ``values[:i]``.
    """
    n = values.shape[0]
    hi = np.zeros(n + 1)
    lo = np.zeros(n + 1)
    running_hi = 0.0
    running_lo = 0.0
    for i in range(n):
        running_hi, error = two_sum(running_hi, values[i])
        running_lo += error
        hi[i + 1] = running_hi
        lo[i + 1] = running_lo
    return hi, lo


@kernel
def range_sum(hi: np.ndarray, lo: np.ndarray, start: int, stop: int) -> float:
    """Sum of the values in ``[start, stop)`` from double-double prefix sums."""
    if stop <= start:
        return 0.0
    difference, error = two_sum(hi[stop], -hi[start])
    return float(difference + (error + (lo[stop] - lo[start])))
