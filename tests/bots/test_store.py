"""The state store: Alembic schema (fresh, upgrade from the previous revision), refusal of corrupt
and newer-schema files without touching them, crash-safe order intents and idempotent fills."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from torchtrader.bots.broker import Fill, OrderState
from torchtrader.bots.store import OrderIntent, StateStore, head_revision, upgrade
from torchtrader.errors import BotError

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _revision(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as c:
        value = c.execute(text("select version_num from alembic_version")).scalar_one()
    engine.dispose()
    return str(value)


def test_a_new_database_is_created_at_head_in_wal_mode(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    StateStore(url).close()
    assert _revision(url) == head_revision()
    with sqlite3.connect(tmp_path / "state.db") as c:
        assert c.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_upgrade_from_empty_reaches_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    assert upgrade(url) == (None, head_revision())
    assert upgrade(url) == (head_revision(), head_revision())  # idempotent


def test_upgrade_from_the_previous_revision_keeps_the_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    upgrade(url, revision="0001")
    with sqlite3.connect(tmp_path / "state.db") as c:
        c.execute(
            "insert into bots (name, state, broker, capital, config, created_at, updated_at, failed_cycles,"
            " last_cycle_orders) values ('old', 'running', 'paper', 500.0, '{}', '2024-01-01 00:00:00',"
            " '2024-01-01 00:00:00', 2, 0)"
        )
    expected = rf"older than {head_revision()}: run `torchtrader db upgrade`"
    with pytest.raises(BotError, match=expected) as caught:
        StateStore(url)
    assert "\n" not in str(caught.value)
    assert upgrade(url) == ("0001", head_revision())
    store = StateStore(url)
    info = store.require_bot("old")
    assert (info.capital, info.failed_cycles, info.discrepancies, info.peak_equity) == (500.0, 2, 0, None)
    assert store.equity("old") == []


def test_a_corrupt_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    before = _digest(path)
    with pytest.raises(BotError, match="corrupt or not a Torch Trader state DB") as caught:
        StateStore(f"sqlite:///{path}")
    assert "\n" not in str(caught.value)
    with pytest.raises(BotError, match="corrupt"):
        upgrade(f"sqlite:///{path}")
    assert _digest(path) == before


def test_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    url = f"sqlite:///{path}"
    StateStore(url).close()
    with sqlite3.connect(path) as c:
        c.execute("update alembic_version set version_num = '0999'")
    before = _digest(path)
    for attempt in (lambda: StateStore(url), lambda: upgrade(url)):
        with pytest.raises(BotError, match="revision 0999, newer than this Torch Trader") as caught:
            attempt()
        assert "upgrade torchtrader" in str(caught.value)
    assert _digest(path) == before


def test_a_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as c:
        c.execute("create table customers (id integer)")
    with pytest.raises(BotError, match="not a Torch Trader state DB"):
        StateStore(f"sqlite:///{path}")


def test_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BotError, match="does not exist"):
        StateStore(f"sqlite:///{tmp_path / 'nope' / 'state.db'}")


def _intent(coid: str, side: str = "buy", qty: float = 2.0) -> OrderIntent:
    return OrderIntent(coid, "b", "ETH/USDT", side, qty, "open", T0, 100.0)


def test_intents_are_written_once_and_confirmed_from_the_venue(state_url: str) -> None:
    store = StateStore(state_url)
    store.ensure_bot("b", broker="paper", capital=1_000.0, config={})
    store.add_intents([_intent("c1"), _intent("c2")])
    store.add_intents([_intent("c1")])  # a re-run writes nothing twice
    assert [(o.client_order_id, o.status) for o in store.orders("b")] == [("c1", "intent"), ("c2", "intent")]
    state = OrderState("c1", "V1", "ETH/USDT", "buy", 2.0, 2.0, 101.0, "filled", 0.2, T0)
    record = store.confirm(state)
    assert (record.status, record.venue_order_id, record.filled_qty, record.fee) == ("filled", "V1", 2.0, 0.2)
    assert [o.client_order_id for o in store.open_orders("b")] == ["c2"]


def test_fills_are_idempotent_and_move_the_book_like_a_hand_computation(state_url: str) -> None:
    store = StateStore(state_url)
    store.ensure_bot("b", broker="paper", capital=1_000.0, config={})
    buy = Fill("f1", "c1", "ETH/USDT", "buy", 2.0, 100.0, 0.2, "USDT", T0)
    buy2 = Fill("f2", "c2", "ETH/USDT", "buy", 2.0, 110.0, 0.22, "USDT", T0)
    sell = Fill("f3", "c3", "ETH/USDT", "sell", 3.0, 120.0, 0.36, "USDT", T0)
    assert len(store.add_fills("b", [buy, buy2])) == 2
    assert store.add_fills("b", [buy, buy2]) == []
    store.add_fills("b", [sell])
    book = store.book("b")
    # avg cost (200 + 220) / 4 = 105; realized = 3 × (120 − 105) − all fees 0.78 = 44.22
    assert book.qty("ETH/USDT") == pytest.approx(1.0)
    assert book.positions["ETH/USDT"].avg_price == pytest.approx(105.0)
    assert book.realized_pnl == pytest.approx(44.22)
    # cash = 1000 − 200.2 − 220.22 + 359.64
    assert book.cash == pytest.approx(939.22)
    store.mark_prices("b", {"ETH/USDT": 130.0})
    assert store.book("b").equity == pytest.approx(939.22 + 130.0)


def test_a_fee_paid_in_the_base_currency_reduces_the_position(state_url: str) -> None:
    store = StateStore(state_url)
    store.ensure_bot("b", broker="ccxt", capital=1_000.0, config={})
    store.add_fills("b", [Fill("f1", "c1", "ETH/USDT", "buy", 2.0, 100.0, 0.002, "ETH", T0)])
    book = store.book("b")
    assert book.qty("ETH/USDT") == pytest.approx(1.998)
    assert book.cash == pytest.approx(800.0)


def test_halt_and_resume_are_audited(state_url: str) -> None:
    store = StateStore(state_url)
    store.ensure_bot("b", broker="paper", capital=1_000.0, config={})
    store.set_state("b", "halted", "kill switch", actor="cli")
    assert store.require_bot("b").state == "halted"
    store.set_state("b", "running", None, actor="cli")
    actions = [(a["actor"], a["action"]) for a in store.audit("b")]
    assert actions == [("bot", "create"), ("cli", "halted"), ("cli", "running")]
