"""A book of isolated positions as arrays, and reading one from a file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from stresstest.errors import InputError
from stresstest.io.tables import ROW_INDEX, check_positive, numeric_column, read_table

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


def read_book(path: Path) -> Book:
    """Read a book file (columns side, qty, entry_price, collateral) and validate every row."""
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
    side = np.where(is_long.to_numpy(), 1, -1).astype(np.int8)
    return Book(side=side, qty=qty, entry_price=entry, collateral=collateral)
