"""Replays that only measure static designs: one set of paths and one sorted book for all.

A match (docs/compare.md, "Matching") replays a variant's book at many static
rates: a scan of the grid, then Brent's steps on every sign change. Each replay
used to generate every path again, build and sort the book again, compute the
plausibility findings, the cohort attribution and the per-step records, and
copy them; only two numbers per path were read (the mean requirement, the bad
debt). :class:`StaticFamily` prepares once and replays only what a measure
reads: the paths are generated once and served from memory when they fit
(:mod:`stresstest.paths.memory`), the book is sorted once (a static rate does
not change the thresholds' order), and no attribution, records or findings are
built. The per-path metrics are the same numbers, bit for bit, as a full run's
(tests/test_measuring.py compares them).

Variants that differ only in their margin (the volatility-scaled designs of a
sweep over ``k``) have the same static design at a given rate, and every match
scans the same grid of rates: a :class:`MeasureMemo` shared by their families
replays each distinct static design once and serves it again to every later
match that asks for it (a design's metrics do not depend on the other designs
replayed with it).

Every replay goes through the engine's one sequence
(:func:`~stresstest.engine.run.prepare_run`, then
:meth:`~stresstest.engine.prepared.PreparedRun.execute` and
:meth:`~stresstest.engine.prepared.PreparedRun.results`), for single-asset and
accounts designs alike, with the :class:`~stresstest.engine.run.PrepareCache`
of the comparison (paths and books built once).

A cost match reads one number per design, the mean over paths of
``requirement_mean``: :meth:`StaticFamily.costs` computes that column alone with
the replay kernel's requirement-only mode
(:func:`stresstest.engine.plan.requirement_chunk`, which runs
:func:`stresstest.kernels.replay.requirement_paths`: the one per-path loop of
``replay_path``, without the closes' prices, flows or fund), the same bits as the
full replay's column, wherever the prepared run has that mode (single-asset core
replays) and runs in this process; anything else (a stage pipeline, an APC
option, accounts designs, the dask executor) is replayed as above.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stresstest.engine.prepared import PreparedRun
from stresstest.engine.result import Result
from stresstest.engine.run import PrepareCache, prepare_run
from stresstest.kernels import enums
from stresstest.scenario import Scenario
from stresstest.scenario.compare import Variant


def static_variant(variant: Variant, maintenance: float, kind: str) -> Variant:
    """``variant`` with static margin at ``maintenance`` (fraction of notional), for ``kind``."""
    overrides = {**variant.overrides, "margin": {"model": "static", "maintenance": maintenance}}
    name = f"{variant.name}@static-{kind}"
    return Variant(
        name, overrides, variant.scenario.with_overrides({"margin": overrides["margin"]})
    )


@dataclass
class MeasureMemo:
    """What was measured already, by kind and static rate, with the design it belongs to.

    ``found[(what, rate)]`` lists ``(scenario, value)`` pairs, ``what`` being
    ``"result"`` (a measuring :class:`Result`) or ``"cost"`` (quote units, from the
    replay's requirement-only mode): a value is served again only for a design whose scenario
    equals the one measured (the same book, paths, liquidation, fund and rate),
    whichever variant it was derived from.
    """

    found: dict[tuple[str, float], list[tuple[Scenario, Any]]] = field(default_factory=dict)
    #: Designs replayed or measured (memo misses), for the benchmark and the tests.
    replayed: int = 0

    def get(self, what: str, rate: float, scenario: Scenario) -> Any:
        """What was measured of the static design ``scenario`` at ``rate`` (``None``: nothing)."""
        for design, value in self.found.get((what, rate), ()):
            if design == scenario:
                return value
        return None

    def put(self, what: str, rate: float, scenario: Scenario, value: Any) -> None:
        """Keep what was measured of the static design ``scenario`` at ``rate``."""
        self.found.setdefault((what, rate), []).append((scenario, value))
        self.replayed += 1


@dataclass
class StaticFamily:
    """The static designs of one variant, replayed on shared paths and one sorted book.

    Parameters
    ----------
    variant
        The design whose book, paths, liquidation and fund the static designs keep.
    kind
        ``"cost"`` or ``"risk"``: the match the designs are named for.
    options
        ``chunk_size``, ``executor``, ``scheduler`` of :func:`~stresstest.engine.run.execute`.
    cache
        The paths and sorted books (shared with the comparison's other replays).
    memo
        Static designs replayed already (shared with the other families).
    """

    variant: Variant
    kind: str
    options: dict[str, Any]
    cache: PrepareCache = field(default_factory=PrepareCache)
    memo: MeasureMemo = field(default_factory=MeasureMemo)

    def results(self, rates: Sequence[float]) -> list[Result]:
        """One measuring result per static rate (fraction of notional), on the same paths.

        Each holds the per-path metrics only: no records (an empty grid), no
        attribution, no plausibility findings. Designs the memo holds are not
        replayed again; the others are replayed together, in the order given.
        """
        return self._served("result", rates, self._replay)

    def costs(self, rates: Sequence[float]) -> list[float]:
        """The cost of each static rate (fraction of notional): the mean over paths of
        ``requirement_mean`` (quote units), the same bits as ``np.mean`` of a full
        replay's column.

        Designs the memo holds are not measured again; the others are measured
        together by the replay's requirement-only mode where
        :func:`measured_by_requirement`, else replayed as :meth:`results` does.
        """
        return self._served("cost", rates, self._costs)

    def _served(
        self, what: str, rates: Sequence[float], measure: Callable[[list[Variant]], list[Any]]
    ) -> list[Any]:
        """``what`` of each static rate: from the memo, or ``measure`` of the designs it lacks
        (together, in the order given), which the memo then keeps."""
        designs = [static_variant(self.variant, float(rate), self.kind) for rate in rates]
        found = [
            self.memo.get(what, float(rate), design.scenario)
            for rate, design in zip(rates, designs, strict=True)
        ]
        missing = [index for index, value in enumerate(found) if value is None]
        if missing:
            measured = measure([designs[index] for index in missing])
            for index, value in zip(missing, measured, strict=True):
                self.memo.put(what, float(rates[index]), designs[index].scenario, value)
                found[index] = value
        return found

    def _costs(self, designs: list[Variant]) -> list[float]:
        """The costs of ``designs``: the requirement-only mode where it applies, else replays."""
        prepared = self._measuring_run(designs)
        if measured_by_requirement(prepared, self.options):
            return requirement_costs(prepared, self.options.get("chunk_size"))
        replayed = self._replay(designs, prepared)
        return [float(np.mean(result.column("requirement_mean"))) for result in replayed]

    def _measuring_run(self, designs: list[Variant]) -> PreparedRun:
        """``designs`` prepared on the shared paths and books, without records,
        attribution or findings."""
        return prepare_run(
            [design.scenario for design in designs],
            attribution=False,
            records=False,
            findings=False,
            cache=self.cache,
        )

    def _replay(self, designs: list[Variant], prepared: PreparedRun | None = None) -> list[Result]:
        """Replay ``designs`` together on the shared paths and books, measuring only."""
        run = prepared or self._measuring_run(designs)
        metrics, records = run.execute(**self.options)
        return run.results(metrics, records, describe_paths=False)


def measured_by_requirement(prepared: PreparedRun, options: dict[str, Any]) -> bool:
    """Whether the costs of ``prepared``'s designs are measured by the requirement-only
    mode: the run has one (single-asset core replays without records,
    :func:`~stresstest.engine.plan.measures_requirement`) and ``options`` run it in this
    process."""
    local = options.get("executor", "local") == "local"
    return local and prepared.requirement_chunk is not None


def requirement_costs(prepared: PreparedRun, chunk_size: int | None) -> list[float]:
    """Each design's cost (quote units) by the replay's requirement-only mode.

    :meth:`~stresstest.engine.prepared.PreparedRun.execute` with ``requirement_only``
    fills a replay's metrics layout ``(n_designs, n_paths, n_metrics)`` with only the
    ``requirement_mean`` column, which is averaged with ``np.mean`` as a full replay's
    is: the same values in the same layout give the same bits.
    """
    metrics, _ = prepared.execute(chunk_size=chunk_size, requirement_only=True)
    return [float(np.mean(column[:, enums.REQUIREMENT_MEAN])) for column in metrics]
