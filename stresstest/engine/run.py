"""Run a scenario: prepare the book and paths, stream chunks through the kernels, wrap results."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import tomli_w

from stresstest._version import __version__
from stresstest.engine.assemble import replay_results
from stresstest.engine.budget import (
    check_budget,
    check_scenario_budget,
    checkpoint_bytes,
)
from stresstest.engine.checkpoint import Checkpoint
from stresstest.engine.executors import EXECUTORS, execute_chunks
from stresstest.engine.plan import (
    CHUNK_BUDGET_VALUES,
    ReplayPlan,
    VariantPlan,
    liquidation_arguments,
    margin_arguments,
    measures_requirement,
    record_grid_steps,
    replay_chunk,
    requirement_chunk,
)
from stresstest.engine.prepared import PreparedRun
from stresstest.engine.procyclicality import scenario_margin_arguments
from stresstest.engine.result import BookStats, Result
from stresstest.errors import InputError
from stresstest.kernels.enums import N_GRID
from stresstest.paths import PathSource, path_source
from stresstest.scenario import schema
from stresstest.scenario.plausibility import (
    Finding,
    emit,
    post_run_findings,
    pre_run_findings,
    refuse_strict,
)
from stresstest.scenario.provenance import resolved_dict
from stresstest.scenario.tables import scenario_kind

if TYPE_CHECKING:
    from stresstest.book import Book, SortedBook
    from stresstest.book.accounts import AccountsBook
    from stresstest.book.cohorts import CohortBook
    from stresstest.book.sorted_book import ThresholdOrders

# numba, the compiled kernels, polars and the book readers are imported by the functions
# that build and replay: `import stresstest.engine` (and so `stresstest validate`, which
# uses the budget and the plan) starts without them (docs/performance.md).

__all__ = ["build_book", "default_chunk_size", "margin_arguments", "replay_all", "run"]


Progress = Callable[[int, int], None]


def build_book(scenario: schema.Scenario, start_price: float) -> Book:
    """The book a scenario's ``[book]`` table describes."""
    config = scenario.book
    if isinstance(config, schema.SyntheticBook):
        from stresstest.book.synthetic import synthetic_book

        return synthetic_book(config, scenario.seed, start_price)
    if isinstance(config, schema.FileBook):
        from stresstest.book.positions import read_book

        return read_book(config.file, config.columns)
    # accounts books are built by engine/accounts.py (run() dispatches them there)
    raise TypeError(f"no single-asset book for {type(config).__name__}")  # pragma: no cover


def default_chunk_size(n_paths: int, n_steps: int) -> int:
    """Paths per chunk so that one chunk of prices takes about 64 MB."""
    return max(1, min(n_paths, CHUNK_BUDGET_VALUES // (n_steps + 1)))


def fingerprint(scenarios: Sequence[schema.Scenario]) -> str:
    """SHA-256 of the resolved scenarios (inputs' hashes included): what a checkpoint belongs to."""
    digest = hashlib.sha256()
    for scenario in scenarios:
        digest.update(tomli_w.dumps(resolved_dict(scenario, __version__)).encode())
    return digest.hexdigest()


def check_options(chunk_size: int | None, threads: int | None, executor: str) -> None:
    if chunk_size is not None and chunk_size < 1:
        raise InputError(
            "chunk size must be positive",
            key="chunk_size",
            value=chunk_size,
            expected="an integer >= 1",
        )
    if executor not in EXECUTORS:
        raise InputError(
            "unknown executor", key="executor", value=executor, expected=f"one of {EXECUTORS}"
        )
    if threads is not None:
        import numba

        from stresstest.kernels.jit import thread_limit

        if not 1 <= threads <= thread_limit():
            raise InputError(
                "thread count out of range",
                key="threads",
                value=threads,
                expected=f"an integer from 1 to {thread_limit()}",
            )
        numba.set_num_threads(threads)


@dataclass
class PrepareCache:
    """What :func:`prepare` builds once for a family of replays on the same paths and books.

    The static rates a match scans and refines (comparison/measuring.py) share
    the first call's path source, held in memory when its prices fit
    (:func:`~stresstest.paths.memory.held_in_memory`), and every book (built,
    sorted and ordered once per book table and seed: the thresholds do not
    depend on the margin) with its cohort books (one per set of attribution
    buckets). ``compare`` keeps one for all its replays: every variant, every
    static rate of a match and the matched designs. ``hold_paths`` ``False`` (a
    distributed executor) keeps the path source as it is: its workers generate
    their own chunks rather than receive every price from the client.

    An accounts run (:func:`stresstest.engine.accounts.prepared_run`) keeps its
    multi-asset path source here the same way and its accounts books in
    ``accounts`` (built once per book table and seed, before any
    ``collateral_scale``: the margin units and the filter index depend on the
    margin and are built per design). A lending run does not use the cache.
    """

    source: Any = None
    hold_paths: bool = True
    books: dict[tuple[object, int], tuple[SortedBook, BookStats]] = field(default_factory=dict)
    unsorted: dict[tuple[object, int], Book] = field(default_factory=dict)
    orders: dict[tuple[object, int], ThresholdOrders] = field(default_factory=dict)
    cohorts: dict[
        tuple[object, int], dict[tuple[tuple[float, ...], tuple[float, ...]], CohortBook]
    ] = field(default_factory=dict)
    accounts: dict[tuple[object, int], AccountsBook] = field(default_factory=dict)


def prepare(
    scenarios: Sequence[schema.Scenario],
    *,
    attribution: bool = True,
    records: bool = True,
    findings: bool = True,
    cache: PrepareCache | None = None,
) -> tuple[ReplayPlan, list[BookStats]]:
    """Paths of the first scenario shared by all; one sorted book per distinct book table.

    ``attribution`` ``False`` plans no cohort attribution (docs/model.md 6b),
    ``records`` ``False`` no per-step records (an empty grid) and ``findings``
    ``False`` no plausibility findings, for replays that only measure a design;
    nothing of them is built. With ``cache`` the path source, the books and their
    cohort books of an earlier call are reused and this call's are kept (see
    :class:`PrepareCache`).
    """
    from stresstest.book import sort_book
    from stresstest.book.sorted_book import threshold_orders
    from stresstest.engine.attribution import attribution_plan
    from stresstest.engine.defences import defence_plan
    from stresstest.engine.mechanics import mechanics_arguments
    from stresstest.paths.memory import unwrapped

    held = cache if cache is not None else PrepareCache()
    if held.source is None:
        source = path_source(scenarios[0])
        if cache is not None and cache.hold_paths:
            from stresstest.paths.memory import held_in_memory

            source = held_in_memory(source)
        held.source = source
    source = held.source
    generated = unwrapped(source)  # what the findings read (a path file's own prices)
    books, unsorted, orders = held.books, held.unsorted, held.orders
    variants = []
    for scenario in scenarios:
        key = (scenario.book, scenario.seed)
        if key not in books:
            book = build_book(scenario, source.start_price())
            stats = BookStats(len(book), book.n_long, book.entry_notional)
            orders[key] = threshold_orders(book)  # sorted once, for the book and its cohorts
            books[key] = (sort_book(book, orders[key]), stats)
            unsorted[key] = book  # ADL needs the positions (docs/model.md 10.2)
        sorted_book, _ = books[key]
        cohorts = (
            attribution_plan(
                scenario,
                unsorted[key],
                source.n_steps,
                orders[key],
                held.cohorts.setdefault(key, {}),
            )
            if attribution
            else None
        )
        variants.append(
            VariantPlan(
                book=sorted_book,
                margin=scenario_margin_arguments(scenario),
                liquidation=liquidation_arguments(scenario.liquidation),
                fund_initial=scenario.insurance_fund.initial,
                mechanics=mechanics_arguments(scenario),
                defences=defence_plan(scenario, unsorted[key]),
                warnings=tuple(pre_run_findings(scenario, unsorted[key], generated))
                if findings
                else (),
                attribution=cohorts,
            )
        )
    book_stats = [books[(scenario.book, scenario.seed)][1] for scenario in scenarios]
    grid = (
        record_grid_steps(source.n_paths, source.n_steps, len(variants))
        if records
        else np.empty(0, dtype=np.int64)
    )
    return ReplayPlan(source=source, variants=tuple(variants), grid=grid), book_stats


def execute(
    plan: ReplayPlan,
    *,
    chunk_size: int | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    checkpoint: Checkpoint | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Replay every chunk of paths.

    Returns the metrics ``(n_variants, n_paths, N_METRICS)`` and the records at
    the plan's grid steps ``(n_variants, n_paths, N_GRID, len(grid))``. Chunks
    already in ``checkpoint`` are taken from it; new ones are saved to it.
    """
    size = chunk_size or default_chunk_size(plan.n_paths, plan.source.n_steps)
    return execute_chunks(
        plan,
        n_variants=len(plan.variants),
        n_paths=plan.n_paths,
        n_metrics=plan.n_metrics,
        grid_shape=(N_GRID, int(plan.grid.shape[0])),
        chunk_size=size,
        executor=executor,
        scheduler=scheduler,
        checkpoint=checkpoint,
        progress=progress,
    )


def run(
    scenario: schema.Scenario | str | Path,
    *,
    chunk_size: int | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    strict: bool = False,
) -> Result:
    """Replay the scenario's book over all its paths.

    Parameters
    ----------
    scenario
        A loaded scenario, or the path of a scenario TOML file (``str`` or
        ``Path``), loaded with :func:`~stresstest.scenario.load_scenario`.
    chunk_size
        Paths generated and replayed at once; memory is O(positions + chunk x steps).
        Results do not depend on it.
    threads
        Numba threads; results do not depend on it.
    progress
        Called as ``progress(paths_done, n_paths)`` after each chunk.
    executor, scheduler
        ``"local"`` or ``"dask"`` (with the scheduler address; ``None`` starts a
        local cluster). Results do not depend on it.
    checkpoint_dir, resume
        Save each completed chunk there; with ``resume``, reuse the chunks a
        previous run of the same resolved scenario saved (each one verified,
        see :mod:`stresstest.engine.checkpoint`). The folder is created only
        after the book and paths are prepared and the memory and disk
        estimate (:mod:`stresstest.engine.budget`) fits.
    strict
        Refuse (``InputError``) a scenario with plausibility warnings: before the
        replay for those over the scenario, book and paths, after it for those
        over the results (:mod:`stresstest.scenario.plausibility`). Without it
        each finding is a ``PlausibilityWarning`` and ``Result.warnings`` holds them.

    Raises
    ------
    InputError
        Bad input, more memory or disk needed than available, or (``strict``)
        a plausibility warning.
    """
    if not isinstance(scenario, schema.Scenario):
        from stresstest.scenario import load_scenario

        scenario = load_scenario(Path(scenario))
    check_options(chunk_size, threads, executor)
    out_location = checkpoint_dir.parent if checkpoint_dir is not None else None
    held = checkpoint_bytes(checkpoint_dir)  # an earlier checkpoint's files, reused or replaced
    # The sizes the scenario states, before anything is built (the book, the paths).
    check_scenario_budget(
        scenario, out_location, check_disk=out_location is not None, held_disk=held
    )
    prepared = prepare_run([scenario])  # the book and paths: nothing written
    [found] = prepared.findings
    emit(found)
    if strict:
        refuse_strict(found, "before the run")
    size = chunk_size or prepared.chunk_size
    need = prepared.estimate(size)
    check_budget(need, out_location=out_location, file=scenario.source_file, held_disk=held)
    checkpoint = open_checkpoint(checkpoint_dir, scenario, resume)
    metrics, records = prepared.execute(
        chunk_size=size,
        executor=executor,
        scheduler=scheduler,
        checkpoint=checkpoint,
        progress=progress,
    )
    [result] = prepared.results(metrics, records)
    with kept_on_refusal(checkpoint):
        return checked_result(result, found, strict=strict)


def prepare_run(
    scenarios: Sequence[schema.Scenario],
    *,
    attribution: bool = True,
    records: bool = True,
    findings: bool = True,
    cache: PrepareCache | None = None,
) -> PreparedRun:
    """The scenarios (of one kind, on the first one's paths) as one :class:`PreparedRun`.

    The kind is the first scenario's ``[book]`` (designs that share ``[paths]``
    share it): single-asset positions (:func:`prepare`), multi-asset accounts
    (:func:`stresstest.engine.accounts.prepared_run`) or loans
    (:func:`stresstest.engine.lending.prepared_run`). ``attribution`` ``False``
    plans no cohort attribution (single-asset; the other kinds have none);
    ``records`` ``False`` no per-step records and ``findings`` ``False`` no
    plausibility findings (single-asset and accounts: the replays that only
    measure a design, a match's scan and Brent steps); ``cache`` serves the
    paths and books of earlier calls (single-asset and accounts,
    :class:`PrepareCache`). Nothing is written.

    Raises
    ------
    TypeError
        ``records`` or ``findings`` ``False`` for loans (a caller's defect: no
        command measures lending designs without them).
    """
    kind = scenario_kind(scenarios[0])
    if kind == "lending":  # docs/model.md 13
        from stresstest.engine import lending

        if not (records and findings):
            raise TypeError("a lending run is prepared with its records and findings")
        return lending.prepared_run(scenarios)
    if kind == "accounts":  # docs/model.md 11
        from stresstest.engine import accounts

        return accounts.prepared_run(scenarios, records=records, findings=findings, cache=cache)
    plan, stats = prepare(
        scenarios, attribution=attribution, records=records, findings=findings, cache=cache
    )
    return single_asset_run(plan, stats, tuple(scenarios))


def single_asset_run(
    plan: ReplayPlan, stats: Sequence[BookStats], scenarios: tuple[schema.Scenario, ...]
) -> PreparedRun:
    """A prepared single-asset plan as a :class:`PreparedRun` (see :func:`prepare_run`).

    Its ``repath`` replays the same variants on a wrapped path source (the books,
    their margin and mechanics arguments and the findings stay as prepared); a
    plan without records whose variants are all core replays has the
    requirement-only mode (:func:`~stresstest.engine.plan.requirement_chunk`).
    """
    return PreparedRun(
        kind="single_asset",
        scenarios=scenarios,
        plan=plan,
        chunk_function=replay_chunk,
        n_paths=plan.n_paths,
        n_steps=plan.source.n_steps,
        n_assets=1,
        n_metrics=plan.n_metrics,
        grid=plan.grid,
        chunk_size=default_chunk_size(plan.n_paths, plan.source.n_steps),
        findings=tuple(variant.warnings for variant in plan.variants),
        assemble=functools.partial(replay_results, plan, stats, scenarios=scenarios),
        repath=functools.partial(_on_paths, plan, stats, scenarios),
        requirement_chunk=requirement_chunk if measures_requirement(plan) else None,
    )


def _on_paths(
    plan: ReplayPlan,
    stats: Sequence[BookStats],
    scenarios: tuple[schema.Scenario, ...],
    wrap: Callable[[PathSource], PathSource],
) -> PreparedRun:
    wrapped = dataclasses.replace(plan, source=wrap(plan.source))
    return single_asset_run(wrapped, stats, scenarios)


@contextlib.contextmanager
def kept_on_refusal(checkpoint: Checkpoint | None) -> Iterator[None]:
    """Write the checkpoint's queued chunks if the block refuses the result (``--strict``).

    The same command without ``--strict`` and with ``--resume`` then writes the
    result from the checkpoint at once, with nothing recomputed.
    """
    try:
        yield
    except InputError:
        if checkpoint is not None:
            checkpoint.flush()
        raise


def checked_result(
    result: Result,
    earlier: Sequence[Finding],
    *,
    strict: bool,
    variant: str | None = None,
) -> Result:
    """``result`` with its plausibility findings: ``earlier`` ones and those over its paths.

    The findings over the results are issued as warnings; with ``strict`` any
    is refused (``InputError``) before anything is written.
    """
    columns = {
        name: result.column(name) for name in ("bad_debt", "socialized_loss", "n_liquidations")
    }
    after = post_run_findings(
        result.scenario, columns, result.book.n_positions, earlier, variant=variant
    )
    emit(after)
    if strict:
        refuse_strict(after, "after the run")
    return dataclasses.replace(result, warnings=(*earlier, *after))


def open_checkpoint(
    checkpoint_dir: Path | None, scenario: schema.Scenario, resume: bool
) -> Checkpoint | None:
    """The run's checkpoint, created only once the book and paths are prepared and checked."""
    if checkpoint_dir is None:
        return None
    return Checkpoint(checkpoint_dir, fingerprint([scenario]), resume=resume)


def replay_all(
    scenario: schema.Scenario,
    source: PathSource,
    sorted_book: SortedBook,
    *,
    chunk_size: int | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Replay a prepared sorted book over every path of ``source``; ``(n_paths, N_METRICS)``."""
    from stresstest.engine.defences import defence_plan
    from stresstest.engine.mechanics import mechanics_arguments

    variant = VariantPlan(
        book=sorted_book,
        margin=scenario_margin_arguments(scenario),
        liquidation=liquidation_arguments(scenario.liquidation),
        fund_initial=scenario.insurance_fund.initial,
        mechanics=mechanics_arguments(scenario),
        defences=defence_plan(scenario, None),
    )
    plan = ReplayPlan(source=source, variants=(variant,))
    metrics, _ = execute(plan, chunk_size=chunk_size, progress=progress)
    first: np.ndarray = metrics[0]
    return first
