"""Real market data for tests, benchmarks and examples: the offline ``sample`` source as frames or Bars."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from torchtrader.sources.sample import SampleSource
from torchtrader.strategies.base import Bars


def _utc(day: date | None) -> datetime | None:
    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)


def sample_frame(symbol: str = "SPX", first: date | None = None, last: date | None = None) -> pl.DataFrame:
    """Canonical daily bars of a sample symbol (SPX, IXIC) from ``first`` to ``last``, both inclusive."""
    end = None if last is None else datetime(last.year, last.month, last.day, 23, 59, tzinfo=UTC)
    return SampleSource().fetch(symbol, "1d", _utc(first), end)


def sample_bars(symbol: str = "SPX", first: date | None = None, last: date | None = None) -> Bars:
    """``sample_frame`` as float64 CPU ``Bars``."""
    return Bars.from_frame(sample_frame(symbol, first, last))
