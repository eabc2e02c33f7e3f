"""Comparison reports that stay readable with many variants: no overprinted text, no page
twice, the recommended design's run pages, verdicts with units, axes where the data is.

The recommended-design rule (docs/reports.md) is checked on hand-built tables.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from stresstest.jobs import compare_to_dir, run_to_dir
from stresstest.report.build import report_figures
from stresstest.report.verdicts import match_verdict, recommend, recommendation_verdict

#: Overlap below this many pixels (either way) is a touch, not an overprint.
TOUCH_PIXELS = 1.0

BOOK = """
[scenario]
name = "many"
seed = 5
description = "report layout test"

[paths]
source = "gbm"
s0 = 100.0
sigma = 0.012
n_paths = 150
n_steps = 48

[book]
source = "synthetic"
n_positions = 2000
leverage_max = 40.0

[margin]
model = "static"
maintenance = 0.005

[liquidation]
latency_steps = 2
slippage = 0.002
fee = 0.01

[insurance_fund]
initial = 2000.0
"""

MANY = """
[compare]
baseline = "static_0.005"
bootstrap_samples = 100

[[compare.sweep]]
parameter = "margin.maintenance"
values = [0.005, 0.006, 0.0075, 0.009, 0.01, 0.0125, 0.015, 0.02, 0.03]
name = "static_{value}"

[[compare.sweep]]
parameter = "margin.k"
values = [0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0]
name = "vol_k{value}"
overrides = { margin = { model = "vol_scaled", k = 1.0, horizon_steps = 4, \
ewma_lambda = 0.94, initial_variance = 1.44e-4, floor = 0.004, cap = 0.2 } }
"""


@pytest.fixture(scope="module")
def many_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report_many")
    (folder / "many.toml").write_text(BOOK + MANY)
    _, target = compare_to_dir(folder / "many.toml", folder / "many")
    return target


@pytest.fixture(scope="module")
def many_pages(many_dir: Path) -> list[tuple[str, Figure]]:
    return report_figures(many_dir)


def _texts(figure: Figure) -> list[tuple[str, Bbox]]:
    """Every visible, non-empty text of a drawn page with its box (pixels), except the
    contents of tables and legends (laid out by matplotlib in their own cells)."""
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    found: list[Text] = [figure._suptitle] if figure._suptitle is not None else []
    found += list(figure.texts)
    for ax in figure.axes:
        if not ax.axison:
            continue
        found += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
        found += list(ax.texts)
        for axis in (ax.xaxis, ax.yaxis):
            found += [tick.label1 for tick in axis._update_ticks()]  # the ticks drawn
    boxes = []
    for text in dict.fromkeys(found):  # the suptitle is also one of figure.texts
        if text.get_visible() and text.get_text().strip():
            boxes.append((text.get_text(), text.get_window_extent(renderer)))
    return boxes


def _overprinted(boxes: list[tuple[str, Bbox]]) -> list[tuple[str, str]]:
    pairs = []
    for (one, a), (two, b) in itertools.combinations(boxes, 2):
        width = min(a.x1, b.x1) - max(a.x0, b.x0)
        height = min(a.y1, b.y1) - max(a.y0, b.y0)
        if width > TOUCH_PIXELS and height > TOUCH_PIXELS:
            pairs.append((one, two))
    return pairs


def test_no_text_is_overprinted_with_eighteen_variants(
    many_pages: list[tuple[str, Figure]],
) -> None:
    for slug, figure in many_pages:
        figure.canvas.draw()  # type: ignore[attr-defined]
        assert _overprinted(_texts(figure)) == [], f"page {slug}: overprinted text"


def test_text_stays_on_the_page_and_above_the_footer(
    many_pages: list[tuple[str, Figure]],
) -> None:
    for slug, figure in many_pages:
        figure.canvas.draw()  # type: ignore[attr-defined]
        width, height = figure.canvas.get_width_height()  # type: ignore[attr-defined]
        for text, box in _texts(figure):
            assert box.x0 >= -TOUCH_PIXELS and box.x1 <= width + TOUCH_PIXELS, (slug, text)
            assert box.y0 >= -TOUCH_PIXELS and box.y1 <= height + TOUCH_PIXELS, (slug, text)
        renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
        footer = figure.texts[-1].get_window_extent(renderer)
        for ax in figure.axes:
            if ax.tables:
                table = ax.tables[0].get_window_extent(renderer)
                assert table.y0 > footer.y1, f"page {slug}: the table runs into the footer"


def test_every_axis_shows_its_data(many_pages: list[tuple[str, Figure]]) -> None:
    for slug, figure in many_pages:
        for ax in figure.axes:
            if not ax.axison or not ax.lines:
                continue
            x0, x1 = sorted(ax.get_xlim())
            y0, y1 = sorted(ax.get_ylim())
            inside = 0
            for line in ax.lines:
                x = np.asarray(line.get_xdata(), dtype=np.float64)
                y = np.asarray(line.get_ydata(), dtype=np.float64)
                inside += int(np.sum((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)))
            assert inside > 0, f"page {slug}: an axes shows none of its data"


def test_no_page_twice_and_the_recommended_design_has_its_pages(
    many_dir: Path, many_pages: list[tuple[str, Figure]]
) -> None:
    slugs = [slug for slug, _ in many_pages]
    assert len(slugs) == len(set(slugs))
    assert "differences-2" in slugs  # 17 variants do not fit one differences page
    table = pl.read_parquet(many_dir / "compare.parquet")
    differences = pl.read_parquet(many_dir / "differences.parquet")
    chosen = recommend(table, differences, "static_0.005")
    assert chosen.reason != "none"
    assert "recommended-summary" in slugs
    index = slugs.index("recommended-summary")
    assert chosen.variant in many_pages[index][1].get_suptitle()
    assert chosen.variant in many_pages[0][1].get_suptitle()


def test_page_one_verdicts_say_what_the_design_costs(
    many_pages: list[tuple[str, Figure]],
) -> None:
    figure = many_pages[0][1]
    text = "\n".join(item.get_text() for item in figure.texts)
    assert "Lowest ES 99% of bad debt" in text
    assert "average requirement" in text
    assert "USDT" in text
    assert not re.search(r"\de[+-]\d", text), "a number in scientific notation"


def test_depletion_axis_shows_the_scenarios_fund(tmp_path: Path) -> None:
    """A fund far below the worst path's need: the curve is not squeezed against 0."""
    (tmp_path / "run.toml").write_text(BOOK.replace("initial = 2000.0", "initial = 50.0"))
    _, target = run_to_dir(tmp_path / "run.toml", tmp_path / "run")
    pages = dict(report_figures(target))
    figure = pages["depletion"]
    figure.canvas.draw()  # type: ignore[attr-defined]
    ax = figure.axes[0]
    fund_line = next(line for line in ax.lines if "scenario's fund" in str(line.get_label()))
    pixel = ax.transData.transform((float(fund_line.get_xdata()[0]), 1.0))[0]
    left, right = ax.get_window_extent().x0, ax.get_window_extent().x1
    assert (pixel - left) / (right - left) > 0.05


# ----------------------------------------------------------------------------- the rule
def _table(rows: list[tuple[str, float, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "variant": [name for name, _, _ in rows],
            "bad_debt_es99": [risk for _, risk, _ in rows],
            "requirement_mean": [cost for _, _, cost in rows],
        }
    )


def _differences(rows: list[tuple[str, float, float, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "variant": [name for name, *_ in rows],
            "statistic": ["bad_debt_es99"] * len(rows),
            "difference": [row[1] for row in rows],
            "ci_low": [row[2] for row in rows],
            "ci_high": [row[3] for row in rows],
        }
    )


def test_a_design_lower_in_risk_at_no_more_cost_is_recommended() -> None:
    table = _table([("base", 100.0, 10.0), ("cheap", 80.0, 9.0), ("dear", 50.0, 40.0)])
    differences = _differences([("cheap", -20.0, -30.0, -5.0), ("dear", -50.0, -70.0, -30.0)])
    chosen = recommend(table, differences, "base")
    assert (chosen.variant, chosen.reason) == ("cheap", "dominates")
    assert chosen.cost_change == -1.0


def test_otherwise_the_most_risk_removed_per_unit_of_margin() -> None:
    # a: 20 removed for 10 more (2.0); b: 60 removed for 40 more (1.5); c: interval spans 0
    table = _table([("base", 100.0, 10.0), ("a", 80.0, 20.0), ("b", 40.0, 50.0), ("c", 1.0, 11.0)])
    differences = _differences(
        [("a", -20.0, -30.0, -5.0), ("b", -60.0, -90.0, -20.0), ("c", -99.0, -200.0, 1.0)]
    )
    chosen = recommend(table, differences, "base")
    assert (chosen.variant, chosen.reason) == ("a", "efficiency")
    assert (chosen.risk_change, chosen.cost_change) == (-20.0, 10.0)
    text = recommendation_verdict(chosen, "base", 0.95)
    assert "20.0 USDT lower" in text and "10.0 USDT higher" in text


def test_no_clear_improvement_keeps_the_baseline() -> None:
    table = _table([("base", 100.0, 10.0), ("a", 90.0, 20.0)])
    differences = _differences([("a", -10.0, -30.0, 5.0)])
    chosen = recommend(table, differences, "base")
    assert (chosen.variant, chosen.reason) == ("base", "none")
    assert "keep the baseline base" in recommendation_verdict(chosen, "base", 0.95)


def test_ties_go_to_the_variant_listed_first() -> None:
    table = _table([("base", 100.0, 10.0), ("x", 80.0, 20.0), ("y", 80.0, 20.0)])
    differences = _differences([("y", -20.0, -30.0, -5.0), ("x", -20.0, -30.0, -5.0)])
    assert recommend(table, differences, "base").variant == "x"


def test_a_match_verdict_carries_units() -> None:
    table = pl.DataFrame(
        {
            "variant": ["vol", "vol@static-cost"],
            "bad_debt_es99": [1.2e9, 1.5e9],
            "requirement_mean": [3.0e6, 3.0e6],
            "maintenance": [None, 0.00681579],
        }
    )
    match = {
        "variant": "vol",
        "static_variant": "vol@static-cost",
        "matched_on": "cost",
        "statistic": "bad_debt_es99",
        "difference": -3.0e8,
        "ci_low": -4.0e8,
        "ci_high": -1.0e8,
    }
    text = match_verdict(match, table, 0.95)
    assert text == (
        "At equal average requirement (3.00M USDT), vol has ES 99% of bad debt 300M USDT "
        "lower than static 0.682% (95% CI -400M to -100M USDT): clearly lower."
    )
