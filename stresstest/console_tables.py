"""Rich tables of a run's summary and a comparison, as the CLI prints them.

Every number carries its unit: a ``unit`` column (``quote`` for money in the quote
currency, ``count``, ``%``) or the unit in the column header. A metric whose low
values are the bad ones (``fund_min``) is shown by its lower tail; a single-path
replay shows its values, not Monte-Carlo errors or tail statistics of one value.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from stresstest.engine.result import LOWER_TAIL_METRICS, compact_number, metric_unit

#: The metrics of the run table, in order.
RUN_METRICS: tuple[str, ...] = (
    "n_liquidations",
    "liquidated_notional",
    "bad_debt",
    "fees_to_fund",
    "fund_min",
    "fund_max_drawdown",
    "socialized_loss",
    "fund_required",
)


def _unit(name: str) -> str:
    unit = metric_unit(name)
    return "%" if unit == "fraction" else unit


def _value(name: str, value: float | None) -> str:
    if value is not None and metric_unit(name) == "fraction":
        return f"{100.0 * value:.3g}%"
    return compact_number(value)


def summary_table(summary: dict[str, Any]) -> Table:
    """The run summary: mean ± s.e. and the worst 1% (quantile and ES) of each metric.

    The worst 1% is the upper tail (``q99``, ``es99``) except for
    :data:`~stresstest.engine.result.LOWER_TAIL_METRICS`, whose lower tail (``q1``,
    ``es99_low``) is shown and marked. With one path, one value per metric.
    """
    n_paths = int(summary["n_paths"])
    title = f"{summary['scenario']}: {n_paths:,} path{'s' if n_paths != 1 else ''}"
    table = Table(title=title, title_justify="left")
    single = n_paths == 1
    columns = (
        ("metric", "unit", "value")
        if single
        else ("metric", "unit", "mean", "± se", "worst 1%: q", "worst 1%: ES")
    )
    for column in columns:
        table.add_column(
            column, justify="left" if column in ("metric", "unit") else "right", no_wrap=True
        )
    for name in RUN_METRICS:
        stats = summary["metrics"][name]
        if single:
            value = stats["mean"]
            shown = (
                f"{value:,.0f}"
                if value is not None and metric_unit(name) == "count"
                else _value(name, value)
            )
            table.add_row(name, _unit(name), shown)
            continue
        lower = name in LOWER_TAIL_METRICS
        quantile, shortfall = ("q1", "es99_low") if lower else ("q99", "es99")
        table.add_row(
            name + (" *" if lower else ""),
            _unit(name),
            *(_value(name, stats.get(key)) for key in ("mean", "mean_se", quantile, shortfall)),
        )
    lowered = [name for name in RUN_METRICS if name in LOWER_TAIL_METRICS]
    if lowered and not single:
        table.caption = f"* {', '.join(lowered)}: its lowest 1% (low values are the bad ones)"
        table.caption_justify = "left"
    depleted = summary["probability_fund_depleted"]
    if single:
        table.add_row("fund depleted", "yes/no", "yes" if depleted["p"] > 0 else "no")
    else:
        table.add_row(
            "P(fund depleted)", "%", f"{depleted['p']:.2%}", f"{depleted['se']:.2%}", "", ""
        )
    return table


def compare_table(name: str, frame: Any) -> Table:
    """One row per variant of a comparison (compare.parquet columns), units in headers."""
    table = Table(title=f"{name}: {len(frame)} variants", title_justify="left")
    labels: tuple[str, ...] = (
        "variant",
        "bad debt mean (quote)",
        "ES99 bad debt (quote)",
        "P(depleted)",
        "avg requirement (quote)",
        "avg rate",
        "liquidations/path",
    )
    accounts = "collateral_posted" in frame.columns  # the capital side, docs/model.md 11.6
    if accounts:
        labels = (*labels, "collateral (quote)")
    for label in labels:
        table.add_column(
            label,
            justify="left" if label == "variant" else "right",
            overflow="fold",
        )
    for row in frame.iter_rows(named=True):
        table.add_row(
            row["variant"],
            compact_number(row["bad_debt_mean"]),
            compact_number(row["bad_debt_es99"]),
            f"{row['probability_fund_depleted']:.2%}",
            compact_number(row["requirement_mean"]),
            f"{100.0 * row['margin_rate_mean']:.3f}%",
            compact_number(row["n_liquidations_mean"]),
            *([compact_number(row["collateral_posted"])] if accounts else []),
        )
    return table


def check_table(result: Any) -> Table:
    """A reviewed change (:class:`~stresstest.check.change.CheckResult`): each headline
    figure current and proposed, the paired change, and whether it moved; then each
    ``[appetite]`` limit. Intervals are in check.json and in the reasons printed."""
    table = Table(
        title=f"check: {result.n_paths:,} paths, tolerance {result.tolerance:.0%}",
        title_justify="left",
    )
    for column in ("figure", "current", "proposed", "change", "moved"):
        table.add_column(column, justify="left" if column == "figure" else "right", no_wrap=True)
    for move in result.moves:
        table.add_row(
            move.figure,
            figure_text(move.figure, move.current),
            figure_text(move.figure, move.proposed),
            change_text(move.figure, move.change, move.current),
            "yes" if move.moved else "no",
        )
    for limit in result.limits:
        table.add_row(
            f"limit {limit.key}",
            "",
            figure_text(limit.figure, limit.value),
            f"<= {figure_text(limit.figure, limit.limit)}",
            "met" if limit.met else "BROKEN",
        )
    return table


def figure_text(figure: str, value: float) -> str:
    """A headline figure with its unit: probabilities in %, the rest compact."""
    if figure.startswith("probability"):
        return f"{100.0 * value:.2f}%"
    return compact_number(value)


def change_text(figure: str, change: float, current: float) -> str:
    """A paired change: percentage points for probabilities, else compact and relative."""
    if figure.startswith("probability"):
        return f"{100.0 * change:+.2f} pp"
    relative = f" ({change / abs(current):+.0%})" if current != 0 else ""
    return f"{'+' if change > 0 else ''}{compact_number(change)}{relative}"


def attribution_table(attribution: dict[str, Any]) -> Table | Text:
    """The cohorts with the most bad debt (docs/model.md 6b), or why there is no attribution."""
    from stresstest.engine.attribution import top_cohorts

    if not attribution["available"]:
        return Text(f"attribution: none ({attribution['reason']})")
    title = "cohorts with the most bad debt (means per path; money in quote units)"
    table = Table(title=title, title_justify="left")
    for column in ("side", "leverage", "notional", "closed", "bad debt", "share", "es99"):
        table.add_column(column, justify="left" if column == "side" else "right", no_wrap=True)
    for entry in top_cohorts(attribution):
        table.add_row(
            entry["side"],
            entry["leverage_bucket"],
            entry["notional_bucket"],
            compact_number(entry["n_liquidations_mean"]),
            compact_number(entry["bad_debt_mean"]),
            f"{entry['bad_debt_share']:.1%}",
            compact_number(entry["bad_debt_es99"]),
        )
    return table
