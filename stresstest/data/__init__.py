"""Market data: candle files read, validated and cut into gap-free segments."""

from stresstest.data.candles import (
    COLUMNS,
    Candles,
    Gap,
    contiguous_segments,
    load_candles,
    log_returns_segments,
    select_window,
)

__all__ = [
    "COLUMNS",
    "Candles",
    "Gap",
    "contiguous_segments",
    "load_candles",
    "log_returns_segments",
    "select_window",
]
