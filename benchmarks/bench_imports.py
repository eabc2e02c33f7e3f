"""Start-up time and imports of the command line (docs/performance.md, "Start-up and imports").

Times each command in fresh interpreters: one warm-up run (numba's compile cache and
the OS file cache warm), then ``--runs`` runs; prints the median and range of the wall
time and of the CPU time (user + sys), the number of modules imported, and which heavy
packages are among them. With ``--before DIR`` (a source tree of an earlier commit, e.g.
``git archive <commit> | tar -x -C DIR``) the same commands run from that tree too,
alternating run by run with this one so that both see the same machine load.

    python benchmarks/bench_imports.py --before /tmp/base --runs 7
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SMALL_RUN = (
    "import stresstest; s = stresstest.load_scenario('scenarios/gbm_btc.toml')"
    ".with_overrides({'paths.n_paths': 4, 'book.n_positions': 100}); "
    "stresstest.run(s).summary()"
)
#: Label -> interpreter arguments, run with the tree's root as working folder.
COMMANDS: dict[str, list[str]] = {
    "stresstest --help": ["-m", "stresstest", "--help"],
    "stresstest validate scenarios/gbm_btc.toml": [
        "-m",
        "stresstest",
        "validate",
        "scenarios/gbm_btc.toml",
    ],
    "python -c 'import stresstest.engine.run'": ["-c", "import stresstest.engine.run"],
    "small GBM run (API: 4 paths, 100 positions)": ["-c", SMALL_RUN],
    "stresstest validate scenarios/garch_btc.toml": [
        "-m",
        "stresstest",
        "validate",
        "scenarios/garch_btc.toml",
    ],
    "stresstest run (the default scenario, written to a temporary folder)": [
        "-m",
        "stresstest",
        "run",
        "--out",
        str(Path(tempfile.gettempdir()) / "bench_imports_default_run"),
    ],
}
HEAVY = (
    "numba",
    "polars",
    "scipy",
    "scipy.special",
    "scipy.stats",
    "scipy.optimize",
    "arch",
    "matplotlib",
    "dask",
    "stresstest.engine.accounts",
    "stresstest.paths.fit",
)
PROBE = """
import json, runpy, sys
sys.argv = {argv!r}
try:
    {body}
except SystemExit:
    pass
print("MODULES=" + json.dumps(sorted(sys.modules)))
"""


def timed(root: Path, args: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + sys) seconds of one run of ``python args`` in ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], capture_output=True, env=env, cwd=root, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def modules_of(root: Path, args: list[str]) -> list[str]:
    """``sys.modules`` after running the command in ``root``."""
    if args[0] == "-m":
        body = "runpy.run_module('stresstest', run_name='__main__')"
        argv = ["stresstest", *args[2:]]
    else:
        body, argv = args[1], ["-c"]
    env = {**os.environ, "PYTHONPATH": str(root)}
    completed = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, body=body)],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        check=True,
    )
    line = next(text for text in completed.stdout.splitlines() if text.startswith("MODULES="))
    return list(json.loads(line.removeprefix("MODULES=")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="source tree of an earlier commit")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command and tree")
    options = parser.parse_args()
    trees = {"before": options.before, "after": REPO} if options.before else {"now": REPO}
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores")
    print("| command | tree | wall median (range), s | CPU median, s | modules | heavy |")
    print("|---|---|---|---|---:|---|")
    for label, args in COMMANDS.items():
        for root in trees.values():
            timed(root, args)  # warm-up: compile cache, OS cache
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
        for _ in range(options.runs):
            for name, root in trees.items():
                runs[name].append(timed(root, args))
        for name, root in trees.items():
            walls = [wall for wall, _ in runs[name]]
            cpus = [cpu for _, cpu in runs[name]]
            modules = set(modules_of(root, args))
            heavy = ", ".join(package for package in HEAVY if package in modules) or "-"
            print(
                f"| {label} | {name} | {statistics.median(walls):.2f} "
                f"({min(walls):.2f}-{max(walls):.2f}) | {statistics.median(cpus):.2f} "
                f"| {len(modules)} | {heavy} |",
                flush=True,
            )
    print(f"load average (1 min) at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
