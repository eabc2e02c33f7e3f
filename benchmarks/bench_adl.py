"""Ranked ADL with an empty fund against the core engine: verify, then time (issue 15).

    python benchmarks/bench_adl.py [--paths P] [--positions N] [--save-rows F] [--expect-rows F]

1,000,000 positions (synthetic book up to 50x) over seeded GBM paths of 720 steps
(sigma 1% per step) with the insurance fund at 0, so every step with bad debt is
an ADL event on every path; ADL alone in the stage pipeline (``profit_leverage``
and ``hyperliquid``), and the core kernel on the same paths.

1. Checks before any timing:
   a. on a sub-book (``PARITY_POSITIONS`` positions x ``PARITY_PATHS`` paths) the
      ``profit_leverage`` pipeline against the plain reference
      ``tests/reference_partial_adl.py`` (rtol 1e-9);
   b. every timed path deleverages (ADL count > 0), so the timing is of ADL;
   c. with ``--expect-rows F`` the timed rows equal, byte for byte, rows saved
      by ``--save-rows F`` from another build (the previous algorithm), on the
      same inputs; ``--save-rows`` writes this build's rows.
2. Timings: best of 3 after a warm-up, kernel time only (paths generated and the
   book sorted before; ADL's index is built inside each call, so it is timed).

``--smoke`` runs 20,000 positions x 4 paths. Prints a markdown block; with
``--write`` replaces the text between ``<!-- adl:begin -->`` and ``<!-- adl:end -->``
in docs/performance.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.bench_defences import (  # noqa: E402
    LIQUIDATION,
    LIQUIDATION_VECTOR,
    MARGIN,
    NO_GRID,
    inputs,
    subset,
)
from benchmarks.harness import cli, parity  # noqa: E402
from benchmarks.harness.machine import machine_description  # noqa: E402
from benchmarks.harness.markdown import table  # noqa: E402
from benchmarks.harness.timing import best_of  # noqa: E402
from stresstest.book import Book, sort_book  # noqa: E402
from stresstest.engine.defences import sorted_positions  # noqa: E402
from stresstest.engine.mechanics import neutral_vector  # noqa: E402
from stresstest.engine.run import margin_arguments  # noqa: E402
from stresstest.kernels import enums  # noqa: E402
from stresstest.kernels.enums import N_GRID  # noqa: E402
from stresstest.kernels.pipeline import pipeline_paths  # noqa: E402
from stresstest.kernels.replay import replay_paths  # noqa: E402
from tests.reference_partial_adl import reference_adl  # noqa: E402

SECTION = "adl"
POLICIES = ("profit_leverage", "hyperliquid")
PARITY_POSITIONS, PARITY_PATHS = 200, 3
PARITY_FUND = 100.0  # small, so that the fund empties in the parity check
ADL_COLUMNS = [*range(enums.N_METRICS), enums.ADL_NOTIONAL, enums.ADL_COUNT]
SMOKE_CASE = (20_000, 4)


def prepare(book: Book) -> tuple[np.ndarray, ...]:
    """The sorted sides the kernels take: threshold, prefix and ``(q, e, c)`` rows of each."""
    sorted_book = sort_book(book)
    long_positions, short_positions = sorted_positions(book)
    return (
        sorted_book.long_threshold,
        sorted_book.long_prefix,
        long_positions,
        sorted_book.short_threshold,
        sorted_book.short_prefix,
        short_positions,
    )


def core_kernel(prices: np.ndarray, sides: tuple[np.ndarray, ...]) -> np.ndarray:
    """The core kernel (docs/model.md 4.1) on prepared sides, per-path metrics."""
    out = np.zeros((prices.shape[0], enums.N_METRICS))
    replay_paths(
        prices,
        margin_arguments(MARGIN),
        LIQUIDATION_VECTOR,
        sides[0],
        sides[1],
        sides[3],
        sides[4],
        0.0,
        NO_GRID,
        out,
        np.empty((prices.shape[0], N_GRID, 0)),
    )
    return out


def adl_kernel(
    prices: np.ndarray, sides: tuple[np.ndarray, ...], policy: str, fund: float
) -> np.ndarray:
    """ADL alone in the stage pipeline on prepared sides, rows ``(paths, N_METRICS_ADL)``."""
    out = np.zeros((prices.shape[0], enums.N_METRICS_ADL))
    pipeline_paths(
        prices,
        margin_arguments(MARGIN),
        LIQUIDATION_VECTOR,
        neutral_vector(adl=policy),
        *sides,
        fund,
        NO_GRID,
        out,
        np.empty((prices.shape[0], N_GRID, 0)),
    )
    return out


def adl(prices: np.ndarray, book: Book, policy: str, fund: float) -> np.ndarray:
    """ADL alone in the stage pipeline, rows ``(paths, N_METRICS_ADL)``."""
    return adl_kernel(prices, prepare(book), policy, fund)


def check_parity(prices: np.ndarray, book: Book) -> str:
    """``profit_leverage`` against the plain reference on a sub-book; raises ``ParityError``."""
    small = subset(book, PARITY_POSITIONS)
    few = np.ascontiguousarray(prices[:PARITY_PATHS])
    scale = float(np.sum(small.qty) * np.max(few))
    margin = {"model": "static", "maintenance": MARGIN.maintenance}
    arguments = (few, small.side, small.qty, small.entry_price, small.collateral, margin)
    expected, _ = reference_adl(*arguments, *LIQUIDATION, PARITY_FUND)
    actual = adl(few, small, "profit_leverage", PARITY_FUND)
    parity.compare(
        actual[:, ADL_COLUMNS],
        expected[:, ADL_COLUMNS],
        notional=scale + PARITY_FUND,
        what="adl",
        names=[parity.ALL_COLUMN_NAMES[column] for column in ADL_COLUMNS],
    )
    parity.require(bool(actual[:, enums.ADL_COUNT].max() > 0), "adl: nothing deleveraged")
    return (
        f"{PARITY_POSITIONS} positions x {PARITY_PATHS} paths: "
        f"{int(actual[:, enums.ADL_COUNT].sum())} deleveraged positions within rtol "
        f"{parity.PARITY_RTOL:g} of the plain reference"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The case's size and the row files."""
    parser.add_argument("--positions", type=int, default=1_000_000)
    parser.add_argument("--paths", type=int, default=100)
    parser.add_argument("--steps", type=int, default=720)
    parser.add_argument("--save-rows", type=Path, default=None)
    parser.add_argument("--expect-rows", type=Path, default=None)


def run(options: argparse.Namespace) -> str:
    """Check, then time; the adl section."""
    if options.smoke:
        options.positions, options.paths = SMOKE_CASE
    prices, book = inputs(options.positions, options.paths, options.steps)
    parity_text = check_parity(prices, book)
    cli.say(f"parity: {parity_text}")
    sides = prepare(book)
    rows = {policy: adl_kernel(prices, sides, policy, 0.0) for policy in POLICIES}
    for policy, values in rows.items():
        parity.require(bool(values[:, enums.ADL_COUNT].min() > 0), f"{policy}: a path without ADL")
    stacked = np.stack([rows[policy] for policy in POLICIES])
    if options.save_rows is not None:
        np.save(options.save_rows, stacked)
    same = "not compared with another build"
    if options.expect_rows is not None:
        expected = np.load(options.expect_rows)
        parity.require(
            expected.shape == stacked.shape and expected.tobytes() == stacked.tobytes(),
            f"rows differ from {options.expect_rows}",
        )
        same = f"byte-identical to the rows of {options.expect_rows.name}"
    cli.say(f"rows: {same}")
    core_kernel(prices, sides)  # warm-up (the ADL kernels ran above)
    timed = {"core": best_of(lambda: core_kernel(prices, sides), runs=3).seconds}
    for policy in POLICIES:
        timed[policy] = best_of(
            lambda policy=policy: adl_kernel(prices, sides, policy, 0.0), runs=3
        ).seconds
    size = f"{options.positions:,} positions x {options.paths:,} paths x {options.steps} steps"
    deleveraged = {p: float(rows[p][:, enums.ADL_COUNT].mean()) for p in POLICIES}
    command = "python benchmarks/bench_adl.py " + " ".join(sys.argv[1:])
    return "\n".join(
        [
            "## Ranked ADL with an empty fund (issue 15)",
            "",
            f"Written by `{command}` ({machine_description().rstrip('.')}). {size}, seeded "
            "GBM (sigma 1% per step), synthetic book up to 50x, static m = 0.005, latency 2, "
            "slippage 0.002, fee 0.01, insurance fund 0 (every step with bad debt is an ADL "
            "event); kernel time only, best of 3 after a warm-up. Checked first: "
            + parity_text
            + f"; every path deleverages; rows {same}.",
            "",
            *table(
                [
                    ("kernel", "l"),
                    ("seconds", "l"),
                    ("per path, ms", "l"),
                    ("x core", "l"),
                    ("deleveraged per path", "l"),
                ],
                [
                    [
                        name,
                        f"{timed[key]:.3f}",
                        f"{1e3 * timed[key] / options.paths:.3f}",
                        f"{timed[key] / timed['core']:.1f}",
                        f"{deleveraged[key]:,.0f}" if key in deleveraged else "-",
                    ]
                    for name, key in [("core (§4.1)", "core")]
                    + [(f"ADL {p} (§10.2)", p) for p in POLICIES]
                ],
            ),
        ]
    )


FAMILY = cli.Family(SECTION, __doc__, run, add_arguments=add_arguments)
main = cli.main_function(FAMILY)

if __name__ == "__main__":
    sys.exit(main())
