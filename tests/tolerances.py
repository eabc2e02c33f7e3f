"""Every numerical tolerance the tests use, named and explained in one place.

``assert_close`` is the only comparison helper; ``tests/test_tolerances.py``
shows that it fails when it should.
"""

from __future__ import annotations

import numpy as np

#: Engine against the plain position-by-position reference: the two differ only by
#: rounding in sums over ranges (docs/model.md 4.1), far below this.
ENGINE_VS_REFERENCE_RTOL = 1e-9
#: Absolute floor for the same comparison, in units of the quantity's scale
#: (quote units per unit of book notional), so that values near zero compare sensibly.
ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL = 1e-9
#: Sorted kernel against its dense compiled twin on large books.
ENGINE_VS_DENSE_RTOL = 1e-9
#: Attribution (docs/model.md 6b): the cohorts' or flag-step buckets' money figures
#: summed against the per-path totals, in units of the path's liquidated notional.
#: Both sides sum the same closes' compensated range sums, grouped differently, so
#: they differ by a few eps of the closed notional (the counts must be equal).
ATTRIBUTION_SUM_RTOL_PER_NOTIONAL = 1e-12
#: Number of Monte-Carlo standard errors allowed against a closed form.
MONTE_CARLO_SIGMAS = 4.0
#: Hand-computed cases (tests/test_hand_cases.py) against the engine: the inputs are
#: short decimals (0.01, 89.89, ...) that float64 holds to half an ulp, and each
#: expected value is a handful of operations away from them, so the engine's
#: results differ from the exact decimal answer by a few ulps (~1e-15 relative);
#: 1e-12 leaves room for that and for cancellation, yet any wrong formula fails.
HAND_COMPUTED_RTOL = 1e-12
#: Absolute floor for the same comparison, quote units: the hand cases handle
#: amounts of 1 to 10^4, so 1e-10 only matters for values that should be 0.
HAND_COMPUTED_ATOL = 1e-10
#: A compensated (double-double) range sum against math.fsum, in units of the bound
#: eps * |range sum| + N eps^2 |S| of stresstest/kernels/sums.py (S the whole prefix):
#: the final TwoSum is exact and the result is rounded about twice more. For ranges
#: not far smaller than eps * N |S| the second term vanishes: "a few eps of the
#: range's own size" (docs/model.md 4.1).
COMPENSATED_RANGE_SUM_EPS = 4.0
#: The same formula evaluated by the numba kernel and by numpy in the test (GBM
#: prices from the Philox normals): only libm's exp/log/sin/cos may differ, by an
#: ulp or so, amplified at most by the ~10^2 terms of a log-price sum.
SAME_FORMULA_RTOL = 1e-12
#: Significance level of the Kolmogorov-Smirnov test of the Philox normals: the seed
#: is fixed, so the test is deterministic; at this level a correct generator would
#: fail for only one seed in a thousand, while a wrong transform fails at p ~ 0.
KS_SIGNIFICANCE = 1e-3
#: A closed form against its own numerical integral (scipy.integrate.quad of a smooth
#: density): checks the test's formulas, not the engine; quad reaches ~1e-12 here.
QUADRATURE_RTOL = 1e-8


def assert_close(
    actual: np.ndarray | float,
    expected: np.ndarray | float,
    *,
    rtol: float,
    atol: float,
    what: str = "",
) -> None:
    """Assert ``|actual - expected| <= atol + rtol * |expected|`` elementwise.

    NaNs never compare equal; shapes must match. The message names ``what``
    and the worst element.
    """
    actual_array = np.asarray(actual, dtype=float)
    expected_array = np.asarray(expected, dtype=float)
    if actual_array.shape != expected_array.shape:
        raise AssertionError(f"{what}: shape {actual_array.shape} != {expected_array.shape}")
    error = np.abs(actual_array - expected_array)
    allowed = atol + rtol * np.abs(expected_array)
    bad = ~(error <= allowed)
    if bad.any():
        worst = np.unravel_index(int(np.argmax(np.where(bad, error - allowed, -np.inf))), bad.shape)
        raise AssertionError(
            f"{what}: {int(bad.sum())} value(s) differ; worst at {worst}: "
            f"actual {actual_array[worst]!r}, expected {expected_array[worst]!r}, "
            f"allowed {allowed[worst]!r}"
        )


#: The project's exp, ln and cos/sin (stresstest/kernels/fast_math.py) against the
#: exact value (computed in x87 extended precision and rounded), in units in the last
#: place of the result (of 1 for results below 1 in size, whose arguments carry that
#: absolute rounding): a polynomial of this kind is within about one ulp.
FAST_MATH_ULPS = 2.0
