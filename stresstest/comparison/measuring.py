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

A cost match reads one number per design, the mean over paths of
``requirement_mean``: :meth:`StaticFamily.costs` computes that column alone with
the requirement kernel (:mod:`stresstest.kernels.requirement`, the replay's own
operations on the quantity left open, without the closes' prices, flows or fund),
the same bits as the full replay's column, wherever the designs are core replays
run in this process; anything else (a stage pipeline, an APC option, the dask
executor) is replayed as above.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from stresstest.engine.assemble import replay_results
from stresstest.engine.plan import ReplayPlan, chunk_ranges
from stresstest.engine.result import Result
from stresstest.engine.run import PrepareCache, default_chunk_size, execute, prepare
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
    """Measuring results already replayed, by static rate, with the design they belong to.

    ``found[rate]`` lists ``(scenario, result)`` pairs: a result is served again
    only for a design whose scenario equals the one replayed (the same book,
    paths, liquidation, fund and rate), whichever variant it was derived from.
    """

    found: dict[float, list[tuple[Scenario, Result]]] = field(default_factory=dict)
    #: Costs (quote units) measured by the requirement kernel, held as ``found`` is.
    costs: dict[float, list[tuple[Scenario, float]]] = field(default_factory=dict)
    #: Designs replayed or measured (memo misses), for the benchmark and the tests.
    replayed: int = 0

    def get(self, rate: float, scenario: Scenario) -> Result | None:
        """The result of the static design ``scenario`` at ``rate``, if replayed already."""
        return _held(self.found, rate, scenario)

    def put(self, rate: float, scenario: Scenario, result: Result) -> None:
        """Keep the result of the static design ``scenario`` at ``rate``."""
        self.found.setdefault(rate, []).append((scenario, result))
        self.replayed += 1

    def cost(self, rate: float, scenario: Scenario) -> float | None:
        """The cost of the static design ``scenario`` at ``rate``, if measured already."""
        return _held(self.costs, rate, scenario)

    def put_cost(self, rate: float, scenario: Scenario, cost: float) -> None:
        """Keep the cost (quote units) of the static design ``scenario`` at ``rate``."""
        self.costs.setdefault(rate, []).append((scenario, cost))
        self.replayed += 1


Held = TypeVar("Held")


def _held(
    held: dict[float, list[tuple[Scenario, Held]]], rate: float, scenario: Scenario
) -> Held | None:
    """What ``held`` keeps for the design ``scenario`` at ``rate`` (``None``: nothing)."""
    for design, value in held.get(rate, ()):
        if design == scenario:
            return value
    return None


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
        designs = [static_variant(self.variant, float(rate), self.kind) for rate in rates]
        found = [
            self.memo.get(float(rate), design.scenario)
            for rate, design in zip(rates, designs, strict=True)
        ]
        missing = [index for index, result in enumerate(found) if result is None]
        if missing:
            replayed = self._replay([designs[index] for index in missing])
            for index, result in zip(missing, replayed, strict=True):
                self.memo.put(float(rates[index]), designs[index].scenario, result)
                found[index] = result
        return [result for result in found if result is not None]

    def costs(self, rates: Sequence[float]) -> list[float]:
        """The cost of each static rate (fraction of notional): the mean over paths of
        ``requirement_mean`` (quote units), the same bits as ``np.mean`` of a full
        replay's column.

        Designs the memo holds are not measured again; the others are measured
        together by the requirement kernel when they are core replays in this
        process (:func:`core_replay`), else replayed as :meth:`results` does.
        """
        designs = [static_variant(self.variant, float(rate), self.kind) for rate in rates]
        found = [
            self.memo.cost(float(rate), design.scenario)
            for rate, design in zip(rates, designs, strict=True)
        ]
        missing = [index for index, cost in enumerate(found) if cost is None]
        if missing:
            measured = self._costs([designs[index] for index in missing])
            for index, cost in zip(missing, measured, strict=True):
                self.memo.put_cost(float(rates[index]), designs[index].scenario, cost)
                found[index] = cost
        return [cost for cost in found if cost is not None]

    def _costs(self, designs: list[Variant]) -> list[float]:
        """The costs of ``designs``: the requirement kernel where it applies, else replays."""
        plan, _ = prepare(
            [design.scenario for design in designs],
            attribution=False,
            records=False,
            findings=False,
            cache=self.cache,
        )
        local = self.options.get("executor", "local") == "local"
        if local and all(
            core_replay(variant.mechanics, variant.margin) for variant in plan.variants
        ):
            return requirement_costs(plan, self.options.get("chunk_size"))
        return [
            float(np.mean(result.column("requirement_mean"))) for result in self._replay(designs)
        ]

    def _replay(self, designs: list[Variant]) -> list[Result]:
        """Replay ``designs`` together on the shared paths and books, measuring only."""
        plan, stats = prepare(
            [design.scenario for design in designs],
            attribution=False,
            records=False,
            findings=False,
            cache=self.cache,
        )
        metrics, records = execute(plan, **self.options)
        return replay_results(
            plan,
            stats,
            metrics,
            records,
            scenarios=[design.scenario for design in designs],
            describe_paths=False,
        )


def core_replay(mechanics: np.ndarray | None, margin: np.ndarray) -> bool:
    """Whether a design runs the core replay without APC: what the requirement kernel follows."""
    from stresstest.kernels.margin import has_apc

    return mechanics is None and not has_apc(margin)


def requirement_costs(plan: ReplayPlan, chunk_size: int | None) -> list[float]:
    """Each variant's cost (quote units) by the requirement kernel, chunk by chunk.

    Each chunk of paths is generated (or read from memory) once for every
    variant. A variant's ``requirement_mean`` values are laid out as a replay's
    metrics column (a row of ``plan.n_metrics`` values per path) and averaged with
    ``np.mean``, as a replay's column is: the same values in the same layout give
    the same bits.
    """
    from stresstest.kernels.requirement import requirement_paths

    size = chunk_size or default_chunk_size(plan.n_paths, plan.source.n_steps)
    columns = np.zeros((len(plan.variants), plan.n_paths, plan.n_metrics))
    values = np.empty(min(size, plan.n_paths))
    for first, count in chunk_ranges(0, plan.n_paths, size):
        prices = plan.source.chunk(first, count)
        for index, variant in enumerate(plan.variants):
            book = variant.book
            requirement_paths(
                prices,
                variant.margin,
                book.long_threshold,
                book.long_prefix,
                book.short_threshold,
                book.short_prefix,
                values[:count],
            )
            columns[index, first : first + count, enums.REQUIREMENT_MEAN] = values[:count]
    return [float(np.mean(column[:, enums.REQUIREMENT_MEAN])) for column in columns]
