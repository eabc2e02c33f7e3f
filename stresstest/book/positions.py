"""A book of isolated positions as arrays, and reading one from a file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stresstest.errors import InputError
from stresstest.io.tables import (
    ROW_INDEX,
    check_column_range,
    check_positive,
    numeric_column,
    read_table,
)
from stresstest.limits import (
    AMOUNT_MAX,
    AMOUNT_MIN,
    PRICE_MAX,
    PRICE_MIN,
    QUANTITY_MAX,
    QUANTITY_MIN,
)

if TYPE_CHECKING:
    import polars as pl

# polars is imported where a book file is read: a synthetic book is built without it.

BOOK_COLUMNS = ("side", "qty", "entry_price", "collateral")


@dataclass(frozen=True)
class Book:
    """Positions as parallel arrays.

    Attributes
    ----------
    side
        +1 long, -1 short (int8).
    qty
        Quantity, base units (> 0).
    entry_price
        Entry price, quote per base (> 0).
    collateral
        Collateral posted, quote units (>= 0).
    """

    side: np.ndarray
    qty: np.ndarray
    entry_price: np.ndarray
    collateral: np.ndarray

    def __len__(self) -> int:
        return int(self.side.shape[0])

    @property
    def n_long(self) -> int:
        """Number of long positions."""
        return int(np.count_nonzero(self.side == 1))

    @property
    def entry_notional(self) -> float:
        """Sum of ``q_i e_i``, quote units."""
        return float(np.sum(self.qty * self.entry_price))


def check_position_ranges(
    qty: np.ndarray,
    entry_price: np.ndarray,
    collateral: np.ndarray,
    frame: pl.DataFrame,
    path: Path,
) -> None:
    """Hold a book file's quantities, entry prices and collateral to :mod:`stresstest.limits`.

    ``qty`` (base units) must lie in ``[QUANTITY_MIN, QUANTITY_MAX]``,
    ``entry_price`` (quote per base) in ``[PRICE_MIN, PRICE_MAX]`` and
    ``collateral`` (quote units) be 0 or in ``[AMOUNT_MIN, AMOUNT_MAX]``;
    the first value outside is refused naming the file, column and row.
    """
    check_column_range(
        qty, frame, "qty", path, low=QUANTITY_MIN, high=QUANTITY_MAX, what="quantity (base units)"
    )
    check_column_range(
        entry_price,
        frame,
        "entry_price",
        path,
        low=PRICE_MIN,
        high=PRICE_MAX,
        what="entry price (quote per base)",
    )
    check_column_range(
        collateral,
        frame,
        "collateral",
        path,
        low=AMOUNT_MIN,
        high=AMOUNT_MAX,
        what="collateral (quote units)",
        zero_ok=True,
    )


def read_book(path: Path) -> Book:
    """Read a book file (columns side, qty, entry_price, collateral) and validate every row.

    Numeric columns must be numbers (not Boolean or text) and within the ranges
    of :func:`check_position_ranges`; every refusal names the file, column and row.
    """
    import polars as pl

    frame = read_table(path, BOOK_COLUMNS)
    if frame.height == 0:
        raise InputError("book has no positions", file=path, expected="at least one row")
    side_column = frame["side"]
    if side_column.dtype != pl.String:
        raise InputError(
            "wrong column type",
            file=path,
            key="side",
            value=str(side_column.dtype),
            expected="'long' or 'short'",
        )
    is_long = side_column == "long"
    is_short = side_column == "short"
    unknown = ~(is_long | is_short).fill_null(value=False)
    if unknown.any():
        bad = frame.filter(unknown).row(0, named=True)
        raise InputError(
            "unknown side",
            file=path,
            key="side",
            row=int(bad[ROW_INDEX]),
            value=bad["side"],
            expected="'long' or 'short'",
        )
    qty = numeric_column(frame, "qty", path, integer=False)
    entry = numeric_column(frame, "entry_price", path, integer=False)
    collateral = numeric_column(frame, "collateral", path, integer=False)
    check_positive(qty, frame, "qty", path, allow_zero=False)
    check_positive(entry, frame, "entry_price", path, allow_zero=False)
    check_positive(collateral, frame, "collateral", path, allow_zero=True)
    check_position_ranges(qty, entry, collateral, frame, path)
    side = np.where(is_long.to_numpy(), 1, -1).astype(np.int8)
    return Book(side=side, qty=qty, entry_price=entry, collateral=collateral)
