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

from stresstest.kernels.jit import kernel

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
_TWO_PI = 2.0 * np.pi


@kernel
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


@kernel
def uniform53(high_word: np.uint64, low_word: np.uint64) -> float:
    """A uniform double in [0, 1) with 53 random bits from two 32-bit words."""
    bits = ((high_word >> _SHIFT5) << _SHIFT26) | (low_word >> _SHIFT6)
    return float(bits) * _TWO_POW_MINUS_53


@kernel
def normal_pair(
    k0: np.uint64, k1: np.uint64, block: int, stream: int, path: int
) -> tuple[float, float]:
    """Two independent standard normals for (block, stream, path) by Box-Muller.

    Counter words: ``(block mod 2^32, stream, path mod 2^32, path >> 32)``.
    Uniforms ``u1 = 1 - U(w0, w1)`` in (0, 1] and ``u2 = U(w2, w3)`` in [0, 1)
    give ``z0 = sqrt(-2 ln u1) cos(2 pi u2)`` and ``z1 = sqrt(-2 ln u1) sin(2 pi u2)``.
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
    u1 = 1.0 - uniform53(w0, w1)
    u2 = uniform53(w2, w3)
    radius = np.sqrt(-2.0 * np.log(u1))
    angle = _TWO_PI * u2
    return radius * np.cos(angle), radius * np.sin(angle)
