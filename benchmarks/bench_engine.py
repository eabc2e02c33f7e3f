"""Engine benchmark that verifies before it times.

    python benchmarks/bench_engine.py [--quick | --smoke] [--write]

1. Parity, for every (book size, margin model) of the grid, before anything is
   timed (benchmarks/engine_cases.py): the engine's per-path metrics must match
   the dense numba twin and the independent numpy reference of docs/model.md.
   Any mismatch exits non-zero, nothing timed.
2. Timings, in this one process, after a warm-up that compiles (or loads from
   numba's cache) every kernel: GBM path generation alone (the same chunks the
   engine generates: the floor no engine can beat), the engine end to end
   (generation + replay through ``replay_all``), the dense twin and the numpy
   reference (on the parity subset, extrapolated linearly to the case's paths).
   The timed engine output is checked again against the verified rows.

``--quick`` runs 10k and 1M positions x 1,000 paths; ``--smoke`` 2,000 positions
x 8 paths. ``--write`` replaces the text between ``<!-- engine:begin -->`` and
``<!-- engine:end -->`` in docs/performance.md and touches nothing else. Peak
memory and start-up are measured by benchmarks/bench_memory.py and
benchmarks/bench_startup.py, each into its own section.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numba  # noqa: E402

from benchmarks.engine_cases import (  # noqa: E402
    MARGINS,
    ParityReport,
    array_bytes,
    check_parity,
    check_timed_output,
    dense_metrics,
    engine_metrics,
    generate_only,
    make_scenario,
    numpy_metrics,
    warm_up,
)
from benchmarks.harness import cli, parity  # noqa: E402
from benchmarks.harness.machine import load_average, machine_description  # noqa: E402
from benchmarks.harness.markdown import seconds as _s  # noqa: E402
from benchmarks.harness.markdown import table  # noqa: E402
from benchmarks.harness.timing import best_within, interleaved_times  # noqa: E402
from stresstest.book import sort_book  # noqa: E402
from stresstest.engine.run import build_book  # noqa: E402
from stresstest.paths.gbm import GbmPathSource  # noqa: E402

SECTION = "engine"
FULL_POSITIONS = (10_000, 1_000_000, 10_000_000)
FULL_PATHS = (1_000, 10_000, 100_000)
QUICK_POSITIONS = (10_000, 1_000_000)
QUICK_PATHS = (1_000,)
SMOKE_POSITIONS = (2_000,)
SMOKE_PATHS = (8,)
#: Cores a best run must have had (CPU share) for its ratio to count in target (c).
UNCONTENDED_CORES = 1.8


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
    """Seconds to build and sort one book, and the bytes it holds per position."""

    n_positions: int
    build: float
    sort: float
    bytes_per_position: float


def verify_all(positions: Sequence[int], paths: Sequence[int]) -> dict[tuple[int, str], Any]:
    """Parity for every (positions, margin) of the grid; raises ``ParityError``."""
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
            cli.say(
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
    n_positions: int, paths: Sequence[int], reports: dict[tuple[int, str], ParityReport]
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
        dense_seconds = best_within(
            lambda subset=subset, prices=prices: dense_metrics(subset, book, prices),
            budget=3.0,
            max_runs=3,
        ).seconds
        numpy_seconds = best_within(
            lambda subset=subset, prices=prices[:j]: numpy_metrics(subset, book, prices),
            budget=3.0,
            max_runs=3,
        ).seconds
        for n_paths in paths:
            scenario = make_scenario(n_positions, n_paths, margin)
            generation, engine = interleaved_times(
                [
                    lambda scenario=scenario: generate_only(scenario),
                    lambda scenario=scenario: engine_metrics(scenario, sorted_book),
                ],
                busy=UNCONTENDED_CORES,
            )
            label = f"{n_positions:,} x {n_paths:,} {margin}"
            check_timed_output(engine.result, report, book, label)
            case = CaseTiming(
                n_positions=n_positions,
                n_paths=n_paths,
                margin=margin,
                generation=generation.seconds,
                generation_cpu=generation.cpu_share,
                engine=engine.seconds,
                engine_cpu=engine.cpu_share,
                dense=dense_seconds / k * n_paths,
                dense_paths=k,
                numpy=numpy_seconds / j * n_paths,
                numpy_paths=j,
            )
            cases.append(case)
            cli.say(
                f"{n_positions:>10,} x {n_paths:>7,} {margin:<10}: generation "
                f"{case.generation:7.3f} s (cpu {case.generation_cpu:.2f}), engine "
                f"{case.engine:7.3f} s (cpu {case.engine_cpu:.2f}) "
                f"({case.engine_over_generation:.2f}x gen), dense ~{case.dense:,.0f} s "
                f"(speedup {case.speedup_vs_dense:,.0f}x), numpy ~{case.numpy:,.0f} s"
            )
    return book_timing, cases


def targets(cases: list[CaseTiming]) -> list[str]:
    """Lines saying whether targets (a) to (c) are met; (d) and (e) are in their sections."""
    lines = []
    key = [c for c in cases if c.n_positions == 1_000_000 and c.n_paths == 100_000]
    if key:
        slowest = max(c.engine for c in key)
        lines.append(
            f"- (a) 1M x 100k x 720 end to end < 10 s: **{'met' if slowest < 10 else 'missed'}** "
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
        floor = min(UNCONTENDED_CORES, 0.9 * cores)
        clean = [c for c in large if min(c.generation_cpu, c.engine_cpu) >= floor]
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
        lines.append(
            "  (c) was set on 2026-11-24, when generation took 1.29 s of the 2.62 s of the "
            "1M x 100k static case; generation has since moved into SIMD lanes (about 5x per "
            "core, issue 19), so the ratio now divides by a much smaller floor. The replay "
            "alone (engine minus generation) on large books: "
            + ", ".join(
                f"{c.n_positions:,} x {c.n_paths:,} {c.margin} {_s(c.engine - c.generation)} s"
                for c in large
                if c.n_paths == max(x.n_paths for x in large)
            )
            + "."
        )
    return lines


def render(
    *,
    command: str,
    reports: dict[tuple[int, str], ParityReport],
    cases: list[CaseTiming],
    books: list[BookTiming],
    warm_up_seconds: float,
    wall: float,
    load: tuple[float, float],
) -> str:
    """The markdown that goes between the engine markers."""
    out = [
        "## Engine: verified, then timed",
        "",
        f"Measured {datetime.date.today().isoformat()} on: {machine_description()}",
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
        f"`|a - b| <= {parity.PARITY_ATOL_PER_NOTIONAL:g} x book notional + "
        f"{parity.PARITY_RTOL:g} |b|` for quote-unit columns, atol "
        f"{parity.PARITY_ATOL_FRACTION:g} for `margin_rate_mean`, exact for "
        '`n_liquidations`. "worst" is the largest error / allowed error (1 would fail). A '
        "failure exits non-zero before any timing; each timed engine output is checked again "
        "against its verified rows.",
        "",
        *table(
            [
                ("positions", "r"),
                ("margin", "l"),
                ("K (dense)", "r"),
                ("worst vs dense", "r"),
                ("J (numpy)", "r"),
                ("worst vs numpy", "r"),
                ("liquidations / path", "r"),
            ],
            [
                [
                    f"{n_positions:,}",
                    margin,
                    f"{report.n_dense_paths}",
                    f"{report.worst_vs_dense:.2g}",
                    f"{report.n_numpy_paths}",
                    f"{report.worst_vs_numpy:.2g}",
                    f"{report.liquidations_per_path:,.0f}",
                ]
                for (n_positions, margin), report in reports.items()
            ],
        ),
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
        + (
            "(other jobs shared this 2-core machine while it ran)."
            if max(load) > numba.get_num_threads() + 0.5
            else "(no more than the benchmark's own threads: the machine was otherwise quiet)."
        ),
        "",
        *table(
            [
                ("positions", "r"),
                ("paths", "r"),
                ("margin", "l"),
                ("generation", "r"),
                ("engine", "r"),
                ("engine / generation", "r"),
                ("cpu gen / eng", "r"),
                ("dense twin (extrap.)", "r"),
                ("engine speedup vs dense", "r"),
                ("numpy ref (extrap.)", "r"),
            ],
            [
                [
                    f"{case.n_positions:,}",
                    f"{case.n_paths:,}",
                    case.margin,
                    _s(case.generation),
                    _s(case.engine),
                    f"{case.engine_over_generation:.2f}x",
                    f"{case.generation_cpu:.2f} / {case.engine_cpu:.2f}",
                    f"{_s(case.dense)} (from {case.dense_paths})",
                    f"{case.speedup_vs_dense:,.0f}x",
                    f"{_s(case.numpy)} (from {case.numpy_paths})",
                ]
                for case in cases
            ],
        ),
        "",
        "Book preparation, once per book and not part of *engine* above:",
        "",
        *table(
            [
                ("positions", "r"),
                ("build (synthetic) s", "r"),
                ("sort + prefix sums s", "r"),
                ("resident bytes / position", "r"),
            ],
            [
                [
                    f"{book.n_positions:,}",
                    _s(book.build),
                    _s(book.sort),
                    f"{book.bytes_per_position:.1f}",
                ]
                for book in books
            ],
        ),
        "",
        "### Targets",
        "",
        *targets(cases),
    ]
    return "\n".join(out)


def run(options: argparse.Namespace) -> str:
    """Verify every case, then time it; the engine section's markdown."""
    began = time.perf_counter()
    positions: Sequence[int]
    paths: Sequence[int]
    if options.smoke:
        positions, paths, flag = SMOKE_POSITIONS, SMOKE_PATHS, " --smoke"
    elif options.quick:
        positions, paths, flag = QUICK_POSITIONS, QUICK_PATHS, " --quick"
    else:
        positions, paths, flag = FULL_POSITIONS, FULL_PATHS, ""
    warm = warm_up()
    cli.say(f"warm-up (compile or cache load): {warm:.1f} s")
    reports = verify_all(positions, paths)
    load_before = load_average()
    cases, books = time_all(positions, paths, reports)
    return render(
        command=f"python benchmarks/bench_engine.py{flag}" + ("" if options.smoke else " --write"),
        reports=reports,
        cases=cases,
        books=books,
        warm_up_seconds=warm,
        load=(load_before, load_average()),
        wall=time.perf_counter() - began,
    )


FAMILY = cli.Family(SECTION, __doc__, run, quick="10k and 1M positions x 1,000 paths")
main = cli.main_function(FAMILY)

if __name__ == "__main__":
    sys.exit(main())
