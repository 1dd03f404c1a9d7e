"""Doctor checks of the bot state store: schema revision against the code's migrations, and the bots'
states. Kept apart from ``doctor`` so the core checks do not depend on the bots package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torchtrader.config import Settings
from torchtrader.ops.doctor import Check


def state_checks() -> list[Callable[[Settings], Check]]:
    return [state_db, bots]


def _sqlite_missing(url: str) -> bool:
    return url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists()


def state_db(settings: Settings) -> Check:
    from torchtrader.bots.store.schema import (
        current_revision,
        describe_url,
        head_revision,
        known_revisions,
        make_engine,
    )

    url = settings.state_db
    where = describe_url(url)
    if _sqlite_missing(url):
        return Check("state_db", "ok", f"{where}: not created yet (the first bot command creates it)")
    engine = make_engine(url)
    try:
        revision, has_tables = current_revision(engine)
    except Exception as error:
        return Check(
            "state_db", "fail", f"{where} unreadable: {error}", "restore a backup or set TORCHTRADER_STATE_DB"
        )
    finally:
        engine.dispose()
    head = head_revision()
    if revision == head:
        return Check("state_db", "ok", f"{where}: schema at head ({head})")
    if revision is None and not has_tables:
        return Check("state_db", "warn", f"{where}: empty", "torchtrader db upgrade")
    if revision is not None and revision not in known_revisions():
        return Check(
            "state_db", "fail", f"{where}: schema {revision} is newer than this code", "upgrade torchtrader"
        )
    return Check(
        "state_db", "fail", f"{where}: schema {revision}, code expects {head}", "torchtrader db upgrade"
    )


def bots(settings: Settings) -> Check:
    from torchtrader.bots.store.store import StateStore

    if _sqlite_missing(settings.state_db):
        return Check("bots", "ok", "no bots yet")
    store = StateStore(settings.state_db, create=False)
    try:
        found = store.bots()
    except Exception as error:
        return Check("bots", "fail", f"cannot list bots: {error}", "torchtrader db upgrade")
    finally:
        store.close()
    if not found:
        return Check("bots", "ok", "no bots yet")
    unhealthy = [bot for bot in found if bot.state != "running"]
    summary = ", ".join(f"{bot.name}={bot.state}" for bot in found)
    if unhealthy:
        first = unhealthy[0]
        reason = f" ({first.state_reason})" if first.state_reason else ""
        return Check(
            "bots", "warn", summary + reason, f"torchtrader bot status {first.name}; bot resume {first.name}"
        )
    return Check("bots", "ok", summary)
