"""Fenwick (binary indexed) trees: point updates and prefix sums in O(log N).

Used to remove positions from the sorted book (auto-deleveraging) and to correct
later range sums of the compensated prefix arrays by what was removed.
A tree over ``n`` values is an array of ``n + 1`` floats, slot 0 unused.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.jit import kernel


@kernel
def fenwick_add(tree: np.ndarray, index: int, value: float) -> None:
    """Add ``value`` to element ``index`` (0-based) of the tree's values."""
    position = index + 1
    size = tree.shape[0]
    while position < size:
        tree[position] += value
        position += position & (-position)


@kernel
def fenwick_prefix(tree: np.ndarray, stop: int) -> float:
    """Sum of elements ``[0, stop)``."""
    total = 0.0
    position = stop
    while position > 0:
        total += tree[position]
        position -= position & (-position)
    return total


@kernel
def fenwick_range(tree: np.ndarray, start: int, stop: int) -> float:
    """Sum of elements ``[start, stop)`` (0 if empty)."""
    if stop <= start:
        return 0.0
    return fenwick_prefix(tree, stop) - fenwick_prefix(tree, start)
