"""The state store on a real PostgreSQL server (started here from the machine's binaries, stopped by
its pid): migrations from empty and from the previous revision, and bot cycles against it.

Needs the PostgreSQL server binaries (Debian's postgresql package; `make install` adds it) and psycopg."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.bots.conftest import hour
from torchtrader.bots.config import BotConfig, make_broker
from torchtrader.bots.cycle import run_cycle
from torchtrader.bots.store import StateStore, head_revision, upgrade
from torchtrader.errors import BotError
from torchtrader.lake import Lake
from torchtrader.testing.net import free_port

# Debian keeps the server binaries off PATH; `make install` puts the postgresql package there.
_DEBIAN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
_PATH = os.pathsep.join([os.environ.get("PATH", ""), *map(str, _DEBIAN)])
INITDB, POSTGRES = shutil.which("initdb", path=_PATH), shutil.which("postgres", path=_PATH)
pytestmark = [pytest.mark.slow]


@pytest.fixture(autouse=True)
def _postgres_installed() -> None:
    assert INITDB and POSTGRES, (
        "PostgreSQL server binaries are missing: run `make install` (apt-get postgresql)"
    )


def _as_postgres_user() -> list[str]:
    # initdb and postgres refuse to run as root
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port; yields a SQLAlchemy URL prefix."""
    import tempfile

    # not under pytest's tmp folder: the postgres user must be able to reach it
    folder = Path(tempfile.mkdtemp(prefix="tt-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    subprocess.run(
        [*_as_postgres_user(), str(INITDB), "-D", str(data), "-A", "trust", "-U", "tt"],
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [
            *_as_postgres_user(),
            str(POSTGRES),
            "-D",
            str(data),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import psycopg

    for _ in range(200):
        try:
            psycopg.connect(f"host=127.0.0.1 port={port} user=tt dbname=postgres").close()
            break
        except psycopg.OperationalError:
            time.sleep(0.05)
    try:
        yield f"postgresql+psycopg://tt@127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def _database(server: str, name: str) -> str:
    import psycopg

    with psycopg.connect(
        server.replace("postgresql+psycopg://", "postgresql://") + "/postgres", autocommit=True
    ) as c:
        c.execute(f"create database {name}")
    return f"{server}/{name}"


def test_migrations_on_postgres(pg_server: str) -> None:
    url = _database(pg_server, "migrate")
    assert upgrade(url, revision="0001") == (None, "0001")
    with pytest.raises(BotError, match="run `torchtrader db upgrade`"):
        StateStore(url)
    assert upgrade(url) == ("0001", head_revision())
    store = StateStore(url)
    store.ensure_bot("pg", broker="paper", capital=100.0, config={"x": 1})
    assert store.require_bot("pg").capital == 100.0
    store.close()


def test_bot_cycles_with_state_on_postgres(
    pg_server: str, tmp_path: Path, bot_config: Callable[..., BotConfig]
) -> None:
    url = _database(pg_server, "cycles")
    config = bot_config()
    lake, store = Lake(str(tmp_path / "lake")), StateStore(url)
    broker = make_broker(config, store=store, lake=lake)
    for i in range(8, 30):
        run_cycle(config, store, broker, lake, now=hour(i))
        run_cycle(config, store, broker, lake, now=hour(i))  # re-run: nothing twice
    assert store.fills(config.name)
    coids = [o.client_order_id for o in store.orders(config.name)]
    assert len(coids) == len(set(coids))
    assert len(store.equity(config.name)) == 22
    store.close()
