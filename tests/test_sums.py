"""Compensated prefix sums and the binary searches the sorted replay relies on.

docs/model.md 4.1: a range sum from the double-double prefix sums carries a
relative error of a few eps of the range's own size, not of the whole book. A
plain ``np.cumsum`` difference loses every digit the prefix carries beyond the
range; the test shows that too, so it can tell the two apart.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stresstest.kernels.search import (
    first_greater,
    first_greater_each,
    first_not_less,
    first_not_less_each,
)
from stresstest.kernels.sums import compensated_prefix_sums, range_sum, two_sum
from tests.tiers import examples
from tests.tolerances import COMPENSATED_RANGE_SUM_EPS

EPS = float(np.finfo(np.float64).eps)
N_BIG = 1_000_000
N_TINY = 2_000


def huge_prefix_values(tail: np.ndarray) -> np.ndarray:
    """10^6 values of about 10^4 (a prefix of about 10^10) followed by ``tail``."""
    rng = np.random.default_rng(20240611)
    return np.concatenate([1e4 * rng.uniform(0.5, 1.5, N_BIG), tail])


def tail_ranges(rng: np.random.Generator, n: int) -> list[tuple[int, int]]:
    """Ranges inside the tail: random ones, and short ones (1, 2, 10 values)."""
    ranges = []
    for _ in range(300):
        a = int(rng.integers(N_BIG, n))
        ranges.append((a, int(rng.integers(a + 1, n + 1))))
    for a in rng.integers(N_BIG, n - 10, 100):
        ranges += [(int(a), int(a) + length) for length in (1, 2, 10)]
    return ranges


def test_range_sums_are_accurate_to_a_few_eps_of_the_range() -> None:
    rng = np.random.default_rng(1)
    values = huge_prefix_values(1e-3 * rng.uniform(0.5, 1.5, N_TINY))
    hi, lo = compensated_prefix_sums(values)
    plain = np.concatenate([[0.0], np.cumsum(values)])
    n = values.shape[0]
    compensated_errors = []
    plain_errors = []
    for a, b in tail_ranges(rng, n):
        exact = math.fsum(values[a:b])
        compensated_errors.append(abs(range_sum(hi, lo, a, b) - exact) / (EPS * exact))
        plain_errors.append(abs((plain[b] - plain[a]) - exact) / (EPS * exact))
    assert max(compensated_errors) <= COMPENSATED_RANGE_SUM_EPS
    # The plain prefix difference is off by about eps * 10^10 on ranges of size
    # 10^-3 to 2: the test tells the two methods apart by many orders of magnitude.
    assert min(plain_errors) > 1e6 * COMPENSATED_RANGE_SUM_EPS
    # Ranges anywhere, the whole array, and empty ranges.
    for a in rng.integers(0, n, 30):
        b = int(rng.integers(a + 1, n + 1))
        exact = math.fsum(values[a:b])
        assert abs(range_sum(hi, lo, int(a), b) - exact) <= COMPENSATED_RANGE_SUM_EPS * EPS * exact
    total = math.fsum(values)
    assert abs(range_sum(hi, lo, 0, n) - total) <= COMPENSATED_RANGE_SUM_EPS * EPS * total
    assert range_sum(hi, lo, 5, 5) == 0.0
    assert range_sum(hi, lo, 7, 3) == 0.0


def test_range_sums_of_far_tinier_values_meet_the_module_bound() -> None:
    # Tail values from 1e-3 down to ~1e-9: a single one is ~10^-18 of the prefix, where
    # the low word's own rounding (the N eps^2 |S| term of kernels/sums.py) dominates.
    rng = np.random.default_rng(2)
    values = huge_prefix_values(1e-3 * rng.random(N_TINY) * rng.random(N_TINY))
    hi, lo = compensated_prefix_sums(values)
    n = values.shape[0]
    second_term = n * EPS**2 * math.fsum(values)
    for a, b in tail_ranges(rng, n):
        exact = math.fsum(values[a:b])
        error = abs(range_sum(hi, lo, a, b) - exact)
        assert error <= COMPENSATED_RANGE_SUM_EPS * (EPS * exact + second_term), (a, b)


@given(a=st.floats(-1e300, 1e300), b=st.floats(-1e300, 1e300))
@settings(deadline=None, database=None)
def test_two_sum_is_exact(a: float, b: float) -> None:
    s, error = two_sum(a, b)
    assert s == a + b
    # a + b = s + error exactly: compare as rationals (floats convert exactly).
    assert Fraction(a) + Fraction(b) == Fraction(s) + Fraction(error)


@st.composite
def sorted_searches(draw: st.DrawFn) -> tuple[np.ndarray, float, int, int]:
    """A sorted array with many duplicates, a probe value and a sub-range ``[start, stop)``."""
    values = np.sort(np.asarray(draw(st.lists(st.integers(-5, 5), max_size=40)), dtype=float) / 2.0)
    probe = draw(st.integers(-14, 14)) / 4.0  # on the values, between them and outside
    start = draw(st.integers(0, values.shape[0]))
    stop = draw(st.integers(start, values.shape[0]))
    return values, probe, start, stop


@given(case=sorted_searches())
@settings(deadline=None, database=None, max_examples=examples(300))
def test_searches_equal_searchsorted(case: tuple[np.ndarray, float, int, int]) -> None:
    values, probe, start, stop = case
    window = values[start:stop]
    assert first_greater(values, probe, start, stop) == start + int(
        np.searchsorted(window, probe, side="right")
    )
    assert first_not_less(values, probe, start, stop) == start + int(
        np.searchsorted(window, probe, side="left")
    )


@given(
    values=st.lists(st.integers(-5, 5), max_size=40),
    probes=st.lists(st.integers(-14, 14), max_size=12),
    unused=st.integers(0, 3),
    ranges=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=1, max_size=4),
)
@settings(deadline=None, database=None, max_examples=examples(300))
def test_interleaved_searches_equal_searchsorted_and_clamp_to_any_range(
    values: list[int], probes: list[int], unused: int, ranges: list[tuple[int, int]]
) -> None:
    """kernels/records.py: the whole side's answers, clamped to a range, are the range's."""
    side = np.sort(np.asarray(values, dtype=float) / 2.0)
    levels = np.asarray(probes, dtype=float) / 4.0  # on the values, between them and outside
    count = levels.shape[0]
    # the output arrays are longer than ``count``: the entries past it are not written
    greater = np.full(count + unused, -7, dtype=np.int64)
    not_less = np.full(count + unused, -7, dtype=np.int64)
    first_greater_each(side, np.concatenate([levels, np.zeros(unused)]), count, greater)
    first_not_less_each(side, np.concatenate([levels, np.zeros(unused)]), count, not_less)
    assert np.array_equal(greater[:count], np.searchsorted(side, levels, side="right"))
    assert np.array_equal(not_less[:count], np.searchsorted(side, levels, side="left"))
    assert np.all(greater[count:] == -7) and np.all(not_less[count:] == -7)
    for a, b in ranges:
        start, stop = min(a, b, side.shape[0]), min(max(a, b), side.shape[0])
        for k in range(count):
            assert min(max(int(greater[k]), start), stop) == first_greater(
                side, levels[k], start, stop
            )
            assert min(max(int(not_less[k]), start), stop) == first_not_less(
                side, levels[k], start, stop
            )
