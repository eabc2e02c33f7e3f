"""Start-up probe: how soon a second ``stresstest run`` is computing.

    python benchmarks/bench_startup.py [--smoke] [--write]

``python -m stresstest run --out TMP --quiet`` on scenarios/default.toml (1M
positions x 1,000 paths x 720 steps) runs twice in subprocesses; the second one
loads the kernels from numba's on-disk cache. A driver then repeats the same
pipeline through the public API with timestamps: interpreter start, imports,
book build and sort, first ``replay_all`` (kernels loaded from the cache +
compute) and a second, warm ``replay_all`` (compute only). Target (e): computing
starts within 2 s of launch.

``--smoke`` does the same on a tiny scenario (2,000 positions x 8 paths) written
to a temporary folder. ``--write`` replaces the text between
``<!-- startup:begin -->`` and ``<!-- startup:end -->`` in docs/performance.md
and touches nothing else.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import tomli_w  # noqa: E402

from benchmarks.engine_cases import scenario_dict  # noqa: E402
from benchmarks.harness import cli  # noqa: E402

SECTION = "startup"
DEFAULT_SCENARIO = REPO / "scenarios" / "default.toml"
SMOKE_POSITIONS, SMOKE_PATHS = 2_000, 8
#: Target (e): launch to computing, s.
TO_COMPUTING_TARGET = 2.0

STARTUP_DRIVER = r"""
import time
t_main = time.time()
import json, sys
out_file, scenario_file = sys.argv[1], sys.argv[2]
import stresstest.cli, stresstest.engine.jobs  # what `stresstest run` imports
from stresstest.book import sort_book
from stresstest.engine.run import build_book, replay_all
from stresstest.paths.gbm import GbmPathSource
from stresstest.scenario import load_scenario
t_imported = time.time()
scenario = load_scenario(scenario_file)
source = GbmPathSource(scenario.paths, scenario.seed)
sorted_book = sort_book(build_book(scenario, source.start_price()))
t_book = time.time()
first_chunk = []
def progress(done, total):
    if done > 0 and not first_chunk:
        first_chunk.append(time.time())
replay_all(scenario, source, sorted_book, chunk_size=None, progress=progress)
t_replayed = time.time()
started = time.perf_counter()
replay_all(scenario, source, sorted_book, chunk_size=None, progress=None)
warm = time.perf_counter() - started
with open(out_file, "w") as handle:
    json.dump({"t_main": t_main, "t_imported": t_imported, "t_book": t_book,
               "t_first_chunk": first_chunk[0], "t_replayed": t_replayed,
               "warm_replay": warm}, handle)
"""


def measure_startup(scenario_file: Path | None = None) -> dict[str, float]:
    """Wall times of ``python -m stresstest run --out TMP --quiet`` run twice, and a breakdown.

    Parameters
    ----------
    scenario_file : Path, optional
        The scenario to run; the shipped scenarios/default.toml when None.

    Returns
    -------
    dict
        Seconds: ``first_run``, ``second_run`` (total walls, writing the result
        folder included), ``interpreter``, ``imports``, ``book``, ``first_replay``,
        ``warm_replay``, ``cache_load``, ``to_computing``, ``to_first_chunk``
        (the last two from process launch).
    """
    scenario_arguments = [] if scenario_file is None else [str(scenario_file)]
    with tempfile.TemporaryDirectory() as tmp:
        walls = []
        for index in (1, 2):
            command = [sys.executable, "-m", "stresstest", "run", *scenario_arguments, "--out"]
            command += [str(Path(tmp) / f"run{index}"), "--quiet"]
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, cwd=tmp)
            walls.append(time.perf_counter() - started)
        out_file = Path(tmp) / "startup.json"
        launched = time.time()
        subprocess.run(
            [
                sys.executable,
                "-c",
                STARTUP_DRIVER,
                str(out_file),
                str(scenario_file or DEFAULT_SCENARIO),
            ],
            check=True,
            capture_output=True,
            cwd=tmp,
        )
        marks = json.loads(out_file.read_text())
    first_replay = marks["t_replayed"] - marks["t_book"]
    return {
        "first_run": walls[0],
        "second_run": walls[1],
        "interpreter": marks["t_main"] - launched,
        "imports": marks["t_imported"] - marks["t_main"],
        "book": marks["t_book"] - marks["t_imported"],
        "first_replay": first_replay,
        "warm_replay": marks["warm_replay"],
        "cache_load": max(0.0, first_replay - marks["warm_replay"]),
        "to_computing": marks["t_book"] - launched,
        "to_first_chunk": marks["t_first_chunk"] - launched,
    }


def render(startup: dict[str, float], case: str, judged: bool) -> str:
    """The start-up section: the breakdown table and target (e)."""
    if judged:
        verdict = "met" if startup["to_computing"] < TO_COMPUTING_TARGET else "missed"
        target = (
            f"**{verdict}** (computing starts {startup['to_computing']:.2f} s after launch, "
            f"first chunk done at {startup['to_first_chunk']:.2f} s)."
        )
    else:
        target = f"not judged (smoke run on {case})."
    return "\n".join(
        [
            "### Start-up of a second `stresstest run`",
            "",
            f"`python -m stresstest run --out TMP --quiet` on {case}, twice in subprocesses; "
            "the second one loads the kernels from numba's on-disk cache. A driver then "
            "repeats the same pipeline through the public API with timestamps (process "
            "launch = 0):",
            "",
            "| | seconds |",
            "|---|---:|",
            f"| first run, total wall | {startup['first_run']:.2f} |",
            f"| **second run, total wall** (incl. writing the result folder) | "
            f"{startup['second_run']:.2f} |",
            f"| interpreter start-up | {startup['interpreter']:.2f} |",
            f"| imports (stresstest, numpy, numba, polars, typer...) | {startup['imports']:.2f} |",
            f"| scenario + synthetic 1M book + sort | {startup['book']:.2f} |",
            f"| first `replay_all` (kernels loaded from cache + compute) "
            f"| {startup['first_replay']:.2f} |",
            f"| same `replay_all` again (compute only) | {startup['warm_replay']:.2f} |",
            f"| => compile-cache load | {startup['cache_load']:.2f} |",
            f"| **launch -> computing starts** | {startup['to_computing']:.2f} |",
            f"| **launch -> first chunk computed** | {startup['to_first_chunk']:.2f} |",
            "",
            f"Import + compile-cache load: {startup['imports'] + startup['cache_load']:.2f} s.",
            "",
            f"- (e) second `stresstest run` computing within 2 s: {target}",
        ]
    )


def run(options: argparse.Namespace) -> str:
    """Run ``stresstest run`` twice and the timestamped driver; the start-up section."""
    if not options.smoke:
        startup = measure_startup()
        case = "scenarios/default.toml (1M positions x 1,000 paths x 720 steps)"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            scenario_file = Path(tmp) / "smoke.toml"
            raw: dict[str, Any] = scenario_dict(SMOKE_POSITIONS, SMOKE_PATHS, "static")
            scenario_file.write_text(tomli_w.dumps(raw), encoding="utf-8")
            startup = measure_startup(scenario_file)
        case = f"a tiny scenario ({SMOKE_POSITIONS:,} positions x {SMOKE_PATHS} paths x 720 steps)"
    cli.say(
        f"second run {startup['second_run']:.2f} s; computing after {startup['to_computing']:.2f} s"
    )
    return render(startup, case, judged=not options.smoke)


FAMILY = cli.Family(SECTION, __doc__, run)
main = cli.main_function(FAMILY)

if __name__ == "__main__":
    sys.exit(main())
