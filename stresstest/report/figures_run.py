"""The pages of a run report, each drawn from the files of one run folder.

Every function takes a :class:`~stresstest.report.load.RunFolder` and returns an
A4 :class:`~matplotlib.figure.Figure` whose title states what the data show.
Money is in quote units (USDT in the shipped scenarios), time in steps.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from stresstest.report import style
from stresstest.report.load import RunFolder
from stresstest.scenario import schema
from stresstest.scenario.tables import VARIANT_TABLES

#: Tables of the scenario shown on the first page, in order.
SCENARIO_TABLES = ("paths", "book", "margin", "liquidation", "insurance_fund")
#: Sample paths drawn over a fan chart.
N_SAMPLES_DRAWN = 5
#: Two-sided normal quantile of the 95% bands.
Z95 = 1.959963984540054


# ----------------------------------------------------------------------------- helpers
def _unit_of(table: str, values: dict[str, Any], key: str) -> str:
    """The unit of a scenario key, from the schema's field metadata."""
    if table in VARIANT_TABLES:
        discriminator, classes = VARIANT_TABLES[table]
        cls = classes.get(str(values.get(discriminator)))
    else:
        cls = schema.PLAIN_TABLES.get(table)
    if cls is None:
        return ""
    for field in dataclasses.fields(cls):
        if field.name == key:
            unit = field.metadata.get("unit") or ""
            return (
                unit.replace("quote units", style.QUOTE)
                .replace("quote per base", f"{style.QUOTE} per base unit")
                .replace("per unit of sigma", "per sigma")
                .replace("fraction of closed notional", "of closed notional")
            )
    return ""


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float) and float(value).is_integer() and abs(value) >= 1000:
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str) and ("/" in value or "\\" in value):
        return Path(value).name
    return str(value)


def scenario_rows(scenario: dict[str, Any]) -> list[list[str]]:
    """Rows ``[table, key, value, unit]`` of the scenario tables (table named once)."""
    rows: list[list[str]] = []
    for table in SCENARIO_TABLES:
        values = scenario.get(table, {})
        if not isinstance(values, dict):
            continue
        first = True
        for key, value in values.items():
            if isinstance(value, dict | list):
                continue
            rows.append(
                [table if first else "", key, _value_text(value), _unit_of(table, values, key)]
            )
            first = False
    return rows


def step_range(frame: pl.DataFrame) -> tuple[float, float]:
    """First and last step of a per-step frame (not empty), for the x axis (steps)."""
    steps = frame["step"].to_numpy()
    return float(steps.min()), float(steps.max())


def draw_table(
    ax: Axes,
    rows: list[list[str]],
    header: list[str],
    widths: list[float],
    *,
    fontsize: float = 10.0,
    row_height: float | None = None,
    header_lines: int = 1,
) -> None:
    """A plain table at the top of ``ax`` (axis hidden), header row shaded.

    ``widths`` are fractions of the axes width; ``row_height`` a fraction of its
    height (default: the rows fill the axes); the header row is ``header_lines``
    rows high.
    """
    ax.set_axis_off()
    count = len(rows) + header_lines
    height = 1.0 if row_height is None else min(1.0, row_height * count)
    table = ax.table(
        cellText=rows,
        colLabels=header,
        colWidths=widths,
        cellLoc="left",
        # matplotlib takes (left, bottom, width, height) as documented; its stubs say only
        # Bbox, whose .bounds would recompute width and height by subtraction.
        bbox=(0.0, 1.0 - height, 1.0, height),  # type: ignore[arg-type]
    )
    table.auto_set_font_size(False)
    table.set_fontsize(fontsize)
    for (row, _column), cell in table.get_celld().items():
        cell.set_edgecolor("#BBBBBB")
        cell.set_linewidth(0.5)
        cell.PAD = 0.04
        if row == 0:
            cell.set_height(cell.get_height() * header_lines)
            cell.set_facecolor("#E8E8E8")
            cell.set_text_props(weight="bold")


def fan(ax: Axes, frame: pl.DataFrame, colour: str, *, scale: np.ndarray | float = 1.0) -> None:
    """Quantile bands 1-99, 5-95 and 25-75% across paths, median and mean."""
    step = frame["step"].to_numpy()
    for low, high, alpha in (("q01", "q99", 0.15), ("q05", "q95", 0.28), ("q25", "q75", 0.45)):
        ax.fill_between(
            step,
            frame[low].to_numpy() / scale,
            frame[high].to_numpy() / scale,
            color=colour,
            alpha=alpha,
            linewidth=0,
            label=f"{low[1:].lstrip('0')}-{high[1:]}% of paths",
        )
    ax.plot(step, frame["q50"].to_numpy() / scale, color=colour, label="median")
    ax.plot(
        step, frame["mean"].to_numpy() / scale, color=style.BLACK, ls="--", lw=1.1, label="mean"
    )


def samples(ax: Axes, frame: pl.DataFrame, column: str, total: int) -> None:
    """The first :data:`N_SAMPLES_DRAWN` sample paths as thin lines."""
    ids = frame["path"].unique(maintain_order=True).to_list()[:N_SAMPLES_DRAWN]
    for index, path in enumerate(ids):
        rows = frame.filter(pl.col("path") == path)
        ax.plot(
            rows["step"].to_numpy(),
            rows[column].to_numpy(),
            color=style.VERMILLION,
            lw=0.7,
            alpha=0.7,
            label=f"sample paths (first {len(ids)} of {total:,})" if index == 0 else None,
        )


def crash_events(ax: Axes, frame: pl.DataFrame) -> None:
    """The historical crash events, rescaled to the start price, as labelled lines."""
    colours = (style.GREEN, style.PURPLE, style.ORANGE, style.SKY, style.GREY)
    for index, event in enumerate(frame["event"].unique(maintain_order=True).to_list()):
        rows = frame.filter(pl.col("event") == event)
        ax.plot(
            rows["step"].to_numpy(),
            rows["price"].to_numpy(),
            color=colours[index % len(colours)],
            lw=1.6,
            ls="-.",
            label=f"crash: {event}",
        )


def wilson(p: np.ndarray, n: int, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion ``p`` out of ``n``."""
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def _symlog(ax: Axes, linthresh: float) -> None:
    """A symmetric log y-axis from 0, ticks at 0 and at decades above ``10 linthresh``."""
    ax.set_yscale("symlog", linthresh=linthresh, linscale=0.3)
    ax.set_ylim(bottom=0.0)
    top = ax.get_ylim()[1]
    first = math.ceil(math.log10(linthresh)) + 1
    last = math.floor(math.log10(top)) if top > 0 else first - 1
    ax.set_yticks([0.0] + [10.0**power for power in range(first, last + 1)])
    ax.yaxis.set_minor_locator(NullLocator())


#: A value axis spanning more than this ratio (largest to a typical value) is drawn on
#: a log scale (histograms, tails) or a symmetric log scale from 0 (depletion curve).
WIDE_RATIO = 50.0


def _interval_widths(step: np.ndarray) -> np.ndarray:
    widths = np.diff(step, prepend=step[0] - 1).astype(np.float64)
    return np.maximum(widths, 1.0)


def liquidation_timing(counts: pl.DataFrame) -> tuple[np.ndarray, int, int]:
    """``(interval widths, busiest step, step by which half the liquidations happened)``.

    ``counts`` is the per-step liquidation table (``step``, ``mean``): the busiest
    step has the most liquidations per step of its recording interval.
    """
    step = counts["step"].to_numpy()
    widths = _interval_widths(step)
    mean = counts["mean"].to_numpy()
    peak = int(step[int(np.argmax(mean / widths))])
    share = np.cumsum(mean) / mean.sum() if mean.sum() > 0 else np.zeros_like(mean)
    half = int(step[min(int(np.searchsorted(share, 0.5)), step.size - 1)])
    return widths, peak, half


# ----------------------------------------------------------------------------- pages
def summary_page(run: RunFolder) -> Figure:
    """Page 1: the scenario and the headline numbers with their Monte-Carlo errors."""
    summary = run.summary
    depleted = summary["probability_fund_depleted"]
    initial = float(summary["fund_initial"])
    bad_debt = run.metric("bad_debt")
    required = run.metric("fund_required")
    figure = style.page(layout=False)
    single = run.n_paths == 1  # one path: its values, no Monte-Carlo errors
    style.title(
        figure,
        f"{run.label}: a fund of {style.money(initial)} "
        f"{'runs dry' if depleted['p'] > 0 else 'is enough'} on the one path replayed"
        if single
        else f"{run.label}: a fund of {style.money(initial)} is depleted on "
        f"{style.percent_with_error(depleted['p'], depleted['se'])} of paths",
        x=0.03,
        y=0.965,
        ha="left",
    )
    description = run.scenario.get("scenario", {}).get("description", "")
    book = summary["book"]
    share_long = book.get("n_long", 0) / max(book["n_positions"], 1)
    figure.text(
        0.03,
        0.905,
        f"{description}\n{run.n_paths:,} path{'' if single else 's'} x {run.n_steps:,} steps, "
        f"{book['n_positions']:,} positions ({share_long:.0%} long, entry notional "
        f"{style.money(book.get('entry_notional'))})."
        + ("" if single else " ± is one Monte-Carlo standard error."),
        ha="left",
        va="top",
        fontsize=10.5,
    )
    scenario_ax = figure.add_axes((0.03, 0.06, 0.46, 0.76))
    scenario_ax.set_title("Scenario (scenario.resolved.toml)", loc="left")
    draw_table(
        scenario_ax,
        scenario_rows(run.scenario),
        ["table", "key", "value", "unit"],
        [0.21, 0.27, 0.17, 0.35],
        fontsize=9,
        row_height=0.04,
    )
    unit = style.QUOTE

    def se(error: float | None) -> float | None:
        return None if single else error

    def _with_error(value: float | None, error: float | None, suffix: str) -> str:
        return style.with_error(value, se(error), suffix)

    if single:
        rows = [
            ["Bad debt on the path", style.money(bad_debt["mean"])],
            ["Initial insurance fund", style.money(initial)],
            ["Fund depleted", "yes" if depleted["p"] > 0 else "no"],
            ["Fund needed (fund_required)", style.money(required["mean"])],
        ]
    else:
        rows = [
            [
                "Expected bad debt per path",
                _with_error(bad_debt["mean"], bad_debt["mean_se"], unit),
            ],
            ["VaR 99% of bad debt", _with_error(bad_debt["q99"], bad_debt["q99_se"], unit)],
            ["ES 99% of bad debt", _with_error(bad_debt["es99"], bad_debt["es99_se"], unit)],
            ["Initial insurance fund", style.money(initial)],
            ["P(fund depleted)", style.percent_with_error(depleted["p"], se(depleted["se"]))],
            [
                "Fund needed, 99% confidence",
                _with_error(required["q99"], required["q99_se"], unit),
            ],
            [
                "Fund needed, 99.9% confidence",
                _with_error(required["q99_9"], required["q99_9_se"], unit),
            ],
        ]
    for name, metric, suffix in (
        ("Socialized loss", "socialized_loss", unit),
        ("Liquidations", "n_liquidations", "positions"),
        ("Liquidated notional", "liquidated_notional", unit),
        ("Penalties to the fund", "fees_to_fund", unit),
        ("Average maintenance requirement", "requirement_mean", unit),
    ):
        stats = run.metric(metric)
        label = f"{name} (path)" if single else f"{name} per path (mean)"
        if metric == "requirement_mean":
            label = f"{name}{' (path)' if single else ' (mean)'}"
        value = (
            f"{stats['mean']:,.0f} {suffix}"
            if single and metric == "n_liquidations"
            else _with_error(stats["mean"], stats["mean_se"], suffix)
        )
        rows.append([label, value])
    headline_ax = figure.add_axes((0.51, 0.30, 0.46, 0.52))
    headline_ax.set_title("Headline numbers (summary.json)", loc="left")
    header = ["quantity", "value (one path)" if single else "estimate ± s.e."]
    draw_table(headline_ax, rows, header, [0.6, 0.4], fontsize=10)
    reading = (
        f"On this one path bad debt is {style.money(bad_debt['mean'])}; a fund of "
        f"{style.money(initial)} {'runs dry' if depleted['p'] > 0 else 'is enough'} "
        f"(it would need {style.money(required['mean'])}). One path gives no probabilities: "
        "run more paths for tail figures."
        if single
        else f"With {style.money(initial)} at the start, the fund runs dry (socialized loss > 0) "
        f"on {style.percent(depleted['p'])} of paths. To stay solvent on 99% of paths it would "
        f"need {style.money(required['q99'])}, on 99.9% {style.money(required['q99_9'])}. "
        f"In the worst 1% of paths bad debt averages {style.money(bad_debt['es99'])} (ES 99%), "
        f"{bad_debt['es99'] / bad_debt['mean']:.1f}x the mean."
        if bad_debt["mean"] or single
        else f"No path produced bad debt; the fund of {style.money(initial)} was never needed."
    )
    figure.text(0.51, 0.25, _wrap(reading, 64), ha="left", va="top", fontsize=11)
    return figure


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def bad_debt_page(run: RunFolder) -> Figure:
    """Page 2: distribution of bad debt per path, body and log-scaled tail, VaR/ES marked."""
    values = np.sort(run.paths["bad_debt"].to_numpy())
    stats = run.metric("bad_debt")
    figure = style.page()
    ratio = stats["es99"] / stats["mean"] if stats["mean"] else math.nan
    style.title(
        figure,
        f"{run.label}: ES 99% of bad debt is {style.money(stats['es99'])} "
        f"(± {style.compact(stats['es99_se'])}), {ratio:.1f}x the mean of "
        f"{style.money(stats['mean'])}"
        if stats["mean"]
        else f"{run.label}: no bad debt on any of {run.n_paths:,} paths",
    )
    body, tail = figure.subplots(1, 2)
    bins = min(60, max(10, values.size // 10))
    positive = values[values > 0]
    n = values.size
    wide = positive.size > 1 and positive[-1] > WIDE_RATIO * positive[0]
    if wide:  # most mass near 0 and a long tail: counts on log-spaced bins, log x
        edges = np.geomspace(positive[0], positive[-1], bins + 1)
        body.hist(positive, bins=edges, color=style.SKY, edgecolor="white")
        body.set_xscale("log")
        body.set_title(
            f"Paths with bad debt ({positive.size / n:.1%}; log bins); "
            f"{(n - positive.size) / n:.1%} have none"
        )
    else:
        body.hist(values, bins=bins, color=style.SKY, edgecolor="white")
        body.set_title("Histogram of bad debt per path")
    body.set_xlabel(f"bad debt per path, {style.MONEY_LABEL}")
    body.set_ylabel("number of paths")
    survival = (n - np.arange(n)) / n
    tail.step(values, survival, where="post", color=style.BLUE, label="P(bad debt ≥ x)")
    if np.any(values > 0):
        tail.set_yscale("log")
        tail.set_ylim(0.5 / n, 1.1)
    if wide:
        tail.set_xscale("log")
        tail.set_xlim(positive[0], positive[-1] * 1.2)
    tail.set_title("Tail: share of paths with at least x (log scale)")
    tail.set_xlabel(f"bad debt per path x, {style.MONEY_LABEL}")
    tail.set_ylabel("share of paths")
    style.percent_axis(tail.yaxis)
    for ax in (body, tail):
        for value, colour, ls, name in (
            (stats["mean"], style.BLACK, "-", "mean"),
            (stats["q99"], style.ORANGE, "--", "VaR 99%"),
            (stats["es99"], style.VERMILLION, ":", "ES 99%"),
        ):
            ax.axvline(value, color=colour, ls=ls, lw=2, label=f"{name} {style.money(value)}")
        style.compact_axis(ax.xaxis)
    body.legend(loc="upper left" if wide else "upper right")  # where the bars are not
    tail.legend(loc="lower left")
    return figure


def fund_page(run: RunFolder) -> Figure:
    """Page 3: the insurance fund over time, quantile fan and sample paths."""
    frame = run.steps["fund"]
    initial = float(run.summary["fund_initial"])
    last = frame.row(frame.height - 1, named=True)
    figure = style.page()
    style.title(
        figure,
        f"{run.label}: median fund falls from {style.compact(initial)} to "
        f"{style.money(last['q50'])} in {run.n_steps:,} steps; 5% of paths end below "
        f"{style.money(last['q05'])}"
        if last["q50"] < initial
        else f"{run.label}: median fund grows from {style.compact(initial)} to "
        f"{style.money(last['q50'])} in {run.n_steps:,} steps; 5% of paths end below "
        f"{style.money(last['q05'])}",
    )
    ax = figure.subplots()
    fan(ax, frame, style.BLUE)
    samples(ax, run.samples, "fund", run.n_paths)
    ax.axhline(initial, color=style.GREEN, lw=1.5, label=f"initial fund {style.money(initial)}")
    ax.axhline(0.0, color=style.GREY, lw=1)
    ax.set_title("Insurance fund after each step across paths (floored at 0 when depleted)")
    ax.set_xlabel("step (hours in the shipped scenarios)")
    ax.set_ylabel(f"insurance fund, {style.MONEY_LABEL}")
    style.compact_axis(ax.yaxis)
    ax.set_xlim(*step_range(frame))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncols=4)
    return figure


def depletion_page(run: RunFolder) -> Figure:
    """Page 4: P(fund_required > F) against the initial fund size F, with a 95% band."""
    required = np.sort(run.paths["fund_required"].to_numpy())
    n = required.size
    initial = float(run.summary["fund_initial"])
    stats = run.metric("fund_required")
    depleted = run.summary["probability_fund_depleted"]
    top = max(float(required[-1]), initial, float(stats["q99_9"] or 0.0), 1.0) * 1.08
    threshold = initial if initial > 0 else float(stats["q50"] or 0.0)
    wide = threshold > 0 and top > WIDE_RATIO * threshold
    sizes = (
        np.concatenate([np.linspace(0.0, threshold, 100), np.geomspace(threshold, top, 600)])
        if wide
        else np.linspace(0.0, top, 600)
    )
    probability = (n - np.searchsorted(required, sizes, side="right")) / n
    low, high = wilson(probability, n)
    figure = style.page()
    style.title(
        figure,
        f"{run.label}: {style.money(initial)} is depleted on "
        f"{style.percent_with_error(depleted['p'], depleted['se'])} of paths; "
        f"99% solvency needs {style.compact(stats['q99'])}, 99.9% "
        f"{style.compact(stats['q99_9'])}",
    )
    ax = figure.subplots()
    ax.fill_between(sizes, low, high, color=style.SKY, alpha=0.5, lw=0, label="95% binomial band")
    ax.plot(sizes, probability, color=style.BLUE, lw=2, label="P(fund depleted | initial fund F)")
    if np.any(probability > 0):
        ax.set_yscale("log")
        ax.set_ylim(min(0.5 / n, 2e-4), 1.2)
    ax.axvline(
        initial, color=style.GREEN, lw=2, ls="--", label=f"scenario's fund {style.money(initial)}"
    )
    ax.plot([initial], [max(depleted["p"], 0.5 / n)], "o", color=style.GREEN, ms=8)
    for level, key, colour, marker in (
        (0.01, "q99", style.ORANGE, "s"),
        (0.001, "q99_9", style.VERMILLION, "D"),
    ):
        ax.errorbar(
            [stats[key]],
            [level],
            xerr=[[stats[f"{key}_se"] or 0.0], [stats[f"{key}_se"] or 0.0]],
            fmt=marker,
            color=colour,
            ms=8,
            capsize=5,
            label=f"{100 - 100 * level:g}% solvency: "
            + style.with_error(stats[key], stats[f"{key}_se"], style.QUOTE),
        )
    ax.set_title("Share of paths on which a fund of size F would be exhausted, from fund_required")
    ax.set_xlabel(f"initial insurance fund F, {style.MONEY_LABEL}")
    ax.set_ylabel("probability of depletion (log scale)")
    style.percent_axis(ax.yaxis)
    if wide:  # linear up to the scenario's fund, then decades: the data spans both
        ax.set_xscale("symlog", linthresh=threshold, linscale=0.6)
        ax.set_xlabel(
            f"initial insurance fund F, {style.MONEY_LABEL}; linear to "
            f"{style.compact(threshold)}, log scale beyond"
        )
    style.compact_axis(ax.xaxis)
    ax.set_xlim(0.0, top)
    ax.legend(loc="upper right")
    return figure


def liquidations_page(run: RunFolder) -> Figure:
    """Page 5: positions and notional liquidated per step, quantile bands across paths."""
    counts = run.steps["liquidations"]
    step = counts["step"].to_numpy()
    widths, peak, half = liquidation_timing(counts)
    per_step = "per step" if np.all(widths == 1) else "per step (average over recording interval)"
    number = run.metric("n_liquidations")
    notional = run.metric("liquidated_notional")
    figure = style.page()
    style.title(
        figure,
        f"{run.label}: {style.count(number['mean'])} liquidations "
        f"({style.money(notional['mean'])} notional) per path on average; half of them by "
        f"step {half:,}, busiest step {peak:,}",
    )
    top, bottom = figure.subplots(2, 1, sharex=True)
    fan(top, counts, style.BLUE, scale=widths)
    top.set_title("Positions liquidated (symmetric log scale: 0, 1, 10, 100, ...)")
    top.set_ylabel(f"positions {per_step}")
    fan(bottom, run.steps["notional"], style.ORANGE, scale=widths)
    bottom.set_title("Notional liquidated, quantity x exit price (symmetric log scale)")
    bottom.set_ylabel(f"{style.QUOTE} {per_step}")
    bottom.set_xlabel("step (hours in the shipped scenarios)")
    largest = float(run.steps["notional"]["q99"].max() or 0.0)  # type: ignore[arg-type]
    for ax, linthresh in (
        (top, 1.0),
        (bottom, 10.0 ** (math.floor(math.log10(largest or 1.0)) - 6)),
    ):
        _symlog(ax, linthresh)
        style.compact_axis(ax.yaxis)
        ax.legend(loc="upper right", ncols=5, fontsize=9)
    bottom.set_xlim(step.min(), step.max())
    return figure


def price_page(run: RunFolder) -> Figure:
    """Page 6: the price paths, quantile fan and sample paths."""
    frame = run.steps["price"]
    first = frame.row(0, named=True)
    last = frame.row(frame.height - 1, named=True)
    figure = style.page()
    style.title(
        figure,
        f"{run.label}: 90% of price paths end between {style.compact(last['q05'])} and "
        f"{style.compact(last['q95'])} {style.QUOTE} (start {style.compact(first['q50'])}, "
        f"median end {style.compact(last['q50'])})",
    )
    ax = figure.subplots()
    fan(ax, frame, style.BLUE)
    samples(ax, run.samples, "price", run.n_paths)
    if run.references is not None:
        crash_events(ax, run.references)
    paths = run.scenario.get("paths", {})
    assets = paths.get("assets")  # accounts runs record the first asset (docs/model.md 11.3)
    what = f"Price of {assets[0]} (first of {len(assets)} assets)" if assets else "Price"
    ax.set_title(f"{what} across paths ({paths.get('source', '?')} paths)")
    ax.set_xlabel("step (hours in the shipped scenarios)")
    ax.set_ylabel(style.PRICE_LABEL)
    style.compact_axis(ax.yaxis)
    ax.set_xlim(*step_range(frame))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncols=4)
    return figure


#: The pages of a run report: file-name slug -> page function.
RUN_PAGES = {
    "summary": summary_page,
    "bad-debt": bad_debt_page,
    "fund": fund_page,
    "depletion": depletion_page,
    "liquidations": liquidations_page,
    "price": price_page,
}
