"""bench_paths.py ``--before TREE``: GARCH-family generation before and after, per core.

Each round runs ``benchmarks/paths_worker.py`` once against the tree of the earlier
commit and once against this tree (``PYTHONPATH``), alternating which goes first,
with ``NUMBA_NUM_THREADS=1``. Each worker checks its tree's compiled prices against
that tree's own Python twin before it times anything. Figures are medians over all
rounds and runs of the CPU seconds (``time.process_time``: what one core spent, the
fair measure on a shared machine) and of the wall seconds of one ``garch_paths``
call.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.harness import cli
from benchmarks.harness.machine import load_average, machine_description
from benchmarks.harness.markdown import table
from benchmarks.harness.parity import ParityError

REPO = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "paths_worker.py"


def run_worker(tree: Path, n_paths: int, n_steps: int, runs: int) -> dict[str, list]:
    """``{case: [(wall s, cpu s), ...]}`` of one worker run against ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree), "NUMBA_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(WORKER), str(n_paths), str(n_steps), str(runs)],
        env=env,
        capture_output=True,
        text=True,
        cwd=tree,
        check=False,
    )
    if done.returncode != 0:
        raise ParityError(f"{tree}: {done.stderr.strip().splitlines()[-1:]}")
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {row["case"]: row["times"] for row in rows}


def compare(options: argparse.Namespace, n_paths: int, n_steps: int) -> str:
    """The before/after table (markdown), medians over ``options.rounds`` rounds."""
    trees = {"before": Path(options.before).resolve(), "after": REPO}
    runs = 5
    times: dict[str, dict[str, list]] = {"before": {}, "after": {}}
    load_before = load_average()
    for round_number in range(options.rounds):
        order = ("before", "after") if round_number % 2 == 0 else ("after", "before")
        for side in order:
            for case, case_times in run_worker(trees[side], n_paths, n_steps, runs).items():
                times[side].setdefault(case, []).extend(case_times)
        cli.say(f"round {round_number + 1} of {options.rounds} done")
    load = (load_before, load_average())
    steps = n_paths * n_steps
    rows = []
    for case in times["after"]:
        cpu = {side: statistics.median(t[1] for t in times[side][case]) for side in times}
        wall = {side: statistics.median(t[0] for t in times[side][case]) for side in times}
        rows.append(
            [
                case,
                f"{steps / cpu['before'] / 1e6:.1f}",
                f"{steps / cpu['after'] / 1e6:.1f}",
                f"**{cpu['before'] / cpu['after']:.2f}x**",
                f"{steps / wall['before'] / 1e6:.1f}",
                f"{steps / wall['after'] / 1e6:.1f}",
                f"{wall['before'] / wall['after']:.2f}x",
            ]
        )
    command = (
        f"python benchmarks/bench_paths.py --before {options.before} --rounds {options.rounds}"
        + (" --quick" if options.quick else "")
    )
    return "\n".join(
        [
            f"Measured on: {machine_description().rstrip('.')}.",
            f"Command: `{command}` (before: the tree at `{options.before}`). "
            f"{options.rounds} rounds, alternating which tree goes first; in each, "
            f"{runs} calls of `garch_paths` on {n_paths:,} paths x {n_steps:,} steps per "
            "case on one numba thread, after each tree's prices were checked against its "
            "own Python twin exactly. Medians over all calls; M steps per CPU second and "
            "per wall second.",
            "",
            f"Load average (1 min) before / after: {load[0]:.2f} / {load[1]:.2f}.",
            "",
            *table(
                [
                    ("generator (1 thread)", "l"),
                    ("before, per CPU s", "r"),
                    ("after, per CPU s", "r"),
                    ("speed-up (CPU)", "r"),
                    ("before, per wall s", "r"),
                    ("after, per wall s", "r"),
                    ("speed-up (wall)", "r"),
                ],
                rows,
            ),
        ]
    )
