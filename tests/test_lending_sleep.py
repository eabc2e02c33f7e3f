"""Sleeping loans without per-path copies (docs/model.md 13.7, issue 16).

The kernel keeps no per-path copy of the book or of the wake heaps: a thread's
buffers are reused path after path, a loan's state counts only once stamped with
the path, and each group's sleepers are read from the shared sorted order until woken
(the loans returned to sleep wait in a heap of the thread's). These tests stress that:
the wake queue against a sorted list, and many
sleeping, waking, refused and re-sleeping loans over several paths replayed in one
call with different blocks of paths, every path against the plain reference and
bit for bit against the same path replayed alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stresstest.kernels import enums
from stresstest.kernels.lending_heaps import wake_next, wake_push
from tests.reference_lending import reference_lending
from tests.test_lending import KERNEL_SETTINGS, assert_matches, market, run_kernel
from tests.tiers import examples


@settings(KERNEL_SETTINGS, max_examples=examples(300))
@given(
    keys=st.lists(st.sampled_from([0.5, 1.0, 1.0, 2.0, 3.0, np.inf]), min_size=1, max_size=40),
    operations=st.lists(
        st.lists(
            st.one_of(st.none(), st.sampled_from([0.5, 1.0, 2.5, 4.0])), min_size=1, max_size=60
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_the_wake_queue_wakes_in_threshold_then_loan_order(
    keys: list[float], operations: list[list[float | None]]
) -> None:
    """Wake-ups (None: the next sleepers above a limit drawn from the keys) and returns to
    sleep (a key) on one group's queue, over several paths reusing the buffers: every
    wake-up is the sleeper a plain sorted list gives, with its debt and collateral, the
    largest threshold first and equal thresholds in loan order (docs/model.md 13.7),
    ties included.
    """
    n = len(keys)
    loans0 = np.arange(n, dtype=np.int64)
    theta0 = np.asarray(keys)
    order = np.lexsort((loans0, -theta0))
    theta0, loans0 = theta0[order].copy(), loans0[order].copy()
    fresh_sleepers = (theta0, loans0, 10.0 * loans0 + 1.0, 10.0 * loans0 + 2.0)
    heap = (  # this thread's buffers, reused path after path
        np.full(n, np.nan),
        np.full(n, -7, dtype=np.int64),
        np.full(n, np.nan),
        np.full(n, np.nan),
    )
    for path in operations:
        fresh = np.zeros(1, dtype=np.int64)
        returned = np.zeros(1, dtype=np.int64)
        sleepers = [(float(key), int(loan)) for key, loan in zip(theta0, loans0, strict=True)]
        debt = {loan: 10.0 * loan + 1.0 for loan in range(n)}
        awake: list[int] = []
        for operation in path:
            if operation is None:
                limit = 1.5 if not sleepers else sleepers[len(sleepers) // 2][0] - 0.25
                expected = sorted(
                    (s for s in sleepers if s[0] > limit), key=lambda s: (-s[0], s[1])
                )
                for key, loan in expected:
                    woken = wake_next(fresh_sleepers, fresh, heap, returned, 0, 0, n, limit)
                    assert woken == (loan, debt[loan], 10.0 * loan + 2.0)
                    sleepers.remove((key, loan))
                    awake.append(loan)
                assert wake_next(fresh_sleepers, fresh, heap, returned, 0, 0, n, limit)[0] == -1
            elif awake:  # the earliest awake loan returns to sleep, its debt changed
                loan = awake.pop(0)
                debt[loan] += 0.5
                returned[0] = wake_push(
                    heap, 0, returned[0], operation, loan, debt[loan], 10.0 * loan + 2.0
                )
                sleepers.append((operation, loan))
            assert n - fresh[0] + returned[0] == len(sleepers)


@st.composite
def sleeper_cases(draw: st.DrawFn) -> tuple[np.ndarray, list[dict[str, Any]], dict[str, Any]]:
    """Up to 4 paths of 2 assets that crash, rebound and crash again; up to 30 loans,
    mostly single-collateral (several groups, exact ties from repeated loans), a few of
    two rows; shallow pools and gas so that many liquidations are refused.
    """
    n_paths = draw(st.integers(1, 4))
    n_steps = draw(st.integers(2, 24))
    prices = np.empty((n_paths, 2, n_steps + 1))
    for path in range(n_paths):
        for asset in range(2):
            moves = draw(
                st.lists(
                    st.sampled_from([-0.2, -0.08, -0.02, 0.0, 0.03, 0.1, 0.25]),
                    min_size=n_steps,
                    max_size=n_steps,
                )
            )
            prices[path, asset] = (
                100.0 * (asset + 1) * np.exp(np.concatenate([[0.0], np.cumsum(moves)]))
            )
    loans: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 30))):
        if loans and draw(st.integers(0, 4)) == 0:  # the same loan again: equal thresholds
            loans.append(dict(loans[draw(st.integers(0, len(loans) - 1))]))
            continue
        legs = [draw(st.integers(0, 1))] if draw(st.integers(0, 5)) else [0, 1]
        collateral = [(a, draw(st.sampled_from([0.5, 1.0, 2.0]))) for a in legs]
        debt_asset = draw(st.sampled_from([2, 2, 1 - legs[0]]))
        value = sum(amount * prices[0, a, 0] * 0.8 for a, amount in collateral)
        scale = float(prices[0, debt_asset, 0]) if debt_asset < 2 else 1.0
        health = draw(st.sampled_from([0.97, 1.0, 1.05, 1.2, 1.5, 2.0]))
        loans.append(
            {"collateral": collateral, "debt_asset": debt_asset, "debt": value / health / scale}
        )
    values = market(
        threshold=[0.8, 0.75],
        bonus=[0.05, 0.08],
        fee=[0.1, 0.0],
        depth=[draw(st.sampled_from([100.0, 400.0, 1e9]))] * 2,
        gas=draw(st.sampled_from([0.0, 2.0, 30.0])),
        half_life=draw(st.sampled_from([0.0, 2.0, 24.0])),
        small_loan=draw(st.sampled_from([0.0, 100.0])),
        deviation=draw(st.sampled_from([0.0, 0.02])),
        heartbeat=draw(st.integers(1, 3)),
    )
    return prices, loans, values


@settings(KERNEL_SETTINGS, max_examples=examples(200))
@given(case=sleeper_cases(), blocks=st.integers(1, 5))
def test_paths_sharing_buffers_match_the_reference_and_each_path_alone(
    case: tuple[np.ndarray, list[dict[str, Any]], dict[str, Any]], blocks: int
) -> None:
    """Every path of a batch equals the loan-by-loan reference, and its bytes equal the
    same path replayed alone: no state of one path leaks into the next through the
    thread's buffers, whatever the blocks of paths.
    """
    prices, loans, values = case
    batch: list[np.ndarray] = []
    run_kernel(prices, loans, values, 10.0, blocks=blocks, every_path=batch)
    for path in range(prices.shape[0]):
        alone: list[np.ndarray] = []
        columns, _ = run_kernel(prices[path : path + 1], loans, values, 10.0, every_path=alone)
        assert batch[0][path].tobytes() == alone[0][0].tobytes(), f"path {path}"
        assert_matches(columns, reference_lending(prices[path], loans, values, 10.0), f"{path} ")


def test_a_path_after_a_crashed_path_starts_from_the_book() -> None:
    """Paths 0 and 1 are the same crash (both loans liquidated whole and closed), path 2
    stays flat: replayed in one block, path 1 repeats path 0 bit for bit (it finds the
    loans open with their book debt, not as path 0 left them) and path 2 sees the book
    as it was (no liquidation; debt outstanding 700 + 1500 at every step).
    """
    loans = [
        {"collateral": [(0, 1.0)], "debt_asset": 1, "debt": 700.0},
        {"collateral": [(0, 2.0)], "debt_asset": 1, "debt": 1500.0},
    ]
    crash = [1000.0, 800.0, 500.0, 500.0]
    flat = [1000.0, 1000.0, 1000.0, 1000.0]
    prices = np.array([[crash], [crash], [flat]], dtype=float)
    batch: list[np.ndarray] = []
    run_kernel(prices, loans, market(full_below_hf=1.0), 0.0, blocks=1, every_path=batch)
    rows = batch[0]
    liquidations = rows[:, enums.METRIC_INDEX["n_liquidations"]]
    assert list(liquidations) == [2.0, 2.0, 0.0]
    assert rows[1].tobytes() == rows[0].tobytes()
    assert rows[2, enums.METRIC_INDEX["requirement_mean"]] == 2200.0
