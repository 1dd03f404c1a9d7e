"""``sample``: real daily OHLCV shipped in the ``arch`` package, the offline default source.

Two series, 1999-01-04 .. 2018-12-31 (5031 trading days each), as published by Yahoo Finance:

- ``SPX``: S&P 500 index (Yahoo ``^GSPC``), from ``arch.data.sp500``
- ``IXIC``: NASDAQ Composite index (Yahoo ``^IXIC``), from ``arch.data.nasdaq``

Plain ticker-style names (no ``^``) keep the symbol safe in shells and lake partition paths. Adj Close
is dropped (these indices pay no dividends, so it equals Close). Bars are daily, stamped at UTC midnight
of the trading date.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import ClassVar

import polars as pl

from torchtrader.errors import SourceError
from torchtrader.lake.schema import to_canonical_bars
from torchtrader.sources.base import Source, clip_range

SAMPLE_SYMBOLS: dict[str, tuple[str, str]] = {
    "SPX": ("sp500", "S&P 500 (^GSPC)"),
    "IXIC": ("nasdaq", "NASDAQ Composite (^IXIC)"),
}


@cache
def _load(module_name: str) -> pl.DataFrame:
    # arch imports are deferred: the package is large and only this source needs it.
    import arch.data.nasdaq
    import arch.data.sp500

    raw = arch.data.sp500.load() if module_name == "sp500" else arch.data.nasdaq.load()
    frame = pl.from_pandas(raw.reset_index())
    return frame.select(
        pl.col("Date").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("ts"),
        pl.col("Open").alias("open"),
        pl.col("High").alias("high"),
        pl.col("Low").alias("low"),
        pl.col("Close").alias("close"),
        pl.col("Volume").alias("volume"),
    ).sort("ts")


class SampleSource(Source):
    """Offline S&P 500 and NASDAQ Composite daily bars (``get_source("sample")``)."""

    name: ClassVar[str] = "sample"

    def symbols(self) -> list[str]:
        return list(SAMPLE_SYMBOLS)

    def fetch(
        self,
        symbol: str,
        timeframe: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pl.DataFrame:
        if symbol not in SAMPLE_SYMBOLS:
            known = ", ".join(f"{name} = {label}" for name, (_, label) in SAMPLE_SYMBOLS.items())
            raise SourceError(f"sample has no symbol {symbol!r}; it has {known}")
        if timeframe != "1d":
            raise SourceError(f"sample has daily bars only: use timeframe 1d, not {timeframe!r}")
        bars = to_canonical_bars(
            _load(SAMPLE_SYMBOLS[symbol][0]), source=self.name, symbol=symbol, timeframe="1d"
        )
        return clip_range(bars, start, end)
