"""Summaries mean what they say: fund_min by its lower tail, one path by its values,
every number with its unit (docs/model.md 7, stresstest/console_tables.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
from rich.console import Console

from stresstest.console_tables import compare_table, summary_table
from stresstest.estimators import describe
from stresstest.jobs import run_to_dir

SCENARIO = """
[scenario]
name = "tables"
seed = 3

[paths]
source = "gbm"
s0 = 100.0
sigma = 0.01
n_paths = {n_paths}
n_steps = 24

[book]
source = "synthetic"
n_positions = 500
leverage_max = 40.0

[margin]
model = "static"
maintenance = 0.005

[insurance_fund]
initial = 1000.0
"""


def _text(table: object) -> str:
    console = Console(record=True, width=200)
    console.print(table)
    return console.export_text()


def test_lower_tail_of_one_to_a_thousand() -> None:
    values = np.arange(1.0, 1001.0)
    stats = describe(values, lower_tail=True)
    assert stats["q1"] == np.quantile(values, 0.01)  # 10.99
    assert stats["q0_1"] == np.quantile(values, 0.001)  # 1.999
    assert stats["es99_low"] == 5.5  # mean of the 10 smallest
    assert stats["es99"] == 995.5  # mean of the 10 largest
    # the mirrored sample has the same spread, so the same standard error
    assert math.isclose(stats["es99_low_se"] or 0.0, stats["es99_se"] or 0.0, rel_tol=1e-12)
    assert "q1" not in describe(values)


def test_run_table_shows_fund_min_by_its_lower_tail(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(SCENARIO.format(n_paths=200))
    result, _ = run_to_dir(tmp_path / "s.toml", tmp_path / "out")
    summary = result.summary()
    fund_min = summary["metrics"]["fund_min"]
    values = np.sort(result.column("fund_min"))
    assert fund_min["es99_low"] == float(values[:2].mean())  # ceil(200 / 100) = 2 lowest
    text = _text(summary_table(summary))
    assert "worst 1%: q" in text and "worst 1%: ES" in text
    row = next(line for line in text.splitlines() if "fund_min" in line)
    assert "fund_min *" in row and " quote " in row
    assert "* fund_min: its lowest 1%" in text
    frame = result.summary_frame()
    assert frame.filter(pl.col("metric") == "fund_min")["statistic"].to_list()[-3:] == [
        "q1",
        "q0_1",
        "es99_low",
    ]


def test_a_single_path_prints_its_values(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(SCENARIO.format(n_paths=1))
    result, _ = run_to_dir(tmp_path / "s.toml", tmp_path / "out")
    text = _text(summary_table(result.summary()))
    assert "1 path" in text and "± se" not in text and "ES" not in text
    row = next(line for line in text.splitlines() if "│ bad_debt " in line)
    assert "quote" in row
    count = next(line for line in text.splitlines() if "│ n_liquidations " in line)
    assert f"{int(result.column('n_liquidations')[0]):,} │" in count  # a count, no decimals
    assert "fund depleted" in text


def test_compare_table_headers_carry_units() -> None:
    frame = pl.DataFrame(
        {
            "variant": ["a"],
            "bad_debt_mean": [1.5e6],
            "bad_debt_es99": [2.0e7],
            "probability_fund_depleted": [0.25],
            "requirement_mean": [3.0e6],
            "margin_rate_mean": [0.005],
            "n_liquidations_mean": [1234.0],
        }
    )
    text = _text(compare_table("x", frame))
    assert "(quote)" in text and "25.00%" in text and "0.500%" in text


def test_a_single_path_report_shows_values_not_errors(tmp_path: Path) -> None:
    from stresstest.report.build import report_figures

    (tmp_path / "s.toml").write_text(SCENARIO.format(n_paths=1))
    _, target = run_to_dir(tmp_path / "s.toml", tmp_path / "out")
    figure = dict(report_figures(target))["summary"]
    cells = [cell.get_text().get_text() for cell in figure.axes[1].tables[0].get_celld().values()]
    assert "value (one path)" in cells
    assert not any("±" in text or "99%" in text for text in cells)
