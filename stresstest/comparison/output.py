"""Tables and files of a comparison: compare.parquet, differences.parquet, compare.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from stresstest._version import __version__
from stresstest.backtest.coverage import backtest_document
from stresstest.comparison.engine import Comparison, Match
from stresstest.engine.result import Result
from stresstest.io.atomic import atomic_dir, write_json, write_parquet, write_toml
from stresstest.kernels import enums
from stresstest.scenario import schema
from stresstest.scenario.provenance import resolved_dict, with_identity
from stresstest.scenario.schema import design_label
from stresstest.schemas.format import FORMAT_KEY, FORMAT_VERSION, parquet_metadata


def variant_design(scenario: schema.Scenario) -> tuple[str, str]:
    """``(margin_model, design)`` of a variant: its margin, or its lending design."""
    if scenario.lending is not None:  # a loan book has no margin, docs/model.md 13
        from stresstest.scenario.lending import LENDING_MODEL, lending_label

        return LENDING_MODEL, lending_label(scenario.lending)
    return scenario.margin.model, design_label(scenario.margin)


def variant_row(name: str, result: Result) -> dict[str, Any]:
    """One row of compare.parquet: a variant's risk and cost (quote units unless noted).

    For a lending variant (docs/model.md 13.6) ``margin_model`` is ``"lending"``,
    ``design`` its close factor and bonus, ``maintenance`` and ``k`` are null, the
    requirement is the debt outstanding and the rate the loan-to-value.
    """
    document = result.summary()
    summary = document["metrics"]
    margin = result.scenario.margin
    model, design = variant_design(result.scenario)
    lending = result.scenario.lending is not None
    bad_debt = summary["bad_debt"]
    drawdown = summary["fund_max_drawdown"]
    depleted = document["probability_fund_depleted"]
    penalties = result.column("fees_to_fund") + result.column("fees_to_liquidators")
    return {
        "variant": name,
        "margin_model": model,
        "design": design,
        "maintenance": margin.maintenance
        if isinstance(margin, schema.StaticMargin) and not lending
        else None,
        "k": margin.k if isinstance(margin, schema.VolScaledMargin) else None,
        "bad_debt_mean": bad_debt["mean"],
        "bad_debt_mean_se": bad_debt["mean_se"],
        "bad_debt_var99": bad_debt["q99"],
        "bad_debt_var99_9": bad_debt["q99_9"],
        "bad_debt_es99": bad_debt["es99"],
        "bad_debt_es99_se": bad_debt["es99_se"],
        "probability_fund_depleted": depleted["p"],
        "probability_fund_depleted_se": depleted["se"],
        "fund_max_drawdown_q50": drawdown["q50"],
        "fund_max_drawdown_q90": drawdown["q90"],
        "fund_max_drawdown_q99": drawdown["q99"],
        "fund_required_q99": summary["fund_required"]["q99"],
        "fund_required_q99_9": summary["fund_required"]["q99_9"],
        "n_liquidations_mean": summary["n_liquidations"]["mean"],
        "liquidated_notional_mean": summary["liquidated_notional"]["mean"],
        "penalties_paid_mean": float(penalties.mean()),
        "requirement_mean": summary["requirement_mean"]["mean"],
        "requirement_q99": summary["requirement_mean"]["q99"],
        "margin_rate_mean": summary["margin_rate_mean"]["mean"],
        "margin_rate_q99": summary["margin_rate_mean"]["q99"],
        **accounts_columns(result),
        **procyclicality_columns(result),
    }


def procyclicality_columns(result: Result) -> dict[str, Any]:
    """With ``[procyclicality]`` (docs/model.md 3.2): mean (with its standard error) and
    99% quantile over paths of each procyclicality column, in the column's unit."""
    if result.scenario.procyclicality is None:
        return {}
    summary = result.summary()["metrics"]
    columns: dict[str, Any] = {}
    for name in enums.PROCYCLICALITY_METRIC_NAMES:
        columns[f"{name}_mean"] = summary[name]["mean"]
        columns[f"{name}_mean_se"] = summary[name]["mean_se"]
        columns[f"{name}_q99"] = summary[name]["q99"]
    return columns


def accounts_columns(result: Result) -> dict[str, Any]:
    """Accounts variants (docs/model.md 11.6): margin mode, collateral scale and posted (quote)."""
    if result.book.collateral is None or result.scenario.lending is not None:
        return {}  # a loan book's collateral is the borrowers', not capital posted (13.6)
    table = result.scenario.accounts
    return {
        "accounts_mode": table.mode if table is not None else "book",
        "collateral_scale": table.collateral_scale if table is not None else 1.0,
        "collateral_posted": result.book.collateral,
    }


def compare_frame(comparison: Comparison) -> pl.DataFrame:
    """compare.parquet: one row per variant (with coverage-backtest columns if backtested)."""
    rows = []
    for name, result in zip(comparison.names, comparison.results, strict=True):
        row = variant_row(name, result)
        if comparison.backtests:
            either = comparison.backtests[name].tests["either"]
            row["backtest_exception_rate"] = either.rate
            row["backtest_expected_rate"] = either.expected_rate
            row["backtest_p_kupiec"] = either.p_pof
            row["backtest_p_independence"] = either.p_ind
        rows.append(row)
    return pl.DataFrame(rows)


def differences_frame(comparison: Comparison) -> pl.DataFrame:
    """differences.parquet: variant minus baseline, per statistic, with the paired interval."""
    rows = [
        {
            "variant": name,
            "baseline": comparison.spec.baseline,
            "statistic": statistic,
            "difference": paired.estimate,
            "ci_low": paired.low,
            "ci_high": paired.high,
            "confidence": comparison.spec.confidence,
        }
        for name, by_statistic in comparison.differences.items()
        for statistic, paired in by_statistic.items()
    ]
    return pl.DataFrame(rows)


def _match_dict(match: Match) -> dict[str, Any]:
    return {key: value for key, value in match.__dict__.items() if value is not None}


def _procyclicality_dict(comparison: Comparison) -> dict[str, Any]:
    """``{"procyclicality": {"horizon_steps": n}}`` with ``[procyclicality]``, else empty."""
    table = comparison.scenario.procyclicality
    return {} if table is None else {"procyclicality": {"horizon_steps": table.horizon_steps}}


def compare_document(comparison: Comparison) -> dict[str, Any]:
    """compare.json: variants with their overrides, the baseline, matches and verdicts."""
    overrides = comparison.overrides
    return {
        FORMAT_KEY: FORMAT_VERSION,  # the format of the whole folder (docs/results.md)
        "scenario": comparison.scenario.name,
        "seed": comparison.scenario.seed,
        "stresstest_version": __version__,
        "baseline": comparison.spec.baseline,
        "bootstrap_samples": comparison.spec.bootstrap_samples,
        "confidence": comparison.spec.confidence,
        "variants": [
            {
                "name": name,
                "overrides": overrides.get(name, {}),
                "design": variant_design(result.scenario)[1],
                **{
                    key: value
                    for key, value in accounts_columns(result).items()
                    if key != "collateral_posted"
                },
            }
            for name, result in zip(comparison.names, comparison.results, strict=True)
        ],
        **_procyclicality_dict(comparison),
        "matches": [_match_dict(match) for match in comparison.matches],
        "warnings": [  # plausibility findings, each naming its variant
            finding.record() for result in comparison.results for finding in result.warnings
        ],
    }


def write_comparison(comparison: Comparison, out_dir: Path) -> None:
    """Write the comparison folder whole or not at all; ``variants/NAME/`` is a run folder each."""
    with atomic_dir(out_dir) as staging:
        metadata = parquet_metadata()
        write_parquet(compare_frame(comparison), staging / "compare.parquet", metadata)
        write_parquet(differences_frame(comparison), staging / "differences.parquet", metadata)
        write_json(compare_document(comparison), staging / "compare.json")
        resolved = resolved_dict(
            comparison.scenario, __version__, comparison.results[0].paths_record
        )
        resolved["compare"] = comparison.scenario.raw["compare"]
        resolved = with_identity(resolved, comparison.scenario)
        write_toml(resolved, staging / "scenario.resolved.toml")
        for name, result in zip(comparison.names, comparison.results, strict=True):
            folder = staging / "variants" / name
            folder.mkdir(parents=True)
            result.write_files(folder)
            if name in comparison.backtests:
                write_json(backtest_document(comparison.backtests[name]), folder / "backtest.json")
        if comparison.backtests:
            baseline = comparison.backtests[comparison.spec.baseline]
            write_json(backtest_document(baseline), staging / "backtest.json")
