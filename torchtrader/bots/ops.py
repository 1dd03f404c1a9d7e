"""Operator actions behind ``torchtrader bot …``: open a bot, run it, status, trades, halt, resume.

The CLI and the Prefect tasks call these; they hold no terminal or Prefect code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from torchtrader.bots.broker import Broker, OrderRequest
from torchtrader.bots.config import BotConfig, check_bot, find_bot_config, make_broker
from torchtrader.bots.cycle import CycleReport, halt, run_cycle, start_cycle, start_up
from torchtrader.bots.market import forming_bar
from torchtrader.bots.monitor import notify
from torchtrader.bots.planning import client_order_id
from torchtrader.bots.secrets import SecretResolver
from torchtrader.bots.store import OrderIntent, StateStore, utcnow
from torchtrader.config import Settings
from torchtrader.errors import OrderRejectedError, TorchTraderError
from torchtrader.lake import Lake

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BotSession:
    """Everything one bot needs to act: its config, store, lake and venue."""

    config: BotConfig
    store: StateStore
    lake: Lake
    broker: Broker


def open_bot(
    settings: Settings,
    name: str,
    *,
    config_file: str | None = None,
    config: BotConfig | None = None,
    resolver: SecretResolver | None = None,
) -> BotSession:
    """Load and check the bot's config, open the store, the lake and the venue (keys by name)."""
    config = config or find_bot_config(settings, name, config_file)
    check_bot(config, settings.strategies, resolver=resolver)
    store = StateStore(settings.state_db)
    lake = Lake.from_settings(settings)
    broker = make_broker(config, store=store, lake=lake, resolver=resolver)
    return BotSession(config, store, lake, broker)


def run_once(session: BotSession, settings: Settings, *, now: datetime | None = None) -> CycleReport:
    start_cycle(session.config, session.store, session.broker, now=now)
    return run_cycle(
        session.config,
        session.store,
        session.broker,
        session.lake,
        now=now,
        strategies_dir=settings.strategies,
    )


def cycle_once(
    settings: Settings,
    name: str,
    *,
    config: BotConfig | None = None,
    config_file: str | None = None,
    resolver: SecretResolver | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One cycle for an orchestrator: ``{"report": CycleReport JSON, "status": bot status JSON}``.
    A failed cycle is recorded (error budget) and re-raised."""
    session = open_bot(settings, name, config_file=config_file, config=config, resolver=resolver)
    try:
        report = run_once(session, settings, now=now)
        return {"report": report.to_json(), "status": status(session.store, name)}
    finally:
        session.store.close()


def run_loop(
    session: BotSession,
    settings: Settings,
    *,
    poll: float,
    max_cycles: int | None = None,
    on_report: Callable[[CycleReport | TorchTraderError], None] = lambda _: None,
) -> int:
    """Cycle on each newly closed bar until killed (or ``max_cycles``); returns cycles run.

    A failed cycle is reported and the loop goes on (the error budget halts the bot); a halted bot
    ends the loop with a ``BotError``.
    """
    config = session.config
    start_cycle(config, session.store, session.broker)
    acted: datetime | None = None
    cycles = 0
    while max_cycles is None or cycles < max_cycles:
        bar = forming_bar(utcnow(), config.timeframe)
        if bar != acted:
            acted = bar
            cycles += 1
            try:
                on_report(
                    run_cycle(
                        config,
                        session.store,
                        session.broker,
                        session.lake,
                        strategies_dir=settings.strategies,
                    )
                )
            except TorchTraderError as error:
                if session.store.require_bot(config.name).state != "running":
                    raise  # halted: the loop ends with the reason
                on_report(error)
            continue
        time.sleep(poll)
    return cycles


# ------------------------------------------------------------------ reads
def _state_of(info: Any) -> str:
    if info.state == "running" and info.last_cycle_error:
        return "error"
    return str(info.state)


def status(store: StateStore, name: str) -> dict[str, Any]:
    """The ``bot status --json`` document of one bot."""
    info = store.require_bot(name)
    book = store.book(name)
    return {
        "name": name,
        "state": _state_of(info),
        "broker": info.broker,
        "cash": book.cash,
        "equity": book.equity,
        "realized_pnl": book.realized_pnl,
        "unrealized_pnl": book.unrealized_pnl,
        "positions": [
            {
                "symbol": p.symbol,
                "qty": p.qty,
                "avg_price": p.avg_price,
                "market_price": p.market_price,
                "unrealized_pnl": p.unrealized_pnl,
            }
            for p in sorted(book.positions.values(), key=lambda p: p.symbol)
            if p.qty
        ],
        "open_orders": [
            {
                "client_order_id": o.client_order_id,
                "symbol": o.symbol,
                "side": o.side,
                "qty": o.qty,
                "filled_qty": o.filled_qty,
                "status": o.status,
                "leg": o.leg,
                "bar_ts": o.bar_ts.isoformat(),
            }
            for o in store.open_orders(name)
        ],
        "last_cycle": {
            "at": None if info.last_cycle_at is None else info.last_cycle_at.isoformat(),
            "bar_ts": None if info.last_bar_ts is None else info.last_bar_ts.isoformat(),
            "orders": info.last_cycle_orders,
            "error": info.last_cycle_error,
        },
    }


def trades(store: StateStore, name: str) -> list[dict[str, Any]]:
    store.require_bot(name)
    return [
        {k: v for k, v in f.to_json().items() if k not in ("bot", "recorded_at")} for f in store.fills(name)
    ]


# --------------------------------------------------------------- actions
def halt_bot(session: BotSession, *, flatten: bool, reason: str = "kill switch") -> dict[str, Any]:
    """Halt, cancel every open order, and with ``flatten`` sell every position at market."""
    config, store, broker = session.config, session.store, session.broker
    store.ensure_bot(config.name, broker=config.broker.kind, capital=config.capital, config=config.snapshot())
    start_up(config, store, broker)
    halt(config, store, f"{reason} (flatten)" if flatten else reason, actor="cli")
    canceled = []
    for order in store.open_orders(config.name):
        if order.status in ("intent", "unknown"):
            store.mark_order(order.client_order_id, "unsent", "bot halted before it was sent")
            continue
        store.confirm(broker.cancel(order.client_order_id, order.symbol))
        canceled.append(order.client_order_id)
    flattened = []
    if flatten:
        now = utcnow()
        bar = forming_bar(now, config.timeframe)
        book = store.book(config.name)
        for symbol, position in sorted(book.positions.items()):
            if position.qty <= 0:
                continue
            coid = client_order_id(config.name, symbol, now, "flatten")
            price = position.market_price or position.avg_price or 0.0
            store.add_intents(
                [OrderIntent(coid, config.name, symbol, "sell", position.qty, "flatten", bar, price)]
            )
            try:
                state = broker.submit(OrderRequest(coid, symbol, "sell", position.qty))
            except OrderRejectedError as error:
                store.mark_order(coid, "rejected", str(error))
                notify(config, store, "order_rejected", f"flatten {symbol} refused: {error}")
                continue
            store.confirm(state)
            flattened.append(coid)
    store.add_audit(
        config.name, "halt", {"flatten": flatten, "canceled": canceled, "flatten_orders": flattened}
    )
    return {"name": config.name, "state": "halted", "canceled": canceled, "flatten_orders": flattened}


def resume_bot(store: StateStore, name: str) -> dict[str, Any]:
    info = store.require_bot(name)
    store.set_state(name, "running", None, actor="cli")
    return {"name": name, "state": "running", "was": info.state, "reason": info.state_reason}
