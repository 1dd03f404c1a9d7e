"""The ccxt source drives the real ccxt binance client against the loopback exchange."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from torchtrader.errors import SourceError, SourceUnavailableError
from torchtrader.lake.schema import BARS_SCHEMA
from torchtrader.sources import get_source
from torchtrader.sources.ccxt_source import CcxtSource, rewrite_api_urls
from torchtrader.testing.binance_server import BinanceServer, binance_error

START = datetime(2024, 1, 1, tzinfo=UTC)
SIX_HOURS = START + timedelta(hours=6)


def expected(served: pl.DataFrame, symbol: str, start: datetime, end: datetime) -> pl.DataFrame:
    frame = served.filter(pl.col("symbol") == symbol, pl.col("ts") >= start, pl.col("ts") < end)
    return frame.with_columns(source=pl.lit("ccxt"))


def klines_calls(server: BinanceServer) -> int:
    return server.paths().count("/api/v3/klines")


def test_paginates_with_since_until_end(
    ccxt_source: CcxtSource, binance: BinanceServer, served_bars: pl.DataFrame
) -> None:
    bars = ccxt_source.fetch("BTC/USDT", "1m", START, SIX_HOURS)

    assert bars.schema == BARS_SCHEMA
    assert bars.height == 360
    assert bars["ts"][0] == START
    assert bars["ts"][-1] == SIX_HOURS - timedelta(minutes=1)  # end is exclusive
    assert bars["ts"].is_sorted()
    # 360 bars in pages of 100: 4 klines calls; the 4th reaches end, so no empty probe page
    assert klines_calls(binance) == 4
    starts = [int(r.params["startTime"]) for r in binance.requests if r.path == "/api/v3/klines"]
    assert starts == [
        int((START + timedelta(minutes=m)).timestamp() * 1000) + (m > 0) for m in (0, 99, 199, 299)
    ]
    # the server sends 8-decimal strings, so compare to that precision
    assert_frame_equal(bars, expected(served_bars, "BTC/USDT", START, SIX_HOURS), abs_tol=1e-8)


def test_start_inside_a_bar_begins_at_the_next_bar(ccxt_source: CcxtSource) -> None:
    bars = ccxt_source.fetch("BTC/USDT", "1m", START + timedelta(seconds=30), START + timedelta(minutes=5))
    assert bars["ts"].to_list() == [START + timedelta(minutes=m) for m in range(1, 5)]


def test_fetch_through_get_source_and_hourly_series(
    binance: BinanceServer, served_bars: pl.DataFrame
) -> None:
    source = get_source("ccxt", api_url=binance.url, backoff=0.0)
    bars = source.fetch("ETH/USDT", "1h", START, START + timedelta(days=3))
    assert bars.height == 72
    assert_frame_equal(
        bars, expected(served_bars, "ETH/USDT", START, START + timedelta(days=3)), abs_tol=1e-8
    )
    assert source.symbols() == ["BTC/USDT", "ETH/USDT"]


def test_range_without_bars_is_an_empty_canonical_frame(ccxt_source: CcxtSource) -> None:
    bars = ccxt_source.fetch(
        "BTC/USDT", "1m", datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 1, 2, tzinfo=UTC)
    )
    assert bars.is_empty()
    assert bars.schema == BARS_SCHEMA


def test_rate_limit_is_retried_then_succeeds(ccxt_source: CcxtSource, binance: BinanceServer) -> None:
    clean = ccxt_source.fetch("BTC/USDT", "1m", START, START + timedelta(minutes=50))
    calls_before = klines_calls(binance)
    binance.inject("429", times=2, path="/api/v3/klines")

    again = ccxt_source.fetch("BTC/USDT", "1m", START, START + timedelta(minutes=50))

    assert_frame_equal(again, clean)
    assert klines_calls(binance) - calls_before == 3  # two refused, one answered


def test_backoff_doubles_between_retries(binance: BinanceServer) -> None:
    waits: list[float] = []
    source = CcxtSource(api_url=binance.url, retries=3, backoff=0.5, sleep=waits.append)
    binance.inject("500", times=3, path="/api/v3/klines")
    bars = source.fetch("BTC/USDT", "1m", START, START + timedelta(minutes=3))
    assert bars.height == 3
    assert waits == [0.5, 1.0, 2.0]


def test_server_errors_exhaust_retries_as_unavailable(
    ccxt_source: CcxtSource, binance: BinanceServer
) -> None:
    binance.inject("500", times=3, path="/api/v3/klines")
    with pytest.raises(SourceUnavailableError, match="after 3 attempt") as caught:
        ccxt_source.fetch("BTC/USDT", "1m", START, START + timedelta(minutes=5))
    assert "\n" not in str(caught.value)
    assert "BTC/USDT" in str(caught.value)


def test_rate_limit_exhaustion_is_unavailable(ccxt_source: CcxtSource, binance: BinanceServer) -> None:
    binance.inject("429", times=3)
    with pytest.raises(SourceUnavailableError, match="429"):
        ccxt_source.fetch("BTC/USDT", "1m", START, START + timedelta(minutes=5))


def test_timeout_is_retried(ccxt_source: CcxtSource, binance: BinanceServer) -> None:
    binance.inject("timeout", times=1, path="/api/v3/klines")
    bars = ccxt_source.fetch("BTC/USDT", "1m", START, START + timedelta(minutes=5))
    assert bars.height == 5


def test_timeouts_exhausted_are_unavailable(ccxt_source: CcxtSource, binance: BinanceServer) -> None:
    binance.inject("timeout", times=3, path="/api/v3/klines")
    with pytest.raises(SourceUnavailableError, match="RequestTimeout"):
        ccxt_source.fetch("BTC/USDT", "1m", START, START + timedelta(minutes=5))


def test_garbage_body_is_a_permanent_error_not_an_empty_result(
    ccxt_source: CcxtSource, binance: BinanceServer
) -> None:
    binance.inject("garbage", times=1, path="/api/v3/klines")
    with pytest.raises(SourceError, match="garbage response") as caught:
        ccxt_source.fetch("BTC/USDT", "1m", START, START + timedelta(minutes=5))
    assert not isinstance(caught.value, SourceUnavailableError)
    assert klines_calls(binance) == 1  # permanent: not retried


def test_garbage_exchange_info_is_a_source_error(ccxt_source: CcxtSource, binance: BinanceServer) -> None:
    binance.inject("garbage", times=1, path="/api/v3/exchangeInfo")
    with pytest.raises(SourceError):
        ccxt_source.fetch("BTC/USDT", "1m", START, START + timedelta(minutes=5))


def test_unknown_symbol_is_permanent(ccxt_source: CcxtSource) -> None:
    with pytest.raises(SourceError, match="XRP/USDT") as caught:
        ccxt_source.fetch("XRP/USDT", "1m", START, START + timedelta(minutes=5))
    assert not isinstance(caught.value, SourceUnavailableError)


def test_unknown_timeframe_and_exchange_are_refused(ccxt_source: CcxtSource) -> None:
    with pytest.raises(SourceError, match="no timeframe '7m'"):
        ccxt_source.fetch("BTC/USDT", "7m", START, START + timedelta(hours=1))
    with pytest.raises(SourceError, match="unknown ccxt exchange 'notanexchange'"):
        CcxtSource("notanexchange")


def test_credentials_never_appear_in_errors_or_repr(binance: BinanceServer) -> None:
    key = "SEKRET-KEY-123"
    binance.add_route(
        "GET",
        "/api/v3/klines",
        lambda request: binance_error(401, -2015, f"Invalid API-key {key}, IP, or permissions"),
    )
    source = CcxtSource(api_url=binance.url, backoff=0.0, exchange_options={"apiKey": key, "secret": "shh"})
    with pytest.raises(SourceError) as caught:
        source.fetch("BTC/USDT", "1m", START, START + timedelta(minutes=5))
    assert key not in str(caught.value)
    assert "***" in str(caught.value)
    assert key not in repr(source)


def test_rewrite_api_urls_keeps_paths_and_non_urls() -> None:
    urls = {
        "public": "https://api.binance.com/api/v3",
        "fapiPublic": "https://fapi.binance.com/fapi/v1",
        "nested": {"x": "https://dapi.binance.com/dapi/v1?x=1"},
        "flag": 5,
    }
    assert rewrite_api_urls(urls, "http://127.0.0.1:9/") == {
        "public": "http://127.0.0.1:9/api/v3",
        "fapiPublic": "http://127.0.0.1:9/fapi/v1",
        "nested": {"x": "http://127.0.0.1:9/dapi/v1?x=1"},
        "flag": 5,
    }


def test_open_range_reads_from_the_first_bar_to_the_last_closed_one(
    ccxt_source: CcxtSource, binance: BinanceServer, served_bars: pl.DataFrame
) -> None:
    bars = ccxt_source.fetch("ETH/USDT", "1h")
    assert bars.height == 72
    assert_frame_equal(
        bars, expected(served_bars, "ETH/USDT", START, START + timedelta(days=3)), abs_tol=1e-8
    )
    first = next(r for r in binance.requests if r.path == "/api/v3/klines")
    assert first.params["startTime"] == "0"  # no start: from the exchange's earliest bar
    assert klines_calls(binance) == 2  # one full page, then an empty one ends the loop
