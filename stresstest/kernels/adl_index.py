"""Index structures of ranked ADL: best-first selection in ``O(log N)`` per position (10.2).

A ranked ADL event (``profit_leverage``, ``hyperliquid``) takes the candidates of
one side by descending score, ties by index. Per unit of quantity a candidate is
its entry ``e`` and its collateral per unit ``m = c / q``, and both scores are
functions of ``(e, m)`` at the ADL price ``A`` alone (docs/model.md 10.2):

- ``profit_leverage``: ``A x / (m (m + x))`` with ``x = s (A - e) > 0``: increasing
  in ``x``, decreasing in ``m`` (``+inf`` at ``m = 0``);
- ``hyperliquid``: ``(A / e) A / (m + A - e)`` for a long, ``e / (m + e - A)`` for a
  short: decreasing in ``m``; in ``e`` the long's is ``A^2 / (e (m + A - e))`` with a
  concave denominator and the short's monotone, so over an interval of ``e`` the
  largest value is at an end.

So a box ``[e_min, e_max] x [m_min, ...)`` bounds the score of every candidate
in it (the best end of its ``e`` interval, cut at ``A``, with its minimum ``m``;
widened by :data:`BOUND_SLACK` for rounding: :func:`node_bound`). The search of
:func:`deleverage` runs on a k-d tree over ``(e, m)``
(:mod:`stresstest.kernels.adl_kdtree`), whose boxes are small in both, and takes
flagged positions out of it when it meets them. A best-first search pops nodes by
bound and positions by ``(score desc, index asc)``, a node before a position of
equal value, so the order taken is that of a full sort. The partial pipeline's
search (:mod:`stresstest.kernels.partial_adl`) runs on the same k-d tree.

The event's candidate count (the Gini population) is a count of the range's
positions with ``e`` below (above, for shorts) ``A``: a wavelet matrix over entry
ranks answers it in ``O(log N)``, less the deleveraged positions still in range,
kept in a Fenwick tree over entry ranks (a heap by index drops those that left
the range, each once).

Static parts are built once per call of the pipeline (per chunk of paths, not per
path); each thread keeps working copies and restores, after each path, only what
the path touched (touched-list undo), so a path that never deleverages costs
nothing for ADL. An event costs ``O((k + 1) log N)`` for ``k`` positions
deleveraged plus ``O(log N)`` per node whose bound is above the last score taken
although none of its candidates is (each event restarts at the root: scores move
with the price), plus ``O(log N)`` once per path per flagged position the search
meets (docs/model.md 10.2, docs/performance.md).
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.adl import N_REMOVED, adl_score, remove_position
from stresstest.kernels.adl_kdtree import (
    BOX_E_MAX,
    BOX_E_MIN,
    BOX_M_MIN,
    BUILT,
    KD_COUNTERS,
    KD_LEAF,
    KD_NODES,
    KD_OUT,
    KD_PERM,
    KD_ROWS,
    KD_SLOT,
    OUT,
    ROW_ENTRY,
    ROW_QTY,
    KdTree,
    build_kd,
    new_kd,
    restore_kd,
    sync_range,
    take_out,
)
from stresstest.kernels.fenwick import fenwick_add, fenwick_prefix
from stresstest.kernels.jit import kernel
from stresstest.kernels.wavelet import wavelet_build, wavelet_count_less

#: A side's static index (:func:`build_static`).
AdlIndex = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
#: A thread's working state of one side (:func:`new_work`, items ``W_*``).
AdlWork = tuple[
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
]

#: Positions per leaf of the k-d tree.
LEAF = KD_LEAF
#: Relative widening of a node's score bound for rounding (the bound of real scores
#: is exact; the computed score of a position differs by a few ulps).
BOUND_SLACK = 1e-9

# Slots of a side's working counters.
TOUCHED = 0  # positions touched this path (the length of the touched list)
IN_RANGE = 1  # size of the by-index heap of deleveraged positions still in range
N_COUNTERS = 2

# Items of a side's working state (the tuple of :func:`new_work`).
W_NODES = 0  # an empty (0, 2 P) array: the k-d tree's node count is its width
W_REMOVED = 1
W_REMAIN = 2
W_GIVEN = 3
W_TOUCHED = 4
W_MARKED = 5
W_BY_RANK = 6
W_BY_INDEX = 7
W_COUNTERS = 8
W_KD = 9  # the k-d tree's items (adl_kdtree.KD_*) from here on


@kernel
def leaf_base(n: int) -> int:
    """``P``: the first leaf node (a power of 2 at least the number of buckets)."""
    n_buckets = max(1, (n + LEAF - 1) // LEAF)
    base = 1
    while base < n_buckets:
        base *= 2
    return base


@kernel
def build_static(positions: np.ndarray) -> AdlIndex:
    """The static index of one side from its ``(3, n)`` rows ``q``, ``e``, ``c`` (sorted order).

    Returns ``(nodes, per_unit, ranks, sorted_entries, bits, ones, zeros)``: an
    empty ``(0, 2 P)`` array whose width is the node count of the side's k-d tree
    (:func:`leaf_base`; the tree itself is built per thread on its first ranked
    event), ``m = c / q``, each entry's rank (how many entries are below it), the
    sorted entries and the wavelet matrix of the ranks.
    """
    n = positions.shape[1]
    qty = positions[0]
    entry = positions[1]
    per_unit = np.empty(n)
    for position in range(n):
        per_unit[position] = positions[2, position] / qty[position]
    nodes = np.empty((0, 2 * leaf_base(n)))
    sorted_entries = np.sort(entry)
    ranks = np.searchsorted(sorted_entries, entry).astype(np.int64)  # side="left"
    n_levels = 1
    while (1 << n_levels) <= n:
        n_levels += 1
    bits, ones, zeros = wavelet_build(ranks, n_levels)
    return nodes, per_unit, ranks, sorted_entries, bits, ones, zeros


@kernel
def new_work(n: int, static_nodes: np.ndarray) -> AdlWork:
    """A thread's working state of one side, every position open (items ``W_*``).

    ``(nodes, removed, remain, given, touched, marked, by_rank, by_index,
    counters)``: ``static_nodes`` (the index's empty ``(0, 2 P)`` array), the
    removal trees ``(N_REMOVED, n + 1)``, the remaining fraction and amount given
    up per position (quote units), the touched list and its marks, a Fenwick
    tree by entry rank of the deleveraged positions in range and a heap of them
    by index, and the counters (:data:`TOUCHED`, :data:`IN_RANGE`), and the k-d
    tree the ranked search runs on (:mod:`stresstest.kernels.adl_kdtree`, built
    on the first ranked event).
    Allocated once per thread, never per path.
    """
    # The k-d tree only where the index was built over the side (ranked policies).
    kd = new_kd(n if static_nodes.shape[1] == 2 * leaf_base(n) else 0, static_nodes.shape[1])
    return (
        static_nodes.copy(),
        np.zeros((N_REMOVED, n + 1)),
        np.ones(n),
        np.zeros(n),
        np.empty(n, dtype=np.int64),
        np.zeros(n, dtype=np.uint8),
        np.zeros(n + 1),
        np.empty(n, dtype=np.int64),
        np.zeros(N_COUNTERS, dtype=np.int64),
        kd[0],
        kd[1],
        kd[2],
        kd[3],
        kd[4],
        kd[5],
        kd[6],
        kd[7],
        kd[8],
    )


@kernel
def kd_tree(work: AdlWork) -> KdTree:
    """The k-d tree held in a side's working state (items ``W_KD`` on)."""
    return (
        work[9],
        work[10],
        work[11],
        work[12],
        work[13],
        work[14],
        work[15],
        work[16],
        work[17],
    )


@kernel
def _zero_path(tree: np.ndarray, index: int) -> None:
    """Zero the Fenwick nodes that an update of element ``index`` touches."""
    position = index + 1
    size = tree.shape[0]
    while position < size:
        tree[position] = 0.0
        position += position & (-position)


@kernel
def restore(
    ranked: bool,
    ranks: np.ndarray,
    removed: np.ndarray,
    remain: np.ndarray,
    given: np.ndarray,
    touched: np.ndarray,
    marked: np.ndarray,
    by_rank: np.ndarray,
    counters: np.ndarray,
) -> None:
    """Undo a path: every touched position open again, the trees as built, ``O(k log N)``.

    Every Fenwick tree starts at zeros and a path changes only the nodes above the
    positions it touched, so resetting those restores the state exactly (the k-d
    tree has its own restore, :func:`stresstest.kernels.adl_kdtree.restore_kd`).
    """
    for slot in range(counters[TOUCHED]):
        position = touched[slot]
        remain[position] = 1.0
        given[position] = 0.0
        marked[position] = 0
        for row in range(N_REMOVED):
            _zero_path(removed[row], position)
        if ranked:
            _zero_path(by_rank, ranks[position])
    counters[TOUCHED] = 0
    counters[IN_RANGE] = 0


@kernel
def _touch(touched: np.ndarray, marked: np.ndarray, counters: np.ndarray, position: int) -> None:
    """Record ``position`` in the touched list the first time a path changes it."""
    if marked[position] == 0:
        marked[position] = 1
        touched[counters[TOUCHED]] = position
        counters[TOUCHED] += 1


@kernel
def _before(keys: np.ndarray, tags: np.ndarray, i: int, j: int) -> bool:
    """Heap order: key ascending, then tag ascending."""
    return bool(keys[i] < keys[j] or (keys[i] == keys[j] and tags[i] < tags[j]))


@kernel
def _push(keys: np.ndarray, tags: np.ndarray, size: int, key: float, tag: int) -> int:
    """Push ``(key, tag)`` on the min-heap of ``size`` items; returns the new size."""
    slot = size
    keys[slot] = key
    tags[slot] = tag
    while slot > 0:
        parent = (slot - 1) // 2
        if not _before(keys, tags, slot, parent):
            break
        keys[slot], keys[parent] = keys[parent], keys[slot]
        tags[slot], tags[parent] = tags[parent], tags[slot]
        slot = parent
    return size + 1


@kernel
def _pop(keys: np.ndarray, tags: np.ndarray, size: int) -> int:
    """Drop the heap's first item (read it before); returns the new size."""
    size -= 1
    keys[0] = keys[size]
    tags[0] = tags[size]
    slot = 0
    while True:
        child = 2 * slot + 1
        if child >= size:
            break
        if child + 1 < size and _before(keys, tags, child + 1, child):
            child += 1
        if not _before(keys, tags, child, slot):
            break
        keys[slot], keys[child] = keys[child], keys[slot]
        tags[slot], tags[child] = tags[child], tags[slot]
        slot = child
    return size


@kernel
def _unit_score(policy: int, side: int, price: float, entry: float, per_unit: float) -> float:
    """The score per unit of quantity at entry ``entry`` and collateral per unit ``per_unit``.

    Real-valued form of :func:`stresstest.kernels.adl.adl_score` with ``q = 1``
    (``+inf`` where a denominator is 0).
    """
    gain = side * (price - entry)
    if policy == enums.ADL_HYPERLIQUID:
        if per_unit + gain <= 0.0 or entry <= 0.0:
            return np.inf
        ratio = price / entry if side > 0 else entry / price
        return ratio * (price / (per_unit + gain))
    if per_unit <= 0.0:
        return np.inf
    return (gain / per_unit) * (price / (per_unit + gain))


@kernel
def node_bound(
    policy: int, side: int, price: float, e_min: float, e_max: float, m_min: float
) -> float:
    """An upper bound of the scores of a node's candidates; ``-inf`` if it has none.

    The scores are decreasing in ``m`` and largest at an end of the node's ``e``
    interval cut to the candidates' side of ``price`` (module docstring).
    """
    if side > 0:
        if not e_min < price:
            return -np.inf
        low = e_min
        high = min(e_max, price)
    else:
        if not e_max > price:
            return -np.inf
        low = max(e_min, price)
        high = e_max
    bound = max(
        _unit_score(policy, side, price, low, m_min),
        _unit_score(policy, side, price, high, m_min),
    )
    return bound + abs(bound) * BOUND_SLACK


@kernel
def kd_search_start(
    tree: KdTree, keys: np.ndarray, tags: np.ndarray, policy: int, side: int, price: float
) -> int:
    """Start the best-first search of the k-d tree (module docstring) on an empty heap.

    The root goes on the heap ``keys``, ``tags`` if it may hold a candidate; returns
    the heap's size. :func:`kd_search_next` then yields the leaves and positions.
    """
    boxes = tree[KD_NODES]
    root = node_bound(
        policy, side, price, boxes[BOX_E_MIN, 1], boxes[BOX_E_MAX, 1], boxes[BOX_M_MIN, 1]
    )
    if root > -np.inf:
        return _push(keys, tags, 0, -root, 1)
    return 0


@kernel
def kd_search_next(
    tree: KdTree,
    keys: np.ndarray,
    tags: np.ndarray,
    size: int,
    policy: int,
    side: int,
    price: float,
) -> tuple[int, int]:
    """The best-first search's next leaf or position: ``(tag, heap size)``.

    Pops the heap; an inner node's children go on it with their bounds
    (:func:`node_bound`, ``-inf``: left out) and the next item is popped, until a
    leaf (``base <= tag < 2 base``, ``base`` the tree's first leaf node: the caller
    scores its candidates and pushes them with tag ``2 base + position``) or a
    position (``tag >= 2 base``: the best remaining candidate) is on top. ``tag``
    ``-1``: the heap is empty. Ties pop by tag (:func:`_before`).
    """
    boxes = tree[KD_NODES]
    base = boxes.shape[1] // 2
    while size > 0:
        tag = tags[0]
        size = _pop(keys, tags, size)
        if tag >= base:
            return tag, size
        for child in range(2 * tag, 2 * tag + 2):
            bound = node_bound(
                policy,
                side,
                price,
                boxes[BOX_E_MIN, child],
                boxes[BOX_E_MAX, child],
                boxes[BOX_M_MIN, child],
            )
            if bound > -np.inf:
                size = _push(keys, tags, size, -bound, child)
    return -1, size


@kernel
def _candidates(
    side: int,
    price: float,
    start: int,
    stop: int,
    ranks: np.ndarray,
    sorted_entries: np.ndarray,
    bits: np.ndarray,
    ones: np.ndarray,
    zeros: np.ndarray,
    by_rank: np.ndarray,
    by_index: np.ndarray,
    counters: np.ndarray,
) -> int:
    """Open positions of ``[start, stop)`` on the profitable side of ``price``: ``O(log N)``.

    The range shrinks only from its flagged end (a long's ``stop``, a short's
    ``start``), so the deleveraged positions that left it are dropped from the top
    of the by-index heap, each once.
    """
    size = int(counters[IN_RANGE])
    while size > 0 and ((side > 0 and -by_index[0] >= stop) or (side < 0 and by_index[0] < start)):
        position = -by_index[0] if side > 0 else by_index[0]
        fenwick_add(by_rank, ranks[position], -1.0)
        size = _pop_index(by_index, size)
    counters[IN_RANGE] = size
    if side > 0:
        below = int(np.searchsorted(sorted_entries, price))  # entries < price
        static = wavelet_count_less(bits, ones, zeros, start, stop, below)
        return static - int(fenwick_prefix(by_rank, below))
    not_above = int(np.searchsorted(sorted_entries, price, side="right"))  # entries <= price
    static = (stop - start) - wavelet_count_less(bits, ones, zeros, start, stop, not_above)
    return static - (size - int(fenwick_prefix(by_rank, not_above)))


@kernel
def _push_index(heap: np.ndarray, size: int, key: int) -> int:
    """Push ``key`` on an integer min-heap; returns the new size."""
    slot = size
    heap[slot] = key
    while slot > 0:
        parent = (slot - 1) // 2
        if heap[parent] <= heap[slot]:
            break
        heap[slot], heap[parent] = heap[parent], heap[slot]
        slot = parent
    return size + 1


@kernel
def _pop_index(heap: np.ndarray, size: int) -> int:
    """Drop the integer min-heap's first item; returns the new size."""
    size -= 1
    heap[0] = heap[size]
    slot = 0
    while True:
        child = 2 * slot + 1
        if child >= size:
            break
        if child + 1 < size and heap[child + 1] < heap[child]:
            child += 1
        if heap[slot] <= heap[child]:
            break
        heap[slot], heap[child] = heap[child], heap[slot]
        slot = child
    return size


@kernel
def deleverage(
    policy: int,
    side: int,
    need: float,
    price: float,
    threshold: np.ndarray,
    positions: np.ndarray,
    start: int,
    stop: int,
    index: AdlIndex,
    work: AdlWork,
    keys: np.ndarray,
    tags: np.ndarray,
) -> tuple[float, float, float, float, float, float]:
    """Cover ``need`` (quote units) from the open positions ``[start, stop)`` of one side.

    ``positions`` are the side's ``(3, n)`` rows ``q``, ``e``, ``c``; ``index`` its
    :func:`build_static`, ``work`` the thread's :func:`new_work`, ``keys`` and
    ``tags`` a heap of at least ``2 P + n`` items. Candidates are the open
    positions (``remain > 0``) with unrealized profit ``u = side q (price - e) > 0``.
    ``profit_leverage`` and ``hyperliquid`` take them by descending
    :func:`stresstest.kernels.adl.adl_score`, ties by index (the threshold order),
    by the best-first search of the module docstring; each is removed and gives
    ``min(u, need left)``. ``pro_rata`` is :func:`_pro_rata`. What each gives is added
    to ``given[position]``. Returns ``(cover, need left, notional q price, count,
    quantity, gini)``: the cover and the need not covered (quote units; 0 exactly
    when covered), then the deleveraged positions' notional (quote units), count
    and quantity (base units), and the Gini coefficient of the haircut ``h_j =
    taken_j / u_j`` over every candidate (docs/model.md 10.2). A ranked event costs
    ``O((k + 1) log N)`` for ``k`` positions deleveraged plus ``O(log N)`` per node
    with a loose bound and per flagged position met (module docstring). The k-d
    tree is built on the thread's first ranked event of the call.
    """
    if policy == enums.ADL_PRO_RATA:
        return _pro_rata(side, need, price, threshold, positions, start, stop, work)
    _, per_unit, ranks, sorted_entries, bits, ones, zeros = index
    removed = work[W_REMOVED]
    remain = work[W_REMAIN]
    given = work[W_GIVEN]
    touched = work[W_TOUCHED]
    marked = work[W_MARKED]
    by_rank = work[W_BY_RANK]
    by_index = work[W_BY_INDEX]
    counters = work[W_COUNTERS]
    tree = kd_tree(work)
    qty = positions[0]
    entry = positions[1]
    collateral = positions[2]
    n_all = _candidates(
        side,
        price,
        start,
        stop,
        ranks,
        sorted_entries,
        bits,
        ones,
        zeros,
        by_rank,
        by_index,
        counters,
    )
    if n_all <= 0 or stop <= start:
        return 0.0, max(0.0, need), 0.0, 0.0, 0.0, 0.0
    if tree[KD_COUNTERS][BUILT] == 0:
        build_kd(tree, positions, per_unit)
    sync_range(tree, remain, start, stop)
    boxes = tree[KD_NODES]
    rows = tree[KD_ROWS]
    perm = tree[KD_PERM]
    out = tree[KD_OUT]
    n = qty.shape[0]
    base = boxes.shape[1] // 2
    left = need
    cover = 0.0
    notional = 0.0
    count = 0.0
    removed_qty = 0.0
    weighted = 0.0  # sum over takers in rank order k of (n_all + 1 - k) h_k
    haircuts = 0.0  # sum of h_k
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
                if position < start or position >= stop:  # flagged: out for the path
                    take_out(tree, slot)
                    continue
                profit = side * rows[ROW_QTY, slot] * (price - rows[ROW_ENTRY, slot])
                if profit > 0.0:
                    score = adl_score(
                        policy,
                        side,
                        rows[ROW_QTY, slot],
                        rows[ROW_ENTRY, slot],
                        collateral[position],
                        profit,
                        price,
                    )
                    size = _push(keys, tags, size, -score, position_tag + position)
            continue
        position = tag - position_tag
        profit = side * qty[position] * (price - entry[position])
        taken = min(profit, left)
        left -= taken
        cover += taken
        _touch(touched, marked, counters, position)
        given[position] += taken
        remove_position(removed, remain, position, qty[position], threshold[position], 1.0)
        notional += qty[position] * price
        count += 1.0
        removed_qty += qty[position]
        haircut = taken / profit
        weighted += (n_all - count + 1.0) * haircut
        haircuts += haircut
        # The side's index: out of the k-d tree, the in-range counts.
        take_out(tree, tree[KD_SLOT][position])
        fenwick_add(by_rank, ranks[position], 1.0)
        counters[IN_RANGE] = _push_index(
            by_index, counters[IN_RANGE], -position if side > 0 else position
        )
    gini = 0.0
    if haircuts > 0.0:
        gini = max(0.0, 2.0 * weighted / (n_all * haircuts) - (n_all + 1.0) / n_all)
    return cover, max(0.0, left), notional, count, removed_qty, gini


@kernel
def _pro_rata(
    side: int,
    need: float,
    price: float,
    threshold: np.ndarray,
    positions: np.ndarray,
    start: int,
    stop: int,
    work: AdlWork,
) -> tuple[float, float, float, float, float, float]:
    """``pro_rata`` ADL: every candidate gives up the fraction ``f`` of its profit.

    ``f = min(1, need / U)`` with ``U`` the candidates' total profit (summed in index
    order); each candidate is reduced by ``f`` of its remaining quantity (and
    collateral) at ``price``, the profit of the closed part is given up, the rest
    stays open. With ``U >= need`` the need counts as met (need left 0); otherwise
    every candidate is closed and ``need - U`` is left. Returns as :func:`deleverage`
    (the Gini is 0: every candidate's haircut is ``f``). Two scans, ``O(N)``, and
    every candidate is deleveraged, so ``O(1)`` per deleveraged position.
    """
    removed = work[W_REMOVED]
    remain = work[W_REMAIN]
    given = work[W_GIVEN]
    touched = work[W_TOUCHED]
    marked = work[W_MARKED]
    counters = work[W_COUNTERS]
    qty = positions[0]
    entry = positions[1]
    total = 0.0
    for position in range(start, stop):
        if remain[position] > 0.0:
            profit = side * qty[position] * remain[position] * (price - entry[position])
            if profit > 0.0:
                total += profit
    if not total > 0.0:
        return 0.0, need, 0.0, 0.0, 0.0, 0.0
    fraction = 1.0 if need >= total else need / total
    cover = 0.0
    notional = 0.0
    count = 0.0
    removed_qty = 0.0
    for position in range(start, stop):
        if remain[position] > 0.0:
            profit = side * qty[position] * remain[position] * (price - entry[position])
            if profit > 0.0:
                taken = profit * fraction
                cover += taken
                _touch(touched, marked, counters, position)
                given[position] += taken
                closed = qty[position] * (remain[position] * fraction)
                notional += closed * price
                removed_qty += closed
                count += 1.0
                remove_position(
                    removed, remain, position, qty[position], threshold[position], fraction
                )
    left = need - total if fraction >= 1.0 else 0.0
    return cover, left, notional, count, removed_qty, 0.0


@kernel
def touched_top_shares(
    long_given: np.ndarray,
    long_touched: np.ndarray,
    n_long: int,
    short_given: np.ndarray,
    short_touched: np.ndarray,
    n_short: int,
) -> tuple[float, float]:
    """:func:`stresstest.kernels.adl.top_shares` over the touched lists only.

    A deleveraged trader is a position with ``given > 0`` (what it gave up over the
    path, quote units) on either side, found among the first ``n_long`` /
    ``n_short`` of the touched lists; with ``n`` of them the top ``k = ceil(0.01
    n)`` (``ceil(0.1 n)``) by amount, and the share ``sum of their amounts / sum of
    all``, both summed largest first. ``(0, 0)`` when nobody gave anything.
    ``O(k log k)`` for ``k`` touched positions.
    """
    amounts = np.empty(n_long + n_short)
    n = 0
    for slot in range(n_long):
        value = long_given[long_touched[slot]]
        if value > 0.0:
            amounts[n] = value
            n += 1
    for slot in range(n_short):
        value = short_given[short_touched[slot]]
        if value > 0.0:
            amounts[n] = value
            n += 1
    if n == 0:
        return 0.0, 0.0
    amounts = np.sort(amounts[:n])[::-1]
    k1 = int(np.ceil(0.01 * n))
    k10 = int(np.ceil(0.1 * n))
    total = 0.0
    top1 = 0.0
    top10 = 0.0
    for rank in range(n):
        total += amounts[rank]
        if rank < k1:
            top1 += amounts[rank]
        if rank < k10:
            top10 += amounts[rank]
    return top1 / total, top10 / total


@kernel
def restore_side(ranked: bool, index: AdlIndex, work: AdlWork) -> None:
    """Undo what a path did to one side's ADL working state (touched-list undo)."""
    tree = kd_tree(work)
    if ranked and tree[KD_COUNTERS][BUILT] != 0:  # the k-d tree, once a search built it
        restore_kd(tree)
    restore(
        ranked,
        index[2],
        work[W_REMOVED],
        work[W_REMAIN],
        work[W_GIVEN],
        work[W_TOUCHED],
        work[5],
        work[6],
        work[W_COUNTERS],
    )
