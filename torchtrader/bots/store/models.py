"""The state store's tables (SQLAlchemy 2 declarative models).

Two groups live in one database: the bot's own book (``bots``, ``orders``, ``fills``, ``positions``,
``equity``, ``events``, ``audit``) and the paper venue's account (``paper_*``), which stands in for an
exchange so that reconciliation compares two independent records even for paper bots.

Times are stored as naive UTC (SQLite has no time zones) and come back timezone-aware. Every schema
change ships as an Alembic revision in ``torchtrader/bots/migrations/versions``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

BOT_STATES = ("running", "halted", "error")
# Store-side order lifecycle: an ``intent`` is written before the venue is called and becomes one of
# the venue's statuses once confirmed; ``unsent`` marks an intent the venue never received.
INTENT, UNSENT = "intent", "unsent"


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (naive UTC on disk)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the state store: use UTC-aware times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class BotRow(Base):
    __tablename__ = "bots"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="running")
    state_reason: Mapped[str | None] = mapped_column(Text, default=None)
    broker: Mapped[str] = mapped_column(String(32))
    capital: Mapped[float] = mapped_column(Float)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    failed_cycles: Mapped[int] = mapped_column(Integer, default=0)
    discrepancies: Mapped[int] = mapped_column(Integer, default=0)
    peak_equity: Mapped[float | None] = mapped_column(Float, default=None)
    last_cycle_at: Mapped[datetime | None] = mapped_column(default=None)
    last_bar_ts: Mapped[datetime | None] = mapped_column(default=None)
    last_cycle_orders: Mapped[int] = mapped_column(Integer, default=0)
    last_cycle_error: Mapped[str | None] = mapped_column(Text, default=None)


class OrderRow(Base):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_bot_bar", "bot", "symbol", "bar_ts"),)

    client_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    bot: Mapped[str] = mapped_column(ForeignKey("bots.name"))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    qty: Mapped[float] = mapped_column(Float)
    type: Mapped[str] = mapped_column(String(8), default="market")
    limit_price: Mapped[float | None] = mapped_column(Float, default=None)
    leg: Mapped[str] = mapped_column(String(16))
    bar_ts: Mapped[datetime]
    price_estimate: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default=INTENT)
    venue_order_id: Mapped[str | None] = mapped_column(String(64), default=None)
    filled_qty: Mapped[float] = mapped_column(Float, default=0.0)
    avg_fill_price: Mapped[float | None] = mapped_column(Float, default=None)
    fee: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime]


class FillRow(Base):
    __tablename__ = "fills"
    __table_args__ = (UniqueConstraint("bot", "fill_id", name="uq_fills_bot_fill"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bot: Mapped[str] = mapped_column(ForeignKey("bots.name"))
    fill_id: Mapped[str] = mapped_column(String(64))
    client_order_id: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    qty: Mapped[float] = mapped_column(Float)
    price: Mapped[float] = mapped_column(Float)
    fee: Mapped[float] = mapped_column(Float)
    fee_currency: Mapped[str] = mapped_column(String(16))
    ts: Mapped[datetime]
    recorded_at: Mapped[datetime]


class PositionRow(Base):
    __tablename__ = "positions"

    bot: Mapped[str] = mapped_column(ForeignKey("bots.name"), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    qty: Mapped[float] = mapped_column(Float, default=0.0)
    avg_price: Mapped[float | None] = mapped_column(Float, default=None)
    realized_pnl: Mapped[float] = mapped_column(Float, default=0.0)
    market_price: Mapped[float | None] = mapped_column(Float, default=None)
    updated_at: Mapped[datetime]


class EquityRow(Base):
    __tablename__ = "equity"

    bot: Mapped[str] = mapped_column(ForeignKey("bots.name"), primary_key=True)
    ts: Mapped[datetime] = mapped_column(primary_key=True)
    bar_ts: Mapped[datetime | None] = mapped_column(default=None)
    cash: Mapped[float] = mapped_column(Float)
    equity: Mapped[float] = mapped_column(Float)
    realized_pnl: Mapped[float] = mapped_column(Float)
    unrealized_pnl: Mapped[float] = mapped_column(Float)


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_bot_ts", "bot", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bot: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AuditRow(Base):
    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bot: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PaperBalanceRow(Base):
    __tablename__ = "paper_balances"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    currency: Mapped[str] = mapped_column(String(16), primary_key=True)
    total: Mapped[float] = mapped_column(Float)
    avg_price: Mapped[float | None] = mapped_column(Float, default=None)


class PaperOrderRow(Base):
    __tablename__ = "paper_orders"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    venue_order_id: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    qty: Mapped[float] = mapped_column(Float)
    type: Mapped[str] = mapped_column(String(8))
    limit_price: Mapped[float | None] = mapped_column(Float, default=None)
    after_bar: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(20))
    filled_qty: Mapped[float] = mapped_column(Float, default=0.0)
    avg_fill_price: Mapped[float | None] = mapped_column(Float, default=None)
    fee: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PaperFillRow(Base):
    __tablename__ = "paper_fills"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    fill_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    qty: Mapped[float] = mapped_column(Float)
    price: Mapped[float] = mapped_column(Float)
    fee: Mapped[float] = mapped_column(Float)
    fee_currency: Mapped[str] = mapped_column(String(16))
    ts: Mapped[datetime]
