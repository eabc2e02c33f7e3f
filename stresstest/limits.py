"""The magnitudes the engine computes exactly in float64, and the checks that hold inputs to them.

Prices, quantities and money amounts outside these ranges would overflow or
underflow inside a run (a price of 1e308 times a quantity is ``inf``; a price
of 1e-300 squared is 0) and turn results into ``inf``, ``0`` or ``NaN``. Every
scenario key and data column of these kinds is checked against them at the
boundary and refused with an :class:`~stresstest.errors.InputError` naming the
key or row. docs/robustness.md states them.

The bounds leave at least 1e20 of head room on every product and sum the engine
forms for books of up to 1e9 positions and paths of up to 1e6 steps.
"""

from __future__ import annotations

import math
from pathlib import Path

from stresstest.errors import InputError

#: Smallest positive price, quote units per base unit.
PRICE_MIN = 1e-12
#: Largest price, quote units per base unit.
PRICE_MAX = 1e12
#: Smallest non-zero quantity, base units.
QUANTITY_MIN = 1e-12
#: Largest quantity of one position, base units.
QUANTITY_MAX = 1e15
#: Largest money amount (collateral, insurance fund, notional, depth), quote units.
AMOUNT_MAX = 1e18
#: Smallest non-zero money amount, quote units (smaller is taken for a unit mistake).
AMOUNT_MIN = 1e-12
#: Seeds are unsigned 64-bit integers (the Philox key).
SEED_MAX = 2**64 - 1


def check_range(
    value: float,
    low: float,
    high: float,
    *,
    what: str,
    zero_ok: bool = False,
    file: str | Path | None = None,
    key: str | None = None,
    row: int | None = None,
) -> None:
    """Refuse ``value`` unless it is finite and in ``[low, high]`` (or exactly 0 with ``zero_ok``).

    Parameters
    ----------
    value
        The number to check.
    low, high
        The closed range of valid magnitudes, in the unit ``what`` names.
    what
        What the number is, with its unit ("price, quote units"), for the message.
    zero_ok
        Accept an exact zero as well.
    file, key, row
        Where the number came from, for the message.
    """
    if zero_ok and value == 0:
        return
    if not math.isfinite(value) or not low <= value <= high:
        zero = "0 or " if zero_ok else ""
        raise InputError(
            f"{what} out of the range the engine computes exactly",
            file=file,
            key=key,
            row=row,
            value=value,
            expected=f"{zero}a finite number from {low:g} to {high:g}",
        )
