"""The optional crash-mechanism tables ``[oracle]`` and ``[market]`` (docs/model.md 9).

Each table may be absent: the scenario's ``oracle`` / ``market`` is then ``None``
and the engine runs the core kernel, bit-identical to a scenario without the
mechanisms. The predictive trigger and the volatility-scaled penalty are keys
of ``[liquidation]`` (:class:`stresstest.scenario.schema.Liquidation`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stresstest.errors import InputError
from stresstest.limits import AMOUNT_MAX, AMOUNT_MIN
from stresstest.scenario.schema import MAX_STEPS, spec

#: Largest impact coefficient of the sqrt law, log-price (max_impact caps the impact at 5).
MAX_IMPACT_COEFFICIENT = 1000.0


@dataclass(frozen=True, kw_only=True)
class Oracle:
    """``[oracle]``: the price margin checks use; closes still execute at the market price."""

    model: str = spec(
        "'lag' (O_t = P_{max(0, t - lag_steps)}), 'ema' (O_t = ema_lambda O_{t-1} + "
        "(1 - ema_lambda) P_t, O_0 = P_0) or 'twap' (mean of the last twap_steps prices).",
        choices=("lag", "ema", "twap"),
    )
    lag_steps: int = spec(
        "Delay of the lag oracle (lag only).", default=0, unit="steps", ge=0, le=MAX_STEPS
    )
    ema_lambda: float = spec(
        "Weight of the previous oracle price (ema only); 0 follows the market.",
        default=0.0,
        ge=0.0,
        lt=1.0,
    )
    twap_steps: int = spec(
        "Prices averaged by the twap oracle, the current one included (twap only); fewer "
        "before step twap_steps - 1.",
        default=1,
        unit="steps",
        ge=1,
        le=MAX_STEPS,
    )
    manipulation_step: int | None = spec(
        "First step at which the published oracle is manipulated. Absent: never.",
        default=None,
        unit="steps",
        ge=0,
        le=MAX_STEPS,
    )
    manipulation_size: float = spec(
        "The manipulated oracle is O_t (1 + manipulation_size): negative pushes it down.",
        default=0.0,
        unit="signed fraction of price",
        gt=-1.0,
        le=10.0,
    )
    manipulation_steps: int = spec(
        "Number of manipulated steps.", default=1, unit="steps", ge=1, le=MAX_STEPS
    )
    manipulation_asset: str | None = spec(
        "With multi-asset paths, the one asset (a name of paths.assets) whose oracle is "
        "manipulated, as when one feed prints a stablecoin at 1.30. Absent: every asset's "
        "oracle. Needs manipulation_step.",
        default=None,
    )


@dataclass(frozen=True, kw_only=True)
class Market:
    """``[market]``: depth and price impact of the liquidations of a step (netted)."""

    impact: str = spec(
        "Impact law of a step's net liquidation order of notional N: 'linear' "
        "(I = 0.01 N / depth) or 'sqrt' (I = coefficient sqrt(N / reference_notional)); "
        "the execution price is P exp(-I) for a net sell, P exp(+I) for a net buy.",
        choices=("linear", "sqrt"),
    )
    depth: float | None = spec(
        "Notional that moves the log-price by 0.01 (about 1%) (linear only, required there).",
        default=None,
        unit="quote units per 1% move",
        ge=AMOUNT_MIN,
        le=AMOUNT_MAX,
    )
    coefficient: float | None = spec(
        "Log-price impact of a net order of reference_notional (sqrt only, required there).",
        default=None,
        unit="log-price",
        ge=0.0,
        le=MAX_IMPACT_COEFFICIENT,
    )
    reference_notional: float = spec(
        "Notional at which the sqrt law's impact equals coefficient (sqrt only).",
        default=1_000_000.0,
        unit="quote units",
        ge=AMOUNT_MIN,
        le=AMOUNT_MAX,
    )
    max_impact: float = spec(
        "Largest impact I of one step's net order: the law's value is capped here.",
        default=1.0,
        unit="log-price",
        gt=0.0,
        le=5.0,
    )
    permanent_fraction: float = spec(
        "Fraction of the impact that stays: every later price of the path is multiplied "
        "by exp(-+ permanent_fraction I) from the next step on.",
        default=0.0,
        ge=0.0,
        le=1.0,
    )


#: Optional tables without variants: table name -> dataclass; ``None`` when absent.
MECHANISM_TABLES: dict[str, type] = {"oracle": Oracle, "market": Market}


#: Keys of one oracle model or impact law: table -> {key: the model that uses it}.
_MODEL_KEYS: dict[str, tuple[str, dict[str, str]]] = {
    "oracle": ("model", {"lag_steps": "lag", "ema_lambda": "ema", "twap_steps": "twap"}),
    "market": (
        "impact",
        {"depth": "linear", "coefficient": "sqrt", "reference_notional": "sqrt"},
    ),
}


def _check_manipulation_asset(built: dict[str, Any], file: Path | None) -> None:
    """Refuse an ``oracle.manipulation_asset`` that would be ignored or names no asset."""
    oracle = built.get("oracle")
    if oracle is None or oracle.manipulation_asset is None:
        return
    name = oracle.manipulation_asset
    if oracle.manipulation_step is None:
        raise InputError(
            "oracle.manipulation_asset without oracle.manipulation_step would be ignored",
            file=file,
            key="oracle.manipulation_asset",
            value=name,
            expected="oracle.manipulation_step as well, or no manipulation_asset",
        )
    assets = getattr(built["paths"], "assets", None)
    if assets is None:
        raise InputError(
            "oracle.manipulation_asset names one asset of multi-asset paths; a single-asset "
            "path has one oracle, which manipulation_step already selects",
            file=file,
            key="oracle.manipulation_asset, paths.source",
            value=name,
            expected="multi-asset paths ('gbm_multi', 'historical_multi', 'fhs_multi'), or "
            "no manipulation_asset",
        )
    if name not in assets:
        raise InputError(
            "unknown asset",
            file=file,
            key="oracle.manipulation_asset",
            value=name,
            expected=f"one of paths.assets {list(assets)}",
        )


def _check_model_keys(built: dict[str, Any], file: Path | None) -> None:
    """Refuse a key set (away from its default) that the table's model does not use."""
    for table, (selector, keys) in _MODEL_KEYS.items():
        config = built.get(table)
        if config is None:
            continue
        chosen = getattr(config, selector)
        defaults = {field.name: field.default for field in dataclasses.fields(config)}
        for key, model in keys.items():
            value = getattr(config, key)
            if model != chosen and value != defaults[key]:
                raise InputError(
                    f"{table}.{key} is used by {selector} = '{model}' only and would be "
                    f"ignored with {selector} = '{chosen}'",
                    file=file,
                    key=f"{table}.{key}",
                    value=value,
                    expected=f"no {key} with {selector} = '{chosen}'",
                )


def check_mechanisms(built: dict[str, Any], file: Path | None) -> None:
    """Cross-key checks of the mechanism tables and the new ``[liquidation]`` keys."""
    _check_model_keys(built, file)
    _check_manipulation_asset(built, file)
    market = built.get("market")
    if market is not None:
        needed = "depth" if market.impact == "linear" else "coefficient"
        if getattr(market, needed) is None:
            raise InputError(
                "missing key",
                file=file,
                key=f"market.{needed}",
                expected=f"a number > 0 with impact = '{market.impact}'",
            )
    liquidation = built["liquidation"]
    if liquidation.fee_min > liquidation.fee_max:
        raise InputError(
            "fee_min above fee_max",
            file=file,
            key="liquidation.fee_min",
            value=liquidation.fee_min,
            expected=f"a number <= liquidation.fee_max ({liquidation.fee_max:g})",
        )
    uses_volatility = liquidation.trigger == "predictive" or liquidation.fee_model == "vol_scaled"
    if (
        uses_volatility
        and liquidation.vol_ewma_lambda is None
        and built["margin"].model != ("vol_scaled")
    ):
        raise InputError(
            "missing key",
            file=file,
            key="liquidation.vol_ewma_lambda",
            expected=(
                "a number in (0, 1): the predictive trigger and the vol_scaled penalty need "
                "an EWMA volatility, and a static margin has none to share"
            ),
        )
