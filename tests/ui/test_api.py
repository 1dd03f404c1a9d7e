"""The JSON API over a state store filled by a real paper bot run: the CLI's JSON shapes, paging and
sorting against an independent reading of the same SQLite file, and the controls."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from torchtrader.bots.ops import status, trades
from torchtrader.bots.store import StateStore
from torchtrader.config import Settings


def _fills(state: Path, bot: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(state / "state.db") as c:
        return c.execute(
            "select fill_id, price from fills where bot = ? order by price desc, id desc", (bot,)
        ).fetchall()


def test_healthz_is_open_and_says_only_ok(client: TestClient) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.json() == {"ok": True}


def test_status_and_trades_are_the_cli_documents(
    client: TestClient, admin: dict[str, str], ui_settings: Settings
) -> None:
    store = StateStore(ui_settings.state_db)
    try:
        expected_status = [status(store, "alpha"), status(store, "beta")]
        expected_trades = trades(store, "alpha")
    finally:
        store.close()
    assert client.get("/api/v1/bots", headers=admin).json() == expected_status
    assert client.get("/api/v1/bots/alpha", headers=admin).json() == expected_status[0]
    page = client.get("/api/v1/bots/alpha/trades", params={"size": 1000}, headers=admin)
    assert page.json() == expected_trades and len(expected_trades) >= 2
    assert page.headers["X-Total-Count"] == str(len(expected_trades))


def test_trade_pages_sorted_in_sql_match_an_independent_query(
    client: TestClient, admin: dict[str, str], state_copy: Path
) -> None:
    expected = _fills(state_copy, "alpha")
    got: list[tuple[Any, ...]] = []
    for page in range(1, len(expected) + 2):
        rows = client.get(
            "/api/v1/bots/alpha/trades",
            params={"page": page, "size": 2, "sort": "price", "order": "desc"},
            headers=admin,
        ).json()
        got += [(r["fill_id"], r["price"]) for r in rows]
        if not rows:
            break
    assert got == expected


def test_equity_events_overview_and_stream(
    client: TestClient, admin: dict[str, str], state_copy: Path
) -> None:
    with sqlite3.connect(state_copy / "state.db") as c:
        points = c.execute("select count(*) from equity where bot = 'alpha'").fetchone()[0]
    equity = client.get("/api/v1/bots/alpha/equity", headers=admin).json()
    assert len(equity) == points > 0 and set(equity[0]) >= {"ts", "equity", "cash"}
    assert isinstance(client.get("/api/v1/bots/alpha/events", headers=admin).json(), list)
    overview = client.get("/api/v1/overview", headers=admin).json()
    for row in overview:
        assert row["pnl_total"] == pytest.approx(row["equity"] - 10_000.0)
    streamed = client.get("/api/v1/stream", params={"limit": 1}, headers=admin)
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert streamed.text.startswith("event: bots\ndata: ") and '"name": "alpha"' in streamed.text


def test_halt_and_resume_are_audited_with_the_user(client: TestClient, admin: dict[str, str]) -> None:
    halted = client.post("/api/v1/bots/alpha/halt", headers=admin)
    assert halted.status_code == 200, halted.text
    assert client.get("/api/v1/bots/alpha", headers=admin).json()["state"] == "halted"
    assert client.post("/api/v1/bots/alpha/resume", headers=admin).json()["was"] == "halted"
    audit = client.get("/api/v1/bots/alpha/audit", headers=admin).json()
    mine = [a for a in audit if a["actor"] == "ui:ada"]
    assert [a["action"] for a in mine] == ["ui_halt", "ui_resume"] and all(a["ts"] for a in mine)


def test_flatten_and_force_exit_sell_at_the_paper_venue(client: TestClient, admin: dict[str, str]) -> None:
    holding = [b for b in client.get("/api/v1/bots", headers=admin).json() if b["positions"]]
    assert holding, "the seeded synthetic run must leave at least one bot holding a position"
    bot = holding[0]
    symbol = bot["positions"][0]["symbol"]
    exited = client.post(f"/api/v1/bots/{bot['name']}/force-exit", json={"symbol": symbol}, headers=admin)
    assert exited.status_code == 200, exited.text
    # The paper venue fills a market order at the next bar's open: the exit is an open sell of it all.
    after = client.get(f"/api/v1/bots/{bot['name']}", headers=admin).json()
    assert [(o["symbol"], o["side"], o["qty"], o["leg"]) for o in after["open_orders"]] == [
        (symbol, "sell", pytest.approx(bot["positions"][0]["qty"]), "flatten")
    ]
    assert after["state"] == bot["state"]
    again = client.post(f"/api/v1/bots/{bot['name']}/force-exit", json={"symbol": symbol}, headers=admin)
    assert again.status_code == 409 and "already has an open sell order" in again.json()["detail"]
    other = client.post(f"/api/v1/bots/{bot['name']}/force-exit", json={"symbol": "ETH/USDT"}, headers=admin)
    assert other.status_code == 404 and "no position" in other.json()["detail"]
    flattened = client.post(f"/api/v1/bots/{bot['name']}/flatten", headers=admin)
    assert flattened.status_code == 200 and flattened.json()["state"] == "halted"


def test_research_and_data_endpoints_answer_on_an_empty_research_side(
    client: TestClient, admin: dict[str, str]
) -> None:
    runs = client.get("/api/v1/runs", headers=admin).json()
    assert runs["backtests"] == [] and runs["mlflow"] == [] and runs["notes"]
    series = client.get("/api/v1/lake/series", headers=admin).json()
    assert [(s["source"], s["symbol"], s["timeframe"]) for s in series] == [("synthetic", "BTC/USDT", "1h")]
    tables = client.get("/api/v1/lake/tables", headers=admin).json()
    assert "bars" in [t["name"] for t in tables["tables"]]


def test_the_data_page_and_api_show_a_series_gaps_counted_by_hand(
    client: TestClient, admin: dict[str, str], ui_settings: Settings
) -> None:
    from datetime import UTC, datetime

    from torchtrader.lake import Lake
    from torchtrader.sources.synthetic import SyntheticSource

    bars = SyntheticSource(symbols=["GAP/USDT"]).fetch(
        "GAP/USDT", "1h", datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 1, 12, tzinfo=UTC)
    )
    assert bars.height == 12
    holed = bars.filter(~bars["ts"].dt.hour().is_in([4, 5, 9]))  # 04:00-05:00 and 09:00: 3 bars, 2 holes
    Lake(ui_settings.lake).upsert_bars(holed)

    rows = {row["symbol"]: row for row in client.get("/api/v1/lake/gaps", headers=admin).json()}
    assert rows["GAP/USDT"]["missing_bars"] == 3 and rows["GAP/USDT"]["calendar"] == "24/7"
    assert [(g["after"][11:16], g["before"][11:16], g["missing_bars"]) for g in rows["GAP/USDT"]["gaps"]] == [
        ("03:00", "06:00", 2),
        ("08:00", "10:00", 1),
    ]
    assert rows["BTC/USDT"]["missing_bars"] == 0
    page = client.get("/data", headers=admin)
    assert page.status_code == 200
    assert 'id="gaps"' in page.text and "synthetic GAP/USDT 1h" in page.text


def test_the_bot_page_draws_its_strategys_indicators_equal_to_talib(
    client: TestClient, admin: dict[str, str], ui_settings: Settings
) -> None:
    import json
    import math
    import re

    import numpy as np
    import talib

    from torchtrader.lake import Lake

    bot = client.get("/api/v1/bots", headers=admin).json()[0]
    info = StateStore(ui_settings.state_db).require_bot(bot["name"])
    assert info.config["strategy"] == "sma_cross"
    page = client.get(f"/bots/{bot['name']}", headers=admin)
    assert page.status_code == 200
    found = re.search(r'<script type="application/json" id="candles-data">(.*?)</script>', page.text, re.S)
    assert found, "the bot page has no candle chart"
    traces = {t["name"]: t for t in json.loads(found.group(1))["data"]}
    closes = Lake(ui_settings.lake).read_bars("BTC/USDT", info.config["timeframe"])["close"].to_numpy()
    fast, slow = info.config["params"].get("fast", 10), info.config["params"].get("slow", 30)
    for period in (fast, slow):
        drawn = traces[f"BTC/USDT SMA({period})"]
        expected = talib.SMA(closes.astype(np.float64), timeperiod=period)[-len(drawn["y"]) :]
        assert drawn["x"] == traces["BTC/USDT"]["x"]  # the candles' own bars
        for ours, theirs in zip(drawn["y"], expected, strict=True):
            assert (ours is None and math.isnan(theirs)) or abs(ours - theirs) <= 1e-9 * abs(theirs)
