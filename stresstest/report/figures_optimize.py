"""The page of an optimize search, drawn from optimize.json only: every design's
objective against its most constraining limited figure, the feasible ones marked,
the best (validated on fresh paths) starred, the limit drawn."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from stresstest.report import style


def _ratio(design: dict[str, Any], limits: dict[str, float]) -> float:
    """The design's largest figure / limit (above 1: a limit broken)."""
    ratios = [
        design["figures"][figure] / limit if limit > 0 else float(design["figures"][figure] > 0)
        for figure, limit in limits.items()
    ]
    return max(ratios) if ratios else 0.0


def optimize_page(document: dict[str, Any]) -> Figure:
    """Objective against the tightest limit ratio, one point per design."""
    figure = style.page()
    best = document["best"]
    limits: dict[str, float] = document["limits"]
    objective = document["objective"]
    if best is None:
        title = (
            f"{document['scenario']}: no design of the grid meets every limit on both sets of paths"
        )
    else:
        shown = ", ".join(f"{key} = {value:.4g}" for key, value in best["parameters"].items())
        title = (
            f"{document['scenario']}: the cheapest design that meets every limit is {shown} "
            f"({objective} {style.money(best['objective'])}), checked on fresh paths"
        )
    style.title(figure, title)
    ax = figure.subplots()
    xs_ok: list[float] = []
    ys_ok: list[float] = []
    xs_no: list[float] = []
    ys_no: list[float] = []
    for design in document["designs"]:
        ratio = _ratio(design, limits) if limits else 0.0
        (xs_ok if design["feasible"] else xs_no).append(design["objective"])
        (ys_ok if design["feasible"] else ys_no).append(ratio)
    ax.plot(xs_no, ys_no, "o", color=style.GREY, label="breaks a limit")
    ax.plot(xs_ok, ys_ok, "o", color=style.BLUE, label="meets every limit")
    if best is not None:
        ax.plot(
            [best["objective"]],
            [_ratio(best, limits) if limits else 0.0],
            "*",
            color=style.GREEN,
            ms=18,
            markeredgecolor=style.BLACK,
            label="best, validated on fresh paths",
        )
    ax.axhline(1.0, color=style.VERMILLION, ls="--", lw=1.5, label="limit (figure = limit)")
    ax.set_xlabel(f"{objective}, {style.MONEY_LABEL}")
    ax.set_ylabel("largest limited figure / its limit")
    style.compact_axis(ax.xaxis)
    binding = ", ".join(document["binding"]) or "none"
    ax.set_title(
        f"{len(document['designs'])} designs on the same {document['n_paths']:,} paths; "
        f"binding limits: {binding}",
        fontsize=11,
    )
    ax.legend(loc="upper right")
    return figure
