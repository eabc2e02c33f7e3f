"""Read a user's CSV or Parquet table with polars and check its columns."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import polars as pl

from stresstest.errors import InputError

ROW_INDEX = "__row__"


def read_table(path: Path, required: Iterable[str]) -> pl.DataFrame:
    """Read ``path`` (``.csv`` or ``.parquet``) with a 0-based data-row index column.

    Raises
    ------
    InputError
        If the file is missing, of an unknown format, unreadable, or lacks a
        required column.
    """
    if not path.is_file():
        raise InputError("file not found", file=path, expected="an existing file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pl.read_csv(path, infer_schema_length=10_000)
        elif suffix in (".parquet", ".pq"):
            frame = pl.read_parquet(path)
        else:
            raise InputError(
                "unknown file format", file=path, value=suffix, expected="'.csv' or '.parquet'"
            )
    except InputError:
        raise
    except Exception as error:  # polars raises several exception types for unreadable files
        raise InputError(f"cannot read table: {error}", file=path) from None
    for column in required:
        if column not in frame.columns:
            raise InputError(
                "missing column",
                file=path,
                key=column,
                expected=f"columns {list(required)} (found {frame.columns})",
            )
    return frame.with_row_index(ROW_INDEX)


def numeric_column(frame: pl.DataFrame, column: str, path: Path, *, integer: bool) -> np.ndarray:
    """A column as float64 or int64, rejecting nulls, NaN and wrong types with the row."""
    series = frame[column]
    dtype = series.dtype
    if dtype == pl.String:
        # CSV cells such as "nan" or "abc" make polars read the column as text:
        # convert what converts, and name the first cell that does not.
        converted = series.cast(pl.Int64 if integer else pl.Float64, strict=False)
        not_numbers = converted.is_null() & series.is_not_null()
        if not_numbers.any():
            first = int(np.flatnonzero(not_numbers.to_numpy())[0])
            raise InputError(
                "not a number",
                file=path,
                key=column,
                row=int(frame[ROW_INDEX][first]),
                value=series[first],
                expected="an integer" if integer else "a number",
            )
        series = converted
        dtype = series.dtype
    nulls = series.is_null()
    if nulls.any():
        row = int(frame[ROW_INDEX].filter(nulls)[0])
        raise InputError("missing value", file=path, key=column, row=row, expected="a number")
    values = series.to_numpy().astype(np.int64 if integer else np.float64)
    if not integer:
        bad = ~np.isfinite(values)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise InputError(
                "not a finite number",
                file=path,
                key=column,
                row=int(frame[ROW_INDEX][first]),
                value=float(values[first]),
                expected="a finite number",
            )
    return values


def check_positive(
    values: np.ndarray, frame: pl.DataFrame, column: str, path: Path, *, allow_zero: bool
) -> None:
    """Reject the first value that is not > 0 (or >= 0), naming its row."""
    bad = values < 0 if allow_zero else values <= 0
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InputError(
            "out of range",
            file=path,
            key=column,
            row=int(frame[ROW_INDEX][first]),
            value=float(values[first]),
            expected="a number >= 0" if allow_zero else "a number > 0",
        )
