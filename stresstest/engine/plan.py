"""A replay plan: everything one chunk of paths needs, picklable for remote workers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.enums import N_GRID
from stresstest.paths import PathSource
from stresstest.scenario import schema

if TYPE_CHECKING:
    from stresstest.book import SortedBook
    from stresstest.engine.attribution import AttributionPlan
    from stresstest.engine.defences import DefencePlan
    from stresstest.scenario.plausibility import Finding

# The compiled kernels (and numba) are imported where a chunk is replayed, not here:
# the budget (engine/budget.py) and `stresstest validate` plan without them.


def margin_arguments(
    margin: schema.MarginConfig,
    *,
    vol_floor_variance: float = 0.0,
    procyclicality_horizon: int = 0,
) -> np.ndarray:
    """The kernels' margin design vector, float64, indexed by ``enums.MARGIN_ARG_*``.

    ``(model, maintenance, k, horizon_steps, lambda, v0, floor, cap, apc_buffer,
    stressed_weight, stressed_variance, vol_floor_variance, procyclicality_horizon)``;
    the fields the model does not use hold neutral values (an APC option that is
    off holds 0; an absent ``stressed_variance`` is -1: the running maximum).
    ``vol_floor_variance`` (per step) is the floor the engine resolved from the
    path source (engine/procyclicality.py); ``procyclicality_horizon`` the ``n`` of
    ``[procyclicality]``, 0 without it (docs/model.md 3.1, 3.2).
    """
    if isinstance(margin, schema.StaticMargin):
        values: tuple[float, ...] = (
            enums.MARGIN_STATIC,
            margin.maintenance,
            0.0,
            1.0,
            0.5,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            -1.0,
            0.0,
        )
    else:
        stressed = margin.stressed_variance
        values = (
            enums.MARGIN_VOL_SCALED,
            0.0,
            margin.k,
            float(margin.horizon_steps),
            margin.ewma_lambda,
            margin.initial_variance,
            margin.floor,
            margin.cap,
            margin.apc_buffer or 0.0,
            margin.stressed_weight or 0.0,
            -1.0 if stressed is None else stressed,
            vol_floor_variance,
        )
    return np.asarray((*values, float(procyclicality_horizon)), dtype=np.float64)


def liquidation_arguments(liquidation: schema.Liquidation) -> np.ndarray:
    """The kernels' liquidation vector, float64, indexed by ``enums.LIQUIDATION_ARG_*``.

    ``(latency_steps, slippage, fee, liquidator_share)``.
    """
    return np.asarray(
        (
            liquidation.latency_steps,
            liquidation.slippage,
            liquidation.fee,
            liquidation.liquidator_share,
        ),
        dtype=np.float64,
    )


@dataclass(frozen=True)
class VariantPlan:
    """One margin/liquidation/fund design replayed over the shared paths."""

    book: SortedBook
    margin: np.ndarray
    liquidation: np.ndarray
    fund_initial: float
    #: The stages of kernels/pipeline.py (crash mechanisms, docs/model.md 9, partial
    #: liquidation, 10.1, and ADL, 10.2) as its ``N_MECH`` vector; ``None``: none is
    #: on, and the core kernel runs.
    mechanics: np.ndarray | None = None
    #: ADL's positions (docs/model.md 10.2); ``None`` without ``[adl]``.
    defences: DefencePlan | None = None
    #: Plausibility findings over the scenario, book and paths before the run
    #: (:mod:`stresstest.scenario.plausibility`); the run does not depend on them.
    warnings: tuple[Finding, ...] = ()
    #: Cohorts and flag-step buckets to attribute to (docs/model.md 6b); ``None``: none.
    attribution: AttributionPlan | None = None


def _no_grid() -> np.ndarray:
    return np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class ReplayPlan:
    """Paths shared by one or more variants (several for ``compare``).

    ``grid`` holds the steps at which every path's price, fund and closes are
    recorded (empty: none).
    """

    source: PathSource
    variants: tuple[VariantPlan, ...]
    grid: np.ndarray = field(default_factory=_no_grid)

    @property
    def n_paths(self) -> int:
        """Number of paths."""
        return int(self.source.n_paths)

    @property
    def attribution_offset(self) -> int:
        """Columns per path of the metrics: wide enough for every stage column of every variant.

        Each stage column has its own slot (``enums.METRIC_INDEX``); a row is
        ``N_METRICS`` wide when no variant has a stage with columns of its own.
        The attribution columns (docs/model.md 6b) follow from here.
        """
        from stresstest.engine.mechanics import has_impact, stage_width

        widths = [enums.N_METRICS]
        widths += [enums.N_METRICS_MARKET for v in self.variants if has_impact(v.mechanics)]
        widths += [v.defences.n_metrics for v in self.variants if v.defences is not None]
        widths += [
            enums.N_METRICS_PROCYCLICALITY
            for v in self.variants
            if v.margin[enums.MARGIN_ARG_PROCYC_HORIZON] > 0
        ]
        widths += [stage_width(v.mechanics) for v in self.variants]
        return max(widths)

    @property
    def n_metrics(self) -> int:
        """Columns per path: the metrics, then the widest variant's attribution."""
        widths = [0] + [v.attribution.width for v in self.variants if v.attribution is not None]
        return self.attribution_offset + max(widths)


def replay_chunk(plan: ReplayPlan, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Generate paths ``first .. first + count - 1`` once and replay every variant on them.

    Returns the metrics ``(n_variants, count, N_METRICS)`` and the records at the
    grid steps ``(n_variants, count, N_GRID, len(grid))``, float64. A plan that
    :func:`fuses_generation` generates and replays its paths group by group
    instead (:func:`replay_gbm_chunk`): the same bits.
    """
    from stresstest.kernels.replay import replay_paths_attributed

    if fuses_generation(plan):
        return replay_gbm_chunk(plan, first, count)
    prices = plan.source.chunk(first, count)
    n_variants = len(plan.variants)
    out = np.zeros((n_variants, count, plan.n_metrics))
    grid_out = np.empty((n_variants, count, N_GRID, plan.grid.shape[0]))
    for index, variant in enumerate(plan.variants):
        if variant.mechanics is not None:
            replay_pipeline(prices, plan.grid, variant, out[index], grid_out[index])
            continue
        cohorts, step_edges, width = attribution_arguments(variant)
        offset = plan.attribution_offset
        replay_paths_attributed(
            prices,
            *core_arguments(variant),
            plan.grid,
            out[index],
            grid_out[index],
            cohorts,
            step_edges,
            out[index, :, offset : offset + width],
        )
    return out, grid_out


def core_arguments(
    variant: VariantPlan,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """The core replay's design and book arguments for ``variant``, in its kernels' order.

    ``(margin, liquidation, long_threshold, long_prefix, short_threshold,
    short_prefix, fund_initial)``: the arguments ``replay_paths_attributed``,
    ``gbm_replay_paths`` and ``requirement_paths`` share.
    """
    book = variant.book
    return (
        variant.margin,
        variant.liquidation,
        book.long_threshold,
        book.long_prefix,
        book.short_threshold,
        book.short_prefix,
        variant.fund_initial,
    )


#: The book by cohort as the core replay takes it (``replay_path``'s ``cohorts``).
CohortArrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def attribution_arguments(variant: VariantPlan) -> tuple[CohortArrays, np.ndarray, int]:
    """The core replay's ``(cohorts, step_edges)`` for ``variant`` and its attribution width."""
    from stresstest.kernels.replay import NO_COHORTS, NO_STEP_EDGES

    if variant.attribution is None:
        return NO_COHORTS, NO_STEP_EDGES, 0
    cohorts, step_edges = variant.attribution.kernel_arguments()
    long_threshold, long_prefix, long_bounds, short_threshold, short_prefix, short_bounds = cohorts
    return (
        (long_threshold, long_prefix, long_bounds, short_threshold, short_prefix, short_bounds),
        step_edges,
        variant.attribution.width,
    )


def fuses_generation(plan: ReplayPlan) -> bool:
    """Whether :func:`replay_chunk` fuses generation with the replay (:func:`replay_gbm_chunk`).

    So when the paths are drawn by :class:`~stresstest.paths.gbm.GbmPathSource`
    itself (not held in memory, not transformed by a wrapper) and replayed by one
    design on the core replay (no stage of kernels/pipeline.py): nothing else reads
    the chunk's prices then (the per-step records, which the quantile bands and the
    per-step files are made of, are written by the fused kernel). Several designs
    (``compare``) share one generated chunk instead.
    """
    from stresstest.paths.gbm import GbmPathSource

    return (
        type(plan.source) is GbmPathSource
        and len(plan.variants) == 1
        and plan.variants[0].mechanics is None
    )


def replay_gbm_chunk(plan: ReplayPlan, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`replay_chunk` of a plan that :func:`fuses_generation`: the same arrays, bit for bit.

    Generates and replays paths ``first .. first + count - 1`` one group of
    ``kernels.gbm.LANES`` paths at a time
    (:func:`stresstest.kernels.gbm_replay.gbm_replay_paths`), so the chunk's
    prices are never held in memory whole.
    """
    from stresstest.kernels.gbm_replay import gbm_replay_paths
    from stresstest.paths.gbm import GbmPathSource

    source = plan.source
    assert isinstance(source, GbmPathSource)
    [variant] = plan.variants
    out = np.zeros((1, count, plan.n_metrics))
    grid_out = np.empty((1, count, N_GRID, plan.grid.shape[0]))
    cohorts, step_edges, width = attribution_arguments(variant)
    offset = plan.attribution_offset
    gbm_replay_paths(
        source.key[0],
        source.key[1],
        first,
        source.config.s0,
        source.config.sigma,
        source.config.drift,
        source.n_steps,
        *core_arguments(variant),
        plan.grid,
        out[0],
        grid_out[0],
        cohorts,
        step_edges,
        out[0, :, offset : offset + width],
    )
    return out, grid_out


def core_replay(mechanics: np.ndarray | None, margin: np.ndarray) -> bool:
    """Whether a design runs the core replay without APC: the designs whose costs the
    requirement-only mode measures (tests/test_requirement.py holds it to the full replay)."""
    from stresstest.kernels.margin import has_apc

    return mechanics is None and not has_apc(margin)


def measures_requirement(plan: ReplayPlan) -> bool:
    """Whether :func:`requirement_chunk` serves ``plan``: no records (an empty grid) and
    every variant a core replay (:func:`core_replay`)."""
    return plan.grid.shape[0] == 0 and all(
        core_replay(variant.mechanics, variant.margin) for variant in plan.variants
    )


def requirement_chunk(plan: ReplayPlan, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The replay's requirement-only mode over paths ``first .. first + count - 1``.

    Only for a plan :func:`measures_requirement` accepts. Returns the metrics
    ``(n_variants, count, n_metrics)`` in a replay's layout with only
    ``REQUIREMENT_MEAN`` computed (the full replay's bits,
    :func:`stresstest.kernels.replay.requirement_paths`; the other columns are 0)
    and the (empty) records ``(n_variants, count, N_GRID, 0)``.
    """
    from stresstest.kernels.replay import requirement_paths

    prices = plan.source.chunk(first, count)
    out = np.zeros((len(plan.variants), count, plan.n_metrics))
    for index, variant in enumerate(plan.variants):
        requirement_paths(
            prices,
            *core_arguments(variant),
            out[index],
        )
    return out, np.empty((len(plan.variants), count, N_GRID, 0))


_NO_POSITIONS = np.empty((3, 0))


def replay_pipeline(
    prices: np.ndarray,
    grid: np.ndarray,
    variant: VariantPlan,
    out: np.ndarray,
    grid_out: np.ndarray,
) -> None:
    """Replay one variant through the stage pipeline (kernels/pipeline.py) into ``out``."""
    from stresstest.kernels.pipeline import pipeline_paths

    assert variant.mechanics is not None
    defences = variant.defences
    long_positions = _NO_POSITIONS
    short_positions = _NO_POSITIONS
    if defences is not None:
        long_positions = defences.long_positions
        short_positions = defences.short_positions
    pipeline_paths(
        prices,
        variant.margin,
        variant.liquidation,
        variant.mechanics,
        variant.book.long_threshold,
        variant.book.long_prefix,
        long_positions,
        variant.book.short_threshold,
        variant.book.short_prefix,
        short_positions,
        variant.fund_initial,
        grid,
        out,
        grid_out,
    )


def chunk_ranges(first: int, stop: int, chunk_size: int) -> list[tuple[int, int]]:
    """``(first, count)`` pairs covering ``[first, stop)`` in chunks of at most ``chunk_size``."""
    return [(start, min(chunk_size, stop - start)) for start in range(first, stop, chunk_size)]


#: Memory for the per-path records at grid steps, bytes (all variants together).
RECORD_BUDGET_BYTES = 256 * 1024 * 1024


#: Prices held in memory at once, in float64 values (64 MB): sets the default chunk size.
CHUNK_BUDGET_VALUES = 8_000_000


def record_grid_points(n_paths: int, n_steps: int, n_variants: int) -> int:
    """How many steps :func:`record_grid_steps` records: all ``T + 1``, or fewer (at least 2)."""
    per_step = n_variants * n_paths * N_GRID * 8
    return max(2, min(n_steps + 1, RECORD_BUDGET_BYTES // max(per_step, 1)))


def record_grid_steps(n_paths: int, n_steps: int, n_variants: int) -> np.ndarray:
    """Steps to record: every step if the records fit ``RECORD_BUDGET_BYTES``, else an even grid.

    The grid always holds steps 0 and T, and is the same for every chunk size.
    """
    points = record_grid_points(n_paths, n_steps, n_variants)
    if points >= n_steps + 1:
        return np.arange(n_steps + 1, dtype=np.int64)
    return np.unique(np.round(np.linspace(0, n_steps, points)).astype(np.int64))
