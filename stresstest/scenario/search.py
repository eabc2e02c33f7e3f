"""The ``[search]`` table of ``stresstest optimize``: a grid of designs to replay.

Validated here, with the scenario's other tables, so that ``stresstest validate``
names a bad range before any replay (docs/optimize.md).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from stresstest.errors import InputError
from stresstest.scenario.schema import Scenario

#: Values per parameter when ``[search] points`` is not given, and the bounds on it.
DEFAULT_POINTS = 5
POINTS_RANGE = (2, 25)
#: Largest grid (designs replayed on the shared paths).
MAX_DESIGNS = 400


@dataclass(frozen=True)
class SearchSpace:
    """``[search]``: parameter -> values, and the seed of the validation paths."""

    values: dict[str, list[float]]
    validation_seed: int

    def designs(self) -> list[dict[str, float]]:
        """Every combination, the last parameter varying fastest."""
        keys = list(self.values)
        return [
            dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(self.values[key] for key in keys))
        ]


def parse_search(scenario: Scenario) -> SearchSpace:
    """The scenario's ``[search]`` table.

    ``"table.key" = [low, high]`` for each parameter (a dotted scenario key, e.g.
    ``"margin.maintenance"``), ``points`` values per parameter (default 5, evenly from
    low to high) and ``validation_seed`` (default ``scenario.seed + 1``).

    Raises
    ------
    InputError
        No table or no parameter, a range that is not two increasing numbers, a points
        count out of range, or more than :data:`MAX_DESIGNS` designs.
    """
    file = scenario.source_file
    table = scenario.raw.get("search")
    if not isinstance(table, dict):
        raise InputError(
            "optimize needs a [search] table",
            file=file,
            key="search",
            expected='parameters and ranges, e.g. "margin.maintenance" = [0.002, 0.03]',
        )
    points = table.get("points", DEFAULT_POINTS)
    if not isinstance(points, int) or not POINTS_RANGE[0] <= points <= POINTS_RANGE[1]:
        raise InputError(
            "points out of range",
            file=file,
            key="search.points",
            value=points,
            expected=f"an integer from {POINTS_RANGE[0]} to {POINTS_RANGE[1]}",
        )
    seed = table.get("validation_seed", scenario.seed + 1)
    if not isinstance(seed, int) or seed == scenario.seed:
        raise InputError(
            "validation seed must be an integer other than the scenario's seed",
            file=file,
            key="search.validation_seed",
            value=seed,
            expected=f"an integer other than {scenario.seed}",
        )
    values: dict[str, list[float]] = {}
    for key, bounds in table.items():
        if key in ("points", "validation_seed"):
            continue
        ok = (
            isinstance(bounds, list)
            and len(bounds) == 2
            and all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
            and bounds[0] < bounds[1]
        )
        if not ok:
            raise InputError(
                "a search range must be [low, high] with low < high",
                file=file,
                key=f"search.{key}",
                value=bounds,
                expected="two increasing numbers in the key's unit",
            )
        values[key] = [float(v) for v in np.linspace(bounds[0], bounds[1], points)]
    if not values:
        raise InputError(
            "a [search] table without a parameter",
            file=file,
            key="search",
            expected='at least one "table.key" = [low, high]',
        )
    if points ** len(values) > MAX_DESIGNS:
        raise InputError(
            "too many designs",
            file=file,
            key="search.points",
            value=points,
            expected=f"points ** parameters at most {MAX_DESIGNS} (here {len(values)} parameters)",
        )
    return SearchSpace(values, int(seed))
