"""GARCH-family price paths from per-path counter-based innovations.

Returns are in percent (``r = 100 x log return``), the units arch fits in, so
fitted parameters plug in unchanged. For path ``p`` and step ``t = 1..T``
(docs/model.md 1.5):

    eps_t = sigma_t z_t,   r_t = mu + eps_t
    GARCH / GJR:  sigma^2_{t+1} = omega + (alpha + gamma 1{eps_t < 0}) eps_t^2 + beta sigma^2_t
    EGARCH:       ln sigma^2_{t+1} = omega + alpha (|z_t| - sqrt(2/pi)) + gamma z_t
                                     + beta ln sigma^2_t
    P_0 = s0,   P_t = s0 exp(0.01 sum_{u<=t} r_u)

The state carried from step to step is ``sigma^2`` (GARCH, GJR) or ``ln sigma^2``
(EGARCH). Innovations ``z_t`` come from Philox4x32-10 with counter words
``(block mod 2^32, stream, p mod 2^32, p >> 32)`` (docs/model.md 1.6):

- normal: the Box-Muller pair of block ``j`` gives steps ``2j + 1`` and ``2j + 2``
  (as for GBM);
- Student-t: Bailey's polar method on the path's sequence of attempts; attempt
  ``a`` is the words ``(w0, w1)`` (``a`` even) or ``(w2, w3)`` (``a`` odd) of
  block ``a // 2``; each step takes attempts until one is accepted;
- skewed t: attempt ``a`` is block ``a``: ``(w0, w1)`` the polar pair, ``w2`` the
  side uniform;
- empirical (FHS): 53-bit uniforms from ``(w0, w1)`` and ``(w2, w3)`` of block
  ``j`` pick the residuals of steps ``2j + 1`` and ``2j + 2``.

A path's draws depend only on the key, the stream and the path number, never
on the chunk or the thread. Every function here is pure numba over scalars and
arrays. ``shape = (t_scale, t_exponent, lam, skew_a, skew_b)`` with
``t_scale = nu - 2`` and ``t_exponent = -2 / nu``; ``variance = (mu, omega,
alpha, gamma, beta)`` in arch's units.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from stresstest.kernels.enums import DIST_NORMAL, DIST_SKEWT, DIST_T, VOL_EGARCH
from stresstest.kernels.jit import kernel, parallel_kernel
from stresstest.kernels.rng import normal_pair, philox4x32_10, uniform53

_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_TWO_POW_MINUS_31 = 2.0**-31
_TWO_POW_MINUS_32 = 2.0**-32
_SQRT_TWO_OVER_PI = math.sqrt(2.0 / math.pi)
#: Percent to fraction: a log return is 0.01 r.
PERCENT = 0.01

Shape = tuple[float, float, float, float, float]
Variance = tuple[float, float, float, float, float]


# ----------------------------------------------------------------------------- draws
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
def signed_uniform32(word: np.uint64) -> float:
    """``(word + 0.5) 2^-31 - 1``: a uniform on a 2^32-point grid in (-1, 1), never 0."""
    return (float(word) + 0.5) * _TWO_POW_MINUS_31 - 1.0


@kernel
def polar_t(u: float, w: float, t_scale: float, t_exponent: float) -> float:
    """Bailey's polar Student-t, standardized: ``u sqrt((nu - 2) (w^(-2/nu) - 1) / w)``.

    ``(u, v)`` uniform in the unit disc and ``w = u^2 + v^2`` make
    ``u sqrt(nu (w^(-2/nu) - 1) / w)`` Student-t with ``nu`` degrees of freedom
    (Bailey, 1994); the factor ``sqrt((nu - 2) / nu)`` gives unit variance.
    ``w^(-2/nu)`` is computed as ``exp(t_exponent ln w)``: ``exp`` is about four
    times faster than ``expm1`` here, and the cancellation in ``- 1`` near
    ``w = 1`` only touches ``|z| < 1e-4``, by less than ``1e-12`` absolute.
    """
    return u * math.sqrt(t_scale * (math.exp(t_exponent * math.log(w)) - 1.0) / w)


@kernel
def student_t_next(
    k0: np.uint64,
    k1: np.uint64,
    path: int,
    stream: int,
    t_scale: float,
    t_exponent: float,
    count: int,
    word_a: np.uint64,
    word_b: np.uint64,
) -> tuple[float, int, np.uint64, np.uint64]:
    """The next unit-variance Student-t of a path: ``(z, count, word_a, word_b)``.

    ``count`` is the number of attempts the path has used; ``(word_a, word_b)``
    keep the odd half ``(w2, w3)`` of the last block for the next attempt.
    Start a path at ``count = 0``.
    """
    while True:
        if count & 1:
            u = signed_uniform32(word_a)
            v = signed_uniform32(word_b)
        else:
            w0, w1, word_a, word_b = philox_block(k0, k1, count >> 1, stream, path)
            u = signed_uniform32(w0)
            v = signed_uniform32(w1)
        count += 1
        w = u * u + v * v
        if w < 1.0:
            return polar_t(u, w, t_scale, t_exponent), count, word_a, word_b


@kernel
def skew_t(t_value: float, side_word: np.uint64, lam: float, skew_a: float, skew_b: float) -> float:
    """Hansen's skewed t (arch's SkewStudent, unit variance) from a unit-variance Student-t.

    With ``m = |t_value|`` and the side uniform ``s = (side_word + 0.5) 2^-32``:
    ``x = -m (1 - lam)`` if ``s < (1 - lam) / 2``, else ``x = m (1 + lam)``;
    ``z = (x - a) / b``. This is arch's quantile function ``ppf`` applied to a
    uniform, split into its side and its magnitude.
    """
    magnitude = abs(t_value)
    side = (float(side_word) + 0.5) * _TWO_POW_MINUS_32
    x = -magnitude * (1.0 - lam) if side < 0.5 * (1.0 - lam) else magnitude * (1.0 + lam)
    return (x - skew_a) / skew_b


@kernel
def skew_t_next(
    k0: np.uint64, k1: np.uint64, path: int, stream: int, shape: Shape, count: int
) -> tuple[float, int]:
    """The next skewed-t innovation of a path: ``(z, count)``; one block per attempt."""
    t_scale, t_exponent, lam, skew_a, skew_b = shape
    while True:
        w0, w1, w2, _ = philox_block(k0, k1, count, stream, path)
        count += 1
        u = signed_uniform32(w0)
        v = signed_uniform32(w1)
        w = u * u + v * v
        if w < 1.0:
            return skew_t(polar_t(u, w, t_scale, t_exponent), w2, lam, skew_a, skew_b), count


@kernel
def pick(residuals: np.ndarray, uniform: float) -> float:
    """``residuals[floor(uniform n)]`` (index clipped to ``n - 1``) for a uniform in [0, 1)."""
    n = residuals.shape[0]
    index = int(uniform * n)
    if index >= n:
        index = n - 1
    return float(residuals[index])


@kernel
def pair_draw(
    k0: np.uint64,
    k1: np.uint64,
    path: int,
    stream: int,
    block: int,
    dist: int,
    residuals: np.ndarray,
) -> tuple[float, float]:
    """Innovations of steps ``2 block + 1`` and ``2 block + 2``: normal or empirical."""
    if dist == DIST_NORMAL:
        return normal_pair(k0, k1, block, stream, path)
    w0, w1, w2, w3 = philox_block(k0, k1, block, stream, path)
    return pick(residuals, uniform53(w0, w1)), pick(residuals, uniform53(w2, w3))


@kernel
def path_innovations(
    k0: np.uint64,
    k1: np.uint64,
    path: int,
    stream: int,
    dist: int,
    shape: Shape,
    residuals: np.ndarray,
    z_row: np.ndarray,
) -> None:
    """Fill ``z_row`` (length ``T``) with the innovations ``z_1..z_T`` of one path."""
    n_steps = z_row.shape[0]
    if dist == DIST_T:
        count, word_a, word_b = 0, np.uint64(0), np.uint64(0)
        for step in range(n_steps):
            z_row[step], count, word_a, word_b = student_t_next(
                k0, k1, path, stream, shape[0], shape[1], count, word_a, word_b
            )
    elif dist == DIST_SKEWT:
        count = 0
        for step in range(n_steps):
            z_row[step], count = skew_t_next(k0, k1, path, stream, shape, count)
    else:
        for block in range((n_steps + 1) >> 1):
            first, second = pair_draw(k0, k1, path, stream, block, dist, residuals)
            z_row[2 * block] = first
            if 2 * block + 1 < n_steps:
                z_row[2 * block + 1] = second


# ----------------------------------------------------------------------------- recursion
@kernel
def garch_step(model: int, variance: Variance, state: float, z: float) -> tuple[float, float]:
    """One step: ``(r_t, next state)`` from the state (``sigma^2`` or ``ln sigma^2``) and ``z_t``.

    ``r_t`` is in percent. GARCH is GJR with ``gamma = 0``.
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
def advance(
    model: int,
    variance: Variance,
    s0: float,
    state: float,
    log_sum: float,
    z: float,
    out_row: np.ndarray,
    step: int,
) -> tuple[float, float]:
    """Apply ``z_step`` and write ``P_step``; returns the new ``(state, log_sum)``."""
    r, state = garch_step(model, variance, state, z)
    log_sum += r
    out_row[step] = s0 * math.exp(PERCENT * log_sum)
    return state, log_sum


@kernel
def fill_path(
    k0: np.uint64,
    k1: np.uint64,
    path: int,
    stream: int,
    dist: int,
    shape: Shape,
    residuals: np.ndarray,
    model: int,
    variance: Variance,
    state0: float,
    s0: float,
    out_row: np.ndarray,
) -> None:
    """Prices of one path into ``out_row`` (length ``T + 1``), drawing as it goes.

    One loop per kind of draw, so that the hot loop has no dispatch; each gives
    exactly the innovations of :func:`path_innovations`.
    """
    n_steps = out_row.shape[0] - 1
    out_row[0] = s0
    state, log_sum = state0, 0.0
    if dist == DIST_T:
        count, word_a, word_b = 0, np.uint64(0), np.uint64(0)
        for step in range(1, n_steps + 1):
            z, count, word_a, word_b = student_t_next(
                k0, k1, path, stream, shape[0], shape[1], count, word_a, word_b
            )
            state, log_sum = advance(model, variance, s0, state, log_sum, z, out_row, step)
    elif dist == DIST_SKEWT:
        count = 0
        for step in range(1, n_steps + 1):
            z, count = skew_t_next(k0, k1, path, stream, shape, count)
            state, log_sum = advance(model, variance, s0, state, log_sum, z, out_row, step)
    else:
        for block in range((n_steps + 1) >> 1):
            first, second = pair_draw(k0, k1, path, stream, block, dist, residuals)
            step = 2 * block + 1
            state, log_sum = advance(model, variance, s0, state, log_sum, first, out_row, step)
            if step < n_steps:
                state, log_sum = advance(
                    model, variance, s0, state, log_sum, second, out_row, step + 1
                )


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
    for row in numba.prange(out.shape[0]):
        fill_path(
            k0,
            k1,
            first_path + row,
            stream,
            dist,
            shape,
            residuals,
            model,
            variance,
            state0,
            s0,
            out[row],
        )


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
    for row in numba.prange(out.shape[0]):
        path_innovations(k0, k1, first_path + row, stream, dist, shape, residuals, out[row])


@parallel_kernel
def garch_paths_from_innovations(
    z: np.ndarray, model: int, variance: Variance, state0: float, s0: float, out: np.ndarray
) -> None:
    """Prices ``out`` (paths x (T + 1)) from given innovations ``z`` (paths x T).

    The same recursion as :func:`garch_paths`, for tests and external innovations.
    """
    n_paths, n_steps = z.shape
    for row in numba.prange(n_paths):
        out[row, 0] = s0
        state, log_sum = state0, 0.0
        for step in range(1, n_steps + 1):
            state, log_sum = advance(
                model, variance, s0, state, log_sum, z[row, step - 1], out[row], step
            )
