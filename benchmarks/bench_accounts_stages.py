"""Cross-margin accounts with every stage on, against the same book with none: verified, then timed.

    python benchmarks/bench_accounts_stages.py [--quick | --smoke] [--write] [--paths N] [--runs R]

Issue 15 asks that 1,000,000 two-asset cross accounts x 1,000 paths x 720 steps take
at most the 41.8 s the accounts engine took before the stages existed, "with every
stage available". Two books are timed on the same paths: the accounts benchmark's
cross case with no stage (benchmarks/bench_accounts.py), and the same book with every
stage the accounts engine runs: an EMA oracle, the volatility-scaled penalty, square-root
price impact with a permanent part, partial liquidation to maintenance + buffer and ADL
(``profit_leverage``) with an empty insurance fund, so every step with bad debt is an
ADL event.

1. Parity, before anything is timed: on the first ``REFERENCE_ACCOUNTS`` accounts and
   ``REFERENCE_PATHS`` paths (the widest moves of the first 16), the engine's kernel
   with every stage on (``plan_for_mode`` and ``replay_prices``, as a run calls them)
   against tests/reference_account_defences.py (account by account, direct form) at
   the tests' tolerances (counts exactly). Then, on the full book, every stage must
   act on the timed paths: ADL deleverages and the impact deepens the cascade
   (``adl_count`` and ``cascade_depth`` above 0 on some path).
2. Timing: ``execute_accounts`` (GBM generation + replay of every path) of the plain and
   of the staged plan, alternating run by run after a warm-up; medians of wall and CPU
   (user + sys of this process, both numba threads) seconds. The timed output is
   checked again against the first timed run's rows.

``--paths`` sets the paths of the timed case (default 1,000); ``--quick`` uses 100,000
accounts x 100 paths; ``--smoke`` 2,000 accounts x 4 paths x 100 steps. ``--write``
replaces the text between ``<!-- accounts_stages:begin -->`` and
``<!-- accounts_stages:end -->`` in docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.bench_accounts import scenario_dict, sub_book  # noqa: E402
from benchmarks.harness import cli, parity  # noqa: E402
from benchmarks.harness.machine import machine_description  # noqa: E402
from benchmarks.harness.markdown import table  # noqa: E402
from stresstest.engine.accounts import (  # noqa: E402
    execute_accounts,
    plan_for_mode,
    prepare_accounts,
    replay_prices,
)
from stresstest.kernels import enums  # noqa: E402
from stresstest.scenario.validate import scenario_from_dict  # noqa: E402
from tests.reference_account_defences import reference_account_defences  # noqa: E402

SECTION = "accounts_stages"
N_STEPS = 720
SMOKE_STEPS = 100
REFERENCE_ACCOUNTS = 200
REFERENCE_PATHS = 2
#: Paths the reference paths are chosen from (the widest moves).
CANDIDATE_PATHS = 16
MODE = "cross"
MARGIN = {"model": "static", "maintenance": 0.005}
LIQUIDATION = (1, 0.001, 0.005, 0.5)  # latency steps, slippage, fee, liquidator share
ORACLE = {"model": "ema", "ema_lambda": 0.5}
FEE_KEYS = {
    "fee_base": 0.002,
    "fee_k": 1.0,
    "fee_min": 0.001,
    "fee_max": 0.02,
    "vol_ewma_lambda": 0.94,
    "vol_initial_variance": 3.6e-5,
}
MARKET = {
    "impact": "sqrt",
    "coefficient": 0.01,
    "reference_notional": 1e8,
    "permanent_fraction": 0.3,
    "max_impact": 0.05,
}
BUFFER = 0.01
ADL_POLICY = "profit_leverage"
#: Counts exactly; rates and ADL shares at the fraction floor (as tests/test_accounts_defences.py).
STAGED = parity.Tolerance(
    exact=frozenset({"n_liquidations", "cascade_depth", "adl_count"}),
    fractions=frozenset({"margin_rate_mean", "adl_top1_share", "adl_top10_share", "adl_gini"}),
)


def staged_dict(n_accounts: int, n_paths: int, n_steps: int) -> dict[str, Any]:
    """The accounts benchmark's cross case with every stage of the accounts engine on."""
    scenario = scenario_dict(n_accounts, n_paths, MODE, n_steps)
    scenario["liquidation"] = {
        "latency_steps": LIQUIDATION[0],
        "slippage": LIQUIDATION[1],
        "fee_model": "vol_scaled",
        **FEE_KEYS,
    }
    scenario["insurance_fund"] = {"initial": 0.0}
    scenario["oracle"] = dict(ORACLE)
    scenario["market"] = dict(MARKET)
    scenario["partial_liquidation"] = {"buffer": BUFFER}
    scenario["adl"] = {"policy": ADL_POLICY}
    return scenario


def verify_against_reference(scenario: Any, source: Any, book: Any, prices: np.ndarray) -> None:
    """The staged kernel on a sub-book against the direct reference; exits 1 on a mismatch."""
    small = sub_book(book, REFERENCE_ACCOUNTS)
    plan = plan_for_mode(scenario, source, small, MODE, np.empty(0, dtype=np.int64))
    actual, _ = replay_prices(plan, prices)
    expected = reference_account_defences(
        prices,
        book_arrays(small),
        np.ones(small.n_accounts, dtype=bool),
        MARGIN,
        *LIQUIDATION,
        0.0,
        oracle=ORACLE,
        fee_model=dict(FEE_KEYS),
        buffer=BUFFER,
        adl=ADL_POLICY,
        market=MARKET,
    )
    width = len(parity.ALL_COLUMN_NAMES)  # core, [market] and [adl] columns
    parity.compare(
        actual[:, :width],
        expected[:, :width],
        notional=small.entry_notional,
        what=f"every stage on, {REFERENCE_ACCOUNTS} accounts x {REFERENCE_PATHS} paths",
        tolerance=STAGED,
    )
    if not (expected[:, enums.METRIC_INDEX["n_liquidations"]] > 0).any():
        raise parity.ParityError("the reference sub-book liquidates nothing: the check is empty")


def book_arrays(book: Any) -> dict[str, np.ndarray]:
    """The book's rows as the plain references take them (tests/reference_accounts.py)."""
    return {
        "account": book.account,
        "asset": book.asset,
        "side": book.side,
        "qty": book.qty,
        "entry_price": book.entry_price,
        "collateral": book.collateral,
    }


def alternate(
    plans: dict[str, Any], runs: int, label: str
) -> tuple[dict[str, list[tuple[float, float]]], dict[str, np.ndarray]]:
    """Run ``execute_accounts`` of each plan in turn, ``runs`` + 1 rounds (round 0 a warm-up).

    Returns the (wall, CPU) seconds of the timed rounds and each plan's first rows; a
    later run with other rows raises :class:`~benchmarks.harness.parity.ParityError`.
    ``label`` starts each progress line.
    """
    seconds: dict[str, list[tuple[float, float]]] = {name: [] for name in plans}
    first: dict[str, np.ndarray] = {}
    for round_ in range(runs + 1):
        for name, plan in plans.items():
            wall, cpu, (metrics, _) = timed(lambda plan=plan: execute_accounts(plan))
            if name not in first:
                first[name] = metrics.copy()
            elif not np.array_equal(metrics, first[name]):
                raise parity.ParityError(f"{name}: a timed run gave other rows than the first")
            if round_ > 0:
                seconds[name].append((wall, cpu))
            cli.say(f"{label}{name} run {round_}: {wall:.2f} s wall, {cpu:.2f} s CPU")
    return seconds, first


def medians(seconds: dict[str, list[tuple[float, float]]]) -> dict[str, tuple[float, float]]:
    """Median wall and CPU seconds of each plan's timed runs."""
    return {
        name: (
            statistics.median(wall for wall, _ in runs),
            statistics.median(cpu for _, cpu in runs),
        )
        for name, runs in seconds.items()
    }


def widest_paths(source: Any) -> np.ndarray:
    """The ``REFERENCE_PATHS`` of the first ``CANDIDATE_PATHS`` whose prices move most.

    A move is the largest ``|log(P_t / P_0)|`` of either asset; the widest paths
    liquidate most, so the reference comparison is not empty.
    """
    prices = source.chunk(0, min(CANDIDATE_PATHS, source.n_paths))
    moves = np.abs(np.log(prices / prices[:, :, :1])).max(axis=(1, 2))
    chosen = np.sort(np.argsort(-moves, kind="stable")[:REFERENCE_PATHS])
    return np.ascontiguousarray(prices[chosen])


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (every thread)."""
    times = os.times()
    return times.user + times.system


def timed(function: Any) -> tuple[float, float, Any]:
    """Wall and CPU seconds of one call, and what it returned."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    value = function()
    return time.perf_counter() - wall, cpu_seconds() - cpu, value


def run_case(n_accounts: int, n_paths: int, n_steps: int, runs: int) -> dict[str, Any]:
    """Verify the staged book, then time the plain and the staged plan alternately."""
    grid = np.empty(0, dtype=np.int64)
    staged = scenario_from_dict(staged_dict(n_accounts, n_paths, n_steps), file=None)
    plain = scenario_from_dict(scenario_dict(n_accounts, n_paths, MODE, n_steps), file=None)
    source, book = prepare_accounts(staged)
    plain_source, plain_book = prepare_accounts(plain)
    if not np.array_equal(plain_book.qty, book.qty):
        raise parity.ParityError("the plain and the staged scenario drew different books")
    verify_against_reference(staged, source, book, widest_paths(source))
    cli.say(f"reference parity: {REFERENCE_ACCOUNTS} accounts x {REFERENCE_PATHS} paths ok")
    plans = {
        "plain": plan_for_mode(plain, plain_source, plain_book, MODE, grid),
        "staged": plan_for_mode(staged, source, book, MODE, grid),
    }
    seconds, first = alternate(plans, runs, "")
    rows = first["staged"]
    for name in ("adl_count", "cascade_depth"):
        if not (rows[:, enums.METRIC_INDEX[name]] > 0).any():
            raise parity.ParityError(f"every stage on, yet {name} is 0 on every path")
    return {
        "accounts": n_accounts,
        "paths": n_paths,
        "steps": n_steps,
        "runs": runs,
        "seconds": seconds,
        "liquidations": {
            name: float(first[name][:, enums.N_LIQUIDATIONS].mean()) for name in first
        },
        "adl_count": float(rows[:, enums.METRIC_INDEX["adl_count"]].mean()),
        "cascade_depth": float(rows[:, enums.METRIC_INDEX["cascade_depth"]].mean()),
        "load": os.getloadavg()[0],
    }


def render(row: dict[str, Any], command: str, load_before: float) -> str:
    """The section's markdown."""
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    middle = medians(row["seconds"])
    body = []
    for name, label in (("plain", "no stage"), ("staged", "every stage on")):
        runs = ", ".join(f"{wall:.1f}" for wall, _ in row["seconds"][name])
        body.append(
            [
                label,
                f"{middle[name][0]:.1f} ({runs})",
                f"{middle[name][1]:.1f}",
                f"{middle[name][0] / row['paths'] * 1000:.1f}",
                f"{row['liquidations'][name]:,.0f}",
            ]
        )
    return "\n".join(
        [
            "## Cross-margin accounts with every stage on (issue 15)",
            "",
            f"`{command}` on {when}, {machine_description().rstrip('.')}; load average "
            f"{load_before:.1f} at the start and {row['load']:.1f} at the end. "
            f"{row['accounts']:,} two-asset cross accounts (the accounts benchmark's book: "
            "half hedged, leverage 1-20, static m = 0.5 %, latency 1) x "
            f"{row['paths']:,} correlated GBM paths x {row['steps']} steps. Every stage: an "
            "EMA oracle (lambda 0.5), the volatility-scaled penalty, square-root impact "
            "(0.01 at 1e8 notional, 30 % permanent, capped at 0.05), partial liquidation "
            "to maintenance + 1 % and ADL (profit_leverage) with an empty fund. Checked "
            f"first: the staged kernel on {REFERENCE_ACCOUNTS} accounts x "
            f"{REFERENCE_PATHS} paths against tests/reference_account_defences.py (counts "
            "exactly, money at the tests' tolerances); on the full book ADL and the "
            "impact act (mean per path: "
            f"{row['adl_count']:,.0f} ADL reductions, cascade depth "
            f"{row['cascade_depth']:.1f}). Engine = GBM generation + replay, "
            f"{row['runs']} alternating runs after a warm-up; medians.",
            "",
            *table(
                [
                    ("book", "l"),
                    ("wall s, median (runs)", "r"),
                    ("CPU s, median", "r"),
                    ("wall ms per path", "r"),
                    ("positions liquidated per path", "r"),
                ],
                body,
            ),
            "",
            f"Every stage on / no stage: {middle['staged'][0] / middle['plain'][0]:.2f}x "
            "(wall medians).",
        ]
    )


def run(options: argparse.Namespace) -> str:
    """Verify and time the case; the section."""
    load_before = os.getloadavg()[0]
    if options.smoke:
        row = run_case(2_000, 4, SMOKE_STEPS, 1)
        return render(row, "python benchmarks/bench_accounts_stages.py --smoke", load_before)
    if options.quick:
        row = run_case(100_000, 100, N_STEPS, options.runs)
        command = "python benchmarks/bench_accounts_stages.py --quick"
    else:
        row = run_case(1_000_000, options.paths, N_STEPS, options.runs)
        command = f"python benchmarks/bench_accounts_stages.py --paths {options.paths}"
    return render(row, f"{command} --runs {options.runs}", load_before)


def add_options(parser: argparse.ArgumentParser) -> None:
    """``--paths`` and ``--runs`` of the timed case."""
    parser.add_argument("--paths", type=int, default=1000, help="paths of the timed case")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each book")


FAMILY = cli.Family(
    SECTION, __doc__, run, quick="100k accounts x 100 paths", add_arguments=add_options
)
main = cli.main_function(FAMILY)

if __name__ == "__main__":
    sys.exit(main())
