"""The paper venue: the backtest's fill rules on live bars, a cash account, and persistence.

Bars are hand-written; every expected number is worked out in the test from the fill rules
(next bar's open, slippage in bps, fee on notional)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from torchtrader.bots.broker import InstrumentRules, OrderRequest
from torchtrader.bots.paper import PaperBar, PaperBroker
from torchtrader.bots.store import StateStore
from torchtrader.errors import InsufficientFundsError, OrderRejectedError

T0 = datetime(2024, 3, 1, tzinfo=UTC)


class ListFeed:
    """A price feed over bars that tests append to as time passes."""

    def __init__(self, *closes: float) -> None:
        self.bars: list[PaperBar] = []
        for close in closes:
            self.add(close, close)

    def add(self, open_: float, close: float, low: float | None = None, high: float | None = None) -> None:
        ts = T0 + timedelta(hours=len(self.bars))
        self.bars.append(PaperBar(ts, open_, high or max(open_, close), low or min(open_, close), close))

    def last_bar(self, symbol: str) -> PaperBar | None:
        return self.bars[-1] if self.bars else None

    def next_bar(self, symbol: str, after: datetime | None) -> PaperBar | None:
        return next((b for b in self.bars if after is None or b.ts > after), None)


def _broker(state_url: str, feed: ListFeed, **kwargs: float) -> PaperBroker:
    return PaperBroker(
        StateStore(state_url), "acct", feed, initial_cash=kwargs.pop("cash", 1_000.0), **kwargs
    )


def test_a_market_buy_waits_for_the_next_bar_and_fills_at_its_open(state_url: str) -> None:
    feed = ListFeed(100.0)
    broker = _broker(state_url, feed, fee=0.001, slippage_bps=10.0)
    state = broker.submit(OrderRequest("o1", "ETH/USDT", "buy", 5.0))
    assert (state.status, state.filled_qty) == ("new", 0.0)
    assert broker.fills("ETH/USDT") == []
    feed.add(104.0, 106.0)
    fill = broker.fills("ETH/USDT")[0]
    price = 104.0 * (1 + 10 / 1e4)
    assert (fill.ts, fill.qty, fill.price) == (feed.bars[1].ts, 5.0, pytest.approx(price))
    assert fill.fee == pytest.approx(0.001 * 5.0 * price)
    assert broker.balances()["USDT"].total == pytest.approx(1_000.0 - 5.0 * price * 1.001)
    assert broker.positions()["ETH/USDT"].qty == 5.0
    looked = broker.lookup("o1", "ETH/USDT")
    assert looked is not None and looked.status == "filled"


def test_a_sell_fills_below_the_open_by_the_slippage(state_url: str) -> None:
    feed = ListFeed(100.0)
    broker = _broker(state_url, feed, slippage_bps=20.0)
    broker.submit(OrderRequest("b", "ETH/USDT", "buy", 2.0))
    feed.add(100.0, 100.0)
    broker.submit(OrderRequest("s", "ETH/USDT", "sell", 2.0))
    feed.add(110.0, 111.0)
    sell = broker.fills("ETH/USDT")[-1]
    assert sell.price == pytest.approx(110.0 * (1 - 20 / 1e4))
    cash = 1_000.0 - 2 * 100.0 * 1.002 + 2 * 110.0 * 0.998
    assert broker.balances()["USDT"].total == pytest.approx(cash)
    assert broker.positions() == {}


@pytest.mark.parametrize(
    ("side", "qty", "error"),
    [
        ("buy", 10.0, InsufficientFundsError),  # 10 × 100 × 1.01 > 1000
        ("sell", 1.0, InsufficientFundsError),  # nothing held
        ("buy", 0.0, OrderRejectedError),
    ],
)
def test_orders_the_cash_account_cannot_carry_are_refused(
    state_url: str, side: str, qty: float, error: type[Exception]
) -> None:
    broker = _broker(state_url, ListFeed(100.0), fee=0.01)
    with pytest.raises(error):
        broker.submit(OrderRequest("x", "ETH/USDT", side, qty))  # type: ignore[arg-type]
    assert broker.open_orders() == []
    assert broker.balances()["USDT"].total == 1_000.0


def test_a_buy_that_fits_only_without_fees_is_refused(state_url: str) -> None:
    broker = _broker(state_url, ListFeed(100.0), fee=0.01)
    with pytest.raises(InsufficientFundsError, match="with fees"):
        broker.submit(OrderRequest("x", "ETH/USDT", "buy", 9.95))
    assert broker.submit(OrderRequest("y", "ETH/USDT", "buy", 9.9)).status == "new"


def test_a_duplicate_client_order_id_is_refused(state_url: str) -> None:
    broker = _broker(state_url, ListFeed(100.0))
    broker.submit(OrderRequest("dup", "ETH/USDT", "buy", 1.0))
    with pytest.raises(OrderRejectedError, match="duplicate client order id"):
        broker.submit(OrderRequest("dup", "ETH/USDT", "buy", 1.0))
    assert len(broker.open_orders()) == 1


def test_a_gap_up_fills_what_the_cash_affords_and_expires_the_rest(state_url: str) -> None:
    feed = ListFeed(100.0)
    broker = _broker(state_url, feed)
    broker.submit(OrderRequest("o", "ETH/USDT", "buy", 10.0))
    feed.add(125.0, 125.0)
    state = broker.lookup("o", "ETH/USDT")
    assert state is not None
    assert (state.status, state.filled_qty) == ("expired", pytest.approx(8.0))
    assert broker.balances()["USDT"].total == pytest.approx(0.0, abs=1e-6)


def test_the_amount_step_rounds_orders_down(state_url: str) -> None:
    rules = {"ETH/USDT": InstrumentRules("ETH/USDT", "ETH", "USDT", 0.1, 0.01, 0.1, 5.0, 0.0)}
    broker = PaperBroker(StateStore(state_url), "acct", ListFeed(100.0), initial_cash=1_000.0, rules=rules)
    assert broker.submit(OrderRequest("o", "ETH/USDT", "buy", 1.2345)).qty == pytest.approx(1.2)
    with pytest.raises(OrderRejectedError, match="minimum"):
        broker.submit(OrderRequest("p", "ETH/USDT", "buy", 0.04))


def test_a_limit_buy_fills_only_when_a_bar_trades_through_it(state_url: str) -> None:
    feed = ListFeed(100.0)
    broker = _broker(state_url, feed)
    broker.submit(OrderRequest("l", "ETH/USDT", "buy", 1.0, "limit", 95.0))
    feed.add(99.0, 98.0, low=96.0)
    assert broker.fills("ETH/USDT") == []
    feed.add(97.0, 94.0, low=93.0)
    assert broker.fills("ETH/USDT")[0].price == 95.0


def test_the_account_survives_a_restart(state_url: str) -> None:
    feed = ListFeed(100.0)
    first = _broker(state_url, feed)
    first.submit(OrderRequest("o", "ETH/USDT", "buy", 3.0))
    feed.add(100.0, 100.0)
    first.fills("ETH/USDT")
    again = _broker(state_url, feed, cash=99_999.0)  # initial cash only seeds a new account
    assert again.balances()["USDT"].total == pytest.approx(700.0)
    assert again.positions()["ETH/USDT"].qty == 3.0
    assert [f.fill_id for f in again.fills("ETH/USDT")] == ["acct-P1-1"]
