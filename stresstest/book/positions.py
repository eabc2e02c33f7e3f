"""A book of isolated positions as arrays, and reading one from a file."""

from __future__ import annotations

from collections.abc import Mapping
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
from stresstest.scenario.schema import FILE_BOOK_COLUMNS as BOOK_COLUMNS

if TYPE_CHECKING:
    import polars as pl

# polars is imported where a book file is read: a synthetic book is built without it.


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
    labels: Mapping[str, str] | None = None,
) -> None:
    """Hold a book file's quantities, entry prices and collateral to :mod:`stresstest.limits`.

    ``qty`` (base units) must lie in ``[QUANTITY_MIN, QUANTITY_MAX]``,
    ``entry_price`` (quote per base) in ``[PRICE_MIN, PRICE_MAX]`` and
    ``collateral`` (quote units) be 0 or in ``[AMOUNT_MIN, AMOUNT_MAX]``;
    the first value outside is refused naming the file, column and row.
    ``labels`` maps the canonical column names to the file's (:func:`column_labels`).
    """
    name = dict(labels or {name: name for name in BOOK_COLUMNS})
    check_column_range(
        qty,
        frame,
        name["qty"],
        path,
        low=QUANTITY_MIN,
        high=QUANTITY_MAX,
        what="quantity (base units)",
    )
    check_column_range(
        entry_price,
        frame,
        name["entry_price"],
        path,
        low=PRICE_MIN,
        high=PRICE_MAX,
        what="entry price (quote per base)",
    )
    check_column_range(
        collateral,
        frame,
        name["collateral"],
        path,
        low=AMOUNT_MIN,
        high=AMOUNT_MAX,
        what="collateral (quote units)",
        zero_ok=True,
    )


#: Side cells read as long and as short, compared case-insensitively after trimming spaces
#: (``"LONG"``, ``" Buy "``): exchange exports write ``Buy``/``Sell`` for a position's side.
LONG_SIDES = ("long", "buy")
SHORT_SIDES = ("short", "sell")
_SIDES_EXPECTED = "'long' or 'short' (any case; 'buy' and 'sell' also)"


def column_labels(path: Path, columns: Mapping[str, str] | None) -> dict[str, str]:
    """The file column that holds each canonical book column, and how messages name it.

    ``columns`` (``[book.columns]``) maps canonical names (:data:`BOOK_COLUMNS`) to
    the file's own (``qty = "Size"``); the scenario loader checked its keys.
    Returns canonical name -> file column name.
    """
    return {name: (columns or {}).get(name, name) for name in BOOK_COLUMNS}


def _parse_sides(frame: pl.DataFrame, column: str, path: Path) -> np.ndarray:
    """+1 / -1 (int8) from a text side column, case-insensitive (:data:`LONG_SIDES`)."""
    import polars as pl

    series = frame[column]
    if series.dtype != pl.String:
        raise InputError(
            "wrong column type",
            file=path,
            key=column,
            value=str(series.dtype),
            expected=_SIDES_EXPECTED,
        )
    words = series.str.strip_chars().str.to_lowercase()
    is_long = words.is_in(LONG_SIDES).fill_null(value=False)
    is_short = words.is_in(SHORT_SIDES).fill_null(value=False)
    unknown = ~(is_long | is_short)
    if unknown.any():
        bad = frame.filter(unknown).row(0, named=True)
        raise InputError(
            "unknown side",
            file=path,
            key=column,
            row=int(bad[ROW_INDEX]),
            value=bad[column],
            expected=_SIDES_EXPECTED,
        )
    return np.where(is_long.to_numpy(), 1, -1).astype(np.int8)


def _signed_sides(
    signed_qty: np.ndarray,
    side: np.ndarray | None,
    frame: pl.DataFrame,
    labels: dict[str, str],
    path: Path,
) -> np.ndarray:
    """Sides from signed quantities, or checked against a side column.

    Without a side column a negative quantity is short and a positive one long.
    With one, a negative quantity must be on a short row (an export that signs
    its shorts and also names the side); a negative long is refused at its row.
    """
    if side is None:
        return np.where(signed_qty < 0, -1, 1).astype(np.int8)
    disagree = (signed_qty < 0) & (side == 1)
    if disagree.any():
        first = int(np.flatnonzero(disagree)[0])
        raise InputError(
            f"negative quantity on a long row (column '{labels['side']}' says long)",
            file=path,
            key=labels["qty"],
            row=int(frame[ROW_INDEX][first]),
            value=signed_qty[first].item(),
            expected="a quantity > 0 for a long, or a side column that says short",
        )
    return side


def _check_book_columns(
    frame: pl.DataFrame, labels: dict[str, str], mapped: Mapping[str, str], path: Path
) -> None:
    """Refuse a book file without a column it needs, naming the mapping that asked for it."""
    needed = [labels[name] for name in BOOK_COLUMNS if name != "side"]
    found = [name for name in frame.columns if name != ROW_INDEX]
    for name in BOOK_COLUMNS:
        if name != "side" and labels[name] not in frame.columns:
            raise InputError(
                "missing column" + (f" (book.columns.{name})" if name in mapped else ""),
                file=path,
                key=labels[name],
                expected=f"columns {needed}, and '{labels['side']}' unless quantities are "
                f"signed (found {found})",
            )


def read_book(path: Path, columns: Mapping[str, str] | None = None) -> Book:
    """Read a book file and validate every row (docs/model.md 2.1).

    Parameters
    ----------
    path
        CSV or Parquet with one row per position.
    columns
        ``[book.columns]``: canonical column (``side``, ``qty``, ``entry_price``,
        ``collateral``) -> the file's name for it, for an exchange's export
        (``qty = "Size"``); unmapped columns keep their canonical names and
        other columns of the file are ignored.

    The side column is optional: without one, the sign of the quantity gives the
    side (negative: short). Sides are read case-insensitively, ``buy`` and
    ``sell`` too (:data:`LONG_SIDES`, :data:`SHORT_SIDES`). A quantity may be
    negative on a short row; on a long row it is refused. Numeric columns must be
    numbers (not Boolean or text) and within the ranges of
    :func:`check_position_ranges`; every refusal names the file, the file's
    column, the row and the value.
    """
    labels = column_labels(path, columns)
    frame = read_table(path, ())
    has_side = labels["side"] in frame.columns
    _check_book_columns(frame, labels, columns or {}, path)
    if frame.height == 0:
        raise InputError("book has no positions", file=path, expected="at least one row")
    side = _parse_sides(frame, labels["side"], path) if has_side else None
    signed_qty = numeric_column(frame, labels["qty"], path, integer=False)
    entry = numeric_column(frame, labels["entry_price"], path, integer=False)
    collateral = numeric_column(frame, labels["collateral"], path, integer=False)
    check_positive(np.abs(signed_qty), frame, labels["qty"], path, allow_zero=False)
    side = _signed_sides(signed_qty, side, frame, labels, path)
    qty = np.abs(signed_qty)
    check_positive(entry, frame, labels["entry_price"], path, allow_zero=False)
    check_positive(collateral, frame, labels["collateral"], path, allow_zero=True)
    check_position_ranges(qty, entry, collateral, frame, path, labels)
    return Book(side=side, qty=qty, entry_price=entry, collateral=collateral)
