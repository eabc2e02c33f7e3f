"""Which stages a scenario turns on, and the one place that says which of them run together.

A scenario's mechanisms are stages of the per-path loop (docs/model.md 12):
oracle, market impact, breach rule, penalty, close rule and the ADL layer of
the loss waterfall. Every stage a scenario turns on must run; a set of stages
this version's engine does not run together is refused here, before anything
is read or written, with an :class:`~stresstest.errors.InputError` that names
both settings. Nothing a scenario asks for is ignored.

The table :data:`UNSUPPORTED` is the whole rule, with the pairs of it that run in
isolated mode (:data:`ISOLATED_ONLY`); docs/model.md 12 prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stresstest.errors import InputError
from stresstest.scenario.accounts import is_accounts


@dataclass(frozen=True)
class Stage:
    """One stage setting a scenario can turn on.

    Attributes
    ----------
    name
        Short name used in :data:`UNSUPPORTED`.
    setting
        The scenario setting that turns it on, as a user writes it.
    """

    name: str
    setting: str


ORACLE = Stage("oracle", "[oracle]")
MARKET = Stage("market", "[market]")
PREDICTIVE = Stage("predictive", "liquidation.trigger = 'predictive'")
VOL_FEE = Stage("vol_fee", "liquidation.fee_model = 'vol_scaled'")
PARTIAL = Stage("partial", "[partial_liquidation]")
PARTIAL_FRACTION = Stage("partial_fraction", "partial_liquidation.rule = 'fraction'")
PARTIAL_STEP_DOWN = Stage("partial_step_down", "partial_liquidation.rule = 'tier_step_down'")
ADL = Stage("adl", "[adl]")
BACKSTOP = Stage("backstop", "[backstop]")
FUND_BOUND = Stage("fund_bound", "insurance_fund.pays_past_bankruptcy")
ACCOUNTS = Stage("accounts", "multi-asset accounts ([paths] source '*_multi')")

#: Pairs of stages this version does not run together, with the reason. Every
#: pair not listed composes. Listed pairs are refused, never half run.
UNSUPPORTED: dict[frozenset[str], str] = {
    # Accounts run every stage: the oracle, the volatility-scaled penalty (docs/model.md
    # 11.7), partial liquidation by any rule (the tier step-down needs brackets, so
    # accounts: stresstest.scenario.defences refuses it without them), ADL and the
    # predictive trigger (11.8), price impact (11.9), the fund's bound (11.10) and the
    # backstop vault (11.11), in every mode.
}


#: Pairs of :data:`UNSUPPORTED` that do run when ``[accounts] mode = "isolated"`` (every
#: unit is then one position, which a single-asset rule covers). None at present: the
#: predictive trigger and the fund's bound have rules for cross units (docs/model.md
#: 11.8, 11.10).
ISOLATED_ONLY: frozenset[frozenset[str]] = frozenset()


def _isolated(built: dict[str, Any]) -> bool:
    """Whether the scenario's ``[accounts]`` table makes every account isolated."""
    table = built.get("accounts")
    return table is not None and table.mode == "isolated"


def stages_on(built: dict[str, Any]) -> list[Stage]:
    """The stages the validated tables of a scenario turn on, in the order errors name them.

    Defences first, accounts last, as the keys of the error list them.

    ``built`` maps table names to their validated dataclasses (``None`` when absent).
    """
    liquidation = built["liquidation"]
    partial = built.get("partial_liquidation")
    on = [
        # the rule first, so that a pair refused for the rule names the rule
        (PARTIAL_FRACTION, partial is not None and partial.rule == "fraction"),
        (PARTIAL_STEP_DOWN, partial is not None and partial.rule == "tier_step_down"),
        (PARTIAL, partial is not None),
        (ADL, built.get("adl") is not None),
        (BACKSTOP, built.get("backstop") is not None),
        (FUND_BOUND, built["insurance_fund"].pays_past_bankruptcy is not None),
        (MARKET, built.get("market") is not None),
        (ORACLE, built.get("oracle") is not None),
        (PREDICTIVE, liquidation.trigger == "predictive"),
        (VOL_FEE, liquidation.fee_model == "vol_scaled"),
        (ACCOUNTS, is_accounts(built["paths"], built["book"])),
    ]
    return [stage for stage, is_on in on if is_on]


def check_composition(built: dict[str, Any], file: Path | None) -> None:
    """Refuse a scenario whose stages include a pair in :data:`UNSUPPORTED`.

    Raises
    ------
    InputError
        Naming both settings, the reason, and what to drop.
    """
    stages = stages_on(built)
    for index, first in enumerate(stages):
        for second in stages[index + 1 :]:
            pair = frozenset({first.name, second.name})
            reason = UNSUPPORTED.get(pair)
            if reason is None or (pair in ISOLATED_ONLY and _isolated(built)):
                continue
            raise InputError(
                f"{first.setting} and {second.setting} do not run together in this "
                f"version: {reason}",
                file=file,
                key=f"{_key(first)}, {_key(second)}",
                expected=(
                    f"one of {first.setting} and {second.setting}; docs/model.md 12 lists "
                    "the combinations the engine runs"
                ),
            )


def _key(stage: Stage) -> str:
    """The scenario key or table that turns the stage on."""
    return {
        "accounts": "paths.source",
        "predictive": "liquidation.trigger",
        "vol_fee": "liquidation.fee_model",
        "partial": "partial_liquidation",
        "partial_fraction": "partial_liquidation.rule",
        "partial_step_down": "partial_liquidation.rule",
        "fund_bound": "insurance_fund.pays_past_bankruptcy",
    }.get(stage.name, stage.name)
