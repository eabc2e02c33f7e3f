"""Per-step quantiles across paths, exactly as numpy's ``"linear"`` method.

Each grid column of a ``(n_paths, n_grid)`` matrix is copied to a contiguous
buffer and the order statistics it needs are selected (``np.partition``, not
a full sort); the quantile is then formed from them with
the same floating-point operations, in the same order, as numpy 2.4's
``np.quantile(..., method="linear")`` (virtual index ``(n - 1) * q`` as in
numpy's ``_QuantileMethods["linear"]``, ``_get_indexes``, ``_get_gamma``
and ``_lerp``), so the result is bit-identical
for columns without NaN (docs/model.md 6a). Columns are independent, so the
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
    """
    n_paths, n_grid = values.shape
    out = np.empty((levels.shape[0], n_grid))
    needed = needed_ranks(n_paths, levels)
    for column in prange(n_grid):
        ordered = np.empty(n_paths)
        for row in range(n_paths):
            ordered[row] = values[row, column]
        ordered = np.partition(ordered, needed)
        for k in range(levels.shape[0]):
            out[k, column] = linear_quantile_sorted(ordered, levels[k])
    return out
