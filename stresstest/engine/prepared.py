"""A prepared run of any kind: the one shape the engine plans, executes and assembles.

A scenario's ``[book]`` decides its kind (single-asset positions, multi-asset
accounts, loans; :func:`~stresstest.scenario.tables.scenario_kind`). Each kind
builds its own arrays (:mod:`stresstest.engine.plan`,
:mod:`stresstest.engine.accounts`, :mod:`stresstest.engine.lending`); from then
on every kind is the same :class:`PreparedRun`: the plan its chunk function
reads, the sizes the memory and disk budget needs, the plausibility findings
before the run, and how its results are assembled. :meth:`PreparedRun.execute`
replays it chunk by chunk (:func:`~stresstest.engine.executors.execute_chunks`,
which also serves resume and Dask), and :meth:`PreparedRun.results` hands the
arrays to :mod:`stresstest.engine.assemble`, the one place a Result is made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from stresstest.engine.budget import Estimate, estimate
from stresstest.engine.checkpoint import Checkpoint
from stresstest.engine.executors import ChunkFunction, Progress, execute_chunks
from stresstest.engine.result import Result
from stresstest.kernels.enums import N_GRID
from stresstest.scenario import schema
from stresstest.scenario.plausibility import Finding
from stresstest.scenario.tables import ScenarioKind


class Assemble(Protocol):
    """``assemble(metrics, records)``: one Result per prepared scenario.

    ``describe_paths`` ``False`` records neither the paths' provenance nor their
    reference paths (replays that only measure a design, such as a reverse search).
    """

    def __call__(
        self, metrics: np.ndarray, records: np.ndarray, *, describe_paths: bool = True
    ) -> list[Result]: ...


#: ``wrap(source)``: a path source serving another's chunks transformed (a reverse shock).
PathsWrap = Callable[[Any], Any]


@dataclass(frozen=True)
class PreparedRun:
    """Scenarios of one kind ready to replay on shared paths; nothing written yet.

    Attributes
    ----------
    kind
        ``"single_asset"``, ``"accounts"`` or ``"lending"`` (by the ``[book]``).
    scenarios
        The designs, in the order of the first axis of the replayed arrays.
    plan
        What ``chunk_function`` reads (shipped once to Dask workers).
    chunk_function
        ``chunk_function(plan, first, count)`` generates and replays paths
        ``first .. first + count - 1`` for every design.
    n_paths, n_steps, n_assets
        Sizes of the shared paths (steps per path, assets per step).
    n_metrics
        Columns per path of the replayed metrics (stage and attribution columns included).
    grid
        The recorded steps (empty: none).
    chunk_size
        Paths per chunk when the caller gives none (results do not depend on it).
    findings
        Each scenario's plausibility findings before the run (not yet issued).
    assemble
        Makes one Result per scenario from the replayed arrays.
    repath
        ``repath(wrap)``: the same designs (books, plans, findings) replayed on
        ``wrap(source)`` instead of the path source (``None``: the kind has no
        such replay); see :meth:`on_paths`.
    requirement_chunk
        A chunk function that computes only the ``requirement_mean`` column of
        the metrics, the full replay's bits (``None``: the run has none); see
        :meth:`execute`. A single-asset run without records whose designs are
        all core replays has one (:func:`~stresstest.engine.plan.requirement_chunk`):
        the cost a ``compare --match cost`` reads.
    """

    kind: ScenarioKind
    scenarios: tuple[schema.Scenario, ...]
    plan: object
    chunk_function: ChunkFunction
    n_paths: int
    n_steps: int
    n_assets: int
    n_metrics: int
    grid: np.ndarray
    chunk_size: int
    findings: tuple[tuple[Finding, ...], ...]
    assemble: Assemble
    repath: Callable[[PathsWrap], PreparedRun] | None = None
    requirement_chunk: ChunkFunction | None = None

    def estimate(self, chunk_size: int | None = None) -> Estimate:
        """Memory and disk of the run in chunks of ``chunk_size`` (default: its own), bytes."""
        return estimate(
            n_paths=self.n_paths,
            n_steps=self.n_steps,
            n_positions=0,  # built already
            n_assets=self.n_assets,
            n_variants=len(self.scenarios),
            n_metrics=self.n_metrics,
            n_grid=int(self.grid.shape[0]),
            chunk_size=chunk_size or self.chunk_size,
        )

    def execute(
        self,
        *,
        chunk_size: int | None = None,
        executor: str = "local",
        scheduler: str | None = None,
        checkpoint: Checkpoint | None = None,
        progress: Progress | None = None,
        requirement_only: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Replay every chunk of paths for every design.

        Returns the metrics ``(n_designs, n_paths, n_metrics)`` and the records
        ``(n_designs, n_paths, N_GRID, len(grid))``; they depend neither on
        ``chunk_size`` nor on ``executor``. Chunks held in ``checkpoint`` are
        reused once verified, new ones are saved to it. ``requirement_only``
        runs :attr:`requirement_chunk` instead: only the ``requirement_mean``
        column is computed (the others are 0).

        Raises
        ------
        TypeError
            ``requirement_only`` for a run without :attr:`requirement_chunk` (a
            caller's defect).
        """
        chunk_function = self.chunk_function
        if requirement_only:
            if self.requirement_chunk is None:
                raise TypeError("this run has no requirement-only mode")
            chunk_function = self.requirement_chunk
        return execute_chunks(
            self.plan,
            chunk_function=chunk_function,
            n_variants=len(self.scenarios),
            n_paths=self.n_paths,
            n_metrics=self.n_metrics,
            grid_shape=(N_GRID, int(self.grid.shape[0])),
            chunk_size=chunk_size or self.chunk_size,
            executor=executor,
            scheduler=scheduler,
            checkpoint=checkpoint,
            progress=progress,
        )

    def results(
        self, metrics: np.ndarray, records: np.ndarray, *, describe_paths: bool = True
    ) -> list[Result]:
        """One Result per scenario from what :meth:`execute` returned.

        ``describe_paths`` ``False``: no provenance record and no reference paths
        (:func:`~stresstest.engine.assemble.assemble_results`).
        """
        return self.assemble(metrics, records, describe_paths=describe_paths)

    def on_paths(self, wrap: PathsWrap) -> PreparedRun:
        """The same run on the paths of ``wrap(source)``: nothing is built again.

        ``wrap`` takes the run's path source and returns one with the same
        ``n_paths``, ``n_steps``, ``path_ids()`` and ``start_price()`` whose
        chunks it transforms (``reverse``'s path shocks, docs/reverse.md).

        Raises
        ------
        TypeError
            The kind has no such replay (:attr:`repath` ``None``): a caller's
            defect, refused with an ``InputError`` before preparing.
        """
        if self.repath is None:
            raise TypeError(f"a {self.kind} run cannot be replayed on other paths")
        return self.repath(wrap)
