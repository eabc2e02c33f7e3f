"""The pages of a comparison report, drawn from compare.parquet, differences.parquet,
compare.json and (when present) backtest.json.

Every function returns an A4 :class:`~matplotlib.figure.Figure` whose title states
what the data show. Money is in quote units (USDT in the shipped scenarios).
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from stresstest.report import style
from stresstest.report.figures_run import draw_table, wilson
from stresstest.report.load import CompareFolder

#: Statistics of differences.parquet: name -> (panel title, unit label, scale to unit).
DIFFERENCE_LABELS: dict[str, tuple[str, str, float]] = {
    "bad_debt_mean": ("Expected bad debt per path", style.MONEY_LABEL, 1.0),
    "bad_debt_es99": ("ES 99% of bad debt", style.MONEY_LABEL, 1.0),
    "probability_fund_depleted": ("P(fund depleted)", "percentage points", 100.0),
    "fund_max_drawdown_mean": ("Mean fund drawdown", style.MONEY_LABEL, 1.0),
    "n_liquidations_mean": ("Liquidations per path", "positions", 1.0),
    "penalties_paid_mean": ("Penalties paid per path", style.MONEY_LABEL, 1.0),
    "requirement_mean": ("Average maintenance requirement", style.MONEY_LABEL, 1.0),
}
FAMILY_COLOURS = {"static": style.BLUE, "vol_scaled": style.ORANGE}


def _variants(folder: CompareFolder) -> list[dict[str, Any]]:
    return list(folder.table.iter_rows(named=True))


def _overrides(folder: CompareFolder) -> dict[str, dict[str, Any]]:
    return {
        str(entry.get("name")): dict(entry.get("overrides") or {})
        for entry in folder.document.get("variants", [])
    }


def _matched(folder: CompareFolder) -> dict[str, dict[str, Any]]:
    """Matches of compare.json by the name of their static variant."""
    return {
        str(match["static_variant"]): match
        for match in folder.document.get("matches", [])
        if match.get("static_variant")
    }


def _margin_only(overrides: dict[str, Any]) -> bool:
    return all(key == "margin" or key.startswith("margin.") for key in overrides)


def _override_text(overrides: dict[str, Any]) -> str:
    parts = [f"{key}={value}" for key, value in overrides.items() if not key.startswith("margin")]
    return ", ".join(parts)


# ----------------------------------------------------------------------------- pages
def compare_summary_page(folder: CompareFolder) -> Figure:
    """Page 1: every variant's risk and cost, the designs and the matching verdicts."""
    rows = _variants(folder)
    baseline = str(folder.document["baseline"])
    base = next((row for row in rows if row["variant"] == baseline), rows[0])
    best = min(rows, key=lambda row: row["bad_debt_es99"])
    figure = style.page(layout=False)
    style.title(
        figure,
        f"{folder.label}: lowest ES 99% of bad debt is {best['variant']} at "
        f"{style.money(best['bad_debt_es99'])} vs {style.money(base['bad_debt_es99'])} for "
        f"baseline {baseline}",
        x=0.03,
        y=0.965,
        ha="left",
    )
    paths = folder.scenario.get("paths", {})
    figure.text(
        0.03,
        0.885,
        _wrap(
            f"{len(rows)} variants on the same {folder.baseline.n_paths:,} paths x "
            f"{folder.baseline.n_steps:,} steps; differences against {baseline} are paired. "
            f"Paths: {paths.get('source', '?')}. ± is one Monte-Carlo standard error; amounts in "
            f"{style.QUOTE}.",
            150,
        ),
        ha="left",
        va="top",
        fontsize=10.5,
    )
    header = [
        "variant",
        "bad debt mean",
        "ES 99% bad debt",
        "P(depleted)",
        "fund for 99%",
        "avg requirement",
        "avg rate",
        "liquidations/path",
    ]
    cells = [
        [
            row["variant"] + (" (baseline)" if row["variant"] == baseline else ""),
            style.with_error(row["bad_debt_mean"], row["bad_debt_mean_se"]),
            style.with_error(row["bad_debt_es99"], row["bad_debt_es99_se"]),
            style.percent_with_error(
                row["probability_fund_depleted"], row["probability_fund_depleted_se"]
            ),
            style.compact(row["fund_required_q99"]),
            style.compact(row["requirement_mean"]),
            style.percent(row["margin_rate_mean"], 2),
            style.count(row["n_liquidations_mean"]),
        ]
        for row in rows
    ]
    size = 10.0 if len(rows) <= 12 else max(6.5, 10.0 - 0.15 * (len(rows) - 12))
    table_height = min(0.045 * (len(rows) + 1), 0.55)
    table_ax = figure.add_axes((0.03, 0.84 - table_height, 0.94, table_height))
    draw_table(
        table_ax,
        cells,
        header,
        [0.19, 0.12, 0.13, 0.13, 0.10, 0.13, 0.08, 0.12],
        fontsize=size,
    )
    overrides = _overrides(folder)
    matched = _matched(folder)
    lines = ["Designs:"]
    for row in rows:
        other = _override_text(overrides.get(row["variant"], {}))
        origin = matched.get(row["variant"])
        note = f" (static design matched to {origin['variant']})" if origin else ""
        lines.append(f"  {row['variant']}: {row['design']}{note}" + (f"; {other}" if other else ""))
    verdicts = [str(match.get("verdict", "")) for match in folder.document.get("matches", [])]
    if verdicts:
        lines.append("Matches:")
        lines += [f"  {_wrap(verdict, 150, '    ')}" for verdict in verdicts]
    text = "\n".join(lines[:40])
    figure.text(0.03, 0.84 - table_height - 0.04, text, ha="left", va="top", fontsize=10.5)
    return figure


def _wrap(text: str, width: int, indent: str = "") -> str:
    return f"\n{indent}".join(textwrap.wrap(text, width))


def frontier_page(folder: CompareFolder) -> Figure:
    """Page 2: ES 99% of bad debt against average requirement, one curve per margin family."""
    rows = _variants(folder)
    overrides = _overrides(folder)
    matched = _matched(folder)
    figure = style.page()
    style.title(figure, _frontier_title(folder, rows))
    ax = figure.subplots()

    def margin_only(name: str) -> bool:
        source = str(matched[name].get("variant")) if name in matched else name
        return _margin_only(overrides.get(source, {}))

    for family, colour in FAMILY_COLOURS.items():
        members = sorted(
            (row for row in rows if row["margin_model"] == family and margin_only(row["variant"])),
            key=lambda row: row["requirement_mean"],
        )
        if not members:
            continue
        ax.errorbar(
            [row["requirement_mean"] for row in members],
            [row["bad_debt_es99"] for row in members],
            yerr=[row["bad_debt_es99_se"] or 0.0 for row in members],
            fmt="-o",
            color=colour,
            ms=7,
            capsize=4,
            label=f"{family} margin",
        )
    others = [row for row in rows if not margin_only(row["variant"])]
    if others:
        ax.errorbar(
            [row["requirement_mean"] for row in others],
            [row["bad_debt_es99"] for row in others],
            yerr=[row["bad_debt_es99_se"] or 0.0 for row in others],
            fmt="^",
            color=style.GREY,
            ms=8,
            capsize=4,
            label="other changes (not margin)",
        )
    by_name = {row["variant"]: row for row in rows}
    for name, match in matched.items():
        if name not in by_name:
            continue
        point = by_name[name]
        ax.plot(
            [point["requirement_mean"]],
            [point["bad_debt_es99"]],
            "*",
            color=style.GREEN,
            ms=16,
            markeredgecolor=style.BLACK,
            label=f"static matched on {match.get('matched_on', '?')}",
        )
        source = by_name.get(str(match.get("variant")))
        if source is not None:
            ax.plot(
                [source["requirement_mean"], point["requirement_mean"]],
                [source["bad_debt_es99"], point["bad_debt_es99"]],
                color=style.GREEN,
                ls=":",
                lw=1.5,
            )
    for row in rows:
        ax.annotate(
            row["variant"],
            (row["requirement_mean"], row["bad_debt_es99"]),
            xytext=(10, -16 if row["variant"] in matched else 6),
            textcoords="offset points",
            fontsize=9,
        )
    _log_if_wide(ax, [row["requirement_mean"] for row in rows], "x")
    _log_if_wide(ax, [row["bad_debt_es99"] for row in rows], "y")
    ax.set_title("Risk-cost frontier: lower and further left is better (bars: ± 1 s.e.)")
    ax.set_xlabel(f"average maintenance requirement (cost to traders), {style.MONEY_LABEL}")
    ax.set_ylabel(f"ES 99% of bad debt per path (risk), {style.MONEY_LABEL}")
    style.compact_axis(ax.xaxis)
    style.compact_axis(ax.yaxis)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), loc="upper right")
    return figure


def _frontier_title(folder: CompareFolder, rows: list[dict[str, Any]]) -> str:
    by_name = {row["variant"]: row for row in rows}
    for match in folder.document.get("matches", []):
        static = by_name.get(str(match.get("static_variant")))
        variant = by_name.get(str(match.get("variant")))
        if static is None or variant is None:
            continue
        if match.get("matched_on") == "cost":
            return (
                f"{folder.label}: at equal average requirement "
                f"({style.money(variant['requirement_mean'])}), {variant['variant']} has ES 99% "
                f"bad debt {style.money(variant['bad_debt_es99'])} vs "
                f"{style.money(static['bad_debt_es99'])} for static m="
                f"{static.get('maintenance') or float('nan'):.4g}"
            )
        return (
            f"{folder.label}: at equal ES 99% bad debt, {variant['variant']} needs "
            f"{style.money(variant['requirement_mean'])} of margin vs "
            f"{style.money(static['requirement_mean'])} for static m="
            f"{static.get('maintenance') or float('nan'):.4g}"
        )
    low = min(rows, key=lambda row: row["bad_debt_es99"])
    cheap = min(rows, key=lambda row: row["requirement_mean"])
    return (
        f"{folder.label}: ES 99% of bad debt ranges from {style.money(low['bad_debt_es99'])} "
        f"({low['variant']}) to {style.money(cheap['bad_debt_es99'])} for the cheapest "
        f"({cheap['variant']})"
    )


def _log_if_wide(ax: Any, values: list[float], axis: str) -> None:
    finite = [value for value in values if value is not None and math.isfinite(value)]
    if finite and min(finite) > 0 and max(finite) / min(finite) > 20:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    elif finite and min(finite) >= 0:
        (ax.set_xlim if axis == "x" else ax.set_ylim)(0.0, None)


def differences_page(folder: CompareFolder) -> Figure:
    """Page 3: paired differences against the baseline with their intervals, per statistic."""
    frame = folder.differences
    baseline = str(folder.document["baseline"])
    frame = frame.filter(pl.col("variant") != baseline)
    statistics = [name for name in frame["statistic"].unique(maintain_order=True).to_list()]
    confidence = float(frame["confidence"][0]) if frame.height else 0.95
    figure = style.page()
    style.title(figure, _differences_title(folder.label, frame, baseline, confidence))
    columns = 2
    rows = max(1, math.ceil((len(statistics) + 1) / columns))
    axes = np.atleast_1d(figure.subplots(rows, columns)).reshape(-1)
    variants = frame["variant"].unique(maintain_order=True).to_list()
    positions = np.arange(len(variants))[::-1]
    for ax, statistic in zip(axes, statistics, strict=False):
        title, unit, scale = DIFFERENCE_LABELS.get(statistic, (statistic, "", 1.0))
        part = frame.filter(pl.col("statistic") == statistic)
        by_variant = {row["variant"]: row for row in part.iter_rows(named=True)}
        for position, variant in zip(positions, variants, strict=True):
            row = by_variant.get(variant)
            if row is None:
                continue
            low, high = row["ci_low"] * scale, row["ci_high"] * scale
            colour = style.BLUE if high < 0 else style.VERMILLION if low > 0 else style.GREY
            ax.plot([low, high], [position, position], color=colour, lw=2.5)
            ax.plot([row["difference"] * scale], [position], "o", color=colour, ms=7)
        ax.axvline(0.0, color=style.BLACK, lw=1)
        ax.set_yticks(positions, variants, fontsize=9)
        ax.set_ylim(-0.6, len(variants) - 0.4)
        ax.set_title(f"{title}: variant - baseline", fontsize=11)
        ax.set_xlabel(unit, fontsize=10)
        style.compact_axis(ax.xaxis)
    for ax in axes[len(statistics) :]:
        ax.set_axis_off()
    key = axes[len(statistics)] if len(statistics) < axes.size else None
    if key is not None:
        for colour, text in (
            (style.BLUE, "interval below 0: lower than baseline"),
            (style.VERMILLION, "interval above 0: higher than baseline"),
            (style.GREY, "interval spans 0: no clear difference"),
        ):
            key.plot([], [], color=colour, lw=2.5, marker="o", label=text)
        key.legend(
            loc="center",
            title=f"dot: estimate; bar: {confidence:.0%} paired bootstrap interval\n"
            f"baseline: {baseline}",
            frameon=False,
        )
    return figure


def _differences_title(label: str, frame: pl.DataFrame, baseline: str, confidence: float) -> str:
    es = frame.filter(pl.col("statistic") == "bad_debt_es99")
    if es.height:
        row = es.sort("difference").row(0, named=True)
        verb = "lowers" if row["difference"] < 0 else "raises"
        return (
            f"{label}: {row['variant']} {verb} ES 99% of bad debt by "
            f"{style.money(abs(row['difference']))} vs {baseline} ({confidence:.0%} CI "
            f"{style.compact(row['ci_low'])} to {style.compact(row['ci_high'])})"
        )
    clear = int(((frame["ci_high"] < 0) | (frame["ci_low"] > 0)).sum())
    return f"{label}: {clear} of {frame.height} differences vs {baseline} exclude zero"


def _p(value: float) -> str:
    """A p-value, with tiny ones as an upper bound."""
    return "< 0.0001" if value < 1e-4 else f"= {value:.3g}"


def backtest_page(document: dict[str, Any], label: str) -> Figure:
    """Coverage backtest: exception rate per side against the target, with p-values."""
    tests = document["tests"]
    sides = [side for side in ("long", "short", "either") if side in tests]
    figure = style.page()
    either = tests.get("either", tests[sides[0]])
    verdict = "rejects" if either["p_pof"] < 0.05 else "does not reject"
    style.title(
        figure,
        f"{label}: margin exceeded in {style.percent(either['rate'], 2)} of windows vs "
        f"{style.percent(either['expected_rate'], 2)} expected; Kupiec {verdict} coverage "
        f"(p {_p(either['p_pof'])})",
    )
    ax = figure.subplots()
    positions = np.arange(len(sides), dtype=np.float64)
    rates = np.array([tests[side]["rate"] for side in sides], dtype=np.float64)
    low = np.empty_like(rates)
    high = np.empty_like(rates)
    for index, side in enumerate(sides):
        bounds = wilson(rates[index : index + 1], int(tests[side]["n"]))
        low[index], high[index] = bounds[0][0], bounds[1][0]
    ax.bar(positions, rates, color=style.SKY, width=0.5, label="observed exception rate")
    ax.errorbar(
        positions,
        rates,
        yerr=[rates - low, high - rates],
        fmt="none",
        color=style.BLACK,
        capsize=6,
        label="95% binomial (Wilson) interval",
    )
    expected = [tests[side]["expected_rate"] for side in sides]
    ax.hlines(
        expected,
        positions - 0.3,
        positions + 0.3,
        color=style.VERMILLION,
        lw=3,
        zorder=3,
        label="target rate (1 - coverage; both sides for 'either')",
    )
    labels = [
        f"{side}\n{tests[side]['exceptions']:,} of {tests[side]['n']:,} windows\n"
        f"Kupiec p {_p(tests[side]['p_pof'])}\nindependence p {_p(tests[side]['p_ind'])}\n"
        f"cond. coverage p {_p(tests[side]['p_cc'])}"
        for side in sides
    ]
    ax.set_xticks(positions, labels, fontsize=10)
    ax.set_ylabel("share of windows with an exception")
    ax.set_xlabel("positions tested: exceptions, windows and p-values of the three tests")
    style.percent_axis(ax.yaxis)
    data = str(document.get("data", "?")).replace("\\", "/").rsplit("/", 1)[-1]
    ax.set_title(
        f"{data}: horizon {document['horizon_steps']} steps, stride "
        f"{document.get('stride', '?')}, {document['windows']:,} windows, "
        f"target coverage {document['coverage']:.1%} per side"
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=3)
    return figure
