"""Multi-asset paths (docs/model.md 11.1) and accounts scenario validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stresstest.errors import InputError
from stresstest.kernels import enums
from stresstest.paths.multi import GbmMultiPathSource, HistoricalMultiPathSource
from stresstest.scenario.accounts import GbmMultiPaths, HistoricalMultiPaths
from stresstest.scenario.validate import scenario_from_dict
from tests.test_accounts import SCENARIO
from tests.tolerances import MONTE_CARLO_SIGMAS, SAME_FORMULA_RTOL, assert_close


def gbm_config(**changes: Any) -> GbmMultiPaths:
    values: dict[str, Any] = {
        "assets": ["BTC", "ETH", "SOL"],
        "s0": [60000.0, 3000.0, 150.0],
        "sigma": [0.01, 0.012, 0.02],
        "drift": [0.0, 0.0001, -0.0001],
        "correlation": [[1.0, 0.8, 0.6], [0.8, 1.0, 0.7], [0.6, 0.7, 1.0]],
        "n_paths": 200,
        "n_steps": 400,
    }
    values.update(changes)
    return GbmMultiPaths(**values)


def test_correlated_gbm_has_the_given_moments_and_correlation() -> None:
    config = gbm_config()
    prices = GbmMultiPathSource(config, 3).chunk(0, config.n_paths)
    returns = np.diff(np.log(prices), axis=2)  # (paths, assets, steps)
    flat = np.transpose(returns, (1, 0, 2)).reshape(3, -1)
    n = flat.shape[1]
    sigma = np.asarray(config.sigma)
    mean = np.asarray(config.drift) - 0.5 * sigma**2
    assert np.all(np.abs(flat.mean(axis=1) - mean) <= MONTE_CARLO_SIGMAS * sigma / np.sqrt(n))
    correlation = np.corrcoef(flat)
    target = np.asarray(config.correlation)
    standard_error = (1.0 - target**2) / np.sqrt(n)  # of a sample correlation, normal data
    assert np.all(np.abs(correlation - target) <= MONTE_CARLO_SIGMAS * standard_error + 1e-12)
    assert np.all(np.abs(flat.std(axis=1) / sigma - 1.0) <= MONTE_CARLO_SIGMAS / np.sqrt(2 * n))


def test_a_path_does_not_depend_on_its_chunk() -> None:
    source = GbmMultiPathSource(gbm_config(n_paths=20, n_steps=31), 9)
    whole = source.chunk(0, 20)
    assert np.array_equal(whole[7:12], source.chunk(7, 5))
    assert np.all(whole[:, :, 0] == np.asarray([60000.0, 3000.0, 150.0]))


def write_candles(path: Path, hours: np.ndarray, closes: np.ndarray) -> Path:
    stamps = np.datetime64("2024-01-01T00:00") + hours.astype("timedelta64[h]")
    lines = ["timestamp,close"] + [
        f"{np.datetime_as_string(stamp, unit='s')}Z,{float(close)!r}"
        for stamp, close in zip(stamps, closes, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(4)
    hours = np.arange(60)
    btc = 60000.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 60)))
    eth = 3000.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 60)))
    # BTC misses hour 30, ETH misses hours 45-46: joint runs 0-29, 31-44, 47-59
    keep_btc = hours != 30
    keep_eth = (hours != 45) & (hours != 46)
    return (
        write_candles(tmp_path / "btc.csv", hours[keep_btc], btc[keep_btc]),
        write_candles(tmp_path / "eth.csv", hours[keep_eth], eth[keep_eth]),
    )


def test_joint_windows_align_hours_and_never_bridge_a_gap(two_files: tuple[Path, Path]) -> None:
    btc_file, eth_file = two_files
    config = HistoricalMultiPaths(
        assets=["BTC", "ETH"],
        data=[str(btc_file), str(eth_file)],
        mode="windows",
        n_steps=10,
        s0=[1.0, 1.0],
    )
    source = HistoricalMultiPathSource(config, 0)
    # windows of 11 bars: 30 - 10 in the first run, 14 - 10 in the second, 13 - 10 in the third
    assert source.n_paths == 20 + 4 + 3
    prices = source.chunk(0, source.n_paths)
    btc = np.genfromtxt(btc_file, delimiter=",", skip_header=1, usecols=1)
    # path 20 is the first window of the second run: hours 31..41, BTC rows 30..40
    assert_close(prices[20, 0], btc[30:41] / btc[30], rtol=SAME_FORMULA_RTOL, atol=0.0)
    hours = source.timestamps[source.starts[:, None] + np.arange(11)]
    assert np.all(np.diff(hours, axis=1) == np.timedelta64(1, "h"))


def test_joint_bootstrap_keeps_each_hour_s_returns_together(two_files: tuple[Path, Path]) -> None:
    btc_file, eth_file = two_files
    config = HistoricalMultiPaths(
        assets=["BTC", "ETH"],
        data=[str(btc_file), str(eth_file)],
        mode="bootstrap",
        n_steps=50,
        n_paths=4,
        mean_block=5.0,
    )
    source = HistoricalMultiPathSource(config, 1)
    prices = source.chunk(0, 4)
    steps = np.transpose(np.diff(np.log(prices), axis=2), (0, 2, 1)).reshape(-1, 2)
    distance = np.abs(steps[:, None, :] - source.returns[None, :, :]).max(axis=2)
    assert np.all(distance.min(axis=1) <= 1e-12)  # every step is one joint hour of the data
    assert np.array_equal(prices[2:], source.chunk(2, 2))


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"paths.correlation": [[1.0, 1.2], [1.2, 1.0]]}, "paths.correlation"),
        ({"paths.correlation": [[1.0, 0.5], [0.4, 1.0]]}, "paths.correlation"),
        ({"paths.sigma": [0.01]}, "paths.sigma"),
        ({"paths.s0": [60000.0, -1.0]}, "paths.s0"),
        ({"book.legs": 3}, "book.legs"),
        ({"accounts": {"bracket_floor": [5e4], "bracket_rate": [0.001]}}, "accounts.bracket_rate"),
        ({"accounts": {"bracket_floor": [5e4]}}, "accounts.bracket_rate"),
        ({"accounts": {"mode": "both"}}, "accounts.mode"),
    ],
)
def test_bad_accounts_scenarios_name_the_key(changes: dict[str, Any], key: str) -> None:
    from stresstest.engine.accounts import prepare_accounts

    with pytest.raises(InputError) as caught:
        prepare_accounts(scenario_from_dict(SCENARIO, file=None).with_overrides(changes))
    assert caught.value.key == key


def test_brackets_with_vol_scaled_margin_start_at_the_floor() -> None:
    """docs/model.md 11.4: the table's first rate is the floor; rates below it are refused."""
    from stresstest.engine.accounts import bracket_table, prepare_accounts, run_accounts

    margin = {
        "model": "vol_scaled",
        "k": 3.0,
        "horizon_steps": 24,
        "ewma_lambda": 0.97,
        "initial_variance": 1e-4,
        "floor": 0.004,
        "cap": 0.05,
    }
    base = scenario_from_dict(SCENARIO, file=None)
    scenario = base.with_overrides(
        {"accounts": {"bracket_floor": [5e4], "bracket_rate": [0.01]}, "margin": margin}
    )
    assert bracket_table(scenario)[1].tolist() == [0.004, 0.01]
    metrics = run_accounts(scenario).metrics
    plain = run_accounts(base.with_overrides({"margin": margin})).metrics
    liquidations = enums.METRIC_NAMES.index("n_liquidations")
    assert np.all(metrics[:, liquidations] >= plain[:, liquidations])
    assert metrics[:, liquidations].sum() > plain[:, liquidations].sum()
    with pytest.raises(InputError, match=r"margin\.floor") as caught:
        below = base.with_overrides(
            {"accounts": {"bracket_floor": [5e4], "bracket_rate": [0.003]}, "margin": margin}
        )
        prepare_accounts(below)
    assert caught.value.key == "accounts.bracket_rate"


def test_accounts_file_round_trip_and_errors(tmp_path: Path) -> None:
    from stresstest.book.accounts import read_accounts

    good = tmp_path / "accounts.csv"
    good.write_text(
        "account,asset,side,qty,entry_price,collateral,mode\n"
        "7,BTC,long,1.0,60000,3000,cross\n"
        "3,ETH,short,20,3000,3000,isolated\n"
        "7,ETH,short,20,3000,3000,cross\n"
    )
    book = read_accounts(good, ("BTC", "ETH"))
    assert book.account.tolist() == [0, 1, 1]  # account 3 first, then 7's two rows in order
    assert book.asset.tolist() == [1, 0, 1]
    assert book.cross.tolist() == [False, True]
    bad = tmp_path / "bad.csv"
    bad.write_text("account,asset,side,qty,entry_price,collateral\n0,SOL,long,1,1,1\n")
    with pytest.raises(InputError) as caught:
        read_accounts(bad, ("BTC", "ETH"))
    assert caught.value.key == "asset" and caught.value.row == 0
