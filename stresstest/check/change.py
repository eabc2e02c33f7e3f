"""Review a parameter change: the current and the proposed design on the same paths.

Both scenarios run as two variants of one plan (the paths of the current one, which
the proposed one must share), so every difference is paired. A headline figure has
*moved* when its paired bootstrap interval excludes 0 and the change exceeds the
tolerance (relative to the current value; any change from 0). The change fails
when a figure moved, when the proposed design breaks a limit of the ``[appetite]``
(the proposed scenario's, else the current one's), or when the proposed design has a
plausibility warning the current one has not (docs/check.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stresstest._version import __version__
from stresstest.check.appetite import LimitCheck, check_limits, parse_appetite
from stresstest.comparison.engine import DIFFERENCE_STATISTICS, columns_of, run_variants
from stresstest.comparison.paired import paired_differences
from stresstest.errors import InputError
from stresstest.scenario import Scenario
from stresstest.scenario.compare import Variant

#: Default tolerance: a headline figure may move by 10% of its current value.
DEFAULT_TOLERANCE = 0.10
#: Bootstrap samples and confidence of the paired intervals.
SAMPLES = 1000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Move:
    """One headline figure: current, proposed, the paired change and whether it moved."""

    figure: str
    current: float
    proposed: float
    change: float
    low: float
    high: float
    moved: bool

    def record(self) -> dict[str, Any]:
        """As written in check.json."""
        relative = self.change / abs(self.current) if self.current != 0 else None
        return {
            "figure": self.figure,
            "current": self.current,
            "proposed": self.proposed,
            "change": self.change,
            "relative_change": relative,
            "ci_low": self.low,
            "ci_high": self.high,
            "moved": self.moved,
        }


@dataclass
class CheckResult:
    """The review of a change; :attr:`passed` is the verdict."""

    current: Scenario
    proposed: Scenario
    tolerance: float
    moves: list[Move]
    limits: list[LimitCheck]
    new_warnings: list[str]
    n_paths: int
    reasons: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """No figure moved beyond the tolerance, every limit met, no new warning."""
        return not self.reasons

    def document(self) -> dict[str, Any]:
        """check.json (docs/check.md)."""
        return {
            "format_version": 1,
            "stresstest_version": __version__,
            "current": str(self.current.source_file),
            "proposed": str(self.proposed.source_file),
            "n_paths": self.n_paths,
            "tolerance": self.tolerance,
            "confidence": CONFIDENCE,
            "passed": self.passed,
            "reasons": self.reasons,
            "figures": [move.record() for move in self.moves],
            "limits": [limit.record() for limit in self.limits],
            "new_warnings": self.new_warnings,
        }


def _same_paths(current: Scenario, proposed: Scenario) -> None:
    for key, mine, theirs in (
        ("paths", current.paths, proposed.paths),
        ("scenario.seed", current.seed, proposed.seed),
    ):
        if mine != theirs:
            raise InputError(
                "the proposed scenario's paths differ from the current one's",
                file=proposed.source_file,
                key=key,
                expected=f"the same [{key}] as {current.source_file}: check compares two designs "
                "on the same paths",
            )


def check_change(
    current: Scenario, proposed: Scenario, *, tolerance: float = DEFAULT_TOLERANCE
) -> CheckResult:
    """Run both designs on the same paths and review the change (module docstring).

    Raises
    ------
    InputError
        Accounts scenarios, different paths or seeds, a tolerance not in (0, 10], or
        a bad ``[appetite]`` table.
    """
    from stresstest.scenario.accounts import require_single_asset

    for scenario in (current, proposed):
        require_single_asset(scenario, "check")
    if not 0.0 < tolerance <= 10.0:
        raise InputError(
            "tolerance out of range",
            key="tolerance",
            value=tolerance,
            expected="a relative change in (0, 10], e.g. 0.1 for 10%",
        )
    _same_paths(current, proposed)
    appetite = parse_appetite(proposed) or parse_appetite(current)
    variants = [
        Variant(name="current", overrides={}, scenario=current),
        Variant(name="proposed", overrides={}, scenario=proposed),
    ]
    before, after = run_variants(variants, {}, strict=False, attribution=False)
    old_columns, new_columns = columns_of(before), columns_of(after)
    differences = paired_differences(
        new_columns,
        old_columns,
        DIFFERENCE_STATISTICS,
        samples=SAMPLES,
        confidence=CONFIDENCE,
        seed=proposed.seed,
    )
    moves = []
    for figure, (column, statistic) in DIFFERENCE_STATISTICS.items():
        old = float(statistic(old_columns[column]))
        new = float(statistic(new_columns[column]))
        paired = differences[figure]
        clear = paired.low > 0.0 or paired.high < 0.0
        beyond = abs(paired.estimate) > tolerance * abs(old) if old != 0 else paired.estimate != 0
        moves.append(
            Move(figure, old, new, paired.estimate, paired.low, paired.high, clear and beyond)
        )
    limits = check_limits(appetite, after) if appetite is not None else []
    known = {warning.code + warning.key for warning in before.warnings}
    new_warnings = [w.message() for w in after.warnings if w.code + w.key not in known]
    result = CheckResult(current, proposed, tolerance, moves, limits, new_warnings, before.n_paths)
    result.reasons = _reasons(result)
    return result


def _reasons(result: CheckResult) -> list[str]:
    from stresstest.console_tables import change_text, figure_text

    reasons = [
        f"{move.figure} moved by {change_text(move.figure, move.change, move.current)} "
        f"({CONFIDENCE:.0%} CI {_bound(move.figure, move.low)} to "
        f"{_bound(move.figure, move.high)}), more than the tolerance {result.tolerance:.0%}"
        for move in result.moves
        if move.moved
    ]
    reasons += [
        f"appetite.{limit.key}: {limit.figure} is {figure_text(limit.figure, limit.value)}, "
        f"above the limit {figure_text(limit.figure, limit.limit)} ({limit.unit})"
        for limit in result.limits
        if not limit.met
    ]
    reasons += [f"new plausibility warning: {message}" for message in result.new_warnings]
    return reasons


def _bound(figure: str, value: float) -> str:
    """An interval bound of a change: percentage points for probabilities."""
    from stresstest.console_tables import figure_text

    return (
        f"{100.0 * value:+.2f} pp"
        if figure.startswith("probability")
        else figure_text(figure, value)
    )


def check_files(
    current: Path, proposed: Path, *, tolerance: float, sets: tuple[str, ...] = ()
) -> CheckResult:
    """Load ``current`` and ``proposed`` (files or shipped names; ``sets`` apply to the
    proposed one) and :func:`check_change` them."""
    from stresstest.scenario import load_scenario
    from stresstest.scenario.embedded import resolve_scenario

    return check_change(
        load_scenario(resolve_scenario(current)),
        load_scenario(resolve_scenario(proposed), sets=sets),
        tolerance=tolerance,
    )


def write_check(result: CheckResult, out_dir: Path) -> Path:
    """Write ``out_dir/check.json`` whole (or leave the folder as it was)."""
    from stresstest.io.atomic import atomic_dir, write_json

    with atomic_dir(out_dir) as staging:
        write_json(result.document(), staging / "check.json")
    return out_dir
