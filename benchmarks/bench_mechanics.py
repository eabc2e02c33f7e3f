"""Crash-mechanism benchmark that verifies before it times (docs/model.md 9).

    python benchmarks/bench_mechanics.py [--quick] [--write]

1. Parity, before anything is timed:
   a. the mechanics kernel (through ``replay_all``) against the plain reference
      ``tests/reference_mechanics.py`` on a sub-book (the first ``SUB_POSITIONS``
      positions of the benchmark book) over the first ``SUB_PATHS`` paths of 720
      steps, with every mechanism of the timed case (and a second set with the
      predictive trigger and the vol-scaled penalty): rtol 1e-9, atol 1e-9 x book
      notional (quote columns), 1e-12 (fractions), exact counts and cascade depth;
   b. on the full book, neutral mechanisms (lag 0, impact coefficient 0) against the core
      kernel on ``K`` paths: bit for bit.
   Any mismatch exits non-zero before any timing.
2. Timings (best of 3, after a warm-up): GBM generation alone, the core engine,
   and the engine with an ema oracle and linear depth with permanent impact
   (two replays per path: with and without impact), end to end through
   ``replay_all``, for 1,000,000 positions x 10,000 paths x 720 steps
   (``--quick``: 1,000 paths). The timed output is checked against the verified rows.

``--smoke`` runs the same checks and timings on 20,000 positions (sub-book 300)
x 8 paths. ``--write`` replaces the text between ``<!-- mechanics:begin -->`` and
``<!-- mechanics:end -->`` in docs/performance.md (appending the block if absent).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numba  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.engine_cases import N_STEPS, generate_only, scenario_dict  # noqa: E402
from benchmarks.harness import cli, parity  # noqa: E402
from benchmarks.harness.machine import machine_description  # noqa: E402
from benchmarks.harness.markdown import table  # noqa: E402
from benchmarks.harness.timing import best_of  # noqa: E402
from stresstest.book import Book, sort_book  # noqa: E402
from stresstest.engine.run import build_book, replay_all  # noqa: E402
from stresstest.kernels import enums  # noqa: E402
from stresstest.paths.gbm import GbmPathSource  # noqa: E402
from stresstest.scenario import load_scenario  # noqa: E402
from tests.reference_mechanics import Mechanisms, reference_mechanics  # noqa: E402

SECTION = "mechanics"
SUB_PATHS = 2
NEUTRAL_PATHS = 4
REPEATS = 3
#: Target: the timed case with oracle and depth, wall seconds.
TARGET_SECONDS = 60.0


@dataclasses.dataclass(frozen=True)
class Size:
    """Book positions, timed paths, and positions of the sub-book checked by the reference."""

    positions: int
    paths: int
    sub_positions: int


FULL = Size(1_000_000, 10_000, 1_500)
QUICK = Size(1_000_000, 1_000, 1_500)
SMOKE = Size(20_000, 8, 300)

#: The timed case: an ema oracle and linear depth with half of the impact permanent.
TIMED: dict[str, Any] = {
    "oracle": {"model": "ema", "ema_lambda": 0.5},
    "market": {"impact": "linear", "depth": 2e8, "permanent_fraction": 0.5},
}
#: Checked too (not timed): every mechanism at once.
ALL: dict[str, Any] = {
    "oracle": {
        "model": "lag",
        "lag_steps": 1,
        "manipulation_step": 300,
        "manipulation_size": -0.03,
        "manipulation_steps": 2,
    },
    "market": {
        "impact": "sqrt",
        "coefficient": 0.002,
        "reference_notional": 1e7,
        "permanent_fraction": 0.5,
    },
    "liquidation": {
        "trigger": "predictive",
        "trigger_probability": 0.05,
        "fee_model": "vol_scaled",
        "fee_base": 0.005,
        "fee_k": 1.0,
        "fee_min": 0.005,
        "fee_max": 0.03,
        "vol_ewma_lambda": 0.97,
        "vol_initial_variance": 3.6e-5,
    },
}
#: Mechanisms that change nothing: the result must equal the core kernel's bit for bit.
#: (Zero impact by a zero sqrt coefficient: the scenario limits refuse a depth of 1e300.)
NEUTRAL: dict[str, Any] = {
    "oracle": {"model": "lag", "lag_steps": 0},
    "market": {"impact": "sqrt", "coefficient": 0.0, "permanent_fraction": 1.0},
}


def scenario(size: Size, n_paths: int, extra: dict[str, Any]) -> Any:
    """The engine benchmark's scenario (static margin) with the mechanism tables ``extra``."""
    raw = scenario_dict(size.positions, n_paths, "static")
    for name, values in extra.items():
        raw[name] = {**raw.get(name, {}), **values}
    return load_scenario(raw)


def reference_rows(case: Any, book: Book, prices: np.ndarray) -> np.ndarray:
    """The plain reference (tests/reference_mechanics.py) for the rows of ``prices``."""
    liquidation = {
        name: getattr(case.liquidation, name)
        for name in case.liquidation.__dataclass_fields__  # type: ignore[attr-defined]
    }
    mechanisms = Mechanisms(
        margin={"model": "static", "maintenance": case.margin.maintenance},
        liquidation=liquidation,
        oracle=case.raw.get("oracle"),
        market=case.raw.get("market"),
        fund_initial=case.insurance_fund.initial,
    )
    rows, _ = reference_mechanics(
        prices, book.side, book.qty, book.entry_price, book.collateral, mechanisms
    )
    # The reference writes every stage's columns; without [adl] its ADL columns are 0
    # and the engine's rows end before them (enums.N_METRICS_MARKET wide).
    if np.any(rows[:, enums.N_METRICS_MARKET :]):
        raise parity.ParityError("reference: ADL columns are not 0 without [adl]")
    return rows[:, : enums.N_METRICS_MARKET]


def check_parity(size: Size) -> list[list[str]]:
    """Every check of step 1; returns the parity table's rows. Raises ``ParityError``."""
    rows = []
    base = scenario(size, size.paths, {})
    book = build_book(base, base.paths.s0)
    n_sub = size.sub_positions
    sub = Book(
        side=book.side[:n_sub],
        qty=book.qty[:n_sub],
        entry_price=book.entry_price[:n_sub],
        collateral=book.collateral[:n_sub],
    )
    sub_sorted = sort_book(sub)
    prices = GbmPathSource(base.paths, base.seed).chunk(0, SUB_PATHS)
    notional = float(np.sum(sub.qty * sub.entry_price))
    for label, extra in (("ema oracle + linear depth (timed)", TIMED), ("all four", ALL)):
        # Depth scaled to the sub-book's size so that impact and cascades happen in it.
        extra = {**extra, "market": dict(extra["market"])}
        if "depth" in extra["market"]:
            extra["market"]["depth"] = extra["market"]["depth"] * n_sub / size.positions
        else:
            extra["market"]["reference_notional"] *= n_sub / size.positions
        case = scenario(size, SUB_PATHS, extra)
        engine = replay_all(case, GbmPathSource(case.paths, case.seed), sub_sorted)
        started = time.perf_counter()
        expected = reference_rows(case, sub, prices)
        seconds = time.perf_counter() - started
        worst = parity.compare(
            engine, expected, notional=notional, what=label, tolerance=parity.MECHANICS
        )
        rows.append(
            [
                label,
                f"reference, {n_sub:,} positions x {SUB_PATHS} paths",
                f"{worst:.2g}",
                f"{engine[:, enums.N_LIQUIDATIONS].mean():,.0f}",
                f"{int(engine[:, enums.CASCADE_DEPTH].max())}",
                f"{seconds:.0f} s",
            ]
        )
    full_sorted = sort_book(book)
    neutral = scenario(size, NEUTRAL_PATHS, NEUTRAL)
    core = scenario(size, NEUTRAL_PATHS, {})
    source = GbmPathSource(core.paths, core.seed)
    with_neutral = replay_all(neutral, source, full_sorted)
    without = replay_all(core, source, full_sorted)
    parity.require_identical(
        with_neutral[:, : enums.N_METRICS], without, what="neutral mechanisms vs the core kernel"
    )
    rows.append(
        [
            "neutral (lag 0, impact coefficient 0)",
            f"core kernel, {size.positions:,} positions x {NEUTRAL_PATHS} paths",
            "bit-identical",
            f"{without[:, enums.N_LIQUIDATIONS].mean():,.0f}",
            "0",
            "-",
        ]
    )
    return rows


def timings(size: Size) -> list[list[str]]:
    """Step 2: generation, core engine, engine with oracle + depth; the timing table's rows."""
    core = scenario(size, size.paths, {})
    timed = scenario(size, size.paths, TIMED)
    book = sort_book(build_book(core, core.paths.s0))
    source = GbmPathSource(core.paths, core.seed)
    # Warm-up: compile or load every kernel.
    small = GbmPathSource(scenario(size, 2, {}).paths, core.seed)
    replay_all(scenario(size, 2, TIMED), small, book)
    replay_all(scenario(size, 2, {}), small, book)
    generation = best_of(lambda: generate_only(core), REPEATS).seconds
    engine = best_of(lambda: replay_all(core, source, book), REPEATS).seconds
    mechanics = best_of(lambda: replay_all(timed, source, book), REPEATS)
    rows = mechanics.result
    first = scenario(size, NEUTRAL_PATHS, TIMED)
    verified = replay_all(first, GbmPathSource(first.paths, first.seed), book)
    parity.require_identical(
        rows[:NEUTRAL_PATHS], verified, what="timed output vs a separate run of its first paths"
    )
    return [
        [
            f"{size.positions:,}",
            f"{size.paths:,}",
            f"{N_STEPS}",
            f"{generation:.2f}",
            f"{engine:.2f}",
            f"{mechanics.seconds:.2f}",
            f"{mechanics.seconds / engine:.1f}x",
            f"{rows[:, enums.N_LIQUIDATIONS].mean():,.0f}",
            f"{rows[:, enums.CASCADE_DEPTH].mean():.2f}",
            "met" if mechanics.seconds < TARGET_SECONDS else "NOT met",
        ]
    ]


def render(
    parity_rows: list[list[str]], timing_rows: list[list[str]], command: str, total: float
) -> str:
    """The mechanics section's markdown."""
    return "\n".join(
        [
            "## Crash mechanisms: verified, then timed",
            "",
            f"Measured {datetime.date.today().isoformat()} on: "
            f"{machine_description().rstrip('.')}.",
            f"Command: `{command}` (whole run {total / 60:.1f} min).",
            "",
            "Book and paths of the engine section (synthetic 1M-position book, GBM s0 30000, "
            "sigma 0.006, 720 steps; static margin 0.005, latency 2, slippage 0.002, fee 0.01). "
            'Timed mechanisms: `[oracle] model = "ema", ema_lambda = 0.5` and `[market] impact '
            '= "linear", depth = 2e8, permanent_fraction = 0.5` (each path replayed twice: '
            "without impact for the baseline, then with it).",
            "",
            "### Parity, checked before anything is timed",
            "",
            "The reference is `tests/reference_mechanics.py` (position by position, direct "
            "form, math.fsum); depth and reference notional are scaled by the sub-book's share "
            'of the book. "worst" is the largest error / allowed error (rtol 1e-9, atol 1e-9 x '
            "book notional; counts and cascade depth exact).",
            "",
            *table(
                [
                    ("mechanisms", "l"),
                    ("against", "l"),
                    ("worst", "r"),
                    ("liquidations / path", "r"),
                    ("max cascade depth", "r"),
                    ("reference time", "r"),
                ],
                parity_rows,
            ),
            "",
            f"### Timings (wall seconds, best of {REPEATS}, {numba.get_num_threads()} numba "
            "threads)",
            "",
            *table(
                [
                    ("positions", "r"),
                    ("paths", "r"),
                    ("steps", "r"),
                    ("generation", "r"),
                    ("core engine", "r"),
                    ("with oracle + depth", "r"),
                    ("ratio", "r"),
                    ("liquidations / path", "r"),
                    ("mean cascade depth", "r"),
                    (f"< {TARGET_SECONDS:.0f} s", "l"),
                ],
                timing_rows,
            ),
        ]
    )


def run(options: argparse.Namespace) -> str:
    """Verify, then time; the mechanics section."""
    started = time.perf_counter()
    size = SMOKE if options.smoke else QUICK if options.quick else FULL
    cli.say(f"numba threads: {numba.get_num_threads()}")
    parity_rows = check_parity(size)
    cli.say("\n".join(" | ".join(row) for row in parity_rows))
    timing_rows = timings(size)
    flag = " --smoke" if options.smoke else " --quick" if options.quick else ""
    command = f"python benchmarks/bench_mechanics.py{flag}" + ("" if options.smoke else " --write")
    return render(parity_rows, timing_rows, command, time.perf_counter() - started)


FAMILY = cli.Family(SECTION, __doc__, run, quick="1,000 paths instead of 10,000")
main = cli.main_function(FAMILY)

if __name__ == "__main__":
    sys.exit(main())
