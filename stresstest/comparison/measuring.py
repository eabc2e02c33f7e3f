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
(tests/test_compare.py compares them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stresstest.comparison.spec import Variant
from stresstest.engine.result import Result
from stresstest.engine.run import PrepareCache, execute, prepare


def static_variant(variant: Variant, maintenance: float, kind: str) -> Variant:
    """``variant`` with static margin at ``maintenance`` (fraction of notional), for ``kind``."""
    overrides = {**variant.overrides, "margin": {"model": "static", "maintenance": maintenance}}
    name = f"{variant.name}@static-{kind}"
    return Variant(
        name, overrides, variant.scenario.with_overrides({"margin": overrides["margin"]})
    )


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
    """

    variant: Variant
    kind: str
    options: dict[str, Any]
    cache: PrepareCache = field(default_factory=PrepareCache)

    def results(self, rates: Sequence[float]) -> list[Result]:
        """One measuring result per static rate (fraction of notional), on the same paths.

        Each holds the per-path metrics only: no records (an empty grid), no
        attribution, no plausibility findings.
        """
        designs = [static_variant(self.variant, float(rate), self.kind) for rate in rates]
        plan, stats = prepare(
            [design.scenario for design in designs],
            attribution=False,
            records=False,
            findings=False,
            cache=self.cache,
        )
        metrics, records = execute(plan, **self.options)
        ids = plan.source.path_ids()
        return [
            Result(
                scenario=design.scenario,
                path_ids=ids,
                metrics=metrics[index, :, : plan.attribution_offset],
                book=stats[index],
                grid=np.asarray(plan.grid),
                records=records[index],
            )
            for index, design in enumerate(designs)
        ]
