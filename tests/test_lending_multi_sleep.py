"""Sleeping loans of several collateral rows (docs/model.md 13.7, issue 16).

A loan of several rows sleeps in one indexed max-heap per (collateral asset, debt
asset) until a ratio of marks crosses its key. These tests check the heaps against a
plain model, a hand case where a two-collateral loan sleeps and wakes exactly at the
step its health factor crosses 1 (and one where a loose bound wakes it early and it
goes back to sleep), and the kernel against the loan-by-loan reference on random
books of several collateral assets with depegs, Chainlink updates and refused
liquidations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stresstest.engine.lending import multi_sleep_index
from stresstest.kernels import enums
from stresstest.kernels.lending_multi import (
    MULTI_SLEEP_HF,
    WAKE_MARGIN,
    go_to_sleep,
    heap_remove,
    multi_work,
    sift_up,
    start_path,
    wake_multi,
)
from tests.reference_lending import reference_lending
from tests.test_lending import (
    KERNEL_SETTINGS,
    assert_hand,
    assert_matches,
    loan_book,
    market,
    run_kernel,
)
from tests.tiers import examples


# ----------------------------------------------------------------------------- the heap
@settings(KERNEL_SETTINGS, max_examples=examples(200))
@given(
    operations=st.lists(
        st.tuples(st.integers(0, 15), st.sampled_from([0.5, 1.0, 1.0, 2.0, 3.0])),
        min_size=1,
        max_size=80,
    )
)
def test_the_indexed_heap_keeps_its_root_and_slots(operations: list[tuple[int, float]]) -> None:
    """Pushes and removals of entries 0..15 in one heap: after each, every entry knows
    its slot, the heap property holds, and the root's key is the largest present.
    An operation on an entry in the heap removes it, otherwise pushes it with the key.
    """
    key = np.zeros(16)
    slot_entry = np.full(16, -1, dtype=np.int64)
    slot_of = np.full(16, -1, dtype=np.int64)
    size = 0
    present: dict[int, float] = {}
    for entry, value in operations:
        if entry in present:
            size = heap_remove(key, slot_entry, slot_of, 0, size, int(slot_of[entry]))
            del present[entry]
        else:
            key[size] = value
            slot_entry[size] = entry
            sift_up(key, slot_entry, slot_of, 0, size)
            size += 1
            present[entry] = value
        assert size == len(present)
        for slot in range(size):
            assert slot_of[slot_entry[slot]] == slot
            assert key[slot] == present[int(slot_entry[slot])]
            if slot > 0:
                assert not key[(slot - 1) // 2] < key[slot], "heap property"
        for entry_id in range(16):
            assert (slot_of[entry_id] >= 0) == (entry_id in present)
        if present:
            assert key[0] == max(present.values())


# ----------------------------------------------------------------------------- hand cases
#: 1 ETH (1000) and 0.1 BTC (10,000) at LT 0.8, owing 1000 USDC: HF = 1.6 f when both
#: prices are f times their start. The keys at the start prices are ETH 625 and BTC
#: 6250 (``rho d / sum c LT rho``): the loan wakes when a price is below f = 0.625.
FALLS = [1.0, 0.9, 0.7, 0.6251, 0.62, 0.62]
TWO_ASSETS = market(threshold=[0.8, 0.8], bonus=[0.05] * 2, fee=[0.1] * 2, depth=[1e12] * 2)
TWO_COLLATERAL = [{"collateral": [(0, 1.0), (1, 0.1)], "debt_asset": 2, "debt": 1000.0}]


def woken_at(prices: np.ndarray, loans: list[dict[str, Any]], health: list[float]) -> list[int]:
    """Drive the sleep structure alone over ``prices`` ``(A, T + 1)`` (marks = prices):
    the steps at which the one loan is woken; a woken loan at ``health[step]`` goes
    back to sleep when ``health[step] >= MULTI_SLEEP_HF`` (as the kernel does)."""
    n_assets = prices.shape[0]
    book = loan_book(loans, n_assets)
    threshold = np.array([0.8] * n_assets)
    index = multi_sleep_index(book, threshold, np.append(prices[:, 0], 1.0))
    work = multi_work(index)
    marks = np.vstack([prices, np.ones(prices.shape[1])])
    awake = start_path(index, work)
    woken: list[int] = []
    for step in range(prices.shape[1]):
        before = awake
        awake = wake_multi(marks, step, index, work, awake)
        if awake > before:
            woken.append(step)
        if awake and health[step] >= MULTI_SLEEP_HF:
            go_to_sleep(
                0,
                health[step],
                marks,
                step,
                threshold,
                book.start,
                book.asset,
                book.debt_asset,
                book.collateral,
                book.debt,
                index,
                work,
            )
            awake = 0
    return woken


def test_a_two_collateral_loan_sleeps_until_its_health_factor_crosses_one() -> None:
    """Both prices fall together, so the bound is exact: HF 1.6, 1.44, 1.12, 1.00016 (the
    loan still asleep: f = 0.6251 is above 0.625), then 0.992 at step 4, the step it is
    woken and liquidated (close factor 0.5: repay 500, seize 525 of ETH, the leg of
    larger value, 620). The kernel agrees with the reference, and the sleep structure
    alone wakes the loan at step 4 and not before.
    """
    prices = np.array([[1000.0 * f for f in FALLS], [10000.0 * f for f in FALLS]])
    health = [1.6 * f for f in FALLS]
    assert woken_at(prices, TWO_COLLATERAL, health) == [4]
    assert health[3] > 1.0 > health[4]
    columns, records = run_kernel(prices[None], TWO_COLLATERAL, TWO_ASSETS, 0.0)
    assert list(records[0, enums.GRID_COUNT]) == [0.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert_hand(columns["liquidated_notional"], 500.0, "debt repaid at step 4")
    assert_hand(columns["collateral_seized"], 525.0, "500 x 1.05 seized")
    assert_matches(columns, reference_lending(prices, TWO_COLLATERAL, TWO_ASSETS, 0.0))


def test_a_loose_bound_wakes_the_loan_early_and_it_sleeps_again() -> None:
    """ETH falls 40% while BTC doubles: the bound (the smaller ratio) wakes the loan at
    step 1, where its HF is (480 + 1600) / 1000 = 2.08; it goes back to sleep with
    keys at step 1's marks (ETH 600 / 2.08) and wakes again only when ETH falls below
    that, at step 3 (ETH 280: HF 1.824 >= MULTI_SLEEP_HF, asleep again).
    """
    eth = [1000.0, 600.0, 400.0, 280.0]
    btc = [10000.0, 20000.0, 20000.0, 20000.0]
    prices = np.array([eth, btc])
    health = [(0.8 * e + 0.08 * b) / 1000.0 for e, b in zip(eth, btc, strict=True)]
    assert woken_at(prices, TWO_COLLATERAL, health) == [1, 3]
    assert 280.0 < 600.0 / health[1] * (1.0 - WAKE_MARGIN) < 400.0  # the key of step 1
    columns, _ = run_kernel(prices[None], TWO_COLLATERAL, TWO_ASSETS, 0.0)
    assert columns["n_liquidations"] == 0.0
    assert_hand(columns["requirement_mean"], 1000.0, "debt outstanding")


# ----------------------------------------------------------------------------- reference
@st.composite
def multi_cases(draw: st.DrawFn) -> tuple[np.ndarray, list[dict[str, Any]], dict[str, Any]]:
    """Up to 3 paths of 2 to 4 assets that fall, rebound and fall (the last asset may be
    a stablecoin that depegs), up to 20 loans mostly of 2 to 4 collateral rows with
    health factors near 1, Chainlink deviation and heartbeat, shallow pools and gas
    so that many liquidations are refused.
    """
    n_paths = draw(st.integers(1, 3))
    n_assets = draw(st.integers(2, 4))
    n_steps = draw(st.integers(2, 30))
    prices = np.empty((n_paths, n_assets, n_steps + 1))
    for path in range(n_paths):
        for asset in range(n_assets):
            moves = draw(
                st.lists(
                    st.sampled_from([-0.15, -0.05, -0.01, 0.0, 0.02, 0.08, 0.2]),
                    min_size=n_steps,
                    max_size=n_steps,
                )
            )
            prices[path, asset] = 10.0 ** (asset % 3) * np.exp(
                np.concatenate([[0.0], np.cumsum(moves)])
            )
        if draw(st.booleans()):  # the last asset is a stablecoin that depegs
            depeg = draw(st.integers(0, n_steps))
            prices[path, -1] = 1.0
            prices[path, -1, depeg:] = draw(st.sampled_from([0.6, 0.9, 0.97]))
    loans: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 20))):
        if loans and draw(st.integers(0, 5)) == 0:  # the same loan again: equal keys
            loans.append(dict(loans[draw(st.integers(0, len(loans) - 1))]))
            continue
        n_legs = draw(st.integers(1, n_assets)) if draw(st.integers(0, 4)) == 0 else 0
        legs = draw(
            st.lists(
                st.integers(0, n_assets - 1),
                min_size=max(n_legs, 2) if n_legs != 1 else 1,
                max_size=n_assets,
                unique=True,
            )
        )
        collateral = [(a, draw(st.sampled_from([0.0, 0.3, 1.0, 2.5]))) for a in legs]
        if all(amount == 0.0 for _, amount in collateral):
            collateral[0] = (legs[0], 1.0)
        debt_asset = draw(st.integers(0, n_assets))
        threshold = [0.8, 0.7, 0.0, 0.85][:n_assets]
        weighted = sum(c * prices[0, a, 0] * threshold[a] for a, c in collateral)
        scale = float(prices[0, debt_asset, 0]) if debt_asset < n_assets else 1.0
        health = draw(st.sampled_from([0.98, 1.01, 1.03, 1.1, 1.3, 2.0]))
        debt = (weighted if weighted > 0.0 else 1.0) / health / scale
        loans.append({"collateral": collateral, "debt_asset": debt_asset, "debt": debt})
    values = market(
        threshold=[0.8, 0.7, 0.0, 0.85][:n_assets],
        bonus=[0.05, 0.08, 0.1, 0.04][:n_assets],
        fee=[0.1, 0.0, 0.2, 0.5][:n_assets],
        depth=[draw(st.sampled_from([20.0, 300.0, 1e9]))] * n_assets,
        close_factor=draw(st.sampled_from([0.5, 1.0])),
        gas=draw(st.sampled_from([0.0, 2.0, 30.0])),
        half_life=draw(st.sampled_from([0.0, 3.0])),
        small_loan=draw(st.sampled_from([0.0, 10.0])),
        seize_order=draw(st.sampled_from(["highest_value", "book"])),
        deviation=draw(st.sampled_from([0.0, 0.03])),
        heartbeat=draw(st.integers(1, 4)),
    )
    return prices, loans, values


@settings(KERNEL_SETTINGS, max_examples=examples(300))
@given(case=multi_cases(), blocks=st.integers(1, 4))
def test_sleeping_multi_collateral_loans_match_the_reference(
    case: tuple[np.ndarray, list[dict[str, Any]], dict[str, Any]], blocks: int
) -> None:
    """Every path equals the loan-by-loan reference (no liquidatable step skipped:
    liquidations, refusals, bad debt, unprofitable and underwater debt at the
    tolerances), and its bytes equal the same path replayed alone.
    """
    prices, loans, values = case
    batch: list[np.ndarray] = []
    run_kernel(prices, loans, values, 5.0, blocks=blocks, every_path=batch)
    for path in range(prices.shape[0]):
        alone: list[np.ndarray] = []
        columns, _ = run_kernel(prices[path : path + 1], loans, values, 5.0, every_path=alone)
        assert batch[0][path].tobytes() == alone[0][0].tobytes(), f"path {path}"
        assert_matches(columns, reference_lending(prices[path], loans, values, 5.0), f"{path} ")
