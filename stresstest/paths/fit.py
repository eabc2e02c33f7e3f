"""GARCH-family fits with arch, and the constants the simulation kernel needs.

Everything is in arch's units: returns in percent (``r = 100 ln(P_t / P_{t-1})``),
``mu`` in percent per step, ``omega`` in percent^2 (GARCH, GJR) or ln percent^2
(EGARCH). Parameter names are arch's, shortened: ``alpha[1]`` -> ``alpha``,
``gamma[1]`` -> ``gamma``, ``beta[1]`` -> ``beta``; the skewed t's degrees of
freedom, arch's ``eta``, are called ``nu`` like the Student-t's. See docs/paths.md.
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from stresstest.data import Candles, contiguous_segments, log_returns_segments
from stresstest.errors import InputError
from stresstest.kernels import enums

#: Fewest returns a fit accepts.
MIN_RETURNS = 250

MODELS: dict[str, int] = {
    "garch": enums.VOL_GARCH,
    "gjr": enums.VOL_GJR,
    "egarch": enums.VOL_EGARCH,
}
DISTS: dict[str, int] = {"normal": enums.DIST_NORMAL, "t": enums.DIST_T, "skewt": enums.DIST_SKEWT}
#: arch's name of each innovation distribution of DISTS (the same words).
_ARCH_DISTS: dict[str, Literal["normal", "t", "skewt"]] = {
    "normal": "normal",
    "t": "t",
    "skewt": "skewt",
}
_ARCH_TO_OURS = {"alpha[1]": "alpha", "gamma[1]": "gamma", "beta[1]": "beta", "eta": "nu"}
_UNITS = {
    "mu": "percent per step",
    "omega": "percent^2",
    "alpha": "",
    "gamma": "",
    "beta": "",
    "nu": "degrees of freedom",
    "lambda": "skewness, -1..1",
}


def parameter_names(model: str, dist: str, mean: str) -> tuple[str, ...]:
    """The parameters of a model, in arch's order and our names."""
    names = ["mu"] if mean == "constant" else []
    names += ["omega", "alpha"] + (["gamma"] if model in ("gjr", "egarch") else []) + ["beta"]
    names += {"normal": [], "t": ["nu"], "skewt": ["nu", "lambda"]}[dist]
    return tuple(names)


def parameter_unit(name: str, model: str) -> str:
    """Unit of a parameter (``omega`` is in ln percent^2 for EGARCH)."""
    return "ln percent^2" if (name == "omega" and model == "egarch") else _UNITS[name]


# ----------------------------------------------------------------------------- distributions
def skew_t_constants(nu: float, lam: float) -> tuple[float, float]:
    """Hansen's ``(a, b)``: ``a = 4 lam c (nu - 2) / (nu - 1)``, ``b = sqrt(1 + 3 lam^2 - a^2)``,
    ``c = Gamma((nu + 1) / 2) / (sqrt(pi (nu - 2)) Gamma(nu / 2))``; as arch computes them."""
    a = 4 * lam * math.exp(_log_c(nu)) * (nu - 2) / (nu - 1)
    return a, math.sqrt(1 + 3 * lam**2 - a**2)


def _log_c(nu: float) -> float:
    from scipy import special  # scipy only where a t or skewed t density is evaluated

    return (
        float(special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2))
        - math.log(math.pi * (nu - 2)) / 2
    )


def skew_t_pdf(z: np.ndarray | float, nu: float, lam: float) -> np.ndarray | float:
    """Density of Hansen's skewed t with unit variance (arch's SkewStudent)."""
    a, b = skew_t_constants(nu, lam)
    z = np.asarray(z, dtype=float)
    scaled = (b * z + a) / (1 + np.sign(z + a / b) * lam)
    return b * math.exp(_log_c(nu)) * (1 + scaled**2 / (nu - 2)) ** (-(nu + 1) / 2)


def innovation_moments(
    dist: str, nu: float = 0.0, lam: float = 0.0, *, mean_abs: bool = True
) -> tuple[float, float]:
    """``(kappa, E|z|)``: ``kappa = E[z^2 1{z < 0}]`` and the mean absolute innovation.

    Normal: ``(1/2, sqrt(2/pi))``. Unit-variance Student-t: ``(1/2,
    sqrt(nu - 2) Gamma((nu - 1)/2) / (sqrt(pi) Gamma(nu/2)))``. Skewed t: both by
    numerical integration of the density on each side of its kink at ``-a/b``.
    With ``mean_abs=False`` a Student-t's ``E|z|`` is not computed (NaN): only
    EGARCH reads it (:func:`unconditional_state`), and the other models then need
    no scipy import (about 0.4 s of a command's start).
    """
    if dist == "normal":
        return 0.5, math.sqrt(2.0 / math.pi)
    if dist == "t" and not mean_abs:
        return 0.5, math.nan
    from scipy import integrate, special  # only for the t and skewed t moments

    if dist == "t":
        log_ratio = special.gammaln((nu - 1) / 2) - special.gammaln(nu / 2)
        return 0.5, math.sqrt((nu - 2) / math.pi) * math.exp(log_ratio)
    a, b = skew_t_constants(nu, lam)
    kink = -a / b

    def integral(function: Any, low: float, high: float) -> float:
        return float(integrate.quad(function, low, high, epsabs=1e-13, epsrel=1e-11, limit=200)[0])

    def square(z: float) -> float:
        return z * z * float(skew_t_pdf(z, nu, lam))

    def absolute(z: float) -> float:
        return abs(z) * float(skew_t_pdf(z, nu, lam))

    low, high = min(kink, 0.0), max(kink, 0.0)
    kappa = integral(square, -np.inf, low) + integral(square, low, 0.0)
    pieces = ((-np.inf, low), (low, high), (high, np.inf))
    e_abs = sum(integral(absolute, lo, hi) for lo, hi in pieces)
    return kappa, e_abs


def empirical_moments(residuals: np.ndarray) -> tuple[float, float]:
    """``(kappa, E|z|)`` of an array of standardized residuals: sample means."""
    return float(np.mean(residuals**2 * (residuals < 0))), float(np.mean(np.abs(residuals)))


# ----------------------------------------------------------------------------- checks
def check_params(
    params: dict[str, float], model: str, dist: str, mean: str, file: Path | None, key: str
) -> dict[str, float]:
    """Check a ``params`` table against the model; return it with ``gamma = 0`` for GARCH.

    Raises
    ------
    InputError
        A missing or unknown parameter, or a value outside the model's domain:
        ``omega > 0``, ``alpha >= 0``, ``alpha + gamma >= 0``, ``beta >= 0`` (GARCH,
        GJR), ``|beta| < 1`` (EGARCH), ``nu > 2``, ``-1 < lambda < 1``.
    """
    names = parameter_names(model, dist, mean)
    for name in params:
        if name not in names:
            raise InputError(
                "unknown or unused parameter",
                file=file,
                key=f"{key}.{name}",
                value=params[name],
                expected=f"the parameters of model={model!r}, dist={dist!r}, mean={mean!r}: "
                + ", ".join(names),
            )
    for name in names:
        if name not in params:
            raise InputError(
                "missing parameter", file=file, key=f"{key}.{name}", expected=_domain(name, model)
            )
    full = {"mu": 0.0, "gamma": 0.0, "nu": 0.0, "lambda": 0.0, **params}
    for name in names:
        if not _in_domain(name, full, model):
            raise InputError(
                "parameter out of range",
                file=file,
                key=f"{key}.{name}",
                value=full[name],
                expected=_domain(name, model),
            )
    return full


def _in_domain(name: str, p: dict[str, float], model: str) -> bool:
    value = p[name]
    if name == "omega":
        return model == "egarch" or value > 0
    if name == "alpha":
        return model == "egarch" or value >= 0
    if name == "gamma":
        return model == "egarch" or p["alpha"] + value >= 0
    if name == "beta":
        return -1 < value < 1 if model == "egarch" else value >= 0
    if name == "nu":
        return value > 2
    if name == "lambda":
        return -1 < value < 1
    return True  # mu


def _domain(name: str, model: str) -> str:
    egarch = model == "egarch"
    return {
        "mu": "a number (percent per step)",
        "omega": "a number (ln percent^2)" if egarch else "a number > 0 (percent^2)",
        "alpha": "a number" if egarch else "a number >= 0",
        "gamma": "a number" if egarch else "a number with alpha + gamma >= 0",
        "beta": "a number in (-1, 1)" if egarch else "a number >= 0",
        "nu": "a number > 2 (degrees of freedom)",
        "lambda": "a number in (-1, 1)",
    }[name]


def persistence(model: str, params: dict[str, float], kappa: float) -> float:
    """``alpha + kappa gamma + beta`` (GARCH, GJR) or ``beta`` (EGARCH)."""
    if model == "egarch":
        return params["beta"]
    return params["alpha"] + kappa * params["gamma"] + params["beta"]


def unconditional_state(
    model: str, params: dict[str, float], kappa: float, e_abs: float
) -> float | None:
    """The long-run state, or ``None`` if the model is not stationary.

    GARCH, GJR: ``sigma^2 = omega / (1 - alpha - kappa gamma - beta)`` (percent^2).
    EGARCH: the stationary mean of ``ln sigma^2``,
    ``(omega + alpha (E|z| - sqrt(2/pi))) / (1 - beta)``.
    """
    rho = persistence(model, params, kappa)
    if model == "egarch":
        if not -1 < rho < 1:
            return None
        return (params["omega"] + params["alpha"] * (e_abs - math.sqrt(2 / math.pi))) / (1 - rho)
    if rho >= 1:
        return None
    return params["omega"] / (1 - rho)


# ----------------------------------------------------------------------------- resolution
_RESOLUTION = re.compile(r"^\s*(\d+)\s*(s|m|min|h|d)\s*$")
_UNIT_MS = {"s": 1_000, "m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_resolution(text: str) -> int:
    """``"1h"`` -> 3_600_000: a bar length in milliseconds (``s``, ``m``/``min``, ``h``, ``d``)."""
    match = _RESOLUTION.match(text)
    if match is None or int(match.group(1)) == 0:
        raise InputError(
            "unknown resolution", key="resolution", value=text, expected="e.g. 1m, 15m, 1h, 4h, 1d"
        )
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def at_resolution(candles: Candles, resolution_ms: int) -> Candles:
    """The closes at a coarser, whole multiple of the candles' bar length.

    A coarse bar ``[T, T + resolution)`` (``T`` a multiple of the resolution since
    1970-01-01 UTC) is kept when the fine bar opening at ``T + resolution - step``
    exists; its close is that bar's close. Open, high, low and volume are
    dropped; coarse bars with no such fine bar are gaps.
    """
    step = candles.step_ms
    if resolution_ms == step:
        return candles
    if resolution_ms < step or resolution_ms % step:
        raise InputError(
            "resolution not a whole multiple of the data's bar length",
            file=candles.path,
            key="resolution",
            value=f"{resolution_ms} ms",
            expected=f"a multiple of {step} ms",
        )
    times = candles.timestamp.astype(np.int64)
    keep = (times + step) % resolution_ms == 0
    if keep.sum() < 2:
        raise InputError(
            "fewer than two bars at this resolution", file=candles.path, value=f"{resolution_ms} ms"
        )
    coarse = (times[keep] + step - resolution_ms).astype("datetime64[ms]")
    close = candles.close[keep]
    spacing = np.diff(coarse.astype(np.int64))
    from stresstest.data import Gap

    gaps = [
        Gap(int(i), coarse[i], coarse[i + 1], int(spacing[i] // resolution_ms) - 1)
        for i in np.flatnonzero(spacing > resolution_ms)
    ]
    return dataclasses.replace(
        candles,
        timestamp=coarse,
        close=close,
        open=None,
        high=None,
        low=None,
        volume=None,
        step_ms=resolution_ms,
        gaps=gaps,
    )


# ----------------------------------------------------------------------------- fit
@dataclass(frozen=True)
class GarchFit:
    """A converged arch fit, in our parameter names.

    Attributes
    ----------
    params, std_errors
        Estimates and robust (Bollerslev-Wooldridge) standard errors, arch's units.
    loglikelihood
        Maximized log-likelihood.
    n_returns, n_segments
        Percent log returns used and the gap-free segments they came from.
    first_bar, last_bar
        Open times (UTC, ISO) of the first and last bar used.
    next_variance
        The fit's forecast of ``sigma^2`` for the step after the last bar, percent^2.
    std_resid
        Standardized residuals ``(r_t - mu) / sigma_t``.
    last_close
        The last close used, quote per base.
    """

    model: str
    dist: str
    mean: str
    data: Path
    data_sha256: str
    params: dict[str, float]
    std_errors: dict[str, float]
    loglikelihood: float
    n_returns: int
    n_segments: int
    first_bar: str
    last_bar: str
    step_ms: int
    next_variance: float
    std_resid: np.ndarray
    last_close: float
    arch_version: str

    def record(self) -> dict[str, Any]:
        """TOML-ready description of the fit (for the resolved scenario)."""
        return {
            "model": self.model,
            "dist": self.dist,
            "mean": self.mean,
            "data": str(self.data),
            "data_sha256": self.data_sha256,
            "first_bar": self.first_bar,
            "last_bar": self.last_bar,
            "bar_ms": self.step_ms,
            "n_returns": self.n_returns,
            "n_segments": self.n_segments,
            "loglikelihood": self.loglikelihood,
            "params": dict(self.params),
            "std_errors": dict(self.std_errors),
            "next_variance": self.next_variance,
            "arch_version": self.arch_version,
        }


def _arch_model(returns: np.ndarray, model: str, dist: str, mean: str, *, dist_name: str) -> Any:
    from arch import arch_model

    return arch_model(
        returns,
        mean="Constant" if mean == "constant" else "Zero",
        vol="EGARCH" if model == "egarch" else "GARCH",
        p=1,
        o=0 if model == "garch" else 1,
        q=1,
        dist=_ARCH_DISTS[dist_name],
        rescale=False,
    )


def _fit_once(model_object: Any, start: np.ndarray | None) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is judged from the flags below
        return model_object.fit(disp="off", starting_values=start, show_warning=False)


def _shape_starts(dist: str) -> list[float]:
    return {"normal": [], "t": [6.0], "skewt": [6.0, 0.0]}[dist]


def _moved(result: Any) -> bool:
    """False when SLSQP stopped at its starting point (one gradient evaluation)."""
    return int(getattr(result.optimization_result, "njev", 2)) > 1


def _candidate(target: Any, start: np.ndarray | None) -> tuple[Any | None, int]:
    """One start: ``(accepted result or None, first convergence flag)``.

    A run is accepted when the optimizer moved from its start and then a restart
    from its estimate reports convergence (flag 0) without a lower likelihood,
    or, failing that, when the first run itself reported convergence.
    """
    first = _fit_once(target, start)
    flag = int(first.convergence_flag)
    if not _moved(first) or not np.all(np.isfinite(np.asarray(first.params))):
        return None, flag
    polished = _fit_once(target, np.asarray(first.params))
    if polished.convergence_flag == 0 and polished.loglikelihood >= first.loglikelihood:
        return polished, flag
    return (first if flag == 0 else None), flag


def _in_percent(
    result: Any, scale: float, model: str
) -> tuple[dict[str, float], dict[str, float], float]:
    """Parameters, standard errors and log-likelihood of a fit to ``scale x`` percent returns,
    converted to percent returns (the MLE is equivariant under rescaling)."""
    values = {_ARCH_TO_OURS.get(k, k): float(v) for k, v in result.params.items()}
    errors = {_ARCH_TO_OURS.get(k, k): float(v) for k, v in result.std_err.items()}
    log_scale = math.log(scale)
    if "mu" in values:
        values["mu"] /= scale
        errors["mu"] /= scale
    if model == "egarch":
        # ln s'^2 = ln s^2 + 2 ln c: omega = omega' - 2 ln c (1 - beta)
        values["omega"] -= 2.0 * log_scale * (1.0 - values["beta"])
        cov = np.asarray(result.param_cov)
        names = [_ARCH_TO_OURS.get(k, k) for k in result.params.index]
        i, j = names.index("omega"), names.index("beta")
        g = 2.0 * log_scale
        variance = cov[i, i] + g * g * cov[j, j] + 2.0 * g * cov[i, j]
        errors["omega"] = math.sqrt(max(variance, 0.0))
    else:
        values["omega"] /= scale**2
        errors["omega"] /= scale**2
    loglikelihood = float(result.loglikelihood) + result.nobs * log_scale
    return values, errors, loglikelihood


#: Scales applied to the percent returns before fitting (undone afterwards): arch's
#: optimizer is well conditioned when the returns' variance is between 1 and 1000.
FIT_SCALES = (1.0, 10.0)


def fit_garch(
    candles: Candles, model: str, dist: str, mean: str, *, key: str = "paths.data"
) -> GarchFit:
    """Fit a GARCH-family model with arch to the percent log returns of ``candles``.

    Returns are taken within gap-free segments only (docs/data.md) and the
    segments' returns are concatenated: the variance recursion runs on across a
    gap (a handful of joins in a long history), no return spans one.

    arch's SLSQP optimizer sometimes stops at its starting point and reports
    success (hourly percent returns have a variance below 1, which it handles
    poorly). So the fit is run on the percent returns and on 10 x them, each
    from arch's own start and from the Gaussian fit's estimate (plus, for GJR,
    the symmetric fit's with ``gamma = 0``); a run counts only if the optimizer
    moved and converged (see :func:`_candidate`); estimates are converted back
    to percent returns and the highest likelihood wins.

    Raises
    ------
    InputError
        Fewer than ``MIN_RETURNS`` returns, or no run converges; names the file.
    """
    import arch

    returns, _ = log_returns_segments(candles)
    n_segments = sum(1 for lo, hi in contiguous_segments(candles) if hi - lo >= 2)
    if returns.shape[0] < MIN_RETURNS:
        raise InputError(
            "too few returns to fit a GARCH model",
            file=candles.path,
            key=key,
            value=int(returns.shape[0]),
            expected=f"at least {MIN_RETURNS} returns within gap-free segments",
        )
    best: tuple[float, Any, float] | None = None
    flags: list[int] = []
    for scale in FIT_SCALES:
        y = (100.0 * scale) * returns
        target = _arch_model(y, model, dist, mean, dist_name=dist)
        starts: list[np.ndarray | None] = [None]
        gaussian = _fit_once(_arch_model(y, model, "normal", mean, dist_name="normal"), None)
        if gaussian.convergence_flag == 0 and dist != "normal":
            starts.append(np.r_[np.asarray(gaussian.params), _shape_starts(dist)])
        if model == "gjr":
            symmetric = _fit_once(_arch_model(y, "garch", dist, mean, dist_name=dist), None)
            if symmetric.convergence_flag == 0:
                values = np.asarray(symmetric.params)
                split = 2 + (mean == "constant")  # after mu, omega, alpha
                starts.append(np.r_[values[:split], 0.0, values[split:]])
        for start in starts:
            result, flag = _candidate(target, start)
            flags.append(flag)
            if result is None:
                continue
            loglikelihood = _in_percent(result, scale, model)[2]
            if best is None or loglikelihood > best[0]:
                best = (loglikelihood, result, scale)
    if best is None:
        raise InputError(
            "GARCH fit did not converge",
            file=candles.path,
            key=key,
            value=f"arch convergence_flag {flags} over {len(flags)} runs",
            expected=f"data on which arch can fit model={model!r}, dist={dist!r}, mean={mean!r}; "
            "try another window, model or distribution",
        )
    loglikelihood, result, scale = best
    params, errors, _ = _in_percent(result, scale, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        forecast = result.forecast(horizon=1, reindex=False)
    std_resid = np.asarray(result.std_resid, dtype=np.float64)
    return GarchFit(
        model=model,
        dist=dist,
        mean=mean,
        data=candles.path,
        data_sha256=candles.sha256,
        params=params,
        std_errors=errors,
        loglikelihood=loglikelihood,
        n_returns=int(returns.shape[0]),
        n_segments=n_segments,
        first_bar=str(candles.timestamp[0].astype("datetime64[s]")) + "Z",
        last_bar=str(candles.timestamp[-1].astype("datetime64[s]")) + "Z",
        step_ms=candles.step_ms,
        next_variance=float(np.asarray(forecast.variance)[-1, 0]) / scale**2,
        std_resid=std_resid[np.isfinite(std_resid)],
        last_close=float(candles.close[-1]),
        arch_version=arch.__version__,
    )
