"""Binary searches over a sorted sub-range, as numba kernels."""

from __future__ import annotations

import numpy as np

from stresstest.kernels.jit import kernel


@kernel
def first_greater(sorted_values: np.ndarray, value: float, start: int, stop: int) -> int:
    """First index in ``[start, stop)`` whose value is ``> value`` (``stop`` if none).

    ``sorted_values`` must be ascending on the range. Equivalent to
    ``start + np.searchsorted(sorted_values[start:stop], value, side="right")``.
    """
    low = start
    high = stop
    while low < high:
        middle = (low + high) >> 1
        if sorted_values[middle] > value:
            high = middle
        else:
            low = middle + 1
    return low


@kernel
def first_not_less(sorted_values: np.ndarray, value: float, start: int, stop: int) -> int:
    """First index in ``[start, stop)`` whose value is ``>= value`` (``stop`` if none).

    Equivalent to ``start + np.searchsorted(sorted_values[start:stop], value, side="left")``.
    """
    low = start
    high = stop
    while low < high:
        middle = (low + high) >> 1
        if sorted_values[middle] >= value:
            high = middle
        else:
            low = middle + 1
    return low
