"""GARCH-family and FHS innovations, made :data:`LANES` paths at a time.

Every draw has a fixed place in its path's Philox stream (docs/model.md 1.6): no
rejection, so the lanes of a group never wait for each other and the loops over
lanes run in SIMD registers. Innovation pair ``j`` of path ``p`` is ``z_{2j+1},
z_{2j+2}``; counter words ``(block mod 2^32, stream, p mod 2^32, p >> 32)``:

- normal: the Box-Muller pair of block ``j`` (docs/model.md 1.3);
- Student-t: block ``j``; ``z_{2j+1}`` from ``(w0, w1)`` and ``z_{2j+2}`` from
  ``(w2, w3)`` by :func:`student_t_lanes`;
- skewed t: ``z_t`` from block ``t - 1``: the Student-t of ``(w0, w1)`` and the
  side word ``w2`` (:func:`skew_t`); ``w3`` is not used;
- empirical (FHS): block ``j``; 53-bit uniforms from ``(w0, w1)`` and ``(w2, w3)``
  pick the residuals of the two steps.

The logarithm, exponential and cosine are the project's own
(:mod:`stresstest.kernels.fast_math`): fixed sequences of IEEE operations, the same
bits on every machine and vectorisable. ``shape = (t_scale, t_exponent, lam, skew_a,
skew_b)`` with ``t_scale = nu - 2`` and ``t_exponent = -2 / nu``.
"""

from __future__ import annotations

import math

import numpy as np

from stresstest.kernels.enums import DIST_NORMAL, DIST_SKEWT, DIST_T
from stresstest.kernels.fast_math import exp_lanes, log_53, sin_half_pi
from stresstest.kernels.jit import inline_kernel, kernel
from stresstest.kernels.rng import normal_pairs_lanes, philox_lanes, uniform53

#: Paths generated together in SIMD lanes: one group per ``prange`` iteration.
LANES = 64

_TWO_POW_MINUS_32 = 2.0**-32
_TWO_POW_MINUS_31 = 2.0**-31
_ONE = np.uint64(1)
_SHIFT20 = np.uint64(20)
_SHIFT31 = np.uint64(31)
_LOW31 = np.uint64(0x7FFFFFFF)

Shape = tuple[float, float, float, float, float]


@inline_kernel
def radius_log(word: np.uint64) -> float:
    """``ln w`` of ``w = (word + 0.5) 2^-32``: ``-(1/2) (-2 ln((2 word + 1) 2^20 / 2^53))``.

    ``(2 word + 1) 2^20 / 2^53`` is ``w`` exactly, so the ``ln`` of docs/model.md 1.3
    applies; :func:`~stresstest.kernels.fast_math.log_53` is it before the exact
    multiplication by ``-2``, so the halving is not done either.
    """
    return log_53(((word << _ONE) | _ONE) << _SHIFT20)


@inline_kernel
def student_t_lanes(
    radius_words: np.ndarray,
    angle_words: np.ndarray,
    t_scale: float,
    t_exponent: float,
    z: np.ndarray,
) -> None:
    """Bailey's Student-t in trigonometric form, unit variance, into every lane of ``z``.

    A point uniform in the unit disc has squared radius ``w``, uniform in (0, 1), and an
    independent uniform angle ``theta``, so the polar method's ``u sqrt(nu (w^(-2/nu) - 1)
    / w)`` (Bailey, 1994) is ``cos(theta) sqrt(nu (w^(-2/nu) - 1))``, without rejection;
    ``sqrt((nu - 2) / nu)`` makes the variance 1. ``cos(theta)`` has the law of
    ``s sin(pi v / 2)`` with a fair sign ``s`` and ``v`` uniform in (0, 1). From the words
    of lane ``l``: ``w = (radius_words[l] + 0.5) 2^-32``, ``s = +1`` if ``angle_words[l] <
    2^31`` else ``-1``, ``v = ((angle_words[l] mod 2^31) + 0.5) 2^-31``, and

        z[l] = (s sin(pi v / 2)) sqrt((nu - 2) (exp(-(2/nu) ln w) - 1))

    In three passes over the lanes (``ln w``, then the ``exp``, then the rest), each
    keeping its value in ``z``: a single loop holding the three polynomials and the
    square root is bound by the latency of their Horner chains, short loops let the
    core overlap the lanes' chains. The same operations on every lane either way.
    """
    lanes = z.shape[0]
    for lane in range(lanes):
        z[lane] = radius_log(radius_words[lane])
    for lane in range(lanes):
        z[lane] = exp_lanes(t_exponent * z[lane])
    for lane in range(lanes):
        angle_word = angle_words[lane]
        sign = 1.0 - 2.0 * float(angle_word >> _SHIFT31)
        v = (float(angle_word & _LOW31) + 0.5) * _TWO_POW_MINUS_31
        z[lane] = (sign * sin_half_pi(v)) * math.sqrt(t_scale * (z[lane] - 1.0))


@inline_kernel
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


@inline_kernel
def residual_index(uniform: float, n: int) -> int:
    """``floor(uniform n)`` clipped to ``n - 1``: the residual a uniform in [0, 1) picks."""
    return min(int(uniform * n), n - 1)


@kernel
def innovations_lanes(
    k0: np.uint64,
    k1: np.uint64,
    first_pair: int,
    stream: int,
    first_path: int,
    dist: int,
    shape: Shape,
    residuals: np.ndarray,
    words: np.ndarray,
    z: np.ndarray,
) -> None:
    """Innovation pairs ``first_pair ..`` of paths ``first_path + l`` into ``z``.

    ``z`` has shape ``(2 n_pairs, lanes)``: rows ``2 k`` and ``2 k + 1`` are ``z_{2 j + 1}``
    and ``z_{2 j + 2}`` of pair ``j = first_pair + k``. ``words`` is scratch of shape
    ``(4, lanes)`` (``uint64``); ``residuals`` is read only for ``DIST_EMPIRICAL``. See
    the module text for the layout. One call makes a block of pairs, so the set-up of
    the loops over lanes is paid once a block.
    """
    t_scale, t_exponent, lam, skew_a, skew_b = shape
    lanes = z.shape[1]
    n_pairs = z.shape[0] // 2
    if dist == DIST_NORMAL:
        for k in range(n_pairs):
            normal_pairs_lanes(
                k0, k1, first_pair + k, stream, first_path, words, z[2 * k], z[2 * k + 1]
            )
    elif dist == DIST_T:
        for k in range(n_pairs):
            philox_lanes(k0, k1, first_pair + k, stream, first_path, words)
            student_t_lanes(words[0], words[1], t_scale, t_exponent, z[2 * k])
            student_t_lanes(words[2], words[3], t_scale, t_exponent, z[2 * k + 1])
    elif dist == DIST_SKEWT:
        for step in range(2 * n_pairs):  # one block per step
            philox_lanes(k0, k1, 2 * first_pair + step, stream, first_path, words)
            student_t_lanes(words[0], words[1], t_scale, t_exponent, z[step])
            for lane in range(lanes):
                z[step, lane] = skew_t(z[step, lane], words[2, lane], lam, skew_a, skew_b)
    else:
        n = residuals.shape[0]
        for k in range(n_pairs):
            philox_lanes(k0, k1, first_pair + k, stream, first_path, words)
            for lane in range(lanes):  # the indices first, then the loads: short loops
                words[0, lane] = residual_index(uniform53(words[0, lane], words[1, lane]), n)
                words[2, lane] = residual_index(uniform53(words[2, lane], words[3, lane]), n)
            for lane in range(lanes):
                z[2 * k, lane] = residuals[words[0, lane]]
                z[2 * k + 1, lane] = residuals[words[2, lane]]
