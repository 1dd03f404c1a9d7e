"""Order placement for the cycle: the risk gate, stale-order cancels, and sending one intent.

``send_intent`` is where an order leaves. An intent left by an earlier (killed) run is looked up by
its client order id first; an ambiguous submit is resolved by lookup, never by sending again; a
refused order is recorded and alerted, never retried.
"""

from __future__ import annotations

from dataclasses import replace

from torchtrader.bots.broker import Broker, OrderRequest
from torchtrader.bots.config import BotConfig
from torchtrader.bots.monitor import notify
from torchtrader.bots.planning import Decision, as_side, as_type
from torchtrader.bots.reconcile import UNKNOWN
from torchtrader.bots.risk import AccountView, ProposedOrder, check_orders
from torchtrader.bots.store import OrderIntent, OrderRecord, StateStore
from torchtrader.errors import AmbiguousOrderError, OrderRejectedError


def risk_filter(
    config: BotConfig, store: StateStore, planned: list[OrderIntent], view: AccountView
) -> list[OrderIntent]:
    if not planned:
        return []
    proposals = [
        ProposedOrder(i.symbol, as_side(i.side), i.qty, i.price_estimate, i.client_order_id) for i in planned
    ]
    decision = check_orders(config.risk, view, proposals)
    approved: list[OrderIntent] = []
    for intent, verdict in zip(planned, decision.verdicts, strict=True):
        if verdict.action == "refuse":
            notify(
                config,
                store,
                "order_rejected",
                f"risk refused {intent.side} {intent.qty:g} {intent.symbol}: {verdict.reason}",
            )
            continue
        if verdict.action == "trim":
            notify(config, store, "risk_trim", f"{intent.symbol}: {verdict.reason}")
        approved.append(intent if verdict.action == "pass" else with_qty(intent, verdict.qty))
    return approved


def with_qty(intent: OrderIntent, qty: float) -> OrderIntent:
    return replace(intent, qty=qty)


def cancel_stale(config: BotConfig, store: StateStore, broker: Broker, decision: Decision) -> None:
    """Orders of earlier bars still open on the venue are cancelled before a new decision acts."""
    for order in store.orders(
        config.name, symbol=decision.symbol, statuses=("new", "open", "partially_filled")
    ):
        if order.bar_ts < decision.bar_ts:
            state = broker.cancel(order.client_order_id, order.symbol)
            store.confirm(state)
            notify(
                config,
                store,
                "canceled",
                f"stale order {order.client_order_id} of {order.bar_ts.isoformat()} canceled",
            )


def send_intent(
    config: BotConfig, store: StateStore, broker: Broker, order: OrderRecord, *, fresh: bool
) -> OrderRecord | None:
    """Send one persisted intent. An intent from an earlier run is looked up first: it may have
    reached the venue before that run died."""
    request = OrderRequest(
        order.client_order_id,
        order.symbol,
        as_side(order.side),
        order.qty,
        as_type(order.type),
        order.limit_price,
    )
    state = None if fresh else broker.lookup(order.client_order_id, order.symbol)
    if state is None:
        try:
            state = broker.submit(request)
        except AmbiguousOrderError as error:
            state = broker.lookup(order.client_order_id, order.symbol)
            if state is None:
                store.mark_order(order.client_order_id, UNKNOWN, str(error))
                notify(config, store, "ambiguous", f"order {order.client_order_id}: {error}; not resent")
                return store.order(order.client_order_id)
        except OrderRejectedError as error:
            store.mark_order(order.client_order_id, "rejected", str(error))
            notify(
                config, store, "order_rejected", f"{order.side} {order.qty:g} {order.symbol} refused: {error}"
            )
            return store.order(order.client_order_id)
    return store.confirm(state)
