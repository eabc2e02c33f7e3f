"""The ``[compare]`` table: variants and sweeps as overrides of the base scenario.

```toml
[compare]
baseline = "static_0.5"          # default: the first variant
bootstrap_samples = 1000         # paired bootstrap resamples for confidence intervals
confidence = 0.95

[[compare.variants]]
name = "static_0.5"
"margin.maintenance" = 0.005     # a dotted key overrides one value

[[compare.variants]]
name = "vol_k3"
margin = { model = "vol_scaled", k = 3.0, horizon_steps = 24, ewma_lambda = 0.97,
           initial_variance = 3.6e-5, floor = 0.004, cap = 0.25 }   # a table replaces the table

[[compare.sweep]]
parameter = "margin.maintenance"
values = [0.005, 0.01, 0.02]
name = "static_{value}"          # default: "<parameter>={value}"
overrides = { margin = { model = "static", maintenance = 0.005 } }   # applied before the sweep
```

A lending scenario (docs/model.md 13) compares lending designs the same way: a
variant overrides keys of ``[lending]`` (``"lending.close_factor" = 1.0``), of
the loan ``[book]``, of ``[oracle]`` or of ``[insurance_fund]``.

Optionally, ``backtest_data = "candles.parquet"`` (relative to the scenario file)
backtests every variant's margin on that history (``backtest_coverage``, default
0.99; ``backtest_horizon_steps``, default as ``stresstest backtest``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stresstest.errors import InputError
from stresstest.io.atomic import MAX_NAME_CHARS, is_plain_name
from stresstest.scenario import Scenario
from stresstest.scenario.lending import NOT_WITH_LENDING

_COMPARE_KEYS = {
    "baseline",
    "bootstrap_samples",
    "confidence",
    "variants",
    "sweep",
    "backtest_data",
    "backtest_coverage",
    "backtest_horizon_steps",
}
_SWEEP_KEYS = {"parameter", "values", "name", "overrides"}


@dataclass(frozen=True)
class Variant:
    """A named design: the base scenario with ``overrides`` applied and validated."""

    name: str
    overrides: dict[str, Any]
    scenario: Scenario


@dataclass(frozen=True)
class CompareSpec:
    """Validated ``[compare]`` table."""

    variants: tuple[Variant, ...]
    baseline: str
    bootstrap_samples: int
    confidence: float
    backtest_data: Path | None = None
    backtest_coverage: float = 0.99
    backtest_horizon_steps: int | None = None


def _error(
    problem: str, file: Path | None, key: str, value: Any = None, expected: str | None = None
) -> InputError:
    return InputError(problem, file=file, key=key, value=value, expected=expected)


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _sweep_variants(sweep: Any, index: int, file: Path | None) -> list[tuple[str, dict[str, Any]]]:
    key = f"compare.sweep[{index}]"
    if not isinstance(sweep, dict):
        raise _error("not a table", file, key, sweep, "a [[compare.sweep]] table")
    for name in sweep:
        if name not in _SWEEP_KEYS:
            raise _error(
                "unknown key", file, f"{key}.{name}", sweep[name], f"one of {sorted(_SWEEP_KEYS)}"
            )
    parameter = sweep.get("parameter")
    if not isinstance(parameter, str) or parameter.count(".") != 1:
        raise _error(
            "missing or bad parameter",
            file,
            f"{key}.parameter",
            parameter,
            "a dotted key such as 'margin.k'",
        )
    values = sweep.get("values")
    if not isinstance(values, list) or not values:
        raise _error("missing or empty values", file, f"{key}.values", values, "a non-empty array")
    template = sweep.get("name", parameter + "={value}")
    if not isinstance(template, str) or "{value}" not in template:
        raise _error(
            "bad name template", file, f"{key}.name", template, "a string containing '{value}'"
        )
    base = sweep.get("overrides", {})
    if not isinstance(base, dict):
        raise _error("not a table", file, f"{key}.overrides", base, "a table of overrides")
    return [
        (template.replace("{value}", _format_value(value)), {**base, parameter: value})
        for value in values
    ]


def parse_compare(scenario: Scenario) -> CompareSpec:
    """Build every variant of the scenario's ``[compare]`` table and check they are paired.

    Variants must keep the base scenario's ``[paths]`` and seed: every variant
    is replayed on the same paths, so differences between them are paired.
    """
    file = scenario.source_file
    table = scenario.raw.get("compare")
    if not isinstance(table, dict):
        raise _error(
            "missing table", file, "compare", table, "a [compare] table with variants or sweeps"
        )
    for name in table:
        if name not in _COMPARE_KEYS:
            raise _error(
                "unknown key",
                file,
                f"compare.{name}",
                table[name],
                f"one of {sorted(_COMPARE_KEYS)}",
            )
    named: list[tuple[str, dict[str, Any]]] = []
    variants_raw = table.get("variants", [])
    if not isinstance(variants_raw, list):
        raise _error(
            "not an array of tables",
            file,
            "compare.variants",
            variants_raw,
            "[[compare.variants]] tables",
        )
    for index, entry in enumerate(variants_raw):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("name"), str)
            or not entry["name"]
        ):
            raise _error(
                "variant without a name",
                file,
                f"compare.variants[{index}].name",
                entry,
                "a non-empty string",
            )
        named.append((entry["name"], {key: value for key, value in entry.items() if key != "name"}))
    sweeps = table.get("sweep", [])
    if isinstance(sweeps, dict):
        sweeps = [sweeps]
    if not isinstance(sweeps, list):
        raise _error(
            "not an array of tables", file, "compare.sweep", sweeps, "[[compare.sweep]] tables"
        )
    for index, sweep in enumerate(sweeps):
        named.extend(_sweep_variants(sweep, index, file))
    if not named:
        raise _error(
            "no variants",
            file,
            "compare",
            None,
            "at least one [[compare.variants]] or [[compare.sweep]]",
        )
    seen: set[str] = set()
    for name, _ in named:
        if name in seen:
            raise _error("duplicate variant name", file, "compare.variants", name, "unique names")
        if not is_plain_name(name) or not all(char.isalnum() or char in "-_.=@" for char in name):
            raise _error(
                "bad variant name",
                file,
                "compare.variants",
                name,
                "a plain folder name (it names variants/NAME/): letters, digits and - _ . = @, "
                f"not '.' or '..', at most {MAX_NAME_CHARS} characters",
            )
        seen.add(name)
    base = scenario_without_compare(scenario)
    tables = (
        "[book], [lending], [oracle] or [insurance_fund]"  # a lending market, docs/model.md 13
        if scenario.lending is not None
        else "[book], [margin], [liquidation] or [insurance_fund]"
    )
    variants = []
    for name, overrides in named:
        for key in overrides:
            if key.split(".")[0] in ("paths", "scenario"):
                raise _error(
                    "variants must share the paths and the seed",
                    file,
                    f"compare variant '{name}': {key}",
                    overrides[key],
                    f"overrides of {tables} only",
                )
            if scenario.lending is not None and key.split(".")[0] in NOT_WITH_LENDING:
                raise _error(
                    f"[{key.split('.')[0]}] and a loan book do not run together: "
                    f"{NOT_WITH_LENDING[key.split('.')[0]]}",
                    file,
                    f"compare variant '{name}': {key}, book.source",
                    overrides[key],
                    f"overrides of {tables} only (docs/model.md 13.8)",
                )
        variants.append(Variant(name, overrides, base.with_overrides(overrides)))
    baseline = table.get("baseline", variants[0].name)
    if baseline not in seen:
        raise _error(
            "unknown baseline", file, "compare.baseline", baseline, f"one of {sorted(seen)}"
        )
    samples = table.get("bootstrap_samples", 1000)
    if isinstance(samples, bool) or not isinstance(samples, int) or not 10 <= samples <= 100_000:
        raise _error(
            "out of range",
            file,
            "compare.bootstrap_samples",
            samples,
            "an integer from 10 to 100000",
        )
    confidence = table.get("confidence", 0.95)
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float)
        or not 0.5 <= confidence < 1
        or math.isnan(confidence)
    ):
        raise _error("out of range", file, "compare.confidence", confidence, "a number in [0.5, 1)")
    backtest_data = table.get("backtest_data")
    if backtest_data is not None:
        if not isinstance(backtest_data, str):
            raise _error("wrong type", file, "compare.backtest_data", backtest_data, "a file path")
        base_dir = file.parent if file is not None else Path.cwd()
        backtest_data = (base_dir / backtest_data).resolve()
        if not backtest_data.is_file():
            raise _error(
                "file not found", file, "compare.backtest_data", str(backtest_data), "a candle file"
            )
    coverage = table.get("backtest_coverage", 0.99)
    if (
        isinstance(coverage, bool)
        or not isinstance(coverage, int | float)
        or not 0.5 <= coverage < 1
    ):
        raise _error(
            "out of range", file, "compare.backtest_coverage", coverage, "a number in [0.5, 1)"
        )
    horizon = table.get("backtest_horizon_steps")
    if horizon is not None and (
        isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1
    ):
        raise _error(
            "out of range", file, "compare.backtest_horizon_steps", horizon, "an integer >= 1"
        )
    return CompareSpec(
        tuple(variants),
        baseline,
        samples,
        float(confidence),
        backtest_data,
        float(coverage),
        horizon,
    )


def scenario_without_compare(scenario: Scenario) -> Scenario:
    """The base scenario as ``stresstest run`` sees it (the ``[compare]`` table dropped).

    Its ``--set`` overrides stay recorded (``Scenario.overrides``).
    """
    raw = {key: value for key, value in scenario.raw.items() if key != "compare"}
    from stresstest.scenario.validate import scenario_from_dict

    base = scenario_from_dict(raw, file=scenario.source_file)
    return dataclasses.replace(base, overrides=scenario.overrides)
