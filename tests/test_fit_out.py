"""``stresstest fit DATA --out FILE.toml`` (issue 17): the [paths] table fit prints, written
whole to a file that refuses to overwrite, and that validates inside a scenario."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stresstest.cli import app
from stresstest.data import load_candles
from stresstest.kernels import enums
from stresstest.paths.fit import fit_garch
from tests.test_garch import kernel_paths, write_candles

#: The tables a scenario needs besides [paths], for the written file to be pasted into.
REST = """
[scenario]
name = "fitted"
seed = 3

[book]
source = "synthetic"
n_positions = 200

[margin]
model = "static"
maintenance = 0.005

[liquidation]
latency_steps = 1
fee = 0.01

[insurance_fund]
initial = 1000.0
"""


@pytest.fixture(scope="module")
def candles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    variance = (0.0, 0.05, 0.06, 0.08, 0.85)
    prices, _ = kernel_paths(1, 3000, enums.VOL_GJR, enums.DIST_T, variance, 1.0, 5.0)
    return write_candles(tmp_path_factory.mktemp("fit") / "sim.parquet", prices[0])


def test_fit_out_writes_what_fit_prints_and_it_validates(candles: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(app, ["fit", str(candles)])
    assert printed.exit_code == 0, printed.output
    out = tmp_path / "sub" / "paths.toml"
    written = runner.invoke(app, ["fit", str(candles), "--out", str(out)])
    assert written.exit_code == 0, written.output
    text = out.read_text()
    # the same figures as the printed table: the file is the printed [paths] table, byte for byte
    assert printed.stdout.endswith(text)
    assert "# Fitted by" not in written.stdout and f"to {out}" in " ".join(written.stdout.split())
    paths = tomllib.loads(text)["paths"]
    fit = fit_garch(load_candles(candles), "gjr", "t", "zero")
    assert paths["params"] == fit.params
    assert paths["s0"] == fit.last_close
    assert paths["sigma0"] == math.sqrt(fit.next_variance)
    for name, value in fit.params.items():  # the estimates column of the printed table
        assert f"{value:.6g}" in printed.stdout, name
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(REST + "\n" + text)
    checked = runner.invoke(
        app, ["validate", str(scenario), "--set", "paths.n_paths=5", "--set", "paths.n_steps=10"]
    )
    assert checked.exit_code == 0, checked.output
    assert "gbm" not in checked.stdout and "valid" in checked.stdout


def test_fit_out_refuses_to_overwrite_without_force(candles: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "paths.toml"
    out.write_text("# mine\n")
    refused = runner.invoke(app, ["fit", str(candles), "--out", str(out)])
    assert refused.exit_code == 2
    assert "file exists" in refused.stderr and "--force" in refused.stderr
    assert out.read_text() == "# mine\n"
    forced = runner.invoke(app, ["fit", str(candles), "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert "[paths.params]" in out.read_text()


@pytest.mark.parametrize(
    ("name", "fragment"), [("paths.csv", "unknown file format"), ("folder.toml", "is a folder")]
)
def test_fit_out_refuses_a_bad_target_before_fitting(
    candles: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, fragment: str
) -> None:
    from stresstest.engine import path_jobs

    def no_fit(*args: object, **kwargs: object) -> None:
        raise AssertionError("fitted before the --out check")

    monkeypatch.setattr(path_jobs, "fit_garch", no_fit)
    (tmp_path / "folder.toml").mkdir()
    refused = CliRunner().invoke(app, ["fit", str(candles), "--out", str(tmp_path / name)])
    assert refused.exit_code == 2, refused.output
    assert fragment in refused.stderr
