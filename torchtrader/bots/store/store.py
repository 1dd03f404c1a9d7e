"""``StateStore``: the bot's crash-safe book (SQLAlchemy 2; SQLite in WAL mode or Postgres by URL).

Write rules that make the cycle crash-safe:

* an order is written as an ``intent`` (one transaction for all legs of a decision) *before* the
  venue is called, and updated from the venue's answer afterwards;
* fills are keyed by the venue's trade id, so recording the same fill twice is a no-op, and positions
  move only when a new fill is recorded (in the same transaction).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from torchtrader.bots.broker import Fill, OrderState
from torchtrader.bots.store import models as m
from torchtrader.bots.store.records import (
    Book,
    BotInfo,
    EquityPoint,
    EventRecord,
    FillRecord,
    OrderIntent,
    OrderRecord,
    PositionRecord,
)
from torchtrader.bots.store.schema import check_schema, describe_url, make_engine
from torchtrader.errors import BotError

logger = logging.getLogger(__name__)
R = TypeVar("R")
OPEN_STATUSES = ("intent", "new", "open", "partially_filled")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _record(cls: type[R], row: object) -> R:
    return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})  # type: ignore[arg-type]


def base_of(symbol: str) -> str:
    return symbol.split("/")[0]


class StateStore:
    """The bot state at ``url`` (``Settings.state_db``); a new empty DB is created at the head schema."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        try:
            check_schema(self.engine, url, create_empty=create)
        except BaseException:
            self.engine.dispose()
            raise
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"StateStore({describe_url(self.url)!r})"

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        try:
            with self._sessions.begin() as session:
                yield session
        except OperationalError as error:
            reason = " ".join(str(error.orig).split())
            raise BotError(f"state DB {describe_url(self.url)} failed: {reason}") from None
        except DatabaseError as error:
            reason = " ".join(str(error.orig).split())
            raise BotError(f"state DB {describe_url(self.url)} is unreadable: {reason}") from None

    # ------------------------------------------------------------------ bots
    def ensure_bot(self, name: str, *, broker: str, capital: float, config: dict[str, Any]) -> BotInfo:
        """The bot's row, created on first use; an existing bot's config snapshot is refreshed."""
        now = utcnow()
        with self.session() as s:
            row = s.get(m.BotRow, name)
            if row is None:
                row = m.BotRow(
                    name=name,
                    state="running",
                    broker=broker,
                    capital=capital,
                    config=config,
                    created_at=now,
                    updated_at=now,
                    failed_cycles=0,
                    discrepancies=0,
                    last_cycle_orders=0,
                )
                s.add(row)
                s.add(m.AuditRow(bot=name, ts=now, actor="bot", action="create", detail={"broker": broker}))
            elif row.config != config or row.broker != broker:
                s.add(m.AuditRow(bot=name, ts=now, actor="bot", action="config", detail={"broker": broker}))
                row.config, row.broker, row.capital, row.updated_at = config, broker, capital, now
            s.flush()
            return _record(BotInfo, row)

    def bot(self, name: str) -> BotInfo | None:
        with self.session() as s:
            row = s.get(m.BotRow, name)
            return None if row is None else _record(BotInfo, row)

    def require_bot(self, name: str) -> BotInfo:
        info = self.bot(name)
        if info is None:
            raise BotError(f"bot {name!r} has no state in {describe_url(self.url)}: run it once first")
        return info

    def bots(self) -> list[BotInfo]:
        with self.session() as s:
            return [_record(BotInfo, r) for r in s.scalars(select(m.BotRow).order_by(m.BotRow.name))]

    def set_state(self, name: str, state: str, reason: str | None, *, actor: str = "bot") -> None:
        if state not in m.BOT_STATES:
            raise BotError(f"unknown bot state {state!r}: use one of {', '.join(m.BOT_STATES)}")
        now = utcnow()
        with self.session() as s:
            row = s.get(m.BotRow, name)
            if row is None:
                raise BotError(f"bot {name!r} has no state in {describe_url(self.url)}")
            row.state, row.state_reason, row.updated_at = state, reason, now
            if state == "running":
                row.failed_cycles = 0
                row.discrepancies = 0
            s.add(m.AuditRow(bot=name, ts=now, actor=actor, action=state, detail={"reason": reason}))

    def record_cycle(
        self, name: str, *, at: datetime, bar_ts: datetime | None, orders: int, error: str | None
    ) -> int:
        """Store the cycle's outcome; returns the count of consecutive failed cycles."""
        with self.session() as s:
            row = s.get(m.BotRow, name)
            assert row is not None
            row.last_cycle_at, row.last_cycle_orders, row.last_cycle_error = at, orders, error
            if bar_ts is not None:
                row.last_bar_ts = bar_ts
            row.failed_cycles = row.failed_cycles + 1 if error else 0
            row.updated_at = at
            return row.failed_cycles

    def add_discrepancies(self, name: str, count: int) -> int:
        with self.session() as s:
            row = s.get(m.BotRow, name)
            assert row is not None
            row.discrepancies = row.discrepancies + count if count else 0
            return row.discrepancies

    def update_peak(self, name: str, equity: float) -> float:
        with self.session() as s:
            row = s.get(m.BotRow, name)
            assert row is not None
            row.peak_equity = max(row.peak_equity or equity, equity)
            return row.peak_equity

    # ---------------------------------------------------------------- orders
    def add_intents(self, intents: Sequence[OrderIntent]) -> None:
        """All legs of one decision in one transaction, before anything is sent."""
        now = utcnow()
        with self.session() as s:
            for intent in intents:
                if s.get(m.OrderRow, intent.client_order_id) is not None:
                    continue
                s.add(
                    m.OrderRow(
                        **{f.name: getattr(intent, f.name) for f in fields(OrderIntent)},
                        status=m.INTENT,
                        filled_qty=0.0,
                        fee=0.0,
                        created_at=now,
                        updated_at=now,
                    )
                )

    def confirm(self, state: OrderState) -> OrderRecord:
        """Record what the venue says about one of this store's orders."""
        with self.session() as s:
            row = s.get(m.OrderRow, state.client_order_id)
            if row is None:
                raise BotError(f"order {state.client_order_id} is not in the state store")
            row.status, row.venue_order_id = state.status, state.venue_order_id or row.venue_order_id
            row.filled_qty, row.avg_fill_price, row.fee = state.filled_qty, state.avg_fill_price, state.fee
            row.updated_at = utcnow()
            row.sent_at = row.sent_at or row.updated_at
            return _record(OrderRecord, row)

    def mark_order(self, client_order_id: str, status: str, error: str | None = None) -> None:
        with self.session() as s:
            row = s.get(m.OrderRow, client_order_id)
            assert row is not None
            row.status, row.error, row.updated_at = status, error, utcnow()

    def order(self, client_order_id: str) -> OrderRecord | None:
        with self.session() as s:
            row = s.get(m.OrderRow, client_order_id)
            return None if row is None else _record(OrderRecord, row)

    def orders(
        self,
        bot: str,
        *,
        statuses: Iterable[str] | None = None,
        symbol: str | None = None,
        bar_ts: datetime | None = None,
    ) -> list[OrderRecord]:
        query = select(m.OrderRow).where(m.OrderRow.bot == bot)
        if statuses is not None:
            query = query.where(m.OrderRow.status.in_(list(statuses)))
        if symbol is not None:
            query = query.where(m.OrderRow.symbol == symbol)
        if bar_ts is not None:
            query = query.where(m.OrderRow.bar_ts == bar_ts)
        with self.session() as s:
            rows = s.scalars(query.order_by(m.OrderRow.created_at, m.OrderRow.client_order_id))
            return [_record(OrderRecord, r) for r in rows]

    def open_orders(self, bot: str) -> list[OrderRecord]:
        return self.orders(bot, statuses=OPEN_STATUSES)

    # ----------------------------------------------------------------- fills
    def add_fills(self, bot: str, fills: Sequence[Fill]) -> list[FillRecord]:
        """Record the fills not seen before and move positions by them; returns the new ones."""
        added: list[FillRecord] = []
        now = utcnow()
        with self.session() as s:
            seen = set(s.scalars(select(m.FillRow.fill_id).where(m.FillRow.bot == bot)))
            for fill in sorted(fills, key=lambda f: (f.ts, f.fill_id)):
                if fill.fill_id in seen:
                    continue
                seen.add(fill.fill_id)
                row = m.FillRow(
                    bot=bot,
                    fill_id=fill.fill_id,
                    client_order_id=fill.client_order_id,
                    symbol=fill.symbol,
                    side=fill.side,
                    qty=fill.qty,
                    price=fill.price,
                    fee=fill.fee,
                    fee_currency=fill.fee_currency,
                    ts=fill.ts,
                    recorded_at=now,
                )
                s.add(row)
                self._apply_fill(s, bot, fill, now)
                added.append(_record(FillRecord, row))
        return added

    @staticmethod
    def _apply_fill(s: Session, bot: str, fill: Fill, now: datetime) -> None:
        row = s.get(m.PositionRow, (bot, fill.symbol))
        if row is None:
            row = m.PositionRow(bot=bot, symbol=fill.symbol, qty=0.0, realized_pnl=0.0, updated_at=now)
            s.add(row)
        base_fee = fill.fee if fill.fee_currency == base_of(fill.symbol) else 0.0
        quote_fee = fill.fee - base_fee if fill.fee_currency != base_of(fill.symbol) else 0.0
        if fill.side == "buy":
            received = fill.qty - base_fee
            held = row.qty + received
            cost = row.qty * (row.avg_price or 0.0) + fill.qty * fill.price
            row.avg_price = cost / held if held > 0 else None
            row.qty = held
            row.realized_pnl -= quote_fee
        else:
            sold = min(fill.qty + base_fee, row.qty) if row.qty > 0 else fill.qty
            row.realized_pnl += (fill.price - (row.avg_price or fill.price)) * sold - quote_fee
            row.qty = max(row.qty - sold, 0.0)
            if row.qty <= 1e-12:
                row.qty, row.avg_price = 0.0, None
        row.market_price = fill.price
        row.updated_at = now

    def fills(self, bot: str, *, symbol: str | None = None) -> list[FillRecord]:
        query = select(m.FillRow).where(m.FillRow.bot == bot)
        if symbol is not None:
            query = query.where(m.FillRow.symbol == symbol)
        with self.session() as s:
            return [_record(FillRecord, r) for r in s.scalars(query.order_by(m.FillRow.ts, m.FillRow.id))]

    def last_fill_ts(self, bot: str, symbol: str) -> datetime | None:
        fills = self.fills(bot, symbol=symbol)
        return fills[-1].ts if fills else None

    # ------------------------------------------------------------- positions
    def book(self, bot: str) -> Book:
        info = self.require_bot(bot)
        with self.session() as s:
            rows = s.scalars(select(m.PositionRow).where(m.PositionRow.bot == bot))
            positions = {r.symbol: _record(PositionRecord, r) for r in rows}
        return Book(capital=info.capital, positions=positions)

    def mark_prices(self, bot: str, prices: dict[str, float]) -> None:
        with self.session() as s:
            for symbol, price in prices.items():
                row = s.get(m.PositionRow, (bot, symbol))
                if row is not None:
                    row.market_price = price

    # --------------------------------------------------- equity, events, audit
    def add_equity(self, point: EquityPoint) -> None:
        with self.session() as s:
            s.merge(m.EquityRow(**{f.name: getattr(point, f.name) for f in fields(EquityPoint)}))

    def equity(self, bot: str) -> list[EquityPoint]:
        with self.session() as s:
            rows = s.scalars(select(m.EquityRow).where(m.EquityRow.bot == bot).order_by(m.EquityRow.ts))
            return [_record(EquityPoint, r) for r in rows]

    def equity_at(self, bot: str, *, since: datetime | None = None, last: bool = False) -> EquityPoint | None:
        """The first snapshot at or after ``since`` (the day's opening equity), or the last one."""
        query = select(m.EquityRow).where(m.EquityRow.bot == bot)
        if since is not None:
            query = query.where(m.EquityRow.ts >= since)
        query = query.order_by(m.EquityRow.ts.desc() if last else m.EquityRow.ts).limit(1)
        with self.session() as s:
            row = s.scalars(query).first()
            return None if row is None else _record(EquityPoint, row)

    def add_event(self, bot: str, kind: str, message: str, data: dict[str, Any] | None = None) -> EventRecord:
        with self.session() as s:
            row = m.EventRow(bot=bot, ts=utcnow(), kind=kind, message=message, data=data or {})
            s.add(row)
            s.flush()
            return _record(EventRecord, row)

    def events(
        self, bot: str, *, kinds: Iterable[str] | None = None, limit: int | None = None
    ) -> list[EventRecord]:
        query = select(m.EventRow).where(m.EventRow.bot == bot)
        if kinds is not None:
            query = query.where(m.EventRow.kind.in_(list(kinds)))
        query = query.order_by(m.EventRow.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.session() as s:
            return [_record(EventRecord, r) for r in reversed(list(s.scalars(query)))]

    def add_audit(self, bot: str, action: str, detail: dict[str, Any], *, actor: str = "cli") -> None:
        with self.session() as s:
            s.add(m.AuditRow(bot=bot, ts=utcnow(), actor=actor, action=action, detail=detail))

    def audit(self, bot: str) -> list[dict[str, Any]]:
        with self.session() as s:
            rows = s.scalars(select(m.AuditRow).where(m.AuditRow.bot == bot).order_by(m.AuditRow.id))
            return [
                {"ts": r.ts.isoformat(), "actor": r.actor, "action": r.action, "detail": r.detail}
                for r in rows
            ]
