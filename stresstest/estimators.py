"""Monte-Carlo estimators over paths, each with its standard error.

Definitions (docs/model.md, "Summary statistics"): for n path values x,

- mean, with standard error ``std / sqrt(n)``; ``std`` uses ``ddof = 1``;
- quantile ``q_p`` by numpy's ``"linear"`` method (type 7), with standard error
  half the distance between the order statistics of ranks
  ``floor(n p - sqrt(n p (1 - p)))`` and ``ceil(n p + sqrt(n p (1 - p)))``
  (the one-sigma binomial interval, clipped to the sample);
- expected shortfall ``ES_p``: mean of the ``k = ceil(n (1 - p))`` largest
  values, with standard error ``sqrt((var_tail + p (ES - q_p)^2) / k)``
  (Brazauskas et al., 2008), where ``var_tail`` is the variance of those k;
- a probability as the sample frequency, with standard error ``sqrt(p (1 - p) / n)``.

A metric whose low values are the bad ones (``fund_min``) also gets its lower tail:
``q1`` and ``q0_1`` (the 1% and 0.1% quantiles) and ``es99_low``, the mean of the
``k = ceil(n / 100)`` smallest values, with the same standard errors on the mirrored
sample.
"""

from __future__ import annotations

import math

import numpy as np

QUANTILE_LEVELS: tuple[float, ...] = (0.5, 0.9, 0.99, 0.999)
ES_LEVEL = 0.99


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def quantile_with_error(sorted_values: np.ndarray, level: float) -> tuple[float, float]:
    """Quantile at ``level`` of ascending ``sorted_values`` and its standard error."""
    n = sorted_values.shape[0]
    estimate = float(np.quantile(sorted_values, level, method="linear"))
    spread = math.sqrt(n * level * (1.0 - level))
    low = min(max(math.floor(n * level - spread), 0), n - 1)
    high = min(max(math.ceil(n * level + spread), 0), n - 1)
    return estimate, 0.5 * float(sorted_values[high] - sorted_values[low])


def expected_shortfall_with_error(sorted_values: np.ndarray, level: float) -> tuple[float, float]:
    """Mean of the ``ceil(n (1 - level))`` largest values, and its standard error."""
    n = sorted_values.shape[0]
    tail_count = max(1, math.ceil(n * (1.0 - level) - 1e-9))
    tail = sorted_values[n - tail_count :]
    estimate = float(np.mean(tail))
    value_at_risk = float(np.quantile(sorted_values, level, method="linear"))
    tail_variance = float(np.var(tail, ddof=1)) if tail_count > 1 else 0.0
    error = math.sqrt((tail_variance + level * (estimate - value_at_risk) ** 2) / tail_count)
    return estimate, error


#: Quantile levels of the lower tail (``q1``, ``q0_1``) of a metric where low is bad.
LOWER_QUANTILE_LEVELS: tuple[float, ...] = (0.01, 0.001)


def describe(values: np.ndarray, *, lower_tail: bool = False) -> dict[str, float | None]:
    """Mean, std, quantiles and ES of path values, each with ``*_se`` where defined.

    With ``lower_tail`` also ``q1``, ``q0_1`` and ``es99_low`` (the mean of the worst
    1% when low values are the bad ones), each with its ``*_se``.
    """
    n = values.shape[0]
    sorted_values = np.sort(values)
    mean = float(np.mean(values))
    std = float(np.std(values, ddof=1)) if n > 1 else math.nan
    result: dict[str, float | None] = {
        "mean": _finite(mean),
        "mean_se": _finite(std / math.sqrt(n)),
        "std": _finite(std),
    }
    for level in QUANTILE_LEVELS:
        name = f"q{level * 100:g}".replace(".", "_")
        estimate, error = quantile_with_error(sorted_values, level)
        result[name] = _finite(estimate)
        result[f"{name}_se"] = _finite(error)
    es, es_error = expected_shortfall_with_error(sorted_values, ES_LEVEL)
    result["es99"] = _finite(es)
    result["es99_se"] = _finite(es_error)
    if lower_tail:
        for level in LOWER_QUANTILE_LEVELS:
            name = f"q{level * 100:g}".replace(".", "_")
            estimate, error = quantile_with_error(sorted_values, level)
            result[name] = _finite(estimate)
            result[f"{name}_se"] = _finite(error)
        mirrored_es, mirrored_error = expected_shortfall_with_error(-sorted_values[::-1], ES_LEVEL)
        result["es99_low"] = _finite(0.0 - mirrored_es)  # 0.0 - x: no -0.0
        result["es99_low_se"] = _finite(mirrored_error)
    return result


def probability_with_error(events: np.ndarray) -> dict[str, float]:
    """Frequency of ``True`` in ``events`` and its binomial standard error."""
    n = events.shape[0]
    probability = float(np.count_nonzero(events)) / n
    return {"p": probability, "se": math.sqrt(probability * (1.0 - probability) / n)}
