"""Builders for small hand-written bars frames and the real S&P 500 sample."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import polars as pl
import pytest

from torchtrader.lake.schema import to_canonical_bars

BarRow = tuple[str | None, float | None, float | None, float | None, float | None, float | None]
MakeBars = Callable[..., pl.DataFrame]


def bars_frame(
    rows: Sequence[BarRow], *, timeframe: str = "1h", symbol: str = "BTC/USDT", source: str = "test"
) -> pl.DataFrame:
    """Canonical bars from (ISO ts, open, high, low, close, volume) tuples; ts strings are UTC."""
    raw = pl.DataFrame(
        rows,
        schema={name: pl.String if name == "ts" else pl.Float64 for name in ("ts", *_VALUES)},
        orient="row",
    ).with_columns(pl.col("ts").str.to_datetime(time_unit="us", time_zone="UTC"))
    return to_canonical_bars(raw, source=source, symbol=symbol, timeframe=timeframe)


_VALUES = ("open", "high", "low", "close", "volume")


@pytest.fixture
def make_bars() -> MakeBars:
    return bars_frame


@pytest.fixture(scope="session")
def sp500() -> pl.DataFrame:
    """The real S&P 500 daily bars shipped with ``arch`` (1999-2018), as a canonical frame."""
    from arch.data import sp500

    raw = pl.from_pandas(sp500.load().reset_index())
    frame = raw.select(
        pl.col("Date").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("ts"),
        pl.col("Open").alias("open"),
        pl.col("High").alias("high"),
        pl.col("Low").alias("low"),
        pl.col("Close").alias("close"),
        pl.col("Volume").cast(pl.Float64).alias("volume"),
    )
    return to_canonical_bars(frame, source="sample", symbol="^GSPC", timeframe="1d")
