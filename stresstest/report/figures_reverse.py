"""The page of a reverse stress test, drawn from reverse.json only.

The share of paths that show the target's event against the shock size, every
evaluation of the search marked, the target share as a line and the shock found.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from stresstest.report import style


def _size_text(document: dict[str, Any], size: float) -> str:
    if document["family"] == "crash":
        return f"a {size:.2%} fall"
    return f"{size:.4g}x the log returns"


def reverse_page(document: dict[str, Any]) -> Figure:
    """Outcome against shock size, the search's evaluations and the shock found; for a
    two-parameter search, the boundary (:func:`boundary_page`)."""
    if document.get("boundary") is not None:
        return boundary_page(document)
    figure = style.page()
    shock = document["shock"]
    target = document["target_event"]
    share = document["probability"]
    where = "every path" if share >= 1.0 else f"at least {share:.2%} of paths"
    if shock is None:
        low, high = document["range"]
        title = (
            f"{document['scenario']}: no {document['family']} shock in [{low:g}, {high:g}] "
            f"makes {target} on {where}"
        )
    else:
        title = (
            f"{document['scenario']}: {target} on {where} from {_size_text(document, shock)} "
            f"at step {document['at_step']} on (the smallest {document['family']} shock, "
            f"to within {document['tolerance']:g})"
        )
    style.title(figure, title)
    ax = figure.subplots()
    points = sorted(document["evaluations"], key=lambda item: item["shock"])
    sizes = [item["shock"] for item in points]
    shares = [item["share"] for item in points]
    ax.plot(sizes, shares, "-", color=style.BLUE, lw=1.5, label="share of paths with the event")
    met = [item for item in points if item["met"]]
    missed = [item for item in points if not item["met"]]
    ax.plot(
        [item["shock"] for item in missed],
        [item["share"] for item in missed],
        "o",
        color=style.GREY,
        label="evaluated: target not met",
    )
    ax.plot(
        [item["shock"] for item in met],
        [item["share"] for item in met],
        "o",
        color=style.VERMILLION,
        label="evaluated: target met",
    )
    ax.axhline(share, color=style.BLACK, ls="--", lw=1, label=f"target share {share:.2%}")
    if shock is not None:
        ax.axvline(shock, color=style.VERMILLION, lw=2, label=f"shock found {shock:.4g}")
    ax.set_xlabel(f"{document['family']} shock size, {document['unit']}")
    ax.set_ylabel("share of paths with the event")
    ax.set_ylim(-0.03, 1.03)
    style.percent_axis(ax.yaxis)
    if document["family"] == "crash":
        style.percent_axis(ax.xaxis)
    ax.set_title(
        f"{len(points)} evaluations on the same {document['n_paths']:,} paths; "
        f"{document['target_definition']}",
        fontsize=10,
    )
    ax.legend(loc="center right")
    return figure


def boundary_page(document: dict[str, Any]) -> Figure:
    """The boundary in two families: below the line the target is not reached."""
    figure = style.page()
    first, second = document["boundary_family"], document["family"]
    share = document["probability"]
    where = "every path" if share >= 1.0 else f"at least {share:.2%} of paths"
    points = document["boundary"]
    reached = [point for point in points if point["second"] is not None]
    style.title(
        figure,
        f"{document['scenario']}: the smallest {second} shock at which "
        f"{document['target_event']} on {where}, for each {first} shock "
        f"({len(reached)} of {len(points)} reach it in range)",
    )
    ax = figure.subplots()
    ax.plot(
        [point["first"] for point in reached],
        [point["second"] for point in reached],
        "-o",
        color=style.VERMILLION,
        label="boundary: the target is met on and above it",
    )
    low, high = document["range"]
    missing = [point["first"] for point in points if point["second"] is None]
    if missing:
        ax.plot(
            missing,
            [high] * len(missing),
            "^",
            color=style.GREY,
            ms=9,
            label=f"not reached up to {high:g}",
        )
    ax.set_xlabel(f"{first} shock, {document['boundary_unit']}")
    ax.set_ylabel(f"{second} shock, {document['unit']}")
    top = high if missing or not reached else max(point["second"] for point in reached)
    ax.set_ylim(low, low + 1.15 * (top - low) if top > low else high)  # where the data is
    if first in ("crash", "oracle"):
        style.percent_axis(ax.xaxis)
    if second in ("crash", "oracle"):
        style.percent_axis(ax.yaxis)
    ax.set_title(
        f"each point bisected to within {document['tolerance']:g} on the same "
        f"{document['n_paths']:,} paths; {document['target_definition']}",
        fontsize=10,
        wrap=True,
    )
    ax.legend(loc="upper right")
    return figure
