"""The bot state store: models, Alembic-managed schema, and the ``StateStore`` read/write API."""

from __future__ import annotations

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
from torchtrader.bots.store.schema import head_revision, upgrade
from torchtrader.bots.store.store import StateStore, utcnow

__all__ = [
    "Book",
    "BotInfo",
    "EquityPoint",
    "EventRecord",
    "FillRecord",
    "OrderIntent",
    "OrderRecord",
    "PositionRecord",
    "StateStore",
    "head_revision",
    "upgrade",
    "utcnow",
]
