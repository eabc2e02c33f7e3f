"""Read and validate OHLCV candle files; report gaps; cut returns and windows.

A candle file is CSV or Parquet (chosen by the file suffix, ``.csv`` or
``.parquet``) with the columns ``timestamp, open, high, low, close, volume``;
only ``timestamp`` and ``close`` are always required. ``timestamp`` is the bar
OPEN time in UTC: an ISO 8601 string with ``Z`` or a ``+hh:mm`` offset
(``2020-03-12T10:00:00Z``), or, in Parquet, a datetime column (a naive one is
taken as UTC). Prices are in the quote currency (USDT for the shipped data),
volume in the base asset.

Gaps (spacings larger than the modal bar spacing) are reported and never
bridged: no bar is invented and no return is computed across a hole.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from stresstest.errors import InputError
from stresstest.io.tables import read_input
from stresstest.limits import PRICE_MAX, PRICE_MIN

__all__ = [
    "COLUMNS",
    "Candles",
    "Gap",
    "contiguous_segments",
    "load_candles",
    "log_returns_segments",
    "select_window",
]

#: The columns a candle file may hold; others are ignored.
COLUMNS: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume")
_PRICES: tuple[str, ...] = ("open", "high", "low", "close")
_TS_EXPECTED = "an ISO 8601 UTC time such as 2020-03-12T10:00:00Z"


@dataclass(frozen=True)
class Gap:
    """A hole in a candle series: a spacing larger than the series' step.

    Attributes
    ----------
    after_row
        0-based row of the last bar before the hole.
    start
        Open time (UTC, ``datetime64[ms]``) of the last bar before the hole.
    end
        Open time (UTC, ``datetime64[ms]``) of the first bar after the hole.
    missing_bars
        Number of step-spaced bars that would fit strictly between ``start``
        and ``end`` (``ceil((end - start) / step) - 1``, at least 1).
    """

    after_row: int
    start: np.datetime64
    end: np.datetime64
    missing_bars: int


@dataclass(frozen=True, eq=False)
class Candles:
    """A validated candle series, sorted by time, with its gaps reported.

    Attributes
    ----------
    path
        The file it was read from.
    timestamp
        Bar open times, UTC, naive ``datetime64[ms]``, strictly increasing.
    close
        Close prices (quote currency, e.g. USDT), ``float64``, all finite and > 0.
    open, high, low
        Open, high and low prices (quote currency), or ``None`` if absent.
    volume
        Volume in the base asset (e.g. BTC), ``>= 0``, or ``None`` if absent.
    step_ms
        Modal spacing of consecutive timestamps, in milliseconds.
    gaps
        Every spacing larger than ``step_ms``, in time order. Not bridged.
    sha256
        Hex SHA-256 of the file's bytes.

    Notes
    -----
    The arrays are read-only.
    """

    path: Path
    timestamp: np.ndarray
    close: np.ndarray
    open: np.ndarray | None
    high: np.ndarray | None
    low: np.ndarray | None
    volume: np.ndarray | None
    step_ms: int
    gaps: list[Gap]
    sha256: str

    def __len__(self) -> int:
        return int(self.timestamp.shape[0])


def _fail(problem: str, path: Path, **kw: Any) -> InputError:
    return InputError(problem, file=path, **kw)


def _read_frame(path: Path, data: bytes) -> pl.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pl.read_csv(io.BytesIO(data), infer_schema=False)
        if suffix == ".parquet":
            return pl.read_parquet(io.BytesIO(data))
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _fail(f"unreadable {suffix[1:].upper()} file: {first}", path) from None
    raise _fail("unknown file format", path, value=path.suffix, expected="a .csv or .parquet file")


def _first_row(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


def _parse_timestamps(path: Path, col: pl.Series) -> np.ndarray:
    dtype = col.dtype
    if dtype == pl.String:
        parsed = col.str.replace(r"Z$", "+00:00").str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.f%:z", time_unit="ms", time_zone="UTC", strict=False
        )
    elif isinstance(dtype, pl.Datetime):
        parsed = col if dtype.time_zone is None else col.dt.convert_time_zone("UTC")
    elif dtype == pl.Date:
        parsed = col.cast(pl.Datetime("ms"))
    else:
        msg = f"timestamp column has type {dtype}"
        raise _fail(msg, path, key="timestamp", expected="datetime or " + _TS_EXPECTED)
    if isinstance(parsed.dtype, pl.Datetime) and parsed.dtype.time_zone is not None:
        parsed = parsed.dt.replace_time_zone(None)
    parsed = parsed.dt.cast_time_unit("ms")
    row = _first_row(parsed.is_null().to_numpy())
    if row is not None:
        msg = "unparsable timestamp"
        raise _fail(msg, path, key="timestamp", row=row, value=col[row], expected=_TS_EXPECTED)
    return parsed.to_numpy().astype("datetime64[ms]")


def _parse_number(path: Path, name: str, col: pl.Series) -> np.ndarray:
    if col.dtype == pl.String:
        values = col.cast(pl.Float64, strict=False)
        row = _first_row((values.is_null() & col.is_not_null()).to_numpy())
        if row is not None:
            raise _fail("not a number", path, key=name, row=row, value=col[row])
    elif col.dtype.is_numeric():
        values = col.cast(pl.Float64)  # Int128 / UInt64 too: no NumPy conversion of wide ints
    else:  # Boolean, dates, lists: never read as 0/1 or as a number of days
        raise _fail(
            f"column has type {col.dtype}", path, key=name, value=str(col.dtype), expected="numbers"
        )
    null_row = _first_row(values.is_null().to_numpy())
    if null_row is not None:
        kind = "volume" if name == "volume" else "price"
        raise _fail(f"null {kind}", path, key=name, row=null_row)
    arr = values.to_numpy().astype(np.float64)
    if name == "volume":
        bad = _first_row(~np.isfinite(arr) | (arr < 0.0))
        if bad is not None:
            problem = "negative volume" if arr[bad] < 0.0 else "non-finite volume"
            raise _fail(problem, path, key=name, row=bad, value=float(arr[bad]), expected=">= 0")
    else:
        bad = _first_row(~np.isfinite(arr) | (arr <= 0.0))
        if bad is not None:
            problem = "NaN price" if np.isnan(arr[bad]) else "non-positive or infinite price"
            raise _fail(
                problem, path, key=name, row=bad, value=float(arr[bad]), expected="a price > 0"
            )
        bad = _first_row((arr < PRICE_MIN) | (arr > PRICE_MAX))
        if bad is not None:
            raise _fail(
                "price (quote per base) out of the range the engine computes exactly",
                path,
                key=name,
                row=bad,
                value=float(arr[bad]),
                expected=f"a finite number from {PRICE_MIN:g} to {PRICE_MAX:g}",
            )
    return arr


def _check_order(path: Path, ts: np.ndarray) -> None:
    steps = np.diff(ts.astype(np.int64))
    row = _first_row(steps <= 0)
    if row is None:
        return
    before, after = ts[row], ts[row + 1]
    problem = "duplicate timestamp" if steps[row] == 0 else "timestamps not sorted ascending"
    value = f"{after}Z after {before}Z (row {row})"
    expected = "strictly increasing bar open times"
    raise _fail(problem, path, key="timestamp", row=row + 1, value=value, expected=expected)


def _check_ohlc(path: Path, cols: dict[str, np.ndarray]) -> None:
    """High must be the bar's maximum and low its minimum, where present."""
    high, low = cols.get("high"), cols.get("low")
    others = [cols[c] for c in ("open", "close", "low") if c in cols]
    if high is not None:
        row = _first_row(high < np.max(np.vstack(others), axis=0))
        if row is not None:
            raise _fail(
                "high below open, close or low", path, key="high", row=row, value=float(high[row])
            )
    if low is not None:
        others = [cols[c] for c in ("open", "close") if c in cols]
        row = _first_row(low > np.min(np.vstack(others), axis=0))
        if row is not None:
            raise _fail("low above open or close", path, key="low", row=row, value=float(low[row]))


def _find_gaps(ts: np.ndarray, step_ms: int) -> list[Gap]:
    steps = np.diff(ts.astype(np.int64))
    return [
        Gap(
            after_row=int(i),
            start=ts[i],
            end=ts[i + 1],
            missing_bars=int(-(-steps[i] // step_ms)) - 1,
        )
        for i in np.flatnonzero(steps > step_ms)
    ]


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr)
    arr.flags.writeable = False
    return arr


def load_candles(
    path: str | Path, *, columns_required: Sequence[str] = ("timestamp", "close")
) -> Candles:
    """Read, validate and describe one candle file.

    Parameters
    ----------
    path
        A ``.csv`` or ``.parquet`` file (see the module docstring for columns).
    columns_required
        Columns that must be present; ``timestamp`` and ``close`` always are.
        Each must be one of :data:`COLUMNS`.

    Returns
    -------
    Candles
        Timestamps in UTC ``datetime64[ms]``, prices in the quote currency,
        volume in the base asset, ``step_ms`` in milliseconds, gaps reported.

    Raises
    ------
    InputError
        Missing file (or a directory, symbolic link loop or unreadable file),
        unknown or unreadable format, missing column, a non-numeric price or
        volume column (Boolean, date), fewer than two rows, unparsable, unsorted
        or duplicate timestamp, a null, NaN, infinite or non-positive price, a
        price outside ``[PRICE_MIN, PRICE_MAX]`` of :mod:`stresstest.limits`, a
        high below or low above the bar's other prices, or a negative volume.
        The message names the file and the 0-based data row and column where
        they apply.
    """
    unknown = sorted(set(columns_required) - set(COLUMNS))
    if unknown:
        raise ValueError(f"columns_required: unknown column(s) {unknown}; known: {COLUMNS}")
    p = Path(path)
    data, digest = read_input(p)
    df = _read_frame(p, data)

    for name in ("timestamp", "close", *columns_required):
        if name not in df.columns:
            raise _fail("missing column", p, key=name, expected=f"columns {', '.join(COLUMNS)}")
    if df.height < 2:
        raise _fail("too few rows", p, value=df.height, expected="at least 2 bars")

    ts = _parse_timestamps(p, df["timestamp"])
    _check_order(p, ts)
    cols = {c: _parse_number(p, c, df[c]) for c in COLUMNS[1:] if c in df.columns}
    _check_ohlc(p, cols)

    values, counts = np.unique(np.diff(ts.astype(np.int64)), return_counts=True)
    step_ms = int(values[np.argmax(counts)])
    return Candles(
        path=p,
        timestamp=_readonly(ts),
        close=_readonly(cols["close"]),
        open=_readonly(cols["open"]) if "open" in cols else None,
        high=_readonly(cols["high"]) if "high" in cols else None,
        low=_readonly(cols["low"]) if "low" in cols else None,
        volume=_readonly(cols["volume"]) if "volume" in cols else None,
        step_ms=step_ms,
        gaps=_find_gaps(ts, step_ms),
        sha256=digest,
    )


def contiguous_segments(candles: Candles) -> list[tuple[int, int]]:
    """Split the rows at every gap.

    Parameters
    ----------
    candles
        A loaded series.

    Returns
    -------
    list of (int, int)
        ``(start_row, end_row)`` per gap-free run, start inclusive and end
        exclusive, in time order; they cover every row once.
    """
    cuts = [g.after_row + 1 for g in candles.gaps]
    bounds = [0, *cuts, len(candles)]
    return list(pairwise(bounds))


def log_returns_segments(candles: Candles) -> tuple[np.ndarray, np.ndarray]:
    """Log close-to-close returns within gap-free segments only.

    The return that would span a gap is dropped, not set to zero: a zero would
    understate volatility and hide a crash that happened during the hole.

    Parameters
    ----------
    candles
        A loaded series.

    Returns
    -------
    returns : numpy.ndarray
        ``float64`` log returns ``ln(close[i+1] / close[i])`` (dimensionless,
        one bar of ``step_ms``) for every consecutive pair not separated by a gap.
    segment : numpy.ndarray
        ``int64`` index, into :func:`contiguous_segments`, of the segment each
        return belongs to (non-decreasing; a one-bar segment has no return).
    """
    close = candles.close
    seg_of_row = np.zeros(len(candles), dtype=np.int64)
    for g in candles.gaps:
        seg_of_row[g.after_row + 1 :] += 1
    keep = seg_of_row[1:] == seg_of_row[:-1]
    returns = np.log(close[1:] / close[:-1])[keep]
    return returns, seg_of_row[:-1][keep]


def _parse_bound(text: str, which: str, path: Path) -> np.datetime64:
    try:
        dt = datetime.fromisoformat(text.strip())
    except (ValueError, TypeError, AttributeError):
        raise _fail(
            "unparsable window bound",
            path,
            key=which,
            value=text,
            expected="an ISO date or datetime such as 2020-03-12 or 2020-03-12T10:00Z",
        ) from None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(dt, "ms")


def select_window(candles: Candles, start: str | None, end: str | None) -> Candles:
    """Keep the bars whose open time lies in ``[start, end)``.

    Parameters
    ----------
    candles
        A loaded series.
    start, end
        ISO 8601 dates or datetimes (UTC if no offset is given); ``start`` is
        inclusive, ``end`` exclusive; ``None`` leaves that side open.

    Returns
    -------
    Candles
        The rows in the window, with the gaps inside it (``after_row``
        renumbered); ``path``, ``sha256`` and ``step_ms`` are those of the
        source.

    Raises
    ------
    InputError
        An unparsable bound, ``start >= end``, or no bar in the window.
    """
    lo_t = None if start is None else _parse_bound(start, "start", candles.path)
    hi_t = None if end is None else _parse_bound(end, "end", candles.path)
    window = f"[{start or '-inf'}, {end or '+inf'})"
    if lo_t is not None and hi_t is not None and lo_t >= hi_t:
        raise _fail("empty window: start is not before end", candles.path, value=window)
    ts = candles.timestamp
    lo = 0 if lo_t is None else int(np.searchsorted(ts, lo_t, side="left"))
    hi = len(candles) if hi_t is None else int(np.searchsorted(ts, hi_t, side="left"))
    if hi <= lo:
        raise _fail("no candles in window", candles.path, value=window)

    def cut(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[lo:hi]

    gaps = [
        replace(g, after_row=g.after_row - lo) for g in candles.gaps if lo <= g.after_row < hi - 1
    ]
    return replace(
        candles,
        timestamp=ts[lo:hi],
        close=candles.close[lo:hi],
        open=cut(candles.open),
        high=cut(candles.high),
        low=cut(candles.low),
        volume=cut(candles.volume),
        gaps=gaps,
    )
