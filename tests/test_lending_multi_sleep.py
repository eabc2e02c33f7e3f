"""Sleeping loans of several collateral rows (docs/model.md 13.7, issue 16).

A loan of several rows sleeps in one wake queue per (collateral asset, debt asset)
until a ratio of marks crosses its key. These tests check the queues against a plain
max-heap of every sleeper, a hand case where a two-collateral loan sleeps and wakes
exactly at the step its health factor crosses 1 (and one where a loose bound wakes it
early and it goes back to sleep), and the kernel against the loan-by-loan reference on random
books of several collateral assets with depegs, Chainlink updates and refused
liquidations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stresstest.engine.lending import multi_sleep_index
from stresstest.kernels import enums
from stresstest.kernels.lending_multi import (
    MULTI_SLEEP_HF,
    WAKE_MARGIN,
    go_to_sleep,
    multi_work,
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


# ----------------------------------------------------------------------------- the queues
def sleep_loan(
    loan: int,
    health: float,
    marks: np.ndarray,
    step: int,
    threshold: np.ndarray,
    book: Any,
    index: Any,
    work: Any,
) -> None:
    """Put ``loan`` of ``book`` to sleep at ``health`` and ``step``'s marks (the kernel's call)."""
    go_to_sleep(
        loan,
        health,
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


@st.composite
def queue_cases(draw: st.DrawFn) -> tuple[np.ndarray, list[dict[str, Any]], list[list[float]]]:
    """Marks of 2 or 3 assets over up to 3 paths (jumps of up to 64x, past the end
    buckets), up to 12 loans of 2 or 3 collateral rows (some the same loan again:
    equal keys), and per path and step the health factors at which awake loans go
    back to sleep (0: they stay awake)."""
    n_assets = draw(st.integers(2, 3))
    n_paths = draw(st.integers(1, 3))
    n_steps = draw(st.integers(1, 25))
    factors = st.sampled_from([1 / 64, 0.5, 0.9, 0.999, 0.9999, 1.0, 1.0001, 1.01, 1.3, 64.0])
    marks = np.ones((n_paths, n_assets + 1, n_steps + 1))
    for path in range(n_paths):
        for asset in range(n_assets):
            moves = draw(st.lists(factors, min_size=n_steps, max_size=n_steps))
            marks[path, asset] = 10.0**asset * np.cumprod([1.0, *moves])
    loans: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 12))):
        if loans and draw(st.integers(0, 4)) == 0:
            loans.append(dict(loans[draw(st.integers(0, len(loans) - 1))]))
            continue
        legs = draw(st.lists(st.integers(0, n_assets - 1), min_size=2, max_size=3, unique=True))
        collateral = [(a, draw(st.sampled_from([0.0, 0.5, 1.0, 3.0]))) for a in legs]
        debt = draw(st.sampled_from([0.1, 1.0, 5.0, 30.0]))
        loans.append({"collateral": collateral, "debt_asset": n_assets, "debt": debt})
    healths = [
        draw(st.lists(st.sampled_from([0.0, 0.0, 1.05, 1.2, 2.0, 7.0]), min_size=12, max_size=12))
        for _ in range(n_paths * (n_steps + 1))
    ]
    return marks, loans, healths


def plain_wakes(
    marks: np.ndarray, step: int, index: Any, keys: dict[int, float], awake: list[int]
) -> list[int]:
    """The loans a max-heap of every sleeper would wake at ``step``: pair by pair, the
    entries above the limit by descending key (ties: entry order), each loan once.
    ``keys`` (entry -> key of the sleeping entries) loses the woken loans' entries."""
    entry_loan, entry_pair, pairs = index[3], index[4], index[5]
    woken: list[int] = []
    for pair in range(pairs.shape[0]):
        limit = marks[pairs[pair, 1], step] / marks[pairs[pair, 2], step] * (1.0 - WAKE_MARGIN)
        crossing = sorted(
            (-value, entry)
            for entry, value in keys.items()
            if entry_pair[entry] == pair and value > limit
        )
        for _, entry in crossing:
            loan = int(entry_loan[entry])
            if loan in awake:
                continue
            awake.append(loan)
            woken.append(loan)
            for other in [e for e in keys if entry_loan[e] == loan]:
                del keys[other]
    return woken


@settings(KERNEL_SETTINGS, max_examples=examples(300))
@given(case=queue_cases())
def test_the_wake_queues_wake_what_a_heap_of_every_sleeper_wakes(
    case: tuple[np.ndarray, list[dict[str, Any]], list[list[float]]],
) -> None:
    """Paths replayed one after the other on one thread's buffers (stamps 0, 1, 2):
    at every step the queues wake the same loans in the same order as a plain max-heap
    of every sleeping entry, whose keys are the initial ones, then ``R_t / H`` at
    each return to sleep; keys on both sides of bucket edges and of the end buckets."""
    marks, loans, healths = case
    n_assets = marks.shape[1] - 1
    book = loan_book(loans, n_assets)
    threshold = np.array([0.8, 0.7, 0.9][:n_assets])
    index = multi_sleep_index(book, threshold, marks[0, :, 0])
    work = multi_work(index)
    n_steps = marks.shape[2]
    for path in range(marks.shape[0]):
        n_awake = start_path(index, work)
        awake = [int(loan) for loan in work[4][:n_awake]]
        keys = {
            int(index[8][slot]): float(index[7][slot])
            for p in range(index[5].shape[0])
            for slot in range(index[5][p, 0], index[5][p, 0] + index[6][p])
        }
        for step in range(n_steps):
            before = n_awake
            n_awake = wake_multi(marks[path], step, index, work, n_awake, path)
            expected = plain_wakes(marks[path], step, index, keys, awake)
            assert [int(loan) for loan in work[4][before:n_awake]] == expected, (path, step)
            health = healths[path * n_steps + step]
            kept = 0
            for position in range(n_awake):
                loan = int(work[4][position])
                if health[position % 12] >= MULTI_SLEEP_HF:
                    sleep_loan(
                        loan, health[position % 12], marks[path], step, threshold, book, index, work
                    )
                    awake.remove(loan)
                    first = int(index[1][index[0][loan]])
                    for leg in range(book.start[loan], book.start[loan + 1]):
                        asset = int(book.asset[leg])
                        if book.collateral[leg] * threshold[asset] > 0.0:
                            ratio = marks[path, asset, step] / marks[path, n_assets, step]
                            keys[first + leg - int(book.start[loan])] = (
                                ratio / health[position % 12]
                            )
                else:
                    work[4][kept] = loan
                    kept += 1
            n_awake = kept
            assert sorted(awake) == sorted(int(loan) for loan in work[4][:n_awake])


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
        awake = wake_multi(marks, step, index, work, awake, 0)
        if awake > before:
            woken.append(step)
        if awake and health[step] >= MULTI_SLEEP_HF:
            sleep_loan(0, health[step], marks, step, threshold, book, index, work)
            awake = 0
    return woken


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_nan_limit_wakes_no_returned_sleeper(sign: float) -> None:
    """A NaN limit, of either sign (its bits name the top bucket or the bottom one),
    has no key above it, as in a heap: the loan returned to sleep at step 1 (keys
    0.5 / 2 and 1 / 2) stays asleep at step 2, where its first collateral's mark is
    NaN, and wakes at step 3, when that ratio (0.1) falls below its key."""
    loans = [{"collateral": [(0, 1.0), (1, 1.0)], "debt_asset": 2, "debt": 1.0}]
    book = loan_book(loans, 3)
    threshold = np.array([0.8, 0.8, 0.8])
    nan = np.copysign(np.nan, sign)
    marks = np.array([[1.0, 0.5, nan, 0.1], [1.0, 1.0, 1.0, 1.0], [1.0] * 4, [1.0] * 4])
    index = multi_sleep_index(book, threshold, marks[:, 0])
    work = multi_work(index)
    n_awake = start_path(index, work)
    assert wake_multi(marks, 0, index, work, n_awake, 0) == 0
    assert wake_multi(marks, 1, index, work, 0, 0) == 1  # 0.5 below its key 1 / 1.6
    sleep_loan(0, 2.0, marks, 1, threshold, book, index, work)  # keys 0.25 and 0.5
    assert wake_multi(marks, 2, index, work, 0, 0) == 0
    assert wake_multi(marks, 3, index, work, 0, 0) == 1


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
