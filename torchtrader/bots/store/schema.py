"""Engine set-up and schema versions of the state store (Alembic, run programmatically).

``open_engine`` refuses, with one line naming what to run, a database that is not a database
(corrupt file), one written by a newer Torch Trader (unknown revision) and one that needs
``torchtrader db upgrade``; it never modifies the file in those cases. A brand-new empty database is
created at the head revision on first use.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError

from torchtrader.errors import BotError

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
UPGRADE_HINT = "run `torchtrader db upgrade`"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL: a reader (bot status) never blocks the cycle's writer; busy_timeout absorbs short locks
        # when several bot processes share one file.
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL still survives a killed process (only an OS crash can lose the last
        # commits), and it saves an fsync per transaction.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def describe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (SQLite files get WAL, foreign keys and a busy timeout)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise BotError(
            f"state_db {url!r} is not a SQLAlchemy URL: use sqlite:///PATH or postgresql://..."
        ) from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            folder = Path(database).expanduser().parent
            if not folder.is_dir():
                raise BotError(
                    f"state DB folder {folder} does not exist: create it or set TORCHTRADER_STATE_DB"
                )
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return create_engine(parsed, pool_pre_ping=True)
    except (ImportError, ArgumentError) as error:
        raise BotError(f"state DB {describe_url(url)}: {error}") from None


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    return {
        script.revision
        for script in ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions()
    }


def current_revision(engine: Engine) -> tuple[str | None, bool]:
    """(revision recorded in the DB, whether the DB holds any table at all)."""
    with engine.connect() as connection:
        tables = inspect(connection).get_table_names()
        revision = MigrationContext.configure(connection).get_current_revision()
    return revision, bool(tables)


def _unreadable(url: str, error: Exception) -> BotError:
    reason = " ".join(str(getattr(error, "orig", error)).split())
    return BotError(
        f"state DB {describe_url(url)} cannot be read ({reason}): it is corrupt or not a Torch Trader "
        "state DB; restore a backup or point TORCHTRADER_STATE_DB at another file (nothing was changed)"
    )


def check_schema(engine: Engine, url: str, *, create_empty: bool = True) -> None:
    """Refuse a DB this code cannot use; create a brand-new empty one at head."""
    try:
        revision, has_tables = current_revision(engine)
    except (DatabaseError, OperationalError) as error:
        raise _unreadable(url, error) from None
    head = head_revision()
    if revision == head:
        return
    if revision is None and not has_tables:
        if create_empty:
            upgrade(url, engine=engine)
            return
        raise BotError(f"state DB {describe_url(url)} is empty: {UPGRADE_HINT}")
    if revision is None:
        raise BotError(
            f"state DB {describe_url(url)} holds tables but no Torch Trader schema version: "
            "it is not a Torch Trader state DB; point TORCHTRADER_STATE_DB at another file"
        )
    if revision not in known_revisions():
        raise BotError(
            f"state DB {describe_url(url)} has schema revision {revision}, newer than this Torch Trader "
            f"knows (head {head}): upgrade torchtrader (nothing was changed)"
        )
    raise BotError(
        f"state DB {describe_url(url)} is at schema revision {revision}, older than {head}: {UPGRADE_HINT}"
    )


def upgrade(url: str, *, revision: str = "head", engine: Engine | None = None) -> tuple[str | None, str]:
    """Migrate the DB at ``url`` to ``revision``; returns (revision before, revision after)."""
    owned = engine is None
    engine = engine or make_engine(url)
    try:
        before, _ = current_revision(engine)
        if before is not None and before not in known_revisions():
            raise BotError(
                f"state DB {describe_url(url)} has schema revision {before}, newer than this Torch Trader "
                "knows: upgrade torchtrader (nothing was changed)"
            )
        config = alembic_config(url)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        after, _ = current_revision(engine)
    except (DatabaseError, OperationalError) as error:
        raise _unreadable(url, error) from None
    finally:
        if owned:
            engine.dispose()
    logger.info("state DB %s upgraded from %s to %s", describe_url(url), before, after)
    return before, after or revision
