"""Find the smallest shock that reaches a target: a scan, then bisection (docs/reverse.md).

Every evaluation replays the scenario's own book over its own paths with the shock
applied (common random numbers: the same paths for every size), so the outcome at
two sizes differs only by the shock. The search scans the family's range on
:data:`SCAN_POINTS` sizes, takes the first size at which the target is met and
bisects between it and the size before until the bracket is narrower than the
tolerance. The answer is the upper end of that bracket: a size at which the target
is met, with a size ``tolerance`` below it (at most) at which it is not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stresstest._version import __version__
from stresstest.engine.plan import ReplayPlan
from stresstest.engine.result import Result
from stresstest.errors import InputError
from stresstest.reverse.shocks import (
    FAMILIES,
    PATH_FAMILIES,
    Shock,
    ShockedSource,
    check_family,
    check_family_scenario,
    family_range,
)
from stresstest.scenario import schema

#: Sizes scanned before bisecting, evenly over the family's range.
SCAN_POINTS = 12
#: Targets: name -> what a path must show for the target to count it.
TARGETS: dict[str, str] = {
    "fund": "the insurance fund exhausted: socialized_loss > 0 (docs/model.md 7)",
    "bad_debt": "bad_debt above --amount (quote units)",
    "adl": "ADL triggered: adl_count > 0 (needs [adl])",
}
#: Targets the issue names that this version cannot reach yet, and why.
NOT_BUILT_TARGETS = {"backstop": "there is no backstop vault layer yet (issue 15)"}


@dataclass(frozen=True)
class Target:
    """What counts as broken: a per-path event and the share of paths it must reach.

    Attributes
    ----------
    name
        ``"fund"``, ``"bad_debt"`` or ``"adl"``.
    probability
        The target is met when at least this share of paths shows the event
        (1.0: every path given; with one path, that path).
    amount
        ``bad_debt`` only: the amount the bad debt must exceed, quote units.
    """

    name: str
    probability: float = 1.0
    amount: float = 0.0

    def label(self) -> str:
        """The event in a few words, for titles: ``"the fund runs dry"``."""
        if self.name == "bad_debt":
            return f"bad debt above {self.amount:,.6g} quote"
        return {"fund": "the fund runs dry", "adl": "ADL is triggered"}[self.name]

    def events(self, result: Result) -> np.ndarray:
        """Per path: does it show the event (boolean array over paths)."""
        if self.name == "fund":
            return result.column("socialized_loss") > 0.0
        if self.name == "bad_debt":
            return result.column("bad_debt") > self.amount
        return result.column("adl_count") > 0.0


@dataclass(frozen=True)
class Evaluation:
    """The outcome at one shock size."""

    size: float
    share: float
    met: bool
    bad_debt_mean: float
    probability_fund_depleted: float

    def record(self) -> dict[str, Any]:
        """As written in reverse.json."""
        return {
            "shock": self.size,
            "share": self.share,
            "met": self.met,
            "bad_debt_mean": self.bad_debt_mean,
            "probability_fund_depleted": self.probability_fund_depleted,
        }


@dataclass
class ReverseResult:
    """A finished search: the shock found (``None`` when the range never reaches the
    target), the outcome at it and just below it, and every evaluation in order."""

    scenario: schema.Scenario
    n_paths: int
    family: str
    target: Target
    tolerance: float
    at_step: int
    recover_steps: int
    shock: float | None
    at_shock: Evaluation | None
    below: Evaluation | None
    evaluations: list[Evaluation] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        """reverse.json (docs/reverse.md): the shock (key ``shock``) in the family's unit."""
        unit = FAMILIES[self.family][0]
        low, high = family_range(self.family, self.scenario)
        return {
            "format_version": 1,
            "scenario": self.scenario.name,
            "seed": self.scenario.seed,
            "stresstest_version": __version__,
            "n_paths": self.n_paths,
            "family": self.family,
            "unit": unit,
            "range": [low, high],
            "at_step": self.at_step,
            "recover_steps": self.recover_steps,
            "target": self.target.name,
            "target_event": self.target.label(),
            "target_definition": TARGETS[self.target.name],
            "probability": self.target.probability,
            "amount": self.target.amount if self.target.name == "bad_debt" else None,
            "tolerance": self.tolerance,
            "shock": self.shock,
            "at_shock": None if self.at_shock is None else self.at_shock.record(),
            "below": None if self.below is None else self.below.record(),
            "evaluations": [evaluation.record() for evaluation in self.evaluations],
        }


Progress = Callable[[int], None]


def reverse_search(
    scenario: schema.Scenario,
    family: str,
    target: Target,
    *,
    tolerance: float = 1e-3,
    at_step: int = 1,
    recover_steps: int = 0,
    progress: Progress | None = None,
) -> ReverseResult:
    """The smallest shock of ``family`` at which ``target`` is met (module docstring).

    Parameters
    ----------
    scenario
        A single-asset scenario; its book, paths and every mechanism are kept.
    family
        ``"crash"`` or ``"vol"`` (:data:`~stresstest.reverse.shocks.FAMILIES`).
    target
        The event and the share of paths that must show it.
    tolerance
        Width of the final bracket, in the family's unit.
    at_step, recover_steps
        Where a crash starts and how long it takes to recover (0: never).
    progress
        Called with the number of evaluations done.

    Raises
    ------
    InputError
        An accounts scenario, an unknown or unbuilt family or target, ``[adl]``
        missing for the ``adl`` target, or a tolerance that is not positive.
    """
    from stresstest.engine.run import execute, prepare
    from stresstest.scenario.accounts import is_accounts_scenario

    if is_accounts_scenario(scenario):
        raise InputError(
            "reverse stress tests run single-asset scenarios only",
            file=scenario.source_file,
            key="book",
            expected="a scenario with one asset's [paths] and [book]",
        )
    _check_target(scenario, target)
    if not tolerance > 0:
        raise InputError("tolerance must be positive", key="tolerance", value=tolerance)
    check_family(family, at_step, recover_steps, None)
    check_family_scenario(family, scenario)
    plan, stats = prepare([scenario])
    check_family(family, at_step, recover_steps, plan.source.n_steps)
    evaluations: list[Evaluation] = []

    def evaluate(size: float) -> Evaluation:
        shock = Shock(family, size, at_step, recover_steps)
        if family in PATH_FAMILIES:
            shocked = ReplayPlan(source=ShockedSource(plan.source, shock), variants=plan.variants)
            book = stats[0]
        else:  # the scenario changes; the same seed gives the same paths
            shocked_plan, shocked_stats = prepare([shock.scenario_for(scenario)])
            shocked = ReplayPlan(source=shocked_plan.source, variants=shocked_plan.variants)
            book = shocked_stats[0]
        metrics, records = execute(shocked)
        result = Result(
            scenario=scenario,
            path_ids=plan.source.path_ids(),
            metrics=metrics[0],
            book=book,
            grid=shocked.grid,
            records=records[0],
        )
        events = target.events(result)
        share = float(np.count_nonzero(events)) / events.shape[0]
        evaluation = Evaluation(
            size=size,
            share=share,
            met=share >= target.probability,
            bad_debt_mean=float(result.column("bad_debt").mean()),
            probability_fund_depleted=float(np.mean(result.column("socialized_loss") > 0.0)),
        )
        evaluations.append(evaluation)
        if progress is not None:
            progress(len(evaluations))
        return evaluation

    low, high = family_range(family, scenario)
    scan = np.linspace(low, high, SCAN_POINTS)
    below: Evaluation | None = None
    above: Evaluation | None = None
    for size in scan:
        outcome = evaluate(float(size))
        if outcome.met:
            above = outcome
            break
        below = outcome
    found = ReverseResult(
        scenario,
        plan.n_paths,
        family,
        target,
        tolerance,
        at_step,
        recover_steps,
        None,
        None,
        None,
        evaluations,
    )
    if above is None:
        return found
    if below is None:  # met at the neutral size: the scenario is broken without a shock
        found.shock, found.at_shock = above.size, above
        return found
    while above.size - below.size > tolerance:
        middle = evaluate(0.5 * (below.size + above.size))
        if middle.met:
            above = middle
        else:
            below = middle
    found.shock, found.at_shock, found.below = above.size, above, below
    return found


def _check_target(scenario: schema.Scenario, target: Target) -> None:
    if target.name in NOT_BUILT_TARGETS:
        raise InputError(
            f"target not available: {NOT_BUILT_TARGETS[target.name]}",
            key="target",
            value=target.name,
            expected=f"one of {sorted(TARGETS)}",
        )
    if target.name not in TARGETS:
        raise InputError(
            "unknown target", key="target", value=target.name, expected=f"one of {sorted(TARGETS)}"
        )
    if not 0.0 < target.probability <= 1.0:
        raise InputError(
            "probability outside (0, 1]",
            key="probability",
            value=target.probability,
            expected="a share of paths in (0, 1]; 1 = every path",
        )
    if target.name == "adl" and scenario.adl is None:
        raise InputError(
            "the adl target needs ADL in the scenario",
            file=scenario.source_file,
            key="adl",
            expected="an [adl] table (docs/model.md 10.2)",
        )
