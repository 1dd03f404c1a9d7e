"""What the state store hands out: frozen snapshots, never live ORM rows.

Readers (``bot status``, ``bot trades``, ``bot explain``, dashboards) get these; only ``StateStore``
touches sessions, so no caller can hold a row across a commit or write by accident.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _jsonable(record: Any) -> dict[str, Any]:
    return {k: (_iso(v) if isinstance(v, datetime) else v) for k, v in asdict(record).items()}


@dataclass(frozen=True)
class BotInfo:
    name: str
    state: str
    state_reason: str | None
    broker: str
    capital: float
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    failed_cycles: int
    discrepancies: int
    peak_equity: float | None
    last_cycle_at: datetime | None
    last_bar_ts: datetime | None
    last_cycle_orders: int
    last_cycle_error: str | None

    def to_json(self) -> dict[str, Any]:
        return _jsonable(self)


@dataclass(frozen=True)
class OrderIntent:
    """An order the cycle decided to send, persisted before the venue is called."""

    client_order_id: str
    bot: str
    symbol: str
    side: str
    qty: float
    leg: str
    bar_ts: datetime
    price_estimate: float
    type: str = "market"
    limit_price: float | None = None


@dataclass(frozen=True)
class OrderRecord:
    client_order_id: str
    bot: str
    symbol: str
    side: str
    qty: float
    type: str
    limit_price: float | None
    leg: str
    bar_ts: datetime
    price_estimate: float
    status: str
    venue_order_id: str | None
    filled_qty: float
    avg_fill_price: float | None
    fee: float
    error: str | None
    created_at: datetime
    sent_at: datetime | None
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return _jsonable(self)


@dataclass(frozen=True)
class FillRecord:
    bot: str
    fill_id: str
    client_order_id: str
    symbol: str
    side: str
    qty: float
    price: float
    fee: float
    fee_currency: str
    ts: datetime
    recorded_at: datetime

    def to_json(self) -> dict[str, Any]:
        return _jsonable(self)


@dataclass(frozen=True)
class PositionRecord:
    bot: str
    symbol: str
    qty: float
    avg_price: float | None
    realized_pnl: float
    market_price: float | None
    updated_at: datetime

    @property
    def unrealized_pnl(self) -> float:
        if not self.qty or self.avg_price is None or self.market_price is None:
            return 0.0
        return self.qty * (self.market_price - self.avg_price)

    def to_json(self) -> dict[str, Any]:
        return {**_jsonable(self), "unrealized_pnl": self.unrealized_pnl}


@dataclass(frozen=True)
class EquityPoint:
    bot: str
    ts: datetime
    bar_ts: datetime | None
    cash: float
    equity: float
    realized_pnl: float
    unrealized_pnl: float

    def to_json(self) -> dict[str, Any]:
        return _jsonable(self)


@dataclass(frozen=True)
class EventRecord:
    id: int
    bot: str
    ts: datetime
    kind: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return _jsonable(self)


@dataclass(frozen=True)
class Book:
    """The bot's own account as its fills say: cash, per-symbol positions, P&L."""

    capital: float
    positions: dict[str, PositionRecord]

    @property
    def realized_pnl(self) -> float:
        return sum(p.realized_pnl for p in self.positions.values())

    @property
    def cost_basis(self) -> float:
        return sum(p.qty * p.avg_price for p in self.positions.values() if p.qty and p.avg_price is not None)

    @property
    def cash(self) -> float:
        return self.capital + self.realized_pnl - self.cost_basis

    @property
    def unrealized_pnl(self) -> float:
        return sum(p.unrealized_pnl for p in self.positions.values())

    @property
    def equity(self) -> float:
        return self.cash + self.cost_basis + self.unrealized_pnl

    def qty(self, symbol: str) -> float:
        position = self.positions.get(symbol)
        return position.qty if position is not None else 0.0
