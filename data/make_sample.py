"""Build the shipped price sample in ``data/`` from the full history in ``shared/data``.

Usage::

    /work/venv/bin/python data/make_sample.py /work/shared/data

It writes, next to this script:

* ``btc_usdt_spot_1h.parquet`` and ``eth_usdt_spot_1h.parquet``: the full Binance
  spot hourly history, columns ``timestamp`` (datetime[ms, UTC], bar open time),
  ``open``, ``high``, ``low``, ``close`` (USDT). Volume is left out to keep the
  sample small.
* ``events/*.parquet``: the crash-event slices (spot 1h for BTC/ETH/SOL and the
  BTC USDT-M perpetual 1-minute excerpts), all six OHLCV columns.
* ``events/events.toml``: the event catalogue (name, description, files).

The output is deterministic: the same input files give byte-identical output
with the same polars version. Gaps in the source are kept as they are (never
filled). Every Parquet file is written to a temporary name in the same folder
and then moved into place with ``os.replace``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import polars as pl
import tomli_w

OUT = Path(__file__).resolve().parent
PRICE_COLUMNS = ("open", "high", "low", "close")
ZSTD_LEVEL = 19

# (event name, description, [(shared file, asset, market, resolution), ...])
EVENTS: list[tuple[str, str, list[tuple[str, str, str, str]]]] = [
    (
        "2020-03-black-thursday",
        "COVID crash of 12-13 March 2020: BTC spot fell 53.6% high-to-low in 61 hours "
        "(8149 to 3782), ETH 58.3%; the perp 1m excerpts cover the two steepest legs.",
        [
            ("events/btc_1h_2020-03-10_2020-03-16.csv", "btc", "spot", "1h"),
            ("events/eth_1h_2020-03-10_2020-03-16.csv", "eth", "spot", "1h"),
            ("events/btc_perp_1m_2020-03-12T1000_2020-03-12T1110.csv", "btc", "perp", "1m"),
            ("events/btc_perp_1m_2020-03-13T0103_2020-03-13T0300.csv", "btc", "perp", "1m"),
        ],
    ),
    (
        "2021-05-19-crash",
        "Leverage flush of 19 May 2021: BTC spot fell 40.8% high-to-low (50700 to 30000), "
        "ETH 58.2%, SOL 67.4% over the week; BTC perp lost 26.3% in 51 minutes.",
        [
            ("events/btc_1h_2021-05-15_2021-05-23.csv", "btc", "spot", "1h"),
            ("events/eth_1h_2021-05-15_2021-05-23.csv", "eth", "spot", "1h"),
            ("events/sol_1h_2021-05-15_2021-05-23.csv", "sol", "spot", "1h"),
            ("events/btc_perp_1m_2021-05-19T1210_2021-05-19T1400.csv", "btc", "perp", "1m"),
        ],
    ),
    (
        "2022-05-luna",
        "LUNA/UST collapse, May 2022: a slow grind, BTC spot fell 33.0% high-to-low over "
        "168 hours, ETH 39.1%.",
        [
            ("events/btc_1h_2022-05-05_2022-05-18.csv", "btc", "spot", "1h"),
            ("events/eth_1h_2022-05-05_2022-05-18.csv", "eth", "spot", "1h"),
        ],
    ),
    (
        "2022-11-ftx",
        "FTX collapse, November 2022: BTC spot fell 27.4% high-to-low (21481 to 15588), "
        "ETH 35.6%; BTC perp lost 10.1% in 31 minutes on 8 November.",
        [
            ("events/btc_1h_2022-11-05_2022-11-14.csv", "btc", "spot", "1h"),
            ("events/eth_1h_2022-11-05_2022-11-14.csv", "eth", "spot", "1h"),
            ("events/btc_perp_1m_2022-11-08T1900_2022-11-08T2059.csv", "btc", "perp", "1m"),
        ],
    ),
    (
        "2025-10-10-wick",
        "Liquidation cascade of 10 October 2025: BTC spot fell 19.2% from the week's high "
        "(126200 to 102000), ETH 27.8%; BTC perp lost 13.3% in 36 minutes.",
        [
            ("events/btc_1h_2025-10-06_2025-10-13.csv", "btc", "spot", "1h"),
            ("events/eth_1h_2025-10-06_2025-10-13.csv", "eth", "spot", "1h"),
            ("events/btc_perp_1m_2025-10-10T2000_2025-10-10T2200.csv", "btc", "perp", "1m"),
        ],
    ),
]

FULL: list[tuple[str, str]] = [
    ("btc_usdt_binance_spot_1h.csv", "btc_usdt_spot_1h.parquet"),
    ("eth_usdt_binance_spot_1h.csv", "eth_usdt_spot_1h.parquet"),
]


def read_source(path: Path) -> pl.DataFrame:
    """Read one shared CSV (ISO 8601 ``...Z`` bar-open times) and check its order."""
    df = pl.read_csv(
        path,
        schema={
            "timestamp": pl.String,
            **{c: pl.Float64 for c in (*PRICE_COLUMNS, "volume")},
        },
    )
    df = df.with_columns(
        pl.col("timestamp").str.to_datetime(
            "%Y-%m-%dT%H:%M:%SZ", time_unit="ms", time_zone="UTC", strict=True
        )
    )
    steps = df["timestamp"].diff().drop_nulls()
    if df.null_count().sum_horizontal().item() or (steps.dt.total_milliseconds() <= 0).any():
        raise SystemExit(f"{path}: nulls, unsorted or duplicate timestamps")
    return df


def write_parquet_atomic(df: pl.DataFrame, dest: Path) -> None:
    """Write ``df`` to ``dest`` through a temporary file in the same folder."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        df.write_parquet(tmp, compression="zstd", compression_level=ZSTD_LEVEL)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(text: str, dest: Path) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``dest`` atomically."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def iso(ts: object) -> str:
    """Format a UTC datetime as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return f"{ts:%Y-%m-%dT%H:%M:%S}Z"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} SHARED_DATA_DIR", file=sys.stderr)
        return 2
    src = Path(argv[1])

    for name, out_name in FULL:
        df = read_source(src / name).select("timestamp", *PRICE_COLUMNS)
        write_parquet_atomic(df, OUT / out_name)
        print(f"{out_name}: {df.height} rows")

    catalogue: list[dict[str, object]] = []
    for event, description, files in EVENTS:
        entries: list[dict[str, object]] = []
        counts: dict[tuple[str, str, str], int] = {}
        for _, asset, market, res in files:
            counts[(asset, market, res)] = counts.get((asset, market, res), 0) + 1
        seen: dict[tuple[str, str, str], int] = {}
        for rel, asset, market, res in files:
            df = read_source(src / rel)
            key = (asset, market, res)
            seen[key] = seen.get(key, 0) + 1
            part = f"_{seen[key]}" if counts[key] > 1 else ""
            out_name = f"{event}_{asset}_{market}_{res}{part}.parquet"
            write_parquet_atomic(df, OUT / "events" / out_name)
            step = df["timestamp"].diff().drop_nulls().mode().min()
            entries.append(
                {
                    "asset": asset,
                    "market": market,
                    "resolution": res,
                    "path": out_name,
                    "start": iso(df["timestamp"][0]),
                    "end": iso(df["timestamp"][-1] + step),
                    "rows": df.height,
                    "source": Path(rel).name,
                }
            )
            print(f"events/{out_name}: {df.height} rows")
        spot = [e for e in entries if e["resolution"] == "1h"]
        catalogue.append(
            {
                "name": event,
                "description": description,
                "start": min(str(e["start"]) for e in spot),
                "end": max(str(e["end"]) for e in spot),
                "files": entries,
            }
        )

    header = (
        "# Crash events shipped in data/events/ (generated by data/make_sample.py).\n"
        "# Times are UTC bar-open times; `start` is inclusive and `end` exclusive\n"
        "# (the open time of the last bar plus one bar). `path` is relative to this\n"
        "# folder. Prices in USDT, volume in the base asset; Binance market data.\n\n"
    )
    write_text_atomic(header + tomli_w.dumps({"event": catalogue}), OUT / "events" / "events.toml")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
