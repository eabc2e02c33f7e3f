"""``stresstest optimize``: the cheapest design that meets a written risk appetite.

The designs are the grid of ``[search]``: every combination of ``points`` evenly spaced
values of each named parameter. All of them replay the scenario's book on the same
paths in one plan (common random numbers), so they differ only by design. A design is
*feasible* when every limit of ``[appetite]`` holds at its point estimate; the best is
the feasible design with the lowest objective (ties: the first in grid order). The
best is then replayed on fresh paths (``scenario.seed`` + 1, or ``validation_seed``) and
must meet the limits there too, so the answer is not fitted to the paths' noise; when
it does not, the next feasible design in objective order is validated, up to
:data:`VALIDATE_AT_MOST` of them. A limit *binds* when some design with a better
objective fails that limit and no other (docs/optimize.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stresstest._version import __version__
from stresstest.check.appetite import LIMITS, LimitCheck, check_limits, parse_appetite
from stresstest.comparison.engine import run_variants
from stresstest.engine.result import Result
from stresstest.errors import InputError
from stresstest.scenario import Scenario
from stresstest.scenario.compare import Variant
from stresstest.scenario.search import SearchSpace, parse_search

#: Feasible designs validated on fresh paths, best first, before giving up.
VALIDATE_AT_MOST = 5


@dataclass
class Design:
    """One design of the grid and how it did."""

    parameters: dict[str, float]
    objective: float
    limits: list[LimitCheck]
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        """Every limit met."""
        return all(limit.met for limit in self.limits)

    def record(self) -> dict[str, Any]:
        """As written in optimize.json and frontier.parquet."""
        return {
            "parameters": self.parameters,
            "objective": self.objective,
            "feasible": self.feasible,
            "failed": [limit.key for limit in self.limits if not limit.met],
            "figures": self.figures,
        }


@dataclass
class Optimum:
    """The search: every design, the best one validated, the limits that bind."""

    scenario: Scenario
    objective: str
    space: SearchSpace
    designs: list[Design]
    best: Design | None
    validation: list[LimitCheck]
    validated: bool
    binding: list[str]
    rejected: list[dict[str, Any]]
    n_paths: int
    #: The appetite's limits: limited figure -> upper limit, in the figure's unit.
    limits: dict[str, float] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """optimize.json (docs/optimize.md)."""
        return {
            "format_version": 1,
            "stresstest_version": __version__,
            "scenario": self.scenario.name,
            "seed": self.scenario.seed,
            "validation_seed": self.space.validation_seed,
            "n_paths": self.n_paths,
            "objective": self.objective,
            "limits": self.limits,
            "search": self.space.values,
            "best": None if self.best is None else self.best.record(),
            "validated": self.validated,
            "validation": [limit.record() for limit in self.validation],
            "rejected_on_validation": self.rejected,
            "binding": self.binding,
            "designs": [design.record() for design in self.designs],
        }


def _objective(objective: str, result: Result) -> float:
    if objective == "fund_initial":
        return float(result.scenario.insurance_fund.initial)
    return float(np.mean(result.column("requirement_mean")))


def _figures(result: Result) -> dict[str, float]:
    figures = {}
    for figure, column, statistic, _unit in LIMITS.values():
        if column in result.metric_names:  # procyclicality: only with [procyclicality]
            figures[figure] = float(statistic(np.asarray(result.column(column))))
    return figures


def optimize(scenario: Scenario) -> Optimum:
    """Search the grid, validate the best on fresh paths (module docstring).

    Raises
    ------
    InputError
        No ``[appetite]`` or ``[search]``, a bad table, an accounts scenario, or a
        parameter value the scenario refuses (naming the key).
    """
    from stresstest.scenario.accounts import require_single_asset

    require_single_asset(scenario, "optimize")
    appetite = parse_appetite(scenario)
    if appetite is None:
        raise InputError(
            "optimize needs an [appetite] table",
            file=scenario.source_file,
            key="appetite",
            expected=f"limits, at least one of {sorted(LIMITS)} (docs/check.md)",
        )
    space = parse_search(scenario)
    grid = space.designs()
    variants = [
        Variant(name=f"design_{index}", overrides=design, scenario=scenario.with_overrides(design))
        for index, design in enumerate(grid)
    ]
    results = run_variants(variants, {}, attribution=False)
    designs = [
        Design(
            parameters=parameters,
            objective=_objective(appetite.objective, result),
            limits=check_limits(appetite, result),
            figures=_figures(result),
        )
        for parameters, result in zip(grid, results, strict=True)
    ]
    feasible = sorted(
        (design for design in designs if design.feasible),
        key=lambda design: design.objective,  # stable: ties keep grid order
    )
    best: Design | None = None
    validation: list[LimitCheck] = []
    rejected: list[dict[str, Any]] = []
    for candidate in feasible[:VALIDATE_AT_MOST]:
        fresh = scenario.with_overrides(
            {**candidate.parameters, "scenario.seed": space.validation_seed}
        )
        (checked,) = run_variants([Variant("validation", {}, fresh)], {}, attribution=False)
        validation = check_limits(appetite, checked)
        if all(limit.met for limit in validation):
            best = candidate
            break
        rejected.append(
            {
                "parameters": candidate.parameters,
                "failed": [limit.key for limit in validation if not limit.met],
            }
        )
    reference = best if best is not None else (feasible[0] if feasible else None)
    binding = _binding(designs, reference)
    return Optimum(
        scenario=scenario,
        objective=appetite.objective,
        space=space,
        designs=designs,
        best=best,
        validation=validation if best is not None else [],
        validated=best is not None,
        binding=binding,
        rejected=rejected,
        n_paths=results[0].n_paths,
        limits={
            LIMITS[key][0]: float(getattr(appetite, key))
            for key in LIMITS
            if getattr(appetite, key) is not None
        },
    )


def _binding(designs: list[Design], best: Design | None) -> list[str]:
    """Limits that alone keep a better design out (all limits when nothing is feasible
    and a limit alone fails some design)."""
    better = [
        design
        for design in designs
        if best is None or design.objective < best.objective - 1e-12 * abs(best.objective)
    ]
    found = []
    for design in better:
        failed = [limit.key for limit in design.limits if not limit.met]
        if len(failed) == 1 and failed[0] not in found:
            found.append(failed[0])
    order = list(LIMITS)
    return sorted(found, key=order.index)


def frontier_rows(optimum: Optimum) -> dict[str, list[Any]]:
    """frontier.parquet's columns: each parameter, the objective, feasibility and each
    limited figure, one row per design in grid order."""
    columns: dict[str, list[Any]] = {key: [] for key in optimum.space.values}
    columns["objective"] = []
    columns["feasible"] = []
    measured = [
        figure
        for figure, *_ in LIMITS.values()
        if any(figure in design.figures for design in optimum.designs)
    ]
    for figure in measured:
        columns[figure] = []
    for design in optimum.designs:
        for key, value in design.parameters.items():
            columns[key].append(value)
        columns["objective"].append(design.objective)
        columns["feasible"].append(design.feasible)
        for figure in measured:
            columns[figure].append(design.figures.get(figure, math.nan))
    return columns
