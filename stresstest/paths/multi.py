"""Multi-asset path sources: correlated GBM and joint historical windows / bootstrap.

A multi-asset source offers ``chunk(first, count)`` of shape
``(count, n_assets, n_steps + 1)`` (quote per base of each asset) and
``start_prices()`` (per asset). See docs/model.md 11.1.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from stresstest.data.candles import Candles, load_candles, select_window
from stresstest.errors import InputError
from stresstest.kernels.multi_paths import correlated_gbm_paths, joint_bootstrap_paths
from stresstest.paths.gbm import PATHS_SEED_CHILD, philox_key
from stresstest.paths.historical import successors
from stresstest.scenario.accounts import GbmMultiPaths, HistoricalMultiPaths


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


class HistoricalMultiPathSource:
    """Joint windows or joint block bootstrap of several assets' hourly closes (11.1)."""

    def __init__(
        self, config: HistoricalMultiPaths, seed: int, scenario_file: Path | None = None
    ) -> None:
        self.config = config
        self.assets = _check_assets(config.assets, scenario_file)
        n = len(self.assets)
        if len(config.data) != n:
            raise InputError(
                "wrong length",
                file=scenario_file,
                key="paths.data",
                value=list(config.data),
                expected=f"{n} candle files, one per asset of paths.assets",
            )
        base = scenario_file.parent if scenario_file is not None else Path.cwd()
        self.files = [(base / name).resolve() for name in config.data]
        for path in self.files:
            if not path.is_file():
                raise InputError(
                    "file not found",
                    file=scenario_file,
                    key="paths.data",
                    value=str(path),
                    expected="an existing candle file",
                )
        candles = [
            select_window(load_candles(path), config.start, config.end) for path in self.files
        ]
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


MultiPathSource = GbmMultiPathSource | HistoricalMultiPathSource


def multi_path_source(config: Any, seed: int, file: Path | None) -> MultiPathSource:
    """The multi-asset source a ``[paths]`` table describes."""
    if isinstance(config, GbmMultiPaths):
        return GbmMultiPathSource(config, seed, file)
    return HistoricalMultiPathSource(config, seed, file)
