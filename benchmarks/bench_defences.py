"""Partial liquidation and ADL: parity with the plain reference, then timing and an example.

    python benchmarks/bench_defences.py            # check, time, print
    python benchmarks/bench_defences.py --write    # also update docs/performance.md
    python benchmarks/bench_defences.py --smoke    # check and time a tiny case only

1. Parity: the kernels against ``tests/reference_partial_adl.py`` on a subset of the
   timed inputs (the first paths, a random sample of the book), every column at the
   tests' tolerances. Nothing is timed if this fails.
2. Timing (seeded): a synthetic book of ``--positions`` positions over ``--paths``
   GBM paths of ``--steps`` steps, core kernel against partial liquidation (and ADL
   over fewer paths), each after a warm-up, best of a few runs, kernel only (paths
   generated before).
3. Example: scenarios/event_2020_03.toml (the 2020-03 crash, 1M positions) with
   and without ``[partial_liquidation]`` and ``[adl]``, as quoted in docs/mechanics.md.

``--smoke`` runs 2,000 positions x 8 paths x 100 steps (ADL on 4) and skips the
example. ``--write`` replaces the text between ``<!-- defences:begin -->`` and
``<!-- defences:end -->`` in docs/performance.md (appended if absent) and touches
nothing else.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.harness import cli, parity  # noqa: E402
from benchmarks.harness.machine import machine_description  # noqa: E402
from benchmarks.harness.markdown import table  # noqa: E402
from benchmarks.harness.timing import best_of  # noqa: E402
from stresstest.book import Book, sort_book  # noqa: E402
from stresstest.book.synthetic import synthetic_book  # noqa: E402
from stresstest.engine import run as engine_run  # noqa: E402
from stresstest.engine.defences import sorted_positions  # noqa: E402
from stresstest.engine.mechanics import neutral_vector  # noqa: E402
from stresstest.engine.run import margin_arguments  # noqa: E402
from stresstest.kernels import enums  # noqa: E402
from stresstest.kernels.enums import N_GRID  # noqa: E402
from stresstest.kernels.pipeline import pipeline_paths  # noqa: E402
from stresstest.kernels.replay import replay_paths  # noqa: E402
from stresstest.paths.gbm import GbmPathSource  # noqa: E402
from stresstest.scenario import load_scenario, schema  # noqa: E402
from tests.reference_partial_adl import reference_adl, reference_partial  # noqa: E402

SECTION = "defences"
SEED = 20261124
MARGIN = schema.StaticMargin(maintenance=0.005)
LIQUIDATION = (2, 0.002, 0.01, 0.5)  # latency steps, slippage, fee, liquidator share
LIQUIDATION_VECTOR = np.asarray(LIQUIDATION, dtype=np.float64)  # as the kernels take it
BUFFER = 0.01  # fraction of notional
FUND = 5e6  # quote units
NO_GRID = np.empty(0, dtype=np.int64)
#: Positions and paths of the parity subset (paths of the timed length).
PARITY_POSITIONS, PARITY_PATHS = 200, 3
#: Fund of the ADL parity check, quote units: small, so that the fund empties and ADL happens.
ADL_PARITY_FUND = 100.0
#: The columns the ADL kernel writes: the core metrics and the ADL ones. The [market]
#: columns between them are left as allocated (np.empty), so they are not compared.
ADL_COLUMNS = [*range(enums.N_METRICS), enums.ADL_NOTIONAL, enums.ADL_COUNT]
#: ``--smoke``: positions, paths, steps, ADL paths.
SMOKE_CASE = (2_000, 8, 100, 4)
NO_POSITIONS = np.empty((3, 0))  # the positions only ADL ranks


def inputs(n_positions: int, n_paths: int, n_steps: int) -> tuple[np.ndarray, Book]:
    """Seeded GBM prices (sigma 1% per step) and a synthetic book up to 50x."""
    source = GbmPathSource(
        schema.GbmPaths(s0=100.0, sigma=0.01, n_paths=n_paths, n_steps=n_steps), SEED
    )
    book = synthetic_book(
        schema.SyntheticBook(n_positions=n_positions, leverage_max=50.0, entry_dispersion=0.01),
        SEED,
        source.start_price(),
    )
    return source.chunk(0, n_paths), book


def _sides(book: Book) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The sorted book's long threshold and prefix, then the short ones."""
    sorted_book = sort_book(book)
    return (
        sorted_book.long_threshold,
        sorted_book.long_prefix,
        sorted_book.short_threshold,
        sorted_book.short_prefix,
    )


def _outputs(prices: np.ndarray, width: int) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """The metric rows ``(paths, width)`` and the kernels' last arguments (no fund grid)."""
    out = np.empty((prices.shape[0], width))
    return out, (NO_GRID, out, np.empty((prices.shape[0], N_GRID, 0)))


def core(prices: np.ndarray, book: Book) -> np.ndarray:
    """The core kernel (docs/model.md 4.1), per-path metrics."""
    out, tail = _outputs(prices, enums.N_METRICS)
    replay_paths(prices, margin_arguments(MARGIN), LIQUIDATION_VECTOR, *_sides(book), FUND, *tail)
    return out


def partial(prices: np.ndarray, book: Book) -> np.ndarray:
    """Partial liquidation alone in the stage pipeline (docs/model.md 10.1), per-path metrics."""
    sorted_book = sort_book(book)
    out = np.empty((prices.shape[0], enums.N_METRICS_ALL))
    pipeline_paths(
        prices,
        margin_arguments(MARGIN),
        LIQUIDATION_VECTOR,
        neutral_vector(buffer=BUFFER),  # partial liquidation the only stage of the pipeline
        sorted_book.long_threshold,
        sorted_book.long_prefix,
        NO_POSITIONS,
        sorted_book.short_threshold,
        sorted_book.short_prefix,
        NO_POSITIONS,
        FUND,
        NO_GRID,
        out,
        np.empty((prices.shape[0], N_GRID, 0)),
    )
    return out[:, : enums.N_METRICS]


def adl(prices: np.ndarray, book: Book, fund: float = FUND) -> np.ndarray:
    """ADL alone in the stage pipeline (docs/model.md 10.2), fund ``fund`` (quote units)."""
    long_threshold, long_prefix, short_threshold, short_prefix = _sides(book)
    long_positions, short_positions = sorted_positions(book)
    out, tail = _outputs(prices, enums.N_METRICS_ADL)
    pipeline_paths(
        prices,
        margin_arguments(MARGIN),
        LIQUIDATION_VECTOR,
        neutral_vector(adl="profit_leverage"),  # ADL the only stage of the pipeline
        long_threshold,
        long_prefix,
        long_positions,
        short_threshold,
        short_prefix,
        short_positions,
        fund,
        *tail,
    )
    return out


def subset(book: Book, size: int) -> Book:
    """A seeded random sample of the book's positions."""
    chosen = np.sort(np.random.default_rng(SEED).choice(len(book), size, replace=False))
    return Book(
        side=book.side[chosen],
        qty=book.qty[chosen],
        entry_price=book.entry_price[chosen],
        collateral=book.collateral[chosen],
    )


def check_parity(prices: np.ndarray, book: Book) -> str:
    """Both kernels against the plain references on a subset; raises ``ParityError``."""
    small = subset(book, PARITY_POSITIONS)
    few = np.ascontiguousarray(prices[:PARITY_PATHS])
    scale = float(np.sum(small.qty) * np.max(few))
    margin = {"model": "static", "maintenance": MARGIN.maintenance}
    arguments = (few, small.side, small.qty, small.entry_price, small.collateral, margin)
    expected, _ = reference_partial(*arguments, *LIQUIDATION, FUND, BUFFER)
    actual = partial(few, small)
    parity.compare(actual, expected, notional=scale + FUND, what="partial")
    expected_adl, _ = reference_adl(*arguments, *LIQUIDATION, ADL_PARITY_FUND)
    actual_adl = adl(few, small, ADL_PARITY_FUND)
    parity.compare(
        actual_adl[:, ADL_COLUMNS],
        expected_adl[:, ADL_COLUMNS],
        notional=scale + ADL_PARITY_FUND,
        what="adl",
        names=[parity.ALL_COLUMN_NAMES[column] for column in ADL_COLUMNS],
    )
    parity.require(
        bool(actual[:, enums.N_LIQUIDATIONS].min() > 0),
        "partial: a checked path has no liquidation; the check would be vacuous",
    )
    parity.require(
        bool(actual_adl[:, enums.ADL_COUNT].max() > 0),
        "adl: no position was deleveraged; the check would be vacuous",
    )
    return (
        f"{PARITY_POSITIONS} positions x {PARITY_PATHS} paths x {prices.shape[1] - 1} steps: "
        f"partial {int(actual[:, enums.N_LIQUIDATIONS].sum())} closes, ADL "
        f"{int(actual_adl[:, enums.ADL_COUNT].sum())} deleveraged positions; every column "
        f"within rtol {parity.PARITY_RTOL:g} (+ atol "
        f"{parity.PARITY_ATOL_PER_NOTIONAL:g} x notional)"
    )


def example() -> list[str]:
    """event_2020_03 with and without the defences; markdown table rows."""
    base = load_scenario(REPO / "scenarios" / "event_2020_03.toml")
    rows = []
    for label, overrides in (
        ("core, fund 50M", {}),
        ("partial, buffer 0.01", {"partial_liquidation": {"buffer": BUFFER}}),
        ("core, fund 0", {"insurance_fund.initial": 0.0}),
        ("ADL, fund 0", {"insurance_fund.initial": 0.0, "adl": {}}),
    ):
        result = engine_run(base.with_overrides(overrides))
        value = {name: float(result.column(name)[0]) for name in result.metric_names}
        rows.append(
            f"| {label} | {value['n_liquidations']:,.0f} | "
            f"{value['liquidated_notional'] / 1e6:,.1f} | {value['bad_debt'] / 1e6:,.3f} | "
            f"{value['fees_to_fund'] / 1e6:,.2f} | {value['socialized_loss'] / 1e6:,.3f} | "
            f"{value.get('adl_notional', 0.0) / 1e6:,.2f} | {value.get('adl_count', 0.0):,.0f} |"
        )
    return rows


def render(
    options: argparse.Namespace, parity_text: str, timed: dict[str, float], command: str
) -> str:
    """The defences section's markdown."""
    size = f"{options.positions:,} positions x {options.steps} steps"
    rows = [
        ("core (§4.1)", options.paths, timed["core"]),
        ("partial liquidation (§10.1)", options.paths, timed["partial"]),
        ("ADL (§10.2), fund 0", options.adl_paths, timed["adl"]),
    ]
    return "\n".join(
        [
            "## Partial liquidation and ADL",
            "",
            f"Written by `{command}` ({machine_description().rstrip('.')}). Seeded GBM paths "
            "(sigma 1% per step), synthetic book up to 50x, static m = 0.005, latency 2, "
            "slippage 0.002, fee 0.01, buffer 0.01; kernel time only (paths generated before), "
            "best of 3 after a warm-up. Parity first, on a subset: " + parity_text + ".",
            "",
            *table(
                [("kernel", "l"), ("paths", "l"), ("seconds", "l"), ("per path, ms", "l")],
                [
                    [
                        f"{kernel}, {size}",
                        f"{paths:,}",
                        f"{seconds:.2f}",
                        f"{1e3 * seconds / paths:.2f}",
                    ]
                    for kernel, paths, seconds in rows
                ],
            ),
            "",
            f"Partial liquidation: {timed['liquidations']:,.0f} closes per path on average. ADL "
            f"with an empty fund: {timed['adl_events']:,.0f} deleveraged positions per path; "
            "every step with bad debt is an ADL event; a ranked event costs O(log N) per "
            "deleveraged position (docs/model.md 10.2; see the adl section).",
        ]
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The case's size."""
    parser.add_argument("--positions", type=int, default=1_000_000)
    parser.add_argument("--paths", type=int, default=1_000)
    parser.add_argument("--steps", type=int, default=720)
    parser.add_argument("--adl-paths", type=int, default=100)


def run(options: argparse.Namespace) -> str:
    """Check, time and (unless ``--smoke``) print the example; the defences section."""
    if options.smoke:
        options.positions, options.paths, options.steps, options.adl_paths = SMOKE_CASE
    prices, book = inputs(options.positions, options.paths, options.steps)
    parity_text = check_parity(prices, book)
    cli.say(f"parity: {parity_text}")
    tiny_prices, tiny_book = inputs(1000, 2, 10)
    for kernel in (core, partial, adl):
        kernel(tiny_prices, tiny_book)  # compile or load from cache
    few = np.ascontiguousarray(prices[: options.adl_paths])
    timed = {}
    for name, function, runs in (
        ("core", lambda: core(prices, book), 3),
        ("partial", lambda: partial(prices, book), 3),
        ("adl", lambda: adl(few, book, 0.0), 1),
    ):
        function()  # warm-up on the timed input
        timed[name] = best_of(function, runs=runs).seconds
    timed["liquidations"] = partial(prices, book)[:, enums.N_LIQUIDATIONS].mean()
    timed["adl_events"] = adl(few, book, 0.0)[:, enums.ADL_COUNT].mean()
    if not options.smoke:
        print(
            "| run | closes | liquidated notional | bad debt | fees to fund | socialized loss "
            "| ADL notional | ADL count |"
        )
        print("\n".join(example()), flush=True)
    command = "python benchmarks/bench_defences.py " + ("--smoke" if options.smoke else "--write")
    return render(options, parity_text, timed, command)


FAMILY = cli.Family(SECTION, __doc__, run, add_arguments=add_arguments)
main = cli.main_function(FAMILY)

if __name__ == "__main__":
    sys.exit(main())
