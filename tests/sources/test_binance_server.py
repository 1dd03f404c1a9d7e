"""The loopback Binance answers the documented klines semantics and injects faults on request."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from torchtrader.testing.binance_server import BinanceServer, Response
from torchtrader.testing.fixtures import load_json

START_MS = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
MINUTE_MS = 60_000


def get(server: BinanceServer, path: str, timeout: float = 5.0) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(server.url + path, timeout=timeout) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def open_times(rows: list[list[Any]]) -> list[int]:
    return [row[0] for row in rows]


def test_klines_rows_have_the_recorded_binance_shape(binance: BinanceServer) -> None:
    recorded = load_json("binance_klines_btcusdt_1m.json")
    status, rows = get(binance, f"/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime={START_MS}&limit=3")
    assert status == 200
    assert [[type(v) for v in row] for row in rows] == [[type(v) for v in row] for row in recorded]
    assert open_times(rows) == [START_MS, START_MS + MINUTE_MS, START_MS + 2 * MINUTE_MS]
    assert rows[0][6] == START_MS + MINUTE_MS - 1  # close time


def test_klines_window_semantics(binance: BinanceServer) -> None:
    base = "/api/v3/klines?symbol=BTCUSDT&interval=1m"
    # startTime: the first `limit` bars from it
    _, rows = get(binance, f"{base}&startTime={START_MS + 1}&limit=2")
    assert open_times(rows) == [START_MS + MINUTE_MS, START_MS + 2 * MINUTE_MS]
    # startTime and endTime: both inclusive on the open time
    _, rows = get(binance, f"{base}&startTime={START_MS}&endTime={START_MS + 3 * MINUTE_MS}")
    assert len(rows) == 4
    # endTime only: the last `limit` bars up to it
    _, rows = get(binance, f"{base}&endTime={START_MS + 10 * MINUTE_MS}&limit=3")
    assert open_times(rows) == [START_MS + m * MINUTE_MS for m in (8, 9, 10)]
    # neither: the latest 500 (the served day has 1440 bars)
    _, rows = get(binance, base)
    assert len(rows) == 500
    assert rows[-1][0] == START_MS + 1439 * MINUTE_MS


def test_klines_refuses_bad_requests_like_binance(binance: BinanceServer) -> None:
    assert get(binance, "/api/v3/klines?symbol=NOPEUSDT&interval=1m") == (
        400,
        {"code": -1121, "msg": "Invalid symbol."},
    )
    status, body = get(binance, "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1001")
    assert (status, body["code"]) == (400, -1130)
    status, body = get(binance, "/api/v3/nothing")
    assert status == 404


def test_exchange_info_lists_spot_symbols(binance: BinanceServer) -> None:
    status, info = get(binance, "/api/v3/exchangeInfo")
    assert status == 200
    assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT", "ETHUSDT"]
    assert info["symbols"][0]["baseAsset"] == "BTC"
    assert get(binance, "/api/v3/ping") == (200, {})
    assert abs(get(binance, "/api/v3/time")[1]["serverTime"] - BinanceServer.now_ms()) < 60_000


def test_faults_apply_to_the_next_matching_requests_only(binance: BinanceServer) -> None:
    binance.inject("500", times=1, path="/api/v3/klines")
    binance.inject("429", times=1)
    status, body = get(binance, "/api/v3/ping")
    assert (status, body["code"]) == (429, -1003)
    status, _ = get(binance, "/api/v3/klines?symbol=BTCUSDT&interval=1m")
    assert status == 500
    assert get(binance, "/api/v3/ping") == (200, {})


def test_garbage_and_hang_faults(binance: BinanceServer) -> None:
    binance.inject("garbage")
    with urllib.request.urlopen(binance.url + "/api/v3/ping", timeout=5) as reply:
        body = reply.read()
    assert body.startswith(b"<html>")
    with pytest.raises(ValueError):  # neither valid UTF-8 nor JSON
        json.loads(body)
    binance.inject("timeout")
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        urllib.request.urlopen(binance.url + "/api/v3/ping", timeout=0.2)
    with pytest.raises(ValueError, match="unknown fault"):
        binance.inject("418")


def test_routes_can_be_added_and_requests_are_recorded(binance: BinanceServer) -> None:
    binance.add_route("GET", "/api/v3/account", lambda request: Response(200, {"seen": request.params}))
    assert get(binance, "/api/v3/account?x=1") == (200, {"seen": {"x": "1"}})
    assert binance.requests[-1].path == "/api/v3/account"


def test_stops_cleanly_and_serves_extra_symbols() -> None:
    bars = pl.DataFrame(
        {
            "source": ["s"],
            "symbol": ["SOL/USDT"],
            "timeframe": ["1h"],
            "ts": [datetime(2024, 1, 1, tzinfo=UTC)],
            "open": [1.0],
            "high": [2.0],
            "low": [0.5],
            "close": [1.5],
            "volume": [10.0],
        }
    )
    with BinanceServer(bars) as server:
        url = server.url
        assert "SOLUSDT" in [s["symbol"] for s in get(server, "/api/v3/exchangeInfo")[1]["symbols"]]
        _, rows = get(server, "/api/v3/klines?symbol=SOLUSDT&interval=1h")
        assert rows[0][1:5] == ["1.00000000", "2.00000000", "0.50000000", "1.50000000"]
        assert (
            rows[0][6] == int((datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=1)).timestamp() * 1000) - 1
        )
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/api/v3/ping", timeout=1)
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.url
