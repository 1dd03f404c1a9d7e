"""The loopback Binance's trading endpoints, driven by the real ccxt client (and raw HTTP for refusals)."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import ccxt
import pytest

from torchtrader.sources.ccxt_source import rewrite_api_urls
from torchtrader.testing.exchange import LoopbackExchange
from torchtrader.testing.faults import FaultPlan

BTC = "BTC/USDT"


@pytest.fixture
def venue() -> Iterator[LoopbackExchange]:
    with LoopbackExchange(("BTC/USDT", "ETH/USDT"), manual=True, seed=3, balances={"USDT": 10_000.0}) as ex:
        yield ex


def client(venue: LoopbackExchange, secret: str | None = None) -> Any:
    exchange = ccxt.binance(
        {
            "apiKey": venue.api_key,
            "secret": secret or venue.api_secret,
            "options": {
                "defaultType": "spot",
                "fetchMarkets": {"types": ["spot"]},
                "fetchCurrencies": False,
                "fetchMargins": False,
                "warnOnFetchOpenOrdersWithoutSymbol": False,
            },
        }
    )
    exchange.urls["api"] = rewrite_api_urls(exchange.urls["api"], venue.url)
    return exchange


def signed(venue: LoopbackExchange, path: str, query: str, *, secret: str | None = None) -> tuple[int, Any]:
    signature = hmac.new((secret or venue.api_secret).encode(), query.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{venue.url}{path}?{query}&signature={signature}", headers={"X-MBX-APIKEY": venue.api_key}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_market_buy_fills_at_the_forming_bars_open_with_fees_in_quote(venue: LoopbackExchange) -> None:
    ex = client(venue)
    forming = venue.clock() // venue.step_ms * venue.step_ms
    bars = venue.bars.filter(venue.bars["symbol"] == BTC)
    expected_price = float(bars.filter(bars["ts"].dt.epoch("ms") == forming)["open"][0])
    order = ex.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "t-1"})
    assert (order["status"], order["filled"], order["clientOrderId"]) == ("closed", 0.01, "t-1")
    assert order["average"] == pytest.approx(expected_price, rel=1e-8)
    # cash: 10000 - 0.01 × price × 1.001 (10 bps in USDT); coins: exactly 0.01
    balance = ex.fetch_balance()
    assert balance["USDT"]["free"] == pytest.approx(10_000 - 0.01 * expected_price * 1.001, abs=1e-6)
    assert balance["BTC"]["total"] == 0.01
    assert ex.fetch_order(None, BTC, {"clientOrderId": "t-1"})["status"] == "closed"
    trades = ex.fetch_my_trades(BTC)
    assert [(t["order"], t["amount"]) for t in trades] == [(order["id"], 0.01)]


def test_limit_orders_rest_lock_funds_fill_on_a_later_bar_and_cancel(venue: LoopbackExchange) -> None:
    ex = client(venue)
    price = ex.fetch_ohlcv(BTC, "1m", None, 1)[-1][4]
    low = round(price * 0.5, 2)
    resting = ex.create_order(BTC, "limit", "buy", 0.01, low, {"clientOrderId": "rest-1"})
    assert resting["status"] == "open"
    assert ex.fetch_balance()["USDT"]["used"] == pytest.approx(0.01 * low * 1.001, abs=1e-6)
    assert [o["clientOrderId"] for o in ex.fetch_open_orders()] == ["rest-1"]
    canceled = ex.cancel_order(None, BTC, {"clientOrderId": "rest-1"})
    assert canceled["status"] == "canceled" and ex.fetch_balance()["USDT"]["free"] == 10_000
    # a limit just under the market fills once a later bar trades down through it. The seeded bars are
    # fixed in absolute time and the manual clock starts from the wall clock, so the path ahead differs
    # from minute to minute: go to the bar of the next 500 after which the market dips most within 50
    # bars (a fill counts the bars opening after the order: from two after the last closed one).
    bars = venue.bars.filter(venue.bars["symbol"] == BTC)
    forming = venue.clock() // venue.step_ms * venue.step_ms
    ahead = bars.filter(bars["ts"].dt.epoch("ms") >= forming).head(500)  # [0] is the forming bar
    close, low = ahead["close"].to_numpy(), ahead["low"].to_numpy()
    dips = [close[i] - low[i + 2 : i + 52].min() for i in range(len(ahead) - 52)]
    peak = max(range(len(dips)), key=dips.__getitem__)
    venue.advance(peak + 1)  # bar `peak` has closed: the market stands at its close
    price = ex.fetch_ohlcv(BTC, "1m", None, 1)[-1][4]
    assert price == pytest.approx(close[peak])
    target = round(float(low[peak + 2 : peak + 52].min()) + 0.01, 2)
    assert target < price, "the seeded path must dip below the market somewhere in 500 bars"
    ex.create_order(BTC, "limit", "buy", 0.01, target, {"clientOrderId": "rest-2"})
    venue.advance(51)
    filled = ex.fetch_order(None, BTC, {"clientOrderId": "rest-2"})
    assert filled["status"] == "closed" and filled["average"] <= target


def test_bad_signature_key_and_stale_timestamp_are_refused(venue: LoopbackExchange) -> None:
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        client(venue, secret="not-the-secret").fetch_balance()
    now = int(time.time() * 1000)
    assert signed(venue, "/api/v3/account", f"timestamp={now}")[0] == 200
    assert signed(venue, "/api/v3/account", f"timestamp={now}", secret="x")[1]["code"] == -1022
    assert signed(venue, "/api/v3/account", f"timestamp={now - 60_000}")[1]["code"] == -1021
    assert signed(venue, "/api/v3/account", f"timestamp={now - 60_000}&recvWindow=59000")[1]["code"] == -1021
    status, body = signed(venue, "/api/v3/account", "recvWindow=5000")
    assert (status, body["code"]) == (400, -1102)
    request = urllib.request.Request(f"{venue.url}/api/v3/account?timestamp={now}&signature=00")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert json.loads(refused.value.read())["code"] == -2014  # no API key header


def test_duplicate_client_ids_are_refused_even_after_the_order_is_done(venue: LoopbackExchange) -> None:
    ex = client(venue)
    ex.create_order(BTC, "market", "buy", 0.001, None, {"clientOrderId": "dup-1"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        ex.create_order(BTC, "market", "buy", 0.001, None, {"clientOrderId": "dup-1"})
    assert venue.trading.refused_client_ids == ["dup-1"]
    assert len(ex.fetch_orders(BTC)) == 1


@pytest.mark.parametrize(
    ("amount", "price", "match"),
    [
        (0.000015, None, "LOT_SIZE"),  # not on the 0.00001 step
        (0.00001, None, "NOTIONAL"),  # ~0.2 USDT < 5 USDT minimum
        (0.01, 123.456, "PRICE_FILTER"),  # not on the 0.01 tick
        (10.0, None, "insufficient balance"),  # far more than 10 000 USDT buys
    ],
)
def test_filters_and_balance_are_enforced(
    venue: LoopbackExchange, amount: float, price: float | None, match: str
) -> None:
    ex = client(venue)
    ex.load_markets()
    ex.markets[BTC]["precision"] = {"amount": 1e-8, "price": 1e-8}  # let the bad values through ccxt
    with pytest.raises(ccxt.ExchangeError, match=match):
        ex.create_order(BTC, "limit" if price else "market", "buy", amount, price, {"clientOrderId": "f-1"})
    assert venue.trading.book.orders == []


def test_partial_fill_then_the_rest_on_the_next_bar(venue: LoopbackExchange) -> None:
    ex = client(venue)
    venue.faults.force("partial")
    order = ex.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "p-1"})
    assert (order["status"], order["filled"], order["remaining"]) == ("open", 0.005, 0.005)
    venue.advance(1)
    done = ex.fetch_order(None, BTC, {"clientOrderId": "p-1"})
    assert (done["status"], done["filled"]) == ("closed", 0.01)
    assert len(ex.fetch_my_trades(BTC)) == 2


def test_seeded_fault_rates_repeat_exactly() -> None:
    def fired(seed: int) -> list[bool]:
        plan = FaultPlan.parse("429=0.3,5xx=0.1", seed=seed)
        return [plan.roll("429") for _ in range(50)]

    assert fired(5) == fired(5)
    assert fired(5) != fired(6)
    assert 5 <= sum(fired(5)) <= 25


def test_runnable_exchange_serves_bars_on_its_clock_and_stops_on_sigterm() -> None:
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "torchtrader.testing.exchange",
            "--port",
            "0",
            "--symbols",
            "BTC/USDT",
            "--bar-seconds",
            "0.5",
            "--seed",
            "4",
            "--api-key",
            "k1",
            "--api-secret",
            "s1",
            "--balance",
            "USDT=500",
            "--faults",
            "latency=0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("listening on http://127.0.0.1:"), line + process.stderr.read()
            url = line.split()[-1]
            ex = ccxt.binance(
                {
                    "apiKey": "k1",
                    "secret": "s1",
                    "options": {
                        "defaultType": "spot",
                        "fetchMarkets": {"types": ["spot"]},
                        "fetchCurrencies": False,
                        "fetchMargins": False,
                    },
                }
            )
            ex.urls["api"] = rewrite_api_urls(ex.urls["api"], url)
            first = ex.fetch_ohlcv(BTC, "1m", None, 5)[-1][0]
            assert ex.fetch_balance()["USDT"]["free"] == 500
            deadline = time.monotonic() + 60  # a new bar every 0.5 s of wall time
            while ex.fetch_ohlcv(BTC, "1m", None, 5)[-1][0] == first and time.monotonic() < deadline:
                time.sleep(0.2)
            assert ex.fetch_ohlcv(BTC, "1m", None, 5)[-1][0] > first
            assert ex.fetch_ohlcv(BTC, "1m", None, 5)[-1][0] < time.time() * 1000  # served bars are closed
        finally:
            process.terminate()
            assert process.wait(timeout=30) == 0


def test_runnable_exchange_refuses_bad_arguments_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "torchtrader.testing.exchange", "--faults", "meteor=0.5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "unknown fault kind 'meteor'" in result.stderr
