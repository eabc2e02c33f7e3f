"""ADL over a single-asset book with partial liquidation: each position's state (10.1, 10.2).

The partial stage (:mod:`stresstest.kernels.partial`) keeps a partial close per
cohort: a cohort's members share the threshold ``T`` of their last close, and
only their total quantity ``Q`` is booked. ADL ranks and closes positions one by
one, so with both stages on the state a position needs for ADL is *materialised*
for the positions the partial stage touches, and only for them (docs/model.md
10.2, "ADL with partial liquidation"):

- ``status``: :data:`OPEN` (armed, or re-armed or kept by a close of this step:
  an ADL candidate if it has quantity left), :data:`QUEUED` (flagged, awaiting its
  close) or :data:`GONE` (closed in full, or taken over by the backstop vault);
- ``remain``: its remaining fraction of its original quantity (the ADL working
  state's ``remain``, shared with pro-rata reductions): a partial close multiplies
  it by ``q'/q``;
- ``level``: its threshold ``e - s c / q`` now (``T`` of its last partial close;
  the original threshold before), so its collateral is ``s q (e - level)``;
- ``cohort_of``: the id of the cohort it belongs to (:data:`NO_COHORT` before its
  first partial close, :data:`LAST` after a partial close at the last step, which
  forms no cohort), so that ADL's closes of a member come off its cohort's
  ``Q`` and count (what the partial stage sees later);
- ``armed_from``: the first step it counts in ``Q_t`` again, so that ADL takes
  what it closes out of ``Q_t`` only if it was armed.

Cohort membership is a linked list per cohort id (``heads``, ``tails`` per path,
``next_member`` per thread). Flags, closes and takeovers update every position of
the range or cohort they act on: ``O(1)`` per position per partial-stage event, the
counts by entry rank of the positions that are not candidates included (the count
of an event's candidates, the Gini population, is read from them at each event:
:func:`_count_add`, :func:`_count_below`). A position
never touched by the partial stage costs nothing. The ranked search runs on the
k-d tree of :mod:`stresstest.kernels.adl_kdtree`, built from the original ``(e, m)``:
a position's collateral per unit ``m = s (e - level)`` only grows under partial
closes (a partial close has ``s (theta - T) > 0``) and ``pro_rata`` keeps it, so a
box's minimum ``m`` at build time still bounds every score in it. A queued or closed
position the search meets leaves the tree then, and a queued one goes back in
(:func:`stresstest.kernels.adl_kdtree.put_back`) when a close re-arms or keeps it
(:func:`_set_status`): the order taken is that of a full sort. Every array is per
thread, restored by the touched list after each path (:func:`restore_partial`),
never positions x paths x steps.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.adl import adl_score, remove_position
from stresstest.kernels.adl_index import (
    TOUCHED,
    AdlIndex,
    AdlWork,
    _push,
    _touch,
    kd_search_next,
    kd_search_start,
    kd_tree,
)
from stresstest.kernels.adl_kdtree import (
    BUILT,
    KD_COUNTERS,
    KD_LEAF,
    KD_NODES,
    KD_OUT,
    KD_PERM,
    KD_SLOT,
    OUT,
    build_kd,
    put_back,
    take_out,
)
from stresstest.kernels.jit import kernel
from stresstest.kernels.partial import (
    COH_COUNT,
    COH_HELD_COUNT,
    COH_HELD_FROM,
    COH_HELD_QTY,
    COH_HELD_TO,
    COH_ID,
    COH_QTY,
    COH_THRESHOLD,
    N_COH_HELD,
    Q_A,
    Q_B,
    Q_COHORT,
    Q_FLAG,
    _cohort_row,
    split_due_range,
)
from stresstest.kernels.partial_rules import COH_MEMBER, N_COH_RULES

#: A thread's per-position state of one side (:func:`new_partial_work`, items ``P_*``).
PartialAdlWork = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]

P_STATUS = 0
P_FROM = 1
P_LEVEL = 2
P_COHORT = 3
P_NEXT = 4
P_BUCKETS = 5

#: Entry ranks per bucket of the non-candidate counts (:func:`_count_add`).
RANK_BUCKET = 1024

OPEN = 0
QUEUED = 1
GONE = 2

NO_COHORT = -1
LAST = -2


@kernel
def new_partial_work(threshold: np.ndarray) -> PartialAdlWork:
    """A thread's per-position state of one side, every position open and never closed.

    ``(status, armed_from, level, cohort_of, next_member, buckets)`` over the
    side's sorted positions (``threshold`` their thresholds; empty: the stage pair
    is off); ``buckets`` holds the counts of non-candidates per
    :data:`RANK_BUCKET` entry ranks (:func:`_count_add`).
    """
    n = threshold.shape[0]
    return (
        np.zeros(n, dtype=np.uint8),
        np.zeros(n, dtype=np.int64),
        threshold.copy(),
        np.full(n, NO_COHORT, dtype=np.int64),
        np.empty(n, dtype=np.int64),
        np.zeros(n // RANK_BUCKET + 1),
    )


@kernel
def _count_add(by_rank: np.ndarray, buckets: np.ndarray, rank: int, change: float) -> None:
    """Add ``change`` to the non-candidates of entry rank ``rank``: ``O(1)``.

    The partial pipeline changes a position's candidacy at every flag, close and
    takeover it takes part in, and reads the counts only at ADL events, so the
    counts are kept per rank (``by_rank``, the working state's ``W_BY_RANK``) and
    per bucket of :data:`RANK_BUCKET` ranks instead of in a Fenwick tree.
    """
    by_rank[rank] += change
    buckets[rank // RANK_BUCKET] += change


@kernel
def _count_below(by_rank: np.ndarray, buckets: np.ndarray, rank: int) -> int:
    """Non-candidates with entry rank below ``rank``: ``O(N / RANK_BUCKET + RANK_BUCKET)``."""
    whole = rank // RANK_BUCKET
    total = 0.0
    for bucket in range(whole):
        total += buckets[bucket]
    for below in range(whole * RANK_BUCKET, rank):
        total += by_rank[below]
    return int(total)


@kernel
def restore_partial(
    threshold: np.ndarray, ranks: np.ndarray, work: AdlWork, partial: PartialAdlWork
) -> None:
    """Reset the per-position state of every touched position (before the ADL restore).

    ``ranks`` are the entry ranks of the side's ADL index (empty unless ranked): the
    counts of :func:`_count_add` of every touched position's rank and bucket are
    zeroed, which leaves them all zero (only touched positions changed them).
    """
    touched = work[4]
    by_rank = work[6]
    counters = work[8]
    status, armed_from, level, cohort_of, _, buckets = partial
    ranked = ranks.shape[0] > 0
    for slot in range(counters[TOUCHED]):
        position = touched[slot]
        status[position] = OPEN
        armed_from[position] = 0
        level[position] = threshold[position]
        cohort_of[position] = NO_COHORT
        if ranked:
            by_rank[ranks[position]] = 0.0
            buckets[ranks[position] // RANK_BUCKET] = 0.0


@kernel
def _set_status(
    position: int,
    new: int,
    ranked: bool,
    ranks: np.ndarray,
    work: AdlWork,
    partial: PartialAdlWork,
) -> None:
    """Set a position's status, keeping the counts of non-candidates by entry rank."""
    remain = work[2]
    by_rank = work[6]
    status = partial[P_STATUS]
    _touch(work[4], work[5], work[8], position)
    was = status[position] == OPEN and remain[position] > 0.0
    status[position] = new
    now = new == OPEN and remain[position] > 0.0
    if ranked and was != now:
        _count_add(by_rank, partial[P_BUCKETS], ranks[position], 1.0 if was else -1.0)
    if ranked and now:  # a candidate again: back in the search's k-d tree if it left
        tree = kd_tree(work)
        if tree[KD_COUNTERS][BUILT] != 0:
            slot = tree[KD_SLOT][position]
            if tree[KD_OUT][slot] == OUT:
                put_back(tree, slot)


@kernel
def first_member(cohort_id: float, heads: np.ndarray, cohorts: np.ndarray, n_cohorts: int) -> int:
    """The first member of the cohort ``cohort_id`` (then ``next_member`` to -1).

    The target rule links a cohort's members from ``heads``; under the fraction rule
    (a cohort table with the :data:`COH_MEMBER` column) a row has one member, its
    position in the sorted book, whose ``next_member`` is -1.
    """
    if cohorts.shape[1] == N_COH_RULES:
        return int(cohorts[_cohort_row(cohorts, n_cohorts, cohort_id), COH_MEMBER])
    return int(heads[int(cohort_id)])


@kernel
def track_flags(
    queue: np.ndarray,
    first_row: int,
    stop_row: int,
    heads: np.ndarray,
    cohorts: np.ndarray,
    n_cohorts: int,
    ranked: bool,
    ranks: np.ndarray,
    work: AdlWork,
    partial: PartialAdlWork,
) -> None:
    """Mark :data:`QUEUED` the positions of the queue rows ``[first_row, stop_row)`` (new flags)."""
    remain = work[2]
    following = partial[P_NEXT]
    for row in range(first_row, stop_row):
        if queue[row, Q_COHORT] > 0.0:
            member = first_member(queue[row, Q_A], heads, cohorts, n_cohorts)
            while member >= 0:
                if remain[member] > 0.0:
                    _set_status(member, QUEUED, ranked, ranks, work, partial)
                member = following[member]
        else:
            for position in range(int(queue[row, Q_A]), int(queue[row, Q_B])):
                if remain[position] > 0.0:
                    _set_status(position, QUEUED, ranked, ranks, work, partial)


@kernel
def _reopen(
    position: int,
    close_step: int,
    ranked: bool,
    ranks: np.ndarray,
    work: AdlWork,
    partial: PartialAdlWork,
) -> None:
    """A re-armed or kept position: open (an ADL candidate), armed from ``close_step + 1``."""
    _set_status(position, OPEN, ranked, ranks, work, partial)
    partial[P_FROM][position] = close_step + 1


@kernel
def _join(
    position: int,
    tag: int,
    target: float,
    close_step: int,
    heads: np.ndarray,
    tails: np.ndarray,
    ranked: bool,
    ranks: np.ndarray,
    work: AdlWork,
    partial: PartialAdlWork,
) -> None:
    """A partially closed position (``remain`` already scaled) joins the cohort ``tag``."""
    _reopen(position, close_step, ranked, ranks, work, partial)
    partial[P_LEVEL][position] = target
    partial[P_COHORT][position] = tag
    if tag >= 0:
        following = partial[P_NEXT]
        following[position] = -1
        if heads[tag] < 0:
            heads[tag] = position
        else:
            following[tails[tag]] = position
        tails[tag] = position


@kernel
def track_close(
    side: int,
    flag_step: int,
    close_step: int,
    last_step: int,
    target: float,
    full_bound: float,
    denominator: float,
    threshold: np.ndarray,
    queue: np.ndarray,
    head: int,
    n_queue: int,
    cohorts: np.ndarray,
    n_cohorts: int,
    heads: np.ndarray,
    tails: np.ndarray,
    ranked: bool,
    ranks: np.ndarray,
    work: AdlWork,
    partial: PartialAdlWork,
) -> None:
    """The per-position side of :func:`stresstest.kernels.partial.close_side`, called before it.

    The same queue rows, cases and binary searches: a re-armed position is open
    again, one closed in full is :data:`GONE`, one closed partially keeps ``q'/q =
    s (F - theta) / D`` of its quantity (a cohort's members the same factor, ``theta``
    the cohort's threshold), the threshold ``T`` and joins the cohort the step's
    partial remains form (the id ``close_side`` gives it; :data:`LAST` at the last
    step, which forms none).
    """
    remain = work[2]
    following = partial[P_NEXT]
    alive_after = close_step < last_step
    tag = LAST
    if alive_after:
        tag = int(cohorts[n_cohorts - 1, COH_ID]) + 1 if n_cohorts else 0
        heads[tag] = -1
        tails[tag] = -1
    row = head
    while row < n_queue and queue[row, Q_FLAG] == flag_step:
        if queue[row, Q_COHORT] > 0.0:
            cohort = int(queue[row, Q_A])
            level = cohorts[_cohort_row(cohorts, n_cohorts, queue[row, Q_A]), COH_THRESHOLD]
            factor = 0.0
            if side * (target - level) >= 0.0:
                case = 0
            elif side * (level - full_bound) >= 0.0:
                case = 1
            else:
                case = 2
                factor = min(1.0, max(0.0, side * (full_bound - level) / denominator))
            member = heads[cohort]
            while member >= 0:
                after = following[member]
                if remain[member] > 0.0:
                    if case == 0:
                        _reopen(member, close_step, ranked, ranks, work, partial)
                    elif case == 1:
                        _set_status(member, GONE, ranked, ranks, work, partial)
                    else:
                        remain[member] *= factor
                        _join(
                            member,
                            tag,
                            target,
                            close_step,
                            heads,
                            tails,
                            ranked,
                            ranks,
                            work,
                            partial,
                        )
                member = after
            row += 1
            continue
        start = int(queue[row, Q_A])
        stop = int(queue[row, Q_B])
        row += 1
        rearm_start, rearm_stop, full_start, full_stop, part_start, part_stop = split_due_range(
            side, target, full_bound, threshold, start, stop
        )
        for position in range(rearm_start, rearm_stop):
            if remain[position] > 0.0:
                _reopen(position, close_step, ranked, ranks, work, partial)
        for position in range(full_start, full_stop):
            if remain[position] > 0.0:
                _set_status(position, GONE, ranked, ranks, work, partial)
        for position in range(part_start, part_stop):
            if remain[position] > 0.0:
                kept = side * (full_bound - threshold[position]) / denominator
                remain[position] *= min(1.0, max(0.0, kept))
                _join(position, tag, target, close_step, heads, tails, ranked, ranks, work, partial)


@kernel
def track_takeovers(
    side: int,
    before: np.ndarray,
    queue: np.ndarray,
    head: int,
    heads: np.ndarray,
    cohorts: np.ndarray,
    n_cohorts: int,
    ranked: bool,
    ranks: np.ndarray,
    work: AdlWork,
    partial: PartialAdlWork,
) -> None:
    """Mark :data:`GONE` what :func:`stresstest.kernels.partial.take_over_due` just took.

    ``before`` is the queue's rows from ``head`` as they were before it: a range
    that shrank lost its worst end, a cohort row emptied lost its members.
    """
    remain = work[2]
    following = partial[P_NEXT]
    for offset in range(before.shape[0]):
        row = head + offset
        if before[offset, Q_COHORT] > 0.0:
            if queue[row, Q_COHORT] > 0.0:
                continue
            member = first_member(before[offset, Q_A], heads, cohorts, n_cohorts)
            while member >= 0:
                if remain[member] > 0.0:
                    _set_status(member, GONE, ranked, ranks, work, partial)
                member = following[member]
            continue
        if side > 0:
            start = int(queue[row, Q_B])
            stop = int(before[offset, Q_B])
        else:
            start = int(before[offset, Q_A])
            stop = int(queue[row, Q_A])
        for position in range(start, stop):
            if remain[position] > 0.0:
                _set_status(position, GONE, ranked, ranks, work, partial)


@kernel
def _current(
    position: int,
    side: int,
    qty: np.ndarray,
    entry: np.ndarray,
    collateral: np.ndarray,
    remain: np.ndarray,
    partial: PartialAdlWork,
) -> tuple[float, float]:
    """A position's quantity (base units) and collateral (quote units) now."""
    q = qty[position] * remain[position]
    if partial[P_COHORT][position] == NO_COHORT:
        return q, collateral[position] * remain[position]
    return q, side * q * (entry[position] - partial[P_LEVEL][position])


@kernel
def _take(
    position: int,
    fraction: float,
    closed: float,
    threshold: np.ndarray,
    qty: np.ndarray,
    cohorts: np.ndarray,
    n_cohorts: int,
    ranked: bool,
    ranks: np.ndarray,
    work: AdlWork,
    partial: PartialAdlWork,
) -> None:
    """ADL closes ``fraction`` (``closed`` base units) of a position's quantity left.

    The range sums of its segment (ADL's removal trees) or its cohort's ``Q`` and
    count lose it (and with ``[procyclicality]`` the cohort's part the rate held at
    ``m_0`` never flags, if the position is of it), so the partial stage sees what is
    left.
    """
    removed = work[1]
    remain = work[2]
    cohort = partial[P_COHORT][position]
    if cohort >= 0:
        row = _cohort_row(cohorts, n_cohorts, float(cohort))
        if row < n_cohorts and cohorts[row, COH_ID] == cohort and cohorts[row, COH_COUNT] > 0.0:
            cohorts[row, COH_QTY] = max(0.0, cohorts[row, COH_QTY] - closed)
            if fraction >= 1.0:
                cohorts[row, COH_COUNT] -= 1.0
            if cohorts.shape[1] == N_COH_HELD and (  # [procyclicality]'s part (3.2)
                cohorts[row, COH_HELD_FROM] <= position < cohorts[row, COH_HELD_TO]
            ):
                cohorts[row, COH_HELD_QTY] = max(0.0, cohorts[row, COH_HELD_QTY] - closed)
                if fraction >= 1.0:
                    cohorts[row, COH_HELD_COUNT] -= 1.0
    _touch(work[4], work[5], work[8], position)
    was = remain[position] > 0.0
    remove_position(removed, remain, position, qty[position], threshold[position], fraction)
    if ranked and was and not remain[position] > 0.0:
        _count_add(work[6], partial[P_BUCKETS], ranks[position], 1.0)


@kernel
def deleverage_partial(
    policy: int,
    side: int,
    need: float,
    price: float,
    step: int,
    threshold: np.ndarray,
    positions: np.ndarray,
    cohorts: np.ndarray,
    n_cohorts: int,
    index: AdlIndex,
    work: AdlWork,
    partial: PartialAdlWork,
    keys: np.ndarray,
    tags: np.ndarray,
) -> tuple[float, float, float, float, float, float]:
    """Cover ``need`` (quote units) from the open positions of one side, partial closes known.

    :func:`stresstest.kernels.adl_index.deleverage` over the whole side with each
    position's quantity and collateral now (module docstring): candidates are the
    :data:`OPEN` positions with quantity left and profit ``u = s q (A - e) > 0``;
    the ranked policies take them by descending score, ties by index in the sorted
    book; ``pro_rata`` reduces every candidate by ``f = min(1, need / U)``. Returns
    ``(cover, need left, notional, count, armed quantity closed, gini)``: as
    ``deleverage`` but the quantity is only that of positions armed at ``step``
    (those armed from ``step + 1`` are counted in ``Q_t`` net of it when armed).
    """
    qty = positions[0]
    entry = positions[1]
    collateral = positions[2]
    n = qty.shape[0]
    remain = work[2]
    given = work[3]
    status = partial[P_STATUS]
    armed_from = partial[P_FROM]
    ranked = policy != enums.ADL_PRO_RATA
    if not ranked:
        total = 0.0
        for position in range(n):
            if status[position] == OPEN and remain[position] > 0.0:
                profit = side * qty[position] * remain[position] * (price - entry[position])
                if profit > 0.0:
                    total += profit
        if not total > 0.0:
            return 0.0, need, 0.0, 0.0, 0.0, 0.0
        fraction = 1.0 if need >= total else need / total
        cover = 0.0
        notional = 0.0
        count = 0.0
        armed_qty = 0.0
        for position in range(n):
            if status[position] == OPEN and remain[position] > 0.0:
                profit = side * qty[position] * remain[position] * (price - entry[position])
                if profit > 0.0:
                    taken = profit * fraction
                    cover += taken
                    given[position] += taken
                    closed = qty[position] * (remain[position] * fraction)
                    notional += closed * price
                    count += 1.0
                    if armed_from[position] <= step:
                        armed_qty += closed
                    _take(
                        position,
                        fraction,
                        closed,
                        threshold,
                        qty,
                        cohorts,
                        n_cohorts,
                        False,
                        index[2],
                        work,
                        partial,
                    )
        left = need - total if fraction >= 1.0 else 0.0
        return cover, left, notional, count, armed_qty, 0.0
    _, per_unit, ranks, sorted_entries, _, _, _ = index
    by_rank = work[6]
    buckets = partial[P_BUCKETS]
    # Candidates (the Gini population): entries on the profitable side of A, less the
    # positions that are not candidates (queued, closed, deleveraged) among them.
    if side > 0:
        below = int(np.searchsorted(sorted_entries, price))
        n_all = below - _count_below(by_rank, buckets, below)
    else:
        not_above = int(np.searchsorted(sorted_entries, price, side="right"))
        closed_above = _count_below(by_rank, buckets, n) - _count_below(by_rank, buckets, not_above)
        n_all = (n - not_above) - closed_above
    if n_all <= 0 or n == 0:
        return 0.0, max(0.0, need), 0.0, 0.0, 0.0, 0.0
    tree = kd_tree(work)
    if tree[KD_COUNTERS][BUILT] == 0:
        build_kd(tree, positions, per_unit)
    boxes = tree[KD_NODES]
    perm = tree[KD_PERM]
    out = tree[KD_OUT]
    base = boxes.shape[1] // 2
    left = need
    cover = 0.0
    notional = 0.0
    count = 0.0
    armed_qty = 0.0
    weighted = 0.0
    haircuts = 0.0
    position_tag = 2 * base
    size = kd_search_start(tree, keys, tags, policy, side, price)
    while left > 0.0:
        tag, size = kd_search_next(tree, keys, tags, size, policy, side, price)
        if tag < 0:  # no candidate left
            break
        if tag < position_tag:  # a leaf: its candidates
            first = (tag - base) * KD_LEAF
            for slot in range(first, min(first + KD_LEAF, n)):
                if out[slot] == OUT:
                    continue
                position = perm[slot]
                if not (status[position] == OPEN and remain[position] > 0.0):
                    take_out(tree, slot)  # queued or closed: back when a close re-arms it
                    continue
                q, c = _current(position, side, qty, entry, collateral, remain, partial)
                profit = side * q * (price - entry[position])
                if profit > 0.0:
                    score = adl_score(policy, side, q, entry[position], c, profit, price)
                    size = _push(keys, tags, size, -score, position_tag + position)
            continue
        position = tag - position_tag
        q, _ = _current(position, side, qty, entry, collateral, remain, partial)
        profit = side * q * (price - entry[position])
        taken = min(profit, left)
        left -= taken
        cover += taken
        _touch(work[4], work[5], work[8], position)
        given[position] += taken
        if armed_from[position] <= step:
            armed_qty += q
        _take(position, 1.0, q, threshold, qty, cohorts, n_cohorts, True, ranks, work, partial)
        notional += q * price
        count += 1.0
        haircut = taken / profit
        weighted += (n_all - count + 1.0) * haircut
        haircuts += haircut
        take_out(tree, tree[KD_SLOT][position])
    gini = 0.0
    if haircuts > 0.0:
        gini = max(0.0, 2.0 * weighted / (n_all * haircuts) - (n_all + 1.0) / n_all)
    return cover, max(0.0, left), notional, count, armed_qty, gini
