"""Two-collateral loans against two-asset cross-margin accounts on the same paths.

    python benchmarks/bench_lending_multi.py [--loans N] [--paths N] [--steps N] [--runs N]
                                             [--pool-depth QUOTE]
    python benchmarks/bench_lending_multi.py --smoke

Issue 16's target: "multi-collateral loans at least as fast as cross-margin accounts
today". Both books are ``--loans`` units (default 100,000) on the correlated BTC/ETH
GBM of benchmarks/bench_accounts.py (sigma 0.6 % and 0.8 % per step, rho 0.8,
``--paths`` default 1,000 x ``--steps`` default 720, the same seed):

- accounts: ``accounts_synthetic`` with two legs (half hedged, leverage 1-20), cross
  margin, static m = 0.5 %, latency 1 step (bench_accounts' case);
- loans: ``loans_synthetic`` with two legs (BTC and ETH collateral, USDC debt, health
  factors log-uniform 1.05 to 2, the synthetic book's defaults), Aave v3-style LT 0.78 /
  0.83, bonus 5 %, fee 10 %, pools of 2e8 quote (``--pool-depth``), gas 5.

``--pool-depth`` sets both pools' depth (quote units). With deep pools (1e12) the
liquidators' sales hardly move the pools, so few liquidations are refused for want
of depth: the same book and paths without most of the queue of liquidatable loans
that shallow pools build on a crash (docs/performance.md, issue 16 "the refusal
queue measured apart").

1. Checked before anything is timed: the two sources give the same paths bit for
   bit (first 2 paths); the accounts kernel against the dense twin (first 4 paths) and
   the plain reference (300 accounts, 2 paths); the lending kernel against the plain
   loan-by-loan reference (tests/reference_lending.py) on the first 300 loans over the
   two of the first 16 paths on which the whole book liquidates most, and on the whole
   book over the second of them (skipped above 20,000 loans, where the plain Python
   reference would take minutes); it fails if the reference liquidated nothing.
2. Timed end to end (path generation + replay of every path, 2 numba threads), after
   a warm-up, alternating lending and accounts ``--runs`` times (default 3); medians.
   Each timed output's first paths are compared bit for bit with the verified rows.

``--profile`` (after the same checks, instead of 2): the lending kernel alone, one
numba thread, on each of the first two paths, best of 3, for the benchmark's book and
for the same book at health factors 3 to 4 (no loan ever liquidatable): nanoseconds per
loan and step (with multi-collateral loans asleep, docs/model.md 13.7, the second book
costs almost nothing: what is left is the loans the paths wake).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.bench_accounts import (  # noqa: E402
    FUND,
    SEED,
    reference_rows,
    scenario_dict,
    sub_book,
)
from benchmarks.harness import parity  # noqa: E402
from benchmarks.harness.machine import machine_description  # noqa: E402

PARITY_PATHS = 4
REFERENCE_UNITS = 300
REFERENCE_PATHS = 2  # accounts; loans: the 2 of the first 16 paths that liquidate most
#: Above this many loans the whole-book check against the Python reference is skipped.
WHOLE_BOOK_MAX = 20_000
THRESHOLD = [0.78, 0.83]
BONUS = [0.05, 0.05]
FEE = [0.1, 0.1]
DEPTH = [2e8, 2e8]
GAS = 5.0


def lending_dict(
    n_loans: int, n_paths: int, n_steps: int, pool_depth: float = DEPTH[0]
) -> dict[str, Any]:
    """The lending scenario on the paths of :func:`bench_accounts.scenario_dict`.

    ``pool_depth`` is each AMM pool's depth (quote units).
    """
    paths = scenario_dict(n_loans, n_paths, "cross", n_steps)["paths"]
    return {
        "scenario": {"name": f"bench_lending_multi_{n_loans}", "seed": SEED},
        "paths": paths,
        "book": {"source": "loans_synthetic", "n_loans": n_loans, "legs": 2},
        "lending": {
            "liquidation_threshold": THRESHOLD,
            "liquidation_bonus": BONUS,
            "protocol_fee": FEE,
            "pool_depth": [pool_depth] * len(DEPTH),
            "gas_cost": GAS,
            "small_loan_threshold": 2000.0,
        },
        "insurance_fund": {"initial": FUND},
    }


def reference_market(pool_depth: float = DEPTH[0]) -> dict[str, Any]:
    """The reference's market of :func:`lending_dict` (tests/reference_lending.py)."""
    from tests.test_lending import market

    depth = [pool_depth] * len(DEPTH)
    return market(
        threshold=THRESHOLD, bonus=BONUS, fee=FEE, depth=depth, gas=GAS, small_loan=2000.0
    )


def loans_of(book: Any, count: int) -> list[dict[str, Any]]:
    """The reference's loans: the first ``count`` of a loan book."""
    return [
        {
            "collateral": [
                (int(book.asset[leg]), float(book.collateral[leg]))
                for leg in range(book.start[j], book.start[j + 1])
            ],
            "debt_asset": int(book.debt_asset[j]),
            "debt": float(book.debt[j]),
        }
        for j in range(count)
    ]


def first_loans(book: Any, count: int) -> Any:
    """A :class:`LoanBook` of the first ``count`` loans."""
    from stresstest.book.loans import LoanBook

    end = int(book.start[count])
    return LoanBook(
        start=book.start[: count + 1].copy(),
        asset=book.asset[:end].copy(),
        collateral=book.collateral[:end].copy(),
        debt_asset=book.debt_asset[:count].copy(),
        debt=book.debt[:count].copy(),
        assets=book.assets,
    )


def busiest_paths(plan: Any, count: int = 16) -> np.ndarray:
    """The two of the first ``count`` paths on which the whole book liquidates most."""
    from stresstest.engine.lending import replay_prices
    from stresstest.kernels import enums

    rows, _ = replay_prices(plan, plan.source.chunk(0, min(count, plan.source.n_paths)))
    ranked = np.argsort(-rows[:, enums.N_LIQUIDATIONS], kind="stable")
    return np.sort(ranked[:2])


def check_lending(
    scenario: Any, plan: Any, count: int, paths: np.ndarray, pool_depth: float = DEPTH[0]
) -> float:
    """The lending kernel on the first ``count`` loans and ``paths`` (path indices) against
    the reference, every column at the tests' tolerances (raises on the first difference).
    ``pool_depth`` is the scenario's (:func:`lending_dict`).

    Returns the liquidations the reference executed on those paths.
    """
    from stresstest.engine.lending import lending_plan, replay_prices
    from stresstest.kernels import enums
    from tests.reference_lending import reference_lending
    from tests.test_lending import NAMES, assert_matches

    small = lending_plan(scenario, plan.source, first_loans(plan.book, count), plan.grid)
    prices = plan.source.chunk(0, int(paths.max()) + 1)[paths]
    rows, _ = replay_prices(small, prices)
    loans = loans_of(plan.book, count)
    liquidations = 0.0
    for path in range(len(paths)):
        expected = reference_lending(prices[path], loans, reference_market(pool_depth), FUND)
        actual = {name: float(rows[path, enums.METRIC_INDEX[name]]) for name in NAMES}
        assert_matches(actual, expected, f"bench_lending_multi {count} loans, path {path}: ")
        liquidations += expected["n_liquidations"]
    return liquidations


def profile(checked: Any, n: int, n_paths: int, n_steps: int, pool_depth: float) -> int:
    """Kernel seconds per path (one thread) for the checked book and a never-liquidated one."""
    import numba

    from stresstest.engine.lending import prepare_lending, replay_prices
    from stresstest.kernels import enums
    from stresstest.scenario.validate import scenario_from_dict

    calm = lending_dict(n, n_paths, n_steps, pool_depth)
    calm["book"].update({"hf_min": 3.0, "hf_max": 4.0})
    books = {"HF 1.05-2": checked, "HF 3-4": scenario_from_dict(calm, file=None)}
    numba.set_num_threads(1)
    for label, scenario in books.items():
        plan = prepare_lending(scenario)
        prices = plan.source.chunk(0, 2)
        replay_prices(plan, prices[:1])  # compiled, pages touched
        for path in range(2):
            best = np.inf
            for _ in range(3):
                begin = time.perf_counter()
                rows, _ = replay_prices(plan, prices[path : path + 1])
                best = min(best, time.perf_counter() - begin)
            print(
                f"{label}, path {path}: {best:.3f} s, {best / (n * (n_steps + 1)) * 1e9:.1f} ns "
                f"per loan and step, {rows[0, enums.N_LIQUIDATIONS]:,.0f} liquidations"
            )
    print(machine_description())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Check both books, then time them side by side; prints the figures."""
    from stresstest.engine.accounts import (
        execute_accounts,
        plan_for_mode,
        prepare_accounts,
        replay_accounts_chunk,
    )
    from stresstest.engine.lending import prepare_lending, run_lending
    from stresstest.kernels import enums
    from stresstest.kernels.cross_dense import dense_cross_paths
    from stresstest.scenario.validate import scenario_from_dict

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=100_000, help="loans = accounts")
    parser.add_argument("--paths", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=720)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--pool-depth", type=float, default=DEPTH[0], help="each pool's depth, quote units"
    )
    parser.add_argument("--smoke", action="store_true", help="2,000 units x 8 paths x 100 steps")
    parser.add_argument("--profile", action="store_true", help="the kernel per loan and step")
    options = parser.parse_args(argv)
    if options.smoke:
        options.loans, options.paths, options.steps, options.runs = 2000, 8, 100, 1
    n, n_paths, n_steps = options.loans, options.paths, options.steps
    accounts = scenario_from_dict(scenario_dict(n, n_paths, "cross", n_steps), file=None)
    source, book = prepare_accounts(accounts)
    grid = np.empty(0, dtype=np.int64)
    account_plan = plan_for_mode(accounts, source, book, "cross", grid)
    depth = options.pool_depth
    lending = scenario_from_dict(lending_dict(n, n_paths, n_steps, depth), file=None)
    lending_plan = prepare_lending(lending)
    # 1. checks
    same = source.chunk(0, 2)
    if same.tobytes() != lending_plan.source.chunk(0, 2).tobytes():
        raise SystemExit("bench_lending_multi: the two scenarios' paths differ")
    fast, _ = replay_accounts_chunk(account_plan, 0, PARITY_PATHS)
    dense = np.empty((PARITY_PATHS, enums.N_METRICS))
    dense_cross_paths(
        source.chunk(0, PARITY_PATHS),
        account_plan.stages,
        account_plan.margin,
        account_plan.brackets,
        account_plan.liquidation,
        account_plan.index.units,
        FUND,
        dense,
    )
    parity.compare(fast, dense, notional=book.entry_notional, what="accounts vs dense twin")
    small = sub_book(book, REFERENCE_UNITS)
    small_plan = plan_for_mode(accounts, source, small, "cross", grid)
    small_fast, _ = replay_accounts_chunk(small_plan, 0, REFERENCE_PATHS)
    parity.compare(
        small_fast,
        reference_rows(small, "cross", source.chunk(0, REFERENCE_PATHS)),
        notional=small.entry_notional,
        what=f"accounts vs reference, {REFERENCE_UNITS} accounts",
    )
    checked = busiest_paths(lending_plan)
    liquidated = check_lending(lending, lending_plan, REFERENCE_UNITS, checked, depth)
    whole = n <= WHOLE_BOOK_MAX
    if whole:
        liquidated += check_lending(lending, lending_plan, n, checked[1:], depth)
    if liquidated == 0.0:
        raise SystemExit("bench_lending_multi: the checked loans were never liquidated")
    verified = run_lending(lending, lending_plan).metrics[:PARITY_PATHS].copy()
    print(
        f"checks ok: same paths; accounts vs dense twin ({PARITY_PATHS} paths) and reference "
        f"({REFERENCE_UNITS} accounts x {REFERENCE_PATHS} paths); loans vs reference "
        f"({REFERENCE_UNITS} loans x paths {checked.tolist()}"
        + (f"; all {n:,} loans x path {int(checked[1])}" if whole else "")
        + f"; {liquidated:,.0f} liquidations)",
        flush=True,
    )
    if options.profile:
        return profile(lending, n, n_paths, n_steps, depth)
    # 2. timing, alternating (the checks compiled every kernel; one untimed warm-up each)
    run_lending(lending, lending_plan)
    execute_accounts(account_plan)
    lending_times, account_times = [], []
    for _ in range(options.runs):
        begin = time.perf_counter()
        result = run_lending(lending, lending_plan)
        lending_times.append(time.perf_counter() - begin)
        if result.metrics[:PARITY_PATHS].tobytes() != verified.tobytes():
            raise SystemExit("bench_lending_multi: a timed lending run differs from the checked")
        begin = time.perf_counter()
        metrics, _ = execute_accounts(account_plan)
        account_times.append(time.perf_counter() - begin)
        parity.compare(
            metrics[:PARITY_PATHS], fast, notional=book.entry_notional, what="timed accounts"
        )
    loans_liquidated = result.metrics[:, enums.N_LIQUIDATIONS].mean()
    left_unprofitable = result.metrics[:, enums.UNPROFITABLE_LOANS].mean()
    accounts_liquidated = metrics[:, enums.N_LIQUIDATIONS].mean()
    lend, cross = float(np.median(lending_times)), float(np.median(account_times))
    print(
        f"{n:,} two-collateral loans / {n:,} two-asset cross accounts x {n_paths:,} paths x "
        f"{n_steps} steps, generation + replay, median of {options.runs}: loans "
        f"{lend:.2f} s {[round(t, 2) for t in lending_times]}, cross accounts {cross:.2f} s "
        f"{[round(t, 2) for t in account_times]}, ratio {lend / cross:.2f}x; liquidations "
        f"per path: loans {loans_liquidated:,.0f}, accounts (positions) "
        f"{accounts_liquidated:,.0f}; pools of {depth:.3g} quote, loans left liquidatable "
        f"as unprofitable at T per path {left_unprofitable:,.1f}"
    )
    print(machine_description())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
