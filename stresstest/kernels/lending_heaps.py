"""The wake queues of single-collateral loans (docs/model.md 13.7).

Each group of single-collateral loans (collateral asset, debt asset) wakes its
sleepers in descending threshold ``theta`` (ties: loan order). A path's sleepers are
of two kinds: the *fresh* ones, never woken on the path, which are a suffix of the
group's loans sorted once per run (shared by every path, read from a cursor), and
the ones *returned* to sleep on the path, in a max-heap of this thread's buffers
ordered the same way (:func:`wake_push`, :func:`wake_pop`). The next loan to wake
is the first of the two heads (:func:`wake_next`). Pure numba over arrays.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.jit import kernel


@kernel
def wakes_first(theta: float, loan: int, other_theta: float, other_loan: int) -> bool:
    """Whether a sleeper (``theta``, ``loan``) wakes before another: the larger
    threshold first, equal thresholds in loan order."""
    return theta > other_theta or (theta == other_theta and loan < other_loan)


@kernel
def wake_pop(theta: np.ndarray, loans: np.ndarray, base: int, size: int) -> int:
    """Remove the root of the heap ``theta[base : base + size]`` (with its ``loans``),
    the sleeper that wakes first (:func:`wakes_first`); returns the new size."""
    size -= 1
    key = theta[base + size]
    loan = loans[base + size]
    node = 0
    while True:
        first = node
        first_key = key
        first_loan = loan
        for child in (2 * node + 1, 2 * node + 2):
            if child < size:
                at = base + child
                if wakes_first(theta[at], loans[at], first_key, first_loan):
                    first = child
                    first_key = theta[at]
                    first_loan = loans[at]
        theta[base + node] = first_key
        loans[base + node] = first_loan
        if first == node:
            return size
        node = first


@kernel
def wake_push(
    theta: np.ndarray, loans: np.ndarray, base: int, size: int, key: float, loan: int
) -> int:
    """Add ``loan`` with threshold ``key`` to the heap of :func:`wake_pop`; returns the
    new size."""
    node = size
    while node > 0:
        parent = (node - 1) // 2
        at = base + parent
        if not wakes_first(key, loan, theta[at], loans[at]):
            break
        theta[base + node] = theta[at]
        loans[base + node] = loans[at]
        node = parent
    theta[base + node] = key
    loans[base + node] = loan
    return size + 1


@kernel
def wake_next(
    theta0: np.ndarray,
    loans0: np.ndarray,
    fresh: np.ndarray,
    theta: np.ndarray,
    loans: np.ndarray,
    returned: np.ndarray,
    group: int,
    base: int,
    end: int,
    limit: float,
) -> int:
    """The next sleeper of ``group`` with ``theta > limit``, taken out of its queue, or -1.

    ``theta0``/``loans0`` are every group's loans by descending ``theta`` (ties: loan
    order), the group's at ``base`` to ``end``; ``fresh[group]`` is the first of them
    never woken on the path. ``theta``/``loans`` at ``base`` hold the heap of the
    ``returned[group]`` loans returned to sleep on the path. Of the two heads, the one
    that wakes first (:func:`wakes_first`) is taken.
    """
    position = fresh[group]
    from_fresh = position < end and theta0[position] > limit
    size = returned[group]
    from_returned = size > 0 and theta[base] > limit
    if from_fresh and from_returned:
        from_fresh = wakes_first(theta0[position], loans0[position], theta[base], loans[base])
    if from_fresh:
        fresh[group] = position + 1
        woken: int = loans0[position]
        return woken
    if from_returned:
        woken = loans[base]
        returned[group] = wake_pop(theta, loans, base, size)
        return woken
    return -1
