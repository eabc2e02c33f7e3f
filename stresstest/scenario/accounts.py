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
from typing import Any

from stresstest.errors import InputError
from stresstest.limits import AMOUNT_MAX, AMOUNT_MIN, PRICE_MAX, PRICE_MIN
from stresstest.scenario import schema
from stresstest.scenario.schema import MAX_PATHS, MAX_STEPS, check_gbm_band, spec

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
    s0: list[float] = spec(
        f"Price of each asset at step 0 ({PRICE_MIN:g} to {PRICE_MAX:g}).", unit="quote per base"
    )
    sigma: list[float] = spec(
        "Volatility of each asset's log returns (0 <= sigma < 1). With drift and n_steps it "
        "must keep each log price, to 8 standard deviations, within prices "
        f"{PRICE_MIN:g} to {PRICE_MAX:g}.",
        unit="per step",
    )
    drift: list[float] | None = spec(
        "Arithmetic drift mu of each asset (-1 < mu < 1). Absent: 0 for every asset.",
        default=None,
        unit="per step",
    )
    correlation: list[list[float]] = spec(
        "Correlation matrix of the per-step normal shocks, one row per asset: symmetric, unit "
        "diagonal, positive definite."
    )
    n_paths: int = spec("Number of paths.", ge=1, le=MAX_PATHS)
    n_steps: int = spec("Number of steps T after step 0.", ge=1, le=MAX_STEPS)


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
    n_steps: int = spec("Steps T per path.", ge=1, le=MAX_STEPS)
    n_paths: int | None = spec(
        "Number of paths (bootstrap only, required there).", default=None, ge=1, le=MAX_PATHS
    )
    mean_block: float = spec(
        "Mean block length of the bootstrap (bootstrap only).",
        default=24.0,
        unit="steps",
        ge=1.0,
        le=float(MAX_STEPS),
    )
    s0: list[float] | None = spec(
        "Price of each asset at step 0: every path is rescaled to start there "
        f"(P_t = s0 close_t / close_0), {PRICE_MIN:g} to {PRICE_MAX:g}. Absent: each asset's "
        "last common close.",
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
    n_paths: int = spec("Number of paths.", ge=1, le=MAX_PATHS)
    n_steps: int = spec("Number of steps T after step 0.", ge=1, le=MAX_STEPS)
    s0: list[float] | None = spec(
        f"Price of each asset at step 0, {PRICE_MIN:g} to {PRICE_MAX:g}. Absent: each asset's "
        "last common close.",
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
    n_accounts: int = spec("Number of accounts.", ge=1, le=MAX_PATHS)
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
        le=1000.0,
    )
    leverage_max: float = spec(
        "Upper bound of the log-uniform account leverage.", default=20.0, ge=1.0, le=1000.0
    )
    notional_median: float = spec(
        "Median gross entry notional of an account (lognormal).",
        default=20_000.0,
        unit="quote units",
        ge=AMOUNT_MIN,
        le=AMOUNT_MAX,
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
        f"Notional at which each bracket above the first starts, strictly ascending, "
        f"{AMOUNT_MIN:g} to {AMOUNT_MAX:g} (the first "
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


def is_accounts(paths: object, book: object) -> bool:
    """Whether a scenario with these ``[paths]`` and ``[book]`` tables is an accounts scenario.

    Multi-asset paths or an accounts book; :func:`check_accounts` refuses one without
    the other, so a loaded scenario has both or neither.
    """
    if getattr(book, "source", None) in ("loans_file", "loans_synthetic"):
        return False  # a lending scenario (stresstest.scenario.lending, docs/model.md 13)
    return isinstance(paths, MULTI_PATHS) or isinstance(book, ACCOUNT_BOOKS)


def is_accounts_scenario(scenario: schema.Scenario) -> bool:
    """True when the scenario has multi-asset ``[paths]`` and an accounts ``[book]``.

    Whether the two go together, and every accounts table, is checked when the
    scenario is loaded (:func:`check_accounts`). Here, not in the engine, so that
    the engine imports its accounts machinery only for accounts scenarios.
    """
    return is_accounts(scenario.paths, scenario.book)


def require_single_asset(scenario: schema.Scenario, command: str) -> None:
    """Refuse an accounts scenario for a ``command`` that runs single-asset scenarios only.

    Raises
    ------
    InputError
        Naming the scenario file, the ``book`` key and what the command needs.
    """
    lending = getattr(scenario.book, "source", None) in ("loans_file", "loans_synthetic")
    if is_accounts_scenario(scenario) or lending:
        raise InputError(
            f"{command} runs single-asset scenarios only",
            file=scenario.source_file,
            key="book",
            expected="a scenario with one asset's [paths] and [book]",
        )


def bracket_base_rate(margin: Any) -> tuple[str, float]:
    """The first bracket's rate ``r_0`` and its key: ``maintenance`` (static) or ``floor``.

    With vol-scaled margin the table is the requirement at the floor and the
    add-on ``(m_t - floor) q P`` applies on top of it (docs/model.md 11.4).
    """
    if isinstance(margin, schema.StaticMargin):
        return "margin.maintenance", float(margin.maintenance)
    return "margin.floor", float(margin.floor)


#: Optional tables of accounts scenarios: name -> dataclass (absent: None on the Scenario).
ACCOUNTS_TABLES: dict[str, type] = {"accounts": AccountsTable}

#: The multi-asset variants of the variant tables: table name -> {value: dataclass}
#: (composed with the others in :data:`stresstest.scenario.tables.VARIANT_TABLES`).
ACCOUNTS_VARIANTS: dict[str, dict[str, type]] = {
    "paths": {
        "gbm_multi": GbmMultiPaths,
        "historical_multi": HistoricalMultiPaths,
        "fhs_multi": FhsMultiPaths,
    },
    "book": {"accounts_synthetic": AccountsSyntheticBook, "accounts_file": AccountsFileBook},
}


# ----------------------------------------------------------------------------- checks
def check_accounts(built: dict[str, Any], raw: dict[str, Any], file: Path | None) -> None:
    """Load-time checks of accounts scenarios; raises :class:`InputError`.

    - ``[accounts]`` belongs to accounts scenarios only: in a single-asset scenario it
      would be ignored (yet written into ``scenario.resolved.toml``);
    - multi-asset paths and an accounts book go together;
    - every per-asset list of ``[paths]`` has one entry per asset, in range, and GBM
      prices stay in the price range (:func:`stresstest.scenario.schema.check_gbm_band`);
    - the bracket lists of ``[accounts]`` form a valid tiered table.

    Parameters
    ----------
    built
        The scenario's tables built so far, by name.
    raw
        The scenario as read, to tell an absent ``[accounts]`` table from an empty one.
    file
        The scenario file, for the message.
    """
    paths, book = built["paths"], built["book"]
    multi_paths, accounts_book = isinstance(paths, MULTI_PATHS), isinstance(book, ACCOUNT_BOOKS)
    if "accounts" in raw and not is_accounts(paths, book):
        raise InputError(
            "the [accounts] table applies to accounts scenarios only and would be ignored "
            "with single-asset paths",
            file=file,
            key="accounts",
            value=f"paths.source = {paths.source!r}",
            expected=(
                "a multi-asset [paths] source ('gbm_multi', 'historical_multi' or "
                "'fhs_multi') with an accounts [book], or no [accounts] table"
            ),
        )
    if accounts_book and not multi_paths:
        raise InputError(
            "an accounts book needs multi-asset paths",
            file=file,
            key="paths.source",
            value=paths.source,
            expected="'gbm_multi', 'historical_multi' or 'fhs_multi'",
        )
    if getattr(book, "source", None) in ("loans_file", "loans_synthetic"):
        return  # checked by stresstest.scenario.lending.check_lending
    if multi_paths and not accounts_book:
        raise InputError(
            "multi-asset paths need an accounts book",
            file=file,
            key="book.source",
            value=book.source,
            expected="'accounts_synthetic' or 'accounts_file'",
        )
    if multi_paths:
        _check_multi_paths(paths, file)
    if built.get("accounts") is not None:
        _check_brackets(built["accounts"], built["margin"], file)


def _per_asset(
    values: Any,
    assets: list[str],
    key: str,
    file: Path | None,
    low: float,
    high: float,
    *,
    open_ends: str = "",
) -> None:
    """Refuse a per-asset list of the wrong length or with an entry out of range.

    ``open_ends`` holds ``"low"`` and/or ``"high"`` for bounds that are excluded.
    """
    if len(values) != len(assets):
        raise InputError(
            f"{len(values)} value(s) for {len(assets)} assets",
            file=file,
            key=f"paths.{key}",
            value=list(values),
            expected=f"{len(assets)} numbers, one per asset of paths.assets {list(assets)}",
        )
    low_open, high_open = "low" in open_ends, "high" in open_ends
    for asset, value in zip(assets, values, strict=True):
        above = low < value if low_open else low <= value
        below = value < high if high_open else value <= high
        if not (above and below):
            interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
            raise InputError(
                f"out of range for asset {asset}",
                file=file,
                key=f"paths.{key}",
                value=value,
                expected=f"numbers in {interval}",
            )


def _check_multi_paths(paths: Any, file: Path | None) -> None:
    assets = list(paths.assets)
    if paths.s0 is not None:
        _per_asset(paths.s0, assets, "s0", file, PRICE_MIN, PRICE_MAX)
    if isinstance(paths, (HistoricalMultiPaths, FhsMultiPaths)) and len(paths.data) != len(assets):
        raise InputError(
            f"{len(paths.data)} data files for {len(assets)} assets",
            file=file,
            key="paths.data",
            value=list(paths.data),
            expected=f"{len(assets)} candle files, one per asset of paths.assets {assets}",
        )
    if not isinstance(paths, GbmMultiPaths):
        return
    _per_asset(paths.sigma, assets, "sigma", file, 0.0, 1.0, open_ends="high")
    drift = paths.drift if paths.drift is not None else [0.0] * len(assets)
    _per_asset(drift, assets, "drift", file, -1.0, 1.0, open_ends="low high")
    for asset, s0, sigma, mu in zip(assets, paths.s0, paths.sigma, drift, strict=True):
        check_gbm_band(s0, sigma, mu, paths.n_steps, asset=asset, file=file)


def _check_brackets(table: AccountsTable, margin: Any, file: Path | None) -> None:
    """The tiered maintenance table: each problem named for what it is."""
    floors, rates = table.bracket_floor, table.bracket_rate
    if floors is None and rates is None:
        return
    if floors is None or rates is None:
        given, missing = ("bracket_rate", "bracket_floor") if floors is None else (
            "bracket_floor", "bracket_rate")  # fmt: skip
        raise InputError(
            f"accounts.{given} is given without accounts.{missing}",
            file=file,
            key=f"accounts.{missing}",
            expected=f"both lists, of the same length (one {missing} per {given})",
        )
    if not floors:
        raise InputError(
            "no brackets: the lists are empty",
            file=file,
            key="accounts.bracket_floor",
            value=[],
            expected="at least one bracket above the first, or neither list",
        )
    if len(floors) != len(rates):
        raise InputError(
            f"{len(rates)} bracket rate(s) for {len(floors)} bracket floor(s)",
            file=file,
            key="accounts.bracket_rate",
            value=list(rates),
            expected=f"{len(floors)} rates, one per bracket_floor",
        )
    for index, floor in enumerate(floors):
        if not AMOUNT_MIN <= floor <= AMOUNT_MAX:
            raise InputError(
                f"bracket floor {index + 1} out of range",
                file=file,
                key="accounts.bracket_floor",
                value=floor,
                expected=f"notionals from {AMOUNT_MIN:g} to {AMOUNT_MAX:g} quote units",
            )
        if index and not floor > floors[index - 1]:
            raise InputError(
                f"bracket floor {index + 1} is not above floor {index} ({floors[index - 1]:g})",
                file=file,
                key="accounts.bracket_floor",
                value=floor,
                expected="strictly ascending notionals",
            )
    base_name, base_rate = bracket_base_rate(margin)
    for index, rate in enumerate(rates):
        if not rate < 1.0:
            raise InputError(
                f"bracket rate {index + 1} is not below 1 (a rate of 1 or more requires "
                "the whole notional or more)",
                file=file,
                key="accounts.bracket_rate",
                value=rate,
                expected="rates < 1 (fraction of notional)",
            )
        previous_name, previous = (
            (base_name, base_rate) if index == 0 else (f"rate {index}", rates[index - 1])
        )
        if not rate >= previous:
            raise InputError(
                f"bracket rate {index + 1} is below {previous_name} ({previous:g}): rates "
                "must not fall as the notional grows",
                file=file,
                key="accounts.bracket_rate",
                value=rate,
                expected=f"non-decreasing rates >= {base_name} ({base_rate:g}), < 1",
            )
