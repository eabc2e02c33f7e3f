"""GARCH-family and filtered-historical-simulation paths (docs/model.md 1.5, 1.6)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from stresstest.data import load_candles, select_window
from stresstest.errors import InputError
from stresstest.kernels import enums
from stresstest.kernels.garch import garch_paths
from stresstest.paths.fit import (
    DISTS,
    MODELS,
    GarchFit,
    check_params,
    empirical_moments,
    fit_garch,
    innovation_moments,
    persistence,
    skew_t_constants,
    unconditional_state,
)
from stresstest.paths.gbm import PATHS_SEED_CHILD, philox_key
from stresstest.scenario.schema import FhsPaths, GarchPaths


def standardize(residuals: np.ndarray) -> np.ndarray:
    """Residuals shifted and scaled to sample mean 0 and variance 1 (``ddof = 0``)."""
    centred = residuals - residuals.mean()
    return np.ascontiguousarray(centred / np.sqrt(np.mean(centred**2)))


class GarchPathSource:
    """GARCH, GJR or EGARCH paths with normal, Student-t or skewed-t innovations,
    or (``[paths] source = "fhs"``) with the fit's own standardized residuals.

    Parameters
    ----------
    config
        The ``[paths]`` table.
    seed
        The scenario seed; the Philox key is that of GBM paths (docs/model.md 1.3).
    scenario_file
        Where the table came from, for error messages.

    Raises
    ------
    InputError
        Neither or both of ``data`` and ``params``, a bad parameter, a fit that
        fails, a start variance that does not exist (non-stationary model with
        ``start_variance = "unconditional"``), or no ``s0`` without data.
    """

    def __init__(
        self, config: GarchPaths | FhsPaths, seed: int, scenario_file: Path | None = None
    ) -> None:
        self.config = config
        self.n_paths = config.n_paths
        self.n_steps = config.n_steps
        self.key = philox_key(seed, PATHS_SEED_CHILD)
        self.fhs = isinstance(config, FhsPaths)
        self.fit: GarchFit | None = None
        given = None if isinstance(config, FhsPaths) else config.params
        model, dist, mean = config.model, config.dist, config.mean
        if given is not None:
            if config.data is not None:
                raise InputError(
                    "both data and params",
                    file=scenario_file,
                    key="paths.params",
                    expected="either data (to fit) or params (given), not both",
                )
            if config.start is not None or config.end is not None:
                raise InputError(
                    "a window without data",
                    file=scenario_file,
                    key="paths.start",
                    expected="start and end only together with data",
                )
            params = check_params(given, model, dist, mean, scenario_file, "paths.params")
        elif config.data is not None:
            candles = load_candles(config.data)
            if config.start is not None or config.end is not None:
                candles = select_window(candles, config.start, config.end)
            self.fit = fit_garch(candles, model, dist, mean)
            params = {"mu": 0.0, "gamma": 0.0, "nu": 0.0, "lambda": 0.0, **self.fit.params}
        else:
            raise InputError(
                "no data and no params",
                file=scenario_file,
                key="paths.data",
                expected="either data (a candle file to fit on) or a params table",
            )
        self.given_params: dict[str, float] = dict(given or {})
        self.params = params
        nu, lam = params["nu"], params["lambda"]
        skew_a, skew_b = skew_t_constants(nu, lam) if dist == "skewt" else (0.0, 1.0)
        self.shape = (
            float(nu - 2.0) if dist != "normal" else 0.0,
            float(-2.0 / nu) if dist != "normal" else 0.0,
            float(lam),
            float(skew_a),
            float(skew_b),
        )
        if self.fhs:
            assert self.fit is not None
            self.residuals = standardize(self.fit.std_resid)
            self.dist_code = enums.DIST_EMPIRICAL
            self.stream = enums.STREAM_FHS
            self.kappa, self.e_abs = empirical_moments(self.residuals)
        else:
            self.residuals = np.empty(0)
            self.dist_code = DISTS[dist]
            self.stream = enums.STREAM_GARCH
            self.kappa, self.e_abs = innovation_moments(dist, nu, lam, mean_abs=model == "egarch")
        self.model_code = MODELS[model]
        self.variance = (
            float(params["mu"]),
            float(params["omega"]),
            float(params["alpha"]),
            float(params["gamma"]),
            float(params["beta"]),
        )
        self.start_rule, self.state0 = self._start_state(scenario_file)
        if config.s0 is not None:
            self.s0 = float(config.s0)
        elif self.fit is not None:
            self.s0 = self.fit.last_close
        else:
            raise InputError(
                "missing key",
                file=scenario_file,
                key="paths.s0",
                expected="a price > 0 (quote per base): required with params",
            )

    def _start_state(self, scenario_file: Path | None) -> tuple[str, float]:
        """``(rule, state0)``: ``sigma^2_1`` (percent^2), or ``ln sigma^2_1`` for EGARCH."""
        config = self.config
        egarch = config.model == "egarch"
        if config.sigma0 is not None:
            variance = config.sigma0**2
            return "sigma0", math.log(variance) if egarch else variance
        rule = config.start_variance or ("fitted" if self.fit is not None else "unconditional")
        if rule == "fitted":
            if self.fit is None:
                raise InputError(
                    "start_variance 'fitted' needs data",
                    file=scenario_file,
                    key="paths.start_variance",
                    value=rule,
                    expected="'unconditional', or sigma0, when params are given",
                )
            variance = self.fit.next_variance
            return rule, math.log(variance) if egarch else variance
        state = unconditional_state(config.model, self.params, self.kappa, self.e_abs)
        if state is None:
            rho = persistence(config.model, self.params, self.kappa)
            raise InputError(
                "the model is not stationary: it has no unconditional variance",
                file=config.data if self.fit is not None else scenario_file,
                key="paths.start_variance",
                value=f"persistence {rho:.6g}",
                expected="persistence < 1, or start_variance = 'fitted' (with data), or sigma0",
            )
        return rule, state

    def chunk(self, first: int, count: int) -> np.ndarray:
        """Prices of paths ``first .. first + count - 1``, quote per base."""
        out = np.empty((count, self.n_steps + 1))
        garch_paths(
            self.key[0],
            self.key[1],
            first,
            self.stream,
            self.dist_code,
            self.shape,
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

    def start_price(self) -> float:
        """Price at step 0, quote per base."""
        return self.s0

    def start_sigma(self) -> float:
        """Conditional volatility of step 1, percent per step."""
        egarch = self.config.model == "egarch"
        return math.sqrt(math.exp(self.state0) if egarch else self.state0)

    def provenance(self) -> dict[str, Any]:
        """What the paths were generated from, TOML-ready (for the resolved scenario).

        ``params`` are the parameters simulated (fitted or given, arch's units);
        ``fit`` describes the fit when there was one (estimates, robust standard
        errors, log-likelihood, data SHA-256 and bars used).
        """
        record: dict[str, Any] = {
            "source": "fhs" if self.fhs else "garch",
            "model": self.config.model,
            "dist": "empirical" if self.fhs else self.config.dist,
            "params": dict(self.fit.params if self.fit is not None else self.given_params),
            "start_variance": self.start_rule,
            "start_sigma_percent": self.start_sigma(),
            "s0": self.s0,
            "persistence": persistence(self.config.model, self.params, self.kappa),
            "kappa": self.kappa,
        }
        if self.fit is not None:
            record["fit"] = self.fit.record()
        if self.fhs:
            record["n_residuals"] = int(self.residuals.shape[0])
        return record
