"""Attribution of liquidations, penalties and bad debt to cohorts and flag-step buckets.

The plan (:class:`AttributionPlan`) holds the book by cohort and the bucket edges
the core kernel needs; the result (:class:`AttributionResult`) holds the per-path
figures, ``(n_paths, slots, N_ATTR)``, and builds attribution.parquet,
attribution_steps.parquet and the ``attribution`` entry of summary.json
(docs/model.md 6b, docs/results.md).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stresstest.estimators import expected_shortfall_with_error
from stresstest.scenario import schema
from stresstest.scenario.attribution import (
    DEFAULT_LEVERAGE_BUCKETS,
    DEFAULT_NOTIONAL_BUCKETS,
    unsupported_reason,
)

if TYPE_CHECKING:
    import polars as pl

    from stresstest.book import Book
    from stresstest.book.cohorts import CohortBook
    from stresstest.book.sorted_book import ThresholdOrders

#: Fields per slot of a path's attribution row (kernels/replay.py ``ATTR_*``), in order.
ATTRIBUTION_FIELDS: tuple[str, ...] = (
    "n_liquidations",
    "liquidated_notional",
    "penalties",
    "bad_debt",
)
N_FIELDS = len(ATTRIBUTION_FIELDS)
SIDES: tuple[str, ...] = ("long", "short")


def default_step_edges(n_steps: int) -> tuple[int, ...]:
    """1, ceil(T/4), ceil(T/2), ceil(3T/4), without repeats: step 0 alone, then quarters."""
    edges = {1, *(math.ceil(n_steps * k / 4) for k in (1, 2, 3))}
    return tuple(sorted(edge for edge in edges if 1 <= edge <= max(n_steps, 1)))


def edge_label(value: float) -> str:
    """1k, 2.5k, 1M for large edges; 2, 7.5 otherwise; ``inf`` for an unbounded end."""
    if math.isinf(value):
        return "inf"
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def bucket_labels(edges: tuple[float, ...]) -> list[str]:
    """``[0, a)``, ``[a, b)``, ..., ``[z, inf)``: the left-closed buckets of ``edges``."""
    bounds = (0.0, *edges, math.inf)
    return [f"[{edge_label(a)}, {edge_label(b)})" for a, b in itertools.pairwise(bounds)]


@dataclass(frozen=True)
class AttributionPlan:
    """What the kernel attributes to: the book by cohort and the flag-step edges."""

    cohorts: CohortBook
    leverage_edges: tuple[float, ...]
    notional_edges: tuple[float, ...]
    step_edges: tuple[int, ...]

    @property
    def n_side_cohorts(self) -> int:
        """Cohorts per side: leverage buckets x notional buckets."""
        return (len(self.leverage_edges) + 1) * (len(self.notional_edges) + 1)

    @property
    def n_slots(self) -> int:
        """Slots of a path's row: both sides' cohorts, then the flag-step buckets."""
        return 2 * self.n_side_cohorts + len(self.step_edges) + 1

    @property
    def width(self) -> int:
        """Floats per path."""
        return self.n_slots * N_FIELDS

    def kernel_arguments(self) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """``(cohorts, step_edges)`` as kernels/replay.py ``replay_path`` takes them."""
        book = self.cohorts
        cohorts = (
            book.long_threshold,
            book.long_prefix,
            book.long_bounds,
            book.short_threshold,
            book.short_prefix,
            book.short_bounds,
        )
        return cohorts, np.asarray(self.step_edges, dtype=np.float64)


def absent_reason(scenario: schema.Scenario) -> str | None:
    """Why a scenario's run has no attribution (``None``: it has one)."""
    table = scenario.attribution
    if table is not None and not table.enabled:
        return "[attribution] enabled = false"
    reason = unsupported_reason(scenario)
    if reason is not None:
        return f"{reason[0]}: {reason[1]}"
    return None


def attribution_width(scenario: schema.Scenario) -> int:
    """Floats per path the scenario's attribution adds to the metrics (0 without one)."""
    if absent_reason(scenario) is not None:
        return 0
    table = scenario.attribution
    leverage = len(table.leverage_buckets) if table else len(DEFAULT_LEVERAGE_BUCKETS)
    notional = len(table.notional_buckets) if table else len(DEFAULT_NOTIONAL_BUCKETS)
    steps = len(table.step_buckets) if table and table.step_buckets is not None else 4
    return (2 * (leverage + 1) * (notional + 1) + steps + 1) * N_FIELDS


def attribution_plan(
    scenario: schema.Scenario,
    book: Book,
    n_steps: int,
    orders: ThresholdOrders | None = None,
    cohorts: dict[tuple[tuple[float, ...], tuple[float, ...]], CohortBook] | None = None,
) -> AttributionPlan | None:
    """The attribution a core-engine scenario asks for (``None`` when :func:`absent_reason`).

    ``orders``: the book's threshold orders (:func:`~stresstest.book.sorted_book.threshold_orders`),
    so that the book is sorted once. ``cohorts``: this book's cohort books already
    built, by ``(leverage edges, notional edges)``; the one built here is added, so
    that variants of one book with the same buckets share it (it does not depend
    on the margin).
    """
    if absent_reason(scenario) is not None:
        return None
    from stresstest.book.cohorts import cohort_book

    table = scenario.attribution
    leverage = tuple(table.leverage_buckets) if table else DEFAULT_LEVERAGE_BUCKETS
    notional = tuple(table.notional_buckets) if table else DEFAULT_NOTIONAL_BUCKETS
    steps = (
        tuple(int(edge) for edge in table.step_buckets)
        if table is not None and table.step_buckets is not None
        else default_step_edges(n_steps)
    )
    held = cohorts if cohorts is not None else {}
    if (leverage, notional) not in held:
        held[leverage, notional] = cohort_book(
            book, np.asarray(leverage), np.asarray(notional), orders
        )
    return AttributionPlan(held[leverage, notional], leverage, notional, steps)


@dataclass(frozen=True)
class AttributionResult:
    """Per-path attribution of a run, or why there is none.

    ``values`` is ``(n_paths, n_slots, N_FIELDS)`` float64: the long cohorts,
    the short cohorts, then the flag-step buckets (fields :data:`ATTRIBUTION_FIELDS`).
    """

    values: np.ndarray | None
    leverage_edges: tuple[float, ...] = ()
    notional_edges: tuple[float, ...] = ()
    step_edges: tuple[int, ...] = ()
    n_steps: int = 0
    reason: str | None = None

    @classmethod
    def absent(cls, reason: str) -> AttributionResult:
        """No attribution, for ``reason``."""
        return cls(values=None, reason=reason)

    @classmethod
    def from_row(cls, plan: AttributionPlan, row: np.ndarray, n_steps: int) -> AttributionResult:
        """From the kernel's ``(n_paths, width)`` attribution columns."""
        values = np.ascontiguousarray(row).reshape(row.shape[0], plan.n_slots, N_FIELDS)
        return cls(values, plan.leverage_edges, plan.notional_edges, plan.step_edges, n_steps)

    @property
    def n_cohorts(self) -> int:
        """Cohorts, both sides."""
        return 2 * (len(self.leverage_edges) + 1) * (len(self.notional_edges) + 1)

    def cohort_keys(self) -> list[tuple[str, str, str]]:
        """``(side, leverage_bucket, notional_bucket)`` of each cohort, in slot order."""
        leverage = bucket_labels(self.leverage_edges)
        notional = bucket_labels(self.notional_edges)
        return [(side, lev, nom) for side in SIDES for lev in leverage for nom in notional]

    def step_bounds(self) -> list[tuple[int, int]]:
        """``[from, to)`` flag steps of each step bucket; the last ends at ``T + 1``."""
        bounds = (0, *self.step_edges, self.n_steps + 1)
        return [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]

    def _columns(self, values: np.ndarray) -> dict[str, Any]:
        return {
            name: values[..., index].reshape(-1).astype(np.int64)
            if name == "n_liquidations"
            else values[..., index].reshape(-1)
            for index, name in enumerate(ATTRIBUTION_FIELDS)
        }

    def cohort_frame(self, path_ids: np.ndarray) -> pl.DataFrame:
        """attribution.parquet: one row per path and cohort (paths outer, cohorts in slot order)."""
        import polars as pl

        assert self.values is not None
        keys = self.cohort_keys()
        n_paths = self.values.shape[0]
        columns: dict[str, Any] = {
            "path": np.repeat(path_ids.astype(np.int64), len(keys)),
            "side": [key[0] for key in keys] * n_paths,
            "leverage_bucket": [key[1] for key in keys] * n_paths,
            "notional_bucket": [key[2] for key in keys] * n_paths,
        }
        columns.update(self._columns(self.values[:, : self.n_cohorts]))
        return pl.DataFrame(columns)

    def steps_frame(self, path_ids: np.ndarray) -> pl.DataFrame:
        """attribution_steps.parquet: one row per path and flag-step bucket."""
        import polars as pl

        assert self.values is not None
        bounds = self.step_bounds()
        n_paths = self.values.shape[0]
        columns: dict[str, Any] = {
            "path": np.repeat(path_ids.astype(np.int64), len(bounds)),
            "step_bucket": [f"[{a}, {b})" for a, b in bounds] * n_paths,
            "step_from": np.tile(np.asarray([a for a, _ in bounds], dtype=np.int64), n_paths),
            "step_to": np.tile(np.asarray([b for _, b in bounds], dtype=np.int64), n_paths),
        }
        columns.update(self._columns(self.values[:, self.n_cohorts :]))
        return pl.DataFrame(columns)

    def summary(self) -> dict[str, Any]:
        """summary.json ``attribution``: per cohort and step bucket, means, share and ES99."""
        if self.values is None:
            return {"available": False, "reason": self.reason}
        total_bad = float(self.values[:, self.n_cohorts :, 3].sum())

        def entry(slot: int) -> dict[str, Any]:
            column = self.values[:, slot, :] if self.values is not None else np.empty((0, 4))
            bad = column[:, 3]
            return {
                **{
                    f"{name}_mean": float(column[:, index].mean())
                    for index, name in enumerate(ATTRIBUTION_FIELDS)
                },
                "bad_debt_share": float(bad.sum()) / total_bad if total_bad > 0.0 else 0.0,
                "bad_debt_es99": expected_shortfall_with_error(np.sort(bad), 0.99)[0],
            }

        cohorts = [
            {"side": side, "leverage_bucket": lev, "notional_bucket": nom, **entry(slot)}
            for slot, (side, lev, nom) in enumerate(self.cohort_keys())
        ]
        steps = [
            {
                "step_bucket": f"[{a}, {b})",
                "step_from": a,
                "step_to": b,
                **entry(self.n_cohorts + i),
            }
            for i, (a, b) in enumerate(self.step_bounds())
        ]
        return {
            "available": True,
            "leverage_buckets": list(self.leverage_edges),
            "notional_buckets": list(self.notional_edges),
            "step_buckets": list(self.step_edges),
            "cohorts": cohorts,
            "flag_steps": steps,
        }


#: Cohorts the command line lists after a run.
N_TOP_COHORTS = 5


def top_cohorts(summary: dict[str, Any], count: int = N_TOP_COHORTS) -> list[dict[str, Any]]:
    """The ``count`` cohorts of summary.json ``attribution`` with the most mean bad debt.

    Ties (e.g. cohorts without bad debt) keep the file's order; cohorts without any
    liquidation are left out.
    """
    cohorts = [entry for entry in summary.get("cohorts", []) if entry["n_liquidations_mean"] > 0]
    return sorted(cohorts, key=lambda entry: -entry["bad_debt_mean"])[:count]
