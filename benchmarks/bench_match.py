"""`stresstest compare ... --match cost`: outputs checked against a reference run, then timed.

    python benchmarks/bench_match.py [--smoke] [--write] [--scenario FILE] [--before TREE]
                                     [--repeats N]
    python -m benchmarks match ...

Verified first, timed after; a failed check exits 1 before anything is timed.

1. Matches (in this process, this tree): ``compare(SCENARIO, match="cost")``; for
   every match, a fresh measuring replay of the matched static rate (its own
   paths, book and no memo) gives the cost ``achieved`` bit for bit and within
   ``MATCH_RELATIVE`` of the target, and the first match's scanned values are
   fresh replays', bit for bit.
2. Bytes against a reference run: the comparison is written once as shipped and
   once with every static design of the searches replayed in full instead of
   measured by the replay's requirement-only mode (the way every release before
   it measured them); every file of the two folders (all but ``*.toml`` and the
   manifest) must have the same SHA-256. With ``--before TREE`` (another
   checkout, e.g. ``git worktree add DIR main``) the command's folder from that
   tree must have the same SHA-256 per file too.
3. Timing: the command line, ``python -m stresstest compare SCENARIO --match cost
   --quiet --out TMP``, in a fresh interpreter per run, for this tree and (with
   ``--before``) the other, alternating, after one untimed warm-up run each
   (numba's cache). Each run's wall and CPU seconds (user + system of the child),
   their medians and the 1-minute load average before and after are reported.

``--smoke`` does all of it on a tiny copy of the scenario (40 paths, 3,000
positions, 50 bootstrap samples), one timed run. ``--write`` replaces the text
between ``<!-- match:begin -->`` and ``<!-- match:end -->`` in docs/performance.md.
"""

from __future__ import annotations

import argparse
import hashlib
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

from benchmarks.harness import cli  # noqa: E402
from benchmarks.harness.machine import load_average, machine_description  # noqa: E402
from benchmarks.harness.markdown import seconds, table  # noqa: E402
from benchmarks.harness.parity import ParityError  # noqa: E402

SECTION = "match"
#: The matched cost must be this close to the target (Brent stops at 1e-7 on the rate).
MATCH_RELATIVE = 1e-3
SCENARIO = "scenarios/compare_btc.toml"
#: The smoke case: compare_btc's designs on a tiny book and few paths.
SMOKE_SETTINGS = {
    "n_paths = 5000": "n_paths = 40",
    "n_positions = 1000000": "n_positions = 3000",
    "bootstrap_samples = 1000": "bootstrap_samples = 50",
}
#: Files a result folder may differ in between two trees: the scenario copies and the
#: manifest name the tree's own files.
UNCOMPARED = ("*.toml", ".stresstest-manifest.json")


def check(scenario_file: Path) -> list[str]:
    """Run the comparison in process and check every match; one line per match."""
    from stresstest.comparison.engine import compare, cost_of
    from stresstest.comparison.measuring import StaticFamily

    comparison = compare(scenario_file, match="cost")
    variants = {variant.name: variant for variant in comparison.spec.variants}
    lines = []
    for index, found in enumerate(comparison.matches):
        if found.static_maintenance is None or found.achieved is None:
            raise ParityError(f"no match for {found.variant}: {found.verdict}")
        family = StaticFamily(variants[found.variant], "cost", {})
        rates = [found.static_maintenance]
        if index == 0:
            rates += list(found.scan_rates)
        direct = [cost_of(result) for result in family.results(rates)]
        if direct[0] != found.achieved:
            raise ParityError(
                f"{found.variant} at {found.static_maintenance!r}: direct cost "
                f"{direct[0]!r} != matched {found.achieved!r}"
            )
        if abs(found.achieved / found.target - 1.0) > MATCH_RELATIVE:
            raise ParityError(f"{found.variant}: cost {found.achieved} vs target {found.target}")
        if index == 0 and tuple(direct[1:]) != found.scan_values:
            raise ParityError(f"{found.variant}: scanned values differ from fresh replays")
        lines.append(
            f"{found.variant}: static {found.static_maintenance:.9g}, cost {found.achieved:,.2f} "
            f"(target {found.target:,.2f}), {found.evaluations} evaluations"
        )
    return lines


def digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file of a result folder but ``UNCOMPARED``, by relative path."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not any(path.match(pattern) for pattern in UNCOMPARED)
    }


def same_outputs(first: Path, second: Path) -> int:
    """Every compared file of two result folders has the same SHA-256; how many there are."""
    found, reference = digests(first), digests(second)
    if set(found) != set(reference):
        raise ParityError(f"different files: {sorted(set(found) ^ set(reference))}")
    for name, digest in found.items():
        if digest != reference[name]:
            raise ParityError(f"{name} differs from the reference run")
    return len(found)


def against_replayed_search(scenario_file: Path, scratch: Path) -> int:
    """Write the comparison as shipped and with the searches' designs replayed in full;
    the two folders must be the same bytes. Returns the number of files compared."""
    from stresstest.comparison import measuring
    from stresstest.jobs import compare_to_dir

    shipped, replayed = scratch / "shipped", scratch / "replayed"
    compare_to_dir(scenario_file, shipped, match="cost")
    kernel = measuring.measured_by_requirement
    measuring.measured_by_requirement = lambda prepared, options: False  # all replayed
    try:
        compare_to_dir(scenario_file, replayed, match="cost")
    finally:
        measuring.measured_by_requirement = kernel
    return same_outputs(shipped, replayed)


def timed_run(tree: Path, scenario: Path, out: Path) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one command-line comparison in ``tree``."""
    command = [sys.executable, "-m", "stresstest", "compare", str(scenario), "--match", "cost"]
    command += ["--quiet", "--out", str(out)]
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=tree, env=environment, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def smoke_scenario(scratch: Path) -> Path:
    """A tiny copy of compare_btc (``SMOKE_SETTINGS``), its backtest data named absolutely."""
    text = (REPO / SCENARIO).read_text(encoding="utf-8")
    for old, new in SMOKE_SETTINGS.items():
        if old not in text:
            raise ParityError(f"{SCENARIO} no longer has {old!r}")
        text = text.replace(old, new)
    data = (REPO / "data" / "btc_usdt_spot_1h.parquet").as_posix()
    text = text.replace('"../data/btc_usdt_spot_1h.parquet"', f'"{data}"')
    path = scratch / "compare_smoke.toml"
    path.write_text(text, encoding="utf-8")
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", default=SCENARIO, help="relative to this tree")
    parser.add_argument("--before", type=Path, help="another checkout, checked and timed")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per tree")


def run(options: argparse.Namespace) -> str:
    """Check the matches and the bytes against the reference runs, then time the command."""
    loads = [load_average()]
    trees = {"this tree": REPO}
    if options.before is not None:
        trees = {"before": options.before.resolve(), **trees}
    repeats = 1 if options.smoke else options.repeats
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        # One scenario file for every tree: its data file is then the same path in both
        # folders (backtest.json names it).
        scenario = smoke_scenario(scratch) if options.smoke else REPO / options.scenario
        scenarios = dict.fromkeys(trees, scenario)
        lines = check(scenarios["this tree"])
        for line in lines:
            cli.say(f"check: {line}")
        files = against_replayed_search(scenarios["this tree"], scratch)
        cli.say(f"check: {files} files the same bytes as with the searches replayed in full")
        folders = {label: scratch / f"warm{index}" for index, label in enumerate(trees)}
        for label, tree in trees.items():  # warm-up: numba's cache; the outputs compared
            timed_run(tree, scenarios[label], folders[label])
        if len(folders) == 2:
            before_files = same_outputs(*folders.values())
            cli.say(f"check: {before_files} files the same bytes as the --before tree's")
        times: dict[str, list[tuple[float, float]]] = {label: [] for label in trees}
        for repeat in range(repeats):
            for label, tree in trees.items():
                out = scratch / f"run{repeat}-{label.replace(' ', '_')}"
                times[label].append(timed_run(tree, scenarios[label], out))
                wall, cpu = times[label][-1]
                cli.say(f"{label}: run {repeat + 1}: {wall:.1f} s wall, {cpu:.1f} s CPU")
    loads.append(load_average())
    return render(options, lines, files, times, loads)


def render(
    options: argparse.Namespace,
    lines: list[str],
    files: int,
    times: dict[str, list[tuple[float, float]]],
    loads: list[float],
) -> str:
    """The section: what was checked, the runs, their medians, the machine and its load."""
    case = "a tiny copy of compare_btc (smoke)" if options.smoke else f"`{options.scenario}`"
    scenario = "SMOKE.toml" if options.smoke else options.scenario
    command = f"python -m stresstest compare {scenario} --match cost --quiet --out DIR"
    rows = [
        [
            label,
            ", ".join(f"{seconds(wall)} / {seconds(cpu)}" for wall, cpu in runs),
            seconds(statistics.median(wall for wall, _ in runs)),
            seconds(statistics.median(cpu for _, cpu in runs)),
        ]
        for label, runs in times.items()
    ]
    checked = [f"- {line}" for line in lines]
    before = " and to the `--before` tree's" if options.before is not None else ""
    return "\n".join(
        [
            f"`python benchmarks/bench_match.py{' --smoke' if options.smoke else ''}"
            f"{f' --before {options.before}' if options.before is not None else ''}"
            f"{'' if options.smoke else f' --repeats {options.repeats}'}`: "
            f"{case}. Checked before timing: every match against fresh replays, and "
            f"{files} result files identical by SHA-256 to a run whose searches replay "
            f"every design in full{before}.",
            "",
            *checked,
            "",
            f"`{command}`, a fresh interpreter per run, after one warm-up each; "
            f"{machine_description()} Load average (1 min) {loads[0]:.1f} before, "
            f"{loads[1]:.1f} after: wall times wait for the CPU, the CPU figure is the "
            f"better one.",
            "",
            *table(
                [
                    ("tree", "l"),
                    ("runs (wall / CPU, s)", "l"),
                    ("median wall (s)", "r"),
                    ("median CPU (s)", "r"),
                ],
                rows,
            ),
        ]
    )


FAMILY = cli.Family(SECTION, __doc__, run, add_arguments=add_arguments)
main = cli.main_function(FAMILY)

if __name__ == "__main__":
    raise SystemExit(main())
