"""A k-d tree over ``(e, m)`` for the best-first search of ranked ADL (docs/model.md 10.2).

The ranked search of :func:`stresstest.kernels.adl_index.deleverage` bounds the
scores below a node by the node's box: its minimum and maximum entry ``e`` and
its minimum collateral per unit ``m = c / q`` (:func:`stresstest.kernels.adl_index.node_bound`).
In the side's threshold order a node pairs positions far apart in ``(e, m)``, so
that box is loose. Here the positions of one side are arranged in a k-d tree:
each inner node splits its slots at the median of ``e`` or of ``m``, whichever
spans more (both are quote per base, the units in which the scores compare
``x = s (A - e)`` with ``m``), so a node's box is small in both.

The tree ignores the index range of an event (the open positions ``[start,
stop)``): a position met at a leaf outside the range is taken out of the tree
(*lazy removal*) and its leaf and the nodes above it are recomputed. The range
of the non-partial pipeline shrinks only from its flagged end during a path, so
a position out of range stays out for the rest of the path and each leaves the
tree once; if a range ever grows back, every lazy removal is undone first
(:func:`sync_range`). A deleveraged position leaves the tree the same way. The
partial pipeline's search (:mod:`stresstest.kernels.partial_adl`) has no range: it
takes out the positions that are no candidates when it meets them (flagged or
closed) and puts a flagged one back (:func:`put_back`) when a close re-arms or keeps it.

Layout: slots ``0 .. n - 1`` hold the positions in tree order (``perm``), leaf
``b`` (node ``P + b``) holds slots ``[8 b, 8 b + 8)`` (a heap layout of ``2 P`` nodes),
and node ``i`` spans the slots of its leaves. The rows ``q``, ``e``, ``m`` are
copied in slot order so that a leaf is read contiguously. Per thread: the static
tree, built on the first ranked event of a call (``O(N log N)``, quickselect per
level), and a working copy that each path restores by its touched list.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.jit import kernel

#: A thread's k-d tree of one side (:func:`new_kd`, items ``KD_*``).
KdTree = tuple[
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

#: Positions per leaf (as :data:`stresstest.kernels.adl_index.LEAF`).
KD_LEAF = 8

# Rows of the node arrays ``(3, 2 P)``: the box of a node's positions in the tree.
BOX_E_MIN = 0
BOX_E_MAX = 1
BOX_M_MIN = 2

# Rows of the slot-ordered copies ``(3, n)``.
ROW_QTY = 0
ROW_ENTRY = 1
ROW_UNIT = 2

# Items of a thread's k-d tree.
KD_NODES = 0  # working boxes (3, 2 P)
KD_STATIC = 1  # boxes as built (3, 2 P)
KD_ROWS = 2  # q, e, m by slot (3, n)
KD_PERM = 3  # position of each slot
KD_SLOT = 4  # slot of each position
KD_OUT = 5  # per slot (uint8): IN_TREE, OUT or BACK
KD_TOUCHED = 6  # slots taken out this path
KD_COUNTERS = 7
KD_STAMP = 8  # per node, the last restore that reset it

# Values of ``KD_OUT``: a slot in the tree and in no touched list, out of the tree, or
# back in the tree after :func:`put_back` (still in the touched list, so taking it out
# again does not list it twice).
IN_TREE = 0
OUT = 1
BACK = 2

# Slots of the counters.
BUILT = 0  # 1 once the static tree is built
N_OUT = 1  # length of the touched list
RANGE_START = 2  # the range of the path's last event
RANGE_STOP = 3
GENERATION = 4  # restores so far (the stamp of the next one)
N_KD_COUNTERS = 5


@kernel
def new_kd(n: int, n_nodes: int) -> KdTree:
    """An unbuilt k-d tree of ``n`` positions with ``n_nodes`` nodes (allocated once per thread)."""
    counters = np.zeros(N_KD_COUNTERS, dtype=np.int64)
    counters[RANGE_STOP] = n
    return (
        np.empty((3, n_nodes)),
        np.empty((3, n_nodes)),
        np.empty((3, n)),
        np.empty(n, dtype=np.int64),
        np.empty(n, dtype=np.int64),
        np.zeros(n, dtype=np.uint8),
        np.empty(n, dtype=np.int64),
        counters,
        np.zeros(n_nodes, dtype=np.int64),
    )


@kernel
def node_span(node: int, base: int, n: int) -> tuple[int, int]:
    """Slots ``[first, stop)`` under ``node`` (leaves of :data:`KD_LEAF` slots from ``base``)."""
    height = 0
    while (node << height) < base:
        height += 1
    first = ((node << height) - base) * KD_LEAF
    stop = (((node + 1) << height) - base) * KD_LEAF
    return min(first, n), min(stop, n)


@kernel
def _swap(rows: np.ndarray, perm: np.ndarray, i: int, j: int) -> None:
    """Exchange slots ``i`` and ``j``."""
    for row in range(3):
        rows[row, i], rows[row, j] = rows[row, j], rows[row, i]
    perm[i], perm[j] = perm[j], perm[i]


@kernel
def _select(rows: np.ndarray, perm: np.ndarray, key: int, first: int, stop: int, k: int) -> None:
    """Reorder slots ``[first, stop)`` so that the ``k - first`` smallest ``rows[key]`` come first.

    Hoare quickselect with a median-of-three pivot, ``O(stop - first)`` expected;
    deterministic (no random pivot).
    """
    low = first
    high = stop - 1
    values = rows[key]
    while high > low:
        middle = (low + high) // 2
        a = values[low]
        b = values[middle]
        c = values[high]
        pivot = max(min(a, b), min(max(a, b), c))
        i = low
        j = high
        while i <= j:
            while values[i] < pivot:
                i += 1
            while values[j] > pivot:
                j -= 1
            if i <= j:
                _swap(rows, perm, i, j)
                i += 1
                j -= 1
        if k <= j:
            high = j
        elif k >= i:
            low = i
        else:
            break


@kernel
def _leaf_box(tree: KdTree, nodes: np.ndarray, node: int, first: int, stop: int) -> None:
    """Set a leaf's box from its slots ``[first, stop)`` still in the tree."""
    rows = tree[KD_ROWS]
    out = tree[KD_OUT]
    e_min = np.inf
    e_max = -np.inf
    m_min = np.inf
    for slot in range(first, stop):
        if out[slot] != OUT:
            e_min = min(e_min, rows[ROW_ENTRY, slot])
            e_max = max(e_max, rows[ROW_ENTRY, slot])
            m_min = min(m_min, rows[ROW_UNIT, slot])
    nodes[BOX_E_MIN, node] = e_min
    nodes[BOX_E_MAX, node] = e_max
    nodes[BOX_M_MIN, node] = m_min


@kernel
def _pull_box(nodes: np.ndarray, node: int) -> bool:
    """Set an inner node's box from its two children; whether it changed."""
    left = 2 * node
    right = left + 1
    e_min = min(nodes[BOX_E_MIN, left], nodes[BOX_E_MIN, right])
    e_max = max(nodes[BOX_E_MAX, left], nodes[BOX_E_MAX, right])
    m_min = min(nodes[BOX_M_MIN, left], nodes[BOX_M_MIN, right])
    if (
        e_min == nodes[BOX_E_MIN, node]
        and e_max == nodes[BOX_E_MAX, node]
        and m_min == nodes[BOX_M_MIN, node]
    ):
        return False
    nodes[BOX_E_MIN, node] = e_min
    nodes[BOX_E_MAX, node] = e_max
    nodes[BOX_M_MIN, node] = m_min
    return True


@kernel
def build_kd(tree: KdTree, positions: np.ndarray, per_unit: np.ndarray) -> None:
    """Build the static tree of a side from its ``(3, n)`` rows ``q``, ``e``, ``c`` and ``m``.

    Each inner node, top down, splits its slots at the size of its left child by
    ``e`` or ``m``, whichever has the wider range there. ``O(N log N)``.
    """
    nodes, static, rows, perm, slot_of, out, _, counters, _ = tree
    n = positions.shape[1]
    base = nodes.shape[1] // 2
    for position in range(n):
        perm[position] = position
        rows[ROW_QTY, position] = positions[0, position]
        rows[ROW_ENTRY, position] = positions[1, position]
        rows[ROW_UNIT, position] = per_unit[position]
    for node in range(1, base):
        first, stop = node_span(node, base, n)
        _, middle = node_span(2 * node, base, n)
        if middle <= first or middle >= stop:
            continue
        e_low = np.inf
        e_high = -np.inf
        m_low = np.inf
        m_high = -np.inf
        for slot in range(first, stop):
            e_low = min(e_low, rows[ROW_ENTRY, slot])
            e_high = max(e_high, rows[ROW_ENTRY, slot])
            m_low = min(m_low, rows[ROW_UNIT, slot])
            m_high = max(m_high, rows[ROW_UNIT, slot])
        key = ROW_ENTRY if e_high - e_low >= m_high - m_low else ROW_UNIT
        _select(rows, perm, key, first, stop, middle)
    for slot in range(n):
        slot_of[perm[slot]] = slot
        out[slot] = IN_TREE
    for leaf in range(base):
        first, stop = node_span(base + leaf, base, n)
        _leaf_box(tree, static, base + leaf, first, stop)
    for node in range(base - 1, 0, -1):
        _pull_box(static, node)
    nodes[:, :] = static
    counters[BUILT] = 1
    counters[N_OUT] = 0


@kernel
def take_out(tree: KdTree, slot: int) -> None:
    """Take ``slot`` out of the tree: its leaf's box and the boxes above it, ``O(log N)``.

    A box that does not change leaves every box above it as it was, so the update
    stops there (the restore still resets the whole path to the root).
    """
    out = tree[KD_OUT]
    counters = tree[KD_COUNTERS]
    if out[slot] == IN_TREE:
        tree[KD_TOUCHED][counters[N_OUT]] = slot
        counters[N_OUT] += 1
    out[slot] = OUT
    _update_up(tree, slot)


@kernel
def put_back(tree: KdTree, slot: int) -> None:
    """Put a slot taken out by :func:`take_out` back in the tree, ``O(log N)``.

    Its leaf's box and the boxes above it grow back, stopping at the first box
    that does not change; the slot stays in the touched list (the restore resets
    its path to the root as for any slot taken out).
    """
    tree[KD_OUT][slot] = BACK
    _update_up(tree, slot)


@kernel
def _update_up(tree: KdTree, slot: int) -> None:
    """Recompute the box of ``slot``'s leaf and the boxes above it until one stays the same."""
    nodes = tree[KD_NODES]
    out = tree[KD_OUT]
    base = nodes.shape[1] // 2
    leaf = base + slot // KD_LEAF
    first = (slot // KD_LEAF) * KD_LEAF
    _leaf_box(tree, nodes, leaf, first, min(first + KD_LEAF, out.shape[0]))
    node = leaf // 2
    while node >= 1 and _pull_box(nodes, node):
        node //= 2


@kernel
def restore_kd(tree: KdTree) -> None:
    """Every slot back in the tree and every box as built: ``O(k log N)`` for ``k`` taken out.

    Each box on the way from a taken-out slot's leaf to the root is reset once:
    the walk stops at a box this restore already reset (its boxes above were too).
    """
    nodes = tree[KD_NODES]
    static = tree[KD_STATIC]
    out = tree[KD_OUT]
    touched = tree[KD_TOUCHED]
    counters = tree[KD_COUNTERS]
    stamp = tree[KD_STAMP]
    counters[GENERATION] += 1
    generation = counters[GENERATION]
    base = nodes.shape[1] // 2
    for item in range(counters[N_OUT]):
        slot = touched[item]
        out[slot] = IN_TREE
        node = base + slot // KD_LEAF
        while node >= 1 and stamp[node] != generation:
            stamp[node] = generation
            nodes[BOX_E_MIN, node] = static[BOX_E_MIN, node]
            nodes[BOX_E_MAX, node] = static[BOX_E_MAX, node]
            nodes[BOX_M_MIN, node] = static[BOX_M_MIN, node]
            node //= 2
    counters[N_OUT] = 0
    counters[RANGE_START] = 0
    counters[RANGE_STOP] = out.shape[0]


@kernel
def sync_range(tree: KdTree, remain: np.ndarray, start: int, stop: int) -> None:
    """Record the event's range ``[start, stop)``; undo lazy removals if it grew.

    Positions out of range are taken out of the tree when a search meets them,
    which is exact while the range only shrinks. Should a range grow back, the
    tree is restored and only the positions no longer open (``remain = 0``) are
    taken out again.
    """
    counters = tree[KD_COUNTERS]
    if start < counters[RANGE_START] or stop > counters[RANGE_STOP]:
        n_out = int(counters[N_OUT])
        gone = tree[KD_TOUCHED][:n_out].copy()
        restore_kd(tree)
        perm = tree[KD_PERM]
        for item in range(n_out):
            if remain[perm[gone[item]]] <= 0.0:
                take_out(tree, gone[item])
    counters[RANGE_START] = start
    counters[RANGE_STOP] = stop
