"""Point labels that do not overprint each other, the markers or the legend.

A greedy placement in display coordinates: each label, in the order given, takes the
first of a fixed list of offsets around its point whose text box stays inside the
axes and overlaps no label placed before it, no marker and no legend; when every
offset overlaps something, the offset with the least overlapping area wins (the
label is then drawn with a thin leader line). The layout of the page is fixed first
(the figure is drawn once and its layout engine switched off), so the boxes measured
are the boxes printed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.transforms import Bbox

#: Offsets tried, in points from the point: right, left, above, below, then farther.
OFFSETS: tuple[tuple[float, float], ...] = tuple(
    (dx * radius, dy * radius)
    for radius in (1.0, 2.0, 3.2, 4.6)
    for dx, dy in ((1.0, 0.6), (1.0, -1.0), (-1.0, 0.6), (-1.0, -1.0), (0.0, 1.4), (0.0, -1.8))
)
#: Base distance of a label from its point, points.
GAP = 7.0
#: Half size of the box kept free around each marker, pixels.
MARKER_HALF = 6.0


def _overlap(box: Bbox, others: list[Bbox]) -> float:
    area = 0.0
    for other in others:
        width = min(box.x1, other.x1) - max(box.x0, other.x0)
        height = min(box.y1, other.y1) - max(box.y0, other.y0)
        if width > 0 and height > 0:
            area += width * height
    return area


def place_labels(
    ax: Axes,
    x: Sequence[float],
    y: Sequence[float],
    texts: Sequence[str],
    *,
    fontsize: float = 9.0,
) -> list[Annotation]:
    """Annotate each point ``(x[i], y[i])`` (data coordinates) with ``texts[i]``.

    Call it last, once the axes' scales, limits and legend are set: it draws the
    figure once and switches its layout engine off so that positions stay put.

    Returns
    -------
    list of Annotation
        The labels, in the order of ``texts``.
    """
    root = ax.get_figure(root=True)
    assert isinstance(root, Figure)
    root.draw_without_rendering()
    root.set_layout_engine("none")
    renderer = root.canvas.get_renderer()  # type: ignore[attr-defined]
    frame = ax.get_window_extent(renderer)
    centres = ax.transData.transform(np.column_stack([np.asarray(x), np.asarray(y)]))
    taken = [
        Bbox.from_extents(cx - MARKER_HALF, cy - MARKER_HALF, cx + MARKER_HALF, cy + MARKER_HALF)
        for cx, cy in centres
    ]
    legend = ax.get_legend()
    if legend is not None:
        taken.append(legend.get_window_extent(renderer))
    points_to_pixels = root.dpi / 72.0
    labels: list[Annotation] = []
    for (px, py), (cx, cy), text in zip(zip(x, y, strict=True), centres, texts, strict=True):
        probe = ax.annotate(text, (px, py), fontsize=fontsize)
        box = probe.get_window_extent(renderer)
        width, height = box.width, box.height
        probe.remove()
        best: tuple[float, float, float] | None = None
        for dx, dy in OFFSETS:
            ox = GAP * dx * points_to_pixels
            oy = GAP * dy * points_to_pixels
            left = cx + ox if dx >= 0 else cx + ox - width
            if dx == 0:
                left = cx - width / 2
            bottom = cy + oy if dy >= 0 else cy + oy - height
            candidate = Bbox.from_bounds(left, bottom, width, height)
            outside = (
                candidate.x0 < frame.x0
                or candidate.x1 > frame.x1
                or candidate.y0 < frame.y0
                or candidate.y1 > frame.y1
            )
            cost = _overlap(candidate, taken) + (1e9 if outside else 0.0)
            if best is None or cost < best[0]:
                best = (cost, left - cx, bottom - cy)
            if cost == 0.0:
                break
        assert best is not None
        _cost, left_offset, bottom_offset = best
        far = abs(left_offset) > 3 * GAP * points_to_pixels or abs(bottom_offset) > 3 * GAP * (
            points_to_pixels
        )
        label = ax.annotate(
            text,
            (px, py),
            xytext=(left_offset / points_to_pixels, bottom_offset / points_to_pixels),
            textcoords="offset points",
            ha="left",
            va="bottom",
            fontsize=fontsize,
            arrowprops={"arrowstyle": "-", "lw": 0.6, "color": "#7F7F7F"} if far else None,
        )
        taken.append(Bbox.from_bounds(cx + left_offset, cy + bottom_offset, width, height))
        labels.append(label)
    return labels
