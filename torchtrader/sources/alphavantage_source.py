"""``alphavantage``: daily and intraday bars through the ``alpha_vantage`` package.

The key comes from the ``key`` option, else ``ALPHAVANTAGE_API_KEY``, else Torch Trader settings
(``TORCHTRADER_ALPHAVANTAGE_KEY`` / TOML); a Prefect Secret block is resolved by the task layer and
passed as ``key``. The key sits in every request URL, so no URL or library message is ever repeated in
an error or log line without the key scrubbed out.

alpha_vantage 3.0 calls ``requests.get`` with no timeout and reads the body as JSON whatever the HTTP
status, so 5xx pages and hung connections would look like garbage or hang forever. ``_TimeSeries``
overrides its single transport hook, ``_handle_api_call``, to add a timeout, check the status and
classify Alpha Vantage's in-band messages: ``Note``/``Information`` (rate limits) are transient,
``Error Message`` (bad symbol, bad call) and premium-only notices are permanent.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, ClassVar

import pandas as pd
import polars as pl
import requests
from alpha_vantage.timeseries import TimeSeries

from torchtrader.errors import SourceError, SourceUnavailableError
from torchtrader.lake.schema import empty_bars, to_canonical_bars
from torchtrader.sources.base import Source, check_range, clip_range

logger = logging.getLogger(__name__)

_INTRADAY = {"1m": "1min", "5m": "5min", "15m": "15min", "30m": "30min", "1h": "60min"}
_FIELDS = {"1. open": "open", "2. high": "high", "3. low": "low", "4. close": "close", "5. volume": "volume"}
_COMPACT_DAYS = 120  # "compact" returns the latest 100 bars: about 140 calendar days of trading
_RECENT_INTRADAY_DAYS = 25  # without ``month`` the intraday call returns roughly the last 30 days
_KEY_IN_URL = re.compile(r"(apikey=)[^&\s\"']+", re.IGNORECASE)


class _RedactApiKey(logging.Filter):
    """urllib3 logs every request line (query string included) at DEBUG: blank out ``apikey=...``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "apikey=" in message.lower():
            record.msg, record.args = _KEY_IN_URL.sub(r"\1***", message), None
        return True


def _install_redaction() -> None:
    target = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(existing, _RedactApiKey) for existing in target.filters):
        target.addFilter(_RedactApiKey())


class _TimeSeries(TimeSeries):  # type: ignore[misc]
    """TimeSeries whose HTTP call has a timeout, a status check and Torch Trader error types."""

    def __init__(self, key: str, *, timeout: float, session: requests.Session) -> None:
        super().__init__(key=key, output_format="pandas")
        self._timeout = timeout
        self._session = session

    def _scrub(self, text: str) -> str:
        return " ".join(text.replace(self.key, "***").split())[:200]

    def _handle_api_call(self, url: str) -> dict[str, Any]:
        try:
            response = self._session.get(url, proxies=self.proxy, headers=self.headers, timeout=self._timeout)
        except requests.Timeout:
            raise SourceUnavailableError(f"alphavantage: no answer within {self._timeout:g}s") from None
        except requests.ConnectionError as error:
            raise SourceUnavailableError(
                f"alphavantage: connection failed ({type(error).__name__})"
            ) from None
        except requests.RequestException as error:
            raise SourceError(f"alphavantage: request failed ({type(error).__name__})") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise SourceUnavailableError(
                f"alphavantage: HTTP {response.status_code} {response.reason or ''}".rstrip()
            )
        if response.status_code >= 400:
            raise SourceError(f"alphavantage: HTTP {response.status_code} {response.reason or ''}".rstrip())
        try:
            payload = response.json()
        except ValueError:
            raise SourceError(f"alphavantage: garbage response (not JSON): {response.text[:60]!r}") from None
        if not isinstance(payload, dict) or not payload:
            raise SourceError("alphavantage: garbage response (empty or not a JSON object)")
        if "Error Message" in payload:
            raise SourceError(f"alphavantage: {self._scrub(str(payload['Error Message']))}")
        for field in ("Note", "Information"):
            if field in payload:
                message = self._scrub(str(payload[field]))
                if "premium" in message.lower() or "apikey is invalid" in message.lower():
                    raise SourceError(f"alphavantage: {message}")
                raise SourceUnavailableError(f"alphavantage rate limit: {message}")
        return payload


def resolve_key(key: str | None) -> str:
    """The API key from the option, the environment or settings; SourceError if there is none."""
    if key:
        return key
    env = os.environ.get("ALPHAVANTAGE_API_KEY")
    if env:
        return env
    from torchtrader.config import load_settings

    configured = load_settings().alphavantage_key
    if configured:
        return configured
    raise SourceError(
        "alphavantage needs an API key: set ALPHAVANTAGE_API_KEY or TORCHTRADER_ALPHAVANTAGE_KEY "
        "(or pass key=...)"
    )


class AlphaVantageSource(Source):
    """``get_source("alphavantage", key=None, outputsize=None, timeout=30.0)``."""

    name: ClassVar[str] = "alphavantage"

    def __init__(
        self,
        key: str | None = None,
        *,
        outputsize: str | None = None,
        timeout: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        if outputsize not in (None, "compact", "full"):
            raise SourceError(f"alphavantage outputsize is 'compact' or 'full', not {outputsize!r}")
        self._key = resolve_key(key)
        _install_redaction()
        self.outputsize = outputsize
        self.timeout = timeout
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"AlphaVantageSource(outputsize={self.outputsize!r})"  # never the key

    def fetch(
        self,
        symbol: str,
        timeframe: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pl.DataFrame:
        start_utc, end_utc = check_range(start, end)
        client = _TimeSeries(self._key, timeout=self.timeout, session=self._session)
        now = datetime.now(UTC)
        calls: list[Callable[[], tuple[Any, Any]]]
        if timeframe == "1d":
            recent = start_utc is not None and start_utc > now - timedelta(days=_COMPACT_DAYS)
            size = self.outputsize or ("compact" if recent else "full")
            calls = [partial(client.get_daily, symbol, outputsize=size)]
        elif timeframe in _INTRADAY:
            months = _months(start_utc, end_utc or now, now)
            request = partial(
                client.get_intraday,
                symbol,
                interval=_INTRADAY[timeframe],
                outputsize=self.outputsize or "full",
            )
            calls = [request] if months is None else [partial(request, month=month) for month in months]
        else:
            raise SourceError(
                f"alphavantage has no {timeframe!r} bars; use 1d or one of {', '.join(_INTRADAY)}"
            )
        frames = [self._to_bars(*self._call(call, symbol), symbol, timeframe) for call in calls]
        bars = pl.concat(frames) if frames else empty_bars()
        logger.info("alphavantage: %s %s: %d bars in %d call(s)", symbol, timeframe, bars.height, len(calls))
        return clip_range(bars.unique("ts", keep="last", maintain_order=True), start_utc, end_utc)

    def actions(self, symbol: str) -> pl.DataFrame:
        """Splits and dividends (``corporate_actions`` rows) from TIME_SERIES_DAILY_ADJUSTED."""
        from torchtrader.sources.actions import alphavantage_actions

        client = _TimeSeries(self._key, timeout=self.timeout, session=self._session)
        data, _ = self._call(partial(client.get_daily_adjusted, symbol, outputsize="full"), symbol)
        return alphavantage_actions(data, symbol)

    def _call(self, call: Callable[[], tuple[Any, Any]], symbol: str) -> tuple[Any, Any]:
        try:
            data, meta = call()
        except (SourceError, SourceUnavailableError):
            raise
        except (KeyError, ValueError, TypeError, AttributeError) as error:
            raise SourceError(
                f"alphavantage {symbol}: unexpected response ({type(error).__name__}: missing time series?)"
            ) from None
        return data, meta

    def _to_bars(self, data: Any, meta: Any, symbol: str, timeframe: str) -> pl.DataFrame:
        if not isinstance(data, pd.DataFrame) or not set(_FIELDS) <= set(data.columns):
            raise SourceError(f"alphavantage {symbol}: unexpected response (no {', '.join(_FIELDS)} columns)")
        if data.empty:
            return empty_bars()
        try:
            index = pd.DatetimeIndex(pd.to_datetime(data.index))
            values = {name: pd.to_numeric(data[field], errors="raise") for field, name in _FIELDS.items()}
        except (ValueError, TypeError):
            raise SourceError(
                f"alphavantage {symbol}: unexpected response (unparsable dates or numbers)"
            ) from None
        frame = pd.DataFrame(values, index=index).sort_index()
        local = pd.DatetimeIndex(frame.index)
        if timeframe == "1d":
            stamps = local.normalize().tz_localize("UTC")
        else:
            zone = next(
                (str(v) for k, v in (meta or {}).items() if str(k).endswith("Time Zone")), "US/Eastern"
            )
            try:
                stamps = local.tz_localize(zone, ambiguous="infer", nonexistent="shift_forward").tz_convert(
                    "UTC"
                )
            except Exception as error:  # unknown zone names or impossible local times
                raise SourceError(
                    f"alphavantage {symbol}: cannot place times in {zone!r} ({type(error).__name__})"
                ) from None
        result = pl.DataFrame(
            {
                "ts": pl.Series(stamps.as_unit("us").tz_localize(None).to_numpy()),
                **{k: v.to_numpy() for k, v in frame.items()},
            }
        ).with_columns(pl.col("ts").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"))
        return to_canonical_bars(result, source=self.name, symbol=symbol, timeframe=timeframe)


def _months(start: datetime | None, end: datetime, now: datetime) -> list[str] | None:
    """YYYY-MM months to request for intraday history; None when the recent window covers it."""
    if start is None or start > now - timedelta(days=_RECENT_INTRADAY_DAYS):
        return None
    months = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months
