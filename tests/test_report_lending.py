"""Reports of a lending run and of a lending comparison (docs/reports.md, docs/lending.md).

The pages speak of loans, the reserve, bad debt, liquidators' profit and debt left
unprofitable to liquidate, in the market's quote asset; the perps pages that do not
apply to a loan book (depletion of an insurance fund, margin frontier, attribution,
backtest, recommended design) are absent; every page has data, no text overprints
another or leaves the page, and no page is blank.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import matplotlib.image
import pytest
import tomli_w
from matplotlib.figure import Figure

from stresstest.jobs import compare_to_dir, run_to_dir
from stresstest.report import build_report, style
from stresstest.report.build import report_figures
from stresstest.report.figures_lending import LENDING_DIFFERENCE_LABELS, design_text
from tests.test_report import _check_pages
from tests.test_report_layout import TOUCH_PIXELS, _overprinted, _texts

BASE: dict[str, Any] = {
    "scenario": {"name": "lending_report", "seed": 7},
    "paths": {
        "source": "gbm_multi",
        "assets": ["ETH", "BTC"],
        "s0": [2000.0, 60000.0],
        "sigma": [0.04, 0.03],
        "correlation": [[1.0, 0.7], [0.7, 1.0]],
        "n_paths": 40,
        "n_steps": 48,
    },
    "book": {
        "source": "loans_synthetic",
        "n_loans": 300,
        "legs": 1,
        "value_median": 20000.0,
        "hf_min": 1.02,
        "hf_max": 1.6,
    },
    "lending": {
        "quote_asset": "USDC",
        "liquidation_threshold": [0.86, 0.82],
        "liquidation_bonus": [0.05, 0.05],
        "protocol_fee": [0.1, 0.1],
        "pool_depth": [3e5, 2e5],
        "pool_half_life": 2.0,
        "gas_cost": 15.0,
    },
    "insurance_fund": {"initial": 20000.0},
}
COMPARE: dict[str, Any] = {
    "baseline": "cf50",
    "bootstrap_samples": 100,
    "variants": [
        {"name": "cf50", "lending.close_factor": 0.5},
        {"name": "cf100", "lending.close_factor": 1.0},
        {
            "name": "ramp",
            "lending.bonus_ramp_slope": 0.5,
            "lending.bonus_max": [0.1, 0.1],
        },
    ],
}
RUN_SLUGS = ["summary", "losses", "reserve", "liquidations", "end-debt", "price"]
#: Words of the perps pages that a loan book's pages must not use (the quote asset of
#: these markets is USDC, and the perps report's default currency is USDT).
PERPS_WORDS = re.compile(
    r"insurance fund|\bmargin|\bposition|maintenance|\blong\b|\bshort\b|USDT|attribution",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def lending_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lending_report_run")
    (folder / "run.toml").write_text(tomli_w.dumps(BASE))
    _, target = run_to_dir(folder / "run.toml", folder / "run")
    return target


@pytest.fixture(scope="module")
def lending_compare(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lending_report_compare")
    (folder / "compare.toml").write_text(tomli_w.dumps({**BASE, "compare": COMPARE}))
    _, target = compare_to_dir(folder / "compare.toml", folder / "compare")
    return target


def _all_text(figure: Figure) -> str:
    """Every text of a drawn page: titles, labels, ticks, legends and table cells."""
    figure.canvas.draw()  # type: ignore[attr-defined]
    parts = [text for text, _box in _texts(figure)]
    for ax in figure.axes:
        legend = ax.get_legend()
        if legend is not None:
            parts += [text.get_text() for text in legend.get_texts()]
        for table in ax.tables:
            parts += [cell.get_text().get_text() for cell in table.get_celld().values()]
    for legend in figure.legends:
        parts += [text.get_text() for text in legend.get_texts()]
    return "\n".join(parts)


def _check_layout(pages: list[tuple[str, Figure]]) -> None:
    for slug, figure in pages:
        figure.canvas.draw()  # type: ignore[attr-defined]
        boxes = _texts(figure)
        assert _overprinted(boxes) == [], f"page {slug}: overprinted text"
        width, height = figure.canvas.get_width_height()  # type: ignore[attr-defined]
        for text, box in boxes:
            assert box.x0 >= -TOUCH_PIXELS and box.x1 <= width + TOUCH_PIXELS, (slug, text)
            assert box.y0 >= -TOUCH_PIXELS and box.y1 <= height + TOUCH_PIXELS, (slug, text)


def test_lending_run_has_the_lending_pages_in_lending_words(lending_run: Path) -> None:
    pages = report_figures(lending_run)
    assert [slug for slug, _ in pages] == RUN_SLUGS
    texts = {slug: _all_text(figure) for slug, figure in pages}
    for slug, text in texts.items():
        found = PERPS_WORDS.findall(text)
        assert not found, f"page {slug} speaks of {found}"
        assert "USDC" in text, f"page {slug} does not name the quote asset"
    for words in (
        "loans",
        "health factor",
        "P(reserve depleted)",
        "ES 99% of bad debt",
        "Liquidators' profit",
        "Debt unprofitable to liquidate",
        "Underwater debt",
    ):
        assert words in texts["summary"], words
    assert "reserve drawdown" in texts["losses"] and "ES 99%" in texts["losses"]
    assert "unprofitable to liquidate" in texts["end-debt"]
    assert "Debt repaid" in texts["liquidations"]
    _check_layout(pages)
    _check_pages(pages)
    assert style.QUOTE == "USDT", "the perps currency is restored after a lending report"


def test_lending_comparison_has_its_pages_and_not_the_perps_ones(lending_compare: Path) -> None:
    pages = report_figures(lending_compare)
    slugs = [slug for slug, _ in pages]
    assert slugs == ["designs", "differences", "differences-2"] + [
        f"baseline-{slug}" for slug in RUN_SLUGS
    ]
    texts = {slug: _all_text(figure) for slug, figure in pages}
    for slug, text in texts.items():
        found = PERPS_WORDS.findall(text)
        assert not found, f"page {slug} speaks of {found}"
    differences = texts["differences"] + texts["differences-2"]
    for title, _unit, _scale in LENDING_DIFFERENCE_LABELS.values():
        assert f"{title}: variant - baseline" in differences, title
    for name in ("cf50 (baseline)", "cf100", "ramp", "liquidators'"):
        assert name in texts["designs"], name
    _check_layout(pages)
    _check_pages(pages)


def test_no_lending_page_is_blank(lending_compare: Path, tmp_path: Path) -> None:
    written = build_report(lending_compare, tmp_path / "lending.pdf", png=True)
    assert len(written) == 1 + 3 + len(RUN_SLUGS)
    for png in written[1:]:
        pixels = matplotlib.image.imread(png)[..., :3]
        assert pixels.std() > 0.05, f"{png.name} looks blank"


def test_design_text_names_each_setting_shortly() -> None:
    assert design_text("close_factor=0.5 bonus=0.05 ramp=0.5 max=0.1") == (
        "cf 0.5, bonus 0.05, ramp 0.5, max 0.1"
    )
    assert design_text("close_factor=1 bonus=0.075") == "cf 1, bonus 0.075"
