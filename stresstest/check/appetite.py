"""``[appetite]``: the limits a risk committee wrote down, checked against a run.

Each limit is an upper bound on one headline figure of a run, in that figure's unit;
a limit left out is not checked. docs/check.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from stresstest.comparison.paired import expected_shortfall_99, frequency_positive, mean
from stresstest.engine.result import Result
from stresstest.errors import InputError
from stresstest.scenario import Scenario
from stresstest.scenario.appetite import Appetite

#: Limit key -> (figure name, paths.parquet column, statistic over paths, unit).
LIMITS: dict[str, tuple[str, str, Any, str]] = {
    "probability_fund_depleted_max": (
        "probability_fund_depleted",
        "socialized_loss",
        frequency_positive,
        "fraction",
    ),
    "bad_debt_es99_max": ("bad_debt_es99", "bad_debt", expected_shortfall_99, "quote"),
    "bad_debt_mean_max": ("bad_debt_mean", "bad_debt", mean, "quote"),
    "socialized_loss_mean_max": ("socialized_loss_mean", "socialized_loss", mean, "quote"),
    "liquidations_mean_max": ("n_liquidations_mean", "n_liquidations", mean, "count"),
    "requirement_mean_max": ("requirement_mean", "requirement_mean", mean, "quote"),
    "margin_peak_to_trough_mean_max": (
        "margin_peak_to_trough_mean",
        "margin_peak_to_trough",
        mean,
        "dimensionless",
    ),
    "margin_max_increase_mean_max": (
        "margin_max_increase_mean",
        "margin_max_increase",
        mean,
        "fraction",
    ),
    "procyclical_liquidations_mean_max": (
        "procyclical_liquidations_mean",
        "procyclical_liquidations",
        mean,
        "count",
    ),
}
#: Limits on columns that only a run with ``[procyclicality]`` has (docs/model.md 3.2).
PROCYCLICALITY_LIMITS = frozenset(
    {
        "margin_peak_to_trough_mean_max",
        "margin_max_increase_mean_max",
        "procyclical_liquidations_mean_max",
    }
)


def parse_appetite(scenario: Scenario) -> Appetite | None:
    """The scenario's ``[appetite]`` table, validated; ``None`` when it has none.

    Raises
    ------
    InputError
        An unknown key or a value out of range, naming the file and key; a table
        with no limit at all.
    """
    from stresstest.scenario.validate import build_table

    if "appetite" not in scenario.raw:
        return None
    file = scenario.source_file
    base = file.parent if file is not None else None
    appetite: Appetite = build_table(scenario.raw, "appetite", Appetite, file, base)
    if all(getattr(appetite, key) is None for key in LIMITS):
        raise InputError(
            "an [appetite] table without a limit",
            file=file,
            key="appetite",
            expected=f"at least one of {sorted(LIMITS)}",
        )
    for key in sorted(PROCYCLICALITY_LIMITS):
        if getattr(appetite, key) is not None and scenario.procyclicality is None:
            raise InputError(
                "a procyclicality limit needs the procyclicality columns",
                file=file,
                key=f"appetite.{key}, procyclicality",
                expected="a [procyclicality] table (docs/model.md 3.2), or no such limit",
            )
    return appetite


@dataclass(frozen=True)
class LimitCheck:
    """One limit against one run's figure."""

    key: str
    figure: str
    limit: float
    value: float
    unit: str

    @property
    def met(self) -> bool:
        """The figure is at most the limit."""
        return self.value <= self.limit

    def record(self) -> dict[str, Any]:
        """As written in check.json."""
        return {
            "key": self.key,
            "figure": self.figure,
            "limit": self.limit,
            "value": self.value,
            "unit": self.unit,
            "met": self.met,
        }


def check_limits(appetite: Appetite, result: Result) -> list[LimitCheck]:
    """Every limit of ``appetite`` against ``result``'s point estimate, in table order."""
    checks = []
    for key, (figure, column, statistic, unit) in LIMITS.items():
        limit = getattr(appetite, key)
        if limit is None:
            continue
        value = float(statistic(np.asarray(result.column(column))))
        checks.append(LimitCheck(key, figure, float(limit), value, unit))
    return checks


def appetite_lines(result: Result) -> list[str]:
    """What ``stresstest run`` prints of the scenario's ``[appetite]``: one line a limit,
    ``met`` or ``BROKEN``, with the run's figure (nothing without the table)."""
    from stresstest.console_tables import figure_text

    appetite = parse_appetite(result.scenario)
    if appetite is None:
        return []
    return [
        f"appetite.{limit.key}: {figure_text(limit.figure, limit.value)} against "
        f"{figure_text(limit.figure, limit.limit)}: {'met' if limit.met else 'BROKEN'}"
        for limit in check_limits(appetite, result)
    ]
