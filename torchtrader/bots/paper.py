"""``PaperBroker``: a simulated cash account that fills on live bars with the backtest's rules.

Fill model (``torchtrader.backtest.config`` rules 1, 4 and 5, applied live): an order submitted after
bar t closed waits for the next bar and fills at that bar's open, buys at open × (1 + slippage),
sells at open × (1 − slippage), paying ``fee`` × notional in the quote currency. A limit order fills
on the first later bar that trades through its price (at the open when the bar gaps past it). The
account is a cash account: a buy whose cost plus fee exceeds the free cash, or a sell of more than is
held, is refused before it is accepted (``bots.rules``); should a gap make a market buy unaffordable
at the fill, the affordable part fills and the rest expires, as on an exchange.

The account (cash, holdings, orders, fills) lives in the state store's ``paper_*`` tables, so it
survives restarts and reconciliation compares the bot's book with an independent record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from torchtrader.bots.broker import (
    Balance,
    Broker,
    Fill,
    InstrumentRules,
    OrderRequest,
    OrderSide,
    OrderState,
    OrderStatus,
    Position,
)
from torchtrader.bots.planning import as_side
from torchtrader.bots.rules import affordable_qty, conform_order
from torchtrader.bots.store import StateStore, utcnow
from torchtrader.bots.store import models as m
from torchtrader.bots.store.store import base_of
from torchtrader.errors import InsufficientFundsError, OrderRejectedError, VenueUnavailableError

OPEN = ("new", "open", "partially_filled")


@dataclass(frozen=True)
class PaperBar:
    ts: datetime
    open: float
    high: float
    low: float
    close: float


class PriceFeed(Protocol):
    """Where the paper venue sees the market: closed bars of each symbol."""

    def last_bar(self, symbol: str) -> PaperBar | None: ...

    def next_bar(self, symbol: str, after: datetime | None) -> PaperBar | None:
        """The first bar opening strictly after ``after`` (None: the venue has no newer bar)."""


class LakePriceFeed:
    """Bars of the bot's series in the lake (what the cycle has just ingested)."""

    def __init__(self, lake: object, timeframe: str, source: str) -> None:
        from torchtrader.lake import Lake

        assert isinstance(lake, Lake)
        self.lake, self.timeframe, self.source = lake, timeframe, source

    def _bars(self, symbol: str, start: datetime | None) -> list[PaperBar]:
        from torchtrader.errors import LakeError

        try:
            frame = self.lake.read_bars(symbol, self.timeframe, source=self.source, start=start)
        except LakeError:
            return []
        return [PaperBar(*row) for row in frame.select("ts", "open", "high", "low", "close").iter_rows()]

    def last_bar(self, symbol: str) -> PaperBar | None:
        last = self.lake.last_ts(self.source, symbol, self.timeframe)
        if last is None:
            return None
        bars = self._bars(symbol, last)
        return bars[-1] if bars else None

    def next_bar(self, symbol: str, after: datetime | None) -> PaperBar | None:
        for bar in self._bars(symbol, after):
            if after is None or bar.ts > after:
                return bar
        return None


class PaperBroker(Broker):
    """One paper account (``account``, usually the bot's name) in ``store``."""

    name = "paper"

    def __init__(
        self,
        store: StateStore,
        account: str,
        prices: PriceFeed,
        *,
        initial_cash: float,
        fee: float = 0.0,
        slippage_bps: float = 0.0,
        quote_currency: str = "USDT",
        rules: Mapping[str, InstrumentRules] | None = None,
    ) -> None:
        self.store, self.account, self.prices = store, account, prices
        self.fee, self.slip = fee, slippage_bps / 1e4
        self.quote_currency = quote_currency
        self._rules = dict(rules or {})
        self._maybe_open = True  # False once a settle left no open order: skips needless queries
        with store.session() as s:
            if s.get(m.PaperBalanceRow, (account, quote_currency)) is None:
                s.add(m.PaperBalanceRow(account=account, currency=quote_currency, total=initial_cash))

    # ------------------------------------------------------------- contract
    def rules(self, symbol: str) -> InstrumentRules:
        if symbol in self._rules:
            return self._rules[symbol]
        base, _, quote = symbol.partition("/")
        return InstrumentRules(symbol, base, quote or self.quote_currency, None, None, 0.0, 0.0, self.fee)

    def is_open(self, at: datetime) -> bool:
        return True

    def last_price(self, symbol: str) -> float:
        bar = self.prices.last_bar(symbol)
        if bar is None:
            raise VenueUnavailableError(f"paper venue has no bars for {symbol} yet: ingest them first")
        return bar.close

    def submit(self, order: OrderRequest) -> OrderState:
        self._settle()
        bar = self.prices.last_bar(order.symbol)
        if bar is None:
            raise VenueUnavailableError(f"paper venue has no bars for {order.symbol} yet: ingest them first")
        rules = self.rules(order.symbol)
        with self.store.session() as s:
            if s.get(m.PaperOrderRow, (self.account, order.client_order_id)) is not None:
                raise OrderRejectedError(
                    f"duplicate client order id {order.client_order_id}: order already exists"
                )
            price = order.limit_price if order.type == "limit" and order.limit_price else bar.close
            estimate = price * (1 + self.slip) if order.side == "buy" else price
            free_quote = self._free_quote(s) if order.side == "buy" else None
            qty = conform_order(rules, order.side, order.qty, estimate, free_quote=free_quote)
            if order.side == "sell":
                held = self._free_holding(s, order.symbol)
                if qty > held * (1 + 1e-12):
                    raise InsufficientFundsError(
                        f"{order.symbol}: sell {qty:g} {rules.base} but only {held:g} is held and free"
                    )
            count = s.scalar(
                select(func.count())
                .select_from(m.PaperOrderRow)
                .where(m.PaperOrderRow.account == self.account)
            )
            now = utcnow()
            row = m.PaperOrderRow(
                account=self.account,
                client_order_id=order.client_order_id,
                venue_order_id=f"P{int(count or 0) + 1}",
                symbol=order.symbol,
                side=order.side,
                qty=qty,
                type=order.type,
                limit_price=order.limit_price,
                after_bar=bar.ts,
                status="new",
                filled_qty=0.0,
                fee=0.0,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            self._maybe_open = True
            return self._state(row)

    def lookup(self, client_order_id: str, symbol: str) -> OrderState | None:
        self._settle()
        with self.store.session() as s:
            row = s.get(m.PaperOrderRow, (self.account, client_order_id))
            return None if row is None else self._state(row)

    def cancel(self, client_order_id: str, symbol: str) -> OrderState:
        self._settle()
        with self.store.session() as s:
            row = s.get(m.PaperOrderRow, (self.account, client_order_id))
            if row is None:
                raise OrderRejectedError(f"paper venue has no order {client_order_id} to cancel")
            if row.status in OPEN:
                row.status, row.updated_at = "canceled", utcnow()
            return self._state(row)

    def open_orders(self, symbol: str | None = None) -> list[OrderState]:
        self._settle()
        with self.store.session() as s:
            return [self._state(r) for r in self._open_rows(s, symbol)]

    def fills(self, symbol: str, since: datetime | None = None) -> list[Fill]:
        self._settle()
        query = select(m.PaperFillRow).where(
            m.PaperFillRow.account == self.account, m.PaperFillRow.symbol == symbol
        )
        if since is not None:
            query = query.where(m.PaperFillRow.ts >= since)
        with self.store.session() as s:
            return [
                Fill(
                    r.fill_id,
                    r.client_order_id,
                    r.symbol,
                    as_side(r.side),
                    r.qty,
                    r.price,
                    r.fee,
                    r.fee_currency,
                    r.ts,
                )
                for r in s.scalars(query.order_by(m.PaperFillRow.ts, m.PaperFillRow.fill_id))
            ]

    def balances(self) -> dict[str, Balance]:
        self._settle()
        with self.store.session() as s:
            result: dict[str, Balance] = {}
            for row in s.scalars(select(m.PaperBalanceRow).where(m.PaperBalanceRow.account == self.account)):
                if row.currency == self.quote_currency:
                    result[row.currency] = Balance(row.currency, self._free_quote(s), row.total)
                else:
                    base = base_of(row.currency)
                    result[base] = Balance(base, self._free_holding(s, row.currency), row.total)
            return result

    def positions(self) -> dict[str, Position]:
        self._settle()
        with self.store.session() as s:
            rows = s.scalars(select(m.PaperBalanceRow).where(m.PaperBalanceRow.account == self.account))
            return {
                r.currency: Position(r.currency, r.total, r.avg_price)
                for r in rows
                if r.currency != self.quote_currency and r.total > 0
            }

    # ------------------------------------------------------------ internals
    def _open_rows(self, s: Session, symbol: str | None = None) -> list[m.PaperOrderRow]:
        query = select(m.PaperOrderRow).where(
            m.PaperOrderRow.account == self.account, m.PaperOrderRow.status.in_(OPEN)
        )
        if symbol is not None:
            query = query.where(m.PaperOrderRow.symbol == symbol)
        return list(s.scalars(query.order_by(m.PaperOrderRow.created_at, m.PaperOrderRow.venue_order_id)))

    def _cash(self, s: Session) -> float:
        row = s.get(m.PaperBalanceRow, (self.account, self.quote_currency))
        return row.total if row is not None else 0.0

    def _free_quote(self, s: Session) -> float:
        """Cash minus what open buys hold, plus what open sells will bring in. Orders here wait for
        the next bar instead of filling at once, so a decision's close leg must fund its open leg as
        it would on a venue that fills immediately; both are priced at the last close."""
        available = self._cash(s)
        for row in self._open_rows(s):
            bar = self.prices.last_bar(row.symbol)
            if bar is None:
                continue
            remaining = row.qty - row.filled_qty
            if row.side == "buy":
                price = row.limit_price or bar.close * (1 + self.slip)
                available -= remaining * price * (1 + self.fee)
            elif row.type == "market":
                available += remaining * bar.close * (1 - self.slip) * (1 - self.fee)
        return max(available, 0.0)

    def _free_holding(self, s: Session, symbol: str) -> float:
        row = s.get(m.PaperBalanceRow, (self.account, symbol))
        held = row.total if row is not None else 0.0
        locked = sum(r.qty - r.filled_qty for r in self._open_rows(s, symbol) if r.side == "sell")
        return max(held - locked, 0.0)

    def _settle(self) -> None:
        """Fill every open order whose next bar has closed, oldest first (a close leg frees the cash
        its open leg spends, as in the backtest)."""
        if not self._maybe_open:
            return
        with self.store.session() as s:
            rows = self._open_rows(s)
            for row in rows:
                bar = self.prices.next_bar(row.symbol, row.after_bar)
                if bar is not None:
                    self._fill(s, row, bar)
            self._maybe_open = any(r.status in OPEN for r in rows)

    def _fill(self, s: Session, row: m.PaperOrderRow, bar: PaperBar) -> None:
        side: OrderSide = "buy" if row.side == "buy" else "sell"
        if row.type == "limit" and row.limit_price is not None:
            touched = bar.low <= row.limit_price if side == "buy" else bar.high >= row.limit_price
            if not touched:
                row.after_bar = bar.ts
                return
            raw = min(bar.open, row.limit_price) if side == "buy" else max(bar.open, row.limit_price)
            price = raw
        else:
            price = bar.open * (1 + self.slip) if side == "buy" else bar.open * (1 - self.slip)
        qty = row.qty
        status: OrderStatus = "filled"
        cash = s.get(m.PaperBalanceRow, (self.account, self.quote_currency))
        assert cash is not None
        holding = s.get(m.PaperBalanceRow, (self.account, row.symbol))
        if side == "buy" and qty * price * (1 + self.fee) > cash.total:
            qty = affordable_qty(self.rules(row.symbol), price, cash.total)
            status = "expired"
        if side == "sell":
            held = holding.total if holding is not None else 0.0
            if qty > held:
                qty, status = held, "expired"
        fee = self.fee * qty * price
        if qty > 0:
            if holding is None:
                holding = m.PaperBalanceRow(account=self.account, currency=row.symbol, total=0.0)
                s.add(holding)
            if side == "buy":
                total = holding.total + qty
                holding.avg_price = (holding.total * (holding.avg_price or 0.0) + qty * price) / total
                holding.total = total
                cash.total -= qty * price + fee
            else:
                holding.total = max(holding.total - qty, 0.0)
                if holding.total <= 1e-12:
                    holding.total, holding.avg_price = 0.0, None
                cash.total += qty * price - fee
            s.add(
                m.PaperFillRow(
                    account=self.account,
                    fill_id=f"{self.account}-{row.venue_order_id}-1",
                    client_order_id=row.client_order_id,
                    symbol=row.symbol,
                    side=side,
                    qty=qty,
                    price=price,
                    fee=fee,
                    fee_currency=self.quote_currency,
                    ts=bar.ts,
                )
            )
        row.filled_qty, row.avg_fill_price = qty, price if qty > 0 else None
        row.fee, row.status, row.updated_at = fee, status, utcnow()

    def _state(self, row: m.PaperOrderRow) -> OrderState:
        return OrderState(
            client_order_id=row.client_order_id,
            venue_order_id=row.venue_order_id,
            symbol=row.symbol,
            side="buy" if row.side == "buy" else "sell",
            qty=row.qty,
            filled_qty=row.filled_qty,
            avg_fill_price=row.avg_fill_price,
            status=row.status,  # type: ignore[arg-type]
            fee=row.fee,
            updated_at=row.updated_at,
        )
