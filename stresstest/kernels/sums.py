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


@kernel
def gathered_prefix_sums(
    qty: np.ndarray, threshold: np.ndarray, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One side of a sorted book in one pass: ``threshold[order]`` and its prefix sums.

    Parameters
    ----------
    qty
        Quantities of the side's positions, base units.
    threshold
        Their breach thresholds, quote per base.
    order
        The order to sort them in: indices into ``qty`` and ``threshold``.

    Returns
    -------
    tuple of numpy.ndarray
        ``threshold[order]``, and the ``(n + 1, 4)`` double-double prefix sums of
        ``q`` (columns 0, 1: ``hi, lo``) and of ``q * threshold`` (columns 2, 3), in
        that order: the values :func:`compensated_prefix_sums` gives for
        ``qty[order]`` and ``qty[order] * threshold[order]``, bit for bit.
    """
    n = order.shape[0]
    sorted_threshold = np.empty(n)
    prefix = np.empty((n + 1, 4))
    prefix[0, :] = 0.0
    qty_hi = 0.0
    qty_lo = 0.0
    product_hi = 0.0
    product_lo = 0.0
    for i in range(n):
        position = order[i]
        q = qty[position]
        level = threshold[position]
        sorted_threshold[i] = level
        qty_hi, error = two_sum(qty_hi, q)
        qty_lo += error
        product_hi, error = two_sum(product_hi, q * level)
        product_lo += error
        prefix[i + 1, 0] = qty_hi
        prefix[i + 1, 1] = qty_lo
        prefix[i + 1, 2] = product_hi
        prefix[i + 1, 3] = product_lo
    return sorted_threshold, prefix
