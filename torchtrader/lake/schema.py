"""The lake contract's table schemas, in one place.

A *canonical bars frame* is a polars DataFrame with exactly ``BARS_SCHEMA``: every source returns one,
validation consumes one, the lake stores one. Timestamps are UTC microseconds and mark the bar's open.
"""

from __future__ import annotations

import polars as pl

BARS_KEY = ("source", "symbol", "timeframe", "ts")
BARS_PARTITION = ("source", "timeframe", "symbol")
PRICE_COLUMNS = ("open", "high", "low", "close")

BARS_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "symbol": pl.String(),
    "timeframe": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Float64(),
}

# Rows refused by validation keep their original values (as strings where they did not parse) plus why.
QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "symbol": pl.String(),
    "timeframe": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Float64(),
    "reason": pl.String(),
    "origin": pl.String(),  # file path, URL or source description the row came from
    "quarantined_at": pl.Datetime("us", "UTC"),
}


def empty_bars() -> pl.DataFrame:
    return pl.DataFrame(schema=BARS_SCHEMA)


def to_canonical_bars(frame: pl.DataFrame, *, source: str, symbol: str, timeframe: str) -> pl.DataFrame:
    """Cast a frame holding ts/open/high/low/close/volume to the canonical schema and column order."""
    return frame.with_columns(
        pl.lit(source).alias("source"),
        pl.lit(symbol).alias("symbol"),
        pl.lit(timeframe).alias("timeframe"),
    ).select([pl.col(name).cast(dtype) for name, dtype in BARS_SCHEMA.items()])
