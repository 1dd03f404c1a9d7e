"""Alembic environment: runs on the connection ``bots.store.schema`` hands over (or the URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from torchtrader.bots.store.models import Base

config = context.config


def _migrate(connection: Connection) -> None:
    # Batch mode: SQLite cannot ALTER most things in place, Alembic rebuilds the table instead.
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def _run() -> None:
    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _migrate(given)
        return
    engine = create_engine(str(config.get_main_option("sqlalchemy.url")))
    with engine.begin() as connection:
        _migrate(connection)
    engine.dispose()


_run()
