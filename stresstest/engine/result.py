"""The result of a run: per-path metrics, their summary, and how to write them."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stresstest._version import __version__
from stresstest.estimators import describe, probability_with_error
from stresstest.io.atomic import atomic_dir, write_json, write_parquet, write_toml
from stresstest.kernels import enums
from stresstest.kernels.enums import GRID_COUNT, GRID_FUND, GRID_NOTIONAL, GRID_PRICE
from stresstest.scenario.plausibility import Finding
from stresstest.scenario.provenance import resolved_dict, with_identity
from stresstest.scenario.schema import Scenario
from stresstest.schemas.format import FORMAT_KEY, FORMAT_VERSION, parquet_metadata

if TYPE_CHECKING:
    import polars as pl

    from stresstest.engine.attribution import AttributionResult

# polars is imported where frames are built: `import stresstest` and the commands that
# only check a scenario start without it (docs/performance.md).

INTEGER_METRICS = frozenset(
    {
        "n_liquidations",
        "cascade_depth",
        "adl_count",
        "procyclical_liquidations",
        "backstop_takeovers",
        "backstop_exhausted",
        "unprofitable_loans",
    }
)
#: Metrics that are fractions, not quote amounts (docs/model.md).
FRACTION_METRICS = frozenset({"margin_rate_mean", "margin_max_increase"})
#: Metrics that are ratios without a unit (docs/model.md 3.2).
DIMENSIONLESS_METRICS = frozenset({"margin_peak_to_trough"})
#: Metrics whose low values are the bad ones: summary.json adds their lower tail.
LOWER_TAIL_METRICS = frozenset({"fund_min", "backstop_min_equity"})
#: The lower-tail statistics of :data:`LOWER_TAIL_METRICS`, in summary_frame order.
LOWER_TAIL_STATISTICS: tuple[str, ...] = ("q1", "q0_1", "es99_low")
#: The statistics of summary.json, in the order :meth:`Result.summary_frame` lists them.
SUMMARY_STATISTICS: tuple[str, ...] = ("mean", "std", "q50", "q90", "q99", "q99_9", "es99")


def metric_unit(name: str) -> str:
    """``"count"``, ``"fraction"``, ``"dimensionless"`` (a ratio) or ``"quote"`` (money in
    the quote currency, e.g. USDT)."""
    if name in INTEGER_METRICS:
        return "count"
    if name in DIMENSIONLESS_METRICS:
        return "dimensionless"
    return "fraction" if name in FRACTION_METRICS else "quote"


def compact_number(value: float | None) -> str:
    """12.35M, 1.23B; small values with two decimals ("-" for undefined)."""
    if value is None:
        return "-"
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:,.2f}{suffix}"
    return f"{value:,.2f}"


#: Quantile levels of the per-step files (fund_quantiles.parquet and the like).
STEP_QUANTILES: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
#: Per-step files: file name -> row of the grid records.
STEP_FILES: dict[str, int] = {
    "fund_quantiles.parquet": GRID_FUND,
    "price_quantiles.parquet": GRID_PRICE,
    "liquidation_quantiles.parquet": GRID_COUNT,
    "liquidated_notional_quantiles.parquet": GRID_NOTIONAL,
}
#: Paths whose price and fund at the grid steps go to sample_paths.parquet.
N_SAMPLE_PATHS = 10


def step_quantiles(values: np.ndarray, grid: np.ndarray) -> pl.DataFrame:
    """Across paths, at each grid step: mean and quantiles (numpy "linear") of ``values``.

    ``values`` is ``(n_paths, len(grid))``, no NaN; exact over the sample of paths.
    Both come from the compiled kernel ``column_bands`` in one read of ``values``:
    the quantiles bit-identical to ``np.quantile(values, STEP_QUANTILES, axis=0,
    method="linear")``, the means to ``values.mean(axis=0)`` for two or more grid
    steps (docs/model.md 6a).
    """
    import polars as pl

    from stresstest.kernels.quantiles import column_bands

    means, levels = column_bands(values, np.asarray(STEP_QUANTILES, dtype=np.float64))
    columns: dict[str, Any] = {"step": grid.astype(np.int64), "mean": means}
    for level, row in zip(STEP_QUANTILES, levels, strict=True):
        columns[f"q{round(level * 100):02d}"] = row
    return pl.DataFrame(columns)


def metric_names(scenario: Scenario) -> tuple[str, ...]:
    """The per-path columns a scenario's run has, in the order of ``paths.parquet``.

    The core columns, then each stage's own columns when that stage is on:
    ``[market]`` adds ``cascade_depth, impact_bad_debt`` (docs/model.md 9.4),
    ``[adl]`` adds ``adl_notional, adl_count, adl_top1_share, adl_top10_share,
    adl_gini`` (docs/model.md 10.2), ``[procyclicality]`` adds
    ``margin_peak_to_trough, margin_max_increase, procyclical_liquidations,
    procyclical_notional`` (docs/model.md 3.2), ``[backstop]`` the ``backstop_*``
    columns (10.3) and ``insurance_fund.pays_past_bankruptcy`` ``fund_passed_bad_debt``
    (10.4); a lending run has the core columns and ``collateral_seized,
    liquidator_profit, unprofitable_debt, unprofitable_loans, underwater_debt``
    (docs/model.md 13.6).
    """
    names = enums.METRIC_NAMES
    if scenario.lending is not None:  # a loan book (docs/model.md 13.6)
        return names + enums.LENDING_METRIC_NAMES
    if scenario.market is not None:
        names += enums.MARKET_METRIC_NAMES
    if scenario.adl is not None:
        names += enums.ADL_METRIC_NAMES
    if scenario.procyclicality is not None:
        names += enums.PROCYCLICALITY_METRIC_NAMES
    if scenario.backstop is not None:
        names += enums.BACKSTOP_METRIC_NAMES
    if scenario.insurance_fund.pays_past_bankruptcy is not None:
        names += enums.FUND_BOUND_METRIC_NAMES
    return names


@dataclass(frozen=True)
class BookStats:
    """What the book held: counts, entry notional and (accounts) collateral posted.

    ``entry_notional`` and ``collateral`` are in quote units; ``collateral`` is
    the sum of the positions' collateral of an accounts book (docs/model.md
    11.2), ``None`` for a single-asset book.
    """

    n_positions: int
    n_long: int
    entry_notional: float
    collateral: float | None = None


@dataclass(frozen=True)
class Result:
    """Per-path metrics of a run.

    Attributes
    ----------
    metrics
        ``(n_paths, width)`` float64: column ``enums.METRIC_INDEX[name]`` holds
        metric ``name``; only the columns :attr:`metric_names` lists are defined.
    grid
        Steps at which every path was recorded (every step when it fits the
        memory budget, else an even grid including 0 and T).
    records
        ``(n_paths, N_GRID, len(grid))``: price, fund after the step, and
        positions and notional closed since the previous grid step.
    paths_record
        What the path source used (fit, data), for the resolved scenario.
    references
        Real crash paths rescaled to the start price (historical sources), by
        event name, written to reference_paths.parquet for the report.
    warnings
        Plausibility findings (:class:`~stresstest.scenario.plausibility.Finding`),
        also issued as ``PlausibilityWarning``; summary.json's ``warnings``.
    """

    scenario: Scenario
    path_ids: np.ndarray
    metrics: np.ndarray
    book: BookStats
    grid: np.ndarray
    records: np.ndarray
    paths_record: dict[str, Any] | None = None
    references: dict[str, np.ndarray] | None = None
    #: Plausibility warnings of the run (:mod:`stresstest.scenario.plausibility`),
    #: before and after the replay; summary.json's ``warnings``.
    warnings: tuple[Finding, ...] = ()
    #: Liquidations, penalties and bad debt by cohort and flag step (docs/model.md 6b);
    #: ``None``: the run has none (:attr:`attribution_result` says why).
    attribution: AttributionResult | None = None

    @property
    def attribution_result(self) -> AttributionResult:
        """The attribution, or why there is none (summary.json ``attribution``)."""
        from stresstest.engine.attribution import AttributionResult, absent_reason

        if self.attribution is not None:
            return self.attribution
        return AttributionResult.absent(absent_reason(self.scenario) or "not attributed")

    @property
    def n_paths(self) -> int:
        """Number of paths."""
        return int(self.path_ids.shape[0])

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The per-path columns of this run, in file order (:func:`metric_names`)."""
        return metric_names(self.scenario)

    def column(self, name: str) -> np.ndarray:
        """One metric over paths, by name (``enums.METRIC_INDEX`` gives its slot)."""
        if name not in self.metric_names:
            raise KeyError(f"no column {name!r} in this run; it has {self.metric_names}")
        return self.metrics[:, enums.METRIC_INDEX[name]]

    @property
    def paths(self) -> pl.DataFrame:
        """One row per path, as :meth:`paths_frame` (the columns of ``paths.parquet``)."""
        return self.paths_frame()

    def paths_frame(self) -> pl.DataFrame:
        """One row per path: ``path`` and every metric (the columns of ``paths.parquet``)."""
        import polars as pl

        columns: dict[str, Any] = {"path": self.path_ids.astype(np.int64)}
        for name in self.metric_names:
            values = self.column(name)
            columns[name] = values.astype(np.int64) if name in INTEGER_METRICS else values
        return pl.DataFrame(columns)

    def summary(self) -> dict[str, Any]:
        """Summary statistics of every metric with Monte-Carlo errors (``summary.json``).

        ``format_version`` is the format of the result folder (docs/results.md). Computed
        once per result (summary.json, the console and compare.parquet all read it); each
        call returns a fresh copy, so a caller may change what it gets.
        """
        return copy.deepcopy(self._summary_document)

    @cached_property
    def _summary_document(self) -> dict[str, Any]:
        """:meth:`summary`'s document, computed on first use (the result is frozen)."""
        metrics = {
            name: describe(self.column(name), lower_tail=name in LOWER_TAIL_METRICS)
            for name in self.metric_names
        }
        return {
            FORMAT_KEY: FORMAT_VERSION,
            "scenario": self.scenario.name,
            "seed": self.scenario.seed,
            "stresstest_version": __version__,
            "n_paths": self.n_paths,
            "n_steps": int(self._n_steps()),
            "book": {
                "n_positions": self.book.n_positions,
                "n_long": self.book.n_long,
                "entry_notional": self.book.entry_notional,
                **({} if self.book.collateral is None else {"collateral": self.book.collateral}),
            },
            "fund_initial": self.scenario.insurance_fund.initial,
            "probability_fund_depleted": probability_with_error(
                self.column("socialized_loss") > 0.0
            ),
            "metrics": metrics,
            "warnings": [finding.record() for finding in self.warnings],
            "attribution": self.attribution_result.summary(),
        }

    def summary_frame(self) -> pl.DataFrame:
        """The summary as a tidy table: one row per metric and statistic.

        Columns ``metric``, ``statistic`` (``mean, std, q50, q90, q99, q99_9,
        es99`` of :meth:`summary`, and ``q1, q0_1, es99_low`` for ``fund_min``, then
        ``probability`` for the row ``fund_depleted``), ``estimate``, ``standard_error`` (null where
        summary.json has none, as for ``std``) and ``unit`` (``quote`` for money
        in the quote currency, ``count`` or ``fraction``). The numbers are those of
        ``summary.json``.
        """
        import polars as pl

        summary = self.summary()
        rows: list[dict[str, Any]] = []
        for name, stats in summary["metrics"].items():
            lower = LOWER_TAIL_STATISTICS if name in LOWER_TAIL_METRICS else ()
            for statistic in (*SUMMARY_STATISTICS, *lower):
                rows.append(
                    {
                        "metric": name,
                        "statistic": statistic,
                        "estimate": stats[statistic],
                        "standard_error": stats.get(f"{statistic}_se"),
                        "unit": metric_unit(name),
                    }
                )
        depleted = summary["probability_fund_depleted"]
        rows.append(
            {
                "metric": "fund_depleted",
                "statistic": "probability",
                "estimate": depleted["p"],
                "standard_error": depleted["se"],
                "unit": "probability",
            }
        )
        schema = {
            "metric": pl.String,
            "statistic": pl.String,
            "estimate": pl.Float64,
            "standard_error": pl.Float64,
            "unit": pl.String,
        }
        return pl.DataFrame(rows, schema=schema)

    def _headline(self) -> list[tuple[str, str]]:
        """``(label, value with unit)``: what a run is, and its headline figures."""
        bad_debt = describe(self.column("bad_debt"))  # as summary.json has them
        socialized = self.column("socialized_loss")
        depleted = probability_with_error(socialized > 0.0)["p"]
        return [
            ("scenario", self.scenario.name),
            ("paths", f"{self.n_paths:,}"),
            ("positions", f"{self.book.n_positions:,}"),
            ("bad debt, mean", f"{compact_number(bad_debt['mean'])} quote"),
            ("bad debt, q99", f"{compact_number(bad_debt['q99'])} quote"),
            ("socialized loss, mean", f"{compact_number(float(socialized.mean()))} quote"),
            ("P(fund depleted)", f"{depleted:.2%}"),
        ]

    def __repr__(self) -> str:
        """One line: scenario, paths, positions and the headline figures with units."""
        if self.n_paths == 0:
            return f"<Result {self.scenario.name!r}: 0 paths>"
        name, *figures = self._headline()
        text = ", ".join(f"{label} {value}" for label, value in figures)
        return f"<Result {name[1]!r}: {text}>"

    def _repr_html_(self) -> str:
        """A small HTML table for notebooks (every value escaped)."""
        from html import escape

        if self.n_paths == 0:
            return f"<p>{escape(repr(self))}</p>"
        rows = "".join(
            f"<tr><th style='text-align:left'>{escape(label)}</th>"
            f"<td style='text-align:right'>{escape(value)}</td></tr>"
            for label, value in self._headline()
        )
        return f"<table><caption>stresstest result</caption>{rows}</table>"

    def _n_steps(self) -> int:
        """T: the grid always ends at the last step."""
        return int(self.grid[-1]) if self.grid.shape[0] else -1

    def resolved_scenario(self) -> dict[str, Any]:
        """The scenario with defaults, absolute paths, version and input hashes."""
        return resolved_dict(self.scenario, __version__, self.paths_record)

    def step_frames(self) -> dict[str, pl.DataFrame]:
        """Per-step quantile tables across paths, by file name."""
        return {
            name: step_quantiles(self.records[:, row, :], self.grid)
            for name, row in STEP_FILES.items()
        }

    def sample_paths_frame(self) -> pl.DataFrame:
        """Price and fund of the first paths at the grid steps (long format)."""
        import polars as pl

        count = min(N_SAMPLE_PATHS, self.n_paths)
        width = self.grid.shape[0]
        return pl.DataFrame(
            {
                "path": np.repeat(self.path_ids[:count], width).astype(np.int64),
                "step": np.tile(self.grid, count).astype(np.int64),
                "price": self.records[:count, GRID_PRICE, :].reshape(-1),
                "fund": self.records[:count, GRID_FUND, :].reshape(-1),
            }
        )

    def references_frame(self) -> pl.DataFrame:
        """reference_paths.parquet: event, step, price (quote per base)."""
        import polars as pl

        references = self.references or {}
        return pl.DataFrame(
            {
                "event": [name for name, prices in references.items() for _ in prices],
                "step": np.concatenate(
                    [np.arange(prices.shape[0]) for prices in references.values()]
                ).astype(np.int64),
                "price": np.concatenate(list(references.values())),
            }
        )

    def write_files(self, folder: Path, *, identity: bool = False) -> None:
        """Write paths.parquet, the per-step files, summary.json and scenario.resolved.toml.

        ``identity`` adds ``[provenance] scenario_file`` (the top level of a result
        folder; a compare variant's folder leaves it out).
        """
        metadata = parquet_metadata()  # the format version, if this polars writes metadata
        write_parquet(self.paths_frame(), folder / "paths.parquet", metadata)
        for name, frame in self.step_frames().items():
            write_parquet(frame, folder / name, metadata)
        write_parquet(self.sample_paths_frame(), folder / "sample_paths.parquet", metadata)
        if self.references:
            write_parquet(self.references_frame(), folder / "reference_paths.parquet", metadata)
        if self.attribution is not None:  # docs/model.md 6b
            ids = self.path_ids
            write_parquet(
                self.attribution.cohort_frame(ids), folder / "attribution.parquet", metadata
            )
            steps = self.attribution.steps_frame(ids)
            write_parquet(steps, folder / "attribution_steps.parquet", metadata)
        resolved = self.resolved_scenario()
        if identity:
            resolved = with_identity(resolved, self.scenario)
        write_toml(resolved, folder / "scenario.resolved.toml")
        write_json(self.summary(), folder / "summary.json")

    def write(self, out_dir: Path) -> None:
        """Write the result folder whole or not at all."""
        with atomic_dir(out_dir) as staging:
            self.write_files(staging, identity=True)
