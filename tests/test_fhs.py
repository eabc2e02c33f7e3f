"""Filtered historical simulation (docs/model.md 1.5, 1.6; docs/paths.md).

The fit's standardized residuals, re-standardized to mean 0 and variance 1, are
drawn iid per path from counter-based streams and re-scaled by the simulated
conditional volatility.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from stresstest.errors import InputError
from stresstest.kernels import enums
from stresstest.kernels.garch import garch_innovations, garch_paths
from stresstest.paths import path_source
from stresstest.paths.garch import standardize
from stresstest.scenario import load_scenario
from tests import garch_twin
from tests.tolerances import MONTE_CARLO_SIGMAS

REPO = Path(__file__).resolve().parents[1]
KEY = (np.uint64(77), np.uint64(0xDEADBEEF))
NO_SHAPE = (0.0, 0.0, 0.0, 0.0, 1.0)


@pytest.fixture(scope="module")
def simulated_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8,000 hours of GJR-t prices, as a candle file."""
    out = np.empty((1, 8001))
    shape = (3.0, -2.0 / 5.0, 0.0, 0.0, 1.0)
    garch_paths(
        KEY[0],
        KEY[1],
        0,
        enums.STREAM_GARCH,
        enums.DIST_T,
        shape,
        np.empty(0),
        enums.VOL_GJR,
        (0.0, 0.05, 0.06, 0.08, 0.85),
        1.0,
        100.0,
        out,
    )
    path = tmp_path_factory.mktemp("fhs") / "sim.parquet"
    times = np.datetime64("2023-01-01", "ms") + np.arange(8001) * np.timedelta64(1, "h")
    pl.DataFrame({"timestamp": times, "close": out[0]}).write_parquet(path)
    return path


def fhs_source(data: Path, **extra: object) -> object:
    raw = {
        "scenario": {"name": "f", "seed": 3},
        "paths": {"source": "fhs", "data": str(data), "n_paths": 400, "n_steps": 48, **extra},
        "book": {"source": "synthetic", "n_positions": 10},
        "margin": {"model": "static", "maintenance": 0.01},
    }
    return path_source(load_scenario(raw))


def test_residual_draws_are_iid_picks_following_the_documented_layout() -> None:
    residuals = standardize(np.random.default_rng(1).standard_t(4, 501))
    assert abs(residuals.mean()) < 1e-15 and abs(np.mean(residuals**2) - 1.0) < 1e-14
    z = np.empty((300, 40))
    garch_innovations(
        KEY[0], KEY[1], 0, enums.STREAM_FHS, enums.DIST_EMPIRICAL, NO_SHAPE, residuals, z
    )
    for row in (0, 17, 299):
        documented = garch_twin.innovations(
            int(KEY[0]),
            int(KEY[1]),
            row,
            40,
            enums.DIST_EMPIRICAL,
            residuals=residuals,
            stream=enums.STREAM_FHS,
        )
        assert np.array_equal(z[row], documented)
    assert np.isin(z, residuals).all()
    picks = np.searchsorted(np.sort(residuals), z.ravel())
    counts = np.bincount(picks, minlength=501)
    expected = z.size / 501
    assert abs(counts.mean() - expected) < 1e-9
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    assert chi2 < 500 + MONTE_CARLO_SIGMAS * math.sqrt(2 * 500)  # chi-square, 500 d.o.f.


def test_fhs_prices_equal_the_twin_recursion() -> None:
    residuals = standardize(np.random.default_rng(2).standard_normal(99))
    out = np.empty((5, 31))
    variance = (0.01, 0.05, 0.06, 0.08, 0.85)
    garch_paths(
        KEY[0],
        KEY[1],
        40,
        enums.STREAM_FHS,
        enums.DIST_EMPIRICAL,
        NO_SHAPE,
        residuals,
        enums.VOL_GJR,
        variance,
        0.7,
        50.0,
        out,
    )
    z = np.empty((5, 30))
    garch_innovations(
        KEY[0], KEY[1], 40, enums.STREAM_FHS, enums.DIST_EMPIRICAL, NO_SHAPE, residuals, z
    )
    assert np.array_equal(out, garch_twin.prices(z, enums.VOL_GJR, variance, 0.7, 50.0))


def test_fhs_source_from_a_fit(simulated_data: Path) -> None:
    source = fhs_source(simulated_data)
    record = source.provenance()
    assert record["source"] == "fhs" and record["dist"] == "empirical"
    assert record["fit"]["n_returns"] == 8000 and record["n_residuals"] == 8000
    assert record["start_variance"] == "fitted"
    import tomli_w

    assert "[provenance.paths.fit.params]" in tomli_w.dumps({"provenance": {"paths": record}})
    prices = source.chunk(0, 400)
    assert np.all(prices[:, 0] == source.fit.last_close)
    assert np.array_equal(np.vstack([source.chunk(i, 100) for i in range(0, 400, 100)]), prices)
    first = 100.0 * np.log(prices[:, 1] / prices[:, 0])  # = sigma_1 z, z of unit variance
    sigma = source.start_sigma()
    se = math.sqrt(np.var(first**2) / 400)
    assert abs(np.mean(first**2) - sigma**2) < MONTE_CARLO_SIGMAS * se
    returns = 100.0 * np.diff(np.log(prices), axis=1)
    assert set(np.round(returns[:, 0] / sigma, 9)) <= set(np.round(source.residuals, 9))


def test_fhs_keeps_volatility_clustering(simulated_data: Path) -> None:
    """Squared returns stay autocorrelated (an iid bootstrap would give ~0)."""
    source = fhs_source(simulated_data, n_steps=400, start_variance="unconditional")
    returns = np.diff(np.log(source.chunk(0, 400)), axis=1)
    squared = returns**2 - np.mean(returns**2, axis=1, keepdims=True)
    lag1 = np.sum(squared[:, 1:] * squared[:, :-1]) / np.sum(squared**2)
    assert lag1 > 0.05


def test_fhs_needs_data_and_rejects_params(simulated_data: Path) -> None:
    raw = {
        "scenario": {"name": "f"},
        "paths": {"source": "fhs", "n_paths": 1, "n_steps": 1},
        "book": {"source": "synthetic", "n_positions": 10},
        "margin": {"model": "static", "maintenance": 0.01},
    }
    with pytest.raises(InputError, match="missing key") as error:
        load_scenario(raw)
    assert error.value.key == "paths.data"
    raw["paths"].update(data=str(simulated_data), params={"omega": 1.0})
    with pytest.raises(InputError, match="unknown key"):
        load_scenario(raw)
