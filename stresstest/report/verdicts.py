"""The verdicts of a comparison report, in words with units, and the recommended design.

Drawn from compare.parquet, differences.parquet and compare.json only. Every verdict
that calls a design better says what it costs (its average maintenance requirement
against the baseline's); the rule that picks the recommended design is in
docs/reports.md ("Comparison reports").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import polars as pl

from stresstest.report import style

#: The risk statistic the verdicts rank by (a column of compare.parquet and a
#: statistic of differences.parquet).
RISK = "bad_debt_es99"
#: The cost statistic: average maintenance requirement, quote units.
COST = "requirement_mean"


@dataclass(frozen=True)
class Recommendation:
    """The recommended design and why.

    Attributes
    ----------
    variant
        Name of the recommended variant; the baseline when no variant lowers the
        risk clearly.
    reason
        ``"dominates"`` (clearly lower ES 99% of bad debt at no more average
        requirement), ``"efficiency"`` (the largest ES reduction per unit of added
        requirement among the variants that lower it clearly) or ``"none"``.
    risk_change
        Paired difference of ES 99% of bad debt, variant minus baseline, quote units.
    risk_low, risk_high
        Its paired bootstrap interval, quote units.
    cost_change
        Average requirement, variant minus baseline, quote units.
    """

    variant: str
    reason: str
    risk_change: float
    risk_low: float
    risk_high: float
    cost_change: float


def recommend(table: pl.DataFrame, differences: pl.DataFrame, baseline: str) -> Recommendation:
    """Pick the recommended design of a comparison (docs/reports.md).

    A candidate is a variant whose paired interval of the ES 99% difference against
    the baseline lies wholly below 0. Among candidates that cost no more than the
    baseline (average requirement), the lowest ES 99% wins; otherwise the candidate
    with the largest ``-risk_change / cost_change`` (ES removed per unit of added
    requirement). Ties go to the variant listed first in compare.parquet.

    Parameters
    ----------
    table
        compare.parquet: one row per variant.
    differences
        differences.parquet: paired differences against the baseline.
    baseline
        Name of the baseline variant.

    Returns
    -------
    Recommendation
        The baseline itself with reason ``"none"`` when there is no candidate.
    """
    rows = {row["variant"]: row for row in table.iter_rows(named=True)}
    base = rows[baseline]
    risk = differences.filter(pl.col("statistic") == RISK)
    candidates: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for change in risk.iter_rows(named=True):
        name = change["variant"]
        if name == baseline or name not in rows or not change["ci_high"] < 0.0:
            continue
        candidates.append((rows[name], change))
    order = {name: index for index, name in enumerate(rows)}
    candidates.sort(key=lambda pair: order[pair[0]["variant"]])
    if not candidates:
        return Recommendation(baseline, "none", 0.0, 0.0, 0.0, 0.0)
    free = [pair for pair in candidates if pair[0][COST] <= base[COST]]
    if free:
        row, change = min(free, key=lambda pair: pair[0][RISK])
        reason = "dominates"
    else:
        row, change = max(
            candidates, key=lambda pair: -pair[1]["difference"] / (pair[0][COST] - base[COST])
        )
        reason = "efficiency"
    return Recommendation(
        variant=str(row["variant"]),
        reason=reason,
        risk_change=float(change["difference"]),
        risk_low=float(change["ci_low"]),
        risk_high=float(change["ci_high"]),
        cost_change=float(row[COST] - base[COST]),
    )


def signed_money(value: float) -> str:
    return ("+" if value > 0 else "-" if value < 0 else "") + style.money(abs(value))


def change_text(value: float, lower: str, higher: str) -> str:
    """``"10.7M USDT lower"``: the size of a change and its direction in words."""
    if value == 0:
        return "unchanged"
    return f"{style.money(abs(value))} {lower if value < 0 else higher}"


def _interval(low: float, high: float, confidence: float) -> str:
    return f"{confidence:.0%} CI {style.compact(low)} to {style.compact(high)} {style.QUOTE}"


def lowest_risk_verdict(table: pl.DataFrame, baseline: str) -> str:
    """The variant with the lowest ES 99% of bad debt, with its cost against the baseline."""
    rows = list(table.iter_rows(named=True))
    base = next(row for row in rows if row["variant"] == baseline)
    best = min(rows, key=lambda row: row[RISK])
    if best["variant"] == baseline:
        return (
            f"Lowest ES 99% of bad debt: the baseline {baseline}, "
            f"{style.money(best[RISK])}, at an average requirement of {style.money(best[COST])}."
        )
    return (
        f"Lowest ES 99% of bad debt: {best['variant']}, {style.money(best[RISK])} vs "
        f"{style.money(base[RISK])} for the baseline {baseline}, at an average requirement of "
        f"{style.money(best[COST])} vs {style.money(base[COST])} "
        f"({signed_money(best[COST] - base[COST])})."
    )


def recommendation_verdict(recommendation: Recommendation, baseline: str, confidence: float) -> str:
    """The recommended design in one sentence, with the interval and the cost."""
    if recommendation.reason == "none":
        return (
            f"Recommended: keep the baseline {baseline}; no variant lowers ES 99% of bad debt "
            f"with a paired {confidence:.0%} interval wholly below 0."
        )
    why = (
        "lower risk at no more margin"
        if recommendation.reason == "dominates"
        else "the most ES 99% removed per unit of added margin"
    )
    ratio = (
        f", {-recommendation.risk_change / recommendation.cost_change:.2g} {style.QUOTE} of ES "
        f"per {style.QUOTE} of margin"
        if recommendation.cost_change > 0
        else ""
    )
    return (
        f"Recommended ({why}): {recommendation.variant}, ES 99% of bad debt "
        f"{change_text(recommendation.risk_change, 'lower', 'higher')} than {baseline} "
        f"({_interval(recommendation.risk_low, recommendation.risk_high, confidence)}), "
        f"average requirement {change_text(recommendation.cost_change, 'lower', 'higher')}"
        f"{ratio}."
    )


def match_verdict(match: dict[str, Any], table: pl.DataFrame, confidence: float) -> str:
    """One ``--match`` result of compare.json in words, with units."""
    rows = {row["variant"]: row for row in table.iter_rows(named=True)}
    variant = str(match.get("variant", "?"))
    static = rows.get(str(match.get("static_variant")))
    if static is None:
        return f"{variant}: no static rate matched on {match.get('matched_on', '?')}."
    rate = static.get("maintenance")
    rate_text = style.percent(rate, 3) if rate is not None and math.isfinite(rate) else "?"
    difference = match.get("difference")
    if match.get("matched_on") == "cost":
        head = f"At equal average requirement ({style.money(static[COST])}), {variant}"
    else:
        head = f"At equal ES 99% of bad debt ({style.money(static[RISK])}), {variant}"
    if difference is None:
        return f"{head} matches static {rate_text}."
    statistic = str(match.get("statistic", RISK))
    what = "ES 99% of bad debt" if statistic == RISK else "average requirement"
    low, high = float(match.get("ci_low", math.nan)), float(match.get("ci_high", math.nan))
    sign = "clearly lower" if high < 0 else "clearly higher" if low > 0 else "not clearly different"
    return (
        f"{head} has {what} {change_text(float(difference), 'lower', 'higher')} than static "
        f"{rate_text} ({_interval(low, high, confidence)}): {sign}."
    )
