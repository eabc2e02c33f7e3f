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

from stresstest.report import style, verdicts
from stresstest.report.figures_run import draw_table, wilson
from stresstest.report.labels import place_labels
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
    "margin_peak_to_trough_mean": ("Peak/trough of the margin rate", "ratio", 1.0),
    "margin_max_increase_mean": ("Largest n-step rise of the rate", "percentage points", 100.0),
    "procyclical_liquidations_mean": ("Liquidations by rate rises alone", "positions", 1.0),
    "procyclical_notional_mean": ("Notional closed by rate rises", style.MONEY_LABEL, 1.0),
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
#: Largest number of ``--match`` verdicts listed on page 1 (the rest: compare.json).
MAX_MATCH_VERDICTS = 6
#: Height of one line of 10.5 pt text, as a fraction of the page height.
LINE = 0.024


def design_texts(
    rows: list[dict[str, Any]], overrides: dict[str, dict[str, Any]]
) -> tuple[list[str], list[str]]:
    """Short design descriptions and the footnotes of what every variant of a family shares.

    A design string of compare.parquet is ``"<family> key=value ..."``; a ``key=value``
    that every variant of its family (two or more) has is moved to one footnote per
    family, so the table's design column shows only what differs. Overrides of other
    tables follow the design.
    """
    tokens = [[_short_number(token) for token in str(row["design"]).split()] for row in rows]
    families: dict[str, list[list[str]]] = {}
    for parts in tokens:
        families.setdefault(parts[0] if parts else "", []).append(parts[1:])
    common: dict[str, list[str]] = {}
    for family, members in families.items():
        if len(members) < 2:
            common[family] = []
            continue
        shared = set(members[0]).intersection(*map(set, members[1:]))
        common[family] = [token for token in members[0] if token in shared]
    texts = []
    for row, parts in zip(rows, tokens, strict=True):
        family = parts[0] if parts else ""
        rest = [token for token in parts[1:] if token not in common[family]]
        other = _override_text(overrides.get(row["variant"], {}))
        texts.append(
            " ".join([family.replace("vol_scaled", "vol"), *rest]) + (f"; {other}" if other else "")
        )
    notes = [
        f"every {family} variant: {' '.join(shared)}" for family, shared in common.items() if shared
    ]
    return texts, notes


def _bottom_of(figure: Figure, artist: Any) -> float:
    """The lower edge of a drawn ``artist`` as a fraction of the page height."""
    box = artist.get_window_extent(figure.canvas.get_renderer())  # type: ignore[attr-defined]
    return float(box.transformed(figure.transFigure.inverted()).y0)


def _short_number(token: str) -> str:
    """``m=0.00681579`` -> ``m=0.006816``: a design value to four significant digits."""
    key, _, value = token.partition("=")
    try:
        return f"{key}={float(value):.4g}" if value else token
    except ValueError:
        return token


def compare_summary_page(folder: CompareFolder) -> Figure:
    """Page 1: the verdicts with units, then every variant's risk and cost."""
    rows = _variants(folder)
    baseline = str(folder.document["baseline"])
    confidence = float(folder.document.get("confidence", 0.95))
    recommendation = verdicts.recommend(folder.table, folder.differences, baseline)
    figure = style.page(layout=False)
    title = (
        f"{folder.label}: recommended {recommendation.variant}, ES 99% of bad debt "
        f"{verdicts.change_text(recommendation.risk_change, 'lower', 'higher')} than baseline "
        f"{baseline}, average requirement "
        f"{verdicts.change_text(recommendation.cost_change, 'lower', 'higher')}"
        if recommendation.reason != "none"
        else f"{folder.label}: no variant clearly lowers ES 99% of bad debt below baseline "
        f"{baseline}"
    )
    style.title(figure, title, x=0.03, y=0.975, ha="left")
    title_lines = len(textwrap.wrap(title, style.TITLE_WIDTH))
    matches = folder.document.get("matches", [])
    lines = [
        verdicts.lowest_risk_verdict(folder.table, baseline),
        verdicts.recommendation_verdict(recommendation, baseline, confidence),
        *(
            verdicts.match_verdict(match, folder.table, confidence)
            for match in matches[:MAX_MATCH_VERDICTS]
        ),
    ]
    if len(matches) > MAX_MATCH_VERDICTS:
        lines.append(f"... and {len(matches) - MAX_MATCH_VERDICTS} more matches in compare.json.")
    wrapped = [_wrap(line, 135, "    ") for line in lines]
    text = "\n".join(f"\u2022 {line}" for line in wrapped)
    top = 0.975 - 0.034 * title_lines - 0.012
    block = figure.text(0.03, top, text, ha="left", va="top", fontsize=10.5)
    top = _bottom_of(figure, block) - 0.025
    designs, notes = design_texts(rows, _overrides(folder))
    paths = folder.scenario.get("paths", {})
    notes = [
        f"{len(rows)} variants on the same {folder.baseline.n_paths:,} paths x "
        f"{folder.baseline.n_steps:,} steps ({paths.get('source', '?')}); differences against "
        f"{baseline} are paired; \u00b1 is one Monte-Carlo standard error; amounts in "
        f"{style.QUOTE}.",
        *notes,
    ]
    if recommendation.reason != "none":
        notes.append(f"* recommended design (rule in docs/reports.md): {recommendation.variant}")
    bottom = style.FOOTER_HEIGHT + 0.02 + LINE * len(notes)
    header = [
        "variant",
        "design",
        f"bad debt mean\n{style.QUOTE}",
        f"ES 99% bad debt\n{style.QUOTE}",
        "P(fund\ndepleted)",
        f"fund for 99%\n{style.QUOTE}",
        f"avg requirement\n{style.QUOTE}",
        "avg rate\n%",
        "liquidations\nper path",
    ]
    cells = [
        [
            row["variant"]
            + (" (baseline)" if row["variant"] == baseline else "")
            + (" *" if row["variant"] == recommendation.variant != baseline else ""),
            design,
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
        for row, design in zip(rows, designs, strict=True)
    ]
    row_height = min(0.04, (top - bottom) / (len(rows) + 2))
    size = min(10.0, max(6.5, row_height / LINE * 10.0 * 0.95))
    table_height = row_height * (len(rows) + 2)
    table_ax = figure.add_axes((0.03, top - table_height, 0.94, table_height))
    draw_table(
        table_ax,
        cells,
        header,
        [0.15, 0.13, 0.12, 0.12, 0.10, 0.10, 0.12, 0.06, 0.10],
        fontsize=size,
        header_lines=2,
    )
    figure.text(
        0.03,
        top - table_height - 0.015,
        "\n".join(notes),
        ha="left",
        va="top",
        fontsize=10,
        color=style.BLACK,
    )
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
    place_labels(
        ax,
        [row["requirement_mean"] for row in rows],
        [row["bad_debt_es99"] for row in rows],
        [row["variant"] for row in rows],
    )
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


#: Rows of panels on one differences page, by the largest number of variants that fits.
PANEL_ROWS: tuple[tuple[int, int], ...] = ((6, 4), (11, 3))
#: Page height kept for the key under the panels of a differences page (fraction).
KEY_HEIGHT = 0.07
#: Rows of panels when there are more variants than :data:`PANEL_ROWS` lists.
PANEL_ROWS_MANY = 2


def panel_rows(n_variants: int) -> int:
    """Rows of panels per differences page, so that variant labels do not overprint."""
    for largest, rows in PANEL_ROWS:
        if n_variants <= largest:
            return rows
    return PANEL_ROWS_MANY


def differences_pages(
    folder: CompareFolder, labels: dict[str, tuple[str, str, float]] | None = None
) -> list[Figure]:
    """Page 3 on: paired differences against the baseline with their intervals.

    Two panels per row; with many variants fewer rows per page (:func:`panel_rows`)
    and more pages, so that each variant's label has room. ``labels`` names each
    statistic (panel title, unit, scale); default :data:`DIFFERENCE_LABELS`.
    """
    frame = folder.differences
    baseline = str(folder.document["baseline"])
    frame = frame.filter(pl.col("variant") != baseline)
    statistics = [name for name in frame["statistic"].unique(maintain_order=True).to_list()]
    confidence = float(frame["confidence"][0]) if frame.height else 0.95
    variants = frame["variant"].unique(maintain_order=True).to_list()
    columns = 2
    per_page = columns * panel_rows(len(variants))
    chunks = [statistics[start : start + per_page] for start in range(0, len(statistics), per_page)]
    title = _differences_title(folder.label, frame, baseline, confidence)
    pages = []
    for number, chunk in enumerate(chunks or [[]], start=1):
        figure = style.page(bottom=KEY_HEIGHT)
        more = f" (page {number} of {len(chunks)})" if len(chunks) > 1 else ""
        style.title(figure, title + more)
        rows = max(1, math.ceil(len(chunk) / columns))
        axes = np.atleast_1d(figure.subplots(rows, columns)).reshape(-1)
        for ax, statistic in zip(axes, chunk, strict=False):
            _difference_panel(ax, frame, statistic, variants, labels or DIFFERENCE_LABELS)
        for ax in axes[len(chunk) :]:
            ax.set_axis_off()
        for colour, text in (
            (style.BLUE, "interval below 0: lower than baseline"),
            (style.VERMILLION, "interval above 0: higher than baseline"),
            (style.GREY, "interval spans 0: no clear difference"),
        ):
            axes[0].plot([], [], color=colour, lw=2.5, marker="o", label=text)
        figure.legend(
            loc="lower center",
            bbox_to_anchor=(0.5, style.FOOTER_HEIGHT),
            ncols=3,
            title=f"dot: estimate; bar: {confidence:.0%} paired bootstrap interval; "
            f"baseline: {baseline}",
            frameon=False,
        )
        pages.append(figure)
    return pages


def _difference_panel(
    ax: Any,
    frame: pl.DataFrame,
    statistic: str,
    variants: list[str],
    labels: dict[str, tuple[str, str, float]],
) -> None:
    """One statistic: each variant's paired difference and interval, one row per variant."""
    title, unit, scale = labels.get(statistic, (statistic, "", 1.0))
    part = frame.filter(pl.col("statistic") == statistic)
    by_variant = {row["variant"]: row for row in part.iter_rows(named=True)}
    positions = np.arange(len(variants))[::-1]
    for position, variant in zip(positions, variants, strict=True):
        row = by_variant.get(variant)
        if row is None:
            continue
        low, high = row["ci_low"] * scale, row["ci_high"] * scale
        colour = style.BLUE if high < 0 else style.VERMILLION if low > 0 else style.GREY
        ax.plot([low, high], [position, position], color=colour, lw=2.5)
        ax.plot([row["difference"] * scale], [position], "o", color=colour, ms=6)
    ax.axvline(0.0, color=style.BLACK, lw=1)
    ax.set_yticks(positions, variants, fontsize=9)
    ax.set_ylim(-0.6, len(variants) - 0.4)
    ax.set_title(f"{title}: variant - baseline", fontsize=11)
    ax.set_xlabel(unit, fontsize=10)
    style.compact_axis(ax.xaxis)


def _differences_title(label: str, frame: pl.DataFrame, baseline: str, confidence: float) -> str:
    es = frame.filter(pl.col("statistic") == "bad_debt_es99")
    if es.height:
        row = es.sort("difference").row(0, named=True)
        verb = "lowers" if row["difference"] < 0 else "raises"
        return (
            f"{label}: {row['variant']} {verb} ES 99% of bad debt by "
            f"{style.money(abs(row['difference']))} vs {baseline} ({confidence:.0%} CI "
            f"{style.compact(row['ci_low'])} to {style.compact(row['ci_high'])} {style.QUOTE})"
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
