"""Accounts (cross-margin) benchmark that verifies before it times.

    python benchmarks/bench_accounts.py [--quick] [--write]

1. Parity, for every case of the grid, before anything is timed: the engine's
   kernel (``cross_replay_paths`` through ``replay_accounts_chunk``) on the first
   K paths must match the dense twin (``dense_cross_paths``, every account at
   every step, direct form) at a relative tolerance of 1e-9 with an absolute
   floor of 1e-9 x book notional; and, on the first 300 accounts of the book and
   2 paths, the plain Python reference (tests/reference_accounts.py). Any
   mismatch exits non-zero and nothing is timed.
2. Timings after a warm-up: the engine end to end (GBM generation + replay of
   every path through ``execute_accounts``, numba threads as configured), the
   filter index build (once per run), and the dense twin on K paths,
   extrapolated linearly to the case's paths. The timed output is checked again
   against the verified rows.

``--quick`` runs 100k accounts x 200 paths only. ``--write`` replaces the text
between ``<!-- accounts:begin -->`` and ``<!-- accounts:end -->`` in
docs/performance.md and touches nothing else.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
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

DOC = REPO / "docs" / "performance.md"
BEGIN = "<!-- accounts:begin -->"
END = "<!-- accounts:end -->"
SEED = 20261124
N_STEPS = 720
PARITY_PATHS = 4
REFERENCE_ACCOUNTS = 300
RTOL = 1e-9


def scenario_dict(n_accounts: int, n_paths: int, mode: str) -> dict[str, Any]:
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
            "n_steps": N_STEPS,
        },
        "book": {"source": "accounts_synthetic", "n_accounts": n_accounts, "legs": 2},
        "accounts": {"mode": mode},
        "margin": {"model": "static", "maintenance": 0.005},
        "liquidation": {"latency_steps": 1, "slippage": 0.001, "fee": 0.005},
        "insurance_fund": {"initial": 1e6},
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


def mismatch(actual: np.ndarray, expected: np.ndarray, scale: float) -> float:
    """Largest violation of |a - e| <= 1e-9 scale + 1e-9 |e| (0 when within)."""
    error = np.abs(actual - expected) - (RTOL * scale + RTOL * np.abs(expected))
    return float(max(0.0, error.max()))


def run_case(n_accounts: int, n_paths: int, mode: str) -> dict[str, Any]:
    scenario = scenario_from_dict(scenario_dict(n_accounts, n_paths, mode), file=None)
    source, book = prepare_accounts(scenario)
    grid = np.empty(0, dtype=np.int64)
    started = time.perf_counter()
    plan = plan_for_mode(scenario, source, book, mode, grid)
    index_seconds = time.perf_counter() - started
    scale = book.entry_notional
    # 1. parity
    fast, _ = replay_accounts_chunk(plan, 0, PARITY_PATHS)
    prices = source.chunk(0, PARITY_PATHS)
    dense = np.empty((PARITY_PATHS, enums.N_METRICS))
    started = time.perf_counter()
    dense_cross_paths(
        prices, plan.margin, plan.brackets, plan.liquidation, plan.index.units, 1e6, dense
    )
    dense_seconds = (time.perf_counter() - started) / PARITY_PATHS * n_paths
    if mismatch(fast, dense, scale) > 0:
        sys.exit(f"parity failed: kernel vs dense twin, {n_accounts} accounts, {mode}")
    small = sub_book(book, REFERENCE_ACCOUNTS)
    small_plan = plan_for_mode(scenario, source, small, mode, grid)
    small_fast, _ = replay_accounts_chunk(small_plan, 0, 2)
    cross = small.cross if mode == "book" else np.full(small.n_accounts, mode == "cross")
    reference = reference_accounts(
        prices[:2],
        {
            "account": small.account,
            "asset": small.asset,
            "side": small.side,
            "qty": small.qty,
            "entry_price": small.entry_price,
            "collateral": small.collateral,
        },
        cross,
        {"model": "static", "maintenance": 0.005},
        1,
        0.001,
        0.005,
        0.5,
        1e6,
    )
    if mismatch(small_fast, reference, small.entry_notional) > 0:
        sys.exit(f"parity failed: kernel vs reference, {REFERENCE_ACCOUNTS} accounts, {mode}")
    # 2. timing (the kernels are compiled: the parity step ran them)
    started = time.perf_counter()
    metrics, _ = execute_accounts(plan)
    engine_seconds = time.perf_counter() - started
    if mismatch(metrics[:PARITY_PATHS], fast, scale) > 0:
        sys.exit("timed output differs from the verified rows")
    return {
        "accounts": n_accounts,
        "mode": mode,
        "paths": n_paths,
        "units": plan.index.units[5].shape[0],
        "liquidations": float(metrics[:, enums.N_LIQUIDATIONS].mean()),
        "index_s": index_seconds,
        "engine_s": engine_seconds,
        "dense_s": dense_seconds,
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| accounts | mode | margin units | paths x steps | mean positions liquidated per path "
        "| index build (s) | engine (s) | dense twin (s, extrapolated) | speed-up |",
        "|---:|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['accounts']:,} | {row['mode']} | {row['units']:,} | "
            f"{row['paths']:,} x {N_STEPS} | {row['liquidations']:,.0f} | {row['index_s']:.1f} | "
            f"{row['engine_s']:.1f} | {row['dense_s']:,.0f} | "
            f"{row['dense_s'] / row['engine_s']:,.0f}x |"
        )
    return "\n".join(lines)


def write_doc(text: str) -> None:
    content = DOC.read_text() if DOC.exists() else "# Performance\n"
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in content:
        content = re.sub(
            re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, content, flags=re.S
        )
    else:
        content = content.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write", action="store_true")
    options = parser.parse_args()
    grid = (
        [(100_000, 200, "cross")]
        if options.quick
        else [(100_000, 1000, "isolated"), (100_000, 1000, "cross"), (1_000_000, 1000, "cross")]
    )
    rows = [run_case(*case) for case in grid]
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join(
        [
            "## Accounts: cross and isolated margin over two assets",
            "",
            f"`python benchmarks/bench_accounts.py{' --quick' if options.quick else ''}` "
            f"on {when}, "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
            f"{numba.get_num_threads()} numba threads, numba {numba.__version__}. Every case "
            "was first checked against the dense twin (first "
            f"{PARITY_PATHS} paths) and the Python reference ({REFERENCE_ACCOUNTS} accounts, "
            "2 paths) at 1e-9. Correlated GBM (sigma 0.6 % and 0.8 % per hour, rho 0.8), "
            "two-leg synthetic accounts (half hedged, leverage 1-20), static m = 0.5 %, "
            "latency 1 step. Engine = path generation + replay of every path; the index build "
            "(grouping and sorting the margin units, once per run) is listed apart.",
            "",
            table(rows),
        ]
    )
    print(text)
    if options.write:
        write_doc(text)


if __name__ == "__main__":
    main()
