"""``ccxt``: OHLCV from any ccxt exchange (default binance), paginated with ``since``.

The loop asks for ``limit`` bars from ``since``, keeps those before ``end``, and moves ``since`` just past
the last bar returned, until a page is empty, stops advancing, or reaches ``end``. ``end=None`` means
"up to the last *closed* bar": the still-forming bar is left out so an upsert never stores a partial bar.

Only ccxt's ``NetworkError`` family (timeouts, 429, 5xx, DDoS protection) and its parent
``OperationFailed`` (binance maps an HTTP 500 with code -1000 there) are retried, with exponential
backoff, then surface as ``SourceUnavailableError``; ``ExchangeError`` (bad symbol, auth) and malformed
responses (``BadResponse``, non-JSON bodies) are permanent ``SourceError``. ``api_url`` points every
REST URL of the exchange at another host (a loopback server in tests: ``torchtrader.testing``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import ccxt
import polars as pl

from torchtrader.errors import SourceError, SourceUnavailableError
from torchtrader.lake.schema import empty_bars
from torchtrader.sources.base import Source, bars_from_columns, check_range, to_ms
from torchtrader.timeframes import timeframe_seconds

logger = logging.getLogger(__name__)

T = TypeVar("T")
_SECRET_FIELDS = ("apiKey", "secret", "password", "uid", "privateKey", "token")


def rewrite_api_urls(urls: Any, base_url: str) -> Any:
    """Every http(s) URL in a ccxt ``urls['api']`` tree re-rooted at ``base_url``, paths kept."""
    if isinstance(urls, Mapping):
        return {key: rewrite_api_urls(value, base_url) for key, value in urls.items()}
    if isinstance(urls, str) and urls.startswith(("http://", "https://")):
        parts = urlsplit(urls)
        return base_url.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
    return urls


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class CcxtSource(Source):
    """``get_source("ccxt", exchange="binance", exchange_options={...}, api_url=None, ...)``."""

    name: ClassVar[str] = "ccxt"

    def __init__(
        self,
        exchange: str = "binance",
        *,
        exchange_options: Mapping[str, Any] | None = None,
        api_url: str | None = None,
        limit: int = 1000,
        retries: int = 3,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if exchange not in ccxt.exchanges:
            raise SourceError(
                f"unknown ccxt exchange {exchange!r}; see ccxt.exchanges for the {len(ccxt.exchanges)} ids"
            )
        if limit < 1 or retries < 0 or backoff < 0:
            raise SourceError("ccxt source needs limit >= 1, retries >= 0 and backoff >= 0")
        self.exchange_id = exchange
        self.exchange_options = dict(exchange_options or {})
        self.api_url = api_url
        self.limit = limit
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        self._exchange: Any = None

    def __repr__(self) -> str:
        # exchange_options may carry credentials: never part of the repr
        return f"CcxtSource(exchange={self.exchange_id!r}, api_url={self.api_url!r})"

    @property
    def exchange(self) -> Any:
        """The ccxt exchange instance (built on first use, then reused so markets load once)."""
        if self._exchange is None:
            # enableLastJsonResponse: ccxt turns a non-JSON body into an empty candle list, so the only
            # way to tell "no bars" from "garbage" is to look at what was actually parsed.
            config: dict[str, Any] = {"enableRateLimit": True, "enableLastJsonResponse": True}
            if self.api_url is not None and self.exchange_id == "binance":
                # A loopback server answers the spot API only; real binance would also be asked for futures
                # markets and, with a key, for wallet currencies and margin pairs.
                config["options"] = {
                    "defaultType": "spot",
                    "fetchMarkets": {"types": ["spot"]},
                    "fetchCurrencies": False,
                    "fetchMargins": False,
                }
            config.update(self.exchange_options)
            exchange = getattr(ccxt, self.exchange_id)(config)
            if self.api_url is not None:
                exchange.urls["api"] = rewrite_api_urls(exchange.urls["api"], self.api_url)
            self._exchange = exchange
        return self._exchange

    def _scrub(self, text: str) -> str:
        for field in _SECRET_FIELDS:
            value = self.exchange_options.get(field)
            if isinstance(value, str) and value:
                text = text.replace(value, "***")
        return _one_line(text)

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """Run one exchange call, retrying only ccxt's NetworkError family."""
        attempts = self.retries + 1
        for attempt in range(attempts):
            try:
                return call()
            except (ccxt.NetworkError, ccxt.OperationFailed) as error:
                if isinstance(error, ccxt.BadResponse):
                    raise SourceError(
                        f"ccxt {self.exchange_id}: {what}: garbage response: {self._scrub(str(error))}"
                    ) from None
                reason = f"{type(error).__name__}: {self._scrub(str(error))}"
                if attempt + 1 == attempts:
                    raise SourceUnavailableError(
                        f"ccxt {self.exchange_id}: {what} failed after {attempts} attempt(s): {reason}"
                    ) from None
                delay = self.backoff * 2**attempt
                logger.warning(
                    "ccxt %s: %s: %s; retry %d in %.1fs", self.exchange_id, what, reason, attempt + 1, delay
                )
                self._sleep(delay)
            except ccxt.BaseError as error:
                raise SourceError(
                    f"ccxt {self.exchange_id}: {what}: {type(error).__name__}: {self._scrub(str(error))}"
                ) from None
            except (TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
                # ccxt parses the body itself; a garbage body can surface as a plain Python error
                raise SourceError(
                    f"ccxt {self.exchange_id}: {what}: unexpected response ({type(error).__name__})"
                ) from None
        raise AssertionError("unreachable")

    def symbols(self) -> list[str]:
        markets = self._call("load markets", lambda: self.exchange.load_markets())
        return sorted(markets)

    def fetch(
        self,
        symbol: str,
        timeframe: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pl.DataFrame:
        """Bars in [start, end); start None = the exchange's earliest bar, end None = the last closed bar."""
        start_utc, end_utc = check_range(start, end)
        step_ms = timeframe_seconds(timeframe) * 1000
        exchange = self.exchange
        self._call(f"load markets for {symbol}", lambda: exchange.load_markets())
        timeframes = getattr(exchange, "timeframes", None) or {}
        if timeframes and timeframe not in timeframes:
            raise SourceError(
                f"ccxt {self.exchange_id} has no timeframe {timeframe!r}; it offers {', '.join(timeframes)}"
            )
        end_ms = to_ms(end_utc) if end_utc is not None else (to_ms(datetime.now(UTC)) // step_ms) * step_ms
        since = to_ms(start_utc) if start_utc is not None else 0
        rows: list[list[Any]] = []
        while since < end_ms:
            cursor = since
            moment = datetime.fromtimestamp(cursor / 1000, UTC)
            page = self._call(
                f"fetch_ohlcv {symbol} {timeframe} since {moment:%Y-%m-%dT%H:%M:%S}Z",
                partial(exchange.fetch_ohlcv, symbol, timeframe, cursor, self.limit),
            )
            if getattr(exchange, "last_json_response", ()) is None and getattr(
                exchange, "last_http_response", None
            ):
                body = self._scrub(str(exchange.last_http_response))[:80]
                raise SourceError(f"ccxt {self.exchange_id}: {symbol}: garbage response (not JSON): {body!r}")
            page = [row for row in self._checked(page, symbol) if row[0] >= cursor]
            if not page:
                break
            rows.extend(row for row in page if row[0] < end_ms)
            last = max(row[0] for row in page)
            if last + step_ms >= end_ms:
                break
            since = last + 1
        logger.info("ccxt %s: %s %s: %d bars", self.exchange_id, symbol, timeframe, len(rows))
        return self._frame(rows, symbol, timeframe)

    def _checked(self, page: Any, symbol: str) -> list[list[Any]]:
        """The page as [[ms, o, h, l, c, v], ...]; anything else is a garbage response."""
        if not isinstance(page, list) or not all(
            isinstance(row, list | tuple) and len(row) >= 6 and isinstance(row[0], int) for row in page
        ):
            raise SourceError(
                f"ccxt {self.exchange_id}: {symbol}: unexpected OHLCV response (not [[ms, o, h, l, c, v]...])"
            )
        return [list(row[:6]) for row in page]

    def _frame(self, rows: list[list[Any]], symbol: str, timeframe: str) -> pl.DataFrame:
        if not rows:
            return empty_bars()
        try:
            columns = {
                "ts": [int(row[0]) for row in rows],
                **{
                    name: [None if row[i] is None else float(row[i]) for row in rows]
                    for i, name in enumerate(("open", "high", "low", "close", "volume"), start=1)
                },
            }
        except (TypeError, ValueError):
            raise SourceError(
                f"ccxt {self.exchange_id}: {symbol}: OHLCV values that are not numbers"
            ) from None
        frame = bars_from_columns(columns, source=self.name, symbol=symbol, timeframe=timeframe)
        return frame.unique("ts", keep="first", maintain_order=True).sort("ts")
