"""``AlpacaBroker``: US stocks through the official ``alpaca-py`` SDK (paper endpoint by default).

The market clock is the venue's (``GET /v2/clock``): ``is_open`` is False while the market is closed
and ``submit`` then refuses with one line instead of queueing an order for the open. Orders follow the
asset's rules (``bots.rules``): whole shares unless the asset is fractionable, Alpaca's $1 minimum for
fractional orders, cost within the buying power. ``url_override`` points both the trading and the
market-data client at another host (a loopback server in tests: ``torchtrader.testing.alpaca_server``).

Errors: 429 and transport failures of reads are retried with back-off (honouring ``Retry-After``); an
order whose reply is lost (timeout, 5xx) raises ``AmbiguousOrderError`` (resolve with ``lookup``); a
refused order raises ``OrderRejectedError`` / ``InsufficientFundsError`` and is never resent.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import StockLatestTradeRequest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest

from torchtrader.bots.broker import (
    Balance,
    Broker,
    Fill,
    InstrumentRules,
    OrderRequest,
    OrderState,
    OrderStatus,
    Position,
)
from torchtrader.bots.rules import conform_order, conform_price
from torchtrader.bots.secrets import register_secret
from torchtrader.errors import (
    AmbiguousOrderError,
    ExchangeError,
    InsufficientFundsError,
    OrderRejectedError,
    VenueUnavailableError,
)

logger = logging.getLogger(__name__)
_STATUS: dict[str, OrderStatus] = {
    "new": "new",
    "accepted": "new",
    "pending_new": "new",
    "accepted_for_bidding": "new",
    "partially_filled": "partially_filled",
    "filled": "filled",
    "done_for_day": "open",
    "canceled": "canceled",
    "pending_cancel": "open",
    "expired": "expired",
    "replaced": "canceled",
    "rejected": "rejected",
    "suspended": "open",
    "stopped": "open",
    "calculated": "open",
}
FRACTIONAL_MIN_NOTIONAL = 1.0  # Alpaca: fractional orders need at least $1


def _value(enum_or_str: Any) -> str:
    return str(getattr(enum_or_str, "value", enum_or_str))


class AlpacaBroker(Broker):
    """``AlpacaBroker(api_key=..., secret=..., paper=True, api_url=None)``."""

    def __init__(
        self,
        *,
        api_key: str,
        secret: str,
        api_url: str | None = None,
        paper: bool = True,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = "alpaca-paper" if paper else "alpaca"
        self.quote_currency = "USD"
        self.api_url = api_url
        self.retries, self.backoff_s, self._sleep = retries, backoff_s, sleep
        for value in (api_key, secret):
            register_secret(value)
        self.client = TradingClient(api_key, secret, paper=paper, url_override=api_url)
        self.data = StockHistoricalDataClient(api_key, secret, url_override=api_url)
        for rest in (self.client, self.data):
            rest._retry = 0  # we back off ourselves, honouring Retry-After
            # requests has no default timeout: a hung venue would block the cycle forever
            session: Any = rest._session
            session.request = functools.partial(session.request, timeout=timeout_s)
        self._rules: dict[str, InstrumentRules] = {}
        self._client_ids: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"AlpacaBroker(name={self.name!r}, api_url={self.api_url!r})"

    # -- plumbing ------------------------------------------------------------------------------------
    @staticmethod
    def _status(error: APIError) -> int:
        try:
            return int(error.status_code or 0)
        except (TypeError, ValueError):
            return 0

    def _delay(self, attempt: int, error: APIError | None) -> float:
        delay = self.backoff_s * 2**attempt
        response = getattr(error, "response", None) if error is not None else None
        retry_after = response.headers.get("Retry-After") if response is not None else None
        try:
            return float(max(delay, float(retry_after))) if retry_after else float(delay)
        except ValueError:
            return float(delay)

    def _mapped(self, what: str, error: APIError) -> ExchangeError:
        status, text = self._status(error), " ".join(str(error).split())[:300]
        message = f"{self.name}: {what}: HTTP {status}: {text}"
        if status in (401,):
            return ExchangeError(message + "; check the API key and secret named in the bot's config")
        if "insufficient" in text.lower():
            return InsufficientFundsError(message)
        if status in (403, 404, 422):
            return OrderRejectedError(message)
        return ExchangeError(message)

    def _call(self, what: str, call: Callable[[], Any]) -> Any:  # alpaca-py returns Model | RawData
        for attempt in range(self.retries + 1):
            try:
                return call()
            except APIError as error:
                status = self._status(error)
                if (status != 429 and status < 500) or attempt == self.retries:
                    if status == 429 or status >= 500:
                        raise VenueUnavailableError(
                            f"{self.name}: {what}: HTTP {status} after retries"
                        ) from None
                    raise self._mapped(what, error) from None
                self._sleep(self._delay(attempt, error))
            except requests.RequestException as error:
                if attempt == self.retries:
                    raise VenueUnavailableError(f"{self.name}: {what}: {type(error).__name__}") from None
                self._sleep(self._delay(attempt, None))
        raise AssertionError("unreachable")

    def _state(self, order: Any) -> OrderState:
        self._client_ids[str(order.id)] = order.client_order_id
        filled = float(order.filled_qty or 0.0)
        return OrderState(
            client_order_id=order.client_order_id,
            venue_order_id=str(order.id),
            symbol=order.symbol,
            side="buy" if _value(order.side) == "buy" else "sell",
            qty=float(order.qty or 0.0),
            filled_qty=filled,
            avg_fill_price=float(order.filled_avg_price) if order.filled_avg_price else None,
            status=_STATUS.get(_value(order.status), "open"),
            fee=0.0,  # commission-free
            updated_at=order.updated_at or datetime.now(UTC),
        )

    # -- Broker --------------------------------------------------------------------------------------
    def rules(self, symbol: str) -> InstrumentRules:
        if symbol not in self._rules:
            asset = self._call(f"asset {symbol}", lambda: self.client.get_asset(symbol))
            if not asset.tradable:
                raise OrderRejectedError(f"{self.name}: {symbol} is not tradable on Alpaca")
            fractionable = bool(asset.fractionable)
            step = float(asset.min_trade_increment or 1e-9) if fractionable else 1.0
            self._rules[symbol] = InstrumentRules(
                symbol=symbol,
                base=symbol,
                quote="USD",
                amount_step=step,
                price_step=float(asset.price_increment or 0.01),
                min_amount=step if fractionable else max(1.0, float(asset.min_order_size or 1.0)),
                min_notional=FRACTIONAL_MIN_NOTIONAL if fractionable else 0.0,
                fee_rate=0.0,
            )
        return self._rules[symbol]

    def is_open(self, at: datetime) -> bool:
        clock = self._call("clock", self.client.get_clock)
        return bool(clock.is_open)

    def last_price(self, symbol: str) -> float:
        request = StockLatestTradeRequest(symbol_or_symbols=symbol)
        trades = self._call(f"latest trade {symbol}", lambda: self.data.get_stock_latest_trade(request))
        if symbol not in trades:
            raise ExchangeError(f"{self.name}: no latest trade for {symbol}: cannot price an order")
        return float(trades[symbol].price)

    def submit(self, order: OrderRequest) -> OrderState:
        clock = self._call("clock", self.client.get_clock)
        if not clock.is_open:
            raise OrderRejectedError(
                f"{self.name}: market closed: {order.side} {order.qty:g} {order.symbol} not sent "
                f"(next open {clock.next_open.isoformat()})"
            )
        rules = self.rules(order.symbol)
        limit = order.limit_price if order.type == "limit" else None
        price = (
            conform_price(rules, order.side, limit) if limit is not None else self.last_price(order.symbol)
        )
        free = self.balances()["USD"].free if order.side == "buy" else None
        qty = conform_order(rules, order.side, order.qty, price, free_quote=free)
        side = OrderSide.BUY if order.side == "buy" else OrderSide.SELL
        common = {
            "symbol": order.symbol,
            "qty": qty,
            "side": side,
            "time_in_force": TimeInForce.DAY,
            "client_order_id": order.client_order_id,
        }
        request = (
            LimitOrderRequest(limit_price=price, **common)
            if limit is not None
            else MarketOrderRequest(**common)
        )
        what = f"submit {order.side} {qty:g} {order.symbol} ({order.client_order_id})"
        for attempt in range(self.retries + 1):
            try:
                return self._state(self.client.submit_order(request))
            except APIError as error:
                status = self._status(error)
                if status == 429 and attempt < self.retries:  # refused before any work: resend
                    self._sleep(self._delay(attempt, error))
                    continue
                if status >= 500 or status == 429:
                    raise AmbiguousOrderError(
                        f"{self.name}: {what}: HTTP {status}; look it up by client id"
                    ) from None
                if "client_order_id must be unique" in str(error):
                    existing = self.lookup(order.client_order_id, order.symbol)
                    if existing is not None:
                        return existing
                raise self._mapped(what, error) from None
            except requests.RequestException as error:
                raise AmbiguousOrderError(
                    f"{self.name}: {what}: outcome unknown ({type(error).__name__}); look it up by client id"
                ) from None
        raise AssertionError("unreachable")

    def lookup(self, client_order_id: str, symbol: str) -> OrderState | None:
        try:
            found = self._call(
                f"order {client_order_id}", lambda: self.client.get_order_by_client_id(client_order_id)
            )
        except OrderRejectedError as error:
            if "HTTP 404" in str(error):
                return None
            raise
        return self._state(found)

    def cancel(self, client_order_id: str, symbol: str) -> OrderState:
        state = self.lookup(client_order_id, symbol)
        if state is None:
            raise OrderRejectedError(f"{self.name}: cannot cancel {client_order_id}: no such order")
        if state.is_final:
            return state
        venue_id = str(state.venue_order_id)
        with contextlib.suppress(OrderRejectedError):  # filled or canceled meanwhile: the lookup says which
            self._call(f"cancel {client_order_id}", lambda: self.client.cancel_order_by_id(venue_id))
        final = self.lookup(client_order_id, symbol)
        assert final is not None
        return final

    def open_orders(self, symbol: str | None = None) -> list[OrderState]:
        query = GetOrdersRequest(
            status=QueryOrderStatus.OPEN, symbols=[symbol] if symbol else None, limit=500
        )
        return [self._state(o) for o in self._call("open orders", lambda: self.client.get_orders(query))]

    def fills(self, symbol: str, since: datetime | None = None) -> list[Fill]:
        params = {"direction": "asc"} | ({"after": since.isoformat().replace("+00:00", "Z")} if since else {})
        rows = self._call("fill activities", lambda: self.client.get("/account/activities/FILL", params))
        fills = []
        for row in rows or []:
            if row.get("symbol") != symbol:
                continue
            order_id = str(row["order_id"])
            if order_id not in self._client_ids:
                order = self._call(
                    f"order {order_id}", functools.partial(self.client.get_order_by_id, order_id)
                )
                self._state(order)
            fills.append(
                Fill(
                    fill_id=str(row["id"]),
                    client_order_id=self._client_ids[order_id],
                    symbol=symbol,
                    side="buy" if row.get("side") == "buy" else "sell",
                    qty=float(row["qty"]),
                    price=float(row["price"]),
                    fee=0.0,
                    fee_currency="USD",
                    ts=datetime.fromisoformat(str(row["transaction_time"]).replace("Z", "+00:00")),
                )
            )
        return fills

    def balances(self) -> dict[str, Balance]:
        account = self._call("account", self.client.get_account)
        free = min(
            float(account.cash or 0.0), float(account.non_marginable_buying_power or account.cash or 0.0)
        )
        return {"USD": Balance("USD", free, float(account.cash or 0.0))}

    def positions(self) -> dict[str, Position]:
        rows = self._call("positions", self.client.get_all_positions)
        return {
            p.symbol: Position(
                p.symbol, float(p.qty), float(p.avg_entry_price) if p.avg_entry_price else None
            )
            for p in rows
            if float(p.qty)
        }
