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
from collections.abc import Callable, Sequence
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


@dataclass(frozen=True)
class Resampled:
    """A statistic of one design: on every path, and on each bootstrap resample of the paths."""

    estimate: float
    samples: np.ndarray


def resampled_statistics(
    designs: Sequence[dict[str, np.ndarray]],
    statistics: dict[str, tuple[str, Statistic]],
    *,
    samples: int,
    seed: int,
) -> list[dict[str, Resampled]]:
    """Each statistic of each design, on its paths and on ``samples`` resamples of them.

    Every design is resampled with the same path indices (drawn once, in the order
    :func:`paired_differences` documents), so the differences of two designs'
    resampled values are paired. A column is gathered once per resample for every
    statistic that reads it. ``designs`` are per-path columns (the same paths).
    """
    n = next(iter(designs[0].values())).shape[0]
    generator = np.random.default_rng(
        np.random.SeedSequence(seed, spawn_key=(BOOTSTRAP_SEED_CHILD,))
    )
    values = [{name: np.empty(samples) for name in statistics} for _ in designs]
    columns = sorted({column for column, _ in statistics.values()})
    # Gathered from contiguous copies (a column of the metrics is a strided view): the
    # same values, fewer cache misses.
    compact = [
        {column: np.ascontiguousarray(design[column]) for column in columns} for design in designs
    ]
    for sample in range(samples):
        indices = generator.integers(0, n, n)
        for design, found in zip(compact, values, strict=True):
            gathered = {column: design[column][indices] for column in columns}
            for name, (column, function) in statistics.items():
                found[name][sample] = function(gathered[column])
    return [
        {
            name: Resampled(function(design[column]), found[name])
            for name, (column, function) in statistics.items()
        }
        for design, found in zip(designs, values, strict=True)
    ]


def paired_difference(
    variant: Resampled, baseline: Resampled, confidence: float
) -> PairedDifference:
    """``variant - baseline`` with the percentile interval of the paired resampled differences."""
    tail = 0.5 * (1.0 - confidence)
    low, high = np.quantile(variant.samples - baseline.samples, [tail, 1.0 - tail])
    return PairedDifference(variant.estimate - baseline.estimate, float(low), float(high))


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

    ``statistics`` maps an output name to ``(column, function)``. Resample ``s``
    draws ``n`` path indices with ``generator.integers(0, n, n)``, the generator
    seeded as the module says; the difference on it is ``function(variant[indices])
    - function(baseline[indices])``.
    """
    variant, baseline = resampled_statistics(
        [variant_columns, baseline_columns], statistics, samples=samples, seed=seed
    )
    return {
        name: paired_difference(variant[name], baseline[name], confidence) for name in statistics
    }
