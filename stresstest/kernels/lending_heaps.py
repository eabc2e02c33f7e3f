"""The wake heaps of single-collateral loans (docs/model.md 13.7).

Each group of single-collateral loans (collateral asset, debt asset) keeps its
sleepers in a max-heap on the threshold ``theta`` that wakes them. Every path reads
the shared initial heap until it writes a position (:func:`shared_heap_pop`,
:func:`shared_heap_push`), making the same moves and comparisons as
:func:`heap_pop` and :func:`heap_push` on a private copy. Pure numba over arrays.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.jit import kernel


@kernel
def heap_pop(theta: np.ndarray, loans: np.ndarray, base: int, size: int) -> int:
    """Remove the root of the max-heap ``theta[base : base + size]`` (with its ``loans``).

    Returns the new size. A max-heap keyed by the wake-up threshold: the root is the
    sleeper closest to waking.
    """
    size -= 1
    theta[base] = theta[base + size]
    loans[base] = loans[base + size]
    node = 0
    while True:
        largest = node
        for child in (2 * node + 1, 2 * node + 2):
            if child < size and theta[base + child] > theta[base + largest]:
                largest = child
        if largest == node:
            return size
        theta[base + node], theta[base + largest] = theta[base + largest], theta[base + node]
        loans[base + node], loans[base + largest] = loans[base + largest], loans[base + node]
        node = largest


@kernel
def heap_push(
    theta: np.ndarray, loans: np.ndarray, base: int, size: int, key: float, loan: int
) -> int:
    """Add ``loan`` with threshold ``key`` to the max-heap at ``base``; returns the new size."""
    node = size
    theta[base + node] = key
    loans[base + node] = loan
    while node > 0:
        parent = (node - 1) // 2
        if not theta[base + parent] < theta[base + node]:
            break
        theta[base + node], theta[base + parent] = theta[base + parent], theta[base + node]
        loans[base + node], loans[base + parent] = loans[base + parent], loans[base + node]
        node = parent
    return size + 1


@kernel
def shared_heap_pop(
    theta0: np.ndarray,
    loans0: np.ndarray,
    theta: np.ndarray,
    loans: np.ndarray,
    written: np.ndarray,
    stamp: int,
    base: int,
    size: int,
) -> int:
    """:func:`heap_pop` on a heap read from ``theta0``/``loans0`` until written.

    Position ``p`` holds ``theta[p], loans[p]`` if ``written[p] == stamp`` (written on
    this path) and ``theta0[p], loans0[p]`` (the shared initial heap) otherwise; writes
    go to ``theta``/``loans`` and stamp ``p``. The same moves and comparisons as
    :func:`heap_pop` on a private copy, in ``O(log n)`` positions, without the copy.
    """
    size -= 1
    last = base + size
    key = theta[last] if written[last] == stamp else theta0[last]
    loan = loans[last] if written[last] == stamp else loans0[last]
    node = 0
    while True:
        largest = node
        largest_key = key
        for child in (2 * node + 1, 2 * node + 2):
            if child < size:
                at = base + child
                child_key = theta[at] if written[at] == stamp else theta0[at]
                if child_key > largest_key:
                    largest = child
                    largest_key = child_key
        at = base + node
        written[at] = stamp
        if largest == node:
            theta[at] = key
            loans[at] = loan
            return size
        other = base + largest
        theta[at] = largest_key
        loans[at] = loans[other] if written[other] == stamp else loans0[other]
        node = largest


@kernel
def shared_heap_push(
    theta0: np.ndarray,
    loans0: np.ndarray,
    theta: np.ndarray,
    loans: np.ndarray,
    written: np.ndarray,
    stamp: int,
    base: int,
    size: int,
    key: float,
    loan: int,
) -> int:
    """:func:`heap_push` on the heap of :func:`shared_heap_pop`; returns the new size."""
    node = size
    while node > 0:
        parent = (node - 1) // 2
        at = base + parent
        parent_key = theta[at] if written[at] == stamp else theta0[at]
        if not parent_key < key:
            break
        here = base + node
        theta[here] = parent_key
        loans[here] = loans[at] if written[at] == stamp else loans0[at]
        written[here] = stamp
        node = parent
    here = base + node
    theta[here] = key
    loans[here] = loan
    written[here] = stamp
    return size + 1
