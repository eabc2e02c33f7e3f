"""The counter-based generator (docs/model.md 1.1 and 1.3).

Philox4x32-10 against the Random123 known-answer vectors; the Box-Muller normals
against the documented transform and against N(0, 1) (moments within Monte-Carlo
bounds and a Kolmogorov-Smirnov test); independence of paths and streams; GBM
log returns against ``drift - sigma^2 / 2`` and ``sigma``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from stresstest.kernels.rng import normal_pair, philox4x32_10
from stresstest.paths.gbm import GbmPathSource
from stresstest.scenario import schema
from tests import fast_math_twin
from tests.tolerances import KS_SIGNIFICANCE, MONTE_CARLO_SIGMAS

KEY = (np.uint64(0x12345678), np.uint64(0x9ABCDEF0))

#: Random123 kat_vectors for philox4x32_10: (counter words, key words, output words).
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    (
        (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF),
        (0xFFFFFFFF, 0xFFFFFFFF),
        (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD),
    ),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize(("counter", "key", "expected"), KNOWN_ANSWERS)
def test_philox_known_answers(
    counter: tuple[int, int, int, int], key: tuple[int, int], expected: tuple[int, int, int, int]
) -> None:
    words = philox4x32_10(*(np.uint64(w) for w in counter), *(np.uint64(w) for w in key))
    assert tuple(int(w) for w in words) == expected


def documented_normals(
    k0: np.uint64, k1: np.uint64, block: int, stream: int, path: int
) -> tuple[float, float]:
    """docs/model.md 1.3 written out: counter words, then Box-Muller on the words."""
    counter = (block % 2**32, stream, path % 2**32, path >> 32)
    w0, w1, w2, w3 = (int(w) for w in philox4x32_10(*(np.uint64(c) for c in counter), k0, k1))
    return fast_math_twin.box_muller(w0, w1, w2, w3)


@pytest.mark.parametrize(
    ("block", "stream", "path"),
    [(0, 0, 0), (1, 0, 0), (17, 3, 5), (2**31 + 9, 1, 2**32 + 5), (12345, 0, 2**40 + 2**32 - 1)],
)
def test_normal_pair_follows_the_documented_transform(block: int, stream: int, path: int) -> None:
    """Bit for bit: the doc's operations in plain Python give the compiled normals."""
    assert normal_pair(*KEY, block, stream, path) == documented_normals(*KEY, block, stream, path)


def test_block_counter_wraps_modulo_two_to_the_32() -> None:
    assert normal_pair(*KEY, 2**32 + 7, 0, 3) == normal_pair(*KEY, 7, 0, 3)


@pytest.fixture(scope="module")
def many_normals() -> np.ndarray:
    """500,000 normals: blocks 0..49,999 of paths 0..4, stream 0."""
    draws = [normal_pair(*KEY, block, 0, path) for path in range(5) for block in range(50_000)]
    return np.asarray(draws).reshape(-1)


def test_normals_have_standard_normal_moments(many_normals: np.ndarray) -> None:
    z = many_normals
    n = z.shape[0]
    # Standard errors under N(0, 1): mean 1/sqrt(n), variance sqrt(2/n), excess
    # kurtosis sqrt(24/n), skewness sqrt(6/n).
    assert abs(z.mean()) < MONTE_CARLO_SIGMAS / math.sqrt(n)
    assert abs(z.var(ddof=1) - 1.0) < MONTE_CARLO_SIGMAS * math.sqrt(2.0 / n)
    assert abs(stats.skew(z)) < MONTE_CARLO_SIGMAS * math.sqrt(6.0 / n)
    assert abs(stats.kurtosis(z)) < MONTE_CARLO_SIGMAS * math.sqrt(24.0 / n)


def test_normals_pass_kolmogorov_smirnov(many_normals: np.ndarray) -> None:
    result = stats.kstest(many_normals, "norm")
    assert result.pvalue > KS_SIGNIFICANCE, result
    # The two members of a pair are independent too (cos and sin of one angle).
    pairs = many_normals.reshape(-1, 2)
    correlation = np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1]
    assert abs(correlation) < MONTE_CARLO_SIGMAS / math.sqrt(pairs.shape[0])


def sequence(path: int, stream: int = 0, key: tuple[np.uint64, np.uint64] = KEY) -> np.ndarray:
    return np.asarray([normal_pair(*key, block, stream, path) for block in range(2_000)]).ravel()


def test_different_paths_streams_and_keys_give_different_draws() -> None:
    base = sequence(0)
    others = {
        "path 1": sequence(1),
        "stream 1": sequence(0, stream=1),
        "path 2^32 (high counter word)": sequence(2**32),
        "other key": sequence(0, key=(KEY[0], KEY[1] + np.uint64(1))),
    }
    limit = MONTE_CARLO_SIGMAS / math.sqrt(base.shape[0])
    for what, draws in others.items():
        assert not np.any(draws == base), what
        assert abs(np.corrcoef(base, draws)[0, 1]) < limit, what
    # The same coordinates give the same draws (no hidden state).
    assert np.array_equal(sequence(0), base)


def test_gbm_uses_the_seed_sequence_key_and_the_documented_sum() -> None:
    config = schema.GbmPaths(s0=250.0, sigma=0.03, drift=0.002, n_paths=4, n_steps=101)
    source = GbmPathSource(config, seed=99)
    words = np.random.SeedSequence(99, spawn_key=(0,)).generate_state(2, dtype=np.uint32)
    k0, k1 = np.uint64(words[0]), np.uint64(words[1])
    assert (int(source.key[0]), int(source.key[1])) == (int(k0), int(k1))
    prices = source.chunk(0, 4)
    for path in range(4):
        z = np.asarray([normal_pair(k0, k1, j, 0, path) for j in range(51)]).ravel()
        expected = [config.s0]
        log_sum = 0.0
        for u in range(1, config.n_steps + 1):  # u = 1, 2, ...: Z_u is z[u - 1]
            log_sum += (config.drift - config.sigma**2 / 2.0) + config.sigma * float(z[u - 1])
            expected.append(config.s0 * fast_math_twin.exp(log_sum))
        assert np.array_equal(prices[path], np.array(expected))  # the same operations


def test_gbm_log_returns_match_sigma_and_drift() -> None:
    sigma = 0.05
    drift = 0.001
    config = schema.GbmPaths(s0=100.0, sigma=sigma, drift=drift, n_paths=2_000, n_steps=500)
    prices = GbmPathSource(config, seed=2024).chunk(0, config.n_paths)
    returns = np.diff(np.log(prices), axis=1).ravel()
    n = returns.shape[0]
    # Mean log return drift - sigma^2/2 = -0.00025, standard error sigma / sqrt(n) = 5e-5;
    # "drift" alone (0.001) would be 25 standard errors away.
    assert abs(returns.mean() - (drift - sigma**2 / 2.0)) < MONTE_CARLO_SIGMAS * sigma / math.sqrt(
        n
    )
    # Variance sigma^2 with standard error sigma^2 sqrt(2 / n) (normal returns).
    variance_se = sigma**2 * math.sqrt(2.0 / n)
    assert abs(returns.var(ddof=1) - sigma**2) < MONTE_CARLO_SIGMAS * variance_se
    # Consecutive returns uncorrelated (the two members of a pair feed steps 2j+1, 2j+2).
    lag_one = np.corrcoef(returns[:-1], returns[1:])[0, 1]
    assert abs(lag_one) < MONTE_CARLO_SIGMAS / math.sqrt(n)
