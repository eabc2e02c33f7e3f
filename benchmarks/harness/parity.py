"""Named tolerances and the comparisons every benchmark runs before it times anything.

A benchmark compares the engine's per-path metrics with a slower, independent
twin or reference (docs/model.md 4.1: they differ only by rounding in sums over
ranges). Each comparison raises :class:`ParityError` on the first failure; a
family's ``main()`` turns that into exit status 1 before any timing starts.

The tolerances are the tests' (tests/tolerances.py), so that the benchmarks and
the test suite cannot drift apart:

- quote-unit columns: ``|a - b| <= PARITY_ATOL_PER_NOTIONAL x notional + PARITY_RTOL |b|``;
- fractions (``margin_rate_mean``): absolute floor ``PARITY_ATOL_FRACTION``;
- counts (``n_liquidations``, ``cascade_depth``): exact, where a family says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from stresstest.kernels import enums
from tests.tolerances import (
    ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL,
    ENGINE_VS_REFERENCE_RTOL,
)

#: Relative tolerance of engine against twin or reference (rounding only).
PARITY_RTOL = ENGINE_VS_REFERENCE_RTOL
#: Absolute floor for quote-unit columns, per unit of book notional (quote units).
PARITY_ATOL_PER_NOTIONAL = ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL
#: Absolute floor for dimensionless fractions (a maintenance rate is ~1e-3..1e-1).
PARITY_ATOL_FRACTION = 1e-12

#: Every per-path column of every stage, in column order (stresstest/kernels/enums.py).
ALL_COLUMN_NAMES: tuple[str, ...] = (
    enums.METRIC_NAMES + enums.MARKET_METRIC_NAMES + enums.ADL_METRIC_NAMES
)


class ParityError(AssertionError):
    """The engine disagrees with its twin or reference; nothing may be timed."""


@dataclass(frozen=True)
class Tolerance:
    """How close two metric matrices must be, column by column.

    Parameters
    ----------
    rtol : float
        Relative tolerance, dimensionless.
    atol_per_notional : float
        Absolute floor of quote-unit columns per unit of the comparison's notional.
    atol_fraction : float
        Absolute floor of the columns named in ``fractions`` (dimensionless).
    exact : frozenset of str
        Columns compared exactly (counts).
    fractions : frozenset of str
        Dimensionless columns, floored by ``atol_fraction`` rather than the notional.
    """

    rtol: float = PARITY_RTOL
    atol_per_notional: float = PARITY_ATOL_PER_NOTIONAL
    atol_fraction: float = PARITY_ATOL_FRACTION
    exact: frozenset[str] = field(default_factory=frozenset)
    fractions: frozenset[str] = field(default_factory=frozenset)

    def atol(self, names: Sequence[str], notional: float) -> np.ndarray:
        """Per-column absolute floors for columns ``names`` (quote units or fractions)."""
        return np.array(
            [
                0.0
                if name in self.exact
                else self.atol_fraction
                if name in self.fractions
                else self.atol_per_notional * notional
                for name in names
            ]
        )


#: Every column at ``PARITY_RTOL`` and ``PARITY_ATOL_PER_NOTIONAL x notional``.
UNIFORM = Tolerance()
#: The engine's metrics: counts exact, ``margin_rate_mean`` with the fraction floor.
ENGINE = Tolerance(exact=frozenset({"n_liquidations"}), fractions=frozenset({"margin_rate_mean"}))
#: The engine's metrics and the [market] columns: cascade depth exact too.
MECHANICS = Tolerance(
    exact=frozenset({"n_liquidations", "cascade_depth"}),
    fractions=frozenset({"margin_rate_mean"}),
)


def compare(
    actual: np.ndarray,
    expected: np.ndarray,
    *,
    notional: float,
    what: str,
    tolerance: Tolerance = UNIFORM,
    names: Sequence[str] | None = None,
) -> float:
    """Raise :class:`ParityError` unless ``|actual - expected| <= atol + rtol |expected|``.

    Parameters
    ----------
    actual, expected : numpy.ndarray
        ``(paths, columns)`` metric matrices; the shapes must match.
    notional : float
        Scale of the quote-unit columns' absolute floor, quote units.
    what : str
        Names the comparison in the error message.
    tolerance : Tolerance
        The column rules.
    names : sequence of str, optional
        Column names; the leading ones of :data:`ALL_COLUMN_NAMES` by default.

    Returns
    -------
    float
        The worst ``error / allowed`` (0 when every value is identical): how close
        the comparison came to failing. NaNs never pass.
    """
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    if actual.shape != expected.shape or actual.ndim != 2:
        raise ParityError(f"{what}: shape {actual.shape} != {expected.shape}")
    if names is None:
        names = ALL_COLUMN_NAMES[: actual.shape[1]]
    if len(names) != actual.shape[1]:
        raise ParityError(f"{what}: {actual.shape[1]} columns, expected {len(names)}")
    error = np.abs(actual - expected)
    allowed = tolerance.atol(names, notional) + tolerance.rtol * np.abs(expected)
    bad = ~(error <= allowed)
    if bad.any():
        worst = np.argmax(np.where(bad, np.nan_to_num(error - allowed, nan=np.inf), -np.inf))
        row, column = (int(index) for index in np.unravel_index(int(worst), bad.shape))
        raise ParityError(
            f"{what}: {int(bad.sum())} value(s) out of tolerance; worst: path {row}, "
            f"{names[column]} = {actual[row, column]!r}, expected "
            f"{expected[row, column]!r} (allowed difference {allowed[row, column]:.3g})"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(allowed > 0, error / allowed, np.where(error == 0, 0.0, np.inf))
    return float(ratio.max()) if ratio.size else 0.0


def require_identical(actual: np.ndarray, expected: np.ndarray, *, what: str) -> None:
    """Raise :class:`ParityError` unless the arrays are equal bit for bit (same shape)."""
    if not np.array_equal(actual, expected):
        raise ParityError(f"{what}: not identical")


def require(condition: bool, message: str) -> None:
    """Raise :class:`ParityError` with ``message`` unless ``condition`` (e.g. non-vacuity)."""
    if not condition:
        raise ParityError(message)
