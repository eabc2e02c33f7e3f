"""Whole jobs as the CLI and the Python API run them: load, run, write."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from stresstest.engine.budget import check_scenario_budget
from stresstest.engine.checkpoint import RunInterrupted, checkpoint_dir_for
from stresstest.engine.result import Result
from stresstest.engine.run import Progress, build_book, run
from stresstest.errors import OutputError
from stresstest.io.atomic import MAX_NAME_CHARS, output_lock
from stresstest.scenario import Scenario, load_scenario
from stresstest.scenario.embedded import default_scenario_path, resolve_scenario
from stresstest.scenario.provenance import scenario_identity

if TYPE_CHECKING:
    from stresstest.book import Book
    from stresstest.comparison.engine import Comparison
    from stresstest.scenario.plausibility import Finding


def default_output_dir(scenario: Scenario) -> Path:
    """``runs/<scenario name>`` under the current folder: always one folder below ``runs``.

    Characters other than letters, digits, ``-``, ``_`` and ``.`` become ``_``;
    a name left empty, ``.`` or ``..`` (load refuses those) becomes ``scenario``.
    """
    safe = "".join(char if char.isalnum() or char in "-_." else "_" for char in scenario.name)
    safe = safe[:MAX_NAME_CHARS]
    return Path("runs") / (safe if safe not in ("", ".", "..") else "scenario")


def recorded_identity(folder: Path) -> str | None:
    """The scenario file whose results ``folder`` holds (``[provenance] scenario_file`` of its
    ``scenario.resolved.toml``), or ``None`` if the folder, the file or the key is missing
    or unreadable (an older result folder: it is replaced as before)."""
    import tomllib

    try:
        with (folder / "scenario.resolved.toml").open("rb") as stream:
            provenance = tomllib.load(stream).get("provenance")
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    recorded = provenance.get("scenario_file") if isinstance(provenance, dict) else None
    return recorded if isinstance(recorded, str) else None


def check_default_folder(target: Path, scenario: Scenario) -> None:
    """Refuse to replace ``runs/<name>`` holding the results of another scenario file.

    Two scenario files may share a ``[scenario] name``; its default result folder
    then belongs to the first that ran, and the second is refused (exit 2) rather
    than silently replacing it. The same file (edited, or with ``--set``) and a
    rerun of its ``scenario.resolved.toml`` replace the folder as before; so does
    any run with an explicit ``--out``, and a folder that records no file.
    """
    identity = scenario_identity(scenario)
    recorded = recorded_identity(target)
    if identity is None or recorded is None or recorded == identity:
        return
    raise OutputError(
        f"{target} holds the results of the scenario file {recorded}, and {identity} has "
        f"the same [scenario] name {scenario.name!r}",
        expected="run with --out ANOTHER_FOLDER, give one of them another [scenario] name, "
        f"or remove {target} to replace it",
    )


def run_to_dir(
    scenario_file: Path | None,
    out_dir: Path | None,
    *,
    chunk_size: int | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    resume: bool = False,
    sets: Sequence[str] = (),
    strict: bool = False,
) -> tuple[Result, Path]:
    """Load a scenario (the shipped default if ``None``), run it and write its result folder.

    ``scenario_file`` is a file, or the name of a shipped scenario when no such
    file exists (:func:`~stresstest.scenario.embedded.resolve_scenario`).

    ``sets`` are ``--set KEY=VALUE`` overrides, applied before validation and
    recorded in ``scenario.resolved.toml`` (:mod:`stresstest.scenario.overrides`).

    Completed chunks are checkpointed beside the output folder until the result
    is written; ``resume`` continues from them. Ctrl-C raises
    :class:`~stresstest.engine.checkpoint.RunInterrupted` (a ``KeyboardInterrupt``)
    naming the checkpoint folder. The output folder is checked
    before any work, and written whole or not at all. From before the checkpoint
    until the result is published, the job holds the output folder's lock
    (:func:`~stresstest.io.atomic.output_lock`): a second job writing the same
    folder is refused at once.

    ``strict`` refuses a run with plausibility warnings (:func:`~stresstest.engine.run.run`):
    nothing is written. A refusal after the replay keeps the checkpoint, so the
    same command without ``--strict`` and with ``--resume`` writes the result at once.
    """
    scenario = load_scenario(
        resolve_scenario(scenario_file) if scenario_file is not None else default_scenario_path(),
        sets=sets,
    )
    target = out_dir if out_dir is not None else default_output_dir(scenario)
    if out_dir is None:
        check_default_folder(target, scenario)
    with output_lock(target):
        checkpoint_dir = checkpoint_dir_for(target)
        try:
            result = run(
                scenario,
                chunk_size=chunk_size,
                threads=threads,
                progress=progress,
                executor=executor,
                scheduler=scheduler,
                checkpoint_dir=checkpoint_dir,
                resume=resume,
                strict=strict,
            )
            result.write(target)
        except KeyboardInterrupt as stop:  # the chunks done stay for --resume
            raise RunInterrupted(checkpoint_dir) from stop
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return result, target


def compare_to_dir(
    scenario_file: Path,
    out_dir: Path | None,
    *,
    match: str | None = None,
    chunk_size: int | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    sets: Sequence[str] = (),
    strict: bool = False,
) -> tuple[Comparison, Path]:
    """Load a scenario with a ``[compare]`` table, run every variant and write the comparison.

    ``scenario_file`` is a file or a shipped scenario's name, as for :func:`run_to_dir`.

    ``sets`` are ``--set KEY=VALUE`` overrides of the base scenario, as for :func:`run_to_dir`;
    ``strict`` refuses a comparison with plausibility warnings, as there.
    """
    from stresstest.comparison.engine import compare
    from stresstest.comparison.output import write_comparison

    scenario = load_scenario(resolve_scenario(scenario_file), sets=sets)
    target = out_dir if out_dir is not None else default_output_dir(scenario)
    if out_dir is None:
        check_default_folder(target, scenario)
    check_scenario_budget(scenario, target.parent, n_variants=compare_width(scenario, match))
    with output_lock(target):
        comparison = compare(
            scenario,
            match=match,
            chunk_size=chunk_size,
            threads=threads,
            progress=progress,
            executor=executor,
            scheduler=scheduler,
            strict=strict,
        )
        write_comparison(comparison, target)
    return comparison, target


def compare_width(scenario: Scenario, match: str | None) -> int:
    """Designs held at once on the same paths: 1, or a comparison's variants.

    With ``match``, twice the variants (each may get a matched static twin) and
    the ``MATCH_GRID_POINTS`` static rates the search replays together.
    """
    if "compare" not in scenario.raw:
        return 1
    from stresstest.comparison.matching import MATCH_GRID_POINTS
    from stresstest.scenario.compare import parse_compare

    n_variants = len(parse_compare(scenario).variants)
    return n_variants if match is None else 2 * n_variants + MATCH_GRID_POINTS


class ValidatedScenario(TypedDict):
    """What :func:`validate_file` found a scenario would replay (``validate --json``)."""

    scenario: str
    n_paths: int
    n_steps: int
    n_positions: int
    n_accounts: NotRequired[int]  # accounts scenarios only
    n_loans: NotRequired[int]  # lending scenarios only (n_positions counts the loans too)
    margin: str
    variants: list[str]
    overrides: list[str]  # the --set texts, in order
    warnings: list[dict[str, Any]]  # plausibility findings (scenario/plausibility.py)


def validate_file(
    scenario_file: Path, sets: Sequence[str] = (), *, strict: bool = False
) -> ValidatedScenario:
    """Check a scenario and every data file it names, without running it.

    Reads path and book files in full (so their rows are validated) and parses
    a ``[compare]`` and a ``[search]`` table if present. ``sets`` are ``--set KEY=VALUE`` overrides:
    the effective scenario is the one checked. ``scenario_file`` is a file or a
    shipped scenario's name, as for :func:`run_to_dir`. Returns what a run would replay.

    The plausibility checks that need no replay run too (a synthetic book is
    built for them): each finding is issued as a ``PlausibilityWarning`` and
    listed in ``warnings``; ``strict`` refuses the scenario if there is any.
    """
    from stresstest.paths import path_source
    from stresstest.scenario.compare import parse_compare
    from stresstest.scenario.search import parse_search
    from stresstest.scenario.tables import scenario_kind

    scenario = load_scenario(resolve_scenario(scenario_file), sets=sets)
    if "search" in scenario.raw:  # stresstest optimize's grid (scenario/search.py)
        parse_search(scenario)
    # memory and disk its stated sizes need (engine/budget.py)
    check_scenario_budget(scenario, n_variants=compare_width(scenario, None))
    kind = scenario_kind(scenario)
    if kind == "lending":  # docs/model.md 13: paths and loans, read in full
        from stresstest.engine.lending import prepare_lending

        plan = prepare_lending(scenario)
        found = _lending_plausibility(scenario, plan, strict=strict)
        variants = (
            [variant.name for variant in parse_compare(scenario).variants]
            if "compare" in scenario.raw
            else []
        )
        return {
            "scenario": scenario.name,
            "n_paths": plan.source.n_paths,
            "n_steps": plan.source.n_steps,
            "n_positions": len(plan.book),
            "n_loans": len(plan.book),
            "margin": "health-factor (lending)",
            "overrides": list(scenario.overrides),
            "variants": variants,
            "warnings": [finding.record() for finding in found],
        }
    if kind == "accounts":  # docs/model.md 11: paths and accounts book, read in full
        from stresstest.engine.accounts import prepare_accounts

        multi_source, accounts_book = prepare_accounts(scenario)
        found = _plausibility(scenario, None, multi_source, strict=strict)
        return {
            "scenario": scenario.name,
            "n_paths": multi_source.n_paths,
            "n_steps": multi_source.n_steps,
            "n_positions": len(accounts_book),
            "n_accounts": accounts_book.n_accounts,
            "margin": scenario.margin.model,
            "overrides": list(scenario.overrides),
            "variants": (
                [variant.name for variant in parse_compare(scenario).variants]
                if "compare" in scenario.raw
                else []
            ),
            "warnings": [finding.record() for finding in found],
        }
    source = path_source(scenario)
    book = build_book(scenario, source.start_price())  # read in full, or drawn
    found = _plausibility(scenario, book, source, strict=strict)
    variants = (
        [variant.name for variant in parse_compare(scenario).variants]
        if "compare" in scenario.raw
        else []
    )
    return {
        "scenario": scenario.name,
        "n_paths": source.n_paths,
        "n_steps": source.n_steps,
        "n_positions": len(book),
        "margin": scenario.margin.model,
        "overrides": list(scenario.overrides),
        "variants": variants,
        "warnings": [finding.record() for finding in found],
    }


def _plausibility(
    scenario: Scenario, book: Book | None, source: Any, *, strict: bool
) -> list[Finding]:
    """The pre-run plausibility findings of a scenario, or of each of its compare variants.

    Each is issued as a ``PlausibilityWarning``; ``strict`` refuses any.
    """
    from stresstest.scenario.compare import parse_compare
    from stresstest.scenario.plausibility import (
        emit,
        pre_run_findings,
        refuse_strict,
        with_variant,
    )

    designs: list[tuple[str | None, Scenario]]
    if "compare" in scenario.raw:
        designs = [(variant.name, variant.scenario) for variant in parse_compare(scenario).variants]
    else:
        designs = [(None, scenario)]
    found = []
    for name, design in designs:
        own = book
        if book is not None and (design.book, design.seed) != (scenario.book, scenario.seed):
            own = build_book(design, source.start_price())
        found += [with_variant(finding, name) for finding in pre_run_findings(design, own, source)]
    emit(found)
    if strict:
        refuse_strict(found, "before the run")
    return found


def _lending_plausibility(scenario: Scenario, plan: Any, *, strict: bool) -> list[Finding]:
    """The pre-run findings of a loan book (docs/plausibility.md), issued; ``strict`` refuses."""
    from stresstest.engine.lending import start_prices
    from stresstest.scenario.plausibility import emit, lending_findings, refuse_strict

    found = lending_findings(scenario, plan.book, start_prices(plan.source))
    emit(found)
    if strict:
        refuse_strict(found, "before the run")
    return found


def shipped_scenarios() -> list[tuple[str, str]]:
    """``(file name, description)`` of every scenario shipped in ``scenarios/``."""
    from stresstest.scenario.embedded import embedded_dir

    listing = []
    for path in sorted(embedded_dir("scenarios").glob("*.toml")):
        scenario = load_scenario(path)
        listing.append((path.name, scenario.info.description or scenario.name))
    return listing
