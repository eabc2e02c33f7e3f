"""The best-first ADL selection against a full sort (docs/model.md 10.2).

:func:`stresstest.kernels.adl_index.deleverage` takes the candidates of a ranked
event through a segment tree with score bounds, counts them with a wavelet
matrix and undoes each path by its touched list. Here, on random books with many
exact ties (entries and collateral from small sets, some collateral 0, so
``+inf`` scores), both sides and both ranked policies, a sequence of events on
shrinking ranges is compared with a plain full sort by ``(score desc, index asc)``:
the positions taken in order, every returned figure bit for bit (the Gini through
the candidate count), and after :func:`restore` the working state equals a fresh one.
"""

from __future__ import annotations

import numpy as np
import pytest

from stresstest.book import Book, sort_book
from stresstest.book.synthetic import synthetic_book
from stresstest.engine.defences import sorted_positions
from stresstest.engine.mechanics import neutral_vector
from stresstest.engine.run import margin_arguments
from stresstest.kernels import enums
from stresstest.kernels.adl_index import (
    TOUCHED,
    W_COUNTERS,
    W_GIVEN,
    W_KD,
    W_REMAIN,
    W_TOUCHED,
    build_static,
    deleverage,
    kd_tree,
    leaf_base,
    new_work,
    restore_side,
    wavelet_build,
    wavelet_count_less,
)
from stresstest.kernels.adl_kdtree import BUILT, KD_COUNTERS, KD_NODES, KD_OUT, KD_STATIC
from stresstest.kernels.pipeline import _pipeline_blocks
from stresstest.paths.gbm import GbmPathSource
from stresstest.scenario import schema

POLICIES = {"profit_leverage": enums.ADL_PROFIT_LEVERAGE, "hyperliquid": enums.ADL_HYPERLIQUID}


def random_side(rng: np.random.Generator, n: int) -> np.ndarray:
    """``(3, n)`` rows ``q``, ``e``, ``c`` with many exact ties and some ``c = 0``."""
    qty = rng.choice([0.5, 1.0, 2.0, 3.0], n)
    entry = rng.choice(np.linspace(80.0, 120.0, 9), n)
    per_unit = rng.choice([0.0, 1.0, 2.5, 5.0, 10.0, 40.0], n, p=[0.1, 0.2, 0.2, 0.2, 0.2, 0.1])
    return np.ascontiguousarray(np.stack([qty, entry, per_unit * qty]))


def full_sort_event(
    policy: int,
    side: int,
    need: float,
    price: float,
    positions: np.ndarray,
    remain: np.ndarray,
    start: int,
    stop: int,
) -> tuple[list[int], tuple[float, float, float, float, float, float]]:
    """The positions a ranked event takes, by a full sort, and the event's figures."""
    qty, entry, collateral = positions
    candidates = []
    scores = []
    for position in range(start, stop):
        if remain[position] == 0.0:
            continue
        profit = side * qty[position] * (price - entry[position])
        if not profit > 0.0:
            continue
        margin = collateral[position]
        if policy == enums.ADL_HYPERLIQUID:
            ratio = price / entry[position] if side > 0 else entry[position] / price
            score = ratio * (qty[position] * price / (margin + profit))
        elif margin == 0.0:
            score = np.inf
        else:
            score = (profit / margin) * (qty[position] * price / (margin + profit))
        candidates.append(position)
        scores.append(score)
    order = sorted(range(len(candidates)), key=lambda k: (-scores[k], candidates[k]))
    n_all = len(candidates)
    left = need
    cover = notional = count = removed_qty = weighted = haircuts = 0.0
    taken_positions = []
    for k in order:
        if not left > 0.0:
            break
        position = candidates[k]
        profit = side * qty[position] * (price - entry[position])
        taken = min(profit, left)
        left -= taken
        cover += taken
        notional += qty[position] * price
        count += 1.0
        removed_qty += qty[position]
        haircut = taken / profit
        weighted += (n_all - count + 1.0) * haircut
        haircuts += haircut
        taken_positions.append(position)
    gini = 0.0
    if haircuts > 0.0:
        gini = max(0.0, 2.0 * weighted / (n_all * haircuts) - (n_all + 1.0) / n_all)
    if n_all == 0:
        return [], (0.0, max(0.0, need), 0.0, 0.0, 0.0, 0.0)
    return taken_positions, (cover, max(0.0, left), notional, count, removed_qty, gini)


@pytest.mark.parametrize("policy_name", sorted(POLICIES))
@pytest.mark.parametrize("side", [1, -1])
@pytest.mark.parametrize("seed", range(6))
def test_selection_equals_a_full_sort(policy_name: str, side: int, seed: int) -> None:
    """Events on shrinking ranges take the positions of a full sort, bit for bit."""
    rng = np.random.default_rng(seed)
    policy = POLICIES[policy_name]
    n = int(rng.integers(1, 400))
    positions = random_side(rng, n)
    threshold = np.sort(rng.uniform(50.0, 150.0, n))
    index = build_static(positions)
    work = new_work(n, index[0])
    fresh = new_work(n, index[0])
    size = 2 * leaf_base(n) + n + 2
    keys, tags = np.empty(size), np.empty(size, dtype=np.int64)
    remain = np.ones(n)
    start, stop = 0, n
    taken_before = 0
    for _ in range(5):
        if side > 0:
            stop = int(rng.integers(0, stop + 1))
        else:
            start = int(rng.integers(start, n + 1))
        price = float(rng.choice([90.0, 100.0, 105.0, 110.0]))
        need = float(rng.choice([1.0, 50.0, 500.0, np.inf]))
        expected_order, expected = full_sort_event(
            policy, side, need, price, positions, remain, start, stop
        )
        got = deleverage(
            policy, side, need, price, threshold, positions, start, stop, index, work, keys, tags
        )
        touched = work[W_TOUCHED][taken_before : work[W_COUNTERS][TOUCHED]]
        assert list(touched) == expected_order
        assert got == expected
        for position in expected_order:
            remain[position] = 0.0
        taken_before += len(expected_order)
        assert np.array_equal(work[W_REMAIN], remain)
    restore_side(True, index, work)
    for item, (mine, new) in enumerate(zip(work, fresh, strict=True)):
        if item in (4, 7) or item >= W_KD:  # scratch space (touched list, heap by index)
            continue
        assert np.array_equal(mine, new), f"work item {item} not restored"
    tree = kd_tree(work)  # the k-d tree: as built, nothing out
    if tree[KD_COUNTERS][BUILT]:
        # Node 0 is unused and never written (np.empty): compared from node 1, else
        # its leftover bits fail the test whenever they read as NaN.
        assert np.array_equal(tree[KD_NODES][:, 1:], tree[KD_STATIC][:, 1:])
        assert not tree[KD_OUT].any()
    assert work[W_GIVEN].sum() == 0.0


@pytest.mark.parametrize("seed", range(5))
def test_wavelet_counts_equal_a_scan(seed: int) -> None:
    """``count of values[start:stop] < value`` for every range and value on small arrays."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 130))
    values = rng.integers(0, n, n).astype(np.int64)
    n_levels = 1
    while (1 << n_levels) <= n:
        n_levels += 1
    bits, ones, zeros = wavelet_build(values, n_levels)
    for _ in range(200):
        start = int(rng.integers(0, n + 1))
        stop = int(rng.integers(start, n + 1))
        value = int(rng.integers(0, n + 2))
        expected = int(np.count_nonzero(values[start:stop] < value))
        assert wavelet_count_less(bits, ones, zeros, start, stop, value) == expected


def pipeline_rows(prices: np.ndarray, book: Book, policy: str, n_blocks: int) -> np.ndarray:
    """ADL alone in the stage pipeline over ``n_blocks`` blocks of rows, fund 0."""
    sorted_book = sort_book(book)
    long_positions, short_positions = sorted_positions(book)
    out = np.zeros((prices.shape[0], enums.N_METRICS_ADL))
    _pipeline_blocks(
        prices,
        margin_arguments(schema.StaticMargin(maintenance=0.005)),
        np.array([2.0, 0.002, 0.01, 0.5]),
        neutral_vector(adl=policy),
        sorted_book.long_threshold,
        sorted_book.long_prefix,
        long_positions,
        sorted_book.short_threshold,
        sorted_book.short_prefix,
        short_positions,
        0.0,
        np.empty(0, dtype=np.int64),
        out,
        np.empty((prices.shape[0], enums.N_GRID, 0)),
        n_blocks,
    )
    return out


@pytest.mark.parametrize("policy", ["profit_leverage", "hyperliquid", "pro_rata"])
def test_paths_sharing_a_working_state_give_the_rows_of_paths_alone(policy: str) -> None:
    """Rows are the same bytes for 1, 2, 3 or 7 blocks and for each path run alone.

    Paths of a block share the ADL working state and undo what they touched, so a
    path after another that deleveraged must see a fresh book.
    """
    n_paths = 7
    source = GbmPathSource(schema.GbmPaths(s0=100.0, sigma=0.01, n_paths=n_paths, n_steps=120), 5)
    book = synthetic_book(
        schema.SyntheticBook(n_positions=3000, leverage_max=50.0, entry_dispersion=0.01),
        5,
        source.start_price(),
    )
    prices = source.chunk(0, n_paths)
    alone = np.concatenate(
        [pipeline_rows(prices[row : row + 1], book, policy, 1) for row in range(n_paths)]
    )
    assert np.count_nonzero(alone[:, enums.ADL_COUNT]) >= n_paths - 1, "too little ADL to test"
    for n_blocks in (1, 2, 3, 7):
        rows = pipeline_rows(prices, book, policy, n_blocks)
        assert rows.tobytes() == alone.tobytes(), f"{n_blocks} blocks"
