"""docs/model.md 1.3's ``ln``, ``cos``/``sin``, ``sin(pi v / 2)`` and ``exp`` in plain Python.

Python floats are IEEE-754 doubles and CPython neither fuses nor reorders
operations, so these give the compiled functions of stresstest/kernels/fast_math.py
bit for bit, from the formulas of the doc (not from the kernel's code).
"""

from __future__ import annotations

import math
import struct

LN2_HI = float.fromhex("0x1.62e42feep-1")
LN2_LO = float.fromhex("0x1.a39ef35793c76p-33")
INV_LN2 = float.fromhex("0x1.71547652b82fep0")
PIO2_HI = float.fromhex("0x1.921fb544p0")
PIO2_LO = float.fromhex("0x1.0b4611a626331p-34")


def bits_as_float(bits: int) -> float:
    """The double whose IEEE-754 bits are ``bits``."""
    return float(struct.unpack("<d", struct.pack("<Q", bits))[0])


def horner(coefficients: list[float], z: float) -> float:
    """``c_0 z^(n-1) + ... + c_(n-1)`` evaluated from the first coefficient."""
    value = coefficients[0]
    for coefficient in coefficients[1:]:
        value = value * z + coefficient
    return value


def minus_two_log(m: int) -> float:
    """``-2 ln(m / 2^53)`` for an integer ``m`` in ``[1, 2^53]``."""
    e = m.bit_length() - 1
    x = m / 2**e  # exact: a power of two
    if x > math.sqrt(2.0):
        x, e = x * 0.5, e + 1
    f = x - 1.0
    s = f / (2.0 + f)
    z = s * s
    p = horner([1.0 / (2 * k + 1) for k in range(11, 0, -1)], z)
    log_x = 2.0 * s + 2.0 * s * z * p
    k = float(e - 53)
    return -2.0 * ((k * LN2_HI + log_x) + k * LN2_LO)


def cos_sin_two_pi(u: float) -> tuple[float, float]:
    """``(cos 2 pi u, sin 2 pi u)`` for ``u`` in ``[0, 1)``."""
    q = math.floor(4.0 * u + 0.5)
    r = 4.0 * u - q
    a = r * PIO2_HI + r * PIO2_LO
    z = a * a
    sin_coefficients = [(-1.0) ** k / math.factorial(2 * k + 1) for k in range(8, 0, -1)]
    cos_coefficients = [(-1.0) ** (k + 1) / math.factorial(2 * k) for k in range(9, 0, -1)]
    sin_a = a + a * z * horner(sin_coefficients, z)
    cos_a = 1.0 - z * horner(cos_coefficients, z)
    return [
        (cos_a, sin_a),
        (-sin_a, cos_a),
        (-cos_a, -sin_a),
        (sin_a, -cos_a),
    ][int(q) % 4]


def sin_half_pi(v: float) -> float:
    """``sin(pi v / 2)`` for ``v`` in ``[0, 1]``."""
    a = v * PIO2_HI + v * PIO2_LO
    z = a * a
    coefficients = [(-1.0) ** k / math.factorial(2 * k + 1) for k in range(10, 0, -1)]
    return a + a * z * horner(coefficients, z)


def exp(x: float) -> float:
    """``exp(x)`` of ``x`` clamped to ``[-708, 709]``."""
    x = min(max(x, -708.0), 709.0)
    n = math.floor(x * INV_LN2 + 0.5)
    r = (x - n * LN2_HI) - n * LN2_LO
    p = horner([1.0 / math.factorial(k) for k in range(13, -1, -1)], r)
    return p * bits_as_float((n + 1023) << 52)


def box_muller(w0: int, w1: int, w2: int, w3: int) -> tuple[float, float]:
    """Two normals from one Philox block's words (docs/model.md 1.3)."""
    m = 2**53 - ((w0 >> 5) * 2**26 + (w1 >> 6))
    radius = math.sqrt(minus_two_log(m))
    cos_part, sin_part = cos_sin_two_pi(((w2 >> 5) * 2**26 + (w3 >> 6)) / 2**53)
    return radius * cos_part, radius * sin_part
