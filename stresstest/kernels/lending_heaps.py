"""The wake queues of single-collateral loans (docs/model.md 13.7).

Each group of single-collateral loans (collateral asset, debt asset) wakes its
sleepers in descending threshold ``theta`` (ties: loan order). A path's sleepers are
of two kinds: the *fresh* ones, never woken on the path, which are a suffix of the
group's loans sorted once per run (shared by every path, read from a cursor), and
the ones *returned* to sleep on the path, in a max-heap of this thread's buffers
ordered the same way (:func:`wake_push`, :func:`wake_pop`). The next loan to wake
is the first of the two heads (:func:`wake_next`). Each sleeper carries its debt and
collateral, so waking reads no per-loan array at random. Pure numba over arrays.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.jit import kernel

#: Sleepers (:func:`wake_next`): threshold ``theta``, loan, debt (units of the debt
#: asset) and collateral (base units) per position.
Sleepers = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@kernel
def wakes_first(theta: float, loan: int, other_theta: float, other_loan: int) -> bool:
    """Whether a sleeper (``theta``, ``loan``) wakes before another: the larger
    threshold first, equal thresholds in loan order."""
    return theta > other_theta or (theta == other_theta and loan < other_loan)


@kernel
def wake_pop(heap: Sleepers, base: int, size: int) -> int:
    """Remove the root of the heap at ``heap[:][base : base + size]``, the sleeper that
    wakes first (:func:`wakes_first`); returns the new size."""
    theta, loans, debt, collateral = heap
    size -= 1
    key = theta[base + size]
    loan = loans[base + size]
    moving_debt = debt[base + size]
    moving_collateral = collateral[base + size]
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
        here = base + node
        if first == node:
            theta[here] = key
            loans[here] = loan
            debt[here] = moving_debt
            collateral[here] = moving_collateral
            return size
        at = base + first
        theta[here] = first_key
        loans[here] = first_loan
        debt[here] = debt[at]
        collateral[here] = collateral[at]
        node = first


@kernel
def wake_push(
    heap: Sleepers,
    base: int,
    size: int,
    key: float,
    loan: int,
    loan_debt: float,
    loan_collateral: float,
) -> int:
    """Add ``loan`` with threshold ``key``, debt and collateral to the heap of
    :func:`wake_pop`; returns the new size."""
    theta, loans, debt, collateral = heap
    node = size
    while node > 0:
        parent = (node - 1) // 2
        at = base + parent
        if not wakes_first(key, loan, theta[at], loans[at]):
            break
        here = base + node
        theta[here] = theta[at]
        loans[here] = loans[at]
        debt[here] = debt[at]
        collateral[here] = collateral[at]
        node = parent
    here = base + node
    theta[here] = key
    loans[here] = loan
    debt[here] = loan_debt
    collateral[here] = loan_collateral
    return size + 1


@kernel
def wake_next(
    fresh_sleepers: Sleepers,
    fresh: np.ndarray,
    heap: Sleepers,
    returned: np.ndarray,
    group: int,
    base: int,
    end: int,
    limit: float,
) -> tuple[int, float, float]:
    """The next sleeper of ``group`` with ``theta > limit``, taken out of its queue: its
    loan, debt and collateral; loan -1 if none.

    ``fresh_sleepers`` are every group's loans by descending ``theta`` (ties: loan
    order) with their initial debt and collateral, the group's at ``base`` to ``end``;
    ``fresh[group]`` is the first of them never woken on the path. ``heap`` at ``base``
    holds the ``returned[group]`` loans returned to sleep on the path. Of the two heads,
    the one that wakes first (:func:`wakes_first`) is taken.
    """
    theta0, loans0, debt0, collateral0 = fresh_sleepers
    theta, loans, debt, collateral = heap
    position = fresh[group]
    from_fresh = position < end and theta0[position] > limit
    size = returned[group]
    from_returned = size > 0 and theta[base] > limit
    if from_fresh and from_returned:
        from_fresh = wakes_first(theta0[position], loans0[position], theta[base], loans[base])
    if from_fresh:
        fresh[group] = position + 1
        return loans0[position], debt0[position], collateral0[position]
    if from_returned:
        woken = (loans[base], debt[base], collateral[base])
        returned[group] = wake_pop(heap, base, size)
        return woken
    return -1, 0.0, 0.0
