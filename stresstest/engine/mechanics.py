"""A scenario's stages as the parameter vector of kernels/pipeline.py (docs/model.md 12)."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from stresstest.kernels import enums
from stresstest.scenario import schema

_ORACLE_MODELS = {"lag": enums.ORACLE_LAG, "ema": enums.ORACLE_EMA, "twap": enums.ORACLE_TWAP}
_IMPACT_LAWS = {"linear": enums.IMPACT_LINEAR, "sqrt": enums.IMPACT_SQRT}
_ADL_POLICIES = {
    "profit_leverage": enums.ADL_PROFIT_LEVERAGE,
    "hyperliquid": enums.ADL_HYPERLIQUID,
    "pro_rata": enums.ADL_PRO_RATA,
}


def trigger_z(probability: float) -> float:
    """``z = -Phi^-1(p* / 2)``: the predictive trigger fires when ``d < z sigma sqrt(h)``."""
    return -NormalDist().inv_cdf(probability / 2.0)


def uses_mechanics(scenario: schema.Scenario) -> bool:
    """Whether any crash mechanism differs from the core model (docs/model.md 9)."""
    liquidation = scenario.liquidation
    return (
        scenario.oracle is not None
        or scenario.market is not None
        or liquidation.trigger != "maintenance"
        or liquidation.fee_model != "static"
    )


def uses_pipeline(scenario: schema.Scenario) -> bool:
    """Whether a stage of kernels/pipeline.py is on: a crash mechanism (9), partial
    liquidation (10.1), ADL (10.2), the backstop vault (10.3) or the fund's bound
    past bankruptcy (10.4).

    Without any, the core kernel (4.1) runs.
    """
    return (
        uses_mechanics(scenario)
        or scenario.partial_liquidation is not None
        or scenario.adl is not None
        or scenario.backstop is not None
        or scenario.insurance_fund.pays_past_bankruptcy is not None
    )


def mechanics_arguments(scenario: schema.Scenario) -> np.ndarray | None:
    """The ``N_MECH`` stage vector of the pipeline, ``None`` if no pipeline stage is on."""
    return mechanics_vector(scenario) if uses_pipeline(scenario) else None


def neutral_vector(adl: str | None = None, buffer: float | None = None) -> np.ndarray:
    """The ``N_MECH`` stage vector with every stage off but ADL with policy ``adl``
    and partial liquidation with ``buffer`` (fraction of notional), when given."""
    params = np.zeros(enums.N_MECH)
    params[enums.MECH_MANIP_STEP] = -1.0
    params[enums.MECH_MANIP_ASSET] = -1.0
    if adl is not None:
        params[enums.MECH_ADL] = _ADL_POLICIES[adl]
    if buffer is not None:
        params[enums.MECH_PARTIAL] = 1.0
        params[enums.MECH_BUFFER] = buffer
    return params


def set_oracle(params: np.ndarray, scenario: schema.Scenario) -> None:
    """Write the scenario's ``[oracle]`` (if any) into the ``N_MECH`` vector ``params``.

    ``MECH_MANIP_ASSET`` is the index in ``paths.assets`` of ``manipulation_asset``
    (validated to be one of them), -1 when every asset's oracle is manipulated.
    """
    oracle = scenario.oracle
    if oracle is None:
        return
    params[enums.MECH_ORACLE_MODEL] = _ORACLE_MODELS[oracle.model]
    params[enums.MECH_ORACLE_LAG] = oracle.lag_steps
    params[enums.MECH_ORACLE_EMA] = oracle.ema_lambda
    params[enums.MECH_ORACLE_TWAP] = oracle.twap_steps
    if oracle.manipulation_step is not None:
        params[enums.MECH_MANIP_STEP] = oracle.manipulation_step
        params[enums.MECH_MANIP_STEPS] = oracle.manipulation_steps
        params[enums.MECH_MANIP_SIZE] = oracle.manipulation_size
    if oracle.manipulation_asset is not None:
        assets = list(scenario.paths.assets)  # type: ignore[union-attr]
        params[enums.MECH_MANIP_ASSET] = assets.index(oracle.manipulation_asset)


def mechanics_vector(scenario: schema.Scenario) -> np.ndarray:
    """The ``N_MECH`` stage vector (all-neutral when no stage is on)."""
    params = neutral_vector()
    set_oracle(params, scenario)
    liquidation = scenario.liquidation
    if liquidation.trigger == "predictive":
        horizon = liquidation.trigger_horizon_steps
        horizon = liquidation.latency_steps if horizon is None else horizon
        params[enums.MECH_TRIGGER] = enums.TRIGGER_PREDICTIVE
        params[enums.MECH_TRIGGER_Z] = trigger_z(liquidation.trigger_probability)
        params[enums.MECH_TRIGGER_SQRT_H] = np.sqrt(float(horizon))
    if liquidation.fee_model == "vol_scaled":
        params[enums.MECH_FEE_MODEL] = enums.FEE_VOL_SCALED
        params[enums.MECH_FEE_BASE] = liquidation.fee_base
        params[enums.MECH_FEE_K] = liquidation.fee_k
        params[enums.MECH_FEE_MIN] = liquidation.fee_min
        params[enums.MECH_FEE_MAX] = liquidation.fee_max
    margin = scenario.margin
    shared = isinstance(margin, schema.VolScaledMargin)
    params[enums.MECH_VOL_LAMBDA] = (
        liquidation.vol_ewma_lambda
        if liquidation.vol_ewma_lambda is not None
        else (margin.ewma_lambda if shared else 0.5)  # type: ignore[union-attr]
    )
    params[enums.MECH_VOL_V0] = (
        liquidation.vol_initial_variance
        if liquidation.vol_initial_variance is not None
        else (margin.initial_variance if shared else 0.0)  # type: ignore[union-attr]
    )
    market = scenario.market
    if market is not None:
        params[enums.MECH_IMPACT] = _IMPACT_LAWS[market.impact]
        if market.impact == "linear":
            params[enums.MECH_IMPACT_COEF] = 0.01 / float(market.depth)  # type: ignore[arg-type]
        else:
            params[enums.MECH_IMPACT_COEF] = float(market.coefficient)  # type: ignore[arg-type]
            params[enums.MECH_IMPACT_REF] = market.reference_notional
        params[enums.MECH_PERMANENT] = market.permanent_fraction
        params[enums.MECH_IMPACT_MAX] = market.max_impact
    if scenario.adl is not None:
        params[enums.MECH_ADL] = _ADL_POLICIES[scenario.adl.policy]
    partial = scenario.partial_liquidation
    if partial is not None:
        params[enums.MECH_PARTIAL] = 1.0
        params[enums.MECH_BUFFER] = partial.buffer
        if partial.rule == "fraction":
            params[enums.MECH_PARTIAL_RULE] = enums.PARTIAL_RULE_FRACTION
            params[enums.MECH_PARTIAL_FRACTION] = partial.fraction
            cooldown = partial.cooldown_steps
            params[enums.MECH_PARTIAL_COOLDOWN] = 0.0 if cooldown is None else float(cooldown)
            floor = partial.min_notional
            params[enums.MECH_PARTIAL_MIN_NOTIONAL] = 0.0 if floor is None else floor
        elif partial.rule == "tier_step_down":
            params[enums.MECH_PARTIAL_RULE] = enums.PARTIAL_RULE_STEP_DOWN
    backstop = scenario.backstop
    if backstop is not None:
        params[enums.MECH_BACKSTOP] = 1.0
        params[enums.MECH_BACKSTOP_CAPITAL] = backstop.capital
        params[enums.MECH_BACKSTOP_FRACTION] = backstop.takeover_fraction
        hold = backstop.hold_steps
        params[enums.MECH_BACKSTOP_HOLD] = -1.0 if hold is None else float(hold)
    bound = scenario.insurance_fund.pays_past_bankruptcy
    if bound is not None:
        params[enums.MECH_FUND_BOUND] = 1.0
        params[enums.MECH_FUND_BOUND_FRACTION] = bound
    return params


def stage_width(params: np.ndarray | None) -> int:
    """Row width the pipeline writes with these stages: the widest stage column on, or 0."""
    if params is None:
        return 0
    if int(params[enums.MECH_FUND_BOUND]) != 0:
        return enums.N_METRICS_FUND_BOUND
    if int(params[enums.MECH_BACKSTOP]) != 0:
        return enums.N_METRICS_BACKSTOP
    return 0


def has_impact(params: np.ndarray | None) -> bool:
    """Whether a parameter vector has an impact law (then its rows have the market columns)."""
    return params is not None and int(params[enums.MECH_IMPACT]) != enums.IMPACT_NONE


__all__ = [
    "has_impact",
    "mechanics_arguments",
    "mechanics_vector",
    "neutral_vector",
    "stage_width",
    "trigger_z",
    "uses_mechanics",
    "uses_pipeline",
]
