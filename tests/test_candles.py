"""Tests for the candle-data layer (stresstest.data.candles) and the shipped sample."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from stresstest.data import (
    contiguous_segments,
    load_candles,
    log_returns_segments,
    select_window,
)
from stresstest.errors import InputError

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

HEADER = "timestamp,open,high,low,close,volume\n"


def write_csv(tmp_path: Path, rows: list[str], header: str = HEADER, name: str = "c.csv") -> Path:
    path = tmp_path / name
    path.write_text(header + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def good_rows(n: int = 4) -> list[str]:
    return [f"2020-01-01T{h:02d}:00:00Z,100,101,99,100.5,10" for h in range(n)]


# --- the shipped sample -------------------------------------------------------------


@pytest.mark.parametrize("asset", ["btc", "eth"])
def test_sample_full_history(asset: str) -> None:
    c = load_candles(DATA / f"{asset}_usdt_spot_1h.parquet")
    assert len(c) == 72_052
    assert c.timestamp.dtype == np.dtype("datetime64[ms]")
    assert c.close.dtype == np.float64
    assert c.step_ms == 3_600_000
    assert c.timestamp[0] == np.datetime64("2017-08-17T04:00")
    assert c.timestamp[-1] == np.datetime64("2025-12-02T05:00")
    assert sum(g.missing_bars for g in c.gaps) == 646
    big = max(c.gaps, key=lambda g: g.missing_bars)
    assert (big.start, big.end) == (np.datetime64("2021-12-06T00:00"), np.datetime64("2022-01-01"))
    assert big.missing_bars == 623
    assert c.open is not None and c.high is not None and c.low is not None
    assert len(c.sha256) == 64
    assert not c.close.flags.writeable


def test_sample_total_size_under_5mb() -> None:
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < 5 * 1024 * 1024


def test_event_catalogue_files_load() -> None:
    events_dir = DATA / "events"
    catalogue = tomllib.loads((events_dir / "events.toml").read_text(encoding="utf-8"))
    names = {e["name"] for e in catalogue["event"]}
    assert {
        "2020-03-black-thursday",
        "2021-05-19-crash",
        "2022-05-luna",
        "2022-11-ftx",
        "2025-10-10-wick",
    } <= names
    for event in catalogue["event"]:
        assert event["description"]
        for f in event["files"]:
            c = load_candles(
                events_dir / f["path"],
                columns_required=("timestamp", "open", "high", "low", "close", "volume"),
            )
            assert len(c) == f["rows"]
            assert not c.gaps
            assert c.step_ms == {"1h": 3_600_000, "1m": 60_000}[f["resolution"]]
            assert str(c.timestamp[0]) == f["start"].replace("Z", ".000")
            last_plus_step = c.timestamp[-1] + np.timedelta64(c.step_ms, "ms")
            assert str(last_plus_step) == f["end"].replace("Z", ".000")


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"full shared data not present at {SHARED}")
@pytest.mark.parametrize("asset", ["btc", "eth"])
def test_sample_closes_equal_shared_files(asset: str) -> None:
    full = load_candles(SHARED / f"{asset}_usdt_binance_spot_1h.csv")
    sample = load_candles(DATA / f"{asset}_usdt_spot_1h.parquet")
    np.testing.assert_array_equal(sample.timestamp, full.timestamp)
    np.testing.assert_array_equal(sample.close, full.close)
    for col in ("open", "high", "low"):
        np.testing.assert_array_equal(getattr(sample, col), getattr(full, col))


# --- formats ------------------------------------------------------------------------


def test_csv_and_parquet_agree(tmp_path: Path) -> None:
    csv = write_csv(tmp_path, good_rows())
    a = load_candles(csv)
    df = pl.read_csv(csv).with_columns(
        pl.col("timestamp").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC")
    )
    df.write_parquet(tmp_path / "c.parquet")
    b = load_candles(tmp_path / "c.parquet")
    np.testing.assert_array_equal(a.timestamp, b.timestamp)
    np.testing.assert_array_equal(a.close, b.close)
    assert a.volume is not None and a.volume[0] == 10.0
    # A Parquet file may also hold the timestamp as an ISO string.
    pl.read_csv(csv).write_parquet(tmp_path / "s.parquet")
    np.testing.assert_array_equal(load_candles(tmp_path / "s.parquet").timestamp, a.timestamp)


def test_offsets_converted_to_utc_and_close_only(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        ["2020-01-01T02:00:00+02:00,5", "2020-01-01T01:00:00Z,6"],
        header="timestamp,close\n",
    )
    c = load_candles(path)
    assert c.timestamp[0] == np.datetime64("2020-01-01T00:00")
    assert c.open is None and c.volume is None


# --- validation errors --------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.csv: file not found"):
        load_candles(tmp_path / "nope.csv")


def test_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(InputError, match=r"c\.json: unknown file format") as info:
        load_candles(path)
    assert info.value.file == str(path)


def test_unreadable_parquet(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not a parquet file at all")
    with pytest.raises(InputError, match=r"bad\.parquet: unreadable PARQUET file"):
        load_candles(path)


def test_missing_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path, ["2020-01-01T00:00:00Z,1"], header="timestamp,open\n")
    with pytest.raises(InputError, match=r"c\.csv, key 'close': missing column") as info:
        load_candles(path)
    assert info.value.key == "close"
    ok = write_csv(tmp_path, good_rows(), header=HEADER.replace(",volume", ",vol"), name="v.csv")
    load_candles(ok)  # volume is optional by default ...
    with pytest.raises(InputError, match=r"v\.csv, key 'volume': missing column"):
        load_candles(ok, columns_required=("timestamp", "close", "volume"))  # ... unless asked


def test_unparsable_timestamp(tmp_path: Path) -> None:
    rows = good_rows()
    rows[2] = "2020-01-01 02:00,100,101,99,100.5,10"
    with pytest.raises(InputError, match=r"c\.csv, key 'timestamp', row 2: unparsable timestamp"):
        load_candles(write_csv(tmp_path, rows))


def test_unsorted_timestamps(tmp_path: Path) -> None:
    rows = good_rows()
    rows[1], rows[2] = rows[2], rows[1]
    with pytest.raises(InputError, match=r"c\.csv, key 'timestamp', row 2: .*not sorted") as info:
        load_candles(write_csv(tmp_path, rows))
    assert "2020-01-01T01:00:00.000Z after 2020-01-01T02:00:00.000Z" in str(info.value)
    assert info.value.row == 2


def test_duplicate_timestamps(tmp_path: Path) -> None:
    rows = good_rows()
    rows[3] = rows[2]
    with pytest.raises(InputError, match=r"c\.csv, key 'timestamp', row 3: duplicate timestamp"):
        load_candles(write_csv(tmp_path, rows))


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("2020-01-01T03:00:00Z,100,101,99,,10", "null price"),
        ("2020-01-01T03:00:00Z,100,101,99,nan,10", "NaN price"),
        ("2020-01-01T03:00:00Z,100,101,99,0,10", "non-positive"),
        ("2020-01-01T03:00:00Z,100,101,99,-5,10", "non-positive"),
        ("2020-01-01T03:00:00Z,100,101,99,abc,10", "not a number"),
    ],
)
def test_bad_close(tmp_path: Path, row: str, problem: str) -> None:
    rows = good_rows()
    rows[3] = row
    with pytest.raises(InputError, match=rf"c\.csv, key 'close', row 3: {problem}") as info:
        load_candles(write_csv(tmp_path, rows))
    assert (info.value.key, info.value.row) == ("close", 3)


@pytest.mark.parametrize("column", ["open", "high", "low"])
def test_bad_other_prices(tmp_path: Path, column: str) -> None:
    rows = good_rows()
    fields = rows[1].split(",")
    fields[HEADER.strip().split(",").index(column)] = "-1"
    rows[1] = ",".join(fields)
    with pytest.raises(InputError, match=rf"c\.csv, key '{column}', row 1: non-positive"):
        load_candles(write_csv(tmp_path, rows))


def test_negative_volume(tmp_path: Path) -> None:
    rows = good_rows()
    rows[0] = rows[0].rsplit(",", 1)[0] + ",-0.5"
    with pytest.raises(InputError, match=r"c\.csv, key 'volume', row 0: negative volume") as info:
        load_candles(write_csv(tmp_path, rows))
    assert info.value.value == -0.5


def test_high_below_low(tmp_path: Path) -> None:
    rows = good_rows()
    rows[2] = "2020-01-01T02:00:00Z,100,99.5,99,100.5,10"
    with pytest.raises(InputError, match=r"c\.csv, key 'high', row 2: high below"):
        load_candles(write_csv(tmp_path, rows))


def test_too_few_rows(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"c\.csv: too few rows"):
        load_candles(write_csv(tmp_path, good_rows(1)))


# --- gaps ---------------------------------------------------------------------------


@pytest.fixture
def holey(tmp_path: Path) -> Path:
    """Hourly closes 100, 110, 121 | hole of 3 hours | 50, 55 | hole of 1 hour | 60."""
    hours_closes = [(0, 100), (1, 110), (2, 121), (6, 50), (7, 55), (9, 60)]
    rows = [f"2020-01-01T{h:02d}:00:00Z,{c}" for h, c in hours_closes]
    return write_csv(tmp_path, rows, header="timestamp,close\n")


def test_gaps_reported(holey: Path) -> None:
    c = load_candles(holey)
    assert c.step_ms == 3_600_000
    assert [(g.after_row, g.missing_bars) for g in c.gaps] == [(2, 3), (4, 1)]
    assert c.gaps[0].start == np.datetime64("2020-01-01T02:00")
    assert c.gaps[0].end == np.datetime64("2020-01-01T06:00")
    assert len(c) == 6  # nothing was bridged or filled
    assert contiguous_segments(c) == [(0, 3), (3, 5), (5, 6)]


def test_no_return_across_gap(holey: Path) -> None:
    c = load_candles(holey)
    returns, segment = log_returns_segments(c)
    np.testing.assert_allclose(returns, np.log([1.1, 1.1, 1.1]))
    np.testing.assert_array_equal(segment, [0, 0, 1])
    assert segment.dtype == np.int64
    # The return spanning a hole is dropped: neither log(50/121) nor a zero appears.
    assert not np.any(np.isclose(returns, np.log(50 / 121)))
    assert not np.any(returns == 0.0)


def test_no_gaps_gives_all_returns(tmp_path: Path) -> None:
    c = load_candles(write_csv(tmp_path, good_rows(5)))
    returns, segment = log_returns_segments(c)
    assert returns.shape == (4,) and not segment.any()
    assert contiguous_segments(c) == [(0, 5)]


# --- windows ------------------------------------------------------------------------


def test_select_window(holey: Path) -> None:
    c = load_candles(holey)
    w = select_window(c, "2020-01-01T01:00", "2020-01-01T07:00Z")
    assert list(w.close) == [110.0, 121.0, 50.0]
    assert [(g.after_row, g.missing_bars) for g in w.gaps] == [(1, 3)]
    assert (w.step_ms, w.sha256, w.path) == (c.step_ms, c.sha256, c.path)
    assert len(select_window(c, None, "2020-01-01T02:00")) == 2  # end exclusive
    assert len(select_window(c, "2020-01-01T09:00", None)) == 1  # start inclusive
    assert len(select_window(c, "2020-01-01", "2020-01-02")) == 6


def test_select_window_empty_and_bad(holey: Path) -> None:
    c = load_candles(holey)
    with pytest.raises(InputError, match=r"c\.csv: no candles in window.*2020-01-01T03:00"):
        select_window(c, "2020-01-01T03:00", "2020-01-01T05:00")
    with pytest.raises(InputError, match="start is not before end"):
        select_window(c, "2020-01-02", "2020-01-01")
    with pytest.raises(InputError, match=r"c\.csv, key 'start': unparsable window bound"):
        select_window(c, "yesterday", None)


def test_select_window_on_sample() -> None:
    c = load_candles(DATA / "btc_usdt_spot_1h.parquet")
    w = select_window(c, "2020-03-12", "2020-03-14")
    assert len(w) == 48 and not w.gaps
    assert w.close.min() == 4130.64  # the Black Thursday close trough, 2020-03-13T01Z
