"""Scenario tables of accounts across several assets (docs/model.md 11).

An accounts scenario pairs a multi-asset ``[paths]`` source (``gbm_multi``,
``historical_multi``, ``fhs_multi``) with an accounts ``[book]`` (``accounts_synthetic``,
``accounts_file``) and the optional ``[accounts]`` table (margin mode and
tiered maintenance brackets). It runs on its own engine
(:mod:`stresstest.engine.accounts`); single-asset scenarios are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stresstest.scenario import schema
from stresstest.scenario.schema import spec

_ASSETS = spec(
    "Asset names, in the order every per-asset list follows (e.g. ['BTC', 'ETH']); an "
    "accounts book names its assets from this list."
)


# ----------------------------------------------------------------------------- [paths]
@dataclass(frozen=True, kw_only=True)
class GbmMultiPaths:
    """``[paths] source = "gbm_multi"``: correlated geometric Brownian motions."""

    source: str = spec("Path source.", default="gbm_multi", choices=("gbm_multi",))
    assets: list[str] = _ASSETS
    s0: list[float] = spec("Price of each asset at step 0 (> 0).", unit="quote per base")
    sigma: list[float] = spec(
        "Volatility of each asset's log returns (0 <= sigma < 1).", unit="per step"
    )
    drift: list[float] | None = spec(
        "Arithmetic drift mu of each asset. Absent: 0 for every asset.",
        default=None,
        unit="per step",
    )
    correlation: list[list[float]] = spec(
        "Correlation matrix of the per-step normal shocks, one row per asset: symmetric, unit "
        "diagonal, positive definite."
    )
    n_paths: int = spec("Number of paths.", ge=1, le=100_000_000)
    n_steps: int = spec("Number of steps T after step 0.", ge=1, le=10_000_000)


@dataclass(frozen=True, kw_only=True)
class HistoricalMultiPaths:
    """``[paths] source = "historical_multi"``: joint windows or joint block bootstrap."""

    source: str = spec("Path source.", default="historical_multi", choices=("historical_multi",))
    assets: list[str] = _ASSETS
    data: list[str] = spec(
        "One candle file per asset (docs/data.md), relative to the scenario file. Bars are "
        "aligned on their open time; only hours every file has are used and no path joins "
        "two gap-free runs."
    )
    mode: str = spec(
        "'windows' (every gap-free joint window of n_steps + 1 closes) or 'bootstrap' "
        "(stationary block bootstrap of joint return vectors).",
        choices=("windows", "bootstrap"),
    )
    start: str | None = spec(
        "Open time of the first bar used (inclusive), ISO, UTC. Absent: the first common bar.",
        default=None,
    )
    end: str | None = spec(
        "Open time after the last bar used (exclusive). Absent: after the last common bar.",
        default=None,
    )
    n_steps: int = spec("Steps T per path.", ge=1, le=10_000_000)
    n_paths: int | None = spec(
        "Number of paths (bootstrap only, required there).", default=None, ge=1, le=100_000_000
    )
    mean_block: float = spec(
        "Mean block length of the bootstrap (bootstrap only).", default=24.0, unit="steps", ge=1.0
    )
    s0: list[float] | None = spec(
        "Price of each asset at step 0: every path is rescaled to start there "
        "(P_t = s0 close_t / close_0). Absent: each asset's last common close.",
        default=None,
        unit="quote per base",
    )


@dataclass(frozen=True, kw_only=True)
class FhsMultiPaths:
    """``[paths] source = "fhs_multi"``: filtered historical simulation of several assets."""

    source: str = spec("Path source.", default="fhs_multi", choices=("fhs_multi",))
    assets: list[str] = _ASSETS
    data: list[str] = spec(
        "One candle file per asset (docs/data.md), relative to the scenario file. Bars are "
        "aligned on their open time; each asset's model is fitted on the returns of the hours "
        "every file has, within gap-free joint runs."
    )
    model: str = spec(
        "Variance model of every asset: GARCH(1,1), GJR-GARCH(1,1,1) or EGARCH(1,1,1), as in "
        "arch (each asset has its own fitted parameters).",
        default="gjr",
        choices=("garch", "gjr", "egarch"),
    )
    dist: str = spec(
        "Distribution the fits' likelihood assumes ('normal' is Gaussian quasi-likelihood); "
        "the simulation draws whole rows of the fits' joint standardized residuals.",
        default="normal",
        choices=("normal", "t", "skewt"),
    )
    mean: str = spec(
        "Mean of each percent return: 'zero' (mu = 0) or 'constant' (mu fitted per asset).",
        default="zero",
        choices=("zero", "constant"),
    )
    start: str | None = spec(
        "Open time of the first bar used (inclusive), ISO, UTC. Absent: the first common bar.",
        default=None,
    )
    end: str | None = spec(
        "Open time after the last bar used (exclusive). Absent: after the last common bar.",
        default=None,
    )
    start_variance: str = spec(
        "Variance of each asset's first step: 'fitted' (the fit's forecast for the hour after "
        "the last common bar) or 'unconditional' (the model's long-run level with the "
        "residuals' own moments; needs a stationary fit).",
        default="fitted",
        choices=("fitted", "unconditional"),
    )
    n_paths: int = spec("Number of paths.", ge=1, le=100_000_000)
    n_steps: int = spec("Number of steps T after step 0.", ge=1, le=10_000_000)
    s0: list[float] | None = spec(
        "Price of each asset at step 0. Absent: each asset's last common close.",
        default=None,
        unit="quote per base",
    )


# ----------------------------------------------------------------------------- [book]
@dataclass(frozen=True, kw_only=True)
class AccountsFileBook:
    """``[book] source = "accounts_file"``: one row per position of an account."""

    source: str = spec("Book source.", default="accounts_file", choices=("accounts_file",))
    file: Path = spec(
        "Parquet or CSV with columns account (int >= 0), asset (a name of paths.assets), "
        "side ('long'/'short'), qty (> 0, base units), entry_price (> 0, quote per base), "
        "collateral (>= 0, quote units: the position's isolated margin; an account in cross "
        "mode pools its positions' collateral) and optionally mode ('isolated'/'cross', the "
        "same on every row of an account; absent: cross). Relative to the scenario file.",
        is_file=True,
    )


@dataclass(frozen=True, kw_only=True)
class AccountsSyntheticBook:
    """``[book] source = "accounts_synthetic"``: seeded random accounts (docs/model.md 11.2)."""

    source: str = spec(
        "Book source.", default="accounts_synthetic", choices=("accounts_synthetic",)
    )
    n_accounts: int = spec("Number of accounts.", ge=1, le=100_000_000)
    legs: int = spec(
        "Positions per account, in distinct assets (at most the number of assets).",
        default=2,
        ge=1,
        le=64,
    )
    long_fraction: float = spec(
        "Probability that an account's first leg is long.", default=0.5, ge=0.0, le=1.0
    )
    hedged_fraction: float = spec(
        "Probability that an account is hedged: its other legs take the side opposite to the "
        "first (a pairs trade); otherwise every leg has the first leg's side.",
        default=0.5,
        ge=0.0,
        le=1.0,
    )
    leverage_min: float = spec(
        "Lower bound of the log-uniform account leverage (gross notional / collateral).",
        default=1.0,
        ge=1.0,
    )
    leverage_max: float = spec(
        "Upper bound of the log-uniform account leverage.", default=20.0, ge=1.0, le=1000.0
    )
    notional_median: float = spec(
        "Median gross entry notional of an account (lognormal).",
        default=20_000.0,
        unit="quote units",
        gt=0.0,
    )
    notional_sigma: float = spec(
        "Standard deviation of ln(gross notional).", default=1.5, ge=0.0, le=10.0
    )
    leg_sigma: float = spec(
        "Standard deviation of the log weights that split the gross notional over the legs "
        "(0: equal notional per leg).",
        default=0.2,
        ge=0.0,
        le=10.0,
    )
    entry_dispersion: float = spec(
        "Standard deviation of ln(entry_price / P_a,0) per position.", default=0.01, ge=0.0, le=1.0
    )
    cross_fraction: float = spec(
        "Probability that an account uses cross margin (else isolated).",
        default=1.0,
        ge=0.0,
        le=1.0,
    )


# ----------------------------------------------------------------------------- [accounts]
@dataclass(frozen=True, kw_only=True)
class AccountsTable:
    """``[accounts]``: margin mode of the accounts and tiered maintenance brackets."""

    mode: str = spec(
        "'book' (each account's own mode from the book), or 'isolated' / 'cross' for every "
        "account.",
        default="book",
        choices=("book", "isolated", "cross"),
    )
    bracket_floor: list[float] | None = spec(
        "Notional at which each bracket above the first starts, ascending, > 0 (the first "
        "bracket starts at 0 and uses margin.maintenance, or margin.floor with vol_scaled "
        "margin, whose add-on (m_t - floor) q P applies on top of the brackets).",
        default=None,
        unit="quote units",
    )
    bracket_rate: list[float] | None = spec(
        "Maintenance rate of each bracket above the first, one per bracket_floor, "
        "non-decreasing and >= margin.maintenance (vol_scaled: margin.floor), < 1.",
        default=None,
        unit="fraction of notional",
    )
    collateral_scale: float = spec(
        "Multiplies every position's collateral before the replay (1: as the book gives it; "
        "0.5: traders post half). With compare variants this measures the capital a margin "
        "mode saves (docs/cross-margin.md).",
        default=1.0,
        gt=0.0,
        le=100.0,
    )


MULTI_PATHS: tuple[type, ...] = (GbmMultiPaths, HistoricalMultiPaths, FhsMultiPaths)
ACCOUNT_BOOKS: tuple[type, ...] = (AccountsFileBook, AccountsSyntheticBook)

#: Optional tables of accounts scenarios: name -> dataclass (absent: None on the Scenario).
ACCOUNTS_TABLES: dict[str, type] = {"accounts": AccountsTable}

# Register the multi-asset variants with the scenario schema (validation, JSON Schema and
# docs/scenario-reference.md iterate over schema.VARIANT_TABLES).
schema.VARIANT_TABLES["paths"][1].update(
    {
        "gbm_multi": GbmMultiPaths,
        "historical_multi": HistoricalMultiPaths,
        "fhs_multi": FhsMultiPaths,
    }
)
schema.VARIANT_TABLES["book"][1].update(
    {"accounts_synthetic": AccountsSyntheticBook, "accounts_file": AccountsFileBook}
)
