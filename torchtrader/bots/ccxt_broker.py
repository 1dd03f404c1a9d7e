"""``CcxtBroker``: one spot account on any ccxt exchange (Binance spot is the tested one).

Every order is conformed to the venue's rules (``bots.rules``, from ccxt's markets) and, for a buy,
checked against the free quote balance before it leaves. Calls go through the real ccxt client with
its rate limiter on; only ccxt's ``NetworkError`` family is retried, with exponential back-off that
also honours a ``Retry-After`` header. Sending an order is special, because a retry could place it
twice:

- a 429 (``DDoSProtection`` / ``RateLimitExceeded``) means the venue refused the request: back off and
  send again with the same client order id (a duplicate id is refused by the venue, and a
  ``Duplicate order`` answer is resolved by looking the order up);
- a timeout, a dropped connection or a 5xx after sending means the order may exist:
  ``AmbiguousOrderError``, resolved by the caller with ``lookup``, never by sending again.

ccxt's ``ExchangeError`` children map to ours: ``InsufficientFunds`` → ``InsufficientFundsError``,
``InvalidOrder`` / ``BadRequest`` / ``BadSymbol`` → ``OrderRejectedError`` (final: never resent),
anything else (bad credentials, permissions) → ``ExchangeError``. The key and secret are values passed
in by the caller; they never appear in a message, a log line or the repr.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import ccxt

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
    ConfigError,
    ExchangeError,
    InsufficientFundsError,
    OrderRejectedError,
    VenueUnavailableError,
)
from torchtrader.sources.ccxt_source import rewrite_api_urls

logger = logging.getLogger(__name__)
T = TypeVar("T")
_CCXT_STATUS: dict[str, OrderStatus] = {"open": "open", "closed": "filled", "canceled": "canceled"}
_CCXT_STATUS |= {"cancelled": "canceled", "rejected": "rejected", "expired": "expired"}


def _ms_to_dt(ms: Any) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, UTC) if ms else datetime.now(UTC)


class CcxtBroker(Broker):
    """``CcxtBroker("binance", api_key=..., secret=..., api_url="http://127.0.0.1:PORT")``."""

    def __init__(
        self,
        exchange_id: str = "binance",
        *,
        api_key: str,
        secret: str,
        api_url: str | None = None,
        sandbox: bool = False,
        quote_currency: str = "USDT",
        password: str | None = None,
        exchange_options: Mapping[str, Any] | None = None,
        timeout_s: float = 10.0,
        retries: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        check_funds: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if exchange_id not in ccxt.exchanges:
            raise ConfigError(
                f"unknown ccxt exchange {exchange_id!r}; see ccxt.exchanges for the {len(ccxt.exchanges)} ids"
            )
        if retries < 0 or backoff_s < 0 or timeout_s <= 0:
            raise ConfigError("ccxt broker needs retries >= 0, backoff_s >= 0 and timeout_s > 0")
        self.exchange_id = exchange_id
        self.name = f"ccxt:{exchange_id}"
        self.quote_currency = quote_currency
        self.api_url = api_url
        self.retries, self.backoff_s, self.max_backoff_s = retries, backoff_s, max_backoff_s
        self.check_funds = check_funds
        self._sleep = sleep
        self._secrets = tuple(s for s in (api_key, secret, password) if s)
        for value in self._secrets:  # ccxt logs request headers (the key) at DEBUG: mask them everywhere
            register_secret(value)
        config: dict[str, Any] = {
            "apiKey": api_key,
            "secret": secret,
            "enableRateLimit": True,
            "timeout": int(timeout_s * 1000),
        }
        if password:
            config["password"] = password
        if exchange_id == "binance":
            # spot only: no futures markets, wallet currencies or margin pairs (a loopback venue has none)
            config["options"] = {
                "defaultType": "spot",
                "fetchMarkets": {"types": ["spot"]},
                "fetchCurrencies": False,
                "fetchMargins": False,
                "warnOnFetchOpenOrdersWithoutSymbol": False,
            }
        config.update(exchange_options or {})
        exchange = getattr(ccxt, exchange_id)(config)
        if sandbox:
            exchange.set_sandbox_mode(True)
        if api_url is not None:
            exchange.urls["api"] = rewrite_api_urls(exchange.urls["api"], api_url)
        self.exchange: Any = exchange
        self._client_ids: dict[str, str] = {}  # venue order id -> client order id

    def __repr__(self) -> str:
        return f"CcxtBroker(exchange={self.exchange_id!r}, api_url={self.api_url!r})"

    # -- plumbing ------------------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        flat = " ".join(str(text).split())
        return flat if len(flat) <= 300 else flat[:297] + "..."

    def _reason(self, error: BaseException) -> str:
        return f"{type(error).__name__}: {self._scrub(str(error))}"

    def _delay(self, attempt: int) -> float:
        delay = self.backoff_s * 2**attempt
        headers = getattr(self.exchange, "last_response_headers", None) or {}
        retry_after = {str(k).lower(): v for k, v in dict(headers).items()}.get("retry-after")
        with contextlib.suppress(TypeError, ValueError):
            delay = max(delay, float(retry_after)) if retry_after is not None else delay
        return float(min(delay, self.max_backoff_s))

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """One read-only exchange call, retrying only ccxt's NetworkError family (and -1000 failures)."""
        attempts = self.retries + 1
        for attempt in range(attempts):
            try:
                return call()
            except ccxt.BadResponse as error:
                raise VenueUnavailableError(
                    f"{self.name}: {what}: garbage response: {self._reason(error)}"
                ) from None
            except ccxt.OperationFailed as error:
                if attempt + 1 == attempts:
                    raise VenueUnavailableError(
                        f"{self.name}: {what} failed after {attempts} attempt(s): {self._reason(error)}"
                    ) from None
                delay = self._delay(attempt)
                logger.warning(
                    "%s: %s: %s; retry %d in %.2fs", self.name, what, self._reason(error), attempt + 1, delay
                )
                self._sleep(delay)
            except ccxt.BaseError as error:
                raise self._mapped(what, error) from None
        raise AssertionError("unreachable")

    def _mapped(self, what: str, error: ccxt.BaseError) -> ExchangeError:
        message = f"{self.name}: {what}: {self._reason(error)}"
        if isinstance(error, ccxt.InsufficientFunds):
            return InsufficientFundsError(message)
        if isinstance(error, ccxt.InvalidOrder | ccxt.BadRequest | ccxt.MarketClosed):
            return OrderRejectedError(message)
        if isinstance(error, ccxt.AuthenticationError | ccxt.PermissionDenied):
            return ExchangeError(message + "; check the API key and secret named in the bot's config")
        return ExchangeError(message)

    def _market(self, symbol: str) -> dict[str, Any]:
        markets = self._call("load markets", lambda: self.exchange.load_markets())
        if symbol not in markets:
            raise OrderRejectedError(
                f"{self.name}: unknown symbol {symbol!r}; the venue lists {len(markets)} markets"
            )
        market: dict[str, Any] = markets[symbol]
        return market

    def _state(self, order: Mapping[str, Any], fallback_client_id: str | None = None) -> OrderState:
        client_id = order.get("clientOrderId") or fallback_client_id or ""
        venue_id = str(order["id"]) if order.get("id") is not None else None
        if venue_id is not None and client_id:
            self._client_ids[venue_id] = client_id
        filled = float(order.get("filled") or 0.0)
        status = _CCXT_STATUS.get(str(order.get("status")), "open")
        if status == "open" and filled > 0:
            status = "partially_filled"
        elif status == "open" and not order.get("status"):
            status = "new"
        fee = (order.get("fee") or {}).get("cost")
        if fee is None and filled > 0 and venue_id is not None:  # fetch_order carries no fees
            fee = sum(f.fee for f in self._trades(order["symbol"], None, {"orderId": venue_id}))
        return OrderState(
            client_order_id=client_id,
            venue_order_id=venue_id,
            symbol=order["symbol"],
            side="buy" if order.get("side") == "buy" else "sell",
            qty=float(order.get("amount") or 0.0),
            filled_qty=filled,
            avg_fill_price=float(order["average"]) if order.get("average") else None,
            status=status,
            fee=float(fee or 0.0),
            updated_at=_ms_to_dt(order.get("lastUpdateTimestamp") or order.get("timestamp")),
        )

    def _fee_in_quote(self, fee: Mapping[str, Any] | None, symbol: str, price: float) -> tuple[float, str]:
        if not fee or fee.get("cost") is None:
            return 0.0, self.quote_currency
        cost, currency = float(fee["cost"]), str(fee.get("currency") or self.quote_currency)
        base = symbol.split("/")[0]
        return (cost * price, currency) if currency == base else (cost, currency)

    def _trades(self, symbol: str, since: datetime | None, params: Mapping[str, Any]) -> list[Fill]:
        since_ms = int(since.timestamp() * 1000) if since is not None else None
        rows = self._call(
            f"fetch_my_trades {symbol}",
            lambda: self.exchange.fetch_my_trades(symbol, since_ms, 1000, dict(params)),
        )
        if any(str(row.get("order")) not in self._client_ids for row in rows):
            orders = self._call(
                f"fetch_orders {symbol}", lambda: self.exchange.fetch_orders(symbol, None, 1000)
            )
            for order in orders:
                if order.get("clientOrderId"):
                    self._client_ids[str(order["id"])] = order["clientOrderId"]
        fills = []
        for row in rows:
            fee, currency = self._fee_in_quote(row.get("fee"), symbol, float(row["price"]))
            fills.append(
                Fill(
                    fill_id=str(row["id"]),
                    client_order_id=self._client_ids.get(str(row.get("order")), ""),
                    symbol=symbol,
                    side="buy" if row.get("side") == "buy" else "sell",
                    qty=float(row["amount"]),
                    price=float(row["price"]),
                    fee=fee,
                    fee_currency=currency,
                    ts=_ms_to_dt(row.get("timestamp")),
                )
            )
        return fills

    # -- Broker --------------------------------------------------------------------------------------
    def rules(self, symbol: str) -> InstrumentRules:
        market = self._market(symbol)
        precision, limits = market.get("precision") or {}, market.get("limits") or {}
        # ccxt's TICK_SIZE precision mode gives steps; DECIMAL_PLACES gives a digit count
        tick_mode = getattr(self.exchange, "precisionMode", None) == ccxt.TICK_SIZE

        def step(value: Any) -> float | None:
            if value is None:
                return None
            return float(value) if tick_mode else 10.0 ** -int(value)

        return InstrumentRules(
            symbol=symbol,
            base=str(market["base"]),
            quote=str(market["quote"]),
            amount_step=step(precision.get("amount")),
            price_step=step(precision.get("price")),
            min_amount=float((limits.get("amount") or {}).get("min") or 0.0),
            min_notional=float((limits.get("cost") or {}).get("min") or 0.0),
            fee_rate=float(market.get("taker") or 0.0),
        )

    def is_open(self, at: datetime) -> bool:
        return True  # crypto spot trades around the clock

    def last_price(self, symbol: str) -> float:
        self._market(symbol)
        rows = self._call(f"fetch_ohlcv {symbol}", lambda: self.exchange.fetch_ohlcv(symbol, "1m", None, 2))
        if not rows:
            raise ExchangeError(f"{self.name}: no recent bars for {symbol}: cannot price an order")
        return float(rows[-1][4])

    def submit(self, order: OrderRequest) -> OrderState:
        rules = self.rules(order.symbol)
        price = (
            order.limit_price
            if order.type == "limit" and order.limit_price
            else self.last_price(order.symbol)
        )
        if order.type == "limit":
            price = conform_price(rules, order.side, price)
        free = None
        if self.check_funds and order.side == "buy":
            balance = self.balances().get(rules.quote)
            free = balance.free if balance is not None else 0.0
        qty = conform_order(rules, order.side, order.qty, price, free_quote=free)
        what = f"create_order {order.side} {qty:g} {order.symbol} ({order.client_order_id})"
        for attempt in range(self.retries + 1):
            try:
                created = self.exchange.create_order(
                    order.symbol,
                    order.type,
                    order.side,
                    qty,
                    price if order.type == "limit" else None,
                    {"clientOrderId": order.client_order_id},
                )
                return self._state(created, order.client_order_id)
            except (ccxt.DDoSProtection, ccxt.RateLimitExceeded) as error:
                if attempt == self.retries:
                    raise VenueUnavailableError(
                        f"{self.name}: {what}: still rate limited: {self._reason(error)}"
                    ) from None
                delay = self._delay(attempt)
                logger.warning("%s: %s: rate limited; resend in %.2fs", self.name, what, delay)
                self._sleep(delay)
            except ccxt.InvalidNonce as error:  # refused on the clock before any work: safe to resend
                if attempt == self.retries:
                    raise VenueUnavailableError(f"{self.name}: {what}: {self._reason(error)}") from None
                self._sleep(self._delay(attempt))
            except ccxt.OperationFailed as error:
                raise AmbiguousOrderError(
                    f"{self.name}: {what}: outcome unknown ({self._reason(error)}); look it up by client id"
                ) from None
            except ccxt.InvalidOrder as error:
                if "duplicate order" in str(error).lower():
                    existing = self.lookup(order.client_order_id, order.symbol)
                    if existing is not None:
                        return existing
                raise self._mapped(what, error) from None
            except ccxt.BaseError as error:
                raise self._mapped(what, error) from None
        raise AssertionError("unreachable")

    def lookup(self, client_order_id: str, symbol: str) -> OrderState | None:
        self._market(symbol)
        try:
            found = self._call(
                f"fetch_order {client_order_id}",
                lambda: self.exchange.fetch_order(None, symbol, {"clientOrderId": client_order_id}),
            )
        except OrderRejectedError as error:
            if "OrderNotFound" in str(error):
                return None
            raise
        return self._state(found, client_order_id)

    def cancel(self, client_order_id: str, symbol: str) -> OrderState:
        self._market(symbol)
        try:
            canceled = self._call(
                f"cancel_order {client_order_id}",
                lambda: self.exchange.cancel_order(None, symbol, {"clientOrderId": client_order_id}),
            )
            return self._state(canceled, client_order_id)
        except OrderRejectedError as error:
            if "OrderNotFound" not in str(error):
                raise
        state = self.lookup(client_order_id, symbol)  # already final (filled or canceled) on the venue
        if state is None:
            raise OrderRejectedError(
                f"{self.name}: cannot cancel {client_order_id}: the venue has no such order"
            )
        return state

    def open_orders(self, symbol: str | None = None) -> list[OrderState]:
        if symbol is not None:
            self._market(symbol)
        else:
            self._call("load markets", lambda: self.exchange.load_markets())
        rows = self._call("fetch_open_orders", lambda: self.exchange.fetch_open_orders(symbol))
        return [self._state(row) for row in rows]

    def fills(self, symbol: str, since: datetime | None = None) -> list[Fill]:
        self._market(symbol)
        return self._trades(symbol, since, {})

    def balances(self) -> dict[str, Balance]:
        raw = self._call("fetch_balance", lambda: self.exchange.fetch_balance())
        totals, free = raw.get("total") or {}, raw.get("free") or {}
        currencies = {c for c, v in totals.items() if v} | {self.quote_currency}
        return {
            c: Balance(c, float(free.get(c) or 0.0), float(totals.get(c) or 0.0)) for c in sorted(currencies)
        }

    def positions(self) -> dict[str, Position]:
        markets = self._call("load markets", lambda: self.exchange.load_markets())
        held = {}
        for currency, balance in self.balances().items():
            symbol = f"{currency}/{self.quote_currency}"
            if currency != self.quote_currency and balance.total > 0 and symbol in markets:
                held[symbol] = Position(symbol, balance.total, None)
        return held
