"""The result of a run: per-path metrics, their summary, and how to write them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from stresstest._version import __version__
from stresstest.estimators import describe, probability_with_error
from stresstest.io.atomic import atomic_dir, write_json, write_parquet, write_toml
from stresstest.kernels import enums
from stresstest.scenario.provenance import resolved_dict
from stresstest.scenario.schema import Scenario

INTEGER_METRICS = frozenset({"n_liquidations"})


@dataclass(frozen=True)
class BookStats:
    """What the book held: counts and entry notional (quote units)."""

    n_positions: int
    n_long: int
    entry_notional: float


@dataclass(frozen=True)
class Result:
    """Per-path metrics of a run.

    Attributes
    ----------
    metrics
        ``(n_paths, N_METRICS)`` float64, columns in ``enums.METRIC_NAMES`` order.
    """

    scenario: Scenario
    path_ids: np.ndarray
    metrics: np.ndarray
    book: BookStats

    @property
    def n_paths(self) -> int:
        """Number of paths."""
        return int(self.path_ids.shape[0])

    def column(self, name: str) -> np.ndarray:
        """One metric over paths."""
        return self.metrics[:, enums.METRIC_NAMES.index(name)]

    def paths_frame(self) -> pl.DataFrame:
        """One row per path: ``path`` and every metric (the columns of ``paths.parquet``)."""
        columns: dict[str, Any] = {"path": self.path_ids.astype(np.int64)}
        for index, name in enumerate(enums.METRIC_NAMES):
            values = self.metrics[:, index]
            columns[name] = values.astype(np.int64) if name in INTEGER_METRICS else values
        return pl.DataFrame(columns)

    def summary(self) -> dict[str, Any]:
        """Summary statistics of every metric with Monte-Carlo errors (``summary.json``)."""
        metrics = {name: describe(self.column(name)) for name in enums.METRIC_NAMES}
        return {
            "scenario": self.scenario.name,
            "seed": self.scenario.seed,
            "stresstest_version": __version__,
            "n_paths": self.n_paths,
            "n_steps": int(self._n_steps()),
            "book": {
                "n_positions": self.book.n_positions,
                "n_long": self.book.n_long,
                "entry_notional": self.book.entry_notional,
            },
            "fund_initial": self.scenario.insurance_fund.initial,
            "probability_fund_depleted": probability_with_error(
                self.column("socialized_loss") > 0.0
            ),
            "metrics": metrics,
        }

    def _n_steps(self) -> int:
        paths = self.scenario.paths
        return int(getattr(paths, "n_steps", -1))

    def resolved_scenario(self) -> dict[str, Any]:
        """The scenario with defaults, absolute paths, version and input hashes."""
        return resolved_dict(self.scenario, __version__)

    def write_files(self, folder: Path) -> None:
        """Write paths.parquet, summary.json and scenario.resolved.toml into ``folder``."""
        write_parquet(self.paths_frame(), folder / "paths.parquet")
        write_toml(self.resolved_scenario(), folder / "scenario.resolved.toml")
        write_json(self.summary(), folder / "summary.json")

    def write(self, out_dir: Path) -> None:
        """Write the result folder whole or not at all."""
        with atomic_dir(out_dir) as staging:
            self.write_files(staging)
