"""Likelihood-ratio tests of exception series (Kupiec 1995; Christoffersen 1998).

An exception is a window whose adverse move exceeded the margin rate in force.
With ``n`` windows, ``x`` exceptions and target exception rate ``p``:

- proportion of failures (Kupiec):
  ``LR_pof = -2 [ (n - x) ln(1 - p) + x ln p - (n - x) ln(1 - x/n) - x ln(x/n) ]``;
- independence (Christoffersen): with ``n_ij`` the number of consecutive pairs
  going from state ``i`` to ``j`` (1 = exception), ``pi_01 = n_01 / (n_00 + n_01)``,
  ``pi_11 = n_11 / (n_10 + n_11)``, ``pi = (n_01 + n_11) / (n_00 + n_01 + n_10 + n_11)``:
  ``LR_ind = -2 [ (n_00 + n_10) ln(1 - pi) + (n_01 + n_11) ln pi
  - n_00 ln(1 - pi_01) - n_01 ln pi_01 - n_10 ln(1 - pi_11) - n_11 ln pi_11 ]``;
- conditional coverage ``LR_cc = LR_pof + LR_ind``.

``0 ln 0 = 0`` throughout. ``LR_pof`` and ``LR_ind`` are chi-square with one
degree of freedom under the null, ``LR_cc`` with two. Pairs are counted only
within a contiguous segment (never across a data gap).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2


def _xlogy(count: float, probability: float) -> float:
    """``count * ln(probability)`` with ``0 ln 0 = 0``."""
    if count == 0:
        return 0.0
    return float(count * np.log(probability))


@dataclass(frozen=True)
class CoverageTest:
    """Counts, statistics and chi-square p-values of one exception series."""

    n: int
    exceptions: int
    expected_rate: float
    lr_pof: float
    p_pof: float
    n00: int
    n01: int
    n10: int
    n11: int
    lr_ind: float
    p_ind: float
    lr_cc: float
    p_cc: float

    @property
    def rate(self) -> float:
        """Observed exception rate."""
        return self.exceptions / self.n if self.n else float("nan")


def kupiec_pof(n: int, exceptions: int, expected_rate: float) -> float:
    """Kupiec's proportion-of-failures likelihood ratio."""
    observed = exceptions / n
    null = _xlogy(n - exceptions, 1.0 - expected_rate) + _xlogy(exceptions, expected_rate)
    alternative = _xlogy(n - exceptions, 1.0 - observed) + _xlogy(exceptions, observed)
    return max(0.0, -2.0 * (null - alternative))


def transition_counts(exceptions: np.ndarray, segment: np.ndarray) -> tuple[int, int, int, int]:
    """``(n00, n01, n10, n11)`` over consecutive windows of the same segment."""
    same = segment[1:] == segment[:-1]
    previous = exceptions[:-1][same]
    current = exceptions[1:][same]
    n00 = int(np.count_nonzero(~previous & ~current))
    n01 = int(np.count_nonzero(~previous & current))
    n10 = int(np.count_nonzero(previous & ~current))
    n11 = int(np.count_nonzero(previous & current))
    return n00, n01, n10, n11


def christoffersen_independence(n00: int, n01: int, n10: int, n11: int) -> float:
    """Christoffersen's independence likelihood ratio."""
    total = n00 + n01 + n10 + n11
    if total == 0:
        return 0.0
    pi = (n01 + n11) / total
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    null = _xlogy(n00 + n10, 1.0 - pi) + _xlogy(n01 + n11, pi)
    alternative = (
        _xlogy(n00, 1.0 - pi01) + _xlogy(n01, pi01) + _xlogy(n10, 1.0 - pi11) + _xlogy(n11, pi11)
    )
    return max(0.0, -2.0 * (null - alternative))


def coverage_test(
    exceptions: np.ndarray, segment: np.ndarray, expected_rate: float
) -> CoverageTest:
    """Kupiec, Christoffersen and conditional-coverage tests of a boolean exception series."""
    n = int(exceptions.shape[0])
    count = int(np.count_nonzero(exceptions))
    lr_pof = kupiec_pof(n, count, expected_rate) if n else 0.0
    n00, n01, n10, n11 = transition_counts(exceptions, segment)
    lr_ind = christoffersen_independence(n00, n01, n10, n11)
    lr_cc = lr_pof + lr_ind
    return CoverageTest(
        n=n,
        exceptions=count,
        expected_rate=expected_rate,
        lr_pof=lr_pof,
        p_pof=float(chi2.sf(lr_pof, 1)),
        n00=n00,
        n01=n01,
        n10=n10,
        n11=n11,
        lr_ind=lr_ind,
        p_ind=float(chi2.sf(lr_ind, 1)),
        lr_cc=lr_cc,
        p_cc=float(chi2.sf(lr_cc, 2)),
    )
