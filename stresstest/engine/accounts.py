"""Run an accounts scenario: multi-asset paths, margin units, the cross-margin kernel.

Validate and prepare (paths, book, margin units, filter index), stream chunks
of paths through :func:`stresstest.kernels.cross.cross_replay_paths`, wrap the
per-path metrics in the same :class:`~stresstest.engine.result.Result` as a
single-asset run. Memory is O(positions + chunk x assets x steps).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from stresstest.book.accounts import AccountsBook, margin_units, read_accounts, synthetic_accounts
from stresstest.book.cross_index import CrossIndex, build_cross_index, watch_index
from stresstest.engine.assemble import assemble_results
from stresstest.engine.checkpoint import Checkpoint
from stresstest.engine.executors import execute_chunks
from stresstest.engine.mechanics import mechanics_vector
from stresstest.engine.plan import (
    CHUNK_BUDGET_VALUES,
    liquidation_arguments,
    margin_arguments,
    record_grid_steps,
)
from stresstest.engine.prepared import PreparedRun
from stresstest.engine.procyclicality import asset_vol_floor_variances
from stresstest.engine.result import BookStats, Result
from stresstest.kernels import enums
from stresstest.kernels.account_defences import defence_replay_paths
from stresstest.kernels.brackets import bracket_amounts
from stresstest.kernels.cross import cross_replay_paths
from stresstest.kernels.enums import N_GRID
from stresstest.paths.memory import MemoryPathSource
from stresstest.paths.multi import MultiPathSource, multi_path_source
from stresstest.scenario import schema
from stresstest.scenario.accounts import (
    AccountsFileBook,
    AccountsSyntheticBook,
    AccountsTable,
    bracket_base_rate,
)

if TYPE_CHECKING:
    from stresstest.engine.run import PrepareCache

Progress = Callable[[int, int], None]
#: Multi-asset paths as generated, or held in memory for a family of replays (a match).
AccountsSource = MultiPathSource | MemoryPathSource


def accounts_table(scenario: schema.Scenario) -> AccountsTable:
    """The scenario's ``[accounts]`` table (defaults when absent)."""
    table = getattr(scenario, "accounts", None)
    return table if table is not None else AccountsTable()


def bracket_table(scenario: schema.Scenario) -> np.ndarray:
    """``(3, n_brackets)``: floors, rates and amounts (one column without tiers)."""
    table = accounts_table(scenario)
    _, base_rate = bracket_base_rate(scenario.margin)
    floors = np.concatenate([[0.0], np.asarray(table.bracket_floor or [], dtype=float)])
    rates = np.concatenate([[base_rate], np.asarray(table.bracket_rate or [], dtype=float)])
    return np.ascontiguousarray(np.stack([floors, rates, bracket_amounts(floors, rates)]))


def rate_bound(margin: schema.MarginConfig, brackets: np.ndarray) -> float:
    """``m_bar``: no step's requirement per notional exceeds it, fraction of notional.

    Static: the rate or the top bracket rate ``r_B``. Vol-scaled: the bound ``c`` of
    the posted rate, or ``r_B + c - floor`` with brackets (``R(n) <= r_B n`` and
    ``m_t <= c``), where ``c = cap``, or ``(1 + apc_buffer) cap`` with the APC
    buffer (docs/model.md 3.1: ``m_t <= (1 + b) u_t`` and ``u_t <= cap``; 11.5).
    """
    if isinstance(margin, schema.StaticMargin):
        return float(brackets[1].max())
    buffer = margin.apc_buffer
    top = float(margin.cap) if buffer is None else (1.0 + float(buffer)) * float(margin.cap)
    if brackets.shape[1] > 1:
        return float(brackets[1].max()) + top - float(brackets[1, 0])
    return top


def accounts_margin_arguments(
    margin: schema.MarginConfig,
    asset_floors: Sequence[float] | None = None,
    procyclicality_horizon: int = 0,
) -> np.ndarray:
    """The accounts kernels' margin vector: :func:`margin_arguments`, then each asset's floor.

    ``asset_floors`` (per step, one per asset in the order of ``paths.assets``) are
    the APC variance floors ``f_a`` (docs/model.md 3.1, 11.3), appended at
    ``enums.MARGIN_ARG_ASSET_FLOORS``; ``None`` (the floor off) appends nothing,
    and the vector is the single-asset one. ``procyclicality_horizon`` is
    ``[procyclicality] horizon_steps`` (0: not measured, docs/model.md 3.2).
    """
    vector = margin_arguments(margin, procyclicality_horizon=procyclicality_horizon)
    if asset_floors is None:
        return vector
    return np.concatenate([vector, np.asarray(asset_floors, dtype=np.float64)])


def build_accounts(scenario: schema.Scenario, source: AccountsSource) -> AccountsBook:
    """The accounts book of a scenario's ``[book]`` table."""
    config = scenario.book
    if isinstance(config, AccountsSyntheticBook):
        return synthetic_accounts(config, scenario.seed, source.start_prices(), source.assets)
    if isinstance(config, AccountsFileBook):
        return read_accounts(config.file, source.assets)
    # check_accounts refuses multi-asset paths with a single-asset book when it loads
    raise TypeError(f"no accounts book for {type(config).__name__}")  # pragma: no cover


def uses_account_stages(scenario: schema.Scenario) -> bool:
    """Whether an accounts scenario turns on a stage the accounts kernel runs (11.7).

    ``[oracle]`` or ``liquidation.fee_model = "vol_scaled"``; the other stages run in
    the defence kernel (:func:`uses_account_defences`).
    """
    return scenario.oracle is not None or scenario.liquidation.fee_model == "vol_scaled"


def stage_arguments(scenario: schema.Scenario) -> np.ndarray:
    """The ``N_MECH`` stage vector of the accounts kernel, or an empty one with no stage on.

    Empty means the kernel computes no mark and no per-asset penalty series:
    the replay is the one without stages, bit for bit and at the same cost.
    """
    return mechanics_vector(scenario) if uses_account_stages(scenario) else np.empty(0)


def uses_account_defences(scenario: schema.Scenario) -> bool:
    """Whether an accounts scenario has ``[partial_liquidation]``, ``[adl]``, the
    predictive trigger (docs/model.md 11.8), ``[market]`` (11.9),
    ``insurance_fund.pays_past_bankruptcy`` (11.10) or ``[backstop]``
    (11.11).

    Such a run replays the units in the direct form with those stages
    (:mod:`stresstest.kernels.account_defences`); any other runs the filtered
    kernel, unchanged.
    """
    return (
        getattr(scenario, "partial_liquidation", None) is not None
        or getattr(scenario, "adl", None) is not None
        or scenario.liquidation.trigger == "predictive"
        or getattr(scenario, "market", None) is not None
        or scenario.insurance_fund.pays_past_bankruptcy is not None
        or scenario.backstop is not None
    )


def metrics_row_width(scenario: schema.Scenario) -> int:
    """The row width the accounts kernel writes: ``N_METRICS``, wider with ``[market]``
    (``N_METRICS_MARKET``), ``[adl]`` (``N_METRICS_ADL``, which holds the market slots),
    ``[procyclicality]`` (``N_METRICS_PROCYCLICALITY``, which holds those),
    ``[backstop]`` (``N_METRICS_BACKSTOP``, which holds those) or the fund's bound
    (``N_METRICS_FUND_BOUND``, which holds them all)."""
    if scenario.insurance_fund.pays_past_bankruptcy is not None:
        return enums.N_METRICS_FUND_BOUND
    if scenario.backstop is not None:
        return enums.N_METRICS_BACKSTOP
    if scenario.procyclicality is not None:
        return enums.N_METRICS_PROCYCLICALITY
    if getattr(scenario, "adl", None) is not None:
        return enums.N_METRICS_ADL
    if getattr(scenario, "market", None) is not None:
        return enums.N_METRICS_MARKET
    return enums.N_METRICS


@dataclass(frozen=True)
class AccountsPlan:
    """Everything a chunk of paths needs: source, kernel arguments, filter index.

    ``stages`` is :func:`stage_arguments` (empty without ``[oracle]`` and a
    volatility-scaled penalty). ``defences`` is ``None`` unless
    :func:`uses_account_defences`: then the full ``N_MECH`` stage vector and the
    units in the book's order for :mod:`stresstest.kernels.account_defences`.
    ``width`` is the row width the kernel writes (:func:`metrics_row_width`).
    """

    source: AccountsSource
    index: CrossIndex
    stages: np.ndarray
    margin: np.ndarray
    brackets: np.ndarray
    liquidation: np.ndarray
    fund_initial: float
    grid: np.ndarray
    defences: tuple[np.ndarray, tuple[np.ndarray, ...]] | None = None
    width: int = enums.N_METRICS


def defence_arguments(
    scenario: schema.Scenario, book: AccountsBook, mode: str
) -> tuple[np.ndarray, tuple[np.ndarray, ...]] | None:
    """``(stage vector, units in book order)`` for :func:`uses_account_defences`, else ``None``."""
    if not uses_account_defences(scenario):
        return None
    units = margin_units(book, mode)
    return mechanics_vector(scenario), (
        units.start,
        units.asset,
        units.side,
        units.qty,
        units.entry,
        units.collateral,
    )


def plan_for_mode(
    scenario: schema.Scenario,
    source: AccountsSource,
    book: AccountsBook,
    mode: str,
    grid: np.ndarray,
) -> AccountsPlan:
    """Kernel arguments for the book under margin ``mode`` ('book', 'isolated', 'cross')."""
    brackets = bracket_table(scenario)
    units = margin_units(book, mode)
    index = build_cross_index(
        units,
        source.start_prices(),
        rate_bound(scenario.margin, brackets),
        brackets,
        static_rates=isinstance(scenario.margin, schema.StaticMargin),
    )
    return AccountsPlan(
        source=source,
        index=index,
        stages=stage_arguments(scenario),
        margin=accounts_margin_arguments(
            scenario.margin,
            asset_vol_floor_variances(scenario, source),
            0 if scenario.procyclicality is None else scenario.procyclicality.horizon_steps,
        ),
        brackets=brackets,
        liquidation=liquidation_arguments(scenario.liquidation),
        fund_initial=scenario.insurance_fund.initial,
        grid=grid,
        defences=defence_arguments(scenario, book, mode),
        width=metrics_row_width(scenario),
    )


def replay_prices(plan: AccountsPlan, prices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replay the plan's margin units over ``prices`` ``(count, n_assets, T + 1)`` (quote per base).

    Returns metrics ``(count, N_METRICS)`` and grid records ``(count, N_GRID, len(grid))``.
    """
    count = prices.shape[0]
    out = np.zeros((count, plan.width))  # columns of stages that are off stay 0
    grid_out = np.empty((count, N_GRID, plan.grid.shape[0]))
    if plan.defences is not None:
        params, units = plan.defences
        defence_replay_paths(
            prices,
            params,
            plan.margin,
            plan.brackets,
            plan.liquidation,
            units,
            watch_index(plan.index),
            plan.fund_initial,
            plan.grid,
            out,
            grid_out,
        )
        return out, grid_out
    cross_replay_paths(
        prices,
        plan.stages,
        plan.margin,
        plan.brackets,
        plan.liquidation,
        plan.index.units,
        plan.index.index,
        plan.index.reference,
        plan.index.always,
        plan.fund_initial,
        plan.grid,
        out,
        grid_out,
    )
    return out, grid_out


def replay_accounts_chunk(
    plan: AccountsPlan, first: int, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Generate paths ``first .. first + count - 1`` and replay the units over them.

    Returns metrics ``(count, N_METRICS)`` and grid records ``(count, N_GRID, len(grid))``.
    """
    return replay_prices(plan, plan.source.chunk(first, count))


def replay_variants_chunk(
    plans: Sequence[AccountsPlan], first: int, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Generate paths ``first .. first + count - 1`` once and replay every plan over them.

    The plans share the first plan's path source (a comparison's variants are
    paired). Returns metrics ``(n_plans, count, N_METRICS)`` and grid records
    ``(n_plans, count, N_GRID, len(grid))``.
    """
    prices = plans[0].source.chunk(first, count)
    values = [replay_prices(plan, prices) for plan in plans]
    metrics = np.zeros((len(plans), count, metrics_width(plans)))
    for row, value in enumerate(values):
        metrics[row, :, : value[0].shape[1]] = value[0]
    return metrics, np.stack([value[1] for value in values])


def metrics_width(plans: Sequence[AccountsPlan]) -> int:
    """The widest row any plan's kernel writes (columns of absent stages are zeros)."""
    return max(plan.width for plan in plans)


def accounts_chunk_size(plans: Sequence[AccountsPlan]) -> int:
    """Paths per chunk so that one chunk of prices for every plan takes about 64 MB."""
    source = plans[0].source
    n_points = len(source.assets) * (source.n_steps + 1)
    return max(1, min(source.n_paths, CHUNK_BUDGET_VALUES // (n_points * len(plans))))


def execute_accounts_variants(
    plans: Sequence[AccountsPlan],
    *,
    chunk_size: int | None = None,
    checkpoint: Checkpoint | None = None,
    progress: Progress | None = None,
    executor: str = "local",
    scheduler: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Replay every chunk of paths for every plan.

    Returns metrics ``(n_plans, n_paths, N_METRICS)`` and grid records
    ``(n_plans, n_paths, N_GRID, len(grid))``; they do not depend on
    ``chunk_size`` or ``executor``. Chunks already in ``checkpoint`` are taken
    from it, new ones are saved to it (as :func:`stresstest.engine.run.execute`).
    ``executor="dask"`` ships the plans once to the cluster at ``scheduler``
    (``None``: a local in-process cluster) and runs each chunk as a task.
    """
    n_paths = plans[0].source.n_paths
    size = chunk_size or accounts_chunk_size(plans)
    return execute_chunks(
        tuple(plans),
        chunk_function=replay_variants_chunk,
        n_variants=len(plans),
        n_paths=n_paths,
        n_metrics=metrics_width(plans),
        grid_shape=(N_GRID, int(plans[0].grid.shape[0])),
        chunk_size=size,
        executor=executor,
        scheduler=scheduler,
        checkpoint=checkpoint,
        progress=progress,
    )


def execute_accounts(
    plan: AccountsPlan, *, chunk_size: int | None = None, progress: Progress | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Replay every chunk of paths, in this process; results do not depend on ``chunk_size``."""
    metrics, records = execute_accounts_variants([plan], chunk_size=chunk_size, progress=progress)
    return metrics[0], records[0]


def prepare_accounts(
    scenario: schema.Scenario,
) -> tuple[MultiPathSource, AccountsBook]:
    """Build a loaded (so validated) scenario's path source and accounts book."""
    source = multi_path_source(scenario.paths, scenario.seed, scenario.source_file)
    return source, build_accounts(scenario, source)


def scale_collateral(book: AccountsBook, scale: float) -> AccountsBook:
    """The book with every position's collateral multiplied by ``scale`` ([accounts] 11.2)."""
    if scale == 1.0:
        return book
    return dataclasses.replace(book, collateral=book.collateral * scale)


def book_stats(book: AccountsBook) -> BookStats:
    """Counts, entry notional and collateral posted (positions, longs, quote units)."""
    return BookStats(
        len(book),
        int(np.count_nonzero(book.side > 0)),
        book.entry_notional,
        float(book.collateral.sum()),
    )


@dataclass(frozen=True)
class PreparedAccounts:
    """Accounts scenarios ready to replay: shared paths, one plan and book summary each."""

    scenarios: tuple[schema.Scenario, ...]
    source: AccountsSource
    plans: tuple[AccountsPlan, ...]
    stats: tuple[BookStats, ...]
    grid: np.ndarray


def prepare_accounts_variants(
    scenarios: Sequence[schema.Scenario],
    *,
    records: bool = True,
    cache: PrepareCache | None = None,
) -> PreparedAccounts:
    """Check every scenario and build its paths, accounts book and plan; nothing is written.

    The scenarios must share ``[paths]`` and the seed (a comparison's variants
    do); one accounts book is built per distinct ``[book]`` table, so variants
    that differ only in margin mode, margin, brackets, collateral scale,
    liquidation or fund replay the same accounts. ``records`` ``False`` plans no
    per-step records (an empty grid). With ``cache`` the path source (held in
    memory when it fits and ``cache.hold_paths``) and the books of an earlier
    call are reused and this call's kept (:class:`~stresstest.engine.run.PrepareCache`).
    """
    from stresstest.engine.run import PrepareCache

    held = cache if cache is not None else PrepareCache(hold_paths=False)
    if held.source is None:
        source = multi_path_source(scenarios[0].paths, scenarios[0].seed, scenarios[0].source_file)
        if held.hold_paths:
            from stresstest.paths.memory import held_in_memory

            source = held_in_memory(source)
        held.source = source
    source = held.source
    books = held.accounts
    grid = (
        record_grid_steps(source.n_paths, source.n_steps, len(scenarios))
        if records
        else np.empty(0, dtype=np.int64)
    )
    plans = []
    stats = []
    for scenario in scenarios:
        key = (scenario.book, scenario.seed)
        if key not in books:
            books[key] = build_accounts(scenario, source)
        table = accounts_table(scenario)
        book = scale_collateral(books[key], table.collateral_scale)
        plans.append(plan_for_mode(scenario, source, book, table.mode, grid))
        stats.append(book_stats(book))
    return PreparedAccounts(tuple(scenarios), source, tuple(plans), tuple(stats), grid)


def accounts_results(
    prepared: PreparedAccounts,
    metrics: np.ndarray,
    records: np.ndarray,
    *,
    describe_paths: bool = True,
) -> list[Result]:
    """One :class:`Result` per prepared scenario from the replayed metrics and records."""
    return assemble_results(
        prepared.scenarios,
        metrics,
        records,
        source=prepared.source,
        grid=prepared.grid,
        books=prepared.stats,
        describe_paths=describe_paths,
    )


def prepared_run(
    scenarios: Sequence[schema.Scenario],
    *,
    records: bool = True,
    findings: bool = True,
    cache: PrepareCache | None = None,
) -> PreparedRun:
    """Accounts scenarios as the engine's one :class:`~stresstest.engine.prepared.PreparedRun`.

    See :func:`prepare_accounts_variants` (``records``, ``cache``); each
    scenario's findings are its checks before the run, over the shared paths
    (docs/plausibility.md), none with ``findings`` ``False`` (a design a match
    only measures).
    """
    from stresstest.paths.memory import unwrapped
    from stresstest.scenario.plausibility import pre_run_findings

    prepared = prepare_accounts_variants(scenarios, records=records, cache=cache)
    source = prepared.source
    generated = unwrapped(source)  # what the findings read
    return PreparedRun(
        kind="accounts",
        scenarios=prepared.scenarios,
        plan=prepared.plans,
        chunk_function=replay_variants_chunk,
        n_paths=source.n_paths,
        n_steps=source.n_steps,
        n_assets=len(source.assets),
        n_metrics=metrics_width(prepared.plans),
        grid=prepared.grid,
        chunk_size=accounts_chunk_size(prepared.plans),
        findings=tuple(
            tuple(pre_run_findings(scenario, None, generated)) if findings else ()
            for scenario in prepared.scenarios
        ),
        assemble=functools.partial(accounts_results, prepared),
    )


def run_accounts_variants(
    scenarios: Sequence[schema.Scenario],
    *,
    chunk_size: int | None = None,
    checkpoint: Checkpoint | None = None,
    progress: Progress | None = None,
    executor: str = "local",
    scheduler: str | None = None,
) -> list[Result]:
    """Replay several accounts scenarios on the paths of the first one (paired).

    See :func:`prepare_accounts_variants`; each result is bit-identical to
    :func:`run_accounts` of its scenario alone.
    """
    prepared = prepare_accounts_variants(scenarios)
    metrics, records = execute_accounts_variants(
        prepared.plans,
        chunk_size=chunk_size,
        checkpoint=checkpoint,
        progress=progress,
        executor=executor,
        scheduler=scheduler,
    )
    return accounts_results(prepared, metrics, records)


def run_accounts(
    scenario: schema.Scenario,
    *,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    mode: str | None = None,
    checkpoint: Checkpoint | None = None,
    executor: str = "local",
    scheduler: str | None = None,
) -> Result:
    """Replay the scenario's accounts over all its paths (``mode`` overrides [accounts] mode).

    With ``checkpoint``, completed chunks are saved there and chunks it already
    holds are reused (``--resume``); the result is the same bytes either way,
    and with ``executor="dask"`` (chunks as tasks on the cluster at ``scheduler``).
    """
    if mode is not None:
        scenario = scenario.with_overrides({"accounts.mode": mode})
    return run_accounts_variants(
        [scenario],
        chunk_size=chunk_size,
        checkpoint=checkpoint,
        progress=progress,
        executor=executor,
        scheduler=scheduler,
    )[0]
