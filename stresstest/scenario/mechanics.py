"""The optional crash-mechanism tables ``[oracle]`` and ``[market]`` (docs/model.md 9).

Each table may be absent: the scenario's ``oracle`` / ``market`` is then ``None``
and the engine runs the core kernel, bit-identical to a scenario without the
mechanisms. The predictive trigger and the volatility-scaled penalty are keys
of ``[liquidation]`` (:class:`stresstest.scenario.schema.Liquidation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stresstest.errors import InputError
from stresstest.scenario.schema import spec


@dataclass(frozen=True, kw_only=True)
class Oracle:
    """``[oracle]``: the price margin checks use; closes still execute at the market price."""

    model: str = spec(
        "'lag' (O_t = P_{max(0, t - lag_steps)}), 'ema' (O_t = ema_lambda O_{t-1} + "
        "(1 - ema_lambda) P_t, O_0 = P_0) or 'twap' (mean of the last twap_steps prices).",
        choices=("lag", "ema", "twap"),
    )
    lag_steps: int = spec("Delay of the lag oracle (lag only).", default=0, unit="steps", ge=0)
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
    )
    manipulation_step: int | None = spec(
        "First step at which the published oracle is manipulated. Absent: never.",
        default=None,
        unit="steps",
        ge=0,
    )
    manipulation_size: float = spec(
        "The manipulated oracle is O_t (1 + manipulation_size): negative pushes it down.",
        default=0.0,
        unit="signed fraction of price",
        gt=-1.0,
        le=10.0,
    )
    manipulation_steps: int = spec("Number of manipulated steps.", default=1, unit="steps", ge=1)


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
        gt=0.0,
    )
    coefficient: float | None = spec(
        "Log-price impact of a net order of reference_notional (sqrt only, required there).",
        default=None,
        unit="log-price",
        ge=0.0,
    )
    reference_notional: float = spec(
        "Notional at which the sqrt law's impact equals coefficient (sqrt only).",
        default=1_000_000.0,
        unit="quote units",
        gt=0.0,
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


def check_mechanisms(built: dict[str, Any], file: Path | None) -> None:
    """Cross-key checks of the mechanism tables and the new ``[liquidation]`` keys."""
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


#: Tables of other kernels that the crash-mechanism kernel does not combine with.
_EXCLUSIVE_TABLES = ("partial_liquidation", "adl", "accounts")


def check_mechanisms_alone(built: dict[str, Any], file: Path | None) -> None:
    """The crash mechanisms run in their own kernel: not together with partial
    liquidation, ADL or multi-asset accounts (those tables would be ignored)."""
    liquidation = built["liquidation"]
    used = [
        key
        for key, on in (
            ("oracle", built.get("oracle") is not None),
            ("market", built.get("market") is not None),
            ("liquidation.trigger", liquidation.trigger != "maintenance"),
            ("liquidation.fee_model", liquidation.fee_model != "static"),
        )
        if on
    ]
    others = [table for table in _EXCLUSIVE_TABLES if built.get(table) is not None]
    if used and others:
        raise InputError(
            "crash mechanisms cannot be combined with this table",
            file=file,
            key=others[0],
            value=f"with {used[0]}",
            expected=f"either the crash mechanisms ({', '.join(used)}) or [{others[0]}]",
        )
