"""The Python API of issue 17: run and compare take a path; Result has a short repr, an
HTML repr for notebooks and the summary as a tidy DataFrame."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import stresstest

REPO = Path(__file__).resolve().parents[1]

TINY = """
[scenario]
name = "tiny <&> api"
seed = 5

[paths]
source = "gbm"
s0 = 100.0
sigma = 0.02
n_paths = 30
n_steps = 40

[book]
source = "synthetic"
n_positions = 800
leverage_max = 50.0

[margin]
model = "static"
maintenance = 0.01

[liquidation]
latency_steps = 1
slippage = 0.001
fee = 0.01

[insurance_fund]
initial = 100.0
"""


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api") / "tiny.toml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def result(scenario_file: Path) -> object:
    return stresstest.run(str(scenario_file))


def test_run_takes_a_path_as_str_or_path(scenario_file: Path, result: object) -> None:
    loaded = stresstest.run(stresstest.load_scenario(scenario_file))
    by_path = stresstest.run(scenario_file)
    assert result.paths.equals(loaded.paths)  # type: ignore[attr-defined]
    assert by_path.paths.equals(loaded.paths)
    with pytest.raises(stresstest.InputError, match="not found"):
        stresstest.run(scenario_file.parent / "missing.toml")


COMPARE = """
[compare]
baseline = "static"

[[compare.variants]]
name = "static"

[[compare.variants]]
name = "higher"
margin = { model = "static", maintenance = 0.02 }
"""


def test_compare_takes_a_path(tmp_path: Path) -> None:
    path = tmp_path / "compare.toml"
    path.write_text(TINY + COMPARE)
    by_path = stresstest.compare(str(path))
    loaded = stresstest.compare(stresstest.load_scenario(path))
    assert by_path.table.equals(loaded.table)
    assert by_path.table["variant"].to_list() == ["static", "higher"]
    with pytest.raises(stresstest.InputError, match="not found"):
        stresstest.compare(tmp_path / "missing.toml")


def test_repr_is_one_line_with_units(result: object) -> None:
    text = repr(result)
    summary = result.summary()  # type: ignore[attr-defined]
    assert "\n" not in text and len(text) < 250
    assert text.startswith("<Result 'tiny <&> api': paths 30, positions 800, bad debt, mean ")
    assert " quote" in text
    depleted = summary["probability_fund_depleted"]["p"]
    assert f"P(fund depleted) {depleted:.2%}>" in text


def test_html_repr_is_an_escaped_table(result: object) -> None:
    html = result._repr_html_()  # type: ignore[attr-defined]
    assert html.startswith("<table>") and html.endswith("</table>")
    assert "tiny &lt;&amp;&gt; api" in html and "tiny <&>" not in html
    assert html.count("<tr>") == 7


def test_summary_frame_is_the_summary_tidy(result: object) -> None:
    frame = result.summary_frame()  # type: ignore[attr-defined]
    summary = result.summary()  # type: ignore[attr-defined]
    assert frame.columns == ["metric", "statistic", "estimate", "standard_error", "unit"]
    metrics = summary["metrics"]
    assert frame.height == 7 * len(metrics) + 3 + 1  # fund_min adds q1, q0_1, es99_low
    row = frame.filter((pl.col("metric") == "bad_debt") & (pl.col("statistic") == "es99"))
    assert row["estimate"].item() == metrics["bad_debt"]["es99"]
    assert row["standard_error"].item() == metrics["bad_debt"]["es99_se"]
    assert row["unit"].item() == "quote"
    std = frame.filter((pl.col("metric") == "bad_debt") & (pl.col("statistic") == "std"))
    assert std["standard_error"].item() is None
    units = dict(frame.select("metric", "unit").unique().iter_rows())
    assert units["n_liquidations"] == "count" and units["margin_rate_mean"] == "fraction"
    last = frame.row(-1, named=True)
    assert last == {
        "metric": "fund_depleted",
        "statistic": "probability",
        "estimate": summary["probability_fund_depleted"]["p"],
        "standard_error": summary["probability_fund_depleted"]["se"],
        "unit": "probability",
    }


def test_paths_convert_to_pandas(result: object) -> None:
    """``result.paths.to_pandas()`` works after the README install (pyarrow is a dependency)."""
    paths = result.paths  # type: ignore[attr-defined]
    frame = paths.to_pandas()
    assert list(frame.columns) == paths.columns
    assert len(frame) == paths.height == 30
    assert (frame["bad_debt"].to_numpy() == paths["bad_debt"].to_numpy()).all()
