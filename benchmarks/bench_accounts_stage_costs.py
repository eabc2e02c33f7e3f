"""What each accounts stage adds to the plain cross case, one stage at a time (issue 15).

    python benchmarks/bench_accounts_stage_costs.py [N_ACCOUNTS] [N_PATHS]

The cross case of benchmarks/bench_accounts.py (two-asset accounts, 720 steps) with
no stage, then with one stage of benchmarks/bench_accounts_stages.py at a time, with
every stage but ``[adl]`` and with every stage; ``execute_accounts`` after a warm-up,
wall and CPU (user + sys of this process) seconds. Correctness is checked elsewhere
(tests/test_accounts_watch.py, benchmarks/bench_accounts_stages.py); this only says
where the time goes, after one check: for a case that runs the defence kernel, its
first path with the filter must equal the dense twin (``dense_watch_index``) bit for
bit, else the script exits 1. Defaults: 20,000 accounts x 4 paths.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.bench_accounts import scenario_dict  # noqa: E402
from benchmarks.bench_accounts_stages import MODE, N_STEPS, staged_dict  # noqa: E402
from stresstest.book.cross_index import dense_watch_index, watch_index  # noqa: E402
from stresstest.engine.accounts import (  # noqa: E402
    AccountsPlan,
    execute_accounts,
    plan_for_mode,
    prepare_accounts,
)
from stresstest.kernels import enums  # noqa: E402
from stresstest.kernels.account_defences import defence_replay_paths  # noqa: E402
from stresstest.scenario.validate import scenario_from_dict  # noqa: E402


def variants(n_accounts: int, n_paths: int) -> dict[str, dict[str, Any]]:
    """The plain case, each stage alone, every stage but ADL, every stage."""
    full = staged_dict(n_accounts, n_paths, N_STEPS)
    cases = {"plain": scenario_dict(n_accounts, n_paths, MODE, N_STEPS)}
    for key in ("oracle", "market", "partial_liquidation"):
        case = scenario_dict(n_accounts, n_paths, MODE, N_STEPS)
        case[key] = full[key]
        cases[key] = case
    case = scenario_dict(n_accounts, n_paths, MODE, N_STEPS)
    case["liquidation"] = full["liquidation"]
    cases["vol_fee"] = case
    case = scenario_dict(n_accounts, n_paths, MODE, N_STEPS)
    case["adl"] = full["adl"]
    case["insurance_fund"] = {"initial": 0.0}
    cases["adl_fund0"] = case
    cases["all_but_adl"] = {key: value for key, value in full.items() if key != "adl"}
    cases["all"] = full
    return cases


def check_against_dense(plan: AccountsPlan) -> None:
    """The defence kernel with the filter against its dense twin on the first path."""
    if plan.defences is None:
        return
    params, units = plan.defences
    prices = plan.source.chunk(0, 1)
    rows = []
    for index in (watch_index(plan.index), dense_watch_index(units[5].shape[0], prices.shape[1])):
        out = np.zeros((1, plan.width))
        defence_replay_paths(
            prices,
            params,
            plan.margin,
            plan.brackets,
            plan.liquidation,
            units,
            index,
            plan.fund_initial,
            np.empty(0, dtype=np.int64),
            out,
            np.empty((1, enums.N_GRID, 0)),
        )
        rows.append(out.tobytes())
    if rows[0] != rows[1]:
        print("the filtered defence kernel differs from its dense twin", file=sys.stderr)
        raise SystemExit(1)


def main(argv: list[str]) -> None:
    n_accounts = int(argv[0]) if argv else 20_000
    n_paths = int(argv[1]) if len(argv) > 1 else 4
    grid = np.empty(0, dtype=np.int64)
    print(f"load average {os.getloadavg()[0]:.1f}")
    for name, case in variants(n_accounts, n_paths).items():
        scenario = scenario_from_dict(case, file=None)
        source, book = prepare_accounts(scenario)
        plan = plan_for_mode(scenario, source, book, MODE, grid)
        check_against_dense(plan)
        execute_accounts(plan)  # warm-up (compiles)
        wall = time.perf_counter()
        cpu = sum(os.times()[:2])
        metrics, _ = execute_accounts(plan)
        wall = time.perf_counter() - wall
        cpu = sum(os.times()[:2]) - cpu
        print(
            f"{name:20s} {wall:8.2f} s wall {cpu:8.2f} s CPU  "
            f"liquidations/path {metrics[:, 0].mean():.0f}",
            flush=True,
        )
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
