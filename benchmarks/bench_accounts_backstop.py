"""Cross-margin accounts with the backstop vault on against off: verified, then timed.

    python benchmarks/bench_accounts_backstop.py [--quick | --smoke] [--write] [--paths N]
                                                  [--accounts N] [--runs R]

The vault (docs/model.md 11.11) is a stage of the accounts defence kernel, so both
books run that kernel: the accounts benchmark's cross book (benchmarks/bench_accounts.py)
with ADL (``profit_leverage``) and an empty insurance fund, without and with
``[backstop]`` (Hyperliquid's takeover at 2/3 of maintenance, capital
``CAPITAL_SHARE`` of the book's entry notional, positions held ``HOLD_STEPS`` steps).

1. Parity, before anything is timed: on the first ``REFERENCE_ACCOUNTS`` accounts and
   ``REFERENCE_PATHS`` paths (the widest moves of the first 16), the engine's kernel
   with the vault (``plan_for_mode`` and ``replay_prices``, as a run calls them)
   against tests/reference_account_defences.py at the tests' tolerances (counts
   exactly), the ``backstop_*`` columns included; on the full book the vault takes
   accounts over on the timed paths (``backstop_takeovers`` above 0 on some path).
2. Timing: ``execute_accounts`` (GBM generation + replay of every path) of the two
   plans, alternating run by run after a warm-up; medians of wall and CPU seconds. The
   timed output is checked again against the first timed run's rows.

``--paths`` and ``--accounts`` set the timed case (default 1,000,000 accounts x 100
paths); ``--quick`` uses 100,000
accounts x 20 paths; ``--smoke`` 2,000 accounts x 4 paths x 100 steps. ``--write``
replaces the text between ``<!-- accounts_backstop:begin -->`` and
``<!-- accounts_backstop:end -->`` in docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.bench_accounts import scenario_dict, sub_book  # noqa: E402
from benchmarks.bench_accounts_stages import (  # noqa: E402
    alternate,
    book_arrays,
    medians,
    widest_paths,
)
from benchmarks.harness import cli, parity  # noqa: E402
from benchmarks.harness.machine import machine_description  # noqa: E402
from benchmarks.harness.markdown import table  # noqa: E402
from stresstest.engine.accounts import (  # noqa: E402
    plan_for_mode,
    prepare_accounts,
    replay_prices,
)
from stresstest.kernels import enums  # noqa: E402
from stresstest.scenario.validate import scenario_from_dict  # noqa: E402
from tests.reference_account_defences import reference_account_defences  # noqa: E402

SECTION = "accounts_backstop"
N_STEPS = 720
SMOKE_STEPS = 100
REFERENCE_ACCOUNTS = 200
REFERENCE_PATHS = 2
MODE = "cross"
MARGIN = {"model": "static", "maintenance": 0.005}
LIQUIDATION = (1, 0.001, 0.005, 0.5)  # latency steps, slippage, fee, liquidator share
ADL_POLICY = "profit_leverage"
CAPITAL_SHARE = 1e-4  # the vault's capital, share of the book's entry notional
HOLD_STEPS = 24
COLUMNS = parity.ALL_COLUMN_NAMES + enums.BACKSTOP_METRIC_NAMES
#: Counts exactly; rates and ADL shares at the fraction floor (as the accounts tests).
TOLERANCE = parity.Tolerance(
    exact=frozenset({"n_liquidations", "adl_count", "backstop_takeovers", "backstop_exhausted"}),
    fractions=frozenset({"margin_rate_mean", "adl_top1_share", "adl_top10_share", "adl_gini"}),
)


def books(n_accounts: int, n_paths: int, n_steps: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The cross book with ADL and an empty fund, without and with the vault."""
    plain = scenario_dict(n_accounts, n_paths, MODE, n_steps)
    plain["insurance_fund"] = {"initial": 0.0}
    plain["adl"] = {"policy": ADL_POLICY}
    vault = {**plain, "backstop": {"capital": 1.0, "hold_steps": HOLD_STEPS}}
    return plain, vault


def backstop_table(entry_notional: float) -> dict[str, Any]:
    """``[backstop]``: capital ``CAPITAL_SHARE`` of the book's entry notional."""
    return {"capital": CAPITAL_SHARE * entry_notional, "hold_steps": HOLD_STEPS}


def verify_against_reference(scenario: Any, source: Any, book: Any, prices: np.ndarray) -> None:
    """The vault kernel on a sub-book against the direct reference; exits 1 on a mismatch."""
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
        adl=ADL_POLICY,
        backstop={"capital": scenario.backstop.capital, "hold_steps": HOLD_STEPS},
    )
    columns = [enums.METRIC_INDEX[name] for name in COLUMNS]
    parity.compare(
        actual[:, columns],
        expected[:, columns],
        notional=small.entry_notional + scenario.backstop.capital,
        what=f"vault on, {REFERENCE_ACCOUNTS} accounts x {REFERENCE_PATHS} paths",
        tolerance=TOLERANCE,
        names=COLUMNS,
    )
    if not (expected[:, enums.METRIC_INDEX["backstop_takeovers"]] > 0).any():
        raise parity.ParityError("the reference sub-book has no takeover: the check is empty")


def run_case(n_accounts: int, n_paths: int, n_steps: int, runs: int) -> dict[str, Any]:
    """Verify the vault's book, then time the two plans alternately."""
    grid = np.empty(0, dtype=np.int64)
    plain_dict, vault_dict = books(n_accounts, n_paths, n_steps)
    plain = scenario_from_dict(plain_dict, file=None)
    source, book = prepare_accounts(plain)
    vault_dict["backstop"] = backstop_table(book.entry_notional)
    with_vault = scenario_from_dict(vault_dict, file=None)
    vault_source, vault_book = prepare_accounts(with_vault)
    if not np.array_equal(vault_book.qty, book.qty):
        raise parity.ParityError("the two scenarios drew different books")
    verify_against_reference(with_vault, vault_source, vault_book, widest_paths(vault_source))
    cli.say(f"reference parity: {REFERENCE_ACCOUNTS} accounts x {REFERENCE_PATHS} paths ok")
    plans = {
        "off": plan_for_mode(plain, source, book, MODE, grid),
        "on": plan_for_mode(with_vault, vault_source, vault_book, MODE, grid),
    }
    seconds, first = alternate(plans, runs, "vault ")
    rows = first["on"]
    if not (rows[:, enums.METRIC_INDEX["backstop_takeovers"]] > 0).any():
        raise parity.ParityError("the vault is on, yet it takes nothing on every path")
    return {
        "accounts": n_accounts,
        "paths": n_paths,
        "steps": n_steps,
        "runs": runs,
        "seconds": seconds,
        "takeovers": float(rows[:, enums.METRIC_INDEX["backstop_takeovers"]].mean()),
        "exhausted": float(rows[:, enums.METRIC_INDEX["backstop_exhausted"]].mean()),
        "load": os.getloadavg()[0],
    }


def render(row: dict[str, Any], command: str, load_before: float) -> str:
    """The section's markdown."""
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    middle = medians(row["seconds"])
    body = []
    for name, label in (("off", "ADL, no vault"), ("on", "ADL and the vault")):
        runs = ", ".join(f"{wall:.1f}" for wall, _ in row["seconds"][name])
        body.append(
            [
                label,
                f"{middle[name][0]:.1f} ({runs})",
                f"{middle[name][1]:.1f}",
                f"{middle[name][0] / row['paths'] * 1000:.1f}",
            ]
        )
    return "\n".join(
        [
            "## Cross-margin accounts with the backstop vault (issue 15)",
            "",
            f"`{command}` on {when}, {machine_description().rstrip('.')}; load average "
            f"{load_before:.1f} at the start and {row['load']:.1f} at the end. "
            f"{row['accounts']:,} two-asset cross accounts (the accounts benchmark's book) x "
            f"{row['paths']:,} correlated GBM paths x {row['steps']} steps, ADL "
            "(profit_leverage) with an empty fund, in the accounts defence kernel (11.8); "
            f"the vault: takeover at 2/3 of maintenance, capital {CAPITAL_SHARE:g} of the "
            f"entry notional, held {HOLD_STEPS} steps (mean per path: "
            f"{row['takeovers']:,.0f} legs taken over, exhausted on "
            f"{row['exhausted']:.0%} of paths). Checked first: the vault's kernel on "
            f"{REFERENCE_ACCOUNTS} accounts x {REFERENCE_PATHS} paths against "
            "tests/reference_account_defences.py (counts exactly, money at the tests' "
            "tolerances). Engine = GBM generation + replay, "
            f"{row['runs']} alternating runs after a warm-up; medians. A scenario whose only "
            "defence is the vault also runs the defence kernel (every unit checked at every "
            "step) instead of the filtered kernel of 11.5.",
            "",
            *table(
                [
                    ("book", "l"),
                    ("wall s, median (runs)", "r"),
                    ("CPU s, median", "r"),
                    ("wall ms per path", "r"),
                ],
                body,
            ),
            "",
            f"Vault on / off: {middle['on'][0] / middle['off'][0]:.2f}x (wall medians).",
        ]
    )


def run(options: argparse.Namespace) -> str:
    """Verify and time the case; the section."""
    load_before = os.getloadavg()[0]
    if options.smoke:
        row = run_case(2_000, 4, SMOKE_STEPS, 1)
        return render(row, "python benchmarks/bench_accounts_backstop.py --smoke", load_before)
    if options.quick:
        row = run_case(100_000, 20, N_STEPS, options.runs)
        command = "python benchmarks/bench_accounts_backstop.py --quick"
    else:
        row = run_case(options.accounts, options.paths, N_STEPS, options.runs)
        command = (
            "python benchmarks/bench_accounts_backstop.py "
            f"--accounts {options.accounts} --paths {options.paths}"
        )
    return render(row, f"{command} --runs {options.runs}", load_before)


def add_options(parser: argparse.ArgumentParser) -> None:
    """``--paths``, ``--accounts`` and ``--runs`` of the timed case."""
    parser.add_argument("--paths", type=int, default=100, help="paths of the timed case")
    parser.add_argument(
        "--accounts", type=int, default=1_000_000, help="accounts of the timed case"
    )
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each book")


FAMILY = cli.Family(
    SECTION, __doc__, run, quick="100k accounts x 20 paths", add_arguments=add_options
)
main = cli.main_function(FAMILY)

if __name__ == "__main__":
    sys.exit(main())
