"""``yfinance``: Yahoo Finance bars through the ``yfinance`` package.

The call into yfinance is one injectable ``downloader`` (default: ``yf.download`` with flat columns), so
the adapter is tested with frames in yfinance's documented shape: a DatetimeIndex named ``Date`` or
``Datetime`` and columns Open, High, Low, Close, Volume (plus Adj Close when auto_adjust is off).
yfinance reports most failures as an empty frame; that becomes ``SourceError("no data for ...")``.

Daily-or-longer bars are stamped at UTC midnight of the exchange's trading date (the lake convention
for daily bars); intraday bars keep their true UTC open time. Yahoo serves intraday history for a
limited window only (1m: 30 days, in requests of at most 8 days; <1h: 60 days; 1h: 730 days), so an
older explicit start is refused with the limit in the message, and a missing start means "as far
back as Yahoo serves".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pandas as pd
import polars as pl

from torchtrader.errors import SourceError, SourceUnavailableError
from torchtrader.lake.schema import empty_bars, to_canonical_bars
from torchtrader.sources.base import Source, check_range, clip_range

logger = logging.getLogger(__name__)

# ccxt-style timeframe -> (yfinance interval, history window Yahoo serves, longest single request)
_INTERVALS: dict[str, tuple[str, timedelta | None, timedelta | None]] = {
    "1m": ("1m", timedelta(days=30), timedelta(days=8)),
    "2m": ("2m", timedelta(days=60), None),
    "5m": ("5m", timedelta(days=60), None),
    "15m": ("15m", timedelta(days=60), None),
    "30m": ("30m", timedelta(days=60), None),
    "1h": ("1h", timedelta(days=730), None),
    "1d": ("1d", None, None),
    "1w": ("1wk", None, None),
}
_DAILY = {"1d", "1w"}
_COLUMNS = ("Open", "High", "Low", "Close", "Volume")

Downloader = Callable[..., pd.DataFrame]


def yfinance_download(
    symbol: str, *, start: datetime | None, end: datetime | None, interval: str, auto_adjust: bool
) -> pd.DataFrame:
    """The production downloader: one ticker, flat columns, exchange-timezone index, no progress bar."""
    import yfinance as yf  # deferred: yfinance pulls curl_cffi and friends, only this source needs it

    span: dict[str, Any] = {"period": "max"} if start is None else {"start": start}
    if end is not None:
        span["end"] = end
    frame = yf.download(
        symbol,
        interval=interval,
        auto_adjust=auto_adjust,
        multi_level_index=False,
        progress=False,
        threads=False,
        ignore_tz=False,
        **span,
    )
    return frame if frame is not None else pd.DataFrame()


_TRANSIENT_TYPES = {
    "YFRateLimitError",
    "Timeout",
    "ConnectTimeout",
    "ReadTimeout",
    "ConnectionError",
    "TimeoutError",
}
_TRANSIENT_TEXT = (
    "timed out",
    "timeout",
    "too many requests",
    "rate limit",
    "internal server error",
    "bad gateway",
    "service unavailable",
    "gateway timeout",
)


def _is_transient(error: BaseException) -> bool:
    """Rate limits, timeouts and 5xx: yfinance and curl_cffi share no base class, so judge by name."""
    if isinstance(error, TimeoutError | ConnectionError) or type(error).__name__ in _TRANSIENT_TYPES:
        return True
    text = str(error).lower()
    return any(marker in text for marker in _TRANSIENT_TEXT)


class YFinanceSource(Source):
    """``get_source("yfinance", auto_adjust=True)``; ``downloader`` and ``clock`` are test seams."""

    name: ClassVar[str] = "yfinance"

    def __init__(
        self,
        *,
        auto_adjust: bool = True,
        downloader: Downloader | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.auto_adjust = auto_adjust
        self.downloader: Downloader = downloader or yfinance_download
        # "now" decides Yahoo's intraday window; injectable so tests do not depend on the calendar
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return f"YFinanceSource(auto_adjust={self.auto_adjust})"

    def fetch(
        self,
        symbol: str,
        timeframe: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pl.DataFrame:
        if timeframe not in _INTERVALS:
            raise SourceError(f"yfinance has no {timeframe!r} bars; use one of {', '.join(_INTERVALS)}")
        interval, window, chunk = _INTERVALS[timeframe]
        start_utc, end_utc = check_range(start, end)
        now = self.clock()
        if window is not None:
            earliest = now - window + timedelta(minutes=5)  # a little slack: Yahoo counts from its own clock
            if start_utc is None:
                start_utc = earliest
            elif start_utc < earliest:
                raise SourceError(
                    f"yfinance serves {timeframe} bars for the last {window.days} days only; "
                    f"start {start_utc:%Y-%m-%d} is older (use 1d bars for history)"
                )
        frames = [
            self._download(symbol, interval, lo, hi, timeframe)
            for lo, hi in _chunks(start_utc, end_utc, chunk, now)
        ]
        bars = pl.concat(frames) if frames else empty_bars()
        if bars.is_empty():
            span = f"{start_utc:%Y-%m-%d}" if start_utc else "the beginning"
            raise SourceError(
                f"yfinance: no data for {symbol} {timeframe} from {span} (unknown or delisted symbol?)"
            )
        return clip_range(bars.unique("ts", keep="last", maintain_order=True), start_utc, end_utc)

    def _download(
        self, symbol: str, interval: str, start: datetime | None, end: datetime | None, timeframe: str
    ) -> pl.DataFrame:
        try:
            raw = self.downloader(
                symbol, start=start, end=end, interval=interval, auto_adjust=self.auto_adjust
            )
        except Exception as error:  # yfinance and curl_cffi raise many unrelated types
            reason = " ".join(str(error).split())[:200]
            if _is_transient(error):
                raise SourceUnavailableError(f"yfinance {symbol}: {type(error).__name__}: {reason}") from None
            raise SourceError(f"yfinance {symbol}: {type(error).__name__}: {reason}") from None
        return self._to_bars(raw, symbol, timeframe)

    def _to_bars(self, raw: Any, symbol: str, timeframe: str) -> pl.DataFrame:
        if not isinstance(raw, pd.DataFrame):
            raise SourceError(f"yfinance {symbol}: expected a DataFrame, got {type(raw).__name__}")
        if raw.empty:
            return empty_bars()
        if isinstance(raw.columns, pd.MultiIndex):
            raise SourceError(
                f"yfinance {symbol}: got multi-level columns; download with multi_level_index=False"
            )
        missing = [column for column in _COLUMNS if column not in raw.columns]
        if missing or not isinstance(raw.index, pd.DatetimeIndex):
            raise SourceError(
                f"yfinance {symbol}: unexpected frame (need a DatetimeIndex and {', '.join(_COLUMNS)}; "
                f"missing {', '.join(missing) or 'the DatetimeIndex'})"
            )
        index = raw.index
        if timeframe in _DAILY:
            # the exchange's trading date, at UTC midnight: daily bars must not land on the day before
            local = index.tz_localize(None) if index.tz is not None else index
            stamps = local.normalize().tz_localize("UTC")
        else:
            stamps = index.tz_convert("UTC") if index.tz is not None else index.tz_localize("UTC")
        values = {
            column.lower(): pd.to_numeric(raw[column], errors="coerce").to_numpy(dtype="float64")
            for column in _COLUMNS
        }
        frame = pl.DataFrame(
            {"ts": pl.Series(stamps.tz_localize(None).as_unit("us").to_numpy()), **values}
        ).with_columns(pl.col("ts").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"))
        return to_canonical_bars(frame, source=self.name, symbol=symbol, timeframe=timeframe)


def _chunks(
    start: datetime | None, end: datetime | None, size: timedelta | None, now: datetime
) -> list[tuple[datetime | None, datetime | None]]:
    """Split [start, end) into requests Yahoo accepts (1m bars: at most 8 days each)."""
    if size is None or start is None:
        return [(start, end)]
    stop = end or now
    pieces: list[tuple[datetime | None, datetime | None]] = []
    cursor = start
    while cursor < stop:
        pieces.append((cursor, min(cursor + size, stop)))
        cursor += size
    if pieces and end is None:
        pieces[-1] = (pieces[-1][0], None)  # the newest piece runs up to Yahoo's "now"
    return pieces or [(start, end)]
