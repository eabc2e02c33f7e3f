"""Lending kernel on crashed paths: parity with the plain reference, then timing.

    python benchmarks/bench_lending.py [--loans N] [--paths N] [--steps N] [--smoke]

1. Parity: the kernel against ``tests/reference_lending.py`` on the first path and
   the first 400 loans of the timed book, every column at the tests' tolerances.
   Nothing is timed if this fails.
2. Timing (seeded): ``--loans`` single-collateral loans (debt in quote, health
   factors 1.02 to 2.5) over ``--paths`` paths of ``--steps`` steps that fall 45%
   within the first tenth of the path and then wander (GBM, 3% per step), with a
   pool shallow enough that most liquidatable loans are unprofitable to liquidate
   (docs/model.md 13.4, 13.7). Kernel only, after a warm-up, median of a few runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    """Check parity, then time the kernel; prints the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--paths", type=int, default=20)
    parser.add_argument("--steps", type=int, default=720)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    options = parser.parse_args(argv)
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
