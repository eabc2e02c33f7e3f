"""The engine benchmark's cases, the three ways to compute them, and their parity check.

Shared by the engine timings (benchmarks/bench_engine.py), the memory probe
(benchmarks/bench_memory.py) and the crash-mechanism benchmark
(benchmarks/bench_mechanics.py), which uses the same book and paths.

Parity: the engine's per-path metrics (``replay_all`` on the first K paths) must
match the dense numba twin (same K paths) and the independent numpy reference of
docs/model.md (first J <= K paths) within :data:`benchmarks.harness.parity.ENGINE`
(rtol 1e-9, an absolute floor of 1e-9 x book notional for quote-unit columns,
1e-12 for fractions, counts exact).

Only public entry points of the package are used (``replay_all``,
``margin_arguments``, ``build_book``, ``sort_book``, ``GbmPathSource``,
``dense_replay_paths``, ``load_scenario``, ``enums``), so the harness keeps
working when the kernels' internals change.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.harness import parity
from benchmarks.harness.parity import ParityError
from benchmarks.numpy_reference import ReferenceParams, reference_metrics
from stresstest.book import sort_book
from stresstest.engine.plan import liquidation_arguments
from stresstest.engine.run import build_book, default_chunk_size, margin_arguments, replay_all
from stresstest.kernels import enums
from stresstest.kernels.dense import dense_replay_paths
from stresstest.paths.gbm import GbmPathSource
from stresstest.scenario import load_scenario

__all__ = [
    "MARGINS",
    "N_STEPS",
    "SEED",
    "ParityError",
    "ParityReport",
    "check_parity",
    "compare_metrics",
    "make_scenario",
    "scenario_dict",
]

SEED = 20261124
#: Steps per path (hours).
N_STEPS = 720
MARGINS: dict[str, dict[str, Any]] = {
    "static": {"model": "static", "maintenance": 0.005},
    "vol_scaled": {
        "model": "vol_scaled",
        "k": 3.0,
        "horizon_steps": 24,
        "ewma_lambda": 0.97,
        "initial_variance": 3.6e-5,
        "floor": 0.004,
        "cap": 0.25,
    },
}


def scenario_dict(n_positions: int, n_paths: int, margin: str, n_steps: int = N_STEPS) -> dict:
    """The benchmark scenario: the default scenario's book, GBM s0 30000 sigma 0.006."""
    return {
        "scenario": {"name": f"bench-{n_positions}x{n_paths}-{margin}", "seed": SEED},
        "paths": {
            "source": "gbm",
            "s0": 30_000.0,
            "sigma": 0.006,
            "drift": 0.0,
            "n_paths": n_paths,
            "n_steps": n_steps,
        },
        "book": {
            "source": "synthetic",
            "n_positions": n_positions,
            "long_fraction": 0.5,
            "leverage_min": 1.0,
            "leverage_max": 50.0,
            "notional_median": 10_000.0,
            "notional_sigma": 1.5,
            "entry_dispersion": 0.01,
        },
        "margin": dict(MARGINS[margin]),
        "liquidation": {
            "latency_steps": 2,
            "slippage": 0.002,
            "fee": 0.01,
            "liquidator_share": 0.5,
        },
        "insurance_fund": {"initial": 5e7},
    }


def make_scenario(n_positions: int, n_paths: int, margin: str, n_steps: int = N_STEPS) -> Any:
    """A validated benchmark scenario."""
    return load_scenario(scenario_dict(n_positions, n_paths, margin, n_steps))


def parity_subset(n_positions: int) -> tuple[int, int]:
    """``(K, J)``: paths checked against the dense twin and against the numpy reference."""
    if n_positions <= 100_000:
        return 32, 16
    if n_positions <= 2_000_000:
        return 4, 2
    return 2, 1


# ----------------------------------------------------------------------------- three ways
def engine_metrics(scenario: Any, sorted_book: Any) -> np.ndarray:
    """The engine's per-path metrics for every path of ``scenario``, via ``replay_all``."""
    source = GbmPathSource(scenario.paths, scenario.seed)
    return replay_all(scenario, source, sorted_book, chunk_size=None, progress=None)


def dense_metrics(scenario: Any, book: Any, prices: np.ndarray) -> np.ndarray:
    """The dense numba twin over the unsorted book for the rows of ``prices``."""
    out = np.empty((prices.shape[0], enums.N_METRICS))
    dense_replay_paths(
        np.ascontiguousarray(prices),
        margin_arguments(scenario.margin),
        liquidation_arguments(scenario.liquidation),
        book.side,
        book.qty,
        book.entry_price,
        book.collateral,
        scenario.insurance_fund.initial,
        out,
    )
    return out


def numpy_metrics(scenario: Any, book: Any, prices: np.ndarray) -> np.ndarray:
    """The numpy reference (benchmarks/numpy_reference.py) for the rows of ``prices``."""
    return reference_metrics(
        prices,
        book.side,
        book.qty,
        book.entry_price,
        book.collateral,
        ReferenceParams.from_scenario(scenario),
    )


def generate_only(scenario: Any) -> None:
    """Generate every chunk of paths ``replay_all`` would generate, and drop it."""
    source = GbmPathSource(scenario.paths, scenario.seed)
    size = default_chunk_size(source.n_paths, source.n_steps)
    for first in range(0, source.n_paths, size):
        source.chunk(first, min(size, source.n_paths - first))


def warm_up() -> float:
    """Compile (or load from numba's cache) every kernel the timings call; seconds."""
    started = time.perf_counter()
    for margin in MARGINS:
        scenario = make_scenario(2_000, 4, margin, n_steps=50)
        source = GbmPathSource(scenario.paths, scenario.seed)
        book = build_book(scenario, source.start_price())
        engine_metrics(scenario, sort_book(book))
        dense_metrics(scenario, book, source.chunk(0, 4))
        generate_only(scenario)
    return time.perf_counter() - started


def array_bytes(obj: Any) -> int:
    """Total ``nbytes`` of the numpy arrays held by a (data)class instance."""
    values = (
        [getattr(obj, field.name) for field in dataclasses.fields(obj)]
        if dataclasses.is_dataclass(obj)
        else list(vars(obj).values())
    )
    return sum(value.nbytes for value in values if isinstance(value, np.ndarray))


# ----------------------------------------------------------------------------- parity
def compare_metrics(
    actual: np.ndarray, expected: np.ndarray, *, notional: float, what: str
) -> float:
    """Raise :class:`ParityError` unless two engine metric matrices agree.

    Every one of the ``METRIC_NAMES`` columns, within
    :data:`benchmarks.harness.parity.ENGINE`; returns the worst error / allowed.
    """
    return parity.compare(
        actual,
        expected,
        notional=notional,
        what=what,
        tolerance=parity.ENGINE,
        names=enums.METRIC_NAMES,
    )


@dataclasses.dataclass
class ParityReport:
    """What one parity check compared, and how close it came to its tolerance."""

    n_positions: int
    margin: str
    n_dense_paths: int
    n_numpy_paths: int
    worst_vs_dense: float
    worst_vs_numpy: float
    liquidations_per_path: float
    engine_rows: np.ndarray = dataclasses.field(repr=False)
    seconds: float = 0.0


Engine = Callable[[Any, Any], np.ndarray]


def check_parity(
    scenario: Any,
    *,
    book: Any = None,
    sorted_book: Any = None,
    n_dense_paths: int | None = None,
    n_numpy_paths: int | None = None,
    engine: Engine | None = None,
) -> ParityReport:
    """Check the engine against the dense twin and the numpy reference on the first paths.

    The engine runs ``replay_all`` over the scenario restricted to its first
    ``K = n_dense_paths`` paths (paths are independent of the path count), the
    dense twin over the same K paths and the numpy reference over the first
    ``J = n_numpy_paths``. ``engine(scenario, sorted_book)`` replaces the engine
    (tests use it to show that a wrong engine fails). Raises :class:`ParityError`,
    also when a checked path has no liquidation (the check would be vacuous).
    """
    started = time.perf_counter()
    n_positions = scenario.book.n_positions
    default_k, default_j = parity_subset(n_positions)
    k = min(n_dense_paths or default_k, scenario.paths.n_paths)
    j = min(n_numpy_paths or default_j, k)
    subset = load_scenario(_with_paths(scenario.raw, k))
    source = GbmPathSource(subset.paths, subset.seed)
    if book is None:
        book = build_book(subset, source.start_price())
    if sorted_book is None:
        sorted_book = sort_book(book)
    run_engine = engine if engine is not None else engine_metrics
    engine_rows = np.asarray(run_engine(subset, sorted_book))
    prices = source.chunk(0, k)
    dense_rows = dense_metrics(subset, book, prices)
    numpy_rows = numpy_metrics(subset, book, prices[:j])
    notional = float(np.sum(book.qty * book.entry_price))
    label = f"{n_positions:,} positions, {scenario.margin.model}"
    worst_dense = compare_metrics(
        engine_rows, dense_rows, notional=notional, what=f"engine vs dense twin ({label})"
    )
    worst_numpy = compare_metrics(
        engine_rows[:j], numpy_rows, notional=notional, what=f"engine vs numpy reference ({label})"
    )
    parity.require(
        bool(np.all(numpy_rows[:, enums.N_LIQUIDATIONS] > 0)),
        f"{label}: a checked path has no liquidation; the check would be vacuous",
    )
    return ParityReport(
        n_positions=n_positions,
        margin=scenario.margin.model,
        n_dense_paths=k,
        n_numpy_paths=j,
        worst_vs_dense=worst_dense,
        worst_vs_numpy=worst_numpy,
        liquidations_per_path=float(np.mean(dense_rows[:, enums.N_LIQUIDATIONS])),
        engine_rows=engine_rows,
        seconds=time.perf_counter() - started,
    )


def check_timed_output(metrics: np.ndarray, report: ParityReport, book: Any, label: str) -> None:
    """The timed run's first K rows must equal the verified ones, and every value be finite."""
    parity.require(
        bool(np.all(np.isfinite(metrics))), f"timed engine run {label}: non-finite metrics"
    )
    compare_metrics(
        metrics[: report.n_dense_paths],
        report.engine_rows,
        notional=float(np.sum(book.qty * book.entry_price)),
        what=f"timed engine run {label} vs its verified rows",
    )


def _with_paths(raw: dict, n_paths: int) -> dict:
    copy = json.loads(json.dumps(raw))
    copy["paths"]["n_paths"] = n_paths
    return copy
