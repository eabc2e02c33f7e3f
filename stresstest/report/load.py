"""Read a result folder for a report: a run or a comparison, checked file by file.

Reports draw only from these files (docs/model.md sections 6, 6a and 7;
``stresstest compare`` and ``stresstest backtest`` outputs). A missing or
unreadable file, column or key raises :class:`~stresstest.errors.InputError`
naming it, and so does a folder whose ``format_version`` is newer than this
stresstest knows; a folder without one (legacy, version 0) is read as before
(docs/results.md).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from stresstest.errors import InputError
from stresstest.schemas.format import check_format_version

QUANTILE_COLUMNS = ("step", "mean", "q01", "q05", "q25", "q50", "q75", "q95", "q99")
#: Per-step files of a run: role -> file name.
STEP_FILES: dict[str, str] = {
    "fund": "fund_quantiles.parquet",
    "price": "price_quantiles.parquet",
    "liquidations": "liquidation_quantiles.parquet",
    "notional": "liquidated_notional_quantiles.parquet",
}
PATH_COLUMNS = (
    "bad_debt",
    "fund_required",
    "socialized_loss",
    "n_liquidations",
    "liquidated_notional",
)
SUMMARY_METRICS = (
    "bad_debt",
    "fund_required",
    "socialized_loss",
    "n_liquidations",
    "liquidated_notional",
    "fees_to_fund",
    "requirement_mean",
)
COMPARE_COLUMNS = (
    "variant",
    "margin_model",
    "design",
    "bad_debt_mean",
    "bad_debt_mean_se",
    "bad_debt_es99",
    "bad_debt_es99_se",
    "probability_fund_depleted",
    "probability_fund_depleted_se",
    "fund_required_q99",
    "n_liquidations_mean",
    "requirement_mean",
    "margin_rate_mean",
)
DIFFERENCE_COLUMNS = (
    "variant",
    "baseline",
    "statistic",
    "difference",
    "ci_low",
    "ci_high",
    "confidence",
)
BACKTEST_FILE = "backtest.json"
#: Real crash paths rescaled to the start price (historical sources only).
REFERENCES_FILE = "reference_paths.parquet"
SCENARIO_FILE = "scenario.resolved.toml"


@dataclass(frozen=True)
class RunFolder:
    """The files of one run (``stresstest run``, or ``variants/NAME`` of a comparison).

    Money is in quote units, prices in quote per base, time in steps.
    """

    path: Path
    label: str
    summary: dict[str, Any]
    scenario: dict[str, Any]
    paths: pl.DataFrame
    steps: dict[str, pl.DataFrame]
    samples: pl.DataFrame
    backtest: dict[str, Any] | None
    references: pl.DataFrame | None = None
    #: attribution.parquet (docs/model.md 6b); ``None`` when the run has none.
    attribution: pl.DataFrame | None = None

    @property
    def n_paths(self) -> int:
        """Number of paths."""
        return int(self.summary["n_paths"])

    @property
    def n_steps(self) -> int:
        """Last step ``T`` (from the per-step files, which also hold it for path files)."""
        return int(self.steps["price"]["step"].max())  # type: ignore[arg-type]

    def metric(self, name: str) -> dict[str, Any]:
        """Summary statistics of one per-path metric (summary.json ``metrics``)."""
        metrics: dict[str, dict[str, Any]] = self.summary["metrics"]
        return metrics[name]


@dataclass(frozen=True)
class CompareFolder:
    """The files of a comparison and the run folder of its baseline variant."""

    path: Path
    document: dict[str, Any]
    scenario: dict[str, Any]
    table: pl.DataFrame
    differences: pl.DataFrame
    baseline: RunFolder
    backtest: dict[str, Any] | None

    @property
    def label(self) -> str:
        """The scenario name."""
        return str(self.document.get("scenario", self.path.name))


def _require(path: Path) -> Path:
    if not path.is_file():
        raise InputError("missing file", file=path, expected="a file written by stresstest")
    return path


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``."""
    try:
        data = json.loads(_require(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError("unreadable JSON", file=path, value=str(error)) from None
    if not isinstance(data, dict):
        raise InputError("not a JSON object", file=path, expected="a JSON object")
    return data


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML document from ``path``."""
    try:
        return tomllib.loads(_require(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise InputError("unreadable TOML", file=path, value=str(error)) from None


def read_table(path: Path, columns: tuple[str, ...]) -> pl.DataFrame:
    """A Parquet table from ``path`` with at least ``columns``."""
    try:
        frame = pl.read_parquet(_require(path))
    except (OSError, pl.exceptions.PolarsError) as error:
        raise InputError("unreadable Parquet", file=path, value=str(error)) from None
    for column in columns:
        if column not in frame.columns:
            raise InputError("missing column", file=path, key=column)
    if frame.height == 0:
        raise InputError("empty table", file=path, expected="at least one row")
    return frame


def require_keys(document: dict[str, Any], keys: tuple[str, ...], path: Path) -> None:
    """Check that every dotted key in ``keys`` is present in ``document``."""
    for dotted in keys:
        node: Any = document
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise InputError("missing key", file=path, key=dotted)
            node = node[part]


def _summary_keys() -> tuple[str, ...]:
    keys = ["n_paths", "fund_initial", "probability_fund_depleted.p"]
    keys += ["probability_fund_depleted.se", "book.n_positions"]
    for metric in SUMMARY_METRICS:
        keys += [f"metrics.{metric}.{stat}" for stat in ("mean", "mean_se", "q99", "q99_se")]
    keys += [f"metrics.bad_debt.{stat}" for stat in ("es99", "es99_se")]
    keys += [f"metrics.fund_required.{stat}" for stat in ("q99_9", "q99_9_se")]
    return tuple(keys)


def _optional_backtest(folder: Path) -> dict[str, Any] | None:
    path = folder / BACKTEST_FILE
    if not path.exists():
        return None
    document = read_json(path)
    require_keys(document, ("coverage", "horizon_steps", "windows", "tests"), path)
    return document


def load_run(folder: Path, label: str | None = None) -> RunFolder:
    """Read a run folder (docs/model.md sections 6, 6a and 7)."""
    summary_path = folder / "summary.json"
    summary = read_json(summary_path)
    check_format_version(summary, summary_path)
    require_keys(summary, _summary_keys(), summary_path)
    scenario = read_toml(folder / SCENARIO_FILE)
    steps = {role: read_table(folder / name, QUANTILE_COLUMNS) for role, name in STEP_FILES.items()}
    return RunFolder(
        path=folder,
        label=label if label is not None else str(summary.get("scenario", folder.name)),
        summary=summary,
        scenario=scenario,
        paths=read_table(folder / "paths.parquet", PATH_COLUMNS),
        steps=steps,
        samples=read_table(folder / "sample_paths.parquet", ("path", "step", "price", "fund")),
        references=(
            read_table(folder / REFERENCES_FILE, ("event", "step", "price"))
            if (folder / REFERENCES_FILE).exists()
            else None
        ),
        backtest=_optional_backtest(folder),
        attribution=(
            read_table(folder / ATTRIBUTION_FILE, ATTRIBUTION_COLUMNS)
            if (folder / ATTRIBUTION_FILE).exists()
            else None
        ),
    )


#: The attribution file a run folder may hold, and the columns its report page reads.
ATTRIBUTION_FILE = "attribution.parquet"
ATTRIBUTION_COLUMNS = ("path", "side", "leverage_bucket", "notional_bucket", "bad_debt")


def load_compare(folder: Path) -> CompareFolder:
    """Read a comparison folder and the run folder of its baseline variant."""
    document_path = folder / "compare.json"
    document = read_json(document_path)
    check_format_version(document, document_path)
    require_keys(document, ("baseline", "variants", "matches"), document_path)
    baseline = str(document["baseline"])
    table = read_table(folder / "compare.parquet", COMPARE_COLUMNS)
    differences = read_table(folder / "differences.parquet", DIFFERENCE_COLUMNS)
    scenario = read_toml(folder / SCENARIO_FILE)
    baseline_dir = folder / "variants" / baseline
    if not baseline_dir.is_dir():
        raise InputError(
            "missing folder of the baseline variant",
            file=baseline_dir,
            expected="the variants/NAME run folders written by stresstest compare",
        )
    return CompareFolder(
        path=folder,
        document=document,
        scenario=scenario,
        table=table,
        differences=differences,
        baseline=load_run(baseline_dir, label=f"baseline {baseline}"),
        backtest=_optional_backtest(folder),
    )


def load_result(folder: Path) -> RunFolder | CompareFolder:
    """Read a run folder (it holds summary.json) or a comparison folder (compare.json)."""
    if not folder.is_dir():
        raise InputError(
            "result folder not found",
            file=folder,
            expected="a folder written by stresstest run or stresstest compare",
        )
    if (folder / "compare.json").exists():
        return load_compare(folder)
    if (folder / "summary.json").exists():
        return load_run(folder)
    raise InputError(
        "missing file: neither summary.json (a run) nor compare.json (a comparison)",
        file=folder / "summary.json",
        expected="a folder written by stresstest run or stresstest compare",
    )
