"""Binary searches over a sorted sub-range, as numba kernels."""

from __future__ import annotations

from collections.abc import Callable

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


@kernel
def first_greater_from_stop(sorted_values: np.ndarray, value: float, start: int, stop: int) -> int:
    """:func:`first_greater`, galloping down from ``stop``: O(log k) for k values ``> value``.

    The same index as :func:`first_greater`; cheaper when the answer is near ``stop``.
    """
    high = stop  # every index in [high, stop) holds a value > value
    step = 1
    while True:
        probe = high - step
        if probe < start:
            return first_greater(sorted_values, value, start, high)
        if sorted_values[probe] > value:
            high = probe
            step *= 2
        else:
            return first_greater(sorted_values, value, probe, high)


@kernel
def first_not_less_from_start(
    sorted_values: np.ndarray, value: float, start: int, stop: int
) -> int:
    """:func:`first_not_less`, galloping up from ``start``: O(log k) for k values ``< value``.

    The same index as :func:`first_not_less`; cheaper when the answer is near ``start``.
    """
    low = start  # every index in [start, low) holds a value < value
    step = 1
    while True:
        probe = low + step
        if probe >= stop:
            return first_not_less(sorted_values, value, low, stop)
        if sorted_values[probe] < value:
            low = probe + 1
            step *= 2
        else:
            return first_not_less(sorted_values, value, low, probe + 1)


#: ``(sorted_values, values, pending, count, out)``: the interleaved searches.
InterleavedSearch = Callable[[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray], None]


def _interleaved(strict: bool, indexed: bool) -> InterleavedSearch:
    """The kernel of :func:`first_greater_each` and its three siblings.

    The predicate of a value ``x`` against a searched value ``v`` is ``x <= v``
    (``strict`` false, :func:`first_greater`'s side) or ``x < v`` (``strict``,
    :func:`first_not_less`'s). With ``indexed``, search ``k`` of the ``count`` is
    ``pending[k]`` (the others are left as they are); else ``k``. Both are closure
    constants that numba folds. The indices are taken unsigned (they are never
    negative), so that numba adds no wraparound of negative indices to each load.
    """

    @kernel
    def interleaved(
        sorted_values: np.ndarray,
        values: np.ndarray,
        pending: np.ndarray,
        count: int,
        out: np.ndarray,
    ) -> None:
        n = sorted_values.shape[0]
        for j in range(count):
            out[pending[j] if indexed else j] = 0
        if n == 0:
            return
        width = n  # every search's answer lies in [out[k], out[k] + width]
        while width > 1:
            half = width >> 1
            for j in range(count):
                k = pending[j] if indexed else j
                base = out[k]
                probe = sorted_values[np.uint64(base + half)]
                holds = probe < values[k] if strict else probe <= values[k]
                out[k] = base + half if holds else base
            width -= half
        for j in range(count):
            k = pending[j] if indexed else j
            base = out[k]
            probe = sorted_values[np.uint64(base)]
            holds = probe < values[k] if strict else probe <= values[k]
            out[k] = base + 1 if holds else base

    return interleaved


_first_greater_each = _interleaved(strict=False, indexed=False)
_first_not_less_each = _interleaved(strict=True, indexed=False)
_NOT_INDEXED = np.empty(0, dtype=np.int64)


@kernel
def first_greater_each(
    sorted_values: np.ndarray, values: np.ndarray, count: int, out: np.ndarray
) -> None:
    """``out[k] = first_greater(sorted_values, values[k], 0, n)`` for ``k < count``, interleaved.

    The same indices as :func:`first_greater` over the whole array. The ``count``
    searches run level by level: each level halves every search's range with a
    select (no data-dependent branch), and its ``count`` loads are independent, so
    the processor overlaps their cache misses instead of waiting for each in turn
    (with a million thresholds a search is a chain of about 20 dependent loads,
    most of them out of the first-level cache).
    """
    _first_greater_each(sorted_values, values, _NOT_INDEXED, count, out)


@kernel
def first_not_less_each(
    sorted_values: np.ndarray, values: np.ndarray, count: int, out: np.ndarray
) -> None:
    """``out[k] = first_not_less(sorted_values, values[k], 0, n)`` for ``k < count``, interleaved.

    The mirror of :func:`first_greater_each`; the same indices as :func:`first_not_less`.
    """
    _first_not_less_each(sorted_values, values, _NOT_INDEXED, count, out)


#: :func:`first_greater_each` of the searches ``pending[0 .. count - 1]`` only:
#: ``out[k]`` for ``k`` in them (the other entries are left as they are); arguments
#: ``(sorted_values, values, pending, count, out)``.
first_greater_each_of = _interleaved(strict=False, indexed=True)
#: :func:`first_not_less_each` of the searches ``pending[0 .. count - 1]`` only.
first_not_less_each_of = _interleaved(strict=True, indexed=True)
