"""The one place a :class:`~stresstest.engine.result.Result` is assembled from chunk outputs.

Every way of running a scenario ends here: ``run`` (single-asset, accounts and
lending), ``compare`` and its ``--match`` searches, ``reverse``, ``check``,
``optimize``, the Python API, resume and Dask all replay a plan chunk by chunk
(:func:`~stresstest.engine.executors.execute_chunks`) into two arrays, the
per-path columns ``(n_variants, n_paths, width)`` and the records at the grid
steps ``(n_variants, n_paths, N_GRID, len(grid))``, and hand them to
:func:`assemble_results`. The summary, the per-step quantile bands and the
metadata of the result folder are computed from a Result by its own methods
(:mod:`stresstest.engine.result`), so the same arrays give the same bytes
whichever command made them (docs/development.md, "One path from a scenario to
a result").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from stresstest.engine.result import BookStats, Result
from stresstest.paths.source import source_provenance, source_references
from stresstest.scenario.schema import Scenario

if TYPE_CHECKING:
    from stresstest.engine.attribution import AttributionResult
    from stresstest.engine.plan import ReplayPlan


class ReplayedPaths(Protocol):
    """What assembly reads of a path source, single-asset or multi-asset: the path ids."""

    def path_ids(self) -> np.ndarray: ...


def assemble_results(
    scenarios: Sequence[Scenario],
    metrics: np.ndarray,
    records: np.ndarray,
    *,
    source: ReplayedPaths,
    grid: np.ndarray,
    books: Sequence[BookStats],
    columns: int | None = None,
    attributions: Sequence[AttributionResult | None] | None = None,
    describe_paths: bool = True,
) -> list[Result]:
    """One :class:`Result` per scenario from the replayed chunk outputs.

    Parameters
    ----------
    scenarios
        The designs replayed, in the order of the first axis of ``metrics``.
    metrics
        ``(n_variants, n_paths, width)`` float64: the per-path columns
        (``enums.METRIC_INDEX``), then any attribution columns.
    records
        ``(n_variants, n_paths, N_GRID, len(grid))``: price, fund and closes at
        the grid steps.
    source
        The path source replayed: its path ids, and (``describe_paths``) what it
        used (:func:`~stresstest.paths.source.source_provenance`) and the real
        crash paths it offers (:func:`~stresstest.paths.source.source_references`).
    grid
        The recorded steps (empty: none recorded).
    books
        What each scenario's book held (counts, entry notional, collateral).
    columns
        How many leading columns of ``metrics`` are per-path metrics (the rest
        are attribution columns, docs/model.md 6b); ``None``: all of them.
    attributions
        Each scenario's cohort attribution, or ``None`` (none for any).
    describe_paths
        ``False`` for replays that only measure a design (a match's scan, a
        reverse search): no provenance record and no reference paths.
    """
    path_ids = source.path_ids()
    paths_record = source_provenance(source) if describe_paths else None
    references = source_references(source) if describe_paths else None
    width = metrics.shape[2] if columns is None else columns
    return [
        Result(
            scenario=scenario,
            path_ids=path_ids,
            metrics=metrics[index, :, :width],
            book=books[index],
            grid=grid,
            records=records[index],
            paths_record=paths_record,
            references=references,
            attribution=None if attributions is None else attributions[index],
        )
        for index, scenario in enumerate(scenarios)
    ]


def replay_results(
    plan: ReplayPlan,
    books: Sequence[BookStats],
    metrics: np.ndarray,
    records: np.ndarray,
    *,
    scenarios: Sequence[Scenario],
    describe_paths: bool = True,
) -> list[Result]:
    """The results of a single-asset :class:`~stresstest.engine.plan.ReplayPlan`'s variants.

    ``metrics`` and ``records`` are what :func:`~stresstest.engine.run.execute`
    returned for ``plan``; each variant's attribution columns become its
    :class:`~stresstest.engine.attribution.AttributionResult`.
    """
    return assemble_results(
        scenarios,
        metrics,
        records,
        source=plan.source,
        grid=plan.grid,
        books=books,
        columns=plan.attribution_offset,
        attributions=[attribution_of(plan, index, metrics[index]) for index in range(len(books))],
        describe_paths=describe_paths,
    )


def attribution_of(plan: ReplayPlan, index: int, metrics: np.ndarray) -> AttributionResult | None:
    """Variant ``index``'s attribution from its metrics columns (``None``: it has none)."""
    from stresstest.engine.attribution import AttributionResult

    variant = plan.variants[index]
    if variant.attribution is None:
        return None
    offset = plan.attribution_offset
    columns = metrics[:, offset : offset + variant.attribution.width]
    return AttributionResult.from_row(variant.attribution, columns, plan.source.n_steps)
