"""What a cycle tells the world: events in the store, alerts through apprise, copies in the lake.

An event is always recorded; it becomes an alert when the bot's ``[alerts]`` rules select its kind.
Alert delivery never raises (``torchtrader.alerts``). The lake gets the bot's fills (``bot_fills``)
and equity snapshots (``bot_equity``) as idempotent upserts; the store stays the source of truth,
so a lake that cannot be written is logged and healed by the next successful write.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from torchtrader.alerts import EVENT_KINDS, AlertEvent, alerts_for, deliver
from torchtrader.bots.config import BotConfig
from torchtrader.bots.risk import AccountView
from torchtrader.bots.store import EquityPoint, FillRecord, StateStore
from torchtrader.errors import LakeError

logger = logging.getLogger(__name__)


def notify(
    config: BotConfig, store: StateStore, kind: str, message: str, data: dict[str, Any] | None = None
) -> None:
    """Record an event and alert on it when the rules pick its kind."""
    store.add_event(config.name, kind, message, data)
    logger.info("%s: %s: %s", config.name, kind, message)
    if config.alerts.urls and kind in EVENT_KINDS:
        alerts = alerts_for(config.alerts, bot=config.name, events=[AlertEvent(kind, message)])
        deliver(config.alerts.urls, alerts)


def alert_account(config: BotConfig, account: AccountView, previous: AccountView | None) -> None:
    """The account rules (drawdown, daily P&L) on this cycle's figures."""
    if not config.alerts.urls:
        return
    alerts = alerts_for(config.alerts, bot=config.name, account=account, previous=previous)
    deliver(config.alerts.urls, alerts)


def day_start(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def account_view(
    store: StateStore, bot: str, *, equity: float, at: datetime, prices: dict[str, float]
) -> AccountView:
    """The risk checks' view: equity now, its peak, the day's opening equity, positions and prices."""
    info = store.require_bot(bot)
    opening = store.equity_at(bot, since=day_start(at))
    book = store.book(bot)
    return AccountView(
        equity=equity,
        peak_equity=max(info.peak_equity or equity, equity),
        day_start_equity=opening.equity if opening is not None else equity,
        positions={s: p.qty for s, p in book.positions.items() if p.qty},
        prices=prices,
    )


def previous_view(store: StateStore, bot: str, at: datetime) -> AccountView | None:
    last = store.equity_at(bot, last=True)
    if last is None:
        return None
    info = store.require_bot(bot)
    opening = store.equity_at(bot, since=day_start(last.ts))
    return AccountView(
        equity=last.equity,
        peak_equity=info.peak_equity or last.equity,
        day_start_equity=opening.equity if opening is not None else last.equity,
    )


def write_lake(lake: Any, fills: Sequence[FillRecord], point: EquityPoint | None) -> None:
    """Upsert the cycle's fills and equity snapshot into ``bot_fills`` / ``bot_equity``."""
    import polars as pl

    try:
        if fills:
            frame = pl.DataFrame([f.to_json() | {"ts": f.ts, "recorded_at": f.recorded_at} for f in fills])
            lake.write_table("bot_fills", frame, key=["bot", "fill_id"], mode="upsert")
        if point is not None:
            row = point.to_json() | {"ts": point.ts, "bar_ts": point.bar_ts}
            frame = pl.DataFrame([row], schema_overrides={"bar_ts": pl.Datetime("us", "UTC")})
            lake.write_table("bot_equity", frame, key=["bot", "ts"], mode="upsert")
    except LakeError as error:
        logger.warning("bot tables in the lake not updated (the state store has them): %s", error)
