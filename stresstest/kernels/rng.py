"""Counter-based random numbers: Philox4x32-10 and normals derived from it.

A counter-based generator maps (key, counter) to random bits with no state, so
the draws of path ``p`` at step ``t`` depend only on the seed-derived key and on
``(t, stream, p)``. That makes every path's stream independent of thread count,
chunk size and how many paths are run. See docs/model.md, "Random numbers".

Philox4x32-10 is from Salmon et al. (2011), "Parallel random numbers: as easy
as 1, 2, 3"; the known-answer vectors of Random123 are checked in the tests.
All words are carried in ``uint64`` holding 32-bit values.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.fast_math import cos_sin_two_pi, minus_two_log
from stresstest.kernels.jit import inline_kernel, kernel

_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_PHILOX_M0 = np.uint64(0xD2511F53)
_PHILOX_M1 = np.uint64(0xCD9E8D57)
_PHILOX_W0 = np.uint64(0x9E3779B9)
_PHILOX_W1 = np.uint64(0xBB67AE85)
_SHIFT5 = np.uint64(5)
_SHIFT6 = np.uint64(6)
_SHIFT26 = np.uint64(26)
_TWO_POW_MINUS_53 = 1.0 / 9007199254740992.0
_TWO_POW_53 = np.uint64(1 << 53)


@inline_kernel
def philox4x32_10(
    c0: np.uint64,
    c1: np.uint64,
    c2: np.uint64,
    c3: np.uint64,
    k0: np.uint64,
    k1: np.uint64,
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
    """Philox4x32 with 10 rounds: four 32-bit counter words and two key words in, four out."""
    for _ in range(10):
        product0 = _PHILOX_M0 * c0
        product1 = _PHILOX_M1 * c2
        hi0 = product0 >> _SHIFT32
        lo0 = product0 & _MASK32
        hi1 = product1 >> _SHIFT32
        lo1 = product1 & _MASK32
        c0 = hi1 ^ c1 ^ k0
        c1 = lo1
        c2 = hi0 ^ c3 ^ k1
        c3 = lo0
        k0 = (k0 + _PHILOX_W0) & _MASK32
        k1 = (k1 + _PHILOX_W1) & _MASK32
    return c0, c1, c2, c3


@inline_kernel
def uniform53(high_word: np.uint64, low_word: np.uint64) -> float:
    """A uniform double in [0, 1) with 53 random bits from two 32-bit words."""
    bits = ((high_word >> _SHIFT5) << _SHIFT26) | (low_word >> _SHIFT6)
    return float(bits) * _TWO_POW_MINUS_53


@inline_kernel
def box_muller(w0: np.uint64, w1: np.uint64, w2: np.uint64, w3: np.uint64) -> tuple[float, float]:
    """Two standard normals from one Philox block's output words (docs/model.md 1.3).

    ``u1 = 1 - U(w0, w1) = m / 2^53`` with the integer ``m = 2^53 - bits(w0, w1)`` in
    ``[1, 2^53]`` and ``u2 = U(w2, w3)`` give ``z0 = sqrt(-2 ln u1) cos(2 pi u2)`` and
    ``z1 = sqrt(-2 ln u1) sin(2 pi u2)``, with the project's ``ln``, ``cos`` and ``sin``
    (:mod:`stresstest.kernels.fast_math`).
    """
    m = _TWO_POW_53 - (((w0 >> _SHIFT5) << _SHIFT26) | (w1 >> _SHIFT6))
    radius = np.sqrt(minus_two_log(m))
    cos_part, sin_part = cos_sin_two_pi(uniform53(w2, w3))
    return radius * cos_part, radius * sin_part


@kernel
def normal_pair(
    k0: np.uint64, k1: np.uint64, block: int, stream: int, path: int
) -> tuple[float, float]:
    """Two independent standard normals for (block, stream, path) by Box-Muller.

    Counter words: ``(block mod 2^32, stream, path mod 2^32, path >> 32)``; the
    output words go through :func:`box_muller`.
    """
    path_bits = np.uint64(path)
    w0, w1, w2, w3 = philox4x32_10(
        np.uint64(block) & _MASK32,
        np.uint64(stream) & _MASK32,
        path_bits & _MASK32,
        path_bits >> _SHIFT32,
        k0,
        k1,
    )
    return box_muller(w0, w1, w2, w3)


@kernel
def philox_lanes(
    k0: np.uint64, k1: np.uint64, block: int, stream: int, first_path: int, words: np.ndarray
) -> None:
    """Philox4x32-10 output words of ``(block, stream, path)`` for paths ``first_path + l``.

    ``words[i, l]`` is word ``i`` of lane ``l`` (``words`` of shape ``(4, lanes)``,
    ``uint64``): counter ``(block mod 2^32, stream, p mod 2^32, p >> 32)``, one loop over
    the lanes that LLVM runs in SIMD registers.
    """
    counter0 = np.uint64(block) & _MASK32
    counter1 = np.uint64(stream) & _MASK32
    for lane in range(words.shape[1]):
        path_bits = np.uint64(first_path + lane)
        w0, w1, w2, w3 = philox4x32_10(
            counter0, counter1, path_bits & _MASK32, path_bits >> _SHIFT32, k0, k1
        )
        words[0, lane] = w0
        words[1, lane] = w1
        words[2, lane] = w2
        words[3, lane] = w3


@kernel
def normal_pairs_lanes(
    k0: np.uint64,
    k1: np.uint64,
    block: int,
    stream: int,
    first_path: int,
    words: np.ndarray,
    z0: np.ndarray,
    z1: np.ndarray,
) -> None:
    """:func:`normal_pair` of paths ``first_path + l`` for every lane ``l`` of ``z0``, ``z1``.

    The same numbers as the scalar function, lane by lane; two loops over the lanes
    (:func:`philox_lanes`, then Box-Muller) that LLVM runs in SIMD registers. ``words``
    is scratch of shape ``(4, lanes)`` (``uint64``).
    """
    philox_lanes(k0, k1, block, stream, first_path, words)
    for lane in range(z0.shape[0]):
        z0[lane], z1[lane] = box_muller(
            words[0, lane], words[1, lane], words[2, lane], words[3, lane]
        )
