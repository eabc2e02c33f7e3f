"""Coverage backtest: Kupiec and Christoffersen by hand, against scipy, and on data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.special import erfc
from scipy.stats import chi2, norm
from typer.testing import CliRunner

from stresstest.backtest.coverage import backtest, backtest_candles
from stresstest.backtest.tests import (
    christoffersen_independence,
    coverage_test,
    kupiec_pof,
    transition_counts,
)
from stresstest.cli import app
from stresstest.data.candles import load_candles
from stresstest.scenario import load_scenario

REPO = Path(__file__).resolve().parents[1]
STATIC_SCENARIO = """
[scenario]
name = "bt"
[paths]
source = "gbm"
s0 = 1.0
sigma = 0.01
n_paths = 1
n_steps = 1
[book]
source = "synthetic"
n_positions = 1
[margin]
model = "static"
maintenance = {maintenance}
[liquidation]
latency_steps = {horizon}
"""


def test_kupiec_by_hand() -> None:
    # n = 100 windows, x = 5 exceptions, p = 0.01:
    # null = 95 ln 0.99 + 5 ln 0.01 = -0.9547819 - 23.0258509 = -23.9806328
    # alt  = 95 ln 0.95 + 5 ln 0.05 = -4.8728630 - 14.9786614 = -19.8515243
    # LR = -2 (null - alt) = 8.258217
    statistic = kupiec_pof(100, 5, 0.01)
    assert statistic == pytest.approx(8.258217, abs=1e-6)
    # chi-square(1) survival function = erfc(sqrt(x / 2)), independent of scipy.stats
    assert float(chi2.sf(statistic, 1)) == pytest.approx(
        float(erfc(math.sqrt(statistic / 2))), rel=1e-12
    )
    assert kupiec_pof(100, 1, 0.01) == pytest.approx(0.0, abs=1e-12)  # exactly on target
    assert kupiec_pof(50, 0, 0.01) == pytest.approx(-2 * 50 * math.log(0.99), rel=1e-12)


def test_christoffersen_by_hand() -> None:
    # 0 1 1 1 0 0 0 0: pairs 01 11 11 10 00 00 00 -> n00 = 3, n01 = 1, n10 = 1, n11 = 2
    sequence = np.array([0, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    counts = transition_counts(sequence, np.zeros(8, dtype=int))
    assert counts == (3, 1, 1, 2)
    # pi = 3/7, pi01 = 1/4, pi11 = 2/3
    # null = 4 ln(4/7) + 3 ln(3/7) = -2.2384632 - 2.5418936 = -4.7803567
    # alt = 3 ln(3/4) + ln(1/4) + ln(1/3) + 2 ln(2/3)
    #     = -0.8630462 - 1.3862944 - 1.0986123 - 0.8109302 = -4.1588831
    # LR = -2 (null - alt) = 1.242947
    assert christoffersen_independence(*counts) == pytest.approx(1.242947, abs=1e-6)
    # Clustering-free: pi01 = pi11 = pi gives exactly zero.
    balanced = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 0], dtype=bool)
    assert transition_counts(balanced, np.zeros(10, dtype=int)) == (4, 2, 2, 1)
    assert christoffersen_independence(4, 2, 2, 1) == pytest.approx(0.0, abs=1e-12)


def test_pairs_do_not_cross_segments_and_p_values_are_scipys() -> None:
    sequence = np.array([1, 1, 0, 1], dtype=bool)
    segment = np.array([0, 1, 1, 2])
    assert transition_counts(sequence, segment) == (0, 0, 1, 0)
    test = coverage_test(sequence, segment, 0.1)
    assert test.p_pof == float(chi2.sf(test.lr_pof, 1))
    assert test.p_ind == float(chi2.sf(test.lr_ind, 1))
    assert test.p_cc == float(chi2.sf(test.lr_pof + test.lr_ind, 2))


def _gbm_candles(tmp_path: Path, sigma: float, n: int, seed: int) -> Path:
    generator = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(sigma * generator.standard_normal(n)))
    timestamps = np.datetime64("2020-01-01T00:00", "ms") + np.arange(n) * np.timedelta64(1, "h")
    path = tmp_path / "gbm.parquet"
    pl.DataFrame({"timestamp": timestamps, "close": close}).write_parquet(path)
    return path


def test_a_margin_at_the_true_quantile_passes_and_a_thin_one_fails(tmp_path: Path) -> None:
    sigma, horizon = 0.01, 24
    data = _gbm_candles(tmp_path, sigma, 240_000, seed=11)
    right = float(np.exp(norm.ppf(0.99) * sigma * math.sqrt(horizon)) - 1.0)
    scenario = tmp_path / "right.toml"
    scenario.write_text(STATIC_SCENARIO.format(maintenance=right, horizon=horizon))
    passing = backtest(data, scenario)
    assert passing.tests["short"].n == 9_999
    assert passing.tests["short"].p_pof > 0.01
    assert 0.006 < passing.tests["short"].rate < 0.014
    scenario.write_text(STATIC_SCENARIO.format(maintenance=right / 2, horizon=horizon))
    failing = backtest(data, scenario)
    assert failing.tests["either"].p_pof < 1e-6


def test_static_half_percent_fails_on_real_btc_history() -> None:
    candles = load_candles(REPO / "data" / "btc_usdt_spot_1h.parquet")
    scenario = load_scenario(REPO / "scenarios" / "default.toml")
    result = backtest_candles(candles, scenario, horizon_steps=24)
    assert result.tests["either"].rate > 0.5  # a 0.5% margin is far below a day's move
    assert result.tests["either"].p_pof < 1e-12
    # Windows never span the data's gaps: every window's end is horizon hours after its start.
    assert result.timestamp.shape[0] == result.move.shape[0]


def test_cli_backtest_writes_its_files(tmp_path: Path) -> None:
    data = _gbm_candles(tmp_path, 0.01, 2_000, seed=3)
    scenario = tmp_path / "s.toml"
    scenario.write_text(STATIC_SCENARIO.format(maintenance=0.05, horizon=4))
    out = tmp_path / "bt"
    result = CliRunner().invoke(app, ["backtest", str(data), str(scenario), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "backtest.json").exists() and (out / "windows.parquet").exists()
    missing = CliRunner().invoke(app, ["backtest", str(tmp_path / "none.csv"), str(scenario)])
    assert missing.exit_code == 2
