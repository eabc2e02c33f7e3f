"""The comparison helper fails when it should (a helper that cannot fail is a defect)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.tolerances import assert_close


def test_passes_within_tolerance() -> None:
    assert_close(np.array([1.0, 2.0]), np.array([1.0 + 1e-12, 2.0]), rtol=1e-9, atol=0.0)


@pytest.mark.parametrize(
    ("actual", "expected"),
    [(1.0, 1000.0), (1.0, 1.0 + 1e-6), (math.nan, math.nan), (0.0, 1e-3)],
)
def test_fails_outside_tolerance(actual: float, expected: float) -> None:
    with pytest.raises(AssertionError):
        assert_close(actual, expected, rtol=1e-9, atol=1e-9)


def test_fails_on_shape_mismatch() -> None:
    with pytest.raises(AssertionError):
        assert_close(np.zeros(2), np.zeros(3), rtol=1.0, atol=1.0)
