"""Dashboard response times with 20 bots and 100,000 trades in a SQLite state store.

    .venv/bin/python -m bench.bench_ui [--quick]

The store is filled through its own models (20 bots × 5,000 fills, 2,000 equity snapshots and 200
events each; a real paper run would take hours to make as many). Pages and API calls go through the
real app (FastAPI TestClient: routing, login check, SQL, templates, JSON) with a bearer token; each
is timed 30 times after two warm-ups and the median reported. Targets (issue 11): overview and bot
pages < 300 ms median, API trade pages < 50 ms.

Writes docs/benchmarks/ui.md. ``--quick`` uses 2 bots × 500 fills (a smoke run).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from torchtrader.bots.store import StateStore
from torchtrader.bots.store import models as m
from torchtrader.config import load_settings

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks" / "ui.md"
START = datetime(2024, 1, 1, tzinfo=UTC)


def fill_store(url: str, bots: int, fills: int, equity: int, events: int) -> None:
    store = StateStore(url)
    for b in range(bots):
        name = f"bot{b:02d}"
        store.ensure_bot(
            name,
            broker="paper",
            capital=10_000.0,
            config={
                "name": name,
                "strategy": "sma_cross",
                "params": {"fast": 2, "slow": 5},
                "symbols": ["BTC/USDT"],
                "timeframe": "1h",
                "source": "synthetic",
            },
        )
        with store.session() as s:
            s.execute(
                insert(m.FillRow),
                [
                    {
                        "bot": name,
                        "fill_id": f"{name}-{i}",
                        "client_order_id": f"{name}-o{i}",
                        "symbol": "BTC/USDT",
                        "side": "buy" if i % 2 == 0 else "sell",
                        "qty": 0.1,
                        "price": 40_000 + (i * 7919) % 5000,
                        "fee": 4.0,
                        "fee_currency": "USDT",
                        "ts": START + timedelta(minutes=i),
                        "recorded_at": START + timedelta(minutes=i),
                    }
                    for i in range(fills)
                ],
            )
            s.execute(
                insert(m.EquityRow),
                [
                    {
                        "bot": name,
                        "ts": START + timedelta(hours=i),
                        "bar_ts": START + timedelta(hours=i),
                        "cash": 10_000.0,
                        "equity": 10_000.0 + 50 * ((i * 31) % 17 - 8),
                        "realized_pnl": 0.0,
                        "unrealized_pnl": 0.0,
                    }
                    for i in range(equity)
                ],
            )
            s.execute(
                insert(m.EventRow),
                [
                    {
                        "bot": name,
                        "ts": START + timedelta(hours=i),
                        "kind": "fill",
                        "message": f"fill {i}",
                        "data": {},
                    }
                    for i in range(events)
                ],
            )
    store.close()


def median_ms(client: object, path: str, headers: dict[str, str], runs: int = 30) -> float:
    for _ in range(2):
        assert client.get(path, headers=headers).status_code == 200, path  # type: ignore[attr-defined]
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        client.get(path, headers=headers)  # type: ignore[attr-defined]
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    bots, fills = (2, 500) if quick else (20, 5_000)
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

    from torchtrader.ui import create_app, load_ui_settings
    from torchtrader.ui.users import add_user

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'state.db'}"
        began = time.perf_counter()
        fill_store(url, bots, fills, equity=2_000, events=200)
        filled_s = time.perf_counter() - began
        store = StateStore(url)
        add_user(store, "bench", "viewer", "bench-password")
        store.close()
        settings = load_settings(lake=str(Path(tmp) / "lake"), state_db=url)
        with TestClient(create_app(load_ui_settings(settings))) as client:
            token = client.post(
                "/api/v1/auth/login", json={"username": "bench", "password": "bench-password"}
            )
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            cases = [
                ("overview page `/`", "/", 300),
                ("bot page `/bots/bot07` (first 50 trades)", "/bots/bot07", 300),
                (
                    "bot page, trades page 40 sorted by price",
                    "/bots/bot07?page=40&sort=price&order=desc",
                    300,
                ),
                ("API `/api/v1/bots/bot07/trades` page 1 (100)", "/api/v1/bots/bot07/trades", 50),
                (
                    "API trades page 25 of 50, sorted by price desc",
                    "/api/v1/bots/bot07/trades?page=25&sort=price&order=desc",
                    50,
                ),
                ("API `/api/v1/bots` (20 status documents)", "/api/v1/bots", 300),
            ]
            results = [(label, median_ms(client, path, headers), target) for label, path, target in cases]
    lines = [
        "# Dashboard (bench/bench_ui.py)",
        "",
        f"{bots} bots, {bots * fills:,} trades, {bots * 2000:,} equity snapshots, {bots * 200:,} events in a "
        f"SQLite state store (filled in {filled_s:.1f} s). Median of 30 requests through the real app "
        "(FastAPI TestClient, bearer token: login check, SQL, templates, JSON) after two warm-ups; "
        f"machine: {platform.machine()}, Python {platform.python_version()}, 2 shared cores, "
        f"load average {os.getloadavg()[0]:.1f} at the end (other work shares the cores: medians are noisy).",
        "",
        "| request | median ms | target ms | |",
        "| --- | ---: | ---: | --- |",
        *[
            f"| {label} | {ms:.1f} | {target} | {'ok' if ms < target else 'MISSED'} |"
            for label, ms, target in results
        ],
        "",
        "The bot page's candle chart reads the lake; here the lake is empty (the page notes it), so the",
        "time is the store side. Charts are downsampled to 600 points per curve; trade pages are paged and",
        "sorted in SQL (never all fills in memory).",
        "",
    ]
    if quick:
        lines.insert(1, "\n(quick smoke run: small sizes, not numbers to quote)")
    else:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
