"""The Broker contract every venue implements: paper, ccxt exchanges, Alpaca.

A bot only ever talks to a venue through this interface, so the cycle, reconciliation and the fault
tests are the same for every venue. Quantities are in base units (shares, coins), prices in the quote
currency, times are timezone-aware UTC. Errors are the ``ExchangeError`` family of
``torchtrader.errors``: ``OrderRejectedError`` / ``InsufficientFundsError`` (final, never resent),
``AmbiguousOrderError`` (the order may have been placed: resolve with ``lookup``),
``VenueUnavailableError`` (transient, safe to retry).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

OrderSide = Literal["buy", "sell"]
OrderType = Literal["market", "limit"]
OrderStatus = Literal["new", "open", "partially_filled", "filled", "canceled", "rejected", "expired"]
FINAL_STATUSES: frozenset[str] = frozenset({"filled", "canceled", "rejected", "expired"})


@dataclass(frozen=True)
class OrderRequest:
    """What the bot wants: the client order id is deterministic (bot, symbol, bar time, leg)."""

    client_order_id: str
    symbol: str
    side: OrderSide
    qty: float
    type: OrderType = "market"
    limit_price: float | None = None


@dataclass(frozen=True)
class OrderState:
    """What the venue says about one order."""

    client_order_id: str
    venue_order_id: str | None
    symbol: str
    side: OrderSide
    qty: float
    filled_qty: float
    avg_fill_price: float | None
    status: OrderStatus
    fee: float
    updated_at: datetime

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class Fill:
    """One execution; ``fill_id`` is the venue's trade id (unique per venue)."""

    fill_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    qty: float
    price: float
    fee: float
    fee_currency: str
    ts: datetime


@dataclass(frozen=True)
class Balance:
    currency: str
    free: float
    total: float


@dataclass(frozen=True)
class Position:
    symbol: str
    qty: float
    avg_price: float | None


@dataclass(frozen=True)
class InstrumentRules:
    """The venue's rules for one symbol, checked before an order leaves (see ``bots.rules``)."""

    symbol: str
    base: str
    quote: str
    amount_step: float | None
    price_step: float | None
    min_amount: float
    min_notional: float
    fee_rate: float


class Broker(ABC):
    """One account at one venue."""

    name: str
    quote_currency: str

    @abstractmethod
    def rules(self, symbol: str) -> InstrumentRules: ...

    @abstractmethod
    def is_open(self, at: datetime) -> bool:
        """Whether the market takes orders at ``at`` (crypto: always; US stocks: the venue's clock)."""

    @abstractmethod
    def last_price(self, symbol: str) -> float: ...

    @abstractmethod
    def submit(self, order: OrderRequest) -> OrderState:
        """Send ``order``; raises ``AmbiguousOrderError`` when the outcome is unknown."""

    @abstractmethod
    def lookup(self, client_order_id: str, symbol: str) -> OrderState | None:
        """The order with this client id, or None when the venue never received it."""

    @abstractmethod
    def cancel(self, client_order_id: str, symbol: str) -> OrderState: ...

    @abstractmethod
    def open_orders(self, symbol: str | None = None) -> list[OrderState]: ...

    @abstractmethod
    def fills(self, symbol: str, since: datetime | None = None) -> list[Fill]: ...

    @abstractmethod
    def balances(self) -> dict[str, Balance]: ...

    @abstractmethod
    def positions(self) -> dict[str, Position]: ...
