"""One bot cycle: bars → decision → orders → reconciliation → snapshot. Safe to re-run and to kill.

    report = run_cycle(config, store, broker, lake)

Order of work, and why it is crash-safe:

1. bring the bars up to date (``torchtrader.ingest``: validated, idempotent upserts);
2. reconcile the store with the venue (``bots.reconcile``): the outcome of anything a killed run left
   behind is learnt from the venue, never guessed;
3. compute each symbol's decision at the last closed bar (the backtest's strategy code, batch = 1);
4. one decision per (symbol, bar): when the store already holds orders for that bar they are only
   finished (an intent the venue never received is sent; nothing is planned again). Otherwise the legs
   are planned (``bots.planning``), checked against the risk limits (``bots.risk``), written as
   intents in one transaction, and only then sent, each with its deterministic client order id;
5. an ambiguous submit (``AmbiguousOrderError``) is resolved by ``broker.lookup``, never by sending
   again; a refused order is recorded and alerted, never retried;
6. reconcile again (immediate fills), snapshot equity to the store and the lake, apply the account
   limits. A failed cycle counts against the error budget; past it the bot halts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from torchtrader.bots.broker import Broker
from torchtrader.bots.config import BotConfig, resolve_strategy
from torchtrader.bots.market import bars_needed, decide, make_source, update_bars
from torchtrader.bots.monitor import account_view, alert_account, notify, previous_view, write_lake
from torchtrader.bots.orders import cancel_stale, risk_filter, send_intent
from torchtrader.bots.planning import LEGS, Decision, client_order_id, plan_legs
from torchtrader.bots.reconcile import Discrepancy, ReconcileReport, reconcile
from torchtrader.bots.risk import (
    AccountView,
    check_account,
    discrepancies_halt,
    error_budget_exhausted,
)
from torchtrader.bots.store import EquityPoint, FillRecord, OrderIntent, OrderRecord, StateStore, utcnow
from torchtrader.bots.store.models import INTENT
from torchtrader.errors import BotError, TorchTraderError
from torchtrader.lake import Lake
from torchtrader.sources import Source

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CycleReport:
    """What one cycle did (``bot run --once --json`` prints ``to_json()``)."""

    bot: str
    at: datetime
    bar_ts: datetime | None
    state: str
    orders: tuple[OrderRecord, ...] = ()
    fills: tuple[FillRecord, ...] = ()
    discrepancies: tuple[Discrepancy, ...] = ()
    cash: float = 0.0
    equity: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "bot": self.bot,
            "at": self.at.isoformat(),
            "bar_ts": None if self.bar_ts is None else self.bar_ts.isoformat(),
            "state": self.state,
            "orders": [o.to_json() for o in self.orders],
            "fills": [f.to_json() for f in self.fills],
            "discrepancies": [
                {"kind": d.kind, "symbol": d.symbol, "message": d.message} for d in self.discrepancies
            ],
            "cash": self.cash,
            "equity": self.equity,
            "notes": list(self.notes),
        }


def halt(config: BotConfig, store: StateStore, reason: str, *, actor: str = "bot") -> None:
    store.set_state(config.name, "halted", reason, actor=actor)
    notify(config, store, "halt", reason)


def start_up(config: BotConfig, store: StateStore, broker: Broker) -> ReconcileReport:
    """What ``bot run`` does once before its first cycle: reconcile whatever a previous run left."""
    store.ensure_bot(config.name, broker=config.broker.kind, capital=config.capital, config=config.snapshot())
    report = reconcile(
        store, broker, config.name, config.symbols, dedicated_account=config.broker.dedicated_account
    )
    _handle_discrepancies(config, store, report)
    return report


def start_cycle(config: BotConfig, store: StateStore, broker: Broker, *, now: datetime | None = None) -> None:
    """``start_up`` before cycling: a venue failure here is a failed cycle like any other, so it
    counts against the error budget (a 5xx storm during reconciliation halts the bot too)."""
    try:
        start_up(config, store, broker)
    except TorchTraderError as error:
        info = store.bot(config.name)
        if info is not None and info.state == "running":
            _fail(config, store, now or utcnow(), None, error)
        raise


def run_cycle(
    config: BotConfig,
    store: StateStore,
    broker: Broker,
    lake: Lake,
    *,
    now: datetime | None = None,
    strategies_dir: str | None = None,
    source: Source | None = None,
    ingest: bool = True,
) -> CycleReport:
    """Run one cycle at ``now`` (default: the clock). Raises ``BotError`` for a halted bot and
    re-raises the error of a failed cycle after recording it."""
    now = now or utcnow()
    recorded = store.bot(config.name)  # before ensure_bot refreshes the snapshot (strategy change)
    info = store.ensure_bot(
        config.name, broker=config.broker.kind, capital=config.capital, config=config.snapshot()
    )
    if info.state != "running":
        raise BotError(
            f"bot {config.name} is {info.state} ({info.state_reason or 'no reason given'}): "
            f"`torchtrader bot resume {config.name}` lets it trade again"
        )
    _note_strategy_change(config, store, recorded.config if recorded else info.config)
    bar_ts: datetime | None = None
    try:
        strategy, params = resolve_strategy(config, strategies_dir)
        if ingest:
            update_bars(
                config,
                lake,
                source or make_source(config),
                now=now,
                needed=bars_needed(config, strategy, params),
            )
        decisions = decide(config, lake, strategy, params, now=now)
        bar_ts = max(d.bar_ts for d in decisions)
        first = reconcile(
            store,
            broker,
            config.name,
            config.symbols,
            current_bar=bar_ts,
            dedicated_account=config.broker.dedicated_account,
        )
        if _handle_discrepancies(config, store, first):
            return _finish(config, store, lake, now, bar_ts, [], first, decisions, state="halted")
        prices = {d.symbol: d.price for d in decisions}
        store.mark_prices(config.name, prices)
        book = store.book(config.name)
        view = account_view(store, config.name, equity=book.equity, at=now, prices=prices)
        verdict = check_account(config.risk, view)
        if verdict.halt:
            halt(config, store, "risk: " + "; ".join(verdict.reasons))
            return _finish(config, store, lake, now, bar_ts, [], first, decisions, state="halted")
        orders: list[OrderRecord] = []
        if broker.is_open(now):
            orders = _act(config, store, broker, decisions, view)
        else:
            notify(config, store, "market_closed", f"market closed at {now.isoformat()}: no orders")
        second = reconcile(
            store,
            broker,
            config.name,
            config.symbols,
            current_bar=bar_ts,
            dedicated_account=config.broker.dedicated_account,
        )
        merged = ReconcileReport(
            first.orders_checked + second.orders_checked,
            first.orders_updated + second.orders_updated,
            first.new_fills + second.new_fills,
            second.discrepancies,
        )
        state = "halted" if _handle_discrepancies(config, store, second) else "running"
        return _finish(config, store, lake, now, bar_ts, orders, merged, decisions, state=state)
    except TorchTraderError as error:
        _fail(config, store, now, bar_ts, error)
        raise


def _act(
    config: BotConfig, store: StateStore, broker: Broker, decisions: list[Decision], view: AccountView
) -> list[OrderRecord]:
    """Plan (or finish) every symbol's orders for its bar, risk-check, persist intents, send."""
    book = store.book(config.name)
    quote = broker.balances().get(broker.quote_currency)
    free = min(book.cash, quote.free if quote is not None else 0.0)
    share = book.equity / len(config.symbols)
    resend: list[OrderRecord] = []
    planned: list[OrderIntent] = []
    for decision in decisions:
        existing = [  # a kill-switch flatten order is not a decision of this bar
            o
            for o in store.orders(config.name, symbol=decision.symbol, bar_ts=decision.bar_ts)
            if o.leg in LEGS
        ]
        if existing:
            resend.extend(o for o in existing if o.status == INTENT)
            continue
        cancel_stale(config, store, broker, decision)
        rules = broker.rules(decision.symbol)
        legs = plan_legs(
            decision,
            held=book.qty(decision.symbol),
            equity_share=share,
            free_quote=free,
            size=config.size,
            slippage_bps=config.slippage_bps,
            rules=rules,
        )
        for leg in legs:
            if leg.side == "buy":
                free -= leg.qty * leg.price * (1 + rules.fee_rate)
            else:
                free += leg.qty * leg.price * (1 - rules.fee_rate)
            planned.append(
                OrderIntent(
                    client_order_id=client_order_id(config.name, decision.symbol, decision.bar_ts, leg.leg),
                    bot=config.name,
                    symbol=decision.symbol,
                    side=leg.side,
                    qty=leg.qty,
                    leg=leg.leg,
                    bar_ts=decision.bar_ts,
                    price_estimate=leg.price,
                )
            )
    approved = risk_filter(config, store, planned, view)
    store.add_intents(approved)
    sent = [send_intent(config, store, broker, o, fresh=False) for o in resend]
    for intent in approved:
        record = store.order(intent.client_order_id)
        assert record is not None
        sent.append(send_intent(config, store, broker, record, fresh=True))
    return [o for o in sent if o is not None]


def _handle_discrepancies(config: BotConfig, store: StateStore, report: ReconcileReport) -> bool:
    """Events and alerts for each discrepancy; True when they halted the bot."""
    for d in report.discrepancies:
        notify(config, store, "discrepancy", d.message, {"kind": d.kind, "symbol": d.symbol, **d.data})
    for fill in report.new_fills:
        notify(
            config,
            store,
            "fill",
            f"{fill.side} {fill.qty:g} {fill.symbol} at {fill.price:g} (fee {fill.fee:g})",
        )
    if report.discrepancies and discrepancies_halt(config.risk, len(report.discrepancies)):
        halt(
            config,
            store,
            f"reconciliation found {len(report.discrepancies)} discrepancy(ies): "
            f"{report.discrepancies[0].message}",
        )
        return True
    return False


def _finish(
    config: BotConfig,
    store: StateStore,
    lake: Lake,
    now: datetime,
    bar_ts: datetime,
    orders: list[OrderRecord],
    recon: ReconcileReport,
    decisions: list[Decision],
    *,
    state: str,
) -> CycleReport:
    prices = {d.symbol: d.price for d in decisions}
    store.mark_prices(config.name, prices)
    book = store.book(config.name)
    previous = previous_view(store, config.name, now)
    point = EquityPoint(
        config.name, now, bar_ts, book.cash, book.equity, book.realized_pnl, book.unrealized_pnl
    )
    store.add_equity(point)
    store.update_peak(config.name, book.equity)
    store.record_cycle(config.name, at=now, bar_ts=bar_ts, orders=len(orders), error=None)
    write_lake(lake, recon.new_fills, point)
    if state == "running":
        view = account_view(store, config.name, equity=book.equity, at=now, prices=prices)
        alert_account(config, view, previous)
        if check_account(config.risk, view).halt:
            halt(config, store, "risk: " + "; ".join(check_account(config.risk, view).reasons))
            state = "halted"
    return CycleReport(
        bot=config.name,
        at=now,
        bar_ts=bar_ts,
        state=state,
        orders=tuple(orders),
        fills=recon.new_fills,
        discrepancies=recon.discrepancies,
        cash=book.cash,
        equity=book.equity,
    )


def _fail(
    config: BotConfig, store: StateStore, now: datetime, bar_ts: datetime | None, error: TorchTraderError
) -> None:
    message = " ".join(str(error).split())
    failures = store.record_cycle(config.name, at=now, bar_ts=bar_ts, orders=0, error=message)
    notify(config, store, "error", f"cycle failed ({failures} in a row): {message}")
    if error_budget_exhausted(config.risk, failures):
        halt(config, store, f"error budget: {failures} consecutive failed cycles; last: {message}")


def _note_strategy_change(config: BotConfig, store: StateStore, recorded: dict[str, Any]) -> None:
    before = (recorded.get("strategy"), recorded.get("params"))
    if before != (config.strategy, dict(config.params)) and recorded.get("strategy") is not None:
        notify(
            config,
            store,
            "strategy_change",
            f"strategy {before[0]} {before[1]} -> {config.strategy} {dict(config.params)}",
        )
