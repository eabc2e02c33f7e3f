"""Crash-mechanism benchmark that verifies before it times (docs/model.md 9).

    python benchmarks/bench_mechanics.py [--quick] [--write]

1. Parity, before anything is timed:
   a. the mechanics kernel (through ``replay_all``) against the plain reference
      ``tests/reference_mechanics.py`` on a sub-book (the first ``SUB_POSITIONS``
      positions of the benchmark book) over the first ``SUB_PATHS`` paths of 720
      steps, with every mechanism of the timed case (and a second set with the
      predictive trigger and the vol-scaled penalty): rtol 1e-9, atol 1e-9 x book
      notional (quote columns), 1e-12 (fractions), exact counts and cascade depth;
   b. on the full book, neutral mechanisms (lag 0, depth 1e300) against the core
      kernel on ``K`` paths: bit for bit.
   Any mismatch exits non-zero before any timing.
2. Timings (best of 3, after a warm-up): GBM generation alone, the core engine,
   and the engine with an ema oracle and linear depth with permanent impact
   (two replays per path: with and without impact), end to end through
   ``replay_all``, for 1,000,000 positions x 10,000 paths x 720 steps
   (``--quick``: 1,000 paths). The timed output is checked against the verified rows.

``--write`` replaces the text between ``<!-- mechanics:begin -->`` and
``<!-- mechanics:end -->`` in docs/performance.md (appending the block if absent).
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numba  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.bench_engine import machine_description, scenario_dict  # noqa: E402
from stresstest.book import Book, sort_book  # noqa: E402
from stresstest.engine.run import build_book, replay_all  # noqa: E402
from stresstest.kernels import enums  # noqa: E402
from stresstest.paths.gbm import GbmPathSource  # noqa: E402
from stresstest.scenario import load_scenario  # noqa: E402
from tests.reference_mechanics import Mechanisms, reference_mechanics  # noqa: E402

DOC = REPO / "docs" / "performance.md"
BEGIN = "<!-- mechanics:begin -->"
END = "<!-- mechanics:end -->"

N_POSITIONS = 1_000_000
FULL_PATHS = 10_000
QUICK_PATHS = 1_000
SUB_POSITIONS = 1_500
SUB_PATHS = 2
NEUTRAL_PATHS = 4
REPEATS = 3
PARITY_RTOL = 1e-9
PARITY_ATOL_PER_NOTIONAL = 1e-9
PARITY_ATOL_FRACTION = 1e-12

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
NEUTRAL: dict[str, Any] = {
    "oracle": {"model": "lag", "lag_steps": 0},
    "market": {"impact": "linear", "depth": 1e300, "permanent_fraction": 1.0},
}


class ParityError(AssertionError):
    """The mechanics kernel disagrees with the reference or the core kernel."""


def scenario(n_paths: int, extra: dict[str, Any]) -> Any:
    """The engine benchmark's scenario (static margin) with the mechanism tables ``extra``."""
    raw = scenario_dict(N_POSITIONS, n_paths, "static")
    for table, values in extra.items():
        raw[table] = {**raw.get(table, {}), **values}
    return load_scenario(raw)


def reference_rows(case: Any, book: Book, prices: np.ndarray) -> np.ndarray:
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
    return rows


def check(actual: np.ndarray, expected: np.ndarray, notional: float, what: str) -> float:
    """Raise unless close; returns the worst error / allowed."""
    names = enums.METRIC_NAMES + enums.MARKET_METRIC_NAMES
    atol = np.array(
        [
            0.0
            if name in ("n_liquidations", "cascade_depth")
            else PARITY_ATOL_FRACTION
            if name == "margin_rate_mean"
            else PARITY_ATOL_PER_NOTIONAL * notional
            for name in names[: actual.shape[1]]
        ]
    )
    error = np.abs(actual - expected)
    allowed = atol + PARITY_RTOL * np.abs(expected)
    if actual.shape != expected.shape or not (error <= allowed).all():
        raise ParityError(f"{what}: out of tolerance\n{actual}\n{expected}")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(allowed > 0, error / allowed, np.where(error == 0, 0.0, np.inf))
    return float(ratio.max())


def parity(n_paths: int) -> list[str]:
    """Every check of step 1; returns the table rows."""
    lines = []
    base = scenario(n_paths, {})
    book = build_book(base, base.paths.s0)
    sub = Book(
        side=book.side[:SUB_POSITIONS],
        qty=book.qty[:SUB_POSITIONS],
        entry_price=book.entry_price[:SUB_POSITIONS],
        collateral=book.collateral[:SUB_POSITIONS],
    )
    sub_sorted = sort_book(sub)
    prices = GbmPathSource(base.paths, base.seed).chunk(0, SUB_PATHS)
    notional = float(np.sum(sub.qty * sub.entry_price))
    for label, extra in (("ema oracle + linear depth (timed)", TIMED), ("all four", ALL)):
        # Depth scaled to the sub-book's size so that impact and cascades happen in it.
        extra = {**extra, "market": dict(extra["market"])}
        if "depth" in extra["market"]:
            extra["market"]["depth"] = extra["market"]["depth"] * SUB_POSITIONS / N_POSITIONS
        else:
            extra["market"]["reference_notional"] *= SUB_POSITIONS / N_POSITIONS
        case = scenario(SUB_PATHS, extra)
        engine = replay_all(case, GbmPathSource(case.paths, case.seed), sub_sorted)
        started = time.perf_counter()
        expected = reference_rows(case, sub, prices)
        seconds = time.perf_counter() - started
        worst = check(engine, expected, notional, label)
        liquidations = engine[:, enums.N_LIQUIDATIONS].mean()
        cascade = int(engine[:, enums.CASCADE_DEPTH].max())
        lines.append(
            f"| {label} | reference, {SUB_POSITIONS:,} positions x {SUB_PATHS} paths | "
            f"{worst:.2g} | {liquidations:,.0f} | {cascade} | {seconds:.0f} s |"
        )
    full_sorted = sort_book(book)
    neutral = scenario(NEUTRAL_PATHS, NEUTRAL)
    core = scenario(NEUTRAL_PATHS, {})
    source = GbmPathSource(core.paths, core.seed)
    with_neutral = replay_all(neutral, source, full_sorted)
    without = replay_all(core, source, full_sorted)
    if not np.array_equal(with_neutral[:, : enums.N_METRICS], without):
        raise ParityError("neutral mechanisms differ from the core kernel")
    lines.append(
        f"| neutral (lag 0, depth 1e300) | core kernel, {N_POSITIONS:,} positions x "
        f"{NEUTRAL_PATHS} paths | bit-identical | "
        f"{without[:, enums.N_LIQUIDATIONS].mean():,.0f} | 0 | - |"
    )
    return lines


def best_of(function: Any) -> tuple[float, Any]:
    best = np.inf
    value = None
    for _ in range(REPEATS):
        started = time.perf_counter()
        value = function()
        best = min(best, time.perf_counter() - started)
    return best, value


def timings(n_paths: int) -> list[str]:
    core = scenario(n_paths, {})
    timed = scenario(n_paths, TIMED)
    book = sort_book(build_book(core, core.paths.s0))
    source = GbmPathSource(core.paths, core.seed)
    # Warm-up: compile or load every kernel.
    small = GbmPathSource(scenario(2, {}).paths, core.seed)
    replay_all(scenario(2, TIMED), small, book)
    replay_all(scenario(2, {}), small, book)

    def generate() -> None:
        chunk = 8_000_000 // (core.paths.n_steps + 1)
        for first in range(0, n_paths, chunk):
            source.chunk(first, min(chunk, n_paths - first))

    generation, _ = best_of(generate)
    engine, _ = best_of(lambda: replay_all(core, source, book))
    mechanics, rows = best_of(lambda: replay_all(timed, source, book))
    first = scenario(NEUTRAL_PATHS, TIMED)
    verified = replay_all(first, GbmPathSource(first.paths, first.seed), book)
    if not np.array_equal(rows[:NEUTRAL_PATHS], verified):
        raise ParityError("timed output differs from a separate run of its first paths")
    return [
        f"| {N_POSITIONS:,} | {n_paths:,} | 720 | {generation:.2f} | {engine:.2f} | "
        f"{mechanics:.2f} | {mechanics / engine:.1f}x | "
        f"{rows[:, enums.N_LIQUIDATIONS].mean():,.0f} | {rows[:, enums.CASCADE_DEPTH].mean():.2f} "
        f"| {'met' if mechanics < 60.0 else 'NOT met'} |"
    ]


def render(parity_lines: list[str], timing_lines: list[str], command: str, total: float) -> str:
    machine = machine_description().rstrip(".")
    return "\n".join(
        [
            BEGIN,
            "## Crash mechanisms: verified, then timed",
            "",
            f"Measured {datetime.date.today().isoformat()} on: {machine}.",
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
            "| mechanisms | against | worst | liquidations / path | max cascade depth "
            "| reference time |",
            "|---|---|---:|---:|---:|---:|",
            *parity_lines,
            "",
            "### Timings (wall seconds, best of 3, 2 numba threads)",
            "",
            "| positions | paths | steps | generation | core engine | with oracle + depth "
            "| ratio | liquidations / path | mean cascade depth | < 60 s |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            *timing_lines,
            END,
        ]
    )


def write_doc(block: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Performance\n"
    if BEGIN in text and END in text:
        text = re.sub(
            re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.DOTALL
        )
    else:
        text = text.rstrip("\n") + "\n\n" + block
    DOC.write_text(text.rstrip("\n") + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write", action="store_true")
    options = parser.parse_args(argv)
    started = time.perf_counter()
    n_paths = QUICK_PATHS if options.quick else FULL_PATHS
    print(f"numba threads: {numba.get_num_threads()}", flush=True)
    try:
        parity_lines = parity(n_paths)
    except ParityError as error:
        print(f"PARITY FAILED: {error}", file=sys.stderr)
        return 1
    print("\n".join(parity_lines), flush=True)
    timing_lines = timings(n_paths)
    print("\n".join(timing_lines), flush=True)
    command = "python benchmarks/bench_mechanics.py" + (" --quick" if options.quick else "")
    block = render(parity_lines, timing_lines, command + " --write", time.perf_counter() - started)
    if options.write:
        write_doc(block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
