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

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from stresstest._version import __version__
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

if TYPE_CHECKING:
    from stresstest.engine.prepared import PreparedRun

#: Sizes scanned before bisecting, evenly over the family's range.
SCAN_POINTS = 12
#: Targets: name -> what a path must show for the target to count it.
TARGETS: dict[str, str] = {
    "fund": "the insurance fund exhausted: socialized_loss > 0 (docs/model.md 7)",
    "bad_debt": "bad_debt above --amount (quote units)",
    "adl": "ADL triggered: adl_count > 0 (needs [adl])",
    "backstop": (
        "the backstop vault exhausted: backstop_exhausted = 1 (needs [backstop]; "
        "docs/model.md 10.3)"
    ),
}
#: Targets the issue names that this version cannot reach yet, and why.
NOT_BUILT_TARGETS: dict[str, str] = {}


@dataclass(frozen=True)
class Target:
    """What counts as broken: a per-path event and the share of paths it must reach.

    Attributes
    ----------
    name
        ``"fund"``, ``"bad_debt"``, ``"adl"`` or ``"backstop"``.
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
        return {
            "fund": "the fund runs dry",
            "adl": "ADL is triggered",
            "backstop": "the backstop vault is exhausted",
        }[self.name]

    def events(self, result: Result) -> np.ndarray:
        """Per path: does it show the event (boolean array over paths)."""
        if self.name == "fund":
            return result.column("socialized_loss") > 0.0
        if self.name == "bad_debt":
            return result.column("bad_debt") > self.amount
        if self.name == "backstop":
            return result.column("backstop_exhausted") > 0.0
        return result.column("adl_count") > 0.0


@dataclass(frozen=True)
class Evaluation:
    """The outcome at one shock size."""

    size: float
    share: float
    met: bool
    bad_debt_mean: float
    probability_fund_depleted: float
    #: Two-parameter searches: the first family's size at which this was evaluated.
    first: float | None = None

    def record(self) -> dict[str, Any]:
        """As written in reverse.json."""
        return {
            **({} if self.first is None else {"first": self.first}),
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
    #: Two-parameter searches: the first family and, at each of its sizes, the smallest
    #: size of this result's family that reaches the target (``None``: none in range).
    boundary_family: str | None = None
    boundary: list[dict[str, Any]] | None = None
    boundary_range: tuple[float, float] | None = None

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
            **(
                {}
                if self.boundary_family is None
                else {
                    "boundary_family": self.boundary_family,
                    "boundary_unit": FAMILIES[self.boundary_family][0],
                    "boundary_range": list(self.boundary_range or ()),
                    "boundary": self.boundary,
                }
            ),
        }


class Evaluator:
    """Evaluates shocks on one scenario's book and paths (common random numbers).

    The scenario is prepared once, as every command prepares its designs
    (:func:`~stresstest.engine.run.prepare_run`, a
    :class:`~stresstest.engine.prepared.PreparedRun`). Path shocks (``crash``,
    ``vol``) replay that run on the shocked paths
    (:meth:`~stresstest.engine.prepared.PreparedRun.on_paths`); the other families
    change the scenario and prepare it again, whose seed gives the same paths.
    Several shocks compose: scenario changes first, then path transforms in the
    order given.
    """

    def __init__(self, scenario: schema.Scenario, target: Target) -> None:
        self.scenario = scenario
        self.target = target
        self.prepared = _prepared(scenario)
        self.evaluations: list[Evaluation] = []

    def outcome(
        self, shocks: tuple[Shock, ...], size: float, first: float | None = None
    ) -> Evaluation:
        """Replay with every shock of ``shocks`` applied; ``size`` (and, for a boundary,
        the first family's size ``first``) are what the evaluation records."""
        scenario_shocks = [shock for shock in shocks if shock.family not in PATH_FAMILIES]
        prepared = self.prepared
        if scenario_shocks:
            changed = self.scenario
            for shock in scenario_shocks:
                changed = shock.scenario_for(changed)
            prepared = _prepared(changed)
        for shock in shocks:
            if shock.family in PATH_FAMILIES:
                prepared = prepared.on_paths(functools.partial(ShockedSource, shock=shock))
        metrics, records = prepared.execute()
        [result] = prepared.results(metrics, records, describe_paths=False)
        events = self.target.events(result)
        share = float(np.count_nonzero(events)) / events.shape[0]
        evaluation = Evaluation(
            size=size,
            share=share,
            met=share >= self.target.probability,
            bad_debt_mean=float(result.column("bad_debt").mean()),
            probability_fund_depleted=float(np.mean(result.column("socialized_loss") > 0.0)),
            first=first,
        )
        self.evaluations.append(evaluation)
        return evaluation


def _prepared(scenario: schema.Scenario) -> PreparedRun:
    """The scenario prepared for a search: no cohort attribution, the search reads
    per-path totals only (docs/model.md 6b)."""
    from stresstest.engine.run import prepare_run

    return prepare_run([scenario], attribution=False)


def smallest(
    evaluate: Callable[[float], Evaluation], low: float, high: float, tolerance: float
) -> tuple[float | None, Evaluation | None, Evaluation | None]:
    """``(shock, at it, just below)`` by the scan and bisection of the module docstring."""
    below: Evaluation | None = None
    above: Evaluation | None = None
    for size in np.linspace(low, high, SCAN_POINTS):
        outcome = evaluate(float(size))
        if outcome.met:
            above = outcome
            break
        below = outcome
    if above is None:
        return None, None, None
    if below is None:  # met at the neutral size: broken without a shock
        return above.size, above, None
    while above.size - below.size > tolerance:
        middle = evaluate(0.5 * (below.size + above.size))
        if middle.met:
            above = middle
        else:
            below = middle
    return above.size, above, below


def checked_range(
    family: str, scenario: schema.Scenario, wanted: tuple[float, float] | None
) -> tuple[float, float]:
    """The sizes searched: ``wanted`` (``--range``) inside the family's own range, or all of it.

    Raises
    ------
    InputError
        A range outside the family's, or not increasing.
    """
    low, high = family_range(family, scenario)
    if wanted is None:
        return low, high
    if not low <= wanted[0] < wanted[1] <= high:
        raise InputError(
            "range outside the family's sizes",
            key="range",
            value=f"{wanted[0]:g},{wanted[1]:g}",
            expected=f"LOW,HIGH with {low:g} <= LOW < HIGH <= {high:g} ({family})",
        )
    return wanted


def _checked(
    scenario: schema.Scenario,
    families: tuple[str, ...],
    target: Target,
    tolerance: float,
    at_step: int,
    recover_steps: int,
) -> None:
    _check_kind(scenario)
    _check_target(scenario, target)
    if not tolerance > 0:
        raise InputError("tolerance must be positive", key="tolerance", value=tolerance)
    for family in families:
        check_family(family, at_step, recover_steps, None)
        check_family_scenario(family, scenario)


def reverse_search(
    scenario: schema.Scenario,
    family: str,
    target: Target,
    *,
    tolerance: float = 1e-3,
    at_step: int = 1,
    recover_steps: int = 0,
) -> ReverseResult:
    """The smallest shock of ``family`` at which ``target`` is met (module docstring).

    Parameters
    ----------
    scenario
        A single-asset scenario; its book, paths and every mechanism are kept.
    family
        A name of :data:`~stresstest.reverse.shocks.FAMILIES`.
    target
        The event and the share of paths that must show it.
    tolerance
        Width of the final bracket, in the family's unit.
    at_step, recover_steps
        Where a crash or oracle spike starts; how long a crash takes to recover (0:
        never) or an oracle spike lasts.

    Raises
    ------
    InputError
        An accounts scenario, an unknown family or target, a family or target the
        scenario has nothing for, or a tolerance that is not positive.
    """
    _checked(scenario, (family,), target, tolerance, at_step, recover_steps)
    evaluator = Evaluator(scenario, target)
    check_family(family, at_step, recover_steps, evaluator.prepared.n_steps)

    def evaluate(size: float) -> Evaluation:
        return evaluator.outcome((Shock(family, size, at_step, recover_steps),), size)

    low, high = family_range(family, scenario)
    shock, at_shock, below = smallest(evaluate, low, high, tolerance)
    return ReverseResult(
        scenario,
        evaluator.prepared.n_paths,
        family,
        target,
        tolerance,
        at_step,
        recover_steps,
        shock,
        at_shock,
        below,
        evaluator.evaluations,
    )


#: Sizes of the first family at which a two-parameter boundary is searched.
BOUNDARY_POINTS = 8


def boundary_search(
    scenario: schema.Scenario,
    families: tuple[str, str],
    target: Target,
    *,
    tolerance: float = 1e-3,
    at_step: int = 1,
    recover_steps: int = 0,
    points: int = BOUNDARY_POINTS,
    first_range: tuple[float, float] | None = None,
) -> ReverseResult:
    """The boundary in two families: at each of ``points`` sizes of the first, the
    smallest size of the second at which ``target`` is met (both shocks applied).

    Returns the one-parameter search of the second family at the first's neutral
    size, with the boundary as ``{"first": a, "second": b or None}`` records.
    """
    first, second = families
    if first == second:
        raise InputError("the two families must differ", key="shock", value=f"{first},{second}")
    _checked(scenario, families, target, tolerance, at_step, recover_steps)
    evaluator = Evaluator(scenario, target)
    for family in families:
        check_family(family, at_step, recover_steps, evaluator.prepared.n_steps)
    low_a, high_a = checked_range(first, scenario, first_range)
    low_b, high_b = family_range(second, scenario)
    boundary: list[dict[str, Any]] = []
    head: tuple[float | None, Evaluation | None, Evaluation | None] = (None, None, None)
    for index, a in enumerate(np.linspace(low_a, high_a, points)):
        shock_a = Shock(first, float(a), at_step, recover_steps)

        def evaluate(size: float, shock_a: Shock = shock_a) -> Evaluation:
            shock_b = Shock(second, size, at_step, recover_steps)
            return evaluator.outcome((shock_a, shock_b), size, first=shock_a.size)

        found = smallest(evaluate, low_b, high_b, tolerance)
        if index == 0:
            head = found
        boundary.append({"first": float(a), "second": found[0]})
    result = ReverseResult(
        scenario,
        evaluator.prepared.n_paths,
        second,
        target,
        tolerance,
        at_step,
        recover_steps,
        *head,
        evaluator.evaluations,
        boundary_family=first,
        boundary=boundary,
        boundary_range=(low_a, high_a),
    )
    return result


#: Why a multi-asset scenario has no reverse search yet (docs/reverse.md, "Scope").
MULTI_ASSET_REVERSE = (
    "the shock families are defined on one asset's price and a positions book: "
    "a multi-asset scenario needs which assets a crash or vol shock moves (in a loan "
    "book a borrowed asset's fall eases its loans) and what oracle, depth and leverage "
    "change in its tables"
)


def _check_kind(scenario: schema.Scenario) -> None:
    """Refuse an accounts or lending scenario, naming its ``[book] source`` and why."""
    from stresstest.scenario.tables import scenario_kind

    kind = scenario_kind(scenario)
    if kind != "single_asset":
        raise InputError(
            f"reverse runs single-asset scenarios only; {MULTI_ASSET_REVERSE}",
            file=scenario.source_file,
            key="book.source",
            value=f"{getattr(scenario.book, 'source', None)} ({kind})",
            expected="a single-asset scenario: one asset's [paths] and a positions [book]",
        )


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
    if target.name == "backstop" and scenario.backstop is None:
        raise InputError(
            "the backstop target needs a backstop vault in the scenario",
            file=scenario.source_file,
            key="backstop",
            expected="a [backstop] table (docs/model.md 10.3)",
        )
    if target.name == "adl" and scenario.adl is None:
        raise InputError(
            "the adl target needs ADL in the scenario",
            file=scenario.source_file,
            key="adl",
            expected="an [adl] table (docs/model.md 10.2)",
        )
