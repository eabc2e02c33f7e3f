"""Multi-asset filtered historical simulation, ``[paths] source = "fhs_multi"``.

docs/model.md 11.1: per-asset GARCH-family fits on the common hours, whole
rows of the joint standardized-residual matrix drawn per step from a per-path
Philox stream (stream 6), each asset rescaled by its own simulated volatility.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stresstest.errors import InputError
from stresstest.kernels import enums
from stresstest.kernels.multi_paths import fhs_multi_paths, fhs_multi_rows
from stresstest.paths.multi import FhsMultiPathSource
from stresstest.scenario.accounts import FhsMultiPaths
from stresstest.scenario.provenance import sha256_of
from stresstest.scenario.validate import scenario_from_dict
from tests import garch_twin
from tests.test_accounts_paths import write_candles
from tests.tiers import examples
from tests.tolerances import MONTE_CARLO_SIGMAS

REPO = Path(__file__).resolve().parents[1]
DATA = [
    str(REPO / "data" / "btc_usdt_spot_1h.parquet"),
    str(REPO / "data" / "eth_usdt_spot_1h.parquet"),
]
KEY = (np.uint64(0x1234), np.uint64(0xC0FFEE))
#: Absolute tolerance of the mean per-path correlation of simulated BTC/ETH log returns
#: against the correlation of the drawn residual rows. The residuals are drawn jointly, so
#: the innovations have exactly that correlation; the returns r_a = sigma_a z_a have
#: corr = rho E[s1 s2] / sqrt(E[s1^2] E[s2^2]) <= rho (Cauchy-Schwarz), lower by how far
#: the two assets' simulated volatilities move apart within a path (0.03 on this sample).
RETURN_CORRELATION_ATOL = 0.06


# ----------------------------------------------------------------------------- twin
def twin_path(
    path: int,
    residuals: np.ndarray,
    model: int,
    variance: np.ndarray,
    state0: np.ndarray,
    s0: np.ndarray,
    n_steps: int,
) -> tuple[np.ndarray, list[int]]:
    """One path ``(assets, T + 1)`` and its drawn rows, plain Python from docs/model.md 11.1."""
    n_rows, n_assets = residuals.shape
    rows: list[int] = []
    for block in range((n_steps + 1) // 2):
        w = garch_twin.words(int(KEY[0]), int(KEY[1]), block, enums.STREAM_FHS_MULTI, path)
        rows.append(min(int(garch_twin.uniform53(w[0], w[1]) * n_rows), n_rows - 1))
        rows.append(min(int(garch_twin.uniform53(w[2], w[3]) * n_rows), n_rows - 1))
    rows = rows[:n_steps]
    out = np.empty((n_assets, n_steps + 1))
    for asset in range(n_assets):
        mu, omega, alpha, gamma, beta = (float(v) for v in variance[asset])
        state, log_sum = float(state0[asset]), 0.0
        out[asset, 0] = s0[asset]
        for step in range(1, n_steps + 1):
            z = float(residuals[rows[step - 1], asset])
            if model == enums.VOL_EGARCH:
                eps = math.exp(0.5 * state) * z
                following = (
                    omega
                    + alpha * (abs(z) - garch_twin.SQRT_TWO_OVER_PI)
                    + gamma * z
                    + beta * state
                )
            else:
                eps = math.sqrt(state) * z
                slope = alpha + gamma if eps < 0.0 else alpha
                following = omega + slope * (eps * eps) + beta * state
            state = following
            log_sum += mu + eps
            out[asset, step] = float(s0[asset]) * math.exp(0.01 * log_sum)
    return out, rows


@settings(deadline=None, max_examples=examples(40))
@given(
    n_rows=st.integers(1, 30),
    n_assets=st.integers(1, 4),
    n_steps=st.integers(1, 25),
    model=st.sampled_from([enums.VOL_GARCH, enums.VOL_GJR, enums.VOL_EGARCH]),
    first_path=st.integers(0, 2**40),
    seed=st.integers(0, 2**32 - 1),
)
def test_kernel_equals_the_plain_python_twin(
    n_rows: int, n_assets: int, n_steps: int, model: int, first_path: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    residuals = rng.standard_t(5, (n_rows, n_assets))
    if model == enums.VOL_EGARCH:
        variance = np.column_stack(
            [
                rng.uniform(-0.05, 0.05, n_assets),
                rng.uniform(-0.2, 0.2, n_assets),
                rng.uniform(0.0, 0.3, n_assets),
                rng.uniform(-0.1, 0.1, n_assets),
                rng.uniform(0.5, 0.95, n_assets),
            ]
        )
        state0 = rng.uniform(-2.0, 1.0, n_assets)
    else:
        variance = np.column_stack(
            [
                rng.uniform(-0.05, 0.05, n_assets),
                rng.uniform(0.001, 0.1, n_assets),
                rng.uniform(0.0, 0.2, n_assets),
                rng.uniform(0.0, 0.1, n_assets) if model == enums.VOL_GJR else np.zeros(n_assets),
                rng.uniform(0.5, 0.9, n_assets),
            ]
        )
        state0 = rng.uniform(0.05, 2.0, n_assets)
    s0 = rng.uniform(1.0, 1e5, n_assets)
    out = np.empty((3, n_assets, n_steps + 1))
    fhs_multi_paths(KEY[0], KEY[1], first_path, residuals, model, variance, state0, s0, out)
    rows = np.empty((3, n_steps), dtype=np.int64)
    fhs_multi_rows(KEY[0], KEY[1], first_path, n_rows, rows)
    for row in range(3):
        expected, drawn = twin_path(
            first_path + row, residuals, model, variance, state0, s0, n_steps
        )
        assert np.array_equal(out[row], expected)  # exact: same IEEE operations, same order
        assert rows[row].tolist() == drawn


def test_every_step_draws_one_whole_row() -> None:
    """Residual matrix whose columns encode the row: each step's residuals share one row."""
    n_rows, n_assets, n_steps = 97, 3, 61
    row_code = np.arange(1, n_rows + 1, dtype=float)
    residuals = np.ascontiguousarray(row_code[:, None] * np.array([1.0, -2.0, 3.0]) / 100.0)
    variance = np.array([[0.0, 1.0, 0.0, 0.0, 0.0]] * n_assets)  # sigma^2 = 1 at every step
    out = np.empty((50, n_assets, n_steps + 1))
    fhs_multi_paths(
        KEY[0], KEY[1], 7, residuals, enums.VOL_GARCH, variance, np.ones(3), np.ones(3), out
    )
    z = 100.0 * np.diff(np.log(out), axis=2)  # (paths, assets, steps): r = z with sigma = 1
    decoded = np.rint(100.0 * z / np.array([1.0, -2.0, 3.0])[None, :, None]).astype(np.int64)
    assert np.all(np.abs(100.0 * z / np.array([1.0, -2.0, 3.0])[None, :, None] - decoded) < 1e-6)
    assert np.all(decoded == decoded[:, :1, :])  # the same hour for every asset
    rows = np.empty((50, n_steps), dtype=np.int64)
    fhs_multi_rows(KEY[0], KEY[1], 7, n_rows, rows)
    assert np.array_equal(decoded[:, 0, :] - 1, rows)
    assert len(np.unique(rows)) > n_rows // 2  # the draws do move around the rows


# ----------------------------------------------------------------------------- BTC + ETH
def btc_eth(**changes: Any) -> FhsMultiPaths:
    values: dict[str, Any] = {
        "assets": ["BTC", "ETH"],
        "data": DATA,
        "start": "2024-01-01",
        "end": "2024-07-01",
        "n_paths": 400,
        "n_steps": 168,
    }
    values.update(changes)
    return FhsMultiPaths(**values)


@pytest.fixture(scope="module")
def source() -> FhsMultiPathSource:
    return FhsMultiPathSource(btc_eth(), 21)


def test_fits_line_up_on_the_common_hours(source: FhsMultiPathSource) -> None:
    n_hours = source.timestamps.shape[0]
    assert source.residuals.shape == (n_hours - 1, 2)  # no gap in this window
    assert np.allclose(source.residuals.mean(axis=0), 0.0, atol=1e-12)
    assert np.allclose(np.mean(source.residuals**2, axis=0), 1.0, rtol=1e-12)
    assert np.array_equal(source.s0, np.array([fit.last_close for fit in source.fits]))
    assert all(fit.n_returns == n_hours - 1 for fit in source.fits)
    # start_variance = "fitted": sigma^2_1 is each fit's one-step forecast
    assert np.array_equal(source.state0, [fit.next_variance for fit in source.fits])


def test_cross_correlation_of_simulated_returns_is_the_residuals(
    source: FhsMultiPathSource,
) -> None:
    rho = float(np.corrcoef(source.residuals.T)[0, 1])
    prices = source.chunk(0, source.n_paths)
    rows = np.empty((source.n_paths, source.n_steps), dtype=np.int64)
    fhs_multi_rows(source.key[0], source.key[1], 0, source.residuals.shape[0], rows)
    drawn = source.residuals[rows]  # (paths, steps, assets)
    n = drawn.shape[0] * drawn.shape[1]
    drawn_rho = np.corrcoef(drawn[..., 0].ravel(), drawn[..., 1].ravel())[0, 1]
    # iid draws of whole rows: the sample correlation of the innovations is rho up to MC error
    assert abs(drawn_rho - rho) < MONTE_CARLO_SIGMAS * (1.0 - rho**2) / math.sqrt(n) * 3.0
    returns = np.diff(np.log(prices), axis=2)
    per_path = [np.corrcoef(returns[p, 0], returns[p, 1])[0, 1] for p in range(source.n_paths)]
    assert abs(float(np.mean(per_path)) - rho) < RETURN_CORRELATION_ATOL
    # and the returns do move together: independent draws per asset would give ~0
    assert float(np.mean(per_path)) > 0.6


def test_paths_do_not_depend_on_threads_or_chunks(source: FhsMultiPathSource) -> None:
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = source.chunk(0, 60)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = np.concatenate([source.chunk(first, 7) for first in range(0, 63, 7)])[:60]
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, two)
    assert np.all(one[:, :, 0] == source.s0)


def test_provenance_records_every_fit(source: FhsMultiPathSource) -> None:
    import tomli_w

    record = source.provenance()
    assert record["source"] == "fhs_multi" and record["assets"] == ["BTC", "ETH"]
    assert record["n_residual_rows"] == source.residuals.shape[0]
    for name, file in zip(("BTC", "ETH"), DATA, strict=True):
        fit = record["fits"][name]["fit"]
        assert fit["data_sha256"] == sha256_of(Path(file))
        assert set(fit["params"]) == {"omega", "alpha", "gamma", "beta"}
    assert "[provenance.paths.fits.ETH.fit.params]" in tomli_w.dumps(
        {"provenance": {"paths": record}}
    )


def test_unconditional_start_and_egarch(source: FhsMultiPathSource) -> None:
    other = FhsMultiPathSource(btc_eth(start_variance="unconditional", n_paths=3), 21)
    for asset, params in enumerate(other.params):
        kappa = np.mean(other.residuals[:, asset] ** 2 * (other.residuals[:, asset] < 0))
        rho = params["alpha"] + kappa * params["gamma"] + params["beta"]
        assert math.isclose(other.state0[asset], params["omega"] / (1.0 - rho), rel_tol=1e-12)
    egarch = FhsMultiPathSource(btc_eth(model="egarch", mean="constant", n_paths=3), 21)
    assert np.allclose(np.exp(egarch.state0), [f.next_variance for f in egarch.fits], rtol=1e-12)
    assert np.all(np.isfinite(egarch.chunk(0, 3)))


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"model": "arima"}, "paths.model"),
        ({"dist": "cauchy"}, "paths.dist"),
        ({"mean": "ar1"}, "paths.mean"),
        ({"data": DATA[:1]}, "paths.data"),
        ({"data": [*DATA, DATA[0]]}, "paths.data"),
        ({"assets": ["BTC", "BTC"]}, "paths.assets"),
        ({"s0": [1.0, 2.0, 3.0]}, "paths.s0"),
        ({"data": [DATA[0], "missing.parquet"]}, "paths.data"),
    ],
)
def test_bad_input_names_the_key(changes: dict[str, Any], key: str) -> None:
    with pytest.raises(InputError) as caught:
        FhsMultiPathSource(btc_eth(**changes), 1)
    assert caught.value.key == key


@pytest.mark.parametrize(
    ("changes", "key"),
    [({"model": "arima"}, "paths.model"), ({"start_variance": "zero"}, "paths.start_variance")],
)
def test_bad_scenario_names_the_key(changes: dict[str, Any], key: str) -> None:
    raw = {
        "scenario": {"name": "fhs_multi_test", "seed": 5},
        "paths": {"source": "fhs_multi", **btc_eth().__dict__, **changes},
        "book": {"source": "accounts_synthetic", "n_accounts": 10},
        "margin": {"model": "static", "maintenance": 0.005},
    }
    raw["paths"] = {k: v for k, v in raw["paths"].items() if v is not None}
    with pytest.raises(InputError) as caught:
        scenario_from_dict(raw, file=None)
    assert caught.value.key == key


def test_too_short_a_common_history_is_refused(tmp_path: Path) -> None:
    hours = np.arange(120)
    prices = 100.0 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, 120)))
    files = [write_candles(tmp_path / f"{name}.csv", hours, prices) for name in ("a", "b")]
    config = FhsMultiPaths(assets=["A", "B"], data=[str(f) for f in files], n_paths=1, n_steps=1)
    with pytest.raises(InputError, match="too few returns") as caught:
        FhsMultiPathSource(config, 1)
    assert caught.value.key == "paths.data"


def test_the_fit_never_uses_a_return_across_a_joint_gap(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    hours = np.arange(700)
    a = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 700)))
    b = 50.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 700)))
    files = [
        write_candles(tmp_path / "a.csv", hours[hours != 300], a[hours != 300]),
        write_candles(
            tmp_path / "b.csv",
            hours[(hours < 500) | (hours > 502)],
            b[(hours < 500) | (hours > 502)],
        ),
    ]
    config = FhsMultiPaths(
        assets=["A", "B"], data=[str(f) for f in files], model="garch", n_paths=2, n_steps=5
    )
    source = FhsMultiPathSource(config, 1)
    # 696 common bars in 3 joint runs -> 693 returns, none across hour 300 or 500-502
    assert source.timestamps.shape[0] == 696
    assert source.residuals.shape[0] == 693
    assert all(fit.n_segments == 3 for fit in source.fits)


def test_an_accounts_run_records_the_fits_in_the_resolved_scenario(tmp_path: Path) -> None:
    import tomllib

    from stresstest.engine.accounts import run_accounts

    raw = {
        "scenario": {"name": "fhs_multi_run", "seed": 5},
        "paths": {"source": "fhs_multi", **btc_eth(n_paths=8, n_steps=48).__dict__},
        "book": {"source": "accounts_synthetic", "n_accounts": 200, "leverage_max": 50.0},
        "margin": {"model": "static", "maintenance": 0.005},
        "liquidation": {"latency_steps": 1, "fee": 0.005},
    }
    raw["paths"] = {k: v for k, v in raw["paths"].items() if v is not None}
    result = run_accounts(scenario_from_dict(raw, file=None))
    assert result.metrics.shape[0] == 8
    result.write(tmp_path)
    resolved = tomllib.loads((tmp_path / "scenario.resolved.toml").read_text())
    fits = resolved["provenance"]["paths"]["fits"]
    assert fits["BTC"]["fit"]["data_sha256"] == sha256_of(Path(DATA[0]))
    assert fits["ETH"]["params"] == result.paths_record["fits"]["ETH"]["params"]
    assert resolved["paths"]["source"] == "fhs_multi"
