"""The pages of a lending run or comparison report (docs/model.md 13, docs/lending.md).

A loan book has no margin, no positions, no long or short side and no insurance fund
of traders' penalties: it has loans with a health factor, liquidators paid a bonus
who act only when it is profitable after the pool and gas, bad debt booked against a
reserve, and debt left unprofitable to liquidate or beyond its collateral at the end.
These pages say so in those words and show only what a lending run recorded
(paths.parquet columns of model.md 13.6, the reserve and liquidation quantile files,
the per-variant summaries and differences.parquet of a comparison). Money is in
quote units (the quote asset of the scenario, e.g. USDC), time in steps.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from stresstest.report import style
from stresstest.report.figures_compare import _bottom_of, differences_pages
from stresstest.report.figures_run import (
    WIDE_RATIO,
    _symlog,
    _value_text,
    _wrap,
    draw_table,
    fan,
    liquidation_timing,
    price_page,
    samples,
    step_range,
)
from stresstest.report.load import CompareFolder, RunFolder, read_json

#: Tables of a lending scenario shown on its first page, in order.
LENDING_TABLES = ("paths", "book", "lending", "oracle", "insurance_fund")
#: How a table is named on a lending page.
TABLE_NAMES = {"insurance_fund": "reserve"}
#: The per-path columns a lending run adds (docs/model.md 13.6); their presence in
#: paths.parquet, with a ``[lending]`` table in the resolved scenario, makes a run a
#: lending run.
LENDING_COLUMNS = (
    "collateral_seized",
    "liquidator_profit",
    "unprofitable_debt",
    "unprofitable_loans",
    "underwater_debt",
)
#: differences.parquet statistics of a lending comparison: name -> (panel title, unit,
#: scale to unit), in the words of lending (docs/model.md 13.9); ``MONEY`` stands for
#: the money label of the market's quote asset.
MONEY = "money"
LENDING_DIFFERENCE_LABELS: dict[str, tuple[str, str, float]] = {
    "bad_debt_mean": ("Expected bad debt per path", MONEY, 1.0),
    "bad_debt_es99": ("ES 99% of bad debt", MONEY, 1.0),
    "probability_fund_depleted": ("P(reserve depleted)", "percentage points", 100.0),
    "fund_max_drawdown_mean": ("Mean reserve drawdown", MONEY, 1.0),
    "n_liquidations_mean": ("Liquidations per path", "liquidations", 1.0),
    "penalties_paid_mean": ("Bonus paid by borrowers", MONEY, 1.0),
    "requirement_mean": ("Debt outstanding (mean over steps)", MONEY, 1.0),
    "liquidated_notional_mean": ("Debt repaid by liquidators", MONEY, 1.0),
    "collateral_seized_mean": ("Collateral seized", MONEY, 1.0),
    "fees_to_fund_mean": ("Protocol fees to the reserve", MONEY, 1.0),
    "liquidator_profit_mean": ("Liquidators' profit", MONEY, 1.0),
    "unprofitable_debt_mean": ("Debt unprofitable to liquidate, end", MONEY, 1.0),
    "underwater_debt_mean": ("Underwater debt at the end", MONEY, 1.0),
}
#: Longest value shown in the scenario table of page 1 (characters; longer ones end in ...).
VALUE_CHARS = 30
#: Characters per line of a design in the comparison table.
DESIGN_CHARS = 22
#: Short names of the keys of a lending design string (compare.parquet ``design``).
DESIGN_KEYS = {"close_factor": "cf", "bonus": "bonus", "ramp": "ramp", "max": "max"}
STEP_LABEL = "step (hours in the shipped scenarios)"


def quote_asset(run: RunFolder) -> str:
    """The market's quote asset (``lending.quote_asset``), the currency of its amounts."""
    return str(run.scenario.get("lending", {}).get("quote_asset") or style.QUOTE)


def is_lending_run(run: RunFolder) -> bool:
    """Whether ``run`` replayed a loan book (a ``[lending]`` table and its columns)."""
    return isinstance(run.scenario.get("lending"), dict) and all(
        column in run.paths.columns for column in LENDING_COLUMNS
    )


# ----------------------------------------------------------------------------- helpers
def _scenario_rows(scenario: dict[str, Any]) -> list[list[str]]:
    """Rows ``[table, key, value]`` of the lending tables; lists joined, tables named once."""
    rows: list[list[str]] = []
    for table in LENDING_TABLES:
        values = scenario.get(table)
        if not isinstance(values, dict):
            continue
        first = True
        for key, value in values.items():
            if isinstance(value, dict):
                continue
            text = (
                ", ".join(_value_text(item) for item in value)
                if isinstance(value, list)
                else _value_text(value)
            )
            name = TABLE_NAMES.get(table, table)
            short = text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "\u2026"
            rows.append([name if first else "", key, short])
            first = False
    return rows


def _distribution(
    body: Axes, tail: Axes, values: np.ndarray, stats: dict[str, Any], what: str
) -> None:
    """Histogram and tail (share of paths with at least x) of one per-path amount.

    Mean, VaR 99% and ES 99% (summary.json) are marked. When the positive values span
    more than :data:`~stresstest.report.figures_run.WIDE_RATIO`, only the paths with a
    positive value are binned, on log-spaced bins and a log axis.
    """
    values = np.sort(values)
    n = values.size
    positive = values[values > 0]
    bins = min(60, max(10, n // 10))
    wide = positive.size > 1 and positive[-1] > WIDE_RATIO * positive[0]
    if wide:
        edges = np.geomspace(positive[0], positive[-1], bins + 1)
        body.hist(positive, bins=edges.tolist(), color=style.SKY, edgecolor="white")
        body.set_xscale("log")
        body.set_title(
            f"{what.capitalize()} > 0 on {positive.size / n:.1%} of paths (log bins)", fontsize=11
        )
    else:
        body.hist(values, bins=bins, color=style.SKY, edgecolor="white")
        body.set_title(f"Histogram of {what} per path", fontsize=11)
    body.set_xlabel(f"{what} per path, {style.MONEY_LABEL}")
    body.set_ylabel("number of paths")
    survival = (n - np.arange(n)) / n
    tail.step(values, survival, where="post", color=style.BLUE, label=f"P({what} ≥ x)")
    if positive.size:
        tail.set_yscale("log")
        tail.set_ylim(0.5 / n, 1.1)
    if wide:
        tail.set_xscale("log")
        tail.set_xlim(positive[0], positive[-1] * 1.2)
    tail.set_title(f"Tail: share of paths with {what} at least x", fontsize=11)
    tail.set_xlabel(f"{what} per path x, {style.MONEY_LABEL}")
    tail.set_ylabel("share of paths (log scale)")
    style.percent_axis(tail.yaxis)
    for ax in (body, tail):
        for value, colour, ls, name in (
            (stats["mean"], style.BLACK, "-", "mean"),
            (stats["q99"], style.ORANGE, "--", "VaR 99%"),
            (stats["es99"], style.VERMILLION, ":", "ES 99%"),
        ):
            if value is not None and (value > 0 or not wide):
                ax.axvline(value, color=colour, ls=ls, lw=2, label=f"{name} {style.money(value)}")
        style.compact_axis(ax.xaxis)
    body.legend(loc="upper left" if wide else "upper right", fontsize=9)
    tail.legend(loc="lower left", fontsize=9)


def _es_text(stats: dict[str, Any]) -> str:
    return style.with_error(stats.get("es99"), stats.get("es99_se"), style.QUOTE)


# ----------------------------------------------------------------------------- run pages
def lending_summary_page(run: RunFolder) -> Figure:
    """Page 1: the market (scenario tables) and the headline numbers of the loan book."""
    summary = run.summary
    depleted = summary["probability_fund_depleted"]
    initial = float(summary["fund_initial"])
    bad_debt = run.metric("bad_debt")
    single = run.n_paths == 1
    figure = style.page(layout=False)
    style.title(
        figure,
        f"{run.label}: bad debt averages {style.money(bad_debt['mean'])} per path, "
        f"{style.money(bad_debt['es99'])} in the worst 1% (ES 99%); a reserve of "
        f"{style.money(initial)} is depleted on "
        f"{style.percent_with_error(depleted['p'], depleted['se'])} of paths"
        if not single
        else f"{run.label}: bad debt {style.money(bad_debt['mean'])} on the one path replayed; "
        f"a reserve of {style.money(initial)} "
        f"{'runs dry' if depleted['p'] > 0 else 'is enough'}",
        x=0.03,
        y=0.965,
        ha="left",
    )
    book = summary["book"]
    description = run.scenario.get("scenario", {}).get("description", "")
    collateral = book.get("collateral")
    figure.text(
        0.03,
        0.905,
        f"{_wrap(description, 135)}\n{run.n_paths:,} path{'' if single else 's'} x "
        f"{run.n_steps:,} steps, {book['n_positions']:,} loans owing "
        f"{style.money(book.get('entry_notional'))}"
        + (f" against {style.money(collateral)} of collateral" if collateral else "")
        + " at step-0 prices."
        + ("" if single else " ± is one Monte-Carlo standard error."),
        ha="left",
        va="top",
        fontsize=10.5,
    )
    scenario_ax = figure.add_axes((0.03, 0.06, 0.40, 0.74))
    scenario_ax.set_title("Market (scenario.resolved.toml)", loc="left")
    rows = _scenario_rows(run.scenario)
    draw_table(
        scenario_ax,
        rows,
        ["table", "key", "value"],
        [0.20, 0.42, 0.38],
        fontsize=8.5 if len(rows) > 24 else 9,
        row_height=min(0.04, 1.0 / (len(rows) + 1)),
    )
    unit = style.QUOTE

    def value(metric: str, suffix: str = unit, stat: str = "mean") -> str:
        stats = run.metric(metric)
        if single:
            return f"{style.compact(stats[stat])} {suffix}"
        return style.with_error(stats[stat], stats.get(f"{stat}_se"), suffix)

    headline = [
        ["Expected bad debt per path", value("bad_debt")],
        ["VaR 99% of bad debt", value("bad_debt", stat="q99")],
        ["ES 99% of bad debt", _es_text(bad_debt)],
        ["Initial reserve", style.money(initial)],
        ["P(reserve depleted)", style.percent_with_error(depleted["p"], depleted["se"])],
        ["Reserve needed, 99% confidence", value("fund_required", stat="q99")],
        ["Loss beyond the reserve (socialized)", value("socialized_loss")],
        ["Liquidations per path", value("n_liquidations", "liquidations")],
        ["Debt repaid by liquidators", value("liquidated_notional")],
        ["Collateral seized", value("collateral_seized")],
        ["Liquidators' profit (after pool, gas)", value("liquidator_profit")],
        ["Protocol fees to the reserve", value("fees_to_fund")],
        ["Debt unprofitable to liquidate, end", value("unprofitable_debt")],
        ["Loans unprofitable to liquidate, end", value("unprofitable_loans", "loans")],
        ["Underwater debt at the end", value("underwater_debt")],
        ["Debt outstanding (mean over steps)", value("requirement_mean")],
    ]
    headline_ax = figure.add_axes((0.46, 0.27, 0.51, 0.53))
    headline_ax.set_title("Headline numbers per path (summary.json)", loc="left")
    draw_table(
        headline_ax,
        headline,
        ["quantity", "value (one path)" if single else "mean ± s.e."],
        [0.56, 0.44],
        fontsize=9.5,
    )
    unprofitable = run.metric("unprofitable_debt")["mean"]
    underwater = run.metric("underwater_debt")["mean"]
    reading = (
        "A loan can be liquidated when its health factor (collateral at the liquidation "
        "threshold over debt) falls below 1; a liquidator acts only when selling the seized "
        "collateral pays more than the debt and gas. "
        f"Liquidators repay {style.money(run.metric('liquidated_notional')['mean'])} of debt per "
        f"path on average and keep {style.money(run.metric('liquidator_profit')['mean'])} after "
        f"the pool and gas. Bad debt is booked against the reserve of {style.money(initial)}; "
        f"it runs dry on {style.percent(depleted['p'])} of paths. At the end, "
        f"{style.money(unprofitable)} of debt is still open but unprofitable to liquidate, "
        f"and {style.money(underwater)} is owed beyond its collateral (bad debt not yet booked)."
    )
    figure.text(0.46, 0.24, _wrap(reading, 74), ha="left", va="top", fontsize=10.5)
    return figure


def lending_losses_page(run: RunFolder) -> Figure:
    """Page 2: distribution of bad debt and of the reserve's largest drawdown per path."""
    bad_debt = run.metric("bad_debt")
    drawdown = run.metric("fund_max_drawdown")
    figure = style.page()
    style.title(
        figure,
        f"{run.label}: ES 99% of bad debt is {_es_text(bad_debt)}; the reserve's largest "
        f"drawdown has ES 99% {_es_text(drawdown)} (mean {style.money(drawdown['mean'])})"
        if bad_debt["mean"]
        else f"{run.label}: no bad debt on any of {run.n_paths:,} paths; the reserve never falls",
    )
    axes = figure.subplots(2, 2)
    _distribution(axes[0, 0], axes[0, 1], run.paths["bad_debt"].to_numpy(), bad_debt, "bad debt")
    _distribution(
        axes[1, 0],
        axes[1, 1],
        run.paths["fund_max_drawdown"].to_numpy(),
        drawdown,
        "reserve drawdown",
    )
    return figure


def reserve_page(run: RunFolder) -> Figure:
    """Page 3: the reserve after each step, quantile bands and sample paths."""
    frame = run.steps["fund"]
    initial = float(run.summary["fund_initial"])
    last = frame.row(frame.height - 1, named=True)
    figure = style.page()
    style.title(
        figure,
        f"{run.label}: the median reserve goes from {style.compact(initial)} to "
        f"{style.money(last['q50'])} in {run.n_steps:,} steps; 5% of paths end below "
        f"{style.money(last['q05'])}",
    )
    ax = figure.subplots()
    fan(ax, frame, style.BLUE)
    samples(ax, run.samples, "fund", run.n_paths)
    ax.axhline(initial, color=style.GREEN, lw=1.5, label=f"initial reserve {style.money(initial)}")
    ax.set_title(
        "Reserve after each step across paths: protocol fees in, bad debt out (floored at 0)"
    )
    ax.set_xlabel(STEP_LABEL)
    ax.set_ylabel(f"reserve, {style.MONEY_LABEL}")
    style.compact_axis(ax.yaxis)
    ax.set_xlim(*step_range(frame))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncols=4)
    return figure


def lending_liquidations_page(run: RunFolder) -> Figure:
    """Page 4: liquidations and debt repaid per step, quantile bands across paths."""
    counts = run.steps["liquidations"]
    step = counts["step"].to_numpy()
    widths, peak, half = liquidation_timing(counts)
    per_step = "per step" if np.all(widths == 1) else "per step (average over interval)"
    number = run.metric("n_liquidations")
    repaid = run.metric("liquidated_notional")
    figure = style.page()
    style.title(
        figure,
        f"{run.label}: {style.count(number['mean'])} liquidations repaying "
        f"{style.money(repaid['mean'])} of debt per path on average; half of them by step "
        f"{half:,}, busiest step {peak:,}",
    )
    top, bottom = figure.subplots(2, 1, sharex=True)
    fan(top, counts, style.BLUE, scale=widths)
    top.set_title("Liquidations executed (a loan liquidated on 3 steps counts 3; symmetric log)")
    top.set_ylabel(f"liquidations {per_step}")
    fan(bottom, run.steps["notional"], style.ORANGE, scale=widths)
    bottom.set_title("Debt repaid by liquidators, at the oracle (symmetric log scale)")
    bottom.set_ylabel(f"{style.QUOTE} {per_step}")
    bottom.set_xlabel(STEP_LABEL)
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


def end_state_page(run: RunFolder) -> Figure:
    """Page 5: debt left at the end: unprofitable to liquidate, and beyond its collateral."""
    unprofitable = run.paths["unprofitable_debt"].to_numpy()
    underwater = run.paths["underwater_debt"].to_numpy()
    loans = run.paths["unprofitable_loans"].to_numpy()
    n = unprofitable.size
    stats_unprofitable = run.metric("unprofitable_debt")
    stats_underwater = run.metric("underwater_debt")
    figure = style.page()
    style.title(
        figure,
        f"{run.label}: at the end {style.percent(float(np.mean(unprofitable > 0)))} of paths "
        f"leave debt unprofitable to liquidate (mean {style.money(stats_unprofitable['mean'])}, "
        f"ES 99% {style.money(stats_unprofitable['es99'])}); underwater debt mean "
        f"{style.money(stats_underwater['mean'])}",
    )
    left, right = figure.subplots(1, 2)
    survival = (n - np.arange(n)) / n
    drawn = False
    for values, colour, name in (
        (unprofitable, style.ORANGE, "debt of loans unprofitable to liquidate"),
        (underwater, style.VERMILLION, "debt beyond collateral (underwater)"),
    ):
        ordered = np.sort(values)
        share = float(np.mean(values > 0))
        left.step(
            ordered,
            survival,
            where="post",
            color=colour,
            lw=2,
            label=f"{name}: {share:.1%} of paths > 0",
        )
        drawn = drawn or share > 0
    if drawn:
        left.set_yscale("log")
        left.set_ylim(0.5 / n, 1.1)
    top = max(float(unprofitable.max()), float(underwater.max()))
    if top > 0:
        left.set_xlim(0.0, top * 1.05)
    left.set_title("Share of paths with at least x left at the end", fontsize=11)
    left.set_xlabel(f"debt at the last step x, {style.MONEY_LABEL}")
    left.set_ylabel("share of paths" + (" (log scale)" if drawn else ""))
    style.percent_axis(left.yaxis)
    style.compact_axis(left.xaxis)
    left.legend(loc="upper right", fontsize=9)
    counts = np.sort(loans.astype(np.int64))
    bins = np.arange(0, int(counts[-1]) + 2) - 0.5 if counts[-1] < 60 else 40
    right.hist(counts, bins=bins, color=style.SKY, edgecolor="white")
    right.set_title(
        f"Loans unprofitable to liquidate at the end (mean {loans.mean():,.1f})", fontsize=11
    )
    right.set_xlabel("loans per path liquidatable but not profitable (pool, gas)")
    right.set_ylabel("number of paths")
    return figure


#: The pages of a lending run report: file-name slug -> page function.
LENDING_RUN_PAGES = {
    "summary": lending_summary_page,
    "losses": lending_losses_page,
    "reserve": reserve_page,
    "liquidations": lending_liquidations_page,
    "end-debt": end_state_page,
    "price": price_page,
}


# ----------------------------------------------------------------------------- comparison
def design_text(design: str) -> str:
    """A design of compare.parquet in short words.

    ``close_factor=0.5 bonus=0.05 ramp=0.5 max=0.1`` -> ``cf 0.5, bonus 0.05, ramp 0.5, max 0.1``.
    """
    parts = []
    for token in design.split():
        key, _, value = token.partition("=")
        parts.append(f"{DESIGN_KEYS.get(key, key)} {value}" if value else token)
    return ", ".join(parts)


def variant_summaries(folder: CompareFolder) -> dict[str, dict[str, Any]]:
    """summary.json of each variant folder, by variant name (in compare.parquet order)."""
    names = [str(name) for name in folder.table["variant"].to_list()]
    return {name: read_json(folder.path / "variants" / name / "summary.json") for name in names}


def _difference(folder: CompareFolder, variant: str, statistic: str) -> dict[str, Any] | None:
    part = folder.differences.filter(
        (pl.col("variant") == variant) & (pl.col("statistic") == statistic)
    )
    return part.row(0, named=True) if part.height else None


def lending_verdicts(folder: CompareFolder) -> list[str]:
    """The findings of page 1 in words: lowest risk, clear changes of ES 99% of bad debt."""
    baseline = str(folder.document["baseline"])
    confidence = float(folder.document.get("confidence", 0.95))
    rows = list(folder.table.iter_rows(named=True))
    lowest = min(rows, key=lambda row: row["bad_debt_es99"])
    lines = [
        f"Lowest ES 99% of bad debt: {lowest['variant']} "
        f"({style.money(lowest['bad_debt_es99'])} per path)."
    ]
    lower, higher = [], []
    for row in rows:
        if row["variant"] == baseline:
            continue
        found = _difference(folder, row["variant"], "bad_debt_es99")
        if found is None:
            continue
        text = (
            f"{row['variant']} {style.compact(found['difference'])} "
            f"[{style.compact(found['ci_low'])}, {style.compact(found['ci_high'])}]"
        )
        if found["ci_high"] < 0:
            lower.append(text)
        elif found["ci_low"] > 0:
            higher.append(text)
    interval = f"{confidence:.0%} paired interval"
    lines.append(
        f"Clearly lower ES 99% than {baseline} ({interval} below 0): " + "; ".join(lower) + "."
        if lower
        else f"No design lowers ES 99% of bad debt clearly below {baseline} ({interval})."
    )
    if higher:
        lines.append(f"Clearly higher ES 99% than {baseline}: " + "; ".join(higher) + ".")
    lines.append(
        "No design is recommended: what a lower risk costs a loan book (a larger bonus paid by "
        "borrowers, more debt repaid at once) is not one number; the table and the paired "
        "differences give each."
    )
    return lines


def lending_compare_page(folder: CompareFolder) -> Figure:
    """Comparison page 1: the findings, then one row per lending design."""
    baseline = str(folder.document["baseline"])
    summaries = variant_summaries(folder)
    rows = list(folder.table.iter_rows(named=True))
    figure = style.page(layout=False)
    lowest = min(rows, key=lambda row: row["bad_debt_es99"])
    style.title(
        figure,
        f"{folder.label}: ES 99% of bad debt ranges from {style.money(lowest['bad_debt_es99'])} "
        f"({lowest['variant']}) to "
        f"{style.money(max(row['bad_debt_es99'] for row in rows))} across {len(rows)} "
        f"lending designs on the same paths",
        x=0.03,
        y=0.975,
        ha="left",
    )
    text = "\n".join(f"\u2022 {_wrap(line, 140)}" for line in lending_verdicts(folder))
    block = figure.text(0.03, 0.90, text, ha="left", va="top", fontsize=10.5)

    def mean(name: str, metric: str) -> str:
        return style.compact(summaries[name]["metrics"][metric]["mean"])

    header = [
        "variant",
        "design",
        f"bad debt\nmean {style.QUOTE}",
        "ES 99%\nbad debt",
        "P(reserve\ndepleted)",
        "liquidations\nper path",
        "debt\nrepaid",
        "liquidators'\nprofit",
        "unprofitable\ndebt, end",
        "underwater\ndebt, end",
    ]
    cells = [
        [
            row["variant"] + (" (baseline)" if row["variant"] == baseline else ""),
            _wrap(design_text(str(row["design"])), DESIGN_CHARS),
            style.with_error(row["bad_debt_mean"], row["bad_debt_mean_se"]),
            style.with_error(row["bad_debt_es99"], row["bad_debt_es99_se"]),
            style.percent_with_error(
                row["probability_fund_depleted"], row["probability_fund_depleted_se"]
            ),
            style.count(row["n_liquidations_mean"]),
            mean(row["variant"], "liquidated_notional"),
            mean(row["variant"], "liquidator_profit"),
            mean(row["variant"], "unprofitable_debt"),
            mean(row["variant"], "underwater_debt"),
        ]
        for row in rows
    ]
    top = _bottom_of(figure, block) - 0.03
    row_height = min(0.05, (top - 0.2) / (len(rows) + 2))
    height = row_height * (len(rows) + 2)
    table_ax = figure.add_axes((0.03, top - height, 0.94, height))
    draw_table(
        table_ax,
        cells,
        header,
        [0.14, 0.16, 0.09, 0.09, 0.10, 0.08, 0.07, 0.09, 0.09, 0.09],
        fontsize=min(9.0, max(6.5, row_height / 0.05 * 9.0)),
        header_lines=2,
    )
    paths = folder.scenario.get("paths", {})
    notes = [
        f"{len(rows)} designs on the same {folder.baseline.n_paths:,} paths x "
        f"{folder.baseline.n_steps:,} steps ({paths.get('source', '?')}) and the same loans; "
        f"differences against {baseline} are paired (next pages).",
        f"Per path, mean over paths, amounts in {style.QUOTE}; ± is one Monte-Carlo standard "
        "error. Debt repaid, liquidators' profit (after pool and gas), unprofitable and "
        "underwater debt from variants/NAME/summary.json. Design: cf close factor, bonus "
        "liquidation bonus, ramp bonus_ramp_slope, max bonus_max (docs/model.md 13.3).",
    ]
    figure.text(
        0.03, top - height - 0.02, "\n".join(_wrap(n, 150) for n in notes), va="top", fontsize=10
    )
    return figure


def lending_differences_pages(folder: CompareFolder) -> list[Figure]:
    """The paired differences of the lending statistics, in the words of lending."""
    labels = {
        name: (title, style.MONEY_LABEL if unit == MONEY else unit, scale)
        for name, (title, unit, scale) in LENDING_DIFFERENCE_LABELS.items()
    }
    return differences_pages(folder, labels=labels)
