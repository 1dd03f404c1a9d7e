"""Gap reports: bars missing from a series, judged against its timeframe and, for stocks, its exchange.

- 24/7 markets (crypto, synthetic): every step longer than one bar between consecutive bars is a gap.
- Stocks, daily bars: a gap is an exchange *session* (``exchange_calendars``, XNYS by default) with no
  bar, so weekends and holidays are not gaps. The calendar is only loaded when some step between bars
  skips a weekday (numpy's business-day count), so a clean increment never pays its ~1-2 s import.
- Stocks, intraday bars: steps longer than one bar *within a UTC day* (the night is not a gap).

Which series are stocks: ``calendar="auto"`` treats sample/yfinance/alphavantage/csv series whose
symbol has no ``/`` as XNYS stocks and everything else as 24/7; name a calendar (``XLON``) or ``24/7``
to override. ``exchange_calendars`` was chosen over pandas_market_calendars: it is the one zipline's
successors maintain, ships 50+ exchanges with history back to the 1990s and has no extra dependencies.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from torchtrader.errors import ConfigError
from torchtrader.quality.report import Gap
from torchtrader.timeframes import timeframe_seconds

if TYPE_CHECKING:
    from torchtrader.lake import Lake

ALWAYS_OPEN = "24/7"
DEFAULT_CALENDAR = "XNYS"
STOCK_SOURCES = frozenset({"sample", "yfinance", "alphavantage", "csv"})
_DAY = 86_400


@dataclass(frozen=True)
class SeriesGaps:
    """The gaps of one stored series."""

    source: str
    symbol: str
    timeframe: str
    calendar: str
    rows: int
    missing_bars: int
    gaps: list[Gap] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row["gaps"] = [
            {**asdict(g), "after": g.after.isoformat(), "before": g.before.isoformat()} for g in self.gaps
        ]
        return row


def calendar_for(source: str, symbol: str, calendar: str = "auto") -> str:
    """The calendar a series is judged by: ``24/7``, or an exchange_calendars code."""
    if calendar != "auto":
        return calendar
    stock = source.removeprefix("resampled:") in STOCK_SOURCES and "/" not in symbol
    return DEFAULT_CALENDAR if stock else ALWAYS_OPEN


def check_calendar(name: str) -> None:
    """ConfigError (one line) unless ``name`` is 24/7, auto or a calendar exchange_calendars knows."""
    if name in (ALWAYS_OPEN, "auto"):
        return
    import exchange_calendars as xcals  # type: ignore[import-untyped]  # deferred: pandas, ~1-2 s

    if name not in xcals.get_calendar_names(include_aliases=True):
        raise ConfigError(
            f"unknown calendar {name!r} (--calendar): use 24/7 or an exchange_calendars code such as "
            "XNYS, XNAS, XLON, XTKS"
        )


def find_gaps(frame: pl.DataFrame, timeframe: str, *, calendar: str = ALWAYS_OPEN) -> list[Gap]:
    """Gaps of one series' bars (sorted by ts) against ``timeframe`` and ``calendar``."""
    if frame.height < 2:
        return []
    step_us = timeframe_seconds(timeframe) * 1_000_000
    symbol = str(frame["symbol"][0])
    if calendar != ALWAYS_OPEN and step_us == _DAY * 1_000_000:
        return _session_gaps(frame, symbol, calendar)
    ts = frame.select(pl.col("ts"), pl.col("ts").shift().alias("prev"))
    holes = ts.filter((pl.col("ts") - pl.col("prev")).dt.total_microseconds() > step_us)
    if calendar != ALWAYS_OPEN and step_us < _DAY * 1_000_000:
        holes = holes.filter(pl.col("ts").dt.date() == pl.col("prev").dt.date())
    return [
        Gap(symbol, prev, now, int((now - prev) / timedelta(microseconds=step_us)) - 1)
        for now, prev in holes.iter_rows()
    ]


def _session_gaps(frame: pl.DataFrame, symbol: str, calendar: str) -> list[Gap]:
    days = frame["ts"].dt.date().to_numpy().astype("datetime64[D]")
    weekdays_between = np.busday_count(days[:-1] + 1, days[1:])
    candidates = np.flatnonzero(weekdays_between > 0)
    if candidates.size == 0:
        return []  # only weekends between bars: no calendar needed to know nothing is missing
    check_calendar(calendar)
    sessions = _sessions(calendar, days[0].item(), days[-1].item())
    gaps = []
    for i in candidates:
        lo, hi = np.searchsorted(sessions, days[i], side="right"), np.searchsorted(sessions, days[i + 1])
        if hi > lo:
            after, before = frame["ts"][int(i)], frame["ts"][int(i) + 1]
            gaps.append(Gap(symbol, after, before, int(hi - lo)))
    return gaps


def _sessions(calendar: str, first: date, last: date) -> np.ndarray[Any, np.dtype[np.datetime64]]:
    import exchange_calendars as xcals

    with warnings.catch_warnings():
        # exchange_calendars 4.x reads Series.values of tz-aware data, which pandas 3.1 deprecates
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        bound = type(xcals.get_calendar(calendar)).bound_min()  # None: no earliest date
        start = first if bound is None else max(first, bound.date())
        exchange = xcals.get_calendar(calendar, start=start.isoformat(), end=last.isoformat())
    return np.asarray(exchange.sessions.values.astype("datetime64[D]"))


def series_gaps(
    lake: Lake,
    *,
    symbol: str | None = None,
    calendar: str = "auto",
    version: int | None = None,
    start: datetime | None = None,
) -> list[SeriesGaps]:
    """Gaps of every stored series (of ``symbol`` when given), raw bars, optionally from ``start``."""
    check_calendar(calendar)
    found = []
    for info in lake.series(version=version):
        if symbol is not None and info.symbol != symbol:
            continue
        bars = lake.read_bars(
            info.symbol, info.timeframe, source=info.source, version=version, adjust="none", start=start
        )
        chosen = calendar_for(info.source, info.symbol, calendar)
        gaps = find_gaps(bars, info.timeframe, calendar=chosen)
        found.append(
            SeriesGaps(
                source=info.source,
                symbol=info.symbol,
                timeframe=info.timeframe,
                calendar=chosen,
                rows=bars.height,
                missing_bars=sum(g.missing_bars for g in gaps),
                gaps=gaps,
            )
        )
    return found
