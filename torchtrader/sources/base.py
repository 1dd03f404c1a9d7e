"""The Source contract: fetch bars for (symbol, timeframe, [start, end)) as a canonical bars frame.

Every adapter returns ``torchtrader.lake.schema.BARS_SCHEMA`` rows with UTC bar-open timestamps, sorted,
``start`` inclusive and ``end`` exclusive. Sources do not validate values (high >= low and friends):
the quality layer does that, so a source never hides what the upstream really sent.

Failures are split so callers know what to retry: ``SourceUnavailableError`` (timeouts, rate limits,
5xx) is transient; ``SourceError`` (bad symbol, bad key, unparseable response) is not.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import UTC, datetime
from typing import ClassVar

import polars as pl

from torchtrader.errors import SourceError
from torchtrader.lake.schema import BARS_SCHEMA, empty_bars, to_canonical_bars


class Source(ABC):
    """A market data source. Subclasses set ``name`` and implement ``fetch``."""

    name: ClassVar[str]

    @abstractmethod
    def fetch(
        self,
        symbol: str,
        timeframe: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pl.DataFrame:
        """Bars of ``symbol`` at ``timeframe`` with ``start <= ts < end`` (None = unbounded), sorted by ts."""

    def symbols(self) -> list[str]:
        """The symbols this source can serve, where it can list them."""
        raise SourceError(f"source {self.name!r} cannot list its symbols; name the symbol you want")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def as_utc(moment: datetime | None) -> datetime | None:
    """Aware UTC datetime; a naive one is taken as UTC (the lake's convention)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware (or naive = UTC) datetime."""
    utc = as_utc(moment)
    assert utc is not None
    return int(utc.timestamp() * 1000)


def check_range(start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime | None]:
    """Normalise a [start, end) range to UTC and refuse an inverted one."""
    start_utc, end_utc = as_utc(start), as_utc(end)
    if start_utc is not None and end_utc is not None and end_utc < start_utc:
        raise SourceError(
            f"empty time range: end {end_utc.isoformat()} is before start {start_utc.isoformat()}"
        )
    return start_utc, end_utc


def clip_range(frame: pl.DataFrame, start: datetime | None, end: datetime | None) -> pl.DataFrame:
    """Rows of a canonical frame with start <= ts < end, sorted by ts (stable, so file order breaks ties)."""
    start_utc, end_utc = check_range(start, end)
    condition = pl.lit(True)
    if start_utc is not None:
        condition = condition & (pl.col("ts") >= start_utc)
    if end_utc is not None:
        condition = condition & (pl.col("ts") < end_utc)
    return frame.filter(condition).sort("ts", maintain_order=True)


def bars_from_columns(
    columns: dict[str, object], *, source: str, symbol: str, timeframe: str
) -> pl.DataFrame:
    """Canonical frame from ts (epoch ms ints or datetimes) and OHLCV columns."""
    frame = pl.DataFrame(columns)
    if frame.height == 0:
        return empty_bars()
    if frame.schema["ts"].is_integer():
        frame = frame.with_columns(pl.from_epoch(pl.col("ts"), time_unit="ms").dt.replace_time_zone("UTC"))
    return to_canonical_bars(frame, source=source, symbol=symbol, timeframe=timeframe)


__all__ = ["BARS_SCHEMA", "Source", "as_utc", "bars_from_columns", "check_range", "clip_range", "to_ms"]
