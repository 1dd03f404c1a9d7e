"""AlpacaBroker through the real alpaca-py clients against the loopback Alpaca server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from torchtrader.bots.alpaca_broker import AlpacaBroker
from torchtrader.bots.broker import OrderRequest
from torchtrader.errors import (
    AmbiguousOrderError,
    ExchangeError,
    InsufficientFundsError,
    OrderRejectedError,
    VenueUnavailableError,
)
from torchtrader.testing.alpaca_server import AlpacaAsset, AlpacaServer

KEY, SECRET = "PKLOOPBACK123", "alpaca-secret-xyz789"
NOW = datetime.now(UTC)


@pytest.fixture
def alpaca() -> Iterator[AlpacaServer]:
    assets = {"AAPL": AlpacaAsset("AAPL"), "BRK": AlpacaAsset("BRK", fractionable=False)}
    with AlpacaServer(
        {"AAPL": 200.0, "BRK": 1_000.0}, cash=10_000.0, api_key=KEY, api_secret=SECRET, assets=assets
    ) as server:
        server.faults.hang_s = 1.0
        yield server


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def broker(alpaca: AlpacaServer, **options: object) -> AlpacaBroker:
    return AlpacaBroker(api_key=KEY, secret=SECRET, api_url=alpaca.url, **options)  # type: ignore[arg-type]


def order_posts(alpaca: AlpacaServer) -> int:
    return sum(1 for r in alpaca.server.requests if (r.method, r.path) == ("POST", "/v2/orders"))


def test_asset_rules_fractionable_and_whole_shares(alpaca: AlpacaServer) -> None:
    b = broker(alpaca)
    aapl, brk = b.rules("AAPL"), b.rules("BRK")
    assert (aapl.amount_step, aapl.min_notional) == (1e-9, 1.0)  # fractional, $1 minimum
    assert (brk.amount_step, brk.min_amount, brk.min_notional) == (1.0, 1.0, 0.0)  # whole shares only
    assert aapl.fee_rate == 0.0 and aapl.quote == "USD"


def test_buy_lookup_fills_positions_and_cash(alpaca: AlpacaServer) -> None:
    b = broker(alpaca)
    state = b.submit(OrderRequest("al-1", "AAPL", "buy", 10.5))
    assert (state.status, state.filled_qty, state.avg_fill_price) == ("filled", 10.5, 200.0)
    assert b.lookup("al-1", "AAPL") == state and b.lookup("never", "AAPL") is None
    assert b.positions()["AAPL"].qty == 10.5
    assert b.balances()["USD"].total == 10_000 - 10.5 * 200  # 7 900, commission-free
    fills = b.fills("AAPL")
    assert [(f.client_order_id, f.qty, f.price) for f in fills] == [("al-1", 10.5, 200.0)]
    # whole shares: 2.7 BRK rounds down to 2
    assert b.submit(OrderRequest("al-2", "BRK", "buy", 2.7)).qty == 2.0


@pytest.mark.parametrize(
    ("symbol", "qty", "error", "match"),
    [
        ("BRK", 0.5, OrderRejectedError, "below the minimum amount"),  # not fractionable
        ("AAPL", 0.004, OrderRejectedError, "below the minimum notional 1"),  # $0.80 < $1
        ("AAPL", 60.0, InsufficientFundsError, "more than the free"),  # $12 000 > $10 000
    ],
)
def test_orders_the_venue_would_refuse_never_leave(
    alpaca: AlpacaServer, symbol: str, qty: float, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        broker(alpaca).submit(OrderRequest("pre", symbol, "buy", qty))
    assert order_posts(alpaca) == 0


def test_market_clock_is_respected(alpaca: AlpacaServer) -> None:
    b = broker(alpaca)
    assert b.is_open(NOW)
    alpaca.set_open(False)
    assert not b.is_open(NOW)
    with pytest.raises(OrderRejectedError, match="market closed") as closed:
        b.submit(OrderRequest("cl-1", "AAPL", "buy", 1.0))
    assert "\n" not in str(closed.value) and order_posts(alpaca) == 0


@pytest.mark.parametrize(
    ("fault", "error"), [("reject", OrderRejectedError), ("insufficient", InsufficientFundsError)]
)
def test_venue_refusals_are_our_errors_and_not_retried(
    alpaca: AlpacaServer, fault: str, error: type[Exception]
) -> None:
    sleeps = Sleeps()
    b = broker(alpaca, sleep=sleeps)
    b.rules("AAPL")
    alpaca.faults.force(fault)
    with pytest.raises(error):
        b.submit(OrderRequest("ref", "AAPL", "buy", 1.0))
    assert order_posts(alpaca) == 1 and sleeps.delays == [] and alpaca.orders == []


def test_duplicate_client_id_returns_the_existing_order(alpaca: AlpacaServer) -> None:
    b = broker(alpaca)
    first = b.submit(OrderRequest("dup", "AAPL", "buy", 1.0))
    assert b.submit(OrderRequest("dup", "AAPL", "buy", 1.0)).venue_order_id == first.venue_order_id
    assert [o["client_order_id"] for o in alpaca.orders] == ["dup"]


def test_timeout_after_accept_is_ambiguous_then_lookup_finds_exactly_one(alpaca: AlpacaServer) -> None:
    b = broker(alpaca, timeout_s=0.5)
    b.rules("AAPL")
    alpaca.faults.force("accept_timeout")
    with pytest.raises(AmbiguousOrderError, match="look it up by client id"):
        b.submit(OrderRequest("amb", "AAPL", "buy", 1.0))
    assert order_posts(alpaca) == 1
    found = b.lookup("amb", "AAPL")
    assert found is not None and found.status == "filled"
    assert [o["client_order_id"] for o in alpaca.orders] == ["amb"]


def test_partial_fill_is_tracked_then_completed(alpaca: AlpacaServer) -> None:
    b = broker(alpaca)
    b.rules("AAPL")
    alpaca.faults.force("partial")
    state = b.submit(OrderRequest("part", "AAPL", "buy", 4.0))
    assert (state.status, state.filled_qty) == ("partially_filled", 2.0)
    assert [o.client_order_id for o in b.open_orders()] == ["part"]
    assert b.positions()["AAPL"].qty == 2.0
    alpaca.fill_rest("part")
    done = b.lookup("part", "AAPL")
    assert done is not None and (done.status, done.filled_qty) == ("filled", 4.0)
    assert [f.qty for f in b.fills("AAPL")] == [2.0, 2.0]


def test_rate_limits_back_off_by_retry_after_and_give_up_unavailable(alpaca: AlpacaServer) -> None:
    sleeps = Sleeps()
    b = broker(alpaca, sleep=sleeps, retries=2, backoff_s=0.25)
    alpaca.faults.retry_after_s = 2
    alpaca.faults.force("429", 2)
    assert b.balances()["USD"].free == 10_000
    assert sleeps.delays == [2.0, 2.0]
    alpaca.faults.force("5xx", 3)
    with pytest.raises(VenueUnavailableError, match="HTTP 500"):
        b.positions()


def test_bad_keys_are_one_line_and_secret_free(
    alpaca: AlpacaServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bad = AlpacaBroker(api_key=KEY, secret="nope-" + SECRET, api_url=alpaca.url)
    with pytest.raises(ExchangeError, match="check the API key") as caught:
        bad.balances()
    text = str(caught.value) + repr(bad) + caplog.text
    assert "\n" not in str(caught.value) and SECRET not in text and KEY not in text
