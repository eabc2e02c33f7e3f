"""`stresstest compare ... --match cost`: checked against direct evaluations, then timed.

    python benchmarks/bench_match.py [--scenario FILE] [--before TREE] [--repeats N] [--check-only]

1. Check (in this process, this tree): ``compare(SCENARIO, match="cost")``; for
   every match, a fresh measuring replay of the matched static rate (its own
   paths, book and no memo) gives the cost ``achieved`` bit for bit and within
   ``MATCH_RELATIVE`` of the target, and the first match's scanned values are a
   fresh replay's, bit for bit (the memo serves the right designs). Nothing is
   timed if this fails.
2. Timing: the command line, ``python -m stresstest compare SCENARIO --match cost
   --quiet --out TMP``, in a fresh interpreter per run, for this tree and (with
   ``--before``) another checkout of the project, alternating, after one
   untimed warm-up run each (numba's cache). ``compare.json`` and every
   variant's ``paths.parquet`` of the two trees must be the same bytes. Prints
   each run's wall and CPU (user + system of the child) seconds and their medians.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

#: The matched cost must be this close to the target (Brent stops at 1e-7 on the rate).
MATCH_RELATIVE = 1e-3
SCENARIO = "scenarios/compare_btc.toml"


def check(scenario_file: Path) -> list[str]:
    """Run the comparison in process and check every match; one line per match."""
    from stresstest.comparison.engine import compare, cost_of
    from stresstest.comparison.measuring import StaticFamily

    comparison = compare(scenario_file, match="cost")
    variants = {variant.name: variant for variant in comparison.spec.variants}
    lines = []
    for index, found in enumerate(comparison.matches):
        if found.static_maintenance is None or found.achieved is None:
            raise SystemExit(f"check failed: no match for {found.variant}: {found.verdict}")
        family = StaticFamily(variants[found.variant], "cost", {})
        rates = [found.static_maintenance]
        if index == 0:
            rates += list(found.scan_rates)
        direct = [cost_of(result) for result in family.results(rates)]
        if direct[0] != found.achieved:
            raise SystemExit(
                f"check failed: {found.variant} at {found.static_maintenance!r}: direct cost "
                f"{direct[0]!r} != matched {found.achieved!r}"
            )
        if abs(found.achieved / found.target - 1.0) > MATCH_RELATIVE:
            raise SystemExit(
                f"check failed: {found.variant}: cost {found.achieved} vs target {found.target}"
            )
        if index == 0 and tuple(direct[1:]) != found.scan_values:
            raise SystemExit(f"check failed: {found.variant}: scanned values differ")
        lines.append(
            f"{found.variant}: static {found.static_maintenance:.9g}, cost {found.achieved:,.2f} "
            f"(target {found.target:,.2f}), {found.evaluations} evaluations"
        )
    return lines


def timed_run(tree: Path, scenario: str, out: Path) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one command-line comparison in ``tree``."""
    command = [sys.executable, "-m", "stresstest", "compare", scenario, "--match", "cost"]
    command += ["--quiet", "--out", str(out)]
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=tree, env=environment, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def same_outputs(first: Path, second: Path) -> None:
    """``compare.json`` and every variant's ``paths.parquet`` are the same bytes."""
    variants = (first / "variants").glob("*/paths.parquet")
    files = [Path("compare.json"), *sorted(path.relative_to(first) for path in variants)]
    for name in files:
        if (first / name).read_bytes() != (second / name).read_bytes():
            raise SystemExit(f"check failed: {name} differs between the trees")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=SCENARIO, help="relative to each tree")
    parser.add_argument("--before", type=Path, help="another checkout to time side by side")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--check-only", action="store_true")
    options = parser.parse_args(argv)
    for line in check(REPO / options.scenario):
        print("check:", line)
    if options.check_only:
        return
    trees = {"this tree": REPO}
    if options.before is not None:
        trees = {"before": options.before.resolve(), **trees}
    times: dict[str, list[tuple[float, float]]] = {label: [] for label in trees}
    with tempfile.TemporaryDirectory() as scratch:
        folders = {label: Path(scratch) / f"warm{index}" for index, label in enumerate(trees)}
        for label, tree in trees.items():  # warm-up: numba's cache, and the outputs compared
            timed_run(tree, options.scenario, folders[label])
        if len(folders) == 2:
            same_outputs(*folders.values())
        for repeat in range(options.repeats):
            for label, tree in trees.items():
                wall, cpu = timed_run(tree, options.scenario, Path(scratch) / f"run{repeat}")
                times[label].append((wall, cpu))
                print(f"{label}: run {repeat + 1}: {wall:.1f} s wall, {cpu:.1f} s CPU")
    for label, runs in times.items():
        wall = statistics.median(run[0] for run in runs)
        cpu = statistics.median(run[1] for run in runs)
        print(f"{label}: median {wall:.1f} s wall, {cpu:.1f} s CPU ({len(runs)} runs)")


if __name__ == "__main__":
    main()
