"""Optional defences of a venue in a crash: partial liquidation, auto-deleveraging and
the backstop vault.

Each table is optional; absent, the field of :class:`stresstest.scenario.schema.Scenario`
is ``None`` and the engine replays exactly as without it (docs/model.md 10).
The field metadata is the schema, as for every other table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stresstest.errors import InputError
from stresstest.limits import AMOUNT_MAX, AMOUNT_MIN
from stresstest.scenario.schema import MAX_STEPS, spec

#: The close rules of ``[partial_liquidation]`` (docs/model.md 10.1).
PARTIAL_RULES = ("to_buffer", "fraction", "tier_step_down")

#: The keys of ``[partial_liquidation]`` that only the rule ``'fraction'`` reads.
FRACTION_KEYS = ("fraction", "cooldown_steps", "min_notional")


@dataclass(frozen=True, kw_only=True)
class PartialLiquidation:
    """``[partial_liquidation]``: close only what brings a breached position back to m + buffer."""

    # On a breach the venue closes the fraction of the position that leaves the rest
    # with equity (m + buffer) times its notional at the mark (the oracle price less
    # slippage); the rest stays open and is checked again (docs/model.md 10.1).

    buffer: float = spec(
        "Equity above maintenance (or above the predictive trigger's boundary) that the "
        "remaining position is brought back to, at the mark; with the maintenance trigger "
        "and a static fee needs maintenance (or the margin floor) + buffer > liquidation.fee.",
        default=0.0,
        unit="fraction of notional",
        ge=0.0,
        lt=1.0,
    )
    rule: str | None = spec(
        "How much a breached position loses per liquidation: 'to_buffer' (absent means "
        "this) closes just enough to bring it back to the target (maintenance + buffer); "
        "'fraction' closes `fraction` of its current quantity, then a cool-down of "
        "`cooldown_steps` during which a liquidation closes it in full, and closes in full "
        "a position whose notional at the mark is at most `min_notional` (Hyperliquid: "
        "20% above 100k USDC, docs/model.md 10.1); 'tier_step_down' (accounts with "
        "accounts.bracket_floor) brings each leg of a breached unit down one maintenance "
        "bracket, to its bracket's notional floor, closes a leg of the lowest bracket in "
        "full, and closes the unit whole if the step-down would leave it in breach "
        "(Binance, docs/model.md 11.8).",
        default=None,
        choices=PARTIAL_RULES,
    )
    fraction: float | None = spec(
        "With rule = 'fraction' (required there): the share of the position's current "
        "quantity one liquidation closes (1: every liquidation closes in full).",
        default=None,
        unit="fraction of quantity",
        gt=0.0,
        le=1.0,
    )
    cooldown_steps: int | None = spec(
        "With rule = 'fraction': after a partial liquidation at step u, a liquidation at "
        "steps u+1 .. u+cooldown_steps closes the position in full (Hyperliquid: 30 s, "
        "0 steps at hourly steps). Absent: 0.",
        default=None,
        unit="steps",
        ge=0,
        le=MAX_STEPS,
    )
    min_notional: float | None = spec(
        "With rule = 'fraction': a liquidated position whose notional at the mark is at "
        "or below this is closed in full (Hyperliquid: 100000 USDC). Absent: 0.",
        default=None,
        unit="quote units",
        ge=0.0,
        le=AMOUNT_MAX,
    )

    @property
    def fraction_rule(self) -> bool:
        """Whether the venue-style rule ``'fraction'`` is on (docs/model.md 10.1)."""
        return self.rule == "fraction"

    @property
    def step_down_rule(self) -> bool:
        """Whether the rule ``'tier_step_down'`` is on (docs/model.md 11.8)."""
        return self.rule == "tier_step_down"


@dataclass(frozen=True, kw_only=True)
class Adl:
    """``[adl]``: when the fund is empty, profitable opposite positions cover the shortfall."""

    # Instead of socializing the shortfall, the venue takes what is needed from the
    # profit of open positions on the side opposite to the bankrupt ones: in the order
    # of a ranking, or the same fraction from each (docs/model.md 10.2).

    policy: str = spec(
        "Which opposite positions give up their profit: 'profit_leverage' closes them "
        "highest unrealized profit / collateral times notional / equity first, at the mark; "
        "'hyperliquid' highest mark / entry (entry / mark for a short) times notional / "
        "account value first, at the previous step's mark; 'pro_rata' reduces every "
        "profitable one by the same fraction of its quantity, so each gives up the same "
        "fraction of its profit.",
        default="profit_leverage",
        choices=("profit_leverage", "hyperliquid", "pro_rata"),
    )


@dataclass(frozen=True, kw_only=True)
class Backstop:
    """``[backstop]``: a vault with its own capital takes over positions too deep to sell."""

    # Hyperliquid's liquidator vault: a closing position whose equity at the mark is below
    # takeover_fraction x its maintenance requirement is taken over at its bankruptcy price
    # (the trader loses all its collateral); the vault books the position's later profit or
    # loss and closes it hold_steps later, or at the path's end (docs/model.md 10.3).

    capital: float = spec(
        "The vault's capital at the start of every path; a loss beyond it passes on to ADL "
        f"(with [adl]), then is socialized. At least {AMOUNT_MIN:g}.",
        unit="quote units",
        ge=AMOUNT_MIN,
        le=AMOUNT_MAX,
    )
    takeover_fraction: float = spec(
        "A closing position whose equity at the mark is below this fraction of its "
        "maintenance requirement is taken over by the vault instead of being sold "
        "(Hyperliquid: 2/3).",
        default=2.0 / 3.0,
        unit="fraction of the maintenance requirement",
        gt=0.0,
        le=1.0,
    )
    hold_steps: int | None = spec(
        "Steps the vault holds what it took over before closing it at the market price "
        "(0: at the takeover step). Absent: until the path's last step.",
        default=None,
        unit="steps",
        ge=0,
        le=MAX_STEPS,
    )


#: Defence tables: table name -> dataclass. Absent means off (the scenario field is None).
DEFENCE_TABLES: dict[str, type] = {
    "partial_liquidation": PartialLiquidation,
    "adl": Adl,
    "backstop": Backstop,
}


def check_defences(built: dict[str, Any], file: Path | None) -> None:
    """Cross-table checks of the defence tables; raises :class:`InputError`.

    With the maintenance trigger and a static fee, partial liquidation needs
    ``m + buffer > fee`` at every step (``m`` the static maintenance or the
    vol-scaled floor), so that a close at the mark can always be partial. With a
    predictive trigger or a vol-scaled fee there is no such fixed pair; a close
    whose target lies beyond its full-close bound re-arms or closes in full
    (docs/model.md 10.1).
    Which stages run together is :func:`stresstest.scenario.composition.check_composition`'s.
    """
    partial = built.get("partial_liquidation")
    if partial is None:
        return
    _check_partial_rule(partial, file)
    if partial.step_down_rule:
        _check_step_down(built, file)
    if partial.fraction_rule or partial.step_down_rule:
        return  # no target to reach: the fee and the buffer are not compared
    liquidation = built["liquidation"]
    if liquidation.trigger != "maintenance" or liquidation.fee_model != "static":
        return  # no fixed m + b and fee to compare: the rule of 10.1 covers F <= T
    margin = built["margin"]
    lowest_rate = margin.maintenance if hasattr(margin, "maintenance") else margin.floor
    fee = liquidation.fee
    if not lowest_rate + partial.buffer > fee:
        raise InputError(
            "maintenance + buffer must exceed the liquidation fee",
            file=file,
            key="partial_liquidation.buffer",
            value=partial.buffer,
            expected=f"a number > fee - lowest maintenance rate ({fee - lowest_rate:g})",
        )


def _check_partial_rule(partial: PartialLiquidation, file: Path | None) -> None:
    """Refuse keys of ``[partial_liquidation]`` that the chosen rule does not read.

    ``rule = 'fraction'`` needs ``fraction`` and has no target, so a ``buffer`` other
    than 0 means nothing; the keys of :data:`FRACTION_KEYS` mean nothing to
    ``'to_buffer'`` (docs/model.md 10.1). Raises :class:`InputError` naming both keys.
    """
    if partial.fraction_rule:
        if partial.fraction is None:
            raise InputError(
                "rule = 'fraction' needs the share of the position closed per liquidation",
                file=file,
                key="partial_liquidation.fraction",
                value=None,
                expected="a number in (0, 1] with partial_liquidation.rule = 'fraction'",
            )
        if partial.buffer != 0.0:
            raise InputError(
                "partial_liquidation.rule = 'fraction' and partial_liquidation.buffer do not "
                "go together: the fraction rule closes a fixed share, not down to a target, "
                "so the buffer above the target means nothing",
                file=file,
                key="partial_liquidation.rule, partial_liquidation.buffer",
                value=partial.buffer,
                expected="no buffer (or 0) with rule = 'fraction', or rule = 'to_buffer'",
            )
        return
    if partial.step_down_rule and partial.buffer != 0.0:
        raise InputError(
            "partial_liquidation.rule = 'tier_step_down' and partial_liquidation.buffer do "
            "not go together: the step-down closes to a bracket's floor, not down to a "
            "target, so the buffer above the target means nothing",
            file=file,
            key="partial_liquidation.rule, partial_liquidation.buffer",
            value=partial.buffer,
            expected="no buffer (or 0) with rule = 'tier_step_down', or rule = 'to_buffer'",
        )
    for name in FRACTION_KEYS:
        value = getattr(partial, name)
        if value is not None:
            raise InputError(
                f"partial_liquidation.{name} is read only by rule = 'fraction'; with "
                f"partial_liquidation.rule = {partial.rule or 'to_buffer'!r} it means nothing",
                file=file,
                key=f"partial_liquidation.rule, partial_liquidation.{name}",
                value=value,
                expected=f"partial_liquidation.rule = 'fraction', or no {name}",
            )


def _check_step_down(built: dict[str, Any], file: Path | None) -> None:
    """Refuse ``rule = 'tier_step_down'`` without tiered brackets to step down.

    The rule moves a leg to the floor of its maintenance bracket (docs/model.md 11.8),
    so it needs the accounts engine (multi-asset paths and an accounts book) and
    ``[accounts] bracket_floor``. Raises :class:`InputError` naming both settings.
    """
    table = built.get("accounts")
    if table is not None and table.bracket_floor:
        return
    raise InputError(
        "partial_liquidation.rule = 'tier_step_down' needs maintenance brackets to step "
        "down: it brings a position to the notional floor of its bracket, and this "
        "scenario has no accounts.bracket_floor",
        file=file,
        key="partial_liquidation.rule, accounts.bracket_floor",
        value="tier_step_down",
        expected=(
            "[accounts] bracket_floor and bracket_rate (accounts engine: '*_multi' paths "
            "and an accounts book), or another partial_liquidation.rule"
        ),
    )
