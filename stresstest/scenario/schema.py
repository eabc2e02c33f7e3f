"""The scenario file's tables, as dataclasses whose field metadata is the schema.

Each table (or each variant of a table, chosen by its ``source`` or ``model``
key) is a frozen dataclass. A field's metadata says what is valid (bounds,
choices), its unit and what it means; :mod:`stresstest.scenario.validate` checks
TOML against it and the JSON Schema is generated from the same definitions.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from stresstest.limits import AMOUNT_MAX, AMOUNT_MIN, PRICE_MAX, PRICE_MIN, SEED_MAX

if TYPE_CHECKING:
    from stresstest.scenario.accounts import (
        AccountsFileBook,
        AccountsSyntheticBook,
        AccountsTable,
        FhsMultiPaths,
        GbmMultiPaths,
        HistoricalMultiPaths,
    )
    from stresstest.scenario.attribution import Attribution
    from stresstest.scenario.defences import Adl, Backstop, PartialLiquidation
    from stresstest.scenario.lending import LendingTable, LoansFileBook, LoansSyntheticBook
    from stresstest.scenario.mechanics import Market, Oracle
    from stresstest.scenario.procyclicality import Procyclicality

REQUIRED: Any = dataclasses.MISSING

#: Largest number of steps of a path, and so of every count of steps (latency, horizon,
#: window, lag), in steps.
MAX_STEPS = 10_000_000
#: Largest number of paths.
MAX_PATHS = 100_000_000
#: Largest variance of one step's log return (a 100% volatility per step), per step.
MAX_STEP_VARIANCE = 1.0
#: Unit of every variance key: the variance of one step's log return, a fraction squared.
VARIANCE_UNIT = "fraction squared per step"
#: Largest multiplier of a volatility (margin k, penalty fee_k), dimensionless.
MAX_VOL_MULTIPLIER = 1000.0


def spec(
    doc: str,
    *,
    default: Any = REQUIRED,
    unit: str | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: tuple[str, ...] | None = None,
    is_file: bool = False,
    nonzero_ge: float | None = None,
    hashed: bool = True,
) -> Any:
    """A scenario field: its meaning, default, unit and the values that are valid.

    ``ge``, ``gt``, ``le`` and ``lt`` bound the value; ``nonzero_ge`` further
    requires any value other than exactly 0 to be at least this (a money amount
    of 0 means none, but 1e-300 is taken for a unit mistake).
    """
    metadata = {
        "doc": doc,
        "unit": unit,
        "ge": ge,
        "gt": gt,
        "le": le,
        "lt": lt,
        "choices": choices,
        "is_file": is_file,
        "nonzero_ge": nonzero_ge,
    }
    # a table-valued field (a dict) cannot be hashed: it is left out of the hash (``hashed``)
    # but still compared, so equal tables stay equal keys of the engine's caches
    return dataclasses.field(default=default, metadata=metadata, hash=None if hashed else False)


# ----------------------------------------------------------------------------- [scenario]
@dataclass(frozen=True, kw_only=True)
class ScenarioInfo:
    """The ``[scenario]`` table."""

    name: str = spec("Name of the scenario, used in reports and default output folders.")
    seed: int = spec(
        "Seed from which every random draw derives (paths, synthetic book): an unsigned "
        "64-bit integer.",
        default=0,
        ge=0,
        le=SEED_MAX,
    )
    description: str = spec("Free text describing the scenario.", default="")


# ----------------------------------------------------------------------------- [paths]
@dataclass(frozen=True, kw_only=True)
class GbmPaths:
    """``[paths] source = "gbm"``: geometric Brownian motion."""

    source: str = spec("Path source.", default="gbm", choices=("gbm",))
    s0: float = spec("Price at step 0.", unit="quote per base", ge=PRICE_MIN, le=PRICE_MAX)
    sigma: float = spec(
        "Volatility of log returns. With drift and n_steps it must keep the log price, to 8 "
        f"standard deviations, within prices {PRICE_MIN:g} to {PRICE_MAX:g}.",
        unit="per step",
        ge=0.0,
        lt=1.0,
    )
    drift: float = spec(
        "Arithmetic drift mu; the log return has mean mu - sigma^2 / 2.",
        default=0.0,
        unit="per step",
        gt=-1.0,
        lt=1.0,
    )
    n_paths: int = spec("Number of paths.", ge=1, le=MAX_PATHS)
    n_steps: int = spec("Number of steps T after step 0.", ge=1, le=MAX_STEPS)


#: Standard deviations of the log price within which a GBM path must stay in price range.
GBM_BAND_SIGMAS = 8.0


def check_gbm_band(
    s0: float,
    sigma: float,
    drift: float,
    n_steps: int,
    *,
    table: str = "paths",
    asset: str | None = None,
    file: Path | None = None,
) -> None:
    """Refuse GBM parameters whose prices would leave ``[PRICE_MIN, PRICE_MAX]``.

    The log price is ``ln s0 + m t + sigma W_t`` with ``m = drift - sigma^2 / 2``
    per step. Over ``t <= n_steps`` it stays within ``ln s0 + min(0, m T) - 8 sigma
    sqrt(T)`` and ``ln s0 + max(0, m T) + 8 sigma sqrt(T)`` except with probability
    below 3e-15 per path (reflection principle: ``P(max W > a) = 2 P(W_T > a)``).
    Both ends must be prices the engine computes exactly; otherwise a run would
    overflow to ``inf`` or underflow to 0.

    Parameters
    ----------
    s0, sigma, drift
        Start price (quote per base), volatility and drift (per step).
    n_steps
        Steps ``T`` of a path.
    table, asset
        Where the parameters came from, for the message (``asset`` for multi-asset paths).
    file
        The scenario file, for the message.
    """
    from stresstest.errors import InputError

    mean = (drift - 0.5 * sigma * sigma) * n_steps
    spread = GBM_BAND_SIGMAS * sigma * math.sqrt(n_steps)
    low = math.log(s0) + min(0.0, mean) - spread
    high = math.log(s0) + max(0.0, mean) + spread
    if math.log(PRICE_MIN) <= low and high <= math.log(PRICE_MAX):
        return
    name = "drift" if abs(drift) * n_steps > spread + 0.5 * sigma * sigma * n_steps else "sigma"
    what = f" of asset {asset}" if asset is not None else ""
    raise InputError(
        f"prices{what} would leave the range the engine computes exactly: over {n_steps} "
        f"steps the log price spans ln s0 + (drift - sigma^2/2) T +- 8 sigma sqrt(T), "
        f"prices from {math.exp(max(low, -700.0)):.3g} to {math.exp(min(high, 700.0)):.3g}",
        file=file,
        key=f"{table}.{name}",
        value=drift if name == "drift" else sigma,
        expected=(
            f"a smaller drift, sigma or n_steps, or an s0 nearer the middle, so that prices "
            f"stay within {PRICE_MIN:g} to {PRICE_MAX:g} quote per base"
        ),
    )


@dataclass(frozen=True, kw_only=True)
class FilePaths:
    """``[paths] source = "file"``: prices in long format (path, step, price)."""

    source: str = spec("Path source.", default="file", choices=("file",))
    file: Path = spec(
        "Parquet or CSV with columns path (int), step (int), price (float > 0); every path "
        "has steps 0..T once, the same T for all. Relative to the scenario file.",
        is_file=True,
    )


_WINDOW_START = spec(
    "Open time of the first bar used (inclusive): an ISO date or time, UTC unless an offset "
    "is given. Absent: the file's first bar.",
    default=None,
)
_WINDOW_END = spec(
    "Open time after the last bar used (exclusive), like start. Absent: after the file's last bar.",
    default=None,
)
_S0 = "Price at step 0: every path is rescaled to start here (P_t = s0 * close_t / close_0)."
_GARCH_MODEL = spec(
    "Variance model: GARCH(1,1), GJR-GARCH(1,1,1) or EGARCH(1,1,1), as in arch.",
    default="gjr",
    choices=("garch", "gjr", "egarch"),
)
_GARCH_MEAN = spec(
    "Mean of the percent return: 'zero' (mu = 0) or 'constant' (mu fitted or given).",
    default="zero",
    choices=("zero", "constant"),
)
_START_VARIANCE = spec(
    "Variance of the first step: 'fitted' (the fit's forecast for the step after the data's "
    "last bar; needs data) or 'unconditional' (the model's long-run level; needs a stationary "
    "model). Absent: 'fitted' with data, 'unconditional' with params. See docs/paths.md.",
    default=None,
    choices=("fitted", "unconditional"),
)
_SIGMA0 = spec(
    "Conditional volatility of the first step, in arch's percent (0.5 is 0.5%, not 50%); "
    "overrides start_variance.",
    default=None,
    unit="percent per step",
    gt=0.0,
    le=100.0,
)


@dataclass(frozen=True, kw_only=True)
class HistoricalPaths:
    """``[paths] source = "historical"``: real closes, replayed, windowed or bootstrapped."""

    source: str = spec("Path source.", default="historical", choices=("historical",))
    mode: str = spec(
        "'replay' (one path: the window), 'windows' (every gap-free window of n_steps + 1 "
        "closes), 'bootstrap' (stationary block bootstrap of log returns) or 'events' (one "
        "path per crash event of data/events/events.toml).",
        choices=("replay", "windows", "bootstrap", "events"),
    )
    data: Path = spec(
        "Candle file, CSV or Parquet (docs/data.md); closes are used. Relative to the "
        "scenario file.",
        is_file=True,
    )
    start: str | None = _WINDOW_START
    end: str | None = _WINDOW_END
    n_steps: int | None = spec(
        "Steps T per path. Required for windows and bootstrap; replay: default the whole "
        "window; events: default the shortest event.",
        default=None,
        ge=1,
        le=MAX_STEPS,
    )
    n_paths: int | None = spec(
        "Number of paths (bootstrap only, required there).", default=None, ge=1, le=MAX_PATHS
    )
    mean_block: float | None = spec(
        "Mean block length of the bootstrap (bootstrap only). Absent: the Politis-White "
        "estimate for the squared returns.",
        default=None,
        unit="steps",
        ge=1.0,
        le=float(MAX_STEPS),
    )
    events: list[str] | None = spec(
        "Event names of data/events/events.toml (events only). Absent: every event.",
        default=None,
    )
    s0: float | None = spec(
        _S0 + " Absent: the data's last close (bootstrap) or each path's own first close.",
        default=None,
        unit="quote per base",
        ge=PRICE_MIN,
        le=PRICE_MAX,
    )


@dataclass(frozen=True, kw_only=True)
class GarchPaths:
    """``[paths] source = "garch"``: a GARCH-family model fitted with arch or given."""

    source: str = spec("Path source.", default="garch", choices=("garch",))
    model: str = _GARCH_MODEL
    dist: str = spec(
        "Innovation distribution: normal, Student-t or Hansen's skewed t (unit variance).",
        default="t",
        choices=("normal", "t", "skewt"),
    )
    mean: str = _GARCH_MEAN
    data: Path | None = spec(
        "Candle file to fit on (percent log returns of its gap-free segments). Relative to the "
        "scenario file. Give either data or params.",
        default=None,
        is_file=True,
    )
    start: str | None = _WINDOW_START
    end: str | None = _WINDOW_END
    params: dict[str, float] | None = spec(
        "Parameters in arch's names and units (percent returns): omega, alpha, beta, gamma "
        "(gjr, egarch), nu (t, skewt; arch's eta for skewt), lambda (skewt), mu (mean = "
        "'constant'). Give either data or params.",
        default=None,
    )
    start_variance: str | None = _START_VARIANCE
    sigma0: float | None = _SIGMA0
    n_paths: int = spec("Number of paths.", ge=1, le=MAX_PATHS)
    n_steps: int = spec("Number of steps T after step 0.", ge=1, le=MAX_STEPS)
    s0: float | None = spec(
        "Price at step 0. Absent: the data's last close (required with params).",
        default=None,
        unit="quote per base",
        ge=PRICE_MIN,
        le=PRICE_MAX,
    )


@dataclass(frozen=True, kw_only=True)
class FhsPaths:
    """``[paths] source = "fhs"``: filtered historical simulation on a fitted GARCH model."""

    source: str = spec("Path source.", default="fhs", choices=("fhs",))
    model: str = _GARCH_MODEL
    dist: str = spec(
        "Distribution the fit's likelihood assumes ('normal' is Gaussian quasi-likelihood); "
        "the simulation draws the fit's own standardized residuals.",
        default="normal",
        choices=("normal", "t", "skewt"),
    )
    mean: str = _GARCH_MEAN
    data: Path = spec("Candle file to fit on, relative to the scenario file.", is_file=True)
    start: str | None = _WINDOW_START
    end: str | None = _WINDOW_END
    start_variance: str | None = _START_VARIANCE
    sigma0: float | None = _SIGMA0
    n_paths: int = spec("Number of paths.", ge=1, le=MAX_PATHS)
    n_steps: int = spec("Number of steps T after step 0.", ge=1, le=MAX_STEPS)
    s0: float | None = spec(
        "Price at step 0. Absent: the data's last close.",
        default=None,
        unit="quote per base",
        ge=PRICE_MIN,
        le=PRICE_MAX,
    )


# ----------------------------------------------------------------------------- [book]
#: The columns of a book file, as ``[book.columns]`` names them (docs/model.md 2.1).
FILE_BOOK_COLUMNS = ("side", "qty", "entry_price", "collateral")


@dataclass(frozen=True, kw_only=True)
class FileBook:
    """``[book] source = "file"``: one row per position."""

    source: str = spec("Book source.", default="file", choices=("file",))
    file: Path = spec(
        "Parquet or CSV with columns side ('long'/'short', any case; 'buy'/'sell' too; "
        "optional: without it a negative qty is a short), qty (base units, != 0; negative "
        "only on a short), entry_price (> 0, quote per base), collateral (>= 0, quote "
        "units); other columns are ignored. Relative to the scenario file.",
        is_file=True,
    )
    columns: dict[str, str] | None = spec(
        "The file's names of the columns above, for an exchange's export: a table from "
        'side, qty, entry_price or collateral to a column name, e.g. {qty = "Size", '
        'entry_price = "Entry Price", collateral = "Margin"}. Unmapped columns keep '
        "their names.",
        default=None,
        hashed=False,
    )


@dataclass(frozen=True, kw_only=True)
class SyntheticBook:
    """``[book] source = "synthetic"``: a seeded random book (see docs/model.md)."""

    source: str = spec("Book source.", default="synthetic", choices=("synthetic",))
    n_positions: int = spec("Number of positions.", ge=1, le=1_000_000_000)
    long_fraction: float = spec("Probability that a position is long.", default=0.5, ge=0.0, le=1.0)
    leverage_min: float = spec(
        "Lower bound of the log-uniform leverage distribution.", default=1.0, ge=1.0, le=1000.0
    )
    leverage_max: float = spec(
        "Upper bound of the log-uniform leverage distribution.", default=50.0, ge=1.0, le=1000.0
    )
    notional_median: float = spec(
        "Median entry notional q * e (lognormal).",
        default=10_000.0,
        unit="quote units",
        ge=AMOUNT_MIN,
        le=AMOUNT_MAX,
    )
    notional_sigma: float = spec(
        "Standard deviation of ln(notional).", default=1.5, ge=0.0, le=10.0
    )
    entry_dispersion: float = spec(
        "Standard deviation of ln(entry_price / reference_price).", default=0.01, ge=0.0, le=1.0
    )
    reference_price: float = spec(
        "Centre of the entry prices; 0 means the price at step 0 (s0, or the mean step-0 "
        f"price of a path file); otherwise at least {PRICE_MIN:g}.",
        default=0.0,
        unit="quote per base",
        ge=0.0,
        le=PRICE_MAX,
        nonzero_ge=PRICE_MIN,
    )


# ----------------------------------------------------------------------------- [margin]
@dataclass(frozen=True, kw_only=True)
class StaticMargin:
    """``[margin] model = "static"``: a flat maintenance rate."""

    model: str = spec("Margin model.", default="static", choices=("static",))
    maintenance: float = spec("Maintenance rate m.", unit="fraction of notional", ge=0.0, lt=1.0)


@dataclass(frozen=True, kw_only=True)
class VolScaledMargin:
    """``[margin] model = "vol_scaled"``: k EWMA volatilities over the liquidation horizon."""

    model: str = spec("Margin model.", default="vol_scaled", choices=("vol_scaled",))
    k: float = spec("Multiplier on the EWMA volatility.", gt=0.0, le=MAX_VOL_MULTIPLIER)
    horizon_steps: int = spec(
        "Liquidation horizon the margin must cover.", unit="steps", ge=1, le=MAX_STEPS
    )
    ewma_lambda: float = spec("EWMA decay lambda.", gt=0.0, lt=1.0)
    initial_variance: float = spec(
        "Variance of the log return at t = 0 (1e-4 is a 1% per-step volatility; not "
        "percent squared).",
        unit=VARIANCE_UNIT,
        ge=0.0,
        le=MAX_STEP_VARIANCE,
    )
    floor: float = spec("Lowest maintenance rate.", unit="fraction of notional", ge=0.0, lt=1.0)
    cap: float = spec("Highest maintenance rate.", unit="fraction of notional", ge=0.0, lt=1.0)
    # EMIR RTS 153/2013 Art. 28 anti-procyclicality options (docs/model.md 3.1); absent: off.
    apc_buffer: float | None = spec(
        "APC (a): the posted rate is (1 + apc_buffer) x the model rate in calm times, and "
        "the buffer is drawn down while the model rate rises (EMIR asks at least 0.25).",
        default=None,
        unit="fraction of the model rate",
        ge=0.0,
        le=10.0,
    )
    stressed_weight: float | None = spec(
        "APC (b): weight w of the stressed volatility in the volatility the rate uses, "
        "(1 - w) sqrt(v_t) + w sqrt(s_t) (EMIR asks at least 0.25).",
        default=None,
        unit="fraction",
        ge=0.0,
        le=1.0,
    )
    stressed_variance: float | None = spec(
        "APC (b): the stressed per-step variance s_t. Absent: the running maximum of the "
        "(floored) EWMA variance over the path so far. Only with stressed_weight.",
        default=None,
        unit=VARIANCE_UNIT,
        ge=0.0,
        le=MAX_STEP_VARIANCE,
    )
    vol_floor_lookback_years: float | None = spec(
        "APC (c): floor the EWMA variance at the mean squared step log return of the last "
        "this many years of the path source's data (all of it when shorter; gbm: sigma^2); "
        "with accounts each asset's own floor, from its own data file (gbm_multi: its "
        "sigma^2) (EMIR asks ten years).",
        default=None,
        unit="years",
        gt=0.0,
        le=100.0,
    )


# ----------------------------------------------------------------------------- others
@dataclass(frozen=True, kw_only=True)
class Liquidation:
    """``[liquidation]``: how flagged positions are closed."""

    latency_steps: int = spec(
        "Steps between the breach and the close.", default=0, unit="steps", ge=0, le=MAX_STEPS
    )
    slippage: float = spec(
        "Fraction of price lost on the close, against the position.",
        default=0.0,
        unit="fraction of price",
        ge=0.0,
        lt=1.0,
    )
    fee: float = spec(
        "Liquidation penalty.", default=0.0, unit="fraction of closed notional", ge=0.0, lt=1.0
    )
    liquidator_share: float = spec(
        "Fraction of the paid penalty that goes to the liquidator; the rest to the fund.",
        default=0.5,
        ge=0.0,
        le=1.0,
    )
    # Crash mechanisms (docs/model.md 9.2-9.3); the defaults are the core model.
    trigger: str = spec(
        "'maintenance' (equity below the maintenance requirement) or 'predictive' (the "
        "probability of reaching the bankruptcy price within trigger_horizon_steps under the "
        "EWMA volatility exceeds trigger_probability).",
        default="maintenance",
        choices=("maintenance", "predictive"),
    )
    trigger_probability: float = spec("p* of the predictive trigger.", default=0.05, gt=0.0, lt=1.0)
    trigger_horizon_steps: int | None = spec(
        "Horizon h of the predictive trigger. Absent: latency_steps.",
        default=None,
        unit="steps",
        ge=0,
        le=MAX_STEPS,
    )
    fee_model: str = spec(
        "'static' (fee) or 'vol_scaled' (min(fee_max, max(fee_min, fee_base + fee_k sigma_t)) "
        "at the close step).",
        default="static",
        choices=("static", "vol_scaled"),
    )
    fee_base: float = spec(
        "Penalty at zero volatility (vol_scaled).",
        default=0.0,
        unit="fraction of closed notional",
        ge=0.0,
        lt=1.0,
    )
    fee_k: float = spec(
        "Penalty per unit of per-step EWMA volatility sigma_t (vol_scaled).",
        default=0.0,
        unit="fraction of closed notional per unit of sigma",
        ge=0.0,
        le=MAX_VOL_MULTIPLIER,
    )
    fee_min: float = spec(
        "Lowest penalty (vol_scaled).",
        default=0.0,
        unit="fraction of closed notional",
        ge=0.0,
        lt=1.0,
    )
    fee_max: float = spec(
        "Highest penalty (vol_scaled).",
        default=0.1,
        unit="fraction of closed notional",
        ge=0.0,
        lt=1.0,
    )
    vol_ewma_lambda: float | None = spec(
        "EWMA decay of sigma_t for the predictive trigger and the vol_scaled penalty. Absent: "
        "the vol_scaled margin's ewma_lambda (required with a static margin).",
        default=None,
        gt=0.0,
        lt=1.0,
    )
    vol_initial_variance: float | None = spec(
        "EWMA variance at step 0 for sigma_t. Absent: the vol_scaled margin's "
        "initial_variance, or 0 with a static margin.",
        default=None,
        unit=VARIANCE_UNIT,
        ge=0.0,
        le=MAX_STEP_VARIANCE,
    )


@dataclass(frozen=True, kw_only=True)
class InsuranceFund:
    """``[insurance_fund]``."""

    initial: float = spec(
        f"Fund at the start of every path: 0 or at least {AMOUNT_MIN:g}.",
        default=0.0,
        unit="quote units",
        ge=0.0,
        le=AMOUNT_MAX,
        nonzero_ge=AMOUNT_MIN,
    )
    pays_past_bankruptcy: float | None = spec(
        "dYdX v4's bound: the fund pays at most this fraction of a liquidated position's "
        "closed notional of its bad debt (its fill past the bankruptcy price); the rest "
        "passes on to ADL (with [adl]), then is socialized. Absent: the fund pays all bad debt.",
        default=None,
        unit="fraction of closed notional",
        ge=0.0,
        lt=1.0,
    )


#: Single-asset tables with variants: table name -> (discriminating key, {value: dataclass}).
#: :data:`stresstest.scenario.tables.VARIANT_TABLES` adds the accounts and lending
#: variants; validation, the JSON Schema and the reference read that one.
CORE_VARIANT_TABLES: dict[str, tuple[str, dict[str, type]]] = {
    "paths": (
        "source",
        {
            "gbm": GbmPaths,
            "file": FilePaths,
            "historical": HistoricalPaths,
            "garch": GarchPaths,
            "fhs": FhsPaths,
        },
    ),
    "book": ("source", {"synthetic": SyntheticBook, "file": FileBook}),
    "margin": ("model", {"static": StaticMargin, "vol_scaled": VolScaledMargin}),
}

#: Tables without variants: table name -> dataclass.
PLAIN_TABLES: dict[str, type] = {
    "scenario": ScenarioInfo,
    "liquidation": Liquidation,
    "insurance_fund": InsuranceFund,
}

#: Tables that may be absent (all their fields have defaults).
OPTIONAL_TABLES: frozenset[str] = frozenset({"liquidation", "insurance_fund"})


def design_label(margin: StaticMargin | VolScaledMargin) -> str:
    """A short description of a margin design, for tables and reports."""
    if isinstance(margin, StaticMargin):
        return f"static m={margin.maintenance:g}"
    label = (
        f"vol_scaled k={margin.k:g} h={margin.horizon_steps} lambda={margin.ewma_lambda:g} "
        f"floor={margin.floor:g} cap={margin.cap:g}"
    )
    apc = [
        f"{key}={value:g}"
        for key in (
            "apc_buffer",
            "stressed_weight",
            "stressed_variance",
            "vol_floor_lookback_years",
        )
        if (value := getattr(margin, key)) is not None
    ]
    return f"{label} {APC_LABEL}({' '.join(apc)})" if apc else label


#: Marks a design label with EMIR Art. 28 APC options (docs/model.md 3.1).
APC_LABEL = "APC"
#: The APC keys of ``[margin] model = "vol_scaled"``, in the order docs/model.md 3.1 lists them.
APC_KEYS: tuple[str, ...] = (
    "apc_buffer",
    "stressed_weight",
    "stressed_variance",
    "vol_floor_lookback_years",
)


#: Every ``[paths]`` and ``[book]`` variant, the multi-asset ones of accounts scenarios
#: included (defined in stresstest.scenario.accounts, which registers them below); only
#: annotations use these two, so they are strings and need no import at run time.
PathsConfig: TypeAlias = (
    "GbmPaths | FilePaths | HistoricalPaths | GarchPaths | FhsPaths"
    " | GbmMultiPaths | HistoricalMultiPaths | FhsMultiPaths"
)
BookConfig: TypeAlias = (
    "SyntheticBook | FileBook | AccountsSyntheticBook | AccountsFileBook"
    " | LoansFileBook | LoansSyntheticBook"
)
MarginConfig = StaticMargin | VolScaledMargin


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """A validated scenario: every default filled, every file path absolute.

    Attributes
    ----------
    raw
        The scenario as plain TOML-able data (before defaults), for overrides.
    source_file
        The file it was read from, or ``None`` when built from a dict.
    overrides
        The ``--set KEY=VALUE`` texts applied to the file, in order
        (:mod:`stresstest.scenario.overrides`); written as ``[provenance] overrides``.
    """

    info: ScenarioInfo
    paths: PathsConfig
    book: BookConfig
    margin: MarginConfig
    liquidation: Liquidation
    insurance_fund: InsuranceFund
    raw: dict[str, Any] = dataclasses.field(compare=False, repr=False)
    source_file: Path | None = dataclasses.field(default=None, compare=False)
    oracle: Oracle | None = None  # [oracle], docs/model.md 9.1
    market: Market | None = None  # [market], docs/model.md 9.4
    partial_liquidation: PartialLiquidation | None = None  # docs/model.md 10.1
    adl: Adl | None = None  # [adl], docs/model.md 10.2
    backstop: Backstop | None = None  # [backstop], docs/model.md 10.3
    accounts: AccountsTable | None = None  # [accounts], docs/model.md 11
    lending: LendingTable | None = None  # [lending], docs/model.md 13
    attribution: Attribution | None = None  # [attribution], docs/model.md 6b; None: defaults
    procyclicality: Procyclicality | None = None  # [procyclicality], docs/model.md 3.2
    overrides: tuple[str, ...] = dataclasses.field(default=(), compare=False)

    @property
    def name(self) -> str:
        """The scenario's name."""
        return self.info.name

    @property
    def seed(self) -> int:
        """The scenario's seed."""
        return self.info.seed

    def with_overrides(self, overrides: dict[str, Any]) -> Scenario:
        """A new scenario with dotted-key or whole-table overrides applied and validated.

        ``{"margin.maintenance": 0.01}`` sets one key; ``{"margin": {...}}`` replaces
        the whole table.
        """
        from stresstest.scenario.validate import apply_overrides, scenario_from_dict

        raw = apply_overrides(self.raw, overrides, file=self.source_file)
        changed = scenario_from_dict(raw, file=self.source_file)
        return dataclasses.replace(changed, overrides=self.overrides)  # --set stays recorded


# Accounts across several assets (docs/model.md 11) register their [paths] and [book]
# variants here; imported last because that module builds on spec() above.
import stresstest.scenario.accounts  # noqa: E402
import stresstest.scenario.lending  # noqa: E402, F401
