"""Multi-asset path sources: correlated GBM, joint historical windows / bootstrap, joint FHS.

A multi-asset source offers ``chunk(first, count)`` of shape
``(count, n_assets, n_steps + 1)`` (quote per base of each asset) and
``start_prices()`` (per asset). See docs/model.md 11.1.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from stresstest.data.candles import Candles, Gap, load_candles, select_window
from stresstest.errors import InputError
from stresstest.kernels.multi_paths import (
    correlated_gbm_paths,
    fhs_multi_paths,
    joint_bootstrap_paths,
)
from stresstest.paths.fit import (
    DISTS,
    MODELS,
    GarchFit,
    empirical_moments,
    fit_garch,
    persistence,
    unconditional_state,
)
from stresstest.paths.garch import standardize
from stresstest.paths.gbm import PATHS_SEED_CHILD, philox_key
from stresstest.paths.historical import successors
from stresstest.scenario.accounts import FhsMultiPaths, GbmMultiPaths, HistoricalMultiPaths


def _per_asset(
    values: Any, n_assets: int, key: str, file: Path | None, *, low: float, high: float | None
) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.shape != (n_assets,):
        raise InputError(
            "wrong length",
            file=file,
            key=f"paths.{key}",
            value=list(values),
            expected=f"{n_assets} numbers, one per asset of paths.assets",
        )
    bad = ~(array > low) if high is None else ~((array >= low) & (array < high))
    if bad.any():
        raise InputError(
            "out of range",
            file=file,
            key=f"paths.{key}",
            value=float(array[np.flatnonzero(bad)[0]]),
            expected=f"numbers > {low:g}" if high is None else f"numbers in [{low:g}, {high:g})",
        )
    return array


def correlation_cholesky(correlation: Any, n_assets: int, file: Path | None) -> np.ndarray:
    """Lower Cholesky factor of a correlation matrix, checked (symmetric, unit diagonal, PD)."""
    key = "paths.correlation"
    try:
        matrix = np.asarray(correlation, dtype=float)
    except ValueError:
        raise InputError(
            "not a matrix", file=file, key=key, expected=f"{n_assets} rows of {n_assets} numbers"
        ) from None
    if matrix.shape != (n_assets, n_assets):
        raise InputError(
            "wrong shape",
            file=file,
            key=key,
            value=correlation,
            expected=f"{n_assets} rows of {n_assets} numbers",
        )
    if not np.allclose(matrix, matrix.T, rtol=0.0, atol=1e-12) or not np.all(
        np.abs(np.diag(matrix) - 1.0) <= 1e-12
    ):
        raise InputError(
            "not a correlation matrix",
            file=file,
            key=key,
            value=correlation,
            expected="a symmetric matrix with unit diagonal",
        )
    try:
        return np.ascontiguousarray(np.linalg.cholesky(matrix))
    except np.linalg.LinAlgError:
        raise InputError(
            "not positive definite",
            file=file,
            key=key,
            value=correlation,
            expected="a positive definite correlation matrix (|rho| < 1 for two assets)",
        ) from None


def _check_assets(assets: Any, file: Path | None) -> tuple[str, ...]:
    names = tuple(assets)
    if len(names) < 1 or len(set(names)) != len(names):
        raise InputError(
            "assets must be distinct names",
            file=file,
            key="paths.assets",
            value=list(names),
            expected="a list of one or more distinct names",
        )
    return names


class GbmMultiPathSource:
    """Correlated GBM (docs/model.md 11.1): per-step shocks ``L Z``, ``L L' = correlation``."""

    def __init__(self, config: GbmMultiPaths, seed: int, file: Path | None = None) -> None:
        self.config = config
        self.assets = _check_assets(config.assets, file)
        n = len(self.assets)
        self.s0 = _per_asset(config.s0, n, "s0", file, low=0.0, high=None)
        self.sigma = _per_asset(config.sigma, n, "sigma", file, low=0.0, high=1.0)
        drift = config.drift if config.drift is not None else [0.0] * n
        self.drift = _per_asset(drift, n, "drift", file, low=-1.0, high=1.0)
        self.cholesky = correlation_cholesky(config.correlation, n, file)
        self.n_paths = config.n_paths
        self.n_steps = config.n_steps
        self.key = philox_key(seed, PATHS_SEED_CHILD)

    def chunk(self, first: int, count: int) -> np.ndarray:
        """Prices ``(count, n_assets, T + 1)`` of paths ``first .. first + count - 1``."""
        out = np.empty((count, len(self.assets), self.n_steps + 1))
        correlated_gbm_paths(
            self.key[0], self.key[1], first, self.s0, self.sigma, self.drift, self.cholesky, out
        )
        return out

    def path_ids(self) -> np.ndarray:
        """Path identifiers 0..n_paths - 1."""
        return np.arange(self.n_paths, dtype=np.int64)

    def start_prices(self) -> np.ndarray:
        """``P_a,0`` of each asset, quote per base."""
        return self.s0.copy()


def joint_closes(candles: list[Candles]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closes on the open times every file has, and the gap-free runs of the joint series.

    Returns ``(timestamps, closes (n_bars, n_assets), run_id)``: bars are aligned on
    their open time; a run ends where the next common bar is not one bar
    interval later (in any file a bar is missing), so no path bridges a gap.
    """
    common = candles[0].timestamp
    for item in candles[1:]:
        common = np.intersect1d(common, item.timestamp)
    closes = np.empty((common.shape[0], len(candles)))
    for column, item in enumerate(candles):
        where = np.searchsorted(item.timestamp, common)
        closes[:, column] = item.close[where]
    for item in candles[1:]:
        if item.step_ms != candles[0].step_ms:
            raise InputError(
                "candle files have different bar intervals",
                file=item.path,
                value=f"{item.step_ms} ms",
                expected=f"{candles[0].step_ms} ms, as {candles[0].path.name}",
            )
    steps = np.diff(common)
    interval = np.timedelta64(candles[0].step_ms, "ms")
    run_id = np.concatenate([[0], np.cumsum(steps != interval)]).astype(np.int64)
    return common, closes, run_id


def load_joint_candles(
    config: HistoricalMultiPaths | FhsMultiPaths, n_assets: int, scenario_file: Path | None
) -> tuple[list[Path], list[Candles]]:
    """The candle files of ``paths.data`` (one per asset), resolved, loaded and windowed."""
    if len(config.data) != n_assets:
        raise InputError(
            "wrong length",
            file=scenario_file,
            key="paths.data",
            value=list(config.data),
            expected=f"{n_assets} candle files, one per asset of paths.assets",
        )
    base = scenario_file.parent if scenario_file is not None else Path.cwd()
    # os.path.realpath is Path.resolve without its RuntimeError on a symbolic link loop
    files = [Path(os.path.realpath(base / name)) for name in config.data]
    for path in files:
        if not path.exists() and not path.is_symlink():  # load_candles names the other cases
            raise InputError(
                "file not found",
                file=scenario_file,
                key="paths.data",
                value=str(path),
                expected="an existing candle file",
            )
    candles = [select_window(load_candles(path), config.start, config.end) for path in files]
    return files, candles


class HistoricalMultiPathSource:
    """Joint windows or joint block bootstrap of several assets' hourly closes (11.1)."""

    def __init__(
        self, config: HistoricalMultiPaths, seed: int, scenario_file: Path | None = None
    ) -> None:
        self.config = config
        self.assets = _check_assets(config.assets, scenario_file)
        n = len(self.assets)
        self.files, candles = load_joint_candles(config, n, scenario_file)
        self.timestamps, closes, run_id = joint_closes(candles)
        self.n_steps = config.n_steps
        self.key = philox_key(seed, PATHS_SEED_CHILD)
        self.s0 = (
            _per_asset(config.s0, n, "s0", scenario_file, low=0.0, high=None)
            if config.s0 is not None
            else closes[-1].copy()
        )
        if config.mode == "windows":
            if config.n_paths is not None:
                raise InputError(
                    "key not used in mode 'windows'",
                    file=scenario_file,
                    key="paths.n_paths",
                    value=config.n_paths,
                    expected="no n_paths (one path per window)",
                )
            points = self.n_steps + 1
            same_run = run_id[points - 1 :] == run_id[: run_id.shape[0] - points + 1]
            self.starts = np.flatnonzero(same_run).astype(np.int64)
            if self.starts.shape[0] == 0:
                raise InputError(
                    "no gap-free joint window of n_steps + 1 bars",
                    file=scenario_file,
                    key="paths.n_steps",
                    value=self.n_steps,
                    expected="fewer steps than the longest joint run",
                )
            self.closes = closes
            self.n_paths = int(self.starts.shape[0])
        else:
            if config.n_paths is None:
                raise InputError(
                    "missing key (required in mode 'bootstrap')",
                    file=scenario_file,
                    key="paths.n_paths",
                    expected="an integer >= 1",
                )
            same = run_id[1:] == run_id[:-1]
            returns = np.log(closes[1:] / closes[:-1])[same]
            segment = run_id[1:][same]
            if returns.shape[0] == 0:
                raise InputError(
                    "no joint return in the window", file=scenario_file, key="paths.start"
                )
            self.returns = np.ascontiguousarray(returns)
            self.successor = successors(segment)
            stay = 1.0 - 1.0 / config.mean_block
            self.inv_log_stay = 1.0 / math.log(stay) if stay > 0.0 else -0.0
            self.n_paths = int(config.n_paths)

    def chunk(self, first: int, count: int) -> np.ndarray:
        """Prices ``(count, n_assets, T + 1)`` of paths ``first .. first + count - 1``."""
        points = self.n_steps + 1
        if self.config.mode == "windows":
            rows = self.starts[first : first + count, None] + np.arange(points)[None, :]
            window = self.closes[rows]  # (count, points, assets)
            scaled = self.s0[None, None, :] * (window / window[:, :1, :])
            return np.ascontiguousarray(np.transpose(scaled, (0, 2, 1)))
        out = np.empty((count, len(self.assets), points))
        joint_bootstrap_paths(
            self.key[0],
            self.key[1],
            first,
            self.returns,
            self.successor,
            self.inv_log_stay,
            self.s0,
            out,
        )
        return out

    def path_ids(self) -> np.ndarray:
        """Path identifiers 0..n_paths - 1 (windows: in time order of their first bar)."""
        return np.arange(self.n_paths, dtype=np.int64)

    def start_prices(self) -> np.ndarray:
        """``P_a,0`` of each asset (every path is rescaled to start there), quote per base."""
        return self.s0.copy()

    def provenance(self) -> dict[str, Any]:
        """What the source used: files, common bars, windows or returns."""
        record: dict[str, Any] = {
            "assets": list(self.assets),
            "files": [str(path) for path in self.files],
            "first_bar": str(self.timestamps[0]),
            "last_bar": str(self.timestamps[-1]),
            "common_bars": int(self.timestamps.shape[0]),
        }
        if self.config.mode == "bootstrap":
            record["joint_returns"] = int(self.returns.shape[0])
        return record


def common_hours_candles(
    template: Candles, timestamps: np.ndarray, close: np.ndarray, run_id: np.ndarray
) -> Candles:
    """One asset's closes on the common hours, as a candle series whose gaps are the joint runs'.

    A fit on it (:func:`stresstest.paths.fit.fit_garch`) uses the returns of
    consecutive common bars of one joint run, the same rows for every asset.
    """
    interval = template.step_ms
    spacing = np.diff(timestamps.astype("datetime64[ms]").astype(np.int64))
    gaps = [
        Gap(int(i), timestamps[i], timestamps[i + 1], max(1, -(-int(spacing[i]) // interval) - 1))
        for i in np.flatnonzero(np.diff(run_id) != 0)
    ]
    return dataclasses.replace(
        template,
        timestamp=timestamps,
        close=np.ascontiguousarray(close),
        open=None,
        high=None,
        low=None,
        volume=None,
        gaps=gaps,
    )


def _check_choice(value: str, choices: Any, key: str, file: Path | None) -> None:
    if value not in choices:
        raise InputError(
            "unknown value",
            file=file,
            key=key,
            value=value,
            expected="one of " + ", ".join(repr(choice) for choice in choices),
        )


class FhsMultiPathSource:
    """Filtered historical simulation of several assets (docs/model.md 11.1).

    Each asset's GARCH-family model is fitted with arch on the percent log
    returns of the common hours (within gap-free joint runs); the fits'
    standardized residuals, each column re-standardized to mean 0 and variance
    1, form a matrix ``(n_rows, n_assets)`` whose row ``k`` is one real hour.
    A simulated step draws a whole row, so every asset gets the residual of
    the same hour, rescaled by its own simulated conditional volatility.

    Raises
    ------
    InputError
        Bad assets, data, model, dist, mean or start_variance (naming the key), a
        fit that fails or does not converge (naming the file), or
        ``start_variance = "unconditional"`` with a non-stationary fit.
    """

    def __init__(self, config: FhsMultiPaths, seed: int, scenario_file: Path | None = None) -> None:
        self.config = config
        self.assets = _check_assets(config.assets, scenario_file)
        n = len(self.assets)
        _check_choice(config.model, MODELS, "paths.model", scenario_file)
        _check_choice(config.dist, DISTS, "paths.dist", scenario_file)
        _check_choice(config.mean, ("zero", "constant"), "paths.mean", scenario_file)
        _check_choice(
            config.start_variance,
            ("fitted", "unconditional"),
            "paths.start_variance",
            scenario_file,
        )
        self.files, candles = load_joint_candles(config, n, scenario_file)
        self.timestamps, closes, run_id = joint_closes(candles)
        self.fits: list[GarchFit] = [
            fit_garch(
                common_hours_candles(candles[a], self.timestamps, closes[:, a], run_id),
                config.model,
                config.dist,
                config.mean,
            )
            for a in range(n)
        ]
        lengths = {fit.std_resid.shape[0] for fit in self.fits}
        if len(lengths) != 1:  # pragma: no cover - arch gives finite residuals on finite data
            raise InputError(
                "the fits' residuals do not line up",
                file=scenario_file,
                key="paths.data",
                value=sorted(lengths),
                expected="one finite standardized residual per joint hour and asset",
            )
        self.residuals = np.ascontiguousarray(
            np.column_stack([standardize(fit.std_resid) for fit in self.fits])
        )
        self.params = [
            {"mu": 0.0, "gamma": 0.0, "nu": 0.0, "lambda": 0.0, **fit.params} for fit in self.fits
        ]
        self.variance = np.array(
            [[p["mu"], p["omega"], p["alpha"], p["gamma"], p["beta"]] for p in self.params]
        )
        self.moments = [empirical_moments(self.residuals[:, a]) for a in range(n)]
        self.state0 = np.array([self._start_state(a, scenario_file) for a in range(n)])
        self.model_code = MODELS[config.model]
        self.n_paths = config.n_paths
        self.n_steps = config.n_steps
        self.key = philox_key(seed, PATHS_SEED_CHILD)
        self.s0 = (
            _per_asset(config.s0, n, "s0", scenario_file, low=0.0, high=None)
            if config.s0 is not None
            else closes[-1].copy()
        )

    def _start_state(self, asset: int, scenario_file: Path | None) -> float:
        """``sigma^2_a,1`` (percent^2), or ``ln sigma^2_a,1`` for EGARCH (docs/model.md 1.5)."""
        model = self.config.model
        if self.config.start_variance == "fitted":
            variance = self.fits[asset].next_variance
            return math.log(variance) if model == "egarch" else variance
        kappa, e_abs = self.moments[asset]
        state = unconditional_state(model, self.params[asset], kappa, e_abs)
        if state is None:
            rho = persistence(model, self.params[asset], kappa)
            raise InputError(
                f"the fit of {self.assets[asset]} is not stationary: it has no unconditional "
                "variance",
                file=scenario_file,
                key="paths.start_variance",
                value=f"persistence {rho:.6g}",
                expected="persistence < 1, or start_variance = 'fitted'",
            )
        return state

    def chunk(self, first: int, count: int) -> np.ndarray:
        """Prices ``(count, n_assets, T + 1)`` of paths ``first .. first + count - 1``."""
        out = np.empty((count, len(self.assets), self.n_steps + 1))
        fhs_multi_paths(
            self.key[0],
            self.key[1],
            first,
            self.residuals,
            self.model_code,
            self.variance,
            self.state0,
            self.s0,
            out,
        )
        return out

    def path_ids(self) -> np.ndarray:
        """Path identifiers 0..n_paths - 1."""
        return np.arange(self.n_paths, dtype=np.int64)

    def start_prices(self) -> np.ndarray:
        """``P_a,0`` of each asset, quote per base."""
        return self.s0.copy()

    def start_sigma(self) -> np.ndarray:
        """Conditional volatility of step 1 of each asset, percent per step."""
        states = self.state0
        sigma: np.ndarray = np.sqrt(np.exp(states) if self.config.model == "egarch" else states)
        return sigma

    def provenance(self) -> dict[str, Any]:
        """What the paths were generated from, TOML-ready: common bars and every asset's fit."""
        sigma = self.start_sigma()
        fits: dict[str, Any] = {}
        for a, (name, fit) in enumerate(zip(self.assets, self.fits, strict=True)):
            kappa, _ = self.moments[a]
            fits[name] = {
                "params": dict(fit.params),
                "start_sigma_percent": float(sigma[a]),
                "s0": float(self.s0[a]),
                "persistence": persistence(self.config.model, self.params[a], kappa),
                "kappa": kappa,
                "fit": fit.record(),
            }
        return {
            "source": "fhs_multi",
            "model": self.config.model,
            "dist": "empirical",
            "assets": list(self.assets),
            "files": [str(path) for path in self.files],
            "first_bar": str(self.timestamps[0]),
            "last_bar": str(self.timestamps[-1]),
            "common_bars": int(self.timestamps.shape[0]),
            "n_residual_rows": int(self.residuals.shape[0]),
            "residual_correlation": np.corrcoef(self.residuals.T)
            .reshape(len(self.assets), len(self.assets))
            .tolist(),
            "start_variance": self.config.start_variance,
            "fits": fits,
        }


MultiPathSource = GbmMultiPathSource | HistoricalMultiPathSource | FhsMultiPathSource


def multi_path_source(config: Any, seed: int, file: Path | None) -> MultiPathSource:
    """The multi-asset source a ``[paths]`` table describes."""
    if isinstance(config, GbmMultiPaths):
        return GbmMultiPathSource(config, seed, file)
    if isinstance(config, FhsMultiPaths):
        return FhsMultiPathSource(config, seed, file)
    return HistoricalMultiPathSource(config, seed, file)
