"""Scenario tables of DeFi lending markets (docs/model.md 13).

A lending scenario pairs a multi-asset ``[paths]`` source (``gbm_multi``,
``historical_multi``, ``fhs_multi``) with a loan ``[book]`` (``loans_file``,
``loans_synthetic``) and the ``[lending]`` table (per-asset liquidation
threshold, bonus, protocol fee and pool depth; close factor, gas, oracle
update rule). ``[insurance_fund] initial`` is the reserve's initial size. It
runs on its own engine (:mod:`stresstest.engine.lending`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stresstest.errors import InputError
from stresstest.limits import AMOUNT_MAX, AMOUNT_MIN
from stresstest.scenario import schema
from stresstest.scenario.schema import MAX_PATHS, MAX_STEPS, spec

#: ``[book] source`` values of a loan book.
LOAN_SOURCES: tuple[str, ...] = ("loans_file", "loans_synthetic")
#: Tables a lending scenario does not run (docs/model.md 13.8): each is refused with it.
NOT_WITH_LENDING: dict[str, str] = {
    "margin": "a loan has no maintenance margin: liquidation follows the health factor and "
    "the [lending] table",
    "liquidation": "latency, slippage and the penalty of [liquidation] are perps rules; a "
    "loan's liquidation follows close_factor, liquidation_bonus and the pools of [lending]",
    "market": "the lending kernel sells seized collateral through the constant-product pools "
    "of [lending] (pool_depth) and does not move the path with price impact",
    "partial_liquidation": "a loan's partial liquidation is the close factor of [lending]",
    "adl": "a lending market books bad debt against its reserve; it has no auto-deleveraging",
    "accounts": "[accounts] describes perps margin units, not loans",
    "attribution": "lending markets are not attributed to cohorts in this version",
    "backstop": "the backstop vault takes over perps positions at their bankruptcy price; a "
    "loan's shortfall is booked against the reserve ([insurance_fund])",
    "procyclicality": "[procyclicality] measures a perps margin rate; a loan book has none",
}


# ----------------------------------------------------------------------------- [book]
@dataclass(frozen=True, kw_only=True)
class LoansFileBook:
    """``[book] source = "loans_file"``: one row per collateral asset of a loan."""

    source: str = spec("Book source.", default="loans_file", choices=("loans_file",))
    file: Path = spec(
        "Parquet or CSV with columns loan (int >= 0), asset (a name of paths.assets), "
        "collateral (>= 0, base units of the asset), debt_asset (a name of paths.assets or "
        "lending.quote_asset) and debt (> 0, units of the debt asset); debt_asset and debt "
        "are the same on every row of a loan and a loan names an asset at most once. "
        "Relative to the scenario file.",
        is_file=True,
    )


@dataclass(frozen=True, kw_only=True)
class LoansSyntheticBook:
    """``[book] source = "loans_synthetic"``: seeded random loans (docs/model.md 13.1)."""

    source: str = spec("Book source.", default="loans_synthetic", choices=("loans_synthetic",))
    n_loans: int = spec("Number of loans.", ge=1, le=MAX_PATHS)
    legs: int = spec(
        "Collateral assets per loan, drawn among the path assets other than the debt asset "
        "whose liquidation threshold is above 0.",
        default=1,
        ge=1,
        le=64,
    )
    debt_asset: str | None = spec(
        "Asset every loan borrows: a name of paths.assets or lending.quote_asset. Absent: "
        "lending.quote_asset.",
        default=None,
    )
    value_median: float = spec(
        "Median collateral value of a loan at step 0 (lognormal).",
        default=20_000.0,
        unit="quote units",
        ge=AMOUNT_MIN,
        le=AMOUNT_MAX,
    )
    value_sigma: float = spec(
        "Standard deviation of ln(collateral value).", default=1.5, ge=0.0, le=10.0
    )
    leg_sigma: float = spec(
        "Standard deviation of the log weights that split the collateral value over the legs "
        "(0: equal value per leg).",
        default=0.2,
        ge=0.0,
        le=10.0,
    )
    hf_min: float = spec(
        "Lower bound of the log-uniform health factor at step 0.", default=1.05, gt=1.0, le=100.0
    )
    hf_max: float = spec(
        "Upper bound of the log-uniform health factor at step 0.", default=2.0, gt=1.0, le=100.0
    )


# ----------------------------------------------------------------------------- [lending]
@dataclass(frozen=True, kw_only=True)
class LendingTable:
    """``[lending]``: the market's per-asset and liquidation parameters (docs/model.md 13)."""

    quote_asset: str = spec(
        "Name of the quote currency as a debt asset: its price is 1 quote at every step "
        "(a stablecoin that can depeg is a path asset instead).",
        default="USDC",
    )
    liquidation_threshold: list[float] = spec(
        "LT of each asset of paths.assets as collateral, 0 <= LT < 1 (0: not collateral).",
        unit="fraction of collateral value",
    )
    liquidation_bonus: list[float] = spec(
        "Liquidation bonus of each asset of paths.assets, 0 <= bonus < 1, with LT (1 + bonus) < 1.",
        unit="fraction of repaid debt value",
    )
    bonus_ramp_slope: float = spec(
        "Bonus ramp (docs/model.md 13.3): a liquidation at health factor HF < 1 pays the bonus "
        "min(bonus_max, liquidation_bonus + bonus_ramp_slope (1 - HF)) of each asset "
        "(0: the fixed liquidation_bonus). Needs bonus_max.",
        default=0.0,
        unit="bonus per unit of health factor below 1",
        ge=0.0,
        le=1000.0,
    )
    bonus_max: list[float] | None = spec(
        "Largest bonus of the ramp for each asset of paths.assets, liquidation_bonus <= "
        "bonus_max < 1 with LT (1 + bonus_max) < 1. Only with bonus_ramp_slope > 0.",
        default=None,
        unit="fraction of repaid debt value",
    )
    protocol_fee: list[float] | None = spec(
        "Share of the bonus each asset's liquidation pays the reserve, 0 to 1. Absent: 0.",
        default=None,
        unit="fraction of the bonus",
    )
    pool_depth: list[float] | None = spec(
        f"Quote reserve D of each asset's constant-product pool at the market price, "
        f"{AMOUNT_MIN:g} to {AMOUNT_MAX:g}: selling value v from a rested pool yields "
        "D v / (D + v). Give pool_depth or pool_depth_file.",
        default=None,
        unit="quote units",
    )
    pool_depth_file: Path | None = spec(
        "Piecewise depth curves instead of pool_depth (docs/model.md 13.4): a CSV or Parquet "
        "file with columns asset (a name of paths.assets), impact (fall of the price, "
        "0 <= impact < 1) and depth (market value that can be sold before the price has "
        "fallen by impact, quote units); per asset at least two rows, the first (0, 0), both "
        "strictly ascending. Relative to the scenario file.",
        default=None,
        is_file=True,
    )
    pool_half_life: float = spec(
        "Half-life of a pool's refill after sales (0: refilled at every step).",
        default=1.0,
        unit="steps",
        ge=0.0,
        le=float(MAX_STEPS),
    )
    gas_cost: float = spec(
        "Gas a liquidator pays per liquidation.",
        default=0.0,
        unit="quote units",
        ge=0.0,
        le=AMOUNT_MAX,
    )
    gas_file: Path | None = spec(
        "Gas cost path: a CSV or Parquet file with columns step (0 to paths.n_steps, each "
        "once, ascending) and gas_cost (quote units per liquidation at that step, >= 0), the "
        "same on every path. Replaces gas_cost (give one or the other). Relative to the "
        "scenario file.",
        default=None,
        is_file=True,
    )
    gas_crash_slope: float = spec(
        "Congestion gas (docs/model.md 13.4): the gas of a liquidation at step t is "
        "gas_cost (or the gas_file's) times 1 + gas_crash_slope x the fall of "
        "gas_crash_asset's market price from its highest over the last gas_crash_window "
        "steps, on every path its own (0: gas does not depend on the path). Needs "
        "gas_crash_asset.",
        default=0.0,
        unit="gas multiple per unit of price fall",
        ge=0.0,
        le=1000.0,
    )
    gas_crash_asset: str | None = spec(
        "The path asset whose fall scales the gas (a name of paths.assets). Only with "
        "gas_crash_slope > 0.",
        default=None,
    )
    gas_crash_window: int = spec(
        "The fall of gas_crash_asset is measured from its highest market price over the "
        "gas_crash_window steps before this one and this one. Only with gas_crash_slope > 0.",
        default=24,
        unit="steps",
        ge=1,
        le=MAX_STEPS,
    )
    close_factor: float = spec(
        "Fraction of the debt one liquidation may repay.", default=0.5, gt=0.0, le=1.0
    )
    close_factor_full_below_hf: float = spec(
        "Below this health factor one liquidation may repay the whole debt.",
        default=0.95,
        ge=0.0,
        le=1.0,
    )
    small_loan_threshold: float = spec(
        "Debt value (at the oracle) below which one liquidation may repay the whole debt.",
        default=2000.0,
        unit="quote units",
        ge=0.0,
        le=AMOUNT_MAX,
    )
    seize_order: str = spec(
        "Which collateral is seized first: 'highest_value' (largest oracle value first, ties "
        "in the loan's row order) or 'book' (the loan's row order).",
        default="highest_value",
        choices=("highest_value", "book"),
    )
    oracle_deviation: float = spec(
        "Chainlink-style deviation threshold: a new price is reported when it deviates from "
        "the last reported one by more than this (0: at every step).",
        default=0.0,
        unit="fraction of price",
        ge=0.0,
        lt=1.0,
    )
    oracle_heartbeat_steps: int = spec(
        "A new price is reported at the latest this many steps after the last report.",
        default=1,
        unit="steps",
        ge=1,
        le=MAX_STEPS,
    )


LOAN_BOOKS: tuple[type, ...] = (LoansFileBook, LoansSyntheticBook)
#: Optional tables of lending scenarios: name -> dataclass (absent: None on the Scenario).
LENDING_TABLES: dict[str, type] = {"lending": LendingTable}

#: The loan-book variants of ``[book]`` (composed with the others in
#: :data:`stresstest.scenario.tables.VARIANT_TABLES`).
LENDING_VARIANTS: dict[str, dict[str, type]] = {
    "book": {"loans_file": LoansFileBook, "loans_synthetic": LoansSyntheticBook}
}


#: ``margin_model`` of a lending variant in compare.parquet (a loan book has no margin).
LENDING_MODEL = "lending"


def _numbers(values: list[float]) -> str:
    """One number if every asset has the same, else ``a/b/c`` in path-asset order."""
    if len(set(values)) == 1:
        return f"{values[0]:g}"
    return "/".join(f"{value:g}" for value in values)


def lending_label(table: LendingTable) -> str:
    """A short description of a lending design for tables and reports: close factor, bonus."""
    label = f"close_factor={table.close_factor:g} bonus={_numbers(table.liquidation_bonus)}"
    if table.bonus_max is not None and table.bonus_ramp_slope > 0.0:
        label += f" ramp={table.bonus_ramp_slope:g} max={_numbers(table.bonus_max)}"
    return label


def lending_margin() -> schema.StaticMargin:
    """The ``margin`` of a lending scenario's :class:`~stresstest.scenario.schema.Scenario`.

    A loan book has no maintenance margin and refuses a ``[margin]`` table; the
    scenario object still holds a margin (a static rate of 0), which no lending
    code reads and the resolved scenario does not write.
    """
    return schema.StaticMargin(maintenance=0.0)


def is_lending_book(book: object) -> bool:
    """Whether a ``[book]`` table is a loan book."""
    return isinstance(book, LOAN_BOOKS)


def is_lending_raw(raw: dict[str, Any]) -> bool:
    """Whether a scenario as read names a loan book (before it is validated)."""
    book = raw.get("book")
    return isinstance(book, dict) and book.get("source") in LOAN_SOURCES


def is_lending_scenario(scenario: schema.Scenario) -> bool:
    """True for a lending scenario (a loan ``[book]``; checked when loaded)."""
    return is_lending_book(scenario.book)


def all_assets(paths: Any, table: LendingTable) -> tuple[str, ...]:
    """Path assets then the quote asset: the asset indices of the kernel (quote last)."""
    return (*paths.assets, table.quote_asset)


# ----------------------------------------------------------------------------- checks
def check_lending(built: dict[str, Any], raw: dict[str, Any], file: Path | None) -> None:
    """Load-time checks of lending scenarios; raises :class:`InputError`.

    - ``[lending]`` and a loan book go together, with multi-asset paths;
    - every table a lending scenario does not run is refused naming both settings;
    - every per-asset list has one entry per asset of ``paths.assets``, in range, with
      ``LT (1 + bonus) < 1``; the quote asset is not a path asset;
    - a synthetic book's debt asset is known and it has enough collateral assets.
    """
    book = built["book"]
    lending_book = is_lending_book(book)
    if "lending" in raw and not lending_book:
        raise InputError(
            "the [lending] table applies to lending scenarios only and would be ignored",
            file=file,
            key="lending",
            value=f"book.source = {getattr(book, 'source', None)!r}",
            expected="a loan [book] ('loans_file' or 'loans_synthetic'), or no [lending] table",
        )
    if not lending_book:
        return
    from stresstest.scenario.accounts import MULTI_PATHS

    paths = built["paths"]
    if not isinstance(paths, MULTI_PATHS):
        raise InputError(
            "a loan book needs multi-asset paths",
            file=file,
            key="paths.source",
            value=paths.source,
            expected="'gbm_multi', 'historical_multi' or 'fhs_multi'",
        )
    for name, reason in NOT_WITH_LENDING.items():
        if name in raw:
            raise InputError(
                f"[{name}] and a loan book do not run together in this version: {reason}",
                file=file,
                key=f"book.source, {name}",
                value=book.source,
                expected=f"no [{name}] table in a lending scenario (docs/model.md 13.8)",
            )
    if "pays_past_bankruptcy" in raw.get("insurance_fund", {}):
        raise InputError(
            "insurance_fund.pays_past_bankruptcy and a loan book do not run together in this "
            "version: the bound applies to a perps close's fill past its bankruptcy price; a "
            "loan's bad debt is booked against the reserve whole (docs/model.md 13.8)",
            file=file,
            key="book.source, insurance_fund.pays_past_bankruptcy",
            value=book.source,
            expected="no pays_past_bankruptcy in a lending scenario",
        )
    table: LendingTable | None = built.get("lending")
    if table is None:
        raise InputError(
            "a loan book needs the [lending] table",
            file=file,
            key="lending",
            expected="a [lending] table with liquidation_threshold, liquidation_bonus and "
            "pool_depth (or pool_depth_file), one entry per asset of paths.assets",
        )
    assets = list(built["paths"].assets)
    if table.gas_file is not None and "gas_cost" in raw.get("lending", {}):
        raise InputError(
            "gas_cost and gas_file both set the gas of a liquidation",
            file=file,
            key="lending.gas_cost, lending.gas_file",
            value=f"{table.gas_cost:g}, {table.gas_file}",
            expected="one of them: a constant gas_cost, or a gas path in gas_file",
        )
    _check_table(table, assets, file)
    _check_gas_crash(table, raw.get("lending", {}), assets, file)
    if isinstance(book, LoansSyntheticBook):
        _check_synthetic(book, table, assets, file)


def _per_asset(
    values: list[float], assets: list[str], key: str, file: Path | None, low: float, high: float
) -> None:
    """Refuse a per-asset list of the wrong length or with an entry outside ``[low, high)``."""
    if len(values) != len(assets):
        raise InputError(
            f"{len(values)} value(s) for {len(assets)} assets",
            file=file,
            key=f"lending.{key}",
            value=list(values),
            expected=f"{len(assets)} numbers, one per asset of paths.assets {assets}",
        )
    for asset, value in zip(assets, values, strict=True):
        if not low <= value < high:
            raise InputError(
                f"out of range for asset {asset}",
                file=file,
                key=f"lending.{key}",
                value=value,
                expected=f"numbers in [{low:g}, {high:g})",
            )


def _check_table(table: LendingTable, assets: list[str], file: Path | None) -> None:
    if table.quote_asset in assets:
        raise InputError(
            "the quote asset is also a path asset",
            file=file,
            key="lending.quote_asset",
            value=table.quote_asset,
            expected=f"a name not in paths.assets {assets} (its price is 1 at every step)",
        )
    _per_asset(table.liquidation_threshold, assets, "liquidation_threshold", file, 0.0, 1.0)
    _per_asset(table.liquidation_bonus, assets, "liquidation_bonus", file, 0.0, 1.0)
    _check_ramp(table, assets, file)
    if table.protocol_fee is not None:
        _per_asset(table.protocol_fee, assets, "protocol_fee", file, 0.0, math.nextafter(1.0, 2.0))
    if (table.pool_depth is None) == (table.pool_depth_file is None):
        raise InputError(
            "pool_depth and pool_depth_file both set the pools"
            if table.pool_depth is not None
            else "no pools: pool_depth or pool_depth_file is needed",
            file=file,
            key="lending.pool_depth, lending.pool_depth_file",
            value=None if table.pool_depth is None else list(table.pool_depth),
            expected="one of them: constant-product depths per asset (pool_depth), or a file "
            "of piecewise depth curves (pool_depth_file)",
        )
    if table.pool_depth is not None:
        _per_asset(table.pool_depth, assets, "pool_depth", file, AMOUNT_MIN, AMOUNT_MAX)
    pairs = zip(assets, table.liquidation_threshold, table.liquidation_bonus, strict=True)
    for asset, threshold, bonus in pairs:
        if threshold * (1.0 + bonus) >= 1.0:
            raise InputError(
                f"LT (1 + bonus) = {threshold * (1.0 + bonus):g} >= 1 for asset {asset}: a "
                "liquidation would seize more than the collateral of a loan at HF = 1",
                file=file,
                key="lending.liquidation_bonus",
                value=bonus,
                expected=f"a bonus below 1 / LT - 1 = {1.0 / threshold - 1.0:g} for {asset}",
            )


def _check_ramp(table: LendingTable, assets: list[str], file: Path | None) -> None:
    """``bonus_ramp_slope`` and ``bonus_max`` go together; each cap is a valid bonus."""
    if table.bonus_ramp_slope > 0.0 and table.bonus_max is None:
        raise InputError(
            "a bonus ramp needs its cap",
            file=file,
            key="lending.bonus_ramp_slope, lending.bonus_max",
            value=table.bonus_ramp_slope,
            expected=f"lending.bonus_max: {len(assets)} numbers, one per asset of "
            f"paths.assets {assets}, each >= its liquidation_bonus",
        )
    if table.bonus_max is None:
        return
    if table.bonus_ramp_slope == 0.0:
        raise InputError(
            "bonus_max caps the bonus ramp and would be ignored without one",
            file=file,
            key="lending.bonus_max, lending.bonus_ramp_slope",
            value=list(table.bonus_max),
            expected="lending.bonus_ramp_slope > 0, or no bonus_max",
        )
    _per_asset(table.bonus_max, assets, "bonus_max", file, 0.0, 1.0)
    pairs = zip(
        assets, table.liquidation_threshold, table.liquidation_bonus, table.bonus_max, strict=True
    )
    for asset, threshold, bonus, cap in pairs:
        if cap < bonus:
            raise InputError(
                f"bonus_max below liquidation_bonus for asset {asset}",
                file=file,
                key="lending.bonus_max",
                value=cap,
                expected=f"a cap >= liquidation_bonus ({bonus:g}) for {asset}",
            )
        if threshold * (1.0 + cap) >= 1.0:
            raise InputError(
                f"LT (1 + bonus_max) = {threshold * (1.0 + cap):g} >= 1 for asset {asset}: a "
                "liquidation at the cap would seize more than the collateral of a loan at HF = 1",
                file=file,
                key="lending.bonus_max",
                value=cap,
                expected=f"a cap below 1 / LT - 1 = {1.0 / threshold - 1.0:g} for {asset}",
            )


def _check_gas_crash(
    table: LendingTable, raw: dict[str, Any], assets: list[str], file: Path | None
) -> None:
    """Congestion gas (13.4): a slope needs a path asset; asset and window need a slope."""
    if table.gas_crash_slope == 0.0:
        given = [key for key in ("gas_crash_asset", "gas_crash_window") if key in raw]
        if given:
            raise InputError(
                f"{given[0]} shapes congestion gas and would be ignored without a slope",
                file=file,
                key=f"lending.{given[0]}, lending.gas_crash_slope",
                value=raw[given[0]],
                expected="lending.gas_crash_slope > 0, or no " + " and no ".join(given),
            )
        return
    if table.gas_crash_asset is None:
        raise InputError(
            "congestion gas needs the asset whose fall scales it",
            file=file,
            key="lending.gas_crash_slope, lending.gas_crash_asset",
            value=table.gas_crash_slope,
            expected=f"lending.gas_crash_asset: one of paths.assets {assets}",
        )
    if table.gas_crash_asset not in assets:
        raise InputError(
            "unknown asset for congestion gas"
            + (
                " (the quote asset's price is 1 at every step: it never falls)"
                if table.gas_crash_asset == table.quote_asset
                else ""
            ),
            file=file,
            key="lending.gas_crash_asset",
            value=table.gas_crash_asset,
            expected=f"one of paths.assets {assets}",
        )


def _check_synthetic(
    book: LoansSyntheticBook, table: LendingTable, assets: list[str], file: Path | None
) -> None:
    debt = book.debt_asset if book.debt_asset is not None else table.quote_asset
    known = [*assets, table.quote_asset]
    if debt not in known:
        raise InputError(
            "unknown debt asset",
            file=file,
            key="book.debt_asset",
            value=debt,
            expected=f"one of {known}",
        )
    eligible = [
        asset
        for asset, threshold in zip(assets, table.liquidation_threshold, strict=True)
        if asset != debt and threshold > 0.0
    ]
    if book.legs > len(eligible):
        raise InputError(
            "more legs than collateral assets",
            file=file,
            key="book.legs",
            value=book.legs,
            expected=f"an integer <= {len(eligible)} (assets {eligible}: LT > 0, not the debt)",
        )
    if book.hf_max < book.hf_min:
        raise InputError(
            "hf_max is below hf_min",
            file=file,
            key="book.hf_max",
            value=book.hf_max,
            expected=f"a health factor >= book.hf_min ({book.hf_min:g})",
        )
