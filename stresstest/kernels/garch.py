"""GARCH-family price paths from per-path counter-based innovations, 64 paths per group.

Returns are in percent (``r = 100 x log return``), the units arch fits in, so
fitted parameters plug in unchanged. For path ``p`` and step ``t = 1..T``
(docs/model.md 1.5):

    eps_t = sigma_t z_t,   r_t = mu + eps_t
    GARCH / GJR:  sigma^2_{t+1} = omega + (alpha + gamma 1{eps_t < 0}) eps_t^2 + beta sigma^2_t
    EGARCH:       ln sigma^2_{t+1} = omega + alpha (|z_t| - sqrt(2/pi)) + gamma z_t
                                     + beta ln sigma^2_t
    P_0 = s0,   P_t = s0 exp(0.01 sum_{u<=t} r_u)

The state carried from step to step is ``sigma^2`` (GARCH, GJR) or ``ln sigma^2``
(EGARCH). ``exp`` is :func:`~stresstest.kernels.fast_math.exp_lanes` and ``sqrt``
the correctly rounded IEEE square root. The recursion is sequential in time but
independent across paths: paths are made :data:`LANES` at a time, each lane one
path with its own stream, so every loop over lanes runs in SIMD registers and a
path's prices do not depend on its group, chunk or thread. The innovations ``z_t``
and their place in the Philox stream are in :mod:`stresstest.kernels.garch_draws`
(docs/model.md 1.6).

A group makes its steps in blocks of :data:`STEP_BLOCK`: the block's innovations
(:func:`~stresstest.kernels.garch_draws.innovations_lanes`), then its recursion
(:func:`variance_steps_lanes`), then the prices of the whole block in one flat pass
(:func:`prices_lanes`); the lane-major prices go into the rows of ``out`` at the end
(:func:`transpose_lanes`). Short passes, each over many independent lanes, keep the
polynomials' dependence chains overlapped (one loop doing everything was bound by
their latency), and each pass's set-up is paid once a block. Every lane does the
same operations in the same order as one path alone would, so the bits do not
depend on the blocks (docs/performance.md, "GARCH family and FHS in SIMD lanes").

``shape = (t_scale, t_exponent, lam, skew_a, skew_b)`` with ``t_scale = nu - 2`` and
``t_exponent = -2 / nu``; ``variance = (mu, omega, alpha, gamma, beta)`` in arch's units.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from stresstest.kernels.enums import VOL_EGARCH
from stresstest.kernels.fast_math import exp_lanes
from stresstest.kernels.garch_draws import LANES, Shape, innovations_lanes
from stresstest.kernels.jit import kernel, parallel_kernel
from stresstest.kernels.rng import philox4x32_10

_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_SQRT_TWO_OVER_PI = math.sqrt(2.0 / math.pi)
#: Percent to fraction: a log return is 0.01 r.
PERCENT = 0.01
#: Steps made per pass (even, so a block starts on an innovation pair): a block's
#: innovations, ``STEP_BLOCK x LANES`` doubles (16 KiB), stay in L1. 16 and 64 were no faster.
STEP_BLOCK = 32

Variance = tuple[float, float, float, float, float]


@kernel
def philox_block(
    k0: np.uint64, k1: np.uint64, block: int, stream: int, path: int
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
    """Philox4x32-10 of counter ``(block mod 2^32, stream, path mod 2^32, path >> 32)``."""
    path_bits = np.uint64(path)
    return philox4x32_10(
        np.uint64(block) & _MASK32,
        np.uint64(stream) & _MASK32,
        path_bits & _MASK32,
        path_bits >> _SHIFT32,
        k0,
        k1,
    )


@kernel
def garch_step(model: int, variance: Variance, state: float, z: float) -> tuple[float, float]:
    """One step of one path with the C library's ``exp``: ``(r_t, next state)``.

    ``r_t`` is in percent. GARCH is GJR with ``gamma = 0``. The multi-asset FHS
    (:mod:`stresstest.kernels.multi_paths`, docs/model.md 11.1.1) uses this scalar
    form; the single-asset generators use :func:`variance_steps_lanes`.
    """
    mu, omega, alpha, gamma, beta = variance
    if model == VOL_EGARCH:
        eps = math.exp(0.5 * state) * z
        following = omega + alpha * (abs(z) - _SQRT_TWO_OVER_PI) + gamma * z + beta * state
        return mu + eps, following
    eps = math.sqrt(state) * z
    slope = alpha + gamma if eps < 0.0 else alpha
    return mu + eps, omega + slope * (eps * eps) + beta * state


@kernel
def variance_steps_lanes(
    model: int,
    variance: Variance,
    state: np.ndarray,
    log_sum: np.ndarray,
    z: np.ndarray,
    count: int,
    log_sums: np.ndarray,
) -> None:
    """Steps ``k < count`` of every lane: apply ``z[k, l]``, update ``state[l]`` and ``log_sum[l]``.

    ``log_sums[k, l]`` is ``log_sum[l]`` after step ``k``. The operations, in this order:
    ``eps = sigma z``; GJR ``state = (omega + slope (eps eps)) + beta state``, EGARCH
    ``state = ((omega + alpha (|z| - sqrt(2/pi))) + gamma z) + beta state``; ``log_sum =
    log_sum + (mu + eps)``. The prices, ``s0 exp(0.01 log_sum)``, are :func:`prices_lanes`'s.
    """
    mu, omega, alpha, gamma, beta = variance
    lanes = state.shape[0]
    if model == VOL_EGARCH:
        for step in range(count):
            for lane in range(lanes):
                z_lane = z[step, lane]
                eps = exp_lanes(0.5 * state[lane]) * z_lane
                state[lane] = (
                    omega
                    + alpha * (abs(z_lane) - _SQRT_TWO_OVER_PI)
                    + gamma * z_lane
                    + beta * state[lane]
                )
                log_sum[lane] += mu + eps
                log_sums[step, lane] = log_sum[lane]
    else:
        for step in range(count):
            for lane in range(lanes):
                eps = math.sqrt(state[lane]) * z[step, lane]
                slope = alpha + gamma if eps < 0.0 else alpha
                state[lane] = omega + slope * (eps * eps) + beta * state[lane]
                log_sum[lane] += mu + eps
                log_sums[step, lane] = log_sum[lane]


@kernel
def prices_lanes(s0: float, log_sums: np.ndarray, count: int) -> None:
    """``log_sums[k, l] <- s0 exp(0.01 log_sums[k, l])`` for the first ``count`` rows.

    One flat loop over ``count x lanes`` independent values, so the polynomial of
    ``exp`` runs on many vectors at once.
    """
    flat = log_sums.reshape(-1)
    for index in range(count * log_sums.shape[1]):
        flat[index] = s0 * exp_lanes(PERCENT * flat[index])


@kernel
def transpose_lanes(prices: np.ndarray, out: np.ndarray) -> None:
    """``out[l, t] = prices[t, l]`` for the rows of ``out``, eight rows at a time.

    A step's eight lanes are one cache line of ``prices``; eight rows of ``out``
    are written in step order side by side.
    """
    rows, n_points = out.shape
    full = rows - rows % 8
    for first_lane in range(0, full, 8):
        for step in range(n_points):
            for lane in range(first_lane, first_lane + 8):
                out[lane, step] = prices[step, lane]
    for lane in range(full, rows):
        for step in range(n_points):
            out[lane, step] = prices[step, lane]


@parallel_kernel
def garch_paths(
    k0: np.uint64,
    k1: np.uint64,
    first_path: int,
    stream: int,
    dist: int,
    shape: Shape,
    residuals: np.ndarray,
    model: int,
    variance: Variance,
    state0: float,
    s0: float,
    out: np.ndarray,
) -> None:
    """Fill ``out`` (paths x (T + 1)) with prices; row ``i`` is path ``first_path + i``.

    ``variance = (mu, omega, alpha, gamma, beta)`` in arch's units: ``mu`` in
    percent per step, ``omega`` in percent^2 (GARCH, GJR) or in ln percent^2
    (EGARCH); ``state0`` is ``sigma^2_1`` in percent^2 (or ``ln sigma^2_1``);
    ``s0`` in quote per base. ``residuals`` is read only for ``DIST_EMPIRICAL``
    (pass an empty array otherwise).
    """
    n_paths, n_points = out.shape
    n_steps = n_points - 1
    n_groups = (n_paths + LANES - 1) // LANES
    for group in numba.prange(n_groups):
        first_row = group * LANES
        rows = min(LANES, n_paths - first_row)
        words = np.empty((4, LANES), dtype=np.uint64)
        z = np.empty((STEP_BLOCK, LANES))
        prices = np.empty((n_points, LANES))  # step-major, so each step is a SIMD row
        prices[0, :] = s0
        state = np.full(LANES, state0)
        log_sum = np.zeros(LANES)
        for first_step in range(0, n_steps, STEP_BLOCK):
            count = min(STEP_BLOCK, n_steps - first_step)
            innovations_lanes(
                k0,
                k1,
                first_step // 2,
                stream,
                first_path + first_row,
                dist,
                shape,
                residuals,
                words,
                z[: 2 * ((count + 1) // 2)],
            )
            block = prices[first_step + 1 :]
            variance_steps_lanes(model, variance, state, log_sum, z, count, block)
            prices_lanes(s0, block, count)
        transpose_lanes(prices, out[first_row : first_row + rows])


@parallel_kernel
def garch_innovations(
    k0: np.uint64,
    k1: np.uint64,
    first_path: int,
    stream: int,
    dist: int,
    shape: Shape,
    residuals: np.ndarray,
    out: np.ndarray,
) -> None:
    """Innovations of :func:`garch_paths`: ``out[i, t - 1] = z_t`` of path ``first_path + i``."""
    n_paths, n_steps = out.shape
    n_groups = (n_paths + LANES - 1) // LANES
    for group in numba.prange(n_groups):
        first_row = group * LANES
        rows = min(LANES, n_paths - first_row)
        words = np.empty((4, LANES), dtype=np.uint64)
        z = np.empty((2, LANES))
        for pair in range((n_steps + 1) // 2):
            innovations_lanes(
                k0, k1, pair, stream, first_path + first_row, dist, shape, residuals, words, z
            )
            for lane in range(rows):
                out[first_row + lane, 2 * pair] = z[0, lane]
                if 2 * pair + 1 < n_steps:
                    out[first_row + lane, 2 * pair + 1] = z[1, lane]


@parallel_kernel
def garch_paths_from_innovations(
    z: np.ndarray, model: int, variance: Variance, state0: float, s0: float, out: np.ndarray
) -> None:
    """Prices ``out`` (paths x (T + 1)) from given innovations ``z`` (paths x T).

    The same recursion as :func:`garch_paths` (:func:`variance_steps_lanes`), for
    tests and external innovations.
    """
    n_paths, n_steps = z.shape
    n_groups = (n_paths + LANES - 1) // LANES
    for group in numba.prange(n_groups):
        first_row = group * LANES
        rows = min(LANES, n_paths - first_row)
        z_step = np.zeros((1, LANES))
        state = np.full(LANES, state0)
        log_sum = np.zeros(LANES)
        prices = np.empty((1, LANES))
        for lane in range(rows):
            out[first_row + lane, 0] = s0
        for step in range(1, n_steps + 1):
            for lane in range(rows):
                z_step[0, lane] = z[first_row + lane, step - 1]
            variance_steps_lanes(model, variance, state, log_sum, z_step, 1, prices)
            prices_lanes(s0, prices, 1)
            for lane in range(rows):
                out[first_row + lane, step] = prices[0, lane]
