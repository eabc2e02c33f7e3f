"""Every stage on, single asset, against the core engine: verify, then time (issue 15).

    python benchmarks/bench_every_stage.py [--positions N] [--paths P] [--rounds R]

The issue's case: one asset, every stage of the pipeline on (an EMA oracle, linear
price impact with a permanent part, partial liquidation, the backstop vault, and
ADL with an empty insurance fund), on 1,000,000 positions (synthetic book up to
50x) over seeded GBM paths of 720 steps (sigma 1% per step), against the core
kernel (docs/model.md 4.1) on the same paths.

1. Checks before any timing:
   a. on a sub-book (``PARITY_POSITIONS`` positions x ``PARITY_PATHS`` paths) the
      every-stage pipeline against the plain reference
      ``tests/reference_mechanics.py`` (rtol 1e-9), with depth and vault capital
      scaled to the sub-book's notional;
   b. every stage fires on the timed paths: cascades (``cascade_depth > 0``),
      vault takeovers and ADL reductions (on how many paths is reported), and
      turning the oracle or partial liquidation off changes rows.
2. Timings: core, every stage but ADL (the shortfall is socialized), and every
   stage, run in turn ``R`` times (interleaved); the medians are reported, kernel
   time only (paths generated and the book sorted before; the pipeline builds
   ADL's index inside each call, so that is timed).

The issue's size is 10,000 paths; the default here is fewer (the time per path does
not depend on the number of paths, which only amortises each call's set-up), and
the section says how many. ``--smoke`` runs 20,000 positions x 4 paths. Prints a
markdown block; with ``--write`` replaces the text between
``<!-- every_stage:begin -->`` and ``<!-- every_stage:end -->`` in docs/performance.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.bench_adl import core_kernel, prepare  # noqa: E402
from benchmarks.bench_defences import (  # noqa: E402
    BUFFER,
    LIQUIDATION,
    LIQUIDATION_VECTOR,
    MARGIN,
    NO_GRID,
    inputs,
    subset,
)
from benchmarks.harness import cli, parity  # noqa: E402
from benchmarks.harness.machine import load_average, machine_description  # noqa: E402
from benchmarks.harness.markdown import table  # noqa: E402
from stresstest.book import Book  # noqa: E402
from stresstest.engine.mechanics import mechanics_vector  # noqa: E402
from stresstest.engine.run import margin_arguments  # noqa: E402
from stresstest.kernels import enums  # noqa: E402
from stresstest.kernels.enums import N_GRID  # noqa: E402
from stresstest.kernels.pipeline import pipeline_paths  # noqa: E402
from stresstest.scenario import schema  # noqa: E402
from stresstest.scenario.defences import Adl, Backstop, PartialLiquidation  # noqa: E402
from stresstest.scenario.mechanics import Market, Oracle  # noqa: E402
from tests.reference_mechanics import Mechanisms, reference_mechanics  # noqa: E402

SECTION = "every_stage"
PARITY_POSITIONS, PARITY_PATHS = 300, 3
SMOKE_CASE = (20_000, 4)
DEPTH_SHARE = 0.05  # market depth, fraction of the book's notional at entry
CAPITAL_SHARE = 1e-4  # the vault's capital, fraction of the book's notional at entry
HOLD_STEPS = 5  # steps the vault holds a position
ORACLE = {"model": "ema", "ema_lambda": 0.5}
#: Checked columns: core, market, ADL and vault.
COLUMNS = [
    *range(enums.N_METRICS),
    enums.CASCADE_DEPTH,
    enums.IMPACT_BAD_DEBT,
    *range(enums.ADL_NOTIONAL, enums.ADL_GINI + 1),
    *range(enums.BACKSTOP_TAKEOVERS, enums.BACKSTOP_EXHAUSTED + 1),
]

#: Column index -> name.
COLUMN_NAMES = {index: name for name, index in enums.METRIC_INDEX.items()}


def every_stage(book: Book, adl: bool = True) -> Mechanisms:
    """The stages of the case on ``book`` (depth and capital scale with its notional)."""
    notional = float(np.sum(book.qty * book.entry_price))
    liquidation = {
        field.name: field.default
        for field in schema.Liquidation.__dataclass_fields__.values()  # type: ignore[attr-defined]
    }
    latency, slippage, fee, share = LIQUIDATION
    liquidation.update(latency_steps=latency, slippage=slippage, fee=fee, liquidator_share=share)
    return Mechanisms(
        margin={"model": "static", "maintenance": MARGIN.maintenance},
        liquidation=liquidation,
        oracle=dict(ORACLE),
        market={
            "impact": "linear",
            "depth": DEPTH_SHARE * notional,
            "permanent_fraction": 0.5,
            "max_impact": 0.3,
        },
        fund_initial=0.0,
        adl={"policy": "profit_leverage"} if adl else None,
        partial={"buffer": BUFFER},
        backstop={
            "capital": CAPITAL_SHARE * notional,
            "takeover_fraction": 2.0 / 3.0,
            "hold_steps": HOLD_STEPS,
        },
    )


def stage_vector(mechanisms: Mechanisms) -> np.ndarray:
    """The kernel's stage vector of ``mechanisms``, through the engine's own builder."""

    def table_of(kind: Any, values: dict[str, Any] | None) -> Any:
        return kind(**values) if values is not None else None

    scenario = SimpleNamespace(
        margin=MARGIN,
        liquidation=schema.Liquidation(**mechanisms.liquidation),
        oracle=table_of(Oracle, mechanisms.oracle),
        market=table_of(Market, mechanisms.market),
        adl=table_of(Adl, mechanisms.adl),
        partial_liquidation=table_of(PartialLiquidation, mechanisms.partial),
        backstop=table_of(Backstop, mechanisms.backstop),
        insurance_fund=schema.InsuranceFund(initial=mechanisms.fund_initial),
    )
    return mechanics_vector(scenario)  # type: ignore[arg-type]


def pipeline(prices: np.ndarray, sides: tuple[np.ndarray, ...], vector: np.ndarray) -> np.ndarray:
    """The stage pipeline with ``vector``, fund 0, rows ``(paths, N_METRICS_ALL)``."""
    out = np.zeros((prices.shape[0], enums.N_METRICS_ALL))
    pipeline_paths(
        prices,
        margin_arguments(MARGIN),
        LIQUIDATION_VECTOR,
        vector,
        *sides,
        0.0,
        NO_GRID,
        out,
        np.empty((prices.shape[0], N_GRID, 0)),
    )
    return out


def check_parity(prices: np.ndarray, book: Book) -> str:
    """Every stage on a sub-book against the plain reference; raises ``ParityError``."""
    small = subset(book, PARITY_POSITIONS)
    few = np.ascontiguousarray(prices[:PARITY_PATHS])
    mechanisms = every_stage(small)
    expected, gap = reference_mechanics(
        few, small.side, small.qty, small.entry_price, small.collateral, mechanisms
    )
    parity.require(gap > 1e-9, f"every stage: a near tie in the parity case (gap {gap:.1e})")
    actual = pipeline(few, prepare(small), stage_vector(mechanisms))
    scale = float(np.sum(small.qty) * np.max(few))
    parity.compare(
        actual[:, COLUMNS],
        expected[:, COLUMNS],
        notional=scale,
        what="every stage",
        names=[COLUMN_NAMES[column] for column in COLUMNS],
    )
    fired = {
        "cascades": int(np.count_nonzero(actual[:, enums.CASCADE_DEPTH])),
        "takeovers": int(actual[:, enums.BACKSTOP_TAKEOVERS].sum()),
        "ADL reductions": int(actual[:, enums.ADL_COUNT].sum()),
    }
    for what, count in fired.items():
        parity.require(count > 0, f"every stage, parity case: no {what}")
    return (
        f"{PARITY_POSITIONS} positions x {PARITY_PATHS} paths within rtol "
        f"{parity.PARITY_RTOL:g} of the plain reference (paths with a cascade "
        f"{fired['cascades']}, takeovers {fired['takeovers']}, ADL reductions "
        f"{fired['ADL reductions']})"
    )


def check_stages_fire(
    prices: np.ndarray, sides: tuple[np.ndarray, ...], mechanisms: Mechanisms, rows: np.ndarray
) -> list[str]:
    """Every stage fires on the timed paths; raises ``ParityError``. Returns the evidence."""
    evidence = []
    for what, column in [
        ("cascade depth", enums.CASCADE_DEPTH),
        ("vault takeovers", enums.BACKSTOP_TAKEOVERS),
        ("ADL reductions", enums.ADL_COUNT),
    ]:
        values = rows[:, column]
        parity.require(bool(values.max() > 0), f"every stage: no {what}")
        evidence.append(
            f"{what} per path {values.mean():,.1f} (on {np.count_nonzero(values)} of "
            f"{values.shape[0]} paths)"
        )
    for what, without in [
        ("oracle", replace(mechanisms, oracle=None)),
        ("partial liquidation", replace(mechanisms, partial=None)),
    ]:
        other = pipeline(prices, sides, stage_vector(without))
        changed = int(np.count_nonzero(np.any(other[:, COLUMNS] != rows[:, COLUMNS], axis=1)))
        parity.require(changed > 0, f"every stage: {what} off changes nothing")
        closes = other[:, enums.N_LIQUIDATIONS].mean()
        evidence.append(
            f"{what} off changes {changed} of {rows.shape[0]} paths (closes per path "
            f"{rows[:, enums.N_LIQUIDATIONS].mean():,.0f} with it, {closes:,.0f} without)"
        )
    return evidence


def median_times(functions: dict[str, Any], rounds: int) -> dict[str, list[float]]:
    """Wall seconds of each function over ``rounds`` rounds, in turn (interleaved)."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - started)
    return times


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The case's size and the number of timed rounds."""
    parser.add_argument("--positions", type=int, default=1_000_000)
    parser.add_argument("--paths", type=int, default=20)
    parser.add_argument("--steps", type=int, default=720)
    parser.add_argument("--rounds", type=int, default=3)


def run(options: argparse.Namespace) -> str:
    """Check, then time; the every_stage section."""
    if options.smoke:
        options.positions, options.paths = SMOKE_CASE
    prices, book = inputs(options.positions, options.paths, options.steps)
    parity_text = check_parity(prices, book)
    cli.say(f"parity: {parity_text}")
    sides = prepare(book)
    mechanisms = every_stage(book)
    vector = stage_vector(mechanisms)
    no_adl = stage_vector(every_stage(book, adl=False))
    rows = pipeline(prices, sides, vector)
    evidence = check_stages_fire(prices, sides, mechanisms, rows)
    cli.say("fired: " + "; ".join(evidence))
    core_kernel(prices, sides)  # warm-up (the pipelines ran above)
    pipeline(prices[:1], sides, no_adl)
    load_before = load_average()
    times = median_times(
        {
            "core": lambda: core_kernel(prices, sides),
            "no_adl": lambda: pipeline(prices, sides, no_adl),
            "every": lambda: pipeline(prices, sides, vector),
        },
        options.rounds,
    )
    load_after = load_average()
    again = pipeline(prices, sides, vector)
    parity.require(again.tobytes() == rows.tobytes(), "every stage: timed rows changed")
    median = {name: statistics.median(values) for name, values in times.items()}
    size = f"{options.positions:,} positions x {options.paths:,} paths x {options.steps} steps"
    command = "python benchmarks/bench_every_stage.py " + " ".join(sys.argv[1:])
    names = [
        ("core (§4.1)", "core"),
        ("every stage but ADL (the shortfall socialized)", "no_adl"),
        ("every stage, ADL profit_leverage with fund 0", "every"),
    ]
    return "\n".join(
        [
            "## Every stage on, single asset (issue 15)",
            "",
            f"Written by `{command}` ({machine_description().rstrip('.')}). {size}, seeded "
            "GBM (sigma 1% per step), synthetic book up to 50x, static m = 0.005, latency 2, "
            "slippage 0.002, fee 0.01; stages: EMA oracle (lambda 0.5), linear impact (depth "
            f"{DEPTH_SHARE:g} x book notional, permanent 0.5, max 0.3), partial liquidation "
            f"(buffer {BUFFER:g}), backstop vault (capital {CAPITAL_SHARE:g} x book notional, "
            f"takeover 2/3, hold {HOLD_STEPS} steps), ADL `profit_leverage` with the insurance "
            "fund at 0. Kernel time only; the three kernels run in turn "
            f"{options.rounds} times and the medians are shown. Load average (1 min) before / "
            f"after the timings: {load_before:.2f} / {load_after:.2f}. Checked first: "
            + parity_text
            + "; on the timed paths: "
            + "; ".join(evidence)
            + ".",
            "",
            *table(
                [
                    ("kernel", "l"),
                    ("median s", "r"),
                    ("per path, ms", "r"),
                    ("x core", "r"),
                    ("runs, s", "l"),
                ],
                [
                    [
                        name,
                        f"{median[key]:.3f}",
                        f"{1e3 * median[key] / options.paths:.2f}",
                        f"{median[key] / median['core']:.1f}",
                        ", ".join(f"{value:.2f}" for value in times[key]),
                    ]
                    for name, key in names
                ],
            ),
        ]
    )


FAMILY = cli.Family(SECTION, __doc__, run, add_arguments=add_arguments)
main = cli.main_function(FAMILY)

if __name__ == "__main__":
    sys.exit(main())
