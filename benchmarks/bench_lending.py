"""Lending kernel on crashed paths: parity with the plain reference, then timing.

    python benchmarks/bench_lending.py [--loans N] [--paths N] [--steps N] [--smoke]
    python benchmarks/bench_lending.py --vs-core [--loans N] [--paths N] [--runs N] [--smoke]
                                       [--no-records]

1. Parity: the kernel against ``tests/reference_lending.py`` on the first path and
   the first 400 loans of the timed book, every column at the tests' tolerances.
   Nothing is timed if this fails.
2. Timing (seeded): ``--loans`` single-collateral loans (debt in quote, health
   factors 1.02 to 2.5) over ``--paths`` paths of ``--steps`` steps that fall 45%
   within the first tenth of the path and then wander (GBM, 3% per step), with a
   pool shallow enough that most liquidatable loans are unprofitable to liquidate
   (docs/model.md 13.4, 13.7). Kernel only, after a warm-up, median of a few runs.

``--vs-core`` (issue 16's target): a healthy book of ``--loans`` single-collateral
loans (default 1,000,000; health factors 1.7 to 4, so few loans ever wake; deep
pools, so woken loans are liquidated and sleep again) over the
GBM paths of the perps engine benchmark (s0 30,000, sigma 0.006 per step, 720
steps, ``--paths`` default 10,000), against the perps core engine (``replay_all``,
``--positions`` default 1,000,000, static margin) on the same paths. Checked
first, on the 2 of the first 200 paths that wake the most loans (at most 2,000):
the kernel against the reference on 2,000 loans at HF 1.02 to 1.5, and on the full
book (the reference replays the loans the path can wake; the others never change,
so their debt is added in closed form). Then both are timed end to end (path
generation + replay) after a warm-up, alternating, and each timed lending run's
checked paths are compared bit for bit with the verified rows. The lending side
writes every step's records (price, fund, closes: what ``stresstest run`` keeps for
10,000 paths), the core (``replay_all``) none; ``--no-records`` times the lending
kernel with an empty grid too, like for like.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

SEED = 20261204
CRASH = 0.45  # fraction of price lost in the first tenth of the path
VOLATILITY = 0.03  # per step, after the crash


def crash_paths(n_paths: int, n_steps: int, seed: int = SEED) -> np.ndarray:
    """Prices ``(n_paths, 1, n_steps + 1)`` of one asset, quote per base, from 100."""
    generator = np.random.default_rng(seed)
    moves = generator.normal(0.0, VOLATILITY, (n_paths, n_steps))
    fall = max(1, n_steps // 10)
    moves[:, :fall] += np.log(1.0 - CRASH) / fall
    logs = np.concatenate([np.zeros((n_paths, 1)), np.cumsum(moves, axis=1)], axis=1)
    return (100.0 * np.exp(logs))[:, None, :]


def crash_loans(n_loans: int, seed: int = SEED) -> list[dict[str, object]]:
    """Single-collateral loans on asset 0 with quote debt (asset 1), lognormal sizes."""
    generator = np.random.default_rng(seed + 1)
    value = np.exp(generator.normal(np.log(20_000.0), 1.5, n_loans))  # collateral, quote
    health = np.exp(generator.uniform(np.log(1.02), np.log(2.5), n_loans))
    return [
        {"collateral": [(0, float(v / 100.0))], "debt_asset": 1, "debt": float(v * 0.8 / h)}
        for v, h in zip(value, health, strict=True)
    ]


def crash_market() -> dict[str, object]:
    """A market whose shallow pool makes most crashed loans unprofitable to liquidate."""
    from tests.test_lending import market

    return market(threshold=[0.8], bonus=[0.05], fee=[0.1], depth=[2e6], gas=20.0, half_life=24.0)


def healthy_book(
    n_loans: int, s0: float, seed: int = SEED, health_range: tuple[float, float] = (1.7, 4.0)
) -> Any:
    """Single-collateral loans on asset 0 with quote debt, health factors log-uniform in
    ``health_range`` at ``s0`` (1.7 to 4: on 10,000 paths of the engine benchmark's
    GBM, 8 paths wake a loan, 514,068 wake-ups in all, at most 211,784 on one path).
    """
    from stresstest.book.loans import LoanBook

    generator = np.random.default_rng(seed + 2)
    value = np.exp(generator.normal(np.log(20_000.0), 1.5, n_loans))  # collateral, quote
    low, high = health_range
    health = np.exp(generator.uniform(np.log(low), np.log(high), n_loans))
    return LoanBook(
        start=np.arange(n_loans + 1, dtype=np.int64),
        asset=np.zeros(n_loans, dtype=np.int64),
        collateral=value / s0,
        debt_asset=np.ones(n_loans, dtype=np.int64),
        debt=value * 0.8 / health,
        assets=("asset0", "asset1"),
    )


def book_loans(book: Any, rows: np.ndarray) -> list[dict[str, object]]:
    """The reference's loans for ``rows`` of a single-collateral book."""
    return [
        {
            "collateral": [(0, float(book.collateral[row]))],
            "debt_asset": 1,
            "debt": float(book.debt[row]),
        }
        for row in rows
    ]


def lending_rows(
    book: Any,
    values: dict[str, object],
    prices: np.ndarray,
    wake: Any = None,
    records: bool = True,
) -> np.ndarray:
    """The lending kernel's metrics ``(n, N_METRICS_LENDING)`` on ``prices`` ``(n, T + 1)``.

    ``wake``: the book's wake index (built once per book, like the engine's plan), or
    None to build it. ``records``: every step's records (price, fund, closes), as
    ``stresstest run`` writes them for 10,000 paths; False: none, as ``replay_all``.
    """
    import numba

    from tests.test_lending import run_kernel_book

    out, _ = run_kernel_book(
        prices[:, None, :], book, wake, values, 1e6, 4 * numba.get_num_threads(), records
    )
    return out


def check_big_book(book: Any, values: dict[str, object], prices: np.ndarray) -> int:
    """Check the full book's rows on ``prices`` ``(n, T + 1)`` against the reference.

    A loan whose threshold stays below the path's lowest ratio of marks (less the wake
    margin) never wakes and never changes; the reference replays the others, and the
    debt of the rest enters ``requirement_mean`` in closed form (quote debt, mark 1).
    Returns the most loans the reference replayed on one path.
    """
    from stresstest.kernels import enums
    from stresstest.kernels.lending_multi import WAKE_MARGIN
    from tests.reference_lending import reference_lending
    from tests.test_lending import NAMES, assert_matches

    rows = lending_rows(book, values, prices)
    theta = book.debt / (book.collateral * 0.8)
    most = 0
    for path in range(prices.shape[0]):
        woken = np.flatnonzero(theta > prices[path].min() * (1.0 - WAKE_MARGIN) * (1.0 - 1e-6))
        most = max(most, woken.size)
        expected = reference_lending(prices[path][None], book_loans(book, woken), values, 1e6)
        rest = np.delete(book.debt, woken).sum()
        expected["requirement_mean"] += rest
        actual = {name: float(rows[path, enums.METRIC_INDEX[name]]) for name in NAMES}
        actual["margin_rate_mean"] = expected["margin_rate_mean"]  # not closed form here
        assert_matches(actual, expected, f"bench_lending full book, path {path}: ")
    return most


def checked_paths(book: Any, prices: np.ndarray, most: int = 2000) -> np.ndarray:
    """The two paths of ``prices`` ``(n, T + 1)`` checked against the reference: the two
    deepest falls among those that wake at most ``most`` loans of ``book`` (the reference
    is plain Python).
    """
    theta = np.sort(book.debt / (book.collateral * 0.8))
    lowest = prices.min(axis=1)
    woken = theta.size - np.searchsorted(theta, lowest * (1.0 - 2e-6), "right")
    ranked = np.argsort(np.where(woken <= most, lowest, np.inf), kind="stable")
    return np.sort(ranked[:2])


def lending_engine(
    book: Any, wake: Any, values: dict[str, object], source: Any, records: bool = True
) -> np.ndarray:
    """Path generation + the lending kernel over every chunk of ``source`` (timed)."""
    from stresstest.engine.run import default_chunk_size

    size = default_chunk_size(source.n_paths, source.n_steps)
    parts = [
        lending_rows(
            book, values, source.chunk(first, min(size, source.n_paths - first)), wake, records
        )
        for first in range(0, source.n_paths, size)
    ]
    return np.concatenate(parts)


def versus_core(options: argparse.Namespace) -> int:
    """Issue 16's case: check, then time lending against the perps core on the same paths."""
    from benchmarks.engine_cases import engine_metrics, make_scenario
    from stresstest.book import sort_book
    from stresstest.engine.lending import wake_index
    from stresstest.engine.run import build_book
    from stresstest.kernels import enums
    from stresstest.paths.gbm import GbmPathSource
    from tests.reference_lending import reference_lending
    from tests.test_lending import NAMES, assert_matches, market

    scenario = make_scenario(options.positions, options.paths, "static")
    source = GbmPathSource(scenario.paths, scenario.seed)
    s0 = float(scenario.paths.s0)
    values = market(threshold=[0.8], bonus=[0.05], fee=[0.1], depth=[1e12], gas=5.0, half_life=24.0)
    book = healthy_book(options.loans, s0)
    wake = wake_index(book, np.asarray(values["threshold"], dtype=float))  # once, as a plan
    checked = checked_paths(book, source.chunk(0, min(200, options.paths)))
    first = source.chunk(0, int(checked.max()) + 1)[checked]
    small = healthy_book(2000, s0, SEED + 5, (1.02, 1.5))  # close to HF 1: many liquidations
    rows = lending_rows(small, values, first)
    for path in range(2):
        expected = reference_lending(
            first[path][None], book_loans(small, np.arange(2000)), values, 1e6
        )
        actual = {name: float(rows[path, enums.METRIC_INDEX[name]]) for name in NAMES}
        assert_matches(actual, expected, f"bench_lending 2000 healthy loans, path {path}: ")
    most = check_big_book(book, values, first)
    verified = lending_rows(book, values, first)
    print(
        f"parity ok: 2,000 loans at HF 1.02-1.5 x paths {checked.tolist()} against the "
        f"reference ({expected['n_liquidations']:.0f} liquidations on the second); "
        f"{options.loans:,} loans x the same paths against the reference on the loans the "
        f"path can wake (at most {most:,})"
    )
    perps = sort_book(build_book(scenario, source.start_price()))
    records = not options.no_records
    lending_engine(book, wake, values, source, records)  # warm-up: compiled code, pages
    engine_metrics(scenario, perps)
    lending_times, core_times = [], []
    for _ in range(options.runs):  # alternate, so both see the same load
        begin = time.perf_counter()
        rows = lending_engine(book, wake, values, source, records)
        lending_times.append(time.perf_counter() - begin)
        if rows[checked].tobytes() != verified.tobytes():
            raise SystemExit("bench_lending: the timed run differs from the verified rows")
        begin = time.perf_counter()
        engine_metrics(scenario, perps)
        core_times.append(time.perf_counter() - begin)
    woke = rows[:, enums.METRIC_INDEX["n_liquidations"]]
    lending, core = float(np.median(lending_times)), float(np.median(core_times))
    print(
        f"{options.loans:,} loans / {options.positions:,} positions x {options.paths:,} paths x "
        f"{source.n_steps} steps, generation + replay, median of {options.runs}"
        f"{'' if records else ', lending without per-step records'}: lending "
        f"{lending:.3f} s {[round(t, 3) for t in lending_times]}, perps core {core:.3f} s "
        f"{[round(t, 3) for t in core_times]}, ratio {lending / core:.2f}x; "
        f"paths with a liquidation {int((woke > 0).sum()):,}, liquidations {woke.sum():,.0f}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Check parity, then time the kernel; prints the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--paths", type=int, default=20)
    parser.add_argument("--steps", type=int, default=720)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--vs-core", action="store_true", help="issue 16: against the perps core")
    parser.add_argument("--positions", type=int, default=1_000_000, help="perps core positions")
    parser.add_argument(
        "--no-records",
        action="store_true",
        help="--vs-core: lending without per-step records, like replay_all's core (empty grid)",
    )
    options = parser.parse_args(argv)
    if options.vs_core:
        if options.smoke:
            options.loans, options.positions, options.paths, options.runs = 20_000, 20_000, 20, 1
        else:
            options.loans = 1_000_000 if options.loans == 100_000 else options.loans
            options.paths = 10_000 if options.paths == 20 else options.paths
        return versus_core(options)
    if options.smoke:
        options.loans, options.paths, options.steps, options.runs = 2000, 2, 100, 1
    from tests.reference_lending import reference_lending
    from tests.test_lending import assert_matches, run_kernel

    prices = crash_paths(options.paths, options.steps)
    loans = crash_loans(options.loans)
    values = crash_market()
    few = loans[:400]
    columns, _ = run_kernel(prices[:1], few, values, 1e6)
    expected = reference_lending(prices[0], few, values, 1e6)
    assert_matches(columns, expected, "bench_lending parity")
    print(
        f"parity ok: {expected['n_liquidations']:.0f} liquidations, "
        f"{expected['unprofitable_loans']:.0f} unprofitable at T on path 0 (400 loans)"
    )
    times = []
    for _ in range(options.runs):
        begin = time.perf_counter()
        columns, _ = run_kernel(prices, loans, values, 1e6)
        times.append(time.perf_counter() - begin)
    print(
        f"{options.loans} loans x {options.paths} paths x {options.steps} steps: "
        f"median {float(np.median(times)):.2f} s of {[round(t, 2) for t in times]}; "
        f"path 0: {columns['n_liquidations']:.0f} liquidations, "
        f"{columns['unprofitable_loans']:.0f} unprofitable at T"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
