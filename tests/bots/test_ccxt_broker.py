"""CcxtBroker through the real ccxt client against the loopback Binance: rules, errors, faults."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from torchtrader.bots.broker import OrderRequest
from torchtrader.bots.ccxt_broker import CcxtBroker
from torchtrader.errors import (
    AmbiguousOrderError,
    ConfigError,
    ExchangeError,
    InsufficientFundsError,
    OrderRejectedError,
    VenueUnavailableError,
)
from torchtrader.testing.exchange import LoopbackExchange

BTC = "BTC/USDT"
KEY, SECRET = "key-5f1c0a9d", "secret-9a8b7c6d5e4f"


@pytest.fixture
def venue() -> Iterator[LoopbackExchange]:
    with LoopbackExchange(
        ("BTC/USDT", "ETH/USDT"),
        manual=True,
        seed=11,
        api_key=KEY,
        api_secret=SECRET,
        balances={"USDT": 1_000.0},
    ) as ex:
        ex.faults.hang_s = 1.0
        yield ex


class Sleeps:
    """Records back-off delays instead of waiting them out."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def broker(venue: LoopbackExchange, **options: object) -> CcxtBroker:
    return CcxtBroker("binance", api_key=KEY, secret=SECRET, api_url=venue.url, **options)  # type: ignore[arg-type]


def posts(venue: LoopbackExchange) -> int:
    return sum(1 for r in venue.server.requests if (r.method, r.path) == ("POST", "/api/v3/order"))


def test_rules_come_from_the_served_filters(venue: LoopbackExchange) -> None:
    rules = broker(venue).rules(BTC)
    assert (rules.base, rules.quote) == ("BTC", "USDT")
    assert (rules.amount_step, rules.price_step, rules.min_amount, rules.min_notional) == (
        1e-5,
        0.01,
        1e-5,
        5.0,
    )
    assert rules.fee_rate == 0.001


def test_round_trip_buy_sell_with_fills_balances_and_positions(venue: LoopbackExchange) -> None:
    b = broker(venue)
    bought = b.submit(OrderRequest("rt-buy", BTC, "buy", 0.0123456))
    assert (bought.status, bought.qty, bought.filled_qty) == ("filled", 0.01234, 0.01234)  # rounded down
    assert bought.fee == pytest.approx(0.01234 * bought.avg_fill_price * 0.001, rel=1e-6)  # type: ignore[operator]
    assert b.lookup("rt-buy", BTC) == bought
    assert b.lookup("never-sent", BTC) is None
    assert b.positions()[BTC].qty == 0.01234
    cash = b.balances()["USDT"].free
    assert cash == pytest.approx(1_000 - 0.01234 * bought.avg_fill_price * 1.001, abs=1e-6)  # type: ignore[operator]
    sold = b.submit(OrderRequest("rt-sell", BTC, "sell", 0.01234))
    assert sold.status == "filled" and BTC not in b.positions()
    fills = b.fills(BTC)
    assert [(f.client_order_id, f.side, f.qty) for f in fills] == [
        ("rt-buy", "buy", 0.01234),
        ("rt-sell", "sell", 0.01234),
    ]
    assert len({f.fill_id for f in fills}) == 2 and all(f.fee_currency == "USDT" for f in fills)
    assert b.cancel("rt-buy", BTC).status == "filled"  # already final: its state, not an error


def test_limit_order_rests_then_cancels(venue: LoopbackExchange) -> None:
    b = broker(venue)
    price = b.last_price(BTC)
    state = b.submit(OrderRequest("lim-1", BTC, "buy", 0.001, "limit", price * 0.5 + 0.004))
    assert state.status == "open"
    assert [o.client_order_id for o in b.open_orders()] == ["lim-1"]
    assert b.cancel("lim-1", BTC).status == "canceled" and b.open_orders(BTC) == []


@pytest.mark.parametrize(
    ("qty", "error", "match"),
    [
        (0.000001, OrderRejectedError, "below the minimum amount"),
        (0.0001, OrderRejectedError, "below the minimum notional"),  # ~1.6 USDT < 5
        (1.0, InsufficientFundsError, "more than the free"),  # ~16 000 USDT with 1 000 free
    ],
)
def test_orders_the_venue_would_refuse_never_leave(
    venue: LoopbackExchange, qty: float, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        broker(venue).submit(OrderRequest("pre-1", BTC, "buy", qty))
    assert posts(venue) == 0


@pytest.mark.parametrize(
    ("fault", "error"), [("reject", OrderRejectedError), ("insufficient", InsufficientFundsError)]
)
def test_venue_refusals_map_to_our_errors_and_are_not_retried(
    venue: LoopbackExchange, fault: str, error: type[Exception]
) -> None:
    venue.faults.force(fault)
    sleeps = Sleeps()
    with pytest.raises(error):
        broker(venue, sleep=sleeps).submit(OrderRequest("ref-1", BTC, "buy", 0.001))
    assert posts(venue) == 1 and sleeps.delays == []
    assert venue.trading.book.orders == []


def test_resending_the_same_client_id_returns_the_existing_order(venue: LoopbackExchange) -> None:
    b = broker(venue)
    first = b.submit(OrderRequest("same-1", BTC, "buy", 0.001))
    again = b.submit(OrderRequest("same-1", BTC, "buy", 0.001))
    assert again.venue_order_id == first.venue_order_id
    assert [o.client_order_id for o in venue.trading.book.orders] == ["same-1"]
    assert venue.trading.refused_client_ids == ["same-1"]


def test_timeout_after_accept_is_ambiguous_and_lookup_finds_exactly_one(venue: LoopbackExchange) -> None:
    b = broker(venue, timeout_s=0.5)
    venue.faults.force("accept_timeout")
    with pytest.raises(AmbiguousOrderError, match="look it up by client id"):
        b.submit(OrderRequest("amb-1", BTC, "buy", 0.001))
    assert posts(venue) == 1  # never resent
    found = b.lookup("amb-1", BTC)
    assert found is not None and found.status == "filled"
    assert [o.client_order_id for o in venue.trading.book.orders] == ["amb-1"]


def test_timeout_before_the_venue_saw_it_is_ambiguous_and_lookup_finds_none(venue: LoopbackExchange) -> None:
    b = broker(venue, timeout_s=0.5)
    venue.server.inject("timeout", path="/api/v3/order")  # held, then dropped unprocessed
    with pytest.raises(AmbiguousOrderError):
        b.submit(OrderRequest("amb-2", BTC, "buy", 0.01, "limit", 1000.0))
    assert b.lookup("amb-2", BTC) is None


def test_a_429_storm_backs_off_by_retry_after_then_succeeds(venue: LoopbackExchange) -> None:
    sleeps = Sleeps()
    b = broker(venue, sleep=sleeps, retries=4, backoff_s=0.25)
    b.rules(BTC)
    venue.faults.force("429", 3)  # the next three requests, whatever they are
    venue.faults.retry_after_s = 2
    assert b.balances()["USDT"].free == 1_000
    # exponential 0.25, 0.5, 1.0 — but never sooner than the venue's Retry-After of 2 s
    assert sleeps.delays == [2.0, 2.0, 2.0]
    assert venue.faults.fired["429"] == 3


def test_rate_limited_orders_are_resent_only_after_backing_off_and_give_up_unavailable(
    venue: LoopbackExchange,
) -> None:
    sleeps = Sleeps()
    b = broker(venue, sleep=sleeps, retries=2, backoff_s=1.0)
    b.rules(BTC), b.last_price(BTC), b.balances()
    venue.server.inject("429", times=3, path="/api/v3/order")  # Retry-After: 1
    with pytest.raises(VenueUnavailableError, match="still rate limited"):
        b.submit(OrderRequest("rl-1", BTC, "buy", 0.001))
    assert posts(venue) == 3 and sleeps.delays == [1.0, 2.0]  # 1 × 2**attempt, never below Retry-After 1 s
    assert venue.trading.book.orders == []
    # ccxt's throttler stays on: requests are spaced by rateLimit (50 ms) × endpoint weight (>= 0.2),
    # at least 10 ms each on average (one arrival can land a millisecond or two late: the clock it
    # spaces by has 1 ms steps, and the server's thread may be scheduled late; a loopback venue
    # without the throttler answers in 1-2 ms)
    arrivals = [r.received_at for r in venue.server.requests]
    assert len(arrivals) >= 5 and arrivals[-1] - arrivals[0] >= 0.010 * (len(arrivals) - 1)


def test_server_errors_on_reads_are_retried(venue: LoopbackExchange) -> None:
    sleeps = Sleeps()
    b = broker(venue, sleep=sleeps)
    b.rules(BTC)
    venue.faults.force("5xx", 2)
    assert b.open_orders(BTC) == []
    assert len(sleeps.delays) == 2


def test_partial_fill_is_tracked_and_the_rest_arrives_later(venue: LoopbackExchange) -> None:
    b = broker(venue)
    venue.faults.force("partial")
    state = b.submit(OrderRequest("part-1", BTC, "buy", 0.002))
    assert (state.status, state.filled_qty) == ("partially_filled", 0.001)
    assert [f.qty for f in b.fills(BTC)] == [0.001]
    venue.advance(1)
    done = b.lookup("part-1", BTC)
    assert done is not None and (done.status, done.filled_qty) == ("filled", 0.002)
    assert sum(f.qty for f in b.fills(BTC)) == pytest.approx(0.002)


def test_bad_credentials_are_one_line_without_the_secret(
    venue: LoopbackExchange, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sleeps = Sleeps()
    bad = CcxtBroker("binance", api_key=KEY, secret="wrong-" + SECRET, api_url=venue.url, sleep=sleeps)
    with pytest.raises(ExchangeError, match="check the API key") as caught:
        bad.balances()
    assert sleeps.delays == []  # an auth failure is not retried
    text = str(caught.value) + repr(bad) + caplog.text
    assert "\n" not in str(caught.value) and SECRET not in text and KEY not in text


def test_unknown_exchange_and_symbol() -> None:
    with pytest.raises(ConfigError, match="unknown ccxt exchange"):
        CcxtBroker("nope-exchange", api_key="k", secret="s")


def test_unknown_symbol_is_rejected(venue: LoopbackExchange) -> None:
    with pytest.raises(OrderRejectedError, match="unknown symbol 'DOGE/USDT'"):
        broker(venue).submit(OrderRequest("u-1", "DOGE/USDT", "buy", 1.0))
