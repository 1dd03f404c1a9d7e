"""``torchtrader bot …`` and ``torchtrader db upgrade`` through the real entry point: the JSON shapes
of the issue, the kill switch, and bad input as one line with exit 1 and no order sent."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.bots.conftest import hour
from torchtrader.bots.store import head_revision

Run = Callable[..., Any]
STATUS_KEYS = {
    "name",
    "state",
    "broker",
    "cash",
    "equity",
    "realized_pnl",
    "unrealized_pnl",
    "positions",
    "open_orders",
    "last_cycle",
}
POSITION_KEYS = {"symbol", "qty", "avg_price", "market_price", "unrealized_pnl"}
LAST_CYCLE_KEYS = {"at", "bar_ts", "orders", "error"}


@pytest.fixture
def state_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state" / "state.db"
    path.parent.mkdir()
    monkeypatch.setenv("TORCHTRADER_STATE_DB", f"sqlite:///{path}")
    return path


def _create(run_cli: Run, lake: str, name: str = "alpha", *extra: str) -> Any:
    return run_cli(
        lake,
        "bot",
        "create",
        name,
        "--strategy",
        "sma_cross",
        "--param",
        "fast=2",
        "--param",
        "slow=5",
        "--symbol",
        "BTC/USDT",
        "--timeframe",
        "1h",
        "--capital",
        "10000",
        "--fee",
        "0.001",
        *extra,
    )


def _venue_orders(state_db: Path) -> int:
    with sqlite3.connect(state_db) as c:
        return int(c.execute("select count(*) from paper_orders").fetchone()[0])


def test_create_list_run_status_trades(run_cli: Run, lake_uri: str, state_db: Path) -> None:
    created = _create(run_cli, lake_uri, "alpha", "--max-position", "20000", "--alert", "json://127.0.0.1:9/")
    assert created.code == 0, created.err
    assert (state_db.parent / "bots" / "alpha.toml").exists()
    listed = run_cli(lake_uri, "bot", "list", "--json")
    assert [(r["name"], r["state"], r["broker"]) for r in listed.json()] == [("alpha", "new", "paper")]

    orders = 0
    for i in range(8, 30):
        ran = run_cli(lake_uri, "bot", "run", "alpha", "--once", "--json", "--now", hour(i).isoformat())
        assert ran.code == 0, ran.err
        orders += len(ran.json()["orders"])
    assert orders >= 2

    status = run_cli(lake_uri, "bot", "status", "alpha", "--json").json()
    assert set(status) == STATUS_KEYS
    assert status["state"] in ("running", "halted", "error") and status["broker"] == "paper"
    assert set(status["last_cycle"]) == LAST_CYCLE_KEYS
    assert status["last_cycle"]["bar_ts"] == hour(28).isoformat()
    assert all(set(p) == POSITION_KEYS for p in status["positions"])
    assert status["equity"] == pytest.approx(
        status["cash"] + sum(p["qty"] * p["market_price"] for p in status["positions"])
    )
    every = run_cli(lake_uri, "bot", "status", "--json").json()
    assert [d["name"] for d in every] == ["alpha"]

    trades = run_cli(lake_uri, "bot", "trades", "alpha", "--json").json()
    assert trades and set(trades[0]) >= {
        "fill_id",
        "client_order_id",
        "symbol",
        "side",
        "qty",
        "price",
        "fee",
        "ts",
    }
    assert run_cli(lake_uri, "bot", "trades", "alpha").code == 0


def test_halt_flatten_then_resume(run_cli: Run, lake_uri: str, state_db: Path) -> None:
    assert _create(run_cli, lake_uri).code == 0
    i = 8
    while True:  # run until the bot holds a position
        run_cli(lake_uri, "bot", "run", "alpha", "--once", "--now", hour(i).isoformat())
        if run_cli(lake_uri, "bot", "status", "alpha", "--json").json()["positions"]:
            break
        i += 1
        assert i < 80
    halted = run_cli(lake_uri, "bot", "halt", "alpha", "--flatten", "--json")
    assert halted.code == 0, halted.err
    assert len(halted.json()["flatten_orders"]) == 1
    status = run_cli(lake_uri, "bot", "status", "alpha", "--json").json()
    assert status["state"] == "halted"
    assert [o["leg"] for o in status["open_orders"]] == ["flatten"]
    before = _venue_orders(state_db)
    refused = run_cli(lake_uri, "bot", "run", "alpha", "--once", "--now", hour(i + 1).isoformat())
    assert refused.code == 1 and "is halted" in refused.err and refused.err.count("\n") == 1
    assert _venue_orders(state_db) == before

    assert run_cli(lake_uri, "bot", "resume", "alpha").code == 0
    ran = run_cli(lake_uri, "bot", "run", "alpha", "--once", "--json", "--now", hour(i + 1).isoformat())
    assert ran.code == 0, ran.err
    status = run_cli(lake_uri, "bot", "status", "alpha", "--json").json()
    assert status["state"] == "running" and status["positions"] == []  # the flatten sell filled
    recon = run_cli(lake_uri, "bot", "reconcile", "alpha", "--json")
    assert recon.code == 0 and recon.json()["discrepancies"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "nope"], "unknown strategy 'nope'"),
        (["--broker", "ftx"], "unknown broker 'ftx'"),
        (["--broker", "ccxt"], "needs key_env and secret_env"),
        (["--max-daily-loss", "3"], "max_daily_loss is a fraction"),
        (["--param", "slow=2"], "slow (2) must be > fast (2)"),
        (["--timeframe", "hourly"], "invalid timeframe"),
    ],
)
def test_bad_create_input_is_one_line_and_writes_nothing(
    run_cli: Run, lake_uri: str, state_db: Path, args: list[str], message: str
) -> None:
    base = {"--strategy": "sma_cross", "--timeframe": "1h", "--broker": "paper"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    extra = [x for flag, value in base.items() for x in (flag, value)]
    params = [] if "--param" in args else ["--param", "fast=2", "--param", "slow=5"]
    if "--param" in args:
        extra += ["--param", "fast=2"]
    r = run_cli(lake_uri, "bot", "create", "b", *extra, *params, "--symbol", "BTC/USDT", "--capital", "100")
    assert r.code == 1
    assert r.err.startswith("error: ") and message in r.err and r.err.count("\n") == 1
    assert not (state_db.parent / "bots" / "b.toml").exists()


def test_a_missing_key_variable_stops_the_run_before_any_order(
    run_cli: Run, lake_uri: str, state_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TT_TEST_KEY", raising=False)
    r = _create(
        run_cli,
        lake_uri,
        "live",
        "--broker",
        "ccxt",
        "--key-env",
        "TT_TEST_KEY",
        "--secret-env",
        "TT_TEST_SECRET",
    )
    assert r.code == 0, r.err
    ran = run_cli(lake_uri, "bot", "run", "live", "--once")
    assert ran.code == 1 and "TT_TEST_KEY is not set" in ran.err and ran.err.count("\n") == 1


def test_an_unknown_symbol_fails_the_cycle_with_one_line(run_cli: Run, lake_uri: str, state_db: Path) -> None:
    r = run_cli(
        lake_uri,
        "bot",
        "create",
        "odd",
        "--strategy",
        "sma_cross",
        "--symbol",
        "NOPE/USDT",
        "--timeframe",
        "1h",
        "--capital",
        "100",
        "--source",
        "sample",
    )
    assert r.code == 0, r.err
    ran = run_cli(lake_uri, "bot", "run", "odd", "--once", "--now", hour(50).isoformat())
    assert ran.code == 1 and ran.err.count("\n") == 1 and "NOPE/USDT" in ran.err
    assert _venue_orders(state_db) == 0


def test_a_corrupt_state_db_is_one_line_and_kept(run_cli: Run, lake_uri: str, state_db: Path) -> None:
    assert _create(run_cli, lake_uri).code == 0
    state_db.write_bytes(b"garbage" * 200)
    for args in (["bot", "run", "alpha", "--once"], ["bot", "status", "--json"], ["db", "upgrade"]):
        r = run_cli(lake_uri, *args)
        assert r.code == 1 and "corrupt" in r.err and r.err.count("\n") == 1
    assert state_db.read_bytes() == b"garbage" * 200


def test_db_upgrade_migrates_the_previous_revision(run_cli: Run, lake_uri: str, state_db: Path) -> None:
    first = run_cli(lake_uri, "db", "upgrade", "--revision", "0001")
    assert first.code == 0 and "empty -> 0001" in first.out
    stale = run_cli(lake_uri, "bot", "status", "--json")
    assert stale.code == 1 and "run `torchtrader db upgrade`" in stale.err
    assert f"0001 -> {head_revision()}" in run_cli(lake_uri, "db", "upgrade").out
    assert run_cli(lake_uri, "bot", "status", "--json").json() == []


def test_run_needs_once_or_loop(run_cli: Run, lake_uri: str, state_db: Path) -> None:
    assert _create(run_cli, lake_uri).code == 0
    r = run_cli(lake_uri, "bot", "run", "alpha")
    assert r.code == 1 and "exactly one of --once or --loop" in r.err


def test_the_loop_acts_on_the_newly_closed_bar(run_cli: Run, lake_uri: str, state_db: Path) -> None:
    assert _create(run_cli, lake_uri).code == 0
    r = run_cli(lake_uri, "bot", "run", "alpha", "--loop", "--poll", "0.01", "--max-cycles", "1", "--json")
    assert r.code == 0, r.err
    report = r.json()
    assert report["state"] == "running" and report["bar_ts"] is not None


def test_run_once_works_from_a_subprocess(
    tmp_path: Path, lake_uri: str, state_db: Path, run_cli: Run
) -> None:
    import os
    import subprocess
    import sys

    assert _create(run_cli, lake_uri).code == 0
    exe = Path(sys.executable).parent / "torchtrader"
    env = {**os.environ, "TORCHTRADER_STATE_DB": f"sqlite:///{state_db}"}
    args = [str(exe), "--lake", lake_uri, "bot", "run", "alpha", "--once", "--now", hour(30).isoformat()]
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "alpha bar 2024-01-02T05:00:00+00:00" in done.stdout
