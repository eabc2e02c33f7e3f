"""The attribution page of a run report: which cohorts the bad debt comes from.

Drawn from attribution.parquet only (docs/model.md 6b): mean bad debt per path of
the cohorts with the most, and each side's share of the total by leverage and
notional bucket.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from stresstest.report import style
from stresstest.report.load import RunFolder

#: Cohorts shown as bars, most bad debt first.
N_BARS = 10


def _cohort_means(frame: pl.DataFrame) -> pl.DataFrame:
    """Mean bad debt per path of every cohort, in the file's cohort order, with its share."""
    means = frame.group_by(["side", "leverage_bucket", "notional_bucket"], maintain_order=True).agg(
        pl.col("bad_debt").mean().alias("mean"), pl.col("bad_debt").sum().alias("total")
    )
    total = float(means["total"].sum())
    return means.with_columns(share=pl.col("total") / total if total > 0.0 else pl.lit(0.0))


def _bars(ax: Axes, means: pl.DataFrame) -> None:
    top = means.filter(pl.col("mean") > 0.0).sort("mean", descending=True, maintain_order=True)
    top = top.head(N_BARS)
    labels = [
        f"{side} {lev}x, notional {nom}"
        for side, lev, nom in zip(
            top["side"], top["leverage_bucket"], top["notional_bucket"], strict=True
        )
    ]
    values = top["mean"].to_numpy()
    positions = np.arange(len(labels))[::-1]
    colours = [style.BLUE if side == "long" else style.ORANGE for side in top["side"]]
    ax.barh(positions, values, color=colours)
    ax.set_yticks(positions, labels, fontsize=9)
    for position, value, share in zip(positions, values, top["share"], strict=True):
        ax.text(value, position, f" {style.money(value)} ({share:.0%})", va="center", fontsize=8)
    ax.set_xlim(0.0, float(values.max()) * 1.35 if values.size else 1.0)
    ax.set_xlabel(f"mean bad debt per path, {style.MONEY_LABEL} (share of all bad debt)")
    ax.set_title(f"The {len(labels)} cohorts with the most bad debt (long blue, short orange)")
    style.compact_axis(ax.xaxis)


def _grid(ax: Axes, means: pl.DataFrame, side: str) -> None:
    part = means.filter(pl.col("side") == side)
    leverage = list(dict.fromkeys(part["leverage_bucket"]))
    notional = list(dict.fromkeys(part["notional_bucket"]))
    shares = part["share"].to_numpy().reshape(len(leverage), len(notional))
    largest = max(float(means["share"].to_numpy().max()), 1e-12)
    ax.imshow(shares, cmap="Oranges", vmin=0.0, vmax=largest, aspect="auto")
    ax.set_xticks(range(len(notional)), notional, fontsize=8)
    ax.set_yticks(range(len(leverage)), [f"{label}x" for label in leverage], fontsize=8)
    ax.set_xlabel(f"entry notional ({style.QUOTE}); buckets [a, b)")
    ax.set_ylabel("entry leverage")
    ax.set_title(f"{side}s: share of all bad debt")
    ax.grid(False)
    for row in range(len(leverage)):
        for column in range(len(notional)):
            dark = shares[row, column] > 0.6 * largest
            colour = "white" if dark else style.BLACK
            ax.text(
                column,
                row,
                f"{shares[row, column]:.0%}",
                ha="center",
                va="center",
                color=colour,
                fontsize=8,
            )


def attribution_page(run: RunFolder) -> Figure:
    """Bad debt by cohort: the largest cohorts as bars, and both sides' shares as grids."""
    assert run.attribution is not None
    means = _cohort_means(run.attribution)
    long_share = float(means.filter(pl.col("side") == "long")["share"].sum())
    figure = style.page()
    worst = means.sort("mean", descending=True, maintain_order=True).row(0, named=True)
    headline = (
        f"{run.label}: the most bad debt comes from {worst['side']}s at "
        f"{worst['leverage_bucket']}x leverage with notional {worst['notional_bucket']} "
        f"({worst['share']:.0%} of it); longs {long_share:.0%}, shorts {1.0 - long_share:.0%}"
        if float(means["total"].sum()) > 0.0
        else f"{run.label}: no bad debt on any path"
    )
    style.title(figure, headline)
    grid = figure.add_gridspec(2, 2, height_ratios=(1.1, 1.0))
    _bars(figure.add_subplot(grid[0, :]), means)
    _grid(figure.add_subplot(grid[1, 0]), means, "long")
    _grid(figure.add_subplot(grid[1, 1]), means, "short")
    return figure
