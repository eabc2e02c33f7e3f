"""``[attribution]``: which cohorts of the book the liquidations and bad debt come from.

Optional; absent, the attribution runs with the defaults below on every engine
that supports it (docs/model.md 6b). The field metadata is the schema, as for
every other table.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stresstest.errors import InputError
from stresstest.scenario.accounts import is_accounts
from stresstest.scenario.schema import MAX_STEPS, spec

#: Default leverage edges (entry notional / collateral), dimensionless.
DEFAULT_LEVERAGE_BUCKETS: tuple[float, ...] = (5.0, 10.0, 25.0)
#: Default entry-notional edges, quote units.
DEFAULT_NOTIONAL_BUCKETS: tuple[float, ...] = (10_000.0, 100_000.0)
#: Most edges of one list: at most 33 buckets per dimension.
MAX_EDGES = 32


@dataclass(frozen=True, kw_only=True)
class Attribution:
    """``[attribution]``: liquidations, penalties and bad debt by cohort and by flag step."""

    enabled: bool = spec(
        "Write attribution.parquet and attribution_steps.parquet (docs/model.md 6b).",
        default=True,
    )
    leverage_buckets: list[float] = spec(
        "Ascending leverage edges (entry notional / collateral); bucket [a, b) is left-closed, "
        "the first starts at 0 and the last is unbounded (zero collateral: infinite leverage).",
        default=DEFAULT_LEVERAGE_BUCKETS,
        unit="dimensionless",
    )
    notional_buckets: list[float] = spec(
        "Ascending entry-notional (q * e) edges; buckets left-closed as for leverage.",
        default=DEFAULT_NOTIONAL_BUCKETS,
        unit="quote units",
    )
    step_buckets: list[float] | None = spec(
        "Ascending flag-step edges, whole numbers >= 1; absent: 1 and the quarters of the "
        "horizon (ceil(T/4), ceil(T/2), ceil(3T/4)), so step 0 has a bucket of its own.",
        default=None,
        unit="steps",
    )


#: Output tables: table name -> dataclass. Absent means the defaults.
ATTRIBUTION_TABLES: dict[str, type] = {"attribution": Attribution}


def _check_edges(values: tuple[float, ...], key: str, file: Path | None, whole: bool) -> None:
    if not 1 <= len(values) <= MAX_EDGES:
        raise InputError(
            "wrong number of bucket edges",
            file=file,
            key=key,
            value=list(values),
            expected=f"from 1 to {MAX_EDGES} edges",
        )
    for value in values:
        bad = not value > 0.0 or (whole and (value != math.floor(value) or value > MAX_STEPS))
        if bad:
            raise InputError(
                "bad bucket edge",
                file=file,
                key=key,
                value=value,
                expected="whole numbers from 1 to 10,000,000" if whole else "numbers > 0",
            )
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise InputError(
            "bucket edges not strictly ascending",
            file=file,
            key=key,
            value=list(values),
            expected="strictly ascending edges",
        )


def check_attribution(built: dict[str, Any], file: Path | None) -> None:
    """Check the edges, and refuse ``[attribution]`` with an engine that cannot attribute.

    The stage pipeline (docs/model.md 12) and accounts (11) do not attribute; an
    explicit ``[attribution]`` table (other than ``enabled = false``) with either
    is refused naming both settings. Without the table such runs record in
    summary.json that the attribution is absent and why.
    """
    table = built.get("attribution")
    if table is None:
        return
    _check_edges(tuple(table.leverage_buckets), "attribution.leverage_buckets", file, False)
    _check_edges(tuple(table.notional_buckets), "attribution.notional_buckets", file, False)
    if table.step_buckets is not None:
        _check_edges(tuple(table.step_buckets), "attribution.step_buckets", file, True)
    if not table.enabled:
        return
    reason = unsupported_reason(built)
    if reason is not None:
        setting, why = reason
        raise InputError(
            f"[attribution] and {setting} do not run together in this version: {why}",
            file=file,
            key=f"attribution, {setting}",
            expected="[attribution] enabled = false, or the core engine (docs/model.md 6b)",
        )


def unsupported_reason(tables: Any) -> tuple[str, str] | None:
    """``(setting, reason)`` when the engine a scenario uses cannot attribute, else ``None``.

    ``tables`` is a built-tables dict or a :class:`~stresstest.scenario.schema.Scenario`.
    """

    def get(name: str) -> Any:
        return tables.get(name) if isinstance(tables, dict) else getattr(tables, name, None)

    if get("lending") is not None:
        return "lending", "lending markets (docs/model.md 13) are not attributed"
    if is_accounts(get("paths"), get("book")):
        return "accounts", "accounts and cross-margin (docs/model.md 11) are not attributed"
    stages = [
        name for name in ("oracle", "market", "partial_liquidation", "adl", "backstop") if get(name)
    ]
    liquidation = get("liquidation")
    if liquidation is not None and liquidation.trigger != "maintenance":
        stages.append("liquidation.trigger")
    if liquidation is not None and liquidation.fee_model != "static":
        stages.append("liquidation.fee_model")
    fund = get("insurance_fund")
    if fund is not None and fund.pays_past_bankruptcy is not None:
        stages.append("insurance_fund.pays_past_bankruptcy")
    if stages:
        return stages[0], "the stage pipeline (docs/model.md 12) is not attributed"
    return None
