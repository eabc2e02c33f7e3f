"""Partial liquidation with and without ``[procyclicality]``: what the measure costs.

    python benchmarks/bench_partial_procyclicality.py                 # this checkout
    PYTHONPATH=OTHER python benchmarks/bench_partial_procyclicality.py --plain-only

The stage pipeline with partial liquidation (target rule and ``rule = "fraction"``),
volatility-scaled margin, over seeded GBM paths: ``--positions`` positions,
``--paths`` paths of ``--steps`` steps, kernel only (paths generated before).

1. Check: the run with ``[procyclicality]`` gives the run without it bit for bit in
   every other column, and ``procyclical_liquidations <= n_liquidations``; with
   ``--plain-only`` (a checkout without the measure beside partial liquidation) the
   sha256 of the plain runs' columns is printed, so two checkouts can be compared
   before their timings are (docs/performance.md).
2. Timing: after a warm-up, the median of ``--runs`` runs of each, printed.

Unlike the other benchmarks this one imports ``stresstest`` from ``PYTHONPATH`` (or
the installed package), not from its own checkout, so that one copy of it times an
older checkout too.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from typing import Any

import numpy as np

from stresstest.book import sort_book
from stresstest.book.synthetic import synthetic_book
from stresstest.engine.mechanics import mechanics_vector
from stresstest.engine.run import margin_arguments
from stresstest.kernels import enums
from stresstest.kernels.enums import N_GRID
from stresstest.kernels.pipeline import pipeline_paths
from stresstest.paths.gbm import GbmPathSource
from stresstest.scenario import load_scenario, schema

SEED = 20261205
NO_POSITIONS = np.empty((3, 0))  # the positions only ADL ranks
#: The two close rules of docs/model.md 10.1.
RULES: dict[str, dict[str, Any]] = {
    "target": {"buffer": 0.01},
    "fraction": {"rule": "fraction", "fraction": 0.2, "min_notional": 1e4},
}
HORIZON = 24  # [procyclicality] horizon_steps


def _scenario(rule: str, n_positions: int, n_paths: int, n_steps: int) -> schema.Scenario:
    return load_scenario(
        {
            "scenario": {"name": "bench_partial_procyclicality", "seed": SEED},
            "paths": {
                "source": "gbm",
                "s0": 100.0,
                "sigma": 0.01,
                "n_paths": n_paths,
                "n_steps": n_steps,
            },
            "book": {"source": "synthetic", "n_positions": n_positions, "leverage_max": 50.0},
            "margin": {
                "model": "vol_scaled",
                "k": 3.0,
                "horizon_steps": 2,
                "ewma_lambda": 0.94,
                "initial_variance": 1e-4,
                "floor": 0.005,
                "cap": 0.2,
            },
            "liquidation": {"latency_steps": 2, "slippage": 0.002, "fee": 0.005},
            "partial_liquidation": RULES[rule],
        }
    )


def replay(scenario: schema.Scenario, prices: np.ndarray, book: Any, horizon: int) -> np.ndarray:
    """The pipeline's per-path columns ``(paths, N_METRICS_ALL)``; ``horizon`` 0: not measured."""
    sorted_book = sort_book(book)
    liquidation = scenario.liquidation
    out = np.full((prices.shape[0], enums.N_METRICS_ALL), np.nan)
    pipeline_paths(
        prices,
        margin_arguments(scenario.margin, procyclicality_horizon=horizon),
        np.array(
            [liquidation.latency_steps, liquidation.slippage, liquidation.fee, 0.5],
            dtype=np.float64,
        ),
        mechanics_vector(scenario),
        sorted_book.long_threshold,
        sorted_book.long_prefix,
        NO_POSITIONS,
        sorted_book.short_threshold,
        sorted_book.short_prefix,
        NO_POSITIONS,
        1e6,
        np.empty(0, dtype=np.int64),
        out,
        np.empty((prices.shape[0], N_GRID, 0)),
    )
    return out


def _median_seconds(runs: int, *arguments: Any) -> float:
    """Median wall time (s) of ``replay(*arguments)`` over ``runs`` runs after a warm-up."""
    replay(*arguments)  # warm-up (compilation or the numba cache)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        replay(*arguments)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=200_000)
    parser.add_argument("--paths", type=int, default=200)
    parser.add_argument("--steps", type=int, default=720)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--plain-only", action="store_true")
    options = parser.parse_args()
    for rule in RULES:
        scenario = _scenario(rule, options.positions, options.paths, options.steps)
        assert isinstance(scenario.paths, schema.GbmPaths)
        assert isinstance(scenario.book, schema.SyntheticBook)
        source = GbmPathSource(scenario.paths, SEED)
        prices = source.chunk(0, options.paths)
        book = synthetic_book(scenario.book, SEED, source.start_price())
        plain = replay(scenario, prices, book, 0)
        core = plain[:, : enums.N_METRICS]
        digest = hashlib.sha256(np.ascontiguousarray(core).tobytes()).hexdigest()[:16]
        plain_s = _median_seconds(options.runs, scenario, prices, book, 0)
        line = f"{rule}: plain sha256 {digest} median {plain_s:.3f} s"
        if not options.plain_only:
            measured = replay(scenario, prices, book, HORIZON)
            np.testing.assert_array_equal(measured[:, : enums.N_METRICS], core)
            count = measured[:, enums.PROCYCLICAL_LIQUIDATIONS]
            assert np.all(count <= measured[:, enums.N_LIQUIDATIONS])
            measured_s = _median_seconds(options.runs, scenario, prices, book, HORIZON)
            line += (
                f"; with [procyclicality] median {measured_s:.3f} s "
                f"({measured_s / plain_s:.2f}x), procyclical/all liquidations "
                f"{count.sum():.0f}/{measured[:, enums.N_LIQUIDATIONS].sum():.0f}"
            )
        print(line, flush=True)


if __name__ == "__main__":
    main()
