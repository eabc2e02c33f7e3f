"""The project's exp, ln and cos/sin against the exact values (docs/model.md 1.3).

Each function is compared on a million arguments with numpy's long double functions
(x87 extended precision, 64-bit mantissa) rounded to double, within
:data:`FAST_MATH_ULPS` units in the last place, and on the edges of its argument
reduction by hand. Then the lanes: the SIMD routine gives the scalar
normals bit for bit, and a GBM path does not depend on the group it is made in.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from stresstest.kernels.fast_math import cos_sin_two_pi, exp_lanes, minus_two_log, sin_half_pi
from stresstest.kernels.gbm import LANES, gbm_paths
from stresstest.kernels.rng import normal_pair, normal_pairs_lanes
from tests.tolerances import FAST_MATH_ULPS

N = 1_000_000
TWO_POW_53 = 2**53
LONG = np.longdouble

pytestmark = pytest.mark.skipif(
    np.finfo(np.longdouble).nmant < 63,
    reason="needs x87 extended precision (np.longdouble) for the exact reference",
)


@numba.njit(cache=False)
def _exp_all(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = exp_lanes(x[i])
    return out


@numba.njit(cache=False)
def _log_all(m: np.ndarray) -> np.ndarray:
    out = np.empty(m.shape[0])
    for i in range(m.shape[0]):
        out[i] = minus_two_log(m[i])
    return out


@numba.njit(cache=False)
def _cos_sin_all(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cos_out = np.empty_like(u)
    sin_out = np.empty_like(u)
    for i in range(u.shape[0]):
        cos_out[i], sin_out[i] = cos_sin_two_pi(u[i])
    return cos_out, sin_out


@numba.njit(cache=False)
def _sin_half_pi_all(v: np.ndarray) -> np.ndarray:
    out = np.empty_like(v)
    for i in range(v.shape[0]):
        out[i] = sin_half_pi(v[i])
    return out


#: pi to 64 bits, from the 20-digit decimal (np.pi is the double).
LONG_PI = LONG("3.14159265358979323846264338327950288")


def exact_exp(x: np.ndarray) -> np.ndarray:
    """``exp`` in extended precision, rounded to double."""
    return np.exp(x.astype(LONG)).astype(float)


def ulps(actual: np.ndarray, expected: np.ndarray, floor: float = 0.0) -> float:
    """The largest ``|actual - expected|`` in ulps of ``expected`` (at least ulps of ``floor``)."""
    unit = np.maximum(np.spacing(np.abs(expected)), np.spacing(floor))
    return float(np.max(np.abs(actual - expected) / unit))


def test_exp_is_within_two_ulps_of_the_c_library() -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-708.0, 709.0, N // 2), rng.normal(0.0, 1.0, N // 2)])
    assert ulps(_exp_all(x), exact_exp(x)) <= FAST_MATH_ULPS


def test_exp_edges() -> None:
    """Exact at 0, at the clamp, and at the halfway points of the reduction."""
    x = np.array([0.0, -708.0, 709.0, 0.5 * math.log(2.0), -0.5 * math.log(2.0), 1.0, -1.0])
    assert _exp_all(np.array([0.0]))[0] == 1.0
    assert ulps(_exp_all(x), exact_exp(x)) <= FAST_MATH_ULPS
    clamped = _exp_all(np.array([-1000.0, 1000.0]))
    assert clamped[0] == _exp_all(np.array([-708.0]))[0]
    assert clamped[1] == _exp_all(np.array([709.0]))[0]


def test_minus_two_log_is_within_two_ulps_of_the_c_library() -> None:
    rng = np.random.default_rng(2)
    m = rng.integers(1, TWO_POW_53, N, dtype=np.uint64, endpoint=True)
    m[:4] = [1, 2, TWO_POW_53 - 1, TWO_POW_53]
    expected = (-2.0 * np.log(m.astype(LONG) / TWO_POW_53)).astype(float)
    # at m = 2^53 both are exactly 0: ulps of the result near 1 bound the error there
    assert ulps(_log_all(m), expected, floor=1.0) <= FAST_MATH_ULPS
    assert _log_all(np.array([TWO_POW_53], dtype=np.uint64))[0] == 0.0
    assert _log_all(np.array([1], dtype=np.uint64))[0] == pytest.approx(106.0 * math.log(2.0))


def test_cos_sin_are_within_two_ulps_of_the_c_library() -> None:
    rng = np.random.default_rng(3)
    u = np.floor(rng.uniform(0.0, 1.0, N) * TWO_POW_53) / TWO_POW_53
    quarters = np.arange(9) / 8.0  # the ends of every quarter and eighth turn
    u = np.concatenate([u, quarters[:-1], quarters[1:] - 2.0**-53])
    cos_u, sin_u = _cos_sin_all(u)
    angle = 2.0 * LONG_PI * u.astype(LONG)
    assert ulps(cos_u, np.cos(angle).astype(float), floor=1.0) <= FAST_MATH_ULPS
    assert ulps(sin_u, np.sin(angle).astype(float), floor=1.0) <= FAST_MATH_ULPS
    assert _cos_sin_all(np.array([0.0])) == (np.array([1.0]), np.array([0.0]))


def test_sin_half_pi_is_within_two_ulps_of_the_c_library() -> None:
    """On the Student-t's grid ``(k + 0.5) 2^-31`` and on doubles in [0, 1], ends included."""
    rng = np.random.default_rng(4)
    grid = (rng.integers(0, 2**31, N // 2).astype(float) + 0.5) * 2.0**-31
    doubles = np.floor(rng.uniform(0.0, 1.0, N // 2) * TWO_POW_53) / TWO_POW_53
    v = np.concatenate([grid, doubles, [0.0, 2.0**-31, 0.5, 1.0 - 2.0**-53, 1.0]])
    exact = np.sin(LONG_PI / 2 * v.astype(LONG)).astype(float)
    assert ulps(_sin_half_pi_all(v), exact) <= FAST_MATH_ULPS
    assert _sin_half_pi_all(np.array([0.0]))[0] == 0.0


def test_the_lanes_give_the_scalar_normals_bit_for_bit() -> None:
    k0, k1 = np.uint64(0x12345678), np.uint64(0x9ABCDEF0)
    lanes = 37
    words = np.empty((4, lanes), dtype=np.uint64)
    z0, z1 = np.empty(lanes), np.empty(lanes)
    for block in (0, 1, 359, 2**32 + 5):
        normal_pairs_lanes(k0, k1, block, 3, 1000, words, z0, z1)
        for lane in range(lanes):
            assert (z0[lane], z1[lane]) == normal_pair(k0, k1, block, 3, 1000 + lane)


def test_a_gbm_path_does_not_depend_on_its_group() -> None:
    """Paths made from row 0 and from row 29 (other lane groups, a partial last group) agree."""
    k0, k1 = np.uint64(7), np.uint64(11)
    n_paths = 2 * LANES + 5
    whole = np.empty((n_paths, 31))
    gbm_paths(k0, k1, 0, 100.0, 0.02, 0.001, whole)
    tail = np.empty((n_paths - 29, 31))
    gbm_paths(k0, k1, 29, 100.0, 0.02, 0.001, tail)
    assert np.array_equal(whole[29:], tail)
    one = np.empty((1, 31))
    gbm_paths(k0, k1, n_paths - 1, 100.0, 0.02, 0.001, one)
    assert np.array_equal(whole[-1:], one)
