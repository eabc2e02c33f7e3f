"""The project's own ``exp``, ``ln`` and ``sin``/``cos`` for the path generators.

The C library's ``exp``, ``log``, ``sin`` and ``cos`` are calls LLVM cannot run in
SIMD lanes, and their last bit differs between libm versions. These functions are
polynomials and exact bit operations only, written out in one order of IEEE-754
double operations (``fastmath=False``: no reassociation, no fused multiply-add),
so a loop over lanes vectorises and every machine gives the same bits. Their
definitions, ranges and errors are in docs/model.md 1.3.

- :func:`exp_lanes` ``exp(x)``: ``x = n ln 2 + r`` with ``n = floor(x / ln 2 + 1/2)``,
  ``r`` by a two-part ``ln 2`` (Cody and Waite), then the Taylor polynomial of degree
  13 on ``|r| <= ln 2 / 2`` and ``2^n`` put together from its bits. ``x`` is first
  clamped to ``[-708, 709]``, where ``2^n`` is a normal double (the C library would
  give a subnormal, 0 or inf beyond; a price path never gets there).
- :func:`minus_two_log` ``-2 ln(m 2^-53)`` of an integer ``m`` in ``[1, 2^53]`` (the
  Box-Muller radius squared of a 53-bit uniform): ``m = 2^e x``, ``x`` in
  ``[sqrt(1/2), sqrt(2))`` from the bits, ``ln x = 2 atanh(s)``, ``s = (x - 1) / (x + 1)``,
  by its series to ``s^23``.
- :func:`cos_sin_two_pi` ``(cos 2 pi u, sin 2 pi u)`` of ``u`` in ``[0, 1)``: ``4 u = q + r``
  with ``q`` the nearest integer (exact), ``a = r pi / 2`` in ``[-pi/4, pi/4]`` by a
  two-part ``pi / 2``, Taylor polynomials of ``sin a`` to ``a^17`` and ``cos a`` to
  ``a^18``, then the quarter turn ``q`` by exact sign changes and swaps.
- :func:`sin_half_pi` ``sin(pi v / 2)`` of ``v`` in ``[0, 1]`` (the magnitude of the cosine
  of a uniform angle, for Student-t draws): ``a = v pi / 2`` by the same two-part ``pi / 2``
  and one Taylor polynomial of ``sin a`` to ``a^21``, no reduction.

Measured against the C library on a million arguments each (tests/test_fast_math.py):
within 2 units in the last place.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import numpy as np
from numba import types
from numba.cpython.unsafe.numbers import leading_zeros
from numba.extending import intrinsic

from stresstest.kernels.jit import inline_kernel

_LN2_HI = 6.93147180369123816490e-01  # ln 2 to 32 bits (fdlibm), so n * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10  # ln 2 - _LN2_HI
_INV_LN2 = 1.4426950408889634  # 1 / ln 2
_PIO2_HI = 1.57079632673412561417e00  # pi / 2 to 33 bits (fdlibm)
_PIO2_LO = 6.07710050650619224932e-11  # pi / 2 - _PIO2_HI
_SQRT2 = 1.4142135623730951
_EXPONENT_ONE = np.uint64(0x3FF0000000000000)  # the bits of 1.0
_MANTISSA = np.uint64((1 << 52) - 1)
_SHIFT52 = np.uint64(52)
_ELEVEN = np.uint64(11)


@intrinsic
def _bits_as_float(typingctx: object, bits: types.Type) -> tuple[Any, Any]:
    """The double whose IEEE-754 bits are ``bits`` (a ``uint64``): a reinterpretation."""
    signature = types.float64(types.uint64)

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return signature, codegen


# numba calls an intrinsic without its typing context: the signatures compiled code sees.
bits_as_float = cast("Callable[[np.uint64], float]", _bits_as_float)
_leading_zeros = cast("Callable[[np.uint64], np.uint64]", leading_zeros)


@inline_kernel
def exp_lanes(x: float) -> float:
    """``exp(x)`` of ``x`` clamped to ``[-708, 709]`` (dimensionless); see the module text."""
    x = min(max(x, -708.0), 709.0)
    n = float(np.floor(x * _INV_LN2 + 0.5))  # a double: n ln2_hi, n ln2_lo need no conversion
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = 1.0 / 6227020800.0  # 1/13!
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    return p * bits_as_float(np.uint64(np.int64(n) + 1023) << _SHIFT52)


@inline_kernel
def minus_two_log(m: np.uint64) -> float:
    """``-2 ln(m / 2^53)`` for an integer ``m`` in ``[1, 2^53]``; see the module text."""
    return -2.0 * log_53(m)


@inline_kernel
def log_53(m: np.uint64) -> float:
    """``ln(m / 2^53)`` for an integer ``m`` in ``[1, 2^53]``: :func:`minus_two_log` / -2, exactly.

    Multiplying by ``-2`` only shifts the exponent and flips the sign, so a caller that
    wants the logarithm itself (the Student-t's radius) takes this and skips the
    multiplications by ``-2`` and ``-1/2``.
    """
    zeros = _leading_zeros(m)
    exponent = np.int64(63) - np.int64(zeros)  # m = 2^exponent x, x in [1, 2)
    normal = m << (max(zeros, _ELEVEN) - _ELEVEN)  # leading bit at bit 52
    x = bits_as_float((normal & _MANTISSA) | _EXPONENT_ONE)
    above = x > _SQRT2
    x = x * 0.5 if above else x
    exponent = exponent + 1 if above else exponent
    f = x - 1.0
    s = f / (2.0 + f)
    z = s * s
    p = 1.0 / 23.0
    p = p * z + 1.0 / 21.0
    p = p * z + 1.0 / 19.0
    p = p * z + 1.0 / 17.0
    p = p * z + 1.0 / 15.0
    p = p * z + 1.0 / 13.0
    p = p * z + 1.0 / 11.0
    p = p * z + 1.0 / 9.0
    p = p * z + 1.0 / 7.0
    p = p * z + 1.0 / 5.0
    p = p * z + 1.0 / 3.0
    log_x = 2.0 * s + 2.0 * s * z * p
    k = float(exponent - 53)
    return (k * _LN2_HI + log_x) + k * _LN2_LO


@inline_kernel
def cos_sin_two_pi(u: float) -> tuple[float, float]:
    """``(cos 2 pi u, sin 2 pi u)`` for ``u`` in ``[0, 1)``; see the module text."""
    t = 4.0 * u
    q = math.floor(t + 0.5)
    r = t - q
    a = r * _PIO2_HI + r * _PIO2_LO
    z = a * a
    s = 1.0 / 355687428096000.0  # 1/17!
    s = s * z - 1.0 / 1307674368000.0
    s = s * z + 1.0 / 6227020800.0
    s = s * z - 1.0 / 39916800.0
    s = s * z + 1.0 / 362880.0
    s = s * z - 1.0 / 5040.0
    s = s * z + 1.0 / 120.0
    s = s * z - 1.0 / 6.0
    sin_a = a + a * z * s
    c = 1.0 / 6402373705728000.0  # 1/18!
    c = c * z - 1.0 / 20922789888000.0
    c = c * z + 1.0 / 87178291200.0
    c = c * z - 1.0 / 479001600.0
    c = c * z + 1.0 / 3628800.0
    c = c * z - 1.0 / 40320.0
    c = c * z + 1.0 / 720.0
    c = c * z - 1.0 / 24.0
    c = c * z + 0.5
    cos_a = 1.0 - z * c
    quarter = np.int64(q)  # 0..4; 4 is a whole turn
    odd = (quarter & 1) == 1
    cos_part = sin_a if odd else cos_a
    sin_part = cos_a if odd else sin_a
    cos_sign = 1.0 - 2.0 * float(((quarter + 1) >> 1) & 1)  # - for quarters 1, 2
    sin_sign = 1.0 - 2.0 * float((quarter >> 1) & 1)  # - for quarters 2, 3
    return cos_sign * cos_part, sin_sign * sin_part


@inline_kernel
def sin_half_pi(v: float) -> float:
    """``sin(pi v / 2)`` for ``v`` in ``[0, 1]``; see the module text."""
    a = v * _PIO2_HI + v * _PIO2_LO
    z = a * a
    s = 1.0 / 51090942171709440000.0  # 1/21!
    s = s * z - 1.0 / 121645100408832000.0
    s = s * z + 1.0 / 355687428096000.0
    s = s * z - 1.0 / 1307674368000.0
    s = s * z + 1.0 / 6227020800.0
    s = s * z - 1.0 / 39916800.0
    s = s * z + 1.0 / 362880.0
    s = s * z - 1.0 / 5040.0
    s = s * z + 1.0 / 120.0
    s = s * z - 1.0 / 6.0
    return a + a * z * s
