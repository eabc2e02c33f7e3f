"""The cost of ``[procyclicality]`` with accounts, verified before it is timed.

    python benchmarks/bench_accounts_procyclicality.py [--accounts N] [--paths P] [--runs R]
        [--kernel filtered|defence|both]
    python benchmarks/bench_accounts_procyclicality.py --off-only   # e.g. on a tree without it

Two-asset accounts (half hedged, cross) on correlated GBM, vol-scaled margin with the
EMIR buffer (so the rates rise), replayed by the filtered kernel (no defence) and by
the defence kernel (``[partial_liquidation]``), each without and with
``[procyclicality]`` (docs/model.md 3.2 "With accounts").

1. Checks, before anything is timed: with the measure every other column equals the
   run without it bit for bit, and on the first 300 accounts and 2 paths the four
   columns equal the plain reference (tests/reference_accounts.py) at 1e-9 (counts
   exactly). Any mismatch exits non-zero.
2. Timings: ``execute_accounts`` of every path, off and on alternating, ``--runs``
   times each; medians of wall and process CPU seconds (all threads).

``--off-only`` times the runs without the measure only and imports no test module, so
the same script measures a tree that cannot run the measure (``PYTHONPATH=<tree>``).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))  # after PYTHONPATH: the tree measured is PYTHONPATH's

import numpy as np  # noqa: E402

from stresstest.engine.accounts import (  # noqa: E402
    execute_accounts,
    plan_for_mode,
    prepare_accounts,
    replay_accounts_chunk,
)
from stresstest.kernels import enums  # noqa: E402
from stresstest.scenario.validate import scenario_from_dict  # noqa: E402

SEED = 20261205
MEASURES = ("margin_peak_to_trough", "margin_max_increase", "procyclical_liquidations")
MEASURES += ("procyclical_notional",)
MARGIN = {
    "model": "vol_scaled",
    "k": 3.0,
    "horizon_steps": 1,
    "ewma_lambda": 0.94,
    "initial_variance": 3.6e-5,
    "floor": 0.004,
    "cap": 0.06,
    "apc_buffer": 0.25,
}


def scenario_dict(n_accounts: int, n_paths: int, defences: bool, measured: bool) -> dict:
    """The case: 2 assets, cross accounts, vol-scaled margin with the buffer."""
    raw: dict[str, Any] = {
        "scenario": {"name": "bench_accounts_procyclicality", "seed": SEED},
        "paths": {
            "source": "gbm_multi",
            "assets": ["BTC", "ETH"],
            "s0": [60000.0, 3000.0],
            "sigma": [0.006, 0.008],
            "correlation": [[1.0, 0.8], [0.8, 1.0]],
            "n_paths": n_paths,
            "n_steps": 720,
        },
        "book": {"source": "accounts_synthetic", "n_accounts": n_accounts, "legs": 2},
        "accounts": {"mode": "cross"},
        "margin": copy.deepcopy(MARGIN),
        "liquidation": {"latency_steps": 1, "slippage": 0.001, "fee": 0.005},
        "insurance_fund": {"initial": 1e6},
    }
    if defences:
        raw["partial_liquidation"] = {"buffer": 0.002}
    if measured:
        raw["procyclicality"] = {"horizon_steps": 24}
    return raw


def plan_of(n_accounts: int, n_paths: int, defences: bool, measured: bool) -> Any:
    scenario = scenario_from_dict(scenario_dict(n_accounts, n_paths, defences, measured), file=None)
    source, book = prepare_accounts(scenario)
    return plan_for_mode(scenario, source, book, "cross", np.empty(0, dtype=np.int64)), book


def check(n_accounts: int, n_paths: int, defences: bool) -> None:
    """The measure changes no other column; its columns equal the reference on a sub-book."""
    from stresstest.book.accounts import AccountsBook
    from tests.reference_accounts import reference_accounts

    off, _ = plan_of(n_accounts, n_paths, defences, False)
    on, book = plan_of(n_accounts, n_paths, defences, True)
    plain, _ = replay_accounts_chunk(off, 0, 2)
    measured, _ = replay_accounts_chunk(on, 0, 2)
    columns = [enums.METRIC_INDEX[name] for name in enums.METRIC_NAMES]
    if not np.array_equal(plain[:, columns], measured[:, columns]):
        sys.exit("the measure changed another column")
    if defences:
        return
    keep = book.account < 300
    small = AccountsBook(
        account=book.account[keep],
        asset=book.asset[keep],
        side=book.side[keep],
        qty=book.qty[keep],
        entry_price=book.entry_price[keep],
        collateral=book.collateral[keep],
        cross=book.cross[:300],
        assets=book.assets,
    )
    scenario = scenario_from_dict(scenario_dict(300, n_paths, False, True), file=None)
    source, _ = prepare_accounts(scenario)
    small_plan = plan_for_mode(scenario, source, small, "cross", np.empty(0, dtype=np.int64))
    actual, _ = replay_accounts_chunk(small_plan, 0, 2)
    expected = reference_accounts(
        source.chunk(0, 2),
        {
            "account": small.account,
            "asset": small.asset,
            "side": small.side,
            "qty": small.qty,
            "entry_price": small.entry_price,
            "collateral": small.collateral,
        },
        np.full(small.n_accounts, True),
        MARGIN,
        1,
        0.001,
        0.005,
        0.5,
        1e6,
        procyclicality=24,
    )
    for name in MEASURES:
        column = enums.METRIC_INDEX[name]
        if not np.allclose(actual[:, column], expected[:, column], rtol=1e-9, atol=1e-9):
            sys.exit(f"{name}: {actual[:, column]} against the reference {expected[:, column]}")
    print(
        "checked: other columns identical; reference on 300 accounts x 2 paths: "
        f"procyclical closes {actual[:, enums.PROCYCLICAL_LIQUIDATIONS].tolist()}"
    )


def timed(plan: Any) -> tuple[float, float, np.ndarray]:
    wall, cpu = time.perf_counter(), time.process_time()
    metrics, _ = execute_accounts(plan)
    return time.perf_counter() - wall, time.process_time() - cpu, metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--paths", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--off-only", action="store_true")
    parser.add_argument(
        "--kernel", choices=("filtered", "defence", "both"), default="both", help="which kernel"
    )
    options = parser.parse_args()
    kernels = {"filtered": (False,), "defence": (True,), "both": (False, True)}[options.kernel]
    for defences in kernels:
        kind = "defence kernel (partial)" if defences else "filtered kernel"
        if not options.off_only:
            check(options.accounts, options.paths, defences)
        plans = {False: plan_of(options.accounts, options.paths, defences, False)[0]}
        if not options.off_only:
            plans[True] = plan_of(options.accounts, options.paths, defences, True)[0]
        for plan in plans.values():  # warm-up: compile or load
            replay_accounts_chunk(plan, 0, 1)
        seconds: dict[bool, list[tuple[float, float]]] = {key: [] for key in plans}
        rows: dict[bool, np.ndarray] = {}
        for _ in range(options.runs):
            for key, plan in plans.items():
                wall, cpu, metrics = timed(plan)
                seconds[key].append((wall, cpu))
                rows[key] = metrics
        if True in rows:
            columns = [enums.METRIC_INDEX[name] for name in enums.METRIC_NAMES]
            if not np.array_equal(rows[True][:, columns], rows[False][:, columns]):
                sys.exit("timed: the measure changed another column")
        for key, runs in seconds.items():
            walls = [wall for wall, _ in runs]
            cpus = [cpu for _, cpu in runs]
            line = (
                f"{kind}, {options.accounts:,} accounts x {options.paths} paths x 720 steps, "
                f"{'with' if key else 'without'} [procyclicality]: wall median "
                f"{statistics.median(walls):.2f} s ({', '.join(f'{w:.2f}' for w in walls)}), "
                f"CPU median {statistics.median(cpus):.2f} s"
            )
            if key:
                counted = rows[True][:, enums.PROCYCLICAL_LIQUIDATIONS].mean()
                closed = rows[True][:, enums.N_LIQUIDATIONS].mean()
                line += f"; procyclical closes per path {counted:.1f} of {closed:.1f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
