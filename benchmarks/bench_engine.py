"""Engine benchmark that verifies before it times.

    python benchmarks/bench_engine.py [--quick] [--write]

1. Parity, for every (book size, margin model) of the grid, before anything is
   timed: the engine's per-path metrics (``replay_all`` on the first K paths)
   must match the dense numba twin (same K paths) and the independent numpy
   reference of docs/model.md (first J <= K paths) at a relative tolerance of
   1e-9 with an absolute floor of 1e-9 x book notional (quote-unit columns),
   1e-12 (fractions) and 0 (counts). Any mismatch exits non-zero, nothing timed.
2. Timings, in this one process, after a warm-up that compiles (or loads from
   numba's cache) every kernel: GBM path generation alone (the same chunks the
   engine generates: the floor no engine can beat), the engine end to end
   (generation + replay through ``replay_all``), the dense twin and the numpy
   reference (on the parity subset, extrapolated linearly to the case's paths).
   The timed engine output is checked again against the verified rows.
3. Peak RSS of a 10M-position run in a subprocess, and the start-up time of a
   second ``python -m stresstest run --quiet`` (numba's on-disk cache warm).

``--quick`` runs 10k and 1M positions x 1,000 paths. ``--write`` replaces the
text between ``<!-- engine:begin -->`` and ``<!-- engine:end -->`` in
docs/performance.md (creating the file if needed) and touches nothing else.

Only public entry points of the package are used (``replay_all``,
``margin_arguments``, ``build_book``, ``sort_book``, ``GbmPathSource``,
``dense_replay_paths``, ``load_scenario``, ``enums``), so the harness keeps
working when the kernels' internals change.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numba  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.numpy_reference import ReferenceParams, reference_metrics  # noqa: E402
from stresstest.book import sort_book  # noqa: E402
from stresstest.engine import run as engine_run  # noqa: E402
from stresstest.engine.plan import liquidation_arguments  # noqa: E402
from stresstest.engine.run import build_book, margin_arguments, replay_all  # noqa: E402
from stresstest.kernels import enums  # noqa: E402
from stresstest.kernels.dense import dense_replay_paths  # noqa: E402
from stresstest.paths.gbm import GbmPathSource  # noqa: E402
from stresstest.scenario import load_scenario  # noqa: E402

DOC = REPO / "docs" / "performance.md"
BEGIN = "<!-- engine:begin -->"
END = "<!-- engine:end -->"
DEFAULT_SCENARIO = REPO / "scenarios" / "default.toml"

# ----------------------------------------------------------------------------- the grid
SEED = 20261124
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
FULL_POSITIONS = (10_000, 1_000_000, 10_000_000)
FULL_PATHS = (1_000, 10_000, 100_000)
QUICK_POSITIONS = (10_000, 1_000_000)
QUICK_PATHS = (1_000,)
MEMORY_POSITIONS = 10_000_000

# ----------------------------------------------------------------------------- tolerances
#: Engine against dense twin and numpy reference (docs/model.md 4.1: they differ by rounding).
PARITY_RTOL = 1e-9
#: Absolute floor for quote-unit columns, per unit of book entry notional.
PARITY_ATOL_PER_NOTIONAL = 1e-9
#: Absolute floor for dimensionless fractions (a maintenance rate is ~1e-3..1e-1).
PARITY_ATOL_FRACTION = 1e-12
#: Columns that are counts (compared exactly) and fractions; every other one is quote units.
COUNT_COLUMNS = frozenset({"n_liquidations"})
FRACTION_COLUMNS = frozenset({"margin_rate_mean"})


class ParityError(AssertionError):
    """The engine disagrees with the dense twin or the numpy reference."""


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


def chunk_size_for(n_paths: int, n_steps: int) -> int:
    """Paths per chunk exactly as ``replay_all`` chooses them by default."""
    chooser = getattr(engine_run, "default_chunk_size", None)
    if chooser is not None:
        return int(chooser(n_paths, n_steps))
    budget = int(getattr(engine_run, "CHUNK_BUDGET_VALUES", 8_000_000))
    return max(1, min(n_paths, budget // (n_steps + 1)))


# ----------------------------------------------------------------------------- running things
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


# ----------------------------------------------------------------------------- parity
def tolerances(notional: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-column ``(rtol, atol)`` in ``METRIC_NAMES`` order."""
    atol = np.array(
        [
            0.0
            if name in COUNT_COLUMNS
            else PARITY_ATOL_FRACTION
            if name in FRACTION_COLUMNS
            else PARITY_ATOL_PER_NOTIONAL * notional
            for name in enums.METRIC_NAMES
        ]
    )
    return np.full(len(enums.METRIC_NAMES), PARITY_RTOL), atol


def compare_metrics(
    actual: np.ndarray, expected: np.ndarray, *, notional: float, what: str
) -> float:
    """Raise :class:`ParityError` unless ``|actual - expected| <= atol + rtol |expected|``.

    NaNs never pass; shapes must match. Returns the worst ``error / allowed`` (0 when
    every value is identical), how close the comparison came to failing.
    """
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    if actual.shape != expected.shape or actual.ndim != 2:
        raise ParityError(f"{what}: shape {actual.shape} != {expected.shape}")
    if actual.shape[1] != len(enums.METRIC_NAMES):
        raise ParityError(f"{what}: {actual.shape[1]} columns, expected {enums.N_METRICS}")
    rtol, atol = tolerances(notional)
    error = np.abs(actual - expected)
    allowed = atol + rtol * np.abs(expected)
    bad = ~(error <= allowed)
    if bad.any():
        row, column = np.unravel_index(
            int(np.argmax(np.where(bad, np.nan_to_num(error - allowed, nan=np.inf), -np.inf))),
            bad.shape,
        )
        raise ParityError(
            f"{what}: {int(bad.sum())} value(s) out of tolerance; worst: path {row}, "
            f"{enums.METRIC_NAMES[column]} = {actual[row, column]!r}, expected "
            f"{expected[row, column]!r} (allowed difference {allowed[row, column]:.3g})"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(allowed > 0, error / allowed, np.where(error == 0, 0.0, np.inf))
    return float(ratio.max()) if ratio.size else 0.0


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
    (tests use it to show that a wrong engine fails). Raises :class:`ParityError`.
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
    liquidations = numpy_rows[:, enums.N_LIQUIDATIONS]
    if not np.all(liquidations > 0):
        raise ParityError(f"{label}: a checked path has no liquidation; the check would be vacuous")
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


def _with_paths(raw: dict, n_paths: int) -> dict:
    copy = json.loads(json.dumps(raw))
    copy["paths"]["n_paths"] = n_paths
    return copy


# ----------------------------------------------------------------------------- timing
def best_time(function: Callable[[], Any], *, budget: float = 6.0, max_runs: int = 5) -> float:
    """Smallest wall time of up to ``max_runs`` calls, stopping once ``budget`` s are spent."""
    times: list[float] = []
    spent = 0.0
    while len(times) < max_runs and (not times or spent < budget):
        started = time.perf_counter()
        function()
        elapsed = time.perf_counter() - started
        times.append(elapsed)
        spent += elapsed
    return min(times)


def interleaved_times(
    functions: Sequence[Callable[[], Any]],
    *,
    min_runs: int = 3,
    max_runs: int = 5,
    budget: float = 12.0,
    busy: float = 1.8,
    max_busy_runs: int = 10,
    busy_budget: float = 60.0,
) -> list[tuple[float, float]]:
    """Per function, ``(best wall time, CPU seconds / wall of that run)``.

    The functions run in turn (a, b, a, b, ...) so that load from other processes
    hits them alike; at least ``min_runs`` rounds, more while under ``budget`` s.
    CPU / wall counts every thread of this process (2.0 = both cores busy): while
    some best run used less than ``busy`` cores (the machine was shared), rounds
    go on up to ``max_busy_runs`` / ``busy_budget`` s.
    """
    best = [(np.inf, 0.0) for _ in functions]
    spent = 0.0
    rounds = 0
    cores = numba.get_num_threads()

    def more() -> bool:
        if rounds < min_runs:
            return True
        if rounds < max_runs and spent < budget:
            return True
        contended = any(cpu < min(busy, 0.9 * cores) for _, cpu in best)
        return contended and rounds < max_busy_runs and spent < busy_budget

    while more():
        for index, function in enumerate(functions):
            cpu = time.process_time()
            started = time.perf_counter()
            function()
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
            spent += elapsed
            if elapsed < best[index][0]:
                best[index] = (elapsed, cpu / elapsed)
        rounds += 1
    return best


def generate_only(scenario: Any) -> None:
    """Generate every chunk of paths ``replay_all`` would generate, and drop it."""
    source = GbmPathSource(scenario.paths, scenario.seed)
    size = chunk_size_for(source.n_paths, source.n_steps)
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


@dataclasses.dataclass
class CaseTiming:
    """Seconds for one (positions, paths, margin) case."""

    n_positions: int
    n_paths: int
    margin: str
    generation: float
    generation_cpu: float  # CPU seconds / wall of the best generation run
    engine: float
    engine_cpu: float  # CPU seconds / wall of the best engine run
    dense: float  # extrapolated from dense_paths
    dense_paths: int
    numpy: float  # extrapolated from numpy_paths
    numpy_paths: int

    @property
    def engine_over_generation(self) -> float:
        return self.engine / self.generation

    @property
    def speedup_vs_dense(self) -> float:
        return self.dense / self.engine


@dataclasses.dataclass
class BookTiming:
    n_positions: int
    build: float
    sort: float
    bytes_per_position: float


def array_bytes(obj: Any) -> int:
    """Total ``nbytes`` of the numpy arrays held by a (data)class instance."""
    values = (
        [getattr(obj, field.name) for field in dataclasses.fields(obj)]
        if dataclasses.is_dataclass(obj)
        else list(vars(obj).values())
    )
    return sum(value.nbytes for value in values if isinstance(value, np.ndarray))


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def verify_all(positions: Sequence[int], paths: Sequence[int]) -> dict[tuple[int, str], Any]:
    """Parity for every (positions, margin) of the grid; raises :class:`ParityError`."""
    reports: dict[tuple[int, str], Any] = {}
    for n_positions in positions:
        book = sorted_book = None
        for margin in MARGINS:
            scenario = make_scenario(n_positions, max(paths), margin)
            if book is None:
                source = GbmPathSource(scenario.paths, scenario.seed)
                book = build_book(scenario, source.start_price())
                sorted_book = sort_book(book)
            report = check_parity(scenario, book=book, sorted_book=sorted_book)
            reports[(n_positions, margin)] = report
            say(
                f"parity ok: {n_positions:,} positions, {margin}: engine = dense on "
                f"{report.n_dense_paths} paths (worst {report.worst_vs_dense:.2g} of tolerance), "
                f"= numpy on {report.n_numpy_paths} (worst {report.worst_vs_numpy:.2g}) "
                f"[{report.seconds:.1f} s]"
            )
    return reports


def time_all(
    positions: Sequence[int], paths: Sequence[int], reports: dict[tuple[int, str], Any]
) -> tuple[list[CaseTiming], list[BookTiming]]:
    """Time every case of the grid (parity already passed), one book in memory at a time."""
    cases: list[CaseTiming] = []
    books: list[BookTiming] = []
    for n_positions in positions:
        book_timing, book_cases = time_book(n_positions, paths, reports)
        books.append(book_timing)
        cases += book_cases
    return cases, books


def time_book(
    n_positions: int, paths: Sequence[int], reports: dict[tuple[int, str], Any]
) -> tuple[BookTiming, list[CaseTiming]]:
    """Build and sort one book (timed), then time every (margin, paths) case on it."""
    first = make_scenario(n_positions, max(paths), "static")
    source = GbmPathSource(first.paths, first.seed)
    started = time.perf_counter()
    book = build_book(first, source.start_price())
    built = time.perf_counter()
    sorted_book = sort_book(book)
    sorted_at = time.perf_counter()
    book_timing = BookTiming(
        n_positions,
        built - started,
        sorted_at - built,
        (array_bytes(book) + array_bytes(sorted_book)) / n_positions,
    )
    cases: list[CaseTiming] = []
    for margin in MARGINS:
        report = reports[(n_positions, margin)]
        k, j = report.n_dense_paths, report.n_numpy_paths
        subset = make_scenario(n_positions, k, margin)
        prices = GbmPathSource(subset.paths, subset.seed).chunk(0, k)
        dense_seconds = best_time(
            lambda subset=subset, prices=prices: dense_metrics(subset, book, prices),
            budget=3.0,
            max_runs=3,
        )
        numpy_seconds = best_time(
            lambda subset=subset, prices=prices[:j]: numpy_metrics(subset, book, prices),
            budget=3.0,
            max_runs=3,
        )
        for n_paths in paths:
            scenario = make_scenario(n_positions, n_paths, margin)
            timed: list[np.ndarray] = []

            def engine_once(scenario: Any = scenario, timed: list = timed) -> None:
                timed[:] = [engine_metrics(scenario, sorted_book)]

            (generation, generation_cpu), (engine, engine_cpu) = interleaved_times(
                [lambda scenario=scenario: generate_only(scenario), engine_once]
            )
            label = f"{n_positions:,} x {n_paths:,} {margin}"
            check_timed_output(timed[0], report, book, label)
            case = CaseTiming(
                n_positions=n_positions,
                n_paths=n_paths,
                margin=margin,
                generation=generation,
                generation_cpu=generation_cpu,
                engine=engine,
                engine_cpu=engine_cpu,
                dense=dense_seconds / k * n_paths,
                dense_paths=k,
                numpy=numpy_seconds / j * n_paths,
                numpy_paths=j,
            )
            cases.append(case)
            say(
                f"{n_positions:>10,} x {n_paths:>7,} {margin:<10}: generation "
                f"{generation:7.3f} s (cpu {generation_cpu:.2f}), engine {engine:7.3f} s "
                f"(cpu {engine_cpu:.2f}) "
                f"({case.engine_over_generation:.2f}x gen), dense ~{case.dense:,.0f} s "
                f"(speedup {case.speedup_vs_dense:,.0f}x), numpy ~{case.numpy:,.0f} s"
            )
    return book_timing, cases


def check_timed_output(metrics: np.ndarray, report: ParityReport, book: Any, label: str) -> None:
    """The timed run's first K rows must equal the verified ones, and every value be finite."""
    if not np.all(np.isfinite(metrics)):
        raise ParityError(f"timed engine run {label}: non-finite metrics")
    notional = float(np.sum(book.qty * book.entry_price))
    compare_metrics(
        metrics[: report.n_dense_paths],
        report.engine_rows,
        notional=notional,
        what=f"timed engine run {label} vs its verified rows",
    )


# ----------------------------------------------------------------------------- memory
def memory_child(n_positions: int, n_paths: int, margin: str) -> dict:
    """Run one case; peak RSS (bytes) after each phase (call in a fresh process)."""

    def peak() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    phases = {"imports": peak()}
    warm_up()
    phases["kernels loaded (tiny warm-up)"] = peak()
    scenario = make_scenario(n_positions, n_paths, margin)
    source = GbmPathSource(scenario.paths, scenario.seed)
    started = time.perf_counter()
    book = build_book(scenario, source.start_price())
    phases["book built"] = peak()
    sorted_book = sort_book(book)
    phases["book sorted"] = peak()
    metrics = replay_all(scenario, source, sorted_book, chunk_size=None, progress=None)
    phases["replayed"] = peak()
    status = Path("/proc/self/status")
    hwm = re.search(r"VmHWM:\s*(\d+) kB", status.read_text()) if status.exists() else None
    return {
        "phases": phases,
        "vm_hwm": int(hwm.group(1)) * 1024 if hwm else None,
        "seconds": time.perf_counter() - started,
        "book_bytes": array_bytes(book),
        "sorted_book_bytes": array_bytes(sorted_book),
        "metrics_bytes": int(metrics.nbytes),
        "finite": bool(np.all(np.isfinite(metrics))),
    }


#: Linux carries a process's peak RSS across exec, and a child that subprocess
#: starts (vfork + exec) inherits this big process's peak. So a small interpreter
#: forks first: the forked process starts its own count from a few MB.
MEMORY_DRIVER = r"""
import json, os, sys, traceback
repo, n_positions, n_paths, margin = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
pid = os.fork()
if pid == 0:
    code = 1
    try:
        sys.path.insert(0, repo)
        from benchmarks.bench_engine import memory_child
        print(json.dumps(memory_child(n_positions, n_paths, margin)), flush=True)
        code = 0
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
    os._exit(code)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def measure_memory(n_paths: int, margin: str = "vol_scaled") -> dict:
    """Peak RSS of a 10M-position run, alone in a freshly forked process."""
    command = [sys.executable, "-c", MEMORY_DRIVER, str(REPO), str(MEMORY_POSITIONS)]
    command += [str(n_paths), margin]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(n_positions=MEMORY_POSITIONS, n_paths=n_paths, margin=margin)
    return result


# ----------------------------------------------------------------------------- start-up
STARTUP_DRIVER = r"""
import time
t_main = time.time()
import json, sys
out_file, scenario_file = sys.argv[1], sys.argv[2]
import stresstest.cli, stresstest.engine.jobs  # what `stresstest run` imports
from stresstest.book import sort_book
from stresstest.engine.run import build_book, replay_all
from stresstest.paths.gbm import GbmPathSource
from stresstest.scenario import load_scenario
t_imported = time.time()
scenario = load_scenario(scenario_file)
source = GbmPathSource(scenario.paths, scenario.seed)
sorted_book = sort_book(build_book(scenario, source.start_price()))
t_book = time.time()
first_chunk = []
def progress(done, total):
    if done > 0 and not first_chunk:
        first_chunk.append(time.time())
replay_all(scenario, source, sorted_book, chunk_size=None, progress=progress)
t_replayed = time.time()
started = time.perf_counter()
replay_all(scenario, source, sorted_book, chunk_size=None, progress=None)
warm = time.perf_counter() - started
with open(out_file, "w") as handle:
    json.dump({"t_main": t_main, "t_imported": t_imported, "t_book": t_book,
               "t_first_chunk": first_chunk[0], "t_replayed": t_replayed,
               "warm_replay": warm}, handle)
"""


def measure_startup() -> dict:
    """Wall times of ``python -m stresstest run --out TMP --quiet`` run twice, and a breakdown.

    Run 1 fills numba's on-disk cache if needed; run 2 is the measured second run
    (total wall time, writing the result folder included). A driver then repeats
    the same pipeline through the public API with timestamps: interpreter start,
    imports, book build and sort, first ``replay_all`` (kernels loaded from the
    cache + compute) and a second, warm ``replay_all`` (compute only).
    """
    with tempfile.TemporaryDirectory() as tmp:
        walls = []
        for index in (1, 2):
            command = [sys.executable, "-m", "stresstest", "run", "--out"]
            command += [str(Path(tmp) / f"run{index}"), "--quiet"]
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, cwd=tmp)
            walls.append(time.perf_counter() - started)
        out_file = Path(tmp) / "startup.json"
        launched = time.time()
        subprocess.run(
            [sys.executable, "-c", STARTUP_DRIVER, str(out_file), str(DEFAULT_SCENARIO)],
            check=True,
            capture_output=True,
            cwd=tmp,
        )
        marks = json.loads(out_file.read_text())
    first_replay = marks["t_replayed"] - marks["t_book"]
    return {
        "first_run": walls[0],
        "second_run": walls[1],
        "interpreter": marks["t_main"] - launched,
        "imports": marks["t_imported"] - marks["t_main"],
        "book": marks["t_book"] - marks["t_imported"],
        "first_replay": first_replay,
        "warm_replay": marks["warm_replay"],
        "cache_load": max(0.0, first_replay - marks["warm_replay"]),
        "to_computing": marks["t_book"] - launched,
        "to_first_chunk": marks["t_first_chunk"] - launched,
    }


# ----------------------------------------------------------------------------- report
def machine_description() -> str:
    def run(command: list[str]) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return ""

    lscpu = run(["lscpu"])
    model = re.search(r"Model name:\s*(.+)", lscpu)
    cache = re.search(r"L3 cache:\s*(.+)", lscpu)
    memory = re.search(r"Mem:\s+(\d+)", run(["free", "-g"]))
    parts = [
        f"{model.group(1).strip() if model else platform.processor() or 'unknown CPU'}",
        f"{run(['nproc']).strip() or os.cpu_count()} cores (`nproc`)",
        f"{memory.group(1) if memory else '?'} GB RAM (`free -g`)",
    ]
    if cache:
        parts.append(f"L3 {cache.group(1).strip()}")
    return (
        "; ".join(parts)
        + f". Python {platform.python_version()}, numpy {np.__version__}, numba "
        + f"{numba.__version__} with {numba.get_num_threads()} threads, {platform.system()}."
    )


def _s(seconds: float) -> str:
    if seconds >= 100:
        return f"{seconds:,.0f}"
    if seconds >= 1:
        return f"{seconds:.2f}"
    return f"{seconds:.3f}"


def _gb(value: float) -> str:
    return f"{value / 1e9:.2f} GB"


def targets(cases: list[CaseTiming], memory: dict | None, startup: dict | None) -> list[str]:
    """Lines saying whether each target is met."""
    lines = []
    key = [c for c in cases if c.n_positions == 1_000_000 and c.n_paths == 100_000]
    if key:
        worst = max(c.engine for c in key)
        lines.append(
            f"- (a) 1M x 100k x 720 end to end < 10 s: **{'met' if worst < 10 else 'missed'}** "
            f"({', '.join(f'{c.margin} {_s(c.engine)} s' for c in key)})."
        )
        speedup = min(c.speedup_vs_dense for c in key)
        lines.append(
            f"- (b) >= 1000x faster than the dense twin on that case: "
            f"**{'met' if speedup >= 1000 else 'missed'}** "
            f"({', '.join(f'{c.margin} {c.speedup_vs_dense:,.0f}x' for c in key)})."
        )
    else:
        lines.append("- (a), (b): the 1M x 100k case was not run (quick grid).")
    large = [c for c in cases if c.n_positions >= 1_000_000]
    if large:
        # A ratio measured while other jobs held a core says nothing about the engine:
        # judge on the runs that had the machine (both best runs on >= 1.8 cores).
        cores = numba.get_num_threads()
        clean = [c for c in large if min(c.generation_cpu, c.engine_cpu) >= min(1.8, 0.9 * cores)]
        judged = clean or large
        worst = max(judged, key=lambda c: c.engine_over_generation)
        excluded = [c for c in large if c not in judged]
        note = (
            f"; {len(excluded)} contended case(s) left out: "
            + ", ".join(
                f"{c.n_positions:,} x {c.n_paths:,} {c.margin} {c.engine_over_generation:.2f}x"
                for c in excluded
            )
            if excluded
            else ""
        )
        lines.append(
            f"- (c) engine within 3x of path generation alone on large books (>= 1M positions): "
            f"**{'met' if worst.engine_over_generation <= 3 else 'missed'}** (worst "
            f"{worst.engine_over_generation:.2f}x at {worst.n_positions:,} x {worst.n_paths:,} "
            f"{worst.margin}, over {len(judged)} uncontended case(s){note})."
        )
    if memory:
        peak = max(memory["phases"].values())
        lines.append(
            f"- (d) peak memory for 10M positions < 4 GB: **{'met' if peak < 4e9 else 'missed'}** "
            f"({_gb(peak)} peak RSS)."
        )
    if startup:
        lines.append(
            f"- (e) second `stresstest run` computing within 2 s: "
            f"**{'met' if startup['to_computing'] < 2 else 'missed'}** (computing starts "
            f"{startup['to_computing']:.2f} s after launch, first chunk done at "
            f"{startup['to_first_chunk']:.2f} s)."
        )
    return lines


def render(
    *,
    quick: bool,
    reports: dict[tuple[int, str], Any],
    cases: list[CaseTiming],
    books: list[BookTiming],
    memory: dict | None,
    startup: dict | None,
    warm_up_seconds: float,
    wall: float,
    load: tuple[float, float],
) -> str:
    """The markdown that goes between the engine markers."""
    command = "python benchmarks/bench_engine.py" + (" --quick" if quick else "") + " --write"
    today = datetime.date.today().isoformat()
    out = [
        "## Engine: verified, then timed",
        "",
        f"Measured {today} on: {machine_description()}",
        f"Command: `{command}` (whole run {wall / 60:.1f} min; kernel warm-up "
        f"{warm_up_seconds:.1f} s, excluded from every timing).",
        "",
        "Cases: synthetic book of scenarios/default.toml (half long, leverage log-uniform "
        "1-50x, lognormal notional median 10,000 USDT, sigma 1.5, entry dispersion 1%), GBM "
        "s0 30000, sigma 0.006 per step, 720 steps; latency 2, slippage 0.002, fee 0.01, "
        "fund 5e7; margin static 0.005 or vol_scaled (k 3, horizon 24, lambda 0.97, "
        "v0 3.6e-5, floor 0.004, cap 0.25).",
        "",
        "### Parity, checked before anything is timed",
        "",
        f"Engine (`replay_all` on the first K paths) against the dense numba twin (same K "
        f"paths) and the numpy reference `benchmarks/numpy_reference.py` (first J paths): "
        f"`|a - b| <= {PARITY_ATOL_PER_NOTIONAL:g} x book notional + {PARITY_RTOL:g} |b|` for "
        f"quote-unit columns, atol {PARITY_ATOL_FRACTION:g} for `margin_rate_mean`, exact for "
        '`n_liquidations`. "worst" is the largest error / allowed error (1 would fail). A '
        "failure exits non-zero before any timing; each timed engine output is checked again "
        "against its verified rows.",
        "",
        "| positions | margin | K (dense) | worst vs dense | J (numpy) | worst vs numpy "
        "| liquidations / path |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for (n_positions, margin), report in reports.items():
        out.append(
            f"| {n_positions:,} | {margin} | {report.n_dense_paths} | "
            f"{report.worst_vs_dense:.2g} | {report.n_numpy_paths} | "
            f"{report.worst_vs_numpy:.2g} | {report.liquidations_per_path:,.0f} |"
        )
    out += [
        "",
        "### Timings (wall seconds)",
        "",
        "*generation*: GBM chunk generation alone, the same chunks the engine generates (the "
        "floor). *engine*: generation + replay end to end through `replay_all`; the two are "
        "run alternately, 3 to 5 times each (up to 10 while a best run had less than 1.8 "
        "cores), and the best of each is shown. *cpu*: CPU seconds / wall of those best "
        "generation / engine runs (2.00 = both cores busy; less means the run shared the "
        "machine). *dense* and *numpy*: **extrapolated linearly** from K resp. J paths "
        "(parity table) to the case's path count; the dense twin runs on all numba threads, "
        "the numpy reference on one core.",
        "",
        f"Load average (1 min) before / after the timings: {load[0]:.2f} / {load[1]:.2f} "
        "(other jobs shared this 2-core machine while it ran).",
        "",
        "| positions | paths | margin | generation | engine | engine / generation | cpu gen / eng "
        "| dense twin (extrap.) | engine speedup vs dense | numpy ref (extrap.) |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case in cases:
        out.append(
            f"| {case.n_positions:,} | {case.n_paths:,} | {case.margin} | "
            f"{_s(case.generation)} | {_s(case.engine)} | {case.engine_over_generation:.2f}x | "
            f"{case.generation_cpu:.2f} / {case.engine_cpu:.2f} | "
            f"{_s(case.dense)} (from {case.dense_paths}) | {case.speedup_vs_dense:,.0f}x | "
            f"{_s(case.numpy)} (from {case.numpy_paths}) |"
        )
    out += [
        "",
        "Book preparation, once per book and not part of *engine* above:",
        "",
        "| positions | build (synthetic) s | sort + prefix sums s | resident bytes / position |",
        "|---:|---:|---:|---:|",
    ]
    for book in books:
        out.append(
            f"| {book.n_positions:,} | {_s(book.build)} | {_s(book.sort)} | "
            f"{book.bytes_per_position:.1f} |"
        )
    out += ["", "### Targets", "", *targets(cases, memory, startup)]
    if memory:
        out += [
            "",
            f"### Peak memory, {memory['n_positions']:,} positions",
            "",
            f"One run of {memory['n_positions']:,} positions x {memory['n_paths']:,} paths "
            f"({memory['margin']}) alone in a subprocess; peak RSS "
            "(`resource.getrusage(RUSAGE_SELF).ru_maxrss`, monotone) after each phase:",
            "",
            "| after | peak RSS |",
            "|---|---:|",
            *(f"| {phase} | {_gb(value)} |" for phase, value in memory["phases"].items()),
            "",
            "The process is forked from a small interpreter so that its count starts from a "
            "few MB (Linux carries the peak RSS across exec, so a child started by the "
            "benchmark itself would inherit the benchmark's peak). "
            + (
                f"`VmHWM` of the process agrees: {_gb(memory['vm_hwm'])}."
                if memory["vm_hwm"]
                else ""
            ),
            "",
            f"Book arrays {_gb(memory['book_bytes'])}, sorted book "
            f"{_gb(memory['sorted_book_bytes'])}, result matrix "
            f"{memory['metrics_bytes'] / 1e6:.0f} MB; run time {memory['seconds']:.1f} s.",
        ]
    if startup:
        out += [
            "",
            "### Start-up of a second `stresstest run`",
            "",
            "`python -m stresstest run --out TMP --quiet` on scenarios/default.toml (1M "
            "positions x 1,000 paths x 720 steps), twice in subprocesses; the second one loads "
            "the kernels from numba's on-disk cache. A driver then repeats the same pipeline "
            "through the public API with timestamps (process launch = 0):",
            "",
            "| | seconds |",
            "|---|---:|",
            f"| first run, total wall | {startup['first_run']:.2f} |",
            f"| **second run, total wall** (incl. writing the result folder) | "
            f"{startup['second_run']:.2f} |",
            f"| interpreter start-up | {startup['interpreter']:.2f} |",
            f"| imports (stresstest, numpy, numba, polars, typer...) | {startup['imports']:.2f} |",
            f"| scenario + synthetic 1M book + sort | {startup['book']:.2f} |",
            f"| first `replay_all` (kernels loaded from cache + compute) "
            f"| {startup['first_replay']:.2f} |",
            f"| same `replay_all` again (compute only) | {startup['warm_replay']:.2f} |",
            f"| => compile-cache load | {startup['cache_load']:.2f} |",
            f"| **launch -> computing starts** | {startup['to_computing']:.2f} |",
            f"| **launch -> first chunk computed** | {startup['to_first_chunk']:.2f} |",
            "",
            f"Import + compile-cache load: {startup['imports'] + startup['cache_load']:.2f} s.",
        ]
    out += ["", *memory_section(memory)]
    return "\n".join(out)


def memory_section(memory: dict | None) -> list[str]:
    """The memory bound O(N + chunk x T), with byte counts read off the code."""
    budget = int(getattr(engine_run, "CHUNK_BUDGET_VALUES", 8_000_000))
    chunk_paths = chunk_size_for(10**9, N_STEPS)
    lines = [
        "### Memory bound: O(N + chunk x T)",
        "",
        "Per position (N = positions), from stresstest/book/positions.py and "
        "stresstest/book/sorted_book.py:",
        "",
        "| array | bytes / position | lives |",
        "|---|---:|---|",
        "| `Book.side` int8 | 1 | until sorted (`run` keeps only the sorted book and the "
        "book's statistics; this benchmark keeps the book for the dense twin) |",
        "| `Book.qty`, `entry_price`, `collateral` float64 | 24 | until sorted (idem) |",
        "| `SortedBook.*_threshold` float64 | 8 | whole run |",
        "| `SortedBook.*_prefix` (4 columns: q hi/lo, q x threshold hi/lo) float64 "
        "| 32 | whole run |",
        "| **total while both are held** | **65** | |",
        "| `sort_book` temporaries (side mask, c/q; per side: q and threshold gathers, "
        "argsort order int64, sorted copies, q x threshold, prefix-sum outputs) | transient "
        "| during the sort only; the peak (measured below) |",
        "",
        f"Per chunk (T = steps): prices `chunk x (T + 1) x 8` bytes, capped by "
        f"`CHUNK_BUDGET_VALUES = {budget:,}` float64 = {budget * 8 / 1e6:.0f} MB "
        f"({chunk_paths:,} paths at T = {N_STEPS}); per path in flight, two `(T + 1)` float64 "
        f"scratch series (fund flows by step) = {2 * (N_STEPS + 1) * 8 / 1e3:.1f} kB per "
        "thread; the chunk's output rows. Plus the result matrix, "
        f"`paths x {enums.N_METRICS} x 8` = {enums.N_METRICS * 8} bytes per path (O(paths), "
        f"{100_000 * enums.N_METRICS * 8 / 1e6:.1f} MB at 100k paths), and the fixed runtime "
        "(interpreter, numpy, numba/LLVM, polars).",
        "",
        f"So memory = 65 N (40 N once the unsorted book is dropped) + sort temporaries + "
        f"{budget * 8 / 1e6:.0f} MB + {enums.N_METRICS * 8} x paths + runtime, i.e. "
        "O(N + chunk x T): 650 MB of book arrays for 10M positions.",
    ]
    if memory:
        runtime = memory["phases"]["kernels loaded (tiny warm-up)"]
        peak = max(memory["phases"].values())
        lines.append("")
        lines.append(
            f"Measured at {memory['n_positions']:,} positions: runtime {_gb(runtime)}, peak "
            f"{_gb(peak)}, i.e. {(peak - runtime) / memory['n_positions']:.0f} bytes per "
            "position above the runtime at the peak, reached while sorting (the 65 held plus "
            "the sort's temporaries)."
        )
    return lines


def write_section(body: str, path: Path = DOC) -> None:
    """Replace the text between the engine markers; create the file if absent."""
    block = f"{BEGIN}\n{body}\n{END}"
    if path.exists():
        text = path.read_text(encoding="utf-8")
        start, stop = text.find(BEGIN), text.find(END)
        if start != -1 and stop > start:
            text = text[:start] + block + text[stop + len(END) :]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    else:
        text = "\n".join(
            [
                "# Performance",
                "",
                "How fast and how lean stresstest is, measured by benchmarks that verify their",
                "results before they time anything. The engine section below is generated by",
                "`python benchmarks/bench_engine.py --write`; do not edit it by hand.",
                "",
                f"Machine: {machine_description()}",
                "",
                block,
                "",
                "<!-- paths:begin -->",
                "<!-- paths:end -->",
                "",
            ]
        )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k and 1M positions x 1,000 paths")
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    parser.add_argument("--no-extras", action="store_true", help="skip peak-memory and start-up")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    positions = QUICK_POSITIONS if args.quick else FULL_POSITIONS
    paths = QUICK_PATHS if args.quick else FULL_PATHS
    warm = warm_up()
    say(f"warm-up (compile or cache load): {warm:.1f} s")
    try:
        reports = verify_all(positions, paths)
    except ParityError as error:
        say(f"PARITY FAILED, nothing timed: {error}")
        return 1
    load_before = os.getloadavg()[0]
    try:
        cases, books = time_all(positions, paths, reports)
    except ParityError as error:
        say(f"TIMED OUTPUT FAILED ITS CHECK: {error}")
        return 1
    load = (load_before, os.getloadavg()[0])
    memory = startup = None
    if not args.no_extras:
        memory = measure_memory(1_000 if args.quick else max(FULL_PATHS))
        say(f"peak RSS, 10M positions: {_gb(max(memory['phases'].values()))}")
        startup = measure_startup()
        say(
            f"second run {startup['second_run']:.2f} s; computing after "
            f"{startup['to_computing']:.2f} s"
        )
    body = render(
        quick=args.quick,
        reports=reports,
        cases=cases,
        books=books,
        memory=memory,
        startup=startup,
        warm_up_seconds=warm,
        load=load,
        wall=time.perf_counter() - began,
    )
    print(body)
    if args.write:
        write_section(body)
        say(f"wrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
