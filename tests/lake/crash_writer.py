"""A writer for the crash test: upserts a fixed sequence of batches into a lake, printing each commit.

Run as ``python tests/lake/crash_writer.py LAKE_URI``; it prints ``ready`` once imported, waits for
``go`` on stdin, then prints ``committed N`` after each upsert returns. The sequence mixes the three
write paths: fresh appends, overlaps that repeat stored rows, and overlaps that revise them (MERGE).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import polars as pl

from torchtrader.lake import BARS_SCHEMA, Lake

T0 = datetime(2024, 1, 1, tzinfo=UTC)
# (symbols, first hour, bars, price offset): equal offsets on overlapping hours repeat rows, others revise.
PLAN: list[tuple[tuple[str, ...], int, int, float]] = [
    (("A/USDT", "B/USDT"), 0, 40, 0.0),
    (("A/USDT",), 40, 20, 0.0),  # fresh append
    (("A/USDT",), 50, 20, 0.0),  # overlap, same values
    (("B/USDT",), 30, 20, 0.5),  # overlap, revised values
    (("A/USDT", "B/USDT", "C/USDT"), 60, 30, 0.0),
    (("C/USDT",), 80, 15, 0.25),
    (("A/USDT",), 0, 10, 0.75),  # revise the oldest bars
    (("B/USDT",), 90, 30, 0.0),
    (("A/USDT", "C/USDT"), 85, 30, 0.0),
    (("B/USDT",), 100, 10, 1.0),
    (("C/USDT",), 110, 10, 0.0),
    (("A/USDT", "B/USDT", "C/USDT"), 112, 20, 0.5),
]


def batch(symbols: tuple[str, ...], hour: int, n: int, offset: float) -> pl.DataFrame:
    frames = []
    for number, symbol in enumerate(symbols):
        closes = [100.0 * (number + 1) + offset + hour + i for i in range(n)]
        frames.append(
            pl.DataFrame(
                {
                    "source": ["crash"] * n,
                    "symbol": [symbol] * n,
                    "timeframe": ["1h"] * n,
                    "ts": [T0 + timedelta(hours=hour + i) for i in range(n)],
                    "open": closes,
                    "high": [c + 1.0 for c in closes],
                    "low": [c - 1.0 for c in closes],
                    "close": closes,
                    "volume": [1.0 + i for i in range(n)],
                },
                schema=BARS_SCHEMA,
            )
        )
    return pl.concat(frames)


def batches() -> list[pl.DataFrame]:
    return [batch(*step) for step in PLAN]


def run(uri: str) -> None:
    lake = Lake(uri)
    for number, frame in enumerate(batches(), start=1):
        lake.upsert_bars(frame)
        print(f"committed {number}", flush=True)


if __name__ == "__main__":
    print("ready", flush=True)
    if sys.stdin.readline().strip() == "go":
        run(sys.argv[1])
