"""End to end: ``stresstest run`` from launch to the result folder, against the kernel.

    python benchmarks/bench_startup.py [--smoke] [--write] [--runs N] [--before DIR]
                                       [--set KEY=VALUE ...]

Verified first, timed after. The command of the README, ``python -m stresstest run
--out DIR`` on scenarios/default.toml (1M positions x 1,000 GJR-t paths x 720 steps),
runs once from this tree and once as a reference with ``--threads 1`` and another
chunk size (results do not depend on either); every file of the two result folders
must have the same SHA-256 (``scenario.resolved.toml`` after its
``[provenance] scenario_file``, which names the tree's own scenario file). With
``--before DIR`` (an earlier tree: ``git archive COMMIT | tar -x -C DIR``) the
earlier tree's result folder must have the same bytes too. A difference exits 1
before anything is timed.

Then ``--runs`` rounds (each tree's bytecode compiled, as ``pip install .`` leaves
it, and one warm-up run per tree: numba's compile cache and the OS file cache warm),
each running, per tree, alternately so both see the same
machine load:

- the command itself in a fresh interpreter: wall time from launch until it exits
  with the result folder written, and its CPU time (user + sys);
- the same command through a driver that runs the CLI in-process with each part
  timed exclusively (a part's time excludes the parts nested in it): interpreter
  start-up, imports, numba loading compiled kernels from its cache, building the
  book, sorting it, cohorting it, the rest of the plan and the plausibility checks,
  path generation, the replay kernel, the per-step quantile files, the rest of
  writing the result folder, checkpoint writes, everything else, and the exit
  (from the driver's last line until the process has ended).

The kernel time is path generation + replay; the overhead is the command's median
wall time minus the driver's median kernel time. Target: within 1 s.

``--smoke`` does the same on a tiny scenario (2,000 positions x 8 paths) with one
round. ``--set`` passes overrides to every run (``--set paths.n_paths=5000``).
``--write`` replaces the text between ``<!-- startup:begin -->`` and
``<!-- startup:end -->`` in docs/performance.md and touches nothing else.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import statistics
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
from benchmarks.harness.machine import load_average, machine_description  # noqa: E402
from benchmarks.harness.parity import require  # noqa: E402

SECTION = "startup"
#: The result folder's manifest of files (io/atomic.py).
MANIFEST = ".stresstest-manifest.json"
SMOKE_POSITIONS, SMOKE_PATHS = 2_000, 8
#: Target: launch to result folder within this many seconds of the kernel time.
OVERHEAD_TARGET = 1.0
#: Issue 19's target on 1M positions x 100k paths x 720 steps: the command within this
#: multiple of the kernel time (generation + replay).
RATIO_TARGET = 1.5

#: Parts the driver times, in the order of the table: (key, label).
PARTS = (
    ("interpreter", "interpreter start-up (launch -> first line)"),
    ("imports", "imports (outside numba's cache loading)"),
    ("numba", "numba: compiled kernels loaded from the cache"),
    ("book_build", "book: build (synthetic draws or file read)"),
    ("book_sort", "book: thresholds and their sort"),
    ("book_sorted", "book: sorted sides and prefix sums"),
    ("book_cohorts", "book: cohort order and prefix sums"),
    ("plan", "plan and plausibility checks (rest of preparation)"),
    ("paths", "kernel: path generation"),
    ("replay", "kernel: replay"),
    ("quantiles", "per-step quantile files (`column_bands`)"),
    ("writing", "writing the rest of the result folder"),
    ("checkpoints", "checkpoint writes"),
    ("other", "everything else (scenario load, CLI, console, locks)"),
    ("exit", "exit: interpreter teardown after the last line"),
)

#: Runs ``python -m stresstest run ...`` in-process with exclusive timers. Functions a
#: tree does not have are skipped, so an earlier tree can be measured the same way.
DRIVER = r"""
import time
t_start, cpu_start = time.time(), time.process_time()
import builtins, importlib, json, sys
out_file, argv = sys.argv[1], sys.argv[2:]
totals, cpu_totals = {}, {}
stack = []  # [part, started, nested seconds, CPU started, nested CPU seconds]

def enter(part):
    stack.append([part, time.perf_counter(), 0.0, time.process_time(), 0.0])

def leave():
    part, started, nested, cpu_started, cpu_nested = stack.pop()
    spent, cpu_spent = time.perf_counter() - started, time.process_time() - cpu_started
    totals[part] = totals.get(part, 0.0) + spent - nested
    cpu_totals[part] = cpu_totals.get(part, 0.0) + cpu_spent - cpu_nested
    if stack:
        stack[-1][2] += spent
        stack[-1][4] += cpu_spent

def timed(part, function):
    def wrapper(*args, **kwargs):
        enter(part)
        try:
            return function(*args, **kwargs)
        finally:
            leave()
    wrapper.__wrapped__ = function
    return wrapper

real_import = builtins.__import__
def timed_import(*args, **kwargs):
    if stack and stack[-1][0] in ("imports", "numba"):
        return real_import(*args, **kwargs)  # counted by the enclosing frame
    enter("imports")
    try:
        return real_import(*args, **kwargs)
    finally:
        leave()
builtins.__import__ = timed_import

def patch(module_name, attribute, part):
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return
    owner, name = module, attribute
    if "." in attribute:
        owner_name, name = attribute.split(".")
        owner = getattr(module, owner_name, None)
    original = getattr(owner, name, None) if owner is not None else None
    if original is None:
        return
    wrapper = timed(part, original)
    setattr(owner, name, wrapper)
    for other in list(sys.modules.values()):  # names bound by `from module import name`
        namespace = getattr(other, "__dict__", None)
        if namespace is None or other is module:
            continue
        for key, value in list(namespace.items()):
            if value is original:
                namespace[key] = wrapper

enter("other")
import stresstest.cli
getattr(stresstest.cli, "tune_process", lambda: None)()  # main() does it before numpy
for module_name, attribute, part in [
    ("numba.core.dispatcher", "Dispatcher.compile", "numba"),
    ("stresstest.engine.run", "build_book", "book_build"),
    ("stresstest.book.sorted_book", "threshold_orders", "book_sort"),
    ("stresstest.book.sorted_book", "sort_book", "book_sorted"),
    ("stresstest.book.cohorts", "cohort_book", "book_cohorts"),
    ("stresstest.engine.run", "prepare", "plan"),
    ("stresstest.paths.gbm", "GbmPathSource.chunk", "paths"),
    ("stresstest.paths.garch", "GarchPathSource.chunk", "paths"),
    ("stresstest.engine.plan", "replay_chunk", "replay"),
    ("stresstest.engine.result", "step_quantiles", "quantiles"),
    ("stresstest.engine.result", "Result.write", "writing"),
    ("stresstest.engine.checkpoint", "Checkpoint.flush", "checkpoints"),
]:
    patch(module_name, attribute, part)
exit_now = getattr(stresstest.cli, "exit_now", None)  # the command's own way out, if any
def raise_exit(code):
    raise SystemExit(code)
stresstest.cli.exit_now = raise_exit
sys.argv = ["stresstest", *argv]
try:
    stresstest.cli.main()
except SystemExit as stop:
    assert stop.code in (0, None), stop.code
leave()
assert not stack
with open(out_file, "w") as handle:
    json.dump({"t_start": t_start, "t_end": time.time(), "parts": totals,
               "cpu": {**cpu_totals, "interpreter": cpu_start},
               "cpu_total": time.process_time()}, handle)
if exit_now is not None:
    exit_now(0)  # then leave as the command does: the parent times the exit
"""


def files_digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file of a result folder, by name; ``scenario_file`` blanked.

    ``scenario.resolved.toml`` names the scenario file of the tree that ran, so that
    line is blanked, and the manifest's entry for that file is left out.
    """
    digests = {}
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        if path.name == "scenario.resolved.toml":
            data = re.sub(rb'(?m)^scenario_file = ".*"$', b'scenario_file = ""', data)
        elif path.name == MANIFEST:  # it records the resolved scenario's hash and size too
            manifest = json.loads(data)
            manifest.get("entries", {}).pop("scenario.resolved.toml", None)
            data = json.dumps(manifest, sort_keys=True).encode()
        digests[path.name] = hashlib.sha256(data).hexdigest()
    return digests


def environment(root: Path) -> dict[str, str]:
    """This environment with ``root`` first on ``PYTHONPATH``."""
    return {**os.environ, "PYTHONPATH": str(root)}


def run_command(root: Path, arguments: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + sys) seconds of ``python -m stresstest run ARGS`` from ``root``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "stresstest", "run", *arguments],
        check=True,
        capture_output=True,
        cwd=root,
        env=environment(root),
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_driver(root: Path, arguments: list[str], out_file: Path) -> dict[str, float]:
    """Exclusive seconds per part of one in-process run (:data:`PARTS`), and its total."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    launched = time.time()
    subprocess.run(
        [sys.executable, "-c", DRIVER, str(out_file), "run", *arguments],
        check=True,
        capture_output=True,
        cwd=root,
        env=environment(root),
    )
    ended = time.time()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    marks = json.loads(out_file.read_text())
    parts = {key: 0.0 for key, _ in PARTS}
    parts.update(marks["parts"])
    parts["interpreter"] = marks["t_start"] - launched
    parts["exit"] = ended - marks["t_end"]
    parts["total"] = ended - launched
    parts["kernel"] = parts["paths"] + parts["replay"]
    cpu = {f"cpu_{key}": 0.0 for key, _ in PARTS}
    cpu.update({f"cpu_{key}": value for key, value in marks["cpu"].items()})
    cpu["cpu_total"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cpu["cpu_exit"] = cpu["cpu_total"] - marks["cpu_total"]
    cpu["cpu_kernel"] = cpu["cpu_paths"] + cpu["cpu_replay"]
    cpu["cpu_overhead"] = cpu["cpu_total"] - cpu["cpu_kernel"]
    return {**parts, **cpu}


def verify(trees: dict[str, Path], scenario: list[str], tmp: Path) -> dict[str, str]:
    """Every tree's result folder = this tree's reference run (one thread, other chunks)."""
    reference = tmp / "reference"
    run_command(REPO, [*scenario, "--out", str(reference), "--quiet", "--threads", "1"])
    expected = files_digest(reference)
    n_paths = json.loads((reference / "summary.json").read_text()).get("n_paths")
    chunk = max(1, int(n_paths) // 3 + 1) if isinstance(n_paths, int) else 1
    # the reference again in other chunks: results must not depend on them either
    rechunked = tmp / "rechunked"
    run_command(REPO, [*scenario, "--out", str(rechunked), "--quiet", "--chunk-size", str(chunk)])
    require(files_digest(rechunked) == expected, "chunked run differs from the reference")
    for name, root in trees.items():
        folder = tmp / f"verify-{name}"
        run_command(root, [*scenario, "--out", str(folder)])
        require(
            files_digest(folder) == expected,
            f"{name} tree: result files differ from the reference run",
        )
        shutil.rmtree(folder)
    return expected


def measure(
    trees: dict[str, Path], scenario: list[str], runs: int
) -> tuple[dict[str, str], dict[str, dict[str, list[float]]]]:
    """Verify, then time every tree ``runs`` times, alternating: lists of seconds by key."""
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    for root in trees.values():  # as `pip install .` leaves it: bytecode compiled
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(root / "stresstest")], check=True
        )
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        digests = verify(trees, scenario, tmp)
        for root in trees.values():  # warm-up: compile cache, OS file cache
            run_command(root, [*scenario, "--out", str(tmp / "warm")])
        for round_index in range(runs):
            for name, root in trees.items():
                out = tmp / f"{name}-{round_index}"
                wall, cpu = run_command(root, [*scenario, "--out", str(out)])
                require(files_digest(out) == digests, f"{name}: timed run's files differ")
                shutil.rmtree(out)
                parts = run_driver(root, [*scenario, "--out", str(out)], tmp / "driver.json")
                require(files_digest(out) == digests, f"{name}: driver run's files differ")
                shutil.rmtree(out)
                for key, value in {"wall": wall, "cpu": cpu, **parts}.items():
                    samples[name].setdefault(key, []).append(value)
                cli.say(
                    f"round {round_index + 1}/{runs} {name}: wall {wall:.2f} s, cpu {cpu:.2f} s"
                )
    return digests, samples


def invocation() -> str:
    """This benchmark's options as given (``--write`` left out), an earlier tree as ``DIR``."""
    words, hide = [], False
    for word in sys.argv[1:]:
        if word != "--write":
            words.append("DIR" if hide else word)
        hide = word == "--before"
    return " ".join(words)


def render(
    samples: dict[str, dict[str, list[float]]],
    case: str,
    command: str,
    runs: int,
    loads: tuple[float, float],
    judged: bool,
) -> str:
    """The section: the command's wall and CPU, the parts, the overhead and the target."""
    names = list(samples)

    def median(name: str, key: str) -> float:
        return statistics.median(samples[name][key])

    header = (
        "| | "
        + " | ".join(f"{name}: wall s, median (range) | {name}: CPU s" for name in names)
        + " |"
    )
    rule = "|---|" + "---:|---:|" * len(names)

    def cell(name: str, key: str) -> str:
        values = samples[name][key]
        return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"

    def row(label: str, key: str, cpu_key: str | None, bold: bool = False) -> str:
        cells = []
        for name in names:
            texts = [cell(name, key), f"{median(name, cpu_key):.2f}" if cpu_key else "-"]
            cells += [f"**{text}**" if bold else text for text in texts]
        return f"| {label} | " + " | ".join(cells) + " |"

    lines = [
        "### End to end: `stresstest run` against the kernel",
        "",
        f"Machine: {machine_description()} Load average {loads[0]:.1f} at the start and "
        f"{loads[1]:.1f} at the end (other jobs shared the 2 cores: wall times are noisy, "
        "CPU times less so).",
        "",
        f"Benchmark: `python benchmarks/bench_startup.py {invocation()}`. "
        f"Command: `{command}`. Case: {case}. Verified before timing: the result folder "
        "of every tree has the same SHA-256, file by file, as a reference run with "
        "`--threads 1` and as one in other chunks; every timed run's folder is checked "
        f"again. {runs} round(s) after a warm-up run (bytecode compiled as `pip install .` "
        "leaves it, numba's compile cache warm), the "
        "trees alternating in each round; medians (wall with its range). CPU is user + "
        "sys of the process, all threads (the replay runs on 2).",
        "",
        header,
        rule,
        row("**launch -> result folder written** (the command)", "wall", "cpu", bold=True),
        row("timed driver, launch to exit (the parts below sum to it)", "total", "cpu_total"),
    ]
    lines += [row(label, key, f"cpu_{key}") for key, label in PARTS]
    lines.append(row("**kernel time** (path generation + replay)", "kernel", "cpu_kernel", True))
    overheads = {name: median(name, "wall") - median(name, "kernel") for name in names}
    lines.append(
        "| **overhead**: command wall - kernel wall; CPU of all but the kernel | "
        + " | ".join(
            f"**{overheads[name]:.2f}** | **{median(name, 'cpu_overhead'):.2f}**" for name in names
        )
        + " |"
    )
    last = names[-1]
    if judged:
        verdict = "met" if overheads[last] <= OVERHEAD_TARGET else "missed"
        target = (
            f"**{verdict}** on this load ({overheads[last]:.2f} s of wall time over the "
            f"kernel's {median(last, 'kernel'):.2f} s); the CPU time of all but the kernel was "
            f"{median(last, 'cpu_overhead'):.2f} s (CPU above the wall time means parts of "
            f"it ran on both cores)."
        )
    else:
        target = f"not judged (smoke run on {case})."
    lines += ["", f"- End to end within {OVERHEAD_TARGET:.0f} s of the kernel time: {target}"]
    if judged:
        ratio = median(last, "wall") / median(last, "kernel")
        verdict = "met" if ratio <= RATIO_TARGET else "missed"
        lines.append(
            f"- End to end within {RATIO_TARGET}x of the kernel time (issue 19's target for "
            f"1M positions x 100k paths x 720 steps): **{verdict}** on this load "
            f"({ratio:.2f}x)."
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--before", type=Path, help="an earlier tree, timed alternately")
    parser.add_argument(
        "--set", dest="sets", action="append", default=[], help="scenario override KEY=VALUE"
    )


def run(options: argparse.Namespace) -> str:
    """Verify the result folders, then time the command and its parts."""
    trees = {"before": options.before, "after": REPO} if options.before else {"now": REPO}
    sets = [text for value in options.sets for text in ("--set", value)]
    loads = [load_average()]
    if not options.smoke:
        scenario: list[str] = [*sets]
        case = "scenarios/default.toml (1M positions x 1,000 GJR-t paths x 720 steps)"
        if options.sets:
            case += " with " + ", ".join(f"`{value}`" for value in options.sets)
        digests, samples = measure(trees, scenario, options.runs)
        runs = options.runs
    else:
        with tempfile.TemporaryDirectory() as tmp:
            scenario_file = Path(tmp) / "smoke.toml"
            raw: dict[str, Any] = scenario_dict(SMOKE_POSITIONS, SMOKE_PATHS, "static")
            scenario_file.write_text(tomli_w.dumps(raw), encoding="utf-8")
            digests, samples = measure(trees, [str(scenario_file), *sets], 1)
        case = f"a tiny scenario ({SMOKE_POSITIONS:,} positions x {SMOKE_PATHS} paths x 720 steps)"
        runs = 1
    loads.append(load_average())
    cli.say(f"verified {len(digests)} result files identical")
    command = "python -m stresstest run --out DIR" + "".join(
        f" --set {value}" for value in options.sets
    )
    return render(samples, case, command, runs, (loads[0], loads[1]), judged=not options.smoke)


FAMILY = cli.Family(SECTION, __doc__, run, add_arguments=add_arguments)
main = cli.main_function(FAMILY)

if __name__ == "__main__":
    sys.exit(main())
