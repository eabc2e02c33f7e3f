"""Reports: every page drawn with data from a small run and comparison, PDF pages not
blank, a missing file named in an InputError (exit 2, nothing written), and a report
written whole or not at all."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from rich.console import Console
from typer.testing import CliRunner

import stresstest.cli
from stresstest.backtest.coverage import backtest_candles, backtest_document
from stresstest.cli import app
from stresstest.data.candles import load_candles
from stresstest.errors import InputError
from stresstest.io.atomic import write_json
from stresstest.jobs import compare_to_dir, run_to_dir
from stresstest.report import build_report, style
from stresstest.report.build import report_figures, report_to_file
from stresstest.report.load import RunFolder, load_result
from stresstest.report.verdicts import recommend
from stresstest.scenario import load_scenario

REPO = Path(__file__).resolve().parents[1]

RUN = """
[scenario]
name = "tiny"
seed = 11
description = "report test"

[paths]
source = "gbm"
s0 = 100.0
sigma = 0.01
n_paths = 120
n_steps = 48

[book]
source = "synthetic"
n_positions = 3000
leverage_max = 40.0

[margin]
model = "static"
maintenance = 0.005

[liquidation]
latency_steps = 2
slippage = 0.002
fee = 0.01

[insurance_fund]
initial = 3000.0
"""

COMPARE = """
[compare]
baseline = "static_0.005"
bootstrap_samples = 100

[[compare.variants]]
name = "vol_k2"
margin = { model = "vol_scaled", k = 2.0, horizon_steps = 4, ewma_lambda = 0.94, \
initial_variance = 1e-4, floor = 0.004, cap = 0.2 }

[[compare.variants]]
name = "slow"
"liquidation.latency_steps" = 6

[[compare.sweep]]
parameter = "margin.maintenance"
values = [0.005, 0.02]
name = "static_{value}"
"""

RUN_FILES = (
    "summary.json",
    "scenario.resolved.toml",
    "paths.parquet",
    "fund_quantiles.parquet",
    "price_quantiles.parquet",
    "liquidation_quantiles.parquet",
    "liquidated_notional_quantiles.parquet",
    "sample_paths.parquet",
)
RUN_SLUGS = ["summary", "bad-debt", "fund", "depletion", "liquidations", "price", "attribution"]


@pytest.fixture(autouse=True)
def wide_error_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Errors printed on one line however long the file name."""
    monkeypatch.setattr(stresstest.cli, "err_console", Console(stderr=True, width=100_000))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report_run")
    (folder / "run.toml").write_text(RUN)
    _, target = run_to_dir(folder / "run.toml", folder / "run")
    return target


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report_compare")
    (folder / "compare.toml").write_text(RUN + COMPARE)
    _, target = compare_to_dir(folder / "compare.toml", folder / "compare", match="cost")
    candles = load_candles(REPO / "data" / "btc_usdt_spot_1h.parquet")
    tested = backtest_candles(candles, load_scenario(folder / "compare.toml"), horizon_steps=4)
    write_json(backtest_document(tested), target / "backtest.json")
    return target


def _has_data(ax: Axes) -> bool:
    lines = any(np.size(line.get_xdata()) > 0 for line in ax.lines)
    collections = any(len(item.get_paths()) > 0 for item in ax.collections)
    return lines or collections or bool(ax.patches) or bool(ax.tables) or bool(ax.images)


def _check_pages(pages: list[tuple[str, Figure]]) -> None:
    for slug, figure in pages:
        assert figure.get_suptitle(), f"page {slug} has no title"
        drawn = [ax for ax in figure.axes if ax.axison or ax.tables]
        assert drawn, f"page {slug} has no axes"
        for ax in drawn:
            assert _has_data(ax), f"an axes of page {slug} has no data"
            if ax.axison and not ax.tables:
                siblings = ax.get_shared_x_axes().get_siblings(ax)
                assert any(sibling.get_xlabel() for sibling in siblings), f"{slug}: no x label"
                assert ax.get_ylabel() or ax.get_yticklabels(), f"{slug}: no y label"
        figure.clear()


def _pdf_pages(path: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", path.read_bytes()))


def test_run_pages_have_titles_axes_and_data(run_dir: Path) -> None:
    pages = report_figures(run_dir)
    assert [slug for slug, _ in pages] == RUN_SLUGS
    assert "depleted on" in pages[0][1].get_suptitle()
    _check_pages(pages)


def test_compare_pages_have_titles_axes_and_data(compare_dir: Path) -> None:
    pages = report_figures(compare_dir)
    slugs = [slug for slug, _ in pages]
    folder = load_result(compare_dir)
    assert not isinstance(folder, RunFolder)
    chosen = recommend(folder.table, folder.differences, "static_0.005")
    recommended = [] if chosen.reason == "none" else [f"recommended-{s}" for s in RUN_SLUGS]
    assert (
        slugs
        == ["variants", "frontier", "differences", "backtest"]
        + [f"baseline-{slug}" for slug in RUN_SLUGS]
        + recommended
    )
    _check_pages(pages)


@pytest.mark.slow
def test_pdf_and_pngs_are_written_with_one_page_each(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "tiny.pdf"
    stale = tmp_path / "reports" / "tiny-07-old-page.png"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    written = build_report(run_dir, out, png=True)
    assert written[0] == out
    assert [path.name for path in written[1:]] == [
        f"tiny-{number:02d}-{slug}.png" for number, slug in enumerate(RUN_SLUGS, start=1)
    ]
    assert _pdf_pages(out) == len(RUN_SLUGS)
    assert not stale.exists()
    assert sorted(path.name for path in out.parent.iterdir()) == sorted(p.name for p in written)
    for png in written[1:]:
        pixels = matplotlib.image.imread(png)
        assert pixels.shape[1] > 1000
        assert pixels[..., :3].std() > 0.05, f"{png.name} looks blank"


@pytest.mark.slow
def test_pdf_pages_are_not_blank(compare_dir: Path, tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (Debian package poppler-utils) is not installed")
    out = tmp_path / "compare.pdf"
    report_to_file(compare_dir, out)
    expected = len(report_figures(compare_dir))
    assert _pdf_pages(out) == expected
    subprocess.run(
        ["pdftoppm", "-r", "25", "-png", str(out), str(tmp_path / "page")],
        check=True,
        capture_output=True,
    )
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == expected
    for page in pages:
        pixels = matplotlib.image.imread(page)[..., :3]
        assert pixels.std() > 0.05, f"{page.name} looks blank"


@pytest.mark.parametrize("missing", RUN_FILES)
def test_missing_run_file_is_named(run_dir: Path, tmp_path: Path, missing: str) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    (broken / missing).unlink()
    # Without summary.json the folder is neither a run nor a comparison: still named.
    with pytest.raises(InputError, match=re.escape(missing)):
        load_result(broken)


@pytest.mark.parametrize(
    "missing", ["compare.parquet", "differences.parquet", "variants/static_0.005/paths.parquet"]
)
def test_missing_compare_file_is_named(compare_dir: Path, tmp_path: Path, missing: str) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(compare_dir, broken)
    (broken / missing).unlink()
    with pytest.raises(InputError, match=re.escape(Path(missing).name)):
        load_result(broken)


def test_cli_report_exit_2_names_the_file_and_writes_nothing(run_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    (broken / "fund_quantiles.parquet").unlink()
    out = tmp_path / "reports" / "broken.pdf"
    result = CliRunner().invoke(app, ["report", str(broken), "--out", str(out), "--png"])
    assert result.exit_code == 2, result.output
    assert "fund_quantiles.parquet" in result.output
    assert "Traceback" not in result.output
    assert not out.parent.exists() or not any(out.parent.iterdir())


@pytest.mark.slow
def test_cli_report_writes_the_pdf(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.pdf"
    result = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert _pdf_pages(out) == len(RUN_SLUGS)


@pytest.mark.slow
def test_run_command_with_report(tmp_path: Path) -> None:
    scenario = tmp_path / "run.toml"
    scenario.write_text(RUN.replace("n_paths = 120", "n_paths = 20"))
    bad = CliRunner().invoke(
        app, ["run", str(scenario), "--out", str(tmp_path / "r0"), "--report", "x.txt", "-q"]
    )
    assert bad.exit_code == 2, bad.output
    assert not (tmp_path / "r0").exists()  # refused before the run
    png_alone = CliRunner().invoke(
        app, ["run", str(scenario), "--out", str(tmp_path / "r1"), "--png", "-q"]
    )
    assert png_alone.exit_code == 2 and "--png needs --report" in png_alone.output
    assert not (tmp_path / "r1").exists()
    out = tmp_path / "reports" / "r.pdf"
    result = CliRunner().invoke(
        app,
        ["run", str(scenario), "--out", str(tmp_path / "r"), "--report", str(out), "--png", "-q"],
    )
    assert result.exit_code == 0, result.output
    assert _pdf_pages(out) == len(RUN_SLUGS)
    assert len(list(out.parent.glob("r-*.png"))) == len(RUN_SLUGS)


@pytest.mark.slow
def test_a_failure_mid_way_leaves_no_report(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report.pdf"
    out.write_bytes(b"earlier report")
    original = Figure.savefig
    calls = {"png": 0}

    def failing(self: Figure, fname: object, *args: object, **kwargs: object) -> None:
        if kwargs.get("format") == "png":
            calls["png"] += 1
            if calls["png"] == 3:
                raise RuntimeError("disk full")
        original(self, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        build_report(run_dir, out, png=True)
    assert out.read_bytes() == b"earlier report"
    assert [path.name for path in tmp_path.iterdir()] == ["report.pdf"]


@pytest.mark.slow
def test_a_failing_pdf_page_leaves_no_pdf(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stresstest.report import build

    original = build.PdfPages.savefig
    calls = {"pages": 0}

    def failing(self: object, figure: Figure, **kwargs: object) -> None:
        calls["pages"] += 1
        if calls["pages"] == 3:
            raise RuntimeError("renderer crashed")
        original(self, figure, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(build.PdfPages, "savefig", failing)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        build_report(run_dir, tmp_path / "report.pdf", png=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_run_without_bad_debt_still_draws(tmp_path: Path) -> None:
    calm = (
        RUN.replace("leverage_max = 40.0", "leverage_max = 1.0")
        .replace("sigma = 0.01", "sigma = 0.0001")
        .replace("n_paths = 120", "n_paths = 10")
    )
    (tmp_path / "calm.toml").write_text(calm)
    _, target = run_to_dir(tmp_path / "calm.toml", tmp_path / "calm")
    pages = report_figures(target)
    assert "no bad debt" in pages[1][1].get_suptitle()
    assert len(build_report(target, tmp_path / "calm.pdf", png=False)) == 1


def test_number_formats_carry_units() -> None:
    assert style.money(47_643_318.1) == "47.6M USDT"
    assert style.with_error(47_643_318.1, 656_595.1, "USDT") == "47.64M ± 0.66M USDT"
    assert style.percent_with_error(0.189, 0.0124) == "18.9% (±1.2%)"
    assert style.compact(None) == "n/a"
    assert style.compact(0.0) == "0"
    assert style.tick(2.5e7) == "25M"


def test_historical_run_overlays_the_crash_events(tmp_path: Path) -> None:
    """A bootstrap of BTC history writes the real crash paths and draws them on the price page."""
    scenario = RUN.replace(
        'source = "gbm"\ns0 = 100.0\nsigma = 0.01\nn_paths = 120\nn_steps = 48',
        'source = "historical"\nmode = "bootstrap"\nmean_block = 24\n'
        f'data = "{REPO / "data" / "btc_usdt_spot_1h.parquet"}"\n'
        "s0 = 30000.0\nn_paths = 40\nn_steps = 96",
    )
    (tmp_path / "history.toml").write_text(scenario)
    _, target = run_to_dir(tmp_path / "history.toml", tmp_path / "history")
    references = load_result(target).references
    assert references is not None
    events = references["event"].unique(maintain_order=True).to_list()
    assert "2020-03-black-thursday" in events
    march = references.filter(references["event"] == "2020-03-black-thursday")
    assert march["step"].to_list() == list(range(97))
    assert march["price"][0] == pytest.approx(30000.0, rel=1e-12)
    assert march["price"].min() < 0.8 * 30000.0  # 12-13 March: within 96 hours
    price = dict(report_figures(target))["price"]
    labels = [line.get_label() for line in price.axes[0].lines]
    assert "crash: 2020-03-black-thursday" in labels
    assert len([label for label in labels if label.startswith("crash: ")]) == len(events)
