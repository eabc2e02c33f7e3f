"""Read a user's CSV or Parquet table with polars and check its columns.

Every data file is read whole, once (:func:`read_input_bytes`): the bytes are
parsed from memory and their SHA-256 is remembered, so the hash a run records
(:func:`stresstest.scenario.provenance.sha256_of`) is the hash of the bytes the
run used, and a file that is a directory, a symbolic link loop, unreadable or
gone is refused naming it, never a traceback.

Column rules (docs/robustness.md):

- a numeric column must hold numbers: a Boolean, date or other non-numeric
  column is refused naming the file, the column and the type found; a text
  column (CSV cells such as ``abc``) is refused at the first cell that is not a
  number;
- an integer column (path ids, steps, account ids) takes integer types, and a
  float column only when every value is a whole number of magnitude at most
  2**53 (``2.0`` is path 2; ``2.5`` is refused at its row: it is never
  truncated);
- magnitudes are held to :mod:`stresstest.limits` by :func:`check_column_range`.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stresstest.errors import InputError
from stresstest.limits import check_range

if TYPE_CHECKING:
    import polars as pl

# polars is imported in the functions that parse tables: loading a scenario imports this
# module for its file digests, and most scenarios read no table (docs/performance.md).

ROW_INDEX = "__row__"
#: Largest magnitude of a whole number a float64 holds exactly (2**53).
FLOAT_INTEGER_MAX = 2**53
#: Signature of a file's state: device, inode, size in bytes, modification time in ns.
Signature = tuple[int, int, int, int]

#: SHA-256 of what was read or hashed, by real path, with the file's signature then.
_DIGESTS: dict[str, tuple[Signature, str]] = {}


def file_signature(status: os.stat_result) -> Signature:
    """Device, inode, size (bytes) and modification time (ns) of a file's ``stat``."""
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def _key(path: Path) -> str:
    return os.path.realpath(path)  # never raises on a symbolic link loop, unlike Path.resolve


def remember_digest(path: Path, signature: Signature, digest: str) -> None:
    """Remember that ``path``, in the state ``signature``, has SHA-256 ``digest`` (hex)."""
    _DIGESTS[_key(path)] = (signature, digest)


def remembered_digest(path: Path, signature: Signature) -> str | None:
    """The SHA-256 (hex) remembered for ``path`` if the file is still in state ``signature``."""
    entry = _DIGESTS.get(_key(path))
    if entry is None or entry[0] != signature:
        return None
    return entry[1]


def unreadable(path: Path, error: OSError, *, key: str | None = None) -> InputError:
    """The :class:`InputError` for a data file the system would not read (``error``)."""
    reason = error.strerror or type(error).__name__
    problem = "file not found" if isinstance(error, FileNotFoundError) else "cannot read the file"
    return InputError(
        f"{problem} ({reason})",
        file=path,
        key=key,
        expected="an existing, readable regular file that stays in place until the run ends",
    )


def read_input_bytes(path: Path, *, key: str | None = None) -> bytes:
    """All bytes of a data file, read once, their SHA-256 remembered (:func:`read_input`)."""
    return read_input(path, key=key)[0]


def read_input(path: Path, *, key: str | None = None) -> tuple[bytes, str]:
    """All bytes of a data file, read once, and their SHA-256 (hex), which is remembered.

    :func:`stresstest.scenario.provenance.sha256_of` then gives this digest for
    as long as the file keeps its signature (device, inode, size, mtime).

    Raises
    ------
    InputError
        If the file is missing, a directory or other non-regular file, a
        symbolic link loop, unreadable, or changed while it was read; the
        message names the file.
    """
    try:
        with Path(path).open("rb") as handle:
            before = os.fstat(handle.fileno())
            if not stat.S_ISREG(before.st_mode):
                raise InputError(
                    "not a regular file", file=path, key=key, expected="a CSV or Parquet file"
                )
            data = handle.read()
            after = os.fstat(handle.fileno())
    except OSError as error:
        raise unreadable(path, error, key=key) from None
    if file_signature(before) != file_signature(after) or len(data) != after.st_size:
        raise InputError(
            "the file changed while it was read",
            file=path,
            key=key,
            expected="a file nothing writes to during the run",
        )
    digest = hashlib.sha256(data).hexdigest()
    remember_digest(path, file_signature(after), digest)
    return data, digest


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def read_table(path: Path, required: Iterable[str]) -> pl.DataFrame:
    """Read ``path`` (``.csv`` or ``.parquet``) with a 0-based data-row index column.

    Raises
    ------
    InputError
        If the file is missing, not a readable regular file, of an unknown
        format, unparsable, or lacks a required column.
    """
    import polars as pl

    required = tuple(required)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise InputError(
            "unknown file format", file=path, value=suffix, expected="'.csv' or '.parquet'"
        )
    data = read_input_bytes(path)
    try:
        if suffix == ".csv":
            frame = pl.read_csv(io.BytesIO(data), infer_schema_length=10_000)
        else:
            frame = pl.read_parquet(io.BytesIO(data))
    except Exception as error:  # polars raises several exception types for unreadable files
        raise InputError(f"cannot read table: {_first_line(error)}", file=path) from None
    check_columns(frame, required, path)
    return frame.with_row_index(ROW_INDEX)


def check_columns(frame: pl.DataFrame, required: Iterable[str], path: Path) -> None:
    """Refuse a table that lacks a column of ``required``, naming the columns found."""
    required = tuple(required)
    for column in required:
        if column not in frame.columns:
            raise InputError(
                "missing column",
                file=path,
                key=column,
                expected=f"columns {list(required)} "
                f"(found {[name for name in frame.columns if name != ROW_INDEX]})",
            )


def _row(frame: pl.DataFrame, mask: np.ndarray | pl.Series) -> int:
    """The file row (0-based, after the header) of the first True in ``mask``."""
    import polars as pl

    flags = mask.to_numpy() if isinstance(mask, pl.Series) else mask
    return int(frame[ROW_INDEX][int(np.flatnonzero(flags)[0])])


def _wrong_type(path: Path, column: str, dtype: pl.DataType, *, integer: bool) -> InputError:
    return InputError(
        "wrong column type",
        file=path,
        key=column,
        value=str(dtype),
        expected="a column of whole numbers" if integer else "a column of numbers",
    )


def _whole_numbers(frame: pl.DataFrame, series: pl.Series, column: str, path: Path) -> pl.Series:
    """A float column as Int64 if every value is a whole number within +-2**53, else refuse."""
    import polars as pl

    values = series.to_numpy().astype(np.float64)
    bad = ~np.isfinite(values) | (np.floor(values) != values) | (np.abs(values) > FLOAT_INTEGER_MAX)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        value = float(values[first])
        whole = math.isfinite(value) and value == math.floor(value)
        raise InputError(
            "whole number too large for a float column" if whole else "not a whole number",
            file=path,
            key=column,
            row=int(frame[ROW_INDEX][first]),
            value=value,
            expected=f"an integer literal, or at most 2**53 = {FLOAT_INTEGER_MAX} in magnitude"
            if whole
            else "a whole number (ids and steps are never rounded)",
        )
    return pl.Series(column, values.astype(np.int64))


def numeric_column(frame: pl.DataFrame, column: str, path: Path, *, integer: bool) -> np.ndarray:
    """A column as float64 or (``integer``) int64, refusing what is not exactly that.

    Refuses, naming the file, the column and the first bad row: a non-numeric
    column type (Boolean, date, ...; the type found is named), a cell that is not
    a number, a missing value, NaN or an infinity, and for ``integer`` a value
    that is not a whole number or does not fit int64.
    """
    import polars as pl

    series = frame[column]
    dtype = series.dtype
    if dtype == pl.String:
        # CSV cells such as "nan" or "abc" make polars read the column as text:
        # convert what converts, and name the first cell that does not.
        series_text = series
        as_float = series.cast(pl.Float64, strict=False)
        not_numbers = as_float.is_null() & series.is_not_null()
        if not_numbers.any():
            first = int(np.flatnonzero(not_numbers.to_numpy())[0])
            raise InputError(
                "not a number",
                file=path,
                key=column,
                row=int(frame[ROW_INDEX][first]),
                value=series[first],
                expected="a whole number" if integer else "a number",
            )
        series = as_float
        if integer:  # exact beyond 2**53 when every cell is an int64 literal
            as_int = series_text.cast(pl.Int64, strict=False)
            if not (as_int.is_null() != series_text.is_null()).any():
                series = as_int
        dtype = series.dtype
    elif dtype != pl.Null and not dtype.is_numeric():
        raise _wrong_type(path, column, dtype, integer=integer)
    nulls = series.is_null()
    if nulls.any():
        raise InputError(
            "missing value",
            file=path,
            key=column,
            row=_row(frame, nulls),
            expected="a whole number" if integer else "a number",
        )
    if integer:
        if dtype.is_float() or dtype == pl.Decimal:
            series = _whole_numbers(frame, series.cast(pl.Float64), column, path)
        elif dtype != pl.Int64:
            wide = series.cast(pl.Int64, strict=False)  # UInt64 / Int128 beyond int64 -> null
            if wide.is_null().any():
                first = int(np.flatnonzero(wide.is_null().to_numpy())[0])
                raise InputError(
                    "integer out of range",
                    file=path,
                    key=column,
                    row=int(frame[ROW_INDEX][first]),
                    value=str(series[first]),
                    expected=f"a whole number from {-(2**63)} to {2**63 - 1}",
                )
            series = wide
        return series.to_numpy().astype(np.int64)
    values = series.cast(pl.Float64).to_numpy().astype(np.float64)
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
            value=values[first].item(),
            expected="a number >= 0" if allow_zero else "a number > 0",
        )


def check_column_range(
    values: np.ndarray,
    frame: pl.DataFrame,
    column: str,
    path: Path,
    *,
    low: float,
    high: float,
    what: str,
    zero_ok: bool = False,
) -> None:
    """Refuse the first value outside ``[low, high]`` (bounds from :mod:`stresstest.limits`).

    Vectorised: one pass over the column; the message (from
    :func:`stresstest.limits.check_range`) names the file, the column, the row and
    the value. ``zero_ok`` also accepts an exact 0.
    """
    inside = (values >= low) & (values <= high)
    if zero_ok:
        inside |= values == 0
    if not inside.all():
        first = int(np.flatnonzero(~inside)[0])
        check_range(
            float(values[first]),
            low,
            high,
            what=what,
            zero_ok=zero_ok,
            file=path,
            key=column,
            row=int(frame[ROW_INDEX][first]),
        )
