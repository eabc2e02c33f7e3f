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
#: Number of Monte-Carlo standard errors allowed against a closed form.
MONTE_CARLO_SIGMAS = 4.0
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
