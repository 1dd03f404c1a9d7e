"""Builders for lake tests: canonical bars frames, a plain-dict model of the lake, a loopback S3."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from torchtrader.lake import BARS_SCHEMA
from torchtrader.testing.net import free_port

T0 = datetime(2024, 1, 1, tzinfo=UTC)
Key = tuple[str, str, str, datetime]
Values = tuple[float, float, float, float, float]


def make_bars(
    symbol: str = "BTC/USDT",
    start: datetime = T0,
    n: int = 10,
    *,
    source: str = "test",
    timeframe: str = "1h",
    step: timedelta = timedelta(hours=1),
    price: float = 100.0,
) -> pl.DataFrame:
    """``n`` canonical bars whose values follow close = price + i.

    A frame started k bars later with price + k repeats the same rows; any other price revises them.
    """
    closes = [price + i for i in range(n)]
    return pl.DataFrame(
        {
            "source": [source] * n,
            "symbol": [symbol] * n,
            "timeframe": [timeframe] * n,
            "ts": [start + i * step for i in range(n)],
            "open": closes,
            "high": [c + 1.0 for c in closes],
            "low": [c - 1.0 for c in closes],
            "close": closes,
            "volume": [1000.0 + c for c in closes],
        },
        schema=BARS_SCHEMA,
    )


def as_model(frame: pl.DataFrame) -> dict[Key, Values]:
    """A frame as {key: values}; the independent oracle the lake is compared against."""
    return {
        (r["source"], r["symbol"], r["timeframe"], r["ts"]): (
            r["open"],
            r["high"],
            r["low"],
            r["close"],
            r["volume"],
        )
        for r in frame.iter_rows(named=True)
    }


def apply(model: dict[Key, Values], frame: pl.DataFrame) -> dict[Key, Values]:
    """Last write wins, key by key: what an idempotent upsert must produce."""
    return {**model, **as_model(frame)}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback, in its own process.

    Not ``ThreadedMotoServer``: deltalake's object-store listing (used by ``Lake.tables``) holds the GIL
    while it waits for the HTTP reply, so a server thread in the same interpreter could never answer.
    """
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait()
