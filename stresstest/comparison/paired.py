"""Paired differences between designs replayed on the same paths, with bootstrap intervals.

Every variant is replayed on the same paths, so the difference of a statistic
between a variant and the baseline is estimated on the same sample, and its
sampling error by resampling *paths* (the same resampled path indices for both
designs): the paired bootstrap. The interval is the percentile interval of the
``bootstrap_samples`` resampled differences at level ``confidence``. Resampled
indices come from ``numpy.random.default_rng(SeedSequence(seed, spawn_key=(2,)))``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Child of ``SeedSequence(seed).spawn`` that seeds the bootstrap.
BOOTSTRAP_SEED_CHILD = 2

Statistic = Callable[[np.ndarray], float]


def mean(values: np.ndarray) -> float:
    """Sample mean."""
    return float(np.mean(values))


def expected_shortfall_99(values: np.ndarray) -> float:
    """Mean of the ``ceil(n * 0.01)`` largest values (docs/model.md section 7)."""
    n = values.shape[0]
    tail_count = max(1, math.ceil(n * 0.01 - 1e-9))
    return float(np.mean(np.partition(values, n - tail_count)[n - tail_count :]))


def frequency_positive(values: np.ndarray) -> float:
    """Share of values > 0 (e.g. paths with socialized loss: fund depleted)."""
    return float(np.count_nonzero(values > 0.0)) / len(values)


@dataclass(frozen=True)
class PairedDifference:
    """``statistic(variant) - statistic(baseline)`` with its bootstrap interval."""

    estimate: float
    low: float
    high: float


def paired_differences(
    variant_columns: dict[str, np.ndarray],
    baseline_columns: dict[str, np.ndarray],
    statistics: dict[str, tuple[str, Statistic]],
    *,
    samples: int,
    confidence: float,
    seed: int,
) -> dict[str, PairedDifference]:
    """Differences of several statistics, all on one set of resampled path indices.

    ``statistics`` maps an output name to ``(column, function)``.
    """
    n = next(iter(baseline_columns.values())).shape[0]
    generator = np.random.default_rng(
        np.random.SeedSequence(seed, spawn_key=(BOOTSTRAP_SEED_CHILD,))
    )
    resampled = {name: np.empty(samples) for name in statistics}
    for sample in range(samples):
        indices = generator.integers(0, n, n)
        for name, (column, function) in statistics.items():
            resampled[name][sample] = function(variant_columns[column][indices]) - function(
                baseline_columns[column][indices]
            )
    tail = 0.5 * (1.0 - confidence)
    result = {}
    for name, (column, function) in statistics.items():
        estimate = function(variant_columns[column]) - function(baseline_columns[column])
        low, high = np.quantile(resampled[name], [tail, 1.0 - tail])
        result[name] = PairedDifference(estimate, float(low), float(high))
    return result
