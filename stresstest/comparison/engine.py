"""Run every variant of a comparison on the same paths, match designs, estimate differences."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from stresstest.comparison.matching import (
    MATCH_BRACKET,
    find_matching_rates,
    no_match_text,
)
from stresstest.comparison.measuring import MeasureMemo, StaticFamily, static_variant
from stresstest.comparison.paired import (
    PairedDifference,
    expected_shortfall_99,
    frequency_positive,
    mean,
    paired_difference,
    resampled_statistics,
)
from stresstest.data.candles import load_candles
from stresstest.engine.result import Result
from stresstest.engine.run import (
    PrepareCache,
    Progress,
    check_options,
    checked_result,
    prepare_run,
)
from stresstest.errors import InputError
from stresstest.kernels import enums
from stresstest.scenario import Scenario, schema
from stresstest.scenario.compare import CompareSpec, Variant, parse_compare
from stresstest.scenario.plausibility import emit, refuse_strict, with_variant
from stresstest.scenario.tables import scenario_kind

if TYPE_CHECKING:
    from stresstest.backtest.coverage import Backtest

#: Statistics whose paired differences against the baseline are reported.
DIFFERENCE_STATISTICS: dict[str, tuple[str, Callable[[np.ndarray], float]]] = {
    "bad_debt_mean": ("bad_debt", mean),
    "bad_debt_es99": ("bad_debt", expected_shortfall_99),
    "probability_fund_depleted": ("socialized_loss", frequency_positive),
    "fund_max_drawdown_mean": ("fund_max_drawdown", mean),
    "n_liquidations_mean": ("n_liquidations", mean),
    "penalties_paid_mean": ("penalties_paid", mean),
    "requirement_mean": ("requirement_mean", mean),
}
#: Accounts comparisons add the capital side: collateral posted (quote units, the same on
#: every path, so its paired difference is exact and its interval has zero width).
ACCOUNTS_DIFFERENCE_STATISTICS: dict[str, tuple[str, Callable[[np.ndarray], float]]] = {
    **DIFFERENCE_STATISTICS,
    "collateral_posted": ("collateral_posted", mean),
}

#: With ``[procyclicality]`` (docs/model.md 3.2): the mean of each procyclicality column.
PROCYCLICALITY_DIFFERENCE_STATISTICS: dict[str, tuple[str, Callable[[np.ndarray], float]]] = {
    f"{name}_mean": (name, mean) for name in enums.PROCYCLICALITY_METRIC_NAMES
}

#: Lending comparisons (docs/model.md 13) add the liquidators' and the borrowers' side:
#: debt repaid, collateral seized, protocol fees, liquidators' profit after pools and gas,
#: debt left unprofitable to liquidate and debt beyond its collateral at the end (quote).
LENDING_DIFFERENCE_STATISTICS: dict[str, tuple[str, Callable[[np.ndarray], float]]] = {
    **DIFFERENCE_STATISTICS,
    "liquidated_notional_mean": ("liquidated_notional", mean),
    "collateral_seized_mean": ("collateral_seized", mean),
    "fees_to_fund_mean": ("fees_to_fund", mean),
    "liquidator_profit_mean": ("liquidator_profit", mean),
    "unprofitable_debt_mean": ("unprofitable_debt", mean),
    "underwater_debt_mean": ("underwater_debt", mean),
}

MATCH_KINDS = ("cost", "risk")
#: Which of several matching static rates is the match (docs/compare.md, "Matching").
MATCH_RULE = "lowest"


@dataclass(frozen=True)
class Match:
    """A static design matched to a volatility-scaled one at equal cost or equal risk.

    ``static_maintenance`` is the lowest of ``matching_rates`` (``MATCH_RULE``);
    ``scan_rates`` and ``scan_values`` are the grid the search scanned and the
    measure on it (quote units), kept so that a missing match can be explained.
    """

    variant: str
    matched_on: str
    static_variant: str | None
    static_maintenance: float | None
    target: float
    achieved: float | None
    evaluations: int
    verdict: str
    statistic: str | None = None
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    matching_rates: tuple[float, ...] = ()
    scan_rates: tuple[float, ...] = ()
    scan_values: tuple[float, ...] = ()
    rule: str = MATCH_RULE


@dataclass(frozen=True)
class Comparison:
    """Results of every variant on the same paths, with paired differences and matches."""

    scenario: Scenario
    spec: CompareSpec
    names: tuple[str, ...]
    results: tuple[Result, ...]
    differences: dict[str, dict[str, PairedDifference]]
    matches: tuple[Match, ...] = field(default=())
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    backtests: dict[str, Backtest] = field(default_factory=dict)

    def result(self, name: str) -> Result:
        """The result of one variant."""
        return self.results[self.names.index(name)]

    @property
    def table(self) -> pl.DataFrame:
        """One row per variant: the columns of ``compare.parquet``."""
        from stresstest.comparison.output import compare_frame

        return compare_frame(self)

    @property
    def differences_table(self) -> pl.DataFrame:
        """Paired differences against the baseline: the columns of ``differences.parquet``."""
        from stresstest.comparison.output import differences_frame

        return differences_frame(self)


def columns_of(result: Result) -> dict[str, np.ndarray]:
    """Per-path columns used by the paired statistics (with ``penalties_paid``)."""
    columns = {name: result.column(name) for name in enums.METRIC_NAMES}
    columns["penalties_paid"] = columns["fees_to_fund"] + columns["fees_to_liquidators"]
    if result.scenario.procyclicality is not None:  # docs/model.md 3.2
        columns.update({name: result.column(name) for name in enums.PROCYCLICALITY_METRIC_NAMES})
    if result.scenario.lending is not None:  # a lending market, docs/model.md 13.6
        columns.update({name: result.column(name) for name in enums.LENDING_METRIC_NAMES})
        return columns
    if result.book.collateral is not None:  # accounts: collateral posted, docs/model.md 11.6
        columns["collateral_posted"] = np.full(result.n_paths, result.book.collateral)
    return columns


def _check_accounts_compare(spec: CompareSpec, file: Path | None, match: str | None) -> None:
    """Refuse the options an accounts comparison (docs/model.md 11.6) does not support.

    ``--match`` matches each volatility-scaled variant with one static maintenance
    rate for every asset (docs/model.md 11.6); a matched variant with tiered
    brackets (11.4) has no such twin, and is refused before anything is replayed.
    """
    if match is not None:
        for variant in spec.variants:
            scenario = variant.scenario
            table = getattr(scenario, "accounts", None)
            if not isinstance(scenario.margin, schema.VolScaledMargin) or table is None:
                continue
            if table.bracket_floor is not None:
                raise InputError(
                    f"variant {variant.name!r}: --match replaces the margin with one static "
                    "maintenance rate for every asset, which with tiered brackets is only the "
                    "first bracket's rate and must stay below the higher brackets' rates "
                    "(docs/model.md 11.4), so the scanned rates up to "
                    f"{MATCH_BRACKET[1]:g} have no static twin",
                    file=file,
                    key="match, accounts.bracket_floor",
                    value=f"{match}, {table.bracket_floor}",
                    expected="no --match, or no brackets in a volatility-scaled variant",
                )
    if spec.backtest_data is not None:
        raise InputError(
            "the coverage backtest is single-asset",
            file=file,
            key="compare.backtest_data",
            value=str(spec.backtest_data),
            expected="no backtest_data in an accounts scenario",
        )


def _check_lending_compare(spec: CompareSpec, scenario: Scenario, match: str | None) -> None:
    """Refuse the options a lending comparison (docs/model.md 13) does not support."""
    source = getattr(scenario.book, "source", None)
    if match is not None:
        raise InputError(
            "--match searches static maintenance rates of volatility-scaled perps designs; "
            "a loan book has no maintenance margin, so lending variants are compared as given",
            file=scenario.source_file,
            key="match, book.source",
            value=f"{match}, {source}",
            expected="no --match for a lending scenario",
        )
    if spec.backtest_data is not None:
        raise InputError(
            "the coverage backtest measures a perps margin rate; a loan book has none",
            file=scenario.source_file,
            key="compare.backtest_data, book.source",
            value=f"{spec.backtest_data}, {source}",
            expected="no backtest_data in a lending scenario",
        )


def cost_of(result: Result) -> float:
    """Cost to traders: mean over paths of the time-averaged maintenance requirement (quote)."""
    return float(np.mean(result.column("requirement_mean")))


def risk_of(result: Result) -> float:
    """Risk: ES 99% of bad debt over paths (quote)."""
    return expected_shortfall_99(result.column("bad_debt"))


def run_variants(
    variants: list[Variant],
    options: dict[str, Any],
    progress: Progress | None = None,
    *,
    strict: bool | None = None,
    attribution: bool = True,
    cache: PrepareCache | None = None,
) -> list[Result]:
    """Replay ``variants`` on the same paths.

    ``strict`` ``None``: no plausibility checks (the static designs a match
    scans); ``False``: each variant's findings are issued and kept in its
    result; ``True``: any finding is refused (before the replay if it needs none).
    ``attribution`` ``False``: no cohort attribution (docs/model.md 6b), for replays
    whose results only measure a design (a match's scan, an optimize grid, a check).
    ``cache``: the paths, books and cohort books of earlier replays on the same
    paths (:class:`~stresstest.engine.run.PrepareCache`), reused and added to.
    """
    prepared = prepare_run(
        [variant.scenario for variant in variants], attribution=attribution, cache=cache
    )
    found = [
        tuple(with_variant(finding, variant.name) for finding in own)
        for variant, own in zip(variants, prepared.findings, strict=True)
    ]
    if strict is not None:
        emit(finding for findings in found for finding in findings)
        if strict:
            refuse_strict([finding for findings in found for finding in findings], "before the run")
    metrics, records = prepared.execute(progress=progress, **options)
    results = prepared.results(metrics, records)
    if strict is None:
        return results
    after = [
        checked_result(result, earlier, strict=False, variant=variant.name)
        for result, earlier, variant in zip(results, found, variants, strict=True)
    ]
    if strict:
        refuse_strict(
            [f for result in after for f in result.warnings if f.stage == "post-run"],
            "after the run",
        )
    return after


def _match(
    variant: Variant,
    result: Result,
    kind: str,
    options: dict[str, Any],
    cache: PrepareCache,
    memo: MeasureMemo,
) -> tuple[Match, Variant | None, Result | None]:
    """The static rates with the same cost or the same ES99 bad debt as ``variant``.

    Scans ``MATCH_GRID_POINTS`` rates in one replay on the same paths, refines each
    sign change (:func:`~stresstest.comparison.matching.find_matching_rates`) and
    takes the lowest matching rate (``MATCH_RULE``, docs/compare.md). Every replay
    goes through :func:`~stresstest.engine.run.prepare_run` (single-asset or
    accounts) and reads the paths and the books of ``cache``; a static design another
    match replayed already is read from ``memo``. A cost match measures its
    designs' requirement column alone (:meth:`StaticFamily.costs`), the same bits.
    """
    measure = cost_of if kind == "cost" else risk_of
    target = measure(result)
    family = StaticFamily(variant, kind, options, cache, memo)  # shared paths, book, designs
    last: list[float] = []  # the rate of the latest single replay

    def measure_many(rates: Any) -> list[float]:
        if kind == "cost":  # requirement_mean alone (replay.py requirement_paths)
            return family.costs(rates)
        return [measure(found) for found in family.results(rates)]

    def measure_one(rate: float) -> float:
        last[:] = [rate]
        return measure_many([rate])[0]

    search = find_matching_rates(measure_many, measure_one, target)
    if not search.matching_rates:
        verdict = no_match_text(kind, target, search, MATCH_BRACKET)
        found = Match(
            variant.name,
            kind,
            None,
            None,
            target,
            None,
            search.evaluations,
            verdict,
            scan_rates=search.rates,
            scan_values=search.values,
        )
        return found, None, None
    maintenance = search.matching_rates[0]
    evaluations = search.evaluations
    if last != [maintenance]:  # a grid rate, or Brent's last step was not its answer
        evaluations += 1
    matched_variant = static_variant(variant, maintenance, kind)
    # The matched design in full (attribution, records, findings off as before: strict None).
    matched = run_variants([matched_variant], options, cache=cache)[0]
    found = Match(
        variant.name,
        kind,
        matched_variant.name,
        maintenance,
        target,
        measure(matched),
        evaluations,
        "",
        matching_rates=search.matching_rates,
        scan_rates=search.rates,
        scan_values=search.values,
    )
    return found, matched_variant, matched


def _verdict(match: Match, difference: dict[str, PairedDifference], confidence: float) -> str:
    """Which design is ahead at equal cost (lower risk) or at equal risk (lower cost)."""
    statistic = "bad_debt_es99" if match.matched_on == "cost" else "requirement_mean"
    what = "ES99 of bad debt" if match.matched_on == "cost" else "average requirement"
    paired = difference[statistic]
    interval = f"{confidence:.0%} CI [{paired.low:,.6g}, {paired.high:,.6g}]"
    if paired.high < 0.0:
        leader = f"{match.variant} is ahead"
    elif paired.low > 0.0:
        leader = f"static {match.static_maintenance:.6g} is ahead"
    else:
        leader = "neither design is ahead"
    others = [f"{rate:.6g}" for rate in match.matching_rates[1:]]
    also = (
        f"; static {', '.join(others)} also match{'es' if len(others) == 1 else ''} "
        f"(the {MATCH_RULE} matching rate is used)"
        if others
        else ""
    )
    return (
        f"at equal {match.matched_on}: {leader}; {what} of {match.variant} minus static "
        f"{match.static_maintenance:.6g} = {paired.estimate:,.6g} ({interval})"
        f"{also}"
    )


def compare(
    scenario: Scenario | str | Path,
    *,
    match: str | None = None,
    chunk_size: int | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    strict: bool = False,
) -> Comparison:
    """Replay every variant of ``scenario``'s ``[compare]`` table on the same paths.

    Paths are generated once per chunk and fed to every variant, so differences
    are paired. With ``match`` (``"cost"`` or ``"risk"``), each volatility-scaled
    variant gets a static twin with the same average requirement or the same
    ES99 of bad debt (quote units): every matching static rate is found by a scan
    of ``MATCH_GRID_POINTS`` rates and Brent's method on each sign change, and the
    lowest is the twin (docs/compare.md, "Matching"); an accounts variant's twin has
    one static rate for every asset (docs/model.md 11.6). ``scenario`` is a loaded
    scenario or the path of a scenario TOML file (``str`` or ``Path``).

    Each variant's plausibility findings (:mod:`stresstest.scenario.plausibility`)
    are issued as warnings and kept in its result; ``strict`` refuses them
    (``InputError``), before the replay for those that need none.
    """
    if not isinstance(scenario, Scenario):
        from stresstest.scenario import load_scenario

        scenario = load_scenario(Path(scenario))
    if match is not None and match not in MATCH_KINDS:
        raise InputError(
            "unknown match", key="match", value=match, expected=f"one of {MATCH_KINDS}"
        )
    check_options(chunk_size, threads, executor)
    spec = parse_compare(scenario)
    options = {"chunk_size": chunk_size, "executor": executor, "scheduler": scheduler}
    variants = list(spec.variants)
    # Every variant is of the base's kind: they share [paths], which allow only one kind
    # of book, and validation refuses a loan book with [margin] (docs/model.md 13.8).
    kind = scenario_kind(scenario)
    accounts = kind == "accounts"
    # Paths generated once (held in memory when they fit, with the local executor: dask
    # workers generate their own chunks), each book built and sorted once: every
    # variant, every static rate of a match and the matched designs.
    cache = PrepareCache(hold_paths=executor == "local")
    lending = kind == "lending"
    if lending:  # lending designs on the same paths (docs/model.md 13, docs/lending.md)
        _check_lending_compare(spec, scenario, match)
    elif accounts:  # same paths, same accounts, every variant (docs/model.md 11.6)
        _check_accounts_compare(spec, scenario.source_file, match)
    # every kind through one prepared run (engine/prepared.py)
    results = run_variants(variants, options, progress, strict=strict, cache=cache)
    statistics = ACCOUNTS_DIFFERENCE_STATISTICS if accounts else DIFFERENCE_STATISTICS
    if lending:
        statistics = LENDING_DIFFERENCE_STATISTICS
    if scenario.procyclicality is not None:
        statistics = {**statistics, **PROCYCLICALITY_DIFFERENCE_STATISTICS}
    matches: list[Match] = []
    memo = MeasureMemo()  # static designs measured: the scan's grid is the same for every match
    if match is not None:
        for variant, result in list(zip(variants, results, strict=True)):
            if not isinstance(variant.scenario.margin, schema.VolScaledMargin):
                continue
            found, matched_variant, matched_result = _match(
                variant, result, match, options, cache, memo
            )
            matches.append(found)
            if matched_variant is not None and matched_result is not None:
                variants.append(matched_variant)
                results.append(matched_result)
    names = tuple(variant.name for variant in variants)
    # Every design's statistics on the same resamples of the paths, computed once each
    # (the baseline's and a matched pair's are shared by every difference they enter).
    resampled = resampled_statistics(
        [columns_of(result) for result in results],
        statistics,
        samples=spec.bootstrap_samples,
        seed=scenario.seed,
    )
    baseline = resampled[names.index(spec.baseline)]
    differences = {
        name: {
            statistic: paired_difference(values[statistic], baseline[statistic], spec.confidence)
            for statistic in statistics
        }
        for name, values in zip(names, resampled, strict=True)
    }
    judged = []
    for found in matches:
        if found.static_variant is None:
            judged.append(found)
            continue
        design = resampled[names.index(found.variant)]
        twin = resampled[names.index(found.static_variant)]
        pair = {
            statistic: paired_difference(design[statistic], twin[statistic], spec.confidence)
            for statistic in DIFFERENCE_STATISTICS
        }
        statistic = "bad_debt_es99" if found.matched_on == "cost" else "requirement_mean"
        judged.append(
            Match(
                **{
                    **found.__dict__,
                    "verdict": _verdict(found, pair, spec.confidence),
                    "statistic": statistic,
                    "difference": pair[statistic].estimate,
                    "ci_low": pair[statistic].low,
                    "ci_high": pair[statistic].high,
                }
            )
        )
    overrides = {variant.name: variant.overrides for variant in variants}
    backtests = {}
    if spec.backtest_data is not None:
        from stresstest.backtest.coverage import backtest_candles  # scipy: only to backtest

        candles = load_candles(spec.backtest_data)
        backtests = {
            variant.name: backtest_candles(
                candles,
                variant.scenario,
                coverage=spec.backtest_coverage,
                horizon_steps=spec.backtest_horizon_steps,
            )
            for variant in variants
        }
    return Comparison(
        scenario, spec, names, tuple(results), differences, tuple(judged), overrides, backtests
    )
