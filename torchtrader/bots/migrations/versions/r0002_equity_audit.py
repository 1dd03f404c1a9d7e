"""Equity snapshots, the audit trail of operator actions, and the risk counters on ``bots``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from torchtrader.bots.store.models import UTCDateTime

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "equity",
        sa.Column("bot", sa.String(64), sa.ForeignKey("bots.name"), primary_key=True),
        sa.Column("ts", UTCDateTime(), primary_key=True),
        sa.Column("bar_ts", UTCDateTime(), nullable=True),
        sa.Column("cash", sa.Float(), nullable=False),
        sa.Column("equity", sa.Float(), nullable=False),
        sa.Column("realized_pnl", sa.Float(), nullable=False),
        sa.Column("unrealized_pnl", sa.Float(), nullable=False),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("bot", sa.String(64), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    with op.batch_alter_table("bots") as batch:
        batch.add_column(sa.Column("discrepancies", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("peak_equity", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bots") as batch:
        batch.drop_column("peak_equity")
        batch.drop_column("discrepancies")
    op.drop_table("audit")
    op.drop_table("equity")
