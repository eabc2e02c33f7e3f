"""``[procyclicality]`` and the EMIR Art. 28 anti-procyclicality (APC) margin options.

``[procyclicality]`` turns on the per-path procyclicality columns of the core
engine and the stage pipeline (docs/model.md 3.2). The APC options are keys of
``[margin] model = "vol_scaled"`` (docs/model.md 3.1); this module checks them
across tables and finds the values below the regulation's minima (plausibility
warnings).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stresstest.errors import InputError
from stresstest.scenario.schema import APC_KEYS, MAX_STEPS, VolScaledMargin, spec

if TYPE_CHECKING:
    from stresstest.scenario.plausibility import Finding
    from stresstest.scenario.schema import Scenario

#: EMIR RTS 153/2013 Art. 28(1): the buffer (a) and the stressed weight (b) are at least 25%.
EMIR_MIN_SHARE = 0.25
#: EMIR RTS 153/2013 Art. 28(1)(c): the volatility floor looks back ten years.
EMIR_FLOOR_YEARS = 10.0
#: The regulation every APC warning names.
EMIR_ARTICLE = "EMIR RTS 153/2013 Art. 28(1)"
#: Path sources whose ``[paths] data`` file is the history of the volatility floor.
HISTORY_SOURCES = frozenset({"historical", "garch", "fhs"})
#: Multi-asset path sources whose ``[paths] data`` files (one per asset) are the histories.
MULTI_HISTORY_SOURCES = frozenset({"historical_multi", "fhs_multi"})


@dataclass(frozen=True, kw_only=True)
class Procyclicality:
    """``[procyclicality]``: how much a margin design moves with the market (docs/model.md 3.2)."""

    horizon_steps: int = spec(
        "n of the largest n-step increase of the margin rate, max_t (m_{t+n} - m_t) / m_t.",
        unit="steps",
        ge=1,
        le=MAX_STEPS,
    )


#: Optional tables of this module: table name -> dataclass.
PROCYCLICALITY_TABLES: dict[str, type] = {"procyclicality": Procyclicality}


def apc_keys_set(margin: Any) -> list[str]:
    """The APC keys a ``[margin]`` table sets (none for static margin)."""
    if not isinstance(margin, VolScaledMargin):
        return []
    return [key for key in APC_KEYS if getattr(margin, key) is not None]


def history_source(paths: Any) -> str | None:
    """``"gbm"`` or ``"data"`` when the path source has a volatility history, else ``None``.

    Multi-asset sources (``gbm_multi``; ``historical_multi`` and ``fhs_multi``,
    one data file per asset) have one history per asset (docs/model.md 3.1, 11.3).
    """
    source = getattr(paths, "source", None)
    if source in ("gbm", "gbm_multi"):
        return "gbm"
    if source in HISTORY_SOURCES and isinstance(getattr(paths, "data", None), Path):
        return "data"
    if source in MULTI_HISTORY_SOURCES and getattr(paths, "data", None):
        return "data"
    return None


def _refuse(problem: str, keys: str, expected: str, file: Path | None) -> InputError:
    return InputError(problem, file=file, key=keys, expected=expected)


def _lending_refusal(built: dict[str, Any]) -> tuple[str, str] | None:
    """``(setting, why)`` when the scenario is a lending market, which has no
    maintenance margin for the APC rates or ``[procyclicality]`` to act on, else ``None``.

    The core engine, the single-asset stage pipeline and the accounts kernels post
    the APC rates of docs/model.md 3.1 (one function, kernels/margin.py
    ``apc_rate``; per asset with accounts, 11.3) and measure procyclicality (3.2;
    with accounts on the book's rate, "With accounts").
    """
    if built.get("lending") is not None:
        return "lending", "a lending market has no maintenance margin (docs/model.md 13)"
    return None


def _check_apc(built: dict[str, Any], file: Path | None) -> None:
    margin = built["margin"]
    keys = apc_keys_set(margin)
    if not keys:
        return
    first = f"margin.{keys[0]}"
    refusal = _lending_refusal(built)
    if refusal is not None:
        setting, why = refusal
        raise _refuse(
            f"{first} and {setting} do not run together in this version: {why}",
            f"{first}, {setting}",
            "the APC options with a single-asset or an accounts book, with or without "
            "stages (docs/model.md 3.1, 12)",
            file,
        )
    if margin.stressed_variance is not None and margin.stressed_weight is None:
        raise _refuse(
            "margin.stressed_variance is used only with margin.stressed_weight",
            "margin.stressed_variance, margin.stressed_weight",
            "a stressed_weight with the stressed_variance, or neither",
            file,
        )
    if margin.apc_buffer is not None and (1.0 + margin.apc_buffer) * margin.cap >= 1.0:
        raise InputError(
            "the buffered cap (1 + margin.apc_buffer) x margin.cap reaches 100% of notional",
            file=file,
            key="margin.apc_buffer, margin.cap",
            value=[margin.apc_buffer, margin.cap],
            expected="(1 + apc_buffer) * cap < 1",
        )
    if margin.vol_floor_lookback_years is not None and history_source(built["paths"]) is None:
        raise InputError(
            "margin.vol_floor_lookback_years needs a path source with a history",
            file=file,
            key="margin.vol_floor_lookback_years, paths.source",
            value=getattr(built["paths"], "source", None),
            expected="paths.source gbm or gbm_multi (floor sigma^2), or historical, garch, "
            "fhs, historical_multi or fhs_multi with data files (docs/model.md 3.1)",
        )


def _check_measure(built: dict[str, Any], file: Path | None) -> None:
    table = built.get("procyclicality")
    if table is None:
        return
    refusal = _lending_refusal(built)
    if refusal is not None:
        setting, why = refusal
        raise _refuse(
            f"[procyclicality] and {setting} do not run together in this version: {why}",
            f"procyclicality, {setting}",
            "[procyclicality] with a single-asset or an accounts book, with or without "
            "the other stages (docs/model.md 3.2, 12)",
            file,
        )
    margin = built["margin"]
    lowest, key = (
        (margin.floor, "margin.floor")
        if isinstance(margin, VolScaledMargin)
        else (margin.maintenance, "margin.maintenance")
    )
    if lowest <= 0.0:
        raise InputError(
            "[procyclicality] divides by the margin rate, which may be 0 here",
            file=file,
            key=f"procyclicality, {key}",
            value=lowest,
            expected=f"{key} > 0",
        )
    n_steps = getattr(built["paths"], "n_steps", None)
    if isinstance(n_steps, int) and table.horizon_steps > n_steps:
        raise InputError(
            "the increase horizon is longer than the paths",
            file=file,
            key="procyclicality.horizon_steps, paths.n_steps",
            value=[table.horizon_steps, n_steps],
            expected=f"procyclicality.horizon_steps <= {n_steps}",
        )


def check_procyclicality(built: dict[str, Any], file: Path | None) -> None:
    """Refuse the APC options and ``[procyclicality]`` where they would mean nothing.

    The APC options and ``[procyclicality]`` run in the core engine, the
    single-asset stage pipeline and the accounts kernels (per asset); each is
    refused beside a lending market, naming both settings;
    ``stressed_variance`` needs ``stressed_weight``; the buffered
    cap must stay below 100%; the volatility floor needs a path source with a
    history; ``[procyclicality]`` needs a rate that cannot be 0 and an increase
    horizon no longer than the paths.
    """
    _check_apc(built, file)
    _check_measure(built, file)


def apc_findings(scenario: Scenario) -> list[Finding]:
    """Plausibility warnings: APC values below the minima of EMIR RTS 153/2013 Art. 28(1)."""
    from stresstest.scenario.plausibility import Finding

    margin = scenario.margin
    if not isinstance(margin, VolScaledMargin):
        return []
    found = []
    for key, letter in (("apc_buffer", "a"), ("stressed_weight", "b")):
        value = getattr(margin, key)
        if value is not None and value < EMIR_MIN_SHARE:
            found.append(
                Finding(
                    "apc_below_emir",
                    f"margin.{key}",
                    value,
                    f"below the {EMIR_MIN_SHARE:.0%} minimum of {EMIR_ARTICLE}({letter})",
                    f"at least {EMIR_MIN_SHARE:g}",
                )
            )
    years = margin.vol_floor_lookback_years
    if years is not None and years < EMIR_FLOOR_YEARS:
        found.append(
            Finding(
                "apc_below_emir",
                "margin.vol_floor_lookback_years",
                years,
                f"shorter than the ten-year lookback of {EMIR_ARTICLE}(c)",
                f"{EMIR_FLOOR_YEARS:g} years (or the longest history available)",
            )
        )
    return found
