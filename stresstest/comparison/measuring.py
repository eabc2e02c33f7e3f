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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from stresstest.engine.assemble import replay_results
from stresstest.engine.result import Result
from stresstest.engine.run import PrepareCache, execute, prepare
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
    #: Designs replayed (memo misses), for the benchmark and the tests.
    replayed: int = 0

    def get(self, rate: float, scenario: Scenario) -> Result | None:
        """The result of the static design ``scenario`` at ``rate``, if replayed already."""
        for held, result in self.found.get(rate, ()):
            if held == scenario:
                return result
        return None

    def put(self, rate: float, scenario: Scenario, result: Result) -> None:
        """Keep the result of the static design ``scenario`` at ``rate``."""
        self.found.setdefault(rate, []).append((scenario, result))
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
