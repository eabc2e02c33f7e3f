"""Partial liquidation and ADL: parity with the plain reference, then timing and an example.

    python benchmarks/bench_defences.py            # check, time, print
    python benchmarks/bench_defences.py --write    # also update docs/performance.md

1. Parity: the kernels against ``tests/reference_partial_adl.py`` on a subset of the
   timed inputs (the first paths, a random sample of the book), every column at the
   tests' tolerances. Nothing is timed if this fails.
2. Timing (seeded): a synthetic book of ``--positions`` positions over ``--paths``
   GBM paths of ``--steps`` steps, core kernel against partial liquidation (and ADL
   over fewer paths), each after a warm-up, best of a few runs, kernel only (paths
   generated before).
3. Example: scenarios/event_2020_03.toml (the 2020-03 crash, 1M positions) with
   and without ``[partial_liquidation]`` and ``[adl]``, as quoted in docs/mechanics.md.

``--write`` replaces the text between ``<!-- defences:begin -->`` and
``<!-- defences:end -->`` in docs/performance.md (appended if absent) and touches
nothing else.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numba  # noqa: E402
import numpy as np  # noqa: E402

from stresstest.book import Book, sort_book  # noqa: E402
from stresstest.book.synthetic import synthetic_book  # noqa: E402
from stresstest.engine import run as engine_run  # noqa: E402
from stresstest.engine.defences import sorted_positions  # noqa: E402
from stresstest.engine.mechanics import neutral_vector  # noqa: E402
from stresstest.engine.run import margin_arguments  # noqa: E402
from stresstest.kernels import enums  # noqa: E402
from stresstest.kernels.fund import N_GRID  # noqa: E402
from stresstest.kernels.pipeline import pipeline_paths  # noqa: E402
from stresstest.kernels.replay import replay_paths  # noqa: E402
from stresstest.paths.gbm import GbmPathSource  # noqa: E402
from stresstest.scenario import load_scenario, schema  # noqa: E402
from tests.reference_partial_adl import reference_adl, reference_partial  # noqa: E402
from tests.tolerances import (  # noqa: E402
    ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL,
    ENGINE_VS_REFERENCE_RTOL,
    assert_close,
)

DOC = REPO / "docs" / "performance.md"
BEGIN = "<!-- defences:begin -->"
END = "<!-- defences:end -->"
SEED = 20261124
MARGIN = schema.StaticMargin(maintenance=0.005)
LIQUIDATION = (2, 0.002, 0.01, 0.5)  # latency steps, slippage, fee, liquidator share
LIQUIDATION_VECTOR = np.asarray(LIQUIDATION, dtype=np.float64)  # as the kernels take it
BUFFER = 0.01  # fraction of notional
FUND = 5e6  # quote units
NO_GRID = np.empty(0, dtype=np.int64)
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


def core(prices: np.ndarray, book: Book) -> np.ndarray:
    sorted_book = sort_book(book)
    out = np.empty((prices.shape[0], enums.N_METRICS))
    replay_paths(
        prices,
        margin_arguments(MARGIN),
        LIQUIDATION_VECTOR,
        sorted_book.long_threshold,
        sorted_book.long_prefix,
        sorted_book.short_threshold,
        sorted_book.short_prefix,
        FUND,
        NO_GRID,
        out,
        np.empty((prices.shape[0], N_GRID, 0)),
    )
    return out


def partial(prices: np.ndarray, book: Book) -> np.ndarray:
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
    sorted_book = sort_book(book)
    long_positions, short_positions = sorted_positions(book)
    out = np.empty((prices.shape[0], enums.N_METRICS_ADL))
    pipeline_paths(
        prices,
        margin_arguments(MARGIN),
        LIQUIDATION_VECTOR,
        neutral_vector(adl="profit_leverage"),  # ADL the only stage of the pipeline
        sorted_book.long_threshold,
        sorted_book.long_prefix,
        long_positions,
        sorted_book.short_threshold,
        sorted_book.short_prefix,
        short_positions,
        fund,
        NO_GRID,
        out,
        np.empty((prices.shape[0], N_GRID, 0)),
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
    """Both kernels against the plain references on a subset; raises AssertionError."""
    small = subset(book, 200)
    few = np.ascontiguousarray(prices[:3])
    scale = float(np.sum(small.qty) * np.max(few))
    margin = {"model": "static", "maintenance": MARGIN.maintenance}
    arguments = (few, small.side, small.qty, small.entry_price, small.collateral, margin)
    expected, _ = reference_partial(*arguments, *LIQUIDATION, FUND, BUFFER)
    actual = partial(few, small)
    assert_close(
        actual,
        expected,
        rtol=ENGINE_VS_REFERENCE_RTOL,
        atol=ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL * (scale + FUND),
        what="partial",
    )
    small_fund = 100.0  # so that the fund empties and ADL happens
    expected_adl, _ = reference_adl(*arguments, *LIQUIDATION, small_fund)
    actual_adl = adl(few, small, small_fund)
    assert_close(
        actual_adl,
        expected_adl,
        rtol=ENGINE_VS_REFERENCE_RTOL,
        atol=ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL * (scale + small_fund),
        what="adl",
    )
    assert actual[:, enums.N_LIQUIDATIONS].min() > 0
    assert actual_adl[:, enums.ADL_COUNT].max() > 0
    return (
        f"200 positions x 3 paths x {prices.shape[1] - 1} steps: partial "
        f"{int(actual[:, enums.N_LIQUIDATIONS].sum())} closes, ADL "
        f"{int(actual_adl[:, enums.ADL_COUNT].sum())} deleveraged positions; every column "
        f"within rtol {ENGINE_VS_REFERENCE_RTOL:g} (+ atol "
        f"{ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL:g} x notional)"
    )


def best_time(function: Callable[[], Any], runs: int = 3) -> float:
    """Best wall time of ``runs`` calls, seconds (after one untimed warm-up call)."""
    function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=1_000_000)
    parser.add_argument("--paths", type=int, default=1_000)
    parser.add_argument("--steps", type=int, default=720)
    parser.add_argument("--adl-paths", type=int, default=100)
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    options = parser.parse_args()
    prices, book = inputs(options.positions, options.paths, options.steps)
    parity = check_parity(prices, book)
    print("parity:", parity)
    tiny_prices, tiny_book = inputs(1000, 2, 10)
    for kernel in (core, partial, adl):
        kernel(tiny_prices, tiny_book)  # compile or load from cache
    t_core = best_time(lambda: core(prices, book))
    t_partial = best_time(lambda: partial(prices, book))
    few = np.ascontiguousarray(prices[: options.adl_paths])
    t_adl = best_time(lambda: adl(few, book, 0.0), runs=1)
    liquidations = partial(prices, book)[:, enums.N_LIQUIDATIONS].mean()
    adl_events = adl(few, book, 0.0)[:, enums.ADL_COUNT].mean()
    size = f"{options.positions:,} positions x {options.steps} steps"
    lines = [
        BEGIN,
        "## Partial liquidation and ADL",
        "",
        "Written by `python benchmarks/bench_defences.py --write` "
        f"({platform.processor() or platform.machine()}, {numba.get_num_threads()} numba "
        "threads). Seeded GBM paths (sigma 1% per step), synthetic book up to 50x, static "
        "m = 0.005, latency 2, slippage 0.002, fee 0.01, buffer 0.01; kernel time only (paths "
        "generated before), best of 3 after a warm-up. Parity first, on a subset: " + parity + ".",
        "",
        "| kernel | paths | seconds | per path, ms |",
        "|---|---|---|---|",
        f"| core (§4.1), {size} | {options.paths:,} | {t_core:.2f} | "
        f"{1e3 * t_core / options.paths:.2f} |",
        f"| partial liquidation (§10.1), {size} | {options.paths:,} | {t_partial:.2f} | "
        f"{1e3 * t_partial / options.paths:.2f} |",
        f"| ADL (§10.2), fund 0, {size} | {options.adl_paths:,} | {t_adl:.2f} | "
        f"{1e3 * t_adl / options.adl_paths:.2f} |",
        "",
        f"Partial liquidation: {liquidations:,.0f} closes per path on average. ADL with an "
        f"empty fund: {adl_events:,.0f} deleveraged positions per path; every step with bad "
        "debt is an ADL event, and each scans the open side (O(N) per selection round), "
        "which dominates its time.",
        END,
    ]
    print("\n".join(lines))
    rows = example()
    print(
        "| run | closes | liquidated notional | bad debt | fees to fund | socialized loss "
        "| ADL notional | ADL count |"
    )
    print("\n".join(rows))
    if options.write:
        text = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        block = "\n".join(lines)
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            text = head + block + rest.split(END, 1)[1]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
        DOC.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
