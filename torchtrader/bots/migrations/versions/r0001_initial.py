"""Initial bot state: bots, orders (intents), fills, positions, events and the paper venue's account.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from torchtrader.bots.store.models import UTCDateTime

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bots",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.Column("broker", sa.String(32), nullable=False),
        sa.Column("capital", sa.Float(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("failed_cycles", sa.Integer(), nullable=False),
        sa.Column("last_cycle_at", UTCDateTime(), nullable=True),
        sa.Column("last_bar_ts", UTCDateTime(), nullable=True),
        sa.Column("last_cycle_orders", sa.Integer(), nullable=False),
        sa.Column("last_cycle_error", sa.Text(), nullable=True),
    )
    op.create_table(
        "orders",
        sa.Column("client_order_id", sa.String(64), primary_key=True),
        sa.Column("bot", sa.String(64), sa.ForeignKey("bots.name"), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("qty", sa.Float(), nullable=False),
        sa.Column("type", sa.String(8), nullable=False),
        sa.Column("limit_price", sa.Float(), nullable=True),
        sa.Column("leg", sa.String(16), nullable=False),
        sa.Column("bar_ts", UTCDateTime(), nullable=False),
        sa.Column("price_estimate", sa.Float(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("venue_order_id", sa.String(64), nullable=True),
        sa.Column("filled_qty", sa.Float(), nullable=False),
        sa.Column("avg_fill_price", sa.Float(), nullable=True),
        sa.Column("fee", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_orders_bot_bar", "orders", ["bot", "symbol", "bar_ts"])
    op.create_table(
        "fills",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("bot", sa.String(64), sa.ForeignKey("bots.name"), nullable=False),
        sa.Column("fill_id", sa.String(64), nullable=False),
        sa.Column("client_order_id", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("qty", sa.Float(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("fee", sa.Float(), nullable=False),
        sa.Column("fee_currency", sa.String(16), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("bot", "fill_id", name="uq_fills_bot_fill"),
    )
    op.create_table(
        "positions",
        sa.Column("bot", sa.String(64), sa.ForeignKey("bots.name"), primary_key=True),
        sa.Column("symbol", sa.String(32), primary_key=True),
        sa.Column("qty", sa.Float(), nullable=False),
        sa.Column("avg_price", sa.Float(), nullable=True),
        sa.Column("realized_pnl", sa.Float(), nullable=False),
        sa.Column("market_price", sa.Float(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("bot", sa.String(64), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_events_bot_ts", "events", ["bot", "ts"])
    op.create_table(
        "paper_balances",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("currency", sa.String(16), primary_key=True),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("avg_price", sa.Float(), nullable=True),
    )
    op.create_table(
        "paper_orders",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("client_order_id", sa.String(64), primary_key=True),
        sa.Column("venue_order_id", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("qty", sa.Float(), nullable=False),
        sa.Column("type", sa.String(8), nullable=False),
        sa.Column("limit_price", sa.Float(), nullable=True),
        sa.Column("after_bar", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("filled_qty", sa.Float(), nullable=False),
        sa.Column("avg_fill_price", sa.Float(), nullable=True),
        sa.Column("fee", sa.Float(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "paper_fills",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("fill_id", sa.String(64), primary_key=True),
        sa.Column("client_order_id", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("qty", sa.Float(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("fee", sa.Float(), nullable=False),
        sa.Column("fee_currency", sa.String(16), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in ("paper_fills", "paper_orders", "paper_balances", "events", "positions", "fills", "orders"):
        op.drop_table(table)
    op.drop_table("bots")
