"""The procyclicality page of a comparison report (docs/procyclicality.md).

Drawn from compare.parquet only: for every variant the mean over paths of its
largest n-step rise of the margin rate and of its liquidations caused by rate
rises alone (docs/model.md 3.2), against the ES 99% of bad debt per path, each
with its standard error. Present when the comparison ran with ``[procyclicality]``.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from stresstest.report import style
from stresstest.report.labels import place_labels
from stresstest.report.load import CompareFolder
from stresstest.scenario.schema import APC_LABEL

#: The compare.parquet column whose presence means the comparison measured procyclicality.
PROCYCLICALITY_COLUMN = "margin_max_increase_mean"
#: The right panel's statistic (compare.parquet column, with its ``_se``).
_RIGHT = "procyclical_liquidations_mean"
#: Design families of the page, in legend order, with their colours.
FAMILIES: dict[str, str] = {
    "static": style.BLUE,
    "vol_scaled": style.ORANGE,
    "vol_scaled with EMIR APC": style.GREEN,
}


def has_procyclicality(folder: CompareFolder) -> bool:
    """Whether the comparison's table has the procyclicality columns."""
    return PROCYCLICALITY_COLUMN in folder.table.columns


def family(row: dict[str, Any]) -> str:
    """``static``, ``vol_scaled`` or ``vol_scaled with EMIR APC`` (a key of :data:`FAMILIES`)."""
    if row["margin_model"] == "static":
        return "static"
    return "vol_scaled with EMIR APC" if f" {APC_LABEL}(" in row["design"] else "vol_scaled"


def _panel(ax: Any, rows: list[dict[str, Any]], x: str, x_label: str, x_scale: float) -> None:
    """ES 99% of bad debt against ``x`` (a statistic with ``x_se``), one point per variant."""
    for name, colour in FAMILIES.items():
        members = [row for row in rows if family(row) == name]
        if not members:
            continue
        ax.errorbar(
            [row[x] * x_scale for row in members],
            [row["bad_debt_es99"] for row in members],
            xerr=[(row[f"{x}_se"] or 0.0) * x_scale for row in members],
            yerr=[row["bad_debt_es99_se"] or 0.0 for row in members],
            fmt="o",
            color=colour,
            ms=8,
            capsize=4,
            label=name,
        )
    ax.set_xlabel(x_label)
    ax.set_ylabel(f"ES 99% of bad debt per path, {style.MONEY_LABEL}")
    style.compact_axis(ax.yaxis)
    ax.legend(loc="best")


def _title(rows: list[dict[str, Any]], horizon: int | None) -> str:
    """The finding: which risk-based design rises least, and which has the least bad debt."""
    risk_based = [row for row in rows if family(row) != "static"] or rows
    calm = min(risk_based, key=lambda row: row["margin_max_increase_mean"])
    safe = min(rows, key=lambda row: row["bad_debt_es99"])
    within = f"{horizon} steps" if horizon is not None else "n steps"
    rise = f"{calm['margin_max_increase_mean']:.0%} in {within}"
    if calm is safe:
        return f"{calm['variant']}: smallest margin rises ({rise}) and lowest ES 99% of bad debt"
    return f"{calm['variant']} rises least ({rise}); {safe['variant']} has the least bad debt"


def procyclicality_page(folder: CompareFolder) -> Figure:
    """Procyclicality (largest n-step rise; liquidations by rate rises) against ES 99% of
    bad debt, per variant, with ± 1 standard error bars (docs/procyclicality.md)."""
    rows = folder.table.to_dicts()
    table = folder.document.get("procyclicality") or {}
    horizon = table.get("horizon_steps")
    figure = style.page()
    style.title(figure, _title(rows, horizon))
    left, right = figure.subplots(1, 2, sharey=True)
    within = f"{horizon} steps" if horizon is not None else "n steps"
    _panel(
        left,
        rows,
        "margin_max_increase_mean",
        f"largest rise of the rate m_t within {within}, % (mean over paths)",
        100.0,
    )
    left.set_title("Rate rises against bad debt (bars: ± 1 s.e.)", fontsize=11)
    _panel(
        right,
        rows,
        _RIGHT,
        "liquidations by rate rises alone per path (mean)",
        1.0,
    )
    right.set_title("Positions flagged that m_0 held would not flag", fontsize=11)
    right.set_ylabel("")
    for ax, x, scale in ((left, "margin_max_increase_mean", 100.0), (right, _RIGHT, 1.0)):
        # last: place_labels draws the page once and freezes its layout
        place_labels(
            ax,
            [row[x] * scale for row in rows],
            [row["bad_debt_es99"] for row in rows],
            [row["variant"] for row in rows],
        )
    return figure
