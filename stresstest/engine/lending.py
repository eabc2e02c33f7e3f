"""Run a lending scenario: multi-asset paths, a loan book, the lending kernel.

Validate and prepare (paths, loans, market vector), stream chunks of paths
through :func:`stresstest.kernels.lending.lending_replay_paths`, wrap the
per-path metrics in the same :class:`~stresstest.engine.result.Result` as
every run (docs/model.md 13). Memory is O(loans + chunk x assets x steps).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from stresstest.book.loans import LoanBook, read_loans, synthetic_loans
from stresstest.engine.assemble import assemble_results
from stresstest.engine.checkpoint import Checkpoint
from stresstest.engine.executors import execute_chunks
from stresstest.engine.mechanics import neutral_vector, set_oracle
from stresstest.engine.plan import CHUNK_BUDGET_VALUES, record_grid_steps
from stresstest.engine.prepared import PreparedRun
from stresstest.engine.result import BookStats, Result
from stresstest.io.lending_files import read_depth_curves, read_gas_path
from stresstest.kernels import enums
from stresstest.kernels.enums import N_GRID
from stresstest.paths.multi import MultiPathSource, multi_path_source
from stresstest.scenario import schema
from stresstest.scenario.lending import (
    LendingTable,
    LoansFileBook,
    LoansSyntheticBook,
    all_assets,
)

if TYPE_CHECKING:  # the kernels (numba) are imported where they run
    from stresstest.kernels.lending_multi import MultiIndex

Progress = Callable[[int, int], None]


def lending_table(scenario: schema.Scenario) -> LendingTable:
    """The scenario's ``[lending]`` table (a loaded lending scenario always has one)."""
    table = scenario.lending
    if table is None:  # check_lending refuses a loan book without it
        raise TypeError("not a lending scenario")  # pragma: no cover
    return table


def market_arguments(table: LendingTable, assets: Sequence[str] = ()) -> np.ndarray:
    """The ``N_LEND_ARGS`` market vector of the kernel (kernels/enums.py ``LEND_*``).

    ``assets``: the path assets, in which ``lending.gas_crash_asset`` is looked up
    (congestion gas, docs/model.md 13.4; ``LEND_GAS_CRASH_ASSET`` -1 without one).
    """
    vector = np.zeros(enums.N_LEND_ARGS)
    vector[enums.LEND_CLOSE_FACTOR] = table.close_factor
    vector[enums.LEND_FULL_BELOW_HF] = table.close_factor_full_below_hf
    vector[enums.LEND_SMALL_LOAN] = table.small_loan_threshold
    vector[enums.LEND_GAS] = table.gas_cost
    half_life = table.pool_half_life
    vector[enums.LEND_POOL_DECAY] = 0.0 if half_life == 0.0 else math.pow(0.5, 1.0 / half_life)
    vector[enums.LEND_SEIZE_ORDER] = (
        enums.SEIZE_HIGHEST_VALUE if table.seize_order == "highest_value" else enums.SEIZE_BOOK
    )
    vector[enums.LEND_ORACLE_DEVIATION] = table.oracle_deviation
    vector[enums.LEND_ORACLE_HEARTBEAT] = table.oracle_heartbeat_steps
    vector[enums.LEND_BONUS_SLOPE] = table.bonus_ramp_slope
    vector[enums.LEND_GAS_CRASH_SLOPE] = table.gas_crash_slope
    crash = table.gas_crash_asset
    names = list(assets)
    if table.gas_crash_slope > 0.0 and crash not in names:  # check_lending refuses it
        raise ValueError(f"gas_crash_asset {crash!r} is not among {names}")  # pragma: no cover
    vector[enums.LEND_GAS_CRASH_ASSET] = names.index(crash) if crash in names else -1
    vector[enums.LEND_GAS_CRASH_WINDOW] = table.gas_crash_window
    return vector


def start_prices(source: MultiPathSource) -> np.ndarray:
    """``P_a,0`` of the path assets then 1 for the quote asset, quote per base."""
    return np.append(np.asarray(source.start_prices(), dtype=float), 1.0)


def build_loans(scenario: schema.Scenario, source: MultiPathSource) -> LoanBook:
    """The loan book of a scenario's ``[book]`` table."""
    table = lending_table(scenario)
    assets = all_assets(scenario.paths, table)
    config = scenario.book
    if isinstance(config, LoansSyntheticBook):
        return synthetic_loans(config, table, scenario.seed, start_prices(source), assets)
    if isinstance(config, LoansFileBook):
        return read_loans(config.file, assets)
    raise TypeError(f"no loan book for {type(config).__name__}")  # pragma: no cover


@dataclass(frozen=True)
class WakeIndex:
    """Single-collateral loans sorted by the threshold that wakes them (docs/model.md 13.7).

    Attributes
    ----------
    single
        Loan indices of the single-collateral loans, grouped by (collateral asset,
        debt asset) and by descending ``theta`` within a group (ties: loan order).
    theta
        ``d / (c LT_a)`` of each, in that order: ``HF < 1`` exactly when
        ``O_a / O_b < theta`` (``inf`` when ``c LT_a = 0``).
    debt, collateral
        The debt (units of its debt asset) and collateral (base units) of each, in that
        order: what a loan holds when it first wakes on a path, read in order.
    group_of
        Each loan's group (row of ``groups``), -1 for a loan of several rows.
    groups
        ``(G, 4)`` int64: first position, end position, collateral asset, debt asset.
    always
        The other loans (several collateral rows), ascending.
    multi
        Their sleep index (:func:`multi_sleep_index`, kernels/lending_multi.py).
    sleep_debt, sleep_collateral
        Each group's debt (units of its debt asset) and collateral (base units) summed
        over ``single`` in that order: the sleep sums every path starts from, computed
        once here instead of on every path.
    held, borrowed
        Whether some loan holds each path asset as collateral (a row, whatever its
        amount), and whether some loan borrows each asset (the quote asset last): the
        assets of the step's cut of the candidates (docs/model.md 13.7).
    """

    single: np.ndarray
    theta: np.ndarray
    debt: np.ndarray
    collateral: np.ndarray
    group_of: np.ndarray
    groups: np.ndarray
    always: np.ndarray
    sleep_debt: np.ndarray
    sleep_collateral: np.ndarray
    held: np.ndarray
    borrowed: np.ndarray
    multi: MultiIndex


def multi_sleep_index(
    book: LoanBook, threshold: np.ndarray, reference: np.ndarray | None = None
) -> MultiIndex:
    """The sleep index of the loans of several collateral rows (docs/model.md 13.7).

    Each of their collateral rows is an entry of the wake queue of its pair (collateral
    asset, debt asset); a row with ``c LT > 0`` starts asleep with key
    ``rho_a d / sum_a c_a LT_a rho_a``, ``rho_a = reference_a / reference_b`` a
    reference ratio of marks (``reference``: a price per asset and 1 for the quote
    asset, by default 1 for every asset; any positive reference is exact, a close
    one wakes fewer loans at the first step). A loan with no such row is awake from
    the start. Every path starts from this index; nothing here depends on a path.
    """
    from stresstest.kernels.lending_multi import BUCKET_SHIFT, N_BUCKETS, initial_sleep_sums

    n_marks = len(book.assets)
    legs = np.diff(book.start)
    always = np.flatnonzero(legs != 1).astype(np.int64)
    multi_of = np.full(len(book), -1, dtype=np.int64)
    multi_of[always] = np.arange(always.size)
    counts = legs[always]
    entry_first = np.r_[0, np.cumsum(counts)].astype(np.int64)
    n_entries = int(entry_first[-1])
    entry_loan = np.repeat(always, counts).astype(np.int64)
    entry_leg = (
        np.repeat(book.start[always] - entry_first[:-1], counts) + np.arange(n_entries)
    ).astype(np.int64)
    asset = book.asset[entry_leg]
    debt_of = book.debt_asset[entry_loan]
    pair_key = asset * n_marks + debt_of
    codes, entry_pair = np.unique(pair_key, return_inverse=True)
    entry_pair = entry_pair.reshape(-1).astype(np.int64)
    capacity = np.bincount(entry_pair, minlength=codes.size)
    pairs = (
        np.stack([np.cumsum(capacity) - capacity, codes // n_marks, codes % n_marks], axis=1)
        .astype(np.int64)
        .reshape(-1, 3)
    )
    prices = np.ones(n_marks) if reference is None else np.asarray(reference, dtype=float)
    prices = np.where(np.isfinite(prices) & (prices > 0.0), prices, 1.0)
    rho = prices[asset] / prices[debt_of]
    weight = book.collateral[entry_leg] * threshold[asset]
    weighted = np.zeros(always.size)
    if n_entries:
        weighted = np.add.reduceat(weight * rho, entry_first[:-1])
    asleep = weighted > 0.0
    entry_asleep = (weight > 0.0) & np.repeat(asleep, counts)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # inf: woken at once
        key = rho * book.debt[entry_loan] / np.repeat(weighted, counts)
    sleepers = np.flatnonzero(entry_asleep)
    order = sleepers[np.lexsort((sleepers, -key[sleepers], entry_pair[sleepers]))]
    size0 = np.bincount(entry_pair[order], minlength=codes.size).astype(np.int64)
    rank = np.arange(order.size) - (np.cumsum(size0) - size0)[entry_pair[order]]
    slots = pairs[entry_pair[order], 0] + rank
    key0 = np.zeros(n_entries)
    entry0 = np.full(n_entries, -1, dtype=np.int64)
    key0[slots] = key[order]
    entry0[slots] = order
    pair_rho = prices[pairs[:, 1]] / prices[pairs[:, 2]]
    origin = (pair_rho.view(np.int64) >> BUCKET_SHIFT) - N_BUCKETS // 2
    sleep_debt = np.zeros(n_marks)
    sleep_collateral = np.zeros(n_marks)
    initial_sleep_sums(
        always[asleep],
        book.start,
        book.asset,
        book.collateral,
        book.debt_asset,
        book.debt,
        sleep_debt,
        sleep_collateral,
    )
    return (
        multi_of,
        entry_first,
        entry_leg,
        entry_loan,
        entry_pair,
        pairs,
        size0,
        key0,
        entry0,
        origin,
        always[~asleep],
        sleep_debt,
        sleep_collateral,
    )


def wake_index(
    book: LoanBook, threshold: np.ndarray, reference: np.ndarray | None = None
) -> WakeIndex:
    """The :class:`WakeIndex` of a loan book under per-asset thresholds ``LT_a``.

    ``reference``: the marks the multi-collateral loans' initial keys are taken at
    (:func:`multi_sleep_index`).
    """
    from stresstest.kernels.lending import sleep_sums

    legs = np.diff(book.start)
    single = np.flatnonzero(legs == 1)
    first = book.start[single]
    asset = book.asset[first]
    debt_asset = book.debt_asset[single]
    weighted = book.collateral[first] * threshold[asset]
    with np.errstate(divide="ignore", over="ignore"):  # inf: a loan woken at once
        theta = np.where(weighted > 0.0, book.debt[single] / weighted, np.inf)
    order = np.lexsort((single, -theta, debt_asset, asset))
    single, asset, debt_asset, theta = single[order], asset[order], debt_asset[order], theta[order]
    key = asset * (len(book.assets) + 1) + debt_asset
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])[: key.size]
    ends = np.r_[starts[1:], key.size][: starts.size].astype(np.int64)
    group_of = np.full(len(book), -1, dtype=np.int64)
    group_of[single] = np.cumsum(np.r_[True, key[1:] != key[:-1]][: key.size]) - 1
    groups = np.ascontiguousarray(
        np.stack([starts, ends, asset[starts], debt_asset[starts]], axis=1).reshape(-1, 4),
        dtype=np.int64,
    )
    single = single.astype(np.int64)
    sleep_debt = np.zeros(groups.shape[0])
    sleep_collateral = np.zeros(groups.shape[0])
    sleep_sums(single, groups, book.start, book.collateral, book.debt, sleep_debt, sleep_collateral)
    return WakeIndex(
        single=single,
        theta=theta,
        debt=np.ascontiguousarray(book.debt[single], dtype=float),
        collateral=np.ascontiguousarray(book.collateral[book.start[single]], dtype=float),
        group_of=group_of,
        groups=groups,
        always=np.flatnonzero(legs != 1).astype(np.int64),
        sleep_debt=sleep_debt,
        sleep_collateral=sleep_collateral,
        held=np.isin(np.arange(len(book.assets) - 1), book.asset),
        borrowed=np.isin(np.arange(len(book.assets)), book.debt_asset),
        multi=multi_sleep_index(book, threshold, reference),
    )


@dataclass(frozen=True)
class LendingPlan:
    """Everything a chunk of paths needs: the source, the loans and the market's arrays."""

    source: MultiPathSource
    book: LoanBook
    market: np.ndarray
    threshold: np.ndarray
    bonus: np.ndarray
    #: Cap of the bonus ramp per asset (docs/model.md 13.3); ``bonus`` without a ramp.
    bonus_max: np.ndarray
    fee: np.ndarray
    depth: np.ndarray
    fund_initial: float
    grid: np.ndarray
    wake: WakeIndex
    #: The ``N_MECH`` vector of ``[oracle]`` (docs/model.md 13.2); empty without one.
    oracle: np.ndarray
    #: Gas per liquidation at each step 0..T of ``lending.gas_file`` (quote units, 13.4);
    #: empty without one (the constant ``gas_cost`` of the market vector).
    gas: np.ndarray
    #: Knots of the piecewise depth curves of ``lending.pool_depth_file`` (13.4): the first
    #: knot of each path asset then the end, ``(A + 1,)``, empty without a file (the
    #: constant-product pools of ``depth``); and the knots ``(3, K)``.
    curve_start: np.ndarray
    curve_knots: np.ndarray


def oracle_vector(scenario: schema.Scenario) -> np.ndarray:
    """The ``N_MECH`` vector of the scenario's ``[oracle]``, or an empty one without it."""
    if scenario.oracle is None:
        return np.zeros(0)
    params = neutral_vector()
    set_oracle(params, scenario)
    return params


def lending_plan(
    scenario: schema.Scenario, source: MultiPathSource, book: LoanBook, grid: np.ndarray
) -> LendingPlan:
    """Kernel arguments of a loaded lending scenario."""
    table = lending_table(scenario)
    n_assets = len(source.assets)
    fee = table.protocol_fee if table.protocol_fee is not None else [0.0] * n_assets
    threshold = np.asarray(table.liquidation_threshold, dtype=float)
    bonus = np.asarray(table.liquidation_bonus, dtype=float)
    cap = table.bonus_max if table.bonus_max is not None else table.liquidation_bonus
    if table.pool_depth_file is not None:
        curves = read_depth_curves(table.pool_depth_file, tuple(source.assets))
        curve_start, curve_knots = curves.start, curves.knots
    else:
        curve_start, curve_knots = np.zeros(0, dtype=np.int64), np.zeros((3, 0))
    depth = table.pool_depth if table.pool_depth is not None else [0.0] * n_assets
    return LendingPlan(
        source=source,
        book=book,
        market=market_arguments(table, source.assets),
        threshold=threshold,
        bonus=bonus,
        bonus_max=np.asarray(cap, dtype=float),
        fee=np.asarray(fee, dtype=float),
        depth=np.asarray(depth, dtype=float),
        fund_initial=scenario.insurance_fund.initial,
        grid=grid,
        wake=wake_index(book, threshold, start_prices(source)),
        oracle=oracle_vector(scenario),
        gas=(
            read_gas_path(table.gas_file, source.n_steps)
            if table.gas_file is not None
            else np.zeros(0)
        ),
        curve_start=curve_start,
        curve_knots=curve_knots,
    )


def replay_prices(plan: LendingPlan, prices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replay the plan's loans over ``prices`` ``(count, n_assets, T + 1)`` (quote per base).

    Returns metrics ``(count, N_METRICS_LENDING)`` and records ``(count, N_GRID, len(grid))``.
    """
    import numba

    from stresstest.kernels.lending import lending_replay_paths

    count = prices.shape[0]
    out = np.zeros((count, enums.N_METRICS_LENDING))
    grid_out = np.empty((count, N_GRID, plan.grid.shape[0]))
    book = plan.book
    lending_replay_paths(
        np.ascontiguousarray(prices),
        plan.market,
        plan.threshold,
        plan.bonus,
        plan.bonus_max,
        plan.fee,
        plan.depth,
        book.start,
        book.asset,
        book.collateral,
        book.debt_asset,
        book.debt,
        plan.wake.single,
        plan.wake.theta,
        plan.wake.debt,
        plan.wake.collateral,
        plan.wake.groups,
        plan.wake.multi,
        plan.wake.sleep_debt,
        plan.wake.sleep_collateral,
        plan.wake.held,
        plan.wake.borrowed,
        plan.fund_initial,
        plan.grid,
        plan.oracle,
        plan.gas,
        plan.curve_start,
        plan.curve_knots,
        4 * numba.get_num_threads(),  # blocks of paths sharing buffers: results do not depend
        out,
        grid_out,
    )
    return out, grid_out


def replay_variants_chunk(
    plans: Sequence[LendingPlan], first: int, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Generate paths ``first .. first + count - 1`` once and replay every plan over them."""
    prices = plans[0].source.chunk(first, count)
    values = [replay_prices(plan, prices) for plan in plans]
    return np.stack([value[0] for value in values]), np.stack([value[1] for value in values])


def lending_chunk_size(source: MultiPathSource, n_plans: int = 1) -> int:
    """Paths per chunk so that one chunk of prices for every plan takes about 64 MB."""
    n_points = len(source.assets) * (source.n_steps + 1)
    return max(1, min(source.n_paths, CHUNK_BUDGET_VALUES // (n_points * n_plans)))


def book_stats(book: LoanBook, prices: np.ndarray) -> BookStats:
    """Loans, 0 longs, debt at step 0 and collateral at step 0 (quote units)."""
    return BookStats(len(book), 0, book.debt_value(prices), book.collateral_value(prices))


def prepare_lending(scenario: schema.Scenario) -> LendingPlan:
    """Build a loaded lending scenario's paths source, loans and kernel arguments.

    Reads and checks the loan file (or draws the loans); nothing is written.
    """
    source = multi_path_source(scenario.paths, scenario.seed, scenario.source_file)
    book = build_loans(scenario, source)
    grid = record_grid_steps(source.n_paths, source.n_steps, 1)
    return lending_plan(scenario, source, book, grid)


def run_lending(
    scenario: schema.Scenario,
    plan: LendingPlan,
    *,
    chunk_size: int | None = None,
    checkpoint: Checkpoint | None = None,
    progress: Progress | None = None,
    executor: str = "local",
    scheduler: str | None = None,
) -> Result:
    """Replay a prepared lending scenario's loans over all its paths (docs/model.md 13).

    Results depend neither on ``chunk_size`` nor on the executor or threads.
    """
    return replay_lending_plans(
        [scenario],
        [plan],
        chunk_size=chunk_size,
        checkpoint=checkpoint,
        progress=progress,
        executor=executor,
        scheduler=scheduler,
    )[0]


def replay_lending_plans(
    scenarios: Sequence[schema.Scenario],
    plans: Sequence[LendingPlan],
    *,
    chunk_size: int | None = None,
    checkpoint: Checkpoint | None = None,
    progress: Progress | None = None,
    executor: str = "local",
    scheduler: str | None = None,
) -> list[Result]:
    """Replay lending plans that share their paths and grid; one result per scenario.

    Each chunk of paths is generated once and every plan replays it
    (:func:`replay_variants_chunk`); the results are assembled by
    :func:`~stresstest.engine.assemble.assemble_results`.
    """
    source, grid = plans[0].source, plans[0].grid
    metrics, records = execute_chunks(
        tuple(plans),
        chunk_function=replay_variants_chunk,
        n_variants=len(plans),
        n_paths=source.n_paths,
        n_metrics=enums.N_METRICS_LENDING,
        grid_shape=(N_GRID, int(grid.shape[0])),
        chunk_size=chunk_size or lending_chunk_size(source, len(plans)),
        executor=executor,
        scheduler=scheduler,
        checkpoint=checkpoint,
        progress=progress,
    )
    starts = start_prices(source)
    return assemble_results(
        scenarios,
        metrics,
        records,
        source=source,
        grid=grid,
        books=[book_stats(plan.book, starts) for plan in plans],
    )


def lending_plans(scenarios: Sequence[schema.Scenario]) -> list[LendingPlan]:
    """One plan per lending scenario on the first one's paths and grid; nothing is written.

    Each scenario builds its own loans (a synthetic book's debts depend on its
    thresholds); scenarios with the same book, thresholds and quote asset share one.
    """
    first = scenarios[0]
    source = multi_path_source(first.paths, first.seed, first.source_file)
    grid = record_grid_steps(source.n_paths, source.n_steps, len(scenarios))
    books: dict[object, LoanBook] = {}
    plans = []
    for scenario in scenarios:
        table = lending_table(scenario)
        key = (scenario.book, tuple(table.liquidation_threshold), table.quote_asset)
        if key not in books:
            books[key] = build_loans(scenario, source)
        plans.append(lending_plan(scenario, source, books[key], grid))
    return plans


def prepared_run(scenarios: Sequence[schema.Scenario]) -> PreparedRun:
    """Lending scenarios as the engine's one :class:`~stresstest.engine.prepared.PreparedRun`.

    Each scenario's findings are its loan-book checks before the run (health
    factors and reserve at step 0, docs/plausibility.md "Lending").
    """
    from stresstest.scenario.plausibility import lending_findings

    plans = lending_plans(scenarios)
    source, grid = plans[0].source, plans[0].grid
    starts = start_prices(source)
    return PreparedRun(
        kind="lending",
        scenarios=tuple(scenarios),
        plan=tuple(plans),
        chunk_function=replay_variants_chunk,
        n_paths=source.n_paths,
        n_steps=source.n_steps,
        n_assets=len(source.assets),
        n_metrics=enums.N_METRICS_LENDING,
        grid=grid,
        chunk_size=lending_chunk_size(source, len(plans)),
        findings=tuple(
            tuple(lending_findings(scenario, plan.book, starts))
            for scenario, plan in zip(scenarios, plans, strict=True)
        ),
        assemble=functools.partial(
            assemble_results,
            tuple(scenarios),
            source=source,
            grid=grid,
            books=[book_stats(plan.book, starts) for plan in plans],
        ),
    )
