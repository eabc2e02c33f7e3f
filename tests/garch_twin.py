"""Pure-Python twins of the path kernels, written from docs/model.md 1.4-1.6.

Plain loops over Python floats and the ``math`` module, no numba: the compiled
kernels must reproduce them bit for bit (the same IEEE operations in the same
order; the GARCH family's ``exp``, ``ln`` and ``sin`` are docs/model.md 1.3's, from
tests/fast_math_twin.py; the bootstrap's are the C library's). Used by
tests/test_garch.py, tests/test_fhs.py, tests/test_historical_paths.py and
benchmarks/bench_paths.py.
"""

from __future__ import annotations

import math

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.rng import philox4x32_10
from tests import fast_math_twin

SQRT_TWO_OVER_PI = math.sqrt(2.0 / math.pi)


def words(k0: int, k1: int, block: int, stream: int, path: int) -> tuple[int, int, int, int]:
    """Philox4x32-10 of counter ``(block mod 2^32, stream, path mod 2^32, path >> 32)``."""
    counter = (block % 2**32, stream, path % 2**32, path >> 32)
    out = philox4x32_10(*(np.uint64(c) for c in counter), np.uint64(k0), np.uint64(k1))
    return tuple(int(w) for w in out)  # type: ignore[return-value]


def uniform53(a: int, b: int) -> float:
    """``((a >> 5) 2^26 + (b >> 6)) / 2^53``."""
    return ((a >> 5) * 2**26 + (b >> 6)) / 2**53


def trig_t(radius_word: int, angle_word: int, nu: float) -> float:
    """Bailey's Student-t in trigonometric form with unit variance (docs/model.md 1.6)."""
    ln_w = -0.5 * fast_math_twin.minus_two_log((2 * radius_word + 1) * 2**20)
    sign = 1.0 if angle_word < 2**31 else -1.0
    magnitude = fast_math_twin.sin_half_pi((angle_word % 2**31 + 0.5) * 2.0**-31)
    return (sign * magnitude) * math.sqrt(
        (nu - 2.0) * (fast_math_twin.exp((-2.0 / nu) * ln_w) - 1.0)
    )


def innovations(
    k0: int,
    k1: int,
    path: int,
    n_steps: int,
    dist: int,
    nu: float = 0.0,
    lam: float = 0.0,
    skew_ab: tuple[float, float] = (0.0, 1.0),
    residuals: np.ndarray | None = None,
    stream: int = enums.STREAM_GARCH,
) -> list[float]:
    """``z_1..z_T`` of one path, following the documented counter layout."""
    z: list[float] = []
    if dist == enums.DIST_SKEWT:
        a, b = skew_ab
        for step in range(1, n_steps + 1):
            w = words(k0, k1, step - 1, stream, path)
            magnitude = abs(trig_t(w[0], w[1], nu))
            side = (float(w[2]) + 0.5) * 2.0**-32
            x = -magnitude * (1.0 - lam) if side < 0.5 * (1.0 - lam) else magnitude * (1.0 + lam)
            z.append((x - a) / b)
        return z
    for block in range((n_steps + 1) // 2):
        w = words(k0, k1, block, stream, path)
        if dist == enums.DIST_NORMAL:
            pair = list(fast_math_twin.box_muller(*(int(word) for word in w)))
        elif dist == enums.DIST_T:
            pair = [trig_t(w[0], w[1], nu), trig_t(w[2], w[3], nu)]
        else:
            assert residuals is not None
            n = residuals.shape[0]
            pair = [
                float(residuals[min(int(uniform53(w[0], w[1]) * n), n - 1)]),
                float(residuals[min(int(uniform53(w[2], w[3]) * n), n - 1)]),
            ]
        z.extend(pair)
    return z[:n_steps]


def prices(
    z: np.ndarray,
    model: int,
    variance: tuple[float, float, float, float, float],
    state0: float,
    s0: float,
) -> np.ndarray:
    """GARCH/GJR/EGARCH prices ``(paths, T + 1)`` from innovations ``(paths, T)``."""
    mu, omega, alpha, gamma, beta = variance
    n_paths, n_steps = z.shape
    out = np.empty((n_paths, n_steps + 1))
    for row in range(n_paths):
        state, log_sum = state0, 0.0
        out[row, 0] = s0
        for step in range(1, n_steps + 1):
            zt = float(z[row, step - 1])
            if model == enums.VOL_EGARCH:
                eps = fast_math_twin.exp(0.5 * state) * zt
                following = omega + alpha * (abs(zt) - SQRT_TWO_OVER_PI) + gamma * zt + beta * state
            else:
                eps = math.sqrt(state) * zt
                slope = alpha + gamma if eps < 0.0 else alpha
                following = omega + slope * (eps * eps) + beta * state
            state = following
            log_sum += mu + eps
            out[row, step] = s0 * fast_math_twin.exp(0.01 * log_sum)
    return out


def bootstrap_path(
    k0: int,
    k1: int,
    path: int,
    returns: np.ndarray,
    successor: np.ndarray,
    mean_block: float,
    s0: float,
    n_steps: int,
) -> tuple[np.ndarray, list[int]]:
    """One stationary-bootstrap path and the return index used at each step (docs 1.4)."""
    n = returns.shape[0]
    stay = 1.0 - 1.0 / mean_block
    inv_log_stay = 1.0 / math.log(stay) if stay > 0.0 else -0.0
    out = [s0]
    used: list[int] = []
    log_sum = 0.0
    block = 0
    while len(used) < n_steps:
        w = words(k0, k1, block, enums.STREAM_BOOTSTRAP, path)
        block += 1
        index = min(int(uniform53(w[0], w[1]) * n), n - 1)
        length = 1 + math.floor(math.log(1.0 - uniform53(w[2], w[3])) * inv_log_stay)
        for _ in range(min(length, n_steps - len(used))):
            used.append(index)
            log_sum += float(returns[index])
            out.append(s0 * math.exp(log_sum))
            index = int(successor[index])
    return np.array(out), used
