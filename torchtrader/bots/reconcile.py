"""Reconciliation: make the store agree with the venue, and report what cannot be explained.

Run on every start and every cycle. The venue is the truth for orders and fills; the store's book
follows from the fills it has recorded. In order:

1. every order the store does not know to be final (intents included) is looked up by its client id:
   found → the venue's state is recorded; an intent the venue never received is left to the cycle
   of its own bar and marked ``unsent`` once that bar has passed (stale orders are never sent);
2. the venue's fills of the bot's orders since the last recorded one are recorded (idempotent by
   fill id), which moves the book's positions and cash;
3. then the venue is compared with the book: open orders carrying the bot's client-id prefix that
   the store never wrote, and — for an account dedicated to the bot — positions and cash. Each
   mismatch is a ``Discrepancy``; the cycle turns them into events, alerts and, past the risk
   limit, a halt.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from torchtrader.bots.broker import Broker
from torchtrader.bots.planning import bot_prefix
from torchtrader.bots.store import FillRecord, StateStore
from torchtrader.bots.store.models import INTENT, UNSENT
from torchtrader.bots.store.store import base_of

logger = logging.getLogger(__name__)
UNKNOWN = "unknown"  # an ambiguous submit that no lookup has found yet
UNRESOLVED = (INTENT, UNKNOWN, "new", "open", "partially_filled")


@dataclass(frozen=True)
class Discrepancy:
    kind: str  # unknown_order | missing_order | position | cash
    symbol: str | None
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReconcileReport:
    orders_checked: int
    orders_updated: int
    new_fills: tuple[FillRecord, ...]
    discrepancies: tuple[Discrepancy, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "orders_checked": self.orders_checked,
            "orders_updated": self.orders_updated,
            "new_fills": [f.to_json() for f in self.new_fills],
            "discrepancies": [asdict(d) for d in self.discrepancies],
        }


def reconcile(
    store: StateStore,
    broker: Broker,
    bot: str,
    symbols: tuple[str, ...],
    *,
    current_bar: datetime | None = None,
    dedicated_account: bool = True,
    tolerance: float = 1e-6,
) -> ReconcileReport:
    """Bring the store in line with ``broker`` for ``bot``; ``current_bar``: the bar a cycle is acting
    on (its intents may still be sent), None on start-up."""
    checked = updated = 0
    missing: list[Discrepancy] = []
    for order in store.orders(bot, statuses=UNRESOLVED):
        checked += 1
        state = broker.lookup(order.client_order_id, order.symbol)
        if state is None:
            if order.status in (INTENT, UNKNOWN):
                if current_bar is not None and order.bar_ts < current_bar:
                    store.mark_order(order.client_order_id, UNSENT, "the venue never received it")
                    updated += 1
            else:
                store.mark_order(order.client_order_id, "missing", "the venue no longer knows this order")
                updated += 1
                missing.append(
                    Discrepancy(
                        "missing_order",
                        order.symbol,
                        f"order {order.client_order_id} ({order.status} in the store) is unknown "
                        "to the venue",
                        {"client_order_id": order.client_order_id},
                    )
                )
            continue
        if (state.status, state.filled_qty) != (order.status, order.filled_qty):
            updated += 1
        store.confirm(state)

    ours = {o.client_order_id for o in store.orders(bot)}
    new_fills: list[FillRecord] = []
    for symbol in symbols:
        since = store.last_fill_ts(bot, symbol)
        fills = [f for f in broker.fills(symbol, since) if f.client_order_id in ours]
        new_fills.extend(store.add_fills(bot, fills))

    discrepancies: list[Discrepancy] = list(missing)
    prefix = bot_prefix(bot)
    for state in broker.open_orders():
        if state.client_order_id.startswith(prefix) and state.client_order_id not in ours:
            discrepancies.append(
                Discrepancy(
                    "unknown_order",
                    state.symbol,
                    f"open order {state.client_order_id} on the venue is not in the state store",
                    {"client_order_id": state.client_order_id},
                )
            )
    book = store.book(bot)
    venue_positions = broker.positions()
    for symbol in symbols:
        venue = venue_positions[symbol].qty if symbol in venue_positions else 0.0
        mine = book.qty(symbol)
        off = venue - mine if dedicated_account else min(venue - mine, 0.0)
        if abs(off) > tolerance * max(1.0, abs(mine)):
            discrepancies.append(
                Discrepancy(
                    "position",
                    symbol,
                    f"{symbol}: the venue holds {venue:g}, the store {mine:g}",
                    {"venue": venue, "store": mine},
                )
            )
    if dedicated_account:
        quote = broker.quote_currency
        balance = broker.balances().get(quote)
        venue_cash = balance.total if balance is not None else 0.0
        if abs(venue_cash - book.cash) > tolerance * max(1.0, book.capital):
            discrepancies.append(
                Discrepancy(
                    "cash",
                    None,
                    f"the venue holds {venue_cash:.8g} {quote}, the store {book.cash:.8g}",
                    {"venue": venue_cash, "store": book.cash, "currency": quote},
                )
            )
    for d in discrepancies:
        logger.warning("%s: reconciliation: %s", bot, d.message)
    return ReconcileReport(checked, updated, tuple(new_fills), tuple(discrepancies))


__all__ = ["Discrepancy", "ReconcileReport", "base_of", "reconcile"]
