"""The ``stresstest`` command line: thin typer commands over one engine call each."""

from __future__ import annotations

import atexit
import gc
import json
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from stresstest._version import __version__
from stresstest.errors import InputError

#: Help texts are Rich markup: write a literal "[table]" as r"\[table]".
app = typer.Typer(
    name="stresstest",
    help="Stress-test margin, liquidation and insurance-fund designs over many price paths.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)
out_console = Console()


def complete_scenario(incomplete: str) -> list[str]:
    """Shell completion of a SCENARIO argument (:mod:`stresstest.completion`, loaded only
    when completing: the scenario package imports numpy)."""
    from stresstest.completion import complete_scenario as complete

    return complete(incomplete)


def complete_result_folder(incomplete: str) -> list[str]:
    """Shell completion of report's RESULT argument (:mod:`stresstest.completion`)."""
    from stresstest.completion import complete_result_folder as complete

    return complete(incomplete)


#: How a SCENARIO argument is found (scenario/embedded.py, resolve_scenario).
SCENARIO_LOOKUP = (
    "or the name of a shipped scenario (stresstest scenarios), e.g. default; "
    "a file of that name in the current folder wins."
)
ScenarioArgument = Annotated[
    Path | None,
    typer.Argument(
        help=f"Scenario TOML file, {SCENARIO_LOOKUP} The shipped default if omitted.",
        show_default=False,
        autocompletion=complete_scenario,
    ),
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Result folder, default runs/<name>; an earlier result is replaced whole, "
        "a folder holding anything else is refused, and so is runs/<name> holding the "
        "results of another scenario file of that name.",
    ),
]
ChunkOption = Annotated[
    int | None,
    typer.Option("--chunk-size", min=1, help="Paths per chunk; results do not depend on it."),
]
ThreadsOption = Annotated[
    int | None,
    typer.Option("--threads", min=1, help="Numba threads; results do not depend on it."),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")]
ResumeOption = Annotated[
    bool,
    typer.Option("--resume", help="Continue an interrupted run from its checkpointed chunks."),
]
#: The choices of --executor, --match, --template, --model, --dist and --mean, written out
#: (the CLI must not import the modules that hold them to start); tests/test_cli_conveniences.py
#: checks each against the library's own list.
Executor = Literal["local", "dask"]
MatchKind = Literal["cost", "risk"]
TemplateName = Literal["gbm", "garch", "historical", "compare", "vol_scaled"]
FitModel = Literal["garch", "gjr", "egarch"]
FitDist = Literal["normal", "t", "skewt"]
FitMean = Literal["zero", "constant"]

ExecutorOption = Annotated[
    Executor,
    typer.Option("--executor", help="'local' (numba threads) or 'dask' (dask.distributed)."),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option("--scheduler", help="Dask scheduler address; a local cluster if omitted."),
]
ReportOption = Annotated[
    Path | None,
    typer.Option("--report", help="Then write the PDF report of the results to this file."),
]
PngOption = Annotated[
    bool, typer.Option("--png", help="With the report, also one PNG per page beside the PDF.")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a scenario key, repeatable: a dotted key into the tables and a TOML "
        "value, e.g. --set margin.maintenance=0.01 --set 'scenario.name=\"x\"'. Applied "
        "before validation and recorded in scenario.resolved.toml.",
    ),
]

StrictOption = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Exit with status 2 on any plausibility warning (docs/plausibility.md); "
        "nothing is written.",
    ),
]


def _warn(message: str) -> None:
    """One ``warning: ...`` line on stderr (a checkpoint chunk recomputed, a plausibility)."""
    text = Text.assemble(("warning:", "bold yellow"), " ", message)
    err_console.print(text, soft_wrap=True, highlight=False)


@contextmanager
def warnings_shown(*categories: type[Warning]) -> Iterator[None]:
    """Print every plausibility warning (and ``categories``) once, as one line on stderr."""
    from stresstest.errors import warnings_to
    from stresstest.scenario.plausibility import PlausibilityWarning

    with warnings_to(_warn, PlausibilityWarning, *categories):
        yield


def _print_version(value: bool) -> None:
    """``--version``: print ``stresstest X.Y.Z`` and stop before any command runs."""
    if value:
        out_console.print(f"stresstest {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the stresstest version and exit.",
        ),
    ] = False,
) -> None:
    """Stress-test margin, liquidation and insurance-fund designs over many price paths."""


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM ends the command as an exception does: staging folders and locks are removed."""
    raise SystemExit(128 + signum)


@contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """While the command works, turn SIGTERM into ``SystemExit`` (exit status 143).

    Python's default SIGTERM kills the process without unwinding, which would leave
    a hidden staging folder beside ``--out``. Only in the main thread, and only if
    no other handler is installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def input_errors() -> Iterator[None]:
    """Turn bad input (and unwritable output) into a one-line message on stderr and exit
    status 2; SIGTERM meanwhile ends the command with cleanup (:func:`_terminate_cleanly`)."""
    try:
        with _terminate_cleanly():
            yield
    except InputError as error:
        # Plain text, one line a problem: file names may hold "[...]", and logs are grepped.
        for problem in getattr(error, "errors", (error,)):  # several: CombinedInputError
            message = Text.assemble(("error:", "bold red"), " ", str(problem))
            err_console.print(message, soft_wrap=True, highlight=False)
        raise typer.Exit(code=2) from None


#: compare keeps no checkpoints (jobs.py, compare_to_dir), so nothing is left to resume.
COMPARE_INTERRUPTED = "compare keeps no checkpoints, so rerunning starts over"


@contextmanager
def _interrupted(hint: Callable[[Path | None], str]) -> Iterator[None]:
    """Ctrl-C: one line on stderr (``hint(checkpoint folder or None)``), exit status 130.

    No traceback: the output folder was never published (written whole or not at
    all) and its staging folder and lock are removed as the exception unwinds.
    """
    try:
        yield
    except KeyboardInterrupt as stop:
        checkpoint = getattr(stop, "checkpoint_dir", None)  # a RunInterrupted knows it
        message = Text.assemble(("interrupted:", "bold yellow"), " ", hint(checkpoint))
        err_console.print(message, soft_wrap=True, highlight=False)
        raise typer.Exit(code=130) from None


@contextmanager
def progress_bar(enabled: bool, description: str) -> Iterator[Any]:
    """A rich progress bar; yields a ``progress(done, total)`` callback."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@app.command("run")
def run_command(
    scenario: ScenarioArgument = None,
    out: OutOption = None,
    chunk_size: ChunkOption = None,
    threads: ThreadsOption = None,
    quiet: QuietOption = False,
    json_output: JsonOption = False,
    resume: ResumeOption = False,
    executor: ExecutorOption = "local",
    scheduler: SchedulerOption = None,
    report: ReportOption = None,
    png: PngOption = False,
    sets: SetOption = None,
    strict: StrictOption = False,
) -> None:
    """Replay the scenario's book over its paths and write paths.parquet, summary.json and
    scenario.resolved.toml to the result folder."""
    from stresstest.engine.checkpoint import CheckpointWarning, resume_hint
    from stresstest.jobs import run_to_dir

    again = shlex.join(  # the command that continues this run; --set changes the fingerprint
        [
            "stresstest",
            "run",
            *([str(scenario)] if scenario is not None else []),
            *(["--out", str(out)] if out is not None else []),
            *(text for value in sets or () for text in ("--set", value)),
            "--resume",
        ]
    )

    started = time.perf_counter()
    with (
        _interrupted(lambda checkpoint: resume_hint(checkpoint, again)),
        input_errors(),
        warnings_shown(CheckpointWarning),
        progress_bar(not quiet and not json_output, "replaying paths") as update,
    ):
        _check_report(report, png)
        result, target = run_to_dir(
            scenario,
            out,
            chunk_size=chunk_size,
            threads=threads,
            progress=update,
            executor=executor,
            scheduler=scheduler,
            resume=resume,
            sets=sets or (),
            strict=strict,
        )
    _write_report(target, report, png=png, verbose=not quiet and not json_output)
    summary = result.summary()
    if json_output:
        sys.stdout.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return
    if not quiet:
        from stresstest.console_tables import attribution_table, summary_table

        out_console.print(summary_table(summary))
        out_console.print(attribution_table(summary["attribution"]))
        if "appetite" in result.scenario.raw:  # the checks' module only when there is a table
            from stresstest.check.appetite import appetite_lines

            for line in appetite_lines(result):
                out_console.print(Text(line), soft_wrap=True)
        elapsed = time.perf_counter() - started
        out_console.print(f"wrote {target} in {elapsed:.1f} s")


MatchOption = Annotated[
    MatchKind | None,
    typer.Option(
        "--match",
        help="'cost': match each vol_scaled variant with the static rate of equal average "
        "requirement; 'risk': of equal ES99 bad debt. Every matching rate in [1e-4, 0.5] is "
        "searched for (a scan, then Brent) and the lowest is used (docs/compare.md).",
    ),
]


@app.command("compare")
def compare_command(
    scenario: Annotated[
        Path,
        typer.Argument(
            help=rf"Scenario TOML file with a \[compare] table, {SCENARIO_LOOKUP}",
            autocompletion=complete_scenario,
        ),
    ],
    out: OutOption = None,
    match: MatchOption = None,
    chunk_size: ChunkOption = None,
    threads: ThreadsOption = None,
    quiet: QuietOption = False,
    json_output: JsonOption = False,
    executor: ExecutorOption = "local",
    scheduler: SchedulerOption = None,
    report: ReportOption = None,
    png: PngOption = False,
    sets: SetOption = None,
    strict: StrictOption = False,
) -> None:
    r"""Replay every variant of the scenario's \[compare] table on the same paths and write
    compare.parquet, differences.parquet, compare.json and variants/NAME/."""
    from stresstest.comparison.output import compare_document
    from stresstest.jobs import compare_to_dir

    started = time.perf_counter()
    with (
        _interrupted(lambda _: COMPARE_INTERRUPTED),
        input_errors(),
        warnings_shown(),
        progress_bar(not quiet and not json_output, "replaying variants") as update,
    ):
        _check_report(report, png)
        comparison, target = compare_to_dir(
            scenario,
            out,
            match=match,
            chunk_size=chunk_size,
            threads=threads,
            progress=update,
            executor=executor,
            scheduler=scheduler,
            sets=sets or (),
            strict=strict,
        )
    _write_report(target, report, png=png, verbose=not quiet and not json_output)
    if json_output:
        sys.stdout.write(json.dumps(compare_document(comparison), indent=2, sort_keys=True) + "\n")
        return
    if not quiet:
        from stresstest.comparison.output import compare_frame
        from stresstest.console_tables import compare_table

        out_console.print(compare_table(comparison.scenario.name, compare_frame(comparison)))
        for found in comparison.matches:
            out_console.print(Text(found.verdict or f"{found.variant}: no match"), soft_wrap=True)
        if "appetite" in comparison.scenario.raw:
            out_console.print(
                "note: compare does not check [appetite]; stresstest check does", markup=False
            )
        out_console.print(f"wrote {target} in {time.perf_counter() - started:.1f} s")


def _check_report(report: Path | None, png: bool) -> None:
    """Refuse a bad --report path (or --png without --report) before any work."""
    if report is None and png:
        raise InputError("--png needs --report", key="--png", expected="--report NAME.pdf")
    if report is not None:  # the report package only when a report is asked for
        from stresstest.report.target import check_report_path

        check_report_path(report)


def _write_report(result_dir: Path, report: Path | None, *, png: bool, verbose: bool) -> None:
    """With --report, write the report of the result folder just written."""
    if report is None:
        return
    from stresstest.report.build import report_to_file

    with input_errors():
        written = report_to_file(result_dir, report, png=png)
    if verbose:
        extra = f" and {len(written) - 1} PNG files" if len(written) > 1 else ""
        out_console.print(f"wrote {written[0]}{extra}")


@app.command("report")
def report_command(
    result: Annotated[
        Path,
        typer.Argument(
            help="Result folder of stresstest run or stresstest compare.",
            autocompletion=complete_result_folder,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="PDF to write (replaced whole); default reports/<folder>.pdf."
        ),
    ] = None,
    png: Annotated[
        bool, typer.Option("--png", help="Also one PNG per page beside the PDF: NAME-NN-page.png.")
    ] = False,
    quiet: QuietOption = False,
) -> None:
    """Write the PDF report of a run or comparison folder, drawn only from its files."""
    from stresstest.report.build import report_to_file

    with input_errors():
        written = report_to_file(result, out, png=png)
    if not quiet:
        for path in written:
            out_console.print(f"wrote {path}")


@app.command("backtest")
def backtest_command(
    data: Annotated[Path, typer.Argument(help="Candle file (CSV or Parquet) to backtest on.")],
    scenario: Annotated[Path, typer.Argument(help=r"Scenario whose \[margin] is tested.")],
    coverage: Annotated[float, typer.Option(help="Target coverage per side.")] = 0.99,
    horizon: Annotated[
        int | None,
        typer.Option(min=1, help="Steps; default margin.horizon_steps or latency_steps."),
    ] = None,
    stride: Annotated[
        int | None, typer.Option(min=1, help="Steps between windows; default the horizon.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write backtest.json and windows.parquet.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Margin coverage backtest: how often the move over the horizon exceeded the margin in
    force, with Kupiec and Christoffersen tests."""
    from stresstest.backtest.coverage import backtest, backtest_document, write_backtest

    with input_errors():
        if out is not None:
            from stresstest.io.atomic import check_output_dir

            check_output_dir(out)
        result = backtest(data, scenario, coverage=coverage, horizon_steps=horizon, stride=stride)
        if out is not None:
            write_backtest(result, out)
    if json_output:
        sys.stdout.write(json.dumps(backtest_document(result), indent=2, sort_keys=True) + "\n")
        return
    table = Table(
        title=f"coverage backtest: {result.data.name}, horizon {result.horizon_steps} steps, "
        f"stride {result.stride}, target {result.coverage:.1%}",
        title_justify="left",
    )
    for label in (
        "side",
        "windows",
        "exceptions",
        "rate",
        "expected",
        "p Kupiec",
        "p indep.",
        "p cc",
    ):
        table.add_column(label, justify="left" if label == "side" else "right")
    for side, test in result.tests.items():
        table.add_row(
            side,
            f"{test.n:,}",
            f"{test.exceptions:,}",
            f"{test.rate:.4f}",
            f"{test.expected_rate:.4f}",
            f"{test.p_pof:.3g}",
            f"{test.p_ind:.3g}",
            f"{test.p_cc:.3g}",
        )
    out_console.print(table)


@app.command("validate")
def validate_command(
    scenario: Annotated[
        Path,
        typer.Argument(
            help=f"Scenario TOML file to check, {SCENARIO_LOOKUP}",
            autocompletion=complete_scenario,
        ),
    ],
    json_output: JsonOption = False,
    sets: SetOption = None,
    strict: StrictOption = False,
) -> None:
    """Check a scenario and every data file it names, without running it; print its
    plausibility warnings (docs/plausibility.md)."""
    from stresstest.jobs import validate_file

    with input_errors(), warnings_shown():
        checked = validate_file(scenario, sets or (), strict=strict)
    if json_output:
        sys.stdout.write(json.dumps(checked, indent=2, sort_keys=True) + "\n")
        return
    out_console.print(
        Text(
            f"{scenario}: valid; {checked['n_positions']:,} positions over "
            f"{checked['n_paths']:,} paths of {checked['n_steps']:,} steps, "
            f"{checked['margin']} margin"
            + (f", {len(checked['variants'])} compare variants" if checked["variants"] else "")
            + (f", with {len(sets)} --set" if sets else "")
        ),
        soft_wrap=True,
    )


@app.command("scenarios")
def scenarios_command(json_output: JsonOption = False) -> None:
    """List the scenarios shipped with stresstest, one line each; run, compare and validate
    also take them by name (without .toml)."""
    from stresstest.jobs import shipped_scenarios

    with input_errors():
        listing = shipped_scenarios()
    if json_output:
        document = [{"file": name, "description": text} for name, text in listing]
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        return
    for name, description in listing:
        out_console.print(Text(f"{name:32} {description}"), soft_wrap=True)


@app.command("init")
def init_command(
    path: Annotated[Path, typer.Argument(help="Scenario file to write.")],
    template: Annotated[
        TemplateName, typer.Option("--template", "-t", help="The shipped scenario to copy.")
    ] = "gbm",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented scenario to start from, copied from a shipped one, with absolute
    data paths."""
    from stresstest.scenario.templates import write_template

    with input_errors():
        written = write_template(path, template, force=force)
    out_console.print(
        Text(
            f"wrote {written.path} from {written.source.name}; check edits with "
            f"`stresstest validate {written.path}`"
        ),
        soft_wrap=True,
    )


@app.command("schema")
def schema_command(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="The scenario reference as Markdown instead.")
    ] = False,
) -> None:
    """Print the JSON Schema of scenario files (for editors), or its Markdown reference."""
    from stresstest.scenario.json_schema import scenario_json_schema, scenario_reference_markdown

    if markdown:
        sys.stdout.write(scenario_reference_markdown() + "\n")
    else:
        sys.stdout.write(json.dumps(scenario_json_schema(), indent=2) + "\n")


@app.command("version")
def version_command() -> None:
    """Print the stresstest version."""
    out_console.print(__version__)


@app.command("paths")
def paths_command(
    scenario: Annotated[Path, typer.Argument(help=r"Scenario whose \[paths] to generate.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Path file to write (.parquet or .csv).")
    ],
    chunk_size: ChunkOption = None,
    threads: ThreadsOption = None,
) -> None:
    """Write a scenario's price paths in long format (path, step, price), atomically."""
    from stresstest.engine.path_jobs import write_paths

    with input_errors():
        written = write_paths(scenario, out, chunk_size=chunk_size, threads=threads)
    out_console.print(
        Text(f"wrote {written.file}: {written.n_paths:,} paths x {written.n_steps:,} steps"),
        soft_wrap=True,
    )


@app.command("fit")
def fit_command(
    data: Annotated[Path, typer.Argument(help="Candle file (CSV or Parquet, docs/data.md).")],
    model: Annotated[FitModel, typer.Option("--model", help="Volatility model.")] = "gjr",
    dist: Annotated[FitDist, typer.Option("--dist", help="Innovation distribution.")] = "t",
    mean: Annotated[FitMean, typer.Option("--mean", help="Mean of the returns.")] = "zero",
    resolution: Annotated[
        str | None, typer.Option("--resolution", help="Bar length to fit at, e.g. 1h.")
    ] = None,
    start: Annotated[str | None, typer.Option("--start", help="First bar (ISO, UTC).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="End of bars (exclusive).")] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help=r"Write the \[paths] table to this .toml file (atomically) instead of stdout.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --out.")] = False,
) -> None:
    r"""Fit a GARCH-family model with arch; print estimates and a \[paths] table to paste."""
    from stresstest.engine.path_jobs import check_fit_out, fit_report, write_fit_toml

    with input_errors():
        if out is not None:
            check_fit_out(out, force=force)
        table, toml = fit_report(
            data, model=model, dist=dist, mean=mean, resolution=resolution, start=start, end=end
        )
        if out is not None:
            write_fit_toml(toml, out)
    out_console.print(table)
    if out is None:
        sys.stdout.write(toml)
    else:
        out_console.print(Text(f"wrote the [paths] table to {out}"), soft_wrap=True)


# The analysis commands (reverse, check, optimize) register themselves on ``app``.
import stresstest.cli_analysis  # noqa: E402, F401

#: Collect the youngest generation after this many new container objects instead of
#: Python's 700: start-up (imports, numba loading its compiled kernels) creates about
#: 250,000 long-lived objects, and the default thresholds scan them again and again
#: (about 0.1 s of CPU in a default run); at 200,000 one collection still scanned
#: 180,000 of them for 0.07 s to free 1,500. Memory stays bounded: cycles are still
#: collected, after at most this many new objects.
GC_THRESHOLDS = (500_000, 30, 30)


def tune_process() -> None:
    """Process settings of the command line, before numpy is imported (docs/performance.md).

    numpy asks the kernel for transparent huge pages (``madvise``) for every array of
    4 MB or more; where the kernel then compacts memory on the page fault
    (``/sys/kernel/mm/transparent_hugepage/defrag`` = ``madvise``, common on VMs) that
    cost about 0.8 s of system time in a default run, and the replay gained nothing
    measurable from the huge pages. ``NUMPY_MADVISE_HUGEPAGE`` set by the user wins.
    numba's BLAS check is made to load ``scipy.linalg.cython_blas`` without the rest
    of ``scipy.linalg`` (:mod:`stresstest.numba_blas`). No setting changes a result.
    """
    from stresstest import numba_blas

    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
    gc.set_threshold(*GC_THRESHOLDS)
    numba_blas.install()


def exit_now(code: object) -> NoReturn:
    """End the process as ``sys.exit(code)`` would, without tearing the interpreter down.

    Waits for every non-daemon thread and runs the ``atexit`` handlers (temporary
    folders, dask, logging), flushes standard output and error, and leaves with
    ``os._exit``: the final collection and the teardown of the 1,100 modules a run
    imports (numba's among them) took about 0.5 s of CPU after the result folder
    was written (docs/performance.md). Every file the command writes is closed by
    then (result folders are written whole, then renamed into place).
    """
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    status = 0
    if isinstance(code, int):
        status = code
    elif code is not None:  # sys.exit("message"): the message on stderr, status 1
        print(code, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said there
            status = status or 1
    os._exit(status)


def main() -> None:  # pragma: no cover - console entry point
    """Entry point of the ``stresstest`` command and of ``python -m stresstest``.

    An exception other than ``SystemExit`` (a bug) propagates as usual, with its
    traceback and the normal interpreter shutdown.
    """
    tune_process()
    try:
        app()
    except SystemExit as stop:
        exit_now(stop.code)
    exit_now(0)
