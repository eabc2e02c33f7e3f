"""Accounts (cross-margin) benchmark that verifies before it times.

    python benchmarks/bench_accounts.py [--quick | --smoke] [--write]

1. Parity, for every case of the grid, before anything is timed: the engine's
   kernel (``cross_replay_paths`` through ``replay_accounts_chunk``) on the first
   K paths must match the dense twin (``dense_cross_paths``, every account at
   every step, direct form) at a relative tolerance of 1e-9 with an absolute
   floor of 1e-9 x book notional (every column); and, on the first 300 accounts
   of the book and 2 paths, the plain Python reference
   (tests/reference_accounts.py). Any mismatch exits non-zero and nothing is timed.
2. Timings after a warm-up: the engine end to end (GBM generation + replay of
   every path through ``execute_accounts``, numba threads as configured), the
   filter index build (once per run), and the dense twin on K paths,
   extrapolated linearly to the case's paths. The timed output is checked again
   against the verified rows.

``--quick`` runs 100k accounts x 200 paths only; ``--smoke`` 2,000 accounts x 8
paths x 100 steps, isolated and cross. ``--write`` replaces the text between
``<!-- accounts:begin -->`` and ``<!-- accounts:end -->`` in docs/performance.md
and touches nothing else.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.harness import cli, parity  # noqa: E402
from benchmarks.harness.machine import machine_description  # noqa: E402
from benchmarks.harness.markdown import table  # noqa: E402
from benchmarks.harness.timing import best_of  # noqa: E402
from stresstest.book.accounts import AccountsBook  # noqa: E402
from stresstest.engine.accounts import (  # noqa: E402
    execute_accounts,
    plan_for_mode,
    prepare_accounts,
    replay_accounts_chunk,
)
from stresstest.kernels import enums  # noqa: E402
from stresstest.kernels.cross_dense import dense_cross_paths  # noqa: E402
from stresstest.scenario.validate import scenario_from_dict  # noqa: E402
from tests.reference_accounts import reference_accounts  # noqa: E402

SECTION = "accounts"
SEED = 20261124
N_STEPS = 720
SMOKE_STEPS = 100
PARITY_PATHS = 4
REFERENCE_ACCOUNTS = 300
REFERENCE_PATHS = 2
FUND = 1e6  # quote units
FULL_GRID = [(100_000, 1000, "isolated"), (100_000, 1000, "cross"), (1_000_000, 1000, "cross")]
QUICK_GRID = [(100_000, 200, "cross")]
#: Accounts and paths of the untimed warm-up case, run in each mode first.
WARM_UP_CASE = (500, 4)
SMOKE_GRID = [(2_000, 8, "isolated"), (2_000, 8, "cross")]


def scenario_dict(n_accounts: int, n_paths: int, mode: str, n_steps: int = N_STEPS) -> dict:
    """Two-asset accounts (half hedged) on correlated BTC/ETH-like GBM, static margin."""
    return {
        "scenario": {"name": f"bench_accounts_{n_accounts}", "seed": SEED},
        "paths": {
            "source": "gbm_multi",
            "assets": ["BTC", "ETH"],
            "s0": [60000.0, 3000.0],
            "sigma": [0.006, 0.008],
            "correlation": [[1.0, 0.8], [0.8, 1.0]],
            "n_paths": n_paths,
            "n_steps": n_steps,
        },
        "book": {"source": "accounts_synthetic", "n_accounts": n_accounts, "legs": 2},
        "accounts": {"mode": mode},
        "margin": {"model": "static", "maintenance": 0.005},
        "liquidation": {"latency_steps": 1, "slippage": 0.001, "fee": 0.005},
        "insurance_fund": {"initial": FUND},
    }


def sub_book(book: AccountsBook, n_accounts: int) -> AccountsBook:
    """The first ``n_accounts`` accounts of a book."""
    keep = book.account < n_accounts
    return AccountsBook(
        account=book.account[keep],
        asset=book.asset[keep],
        side=book.side[keep],
        qty=book.qty[keep],
        entry_price=book.entry_price[keep],
        collateral=book.collateral[keep],
        cross=book.cross[:n_accounts],
        assets=book.assets,
    )


def reference_rows(book: AccountsBook, mode: str, prices: np.ndarray) -> np.ndarray:
    """The plain Python reference (tests/reference_accounts.py) on ``prices``."""
    cross = book.cross if mode == "book" else np.full(book.n_accounts, mode == "cross")
    return reference_accounts(
        prices,
        {
            "account": book.account,
            "asset": book.asset,
            "side": book.side,
            "qty": book.qty,
            "entry_price": book.entry_price,
            "collateral": book.collateral,
        },
        cross,
        {"model": "static", "maintenance": 0.005},
        1,
        0.001,
        0.005,
        0.5,
        FUND,
    )


def run_case(n_accounts: int, n_paths: int, mode: str, n_steps: int = N_STEPS) -> dict[str, Any]:
    """Verify one case against the dense twin and the reference, then time it."""
    scenario = scenario_from_dict(scenario_dict(n_accounts, n_paths, mode, n_steps), file=None)
    source, book = prepare_accounts(scenario)
    grid = np.empty(0, dtype=np.int64)
    started = time.perf_counter()
    plan = plan_for_mode(scenario, source, book, mode, grid)
    index_seconds = time.perf_counter() - started
    scale = book.entry_notional
    label = f"{n_accounts:,} accounts, {mode}"
    # 1. parity
    fast, _ = replay_accounts_chunk(plan, 0, PARITY_PATHS)
    prices = source.chunk(0, PARITY_PATHS)
    dense = np.empty((PARITY_PATHS, enums.N_METRICS))
    started = time.perf_counter()
    dense_cross_paths(
        prices,
        plan.stages,
        plan.margin,
        plan.brackets,
        plan.liquidation,
        plan.index.units,
        FUND,
        dense,
    )
    dense_seconds = (time.perf_counter() - started) / PARITY_PATHS * n_paths
    parity.compare(fast, dense, notional=scale, what=f"kernel vs dense twin, {label}")
    small = sub_book(book, REFERENCE_ACCOUNTS)
    small_plan = plan_for_mode(scenario, source, small, mode, grid)
    small_fast, _ = replay_accounts_chunk(small_plan, 0, REFERENCE_PATHS)
    parity.compare(
        small_fast,
        reference_rows(small, mode, prices[:REFERENCE_PATHS]),
        notional=small.entry_notional,
        what=f"kernel vs reference, {REFERENCE_ACCOUNTS} accounts, {mode}",
    )
    # 2. timing (the kernels are compiled: the parity step ran them)
    timed = best_of(lambda: execute_accounts(plan), runs=1)
    metrics, _ = timed.result
    parity.compare(
        metrics[:PARITY_PATHS],
        fast,
        notional=scale,
        what=f"timed output vs the verified rows, {label}",
    )
    cli.say(f"{label} x {n_paths:,} paths: engine {timed.seconds:.1f} s")
    return {
        "accounts": n_accounts,
        "mode": mode,
        "paths": n_paths,
        "steps": n_steps,
        "units": plan.index.units[5].shape[0],
        "liquidations": float(metrics[:, enums.N_LIQUIDATIONS].mean()),
        "index_s": index_seconds,
        "engine_s": timed.seconds,
        "dense_s": dense_seconds,
    }


def render(rows: list[dict[str, Any]], command: str) -> str:
    """The accounts section's markdown."""
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            "## Accounts: cross and isolated margin over two assets",
            "",
            f"`{command}` on {when}, {machine_description().rstrip('.')}. Every case "
            "was first checked against the dense twin (first "
            f"{PARITY_PATHS} paths) and the Python reference ({REFERENCE_ACCOUNTS} accounts, "
            f"{REFERENCE_PATHS} paths) at 1e-9. Correlated GBM (sigma 0.6 % and 0.8 % per "
            "hour, rho 0.8), two-leg synthetic accounts (half hedged, leverage 1-20), static "
            "m = 0.5 %, latency 1 step. Engine = path generation + replay of every path; the "
            "index build (grouping and sorting the margin units, once per run) is listed apart.",
            "",
            *table(
                [
                    ("accounts", "r"),
                    ("mode", "l"),
                    ("margin units", "r"),
                    ("paths x steps", "l"),
                    ("mean positions liquidated per path", "r"),
                    ("index build (s)", "r"),
                    ("engine (s)", "r"),
                    ("dense twin (s, extrapolated)", "r"),
                    ("speed-up", "r"),
                ],
                [
                    [
                        f"{row['accounts']:,}",
                        row["mode"],
                        f"{row['units']:,}",
                        f"{row['paths']:,} x {row['steps']}",
                        f"{row['liquidations']:,.0f}",
                        f"{row['index_s']:.1f}",
                        f"{row['engine_s']:.1f}",
                        f"{row['dense_s']:,.0f}",
                        f"{row['dense_s'] / row['engine_s']:,.0f}x",
                    ]
                    for row in rows
                ],
            ),
        ]
    )


def run(options: argparse.Namespace) -> str:
    """Verify and time every case of the grid; the accounts section."""
    for mode in ("isolated", "cross"):  # warm-up: compile or load every kernel, untimed
        run_case(*WARM_UP_CASE, mode, n_steps=SMOKE_STEPS)
    if options.smoke:
        rows = [run_case(*case, n_steps=SMOKE_STEPS) for case in SMOKE_GRID]
        return render(rows, "python benchmarks/bench_accounts.py --smoke")
    rows = [run_case(*case) for case in (QUICK_GRID if options.quick else FULL_GRID)]
    return render(rows, f"python benchmarks/bench_accounts.py{' --quick' if options.quick else ''}")


FAMILY = cli.Family(SECTION, __doc__, run, quick="100k accounts x 200 paths only")
main = cli.main_function(FAMILY)

if __name__ == "__main__":
    sys.exit(main())
